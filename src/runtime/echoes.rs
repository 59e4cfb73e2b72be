//! The bot's own messages coming back. Gateways re-emit what the bot sent as
//! `fromMe` messages, sometimes under a new id, so besides the sent ids (the
//! `delivery` tree) the texts queued recently are remembered for a window.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

/// Echoes arrive within seconds; a send delayed by retries still fits.
const WINDOW_MS: u64 = 10 * 60_000;
/// Bound on remembered texts (oldest dropped first when exceeded).
const MAX_ENTRIES: usize = 50_000;

#[derive(Default)]
pub(crate) struct RecentTexts {
    sent: Mutex<HashMap<u64, u64>>,
}

fn fingerprint(chat: &str, text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    chat.hash(&mut h);
    text.trim().hash(&mut h);
    h.finish()
}

impl RecentTexts {
    pub fn record(&self, chat: &str, text: &str, now_ms: u64) {
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        if sent.len() >= MAX_ENTRIES {
            sent.retain(|_, at| now_ms.saturating_sub(*at) < WINDOW_MS);
            if sent.len() >= MAX_ENTRIES {
                sent.clear();
            }
        }
        sent.insert(fingerprint(chat, text), now_ms);
    }

    /// The bot queued this exact text to this chat within the window.
    pub fn contains(&self, chat: &str, text: &str, now_ms: u64) -> bool {
        let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        sent.get(&fingerprint(chat, text)).is_some_and(|at| now_ms.saturating_sub(*at) < WINDOW_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_an_echo_only_in_its_chat_and_within_the_window() {
        let recent = RecentTexts::default();
        recent.record("6281", "*Leads* (3)", 1_000);
        assert!(recent.contains("6281", "*Leads* (3)", 5_000));
        assert!(!recent.contains("6282", "*Leads* (3)", 5_000), "another chat");
        assert!(!recent.contains("6281", "*Leads* (3)", 1_000 + WINDOW_MS), "too late");
    }
}
