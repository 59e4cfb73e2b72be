//! Webhook routes: verify the signature over the raw bytes, parse once, accept
//! durably, and only then answer 2xx.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;

use super::{AppError, AppState};
use crate::channel::Channel;
use crate::runtime::AcceptReport;

fn rejected(channel: &'static str, reason: &'static str) {
    metrics::counter!("juru_webhooks_rejected_total", "channel" => channel, "reason" => reason).increment(1);
}

/// `POST /api/whatsapp/webhook`: WAHA envelopes and the flat `{from, body, timestamp, message_id}` form.
pub async fn waha(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AcceptReport>, AppError> {
    receive(&app, Channel::Waha, &headers, &body).await
}

/// `POST /api/whatsapp/cloud`: notifications signed with the app secret.
pub async fn cloud(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AcceptReport>, AppError> {
    receive(&app, Channel::Cloud, &headers, &body).await
}

/// Every webhook the same way, whatever the gateway: verified over the raw
/// bytes, parsed by the channel, accepted durably, then answered.
async fn receive(
    app: &AppState,
    channel: Channel,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Json<AcceptReport>, AppError> {
    let name = channel.as_str();
    metrics::counter!("juru_webhooks_received_total", "channel" => name).increment(1);
    let Some(gateway) = app.runtime.gateway(channel) else {
        rejected(name, "not_configured");
        return Err(AppError::NotConfigured(name));
    };
    gateway.verify(headers, body).inspect_err(|_| rejected(name, "signature"))?;
    let events = gateway.parse(body).inspect_err(|e| {
        tracing::debug!(channel = name, error = %e, "webhook body refused");
        rejected(name, "malformed");
    })?;
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
