//! The inbox: every accepted event, durable before its webhook is answered,
//! deduped by the channel's own message id, removed when handled.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::lanes::Lanes;
use super::{RuntimeError, Shared, now_ms};
use crate::channel::Event;
use crate::store::{Committed, TreeName, Write, decode, encode};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboxItem {
    pub seq: u64,
    pub received_ms: u64,
    pub event: Event,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AcceptReport {
    pub accepted: usize,
    pub duplicates: usize,
    pub ignored: usize,
}

pub(super) async fn accept(shared: &Shared, lanes: &Lanes, events: Vec<Event>) -> Result<AcceptReport, RuntimeError> {
    let backlog = shared.progress.inbox_depth() + shared.progress.outbox_depth();
    if backlog >= shared.config.runtime.max_backlog as i64 {
        metrics::counter!("juru_webhooks_refused_overload_total").increment(1);
        return Err(RuntimeError::Overloaded { backlog, retry_after_s: 2 });
    }
    let mut report = AcceptReport::default();
    let mut committed = Vec::new();
    let mut claimed = Vec::new();
    for event in events {
        let Some(dedupe_key) = event.dedupe_key() else {
            if let Event::Ignored(why) = event {
                tracing::debug!(reason = why.0, "event ignored");
            }
            report.ignored += 1;
            continue;
        };
        let lane = lanes.lane_of(&event.chat_key());
        // Holding the chat's order lock from sequence number to dispatch keeps
        // one chat's events in the order they were accepted; the same dedupe
        // key always maps to the same lock.
        let _order = lanes.order_lock(lane);
        if shared.store.seen.contains_key(dedupe_key.as_bytes())? || !claim(shared, &dedupe_key) {
            report.duplicates += 1;
            continue;
        }
        let now = now_ms();
        let item = InboxItem { seq: shared.store.next_seq()?, received_ms: now, event };
        // Queued before the dispatch, so the lane's later removal of the inbox
        // item is applied after this insert.
        committed.push(Committed(shared.store.commit.submit(vec![
            Write::Put(TreeName::Seen, dedupe_key.clone().into_bytes(), now.to_be_bytes().to_vec()),
            Write::Put(TreeName::Inbox, item.seq.to_be_bytes().to_vec(), encode(&item)),
        ])));
        claimed.push(dedupe_key);
        report.accepted += 1;
        shared.progress.inbox_added(1);
        lanes.dispatch(lane, item);
    }
    let mut result = Ok(());
    for c in committed {
        if let Err(e) = c.await {
            result = Err(e);
        }
    }
    if result.is_ok() && report.duplicates > 0 {
        // A duplicate's original may still be in flight: acknowledge after it is on disk.
        shared.store.durable().await?;
    }
    release(shared, &claimed);
    result?;
    metrics::counter!("juru_webhook_events_total", "result" => "accepted").increment(report.accepted as u64);
    metrics::counter!("juru_webhooks_deduped_total").increment(report.duplicates as u64);
    Ok(report)
}

/// Dedupe keys accepted but not yet in the `seen` tree (their commit is in flight).
fn claim(shared: &Shared, key: &str) -> bool {
    shared.in_flight_keys.lock().unwrap_or_else(|p| p.into_inner()).insert(key.to_string())
}

fn release(shared: &Shared, keys: &[String]) {
    let mut set = shared.in_flight_keys.lock().unwrap_or_else(|p| p.into_inner());
    for k in keys {
        set.remove(k);
    }
}

/// Re-queues what a previous run accepted but did not handle, in order.
pub(super) fn replay(shared: &Shared, lanes: &Lanes) -> Result<(), RuntimeError> {
    let mut replayed = 0;
    for entry in shared.store.inbox.iter() {
        let (key, value) = entry?;
        match decode::<InboxItem>(&value) {
            Ok(item) => {
                let lane = lanes.lane_of(&item.event.chat_key());
                shared.progress.inbox_added(1);
                lanes.dispatch(lane, item);
                replayed += 1;
            }
            Err(e) => {
                // Unreadable: keep it out of the way, visible, never silently dropped.
                tracing::error!(key = ?key, error = %e, "inbox item does not decode; moved to dead");
                shared.store.dead.insert(key.clone(), value)?;
                shared.store.inbox.remove(key)?;
            }
        }
    }
    if replayed > 0 {
        tracing::info!(replayed, "replaying accepted messages from the previous run");
    }
    Ok(())
}

/// Forgets dedupe marks older than the retention window, hourly.
pub(super) async fn prune_seen_forever(shared: Arc<Shared>) {
    let retention_ms = shared.config.runtime.dedupe_retention_hours * 3_600_000;
    loop {
        // Not at start-up: a full scan of `seen` there would slow every restart
        // and pull the whole tree into memory for marks that expire in days.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        let seen = shared.store.seen.clone();
        let cutoff = now_ms().saturating_sub(retention_ms);
        let pruned = tokio::task::spawn_blocking(move || prune_seen(&seen, cutoff)).await;
        match pruned {
            Ok(Ok(n)) if n > 0 => tracing::info!(pruned = n, "forgot old dedupe marks"),
            Ok(Err(e)) => tracing::warn!(error = %e, "pruning dedupe marks failed"),
            _ => {}
        }
    }
}

fn prune_seen(seen: &sled::Tree, cutoff_ms: u64) -> Result<usize, sled::Error> {
    let mut pruned = 0;
    for entry in seen.iter() {
        let (key, value) = entry?;
        if crate::store::codec::u64_from_be(&value) < cutoff_ms {
            seen.remove(key)?;
            pruned += 1;
        }
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_dedupe_marks_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let seen = db.open_tree("seen").unwrap();
        seen.insert("old", &100u64.to_be_bytes()).unwrap();
        seen.insert("new", &900u64.to_be_bytes()).unwrap();
        assert_eq!(prune_seen(&seen, 500).unwrap(), 1);
        assert!(seen.get("new").unwrap().is_some());
    }
}
