//! Lanes: each chat's events are handled one at a time, in accepted order,
//! by a worker of its own; chats run in parallel (at most `[runtime] lanes`
//! at once), so a slow chat (an LLM call) never holds up another.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use tokio::sync::{Notify, Semaphore};

use super::audit::{AuditRecord, Direction};
use super::coalesce::{Coalescer, Dispatch, DueTurn};
use super::delivery;
use super::inbox::InboxItem;
use super::outbox::{Outbox, OutboxItem};
use super::{RuntimeError, Shared, now_ms};
use crate::channel::LabelAction;
use crate::channel::{
    ChatId, Content, Control, ControlAction, Event, Inbound, LabelChange, OutBody, Outgoing, ReplyMeta,
};
use crate::commands::Invocation;
use crate::crm::labels::{AppliedBy, Detected};
use crate::crm::{Changes, Touch};
use crate::router::{self, ChatState, Facts, HistoryLine, LeadRecord};
use crate::store::{StoreError, TreeName, Write, chat_seq_key, decode, encode};

pub(super) struct Lanes {
    state: Arc<LaneState>,
    /// Stripes that keep "sequence number, then dispatch" atomic per chat.
    order: Vec<Mutex<()>>,
    coalescer: Arc<Coalescer>,
}

/// Chats being handled: each has one worker task that takes its events in
/// order; a semaphore bounds how many chats run at once (`[runtime] lanes`).
struct LaneState {
    queues: Mutex<HashMap<String, VecDeque<InboxItem>>>,
    permits: Arc<Semaphore>,
    closed: AtomicBool,
    idle: Notify,
    shared: Arc<Shared>,
    outbox: Outbox,
    coalescer: OnceLock<Arc<Coalescer>>,
}

const ORDER_STRIPES: usize = 64;

fn stripe(chat_key: &str) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    chat_key.hash(&mut h);
    (h.finish() % ORDER_STRIPES as u64) as usize
}

impl Lanes {
    pub fn start(shared: Arc<Shared>, outbox: Outbox) -> Lanes {
        let state = Arc::new(LaneState {
            queues: Mutex::new(HashMap::new()),
            permits: Arc::new(Semaphore::new(shared.config.runtime.lanes)),
            closed: AtomicBool::new(false),
            idle: Notify::new(),
            shared: shared.clone(),
            outbox,
            coalescer: OnceLock::new(),
        });
        // The coalescer feeds due turns in through a weak handle, so it never
        // keeps the lanes alive at shutdown.
        let weak = Arc::downgrade(&state);
        let dispatch: Dispatch = Arc::new(move |item: InboxItem| {
            if let Some(state) = weak.upgrade() {
                LaneState::dispatch(&state, item);
            }
        });
        let coalescer = Arc::new(Coalescer::start(shared.store.clone(), shared.progress.clone(), dispatch));
        let _ = state.coalescer.set(coalescer.clone());
        Lanes { state, order: (0..ORDER_STRIPES).map(|_| Mutex::new(())).collect(), coalescer }
    }

    pub fn lane_of(&self, chat_key: &str) -> usize {
        stripe(chat_key)
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

    pub fn order_lock(&self, stripe: usize) -> MutexGuard<'_, ()> {
        self.order[stripe].lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn dispatch(&self, _stripe: usize, item: InboxItem) {
        LaneState::dispatch(&self.state, item);
    }

    /// Stops taking events and waits until every chat has handled what it was given.
    pub async fn drain(self) {
        self.state.closed.store(true, Ordering::SeqCst);
        loop {
            let notified = self.state.idle.notified();
            if lock(&self.state.queues).is_empty() {
                break;
            }
            let _ = tokio::time::timeout(std::time::Duration::from_millis(50), notified).await;
        }
        self.coalescer.stop().await;
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LaneState {
    fn dispatch(state: &Arc<LaneState>, item: InboxItem) {
        if state.closed.load(Ordering::SeqCst) {
            // Shutting down: the item stays in the inbox for the next start.
            return;
        }
        let chat = item.event.chat_key();
        let mut queues = lock(&state.queues);
        match queues.get_mut(&chat) {
            Some(queue) => queue.push_back(item),
            None => {
                queues.insert(chat.clone(), VecDeque::from([item]));
                tokio::spawn(run_chat(state.clone(), chat));
            }
        }
    }
}

/// One chat's worker: its events one at a time, in order, then it ends.
async fn run_chat(state: Arc<LaneState>, chat: String) {
    loop {
        let item = {
            let mut queues = lock(&state.queues);
            match queues.get_mut(&chat).and_then(VecDeque::pop_front) {
                Some(item) => item,
                None => {
                    queues.remove(&chat);
                    if queues.is_empty() {
                        state.idle.notify_waiters();
                    }
                    return;
                }
            }
        };
        let Ok(_permit) = state.permits.acquire().await else { return };
        let started = Instant::now();
        let seq = item.seq;
        let result = handle(&state, item).await;
        state.shared.progress.inbox_added(-1);
        metrics::histogram!("juru_handler_seconds").record(started.elapsed().as_secs_f64());
        if let Err(e) = result {
            // The item stays in the inbox and is retried on the next start.
            tracing::error!(seq, error = %e, "handling an accepted event failed");
        }
    }
}

async fn handle(lanes: &Arc<LaneState>, item: InboxItem) -> Result<(), RuntimeError> {
    let (shared, outbox) = (&*lanes.shared, &lanes.outbox);
    match item.event {
        Event::Message(inbound) => handle_message(lanes, item.seq, *inbound).await,
        Event::Control(Control { chat, action: ControlAction::Turn { token }, .. }) => {
            answer_burst(shared, outbox, item.seq, chat, token).await
        }
        Event::Delivery(update) => {
            delivery::apply(&shared.store, item.seq, &update).await?;
            Ok(())
        }
        Event::Label(change) => record_label(shared, item.seq, &change).await,
        Event::Control(control) => apply_control(shared, item.seq, &control).await,
        Event::Ignored(_) => Ok(()),
    }
}

async fn handle_message(lanes: &Arc<LaneState>, seq: u64, mut inbound: Inbound) -> Result<(), RuntimeError> {
    let (shared, outbox) = (&*lanes.shared, &lanes.outbox);
    let coalescer = lanes.coalescer.get().expect("set at start");
    shared.identity.resolve_sender(&mut inbound).await;
    let store = &shared.store;
    let chat_key = inbound.chat.key();
    let state: ChatState = match store.conversations.get(chat_key.as_bytes())? {
        Some(bytes) => decode(&bytes).map_err(StoreError::from)?,
        None => ChatState::default(),
    };
    let now = now_ms();
    let own_echo = inbound.from_me
        && (delivery::is_ours(store, inbound.channel, &inbound.id)?
            || inbound.text().is_some_and(|t| shared.echoes.contains(&chat_key, t, now)));
    let invocation = shared.commands.detect(inbound.text());
    let route =
        router::route(&inbound, &shared.bot, &state, Facts { own_echo, command: invocation.is_some(), now_ms: now });
    if let (router::Route::Command, Some(invocation)) = (route, invocation) {
        return handle_command(lanes, seq, inbound, invocation, now).await;
    }
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
    let mut crm = Changes::default();
    if let Some(touch) = touch_of(shared, &inbound, reply.state.campaign_source.clone(), now) {
        if route == router::Route::OptOut {
            crm.extend(shared.crm.opt_out(&touch.key));
        }
        crm.extend(shared.crm.touch(touch));
    }
    let due = reply.due_ms.zip(reply.state.pending.as_ref()).map(|(due_ms, p)| DueTurn {
        chat: inbound.chat.clone(),
        token: p.token,
        due_ms,
    });
    let due_bytes = due.as_ref().map(encode);
    let lead = reply.lead;

    let mut writes = vec![
        Write::Remove(TreeName::Inbox, seq.to_be_bytes().to_vec()),
        Write::Put(TreeName::Conversations, chat_key.clone().into_bytes(), state_bytes),
        Write::Put(TreeName::Messages, chat_seq_key(&chat_key, seq), inbound_audit),
    ];
    if let Some(bytes) = due_bytes {
        writes.push(Write::Put(TreeName::Turns, chat_key.clone().into_bytes(), bytes));
    }
    if let Some(lead) = lead {
        writes.push(upsert_lead(lead));
    }
    commit_and_send(shared, outbox, writes, crm, items, now).await?;
    shared.stats.observe(&chat_key, &reply.state, inbound.text().filter(|_| !inbound.from_me));
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
    let mut writes = vec![
        Write::Remove(TreeName::Turns, chat_key.clone().into_bytes()),
        Write::Put(TreeName::Conversations, chat_key.clone().into_bytes(), state_bytes),
        Write::Put(TreeName::Messages, chat_seq_key(&chat_key, seq), audit),
    ];
    if let Some(lead) = lead {
        writes.push(upsert_lead(lead));
    }
    // The burst's code is known only now: record it on the contact if it has none.
    let crm = match reply.state.campaign_source.clone() {
        Some(source) => shared.crm.campaign_found(&chat_key, source),
        None => Changes::default(),
    };
    commit_and_send(shared, outbox, writes, crm, items, now).await?;
    shared.stats.observe(&chat_key, &reply.state, None);
    Ok(())
}

/// A command: checks and handler, then its reply, audit record (credentials
/// masked), CRM changes and any operator actions on other chats, in one commit.
async fn handle_command(
    lanes: &Arc<LaneState>,
    seq: u64,
    inbound: Inbound,
    invocation: Invocation,
    now: u64,
) -> Result<(), RuntimeError> {
    let (shared, store) = (&*lanes.shared, &lanes.shared.store);
    let outcome = shared.commands.handle(&inbound, &invocation, &shared.identity, now).await;
    tracing::info!(chat = %inbound.chat.key(), command = %invocation.manifest.name, result = %outcome.result, "command handled");
    let mut items = Vec::with_capacity(outcome.replies.len());
    for text in outcome.replies {
        let out = Outgoing {
            to: inbound.chat.clone(),
            body: OutBody::Text { text },
            // In a group, quoting the command shows whom the answer is for.
            reply_to: inbound.chat.is_group().then(|| inbound.id.clone()),
            meta: ReplyMeta::default(),
        };
        items.push(OutboxItem::new(store.next_seq()?, inbound.channel, out, now));
    }
    for out in outcome.sends {
        // Labels exist only in WAHA; elsewhere (`juru chat`) they are shown.
        let channel = match out.body {
            OutBody::Labels { .. } if shared.senders.waha.is_some() => crate::channel::Channel::Waha,
            _ => inbound.channel,
        };
        items.push(OutboxItem::new(store.next_seq()?, channel, out, now));
    }
    let mut audit = AuditRecord::inbound(seq, &inbound, &format!("command: {}", outcome.result), now);
    audit.text = Some(outcome.audit_text);
    let chat_key = inbound.chat.key();
    let mut writes = vec![
        Write::Remove(TreeName::Inbox, seq.to_be_bytes().to_vec()),
        Write::Put(TreeName::Messages, chat_seq_key(&chat_key, seq), encode(&audit)),
    ];
    let mut crm = outcome.changes;
    // The team's own commands are not leads; anyone else who types one is a
    // prospect, recorded with the masked text (a pasted key never lands there).
    if !shared.commands.is_team(&inbound)
        && let Some(mut touch) = touch_of(shared, &inbound, None, now)
    {
        touch.text = Some(audit.text.clone().unwrap_or_default());
        crm.extend(shared.crm.touch(touch));
    }
    // Operator actions go through the inbox, so they run in their chat's lane, in order.
    let mut controls = Vec::with_capacity(outcome.controls.len());
    for control in outcome.controls {
        let item = InboxItem { seq: store.next_seq()?, received_ms: now, event: Event::Control(control) };
        writes.push(Write::Put(TreeName::Inbox, item.seq.to_be_bytes().to_vec(), encode(&item)));
        controls.push(item);
    }
    commit_and_send(shared, &lanes.outbox, writes, crm, items, now).await?;
    for item in controls {
        shared.progress.inbox_added(1);
        LaneState::dispatch(lanes, item);
    }
    Ok(())
}

/// What the CRM learns from one inbound message: only people writing in a
/// 1:1 chat become contacts (not groups, not the business phone).
fn touch_of(shared: &Shared, ev: &Inbound, campaign_source: Option<String>, now: u64) -> Option<Touch> {
    if ev.chat.is_group() || ev.from_me || ev.chat.is_playground() {
        return None;
    }
    let feature_used = match &ev.content {
        Content::ButtonReply { .. } | Content::Location { .. } | Content::Contacts { .. } => true,
        Content::Media { kind, .. } => matches!(kind, crate::channel::MediaKind::Document),
        _ => false,
    };
    Some(Touch {
        key: ev.sender.key(),
        phone: ev.sender.phone().map(|p| p.to_string()),
        name: ev.sender_name.clone(),
        channel: ev.channel,
        referral: ev.referral.clone(),
        text: ev.text().map(str::to_string),
        feature_used,
        campaign_source,
        now_ms: now,
        opt_in: shared.config.crm.inbound_opt_in,
    })
}

/// Commits `writes` with the CRM changes and the outbox items (and their
/// audit records) as one transaction, then refreshes the CRM index and hands
/// the items to the outbox. Nothing is sent before the commit is on disk.
pub(super) async fn commit_and_send(
    shared: &Shared,
    outbox: &Outbox,
    mut writes: Vec<Write>,
    crm: Changes,
    items: Vec<OutboxItem>,
    now: u64,
) -> Result<(), RuntimeError> {
    queue_items(&mut writes, &items);
    writes.extend(crm.writes);
    writes.extend(shared.crm.sync_writes(&crm.touched, now));
    shared.store.commit.commit(writes).await?;
    shared.crm.refresh(&crm.touched);
    remember_texts(shared, &items, now);
    outbox.enqueue(items);
    Ok(())
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
fn upsert_lead(lead: LeadRecord) -> Write {
    let key = lead.phone.clone().into_bytes();
    Write::Update(
        TreeName::Leads,
        key,
        Box::new(move |old| Some(encode(&lead.clone().merged_over(old.and_then(|b| decode::<LeadRecord>(b).ok()))))),
    )
}

/// The outbox items and their "queued" audit records.
fn queue_items(writes: &mut Vec<Write>, items: &[OutboxItem]) {
    for item in items {
        let to = item.out.to.key();
        writes.push(Write::Put(TreeName::Outbox, item.seq.to_be_bytes().to_vec(), encode(item)));
        writes.push(Write::Put(
            TreeName::Messages,
            chat_seq_key(&to, item.seq),
            encode(&AuditRecord::queued(item, &to)),
        ));
    }
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
async fn apply_control(shared: &Shared, seq: u64, control: &Control) -> Result<(), RuntimeError> {
    let store = &shared.store;
    let chat_key = control.chat.key();
    // Read outside the commit: this chat's events are handled one at a time.
    let mut state: ChatState =
        store.conversations.get(chat_key.as_bytes())?.and_then(|b| decode(&b).ok()).unwrap_or_default();
    match &control.action {
        ControlAction::Release => {
            state.handed_over = false;
            state.handover_reason = None;
            state.paused_until_ms = None;
        }
        ControlAction::Turn { .. } => {}
        ControlAction::Reset => {
            state = ChatState {
                playground: state.playground,
                tally: std::mem::take(&mut state.tally),
                ..ChatState::default()
            };
        }
        ControlAction::Settings { bot_enabled, stop_bot_from_me } => {
            if let Some(enabled) = bot_enabled {
                state.bot_disabled = !enabled;
            }
            if stop_bot_from_me.is_some() {
                state.stop_bot_from_me = *stop_bot_from_me;
            }
        }
        ControlAction::Handover { assigned_to, .. } => {
            state.handed_over = true;
            state.handover_reason =
                Some(format!("admin handover to {}", assigned_to.as_deref().unwrap_or(&control.by)));
        }
    }
    let mut audit = AuditRecord::control(seq, control, now_ms());
    audit.phase = Some(state.phase.as_str().to_string());
    store
        .commit
        .commit(vec![
            Write::Remove(TreeName::Inbox, seq.to_be_bytes().to_vec()),
            Write::Put(TreeName::Conversations, chat_key.clone().into_bytes(), encode(&state)),
            Write::Put(TreeName::Messages, chat_seq_key(&chat_key, seq), encode(&audit)),
        ])
        .await?;
    shared.stats.observe(&chat_key, &state, None);
    Ok(())
}

/// A WhatsApp label event: the catalogue, the contact's active labels and the
/// history change together with the audit record. Labels on groups are
/// audited only (only personal chats count).
async fn record_label(shared: &Shared, seq: u64, change: &LabelChange) -> Result<(), RuntimeError> {
    let now = now_ms();
    let chat_key = change.chat.as_ref().map(|c| c.key()).unwrap_or_else(|| format!("label:{}", change.label_id));
    let by = AppliedBy::WhatsappAccount { session: change.account.clone(), number: change.account_number.clone() };
    let detected = if change.polled { Detected::Reconcile } else { Detected::Webhook };
    let crm = &shared.crm;
    let changes = match (change.action, &change.chat) {
        (_, Some(chat)) if chat.is_group() => Changes::default(),
        (LabelAction::Upserted, _) => {
            crm.label_upserted(&change.label_id, change.label_name.as_deref(), change.color, now)
        }
        (LabelAction::Deleted, _) => crm.label_deleted(&change.label_id, &by, detected, now)?,
        (LabelAction::AddedToChat, Some(chat)) => {
            crm.label_added(&chat.key(), &change.label_id, change.label_name.as_deref(), &by, detected, now)?
        }
        (LabelAction::RemovedFromChat, Some(chat)) => {
            crm.label_removed(&chat.key(), &change.label_id, &by, detected, now)?
        }
        (_, None) => Changes::default(),
    };
    let audit = encode(&AuditRecord::label(seq, change, now));
    let mut writes = vec![
        Write::Remove(TreeName::Inbox, seq.to_be_bytes().to_vec()),
        Write::Put(TreeName::Messages, chat_seq_key(&chat_key, seq), audit),
    ];
    writes.extend(changes.writes);
    writes.extend(crm.sync_writes(&changes.touched, now));
    shared.store.commit.commit(writes).await?;
    crm.refresh(&changes.touched);
    Ok(())
}
