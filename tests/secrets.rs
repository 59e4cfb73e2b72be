//! Invariant 6: secrets never appear in logs, even at trace level.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn trace_logs_never_contain_a_secret() {
    let graph = Fake::start(Kind::Graph).await;
    let waha = Fake::start(Kind::Waha).await;
    let dir = tempfile::tempdir().unwrap();
    // A file, not a pipe: trace output would fill a pipe and block the server.
    let log_path = dir.path().join("juru.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_juru"))
        .arg("serve")
        .current_dir(dir.path())
        .env("RUST_LOG", "trace")
        .env("JURU_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("JURU_STORAGE__PATH", dir.path().join("db"))
        .env("JURU_CLOUD__GRAPH_BASE_URL", &graph.url)
        .env("JURU_CLOUD__ACCESS_TOKEN", ACCESS_TOKEN)
        .env("JURU_CLOUD__APP_SECRET", APP_SECRET)
        .env("JURU_CLOUD__VERIFY_TOKEN", VERIFY_TOKEN)
        .env("JURU_CLOUD__PHONE_NUMBER_ID", PHONE_NUMBER_ID)
        .env("JURU_WAHA__BASE_URL", &waha.url)
        .env("JURU_WAHA__API_KEY", WAHA_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::from(log_file))
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "juru serve did not start");
    let verify = http
        .get(format!("{base}/api/whatsapp/cloud?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=42"))
        .send()
        .await
        .unwrap();
    assert_eq!(verify.text().await.unwrap(), "42");
    let body = cloud_text(PROSPECT, "SECRET1", "halo");
    let signed = juru::channel::signature::sign_cloud(APP_SECRET, body.as_bytes());
    let r = http
        .post(format!("{base}/api/whatsapp/cloud"))
        .header("X-Hub-Signature-256", signed)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    waha.knows_lid("1@lid", "6281200000000");
    http.post(format!("{base}/api/whatsapp/webhook")).body(waha_text(OTHER, "SECRET2", "halo")).send().await.unwrap();
    graph.wait_messages_to(PROSPECT, 1).await;
    waha.wait_messages_to(OTHER, 1).await;
    // SIGTERM, then read everything it logged.
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut logs = String::new();
    std::fs::File::open(&log_path).unwrap().read_to_string(&mut logs).unwrap();
    assert!(logs.contains("message routed"), "trace logs were captured");
    for secret in [ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN, WAHA_KEY] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
}
