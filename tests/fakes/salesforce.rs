//! A fake Salesforce org on loopback, for connector tests and benchmarks:
//! the OAuth token endpoint (client credentials, JWT bearer, refresh token,
//! authorization code), `describe`, SOQL `query` (the subset the connector
//! speaks) and sObject Collections upsert on the External ID field, with
//! Salesforce's answer shapes, its error array and `Sforce-Limit-Info` on
//! every answer. Every request is recorded and checked; what a real org
//! would refuse or what the connector should never send is a violation.
//!
//! Include with `#[path = "fakes/salesforce.rs"] mod fake_salesforce;`.
//! Depends on axum, tokio, serde_json and std only.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

pub const CLIENT_ID: &str = "3MVG9fake.consumer.key";
pub const CLIENT_SECRET: &str = "fake-consumer-secret";
pub const USERNAME: &str = "integration@kopikita.example";
pub const REFRESH_TOKEN: &str = "5Aep861fake.refresh";
pub const AUTH_CODE: &str = "aPrxfake-code";
pub const EXTERNAL_ID: &str = "WA_Id__c";
pub const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// One Opportunity stage of the fake org.
#[derive(Debug, Clone)]
pub struct FakeStage {
    pub api_name: String,
    pub label: String,
    pub closed: bool,
    pub won: bool,
    pub active: bool,
    pub probability: f64,
}

impl FakeStage {
    pub fn open(name: &str, probability: f64) -> FakeStage {
        FakeStage { api_name: name.into(), label: name.into(), closed: false, won: false, active: true, probability }
    }
    pub fn closed(name: &str, won: bool) -> FakeStage {
        FakeStage { closed: true, won, probability: if won { 100.0 } else { 0.0 }, ..FakeStage::open(name, 0.0) }
    }
}

/// Salesforce's default sales process (plus an inactive stage).
pub fn default_stages() -> Vec<FakeStage> {
    vec![
        FakeStage::open("Prospecting", 10.0),
        FakeStage::open("Qualification", 10.0),
        FakeStage::open("Needs Analysis", 20.0),
        FakeStage::open("Value Proposition", 50.0),
        FakeStage::open("Id. Decision Makers", 60.0),
        FakeStage::open("Perception Analysis", 70.0),
        FakeStage::open("Proposal/Price Quote", 75.0),
        FakeStage::open("Negotiation/Review", 90.0),
        FakeStage { active: false, ..FakeStage::open("Old Stage", 5.0) },
        FakeStage::closed("Closed Won", true),
        FakeStage::closed("Closed Lost", false),
    ]
}

#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// At most this many API requests per rolling window; beyond it the org
    /// answers 403 `REQUEST_LIMIT_EXCEEDED` (the concurrent-requests message,
    /// the short-lived limit; the daily one is `api_limit`).
    pub rate_limit: Option<(usize, Duration)>,
    /// Added to every answer.
    pub latency: Duration,
    /// The daily allocation in `Sforce-Limit-Info: api-usage=N/M`; beyond
    /// it, 403 `TotalRequests Limit exceeded.`
    pub api_limit: u64,
    /// Requests already used today.
    pub api_used: u64,
    /// How long a `Failure::Timeout` answer takes (after applying the write).
    pub hang: Duration,
    /// sObjects whose describe lacks the External ID field.
    pub missing_external_id: Vec<String>,
    /// sObjects where the field exists but is not marked External ID.
    pub not_external_id: Vec<String>,
    pub stages: Vec<FakeStage>,
    pub api_version: String,
    /// Records per query answer before `nextRecordsUrl` (Salesforce: 2,000).
    pub query_batch: usize,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            rate_limit: None,
            latency: Duration::ZERO,
            api_limit: 15_000,
            api_used: 0,
            hang: Duration::from_secs(3),
            missing_external_id: Vec::new(),
            not_external_id: Vec::new(),
            stages: default_stages(),
            api_version: "v66.0".into(),
            query_batch: 2_000,
        }
    }
}

/// What the next write requests suffer. (`PartialFailure` is the name the
/// connector fakes share, hence the allow.)
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// 403 `REQUEST_LIMIT_EXCEEDED`, concurrent-requests message.
    Throttle,
    /// 403 `REQUEST_LIMIT_EXCEEDED`, `TotalRequests Limit exceeded.` (daily).
    RequestLimit,
    /// 503 `SERVER_UNAVAILABLE`.
    ServerError,
    /// The write is applied, the answer comes after `hang`.
    Timeout,
    /// Every token issued so far stops working: 401 `INVALID_SESSION_ID`.
    ExpiredToken,
    /// Every other record (1st, 3rd, …) fails `REQUIRED_FIELD_MISSING`.
    PartialFailure,
    /// The first record fails `DUPLICATE_VALUE`.
    Duplicate,
    /// The first record fails `UNABLE_TO_LOCK_ROW`.
    LockRow,
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HashMap<String, String>,
    /// JSON body, or the form fields as an object, or null.
    pub body: Value,
}

#[derive(Clone)]
pub struct FakeSalesforce {
    url: String,
    state: Arc<Mutex<Inner>>,
}

struct Inner {
    opts: FakeOptions,
    url: String,
    requests: Vec<Recorded>,
    violations: Vec<String>,
    tokens: HashSet<String>,
    issued: u64,
    next_id: u64,
    objects: HashMap<String, Vec<Map<String, Value>>>,
    /// (object, our External ID) → positions in `objects`: Salesforce finds
    /// records by an External ID through an index too, and a scan here
    /// would make the fake, not juru, the benchmark's bottleneck.
    by_ext: HashMap<(String, String), Vec<usize>>,
    /// Every record `Id`.
    ids: HashSet<String>,
    /// Query locators handed out: the query and the row the next answer starts at.
    locators: HashMap<String, (String, usize)>,
    failures: VecDeque<(Failure, usize)>,
    api_used: u64,
    window: VecDeque<Instant>,
    in_flight: usize,
    max_in_flight: usize,
    last_stamp_ms: u64,
    /// OpportunityContactRole rows (no External ID: created by Id only).
    roles: Vec<Map<String, Value>>,
}

const OBJECTS: [&str; 4] = ["Account", "Contact", "Opportunity", "Task"];

/// Fields each object accepts besides `Id`, our External ID and `*__c`.
fn known_fields(object: &str) -> &'static [&'static str] {
    match object {
        "Account" => &["Name", "Description", "ParentId", "Parent", "Phone", "Website", "Industry", "Type"],
        "Contact" => &[
            "FirstName",
            "LastName",
            "Name",
            "Phone",
            "MobilePhone",
            "Email",
            "AccountId",
            "Account",
            "Description",
            "Title",
            "LeadSource",
        ],
        "Opportunity" => {
            &["Name", "StageName", "CloseDate", "Amount", "AccountId", "Account", "Description", "Probability", "Type"]
        }
        "Task" => &["Subject", "ActivityDate", "Status", "Description", "WhoId", "WhatId", "Priority", "Type"],
        _ => &[],
    }
}

const SYSTEM_FIELDS: [&str; 4] = ["Id", "SystemModstamp", "LastModifiedDate", "CreatedDate"];

fn id_prefix(object: &str) -> &'static str {
    match object {
        "Account" => "001",
        "Contact" => "003",
        "Opportunity" => "006",
        _ => "00T",
    }
}

fn object_of_id(id: &str) -> Option<&'static str> {
    OBJECTS.into_iter().find(|o| id.starts_with(id_prefix(o)))
}

impl FakeSalesforce {
    pub async fn start(opts: FakeOptions) -> FakeSalesforce {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let inner = Inner {
            api_used: opts.api_used,
            opts,
            url: url.clone(),
            requests: Vec::new(),
            violations: Vec::new(),
            tokens: HashSet::new(),
            issued: 0,
            next_id: 0,
            objects: HashMap::new(),
            by_ext: HashMap::new(),
            ids: HashSet::new(),
            locators: HashMap::new(),
            failures: VecDeque::new(),
            window: VecDeque::new(),
            in_flight: 0,
            max_in_flight: 0,
            last_stamp_ms: 0,
            roles: Vec::new(),
        };
        let fake = FakeSalesforce { url, state: Arc::new(Mutex::new(inner)) };
        let app = Router::new().fallback(handle).with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    /// The login URL and the instance URL alike.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// The upsert requests (PATCH on composite/sobjects).
    pub fn writes(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.method == "PATCH").collect()
    }

    /// Token requests by grant type, in order.
    pub fn grants(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == "/services/oauth2/token")
            .map(|r| r.body["grant_type"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// OpportunityContactRole rows: `{Id, OpportunityId, ContactId, IsPrimary}`.
    pub fn contact_roles(&self) -> Vec<Value> {
        self.lock().roles.iter().cloned().map(Value::Object).collect()
    }

    pub fn records(&self, object: &str) -> Vec<Value> {
        self.lock().objects.get(object).map(|v| v.iter().cloned().map(Value::Object).collect()).unwrap_or_default()
    }

    pub fn count_by_our_id(&self, object: &str) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for r in self.lock().objects.get(object).into_iter().flatten() {
            if let Some(id) = r.get(EXTERNAL_ID).and_then(Value::as_str) {
                *counts.entry(id.to_string()).or_insert(0) += 1;
            }
        }
        counts
    }

    pub fn inject(&self, failure: Failure, times: usize) {
        if times > 0 {
            self.lock().failures.push_back((failure, times));
        }
    }

    /// The most requests the fake was answering at once.
    pub fn max_in_flight(&self) -> usize {
        self.lock().max_in_flight
    }

    pub fn api_used(&self) -> u64 {
        self.lock().api_used
    }

    /// An admin edits the Opportunity stages.
    pub fn set_stages(&self, stages: Vec<FakeStage>) {
        self.lock().opts.stages = stages;
    }

    /// Every token issued so far stops working (session timeout).
    pub fn expire_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// A record created in Salesforce by a user (not through the API we fake).
    pub fn insert(&self, object: &str, fields: Value) -> String {
        let mut inner = self.lock();
        let id = inner.new_id(object);
        let stamp = inner.stamp();
        let mut record = match fields {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        record.insert("Id".into(), json!(id));
        record.insert("CreatedDate".into(), json!(stamp));
        record.insert("SystemModstamp".into(), json!(stamp));
        record.insert("LastModifiedDate".into(), json!(stamp));
        derive_name(object, &mut record);
        inner.store(object, record);
        id
    }

    /// A user edits a record we pushed: `field` gets `value`, the stamp moves.
    pub fn edit(&self, object: &str, our_id: &str, field: &str, value: Value) -> bool {
        let mut inner = self.lock();
        let stamp = inner.stamp();
        let Some(&at) = inner.find_by_ext(object, our_id).first() else {
            return false;
        };
        let Some(record) = inner.objects.get_mut(object).and_then(|v| v.get_mut(at)) else {
            return false;
        };
        record.insert(field.into(), value);
        record.insert("SystemModstamp".into(), json!(stamp));
        record.insert("LastModifiedDate".into(), json!(stamp));
        derive_name(object, record);
        true
    }
}

impl Inner {
    fn violation(&mut self, text: String) {
        self.violations.push(text);
    }

    fn new_id(&mut self, object: &str) -> String {
        self.next_id += 1;
        format!("{}{:0>12}AAA", id_prefix(object), self.next_id)
    }

    /// Strictly increasing `SystemModstamp`s (ms precision, UTC `+0000`).
    fn stamp(&mut self) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        self.last_stamp_ms = now.max(self.last_stamp_ms + 1);
        format_datetime(self.last_stamp_ms)
    }

    fn next_failure(&mut self) -> Option<Failure> {
        let (failure, left) = self.failures.front_mut()?;
        let failure = failure.clone();
        *left -= 1;
        if *left == 0 {
            self.failures.pop_front();
        }
        Some(failure)
    }

    fn find_by_ext(&self, object: &str, value: &str) -> Vec<usize> {
        self.by_ext.get(&(object.to_string(), value.to_string())).cloned().unwrap_or_default()
    }

    fn exists(&self, id: &str) -> Option<&'static str> {
        let object = object_of_id(id)?;
        self.ids.contains(id).then_some(object)
    }

    /// Adds a new record and indexes it (an upsert never changes a
    /// record's `Id` or External ID).
    fn store(&mut self, object: &str, record: Map<String, Value>) {
        let list = self.objects.entry(object.to_string()).or_default();
        let at = list.len();
        if let Some(id) = record.get("Id").and_then(Value::as_str) {
            self.ids.insert(id.to_string());
        }
        if let Some(ext) = record.get(EXTERNAL_ID).and_then(Value::as_str) {
            self.by_ext.entry((object.to_string(), ext.to_string())).or_default().push(at);
        }
        list.push(record);
    }
}

fn derive_name(object: &str, record: &mut Map<String, Value>) {
    if object == "Contact" {
        let part = |k: &str| record.get(k).and_then(Value::as_str).map(str::to_string);
        let name = [part("FirstName"), part("LastName")].into_iter().flatten().collect::<Vec<_>>().join(" ");
        record.insert("Name".into(), json!(name));
    }
}

/// Salesforce's error array.
fn errors(code: &str, message: &str) -> Value {
    json!([{ "errorCode": code, "message": message, "fields": [] }])
}

struct InFlight(Arc<Mutex<Inner>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        inner.in_flight -= 1;
    }
}

async fn handle(
    State(fake): State<FakeSalesforce>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = tokio::time::Instant::now();
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or_default().to_string();
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let parsed = if content_type.starts_with("application/x-www-form-urlencoded") {
        Value::Object(parse_form(&String::from_utf8_lossy(&body)).into_iter().map(|(k, v)| (k, json!(v))).collect())
    } else if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or_else(|_| json!(String::from_utf8_lossy(&body)))
    };
    let (latency, hang) = {
        let mut inner = fake.lock();
        inner.requests.push(Recorded {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
                .collect(),
            body: parsed.clone(),
        });
        inner.in_flight += 1;
        inner.max_in_flight = inner.max_in_flight.max(inner.in_flight);
        (inner.opts.latency, inner.opts.hang)
    };
    let _guard = InFlight(fake.state.clone());
    if !latency.is_zero() {
        // Counted from arrival: reading the body is part of the answer time.
        tokio::time::sleep_until(arrived + latency).await;
    }
    let (status, answer, delay) = {
        let mut inner = fake.lock();
        let (status, answer, delay) = route(&mut inner, &method, &path, &query, &headers, &content_type, &parsed);
        (status, answer, delay.then_some(hang))
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let (used, limit) = {
        let inner = fake.lock();
        (inner.api_used, inner.opts.api_limit)
    };
    let mut response = (status, axum::Json(answer)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("api-usage={used}/{limit}")) {
        response.headers_mut().insert("sforce-limit-info", v);
    }
    response
}

type Routed = (StatusCode, Value, bool);

fn route(
    inner: &mut Inner,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    content_type: &str,
    body: &Value,
) -> Routed {
    if path == "/services/oauth2/token" && method == Method::POST {
        return token(inner, content_type, body);
    }
    let Some(rest) = path.strip_prefix("/services/data/") else {
        inner.violation(format!("unexpected request {method} {path}"));
        return (StatusCode::NOT_FOUND, errors("NOT_FOUND", "The requested resource does not exist"), false);
    };
    let (version, rest) = rest.split_once('/').unwrap_or((rest, ""));
    if version != inner.opts.api_version {
        inner.violation(format!("API version {version} instead of {}", inner.opts.api_version));
    }
    // Authorization: Bearer <token issued by us>.
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(token) = auth.strip_prefix("Bearer ") else {
        inner.violation(format!("{method} {path} without a Bearer token"));
        return (StatusCode::UNAUTHORIZED, errors("INVALID_AUTH_HEADER", "INVALID_HEADER_TYPE"), false);
    };
    if !inner.tokens.contains(token) {
        return (StatusCode::UNAUTHORIZED, errors("INVALID_SESSION_ID", "Session expired or invalid"), false);
    }
    // Limits: the short window, then the daily allocation.
    inner.api_used += 1;
    if let Some((max, window)) = inner.opts.rate_limit {
        let now = Instant::now();
        while inner.window.front().is_some_and(|t| now.duration_since(*t) >= window) {
            inner.window.pop_front();
        }
        if inner.window.len() >= max {
            return (StatusCode::FORBIDDEN, errors("REQUEST_LIMIT_EXCEEDED", CONCURRENT), false);
        }
        inner.window.push_back(now);
    }
    if inner.api_used > inner.opts.api_limit {
        return (StatusCode::FORBIDDEN, errors("REQUEST_LIMIT_EXCEEDED", DAILY), false);
    }
    let segments: Vec<&str> = rest.split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["sobjects", object, "describe"]) => describe(inner, object),
        ("GET", ["query"]) => soql(inner, query),
        ("GET", ["query", locator]) => match inner.locators.get(*locator).cloned() {
            Some((q, offset)) => soql_page(inner, &q, offset),
            None => (StatusCode::NOT_FOUND, errors("INVALID_QUERY_LOCATOR", "invalid query locator"), false),
        },
        ("PATCH", ["composite", "sobjects", object, field]) => upsert(inner, object, field, content_type, body),
        ("POST", ["composite", "sobjects"]) => create_roles(inner, body),
        _ => {
            inner.violation(format!("unexpected request {method} {path}"));
            (StatusCode::NOT_FOUND, errors("NOT_FOUND", "The requested resource does not exist"), false)
        }
    }
}

const CONCURRENT: &str = "ConcurrentRequests (Concurrent API Requests) Limit exceeded.";
const DAILY: &str = "TotalRequests Limit exceeded.";

fn token_refusal(error: &str, description: &str) -> Routed {
    (StatusCode::BAD_REQUEST, json!({ "error": error, "error_description": description }), false)
}

fn token(inner: &mut Inner, content_type: &str, body: &Value) -> Routed {
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        inner.violation(format!("token request with content type {content_type:?}"));
        return token_refusal("invalid_request", "must be form-encoded");
    }
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let grant = field("grant_type");
    let client_ok = field("client_id") == CLIENT_ID && field("client_secret") == CLIENT_SECRET;
    let mut refresh = None;
    match grant.as_str() {
        "client_credentials" if !client_ok => return token_refusal("invalid_client", "invalid client credentials"),
        "client_credentials" => {}
        "refresh_token" => {
            if field("client_id") != CLIENT_ID {
                inner.violation("refresh without the app's client_id".into());
                return token_refusal("invalid_client_id", "client identifier invalid");
            }
            if field("refresh_token") != REFRESH_TOKEN {
                return token_refusal("invalid_grant", "expired access/refresh token");
            }
        }
        "authorization_code" => {
            if !client_ok || field("redirect_uri").is_empty() {
                inner.violation("authorization_code without client_id, client_secret or redirect_uri".into());
                return token_refusal("invalid_client", "invalid client credentials");
            }
            if field("code") != AUTH_CODE {
                return token_refusal("invalid_grant", "invalid authorization code");
            }
            refresh = Some(REFRESH_TOKEN);
        }
        JWT_GRANT => {
            let url = inner.url.clone();
            match check_assertion(&field("assertion"), &url) {
                Err(problem) => {
                    inner.violation(format!("JWT assertion: {problem}"));
                    return token_refusal("invalid_grant", "invalid assertion");
                }
                Ok(sub) if sub != USERNAME => {
                    return token_refusal("invalid_grant", "user hasn't approved this consumer");
                }
                Ok(_) => {}
            }
        }
        other => {
            inner.violation(format!("unknown grant_type {other:?}"));
            return token_refusal("unsupported_grant_type", "grant type not supported");
        }
    }
    inner.issued += 1;
    let access = format!("00DFAKE!{}.{}", inner.issued, grant.len());
    inner.tokens.insert(access.clone());
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let mut answer = json!({
        "access_token": access,
        "instance_url": inner.url,
        "id": format!("{}/id/00DFAKE/005FAKE", inner.url),
        "token_type": "Bearer",
        "issued_at": now.to_string(),
        "signature": "ZmFrZQ==",
    });
    if let Some(r) = refresh {
        answer["refresh_token"] = json!(r);
    }
    (StatusCode::OK, answer, false)
}

/// Three base64url parts, RS256, `iss`/`aud`/`exp` right; gives `sub`.
fn check_assertion(assertion: &str, audience: &str) -> Result<String, String> {
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        return Err(format!("{} parts instead of 3", parts.len()));
    };
    let decode = |part: &str| base64url(part).ok_or_else(|| "a part is not base64url".to_string());
    let header: Value = serde_json::from_slice(&decode(header)?).map_err(|e| format!("header: {e}"))?;
    let claims: Value = serde_json::from_slice(&decode(payload)?).map_err(|e| format!("claims: {e}"))?;
    if decode(signature)?.len() < 256 {
        return Err("signature shorter than an RSA-2048 one".into());
    }
    if header["alg"] != "RS256" {
        return Err(format!("alg {} instead of RS256", header["alg"]));
    }
    if claims["iss"] != CLIENT_ID {
        return Err(format!("iss {} is not the consumer key", claims["iss"]));
    }
    if claims["aud"] != audience {
        return Err(format!("aud {} instead of {audience}", claims["aud"]));
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    match claims["exp"].as_u64() {
        Some(exp) if exp > now && exp <= now + 180 => {}
        other => return Err(format!("exp {other:?} not within 3 minutes from now ({now})")),
    }
    claims["sub"].as_str().map(str::to_string).ok_or_else(|| "no sub".into())
}

fn describe(inner: &mut Inner, object: &str) -> Routed {
    if !OBJECTS.contains(&object) {
        inner.violation(format!("describe of {object}"));
        return (StatusCode::NOT_FOUND, errors("NOT_FOUND", "The requested resource does not exist"), false);
    }
    let mut fields: Vec<Value> = ["Id"]
        .iter()
        .chain(known_fields(object))
        .map(|n| json!({ "name": n, "type": "string", "externalId": false, "unique": false }))
        .collect();
    if !inner.opts.missing_external_id.iter().any(|o| o == object) {
        let marked = !inner.opts.not_external_id.iter().any(|o| o == object);
        fields.push(json!({ "name": EXTERNAL_ID, "type": "string", "externalId": marked, "unique": marked }));
    }
    (StatusCode::OK, json!({ "name": object, "fields": fields }), false)
}

/// The SOQL subset: `SELECT f, … FROM O [WHERE f op v [AND …]] [ORDER BY f [ASC|DESC]] [LIMIT n]`.
struct Soql {
    fields: Vec<String>,
    object: String,
    conditions: Vec<(String, String, String)>,
    order: Option<(String, bool)>,
    limit: Option<usize>,
}

fn parse_soql(q: &str) -> Result<Soql, String> {
    let spaced = q.replace(',', " , ");
    let mut tokens = spaced.split_whitespace().peekable();
    let mut next = || tokens.next().map(str::to_string);
    let expect = |t: Option<String>, word: &str| match t {
        Some(t) if t.eq_ignore_ascii_case(word) => Ok(()),
        other => Err(format!("expected {word}, got {other:?}")),
    };
    expect(next(), "SELECT")?;
    let mut fields = Vec::new();
    loop {
        let t = next().ok_or("unexpected end in SELECT")?;
        if t.eq_ignore_ascii_case("FROM") {
            break;
        }
        if t != "," {
            fields.push(t);
        }
    }
    let object = next().ok_or("no object after FROM")?;
    let mut soql = Soql { fields, object, conditions: Vec::new(), order: None, limit: None };
    let mut t = next();
    if t.as_deref().is_some_and(|w| w.eq_ignore_ascii_case("WHERE")) {
        loop {
            let (f, op, mut v) = (next().ok_or("bad WHERE")?, next().ok_or("bad WHERE")?, next().ok_or("bad WHERE")?);
            // `f IN ('a', 'b')`: the list, commas dropped, as one value.
            if op.eq_ignore_ascii_case("IN") {
                while !v.ends_with(')') {
                    let t = next().ok_or("unterminated IN list")?;
                    if t != "," {
                        v.push(' ');
                        v.push_str(&t);
                    }
                }
            }
            soql.conditions.push((f, op, v));
            t = next();
            if !t.as_deref().is_some_and(|w| w.eq_ignore_ascii_case("AND")) {
                break;
            }
        }
    }
    if t.as_deref().is_some_and(|w| w.eq_ignore_ascii_case("ORDER")) {
        expect(next(), "BY")?;
        let field = next().ok_or("no ORDER BY field")?;
        t = next();
        let mut ascending = true;
        if let Some(dir) = t.as_deref().filter(|w| w.eq_ignore_ascii_case("ASC") || w.eq_ignore_ascii_case("DESC")) {
            ascending = dir.eq_ignore_ascii_case("ASC");
            t = next();
        }
        soql.order = Some((field, ascending));
    }
    if t.as_deref().is_some_and(|w| w.eq_ignore_ascii_case("LIMIT")) {
        soql.limit = Some(next().and_then(|n| n.parse().ok()).ok_or("bad LIMIT")?);
        t = next();
    }
    match t {
        None => Ok(soql),
        Some(extra) => Err(format!("unexpected {extra:?}")),
    }
}

fn soql(inner: &mut Inner, query: &str) -> Routed {
    let params = parse_form(query);
    let Some(q) = params.get("q") else {
        inner.violation("query without q".into());
        return (StatusCode::BAD_REQUEST, errors("MALFORMED_QUERY", "missing q"), false);
    };
    soql_page(inner, q, 0)
}

/// The answer to query `q` from its `offset`-th row: at most
/// `query_batch` rows, and a `nextRecordsUrl` when more follow.
fn soql_page(inner: &mut Inner, q: &str, offset: usize) -> Routed {
    let soql = match parse_soql(q) {
        Ok(s) => s,
        Err(e) => {
            inner.violation(format!("SOQL the fake does not understand ({e}): {q}"));
            return (StatusCode::BAD_REQUEST, errors("MALFORMED_QUERY", &e), false);
        }
    };
    let mut rows: Vec<Map<String, Value>> = if soql.object == "OpportunityStage" {
        inner
            .opts
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let v = json!({
                    "ApiName": s.api_name, "MasterLabel": s.label, "IsClosed": s.closed, "IsWon": s.won,
                    "IsActive": s.active, "DefaultProbability": s.probability, "SortOrder": i + 1,
                });
                v.as_object().cloned().unwrap_or_default()
            })
            .collect()
    } else if soql.object == "OpportunityContactRole" {
        inner.roles.clone()
    } else if OBJECTS.contains(&soql.object.as_str()) {
        inner.objects.get(&soql.object).cloned().unwrap_or_default()
    } else {
        inner.violation(format!("query on {}", soql.object));
        return (StatusCode::BAD_REQUEST, errors("INVALID_TYPE", "sObject type is not supported"), false);
    };
    let allowed = |f: &str| {
        if soql.object == "OpportunityStage" {
            ["ApiName", "MasterLabel", "IsClosed", "IsWon", "IsActive", "DefaultProbability", "SortOrder"].contains(&f)
        } else if soql.object == "OpportunityContactRole" {
            ["Id", "OpportunityId", "ContactId", "IsPrimary", "Role"].contains(&f)
        } else {
            SYSTEM_FIELDS.contains(&f)
                || f == EXTERNAL_ID
                || f.ends_with("__c")
                || known_fields(&soql.object).contains(&f)
        }
    };
    let unknown: Vec<&String> = soql
        .fields
        .iter()
        .chain(soql.conditions.iter().map(|c| &c.0))
        .chain(soql.order.iter().map(|o| &o.0))
        .filter(|f| !allowed(f))
        .collect();
    if let Some(f) = unknown.first() {
        inner.violation(format!("SOQL names unknown field {f}: {q}"));
        return (StatusCode::BAD_REQUEST, errors("INVALID_FIELD", &format!("No such column '{f}'")), false);
    }
    for (field, op, value) in &soql.conditions {
        let keep = |r: &Map<String, Value>| compare(r.get(field.as_str()), op, value);
        if op.eq_ignore_ascii_case("IN") {
            let list: Vec<String> = value
                .trim_start_matches('(')
                .trim_end_matches(')')
                .split_whitespace()
                .map(|v| v.trim_matches('\'').to_string())
                .collect();
            if list.len() > 200 {
                inner.violation(format!("an IN list of {} values", list.len()));
            }
            rows.retain(|r| r.get(field.as_str()).and_then(Value::as_str).is_some_and(|v| list.iter().any(|l| l == v)));
            continue;
        }
        if !["=", ">", ">=", "<", "<="].contains(&op.as_str()) {
            inner.violation(format!("SOQL operator {op}"));
        }
        rows.retain(keep);
    }
    if let Some((field, ascending)) = &soql.order {
        rows.sort_by(|a, b| {
            let (x, y) = (sort_key(a.get(field.as_str())), sort_key(b.get(field.as_str())));
            if *ascending { x.cmp(&y) } else { y.cmp(&x) }
        });
    }
    if let Some(limit) = soql.limit {
        rows.truncate(limit);
    }
    let total = rows.len();
    let batch = inner.opts.query_batch.max(1);
    let rows: Vec<Map<String, Value>> = rows.into_iter().skip(offset).take(batch).collect();
    let done = offset + rows.len() >= total;
    let records: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut out = Map::new();
            let id = r.get("Id").and_then(Value::as_str).unwrap_or_default();
            out.insert("attributes".into(), json!({ "type": soql.object, "url": format!("/services/data/{}/sobjects/{}/{id}", inner.opts.api_version, soql.object) }));
            for f in &soql.fields {
                out.insert(f.clone(), r.get(f.as_str()).cloned().unwrap_or(Value::Null));
            }
            Value::Object(out)
        })
        .collect();
    let mut answer = json!({ "totalSize": total, "done": done, "records": records });
    if !done {
        let locator = format!("01gFAKE{:06}-{}", inner.locators.len(), offset + batch);
        inner.locators.insert(locator.clone(), (q.to_string(), offset + batch));
        answer["nextRecordsUrl"] = json!(format!("/services/data/{}/query/{locator}", inner.opts.api_version));
    }
    (StatusCode::OK, answer, false)
}

/// Datetimes compare as instants, the rest as text/number/bool.
fn compare(actual: Option<&Value>, op: &str, literal: &str) -> bool {
    let ordering = match (actual, parse_datetime(literal)) {
        (Some(Value::String(s)), Some(lit)) => parse_datetime(s).map(|a| a.cmp(&lit)),
        (Some(Value::Bool(b)), None) => literal.parse::<bool>().ok().map(|l| b.cmp(&l)),
        (Some(Value::Number(n)), None) => {
            n.as_f64().zip(literal.parse::<f64>().ok()).and_then(|(a, l)| a.partial_cmp(&l))
        }
        (Some(Value::String(s)), None) => Some(s.as_str().cmp(literal.trim_matches('\''))),
        _ => None,
    };
    let Some(o) = ordering else { return false };
    match op {
        "=" => o.is_eq(),
        ">" => o.is_gt(),
        ">=" => o.is_ge(),
        "<" => o.is_lt(),
        "<=" => o.is_le(),
        _ => false,
    }
}

fn sort_key(v: Option<&Value>) -> (u64, String) {
    match v {
        Some(Value::String(s)) => (parse_datetime(s).unwrap_or(0), s.clone()),
        Some(Value::Number(n)) => (n.as_f64().unwrap_or(0.0) as u64, String::new()),
        _ => (0, String::new()),
    }
}

fn upsert(inner: &mut Inner, object: &str, field: &str, content_type: &str, body: &Value) -> Routed {
    if !content_type.starts_with("application/json") {
        inner.violation(format!("upsert with content type {content_type:?}"));
    }
    if !OBJECTS.contains(&object) {
        inner.violation(format!("upsert of {object}"));
        return (StatusCode::NOT_FOUND, errors("NOT_FOUND", "The requested resource does not exist"), false);
    }
    let has_field = !inner.opts.missing_external_id.iter().any(|o| o == object)
        && !inner.opts.not_external_id.iter().any(|o| o == object);
    if field != EXTERNAL_ID || !has_field {
        inner.violation(format!("upsert on {object}.{field}, which is not an External ID field"));
        return (
            StatusCode::NOT_FOUND,
            errors("NOT_FOUND", &format!("Provided external ID field does not exist or is not accessible: {field}")),
            false,
        );
    }
    if !body.get("allOrNone").is_some_and(Value::is_boolean) {
        inner.violation("collections upsert without a boolean allOrNone".into());
    }
    let Some(records) = body.get("records").and_then(Value::as_array) else {
        inner.violation("collections upsert without records".into());
        return (StatusCode::BAD_REQUEST, errors("JSON_PARSER_ERROR", "records is required"), false);
    };
    if records.is_empty() || records.len() > 200 {
        inner.violation(format!("collections upsert of {} records", records.len()));
        return (
            StatusCode::BAD_REQUEST,
            errors("EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call"),
            false,
        );
    }
    // Unknown fields fail the whole request, as Salesforce's JSON parser does.
    for r in records {
        for key in r.as_object().into_iter().flat_map(|m| m.keys()) {
            let compound = object == "Contact" && key == "Name";
            let known = key == "attributes"
                || key == EXTERNAL_ID
                || key.ends_with("__c")
                || (known_fields(object).contains(&key.as_str()) && !compound);
            if !known {
                inner.violation(format!("{object} has no field {key}"));
                return (
                    StatusCode::BAD_REQUEST,
                    errors("INVALID_FIELD", &format!("No such column '{key}' on sobject of type {object}")),
                    false,
                );
            }
        }
    }
    let failure = inner.next_failure();
    match failure {
        Some(Failure::Throttle) => return (StatusCode::FORBIDDEN, errors("REQUEST_LIMIT_EXCEEDED", CONCURRENT), false),
        Some(Failure::RequestLimit) => return (StatusCode::FORBIDDEN, errors("REQUEST_LIMIT_EXCEEDED", DAILY), false),
        Some(Failure::ServerError) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                errors("SERVER_UNAVAILABLE", "Service temporarily unavailable"),
                false,
            );
        }
        Some(Failure::ExpiredToken) => {
            inner.tokens.clear();
            return (StatusCode::UNAUTHORIZED, errors("INVALID_SESSION_ID", "Session expired or invalid"), false);
        }
        _ => {}
    }
    let results: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let injected = match failure {
                Some(Failure::PartialFailure) if i % 2 == 0 => {
                    Some(("REQUIRED_FIELD_MISSING", "Required fields are missing: [Industry]".to_string()))
                }
                Some(Failure::Duplicate) if i == 0 => Some((
                    "DUPLICATE_VALUE",
                    format!(
                        "duplicate value found: {EXTERNAL_ID} duplicates value on record with id: {}000000000000AAA",
                        id_prefix(object)
                    ),
                )),
                Some(Failure::LockRow) if i == 0 => {
                    Some(("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record".to_string()))
                }
                _ => None,
            };
            match injected {
                Some((code, message)) => item_error(code, &message, &[]),
                None => save(inner, object, r).unwrap_or_else(|e| e),
            }
        })
        .collect();
    (StatusCode::OK, Value::Array(results), failure == Some(Failure::Timeout))
}

/// sObject Collections create, as the connector uses it: contact roles only.
/// A second role for the same opportunity and contact is a violation (the
/// connector reads the roles first); Salesforce would store a duplicate.
fn create_roles(inner: &mut Inner, body: &Value) -> Routed {
    let Some(records) = body["records"].as_array() else {
        inner.violation(format!("collections create without records: {body}"));
        return (StatusCode::BAD_REQUEST, errors("JSON_PARSER_ERROR", "records expected"), false);
    };
    if records.is_empty() || records.len() > 200 || body.get("allOrNone").is_none() {
        inner.violation(format!("collections create of {} records (1..=200, allOrNone set)", records.len()));
    }
    let mut results = Vec::new();
    for r in records {
        let (opp, contact) = (r["OpportunityId"].as_str().unwrap_or(""), r["ContactId"].as_str().unwrap_or(""));
        if r["attributes"]["type"] != "OpportunityContactRole" {
            inner.violation(format!("collections create of {}", r["attributes"]["type"]));
            results.push(json!({"success": false, "errors": [item_error("INVALID_TYPE", "not supported", &[])]}));
            continue;
        }
        if inner.exists(opp) != Some("Opportunity") || inner.exists(contact) != Some("Contact") {
            inner.violation(format!("a contact role linking unknown records: {r}"));
            results.push(json!({"success": false, "errors": [item_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", &["OpportunityId"])]}));
            continue;
        }
        if inner.roles.iter().any(|x| x["OpportunityId"] == opp && x["ContactId"] == contact) {
            inner.violation(format!("a second contact role for {opp} and {contact}"));
        }
        let id = format!("00K{:015}", inner.roles.len() + 1);
        let mut row = Map::new();
        row.insert("Id".into(), json!(id));
        row.insert("OpportunityId".into(), json!(opp));
        row.insert("ContactId".into(), json!(contact));
        row.insert("IsPrimary".into(), r.get("IsPrimary").cloned().unwrap_or(json!(false)));
        inner.roles.push(row);
        results.push(json!({"id": id, "success": true, "errors": []}));
    }
    (StatusCode::OK, Value::Array(results), false)
}

fn item_error(code: &str, message: &str, fields: &[&str]) -> Value {
    json!({ "success": false, "errors": [{ "statusCode": code, "message": message, "fields": fields }] })
}

/// Upserts one record by our id; `Err` is the per-item error result.
fn save(inner: &mut Inner, object: &str, record: &Value) -> Result<Value, Value> {
    let Some(fields) = record.as_object() else {
        inner.violation(format!("{object} record is not an object"));
        return Err(item_error("JSON_PARSER_ERROR", "record must be an object", &[]));
    };
    if fields.get("attributes").and_then(|a| a.get("type")).and_then(Value::as_str) != Some(object) {
        inner.violation(format!("{object} record with attributes {:?}", fields.get("attributes")));
        return Err(item_error("INVALID_TYPE", "attributes.type does not match the URL", &[]));
    }
    let Some(our_id) = fields.get(EXTERNAL_ID).and_then(Value::as_str).filter(|s| !s.is_empty()) else {
        inner.violation(format!("{object} record without {EXTERNAL_ID}"));
        return Err(item_error("REQUIRED_FIELD_MISSING", "Required fields are missing: [WA_Id__c]", &[EXTERNAL_ID]));
    };
    let mut values = Map::new();
    for (key, value) in fields {
        if key == "attributes" {
            continue;
        }
        match (key.as_str(), value) {
            // Lookups by the parent's External ID.
            ("Account" | "Parent", Value::Object(reference)) => {
                let Some(parent) = reference.get(EXTERNAL_ID).and_then(Value::as_str).filter(|_| reference.len() == 1)
                else {
                    inner.violation(format!("{object}.{key} reference {reference:?} is not by {EXTERNAL_ID}"));
                    return Err(item_error("INVALID_FIELD", "bad reference", &[key]));
                };
                let found = inner.find_by_ext("Account", parent);
                let Some(&at) = found.first() else {
                    return Err(item_error(
                        "INVALID_FIELD",
                        &format!(
                            "Foreign key external ID: {parent} not found for field {EXTERNAL_ID} in entity Account"
                        ),
                        &[],
                    ));
                };
                let id = inner.objects["Account"][at]["Id"].clone();
                values.insert(format!("{key}Id"), id);
            }
            ("AccountId" | "ParentId" | "WhoId" | "WhatId", Value::String(id)) => {
                let expected: &[&str] = match key.as_str() {
                    "WhoId" => &["Contact"],
                    "WhatId" => &["Opportunity", "Account"],
                    _ => &["Account"],
                };
                if !inner.exists(id).is_some_and(|o| expected.contains(&o)) {
                    return Err(item_error(
                        "INVALID_CROSS_REFERENCE_KEY",
                        &format!("invalid cross reference id: {id}"),
                        &[key],
                    ));
                }
                values.insert(key.clone(), value.clone());
            }
            ("Amount" | "Probability", v) if !v.is_number() && !v.is_null() => {
                inner.violation(format!("{object}.{key} is not a number: {v}"));
                return Err(item_error("JSON_PARSER_ERROR", "Cannot deserialize instance of double", &[key]));
            }
            ("CloseDate" | "ActivityDate", v) if !v.as_str().is_some_and(is_date) => {
                inner.violation(format!("{object}.{key} is not YYYY-MM-DD: {v}"));
                return Err(item_error("JSON_PARSER_ERROR", "Cannot deserialize instance of date", &[key]));
            }
            ("Amount" | "Probability", _) => {
                values.insert(key.clone(), value.clone());
            }
            (_, Value::Object(_) | Value::Array(_)) => {
                inner.violation(format!("{object}.{key} is not a scalar: {value}"));
                return Err(item_error("JSON_PARSER_ERROR", "unexpected object", &[key]));
            }
            _ => {
                values.insert(key.clone(), value.clone());
            }
        }
    }
    if let Some(stage) = values.get("StageName") {
        let valid = inner.opts.stages.iter().any(|s| s.active && Some(s.api_name.as_str()) == stage.as_str());
        if !valid {
            return Err(item_error(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                &format!("Stage: bad value for restricted picklist field: {}", stage.as_str().unwrap_or("null")),
                &["StageName"],
            ));
        }
    }
    let matches = inner.find_by_ext(object, our_id);
    if matches.len() > 1 {
        let ids: Vec<String> =
            matches.iter().map(|&i| inner.objects[object][i]["Id"].as_str().unwrap_or_default().to_string()).collect();
        return Err(item_error(
            "DUPLICATE_EXTERNAL_ID",
            &format!("{EXTERNAL_ID}: more than one record found for external id field: [{}]", ids.join(", ")),
            &[EXTERNAL_ID],
        ));
    }
    let stamp = inner.stamp();
    if let Some(&at) = matches.first() {
        let Some(existing) = inner.objects.get_mut(object).and_then(|v| v.get_mut(at)) else {
            return Err(item_error("UNKNOWN_EXCEPTION", "lost record", &[]));
        };
        for (k, v) in values {
            if v.is_null() {
                existing.remove(&k);
            } else {
                existing.insert(k, v);
            }
        }
        existing.insert("SystemModstamp".into(), json!(stamp));
        existing.insert("LastModifiedDate".into(), json!(stamp));
        derive_name(object, existing);
        let id = existing["Id"].clone();
        return Ok(json!({ "id": id, "success": true, "errors": [], "created": false }));
    }
    let required: &[&str] = match object {
        "Account" => &["Name"],
        "Contact" => &["LastName"],
        "Opportunity" => &["Name", "StageName", "CloseDate"],
        _ => &[],
    };
    let missing: Vec<&str> = required.iter().copied().filter(|f| values.get(*f).is_none_or(Value::is_null)).collect();
    if !missing.is_empty() {
        return Err(item_error(
            "REQUIRED_FIELD_MISSING",
            &format!("Required fields are missing: [{}]", missing.join(", ")),
            &missing,
        ));
    }
    let id = inner.new_id(object);
    values.insert("Id".into(), json!(id));
    values.insert("CreatedDate".into(), json!(stamp));
    values.insert("SystemModstamp".into(), json!(stamp));
    values.insert("LastModifiedDate".into(), json!(stamp));
    if object == "Task" {
        values.entry("Status").or_insert(json!("Not Started"));
    }
    derive_name(object, &mut values);
    inner.store(object, values);
    Ok(json!({ "id": id, "success": true, "errors": [], "created": true }))
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// `a=b&c=d` with `+` and `%XX` decoded.
fn parse_form(text: &str) -> HashMap<String, String> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base64url(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        acc = (acc << 6) | u32::from(value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// `2026-11-24T01:02:03.456+0000`.
pub fn format_datetime(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let (y, m, d) = civil_from_days(days);
    let rem = ms % 86_400_000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}+0000",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// `YYYY-MM-DDTHH:MM:SS[.mmm](Z|+0000)` to ms (UTC forms only).
pub fn parse_datetime(s: &str) -> Option<u64> {
    let s = s.trim();
    let body = s.strip_suffix('Z').or_else(|| s.strip_suffix("+0000"))?;
    let (date, time) = body.split_once('T')?;
    let d: Vec<i64> = date.split('-').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, "000"));
    let t: Vec<i64> = hms.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let (&[y, m, day], &[h, min, sec]) = (d.as_slice(), t.as_slice()) else { return None };
    let milli: i64 = frac.get(..3)?.parse().ok()?;
    let days = days_from_civil(y, m, day);
    u64::try_from(((days * 24 + h) * 60 + min) * 60_000 + sec * 1000 + milli).ok()
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}
