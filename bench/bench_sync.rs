//! CRM sync benchmark (issue: "a sync of 10,000 contacts + 2,000 deals to
//! each fake that throttles at the vendor's published rate: zero lost, zero
//! duplicated, total time within 1.2× of the floor the rate limit allows").
//!
//! For each vendor: a fresh store and CRM with `--contacts` contacts and
//! `--deals` deals, the vendor's fake on loopback throttling at the published
//! rate, the real connector and sync worker. The worker starts (and prepares
//! the account: id properties/fields, stages) before the clock; then the
//! clock runs from `enqueue_all` (a full sync) until the platform's outbox is
//! empty. Afterwards every record must exist remotely exactly once, the
//! fake must have seen no contract violation and nothing may be dead-lettered.
//!
//! The floor is computed in the same run from the calls the fake received
//! while the clock ran:
//! - a rolling window of N calls per W (HubSpot, Pipedrive, Zoho, Freshsales):
//!   `floor((calls - 1) / N) × W` — the first N go at once, each further N
//!   one window later; nothing else (zero latency, zero work) is assumed;
//! - Salesforce (a daily allocation, no per-second window): the fake answers
//!   after a fixed `--sf-latency-ms` and the connector makes at most
//!   `concurrency` calls at once, so `ceil(calls / concurrency) × latency`;
//! - Dynamics 365 (6 000 requests and 20 min of execution per user per 5
//!   minutes: neither binds a few hundred `$batch` calls): the fake spends
//!   `--dyn-op-ms` on each operation of a `$batch`, in order as Dataverse
//!   does, and the worker has 4 batches in flight, so
//!   `ceil(operations / 4) × per-operation time`.
//!
//! `cargo run --release --bin bench_sync -- --vendor all` (or `bash bench/sync.sh`)

#[path = "../tests/fakes/dynamics.rs"]
mod fake_dynamics;
#[path = "../tests/fakes/freshsales.rs"]
mod fake_freshsales;
#[path = "../tests/fakes/hubspot.rs"]
mod fake_hubspot;
#[path = "../tests/fakes/pipedrive.rs"]
mod fake_pipedrive;
#[path = "../tests/fakes/salesforce.rs"]
mod fake_salesforce;
#[path = "../tests/fakes/zoho.rs"]
mod fake_zoho;

use juru::store::TreeName;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use juru::channel::Channel;
use juru::config::{
    DynamicsConfig, FreshsalesConfig, HubspotConfig, PipedriveConfig, SalesforceConfig, Secret, SyncMode, Url,
    ZohoConfig,
};
use juru::connectors::Connector;
use juru::connectors::credential::{Credential, TokenSink, Tokens};
use juru::connectors::dynamics::DynamicsConnector;
use juru::connectors::freshsales::FreshsalesConnector;
use juru::connectors::hubspot::HubspotConnector;
use juru::connectors::pipedrive::PipedriveConnector;
use juru::connectors::salesforce::SalesforceConnector;
use juru::connectors::worker::{Handle, Worker, enqueue_all};
use juru::connectors::zoho::ZohoConnector;
use juru::crm::contact::{BusinessSegment, SourceMethod};
use juru::crm::settings::{FieldMapping, Platform};
use juru::crm::{Contact, Crm, Deal, Stage};
use juru::store::{Store, encode};
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    #[arg(long, value_enum, default_value_t = Vendor::All)]
    vendor: Vendor,
    #[arg(long, default_value_t = 10_000)]
    contacts: u64,
    #[arg(long, default_value_t = 2_000)]
    deals: u64,
    /// HubSpot budget per rolling 10 s (Free/Starter: 100; Professional/Enterprise: 190).
    #[arg(long, default_value_t = 100)]
    hubspot_per_10s: usize,
    /// Pipedrive budget per rolling 2 s (OAuth Ultimate: 480; API token Ultimate: 120).
    #[arg(long, default_value_t = 480)]
    pipedrive_per_2s: usize,
    /// The fake Salesforce's answer time for every call.
    #[arg(long, default_value_t = 50)]
    sf_latency_ms: u64,
    /// Salesforce calls at once (`[crm.salesforce] concurrency`).
    #[arg(long, default_value_t = 4)]
    sf_concurrency: usize,
    /// Zoho budget per rolling minute (`[crm.zoho] requests_per_min`).
    #[arg(long, default_value_t = 100)]
    zoho_per_min: usize,
    /// Freshsales budget per window (an hour's: 1000 Free/Growth, 2000 Pro, 5000 Enterprise).
    #[arg(long, default_value_t = 2000)]
    freshsales_per_window: usize,
    /// The Freshsales window in seconds: 3600 is the real hour; 36 runs it 100× faster.
    #[arg(long, default_value_t = 36)]
    freshsales_window_s: u64,
    /// Dynamics budget per rolling 5 minutes (service protection: 6 000 per user).
    #[arg(long, default_value_t = 6_000)]
    dynamics_per_5min: usize,
    /// The fake Dataverse's server time for each operation of a `$batch`.
    #[arg(long, default_value_t = 5)]
    dyn_op_ms: u64,
    /// Records per `$batch` (`[crm.dynamics] batch_size`).
    #[arg(long, default_value_t = 100)]
    dyn_batch: usize,
    /// Give up on a sync after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout_s: u64,
    /// Print the outbox's progress every second.
    #[arg(long)]
    progress: bool,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Vendor {
    All,
    Hubspot,
    Pipedrive,
    Salesforce,
    Zoho,
    Freshsales,
    Dynamics,
}

const OWNER: &str = "6281100000000";
const NAMES: [&str; 8] =
    ["Budi Santoso", "Sari Dewi", "Andi Pratama", "Dewi Lestari", "Rina", "Agus Salim", "Putri Ayu", "Hendra"];

fn phone(i: u64) -> String {
    format!("62812{:08}", i)
}

/// Contacts with names, segments, sources and (one in three) an email;
/// deals over every stage, each with a contact. Written into the trees as
/// the CRM stores them, then the CRM is opened on them (as bench_commands does).
async fn seed(store: &Store, contacts: u64, deals: u64, now: u64) -> anyhow::Result<()> {
    use juru::store::{Wait, Write};
    let mut writes = Vec::new();
    for i in 0..contacts {
        let key = phone(i);
        let mut c = Contact::new(&key, Channel::Waha, now - (i % 60) * 86_400_000);
        c.name = Some(format!("{} {i}", NAMES[(i % 8) as usize]));
        c.email = (i % 3 == 0).then(|| format!("pelanggan.{i}@contoh.co.id"));
        c.messages = i % 25;
        c.last_seen_ms = now - (i % 1000) * 60_000;
        c.segment = Some(BusinessSegment::ALL[(i % 5) as usize]);
        c.customer_group = c.segment.map(|s| s.group());
        c.source_method = if i % 3 == 0 { SourceMethod::MetaAds } else { SourceMethod::Whatsapp };
        c.whatsapp_opt_in = true;
        c.first_message = Some("Assalamualaikum, mau tanya paket umroh".into());
        writes.push(Write::Put(TreeName::Contacts, key.into_bytes(), encode(&c)));
    }
    for id in 1..=deals {
        let stage = Stage::ALL[(id % 8) as usize];
        let deal = Deal {
            contact: Some(phone(id * 5 % contacts.max(1))),
            reason: (!stage.is_open()).then(|| "harga cocok".into()),
            updated_ms: now - (id % 20) * 86_400_000,
            closed_ms: (!stage.is_open()).then_some(now - (id % 20) * 86_400_000),
            ..Deal::new(id, format!("Paket umroh {id}"), 25_000_000 + id * 10_000, stage, OWNER, now - 20 * 86_400_000)
        };
        writes.push(Write::Put(TreeName::Deals, id.to_be_bytes().to_vec(), encode(&deal)));
    }
    store.commit.commit_with(writes, Wait::Applied).await?;
    store.durable().await?;
    Ok(())
}

/// What one vendor's run needs from its fake, whatever the vendor.
trait Fake {
    fn request_count(&self) -> usize;
    /// Calls received since `from` that carry a write already seen before
    /// (a retried batch): the same method, path and first record id.
    fn repeated_since(&self, from: usize) -> usize;
    fn violations(&self) -> Vec<String>;
    /// Record operations in the calls received since `from` (one per call
    /// unless calls carry several, as a `$batch` does).
    fn operations_since(&self, from: usize) -> usize {
        self.request_count().saturating_sub(from)
    }
    /// Our id → how many remote records carry it, for contacts and deals.
    fn counts(&self) -> (HashMap<String, usize>, HashMap<String, usize>);
    /// Deals stored without a link to their contact.
    fn unlinked_deals(&self) -> Option<usize>;
}

fn repeated(keys: impl Iterator<Item = Option<String>>) -> usize {
    let mut seen = std::collections::HashSet::new();
    keys.flatten().filter(|k| !seen.insert(k.clone())).count()
}

impl Fake for fake_hubspot::FakeHubspot {
    fn request_count(&self) -> usize {
        self.requests().len()
    }
    fn repeated_since(&self, from: usize) -> usize {
        let requests = self.requests();
        repeated(requests[from..].iter().map(|r| {
            let first = &r.body["inputs"][0];
            let id = first["id"].as_str().or(first["from"]["id"].as_str())?;
            Some(format!("{} {} {id}", r.method, r.path))
        }))
    }
    fn violations(&self) -> Vec<String> {
        fake_hubspot::FakeHubspot::violations(self)
    }
    fn counts(&self) -> (HashMap<String, usize>, HashMap<String, usize>) {
        (self.count_by_our_id("contacts"), self.count_by_our_id("deals"))
    }
    fn unlinked_deals(&self) -> Option<usize> {
        let deals = self.records("deals");
        Some(
            deals
                .iter()
                .filter(|d| self.associated("deals", d["id"].as_str().unwrap_or(""), "contacts").is_empty())
                .count(),
        )
    }
}

impl Fake for fake_pipedrive::FakePipedrive {
    fn request_count(&self) -> usize {
        self.requests().len()
    }
    fn repeated_since(&self, from: usize) -> usize {
        let requests = self.requests();
        repeated(requests[from..].iter().map(|r| {
            let ours = r.body["custom_fields"].as_object()?.values().find_map(Value::as_str)?.to_string();
            Some(format!("{} {} {ours}", r.method, r.path))
        }))
    }
    fn violations(&self) -> Vec<String> {
        fake_pipedrive::FakePipedrive::violations(self)
    }
    fn counts(&self) -> (HashMap<String, usize>, HashMap<String, usize>) {
        (self.count_by_our_id("persons"), self.count_by_our_id("deals"))
    }
    fn unlinked_deals(&self) -> Option<usize> {
        Some(self.records("deals").iter().filter(|d| d["person_id"].as_u64().is_none()).count())
    }
}

impl Fake for fake_salesforce::FakeSalesforce {
    fn request_count(&self) -> usize {
        self.requests().len()
    }
    fn repeated_since(&self, from: usize) -> usize {
        let requests = self.requests();
        repeated(requests[from..].iter().map(|r| {
            let id = r.body["records"][0][fake_salesforce::EXTERNAL_ID].as_str()?;
            Some(format!("{} {} {id}", r.method, r.path))
        }))
    }
    fn violations(&self) -> Vec<String> {
        fake_salesforce::FakeSalesforce::violations(self)
    }
    fn counts(&self) -> (HashMap<String, usize>, HashMap<String, usize>) {
        (self.count_by_our_id("Contact"), self.count_by_our_id("Opportunity"))
    }
    /// Opportunities link to their contact through an OpportunityContactRole.
    fn unlinked_deals(&self) -> Option<usize> {
        let roles = self.contact_roles();
        let linked = |id: &Value| roles.iter().any(|r| r["OpportunityId"] == *id);
        Some(self.records("Opportunity").iter().filter(|d| !linked(&d["Id"])).count())
    }
}

impl Fake for fake_zoho::FakeZoho {
    fn request_count(&self) -> usize {
        self.requests().len()
    }
    fn repeated_since(&self, from: usize) -> usize {
        let requests = self.requests();
        repeated(requests[from..].iter().map(|r| {
            let id = r.body["data"][0][fake_zoho::ID_FIELD].as_str()?;
            Some(format!("{} {} {id}", r.method, r.path))
        }))
    }
    fn violations(&self) -> Vec<String> {
        fake_zoho::FakeZoho::violations(self)
    }
    fn counts(&self) -> (HashMap<String, usize>, HashMap<String, usize>) {
        (self.count_by_our_id("Contacts"), self.count_by_our_id("Deals"))
    }
    fn unlinked_deals(&self) -> Option<usize> {
        Some(self.records("Deals").iter().filter(|d| d["Contact_Name"]["id"].as_str().is_none()).count())
    }
}

impl Fake for fake_freshsales::FakeFreshsales {
    fn request_count(&self) -> usize {
        self.requests().len()
    }
    fn repeated_since(&self, from: usize) -> usize {
        let requests = self.requests();
        repeated(requests[from..].iter().map(|r| {
            let id = r.body["unique_identifier"][fake_freshsales::ID_FIELD].as_str()?;
            Some(format!("{} {} {id}", r.method, r.path))
        }))
    }
    fn violations(&self) -> Vec<String> {
        fake_freshsales::FakeFreshsales::violations(self)
    }
    fn counts(&self) -> (HashMap<String, usize>, HashMap<String, usize>) {
        (self.count_by_our_id("contacts"), self.count_by_our_id("deals"))
    }
    fn unlinked_deals(&self) -> Option<usize> {
        Some(self.records("deals").iter().filter(|d| d["contacts_added_list"][0].as_u64().is_none()).count())
    }
}

impl Fake for fake_dynamics::FakeDynamics {
    fn request_count(&self) -> usize {
        self.requests().len()
    }
    fn repeated_since(&self, from: usize) -> usize {
        let requests = self.requests();
        repeated(requests[from..].iter().map(|r| {
            let first = r.change_sets.first()?.first()?;
            Some(format!("{} {} {}", r.method, r.path, first.target))
        }))
    }
    fn violations(&self) -> Vec<String> {
        fake_dynamics::FakeDynamics::violations(self)
    }
    fn operations_since(&self, from: usize) -> usize {
        self.requests()[from..].iter().map(|r| r.change_sets.iter().map(Vec::len).sum::<usize>()).sum()
    }
    fn counts(&self) -> (HashMap<String, usize>, HashMap<String, usize>) {
        (self.count_by_our_id("contacts"), self.count_by_our_id("opportunities"))
    }
    fn unlinked_deals(&self) -> Option<usize> {
        Some(
            self.rows("opportunities")
                .iter()
                .filter(|d| !d["parentcontactid@odata.bind"].as_str().is_some_and(|b| b.starts_with("/contacts(")))
                .count(),
        )
    }
}

/// How the floor is computed for a vendor.
#[derive(Clone, Copy)]
enum Budget {
    /// At most `n` calls per rolling `window`.
    Rolling { n: usize, window: Duration },
    /// Every call takes `latency`, at most `concurrency` at once.
    Latency { latency: Duration, concurrency: usize },
    /// Every operation of a call takes `per_op`, at most `concurrency` calls at once.
    Execution { per_op: Duration, concurrency: usize },
}

impl Budget {
    fn floor(self, calls: usize, ops: usize) -> Duration {
        match self {
            Budget::Rolling { n, window } => window * (calls.saturating_sub(1) / n) as u32,
            Budget::Latency { latency, concurrency } => latency * calls.div_ceil(concurrency) as u32,
            Budget::Execution { per_op, concurrency } => per_op * ops.div_ceil(concurrency) as u32,
        }
    }

    fn formula(self, calls: usize, ops: usize) -> String {
        match self {
            Budget::Rolling { n, window } => format!(
                "floor(({calls} - 1) / {n}) × {} s = {:.1} s",
                window.as_secs_f64(),
                self.floor(calls, ops).as_secs_f64()
            ),
            Budget::Latency { latency, concurrency } => format!(
                "ceil({calls} / {concurrency}) × {} ms = {:.2} s",
                latency.as_millis(),
                self.floor(calls, ops).as_secs_f64()
            ),
            Budget::Execution { per_op, concurrency } => format!(
                "ceil({ops} operations / {concurrency}) × {} ms = {:.2} s",
                per_op.as_millis(),
                self.floor(calls, ops).as_secs_f64()
            ),
        }
    }

    /// Time for the window to forget the prepare calls before the clock starts.
    fn settle(self) -> Duration {
        match self {
            Budget::Rolling { window, .. } => window + Duration::from_millis(200),
            Budget::Latency { .. } | Budget::Execution { .. } => Duration::ZERO,
        }
    }
}

struct Run {
    vendor: &'static str,
    plan: String,
    budget: Budget,
}

fn no_sink() -> TokenSink {
    Arc::new(|_| {})
}

/// One vendor: seed, start fake + worker, prepare, then the timed full sync.
async fn run_vendor(args: &Args, vendor: Vendor) -> anyhow::Result<Value> {
    let dir = std::env::temp_dir().join(format!("juru-bench-sync-{}-{}", std::process::id(), vendor_name(vendor)));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir)?;
    let now = juru::clock::now_ms();
    seed(&store, args.contacts, args.deals, now).await?;
    let crm = Arc::new(Crm::open(&store, None, &dir)?);
    let result = match vendor {
        Vendor::Hubspot => {
            let n = args.hubspot_per_10s;
            let window = Duration::from_secs(10);
            let fake = fake_hubspot::FakeHubspot::start(fake_hubspot::FakeOptions {
                rate_limit: Some((n, window)),
                ..fake_hubspot::FakeOptions::default()
            })
            .await;
            let config = HubspotConfig {
                base_url: Url(fake.url()),
                requests_per_10s: n,
                pull_secs: 0,
                ..HubspotConfig::default()
            };
            let connector = HubspotConnector::new(
                &config,
                Credential::ApiKey("pat-na1-bench".into()),
                FieldMapping::new(),
                no_sink(),
            );
            let run = Run {
                vendor: "hubspot",
                plan: format!("Free/Starter: {n} requests per rolling 10 s"),
                budget: Budget::Rolling { n, window },
            };
            timed(args, &run, &crm, connector, &fake).await
        }
        Vendor::Pipedrive => {
            let n = args.pipedrive_per_2s;
            let window = Duration::from_secs(2);
            let fake = fake_pipedrive::FakePipedrive::start(fake_pipedrive::FakeOptions {
                rate_limit: Some((n, window)),
                ..fake_pipedrive::FakeOptions::default()
            })
            .await;
            let config = PipedriveConfig {
                base_url: Url(fake.url()),
                oauth_url: Url(fake.url()),
                client_id: Some(fake_pipedrive::CLIENT_ID.into()),
                client_secret: Secret::try_from(fake_pipedrive::CLIENT_SECRET.to_string()).ok(),
                requests_per_2s: n,
                pull_secs: 0,
                ..PipedriveConfig::default()
            };
            // OAuth: the API-token daily budget (10 000 writes in the fake)
            // would not hold 12 000 records, and OAuth has the larger burst budget.
            let tokens = Tokens { access_token: fake.issue_access_token(), ..Tokens::default() };
            let connector = PipedriveConnector::new(&config, Credential::OAuth(tokens), FieldMapping::new(), no_sink());
            let run = Run {
                vendor: "pipedrive",
                plan: format!("Ultimate, OAuth app: {n} requests per rolling 2 s"),
                budget: Budget::Rolling { n, window },
            };
            timed(args, &run, &crm, connector, &fake).await
        }
        Vendor::Salesforce => {
            let latency = Duration::from_millis(args.sf_latency_ms);
            let fake = fake_salesforce::FakeSalesforce::start(fake_salesforce::FakeOptions {
                latency,
                ..fake_salesforce::FakeOptions::default()
            })
            .await;
            let config = SalesforceConfig {
                login_url: Url(fake.url()),
                client_id: Some(fake_salesforce::CLIENT_ID.into()),
                client_secret: Secret::try_from(fake_salesforce::CLIENT_SECRET.to_string()).ok(),
                concurrency: args.sf_concurrency,
                pull_secs: 0,
                ..SalesforceConfig::default()
            };
            let connector =
                SalesforceConnector::new(&config, Credential::ApiKey(String::new()), FieldMapping::new(), no_sink());
            let run = Run {
                vendor: "salesforce",
                plan: format!(
                    "daily allocation only; fake latency {} ms, {} calls at once",
                    args.sf_latency_ms, args.sf_concurrency
                ),
                budget: Budget::Latency { latency, concurrency: args.sf_concurrency.max(1) },
            };
            timed(args, &run, &crm, connector, &fake).await
        }
        Vendor::Zoho => {
            let n = args.zoho_per_min;
            let window = Duration::from_secs(60);
            let fake = fake_zoho::FakeZoho::start(fake_zoho::FakeOptions {
                rate_limit: Some((n, window)),
                ..fake_zoho::FakeOptions::default()
            })
            .await;
            let config = ZohoConfig {
                accounts_url: Url(fake.url()),
                api_domain: Url(fake.url()),
                client_id: Some(fake_zoho::CLIENT_ID.into()),
                client_secret: Secret::try_from(fake_zoho::CLIENT_SECRET.to_string()).ok(),
                requests_per_min: n,
                pull_secs: 0,
                ..ZohoConfig::default()
            };
            let tokens = Tokens { refresh_token: Some(fake_zoho::REFRESH_TOKEN.into()), ..Tokens::default() };
            let connector = ZohoConnector::new(&config, Credential::OAuth(tokens), FieldMapping::new(), no_sink());
            let run = Run {
                vendor: "zoho",
                plan: format!("{n} requests per rolling minute (an upsert of 100 costs 10 credits)"),
                budget: Budget::Rolling { n, window },
            };
            timed(args, &run, &crm, connector, &fake).await
        }
        Vendor::Freshsales => {
            let n = args.freshsales_per_window;
            let window = Duration::from_secs(args.freshsales_window_s);
            let fake = fake_freshsales::FakeFreshsales::start(fake_freshsales::FakeOptions {
                rate_limit: Some((n, window)),
                ..fake_freshsales::FakeOptions::default()
            })
            .await;
            let config = FreshsalesConfig {
                domain: fake.domain(),
                requests_per_hour: n,
                pull_secs: 0,
                ..FreshsalesConfig::default()
            };
            let connector = FreshsalesConnector::new(
                &config,
                Credential::ApiKey(fake_freshsales::API_KEY.into()),
                FieldMapping::new(),
            )
            .with_window(n, window);
            let speed = 3600.0 / window.as_secs_f64().max(1e-9);
            let run = Run {
                vendor: "freshsales",
                plan: format!("{n} requests per hour, the hour run {speed:.0}× faster ({} s)", window.as_secs()),
                budget: Budget::Rolling { n, window },
            };
            timed(args, &run, &crm, connector, &fake).await
        }
        Vendor::Dynamics => {
            let n = args.dynamics_per_5min;
            let per_op = Duration::from_millis(args.dyn_op_ms);
            let fake = fake_dynamics::FakeDynamics::start(fake_dynamics::FakeOptions {
                rate_limit: Some((n, Duration::from_secs(300))),
                per_operation: per_op,
                ..fake_dynamics::FakeOptions::default()
            })
            .await;
            let config = DynamicsConfig {
                org_url: Some(Url(fake.url())),
                login_url: Url(fake.url()),
                tenant: Some(fake_dynamics::TENANT.into()),
                client_id: Some(fake_dynamics::CLIENT_ID.into()),
                batch_size: args.dyn_batch,
                requests_per_5min: n,
                pull_secs: 0,
                ..DynamicsConfig::default()
            };
            let secret = Credential::ApiKey(fake_dynamics::CLIENT_SECRET.into());
            let connector = DynamicsConnector::new(&config, secret, FieldMapping::new());
            let run = Run {
                vendor: "dynamics",
                plan: format!(
                    "{n} requests per rolling 5 min, {} ms of server time per operation, $batch of {}",
                    args.dyn_op_ms, args.dyn_batch
                ),
                budget: Budget::Execution { per_op, concurrency: 4 },
            };
            timed(args, &run, &crm, connector, &fake).await
        }
        Vendor::All => unreachable!("expanded by main"),
    };
    drop(crm);
    store.close();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn vendor_name(v: Vendor) -> &'static str {
    match v {
        Vendor::All => "all",
        Vendor::Hubspot => "hubspot",
        Vendor::Pipedrive => "pipedrive",
        Vendor::Salesforce => "salesforce",
        Vendor::Zoho => "zoho",
        Vendor::Freshsales => "freshsales",
        Vendor::Dynamics => "dynamics",
    }
}

fn platform_of(vendor: &str) -> Platform {
    match vendor {
        "hubspot" => Platform::Hubspot,
        "pipedrive" => Platform::Pipedrive,
        "zoho" => Platform::Zoho,
        "freshsales" => Platform::Freshsales,
        "dynamics" => Platform::Dynamics,
        _ => Platform::Salesforce,
    }
}

fn outbox_empty(store: &Store, platform: Platform) -> bool {
    store.read(TreeName::SyncOutbox).scan_prefix(juru::crm::sync::prefix(platform, None)).next().is_none()
}

async fn timed<C: Connector, F: Fake>(
    args: &Args,
    run: &Run,
    crm: &Arc<Crm>,
    connector: C,
    fake: &F,
) -> anyhow::Result<Value> {
    let platform = platform_of(run.vendor);
    let store = crm.store().clone();

    // Outside the clock: the worker starts and prepares the account (id
    // properties/fields, stages, a token) against an empty outbox.
    let (handle, task) = Worker::spawn(connector, crm.clone(), SyncMode::Realtime);
    wait_idle(&handle, Duration::from_secs(60)).await?;
    let prepare_calls = fake.request_count();
    tokio::time::sleep(run.budget.settle()).await;

    let before = fake.request_count();
    let cpu_before = cpu_ticks();
    let started = Instant::now();
    let queued = enqueue_all(crm, platform).await?;
    let enqueued = started.elapsed();
    handle.sync_now();
    let mut next_report = Duration::from_secs(1);
    while !outbox_empty(&store, platform) {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(args.timeout_s),
            "{}: not drained in {} s",
            run.vendor,
            args.timeout_s
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
        if args.progress && started.elapsed() >= next_report {
            next_report += Duration::from_secs(1);
            let left = store.read(TreeName::SyncOutbox).scan_prefix(juru::crm::sync::prefix(platform, None)).count();
            eprintln!("  {:>6.1} s  outbox {left}", started.elapsed().as_secs_f64());
        }
    }
    let elapsed = started.elapsed();
    let cpu_after = cpu_ticks();
    task.abort();
    // Cores used while the clock ran: this process (juru and the fake
    // together) and everything else on the machine (a shared machine).
    let cores = |ticks: u64| ticks as f64 / 100.0 / elapsed.as_secs_f64();
    let own_cores = cores(cpu_after.1.saturating_sub(cpu_before.1));
    let other_cores = cores(cpu_after.0.saturating_sub(cpu_before.0)) - own_cores;

    let calls = fake.request_count() - before;
    let operations = fake.operations_since(before);
    let repeated = fake.repeated_since(before);
    let floor = run.budget.floor(calls, operations);
    let ratio = elapsed.as_secs_f64() / floor.as_secs_f64().max(1e-9);

    // Checks: every record once, nothing else, no violation, nothing dead.
    let (contacts, deals) = fake.counts();
    let expect_contacts: Vec<String> = (0..args.contacts).map(phone).collect();
    let expect_deals: Vec<String> = (1..=args.deals).map(|id| format!("D{id}")).collect();
    let missing = |counts: &HashMap<String, usize>, expected: &[String]| {
        expected.iter().filter(|id| !counts.contains_key(*id)).count()
    };
    let duplicated = |counts: &HashMap<String, usize>| counts.values().map(|n| n.saturating_sub(1)).sum::<usize>();
    let lost = missing(&contacts, &expect_contacts) + missing(&deals, &expect_deals);
    let dup = duplicated(&contacts) + duplicated(&deals);
    let unexpected = contacts.len() + deals.len() - (expect_contacts.len() + expect_deals.len() - lost);
    let violations = fake.violations();
    let dead = store.read(TreeName::SyncDead).scan_prefix(juru::crm::sync::prefix(platform, None)).count();
    let unlinked = fake.unlinked_deals();
    let ok =
        lost == 0 && dup == 0 && unexpected == 0 && violations.is_empty() && dead == 0 && unlinked.unwrap_or(0) == 0;

    let line = json!({
        "vendor": run.vendor,
        "plan": run.plan,
        "contacts": args.contacts,
        "deals": args.deals,
        "queued": queued,
        "calls": calls,
        "repeated_calls": repeated,
        "prepare_calls": prepare_calls,
        "enqueue_s": enqueued.as_secs_f64(),
        "elapsed_s": elapsed.as_secs_f64(),
        "floor_s": floor.as_secs_f64(),
        "operations": operations,
        "floor": run.budget.formula(calls, operations),
        "ratio": ratio,
        "target_met": ok && ratio <= 1.2,
        "lost": lost,
        "duplicated": dup,
        "unexpected": unexpected,
        "unlinked_deals": unlinked,
        "violations": violations.len(),
        "dead": dead,
        "ok": ok,
        "own_cores": own_cores,
        "other_cores": other_cores,
    });
    println!("{line}");
    println!(
        "{}: {} contacts + {} deals ({}) — {} calls ({} repeated), {:.2} s (enqueue {:.2} s); floor {}; \
         ratio {:.2}× (target ≤ 1.2×: {}); lost {lost}, duplicated {dup}, unexpected {unexpected}, \
         unlinked deals {}, violations {}, dead {dead}; cores: this process {own_cores:.2}, others {other_cores:.2}",
        run.vendor,
        args.contacts,
        args.deals,
        run.plan,
        calls,
        repeated,
        elapsed.as_secs_f64(),
        enqueued.as_secs_f64(),
        run.budget.formula(calls, operations),
        ratio,
        if ratio <= 1.2 { "met" } else { "NOT met" },
        unlinked.map_or("n/a".to_string(), |n| n.to_string()),
        violations.len(),
    );
    for v in violations.iter().take(5) {
        println!("  violation: {v}");
    }
    Ok(line)
}

/// (busy ticks of the whole machine, ticks of this process), in 1/100 s.
fn cpu_ticks() -> (u64, u64) {
    let machine = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> =
        machine.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let busy = fields.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, v)| v).sum();
    let own = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_comm = own.rsplit_once(')').map_or("", |(_, rest)| rest);
    // Fields after the command name start at the state (field 3): utime is 14, stime 15.
    let ticks: u64 = after_comm.split_whitespace().skip(11).take(2).filter_map(|f| f.parse::<u64>().ok()).sum();
    (busy, ticks)
}

async fn wait_idle(handle: &Handle, limit: Duration) -> anyhow::Result<()> {
    tokio::time::timeout(limit, handle.idle())
        .await
        .map_err(|_| anyhow::anyhow!("the worker did not become idle after preparing"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let vendors = match args.vendor {
        Vendor::All => vec![
            Vendor::Hubspot,
            Vendor::Pipedrive,
            Vendor::Salesforce,
            Vendor::Zoho,
            Vendor::Freshsales,
            Vendor::Dynamics,
        ],
        v => vec![v],
    };
    let mut all_ok = true;
    for vendor in vendors {
        let line = run_vendor(&args, vendor).await?;
        all_ok &= line["ok"] == true;
    }
    if !all_ok {
        std::process::exit(1);
    }
    Ok(())
}
