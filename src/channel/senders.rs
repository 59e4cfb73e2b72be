//! What a send answers, whatever the channel.

use std::time::Duration;

use super::Channel;

/// What the gateway said when it accepted a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The gateway's id for it, seen again in delivery statuses.
    pub remote_id: Option<String>,
}

/// Why a send failed, sorted by what the outbox should do about it.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum SendError {
    /// Network trouble, timeouts, 5xx: retry with backoff.
    #[error("transient: {reason}")]
    Transient { reason: String, retry_after: Option<Duration> },
    /// Rate limited: retry later; `recipient_only` pauses just that chat (Cloud 131056).
    #[error("throttled: {reason}")]
    Throttled { reason: String, retry_after: Option<Duration>, recipient_only: bool },
    /// The gateway refused it for good (bad recipient, 24-hour window, auth): never retried.
    #[error("permanent: {reason}")]
    Permanent { code: Option<i64>, reason: String },
    #[error("channel {0:?} is not configured")]
    NotConfigured(Channel),
}

impl SendError {
    pub(crate) fn from_transport(e: reqwest::Error) -> SendError {
        // Never include the URL with query secrets: reqwest's Display carries only the URL path we built.
        SendError::Transient { reason: e.without_url().to_string(), retry_after: None }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self, SendError::Transient { .. } | SendError::Throttled { .. })
    }
}

pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}
