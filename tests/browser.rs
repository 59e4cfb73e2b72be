//! The admin dashboard in a real browser: Debian's Chromium, driven by
//! playwright-core (`tests/browser/dashboard.mjs`), against a bot seeded with
//! two prospects. Needs `apt-get install -y chromium` and
//! `npm ci --prefix tests/browser`; `JURU_SKIP_BROWSER=1` skips it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::Value;
use tokio::io::AsyncReadExt;

const TOKEN: &str = "test-admin-token";
const ASKING: &str = "6281234567890";
const WANTS_ADMIN: &str = "6289876543210";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The whole browser session; the script itself takes a few seconds.
const WITHIN: Duration = Duration::from_secs(90);

/// The folder of the browser script, or `None` when this run skips browser tests.
/// A machine without the tools fails: a skipped test must be asked for.
fn browser_tools() -> Option<PathBuf> {
    if std::env::var("JURU_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("JURU_SKIP_BROWSER=1: the dashboard browser test is skipped");
        return None;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let mut missing = Vec::new();
    if !Path::new(CHROMIUM).exists() {
        missing.push(format!("{CHROMIUM} (apt-get install -y chromium)"));
    }
    if !dir.join("node_modules/playwright-core").is_dir() {
        missing.push("playwright-core (npm ci --prefix tests/browser)".to_string());
    }
    assert!(
        missing.is_empty(),
        "the dashboard browser test needs {}; or set JURU_SKIP_BROWSER=1 to skip it",
        missing.join(" and ")
    );
    Some(dir)
}

async fn admin_get(bot: &TestBot, path: &str) -> Value {
    let response = reqwest::Client::new().get(format!("{}{path}", bot.url)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

/// What the script printed and how it ended (`None`: killed after `WITHIN`).
struct Run {
    status: Option<std::process::ExitStatus>,
    stdout: String,
    stderr: String,
}

/// Reads a pipe to its end on a task of its own, so that a chatty child never blocks.
fn collect(mut pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text).await;
        text
    })
}

/// Runs `node dashboard.mjs …` in `dir`, killing it (and its Chromium) after `WITHIN`.
async fn run_script(dir: &Path, args: &[&str]) -> Run {
    let mut child = tokio::process::Command::new("node")
        .arg("dashboard.mjs")
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_TMPDIR", env!("CARGO_TARGET_TMPDIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a timeout takes Chromium down with it.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node ({e}): the browser test needs Node.js 20 or later"));
    let stdout = collect(child.stdout.take().unwrap());
    let stderr = collect(child.stderr.take().unwrap());
    let status = match tokio::time::timeout(WITHIN, child.wait()).await {
        Ok(status) => Some(status.unwrap()),
        Err(_) => {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill").args(["-KILL", &format!("-{pid}")]).status();
            }
            let _ = child.kill().await;
            None
        }
    };
    Run { status, stdout: drain(stdout).await, stderr: drain(stderr).await }
}

/// What a pipe gave, without waiting forever on one that a stray grandchild keeps open.
async fn drain(reader: tokio::task::JoinHandle<String>) -> String {
    match tokio::time::timeout(Duration::from_secs(5), reader).await {
        Ok(text) => text.unwrap(),
        Err(_) => "(still open after the script ended)".to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_signs_in_watches_the_funnel_takes_over_a_chat_and_tries_the_bot() {
    let Some(dir) = browser_tools() else { return };
    let bot = TestBot::with_config(&format!("[server]\nadmin_token = \"{TOKEN}\"\n")).await;
    bot.waha_webhook(&waha_text(ASKING, "B1", "Assalamualaikum, info paket umroh")).await.assert_ok();
    bot.waha_webhook(&waha_text(WANTS_ADMIN, "B2", "Saya mau bicara dengan admin")).await.assert_ok();
    bot.waha.wait_messages_to(ASKING, 1).await;
    bot.waha.wait_messages_to(WANTS_ADMIN, 1).await;
    settle().await;
    let dashboard = admin_get(&bot, "/api/marketing/dashboard").await;
    assert_eq!(dashboard["pending_handover"][0]["id"], WANTS_ADMIN, "the seed: {dashboard}");

    let run = run_script(&dir, &[&bot.url, TOKEN, ASKING, WANTS_ADMIN]).await;
    let output = format!("--- stdout\n{}--- stderr\n{}", run.stdout, run.stderr);
    let status =
        run.status.unwrap_or_else(|| panic!("the browser script ran past {WITHIN:?} and was killed\n{output}"));
    assert!(status.success(), "the browser script failed ({status})\n{output}");
    eprintln!("{output}");
}
