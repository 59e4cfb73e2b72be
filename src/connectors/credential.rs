//! What a connector authenticates with: an API key / private-app token, or
//! OAuth tokens that refresh. Stored sealed in the `secrets` tree (JSON; a
//! bare string from `#crm auth --api-key` reads as an API key).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Credential {
    /// HubSpot private-app token / service key, Pipedrive API token.
    ApiKey(String),
    OAuth(Tokens),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::ApiKey(_) => f.write_str("ApiKey(•••)"),
            Credential::OAuth(t) => f.debug_tuple("OAuth").field(t).finish(),
        }
    }
}

/// An OAuth token answer, normalised across vendors.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// When the access token stops working (ms); refresh a little before.
    pub expires_at_ms: Option<u64>,
    /// Salesforce: the org's API host from the token answer.
    pub instance_url: Option<String>,
    /// Pipedrive: the company's API host from the token answer.
    pub api_domain: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"•••")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "•••"))
            .field("expires_at_ms", &self.expires_at_ms)
            .field("instance_url", &self.instance_url)
            .field("api_domain", &self.api_domain)
            .finish()
    }
}

impl Tokens {
    /// Refresh this long before expiry, so no request goes with a dead token.
    pub const REFRESH_MARGIN_MS: u64 = 120_000;

    pub fn needs_refresh(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_some_and(|at| now_ms + Self::REFRESH_MARGIN_MS >= at)
    }
}

impl Credential {
    /// Reads what the `secrets` tree holds for a platform.
    pub fn from_stored(plain: &str) -> Credential {
        serde_json::from_str(plain).unwrap_or_else(|_| Credential::ApiKey(plain.trim().to_string()))
    }

    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Where a connector hands tokens it refreshed, to be sealed and stored
/// (vendors may rotate refresh tokens; losing one means re-authorising).
pub type TokenSink = Arc<dyn Fn(Tokens) + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_key_reads_as_an_api_key_and_oauth_round_trips() {
        assert_eq!(Credential::from_stored(" pat-na1-123 "), Credential::ApiKey("pat-na1-123".into()));
        let oauth =
            Credential::OAuth(Tokens { access_token: "a".into(), expires_at_ms: Some(10), ..Tokens::default() });
        assert_eq!(Credential::from_stored(&oauth.to_stored()), oauth);
        assert!(!format!("{oauth:?}").contains("\"a\""), "never printed");
    }
}
