//! A fake Pipedrive (API v2 + v1 notes + OAuth token endpoint) on loopback:
//! in-memory persons, organizations, deals, activities, notes, custom fields,
//! one pipeline. It checks every request's shape the way the vendor's spec
//! says (auth header, no `api_token` query, typed v2 bodies, PATCH not PUT,
//! search term rules) and records violations; failures can be injected.
//! Include with `#[path = "fakes/pipedrive.rs"] mod fake_pipedrive;`.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub const API_TOKEN: &str = "pd-test-token";
pub const CLIENT_ID: &str = "pd-client";
pub const CLIENT_SECRET: &str = "pd-secret";
/// The authorization code the token endpoint accepts.
pub const AUTH_CODE: &str = "pd-code";
/// The fake's clock starts here (2026-11-23T03:00:00Z) and ticks one second per write.
pub const EPOCH_S: u64 = 1_795_402_800;
const ACTIVITY_TYPES: [&str; 6] = ["call", "meeting", "task", "deadline", "email", "lunch"];

/// What the next matching write requests answer instead of the real thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 429 with `x-ratelimit-remaining: 0`, `x-ratelimit-reset: 2`.
    Throttle,
    /// 429 with `x-daily-requests-left: 0` (the company's daily budget).
    DailyLimit,
    /// 503.
    ServerError,
    /// The write is applied, then the answer comes after `timeout_delay`.
    Timeout,
    /// 401; an OAuth access token used for it stops working.
    ExpiredToken,
    /// 403 with Cloudflare's HTML page.
    CloudflareBlock,
    /// 400 with a v2 validation error.
    Validation,
}

#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// Requests per rolling window; beyond it 429 as Pipedrive sends it.
    pub rate_limit: Option<(usize, Duration)>,
    pub latency: Duration,
    /// How late a `Failure::Timeout` answer comes.
    pub timeout_delay: Duration,
    /// The pipeline's stage names, in board order.
    pub stages: Vec<String>,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            rate_limit: None,
            latency: Duration::ZERO,
            timeout_delay: Duration::from_secs(3),
            stages: ["Lead", "Qualified", "Discovery", "Proposal", "Negotiation"].map(String::from).to_vec(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
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
    /// persons, organizations, deals, activities, notes.
    objects: HashMap<String, Vec<Value>>,
    /// personFields, organizationFields, dealFields.
    fields: HashMap<String, Vec<Value>>,
    stages: Vec<Value>,
    next_id: u64,
    clock_s: u64,
    failures: VecDeque<Failure>,
    sent: VecDeque<Instant>,
    access_tokens: Vec<String>,
    refresh_token: String,
    token_n: u64,
    daily_left: u64,
}

#[derive(Clone)]
pub struct FakePipedrive {
    inner: Arc<Mutex<Inner>>,
}

type Answer = (StatusCode, Vec<(&'static str, String)>, Value);

fn ok(data: Value) -> Answer {
    (StatusCode::OK, Vec::new(), json!({"success": true, "data": data}))
}

fn err(status: StatusCode, error: &str) -> Answer {
    (
        status,
        Vec::new(),
        json!({"success": false, "error": error, "error_info": "Please check developers.pipedrive.com", "data": null, "additional_data": null}),
    )
}

impl FakePipedrive {
    pub async fn start(opts: FakeOptions) -> FakePipedrive {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let mut stages = Vec::new();
        for (i, name) in opts.stages.iter().enumerate() {
            stages.push(
                json!({"id": 11 + i as u64, "order_nr": i + 1, "name": name, "is_deleted": false, "pipeline_id": 1}),
            );
        }
        // A custom field that exists before we come, as in a real account.
        let existing = |name: &str, code: &str| json!({"field_name": name, "field_code": code, "field_type": "varchar", "is_custom_field": true});
        let mut fields = HashMap::new();
        for object in ["personFields", "organizationFields", "dealFields"] {
            fields.insert(
                object.to_string(),
                vec![
                    json!({"field_name": "Name", "field_code": "name", "field_type": "varchar", "is_custom_field": false}),
                    existing("Customer group", &format!("{:040x}", 0xc0ffee_u64)),
                ],
            );
        }
        let fake = FakePipedrive {
            inner: Arc::new(Mutex::new(Inner {
                opts,
                url: url.clone(),
                requests: Vec::new(),
                violations: Vec::new(),
                objects: HashMap::new(),
                fields,
                stages,
                next_id: 100,
                clock_s: EPOCH_S,
                failures: VecDeque::new(),
                sent: VecDeque::new(),
                access_tokens: Vec::new(),
                refresh_token: "refresh-0".into(),
                token_n: 0,
                daily_left: 10_000,
            })),
        };
        let app = axum::Router::new().fallback(handle).with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    pub fn url(&self) -> String {
        self.lock().url.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    pub fn records(&self, object: &str) -> Vec<Value> {
        self.lock().objects.get(object).cloned().unwrap_or_default()
    }

    /// The key of the "juru id" field of `fields_object` (`personFields`…), once created.
    pub fn id_field_key(&self, fields_object: &str) -> Option<String> {
        let inner = self.lock();
        inner
            .fields
            .get(fields_object)?
            .iter()
            .find(|f| f["field_name"] == "juru id")
            .map(|f| f["field_code"].as_str().unwrap_or("").to_string())
    }

    /// Custom-field keys a mapping may target.
    pub fn customer_group_key(&self) -> String {
        format!("{:040x}", 0xc0ffee_u64)
    }

    /// How many records carry each of our ids (custom field for persons,
    /// organizations, deals; the `[juru …]` marker for activities and notes).
    pub fn count_by_our_id(&self, object: &str) -> HashMap<String, usize> {
        let fields_object = match object {
            "persons" => Some("personFields"),
            "organizations" => Some("organizationFields"),
            "deals" => Some("dealFields"),
            _ => None,
        };
        let key = fields_object.and_then(|f| self.id_field_key(f));
        let mut counts = HashMap::new();
        for r in self.records(object) {
            let ours = match (&key, object) {
                (Some(k), _) => r["custom_fields"][k].as_str().map(str::to_string),
                (None, "activities") => marker_of(r["subject"].as_str().unwrap_or("")),
                (None, "notes") => marker_of(r["content"].as_str().unwrap_or("")),
                _ => None,
            };
            if let Some(id) = ours {
                *counts.entry(id).or_insert(0) += 1;
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

    /// A user edits a record in Pipedrive's UI (bumps `update_time`).
    pub fn touch(&self, object: &str, id: u64, patch: Value) {
        let mut inner = self.lock();
        inner.clock_s += 1;
        let now = rfc3339(inner.clock_s);
        if let Some(r) = inner.objects.get_mut(object).and_then(|rs| rs.iter_mut().find(|r| r["id"] == id)) {
            merge(r, &patch);
            r["update_time"] = json!(now);
        }
    }

    /// A bulk edit in Pipedrive's UI: `n` new records of `object`, all
    /// updated in the same second (Pipedrive's times have whole seconds).
    pub fn bulk_edit(&self, object: &str, n: usize) {
        let mut inner = self.lock();
        inner.clock_s += 1;
        let now = rfc3339(inner.clock_s);
        let rows = inner.objects.entry(object.to_string()).or_default();
        let first = 900_000 + rows.len() as u64;
        for i in 0..n as u64 {
            rows.push(json!({"id": first + i, "name": format!("Imported {i}"), "add_time": now, "update_time": now}));
        }
    }

    /// The access token the token endpoint handed out last.
    pub fn current_access_token(&self) -> Option<String> {
        self.lock().access_tokens.last().cloned()
    }

    /// A valid access token (as if the owner had authorised just now).
    pub fn issue_access_token(&self) -> String {
        let mut inner = self.lock();
        inner.token_n += 1;
        let t = format!("access-{}", inner.token_n);
        inner.access_tokens.push(t.clone());
        t
    }

    pub fn refresh_token(&self) -> String {
        self.lock().refresh_token.clone()
    }
}

fn marker_of(text: &str) -> Option<String> {
    let start = text.rfind("[juru ")?;
    let rest = &text[start + 6..];
    Some(rest[..rest.find(']')?].to_string())
}

fn merge(target: &mut Value, patch: &Value) {
    let (Some(t), Some(p)) = (target.as_object_mut(), patch.as_object()) else { return };
    for (k, v) in p {
        if k == "custom_fields" {
            let cf = t.entry("custom_fields").or_insert_with(|| json!({}));
            merge(cf, v);
        } else {
            t.insert(k.clone(), v.clone());
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_pairs(s: &str) -> HashMap<String, String> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() { char::from(A[(n >> (18 - 6 * i) & 63) as usize]) } else { '=' });
        }
    }
    out
}

fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

pub fn rfc3339(secs: u64) -> String {
    let (y, m, d) = civil((secs / 86_400) as i64);
    let r = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", r / 3600, r % 3600 / 60, r % 60)
}

/// Seconds of a `YYYY-MM-DDTHH:MM:SSZ` time (the only form the fake accepts).
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z'
    {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2.rem_euclid(400);
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    u64::try_from(days * 86_400 + n(11..13)? * 3600 + n(14..16)? * 60 + n(17..19)?).ok()
}

fn is_date(s: &str) -> bool {
    s.len() == 10 && parse_rfc3339(&format!("{s}T00:00:00Z")).is_some()
}

/// Checks a v2 write body; returns the violations.
fn check_v2_body(object: &str, body: &Value, create: bool, inner: &Inner) -> Vec<String> {
    let mut v = Vec::new();
    let Some(map) = body.as_object() else { return vec![format!("{object}: body is not a JSON object")] };
    let allowed: &[&str] = match object {
        "persons" => &[
            "name",
            "owner_id",
            "org_id",
            "emails",
            "phones",
            "visible_to",
            "label_ids",
            "custom_fields",
            "notes",
            "job_title",
            "marketing_status",
        ],
        "organizations" => &["name", "owner_id", "visible_to", "label_ids", "address", "website", "custom_fields"],
        "deals" => &[
            "title",
            "owner_id",
            "person_id",
            "org_id",
            "pipeline_id",
            "stage_id",
            "value",
            "currency",
            "status",
            "lost_reason",
            "expected_close_date",
            "probability",
            "visible_to",
            "custom_fields",
        ],
        "activities" => &[
            "subject",
            "type",
            "owner_id",
            "deal_id",
            "person_id",
            "org_id",
            "due_date",
            "due_time",
            "duration",
            "done",
            "note",
            "busy",
            "participants",
        ],
        _ => &[],
    };
    for k in map.keys() {
        if !allowed.contains(&k.as_str()) {
            v.push(format!("{object}: unknown field '{k}'"));
        }
    }
    let string = |k: &str, v: &mut Vec<String>| {
        if map.get(k).is_some_and(|x| !x.is_string()) {
            v.push(format!("{object}.{k} must be a string"));
        }
    };
    for k in ["name", "title", "subject", "currency", "status", "lost_reason", "due_date", "note", "type"] {
        string(k, &mut v);
    }
    for k in ["org_id", "person_id", "deal_id", "stage_id", "pipeline_id", "owner_id"] {
        if map.get(k).is_some_and(|x| !x.is_u64()) {
            v.push(format!("{object}.{k} must be an integer"));
        }
    }
    if map.get("value").is_some_and(|x| !x.is_number()) {
        v.push(format!("{object}.value must be a number"));
    }
    if map.get("done").is_some_and(|x| !x.is_boolean()) {
        v.push(format!("{object}.done must be a boolean"));
    }
    for k in ["emails", "phones"] {
        if let Some(list) = map.get(k) {
            let good = list.as_array().is_some_and(|items| {
                items.iter().all(|e| {
                    e.as_object().is_some_and(|o| {
                        o.keys().all(|k| ["value", "primary", "label"].contains(&k.as_str()))
                            && o.get("value").is_some_and(Value::is_string)
                            && o.get("primary").is_none_or(Value::is_boolean)
                            && o.get("label").is_none_or(Value::is_string)
                    })
                })
            });
            if !good {
                v.push(format!("{object}.{k} must be an array of {{value, primary, label}}: {list}"));
            }
        }
    }
    if let Some(cf) = map.get("custom_fields") {
        let fields_object = match object {
            "persons" => "personFields",
            "organizations" => "organizationFields",
            _ => "dealFields",
        };
        match cf.as_object() {
            None => v.push(format!("{object}.custom_fields must be an object")),
            Some(cf) => {
                let known = inner.fields.get(fields_object).cloned().unwrap_or_default();
                for key in cf.keys() {
                    if !known.iter().any(|f| f["field_code"] == key.as_str() && f["is_custom_field"] == true) {
                        v.push(format!("{object}.custom_fields: unknown field key '{key}'"));
                    }
                }
            }
        }
    }
    if create {
        let required = match object {
            "persons" | "organizations" => Some("name"),
            "deals" => Some("title"),
            "activities" => Some("subject"),
            _ => None,
        };
        if let Some(r) = required
            && map.get(r).and_then(Value::as_str).is_none_or(str::is_empty)
        {
            v.push(format!("{object}.{r} is required"));
        }
    }
    if let Some(s) = map.get("status").and_then(Value::as_str)
        && !["open", "won", "lost"].contains(&s)
    {
        v.push(format!("deals.status '{s}' is not open/won/lost"));
    }
    if map.contains_key("lost_reason") && map.get("status").and_then(Value::as_str) != Some("lost") {
        v.push("deals.lost_reason only goes with status lost".into());
    }
    if let Some(id) = map.get("stage_id").and_then(Value::as_u64)
        && !inner.stages.iter().any(|s| s["id"] == id)
    {
        v.push(format!("deals.stage_id {id} does not exist"));
    }
    if let Some(t) = map.get("type").and_then(Value::as_str)
        && !ACTIVITY_TYPES.contains(&t)
    {
        v.push(format!("activities.type '{t}' is not an activity type"));
    }
    if let Some(d) = map.get("due_date").and_then(Value::as_str)
        && !is_date(d)
    {
        v.push(format!("activities.due_date '{d}' is not YYYY-MM-DD"));
    }
    for (k, target) in [("person_id", "persons"), ("org_id", "organizations"), ("deal_id", "deals")] {
        if let Some(id) = map.get(k).and_then(Value::as_u64)
            && !inner.objects.get(target).is_some_and(|rs| rs.iter().any(|r| r["id"] == id))
        {
            v.push(format!("{object}.{k} {id} does not exist"));
        }
    }
    v
}

async fn handle(
    State(fake): State<FakePipedrive>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query = parse_pairs(uri.query().unwrap_or(""));
    let header_map: HashMap<String, String> =
        headers.iter().map(|(k, v)| (k.as_str().to_lowercase(), v.to_str().unwrap_or("").to_string())).collect();
    let json_body: Value = if path == "/oauth/token" {
        serde_json::to_value(parse_pairs(&String::from_utf8_lossy(&body))).unwrap_or(Value::Null)
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let (latency, timeout_delay) = {
        let mut inner = fake.lock();
        inner.requests.push(Recorded {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            headers: header_map.clone(),
            body: json_body.clone(),
        });
        (inner.opts.latency, inner.opts.timeout_delay)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let (answer, late) = {
        let mut inner = fake.lock();
        answer(&mut inner, &method, &path, &query, &header_map, &body, &json_body)
    };
    if late {
        tokio::time::sleep(timeout_delay).await;
    }
    let (status, extra, value) = answer;
    let mut response = if status == StatusCode::FORBIDDEN && value.is_string() {
        (status, [("content-type", "text/html; charset=UTF-8")], value.as_str().unwrap_or("").to_string())
            .into_response()
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
    raw: &[u8],
    body: &Value,
) -> (Answer, bool) {
    if path == "/oauth/token" {
        return (token(inner, method, headers, body), false);
    }
    let write = matches!(*method, Method::POST | Method::PATCH | Method::PUT);
    let limit = inner.opts.rate_limit.map_or(100, |(n, _)| n);
    let mut remaining = limit;
    let daily = write && headers.contains_key("x-api-token");
    let rate_headers = |inner: &mut Inner, remaining: usize, mut a: Answer| {
        a.1.push(("x-ratelimit-limit", limit.to_string()));
        a.1.push(("x-ratelimit-remaining", remaining.to_string()));
        a.1.push(("x-ratelimit-reset", "2".into()));
        if daily && !a.1.iter().any(|(k, _)| *k == "x-daily-requests-left") {
            a.1.push(("x-daily-requests-left", inner.daily_left.to_string()));
        }
        a
    };
    // Auth: header only; the legacy query parameter is a violation.
    if query.contains_key("api_token") {
        inner.violations.push(format!("{method} {path}: api_token in the query"));
        return (err(StatusCode::UNAUTHORIZED, "unauthorized access"), false);
    }
    let key_ok = headers.get("x-api-token").is_some_and(|t| t == API_TOKEN);
    let bearer = headers.get("authorization").and_then(|a| a.strip_prefix("Bearer ")).map(str::to_string);
    if headers.get("x-api-token").is_none() && bearer.is_none() {
        inner.violations.push(format!("{method} {path}: no x-api-token or Bearer header"));
        return (err(StatusCode::UNAUTHORIZED, "unauthorized access"), false);
    }
    if !key_ok && !bearer.as_ref().is_some_and(|b| inner.access_tokens.contains(b)) {
        return (err(StatusCode::UNAUTHORIZED, "unauthorized access"), false);
    }
    if let Some((max, window)) = inner.opts.rate_limit {
        let now = Instant::now();
        while inner.sent.front().is_some_and(|t| now.duration_since(*t) >= window) {
            inner.sent.pop_front();
        }
        if inner.sent.len() >= max {
            remaining = 0;
            let a = err(StatusCode::TOO_MANY_REQUESTS, "Request over limit");
            return (rate_headers(inner, remaining, a), false);
        }
        inner.sent.push_back(now);
        remaining = max - inner.sent.len();
    }
    if write {
        if !headers.get("content-type").is_some_and(|c| c.starts_with("application/json")) {
            inner.violations.push(format!("{method} {path}: content-type is not application/json"));
        }
        if serde_json::from_slice::<Value>(raw).is_err() {
            inner.violations.push(format!("{method} {path}: body is not JSON"));
        }
        if *method == Method::PUT && path.starts_with("/api/v2/") {
            inner.violations.push(format!("PUT {path}: API v2 updates with PATCH"));
            return (err(StatusCode::NOT_FOUND, "Unknown method"), false);
        }
        inner.daily_left = inner.daily_left.saturating_sub(1);
    }
    let failure = if write { inner.failures.pop_front() } else { None };
    let mut late = false;
    match failure {
        Some(Failure::Throttle) => {
            remaining = 0;
            let a = err(StatusCode::TOO_MANY_REQUESTS, "Request over limit");
            return (rate_headers(inner, remaining, a), false);
        }
        Some(Failure::DailyLimit) => {
            remaining = 0;
            inner.daily_left = 0;
            let mut a = err(StatusCode::TOO_MANY_REQUESTS, "Daily rate limit exceeded");
            a.1.push(("x-daily-requests-left", "0".into()));
            return (rate_headers(inner, remaining, a), false);
        }
        Some(Failure::ServerError) => {
            return (
                rate_headers(inner, remaining, err(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable")),
                false,
            );
        }
        Some(Failure::ExpiredToken) => {
            if let Some(b) = &bearer {
                inner.access_tokens.retain(|t| t != b);
            }
            return (err(StatusCode::UNAUTHORIZED, "unauthorized access"), false);
        }
        Some(Failure::CloudflareBlock) => {
            let page = "<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head><body>Sorry, you have been blocked</body></html>";
            return ((StatusCode::FORBIDDEN, Vec::new(), json!(page)), false);
        }
        Some(Failure::Validation) => {
            let a = err(StatusCode::BAD_REQUEST, "Validation failed: name: Name must be given");
            return (rate_headers(inner, remaining, a), false);
        }
        Some(Failure::Timeout) => late = true,
        None => {}
    }
    let a = route(inner, method, path, query, body);
    (rate_headers(inner, remaining, a), late)
}

fn token(inner: &mut Inner, method: &Method, headers: &HashMap<String, String>, form: &Value) -> Answer {
    let basic = format!("Basic {}", base64(format!("{CLIENT_ID}:{CLIENT_SECRET}").as_bytes()));
    if *method != Method::POST || headers.get("authorization") != Some(&basic) {
        inner.violations.push("oauth/token: POST with HTTP Basic client_id:client_secret expected".into());
        return (StatusCode::UNAUTHORIZED, Vec::new(), json!({"success": false, "message": "Invalid client"}));
    }
    if !headers.get("content-type").is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")) {
        inner.violations.push("oauth/token: form body expected".into());
    }
    let granted = match form["grant_type"].as_str() {
        Some("refresh_token") => form["refresh_token"].as_str() == Some(inner.refresh_token.as_str()),
        Some("authorization_code") => form["code"].as_str() == Some(AUTH_CODE) && form["redirect_uri"].is_string(),
        _ => false,
    };
    if !granted {
        return (StatusCode::BAD_REQUEST, Vec::new(), json!({"error": "invalid_grant", "message": "Invalid grant"}));
    }
    inner.token_n += 1;
    let access = format!("access-{}", inner.token_n);
    inner.access_tokens.push(access.clone());
    // Pipedrive may rotate refresh tokens: this fake always does.
    inner.refresh_token = format!("refresh-{}", inner.token_n);
    let body = json!({"access_token": access, "token_type": "Bearer", "refresh_token": inner.refresh_token,
        "scope": "base,deals:full,contacts:full,activities:full", "expires_in": 3599, "api_domain": inner.url});
    (StatusCode::OK, Vec::new(), body)
}

fn list_answer(rows: Vec<Value>, query: &HashMap<String, String>, inner: &mut Inner, what: &str) -> Answer {
    let limit = query.get("limit").map_or(Some(100), |l| l.parse::<usize>().ok());
    let limit = match limit {
        Some(l) if (1..=500).contains(&l) => l,
        _ => {
            inner.violations.push(format!("{what}: limit must be 1..=500"));
            return err(StatusCode::BAD_REQUEST, "limit must be between 1 and 500");
        }
    };
    let start: usize = query.get("cursor").and_then(|c| c.strip_prefix("c").and_then(|n| n.parse().ok())).unwrap_or(0);
    let page: Vec<Value> = rows.iter().skip(start).take(limit).cloned().collect();
    let next = (start + limit < rows.len()).then(|| format!("c{}", start + limit));
    (StatusCode::OK, Vec::new(), json!({"success": true, "data": page, "additional_data": {"next_cursor": next}}))
}

fn route(inner: &mut Inner, method: &Method, path: &str, query: &HashMap<String, String>, body: &Value) -> Answer {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["api", "v2", fields @ ("personFields" | "organizationFields" | "dealFields")]) => {
            let rows = inner.fields.get(*fields).cloned().unwrap_or_default();
            list_answer(rows, query, inner, fields)
        }
        ("POST", ["api", "v2", fields @ ("personFields" | "organizationFields" | "dealFields")]) => {
            let name = body["field_name"].as_str().unwrap_or("");
            let ty = body["field_type"].as_str().unwrap_or("");
            if name.is_empty() || !["varchar", "text"].contains(&ty) {
                inner.violations.push(format!("POST {fields}: field_name and a text field_type expected: {body}"));
                return err(StatusCode::BAD_REQUEST, "field_name and field_type are required");
            }
            inner.next_id += 1;
            let field = json!({"field_name": name, "field_code": format!("{:040x}", 0xf1e1d000_u64 + inner.next_id),
                "field_type": ty, "is_custom_field": true, "is_optional_response_field": false});
            inner.fields.entry(fields.to_string()).or_default().push(field.clone());
            ok(field)
        }
        ("GET", ["api", "v2", "pipelines"]) => {
            let rows = vec![json!({"id": 1, "name": "Sales pipeline", "order_nr": 1, "is_deleted": false})];
            list_answer(rows, query, inner, "pipelines")
        }
        ("GET", ["api", "v2", "stages"]) => {
            let pipeline = query.get("pipeline_id").and_then(|p| p.parse::<u64>().ok());
            let rows =
                inner.stages.iter().filter(|s| pipeline.is_none_or(|p| s["pipeline_id"] == p)).cloned().collect();
            list_answer(rows, query, inner, "stages")
        }
        ("GET", ["api", "v2", object @ ("persons" | "organizations" | "deals"), "search"]) => {
            search(inner, object, query)
        }
        ("GET", ["api", "v2", object @ ("persons" | "organizations" | "deals" | "activities")]) => {
            let since = match query.get("updated_since") {
                None => None,
                Some(s) => match parse_rfc3339(s) {
                    Some(t) => Some(t),
                    None => {
                        inner.violations.push(format!("GET {object}: updated_since '{s}' is not RFC 3339"));
                        return err(StatusCode::BAD_REQUEST, "updated_since must be RFC 3339");
                    }
                },
            };
            let mut rows: Vec<Value> = inner.objects.get(*object).cloned().unwrap_or_default();
            rows.retain(|r| {
                since.is_none_or(|s| r["update_time"].as_str().and_then(parse_rfc3339).is_some_and(|t| t >= s))
            });
            for k in ["person_id", "deal_id", "org_id"] {
                if let Some(id) = query.get(k).and_then(|i| i.parse::<u64>().ok()) {
                    rows.retain(|r| r[k] == id);
                }
            }
            if query.get("sort_by").map(String::as_str) == Some("update_time") {
                rows.sort_by(|a, b| a["update_time"].as_str().cmp(&b["update_time"].as_str()));
            }
            if query.get("sort_direction").map(String::as_str) == Some("desc") {
                rows.reverse();
            }
            list_answer(rows, query, inner, object)
        }
        ("POST", ["api", "v2", object @ ("persons" | "organizations" | "deals" | "activities")]) => {
            let problems = check_v2_body(object, body, true, inner);
            if !problems.is_empty() {
                let message = format!("Validation failed: {}", problems.join("; "));
                inner.violations.extend(problems);
                return err(StatusCode::BAD_REQUEST, &message);
            }
            inner.next_id += 1;
            inner.clock_s += 1;
            let mut record =
                json!({"id": inner.next_id, "add_time": rfc3339(inner.clock_s), "update_time": rfc3339(inner.clock_s)});
            merge(&mut record, body);
            if *object == "deals" && record.get("stage_id").is_none() {
                record["stage_id"] = inner.stages.first().map_or(Value::Null, |s| s["id"].clone());
            }
            inner.objects.entry(object.to_string()).or_default().push(record.clone());
            ok(record)
        }
        ("PATCH", ["api", "v2", object @ ("persons" | "organizations" | "deals" | "activities"), id]) => {
            let problems = check_v2_body(object, body, false, inner);
            if !problems.is_empty() {
                let message = format!("Validation failed: {}", problems.join("; "));
                inner.violations.extend(problems);
                return err(StatusCode::BAD_REQUEST, &message);
            }
            inner.clock_s += 1;
            let now = rfc3339(inner.clock_s);
            let id: u64 = id.parse().unwrap_or(0);
            match inner.objects.get_mut(*object).and_then(|rs| rs.iter_mut().find(|r| r["id"] == id)) {
                Some(r) => {
                    merge(r, body);
                    r["update_time"] = json!(now);
                    ok(r.clone())
                }
                None => err(StatusCode::NOT_FOUND, "Not found"),
            }
        }
        ("POST", ["v1", "notes"]) | ("PUT", ["v1", "notes", _]) => note_write(inner, &parts, body),
        ("GET", ["v1", "notes"]) => {
            let mut rows: Vec<Value> = inner.objects.get("notes").cloned().unwrap_or_default();
            for k in ["person_id", "deal_id", "org_id"] {
                if let Some(id) = query.get(k).and_then(|i| i.parse::<u64>().ok()) {
                    rows.retain(|r| r[k] == id);
                }
            }
            let start: usize = query.get("start").and_then(|s| s.parse().ok()).unwrap_or(0);
            let limit: usize = query.get("limit").and_then(|s| s.parse().ok()).unwrap_or(100).min(500);
            let more = start + limit < rows.len();
            let page: Vec<Value> = rows.into_iter().skip(start).take(limit).collect();
            (
                StatusCode::OK,
                Vec::new(),
                json!({"success": true, "data": page,
                "additional_data": {"pagination": {"start": start, "limit": limit, "more_items_in_collection": more, "next_start": start + limit}}}),
            )
        }
        _ => {
            inner.violations.push(format!("{method} {path}: not an endpoint the connector should use"));
            err(StatusCode::NOT_FOUND, "Unknown method")
        }
    }
}

fn note_write(inner: &mut Inner, parts: &[&str], body: &Value) -> Answer {
    let content_ok = body["content"].as_str().is_some_and(|c| !c.trim().is_empty());
    let links = ["person_id", "deal_id", "org_id", "lead_id"];
    let linked = links.iter().any(|k| body[*k].is_u64() || (*k == "lead_id" && body[*k].is_string()));
    let bad_keys: Vec<&String> = body
        .as_object()
        .map(|m| m.keys().filter(|k| *k != "content" && !links.contains(&k.as_str())).collect())
        .unwrap_or_default();
    if !content_ok || (parts.len() == 2 && !linked) || !bad_keys.is_empty() {
        inner.violations.push(format!("notes: content and a person/deal/org link expected, got {body}"));
        return err(StatusCode::BAD_REQUEST, "Content is required");
    }
    inner.clock_s += 1;
    let time = rfc3339(inner.clock_s).replace('T', " ").trim_end_matches('Z').to_string();
    if let [_, _, id] = parts {
        let id: u64 = id.parse().unwrap_or(0);
        return match inner.objects.get_mut("notes").and_then(|rs| rs.iter_mut().find(|r| r["id"] == id)) {
            Some(r) => {
                merge(r, body);
                r["update_time"] = json!(time);
                ok(r.clone())
            }
            None => err(StatusCode::NOT_FOUND, "Note not found"),
        };
    }
    inner.next_id += 1;
    let mut note = json!({"id": inner.next_id, "add_time": time, "update_time": time, "active_flag": true});
    merge(&mut note, body);
    inner.objects.entry("notes".into()).or_default().push(note.clone());
    ok(note)
}

fn search(inner: &mut Inner, object: &str, query: &HashMap<String, String>) -> Answer {
    let term = query.get("term").cloned().unwrap_or_default();
    let exact = match query.get("exact_match").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            inner.violations.push(format!("search: exact_match '{other}' is not a boolean"));
            false
        }
    };
    if term.chars().count() < if exact { 1 } else { 2 } {
        inner.violations.push(format!("search: term '{term}' too short"));
        return err(StatusCode::BAD_REQUEST, "term is too short");
    }
    let fields = query.get("fields").cloned().unwrap_or_default();
    if !fields.is_empty()
        && !fields.split(',').all(|f| ["custom_fields", "email", "notes", "phone", "name"].contains(&f))
    {
        inner.violations.push(format!("search: fields '{fields}' not allowed"));
        return err(StatusCode::BAD_REQUEST, "invalid fields");
    }
    let rows = inner.objects.get(object).cloned().unwrap_or_default();
    let items: Vec<Value> = rows
        .iter()
        .filter(|r| {
            let values: Vec<&str> = r["custom_fields"].as_object().map(|cf| cf.values().filter_map(Value::as_str).collect()).unwrap_or_default();
            (fields.is_empty() || fields.contains("custom_fields"))
                && values.iter().any(|v| if exact { v.eq_ignore_ascii_case(&term) } else { v.to_lowercase().contains(&term.to_lowercase()) })
        })
        .map(|r| {
            let cf: Vec<Value> = r["custom_fields"].as_object().map(|m| m.values().cloned().collect()).unwrap_or_default();
            json!({"result_score": 1.0, "item": {"id": r["id"], "type": object.trim_end_matches('s'), "name": r.get("name").or(r.get("title")), "custom_fields": cf}})
        })
        .collect();
    (
        StatusCode::OK,
        Vec::new(),
        json!({"success": true, "data": {"items": items}, "additional_data": {"next_cursor": null}}),
    )
}
