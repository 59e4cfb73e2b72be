//! Pipedrive Webhooks v2: no signature, only the Basic-auth credentials we
//! set when subscribing (`http_auth_user`/`http_auth_password`), so those are
//! checked in constant time before the body is read.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::wire::RemoteRecord;

/// Whether `Authorization: Basic …` carries exactly `user:password`.
/// Compares SHA-256 digests so neither content nor length leaks by timing.
pub fn verify_basic_auth(authorization_header: Option<&str>, user: &str, password: &str) -> bool {
    let Some(header) = authorization_header else { return false };
    let given = header.trim();
    let given = given.strip_prefix("Basic ").or_else(|| given.strip_prefix("basic ")).unwrap_or("");
    let expected = base64(format!("{user}:{password}").as_bytes());
    let (a, b) = (Sha256::digest(given.trim().as_bytes()), Sha256::digest(expected.as_bytes()));
    let same = a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
    same && !user.is_empty()
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One webhook delivery.
#[derive(Debug, Deserialize)]
pub struct WebhookEvent {
    pub meta: WebhookMeta,
    /// The record after the change (absent on delete).
    #[serde(default)]
    pub data: Option<RemoteRecord>,
    /// Only the changed fields' previous values; kept for logs, not read.
    #[serde(default)]
    pub previous: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WebhookMeta {
    /// `create`, `change`, `delete`.
    pub action: String,
    /// `person`, `organization`, `deal`, `activity`, `note`, …
    pub entity: String,
    pub entity_id: IdText,
    /// The event's id: deliveries are retried, dedupe on it.
    pub id: String,
    pub timestamp: String,
    /// `app` (a user) or `api` (an integration, maybe us).
    pub change_source: String,
}

/// Ids arrive as strings in v2 payloads and as numbers in older ones.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum IdText {
    Text(String),
    Number(u64),
    #[default]
    None,
}

impl IdText {
    pub fn as_string(&self) -> Option<String> {
        match self {
            IdText::Text(s) if !s.is_empty() => Some(s.clone()),
            IdText::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("not a Pipedrive webhook v2 payload: {0}")]
    Malformed(String),
}

/// Reads a delivery's body (after [`verify_basic_auth`]).
pub fn parse_webhook(body: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let event: WebhookEvent = serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    if event.meta.entity.is_empty() || event.meta.action.is_empty() {
        return Err(WebhookError::Malformed("meta.entity and meta.action are required".into()));
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_passes_only_with_the_exact_credentials() {
        assert_eq!(base64(b"juru:s3cret"), "anVydTpzM2NyZXQ=");
        assert!(verify_basic_auth(Some("Basic anVydTpzM2NyZXQ="), "juru", "s3cret"));
        assert!(!verify_basic_auth(Some("Basic anVydTpzM2NyZXR="), "juru", "s3cret"));
        assert!(!verify_basic_auth(Some("Bearer anVydTpzM2NyZXQ="), "juru", "s3cret"));
        assert!(!verify_basic_auth(None, "juru", "s3cret"));
        assert!(!verify_basic_auth(Some("Basic Og=="), "", ""));
    }

    #[test]
    fn a_v2_payload_reads_typed_and_garbage_is_refused() {
        let body = br#"{"meta":{"action":"change","entity":"person","entity_id":"42","id":"e-1",
            "timestamp":"2026-11-23T03:00:00.000Z","change_source":"app","is_bulk_edit":false},
            "data":{"id":42,"name":"Budi","update_time":"2026-11-23T03:00:00Z",
            "custom_fields":{"k":"628123","other":{"value":5}}},"previous":{"name":"B"}}"#;
        let ev = parse_webhook(body).unwrap();
        assert_eq!(ev.meta.entity_id.as_string().as_deref(), Some("42"));
        assert_eq!(ev.data.unwrap().text_field("k").as_deref(), Some("628123"));
        assert!(parse_webhook(b"{}").is_err());
        assert!(parse_webhook(b"\xff").is_err());
    }
}
