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

mod answers;
pub mod stages;
pub mod webhook;
pub mod wire;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use self::answers::{CLOUDFLARE_BACKOFF, TIMEOUT, data, header_u64, is_html, query_string, token_request, written};
pub use self::answers::{classify, exchange_code};
use self::stages::StageMap;
pub use self::webhook::{WebhookError, WebhookEvent, WebhookMeta, parse_webhook, verify_basic_auth};
use self::wire::{ActivityRow, Envelope, Field, Links, NoteRow, Pipeline, RemoteRecord, SearchData, StageItem};
use super::credential::{Credential, TokenSink};
use super::http::{Answer, Http};
use super::limit::Limiter;
use super::{Connector, Item, Kind, Outcome, Pulled, Record, RemoteChange, RemoteFields, RemoteIds, SyncError};
use crate::config::PipedriveConfig;
use crate::crm::activity::Activity;
use crate::crm::settings::{FieldMapping, Platform};

/// The name of the text custom field that holds our id.
pub const ID_FIELD_NAME: &str = "juru id";
/// Pipedrive counts burst requests over a rolling 2 seconds.
const WINDOW: Duration = Duration::from_secs(2);
/// Pipedrive's largest page.
const PAGE: &str = "500";
/// Pages read when looking for an unsure activity/note or a field.
const MAX_PAGES: usize = 20;

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

impl PipedriveConnector {
    /// The connector of one account: `config.requests_per_2s` sizes its
    /// limiter (the plan's burst budget); refreshed OAuth tokens go to `on_tokens`.
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
            && t.needs_refresh(crate::clock::now_ms())
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
                phone: wire::primary(&r.phones).as_deref().and_then(crate::phone::pulled),
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
    async fn pull(&self, kind: Kind, since_ms: Option<u64>, page: Option<&str>) -> Result<Pulled, SyncError> {
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
        query.extend(page.map(|p| ("cursor", p.to_string())));
        let (records, next): (Vec<RemoteRecord>, _) = self.get(format!("/api/v2/{}", object(kind)), query).await?;
        let catalogue = self.catalogue();
        let changes: Vec<RemoteChange> = records
            .iter()
            .filter_map(|r| self.change(kind, r, &catalogue))
            .filter(|c| since_ms.is_none_or(|s| c.modified_ms > s))
            .collect();
        let cursor = changes.iter().map(|c| c.modified_ms).max().or(since_ms);
        Ok(Pulled { changes, cursor, next_page: next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_remote_ids_carry_the_note_id() {
        assert_eq!(split_activity_id(Some("12/note:34")), (Some(12), Some(34)));
        assert_eq!(split_activity_id(Some("12")), (Some(12), None));
        assert_eq!(split_activity_id(Some("x")), (None, None));
    }
}
