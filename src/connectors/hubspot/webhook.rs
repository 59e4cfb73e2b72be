//! HubSpot webhooks (apps only): the v3 signature over the raw request, and
//! the delivery body parsed into typed events. Deliveries can repeat and
//! arrive out of order: callers dedupe on `event_id`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// Older signatures are replays (HubSpot: reject after five minutes).
pub const MAX_AGE_MS: u64 = 5 * 60_000;

/// Checks `X-HubSpot-Signature-v3`: base64 HMAC-SHA256 with the app's client
/// secret over `method + uri + body + timestamp`, the timestamp
/// (`X-HubSpot-Request-Timestamp`, ms) at most five minutes old. `uri` is the
/// full URI as received (`https://host/path?query`); the characters HubSpot
/// documents are URL-decoded first. Compared in constant time.
pub fn verify_signature_v3(
    client_secret: &str,
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp_ms_header: &str,
    signature_header: &str,
    now_ms: u64,
) -> bool {
    let Ok(timestamp) = timestamp_ms_header.trim().parse::<u64>() else { return false };
    if now_ms.abs_diff(timestamp) > MAX_AGE_MS {
        return false;
    }
    let Ok(expected) = STANDARD.decode(signature_header.trim()) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(client_secret.as_bytes()) else { return false };
    feed(&mut mac, method, uri, body, timestamp_ms_header.trim());
    mac.verify_slice(&expected).is_ok()
}

/// Signs like HubSpot does; for tests and fakes.
pub fn sign_v3(client_secret: &str, method: &str, uri: &str, body: &[u8], timestamp_ms: u64) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(client_secret.as_bytes()) else { return String::new() };
    feed(&mut mac, method, uri, body, &timestamp_ms.to_string());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn feed(mac: &mut Hmac<Sha256>, method: &str, uri: &str, body: &[u8], timestamp: &str) {
    mac.update(method.as_bytes());
    mac.update(decode_uri(uri).as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
}

/// HubSpot signs the URI with these escapes decoded (its "Validating
/// requests" page lists them); every other escape stays as sent.
fn decode_uri(uri: &str) -> String {
    const DECODED: [(&str, char); 12] = [
        ("%3A", ':'),
        ("%2F", '/'),
        ("%3F", '?'),
        ("%40", '@'),
        ("%21", '!'),
        ("%24", '$'),
        ("%27", '\''),
        ("%28", '('),
        ("%29", ')'),
        ("%2A", '*'),
        ("%2C", ','),
        ("%3B", ';'),
    ];
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3).unwrap_or(&rest[at..]);
        match DECODED.iter().find(|(e, _)| e.eq_ignore_ascii_case(escape)) {
            Some((_, c)) => {
                out.push(*c);
                rest = &rest[at + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// One event of a delivery.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    pub event_id: u64,
    /// `contact.propertyChange`, `deal.creation`, `object.creation`, …
    pub subscription_type: String,
    pub object_id: u64,
    #[serde(default)]
    pub property_name: Option<String>,
    #[serde(default)]
    pub property_value: Option<String>,
    /// When it happened (ms).
    pub occurred_at: u64,
    /// `CRM_UI`, `INTEGRATION`, `API`, … (our own writes come back as the
    /// integration's changes).
    #[serde(default)]
    pub change_source: Option<String>,
    #[serde(default)]
    pub portal_id: Option<u64>,
    #[serde(default)]
    pub subscription_id: Option<u64>,
    #[serde(default)]
    pub attempt_number: Option<u32>,
}

impl WebhookEvent {
    /// The object type the subscription names (`contact`, `deal`, …).
    pub fn object(&self) -> &str {
        self.subscription_type.split('.').next().unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("HubSpot webhook body is not an array of events: {0}")]
    Malformed(String),
}

/// A delivery's body: a JSON array of events.
pub fn parse_webhook(body: &[u8]) -> Result<Vec<WebhookEvent>, WebhookError> {
    serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_764_000_000_000;
    const URI: &str = "https://juru.example/webhooks/hubspot?x=1";

    #[test]
    fn a_signed_delivery_verifies_and_a_changed_one_does_not() {
        let body = br#"[{"eventId":1}]"#;
        let sig = sign_v3("secret", "POST", URI, body, NOW - 1000);
        let ts = (NOW - 1000).to_string();
        assert!(verify_signature_v3("secret", "POST", URI, body, &ts, &sig, NOW));
        assert!(!verify_signature_v3("secret", "POST", URI, b"[]", &ts, &sig, NOW), "body changed");
        assert!(!verify_signature_v3("other", "POST", URI, body, &ts, &sig, NOW), "wrong secret");
        assert!(!verify_signature_v3("secret", "GET", URI, body, &ts, &sig, NOW), "method changed");
        assert!(!verify_signature_v3("secret", "POST", URI, body, "x", &sig, NOW), "bad timestamp");
        assert!(!verify_signature_v3("secret", "POST", URI, body, &ts, "%%%", NOW), "not base64");
    }

    #[test]
    fn a_signature_older_than_five_minutes_is_a_replay() {
        let old = NOW - MAX_AGE_MS - 1;
        let sig = sign_v3("secret", "POST", URI, b"[]", old);
        assert!(!verify_signature_v3("secret", "POST", URI, b"[]", &old.to_string(), &sig, NOW));
    }

    #[test]
    fn the_documented_escapes_are_decoded_before_signing() {
        assert_eq!(decode_uri("https://a/b%3Fc%3Ad%2520%"), "https://a/b?c:d%2520%");
        let sig = sign_v3("s", "POST", "https://a/p?email=a@b", b"", NOW);
        assert!(verify_signature_v3("s", "POST", "https://a/p?email=a%40b", b"", &NOW.to_string(), &sig, NOW));
    }

    #[test]
    fn a_delivery_parses_into_typed_events() {
        let body = br#"[{"eventId":100,"subscriptionId":7,"portalId":62515,"appId":1,"occurredAt":1764000000000,
            "subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":123,
            "propertyName":"firstname","propertyValue":"Sari","changeSource":"CRM_UI"},
            {"eventId":101,"occurredAt":1,"subscriptionType":"deal.creation","objectId":9}]"#;
        let events = parse_webhook(body).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].object(), "contact");
        assert_eq!(events[0].property_value.as_deref(), Some("Sari"));
        assert_eq!(events[1].property_name, None);
        assert!(parse_webhook(br#"{"eventId":1}"#).is_err());
        assert!(parse_webhook(b"\xff").is_err());
    }
}
