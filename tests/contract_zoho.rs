//! Contract test: the requests the Zoho CRM connector makes, checked by
//! validating mocks built from Zoho's own OpenAPI files for CRM v8
//! (Stoplight Prism, pinned in `tests/contract/package.json`). Prism answers
//! a request that breaks the spec with 422 and the list of violations.
//!
//! Zoho ships one file per resource, cross-referenced by absolute GitHub
//! URLs, so the files are copied to a temporary folder with those prefixes
//! made relative (the specs README says so), and one Prism serves each file
//! the connector touches. A proxy here routes each path to its mock, answers
//! the Accounts server's token endpoint itself (it is not in the specs; the
//! answer's `api_domain` names the proxy, as a data centre would), checks
//! that every API call carries `Zoho-oauthtoken` and hands it on as the
//! `Bearer` the specs declare. Prism answers with the spec's example data
//! (ids "string", a pipeline of "string" stages, fields without our id
//! field), so the connector copes with that; what is checked is that our
//! requests match the spec.
//!
//! Needs `npm ci --prefix tests/contract` (fails saying so unless
//! `JURU_SKIP_CONTRACT=1`); skipped with a message when the specs
//! (`../shared/specs/zoho-crm-v8`) are absent.

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
use juru::config::{Secret, Url, ZohoConfig};
use juru::connectors::credential::{Credential, Tokens};
use juru::connectors::zoho::ZohoConnector;
use juru::connectors::{Connector, Item, Kind, Outcome, Record, RemoteIds, SyncError};
use juru::crm::activity::{Activity, ActivityType};
use juru::crm::company::{Company, CompanyKind};
use juru::crm::contact::{Contact, CustomerGroup};
use juru::crm::deal::{Deal, Stage};
use juru::crm::settings::FieldMapping;

/// The spec files' cross-reference prefix, made relative in the copy.
const REF_PREFIX: &str = "https://raw.githubusercontent.com/Zohocorp-Pvt-Ltd/crm-oas/refs/heads/main/v8.0/";
/// The files with the paths the connector calls. `notes.json` is not among
/// them: it references a parameter it does not define
/// (`#/components/parameters/If-Modified-Since`), so Prism cannot load it;
/// `POST /crm/v8/Notes` is checked against record.json's
/// `/crm/v8/{module_api_name}` instead (Notes is a module of the records API).
const MOCKED: [&str; 4] = ["record.json", "fields.json", "layouts.json", "pipeline.json"];

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
            .current_dir(spec.parent().expect("the spec's folder"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        Prism { child, port, log }
    }

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
    /// Spec file → its mock's base URL.
    mocks: HashMap<&'static str, String>,
    own_url: Arc<Mutex<String>>,
    log: Arc<Mutex<Vec<Exchange>>>,
}

/// Which spec file serves `path`.
fn spec_for(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/crm/v8/")?;
    Some(match rest {
        r if r.starts_with("settings/fields") => "fields.json",
        r if r.starts_with("settings/layouts") => "layouts.json",
        r if r.starts_with("settings/pipeline") => "pipeline.json",
        _ => "record.json",
    })
}

async fn forward(State(p): State<Proxy>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let shown = format!("{}{}", path, uri.query().map(|q| format!("?{q}")).unwrap_or_default());
    let record = |status: u16, body: String| {
        p.log.lock().unwrap().push(Exchange { method: method.to_string(), path: shown.clone(), status, body });
    };
    if path == "/oauth/v2/token" {
        let own = p.own_url.lock().unwrap().clone();
        record(200, "token".into());
        let answer = serde_json::json!({"access_token": "1000.contract", "api_domain": own, "token_type": "Bearer", "expires_in": 3600});
        return axum::Json(answer).into_response();
    }
    let Some(spec) = spec_for(&path) else {
        record(599, "not a Zoho CRM v8 path".into());
        return (StatusCode::NOT_FOUND, "not a Zoho CRM v8 path").into_response();
    };
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(token) = auth.strip_prefix("Zoho-oauthtoken ") else {
        record(598, format!("the call is not authorised with Zoho-oauthtoken: {auth:?}"));
        return (StatusCode::UNAUTHORIZED, "not Zoho-oauthtoken").into_response();
    };
    let mut request = p.client.request(method.clone(), format!("{}{shown}", p.mocks[spec]));
    request = request.header("authorization", format!("Bearer {token}"));
    for name in ["content-type", "accept", "if-modified-since"] {
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
    record(status, text.clone());
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

fn item(record: Record) -> Item {
    Item { record, remote_id: None, unsure: false }
}

fn records() -> Vec<Record> {
    let company = Company {
        id: "kopi-kita".into(),
        kind: CompanyKind::Brand,
        name: "Kopi Kita".into(),
        parent: Some("pt-kopi-kita".into()),
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
    let activity = |seq: u64, deal: Option<u64>| Activity {
        seq,
        contact: "6281234567890".into(),
        kind: ActivityType::Meeting,
        source: "command".into(),
        outcome: Some(juru::crm::activity::Outcome::Interested),
        next_action: Some("send the quote".into()),
        next_action_date: Some("2026-12-01".into()),
        notes: Some("wants 40 boxes".into()),
        deal,
        by: "628111".into(),
        at_ms: 1_795_402_800_000,
    };
    vec![
        Record::Company(company.into()),
        Record::Contact(contact.into()),
        Record::Deal(deal.into()),
        Record::Activity(activity(12, Some(7))),
        Record::Activity(activity(13, None)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connectors_requests_match_zohos_own_openapi_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let specs = root.join("../shared/specs/zoho-crm-v8");
    if !specs.join("record.json").is_file() {
        eprintln!("SKIPPED contract_zoho: Zoho's OpenAPI files are not at {}", specs.display());
        return;
    }
    if std::env::var("JURU_SKIP_CONTRACT").as_deref() == Ok("1") {
        eprintln!("SKIPPED contract_zoho: JURU_SKIP_CONTRACT=1");
        return;
    }
    let prism = root.join("tests/contract/node_modules/.bin/prism");
    assert!(
        prism.exists(),
        "Prism is not installed: run `npm ci --prefix tests/contract` (or set JURU_SKIP_CONTRACT=1 to skip this test)"
    );
    // The specs with their cross-references made relative, in a temporary copy.
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&specs).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap().replace(REF_PREFIX, "./");
            std::fs::write(copy.path().join(path.file_name().unwrap()), text).unwrap();
        }
    }
    let mut mocks: Vec<(&str, Prism)> =
        MOCKED.iter().map(|f| (*f, Prism::start(&prism, &copy.path().join(f), copy.path(), f))).collect();
    tokio::task::block_in_place(|| mocks.iter_mut().for_each(|(_, m)| m.wait_listening()));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let proxy = Proxy {
        client: reqwest::Client::new(),
        mocks: mocks.iter().map(|(f, m)| (*f, format!("http://127.0.0.1:{}", m.port))).collect(),
        own_url: Arc::new(Mutex::new(base.clone())),
        log: Arc::default(),
    };
    let app = axum::Router::new().fallback(forward).with_state(proxy.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let config = ZohoConfig {
        accounts_url: Url(base),
        api_domain: Url("http://127.0.0.1:9".into()),
        client_id: Some("1000.contract".into()),
        client_secret: Secret::try_from("contract-secret".to_string()).ok(),
        requests_per_min: 0,
        ..ZohoConfig::default()
    };
    let mapping: FieldMapping = [("customer_group".to_string(), "WA_Group".to_string())].into();
    let credential = Credential::OAuth(Tokens { refresh_token: Some("1000.refresh".into()), ..Tokens::default() });
    let c = ZohoConnector::new(&config, credential, mapping, Arc::new(|_| {}));

    // The spec's example fields carry no WA_Id: prepare says what to create.
    match c.prepare().await {
        Err(SyncError::Permanent(m)) if m.contains("has no field WA_Id") => {}
        other => panic!("prepare against the spec's example fields: {other:?}"),
    }
    let mut ids = Ids::default();
    for (kind, local) in [
        (Kind::Company, "pt-kopi-kita"),
        (Kind::Company, "kopi-kita"),
        (Kind::Contact, "6281234567890"),
        (Kind::Deal, "D7"),
    ] {
        ids.0.insert((kind, local.into()), "5725767000000100001".into());
    }
    let mut outcomes = Vec::new();
    for record in records() {
        outcomes.extend(c.push(&[item(record)], &ids).await.expect("push"));
    }
    ids.0.clear();
    for kind in [Kind::Contact, Kind::Deal] {
        c.pull(kind, Some(1_795_402_800_000), None).await.expect("pull");
        c.pull(kind, None, Some("token:abc123")).await.expect("pull");
        c.pull(kind, None, Some("page:2")).await.expect("pull");
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
    assert!(bad.is_empty(), "requests Zoho's spec refuses:\n{}", bad.join("\n"));
    for outcome in &outcomes {
        assert!(matches!(outcome, Outcome::Done { .. }), "{outcome:?}");
    }
    for (method, prefix) in [
        ("POST", "/oauth/v2/token"),
        ("GET", "/crm/v8/settings/fields?module=Accounts"),
        ("GET", "/crm/v8/settings/layouts?module=Deals"),
        ("GET", "/crm/v8/settings/pipeline?layout_id="),
        ("POST", "/crm/v8/Accounts/upsert"),
        ("POST", "/crm/v8/Contacts/upsert"),
        ("POST", "/crm/v8/Deals/upsert"),
        ("POST", "/crm/v8/Tasks/upsert"),
        ("POST", "/crm/v8/Notes"),
        ("GET", "/crm/v8/Contacts?fields="),
        ("GET", "/crm/v8/Deals?fields="),
    ] {
        assert!(
            exchanges.iter().any(|e| e.method == method && e.path.starts_with(prefix)),
            "{method} {prefix}… was never sent"
        );
    }
    drop(mocks);
}
