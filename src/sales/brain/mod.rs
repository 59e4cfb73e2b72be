//! Two brains, one contract: given a prospect's turn, return a [`Decision`].
//! The phase machine (`sales::apply`) enforces the business rules whatever
//! the brain says.

pub mod llm;
pub mod offline;

use serde::{Deserialize, Serialize};

use super::prompts::Prompts;
use super::state::{ChatState, Phase};
use crate::config::Language;

/// What the prospect is after in this turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    Greeting,
    CampaignCode,
    TripPlan,
    Details,
    Payment,
    HumanRequest,
    Complaint,
    OfficeLocation,
    Proof,
    OtherPackages,
    Complex,
    Smalltalk,
    /// A question the catalog answers (cheapest, budget, hotel, duration, comparison…).
    Question,
    /// A question the playbook's FAQ answers.
    Faq,
}

impl Intent {
    /// What the prospect asked, in words for the analytics page.
    pub fn label(self) -> &'static str {
        match self {
            Intent::Greeting => "Greeting",
            Intent::CampaignCode => "Came with an ad's campaign code",
            Intent::TripPlan => "Trip plans (when, how many people)",
            Intent::Details => "Package details and price",
            Intent::Payment => "How to pay",
            Intent::HumanRequest => "Asked for a human",
            Intent::Complaint => "Complaint",
            Intent::OfficeLocation => "Office location",
            Intent::Proof => "Proof of legitimacy (licence, testimonials)",
            Intent::OtherPackages => "Other packages",
            Intent::Complex => "Complex question",
            Intent::Smalltalk => "Small talk",
            Intent::Question => "Questions on price, budget, hotel, duration",
            Intent::Faq => "Frequent questions (FAQ)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Document,
    Video,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Media {
    #[serde(rename = "type")]
    pub kind: MediaKind,
    pub url: String,
    #[serde(default)]
    pub caption: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub response_text: String,
    pub media_to_send: Vec<Media>,
    pub new_phase: Phase,
    pub confidence: f64,
    pub should_escalate: bool,
    pub escalation_reason: Option<String>,
    pub intent: Intent,
    pub lang: Language,
    /// The package this turn is about, if any.
    pub package: Option<String>,
    /// Share the office location as a location message.
    #[serde(default)]
    pub send_location: bool,
    /// Code-shaped words that are not in the catalog (logged for analysis).
    #[serde(default)]
    pub unknown_codes: Vec<String>,
    /// Quick replies offered with the text.
    #[serde(default)]
    pub buttons: Vec<crate::channel::ReplyButton>,
    /// For the admins when the turn hands over: what the bot knew.
    #[serde(default)]
    pub note: Option<String>,
    /// How many travel, when the prospect said so (the seats a booking holds).
    #[serde(default)]
    pub party: Option<u32>,
}

/// One turn as a brain sees it.
pub struct Turn<'a> {
    pub text: &'a str,
    pub name: Option<&'a str>,
    pub state: &'a ChatState,
    pub prompts: &'a Prompts,
    pub default_language: Language,
}
