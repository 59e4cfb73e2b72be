//! Microsoft Dynamics 365 / Dataverse Web API v9.2: companies → accounts,
//! contacts → contacts, deals → opportunities, activities → tasks (plus a
//! note when they carry notes), upserted by `PATCH` on the alternate key
//! holding our id (`contacts(juru_waid='…')`), up to 1 000 operations per
//! `$batch`, one change set per record (see [`batch`]).
//!
//! Auth is app-only: Microsoft Entra ID client credentials
//! (`{login}/{tenant}/oauth2/v2.0/token`, scope `{org}/.default`), the app
//! being an application user of the environment. Every request carries
//! `OData-Version: 4.0`. Last-modified wins on the way out too: a row we
//! wrote is updated with `If-Match` on the ETag we last saw; a 412 means it
//! changed in Dynamics since, and the newer side wins (the other direction
//! is [`super::pull`]). Service protection answers 429 with `Retry-After`,
//! honoured exactly; `x-ms-ratelimit-burst-remaining-xrm-requests` feeds the limiter.

mod batch;
mod records;
pub mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Map, Value};

pub use self::batch::{Operation, SetResult};
use self::records::{Context, StageMap};
pub use self::records::{activity_guid, iso_utc};
use self::wire::{KeysAnswer, ListAnswer, PicklistAnswer, TokenAnswer, classify};
use super::credential::Credential;
use super::http::{Answer, Http, encode_pairs, escape};
use super::limit::Limiter;
use super::{Connector, Item, Kind, Outcome, Pulled, Record, RemoteIds, SyncError};
use crate::clock::now_ms;
use crate::config::DynamicsConfig;
use crate::crm::settings::{FieldMapping, Platform};

/// Dataverse takes at most 1 000 operations per `$batch`.
pub const MAX_BATCH: usize = 1000;
/// Rows per page on pull (`Prefer: odata.maxpagesize`).
const PAGE: usize = 500;
/// Rows whose ETag is kept; past it the memory starts over (an update
/// without `If-Match` is a plain upsert, and the pull still decides by time).
const SEEN_MAX: usize = 200_000;
/// Service protection counts per user in a sliding 5 minutes.
const WINDOW: Duration = Duration::from_secs(300);
const TIMEOUT: Duration = Duration::from_secs(60);
const API: &str = "/api/data/v9.2";

/// What the connector last saw of a row it wrote or read: its ETag, and
/// whether Dynamics holds a newer version than ours (a 412 lost by us).
#[derive(Debug, Clone, Default)]
struct Seen {
    etag: Option<String>,
    /// Dynamics' `modifiedon` when it was newer than our copy: the push waits
    /// until the pull has brought it (or our copy changes again).
    newer_remote_ms: Option<u64>,
}

/// The Dynamics 365 connector of one environment.
pub struct DynamicsConnector {
    http: Http,
    config: DynamicsConfig,
    secret: String,
    mapping: FieldMapping,
    /// The access token and when it expires; held across a refresh.
    token: tokio::sync::Mutex<Option<(String, u64)>>,
    stages: RwLock<Option<Arc<StageMap>>>,
    seen: Mutex<HashMap<(Kind, String), Seen>>,
}

impl DynamicsConnector {
    /// A connector within `config.requests_per_5min`; the credential is the
    /// app's client secret (config or `#crm auth --api-key`).
    pub fn new(config: &DynamicsConfig, credential: Credential, mapping: FieldMapping) -> DynamicsConnector {
        let secret = match credential {
            Credential::ApiKey(secret) => secret,
            // Never stored for Dynamics (no consent flow): without a secret, prepare asks for one.
            Credential::OAuth(_) => String::new(),
        };
        DynamicsConnector {
            http: Http::new(Limiter::new(config.requests_per_5min, WINDOW), TIMEOUT),
            config: config.clone(),
            secret,
            mapping,
            token: tokio::sync::Mutex::new(None),
            stages: RwLock::new(None),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Another request timeout (tests, benchmarks); the limiter is kept.
    pub fn with_timeout(mut self, timeout: Duration) -> DynamicsConnector {
        self.http = self.http.with_timeout(timeout);
        self
    }

    /// How long the budget holds requests back (status reports).
    pub fn paused_for(&self) -> Option<Duration> {
        self.http.limiter.paused_for()
    }

    fn org(&self) -> Result<String, SyncError> {
        let org = self.config.org_url.as_ref().ok_or_else(|| {
            SyncError::Permanent(
                "[crm.dynamics] org_url is not set: add your environment's URL (https://yourorg.crm.dynamics.com, \
                 Power Platform admin center → Environments → Environment URL) to config.toml"
                    .into(),
            )
        })?;
        Ok(org.as_str().trim_end_matches('/').to_string())
    }

    fn api(&self) -> Result<String, SyncError> {
        Ok(format!("{}{API}", self.org()?))
    }

    /// A valid access token, fetched again shortly before it expires.
    async fn access_token(&self, stale: Option<&str>) -> Result<String, SyncError> {
        let mut token = self.token.lock().await;
        let fresh = token.as_ref().filter(|(t, expires)| {
            Some(t.as_str()) != stale && now_ms() + super::credential::Tokens::REFRESH_MARGIN_MS < *expires
        });
        if let Some((t, _)) = fresh {
            return Ok(t.clone());
        }
        let got = self.request_token().await?;
        *token = Some(got.clone());
        Ok(got.0)
    }

    async fn request_token(&self) -> Result<(String, u64), SyncError> {
        let (Some(tenant), Some(client_id)) = (&self.config.tenant, &self.config.client_id) else {
            return Err(SyncError::Permanent(
                "[crm.dynamics] tenant and client_id are not set: add the app registration's Directory (tenant) \
                 ID and Application (client) ID to config.toml"
                    .into(),
            ));
        };
        if self.secret.is_empty() {
            return Err(SyncError::Auth(
                "Dynamics 365 has no client secret yet: #crm auth --platform dynamics --api-key CLIENT_SECRET".into(),
            ));
        }
        let scope = format!("{}/.default", self.org()?);
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id.as_str()),
            ("client_secret", self.secret.as_str()),
            ("scope", scope.as_str()),
        ];
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.config.login_url.as_str().trim_end_matches('/'),
            escape(tenant.trim())
        );
        let request = self
            .http
            .client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode_pairs(&form));
        let answer = self.http.send(request).await.map_err(|e| match e {
            SyncError::Transient(m) => SyncError::Transient(format!(
                "Microsoft Entra ID could not be reached at {} ({m}): check [crm.dynamics] login_url",
                self.config.login_url.as_str()
            )),
            other => other,
        })?;
        if answer.status.is_server_error() || answer.status.as_u16() == 429 {
            return Err(classify(&answer));
        }
        let t: TokenAnswer = serde_json::from_slice(&answer.body).unwrap_or_default();
        if let Some(error) = t.error.filter(|e| !e.is_empty()) {
            let words = t.error_description.unwrap_or_default();
            let first = words.lines().next().unwrap_or_default().to_string();
            // AADSTS500011: no such resource (environment) in the tenant: the org URL is wrong.
            let check = if first.contains("AADSTS500011") {
                "[crm.dynamics] org_url (your environment's URL, https://yourorg.crm.dynamics.com) and tenant"
            } else {
                "[crm.dynamics] tenant, client_id and the client secret (#crm auth --platform dynamics --api-key \
                 CLIENT_SECRET)"
            };
            return Err(SyncError::Auth(format!(
                "Microsoft Entra ID refused the token request ({error}: {first}). Check {check}"
            )));
        }
        if !answer.status.is_success() || t.access_token.is_empty() {
            return Err(SyncError::Auth(format!(
                "Microsoft Entra ID's token answer ({}) has no access token: {}",
                answer.status.as_u16(),
                answer.snippet()
            )));
        }
        Ok((t.access_token, now_ms() + t.expires_in.unwrap_or(3600) * 1000))
    }

    /// One call to the Web API with the OData headers; a 401 fetches a new
    /// token once and tries again.
    async fn call(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<(String, String)>,
    ) -> Result<Answer, SyncError> {
        let mut token = self.access_token(None).await?;
        let mut renewed = false;
        loop {
            let mut request = self
                .http
                .client
                .request(method.clone(), url)
                .bearer_auth(&token)
                .header("odata-version", "4.0")
                .header("odata-maxversion", "4.0")
                .header("accept", "application/json");
            for (k, v) in headers {
                request = request.header(*k, v);
            }
            if let Some((content_type, body)) = &body {
                request = request.header("content-type", content_type).body(body.clone());
            }
            let answer = self.http.send(request).await.map_err(|e| self.unreachable(e))?;
            self.observe(&answer);
            if answer.status.as_u16() == 401 && !renewed {
                renewed = true;
                token = self.access_token(Some(&token)).await?;
                continue;
            }
            return Ok(answer);
        }
    }

    /// A network failure names the org URL: a wrong one is the usual cause.
    fn unreachable(&self, e: SyncError) -> SyncError {
        match e {
            SyncError::Transient(m) => SyncError::Transient(format!(
                "Dynamics 365 at {} could not be reached ({m}): check [crm.dynamics] org_url \
                 (https://yourorg.crm.dynamics.com)",
                self.config.org_url.as_ref().map_or("", |u| u.as_str())
            )),
            other => other,
        }
    }

    /// Feeds the limiter: the user's remaining requests and a 429's wait.
    fn observe(&self, answer: &Answer) {
        self.http.limiter.observe(wire::remaining(answer), None);
        if answer.status.as_u16() == 429 {
            self.http.limiter.pause(answer.retry_after().unwrap_or(Duration::from_secs(5)));
        }
    }

    async fn get_ok(&self, url: &str) -> Result<Answer, SyncError> {
        let answer = self.call(Method::GET, url, &[], None).await?;
        if answer.status.is_success() { Ok(answer) } else { Err(classify(&answer)) }
    }

    /// Accounts, contacts and opportunities each have an active alternate
    /// key on our id column; the owner is told exactly what to add and where.
    async fn check_keys(&self) -> Result<(), SyncError> {
        let column = &self.config.id_column;
        let mut problems = Vec::new();
        for table in records::KEYED {
            let url = format!(
                "{}/EntityDefinitions(LogicalName='{}')/Keys?$select=LogicalName,KeyAttributes,EntityKeyIndexStatus",
                self.api()?,
                table.logical
            );
            let keys: KeysAnswer = self.get_ok(&url).await?.json()?;
            let ours = keys.value.iter().find(|k| k.key_attributes.len() == 1 && k.key_attributes[0] == *column);
            match ours {
                None => problems.push(format!("{} has no alternate key on {column}", table.logical)),
                Some(k) if !k.entity_key_index_status.eq_ignore_ascii_case("active") => problems.push(format!(
                    "the key {} of {} is {} (not active yet)",
                    k.logical_name, table.logical, k.entity_key_index_status
                )),
                Some(_) => {}
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(SyncError::Permanent(format!(
            "Dynamics 365 is missing the key that keeps the sync free of duplicates ({}). In Power Apps → Tables, \
             on Account, Contact and Opportunity add a text column {column} (Single line of text) and under Keys a \
             key on that column; wait until it is Active, then run #crm sync again",
            problems.join("; ")
        )))
    }

    /// The opportunity's Sales Stage options, mapped onto our stages and cached.
    async fn load_stages(&self) -> Result<Arc<StageMap>, SyncError> {
        let url = format!(
            "{}/EntityDefinitions(LogicalName='opportunity')/Attributes(LogicalName='salesstage')/\
             Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet($select=Options)",
            self.api()?
        );
        let list: PicklistAnswer = self.get_ok(&url).await?.json()?;
        let map = StageMap::build(&list.option_set.options).ok_or_else(|| {
            SyncError::Permanent(
                "the opportunity's Sales Stage (salesstage) choice has no options: add Qualify, Develop, Propose \
                 and Close (Power Apps → Tables → Opportunity → Columns → Sales Stage)"
                    .into(),
            )
        })?;
        let map = Arc::new(map);
        *self.stages.write().unwrap_or_else(|p| p.into_inner()) = Some(map.clone());
        Ok(map)
    }

    async fn stages(&self) -> Result<Arc<StageMap>, SyncError> {
        let cached = self.stages.read().unwrap_or_else(|p| p.into_inner()).clone();
        match cached {
            Some(map) => Ok(map),
            None => self.load_stages().await,
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<(Kind, String), Seen>> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > SEEN_MAX {
            seen.clear();
        }
        seen
    }

    /// The change set of one record: its upsert (and its note), or why it cannot go.
    fn change_set(&self, api: &str, item: &Item, cx: &Context<'_>) -> Result<Vec<Operation>, Outcome> {
        let record = &item.record;
        let key = (record.kind(), record.local_id());
        let seen = self.seen().get(&key).cloned().unwrap_or_default();
        if let Some(remote_ms) = seen.newer_remote_ms
            && records::local_modified_ms(record) <= remote_ms
        {
            return Err(Outcome::Retry {
                reason: "Dynamics holds a newer version of this record (changed there after our last write): the \
                         pull brings it first"
                    .into(),
            });
        }
        let body = records::body(record, cx)?;
        let table = records::table(record.kind());
        let mut headers = vec![("Prefer", "return=representation".to_string())];
        // After an unanswered push the ETag we hold may be our own old one.
        if let Some(etag) = seen.etag.filter(|_| !item.unsure) {
            headers.push(("If-Match", etag));
        }
        let mut ops = vec![Operation {
            method: "PATCH",
            url: format!("{api}/{}?$select={},modifiedon", records::address(record, cx.id_column), table.id),
            headers,
            body: Some(Value::Object(body).to_string()),
        }];
        if let Record::Activity(a) = record
            && let Some(note) = records::note(a, cx)?
        {
            ops.push(Operation {
                method: "PATCH",
                url: format!("{api}/{}({})", records::ANNOTATION.set, records::activity_guid(a.seq, 2)),
                headers: Vec::new(),
                body: Some(Value::Object(note).to_string()),
            });
        }
        Ok(ops)
    }

    /// One `$batch` of records of one kind; one outcome each, in order.
    async fn push_batch(&self, items: &[Item], ids: &dyn RemoteIds) -> Result<Vec<Outcome>, SyncError> {
        let Some(kind) = items.first().map(|i| i.record.kind()) else { return Ok(Vec::new()) };
        let stages = if kind == Kind::Deal { Some(self.stages().await?) } else { None };
        let cx = Context { id_column: &self.config.id_column, mapping: &self.mapping, stages: stages.as_deref(), ids };
        let api = self.api()?;
        let mut outcomes: Vec<Option<Outcome>> = vec![None; items.len()];
        let mut sent = Vec::new();
        let mut sets = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if item.record.kind() != kind {
                outcomes[i] = Some(Outcome::Retry { reason: "pushed in a batch of another kind".into() });
                continue;
            }
            match self.change_set(&api, item, &cx) {
                Ok(ops) => {
                    sent.push(i);
                    sets.push(ops);
                }
                Err(outcome) => outcomes[i] = Some(outcome),
            }
        }
        if !sets.is_empty() {
            let results = self.send_batch(&api, &sets).await?;
            let mut conflicts = Vec::new();
            for (n, i) in sent.into_iter().enumerate() {
                let outcome = self.outcome(kind, &items[i], &results[n]);
                if matches!(&results[n], SetResult::Failed(r) if r.status == wire::VERSION_MISMATCH) {
                    conflicts.push(i);
                }
                if kind == Kind::Deal && matches!(&outcome, Outcome::Dead { reason } if reason.contains("salesstage")) {
                    // A stage option removed in Dynamics: reload before the next push.
                    *self.stages.write().unwrap_or_else(|p| p.into_inner()) = None;
                }
                outcomes[i] = Some(outcome);
            }
            for i in conflicts {
                outcomes[i] = Some(self.settle_conflict(&api, &items[i], &cx).await);
            }
        }
        Ok(outcomes.into_iter().map(|o| o.unwrap_or_else(|| Outcome::Retry { reason: "not sent".into() })).collect())
    }

    /// `POST $batch`; one result per change set, or the call's failure.
    async fn send_batch(&self, api: &str, sets: &[Vec<Operation>]) -> Result<Vec<SetResult>, SyncError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (content_type, body) = batch::write(&id, sets);
        let prefer = [("prefer", "odata.continue-on-error".to_string())];
        let answer = self.call(Method::POST, &format!("{api}/$batch"), &prefer, Some((content_type, body))).await?;
        if !answer.status.is_success() {
            return Err(classify(&answer));
        }
        let results = answer.header("content-type").and_then(|ct| batch::read(ct, &answer.body));
        match results {
            Some(r) if r.len() == sets.len() => Ok(r),
            _ => Err(SyncError::Transient(format!(
                "Dynamics answered the $batch ({}) without one result per change set: {}",
                answer.status.as_u16(),
                answer.snippet()
            ))),
        }
    }

    /// What one change set's result means; the row's ETag is kept on success.
    fn outcome(&self, kind: Kind, item: &Item, result: &SetResult) -> Outcome {
        let table = records::table(kind);
        match result {
            SetResult::Applied(answers) => {
                let Some(first) = answers.first() else {
                    return Outcome::Retry { reason: "Dynamics answered an empty change set".into() };
                };
                if !(200..300).contains(&first.status) {
                    return wire::outcome_of(first.status, &first.body);
                }
                let row: Map<String, Value> = serde_json::from_slice(&first.body).unwrap_or_default();
                let id = row.get(table.id).and_then(Value::as_str).map(str::to_string).or_else(|| {
                    // 204 without a body: the id is in `OData-EntityId: …/contacts(<guid>)`.
                    let entity = first.header("odata-entityid")?;
                    let inner = entity.rsplit_once('(')?.1.strip_suffix(')')?;
                    (!inner.contains('=')).then(|| inner.to_string())
                });
                let Some(id) = id else {
                    return Outcome::Retry { reason: "Dynamics stored the row without naming its id".into() };
                };
                let etag = row.get("@odata.etag").and_then(Value::as_str).or(first.header("etag")).map(str::to_string);
                self.seen().insert((kind, item.record.local_id()), Seen { etag, newer_remote_ms: None });
                Outcome::Done { remote_id: id }
            }
            SetResult::Failed(r) if r.status == wire::VERSION_MISMATCH => {
                Outcome::Retry { reason: "changed in Dynamics since our last write (412)".into() }
            }
            SetResult::Failed(r) => wire::outcome_of(r.status, &r.body),
        }
    }

    /// After a 412: reads the row; the newer side wins. Ours newer: the next
    /// try updates on the row's current ETag. Theirs newer: the push waits
    /// for the pull to bring it (our older change is not written over it).
    async fn settle_conflict(&self, api: &str, item: &Item, cx: &Context<'_>) -> Outcome {
        let record = &item.record;
        let table = records::table(record.kind());
        let url = format!("{api}/{}?$select={},modifiedon", records::address(record, cx.id_column), table.id);
        let row: Map<String, Value> = match self.get_ok(&url).await.and_then(|a| a.json()) {
            Ok(row) => row,
            Err(e) => return Outcome::Retry { reason: format!("changed in Dynamics since our last write: {e}") },
        };
        let etag = row.get("@odata.etag").and_then(Value::as_str).map(str::to_string);
        let remote_ms = row.get("modifiedon").and_then(Value::as_str).and_then(crate::clock::parse_instant_ms);
        // Without a pull nothing would ever bring Dynamics' version: ours is written.
        let theirs_newer =
            self.config.pull_secs > 0 && remote_ms.is_some_and(|r| r > records::local_modified_ms(record));
        let seen = Seen { etag, newer_remote_ms: remote_ms.filter(|_| theirs_newer) };
        self.seen().insert((record.kind(), record.local_id()), seen);
        let reason = if theirs_newer {
            "changed in Dynamics after our change (last modified wins): the pull brings Dynamics' version"
        } else {
            "changed in Dynamics before our change (last modified wins): written again over its current version"
        };
        Outcome::Retry { reason: reason.into() }
    }
}

impl Connector for DynamicsConnector {
    fn platform(&self) -> Platform {
        Platform::Dynamics
    }

    /// Records per `$batch`: `batch_size`, halved for activities (a task and its note).
    fn batch_size(&self, kind: Kind) -> usize {
        let size = self.config.batch_size.clamp(1, MAX_BATCH);
        if kind == Kind::Activity { (size / 2).max(1) } else { size }
    }

    /// Gets a token, checks the alternate keys and loads the sales stages.
    /// Writes nothing; safe to run again.
    async fn prepare(&self) -> Result<(), SyncError> {
        self.org()?;
        self.access_token(None).await?;
        self.check_keys().await?;
        self.load_stages().await.map(drop)
    }

    async fn push(&self, items: &[Item], ids: &dyn RemoteIds) -> Result<Vec<Outcome>, SyncError> {
        let mut outcomes = Vec::with_capacity(items.len());
        let size = items.first().map_or(1, |i| self.batch_size(i.record.kind()));
        for chunk in items.chunks(size) {
            outcomes.extend(self.push_batch(chunk, ids).await?);
        }
        Ok(outcomes)
    }

    /// Rows we pushed (our id column set) modified since `since_ms`, oldest
    /// first; pages by `@odata.nextLink`. `ge`, not `gt`: `modifiedon` has
    /// whole seconds, and a row changed later in the cursor's second must
    /// not be skipped (rereading is harmless).
    async fn pull(&self, kind: Kind, since_ms: Option<u64>, page: Option<&str>) -> Result<Pulled, SyncError> {
        let api = self.api()?;
        let table = records::table(kind);
        let column = &self.config.id_column;
        let url = match page {
            // Only a link under our own API root is followed: it carries the token.
            Some(link) if link.starts_with(&api) => link.to_string(),
            _ => {
                let mut filter = format!("{column} ne null");
                if let Some(since) = since_ms {
                    filter.push_str(&format!(" and modifiedon ge {}", iso_utc(since)));
                }
                format!(
                    "{api}/{}?$select={}&$filter={}&$orderby={}",
                    table.set,
                    records::pull_columns(kind, column),
                    escape(&filter),
                    escape(&format!("modifiedon asc,{} asc", table.id))
                )
            }
        };
        let prefer = [("prefer", format!("odata.maxpagesize={PAGE}"))];
        let answer = self.call(Method::GET, &url, &prefer, None).await?;
        if !answer.status.is_success() {
            return Err(classify(&answer));
        }
        let list: ListAnswer = answer.json()?;
        let stages = if kind == Kind::Deal { Some(self.stages().await?) } else { None };
        let mut changes = Vec::with_capacity(list.value.len());
        for row in &list.value {
            let Some(change) = records::change(kind, row, column, stages.as_deref()) else { continue };
            if let Some(local) = &change.local_id {
                // What we now know of the row: its current ETag, nothing newer pending.
                let etag = row.get("@odata.etag").and_then(Value::as_str).map(str::to_string);
                self.seen().insert((kind, local.clone()), Seen { etag, newer_remote_ms: None });
            }
            changes.push(change);
        }
        Ok(Pulled { cursor: changes.iter().map(|c| c.modified_ms).max(), next_page: list.next_link, changes })
    }
}
