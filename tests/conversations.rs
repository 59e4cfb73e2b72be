//! The scripted conversations of `tests/fixtures/conversations/scripted.jsonl`,
//! each turn through the real webhook path (WAHA or Cloud webhook → dedupe →
//! lane → router → sales → outbox → the fake gateway) with the offline brain
//! and the test catalog. Bursts are sent as rapid messages; the phase,
//! handover and language are read from `GET /api/conversations/{id}`. A
//! second test restarts the bot between turns.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use juru::sales::catalog::{BULAN, Catalog};
use serde_json::Value;

const CONFIG: &str = "[sales]\ncoalesce_ms = 300\ncoalesce_max_ms = 2000\n";

/// What one turn produced.
#[derive(Debug, Default)]
struct Seen {
    texts: Vec<String>,
    media: Vec<String>,
    phase: String,
    handover: bool,
    lang: String,
    sent: usize,
}

fn catalog() -> Catalog {
    Catalog::parse(&fixture("prompts/packages.toml")).unwrap()
}

/// `{month_id:CODE}`: the Indonesian month of that package's departure;
/// `{month_id_none}`: a month without any departure (the catalog's dates are relative).
fn fill(text: &str, catalog: &Catalog) -> String {
    let mut out = text.to_string();
    for p in &catalog.packages {
        let m = p.month().unwrap() as usize;
        out = out.replace(&format!("{{month_id:{}}}", p.code), BULAN[m - 1]);
    }
    let none = (1..=12u32).find(|m| catalog.packages.iter().all(|p| p.month() != Some(*m))).unwrap();
    out.replace("{month_id_none}", BULAN[none as usize - 1])
}

fn kind_and_text(channel: &str, r: &Recorded) -> (String, Option<String>) {
    if channel == "waha" {
        match r.path.as_str() {
            "/api/sendText" => ("text".into(), r.body["text"].as_str().map(str::to_string)),
            "/api/sendImage" => ("image".into(), None),
            "/api/sendFile" => ("document".into(), None),
            other => (other.to_string(), None),
        }
    } else {
        match r.body["type"].as_str().unwrap_or_default() {
            "text" => ("text".into(), r.body["text"]["body"].as_str().map(str::to_string)),
            "interactive" => ("text".into(), r.body["interactive"]["body"]["text"].as_str().map(str::to_string)),
            other => (other.to_string(), None),
        }
    }
}

fn fake<'a>(bot: &'a TestBot, channel: &str) -> &'a Fake {
    if channel == "waha" { &bot.waha } else { &bot.graph }
}

async fn send(bot: &TestBot, channel: &str, from: &str, id: &str, text: &str) {
    if channel == "waha" {
        bot.waha_webhook(&waha_text(from, id, text)).await.assert_ok();
    } else {
        bot.cloud_webhook(&cloud_text(from, id, text)).await.assert_ok();
    }
}

/// Sends one turn (a message or a burst) and collects what the bot sent for it.
async fn turn(bot: &TestBot, channel: &str, from: &str, id: &str, messages: &[String], silent: bool) -> Seen {
    let gateway = fake(bot, channel);
    let before = gateway.messages_to(from).len();
    for (i, text) in messages.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        send(bot, channel, from, &format!("{id}_{i}"), text).await;
    }
    if silent {
        tokio::time::sleep(Duration::from_millis(1500)).await;
    } else {
        let started = std::time::Instant::now();
        while gateway.messages_to(from).len() == before && started.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The rest of the turn (media after the text) follows within moments.
        let mut n = gateway.messages_to(from).len();
        loop {
            tokio::time::sleep(Duration::from_millis(400)).await;
            let now = gateway.messages_to(from).len();
            if now == n {
                break;
            }
            n = now;
        }
    }
    let mut seen = Seen::default();
    for r in gateway.messages_to(from).iter().skip(before) {
        seen.sent += 1;
        match kind_and_text(channel, r) {
            (kind, Some(text)) if kind == "text" => seen.texts.push(text),
            (kind, _) => seen.media.push(kind),
        }
    }
    let convo: Value = serde_json::from_str(&bot.get(&format!("/api/conversations/{from}")).await.body).unwrap();
    let state = &convo["state"];
    seen.phase = state["phase"].as_str().unwrap_or("leads").to_string();
    seen.handover = state["handed_over"].as_bool().unwrap_or(false);
    seen.lang = state["lang"].as_str().unwrap_or("-").to_string();
    seen
}

/// The expectations of a turn that do not hold.
fn check(expect: &Value, seen: &Seen) -> Vec<String> {
    let mut failed = Vec::new();
    let text = seen.texts.join("\n").to_lowercase();
    let mut require = |ok: bool, what: String| {
        if !ok {
            failed.push(what);
        }
    };
    if let Some(phase) = expect["phase"].as_str() {
        require(seen.phase == phase, format!("phase {phase} (got {})", seen.phase));
    }
    if let Some(h) = expect["handover"].as_bool() {
        require(seen.handover == h, format!("handover {h}"));
    }
    for k in expect["media"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        require(seen.media.iter().any(|m| m == k), format!("media {k} (got {:?})", seen.media));
    }
    if expect["no_media"] == true {
        let media: Vec<&String> =
            seen.media.iter().filter(|m| ["image", "document", "video"].contains(&m.as_str())).collect();
        require(media.is_empty(), format!("no media (got {media:?})"));
    }
    if let Some(any) = expect["contains_any"].as_array() {
        let ok = any.iter().filter_map(Value::as_str).any(|s| text.contains(&s.to_lowercase()));
        require(ok, format!("contains any of {any:?}"));
    }
    for s in expect["contains_all"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        require(text.contains(&s.to_lowercase()), format!("contains {s:?}"));
    }
    for s in expect["contains_none"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        require(!text.contains(&s.to_lowercase()), format!("contains no {s:?}"));
    }
    if let Some(lang) = expect["lang"].as_str() {
        require(seen.lang == lang, format!("lang {lang} (got {})", seen.lang));
    }
    if let Some(n) = expect["texts"].as_u64() {
        require(seen.texts.len() == n as usize, format!("{n} text answers (got {})", seen.texts.len()));
    }
    if expect["silent"] == true {
        require(seen.sent == 0, format!("silent (got {} messages)", seen.sent));
    } else {
        require(!seen.texts.is_empty(), "an answer".to_string());
    }
    // Safety whatever the script says: no link or price the catalog does not have.
    for word in text.split_whitespace().filter(|w| w.starts_with("http")) {
        require(false, format!("a link in the text: {word}"));
    }
    failed
}

async fn run_conversation(bot: Arc<TestBot>, convo: Value, from: String) -> (usize, Vec<String>) {
    let catalog = catalog();
    let channel = convo["channel"].as_str().unwrap().to_string();
    let (mut passed, mut report) = (0, Vec::new());
    for (i, t) in convo["turns"].as_array().unwrap().iter().enumerate() {
        let messages: Vec<String> = match (&t["in"], &t["burst"]) {
            (Value::String(s), _) => vec![fill(s, &catalog)],
            (_, Value::Array(list)) => list.iter().map(|s| fill(s.as_str().unwrap(), &catalog)).collect(),
            _ => panic!("a turn needs `in` or `burst`: {t}"),
        };
        let silent = t["expect"]["silent"] == true;
        let seen =
            turn(&bot, &channel, &from, &format!("{}_{i}", convo["name"].as_str().unwrap()), &messages, silent).await;
        let failed = check(&t["expect"], &seen);
        if failed.is_empty() {
            passed += 1;
        } else {
            report.push(format!(
                "{} ({channel}) / {:?}: {}\n    got: {:?}",
                convo["name"],
                messages,
                failed.join("; "),
                seen.texts
            ));
        }
    }
    (passed, report)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scripted_conversations_pass_through_waha_and_cloud() {
    let bot = Arc::new(TestBot::with_config(CONFIG).await);
    let script = fixture("conversations/scripted.jsonl");
    let convos: Vec<Value> =
        script.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(convos.len() >= 40, "at least 40 scripted conversations");
    let turns: usize = convos.iter().map(|c| c["turns"].as_array().unwrap().len()).sum();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, convo) in convos.into_iter().enumerate() {
        let from = format!("62812000{:05}", 100 + i);
        tasks.spawn(run_conversation(bot.clone(), convo, from));
    }
    let (mut passed, mut report) = (0, Vec::new());
    while let Some(done) = tasks.join_next().await {
        let (p, r) = done.unwrap();
        passed += p;
        report.extend(r);
    }
    println!("scripted conversations: {passed}/{turns} turns pass");
    assert!(report.is_empty(), "{passed}/{turns} turns pass; failing:\n{}", report.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conversation_continues_across_restarts() {
    let mut bot = TestBot::with_config(CONFIG).await;
    // A returning prospect is welcomed back at once (not after 6 hours).
    let playbook = bot.prompts_path().join("playbook.toml");
    let edited =
        std::fs::read_to_string(&playbook).unwrap().replace("welcome_back_hours = 6", "welcome_back_hours = 0");
    std::fs::write(&playbook, edited).unwrap();
    let from = "6281200099001";
    let ids = ["R1", "R2", "R3", "R4", "R5"];
    let code = vec!["UMR_JAN_2027_PLUS".to_string()];
    let seen = turn(&bot, "waha", from, ids[0], &code, false).await;
    assert!(seen.media.contains(&"image".to_string()) && seen.phase == "leads", "{seen:?}");
    bot = bot.restart().await;
    let seen = turn(&bot, "waha", from, ids[1], &["Assalamualaikum kak".to_string()], false).await;
    let text = seen.texts.join("\n");
    assert!(text.contains("kembali") && text.contains("Paket Umroh Plus"), "welcomed back to the package: {text}");
    assert!(!text.contains("Paket yang tersedia saat ini"), "not the first welcome again: {text}");
    let seen = turn(&bot, "waha", from, ids[2], &["hotelnya dimana?".to_string()], false).await;
    assert_eq!(seen.phase, "interest", "{seen:?}");
    assert!(seen.texts.join("\n").contains("200 m"), "the package is remembered: {seen:?}");
    bot = bot.restart().await;
    let seen = turn(&bot, "waha", from, ids[3], &["DP berapa?".to_string()], false).await;
    assert!(seen.phase == "booking" && seen.handover, "{seen:?}");
    bot = bot.restart().await;
    let seen = turn(&bot, "waha", from, ids[4], &["halo?".to_string()], true).await;
    assert_eq!(seen.sent, 0, "silent after the handover, also after a restart");
}
