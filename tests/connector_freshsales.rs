//! The Freshsales connector against a fake Freshsales account on loopback:
//! what Freshsales ends up holding, what the worker is told, and that every
//! request had the shape crm-apis.md §5 describes (the fake's violations
//! stay empty).

mod common;
#[path = "fakes/freshsales.rs"]
mod fake_freshsales;

use std::time::{Duration, Instant};

use common::crm::{Ids, activity, contact, deal, done, push, push_items};
use fake_freshsales::{API_KEY, Failure, FakeFreshsales, FakeOptions, ID_FIELD};
use juru::config::FreshsalesConfig;
use juru::connectors::credential::Credential;
use juru::connectors::freshsales::FreshsalesConnector;
use juru::connectors::{Connector, Item, Kind, Outcome, Record, SyncError};
use juru::crm::company::CompanyKind;
use juru::crm::deal::Stage;
use juru::crm::settings::FieldMapping;
use serde_json::json;

const BUDI: &str = "6281234567890";

fn config(fake: &FakeFreshsales) -> FreshsalesConfig {
    FreshsalesConfig { domain: fake.domain(), ..FreshsalesConfig::default() }
}

fn connector_with(config: &FreshsalesConfig, key: &str) -> FreshsalesConnector {
    FreshsalesConnector::new(config, Credential::ApiKey(key.into()), FieldMapping::new())
        .with_timeout(Duration::from_secs(1))
}

fn connector(fake: &FakeFreshsales) -> FreshsalesConnector {
    connector_with(&config(fake), API_KEY)
}

/// A brand under its parent, else a legal entity.
fn company(id: &str, name: &str, parent: Option<&str>) -> Record {
    let kind = if parent.is_some() { CompanyKind::Brand } else { CompanyKind::LegalEntity };
    common::crm::company(id, name, kind, parent)
}

fn assert_clean(fake: &FakeFreshsales) {
    assert_eq!(fake.violations(), Vec::<String>::new(), "requests Freshsales would refuse");
}

#[tokio::test]
async fn prepare_checks_our_field_on_contacts_accounts_and_deals_and_loads_the_pipeline() {
    let fake = FakeFreshsales::start(FakeOptions::default()).await;
    connector(&fake).prepare().await.unwrap();
    let paths: Vec<String> = fake.requests().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(
        paths,
        [
            "GET /settings/contacts/fields",
            "GET /settings/sales_accounts/fields",
            "GET /settings/deals/fields",
            "GET /selector/deal_pipelines",
            "GET /selector/deal_stages"
        ]
    );
    for r in fake.requests() {
        assert_eq!(r.headers["authorization"], format!("Token token={API_KEY}"), "Freshsales' own auth scheme");
    }
    assert_clean(&fake);
}

#[tokio::test]
async fn prepare_tells_the_owner_which_field_to_create_and_how() {
    let fake =
        FakeFreshsales::start(FakeOptions { missing_id_field: vec!["deals".into()], ..FakeOptions::default() }).await;
    let err = connector(&fake).prepare().await.unwrap_err();
    let SyncError::Permanent(message) = err else { panic!("a set-up failure: {err:?}") };
    assert!(message.contains("no field cf_juru_id on Deals"), "{message}");
    assert!(message.contains("labelled \"juru id\"") && message.contains("Unique"), "{message}");
}

#[tokio::test]
async fn a_refused_api_key_is_an_auth_error_in_freshsales_words_with_the_fix() {
    let fake = FakeFreshsales::start(FakeOptions::default()).await;
    let err = connector_with(&config(&fake), "wrong-key-123").prepare().await.unwrap_err();
    let SyncError::Auth(message) = err else { panic!("an auth failure: {err:?}") };
    assert!(message.contains("Incorrect or expired API key"), "Freshsales' words: {message}");
    assert!(message.contains("API Settings") && message.contains("--api-key"), "the fix: {message}");
}

#[tokio::test]
async fn a_wrong_bundle_alias_is_a_set_up_failure_naming_the_domain() {
    let fake = FakeFreshsales::start(FakeOptions::default()).await;
    let cfg = FreshsalesConfig { domain: format!("{}/crm/elsewhere", fake.url()), ..FreshsalesConfig::default() };
    let err = connector_with(&cfg, API_KEY).prepare().await.unwrap_err();
    let SyncError::Permanent(message) = err else { panic!("a set-up failure: {err:?}") };
    assert!(message.contains("Freshsales 404") && message.contains("[crm.freshsales] domain"), "{message}");
    let none = connector_with(&FreshsalesConfig::default(), API_KEY).prepare().await.unwrap_err();
    assert!(matches!(&none, SyncError::Permanent(m) if m.contains("no Freshsales domain")), "{none:?}");
}

#[tokio::test]
async fn a_legacy_freshsales_io_account_is_reached_without_the_bundle_path() {
    let fake = FakeFreshsales::start(FakeOptions::default()).await;
    let cfg = FreshsalesConfig { domain: fake.url(), ..FreshsalesConfig::default() };
    let c = connector_with(&cfg, API_KEY);
    c.prepare().await.unwrap();
    done(&push(&c, &Ids::default(), vec![contact(BUDI, Some("Budi"), None)]).await.unwrap()[0]);
    assert_eq!(fake.count_by_our_id("contacts").get(BUDI), Some(&1));
    assert_clean(&fake);
}

#[tokio::test]
async fn accounts_contacts_deals_and_tasks_land_with_their_links_and_a_note() {
    let fake = FakeFreshsales::start(FakeOptions::default()).await;
    let c = connector(&fake);
    c.prepare().await.unwrap();
    let ids = Ids::default();
    let entity = done(&push(&c, &ids, vec![company("pt-kopi", "PT Kopi", None)]).await.unwrap()[0]);
    let brand = done(&push(&c, &ids, vec![company("kopi-kita", "Kopi Kita", Some("pt-kopi"))]).await.unwrap()[0]);
    let budi = done(&push(&c, &ids, vec![contact(BUDI, Some("Budi"), Some("kopi-kita"))]).await.unwrap()[0]);
    let d1 = done(&push(&c, &ids, vec![deal(1, Stage::Proposal, Some(BUDI), Some("kopi-kita"))]).await.unwrap()[0]);
    let task = done(&push(&c, &ids, vec![activity(7, BUDI, Some(1), Some("Minta brosur"))]).await.unwrap()[0]);

    let account = fake.by_our_id("sales_accounts", "kopi-kita").unwrap();
    assert_eq!(account["parent_sales_account_id"].to_string(), entity);
    let person = fake.by_our_id("contacts", BUDI).unwrap();
    assert_eq!(person["id"].to_string(), budi);
    assert_eq!(person["mobile_number"], format!("+{BUDI}"));
    assert_eq!(person["sales_accounts"][0]["id"].to_string(), brand);
    let d = fake.by_our_id("deals", "D1").unwrap();
    assert_eq!(d["contacts_added_list"][0].to_string(), budi, "the deal names its contact");
    assert_eq!(d["sales_account_id"].to_string(), brand);
    assert_eq!(d["amount"], 25_000_000);
    let tasks = fake.records("tasks");
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["id"].to_string(), task);
    assert_eq!(
        (tasks[0]["targetable_type"].as_str(), tasks[0]["targetable_id"].to_string()),
        (Some("Deal"), d1.clone())
    );
    assert!(tasks[0]["description"].as_str().unwrap().ends_with("[juru A7]"));
    let notes = fake.records("notes");
    assert_eq!(notes.len(), 1);
    assert!(notes[0]["description"].as_str().unwrap().starts_with("Minta brosur"));
    let upsert = fake.writes().into_iter().find(|r| r.path == "/contacts/upsert").unwrap();
    assert_eq!(upsert.body["unique_identifier"], json!({ID_FIELD: BUDI}));
    assert_clean(&fake);
}

#[tokio::test]
async fn a_record_pushed_twice_exists_once_and_a_known_task_is_updated_not_repeated() {
    let fake = FakeFreshsales::start(FakeOptions::default()).await;
    let c = connector(&fake);
    c.prepare().await.unwrap();
    let ids = Ids::default();
    let first = done(&push(&c, &ids, vec![contact(BUDI, Some("Budi"), None)]).await.unwrap()[0]);
    let again = done(&push(&c, &ids, vec![contact(BUDI, Some("Budi Santoso"), None)]).await.unwrap()[0]);
    assert_eq!(first, again);
    assert_eq!(fake.count_by_our_id("contacts").get(BUDI), Some(&1));
    assert_eq!(fake.by_our_id("contacts", BUDI).unwrap()["last_name"], "Budi Santoso");
    let task = done(&push(&c, &ids, vec![activity(3, BUDI, None, Some("Telepon"))]).await.unwrap()[0]);
    let item =
        Item { record: activity(3, BUDI, None, Some("Telepon lagi")), remote_id: Some(task.clone()), unsure: false };
    assert_eq!(done(&push_items(&c, &ids, vec![item]).await.unwrap()[0]), task);
    assert_eq!(fake.count_by_our_id("tasks").get("A3"), Some(&1));
    assert_eq!(fake.records("notes").len(), 1, "the note goes with the new task only");
    assert_clean(&fake);
}

#[tokio::test]
async fn an_activity_waits_until_its_contact_is_in_freshsales() {
    let fake = FakeFreshsales::start(FakeOptions::default()).await;
    let c = connector(&fake);
    c.prepare().await.unwrap();
    let outcomes = push(&c, &Ids::default(), vec![activity(1, BUDI, None, None)]).await.unwrap();
    assert!(
        matches!(&outcomes[0], Outcome::Retry { reason } if reason.contains("not in Freshsales yet")),
        "{outcomes:?}"
    );
    assert!(fake.writes().is_empty(), "nothing sent without its contact");
}

#[tokio::test]
async fn a_deal_in_a_stage_the_pipeline_lacks_is_dead_with_how_to_fix_it() {
    let stages = fake_freshsales::default_stages().into_iter().filter(|(_, _, f)| f != "Lost").collect();
    let fake = FakeFreshsales::start(FakeOptions { stages, ..FakeOptions::default() }).await;
    let c = connector(&fake);
    c.prepare().await.unwrap();
    let outcomes = push(&c, &Ids::default(), vec![deal(2, Stage::Lost, None, None)]).await.unwrap();
    assert!(
        matches!(&outcomes[0], Outcome::Dead { reason } if reason.contains("`lost`") && reason.contains("Deal pipelines")),
        "{outcomes:?}"
    );
    assert!(fake.records("deals").is_empty());
}

#[tokio::test]
async fn a_refused_record_is_dead_with_freshsales_message() {
    let fake = FakeFreshsales::start(FakeOptions::default()).await;
    let c = connector(&fake);
    c.prepare().await.unwrap();
    fake.inject(Failure::InvalidData, 1);
    let outcomes = push(&c, &Ids::default(), vec![contact(BUDI, Some("Budi"), None)]).await.unwrap();
    assert!(
        matches!(&outcomes[0], Outcome::Dead { reason } if reason.contains("Freshsales 400: Mobile number is invalid")),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn a_429_is_a_throttle_with_freshsales_wait_and_a_500_is_transient() {
    let fake = FakeFreshsales::start(FakeOptions::default()).await;
    let c = connector(&fake);
    c.prepare().await.unwrap();
    fake.inject(Failure::Throttle, 1);
    let err = push(&c, &Ids::default(), vec![contact(BUDI, None, None)]).await.unwrap_err();
    assert!(matches!(&err, SyncError::Throttled { retry_after: Some(d), .. } if d.as_secs() == 1), "{err:?}");
    assert!(c.paused_for().is_some(), "the limiter holds the next request back");
    fake.inject(Failure::ServerError, 1);
    let err = push(&c, &Ids::default(), vec![contact(BUDI, None, None)]).await.unwrap_err();
    assert!(matches!(&err, SyncError::Transient(m) if m.contains("500")), "{err:?}");
}

#[tokio::test]
async fn after_a_timeout_pushing_again_creates_no_duplicate_contact_or_task() {
    let fake = FakeFreshsales::start(FakeOptions { hang: Duration::from_secs(2), ..FakeOptions::default() }).await;
    let c = connector(&fake);
    c.prepare().await.unwrap();
    let ids = Ids::default();
    fake.inject(Failure::Timeout, 1);
    let err = push(&c, &ids, vec![contact(BUDI, Some("Budi"), None)]).await.unwrap_err();
    assert!(matches!(err, SyncError::Transient(_)), "{err:?}");
    done(&push(&c, &ids, vec![contact(BUDI, Some("Budi"), None)]).await.unwrap()[0]);
    assert_eq!(fake.count_by_our_id("contacts").get(BUDI), Some(&1));

    fake.inject(Failure::Timeout, 1);
    assert!(push(&c, &ids, vec![activity(5, BUDI, None, None)]).await.is_err());
    // The worker marks it unsure: the task is looked up by its marker, then updated.
    let item = Item { record: activity(5, BUDI, None, None), remote_id: None, unsure: true };
    done(&push_items(&c, &ids, vec![item]).await.unwrap()[0]);
    assert_eq!(fake.count_by_our_id("tasks").get("A5"), Some(&1), "one task after the timeout");
    let lookup = fake.requests().into_iter().find(|r| r.method == "GET" && r.path.starts_with("/contacts/")).unwrap();
    assert_eq!(lookup.query.get("include").map(String::as_str), Some("tasks"));
    assert_clean(&fake);
}

#[tokio::test]
async fn the_limiter_keeps_the_account_under_its_budget() {
    let window = Duration::from_secs(1);
    let fake = FakeFreshsales::start(FakeOptions { rate_limit: Some((3, window)), ..FakeOptions::default() }).await;
    let c = connector(&fake).with_window(3, window);
    let ids = Ids::default();
    let started = Instant::now();
    for n in 0..7 {
        done(&push(&c, &ids, vec![contact(&format!("62811100{n}"), None, None)]).await.unwrap()[0]);
    }
    assert!(started.elapsed() >= Duration::from_secs(2), "7 calls at 3 per second need two more windows");
    assert_eq!(fake.records("contacts").len(), 7);
    assert_clean(&fake);
}

#[tokio::test]
async fn pull_brings_changes_since_the_cursor_with_our_ids_and_our_stage() {
    let fake = FakeFreshsales::start(FakeOptions::default()).await;
    let c = connector(&fake);
    c.prepare().await.unwrap();
    let ids = Ids::default();
    let budi = done(&push(&c, &ids, vec![contact(BUDI, None, None)]).await.unwrap()[0]);
    let d3 = done(&push(&c, &ids, vec![deal(3, Stage::Lead, Some(BUDI), None)]).await.unwrap()[0]);
    let first = c.pull(Kind::Contact, None, None).await.unwrap();
    assert_eq!(first.changes.len(), 1);
    assert_eq!(first.changes[0].local_id.as_deref(), Some(BUDI));
    assert_eq!(first.changes[0].fields.name, None, "the phone standing in for a name is not a name");
    let cursor = first.cursor.unwrap();
    assert!(c.pull(Kind::Contact, Some(cursor), None).await.unwrap().changes.is_empty(), "nothing new");

    fake.touch("contacts", &json!(budi.parse::<u64>().unwrap()), json!({"display_name": "Budi Santoso"}));
    let won = fake_freshsales::default_stages().into_iter().find(|(_, n, _)| n == "Won").unwrap().0;
    fake.touch("deals", &json!(d3.parse::<u64>().unwrap()), json!({"deal_stage_id": won, "amount": "30000000.0"}));
    let next = c.pull(Kind::Contact, Some(cursor), None).await.unwrap();
    assert_eq!(next.changes.len(), 1);
    assert_eq!(next.changes[0].fields.name.as_deref(), Some("Budi Santoso"));
    let deals = c.pull(Kind::Deal, Some(cursor), None).await.unwrap();
    assert_eq!(deals.changes[0].local_id.as_deref(), Some("D3"));
    assert_eq!((deals.changes[0].fields.stage, deals.changes[0].fields.value), (Some(Stage::Won), Some(30_000_000)));
    assert_clean(&fake);
}

// ---- end to end: chat, #crm sync, juru sync ----

const OWNER: &str = "6281100000001";
const PROSPECT: &str = "6281200000101";
const LIMIT: Duration = Duration::from_secs(40);

fn bot_config(fake: &FakeFreshsales, extra: &str) -> String {
    format!(
        "[bot]\nowners = [\"{OWNER}\"]\nsend_seen = false\nsend_typing = false\nlanguage = \"en\"\n[sales]\ndefault_language = \"en\"\n\
         [crm.freshsales]\ndomain = \"{}\"\npull_secs = 0\n{extra}",
        fake.domain()
    )
}

/// Asks `text` until the reply contains every one of `wanted`.
async fn ask_until(bot: &common::TestBot, text: &str, wanted: &[&str]) -> String {
    bot.ask_until(OWNER, text, wanted, LIMIT).await
}

#[tokio::test]
async fn an_owner_connects_freshsales_from_chat_and_the_prospects_and_deals_land() {
    let fake = FakeFreshsales::start(FakeOptions::default()).await;
    let bot = common::TestBot::with_config(&bot_config(&fake, "")).await;
    bot.ask(PROSPECT, "P1", "Hi, how much is the March package?").await;
    let connect = bot.ask(OWNER, "O1", "#crm connect freshsales").await;
    assert!(connect.contains("Freshsales chosen") && connect.contains("--api-key"), "{connect}");
    let stored = bot.ask(OWNER, "O2", &format!("#crm auth --platform freshsales --api-key {API_KEY}")).await;
    assert!(stored.contains("API key stored"), "{stored}");
    common::until(LIMIT, "the prospect is a Freshsales contact", || {
        fake.count_by_our_id("contacts").get(PROSPECT) == Some(&1)
    })
    .await;
    let created = bot
        .ask(OWNER, "O3", &format!("#crm deals create --title \"Umroh A\" --value 25000000 --contact {PROSPECT}"))
        .await;
    assert!(created.contains("D1"), "{created}");
    common::until(LIMIT, "D1 is a Freshsales deal", || fake.count_by_our_id("deals").get("D1") == Some(&1)).await;
    let report = ask_until(&bot, "#crm sync freshsales", &["queued 0 ", "dead 0"]).await;
    assert!(!report.contains("no Freshsales connector"), "{report}");
    let d = fake.by_our_id("deals", "D1").unwrap();
    let person = fake.by_our_id("contacts", PROSPECT).unwrap();
    assert_eq!(d["contacts_added_list"][0], person["id"]);
    assert_clean(&fake);
}

#[tokio::test]
async fn a_stage_moved_in_freshsales_comes_back_and_is_not_echoed() {
    let fake = FakeFreshsales::start(FakeOptions::default()).await;
    let config = bot_config(&fake, &format!("api_key = \"{API_KEY}\"\n")).replace("pull_secs = 0", "pull_secs = 1");
    let bot = common::TestBot::with_config(&config).await;
    bot.ask(PROSPECT, "P1", "Hi").await;
    let created = bot
        .ask(OWNER, "O1", &format!("#crm deals create --title \"Umroh A\" --value 25000000 --contact {PROSPECT}"))
        .await;
    assert!(created.contains("D1"), "{created}");
    common::until(LIMIT, "D1 is a Freshsales deal", || fake.count_by_our_id("deals").get("D1") == Some(&1)).await;
    let upserts = || fake.writes().iter().filter(|r| r.path == "/deals/upsert").count();
    let before = upserts();
    let open = bot.ask(OWNER, "O2", "#crm deals show D1").await;
    assert!(!open.to_lowercase().contains("won"), "{open}");
    let remote = fake.by_our_id("deals", "D1").unwrap()["id"].clone();
    let won = fake_freshsales::default_stages().into_iter().find(|(_, n, _)| n == "Won").unwrap().0;
    fake.touch("deals", &remote, json!({"deal_stage_id": won}));
    let shown = ask_until(&bot, "#crm deals show D1", &["won"]).await;
    assert!(shown.contains("Umroh A") && shown.contains("freshsales"), "moved by the platform: {shown}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(upserts(), before, "the change pulled from Freshsales is not pushed back to it");
    assert_clean(&fake);
}

#[tokio::test]
async fn crm_sync_shows_the_missing_freshsales_field_and_how_to_add_it() {
    let fake =
        FakeFreshsales::start(FakeOptions { missing_id_field: vec!["contacts".into()], ..FakeOptions::default() })
            .await;
    let bot = common::TestBot::with_config(&bot_config(&fake, &format!("api_key = \"{API_KEY}\"\n"))).await;
    let reply = ask_until(&bot, "#crm sync freshsales", &["last error"]).await;
    assert!(reply.contains("no field cf_juru_id on Contacts") && reply.contains("Module customization"), "{reply}");
}

#[tokio::test]
async fn crm_sync_shows_a_refused_key_in_freshsales_words() {
    let fake = FakeFreshsales::start(FakeOptions::default()).await;
    let bot = common::TestBot::with_config(&bot_config(&fake, "api_key = \"revoked-key-0000\"\n")).await;
    let reply = ask_until(&bot, "#crm sync freshsales", &["last error"]).await;
    assert!(reply.contains("Incorrect or expired API key") && reply.contains("--api-key"), "{reply}");
}

#[tokio::test]
async fn a_deal_whose_contact_was_dead_lettered_follows_it_after_a_few_tries() {
    let fake = FakeFreshsales::start(FakeOptions::default()).await;
    // The first write (the prospect's contact) is refused for good.
    fake.inject(Failure::InvalidData, 1);
    let bot = common::TestBot::with_config(&bot_config(&fake, &format!("api_key = \"{API_KEY}\"\n"))).await;
    bot.ask(PROSPECT, "P1", "Hi").await;
    ask_until(&bot, "#crm sync freshsales", &["dead 1"]).await;
    let created = bot
        .ask(OWNER, "O1", &format!("#crm deals create --title \"Umroh A\" --value 25000000 --contact {PROSPECT}"))
        .await;
    assert!(created.contains("D1"), "{created}");
    let reply = ask_until(&bot, "#crm sync freshsales", &["queued 0 ", "dead 2"]).await;
    assert!(reply.contains("was dead-lettered") && reply.contains("Mobile number is invalid"), "{reply}");
    assert!(fake.records("deals").is_empty());
}

/// `juru sync --platform freshsales --full` on the stopped bot's database, in manual mode.
async fn juru_sync_freshsales(bot: &common::TestBot, fake: &FakeFreshsales, key: &str) -> (bool, String, String) {
    let crm = format!(
        "[crm.freshsales]\ndomain = \"{}\"\napi_key = \"{key}\"\nmode = \"manual\"\npull_secs = 0\n",
        fake.domain(),
    );
    bot.juru_sync("freshsales", &crm).await
}

#[tokio::test]
async fn juru_sync_platform_freshsales_pushes_everything_and_prints_a_summary() {
    let fake = FakeFreshsales::start(FakeOptions::default()).await;
    let mut bot = common::TestBot::with_config(&format!("[bot]\nowners = [\"{OWNER}\"]\n")).await;
    bot.ask(PROSPECT, "P1", "Hi").await;
    bot.stop().await;
    let (ok, stdout, stderr) = juru_sync_freshsales(&bot, &fake, API_KEY).await;
    assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("Freshsales: sent") && stdout.contains("dead 0 · still queued 0"), "stdout: {stdout}");
    assert_eq!(fake.count_by_our_id("contacts").get(PROSPECT), Some(&1));
    assert_clean(&fake);
}

#[tokio::test]
async fn juru_sync_platform_freshsales_with_a_refused_key_says_so_in_freshsales_words_and_fails() {
    let fake = FakeFreshsales::start(FakeOptions::default()).await;
    let mut bot = common::TestBot::with_config(&format!("[bot]\nowners = [\"{OWNER}\"]\n")).await;
    bot.ask(PROSPECT, "P1", "Hi").await;
    bot.stop().await;
    let (ok, stdout, stderr) = juru_sync_freshsales(&bot, &fake, "revoked-key-0000").await;
    assert!(!ok, "nothing was sent, yet exit 0\nstdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("Incorrect or expired API key") && stderr.contains("--api-key"), "stderr: {stderr}");
}
