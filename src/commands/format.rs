//! WhatsApp-shaped replies: `*bold*`, short lists, no tables, and split when
//! longer than one message may be.

use crate::texts::Texts;

/// Cloud API text bodies are limited to 4096 characters.
pub const WHATSAPP_LIMIT: usize = 4096;

/// Splits at line breaks (or, for one overlong line, at a character
/// boundary) into parts of at most `limit` characters.
pub fn split(text: &str, limit: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    for line in text.split('\n') {
        let line_len = line.chars().count();
        if current_len > 0 && current_len + 1 + line_len > limit {
            parts.push(std::mem::take(&mut current));
            current_len = 0;
        }
        if line_len > limit {
            let chars: Vec<char> = line.chars().collect();
            for chunk in chars.chunks(limit) {
                if current_len > 0 {
                    parts.push(std::mem::take(&mut current));
                }
                current = chunk.iter().collect();
                current_len = chunk.len();
            }
            continue;
        }
        if current_len > 0 {
            current.push('\n');
            current_len += 1;
        }
        current.push_str(line);
        current_len += line_len;
    }
    if !current.trim().is_empty() {
        parts.push(current);
    }
    parts
}

/// `•` list lines, at most `max`, with a "…and N more" tail.
pub fn bullets<I: IntoIterator<Item = String>>(t: &dyn Texts, items: I, max: usize, total: usize) -> String {
    let mut out: Vec<String> = items.into_iter().take(max).map(|s| format!("• {s}")).collect();
    if total > out.len() {
        out.push(t.and_more(total - out.len()));
    }
    out.join("\n")
}

/// `2026-11-23 14:05` in WIB.
pub fn local_time(ms: u64) -> String {
    let minutes = (ms + crate::clock::LOCAL_OFFSET_MS) % 86_400_000 / 60_000;
    format!("{} {:02}:{:02}", crate::clock::date_of_day(crate::clock::local_day(ms)), minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_replies_split_at_lines_within_the_limit() {
        let text = (0..300).map(|i| format!("• lead number {i:03} with some detail")).collect::<Vec<_>>().join("\n");
        let parts = split(&text, WHATSAPP_LIMIT);
        assert!(parts.len() >= 3);
        assert!(parts.iter().all(|p| p.chars().count() <= WHATSAPP_LIMIT));
        assert_eq!(parts.join("\n"), text, "nothing lost or reordered");
        assert!(parts[1].starts_with("• lead number"), "split at a line break");
    }

    #[test]
    fn one_overlong_line_is_cut_at_character_boundaries() {
        let text = "é".repeat(5000);
        let parts = split(&text, WHATSAPP_LIMIT);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn local_time_is_wib() {
        assert_eq!(local_time(1_795_402_800_000), "2026-11-23 10:00");
    }
}
