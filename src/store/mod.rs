//! Embedded state in sled, under the rules of `shared/reference/rust-stack.md` §4.
//!
//! One process owns the database. Writers never flush themselves: they write,
//! then wait on [`GroupCommit`], whose single flusher acknowledges every write
//! made before its flush (concurrent `flush_async` calls deadlock on 0.34).
//!
//! # Key layout
//!
//! | tree | key | value |
//! | --- | --- | --- |
//! | `meta` | `schema_version` | u32 big-endian |
//! | `inbox` | seq (u64 BE) | `InboxItem` — accepted, not yet handled |
//! | `seen` | `channel \0 dedupe-key` | received-at ms (u64 BE) — dedupe, pruned after the retention window |
//! | `outbox` | seq (u64 BE) | `OutboxItem` — committed, not yet sent |
//! | `dead` | seq (u64 BE) | outbox item that gave up, with its last error |
//! | `delivery` | `channel \0 remote-message-id` | `DeliveryRecord` |
//! | `conversations` | chat key | `ChatState` |
//! | `messages` | chat key `\0` seq (u64 BE) | audit record of every message in and out |
//! | `contacts` | contact key (`phone` digits or `lid:…`) | contact summary |
//! | `lids` | lid (`…@lid`) | resolved phone digits |
//! | `leads` | chat key | `LeadRecord` — prospects that reached booking |
//! | `turns` | chat key | `DueTurn` — a burst waiting for its coalesced answer |
//! | `deals` | deal id (u64 BE) | `Deal` with its stage history |
//! | `activities` | contact key `\0` seq (u64 BE) | `Activity` |
//! | `companies` | company id (slug) | `Company` — legal entity, brand or location |
//! | `crm_settings` | `scoring`, `platform`, `auth:P`, `mapping:P`, `sync:P`, `oauth:STATE`, `quota:CODE` | CRM configuration made in chat |
//! | `secrets` | platform | `Sealed` credential (encrypted) |
//! | `segments` | lowercase name | `Segment` (name + filter source) |
//! | `sequences` | lowercase name | `Sequence` of nurture steps |
//! | `enrollments` | due ms (u64 BE) ++ sequence `\0` contact | `Enrollment` — the next step due |
//! | `command_usage` | command `\0` user | `Usage` — cooldown and daily count |
//! | `labels` | label id | `Label` — the WhatsApp label catalogue |
//! | `label_assignments` | contact `\0` label id | `Assignment` — active labels, who and when |
//! | `label_log` | seq (u64 BE) | `LabelEvent` — append-only add/remove history |
//! | `sync_outbox` | platform, kind (one byte each) ++ local id | `SyncItem` — a record to push (latest version wins) |
//! | `sync_ids` | platform, kind ++ local id | `RemoteRef` — its id at the vendor and what we last wrote |
//! | `sync_dead` | platform, kind ++ local id | `DeadSync` — refused for good, with the vendor's message |
//! | `sync_state` | platform | `SyncStatus` — counters, cursors, last error |
//! | `seats` | chat key | `ChatSeats` — package seats held by a booking or taken by a won deal |
//!
//! Every value is `[version byte] + JSON` (see [`codec`]); the value types
//! live with the modules that own them (runtime, router, sales).

pub mod codec;
mod commit;

pub use codec::{CodecError, decode, encode};
pub use sled::IVec;

pub use commit::{
    Check, Committed, GroupCommit, IO_ERROR_EXIT_CODE, SOON, TreeName, Update, Wait, Write, exit_on_io_error,
};

use std::path::{Path, PathBuf};

/// Page cache used unless `[storage] cache_mb` says otherwise.
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Bump when a value layout changes; add the step to [`migrate`].
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("sled transaction: {0}")]
    Tx(String),
    #[error("the database at {path} is corrupt ({detail}); restore it from a backup (`juru` never deletes it)")]
    Corrupt { path: PathBuf, detail: String },
    #[error("the database at {path} is locked: another juru process (serve or chat) is using it")]
    Locked { path: PathBuf },
    #[error("the database at {path} has schema version {found}, newer than this binary's {SCHEMA_VERSION}")]
    TooNew { path: PathBuf, found: u32 },
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl From<sled::transaction::TransactionError<StoreError>> for StoreError {
    fn from(e: sled::transaction::TransactionError<StoreError>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => StoreError::Sled(e),
        }
    }
}

/// The opened database. Cheap to clone. Its trees are private: readers go
/// through [`Store::read`], every write through the committer ([`GroupCommit`]).
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    meta: sled::Tree,
    /// Indexed by [`TreeName`], the same handles the committer writes.
    trees: std::sync::Arc<[sled::Tree]>,
    pub commit: GroupCommit,
}

impl Store {
    /// Opens (or creates) the database at `path`, after removing the stray
    /// snapshot files that make sled 0.34.7 refuse to open after a crash.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(path, DEFAULT_CACHE_BYTES)
    }

    /// Opens with a page cache of `cache_bytes` (sled's own default is 1 GiB,
    /// which a small VPS cannot spare).
    pub fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        std::fs::create_dir_all(path)?;
        remove_stray_snapshots(path)?;
        let config = sled_config(path, cache_bytes);
        // A previous owner may be releasing the lock right now (sled's own
        // background threads let go a few ms after the last handle): wait briefly.
        let started = std::time::Instant::now();
        let db = loop {
            match config.open().map_err(|e| classify_open_error(path, e)) {
                Err(StoreError::Locked { .. }) if started.elapsed() < std::time::Duration::from_millis(500) => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => break other?,
            }
        };
        let trees: Vec<sled::Tree> = commit::TREE_NAMES.iter().map(|n| db.open_tree(n)).collect::<Result<_, _>>()?;
        let store = Store {
            meta: db.open_tree("meta")?,
            commit: GroupCommit::start(db.clone(), trees.clone()),
            trees: trees.into(),
            db,
        };
        migrate(&store, path)?;
        Ok(store)
    }

    /// Read access to one tree.
    pub fn read(&self, tree: TreeName) -> Reader<'_> {
        Reader(&self.trees[tree as usize])
    }

    /// Writes and reads back a canary: whether the database still accepts
    /// writes (a full disk or a failed flusher shows here first).
    pub fn probe(&self, now_ms: u64) -> Result<(), StoreError> {
        self.meta.insert("health_canary", &now_ms.to_be_bytes())?;
        Ok(())
    }

    /// A fresh, strictly increasing sequence number (survives restarts).
    /// Never call it inside a transaction closure.
    pub fn next_seq(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()?)
    }

    /// Waits until every write made so far is on disk.
    pub async fn durable(&self) -> Result<(), StoreError> {
        self.commit.flushed().await
    }

    /// Flushes and stops the flusher, releasing the database's file lock
    /// once the last clone is dropped.
    pub fn close(self) {
        self.commit.stop();
    }

    /// Up to `n` entries of `tree` after the key `after` (from the start
    /// when `None`), in key order: for background scans a slice at a time.
    pub fn slice_after(&self, tree: TreeName, after: Option<&[u8]>, n: usize) -> Result<Vec<(IVec, IVec)>, StoreError> {
        use std::ops::Bound;
        let tree = &self.trees[tree as usize];
        let range = match after {
            Some(k) => tree.range::<&[u8], _>((Bound::Excluded(k), Bound::Unbounded)),
            None => tree.range::<&[u8], _>(..),
        };
        Ok(range.take(n).collect::<Result<_, _>>()?)
    }

    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

/// Read access to one tree: bytes in, bytes out (the value types live with
/// the modules that own them and decode with [`decode`]).
#[derive(Clone, Copy)]
pub struct Reader<'a>(&'a sled::Tree);

impl Reader<'_> {
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<IVec>, StoreError> {
        Ok(self.0.get(key)?)
    }

    /// The value under `key`, decoded; an undecodable value is an error.
    pub fn get_as<T: serde::de::DeserializeOwned>(&self, key: impl AsRef<[u8]>) -> Result<Option<T>, StoreError> {
        self.0.get(key)?.map(|v| decode(&v)).transpose().map_err(StoreError::from)
    }

    pub fn contains(&self, key: impl AsRef<[u8]>) -> Result<bool, StoreError> {
        Ok(self.0.contains_key(key)?)
    }

    /// Every entry in key order (reversible).
    pub fn iter(&self) -> Entries {
        Entries(self.0.iter())
    }

    pub fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Entries {
        Entries(self.0.scan_prefix(prefix))
    }

    pub fn range<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(&self, range: R) -> Entries {
        Entries(self.0.range(range))
    }

    /// Counts by walking the tree: for reports, not the hot path.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Entries of a [`Reader`] walk, in key order or reversed.
pub struct Entries(sled::Iter);

impl Iterator for Entries {
    type Item = Result<(IVec, IVec), StoreError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|e| e.map_err(StoreError::from))
    }
}

impl DoubleEndedIterator for Entries {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|e| e.map_err(StoreError::from))
    }
}

/// The sled settings juru opens its database with (also the durable
/// baseline's, `bench/bench_baseline.rs`, so the two compare like for like).
pub fn sled_config(path: &Path, cache_bytes: u64) -> sled::Config {
    sled::Config::new().path(path).cache_capacity(cache_bytes).flush_every_ms(Some(500))
}

/// sled 0.34.7 picks a half-written `snap.*.generating` as the newest
/// snapshot and then fails with `Corruption` (spacejam/sled#1527, #1533).
fn remove_stray_snapshots(path: &Path) -> Result<(), StoreError> {
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            tracing::warn!(file = %entry.path().display(), "removing stray half-written sled snapshot");
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

fn classify_open_error(path: &Path, e: sled::Error) -> StoreError {
    let path = path.to_path_buf();
    match e {
        sled::Error::Corruption { .. } => StoreError::Corrupt { path, detail: e.to_string() },
        sled::Error::Io(ref io) if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock") => {
            StoreError::Locked { path }
        }
        other => StoreError::Sled(other),
    }
}

/// Migration hook: brings an older layout up to [`SCHEMA_VERSION`], one step at a time.
fn migrate(store: &Store, path: &Path) -> Result<(), StoreError> {
    let found = store.meta.get("schema_version")?.map(|v| codec::u64_from_be(&v) as u32).unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew { path: path.to_path_buf(), found });
    }
    // Version 0 is an empty database: nothing to convert. Future steps go here:
    // `if found < 2 { migrate_1_to_2(store)?; }`
    if found < SCHEMA_VERSION {
        store.meta.insert("schema_version", &(SCHEMA_VERSION as u64).to_be_bytes())?;
        store.db.flush()?;
    }
    Ok(())
}

/// `a \0 b` — composite keys whose parts never contain NUL.
pub fn key2(a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + b.len() + 1);
    k.extend_from_slice(a.as_bytes());
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

/// `chat \0 seq` — keeps one chat's records together, in order.
pub fn chat_seq_key(chat: &str, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(chat.len() + 9);
    k.extend_from_slice(chat.as_bytes());
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stray_generating_snapshot_is_removed_before_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.trees[TreeName::Inbox as usize].insert("k", "v").unwrap();
            store.db.flush().unwrap();
            store.close();
        }
        std::fs::write(dir.path().join("snap.00000000000F4240.generating"), b"half").unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.read(TreeName::Inbox).get("k").unwrap().unwrap().as_ref(), b"v");
        assert!(!dir.path().join("snap.00000000000F4240.generating").exists());
    }

    #[test]
    fn a_second_process_gets_a_clear_lock_error() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        // sled's lock is per process via flock, so a second open in the same
        // process also fails; the message must say what to do.
        match Store::open(dir.path()) {
            Err(e) => assert!(e.to_string().contains("juru"), "{e}"),
            Ok(_) => panic!("second open must fail"),
        }
    }

    #[test]
    fn the_schema_version_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let v = store.meta.get("schema_version").unwrap().unwrap();
        assert_eq!(codec::u64_from_be(&v), SCHEMA_VERSION as u64);
    }
}
