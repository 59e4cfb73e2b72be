//! [`Effects`]: the one value every handler returns. Commands, the sales
//! conversation, controls, labels, delivery statuses and the nurture
//! scheduler all describe what should happen as `Effects`; the runtime turns
//! them into writes and commits them with the inbox removal in one
//! transaction (DESIGN.md invariant 4), then hands the sends to the outbox.
//! No handler writes or sends anything itself, so each one is testable
//! without a network or a store.

use crate::channel::{Channel, ChatId, Control, DeliveryUpdate, OutBody, Outgoing, ReplyMeta};
use crate::crm::Changes;
use crate::sales::lead::LeadRecord;
use crate::sales::{ChatState, TurnRecord};

/// What one event changes and sends.
#[derive(Default)]
pub struct Effects {
    /// Messages to send, in order: replies to the event's chat, alerts to
    /// admin chats, label sets. Stored with the commit, sent after it.
    pub sends: Vec<ToSend>,
    /// Read receipt and typing indicator ahead of the replies: courtesy
    /// signals, sent best effort and never stored.
    pub markers: Option<Markers>,
    /// The chat's state after the event (`None`: unchanged).
    pub state: Option<ChatState>,
    /// What the event's audit record says about the decision.
    pub audit: Audit,
    /// Contacts, deals, activities, labels, settings: the CRM's writes.
    pub crm: Changes,
    /// A prospect who reached booking (merged with the stored lead).
    pub lead: Option<LeadRecord>,
    /// Operator actions on other chats (`#crm release`), queued through
    /// their chats' lanes so they are ordered with those chats' messages.
    pub controls: Vec<Control>,
    /// The burst being collected, or the end of one.
    pub burst: Option<Burst>,
    /// A delivery status of a message we sent.
    pub delivery: Option<DeliveryUpdate>,
}

/// One message to send.
#[derive(Debug, Clone, PartialEq)]
pub struct ToSend {
    pub out: Outgoing,
    /// Through this channel; `None`: the channel the event came from.
    pub via: Option<Channel>,
}

/// Read receipt and/or typing indicator for one inbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct Markers {
    pub chat: ChatId,
    pub message_id: String,
    pub seen: bool,
    pub typing: bool,
}

/// The decision as the audit trail keeps it, beside the event itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Audit {
    /// What the router chose (`conversation`, `command: ok`, `handed over`…).
    pub route: Option<String>,
    /// The sales turn: brain, prompt version, intent, phase change.
    pub turn: Option<TurnRecord>,
    /// Replaces the event's text in the audit trail (a command with its credentials masked).
    pub text: Option<String>,
}

/// The coalescing window of a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Burst {
    /// A burst opened: answer it at `due_ms` unless its token changed by then.
    Open { token: u64, due_ms: u64 },
    /// The burst was answered (or dropped): forget its window.
    Closed,
}

impl Effects {
    /// Nothing but an audit record naming the route.
    pub fn noted(route: &str) -> Effects {
        Effects { audit: Audit { route: Some(route.to_string()), ..Audit::default() }, ..Effects::default() }
    }

    /// One text to `to`, through the event's channel.
    pub fn text(to: &ChatId, text: String) -> ToSend {
        ToSend::reply(to, OutBody::Text { text }, ReplyMeta::default())
    }

    /// Every send, in order, with the event's channel filled in.
    pub fn outgoing(&self) -> impl Iterator<Item = &Outgoing> {
        self.sends.iter().map(|s| &s.out)
    }

    /// The texts this event sends (what a prospect reads), in order.
    pub fn texts(&self) -> Vec<&str> {
        self.outgoing()
            .filter_map(|o| match &o.body {
                OutBody::Text { text } | OutBody::Buttons { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    pub fn push(&mut self, out: Outgoing) {
        self.sends.push(ToSend { out, via: None });
    }
}

impl ToSend {
    pub fn reply(to: &ChatId, body: OutBody, meta: ReplyMeta) -> ToSend {
        ToSend { out: Outgoing { to: to.clone(), body, reply_to: None, meta }, via: None }
    }
}
