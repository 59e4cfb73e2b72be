//! HTTP plumbing every connector shares: one client per connector, every
//! request through the account's [`Limiter`], and the common reading of an
//! answer. Vendor-specific meanings (HubSpot's `policyName`, Salesforce's
//! 403 `REQUEST_LIMIT_EXCEEDED`) are read by the vendor modules on top.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};

use super::SyncError;
use super::limit::Limiter;

/// A vendor's answer, read whole (CRM answers are small).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, SyncError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| SyncError::Transient(format!("unreadable answer ({}): {e}: {}", self.status, self.snippet())))
    }

    /// The start of the body, for error messages.
    pub fn snippet(&self) -> String {
        String::from_utf8_lossy(&self.body).chars().take(300).collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `Retry-After` in seconds, when given.
    pub fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after")?.trim().parse::<u64>().ok().map(Duration::from_secs)
    }

    /// What the status alone says when the vendor module has nothing more
    /// specific: 429 throttled, 401 auth, 5xx/408 transient, other 4xx refused.
    pub fn common_error(&self) -> SyncError {
        let reason = format!("{}: {}", self.status.as_u16(), self.snippet());
        match self.status.as_u16() {
            429 => SyncError::Throttled { reason, retry_after: self.retry_after(), daily: false },
            401 => SyncError::Auth(reason),
            408 | 423 | 500..=599 => SyncError::Transient(reason),
            _ => SyncError::Permanent(reason),
        }
    }
}

/// One connector's HTTP client and its account's limiter.
#[derive(Clone)]
pub struct Http {
    pub client: reqwest::Client,
    pub limiter: Arc<Limiter>,
}

impl Http {
    pub fn new(limiter: Limiter, timeout: Duration) -> Http {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("juru/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Http { client, limiter: Arc::new(limiter) }
    }

    /// Waits for the budget, sends once, reads the whole answer. Network
    /// failures and timeouts are `Transient` (the outcome is unknown: the
    /// vendor may have applied the write).
    pub async fn send(&self, request: RequestBuilder) -> Result<Answer, SyncError> {
        self.limiter.acquire().await;
        let response = request.send().await.map_err(|e| SyncError::Transient(e.without_url().to_string()))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| SyncError::Transient(e.without_url().to_string()))?.to_vec();
        Ok(Answer { status, headers, body })
    }
}
