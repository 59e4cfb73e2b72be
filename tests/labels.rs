//! WhatsApp labels, from WAHA's label events to the labels API: the
//! catalogue, active labels per contact with who/when, and the history.

mod common;

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
    let history: Vec<LabelEvent> = store.label_log.iter().map(|e| decode(&e.unwrap().1).unwrap()).collect();
    let actions: Vec<String> = history.iter().map(|e| format!("{:?}", e.action)).collect();
    assert_eq!(actions, ["Added", "Removed"], "append-only history, the repeat not counted");
    assert!(history.iter().all(|e| e.label_name == "Lead Iklan Maret"));
    let contact: Contact = decode(&store.contacts.get(CUSTOMER).unwrap().unwrap()).unwrap();
    assert!(contact.labels.is_empty(), "no longer active on the contact");
    let activities = store.activities.scan_prefix(format!("{CUSTOMER}\0")).count();
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
    let bot =
        TestBot::with_config(&format!("[bot]\nowners = [\"{owner}\"]\nsend_seen = false\nsend_typing = false\n")).await;
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
