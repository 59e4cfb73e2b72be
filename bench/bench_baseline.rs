//! Baseline servers for `BENCHMARKS.md`: what a Cloud API webhook endpoint
//! costs on this machine before juru adds anything.
//!
//! * `physical`: verify `X-Hub-Signature-256`, parse the body into juru's typed
//!   events (`juru::channel::cloud::parse`), answer 200.
//! * `durable`: the same, plus one sled insert per event and a group-commit
//!   flush (`juru::store::GroupCommit::flushed`, one flusher thread) before the 200.
//! * `durable-tx` (diagnostic): `durable` with juru's two-tree transaction
//!   (`seen` + `inbox`) instead of the plain insert.
//! * `durable-tx-batch` (diagnostic): that transaction once per group-commit
//!   batch instead of once per event (one committer thread, one flush per batch).
//!
//! All use juru's default body limit, juru's sled configuration (via
//! `juru::store::Store`) and the same multi-threaded tokio runtime as `juru serve`.
//!
//! `bench_baseline physical|durable|durable-tx|durable-tx-batch --listen 127.0.0.1:PORT [--data DIR]`

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clap::{Parser, ValueEnum};
use juru::channel::{cloud, signature};
use juru::store::{GroupCommit, encode};

/// The baseline's own database: juru's sled settings and flusher, two plain
/// trees and nothing else (juru's `Store` keeps its trees private).
#[derive(Clone)]
struct Store {
    db: sled::Db,
    seen: sled::Tree,
    inbox: sled::Tree,
    flusher: GroupCommit,
}

impl Store {
    fn open(dir: &std::path::Path, cache_bytes: u64) -> anyhow::Result<Store> {
        std::fs::create_dir_all(dir)?;
        let db = juru::store::sled_config(dir, cache_bytes).open()?;
        Ok(Store {
            seen: db.open_tree("seen")?,
            inbox: db.open_tree("inbox")?,
            flusher: GroupCommit::start(db.clone(), Vec::new()),
            db,
        })
    }

    fn next_seq(&self) -> Result<u64, sled::Error> {
        self.db.generate_id()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Verify + parse + 200.
    Physical,
    /// Verify + parse + sled insert + group-commit flush + 200.
    Durable,
    /// Diagnostic, not one of the three servers: `durable`, but each event
    /// goes in with the same two-tree sled transaction (`seen` + `inbox`)
    /// juru's inbox uses, to isolate what sled 0.34 transactions cost.
    DurableTx,
    /// Diagnostic: the same transaction, but one per group-commit batch: a
    /// single committer thread takes every waiting event, runs one `seen` +
    /// `inbox` transaction for all of them, flushes once, then answers them.
    DurableTxBatch,
}

#[derive(Parser)]
#[command(about = "Baseline webhook servers for the juru benchmark")]
struct Cli {
    mode: Mode,
    /// Loopback address to listen on.
    #[arg(long, default_value = "127.0.0.1:18081")]
    listen: SocketAddr,
    /// sled directory for `durable` (created if absent; use a fresh one per run).
    #[arg(long)]
    data: Option<PathBuf>,
    /// App secret whose HMAC-SHA256 must sign every body (as `juru serve` checks it).
    #[arg(long, env = "BENCH_APP_SECRET", default_value = "bench-app-secret")]
    app_secret: String,
    /// Skip the signature check (not used by bench/run.sh).
    #[arg(long)]
    no_verify: bool,
    /// sled page cache in MiB (juru's `[storage] cache_mb` default).
    #[arg(long, default_value_t = 64)]
    cache_mb: u64,
}

#[derive(Clone)]
struct App {
    secret: Option<Arc<str>>,
    store: Option<Store>,
    transactions: bool,
    batcher: Option<tokio::sync::mpsc::UnboundedSender<Pending>>,
}

/// One event waiting for the batch committer: dedupe key, value, answer.
type Pending = (String, Vec<u8>, tokio::sync::oneshot::Sender<Result<bool, String>>);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    anyhow::ensure!(cli.listen.ip().is_loopback(), "--listen must be a loopback address");
    let store = match cli.mode {
        Mode::Physical => None,
        Mode::Durable | Mode::DurableTx | Mode::DurableTxBatch => {
            let Some(dir) = &cli.data else {
                anyhow::bail!("durable mode needs --data DIR");
            };
            Some(Store::open(dir, cli.cache_mb * 1024 * 1024)?)
        }
    };
    let app = App {
        secret: (!cli.no_verify).then(|| Arc::from(cli.app_secret.as_str())),
        store: store.clone(),
        transactions: cli.mode == Mode::DurableTx,
        batcher: match (&store, cli.mode) {
            (Some(store), Mode::DurableTxBatch) => Some(start_batcher(store.clone())),
            _ => None,
        },
    };
    // juru's own default (`[server] max_body_bytes`), applied the same way.
    let limit = juru::config::ServerConfig::default().max_body_bytes;
    let router = Router::new()
        .route("/api/whatsapp/cloud", post(webhook))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    println!(
        "bench_baseline {:?} listening on http://{} (signature check {})",
        cli.mode,
        listener.local_addr()?,
        if cli.no_verify { "off" } else { "on" }
    );
    axum::serve(listener, router).with_graceful_shutdown(shutdown_signal()).await?;
    if let Some(store) = store {
        store.flusher.flushed().await?;
        store.flusher.stop();
    }
    Ok(())
}

async fn webhook(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(secret) = &app.secret {
        let header = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok());
        if let Err(e) = signature::verify_cloud(secret, header, &body) {
            return (StatusCode::UNAUTHORIZED, e.to_string()).into_response();
        }
    }
    let events = match cloud::parse(&body) {
        Ok(events) => events,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let mut accepted = 0usize;
    let mut ignored = 0usize;
    let mut duplicates = 0usize;
    if let Some(store) = &app.store {
        for event in &events {
            let Some(key) = event.dedupe_key() else {
                ignored += 1;
                continue;
            };
            let value = encode(event);
            let written = if let Some(batcher) = &app.batcher {
                let (tx, rx) = tokio::sync::oneshot::channel();
                if batcher.send((key, value, tx)).is_err() {
                    return (StatusCode::SERVICE_UNAVAILABLE, "committer stopped").into_response();
                }
                // Resolves after the batch's transaction *and* its flush.
                rx.await.unwrap_or_else(|_| Err("committer stopped".into()))
            } else if app.transactions {
                insert_in_transaction(store, &key, &value)
            } else {
                store.inbox.insert(key.as_bytes(), value).map(|_| true).map_err(|e| e.to_string())
            };
            match written {
                Ok(true) => accepted += 1,
                Ok(false) => duplicates += 1,
                Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e).into_response(),
            }
        }
        // The 200 waits for the flush that covers this request's insert
        // (the batch committer answers only after its own flush).
        if app.batcher.is_none()
            && let Err(e) = store.flusher.flushed().await
        {
            return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response();
        }
    } else {
        for event in &events {
            if event.dedupe_key().is_some() {
                accepted += 1;
            } else {
                ignored += 1;
            }
        }
    }
    Json(serde_json::json!({"accepted": accepted, "duplicates": duplicates, "ignored": ignored})).into_response()
}

/// juru's `insert_unless_seen`: dedupe mark and inbox item in one transaction.
fn insert_in_transaction(store: &Store, key: &str, value: &[u8]) -> Result<bool, String> {
    use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
    let seq = store.next_seq().map_err(|e| e.to_string())?;
    let now = juru::runtime::now_ms();
    (&store.seen, &store.inbox)
        .transaction(|(seen, inbox)| {
            if seen.get(key.as_bytes())?.is_some() {
                return Ok(false);
            }
            seen.insert(key.as_bytes(), &now.to_be_bytes())?;
            inbox.insert(&seq.to_be_bytes(), value)?;
            Ok::<_, ConflictableTransactionError<()>>(true)
        })
        .map_err(|e: TransactionError<()>| format!("{e:?}"))
}

/// The batch committer: one transaction and one flush per batch of waiting events.
fn start_batcher(store: Store) -> tokio::sync::mpsc::UnboundedSender<Pending> {
    use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Pending>();
    std::thread::Builder::new()
        .name("bench-committer".into())
        .spawn(move || {
            while let Some(first) = rx.blocking_recv() {
                let mut batch = vec![first];
                while let Ok(more) = rx.try_recv() {
                    batch.push(more);
                }
                let now = juru::runtime::now_ms();
                let seqs: Result<Vec<u64>, String> =
                    batch.iter().map(|_| store.next_seq().map_err(|e| e.to_string())).collect();
                let result = seqs.and_then(|seqs| {
                    (&store.seen, &store.inbox)
                        .transaction(|(seen, inbox)| {
                            let mut fresh = Vec::with_capacity(batch.len());
                            for ((key, value, _), seq) in batch.iter().zip(&seqs) {
                                if seen.get(key.as_bytes())?.is_some() {
                                    fresh.push(false);
                                    continue;
                                }
                                seen.insert(key.as_bytes(), &now.to_be_bytes())?;
                                inbox.insert(&seq.to_be_bytes(), value.as_slice())?;
                                fresh.push(true);
                            }
                            Ok::<_, ConflictableTransactionError<()>>(fresh)
                        })
                        .map_err(|e: TransactionError<()>| format!("{e:?}"))
                });
                let result = result.and_then(|fresh| store.db.flush().map(|_| fresh).map_err(|e| e.to_string()));
                match result {
                    Ok(fresh) => {
                        for ((_, _, answer), fresh) in batch.into_iter().zip(fresh) {
                            let _ = answer.send(Ok(fresh));
                        }
                    }
                    Err(e) => {
                        for (_, _, answer) in batch {
                            let _ = answer.send(Err(e.clone()));
                        }
                    }
                }
            }
        })
        .expect("spawning the committer");
    tx
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}
