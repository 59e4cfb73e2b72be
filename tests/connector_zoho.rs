//! The Zoho CRM connector against a fake Zoho organisation on loopback: what
//! Zoho ends up holding, what the worker is told, and that every request had
//! the shape Zoho documents (the fake's violations stay empty).

mod common;
#[path = "fakes/zoho.rs"]
mod fake_zoho;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::crm::{Ids, activity, company, contact, deal, done, push};
use fake_zoho::{Failure, FakeOptions, FakeZoho, ID_FIELD};
use juru::config::{Secret, Url, ZohoConfig};
use juru::connectors::credential::{Credential, TokenSink, Tokens};
use juru::connectors::zoho::{ZohoConnector, exchange_code};
use juru::connectors::{Connector, Kind, Outcome, Record, SyncError};
use juru::crm::company::CompanyKind;
use juru::crm::deal::Stage;
use juru::crm::settings::FieldMapping;
use serde_json::json;

const BUDI: &str = "6281234567890";
const SITI: &str = "6285798765432";
/// Nothing listens here: only the token answer's api_domain leads to the fake.
const NOWHERE: &str = "http://127.0.0.1:9";

fn config(fake: &FakeZoho) -> ZohoConfig {
    ZohoConfig {
        accounts_url: Url(fake.url()),
        api_domain: Url(NOWHERE.into()),
        client_id: Some(fake_zoho::CLIENT_ID.into()),
        client_secret: Secret::try_from(fake_zoho::CLIENT_SECRET.to_string()).ok(),
        ..ZohoConfig::default()
    }
}

/// Tokens as `#crm auth --oauth` leaves them: a refresh token, no access token yet.
fn authorised() -> Credential {
    Credential::OAuth(Tokens { refresh_token: Some(fake_zoho::REFRESH_TOKEN.into()), ..Tokens::default() })
}

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<Tokens>>>);

impl Sink {
    fn as_sink(&self) -> TokenSink {
        let inner = self.0.clone();
        Arc::new(move |t| inner.lock().unwrap().push(t))
    }
    fn handed(&self) -> Vec<Tokens> {
        self.0.lock().unwrap().clone()
    }
}

fn connector_with(config: &ZohoConfig, credential: Credential, mapping: FieldMapping) -> (ZohoConnector, Sink) {
    let sink = Sink::default();
    (ZohoConnector::new(config, credential, mapping, sink.as_sink()).with_timeout(Duration::from_secs(1)), sink)
}

fn connector(fake: &FakeZoho) -> (ZohoConnector, Sink) {
    connector_with(&config(fake), authorised(), FieldMapping::new())
}

fn assert_clean(fake: &FakeZoho) {
    assert_eq!(fake.violations(), Vec::<String>::new(), "requests Zoho would refuse");
}

// ---- prepare ----

#[tokio::test]
async fn prepare_gets_a_token_in_the_accounts_data_centre_checks_our_field_and_loads_the_pipeline() {
    let fake = FakeZoho::start(FakeOptions::default()).await;
    let (c, sink) = connector(&fake);
    c.prepare().await.unwrap();
    c.prepare().await.unwrap();
    assert_eq!(fake.grants(), ["refresh_token"], "one token for both runs");
    let handed = sink.handed();
    assert_eq!(handed.len(), 1);
    assert_eq!(handed[0].api_domain.as_deref(), Some(fake.url().as_str()), "the data centre is kept with the tokens");
    assert_eq!(handed[0].refresh_token.as_deref(), Some(fake_zoho::REFRESH_TOKEN), "Zoho does not rotate it");
    let requests = fake.requests();
    let modules: Vec<String> = requests
        .iter()
        .filter(|r| r.path == "/crm/v8/settings/fields")
        .map(|r| r.query["module"].clone())
        .take(4)
        .collect();
    assert_eq!(modules, ["Accounts", "Contacts", "Deals", "Tasks"]);
    assert!(requests.iter().any(|r| r.path == "/crm/v8/settings/pipeline" && r.query.contains_key("layout_id")));
    let api = requests.iter().find(|r| r.path.starts_with("/crm/")).unwrap();
    assert!(api.headers["authorization"].starts_with("Zoho-oauthtoken 1000."), "{:?}", api.headers);
    assert!(fake.writes().is_empty(), "prepare writes nothing");
    assert_clean(&fake);
}

#[tokio::test]
async fn prepare_tells_the_owner_which_field_to_create_and_how() {
    let opts = FakeOptions {
        missing_id_field: vec!["Tasks".into()],
        not_unique: vec!["Contacts".into()],
        ..FakeOptions::default()
    };
    let fake = FakeZoho::start(opts).await;
    let (c, _) = connector(&fake);
    let Err(SyncError::Permanent(message)) = c.prepare().await else { panic!("prepare must refuse") };
    assert!(message.contains("Tasks has no field WA_Id"), "{message}");
    assert!(message.contains("Contacts.WA_Id allows duplicate values"), "{message}");
    assert!(message.contains("Do not allow duplicate values"), "{message}");
    assert!(!message.contains("Accounts has no field"), "{message}");
}

#[tokio::test]
async fn a_refused_refresh_token_is_an_auth_error_in_zohos_words_with_the_fix() {
    let fake = FakeZoho::start(FakeOptions::default()).await;
    let credential = Credential::OAuth(Tokens { refresh_token: Some("1000.revoked".into()), ..Tokens::default() });
    let (c, _) = connector_with(&config(&fake), credential, FieldMapping::new());
    let Err(SyncError::Auth(message)) = c.prepare().await else { panic!("must be an auth error") };
    assert!(message.contains("invalid_code"), "Zoho's words: {message}");
    assert!(message.contains("#crm auth --platform zoho --oauth"), "the fix: {message}");
}

#[tokio::test]
async fn a_wrong_client_secret_names_the_config_keys() {
    let fake = FakeZoho::start(FakeOptions::default()).await;
    let cfg = ZohoConfig { client_secret: Secret::try_from("wrong".to_string()).ok(), ..config(&fake) };
    let (c, _) = connector_with(&cfg, authorised(), FieldMapping::new());
    let Err(SyncError::Auth(message)) = c.prepare().await else { panic!("must be an auth error") };
    assert!(message.contains("invalid_client") && message.contains("client_secret"), "{message}");
}

// ---- upserts ----

#[tokio::test]
async fn companies_contacts_deals_and_tasks_land_with_their_links_and_a_note() {
    let fake = FakeZoho::start(FakeOptions::default()).await;
    let mapping: FieldMapping = [("customer_group".to_string(), "WA_Group".to_string())].into();
    let (c, _) = connector_with(&config(&fake), authorised(), mapping);
    let ids = Ids::default();
    c.prepare().await.unwrap();

    let legal =
        push(&c, &ids, vec![company("pt-kopi-kita", "PT Kopi Kita", CompanyKind::LegalEntity, None)]).await.unwrap();
    let brand = push(&c, &ids, vec![company("kopi-kita", "Kopi Kita", CompanyKind::Brand, Some("pt-kopi-kita"))])
        .await
        .unwrap();
    push(&c, &ids, vec![contact(BUDI, Some("Budi Santoso"), Some("kopi-kita")), contact(SITI, None, None)])
        .await
        .unwrap();
    let deals = push(&c, &ids, vec![deal(1, Stage::Proposal, Some(BUDI), Some("kopi-kita"))]).await.unwrap();
    push(&c, &ids, vec![activity(7, BUDI, Some(1), Some("Minta penawaran 2 mesin"))]).await.unwrap();

    let brand_row = fake.by_our_id("Accounts", "kopi-kita").unwrap();
    assert_eq!(brand_row["Parent_Account"]["id"], done(&legal[0]));
    let budi = fake.by_our_id("Contacts", BUDI).unwrap();
    assert_eq!(budi["Last_Name"], "Budi Santoso");
    assert_eq!(budi["Phone"], format!("+{BUDI}"));
    assert_eq!(budi["Account_Name"]["id"], done(&brand[0]));
    assert_eq!(fake.by_our_id("Contacts", SITI).unwrap()["Last_Name"], format!("+{SITI}"), "no name: the phone");
    let d = fake.by_our_id("Deals", "D1").unwrap();
    assert_eq!(d["Stage"], "Proposal/Price Quote");
    assert_eq!(d["Amount"], 25_000_000);
    assert_eq!(d["Contact_Name"]["id"], budi["id"]);
    let task = fake.by_our_id("Tasks", "A7").unwrap();
    assert_eq!(task["What_Id"]["id"], done(&deals[0]));
    assert_eq!(task["$se_module"], "Deals");
    assert_eq!(task["Who_Id"]["id"], budi["id"]);
    let notes = fake.notes();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["Note_Content"], "Minta penawaran 2 mesin");
    assert_eq!(notes[0]["Parent_Id"]["id"], done(&deals[0]));
    let upsert = fake.writes().into_iter().find(|r| r.path == "/crm/v8/Contacts/upsert").unwrap();
    assert_eq!(upsert.body["duplicate_check_fields"], json!([ID_FIELD]));
    assert_clean(&fake);
}

#[tokio::test]
async fn a_record_pushed_twice_exists_once_and_its_note_is_not_repeated() {
    let fake = FakeZoho::start(FakeOptions::default()).await;
    let (c, _) = connector(&fake);
    let ids = Ids::default();
    c.prepare().await.unwrap();
    let first = push(&c, &ids, vec![contact(BUDI, Some("Budi"), None)]).await.unwrap();
    let again = push(&c, &ids, vec![contact(BUDI, Some("Budi Santoso"), None)]).await.unwrap();
    assert_eq!(done(&first[0]), done(&again[0]));
    assert_eq!(fake.count_by_our_id("Contacts")[BUDI], 1);
    assert_eq!(fake.by_our_id("Contacts", BUDI).unwrap()["Last_Name"], "Budi Santoso");
    for _ in 0..2 {
        push(&c, &ids, vec![activity(3, BUDI, None, Some("catatan"))]).await.unwrap();
    }
    assert_eq!(fake.count_by_our_id("Tasks")["A3"], 1);
    assert_eq!(fake.notes().len(), 1, "a note beside the new task only");
    assert_clean(&fake);
}

#[tokio::test]
async fn two_hundred_fifty_contacts_go_in_calls_of_at_most_one_hundred() {
    let fake = FakeZoho::start(FakeOptions::default()).await;
    let (c, _) = connector(&fake);
    let ids = Ids::default();
    c.prepare().await.unwrap();
    let records: Vec<Record> = (0..250).map(|i| contact(&format!("62812000{i:05}"), None, None)).collect();
    let outcomes = push(&c, &ids, records).await.unwrap();
    assert_eq!(outcomes.iter().filter(|o| matches!(o, Outcome::Done { .. })).count(), 250);
    let sizes: Vec<usize> = fake.writes().iter().map(|r| r.body["data"].as_array().map_or(0, Vec::len)).collect();
    assert_eq!(sizes, [100, 100, 50]);
    assert_clean(&fake);
}

#[tokio::test]
async fn an_activity_waits_until_its_contact_is_in_zoho() {
    let fake = FakeZoho::start(FakeOptions::default()).await;
    let (c, _) = connector(&fake);
    c.prepare().await.unwrap();
    let outcomes = push(&c, &Ids::default(), vec![activity(1, BUDI, None, None)]).await.unwrap();
    assert!(matches!(&outcomes[0], Outcome::Retry { reason } if reason.contains("not in Zoho yet")), "{outcomes:?}");
    assert!(fake.writes().is_empty());
}

#[tokio::test]
async fn a_deal_in_a_stage_the_pipeline_lacks_is_dead_with_how_to_fix_it() {
    let stages = fake_zoho::standard_stages().into_iter().filter(|(_, f)| f != "Closed Lost").collect();
    let fake = FakeZoho::start(FakeOptions { stages, ..FakeOptions::default() }).await;
    let (c, _) = connector(&fake);
    let ids = Ids::default();
    c.prepare().await.unwrap();
    push(&c, &ids, vec![contact(BUDI, None, None)]).await.unwrap();
    let outcomes = push(&c, &ids, vec![deal(2, Stage::Lost, Some(BUDI), None)]).await.unwrap();
    let Outcome::Dead { reason } = &outcomes[0] else { panic!("{outcomes:?}") };
    assert!(reason.contains("`lost`") && reason.contains("Pipelines"), "{reason}");
    assert_clean(&fake);
}

#[tokio::test]
async fn per_record_refusals_are_dead_with_zohos_message_and_a_locked_record_is_retried() {
    let fake = FakeZoho::start(FakeOptions::default()).await;
    let (c, _) = connector(&fake);
    let ids = Ids::default();
    c.prepare().await.unwrap();
    fake.inject(Failure::PartialFailure, 1);
    let three = vec![
        contact("6281100000001", None, None),
        contact("6281100000002", None, None),
        contact("6281100000003", None, None),
    ];
    let outcomes = push(&c, &ids, three).await.unwrap();
    assert!(
        matches!(&outcomes[0], Outcome::Dead { reason } if reason.contains("MANDATORY_NOT_FOUND") && reason.contains("Last_Name")),
        "{outcomes:?}"
    );
    assert!(matches!(outcomes[1], Outcome::Done { .. }));
    assert!(matches!(outcomes[2], Outcome::Dead { .. }));
    fake.inject(Failure::Locked, 1);
    let outcomes = push(&c, &ids, vec![contact(BUDI, None, None)]).await.unwrap();
    assert!(matches!(&outcomes[0], Outcome::Retry { reason } if reason.contains("RECORD_LOCKED")), "{outcomes:?}");
}

#[tokio::test]
async fn a_429_is_a_throttle_with_zohos_wait_and_a_500_is_transient() {
    let fake = FakeZoho::start(FakeOptions::default()).await;
    let (c, _) = connector(&fake);
    c.prepare().await.unwrap();
    fake.inject(Failure::Throttle, 1);
    let err = push(&c, &Ids::default(), vec![contact(BUDI, None, None)]).await.unwrap_err();
    assert!(
        matches!(&err, SyncError::Throttled { retry_after: Some(d), reason, .. } if d.as_secs() == 1 && reason.contains("TOO_MANY_REQUESTS")),
        "{err:?}"
    );
    assert!(c.paused_for().is_some(), "the organisation's budget waits");
    fake.inject(Failure::ServerError, 1);
    let err = push(&c, &Ids::default(), vec![contact(BUDI, None, None)]).await.unwrap_err();
    assert!(matches!(err, SyncError::Transient(ref m) if m.contains("INTERNAL_ERROR")), "{err:?}");
}

#[tokio::test]
async fn a_timeout_is_transient_and_pushing_again_creates_no_duplicate() {
    let fake = FakeZoho::start(FakeOptions { hang: Duration::from_secs(3), ..FakeOptions::default() }).await;
    let (c, _) = connector(&fake);
    let ids = Ids::default();
    c.prepare().await.unwrap();
    fake.inject(Failure::Timeout, 1);
    let err = push(&c, &ids, vec![contact(BUDI, None, None)]).await.unwrap_err();
    assert!(matches!(err, SyncError::Transient(_)), "{err:?}");
    push(&c, &ids, vec![contact(BUDI, None, None)]).await.unwrap();
    assert_eq!(fake.count_by_our_id("Contacts")[BUDI], 1);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_push_goes_through() {
    let fake = FakeZoho::start(FakeOptions::default()).await;
    let (c, sink) = connector(&fake);
    c.prepare().await.unwrap();
    fake.inject(Failure::ExpiredToken, 1);
    let outcomes = push(&c, &Ids::default(), vec![contact(BUDI, None, None)]).await.unwrap();
    assert!(matches!(outcomes[0], Outcome::Done { .. }));
    assert_eq!(fake.grants(), ["refresh_token", "refresh_token"]);
    assert_eq!(sink.handed().len(), 2, "each new token is handed on to be sealed");
    assert_clean(&fake);
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_before_the_call() {
    let fake = FakeZoho::start(FakeOptions::default()).await;
    let access = fake.issue_access_token();
    let tokens = Tokens {
        access_token: access,
        refresh_token: Some(fake_zoho::REFRESH_TOKEN.into()),
        expires_at_ms: Some(juru::clock::now_ms() + 30_000),
        api_domain: Some(fake.url()),
        ..Tokens::default()
    };
    let (c, _) = connector_with(&config(&fake), Credential::OAuth(tokens), FieldMapping::new());
    c.prepare().await.unwrap();
    assert_eq!(fake.grants(), ["refresh_token"]);
    let first_api = fake.requests().into_iter().position(|r| r.path.starts_with("/crm/")).unwrap();
    let token_at = fake.requests().into_iter().position(|r| r.path == "/oauth/v2/token").unwrap();
    assert!(token_at < first_api, "refreshed before, not after a refusal");
}

#[tokio::test]
async fn the_authorization_code_becomes_tokens_with_the_data_centre() {
    let fake = FakeZoho::start(FakeOptions::default()).await;
    let tokens =
        exchange_code(&config(&fake), fake_zoho::AUTH_CODE, "https://bot.example.com/oauth/callback/zoho", None)
            .await
            .unwrap();
    assert_eq!(tokens.refresh_token.as_deref(), Some(fake_zoho::REFRESH_TOKEN));
    assert_eq!(tokens.api_domain.as_deref(), Some(fake.url().as_str()));
    assert!(tokens.expires_at_ms.is_some());
    let err =
        exchange_code(&config(&fake), "stale", "https://bot.example.com/oauth/callback/zoho", None).await.unwrap_err();
    assert!(matches!(err, SyncError::Auth(ref m) if m.contains("invalid_code")), "{err:?}");
}

#[tokio::test]
async fn contacts_can_go_to_leads_with_their_tasks() {
    let fake = FakeZoho::start(FakeOptions::default()).await;
    let cfg = ZohoConfig { contacts_module: "Leads".into(), ..config(&fake) };
    let (c, _) = connector_with(&cfg, authorised(), FieldMapping::new());
    let ids = Ids::default();
    c.prepare().await.unwrap();
    push(&c, &ids, vec![contact(BUDI, Some("Budi"), None)]).await.unwrap();
    push(&c, &ids, vec![activity(4, BUDI, None, None)]).await.unwrap();
    let lead = fake.by_our_id("Leads", BUDI).unwrap();
    assert_eq!(lead["Company"], "WhatsApp");
    let task = fake.by_our_id("Tasks", "A4").unwrap();
    assert_eq!((task["What_Id"]["id"].clone(), task["$se_module"].clone()), (lead["id"].clone(), json!("Leads")));
    assert!(fake.records("Contacts").is_empty());
    assert_clean(&fake);
}

// ---- pull ----

#[tokio::test]
async fn pull_brings_changes_since_the_cursor_with_our_ids_and_our_stage() {
    let fake = FakeZoho::start(FakeOptions::default()).await;
    let (c, _) = connector(&fake);
    let ids = Ids::default();
    c.prepare().await.unwrap();
    push(&c, &ids, vec![contact(BUDI, Some("Budi"), None)]).await.unwrap();
    let deals = push(&c, &ids, vec![deal(5, Stage::Qualified, Some(BUDI), None)]).await.unwrap();
    let all = c.pull(Kind::Deal, None, None).await.unwrap();
    let cursor = all.cursor.expect("a cursor");
    assert_eq!(all.changes.len(), 1);
    assert_eq!(all.changes[0].local_id.as_deref(), Some("D5"));
    fake.touch("Deals", &done(&deals[0]), json!({"Stage": "Negotiation/Review", "Amount": 30_000_000.0}));
    let pulled = c.pull(Kind::Deal, Some(cursor), None).await.unwrap();
    assert_eq!(pulled.changes.len(), 1, "only what changed after the cursor: {pulled:?}");
    let change = &pulled.changes[0];
    assert_eq!(change.fields.stage, Some(Stage::Negotiation));
    assert_eq!(change.fields.value, Some(30_000_000));
    assert!(change.modified_ms > cursor);
    let since = fake.requests().into_iter().rev().find(|r| r.path == "/crm/v8/Deals").unwrap();
    assert!(since.headers.contains_key("if-modified-since"));
    assert_eq!(since.query["sort_by"], "Modified_Time");
    let nothing = c.pull(Kind::Deal, Some(change.modified_ms), None).await.unwrap();
    assert!(nothing.changes.is_empty() && nothing.next_page.is_none());
    assert_clean(&fake);
}

#[tokio::test]
async fn pull_pages_through_zohos_page_token() {
    let fake = FakeZoho::start(FakeOptions { page: 40, ..FakeOptions::default() }).await;
    let (c, _) = connector(&fake);
    let ids = Ids::default();
    c.prepare().await.unwrap();
    let records: Vec<Record> = (0..100).map(|i| contact(&format!("62813000{i:05}"), Some("X"), None)).collect();
    push(&c, &ids, records).await.unwrap();
    let mut seen = Vec::new();
    let mut page: Option<String> = None;
    for _ in 0..5 {
        let pulled = c.pull(Kind::Contact, None, page.as_deref()).await.unwrap();
        seen.extend(pulled.changes.into_iter().filter_map(|c| c.local_id));
        match pulled.next_page {
            Some(next) => page = Some(next),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 100, "every contact once, across three pages");
    assert_clean(&fake);
}

// ---- end to end: #crm connect, auth, sync with the real server ----

const OWNER: &str = "6281100000001";
const PROSPECT: &str = "6281200000101";
const LIMIT: Duration = Duration::from_secs(40);

fn bot_config(fake: &FakeZoho, extra: &str) -> String {
    format!(
        "[bot]\nowners = [\"{OWNER}\"]\nsend_seen = false\nsend_typing = false\nlanguage = \"en\"\n[sales]\ndefault_language = \"en\"\n\
         [crm]\npublic_url = \"https://juru.example.com\"\n\
         [crm.zoho]\naccounts_url = \"{}\"\napi_domain = \"{NOWHERE}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\npull_secs = 0\n{extra}",
        fake.url(),
        fake_zoho::CLIENT_ID,
        fake_zoho::CLIENT_SECRET
    )
}

/// `#crm sync zoho` until its reply contains `wanted`.
async fn sync_until(bot: &common::TestBot, wanted: &[&str]) -> String {
    bot.ask_until(OWNER, "#crm sync zoho", wanted, LIMIT).await
}

#[tokio::test]
async fn an_owner_connects_zoho_from_chat_and_the_prospects_reach_the_accounts_data_centre() {
    let fake = FakeZoho::start(FakeOptions::default()).await;
    let bot = common::TestBot::with_config(&bot_config(&fake, "")).await;
    bot.ask(PROSPECT, "P1", "Hi, how much is the March package?").await;
    let connect = bot.ask(OWNER, "O1", "#crm connect zoho").await;
    assert!(connect.contains("Zoho CRM chosen") && connect.contains("auth --platform zoho --oauth"), "{connect}");
    let reply = bot.ask(OWNER, "O2", "#crm auth --platform zoho --oauth").await;
    assert!(reply.contains("https://accounts.zoho.com/oauth/v2/auth?"), "{reply}");
    assert!(reply.contains("ZohoCRM.settings.ALL") && reply.contains("access_type=offline"), "{reply}");
    let state =
        reply.split("state=").nth(1).expect("a state").split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap();
    let before = bot.waha.messages_to(OWNER).len();
    let page = bot.get(&format!("/oauth/callback/zoho?code={}&state={state}", fake_zoho::AUTH_CODE)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let told = bot.waha.wait_messages_to(OWNER, before + 1).await;
    assert!(told[before].body["text"].as_str().unwrap().contains("Zoho CRM"), "{:?}", told[before].body);
    common::until(LIMIT, "the prospect is a Zoho contact", || {
        fake.count_by_our_id("Contacts").get(PROSPECT) == Some(&1)
    })
    .await;
    let created = bot
        .ask(OWNER, "O3", &format!("#crm deals create --title \"Umroh A\" --value 25000000 --contact {PROSPECT}"))
        .await;
    assert!(created.contains("D1"), "{created}");
    common::until(LIMIT, "D1 is a Zoho deal", || fake.count_by_our_id("Deals").get("D1") == Some(&1)).await;
    let report = sync_until(&bot, &["queued 0 ", "dead 0"]).await;
    assert!(report.contains("OAuth tokens stored"), "{report}");
    let deal = fake.by_our_id("Deals", "D1").unwrap();
    let contact = fake.by_our_id("Contacts", PROSPECT).unwrap();
    assert_eq!(deal["Contact_Name"]["id"], contact["id"]);
    assert_eq!(fake.grants()[0], "authorization_code");
    assert_clean(&fake);
}

#[tokio::test]
async fn crm_sync_shows_the_missing_zoho_field_and_how_to_add_it() {
    let fake = FakeZoho::start(FakeOptions { missing_id_field: vec!["Deals".into()], ..FakeOptions::default() }).await;
    let config = bot_config(&fake, &format!("refresh_token = \"{}\"\n", fake_zoho::REFRESH_TOKEN));
    let bot = common::TestBot::with_config(&config).await;
    let reply = sync_until(&bot, &["last error"]).await;
    assert!(reply.contains("Deals has no field WA_Id") && reply.contains("Do not allow duplicate values"), "{reply}");
}

#[tokio::test]
async fn a_deal_whose_contact_was_dead_lettered_follows_it_after_a_few_tries() {
    let fake = FakeZoho::start(FakeOptions::default()).await;
    // The first write (the prospect's contact) is refused for good.
    fake.inject(Failure::InvalidData, 1);
    let config = bot_config(&fake, &format!("refresh_token = \"{}\"\n", fake_zoho::REFRESH_TOKEN));
    let bot = common::TestBot::with_config(&config).await;
    bot.ask(PROSPECT, "P1", "Hi").await;
    sync_until(&bot, &["dead 1"]).await;
    let created = bot
        .ask(OWNER, "O1", &format!("#crm deals create --title \"Umroh A\" --value 25000000 --contact {PROSPECT}"))
        .await;
    assert!(created.contains("D1"), "{created}");
    let reply = sync_until(&bot, &["queued 0 ", "dead 2"]).await;
    assert!(
        reply.contains("was dead-lettered") && reply.contains("INVALID_DATA"),
        "the parent and Zoho's words: {reply}"
    );
    assert!(fake.records("Deals").is_empty());
}

/// `juru sync --platform zoho --full` on the stopped bot's database, in `[crm.zoho] mode = "manual"`.
async fn juru_sync_zoho(bot: &common::TestBot, fake: &FakeZoho, refresh_token: &str) -> (bool, String, String) {
    let crm = format!(
        "[crm.zoho]\naccounts_url = \"{}\"\napi_domain = \"{NOWHERE}\"\nclient_id = \"{}\"\n\
             client_secret = \"{}\"\nrefresh_token = \"{refresh_token}\"\nmode = \"manual\"\npull_secs = 0\n",
        fake.url(),
        fake_zoho::CLIENT_ID,
        fake_zoho::CLIENT_SECRET,
    );
    bot.juru_sync("zoho", &crm).await
}

#[tokio::test]
async fn juru_sync_platform_zoho_pushes_everything_and_prints_a_summary() {
    let fake = FakeZoho::start(FakeOptions::default()).await;
    let mut bot = common::TestBot::with_config(&format!("[bot]\nowners = [\"{OWNER}\"]\n")).await;
    bot.ask(PROSPECT, "P1", "Hi").await;
    bot.stop().await;
    let (ok, stdout, stderr) = juru_sync_zoho(&bot, &fake, fake_zoho::REFRESH_TOKEN).await;
    assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("Zoho CRM: sent") && stdout.contains("dead 0 · still queued 0"), "stdout: {stdout}");
    assert_eq!(fake.count_by_our_id("Contacts").get(PROSPECT), Some(&1));
    assert_clean(&fake);
}

#[tokio::test]
async fn juru_sync_platform_zoho_with_a_revoked_token_says_so_in_zohos_words_and_fails() {
    let fake = FakeZoho::start(FakeOptions::default()).await;
    let mut bot = common::TestBot::with_config(&format!("[bot]\nowners = [\"{OWNER}\"]\n")).await;
    bot.ask(PROSPECT, "P1", "Hi").await;
    bot.stop().await;
    let (ok, stdout, stderr) = juru_sync_zoho(&bot, &fake, "1000.revoked").await;
    assert!(!ok, "nothing was sent, yet exit 0\nstdout: {stdout}\nstderr: {stderr}");
    assert!(
        stderr.contains("invalid_code") && stderr.contains("#crm auth --platform zoho --oauth"),
        "stderr: {stderr}"
    );
}
