//! A fake Freshsales (Freshworks CRM) account on loopback, for connector
//! tests, the crash test and the sync benchmark: the bundle API
//! (`/crm/sales/api/…`, and a legacy account's `/api/…`) with field
//! settings, the deal pipeline selectors, `/{entity}/upsert`, tasks, notes,
//! a contact or deal with its tasks, and `filtered_search`. Answers have
//! Freshsales' shapes (`{"contact": {…}}`, `{"errors": {"code", "message":
//! […]}}`, a refused key's `{"login": "failed", …}`, an HTML 404 for a
//! wrong bundle). No vendor OpenAPI exists, so every request is checked
//! against crm-apis.md §5: `Authorization: Token token=…`, JSON bodies, one
//! record per upsert, `unique_identifier` on our unique custom field with the
//! same value in `custom_field`, mandatory fields, links to records that
//! exist, stage ids of the pipeline, the hourly budget. What Freshsales would
//! refuse, or what the connector should never send, is a violation.
//!
//! Include with `#[path = "fakes/freshsales.rs"] mod fake_freshsales;`.
#![allow(dead_code)]

// One copy per fake: a test includes one fake, sync_crash and the bench several.
#[allow(clippy::duplicate_mod)]
#[path = "wire.rs"]
mod wire;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use wire::parse_pairs;

pub const API_KEY: &str = "fake-freshsales-key-8d1f";
pub const ID_FIELD: &str = "cf_juru_id";
/// The bundle's API path (a legacy freshsales.io account has none).
pub const BUNDLE: &str = "/crm/sales";
/// The account answers in IST (+05:30), as Freshsales does in the user's zone.
const OFFSET_S: u64 = 5 * 3600 + 1800;
const PIPELINE_ID: u64 = 16_000_000_001;
/// Upserted entities (path, body wrapper).
pub const ENTITIES: [(&str, &str); 3] =
    [("sales_accounts", "sales_account"), ("contacts", "contact"), ("deals", "deal")];

/// The default pipeline: (stage id, name, forecast type).
pub fn default_stages() -> Vec<(u64, String, String)> {
    [
        ("New", "Open"),
        ("Initial Contact", "Open"),
        ("Demo Scheduled", "Open"),
        ("Qualification", "Open"),
        ("Negotiation", "Open"),
        ("Won", "Won"),
        ("Lost", "Lost"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (n, f))| (16_000_000_100 + i as u64, n.to_string(), f.to_string()))
    .collect()
}

#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// Requests per rolling window; beyond it 429 with `Retry-After`.
    pub rate_limit: Option<(usize, Duration)>,
    pub latency: Duration,
    /// How late a `Failure::Timeout` answer comes (after applying the write).
    pub hang: Duration,
    /// Entities (`contacts`, `sales_accounts`, `deals`) lacking our id field.
    pub missing_id_field: Vec<String>,
    pub stages: Vec<(u64, String, String)>,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            rate_limit: None,
            latency: Duration::ZERO,
            hang: Duration::from_secs(3),
            missing_id_field: Vec::new(),
            stages: default_stages(),
        }
    }
}

/// What the next write requests suffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 429 with `Retry-After: 1`.
    Throttle,
    /// 500.
    ServerError,
    /// The write is applied, the answer comes after `hang`.
    Timeout,
    /// The record is refused: 400 "Mobile number is invalid".
    InvalidData,
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Below the API root: `/contacts/upsert`.
    pub path: String,
    pub query: HashMap<String, String>,
    /// Lowercase names.
    pub headers: HashMap<String, String>,
    pub body: Value,
}

struct Inner {
    opts: FakeOptions,
    url: String,
    requests: Vec<Recorded>,
    violations: Vec<String>,
    /// Per entity path (`contacts`, `sales_accounts`, `deals`, `tasks`, `notes`).
    records: HashMap<String, Vec<Map<String, Value>>>,
    /// Record id → (entity, position).
    ids: HashMap<u64, (String, usize)>,
    /// (entity, our id) → position.
    by_ours: HashMap<(String, String), usize>,
    next_id: u64,
    clock_s: u64,
    failures: VecDeque<Failure>,
    window: VecDeque<Instant>,
    key_valid: bool,
}

#[derive(Clone)]
pub struct FakeFreshsales {
    inner: Arc<Mutex<Inner>>,
}

type Answer = (StatusCode, Vec<(&'static str, String)>, Value);

/// Freshsales' error body.
fn error(status: StatusCode, message: &str) -> Answer {
    (status, Vec::new(), json!({"errors": {"code": status.as_u16(), "message": [message]}}))
}

impl FakeFreshsales {
    pub async fn start(opts: FakeOptions) -> FakeFreshsales {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let fake = FakeFreshsales {
            inner: Arc::new(Mutex::new(Inner {
                opts,
                url,
                requests: Vec::new(),
                violations: Vec::new(),
                records: HashMap::new(),
                ids: HashMap::new(),
                by_ours: HashMap::new(),
                next_id: 16_000_100_000,
                clock_s: 0,
                failures: VecDeque::new(),
                window: VecDeque::new(),
                key_valid: true,
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

    /// What `[crm.freshsales] domain` is set to: the bundle's API root.
    pub fn domain(&self) -> String {
        format!("{}{BUNDLE}", self.url())
    }

    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Upserts, task and note writes.
    pub fn writes(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| (r.method == "POST" || r.method == "PUT") && !r.path.starts_with("/filtered_search"))
            .collect()
    }

    pub fn records(&self, entity: &str) -> Vec<Value> {
        self.lock().records.get(entity).map(|rs| rs.iter().cloned().map(Value::Object).collect()).unwrap_or_default()
    }

    /// The record of `entity` carrying our id.
    pub fn by_our_id(&self, entity: &str, ours: &str) -> Option<Value> {
        self.records(entity).into_iter().find(|r| r["custom_field"][ID_FIELD] == ours)
    }

    /// How many records of `entity` carry each of our ids (tasks and notes: by their marker).
    pub fn count_by_our_id(&self, entity: &str) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for r in self.records(entity) {
            let ours = match entity {
                "tasks" | "notes" => r["description"].as_str().and_then(marker).map(str::to_string),
                _ => r["custom_field"][ID_FIELD].as_str().map(str::to_string),
            };
            if let Some(ours) = ours {
                *counts.entry(ours).or_insert(0) += 1;
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

    /// The owner regenerates the API key: the old one stops working.
    pub fn revoke_key(&self) {
        self.lock().key_valid = false;
    }

    /// A user edits a record in Freshsales (bumps `updated_at`).
    pub fn touch(&self, entity: &str, id: &Value, patch: Value) {
        let mut inner = self.lock();
        let now = tick(&mut inner);
        if let Some(r) = inner.records.get_mut(entity).and_then(|rs| rs.iter_mut().find(|r| r["id"] == *id)) {
            if let Some(p) = patch.as_object() {
                r.extend(p.clone());
            }
            r.insert("updated_at".into(), json!(now));
        }
    }
}

/// `[juru A12]` at the end of a description → `A12`.
fn marker(description: &str) -> Option<&str> {
    let start = description.rfind("[juru ")?;
    description[start + 6..].strip_suffix(']')
}

/// The next `updated_at`: real time, one second past the previous at least.
fn tick(inner: &mut Inner) -> String {
    let real = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    inner.clock_s = real.max(inner.clock_s + 1);
    fs_time(inner.clock_s)
}

async fn handle(
    State(fake): State<FakeFreshsales>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let full = uri.path().to_string();
    let query = parse_pairs(uri.query().unwrap_or(""));
    let header_map: HashMap<String, String> =
        headers.iter().map(|(k, v)| (k.as_str().to_lowercase(), v.to_str().unwrap_or("").to_string())).collect();
    let json_body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    // The bundle path, or a legacy account's bare /api; anything else is not this account.
    let path = full.strip_prefix(BUNDLE).unwrap_or(&full).strip_prefix("/api").map(str::to_string);
    let (latency, hang) = {
        let mut inner = fake.lock();
        inner.requests.push(Recorded {
            method: method.to_string(),
            path: path.clone().unwrap_or_else(|| full.clone()),
            query: query.clone(),
            headers: header_map.clone(),
            body: json_body.clone(),
        });
        (inner.opts.latency, inner.opts.hang)
    };
    let Some(path) = path else {
        let page = "<!DOCTYPE html><html><body><h1>The page you were looking for doesn't exist.</h1></body></html>";
        return (StatusCode::NOT_FOUND, [("content-type", "text/html")], page).into_response();
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
    let mut response = (status, axum::Json(value)).into_response();
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
    let auth = headers.get("authorization").cloned().unwrap_or_default();
    if auth.starts_with("Bearer ") {
        inner.violations.push(format!("{method} {path}: Bearer auth (Freshsales wants Token token=…)"));
    }
    let key_ok = inner.key_valid && auth == format!("Token token={API_KEY}");
    if !key_ok {
        let refusal = json!({"login": "failed", "message": "Incorrect or expired API key"});
        return ((StatusCode::UNAUTHORIZED, Vec::new(), refusal), false);
    }
    let write = matches!(*method, Method::POST | Method::PUT);
    if write && !headers.get("content-type").is_some_and(|c| c.starts_with("application/json")) {
        inner.violations.push(format!("{method} {path}: body not sent as application/json"));
    }
    // The account's budget per window.
    let mut extra = Vec::new();
    if let Some((max, window)) = inner.opts.rate_limit {
        let now = Instant::now();
        while inner.window.front().is_some_and(|t| now.duration_since(*t) >= window) {
            inner.window.pop_front();
        }
        if inner.window.len() >= max {
            inner.violations.push(format!("{method} {path}: over the rate limit ({max} per {window:?})"));
            let reset = window.saturating_sub(now.duration_since(*inner.window.front().unwrap_or(&now)));
            let mut a = error(StatusCode::TOO_MANY_REQUESTS, "Too many requests. Please retry after some time.");
            a.1.push(("retry-after", reset.as_secs().max(1).to_string()));
            return (a, false);
        }
        inner.window.push_back(now);
        extra.push(("x-ratelimit-limit", max.to_string()));
        extra.push(("x-ratelimit-remaining", (max - inner.window.len()).to_string()));
    }
    let searching = path.starts_with("/filtered_search");
    let failure = if write && !searching { inner.failures.pop_front() } else { None };
    let mut late = false;
    match failure {
        Some(Failure::Throttle) => {
            let mut a = error(StatusCode::TOO_MANY_REQUESTS, "Too many requests. Please retry after some time.");
            a.1.push(("retry-after", "1".into()));
            return (a, false);
        }
        Some(Failure::ServerError) => {
            return (error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"), false);
        }
        Some(Failure::InvalidData) => return (error(StatusCode::BAD_REQUEST, "Mobile number is invalid"), false),
        Some(Failure::Timeout) => late = true,
        None => {}
    }
    let mut a = route(inner, method, path, query, body);
    a.1.extend(extra);
    (a, late)
}

fn route(inner: &mut Inner, method: &Method, path: &str, query: &HashMap<String, String>, body: &Value) -> Answer {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["settings", entity, "fields"]) => fields(inner, entity),
        ("GET", ["selector", "deal_pipelines"]) => (
            StatusCode::OK,
            Vec::new(),
            json!({"deal_pipelines": [{"id": PIPELINE_ID, "name": "Default Pipeline", "is_default": true, "position": 1}]}),
        ),
        ("GET", ["selector", "deal_stages"]) => {
            let stages: Vec<Value> = inner
                .opts
                .stages
                .iter()
                .enumerate()
                .map(|(i, (id, name, forecast))| json!({"id": id, "name": name, "position": i + 1, "forecast_type": forecast, "deal_pipeline_id": PIPELINE_ID, "choice_type": if forecast == "Open" { 1 } else { 2 }}))
                .collect();
            (StatusCode::OK, Vec::new(), json!({"deal_stages": stages}))
        }
        ("POST", [entity, "upsert"]) => upsert(inner, entity, body),
        ("POST", ["tasks"]) => task(inner, None, body),
        ("PUT", ["tasks", id]) => task(inner, Some(id), body),
        ("POST", ["notes"]) => note(inner, body),
        ("GET", [entity @ ("contacts" | "deals"), id]) => with_tasks(inner, entity, id, query),
        ("POST", ["filtered_search", entity]) => search(inner, entity, body),
        _ => {
            inner.violations.push(format!("{method} {path}: not what the connector should call"));
            error(StatusCode::NOT_FOUND, "The requested resource was not found")
        }
    }
}

fn fields(inner: &mut Inner, entity: &str) -> Answer {
    if !ENTITIES.iter().any(|(e, _)| *e == entity) {
        inner.violations.push(format!("GET settings/{entity}/fields"));
        return error(StatusCode::NOT_FOUND, "The requested resource was not found");
    }
    let field = |name: &str, label: &str, custom: bool| json!({"id": name.len(), "name": name, "label": label, "type": "text", "default": !custom, "actionable": true});
    let mut list = vec![field("name", "Name", false), field("updated_at", "Updated at", false)];
    if !inner.opts.missing_id_field.iter().any(|m| m == entity) {
        list.push(field(ID_FIELD, "juru id", true));
    }
    (StatusCode::OK, Vec::new(), json!({"fields": list}))
}

/// A number id that names a record of `entity`.
fn exists(inner: &Inner, id: &Value, entity: &str) -> bool {
    id.as_u64().is_some_and(|id| inner.ids.get(&id).is_some_and(|(e, _)| e == entity))
}

/// What Freshsales would refuse in one record, as its message.
fn check(inner: &Inner, entity: &str, r: &Map<String, Value>) -> Option<String> {
    let text = |k: &str| r.get(k).and_then(Value::as_str).is_some_and(|s| !s.trim().is_empty());
    match entity {
        "sales_accounts" => {
            if !text("name") {
                return Some("Name can't be blank".into());
            }
            if let Some(p) = r.get("parent_sales_account_id")
                && !exists(inner, p, "sales_accounts")
            {
                return Some(format!("Parent sales account {p} is invalid"));
            }
        }
        "contacts" => {
            if !["first_name", "last_name", "email", "mobile_number"].iter().any(|k| text(k)) {
                return Some("Please enter a name, email or phone".into());
            }
            if let Some(accounts) = r.get("sales_accounts") {
                let ok =
                    accounts.as_array().is_some_and(|a| a.iter().all(|a| exists(inner, &a["id"], "sales_accounts")));
                if !ok {
                    return Some(format!("Sales accounts {accounts} are invalid"));
                }
            }
        }
        "deals" => {
            if !text("name") {
                return Some("Name can't be blank".into());
            }
            if !r.get("amount").is_some_and(Value::is_number) {
                return Some("Amount is invalid".into());
            }
            if r.get("deal_pipeline_id").and_then(Value::as_u64) != Some(PIPELINE_ID) {
                return Some("Deal pipeline is invalid".into());
            }
            let stage = r.get("deal_stage_id").and_then(Value::as_u64);
            if !stage.is_some_and(|s| inner.opts.stages.iter().any(|(id, _, _)| *id == s)) {
                return Some("Deal stage is invalid".into());
            }
            if !r.get("expected_close").and_then(Value::as_str).is_some_and(is_date) {
                return Some("Expected close date is invalid".into());
            }
            if let Some(a) = r.get("sales_account_id")
                && !exists(inner, a, "sales_accounts")
            {
                return Some(format!("Sales account {a} is invalid"));
            }
            if let Some(cs) = r.get("contacts_added_list") {
                let ok = cs.as_array().is_some_and(|c| c.iter().all(|c| exists(inner, c, "contacts")));
                if !ok {
                    return Some(format!("Contacts {cs} are invalid"));
                }
            }
        }
        _ => {}
    }
    None
}

fn upsert(inner: &mut Inner, entity: &str, body: &Value) -> Answer {
    let Some(wrapper) = ENTITIES.iter().find(|(e, _)| *e == entity).map(|(_, w)| *w) else {
        inner.violations.push(format!("upsert into {entity}"));
        return error(StatusCode::NOT_FOUND, "The requested resource was not found");
    };
    let unique = body["unique_identifier"].as_object().cloned().unwrap_or_default();
    let ours = match (unique.len(), unique.get(ID_FIELD).and_then(Value::as_str)) {
        (1, Some(ours)) => ours.to_string(),
        _ => {
            inner.violations.push(format!(
                "upsert {entity}: unique_identifier {} (want {{{ID_FIELD}: …}})",
                body["unique_identifier"]
            ));
            return error(StatusCode::BAD_REQUEST, "unique_identifier is invalid");
        }
    };
    if inner.opts.missing_id_field.iter().any(|m| m == entity) {
        inner.violations.push(format!("upsert {entity} though {ID_FIELD} is missing there"));
        return error(StatusCode::BAD_REQUEST, &format!("{ID_FIELD} is not a unique field"));
    }
    let Some(record) = body[wrapper].as_object().cloned() else {
        inner.violations.push(format!("upsert {entity} without {wrapper}: {body}"));
        return error(StatusCode::BAD_REQUEST, &format!("{wrapper} is missing"));
    };
    if record["custom_field"][ID_FIELD].as_str() != Some(ours.as_str()) {
        inner
            .violations
            .push(format!("upsert {entity} {ours}: custom_field.{ID_FIELD} is {}", record["custom_field"][ID_FIELD]));
    }
    if let Some(message) = check(inner, entity, &record) {
        inner.violations.push(format!("upsert {entity} {ours}: {message}: {}", Value::Object(record.clone())));
        return error(StatusCode::BAD_REQUEST, &message);
    }
    let now = tick(inner);
    let found = inner.by_ours.get(&(entity.to_string(), ours.clone())).copied();
    let (status, stored) = match found {
        Some(at) => {
            let r = &mut inner.records.get_mut(entity).expect("found")[at];
            let custom = r.get("custom_field").cloned();
            r.extend(record.clone());
            if let (Some(Value::Object(mut old)), Some(Value::Object(new))) =
                (custom, record.get("custom_field").cloned())
            {
                old.extend(new);
                r.insert("custom_field".into(), Value::Object(old));
            }
            r.insert("updated_at".into(), json!(now));
            (StatusCode::OK, r.clone())
        }
        None => {
            inner.next_id += 1;
            let id = inner.next_id;
            let mut r = record.clone();
            r.insert("id".into(), json!(id));
            r.insert("created_at".into(), json!(now));
            r.insert("updated_at".into(), json!(now));
            if entity == "contacts" {
                let name = [r.get("first_name"), r.get("last_name")]
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" ");
                r.insert("display_name".into(), json!(name));
            }
            let rows = inner.records.entry(entity.to_string()).or_default();
            rows.push(r.clone());
            let at = rows.len() - 1;
            inner.ids.insert(id, (entity.to_string(), at));
            inner.by_ours.insert((entity.to_string(), ours.clone()), at);
            (StatusCode::CREATED, r)
        }
    };
    (status, Vec::new(), json!({ wrapper: Value::Object(stored) }))
}

fn targetable_entity(t: &Value) -> Option<&'static str> {
    match t.as_str()? {
        "Contact" => Some("contacts"),
        "Deal" => Some("deals"),
        "SalesAccount" => Some("sales_accounts"),
        _ => None,
    }
}

fn task(inner: &mut Inner, id: Option<&str>, body: &Value) -> Answer {
    let Some(task) = body["task"].as_object().cloned() else {
        inner.violations.push(format!("a task write without task: {body}"));
        return error(StatusCode::BAD_REQUEST, "task is missing");
    };
    let ok_target =
        targetable_entity(&task["targetable_type"]).is_some_and(|e| exists(inner, &task["targetable_id"], e));
    let titled = task.get("title").and_then(Value::as_str).is_some_and(|t| !t.is_empty());
    let due = task.get("due_date").and_then(Value::as_str).is_some_and(|d| parse_time(d).is_some());
    if !ok_target || !titled || !due {
        inner.violations.push(format!("a task Freshsales would refuse: {}", Value::Object(task.clone())));
        return error(StatusCode::BAD_REQUEST, "Title, due date and a valid targetable are required");
    }
    let now = tick(inner);
    let stored = match id {
        Some(id) => {
            let at =
                id.parse::<u64>().ok().and_then(|n| inner.ids.get(&n).filter(|(e, _)| e == "tasks").map(|(_, at)| *at));
            let Some(at) = at else {
                inner.violations.push(format!("PUT tasks/{id}: no such task"));
                return error(StatusCode::NOT_FOUND, "The requested resource was not found");
            };
            let r = &mut inner.records.get_mut("tasks").expect("indexed")[at];
            r.extend(task);
            r.insert("updated_at".into(), json!(now));
            r.clone()
        }
        None => {
            inner.next_id += 1;
            let id = inner.next_id;
            let mut r = task;
            r.insert("id".into(), json!(id));
            r.insert("status".into(), json!(0));
            r.insert("created_at".into(), json!(now));
            r.insert("updated_at".into(), json!(now));
            let rows = inner.records.entry("tasks".into()).or_default();
            rows.push(r.clone());
            let at = rows.len() - 1;
            inner.ids.insert(id, ("tasks".into(), at));
            r
        }
    };
    (if id.is_some() { StatusCode::OK } else { StatusCode::CREATED }, Vec::new(), json!({ "task": stored }))
}

fn note(inner: &mut Inner, body: &Value) -> Answer {
    let note = body["note"].as_object().cloned().unwrap_or_default();
    let ok_target =
        targetable_entity(&note["targetable_type"]).is_some_and(|e| exists(inner, &note["targetable_id"], e));
    let described = note.get("description").and_then(Value::as_str).is_some_and(|d| !d.is_empty());
    if !ok_target || !described {
        inner.violations.push(format!("a note Freshsales would refuse: {body}"));
        return error(StatusCode::BAD_REQUEST, "Description and a valid targetable are required");
    }
    let now = tick(inner);
    inner.next_id += 1;
    let mut r = note;
    r.insert("id".into(), json!(inner.next_id));
    r.insert("created_at".into(), json!(now));
    r.insert("updated_at".into(), json!(now));
    inner.records.entry("notes".into()).or_default().push(r.clone());
    (StatusCode::CREATED, Vec::new(), json!({ "note": r }))
}

fn with_tasks(inner: &mut Inner, entity: &str, id: &str, query: &HashMap<String, String>) -> Answer {
    let Some((_, at)) = id.parse::<u64>().ok().and_then(|n| inner.ids.get(&n).filter(|(e, _)| e == entity).cloned())
    else {
        return error(StatusCode::NOT_FOUND, "The requested resource was not found");
    };
    let record = inner.records[entity][at].clone();
    let wrapper = if entity == "deals" { "deal" } else { "contact" };
    let mut answer = json!({ wrapper: Value::Object(record.clone()) });
    if query.get("include").is_some_and(|i| i.split(',').any(|p| p == "tasks")) {
        let targetable = if entity == "deals" { "Deal" } else { "Contact" };
        let tasks: Vec<Value> = inner
            .records
            .get("tasks")
            .map(|ts| {
                ts.iter()
                    .filter(|t| t["targetable_type"] == targetable && t["targetable_id"] == record["id"])
                    .cloned()
                    .map(Value::Object)
                    .collect()
            })
            .unwrap_or_default();
        answer["tasks"] = json!(tasks);
    }
    (StatusCode::OK, Vec::new(), answer)
}

fn search(inner: &mut Inner, entity: &str, body: &Value) -> Answer {
    let (path, list) = match entity {
        "contact" => ("contacts", "contacts"),
        "deal" => ("deals", "deals"),
        "sales_account" => ("sales_accounts", "sales_accounts"),
        _ => {
            inner.violations.push(format!("filtered_search/{entity}"));
            return error(StatusCode::NOT_FOUND, "The requested resource was not found");
        }
    };
    let mut since = None;
    for rule in body["filter_rule"].as_array().cloned().unwrap_or_default() {
        match (rule["attribute"].as_str(), rule["operator"].as_str(), rule["value"].as_str().and_then(parse_time)) {
            (Some("updated_at"), Some("is_after"), Some(t)) => since = Some(t),
            _ => inner.violations.push(format!("filtered_search/{entity}: rule {rule}")),
        }
    }
    if body["sort"] != "updated_at" || body["sort_type"] != "asc" {
        inner.violations.push(format!("filtered_search/{entity}: sort {} {}", body["sort"], body["sort_type"]));
    }
    let per_page = body["per_page"].as_u64().unwrap_or(25) as usize;
    if per_page == 0 || per_page > 100 {
        inner.violations.push(format!("filtered_search/{entity}: per_page {per_page} (1..=100)"));
    }
    let page = body["page"].as_u64().unwrap_or(1).max(1) as usize;
    let mut rows: Vec<Map<String, Value>> = inner
        .records
        .get(path)
        .map(|rs| {
            rs.iter()
                .filter(|r| since.is_none_or(|s| r["updated_at"].as_str().and_then(parse_time).is_some_and(|u| u > s)))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    rows.sort_by_key(|r| (r["updated_at"].as_str().and_then(parse_time), r["id"].as_u64()));
    let per_page = per_page.clamp(1, 100);
    let total = rows.len();
    let pages = total.div_ceil(per_page);
    let data: Vec<Value> = rows.into_iter().skip((page - 1) * per_page).take(per_page).map(Value::Object).collect();
    (StatusCode::OK, Vec::new(), json!({ list: data, "meta": {"total": total, "total_pages": pages} }))
}

// ---- times and queries ----

/// Freshsales' time: ISO 8601 in the account's zone, `2026-12-07T18:30:00+05:30`.
pub fn fs_time(utc_secs: u64) -> String {
    wire::time_at(utc_secs, OFFSET_S, "+05:30")
}

/// UTC seconds of `YYYY-MM-DDTHH:MM:SS` followed by `Z` or `±HH:MM` (or `±HHMM`).
pub fn parse_time(s: &str) -> Option<u64> {
    let (local, rest) = wire::split_time(s)?;
    let zone = rest.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset = match zone.as_bytes().first()? {
        b'Z' if zone.len() == 1 => 0,
        sign @ (b'+' | b'-') => {
            let digits: String = zone[1..].chars().filter(char::is_ascii_digit).collect();
            if digits.len() != 4 {
                return None;
            }
            let o = digits[0..2].parse::<i64>().ok()? * 3600 + digits[2..4].parse::<i64>().ok()? * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    u64::try_from(local - offset).ok()
}

fn is_date(s: &str) -> bool {
    s.len() == 10 && parse_time(&format!("{s}T00:00:00Z")).is_some()
}
