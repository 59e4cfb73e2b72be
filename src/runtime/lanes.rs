//! Lanes: each chat maps to one lane and a lane handles its events one at a
//! time, in accepted order; lanes run in parallel.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::audit::{AuditRecord, ContactRecord, Direction};
use super::delivery;
use super::inbox::InboxItem;
use super::outbox::{Outbox, OutboxItem};
use super::{RuntimeError, Shared, now_ms};
use crate::channel::{Control, ControlAction, Event, Inbound, LabelChange};
use crate::router::{self, ChatState, Facts, HistoryLine};
use crate::store::{StoreError, chat_seq_key, decode, encode};

pub(super) struct Lanes {
    senders: Vec<mpsc::UnboundedSender<InboxItem>>,
    order: Vec<Mutex<()>>,
    workers: Vec<JoinHandle<()>>,
}

impl Lanes {
    pub fn start(shared: Arc<Shared>, outbox: Outbox) -> Lanes {
        let n = shared.config.runtime.lanes;
        let mut senders = Vec::with_capacity(n);
        let mut workers = Vec::with_capacity(n);
        for _ in 0..n {
            let (tx, rx) = mpsc::unbounded_channel();
            senders.push(tx);
            workers.push(tokio::spawn(run_lane(shared.clone(), outbox.clone(), rx)));
        }
        Lanes { senders, order: (0..n).map(|_| Mutex::new(())).collect(), workers }
    }

    pub fn lane_of(&self, chat_key: &str) -> usize {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        chat_key.hash(&mut h);
        (h.finish() % self.senders.len() as u64) as usize
    }

    pub fn order_lock(&self, lane: usize) -> MutexGuard<'_, ()> {
        self.order[lane].lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn dispatch(&self, lane: usize, item: InboxItem) {
        // A closed lane means shutdown: the item stays in the inbox for the next start.
        let _ = self.senders[lane].send(item);
    }

    /// Closes the lanes and waits until each has handled what it was given.
    pub async fn drain(self) {
        drop(self.senders);
        for worker in self.workers {
            let _ = worker.await;
        }
    }
}

async fn run_lane(shared: Arc<Shared>, outbox: Outbox, mut rx: mpsc::UnboundedReceiver<InboxItem>) {
    while let Some(item) = rx.recv().await {
        let started = Instant::now();
        let seq = item.seq;
        let result = handle(&shared, &outbox, item).await;
        shared.progress.inbox_added(-1);
        metrics::histogram!("juru_handler_seconds").record(started.elapsed().as_secs_f64());
        if let Err(e) = result {
            // The item stays in the inbox and is retried on the next start.
            tracing::error!(seq, error = %e, "handling an accepted event failed");
        }
    }
}

async fn handle(shared: &Shared, outbox: &Outbox, item: InboxItem) -> Result<(), RuntimeError> {
    match item.event {
        Event::Message(inbound) => handle_message(shared, outbox, item.seq, *inbound).await,
        Event::Delivery(update) => {
            delivery::apply(&shared.store, item.seq, &update)?;
            Ok(())
        }
        Event::Label(change) => record_label(shared, item.seq, &change),
        Event::Control(control) => apply_control(shared, item.seq, &control),
        Event::Ignored(_) => Ok(()),
    }
}

async fn handle_message(shared: &Shared, outbox: &Outbox, seq: u64, mut inbound: Inbound) -> Result<(), RuntimeError> {
    shared.identity.resolve_sender(&mut inbound).await;
    let store = &shared.store;
    let chat_key = inbound.chat.key();
    let state: ChatState = match store.conversations.get(chat_key.as_bytes())? {
        Some(bytes) => decode(&bytes).map_err(StoreError::from)?,
        None => ChatState::default(),
    };
    let now = now_ms();
    let own_echo = inbound.from_me && delivery::is_ours(store, inbound.channel, &inbound.id)?;
    let route = router::route(&inbound, &shared.bot, &state, Facts { own_echo, now_ms: now });
    let history = if route == router::Route::Conversation && shared.sales.wants_history() {
        recent_history(store, &chat_key, 12)?
    } else {
        Vec::new()
    };
    let reply = router::respond(route, &inbound, &shared.bot, &shared.sales, &state, &history, now).await;
    tracing::debug!(chat = %chat_key, route = route.name(), replies = reply.outgoing.len(), "message routed");

    let mut items = Vec::with_capacity(reply.outgoing.len() + reply.alerts.len());
    for out in reply.outgoing.into_iter().chain(reply.alerts) {
        items.push(OutboxItem::new(store.next_seq()?, inbound.channel, out, now));
    }
    let mut audit = AuditRecord::inbound(seq, &inbound, route.name(), now);
    audit.turn = reply.turn;
    let inbound_audit = encode(&audit);
    let state_bytes = encode(&reply.state);
    let contact_key = (!inbound.chat.is_group() && !inbound.from_me).then(|| inbound.sender.key());

    let trees = (&store.inbox, &store.conversations, &store.messages, &store.outbox, &store.contacts);
    let result = trees.transaction(|(tx_inbox, tx_conv, tx_messages, tx_outbox, tx_contacts)| {
        tx_inbox.remove(&seq.to_be_bytes())?;
        tx_conv.insert(chat_key.as_bytes(), state_bytes.as_slice())?;
        tx_messages.insert(chat_seq_key(&chat_key, seq), inbound_audit.as_slice())?;
        for item in &items {
            tx_outbox.insert(&item.seq.to_be_bytes(), encode(item))?;
            let to = item.out.to.key();
            tx_messages.insert(chat_seq_key(&to, item.seq), encode(&AuditRecord::queued(item, &to)))?;
        }
        if let Some(key) = &contact_key {
            let existing = tx_contacts.get(key.as_bytes())?.and_then(|b| decode::<ContactRecord>(&b).ok());
            let contact = ContactRecord::seen(existing, &inbound, now);
            tx_contacts.insert(key.as_bytes(), encode(&contact))?;
        }
        Ok::<_, ConflictableTransactionError<StoreError>>(())
    });
    result.map_err(|e: TransactionError<StoreError>| RuntimeError::Store(e.into()))?;
    // Nothing is sent before the commit that queued it is on disk.
    store.durable().await?;
    outbox.enqueue(items);
    Ok(())
}

/// The chat's last `n` text lines in and out, oldest first (for the LLM).
fn recent_history(store: &crate::store::Store, chat_key: &str, n: usize) -> Result<Vec<HistoryLine>, RuntimeError> {
    let mut prefix = chat_key.as_bytes().to_vec();
    prefix.push(0);
    let mut lines = Vec::with_capacity(n);
    for entry in store.messages.scan_prefix(prefix).rev() {
        let (_, value) = entry?;
        let Ok(record) = decode::<AuditRecord>(&value) else { continue };
        let from_prospect = match record.direction {
            Direction::In => true,
            Direction::Out if record.kind == "text" => false,
            _ => continue,
        };
        if let Some(text) = record.text {
            lines.push(HistoryLine { from_prospect, text });
        }
        if lines.len() == n {
            break;
        }
    }
    lines.reverse();
    Ok(lines)
}

/// An operator's release or handover: state change, audit and inbox removal together.
fn apply_control(shared: &Shared, seq: u64, control: &Control) -> Result<(), RuntimeError> {
    let store = &shared.store;
    let chat_key = control.chat.key();
    let now = now_ms();
    let audit = AuditRecord::control(seq, control, now);
    let result =
        (&store.inbox, &store.conversations, &store.messages).transaction(|(tx_inbox, tx_conv, tx_messages)| {
            tx_inbox.remove(&seq.to_be_bytes())?;
            let mut state: ChatState =
                tx_conv.get(chat_key.as_bytes())?.and_then(|b| decode(&b).ok()).unwrap_or_default();
            match &control.action {
                ControlAction::Release => {
                    state.handed_over = false;
                    state.handover_reason = None;
                    state.paused_until_ms = None;
                }
                ControlAction::Handover { assigned_to, .. } => {
                    state.handed_over = true;
                    state.handover_reason =
                        Some(format!("admin handover to {}", assigned_to.as_deref().unwrap_or(&control.by)));
                }
            }
            let audit = AuditRecord { phase: Some(state.phase.as_str().to_string()), ..audit.clone() };
            tx_conv.insert(chat_key.as_bytes(), encode(&state))?;
            tx_messages.insert(chat_seq_key(&chat_key, seq), encode(&audit))?;
            Ok::<_, ConflictableTransactionError<StoreError>>(())
        });
    result.map_err(|e: TransactionError<StoreError>| RuntimeError::Store(e.into()))
}

fn record_label(shared: &Shared, seq: u64, change: &LabelChange) -> Result<(), RuntimeError> {
    let store = &shared.store;
    let chat_key = change.chat.as_ref().map(|c| c.key()).unwrap_or_else(|| format!("label:{}", change.label_id));
    let audit = encode(&AuditRecord::label(seq, change, now_ms()));
    let result = (&store.inbox, &store.messages).transaction(|(tx_inbox, tx_messages)| {
        tx_inbox.remove(&seq.to_be_bytes())?;
        tx_messages.insert(chat_seq_key(&chat_key, seq), audit.as_slice())?;
        Ok::<_, ConflictableTransactionError<StoreError>>(())
    });
    result.map_err(|e: TransactionError<StoreError>| RuntimeError::Store(e.into()))
}
