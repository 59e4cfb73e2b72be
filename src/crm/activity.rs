//! Activities (`activities` tree, keyed `contact \0 seq`): what the sales team,
//! customer service and the bot did with a contact, with outcome and next step.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityType {
    // Sales follow-up
    Call,
    WhatsappFollowUp,
    Meeting,
    Visit,
    Email,
    // Customer service
    Inquiry,
    Complaint,
    Support,
    // AI automation
    AiConversation,
    AiHandover,
    NurtureMessage,
    // The CRM's own records
    StageChange,
    LabelChange,
}

impl ActivityType {
    pub const ALL: [ActivityType; 13] = [
        Self::Call,
        Self::WhatsappFollowUp,
        Self::Meeting,
        Self::Visit,
        Self::Email,
        Self::Inquiry,
        Self::Complaint,
        Self::Support,
        Self::AiConversation,
        Self::AiHandover,
        Self::NurtureMessage,
        Self::StageChange,
        Self::LabelChange,
    ];

    /// The users' three activity families.
    pub fn category(self) -> &'static str {
        match self {
            Self::Call | Self::WhatsappFollowUp | Self::Meeting | Self::Visit | Self::Email => "sales follow-up",
            Self::Inquiry | Self::Complaint | Self::Support => "customer service",
            Self::AiConversation | Self::AiHandover | Self::NurtureMessage => "ai automation",
            Self::StageChange | Self::LabelChange => "crm",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    NoAnswer,
    Rescheduled,
    Interested,
    NotInterested,
    FollowUpNeeded,
    Escalated,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Self::Completed,
        Self::NoAnswer,
        Self::Rescheduled,
        Self::Interested,
        Self::NotInterested,
        Self::FollowUpNeeded,
        Self::Escalated,
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub seq: u64,
    pub contact: String,
    pub kind: ActivityType,
    /// Where it came from: `whatsapp`, `command`, `nurture`, `bot`.
    pub source: String,
    pub outcome: Option<Outcome>,
    pub next_action: Option<String>,
    /// `YYYY-MM-DD`.
    pub next_action_date: Option<String>,
    pub notes: Option<String>,
    pub deal: Option<u64>,
    pub by: String,
    pub at_ms: u64,
}
