//! Webhook signatures, checked over the raw bytes before any parsing.
//! `Mac::verify_slice` compares in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Sha256, Sha512};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("missing signature header {0}")]
    Missing(&'static str),
    #[error("malformed signature header {0}")]
    Malformed(&'static str),
    #[error("signature does not match the body")]
    Mismatch,
}

/// Cloud API: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app_secret, body)>`.
pub fn verify_cloud(app_secret: &str, header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
    const NAME: &str = "X-Hub-Signature-256";
    let header = header.ok_or(SignatureError::Missing(NAME))?;
    let hex_sig = header.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed(NAME))?;
    let expected = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed(NAME))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

/// WAHA: `X-Webhook-Hmac: <hex HMAC-SHA512(key, body)>`.
pub fn verify_waha(key: &str, header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
    const NAME: &str = "X-Webhook-Hmac";
    let header = header.ok_or(SignatureError::Missing(NAME))?;
    let expected = hex::decode(header.trim()).map_err(|_| SignatureError::Malformed(NAME))?;
    let mut mac = Hmac::<Sha512>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

/// Signs like Meta does; for tests, fakes and the load generator.
pub fn sign_cloud(app_secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Signs like WAHA does; for tests and fakes.
pub fn sign_waha(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wahas_documented_test_vector_verifies() {
        let body = br#"{"event":"message","session":"default","engine":"WEBJS"}"#;
        let sig = "208f8a55dde9e05519e898b10b89bf0d0b3b0fdf11fdbf09b6b90476301b98d8097c462b2b17a6ce93b6b47a136cf2e78a33a63f6752c2c1631777076153fa89";
        assert_eq!(verify_waha("my-secret-key", Some(sig), body), Ok(()));
        assert_eq!(sign_waha("my-secret-key", body), sig);
    }

    #[test]
    fn a_cloud_signature_over_other_bytes_is_refused() {
        let sig = sign_cloud("app-secret", b"{\"a\":1}");
        assert_eq!(verify_cloud("app-secret", Some(&sig), b"{\"a\":1}"), Ok(()));
        assert_eq!(verify_cloud("app-secret", Some(&sig), b"{\"a\": 1}"), Err(SignatureError::Mismatch));
        assert_eq!(verify_cloud("other", Some(&sig), b"{\"a\":1}"), Err(SignatureError::Mismatch));
        assert!(matches!(verify_cloud("app-secret", None, b""), Err(SignatureError::Missing(_))));
        assert!(matches!(verify_cloud("app-secret", Some("md5=00"), b""), Err(SignatureError::Malformed(_))));
        assert!(matches!(verify_cloud("app-secret", Some("sha256=zz"), b""), Err(SignatureError::Malformed(_))));
    }
}
