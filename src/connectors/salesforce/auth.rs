//! Salesforce access tokens: which OAuth flow the configuration and stored
//! credential allow, and one token request per flow (form-encoded POST to
//! `{login_url}/services/oauth2/token`).

use std::path::PathBuf;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

use super::wire::{TokenAnswer, classify_token_error};
use crate::config::SalesforceConfig;
use crate::connectors::SyncError;
use crate::connectors::credential::{Credential, Tokens};
use crate::connectors::http::Http;

/// How a new access token is obtained when the current one is missing,
/// near expiry or refused.
#[derive(Clone, PartialEq)]
pub enum Flow {
    /// After the web-server flow: `grant_type=refresh_token`.
    Refresh { refresh_token: String },
    /// Server-to-server as `username`, with an RS256 assertion signed by the PEM key.
    Jwt { username: String, key_path: PathBuf },
    /// Server-to-server as the app's "Run As" user.
    ClientCredentials,
    /// Nothing to renew with: a stored access token works until it expires.
    Nothing,
}

impl std::fmt::Debug for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Flow::Refresh { .. } => "Refresh",
            Flow::Jwt { .. } => "Jwt",
            Flow::ClientCredentials => "ClientCredentials",
            Flow::Nothing => "Nothing",
        })
    }
}

impl Flow {
    /// Stored refresh token first (it is what the owner authorised), then
    /// the configured one, then JWT bearer, then client credentials.
    pub fn choose(config: &SalesforceConfig, credential: &Credential) -> Flow {
        let stored = match credential {
            Credential::OAuth(t) => t.refresh_token.clone().filter(|r| !r.is_empty()),
            Credential::ApiKey(_) => None,
        };
        let configured = config.refresh_token.as_ref().map(|s| s.expose().to_string());
        if let Some(refresh_token) = stored.or(configured) {
            return Flow::Refresh { refresh_token };
        }
        if let (Some(username), Some(key_path)) = (&config.username, &config.private_key_path) {
            return Flow::Jwt { username: username.clone(), key_path: key_path.clone() };
        }
        if config.client_id.is_some() && config.client_secret.is_some() {
            return Flow::ClientCredentials;
        }
        Flow::Nothing
    }
}

/// The stored tokens to start with, if any are usable (Salesforce API calls
/// need the `instance_url` the token came with).
pub fn initial_tokens(credential: &Credential) -> Option<Tokens> {
    match credential {
        Credential::OAuth(t) if !t.access_token.is_empty() && t.instance_url.is_some() => Some(t.clone()),
        _ => None,
    }
}

fn token_url(config: &SalesforceConfig) -> String {
    format!("{}/services/oauth2/token", config.login_url.as_str().trim_end_matches('/'))
}

fn client_id(config: &SalesforceConfig) -> Result<&str, SyncError> {
    config
        .client_id
        .as_deref()
        .ok_or_else(|| SyncError::Auth("set [crm.salesforce] client_id (the app's consumer key)".into()))
}

fn client_secret(config: &SalesforceConfig) -> Result<&str, SyncError> {
    config
        .client_secret
        .as_ref()
        .map(|s| s.expose())
        .ok_or_else(|| SyncError::Auth("set [crm.salesforce] client_secret (the app's consumer secret)".into()))
}

/// One token request for `flow`; `now_ms` dates the JWT assertion.
pub async fn request(http: &Http, config: &SalesforceConfig, flow: &Flow, now_ms: u64) -> Result<Tokens, SyncError> {
    let (form, kept_refresh) = match flow {
        Flow::Refresh { refresh_token } => {
            let mut form = vec![
                ("grant_type", "refresh_token".to_string()),
                ("client_id", client_id(config)?.to_string()),
                ("refresh_token", refresh_token.clone()),
            ];
            // Apps that do not require the secret for refresh accept it anyway.
            if let Ok(secret) = client_secret(config) {
                form.push(("client_secret", secret.to_string()));
            }
            (form, Some(refresh_token.clone()))
        }
        Flow::Jwt { username, key_path } => {
            let assertion = assertion(config, username, key_path, now_ms)?;
            (vec![("grant_type", JWT_GRANT.to_string()), ("assertion", assertion)], None)
        }
        Flow::ClientCredentials => (
            vec![
                ("grant_type", "client_credentials".to_string()),
                ("client_id", client_id(config)?.to_string()),
                ("client_secret", client_secret(config)?.to_string()),
            ],
            None,
        ),
        Flow::Nothing => {
            return Err(SyncError::Auth(
                "no way to get a Salesforce token: run `#crm auth --platform salesforce --oauth`, or set \
                 client_id + client_secret (client credentials) or username + private_key_path (JWT bearer)"
                    .into(),
            ));
        }
    };
    grant(http, config, &form, kept_refresh, now_ms).await
}

/// The authorization-code exchange of the web-server flow.
pub async fn exchange(
    http: &Http,
    config: &SalesforceConfig,
    code: &str,
    redirect_uri: &str,
    now_ms: u64,
) -> Result<Tokens, SyncError> {
    let form = [
        ("grant_type", "authorization_code".to_string()),
        ("code", code.to_string()),
        ("redirect_uri", redirect_uri.to_string()),
        ("client_id", client_id(config)?.to_string()),
        ("client_secret", client_secret(config)?.to_string()),
    ];
    grant(http, config, &form, None, now_ms).await
}

async fn grant(
    http: &Http,
    config: &SalesforceConfig,
    form: &[(&str, String)],
    kept_refresh: Option<String>,
    now_ms: u64,
) -> Result<Tokens, SyncError> {
    let request = http
        .client
        .post(token_url(config))
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(reqwest::header::ACCEPT, "application/json")
        .body(form_encode(form));
    let answer = http.send(request).await?;
    if !answer.status.is_success() {
        return Err(classify_token_error(&answer));
    }
    let token: TokenAnswer = answer.json()?;
    let instance_url = token.instance_url.filter(|u| !u.is_empty());
    if token.access_token.is_empty() || instance_url.is_none() {
        return Err(SyncError::Transient(format!(
            "token answer without access_token/instance_url: {}",
            answer.snippet()
        )));
    }
    Ok(Tokens {
        access_token: token.access_token,
        // Refresh answers usually carry no new refresh token: keep ours.
        refresh_token: token.refresh_token.or(kept_refresh),
        expires_at_ms: token.expires_in.map(|s| now_ms + s * 1000),
        instance_url: instance_url.map(|u| u.trim_end_matches('/').to_string()),
        api_domain: None,
    })
}

/// `application/x-www-form-urlencoded` (reqwest's `form` feature is off).
pub fn form_encode(form: &[(&str, String)]) -> String {
    form.iter()
        .map(|(k, v)| {
            format!("{}={}", utf8_percent_encode(k, NON_ALPHANUMERIC), utf8_percent_encode(v, NON_ALPHANUMERIC))
        })
        .collect::<Vec<_>>()
        .join("&")
}

pub const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Salesforce wants the assertion short-lived: at most 3 minutes.
const ASSERTION_SECS: u64 = 170;

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: u64,
}

/// The JWT bearer assertion: RS256 over `{iss: client_id, sub: username,
/// aud: login_url, exp}`, signed with the PEM key read fresh (so a rotated
/// key file is picked up without a restart).
pub fn assertion(
    config: &SalesforceConfig,
    username: &str,
    key_path: &std::path::Path,
    now_ms: u64,
) -> Result<String, SyncError> {
    let pem = std::fs::read(key_path)
        .map_err(|e| SyncError::Auth(format!("cannot read the Salesforce private key {}: {e}", key_path.display())))?;
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem)
        .map_err(|e| SyncError::Auth(format!("{} is not an RSA private key in PEM form: {e}", key_path.display())))?;
    let claims = Claims {
        iss: client_id(config)?,
        sub: username,
        aud: config.login_url.as_str().trim_end_matches('/'),
        exp: now_ms / 1000 + ASSERTION_SECS,
    };
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), &claims, &key)
        .map_err(|e| SyncError::Auth(format!("cannot sign the JWT assertion: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Secret, Url};

    fn config() -> SalesforceConfig {
        SalesforceConfig {
            login_url: Url("https://login.salesforce.com".into()),
            client_id: Some("cid".into()),
            ..SalesforceConfig::default()
        }
    }

    #[test]
    fn the_flow_follows_what_is_stored_then_what_is_configured() {
        let mut c = config();
        assert_eq!(Flow::choose(&c, &Credential::ApiKey("x".into())), Flow::Nothing);
        c.client_secret = Secret::try_from("s".to_string()).ok();
        assert_eq!(Flow::choose(&c, &Credential::ApiKey("x".into())), Flow::ClientCredentials);
        c.username = Some("bot@acme.com".into());
        c.private_key_path = Some("/k.pem".into());
        assert!(matches!(Flow::choose(&c, &Credential::ApiKey("x".into())), Flow::Jwt { .. }));
        let stored = Credential::OAuth(Tokens { refresh_token: Some("r".into()), ..Tokens::default() });
        assert_eq!(Flow::choose(&c, &stored), Flow::Refresh { refresh_token: "r".into() });
    }

    #[test]
    fn the_form_is_url_encoded() {
        assert_eq!(form_encode(&[("a", "x y&z=/".into()), ("b", "ok".into())]), "a=x%20y%26z%3D%2F&b=ok");
    }

    #[test]
    fn a_missing_key_file_is_an_auth_error_that_names_it() {
        let err = assertion(&config(), "u", std::path::Path::new("/nonexistent/key.pem"), 0).unwrap_err();
        assert!(matches!(err, SyncError::Auth(m) if m.contains("/nonexistent/key.pem")));
    }
}
