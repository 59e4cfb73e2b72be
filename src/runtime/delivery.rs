//! Delivery state of the messages we sent (`delivery` tree), keyed by the
//! gateway's id. Statuses arrive out of order; a stored state never moves back.

use serde::{Deserialize, Serialize};

use super::RuntimeError;
use crate::channel::{Channel, DeliveryState};
use crate::store::{Store, StoreError, TreeName, decode, key2};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub state: DeliveryState,
    /// Chat and outbox seq of our message, when we sent it (not when a status came first).
    pub chat: Option<String>,
    pub seq: Option<u64>,
    pub updated_ms: u64,
    pub error: Option<String>,
}

pub fn key(channel: Channel, remote_id: &str) -> Vec<u8> {
    let id = channel.message_key(remote_id);
    key2(channel.as_str(), id)
}

/// Merges a new state into a stored record: the later state wins.
pub fn merge(
    existing: Option<DeliveryRecord>,
    state: DeliveryState,
    error: Option<String>,
    now_ms: u64,
) -> DeliveryRecord {
    match existing {
        Some(mut r) => {
            let advanced = r.state.advance(state);
            if advanced != r.state {
                r.state = advanced;
                r.updated_ms = now_ms;
                if state == DeliveryState::Failed {
                    r.error = error;
                }
            }
            r
        }
        None => DeliveryRecord { state, chat: None, seq: None, updated_ms: now_ms, error },
    }
}

/// Was this message id sent by us? (WAHA echoes our sends back as `fromMe`.)
pub(super) fn is_ours(store: &Store, channel: Channel, message_id: &str) -> Result<bool, RuntimeError> {
    Ok(store
        .read(TreeName::Delivery)
        .get(key(channel, message_id))?
        .and_then(|b| decode::<DeliveryRecord>(&b).ok())
        .is_some_and(|r| r.seq.is_some()))
}

pub fn get(store: &Store, channel: Channel, remote_id: &str) -> Result<Option<DeliveryRecord>, StoreError> {
    store.read(TreeName::Delivery).get_as(key(channel, remote_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_delivered_does_not_undo_read() {
        let read = merge(None, DeliveryState::Read, None, 1);
        let after = merge(Some(read), DeliveryState::Delivered, None, 2);
        assert_eq!(after.state, DeliveryState::Read);
        assert_eq!(after.updated_ms, 1);
    }

    #[test]
    fn failed_is_recorded_with_its_error() {
        let sent = merge(None, DeliveryState::Sent, None, 1);
        let failed = merge(Some(sent), DeliveryState::Failed, Some("131047".into()), 2);
        assert_eq!(failed.state, DeliveryState::Failed);
        assert_eq!(failed.error.as_deref(), Some("131047"));
    }
}
