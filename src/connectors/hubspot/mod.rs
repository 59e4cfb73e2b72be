//! HubSpot: companies, contacts, deals and notes through date-versioned CRM
//! paths (`/crm/objects/{api_version}/…`).
//!
//! Idempotency: our id lives in a custom unique property per object
//! (`wa_company_id`, `wa_contact_id`, `wa_deal_id`, `wa_note_id`, created by
//! [`HubspotConnector::prepare`]) and every write is a `batch/upsert` on it,
//! so a record pushed twice, or after a timeout, exists once. Links are
//! default associations made after the upserts, with the parents' remote
//! ids. Activities become notes.

mod classify;
mod mapping;
mod records;
pub mod webhook;
mod wire;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde::Serialize;

pub use self::classify::until_midnight_utc;
use self::classify::{classify, window_budget};
use self::mapping::{Object, StageMap, map_stages};
pub use self::webhook::{WebhookError, WebhookEvent, parse_webhook, sign_v3, verify_signature_v3};
use self::wire::{NewProperty, PipelineList, PropertyList, TokenAnswer};
use super::credential::{Credential, TokenSink, Tokens};
use super::http::{Answer, Http};
use super::limit::Limiter;
use super::{Connector, Item, Kind, Pulled, RemoteIds, SyncError};
use crate::clock::now_ms;
use crate::config::HubspotConfig;
use crate::crm::settings::{FieldMapping, Platform};

/// HubSpot's most inputs per batch call.
pub const BATCH_MAX: usize = 100;
/// One page of a search (HubSpot allows up to 200; 100 keeps answers small).
const PAGE: usize = 100;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The HubSpot connector of one account.
pub struct HubspotConnector {
    http: Http,
    base: String,
    version: String,
    client_id: Option<String>,
    client_secret: Option<String>,
    /// Held across a refresh, so concurrent calls refresh once.
    credential: tokio::sync::Mutex<Credential>,
    mapping: FieldMapping,
    on_tokens: TokenSink,
    /// The deal pipeline's stages, loaded by `prepare` (or the first deal push).
    stages: Mutex<Option<Arc<StageMap>>>,
}

impl HubspotConnector {
    /// A connector for the account `credential` opens, within the budget
    /// `config.requests_per_10s` (HubSpot counts a rolling ten seconds).
    pub fn new(
        config: &HubspotConfig,
        credential: Credential,
        mapping: FieldMapping,
        on_tokens: TokenSink,
    ) -> HubspotConnector {
        let limiter = Limiter::new(config.requests_per_10s, Duration::from_secs(10));
        HubspotConnector {
            http: Http::new(limiter, DEFAULT_TIMEOUT),
            base: config.base_url.as_str().trim_end_matches('/').to_string(),
            version: config.api_version.clone(),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.as_ref().map(|s| s.expose().to_string()),
            credential: tokio::sync::Mutex::new(credential),
            mapping,
            on_tokens,
            stages: Mutex::new(None),
        }
    }

    /// The same connector with another request timeout (the account's
    /// limiter is kept); tests use a short one.
    pub fn with_timeout(mut self, timeout: Duration) -> HubspotConnector {
        self.http = self.http.with_timeout(timeout);
        self
    }

    /// How long the account's budget holds requests back (for status reports).
    pub fn paused_for(&self) -> Option<Duration> {
        self.http.limiter.paused_for()
    }

    fn objects_path(&self, object: &Object, rest: &str) -> String {
        format!("/crm/objects/{}/{}/{rest}", self.version, object.path)
    }

    /// One call with the current access token; an expired OAuth token is
    /// refreshed (before, when it is about to expire; after a 401, once).
    async fn call<B: Serialize>(&self, method: Method, path: &str, body: Option<&B>) -> Result<Answer, SyncError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| SyncError::Permanent(format!("cannot encode the request: {e}")))?;
        let token = self.access_token().await?;
        let answer = self.send_once(&method, path, body.as_deref(), &token).await?;
        if answer.status.as_u16() != 401 {
            return Ok(answer);
        }
        match self.refresh_after_401(&token).await? {
            Some(fresh) => self.send_once(&method, path, body.as_deref(), &fresh).await,
            None => Ok(answer),
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        path: &str,
        body: Option<&[u8]>,
        token: &str,
    ) -> Result<Answer, SyncError> {
        let mut request = self.http.client.request(method.clone(), format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_vec());
        }
        let answer = self.http.send(request).await?;
        self.observe(&answer);
        Ok(answer)
    }

    /// Feeds the account's budget: the ten-second window's headers, and a
    /// 429's wait. A daily 429 does not pause the limiter: holding every call
    /// for hours would hang the worker; it parks on `daily: true` instead.
    fn observe(&self, answer: &Answer) {
        let (remaining, interval) = window_budget(answer);
        self.http.limiter.observe(remaining, interval);
        if !matches!(answer.status.as_u16(), 429 | 477) {
            return;
        }
        if let SyncError::Throttled { retry_after: Some(wait), daily: false, .. } = classify(answer, now_ms()) {
            self.http.limiter.pause(wait);
        }
    }

    /// Answers outside 2xx become the worker's error.
    fn ok(answer: Answer) -> Result<Answer, SyncError> {
        if answer.status.is_success() { Ok(answer) } else { Err(classify(&answer, now_ms())) }
    }

    async fn access_token(&self) -> Result<String, SyncError> {
        let mut credential = self.credential.lock().await;
        match &*credential {
            Credential::ApiKey(key) => Ok(key.clone()),
            Credential::OAuth(t) if t.needs_refresh(now_ms()) && t.refresh_token.is_some() => {
                let fresh = self.refresh(t).await?;
                let token = fresh.access_token.clone();
                *credential = Credential::OAuth(fresh);
                Ok(token)
            }
            Credential::OAuth(t) => Ok(t.access_token.clone()),
        }
    }

    /// After a 401: a fresh token to try once more, or none (an API key, or
    /// OAuth without a refresh token: the 401 stands).
    async fn refresh_after_401(&self, used: &str) -> Result<Option<String>, SyncError> {
        let mut credential = self.credential.lock().await;
        let Credential::OAuth(t) = &*credential else { return Ok(None) };
        if t.access_token != used {
            return Ok(Some(t.access_token.clone())); // another call refreshed meanwhile
        }
        if t.refresh_token.is_none() {
            return Ok(None);
        }
        let fresh = self.refresh(t).await?;
        let token = fresh.access_token.clone();
        *credential = Credential::OAuth(fresh);
        Ok(Some(token))
    }

    /// `POST /oauth/v3/token` with the refresh token; the new tokens go to
    /// `on_tokens` to be sealed (HubSpot may rotate the refresh token).
    async fn refresh(&self, old: &Tokens) -> Result<Tokens, SyncError> {
        let (Some(client_id), Some(client_secret)) = (&self.client_id, &self.client_secret) else {
            return Err(SyncError::Auth(
                "the HubSpot token expired and [crm.hubspot] client_id/client_secret are missing to refresh it".into(),
            ));
        };
        let refresh_token = old.refresh_token.clone().unwrap_or_default();
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", client_id.as_str()),
            ("client_secret", client_secret.as_str()),
            ("refresh_token", refresh_token.as_str()),
        ];
        let tokens = token_request(&self.http, &self.base, &form, Some(refresh_token.clone())).await?;
        (self.on_tokens)(tokens.clone());
        Ok(tokens)
    }

    /// The unique property holding our id (and any mapped contact property
    /// the account lacks) exist on `object`; created when missing.
    async fn ensure_properties(&self, object: &Object, extra: &[&String]) -> Result<(), SyncError> {
        let path = format!("/crm/properties/{}/{}", self.version, object.path);
        let list: PropertyList = Self::ok(self.call::<()>(Method::GET, &path, None).await?)?.json()?;
        match list.results.iter().find(|p| p.name == object.id_property) {
            Some(p) if !p.has_unique_value => {
                return Err(SyncError::Permanent(format!(
                    "the HubSpot {} property '{}' exists but is not unique; delete it in HubSpot \
                     (Settings → Properties) so juru can create it with unique values",
                    object.path, object.id_property
                )));
            }
            Some(_) => {}
            None => {
                let new = NewProperty {
                    name: object.id_property.into(),
                    label: object.id_label.into(),
                    kind: "string",
                    field_type: "text",
                    group_name: object.group,
                    has_unique_value: true,
                    description: "Set by juru: the record's id in juru, so a record pushed twice exists once".into(),
                };
                self.create_property(&path, &new).await?;
            }
        }
        for name in extra.iter().filter(|n| !list.results.iter().any(|p| &p.name == **n)) {
            let new = NewProperty {
                name: name.to_string(),
                label: format!("juru {name}"),
                kind: "string",
                field_type: "text",
                group_name: object.group,
                has_unique_value: false,
                description: "Set by juru from the field mapping".into(),
            };
            self.create_property(&path, &new).await?;
        }
        Ok(())
    }

    async fn create_property(&self, path: &str, new: &NewProperty) -> Result<(), SyncError> {
        let answer = self.call(Method::POST, path, Some(new)).await?;
        match answer.status.as_u16() {
            409 => Ok(()), // created meanwhile: what we wanted
            _ => Self::ok(answer).map(drop),
        }
    }

    async fn load_stages(&self) -> Result<Arc<StageMap>, SyncError> {
        let path = format!("/crm/pipelines/{}/deals", self.version);
        let list: PipelineList = Self::ok(self.call::<()>(Method::GET, &path, None).await?)?.json()?;
        let map = map_stages(&list.results)
            .ok_or_else(|| SyncError::Permanent("the HubSpot account has no deal pipeline: create one".into()))?;
        let map = Arc::new(map);
        *self.stages.lock().unwrap_or_else(|p| p.into_inner()) = Some(map.clone());
        Ok(map)
    }

    async fn stages(&self) -> Result<Arc<StageMap>, SyncError> {
        let cached = self.stages.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match cached {
            Some(map) => Ok(map),
            None => self.load_stages().await,
        }
    }
}

/// Trades an authorization code from `/oauth/callback/hubspot` for tokens.
pub async fn exchange_code(config: &HubspotConfig, code: &str, redirect_uri: &str) -> Result<Tokens, SyncError> {
    let (Some(client_id), Some(client_secret)) = (&config.client_id, &config.client_secret) else {
        return Err(SyncError::Permanent("[crm.hubspot] client_id and client_secret are needed for OAuth".into()));
    };
    let http = Http::new(Limiter::new(0, Duration::from_secs(10)), DEFAULT_TIMEOUT);
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client_id.as_str()),
        ("client_secret", client_secret.expose()),
        ("redirect_uri", redirect_uri),
        ("code", code),
    ];
    token_request(&http, config.base_url.as_str().trim_end_matches('/'), &form, None).await
}

/// One form-encoded call to `POST /oauth/v3/token`. A refused grant is an
/// `Auth` error (the owner authorises again); busy or broken is transient.
async fn token_request(
    http: &Http,
    base: &str,
    form: &[(&str, &str)],
    old_refresh: Option<String>,
) -> Result<Tokens, SyncError> {
    let body = form_encode(form);
    let request = http
        .client
        .post(format!("{base}/oauth/v3/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    let answer = http.send(request).await?;
    match answer.status.as_u16() {
        200..=299 => {}
        400 | 401 | 403 => {
            return Err(SyncError::Auth(format!(
                "HubSpot refused the OAuth grant ({}): {}",
                answer.status.as_u16(),
                answer.snippet()
            )));
        }
        _ => return Err(classify(&answer, now_ms())),
    }
    let t: TokenAnswer = answer.json()?;
    if t.access_token.is_empty() {
        return Err(SyncError::Auth("HubSpot's token answer has no access token".into()));
    }
    Ok(Tokens {
        access_token: t.access_token,
        refresh_token: t.refresh_token.or(old_refresh),
        expires_at_ms: t.expires_in.map(|s| now_ms() + s * 1000),
        instance_url: None,
        api_domain: None,
    })
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let pairs = pairs.iter().map(|(k, v)| {
        format!("{}={}", utf8_percent_encode(k, NON_ALPHANUMERIC), utf8_percent_encode(v, NON_ALPHANUMERIC))
    });
    pairs.collect::<Vec<_>>().join("&")
}

impl Connector for HubspotConnector {
    fn platform(&self) -> Platform {
        Platform::Hubspot
    }

    fn batch_size(&self, _kind: Kind) -> usize {
        BATCH_MAX
    }

    /// Checks the token (the first call answers 401 if it is bad), creates
    /// the unique id properties and mapped contact properties that are
    /// missing, and loads the deal stages. Safe to run again.
    async fn prepare(&self) -> Result<(), SyncError> {
        let mapped: Vec<&String> = self.mapping.values().collect();
        for object in [mapping::COMPANIES, mapping::CONTACTS, mapping::DEALS, mapping::NOTES] {
            let extra = if object == mapping::CONTACTS { mapped.as_slice() } else { &[] };
            self.ensure_properties(&object, extra).await?;
        }
        self.load_stages().await.map(drop)
    }

    async fn push(&self, items: &[Item], ids: &dyn RemoteIds) -> Result<Vec<super::Outcome>, SyncError> {
        records::push(self, items, ids).await
    }

    async fn pull(&self, kind: Kind, since_ms: Option<u64>, page: Option<&str>) -> Result<Pulled, SyncError> {
        records::pull(self, kind, since_ms, page).await
    }
}
