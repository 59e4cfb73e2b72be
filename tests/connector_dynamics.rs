//! The Dynamics 365 connector against a fake Dataverse environment on
//! loopback: what Dynamics ends up holding, what the worker is told, and that
//! every request had the shape Microsoft documents (the fake's violations
//! stay empty).

mod common;
#[path = "fakes/dynamics.rs"]
mod fake_dynamics;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::crm::{Ids, activity, company, contact, done, push};
use fake_dynamics::{Failure, FakeDynamics, FakeOptions};
use juru::config::{DynamicsConfig, Url};
use juru::connectors::credential::Credential;
use juru::connectors::dynamics::{DynamicsConnector, activity_guid};
use juru::connectors::{Connector, Kind, Outcome, Record, SyncError};
use juru::crm::company::CompanyKind;
use juru::crm::deal::{Deal, Stage};
use juru::crm::settings::FieldMapping;
use serde_json::json;

const BUDI: &str = "6281234567890";
const SITI: &str = "6285798765432";
/// Nothing listens here.
const NOWHERE: &str = "http://127.0.0.1:9";

fn config(fake: &FakeDynamics) -> DynamicsConfig {
    DynamicsConfig {
        org_url: Some(Url(fake.url())),
        login_url: Url(fake.url()),
        tenant: Some(fake_dynamics::TENANT.into()),
        client_id: Some(fake_dynamics::CLIENT_ID.into()),
        ..DynamicsConfig::default()
    }
}

fn secret() -> Credential {
    Credential::ApiKey(fake_dynamics::CLIENT_SECRET.into())
}

fn connector_with(config: &DynamicsConfig, credential: Credential) -> DynamicsConnector {
    DynamicsConnector::new(config, credential, FieldMapping::new()).with_timeout(Duration::from_secs(1))
}

fn connector(fake: &FakeDynamics) -> DynamicsConnector {
    connector_with(&config(fake), secret())
}

fn deal_at(id: u64, stage: Stage, contact: Option<&str>, updated_ms: u64) -> Record {
    Record::Deal(Arc::new(Deal {
        contact: contact.map(str::to_string),
        updated_ms,
        ..Deal::new(id, format!("Mesin kopi #{id}"), 25_000_000, stage, "628111", 1_764_000_000_000)
    }))
}

fn deal(id: u64, stage: Stage, contact: Option<&str>) -> Record {
    deal_at(id, stage, contact, 1_764_000_000_000)
}

fn assert_clean(fake: &FakeDynamics) {
    assert_eq!(fake.violations(), Vec::<String>::new(), "requests Dataverse would refuse");
}

// ---- prepare ----

#[tokio::test]
async fn prepare_gets_an_app_token_checks_the_alternate_keys_and_loads_the_sales_stages() {
    let fake = FakeDynamics::start(FakeOptions::default()).await;
    let c = connector(&fake);
    c.prepare().await.unwrap();
    c.prepare().await.unwrap();
    assert_eq!(fake.token_requests(), 1, "one token for both runs");
    let requests = fake.requests();
    let token = &requests[0];
    assert_eq!(token.path, format!("/{}/oauth2/v2.0/token", fake_dynamics::TENANT));
    assert_eq!(token.body["grant_type"], "client_credentials");
    assert_eq!(token.body["scope"], format!("{}/.default", fake.url()));
    let keys: Vec<&str> = requests
        .iter()
        .filter(|r| r.path.ends_with("/Keys"))
        .map(|r| r.path.split('\'').nth(1).unwrap_or(""))
        .take(3)
        .collect();
    assert_eq!(keys, ["account", "contact", "opportunity"]);
    assert!(requests.iter().any(|r| r.path.contains("Attributes(LogicalName='salesstage')")));
    let api = requests.iter().find(|r| r.path.starts_with("/api/")).unwrap();
    assert!(api.headers["authorization"].starts_with("Bearer eyJ"), "{:?}", api.headers);
    assert!(fake.batches().is_empty(), "prepare writes nothing");
    assert_clean(&fake);
}

#[tokio::test]
async fn prepare_tells_the_owner_which_key_to_add_and_where() {
    let opts = FakeOptions {
        missing_key: vec!["contact".into()],
        pending_key: vec!["opportunity".into()],
        ..FakeOptions::default()
    };
    let fake = FakeDynamics::start(opts).await;
    let Err(SyncError::Permanent(message)) = connector(&fake).prepare().await else { panic!("prepare must refuse") };
    assert!(message.contains("contact has no alternate key on juru_waid"), "{message}");
    assert!(message.contains("opportunity is Pending"), "{message}");
    assert!(message.contains("Power Apps → Tables") && message.contains("Keys"), "the fix: {message}");
    assert!(!message.contains("account has no"), "{message}");
}

#[tokio::test]
async fn a_refused_secret_is_an_auth_error_in_entra_ids_words_with_the_fix() {
    let fake = FakeDynamics::start(FakeOptions::default()).await;
    let c = connector_with(&config(&fake), Credential::ApiKey("wrong-secret".into()));
    let Err(SyncError::Auth(message)) = c.prepare().await else { panic!("must be an auth error") };
    assert!(message.contains("invalid_client") && message.contains("AADSTS7000215"), "Entra ID's words: {message}");
    assert!(message.contains("#crm auth --platform dynamics --api-key"), "the fix: {message}");
    assert!(!message.contains("Trace ID"), "one line of Microsoft's description: {message}");
}

#[tokio::test]
async fn a_wrong_tenant_and_a_bad_org_url_are_named() {
    let fake = FakeDynamics::start(FakeOptions::default()).await;
    let cfg = DynamicsConfig { tenant: Some("contoso-typo.onmicrosoft.com".into()), ..config(&fake) };
    let Err(SyncError::Auth(message)) = connector_with(&cfg, secret()).prepare().await else { panic!() };
    assert!(message.contains("AADSTS90002") && message.contains("tenant"), "{message}");
    // Another environment's URL: Entra ID knows no such resource.
    let cfg = DynamicsConfig { org_url: Some(Url("https://typo.crm4.dynamics.com".into())), ..config(&fake) };
    let Err(SyncError::Auth(message)) = connector_with(&cfg, secret()).prepare().await else { panic!() };
    assert!(message.contains("AADSTS500011") && message.contains("org_url"), "{message}");
    // A token for it, but nothing answers there.
    fake.set_org_url(NOWHERE);
    let cfg = DynamicsConfig { org_url: Some(Url(NOWHERE.into())), ..config(&fake) };
    let err = connector_with(&cfg, secret()).prepare().await.unwrap_err();
    assert!(
        matches!(&err, SyncError::Transient(m) if m.contains("could not be reached") && m.contains("org_url")),
        "{err:?}"
    );
    let cfg = DynamicsConfig { org_url: None, ..config(&fake) };
    let err = connector_with(&cfg, secret()).prepare().await.unwrap_err();
    assert!(matches!(&err, SyncError::Permanent(m) if m.contains("org_url is not set")), "{err:?}");
}

// ---- upserts ----

#[tokio::test]
async fn accounts_contacts_opportunities_and_tasks_land_with_their_links_and_a_note() {
    let fake = FakeDynamics::start(FakeOptions::default()).await;
    let c = connector(&fake);
    let ids = Ids::default();
    c.prepare().await.unwrap();
    push(&c, &ids, vec![company("pt-kopi-kita", "PT Kopi Kita", CompanyKind::LegalEntity, None)]).await.unwrap();
    let brand = push(&c, &ids, vec![company("kopi-kita", "Kopi Kita", CompanyKind::Brand, Some("pt-kopi-kita"))])
        .await
        .unwrap();
    push(&c, &ids, vec![contact(BUDI, Some("Budi Santoso"), Some("kopi-kita")), contact(SITI, None, None)])
        .await
        .unwrap();
    let deals = push(&c, &ids, vec![deal(1, Stage::Proposal, Some(BUDI))]).await.unwrap();
    push(&c, &ids, vec![activity(7, BUDI, Some(1), Some("Minta penawaran 2 mesin"))]).await.unwrap();

    let brand_row = fake.by_our_id("accounts", "kopi-kita").unwrap();
    assert_eq!(brand_row["accountid"], done(&brand[0]));
    assert_eq!(brand_row["parentaccountid@odata.bind"], "/accounts(juru_waid='pt-kopi-kita')");
    let budi = fake.by_our_id("contacts", BUDI).unwrap();
    assert_eq!(budi["lastname"], "Budi Santoso");
    assert_eq!(budi["mobilephone"], format!("+{BUDI}"));
    assert_eq!(budi["parentcustomerid_account@odata.bind"], "/accounts(juru_waid='kopi-kita')");
    assert_eq!(fake.by_our_id("contacts", SITI).unwrap()["lastname"], format!("+{SITI}"), "no name: the phone");
    let d = fake.by_our_id("opportunities", "D1").unwrap();
    assert_eq!(d["opportunityid"], done(&deals[0]));
    assert_eq!((d["salesstage"].clone(), d["stepname"].clone()), (json!(2), json!("proposal")), "Propose");
    assert_eq!(d["estimatedvalue"], 25_000_000);
    assert_eq!(d["parentcontactid@odata.bind"], format!("/contacts(juru_waid='{BUDI}')"));
    let task = fake.by_id("tasks", &activity_guid(7, 1)).unwrap();
    assert_eq!(task["regardingobjectid_opportunity@odata.bind"], "/opportunities(juru_waid='D1')");
    assert!(task["subject"].as_str().unwrap().contains("[juru A7]"));
    let notes = fake.rows("annotations");
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["notetext"], "Minta penawaran 2 mesin");
    assert_eq!(notes[0]["objectid_opportunity@odata.bind"], "/opportunities(juru_waid='D1')");

    let batch = fake.batches().into_iter().find(|b| b.change_sets.iter().any(|s| s.len() == 2)).unwrap();
    assert!(batch.headers["prefer"].contains("odata.continue-on-error"));
    assert!(batch.headers["content-type"].starts_with("multipart/mixed; boundary=batch_"));
    let set = &batch.change_sets[0];
    assert!(set[0].target.starts_with(&format!("tasks({})", activity_guid(7, 1))), "{}", set[0].target);
    assert_eq!(set[1].target, format!("annotations({})", activity_guid(7, 2)), "the note in the task's change set");
    let contacts = fake.batches().into_iter().find(|b| b.body.as_str().unwrap().contains("contacts(")).unwrap();
    assert_eq!(contacts.change_sets.len(), 2, "one change set per record");
    assert!(contacts.change_sets[0][0].target.starts_with(&format!("contacts(juru_waid='{BUDI}')")));
    assert_eq!(contacts.change_sets[0][0].headers["prefer"], "return=representation");
    assert_clean(&fake);
}

#[tokio::test]
async fn a_record_pushed_twice_exists_once_and_its_note_too() {
    let fake = FakeDynamics::start(FakeOptions::default()).await;
    let c = connector(&fake);
    let ids = Ids::default();
    c.prepare().await.unwrap();
    let first = push(&c, &ids, vec![contact(BUDI, Some("Budi"), None)]).await.unwrap();
    let again = push(&c, &ids, vec![contact(BUDI, Some("Budi Santoso"), None)]).await.unwrap();
    assert_eq!(done(&first[0]), done(&again[0]));
    assert_eq!(fake.count_by_our_id("contacts")[BUDI], 1);
    assert_eq!(fake.by_our_id("contacts", BUDI).unwrap()["lastname"], "Budi Santoso");
    for _ in 0..2 {
        push(&c, &ids, vec![activity(3, BUDI, None, Some("catatan"))]).await.unwrap();
    }
    assert_eq!(fake.rows("tasks").len(), 1);
    assert_eq!(fake.rows("annotations").len(), 1, "the note is upserted on its own id");
    assert_clean(&fake);
}

#[tokio::test]
async fn two_hundred_fifty_contacts_go_in_batches_of_the_configured_size() {
    let fake = FakeDynamics::start(FakeOptions::default()).await;
    let c = connector_with(&DynamicsConfig { batch_size: 100, ..config(&fake) }, secret());
    let ids = Ids::default();
    c.prepare().await.unwrap();
    let records: Vec<Record> = (0..250).map(|i| contact(&format!("62812000{i:05}"), None, None)).collect();
    let outcomes = push(&c, &ids, records).await.unwrap();
    assert_eq!(outcomes.iter().filter(|o| matches!(o, Outcome::Done { .. })).count(), 250);
    let sizes: Vec<usize> = fake.batches().iter().map(|b| b.change_sets.len()).collect();
    assert_eq!(sizes, [100, 100, 50]);
    assert_eq!(c.batch_size(Kind::Activity), 50, "a task and its note: two operations each");
    let big = connector_with(&DynamicsConfig { batch_size: 5000, ..config(&fake) }, secret());
    assert_eq!(big.batch_size(Kind::Contact), 1000, "Dataverse's most per $batch");
    assert_clean(&fake);
}

#[tokio::test]
async fn an_activity_waits_until_its_contact_is_in_dynamics() {
    let fake = FakeDynamics::start(FakeOptions::default()).await;
    let c = connector(&fake);
    c.prepare().await.unwrap();
    let outcomes = push(&c, &Ids::default(), vec![activity(1, BUDI, None, None)]).await.unwrap();
    assert!(
        matches!(&outcomes[0], Outcome::Retry { reason } if reason.contains("not in Dynamics yet")),
        "{outcomes:?}"
    );
    assert!(fake.batches().is_empty());
}

#[tokio::test]
async fn refused_records_are_dead_with_dataverses_message_and_the_others_land() {
    let fake = FakeDynamics::start(FakeOptions::default()).await;
    let c = connector(&fake);
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
        matches!(&outcomes[0], Outcome::Dead { reason } if reason.contains("0x80040203") && reason.contains("lastname")),
        "{outcomes:?}"
    );
    assert!(matches!(outcomes[1], Outcome::Done { .. }));
    assert!(matches!(outcomes[2], Outcome::Dead { .. }));
    fake.inject(Failure::DuplicateKey, 1);
    let outcomes = push(&c, &ids, vec![contact(BUDI, None, None)]).await.unwrap();
    assert!(
        matches!(&outcomes[0], Outcome::Dead { reason } if reason.contains("Cannot insert duplicate key")),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn a_429_waits_exactly_retry_after_and_a_500_is_transient() {
    let fake = FakeDynamics::start(FakeOptions::default()).await;
    let c = connector(&fake);
    c.prepare().await.unwrap();
    fake.inject(Failure::Throttle, 1);
    let err = push(&c, &Ids::default(), vec![contact(BUDI, None, None)]).await.unwrap_err();
    assert!(
        matches!(&err, SyncError::Throttled { retry_after: Some(d), reason, .. } if d.as_secs() == 1 && reason.contains("0x80072322")),
        "{err:?}"
    );
    let paused = c.paused_for().expect("the user's budget waits");
    assert!(paused <= Duration::from_secs(1) && paused > Duration::from_millis(500), "{paused:?}");
    fake.inject(Failure::ServerError, 1);
    let err = push(&c, &Ids::default(), vec![contact(BUDI, None, None)]).await.unwrap_err();
    assert!(matches!(err, SyncError::Transient(ref m) if m.contains("0x80040216")), "{err:?}");
}

#[tokio::test]
async fn a_rolling_budget_spreads_calls_and_never_draws_a_429() {
    let fake =
        FakeDynamics::start(FakeOptions { rate_limit: Some((5, Duration::from_secs(1))), ..FakeOptions::default() })
            .await;
    let mut cfg = config(&fake);
    cfg.batch_size = 1;
    cfg.requests_per_5min = 0;
    // The same budget the fake applies, but per second (the connector's window is 5 min).
    let c = connector_with(&cfg, secret());
    c.prepare().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let ids = Ids::default();
    let records: Vec<Record> = (0..4).map(|i| contact(&format!("62819000{i:05}"), None, None)).collect();
    push(&c, &ids, records).await.unwrap();
    assert_clean(&fake);
}

#[tokio::test]
async fn a_timeout_is_transient_and_pushing_again_creates_no_duplicate() {
    let fake = FakeDynamics::start(FakeOptions { hang: Duration::from_secs(3), ..FakeOptions::default() }).await;
    let c = connector(&fake);
    let ids = Ids::default();
    c.prepare().await.unwrap();
    fake.inject(Failure::Timeout, 1);
    let err = push(&c, &ids, vec![contact(BUDI, None, None)]).await.unwrap_err();
    assert!(matches!(err, SyncError::Transient(_)), "{err:?}");
    push(&c, &ids, vec![contact(BUDI, None, None)]).await.unwrap();
    assert_eq!(fake.count_by_our_id("contacts")[BUDI], 1);
}

#[tokio::test]
async fn an_expired_token_is_replaced_once_and_the_push_goes_through() {
    let fake = FakeDynamics::start(FakeOptions::default()).await;
    let c = connector(&fake);
    c.prepare().await.unwrap();
    fake.inject(Failure::ExpiredToken, 1);
    let outcomes = push(&c, &Ids::default(), vec![contact(BUDI, None, None)]).await.unwrap();
    assert!(matches!(outcomes[0], Outcome::Done { .. }));
    assert_eq!(fake.token_requests(), 2);
    assert_clean(&fake);
}

// ---- last modified wins on the way out: If-Match ----

#[tokio::test]
async fn an_update_carries_the_etag_of_our_last_write() {
    let fake = FakeDynamics::start(FakeOptions::default()).await;
    let c = connector(&fake);
    let ids = Ids::default();
    c.prepare().await.unwrap();
    push(&c, &ids, vec![contact(BUDI, Some("Budi"), None)]).await.unwrap();
    let version = fake.by_our_id("contacts", BUDI).unwrap()["versionnumber"].clone();
    push(&c, &ids, vec![contact(BUDI, Some("Budi S"), None)]).await.unwrap();
    let second = fake.batches().pop().unwrap();
    assert_eq!(second.change_sets[0][0].headers["if-match"], format!("W/\"{version}\""));
    assert_eq!(fake.by_our_id("contacts", BUDI).unwrap()["lastname"], "Budi S");
    assert_clean(&fake);
}

#[tokio::test]
async fn an_edit_in_dynamics_newer_than_ours_is_not_written_over_until_the_pull_brings_it() {
    let fake = FakeDynamics::start(FakeOptions::default()).await;
    let c = connector(&fake);
    let ids = Ids::default();
    c.prepare().await.unwrap();
    let first = push(&c, &ids, vec![contact(BUDI, Some("Budi"), None)]).await.unwrap();
    // A sales rep renames him in Dynamics; our copy (last changed in 2025) is older.
    fake.touch("contacts", &done(&first[0]), json!({"lastname": "Budi Santoso (VIP)"}));
    let outcomes = push(&c, &ids, vec![contact(BUDI, Some("Budi"), None)]).await.unwrap();
    assert!(matches!(&outcomes[0], Outcome::Retry { reason } if reason.contains("last modified wins")), "{outcomes:?}");
    assert_eq!(fake.by_our_id("contacts", BUDI).unwrap()["lastname"], "Budi Santoso (VIP)", "not written over");
    let batches = fake.batches().len();
    let outcomes = push(&c, &ids, vec![contact(BUDI, Some("Budi"), None)]).await.unwrap();
    assert!(matches!(&outcomes[0], Outcome::Retry { reason } if reason.contains("pull brings it")), "{outcomes:?}");
    assert_eq!(fake.batches().len(), batches, "nothing sent while Dynamics' version waits for the pull");
    // The pull reads the row (and its ETag); what it applies is pull's business.
    let pulled = c.pull(Kind::Contact, None, None).await.unwrap();
    assert_eq!(pulled.changes[0].fields.name.as_deref(), Some("Budi Santoso (VIP)"));
    let outcomes = push(&c, &ids, vec![contact(BUDI, Some("Budi Santoso (VIP)"), None)]).await.unwrap();
    assert!(matches!(outcomes[0], Outcome::Done { .. }), "{outcomes:?}");
    assert_clean(&fake);
}

#[tokio::test]
async fn our_change_newer_than_the_edit_in_dynamics_wins_on_the_next_try() {
    let fake = FakeDynamics::start(FakeOptions::default()).await;
    let c = connector(&fake);
    let ids = Ids::default();
    c.prepare().await.unwrap();
    push(&c, &ids, vec![contact(BUDI, None, None)]).await.unwrap();
    let far = juru::clock::now_ms() + 3_600_000;
    let first = push(&c, &ids, vec![deal_at(4, Stage::Qualified, Some(BUDI), far - 1)]).await.unwrap();
    fake.touch("opportunities", &done(&first[0]), json!({"name": "Renamed there"}));
    // Our deal moved later than that edit.
    let moved = deal_at(4, Stage::Negotiation, Some(BUDI), far);
    let outcomes = push(&c, &ids, vec![moved.clone()]).await.unwrap();
    assert!(matches!(&outcomes[0], Outcome::Retry { reason } if reason.contains("written again")), "{outcomes:?}");
    let outcomes = push(&c, &ids, vec![moved]).await.unwrap();
    assert!(matches!(outcomes[0], Outcome::Done { .. }), "{outcomes:?}");
    let row = fake.by_our_id("opportunities", "D4").unwrap();
    assert_eq!(row["stepname"], "negotiation");
    assert_clean(&fake);
}

#[tokio::test]
async fn without_a_pull_an_edit_in_dynamics_is_written_over_on_the_next_try() {
    let fake = FakeDynamics::start(FakeOptions::default()).await;
    let c = connector_with(&DynamicsConfig { pull_secs: 0, ..config(&fake) }, secret());
    let ids = Ids::default();
    c.prepare().await.unwrap();
    let first = push(&c, &ids, vec![contact(BUDI, Some("Budi"), None)]).await.unwrap();
    fake.touch("contacts", &done(&first[0]), json!({"lastname": "Renamed there"}));
    let outcomes = push(&c, &ids, vec![contact(BUDI, Some("Budi"), None)]).await.unwrap();
    assert!(matches!(&outcomes[0], Outcome::Retry { reason } if reason.contains("written again")), "{outcomes:?}");
    let outcomes = push(&c, &ids, vec![contact(BUDI, Some("Budi"), None)]).await.unwrap();
    assert!(matches!(outcomes[0], Outcome::Done { .. }), "{outcomes:?}");
    assert_eq!(fake.by_our_id("contacts", BUDI).unwrap()["lastname"], "Budi", "nothing would bring theirs back");
    assert_clean(&fake);
}

// ---- pull ----

#[tokio::test]
async fn pull_brings_changes_since_the_cursor_with_our_ids_and_our_stage() {
    let fake = FakeDynamics::start(FakeOptions::default()).await;
    let c = connector(&fake);
    let ids = Ids::default();
    c.prepare().await.unwrap();
    push(&c, &ids, vec![contact(BUDI, Some("Budi"), None)]).await.unwrap();
    let deals = push(&c, &ids, vec![deal(5, Stage::Qualified, Some(BUDI))]).await.unwrap();
    let all = c.pull(Kind::Deal, None, None).await.unwrap();
    assert_eq!(all.changes.len(), 1);
    assert_eq!(all.changes[0].local_id.as_deref(), Some("D5"));
    assert_eq!(all.changes[0].fields.stage, Some(Stage::Qualified), "the stage we wrote, not just its option");
    let cursor = all.cursor.unwrap() + 1000;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    fake.touch(
        "opportunities",
        &done(&deals[0]),
        json!({"salesstage": 3, "stepname": "3-Close", "estimatedvalue": 30_000_000.0}),
    );
    let pulled = c.pull(Kind::Deal, Some(cursor), None).await.unwrap();
    assert_eq!(pulled.changes.len(), 1, "{pulled:?}");
    let change = &pulled.changes[0];
    assert_eq!(change.fields.stage, Some(Stage::Negotiation), "Close, moved in Dynamics");
    assert_eq!(change.fields.value, Some(30_000_000));
    let list = fake.requests().into_iter().rev().find(|r| r.path.ends_with("/opportunities")).unwrap();
    assert!(list.query["$filter"].contains("modifiedon ge "), "{:?}", list.query);
    assert!(list.query["$filter"].contains("juru_waid ne null"), "only rows we pushed");
    assert!(list.headers["prefer"].contains("odata.maxpagesize="));
    fake.touch("opportunities", &done(&deals[0]), json!({"statecode": 1}));
    let won = c.pull(Kind::Deal, None, None).await.unwrap();
    assert_eq!(won.changes[0].fields.stage, Some(Stage::Won), "closed as won in Dynamics");
    assert_clean(&fake);
}

#[tokio::test]
async fn pull_pages_through_the_next_link() {
    let fake = FakeDynamics::start(FakeOptions { page: 40, ..FakeOptions::default() }).await;
    let c = connector(&fake);
    let ids = Ids::default();
    c.prepare().await.unwrap();
    let records: Vec<Record> = (0..100).map(|i| contact(&format!("62813000{i:05}"), Some("X"), None)).collect();
    push(&c, &ids, records).await.unwrap();
    let mut seen = Vec::new();
    let mut page: Option<String> = None;
    let mut pages = 0;
    for _ in 0..5 {
        let pulled = c.pull(Kind::Contact, None, page.as_deref()).await.unwrap();
        pages += 1;
        seen.extend(pulled.changes.into_iter().filter_map(|c| c.local_id));
        match pulled.next_page {
            Some(next) => page = Some(next),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!((seen.len(), pages), (100, 3), "every contact once, across three pages");
    assert_clean(&fake);
}

// ---- end to end: #crm connect, auth, sync with the real server ----

const OWNER: &str = "6281100000001";
const PROSPECT: &str = "6281200000101";
const LIMIT: Duration = Duration::from_secs(40);

fn bot_config(fake: &FakeDynamics, extra: &str) -> String {
    format!(
        "[bot]\nowners = [\"{OWNER}\"]\nsend_seen = false\nsend_typing = false\nlanguage = \"en\"\n[sales]\ndefault_language = \"en\"\n\
         [crm.dynamics]\norg_url = \"{0}\"\nlogin_url = \"{0}\"\ntenant = \"{1}\"\nclient_id = \"{2}\"\npull_secs = 0\n{extra}",
        fake.url(),
        fake_dynamics::TENANT,
        fake_dynamics::CLIENT_ID
    )
}

/// `#crm sync dynamics` until its reply contains `wanted`.
async fn sync_until(bot: &common::TestBot, wanted: &[&str]) -> String {
    bot.ask_until(OWNER, "#crm sync dynamics", wanted, LIMIT).await
}

#[tokio::test]
async fn an_owner_connects_dynamics_from_chat_and_the_prospects_and_deals_reach_it() {
    let fake = FakeDynamics::start(FakeOptions::default()).await;
    let bot = common::TestBot::with_config(&bot_config(&fake, "")).await;
    bot.ask(PROSPECT, "P1", "Hi, how much is the March package?").await;
    let connect = bot.ask(OWNER, "O1", "#crm connect dynamics").await;
    assert!(
        connect.contains("Dynamics 365 chosen") && connect.contains("auth --platform dynamics --api-key CLIENT_SECRET"),
        "{connect}"
    );
    assert!(connect.contains("Certificates & secrets"), "where to find it: {connect}");
    let oauth = bot.ask(OWNER, "O2", "#crm auth --platform dynamics --oauth").await;
    assert!(oauth.contains("client credentials") && oauth.contains("--api-key"), "{oauth}");
    let stored = bot
        .ask(OWNER, "O3", &format!("#crm auth --platform dynamics --api-key {}", fake_dynamics::CLIENT_SECRET))
        .await;
    assert!(stored.contains("stored, encrypted"), "{stored}");
    assert!(!stored.contains(fake_dynamics::CLIENT_SECRET), "never echoed");
    common::until(LIMIT, "the prospect is a Dynamics contact", || {
        fake.count_by_our_id("contacts").get(PROSPECT) == Some(&1)
    })
    .await;
    let created = bot
        .ask(OWNER, "O4", &format!("#crm deals create --title \"Umroh A\" --value 25000000 --contact {PROSPECT}"))
        .await;
    assert!(created.contains("D1"), "{created}");
    common::until(LIMIT, "D1 is an opportunity", || fake.count_by_our_id("opportunities").get("D1") == Some(&1)).await;
    let report = sync_until(&bot, &["queued 0 ", "dead 0"]).await;
    assert!(report.contains("API key stored"), "{report}");
    let deal = fake.by_our_id("opportunities", "D1").unwrap();
    assert_eq!(deal["parentcontactid@odata.bind"], format!("/contacts(juru_waid='{PROSPECT}')"));
    assert_clean(&fake);
}

#[tokio::test]
async fn crm_sync_shows_the_missing_alternate_key_and_how_to_add_it() {
    let fake =
        FakeDynamics::start(FakeOptions { missing_key: vec!["opportunity".into()], ..FakeOptions::default() }).await;
    let config = bot_config(&fake, &format!("client_secret = \"{}\"\n", fake_dynamics::CLIENT_SECRET));
    let bot = common::TestBot::with_config(&config).await;
    let reply = sync_until(&bot, &["last error"]).await;
    assert!(reply.contains("opportunity has no alternate key on juru_waid") && reply.contains("Keys"), "{reply}");
}

#[tokio::test]
async fn crm_sync_shows_a_refused_secret_in_entra_ids_words() {
    let fake = FakeDynamics::start(FakeOptions::default()).await;
    let bot = common::TestBot::with_config(&bot_config(&fake, "client_secret = \"not-the-secret\"\n")).await;
    let reply = sync_until(&bot, &["last error"]).await;
    assert!(reply.contains("AADSTS7000215") && reply.contains("--api-key CLIENT_SECRET"), "{reply}");
}

/// `juru sync --platform dynamics --full` on the stopped bot's database, in `mode = "manual"`.
async fn juru_sync_dynamics(bot: &common::TestBot, fake: &FakeDynamics, secret: &str) -> (bool, String, String) {
    let crm = format!(
        "[crm.dynamics]\norg_url = \"{1}\"\nlogin_url = \"{1}\"\ntenant = \"{2}\"\n\
             client_id = \"{3}\"\nclient_secret = \"{0}\"\nmode = \"manual\"\npull_secs = 0\n",
        secret,
        fake.url(),
        fake_dynamics::TENANT,
        fake_dynamics::CLIENT_ID,
    );
    bot.juru_sync("dynamics", &crm).await
}

#[tokio::test]
async fn juru_sync_platform_dynamics_pushes_everything_and_prints_a_summary() {
    let fake = FakeDynamics::start(FakeOptions::default()).await;
    let mut bot = common::TestBot::with_config(&format!("[bot]\nowners = [\"{OWNER}\"]\n")).await;
    bot.ask(PROSPECT, "P1", "Hi").await;
    bot.stop().await;
    let (ok, stdout, stderr) = juru_sync_dynamics(&bot, &fake, fake_dynamics::CLIENT_SECRET).await;
    assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("Dynamics 365: sent") && stdout.contains("dead 0 · still queued 0"), "stdout: {stdout}");
    assert_eq!(fake.count_by_our_id("contacts").get(PROSPECT), Some(&1));
    assert_clean(&fake);
}

#[tokio::test]
async fn juru_sync_platform_dynamics_with_a_wrong_secret_says_so_and_fails() {
    let fake = FakeDynamics::start(FakeOptions::default()).await;
    let mut bot = common::TestBot::with_config(&format!("[bot]\nowners = [\"{OWNER}\"]\n")).await;
    bot.ask(PROSPECT, "P1", "Hi").await;
    bot.stop().await;
    let (ok, stdout, stderr) = juru_sync_dynamics(&bot, &fake, "not-the-secret").await;
    assert!(!ok, "nothing was sent, yet exit 0\nstdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("AADSTS7000215") && stderr.contains("client secret"), "stderr: {stderr}");
}

#[tokio::test]
async fn an_edit_in_dynamics_comes_back_by_the_pull_and_is_not_echoed() {
    let fake = FakeDynamics::start(FakeOptions::default()).await;
    let config = bot_config(&fake, &format!("client_secret = \"{}\"\n", fake_dynamics::CLIENT_SECRET))
        .replace("pull_secs = 0", "pull_secs = 1");
    let bot = common::TestBot::with_config(&config).await;
    bot.ask(PROSPECT, "P1", "Hi").await;
    bot.ask(OWNER, "O1", &format!("#crm deals create --title \"Umroh A\" --value 25000000 --contact {PROSPECT}")).await;
    common::until(LIMIT, "the deal is an opportunity", || fake.count_by_our_id("opportunities").get("D1") == Some(&1))
        .await;
    sync_until(&bot, &["queued 0 ", "dead 0"]).await;
    // Dynamics stamps whole seconds: the edits come a second after our last write.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let contact = fake.by_our_id("contacts", PROSPECT).unwrap();
    fake.touch(
        "contacts",
        contact["contactid"].as_str().unwrap(),
        json!({"fullname": "Budi Santoso", "lastname": "Santoso"}),
    );
    let deal = fake.by_our_id("opportunities", "D1").unwrap();
    fake.touch("opportunities", deal["opportunityid"].as_str().unwrap(), json!({"statecode": 1, "salesstage": 3}));
    let batches = fake.batches().len();
    let started = Instant::now();
    loop {
        let shown = bot.ask(OWNER, &format!("Q{}", started.elapsed().as_millis()), "#crm deals show D1").await;
        if shown.contains("won") {
            break;
        }
        assert!(started.elapsed() < LIMIT, "the won opportunity never came back: {shown}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let shown = bot.ask(OWNER, "Q-contact", &format!("#crm contacts show {PROSPECT}")).await;
    assert!(shown.contains("Budi Santoso"), "{shown}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(fake.batches().len(), batches, "what came from Dynamics is not pushed back");
    assert_clean(&fake);
}

#[tokio::test]
async fn an_opportunity_whose_contact_was_dead_lettered_follows_it_after_a_few_tries() {
    let fake = FakeDynamics::start(FakeOptions::default()).await;
    // The first write (the prospect's contact) is refused for good.
    fake.inject(Failure::DuplicateKey, 1);
    let config = bot_config(&fake, &format!("client_secret = \"{}\"\n", fake_dynamics::CLIENT_SECRET));
    let bot = common::TestBot::with_config(&config).await;
    bot.ask(PROSPECT, "P1", "Hi").await;
    sync_until(&bot, &["dead 1"]).await;
    let created = bot
        .ask(OWNER, "O1", &format!("#crm deals create --title \"Umroh A\" --value 25000000 --contact {PROSPECT}"))
        .await;
    assert!(created.contains("D1"), "{created}");
    let reply = sync_until(&bot, &["queued 0 ", "dead 2"]).await;
    assert!(
        reply.contains("was dead-lettered") && reply.contains("Cannot insert duplicate key"),
        "the parent and Dataverse's words: {reply}"
    );
    assert!(fake.rows("opportunities").is_empty());
}
