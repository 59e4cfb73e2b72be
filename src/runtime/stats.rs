//! Conversation figures kept as they change, so the dashboard reads them
//! without scanning: loaded once from the `conversations` tree at start, then
//! updated after every commit that writes a chat's state.
//!
//! How each dashboard figure is computed:
//! - `active_conversations`: chats whose last inbound message is less than
//!   24 hours old and that are not handed over to a human.
//! - `phase_distribution`: chats per sales phase (`leads`, `interest`,
//!   `booking`), every chat with a conversation state.
//! - `pending_handover`: chats handed over and not yet released, oldest
//!   inbound first, with the last inbound text juru saw, the package the
//!   prospect was interested in, and the reason the bot handed over
//!   (`ai_notes`).
//! - `escalated_conversations`: how many chats are handed over now.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use serde::Serialize;

use crate::router::ChatState;
use crate::store::{Store, StoreError, decode};

/// "Active" means an inbound message within this window.
pub const ACTIVE_WINDOW_MS: u64 = 24 * 3_600_000;
/// Last messages are kept this short in memory.
const LAST_MESSAGE_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq)]
struct Summary {
    phase: &'static str,
    handed_over: bool,
    reason: Option<String>,
    last_inbound_ms: u64,
    last_message: Option<String>,
    package: Option<String>,
}

#[derive(Default)]
struct Inner {
    chats: HashMap<String, Summary>,
    phases: HashMap<&'static str, usize>,
    handed_over: BTreeSet<(u64, String)>,
    recent: BTreeSet<(u64, String)>,
}

#[derive(Default)]
pub struct ConversationStats {
    inner: Mutex<Inner>,
}

#[derive(Debug, Serialize)]
pub struct PendingHandover {
    pub id: String,
    pub phone: String,
    pub phase: &'static str,
    pub last_message: Option<String>,
    pub interested_package: Option<String>,
    pub conversation_url: String,
    pub ai_notes: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Dashboard {
    pub active_conversations: usize,
    pub phase_distribution: HashMap<&'static str, usize>,
    pub pending_handover: Vec<PendingHandover>,
    pub escalated_conversations: usize,
    pub generated_at_ms: u64,
}

impl ConversationStats {
    pub fn load(store: &Store) -> Result<ConversationStats, StoreError> {
        let stats = ConversationStats::default();
        for entry in store.conversations.iter() {
            let (key, value) = entry?;
            if let Ok(state) = decode::<ChatState>(&value) {
                let chat = String::from_utf8_lossy(&key).into_owned();
                // Handed-over chats show their last message: read it back (they are few).
                let last = if state.handed_over { last_inbound_text(store, &chat) } else { None };
                stats.observe(&chat, &state, last.as_deref());
            }
        }
        Ok(stats)
    }

    /// A chat's state after a commit; `text`: the inbound message it handled, if any.
    pub fn observe(&self, chat: &str, state: &ChatState, text: Option<&str>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let old = inner.chats.remove(chat);
        if let Some(old) = &old {
            if let Some(n) = inner.phases.get_mut(old.phase) {
                *n = n.saturating_sub(1);
            }
            inner.handed_over.remove(&(old.last_inbound_ms, chat.to_string()));
            inner.recent.remove(&(old.last_inbound_ms, chat.to_string()));
        }
        let summary = Summary {
            phase: state.phase.as_str(),
            handed_over: state.handed_over,
            reason: state.handover_reason.clone(),
            last_inbound_ms: state.last_inbound_ms,
            last_message: text
                .map(|t| t.chars().take(LAST_MESSAGE_CHARS).collect())
                .or_else(|| old.and_then(|o| o.last_message)),
            package: state.package.clone(),
        };
        *inner.phases.entry(summary.phase).or_default() += 1;
        if summary.handed_over {
            inner.handed_over.insert((summary.last_inbound_ms, chat.to_string()));
        } else {
            inner.recent.insert((summary.last_inbound_ms, chat.to_string()));
        }
        inner.chats.insert(chat.to_string(), summary);
    }

    pub fn dashboard(&self, now_ms: u64) -> Dashboard {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let since = now_ms.saturating_sub(ACTIVE_WINDOW_MS);
        let active = inner.recent.range((since, String::new())..).count();
        let pending_handover = inner
            .handed_over
            .iter()
            .filter_map(|(_, chat)| inner.chats.get(chat).map(|s| (chat, s)))
            .map(|(chat, s)| PendingHandover {
                id: chat.clone(),
                phone: chat.clone(),
                phase: s.phase,
                last_message: s.last_message.clone(),
                interested_package: s.package.clone(),
                conversation_url: format!("/api/conversations/{chat}"),
                ai_notes: s.reason.clone(),
            })
            .collect();
        let mut phase_distribution: HashMap<&'static str, usize> =
            ["leads", "interest", "booking"].into_iter().map(|p| (p, 0)).collect();
        for (phase, n) in &inner.phases {
            phase_distribution.insert(phase, *n);
        }
        Dashboard {
            active_conversations: active,
            phase_distribution,
            pending_handover,
            escalated_conversations: inner.handed_over.len(),
            generated_at_ms: now_ms,
        }
    }
}

/// The chat's last inbound text in the audit trail.
fn last_inbound_text(store: &Store, chat: &str) -> Option<String> {
    let mut prefix = chat.as_bytes().to_vec();
    prefix.push(0);
    store.messages.scan_prefix(prefix).rev().filter_map(|e| e.ok()).find_map(|(_, v)| {
        let record = decode::<super::audit::AuditRecord>(&v).ok()?;
        (record.direction == super::audit::Direction::In).then_some(record.text).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sales::Phase;

    #[test]
    fn figures_follow_each_chats_latest_state() {
        let stats = ConversationStats::default();
        let now = 100 * ACTIVE_WINDOW_MS;
        let leads = ChatState { last_inbound_ms: now - 1_000, ..ChatState::default() };
        stats.observe("6281", &leads, Some("halo"));
        stats.observe("6282", &ChatState { last_inbound_ms: now - 2 * ACTIVE_WINDOW_MS, ..leads.clone() }, None);
        let handed = ChatState {
            phase: Phase::Booking,
            handed_over: true,
            handover_reason: Some("payment intent".into()),
            package: Some("UMR_JAN_2027_PLUS".into()),
            ..leads.clone()
        };
        stats.observe("6281", &handed, Some("mau transfer DP"));
        let d = stats.dashboard(now);
        assert_eq!(d.active_conversations, 0, "6281 is handed over, 6282 is older than 24 h");
        assert_eq!((d.phase_distribution["leads"], d.phase_distribution["booking"]), (1, 1));
        assert_eq!(d.escalated_conversations, 1);
        assert_eq!(d.pending_handover[0].last_message.as_deref(), Some("mau transfer DP"));
        assert_eq!(d.pending_handover[0].ai_notes.as_deref(), Some("payment intent"));
        stats.observe("6281", &ChatState { handed_over: false, ..handed }, None);
        let d = stats.dashboard(now);
        assert_eq!((d.active_conversations, d.escalated_conversations), (1, 0), "released");
    }
}
