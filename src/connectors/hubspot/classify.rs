//! Reading HubSpot's answers: what a failed call means for the worker
//! (throttled, transient, auth, refused) and what the rate-limit headers
//! say about the account's budget. Pure functions over an [`Answer`].

use std::time::Duration;

use super::wire::ErrorBody;
use crate::connectors::SyncError;
use crate::connectors::http::Answer;

const DAY_MS: u64 = 86_400_000;

/// The ten-second budget the answer reports: remaining requests and the window.
pub fn window_budget(answer: &Answer) -> (Option<u64>, Option<Duration>) {
    let number = |name: &str| answer.header(name).and_then(|v| v.trim().parse::<u64>().ok());
    let remaining = number("x-hubspot-ratelimit-remaining");
    let interval = number("x-hubspot-ratelimit-interval-milliseconds").map(Duration::from_millis);
    (remaining, interval)
}

/// Why a call failed, from its status, headers and body (`now_ms` dates the
/// daily reset). Only called for answers outside 2xx.
pub fn classify(answer: &Answer, now_ms: u64) -> SyncError {
    let body: ErrorBody = serde_json::from_slice(&answer.body).unwrap_or_default();
    let status = answer.status.as_u16();
    let said = body.describe();
    let said = if said.is_empty() { answer.snippet() } else { said };
    let reason = match body.correlation_id.as_str() {
        "" => format!("HubSpot {status}: {said}"),
        id => format!("HubSpot {status}: {said} (correlation id {id})"),
    };
    match status {
        429 => {
            let (retry_after, daily) = throttle_wait(&body.policy_name, answer, now_ms);
            SyncError::Throttled { reason, retry_after: Some(retry_after), daily }
        }
        // Locked record / portal migration: HubSpot says when to come back.
        423 | 477 => match answer.retry_after() {
            Some(wait) => SyncError::Throttled { reason, retry_after: Some(wait), daily: false },
            None if status == 423 => {
                SyncError::Throttled { reason, retry_after: Some(Duration::from_secs(2)), daily: false }
            }
            None => SyncError::Transient(reason),
        },
        401 => SyncError::Auth(reason),
        408 | 500..=599 => SyncError::Transient(reason),
        _ => SyncError::Permanent(reason),
    }
}

/// How long a 429 asks us to wait, and whether it is the daily budget.
fn throttle_wait(policy: &str, answer: &Answer, now_ms: u64) -> (Duration, bool) {
    match policy {
        // HubSpot resets the daily count at midnight in the account's time
        // zone, which the API does not tell us: the next midnight UTC is an
        // approximation (the worker parks until then and tries once).
        "DAILY" => (until_midnight_utc(now_ms), true),
        "SECONDLY" => (answer.retry_after().unwrap_or(Duration::from_secs(1)), false),
        _ => {
            let (_, interval) = window_budget(answer);
            (answer.retry_after().or(interval).unwrap_or(Duration::from_secs(10)), false)
        }
    }
}

/// From `now_ms` to the next midnight UTC (never zero).
pub fn until_midnight_utc(now_ms: u64) -> Duration {
    Duration::from_millis(DAY_MS - now_ms % DAY_MS)
}

/// Whether one record's error in a 207 passes (retry it) or is final.
/// HubSpot's categories: `VALIDATION_ERROR`, `CONFLICT`, `OBJECT_ALREADY_EXISTS`
/// are final; locks, rate limits and internal errors pass.
pub fn record_error_passes(error: &ErrorBody) -> bool {
    let category = error.category.to_ascii_uppercase();
    ["RATE_LIMIT", "LOCK", "TIMEOUT", "INTERNAL", "UNAVAILABLE", "CONCURRENT"].iter().any(|p| category.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn answer(status: u16, headers: &[(&'static str, &str)], body: &str) -> Answer {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        Answer { status: StatusCode::from_u16(status).unwrap(), headers: map, body: body.as_bytes().to_vec() }
    }

    const RATE: &str = r#"{"status":"error","errorType":"RATE_LIMIT","message":"You have reached your ten_secondly_rolling limit.","correlationId":"c-1","policyName":"TEN_SECONDLY_ROLLING"}"#;

    #[test]
    fn a_ten_secondly_429_waits_the_window_the_headers_name() {
        let a = answer(429, &[("x-hubspot-ratelimit-interval-milliseconds", "10000")], RATE);
        match classify(&a, 0) {
            SyncError::Throttled { retry_after, daily, reason } => {
                assert_eq!(retry_after, Some(Duration::from_secs(10)));
                assert!(!daily);
                assert!(reason.contains("ten_secondly_rolling limit") && reason.contains("c-1"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_daily_429_parks_until_midnight_utc() {
        let body = RATE.replace("TEN_SECONDLY_ROLLING", "DAILY");
        let now = 20 * DAY_MS + 23 * 3_600_000; // 23:00 UTC
        let SyncError::Throttled { retry_after, daily, .. } = classify(&answer(429, &[], &body), now) else {
            panic!("not throttled")
        };
        assert!(daily);
        assert_eq!(retry_after, Some(Duration::from_secs(3600)));
    }

    #[test]
    fn a_secondly_429_waits_one_second() {
        let body = RATE.replace("TEN_SECONDLY_ROLLING", "SECONDLY");
        let SyncError::Throttled { retry_after, .. } = classify(&answer(429, &[], &body), 0) else { panic!() };
        assert_eq!(retry_after, Some(Duration::from_secs(1)));
    }

    #[test]
    fn statuses_sort_into_what_the_worker_does() {
        let body = r#"{"status":"error","message":"boom","category":"X"}"#;
        assert!(matches!(classify(&answer(503, &[], body), 0), SyncError::Transient(_)));
        assert!(matches!(classify(&answer(524, &[], ""), 0), SyncError::Transient(_)));
        assert!(matches!(classify(&answer(401, &[], body), 0), SyncError::Auth(_)));
        assert!(matches!(classify(&answer(403, &[], body), 0), SyncError::Permanent(_)));
        assert!(
            matches!(classify(&answer(400, &[], "not json"), 0), SyncError::Permanent(m) if m.contains("not json"))
        );
        assert_eq!(
            classify(&answer(477, &[("retry-after", "30")], body), 0),
            SyncError::Throttled {
                reason: "HubSpot 477: X: boom".into(),
                retry_after: Some(Duration::from_secs(30)),
                daily: false
            }
        );
        assert!(matches!(classify(&answer(423, &[], body), 0), SyncError::Throttled { .. }));
    }

    #[test]
    fn validation_errors_are_final_and_locks_pass() {
        let e = |category: &str| ErrorBody { category: category.into(), ..ErrorBody::default() };
        assert!(!record_error_passes(&e("VALIDATION_ERROR")));
        assert!(!record_error_passes(&e("CONFLICT")));
        assert!(record_error_passes(&e("OBJECT_LOCKED")));
        assert!(record_error_passes(&e("RATE_LIMITS")));
    }
}
