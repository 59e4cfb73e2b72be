//! Webhook routes: verify the signature over the raw bytes, parse once, accept
//! durably, and only then answer 2xx.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;

use super::{AppError, AppState};
use crate::channel::{ParseError, cloud, signature, waha};
use crate::runtime::AcceptReport;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn rejected(channel: &'static str, reason: &'static str) {
    metrics::counter!("juru_webhooks_rejected_total", "channel" => channel, "reason" => reason).increment(1);
}

/// `POST /api/whatsapp/webhook`: WAHA envelopes and the flat `{from, body, timestamp, message_id}` form.
pub async fn waha(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AcceptReport>, AppError> {
    metrics::counter!("juru_webhooks_received_total", "channel" => "waha").increment(1);
    let config = &app.config.waha;
    if !config.is_active() {
        rejected("waha", "not_configured");
        return Err(AppError::NotConfigured("waha"));
    }
    if let Some(key) = &config.webhook_hmac_key {
        signature::verify_waha(key.expose(), header(&headers, "x-webhook-hmac"), &body)
            .inspect_err(|_| rejected("waha", "signature"))?;
    }
    let events = waha::parse(&body, &config.session).inspect_err(|e| reject_parse("waha", e))?;
    Ok(Json(app.runtime.accept(events).await?))
}

/// `GET /api/whatsapp/cloud`: Meta's verification handshake.
pub async fn cloud_verify(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<String, AppError> {
    let expected = app.config.cloud.verify_token.as_ref().ok_or(AppError::NotConfigured("cloud"))?;
    let mode = query.get("hub.mode").map(String::as_str);
    let token = query.get("hub.verify_token").map(String::as_str);
    let challenge = query.get("hub.challenge");
    match (mode, token, challenge) {
        (Some("subscribe"), Some(token), Some(challenge)) if constant_time_eq(token, expected.expose()) => {
            Ok(challenge.clone())
        }
        _ => Err(AppError::Forbidden),
    }
}

/// `POST /api/whatsapp/cloud`: notifications signed with the app secret.
pub async fn cloud(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AcceptReport>, AppError> {
    metrics::counter!("juru_webhooks_received_total", "channel" => "cloud").increment(1);
    let Some(secret) = app.config.cloud.app_secret.as_ref().filter(|_| app.config.cloud.is_active()) else {
        rejected("cloud", "not_configured");
        return Err(AppError::NotConfigured("cloud"));
    };
    signature::verify_cloud(secret.expose(), header(&headers, "x-hub-signature-256"), &body)
        .inspect_err(|_| rejected("cloud", "signature"))?;
    let events = cloud::parse(&body).inspect_err(|e| reject_parse("cloud", e))?;
    Ok(Json(app.runtime.accept(events).await?))
}

fn reject_parse(channel: &'static str, e: &ParseError) {
    tracing::debug!(channel, error = %e, "webhook body refused");
    rejected(channel, "malformed");
}

pub(super) fn constant_time_eq(a: &str, b: &str) -> bool {
    use hmac::Mac;
    // Comparing MACs of both values keeps the time independent of where they differ.
    let mac = |v: &str| {
        let mut m =
            <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(b"juru-verify-token").expect("any key length");
        m.update(v.as_bytes());
        m.finalize().into_bytes()
    };
    mac(a) == mac(b)
}
