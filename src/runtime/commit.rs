//! The one function that turns [`Effects`] into writes: the chat's state,
//! the event's audit record, the outbox items and their audit, CRM and sync
//! changes, the lead, the burst window, queued controls and the inbox
//! removal go to the store in ONE transaction (DESIGN.md invariant 4).
//! Only once that is on disk are the sends handed to the outbox.

use super::audit::AuditRecord;
use super::coalesce::DueTurn;
use super::delivery::{self, DeliveryRecord};
use super::inbox::InboxItem;
use super::outbox::{Outbox, OutboxItem};
use super::{RuntimeError, Shared};
use crate::channel::{Channel, ChatId, Control, ControlAction, Event, Inbound, LabelChange, OutBody, Outgoing};
use crate::router::{Burst, Effects, LeadRecord, Markers};
use crate::store::{TreeName, Wait, Write, chat_seq_key, decode, encode};

/// The event whose effects are committed, as its audit record names it.
pub(super) enum Source<'a> {
    /// An inbound message (inbox item `seq`).
    Message {
        seq: u64,
        ev: &'a Inbound,
    },
    /// A burst's window ended (not an inbox item: the `turns` tree holds it).
    Burst {
        seq: u64,
        chat: &'a ChatId,
        token: u64,
    },
    /// An operator's action (inbox item `seq`).
    Control {
        seq: u64,
        control: &'a Control,
    },
    Label {
        seq: u64,
        change: &'a LabelChange,
    },
    /// A delivery status: no audit record of its own.
    Delivery {
        seq: u64,
    },
    /// Work of the runtime's own (nurture steps, a confirmation): no inbox item, no event audit.
    Scheduled,
}

impl Source<'_> {
    fn inbox_seq(&self) -> Option<u64> {
        match self {
            Source::Message { seq, .. }
            | Source::Control { seq, .. }
            | Source::Label { seq, .. }
            | Source::Delivery { seq } => Some(*seq),
            Source::Burst { .. } | Source::Scheduled => None,
        }
    }

    fn chat_key(&self) -> Option<String> {
        match self {
            Source::Message { ev, .. } => Some(ev.chat.key()),
            Source::Burst { chat, .. } => Some(chat.key()),
            Source::Control { control, .. } => Some(control.chat.key()),
            Source::Label { change, .. } => {
                Some(change.chat.as_ref().map(|c| c.key()).unwrap_or_else(|| format!("label:{}", change.label_id)))
            }
            Source::Delivery { .. } | Source::Scheduled => None,
        }
    }

    fn chat(&self) -> Option<&ChatId> {
        match self {
            Source::Message { ev, .. } => Some(&ev.chat),
            Source::Burst { chat, .. } => Some(chat),
            Source::Control { control, .. } => Some(&control.chat),
            _ => None,
        }
    }
}

/// What the commit hands on once it is durable: sends to the outbox,
/// controls to their lanes, a burst's window to the coalescer.
pub(super) struct Next<'a> {
    pub outbox: &'a Outbox,
    pub dispatch: &'a (dyn Fn(InboxItem) + Sync),
    pub schedule: &'a (dyn Fn(DueTurn) + Sync),
}

/// Commits the effects of the runtime's own work (nurture steps, a
/// confirmation): sends only, no inbox item, no lane.
pub(super) async fn commit_scheduled(
    shared: &Shared,
    outbox: &Outbox,
    channel: Channel,
    effects: Effects,
) -> Result<(), RuntimeError> {
    // Scheduled work queues no controls and opens no bursts; were one queued,
    // it would wait in the inbox for the next start, never lost.
    let next = Next { outbox, dispatch: &|_| {}, schedule: &|_| {} };
    commit(shared, &next, Source::Scheduled, channel, effects, super::now_ms()).await
}

/// Commits `effects` of `source`; sends go through `channel` unless a send names its own.
pub(super) async fn commit(
    shared: &Shared,
    next: &Next<'_>,
    source: Source<'_>,
    channel: Channel,
    effects: Effects,
    now: u64,
) -> Result<(), RuntimeError> {
    let store = &shared.store;
    let chat_key = source.chat_key();
    let mut writes = Vec::with_capacity(8 + effects.sends.len() * 2 + effects.crm.writes.len());
    if let Some(seq) = source.inbox_seq() {
        writes.push(Write::Remove(TreeName::Inbox, seq.to_be_bytes().to_vec()));
    }
    if let (Some(key), Some(state)) = (&chat_key, &effects.state) {
        writes.push(Write::Put(TreeName::Conversations, key.clone().into_bytes(), encode(state)));
    }
    if let (Some(key), Some(record)) = (&chat_key, audit_record(&source, &effects, now)) {
        writes.push(Write::Put(TreeName::Messages, chat_seq_key(key, record.seq), encode(&record)));
    }
    let due = match (effects.burst, source.chat(), &chat_key) {
        (Some(Burst::Open { token, due_ms }), Some(chat), Some(key)) => {
            let due = DueTurn { chat: chat.clone(), token, due_ms };
            writes.push(Write::Put(TreeName::Turns, key.clone().into_bytes(), encode(&due)));
            Some(due)
        }
        (Some(Burst::Closed), _, Some(key)) => {
            writes.push(Write::Remove(TreeName::Turns, key.clone().into_bytes()));
            None
        }
        _ => None,
    };
    if let Some(lead) = effects.lead {
        writes.push(upsert_lead(lead));
    }
    let mut controls = Vec::with_capacity(effects.controls.len());
    for control in effects.controls {
        let item = InboxItem { seq: store.next_seq()?, received_ms: now, event: Event::Control(control) };
        writes.push(Write::Put(TreeName::Inbox, item.seq.to_be_bytes().to_vec(), encode(&item)));
        controls.push(item);
    }
    if let Some(update) = &effects.delivery {
        writes.push(delivery_update(update.channel, &update.message_id, update.state, update.error.clone(), now));
    }
    let mut items = Vec::with_capacity(effects.sends.len() + 2);
    if let Some(markers) = &effects.markers {
        items.extend(marker_items(markers, channel, now));
    }
    for send in effects.sends {
        let via = send.via.unwrap_or_else(|| route_by_capability(shared, channel, &send.out));
        let item = OutboxItem::new(store.next_seq()?, via, send.out, now);
        let to = item.out.to.key();
        writes.push(Write::Put(TreeName::Outbox, item.seq.to_be_bytes().to_vec(), encode(&item)));
        writes.push(Write::Put(
            TreeName::Messages,
            chat_seq_key(&to, item.seq),
            encode(&AuditRecord::queued(&item, &to)),
        ));
        items.push(item);
    }
    let crm = effects.crm;
    let sync = shared.crm.sync_writes(&crm.touched, now);
    writes.extend(crm.writes);
    writes.extend(sync);

    if !writes.is_empty() {
        // What will be sent must be on disk first (invariant 4); it rides on
        // the next flush the webhooks need (at most `store::SOON` later), so
        // a turn costs no flush of its own. State that nobody outside has seen
        // (a burst being collected, a status, a label) need only be applied:
        // a crash before the next flush leaves its inbox item in place, and
        // the replay redoes it.
        let wait = if items.iter().any(|i| !i.out.body.is_marker()) || !controls.is_empty() {
            Wait::Soon
        } else {
            Wait::Applied
        };
        store.commit.commit_with(writes, wait).await?;
        shared.crm.refresh(&crm.touched);
    }
    remember_texts(shared, &items, now);
    next.outbox.enqueue(items);
    for item in controls {
        shared.progress.inbox_added(1);
        (next.dispatch)(item);
    }
    if let Some(due) = due {
        (next.schedule)(due);
    }
    if let (Some(key), Some(state)) = (&chat_key, &effects.state) {
        let text = match &source {
            Source::Message { ev, .. } if !ev.from_me => ev.text(),
            _ => None,
        };
        shared.stats.observe(key, state, text);
    }
    Ok(())
}

/// The event's own line in the audit trail.
fn audit_record(source: &Source<'_>, effects: &Effects, now: u64) -> Option<AuditRecord> {
    let audit = &effects.audit;
    let mut record = match source {
        Source::Message { seq, ev } => {
            let mut record = AuditRecord::inbound(*seq, ev, audit.route.as_deref().unwrap_or("-"), now);
            if let Some(text) = &audit.text {
                record.text = Some(text.clone());
            }
            record
        }
        Source::Burst { seq, chat, token } => {
            // A stale window (a later message restarted it) leaves no trace.
            audit.turn.as_ref()?;
            let control = Control {
                id: format!("turn:{token}"),
                chat: (*chat).clone(),
                by: "coalesce".into(),
                action: ControlAction::Turn { token: *token },
            };
            AuditRecord::control(*seq, &control, now)
        }
        Source::Control { seq, control } => {
            let mut record = AuditRecord::control(*seq, control, now);
            record.phase = effects.state.as_ref().map(|s| s.phase.as_str().to_string());
            record
        }
        Source::Label { seq, change } => AuditRecord::label(*seq, change, now),
        Source::Delivery { .. } | Source::Scheduled => return None,
    };
    record.turn = audit.turn.clone();
    Some(record)
}

/// Read receipt and typing indicator: in-memory outbox items, never stored
/// (a crash loses at most a courtesy signal). One item where the channel
/// marks a message read with its typing indicator.
fn marker_items(markers: &Markers, channel: Channel, now: u64) -> Vec<OutboxItem> {
    let caps = channel.capabilities();
    let item = |body| {
        OutboxItem::marker(
            channel,
            Outgoing { to: markers.chat.clone(), body, reply_to: None, meta: Default::default() },
            now,
        )
    };
    let id = || markers.message_id.clone();
    let mut items = Vec::with_capacity(2);
    if markers.seen && !(markers.typing && caps.typing_marks_read) {
        items.push(item(OutBody::Seen { message_id: id() }));
    }
    if markers.typing {
        items.push(item(OutBody::Typing { message_id: id() }));
    }
    items
}

/// A send the event's channel cannot carry (labels outside WAHA) goes
/// through a configured channel that can; elsewhere (`juru chat`) it is shown.
fn route_by_capability(shared: &Shared, channel: Channel, out: &Outgoing) -> Channel {
    match out.body {
        OutBody::Labels { .. } if !channel.capabilities().labels => {
            shared.gateways.configured().find(|c| c.capabilities().labels).unwrap_or(channel)
        }
        _ => channel,
    }
}

/// Texts just queued, so their echoes are recognised even under new ids.
fn remember_texts(shared: &Shared, items: &[OutboxItem], now: u64) {
    for item in items {
        if let OutBody::Text { text } = &item.out.body {
            shared.echoes.record(&item.out.to.key(), text, now);
        }
    }
}

/// Merged with what is stored, inside the commit.
pub(super) fn upsert_lead(lead: LeadRecord) -> Write {
    let key = lead.phone.clone().into_bytes();
    Write::Update(
        TreeName::Leads,
        key,
        Box::new(move |old| Some(encode(&lead.clone().merged_over(old.and_then(|b| decode::<LeadRecord>(b).ok()))))),
    )
}

/// A delivery state merged into the stored record inside the commit: a
/// status and our own "sent" for the same id may be applied concurrently.
pub(super) fn delivery_update(
    channel: Channel,
    remote_id: &str,
    state: crate::channel::DeliveryState,
    error: Option<String>,
    now: u64,
) -> Write {
    Write::Update(
        TreeName::Delivery,
        delivery::key(channel, remote_id),
        Box::new(move |old| {
            Some(encode(&delivery::merge(
                old.and_then(|b| decode::<DeliveryRecord>(b).ok()),
                state,
                error.clone(),
                now,
            )))
        }),
    )
}
