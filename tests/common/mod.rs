//! Test harness: a real `juru serve` on an ephemeral port, with fakes of WAHA
//! and the Graph API on loopback that record every request and check its
//! shape against `shared/reference/whatsapp.md`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use juru::channel::signature::{sign_cloud, sign_waha};
use juru::config::Config;
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub mod crm;

pub const PROSPECT: &str = "6281234567890";
pub const OTHER: &str = "6285798765432";
pub const APP_SECRET: &str = "test-app-secret";
pub const VERIFY_TOKEN: &str = "test-verify-token";
pub const ACCESS_TOKEN: &str = "test-access-token";
pub const WAHA_KEY: &str = "test-waha-key";
pub const PHONE_NUMBER_ID: &str = "109876543210987";

pub fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A WAHA `message` webhook with a text body.
pub fn waha_text(from: &str, id: &str, body: &str) -> String {
    json!({
        "id": format!("evt_{id}"), "timestamp": 1737775800512u64, "event": "message", "session": "default",
        "payload": {"id": format!("false_{from}@c.us_{id}"), "timestamp": 1737775800, "from": format!("{from}@c.us"),
                    "fromMe": false, "source": "app", "to": "6285712345678@c.us", "body": body, "hasMedia": false},
        "engine": "GOWS"
    })
    .to_string()
}

/// A Cloud API notification with one text message.
pub fn cloud_text(from: &str, id: &str, body: &str) -> String {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "203040506070809", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "6285712345678", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Budi"}, "wa_id": from}],
        "messages": [{"from": from, "id": format!("wamid.{id}"), "timestamp": "1737775800", "type": "text", "text": {"body": body}}]
    }}]}]})
    .to_string()
}

/// A Cloud API notification with one status for our message `wamid`.
pub fn cloud_status(wamid: &str, status: &str, to: &str) -> String {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "203040506070809", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "6285712345678", "phone_number_id": PHONE_NUMBER_ID},
        "statuses": [{"id": wamid, "status": status, "timestamp": "1737775866", "recipient_id": to}]
    }}]}]})
    .to_string()
}

// ---------------------------------------------------------------- fakes

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

#[derive(Clone)]
pub struct Canned {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
    pub delay: Duration,
}

impl Canned {
    pub fn status(status: u16, body: impl Into<String>) -> Canned {
        Canned { status, body: body.into(), headers: Vec::new(), delay: Duration::ZERO }
    }
    pub fn header(mut self, name: &str, value: &str) -> Canned {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn delay(mut self, d: Duration) -> Canned {
        self.delay = d;
        self
    }
}

struct Rule {
    matches: Box<dyn Fn(&Recorded) -> bool + Send + Sync>,
    remaining: usize,
    reply: Canned,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Waha,
    Graph,
}

/// A fake gateway on loopback: records requests, answers like the real one
/// unless a rule says otherwise.
#[derive(Clone)]
pub struct Fake {
    pub url: String,
    kind: Kind,
    requests: Arc<Mutex<Vec<Recorded>>>,
    rules: Arc<Mutex<Vec<Rule>>>,
    lids: Arc<Mutex<HashMap<String, String>>>,
    counter: Arc<AtomicU64>,
}

impl Fake {
    pub async fn start(kind: Kind) -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let fake = Fake {
            url,
            kind,
            requests: Arc::default(),
            rules: Arc::default(),
            lids: Arc::default(),
            counter: Arc::default(),
        };
        let app = axum::Router::new().fallback(handle).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    /// Answers the next `times` requests matching `matches` with `reply`.
    pub fn on(&self, times: usize, matches: impl Fn(&Recorded) -> bool + Send + Sync + 'static, reply: Canned) {
        self.rules.lock().unwrap().push(Rule { matches: Box::new(matches), remaining: times, reply });
    }

    /// Back to answering like the real gateway.
    pub fn clear_rules(&self) {
        self.rules.lock().unwrap().clear();
    }

    /// WAHA's lids API will map `lid` to `phone`.
    pub fn knows_lid(&self, lid: &str, phone: &str) {
        self.lids.lock().unwrap().insert(lid.to_string(), phone.to_string());
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Requests that deliver a message (text, image, document) to `to`.
    pub fn messages_to(&self, to: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| is_message(self.kind, r) && recipient(self.kind, r).as_deref() == Some(to))
            .collect()
    }

    /// Every request of a kind (`sendText`, `sendSeen`, `startTyping`, or Graph `text`/`read`).
    pub fn calls(&self, what: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| match self.kind {
                Kind::Waha => r.path.ends_with(what),
                Kind::Graph => r.body["type"] == what || (what == "read" && r.body["status"] == "read"),
            })
            .collect()
    }

    /// Waits until `n` message deliveries to `to` were recorded.
    pub async fn wait_messages_to(&self, to: &str, n: usize) -> Vec<Recorded> {
        eventually(Duration::from_secs(10), || self.messages_to(to).len() >= n).await;
        self.messages_to(to)
    }

    /// Every recorded request has the shape the reference documents.
    pub fn assert_contract(&self) {
        for r in self.requests() {
            match self.kind {
                Kind::Waha => check_waha(&r),
                Kind::Graph => check_graph(&r),
            }
        }
    }
}

fn is_message(kind: Kind, r: &Recorded) -> bool {
    match kind {
        Kind::Waha => ["/api/sendText", "/api/sendImage", "/api/sendFile"].iter().any(|p| r.path == *p),
        Kind::Graph => r.body.get("type").is_some(),
    }
}

fn recipient(kind: Kind, r: &Recorded) -> Option<String> {
    match kind {
        Kind::Waha => r.body["chatId"].as_str().map(|c| c.trim_end_matches("@c.us").to_string()),
        // A business-scoped user id travels in `recipient` (reference: usernames and BSUIDs).
        Kind::Graph => r.body["to"].as_str().or(r.body["recipient"].as_str()).map(str::to_string),
    }
}

/// Reference A7: X-Api-Key, session, chatId as a JID, the fields of each call.
fn check_waha(r: &Recorded) {
    assert_eq!(r.header("x-api-key"), Some(WAHA_KEY), "{} without X-Api-Key", r.path);
    if r.method == "GET" {
        let group_admins = r.path.starts_with("/api/default/groups/") && r.path.ends_with("%40g%2Eus/participants/v2");
        let labels = r.path == "/api/default/labels"
            || (r.path.starts_with("/api/default/labels/") && r.path.ends_with("/chats"));
        assert!(r.path.starts_with("/api/default/lids/") || group_admins || labels, "unexpected GET {}", r.path);
        return;
    }
    if r.method == "PUT" {
        // Reference A7: PUT /api/{session}/labels/chats/{chatId}/ replaces the chat's label set.
        assert!(
            r.path.starts_with("/api/default/labels/chats/") && r.path.ends_with("%40c%2Eus/"),
            "unexpected PUT {}",
            r.path
        );
        let labels = r.body["labels"].as_array().unwrap_or_else(|| panic!("{}: no labels array: {}", r.path, r.body));
        assert!(labels.iter().all(|l| l["id"].is_string()), "{}: label ids are strings: {}", r.path, r.body);
        return;
    }
    assert_eq!(r.body["session"], "default", "{}: {}", r.path, r.body);
    let chat = r.body["chatId"].as_str().unwrap_or_default();
    assert!(chat.ends_with("@c.us") || chat.ends_with("@lid") || chat.ends_with("@g.us"), "chatId {chat}");
    match r.path.as_str() {
        "/api/sendText" => assert!(r.body["text"].is_string()),
        "/api/sendImage" | "/api/sendFile" => {
            assert!(r.body["file"]["url"].is_string() && r.body["file"]["mimetype"].is_string())
        }
        "/api/sendSeen" => assert!(r.body["messageIds"].is_array()),
        "/api/startTyping" | "/api/stopTyping" => {}
        other => panic!("unexpected WAHA call {other}"),
    }
}

/// Reference B6: Bearer token, messaging_product, recipient digits, one object per type.
fn check_graph(r: &Recorded) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/{PHONE_NUMBER_ID}/messages"));
    assert_eq!(r.header("authorization"), Some(format!("Bearer {ACCESS_TOKEN}").as_str()));
    assert_eq!(r.body["messaging_product"], "whatsapp", "{}", r.body);
    if r.body["status"] == "read" {
        assert!(r.body["message_id"].as_str().is_some_and(|id| id.starts_with("wamid.")), "{}", r.body);
        return;
    }
    // Exactly one recipient: digits in `to`, or a user id (`CC.…`) in `recipient`.
    match (r.body["to"].as_str(), r.body["recipient"].as_str()) {
        (Some(to), None) => assert!(to.bytes().all(|b| b.is_ascii_digit()) && !to.is_empty(), "to {to}"),
        (None, Some(user)) => assert!(user.contains('.') && !user.contains('@'), "recipient {user}"),
        other => panic!("a send names one recipient, `to` or `recipient`: {other:?} in {}", r.body),
    }
    assert_eq!(r.body["recipient_type"], "individual", "{}", r.body);
    let kind = r.body["type"].as_str().unwrap_or_default();
    assert!(r.body.get(kind).is_some_and(Value::is_object), "type {kind} without its object: {}", r.body);
    if kind == "text" {
        assert!(r.body["text"]["body"].is_string());
    }
}

async fn handle(State(fake): State<Fake>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let recorded = Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: Instant::now(),
    };
    let scripted = {
        let mut rules = fake.rules.lock().unwrap();
        let found = rules.iter_mut().find(|r| r.remaining > 0 && (r.matches)(&recorded));
        found.map(|r| {
            r.remaining -= 1;
            r.reply.clone()
        })
    };
    let n = fake.counter.fetch_add(1, Ordering::SeqCst);
    let reply = scripted.unwrap_or_else(|| default_reply(&fake, &recorded, n));
    fake.requests.lock().unwrap().push(recorded);
    tokio::time::sleep(reply.delay).await;
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    response.headers_mut().insert("content-type", "application/json".parse().unwrap());
    for (k, v) in reply.headers {
        response.headers_mut().insert(axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
    }
    response
}

fn default_reply(fake: &Fake, r: &Recorded, n: u64) -> Canned {
    match fake.kind {
        Kind::Waha if r.method == "GET" => {
            let lid = percent_decode(r.path.rsplit('/').next().unwrap_or_default());
            match fake.lids.lock().unwrap().get(&lid) {
                Some(phone) => Canned::status(200, json!({"lid": lid, "pn": format!("{phone}@c.us")}).to_string()),
                None => Canned::status(404, r#"{"message":"not found"}"#),
            }
        }
        Kind::Waha if is_message(Kind::Waha, r) => {
            let chat = r.body["chatId"].as_str().unwrap_or_default();
            Canned::status(201, json!({"id": format!("true_{chat}_FAKE{n:08}")}).to_string())
        }
        Kind::Waha => Canned::status(201, "{}"),
        Kind::Graph if r.body["status"] == "read" => Canned::status(200, r#"{"success":true}"#),
        Kind::Graph => {
            let to = r.body["to"].as_str().unwrap_or_default();
            Canned::status(
                200,
                json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}], "messages": [{"id": format!("wamid.FAKE{n:08}")}]})
                    .to_string(),
            )
        }
    }
}

fn percent_decode(s: &str) -> String {
    s.replace("%40", "@")
}

// ---------------------------------------------------------------- the bot

pub struct TestBot {
    pub url: String,
    pub waha: Fake,
    pub graph: Fake,
    pub dir: Arc<tempfile::TempDir>,
    pub hmac_key: Option<String>,
    extra: String,
    http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn assert_ok(&self) {
        assert_eq!(self.status, 200, "body: {}", self.body);
    }
}

impl TestBot {
    pub async fn start() -> TestBot {
        TestBot::with_config("").await
    }

    /// Starts with extra TOML appended to the test config (later keys win per section).
    pub async fn with_config(extra: &str) -> TestBot {
        let waha = Fake::start(Kind::Waha).await;
        let graph = Fake::start(Kind::Graph).await;
        let dir = Arc::new(tempfile::tempdir().unwrap());
        TestBot::launch(waha, graph, dir, extra.to_string()).await
    }

    async fn launch(waha: Fake, graph: Fake, dir: Arc<tempfile::TempDir>, extra: String) -> TestBot {
        let prompts = dir.path().join("prompts");
        if !prompts.exists() {
            copy_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts"), &prompts);
            // The test catalog: fixed codes, departures relative to today (it never expires).
            std::fs::copy(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prompts/packages.toml"),
                prompts.join("packages.toml"),
            )
            .unwrap();
        }
        let config = test_config(&waha, &graph, &dir.path().join("db"), &prompts, &extra);
        let hmac_key = config.waha.webhook_hmac_key.as_ref().map(|k| k.expose().to_string());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            juru::server::run(config, listener, async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestBot {
            url,
            waha,
            graph,
            dir,
            hmac_key,
            extra,
            http: reqwest::Client::new(),
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Graceful stop; the data directory and the fakes stay.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    /// Starts a stopped bot again on its data directory and fakes, with another config.
    pub async fn launch_with(mut stopped: TestBot, extra: &str) -> TestBot {
        stopped.stop().await;
        TestBot::launch(stopped.waha.clone(), stopped.graph.clone(), stopped.dir.clone(), extra.to_string()).await
    }

    /// Stops and starts again on the same data directory and fakes.
    pub async fn restart(mut self) -> TestBot {
        self.stop().await;
        TestBot::launch(self.waha.clone(), self.graph.clone(), self.dir.clone(), self.extra.clone()).await
    }

    /// Opens the stopped bot's store for inspection.
    pub fn store(&self) -> juru::store::Store {
        assert!(self.task.is_none(), "stop the bot before opening its store");
        juru::store::Store::open(&self.db_path()).unwrap()
    }

    pub fn prompts_path(&self) -> PathBuf {
        self.dir.path().join("prompts")
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("db")
    }

    pub async fn waha_webhook(&self, body: &str) -> Answer {
        let mut req =
            self.http.post(format!("{}/api/whatsapp/webhook", self.url)).header("content-type", "application/json");
        if let Some(key) = &self.hmac_key {
            req = req.header("X-Webhook-Hmac", sign_waha(key, body.as_bytes()));
        }
        answer(req.body(body.to_string()).send().await.unwrap()).await
    }

    /// Posts all bodies to the WAHA webhook at once, each on its own task.
    pub async fn waha_webhooks_concurrently(&self, bodies: Vec<String>) -> Vec<Answer> {
        let mut set = tokio::task::JoinSet::new();
        for body in bodies {
            let (http, url, key) = (self.http.clone(), self.url.clone(), self.hmac_key.clone());
            set.spawn(async move {
                let mut req =
                    http.post(format!("{url}/api/whatsapp/webhook")).header("content-type", "application/json");
                if let Some(key) = key {
                    req = req.header("X-Webhook-Hmac", sign_waha(&key, body.as_bytes()));
                }
                answer(req.body(body).send().await.unwrap()).await
            });
        }
        let mut answers = Vec::new();
        while let Some(a) = set.join_next().await {
            answers.push(a.unwrap());
        }
        answers
    }

    pub async fn cloud_webhook(&self, body: &str) -> Answer {
        let req = self
            .http
            .post(format!("{}/api/whatsapp/cloud", self.url))
            .header("content-type", "application/json")
            .header("X-Hub-Signature-256", sign_cloud(APP_SECRET, body.as_bytes()))
            .body(body.to_string());
        answer(req.send().await.unwrap()).await
    }

    pub async fn raw_post(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut req = self.http.post(format!("{}{path}", self.url)).body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        answer(req.send().await.unwrap()).await
    }

    pub async fn raw_post_method(&self, method: &str, path: &str, body: &str) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_string());
        answer(req.send().await.unwrap()).await
    }

    /// `text` from `from` as WAHA delivers it (message id `id`), and the
    /// text of the reply that comes back.
    /// `juru sync --platform PLATFORM --full` on the stopped bot's database,
    /// with `crm` (the vendor's `[crm.…]` section) as the rest of its config:
    /// whether it exited 0, its stdout and its stderr.
    pub async fn juru_sync(&self, platform: &str, crm: &str) -> (bool, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let config = format!("[storage]\npath = \"{}\"\n{crm}", self.db_path().display());
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        let platform = platform.to_string();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_juru"))
                .current_dir(dir.path())
                .env("RUST_LOG", "warn")
                .args(["sync", "--platform", &platform, "--full"])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub async fn ask(&self, from: &str, id: &str, text: &str) -> String {
        let before = self.waha.messages_to(from).len();
        self.waha_webhook(&waha_text(from, id, text)).await.assert_ok();
        let sent = self.waha.wait_messages_to(from, before + 1).await;
        sent[before].body["text"].as_str().unwrap_or_default().to_string()
    }

    /// Asks `text` again until the reply contains every one of `wanted`
    /// (`#crm sync` while the worker drains), within `limit`.
    pub async fn ask_until(&self, from: &str, text: &str, wanted: &[&str], limit: Duration) -> String {
        // Message ids stay unique across calls: a repeated id is a redelivery, never answered twice.
        static ASKED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let started = Instant::now();
        loop {
            let n = ASKED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let reply = self.ask(from, &format!("AU{n}"), text).await;
            if wanted.iter().all(|w| reply.contains(w)) {
                return reply;
            }
            assert!(started.elapsed() < limit, "`{text}` never said {wanted:?}: {reply}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        answer(self.http.get(format!("{}{path}", self.url)).send().await.unwrap()).await
    }
}

impl Drop for TestBot {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn answer(r: reqwest::Response) -> Answer {
    Answer { status: r.status().as_u16(), body: r.text().await.unwrap() }
}

fn test_config(waha: &Fake, graph: &Fake, db: &std::path::Path, prompts: &std::path::Path, extra: &str) -> Config {
    let base = format!(
        r#"
[storage]
path = "{db}"
[waha]
base_url = "{waha}"
api_key = "{WAHA_KEY}"
min_gap_ms = 0
label_poll_secs = 0
[cloud]
graph_base_url = "{graph}"
access_token = "{ACCESS_TOKEN}"
app_secret = "{APP_SECRET}"
verify_token = "{VERIFY_TOKEN}"
phone_number_id = "{PHONE_NUMBER_ID}"
[sales]
coalesce_ms = 0
prompts_dir = "{prompts}"
# A CRM credential stored in a test starts a connector: never toward the internet.
[crm.hubspot]
base_url = "http://127.0.0.1:9"
[crm.salesforce]
login_url = "http://127.0.0.1:9"
[crm.pipedrive]
base_url = "http://127.0.0.1:9"
oauth_url = "http://127.0.0.1:9"
[runtime]
lanes = 8
[outbox]
base_delay_ms = 50
max_delay_ms = 400
max_attempts = 4
timeout_ms = 2000
"#,
        db = db.display(),
        prompts = prompts.display(),
        waha = waha.url,
        graph = graph.url,
    );
    let mut table: toml::Table = toml::from_str(&base).unwrap();
    let extra: toml::Table = toml::from_str(extra).unwrap();
    for (section, values) in extra {
        let target = table.entry(section).or_insert_with(|| toml::Value::Table(Default::default()));
        for (k, v) in values.as_table().unwrap() {
            target.as_table_mut().unwrap().insert(k.clone(), v.clone());
        }
    }
    Config::from_toml(&toml::to_string(&table).unwrap(), std::path::Path::new("test.toml"), std::iter::empty()).unwrap()
}

/// A copy of the shipped prompt folder, so tests can edit theirs.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Polls `cond` until it holds or `limit` passes (then panics).
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "condition not met within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `cond` until it holds; past `limit` the test fails naming `what`.
pub async fn until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < limit, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Gives a pipeline time to do something it must not do (a second reply).
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(400)).await;
}
