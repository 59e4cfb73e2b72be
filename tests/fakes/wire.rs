//! What every fake vendor reads and writes the same way: query strings and
//! form bodies, and date-times on the wire. Each fake still judges the form
//! its vendor documents (which zone spellings it takes); this is only the
//! arithmetic under it.
//!
//! Include from a fake with `#[path = "wire.rs"] mod wire;`.
#![allow(dead_code)]

use std::collections::HashMap;

/// `%XX` and `+` decoded (a malformed `%` stays as it is).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=1&b=x%20y` → {a: 1, b: x y}.
pub fn parse_pairs(s: &str) -> HashMap<String, String> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Days since the epoch → (year, month, day) (Howard Hinnant's algorithm).
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// `utc_secs` as `YYYY-MM-DDTHH:MM:SS` at `offset_s` east of UTC, then `zone` as written.
pub fn time_at(utc_secs: u64, offset_s: u64, zone: &str) -> String {
    let local = utc_secs + offset_s;
    let (y, m, d) = civil((local / 86_400) as i64);
    let r = local % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{zone}", r / 3600, r % 3600 / 60, r % 60)
}

/// The clock time a `YYYY-MM-DDTHH:MM:SS…` string starts with, in seconds
/// since the epoch as written (before its zone), and what follows it.
pub fn split_time(s: &str) -> Option<(i64, &str)> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2.rem_euclid(400);
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some((days * 86_400 + n(11..13)? * 3600 + n(14..16)? * 60 + n(17..19)?, s.get(19..)?))
}
