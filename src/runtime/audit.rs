//! Records of the `messages` tree: the audit trail.

use serde::{Deserialize, Serialize};

use super::outbox::OutboxItem;
use crate::channel::{Channel, Content, Control, ControlAction, Inbound, LabelChange, OutBody};
use crate::store::{Store, StoreError, TreeName, decode};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
    Label,
    /// An operator's action (release, handover).
    Control,
}

/// One line of the audit trail: every message in and out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    pub at_ms: u64,
    pub direction: Direction,
    pub channel: Option<Channel>,
    pub chat: String,
    pub kind: String,
    pub text: Option<String>,
    pub url: Option<String>,
    /// Inbound: the channel's message id. Outbound: the gateway's id once sent.
    pub message_id: Option<String>,
    /// Inbound: what the router decided.
    pub route: Option<String>,
    pub phase: Option<String>,
    /// Outbound: the prompt set a sales reply was made with.
    #[serde(default)]
    pub prompt_version: Option<String>,
    /// Inbound, conversation path: what the sales bot decided and with which prompts.
    #[serde(default)]
    pub turn: Option<crate::router::TurnRecord>,
    /// Outbound: queued | sent | failed.
    pub status: Option<String>,
    pub error: Option<String>,
}

impl AuditRecord {
    pub fn inbound(seq: u64, ev: &Inbound, route: &str, now_ms: u64) -> AuditRecord {
        let (kind, url) = match &ev.content {
            Content::Text { .. } => ("text".to_string(), None),
            Content::Media { kind, url, media_id, .. } => {
                (format!("{kind:?}").to_lowercase(), url.clone().or_else(|| media_id.clone()))
            }
            Content::Location { .. } => ("location".into(), None),
            Content::Contacts { .. } => ("contacts".into(), None),
            Content::ButtonReply { .. } => ("button_reply".into(), None),
            Content::Reaction { .. } => ("reaction".into(), None),
            Content::Other { kind } => (kind.clone(), None),
            Content::IdentityChanged(change) => (change.kind.clone(), None),
            Content::Unreadable { .. } => ("unreadable".into(), None),
        };
        AuditRecord {
            seq,
            at_ms: now_ms,
            direction: Direction::In,
            channel: Some(ev.channel),
            chat: ev.chat.key(),
            kind,
            text: ev.text().map(str::to_string),
            url,
            message_id: Some(ev.id.clone()),
            route: Some(route.to_string()),
            phase: None,
            prompt_version: None,
            turn: None,
            status: None,
            error: None,
        }
    }

    pub fn queued(item: &OutboxItem, chat: &str) -> AuditRecord {
        let (text, url) = match &item.out.body {
            OutBody::Text { text } => (Some(text.clone()), None),
            OutBody::Buttons { text, buttons } => (Some(OutBody::numbered(text, buttons)), None),
            OutBody::Image { url, caption } | OutBody::Document { url, caption, .. } => {
                (caption.clone(), Some(url.clone()))
            }
            OutBody::Video { url, caption } => (caption.clone(), Some(url.clone())),
            OutBody::Location { address, .. } => (address.clone(), None),
            OutBody::Typing { .. } | OutBody::Seen { .. } => (None, None),
            OutBody::Labels { names, .. } => (Some(names.join(", ")), None),
        };
        AuditRecord {
            seq: item.seq,
            at_ms: item.created_ms,
            direction: Direction::Out,
            channel: Some(item.channel),
            chat: chat.to_string(),
            kind: item.out.body.kind().to_string(),
            text,
            url,
            message_id: None,
            route: None,
            phase: item.out.meta.phase.clone(),
            prompt_version: item.out.meta.prompt_version.clone(),
            turn: None,
            status: Some("queued".into()),
            error: None,
        }
    }

    pub fn control(seq: u64, control: &Control, now_ms: u64) -> AuditRecord {
        let (kind, text) = match &control.action {
            ControlAction::Release => ("release".to_string(), None),
            ControlAction::Reset => ("reset".to_string(), None),
            ControlAction::Settings { bot_enabled, stop_bot_from_me } => (
                "settings".to_string(),
                Some(format!("bot_enabled={bot_enabled:?} stop_bot_from_me={stop_bot_from_me:?}")),
            ),
            ControlAction::Turn { token } => ("turn".to_string(), Some(format!("burst {token}"))),
            ControlAction::Handover { assigned_to, notes } => (
                "handover".to_string(),
                Some(
                    format!("{} {}", assigned_to.as_deref().unwrap_or("-"), notes.as_deref().unwrap_or(""))
                        .trim()
                        .to_string(),
                ),
            ),
        };
        AuditRecord {
            seq,
            at_ms: now_ms,
            direction: Direction::Control,
            channel: None,
            chat: control.chat.key(),
            kind,
            text,
            url: None,
            message_id: Some(control.id.clone()),
            route: Some(format!("by {}", control.by)),
            phase: None,
            prompt_version: None,
            turn: None,
            status: None,
            error: None,
        }
    }

    pub fn label(seq: u64, change: &LabelChange, now_ms: u64) -> AuditRecord {
        AuditRecord {
            seq,
            at_ms: now_ms,
            direction: Direction::Label,
            channel: Some(Channel::Waha),
            chat: change.chat.as_ref().map(|c| c.key()).unwrap_or_default(),
            kind: format!("{:?}", change.action).to_lowercase(),
            text: change.label_name.clone(),
            url: None,
            message_id: Some(change.label_id.clone()),
            route: None,
            phase: None,
            prompt_version: None,
            turn: None,
            status: None,
            error: None,
        }
    }
}

/// A chat's audit records, oldest first (reversible); undecodable records are skipped.
pub fn trail(store: &Store, chat_key: &str) -> impl DoubleEndedIterator<Item = Result<AuditRecord, StoreError>> {
    let mut prefix = chat_key.as_bytes().to_vec();
    prefix.push(0);
    store.read(TreeName::Messages).scan_prefix(prefix).filter_map(|entry| match entry {
        Ok((_, value)) => decode::<AuditRecord>(&value).ok().map(Ok),
        Err(e) => Some(Err(e)),
    })
}

/// The chat's last `n` text lines in and out, oldest first (for the LLM).
pub(super) fn recent_history(
    store: &Store,
    chat_key: &str,
    n: usize,
) -> Result<Vec<crate::router::HistoryLine>, StoreError> {
    let mut lines = Vec::with_capacity(n);
    for record in trail(store, chat_key).rev() {
        let record = record?;
        let from_prospect = match record.direction {
            Direction::In => true,
            Direction::Out if record.kind == "text" => false,
            _ => continue,
        };
        if let Some(text) = record.text {
            lines.push(crate::router::HistoryLine { from_prospect, text });
        }
        if lines.len() == n {
            break;
        }
    }
    lines.reverse();
    Ok(lines)
}
