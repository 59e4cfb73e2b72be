//! Sales-turn benchmark (issue: sales conversation, speed):
//!
//! - `offline`: full offline-brain turns through the real pipeline (dedupe →
//!   lane → router → phase machine → one commit → outbox → console sink),
//!   as fast as a pool of concurrent senders can push them. Reports turns/s.
//! - `llm`: N concurrent conversations against a fake OpenAI-compatible LLM
//!   on loopback that answers after a fixed delay; each conversation sends its
//!   next message when the previous answer went out. Reports the added
//!   overhead per turn (reply time − LLM time), p50/p99.
//!
//! `cargo run --release --bin bench_turns -- offline --turns 20000`
//! `cargo run --release --bin bench_turns -- llm --conversations 500 --turns 4 --llm-ms 300`

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use juru::channel::console::ConsoleSink;
use juru::channel::{Channel, ChatId, Event, Gateways, Inbound, Phone};
use juru::config::Config;
use juru::router::BotSettings;
use juru::runtime::Runtime;
use juru::store::Store;
use tokio::sync::oneshot;

/// Prints where the time went (flush and handler histograms) when the run ends.
struct Report(metrics_exporter_prometheus::PrometheusHandle);

impl Drop for Report {
    fn drop(&mut self) {
        for line in self.0.render().lines() {
            let ours = line.starts_with("juru_store_flush_seconds_") || line.starts_with("juru_handler_seconds_");
            if ours && (line.contains("_sum") || line.contains("_count")) || line.starts_with("juru_store_writes_total")
            {
                eprintln!("{line}");
            }
        }
    }
}

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    Offline {
        #[arg(long, default_value_t = 20_000)]
        turns: usize,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 5_000)]
        chats: usize,
    },
    Llm {
        #[arg(long, default_value_t = 500)]
        conversations: usize,
        #[arg(long, default_value_t = 4)]
        turns: usize,
        #[arg(long, default_value_t = 300)]
        llm_ms: u64,
    },
}

/// Console output parsed back: signals the waiter of a chat when its text reply is sent.
#[derive(Clone, Default)]
struct Replies {
    waiters: Arc<Mutex<HashMap<String, oneshot::Sender<Instant>>>>,
    count: Arc<std::sync::atomic::AtomicUsize>,
    buf: Arc<Mutex<Vec<u8>>>,
}

impl Write for Replies {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut buf = self.buf.lock().unwrap();
        buf.extend_from_slice(bytes);
        while let Some(end) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line) else { continue };
            if v["kind"] == "text" {
                self.count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if let Some(tx) = v["to"].as_str().and_then(|to| self.waiters.lock().unwrap().remove(to)) {
                    let _ = tx.send(Instant::now());
                }
            }
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A fresh data directory, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("juru-bench-turns-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(dir: &Path, extra: &str) -> Config {
    let text = format!(
        "[storage]\npath = \"{}\"\n[sales]\ncoalesce_ms = 0\nprompts_dir = \"{}\"\n{extra}",
        dir.join("db").display(),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts").display()
    );
    Config::from_toml(&text, Path::new("bench.toml"), std::iter::empty()).expect("bench config")
}

fn runtime(config: Config, sink: Replies) -> Runtime {
    let store = Store::open(&config.storage.path).expect("store");
    let mut senders = Gateways::from_config(&config).expect("senders");
    senders.add(std::sync::Arc::new(ConsoleSink::new(Box::new(sink), true)));
    let bot = BotSettings::from_config(&config);
    Runtime::start(config, bot, store, senders).expect("runtime")
}

fn message(chat: &ChatId, n: usize, text: &str) -> Event {
    Event::Message(Box::new(Inbound::text_from(Channel::Console, "bench", format!("bench-{n}"), chat.clone(), text)))
}

fn phone(i: usize) -> ChatId {
    ChatId::Phone(Phone::parse(&format!("62812{:08}", i)).expect("phone"))
}

// The shipped catalog's codes follow its relative dates: the first turn names
// the package by its kind (the same answer as a code: details and image).
const SCRIPT: [&str; 4] = ["paket yang plus", "Fasilitasnya apa saja?", "Paket lain apa saja?", "Terima kasih infonya"];

async fn offline(turns: usize, concurrency: usize, chats: usize) {
    let dir = TempDir::new();
    let sink = Replies::default();
    let rt = Arc::new(runtime(config(dir.path(), ""), sink.clone()));
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (rt, next) = (rt.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= turns {
                    break;
                }
                let chat = phone(n % chats);
                let event = message(&chat, n, SCRIPT[(n / chats) % SCRIPT.len()]);
                // Like a gateway: an overloaded juru is asked again a moment later.
                loop {
                    match rt.accept(vec![event.clone()]).await {
                        Err(juru::runtime::RuntimeError::Overloaded { .. }) => {
                            tokio::time::sleep(std::time::Duration::from_millis(5)).await
                        }
                        other => break other.map(|_| ()).expect("accept"),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("sender");
    }
    let accepted = started.elapsed();
    rt.idle(Channel::Console).await;
    let elapsed = started.elapsed();
    let replies = sink.count.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "{{\"mode\":\"offline\",\"turns\":{turns},\"replies\":{replies},\"accepted_s\":{:.3},\"elapsed_s\":{:.3},\"turns_per_s\":{:.0}}}",
        accepted.as_secs_f64(),
        elapsed.as_secs_f64(),
        turns as f64 / elapsed.as_secs_f64()
    );
    if let Ok(rt) = Arc::try_unwrap(rt) {
        rt.shutdown(Duration::from_secs(5)).await;
    }
}

async fn fake_llm(delay: Duration) -> String {
    use axum::Json;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    let content =
        serde_json::json!({"response_text": "Baik kak, ini jawabannya.", "media_to_send": [], "new_phase": "leads",
        "confidence": 0.9, "should_escalate": false, "escalation_reason": null, "intent": "smalltalk", "lang": "id",
        "package": null, "send_location": false})
        .to_string();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |Json(body): Json<serde_json::Value>| {
            let content = content.clone();
            async move {
                tokio::time::sleep(delay).await;
                Json(serde_json::json!({"id": "x", "object": "chat.completion", "created": 1, "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}))
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn llm(conversations: usize, turns: usize, llm_ms: u64) {
    let url = fake_llm(Duration::from_millis(llm_ms)).await;
    let dir = TempDir::new();
    let extra = format!(
        "[llm]\nbase_url = \"{url}\"\napi_key = \"bench\"\ntimeout_ms = 10000\n[runtime]\nlanes = {}\n",
        conversations.max(1)
    );
    let sink = Replies::default();
    let rt = Arc::new(runtime(config(dir.path(), &extra), sink.clone()));
    let mut tasks = Vec::new();
    for c in 0..conversations {
        let (rt, sink) = (rt.clone(), sink.clone());
        tasks.push(tokio::spawn(async move {
            let chat = phone(c);
            let mut overheads = Vec::with_capacity(turns);
            for t in 0..turns {
                let (tx, rx) = oneshot::channel();
                sink.waiters.lock().unwrap().insert(chat.key(), tx);
                let start = Instant::now();
                rt.accept(vec![message(&chat, c * 1000 + t, SCRIPT[t % SCRIPT.len()])]).await.expect("accept");
                let done = rx.await.expect("reply");
                let total = done - start;
                overheads.push(total.saturating_sub(Duration::from_millis(llm_ms)));
            }
            overheads
        }));
    }
    let mut all: Vec<Duration> = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("conversation"));
    }
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "{{\"mode\":\"llm\",\"conversations\":{conversations},\"turns\":{},\"llm_ms\":{llm_ms},\"overhead_p50_ms\":{:.2},\"overhead_p99_ms\":{:.2},\"overhead_max_ms\":{:.2}}}",
        all.len(),
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    if let Ok(rt) = Arc::try_unwrap(rt) {
        rt.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::main]
async fn main() {
    let metrics = juru::telemetry::metrics();
    let _report = Report(metrics);
    match Cli::parse().mode {
        Mode::Offline { turns, concurrency, chats } => offline(turns, concurrency, chats).await,
        Mode::Llm { conversations, turns, llm_ms } => llm(conversations, turns, llm_ms).await,
    }
}
