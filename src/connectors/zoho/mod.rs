//! Zoho CRM v8: companies → Accounts, contacts → Contacts (or Leads),
//! deals → Deals, activities → Tasks (plus a Note when they carry notes),
//! upserted 100 at a time (`POST /crm/v8/{module}/upsert`) with
//! `duplicate_check_fields` on the unique custom field holding our id
//! (`WA_Id`), so a record pushed twice, or after a timeout, exists once.
//!
//! Zoho is split into data centres: the token answer names the account's
//! API host (`api_domain`: `https://www.zohoapis.eu`, `.in`, `.com.au`,
//! `.jp`, `.ca`, `.sa`…), and refreshes go to the Accounts server of the same
//! centre. Requests carry `Authorization: Zoho-oauthtoken …` (not Bearer);
//! access tokens live an hour and are refreshed before they expire, or once
//! after `INVALID_TOKEN`. Deal stages come from the Deals layout's pipeline.

mod records;
pub mod wire;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use self::records::{Context, StageMap};
pub use self::records::{StageMap as ZohoStages, iso_utc};
use self::wire::{DataAnswer, FieldsAnswer, LayoutsAnswer, ListAnswer, PipelineAnswer, TokenAnswer, classify};
use super::credential::{Credential, TokenSink, Tokens};
use super::http::{Answer, Http, encode_pairs};
use super::limit::Limiter;
use super::{Connector, Item, Kind, Outcome, Pulled, Record, RemoteIds, SyncError};
use crate::clock::now_ms;
use crate::config::ZohoConfig;
use crate::crm::settings::{FieldMapping, Platform};

/// Zoho takes at most 100 records per upsert.
pub const BATCH: usize = 100;
/// Records per page on pull (Zoho's most).
const PAGE: usize = 200;
const WINDOW: Duration = Duration::from_secs(60);
const TIMEOUT: Duration = Duration::from_secs(30);

/// The Zoho CRM connector of one organisation.
pub struct ZohoConnector {
    http: Http,
    config: ZohoConfig,
    /// Held across a refresh, so concurrent calls refresh once.
    tokens: tokio::sync::Mutex<Tokens>,
    mapping: FieldMapping,
    on_tokens: TokenSink,
    stages: RwLock<Option<Arc<StageMap>>>,
}

impl ZohoConnector {
    /// A connector within `config.requests_per_min`; the credential is the
    /// OAuth tokens from `#crm auth --oauth` (or a configured refresh token).
    pub fn new(
        config: &ZohoConfig,
        credential: Credential,
        mapping: FieldMapping,
        on_tokens: TokenSink,
    ) -> ZohoConnector {
        let tokens = match credential {
            Credential::OAuth(t) => t,
            // Zoho has no API keys; a bare token is used as an access token until it fails.
            Credential::ApiKey(key) => Tokens { access_token: key, ..Tokens::default() },
        };
        ZohoConnector {
            http: Http::new(Limiter::new(config.requests_per_min, WINDOW), TIMEOUT),
            config: config.clone(),
            tokens: tokio::sync::Mutex::new(tokens),
            mapping,
            on_tokens,
            stages: RwLock::new(None),
        }
    }

    /// Another request timeout (tests, benchmarks); the limiter is kept.
    pub fn with_timeout(mut self, timeout: Duration) -> ZohoConnector {
        self.http = self.http.with_timeout(timeout);
        self
    }

    /// How long the budget holds requests back (status reports).
    pub fn paused_for(&self) -> Option<Duration> {
        self.http.limiter.paused_for()
    }

    /// The data centre's API host: the token answer's, else config's.
    fn api_base(tokens: &Tokens, config: &ZohoConfig) -> String {
        let domain = tokens.api_domain.as_deref().filter(|d| !d.trim().is_empty());
        domain.unwrap_or(config.api_domain.as_str()).trim_end_matches('/').to_string()
    }

    /// A valid access token, refreshed when it is about to expire.
    async fn access_token(&self) -> Result<Tokens, SyncError> {
        let mut tokens = self.tokens.lock().await;
        let stale = tokens.access_token.is_empty() || tokens.needs_refresh(now_ms());
        if stale && tokens.refresh_token.is_some() {
            *tokens = self.refresh(&tokens).await?;
        } else if tokens.access_token.is_empty() {
            return Err(SyncError::Auth("Zoho is not authorised yet: run #crm auth --platform zoho --oauth".into()));
        }
        Ok(tokens.clone())
    }

    /// After `INVALID_TOKEN`: a fresh token, unless another call got one meanwhile.
    async fn refresh_after_refusal(&self, used: &str) -> Result<Option<Tokens>, SyncError> {
        let mut tokens = self.tokens.lock().await;
        if tokens.access_token != used {
            return Ok(Some(tokens.clone()));
        }
        if tokens.refresh_token.is_none() {
            return Ok(None);
        }
        *tokens = self.refresh(&tokens).await?;
        Ok(Some(tokens.clone()))
    }

    async fn refresh(&self, old: &Tokens) -> Result<Tokens, SyncError> {
        let (Some(client_id), Some(client_secret)) = (&self.config.client_id, &self.config.client_secret) else {
            return Err(SyncError::Auth(
                "the Zoho token needs refreshing and [crm.zoho] client_id/client_secret are not set: add them to \
                 config.toml"
                    .into(),
            ));
        };
        let refresh_token = old.refresh_token.clone().unwrap_or_default();
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", client_id.as_str()),
            ("client_secret", client_secret.expose()),
            ("refresh_token", refresh_token.as_str()),
        ];
        let accounts = accounts_server(old.api_domain.as_deref(), &self.config);
        let mut fresh = token_request(&self.http, &accounts, &form).await?;
        // Zoho does not rotate refresh tokens; keep the data centre too.
        fresh.refresh_token = fresh.refresh_token.or(old.refresh_token.clone());
        fresh.api_domain = fresh.api_domain.or(old.api_domain.clone());
        (self.on_tokens)(fresh.clone());
        tracing::debug!("zoho token refreshed");
        Ok(fresh)
    }

    /// One call under the data centre's API host; an `INVALID_TOKEN`
    /// answer refreshes once and tries again.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        modified_since: Option<u64>,
    ) -> Result<Answer, SyncError> {
        let mut tokens = self.access_token().await?;
        let mut refreshed = false;
        loop {
            let mut url = format!("{}{path}", Self::api_base(&tokens, &self.config));
            if !query.is_empty() {
                url = format!("{url}?{}", encode_pairs(query));
            }
            let mut request = self
                .http
                .client
                .request(method.clone(), url)
                .header("authorization", format!("Zoho-oauthtoken {}", tokens.access_token));
            if let Some(since) = modified_since {
                request = request.header("if-modified-since", iso_utc(since));
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let answer = self.http.send(request).await?;
            self.observe(&answer);
            let refused =
                answer.status.as_u16() == 401 || wire::error_of(&answer).is_some_and(|e| e.code == "INVALID_TOKEN");
            if refused && !refreshed {
                refreshed = true;
                if let Some(fresh) = self.refresh_after_refusal(&tokens.access_token).await? {
                    tokens = fresh;
                    continue;
                }
            }
            return Ok(answer);
        }
    }

    /// Feeds the limiter: Zoho's remaining count and a 429's wait.
    fn observe(&self, answer: &Answer) {
        let now = now_ms();
        let reset = answer.reset_after(now);
        self.http.limiter.observe(wire::remaining(answer), reset);
        if answer.status.as_u16() == 429 {
            self.http.limiter.pause(reset.unwrap_or(WINDOW));
        }
    }

    async fn get_ok(&self, path: &str, query: &[(&str, String)]) -> Result<Answer, SyncError> {
        let answer = self.call(Method::GET, path, query, None, None).await?;
        if answer.status.is_success() { Ok(answer) } else { Err(classify(&answer, now_ms())) }
    }

    fn modules(&self) -> [&str; 4] {
        [Kind::Company, Kind::Contact, Kind::Deal, Kind::Activity]
            .map(|k| records::module(k, &self.config.contacts_module))
    }

    /// Every synced module has our unique id field; Zoho fields are made
    /// in its Setup, so the owner is told exactly which and how.
    async fn check_id_field(&self) -> Result<(), SyncError> {
        let field = &self.config.id_field;
        let mut problems = Vec::new();
        for module in self.modules() {
            let answer = self.get_ok("/crm/v8/settings/fields", &[("module", module.to_string())]).await?;
            let fields: FieldsAnswer = answer.json()?;
            match fields.fields.iter().find(|f| f.api_name.eq_ignore_ascii_case(field)) {
                None => problems.push(format!("{module} has no field {field}")),
                Some(f) if f.unique.as_ref().is_none_or(Value::is_null) => {
                    problems.push(format!("{module}.{field} allows duplicate values"))
                }
                Some(_) => {}
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(SyncError::Permanent(format!(
            "Zoho is missing the field that keeps the sync free of duplicates ({}). In Zoho CRM → Setup → \
             Customization → Modules and Fields, add a single-line field with API name {field} and tick \"Do not \
             allow duplicate values\" on Accounts, {}, Deals and Tasks, then run #crm sync again",
            problems.join("; "),
            self.config.contacts_module
        )))
    }

    /// The Deals layout's pipelines, mapped onto our stages and cached.
    async fn load_stages(&self) -> Result<Arc<StageMap>, SyncError> {
        let layouts: LayoutsAnswer =
            self.get_ok("/crm/v8/settings/layouts", &[("module", "Deals".to_string())]).await?.json()?;
        let mut pipelines = Vec::new();
        for layout in layouts.layouts.iter().filter(|l| !l.id.is_empty()) {
            let answer = self.get_ok("/crm/v8/settings/pipeline", &[("layout_id", layout.id.clone())]).await?;
            if answer.status.as_u16() == 204 {
                continue;
            }
            let list: PipelineAnswer = answer.json()?;
            pipelines.extend(list.pipeline);
            if !pipelines.is_empty() {
                break; // the first layout with a pipeline is the standard one
            }
        }
        let map = StageMap::build(&pipelines).ok_or_else(|| {
            SyncError::Permanent(
                "the Zoho Deals layout has no pipeline: create one in Setup → Customization → Pipelines".into(),
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

    /// One upsert of at most 100 records of one kind; one outcome each, in order.
    async fn push_batch(&self, items: &[Item], ids: &dyn RemoteIds) -> Result<Vec<Outcome>, SyncError> {
        let Some(kind) = items.first().map(|i| i.record.kind()) else { return Ok(Vec::new()) };
        let stages = if kind == Kind::Deal { Some(self.stages().await?) } else { None };
        let cx = Context {
            id_field: &self.config.id_field,
            contacts_module: &self.config.contacts_module,
            mapping: &self.mapping,
            stages: stages.as_deref(),
            ids,
        };
        let mut outcomes: Vec<Option<Outcome>> = vec![None; items.len()];
        let mut sent = Vec::new();
        let mut data = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if item.record.kind() != kind {
                outcomes[i] = Some(Outcome::Retry { reason: "pushed in a batch of another kind".into() });
                continue;
            }
            match records::body(&item.record, &cx) {
                Ok(body) => {
                    sent.push(i);
                    data.push(Value::Object(body));
                }
                Err(outcome) => outcomes[i] = Some(outcome),
            }
        }
        if !data.is_empty() {
            let module = records::module(kind, &self.config.contacts_module);
            let body = json!({
                "data": data,
                "duplicate_check_fields": [self.config.id_field],
                "trigger": ["workflow"],
            });
            let path = format!("/crm/v8/{module}/upsert");
            let answer = self.call(Method::POST, &path, &[], Some(&body), None).await?;
            let results = read_results(&answer, sent.len())?;
            let mut new_tasks = Vec::new();
            for (n, i) in sent.into_iter().enumerate() {
                let outcome = wire::outcome_of(&results[n]);
                if kind == Kind::Deal && matches!(&outcome, Outcome::Dead { reason } if reason.contains("Stage")) {
                    // A stage renamed or removed in Zoho: reload before the next push.
                    *self.stages.write().unwrap_or_else(|p| p.into_inner()) = None;
                }
                if results[n].action.as_deref() == Some("insert") && matches!(outcome, Outcome::Done { .. }) {
                    new_tasks.push(i);
                }
                outcomes[i] = Some(outcome);
            }
            if kind == Kind::Activity {
                self.add_notes(items, &new_tasks, &cx).await;
            }
        }
        Ok(outcomes.into_iter().map(|o| o.unwrap_or_else(|| Outcome::Retry { reason: "not sent".into() })).collect())
    }

    /// Notes beside tasks just created (an update means the note exists
    /// already). A failure here is logged: the task, which holds the same
    /// text in its description, is what the sync stands on.
    async fn add_notes(&self, items: &[Item], created: &[usize], cx: &Context<'_>) {
        let notes: Vec<Value> = created
            .iter()
            .filter_map(|&i| match &items[i].record {
                Record::Activity(a) => records::note(a, cx),
                _ => None,
            })
            .collect();
        if notes.is_empty() {
            return;
        }
        let body = json!({ "data": notes });
        match self.call(Method::POST, "/crm/v8/Notes", &[], Some(&body), None).await {
            Ok(a) if a.status.is_success() => {}
            Ok(a) => tracing::warn!(error = %classify(&a, now_ms()), "zoho notes not written"),
            Err(e) => tracing::warn!(error = %e, "zoho notes not written"),
        }
    }
}

/// One result per sent record. Zoho answers 2xx (or 400 when every record
/// failed) with `data` in request order; anything else is the call's failure.
fn read_results(answer: &Answer, sent: usize) -> Result<Vec<wire::RecordResult>, SyncError> {
    let parsed: Option<DataAnswer> = serde_json::from_slice(&answer.body).ok();
    match parsed {
        Some(d) if d.data.len() == sent && (answer.status.is_success() || answer.status.as_u16() == 400) => Ok(d.data),
        _ if !answer.status.is_success() => Err(classify(answer, now_ms())),
        _ => Err(SyncError::Transient(format!(
            "Zoho answered {} without one result per record: {}",
            answer.status.as_u16(),
            answer.snippet()
        ))),
    }
}

/// The Accounts server of the data centre `api_domain` belongs to
/// (`www.zohoapis.eu` → `accounts.zoho.eu`, `.ca` → `accounts.zohocloud.ca`),
/// else the configured one.
fn accounts_server(api_domain: Option<&str>, config: &ZohoConfig) -> String {
    let configured = config.accounts_url.as_str().trim_end_matches('/').to_string();
    let Some(domain) = api_domain.map(|d| d.trim().trim_end_matches('/')) else { return configured };
    let Some(rest) = domain.strip_prefix("https://www.zohoapis.").or_else(|| domain.strip_prefix("https://zohoapis."))
    else {
        return configured;
    };
    match rest {
        "ca" => "https://accounts.zohocloud.ca".into(),
        dc if !dc.is_empty() && dc.chars().all(|c| c.is_ascii_lowercase() || c == '.') => {
            format!("https://accounts.zoho.{dc}")
        }
        _ => configured,
    }
}

/// One form-encoded call to `POST {accounts}/oauth/v2/token`. A refused
/// grant is `Auth` with Zoho's words and the fix.
async fn token_request(http: &Http, accounts: &str, form: &[(&str, &str)]) -> Result<Tokens, SyncError> {
    let request = http
        .client
        .post(format!("{accounts}/oauth/v2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode_pairs(form));
    let answer = http.send(request).await?;
    if answer.status.is_server_error() || answer.status.as_u16() == 429 {
        return Err(classify(&answer, now_ms()));
    }
    let t: TokenAnswer = serde_json::from_slice(&answer.body).unwrap_or_default();
    if let Some(error) = t.error.filter(|e| !e.is_empty()) {
        return Err(SyncError::Auth(format!(
            "Zoho refused the token request ({error}). Check [crm.zoho] client_id, client_secret and accounts_url \
             (the account's data centre), then run #crm auth --platform zoho --oauth"
        )));
    }
    if !answer.status.is_success() || t.access_token.is_empty() {
        return Err(SyncError::Auth(format!(
            "Zoho's token answer ({}) has no access token: {}",
            answer.status.as_u16(),
            answer.snippet()
        )));
    }
    Ok(Tokens {
        access_token: t.access_token,
        refresh_token: t.refresh_token,
        expires_at_ms: t.expires_in.map(|s| now_ms() + s * 1000),
        instance_url: None,
        api_domain: t.api_domain,
    })
}

/// Zoho's Accounts servers, one per data centre.
const ACCOUNTS_SERVERS: [&str; 9] = [
    "https://accounts.zoho.com",
    "https://accounts.zoho.eu",
    "https://accounts.zoho.in",
    "https://accounts.zoho.com.au",
    "https://accounts.zoho.jp",
    "https://accounts.zoho.sa",
    "https://accounts.zoho.uk",
    "https://accounts.zoho.com.cn",
    "https://accounts.zohocloud.ca",
];

/// Where the code is traded: the Accounts server the callback named
/// (`accounts-server`, the account's data centre) when it is one of Zoho's
/// own or the configured one, else the configured one. The name comes
/// through the browser and the exchange carries the client secret, so
/// nothing else is trusted.
fn code_exchange_server(named: Option<&str>, config: &ZohoConfig) -> String {
    let configured = config.accounts_url.as_str().trim_end_matches('/').to_string();
    match named.map(|n| n.trim().trim_end_matches('/')) {
        Some(n) if n == configured || ACCOUNTS_SERVERS.contains(&n) => n.to_string(),
        Some(n) => {
            tracing::warn!(
                accounts_server = n,
                "the OAuth callback named an Accounts server that is not Zoho's; using [crm.zoho] accounts_url"
            );
            configured
        }
        None => configured,
    }
}

/// Trades the authorization code from `/oauth/callback/zoho` for tokens at
/// the Accounts server of the account's data centre; the answer names its
/// API domain (`api_domain`).
pub async fn exchange_code(
    config: &ZohoConfig,
    code: &str,
    redirect_uri: &str,
    accounts_server: Option<&str>,
) -> Result<Tokens, SyncError> {
    let (Some(client_id), Some(client_secret)) = (&config.client_id, &config.client_secret) else {
        return Err(SyncError::Permanent("[crm.zoho] client_id and client_secret are needed for OAuth".into()));
    };
    let http = Http::new(Limiter::new(0, WINDOW), TIMEOUT);
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client_id.as_str()),
        ("client_secret", client_secret.expose()),
        ("redirect_uri", redirect_uri),
        ("code", code),
    ];
    token_request(&http, &code_exchange_server(accounts_server, config), &form).await
}

impl Connector for ZohoConnector {
    fn platform(&self) -> Platform {
        Platform::Zoho
    }

    fn batch_size(&self, _kind: Kind) -> usize {
        BATCH
    }

    /// Checks the token, our unique id field on every module, and loads the
    /// deal pipeline. Writes nothing; safe to run again.
    async fn prepare(&self) -> Result<(), SyncError> {
        self.access_token().await?;
        self.check_id_field().await?;
        self.load_stages().await.map(drop)
    }

    async fn push(&self, items: &[Item], ids: &dyn RemoteIds) -> Result<Vec<Outcome>, SyncError> {
        let mut outcomes = Vec::with_capacity(items.len());
        for chunk in items.chunks(BATCH) {
            outcomes.extend(self.push_batch(chunk, ids).await?);
        }
        Ok(outcomes)
    }

    /// Records modified after `since_ms`, oldest first (`sort_by=Modified_Time`
    /// with `If-Modified-Since`); pages by Zoho's `page_token`, else by number.
    async fn pull(&self, kind: Kind, since_ms: Option<u64>, page: Option<&str>) -> Result<Pulled, SyncError> {
        let module = records::module(kind, &self.config.contacts_module);
        let mut query = vec![
            ("fields", records::pull_fields(kind, &self.config.id_field)),
            ("sort_by", "Modified_Time".to_string()),
            ("sort_order", "asc".to_string()),
            ("per_page", PAGE.to_string()),
        ];
        let number = match page {
            Some(p) if p.starts_with("page:") => p[5..].parse::<u64>().unwrap_or(1),
            _ => 1,
        };
        match page {
            Some(p) if p.starts_with("token:") => query.push(("page_token", p[6..].to_string())),
            Some(_) => query.push(("page", number.to_string())),
            None => {}
        }
        let answer = self.call(Method::GET, &format!("/crm/v8/{module}"), &query, None, since_ms).await?;
        // 204: nothing matched; 304: nothing modified since.
        if matches!(answer.status.as_u16(), 204 | 304) {
            return Ok(Pulled::default());
        }
        if !answer.status.is_success() {
            return Err(classify(&answer, now_ms()));
        }
        let list: ListAnswer = answer.json()?;
        let stages = if kind == Kind::Deal { Some(self.stages().await?) } else { None };
        let changes: Vec<_> = list
            .data
            .iter()
            .filter_map(|row| records::change(kind, row, &self.config.id_field, stages.as_deref()))
            .filter(|c| since_ms.is_none_or(|since| c.modified_ms > since))
            .collect();
        let next_page = match (list.info.more_records, list.info.next_page_token) {
            (true, Some(token)) if !token.is_empty() => Some(format!("token:{token}")),
            (true, _) => Some(format!("page:{}", number + 1)),
            _ => None,
        };
        Ok(Pulled { cursor: changes.iter().map(|c| c.modified_ms).max(), next_page, changes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_traded_only_at_a_zoho_accounts_server_or_the_configured_one() {
        let config = ZohoConfig::default();
        let configured = config.accounts_url.as_str().trim_end_matches('/').to_string();
        assert_eq!(code_exchange_server(Some("https://accounts.zoho.eu"), &config), "https://accounts.zoho.eu");
        assert_eq!(
            code_exchange_server(Some("https://accounts.zohocloud.ca/"), &config),
            "https://accounts.zohocloud.ca"
        );
        assert_eq!(code_exchange_server(Some(&configured), &config), configured);
        for forged in ["https://accounts.zoho.eu.evil.example", "http://accounts.zoho.eu", "https://evil.example"] {
            assert_eq!(code_exchange_server(Some(forged), &config), configured, "{forged}");
        }
        assert_eq!(code_exchange_server(None, &config), configured);
    }

    #[test]
    fn refreshes_go_to_the_accounts_server_of_the_data_centre() {
        let config = ZohoConfig::default();
        assert_eq!(accounts_server(Some("https://www.zohoapis.eu"), &config), "https://accounts.zoho.eu");
        assert_eq!(accounts_server(Some("https://www.zohoapis.com.au"), &config), "https://accounts.zoho.com.au");
        assert_eq!(accounts_server(Some("https://www.zohoapis.ca"), &config), "https://accounts.zohocloud.ca");
        assert_eq!(accounts_server(Some("http://127.0.0.1:9"), &config), "https://accounts.zoho.com");
        assert_eq!(accounts_server(None, &config), "https://accounts.zoho.com");
    }
}
