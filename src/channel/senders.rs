//! One entry point for sending, whatever the channel.

use std::time::Duration;

use super::cloud::CloudClient;
use super::console::ConsoleSink;
use super::waha::WahaClient;
use super::{Channel, Outgoing};

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

/// The configured channels' senders.
#[derive(Clone, Default)]
pub struct Senders {
    pub waha: Option<WahaClient>,
    pub cloud: Option<CloudClient>,
    pub console: Option<ConsoleSink>,
}

impl Senders {
    /// The gateways that can send, WAHA first.
    pub fn configured(&self) -> impl Iterator<Item = Channel> {
        [
            self.waha.as_ref().map(|_| Channel::Waha),
            self.cloud.as_ref().map(|_| Channel::Cloud),
            self.console.as_ref().map(|_| Channel::Console),
        ]
        .into_iter()
        .flatten()
    }

    pub async fn send(&self, channel: Channel, out: &Outgoing) -> Result<Sent, SendError> {
        match channel {
            Channel::Waha => self.waha.as_ref().ok_or(SendError::NotConfigured(channel))?.send(out).await,
            Channel::Cloud => self.cloud.as_ref().ok_or(SendError::NotConfigured(channel))?.send(out).await,
            Channel::Console => Ok(self.console.as_ref().ok_or(SendError::NotConfigured(channel))?.send(out)),
        }
    }
}

impl Senders {
    /// The senders of every channel whose keys are configured.
    pub fn from_config(config: &crate::config::Config) -> Result<Senders, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.outbox.timeout_ms))
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(64)
            .user_agent(concat!("juru/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let waha = config.waha.base_url.as_ref().map(|url| {
            WahaClient::new(
                http.clone(),
                url.as_str(),
                config.waha.api_key.as_ref().map(|k| k.expose()),
                &config.waha.session,
            )
        });
        let cloud = match (&config.cloud.access_token, &config.cloud.phone_number_id) {
            (Some(token), Some(id)) if config.cloud.is_active() => {
                Some(CloudClient::new(http.clone(), config.cloud.graph_base_url.as_str(), id, token.expose()))
            }
            _ => None,
        };
        Ok(Senders { waha, cloud, console: None })
    }
}
