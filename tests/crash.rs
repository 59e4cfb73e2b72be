//! Crash safety of the real binary: `juru serve` is `kill -9`ed in the middle
//! of a load of signed Cloud webhooks, then started again on the same data
//! directory. Every webhook that was answered 200 must get its reply, and a
//! reply may only be repeated when its send was in flight at the kill (so at
//! most `[outbox] concurrency` of them). SIGTERM instead drains and exits 0,
//! and then nothing is repeated at all.

mod common;

use std::collections::{HashMap, HashSet};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{ACCESS_TOKEN, APP_SECRET, Canned, Fake, Kind, PHONE_NUMBER_ID, VERIFY_TOKEN, cloud_text};
use juru::channel::signature::sign_cloud;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// juru's default `[outbox] concurrency`: the most sends in flight at a kill.
const OUTBOX_CONCURRENCY: usize = 64;
/// Webhooks posted at once by the load generator.
const CLIENTS: usize = 48;

// ---------------------------------------------------------------- the process

/// One `juru serve` child, configured by environment variables only.
struct Serve {
    child: Child,
    url: String,
}

impl Serve {
    /// Starts `juru serve` on `dir/db` (cwd `dir`, so no `config.toml` is read),
    /// answering through `graph`, and waits until `/healthz` says ok.
    async fn start(dir: &Path, graph: &Fake, run: usize, extra_env: &[(&str, &str)]) -> Serve {
        let log = std::fs::File::create(dir.join(format!("serve-{run}.log"))).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_juru"));
        cmd.arg("serve").current_dir(dir);
        for (key, _) in std::env::vars() {
            if key.starts_with("JURU_") {
                cmd.env_remove(key);
            }
        }
        let db = dir.join("db");
        cmd.env("RUST_LOG", "info")
            .env("JURU_SERVER__LISTEN", "127.0.0.1:0")
            .env("JURU_STORAGE__PATH", &db)
            .env("JURU_CLOUD__GRAPH_BASE_URL", &graph.url)
            .env("JURU_CLOUD__ACCESS_TOKEN", ACCESS_TOKEN)
            .env("JURU_CLOUD__APP_SECRET", APP_SECRET)
            .env("JURU_CLOUD__VERIFY_TOKEN", VERIFY_TOKEN)
            .env("JURU_CLOUD__PHONE_NUMBER_ID", PHONE_NUMBER_ID)
            .env("JURU_CLOUD__MAX_MPS", "100000")
            .env("JURU_BOT__SEND_SEEN", "false")
            .env("JURU_BOT__SEND_TYPING", "false");
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::from(log)).kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawning juru serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let log_path = dir.join(format!("serve-{run}.log"));
        let url = tokio::time::timeout(Duration::from_secs(15), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("juru listening on ") {
                    return url.trim().to_string();
                }
            }
            panic!("juru serve exited before listening:\n{}", read_log(&log_path));
        })
        .await
        .expect("juru serve did not print where it listens within 15 s");
        // Keep reading stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let serve = Serve { child, url };
        serve.wait_healthy(&log_path).await;
        serve
    }

    async fn wait_healthy(&self, log_path: &Path) {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        let start = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{}/healthz", self.url)).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "juru serve not healthy within 15 s:\n{}",
                read_log(log_path)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no shutdown code runs.
    async fn kill_9(mut self) {
        self.child.kill().await.expect("SIGKILL juru serve");
    }

    /// SIGTERM, then the exit status (bounded by `limit`).
    async fn terminate(mut self, limit: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().expect("still running").to_string();
        let sent = std::process::Command::new("kill").arg("-TERM").arg(&pid).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!("juru serve did not exit within {limit:?} of SIGTERM"),
        }
    }
}

fn read_log(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(40).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

// ---------------------------------------------------------------- the load

/// Distinct senders, so each reply at the fake maps to one webhook.
fn senders(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("62{prefix}{i:07}")).collect()
}

fn webhook_of(sender: &str) -> String {
    cloud_text(sender, &format!("CRASH{sender}"), "halo, paket umroh masih ada?")
}

/// Concurrent signed webhooks; who got 200 and who did not.
#[derive(Clone, Default)]
struct Load {
    acked: Arc<Mutex<Vec<String>>>,
    unacked: Arc<Mutex<Vec<String>>>,
    acks: Arc<AtomicUsize>,
    done: Arc<AtomicBool>,
}

impl Load {
    fn start(url: &str, senders: &[String]) -> (Load, tokio::task::JoinHandle<()>) {
        let load = Load::default();
        let queue = Arc::new(Mutex::new(senders.to_vec()));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        let url = format!("{url}/api/whatsapp/cloud");
        let task = {
            let load = load.clone();
            tokio::spawn(async move {
                let mut clients = tokio::task::JoinSet::new();
                for _ in 0..CLIENTS {
                    let (load, queue, http, url) = (load.clone(), queue.clone(), http.clone(), url.clone());
                    clients.spawn(async move {
                        loop {
                            let Some(sender) = queue.lock().unwrap().pop() else { return };
                            let acked = post_webhook(&http, &url, &webhook_of(&sender)).await.is_some();
                            if acked {
                                load.acked.lock().unwrap().push(sender);
                                load.acks.fetch_add(1, Ordering::SeqCst);
                            } else {
                                load.unacked.lock().unwrap().push(sender);
                            }
                        }
                    });
                }
                while clients.join_next().await.is_some() {}
                load.done.store(true, Ordering::SeqCst);
            })
        };
        (load, task)
    }

    fn acked(&self) -> Vec<String> {
        self.acked.lock().unwrap().clone()
    }

    fn unacked(&self) -> Vec<String> {
        self.unacked.lock().unwrap().clone()
    }
}

/// The response body when the webhook was answered 200.
async fn post_webhook(http: &reqwest::Client, url: &str, body: &str) -> Option<String> {
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .header("X-Hub-Signature-256", sign_cloud(APP_SECRET, body.as_bytes()))
        .body(body.to_string())
        .send()
        .await
        .ok()?;
    if response.status() != 200 {
        return None;
    }
    response.text().await.ok()
}

// ---------------------------------------------------------------- what the fake saw

/// Text replies per recipient, as the Graph fake recorded them.
fn text_replies(graph: &Fake) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for r in graph.requests() {
        if r.body["type"] == "text"
            && let Some(to) = r.body["to"].as_str()
        {
            *counts.entry(to.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

/// Polls until `cond` holds; panics with `what` after `limit`.
async fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every one of `senders` has a text reply, then until the fake
/// saw no new request for `quiet` (late duplicates would have shown by then).
async fn wait_answered(graph: &Fake, senders: &[String], limit: Duration) {
    wait_for(limit, "every acknowledged sender has a reply", || {
        let counts = text_replies(graph);
        senders.iter().all(|s| counts.contains_key(s))
    })
    .await;
    let quiet = Duration::from_millis(800);
    let mut seen = graph.requests().len();
    let mut since = Instant::now();
    while since.elapsed() < quiet {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = graph.requests().len();
        if now != seen {
            (seen, since) = (now, Instant::now());
        }
    }
}

/// An assertion over what the fake saw once the restarted bot went quiet:
/// the acknowledged senders, every sender of the round killed, everyone who ever wrote.
type Check = fn(&Fake, &[String], &[String], &HashSet<String>, &str);

/// Every acknowledged sender answered, nobody that never wrote, nobody thrice.
fn no_loss_and_at_most_twice(graph: &Fake, acked: &[String], _round: &[String], known: &HashSet<String>, when: &str) {
    let counts = text_replies(graph);
    let missing: Vec<&String> = acked.iter().filter(|s| !counts.contains_key(*s)).collect();
    assert!(missing.is_empty(), "{when}: {} acknowledged messages never answered: {missing:?}", missing.len());
    let strangers: Vec<&String> = counts.keys().filter(|to| !known.contains(*to)).collect();
    assert!(strangers.is_empty(), "{when}: replies to numbers that never wrote: {strangers:?}");
    let thrice: Vec<(&String, &usize)> = counts.iter().filter(|(_, n)| **n > 2).collect();
    assert!(thrice.is_empty(), "{when}: senders answered more than twice: {thrice:?}");
}

/// No more senders of the killed round answered twice than sends can be in flight at a kill.
fn repeats_bounded_by_concurrency(
    graph: &Fake,
    acked: &[String],
    round: &[String],
    known: &HashSet<String>,
    when: &str,
) {
    no_loss_and_at_most_twice(graph, acked, round, known, when);
    let counts = text_replies(graph);
    let twice = round.iter().filter(|s| counts.get(*s) == Some(&2)).count();
    assert!(
        twice <= OUTBOX_CONCURRENCY,
        "{when}: {twice} senders were answered twice; at most {OUTBOX_CONCURRENCY} sends can be in flight at a kill"
    );
}

/// Answers Graph calls slowly while `slow` is set, so an outbox backlog builds.
fn slow_graph_when(graph: &Fake, slow: Arc<AtomicBool>, delay: Duration) {
    graph.on(
        usize::MAX,
        move |_| slow.load(Ordering::SeqCst),
        Canned::status(200, r#"{"messaging_product":"whatsapp","messages":[{"id":"wamid.SLOW"}]}"#).delay(delay),
    );
}

// ---------------------------------------------------------------- tests

/// Sends go out at once: no `[sales] coalesce_ms` quiet window before a turn.
const NO_COALESCING: &[(&str, &str)] = &[("JURU_SALES__COALESCE_MS", "0")];

/// Kills `juru serve` three times while webhooks pour in (just after the
/// first acknowledgements, mid-load, late in the load), restarting on the
/// same data directory each time; `check` runs once the restarted bot has
/// gone quiet. The first run coalesces bursts (default 1.5 s window), so its
/// kill finds turns waiting in the coalescer; the later runs answer at once,
/// so their kills find sends in flight.
async fn kill_during_intake(check: Check) {
    let graph = Fake::start(Kind::Graph).await;
    let dir = tempfile::tempdir().unwrap();
    let mut known = HashSet::new();
    let mut serve = Serve::start(dir.path(), &graph, 0, &[]).await;
    for (round, kill_after_acks) in [(0usize, 30usize), (1, 250), (2, 500)] {
        let batch = senders(&format!("1{round}"), 700);
        known.extend(batch.iter().cloned());
        let (load, task) = Load::start(&serve.url, &batch);
        wait_for(Duration::from_secs(20), "the kill point", || {
            load.acks.load(Ordering::SeqCst) >= kill_after_acks || load.done.load(Ordering::SeqCst)
        })
        .await;
        assert!(!load.done.load(Ordering::SeqCst), "round {round}: the load ended before the kill point");
        serve.kill_9().await;
        task.await.unwrap();
        let acked = load.acked();
        assert!(acked.len() >= kill_after_acks && acked.len() < batch.len(), "round {round}: {} acked", acked.len());

        serve = Serve::start(dir.path(), &graph, round + 1, NO_COALESCING).await;
        wait_answered(&graph, &acked, Duration::from_secs(30)).await;
        check(&graph, &acked, &batch, &known, &format!("after kill {round}"));
    }
    serve.kill_9().await;
    graph.assert_contract();
}

/// A Graph fake that answers the first `OUTBOX_CONCURRENCY` sends all at
/// the same instant, holds the next ones, and `kill -9`s juru the moment the
/// outbox has refilled its slots: every reply of the first wave has just
/// completed, every one of the second wave is in flight.
struct WaveKiller {
    pid: Arc<AtomicU32>,
    arrivals: Arc<AtomicUsize>,
    fast: Arc<AtomicBool>,
}

impl WaveKiller {
    const RELEASE_AFTER: Duration = Duration::from_millis(800);

    fn install(graph: &Fake) -> WaveKiller {
        let killer = WaveKiller {
            pid: Arc::new(AtomicU32::new(0)),
            arrivals: Arc::new(AtomicUsize::new(0)),
            fast: Arc::new(AtomicBool::new(false)),
        };
        let first_arrival = Arc::new(OnceLock::<Instant>::new());
        let answer = || Canned::status(200, r#"{"messaging_product":"whatsapp","messages":[{"id":"wamid.WAVE"}]}"#);
        // A hook, never a match: numbers the sends and fires the kill.
        let (pid, arrivals, fast, first) =
            (killer.pid.clone(), killer.arrivals.clone(), killer.fast.clone(), first_arrival.clone());
        graph.on(
            usize::MAX,
            move |r| {
                if fast.load(Ordering::SeqCst) || r.body["type"] != "text" {
                    return false;
                }
                let n = arrivals.fetch_add(1, Ordering::SeqCst) + 1;
                first.get_or_init(Instant::now);
                if n == 2 * OUTBOX_CONCURRENCY {
                    let pid = pid.load(Ordering::SeqCst);
                    assert_ne!(pid, 0, "juru's pid is known before its first send");
                    let _ = std::process::Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
                }
                false
            },
            answer(),
        );
        // Wave one: each send waits exactly as long as it takes to reach the common release instant.
        for ms in 0..=Self::RELEASE_AFTER.as_millis() as u64 {
            let (arrivals, fast, first) = (killer.arrivals.clone(), killer.fast.clone(), first_arrival.clone());
            graph.on(
                usize::MAX,
                move |r| {
                    if fast.load(Ordering::SeqCst) || r.body["type"] != "text" {
                        return false;
                    }
                    if arrivals.load(Ordering::SeqCst) > OUTBOX_CONCURRENCY {
                        return false;
                    }
                    let release = *first.get().expect("numbered by the hook") + Self::RELEASE_AFTER;
                    release.saturating_duration_since(Instant::now()).as_millis() as u64 == ms
                },
                answer().delay(Duration::from_millis(ms)),
            );
        }
        // Wave two: held until well after the kill.
        let fast = killer.fast.clone();
        graph.on(
            usize::MAX,
            move |r| !fast.load(Ordering::SeqCst) && r.body["type"] == "text",
            answer().delay(Duration::from_secs(5)),
        );
        killer
    }
}

/// Kills `juru serve` after every webhook was acknowledged and handled, while
/// the outbox is sending: right after a wave of sends completed (see [`WaveKiller`]).
async fn kill_while_the_outbox_drains(check: Check) {
    let graph = Fake::start(Kind::Graph).await;
    let killer = WaveKiller::install(&graph);
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Serve::start(dir.path(), &graph, 0, NO_COALESCING).await;
    killer.pid.store(serve.child.id().unwrap(), Ordering::SeqCst);
    let batch = senders("20", 300);
    let known: HashSet<String> = batch.iter().cloned().collect();
    let (load, task) = Load::start(&serve.url, &batch);
    task.await.unwrap();
    let acked = load.acked();
    assert_eq!(acked.len(), batch.len(), "every webhook is acknowledged before the first reply completes");
    let status = tokio::time::timeout(Duration::from_secs(20), serve.child.wait())
        .await
        .expect("the outbox never refilled its slots")
        .unwrap();
    assert_eq!(status.signal(), Some(9), "juru ended otherwise than by the kill: {status:?}");
    assert_eq!(killer.arrivals.load(Ordering::SeqCst), 2 * OUTBOX_CONCURRENCY);

    killer.fast.store(true, Ordering::SeqCst);
    let serve = Serve::start(dir.path(), &graph, 1, NO_COALESCING).await;
    wait_answered(&graph, &acked, Duration::from_secs(30)).await;
    check(&graph, &acked, &batch, &known, "after a kill during the drain");
    serve.kill_9().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_intake_loses_no_acknowledged_message_and_repeats_only_in_flight_replies() {
    kill_during_intake(repeats_bounded_by_concurrency).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_the_outbox_drains_loses_no_reply_and_answers_none_more_than_twice() {
    kill_while_the_outbox_drains(no_loss_and_at_most_twice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_the_outbox_drains_repeats_only_in_flight_replies() {
    kill_while_the_outbox_drains(repeats_bounded_by_concurrency).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_unanswered_at_a_kill_are_answered_once_the_gateway_redelivers_them() {
    let graph = Fake::start(Kind::Graph).await;
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &graph, 0, &[]).await;
    let batch = senders("30", 400);
    let known: HashSet<String> = batch.iter().cloned().collect();
    let (load, task) = Load::start(&serve.url, &batch);
    wait_for(Duration::from_secs(20), "100 acknowledgements", || load.acks.load(Ordering::SeqCst) >= 100).await;
    serve.kill_9().await;
    task.await.unwrap();
    let (acked, unacked) = (load.acked(), load.unacked());
    assert!(!unacked.is_empty(), "the kill left no webhook unanswered");
    // An unanswered webhook may or may not have been stored: no claim about it here.

    let serve = Serve::start(dir.path(), &graph, 1, &[]).await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/whatsapp/cloud", serve.url);
    // Meta redelivers what it got no 200 for; juru must take each one now.
    for sender in &unacked {
        let report = post_webhook(&http, &url, &webhook_of(sender)).await;
        assert!(report.is_some(), "redelivery of {sender} refused after the restart");
    }
    // A redelivery of an acknowledged webhook is recognised: the dedupe mark survived the kill.
    for sender in acked.iter().take(20) {
        let report = post_webhook(&http, &url, &webhook_of(sender)).await.expect("redelivery answered");
        assert!(report.contains("\"duplicates\":1"), "{sender} handled again after the restart: {report}");
    }
    wait_answered(&graph, &batch, Duration::from_secs(30)).await;
    no_loss_and_at_most_twice(&graph, &batch, &batch, &known, "after redelivery");
    serve.kill_9().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_replies_pending_exits_0_and_the_restart_answers_each_message_exactly_once() {
    let graph = Fake::start(Kind::Graph).await;
    let slow = Arc::new(AtomicBool::new(true));
    // 32 sends at a time, 200 ms each: a backlog builds behind the intake.
    slow_graph_when(&graph, slow.clone(), Duration::from_millis(200));
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &graph, 0, &[]).await;
    let batch = senders("40", 300);
    let (load, task) = Load::start(&serve.url, &batch);
    task.await.unwrap();
    let acked = load.acked();
    assert_eq!(acked.len(), batch.len(), "every webhook is acknowledged while the bot runs");
    let answered_before = text_replies(&graph).len();
    let status = serve.terminate(Duration::from_secs(15)).await;
    assert!(answered_before < batch.len(), "nothing was pending at SIGTERM");
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status:?}\n{}",
        read_log(&dir.path().join("serve-0.log"))
    );
    let log = std::fs::read_to_string(dir.path().join("serve-0.log")).unwrap();
    assert!(log.contains("shutdown complete"), "{}", read_log(&dir.path().join("serve-0.log")));

    slow.store(false, Ordering::SeqCst);
    let serve = Serve::start(dir.path(), &graph, 1, &[]).await;
    wait_answered(&graph, &acked, Duration::from_secs(30)).await;
    let counts = text_replies(&graph);
    let repeated: Vec<(&String, &usize)> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(repeated.is_empty(), "after a graceful stop every message is answered exactly once: {repeated:?}");
    assert_eq!(counts.len(), batch.len());
    serve.kill_9().await;
}
