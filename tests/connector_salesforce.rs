//! The Salesforce connector against a fake org on loopback: what the org
//! ends up holding, what the worker is told, and that every request had the
//! shape Salesforce documents (the fake's violations stay empty).

#[path = "fakes/salesforce.rs"]
mod fake_salesforce;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fake_salesforce::{Failure, FakeOptions, FakeSalesforce, FakeStage};
use juru::channel::Channel;
use juru::config::{SalesforceConfig, Secret, Url};
use juru::connectors::credential::{Credential, TokenSink, Tokens};
use juru::connectors::salesforce::{SalesforceConnector, exchange_code};
use juru::connectors::{Connector, Item, Kind, Outcome, Record, RemoteIds, SyncError};
use juru::crm::activity::{Activity, ActivityType};
use juru::crm::company::{Company, CompanyKind};
use juru::crm::contact::Contact;
use juru::crm::deal::{Deal, Stage};
use juru::crm::settings::FieldMapping;
use serde_json::{Value, json};

const BUDI: &str = "6281234567890";
const SITI: &str = "6285798765432";

fn config(fake: &FakeSalesforce) -> SalesforceConfig {
    SalesforceConfig {
        login_url: Url(fake.url()),
        client_id: Some(fake_salesforce::CLIENT_ID.into()),
        client_secret: Secret::try_from(fake_salesforce::CLIENT_SECRET.to_string()).ok(),
        ..SalesforceConfig::default()
    }
}

/// The tokens the connector handed on, in order.
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

fn connector_with(
    config: &SalesforceConfig,
    credential: Credential,
    mapping: FieldMapping,
) -> (SalesforceConnector, Sink) {
    let sink = Sink::default();
    (SalesforceConnector::new(config, credential, mapping, sink.as_sink()), sink)
}

fn connector(fake: &FakeSalesforce) -> (SalesforceConnector, Sink) {
    connector_with(&config(fake), Credential::ApiKey(String::new()), FieldMapping::new())
}

/// The worker's memory of remote ids, fed from push outcomes.
#[derive(Default)]
struct Ids(Mutex<HashMap<(Kind, String), String>>);

impl RemoteIds for Ids {
    fn remote_id(&self, kind: Kind, local_id: &str) -> Option<String> {
        self.0.lock().unwrap().get(&(kind, local_id.to_string())).cloned()
    }
}

impl Ids {
    fn remember(&self, items: &[Item], outcomes: &[Outcome]) {
        for (item, outcome) in items.iter().zip(outcomes) {
            if let Outcome::Done { remote_id } = outcome {
                self.0.lock().unwrap().insert((item.record.kind(), item.record.local_id()), remote_id.clone());
            }
        }
    }
}

async fn push(c: &SalesforceConnector, ids: &Ids, records: Vec<Record>) -> Result<Vec<Outcome>, SyncError> {
    let items: Vec<Item> = records.into_iter().map(|record| Item { record, remote_id: None, unsure: false }).collect();
    let outcomes = c.push(&items, ids).await?;
    ids.remember(&items, &outcomes);
    Ok(outcomes)
}

fn company(id: &str, name: &str, kind: CompanyKind, parent: Option<&str>) -> Record {
    Record::Company(Arc::new(Company {
        id: id.into(),
        kind,
        name: name.into(),
        parent: parent.map(str::to_string),
        customer_group: None,
        segment: None,
        created_by: "628111".into(),
        created_ms: 1_764_000_000_000,
    }))
}

fn contact(key: &str, name: Option<&str>, company: Option<&str>) -> Record {
    let mut c = Contact::new(key, Channel::Waha, 1_764_000_000_000);
    c.name = name.map(str::to_string);
    c.company = company.map(str::to_string);
    Record::Contact(Arc::new(c))
}

fn deal(id: u64, stage: Stage, contact: Option<&str>, company: Option<&str>) -> Record {
    Record::Deal(Arc::new(Deal {
        contact: contact.map(str::to_string),
        company: company.map(str::to_string),
        ..Deal::new(id, format!("Mesin kopi #{id}"), 25_000_000, stage, "628111", 1_764_000_000_000)
    }))
}

fn activity(seq: u64, contact: &str, deal: Option<u64>, notes: &str) -> Record {
    Record::Activity(Activity {
        seq,
        contact: contact.into(),
        kind: ActivityType::WhatsappFollowUp,
        source: "command".into(),
        outcome: Some(juru::crm::activity::Outcome::Interested),
        next_action: None,
        next_action_date: None,
        notes: Some(notes.into()),
        deal,
        by: "628111".into(),
        at_ms: 1_764_000_000_000,
    })
}

fn done(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Done { remote_id } => remote_id.clone(),
        other => panic!("expected Done, got {other:?}"),
    }
}

fn assert_clean(fake: &FakeSalesforce) {
    assert_eq!(fake.violations(), Vec::<String>::new(), "requests Salesforce would refuse");
}

fn by_our_id(fake: &FakeSalesforce, object: &str, our_id: &str) -> Value {
    fake.records(object)
        .into_iter()
        .find(|r| r["WA_Id__c"] == our_id)
        .unwrap_or_else(|| panic!("no {object} {our_id} in {:?}", fake.records(object)))
}

// ---- prepare ----

#[tokio::test]
async fn prepare_checks_our_external_id_field_loads_the_stages_and_can_run_twice() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let (c, sink) = connector(&fake);
    c.prepare().await.unwrap();
    c.prepare().await.unwrap();
    let describes = fake.requests().iter().filter(|r| r.path.ends_with("/describe")).count();
    assert_eq!(describes, 8, "Account, Contact, Opportunity and Task, twice");
    assert!(fake.requests().iter().any(|r| r.path.ends_with("/query") && r.query.contains("OpportunityStage")));
    assert!(fake.writes().is_empty(), "prepare writes nothing");
    assert_eq!(fake.grants(), ["client_credentials"], "one token for both runs");
    assert_eq!(sink.handed().len(), 1);
    assert_clean(&fake);
}

#[tokio::test]
async fn prepare_tells_the_owner_which_external_id_fields_to_create() {
    let opts = FakeOptions {
        missing_external_id: vec!["Task".into()],
        not_external_id: vec!["Contact".into()],
        ..FakeOptions::default()
    };
    let fake = FakeSalesforce::start(opts).await;
    let (c, _) = connector(&fake);
    let Err(SyncError::Permanent(message)) = c.prepare().await else { panic!("prepare must refuse") };
    assert!(message.contains("Task has no field WA_Id__c"), "{message}");
    assert!(message.contains("Contact.WA_Id__c is not marked External ID"), "{message}");
    assert!(message.contains("External ID and Unique"), "{message}");
    assert!(!message.contains("Account has no field"), "{message}");
    assert_clean(&fake);
}

// ---- upserts ----

#[tokio::test]
async fn companies_contacts_deals_and_activities_land_with_their_links() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let mapping: FieldMapping = [("customer_group".to_string(), "wa_group__c".to_string())].into();
    let (c, _) = connector_with(&config(&fake), Credential::ApiKey(String::new()), mapping);
    let ids = Ids::default();
    c.prepare().await.unwrap();

    let legal =
        push(&c, &ids, vec![company("pt-kopi-kita", "PT Kopi Kita", CompanyKind::LegalEntity, None)]).await.unwrap();
    let brand = push(&c, &ids, vec![company("kopi-kita", "Kopi Kita", CompanyKind::Brand, Some("pt-kopi-kita"))])
        .await
        .unwrap();
    let mut budi = Contact::new(BUDI, Channel::Waha, 0);
    budi.name = Some("Budi Santoso".into());
    budi.company = Some("kopi-kita".into());
    budi.email = Some("budi@kopikita.id".into());
    budi.customer_group = Some(juru::crm::contact::CustomerGroup::B2B);
    let contacts = push(&c, &ids, vec![Record::Contact(Arc::new(budi)), contact(SITI, None, None)]).await.unwrap();
    let deals =
        push(&c, &ids, vec![deal(7, Stage::Proposal, Some(BUDI), Some("kopi-kita")), deal(8, Stage::Won, None, None)])
            .await
            .unwrap();
    let activities = push(&c, &ids, vec![activity(3, BUDI, Some(7), "tertarik paket B")]).await.unwrap();

    let account = by_our_id(&fake, "Account", "kopi-kita");
    assert_eq!(account["ParentId"], json!(done(&legal[0])));
    assert_eq!(account["Id"], json!(done(&brand[0])));
    let budi = by_our_id(&fake, "Contact", BUDI);
    assert_eq!(budi["LastName"], "Budi Santoso");
    assert_eq!(budi["Phone"], format!("+{BUDI}"));
    assert_eq!(budi["Email"], "budi@kopikita.id");
    assert_eq!(budi["AccountId"], account["Id"]);
    assert_eq!(budi["wa_group__c"], "B2B", "the owner's field mapping");
    assert_eq!(by_our_id(&fake, "Contact", SITI)["LastName"], format!("+{SITI}"), "no name: the phone");
    let d7 = by_our_id(&fake, "Opportunity", "D7");
    assert_eq!(d7["StageName"], "Proposal/Price Quote");
    assert_eq!(d7["Amount"], 25_000_000);
    assert_eq!(d7["AccountId"], account["Id"]);
    assert_eq!(by_our_id(&fake, "Opportunity", "D8")["StageName"], "Closed Won");
    let task = by_our_id(&fake, "Task", "A3");
    assert_eq!(task["WhoId"], json!(done(&contacts[0])));
    assert_eq!(task["WhatId"], json!(done(&deals[0])));
    assert_eq!(task["Subject"], "WhatsApp follow-up: interested");
    assert!(task["Description"].as_str().unwrap().starts_with("tertarik paket B"));
    assert_eq!(task["Status"], "Completed");
    assert_eq!(done(&activities[0]), task["Id"].as_str().unwrap());
    let write = &fake.writes()[0];
    assert_eq!(write.path, "/services/data/v66.0/composite/sobjects/Account/WA_Id__c");
    assert_eq!(write.body["allOrNone"], false);
    assert_clean(&fake);
}

#[tokio::test]
async fn a_record_pushed_twice_exists_once() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let (c, _) = connector(&fake);
    let ids = Ids::default();
    let first = push(&c, &ids, vec![contact(BUDI, Some("Budi"), None)]).await.unwrap();
    let second = push(&c, &ids, vec![contact(BUDI, Some("Budi Santoso"), None)]).await.unwrap();
    assert_eq!(done(&first[0]), done(&second[0]));
    assert_eq!(fake.count_by_our_id("Contact")[BUDI], 1);
    assert_eq!(by_our_id(&fake, "Contact", BUDI)["LastName"], "Budi Santoso", "the latest version wins");
    assert_clean(&fake);
}

#[tokio::test]
async fn a_deal_gets_its_contact_as_the_primary_contact_role_once() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let (c, _) = connector(&fake);
    let ids = Ids::default();
    let budi = push(&c, &ids, vec![contact(BUDI, Some("Budi"), None)]).await.unwrap();
    let deals = push(&c, &ids, vec![deal(1, Stage::Proposal, Some(BUDI), None), deal(2, Stage::Lead, None, None)])
        .await
        .unwrap();
    // Pushed again (a retry, a later change): still one role.
    push(&c, &ids, vec![deal(1, Stage::Negotiation, Some(BUDI), None)]).await.unwrap();
    let roles = fake.contact_roles();
    assert_eq!(roles.len(), 1, "{roles:?}");
    assert_eq!(roles[0]["OpportunityId"], done(&deals[0]));
    assert_eq!(roles[0]["ContactId"], done(&budi[0]));
    assert_eq!(roles[0]["IsPrimary"], true);
    assert_clean(&fake);
}

#[tokio::test]
async fn a_batch_of_201_goes_out_as_200_and_1() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let (c, _) = connector(&fake);
    assert_eq!(c.batch_size(Kind::Contact), 200);
    let records: Vec<Record> = (0..201).map(|i| contact(&format!("62812000{i:04}"), None, None)).collect();
    let outcomes = push(&c, &Ids::default(), records).await.unwrap();
    assert_eq!(outcomes.len(), 201);
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Done { .. })));
    let sizes: Vec<usize> = fake.writes().iter().map(|w| w.body["records"].as_array().unwrap().len()).collect();
    assert_eq!(sizes, [200, 1]);
    assert_eq!(fake.count_by_our_id("Contact").len(), 201);
    assert_clean(&fake);
}

#[tokio::test]
async fn an_activity_waits_until_its_contact_is_in_salesforce() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let (c, _) = connector(&fake);
    let outcomes = push(&c, &Ids::default(), vec![activity(1, BUDI, None, "halo")]).await.unwrap();
    assert!(matches!(&outcomes[0], Outcome::Retry { reason } if reason.contains(BUDI)), "{outcomes:?}");
    assert!(fake.writes().is_empty());
    assert_clean(&fake);
}

// ---- stages ----

#[tokio::test]
async fn a_deal_in_a_stage_the_org_lacks_is_dead_with_how_to_fix_it() {
    let opts = FakeOptions {
        stages: vec![
            FakeStage::open("Baru", 10.0),
            FakeStage::open("Negosiasi", 50.0),
            FakeStage::closed("Menang", true),
        ],
        ..FakeOptions::default()
    };
    let fake = FakeSalesforce::start(opts).await;
    let (c, _) = connector(&fake);
    c.prepare().await.unwrap();
    let outcomes =
        push(&c, &Ids::default(), vec![deal(1, Stage::Lost, None, None), deal(2, Stage::Proposal, None, None)])
            .await
            .unwrap();
    assert!(
        matches!(&outcomes[0], Outcome::Dead { reason } if reason.contains("`lost`") && reason.contains("closed-lost")),
        "{outcomes:?}"
    );
    done(&outcomes[1]);
    assert_eq!(by_our_id(&fake, "Opportunity", "D2")["StageName"], "Negosiasi", "open stages taken in order");
    assert_eq!(fake.writes()[0].body["records"].as_array().unwrap().len(), 1, "the dead one is not sent");
    assert_clean(&fake);
}

#[tokio::test]
async fn a_stage_renamed_in_salesforce_is_dead_once_then_the_catalogue_is_reloaded() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let (c, _) = connector(&fake);
    c.prepare().await.unwrap();
    fake.set_stages(vec![
        FakeStage::open("Prospecting", 10.0),
        FakeStage::open("Qualification", 20.0),
        FakeStage::open("Penawaran", 60.0),
        FakeStage::closed("Closed Won", true),
        FakeStage::closed("Closed Lost", false),
    ]);
    let ids = Ids::default();
    let first = push(&c, &ids, vec![deal(7, Stage::Proposal, None, None)]).await.unwrap();
    assert!(
        matches!(&first[0], Outcome::Dead { reason } if reason.contains("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")),
        "{first:?}"
    );
    let again = push(&c, &ids, vec![deal(7, Stage::Proposal, None, None)]).await.unwrap();
    done(&again[0]);
    assert_eq!(by_our_id(&fake, "Opportunity", "D7")["StageName"], "Penawaran");
    assert_clean(&fake);
}

// ---- per-record refusals ----

#[tokio::test]
async fn a_partial_failure_kills_only_the_refused_records_with_salesforces_message() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let (c, _) = connector(&fake);
    fake.inject(Failure::PartialFailure, 1);
    let outcomes =
        push(&c, &Ids::default(), vec![contact("1", None, None), contact("2", None, None), contact("3", None, None)])
            .await
            .unwrap();
    assert!(
        matches!(&outcomes[0], Outcome::Dead { reason } if reason.starts_with("REQUIRED_FIELD_MISSING: Required fields are missing"))
    );
    done(&outcomes[1]);
    assert!(matches!(&outcomes[2], Outcome::Dead { .. }));
    assert_eq!(fake.count_by_our_id("Contact").len(), 1);
    assert_clean(&fake);
}

#[tokio::test]
async fn a_duplicate_value_is_dead_and_a_locked_row_is_retried() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let (c, _) = connector(&fake);
    fake.inject(Failure::Duplicate, 1);
    fake.inject(Failure::LockRow, 1);
    let ids = Ids::default();
    let first = push(&c, &ids, vec![contact(BUDI, None, None), contact(SITI, None, None)]).await.unwrap();
    assert!(matches!(&first[0], Outcome::Dead { reason } if reason.contains("DUPLICATE_VALUE")), "{first:?}");
    done(&first[1]);
    let second = push(&c, &ids, vec![contact(BUDI, None, None)]).await.unwrap();
    assert!(matches!(&second[0], Outcome::Retry { reason } if reason.contains("UNABLE_TO_LOCK_ROW")), "{second:?}");
    let third = push(&c, &ids, vec![contact(BUDI, None, None)]).await.unwrap();
    done(&third[0]);
    assert_clean(&fake);
}

#[tokio::test]
async fn two_records_carrying_our_id_make_the_upsert_dead() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    fake.insert("Contact", json!({ "LastName": "Budi", "WA_Id__c": BUDI }));
    fake.insert("Contact", json!({ "LastName": "Budi (copy)", "WA_Id__c": BUDI }));
    let (c, _) = connector(&fake);
    let outcomes = push(&c, &Ids::default(), vec![contact(BUDI, None, None)]).await.unwrap();
    assert!(
        matches!(&outcomes[0], Outcome::Dead { reason } if reason.contains("more than one record")),
        "{outcomes:?}"
    );
    assert_clean(&fake);
}

// ---- whole-call failures ----

#[tokio::test]
async fn the_concurrent_request_limit_is_a_short_throttle_that_pauses_the_org() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let (c, _) = connector(&fake);
    fake.inject(Failure::Throttle, 1);
    let err = push(&c, &Ids::default(), vec![contact(BUDI, None, None)]).await.unwrap_err();
    let SyncError::Throttled { daily, retry_after, reason } = err else { panic!("{err:?}") };
    assert!(!daily);
    assert_eq!(retry_after, Some(Duration::from_secs(10)));
    assert!(reason.contains("ConcurrentRequests"));
    assert!(c.paused_for().is_some_and(|d| d > Duration::from_secs(5)));
    assert_clean(&fake);
}

#[tokio::test]
async fn the_spent_daily_allocation_is_a_daily_throttle() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let (c, _) = connector(&fake);
    fake.inject(Failure::RequestLimit, 1);
    let err = push(&c, &Ids::default(), vec![contact(BUDI, None, None)]).await.unwrap_err();
    assert!(
        matches!(err, SyncError::Throttled { daily: true, retry_after: Some(d), .. } if d >= Duration::from_secs(600)),
        "{err:?}"
    );
    assert!(fake.count_by_our_id("Contact").is_empty());
    assert_clean(&fake);
}

#[tokio::test]
async fn the_usage_header_is_exposed_and_a_spent_allocation_pauses_before_the_403() {
    let fake = FakeSalesforce::start(FakeOptions { api_limit: 5, api_used: 3, ..FakeOptions::default() }).await;
    let (c, _) = connector(&fake);
    assert_eq!(c.api_usage(), None);
    c.pull(Kind::Contact, None, None).await.unwrap();
    assert_eq!(c.api_usage(), Some((4, 5)));
    assert_eq!(c.paused_for(), None);
    c.pull(Kind::Contact, None, None).await.unwrap();
    assert_eq!(c.api_usage(), Some((5, 5)));
    assert!(
        c.paused_for().is_some_and(|d| d > Duration::from_secs(60)),
        "no request goes once the allocation is spent"
    );
    assert_clean(&fake);
}

#[tokio::test]
async fn the_fakes_short_window_answers_with_salesforces_throttle() {
    let fake =
        FakeSalesforce::start(FakeOptions { rate_limit: Some((2, Duration::from_secs(30))), ..FakeOptions::default() })
            .await;
    let (c, _) = connector(&fake);
    c.pull(Kind::Contact, None, None).await.unwrap();
    c.pull(Kind::Contact, None, None).await.unwrap();
    let err = c.pull(Kind::Contact, None, None).await.unwrap_err();
    assert!(matches!(err, SyncError::Throttled { daily: false, retry_after: Some(_), .. }), "{err:?}");
    assert_clean(&fake);
}

#[tokio::test]
async fn without_any_credential_the_owner_is_told_how_to_authorise() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let config = SalesforceConfig { client_secret: None, ..config(&fake) };
    let (c, _) = connector_with(&config, Credential::ApiKey(String::new()), FieldMapping::new());
    let err = c.prepare().await.unwrap_err();
    assert!(matches!(&err, SyncError::Auth(m) if m.contains("#crm auth --platform salesforce --oauth")), "{err:?}");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_server_error_is_transient() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let (c, _) = connector(&fake);
    fake.inject(Failure::ServerError, 1);
    let err = push(&c, &Ids::default(), vec![contact(BUDI, None, None)]).await.unwrap_err();
    assert!(matches!(&err, SyncError::Transient(m) if m.contains("SERVER_UNAVAILABLE")), "{err:?}");
    assert_clean(&fake);
}

#[tokio::test]
async fn a_timeout_is_transient_and_pushing_again_creates_no_duplicate() {
    let fake = FakeSalesforce::start(FakeOptions { hang: Duration::from_secs(2), ..FakeOptions::default() }).await;
    let (c, _) = connector(&fake);
    let c = c.with_timeout(Duration::from_millis(300));
    let ids = Ids::default();
    fake.inject(Failure::Timeout, 1);
    let err = push(&c, &ids, vec![contact(BUDI, Some("Budi"), None)]).await.unwrap_err();
    assert!(matches!(err, SyncError::Transient(_)), "{err:?}");
    assert_eq!(fake.count_by_our_id("Contact")[BUDI], 1, "the write went through unseen");
    let again = push(&c, &ids, vec![contact(BUDI, Some("Budi"), None)]).await.unwrap();
    done(&again[0]);
    assert_eq!(fake.count_by_our_id("Contact")[BUDI], 1);
    assert_clean(&fake);
}

#[tokio::test]
async fn a_malformed_request_is_permanent() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    // A mapping onto a field the org does not have: the whole call is refused.
    let mapping: FieldMapping = [("email".to_string(), "NoSuchField".to_string())].into();
    let (c, _) = connector_with(&config(&fake), Credential::ApiKey(String::new()), mapping);
    let mut budi = Contact::new(BUDI, Channel::Waha, 0);
    budi.email = Some("b@x.id".into());
    let err = push(&c, &Ids::default(), vec![Record::Contact(Arc::new(budi))]).await.unwrap_err();
    assert!(
        matches!(&err, SyncError::Permanent(m) if m.contains("INVALID_FIELD") && m.contains("NoSuchField")),
        "{err:?}"
    );
    assert_eq!(fake.violations().len(), 1, "the fake saw the unknown field");
}

// ---- tokens ----

#[tokio::test]
async fn an_expired_session_is_renewed_once_and_the_push_goes_through() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let (c, sink) = connector(&fake);
    c.prepare().await.unwrap();
    fake.inject(Failure::ExpiredToken, 1);
    let outcomes = push(&c, &Ids::default(), vec![contact(BUDI, None, None)]).await.unwrap();
    done(&outcomes[0]);
    assert_eq!(fake.grants(), ["client_credentials", "client_credentials"]);
    let handed = sink.handed();
    assert_eq!(handed.len(), 2);
    assert_ne!(handed[0].access_token, handed[1].access_token);
    assert_eq!(handed[1].instance_url.as_deref(), Some(fake.url().as_str()));
    assert_clean(&fake);
}

#[tokio::test]
async fn a_session_refused_again_after_renewal_is_an_auth_error() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let (c, _) = connector(&fake);
    fake.inject(Failure::ExpiredToken, 2);
    let err = push(&c, &Ids::default(), vec![contact(BUDI, None, None)]).await.unwrap_err();
    assert!(matches!(&err, SyncError::Auth(m) if m.contains("INVALID_SESSION_ID")), "{err:?}");
    assert_eq!(fake.grants().len(), 2, "one renewal, not a loop");
    assert_clean(&fake);
}

fn stored(fake: &FakeSalesforce, access: &str, refresh: &str, expires_at_ms: Option<u64>) -> Credential {
    Credential::OAuth(Tokens {
        access_token: access.into(),
        refresh_token: Some(refresh.into()),
        expires_at_ms,
        instance_url: Some(fake.url()),
        api_domain: None,
    })
}

#[tokio::test]
async fn a_refused_access_token_is_refreshed_with_the_stored_refresh_token() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let credential = stored(&fake, "00Dstale", fake_salesforce::REFRESH_TOKEN, None);
    let (c, sink) = connector_with(&config(&fake), credential, FieldMapping::new());
    let outcomes = push(&c, &Ids::default(), vec![contact(BUDI, None, None)]).await.unwrap();
    done(&outcomes[0]);
    assert_eq!(fake.grants(), ["refresh_token"]);
    let handed = sink.handed();
    assert_eq!(handed.len(), 1);
    assert_eq!(
        handed[0].refresh_token.as_deref(),
        Some(fake_salesforce::REFRESH_TOKEN),
        "kept: Salesforce sends none back"
    );
    assert_ne!(handed[0].access_token, "00Dstale");
    assert_clean(&fake);
}

#[tokio::test]
async fn tokens_about_to_expire_are_refreshed_before_the_call() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let soon = juru::clock::now_ms() + 30_000;
    let credential = stored(&fake, "00Dstale", fake_salesforce::REFRESH_TOKEN, Some(soon));
    let (c, _) = connector_with(&config(&fake), credential, FieldMapping::new());
    c.pull(Kind::Contact, None, None).await.unwrap();
    let requests = fake.requests();
    assert_eq!(requests[0].path, "/services/oauth2/token", "no request went with the old token");
    assert_eq!(requests.len(), 2);
    assert_clean(&fake);
}

#[tokio::test]
async fn a_revoked_refresh_token_is_an_auth_error() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let credential = stored(&fake, "00Dstale", "revoked", None);
    let (c, sink) = connector_with(&config(&fake), credential, FieldMapping::new());
    let err = c.prepare().await.unwrap_err();
    // The stale token is tried first (it may still work), refused, then the refresh fails.
    assert!(matches!(&err, SyncError::Auth(m) if m.contains("invalid_grant")), "{err:?}");
    assert!(sink.handed().is_empty());
    assert_clean(&fake);
}

#[tokio::test]
async fn the_jwt_bearer_flow_signs_an_assertion_the_org_accepts() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let config = SalesforceConfig {
        client_secret: None,
        username: Some(fake_salesforce::USERNAME.into()),
        private_key_path: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/salesforce-test-key.pem").into()),
        ..config(&fake)
    };
    let (c, sink) = connector_with(&config, Credential::ApiKey(String::new()), FieldMapping::new());
    c.prepare().await.unwrap();
    assert_eq!(fake.grants(), [fake_salesforce::JWT_GRANT]);
    assert!(sink.handed()[0].refresh_token.is_none());
    assert_clean(&fake);
}

#[tokio::test]
async fn the_jwt_bearer_flow_for_an_unapproved_user_is_an_auth_error() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let config = SalesforceConfig {
        username: Some("someone@else.example".into()),
        private_key_path: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/salesforce-test-key.pem").into()),
        ..config(&fake)
    };
    let (c, _) = connector_with(&config, Credential::ApiKey(String::new()), FieldMapping::new());
    assert!(matches!(c.prepare().await, Err(SyncError::Auth(m)) if m.contains("hasn't approved")));
    assert_clean(&fake);
}

#[tokio::test]
async fn the_authorization_code_becomes_tokens_with_a_refresh_token() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let tokens =
        exchange_code(&config(&fake), fake_salesforce::AUTH_CODE, "https://bot.example/oauth/callback/salesforce")
            .await
            .unwrap();
    assert_eq!(tokens.refresh_token.as_deref(), Some(fake_salesforce::REFRESH_TOKEN));
    assert_eq!(tokens.instance_url.as_deref(), Some(fake.url().as_str()));
    let form = &fake.requests()[0].body;
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["redirect_uri"], "https://bot.example/oauth/callback/salesforce");
    let wrong = exchange_code(&config(&fake), "used-code", "https://bot.example/cb").await;
    assert!(matches!(wrong, Err(SyncError::Auth(_))));
    assert_clean(&fake);
}

// ---- pull ----

#[tokio::test]
async fn pull_brings_changes_since_the_cursor_with_our_ids() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let (c, _) = connector(&fake);
    let ids = Ids::default();
    push(&c, &ids, vec![contact(BUDI, Some("Budi"), None), contact(SITI, Some("Siti"), None)]).await.unwrap();
    let first = c.pull(Kind::Contact, None, None).await.unwrap();
    assert_eq!(first.changes.len(), 2);
    assert!(first.next_page.is_none());
    let cursor = first.cursor.unwrap();
    assert_eq!(cursor, first.changes.iter().map(|ch| ch.modified_ms).max().unwrap());

    assert!(fake.edit("Contact", SITI, "LastName", json!("Siti Rahma")));
    let remote_only = fake.insert("Contact", json!({ "LastName": "Andi", "Email": "andi@x.id" }));
    let next = c.pull(Kind::Contact, Some(cursor), None).await.unwrap();
    assert_eq!(next.changes.len(), 2, "{next:?}");
    assert_eq!(next.changes[0].local_id.as_deref(), Some(SITI));
    assert_eq!(next.changes[0].fields.name.as_deref(), Some("Siti Rahma"));
    assert_eq!(next.changes[0].fields.phone.as_deref(), Some(SITI));
    assert_eq!(next.changes[1].remote_id, remote_only);
    assert_eq!(next.changes[1].local_id, None);
    assert!(next.cursor.unwrap() > cursor);
    assert!(c.pull(Kind::Contact, next.cursor, None).await.unwrap().changes.is_empty());
    assert_clean(&fake);
}

#[tokio::test]
async fn a_pulled_deal_comes_back_in_our_stage() {
    let fake = FakeSalesforce::start(FakeOptions::default()).await;
    let (c, _) = connector(&fake);
    push(&c, &Ids::default(), vec![deal(7, Stage::Proposal, None, None)]).await.unwrap();
    fake.edit("Opportunity", "D7", "StageName", json!("Negotiation/Review"));
    fake.edit("Opportunity", "D7", "Amount", json!(30_000_000.0));
    let pulled = c.pull(Kind::Deal, None, None).await.unwrap();
    let change = &pulled.changes[0];
    assert_eq!(change.local_id.as_deref(), Some("D7"));
    assert_eq!(change.fields.stage, Some(Stage::Negotiation));
    assert_eq!(change.fields.value, Some(30_000_000));
    assert_eq!(change.fields.title.as_deref(), Some("Mesin kopi #7"));
    assert_clean(&fake);
}

#[tokio::test]
async fn pull_pages_through_the_query_locator() {
    let fake = FakeSalesforce::start(FakeOptions { query_batch: 200, ..FakeOptions::default() }).await;
    for i in 0..201 {
        fake.insert("Account", json!({ "Name": format!("Toko {i}") }));
    }
    let (c, _) = connector(&fake);
    let first = c.pull(Kind::Company, None, None).await.unwrap();
    assert_eq!(first.changes.len(), 200);
    assert!(first.next_page.is_some());
    let second = c.pull(Kind::Company, None, first.next_page.as_deref()).await.unwrap();
    assert_eq!(second.changes.len(), 1);
    assert!(second.next_page.is_none());
    assert_eq!(second.changes[0].fields.name.as_deref(), Some("Toko 200"));
    assert_clean(&fake);
}

// ---- concurrency ----

#[tokio::test]
async fn no_more_than_the_configured_calls_run_at_once() {
    let fake =
        FakeSalesforce::start(FakeOptions { latency: Duration::from_millis(80), ..FakeOptions::default() }).await;
    let config = SalesforceConfig { concurrency: 2, ..config(&fake) };
    let (c, _) = connector_with(&config, Credential::ApiKey(String::new()), FieldMapping::new());
    let c = Arc::new(c);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let c = c.clone();
        tasks.spawn(async move { c.pull(Kind::Contact, None, None).await.map(|_| ()) });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    assert_eq!(fake.max_in_flight(), 2);
    assert_clean(&fake);
}
