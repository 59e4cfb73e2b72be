//! What the bot remembers about one conversation (`conversations` tree).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::TurnRecord;
use super::brain::Intent;
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
    /// A dashboard playground chat: a test, kept out of the CRM and analytics.
    pub playground: bool,
    /// The prospect has had the welcome: the next greeting is not answered with it again.
    pub greeted: bool,
    /// The A/B variant of this conversation (`playbook.toml` `[[variant]]`).
    pub variant: Option<String>,
    /// How long the prospect had been silent before this turn (welcome back).
    pub idle_before_ms: u64,
    /// Asked to pay before seeing a package (for the admins).
    pub high_intent: bool,
    /// How many travel, as the prospect said (seats a booking holds).
    pub party: Option<u32>,
    /// What analytics sums over chats; kept across finished sessions.
    pub tally: Tally,
}

/// One chat's figures for `GET /api/marketing/analytics`, stored with its
/// state so they survive restarts and `runtime::stats` can sum them without
/// reading the audit trail.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Tally {
    /// Turns the bot answered, and their summed response time: from the
    /// message reaching juru (a burst's first message) to the reply queued.
    pub replies: u32,
    pub reply_ms: u64,
    /// Times the bot handed the chat to a human.
    pub handovers: u32,
    /// The bot handed over before the prospect reached booking.
    pub escalated_before_booking: bool,
    /// The furthest phase reached: a finished session starts at leads again.
    pub furthest: Phase,
    /// Turns per intent, and how many of them the bot answered itself.
    pub intents: BTreeMap<Intent, IntentTally>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IntentTally {
    pub asked: u32,
    /// Answered without handing over.
    pub answered: u32,
}

impl Tally {
    /// Counts one turn the bot took, `took_ms` after the message arrived.
    pub fn turn(&mut self, turn: &TurnRecord, took_ms: u64) {
        self.replies = self.replies.saturating_add(1);
        self.reply_ms = self.reply_ms.saturating_add(took_ms);
        self.furthest = self.furthest.max(turn.phase_after);
        if turn.handover {
            self.handovers = self.handovers.saturating_add(1);
            self.escalated_before_booking |= turn.phase_after < Phase::Booking;
        }
        if let Some(intent) = turn.intent {
            let n = self.intents.entry(intent).or_default();
            n.asked = n.asked.saturating_add(1);
            n.answered = n.answered.saturating_add(u32::from(!turn.handover));
        }
    }
}

/// A burst being collected (`[sales] coalesce_ms`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingTurn {
    /// Changes with every message: only the timer of the latest one answers.
    pub token: u64,
    pub texts: Vec<String>,
    /// The latest message, answered on behalf of the whole burst.
    pub last: Box<Inbound>,
    /// When the burst's first message arrived (response times count from it).
    #[serde(default)]
    pub opened_ms: u64,
}
