//! The retention sweeper: forgets audit records, delivery records and dead
//! letters older than `[storage] retain_*_days` (0 keeps them forever), and
//! dedupe marks older than `[runtime] dedupe_retention_hours`. It
//! reads a slice of keys at a time on a blocking thread and removes the old
//! ones through the committer (never a tree write of its own), pausing
//! between slices, so the hot path never waits for it.

use std::sync::Arc;
use std::time::Duration;

use super::audit::AuditRecord;
use super::delivery::DeliveryRecord;
use super::outbox::DeadItem;
use super::{RuntimeError, Shared, now_ms};
use crate::config::Config;
use crate::store::{Check, Store, StoreError, TreeName, Wait, Write, decode};

/// Keys read (and at most removed) per slice.
const SLICE: usize = 500;
/// Pause between slices: the sweeper takes a small share of one core.
const PAUSE: Duration = Duration::from_millis(20);
const DAY_MS: u64 = 86_400_000;
const HOUR_MS: u64 = 3_600_000;

/// How long each kind is kept, in ms; 0 keeps it forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keep {
    pub messages_ms: u64,
    pub delivery_ms: u64,
    pub dead_ms: u64,
    pub seen_ms: u64,
}

impl Keep {
    pub fn from_config(config: &Config) -> Keep {
        let storage = &config.storage;
        Keep {
            messages_ms: storage.retain_messages_days * DAY_MS,
            delivery_ms: storage.retain_delivery_days * DAY_MS,
            dead_ms: storage.retain_dead_days * DAY_MS,
            seen_ms: config.runtime.dedupe_retention_hours * HOUR_MS,
        }
    }
}

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub messages: usize,
    pub delivery: usize,
    pub dead: usize,
    pub seen: usize,
}

pub(super) async fn run_forever(shared: Arc<Shared>) {
    let every = Duration::from_secs(shared.config.storage.sweep_every_hours.max(1) * 3600);
    loop {
        // Not at start-up: a restart must not begin with a full scan.
        tokio::time::sleep(every).await;
        match sweep(&shared.store, Keep::from_config(&shared.config), now_ms()).await {
            Ok(swept) if swept != Swept::default() => tracing::info!(?swept, "retention: forgot old records"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention sweep failed; retrying at the next one"),
        }
    }
}

/// One pass over every kept kind.
pub async fn sweep(store: &Store, keep: Keep, now: u64) -> Result<Swept, RuntimeError> {
    Ok(Swept {
        messages: sweep_tree(store, TreeName::Messages, keep.messages_ms, now, |v| {
            decode::<AuditRecord>(v).ok().map(|r| r.at_ms)
        })
        .await?,
        delivery: sweep_tree(store, TreeName::Delivery, keep.delivery_ms, now, |v| {
            decode::<DeliveryRecord>(v).ok().map(|r| r.updated_ms)
        })
        .await?,
        dead: sweep_tree(store, TreeName::Dead, keep.dead_ms, now, |v| decode::<DeadItem>(v).ok().map(|d| d.at_ms))
            .await?,
        // A dedupe mark's value is the time it was received.
        seen: sweep_tree(store, TreeName::Seen, keep.seen_ms, now, |v| {
            (v.len() == 8).then(|| crate::store::codec::u64_from_be(v))
        })
        .await?,
    })
}

/// Removes the values of `tree` whose time (`at`) is older than `keep_ms`.
async fn sweep_tree(
    store: &Store,
    tree: TreeName,
    keep_ms: u64,
    now: u64,
    at: fn(&[u8]) -> Option<u64>,
) -> Result<usize, RuntimeError> {
    if keep_ms == 0 {
        return Ok(0);
    }
    let cutoff = now.saturating_sub(keep_ms);
    let mut after: Option<crate::store::IVec> = None;
    let mut removed = 0;
    loop {
        let (reader, from) = (store.clone(), after.clone());
        let slice = tokio::task::spawn_blocking(move || reader.slice_after(tree, from.as_deref(), SLICE))
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))??;
        let Some((last, _)) = slice.last() else { return Ok(removed) };
        after = Some(last.clone());
        // Removed only if still old: the value may have been rewritten meanwhile.
        let writes: Vec<Write> = slice
            .into_iter()
            .filter(|(_, v)| at(v).is_some_and(|t| t < cutoff))
            .map(|(k, _)| {
                let check: Check = Box::new(move |v| at(v).is_some_and(|t| t < cutoff));
                Write::RemoveIf(tree, k.to_vec(), check)
            })
            .collect();
        if !writes.is_empty() {
            removed += writes.len();
            store.commit.commit_with(writes, Wait::Soon).await?;
        }
        tokio::time::sleep(PAUSE).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{Channel, ChatId, Inbound, Phone};
    use crate::store::{chat_seq_key, encode};

    fn defaults() -> Keep {
        Keep::from_config(&Config::default())
    }

    async fn put(store: &Store, tree: TreeName, key: Vec<u8>, value: Vec<u8>) {
        store.commit.commit(vec![Write::Put(tree, key, value)]).await.unwrap();
    }

    #[tokio::test]
    async fn only_old_dedupe_marks_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let now = 100 * DAY_MS;
        let keep = defaults();
        put(&store, TreeName::Seen, b"cloud\0old".to_vec(), (now - keep.seen_ms - 1).to_be_bytes().to_vec()).await;
        put(&store, TreeName::Seen, b"cloud\0new".to_vec(), (now - 1000).to_be_bytes().to_vec()).await;
        assert_eq!(sweep(&store, keep, now).await.unwrap().seen, 1);
        assert!(store.read(TreeName::Seen).contains(b"cloud\0new").unwrap());
        assert!(!store.read(TreeName::Seen).contains(b"cloud\0old").unwrap());
    }

    #[tokio::test]
    async fn old_audit_records_go_and_recent_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let chat = ChatId::Phone(Phone::parse("6281234567890").unwrap());
        let now = 400 * DAY_MS;
        for (seq, age_days) in [(1u64, 200u64), (2, 181), (3, 179), (4, 1)] {
            let ev = Inbound::text_from(Channel::Cloud, "p", format!("m{seq}"), chat.clone(), "halo");
            let record = AuditRecord::inbound(seq, &ev, "conversation", now - age_days * DAY_MS);
            put(&store, TreeName::Messages, chat_seq_key(&chat.key(), seq), encode(&record)).await;
        }
        let config = Config::default();
        assert_eq!(config.storage.retain_messages_days, 180, "the documented default");
        let swept = sweep(&store, Keep::from_config(&config), now).await.unwrap();
        assert_eq!(swept.messages, 2);
        let left: Vec<u64> = crate::runtime::audit::trail(&store, &chat.key()).map(|r| r.unwrap().seq).collect();
        assert_eq!(left, [3, 4]);
    }

    #[tokio::test]
    async fn zero_days_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let record = DeliveryRecord {
            state: crate::channel::DeliveryState::Read,
            chat: None,
            seq: None,
            updated_ms: 0,
            error: None,
        };
        put(&store, TreeName::Delivery, b"cloud\0wamid.1".to_vec(), encode(&record)).await;
        let keep = Keep { delivery_ms: 0, ..defaults() };
        assert_eq!(sweep(&store, keep, 1000 * DAY_MS).await.unwrap().delivery, 0);
        assert_eq!(sweep(&store, defaults(), 1000 * DAY_MS).await.unwrap().delivery, 1);
        assert!(store.read(TreeName::Delivery).is_empty());
    }

    #[tokio::test]
    async fn a_tree_larger_than_a_slice_is_swept_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for i in 0..(SLICE as u64 * 2 + 7) {
            let item = DeadItem {
                item: crate::runtime::outbox::OutboxItem::new(
                    i,
                    Channel::Cloud,
                    crate::channel::Outgoing {
                        to: ChatId::Phone(Phone::parse("6281234567890").unwrap()),
                        body: crate::channel::OutBody::Text { text: "x".into() },
                        reply_to: None,
                        meta: Default::default(),
                    },
                    0,
                ),
                error: "gone".into(),
                permanent: true,
                at_ms: 0,
            };
            put(&store, TreeName::Dead, i.to_be_bytes().to_vec(), encode(&item)).await;
        }
        let swept = sweep(&store, defaults(), 1000 * DAY_MS).await.unwrap();
        assert_eq!(swept.dead, SLICE * 2 + 7);
    }
}
