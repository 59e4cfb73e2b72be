//! The inbox: every accepted event, durable before its webhook is answered,
//! deduped by the channel's own message id, removed when handled.

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
        if shared.store.read(TreeName::Seen).contains(dedupe_key.as_bytes())? || !claim(shared, &dedupe_key) {
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
    for entry in shared.store.read(TreeName::Inbox).iter() {
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
                super::set_aside(&shared.store, TreeName::Inbox, &key, &value);
            }
        }
    }
    if replayed > 0 {
        tracing::info!(replayed, "replaying accepted messages from the previous run");
    }
    Ok(())
}
