//! Reading Pipedrive's answers (throttling, Cloudflare blocks, validation
//! errors) and the OAuth token endpoint. Pure classification plus the
//! token requests; the connector's requests live in `mod.rs`.

use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use super::wire::{self, Envelope, Id};
use crate::config::PipedriveConfig;
use crate::connectors::credential::Tokens;
use crate::connectors::http::{Answer, Http};
use crate::connectors::limit::Limiter;
use crate::connectors::{Outcome, SyncError};

/// Cloudflare's HTML 403 means "stop hammering": hold everything this long.
pub(super) const CLOUDFLARE_BACKOFF: Duration = Duration::from_secs(60);
pub(super) const TIMEOUT: Duration = Duration::from_secs(30);
/// Query values: everything but unreserved characters is escaped.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

pub(super) fn query_string(query: &[(&str, String)]) -> String {
    let pairs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY))).collect();
    if pairs.is_empty() { String::new() } else { format!("?{}", pairs.join("&")) }
}

pub(super) fn header_u64(a: &Answer, name: &str) -> Option<u64> {
    a.header(name)?.trim().parse().ok()
}

/// Cloudflare's block page rather than Pipedrive's JSON.
pub(super) fn is_html(a: &Answer) -> bool {
    a.header("content-type").is_some_and(|t| t.contains("text/html"))
        || a.body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
}

/// What a failed answer means for the worker.
pub fn classify(a: &Answer) -> SyncError {
    let message = wire::error_message(&a.body).unwrap_or_else(|| a.snippet());
    let reason = format!("{}: {message}", a.status.as_u16());
    match a.status.as_u16() {
        429 => SyncError::Throttled {
            reason,
            retry_after: a.retry_after().or(header_u64(a, "x-ratelimit-reset").map(Duration::from_secs)),
            daily: header_u64(a, "x-daily-requests-left") == Some(0),
        },
        403 if is_html(a) => SyncError::Throttled {
            reason: "403: blocked by Cloudflare after too many requests".into(),
            retry_after: Some(CLOUDFLARE_BACKOFF),
            daily: false,
        },
        _ => match a.common_error() {
            SyncError::Auth(_) => SyncError::Auth(reason),
            SyncError::Transient(_) => SyncError::Transient(reason),
            _ => SyncError::Permanent(reason),
        },
    }
}

/// Reads a 2xx answer's `data`.
pub(super) fn data<T: DeserializeOwned>(a: &Answer) -> Result<(T, Option<String>), SyncError> {
    if !a.status.is_success() {
        return Err(classify(a));
    }
    let envelope: Envelope<T> = a.json()?;
    let next = envelope.additional_data.and_then(|d| d.next_cursor).filter(|c| !c.is_empty());
    let data = envelope.data.ok_or_else(|| SyncError::Transient(format!("answer without data: {}", a.snippet())))?;
    Ok((data, next))
}

/// What one write answer means for its record.
pub(super) fn written(a: &Answer) -> Result<Outcome, SyncError> {
    match a.status.as_u16() {
        200..=299 => Ok(Outcome::Done { remote_id: data::<Id>(a)?.0.id.to_string() }),
        // The record itself is wrong (validation): dead-letter it, never retry.
        400 | 404 | 409 | 410 | 422 => {
            Ok(Outcome::Dead { reason: wire::error_message(&a.body).unwrap_or_else(|| a.snippet()) })
        }
        _ => Err(classify(a)),
    }
}

fn now_ms() -> u64 {
    crate::clock::now_ms()
}

/// `POST {oauth_url}/oauth/token` with the app's Basic credentials.
pub(super) async fn token_request(
    http: &Http,
    config: &PipedriveConfig,
    form: &[(&str, &str)],
) -> Result<Tokens, SyncError> {
    let (Some(id), Some(secret)) = (config.client_id.as_deref(), config.client_secret.as_ref()) else {
        return Err(SyncError::Auth("Pipedrive client_id/client_secret are not configured".into()));
    };
    let body: Vec<String> = form.iter().map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY))).collect();
    let url = format!("{}/oauth/token", config.oauth_url.as_str().trim_end_matches('/'));
    let request = http
        .client
        .post(url)
        .basic_auth(id, Some(secret.expose()))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.join("&"));
    let answer = http.send(request).await?;
    if !answer.status.is_success() {
        return Err(match answer.status.as_u16() {
            // invalid_grant and friends: the owner must authorise again.
            400 | 401 | 403 => SyncError::Auth(format!("token refused: {}", answer.snippet())),
            _ => classify(&answer),
        });
    }
    let t: wire::TokenAnswer = answer.json()?;
    if t.access_token.is_empty() {
        return Err(SyncError::Auth("token answer without access_token".into()));
    }
    Ok(Tokens {
        access_token: t.access_token,
        refresh_token: t.refresh_token,
        expires_at_ms: t.expires_in.map(|s| now_ms() + s * 1000),
        instance_url: None,
        api_domain: t.api_domain.map(|d| d.trim_end_matches('/').to_string()),
    })
}

/// The OAuth authorization-code exchange (for `/oauth/callback/pipedrive`).
pub async fn exchange_code(config: &PipedriveConfig, code: &str, redirect_uri: &str) -> Result<Tokens, SyncError> {
    let http = Http::new(Limiter::new(0, super::WINDOW), TIMEOUT);
    token_request(
        &http,
        config,
        &[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect_uri)],
    )
    .await
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

    #[test]
    fn a_burst_429_waits_for_the_window_and_a_spent_day_says_daily() {
        let burst = answer(429, &[("x-ratelimit-reset", "2"), ("x-daily-requests-left", "120")], "{}");
        assert_eq!(
            classify(&burst),
            SyncError::Throttled { reason: "429: {}".into(), retry_after: Some(Duration::from_secs(2)), daily: false }
        );
        let daily = answer(429, &[("x-ratelimit-reset", "7"), ("x-daily-requests-left", "0")], "{}");
        assert!(matches!(classify(&daily), SyncError::Throttled { daily: true, .. }));
        let after = answer(429, &[("retry-after", "9"), ("x-ratelimit-reset", "2")], "{}");
        assert!(matches!(classify(&after), SyncError::Throttled { retry_after: Some(d), .. } if d.as_secs() == 9));
    }

    #[test]
    fn an_html_403_is_cloudflare_and_a_json_403_is_for_good() {
        let html = answer(403, &[("content-type", "text/html")], "<!DOCTYPE html><title>Attention Required</title>");
        assert!(
            matches!(classify(&html), SyncError::Throttled { retry_after: Some(d), .. } if d == CLOUDFLARE_BACKOFF)
        );
        let json = answer(403, &[], r#"{"success":false,"error":"Plan limit","code":"feature_capping_deals_limit"}"#);
        assert_eq!(classify(&json), SyncError::Permanent("403: Plan limit".into()));
        assert!(matches!(classify(&answer(503, &[], "")), SyncError::Transient(_)));
        assert!(matches!(classify(&answer(401, &[], "")), SyncError::Auth(_)));
    }

    #[test]
    fn a_validation_error_is_dead_with_the_vendors_words() {
        let a = answer(400, &[], r#"{"success":false,"error":"Validation failed: name: Name must be given"}"#);
        assert_eq!(written(&a), Ok(Outcome::Dead { reason: "Validation failed: name: Name must be given".into() }));
        let ok = answer(200, &[], r#"{"success":true,"data":{"id":17,"name":"x"}}"#);
        assert_eq!(written(&ok), Ok(Outcome::Done { remote_id: "17".into() }));
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(
            query_string(&[("term", "a b&c".into()), ("since", "2026-11-23T03:00:00Z".into())]),
            "?term=a%20b%26c&since=2026-11-23T03%3A00%3A00Z"
        );
    }
}
