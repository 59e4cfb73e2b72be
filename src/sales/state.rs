//! What the bot remembers about one conversation (`conversations` tree).

use serde::{Deserialize, Serialize};

use crate::channel::Inbound;
use crate::config::Language;

/// The conversation phase; it never moves backward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    #[default]
    Leads,
    Interest,
    Booking,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Leads => "leads",
            Phase::Interest => "interest",
            Phase::Booking => "booking",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatState {
    pub phase: Phase,
    /// A human admin has the chat; the bot stays silent until released.
    pub handed_over: bool,
    pub handover_reason: Option<String>,
    pub inbound_count: u64,
    pub last_inbound_ms: u64,
    pub last_human_reply_ms: Option<u64>,
    /// A human typed on the business phone: the bot is quiet until then.
    pub paused_until_ms: Option<u64>,
    /// The language of the last reply.
    pub lang: Option<Language>,
    /// The package the prospect is interested in.
    pub package: Option<String>,
    /// Where the prospect came from (campaign code or click-to-WhatsApp ad id).
    pub campaign_source: Option<String>,
    /// The prospect asked about paying: a photo or PDF next is a transfer receipt.
    pub asked_payment: bool,
    pub voice_notes: u32,
    /// An admin switched the bot off for this chat.
    pub bot_disabled: bool,
    /// An admin's override of `[sales] stop_bot_from_me` for this chat.
    pub stop_bot_from_me: Option<bool>,
    /// Choices offered as a numbered list: "2" means the second one.
    pub options: Vec<String>,
    /// Messages of a burst waiting to be answered as one turn.
    pub pending: Option<PendingTurn>,
}

/// A burst being collected (`[sales] coalesce_ms`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingTurn {
    /// Changes with every message: only the timer of the latest one answers.
    pub token: u64,
    pub texts: Vec<String>,
    /// The latest message, answered on behalf of the whole burst.
    pub last: Box<Inbound>,
}
