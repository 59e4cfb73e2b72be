//! Freshsales (Freshworks CRM): companies → sales accounts, contacts →
//! contacts, deals → deals, activities → tasks (plus a note when they carry
//! notes). Accounts, contacts and deals go one per call to
//! `POST /api/{entity}/upsert` with `unique_identifier` on the unique custom
//! field holding our id (`cf_juru_id`), so a record pushed twice, or after a
//! timeout, exists once. Tasks have no upsert: they are created once, then
//! updated by their id; after an unknown outcome the target's tasks are read
//! and the one ending with our marker is updated instead of created again.
//!
//! The account lives at its bundle domain
//! (`https://{bundle}.myfreshworks.com/crm/sales/api/…`, legacy accounts
//! `https://{domain}.freshsales.io/api/…`); requests carry
//! `Authorization: Token token=…`. The budget is per account and hour (1000
//! on Free/Growth, 2000 Pro, 5000 Enterprise): the limiter keeps to the
//! configured one, and `X-RateLimit-Remaining` = 0 or a 429 (`Retry-After`)
//! pauses it. Deal stages come from the deal pipeline API.

mod records;
pub mod wire;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Map, Value, json};

use self::records::{Context, StageMap};
pub use self::records::{StageMap as FreshsalesStages, task_marker};
use self::wire::{FieldsAnswer, PipelinesAnswer, StagesAnswer, classify, id_text};
use super::credential::Credential;
use super::http::{Answer, Http};
use super::limit::Limiter;
use super::{Connector, Item, Kind, Outcome, Pulled, Record, RemoteIds, SyncError};
use crate::clock::now_ms;
use crate::config::FreshsalesConfig;
use crate::crm::settings::{FieldMapping, Platform};

const WINDOW: Duration = Duration::from_secs(3600);
const TIMEOUT: Duration = Duration::from_secs(30);
/// Records per page on pull.
const PAGE: usize = 100;

/// The Freshsales connector of one account.
pub struct FreshsalesConnector {
    http: Http,
    config: FreshsalesConfig,
    /// `…/crm/sales` or a legacy host, or why the domain is unusable.
    base: Result<String, String>,
    key: String,
    mapping: FieldMapping,
    stages: RwLock<Option<Arc<StageMap>>>,
}

/// The API root for `[crm.freshsales] domain`: a bundle alias (`acme`), a
/// bundle host or URL (`https://acme.myfreshworks.com` gets `/crm/sales`),
/// a legacy `https://acme.freshsales.io`, or any full URL as given.
pub fn api_root(domain: &str) -> Result<String, String> {
    let d = domain.trim().trim_end_matches('/');
    let fix = "set [crm.freshsales] domain to the bundle alias shown in Freshsales → Profile Settings → API \
               Settings (acme for https://acme.myfreshworks.com)";
    if d.is_empty() {
        return Err(format!("no Freshsales domain: {fix}"));
    }
    let alias_only = d.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let url = if alias_only {
        format!("https://{d}.myfreshworks.com")
    } else if d.starts_with("https://") || d.starts_with("http://") {
        d.to_string()
    } else {
        format!("https://{d}")
    };
    let after_scheme = url.split("://").nth(1).unwrap_or_default();
    let (host, path) = after_scheme.split_once('/').unwrap_or((after_scheme, ""));
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!("`{domain}` is not a Freshsales domain: {fix}"));
    }
    let bundle = host.ends_with(".myfreshworks.com") || host.ends_with(".freshworks.com");
    Ok(if bundle && path.is_empty() { format!("{url}/crm/sales") } else { url })
}

impl FreshsalesConnector {
    /// A connector within `config.requests_per_hour`; the credential is the
    /// user's API key from `#crm auth --api-key` or config.
    pub fn new(config: &FreshsalesConfig, credential: Credential, mapping: FieldMapping) -> FreshsalesConnector {
        let key = match credential {
            Credential::ApiKey(key) => key,
            // Freshsales has no OAuth for its CRM API; a token stored as one is used as the key.
            Credential::OAuth(t) => t.access_token,
        };
        FreshsalesConnector {
            http: Http::new(Limiter::new(config.requests_per_hour, WINDOW), TIMEOUT),
            config: config.clone(),
            base: api_root(&config.domain),
            key,
            mapping,
            stages: RwLock::new(None),
        }
    }

    /// Another request timeout (tests, benchmarks); the limiter is kept.
    pub fn with_timeout(mut self, timeout: Duration) -> FreshsalesConnector {
        self.http = self.http.with_timeout(timeout);
        self
    }

    /// Another budget window (the benchmark runs an hour's budget in less).
    pub fn with_window(mut self, max: usize, window: Duration) -> FreshsalesConnector {
        self.http.limiter = Arc::new(Limiter::new(max, window));
        self
    }

    /// How long the budget holds requests back (status reports).
    pub fn paused_for(&self) -> Option<Duration> {
        self.http.limiter.paused_for()
    }

    fn root(&self) -> Result<&str, SyncError> {
        self.base.as_deref().map_err(|e| SyncError::Permanent(e.clone()))
    }

    /// One call under `{root}/api`; the limiter learns from the answer.
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Answer, SyncError> {
        let root = self.root()?;
        if self.key.trim().is_empty() {
            return Err(SyncError::Auth(format!("no Freshsales API key. {}", wire::KEY_FIX)));
        }
        let url = format!("{root}/api{path}");
        let mut request = self
            .http
            .client
            .request(method, &url)
            .header("authorization", format!("Token token={}", self.key))
            .header("accept", "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let answer = self.http.send(request).await.map_err(|e| match e {
            SyncError::Transient(m) => SyncError::Transient(format!(
                "{m} (no answer from Freshsales at {root}; if it lasts, check [crm.freshsales] domain)"
            )),
            other => other,
        })?;
        let now = now_ms();
        let reset = answer.reset_after(now);
        self.http.limiter.observe(wire::remaining(&answer), reset);
        if answer.status.as_u16() == 429 {
            self.http.limiter.pause(reset.unwrap_or(Duration::from_secs(60)));
        }
        Ok(answer)
    }

    async fn get_ok(&self, path: &str) -> Result<Answer, SyncError> {
        let answer = self.call(Method::GET, path, None).await?;
        if answer.status.is_success() {
            return Ok(answer);
        }
        Err(match classify(&answer, now_ms()) {
            // A wrong bundle alias answers 404 on every path.
            SyncError::Permanent(m) if answer.status.as_u16() == 404 => SyncError::Permanent(format!(
                "{m} at {}/api{path}: is [crm.freshsales] domain the bundle alias from Profile Settings → API \
                 Settings?",
                self.root().unwrap_or_default()
            )),
            other => other,
        })
    }

    /// Contacts, accounts and deals have our unique id field; the owner is
    /// told exactly which are missing it and how to add it.
    async fn check_id_field(&self) -> Result<(), SyncError> {
        let field = &self.config.id_field;
        let mut missing = Vec::new();
        for (entity, title) in [("contacts", "Contacts"), ("sales_accounts", "Accounts"), ("deals", "Deals")] {
            let fields: FieldsAnswer = self.get_ok(&format!("/settings/{entity}/fields")).await?.json()?;
            if !fields.fields.iter().any(|f| f.name.eq_ignore_ascii_case(field)) {
                missing.push(title);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let label = field.strip_prefix("cf_").unwrap_or(field).replace('_', " ");
        Err(SyncError::Permanent(format!(
            "Freshsales has no field {field} on {} (it keeps the sync free of duplicates). In Freshsales → Admin \
             Settings → Module customization, add a single-line text field labelled \"{label}\" (its API name \
             becomes {field}) marked Unique to Contacts, Accounts and Deals, then run #crm sync again",
            missing.join(", ")
        )))
    }

    /// The default pipeline (else the first) and its stages, mapped onto ours and cached.
    async fn load_stages(&self) -> Result<Arc<StageMap>, SyncError> {
        let pipelines: PipelinesAnswer = self.get_ok("/selector/deal_pipelines").await?.json()?;
        let chosen = pipelines
            .deal_pipelines
            .iter()
            .find(|p| p.is_default == Some(true))
            .or_else(|| pipelines.deal_pipelines.first())
            .and_then(|p| Some((id_text(&p.id)?, p.name.clone())));
        let stages: StagesAnswer = self.get_ok("/selector/deal_stages").await?.json()?;
        let no_pipeline = || {
            SyncError::Permanent(
                "the Freshsales account has no deal pipeline with stages: add one in Admin Settings → Deal \
                 pipelines"
                    .into(),
            )
        };
        let (pipeline_id, name) = chosen.ok_or_else(no_pipeline)?;
        let of_pipeline: Vec<_> = stages
            .deal_stages
            .into_iter()
            .filter(|s| s.deal_pipeline_id.as_ref().and_then(id_text).is_none_or(|p| p == pipeline_id))
            .collect();
        let map = Arc::new(StageMap::build(pipeline_id, name, of_pipeline).ok_or_else(no_pipeline)?);
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

    /// One record: an upsert by our id, or a task write.
    async fn push_one(&self, item: &Item, ids: &dyn RemoteIds) -> Result<Outcome, SyncError> {
        let kind = item.record.kind();
        let stages = if kind == Kind::Deal { Some(self.stages().await?) } else { None };
        let cx = Context { id_field: &self.config.id_field, mapping: &self.mapping, stages: stages.as_deref(), ids };
        let body = match records::body(&item.record, &cx) {
            Ok(body) => body,
            Err(outcome) => return Ok(outcome),
        };
        let (path, wrapper) = records::entity(kind);
        if let Record::Activity(a) = &item.record {
            return self.push_task(a, item, body, ids).await;
        }
        let request = json!({
            "unique_identifier": { self.config.id_field.clone(): item.record.local_id() },
            wrapper: Value::Object(body),
        });
        let answer = self.call(Method::POST, &format!("/{path}/upsert"), Some(&request)).await?;
        let outcome = self.outcome(&answer, wrapper)?;
        if kind == Kind::Deal && matches!(&outcome, Outcome::Dead { reason } if reason.to_lowercase().contains("stage"))
        {
            // A stage renamed or removed in Freshsales: reload before the next push.
            *self.stages.write().unwrap_or_else(|p| p.into_inner()) = None;
        }
        Ok(outcome)
    }

    /// What one write's answer means: the record's id, a refusal of this
    /// record (dead, in Freshsales' words), or a whole-call failure.
    fn outcome(&self, answer: &Answer, wrapper: &str) -> Result<Outcome, SyncError> {
        if answer.status.is_success() {
            let value: Value = answer.json()?;
            return Ok(match value.get(wrapper).and_then(|r| r.get("id")).and_then(id_text) {
                Some(id) => Outcome::Done { remote_id: id },
                None => Outcome::Retry { reason: format!("Freshsales answered without the {wrapper}'s id") },
            });
        }
        match classify(answer, now_ms()) {
            // 400/404/422 on a write: this record is refused, not the account.
            SyncError::Permanent(reason) => Ok(Outcome::Dead { reason: format!("Freshsales refused it: {reason}") }),
            other => Err(other),
        }
    }

    /// Tasks: update by id when known (or found by our marker after an
    /// unknown outcome), else create, with a note beside a new one.
    async fn push_task(
        &self,
        a: &crate::crm::activity::Activity,
        item: &Item,
        body: Map<String, Value>,
        ids: &dyn RemoteIds,
    ) -> Result<Outcome, SyncError> {
        let mut existing = item.remote_id.clone();
        if existing.is_none() && item.unsure {
            existing = self.find_task(a, ids).await?;
        }
        let request = json!({ "task": Value::Object(body) });
        let answer = match &existing {
            Some(id) => self.call(Method::PUT, &format!("/tasks/{id}"), Some(&request)).await?,
            None => self.call(Method::POST, "/tasks", Some(&request)).await?,
        };
        let outcome = self.outcome(&answer, "task")?;
        if existing.is_none()
            && matches!(outcome, Outcome::Done { .. })
            && let Some(note) = records::note(a, ids)
        {
            // The task holds the same text: a note that fails is logged, not retried.
            match self.call(Method::POST, "/notes", Some(&note)).await {
                Ok(n) if n.status.is_success() => {}
                Ok(n) => tracing::warn!(error = %classify(&n, now_ms()), "freshsales note not written"),
                Err(e) => tracing::warn!(error = %e, "freshsales note not written"),
            }
        }
        Ok(outcome)
    }

    /// The task of `a` on its target, by the marker at the end of its description.
    async fn find_task(
        &self,
        a: &crate::crm::activity::Activity,
        ids: &dyn RemoteIds,
    ) -> Result<Option<String>, SyncError> {
        let Ok((targetable, id)) = records::target(a, ids) else { return Ok(None) };
        let path = if targetable == "Deal" { "deals" } else { "contacts" };
        let answer = self.get_ok(&format!("/{path}/{id}?include=tasks")).await?;
        let value: Value = answer.json()?;
        let marker = task_marker(a);
        let found = value.get("tasks").and_then(Value::as_array).and_then(|tasks| {
            tasks.iter().find(|t| t["description"].as_str().is_some_and(|d| d.trim_end().ends_with(&marker)))
        });
        Ok(found.and_then(|t| t.get("id")).and_then(id_text))
    }
}

impl Connector for FreshsalesConnector {
    fn platform(&self) -> Platform {
        Platform::Freshsales
    }

    /// One record per write call (the upsert takes one).
    fn batch_size(&self, _kind: Kind) -> usize {
        1
    }

    /// Checks the domain and key, our unique id field, and loads the deal
    /// pipeline. Writes nothing; safe to run again.
    async fn prepare(&self) -> Result<(), SyncError> {
        self.root()?;
        self.check_id_field().await?;
        self.load_stages().await.map(drop)
    }

    async fn push(&self, items: &[Item], ids: &dyn RemoteIds) -> Result<Vec<Outcome>, SyncError> {
        let mut outcomes = Vec::with_capacity(items.len());
        for item in items {
            outcomes.push(self.push_one(item, ids).await?);
        }
        Ok(outcomes)
    }

    /// Records updated after `since_ms`, oldest first, by
    /// `POST /api/filtered_search/{contact|deal}` on `updated_at`; pages by number.
    async fn pull(&self, kind: Kind, since_ms: Option<u64>, page: Option<&str>) -> Result<Pulled, SyncError> {
        let (entity, list) = match kind {
            Kind::Contact => ("contact", "contacts"),
            Kind::Deal => ("deal", "deals"),
            Kind::Company => ("sales_account", "sales_accounts"),
            Kind::Activity => return Ok(Pulled::default()),
        };
        let number = page.and_then(|p| p.parse::<u64>().ok()).unwrap_or(1);
        let since = records::iso_utc(since_ms.unwrap_or(0));
        let body = json!({
            "filter_rule": [{ "attribute": "updated_at", "operator": "is_after", "value": since }],
            "sort": "updated_at",
            "sort_type": "asc",
            "page": number,
            "per_page": PAGE,
        });
        let answer = self.call(Method::POST, &format!("/filtered_search/{entity}"), Some(&body)).await?;
        if !answer.status.is_success() {
            return Err(classify(&answer, now_ms()));
        }
        let value: Value = answer.json()?;
        let rows: Vec<Map<String, Value>> = value
            .get(list)
            .and_then(Value::as_array)
            .map(|rows| rows.iter().filter_map(|r| r.as_object().cloned()).collect())
            .unwrap_or_default();
        let stages = if kind == Kind::Deal { Some(self.stages().await?) } else { None };
        let changes: Vec<_> = rows
            .iter()
            .filter_map(|row| records::change(kind, row, &self.config.id_field, stages.as_deref()))
            .filter(|c| since_ms.is_none_or(|since| c.modified_ms > since))
            .collect();
        let pages = value.pointer("/meta/total_pages").and_then(Value::as_u64);
        let more = match pages {
            Some(total) => number < total,
            None => rows.len() >= PAGE,
        };
        let next_page = more.then(|| (number + 1).to_string());
        Ok(Pulled { cursor: changes.iter().map(|c| c.modified_ms).max(), next_page, changes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_domain_may_be_an_alias_a_bundle_url_or_a_legacy_host() {
        assert_eq!(api_root("acme").unwrap(), "https://acme.myfreshworks.com/crm/sales");
        assert_eq!(api_root("acme.myfreshworks.com").unwrap(), "https://acme.myfreshworks.com/crm/sales");
        assert_eq!(api_root("https://acme.myfreshworks.com/").unwrap(), "https://acme.myfreshworks.com/crm/sales");
        assert_eq!(api_root("https://acme.freshsales.io").unwrap(), "https://acme.freshsales.io");
        assert_eq!(api_root("http://127.0.0.1:9/crm/sales").unwrap(), "http://127.0.0.1:9/crm/sales");
        assert!(api_root("").unwrap_err().contains("Profile Settings"));
        assert!(api_root("not a domain").is_err());
    }
}
