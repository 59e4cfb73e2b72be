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
