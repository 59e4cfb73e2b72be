//! CRM sync end to end: prospects write on WhatsApp, the owner works deals
//! with `#crm`, and the records reach the vendor's (fake) API through the
//! durable sync outbox — once each, with their links and stages, across
//! failures, a restart, manual mode and the OAuth callback.

mod common;
#[path = "fakes/hubspot.rs"]
mod fake_hubspot;
#[path = "fakes/pipedrive.rs"]
mod fake_pipedrive;

use juru::store::TreeName;
use std::time::{Duration, Instant};

use common::*;
use fake_hubspot::{FakeHubspot, FakeOptions as HubspotOptions};
use fake_pipedrive::{FakeOptions as PipedriveOptions, FakePipedrive};

const OWNER: &str = "6281100000001";
const A: &str = "6281200000101";
const B: &str = "6281200000102";
const C: &str = "6281200000103";
const D: &str = "6281200000104";
const LIMIT: Duration = Duration::from_secs(30);

fn config(crm: &str) -> String {
    format!(
        "[bot]\nowners = [\"{OWNER}\"]\nsend_seen = false\nsend_typing = false\nlanguage = \"en\"\n[sales]\ndefault_language = \"en\"\n{crm}"
    )
}

fn hubspot(fake: &FakeHubspot, extra: &str) -> String {
    config(&format!("[crm.hubspot]\nbase_url = \"{}\"\ntoken = \"pat-test-token\"\npull_secs = 0\n{extra}", fake.url()))
}

/// Sends a text and waits for the bot's next message back to that chat.
async fn ask(bot: &TestBot, from: &str, id: &str, text: &str) -> String {
    let before = bot.waha.messages_to(from).len();
    bot.waha_webhook(&waha_text(from, id, text)).await.assert_ok();
    let sent = bot.waha.wait_messages_to(from, before + 1).await;
    sent[before].body["text"].as_str().unwrap_or_default().to_string()
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < LIMIT, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `#crm sync` until its report says nothing is queued.
async fn drained(bot: &TestBot, platform: &str) -> String {
    static ASKED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let started = Instant::now();
    loop {
        let n = ASKED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let reply = ask(bot, OWNER, &format!("S{platform}{n}"), &format!("#crm sync {platform}")).await;
        if reply.contains("queued 0 ") {
            return reply;
        }
        assert!(started.elapsed() < LIMIT, "never drained: {reply}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn contacts_and_deals_reach_hubspot_once_with_their_stage_and_links() {
    let fake = FakeHubspot::start(HubspotOptions::default()).await;
    let bot = TestBot::with_config(&hubspot(&fake, "")).await;
    ask(&bot, A, "A1", "Hello, how much is the March package?").await;
    ask(&bot, B, "B1", "Hi").await;
    let created =
        ask(&bot, OWNER, "O1", &format!("#crm deals create --title \"Umroh A\" --value 25000000 --contact {A}")).await;
    assert!(created.contains("D1"), "{created}");
    ask(&bot, OWNER, "O2", "#crm deals move D1 proposal").await;
    // A second message from A changes the contact again: still one record.
    ask(&bot, A, "A2", "Is the hotel close to the mosque?").await;

    until("A, B and D1 are in HubSpot", || {
        let contacts = fake.count_by_our_id("contacts");
        let deals = fake.count_by_our_id("deals");
        contacts.get(A) == Some(&1) && contacts.get(B) == Some(&1) && deals.get("D1") == Some(&1)
    })
    .await;
    let report = drained(&bot, "hubspot").await;
    assert!(report.contains("dead 0"), "{report}");
    let contacts = fake.count_by_our_id("contacts");
    assert!(contacts.values().all(|n| *n == 1), "no duplicates: {contacts:?}");
    assert!(!contacts.contains_key(OWNER), "the owner's command chat is not a contact");
    let deal = fake.find("deals", "wa_deal_id", "D1").expect("deal D1");
    assert_eq!(deal["properties"]["dealname"], "Umroh A", "{deal}");
    assert_eq!(deal["properties"]["amount"], "25000000", "amounts as strings: {deal}");
    let stage = deal["properties"]["dealstage"].as_str().unwrap().to_string();
    assert!(!stage.is_empty() && stage != "closedwon" && stage != "closedlost", "an open stage for proposal: {stage}");
    let contact = fake.find("contacts", "wa_contact_id", A).unwrap();
    let deal_id = deal["id"].as_str().unwrap();
    assert_eq!(fake.associated("deals", deal_id, "contacts"), vec![contact["id"].as_str().unwrap().to_string()]);
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn a_refused_record_is_dead_lettered_with_hubspots_message_and_the_rest_goes_on() {
    let fake = FakeHubspot::start(HubspotOptions::default()).await;
    // Manual mode: C and D change before a sync, so they go in one batch
    // (realtime would push each change on its own at once).
    let bot = TestBot::with_config(&hubspot(&fake, "mode = \"manual\"")).await;
    ask(&bot, A, "A1", "Hi").await;
    drained(&bot, "hubspot").await;
    assert!(fake.count_by_our_id("contacts").contains_key(A), "A is in HubSpot");
    // Two 503s, then the batch goes through.
    fake.inject(fake_hubspot::Failure::ServerError, 2);
    ask(&bot, C, "C1", "Hi").await;
    ask(&bot, D, "D1", "Hi").await;
    let report = drained(&bot, "hubspot").await;
    assert_eq!(fake.count_by_our_id("contacts").len(), 3, "C and D are settled");
    assert!(report.contains("dead 0") && report.contains("failed"), "{report}");
    assert!(report.contains("503"), "the last error is shown: {report}");

    // The next batch: every other record refused (INVALID_EMAIL).
    fake.inject(fake_hubspot::Failure::PartialFailure, 1);
    ask(&bot, OWNER, "E1", &format!("#crm contacts set {C} email budi@example.com")).await;
    ask(&bot, OWNER, "E2", &format!("#crm contacts set {D} email sari@example.com")).await;
    let started = Instant::now();
    let report = loop {
        let reply = drained(&bot, "hubspot").await;
        if reply.contains("dead 1") || started.elapsed() > LIMIT {
            break reply;
        }
    };
    assert!(report.contains("dead 1") && report.contains("INVALID_EMAIL"), "{report}");
    assert!(fake.count_by_our_id("contacts").values().all(|n| *n == 1));
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn what_could_not_be_pushed_survives_a_restart_and_goes_once_the_vendor_is_back() {
    let fake = FakePipedrive::start(PipedriveOptions::default()).await;
    let pipedrive = |url: &str| {
        config(&format!(
            "[crm.pipedrive]\nbase_url = \"{url}\"\napi_token = \"{}\"\npull_secs = 0\nrequests_per_2s = 100\n",
            fake_pipedrive::API_TOKEN
        ))
    };
    // Pipedrive unreachable: the records wait in the outbox.
    let mut bot = TestBot::with_config(&pipedrive("http://127.0.0.1:9")).await;
    ask(&bot, A, "A1", "Hi").await;
    ask(&bot, B, "B1", "Hi").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    bot.stop().await;
    {
        let store = bot.store();
        let queued = store.read(TreeName::SyncOutbox).len();
        assert!(queued >= 2, "A and B are queued durably, found {queued}");
    }
    // Back, with Pipedrive reachable.
    let bot = TestBot::launch_with(bot, &pipedrive(&fake.url())).await;
    until("A and B are in Pipedrive", || {
        let persons = fake.count_by_our_id("persons");
        persons.get(A) == Some(&1) && persons.get(B) == Some(&1)
    })
    .await;
    drained(&bot, "pipedrive").await;
    assert!(fake.count_by_our_id("persons").values().all(|n| *n == 1));
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn deals_queued_with_their_contacts_go_after_them_and_link_to_them() {
    // One call per record and several at once: without waiting for its
    // contact to settle, a deal taken while that contact is still in flight
    // would go without `person_id`.
    let fake =
        FakePipedrive::start(PipedriveOptions { latency: Duration::from_millis(30), ..Default::default() }).await;
    let bot = TestBot::with_config(&config(&format!(
        "[crm.pipedrive]\nbase_url = \"{}\"\napi_token = \"{}\"\npull_secs = 0\nrequests_per_2s = 480\nmode = \"manual\"\n",
        fake.url(),
        fake_pipedrive::API_TOKEN
    )))
    .await;
    let phones: Vec<String> = (0..12).map(|i| format!("62812000009{i:02}")).collect();
    for (i, phone) in phones.iter().enumerate() {
        ask(&bot, phone, &format!("P{i}"), "Hi").await;
        let command = format!("#crm deals create --title \"Umroh {i}\" --value 1000000 --contact {phone}");
        let created = ask(&bot, OWNER, &format!("N{i}"), &command).await;
        assert!(created.contains(&format!("D{}", i + 1)), "{created}");
    }
    let report = drained(&bot, "pipedrive").await;
    assert!(report.contains("dead 0"), "{report}");

    let key = fake.id_field_key("personFields").expect("the juru id field");
    let persons: std::collections::HashMap<String, u64> = fake
        .records("persons")
        .iter()
        .filter_map(|p| Some((p["custom_fields"][&key].as_str()?.to_string(), p["id"].as_u64()?)))
        .collect();
    let deal_key = fake.id_field_key("dealFields").expect("the juru id field of deals");
    let deals = fake.records("deals");
    assert_eq!(deals.len(), phones.len(), "one deal each");
    for deal in &deals {
        let ours = deal["custom_fields"][&deal_key].as_str().unwrap_or_default();
        let n: usize = ours.trim_start_matches('D').parse().expect("our deal id");
        assert_eq!(deal["person_id"].as_u64(), Some(persons[&phones[n - 1]]), "{ours} links its contact: {deal}");
    }
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn manual_mode_pushes_only_when_asked() {
    let fake = FakeHubspot::start(HubspotOptions::default()).await;
    let bot = TestBot::with_config(&hubspot(&fake, "mode = \"manual\"")).await;
    ask(&bot, A, "A1", "Hi").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(fake.count_by_our_id("contacts").is_empty(), "manual: nothing sent yet");
    let reply = ask(&bot, OWNER, "S1", "#crm sync hubspot").await;
    assert!(reply.contains("queued 1"), "{reply}");
    until("A is in HubSpot", || fake.count_by_our_id("contacts").get(A) == Some(&1)).await;
}

#[tokio::test]
async fn the_oauth_callback_stores_the_tokens_confirms_in_chat_and_starts_the_sync() {
    let fake = FakeHubspot::start(HubspotOptions::default()).await;
    let bot = TestBot::with_config(&config(&format!(
        "[crm]\npublic_url = \"https://juru.example.com\"\n\
         [crm.hubspot]\nbase_url = \"{}\"\nclient_id = \"fake-client-id\"\nclient_secret = \"fake-client-secret\"\npull_secs = 0\n",
        fake.url()
    )))
    .await;
    ask(&bot, A, "A1", "Hi").await;
    let reply = ask(&bot, OWNER, "O1", "#crm auth --platform hubspot --oauth").await;
    let state = reply
        .split("state=")
        .nth(1)
        .expect("an authorization URL with a state")
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap()
        .to_string();
    assert!(reply.contains("redirect_uri=https%3A%2F%2Fjuru%2Eexample%2Ecom%2Foauth%2Fcallback%2Fhubspot"), "{reply}");

    let wrong = bot.get(&format!("/oauth/callback/hubspot?code=fake-code&state=forged{state}")).await;
    assert!(wrong.body.contains("not recognised"), "{}", wrong.body);
    let before = bot.waha.messages_to(OWNER).len();
    let page = bot.get(&format!("/oauth/callback/hubspot?code=fake-code&state={state}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Connected"), "{}", page.body);
    let told = bot.waha.wait_messages_to(OWNER, before + 1).await;
    assert!(told[before].body["text"].as_str().unwrap().contains("HubSpot connected"), "{:?}", told[before].body);
    until("A is pushed with the OAuth token", || fake.count_by_our_id("contacts").get(A) == Some(&1)).await;
    let again = bot.get(&format!("/oauth/callback/hubspot?code=fake-code&state={state}")).await;
    assert!(again.body.contains("not recognised"), "a state works once: {}", again.body);
    let status = bot.get("/api/crm/sync").await;
    assert!(
        status.body.contains("\"platform\":\"hubspot\"") && status.body.contains("\"running\":true"),
        "{}",
        status.body
    );
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn an_edit_in_hubspot_comes_back_through_a_signed_webhook_and_is_not_echoed() {
    const SECRET: &str = "fake-client-secret";
    let fake = FakeHubspot::start(HubspotOptions::default()).await;
    let bot = TestBot::with_config(&hubspot(
        &fake,
        &format!("client_secret = \"{SECRET}\"\n[crm]\npublic_url = \"https://juru.example.com\""),
    ))
    .await;
    ask(&bot, A, "A1", "Hi").await;
    ask(&bot, OWNER, "O1", &format!("#crm deals create --title \"Umroh A\" --value 25000000 --contact {A}")).await;
    let started = Instant::now();
    while !(fake.count_by_our_id("contacts").contains_key(A) && fake.count_by_our_id("deals").contains_key("D1")) {
        assert!(
            started.elapsed() < LIMIT,
            "A and D1 never reached HubSpot: contacts {:?}, deals {:?}, status {}, requests {:?}",
            fake.count_by_our_id("contacts"),
            fake.count_by_our_id("deals"),
            bot.get("/api/crm/sync").await.body,
            fake.requests().iter().map(|r| format!("{} {} {}", r.method, r.path, r.body)).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drained(&bot, "hubspot").await;
    tokio::time::sleep(Duration::from_millis(20)).await;

    // Staff edit the contact and win the deal in HubSpot.
    fake.remote_edit("contacts", "wa_contact_id", A, &[("firstname", "Budi"), ("lastname", "Santoso")]).unwrap();
    fake.remote_edit("deals", "wa_deal_id", "D1", &[("dealstage", "closedwon")]).unwrap();
    let upserts_before = fake.requests_to("batch/upsert").len();
    let body = r#"[{"eventId":1,"subscriptionId":2,"portalId":3,"appId":4,"occurredAt":1795402800000,"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":1,"propertyName":"firstname","propertyValue":"Budi","changeSource":"CRM_UI"}]"#;
    let path = "/api/crm/webhooks/hubspot";
    let now = juru::clock::now_ms();
    let forged = fake_hubspot_sign("wrong-secret", path, body, now);
    let refused = bot
        .raw_post(path, &[("x-hubspot-request-timestamp", &now.to_string()), ("x-hubspot-signature-v3", &forged)], body)
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let signature = fake_hubspot_sign(SECRET, path, body, now);
    let accepted = bot
        .raw_post(
            path,
            &[("x-hubspot-request-timestamp", &now.to_string()), ("x-hubspot-signature-v3", &signature)],
            body,
        )
        .await;
    accepted.assert_ok();

    let started = Instant::now();
    loop {
        let shown = ask(&bot, OWNER, &format!("Q{}", started.elapsed().as_millis()), "#crm deals show D1").await;
        if shown.contains("won") {
            break;
        }
        assert!(started.elapsed() < LIMIT, "the won stage never came back: {shown}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let contact = ask(&bot, OWNER, "Q-contact", &format!("#crm contacts show {A}")).await;
    assert!(contact.contains("Budi Santoso"), "{contact}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(fake.requests_to("batch/upsert").len(), upserts_before, "what came from HubSpot is not pushed back");
    assert_eq!(fake.violations(), Vec::<String>::new());
}

/// HubSpot's v3 signature of a POST to `https://juru.example.com{path}`.
fn fake_hubspot_sign(secret: &str, path: &str, body: &str, timestamp_ms: u64) -> String {
    juru::connectors::hubspot::sign_v3(
        secret,
        "POST",
        &format!("https://juru.example.com{path}"),
        body.as_bytes(),
        timestamp_ms,
    )
}

/// `juru sync --platform hubspot --full` on the stopped bot's data, HubSpot at `hubspot_url`.
async fn juru_sync_full(bot: &TestBot, hubspot_url: &str) -> (std::process::Output, String, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "[storage]\npath = \"{}\"\n[crm.hubspot]\nbase_url = \"{hubspot_url}\"\ntoken = \"pat-test-token\"\nmode = \"manual\"\npull_secs = 0\n",
            bot.db_path().display(),
        ),
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_juru"))
            .current_dir(dir.path())
            .env("RUST_LOG", "warn")
            .args(["sync", "--platform", "hubspot", "--full"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

#[tokio::test]
async fn juru_sync_full_pushes_everything_and_prints_a_summary() {
    let fake = FakeHubspot::start(HubspotOptions::default()).await;
    // Records made while no connector was configured.
    let mut bot = TestBot::with_config(&config("")).await;
    ask(&bot, A, "A1", "Hi").await;
    ask(&bot, B, "B1", "Hi").await;
    bot.stop().await;
    let (out, stdout, stderr) = juru_sync_full(&bot, &fake.url()).await;
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains("HubSpot: sent 2 · failed 0 · dead 0 · still queued 0"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let contacts = fake.count_by_our_id("contacts");
    assert_eq!((contacts.get(A), contacts.get(B)), (Some(&1), Some(&1)));
    assert_eq!(fake.violations(), Vec::<String>::new());
}

/// A loopback address where nothing listens (the port was just released).
fn refusing_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

#[tokio::test]
async fn juru_sync_against_a_refusing_vendor_prints_the_error_and_fails() {
    let mut bot = TestBot::with_config(&config("")).await;
    ask(&bot, A, "A1", "Hi").await;
    bot.stop().await;
    let (out, stdout, stderr) = juru_sync_full(&bot, &refusing_url()).await;
    assert!(!out.status.success(), "nothing was sent, yet exit 0\nstdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("nothing could be sent"), "stderr: {stderr}");
    assert!(stderr.contains("ERROR"), "the failure is logged: {stderr}");
}

#[tokio::test]
async fn crm_sync_shows_a_connector_that_cannot_even_get_a_token() {
    let crm = format!(
        "[crm.salesforce]\nlogin_url = \"{}\"\nclient_id = \"cid\"\nclient_secret = \"cs\"\npull_secs = 0\n",
        refusing_url()
    );
    let bot = TestBot::with_config(&config(&crm)).await;
    let started = Instant::now();
    let mut n = 0;
    loop {
        n += 1;
        let reply = ask(&bot, OWNER, &format!("SF{n}"), "#crm sync salesforce").await;
        if reply.contains("last error") {
            break;
        }
        assert!(started.elapsed() < LIMIT, "the set-up failure is never shown: {reply}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
