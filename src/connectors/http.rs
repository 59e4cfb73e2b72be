//! HTTP plumbing every connector shares: one client per connector, every
//! request through the account's [`Limiter`], and the common reading of an
//! answer. Vendor-specific meanings (HubSpot's `policyName`, Salesforce's
//! 403 `REQUEST_LIMIT_EXCEEDED`) are read by the vendor modules on top.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

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

    /// The wait a vendor asks for: `Retry-After`, else `X-RateLimit-Reset`
    /// (seconds from now, or an epoch in seconds or milliseconds); at least a second.
    pub fn reset_after(&self, now_ms: u64) -> Option<Duration> {
        if let Some(wait) = self.retry_after() {
            return Some(wait);
        }
        let reset: u64 = self.header("x-ratelimit-reset")?.trim().parse().ok()?;
        let ms = match reset {
            r if r > 100_000_000_000 => r.saturating_sub(now_ms),
            r if r > 1_000_000_000 => (r * 1000).saturating_sub(now_ms),
            r => r * 1000,
        };
        Some(Duration::from_millis(ms.max(1000)))
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
        Http { client: Http::client(timeout), limiter: Arc::new(limiter) }
    }

    fn client(timeout: Duration) -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("juru/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default()
    }

    /// The same account's limiter with another request timeout (tests, benchmarks).
    pub fn with_timeout(&self, timeout: Duration) -> Http {
        Http { client: Http::client(timeout), limiter: self.limiter.clone() }
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

/// Everything but RFC 3986's unreserved characters is escaped.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// A value as it goes into a query string, a form body or a URL path.
pub fn escape(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

/// `k=v&k2=v2`, keys and values escaped: a query string or an
/// `application/x-www-form-urlencoded` body.
pub fn encode_pairs<V: AsRef<str>>(pairs: &[(&str, V)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", escape(k), escape(v.as_ref()))).collect::<Vec<_>>().join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(headers: &[(&'static str, &str)]) -> Answer {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, v.parse().unwrap());
        }
        Answer { status: StatusCode::TOO_MANY_REQUESTS, headers: map, body: Vec::new() }
    }

    #[test]
    fn the_wait_is_retry_after_else_the_reset_in_any_of_its_forms() {
        let now_ms = 1_795_402_800_000;
        let secs = |a: &Answer| a.reset_after(now_ms).map(|d| d.as_secs());
        assert_eq!(secs(&answer(&[("retry-after", "7"), ("x-ratelimit-reset", "30")])), Some(7));
        assert_eq!(secs(&answer(&[("x-ratelimit-reset", "30")])), Some(30), "seconds from now");
        assert_eq!(secs(&answer(&[("x-ratelimit-reset", "1795402845")])), Some(45), "an epoch in seconds");
        assert_eq!(secs(&answer(&[("x-ratelimit-reset", "1795402812000")])), Some(12), "an epoch in ms");
        assert_eq!(secs(&answer(&[("x-ratelimit-reset", "1795402700")])), Some(1), "past: at least a second");
        assert_eq!(answer(&[]).reset_after(now_ms), None);
    }

    #[test]
    fn pairs_escape_all_but_unreserved_characters() {
        assert_eq!(encode_pairs(&[("a b", "x y&z=/~-_."), ("c", "ok")]), "a%20b=x%20y%26z%3D%2F~-_.&c=ok");
    }
}
