//! The sync outbox's data: which local records wait to be pushed to which
//! platform (`sync_outbox`), their ids at the vendor (`sync_ids`), what the
//! vendor refused for good (`sync_dead`) and each platform's counters and
//! cursors (`sync_state`). The CRM enqueues in the same transaction as the
//! change itself, so no change is ever missed; `connectors` drain it.
//!
//! Items hold references, not copies: the worker reads the record as it is
//! when it pushes, so the latest version always wins and a record changed
//! ten times while the vendor was down is pushed once.

use serde::{Deserialize, Serialize};

use super::settings::Platform;
use crate::store::{Store, TreeName, Write, decode, encode};

/// What is synced, in push order: parents before the records that link to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Company,
    Contact,
    Deal,
    Activity,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Company, Kind::Contact, Kind::Deal, Kind::Activity];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Company => "company",
            Kind::Contact => "contact",
            Kind::Deal => "deal",
            Kind::Activity => "activity",
        }
    }

    fn byte(self) -> u8 {
        self as u8
    }

    fn from_byte(b: u8) -> Option<Kind> {
        Kind::ALL.get(usize::from(b)).copied()
    }
}

fn platform_byte(p: Platform) -> u8 {
    Platform::ALL.iter().position(|x| *x == p).unwrap_or(0) as u8
}

/// `platform, kind ++ local id`: one platform's items sort by kind, parents first.
pub fn key(platform: Platform, kind: Kind, local_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(2 + local_id.len());
    key.push(platform_byte(platform));
    key.push(kind.byte());
    key.extend_from_slice(local_id.as_bytes());
    key
}

/// The prefix of one platform's keys (of one kind).
pub fn prefix(platform: Platform, kind: Option<Kind>) -> Vec<u8> {
    let mut p = vec![platform_byte(platform)];
    p.extend(kind.map(Kind::byte));
    p
}

/// Reads a key back: the kind and the local id.
pub fn parse_key(key: &[u8]) -> Option<(Kind, String)> {
    let (&kind, id) = key.get(1..)?.split_first()?;
    Some((Kind::from_byte(kind)?, String::from_utf8(id.to_vec()).ok()?))
}

/// A record waiting to be pushed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncItem {
    /// Bumped by every change: the worker removes the item after a push only
    /// if no newer change arrived meanwhile.
    pub version: u64,
    pub changed_ms: u64,
    pub attempts: u32,
    /// Not before this time (backoff after a failure).
    pub next_at_ms: u64,
    /// A push ended without an answer: the record may exist remotely.
    pub unsure: bool,
    /// A push of it was under way (durable before the request goes out): a
    /// worker starting after a crash treats it as `unsure`.
    #[serde(default)]
    pub pushing: bool,
    pub last_error: Option<String>,
}

/// Where a record lives at the vendor, and when we last wrote it there
/// (so our own writes coming back through a pull are recognised).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteRef {
    pub remote_id: String,
    pub pushed_ms: u64,
}

/// A record the vendor refused for good.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadSync {
    pub reason: String,
    pub attempts: u32,
    pub at_ms: u64,
}

/// One platform's sync figures, shown by `#crm sync` and `juru sync`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncStatus {
    pub sent: u64,
    pub failed: u64,
    pub dead: u64,
    pub last_error: Option<String>,
    pub last_error_ms: Option<u64>,
    pub last_sync_ms: Option<u64>,
    /// The `#crm sync` request last carried out (its `at_ms`).
    pub handled_request_ms: Option<u64>,
    /// Pull cursors per kind: the newest remote modified time applied.
    pub cursors: std::collections::BTreeMap<Kind, u64>,
}

/// What `#crm sync` and `juru sync` show for one platform.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Report {
    pub platform: &'static str,
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
    pub dead: u64,
    pub last_error: Option<String>,
    pub last_error_ms: Option<u64>,
    pub last_sync_ms: Option<u64>,
}

pub fn load_status(store: &Store, platform: Platform) -> SyncStatus {
    store
        .read(TreeName::SyncState)
        .get(platform.as_str().as_bytes())
        .ok()
        .flatten()
        .and_then(|b| decode::<SyncStatus>(&b).ok())
        .unwrap_or_default()
}

/// Reads the figures of `platform` from the store.
pub fn report(store: &Store, platform: Platform) -> Report {
    let status = load_status(store, platform);
    Report {
        platform: platform.as_str(),
        queued: store.read(TreeName::SyncOutbox).scan_prefix(prefix(platform, None)).count() as u64,
        sent: status.sent,
        failed: status.failed,
        dead: store.read(TreeName::SyncDead).scan_prefix(prefix(platform, None)).count() as u64,
        last_error: status.last_error,
        last_error_ms: status.last_error_ms,
        last_sync_ms: status.last_sync_ms,
    }
}

/// Queues `local_id` for `platform`, inside the change's own transaction.
/// A waiting item gets a new version (and is due now); whether an earlier
/// push left it unsure is kept.
pub fn enqueue(platform: Platform, kind: Kind, local_id: &str, now_ms: u64) -> Write {
    Write::Update(
        TreeName::SyncOutbox,
        key(platform, kind, local_id),
        Box::new(move |old| {
            let old: Option<SyncItem> = old.and_then(|b| decode(b).ok());
            let item = SyncItem {
                version: old.as_ref().map_or(1, |o| o.version + 1),
                changed_ms: now_ms,
                attempts: 0,
                next_at_ms: 0,
                unsure: old.as_ref().is_some_and(|o| o.unsure || o.pushing),
                pushing: false,
                last_error: None,
            };
            Some(encode(&item))
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored sync keys begin with the platform's place in `Platform::ALL`:
    /// reordering it (or inserting a platform before the last) would hand one
    /// vendor's queue and ids to another. New platforms go at the end.
    #[test]
    fn each_platform_keeps_its_key_byte() {
        let bytes: Vec<(Platform, u8)> =
            Platform::ALL.into_iter().map(|p| (p, key(p, Kind::Contact, "x")[0])).collect();
        assert_eq!(
            bytes,
            [
                (Platform::Hubspot, 0),
                (Platform::Salesforce, 1),
                (Platform::Pipedrive, 2),
                (Platform::Zoho, 3),
                (Platform::Freshsales, 4),
                (Platform::Dynamics, 5),
            ]
        );
    }

    #[test]
    fn keys_sort_parents_first_and_read_back() {
        let company = key(Platform::Hubspot, Kind::Company, "kopi-kita");
        let contact = key(Platform::Hubspot, Kind::Contact, "6281");
        assert!(company < contact);
        assert!(contact.starts_with(&prefix(Platform::Hubspot, Some(Kind::Contact))));
        assert!(!contact.starts_with(&prefix(Platform::Pipedrive, None)));
        assert_eq!(parse_key(&contact), Some((Kind::Contact, "6281".to_string())));
    }
}
