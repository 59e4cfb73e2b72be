//! One worker per platform drains the sync outbox, parents first, in
//! batches of the connector's size, several in flight at once and the next
//! ones marked ahead, so that neither the vendor nor our disk waits on the
//! other (see [`Worker::drain_once`]). A record waits while one it links to
//! is still on its way, so its parent's remote id is known when it goes.
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
//!   `sync_dead` with the vendor's message, never retried. A record that
//!   keeps waiting for a parent that was dead-lettered follows it after
//!   [`ORPHAN_TRIES`] tries, naming the parent and its reason.
//! - Before a batch goes out its items are marked `pushing` durably; a
//!   worker starting after a crash treats those as `unsure`. Nothing is
//!   lost across restarts or a `kill -9` mid-batch: an item leaves the
//!   outbox only in the commit that records its remote id.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use super::{Connector, Item, Outcome, Record, RemoteIds, SyncError};
use crate::config::SyncMode;
use crate::crm::Crm;
use crate::crm::settings::Platform;
use crate::crm::sync::{self, DeadSync, Kind, RemoteRef, SyncItem, SyncStatus, load_status};
use crate::store::{Committed, Store, StoreError, TreeName, Write, decode, encode};

/// Batches of one kind in flight at once.
const PARALLEL_BATCHES: usize = 4;
/// Backoff after a failed attempt: 1 s doubling to 10 min, ±25 % jitter.
const BASE_BACKOFF_MS: u64 = 1_000;
const MAX_BACKOFF_MS: u64 = 600_000;
/// Tries of a record whose parent was dead-lettered before it is dead too
/// (with backoff ≈ 1 + 2 + 4 s: time for a `--full` sync to bring the parent).
pub const ORPHAN_TRIES: u32 = 4;
/// A realtime worker looks for new items this often when idle.
const IDLE_POLL: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records queued per commit by [`enqueue_all`]. A running worker starts on
/// the first chunk while the rest is queued, and small transactions keep
/// its reads from stalling behind ours (measured: with 2,000 per commit the
/// first push of a full sync left after ≈ 50 ms, with 400–800 after ≈ 15 ms).
const ENQUEUE_CHUNK: usize = 500;

/// Queues every local record for `platform` (`--full`), parents first.
/// Returns how many.
pub async fn enqueue_all(crm: &Crm, platform: Platform) -> Result<u64, WorkerError> {
    let store = crm.store();
    // A commit queued before this platform became a sync target carries no
    // sync item for it; wait until every such commit is applied, so the scan
    // below sees its records.
    store.durable().await?;
    let now = crate::clock::now_ms();
    let mut queue = Enqueue { crm, writes: Vec::with_capacity(ENQUEUE_CHUNK), total: 0 };
    for entry in store.read(TreeName::Companies).iter() {
        let (key, _) = entry?;
        queue.push(sync::enqueue(platform, Kind::Company, &String::from_utf8_lossy(&key), now)).await?;
    }
    for entry in store.read(TreeName::Contacts).iter() {
        let (key, _) = entry?;
        queue.push(sync::enqueue(platform, Kind::Contact, &String::from_utf8_lossy(&key), now)).await?;
    }
    for entry in store.read(TreeName::Deals).iter() {
        let (key, _) = entry?;
        if let Ok(id) = <[u8; 8]>::try_from(key.as_ref()) {
            queue.push(sync::enqueue(platform, Kind::Deal, &format!("D{}", u64::from_be_bytes(id)), now)).await?;
        }
    }
    for entry in store.read(TreeName::Activities).iter() {
        let (_, value) = entry?;
        if let Ok(activity) = decode::<crate::crm::activity::Activity>(&value) {
            let id = crate::crm::activity_sync_id(&activity);
            queue.push(sync::enqueue(platform, Kind::Activity, &id, now)).await?;
        }
    }
    queue.flush().await?;
    let total = queue.total;
    // The platform has been synced from now on (even an empty CRM).
    let status = Write::Update(
        TreeName::SyncState,
        platform.as_str().as_bytes().to_vec(),
        Box::new(|old| old.is_none().then(|| encode(&SyncStatus::default()))),
    );
    store.commit.commit(vec![status]).await?;
    Ok(total)
}

/// [`enqueue_all`]'s writes, committed a chunk at a time.
struct Enqueue<'a> {
    crm: &'a Crm,
    writes: Vec<Write>,
    total: u64,
}

impl Enqueue<'_> {
    async fn push(&mut self, write: Write) -> Result<(), WorkerError> {
        self.writes.push(write);
        if self.writes.len() >= ENQUEUE_CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), WorkerError> {
        if self.writes.is_empty() {
            return Ok(());
        }
        let writes = std::mem::replace(&mut self.writes, Vec::with_capacity(ENQUEUE_CHUNK));
        self.total += writes.len() as u64;
        self.crm.store().commit.commit(writes).await?;
        self.crm.outbox_touched();
        Ok(())
    }
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
        let bytes = self.store.read(TreeName::SyncIds).get(sync::key(self.platform, kind, local_id)).ok()??;
        decode::<RemoteRef>(&bytes).ok().map(|r| r.remote_id)
    }
}

/// A batch and what its push returned.
type Pushed = (Vec<Taken>, Result<Vec<Outcome>, SyncError>);

/// The commit under way in [`Worker::drain_once`].
struct Commit {
    done: Committed,
    /// Keys whose results it stores: taken again once it is done.
    settled: Vec<Vec<u8>>,
    /// Batches it marks `pushing`: ready to go once it is done.
    marked: Vec<Vec<Taken>>,
}

/// What [`Worker::take`] found.
struct Took {
    batches: Vec<Vec<Taken>>,
    gone: Vec<Write>,
    /// Nothing else is due now: no item left behind, none waiting on a parent.
    exhausted: bool,
    /// The first key not looked at, when the walk stopped early.
    resume: Option<Vec<u8>>,
}

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
        if let Err(e) = self.recover().await {
            tracing::error!(platform = self.platform.as_str(), error = %e, "sync outbox recovery failed");
        }
        let mut prepared = false;
        let mut last_pull = tokio::time::Instant::now();
        let mut outbox = self.crm.outbox_changes();
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
                        self.note_error(&e).await;
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
                        // New changes wake it at once; the poll finds items whose backoff ended.
                        tokio::select! {
                            _ = self.wake.notified() => {}
                            Ok(()) = outbox.changed() => {}
                            _ = tokio::time::sleep(IDLE_POLL) => {}
                        }
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
    async fn recover(&self) -> Result<(), WorkerError> {
        let store = self.crm.store();
        let mut writes = Vec::new();
        for entry in store.read(TreeName::SyncOutbox).scan_prefix(sync::prefix(self.platform, None)) {
            let (key, value) = entry?;
            if decode::<SyncItem>(&value).is_ok_and(|item| item.pushing) {
                // Inside the transaction: a newer version queued meanwhile is not pushing.
                let mark: crate::store::Update = Box::new(|current| {
                    let mut item = decode::<SyncItem>(current?).ok().filter(|i| i.pushing)?;
                    item.pushing = false;
                    item.unsure = true;
                    Some(encode(&item))
                });
                writes.push(Write::Update(TreeName::SyncOutbox, key.to_vec(), mark));
            }
        }
        if !writes.is_empty() {
            store.commit.commit(writes).await?;
        }
        Ok(())
    }

    /// Pushes every due item, parents first, with up to
    /// [`PARALLEL_BATCHES`] batches in flight and as many more marked
    /// `pushing` and ready to go. When a batch answers, a ready one goes out
    /// at once; the answer's results and the marks of the batches taken in
    /// its place go in the next commit, which runs while the pushes are in
    /// flight: the vendor never waits on our disk. A record waits while one
    /// it links to is on its way (see [`Worker::take`]); the next kind starts
    /// as soon as the previous one has nothing left to send. After a throttle
    /// nothing new goes out: the batches in flight are settled, the ready
    /// ones unmarked, and the worker pauses. `Ok(true)` when something was
    /// pushed.
    async fn drain_once(self: &Arc<Self>) -> Result<bool, WorkerError> {
        let mut in_flight: JoinSet<Result<Vec<Outcome>, SyncError>> = JoinSet::new();
        // Batches out, by their task.
        let mut out: HashMap<tokio::task::Id, Vec<Taken>> = HashMap::new();
        // Marked durably, not sent yet.
        let mut ready: VecDeque<Vec<Taken>> = VecDeque::new();
        let mut committing: Option<Commit> = None;
        // Keys taken and not settled yet: not taken again, and their
        // children wait.
        let mut busy: HashSet<Vec<u8>> = HashSet::new();
        let mut answered: Vec<Pushed> = Vec::new();
        // Nothing more was due at the last look; new changes reopen it.
        let mut exhausted = false;
        // Where the next take goes on (the walk resumes rather than passing
        // over everything busy again); `None`: from the start.
        let mut resume: Option<Vec<u8>> = None;
        let mut outbox = self.crm.outbox_changes();
        let mut throttled = None;
        let mut any = false;
        loop {
            while throttled.is_none() && in_flight.len() < PARALLEL_BATCHES {
                let Some(batch) = ready.pop_front() else { break };
                let items: Vec<Item> = batch.iter().map(|t| t.pushed.clone()).collect();
                let worker = self.clone();
                let task = in_flight.spawn(async move {
                    let ids = StoredIds { store: worker.crm.store(), platform: worker.platform };
                    worker.connector.push(&items, &ids).await
                });
                out.insert(task.id(), batch);
                any = true;
                // A task spawned here waits in this thread's LIFO slot,
                // which no other thread steals: let it send its request
                // before the commit work below.
                tokio::task::yield_now().await;
            }
            if committing.is_none() {
                let mut writes = Vec::new();
                let settled: Vec<Vec<u8>> =
                    answered.iter().flat_map(|(batch, _)| batch.iter().map(|t| t.key.clone())).collect();
                if !answered.is_empty()
                    && let Some(e) = self.settle(std::mem::take(&mut answered), &mut writes)
                {
                    throttled = Some(e);
                }
                let mut batches = Vec::new();
                // At most a round per take: the first batches go out sooner.
                let wanted = (2 * PARALLEL_BATCHES).saturating_sub(in_flight.len() + ready.len()).min(PARALLEL_BATCHES);
                if throttled.is_none() && !exhausted && wanted > 0 {
                    let others_out = !in_flight.is_empty() || !ready.is_empty();
                    let took = self.take(wanted, &busy, resume.take(), others_out)?;
                    exhausted = took.exhausted;
                    resume = took.resume;
                    busy.extend(took.batches.iter().flatten().map(|t| t.key.clone()));
                    writes.extend(took.gone);
                    writes.extend(took.batches.iter().flatten().map(mark_pushing));
                    batches = took.batches;
                }
                if throttled.is_some() {
                    // Not sent: they wait for the platform, unmarked.
                    writes.extend(ready.drain(..).flatten().map(|t| update_if_version(&t, |i| i.pushing = false)));
                }
                if !writes.is_empty() {
                    let done = Committed(self.crm.store().commit.submit(writes));
                    committing = Some(Commit { done, settled, marked: batches });
                }
            }
            if committing.is_none() && in_flight.is_empty() {
                break;
            }
            tokio::select! {
                Some(first) = in_flight.join_next_with_id() => {
                    // This answer and every other one already in.
                    let mut done = vec![first];
                    while let Some(more) = in_flight.try_join_next_with_id() {
                        done.push(more);
                    }
                    for joined in done {
                        let (id, result) = match joined {
                            Ok((id, result)) => (id, result),
                            Err(e) => (e.id(), Err(SyncError::Transient(format!("the push task failed: {e}")))),
                        };
                        if let Some(batch) = out.remove(&id) {
                            answered.push((batch, result));
                        }
                    }
                }
                Some(result) = async { Some((&mut committing.as_mut()?.done).await) } => {
                    result?;
                    if let Some(commit) = committing.take() {
                        for key in commit.settled {
                            busy.remove(&key);
                        }
                        ready.extend(commit.marked);
                    }
                }
                Ok(()) = outbox.changed() => exhausted = false,
            }
        }
        if let Some(e) = throttled {
            self.pause_after(&e).await;
        }
        Ok(any)
    }

    /// Up to `wanted` batches of due items, walking the outbox parents
    /// first; each batch holds one kind, at most the connector's batch size,
    /// with its records read now. An item whose parent is `busy` (or taken
    /// in this call) waits: pushed now, it would lack the parent's remote
    /// id. A short last batch waits too while other batches are out
    /// (`others_out` or taken here): the next walk comes with their answers
    /// and may fill it, one call instead of two; with nothing else out it
    /// goes at once. Also the removals of items whose record was deleted
    /// locally since (unless the record came back meanwhile: a newer
    /// version stays).
    fn take(
        &self,
        wanted: usize,
        busy: &HashSet<Vec<u8>>,
        from: Option<Vec<u8>>,
        others_out: bool,
    ) -> Result<Took, WorkerError> {
        let store = self.crm.store();
        let now = crate::clock::now_ms();
        let ids = StoredIds { store, platform: self.platform };
        let mut took = Took { batches: Vec::new(), gone: Vec::new(), exhausted: true, resume: None };
        let mut batch: Vec<Taken> = Vec::new();
        let mut taken: HashSet<Vec<u8>> = HashSet::new();
        // Items left for a parent on its way (taken in this walk, or busy).
        let mut waiting = false;
        // From `from` to the end of the platform's items, then from their
        // start up to `from`: one full turn.
        let start = sync::prefix(self.platform, None);
        let mut end = start.clone();
        end[0] += 1;
        let from = from.unwrap_or_else(|| start.clone());
        let walk = store
            .read(TreeName::SyncOutbox)
            .range(from.clone()..end)
            .chain(store.read(TreeName::SyncOutbox).range(start..from));
        for entry in walk {
            let (key, value) = entry?;
            if busy.contains(key.as_ref()) {
                continue;
            }
            let Ok(item) = decode::<SyncItem>(&value) else { continue };
            if item.next_at_ms > now {
                continue;
            }
            let Some((kind, local_id)) = sync::parse_key(&key) else { continue };
            let Some(record) = self.record(kind, &local_id)? else {
                // Deleted locally since: nothing to push.
                took.gone.push(remove_if_version(key.to_vec(), item.version));
                continue;
            };
            let parents: Vec<Vec<u8>> =
                record.parents().iter().map(|(kind, id)| sync::key(self.platform, *kind, id)).collect();
            if parents.iter().any(|p| busy.contains(p) || taken.contains(p)) {
                waiting = true;
                continue;
            }
            let size = self.connector.batch_size(kind).max(1);
            if batch.first().is_some_and(|t| t.pushed.record.kind() != kind) || batch.len() >= size {
                took.batches.push(std::mem::take(&mut batch));
                if took.batches.len() >= wanted {
                    took.exhausted = false;
                    took.resume = Some(key.to_vec());
                    return Ok(took);
                }
            }
            // Still marked `pushing` but not busy here: a push that was cut
            // off (the worker stopped mid-flight) may have been applied.
            let unsure = item.unsure || item.pushing;
            let pushed = Item { record, remote_id: ids.remote_id(kind, &local_id), unsure };
            taken.insert(key.to_vec());
            batch.push(Taken { key: key.to_vec(), item, pushed });
        }
        took.exhausted = !waiting;
        let short = batch.first().is_some_and(|t| batch.len() < self.connector.batch_size(t.pushed.record.kind()));
        if short && (others_out || !took.batches.is_empty()) {
            took.resume = batch.first().map(|t| t.key.clone());
            took.exhausted = false;
        } else if !batch.is_empty() {
            took.batches.push(batch);
        }
        Ok(took)
    }

    /// The record as the CRM holds it now.
    fn record(&self, kind: Kind, local_id: &str) -> Result<Option<Record>, WorkerError> {
        let store = self.crm.store();
        Ok(match kind {
            Kind::Company => self.crm.read().companies.get(local_id).map(|c| Record::Company(Arc::new(c.clone()))),
            // The index is refreshed just after a commit returns; a sync item
            // seen in between would find no record there and be dropped as
            // deleted, so the store (which holds it already) is asked too.
            Kind::Contact => match self.crm.contact(local_id) {
                Some(contact) => Some(Record::Contact(contact)),
                None => store
                    .read(TreeName::Contacts)
                    .get(local_id.as_bytes())?
                    .and_then(|b| decode::<crate::crm::Contact>(&b).ok())
                    .map(|c| Record::Contact(Arc::new(c.indexed()))),
            },
            Kind::Deal => match local_id.strip_prefix('D').and_then(|id| id.parse::<u64>().ok()) {
                Some(id) => match self.crm.read().deals.get(&id).cloned() {
                    Some(deal) => Some(Record::Deal(deal)),
                    None => store
                        .read(TreeName::Deals)
                        .get(id.to_be_bytes())?
                        .and_then(|b| decode(&b).ok())
                        .map(Record::Deal),
                },
                None => None,
            },
            Kind::Activity => match crate::crm::activity_key(local_id) {
                Some(key) => {
                    store.read(TreeName::Activities).get(key)?.and_then(|b| decode(&b).ok()).map(Record::Activity)
                }
                None => None,
            },
        })
    }

    /// The writes applying answered batches' results, and the updated
    /// status; returns the throttle error to wait on, if any.
    fn settle(&self, answered: Vec<Pushed>, writes: &mut Vec<Write>) -> Option<SyncError> {
        let now = crate::clock::now_ms();
        let mut throttled = None;
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        for (batch, result) in answered {
            if let Some(e) = self.settle_batch(&mut status, &batch, result, now, writes) {
                throttled = Some(e);
            }
        }
        let request = self.request_ms.load(std::sync::atomic::Ordering::SeqCst);
        if request > 0 {
            status.handled_request_ms = Some(request);
        }
        writes.push(Write::Put(TreeName::SyncState, self.platform.as_str().as_bytes().to_vec(), encode(&*status)));
        throttled
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
                        Outcome::Retry { reason } => match self.dead_parent(&t.pushed.record) {
                            // It waits for a parent that will never arrive: a few
                            // tries (the parent may be pushed again), then dead too.
                            Some(parent) if t.item.attempts + 1 >= ORPHAN_TRIES => {
                                let reason = format!("{reason}; {parent}");
                                status.dead += 1;
                                status.last_error = Some(reason.clone());
                                status.last_error_ms = Some(now);
                                writes.push(dead(self.platform, t, &reason, now));
                                writes.push(remove_if_version(t.key.clone(), t.item.version));
                            }
                            _ => {
                                status.failed += 1;
                                writes.push(self.retry_later(t, &reason, false, now));
                            }
                        },
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

    /// A parent of `record` that was dead-lettered and never reached the
    /// vendor (no remote id), described with the vendor's reason.
    fn dead_parent(&self, record: &Record) -> Option<String> {
        let store = self.crm.store();
        record.parents().into_iter().find_map(|(kind, id)| {
            let key = sync::key(self.platform, kind, &id);
            if store.read(TreeName::SyncIds).get(&key).ok()?.is_some() {
                return None;
            }
            let dead: DeadSync = decode(&store.read(TreeName::SyncDead).get(&key).ok()??).ok()?;
            Some(format!("its {} {id} was dead-lettered: {}", kind.as_str(), dead.reason))
        })
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

    /// A set-up failure (no token, vendor unreachable) is stored like a push
    /// failure, so `#crm sync` and `juru sync` can show it.
    async fn note_error(&self, e: &SyncError) {
        let status = {
            let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
            status.last_error = Some(e.to_string());
            status.last_error_ms = Some(crate::clock::now_ms());
            encode(&*status)
        };
        let write = Write::Put(TreeName::SyncState, self.platform.as_str().as_bytes().to_vec(), status);
        if let Err(e) = self.crm.store().commit.commit(vec![write]).await {
            tracing::error!(error = %e, "storing the sync status failed");
        }
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

/// Durably marks an item as being pushed (see the module docs), whatever
/// version it has by now: a change that came in since it was taken must
/// still count as possibly pushed after a crash.
fn mark_pushing(t: &Taken) -> Write {
    Write::Update(
        TreeName::SyncOutbox,
        t.key.clone(),
        Box::new(|old| {
            let mut item: SyncItem = decode(old?).ok()?;
            item.pushing = true;
            Some(encode(&item))
        }),
    )
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
