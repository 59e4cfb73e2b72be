//! Lanes, scheduling only: each chat's events are handled one at a time, in
//! accepted order, by a worker of its own; chats run in parallel (at most
//! `[runtime] lanes` at once), so a slow chat (an LLM call) never holds up
//! another. What an event does is [`events`]' and the router's business.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use tokio::sync::{Notify, Semaphore};

use super::coalesce::{Coalescer, Dispatch, DueTurn};
use super::commit::Next;
use super::events;
use super::inbox::InboxItem;
use super::outbox::Outbox;
use super::{RuntimeError, Shared};
use crate::store::decode;

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
        for entry in store.read(crate::store::TreeName::Turns).iter() {
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
    let coalescer = lanes.coalescer.get().expect("set at start");
    let dispatch = |item: InboxItem| LaneState::dispatch(lanes, item);
    let schedule = |due: DueTurn| coalescer.schedule(due);
    let next = Next { outbox: &lanes.outbox, dispatch: &dispatch, schedule: &schedule };
    events::handle(&lanes.shared, &next, item).await
}
