//! `config.toml` plus environment overrides (`JURU_SECTION__KEY=value`).
//!
//! Unknown keys and wrong values stop start-up with a message naming the key
//! (`bot.owners[1]: ...`). A channel whose required keys are absent is simply
//! not active.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config key `{key}`: {message}")]
    Key { key: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub waha: WahaConfig,
    pub cloud: CloudConfig,
    pub bot: BotConfig,
    pub sales: SalesConfig,
    pub llm: LlmConfig,
    pub runtime: RuntimeConfig,
    pub outbox: OutboxConfig,
    pub crm: CrmConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub admin_token: Option<Secret>,
    /// Largest webhook body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { listen: ([127, 0, 0, 1], 8080).into(), admin_token: None, max_body_bytes: 2 * 1024 * 1024 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub path: PathBuf,
    /// sled page cache, in MiB: bounds memory whatever the data size.
    pub cache_mb: u64,
    /// Days the audit trail (every message in and out) is kept; 0 = forever.
    pub retain_messages_days: u64,
    /// Days the delivery state of a sent message is kept; 0 = forever.
    pub retain_delivery_days: u64,
    /// Days a reply that could not be sent is kept in the dead-letter tree; 0 = forever.
    pub retain_dead_days: u64,
    /// Hours between two retention sweeps (it runs in the background, a slice at a time).
    pub sweep_every_hours: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            path: PathBuf::from("data"),
            cache_mb: 64,
            retain_messages_days: 180,
            retain_delivery_days: 30,
            retain_dead_days: 90,
            sweep_every_hours: 6,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WahaConfig {
    pub base_url: Option<Url>,
    pub api_key: Option<Secret>,
    pub session: String,
    pub webhook_hmac_key: Option<Secret>,
    /// Minimum gap between two messages to one chat (anti-ban pacing).
    pub min_gap_ms: u64,
    /// Poll WAHA's labels API this often (0 = off) to catch label changes
    /// the engine sends no events for (WEBJS) or missed while juru was down.
    pub label_poll_secs: u64,
}

impl Default for WahaConfig {
    fn default() -> Self {
        WahaConfig {
            base_url: None,
            api_key: None,
            session: "default".into(),
            webhook_hmac_key: None,
            min_gap_ms: 1000,
            label_poll_secs: 300,
        }
    }
}

impl WahaConfig {
    pub fn is_active(&self) -> bool {
        self.base_url.is_some()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CloudConfig {
    pub graph_base_url: Url,
    pub access_token: Option<Secret>,
    pub app_secret: Option<Secret>,
    pub verify_token: Option<Secret>,
    pub phone_number_id: Option<String>,
    /// Per-number throughput budget (Meta default: 80 messages/s).
    pub max_mps: u32,
    /// Minimum gap between two messages to one recipient (pair rate).
    pub min_gap_ms: u64,
}

impl Default for CloudConfig {
    fn default() -> Self {
        CloudConfig {
            graph_base_url: Url("https://graph.facebook.com/v25.0".into()),
            access_token: None,
            app_secret: None,
            verify_token: None,
            phone_number_id: None,
            max_mps: 80,
            min_gap_ms: 0,
        }
    }
}

impl CloudConfig {
    pub fn is_active(&self) -> bool {
        self.access_token.is_some() && self.phone_number_id.is_some() && self.app_secret.is_some()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BotConfig {
    pub owners: Vec<PhoneNumber>,
    pub prefixes: Vec<String>,
    pub admin_chats: Vec<String>,
    /// Mark the inbound message as read before replying.
    pub send_seen: bool,
    /// Show the typing indicator before replying.
    pub send_typing: bool,
    /// Reply to plain text with a short acknowledgement (the visible loop
    /// until the sales conversation is configured).
    pub acknowledge: bool,
    /// Commands typed on the bot's own phone count as the owner's (never its echoes).
    pub owner_from_me: bool,
    /// The folder of command manifests (reloaded on change); missing = the built-in set.
    pub commands_dir: PathBuf,
    /// This installation's licence plan; commands may require a higher one.
    pub plan: Plan,
    /// Staff who may use non-owner commands, with their level and premium flag.
    pub staff: Vec<StaffMember>,
    /// The country of phone numbers typed without their country code (`0812…`).
    pub default_country: String,
    /// The language juru speaks to owners and staff (refusals, hints, reminders).
    pub language: Language,
}

/// Licence plans, lowest first.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    #[default]
    Basic,
    Premium,
    Nitro,
    Enterprise,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Basic => "basic",
            Plan::Premium => "premium",
            Plan::Nitro => "nitro",
            Plan::Enterprise => "enterprise",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffMember {
    pub phone: PhoneNumber,
    #[serde(default)]
    pub level: u32,
    #[serde(default)]
    pub premium: bool,
}

impl Default for BotConfig {
    fn default() -> Self {
        BotConfig {
            owners: Vec::new(),
            prefixes: vec!["#".into()],
            admin_chats: Vec::new(),
            send_seen: true,
            send_typing: true,
            acknowledge: true,
            owner_from_me: false,
            commands_dir: PathBuf::from("commands"),
            plan: Plan::Basic,
            staff: Vec::new(),
            default_country: "ID".into(),
            language: Language::Id,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SalesConfig {
    /// The sales bot answers prospects (off: text is only acknowledged).
    pub enabled: bool,
    pub prompts_dir: PathBuf,
    pub confidence_threshold: f64,
    /// A burst's quiet window: each message restarts it...
    pub coalesce_ms: u64,
    /// ...but a burst is answered at most this long after its first message.
    pub coalesce_max_ms: u64,
    pub default_language: Language,
    /// A reply typed on the business phone pauses the bot in that chat.
    pub stop_bot_from_me: bool,
    /// How long such a pause lasts, in minutes.
    pub pause_expire_minutes: u64,
    /// Chats the bot never answers (phone numbers or chat ids).
    pub ignore_chats: Vec<String>,
    /// A prospect sending this ends the session (state starts afresh).
    pub keyword_finish: Option<String>,
    /// A handed-over chat whose prospect has waited this many seconds is
    /// brought to the admins again, once (0: never).
    pub handover_remind_secs: u64,
    /// ...and after this many it goes back to the bot, with a message to the
    /// prospect (0: it waits for an admin forever).
    pub handover_timeout_secs: u64,
    /// A booking handover holds the prospect's seats on the package this
    /// many hours, until a won deal takes them or a lost one frees them (0: no holds).
    pub seat_hold_hours: u64,
}

impl Default for SalesConfig {
    fn default() -> Self {
        SalesConfig {
            enabled: true,
            prompts_dir: PathBuf::from("prompts"),
            confidence_threshold: 0.6,
            coalesce_ms: 1500,
            coalesce_max_ms: 6000,
            default_language: Language::Id,
            stop_bot_from_me: true,
            pause_expire_minutes: 60,
            ignore_chats: Vec::new(),
            keyword_finish: Some("#selesai".into()),
            handover_remind_secs: 30 * 60,
            handover_timeout_secs: 24 * 3600,
            seat_hold_hours: 48,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Id,
    En,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    pub base_url: Option<Url>,
    pub api_key: Option<Secret>,
    pub model: String,
    pub timeout_ms: u64,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig { base_url: None, api_key: None, model: "gpt-4o-mini".into(), timeout_ms: 15_000 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// How many chats are handled at once; each chat's own messages are
    /// always handled one at a time, in order.
    pub lanes: usize,
    /// How long a handled message id is remembered for dedupe (Meta retries up to 7 days).
    pub dedupe_retention_hours: u64,
    /// Accepted events and replies waiting in memory beyond which webhooks are
    /// refused with 503 + `Retry-After` (WAHA and Meta retry), so an overload
    /// costs latency, not memory.
    pub max_backlog: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig { lanes: 512, dedupe_retention_hours: 24 * 8, max_backlog: 10_000 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Attempts before an item goes to the dead-letter tree.
    pub max_attempts: u32,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
    /// Sends in flight at once, across all chats.
    pub concurrency: usize,
    /// HTTP timeout of one send.
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrmConfig {
    /// 32-byte key (64 hex digits) that encrypts CRM credentials at rest;
    /// unset = a key generated once in `<storage.path>/secret.key`.
    pub secret_key: Option<Secret>,
    /// Where this server is reachable from the internet (OAuth redirect URLs).
    pub public_url: Option<Url>,
    /// A contact who writes first may receive nurture messages (WhatsApp opt-in).
    pub inbound_opt_in: bool,
    /// How often the nurture scheduler looks for due steps.
    pub nurture_tick_ms: u64,
    /// Length of a nurture "day" in seconds (86400; shorter only for trials).
    pub nurture_day_secs: u64,
    pub hubspot: HubspotConfig,
    pub salesforce: SalesforceConfig,
    pub pipedrive: PipedriveConfig,
    pub zoho: ZohoConfig,
    pub freshsales: FreshsalesConfig,
    pub dynamics: DynamicsConfig,
}

impl Default for CrmConfig {
    fn default() -> Self {
        CrmConfig {
            secret_key: None,
            public_url: None,
            inbound_opt_in: true,
            nurture_tick_ms: 30_000,
            nurture_day_secs: 86_400,
            hubspot: HubspotConfig::default(),
            salesforce: SalesforceConfig::default(),
            pipedrive: PipedriveConfig::default(),
            zoho: ZohoConfig::default(),
            freshsales: FreshsalesConfig::default(),
            dynamics: DynamicsConfig::default(),
        }
    }
}

/// `[crm.zoho]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZohoConfig {
    /// The account's Zoho Accounts server (`https://accounts.zoho.com`,
    /// `.eu`, `.in`, `.com.au`, `.jp`, `.sa`, `accounts.zohocloud.ca`).
    pub accounts_url: Url,
    /// Used only when the token answer carries no `api_domain` (it normally does).
    pub api_domain: Url,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    /// A refresh token from a self-client grant, instead of `#crm auth --oauth`.
    pub refresh_token: Option<Secret>,
    /// The API name of the unique custom field holding juru's id on every module.
    pub id_field: String,
    /// Where contacts go: "Contacts" (deals link to them) or "Leads".
    pub contacts_module: String,
    /// Requests per rolling minute (Zoho counts credits per day and
    /// concurrent calls per edition; this keeps under both).
    pub requests_per_min: usize,
    pub mode: SyncMode,
    pub pull_secs: u64,
}

impl Default for ZohoConfig {
    fn default() -> Self {
        ZohoConfig {
            accounts_url: Url("https://accounts.zoho.com".into()),
            api_domain: Url("https://www.zohoapis.com".into()),
            client_id: None,
            client_secret: None,
            refresh_token: None,
            id_field: "WA_Id".into(),
            contacts_module: "Contacts".into(),
            requests_per_min: 100,
            mode: SyncMode::Realtime,
            pull_secs: 300,
        }
    }
}

/// `[crm.freshsales]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FreshsalesConfig {
    /// The bundle alias (`acme` → `https://acme.myfreshworks.com/crm/sales`),
    /// a bundle URL, or a legacy `https://acme.freshsales.io`.
    pub domain: String,
    /// A user's API key, instead of `#crm auth --platform freshsales --api-key`.
    pub api_key: Option<Secret>,
    /// The API name of the unique custom field holding juru's id on
    /// contacts, accounts and deals (`cf_` + the field's label).
    pub id_field: String,
    /// The account's budget per rolling hour: 1000 (Free/Growth), 2000 (Pro), 5000 (Enterprise).
    pub requests_per_hour: usize,
    pub mode: SyncMode,
    pub pull_secs: u64,
}

/// `[crm.dynamics]`: Dynamics 365 / Dataverse, app-only (client credentials).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DynamicsConfig {
    /// The environment's URL (`https://yourorg.crm.dynamics.com`, `crm4` EMEA…).
    pub org_url: Option<Url>,
    /// Microsoft Entra ID: `{login_url}/{tenant}/oauth2/v2.0/token`.
    pub login_url: Url,
    /// The directory (tenant) id or domain of the app registration.
    pub tenant: Option<String>,
    pub client_id: Option<String>,
    /// The app's client secret (or `#crm auth --platform dynamics --api-key SECRET`).
    pub client_secret: Option<Secret>,
    /// The column (on contact, account, opportunity) holding juru's id, with
    /// an alternate key on it: upserts are `PATCH contacts(juru_waid='…')`.
    pub id_column: String,
    /// Operations per `$batch` (at most 1 000).
    pub batch_size: usize,
    /// Requests per rolling 5 minutes (Dataverse service protection: 6 000 per user).
    pub requests_per_5min: usize,
    pub mode: SyncMode,
    pub pull_secs: u64,
}

impl Default for FreshsalesConfig {
    fn default() -> Self {
        FreshsalesConfig {
            domain: String::new(),
            api_key: None,
            id_field: "cf_juru_id".into(),
            requests_per_hour: 1000,
            mode: SyncMode::Realtime,
            pull_secs: 300,
        }
    }
}

impl Default for DynamicsConfig {
    fn default() -> Self {
        DynamicsConfig {
            org_url: None,
            login_url: Url("https://login.microsoftonline.com".into()),
            tenant: None,
            client_id: None,
            client_secret: None,
            id_column: "juru_waid".into(),
            batch_size: 100,
            requests_per_5min: 6_000,
            mode: SyncMode::Realtime,
            pull_secs: 300,
        }
    }
}

/// How a platform's sync outbox drains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// Continuously, as the CRM changes.
    #[default]
    Realtime,
    /// Only on `#crm sync` or `juru sync`.
    Manual,
}

/// `[crm.hubspot]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HubspotConfig {
    pub base_url: Url,
    /// Date-versioned CRM paths (`/crm/objects/{api_version}/…`).
    pub api_version: String,
    /// A private-app access token or service key (`pat-…`); `#crm auth --api-key` also sets one.
    pub token: Option<Secret>,
    pub client_id: Option<String>,
    /// The OAuth app's secret: token exchange and webhook v3 signatures.
    pub client_secret: Option<Secret>,
    pub mode: SyncMode,
    /// The account's budget: 100 (Free/Starter) or 190 (Professional/Enterprise) per 10 s.
    pub requests_per_10s: usize,
    /// Pull remote changes this often (0: never).
    pub pull_secs: u64,
}

impl Default for HubspotConfig {
    fn default() -> Self {
        HubspotConfig {
            base_url: Url("https://api.hubapi.com".into()),
            api_version: "2026-03".into(),
            token: None,
            client_id: None,
            client_secret: None,
            mode: SyncMode::Realtime,
            requests_per_10s: 100,
            pull_secs: 300,
        }
    }
}

/// `[crm.salesforce]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SalesforceConfig {
    /// Where tokens come from: the org's My Domain for client credentials,
    /// `https://login.salesforce.com` (or `test.`) for JWT bearer and refresh.
    pub login_url: Url,
    /// Pinned REST version (`/services/data/{api_version}/…`).
    pub api_version: String,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    /// JWT bearer flow: the user to act as and the app's RS256 private key (PEM file).
    pub username: Option<String>,
    pub private_key_path: Option<std::path::PathBuf>,
    /// Refresh-token flow (after the web-server OAuth flow).
    pub refresh_token: Option<Secret>,
    /// The External ID (unique) field holding our id on every synced object.
    pub external_id_field: String,
    pub mode: SyncMode,
    /// Calls at once (Salesforce limits concurrent long-running requests).
    pub concurrency: usize,
    pub pull_secs: u64,
}

impl Default for SalesforceConfig {
    fn default() -> Self {
        SalesforceConfig {
            login_url: Url("https://login.salesforce.com".into()),
            api_version: "v66.0".into(),
            client_id: None,
            client_secret: None,
            username: None,
            private_key_path: None,
            refresh_token: None,
            external_id_field: "WA_Id__c".into(),
            mode: SyncMode::Realtime,
            concurrency: 4,
            pull_secs: 300,
        }
    }
}

/// `[crm.pipedrive]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipedriveConfig {
    /// `https://api.pipedrive.com` (API token) or `https://{company}.pipedrive.com`;
    /// with OAuth the token answer's `api_domain` wins.
    pub base_url: Url,
    pub oauth_url: Url,
    /// A personal API token (`x-api-token`); `#crm auth --api-key` also sets one.
    pub api_token: Option<Secret>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    /// Burst budget per rolling 2 s: API token 20/40/100/120 (Lite/Growth/
    /// Premium/Ultimate), OAuth 80/160/400/480.
    pub requests_per_2s: usize,
    /// Basic-auth credentials Pipedrive's webhooks must present.
    pub webhook_user: Option<String>,
    pub webhook_password: Option<Secret>,
    pub mode: SyncMode,
    pub pull_secs: u64,
}

impl Default for PipedriveConfig {
    fn default() -> Self {
        PipedriveConfig {
            base_url: Url("https://api.pipedrive.com".into()),
            oauth_url: Url("https://oauth.pipedrive.com".into()),
            api_token: None,
            client_id: None,
            client_secret: None,
            requests_per_2s: 20,
            webhook_user: None,
            webhook_password: None,
            mode: SyncMode::Realtime,
            pull_secs: 300,
        }
    }
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig { max_attempts: 8, base_delay_ms: 500, max_delay_ms: 60_000, concurrency: 64, timeout_ms: 10_000 }
    }
}

/// A secret from config: never printed by `Debug`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String")]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Secret {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let s = s.trim().to_string();
        if s.is_empty() { Err("must not be empty (remove the key instead)".into()) } else { Ok(Secret(s)) }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// An http(s) base URL without a trailing slash.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String")]
pub struct Url(pub String);

impl Url {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Url {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let s = s.trim().trim_end_matches('/').to_string();
        let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(Url(s)),
            _ => Err(format!("`{s}` is not an http(s) URL")),
        }
    }
}

/// A phone number in config: international digits, `+` and spaces tolerated.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String")]
pub struct PhoneNumber(pub String);

impl TryFrom<String> for PhoneNumber {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let digits: String = s.chars().filter(|c| !matches!(c, '+' | ' ' | '-')).collect();
        if (6..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(PhoneNumber(digits))
        } else {
            Err(format!("`{s}` is not a phone number in international form (e.g. 6281234567890)"))
        }
    }
}

impl Config {
    /// Reads `path` (absent file = all defaults only when `must_exist` is false),
    /// applies `JURU_*` overrides from `env`, validates.
    pub fn load(
        path: &Path,
        must_exist: bool,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => String::new(),
            Err(source) => {
                return Err(ConfigError::Read { path: path.to_path_buf(), source });
            }
        };
        Config::from_toml(&text, path, env)
    }

    pub fn from_toml(
        text: &str,
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table = toml::from_str(text)
            .map_err(|e| ConfigError::Syntax { path: path.to_path_buf(), message: e.to_string() })?;
        let mut typed_env = apply_env(&mut table, env)?;
        loop {
            match serde_path_to_error::deserialize::<_, Config>(toml::Value::Table(table.clone())) {
                Ok(config) => {
                    config.validate()?;
                    return Ok(config);
                }
                Err(e) => {
                    let key = e.path().to_string();
                    // `JURU_CLOUD__PHONE_NUMBER_ID=1098…` reads as a TOML integer; where
                    // the key wants text, retry with the variable's raw string.
                    if let Some(raw) = typed_env.remove(&key) {
                        let (section, field) = key.split_once('.').unwrap_or((&key, ""));
                        if let Some(t) = table.get_mut(section).and_then(toml::Value::as_table_mut) {
                            t.insert(field.to_string(), toml::Value::String(raw));
                            continue;
                        }
                    }
                    return Err(ConfigError::Key { key, message: e.inner().to_string() });
                }
            }
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let key = |key: &str, message: &str| Err(ConfigError::Key { key: key.into(), message: message.into() });
        if !self.server.listen.ip().is_loopback() && self.server.admin_token.is_none() {
            return key(
                "server.admin_token",
                "required when `server.listen` is not a loopback address (the admin API would be open to the network)",
            );
        }
        if self.storage.cache_mb == 0 {
            return key("storage.cache_mb", "must be at least 1");
        }
        if self.runtime.lanes == 0 || self.runtime.lanes > 4096 {
            return key("runtime.lanes", "must be between 1 and 4096");
        }
        if self.outbox.max_attempts == 0 {
            return key("outbox.max_attempts", "must be at least 1");
        }
        if self.outbox.concurrency == 0 {
            return key("outbox.concurrency", "must be at least 1");
        }
        if self.cloud.max_mps == 0 {
            return key("cloud.max_mps", "must be at least 1");
        }
        if self.bot.default_country.trim().len() != 2
            || self.bot.default_country.trim().to_ascii_uppercase().parse::<phonenumber::country::Id>().is_err()
        {
            return key("bot.default_country", "must be a two-letter country code (e.g. ID, MY, SG)");
        }
        if self.bot.prefixes.iter().any(|p| p.is_empty() || p.chars().count() > 3) {
            return key("bot.prefixes", "each prefix must be 1 to 3 characters");
        }
        if let Some(k) = &self.crm.secret_key
            && !(k.expose().len() == 64 && k.expose().bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return key("crm.secret_key", "must be 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`");
        }
        if self.crm.nurture_tick_ms == 0 || self.crm.nurture_day_secs == 0 {
            return key("crm.nurture_tick_ms", "nurture_tick_ms and nurture_day_secs must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.sales.confidence_threshold) {
            return key("sales.confidence_threshold", "must be between 0.0 and 1.0");
        }
        let cloud = &self.cloud;
        let cloud_keys = [cloud.access_token.is_some(), cloud.phone_number_id.is_some(), cloud.app_secret.is_some()];
        if cloud_keys.iter().any(|k| *k) && !cloud.is_active() {
            return key(
                "cloud",
                "the Cloud API needs all of `access_token`, `phone_number_id` and `app_secret` (or none of them)",
            );
        }
        Ok(())
    }

    /// One line per channel for the start-up banner.
    pub fn channel_summary(&self) -> Vec<String> {
        let mut lines = Vec::new();
        match &self.waha.base_url {
            Some(url) => lines.push(format!(
                "waha: active (POST /api/whatsapp/webhook → {} session `{}`, hmac {})",
                url.as_str(),
                self.waha.session,
                if self.waha.webhook_hmac_key.is_some() { "on" } else { "off" }
            )),
            None => lines.push("waha: not configured ([waha] base_url)".into()),
        }
        if self.cloud.is_active() {
            lines.push(format!(
                "cloud: active (GET|POST /api/whatsapp/cloud → {}/{}/messages)",
                self.cloud.graph_base_url.as_str(),
                self.cloud.phone_number_id.as_deref().unwrap_or_default()
            ));
        } else {
            lines.push("cloud: not configured ([cloud] access_token, app_secret, phone_number_id)".into());
        }
        lines
    }
}

/// `JURU_WAHA__BASE_URL=http://…` sets `[waha] base_url`. Values are read as
/// TOML when they parse as TOML (`["628…"]`, `true`, `64`), else as strings.
/// Returns the overrides that were read as non-string TOML values, by key
/// path (`cloud.phone_number_id`), with their raw text.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut typed = BTreeMap::new();
    let overrides: BTreeMap<String, String> = env.into_iter().filter(|(k, _)| k.starts_with("JURU_")).collect();
    for (var, raw) in overrides {
        let path: Vec<String> = var["JURU_".len()..].split("__").map(|p| p.to_ascii_lowercase()).collect();
        if path.len() != 2 || path.iter().any(|p| p.is_empty()) {
            // Not a config override (e.g. JURU_LOG); leave it to whoever reads it.
            continue;
        }
        let value = parse_env_value(&raw);
        if !value.is_str() {
            typed.insert(format!("{}.{}", path[0], path[1]), raw.clone());
        }
        let section = table.entry(path[0].clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(section) = section.as_table_mut() else {
            return Err(ConfigError::Env { var, message: format!("`{}` is not a section", path[0]) });
        };
        section.insert(path[1].clone(), value);
    }
    Ok(typed)
}

fn parse_env_value(raw: &str) -> toml::Value {
    let wrapped = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&wrapped) {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::from_toml(text, Path::new("config.toml"), env)
    }

    #[test]
    fn the_committed_config_loads() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml")).unwrap();
        let config = load(&text, &[]).unwrap();
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.storage.path, PathBuf::from("data"));
    }

    #[test]
    fn an_unknown_key_is_named() {
        let err = load("[waha]\nbase_ur = \"http://x\"\n", &[]).unwrap_err().to_string();
        assert!(err.contains("waha") && err.contains("base_ur"), "{err}");
    }

    #[test]
    fn a_wrong_value_is_named_with_its_path() {
        let err = load("[bot]\nowners = [\"6281234567890\", \"budi\"]\n", &[]).unwrap_err().to_string();
        assert!(err.contains("bot.owners[1]"), "{err}");
    }

    #[test]
    fn env_overrides_win_over_the_file() {
        let config = load(
            "[waha]\nbase_url = \"http://a:3000\"\n",
            &[
                ("JURU_WAHA__BASE_URL", "http://b:3000/"),
                ("JURU_RUNTIME__LANES", "8"),
                ("JURU_BOT__OWNERS", "[\"628111\"]"),
            ],
        )
        .unwrap();
        assert_eq!(config.waha.base_url.unwrap().as_str(), "http://b:3000");
        assert_eq!(config.runtime.lanes, 8);
        assert_eq!(config.bot.owners, vec![PhoneNumber("628111".into())]);
    }

    #[test]
    fn a_numeric_env_value_still_fills_a_text_key() {
        let config = load(
            "",
            &[
                ("JURU_CLOUD__PHONE_NUMBER_ID", "109876543210987"),
                ("JURU_CLOUD__VERIFY_TOKEN", "12345"),
                ("JURU_CLOUD__APP_SECRET", "1"),
                ("JURU_CLOUD__ACCESS_TOKEN", "t"),
            ],
        )
        .unwrap();
        assert_eq!(config.cloud.phone_number_id.as_deref(), Some("109876543210987"));
        assert_eq!(config.cloud.verify_token.unwrap().expose(), "12345");
    }

    #[test]
    fn a_bad_env_value_names_the_key() {
        let err = load("", &[("JURU_RUNTIME__LANES", "many")]).unwrap_err().to_string();
        assert!(err.contains("runtime.lanes"), "{err}");
    }

    #[test]
    fn listening_publicly_needs_an_admin_token() {
        let err = load("[server]\nlisten = \"0.0.0.0:8080\"\n", &[]).unwrap_err().to_string();
        assert!(err.contains("server.admin_token"), "{err}");
        assert!(load("[server]\nlisten = \"0.0.0.0:8080\"\nadmin_token = \"s3cret\"\n", &[]).is_ok());
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let config = load("[waha]\nbase_url = \"http://w\"\napi_key = \"topsecret\"\n", &[]).unwrap();
        assert!(!format!("{config:?}").contains("topsecret"));
    }

    #[test]
    fn a_half_configured_cloud_channel_is_an_error() {
        let err = load("[cloud]\naccess_token = \"t\"\n", &[]).unwrap_err().to_string();
        assert!(err.contains("cloud"), "{err}");
    }

    /// Every key the config structs accept, as dotted paths, found by asking
    /// serde: an unknown `__probe` key is refused with the list of expected
    /// fields, and a struct-valued key refuses a table only with that list.
    fn accepted_keys(prefix: &[String]) -> Vec<String> {
        let expected = |path: &[String]| -> Option<Vec<String>> {
            let mut value = toml::Value::Table(toml::Table::from_iter([("__probe".to_string(), 0.into())]));
            for key in path.iter().rev() {
                value = toml::Value::Table(toml::Table::from_iter([(key.clone(), value)]));
            }
            let message = value.try_into::<Config>().err()?.to_string();
            let list = message.split("unknown field `__probe`, expected").nth(1)?;
            let list = list.split('\n').next().unwrap_or_default();
            Some(list.split('`').skip(1).step_by(2).map(str::to_string).collect())
        };
        let mut keys = Vec::new();
        for field in expected(prefix).unwrap_or_default() {
            let mut path = prefix.to_vec();
            path.push(field);
            if expected(&path).is_some() {
                keys.extend(accepted_keys(&path));
            } else {
                keys.push(path.join("."));
            }
        }
        keys
    }

    /// The keys `config.toml` shows, set or commented out (`# key = …`), as dotted paths.
    fn documented_keys(text: &str) -> std::collections::BTreeSet<String> {
        let mut section = String::new();
        let mut keys = std::collections::BTreeSet::new();
        for line in text.lines() {
            let line = line.trim();
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_string();
                continue;
            }
            let line = line.strip_prefix('#').map_or(line, str::trim_start);
            let Some((key, _)) = line.split_once(" = ") else { continue };
            if !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                keys.insert(if section.is_empty() { key.to_string() } else { format!("{section}.{key}") });
            }
        }
        keys
    }

    #[test]
    fn the_committed_config_toml_documents_every_key_the_config_accepts() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml")).unwrap();
        let documented = documented_keys(&text);
        let accepted = accepted_keys(&[]);
        assert!(accepted.contains(&"crm.hubspot.token".to_string()), "the probe finds nested keys: {accepted:?}");
        let missing: Vec<&String> = accepted.iter().filter(|k| !documented.contains(*k)).collect();
        assert!(missing.is_empty(), "config.toml does not document {missing:?}");
    }
}
