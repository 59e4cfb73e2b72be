//! Load generator for `BENCHMARKS.md` (see `bench/run.sh`).
//!
//! `loadgen run` keeps N keep-alive HTTP/1.1 connections busy for D seconds
//! (closed loop: one request in flight per connection), or with `--rate R`
//! sends request i at t0 + i/R whatever the server does (open loop, on up to
//! N connections opened as needed), each request a distinct, signed WhatsApp
//! Cloud API text-message webhook. It can host a fake Graph API on loopback
//! that answers `POST /{phone_number_id}/messages`, counts the replies it
//! receives and times each accepted message until its answer, and it
//! samples the server's CPU time and peak RSS from `/proc/PID`.
//!
//! The HTTP client is a minimal hand-written HTTP/1.1 client over tokio
//! sockets, so that the load generator takes as little of the machine's two
//! cores as possible from the server under test.
//!
//! Other subcommands: `wait` (poll a URL until 200), `verify` (every acked
//! message id is in a sled tree), `stats` (tree sizes of a juru data dir),
//! `report` (comparison table of several `run` results).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Parser)]
#[command(about = "Load generator and fake Graph API for the juru benchmark")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Drive signed Cloud API webhooks at a server and report the figures.
    Run(RunArgs),
    /// `GET URL` N times, one after another on one keep-alive connection;
    /// prints p50/p99/max latency (e.g. the dashboard API on a full store).
    Probe {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 2000)]
        requests: usize,
    },
    /// Poll `GET URL` until it answers 200 (or time out).
    Wait {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
    },
    /// Check that every acked message id is in a sled tree (after a kill -9).
    Verify {
        /// The server's data directory (the server must be stopped).
        #[arg(long)]
        data: PathBuf,
        /// `seen` for juru (dedupe marks), `inbox` for bench_baseline durable.
        #[arg(long)]
        tree: String,
        /// File of acked wamids, one per line (`run --acked-out`).
        #[arg(long)]
        acked: PathBuf,
        #[arg(long, default_value = "100000000000001")]
        phone_number_id: String,
    },
    /// Writes N messages straight into a juru data directory, in the layout
    /// juru's own pipeline leaves behind (see `bench/rss_1m.sh`).
    Prefill {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        messages: u64,
        #[arg(long, default_value_t = 5000)]
        senders: u64,
        #[arg(long, default_value = "100000000000001")]
        phone_number_id: String,
    },
    /// Entries per tree of a juru data directory (the server must be stopped).
    Stats {
        #[arg(long)]
        data: PathBuf,
    },
    /// Comparison table (with ratios and targets) of `run --json-out` lines.
    Report {
        /// JSON-lines file(s) written by `run --json-out`.
        files: Vec<PathBuf>,
        /// One row per `--rate` run instead (bench/open_loop.sh): offered and
        /// held rate, acks, replies and reply latency.
        #[arg(long)]
        open_loop: bool,
    },
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Name of this run in the report (`physical`, `durable`, `juru`, ...).
    #[arg(long, default_value = "run")]
    label: String,
    /// Webhook URL (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:18080/api/whatsapp/cloud")]
    target: String,
    /// Concurrent connections, one request in flight on each. Closed loop:
    /// all of them are opened and kept busy. With --rate: the most that may be
    /// open at once; they are opened only when a request is due and none is
    /// idle, so a large number (e.g. 512) costs nothing until it is needed.
    #[arg(long, short = 'c', default_value_t = 64)]
    connections: usize,
    /// Load duration in seconds (the measurement window).
    #[arg(long, short = 'd', default_value_t = 10.0)]
    duration: f64,
    /// Stop after this many requests instead (the window ends when they are done,
    /// or at --duration, whichever comes first).
    #[arg(long)]
    total: Option<u64>,
    /// Open loop: request i is due at i/R s after the start, whatever the
    /// server does (default: closed loop, as fast as the server answers). A
    /// due request goes out on an idle connection, or a new one while fewer
    /// than --connections are open; when all are busy it starts late, and the
    /// JSON reports `held_rate`, `schedule_lag_ms` and `rate_held` (a warning
    /// goes to stderr when the rate slipped). --connections must exceed
    /// rate × expected ack latency (e.g. 3000/s × 0.1 s = 300), or the server's
    /// slowness caps the rate.
    #[arg(long)]
    rate: Option<f64>,
    /// Distinct senders (62812xxxxxxx) the messages rotate over.
    #[arg(long, default_value_t = 5000)]
    senders: u64,
    /// HMAC-SHA256 key of X-Hub-Signature-256 (juru's `[cloud] app_secret`).
    #[arg(long, env = "BENCH_APP_SECRET", default_value = "bench-app-secret")]
    app_secret: String,
    /// `metadata.phone_number_id` of the webhooks (juru's `[cloud] phone_number_id`).
    #[arg(long, default_value = "100000000000001")]
    phone_number_id: String,
    /// Host a fake Graph API on 127.0.0.1:PORT and count the replies.
    #[arg(long)]
    fake_graph_port: Option<u16>,
    /// Bearer token the fake Graph API expects (juru's `[cloud] access_token`).
    #[arg(long, env = "BENCH_ACCESS_TOKEN", default_value = "bench-access-token")]
    access_token: String,
    /// After the window, wait at most this long for every accepted message's reply.
    #[arg(long, default_value_t = 120.0)]
    drain_timeout: f64,
    /// ... and give up earlier when no reply arrived for this long.
    #[arg(long, default_value_t = 15.0)]
    drain_idle: f64,
    /// Server process to sample (CPU from /proc/PID/stat, VmHWM/VmRSS from /proc/PID/status).
    #[arg(long)]
    pid: Option<u32>,
    /// Clock ticks per second of /proc/PID/stat (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
    /// Worker threads of the load generator's runtime (fake Graph API included).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Per-request timeout in seconds (a hung request counts as an error).
    #[arg(long, default_value_t = 30.0)]
    request_timeout: f64,
    /// Append the JSON result line to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Write every acked wamid to this file (for `verify`).
    #[arg(long)]
    acked_out: Option<PathBuf>,
    /// Print a progress line every N seconds (0 = never).
    #[arg(long, default_value_t = 0)]
    progress: u64,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => {
            let rt =
                tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads.max(1)).enable_all().build()?;
            rt.block_on(run(args))
        }
        Command::Wait { url, timeout } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(wait(&url, timeout))
        }
        Command::Probe { url, requests } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(probe(&url, requests))
        }
        Command::Verify { data, tree, acked, phone_number_id } => verify(&data, &tree, &acked, &phone_number_id),
        Command::Stats { data } => stats(&data),
        Command::Prefill { data, messages, senders, phone_number_id } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(prefill(&data, messages, senders, &phone_number_id))
        }
        Command::Report { files, open_loop } => report(&files, open_loop),
    }
}

// ------------------------------------------------------------------ URLs

/// `http://127.0.0.1:PORT/path` → (address, host header, path). Loopback only.
fn parse_url(url: &str) -> anyhow::Result<(SocketAddr, String, String)> {
    let rest = url.strip_prefix("http://").context("only http:// URLs are supported")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr: SocketAddr = host.parse().with_context(|| format!("`{host}` is not IP:PORT"))?;
    if !addr.ip().is_loopback() {
        bail!("refusing to load a non-loopback address {addr}");
    }
    Ok((addr, host.to_string(), path.to_string()))
}

// ------------------------------------------------------------ HTTP client

struct HttpResponse {
    status: u16,
    body: Vec<u8>,
    close: bool,
}

/// One keep-alive HTTP/1.1 connection, one request at a time.
struct HttpConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl HttpConn {
    async fn connect(addr: SocketAddr) -> std::io::Result<HttpConn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(HttpConn { stream, buf: Vec::with_capacity(4096) })
    }

    async fn fill(&mut self) -> std::io::Result<()> {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(4096);
        }
        let n = self.stream.read_buf(&mut self.buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    async fn roundtrip(&mut self, request: &[u8]) -> std::io::Result<HttpResponse> {
        self.stream.write_all(request).await?;
        self.buf.clear();
        let head_end = loop {
            if let Some(p) = find(&self.buf, b"\r\n\r\n") {
                break p + 4;
            }
            self.fill().await?;
        };
        let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        let head = std::str::from_utf8(&self.buf[..head_end]).map_err(|_| bad("non-UTF-8 head"))?;
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| bad("bad status line"))?;
        let (mut length, mut chunked, mut close) = (None, false, false);
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
        let body = if let Some(length) = length {
            while self.buf.len() < head_end + length {
                self.fill().await?;
            }
            self.buf[head_end..head_end + length].to_vec()
        } else if chunked {
            loop {
                if let Some(body) = dechunk(&self.buf[head_end..]) {
                    break body;
                }
                self.fill().await?;
            }
        } else {
            // Neither: the body runs to the end of the connection.
            while self.fill().await.is_ok() {}
            close = true;
            self.buf[head_end..].to_vec()
        };
        Ok(HttpResponse { status, body, close })
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The decoded body once every chunk (and the last, empty one) has arrived.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = find(data, b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return find(data, b"\r\n").map(|_| body);
        }
        if data.len() < size + 2 {
            return None;
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

async fn probe(url: &str, requests: usize) -> anyhow::Result<()> {
    let (addr, host, path) = parse_url(url)?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\n\r\n");
    let mut conn = HttpConn::connect(addr).await?;
    let mut ms = Vec::with_capacity(requests);
    for _ in 0..requests.max(1) {
        let started = Instant::now();
        let response = conn.roundtrip(request.as_bytes()).await?;
        ms.push(started.elapsed().as_secs_f64() * 1e3);
        if response.status != 200 {
            bail!("{url} answered HTTP {}", response.status);
        }
    }
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 * p).ceil() as usize).clamp(1, ms.len()) - 1];
    println!(
        "{{\"url\":\"{url}\",\"requests\":{},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3}}}",
        ms.len(),
        at(0.5),
        at(0.99),
        ms[ms.len() - 1]
    );
    Ok(())
}

async fn wait(url: &str, timeout: f64) -> anyhow::Result<()> {
    let (addr, host, path) = parse_url(url)?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        match HttpConn::connect(addr).await {
            Ok(mut conn) => match conn.roundtrip(request.as_bytes()).await {
                Ok(r) if r.status == 200 => return Ok(()),
                Ok(r) => last = format!("HTTP {}", r.status),
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{url} not ready after {timeout} s ({last})")
}

// ------------------------------------------------------------ the webhooks

/// A sender's k-th message is `TEXTS[k % 5]`: pre-sales questions that the
/// offline sales brain answers with one message each (a text, or for the
/// hotel question an interactive button message, plus brochures or a
/// location for two of them) and that never hand the chat over to a human,
/// so every accepted message is owed one answer (`ReplyTracker`).
const TEXTS: [&str; 5] = [
    "Halo kak, mau tanya paket umroh",
    "Berapa harga paket umroh bulan Maret?",
    "Fasilitas hotelnya apa saja kak?",
    "Lokasi kantornya di mana ya kak?",
    "Terima kasih infonya, nanti saya kabari lagi",
];

struct Generator {
    host: String,
    path: String,
    app_secret: String,
    phone_number_id: String,
    senders: u64,
    /// Random per run, so two runs never reuse a message id.
    tag: String,
}

impl Generator {
    fn wamid(&self, i: u64) -> String {
        format!("wamid.HBgN{}VAgARGB{i:016}AA==", self.tag)
    }

    fn sender(&self, i: u64) -> u64 {
        i % self.senders.max(1)
    }

    /// The number message `i` comes from (`from`, `wa_id`), 62812xxxxxxx: the
    /// `to` of its reply.
    fn phone(&self, i: u64) -> u64 {
        628_123_000_000 + self.sender(i)
    }

    /// One Cloud API notification carrying one text message, signed, as a full
    /// HTTP/1.1 request written into `out`.
    fn request(&self, i: u64, now_s: u64, out: &mut Vec<u8>) {
        let body = self.body(i, now_s);
        let signature = juru::channel::signature::sign_cloud(&self.app_secret, body.as_bytes());
        out.clear();
        out.extend_from_slice(
            format!(
                "POST {} HTTP/1.1\r\nhost: {}\r\nuser-agent: facebookexternalua\r\ncontent-type: application/json\r\nx-hub-signature-256: {}\r\ncontent-length: {}\r\n\r\n",
                self.path,
                self.host,
                signature,
                body.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(body.as_bytes());
    }

    /// The notification's JSON body.
    fn body(&self, i: u64, now_s: u64) -> String {
        let s = self.sender(i);
        let from = self.phone(i);
        format!(
            concat!(
                r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{{"value":"#,
                r#"{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"{pnid}"}},"#,
                r#""contacts":[{{"profile":{{"name":"Pelanggan {s}"}},"wa_id":"{from}"}}],"#,
                r#""messages":[{{"from":"{from}","id":"{id}","timestamp":"{ts}","text":{{"body":"{text}"}},"type":"text"}}]}},"#,
                r#""field":"messages"}}]}}]}}"#
            ),
            pnid = self.phone_number_id,
            s = s,
            from = from,
            id = self.wamid(i),
            ts = now_s,
            text = TEXTS[((i / self.senders.max(1)) % TEXTS.len() as u64) as usize],
        )
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Counters per second since the start of the load.
struct Timeline {
    t0: Instant,
    buckets: Vec<AtomicU64>,
}

impl Timeline {
    fn new(t0: Instant, seconds: usize) -> Timeline {
        Timeline { t0, buckets: (0..seconds.max(1)).map(|_| AtomicU64::new(0)).collect() }
    }

    fn bump(&self, at: Instant) {
        let i = at.saturating_duration_since(self.t0).as_secs() as usize;
        let i = i.min(self.buckets.len() - 1);
        self.buckets[i].fetch_add(1, Relaxed);
    }

    fn values(&self, seconds: usize) -> Vec<u64> {
        self.buckets.iter().take(seconds.max(1)).map(|b| b.load(Relaxed)).collect()
    }
}

// ------------------------------------------------------- reply latency

/// Times every accepted message until its answer. Replies carry no id of
/// the message they answer, so they are matched by recipient: per sender, a
/// FIFO of the instants at which its messages' requests were written, still
/// unanswered; a `type: text` or `type: interactive` message to that sender
/// (a turn's answer: juru answers some questions with a button message whose
/// body is the text, e.g. "Fasilitas hotelnya apa saja kak?") answers every
/// message in it sent before the reply arrived (juru's coalescing answers
/// several quick messages of a chat with one turn). Documents, images and
/// locations are attachments after the answer, not answers.
struct ReplyTracker {
    origin: Instant,
    state: Mutex<ReplyState>,
}

#[derive(Default)]
struct ReplyState {
    /// Sender's number → (message index, instant its request was written), oldest first.
    pending: HashMap<u64, VecDeque<(u64, Instant)>>,
    /// Entries in `pending`.
    unanswered: usize,
    answered: Vec<Answered>,
    /// Messages answered before their own (non-2xx) answer came back: left out at the end.
    refused_after_reply: HashSet<u64>,
}

struct Answered {
    i: u64,
    /// When its request was written, µs after `origin`.
    sent_us: u64,
    latency_us: u32,
}

impl ReplyTracker {
    fn new() -> ReplyTracker {
        ReplyTracker { origin: Instant::now(), state: Mutex::new(ReplyState::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReplyState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Message `i` of sender `phone` is about to be written: returns its send
    /// instant, taken under the lock so that each FIFO stays in time order.
    fn sent(&self, i: u64, phone: u64) -> Instant {
        let mut s = self.lock();
        let now = Instant::now();
        s.pending.entry(phone).or_default().push_back((i, now));
        s.unanswered += 1;
        now
    }

    /// Message `i` was not accepted (non-2xx, I/O error, timeout): no reply is owed.
    fn refused(&self, i: u64, phone: u64) {
        let mut s = self.lock();
        if let Some(q) = s.pending.get_mut(&phone)
            && let Some(at) = q.iter().position(|&(j, _)| j == i)
        {
            q.remove(at);
            if q.is_empty() {
                s.pending.remove(&phone);
            }
            s.unanswered -= 1;
            return;
        }
        s.refused_after_reply.insert(i);
    }

    /// Accepted messages not answered yet.
    fn unanswered(&self) -> usize {
        self.lock().unanswered
    }

    /// A turn's answer (text or interactive) to `phone` arrived at `at`.
    fn replied(&self, phone: u64, at: Instant) {
        let mut s = self.lock();
        let Some(mut q) = s.pending.remove(&phone) else { return };
        while let Some(&(i, sent)) = q.front() {
            if sent > at {
                break;
            }
            q.pop_front();
            s.unanswered -= 1;
            let latency = at.duration_since(sent).as_micros().min(u32::MAX as u128) as u32;
            let sent_us = sent.saturating_duration_since(self.origin).as_micros() as u64;
            s.answered.push(Answered { i, sent_us, latency_us: latency });
        }
        if !q.is_empty() {
            s.pending.insert(phone, q);
        }
    }

    /// (`reply_latency_ms`, `reply_latency_window_ms`): every accepted message,
    /// and those whose request was written before `window_end`.
    fn summary(&self, window_end: Instant) -> (Value, Value) {
        let s = self.lock();
        let end_us = window_end.saturating_duration_since(self.origin).as_micros() as u64;
        let (mut all, mut window, mut by_window_end) = (Vec::new(), Vec::new(), 0u64);
        for a in s.answered.iter().filter(|a| !s.refused_after_reply.contains(&a.i)) {
            all.push(a.latency_us);
            if a.sent_us <= end_us {
                window.push(a.latency_us);
                if a.sent_us + a.latency_us as u64 <= end_us {
                    by_window_end += 1;
                }
            }
        }
        let (mut unanswered, mut unanswered_window) = (0u64, 0u64);
        for &(_, sent) in s.pending.values().flatten() {
            unanswered += 1;
            if sent <= window_end {
                unanswered_window += 1;
            }
        }
        let mut window = latency_stats(window, unanswered_window);
        // Of those, answered while the load lasted.
        window["answered_by_window_end"] = json!(by_window_end);
        (latency_stats(all, unanswered), window)
    }
}

/// `{p50, p90, p99, max, mean, answered, unanswered}` in ms of latencies in µs.
fn latency_stats(mut us: Vec<u32>, unanswered: u64) -> Value {
    us.sort_unstable();
    let mean = if us.is_empty() { 0.0 } else { us.iter().map(|&l| l as u64).sum::<u64>() as f64 / us.len() as f64 };
    json!({
        "p50": percentile(&us, 50.0),
        "p90": percentile(&us, 90.0),
        "p99": percentile(&us, 99.0),
        "max": percentile(&us, 100.0),
        "mean": round(mean / 1000.0, 3),
        "answered": us.len(),
        "unanswered": unanswered,
    })
}

// ---------------------------------------------------------- fake Graph API

struct Graph {
    token: String,
    replies: Arc<ReplyTracker>,
    texts: AtomicU64,
    reads: AtomicU64,
    typing: AtomicU64,
    /// Non-text replies: documents, images, locations, interactive...
    media: AtomicU64,
    /// Of those, `type: interactive` (button messages: a turn's answer).
    interactive: AtomicU64,
    refused: AtomicU64,
    timeline: std::sync::OnceLock<Timeline>,
    /// When the last text or media message arrived, µs after the load started.
    last_reply_us: AtomicU64,
    /// When the last request of any kind (markers too) arrived, µs after the start.
    last_request_us: AtomicU64,
}

#[derive(Deserialize)]
struct GraphRequest {
    status: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    to: Option<String>,
    typing_indicator: Option<serde::de::IgnoredAny>,
}

async fn graph_messages(State(g): State<Arc<Graph>>, headers: HeaderMap, body: Bytes) -> Response {
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t == g.token);
    if !authorized {
        g.refused.fetch_add(1, Relaxed);
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"error":{"message":"Invalid OAuth access token","type":"OAuthException","code":190}}"#,
        )
            .into_response();
    }
    let Ok(req) = serde_json::from_slice::<GraphRequest>(&body) else {
        g.refused.fetch_add(1, Relaxed);
        return (StatusCode::BAD_REQUEST, r#"{"error":{"message":"bad json","code":100}}"#).into_response();
    };
    if let Some(t) = g.timeline.get() {
        g.last_request_us.fetch_max(Instant::now().saturating_duration_since(t.t0).as_micros() as u64, Relaxed);
    }
    let json_ok = |body: String| (StatusCode::OK, [("content-type", "application/json")], body).into_response();
    if req.status.as_deref() == Some("read") {
        if req.typing_indicator.is_some() {
            g.typing.fetch_add(1, Relaxed);
        } else {
            g.reads.fetch_add(1, Relaxed);
        }
        return json_ok(r#"{"success":true}"#.to_string());
    }
    let now = Instant::now();
    if matches!(req.kind.as_deref(), Some("text" | "interactive"))
        && let Some(phone) = req.to.as_deref().and_then(|to| to.trim_start_matches('+').parse::<u64>().ok())
    {
        g.replies.replied(phone, now);
    }
    let n = if req.kind.as_deref() == Some("text") {
        if let Some(t) = g.timeline.get() {
            t.bump(now);
        }
        g.texts.fetch_add(1, Relaxed)
    } else {
        if req.kind.as_deref() == Some("interactive") {
            g.interactive.fetch_add(1, Relaxed);
        }
        g.media.fetch_add(1, Relaxed) + (1 << 40)
    };
    if let Some(t) = g.timeline.get() {
        g.last_reply_us.fetch_max(now.saturating_duration_since(t.t0).as_micros() as u64, Relaxed);
    }
    let to = req.to.unwrap_or_default();
    json_ok(format!(
        r#"{{"messaging_product":"whatsapp","contacts":[{{"input":"{to}","wa_id":"{to}"}}],"messages":[{{"id":"wamid.FAKE{n:012}"}}]}}"#
    ))
}

async fn start_graph(port: u16, token: String, replies: Arc<ReplyTracker>) -> anyhow::Result<Arc<Graph>> {
    let graph = Arc::new(Graph {
        token,
        replies,
        texts: AtomicU64::new(0),
        reads: AtomicU64::new(0),
        typing: AtomicU64::new(0),
        media: AtomicU64::new(0),
        interactive: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        timeline: std::sync::OnceLock::new(),
        last_reply_us: AtomicU64::new(0),
        last_request_us: AtomicU64::new(0),
    });
    let app = Router::new().route("/{phone_number_id}/messages", post(graph_messages)).with_state(graph.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("fake Graph API cannot listen on 127.0.0.1:{port}"))?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(graph)
}

// ---------------------------------------------------------- /proc sampling

/// utime + stime of a process, in seconds.
fn proc_cpu(pid: &str, clk_tck: u64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clk_tck as f64)
}

/// A `Vm…:` line of /proc/PID/status, in MiB.
fn proc_mem_mb(pid: &str, key: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// (busy, total) jiffies of the whole machine from /proc/stat.
fn machine_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?;
    let v: Vec<u64> = cpu.split_whitespace().skip(1).take(8).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

fn machine_cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

// -------------------------------------------------------------- the run

struct Shared {
    generator: Generator,
    addr: SocketAddr,
    next: AtomicU64,
    total: Option<u64>,
    t0: Instant,
    deadline: Instant,
    request_timeout: Duration,
    acks: Timeline,
    acked: AtomicU64,
    record_ids: bool,
    /// With a fake Graph API: per-message reply latency.
    replies: Option<Arc<ReplyTracker>>,
}

#[derive(Default)]
struct WorkerResult {
    latencies_us: Vec<u32>,
    /// --rate: how late each request started after its scheduled instant.
    lag_us: Vec<u32>,
    /// Requests written to the server (the window: until the deadline).
    started: u64,
    started_in_window: u64,
    /// When the last request was written, µs after the start.
    last_start_us: u64,
    /// --rate: requests due in the window that could not start before it ended.
    not_started: u64,
    acked: u64,
    acked_in_window: u64,
    accepted_events: u64,
    duplicates: u64,
    statuses: BTreeMap<u16, u64>,
    io_errors: u64,
    timeouts: u64,
    connect_errors: u64,
    acked_ids: Vec<u64>,
}

impl WorkerResult {
    fn merge(&mut self, r: WorkerResult) {
        self.latencies_us.extend_from_slice(&r.latencies_us);
        self.lag_us.extend_from_slice(&r.lag_us);
        self.started += r.started;
        self.started_in_window += r.started_in_window;
        self.last_start_us = self.last_start_us.max(r.last_start_us);
        self.not_started += r.not_started;
        self.acked += r.acked;
        self.acked_in_window += r.acked_in_window;
        self.accepted_events += r.accepted_events;
        self.duplicates += r.duplicates;
        self.io_errors += r.io_errors;
        self.timeouts += r.timeouts;
        self.connect_errors += r.connect_errors;
        for (status, n) in r.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.acked_ids.extend(r.acked_ids);
    }
}

/// Closed loop: one connection, the next request as soon as the answer came.
async fn worker(shared: Arc<Shared>) -> WorkerResult {
    let mut result = WorkerResult::default();
    let mut conn: Option<HttpConn> = None;
    let mut request = Vec::with_capacity(2048);
    while Instant::now() < shared.deadline {
        if conn.is_none() {
            match HttpConn::connect(shared.addr).await {
                Ok(c) => conn = Some(c),
                Err(_) => {
                    result.connect_errors += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            }
        }
        let i = shared.next.fetch_add(1, Relaxed);
        if shared.total.is_some_and(|total| i >= total) {
            break;
        }
        send_one(&shared, &mut conn, i, None, &mut request, &mut result).await;
    }
    result
}

/// Open loop (`--rate`): request i is due at t0 + i/rate, whatever the server
/// does. It goes out on an idle connection, or on a new one while fewer than
/// `connections` are open; when every one is busy it waits for one (and
/// starts late: `lag_us`). Nothing starts after the deadline.
async fn open_loop(shared: Arc<Shared>, rate: f64, connections: usize) -> WorkerResult {
    let slots = connections.clamp(1, 1 << 20) as u32;
    let free = Arc::new(tokio::sync::Semaphore::new(slots as usize));
    let idle: Arc<Mutex<Vec<HttpConn>>> = Arc::new(Mutex::new(Vec::new()));
    let merged = Arc::new(Mutex::new(WorkerResult::default()));
    let window = shared.deadline.duration_since(shared.t0).as_secs_f64();
    let due_in_window = ((window * rate).ceil() as u64).min(shared.total.unwrap_or(u64::MAX));
    let mut not_started = 0;
    let mut i = 0u64;
    while i < due_in_window {
        let at = shared.t0 + Duration::from_secs_f64(i as f64 / rate);
        if at >= shared.deadline {
            break;
        }
        tokio::time::sleep_until(at.into()).await;
        let Ok(slot) = free.clone().acquire_owned().await else { break };
        if Instant::now() >= shared.deadline {
            not_started = due_in_window - i;
            break;
        }
        let (shared, idle, merged) = (shared.clone(), idle.clone(), merged.clone());
        tokio::spawn(async move {
            let mut result = WorkerResult::default();
            let mut conn = idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            if conn.is_none() {
                match HttpConn::connect(shared.addr).await {
                    Ok(c) => conn = Some(c),
                    Err(_) => result.connect_errors += 1,
                }
            }
            let mut request = Vec::with_capacity(2048);
            send_one(&shared, &mut conn, i, Some(at), &mut request, &mut result).await;
            if let Some(c) = conn {
                idle.lock().unwrap_or_else(|e| e.into_inner()).push(c);
            }
            merged.lock().unwrap_or_else(|e| e.into_inner()).merge(result);
            drop(slot);
        });
        i += 1;
    }
    // Every request has finished once every slot is free again.
    let _ = free.acquire_many(slots).await;
    let mut result = std::mem::take(&mut *merged.lock().unwrap_or_else(|e| e.into_inner()));
    result.not_started = not_started;
    result
}

/// Writes request `i` on `conn` (nothing when it is not open) and records the
/// answer. `scheduled`: when it was due (`--rate`).
async fn send_one(
    shared: &Shared,
    conn: &mut Option<HttpConn>,
    i: u64,
    scheduled: Option<Instant>,
    request: &mut Vec<u8>,
    result: &mut WorkerResult,
) {
    let Some(c) = conn.as_mut() else { return };
    shared.generator.request(i, unix_now(), request);
    let phone = shared.generator.phone(i);
    // The send instant, in the sender's FIFO before the request is written:
    // the reply may arrive before the ack is read.
    let started = match &shared.replies {
        Some(r) => r.sent(i, phone),
        None => Instant::now(),
    };
    result.started += 1;
    if started <= shared.deadline {
        result.started_in_window += 1;
    }
    result.last_start_us = result.last_start_us.max(started.duration_since(shared.t0).as_micros() as u64);
    if let Some(at) = scheduled {
        result.lag_us.push(started.saturating_duration_since(at).as_micros().min(u32::MAX as u128) as u32);
    }
    let answer = tokio::time::timeout(shared.request_timeout, c.roundtrip(request)).await;
    let done = Instant::now();
    let mut owed_reply = false;
    match answer {
        Ok(Ok(response)) => {
            if (200..300).contains(&response.status) {
                let micros = done.duration_since(started).as_micros();
                result.latencies_us.push(micros.min(u32::MAX as u128) as u32);
                result.acked += 1;
                if done <= shared.deadline {
                    result.acked_in_window += 1;
                }
                shared.acks.bump(done);
                shared.acked.fetch_add(1, Relaxed);
                let (accepted, duplicates) = accept_report(&response.body);
                result.accepted_events += accepted;
                result.duplicates += duplicates;
                owed_reply = accepted > 0;
                if shared.record_ids {
                    result.acked_ids.push(i);
                }
            } else {
                *result.statuses.entry(response.status).or_default() += 1;
            }
            if response.close {
                *conn = None;
            }
        }
        Ok(Err(_)) => {
            result.io_errors += 1;
            *conn = None;
        }
        Err(_) => {
            result.timeouts += 1;
            *conn = None;
        }
    }
    if !owed_reply && let Some(r) = &shared.replies {
        r.refused(i, phone);
    }
}

/// `Some(true)` when the server's `/healthz` reports `inbox_depth` and
/// `outbox_depth` both 0; `None` when it does not report them.
async fn queues_empty(url: &str) -> Option<bool> {
    let (addr, host, path) = parse_url(url).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    let mut conn = HttpConn::connect(addr).await.ok()?;
    let response = tokio::time::timeout(Duration::from_secs(5), conn.roundtrip(request.as_bytes())).await.ok()?.ok()?;
    let v: Value = serde_json::from_slice(&response.body).ok()?;
    let (inbox, outbox) = (v["inbox_depth"].as_u64()?, v["outbox_depth"].as_u64()?);
    Some(inbox == 0 && outbox == 0)
}

/// `{"accepted":1,"duplicates":0,...}` → (accepted, duplicates); a body
/// without them (e.g. an empty 200) counts as one accepted event.
fn accept_report(body: &[u8]) -> (u64, u64) {
    #[derive(Deserialize)]
    struct Report {
        accepted: Option<u64>,
        duplicates: Option<u64>,
    }
    match serde_json::from_slice::<Report>(body) {
        Ok(r) => (r.accepted.unwrap_or(1), r.duplicates.unwrap_or(0)),
        Err(_) => (1, 0),
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

struct Snapshot {
    at: Instant,
    server_cpu: Option<f64>,
    own_cpu: Option<f64>,
    machine: Option<(u64, u64)>,
    texts: u64,
}

fn snapshot(args: &RunArgs, graph: Option<&Graph>) -> Snapshot {
    let pid = args.pid.map(|p| p.to_string());
    Snapshot {
        at: Instant::now(),
        server_cpu: pid.as_deref().and_then(|p| proc_cpu(p, args.clk_tck)),
        own_cpu: proc_cpu("self", args.clk_tck),
        machine: machine_jiffies(),
        texts: graph.map_or(0, |g| g.texts.load(Relaxed)),
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let (addr, host, path) = parse_url(&args.target)?;
    let tracker = args.fake_graph_port.map(|_| Arc::new(ReplyTracker::new()));
    let graph = match (args.fake_graph_port, &tracker) {
        (Some(port), Some(t)) => Some(start_graph(port, args.access_token.clone(), t.clone()).await?),
        _ => None,
    };
    let tag = uuid::Uuid::new_v4().simple().to_string()[..16].to_uppercase();
    let generator = Generator {
        host,
        path,
        app_secret: args.app_secret.clone(),
        phone_number_id: args.phone_number_id.clone(),
        senders: args.senders,
        tag,
    };
    let duration = Duration::from_secs_f64(args.duration);
    let horizon = (args.duration + args.drain_timeout + args.request_timeout) as usize + 2;
    let t0 = Instant::now();
    let shared = Arc::new(Shared {
        generator,
        addr,
        next: AtomicU64::new(0),
        total: args.total,
        t0,
        deadline: t0 + duration,
        request_timeout: Duration::from_secs_f64(args.request_timeout),
        acks: Timeline::new(t0, horizon),
        acked: AtomicU64::new(0),
        record_ids: args.acked_out.is_some(),
        replies: tracker.clone(),
    });
    let rate = args.rate.filter(|r| *r > 0.0);
    if let Some(g) = &graph {
        let _ = g.timeline.set(Timeline::new(t0, horizon));
    }
    let start = snapshot(&args, graph.as_deref());
    let mut workers = tokio::task::JoinSet::new();
    match rate {
        Some(rate) => {
            workers.spawn(open_loop(shared.clone(), rate, args.connections));
        }
        None => {
            for _ in 0..args.connections.max(1) {
                workers.spawn(worker(shared.clone()));
            }
        }
    }

    // Progress lines for long runs.
    let progress = (args.progress > 0).then(|| {
        let (shared, graph, every) = (shared.clone(), graph.clone(), args.progress);
        let pid = args.pid.map(|p| p.to_string());
        tokio::spawn(async move {
            let mut last = 0u64;
            loop {
                tokio::time::sleep(Duration::from_secs(every)).await;
                let acked = shared.acked.load(Relaxed);
                let texts = graph.as_ref().map_or(0, |g| g.texts.load(Relaxed));
                let rss = pid.as_deref().and_then(|p| proc_mem_mb(p, "VmRSS:"));
                eprintln!(
                    "[{:>6.0} s] acked {acked} ({:.0}/s over the last {every} s), replies {texts}, server RSS {} MiB",
                    t0.elapsed().as_secs_f64(),
                    (acked - last) as f64 / every as f64,
                    rss.map_or("?".to_string(), |r| format!("{r:.1}")),
                );
                last = acked;
            }
        })
    });

    // The window ends at the deadline, or earlier when --total requests are done.
    let mut results = Vec::new();
    let window_end = loop {
        tokio::select! {
            _ = tokio::time::sleep_until(shared.deadline.into()) => break snapshot(&args, graph.as_deref()),
            joined = workers.join_next() => match joined {
                Some(r) => results.push(r?),
                None => break snapshot(&args, graph.as_deref()),
            },
        }
    };
    while let Some(r) = workers.join_next().await {
        results.push(r?);
    }
    let load_end = snapshot(&args, graph.as_deref());
    let window_s = window_end.at.duration_since(t0).as_secs_f64();

    let mut total = WorkerResult::default();
    for r in results {
        total.merge(r);
    }
    if args.total.is_some() {
        // Every request finished inside the window (or the deadline cut it).
        total.acked_in_window = total.acked;
    }
    let mut latencies = std::mem::take(&mut total.latencies_us);
    latencies.sort_unstable();
    let sent = total.started;

    // Drain: wait until every accepted message got its answer, or the
    // server says nothing is left to do (`/healthz` inbox and outbox depths,
    // when it reports them), or replies stop coming, or the time is up.
    let mut drained = None;
    let mut drain_s = 0.0;
    let mut drain_end = "";
    if let Some(g) = &graph {
        let drain_start = Instant::now();
        let give_up = drain_start + Duration::from_secs_f64(args.drain_timeout);
        // Any reply (text, interactive or media) counts as progress.
        let replies_so_far = || g.texts.load(Relaxed) + g.media.load(Relaxed);
        let mut last_count = replies_so_far();
        let mut last_change = Instant::now();
        let mut last_health = Instant::now();
        let health_url = format!("http://{}/healthz", shared.addr);
        loop {
            let count = replies_so_far();
            if g.replies.unanswered() == 0 {
                (drained, drain_end) = (Some(true), "every accepted message got its answer (text or interactive)");
                break;
            }
            if count != last_count {
                last_count = count;
                last_change = Instant::now();
            }
            // A message may get no answer at all (a hand-over to a human, a
            // server that only acks): then the end is an empty inbox and
            // outbox with no Graph call for QUIET (longer than juru's
            // coalescing window).
            const QUIET: Duration = Duration::from_secs(3);
            let since_last_call = t0.elapsed().saturating_sub(Duration::from_micros(g.last_request_us.load(Relaxed)));
            if since_last_call >= QUIET && last_health.elapsed() >= Duration::from_millis(250) {
                last_health = Instant::now();
                if queues_empty(&health_url).await == Some(true) {
                    (drained, drain_end) =
                        (Some(true), "server reports empty inbox and outbox, Graph API quiet for 3 s");
                    break;
                }
            }
            if Instant::now() >= give_up || last_change.elapsed() > Duration::from_secs_f64(args.drain_idle) {
                (drained, drain_end) = (Some(false), "gave up waiting");
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // From the end of the window to the last reply (or to giving up).
        drain_s = if drained == Some(true) {
            let last = Duration::from_micros(g.last_reply_us.load(Relaxed));
            (last.as_secs_f64() - window_end.at.duration_since(t0).as_secs_f64()).max(0.0)
        } else {
            window_end.at.elapsed().as_secs_f64()
        };
    }
    if let Some(p) = progress {
        p.abort();
    }
    let end = snapshot(&args, graph.as_deref());
    let pid = args.pid.map(|p| p.to_string());
    let hwm = pid.as_deref().and_then(|p| proc_mem_mb(p, "VmHWM:"));
    let rss = pid.as_deref().and_then(|p| proc_mem_mb(p, "VmRSS:"));

    let cpu_delta = |a: &Snapshot, b: &Snapshot| match (a.server_cpu, b.server_cpu) {
        (Some(x), Some(y)) => Some(y - x),
        _ => None,
    };
    let server_cpu_window = cpu_delta(&start, &window_end);
    let server_cpu_total = cpu_delta(&start, &end);
    let own_cpu_window = match (start.own_cpu, window_end.own_cpu) {
        (Some(x), Some(y)) => Some(y - x),
        _ => None,
    };
    let machine_busy = match (start.machine, window_end.machine) {
        (Some((b0, t0j)), Some((b1, t1j))) if t1j > t0j => {
            Some((b1 - b0) as f64 / (t1j - t0j) as f64 * machine_cores() as f64)
        }
        _ => None,
    };
    let acks_per_s = total.acked_in_window as f64 / window_s;
    let mean_ms = if latencies.is_empty() {
        0.0
    } else {
        latencies.iter().map(|&l| l as u64).sum::<u64>() as f64 / latencies.len() as f64 / 1000.0
    };
    let seconds = window_s.ceil() as usize;

    // --rate: the rate really held, and how late the requests started.
    let pacing = rate.map(|rate| {
        // With --total the window runs until the last answer: count the
        // schedule's span instead (the last start plus one interval).
        let span = match args.total {
            Some(_) => (total.last_start_us as f64 / 1e6 + 1.0 / rate).min(window_s),
            None => window_s,
        };
        let held = total.started_in_window as f64 / span.max(1e-9);
        let mut lag = std::mem::take(&mut total.lag_us);
        lag.sort_unstable();
        let (p50, p99, max) = (percentile(&lag, 50.0), percentile(&lag, 99.0), percentile(&lag, 100.0));
        let held_ok = held >= 0.98 * rate && p99 <= 100.0;
        if !held_ok {
            eprintln!(
                "loadgen: WARNING: rate NOT held: offered {rate}/s, held {held:.1}/s ({:.1} %), schedule lag p99 {p99:.1} ms, max {max:.1} ms, {} requests due in the window never started. The server (or loadgen itself) did not keep up: with {} connections, connections ÷ ack latency is below the rate (raise --connections, or lower --rate).",
                held / rate * 100.0,
                total.not_started,
                args.connections,
            );
        }
        (rate, held, json!({"p50": p50, "p99": p99, "max": max}), held_ok)
    });
    let reply_latency = tracker.as_ref().map(|t| t.summary(window_end.at));
    let replies = graph.as_ref().map(|g| {
        let texts_in_window = window_end.texts - start.texts;
        let replies_per_s = texts_in_window as f64 / window_s;
        json!({
            "texts_in_window": texts_in_window,
            "texts_total": g.texts.load(Relaxed),
            "reads_total": g.reads.load(Relaxed),
            "typing_total": g.typing.load(Relaxed),
            "media_total": g.media.load(Relaxed),
            "interactive_total": g.interactive.load(Relaxed),
            // 1.0 when every message got its own turn; lower when juru's
            // coalescing answered several messages of a chat with one turn.
            "texts_over_accepted": round(g.texts.load(Relaxed) as f64 / total.accepted_events.max(1) as f64, 3),
            "drain_end": drain_end,
            "refused_total": g.refused.load(Relaxed),
            "replies_per_s": round(replies_per_s, 1),
            "replies_over_acks": round(if acks_per_s > 0.0 { replies_per_s / acks_per_s } else { 0.0 }, 3),
            "backlog_at_window_end": total.accepted_events.saturating_sub(texts_in_window),
            "drained": drained,
            "drain_s": round(drain_s, 2),
            "timeline_texts_per_s": g.timeline.get().map(|t| t.values(seconds)),
            // Per accepted message: from the write of its request to the
            // first text or interactive message to its sender after it
            // (see ReplyTracker).
            "reply_latency_ms": reply_latency.as_ref().map(|r| r.0.clone()),
            "reply_latency_window_ms": reply_latency.as_ref().map(|r| r.1.clone()),
        })
    });
    let per_msg = |cpu: Option<f64>, n: u64| cpu.filter(|_| n > 0).map(|c| round(c / n as f64 * 1e6, 1));
    let result = json!({
        "label": args.label,
        "target": args.target,
        "connections": args.connections,
        "duration_s": args.duration,
        "window_s": round(window_s, 3),
        "requests_sent": sent,
        "requests_started_in_window": total.started_in_window,
        "offered_rate": pacing.as_ref().map(|p| p.0),
        "held_rate": pacing.as_ref().map(|p| round(p.1, 1)),
        "schedule_lag_ms": pacing.as_ref().map(|p| p.2.clone()),
        "rate_held": pacing.as_ref().map(|p| p.3),
        "not_started": pacing.as_ref().map(|_| total.not_started),
        "acked": total.acked,
        "acked_in_window": total.acked_in_window,
        "acks_per_s": round(acks_per_s, 1),
        "accepted_events": total.accepted_events,
        "duplicates": total.duplicates,
        "errors": {
            "http_status": total.statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "io": total.io_errors,
            "timeouts": total.timeouts,
            "connect": total.connect_errors,
        },
        "latency_ms": {
            "p50": percentile(&latencies, 50.0),
            "p90": percentile(&latencies, 90.0),
            "p99": percentile(&latencies, 99.0),
            "p999": percentile(&latencies, 99.9),
            "max": percentile(&latencies, 100.0),
            "mean": round(mean_ms, 3),
        },
        "replies": replies,
        "server": {
            "pid": args.pid,
            "cpu_s_window": server_cpu_window.map(|c| round(c, 2)),
            "cpu_s_total": server_cpu_total.map(|c| round(c, 2)),
            "cores_used_window": server_cpu_window.map(|c| round(c / window_s, 2)),
            "cpu_us_per_msg": per_msg(server_cpu_total, total.acked),
            "cpu_us_per_msg_window": per_msg(server_cpu_window, total.acked_in_window),
            "vm_hwm_mb": hwm.map(|m| round(m, 1)),
            "vm_rss_mb": rss.map(|m| round(m, 1)),
        },
        "loadgen": {
            "threads": args.threads,
            "cpu_s_window": own_cpu_window.map(|c| round(c, 2)),
            "cores_used_window": own_cpu_window.map(|c| round(c / window_s, 2)),
        },
        "machine": {
            "cores": machine_cores(),
            "busy_cores_window": machine_busy.map(|b| round(b, 2)),
            // What neither the server nor the load generator used: other work
            // on the machine (builds, tests) that skews the figures.
            "other_cores_window": machine_busy.map(|b| {
                let ours = server_cpu_window.unwrap_or(0.0) + own_cpu_window.unwrap_or(0.0);
                round((b - ours / window_s).max(0.0), 2)
            }),
        },
        "load_end_after_window_s": round(load_end.at.duration_since(window_end.at).as_secs_f64(), 3),
        "timeline_acks_per_s": shared.acks.values(seconds),
    });
    let line = serde_json::to_string(&result)?;
    println!("{line}");
    if let Some(path) = &args.json_out {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(f, "{line}")?;
    }
    if let Some(path) = &args.acked_out {
        let mut text = String::with_capacity(total.acked_ids.len() * 48);
        for i in &total.acked_ids {
            text.push_str(&shared.generator.wamid(*i));
            text.push('\n');
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    print_run_table(&result);
    Ok(())
}

fn f(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if x.fract() == 0.0 && x.abs() < 1e15 {
                format!("{}", x as i64)
            } else if x.abs() >= 100.0 {
                format!("{x:.0}")
            } else {
                format!("{x:.2}")
            }
        }
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `v[k1] / v[k2] / …`, or null when `v` is.
fn slash(v: &Value, keys: &[&str]) -> Value {
    if v.is_null() {
        return Value::Null;
    }
    json!(keys.iter().map(|k| f(&v[*k])).collect::<Vec<_>>().join(" / "))
}

fn print_run_table(r: &Value) {
    let rows: Vec<(&str, Value)> = vec![
        ("label", r["label"].clone()),
        ("acked webhooks/s", r["acks_per_s"].clone()),
        ("acked (in window / total)", json!(format!("{} / {}", f(&r["acked_in_window"]), f(&r["acked"])))),
        (
            "offered / held rate /s",
            if r["offered_rate"].is_null() { Value::Null } else { slash(r, &["offered_rate", "held_rate"]) },
        ),
        ("schedule lag p50 / p99 / max ms", slash(&r["schedule_lag_ms"], &["p50", "p99", "max"])),
        ("rate held", r["rate_held"].clone()),
        ("ack latency p50 ms", r["latency_ms"]["p50"].clone()),
        ("ack latency p99 ms", r["latency_ms"]["p99"].clone()),
        (
            "ack latency p99.9 / max ms",
            json!(format!("{} / {}", f(&r["latency_ms"]["p999"]), f(&r["latency_ms"]["max"]))),
        ),
        ("replies delivered/s (window)", r["replies"]["replies_per_s"].clone()),
        ("replies/s ÷ acks/s", r["replies"]["replies_over_acks"].clone()),
        ("reply backlog at window end", r["replies"]["backlog_at_window_end"].clone()),
        ("text replies ÷ accepted (after drain)", r["replies"]["texts_over_accepted"].clone()),
        (
            "all replies delivered, after s",
            json!(format!("{} ({})", f(&r["replies"]["drained"]), f(&r["replies"]["drain_s"]))),
        ),
        ("reply latency p50/p99/max ms", slash(&r["replies"]["reply_latency_ms"], &["p50", "p99", "max"])),
        ("replies answered / unanswered msgs", slash(&r["replies"]["reply_latency_ms"], &["answered", "unanswered"])),
        ("server CPU µs/msg (incl. drain)", r["server"]["cpu_us_per_msg"].clone()),
        ("server cores used (window)", r["server"]["cores_used_window"].clone()),
        ("loadgen cores used (window)", r["loadgen"]["cores_used_window"].clone()),
        ("machine busy cores (window)", r["machine"]["busy_cores_window"].clone()),
        ("other processes' cores (window)", r["machine"]["other_cores_window"].clone()),
        ("server peak RSS MiB (VmHWM)", r["server"]["vm_hwm_mb"].clone()),
        ("errors", r["errors"].clone()),
    ];
    for (k, v) in rows {
        println!("  {k:<37} {}", f(&v));
    }
}

// ------------------------------------------------------------ verify, stats

fn verify(data: &Path, tree: &str, acked: &Path, phone_number_id: &str) -> anyhow::Result<()> {
    let ids = std::fs::read_to_string(acked).with_context(|| format!("reading {}", acked.display()))?;
    let store = juru::store::Store::open(data)?;
    let Some(name) = juru::store::TreeName::parse(tree) else { bail!("no tree named `{tree}`") };
    let t = store.read(name);
    let (mut checked, mut missing) = (0u64, Vec::new());
    for id in ids.lines().filter(|l| !l.is_empty()) {
        checked += 1;
        let key = format!("msg:{phone_number_id}:{id}");
        if t.get(key.as_bytes())?.is_none() {
            missing.push(id.to_string());
        }
    }
    println!("{}", json!({"tree": tree, "acked": checked, "missing": missing.len(), "first_missing": missing.first()}));
    store.close();
    if !missing.is_empty() {
        bail!("{} of {checked} acked messages are not in `{tree}`", missing.len());
    }
    Ok(())
}

/// Per message, what a handled inbound text leaves in juru's trees (layout in
/// `juru::store`): `seen` (dedupe mark), `messages` (the inbound audit record
/// and the text reply as sent; markers leave no record),
/// `delivery` (the reply's gateway id), and per sender `contacts` and
/// `conversations`. Records are built with juru's own types from the same
/// webhook bodies `run` sends; the inbound record carries no sales-turn
/// detail and the reply text is a fixed 330-character answer.
async fn prefill(data: &Path, messages: u64, senders: u64, phone_number_id: &str) -> anyhow::Result<()> {
    use juru::channel::{Channel, DeliveryState, Event};
    use juru::crm::{Contact, Touch};
    use juru::runtime::audit::{AuditRecord, Direction};
    use juru::store::{TreeName, Wait, Write, chat_seq_key, encode};

    const REPLY: &str = "Baik kak, untuk rencana tersebut paket yang cocok: Paket Umroh Maret Hemat, Rp 25.000.000, \
        berangkat Maret, 9 hari, hotel bintang 3 600 m dari Masjidil Haram, pesawat transit 1x, muthawif \
        berpengalaman. Sudah termasuk visa, asuransi dan perlengkapan. Mau saya kirimkan brosur dan itinerary \
        lengkapnya, kak? Atau ada tanggal lain yang diinginkan?";
    let generator = Generator {
        host: String::new(),
        path: String::new(),
        app_secret: String::new(),
        phone_number_id: phone_number_id.to_string(),
        senders,
        tag: uuid::Uuid::new_v4().simple().to_string()[..16].to_uppercase(),
    };
    let store = juru::store::Store::open(data)?;
    let started = Instant::now();
    let mut contacts: std::collections::HashMap<String, Contact> = std::collections::HashMap::new();
    let chunk = 20_000u64;
    let mut i = 0u64;
    while i < messages {
        let end = (i + chunk).min(messages);
        let mut writes = Vec::new();
        let now = juru::runtime::now_ms();
        for n in i..end {
            let events = juru::channel::cloud::parse(generator.body(n, now / 1000).as_bytes())?;
            let Some(Event::Message(inbound)) = events.into_iter().next() else {
                bail!("the generated webhook did not parse into a message");
            };
            let chat = inbound.chat.key();
            let key = format!("msg:{}:{}", inbound.account, inbound.id);
            writes.push(Write::Put(TreeName::Seen, key.into_bytes(), now.to_be_bytes().to_vec()));
            let seq = store.next_seq()?;
            let record = AuditRecord::inbound(seq, &inbound, "conversation", now);
            writes.push(Write::Put(TreeName::Messages, chat_seq_key(&chat, seq), encode(&record)));
            // Read receipts and typing indicators leave no record (issue 13): the text reply only.
            let seq = store.next_seq()?;
            let mut out = AuditRecord::inbound(seq, &inbound, "conversation", now);
            out.direction = Direction::Out;
            out.kind = "text".into();
            out.route = None;
            out.status = Some("sent".into());
            out.phase = Some("interest".into());
            out.text = Some(REPLY.to_string());
            let remote = format!("wamid.FAKE{seq:012}");
            out.message_id = Some(remote.clone());
            let record = juru::runtime::delivery::merge(None, DeliveryState::Sent, None, now);
            let record = juru::runtime::delivery::DeliveryRecord { chat: Some(chat.clone()), seq: Some(seq), ..record };
            let key = juru::runtime::delivery::key(Channel::Cloud, &remote);
            writes.push(Write::Put(TreeName::Delivery, key, encode(&record)));
            writes.push(Write::Put(TreeName::Messages, chat_seq_key(&chat, seq), encode(&out)));
            let contact = contacts.remove(&chat);
            let touch = Touch {
                key: chat.clone(),
                phone: inbound.sender.phone().map(|p| p.to_string()),
                user_id: None,
                name: inbound.sender_name.clone(),
                channel: inbound.channel.into(),
                referral: inbound.referral.as_ref().map(Into::into),
                text: inbound.text().map(str::to_string),
                feature_used: false,
                campaign_source: None,
                now_ms: now,
                opt_in: true,
            };
            contacts.insert(chat.clone(), Contact::touched(contact, &touch));
        }
        store.commit.commit_with(writes, Wait::Applied).await?;
        i = end;
        if i.is_multiple_of(100_000) || i == messages {
            eprintln!("[{:>5.0} s] {i} messages written", started.elapsed().as_secs_f64());
        }
    }
    let mut writes = Vec::new();
    let phases = [juru::sales::Phase::Leads, juru::sales::Phase::Interest, juru::sales::Phase::Booking];
    for (n, (chat, contact)) in contacts.iter().enumerate() {
        writes.push(Write::Put(TreeName::Contacts, chat.as_bytes().to_vec(), encode(contact)));
        // Spread over the phases; one chat in a hundred handed over to a human.
        let state = juru::router::ChatState {
            phase: phases[n % 3],
            last_inbound_ms: contact.last_seen_ms,
            inbound_count: contact.messages,
            handed_over: n % 100 == 0,
            handover_reason: (n % 100 == 0).then(|| "payment intent".to_string()),
            ..juru::router::ChatState::default()
        };
        writes.push(Write::Put(TreeName::Conversations, chat.as_bytes().to_vec(), encode(&state)));
    }
    store.commit.commit_with(writes, Wait::Applied).await?;
    store.durable().await?;
    println!(
        "{}",
        json!({"messages_written": messages, "seconds": round(started.elapsed().as_secs_f64(), 1), "size_on_disk_mb": round(store.size_on_disk() as f64 / 1048576.0, 1)})
    );
    store.close();
    Ok(())
}

fn stats(data: &Path) -> anyhow::Result<()> {
    let store = juru::store::Store::open(data)?;
    let mut out = serde_json::Map::new();
    use juru::store::TreeName::*;
    for tree in [Inbox, Seen, Outbox, Dead, Delivery, Conversations, Messages, Contacts, Lids] {
        out.insert(tree.as_str().into(), json!(store.read(tree).len()));
    }
    // What the records themselves weigh (keys + values), beside what sled makes of them on disk.
    let mut bytes = serde_json::Map::new();
    for tree in juru::store::TreeName::ALL {
        let mut total = 0u64;
        for entry in store.read(tree).iter() {
            let (k, v) = entry?;
            total += (k.len() + v.len()) as u64;
        }
        if total > 0 {
            bytes.insert(tree.as_str().into(), json!(total));
        }
    }
    out.insert("record_bytes".into(), Value::Object(bytes));
    out.insert("size_on_disk_mb".into(), json!(round(store.size_on_disk() as f64 / 1048576.0, 1)));
    println!("{}", Value::Object(out));
    store.close();
    Ok(())
}

// ------------------------------------------------------------------ report

/// "none", or the non-2xx statuses and failures of a run.
fn errors_cell(r: &Value) -> String {
    let errors = &r["errors"];
    let mut e = Vec::new();
    if let Some(m) = errors["http_status"].as_object() {
        for (k, v) in m {
            e.push(format!("HTTP {k}: {v}"));
        }
    }
    for k in ["io", "timeouts", "connect"] {
        if errors[k].as_u64().unwrap_or(0) > 0 {
            e.push(format!("{k}: {}", errors[k]));
        }
    }
    if e.is_empty() { "none".into() } else { e.join(", ") }
}

/// "all replied after": seconds after the window, "not all", or "-".
fn drained_cell(r: &Value) -> String {
    match (&r["replies"]["drained"], &r["replies"]["drain_s"]) {
        (Value::Bool(true), s) => format!("{} s", f(s)),
        (Value::Bool(false), _) => "not all".into(),
        _ => "-".into(),
    }
}

/// One row per `run --rate` result (bench/open_loop.sh).
fn report_open_loop(runs: &[Value]) {
    println!(
        "| run | offered /s | held /s | rate held | acked webhooks/s | p99 ack ms | replies delivered/s | reply latency p50/p99/max ms | unanswered | all replied after | CPU µs/msg | peak RSS MiB | errors |"
    );
    println!("| --- | ---: | ---: | :---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for r in runs {
        let held = match &r["rate_held"] {
            Value::Bool(true) => "yes".to_string(),
            Value::Bool(false) => format!("**NO** (lag p99 {} ms)", f(&r["schedule_lag_ms"]["p99"])),
            _ => "-".into(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            f(&r["label"]),
            f(&r["offered_rate"]),
            f(&r["held_rate"]),
            held,
            f(&r["acks_per_s"]),
            f(&r["latency_ms"]["p99"]),
            f(&r["replies"]["replies_per_s"]),
            f(&slash(&r["replies"]["reply_latency_ms"], &["p50", "p99", "max"])),
            f(&r["replies"]["reply_latency_ms"]["unanswered"]),
            drained_cell(r),
            f(&r["server"]["cpu_us_per_msg"]),
            f(&r["server"]["vm_hwm_mb"]),
            errors_cell(r),
        );
    }
}

fn report(files: &[PathBuf], open_loop: bool) -> anyhow::Result<()> {
    let mut runs: Vec<Value> = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            runs.push(serde_json::from_str(line)?);
        }
    }
    if open_loop {
        report_open_loop(&runs);
        return Ok(());
    }
    let get = |label: &str| runs.iter().rev().find(|r| r["label"] == label);
    println!(
        "| server | acked webhooks/s | p50 ms | p99 ms | replies delivered/s | replies ÷ acks | all replied after | reply latency p50/p99/max ms | CPU µs/msg | server cores | loadgen cores | other cores | peak RSS MiB | errors |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for r in &runs {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            f(&r["label"]),
            f(&r["acks_per_s"]),
            f(&r["latency_ms"]["p50"]),
            f(&r["latency_ms"]["p99"]),
            f(&r["replies"]["replies_per_s"]),
            f(&r["replies"]["replies_over_acks"]),
            drained_cell(r),
            f(&slash(&r["replies"]["reply_latency_ms"], &["p50", "p99", "max"])),
            f(&r["server"]["cpu_us_per_msg"]),
            f(&r["server"]["cores_used_window"]),
            f(&r["loadgen"]["cores_used_window"]),
            f(&r["machine"]["other_cores_window"]),
            f(&r["server"]["vm_hwm_mb"]),
            errors_cell(r),
        );
    }
    let rate = |label: &str| get(label).and_then(|r| r["acks_per_s"].as_f64());
    println!();
    let ratio = |name: &str, a: Option<f64>, b: Option<f64>, target: Option<f64>| {
        if let (Some(a), Some(b)) = (a, b) {
            let x = a / b;
            let verdict = match target {
                Some(t) if x >= t => format!("target ≥ {:.0}%: met", t * 100.0),
                Some(t) => format!("target ≥ {:.0}%: NOT met", t * 100.0),
                None => String::new(),
            };
            println!("  {name:<44} {:>6.1}%  {verdict}", x * 100.0);
        }
    };
    ratio("durable acks/s ÷ physical acks/s", rate("durable"), rate("physical"), None);
    for juru in ["juru", "juru-nomarkers"] {
        let Some(r) = get(juru) else { continue };
        ratio(&format!("{juru} acks/s ÷ durable acks/s"), rate(juru), rate("durable"), Some(0.50));
        ratio(&format!("{juru} acks/s ÷ physical acks/s"), rate(juru), rate("physical"), None);
        ratio(
            &format!("{juru} replies/s ÷ {juru} acks/s"),
            r["replies"]["replies_per_s"].as_f64(),
            rate(juru),
            Some(0.90),
        );
        if let Some(p99) = r["latency_ms"]["p99"].as_f64() {
            println!(
                "  {:<44} {p99:>6.2} ms  target ≤ 15 ms: {}",
                format!("{juru} p99 ack latency"),
                if p99 <= 15.0 { "met" } else { "NOT met" }
            );
        }
    }
    Ok(())
}
