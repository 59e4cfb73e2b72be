//! Group commit: one flusher thread makes many writers durable with one flush.
//!
//! A writer calls [`GroupCommit::flushed`] after its writes. It registers
//! interest under the current *epoch*; the flusher takes everything waiting,
//! runs one blocking `Db::flush()` (which covers every tree and every write
//! made before it), then wakes all of them. Only this thread ever flushes, so
//! the 0.34 `flush_async` deadlock (spacejam/sled#1308) cannot happen.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::oneshot;

use super::StoreError;

type Waiter = oneshot::Sender<Result<(), String>>;

#[derive(Clone)]
pub struct GroupCommit {
    inner: Arc<Inner>,
}

struct Inner {
    waiting: Mutex<Vec<Waiter>>,
    wake: std::sync::Condvar,
    stopping: std::sync::atomic::AtomicBool,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl GroupCommit {
    pub fn start(db: sled::Db) -> GroupCommit {
        let inner = Arc::new(Inner {
            waiting: Mutex::new(Vec::new()),
            wake: std::sync::Condvar::new(),
            stopping: std::sync::atomic::AtomicBool::new(false),
            thread: Mutex::new(None),
        });
        let worker = Arc::downgrade(&inner);
        let handle = std::thread::Builder::new()
            .name("juru-flusher".into())
            .spawn(move || flusher(worker, db))
            .expect("spawning the flusher thread");
        *inner.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
        GroupCommit { inner }
    }

    /// Serves the waiting writers one last time, then stops the thread so the
    /// database (and its file lock) can be released.
    pub fn stop(&self) {
        self.inner
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.inner.wake.notify_all();
        let handle = self
            .inner
            .thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    /// Resolves once every write this task made before the call is on disk.
    pub async fn flushed(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut waiting = self.inner.waiting.lock().unwrap_or_else(|p| p.into_inner());
            waiting.push(tx);
        }
        self.inner.wake.notify_one();
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Io(std::io::Error::other(e))),
            Err(_) => Err(StoreError::Io(std::io::Error::other("flusher stopped"))),
        }
    }
}

fn flusher(inner: std::sync::Weak<Inner>, db: sled::Db) {
    loop {
        let Some(inner) = inner.upgrade() else { return };
        let stopping = || inner.stopping.load(std::sync::atomic::Ordering::SeqCst);
        let batch = {
            let mut waiting = inner.waiting.lock().unwrap_or_else(|p| p.into_inner());
            while waiting.is_empty() && !stopping() {
                let (guard, timeout) = inner
                    .wake
                    .wait_timeout(waiting, std::time::Duration::from_millis(200))
                    .unwrap_or_else(|p| p.into_inner());
                waiting = guard;
                if timeout.timed_out() && waiting.is_empty() {
                    break;
                }
            }
            std::mem::take(&mut *waiting)
        };
        let stopping = stopping();
        drop(inner); // let the store be dropped while we flush or sleep
        if batch.is_empty() {
            if stopping {
                let _ = db.flush();
                return;
            }
            continue;
        }
        let started = Instant::now();
        let result = db.flush().map(|_| ()).map_err(|e| e.to_string());
        metrics::histogram!("juru_store_flush_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("juru_store_flush_batch").record(batch.len() as f64);
        if let Err(e) = &result {
            // sled I/O errors are fatal (rust-stack.md §4 rule 7): callers fail
            // their requests with 5xx and the supervisor restarts us.
            tracing::error!(error = %e, "sled flush failed");
        }
        for waiter in batch {
            let _ = waiter.send(result.clone());
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
}
