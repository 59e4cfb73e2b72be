//! Wall-clock time, for every layer (a leaf: it imports nothing of juru).

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The business's local time: WIB (UTC+7), where the users' days begin.
pub const LOCAL_OFFSET_MS: u64 = 7 * 3_600_000;

/// Days since the epoch in WIB: daily limits and trends reset at local midnight.
pub fn local_day(ms: u64) -> u64 {
    (ms + LOCAL_OFFSET_MS) / 86_400_000
}

/// `YYYY-MM-DD` of a day number from [`local_day`].
pub fn date_of_day(day: u64) -> String {
    let (y, m, d) = civil_from_days(day as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// An instant as CRM vendors send it → ms since the epoch: RFC 3339
/// (`2026-11-23T03:00:00Z`, `….123+07:00`), Salesforce's offset without a
/// colon (`+0000`) and Pipedrive v1's `2026-11-23 03:00:00` (UTC). `None`
/// for anything else, or a time before the epoch.
pub fn parse_instant_ms(text: &str) -> Option<u64> {
    let mut s = text.trim().replacen(' ', "T", 1);
    let (_, clock) = s.split_once('T')?;
    let zone_at = clock.find(['Z', 'z', '+', '-']);
    match zone_at.map(|at| &clock[at..]) {
        None => s.push('Z'),
        Some(zone) if zone.len() == 5 && zone[1..].bytes().all(|b| b.is_ascii_digit()) => {
            s.insert(s.len() - 2, ':');
        }
        Some(_) => {}
    }
    let instant = time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).ok()?;
    u64::try_from(instant.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Howard Hinnant's days → civil date.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_in_every_vendor_form_read_the_same() {
        let ms = 1_795_402_800_000; // 2026-11-23T03:00:00Z
        assert_eq!(parse_instant_ms("2026-11-23T03:00:00Z"), Some(ms));
        assert_eq!(parse_instant_ms("2026-11-23T10:00:00+07:00"), Some(ms));
        assert_eq!(parse_instant_ms("2026-11-23T03:00:00.250+0000"), Some(ms + 250), "Salesforce");
        assert_eq!(parse_instant_ms("2026-11-23 03:00:00"), Some(ms), "Pipedrive v1, UTC");
        assert_eq!(parse_instant_ms("2026-11-23T03:00:00.5Z"), Some(ms + 500));
        for bad in ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-23", "1969-12-31T23:59:59Z"] {
            assert_eq!(parse_instant_ms(bad), None, "{bad}");
        }
    }
}
