//! WhatsApp at the edge: verified bytes in → [`Event`]s; [`Outgoing`] items → HTTP calls.
//!
//! This module knows WhatsApp and nothing of commands, sales or the CRM.
//! Past `waha` and `cloud` nothing sees JSON.

pub mod cloud;
pub mod console;
pub mod gateway;
mod ids;
pub mod senders;
pub mod signature;
pub mod waha;

pub use gateway::{Gateway, Gateways};
pub use ids::{ChatId, Phone};
pub use senders::{SendError, Sent};

use serde::{Deserialize, Serialize};

/// Which gateway a message came through (and must be answered through).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Waha,
    Cloud,
    /// `juru chat` and the dashboard playground.
    Console,
}

impl Channel {
    /// The channel named by [`Channel::as_str`].
    pub fn from_name(name: &str) -> Option<Channel> {
        [Channel::Waha, Channel::Cloud, Channel::Console].into_iter().find(|c| c.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Waha => "waha",
            Channel::Cloud => "cloud",
            Channel::Console => "console",
        }
    }

    /// What this channel can do. Code outside `channel` asks this, never
    /// which gateway a chat came from.
    pub fn capabilities(self) -> Capabilities {
        match self {
            Channel::Waha => waha::CAPABILITIES,
            Channel::Cloud => cloud::CAPABILITIES,
            Channel::Console => console::CAPABILITIES,
        }
    }

    /// The form of a sent message's id that its delivery statuses and echoes carry.
    pub fn message_key(self, remote_id: &str) -> &str {
        match self {
            Channel::Waha => waha::bare_message_id(remote_id),
            Channel::Cloud | Channel::Console => remote_id,
        }
    }
}

/// What a channel offers beyond plain text and media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Quick-reply buttons (otherwise choices go as a numbered list).
    pub buttons: bool,
    /// WhatsApp Business labels on chats.
    pub labels: bool,
    /// One call both marks a message read and shows the typing indicator.
    pub typing_marks_read: bool,
    /// Sends count against a per-number messages-per-second budget (`[cloud] max_mps`).
    pub metered: bool,
}

/// What a channel tells us, already verified and normalised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    Message(Box<Inbound>),
    Delivery(DeliveryUpdate),
    Label(LabelChange),
    /// An operator's action on a chat, queued through the chat's lane so it is
    /// ordered with the chat's messages.
    Control(Control),
    /// Known but irrelevant: says why, logged at debug. Never stored.
    #[serde(skip)]
    Ignored(Why),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Control {
    /// Unique per request (a retried API call is a new action).
    pub id: String,
    pub chat: ChatId,
    /// Who asked (an admin name or "api").
    pub by: String,
    pub action: ControlAction,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ControlAction {
    /// The bot may answer again: ends a handover or a pause.
    Release,
    /// A human takes the chat; the bot stays silent.
    Handover { assigned_to: Option<String>, notes: Option<String> },
    /// Per-chat overrides of `[sales]`: switch the bot off or on for this chat,
    /// or whether a human reply from the phone pauses it here.
    Settings { bot_enabled: Option<bool>, stop_bot_from_me: Option<bool> },
    /// A burst's quiet window ended: answer it (internal, from the coalescer).
    Turn { token: u64 },
    /// Start the conversation afresh (the dashboard playground's reset); the
    /// chat's analytics tally is kept.
    Reset,
}

/// Why an event is ignored (a fixed phrase).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Why(pub &'static str);

impl Event {
    pub fn ignored(why: &'static str) -> Event {
        Event::Ignored(Why(why))
    }
}

impl Event {
    /// The channel's own identity of this event: the same key twice means a redelivery.
    pub fn dedupe_key(&self) -> Option<String> {
        match self {
            Event::Message(m) => Some(format!("msg:{}:{}", m.account, m.id)),
            Event::Delivery(d) => Some(format!("ack:{}:{}", d.message_id, d.state.as_str())),
            Event::Label(l) => Some(format!("label:{}", l.event_id)),
            Event::Control(c) => Some(format!("control:{}", c.id)),
            Event::Ignored(_) => None,
        }
    }

    /// The chat whose lane handles this event (ordering is per chat).
    pub fn chat_key(&self) -> String {
        match self {
            Event::Message(m) => m.chat.key(),
            Event::Delivery(d) => d.chat.as_ref().map(ChatId::key).unwrap_or_default(),
            Event::Label(l) => l.chat.as_ref().map(ChatId::key).unwrap_or_default(),
            Event::Control(c) => c.chat.key(),
            Event::Ignored(_) => String::new(),
        }
    }
}

/// One inbound WhatsApp message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inbound {
    pub channel: Channel,
    /// The business account it reached: WAHA session or Cloud phone_number_id.
    pub account: String,
    /// The channel's message id (WAHA serialized id, Cloud `wamid.…`).
    pub id: String,
    /// Where replies go: the person in a 1:1 chat, the group in a group.
    pub chat: ChatId,
    /// Who wrote it (the group member in groups).
    pub sender: ChatId,
    pub sender_name: Option<String>,
    /// The sender's business-scoped user id, when the gateway names one beside
    /// (or instead of) a phone number (Cloud, 2026).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_user_id: Option<String>,
    /// Typed on the business's own phone or sent through the gateway's API.
    pub from_me: bool,
    /// WAHA `source: "api"`: sent through the gateway's API, i.e. by a bot.
    pub sent_by_api: bool,
    /// Unix seconds as the channel reported them (0 when absent).
    pub timestamp: u64,
    pub content: Content,
    /// The message this one quotes.
    pub reply_to: Option<String>,
    /// Click-to-WhatsApp ad attribution (Cloud API, first message after the click).
    pub referral: Option<Referral>,
}

impl Inbound {
    /// A text from a person in a 1:1 chat: what the console, dry runs and tests send.
    pub fn text_from(channel: Channel, account: &str, id: String, from: ChatId, body: &str) -> Inbound {
        Inbound {
            channel,
            account: account.to_string(),
            id,
            sender: from.clone(),
            chat: from,
            sender_name: None,
            sender_user_id: None,
            from_me: false,
            sent_by_api: false,
            timestamp: 0,
            content: Content::Text { body: body.to_string() },
            reply_to: None,
            referral: None,
        }
    }

    /// The text a router reads: body, caption or button title.
    pub fn text(&self) -> Option<&str> {
        match &self.content {
            Content::Text { body } => Some(body),
            Content::Media { caption, .. } => caption.as_deref(),
            Content::ButtonReply { title, .. } => Some(title),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    Text {
        body: String,
    },
    Media {
        kind: MediaKind,
        caption: Option<String>,
        /// WAHA: a download URL on the gateway. Cloud: absent (use `media_id`).
        url: Option<String>,
        media_id: Option<String>,
        mime_type: Option<String>,
        filename: Option<String>,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
    Contacts {
        cards: Vec<ContactCard>,
    },
    ButtonReply {
        id: String,
        title: String,
    },
    Reaction {
        emoji: String,
        target: String,
    },
    /// A type juru does not read (order, unsupported, an empty interactive…):
    /// recorded, never dropped silently.
    Other {
        kind: String,
    },
    /// The person's identifiers changed (Cloud `system` messages and
    /// `user_id_update`): not something they wrote, never answered.
    IdentityChanged(IdentityChange),
    /// The gateway sent it, but part of it could not be read (`what` names
    /// the field): recorded and counted, never answered as if understood.
    Unreadable {
        what: String,
    },
}

/// A new phone number or user id for the person who sent the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityChange {
    /// `user_changed_number`, `user_changed_user_id`, `user_id_update`.
    pub kind: String,
    pub new_phone: Option<Phone>,
    pub new_user_id: Option<String>,
    /// The user id it replaces, when the gateway says.
    pub old_user_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    VoiceNote,
    Document,
    Sticker,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactCard {
    pub name: Option<String>,
    pub phones: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Referral {
    pub source_url: Option<String>,
    pub source_id: Option<String>,
    pub source_type: Option<String>,
    pub headline: Option<String>,
    pub body: Option<String>,
    pub media_type: Option<String>,
    pub ctwa_clid: Option<String>,
}

/// What happened to a message we sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryUpdate {
    pub channel: Channel,
    /// Our message's id as the gateway knows it (bare id for WAHA).
    pub message_id: String,
    pub chat: Option<ChatId>,
    pub state: DeliveryState,
    pub timestamp: u64,
    pub error: Option<String>,
}

/// Delivery states in the order they happen; a stored state never moves backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    Queued,
    Sent,
    Failed,
    Delivered,
    Read,
    Played,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Sent => "sent",
            DeliveryState::Failed => "failed",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Read => "read",
            DeliveryState::Played => "played",
        }
    }

    /// `failed` after `delivered` is a late, stale report: the later state wins.
    pub fn advance(self, incoming: DeliveryState) -> DeliveryState {
        self.max(incoming)
    }
}

/// A WhatsApp Business label event (WAHA). WAHA names no actor: none is invented.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelChange {
    pub event_id: String,
    pub account: String,
    pub chat: Option<ChatId>,
    pub label_id: String,
    pub label_name: Option<String>,
    pub color: Option<u32>,
    pub action: LabelAction,
    /// The business account's own number (WAHA `me.id`), when the gateway says.
    #[serde(default)]
    pub account_number: Option<String>,
    /// Found by reading the labels API (resync), not sent as an event.
    #[serde(default)]
    pub polled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelAction {
    Upserted,
    Deleted,
    AddedToChat,
    RemovedFromChat,
}

/// One thing to send. `meta` is display metadata for consoles and audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outgoing {
    pub to: ChatId,
    pub body: OutBody,
    pub reply_to: Option<String>,
    #[serde(default)]
    pub meta: ReplyMeta,
}

/// Where the conversation stood when a reply was made: shown by `juru chat --json`, kept in the audit.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplyMeta {
    pub phase: Option<String>,
    pub lang: Option<String>,
    pub handover: bool,
    pub prompt_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutBody {
    Text {
        text: String,
    },
    Image {
        url: String,
        caption: Option<String>,
    },
    Document {
        url: String,
        filename: Option<String>,
        caption: Option<String>,
    },
    Video {
        url: String,
        caption: Option<String>,
    },
    /// Text with quick-reply buttons (Cloud API interactive message; other
    /// channels get the choices as a numbered list).
    Buttons {
        text: String,
        buttons: Vec<ReplyButton>,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
    /// Typing indicator for the chat (Cloud ties it to an inbound message id).
    Typing {
        message_id: String,
    },
    /// Read receipt for one inbound message.
    Seen {
        message_id: String,
    },
    /// Sets the chat's full WhatsApp label set (WAHA only): `names` are for
    /// people reading the audit trail and consoles.
    Labels {
        label_ids: Vec<String>,
        names: Vec<String>,
    },
}

impl OutBody {
    pub fn kind(&self) -> &'static str {
        match self {
            OutBody::Text { .. } => "text",
            OutBody::Image { .. } => "image",
            OutBody::Document { .. } => "document",
            OutBody::Video { .. } => "video",
            OutBody::Buttons { .. } => "text",
            OutBody::Location { .. } => "location",
            OutBody::Typing { .. } => "typing",
            OutBody::Seen { .. } => "seen",
            OutBody::Labels { .. } => "labels",
        }
    }

    /// Read receipts and typing are courtesy signals: best effort, never retried.
    pub fn is_marker(&self) -> bool {
        matches!(self, OutBody::Typing { .. } | OutBody::Seen { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyButton {
    pub id: String,
    /// At most 20 characters (Cloud API limit).
    pub title: String,
}

impl OutBody {
    /// The text of a buttons message as a numbered list, for channels without buttons.
    pub fn numbered(text: &str, buttons: &[ReplyButton]) -> String {
        let mut out = text.to_string();
        out.push('\n');
        for (i, b) in buttons.iter().enumerate() {
            out.push_str(&format!("\n{}. {}", i + 1, b.title));
        }
        out
    }
}

/// Why a webhook body was refused. Worded for the gateway's operator.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("body is not valid JSON: {0}")]
    Json(String),
    #[error("unexpected shape: {0}")]
    Shape(String),
}

impl From<serde_json::Error> for ParseError {
    fn from(e: serde_json::Error) -> Self {
        // `data` errors mean valid JSON of the wrong shape.
        if e.is_data() { ParseError::Shape(e.to_string()) } else { ParseError::Json(e.to_string()) }
    }
}

/// Accepts a timestamp written as a number or as a string of digits.
pub(crate) fn lenient_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrText {
        Num(f64),
        Text(String),
    }
    Ok(match Option::<NumOrText>::deserialize(d)? {
        Some(NumOrText::Num(n)) if n.is_finite() && n >= 0.0 => Some(n as u64),
        Some(NumOrText::Text(s)) => s.trim().parse().ok(),
        _ => None,
    })
}
