//! CRM configuration made in chat (`crm_settings` tree): the chosen platform,
//! how each platform is authorised, field mappings and queued syncs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Hubspot,
    Salesforce,
    Pipedrive,
    Zoho,
    Freshsales,
    Dynamics,
}

impl Platform {
    /// In the order their stored sync keys are numbered (`crm::sync::key`): append new ones.
    pub const ALL: [Platform; 6] = [
        Platform::Hubspot,
        Platform::Salesforce,
        Platform::Pipedrive,
        Platform::Zoho,
        Platform::Freshsales,
        Platform::Dynamics,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Hubspot => "hubspot",
            Platform::Salesforce => "salesforce",
            Platform::Pipedrive => "pipedrive",
            Platform::Zoho => "zoho",
            Platform::Freshsales => "freshsales",
            Platform::Dynamics => "dynamics",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Platform::Hubspot => "HubSpot",
            Platform::Salesforce => "Salesforce",
            Platform::Pipedrive => "Pipedrive",
            Platform::Zoho => "Zoho CRM",
            Platform::Freshsales => "Freshsales",
            Platform::Dynamics => "Dynamics 365",
        }
    }

    pub fn parse(text: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// Every platform's name, for messages that list them
    /// (`hubspot, salesforce, pipedrive, zoho, freshsales, dynamics`).
    pub fn names() -> String {
        Platform::ALL.map(Platform::as_str).join(", ")
    }

    /// The authorization endpoint for `--oauth` (none: API keys only).
    pub fn authorize_url(self) -> Option<&'static str> {
        match self {
            Platform::Hubspot => Some("https://app.hubspot.com/oauth/authorize"),
            Platform::Salesforce => Some("https://login.salesforce.com/services/oauth2/authorize"),
            Platform::Pipedrive => Some("https://oauth.pipedrive.com/oauth/authorize"),
            Platform::Zoho => Some("https://accounts.zoho.com/oauth/v2/auth"),
            Platform::Freshsales => None,
            // App-only (client credentials): no user consent page.
            Platform::Dynamics => None,
        }
    }

    /// Fields a mapping may target, checked with `field-mapping configure set`.
    pub fn is_valid_remote_field(self, field: &str) -> bool {
        !field.is_empty()
            && field.len() <= 100
            && field.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub platform: Platform,
    pub by: String,
    pub at_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    ApiKey,
    /// An authorization URL was sent; the callback completes it.
    OauthPending,
    /// OAuth completed: tokens stored (sealed), refreshed by the connector.
    Oauth,
}

/// How a platform is authorised (the credential itself is in `secrets`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthRecord {
    pub platform: Platform,
    pub kind: AuthKind,
    pub by: String,
    pub at_ms: u64,
    /// Last characters of the key, to recognise it without revealing it.
    pub hint: Option<String>,
}

/// An OAuth flow in progress: the callback's `state` names the owner's chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthState {
    pub platform: Platform,
    pub chat: String,
    pub by: String,
    pub expires_ms: u64,
}

/// A sync an owner asked for, waiting for the platform's connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub platform: Platform,
    pub full: bool,
    pub by: String,
    pub at_ms: u64,
    pub contacts: u64,
    pub deals: u64,
    pub activities: u64,
}

/// Local field → platform field, per platform.
pub type FieldMapping = BTreeMap<String, String>;

pub fn auth_key(p: Platform) -> String {
    format!("auth:{}", p.as_str())
}
pub fn mapping_key(p: Platform) -> String {
    format!("mapping:{}", p.as_str())
}
pub fn sync_key(p: Platform) -> String {
    format!("sync:{}", p.as_str())
}
pub fn oauth_key(state: &str) -> String {
    format!("oauth:{state}")
}
