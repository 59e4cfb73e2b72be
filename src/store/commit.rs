//! Group commit: one committer thread makes many writers' changes durable
//! with one transaction and one flush.
//!
//! A writer hands its precomputed [`Write`]s to [`GroupCommit::commit`] and
//! waits; the committer takes everyone waiting, applies all their writes in
//! ONE multi-tree transaction (sled seals and syncs a log buffer per
//! transaction and serialises transactions behind a global lock, so one per
//! batch instead of one per writer is what makes the pipeline fast), runs one
//! blocking `Db::flush()`, then wakes them all. [`GroupCommit::flushed`] is
//! a commit without writes.
//! Only this thread ever flushes, so the 0.34 `flush_async` deadlock
//! (spacejam/sled#1308) cannot happen. When the last handle is dropped the
//! thread flushes once more and exits, releasing the database's file lock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use tokio::sync::oneshot;

use super::StoreError;

type Waiter = oneshot::Sender<Result<(), String>>;

/// Whether a sled I/O error ends the process (`juru serve` sets it): sled
/// 0.34 keeps its first I/O error until the database is reopened, so after
/// a full disk only a restart by the supervisor (systemd, the container
/// runtime) brings the store back.
static EXIT_ON_IO_ERROR: AtomicBool = AtomicBool::new(false);

/// The exit status then: EX_TEMPFAIL, "try again later".
pub const IO_ERROR_EXIT_CODE: i32 = 75;

pub fn exit_on_io_error(exit: bool) {
    EXIT_ON_IO_ERROR.store(exit, Ordering::SeqCst);
}

/// Declares [`TreeName`], [`TreeName::ALL`] and [`TREE_NAMES`] from one list,
/// so a tree's variant and its name on disk can never drift apart.
macro_rules! trees {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// The trees a [`Write`] may name, in the order the committer's transaction lists them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum TreeName {
            $($variant),*
        }

        /// The trees' names on disk, in [`TreeName`] order.
        pub const TREE_NAMES: &[&str] = &[$($name),*];

        impl TreeName {
            /// Every tree, in order.
            pub const ALL: [TreeName; TREE_NAMES.len()] = [$(TreeName::$variant),*];
        }
    };
}

trees! {
    Inbox => "inbox",
    Seen => "seen",
    Outbox => "outbox",
    Dead => "dead",
    Delivery => "delivery",
    Conversations => "conversations",
    Messages => "messages",
    Contacts => "contacts",
    Turns => "turns",
    Leads => "leads",
    Deals => "deals",
    Activities => "activities",
    Companies => "companies",
    CrmSettings => "crm_settings",
    Secrets => "secrets",
    Segments => "segments",
    Sequences => "sequences",
    Enrollments => "enrollments",
    CommandUsage => "command_usage",
    Labels => "labels",
    LabelAssignments => "label_assignments",
    LabelLog => "label_log",
    SyncOutbox => "sync_outbox",
    SyncIds => "sync_ids",
    SyncDead => "sync_dead",
    SyncState => "sync_state",
    Lids => "lids",
    Seats => "seats",
}

impl TreeName {
    /// The tree's name on disk.
    pub fn as_str(self) -> &'static str {
        TREE_NAMES[self as usize]
    }

    /// A tree by its name on disk (`messages`, `sync_outbox`, …).
    pub fn parse(name: &str) -> Option<TreeName> {
        TreeName::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// Computes a key's new value from its current one, inside the transaction
/// (so concurrent writers of the same key never lose an update); `None`
/// leaves the key as it is. Must be pure: a transaction may run more than once.
pub type Update = Box<dyn Fn(Option<&[u8]>) -> Option<Vec<u8>> + Send>;

/// Whether a stored value may go (see [`Write::RemoveIf`]). Pure, like [`Update`].
pub type Check = Box<dyn Fn(&[u8]) -> bool + Send>;

/// One change, computed by the writer and applied by the committer.
pub enum Write {
    Put(TreeName, Vec<u8>, Vec<u8>),
    Remove(TreeName, Vec<u8>),
    Update(TreeName, Vec<u8>, Update),
    /// Removes the key only if its current value passes the check (a queue
    /// item not replaced by a newer version meanwhile).
    RemoveIf(TreeName, Vec<u8>, Check),
}

struct Request {
    writes: Vec<Write>,
    done: Waiter,
    wait: Wait,
    since: Instant,
}

/// What a writer waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// On disk before the commit resolves; flushed at once.
    Durable,
    /// On disk before it resolves, but no flush of its own: it rides on the
    /// next one anyone needs, or at most [`SOON`] later ("sent" marks).
    Soon,
    /// Applied (visible to readers, ordered before every later commit)
    /// but not yet on disk: state that nothing outside has seen yet, which
    /// a crash makes juru redo from the inbox.
    Applied,
}

/// The longest a [`Wait::Soon`] commit waits for a flush to ride on.
pub const SOON: std::time::Duration = std::time::Duration::from_millis(10);

/// The longest an `Applied` or `Soon` commit waits in the queue for a batch
/// to join: every transaction seals and writes a sled log buffer of its own,
/// so many small ones cost more than one large one.
const GATHER: std::time::Duration = std::time::Duration::from_millis(5);

/// How long a `Durable` commit waits for company while the store is busy
/// (the last flush ended less than [`BUSY`] before it arrived): every flush
/// seals and syncs two log buffers, so at thousands of webhooks a second one
/// flush for several of them costs less CPU than one each. An idle store
/// flushes at once.
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);
const BUSY: std::time::Duration = std::time::Duration::from_millis(2);

#[derive(Clone)]
pub struct GroupCommit {
    inner: Arc<Inner>,
    _stopper: Arc<Stopper>,
}

struct Inner {
    waiting: Mutex<Vec<Request>>,
    wake: Condvar,
    stopping: AtomicBool,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Stops the flusher when the last `GroupCommit` clone goes away.
struct Stopper(Arc<Inner>);

impl Drop for Stopper {
    fn drop(&mut self) {
        stop(&self.0);
    }
}

impl GroupCommit {
    /// `trees` in the order of [`TREE_NAMES`].
    pub fn start(db: sled::Db, trees: Vec<sled::Tree>) -> GroupCommit {
        let inner = Arc::new(Inner {
            waiting: Mutex::new(Vec::new()),
            wake: Condvar::new(),
            stopping: AtomicBool::new(false),
            thread: Mutex::new(None),
        });
        let worker = inner.clone();
        let handle = std::thread::Builder::new()
            .name("juru-flusher".into())
            .spawn(move || flusher(&worker, db, trees))
            .expect("spawning the flusher thread");
        *lock(&inner.thread) = Some(handle);
        GroupCommit { _stopper: Arc::new(Stopper(inner.clone())), inner }
    }

    /// Resolves once every write this task made before the call is on disk.
    pub async fn flushed(&self) -> Result<(), StoreError> {
        self.commit(Vec::new()).await
    }

    /// Applies `writes` atomically (with everyone else's in the same batch)
    /// and resolves once they are on disk.
    pub async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        Committed(self.submit(writes)).await
    }

    /// Applies `writes` atomically and resolves when `wait` holds.
    pub async fn commit_with(&self, writes: Vec<Write>, wait: Wait) -> Result<(), StoreError> {
        Committed(self.submit_with(writes, wait)).await
    }

    /// Queues `writes` now (their order relative to later submissions is
    /// kept); await the result to know they are on disk.
    pub fn submit(&self, writes: Vec<Write>) -> oneshot::Receiver<Result<(), String>> {
        self.submit_with(writes, Wait::Durable)
    }

    pub fn submit_with(&self, writes: Vec<Write>, wait: Wait) -> oneshot::Receiver<Result<(), String>> {
        let (done, rx) = oneshot::channel();
        let wake = {
            let mut waiting = lock(&self.inner.waiting);
            // The flusher's plan changes only with the first request, or the
            // first `Durable` one; the others join the batch it is gathering
            // (or lingering over) and it wakes itself when their time is up.
            let wake = waiting.is_empty() || wait == Wait::Durable && waiting.iter().all(|r| r.wait != Wait::Durable);
            waiting.push(Request { writes, done, wait, since: Instant::now() });
            wake
        };
        if wake {
            self.inner.wake.notify_one();
        }
        rx
    }
}

/// The outcome of a [`GroupCommit::submit`].
pub struct Committed(pub oneshot::Receiver<Result<(), String>>);

impl std::future::Future for Committed {
    type Output = Result<(), StoreError>;
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|r| match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Io(std::io::Error::other(e))),
            Err(_) => Err(StoreError::Io(std::io::Error::other("the store is closed"))),
        })
    }
}

impl GroupCommit {
    /// Serves the waiting writers one last time, flushes and stops the thread.
    pub fn stop(&self) {
        stop(&self.inner);
    }
}

fn stop(inner: &Inner) {
    inner.stopping.store(true, Ordering::SeqCst);
    inner.wake.notify_all();
    if let Some(handle) = lock(&inner.thread).take() {
        let _ = handle.join();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Write {
    fn tree(&self) -> TreeName {
        match self {
            Write::Put(t, ..) | Write::Remove(t, _) | Write::Update(t, ..) | Write::RemoveIf(t, ..) => *t,
        }
    }
}

/// One transaction over the trees the batch touches (sled's transaction cost
/// grows with every tree it lists: each is locked, staged and written back).
fn apply(trees: &[sled::Tree], batch: &[Request]) -> Result<(), String> {
    use sled::transaction::{ConflictableTransactionError, Transactional};
    const UNUSED: usize = usize::MAX;
    let mut slot = [UNUSED; TREE_NAMES.len()];
    let mut touched: Vec<sled::Tree> = Vec::new();
    for write in batch.iter().flat_map(|r| &r.writes) {
        let t = write.tree() as usize;
        if slot[t] == UNUSED {
            slot[t] = touched.len();
            touched.push(trees[t].clone());
        }
    }
    if touched.is_empty() {
        return Ok(());
    }
    metrics::counter!("juru_store_writes_total").increment(batch.iter().map(|r| r.writes.len() as u64).sum());
    let result = touched.as_slice().transaction(|view| {
        for write in batch.iter().flat_map(|r| &r.writes) {
            let tree = &view[slot[write.tree() as usize]];
            match write {
                Write::Put(_, k, v) => {
                    tree.insert(k.as_slice(), v.as_slice())?;
                }
                Write::Remove(_, k) => {
                    tree.remove(k.as_slice())?;
                }
                Write::Update(_, k, f) => {
                    let current = tree.get(k.as_slice())?;
                    if let Some(value) = f(current.as_deref()) {
                        tree.insert(k.as_slice(), value)?;
                    }
                }
                Write::RemoveIf(_, k, check) => {
                    if tree.get(k.as_slice())?.is_some_and(|v| check(&v)) {
                        tree.remove(k.as_slice())?;
                    }
                }
            }
        }
        Ok::<_, ConflictableTransactionError<()>>(())
    });
    result.map_err(|e| format!("{e:?}"))
}

/// When the flusher takes the waiting batch.
#[derive(Debug, PartialEq, Eq)]
enum Due {
    Now,
    /// At this moment, unless woken earlier.
    At(Instant),
    /// Nothing waits: when woken.
    Idle,
}

/// A `Durable` commit goes at once, or after [`LINGER`] when the last flush
/// ended less than [`BUSY`] before it arrived; `Applied` and `Soon` ones go
/// once the oldest has gathered for [`GATHER`] or a deferred waiter's
/// [`SOON`] runs out, whichever is first.
fn due(waiting: &[Request], deferred: &[(Instant, Waiter)], last_flush: Option<Instant>) -> Due {
    if let Some(since) = waiting.iter().find(|r| r.wait == Wait::Durable).map(|r| r.since) {
        let busy = last_flush.is_some_and(|flushed| since.saturating_duration_since(flushed) < BUSY);
        return if busy { Due::At(since + LINGER) } else { Due::Now };
    }
    let gather = waiting.first().map(|r| r.since + GATHER);
    let flush = deferred.first().map(|(since, _)| *since + SOON);
    gather.into_iter().chain(flush).min().map_or(Due::Idle, Due::At)
}

/// Takes everyone waiting, applies their writes in one transaction, answers
/// the `Applied` ones, and flushes when a `Durable` writer needs it (or the
/// oldest `Soon` one has waited [`SOON`]); then answers those it covered.
fn flusher(inner: &Inner, db: sled::Db, trees: Vec<sled::Tree>) {
    // Applied, waiting for a flush to ride on: (since, waiter).
    let mut deferred: Vec<(Instant, Waiter)> = Vec::new();
    let mut last_flush: Option<Instant> = None;
    loop {
        let (batch, stopping) = {
            let mut waiting = lock(&inner.waiting);
            while !inner.stopping.load(Ordering::SeqCst) {
                match due(&waiting, &deferred, last_flush) {
                    Due::Now => break,
                    Due::At(at) => {
                        let left = at.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            break;
                        }
                        waiting = inner.wake.wait_timeout(waiting, left).unwrap_or_else(|p| p.into_inner()).0;
                    }
                    Due::Idle => waiting = inner.wake.wait(waiting).unwrap_or_else(|p| p.into_inner()),
                }
            }
            (std::mem::take(&mut *waiting), inner.stopping.load(Ordering::SeqCst))
        };
        let started = Instant::now();
        let applied = apply(&trees, &batch);
        let mut needs_flush = stopping || deferred.first().is_some_and(|(since, _)| since.elapsed() >= SOON);
        for request in batch {
            match (request.wait, &applied) {
                (Wait::Applied, _) | (_, Err(_)) => {
                    let _ = request.done.send(applied.clone());
                }
                (Wait::Durable, Ok(())) => {
                    needs_flush = true;
                    deferred.push((started, request.done));
                }
                (Wait::Soon, Ok(())) => deferred.push((started, request.done)),
            }
        }
        if !needs_flush || deferred.is_empty() && !stopping {
            continue;
        }
        let result = db.flush().map(|_| ()).map_err(|e| e.to_string());
        last_flush = Some(Instant::now());
        metrics::histogram!("juru_store_flush_seconds").record(started.elapsed().as_secs_f64());
        if let Err(e) = &result {
            // sled I/O errors are fatal (rust-stack.md §4 rule 7): callers fail
            // their requests with 5xx, then the process exits for its supervisor.
            tracing::error!(error = %e, "sled flush failed");
        }
        for (_, done) in deferred.drain(..) {
            let _ = done.send(result.clone());
        }
        if result.is_err() && EXIT_ON_IO_ERROR.load(Ordering::SeqCst) {
            tracing::error!(
                code = IO_ERROR_EXIT_CODE,
                "the store cannot write (disk full or failing); exiting so the supervisor restarts juru on a reopened store"
            );
            // The failed requests' 5xx answers get a moment to leave.
            std::thread::sleep(std::time::Duration::from_millis(300));
            std::process::exit(IO_ERROR_EXIT_CODE);
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn many_writers_share_flushes_and_all_complete() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let gc = GroupCommit::start(db.clone(), Vec::new());
        let mut tasks = Vec::new();
        for i in 0..200u32 {
            let (db, gc) = (db.clone(), gc.clone());
            tasks.push(tokio::spawn(async move {
                db.insert(i.to_be_bytes(), &b"x"[..]).unwrap();
                gc.flushed().await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(db.len(), 200);
    }

    fn request(wait: Wait, since: Instant) -> Request {
        Request { writes: Vec::new(), done: oneshot::channel().0, wait, since }
    }

    #[test]
    fn a_durable_commit_flushes_at_once_when_idle_and_lingers_when_busy() {
        let now = Instant::now();
        let durable = [request(Wait::Applied, now), request(Wait::Durable, now)];
        assert_eq!(due(&durable, &[], None), Due::Now, "first flush of the process");
        assert_eq!(due(&durable, &[], now.checked_sub(BUSY * 2)), Due::Now, "idle store");
        assert_eq!(due(&durable, &[], Some(now)), Due::At(now + LINGER), "busy store");
        let applied = [request(Wait::Applied, now)];
        assert_eq!(due(&applied, &[], Some(now)), Due::At(now + GATHER));
        let deferred = [(now, oneshot::channel().0)];
        assert_eq!(due(&[], &deferred, None), Due::At(now + SOON));
        assert_eq!(due(&[], &[], Some(now)), Due::Idle);
    }

    #[test]
    fn dropping_the_last_handle_releases_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let gc = GroupCommit::start(db.clone(), Vec::new());
        drop(db);
        drop(gc);
        // Reopening needs the file lock the flusher's clone held.
        sled::open(dir.path()).unwrap();
    }
}
