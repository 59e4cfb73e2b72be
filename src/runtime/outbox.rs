//! The outbox worker: sends committed items, per chat in order, chats in
//! parallel. Retries transient failures with exponential backoff and jitter
//! (honouring `Retry-After`), paces sends so a number is not throttled or
//! banned, and moves what cannot be sent to the `dead` tree.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use backon::BackoffBuilder;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::audit::AuditRecord;
use super::delivery::{self, DeliveryRecord};
use super::{RuntimeError, Shared, now_ms};
use crate::channel::{Channel, DeliveryState, Outgoing, SendError};
use crate::config::OutboxConfig;
use crate::store::{TreeName, Wait, Write, chat_seq_key, decode, encode};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub seq: u64,
    pub channel: Channel,
    pub out: Outgoing,
    pub attempts: u32,
    pub created_ms: u64,
    pub last_error: Option<String>,
}

impl OutboxItem {
    pub fn new(seq: u64, channel: Channel, out: Outgoing, now_ms: u64) -> OutboxItem {
        OutboxItem { seq, channel, out, attempts: 0, created_ms: now_ms, last_error: None }
    }

    /// A read receipt or typing indicator: sent from memory, never stored.
    pub fn marker(channel: Channel, out: Outgoing, now_ms: u64) -> OutboxItem {
        OutboxItem::new(0, channel, out, now_ms)
    }

    fn queue_key(&self) -> QueueKey {
        (self.channel, self.out.to.key())
    }
}

/// An item that gave up (`dead` tree).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadItem {
    pub item: OutboxItem,
    pub error: String,
    pub permanent: bool,
    pub at_ms: u64,
}

type QueueKey = (Channel, String);

enum Command {
    Enqueue(Vec<OutboxItem>),
    Stop(Duration, oneshot::Sender<()>),
}

#[derive(Clone)]
pub(super) struct Outbox {
    tx: mpsc::UnboundedSender<Command>,
    progress: Arc<super::Progress>,
}

impl Outbox {
    /// Starts the worker with every item a previous run left unsent.
    pub fn start(shared: Arc<Shared>) -> Result<Outbox, RuntimeError> {
        let mut pending = Vec::new();
        for entry in shared.store.read(TreeName::Outbox).iter() {
            let (key, value) = entry?;
            match decode::<OutboxItem>(&value) {
                Ok(item) => pending.push(item),
                Err(e) => {
                    tracing::error!(key = ?key, error = %e, "outbox item does not decode; moved to dead");
                    super::set_aside(&shared.store, TreeName::Outbox, &key, &value);
                }
            }
        }
        if !pending.is_empty() {
            tracing::info!(items = pending.len(), "resuming unsent replies from the previous run");
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let outbox = Outbox { tx, progress: shared.progress.clone() };
        outbox.enqueue(pending);
        tokio::spawn(Scheduler::new(shared).run(rx));
        Ok(outbox)
    }

    /// Hands committed (durable) items to the worker.
    pub fn enqueue(&self, items: Vec<OutboxItem>) {
        // Counted here, not in the worker: "nothing pending" must never be
        // visible between a lane's commit and the worker picking the items up.
        for item in &items {
            self.progress.outbox_added(item.channel, 1);
        }
        if !items.is_empty() {
            let _ = self.tx.send(Command::Enqueue(items));
        }
    }

    /// Stops taking new sends; waits up to `grace` for sends in flight.
    pub async fn stop(&self, grace: Duration) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Stop(grace, done)).is_ok() {
            let _ = wait.await;
        }
    }
}

type Limiter = governor::DefaultDirectRateLimiter;

struct ChatQueue {
    items: VecDeque<OutboxItem>,
    busy: bool,
    not_before: Instant,
}

/// What became of one send attempt.
enum Outcome {
    /// Sent, or given up for good: the chat's next item may go (after
    /// `pause`, when the gateway asked for one: a throttled marker).
    Done { paced: bool, pause: Option<Pause> },
    /// Try this item again after `pause`.
    Retry { item: Box<OutboxItem>, pause: Pause },
}

/// A wait the gateway asked for: the chat's, or (`whole_channel`) every chat's of the channel.
#[derive(Debug, Clone, Copy)]
struct Pause {
    delay: Duration,
    whole_channel: bool,
}

struct Scheduler {
    shared: Arc<Shared>,
    queues: HashMap<QueueKey, ChatQueue>,
    ready: VecDeque<QueueKey>,
    in_ready: HashSet<QueueKey>,
    timers: BinaryHeap<Reverse<(Instant, QueueKey)>>,
    channel_paused_until: HashMap<Channel, Instant>,
    running: JoinSet<(QueueKey, Outcome)>,
    cloud_limiter: Arc<Limiter>,
}

impl Scheduler {
    fn new(shared: Arc<Shared>) -> Scheduler {
        let mps = NonZeroU32::new(shared.config.cloud.max_mps).unwrap_or(NonZeroU32::MIN);
        Scheduler {
            cloud_limiter: Arc::new(governor::RateLimiter::direct(governor::Quota::per_second(mps))),
            shared,
            queues: HashMap::new(),
            ready: VecDeque::new(),
            in_ready: HashSet::new(),
            timers: BinaryHeap::new(),
            channel_paused_until: HashMap::new(),
            running: JoinSet::new(),
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        let done = loop {
            self.start_sends();
            let next_timer = self.timers.peek().map(|Reverse((at, _))| *at);
            tokio::select! {
                command = rx.recv() => match command {
                    Some(Command::Enqueue(items)) => self.enqueue(items),
                    Some(Command::Stop(grace, done)) => {
                        let _ = tokio::time::timeout(grace, async {
                            while let Some(joined) = self.running.join_next().await {
                                if let Ok((key, outcome)) = joined { self.finish(key, outcome); }
                            }
                        }).await;
                        break Some(done);
                    }
                    None => break None,
                },
                Some(joined) = self.running.join_next(), if !self.running.is_empty() => {
                    match joined {
                        Ok((key, outcome)) => self.finish(key, outcome),
                        Err(e) => tracing::error!(error = %e, "outbox send task failed"),
                    }
                }
                _ = sleep_until(next_timer), if next_timer.is_some() => self.fire_timers(),
            }
        };
        // Release the store before saying we stopped: the caller may reopen it.
        self.running.shutdown().await;
        drop(self);
        if let Some(done) = done {
            let _ = done.send(());
        }
    }

    fn enqueue(&mut self, items: Vec<OutboxItem>) {
        for item in items {
            let key = item.queue_key();
            let queue = self.queues.entry(key.clone()).or_insert_with(|| ChatQueue {
                items: VecDeque::new(),
                busy: false,
                not_before: Instant::now(),
            });
            queue.items.push_back(item);
            self.mark_ready(key);
        }
    }

    /// Puts a chat in line to send if it has work and may send now, or sets its timer.
    fn mark_ready(&mut self, key: QueueKey) {
        let Some(queue) = self.queues.get(&key) else {
            return;
        };
        if queue.busy || self.in_ready.contains(&key) {
            return;
        }
        if queue.items.is_empty() {
            // Keep an idle chat's pacing memory only until its gap has passed.
            if queue.not_before <= Instant::now() {
                self.queues.remove(&key);
            } else {
                self.timers.push(Reverse((queue.not_before, key)));
            }
            return;
        }
        let paused = self.channel_paused_until.get(&key.0).copied();
        let not_before = paused.map_or(queue.not_before, |p| p.max(queue.not_before));
        if not_before > Instant::now() {
            self.timers.push(Reverse((not_before, key)));
        } else {
            self.in_ready.insert(key.clone());
            self.ready.push_back(key);
        }
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, key))) = self.timers.pop() else {
                break;
            };
            self.mark_ready(key);
        }
    }

    fn start_sends(&mut self) {
        let limit = self.shared.config.outbox.concurrency;
        while self.running.len() < limit {
            let Some(key) = self.ready.pop_front() else {
                return;
            };
            self.in_ready.remove(&key);
            if let Some(&until) = self.channel_paused_until.get(&key.0)
                && until > Instant::now()
            {
                self.timers.push(Reverse((until, key)));
                continue;
            }
            let Some(queue) = self.queues.get_mut(&key) else {
                continue;
            };
            let Some(item) = queue.items.front().cloned() else {
                continue;
            };
            queue.busy = true;
            let shared = self.shared.clone();
            // A metered channel's sends share its messages-per-second budget.
            let limiter = item.channel.capabilities().metered.then(|| self.cloud_limiter.clone());
            self.running.spawn(async move {
                if let Some(limiter) = limiter {
                    limiter.until_ready().await;
                }
                let outcome = send_one(&shared, item).await;
                (key, outcome)
            });
        }
    }

    fn finish(&mut self, key: QueueKey, outcome: Outcome) {
        let gap = self.shared.gateways.get(key.0).map(|g| g.min_gap()).unwrap_or_default();
        let Some(queue) = self.queues.get_mut(&key) else {
            return;
        };
        queue.busy = false;
        match outcome {
            Outcome::Done { paced, pause } => {
                if let Some(item) = queue.items.pop_front() {
                    self.shared.progress.outbox_added(item.channel, -1);
                }
                if paced {
                    queue.not_before = Instant::now() + gap;
                }
                if let Some(pause) = pause {
                    self.pause(&key, pause);
                }
            }
            Outcome::Retry { item, pause } => {
                if let Some(front) = queue.items.front_mut() {
                    *front = *item;
                }
                self.pause(&key, pause);
            }
        }
        self.mark_ready(key);
    }
}

impl Scheduler {
    /// Holds the chat (or the whole channel) back for as long as the gateway said.
    fn pause(&mut self, key: &QueueKey, pause: Pause) {
        let until = Instant::now() + pause.delay;
        if let Some(queue) = self.queues.get_mut(key) {
            queue.not_before = queue.not_before.max(until);
        }
        if pause.whole_channel {
            let paused = self.channel_paused_until.entry(key.0).or_insert(until);
            *paused = (*paused).max(until);
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Sends one item and records the result. Never panics; store errors are
/// logged and the item is retried later.
async fn send_one(shared: &Shared, mut item: OutboxItem) -> Outcome {
    let result = shared.gateways.send(item.channel, &item.out).await;
    let channel = item.channel.as_str();
    if item.out.body.is_marker() {
        // Read receipts and typing are courtesy: never stored, never retried,
        // never worth delaying the reply, but a gateway's "slow down" holds.
        return match result {
            Ok(_) => Outcome::Done { paced: false, pause: None },
            Err(e) => {
                tracing::debug!(error = %e, "marker not sent");
                Outcome::Done { paced: false, pause: pause_asked(&e, Duration::ZERO) }
            }
        };
    }
    match result {
        Ok(sent) => {
            metrics::counter!("juru_replies_sent_total", "channel" => channel, "kind" => item.out.body.kind())
                .increment(1);
            // The message records its gateway id (for delivery statuses and
            // echo detection). Its send slot is freed only once "sent" is on
            // disk (it shares a group commit with everyone else's writes), so
            // a crash repeats at most the sends in flight.
            if let Err(e) = record_sent(shared, &item, sent.remote_id.as_deref()).await {
                tracing::error!(seq = item.seq, error = %e, "recording a sent reply failed");
            }
            Outcome::Done { paced: true, pause: None }
        }
        Err(e) if e.is_retryable() && item.attempts + 1 < shared.config.outbox.max_attempts => {
            item.attempts += 1;
            item.last_error = Some(e.to_string());
            let backoff = backoff(&shared.config.outbox, item.attempts);
            let pause = pause_asked(&e, backoff).unwrap_or(Pause { delay: backoff, whole_channel: false });
            tracing::warn!(seq = item.seq, attempt = item.attempts, delay_ms = pause.delay.as_millis() as u64, error = %e, "send failed; will retry");
            metrics::counter!("juru_send_retries_total", "channel" => channel).increment(1);
            // The attempt count rides on the next group commit, like "sent".
            drop(shared.store.commit.submit(vec![Write::Put(
                TreeName::Outbox,
                item.seq.to_be_bytes().to_vec(),
                encode(&item),
            )]));
            Outcome::Retry { item: Box::new(item), pause }
        }
        Err(e) => {
            let permanent = !e.is_retryable();
            tracing::warn!(seq = item.seq, attempts = item.attempts + 1, permanent, error = %e, "giving up on a reply; moved to dead");
            metrics::counter!("juru_replies_failed_total", "channel" => channel, "permanent" => if permanent { "true" } else { "false" }).increment(1);
            if let Err(e) = commit_dead(shared, item, e.to_string(), permanent).await {
                tracing::error!(error = %e, "moving a reply to dead failed");
            }
            Outcome::Done { paced: false, pause: None }
        }
    }
}

/// The pause a failure asks for: a 429 or `Retry-After` (at least `floor`),
/// for the recipient only when the gateway says so (Cloud 131056).
fn pause_asked(e: &SendError, floor: Duration) -> Option<Pause> {
    match e {
        SendError::Throttled { retry_after, recipient_only, .. } => Some(Pause {
            delay: floor.max(retry_after.unwrap_or(Duration::from_secs(1))),
            whole_channel: !recipient_only,
        }),
        SendError::Transient { retry_after: Some(wait), .. } => {
            Some(Pause { delay: floor.max(*wait), whole_channel: false })
        }
        _ => None,
    }
}

/// The delay before attempt `attempt + 1`: exponential from `base_delay_ms`,
/// capped at `max_delay_ms`, with jitter.
pub fn backoff(config: &OutboxConfig, attempt: u32) -> Duration {
    let mut delays = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(config.base_delay_ms))
        .with_max_delay(Duration::from_millis(config.max_delay_ms.max(config.base_delay_ms)))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build();
    delays.nth(attempt.saturating_sub(1) as usize).unwrap_or(Duration::from_millis(config.max_delay_ms))
}

/// "Sent" replaces the item in the outbox: its audit record shows the
/// gateway's id, its delivery record is started.
async fn record_sent(shared: &Shared, item: &OutboxItem, remote_id: Option<&str>) -> Result<(), RuntimeError> {
    let chat = item.out.to.key();
    let mut audit = AuditRecord::queued(item, &chat);
    audit.status = Some("sent".into());
    audit.message_id = remote_id.map(str::to_string);
    let mut writes = vec![
        Write::Remove(TreeName::Outbox, item.seq.to_be_bytes().to_vec()),
        Write::Put(TreeName::Messages, chat_seq_key(&chat, item.seq), encode(&audit)),
    ];
    if let Some(id) = remote_id {
        let (seq, now) = (item.seq, now_ms());
        // Merged inside the commit: a status for this id may be applied concurrently.
        writes.push(Write::Update(
            TreeName::Delivery,
            delivery::key(item.channel, id),
            Box::new(move |old| {
                let existing = old.and_then(|b| decode::<DeliveryRecord>(b).ok());
                let mut record = delivery::merge(existing, DeliveryState::Sent, None, now);
                record.chat = Some(chat.clone());
                record.seq = Some(seq);
                Some(encode(&record))
            }),
        ));
    }
    // No flush of its own: it rides on the next one (at most `store::SOON` later).
    shared.store.commit.commit_with(writes, Wait::Soon).await?;
    Ok(())
}

async fn commit_dead(shared: &Shared, item: OutboxItem, error: String, permanent: bool) -> Result<(), RuntimeError> {
    let chat = item.out.to.key();
    let mut audit = AuditRecord::queued(&item, &chat);
    audit.status = Some("failed".into());
    audit.error = Some(error.clone());
    let seq = item.seq;
    let dead = encode(&DeadItem { item, error, permanent, at_ms: now_ms() });
    shared
        .store
        .commit
        .commit(vec![
            Write::Remove(TreeName::Outbox, seq.to_be_bytes().to_vec()),
            Write::Put(TreeName::Dead, seq.to_be_bytes().to_vec(), dead),
            Write::Put(TreeName::Messages, chat_seq_key(&chat, seq), encode(&audit)),
        ])
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_under_the_cap() {
        let config = OutboxConfig { base_delay_ms: 100, max_delay_ms: 1000, ..OutboxConfig::default() };
        let first = backoff(&config, 1);
        assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(200), "{first:?}");
        let fourth = backoff(&config, 4);
        assert!(fourth >= Duration::from_millis(800), "{fourth:?}");
        assert!(backoff(&config, 30) <= Duration::from_millis(2000));
    }
}
