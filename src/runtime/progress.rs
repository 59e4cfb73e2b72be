//! Counters of work in flight: feed the metrics gauges and `juru chat`'s
//! wait for the last reply.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::channel::Channel;

#[derive(Default)]
pub struct Progress {
    inbox: AtomicI64,
    outbox: [AtomicI64; 3],
    changed: Notify,
}

fn slot(channel: Channel) -> usize {
    match channel {
        Channel::Waha => 0,
        Channel::Cloud => 1,
        Channel::Console => 2,
    }
}

impl Progress {
    pub fn inbox_added(&self, n: i64) {
        let depth = self.inbox.fetch_add(n, Ordering::SeqCst) + n;
        metrics::gauge!("juru_lane_queue_depth").set(depth as f64);
        self.changed.notify_waiters();
    }

    pub fn outbox_added(&self, channel: Channel, n: i64) {
        self.outbox[slot(channel)].fetch_add(n, Ordering::SeqCst);
        metrics::gauge!("juru_outbox_depth").set(self.outbox_depth() as f64);
        self.changed.notify_waiters();
    }

    pub fn inbox_depth(&self) -> i64 {
        self.inbox.load(Ordering::SeqCst)
    }

    pub fn outbox_depth(&self) -> i64 {
        self.outbox.iter().map(|c| c.load(Ordering::SeqCst)).sum()
    }

    pub async fn idle(&self, channel: Channel) {
        loop {
            let notified = self.changed.notified();
            if self.inbox_depth() <= 0 && self.outbox[slot(channel)].load(Ordering::SeqCst) <= 0 {
                return;
            }
            // The timeout guards against a wake-up racing the check above.
            let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
        }
    }
}
