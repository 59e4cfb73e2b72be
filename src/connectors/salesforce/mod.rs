//! Salesforce: companies → Account, contacts → Contact, deals →
//! Opportunity, activities → Task, upserted 200 at a time through sObject
//! Collections on the External ID field holding our id (`WA_Id__c`), so a
//! record pushed twice exists once. Tokens come from the refresh-token,
//! JWT-bearer or client-credentials flow (see [`auth`]). Salesforce counts a
//! daily allocation rather than a per-second window: the limiter is
//! unlimited, calls are capped at `concurrency` at once, and the
//! `Sforce-Limit-Info` usage pauses us when the allocation is spent.

mod auth;
mod records;
mod wire;

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use self::auth::Flow;
use self::records::{Context, StageMap, pull_fields, sobject};
use self::wire::{Describe, QueryPage, Row, SaveResult, StageRow};
use super::credential::{Credential, TokenSink, Tokens};
use super::http::{Answer, Http};
use super::limit::Limiter;
use super::{Connector, Item, Kind, Outcome, Pulled, Record, RemoteIds, SyncError};
use crate::config::SalesforceConfig;
use crate::crm::settings::{FieldMapping, Platform};

/// sObject Collections take at most 200 records of one type per call.
const BATCH: usize = 200;
const TIMEOUT: Duration = Duration::from_secs(30);

/// The Salesforce connector of one org.
pub struct SalesforceConnector {
    config: SalesforceConfig,
    mapping: FieldMapping,
    http: Http,
    flow: Flow,
    /// The current tokens; the lock also keeps concurrent calls from
    /// renewing the same expired token twice.
    session: tokio::sync::Mutex<Option<Tokens>>,
    on_tokens: TokenSink,
    /// Salesforce limits concurrent long-running requests per org.
    calls: Semaphore,
    stages: RwLock<Option<Arc<StageMap>>>,
    usage: Mutex<Option<(u64, u64)>>,
}

impl SalesforceConnector {
    /// A connector for the org `config` points at. The stored `credential`
    /// (OAuth tokens from the web-server flow) is used first; tokens it gets
    /// later are handed to `on_tokens` to be sealed and stored.
    pub fn new(
        config: &SalesforceConfig,
        credential: Credential,
        mapping: FieldMapping,
        on_tokens: TokenSink,
    ) -> SalesforceConnector {
        SalesforceConnector {
            config: config.clone(),
            mapping,
            http: Http::new(Limiter::new(0, Duration::from_secs(1)), TIMEOUT),
            flow: Flow::choose(config, &credential),
            session: tokio::sync::Mutex::new(auth::initial_tokens(&credential)),
            on_tokens,
            calls: Semaphore::new(config.concurrency.max(1)),
            stages: RwLock::new(None),
            usage: Mutex::new(None),
        }
    }

    /// The same connector giving up on a call after `timeout` (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> SalesforceConnector {
        self.http = Http::new(Limiter::new(0, Duration::from_secs(1)), timeout);
        self
    }

    /// The org's API usage from the latest answer's `Sforce-Limit-Info`:
    /// (requests used in the last 24 h, daily allocation).
    pub fn api_usage(&self) -> Option<(u64, u64)> {
        *self.usage.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long requests are held back (allocation spent, throttled), for status reports.
    pub fn paused_for(&self) -> Option<Duration> {
        self.http.limiter.paused_for()
    }

    /// A valid token: the current one unless it is `refused` or about to
    /// expire (and the flow can renew it); otherwise a new one, handed on.
    async fn tokens(&self, refused: Option<&str>) -> Result<Tokens, SyncError> {
        let now = crate::clock::now_ms();
        let mut session = self.session.lock().await;
        if let Some(current) = session.as_ref() {
            let is_refused = refused == Some(current.access_token.as_str());
            let expiring = current.needs_refresh(now) && self.flow != Flow::Nothing;
            if !is_refused && !expiring {
                return Ok(current.clone());
            }
        }
        let fresh = auth::request(&self.http, &self.config, &self.flow, now).await?;
        tracing::debug!(flow = ?self.flow, "salesforce token renewed");
        (self.on_tokens)(fresh.clone());
        *session = Some(fresh.clone());
        Ok(fresh)
    }

    /// One REST call under `/services/data/{version}`: at most
    /// `concurrency` at once, one token renewal on `INVALID_SESSION_ID`,
    /// the usage header read on every answer.
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Answer, SyncError> {
        let _permit = self.calls.acquire().await.map_err(|_| SyncError::Transient("connector shut down".into()))?;
        let mut tokens = self.tokens(None).await?;
        let mut renewed = false;
        loop {
            let instance = tokens.instance_url.as_deref().unwrap_or_default().trim_end_matches('/');
            let url = format!("{instance}/services/data/{}{path}", self.config.api_version);
            let mut request = self
                .http
                .client
                .request(method.clone(), url)
                .bearer_auth(&tokens.access_token)
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(body) = body {
                request = request.json(body);
            }
            let answer = self.http.send(request).await?;
            self.observe(&answer);
            if wire::is_expired_session(&answer) && !renewed {
                renewed = true;
                tokens = self.tokens(Some(&tokens.access_token)).await?;
                continue;
            }
            return Ok(answer);
        }
    }

    /// Feeds the limiter: a spent allocation or a throttle answer pauses
    /// every request of this org.
    fn observe(&self, answer: &Answer) {
        if let Some(usage) = answer.header("sforce-limit-info").and_then(wire::api_usage) {
            *self.usage.lock().unwrap_or_else(|p| p.into_inner()) = Some(usage);
            if usage.1 > 0 && usage.0 >= usage.1 {
                self.http.limiter.pause(wire::DAILY_RECHECK);
            }
        }
        if !answer.status.is_success()
            && let SyncError::Throttled { retry_after: Some(wait), .. } = wire::classify(answer)
        {
            self.http.limiter.pause(wait);
        }
    }

    /// A 2xx answer, or what the failure means.
    async fn call_ok(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Answer, SyncError> {
        let answer = self.call(method, path, body).await?;
        if answer.status.is_success() { Ok(answer) } else { Err(wire::classify(&answer)) }
    }

    async fn query<T: serde::de::DeserializeOwned>(&self, soql: &str) -> Result<QueryPage<T>, SyncError> {
        let path = format!("/query?q={}", utf8_percent_encode(soql, NON_ALPHANUMERIC));
        self.call_ok(Method::GET, &path, None).await?.json()
    }

    /// Loads and caches the org's active Opportunity stages, in their order.
    async fn load_stages(&self) -> Result<Arc<StageMap>, SyncError> {
        let page: QueryPage<StageRow> = self
            .query(
                "SELECT ApiName, MasterLabel, IsClosed, IsWon, DefaultProbability FROM OpportunityStage \
                 WHERE IsActive = true ORDER BY SortOrder",
            )
            .await?;
        let map = Arc::new(StageMap::new(page.records));
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

    /// Checks that every synced object has our External ID field; Salesforce
    /// fields are not created through REST simply, so the owner must.
    async fn check_external_id(&self) -> Result<(), SyncError> {
        let field = &self.config.external_id_field;
        let mut problems = Vec::new();
        for kind in Kind::ALL {
            let object = sobject(kind);
            let describe: Describe =
                self.call_ok(Method::GET, &format!("/sobjects/{object}/describe"), None).await?.json()?;
            match describe.fields.iter().find(|f| f.name.eq_ignore_ascii_case(field)) {
                None => problems.push(format!("{object} has no field {field}")),
                Some(f) if !f.external_id => problems.push(format!("{object}.{field} is not marked External ID")),
                Some(f) if !f.unique => {
                    tracing::warn!(object, field = %field, "salesforce external id field is not unique");
                }
                Some(_) => {}
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(SyncError::Permanent(format!(
            "Salesforce is missing the field that keeps the sync free of duplicates ({}). In Setup → Object \
             Manager, create {field} as Text(255) with External ID and Unique ticked on Account, Contact, \
             Opportunity and Activity (for Tasks), make it editable for the integration user, then run \
             `#crm sync` again",
            problems.join("; ")
        )))
    }

    /// One sObject Collections upsert of at most 200 records of one kind.
    async fn push_batch(&self, items: &[Item], ids: &dyn RemoteIds) -> Result<Vec<Outcome>, SyncError> {
        let Some(kind) = items.first().map(|i| i.record.kind()) else { return Ok(Vec::new()) };
        let stages = if kind == Kind::Deal { Some(self.stages().await?) } else { None };
        let cx = Context {
            external_id_field: &self.config.external_id_field,
            mapping: &self.mapping,
            stages: stages.as_deref(),
            ids,
        };
        let mut outcomes: Vec<Option<Outcome>> = vec![None; items.len()];
        let mut sent = Vec::with_capacity(items.len());
        let mut bodies = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if item.record.kind() != kind {
                outcomes[i] = Some(Outcome::Retry { reason: "pushed in a batch of another kind".into() });
                continue;
            }
            match records::body(&item.record, &cx) {
                Ok(body) => {
                    sent.push(i);
                    bodies.push(Value::Object(body));
                }
                Err(outcome) => outcomes[i] = Some(outcome),
            }
        }
        if !bodies.is_empty() {
            let path = format!("/composite/sobjects/{}/{}", sobject(kind), self.config.external_id_field);
            let body = json!({ "allOrNone": false, "records": bodies });
            let results: Vec<SaveResult> = self.call_ok(Method::PATCH, &path, Some(&body)).await?.json()?;
            if kind == Kind::Deal && results.iter().any(wire::is_stale_stage) {
                // An admin renamed or retired a stage: reload the catalogue
                // before the next push (this one's refusals stay dead).
                *self.stages.write().unwrap_or_else(|p| p.into_inner()) = None;
            }
            for (n, i) in sent.into_iter().enumerate() {
                outcomes[i] = Some(results.get(n).map(wire::outcome_of).unwrap_or_else(|| Outcome::Retry {
                    reason: "Salesforce answered without a result for this record".into(),
                }));
            }
            if kind == Kind::Deal {
                self.link_contact_roles(items, &mut outcomes, ids).await?;
            }
        }
        Ok(outcomes.into_iter().map(|o| o.unwrap_or_else(|| Outcome::Retry { reason: "not sent".into() })).collect())
    }
}

impl SalesforceConnector {
    /// Each deal upserted here gets its contact as the primary
    /// OpportunityContactRole, unless the opportunity has that role already
    /// (read first: roles carry no External ID, so a create is not
    /// replay-safe on its own). A role Salesforce refuses sends the deal
    /// round again (its upsert is idempotent), with Salesforce's message.
    async fn link_contact_roles(
        &self,
        items: &[Item],
        outcomes: &mut [Option<Outcome>],
        ids: &dyn RemoteIds,
    ) -> Result<(), SyncError> {
        let mut wanted: Vec<(usize, String, String)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let (Record::Deal(deal), Some(Outcome::Done { remote_id })) = (&item.record, &outcomes[i]) else {
                continue;
            };
            if let Some(contact) = deal.contact.as_deref().and_then(|c| ids.remote_id(Kind::Contact, c)) {
                wanted.push((i, remote_id.clone(), contact));
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let quoted: Vec<String> = wanted.iter().map(|(_, opp, _)| format!("'{}'", records::soql_escape(opp))).collect();
        let soql = format!(
            "SELECT Id, OpportunityId, ContactId FROM OpportunityContactRole WHERE OpportunityId IN ({})",
            quoted.join(", ")
        );
        let existing: QueryPage<wire::ContactRole> = self.query(&soql).await?;
        let has = |opp: &str, contact: &str| {
            existing.records.iter().any(|r| r.opportunity_id == opp && r.contact_id == contact)
        };
        let missing: Vec<&(usize, String, String)> =
            wanted.iter().filter(|(_, opp, contact)| !has(opp, contact)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let roles: Vec<Value> = missing
            .iter()
            .map(|(_, opp, contact)| {
                json!({
                    "attributes": { "type": "OpportunityContactRole" },
                    "OpportunityId": opp,
                    "ContactId": contact,
                    "IsPrimary": true,
                })
            })
            .collect();
        let body = json!({ "allOrNone": false, "records": roles });
        let results: Vec<SaveResult> = self.call_ok(Method::POST, "/composite/sobjects", Some(&body)).await?.json()?;
        for (n, (i, _, _)) in missing.into_iter().enumerate() {
            let refused = match results.get(n) {
                Some(r) if r.success => None,
                Some(r) => Some(
                    r.errors.iter().map(|e| format!("{}: {}", e.status_code, e.message)).collect::<Vec<_>>().join("; "),
                ),
                None => Some("no answer".into()),
            };
            if let Some(why) = refused {
                outcomes[*i] = Some(Outcome::Retry { reason: format!("the deal's contact role was not saved: {why}") });
            }
        }
        Ok(())
    }
}

impl Connector for SalesforceConnector {
    fn platform(&self) -> Platform {
        Platform::Salesforce
    }

    fn batch_size(&self, _kind: Kind) -> usize {
        BATCH
    }

    async fn prepare(&self) -> Result<(), SyncError> {
        self.tokens(None).await?;
        self.check_external_id().await?;
        self.load_stages().await?;
        Ok(())
    }

    async fn push(&self, items: &[Item], ids: &dyn RemoteIds) -> Result<Vec<Outcome>, SyncError> {
        let mut outcomes = Vec::with_capacity(items.len());
        for chunk in items.chunks(BATCH) {
            outcomes.extend(self.push_batch(chunk, ids).await?);
        }
        Ok(outcomes)
    }

    async fn pull(&self, kind: Kind, since_ms: Option<u64>, page: Option<&str>) -> Result<Pulled, SyncError> {
        let ext = &self.config.external_id_field;
        let page: QueryPage<Row> = match page {
            // `nextRecordsUrl` is `/services/data/vNN.N/query/<locator>`.
            Some(next) => match next.find("/query/") {
                Some(at) => self.call_ok(Method::GET, &next[at..], None).await?.json()?,
                None => {
                    return Err(SyncError::Permanent(format!("Salesforce gave an unusable nextRecordsUrl: {next}")));
                }
            },
            None => {
                let mut soql = format!("SELECT {}, {ext} FROM {}", pull_fields(kind).join(", "), sobject(kind));
                if let Some(since) = since_ms {
                    soql.push_str(&format!(" WHERE SystemModstamp > {}", records::soql_datetime(since)));
                }
                soql.push_str(" ORDER BY SystemModstamp ASC");
                self.query(&soql).await?
            }
        };
        let stages = if kind == Kind::Deal { Some(self.stages().await?) } else { None };
        let changes: Vec<_> =
            page.records.iter().filter_map(|row| records::change(kind, row, ext, stages.as_deref())).collect();
        Ok(Pulled {
            cursor: changes.iter().map(|c| c.modified_ms).max(),
            next_page: page.next_records_url.filter(|_| !page.done),
            changes,
        })
    }
}

/// Exchanges the authorization code from `/oauth/callback/salesforce` for
/// tokens (web-server flow); the answer carries the refresh token and the
/// org's `instance_url`.
pub async fn exchange_code(config: &SalesforceConfig, code: &str, redirect_uri: &str) -> Result<Tokens, SyncError> {
    let http = Http::new(Limiter::new(0, Duration::from_secs(1)), TIMEOUT);
    auth::exchange(&http, config, code, redirect_uri, crate::clock::now_ms()).await
}
