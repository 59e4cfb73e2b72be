//! Group commit: one flusher thread makes many writers durable with one flush.
//!
//! A writer calls [`GroupCommit::flushed`] after its writes and waits; the
//! flusher takes everyone waiting, runs one blocking `Db::flush()` (which
//! covers every tree and every write made before it), then wakes them all.
//! Only this thread ever flushes, so the 0.34 `flush_async` deadlock
//! (spacejam/sled#1308) cannot happen. When the last handle is dropped the
//! thread flushes once more and exits, releasing the database's file lock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use tokio::sync::oneshot;

use super::StoreError;

type Waiter = oneshot::Sender<Result<(), String>>;

#[derive(Clone)]
pub struct GroupCommit {
    inner: Arc<Inner>,
    _stopper: Arc<Stopper>,
}

struct Inner {
    waiting: Mutex<Vec<Waiter>>,
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
    pub fn start(db: sled::Db) -> GroupCommit {
        let inner = Arc::new(Inner {
            waiting: Mutex::new(Vec::new()),
            wake: Condvar::new(),
            stopping: AtomicBool::new(false),
            thread: Mutex::new(None),
        });
        let worker = inner.clone();
        let handle = std::thread::Builder::new()
            .name("juru-flusher".into())
            .spawn(move || flusher(&worker, db))
            .expect("spawning the flusher thread");
        *lock(&inner.thread) = Some(handle);
        GroupCommit { _stopper: Arc::new(Stopper(inner.clone())), inner }
    }

    /// Resolves once every write this task made before the call is on disk.
    pub async fn flushed(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        lock(&self.inner.waiting).push(tx);
        self.inner.wake.notify_one();
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Io(std::io::Error::other(e))),
            Err(_) => Err(StoreError::Io(std::io::Error::other("the store is closed"))),
        }
    }

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

fn flusher(inner: &Inner, db: sled::Db) {
    loop {
        let (batch, stopping) = {
            let mut waiting = lock(&inner.waiting);
            while waiting.is_empty() && !inner.stopping.load(Ordering::SeqCst) {
                waiting = inner.wake.wait(waiting).unwrap_or_else(|p| p.into_inner());
            }
            (std::mem::take(&mut *waiting), inner.stopping.load(Ordering::SeqCst))
        };
        let started = Instant::now();
        let result = db.flush().map(|_| ()).map_err(|e| e.to_string());
        metrics::histogram!("juru_store_flush_seconds").record(started.elapsed().as_secs_f64());
        if let Err(e) = &result {
            // sled I/O errors are fatal (rust-stack.md §4 rule 7): callers fail
            // their requests with 5xx and the supervisor restarts us.
            tracing::error!(error = %e, "sled flush failed");
        }
        for waiter in batch {
            let _ = waiter.send(result.clone());
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
        let gc = GroupCommit::start(db.clone());
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

    #[test]
    fn dropping_the_last_handle_releases_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let gc = GroupCommit::start(db.clone());
        drop(db);
        drop(gc);
        // Reopening needs the file lock the flusher's clone held.
        sled::open(dir.path()).unwrap();
    }
}
