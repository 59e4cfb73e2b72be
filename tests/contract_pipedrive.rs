//! Contract test: the requests the Pipedrive connector makes, checked by a
//! validating mock built from Pipedrive's own OpenAPI files (Stoplight
//! Prism, pinned in `tests/contract/package.json`). Prism answers a request
//! that breaks the spec with 422 and the list of violations.
//!
//! Prism serves the spec's paths without the servers' base paths (`/persons`,
//! not `/api/v2/persons`), and v1 and v2 are two files, so a small proxy here
//! maps `/api/v2/…` to the v2 mock and `/v1/…` to the v1 mock, and records
//! every answer. Prism answers with the spec's example data (ids 1, a
//! pipeline with one stage, searches that always hit), so the connector
//! copes with that; what is checked is that our requests match the spec.
//!
//! Needs `npm ci --prefix tests/contract` (fails saying so unless
//! `JURU_SKIP_CONTRACT=1`); skipped with a message when the specs
//! (`../shared/specs`) are absent.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use juru::channel::Channel;
use juru::config::{PipedriveConfig, Url};
use juru::connectors::credential::Credential;
use juru::connectors::pipedrive::PipedriveConnector;
use juru::connectors::{Connector, Item, Kind, Outcome, Record, RemoteIds};
use juru::crm::activity::{Activity, ActivityType};
use juru::crm::company::{Company, CompanyKind};
use juru::crm::contact::{Contact, CustomerGroup};
use juru::crm::deal::{Deal, Stage};
use juru::crm::settings::FieldMapping;

/// A Prism process, killed (by its pid) when the test ends, also on panic.
struct Prism {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prism {
    fn start(bin: &Path, spec: &Path, dir: &Path, name: &str) -> Prism {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("prism log file");
        let err = out.try_clone().expect("prism log file");
        let child = Command::new(bin)
            .args(["mock", "-p", &port.to_string(), "-h", "127.0.0.1"])
            .arg(spec)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        Prism { child, port, log }
    }

    /// Waits until it accepts connections (parsing a 1–2 MB spec takes seconds).
    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prism exited ({status}): {}", std::fs::read_to_string(&self.log).unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("prism did not listen within 120 s: {}", std::fs::read_to_string(&self.log).unwrap_or_default());
    }
}

#[derive(Debug, Clone)]
struct Exchange {
    method: String,
    path: String,
    status: u16,
    body: String,
}

#[derive(Clone)]
struct Proxy {
    client: reqwest::Client,
    v1: String,
    v2: String,
    log: Arc<Mutex<Vec<Exchange>>>,
}

async fn forward(State(p): State<Proxy>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path();
    let target = if let Some(rest) = path.strip_prefix("/api/v2") {
        format!("{}{rest}", p.v2)
    } else if let Some(rest) = path.strip_prefix("/v1") {
        format!("{}{rest}", p.v1)
    } else {
        let exchange = Exchange {
            method: method.to_string(),
            path: path.into(),
            status: 599,
            body: "not a Pipedrive API path".into(),
        };
        p.log.lock().unwrap().push(exchange);
        return (StatusCode::NOT_FOUND, "not a Pipedrive API path").into_response();
    };
    let target = match uri.query() {
        Some(q) => format!("{target}?{q}"),
        None => target,
    };
    let mut request = p.client.request(method.clone(), target);
    for name in ["x-api-token", "authorization", "content-type", "accept"] {
        if let Some(v) = headers.get(name) {
            request = request.header(name, v.as_bytes());
        }
    }
    let (status, content_type, text) = match request.body(body.to_vec()).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let ct =
                r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("application/json").to_string();
            (status, ct, r.text().await.unwrap_or_default())
        }
        Err(e) => (599, "text/plain".into(), format!("proxy: {e}")),
    };
    let shown = format!("{}{}", path, uri.query().map(|q| format!("?{q}")).unwrap_or_default());
    p.log.lock().unwrap().push(Exchange { method: method.to_string(), path: shown, status, body: text.clone() });
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    (code, [("content-type", content_type)], text).into_response()
}

#[derive(Default)]
struct Ids(HashMap<(Kind, String), String>);

impl RemoteIds for Ids {
    fn remote_id(&self, kind: Kind, local_id: &str) -> Option<String> {
        self.0.get(&(kind, local_id.to_string())).cloned()
    }
}

fn records() -> (Record, Record, Deal, Activity) {
    let company = Company {
        id: "kopi-kita".into(),
        kind: CompanyKind::Brand,
        name: "Kopi Kita".into(),
        parent: None,
        customer_group: Some(CustomerGroup::B2B),
        segment: None,
        created_by: "628111".into(),
        created_ms: 0,
    };
    let mut contact = Contact::new("6281234567890", Channel::Waha, 1_795_402_800_000);
    contact.name = Some("Budi".into());
    contact.email = Some("budi@example.com".into());
    contact.company = Some("kopi-kita".into());
    contact.customer_group = Some(CustomerGroup::B2B);
    let deal = Deal {
        contact: Some("6281234567890".into()),
        company: Some("kopi-kita".into()),
        ..Deal::new(7, "Kopi Kita Senopati", 12_000_000, Stage::Lead, "628111", 0)
    };
    let activity = Activity {
        seq: 12,
        contact: "6281234567890".into(),
        kind: ActivityType::Meeting,
        source: "command".into(),
        outcome: Some(juru::crm::activity::Outcome::Interested),
        next_action: Some("send the quote".into()),
        next_action_date: Some("2026-12-01".into()),
        notes: Some("wants 40 boxes".into()),
        deal: Some(7),
        by: "628111".into(),
        at_ms: 1_795_402_800_000,
    };
    (Record::Company(company.into()), Record::Contact(contact.into()), deal, activity)
}

fn item(record: Record, remote_id: Option<&str>, unsure: bool) -> Item {
    Item { record, remote_id: remote_id.map(str::to_string), unsure }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connectors_requests_match_pipedrives_own_openapi_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let specs = root.join("../shared/specs");
    let (v1_spec, v2_spec) = (specs.join("pipedrive-api-v1.yaml"), specs.join("pipedrive-api-v2.yaml"));
    if !v1_spec.is_file() || !v2_spec.is_file() {
        eprintln!(
            "SKIPPED contract_pipedrive: Pipedrive's OpenAPI files are not at {} (pipedrive-api-v1.yaml, pipedrive-api-v2.yaml)",
            specs.display()
        );
        return;
    }
    if std::env::var("JURU_SKIP_CONTRACT").as_deref() == Ok("1") {
        eprintln!("SKIPPED contract_pipedrive: JURU_SKIP_CONTRACT=1");
        return;
    }
    let prism = root.join("tests/contract/node_modules/.bin/prism");
    assert!(
        prism.exists(),
        "Prism is not installed: run `npm ci --prefix tests/contract` (or set JURU_SKIP_CONTRACT=1 to skip this test)"
    );
    let logs = tempfile::tempdir().unwrap();
    let mut v2 = Prism::start(&prism, &v2_spec, logs.path(), "prism-v2");
    let mut v1 = Prism::start(&prism, &v1_spec, logs.path(), "prism-v1");
    tokio::task::block_in_place(|| {
        v2.wait_listening();
        v1.wait_listening();
    });

    let proxy = Proxy {
        client: reqwest::Client::new(),
        v1: format!("http://127.0.0.1:{}", v1.port),
        v2: format!("http://127.0.0.1:{}", v2.port),
        log: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(forward).with_state(proxy.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let config = PipedriveConfig { base_url: Url(base), requests_per_2s: 0, ..PipedriveConfig::default() };
    let mapping: FieldMapping =
        [("customer_group".to_string(), "9d3d6c5e0b2f4a0c8e7f1a2b3c4d5e6f70819a2b".to_string())].into();
    let c = PipedriveConnector::new(&config, Credential::ApiKey("contract-token".into()), mapping, Arc::new(|_| {}));

    c.prepare().await.expect("prepare");
    let (company, contact, deal, activity) = records();
    let mut ids = Ids::default();
    let mut outcomes = Vec::new();
    // Creates, updates, and creates after an unknown outcome (search first).
    for (record, remote, unsure) in [
        (company.clone(), None, false),
        (company.clone(), Some("1"), false),
        (company.clone(), None, true),
        (contact.clone(), None, false),
    ] {
        outcomes.push(c.push(&[item(record, remote, unsure)], &ids).await.expect("push"));
    }
    ids.0.insert((Kind::Company, "kopi-kita".into()), "1".into());
    ids.0.insert((Kind::Contact, "6281234567890".into()), "1".into());
    outcomes.push(c.push(&[item(contact.clone(), Some("1"), false)], &ids).await.expect("push"));
    outcomes.push(c.push(&[item(contact, None, true)], &ids).await.expect("push"));
    let mut won = deal.clone();
    won.move_to(Stage::Won, "628111", Some("best price"), 5).unwrap();
    let mut lost = deal.clone();
    lost.move_to(Stage::Lost, "628111", Some("budget"), 5).unwrap();
    for (d, remote, unsure) in [(deal, None, false), (won, Some("1"), false), (lost, None, true)] {
        outcomes.push(c.push(&[item(Record::Deal(d.into()), remote, unsure)], &ids).await.expect("push"));
    }
    ids.0.insert((Kind::Deal, "D7".into()), "1".into());
    let act = Record::Activity(activity);
    for (remote, unsure) in [(None, false), (Some("1/note:1"), false), (None, true)] {
        outcomes.push(c.push(&[item(act.clone(), remote, unsure)], &ids).await.expect("push"));
    }
    for kind in [Kind::Company, Kind::Contact, Kind::Deal] {
        c.pull(kind, Some(1_795_402_800_000), None).await.expect("pull");
        c.pull(kind, None, None).await.expect("pull");
        // The next page of the same query, by Pipedrive's cursor.
        c.pull(kind, Some(1_795_402_800_000), Some("eyJmaWVsZCI6ImlkIiwiaWQiOjUwMH0")).await.expect("pull");
    }

    let exchanges = proxy.log.lock().unwrap().clone();
    for e in &exchanges {
        eprintln!("{} {} -> {}", e.method, e.path, e.status);
    }
    let bad: Vec<String> = exchanges
        .iter()
        .filter(|e| !(200..300).contains(&e.status))
        .map(|e| format!("{} {} -> {}: {}", e.method, e.path, e.status, e.body))
        .collect();
    assert!(bad.is_empty(), "requests Pipedrive's spec refuses:\n{}", bad.join("\n"));
    for outcome in outcomes.iter().flatten() {
        assert!(matches!(outcome, Outcome::Done { .. }), "{outcome:?}");
    }
    // Every endpoint the connector uses was exercised.
    for (method, prefix) in [
        ("GET", "/api/v2/personFields"),
        ("POST", "/api/v2/dealFields"),
        ("GET", "/api/v2/pipelines"),
        ("GET", "/api/v2/stages?"),
        ("POST", "/api/v2/organizations"),
        ("PATCH", "/api/v2/persons/1"),
        ("GET", "/api/v2/persons/search?"),
        ("GET", "/api/v2/deals/search?"),
        ("GET", "/api/v2/organizations/search?"),
        ("POST", "/api/v2/deals"),
        ("PATCH", "/api/v2/deals/1"),
        ("POST", "/api/v2/activities"),
        ("PATCH", "/api/v2/activities/1"),
        ("GET", "/api/v2/activities?"),
        ("POST", "/v1/notes"),
        ("PUT", "/v1/notes/1"),
        ("GET", "/v1/notes?"),
        ("GET", "/api/v2/persons?updated_since="),
        ("GET", "/api/v2/deals?"),
    ] {
        assert!(
            exchanges.iter().any(|e| e.method == method && e.path.starts_with(prefix)),
            "{method} {prefix}… was never sent"
        );
    }
    drop((v1, v2));
}
