//! Lanes: each chat maps to one lane and a lane handles its events one at a
//! time, in accepted order; lanes run in parallel.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::audit::{AuditRecord, ContactRecord, Direction};
use super::coalesce::{Coalescer, Dispatch, DueTurn};
use super::delivery;
use super::inbox::InboxItem;
use super::outbox::{Outbox, OutboxItem};
use super::{RuntimeError, Shared, now_ms};
use crate::channel::{ChatId, Control, ControlAction, Event, Inbound, LabelChange};
use crate::router::{self, ChatState, Facts, HistoryLine, LeadRecord};
use crate::store::{StoreError, chat_seq_key, decode, encode};

pub(super) struct Lanes {
    senders: Vec<mpsc::UnboundedSender<InboxItem>>,
    order: Vec<Mutex<()>>,
    workers: Vec<JoinHandle<()>>,
    coalescer: Arc<Coalescer>,
}

fn lane_index(chat_key: &str, lanes: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    chat_key.hash(&mut h);
    (h.finish() % lanes as u64) as usize
}

impl Lanes {
    pub fn start(shared: Arc<Shared>, outbox: Outbox) -> Lanes {
        let n = shared.config.runtime.lanes;
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..n).map(|_| mpsc::unbounded_channel::<InboxItem>()).unzip();
        // The coalescer feeds due turns into the lanes through weak senders,
        // so closing the lanes at shutdown is not held up by it.
        let weak: Vec<_> = senders.iter().map(|s| s.downgrade()).collect();
        let dispatch: Dispatch = Arc::new(move |item: InboxItem| {
            let lane = lane_index(&item.event.chat_key(), weak.len());
            if let Some(tx) = weak[lane].upgrade() {
                let _ = tx.send(item);
            }
        });
        let coalescer = Arc::new(Coalescer::start(shared.store.clone(), shared.progress.clone(), dispatch));
        let workers = receivers
            .into_iter()
            .map(|rx| tokio::spawn(run_lane(shared.clone(), outbox.clone(), coalescer.clone(), rx)))
            .collect();
        Lanes { senders, order: (0..n).map(|_| Mutex::new(())).collect(), workers, coalescer }
    }

    pub fn lane_of(&self, chat_key: &str) -> usize {
        lane_index(chat_key, self.senders.len())
    }

    /// Re-opens the bursts a previous run was collecting.
    pub fn resume_turns(&self, store: &crate::store::Store) -> Result<(), RuntimeError> {
        for entry in store.turns.iter() {
            let (_, value) = entry?;
            if let Ok(turn) = decode::<DueTurn>(&value) {
                self.coalescer.schedule(turn);
            }
        }
        Ok(())
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
        if let Ok(coalescer) = Arc::try_unwrap(self.coalescer) {
            coalescer.stop().await;
        }
    }
}

async fn run_lane(
    shared: Arc<Shared>,
    outbox: Outbox,
    coalescer: Arc<Coalescer>,
    mut rx: mpsc::UnboundedReceiver<InboxItem>,
) {
    while let Some(item) = rx.recv().await {
        let started = Instant::now();
        let seq = item.seq;
        let result = handle(&shared, &outbox, &coalescer, item).await;
        shared.progress.inbox_added(-1);
        metrics::histogram!("juru_handler_seconds").record(started.elapsed().as_secs_f64());
        if let Err(e) = result {
            // The item stays in the inbox and is retried on the next start.
            tracing::error!(seq, error = %e, "handling an accepted event failed");
        }
    }
}

async fn handle(shared: &Shared, outbox: &Outbox, coalescer: &Coalescer, item: InboxItem) -> Result<(), RuntimeError> {
    match item.event {
        Event::Message(inbound) => handle_message(shared, outbox, coalescer, item.seq, *inbound).await,
        Event::Control(Control { chat, action: ControlAction::Turn { token }, .. }) => {
            answer_burst(shared, outbox, item.seq, chat, token).await
        }
        Event::Delivery(update) => {
            delivery::apply(&shared.store, item.seq, &update)?;
            Ok(())
        }
        Event::Label(change) => record_label(shared, item.seq, &change),
        Event::Control(control) => apply_control(shared, item.seq, &control),
        Event::Ignored(_) => Ok(()),
    }
}

async fn handle_message(
    shared: &Shared,
    outbox: &Outbox,
    coalescer: &Coalescer,
    seq: u64,
    mut inbound: Inbound,
) -> Result<(), RuntimeError> {
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
    let due = reply.due_ms.zip(reply.state.pending.as_ref()).map(|(due_ms, p)| DueTurn {
        chat: inbound.chat.clone(),
        token: p.token,
        due_ms,
    });
    let due_bytes = due.as_ref().map(encode);
    let lead = reply.lead;

    let trees = (
        &store.inbox,
        &store.conversations,
        &store.messages,
        &store.outbox,
        &store.contacts,
        &store.turns,
        &store.leads,
    );
    let result = trees.transaction(|(tx_inbox, tx_conv, tx_messages, tx_outbox, tx_contacts, tx_turns, tx_leads)| {
        tx_inbox.remove(&seq.to_be_bytes())?;
        if let Some(lead) = &lead {
            upsert_lead(tx_leads, lead)?;
        }
        if let Some(bytes) = &due_bytes {
            tx_turns.insert(chat_key.as_bytes(), bytes.as_slice())?;
        }
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
    if let Some(due) = due {
        coalescer.schedule(due);
    }
    Ok(())
}

/// A burst's window ended: answer it as one turn, clear the window, queue the replies.
async fn answer_burst(
    shared: &Shared,
    outbox: &Outbox,
    seq: u64,
    chat: ChatId,
    token: u64,
) -> Result<(), RuntimeError> {
    let store = &shared.store;
    let chat_key = chat.key();
    let state: ChatState = match store.conversations.get(chat_key.as_bytes())? {
        Some(bytes) => decode(&bytes).map_err(StoreError::from)?,
        None => return Ok(()),
    };
    let now = now_ms();
    let history = if shared.sales.wants_history() { recent_history(store, &chat_key, 12)? } else { Vec::new() };
    let Some(reply) = router::respond_to_burst(token, &shared.bot, &shared.sales, &state, &history, now).await else {
        return Ok(()); // a later message restarted the window
    };
    let channel = state.pending.as_ref().map(|p| p.last.channel).unwrap_or(crate::channel::Channel::Console);
    let mut items = Vec::with_capacity(reply.outgoing.len() + reply.alerts.len());
    for out in reply.outgoing.into_iter().chain(reply.alerts) {
        items.push(OutboxItem::new(store.next_seq()?, channel, out, now));
    }
    let control =
        Control { id: format!("turn:{token}"), chat, by: "coalesce".into(), action: ControlAction::Turn { token } };
    let mut audit = AuditRecord::control(seq, &control, now);
    audit.turn = reply.turn;
    let audit = encode(&audit);
    let state_bytes = encode(&reply.state);
    let lead = reply.lead;
    let trees = (&store.conversations, &store.messages, &store.outbox, &store.turns, &store.leads);
    let result = trees.transaction(|(tx_conv, tx_messages, tx_outbox, tx_turns, tx_leads)| {
        tx_turns.remove(chat_key.as_bytes())?;
        if let Some(lead) = &lead {
            upsert_lead(tx_leads, lead)?;
        }
        tx_conv.insert(chat_key.as_bytes(), state_bytes.as_slice())?;
        tx_messages.insert(chat_seq_key(&chat_key, seq), audit.as_slice())?;
        for item in &items {
            tx_outbox.insert(&item.seq.to_be_bytes(), encode(item))?;
            let to = item.out.to.key();
            tx_messages.insert(chat_seq_key(&to, item.seq), encode(&AuditRecord::queued(item, &to)))?;
        }
        Ok::<_, ConflictableTransactionError<StoreError>>(())
    });
    result.map_err(|e: TransactionError<StoreError>| RuntimeError::Store(e.into()))?;
    store.durable().await?;
    outbox.enqueue(items);
    Ok(())
}

fn upsert_lead(
    tx: &sled::transaction::TransactionalTree,
    lead: &LeadRecord,
) -> Result<(), ConflictableTransactionError<StoreError>> {
    let older = tx.get(lead.phone.as_bytes())?.and_then(|b| decode::<LeadRecord>(&b).ok());
    tx.insert(lead.phone.as_bytes(), encode(&lead.clone().merged_over(older)))?;
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
                ControlAction::Turn { .. } => {}
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
