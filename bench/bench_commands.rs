//! Command-handling benchmark (issue: command framework and `#crm`):
//! parse → access checks → handler → reply ready to queue, over a CRM of
//! `--contacts` contacts and `--deals` deals, for a mix of `#crm`
//! subcommands. External I/O is excluded by design (handlers do none); the
//! commit of each command's writes is measured separately (`+commit`), since
//! it includes the disk flush that every durable write pays.
//!
//! `cargo run --release --bin bench_commands -- --contacts 10000 --deals 2000 --rounds 300`

use juru::store::TreeName;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use juru::channel::{Channel, ChatId, Inbound, Phone};
use juru::commands::{CommandSettings, Commands, Manifests, NoDirectory};
use juru::config::{Config, PhoneNumber};
use juru::crm::contact::{BusinessSegment, SourceMethod};
use juru::crm::{Contact, Crm, Deal, Stage};
use juru::live::{LiveDir, Loadable};
use juru::store::{Store, encode};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    contacts: u64,
    #[arg(long, default_value_t = 2_000)]
    deals: u64,
    /// Times each command of the mix runs.
    #[arg(long, default_value_t = 300)]
    rounds: usize,
}

const OWNER: &str = "6281100000000";

fn phone(i: u64) -> String {
    format!("62812{:08}", i)
}

async fn seed(store: &Store, contacts: u64, deals: u64, now: u64) -> anyhow::Result<()> {
    use juru::store::{Wait, Write};
    let mut writes = Vec::new();
    let segments = BusinessSegment::ALL;
    let campaigns = ["UMR_MAR_2025_HEMAT", "UMR_APR_2025_PLUS", "HAJ_MEI_2025_VIP"];
    for i in 0..contacts {
        let key = phone(i);
        let mut c = Contact::new(&key, Channel::Waha, now - (i % 60) * 86_400_000);
        c.name = Some(format!("Contact {i} {}", ["Budi", "Sari", "Andi", "Dewi"][(i % 4) as usize]));
        c.messages = i % 25;
        c.last_seen_ms = now - (i % 1000) * 60_000;
        c.segment = Some(segments[(i % 5) as usize]);
        c.customer_group = c.segment.map(|s| s.group());
        c.source_method = if i % 3 == 0 { SourceMethod::MetaAds } else { SourceMethod::Whatsapp };
        c.campaign_source = (i % 3 == 0).then(|| campaigns[(i % 9 / 3) as usize].to_string());
        c.signals.pricing_inquiry = i % 4 == 0;
        c.signals.purchase_intent = i % 11 == 0;
        c.whatsapp_opt_in = true;
        c.first_message = Some("Assalamualaikum, mau tanya paket umroh".into());
        writes.push(Write::Put(TreeName::Contacts, key.into_bytes(), encode(&c)));
    }
    for id in 1..=deals {
        let stage = Stage::ALL[(id % 8) as usize];
        let deal = Deal {
            contact: Some(phone(id * 3 % contacts.max(1))),
            reason: (!stage.is_open()).then(|| "seeded".into()),
            updated_ms: now - (id % 20) * 86_400_000,
            closed_ms: (!stage.is_open()).then_some(now - (id % 20) * 86_400_000),
            ..Deal::new(id, format!("Deal {id}"), 5_000_000 + id * 10_000, stage, OWNER, now - 20 * 86_400_000)
        };
        writes.push(Write::Put(TreeName::Deals, id.to_be_bytes().to_vec(), encode(&deal)));
    }
    store.commit.commit_with(writes, Wait::Applied).await?;
    store.durable().await?;
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("juru-bench-commands-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir)?;
    let now = juru::clock::now_ms();
    let t = Instant::now();
    seed(&store, args.contacts, args.deals, now).await?;
    let seeded = t.elapsed();
    let t = Instant::now();
    let crm = Arc::new(Crm::open(&store, None, &dir)?);
    let loaded = t.elapsed();
    let mut config = Config::default();
    config.bot.owners = vec![PhoneNumber(OWNER.into())];
    let commands =
        Commands::new(LiveDir::fixed(Manifests::embedded()), CommandSettings::from_config(&config), crm.clone());

    // One segment to show.
    let owner = ChatId::Phone(Phone::parse(OWNER).unwrap());
    let msg = |text: &str, n: usize| Inbound::text_from(Channel::Waha, "default", format!("b{n}"), owner.clone(), text);
    let setup = msg("#crm segment create \"Hot cafes\" --where \"lead_score > 75 and segment = Cafe\"", 0);
    let inv = commands.detect(setup.text()).unwrap();
    let out = commands.handle(&setup, &inv, &NoDirectory, &Vec::new, now, None).await;
    store.commit.commit(out.crm.writes).await?;
    crm.refresh(&out.crm.touched);

    let p = phone(42);
    let mix: Vec<(&str, String)> = vec![
        ("help", "#help".into()),
        ("leads list", "#crm leads".into()),
        ("leads hot", "#crm leads hot".into()),
        ("leads show", format!("#crm leads show {p}")),
        ("contacts search", "#crm contacts search dewi".into()),
        ("contacts set", format!("#crm contacts set {p} segment Hotel")),
        ("deals create", format!("#crm deals create --title \"Bench deal\" --value 7,5jt --contact {p}")),
        ("deals move", "#crm deals move D1 qualified".into()),
        ("pipeline view", "#crm pipeline view".into()),
        ("reports sales", "#crm reports sales-performance --period weekly".into()),
        ("reports attribution", "#crm reports attribution".into()),
        ("segment show", "#crm segment show \"Hot cafes\"".into()),
        ("lead-score show", "#crm lead-score configure show".into()),
    ];
    println!(
        "contacts {} · deals {} · seeded in {:.1} s · index loaded in {:.0} ms · {} rounds",
        args.contacts,
        args.deals,
        seeded.as_secs_f64(),
        loaded.as_secs_f64() * 1e3,
        args.rounds
    );
    println!("{:<22} {:>10} {:>10} {:>10} {:>14}", "command", "p50 µs", "p99 µs", "max µs", "+commit p99 µs");
    let mut all = Vec::new();
    let mut n = 1;
    for (name, text) in &mix {
        let mut handle_us = Vec::with_capacity(args.rounds);
        let mut commit_us = Vec::with_capacity(args.rounds);
        for round in 0..args.rounds {
            n += 1;
            // `deals move` alternates so every round is a valid move.
            let text = if *name == "deals move" {
                let stage = if round % 2 == 0 { "qualified" } else { "discovery" };
                format!("#crm deals move D{} {stage}", 8 * (1 + (round / 2) % 250))
            } else {
                text.clone()
            };
            let ev = msg(&text, n);
            let started = Instant::now();
            let inv = commands.detect(ev.text()).expect("a command");
            let out = commands.handle(&ev, &inv, &NoDirectory, &Vec::new, now, None).await;
            handle_us.push(started.elapsed().as_secs_f64() * 1e6);
            assert!(
                out.audit.route.as_deref() == Some("command: ok"),
                "{text}: {:?} {:?}",
                out.audit.route,
                out.texts()
            );
            store.commit.commit(out.crm.writes).await?;
            crm.refresh(&out.crm.touched);
            commit_us.push(started.elapsed().as_secs_f64() * 1e6);
        }
        handle_us.sort_by(f64::total_cmp);
        commit_us.sort_by(f64::total_cmp);
        println!(
            "{:<22} {:>10.0} {:>10.0} {:>10.0} {:>14.0}",
            name,
            percentile(&handle_us, 0.5),
            percentile(&handle_us, 0.99),
            handle_us[handle_us.len() - 1],
            percentile(&commit_us, 0.99)
        );
        all.extend(handle_us);
    }
    all.sort_by(f64::total_cmp);
    println!(
        "{:<22} {:>10.0} {:>10.0} {:>10.0}   (target: p99 ≤ 1000 µs)",
        "ALL (mix)",
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all[all.len() - 1]
    );
    store.close();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
