//! One worker per platform drains the sync outbox: kind by kind (parents
//! first), in batches of the connector's size, a few batches at a time.
//!
//! - Done: the remote id is stored and the item removed, in one commit —
//!   unless the record changed while it was being pushed (its version moved
//!   on), then it stays for the next round.
//! - Retry / transient failures: the item waits with jittered exponential
//!   backoff. An item pushed without an answer is marked `unsure`, so a
//!   vendor without upsert looks it up before creating it again.
//! - Throttled: the whole platform waits (the limiter is paused); nothing
//!   counts as an attempt.
//! - Dead (validation, unmapped stage) and permanent failures: moved to
//!   `sync_dead` with the vendor's message, never retried.
//! - Before a batch goes out its items are marked `pushing` durably; a
//!   worker starting after a crash treats those as `unsure`. Nothing is
//!   lost across restarts or a `kill -9` mid-batch: an item leaves the
//!   outbox only in the commit that records its remote id.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::{Connector, Item, Outcome, Record, RemoteIds, SyncError};
use crate::config::SyncMode;
use crate::crm::Crm;
use crate::crm::settings::Platform;
use crate::crm::sync::{self, DeadSync, Kind, RemoteRef, SyncItem, SyncStatus, load_status};
use crate::store::{Store, StoreError, TreeName, Write, decode, encode};

/// Batches of one kind in flight at once.
const PARALLEL_BATCHES: usize = 4;
/// Backoff after a failed attempt: 1 s doubling to 10 min, ±25 % jitter.
const BASE_BACKOFF_MS: u64 = 1_000;
const MAX_BACKOFF_MS: u64 = 600_000;
/// A realtime worker looks for new items this often when idle.
const IDLE_POLL: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sled(#[from] sled::Error),
}

/// Queues every local record for `platform` (`--full`). Returns how many.
pub async fn enqueue_all(crm: &Crm, platform: Platform) -> Result<u64, WorkerError> {
    let store = crm.store();
    let now = crate::clock::now_ms();
    let mut writes = Vec::new();
    let mut total = 0u64;
    for entry in store.companies.iter() {
        let (key, _) = entry?;
        writes.push(sync::enqueue(platform, Kind::Company, &String::from_utf8_lossy(&key), now));
    }
    for entry in store.contacts.iter() {
        let (key, _) = entry?;
        writes.push(sync::enqueue(platform, Kind::Contact, &String::from_utf8_lossy(&key), now));
    }
    for entry in store.deals.iter() {
        let (key, _) = entry?;
        if let Ok(id) = <[u8; 8]>::try_from(key.as_ref()) {
            writes.push(sync::enqueue(platform, Kind::Deal, &format!("D{}", u64::from_be_bytes(id)), now));
        }
    }
    for entry in store.activities.iter() {
        let (_, value) = entry?;
        if let Ok(activity) = decode::<crate::crm::activity::Activity>(&value) {
            writes.push(sync::enqueue(platform, Kind::Activity, &crate::crm::activity_sync_id(&activity), now));
        }
    }
    // Chunks keep each transaction small.
    while !writes.is_empty() {
        let rest = writes.split_off(writes.len().min(2_000));
        total += writes.len() as u64;
        store.commit.commit(std::mem::replace(&mut writes, rest)).await?;
    }
    // The platform has been synced from now on (even an empty CRM).
    let status = Write::Update(
        TreeName::SyncState,
        platform.as_str().as_bytes().to_vec(),
        Box::new(|old| old.is_none().then(|| encode(&SyncStatus::default()))),
    );
    store.commit.commit(vec![status]).await?;
    Ok(total)
}

/// Controls of a running worker.
#[derive(Clone)]
pub struct Handle {
    pub platform: Platform,
    wake: Arc<Notify>,
    /// Manual mode: drains once per request.
    requested: Arc<std::sync::atomic::AtomicBool>,
    /// The `#crm sync` request being carried out, recorded with the next batch.
    request_ms: Arc<std::sync::atomic::AtomicU64>,
    idle: watch::Receiver<bool>,
    pull_requested: Arc<std::sync::atomic::AtomicBool>,
}

impl Handle {
    /// Drain now (manual mode), or sooner (realtime).
    pub fn sync_now(&self) {
        self.requested.store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Pull remote changes now (a vendor webhook said something changed).
    pub fn pull_now(&self) {
        self.pull_requested.store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Records that the `#crm sync` request of `at_ms` is being carried out.
    pub fn note_request(&self, at_ms: u64) {
        self.request_ms.fetch_max(at_ms, std::sync::atomic::Ordering::SeqCst);
    }

    /// The worker found nothing due and waits.
    pub fn is_idle(&self) -> bool {
        *self.idle.borrow()
    }

    /// Resolves when the outbox is empty of due items and the worker waits.
    pub async fn idle(&self) {
        let mut idle = self.idle.clone();
        let _ = idle.wait_for(|i| *i).await;
    }
}

pub struct Worker<C: Connector> {
    connector: Arc<C>,
    crm: Arc<Crm>,
    platform: Platform,
    mode: SyncMode,
    status: Mutex<SyncStatus>,
    wake: Arc<Notify>,
    requested: Arc<std::sync::atomic::AtomicBool>,
    request_ms: Arc<std::sync::atomic::AtomicU64>,
    idle: watch::Sender<bool>,
    pull_every: Option<Duration>,
    pull_requested: Arc<std::sync::atomic::AtomicBool>,
}

/// Remote ids the connector asks for while pushing: read from `sync_ids`.
struct StoredIds<'a> {
    store: &'a Store,
    platform: Platform,
}

impl RemoteIds for StoredIds<'_> {
    fn remote_id(&self, kind: Kind, local_id: &str) -> Option<String> {
        let bytes = self.store.sync_ids.get(sync::key(self.platform, kind, local_id)).ok()??;
        decode::<RemoteRef>(&bytes).ok().map(|r| r.remote_id)
    }
}

/// A batch and what its push returned.
type Pushed<'a> = (&'a [Taken], Result<Vec<Outcome>, SyncError>);

/// One outbox entry taken for a push.
struct Taken {
    key: Vec<u8>,
    item: SyncItem,
    pushed: Item,
}

impl<C: Connector> Worker<C> {
    /// Starts the worker task; the CRM queues every change for this platform from now on.
    pub fn spawn(connector: C, crm: Arc<Crm>, mode: SyncMode) -> (Handle, tokio::task::JoinHandle<()>) {
        Worker::spawn_with(connector, crm, mode, None)
    }

    /// Like [`Worker::spawn`], also pulling remote changes every `pull_every`
    /// (and whenever [`Handle::pull_now`] is called, e.g. by a vendor webhook).
    pub fn spawn_with(
        connector: C,
        crm: Arc<Crm>,
        mode: SyncMode,
        pull_every: Option<Duration>,
    ) -> (Handle, tokio::task::JoinHandle<()>) {
        let platform = connector.platform();
        let mut targets = crm.sync_targets();
        if !targets.contains(&platform) {
            targets.push(platform);
            crm.set_sync_targets(targets);
        }
        let mut status = load_status(crm.store(), platform);
        // Pull what changes from now on; the vendor's history is not imported.
        for kind in [Kind::Contact, Kind::Deal] {
            status.cursors.entry(kind).or_insert_with(crate::clock::now_ms);
        }
        let (idle_tx, idle_rx) = watch::channel(false);
        let worker = Arc::new(Worker {
            connector: Arc::new(connector),
            crm,
            platform,
            mode,
            status: Mutex::new(status),
            wake: Arc::new(Notify::new()),
            requested: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            request_ms: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            idle: idle_tx,
            pull_every,
            pull_requested: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        });
        let handle = Handle {
            platform,
            wake: worker.wake.clone(),
            requested: worker.requested.clone(),
            request_ms: worker.request_ms.clone(),
            idle: idle_rx,
            pull_requested: worker.pull_requested.clone(),
        };
        let task = tokio::spawn(worker.run());
        (handle, task)
    }

    async fn run(self: Arc<Self>) {
        if let Err(e) = self.recover() {
            tracing::error!(platform = self.platform.as_str(), error = %e, "sync outbox recovery failed");
        }
        let mut prepared = false;
        let mut last_pull = tokio::time::Instant::now();
        loop {
            let asked = self.pull_requested.swap(false, std::sync::atomic::Ordering::SeqCst);
            let due = self.pull_every.is_some_and(|every| last_pull.elapsed() >= every);
            if prepared && (asked || due) {
                last_pull = tokio::time::Instant::now();
                self.pull().await;
            }
            if self.mode == SyncMode::Manual && !self.requested.swap(false, std::sync::atomic::Ordering::SeqCst) {
                let _ = self.idle.send(true);
                self.wake.notified().await;
                continue;
            }
            if !prepared {
                match self.connector.prepare().await {
                    Ok(()) => prepared = true,
                    Err(e) => {
                        self.note_error(&e);
                        tracing::warn!(platform = self.platform.as_str(), error = %e, "connector not ready");
                        let _ = self.idle.send(true);
                        self.pause_after(&e).await;
                        continue;
                    }
                }
            }
            match self.drain_once().await {
                Ok(true) => {
                    let _ = self.idle.send(false);
                }
                Ok(false) => {
                    let _ = self.idle.send(true);
                    if self.mode == SyncMode::Realtime {
                        let _ = tokio::time::timeout(IDLE_POLL, self.wake.notified()).await;
                    }
                }
                Err(e) => {
                    tracing::error!(platform = self.platform.as_str(), error = %e, "sync worker store error");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// One pull round (see [`super::pull`]); its cursors are stored at once.
    async fn pull(&self) {
        let mut cursors = self.status.lock().unwrap_or_else(|p| p.into_inner()).cursors.clone();
        let result = super::pull::pull_round(&*self.connector, &self.crm, self.platform, &mut cursors).await;
        let status = {
            let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
            status.cursors = cursors;
            if let Err(e) = &result {
                status.last_error = Some(format!("pull: {e}"));
                status.last_error_ms = Some(crate::clock::now_ms());
            }
            encode(&*status)
        };
        match result {
            Ok(n) if n > 0 => tracing::info!(platform = self.platform.as_str(), applied = n, "remote changes pulled"),
            Ok(_) => {}
            Err(e) => tracing::warn!(platform = self.platform.as_str(), error = %e, "pull failed; next round retries"),
        }
        let write = Write::Put(TreeName::SyncState, self.platform.as_str().as_bytes().to_vec(), status);
        if let Err(e) = self.crm.store().commit.commit(vec![write]).await {
            tracing::error!(error = %e, "storing pull cursors failed");
        }
    }

    /// After a crash, items that were being pushed may exist remotely.
    fn recover(&self) -> Result<(), WorkerError> {
        let store = self.crm.store();
        for entry in store.sync_outbox.scan_prefix(sync::prefix(self.platform, None)) {
            let (key, value) = entry?;
            if let Ok(mut item) = decode::<SyncItem>(&value)
                && item.pushing
            {
                item.pushing = false;
                item.unsure = true;
                store.sync_outbox.compare_and_swap(&key, Some(value), Some(encode(&item)))?.ok();
            }
        }
        Ok(())
    }

    /// One round over every kind. `Ok(true)` when something was pushed.
    async fn drain_once(&self) -> Result<bool, WorkerError> {
        let mut any = false;
        for kind in Kind::ALL {
            loop {
                let size = self.connector.batch_size(kind).max(1);
                let (taken, gone) = self.take(kind, size * PARALLEL_BATCHES)?;
                if !gone.is_empty() {
                    self.crm.store().commit.commit(gone).await?;
                }
                if taken.is_empty() {
                    break;
                }
                any = true;
                self.mark_pushing(&taken).await?;
                let batches: Vec<&[Taken]> = taken.chunks(size).collect();
                let results =
                    futures_join(batches.iter().map(|batch| self.push_batch(batch)).collect::<Vec<_>>()).await;
                let round = batches.iter().copied().zip(results).collect();
                if let Some(e) = self.settle(round).await? {
                    self.pause_after(&e).await;
                    return Ok(true);
                }
            }
        }
        Ok(any)
    }

    async fn push_batch(&self, batch: &[Taken]) -> Result<Vec<Outcome>, SyncError> {
        let items: Vec<Item> = batch.iter().map(|t| t.pushed.clone()).collect();
        let ids = StoredIds { store: self.crm.store(), platform: self.platform };
        self.connector.push(&items, &ids).await
    }

    /// Up to `limit` due items of `kind`, with their records read now.
    /// Also the removals of items whose record was deleted locally since
    /// (unless the record came back meanwhile: a newer version stays).
    fn take(&self, kind: Kind, limit: usize) -> Result<(Vec<Taken>, Vec<Write>), WorkerError> {
        let store = self.crm.store();
        let now = crate::clock::now_ms();
        let ids = StoredIds { store, platform: self.platform };
        let mut taken = Vec::new();
        let mut gone = Vec::new();
        for entry in store.sync_outbox.scan_prefix(sync::prefix(self.platform, Some(kind))) {
            let (key, value) = entry?;
            let Ok(item) = decode::<SyncItem>(&value) else { continue };
            if item.next_at_ms > now {
                continue;
            }
            let Some((_, local_id)) = sync::parse_key(&key) else { continue };
            match self.record(kind, &local_id)? {
                Some(record) => {
                    let remote_id = ids.remote_id(kind, &record.local_id());
                    let pushed = Item { record, remote_id, unsure: item.unsure };
                    taken.push(Taken { key: key.to_vec(), item, pushed });
                }
                // Deleted locally since: nothing to push.
                None => gone.push(remove_if_version(key.to_vec(), item.version)),
            }
            if taken.len() >= limit {
                break;
            }
        }
        Ok((taken, gone))
    }

    /// The record as the CRM holds it now.
    fn record(&self, kind: Kind, local_id: &str) -> Result<Option<Record>, WorkerError> {
        let store = self.crm.store();
        Ok(match kind {
            Kind::Company => self.crm.read().companies.get(local_id).map(|c| Record::Company(Arc::new(c.clone()))),
            Kind::Contact => self.crm.contact(local_id).map(Record::Contact),
            Kind::Deal => local_id
                .strip_prefix('D')
                .and_then(|id| id.parse::<u64>().ok())
                .and_then(|id| self.crm.read().deals.get(&id).cloned())
                .map(Record::Deal),
            Kind::Activity => match crate::crm::activity_key(local_id) {
                Some(key) => store.activities.get(key)?.and_then(|b| decode(&b).ok()).map(Record::Activity),
                None => None,
            },
        })
    }

    /// Durably marks the items as being pushed (see the module docs).
    /// Whatever version the item has by now: a change that came in since it
    /// was taken must still count as possibly pushed after a crash.
    async fn mark_pushing(&self, taken: &[Taken]) -> Result<(), WorkerError> {
        let writes = taken
            .iter()
            .map(|t| {
                Write::Update(
                    TreeName::SyncOutbox,
                    t.key.clone(),
                    Box::new(|old| {
                        let mut item: SyncItem = decode(old?).ok()?;
                        item.pushing = true;
                        Some(encode(&item))
                    }),
                )
            })
            .collect();
        self.crm.store().commit.commit(writes).await?;
        Ok(())
    }

    /// Applies a round's results (every batch pushed together) in one
    /// commit; returns the throttle error to wait on, if any.
    async fn settle(&self, round: Vec<Pushed<'_>>) -> Result<Option<SyncError>, WorkerError> {
        let now = crate::clock::now_ms();
        let mut writes = Vec::with_capacity(round.iter().map(|(batch, _)| batch.len() * 2).sum::<usize>() + 1);
        let mut throttled = None;
        {
            let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
            for (batch, result) in round {
                if let Some(e) = self.settle_batch(&mut status, batch, result, now, &mut writes) {
                    throttled = Some(e);
                }
            }
            let request = self.request_ms.load(std::sync::atomic::Ordering::SeqCst);
            if request > 0 {
                status.handled_request_ms = Some(request);
            }
            writes.push(Write::Put(TreeName::SyncState, self.platform.as_str().as_bytes().to_vec(), encode(&*status)));
        }
        self.crm.store().commit.commit(writes).await?;
        Ok(throttled)
    }

    /// One batch's result as writes and counts; the throttle error, if any.
    fn settle_batch(
        &self,
        status: &mut SyncStatus,
        batch: &[Taken],
        result: Result<Vec<Outcome>, SyncError>,
        now: u64,
        writes: &mut Vec<Write>,
    ) -> Option<SyncError> {
        let mut throttled = None;
        match result {
            Ok(outcomes) if outcomes.len() == batch.len() => {
                for (t, outcome) in batch.iter().zip(outcomes) {
                    match outcome {
                        Outcome::Done { remote_id } => {
                            status.sent += 1;
                            let id_key = sync::key(self.platform, t.pushed.record.kind(), &t.pushed.record.local_id());
                            writes.push(Write::Put(
                                TreeName::SyncIds,
                                id_key,
                                encode(&RemoteRef { remote_id, pushed_ms: now }),
                            ));
                            writes.push(remove_if_version(t.key.clone(), t.item.version));
                        }
                        Outcome::Retry { reason } => {
                            status.failed += 1;
                            writes.push(self.retry_later(t, &reason, false, now));
                        }
                        Outcome::Dead { reason } => {
                            status.dead += 1;
                            status.last_error = Some(reason.clone());
                            status.last_error_ms = Some(now);
                            writes.push(dead(self.platform, t, &reason, now));
                            writes.push(remove_if_version(t.key.clone(), t.item.version));
                        }
                    }
                }
                status.last_sync_ms = Some(now);
            }
            Ok(outcomes) => {
                let reason = format!("the connector answered {} outcomes for {} records", outcomes.len(), batch.len());
                status.failed += batch.len() as u64;
                status.last_error = Some(reason.clone());
                writes.extend(batch.iter().map(|t| self.retry_later(t, &reason, true, now)));
            }
            Err(e) => {
                status.last_error = Some(e.to_string());
                status.last_error_ms = Some(now);
                match &e {
                    SyncError::Throttled { .. } | SyncError::Auth(_) => {
                        // Not the records' fault: they wait for the platform, unmarked.
                        writes.extend(batch.iter().map(|t| update_if_version(t, |i| i.pushing = false)));
                        throttled = Some(e);
                    }
                    SyncError::Transient(reason) => {
                        status.failed += batch.len() as u64;
                        writes.extend(batch.iter().map(|t| self.retry_later(t, reason, true, now)));
                    }
                    SyncError::Permanent(reason) => {
                        status.dead += batch.len() as u64;
                        for t in batch {
                            writes.push(dead(self.platform, t, reason, now));
                            writes.push(remove_if_version(t.key.clone(), t.item.version));
                        }
                    }
                }
            }
        }
        throttled
    }

    /// The item waits with backoff; `unknown`: the vendor may have applied it.
    fn retry_later(&self, t: &Taken, reason: &str, unknown: bool, now: u64) -> Write {
        let attempts = t.item.attempts + 1;
        let delay = backoff_ms(attempts);
        let reason = reason.to_string();
        update_if_version(t, move |item| {
            item.pushing = false;
            item.attempts = attempts;
            item.next_at_ms = now + delay;
            item.unsure |= unknown;
            item.last_error = Some(reason.clone());
        })
    }

    fn note_error(&self, e: &SyncError) {
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        status.last_error = Some(e.to_string());
        status.last_error_ms = Some(crate::clock::now_ms());
    }

    /// Waits out a throttle (or a broken credential) before trying again.
    async fn pause_after(&self, e: &SyncError) {
        let wait = match e {
            SyncError::Throttled { retry_after, .. } => retry_after.unwrap_or(Duration::from_secs(10)),
            SyncError::Auth(_) | SyncError::Permanent(_) => Duration::from_secs(60),
            SyncError::Transient(_) => Duration::from_secs(5),
        };
        tracing::info!(platform = self.platform.as_str(), wait_ms = wait.as_millis() as u64, error = %e, "sync paused");
        let _ = tokio::time::timeout(wait, self.wake.notified()).await;
    }
}

/// Changes the item only if no newer change replaced it meanwhile.
fn update_if_version(t: &Taken, f: impl Fn(&mut SyncItem) + Send + 'static) -> Write {
    let version = t.item.version;
    Write::Update(
        TreeName::SyncOutbox,
        t.key.clone(),
        Box::new(move |old| {
            let mut item: SyncItem = decode(old?).ok()?;
            (item.version == version).then(|| {
                f(&mut item);
                encode(&item)
            })
        }),
    )
}

/// Removes the item only if no newer change replaced it meanwhile.
fn remove_if_version(key: Vec<u8>, version: u64) -> Write {
    Write::RemoveIf(
        TreeName::SyncOutbox,
        key,
        Box::new(move |bytes| decode::<SyncItem>(bytes).is_ok_and(|i| i.version == version)),
    )
}

fn dead(platform: Platform, t: &Taken, reason: &str, now: u64) -> Write {
    let key = sync::key(platform, t.pushed.record.kind(), &t.pushed.record.local_id());
    let record = DeadSync { reason: reason.to_string(), attempts: t.item.attempts + 1, at_ms: now };
    Write::Put(TreeName::SyncDead, key, encode(&record))
}

/// Exponential backoff with ±25 % jitter, so retries of many items spread out.
fn backoff_ms(attempts: u32) -> u64 {
    let base = BASE_BACKOFF_MS.saturating_mul(1u64 << attempts.min(20).saturating_sub(1)).min(MAX_BACKOFF_MS);
    let jitter = (uuid::Uuid::new_v4().as_u128() % 500) as u64; // 0..500 ‰ of half the base
    base * 3 / 4 + base * jitter / 1000
}

/// Runs futures concurrently on this task, results in order.
async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut set = Vec::with_capacity(futures.len());
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.into_iter().map(|v| v.expect("every future finished")).collect()
}
