//! A fake Dynamics 365 environment on loopback, for connector tests, the
//! crash test and the sync benchmark: Microsoft Entra ID's token endpoint
//! (client credentials, its `AADSTS…` refusals), entity metadata (alternate
//! keys, the opportunity's Sales Stage options), `$batch` with change sets,
//! upserts by alternate key or primary key, single-row reads and filtered
//! lists with `@odata.nextLink`. There is no OpenAPI file for Dataverse, so
//! the contract is crm-apis.md §6 and Microsoft Learn ("Execute batch
//! operations using the Web API", "Update and delete table rows", "Service
//! protection API limits"): every request is recorded and checked — Bearer
//! auth, `OData-Version: 4.0`, `OData-MaxVersion`, `Accept`, the multipart
//! shape (boundaries, `application/http` parts, `Content-Transfer-Encoding:
//! binary`, `Content-ID` in change sets, ≤ 1 000 operations), `If-Match`
//! ETags (412 on mismatch), required columns and `@odata.bind` targets that
//! exist. What Dataverse would refuse, or the connector should never send,
//! is a violation. Answers have Dataverse's shapes (`{"error": {"code":
//! "0x…", "message": …}}`, 429 with `Retry-After`).
//!
//! Include with `#[path = "fakes/dynamics.rs"] mod fake_dynamics;`.
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
use wire::{parse_pairs, percent_decode};

pub const TENANT: &str = "contoso.onmicrosoft.com";
pub const CLIENT_ID: &str = "8f3a1c2e-0000-4000-8000-00000000c1d0";
pub const CLIENT_SECRET: &str = "fake~dynamics~secret";
pub const ID_COLUMN: &str = "juru_waid";
const API: &str = "/api/data/v9.2/";
/// The tables the connector writes: (entity set, logical name, primary key).
const TABLES: [(&str, &str, &str); 5] = [
    ("accounts", "account", "accountid"),
    ("contacts", "contact", "contactid"),
    ("opportunities", "opportunity", "opportunityid"),
    ("tasks", "task", "activityid"),
    ("annotations", "annotation", "annotationid"),
];

/// The standard Sales Stage options.
pub fn standard_stages() -> Vec<(i64, String)> {
    ["Qualify", "Develop", "Propose", "Close"].iter().enumerate().map(|(i, s)| (i as i64, s.to_string())).collect()
}

#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// Requests per sliding window; beyond it 429 `0x80072322` with `Retry-After`.
    pub rate_limit: Option<(usize, Duration)>,
    /// Requests at once; beyond it 429 `0x80072326` (Dataverse: 52).
    pub concurrency: usize,
    pub latency: Duration,
    /// Server time per operation of a `$batch` (Dataverse runs them in order).
    pub per_operation: Duration,
    /// How late a `Failure::Timeout` answer comes (after applying the writes).
    pub hang: Duration,
    /// Tables (logical names) without the alternate key on our column.
    pub missing_key: Vec<String>,
    /// Tables whose key is still being built (`EntityKeyIndexStatus: Pending`).
    pub pending_key: Vec<String>,
    pub stages: Vec<(i64, String)>,
    /// Rows per list page at most.
    pub page: usize,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            rate_limit: None,
            concurrency: 52,
            latency: Duration::ZERO,
            per_operation: Duration::ZERO,
            hang: Duration::from_secs(3),
            missing_key: Vec::new(),
            pending_key: Vec::new(),
            stages: standard_stages(),
            page: 5000,
        }
    }
}

/// What the next `$batch` calls suffer.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 429 `0x80072322` with `Retry-After: 1`.
    Throttle,
    /// 500 on the whole call.
    ServerError,
    /// The writes are applied, the answer comes after `hang`.
    Timeout,
    /// Every token issued so far stops working: 401.
    ExpiredToken,
    /// The first change set fails: 400 `0x80040237` duplicate key.
    DuplicateKey,
    /// Every other change set (1st, 3rd, …) fails: 400 a required column missing.
    PartialFailure,
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    /// Lowercase names.
    pub headers: HashMap<String, String>,
    /// JSON body, the form fields as an object, or the raw text of a `$batch`.
    pub body: Value,
    /// The operations of a `$batch`, one list per change set.
    pub change_sets: Vec<Vec<Op>>,
}

/// One operation inside a `$batch`.
#[derive(Debug, Clone)]
pub struct Op {
    pub method: String,
    /// Path under the API root with its query (`contacts(juru_waid='62…')?$select=…`).
    pub target: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

#[derive(Debug, Clone)]
struct Row {
    id: String,
    data: Map<String, Value>,
    version: u64,
    modified_s: u64,
}

struct Inner {
    opts: FakeOptions,
    url: String,
    /// The org URL the scope must name (the fake itself unless a proxy stands in front).
    org_url: String,
    requests: Vec<Recorded>,
    violations: Vec<String>,
    /// Entity set → rows in creation order.
    rows: HashMap<String, Vec<Row>>,
    /// (entity set, `ours:` our id | `id:` primary key) → position in `rows`.
    index: HashMap<(String, String), usize>,
    next_id: u64,
    version: u64,
    clock_s: u64,
    failures: VecDeque<Failure>,
    window: VecDeque<Instant>,
    in_flight: usize,
    tokens: HashSet<String>,
    token_n: u64,
    token_requests: usize,
}

#[derive(Clone)]
pub struct FakeDynamics {
    inner: Arc<Mutex<Inner>>,
}

type Answer = (StatusCode, Vec<(&'static str, String)>, Body);

enum Body {
    Json(Value),
    Text(String, String),
    Empty,
}

fn error(status: StatusCode, code: &str, message: &str) -> Answer {
    (status, Vec::new(), Body::Json(json!({"error": {"code": code, "message": message}})))
}

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl FakeDynamics {
    pub async fn start(opts: FakeOptions) -> FakeDynamics {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let fake = FakeDynamics {
            inner: Arc::new(Mutex::new(Inner {
                opts,
                url: url.clone(),
                org_url: url,
                requests: Vec::new(),
                violations: Vec::new(),
                rows: HashMap::new(),
                index: HashMap::new(),
                next_id: 0,
                version: 1_000_000,
                clock_s: now_s(),
                failures: VecDeque::new(),
                window: VecDeque::new(),
                in_flight: 0,
                tokens: HashSet::new(),
                token_n: 0,
                token_requests: 0,
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

    /// The org URL juru is configured with (a proxy in front of the fake): the token's scope names it.
    pub fn set_org_url(&self, url: &str) {
        self.lock().org_url = url.trim_end_matches('/').to_string();
    }

    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// The `$batch` calls.
    pub fn batches(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.path.ends_with("/$batch")).collect()
    }

    pub fn token_requests(&self) -> usize {
        self.lock().token_requests
    }

    /// Rows of an entity set, each with its primary key column, `modifiedon` and `versionnumber`.
    pub fn rows(&self, set: &str) -> Vec<Value> {
        let inner = self.lock();
        let key = TABLES.iter().find(|t| t.0 == set).map_or("id", |t| t.2);
        inner.rows.get(set).map(|rs| rs.iter().map(|r| Value::Object(shown(r, key))).collect()).unwrap_or_default()
    }

    pub fn by_our_id(&self, set: &str, ours: &str) -> Option<Value> {
        self.rows(set).into_iter().find(|r| r[ID_COLUMN] == ours)
    }

    pub fn by_id(&self, set: &str, id: &str) -> Option<Value> {
        let key = TABLES.iter().find(|t| t.0 == set).map_or("id", |t| t.2);
        self.rows(set).into_iter().find(|r| r[key] == id)
    }

    /// How many rows of `set` carry each of our ids.
    pub fn count_by_our_id(&self, set: &str) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for r in self.rows(set) {
            if let Some(ours) = r[ID_COLUMN].as_str() {
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

    /// A user edits a row in Dynamics: new values, `modifiedon` and ETag.
    pub fn touch(&self, set: &str, id: &str, patch: Value) {
        let mut inner = self.lock();
        let (version, now) = tick(&mut inner);
        if let Some(r) = inner.rows.get_mut(set).and_then(|rs| rs.iter_mut().find(|r| r.id == id)) {
            if let Some(p) = patch.as_object() {
                r.data.extend(p.clone());
            }
            r.version = version;
            r.modified_s = now;
        }
    }

    /// The time Dynamics will stamp on the next change (for ordering tests).
    pub fn clock_s(&self) -> u64 {
        self.lock().clock_s
    }
}

/// A new version number and the time of a write.
fn tick(inner: &mut Inner) -> (u64, u64) {
    inner.version += 1;
    inner.clock_s = inner.clock_s.max(now_s());
    (inner.version, inner.clock_s)
}

fn shown(r: &Row, key: &str) -> Map<String, Value> {
    let mut out = r.data.clone();
    out.insert(key.into(), json!(r.id));
    out.insert("modifiedon".into(), json!(iso(r.modified_s)));
    out.insert("versionnumber".into(), json!(r.version));
    out
}

fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

async fn handle(
    State(fake): State<FakeDynamics>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query = parse_pairs(uri.query().unwrap_or(""));
    let header_map: HashMap<String, String> =
        headers.iter().map(|(k, v)| (k.as_str().to_lowercase(), v.to_str().unwrap_or("").to_string())).collect();
    let text = String::from_utf8_lossy(&body).into_owned();
    let is_token = path.ends_with("/oauth2/v2.0/token");
    let body_value: Value = if is_token {
        serde_json::to_value(parse_pairs(&text)).unwrap_or(Value::Null)
    } else if path.ends_with("/$batch") {
        Value::String(text.clone())
    } else {
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    let (latency, hang) = {
        let mut inner = fake.lock();
        inner.requests.push(Recorded {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            headers: header_map.clone(),
            body: body_value.clone(),
            change_sets: Vec::new(),
        });
        inner.in_flight += 1;
        (inner.opts.latency, inner.opts.hang)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let (answer, late, work) = {
        let mut inner = fake.lock();
        if is_token {
            (token(&mut inner, &method, &path, &body_value), false, Duration::ZERO)
        } else {
            api(&mut inner, &method, &path, uri.query().unwrap_or(""), &query, &header_map, &text)
        }
    };
    if !work.is_zero() {
        tokio::time::sleep(work).await;
    }
    if late {
        tokio::time::sleep(hang).await;
    }
    fake.lock().in_flight -= 1;
    let (status, extra, body) = answer;
    let mut response = match body {
        Body::Json(v) => {
            (status, [("content-type", "application/json; odata.metadata=minimal")], v.to_string()).into_response()
        }
        Body::Text(ct, t) => (status, [("content-type", ct.as_str())], t).into_response(),
        Body::Empty => status.into_response(),
    };
    response.headers_mut().insert("odata-version", "4.0".parse().expect("static"));
    for (k, v) in extra {
        if let Ok(v) = v.parse() {
            response.headers_mut().insert(k, v);
        }
    }
    response
}

fn token(inner: &mut Inner, method: &Method, path: &str, form: &Value) -> Answer {
    inner.token_requests += 1;
    if *method != Method::POST {
        inner.violations.push(format!("{method} {path}"));
    }
    let field = |k: &str| form[k].as_str().unwrap_or("").to_string();
    let aad = |status: StatusCode, error: &str, code: u32, text: &str| -> Answer {
        (
            status,
            Vec::new(),
            Body::Json(json!({
                "error": error,
                "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: 0b5a0d39-0000-4000-8000-000000000001\r\nCorrelation ID: 7c1e0000-0000-4000-8000-000000000002\r\nTimestamp: 2026-12-07 12:00:00Z"),
                "error_codes": [code],
                "timestamp": "2026-12-07 12:00:00Z",
                "trace_id": "0b5a0d39-0000-4000-8000-000000000001",
                "correlation_id": "7c1e0000-0000-4000-8000-000000000002",
            })),
        )
    };
    let tenant = path.trim_start_matches('/').split('/').next().unwrap_or("");
    if tenant != TENANT {
        return aad(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    }
    if field("grant_type") != "client_credentials" {
        inner.violations.push(format!("token grant_type {:?}", field("grant_type")));
        return aad(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    if field("client_id") != CLIENT_ID {
        return aad(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{}' was not found in the directory '{TENANT}'.", field("client_id")),
        );
    }
    if field("client_secret") != CLIENT_SECRET {
        return aad(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.",
        );
    }
    let scope = format!("{}/.default", inner.org_url);
    if !field("scope").ends_with("/.default") {
        inner.violations.push(format!("token scope {:?} (want {scope:?})", field("scope")));
        return aad(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            "The provided value for the input parameter 'scope' is not valid.",
        );
    }
    if field("scope") != scope {
        // Another environment's URL: no such resource in this tenant.
        let resource = field("scope").trim_end_matches("/.default").to_string();
        return aad(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            500011,
            &format!(
                "The resource principal named {resource} was not found in the tenant named {TENANT}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
            ),
        );
    }
    inner.token_n += 1;
    let access = format!("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.fake{}", inner.token_n);
    inner.tokens.insert(access.clone());
    (
        StatusCode::OK,
        Vec::new(),
        Body::Json(json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": access})),
    )
}

/// Everything under the Web API root: headers, auth, limits, then the route.
fn api(
    inner: &mut Inner,
    method: &Method,
    path: &str,
    raw_query: &str,
    query: &HashMap<String, String>,
    headers: &HashMap<String, String>,
    body: &str,
) -> (Answer, bool, Duration) {
    let Some(rest) = path.strip_prefix(API) else {
        inner.violations.push(format!("{method} {path}: not under {API}"));
        return (
            error(StatusCode::NOT_FOUND, "0x80060888", "Resource not found for the segment."),
            false,
            Duration::ZERO,
        );
    };
    for (name, want) in [("odata-version", "4.0"), ("odata-maxversion", "4.0")] {
        if headers.get(name).map(String::as_str) != Some(want) {
            inner.violations.push(format!("{method} {path}: {name} {:?} (want {want})", headers.get(name)));
        }
    }
    if !headers.get("accept").is_some_and(|a| a.contains("application/json")) {
        inner.violations.push(format!("{method} {path}: Accept {:?}", headers.get("accept")));
    }
    let auth = headers.get("authorization").cloned().unwrap_or_default();
    if !auth.starts_with("Bearer ") {
        inner.violations.push(format!("{method} {path}: authorization is not Bearer"));
    }
    if !auth.strip_prefix("Bearer ").is_some_and(|t| inner.tokens.contains(t)) {
        let mut a = (StatusCode::UNAUTHORIZED, Vec::new(), Body::Empty);
        a.1.push((
            "www-authenticate",
            format!("Bearer authorization_uri=https://login.microsoftonline.com/{TENANT}/oauth2/authorize"),
        ));
        return (a, false, Duration::ZERO);
    }
    if inner.in_flight > inner.opts.concurrency {
        inner.violations.push(format!("{method} {path}: over {} requests at once", inner.opts.concurrency));
        let mut a = error(
            StatusCode::TOO_MANY_REQUESTS,
            "0x80072326",
            "Number of concurrent requests exceeded the limit of 52.",
        );
        a.1.push(("retry-after", "1".into()));
        return (a, false, Duration::ZERO);
    }
    let mut extra = Vec::new();
    if let Some((max, window)) = inner.opts.rate_limit {
        let now = Instant::now();
        while inner.window.front().is_some_and(|t| now.duration_since(*t) >= window) {
            inner.window.pop_front();
        }
        if inner.window.len() >= max {
            inner.violations.push(format!("{method} {path}: over the rate limit ({max} per {window:?})"));
            let wait = window.saturating_sub(now.duration_since(*inner.window.front().unwrap_or(&now)));
            let mut a = error(
                StatusCode::TOO_MANY_REQUESTS,
                "0x80072322",
                &format!(
                    "Number of requests exceeded the limit of {max} over time window of {} seconds.",
                    window.as_secs()
                ),
            );
            a.1.push(("retry-after", wait.as_secs().max(1).to_string()));
            return (a, false, Duration::ZERO);
        }
        inner.window.push_back(now);
        extra.push(("x-ms-ratelimit-burst-remaining-xrm-requests", (max - inner.window.len()).to_string()));
    }
    let (mut answer, late, work) = if rest == "$batch" && *method == Method::POST {
        batch(inner, headers, body)
    } else if *method == Method::GET {
        (get(inner, rest, raw_query, query, headers), false, Duration::ZERO)
    } else {
        inner.violations.push(format!("{method} {path}: writes go through $batch"));
        (error(StatusCode::METHOD_NOT_ALLOWED, "0x80060888", "Not expected."), false, Duration::ZERO)
    };
    answer.1.extend(extra);
    (answer, late, work)
}

fn get(
    inner: &mut Inner,
    rest: &str,
    raw_query: &str,
    query: &HashMap<String, String>,
    headers: &HashMap<String, String>,
) -> Answer {
    if let Some(entity) = rest.strip_prefix("EntityDefinitions(LogicalName='") {
        let (logical, tail) = entity.split_once("')").unwrap_or((entity, ""));
        return metadata(inner, logical, tail, query);
    }
    let (set, key) = match rest.split_once('(') {
        Some((set, key)) => (set, Some(key.strip_suffix(')').unwrap_or(key))),
        None => (rest, None),
    };
    let Some(&(_, logical, id_col)) = TABLES.iter().find(|t| t.0 == set) else {
        inner.violations.push(format!("GET {rest}: unknown entity set"));
        return error(StatusCode::NOT_FOUND, "0x80060888", &format!("Resource not found for the segment '{set}'."));
    };
    let select: Option<Vec<String>> = query.get("$select").map(|s| s.split(',').map(str::to_string).collect());
    let project = |r: &Row| {
        let all = shown(r, id_col);
        let mut out = Map::new();
        out.insert("@odata.etag".into(), json!(etag(r.version)));
        for (k, v) in all {
            if k == id_col || select.as_ref().is_none_or(|s| s.contains(&k)) {
                out.insert(k, v);
            }
        }
        out
    };
    if let Some(key) = key {
        return match find(inner, set, key) {
            Ok(Some(at)) => (StatusCode::OK, Vec::new(), Body::Json(Value::Object(project(&inner.rows[set][at])))),
            Ok(None) => {
                error(StatusCode::NOT_FOUND, "0x80040217", &format!("{logical} With Ids = {key} Does Not Exist"))
            }
            Err(a) => a,
        };
    }
    // A list: `$filter` of `col ne null` and `modifiedon ge …`, ordered by modifiedon.
    let filter = query.get("$filter").cloned().unwrap_or_default();
    if !filter.is_empty() && !filter.split(" and ").all(|c| c.ends_with(" ne null") || c.starts_with("modifiedon ge "))
    {
        inner.violations.push(format!("GET {set}: $filter {filter:?} not understood"));
    }
    let since = filter.split(" and ").find_map(|c| c.strip_prefix("modifiedon ge ")).map(|t| match parse_iso(t) {
        Some(s) => s,
        None => {
            inner.violations.push(format!("GET {set}: modifiedon {t:?} is not an ISO 8601 UTC time"));
            0
        }
    });
    let keyed_only = filter.contains(&format!("{ID_COLUMN} ne null"));
    if query.get("$orderby").is_some_and(|o| !o.starts_with("modifiedon asc")) {
        inner.violations.push(format!("GET {set}: $orderby {:?}", query.get("$orderby")));
    }
    let max_page = headers
        .get("prefer")
        .and_then(|p| p.split(',').find_map(|x| x.trim().strip_prefix("odata.maxpagesize=")))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(5000);
    let page = max_page.min(inner.opts.page).max(1);
    let mut rows: Vec<&Row> = inner
        .rows
        .get(set)
        .map(|rs| {
            rs.iter()
                .filter(|r| since.is_none_or(|s| r.modified_s >= s))
                .filter(|r| !keyed_only || r.data.get(ID_COLUMN).is_some_and(|v| !v.is_null()))
                .collect()
        })
        .unwrap_or_default();
    rows.sort_by(|a, b| (a.modified_s, &a.id).cmp(&(b.modified_s, &b.id)));
    let skip: usize = query.get("$skiptoken").and_then(|t| t.parse().ok()).unwrap_or(0);
    let end = (skip + page).min(rows.len());
    let value: Vec<Value> = rows[skip.min(end)..end].iter().map(|r| Value::Object(project(r))).collect();
    let mut out = json!({"@odata.context": format!("{}{API}$metadata#{set}", inner.url), "value": value});
    if end < rows.len() {
        let base: Vec<&str> =
            raw_query.split('&').filter(|p| !p.starts_with("%24skiptoken") && !p.starts_with("$skiptoken")).collect();
        out["@odata.nextLink"] = json!(format!("{}{API}{set}?{}&$skiptoken={end}", inner.url, base.join("&")));
    }
    (StatusCode::OK, Vec::new(), Body::Json(out))
}

fn metadata(inner: &mut Inner, logical: &str, tail: &str, query: &HashMap<String, String>) -> Answer {
    if !TABLES.iter().any(|t| t.1 == logical) {
        inner.violations.push(format!("metadata of unknown table {logical}"));
        return error(StatusCode::NOT_FOUND, "0x80040217", &format!("Could not find an entity with name {logical}"));
    }
    if tail == "/Keys" {
        let keys: Vec<Value> = if inner.opts.missing_key.iter().any(|t| t == logical) {
            Vec::new()
        } else {
            let status = if inner.opts.pending_key.iter().any(|t| t == logical) { "Pending" } else { "Active" };
            vec![
                json!({"LogicalName": format!("{ID_COLUMN}_key"), "KeyAttributes": [ID_COLUMN], "EntityKeyIndexStatus": status, "MetadataId": "5a3c0000-0000-4000-8000-00000000a001"}),
            ]
        };
        return (StatusCode::OK, Vec::new(), Body::Json(json!({"value": keys})));
    }
    if logical == "opportunity"
        && tail == "/Attributes(LogicalName='salesstage')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
    {
        if query.get("$expand").is_none_or(|e| !e.starts_with("OptionSet")) {
            inner.violations.push("salesstage metadata without $expand=OptionSet".into());
        }
        let options: Vec<Value> = inner
            .opts
            .stages
            .iter()
            .map(|(v, l)| json!({"Value": v, "Label": {"LocalizedLabels": [{"Label": l, "LanguageCode": 1033}], "UserLocalizedLabel": {"Label": l, "LanguageCode": 1033}}}))
            .collect();
        return (
            StatusCode::OK,
            Vec::new(),
            Body::Json(
                json!({"LogicalName": "salesstage", "MetadataId": "5a3c0000-0000-4000-8000-00000000b001", "OptionSet": {"MetadataId": "5a3c0000-0000-4000-8000-00000000b002", "Options": options}}),
            ),
        );
    }
    inner.violations.push(format!("metadata {logical}{tail}: not what the connector should read"));
    error(StatusCode::NOT_FOUND, "0x80060888", "Resource not found for the segment.")
}

/// The row `key` names in `set`: `(juru_waid='…')` or `(<guid>)`.
fn find(inner: &mut Inner, set: &str, key: &str) -> Result<Option<usize>, Answer> {
    if let Some(value) = key.strip_prefix(&format!("{ID_COLUMN}='")).and_then(|k| k.strip_suffix('\'')) {
        let logical = TABLES.iter().find(|t| t.0 == set).map_or("", |t| t.1);
        if inner.opts.missing_key.iter().any(|t| t == logical) || matches!(set, "tasks" | "annotations") {
            inner.violations.push(format!("{set}({key}): no alternate key on {ID_COLUMN}"));
            return Err(error(
                StatusCode::BAD_REQUEST,
                "0x80060888",
                &format!("The key {ID_COLUMN} is not defined for {logical}."),
            ));
        }
        let value = percent_decode(value).replace("''", "'");
        return Ok(inner.index.get(&(set.to_string(), format!("ours:{value}"))).copied());
    }
    if key.len() == 36 && key.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Ok(inner.index.get(&(set.to_string(), format!("id:{key}"))).copied());
    }
    inner.violations.push(format!("{set}({key}): not a key Dataverse reads"));
    Err(error(StatusCode::BAD_REQUEST, "0x80060888", &format!("Bad key {key}")))
}

/// Columns Dataverse requires on create, per entity set.
fn required(set: &str) -> &'static [&'static str] {
    match set {
        "accounts" | "opportunities" => &["name"],
        "contacts" => &["lastname"],
        "tasks" => &["subject"],
        "annotations" => &["notetext"],
        _ => &[],
    }
}

/// Lookup properties the connector may bind, and the entity sets they point at.
fn bind_target(set: &str, property: &str) -> Option<&'static str> {
    Some(match (set, property) {
        ("accounts", "parentaccountid")
        | ("contacts", "parentcustomerid_account")
        | ("opportunities", "parentaccountid") => "accounts",
        ("opportunities", "parentcontactid")
        | ("tasks", "regardingobjectid_contact")
        | ("annotations", "objectid_contact") => "contacts",
        ("tasks", "regardingobjectid_opportunity") | ("annotations", "objectid_opportunity") => "opportunities",
        _ => return None,
    })
}

/// One HTTP answer inside a `$batch` response.
fn part(status: u16, reason: &str, headers: &[(&str, String)], body: Option<&Value>) -> String {
    let mut out = format!(
        "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 {status} {reason}\r\n"
    );
    if body.is_some() {
        out.push_str("Content-Type: application/json; odata.metadata=minimal\r\nOData-Version: 4.0\r\n");
    }
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    if let Some(b) = body {
        out.push_str(&b.to_string());
        out.push_str("\r\n");
    }
    out
}

fn failed_part(status: u16, reason: &str, code: &str, message: &str) -> String {
    part(status, reason, &[], Some(&json!({"error": {"code": code, "message": message}})))
}

/// `POST $batch`: the body's shape is checked, then each change set is
/// applied as a transaction (all its operations or none).
fn batch(inner: &mut Inner, headers: &HashMap<String, String>, body: &str) -> (Answer, bool, Duration) {
    let none = Duration::ZERO;
    let content_type = headers.get("content-type").cloned().unwrap_or_default();
    let Some(boundary) = content_type.strip_prefix("multipart/mixed; boundary=").map(str::to_string) else {
        inner.violations.push(format!("$batch Content-Type {content_type:?}"));
        return (
            error(
                StatusCode::BAD_REQUEST,
                "0x80048d19",
                "The batch request must have a multipart/mixed Content-Type with a boundary.",
            ),
            false,
            none,
        );
    };
    let continue_on_error = headers.get("prefer").is_some_and(|p| p.contains("odata.continue-on-error"));
    if !continue_on_error {
        inner
            .violations
            .push("$batch without Prefer: odata.continue-on-error (one failed record would stop the rest)".into());
    }
    let sets = match parse_batch(body, &boundary) {
        Ok(sets) => sets,
        Err(why) => {
            inner.violations.push(format!("$batch body: {why}"));
            return (
                error(StatusCode::BAD_REQUEST, "0x80048d19", &format!("Invalid batch request: {why}")),
                false,
                none,
            );
        }
    };
    let ops: usize = sets.iter().map(Vec::len).sum();
    if ops == 0 || ops > 1000 {
        inner.violations.push(format!("$batch with {ops} operations (1..=1000)"));
        return (
            error(
                StatusCode::BAD_REQUEST,
                "0x8005f103",
                "The number of requests in the batch exceeds the limit of 1000.",
            ),
            false,
            none,
        );
    }
    if let Some(last) = inner.requests.last_mut() {
        last.change_sets = sets.clone();
    }
    let failure = inner.failures.pop_front();
    match failure {
        Some(Failure::Throttle) => {
            let mut a = error(
                StatusCode::TOO_MANY_REQUESTS,
                "0x80072322",
                "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
            );
            a.1.push(("retry-after", "1".into()));
            return (a, false, none);
        }
        Some(Failure::ServerError) => {
            return (
                error(StatusCode::INTERNAL_SERVER_ERROR, "0x80040216", "An unexpected error occurred."),
                false,
                none,
            );
        }
        Some(Failure::ExpiredToken) => {
            inner.tokens.clear();
            return ((StatusCode::UNAUTHORIZED, Vec::new(), Body::Empty), false, none);
        }
        _ => {}
    }
    let out_boundary = format!("batchresponse_{}", inner.requests.len());
    let mut out = String::new();
    for (n, set) in sets.iter().enumerate() {
        let injected = match failure {
            Some(Failure::DuplicateKey) if n == 0 => {
                Some(failed_part(400, "Bad Request", "0x80040237", "Cannot insert duplicate key."))
            }
            Some(Failure::PartialFailure) if n % 2 == 0 => {
                Some(failed_part(400, "Bad Request", "0x80040203", "Required field 'lastname' is missing."))
            }
            _ => None,
        };
        let result = match injected {
            Some(p) => Err(p),
            None => apply_set(inner, set),
        };
        out.push_str(&format!("--{out_boundary}\r\n"));
        match result {
            Ok(parts) => {
                let cs = format!("changesetresponse_{}_{n}", inner.requests.len());
                out.push_str(&format!("Content-Type: multipart/mixed; boundary={cs}\r\n\r\n"));
                for (i, p) in parts.iter().enumerate() {
                    let with_id = p.replacen("binary\r\n", &format!("binary\r\nContent-ID: {}\r\n", i + 1), 1);
                    out.push_str(&format!("--{cs}\r\n{with_id}"));
                }
                out.push_str(&format!("--{cs}--\r\n"));
            }
            Err(p) => out.push_str(&p),
        }
    }
    out.push_str(&format!("--{out_boundary}--\r\n"));
    let work = inner.opts.per_operation * ops as u32;
    let late = failure == Some(Failure::Timeout);
    ((StatusCode::OK, Vec::new(), Body::Text(format!("multipart/mixed; boundary={out_boundary}"), out)), late, work)
}

/// How to take back one applied operation: the row's set, position and
/// previous state (`None`: it was created).
type Undo = (String, usize, Option<Row>);

/// Applies one change set: every operation, or none (rolled back) with the first failure.
fn apply_set(inner: &mut Inner, set: &[Op]) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut undo: Vec<Undo> = Vec::new();
    for op in set {
        match apply(inner, op) {
            Ok((p, u)) => {
                parts.push(p);
                undo.push(u);
            }
            Err(p) => {
                for (set, at, previous) in undo.into_iter().rev() {
                    let rows = inner.rows.get_mut(&set).expect("applied");
                    match previous {
                        Some(row) => rows[at] = row,
                        None => {
                            let row = rows.remove(at);
                            inner.index.retain(|(s, _), i| !(*s == set && *i == at));
                            let _ = row;
                        }
                    }
                }
                return Err(p);
            }
        }
    }
    Ok(parts)
}

/// One `PATCH` upsert, and how to take it back.
fn apply(inner: &mut Inner, op: &Op) -> Result<(String, Undo), String> {
    if op.method != "PATCH" {
        inner.violations.push(format!("{} {} in a change set: the connector upserts with PATCH", op.method, op.target));
        return Err(failed_part(405, "Method Not Allowed", "0x80060888", "Unexpected method."));
    }
    let (address, query) = op.target.split_once('?').unwrap_or((&op.target, ""));
    let Some((set, key)) = address.split_once('(').map(|(s, k)| (s.to_string(), k.trim_end_matches(')').to_string()))
    else {
        inner.violations.push(format!("PATCH {}: no key", op.target));
        return Err(failed_part(400, "Bad Request", "0x80060888", "The request URI is not valid."));
    };
    let Some(&(_, logical, id_col)) = TABLES.iter().find(|t| t.0 == set) else {
        inner.violations.push(format!("PATCH {set}: unknown entity set"));
        return Err(failed_part(
            404,
            "Not Found",
            "0x80060888",
            &format!("Resource not found for the segment '{set}'."),
        ));
    };
    if op.headers.get("content-type").is_none_or(|c| !c.starts_with("application/json")) {
        inner.violations.push(format!("PATCH {set}({key}) without Content-Type: application/json"));
    }
    let Some(data) = op.body.as_object().cloned() else {
        inner.violations.push(format!("PATCH {set}({key}) with a body that is no JSON object"));
        return Err(failed_part(400, "Bad Request", "0x80048d19", "Error identified in Payload provided by the user."));
    };
    let at = find(inner, &set, &key).map_err(|(_, _, _)| {
        failed_part(400, "Bad Request", "0x80060888", &format!("The key in {set}({key}) is not defined."))
    })?;
    // If-Match: the row as it is now, or 412 (an update only, never a create).
    if let Some(wanted) = op.headers.get("if-match") {
        let current = at.map(|i| etag(inner.rows[&set][i].version));
        if wanted != "*" && current.as_deref() != Some(wanted.as_str()) {
            return Err(failed_part(
                412,
                "Precondition Failed",
                "0x80060882",
                "The version of the existing record doesn't match the RowVersion property provided.",
            ));
        }
        if at.is_none() {
            return Err(failed_part(
                404,
                "Not Found",
                "0x80040217",
                &format!("{logical} With Ids = {key} Does Not Exist"),
            ));
        }
    }
    let mut row_data = Map::new();
    for (k, v) in &data {
        if let Some(property) = k.strip_suffix("@odata.bind") {
            let Some(target) = bind_target(&set, property) else {
                inner.violations.push(format!("PATCH {set}: unknown lookup {property}"));
                return Err(failed_part(
                    400,
                    "Bad Request",
                    "0x80060888",
                    &format!(
                        "An undeclared property '{property}' which only has property annotations in the payload but no property value was found in the payload."
                    ),
                ));
            };
            let bound = v.as_str().and_then(|b| b.strip_prefix('/')).and_then(|b| b.split_once('('));
            let exists = match bound {
                Some((s, k)) if s == target => matches!(find(inner, s, k.trim_end_matches(')')), Ok(Some(_))),
                _ => false,
            };
            if !exists {
                inner.violations.push(format!("PATCH {set}({key}): {k} = {v} names no {target} row"));
                return Err(failed_part(
                    400,
                    "Bad Request",
                    "0x80060891",
                    &format!(
                        "A record with the specified key values does not exist in {} entity",
                        target.trim_end_matches('s')
                    ),
                ));
            }
        }
        row_data.insert(k.clone(), v.clone());
    }
    if let Some(stage) = data.get("salesstage")
        && !inner.opts.stages.iter().any(|(v, _)| Some(*v) == stage.as_i64())
    {
        inner.violations.push(format!("PATCH {set}({key}): salesstage {stage} is no option"));
        return Err(failed_part(
            400,
            "Bad Request",
            "0x80044331",
            &format!(
                "A validation error occurred. The value {stage} of 'salesstage' on record of type 'opportunity' is outside the valid range."
            ),
        ));
    }
    if set != "tasks" && set != "annotations" {
        let ours = key
            .strip_prefix(&format!("{ID_COLUMN}='"))
            .map(|v| percent_decode(v.trim_end_matches('\'')).replace("''", "'"));
        match (ours, data.get(ID_COLUMN).and_then(Value::as_str)) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => inner.violations.push(format!("PATCH {set}({key}): key {a:?} and body {ID_COLUMN} {b:?} differ")),
        }
    }
    let (version, now) = tick(inner);
    let (status, reason, at, undo) = match at {
        Some(i) => {
            let r = &mut inner.rows.get_mut(&set).expect("found")[i];
            let previous = r.clone();
            r.data.extend(row_data);
            r.version = version;
            r.modified_s = now;
            (200, "OK", i, (set.clone(), i, Some(previous)))
        }
        None => {
            if let Some(missing) = required(&set).iter().find(|c| data.get(**c).is_none_or(|v| v.is_null() || v == ""))
            {
                inner.violations.push(format!("create {set}({key}) without {missing}"));
                return Err(failed_part(
                    400,
                    "Bad Request",
                    "0x80040203",
                    &format!("Required field '{missing}' is missing."),
                ));
            }
            let id = if key.len() == 36 && !key.contains('=') {
                key.clone()
            } else {
                inner.next_id += 1;
                format!("{:08x}-0000-4000-8000-{:012x}", 0x0dd0_0000u32 + set.len() as u32, inner.next_id)
            };
            let ours = row_data.get(ID_COLUMN).and_then(Value::as_str).map(str::to_string);
            let rows = inner.rows.entry(set.clone()).or_default();
            rows.push(Row { id: id.clone(), data: row_data, version, modified_s: now });
            let i = rows.len() - 1;
            inner.index.insert((set.clone(), format!("id:{id}")), i);
            if let Some(ours) = ours {
                inner.index.insert((set.clone(), format!("ours:{ours}")), i);
            }
            (201, "Created", i, (set.clone(), i, None))
        }
    };
    let id = inner.rows[&set][at].id.clone();
    let entity = format!("{}{API}{set}({id})", inner.org_url);
    let representation = op.headers.get("prefer").is_some_and(|p| p.contains("return=representation"));
    if !representation {
        return Ok((part(204, "No Content", &[("OData-EntityId", entity)], None), undo));
    }
    let row = &inner.rows[&set][at].clone();
    let select: Option<Vec<String>> =
        parse_pairs(query).get("$select").map(|s| s.split(',').map(str::to_string).collect());
    let mut shown_row = Map::new();
    shown_row.insert("@odata.context".into(), json!(format!("{}{API}$metadata#{set}/$entity", inner.org_url)));
    shown_row.insert("@odata.etag".into(), json!(etag(row.version)));
    for (k, v) in shown(row, id_col) {
        if k == id_col || select.as_ref().is_none_or(|s| s.contains(&k)) {
            shown_row.insert(k, v);
        }
    }
    let answer = part(
        status,
        reason,
        &[("ETag", etag(row.version)), ("OData-EntityId", entity)],
        Some(&Value::Object(shown_row)),
    );
    Ok((answer, undo))
}

/// The change sets of a `$batch` body, checked against OData 4.0 §11.7.
fn parse_batch(body: &str, boundary: &str) -> Result<Vec<Vec<Op>>, String> {
    let outer = split_parts(body, boundary)?;
    let mut sets = Vec::new();
    for (headers, content) in outer {
        let ct = headers.get("content-type").cloned().unwrap_or_default();
        let Some(cs) = ct.strip_prefix("multipart/mixed; boundary=") else {
            return Err(format!("a top-level part of type {ct:?}: the connector's writes go in change sets"));
        };
        let mut ops = Vec::new();
        let mut ids = HashSet::new();
        for (h, c) in split_parts(&content, cs)? {
            if h.get("content-type").map(String::as_str) != Some("application/http") {
                return Err(format!("a change set part of type {:?}", h.get("content-type")));
            }
            if h.get("content-transfer-encoding").map(String::as_str) != Some("binary") {
                return Err("a part without Content-Transfer-Encoding: binary".into());
            }
            let Some(id) = h.get("content-id") else { return Err("a change set part without Content-ID".into()) };
            if !ids.insert(id.clone()) {
                return Err(format!("Content-ID {id} twice in one change set"));
            }
            ops.push(parse_request(&c)?);
        }
        if ops.is_empty() {
            return Err("an empty change set".into());
        }
        sets.push(ops);
    }
    Ok(sets)
}

fn parse_request(message: &str) -> Result<Op, String> {
    let (head, body) = message.split_once("\r\n\r\n").ok_or("a request without a blank line after its headers")?;
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or("");
    let mut words = first.split(' ');
    let (method, url, version) = (words.next().unwrap_or(""), words.next().unwrap_or(""), words.next().unwrap_or(""));
    if version != "HTTP/1.1" {
        return Err(format!("request line {first:?}"));
    }
    let target = url.split_once(API).map(|(_, t)| t.to_string()).ok_or(format!("{url} is not under {API}"))?;
    let mut headers = HashMap::new();
    for line in lines {
        let (k, v) = line.split_once(':').ok_or(format!("header line {line:?}"))?;
        headers.insert(k.trim().to_lowercase(), v.trim().to_string());
    }
    let body = body.trim_end_matches("\r\n");
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).map_err(|e| format!("body of {method} {target}: {e}"))?
    };
    Ok(Op { method: method.to_string(), target, headers, body })
}

/// `(headers, content)` of each part between `--boundary` lines.
/// A part's headers (lowercase names) and its content.
type Part = (HashMap<String, String>, String);

fn split_parts(body: &str, boundary: &str) -> Result<Vec<Part>, String> {
    let delimiter = format!("--{boundary}");
    let closing = format!("--{boundary}--");
    if !body.contains(&closing) {
        return Err(format!("no closing delimiter {closing}"));
    }
    let mut out = Vec::new();
    for chunk in body.split(&format!("{delimiter}\r\n")).skip(1) {
        let chunk = chunk.split(&closing).next().unwrap_or(chunk);
        let chunk = chunk.strip_suffix("\r\n").unwrap_or(chunk);
        let (head, content) = chunk.split_once("\r\n\r\n").ok_or("a part without a blank line after its headers")?;
        let mut headers = HashMap::new();
        for line in head.split("\r\n") {
            let (k, v) = line.split_once(':').ok_or(format!("part header {line:?}"))?;
            headers.insert(k.trim().to_lowercase(), v.trim().to_string());
        }
        out.push((headers, content.to_string()));
    }
    Ok(out)
}

// ---- times and forms ----

/// `2026-12-07T12:00:00Z`.
pub fn iso(secs: u64) -> String {
    wire::time_at(secs, 0, "Z")
}

/// UTC seconds of `YYYY-MM-DDTHH:MM:SSZ`.
pub fn parse_iso(s: &str) -> Option<u64> {
    let (secs, zone) = wire::split_time(s)?;
    if zone != "Z" {
        return None;
    }
    u64::try_from(secs).ok()
}
