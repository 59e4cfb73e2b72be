//! A full disk is survived: while the data directory has no space, webhooks
//! get 5xx (nothing is acknowledged that was not stored), and juru exits
//! non-zero so that systemd or the container runtime restarts it (sled 0.34
//! keeps its first I/O error until the database is reopened). Once space is
//! freed, the restarted bot answers the messages the gateway redelivers.
//!
//! Needs a small tmpfs as the data directory, so it runs as root (as CI
//! does); elsewhere it says it was skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{ACCESS_TOKEN, APP_SECRET, Fake, Kind, PHONE_NUMBER_ID, VERIFY_TOKEN, cloud_text};
use juru::channel::signature::sign_cloud;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

async fn serve(dir: &Path, db: &Path, graph: &Fake, log: &str) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_juru"));
    cmd.arg("serve").current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("JURU_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", "info")
        .env("JURU_SERVER__LISTEN", "127.0.0.1:0")
        .env("JURU_STORAGE__PATH", db)
        .env("JURU_CLOUD__GRAPH_BASE_URL", &graph.url)
        .env("JURU_CLOUD__ACCESS_TOKEN", ACCESS_TOKEN)
        .env("JURU_CLOUD__APP_SECRET", APP_SECRET)
        .env("JURU_CLOUD__VERIFY_TOKEN", VERIFY_TOKEN)
        .env("JURU_CLOUD__PHONE_NUMBER_ID", PHONE_NUMBER_ID)
        .env("JURU_SALES__COALESCE_MS", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(dir.join(log)).unwrap()))
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawning juru serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.strip_prefix("juru listening on ") {
                return Some(url.trim().to_string());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| panic!("juru serve did not start:\n{}", std::fs::read_to_string(dir.join(log)).unwrap()));
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

async fn post(http: &reqwest::Client, url: &str, body: &str) -> Option<u16> {
    let signature = sign_cloud(APP_SECRET, body.as_bytes());
    let response = http
        .post(format!("{url}/api/whatsapp/cloud"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body.to_string())
        .send()
        .await
        .ok()?;
    Some(response.status().as_u16())
}

/// Fills the file system of `dir` until a write fails for lack of space.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0xAAu8; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    let _ = file.sync_all();
    path
}

#[tokio::test]
async fn a_full_disk_refuses_webhooks_exits_non_zero_and_the_restart_answers_them() {
    let work = tempfile::tempdir().unwrap();
    let Some(tmpfs) = Tmpfs::mount(&work.path().join("data"), "48m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root); the full-disk test did not run");
        return;
    };
    let db = tmpfs.0.join("db");
    let graph = Fake::start(Kind::Graph).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let (mut child, url) = serve(work.path(), &db, &graph, "serve-1.log").await;
    assert_eq!(post(&http, &url, &cloud_text("6281300000000", "FD0", "halo")).await, Some(200));

    let filler = fill(&tmpfs.0);
    // Write until the store notices: every answer is 200 (stored) or 5xx (not), never a 4xx.
    let mut refused = Vec::new();
    let started = Instant::now();
    let mut i = 0;
    let exit = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "juru kept running on a full disk for 60 s");
        i += 1;
        let sender = format!("62813{:08}", i);
        let body = cloud_text(&sender, &format!("FD{i}"), "mau tanya paket umroh");
        match post(&http, &url, &body).await {
            Some(200) => {}
            Some(status) => {
                assert!(status >= 500, "a full disk is the server's trouble, not the sender's: {status}");
                refused.push(body);
            }
            None => refused.push(body), // the process is going down
        }
    };
    assert!(!exit.success(), "juru exits non-zero so its supervisor restarts it: {exit:?}");
    let log = std::fs::read_to_string(work.path().join("serve-1.log")).unwrap();
    assert!(log.contains("exiting"), "the log says why it exits:\n{log}");
    assert!(!refused.is_empty(), "some webhook met the full disk");

    // Space freed: the restarted bot takes the gateway's redeliveries and answers them.
    std::fs::remove_file(filler).unwrap();
    let (mut child, url) = serve(work.path(), &db, &graph, "serve-2.log").await;
    let retried = &refused[..refused.len().min(5)];
    for body in retried {
        assert_eq!(post(&http, &url, body).await, Some(200), "redelivered after the restart");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    for body in retried {
        let sender = body.split("\"from\":\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        while graph.messages_to(&sender).iter().all(|r| r.body["type"] != "text") {
            assert!(Instant::now() < deadline, "no reply to {sender} after the restart");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let _ = child.kill().await;
    drop(tmpfs);
}
