//! Pipedrive: API v2 for persons, organizations, deals, activities, fields,
//! pipelines and stages; v1 only for notes (no v2 notes exist).
//!
//! Pipedrive has no upsert and no external-id lookup, so idempotency comes
//! from our side: the worker's local→remote id map gives `PATCH` for known
//! records, and our id is kept in a text custom field named "juru id" (made by
//! [`PipedriveConnector::prepare`]) so that after an unknown outcome (`unsure`)
//! the record is found by search before anything is created again.
//! Activities and notes have no custom fields: they carry a ` [juru A12]`
//! marker at the end of their subject/content instead, and an unsure one is
//! looked up among its person's (or deal's) activities/notes.
//!
//! One record per write call (`batch_size` 1); every request goes through
//! the account's 2-second rolling [`Limiter`].

pub mod stages;
pub mod webhook;
pub mod wire;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use self::stages::StageMap;
pub use self::webhook::{WebhookError, WebhookEvent, WebhookMeta, parse_webhook, verify_basic_auth};
use self::wire::{ActivityRow, Envelope, Field, Id, Links, NoteRow, Pipeline, RemoteRecord, SearchData, StageItem};
use super::credential::{Credential, TokenSink, Tokens};
use super::http::{Answer, Http};
use super::limit::Limiter;
use super::{Connector, Item, Kind, Outcome, Pulled, Record, RemoteChange, RemoteFields, RemoteIds, SyncError};
use crate::config::PipedriveConfig;
use crate::crm::activity::Activity;
use crate::crm::settings::{FieldMapping, Platform};

/// The name of the text custom field that holds our id.
pub const ID_FIELD_NAME: &str = "juru id";
/// Cloudflare's HTML 403 means "stop hammering": hold everything this long.
const CLOUDFLARE_BACKOFF: Duration = Duration::from_secs(60);
const WINDOW: Duration = Duration::from_secs(2);
const TIMEOUT: Duration = Duration::from_secs(30);
/// Pipedrive's largest page.
const PAGE: &str = "500";
/// Pages read when looking for an unsure activity/note or a field.
const MAX_PAGES: usize = 20;

/// Query values: everything but unreserved characters is escaped.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The Pipedrive connector of one company account.
pub struct PipedriveConnector {
    http: Http,
    config: PipedriveConfig,
    credential: Mutex<Credential>,
    /// One refresh at a time; the others reuse its tokens.
    refresh_lock: tokio::sync::Mutex<()>,
    mapping: FieldMapping,
    on_tokens: TokenSink,
    catalogue: Mutex<Catalogue>,
}

/// What `prepare` learns of the account.
#[derive(Debug, Clone, Default)]
struct Catalogue {
    /// Kind → the "juru id" custom field's key.
    id_keys: HashMap<Kind, String>,
    stages: Option<StageMap>,
}

/// One request, rebuilt for the retry after a token refresh.
struct Req {
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
}

impl Req {
    fn get(path: String, query: Vec<(&'static str, String)>) -> Req {
        Req { method: Method::GET, path, query, body: None }
    }
    fn write(method: Method, path: String, body: Value) -> Req {
        Req { method, path, query: Vec::new(), body: Some(body) }
    }
}

fn object(kind: Kind) -> &'static str {
    match kind {
        Kind::Company => "organizations",
        Kind::Contact => "persons",
        Kind::Deal => "deals",
        Kind::Activity => "activities",
    }
}

fn fields_object(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Company => Some("organizationFields"),
        Kind::Contact => Some("personFields"),
        Kind::Deal => Some("dealFields"),
        Kind::Activity => None,
    }
}

fn query_string(query: &[(&str, String)]) -> String {
    let pairs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY))).collect();
    if pairs.is_empty() { String::new() } else { format!("?{}", pairs.join("&")) }
}

fn header_u64(a: &Answer, name: &str) -> Option<u64> {
    a.header(name)?.trim().parse().ok()
}

/// Cloudflare's block page rather than Pipedrive's JSON.
fn is_html(a: &Answer) -> bool {
    a.header("content-type").is_some_and(|t| t.contains("text/html"))
        || a.body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
}

/// What a failed answer means for the worker.
pub fn classify(a: &Answer) -> SyncError {
    let message = wire::error_message(&a.body).unwrap_or_else(|| a.snippet());
    let reason = format!("{}: {message}", a.status.as_u16());
    match a.status.as_u16() {
        429 => SyncError::Throttled {
            reason,
            retry_after: a.retry_after().or(header_u64(a, "x-ratelimit-reset").map(Duration::from_secs)),
            daily: header_u64(a, "x-daily-requests-left") == Some(0),
        },
        403 if is_html(a) => SyncError::Throttled {
            reason: "403: blocked by Cloudflare after too many requests".into(),
            retry_after: Some(CLOUDFLARE_BACKOFF),
            daily: false,
        },
        _ => match a.common_error() {
            SyncError::Auth(_) => SyncError::Auth(reason),
            SyncError::Transient(_) => SyncError::Transient(reason),
            _ => SyncError::Permanent(reason),
        },
    }
}

/// Reads a 2xx answer's `data`.
fn data<T: DeserializeOwned>(a: &Answer) -> Result<(T, Option<String>), SyncError> {
    if !a.status.is_success() {
        return Err(classify(a));
    }
    let envelope: Envelope<T> = a.json()?;
    let next = envelope.additional_data.and_then(|d| d.next_cursor).filter(|c| !c.is_empty());
    let data = envelope.data.ok_or_else(|| SyncError::Transient(format!("answer without data: {}", a.snippet())))?;
    Ok((data, next))
}

/// What one write answer means for its record.
fn written(a: &Answer) -> Result<Outcome, SyncError> {
    match a.status.as_u16() {
        200..=299 => Ok(Outcome::Done { remote_id: data::<Id>(a)?.0.id.to_string() }),
        // The record itself is wrong (validation): dead-letter it, never retry.
        400 | 404 | 409 | 410 | 422 => {
            Ok(Outcome::Dead { reason: wire::error_message(&a.body).unwrap_or_else(|| a.snippet()) })
        }
        _ => Err(classify(a)),
    }
}

fn parse_id(id: Option<&str>) -> Option<u64> {
    id?.trim().parse().ok()
}

/// An activity's remote id: `{activity}` or `{activity}/note:{note}` when
/// its notes went to a Pipedrive note too.
fn split_activity_id(remote: Option<&str>) -> (Option<u64>, Option<u64>) {
    let Some(remote) = remote else { return (None, None) };
    match remote.split_once("/note:") {
        Some((a, n)) => (parse_id(Some(a)), parse_id(Some(n))),
        None => (parse_id(Some(remote)), None),
    }
}

fn now_ms() -> u64 {
    crate::clock::now_ms()
}

/// `POST {oauth_url}/oauth/token` with the app's Basic credentials.
async fn token_request(http: &Http, config: &PipedriveConfig, form: &[(&str, &str)]) -> Result<Tokens, SyncError> {
    let (Some(id), Some(secret)) = (config.client_id.as_deref(), config.client_secret.as_ref()) else {
        return Err(SyncError::Auth("Pipedrive client_id/client_secret are not configured".into()));
    };
    let body: Vec<String> = form.iter().map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY))).collect();
    let url = format!("{}/oauth/token", config.oauth_url.as_str().trim_end_matches('/'));
    let request = http
        .client
        .post(url)
        .basic_auth(id, Some(secret.expose()))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.join("&"));
    let answer = http.send(request).await?;
    if !answer.status.is_success() {
        return Err(match answer.status.as_u16() {
            // invalid_grant and friends: the owner must authorise again.
            400 | 401 | 403 => SyncError::Auth(format!("token refused: {}", answer.snippet())),
            _ => classify(&answer),
        });
    }
    let t: wire::TokenAnswer = answer.json()?;
    if t.access_token.is_empty() {
        return Err(SyncError::Auth("token answer without access_token".into()));
    }
    Ok(Tokens {
        access_token: t.access_token,
        refresh_token: t.refresh_token,
        expires_at_ms: t.expires_in.map(|s| now_ms() + s * 1000),
        instance_url: None,
        api_domain: t.api_domain.map(|d| d.trim_end_matches('/').to_string()),
    })
}

/// The OAuth authorization-code exchange (for `/oauth/callback/pipedrive`).
pub async fn exchange_code(config: &PipedriveConfig, code: &str, redirect_uri: &str) -> Result<Tokens, SyncError> {
    let http = Http::new(Limiter::new(0, WINDOW), TIMEOUT);
    token_request(
        &http,
        config,
        &[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect_uri)],
    )
    .await
}

impl PipedriveConnector {
    pub fn new(
        config: &PipedriveConfig,
        credential: Credential,
        mapping: FieldMapping,
        on_tokens: TokenSink,
    ) -> PipedriveConnector {
        PipedriveConnector {
            http: Http::new(Limiter::new(config.requests_per_2s, WINDOW), TIMEOUT),
            config: config.clone(),
            credential: Mutex::new(credential),
            refresh_lock: tokio::sync::Mutex::new(()),
            mapping,
            on_tokens,
            catalogue: Mutex::new(Catalogue::default()),
        }
    }

    /// A shorter request timeout (tests, benchmarks).
    pub fn with_timeout(mut self, timeout: Duration) -> PipedriveConnector {
        self.http = Http::new(Limiter::new(self.config.requests_per_2s, WINDOW), timeout);
        self
    }

    /// The account's limiter, for status reports.
    pub fn limiter(&self) -> &Limiter {
        &self.http.limiter
    }

    fn credential(&self) -> Credential {
        self.credential.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn catalogue(&self) -> Catalogue {
        self.catalogue.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update_catalogue(&self, f: impl FnOnce(&mut Catalogue)) {
        f(&mut self.catalogue.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn base(&self, credential: &Credential) -> String {
        let domain = match credential {
            Credential::OAuth(t) => t.api_domain.as_deref().filter(|d| !d.is_empty()),
            Credential::ApiKey(_) => None,
        };
        domain.unwrap_or(self.config.base_url.as_str()).trim_end_matches('/').to_string()
    }

    /// Refreshes OAuth tokens unless another call already replaced `stale`.
    async fn refresh(&self, stale: &str) -> Result<(), SyncError> {
        let _one = self.refresh_lock.lock().await;
        let Credential::OAuth(old) = self.credential() else {
            return Err(SyncError::Auth("the Pipedrive API token was refused".into()));
        };
        if old.access_token != stale {
            return Ok(());
        }
        let Some(refresh_token) = old.refresh_token.clone() else {
            return Err(SyncError::Auth("the Pipedrive access token expired and cannot be refreshed".into()));
        };
        let mut new = token_request(
            &self.http,
            &self.config,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh_token)],
        )
        .await?;
        // Pipedrive may rotate the refresh token; keep the old one when it does not.
        new.refresh_token = new.refresh_token.or(old.refresh_token);
        new.api_domain = new.api_domain.or(old.api_domain);
        *self.credential.lock().unwrap_or_else(|p| p.into_inner()) = Credential::OAuth(new.clone());
        (self.on_tokens)(new);
        Ok(())
    }

    /// Feeds the vendor's own counters into the limiter.
    fn observe(&self, a: &Answer) {
        let limiter = &self.http.limiter;
        limiter.observe(
            header_u64(a, "x-ratelimit-remaining"),
            header_u64(a, "x-ratelimit-reset").map(Duration::from_secs),
        );
        match a.status.as_u16() {
            429 => {
                if let SyncError::Throttled { retry_after, .. } = classify(a) {
                    limiter.pause(retry_after.unwrap_or(WINDOW));
                }
            }
            403 if is_html(a) => limiter.pause(CLOUDFLARE_BACKOFF),
            _ => {}
        }
    }

    /// Sends one request (after the limiter); an OAuth 401 refreshes once and resends.
    async fn call(&self, req: &Req) -> Result<Answer, SyncError> {
        if let Credential::OAuth(t) = self.credential()
            && t.refresh_token.is_some()
            && t.needs_refresh(now_ms())
        {
            self.refresh(&t.access_token).await?;
        }
        let mut refreshed = false;
        loop {
            let credential = self.credential();
            let url = format!("{}{}{}", self.base(&credential), req.path, query_string(&req.query));
            let mut request = self.http.client.request(req.method.clone(), url).header(ACCEPT, "application/json");
            request = match &credential {
                Credential::ApiKey(key) => request.header("x-api-token", key),
                Credential::OAuth(t) => request.bearer_auth(&t.access_token),
            };
            if let Some(body) = &req.body {
                request = request.header(CONTENT_TYPE, "application/json").body(body.to_string());
            }
            let answer = self.http.send(request).await?;
            self.observe(&answer);
            if let Credential::OAuth(t) = &credential
                && answer.status.as_u16() == 401
                && !refreshed
                && t.refresh_token.is_some()
            {
                self.refresh(&t.access_token).await?;
                refreshed = true;
                continue;
            }
            return Ok(answer);
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: String,
        query: Vec<(&'static str, String)>,
    ) -> Result<(T, Option<String>), SyncError> {
        data(&self.call(&Req::get(path, query)).await?)
    }

    /// Finds or creates the "juru id" text field of `kind`; returns its key.
    async fn ensure_id_field(&self, kind: Kind) -> Result<String, SyncError> {
        let Some(fields) = fields_object(kind) else {
            return Err(SyncError::Permanent(format!("{} has no custom fields", kind.as_str())));
        };
        let path = format!("/api/v2/{fields}");
        let (mut cursor, mut last) = (None, None);
        for _ in 0..MAX_PAGES {
            let mut query = vec![("limit", PAGE.to_string())];
            query.extend(cursor.take().map(|c| ("cursor", c)));
            let (page, next): (Vec<Field>, _) = self.get(path.clone(), query).await?;
            if let Some(f) = page.iter().find(|f| f.field_name.trim().eq_ignore_ascii_case(ID_FIELD_NAME)) {
                return Ok(f.field_code.clone());
            }
            // A cursor that does not move would loop: stop there.
            match next {
                Some(c) if Some(&c) != last.as_ref() => {
                    last = Some(c.clone());
                    cursor = Some(c);
                }
                _ => break,
            }
        }
        let body = json!({"field_name": ID_FIELD_NAME, "field_type": "varchar"});
        let answer = self.call(&Req::write(Method::POST, path, body)).await?;
        let (created, _): (Field, _) = data(&answer)?;
        if created.field_code.is_empty() {
            return Err(SyncError::Transient("field created without a key".into()));
        }
        Ok(created.field_code)
    }

    async fn id_key(&self, kind: Kind) -> Result<String, SyncError> {
        if let Some(key) = self.catalogue().id_keys.get(&kind) {
            return Ok(key.clone());
        }
        let key = self.ensure_id_field(kind).await?;
        self.update_catalogue(|c| {
            c.id_keys.insert(kind, key.clone());
        });
        Ok(key)
    }

    /// The first pipeline (board order) and its stages.
    async fn load_stages(&self) -> Result<StageMap, SyncError> {
        let (mut pipelines, _): (Vec<Pipeline>, _) =
            self.get("/api/v2/pipelines".into(), vec![("limit", PAGE.to_string())]).await?;
        pipelines.retain(|p| !p.is_deleted);
        pipelines.sort_by_key(|p| (p.order_nr, p.id));
        let Some(pipeline) = pipelines.first() else {
            return Err(SyncError::Permanent("Pipedrive has no pipeline: create one, then sync again".into()));
        };
        let query = vec![("pipeline_id", pipeline.id.to_string()), ("limit", PAGE.to_string())];
        let (stages, _): (Vec<StageItem>, _) = self.get("/api/v2/stages".into(), query).await?;
        Ok(StageMap::build(pipeline.id, &pipeline.name, stages))
    }

    async fn stages(&self) -> Result<StageMap, SyncError> {
        if let Some(map) = self.catalogue().stages {
            return Ok(map);
        }
        let map = self.load_stages().await?;
        self.update_catalogue(|c| c.stages = Some(map.clone()));
        Ok(map)
    }

    /// Our id in the custom field, for a record whose create may have gone through.
    async fn search(&self, kind: Kind, local_id: &str) -> Result<Option<u64>, SyncError> {
        let query = vec![
            ("term", local_id.to_string()),
            ("fields", "custom_fields".to_string()),
            ("exact_match", "true".to_string()),
            ("limit", "10".to_string()),
        ];
        let (found, _): (SearchData, _) = self.get(format!("/api/v2/{}/search", object(kind)), query).await?;
        Ok(found.items.first().map(|h| h.item.id).filter(|id| *id > 0))
    }

    /// PATCH when the id is known (a deleted record is created anew), else POST.
    async fn upsert(&self, path: &str, remote: Option<u64>, body: Value) -> Result<Outcome, SyncError> {
        if let Some(id) = remote {
            let answer = self.call(&Req::write(Method::PATCH, format!("{path}/{id}"), body.clone())).await?;
            if answer.status.as_u16() != 404 {
                return written(&answer);
            }
        }
        written(&self.call(&Req::write(Method::POST, path.to_string(), body)).await?)
    }

    async fn push_record(&self, item: &Item, ids: &dyn RemoteIds) -> Result<Outcome, SyncError> {
        let record = &item.record;
        let kind = record.kind();
        let link = |kind: Kind, local: Option<&str>| parse_id(ids.remote_id(kind, local?).as_deref());
        let body = match record {
            Record::Activity(a) => return self.push_activity(item, a, ids).await,
            Record::Contact(c) => {
                let key = self.id_key(kind).await?;
                wire::person_body(c, link(Kind::Company, c.company.as_deref()), &key, &self.mapping)
            }
            Record::Company(c) => wire::organization_body(c, &self.id_key(kind).await?),
            Record::Deal(d) => {
                let key = self.id_key(kind).await?;
                let placement = match self.stages().await?.place(d) {
                    Ok(p) => p,
                    Err(reason) => return Ok(Outcome::Dead { reason }),
                };
                let links = Links {
                    person_id: link(Kind::Contact, d.contact.as_deref()),
                    org_id: link(Kind::Company, d.company.as_deref()),
                    deal_id: None,
                };
                wire::deal_body(d, links, &placement, &key)
            }
        };
        let mut remote = parse_id(item.remote_id.as_deref());
        if remote.is_none() && item.unsure {
            remote = self.search(kind, &record.local_id()).await?;
        }
        self.upsert(&format!("/api/v2/{}", object(kind)), remote, body).await
    }

    /// The activity (or note) carrying our marker among the person's or deal's.
    async fn find_marked(&self, links: Links, local_id: &str, note: bool) -> Result<Option<u64>, SyncError> {
        let marker = wire::marker(local_id);
        let (key, id) = match (links.person_id, links.deal_id) {
            (Some(p), _) => ("person_id", p),
            (None, Some(d)) => ("deal_id", d),
            (None, None) => return Ok(None),
        };
        let (mut cursor, mut last): (Option<String>, Option<String>) = (None, None);
        let mut start = 0u64;
        for _ in 0..MAX_PAGES {
            let mut query = vec![(key, id.to_string()), ("limit", PAGE.to_string())];
            if note {
                query.push(("start", start.to_string()));
                let answer = self.call(&Req::get("/v1/notes".into(), query)).await?;
                let (rows, _): (Vec<NoteRow>, _) = data(&answer)?;
                if let Some(row) = rows.iter().find(|r| r.content.as_deref().is_some_and(|c| c.contains(&marker))) {
                    return Ok(Some(row.id));
                }
                let envelope: Envelope<serde::de::IgnoredAny> = answer.json()?;
                match envelope.additional_data.and_then(|d| d.pagination) {
                    Some(p) if p.more_items_in_collection && p.next_start.is_some_and(|n| n > start) => {
                        start = p.next_start.unwrap_or_default();
                    }
                    _ => return Ok(None),
                }
            } else {
                query.extend(cursor.take().map(|c| ("cursor", c)));
                let (rows, next): (Vec<ActivityRow>, _) = self.get("/api/v2/activities".into(), query).await?;
                if let Some(row) = rows.iter().find(|r| r.subject.as_deref().is_some_and(|s| s.ends_with(&marker))) {
                    return Ok(Some(row.id));
                }
                match next {
                    Some(c) if Some(&c) != last.as_ref() => {
                        last = Some(c.clone());
                        cursor = Some(c);
                    }
                    _ => return Ok(None),
                }
            }
        }
        Ok(None)
    }

    /// An activity (v2), plus a v1 note when it has notes (Pipedrive shows
    /// notes apart from activities).
    async fn push_activity(&self, item: &Item, a: &Activity, ids: &dyn RemoteIds) -> Result<Outcome, SyncError> {
        let local_id = format!("A{}", a.seq);
        let links = Links {
            person_id: parse_id(ids.remote_id(Kind::Contact, &a.contact).as_deref()),
            org_id: None,
            deal_id: a.deal.and_then(|d| parse_id(ids.remote_id(Kind::Deal, &format!("D{d}")).as_deref())),
        };
        if links.person_id.is_none() && links.deal_id.is_none() {
            return Ok(Outcome::Retry { reason: format!("contact {} is not in Pipedrive yet", a.contact) });
        }
        let (mut activity_id, mut note_id) = split_activity_id(item.remote_id.as_deref());
        let has_note = a.notes.as_deref().is_some_and(|n| !n.trim().is_empty());
        if item.unsure && activity_id.is_none() {
            activity_id = self.find_marked(links, &local_id, false).await?;
        }
        if item.unsure && has_note && note_id.is_none() {
            note_id = self.find_marked(links, &local_id, true).await?;
        }
        let activity = self.upsert("/api/v2/activities", activity_id, wire::activity_body(a, links)).await?;
        let Outcome::Done { remote_id: activity_id } = activity else { return Ok(activity) };
        if !has_note {
            return Ok(Outcome::Done { remote_id: activity_id });
        }
        // v1 notes update with PUT.
        let body = wire::note_body(a, links);
        let note = match note_id {
            Some(id) => {
                let answer = self.call(&Req::write(Method::PUT, format!("/v1/notes/{id}"), body.clone())).await?;
                if answer.status.as_u16() == 404 { None } else { Some(written(&answer)?) }
            }
            None => None,
        };
        let note = match note {
            Some(n) => n,
            None => written(&self.call(&Req::write(Method::POST, "/v1/notes".into(), body)).await?)?,
        };
        Ok(match note {
            Outcome::Done { remote_id } => Outcome::Done { remote_id: format!("{activity_id}/note:{remote_id}") },
            Outcome::Dead { reason } => {
                Outcome::Dead { reason: format!("activity {activity_id} was saved but its note was refused: {reason}") }
            }
            retry => retry,
        })
    }

    /// A record from a list or a webhook, as a change for the local CRM.
    fn change(&self, kind: Kind, r: &RemoteRecord, catalogue: &Catalogue) -> Option<RemoteChange> {
        let modified_ms = r.update_time.as_deref().and_then(wire::parse_time)?;
        let local_id = catalogue.id_keys.get(&kind).and_then(|k| r.text_field(k));
        let fields = match kind {
            Kind::Contact => RemoteFields {
                name: r.name.clone(),
                email: wire::primary(&r.emails),
                phone: wire::primary(&r.phones),
                ..RemoteFields::default()
            },
            Kind::Company => RemoteFields { name: r.name.clone(), ..RemoteFields::default() },
            Kind::Deal => RemoteFields {
                title: r.title.clone(),
                value: r.value.filter(|v| v.is_finite() && *v >= 0.0).map(|v| v.round() as u64),
                stage: catalogue.stages.as_ref().and_then(|s| s.local_stage(r.stage_id, r.status.as_deref())),
                ..RemoteFields::default()
            },
            Kind::Activity => return None,
        };
        Some(RemoteChange { kind, remote_id: r.id.to_string(), local_id, modified_ms, fields })
    }

    /// A webhook delivery as a change for the local CRM: persons,
    /// organizations and deals created or changed (deletes and other
    /// entities are not pulled). Our id is read with the field keys
    /// `prepare` loaded. Echoes of our own writes (`change_source: api`) are
    /// returned too: the caller drops those it recorded writing.
    pub fn webhook_change(&self, event: &WebhookEvent) -> Option<RemoteChange> {
        let kind = match event.meta.entity.as_str() {
            "person" => Kind::Contact,
            "organization" => Kind::Company,
            "deal" => Kind::Deal,
            _ => return None,
        };
        if !matches!(event.meta.action.as_str(), "create" | "change" | "added" | "updated") {
            return None;
        }
        self.change(kind, event.data.as_ref()?, &self.catalogue())
    }
}

impl Connector for PipedriveConnector {
    fn platform(&self) -> Platform {
        Platform::Pipedrive
    }

    /// Pipedrive writes one record per request.
    fn batch_size(&self, _kind: Kind) -> usize {
        1
    }

    /// Loads (or creates) the "juru id" fields and the stage catalogue; a
    /// refused credential surfaces here as `Auth`.
    async fn prepare(&self) -> Result<(), SyncError> {
        let mut fresh = Catalogue::default();
        for kind in [Kind::Company, Kind::Contact, Kind::Deal] {
            fresh.id_keys.insert(kind, self.ensure_id_field(kind).await?);
        }
        fresh.stages = Some(self.load_stages().await?);
        self.update_catalogue(|c| *c = fresh);
        Ok(())
    }

    async fn push(&self, items: &[Item], ids: &dyn RemoteIds) -> Result<Vec<Outcome>, SyncError> {
        let mut outcomes = Vec::with_capacity(items.len());
        for item in items {
            match self.push_record(item, ids).await {
                Ok(outcome) => outcomes.push(outcome),
                Err(e) if outcomes.is_empty() => return Err(e),
                // Keep what went through; the rest waits for the next call.
                Err(e) => outcomes.push(Outcome::Retry { reason: e.to_string() }),
            }
        }
        Ok(outcomes)
    }

    /// One page (≤ 500) of persons, organizations or deals updated after
    /// `since_ms`, oldest first. Pipedrive's times have whole seconds, so
    /// the page is asked from `since_ms`'s second and what is not newer
    /// than `since_ms` is dropped. Activities are not pulled.
    async fn pull(&self, kind: Kind, since_ms: Option<u64>) -> Result<Pulled, SyncError> {
        if kind == Kind::Activity {
            return Ok(Pulled::default());
        }
        let _ = self.id_key(kind).await?;
        if kind == Kind::Deal {
            self.stages().await?;
        }
        let mut query = vec![
            ("sort_by", "update_time".to_string()),
            ("sort_direction", "asc".to_string()),
            ("limit", PAGE.to_string()),
        ];
        if let Some(since) = since_ms {
            query.insert(0, ("updated_since", wire::rfc3339(since)));
        }
        let (records, next): (Vec<RemoteRecord>, _) = self.get(format!("/api/v2/{}", object(kind)), query).await?;
        let catalogue = self.catalogue();
        let changes: Vec<RemoteChange> = records
            .iter()
            .filter_map(|r| self.change(kind, r, &catalogue))
            .filter(|c| since_ms.is_none_or(|s| c.modified_ms > s))
            .collect();
        let cursor = changes.iter().map(|c| c.modified_ms).max().or(since_ms);
        Ok(Pulled { changes, cursor, more: next.is_some() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn answer(status: u16, headers: &[(&'static str, &str)], body: &str) -> Answer {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        Answer { status: StatusCode::from_u16(status).unwrap(), headers: map, body: body.as_bytes().to_vec() }
    }

    #[test]
    fn a_burst_429_waits_for_the_window_and_a_spent_day_says_daily() {
        let burst = answer(429, &[("x-ratelimit-reset", "2"), ("x-daily-requests-left", "120")], "{}");
        assert_eq!(
            classify(&burst),
            SyncError::Throttled { reason: "429: {}".into(), retry_after: Some(Duration::from_secs(2)), daily: false }
        );
        let daily = answer(429, &[("x-ratelimit-reset", "7"), ("x-daily-requests-left", "0")], "{}");
        assert!(matches!(classify(&daily), SyncError::Throttled { daily: true, .. }));
        let after = answer(429, &[("retry-after", "9"), ("x-ratelimit-reset", "2")], "{}");
        assert!(matches!(classify(&after), SyncError::Throttled { retry_after: Some(d), .. } if d.as_secs() == 9));
    }

    #[test]
    fn an_html_403_is_cloudflare_and_a_json_403_is_for_good() {
        let html = answer(403, &[("content-type", "text/html")], "<!DOCTYPE html><title>Attention Required</title>");
        assert!(
            matches!(classify(&html), SyncError::Throttled { retry_after: Some(d), .. } if d == CLOUDFLARE_BACKOFF)
        );
        let json = answer(403, &[], r#"{"success":false,"error":"Plan limit","code":"feature_capping_deals_limit"}"#);
        assert_eq!(classify(&json), SyncError::Permanent("403: Plan limit".into()));
        assert!(matches!(classify(&answer(503, &[], "")), SyncError::Transient(_)));
        assert!(matches!(classify(&answer(401, &[], "")), SyncError::Auth(_)));
    }

    #[test]
    fn a_validation_error_is_dead_with_the_vendors_words() {
        let a = answer(400, &[], r#"{"success":false,"error":"Validation failed: name: Name must be given"}"#);
        assert_eq!(written(&a), Ok(Outcome::Dead { reason: "Validation failed: name: Name must be given".into() }));
        let ok = answer(200, &[], r#"{"success":true,"data":{"id":17,"name":"x"}}"#);
        assert_eq!(written(&ok), Ok(Outcome::Done { remote_id: "17".into() }));
    }

    #[test]
    fn activity_remote_ids_carry_the_note_id() {
        assert_eq!(split_activity_id(Some("12/note:34")), (Some(12), Some(34)));
        assert_eq!(split_activity_id(Some("12")), (Some(12), None));
        assert_eq!(split_activity_id(Some("x")), (None, None));
        assert_eq!(
            query_string(&[("term", "a b&c".into()), ("since", "2026-11-23T03:00:00Z".into())]),
            "?term=a%20b%26c&since=2026-11-23T03%3A00%3A00Z"
        );
    }
}
