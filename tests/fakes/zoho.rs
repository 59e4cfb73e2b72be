//! A fake Zoho CRM v8 organisation on loopback, for connector tests, the
//! crash test and the sync benchmark: the Accounts server's token endpoint
//! (refresh token and authorization code, Zoho's HTTP-200 `{"error": …}`
//! refusals), `settings/fields`, `settings/layouts`, `settings/pipeline`,
//! `/{module}/upsert`, `/Notes` and record lists with `If-Modified-Since`.
//! Answers have Zoho's shapes (per-record `code/status/action/details`,
//! error objects, `info.more_records`). Every request is recorded and
//! checked against the v8 docs (crm-apis.md §4): `Zoho-oauthtoken` auth,
//! ≤ 100 records per upsert, `duplicate_check_fields` on our id field,
//! mandatory fields, lookups to records that exist; what Zoho would refuse
//! or what the connector should never send is a violation.
//!
//! Include with `#[path = "fakes/zoho.rs"] mod fake_zoho;`.
#![allow(dead_code)]

// One copy per fake: a test includes one fake, sync_crash and the bench several.
#[allow(clippy::duplicate_mod)]
#[path = "wire.rs"]
mod wire;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use wire::parse_pairs;

pub const CLIENT_ID: &str = "1000.FAKEZOHOCLIENT";
pub const CLIENT_SECRET: &str = "fake-zoho-secret";
pub const REFRESH_TOKEN: &str = "1000.fake.refresh";
pub const AUTH_CODE: &str = "1000.fake.code";
pub const ID_FIELD: &str = "WA_Id";
/// The fake's clock starts here (2026-11-23T03:00:00Z) and ticks one second per write.
pub const EPOCH_S: u64 = 1_795_402_800;
/// Zoho answers in the user's time zone; this org's is India (+05:30).
const OFFSET_S: u64 = 5 * 3600 + 1800;
const MODULES: [&str; 5] = ["Accounts", "Contacts", "Leads", "Deals", "Tasks"];

/// Zoho's standard pipeline: (stage, forecast type).
pub fn standard_stages() -> Vec<(String, String)> {
    [
        ("Qualification", "Open"),
        ("Needs Analysis", "Open"),
        ("Value Proposition", "Open"),
        ("Identify Decision Makers", "Open"),
        ("Proposal/Price Quote", "Open"),
        ("Negotiation/Review", "Open"),
        ("Closed Won", "Closed Won"),
        ("Closed Lost", "Closed Lost"),
        ("Closed Lost to Competition", "Closed Lost"),
    ]
    .map(|(s, f)| (s.to_string(), f.to_string()))
    .to_vec()
}

#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// Requests per rolling window; beyond it 429 `TOO_MANY_REQUESTS`.
    pub rate_limit: Option<(usize, Duration)>,
    pub latency: Duration,
    /// How late a `Failure::Timeout` answer comes (after applying the write).
    pub hang: Duration,
    /// Modules whose fields lack our id field.
    pub missing_id_field: Vec<String>,
    /// Modules where the field exists but allows duplicates.
    pub not_unique: Vec<String>,
    pub stages: Vec<(String, String)>,
    /// Records per list page.
    pub page: usize,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            rate_limit: None,
            latency: Duration::ZERO,
            hang: Duration::from_secs(3),
            missing_id_field: Vec::new(),
            not_unique: Vec::new(),
            stages: standard_stages(),
            page: 200,
        }
    }
}

/// What the next write requests suffer.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 429 `TOO_MANY_REQUESTS` with `X-RATELIMIT-RESET: 1`.
    Throttle,
    /// 500 `INTERNAL_ERROR`.
    ServerError,
    /// The write is applied, the answer comes after `hang`.
    Timeout,
    /// Every access token issued so far stops working: 401 `INVALID_TOKEN`.
    ExpiredToken,
    /// Every other record (1st, 3rd, …) fails `MANDATORY_NOT_FOUND`.
    PartialFailure,
    /// The first record fails `RECORD_LOCKED`.
    Locked,
    /// The first record fails `INVALID_DATA` on its `Email`.
    InvalidData,
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    /// Lowercase names.
    pub headers: HashMap<String, String>,
    /// JSON body, or the form fields as an object.
    pub body: Value,
}

struct Inner {
    opts: FakeOptions,
    url: String,
    /// What the token answer names as `api_domain` (the fake itself unless a proxy stands in front).
    api_domain: String,
    requests: Vec<Recorded>,
    violations: Vec<String>,
    records: HashMap<String, Vec<Map<String, Value>>>,
    /// (module, our id) → position in `records`.
    by_ours: HashMap<(String, String), usize>,
    /// Every record id → module.
    ids: HashMap<String, String>,
    notes: Vec<Map<String, Value>>,
    next_id: u64,
    clock_s: u64,
    failures: VecDeque<Failure>,
    window: VecDeque<Instant>,
    tokens: HashSet<String>,
    token_n: u64,
    grants: Vec<String>,
}

#[derive(Clone)]
pub struct FakeZoho {
    inner: Arc<Mutex<Inner>>,
}

type Answer = (StatusCode, Vec<(&'static str, String)>, Value);

fn error(status: StatusCode, code: &str, message: &str, details: Value) -> Answer {
    (status, Vec::new(), json!({"code": code, "details": details, "message": message, "status": "error"}))
}

impl FakeZoho {
    pub async fn start(opts: FakeOptions) -> FakeZoho {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let fake = FakeZoho {
            inner: Arc::new(Mutex::new(Inner {
                opts,
                url: url.clone(),
                api_domain: url,
                requests: Vec::new(),
                violations: Vec::new(),
                records: HashMap::new(),
                by_ours: HashMap::new(),
                ids: HashMap::new(),
                notes: Vec::new(),
                next_id: 5_725_767_000_000_100_001,
                clock_s: EPOCH_S,
                failures: VecDeque::new(),
                window: VecDeque::new(),
                tokens: HashSet::new(),
                token_n: 0,
                grants: Vec::new(),
            })),
        };
        let app = axum::Router::new().fallback(handle).with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn url(&self) -> String {
        self.lock().url.clone()
    }

    /// The `api_domain` the token answer names (a proxy in front of the fake).
    pub fn set_api_domain(&self, url: &str) {
        self.lock().api_domain = url.trim_end_matches('/').to_string();
    }

    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Upsert, insert and note calls.
    pub fn writes(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.method == "POST" && !r.path.starts_with("/oauth")).collect()
    }

    /// The grant types the token endpoint was asked for, in order.
    pub fn grants(&self) -> Vec<String> {
        self.lock().grants.clone()
    }

    pub fn records(&self, module: &str) -> Vec<Value> {
        self.lock().records.get(module).map(|rs| rs.iter().cloned().map(Value::Object).collect()).unwrap_or_default()
    }

    pub fn notes(&self) -> Vec<Value> {
        self.lock().notes.iter().cloned().map(Value::Object).collect()
    }

    /// The record of `module` carrying our id.
    pub fn by_our_id(&self, module: &str, ours: &str) -> Option<Value> {
        self.records(module).into_iter().find(|r| r[ID_FIELD] == ours)
    }

    /// How many records of `module` carry each of our ids.
    pub fn count_by_our_id(&self, module: &str) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for r in self.records(module) {
            if let Some(ours) = r[ID_FIELD].as_str() {
                *counts.entry(ours.to_string()).or_insert(0) += 1;
            }
        }
        counts
    }

    pub fn inject(&self, failure: Failure, times: usize) {
        let mut inner = self.lock();
        for _ in 0..times {
            inner.failures.push_back(failure);
        }
    }

    /// A user edits a record in Zoho (bumps `Modified_Time`).
    pub fn touch(&self, module: &str, id: &str, patch: Value) {
        let mut inner = self.lock();
        inner.clock_s += 1;
        let now = zoho_time(inner.clock_s);
        if let Some(r) = inner.records.get_mut(module).and_then(|rs| rs.iter_mut().find(|r| r["id"] == id)) {
            if let Some(p) = patch.as_object() {
                r.extend(p.clone());
            }
            r.insert("Modified_Time".into(), json!(now));
        }
    }

    /// A valid access token, as if the owner had just authorised.
    pub fn issue_access_token(&self) -> String {
        issue(&mut self.lock())
    }
}

fn issue(inner: &mut Inner) -> String {
    inner.token_n += 1;
    let t = format!("1000.fakeaccess.{}", inner.token_n);
    inner.tokens.insert(t.clone());
    t
}

async fn handle(State(fake): State<FakeZoho>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let query = parse_pairs(uri.query().unwrap_or(""));
    let header_map: HashMap<String, String> =
        headers.iter().map(|(k, v)| (k.as_str().to_lowercase(), v.to_str().unwrap_or("").to_string())).collect();
    let json_body: Value = if path == "/oauth/v2/token" {
        let mut form = parse_pairs(&String::from_utf8_lossy(&body));
        form.extend(query.clone()); // Zoho takes them as query parameters too
        serde_json::to_value(form).unwrap_or(Value::Null)
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let (latency, hang) = {
        let mut inner = fake.lock();
        inner.requests.push(Recorded {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            headers: header_map.clone(),
            body: json_body.clone(),
        });
        (inner.opts.latency, inner.opts.hang)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let (answer, late) = {
        let mut inner = fake.lock();
        answer(&mut inner, &method, &path, &query, &header_map, &json_body)
    };
    if late {
        tokio::time::sleep(hang).await;
    }
    let (status, extra, value) = answer;
    let mut response = if status == StatusCode::NO_CONTENT {
        status.into_response()
    } else {
        (status, axum::Json(value)).into_response()
    };
    for (k, v) in extra {
        if let Ok(v) = v.parse() {
            response.headers_mut().insert(k, v);
        }
    }
    response
}

fn answer(
    inner: &mut Inner,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HashMap<String, String>,
    body: &Value,
) -> (Answer, bool) {
    if path == "/oauth/v2/token" {
        return (token(inner, method, body), false);
    }
    let Some(rest) = path.strip_prefix("/crm/v8/") else {
        inner.violations.push(format!("{method} {path}: not a Zoho CRM v8 path"));
        return (
            error(
                StatusCode::NOT_FOUND,
                "INVALID_URL_PATTERN",
                "Please check if the URL trying to access is a correct one",
                json!({}),
            ),
            false,
        );
    };
    // Auth: `Zoho-oauthtoken`, never `Bearer`.
    let auth = headers.get("authorization").cloned().unwrap_or_default();
    if auth.starts_with("Bearer ") {
        inner.violations.push(format!("{method} {path}: Bearer auth (Zoho wants Zoho-oauthtoken)"));
    }
    let token_ok = auth.strip_prefix("Zoho-oauthtoken ").is_some_and(|t| inner.tokens.contains(t));
    if !token_ok {
        return (error(StatusCode::UNAUTHORIZED, "INVALID_TOKEN", "invalid oauth token", json!({})), false);
    }
    // The per-window budget.
    let mut extra = Vec::new();
    if let Some((max, window)) = inner.opts.rate_limit {
        let now = Instant::now();
        while inner.window.front().is_some_and(|t| now.duration_since(*t) >= window) {
            inner.window.pop_front();
        }
        if inner.window.len() >= max {
            inner.violations.push(format!("{method} {path}: over the rate limit ({max} per {window:?})"));
            let reset = window.saturating_sub(now.duration_since(*inner.window.front().unwrap_or(&now)));
            let mut a = error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS", "too many requests", json!({}));
            a.1.push(("x-ratelimit-reset", reset.as_secs().max(1).to_string()));
            return (a, false);
        }
        inner.window.push_back(now);
        extra.push(("x-ratelimit-limit", max.to_string()));
        extra.push(("x-ratelimit-remaining", (max - inner.window.len()).to_string()));
    }
    let write = *method == Method::POST;
    let failure = if write { inner.failures.pop_front() } else { None };
    let mut late = false;
    match failure {
        Some(Failure::Throttle) => {
            let mut a = error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS", "too many requests", json!({}));
            a.1.push(("x-ratelimit-reset", "1".into()));
            return (a, false);
        }
        Some(Failure::ServerError) => {
            return (
                error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "Internal Server Error", json!({})),
                false,
            );
        }
        Some(Failure::ExpiredToken) => {
            inner.tokens.clear();
            return (error(StatusCode::UNAUTHORIZED, "INVALID_TOKEN", "invalid oauth token", json!({})), false);
        }
        Some(Failure::Timeout) => late = true,
        _ => {}
    }
    let mut a = route(inner, method, rest, query, headers, body, failure);
    a.1.extend(extra);
    (a, late)
}

fn route(
    inner: &mut Inner,
    method: &Method,
    rest: &str,
    query: &HashMap<String, String>,
    headers: &HashMap<String, String>,
    body: &Value,
    failure: Option<Failure>,
) -> Answer {
    let parts: Vec<&str> = rest.split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["settings", "fields"]) => fields(inner, query),
        ("GET", ["settings", "layouts"]) => match query.get("module").map(String::as_str) {
            Some("Deals") => {
                (StatusCode::OK, Vec::new(), json!({"layouts": [{"id": "5725767000000091055", "name": "Standard"}]}))
            }
            Some(m) if MODULES.contains(&m) => {
                (StatusCode::OK, Vec::new(), json!({"layouts": [{"id": "5725767000000091000", "name": "Standard"}]}))
            }
            _ => {
                inner.violations.push(format!("GET settings/layouts with module {:?}", query.get("module")));
                error(
                    StatusCode::BAD_REQUEST,
                    "REQUIRED_PARAM_MISSING",
                    "One of the expected parameter is missing",
                    json!({"param": "module"}),
                )
            }
        },
        ("GET", ["settings", "pipeline"]) => {
            if query.get("layout_id").map(String::as_str) != Some("5725767000000091055") {
                inner.violations.push(format!("GET settings/pipeline with layout_id {:?}", query.get("layout_id")));
                return error(
                    StatusCode::BAD_REQUEST,
                    "REQUIRED_PARAM_MISSING",
                    "One of the expected parameter is missing",
                    json!({"param": "layout_id"}),
                );
            }
            let maps: Vec<Value> = inner
                .opts
                .stages
                .iter()
                .enumerate()
                .map(|(i, (s, f))| json!({"display_value": s, "actual_value": s, "id": format!("57257670000000{i:05}"), "sequence_number": i + 1, "forecast_type": f, "forecast_category": {"name": if f == "Open" { "Pipeline" } else { f }, "id": "1"}}))
                .collect();
            (
                StatusCode::OK,
                Vec::new(),
                json!({"pipeline": [{"display_value": "Standard", "actual_value": "Standard", "default": true, "id": "5725767000000203001", "child_available": false, "maps": maps}]}),
            )
        }
        ("POST", ["Notes"]) => notes(inner, body),
        ("POST", [module, "upsert"]) => upsert(inner, module, body, failure),
        ("GET", [module]) => list(inner, module, query, headers),
        _ => {
            inner.violations.push(format!("{method} /crm/v8/{rest}: not what the connector should call"));
            error(
                StatusCode::NOT_FOUND,
                "INVALID_URL_PATTERN",
                "Please check if the URL trying to access is a correct one",
                json!({}),
            )
        }
    }
}

fn token(inner: &mut Inner, method: &Method, form: &Value) -> Answer {
    if *method != Method::POST {
        inner.violations.push(format!("{method} /oauth/v2/token"));
    }
    let field = |k: &str| form[k].as_str().unwrap_or("").to_string();
    let grant = field("grant_type");
    inner.grants.push(grant.clone());
    // Zoho refuses with HTTP 200 and an `error`.
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return (StatusCode::OK, Vec::new(), json!({"error": "invalid_client"}));
    }
    let give_refresh = match grant.as_str() {
        "refresh_token" if field("refresh_token") == REFRESH_TOKEN => false,
        "refresh_token" => return (StatusCode::OK, Vec::new(), json!({"error": "invalid_code"})),
        "authorization_code" if field("code") == AUTH_CODE && !field("redirect_uri").is_empty() => true,
        "authorization_code" => return (StatusCode::OK, Vec::new(), json!({"error": "invalid_code"})),
        other => {
            inner.violations.push(format!("token grant_type {other:?}"));
            return (StatusCode::OK, Vec::new(), json!({"error": "unsupported_grant_type"}));
        }
    };
    let access = issue(inner);
    let mut answer = json!({"access_token": access, "scope": "ZohoCRM.modules.ALL ZohoCRM.settings.ALL", "api_domain": inner.api_domain, "token_type": "Bearer", "expires_in": 3600});
    if give_refresh {
        answer["refresh_token"] = json!(REFRESH_TOKEN);
    }
    (StatusCode::OK, Vec::new(), answer)
}

fn fields(inner: &mut Inner, query: &HashMap<String, String>) -> Answer {
    let Some(module) = query.get("module").filter(|m| MODULES.contains(&m.as_str())) else {
        inner.violations.push(format!("GET settings/fields with module {:?}", query.get("module")));
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_MODULE",
            "the module name given seems to be invalid",
            json!({}),
        );
    };
    let standard = |name: &str| json!({"api_name": name, "data_type": "text", "custom_field": false, "unique": null});
    let mut list: Vec<Value> = ["id", "Modified_Time", "Created_Time", "Owner"].iter().map(|n| standard(n)).collect();
    if !inner.opts.missing_id_field.contains(module) {
        let unique =
            if inner.opts.not_unique.contains(module) { Value::Null } else { json!({"casesensitive": "false"}) };
        list.push(
            json!({"api_name": ID_FIELD, "data_type": "text", "custom_field": true, "unique": unique, "length": 255}),
        );
    }
    (StatusCode::OK, Vec::new(), json!({"fields": list}))
}

/// Mandatory fields per module (Zoho's standard layouts).
fn mandatory(module: &str) -> &'static [&'static str] {
    match module {
        "Accounts" => &["Account_Name"],
        "Contacts" | "Leads" => &["Last_Name"],
        "Deals" => &["Deal_Name", "Stage", "Closing_Date"],
        "Tasks" => &["Subject"],
        _ => &[],
    }
}

/// Lookup fields and the module they point at.
fn lookup_module(module: &str, field: &str, record: &Map<String, Value>) -> Option<String> {
    let to = match (module, field) {
        ("Accounts", "Parent_Account") | ("Contacts" | "Deals", "Account_Name") => "Accounts",
        ("Deals", "Contact_Name") | ("Tasks", "Who_Id") => "Contacts",
        ("Tasks", "What_Id") => return record.get("$se_module").and_then(Value::as_str).map(str::to_string),
        _ => return None,
    };
    Some(to.to_string())
}

/// What Zoho would refuse in one record, as (code, api_name, message).
fn check_record(inner: &Inner, module: &str, r: &Map<String, Value>) -> Option<(String, String, String)> {
    for field in mandatory(module) {
        let present = r.get(*field).is_some_and(|v| !v.is_null() && v.as_str() != Some(""));
        if !present {
            return Some(("MANDATORY_NOT_FOUND".into(), field.to_string(), "required field not found".into()));
        }
    }
    for (k, v) in r {
        if let Some(target) = lookup_module(module, k, r) {
            let id = v.get("id").and_then(Value::as_str);
            let exists = id.is_some_and(|id| inner.ids.get(id).is_some_and(|m| *m == target));
            if !exists {
                return Some(("INVALID_DATA".into(), k.clone(), format!("invalid data: no {target} record {v}")));
            }
        }
    }
    if module == "Deals" {
        let stage = r.get("Stage").and_then(Value::as_str).unwrap_or("");
        if !inner.opts.stages.iter().any(|(s, _)| s == stage) {
            return Some(("INVALID_DATA".into(), "Stage".into(), "invalid data".into()));
        }
        if !r.get("Closing_Date").and_then(Value::as_str).is_some_and(is_date) {
            return Some(("INVALID_DATA".into(), "Closing_Date".into(), "invalid data".into()));
        }
        if r.get("Amount").is_some_and(|a| !a.is_number()) {
            return Some(("INVALID_DATA".into(), "Amount".into(), "invalid data".into()));
        }
    }
    if module == "Tasks" && r.get("What_Id").is_some() != r.get("$se_module").is_some() {
        return Some(("MANDATORY_NOT_FOUND".into(), "$se_module".into(), "required field not found".into()));
    }
    None
}

fn upsert(inner: &mut Inner, module: &str, body: &Value, failure: Option<Failure>) -> Answer {
    if !MODULES.contains(&module) {
        inner.violations.push(format!("upsert into module {module}"));
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_MODULE",
            "the module name given seems to be invalid",
            json!({}),
        );
    }
    let Some(data) = body["data"].as_array() else {
        inner.violations.push(format!("upsert {module} without data: {body}"));
        return error(StatusCode::BAD_REQUEST, "INVALID_DATA", "invalid data", json!({}));
    };
    if data.is_empty() || data.len() > 100 {
        inner.violations.push(format!("upsert {module} with {} records (1..=100)", data.len()));
        return error(
            StatusCode::BAD_REQUEST,
            "LIMIT_EXCEEDED",
            "the number of records exceeds 100",
            json!({"limit": 100}),
        );
    }
    if body["duplicate_check_fields"] != json!([ID_FIELD]) {
        inner.violations.push(format!(
            "upsert {module}: duplicate_check_fields {} (want [{ID_FIELD}])",
            body["duplicate_check_fields"]
        ));
    }
    let mut results = Vec::new();
    let mut any_ok = false;
    for (n, item) in data.iter().enumerate() {
        let Some(record) = item.as_object() else {
            inner.violations.push(format!("upsert {module}: a record that is not an object"));
            results.push(json!({"code": "INVALID_DATA", "details": {}, "message": "invalid data", "status": "error"}));
            continue;
        };
        let injected = match failure {
            Some(Failure::PartialFailure) if n % 2 == 0 => {
                Some(("MANDATORY_NOT_FOUND", "Last_Name", "required field not found"))
            }
            Some(Failure::Locked) if n == 0 => Some(("RECORD_LOCKED", "id", "the record is locked")),
            Some(Failure::InvalidData) if n == 0 => Some(("INVALID_DATA", "Email", "invalid data")),
            _ => None,
        };
        if let Some((code, field, message)) = injected {
            results.push(json!({"code": code, "details": {"api_name": field, "json_path": format!("$.data[{n}].{field}")}, "message": message, "status": "error"}));
            continue;
        }
        let Some(ours) = record.get(ID_FIELD).and_then(Value::as_str).map(str::to_string) else {
            inner.violations.push(format!("upsert {module}: a record without {ID_FIELD}"));
            results.push(json!({"code": "MANDATORY_NOT_FOUND", "details": {"api_name": ID_FIELD}, "message": "required field not found", "status": "error"}));
            continue;
        };
        if let Some((code, field, message)) = check_record(inner, module, record) {
            inner
                .violations
                .push(format!("upsert {module} {ours}: {code} on {field}: {}", Value::Object(record.clone())));
            results.push(json!({"code": code, "details": {"api_name": field, "json_path": format!("$.data[{n}].{field}")}, "message": message, "status": "error"}));
            continue;
        }
        inner.clock_s += 1;
        let now = zoho_time(inner.clock_s);
        let key = (module.to_string(), ours.clone());
        let (id, action, created) = match inner.by_ours.get(&key).copied() {
            Some(at) => {
                let r = &mut inner.records.get_mut(module).expect("indexed")[at];
                r.extend(record.clone());
                r.insert("Modified_Time".into(), json!(now));
                let created = r["Created_Time"].clone();
                (r["id"].as_str().unwrap_or("").to_string(), "update", created)
            }
            None => {
                inner.next_id += 1;
                let id = inner.next_id.to_string();
                let mut r = record.clone();
                r.insert("id".into(), json!(id));
                r.insert("Created_Time".into(), json!(now));
                r.insert("Modified_Time".into(), json!(now));
                let rows = inner.records.entry(module.to_string()).or_default();
                rows.push(r);
                let at = rows.len() - 1;
                inner.by_ours.insert(key, at);
                inner.ids.insert(id.clone(), module.to_string());
                (id, "insert", json!(now))
            }
        };
        any_ok = true;
        let who = json!({"name": "Budi Admin", "id": "5725767000000235001"});
        results.push(json!({
            "code": "SUCCESS",
            "duplicate_field": if action == "update" { json!(ID_FIELD) } else { Value::Null },
            "action": action,
            "details": {"Modified_Time": now, "Modified_By": who, "Created_Time": created, "id": id, "Created_By": who},
            "message": if action == "update" { "record updated" } else { "record added" },
            "status": "success"
        }));
    }
    // Zoho answers 400 when no record of the call went in, 207 when some did not.
    let failed = results.iter().any(|r| r["status"] == "error");
    let status = match (any_ok, failed) {
        (true, false) => StatusCode::OK,
        (true, true) => StatusCode::MULTI_STATUS,
        (false, _) => StatusCode::BAD_REQUEST,
    };
    (status, Vec::new(), json!({"data": results}))
}

fn notes(inner: &mut Inner, body: &Value) -> Answer {
    let Some(data) = body["data"].as_array().filter(|d| !d.is_empty() && d.len() <= 100) else {
        inner.violations.push(format!("POST Notes with {body}"));
        return error(StatusCode::BAD_REQUEST, "INVALID_DATA", "invalid data", json!({}));
    };
    let mut results = Vec::new();
    for note in data {
        let parent = note["Parent_Id"]["id"].as_str().unwrap_or("");
        let module = note["Parent_Id"]["module"]["api_name"].as_str().unwrap_or("");
        let ok = note["Note_Content"].as_str().is_some_and(|c| !c.is_empty())
            && inner.ids.get(parent).is_some_and(|m| m == module);
        if !ok {
            inner.violations.push(format!("a note Zoho would refuse: {note}"));
            results.push(json!({"code": "INVALID_DATA", "details": {"api_name": "Parent_Id"}, "message": "invalid data", "status": "error"}));
            continue;
        }
        inner.next_id += 1;
        inner.clock_s += 1;
        let id = inner.next_id.to_string();
        let mut stored = note.as_object().cloned().unwrap_or_default();
        stored.insert("id".into(), json!(id));
        stored.insert("Modified_Time".into(), json!(zoho_time(inner.clock_s)));
        inner.notes.push(stored);
        results.push(json!({"code": "SUCCESS", "details": {"id": id}, "message": "record added", "status": "success"}));
    }
    (StatusCode::CREATED, Vec::new(), json!({"data": results}))
}

fn list(inner: &mut Inner, module: &str, query: &HashMap<String, String>, headers: &HashMap<String, String>) -> Answer {
    if !MODULES.contains(&module) {
        inner.violations.push(format!("GET module {module}"));
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_MODULE",
            "the module name given seems to be invalid",
            json!({}),
        );
    }
    let Some(fields) = query.get("fields").filter(|f| !f.is_empty()) else {
        inner.violations.push(format!("GET {module} without fields (v8 requires them)"));
        return error(
            StatusCode::BAD_REQUEST,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({"param": "fields"}),
        );
    };
    let fields: Vec<&str> = fields.split(',').collect();
    if fields.len() > 50 {
        inner.violations.push(format!("GET {module} with {} fields (at most 50)", fields.len()));
    }
    if query.get("sort_by").is_some_and(|s| !["id", "Created_Time", "Modified_Time"].contains(&s.as_str())) {
        inner.violations.push(format!("GET {module} sort_by {:?}", query.get("sort_by")));
    }
    let per_page: usize = query.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(200);
    if per_page > 200 {
        inner.violations.push(format!("GET {module} per_page {per_page} (at most 200)"));
    }
    let since = match headers.get("if-modified-since") {
        Some(s) => match parse_time(s) {
            Some(t) => Some(t),
            None => {
                inner.violations.push(format!("If-Modified-Since {s:?} is not ISO 8601"));
                None
            }
        },
        None => None,
    };
    let mut rows: Vec<&Map<String, Value>> = inner
        .records
        .get(module)
        .map(|rs| {
            rs.iter()
                .filter(|r| {
                    since.is_none_or(|s| r["Modified_Time"].as_str().and_then(parse_time).is_some_and(|m| m > s))
                })
                .collect()
        })
        .unwrap_or_default();
    rows.sort_by_key(|r| (r["Modified_Time"].as_str().and_then(parse_time), r["id"].as_str().map(str::to_string)));
    let page = per_page.min(inner.opts.page).max(1);
    let start = match (query.get("page_token"), query.get("page")) {
        (Some(t), _) => t.strip_prefix("tok").and_then(|n| n.parse().ok()).unwrap_or(0),
        (None, Some(p)) => (p.parse::<usize>().unwrap_or(1).max(1) - 1) * page,
        (None, None) => 0,
    };
    if rows.is_empty() || start >= rows.len() {
        return (
            if since.is_some() { StatusCode::NOT_MODIFIED } else { StatusCode::NO_CONTENT },
            Vec::new(),
            Value::Null,
        );
    }
    let end = (start + page).min(rows.len());
    let data: Vec<Value> = rows[start..end]
        .iter()
        .map(|r| {
            let mut out = Map::new();
            out.insert("id".into(), r["id"].clone());
            for f in &fields {
                if let Some(v) = r.get(*f) {
                    out.insert(f.to_string(), v.clone());
                }
            }
            if fields.contains(&"Full_Name") && module != "Deals" {
                let full = [r.get("First_Name"), r.get("Last_Name")]
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" ");
                out.insert("Full_Name".into(), json!(full));
            }
            Value::Object(out)
        })
        .collect();
    let more = end < rows.len();
    let info = json!({"per_page": page, "count": data.len(), "page": start / page + 1, "more_records": more, "next_page_token": if more { json!(format!("tok{end}")) } else { Value::Null }});
    (StatusCode::OK, Vec::new(), json!({"data": data, "info": info}))
}

// ---- times and forms ----

/// Zoho's time: ISO 8601 in the org's zone, `2026-11-23T08:30:00+05:30`.
pub fn zoho_time(utc_secs: u64) -> String {
    wire::time_at(utc_secs, OFFSET_S, "+05:30")
}

/// UTC seconds of `YYYY-MM-DDTHH:MM:SS` followed by `Z` or `±HH:MM`.
pub fn parse_time(s: &str) -> Option<u64> {
    let (local, zone) = wire::split_time(s)?;
    let offset = match zone.as_bytes().first()? {
        b'Z' if zone.len() == 1 => 0,
        sign @ (b'+' | b'-') if zone.len() == 6 && zone.as_bytes()[3] == b':' => {
            let h: i64 = zone.get(1..3)?.parse().ok()?;
            let mm: i64 = zone.get(4..6)?.parse().ok()?;
            let o = h * 3600 + mm * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    u64::try_from(local - offset).ok()
}

fn is_date(s: &str) -> bool {
    s.len() == 10 && parse_time(&format!("{s}T00:00:00Z")).is_some()
}
