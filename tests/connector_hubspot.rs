//! The HubSpot connector against a fake HubSpot on loopback: what lands in
//! the account, what the worker is told, and that every request keeps
//! HubSpot's contract (the fake's violations stay empty).

#[path = "fakes/hubspot.rs"]
mod fake_hubspot;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_hubspot::{Failure, FakeHubspot, FakeOptions, FakeStage};
use juru::channel::Channel;
use juru::config::{HubspotConfig, Secret, Url};
use juru::connectors::credential::{Credential, TokenSink, Tokens};
use juru::connectors::hubspot::{HubspotConnector, exchange_code, until_midnight_utc};
use juru::connectors::{Connector, Item, Kind, Outcome, Record, RemoteIds, SyncError};
use juru::crm::activity::{Activity, ActivityType};
use juru::crm::company::{Company, CompanyKind};
use juru::crm::contact::{Contact, CustomerGroup};
use juru::crm::deal::{Deal, Stage};
use juru::crm::settings::FieldMapping;

/// Remote ids the worker would remember after each push.
#[derive(Default)]
struct Ids(Mutex<HashMap<(Kind, String), String>>);

impl RemoteIds for Ids {
    fn remote_id(&self, kind: Kind, local_id: &str) -> Option<String> {
        self.0.lock().unwrap().get(&(kind, local_id.to_string())).cloned()
    }
}

struct Setup {
    fake: FakeHubspot,
    hub: HubspotConnector,
    ids: Ids,
    tokens: Arc<Mutex<Vec<Tokens>>>,
}

impl Setup {
    async fn start(opts: FakeOptions, credential: Credential, mapping: FieldMapping) -> Setup {
        let fake = FakeHubspot::start(opts).await;
        let tokens: Arc<Mutex<Vec<Tokens>>> = Arc::default();
        let sink = tokens.clone();
        let on_tokens: TokenSink = Arc::new(move |t| sink.lock().unwrap().push(t));
        let hub = HubspotConnector::new(&config(&fake), credential, mapping, on_tokens)
            .with_timeout(Duration::from_millis(2000));
        Setup { fake, hub, ids: Ids::default(), tokens }
    }

    /// A prepared connector with a private-app token.
    async fn ready() -> Setup {
        Setup::ready_with(FakeOptions::default()).await
    }

    async fn ready_with(opts: FakeOptions) -> Setup {
        let s = Setup::start(opts, Credential::ApiKey("pat-na1-test".into()), FieldMapping::new()).await;
        s.hub.prepare().await.expect("prepare");
        s
    }

    /// Pushes like the worker: remembers the remote id of what was stored.
    async fn push(&self, records: Vec<Record>) -> Result<Vec<Outcome>, SyncError> {
        let items: Vec<Item> =
            records.into_iter().map(|record| Item { record, remote_id: None, unsure: false }).collect();
        let outcomes = self.hub.push(&items, &self.ids).await?;
        assert_eq!(outcomes.len(), items.len(), "one outcome per item");
        for (item, outcome) in items.iter().zip(&outcomes) {
            if let Outcome::Done { remote_id } = outcome {
                let key = (item.record.kind(), item.record.local_id());
                self.ids.0.lock().unwrap().insert(key, remote_id.clone());
            }
        }
        Ok(outcomes)
    }

    fn remote(&self, kind: Kind, local: &str) -> String {
        self.ids.remote_id(kind, local).unwrap_or_else(|| panic!("{local} was not pushed"))
    }

    fn assert_clean(&self) {
        assert_eq!(self.fake.violations(), Vec::<String>::new(), "requests broke HubSpot's contract");
    }
}

/// An account juru prepared on an earlier run (no `prepare` needed).
fn prepared() -> FakeOptions {
    FakeOptions { prepared: true, ..FakeOptions::default() }
}

fn config(fake: &FakeHubspot) -> HubspotConfig {
    HubspotConfig {
        base_url: Url(fake.url()),
        client_id: Some("fake-client-id".into()),
        client_secret: Some(Secret::try_from("fake-client-secret".to_string()).unwrap()),
        ..HubspotConfig::default()
    }
}

fn company(id: &str, name: &str) -> Record {
    Record::Company(Arc::new(Company {
        id: id.into(),
        kind: CompanyKind::Brand,
        name: name.into(),
        parent: None,
        customer_group: Some(CustomerGroup::B2B),
        segment: None,
        created_by: "628111".into(),
        created_ms: 1,
    }))
}

fn contact(key: &str, name: &str, email: Option<&str>, company: Option<&str>) -> Record {
    let mut c = Contact::new(key, Channel::Waha, 1);
    c.name = Some(name.into());
    c.email = email.map(str::to_string);
    c.company = company.map(str::to_string);
    c.customer_group = Some(CustomerGroup::B2B);
    Record::Contact(Arc::new(c))
}

fn deal(id: u64, stage: Stage, contact: Option<&str>, company: Option<&str>) -> Record {
    let closed = !stage.is_open();
    Record::Deal(Arc::new(Deal {
        contact: contact.map(str::to_string),
        company: company.map(str::to_string),
        reason: closed.then(|| "best price".to_string()),
        updated_ms: 2,
        closed_ms: closed.then_some(1_764_000_000_000),
        ..Deal::new(id, format!("Kopi Kita order {id}"), 12_500_000, stage, "628111", 1)
    }))
}

fn activity(seq: u64, contact: &str, notes: &str, deal: Option<u64>) -> Record {
    Record::Activity(Activity {
        seq,
        contact: contact.into(),
        kind: ActivityType::Call,
        source: "command".into(),
        outcome: None,
        next_action: Some("send the quote".into()),
        next_action_date: Some("2026-12-01".into()),
        notes: Some(notes.into()),
        deal,
        by: "628111".into(),
        at_ms: 1_764_000_000_000,
    })
}

fn done(o: &Outcome) -> &str {
    match o {
        Outcome::Done { remote_id } => remote_id,
        other => panic!("not done: {other:?}"),
    }
}

#[tokio::test]
async fn prepare_creates_the_unique_id_properties_once() {
    let mapping = FieldMapping::from([("customer_group".to_string(), "wa_group".to_string())]);
    let s = Setup::start(FakeOptions::default(), Credential::ApiKey("pat-na1-test".into()), mapping).await;
    s.hub.prepare().await.unwrap();
    for (object, name) in [
        ("contacts", "wa_contact_id"),
        ("companies", "wa_company_id"),
        ("deals", "wa_deal_id"),
        ("notes", "wa_note_id"),
    ] {
        let p = s.fake.property(object, name).unwrap_or_else(|| panic!("{object}.{name} missing"));
        assert_eq!(p["hasUniqueValue"], true, "{object}.{name}");
        assert_eq!(p["type"], "string");
    }
    let mapped = s.fake.property("contacts", "wa_group").expect("the mapped property is created");
    assert_eq!(mapped["hasUniqueValue"], false);
    let creates =
        s.fake.requests().iter().filter(|r| r.method == "POST" && r.path.contains("/crm/properties/")).count();
    assert_eq!(creates, 5);

    s.hub.prepare().await.unwrap();
    let after = s.fake.requests().iter().filter(|r| r.method == "POST" && r.path.contains("/crm/properties/")).count();
    assert_eq!(after, 5, "a second prepare creates nothing");
    s.assert_clean();
}

#[tokio::test]
async fn a_contact_pushed_twice_exists_once_with_the_newer_values() {
    let s = Setup::ready().await;
    let first = s.push(vec![contact("62811", "Budi Santoso", Some("budi@kopi.id"), None)]).await.unwrap();
    let again = s.push(vec![contact("62811", "Budi Santoso Wijaya", Some("budi@kopi.id"), None)]).await.unwrap();
    assert_eq!(done(&first[0]), done(&again[0]), "same HubSpot record");
    assert_eq!(s.fake.count_by_our_id("contacts"), HashMap::from([("62811".to_string(), 1)]));
    let stored = s.fake.find("contacts", "wa_contact_id", "62811").unwrap();
    assert_eq!(stored["properties"]["firstname"], "Budi");
    assert_eq!(stored["properties"]["lastname"], "Santoso Wijaya");
    assert_eq!(stored["properties"]["phone"], "+62811");
    let upsert = &s.fake.requests_to("/batch/upsert")[0];
    assert_eq!(upsert.body["inputs"][0]["idProperty"], "wa_contact_id");
    assert_eq!(upsert.headers["authorization"], "Bearer pat-na1-test");
    s.assert_clean();
}

#[tokio::test]
async fn a_contact_is_linked_to_its_company_and_carries_the_mapped_fields() {
    let mapping = FieldMapping::from([("customer_group".to_string(), "wa_group".to_string())]);
    let s = Setup::start(FakeOptions::default(), Credential::ApiKey("pat".into()), mapping).await;
    s.hub.prepare().await.unwrap();
    s.push(vec![company("kopi-kita", "Kopi Kita")]).await.unwrap();
    let out = s.push(vec![contact("62811", "Sari", None, Some("kopi-kita"))]).await.unwrap();
    let contact_id = done(&out[0]).to_string();
    assert_eq!(s.fake.associated("contacts", &contact_id, "companies"), vec![s.remote(Kind::Company, "kopi-kita")]);
    let stored = s.fake.find("contacts", "wa_contact_id", "62811").unwrap();
    assert_eq!(stored["properties"]["wa_group"], "B2B");
    assert_eq!(s.fake.records("companies")[0]["properties"]["name"], "Kopi Kita");
    s.assert_clean();
}

#[tokio::test]
async fn a_contact_whose_company_is_not_in_hubspot_yet_is_retried_for_the_link() {
    let s = Setup::ready().await;
    let out = s.push(vec![contact("62811", "Sari", None, Some("kopi-kita"))]).await.unwrap();
    assert!(matches!(&out[0], Outcome::Retry { reason } if reason.contains("company kopi-kita")), "{out:?}");
    assert_eq!(s.fake.records("contacts").len(), 1, "stored anyway");
    assert!(s.fake.requests_to("/associations/").is_empty());
    s.assert_clean();
}

#[tokio::test]
async fn deals_carry_the_mapped_stage_and_link_to_their_contact_and_company() {
    let s = Setup::ready().await;
    s.push(vec![company("kopi-kita", "Kopi Kita")]).await.unwrap();
    s.push(vec![contact("62811", "Sari", None, None)]).await.unwrap();
    let out = s
        .push(vec![
            deal(1, Stage::Negotiation, Some("62811"), Some("kopi-kita")),
            deal(2, Stage::Won, Some("62811"), None),
            deal(3, Stage::Lead, None, None),
        ])
        .await
        .unwrap();
    let d1 = s.fake.find("deals", "wa_deal_id", "D1").unwrap();
    assert_eq!(d1["properties"]["dealstage"], "contractsent");
    assert_eq!(d1["properties"]["pipeline"], "default");
    assert_eq!(d1["properties"]["amount"], "12500000");
    assert_eq!(d1["properties"]["dealname"], "Kopi Kita order 1");
    let d2 = s.fake.find("deals", "wa_deal_id", "D2").unwrap();
    assert_eq!(d2["properties"]["dealstage"], "closedwon");
    assert_eq!(d2["properties"]["closedate"], "2025-11-24T16:00:00.000Z");
    assert_eq!(d2["properties"]["closed_won_reason"], "best price");
    let d3 = s.fake.find("deals", "wa_deal_id", "D3").unwrap();
    assert_eq!(d3["properties"]["dealstage"], "appointmentscheduled");
    let contact_id = s.remote(Kind::Contact, "62811");
    assert_eq!(s.fake.associated("deals", done(&out[0]), "contacts"), vec![contact_id.clone()]);
    assert_eq!(s.fake.associated("deals", done(&out[0]), "companies"), vec![s.remote(Kind::Company, "kopi-kita")]);
    assert_eq!(s.fake.associated("deals", done(&out[1]), "contacts"), vec![contact_id]);
    s.assert_clean();
}

#[tokio::test]
async fn a_stage_the_pipeline_lacks_is_dead_with_how_to_fix_it() {
    let stages = vec![
        FakeStage::new("101", "New", false, 0.1),
        FakeStage::new("102", "Proposal sent", false, 0.5),
        FakeStage::new("103", "Closed won", true, 1.0),
    ];
    let s = Setup::ready_with(FakeOptions { stages, ..FakeOptions::default() }).await;
    let out = s.push(vec![deal(1, Stage::Lost, None, None), deal(2, Stage::Proposal, None, None)]).await.unwrap();
    assert!(
        matches!(&out[0], Outcome::Dead { reason } if reason.contains("'lost'") && reason.contains("add a deal stage")),
        "{out:?}"
    );
    done(&out[1]);
    assert_eq!(s.fake.find("deals", "wa_deal_id", "D2").unwrap()["properties"]["dealstage"], "102");
    assert!(s.fake.find("deals", "wa_deal_id", "D1").is_none());
    s.assert_clean();
}

#[tokio::test]
async fn activities_become_notes_on_the_contact_and_the_deal() {
    let s = Setup::ready().await;
    s.push(vec![contact("62811", "Sari", None, None)]).await.unwrap();
    s.push(vec![deal(7, Stage::Proposal, Some("62811"), None)]).await.unwrap();
    let out = s.push(vec![activity(42, "62811", "asked for the price list", Some(7))]).await.unwrap();
    let note = s.fake.find("notes", "wa_note_id", "A42").unwrap();
    let body = note["properties"]["hs_note_body"].as_str().unwrap();
    assert!(body.contains("asked for the price list") && body.contains("Next: send the quote (2026-12-01)"), "{body}");
    assert_eq!(note["properties"]["hs_timestamp"], "2025-11-24T16:00:00.000Z");
    assert_eq!(s.fake.associated("notes", done(&out[0]), "contacts"), vec![s.remote(Kind::Contact, "62811")]);
    assert_eq!(s.fake.associated("notes", done(&out[0]), "deals"), vec![s.remote(Kind::Deal, "D7")]);
    s.push(vec![activity(42, "62811", "asked for the price list", Some(7))]).await.unwrap();
    assert_eq!(s.fake.count_by_our_id("notes"), HashMap::from([("A42".to_string(), 1)]));
    s.assert_clean();
}

#[tokio::test]
async fn a_throttled_batch_waits_the_ten_second_window() {
    let s = Setup::ready().await;
    s.fake.inject(Failure::Throttle, 1);
    let err = s.push(vec![contact("62811", "Sari", None, None)]).await.unwrap_err();
    match err {
        SyncError::Throttled { retry_after, daily, reason } => {
            assert_eq!(retry_after, Some(Duration::from_secs(10)));
            assert!(!daily);
            assert!(reason.contains("ten_secondly_rolling"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let paused = s.hub.paused_for().expect("the account's budget pauses too");
    assert!(paused > Duration::from_secs(8), "{paused:?}");
    assert!(s.fake.records("contacts").is_empty());
    s.assert_clean();
}

#[tokio::test]
async fn when_hubspot_says_none_remain_the_connector_waits_instead_of_being_throttled() {
    let opts =
        FakeOptions { rate_limit: Some((2, Duration::from_millis(1500))), prepared: true, ..FakeOptions::default() };
    let s = Setup::start(opts, Credential::ApiKey("pat".into()), FieldMapping::new()).await;
    let started = Instant::now();
    for key in ["1", "2", "3"] {
        s.push(vec![contact(key, "Sari", None, None)]).await.unwrap();
    }
    assert!(started.elapsed() >= Duration::from_millis(1400), "{:?}", started.elapsed());
    assert!(s.fake.requests().iter().all(|r| r.path.contains("batch/upsert")));
    assert_eq!(s.fake.records("contacts").len(), 3, "no request was throttled");
    s.assert_clean();
}

#[tokio::test]
async fn the_daily_limit_parks_the_sync_until_midnight() {
    let s = Setup::ready().await;
    s.fake.inject(Failure::DailyLimit, 1);
    let err = s.push(vec![company("kopi-kita", "Kopi Kita")]).await.unwrap_err();
    let SyncError::Throttled { retry_after: Some(wait), daily: true, .. } = err else { panic!("{err:?}") };
    let expected = until_midnight_utc(juru::clock::now_ms());
    assert!(wait <= Duration::from_secs(86_400) && expected.abs_diff(wait) < Duration::from_secs(5), "{wait:?}");
    assert_eq!(s.hub.paused_for(), None, "the limiter is not held for hours; the worker parks");
    s.assert_clean();
}

#[tokio::test]
async fn server_errors_are_transient() {
    let s = Setup::ready().await;
    s.fake.inject(Failure::ServerError, 1);
    let err = s.push(vec![company("kopi-kita", "Kopi Kita")]).await.unwrap_err();
    assert!(matches!(&err, SyncError::Transient(m) if m.contains("503")), "{err:?}");
    s.assert_clean();
}

#[tokio::test]
async fn a_timed_out_push_is_transient_and_its_retry_does_not_duplicate() {
    let s = Setup::ready().await;
    s.fake.inject(Failure::Timeout, 1);
    let err = s.push(vec![contact("62811", "Sari", None, None)]).await.unwrap_err();
    assert!(matches!(err, SyncError::Transient(_)), "{err:?}");
    assert_eq!(s.fake.records("contacts").len(), 1, "HubSpot applied it anyway");
    let out = s.push(vec![contact("62811", "Sari", None, None)]).await.unwrap();
    done(&out[0]);
    assert_eq!(s.fake.count_by_our_id("contacts"), HashMap::from([("62811".to_string(), 1)]));
    s.assert_clean();
}

#[tokio::test]
async fn an_expired_oauth_token_is_refreshed_once_and_handed_on() {
    let far = juru::clock::now_ms() + 3_600_000;
    let tokens = Tokens {
        access_token: "old-access".into(),
        refresh_token: Some("fake-refresh-0".into()),
        expires_at_ms: Some(far),
        ..Tokens::default()
    };
    let s = Setup::start(prepared(), Credential::OAuth(tokens), FieldMapping::new()).await;
    s.fake.inject(Failure::ExpiredToken, 1);
    let out = s.push(vec![company("kopi-kita", "Kopi Kita")]).await.unwrap();
    done(&out[0]);
    let handed = s.tokens.lock().unwrap().clone();
    assert_eq!(handed.len(), 1);
    assert!(handed[0].access_token.starts_with("fake-access-"));
    assert_eq!(handed[0].refresh_token.as_deref(), Some("fake-refresh-0"));
    assert!(handed[0].expires_at_ms.unwrap() > juru::clock::now_ms() + 1_700_000);
    let refresh = &s.fake.requests_to("/oauth/v3/token")[0];
    assert_eq!(refresh.body["grant_type"], "refresh_token");
    let upserts = s.fake.requests_to("/batch/upsert");
    assert_eq!(upserts.len(), 2);
    assert_eq!(upserts[1].headers["authorization"], format!("Bearer {}", handed[0].access_token));
    s.assert_clean();
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_before_the_call() {
    let soon = juru::clock::now_ms() + 30_000;
    let tokens = Tokens {
        access_token: "old-access".into(),
        refresh_token: Some("fake-refresh-0".into()),
        expires_at_ms: Some(soon),
        ..Tokens::default()
    };
    let s = Setup::start(prepared(), Credential::OAuth(tokens), FieldMapping::new()).await;
    s.push(vec![company("kopi-kita", "Kopi Kita")]).await.unwrap();
    let paths: Vec<String> = s.fake.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths[0], "/oauth/v3/token");
    assert!(s.fake.requests().iter().all(|r| r.headers.get("authorization").is_none_or(|a| a != "Bearer old-access")));
    assert_eq!(s.tokens.lock().unwrap().len(), 1);
    s.assert_clean();
}

#[tokio::test]
async fn an_expired_key_or_refused_refresh_is_an_auth_error() {
    let s = Setup::start(prepared(), Credential::ApiKey("pat".into()), FieldMapping::new()).await;
    s.fake.inject(Failure::ExpiredToken, 1);
    let err = s.push(vec![company("kopi-kita", "Kopi Kita")]).await.unwrap_err();
    assert!(matches!(&err, SyncError::Auth(m) if m.contains("EXPIRED_AUTHENTICATION")), "{err:?}");

    let tokens = Tokens { access_token: "a".into(), refresh_token: Some("revoked".into()), ..Tokens::default() };
    let s = Setup::start(prepared(), Credential::OAuth(tokens), FieldMapping::new()).await;
    s.fake.inject(Failure::ExpiredToken, 1);
    let err = s.push(vec![company("kopi-kita", "Kopi Kita")]).await.unwrap_err();
    assert!(matches!(&err, SyncError::Auth(m) if m.contains("BAD_REFRESH_TOKEN")), "{err:?}");
    assert!(s.tokens.lock().unwrap().is_empty());
    s.assert_clean();
}

#[tokio::test]
async fn a_partial_failure_dead_letters_only_the_refused_records() {
    let s = Setup::ready().await;
    s.fake.inject(Failure::PartialFailure, 1);
    let records = (1..=4).map(|i| contact(&format!("6281{i}"), "Sari", None, None)).collect();
    let out = s.push(records).await.unwrap();
    done(&out[0]);
    done(&out[2]);
    for refused in [&out[1], &out[3]] {
        assert!(matches!(refused, Outcome::Dead { reason } if reason.contains("INVALID_EMAIL")), "{refused:?}");
    }
    assert_eq!(s.fake.records("contacts").len(), 2);
    s.assert_clean();
}

#[tokio::test]
async fn an_invalid_email_is_dead_with_hubspots_message() {
    let s = Setup::ready().await;
    let out = s
        .push(vec![
            contact("62811", "Sari", Some("sari@kopi"), None),
            contact("62812", "Budi", Some("budi@kopi.id"), None),
        ])
        .await
        .unwrap();
    assert!(
        matches!(&out[0], Outcome::Dead { reason } if reason.contains("Email address sari@kopi is invalid")),
        "{out:?}"
    );
    done(&out[1]);
    s.assert_clean();
}

#[tokio::test]
async fn pull_returns_changes_since_a_cursor_with_our_ids() {
    let s = Setup::ready().await;
    s.push(vec![contact("62811", "Sari", None, None), contact("62812", "Budi", None, None)]).await.unwrap();
    let first = s.hub.pull(Kind::Contact, None, None).await.unwrap();
    assert_eq!(first.changes.len(), 2);
    assert!(first.next_page.is_none());
    let mut ours: Vec<_> = first.changes.iter().filter_map(|c| c.local_id.clone()).collect();
    ours.sort();
    assert_eq!(ours, ["62811", "62812"]);
    let cursor = first.cursor.expect("a cursor");

    s.fake.remote_edit("contacts", "wa_contact_id", "62812", &[("firstname", "Budiman"), ("email", "b@kopi.id")]);
    let created = s.fake.remote_create("contacts", &[("firstname", "Walk"), ("lastname", "In"), ("phone", "+62 813")]);
    let next = s.hub.pull(Kind::Contact, Some(cursor), None).await.unwrap();
    assert_eq!(next.changes.len(), 2, "{next:?}");
    assert_eq!(next.changes[0].local_id.as_deref(), Some("62812"));
    assert_eq!(next.changes[0].fields.name.as_deref(), Some("Budiman"));
    assert_eq!(next.changes[0].fields.email.as_deref(), Some("b@kopi.id"));
    assert_eq!(next.changes[1].remote_id, created);
    assert_eq!(next.changes[1].local_id, None);
    assert_eq!(next.changes[1].fields.phone.as_deref(), Some("62813"));
    assert!(next.cursor.unwrap() > cursor);
    let search = &s.fake.requests_to("/search")[1];
    assert_eq!(search.body["filterGroups"][0]["filters"][0]["propertyName"], "lastmodifieddate");
    assert_eq!(search.body["filterGroups"][0]["filters"][0]["value"], cursor.to_string());
    s.assert_clean();
}

#[tokio::test]
async fn pull_pages_through_many_changes_and_reads_deal_stages_back() {
    let s = Setup::ready().await;
    let companies: Vec<Record> = (0..130).map(|i| company(&format!("c{i}"), &format!("Cafe {i}"))).collect();
    let (a, b) = companies.split_at(100);
    s.push(a.to_vec()).await.unwrap();
    s.push(b.to_vec()).await.unwrap();
    let page = s.hub.pull(Kind::Company, None, None).await.unwrap();
    assert_eq!((page.changes.len(), page.next_page.is_some()), (100, true));
    let rest = s.hub.pull(Kind::Company, None, page.next_page.as_deref()).await.unwrap();
    assert!(rest.next_page.is_none());
    let mut seen: Vec<String> = page.changes.iter().chain(&rest.changes).filter_map(|c| c.local_id.clone()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 130);

    s.push(vec![deal(5, Stage::Proposal, None, None)]).await.unwrap();
    s.fake.remote_edit("deals", "wa_deal_id", "D5", &[("dealstage", "closedwon"), ("amount", "15000000.00")]);
    let deals = s.hub.pull(Kind::Deal, None, None).await.unwrap();
    assert_eq!(deals.changes[0].fields.stage, Some(Stage::Won));
    assert_eq!(deals.changes[0].fields.value, Some(15_000_000));
    s.assert_clean();
}

#[tokio::test]
async fn an_authorization_code_is_traded_for_tokens() {
    let fake = FakeHubspot::start(FakeOptions::default()).await;
    let tokens =
        exchange_code(&config(&fake), "fake-code", "https://juru.example/oauth/callback/hubspot").await.unwrap();
    assert!(tokens.access_token.starts_with("fake-access-"));
    assert!(tokens.refresh_token.is_some());
    let sent = &fake.requests_to("/oauth/v3/token")[0];
    assert_eq!(sent.body["grant_type"], "authorization_code");
    assert_eq!(sent.body["redirect_uri"], "https://juru.example/oauth/callback/hubspot");
    let err = exchange_code(&config(&fake), "stale", "https://juru.example/cb").await.unwrap_err();
    assert!(matches!(&err, SyncError::Auth(m) if m.contains("BAD_AUTH_CODE")), "{err:?}");
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn a_link_hubspot_refuses_is_dead_with_its_message_but_the_record_is_stored() {
    let s = Setup::ready().await;
    // The worker remembers a company HubSpot no longer has (deleted there).
    s.ids.0.lock().unwrap().insert((Kind::Company, "kopi-kita".into()), "999999".into());
    let out = s
        .push(vec![contact("62811", "Sari", None, Some("kopi-kita")), contact("62812", "Budi", None, None)])
        .await
        .unwrap();
    assert!(
        matches!(&out[0], Outcome::Dead { reason } if reason.contains("No companies with ID 999999 exist")),
        "{out:?}"
    );
    done(&out[1]);
    assert_eq!(s.fake.records("contacts").len(), 2);
    s.assert_clean();
}
