//! The Pipedrive connector against a fake Pipedrive on loopback: what the
//! vendor ends up holding, and how its answers reach the sync worker.

#[path = "fakes/pipedrive.rs"]
mod fake_pipedrive;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fake_pipedrive::{API_TOKEN, AUTH_CODE, CLIENT_ID, CLIENT_SECRET, Failure, FakeOptions, FakePipedrive};
use juru::channel::Channel;
use juru::config::{PipedriveConfig, Secret, Url};
use juru::connectors::credential::{Credential, Tokens};
use juru::connectors::pipedrive::{PipedriveConnector, exchange_code, parse_webhook, verify_basic_auth};
use juru::connectors::{Connector, Item, Kind, Outcome, Record, RemoteIds, SyncError};
use juru::crm::activity::{Activity, ActivityType};
use juru::crm::company::{Company, CompanyKind};
use juru::crm::contact::{Contact, CustomerGroup};
use juru::crm::deal::{Deal, Stage, StageChange};
use juru::crm::settings::FieldMapping;
use serde_json::json;

/// The worker's local → remote id map.
#[derive(Default)]
struct Ids(Mutex<HashMap<(Kind, String), String>>);

impl RemoteIds for Ids {
    fn remote_id(&self, kind: Kind, local_id: &str) -> Option<String> {
        self.0.lock().unwrap().get(&(kind, local_id.to_string())).cloned()
    }
}

impl Ids {
    fn remember(&self, record: &Record, outcome: &Outcome) {
        if let Outcome::Done { remote_id } = outcome {
            self.0.lock().unwrap().insert((record.kind(), record.local_id()), remote_id.clone());
        }
    }
}

fn config(fake: &FakePipedrive) -> PipedriveConfig {
    PipedriveConfig {
        base_url: Url(fake.url()),
        oauth_url: Url(fake.url()),
        client_id: Some(CLIENT_ID.into()),
        client_secret: Some(Secret::try_from(CLIENT_SECRET.to_string()).unwrap()),
        requests_per_2s: 100,
        ..PipedriveConfig::default()
    }
}

fn connector_with(fake: &FakePipedrive, credential: Credential, mapping: FieldMapping) -> PipedriveConnector {
    PipedriveConnector::new(&config(fake), credential, mapping, Arc::new(|_| {})).with_timeout(Duration::from_secs(1))
}

fn connector(fake: &FakePipedrive) -> PipedriveConnector {
    connector_with(fake, Credential::ApiKey(API_TOKEN.into()), FieldMapping::new())
}

fn contact(key: &str, name: &str) -> Record {
    let mut c = Contact::new(key, Channel::Waha, 1_795_402_800_000);
    c.name = Some(name.into());
    c.email = Some(format!("{key}@example.com"));
    Record::Contact(Arc::new(c))
}

fn company(name: &str) -> Record {
    Record::Company(Arc::new(Company {
        id: juru::crm::company::slug(name),
        kind: CompanyKind::Brand,
        name: name.into(),
        parent: None,
        customer_group: Some(CustomerGroup::B2B),
        segment: None,
        created_by: "628111".into(),
        created_ms: 0,
    }))
}

fn deal(id: u64, stage: Stage, contact: Option<&str>, company: Option<&str>) -> Deal {
    Deal {
        contact: contact.map(str::to_string),
        company: company.map(str::to_string),
        ..Deal::new(id, format!("Deal {id}"), 12_000_000, stage, "628111", 0)
    }
}

fn activity(seq: u64, contact: &str, deal: Option<u64>, notes: Option<&str>) -> Record {
    Record::Activity(Activity {
        seq,
        contact: contact.into(),
        kind: ActivityType::Call,
        source: "command".into(),
        outcome: Some(juru::crm::activity::Outcome::Interested),
        next_action: None,
        next_action_date: None,
        notes: notes.map(str::to_string),
        deal,
        by: "628111".into(),
        at_ms: 1_795_402_800_000,
    })
}

fn item(record: &Record) -> Item {
    Item { record: record.clone(), remote_id: None, unsure: false }
}

/// Pushes one record as the worker would (remote id from the map) and remembers the result.
async fn push(c: &PipedriveConnector, ids: &Ids, record: &Record) -> Result<Outcome, SyncError> {
    let mut it = item(record);
    it.remote_id = ids.remote_id(record.kind(), &record.local_id());
    let outcome = c.push(&[it], ids).await?.remove(0);
    ids.remember(record, &outcome);
    Ok(outcome)
}

fn done(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Done { remote_id } => remote_id.clone(),
        other => panic!("expected Done, got {other:?}"),
    }
}

fn assert_clean(fake: &FakePipedrive) {
    assert_eq!(fake.violations(), Vec::<String>::new(), "requests broke Pipedrive's rules");
}

#[tokio::test]
async fn prepare_creates_our_id_fields_once_and_is_idempotent() {
    let fake = FakePipedrive::start(FakeOptions::default()).await;
    let c = connector(&fake);
    c.prepare().await.unwrap();
    c.prepare().await.unwrap();
    for fields in ["personFields", "organizationFields", "dealFields"] {
        let key = fake.id_field_key(fields).unwrap_or_else(|| panic!("no juru id in {fields}"));
        assert_eq!(key.len(), 40);
    }
    let creates = fake.requests().iter().filter(|r| r.method == "POST" && r.path.ends_with("Fields")).count();
    assert_eq!(creates, 3, "a second prepare finds the fields instead of creating them again");
    assert!(fake.requests().iter().any(|r| r.path == "/api/v2/stages" && r.query.contains_key("pipeline_id")));
    assert!(fake.requests().iter().all(|r| r.headers.get("x-api-token").map(String::as_str) == Some(API_TOKEN)));
    assert_clean(&fake);
}

#[tokio::test]
async fn a_contact_pushed_twice_exists_once_with_its_company_and_our_id() {
    let fake = FakePipedrive::start(FakeOptions::default()).await;
    let c = connector(&fake);
    let ids = Ids::default();
    c.prepare().await.unwrap();
    let org = done(&push(&c, &ids, &company("Kopi Kita")).await.unwrap());
    let budi = contact("6281234567890", "Budi");
    if let Record::Contact(ct) = &budi {
        let mut ct = (**ct).clone();
        ct.company = Some("kopi-kita".into());
        let budi = Record::Contact(Arc::new(ct));
        let first = done(&push(&c, &ids, &budi).await.unwrap());
        let second = done(&push(&c, &ids, &budi).await.unwrap());
        assert_eq!(first, second);
    }
    let persons = fake.records("persons");
    assert_eq!(persons.len(), 1);
    let key = fake.id_field_key("personFields").unwrap();
    assert_eq!(persons[0]["custom_fields"][&key], "6281234567890");
    assert_eq!(persons[0]["org_id"].to_string(), org);
    assert_eq!(persons[0]["phones"], json!([{"value": "+6281234567890", "primary": true, "label": "mobile"}]));
    assert_eq!(fake.count_by_our_id("persons").get("6281234567890"), Some(&1));
    assert_eq!(fake.count_by_our_id("organizations").get("kopi-kita"), Some(&1));
    assert!(fake.requests().iter().any(|r| r.method == "PATCH" && r.path.starts_with("/api/v2/persons/")));
    assert_clean(&fake);
}

#[tokio::test]
async fn mapped_contact_fields_land_in_the_named_custom_fields() {
    let fake = FakePipedrive::start(FakeOptions::default()).await;
    let mapping: FieldMapping = [("customer_group".to_string(), fake.customer_group_key())].into();
    let c = connector_with(&fake, Credential::ApiKey(API_TOKEN.into()), mapping);
    let mut ct = Contact::new("628555", Channel::Waha, 0);
    ct.customer_group = Some(CustomerGroup::B2B);
    done(&push(&c, &Ids::default(), &Record::Contact(Arc::new(ct))).await.unwrap());
    assert_eq!(fake.records("persons")[0]["custom_fields"][fake.customer_group_key()], "B2B");
    assert_clean(&fake);
}

#[tokio::test]
async fn deals_land_in_the_mapped_stage_and_close_as_a_status() {
    let fake = FakePipedrive::start(FakeOptions::default()).await;
    let c = connector(&fake);
    let ids = Ids::default();
    c.prepare().await.unwrap();
    let person = done(&push(&c, &ids, &contact("628777", "Sari")).await.unwrap());
    let mut d = deal(7, Stage::Proposal, Some("628777"), None);
    done(&push(&c, &ids, &Record::Deal(Arc::new(d.clone()))).await.unwrap());
    let stored = &fake.records("deals")[0];
    assert_eq!((stored["stage_id"].as_u64(), stored["status"].as_str()), (Some(14), Some("open")), "Proposal");
    assert_eq!(stored["person_id"].to_string(), person);
    assert_eq!(stored["currency"], "IDR");

    d.move_to(Stage::Lost, "628111", Some("budget"), 5).unwrap();
    done(&push(&c, &ids, &Record::Deal(Arc::new(d))).await.unwrap());
    let stored = &fake.records("deals")[0];
    assert_eq!(fake.records("deals").len(), 1);
    assert_eq!(
        (stored["stage_id"].as_u64(), stored["status"].as_str(), stored["lost_reason"].as_str()),
        (Some(14), Some("lost"), Some("budget")),
        "lost keeps the stage it closed from"
    );

    let mut won = deal(8, Stage::Negotiation, None, None);
    won.history.push(StageChange {
        from: Some(Stage::Lead),
        to: Stage::Negotiation,
        by: "x".into(),
        at_ms: 1,
        reason: None,
    });
    won.move_to(Stage::Won, "x", Some("price"), 2).unwrap();
    done(&push(&c, &ids, &Record::Deal(Arc::new(won))).await.unwrap());
    let stored = &fake.records("deals")[1];
    assert_eq!((stored["stage_id"].as_u64(), stored["status"].as_str()), (Some(15), Some("won")));
    assert!(stored.get("lost_reason").is_none());
    assert_clean(&fake);
}

#[tokio::test]
async fn a_stage_the_pipeline_lacks_is_dead_lettered_with_how_to_fix_it() {
    let opts = FakeOptions { stages: vec!["Lead".into(), "Qualified".into()], ..FakeOptions::default() };
    let fake = FakePipedrive::start(opts).await;
    let c = connector(&fake);
    c.prepare().await.unwrap();
    let outcome =
        push(&c, &Ids::default(), &Record::Deal(Arc::new(deal(9, Stage::Negotiation, None, None)))).await.unwrap();
    let Outcome::Dead { reason } = outcome else { panic!("expected Dead, got {outcome:?}") };
    assert!(reason.contains("'negotiation'") && reason.contains("add a stage"), "{reason}");
    assert!(fake.records("deals").is_empty());
    assert_clean(&fake);
}

#[tokio::test]
async fn an_activity_with_notes_becomes_an_activity_and_a_note_linked_to_person_and_deal() {
    let fake = FakePipedrive::start(FakeOptions::default()).await;
    let c = connector(&fake);
    let ids = Ids::default();
    let person = done(&push(&c, &ids, &contact("628999", "Andi")).await.unwrap());
    let deal_id =
        done(&push(&c, &ids, &Record::Deal(Arc::new(deal(3, Stage::Lead, Some("628999"), None)))).await.unwrap());
    let remote = done(&push(&c, &ids, &activity(12, "628999", Some(3), Some("wants 40 boxes"))).await.unwrap());
    assert!(remote.contains("/note:"), "{remote}");
    let act = &fake.records("activities")[0];
    assert_eq!(act["person_id"].to_string(), person);
    assert_eq!(act["deal_id"].to_string(), deal_id);
    assert_eq!(act["type"], "call");
    assert!(act["subject"].as_str().unwrap().ends_with("[juru A12]"));
    let note = &fake.records("notes")[0];
    assert!(note["content"].as_str().unwrap().starts_with("wants 40 boxes"));
    assert_eq!(note["person_id"].to_string(), person);

    // Pushed again (edited notes): updated in place.
    done(&push(&c, &ids, &activity(12, "628999", Some(3), Some("wants 50 boxes"))).await.unwrap());
    assert_eq!(fake.count_by_our_id("activities").get("A12"), Some(&1));
    assert_eq!(fake.count_by_our_id("notes").get("A12"), Some(&1));
    assert!(fake.records("notes")[0]["content"].as_str().unwrap().starts_with("wants 50"));
    assert_clean(&fake);
}

#[tokio::test]
async fn an_activity_whose_contact_is_not_pushed_yet_waits() {
    let fake = FakePipedrive::start(FakeOptions::default()).await;
    let c = connector(&fake);
    let outcome = push(&c, &Ids::default(), &activity(1, "628000", None, None)).await.unwrap();
    assert!(matches!(outcome, Outcome::Retry { .. }), "{outcome:?}");
    assert!(fake.records("activities").is_empty());
    assert_clean(&fake);
}

#[tokio::test]
async fn a_create_that_timed_out_is_found_by_our_id_instead_of_duplicated() {
    let fake = FakePipedrive::start(FakeOptions::default()).await;
    let c = connector(&fake);
    let ids = Ids::default();
    c.prepare().await.unwrap();
    let budi = contact("628123", "Budi");
    fake.inject(Failure::Timeout, 1);
    let err = c.push(&[item(&budi)], &ids).await.unwrap_err();
    assert!(matches!(err, SyncError::Transient(_)), "{err:?}");
    assert_eq!(fake.records("persons").len(), 1, "the fake applied the create");
    let retry = Item { record: budi.clone(), remote_id: None, unsure: true };
    let outcome = c.push(&[retry], &ids).await.unwrap().remove(0);
    assert_eq!(done(&outcome), fake.records("persons")[0]["id"].to_string());
    assert_eq!(fake.count_by_our_id("persons").get("628123"), Some(&1));
    let search = fake.requests().into_iter().find(|r| r.path == "/api/v2/persons/search").expect("searched");
    assert_eq!(search.query.get("term").map(String::as_str), Some("628123"));
    assert_eq!(search.query.get("fields").map(String::as_str), Some("custom_fields"));
    assert_eq!(search.query.get("exact_match").map(String::as_str), Some("true"));
    assert_clean(&fake);
}

#[tokio::test]
async fn an_activity_that_timed_out_is_found_by_its_marker() {
    let fake = FakePipedrive::start(FakeOptions::default()).await;
    let c = connector(&fake);
    let ids = Ids::default();
    done(&push(&c, &ids, &contact("628321", "Rina")).await.unwrap());
    let a = activity(5, "628321", None, None);
    fake.inject(Failure::Timeout, 1);
    assert!(matches!(c.push(&[item(&a)], &ids).await, Err(SyncError::Transient(_))));
    let outcome = c.push(&[Item { record: a, remote_id: None, unsure: true }], &ids).await.unwrap().remove(0);
    assert_eq!(done(&outcome), fake.records("activities")[0]["id"].to_string());
    assert_eq!(fake.count_by_our_id("activities").get("A5"), Some(&1));
    assert_clean(&fake);
}

#[tokio::test]
async fn throttling_says_how_long_to_wait_and_whether_the_day_is_spent() {
    let fake = FakePipedrive::start(FakeOptions::default()).await;
    let c = connector(&fake);
    let ids = Ids::default();
    fake.inject(Failure::Throttle, 1);
    let err = push(&c, &ids, &company("Satu")).await.unwrap_err();
    assert!(
        matches!(err, SyncError::Throttled { retry_after: Some(d), daily: false, .. } if d == Duration::from_secs(2)),
        "{err:?}"
    );
    fake.inject(Failure::DailyLimit, 1);
    let err = push(&c, &ids, &company("Dua")).await.unwrap_err();
    assert!(matches!(err, SyncError::Throttled { daily: true, .. }), "{err:?}");
    fake.inject(Failure::CloudflareBlock, 1);
    let err = push(&c, &ids, &company("Tiga")).await.unwrap_err();
    assert!(
        matches!(err, SyncError::Throttled { retry_after: Some(d), .. } if d == Duration::from_secs(60)),
        "{err:?}"
    );
    assert!(c.limiter().paused_for().is_some_and(|d| d > Duration::from_secs(50)), "the limiter holds requests");
    assert_clean(&fake);
}

#[tokio::test]
async fn server_errors_and_timeouts_are_transient() {
    let fake = FakePipedrive::start(FakeOptions::default()).await;
    let c = connector(&fake);
    let ids = Ids::default();
    fake.inject(Failure::ServerError, 1);
    assert!(matches!(push(&c, &ids, &company("Empat")).await, Err(SyncError::Transient(_))));
    fake.inject(Failure::Timeout, 1);
    assert!(matches!(push(&c, &ids, &company("Lima")).await, Err(SyncError::Transient(_))));
    assert_clean(&fake);
}

#[tokio::test]
async fn a_validation_error_is_dead_lettered_with_pipedrives_message() {
    let fake = FakePipedrive::start(FakeOptions::default()).await;
    let c = connector(&fake);
    c.prepare().await.unwrap();
    fake.inject(Failure::Validation, 1);
    let outcome = push(&c, &Ids::default(), &company("Enam")).await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Dead {
            reason: "Validation failed: name: Name must be given (Please check developers.pipedrive.com)".into()
        }
    );
    let writes = fake.requests().iter().filter(|r| r.method == "POST" && r.path == "/api/v2/organizations").count();
    assert_eq!(writes, 1, "never retried");
    assert_clean(&fake);
}

fn oauth(fake: &FakePipedrive, expires_at_ms: u64) -> Credential {
    Credential::OAuth(Tokens {
        access_token: fake.issue_access_token(),
        refresh_token: Some(fake.refresh_token()),
        expires_at_ms: Some(expires_at_ms),
        instance_url: None,
        api_domain: Some(fake.url()),
    })
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_rotated_tokens_are_handed_over() {
    let fake = FakePipedrive::start(FakeOptions::default()).await;
    let seen: Arc<Mutex<Vec<Tokens>>> = Arc::default();
    let sink = seen.clone();
    let credential = oauth(&fake, u64::MAX / 2);
    let mut cfg = config(&fake);
    cfg.base_url = Url("http://127.0.0.1:9".into()); // OAuth uses api_domain, not base_url
    let c =
        PipedriveConnector::new(&cfg, credential, FieldMapping::new(), Arc::new(move |t| sink.lock().unwrap().push(t)))
            .with_timeout(Duration::from_secs(1));
    fake.inject(Failure::ExpiredToken, 1);
    done(&push(&c, &Ids::default(), &company("Tujuh")).await.unwrap());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(Some(seen[0].access_token.clone()), fake.current_access_token());
    assert_eq!(seen[0].refresh_token, Some(fake.refresh_token()), "the rotated refresh token is kept");
    let last = fake.requests().into_iter().rev().find(|r| r.path == "/api/v2/organizations").unwrap();
    assert_eq!(last.headers.get("authorization"), Some(&format!("Bearer {}", seen[0].access_token)));
    assert_clean(&fake);
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_before_the_request() {
    let fake = FakePipedrive::start(FakeOptions::default()).await;
    let refreshed = Arc::new(Mutex::new(0));
    let count = refreshed.clone();
    let c = PipedriveConnector::new(
        &config(&fake),
        oauth(&fake, 1),
        FieldMapping::new(),
        Arc::new(move |_| *count.lock().unwrap() += 1),
    );
    done(&push(&c, &Ids::default(), &company("Delapan")).await.unwrap());
    assert_eq!(*refreshed.lock().unwrap(), 1);
    let first_api_call = fake.requests().into_iter().find(|r| r.path != "/oauth/token").unwrap();
    assert_eq!(
        first_api_call.headers.get("authorization"),
        Some(&format!("Bearer {}", fake.current_access_token().unwrap()))
    );
    assert_clean(&fake);
}

#[tokio::test]
async fn a_refused_api_token_is_an_auth_error() {
    let fake = FakePipedrive::start(FakeOptions::default()).await;
    let c = connector_with(&fake, Credential::ApiKey("wrong".into()), FieldMapping::new());
    assert!(matches!(c.prepare().await, Err(SyncError::Auth(_))));
    assert_clean(&fake);
}

#[tokio::test]
async fn an_authorization_code_is_exchanged_for_tokens_with_the_api_domain() {
    let fake = FakePipedrive::start(FakeOptions::default()).await;
    let tokens =
        exchange_code(&config(&fake), AUTH_CODE, "https://bot.example/oauth/callback/pipedrive").await.unwrap();
    assert_eq!(Some(tokens.access_token), fake.current_access_token());
    assert_eq!(tokens.api_domain, Some(fake.url()));
    assert!(tokens.expires_at_ms.is_some() && tokens.refresh_token.is_some());
    let refused = exchange_code(&config(&fake), "stale", "https://bot.example/cb").await;
    assert!(matches!(refused, Err(SyncError::Auth(_))), "{refused:?}");
    assert_clean(&fake);
}

#[tokio::test]
async fn a_bulk_edit_larger_than_a_page_is_read_page_by_page_without_a_gap() {
    let fake = FakePipedrive::start(FakeOptions::default()).await;
    let c = connector(&fake);
    c.prepare().await.unwrap();
    let since = c.pull(Kind::Contact, None, None).await.unwrap().cursor;
    // 600 persons with the same update_time: asking again "since" that
    // second would return the same first 500 for ever; the page token goes on.
    fake.bulk_edit("persons", 600);
    let first = c.pull(Kind::Contact, since, None).await.unwrap();
    assert_eq!(first.changes.len(), 500);
    let token = first.next_page.clone().expect("a next page");
    let second = c.pull(Kind::Contact, since, Some(&token)).await.unwrap();
    assert_eq!(second.changes.len(), 100);
    assert_eq!(second.next_page, None);
    let mut names: Vec<_> = first.changes.iter().chain(&second.changes).filter_map(|c| c.fields.name.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 600, "every record once");
    let list = fake.requests().into_iter().rev().find(|r| r.path == "/api/v2/persons" && r.method == "GET").unwrap();
    assert_eq!(list.query.get("cursor"), Some(&token));
    assert_clean(&fake);
}

#[tokio::test]
async fn pull_returns_changes_since_the_cursor_with_our_ids() {
    let fake = FakePipedrive::start(FakeOptions::default()).await;
    let c = connector(&fake);
    let ids = Ids::default();
    c.prepare().await.unwrap();
    let budi = done(&push(&c, &ids, &contact("628100", "Budi")).await.unwrap());
    done(&push(&c, &ids, &contact("628200", "Sari")).await.unwrap());
    let first = c.pull(Kind::Contact, None, None).await.unwrap();
    assert_eq!(first.changes.len(), 2);
    assert_eq!(first.changes[0].local_id.as_deref(), Some("628100"));
    assert_eq!(first.changes[0].fields.email.as_deref(), Some("628100@example.com"));
    assert!(first.next_page.is_none());
    let cursor = first.cursor.unwrap();
    assert_eq!(cursor, first.changes[1].modified_ms);

    assert!(c.pull(Kind::Contact, Some(cursor), None).await.unwrap().changes.is_empty(), "nothing new");
    fake.touch("persons", budi.parse().unwrap(), json!({"name": "Budi Santoso"}));
    let next = c.pull(Kind::Contact, Some(cursor), None).await.unwrap();
    assert_eq!(next.changes.len(), 1);
    assert_eq!(next.changes[0].fields.name.as_deref(), Some("Budi Santoso"));
    assert_eq!(next.changes[0].local_id.as_deref(), Some("628100"));
    assert!(next.cursor.unwrap() > cursor);
    let list = fake.requests().into_iter().rev().find(|r| r.path == "/api/v2/persons" && r.method == "GET").unwrap();
    assert_eq!(list.query.get("sort_by").map(String::as_str), Some("update_time"));
    assert!(list.query.contains_key("updated_since"));
    assert_clean(&fake);
}

#[tokio::test]
async fn pulled_deals_come_back_with_our_stage() {
    let fake = FakePipedrive::start(FakeOptions::default()).await;
    let c = connector(&fake);
    let ids = Ids::default();
    c.prepare().await.unwrap();
    let remote = done(&push(&c, &ids, &Record::Deal(Arc::new(deal(4, Stage::Discovery, None, None)))).await.unwrap());
    fake.touch("deals", remote.parse().unwrap(), json!({"status": "won"}));
    let pulled = c.pull(Kind::Deal, None, None).await.unwrap();
    assert_eq!(pulled.changes[0].local_id.as_deref(), Some("D4"));
    assert_eq!(pulled.changes[0].fields.stage, Some(Stage::Won));
    assert_eq!(pulled.changes[0].fields.value, Some(12_000_000));
    assert_clean(&fake);
}

#[tokio::test]
async fn the_limiter_keeps_the_account_under_its_burst_budget() {
    let fake =
        FakePipedrive::start(FakeOptions { rate_limit: Some((4, Duration::from_secs(2))), ..FakeOptions::default() })
            .await;
    let mut cfg = config(&fake);
    cfg.requests_per_2s = 4;
    let c = PipedriveConnector::new(&cfg, Credential::ApiKey(API_TOKEN.into()), FieldMapping::new(), Arc::new(|_| {}));
    let ids = Ids::default();
    for n in 0..6 {
        done(&push(&c, &ids, &company(&format!("Toko {n}"))).await.unwrap());
    }
    assert_eq!(fake.records("organizations").len(), 6, "no 429 on the way");
    assert_clean(&fake);
}

#[tokio::test]
async fn a_webhook_with_the_right_basic_auth_becomes_a_remote_change() {
    let fake = FakePipedrive::start(FakeOptions::default()).await;
    let c = connector(&fake);
    c.prepare().await.unwrap();
    let key = fake.id_field_key("personFields").unwrap();
    assert!(verify_basic_auth(Some("Basic anVydTpzM2NyZXQ="), "juru", "s3cret"));
    assert!(!verify_basic_auth(Some("Basic anVydTpvdGhlcg=="), "juru", "s3cret"));
    let body = json!({
        "meta": {"action": "change", "entity": "person", "entity_id": "42", "id": "ev-1",
                 "timestamp": "2026-11-23T03:00:05.000Z", "change_source": "app"},
        "data": {"id": 42, "name": "Budi S", "update_time": "2026-11-23T03:00:05Z",
                 "emails": [{"value": "b@x.id", "primary": true, "label": "work"}],
                 "custom_fields": {key.clone(): "628100"}},
        "previous": {"name": "Budi"}
    });
    let event = parse_webhook(body.to_string().as_bytes()).unwrap();
    let change = c.webhook_change(&event).expect("a relevant change");
    assert_eq!(
        (change.kind, change.remote_id.as_str(), change.local_id.as_deref()),
        (Kind::Contact, "42", Some("628100"))
    );
    assert_eq!(change.fields.email.as_deref(), Some("b@x.id"));
    let note = json!({"meta": {"action": "create", "entity": "note", "entity_id": 1, "id": "ev-2"}, "data": {"id": 1}});
    assert!(c.webhook_change(&parse_webhook(note.to_string().as_bytes()).unwrap()).is_none());
    assert_clean(&fake);
}
