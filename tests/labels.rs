//! WhatsApp labels, from WAHA's label events to the labels API: the
//! catalogue, active labels per contact with who/when, and the history.

mod common;

use juru::store::TreeName;
use std::time::Duration;

use common::*;
use juru::crm::Contact;
use juru::crm::labels::LabelEvent;
use juru::store::decode;
use serde_json::Value;

const CUSTOMER: &str = "6281234567890";
const LIMIT: Duration = Duration::from_secs(15);

/// A fixture with a new event id (and optionally another chat).
fn event(fixture: &str, id: &str, chat: Option<&str>) -> String {
    let mut v: Value = serde_json::from_str(&common::fixture(&format!("waha/{fixture}.json"))).unwrap();
    v["id"] = Value::from(id);
    if let Some(chat) = chat {
        v["payload"]["chatId"] = Value::from(chat);
    }
    v.to_string()
}

async fn json(bot: &TestBot, path: &str) -> Value {
    let answer = bot.get(path).await;
    answer.assert_ok();
    serde_json::from_str(&answer.body).unwrap()
}

async fn label_count(bot: &TestBot) -> Option<u64> {
    let labels = json(bot, "/api/labels").await;
    labels["labels"].as_array().unwrap().iter().find(|l| l["id"] == "6").and_then(|l| l["contacts"].as_u64())
}

async fn wait_count(bot: &TestBot, n: u64) {
    let started = std::time::Instant::now();
    while label_count(bot).await != Some(n) {
        assert!(started.elapsed() < LIMIT, "label 6 never reached {n} contacts");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_label_applied_on_the_phone_is_listed_with_the_account_that_applied_it() {
    let bot = TestBot::start().await;
    bot.waha_webhook(&fixture("waha/label-upsert.json")).await.assert_ok();
    bot.waha_webhook(&fixture("waha/label-chat-added.json")).await.assert_ok();
    wait_count(&bot, 1).await;
    let labels = json(&bot, "/api/labels").await;
    assert_eq!(labels["labels"][0]["name"], "Lead Iklan Maret");
    assert_eq!(labels["labels"][0]["color"], 1);
    let page = json(&bot, "/api/labels/lead%20iklan%20maret/contacts").await;
    assert_eq!(page["total"], 1);
    let c = &page["contacts"][0];
    assert_eq!(c["phone"], CUSTOMER);
    assert_eq!(c["applied_by"]["kind"], "whatsapp_account", "WAHA names no person: the account is named");
    assert_eq!(c["applied_by"]["session"], "default");
    assert_eq!(c["applied_by"]["number"], "6285712345678", "the session's own number (me.id)");
    assert_eq!(c["detected"], "webhook");
    assert!(c["applied_at_ms"].as_u64().unwrap() > 1_700_000_000_000);
    assert_eq!(bot.get("/api/labels/no-such-label/contacts").await.status, 404);
    assert_eq!(bot.get("/api/labels/6/contacts?page=0").await.status, 400);
}

#[tokio::test]
async fn a_repeated_event_never_counts_twice_and_removal_keeps_the_history() {
    let bot = TestBot::start().await;
    bot.waha_webhook(&fixture("waha/label-upsert.json")).await.assert_ok();
    bot.waha_webhook(&fixture("waha/label-chat-added.json")).await.assert_ok();
    // The same assignment again under a new event id (a gateway retry or a resync).
    bot.waha_webhook(&event("label-chat-added", "evt_again", None)).await.assert_ok();
    wait_count(&bot, 1).await;
    settle().await;
    assert_eq!(label_count(&bot).await, Some(1));
    bot.waha_webhook(&fixture("waha/label-chat-deleted.json")).await.assert_ok();
    wait_count(&bot, 0).await;
    let mut bot = bot;
    bot.stop().await;
    let store = bot.store();
    let history: Vec<LabelEvent> =
        store.read(TreeName::LabelLog).iter().map(|e| decode(&e.unwrap().1).unwrap()).collect();
    let actions: Vec<String> = history.iter().map(|e| format!("{:?}", e.action)).collect();
    assert_eq!(actions, ["Added", "Removed"], "append-only history, the repeat not counted");
    assert!(history.iter().all(|e| e.label_name == "Lead Iklan Maret"));
    let contact: Contact = decode(&store.read(TreeName::Contacts).get(CUSTOMER).unwrap().unwrap()).unwrap();
    assert!(contact.labels.is_empty(), "no longer active on the contact");
    let activities = store.read(TreeName::Activities).scan_prefix(format!("{CUSTOMER}\0")).count();
    assert_eq!(activities, 2, "each change is a CRM activity on the contact");
}

#[tokio::test]
async fn labels_on_group_chats_are_ignored() {
    let bot = TestBot::start().await;
    bot.waha_webhook(&fixture("waha/label-upsert.json")).await.assert_ok();
    bot.waha_webhook(&event("label-chat-added", "evt_group", Some("120363041234567890@g.us"))).await.assert_ok();
    bot.waha_webhook(&event("label-chat-added", "evt_person", Some("6289876543210@c.us"))).await.assert_ok();
    wait_count(&bot, 1).await;
    settle().await;
    let page = json(&bot, "/api/labels/6/contacts").await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["contacts"][0]["phone"], "6289876543210");
}

#[tokio::test]
async fn a_label_feeds_the_segment_filter() {
    let owner = "6281100000001";
    let bot = TestBot::with_config(&format!(
        "[bot]\nowners = [\"{owner}\"]\nsend_seen = false\nsend_typing = false\nlanguage = \"en\"\n"
    ))
    .await;
    bot.waha_webhook(&waha_text(CUSTOMER, "L1", "Halo kak")).await.assert_ok();
    bot.waha.wait_messages_to(CUSTOMER, 1).await;
    bot.waha_webhook(&fixture("waha/label-chat-added.json")).await.assert_ok();
    wait_count(&bot, 1).await;
    // The API reads the committed trees; the CRM index catches up right after.
    settle().await;
    bot.waha_webhook(&waha_text(owner, "L2", "#crm segment create \"Iklan\" --where \"label = 'Lead Iklan Maret'\""))
        .await
        .assert_ok();
    let reply = bot.waha.wait_messages_to(owner, 1).await;
    let text = reply[0].body["text"].as_str().unwrap();
    assert!(text.contains("1 contact(s) match"), "{text}");
}

/// WAHA's labels API as it stands after changes juru did not see: label 6
/// taken off the customer, a new label 7 on another person and on a group.
fn waha_now_has(bot: &TestBot) {
    let labels = r##"[{"id":"6","name":"Lead Iklan Maret","color":1,"colorHex":"#64c4ff"},{"id":"7","name":"Grade A","color":2,"colorHex":"#ff9485"}]"##;
    bot.waha.on(usize::MAX, |r| r.method == "GET" && r.path == "/api/default/labels", Canned::status(200, labels));
    bot.waha.on(
        usize::MAX,
        |r| r.method == "GET" && r.path == "/api/default/labels/6/chats",
        Canned::status(200, "[]"),
    );
    bot.waha.on(
        usize::MAX,
        |r| r.method == "GET" && r.path == "/api/default/labels/7/chats",
        // Engines differ: an object with an id, and a bare JID.
        Canned::status(200, r#"[{"id":"6289876543210@c.us","name":"Sari"},"120363041234567890@g.us"]"#),
    );
}

#[tokio::test]
async fn a_resync_applies_what_was_missed_once_and_marks_it_detected() {
    let bot = TestBot::start().await;
    bot.waha_webhook(&fixture("waha/label-upsert.json")).await.assert_ok();
    bot.waha_webhook(&fixture("waha/label-chat-added.json")).await.assert_ok();
    wait_count(&bot, 1).await;
    waha_now_has(&bot);
    let report = bot.raw_post_method("POST", "/api/labels/resync", "{}").await;
    report.assert_ok();
    let report: Value = serde_json::from_str(&report.body).unwrap();
    assert_eq!(
        (report["labels"].as_u64(), report["added"].as_u64(), report["removed"].as_u64()),
        (Some(2), Some(1), Some(1))
    );
    wait_count(&bot, 0).await;
    let started = std::time::Instant::now();
    let page = loop {
        let page = json(&bot, "/api/labels/7/contacts").await;
        if page["total"] == 1 {
            break page;
        }
        assert!(started.elapsed() < LIMIT, "label 7 never applied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(page["contacts"][0]["phone"], "6289876543210", "the group is not counted");
    assert_eq!(page["contacts"][0]["detected"], "reconcile", "the time is when it was detected");
    let again = bot.raw_post_method("POST", "/api/labels/resync", "{}").await;
    let again: Value = serde_json::from_str(&again.body).unwrap();
    assert_eq!((again["added"].as_u64(), again["removed"].as_u64()), (Some(0), Some(0)), "nothing twice");
    settle().await;
    bot.waha.assert_contract();
    let mut bot = bot;
    bot.stop().await;
    let history = bot.store().read(TreeName::LabelLog).len();
    assert_eq!(history, 3, "added (webhook), removed and added (reconcile)");
}

#[tokio::test]
async fn a_bot_that_was_down_catches_up_on_labels_at_start() {
    let bot = TestBot::with_config("[waha]\nlabel_poll_secs = 1\n").await;
    waha_now_has(&bot);
    let started = std::time::Instant::now();
    // 404 until the label is known, then its one contact.
    while !bot.get("/api/labels/7/contacts").await.body.contains("\"total\":1") {
        assert!(started.elapsed() < LIMIT, "the poller never applied label 7");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_trend_counts_additions_per_day_per_cs_and_per_campaign() {
    let bot = TestBot::start().await;
    bot.waha_webhook(&fixture("waha/label-upsert.json")).await.assert_ok();
    bot.waha_webhook(&fixture("waha/label-chat-added.json")).await.assert_ok();
    bot.waha_webhook(&event("label-chat-added", "evt_second", Some("6289876543210@c.us"))).await.assert_ok();
    wait_count(&bot, 2).await;
    let by_day = json(&bot, "/api/labels/trend?days=7").await;
    let label = &by_day["labels"][0];
    assert_eq!((label["id"].as_str(), label["added"].as_u64()), (Some("6"), Some(2)));
    let buckets = label["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 7, "every day listed, zeros included");
    assert_eq!(buckets[6]["added"], 2, "both today");
    assert!(buckets[..6].iter().all(|b| b["added"] == 0));
    let by_cs = json(&bot, "/api/labels/trend?days=7&by=cs").await;
    assert_eq!(by_cs["labels"][0]["buckets"][0]["key"], "whatsapp:default:6285712345678");
    assert_eq!(by_cs["labels"][0]["buckets"][0]["added"], 2);
    let by_campaign = json(&bot, "/api/labels/trend?by=campaign").await;
    assert_eq!(by_campaign["labels"][0]["buckets"][0]["key"], "(none)");
    assert_eq!(bot.get("/api/labels/trend?days=0").await.status, 400);
    assert_eq!(bot.get("/api/labels/trend?by=week").await.status, 400);
}

#[tokio::test]
async fn a_label_put_through_juru_names_the_staff_member_and_is_set_in_whatsapp() {
    const STAFF: &str = "6281300000002";
    let bot = TestBot::with_config(&format!(
        "[bot]\nsend_seen = false\nsend_typing = false\nlanguage = \"en\"\nstaff = [{{ phone = \"{STAFF}\", level = 1 }}]\n"
    ))
    .await;
    bot.waha_webhook(&fixture("waha/label-upsert.json")).await.assert_ok();
    wait_count(&bot, 0).await;
    bot.waha_webhook(&waha_text(STAFF, "S1", &format!("#label add {CUSTOMER} \"lead iklan maret\""))).await.assert_ok();
    let reply = bot.waha.wait_messages_to(STAFF, 1).await;
    assert_eq!(reply[0].body["text"], format!("🏷️ \"Lead Iklan Maret\" added to {CUSTOMER}, recorded as yours."));
    let started = std::time::Instant::now();
    let put = loop {
        if let Some(put) = bot.waha.requests().into_iter().find(|r| r.method == "PUT") {
            break put;
        }
        assert!(started.elapsed() < LIMIT, "the label was never set in WhatsApp");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(put.path, "/api/default/labels/chats/6281234567890%40c%2Eus/");
    assert_eq!(put.body, serde_json::json!({"labels": [{"id": "6"}]}));
    // WAHA then reports the change as an event: it neither counts twice nor
    // takes the staff member's name away.
    bot.waha_webhook(&fixture("waha/label-chat-added.json")).await.assert_ok();
    settle().await;
    let page = json(&bot, "/api/labels/6/contacts").await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["contacts"][0]["applied_by"], serde_json::json!({"kind": "staff", "id": STAFF}));
    assert_eq!(page["contacts"][0]["detected"], "juru");
    bot.waha_webhook(&waha_text(STAFF, "S2", &format!("#label remove {CUSTOMER} \"Lead Iklan Maret\"")))
        .await
        .assert_ok();
    bot.waha.wait_messages_to(STAFF, 2).await;
    wait_count(&bot, 0).await;
    let started = std::time::Instant::now();
    while bot.waha.requests().iter().filter(|r| r.method == "PUT").count() < 2 {
        assert!(started.elapsed() < LIMIT, "the removal was never set in WhatsApp");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let last = bot.waha.requests().into_iter().rfind(|r| r.method == "PUT").unwrap();
    assert_eq!(last.body, serde_json::json!({"labels": []}), "WAHA replaces the whole set");
    bot.waha.assert_contract();
    // A prospect (no staff level) cannot label anyone.
    bot.waha_webhook(&waha_text("6289876543210", "S3", &format!("#label add {CUSTOMER} \"Lead Iklan Maret\"")))
        .await
        .assert_ok();
    let refused = bot.waha.wait_messages_to("6289876543210", 1).await;
    assert!(refused[0].body["text"].as_str().unwrap().contains("level 1"), "{:?}", refused[0].body);
}
