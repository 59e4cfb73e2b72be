//! A fake HubSpot on loopback: the endpoints juru's connector uses, in
//! memory, with HubSpot's request and answer shapes (facts in the shared
//! `reference/crm-apis.md` §1). It checks every request's shape and records
//! what breaks it (`violations`), answers with HubSpot's rate-limit headers
//! and throttle bodies, and fails on demand (`inject`).
//!
//! Include with `#[path = "fakes/hubspot.rs"] mod fake_hubspot;`. Depends only
//! on axum, tokio, serde_json and std.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// At most this many requests per rolling window (search excepted, which
    /// has its own 5 per second); more are answered 429 `TEN_SECONDLY_ROLLING`.
    /// `None`: not enforced (headers still count against HubSpot's 190).
    pub rate_limit: Option<(usize, Duration)>,
    /// Added to every answer.
    pub latency: Duration,
    /// How long a `Failure::Timeout` answer takes (longer than the client waits).
    pub timeout_delay: Duration,
    /// The date version paths must carry.
    pub api_version: String,
    /// The OAuth app the token endpoint accepts.
    pub client_id: String,
    pub client_secret: String,
    /// A refresh token the token endpoint honours from the start.
    pub refresh_token: String,
    /// The authorization code the token endpoint accepts.
    pub auth_code: String,
    /// The `default` deal pipeline's stages.
    pub stages: Vec<FakeStage>,
    /// The account was prepared on an earlier run: the unique `wa_…_id`
    /// properties exist from the start.
    pub prepared: bool,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            rate_limit: None,
            latency: Duration::ZERO,
            timeout_delay: Duration::from_secs(3),
            api_version: "2026-03".into(),
            client_id: "fake-client-id".into(),
            client_secret: "fake-client-secret".into(),
            refresh_token: "fake-refresh-0".into(),
            auth_code: "fake-code".into(),
            stages: FakeStage::hubspot_default(),
            prepared: false,
        }
    }
}

/// One stage of the fake's deal pipeline.
#[derive(Debug, Clone)]
pub struct FakeStage {
    pub id: String,
    pub label: String,
    pub closed: bool,
    pub probability: f64,
}

impl FakeStage {
    pub fn new(id: &str, label: &str, closed: bool, probability: f64) -> FakeStage {
        FakeStage { id: id.into(), label: label.into(), closed, probability }
    }

    /// HubSpot's default "Sales Pipeline".
    pub fn hubspot_default() -> Vec<FakeStage> {
        vec![
            FakeStage::new("appointmentscheduled", "Appointment Scheduled", false, 0.2),
            FakeStage::new("qualifiedtobuy", "Qualified To Buy", false, 0.4),
            FakeStage::new("presentationscheduled", "Presentation Scheduled", false, 0.6),
            FakeStage::new("decisionmakerboughtin", "Decision Maker Bought-In", false, 0.8),
            FakeStage::new("contractsent", "Contract Sent", false, 0.9),
            FakeStage::new("closedwon", "Closed Won", true, 1.0),
            FakeStage::new("closedlost", "Closed Lost", true, 0.0),
        ]
    }
}

/// What `inject` makes the next matching write requests (batch upserts and
/// association creates) answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // `PartialFailure` is the name every connector's fake shares
pub enum Failure {
    /// 429 `TEN_SECONDLY_ROLLING` with the rate-limit headers at zero.
    Throttle,
    /// 503.
    ServerError,
    /// Applies the write, then answers after `timeout_delay` (unknown outcome).
    Timeout,
    /// 401 `EXPIRED_AUTHENTICATION`; the token stays expired.
    ExpiredToken,
    /// 207: every other input (the 2nd, 4th…) refused with `INVALID_EMAIL`.
    PartialFailure,
    /// 429 `DAILY`, daily remaining 0.
    DailyLimit,
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Lowercase names.
    pub headers: HashMap<String, String>,
    /// JSON bodies as sent; form bodies as an object of their fields.
    pub body: Value,
}

#[derive(Debug, Clone)]
struct Property {
    name: String,
    unique: bool,
    definition: Value,
}

#[derive(Debug, Clone)]
struct StoredRecord {
    id: String,
    properties: BTreeMap<String, String>,
    created_ms: u64,
    updated_ms: u64,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    violations: Vec<String>,
    injected: VecDeque<(Failure, usize)>,
    properties: HashMap<String, Vec<Property>>,
    records: HashMap<String, Vec<StoredRecord>>,
    /// (object, unique property, value) → position in `records`: HubSpot
    /// upserts through a unique-value index too, and a scan here would
    /// make the fake, not juru, the benchmark's bottleneck.
    by_unique: HashMap<(String, String, String), usize>,
    /// (object, HubSpot id) of every record.
    record_ids: HashSet<(String, String)>,
    associations: Vec<(String, String, String, String)>,
    next_id: u64,
    last_ms: u64,
    window: VecDeque<Instant>,
    search_window: VecDeque<Instant>,
    daily_used: u64,
    expired: HashSet<String>,
    refresh_tokens: HashSet<String>,
    issued: u64,
}

/// The fake server; clones share it.
#[derive(Clone)]
pub struct FakeHubspot {
    url: String,
    opts: Arc<FakeOptions>,
    inner: Arc<Mutex<Inner>>,
}

const OBJECTS: [&str; 4] = ["contacts", "companies", "deals", "notes"];
const DAILY_MAX: u64 = 250_000;
/// What the headers report when `rate_limit` is `None` (a Professional account).
const DEFAULT_MAX: usize = 190;

impl FakeHubspot {
    pub async fn start(opts: FakeOptions) -> FakeHubspot {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let mut inner = Inner { next_id: 1000, ..Inner::default() };
        inner.refresh_tokens.insert(opts.refresh_token.clone());
        for object in OBJECTS {
            let builtin: &[&str] = match object {
                "contacts" => &["firstname", "lastname", "email", "phone", "lastmodifieddate", "createdate"],
                "companies" => &["name", "domain", "hs_lastmodifieddate", "createdate"],
                "deals" => &[
                    "dealname",
                    "amount",
                    "pipeline",
                    "dealstage",
                    "closedate",
                    "closed_won_reason",
                    "closed_lost_reason",
                    "hs_lastmodifieddate",
                    "createdate",
                ],
                _ => &["hs_note_body", "hs_timestamp", "hs_lastmodifieddate", "createdate"],
            };
            let props = builtin
                .iter()
                .chain(["hs_object_id"].iter())
                .map(|name| Property {
                    name: name.to_string(),
                    unique: *name == "hs_object_id",
                    definition: json!({"name": name, "label": name, "type": "string", "fieldType": "text",
                        "groupName": group_of(object), "hasUniqueValue": *name == "hs_object_id", "hubspotDefined": true}),
                })
                .collect::<Vec<_>>();
            let mut props = props;
            if opts.prepared {
                let name = match object {
                    "contacts" => "wa_contact_id",
                    "companies" => "wa_company_id",
                    "deals" => "wa_deal_id",
                    _ => "wa_note_id",
                };
                props.push(Property {
                    name: name.into(),
                    unique: true,
                    definition: json!({"name": name, "label": name, "type": "string", "fieldType": "text",
                        "groupName": group_of(object), "hasUniqueValue": true, "hubspotDefined": false}),
                });
            }
            inner.properties.insert(object.to_string(), props);
        }
        let fake = FakeHubspot { url, opts: Arc::new(opts), inner: Arc::new(Mutex::new(inner)) };
        let app = axum::Router::new().fallback(handle).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Requests whose path contains `part`.
    pub fn requests_to(&self, part: &str) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.path.contains(part)).collect()
    }

    /// Every way a request broke HubSpot's contract.
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    /// The next `times` writes answer with `failure`.
    pub fn inject(&self, failure: Failure, times: usize) {
        self.lock().injected.push_back((failure, times));
    }

    /// Stored records of `object` (`contacts`, …): `{"id", "properties"}`.
    pub fn records(&self, object: &str) -> Vec<Value> {
        let inner = self.lock();
        let records = inner.records.get(object).map(Vec::as_slice).unwrap_or_default();
        records.iter().map(|r| json!({"id": r.id, "properties": r.properties})).collect()
    }

    /// How many records of `object` carry each of our ids (the unique
    /// `wa_…_id` property): every count is 1 when nothing was duplicated.
    pub fn count_by_our_id(&self, object: &str) -> HashMap<String, usize> {
        let inner = self.lock();
        let unique: Vec<String> = inner
            .properties
            .get(object)
            .map(|ps| ps.iter().filter(|p| p.unique && p.name.starts_with("wa_")).map(|p| p.name.clone()).collect())
            .unwrap_or_default();
        let mut counts = HashMap::new();
        for r in inner.records.get(object).map(Vec::as_slice).unwrap_or_default() {
            for name in &unique {
                if let Some(v) = r.properties.get(name) {
                    *counts.entry(v.clone()).or_insert(0) += 1;
                }
            }
        }
        counts
    }

    /// A property definition, as `GET /crm/properties` lists it.
    pub fn property(&self, object: &str, name: &str) -> Option<Value> {
        let inner = self.lock();
        inner.properties.get(object)?.iter().find(|p| p.name == name).map(|p| p.definition.clone())
    }

    /// The HubSpot ids `object`/`from_id` is associated to in `to_object`.
    pub fn associated(&self, from_object: &str, from_id: &str, to_object: &str) -> Vec<String> {
        let inner = self.lock();
        let found = inner
            .associations
            .iter()
            .filter(|(f, fid, t, _)| f == from_object && fid == from_id && t == to_object)
            .map(|(_, _, _, tid)| tid.clone());
        found.collect()
    }

    /// A stored record by one property's value.
    pub fn find(&self, object: &str, property: &str, value: &str) -> Option<Value> {
        self.records(object).into_iter().find(|r| r["properties"][property] == value)
    }

    /// Someone edits a record in HubSpot's UI: properties change and the
    /// last-modified time moves on. Returns the HubSpot id.
    pub fn remote_edit(&self, object: &str, property: &str, value: &str, changes: &[(&str, &str)]) -> Option<String> {
        let mut inner = self.lock();
        let now = inner.tick();
        let record = inner
            .records
            .get_mut(object)?
            .iter_mut()
            .find(|r| r.properties.get(property).map(String::as_str) == Some(value))?;
        for (k, v) in changes {
            record.properties.insert(k.to_string(), v.to_string());
        }
        touch(object, record, now);
        Some(record.id.clone())
    }

    /// A record created in HubSpot (without our id). Returns its id.
    pub fn remote_create(&self, object: &str, properties: &[(&str, &str)]) -> String {
        let mut inner = self.lock();
        let now = inner.tick();
        let id = inner.new_id();
        let mut record = StoredRecord {
            id: id.clone(),
            properties: properties.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            created_ms: now,
            updated_ms: now,
        };
        touch(object, &mut record, now);
        inner.store(object, record);
        id
    }

    /// Marks an access token expired (HubSpot answers 401 to it from now on).
    pub fn expire_token(&self, token: &str) {
        self.lock().expired.insert(token.to_string());
    }
}

impl Inner {
    /// Adds a new record and indexes its id and property values (the fake
    /// never changes a record's unique property once set). Its position.
    fn store(&mut self, object: &str, record: StoredRecord) -> usize {
        let list = self.records.entry(object.to_string()).or_default();
        let at = list.len();
        self.record_ids.insert((object.to_string(), record.id.clone()));
        for (property, value) in &record.properties {
            self.by_unique.entry((object.to_string(), property.clone(), value.clone())).or_insert(at);
        }
        list.push(record);
        at
    }

    /// A strictly increasing "now", so every write has its own modified time.
    fn tick(&mut self) -> u64 {
        self.last_ms = now_ms().max(self.last_ms + 1);
        self.last_ms
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    fn violation(&mut self, what: String) {
        self.violations.push(what);
    }

    fn take_failure(&mut self) -> Option<Failure> {
        while let Some((failure, times)) = self.injected.front_mut() {
            if *times > 0 {
                *times -= 1;
                return Some(*failure);
            }
            self.injected.pop_front();
        }
        None
    }
}

fn group_of(object: &str) -> &'static str {
    match object {
        "contacts" => "contactinformation",
        "companies" => "companyinformation",
        "deals" => "dealinformation",
        _ => "note_information",
    }
}

fn modified_property(object: &str) -> &'static str {
    if object == "contacts" { "lastmodifieddate" } else { "hs_lastmodifieddate" }
}

fn touch(object: &str, record: &mut StoredRecord, now: u64) {
    record.updated_ms = now;
    record.properties.insert(modified_property(object).into(), iso(now));
    record.properties.insert("createdate".into(), iso(record.created_ms));
    record.properties.insert("hs_object_id".into(), record.id.clone());
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Epoch ms → `2026-11-24T01:02:03.456Z`, as HubSpot writes datetimes.
fn iso(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let rest = ms % 86_400_000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

/// An answer before headers: status, body, and whether to add rate headers.
struct Reply {
    status: u16,
    body: Value,
    headers: Vec<(String, String)>,
    delay: Duration,
}

impl Reply {
    fn new(status: u16, body: Value) -> Reply {
        Reply { status, body, headers: Vec::new(), delay: Duration::ZERO }
    }

    fn error(status: u16, category: &str, message: &str) -> Reply {
        Reply::new(
            status,
            json!({"status": "error", "message": message, "correlationId": correlation(), "category": category}),
        )
    }
}

fn correlation() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    format!("fake-{:08x}-0000-4000-8000-000000000000", N.fetch_add(1, Ordering::Relaxed))
}

async fn handle(
    State(fake): State<FakeHubspot>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let headers: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let content_type = headers.get("content-type").cloned().unwrap_or_default();
    let parsed = if content_type.starts_with("application/x-www-form-urlencoded") {
        Value::Object(form_fields(&body))
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let recorded = Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or_default().to_string(),
        headers,
        body: parsed,
    };
    let reply = {
        let mut inner = fake.lock();
        inner.requests.push(recorded.clone());
        route(&fake.opts, &mut inner, &recorded, !body.is_empty())
    };
    tokio::time::sleep(fake.opts.latency + reply.delay).await;
    let mut response =
        (StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), reply.body.to_string())
            .into_response();
    let h = response.headers_mut();
    h.insert("content-type", axum::http::HeaderValue::from_static("application/json;charset=utf-8"));
    for (k, v) in reply.headers {
        if let (Ok(k), Ok(v)) = (axum::http::HeaderName::from_bytes(k.as_bytes()), v.parse()) {
            h.insert(k, v);
        }
    }
    response
}

fn form_fields(body: &[u8]) -> Map<String, Value> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), Value::String(percent_decode(v)))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn route(opts: &FakeOptions, inner: &mut Inner, r: &Recorded, has_body: bool) -> Reply {
    let segments: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    if r.path == "/oauth/v3/token" {
        return token_endpoint(opts, inner, r);
    }
    if segments.first() != Some(&"crm") {
        inner.violation(format!("{} {}: not a HubSpot endpoint the connector should call", r.method, r.path));
        return Reply::error(404, "OBJECT_NOT_FOUND", "not found");
    }
    // Auth first, as HubSpot does.
    let token = r.headers.get("authorization").and_then(|v| v.strip_prefix("Bearer ")).map(str::trim).unwrap_or("");
    if token.is_empty() {
        inner.violation(format!("{} {}: no `Authorization: Bearer` header", r.method, r.path));
        return Reply::error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.");
    }
    if inner.expired.contains(token) {
        return expired();
    }
    if has_body && !r.headers.get("content-type").is_some_and(|c| c.starts_with("application/json")) {
        inner.violation(format!("{} {}: body without `content-type: application/json`", r.method, r.path));
    }
    if let Some(v) = segments.get(2).filter(|v| **v != opts.api_version) {
        inner.violation(format!("{} {}: version `{v}`, expected `{}`", r.method, r.path, opts.api_version));
    }
    let is_search = segments.last() == Some(&"search");
    if is_search {
        // Search: 5 requests per second per account, no rate headers.
        let now = Instant::now();
        while inner.search_window.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
            inner.search_window.pop_front();
        }
        if inner.search_window.len() >= 5 {
            return throttled("SECONDLY", "You have reached your secondly limit.");
        }
        inner.search_window.push_back(now);
        return search(inner, r, &segments);
    }
    let (max, window) = opts.rate_limit.unwrap_or((DEFAULT_MAX, Duration::from_secs(10)));
    let now = Instant::now();
    while inner.window.front().is_some_and(|t| now.duration_since(*t) >= window) {
        inner.window.pop_front();
    }
    if opts.rate_limit.is_some() && inner.window.len() >= max {
        let mut reply = throttled("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.");
        reply.headers = rate_headers(max, 0, window, DAILY_MAX - inner.daily_used);
        return reply;
    }
    inner.window.push_back(now);
    inner.daily_used += 1;
    let remaining = max.saturating_sub(inner.window.len());
    let daily_remaining = DAILY_MAX.saturating_sub(inner.daily_used);

    let is_write = r.method == "POST" && segments.ends_with(&["batch", "upsert"])
        || segments.ends_with(&["batch", "associate", "default"]);
    let failure = if is_write { inner.take_failure() } else { None };
    let mut reply = match failure {
        Some(Failure::Throttle) => {
            let mut reply = throttled("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.");
            reply.headers = rate_headers(max, 0, window, daily_remaining);
            return reply;
        }
        Some(Failure::DailyLimit) => {
            let mut reply = throttled("DAILY", "You have reached your daily limit.");
            reply.headers = rate_headers(max, remaining, window, 0);
            return reply;
        }
        Some(Failure::ServerError) => {
            Reply::error(503, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable. Please try again.")
        }
        Some(Failure::ExpiredToken) => {
            inner.expired.insert(token.to_string());
            expired()
        }
        Some(Failure::Timeout) => {
            let mut reply = crm(opts, inner, r, &segments, false);
            reply.delay = opts.timeout_delay;
            reply
        }
        Some(Failure::PartialFailure) => crm(opts, inner, r, &segments, true),
        None => crm(opts, inner, r, &segments, false),
    };
    reply.headers.extend(rate_headers(max, remaining, window, daily_remaining));
    reply
}

fn rate_headers(max: usize, remaining: usize, window: Duration, daily_remaining: u64) -> Vec<(String, String)> {
    vec![
        ("x-hubspot-ratelimit-max".into(), max.to_string()),
        ("x-hubspot-ratelimit-remaining".into(), remaining.to_string()),
        ("x-hubspot-ratelimit-interval-milliseconds".into(), window.as_millis().to_string()),
        ("x-hubspot-ratelimit-daily".into(), DAILY_MAX.to_string()),
        ("x-hubspot-ratelimit-daily-remaining".into(), daily_remaining.to_string()),
        ("x-hubspot-correlation-id".into(), correlation()),
    ]
}

fn throttled(policy: &str, message: &str) -> Reply {
    Reply::new(
        429,
        json!({"status": "error", "errorType": "RATE_LIMIT", "message": message,
               "correlationId": correlation(), "policyName": policy}),
    )
}

fn expired() -> Reply {
    Reply::error(401, "EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired 5 second(s) ago.")
}

fn crm(opts: &FakeOptions, inner: &mut Inner, r: &Recorded, s: &[&str], partial: bool) -> Reply {
    match (r.method.as_str(), s) {
        ("GET", ["crm", "properties", _, object]) if OBJECTS.contains(object) => {
            let list: Vec<Value> = inner.properties[*object].iter().map(|p| p.definition.clone()).collect();
            Reply::new(200, json!({"results": list}))
        }
        ("POST", ["crm", "properties", _, object]) if OBJECTS.contains(object) => {
            create_property(inner, object, &r.body)
        }
        ("GET", ["crm", "pipelines", _, "deals"]) => Reply::new(200, pipelines(opts)),
        ("POST", ["crm", "objects", _, object, "batch", "upsert"]) if OBJECTS.contains(object) => {
            upsert(inner, object, &r.body, partial)
        }
        ("POST", ["crm", "associations", _, from, to, "batch", "associate", "default"]) => {
            associate(inner, from, to, &r.body)
        }
        _ => {
            inner.violation(format!("{} {}: not an endpoint the fake knows", r.method, r.path));
            Reply::error(404, "OBJECT_NOT_FOUND", "Resource not found")
        }
    }
}

/// `GET /crm/pipelines/{v}/deals`: the options' stages, metadata as strings like HubSpot's.
fn pipelines(opts: &FakeOptions) -> Value {
    let stages: Vec<Value> = opts
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({"id": s.id, "label": s.label, "displayOrder": i, "archived": false,
                   "metadata": {"isClosed": s.closed.to_string(), "probability": format!("{:.1}", s.probability)}})
        })
        .collect();
    json!({"results": [{"id": "default", "label": "Sales Pipeline", "displayOrder": 0, "archived": false, "stages": stages}]})
}

fn token_endpoint(opts: &FakeOptions, inner: &mut Inner, r: &Recorded) -> Reply {
    if r.method != "POST"
        || !r.headers.get("content-type").is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    {
        inner.violation("POST /oauth/v3/token must be form-encoded".into());
    }
    let field = |name: &str| r.body.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
    if field("client_id") != opts.client_id || field("client_secret") != opts.client_secret {
        return Reply::new(
            400,
            json!({"status": "BAD_CLIENT_ID", "message": "missing or invalid client_id / client_secret", "correlationId": correlation()}),
        );
    }
    let refresh = match field("grant_type").as_str() {
        "refresh_token" => {
            let token = field("refresh_token");
            if !inner.refresh_tokens.contains(&token) {
                return Reply::new(
                    400,
                    json!({"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token", "correlationId": correlation()}),
                );
            }
            token
        }
        "authorization_code" => {
            if field("code") != opts.auth_code || field("redirect_uri").is_empty() {
                return Reply::new(
                    400,
                    json!({"status": "BAD_AUTH_CODE", "message": "missing or unknown auth code", "correlationId": correlation()}),
                );
            }
            inner.issued += 1;
            let token = format!("fake-refresh-{}", inner.issued);
            inner.refresh_tokens.insert(token.clone());
            token
        }
        other => {
            inner.violation(format!("POST /oauth/v3/token: grant_type `{other}`"));
            return Reply::new(400, json!({"status": "BAD_GRANT_TYPE", "message": "unknown grant_type"}));
        }
    };
    inner.issued += 1;
    let access = format!("fake-access-{}", inner.issued);
    Reply::new(
        200,
        json!({"token_type": "bearer", "refresh_token": refresh, "access_token": access, "expires_in": 1800}),
    )
}

fn create_property(inner: &mut Inner, object: &str, body: &Value) -> Reply {
    let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let (name, label, kind, field_type, group) =
        (text("name"), text("label"), text("type"), text("fieldType"), text("groupName"));
    for (k, v) in
        [("name", &name), ("label", &label), ("type", &kind), ("fieldType", &field_type), ("groupName", &group)]
    {
        if v.is_empty() {
            inner.violation(format!("create {object} property: `{k}` missing or not a string"));
            return Reply::error(400, "VALIDATION_ERROR", &format!("{k} is required"));
        }
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        inner.violation(format!("create {object} property: name `{name}` is not lowercase [a-z0-9_]"));
    }
    if group != group_of(object) {
        inner.violation(format!("create {object} property: group `{group}` does not exist"));
        return Reply::error(400, "VALIDATION_ERROR", &format!("property group {group} does not exist"));
    }
    let unique = match body.get("hasUniqueValue") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            inner.violation(format!("create {object} property: hasUniqueValue {other} is not a boolean"));
            false
        }
    };
    if inner.properties[object].iter().any(|p| p.name == name) {
        return Reply::new(
            409,
            json!({"status": "error", "message": format!("Property named '{name}' already exists."),
                   "correlationId": correlation(), "category": "OBJECT_ALREADY_EXISTS"}),
        );
    }
    let mut definition = body.clone();
    definition["hasUniqueValue"] = json!(unique);
    definition["hubspotDefined"] = json!(false);
    if let Some(ps) = inner.properties.get_mut(object) {
        ps.push(Property { name, unique, definition: definition.clone() });
    }
    Reply::new(201, definition)
}

fn upsert(inner: &mut Inner, object: &str, body: &Value, partial: bool) -> Reply {
    let Some(inputs) = body.get("inputs").and_then(Value::as_array) else {
        inner.violation(format!("{object} batch/upsert: no `inputs` array"));
        return Reply::error(400, "VALIDATION_ERROR", "inputs is required");
    };
    if inputs.is_empty() || inputs.len() > 100 {
        inner.violation(format!("{object} batch/upsert: {} inputs (1 to 100 allowed)", inputs.len()));
        return Reply::error(400, "VALIDATION_ERROR", "Batch input must contain between 1 and 100 inputs");
    }
    // Shape first: HubSpot refuses the whole batch for a malformed input.
    let mut checked = Vec::new();
    for input in inputs {
        match check_input(inner, object, input) {
            Ok(c) => checked.push(c),
            Err(message) => {
                inner.violation(format!("{object} batch/upsert: {message}"));
                return Reply::error(400, "VALIDATION_ERROR", &message);
            }
        }
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for (i, (id, id_property, properties)) in checked.into_iter().enumerate() {
        let bad_email = properties.get("email").filter(|e| !valid_email(e));
        if partial && i % 2 == 1 || bad_email.is_some() {
            let email = bad_email.cloned().unwrap_or_else(|| "x@invalid".into());
            errors.push(json!({
                "status": "error", "category": "VALIDATION_ERROR",
                "message": format!("Property values were not valid: [{{\"isValid\":false,\"message\":\"Email address {email} is invalid\",\"error\":\"INVALID_EMAIL\",\"name\":\"email\"}}]"),
                "context": {"ids": [id]},
                "errors": [{"message": format!("Email address {email} is invalid"), "code": "INVALID_EMAIL"}],
            }));
            continue;
        }
        let now = inner.tick();
        let existing = inner.by_unique.get(&(object.to_string(), id_property.clone(), id.clone())).copied();
        let (index, new) = match existing {
            Some(at) => (at, false),
            None => {
                if object == "notes" && !properties.contains_key("hs_timestamp") {
                    inner.violation("notes batch/upsert: a new note without hs_timestamp".into());
                }
                let rid = inner.new_id();
                let properties = BTreeMap::from([(id_property.clone(), id.clone())]);
                (inner.store(object, StoredRecord { id: rid, properties, created_ms: now, updated_ms: now }), true)
            }
        };
        let records = inner.records.entry(object.to_string()).or_default();
        let record = &mut records[index];
        record.properties.insert(id_property.clone(), id.clone());
        record.properties.extend(properties);
        touch(object, record, now);
        results.push(json!({
            "id": record.id, "properties": record.properties, "createdAt": iso(record.created_ms),
            "updatedAt": iso(record.updated_ms), "archived": false, "new": new,
        }));
    }
    let stamp = iso(now_ms());
    if errors.is_empty() {
        Reply::new(200, json!({"status": "COMPLETE", "results": results, "startedAt": stamp, "completedAt": stamp}))
    } else {
        let n = errors.len();
        Reply::new(
            207,
            json!({"status": "COMPLETE", "results": results, "errors": errors, "numErrors": n,
                   "startedAt": stamp, "completedAt": stamp}),
        )
    }
}

type CheckedInput = (String, String, BTreeMap<String, String>);

fn check_input(inner: &Inner, object: &str, input: &Value) -> Result<CheckedInput, String> {
    let id =
        input.get("id").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or("an input without a string `id`")?;
    let id_property = input
        .get("idProperty")
        .and_then(Value::as_str)
        .ok_or(format!("input `{id}` has no string `idProperty` (upsert needs one)"))?;
    let props = &inner.properties[object];
    let unique =
        props.iter().any(|p| p.name == id_property && p.unique) || object == "contacts" && id_property == "email";
    if !unique {
        return Err(format!(
            "Unable to perform update/upsert by non-unique property `{id_property}` (input `{id}`): create it with hasUniqueValue first"
        ));
    }
    let Some(properties) = input.get("properties").and_then(Value::as_object) else {
        return Err(format!("input `{id}` has no `properties` object"));
    };
    let mut out = BTreeMap::new();
    for (name, value) in properties {
        let Some(text) = value.as_str() else {
            return Err(format!("input `{id}`: property `{name}` is {value}, not a string"));
        };
        if !props.iter().any(|p| &p.name == name) {
            return Err(format!("Property \"{name}\" does not exist (input `{id}`)"));
        }
        if name == "hs_note_body" && text.chars().count() > 65_536 {
            return Err(format!("input `{id}`: hs_note_body longer than 65,536 characters"));
        }
        out.insert(name.clone(), text.to_string());
    }
    Ok((id.to_string(), id_property.to_string(), out))
}

fn valid_email(email: &str) -> bool {
    let Some((user, domain)) = email.split_once('@') else { return false };
    !user.is_empty() && domain.contains('.') && !domain.starts_with('.') && !email.contains(char::is_whitespace)
}

fn associate(inner: &mut Inner, from: &str, to: &str, body: &Value) -> Reply {
    const PAIRS: [(&str, &str); 5] = [
        ("contacts", "companies"),
        ("deals", "contacts"),
        ("deals", "companies"),
        ("notes", "contacts"),
        ("notes", "deals"),
    ];
    if !PAIRS.contains(&(from, to)) {
        inner.violation(format!("associate {from} → {to}: not a pair the connector should link"));
    }
    let Some(inputs) = body.get("inputs").and_then(Value::as_array) else {
        inner.violation(format!("associate {from} → {to}: no `inputs` array"));
        return Reply::error(400, "VALIDATION_ERROR", "inputs is required");
    };
    if inputs.is_empty() || inputs.len() > 100 {
        inner.violation(format!("associate {from} → {to}: {} inputs (1 to 100)", inputs.len()));
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in inputs {
        let id_of = |side: &str| input.get(side).and_then(|s| s.get("id")).and_then(Value::as_str).map(str::to_string);
        let (Some(from_id), Some(to_id)) = (id_of("from"), id_of("to")) else {
            inner.violation(format!("associate {from} → {to}: input {input} lacks from.id / to.id strings"));
            continue;
        };
        let exists = |object: &str, id: &str| inner.record_ids.contains(&(object.to_string(), id.to_string()));
        let missing = [(from, &from_id), (to, &to_id)].into_iter().find(|(o, id)| !exists(o, id));
        if let Some((object, id)) = missing {
            errors.push(json!({"status": "error", "category": "VALIDATION_ERROR",
                "message": format!("No {object} with ID {id} exist"),
                "context": {"fromObjectId": [from_id], "toObjectId": [to_id]}}));
            continue;
        }
        let link = (from.to_string(), from_id.clone(), to.to_string(), to_id.clone());
        if !inner.associations.contains(&link) {
            inner.associations.push(link);
        }
        results.push(json!({"fromObjectTypeId": type_id(from), "fromObjectId": from_id.parse::<u64>().unwrap_or(0),
            "toObjectTypeId": type_id(to), "toObjectId": to_id.parse::<u64>().unwrap_or(0), "labels": []}));
    }
    let status = if errors.is_empty() { 200 } else { 207 };
    Reply::new(status, json!({"status": "COMPLETE", "results": results, "errors": errors, "numErrors": errors.len()}))
}

fn type_id(object: &str) -> &'static str {
    match object {
        "contacts" => "0-1",
        "companies" => "0-2",
        "deals" => "0-3",
        _ => "0-46",
    }
}

fn search(inner: &mut Inner, r: &Recorded, s: &[&str]) -> Reply {
    let object = match s {
        ["crm", "objects", _, object, "search"] if OBJECTS.contains(object) && r.method == "POST" => *object,
        _ => {
            inner.violation(format!("{} {}: not a search endpoint", r.method, r.path));
            return Reply::error(404, "OBJECT_NOT_FOUND", "not found");
        }
    };
    let body = &r.body;
    let limit = body.get("limit").and_then(Value::as_u64).unwrap_or(10) as usize;
    if limit == 0 || limit > 200 {
        inner.violation(format!("{object} search: limit {limit} (1 to 200)"));
    }
    let modified = modified_property(object);
    let mut since: Option<(String, u64)> = None;
    for group in body.get("filterGroups").and_then(Value::as_array).cloned().unwrap_or_default() {
        for filter in group.get("filters").and_then(Value::as_array).cloned().unwrap_or_default() {
            let name = filter.get("propertyName").and_then(Value::as_str).unwrap_or_default();
            let op = filter.get("operator").and_then(Value::as_str).unwrap_or_default();
            let value = filter.get("value").and_then(Value::as_str);
            if name != modified || !matches!(op, "GT" | "GTE") {
                inner.violation(format!("{object} search: filter {filter} (the fake knows `{modified}` GT/GTE)"));
            }
            match value.and_then(|v| v.parse::<u64>().ok()) {
                Some(v) => since = Some((op.to_string(), v)),
                None => inner.violation(format!("{object} search: filter value {filter} is not a ms string")),
            }
        }
    }
    let sorts = body.get("sorts").and_then(Value::as_array).cloned().unwrap_or_default();
    let ascending = sorts.first().is_none_or(|s| s.get("direction").and_then(Value::as_str) != Some("DESCENDING"));
    if sorts.iter().any(|s| s.get("propertyName").and_then(Value::as_str) != Some(modified)) {
        inner.violation(format!("{object} search: sorts {sorts:?} (expected `{modified}`)"));
    }
    let wanted: Vec<String> = body
        .get("properties")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().filter_map(|p| p.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let after: usize = body.get("after").and_then(Value::as_str).and_then(|a| a.parse().ok()).unwrap_or(0);
    let mut found: Vec<&StoredRecord> = inner
        .records
        .get(object)
        .map(|rs| {
            rs.iter()
                .filter(|r| match &since {
                    Some((op, v)) if op == "GT" => r.updated_ms > *v,
                    Some((_, v)) => r.updated_ms >= *v,
                    None => true,
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort_by_key(|r| r.updated_ms);
    if !ascending {
        found.reverse();
    }
    let total = found.len();
    let page: Vec<Value> = found
        .iter()
        .skip(after)
        .take(limit.max(1))
        .map(|r| {
            let mut props = Map::new();
            for name in wanted.iter().map(String::as_str).chain(["hs_object_id", "createdate", modified]) {
                props.insert(name.to_string(), r.properties.get(name).map_or(Value::Null, |v| json!(v)));
            }
            json!({"id": r.id, "properties": props, "createdAt": iso(r.created_ms), "updatedAt": iso(r.updated_ms), "archived": false})
        })
        .collect();
    let next = after + page.len();
    let mut answer = json!({"total": total, "results": page});
    if next < total {
        answer["paging"] = json!({"next": {"after": next.to_string(), "link": Value::Null}});
    }
    Reply::new(200, answer)
}
