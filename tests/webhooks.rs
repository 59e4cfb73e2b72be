//! Webhooks in, replies out: what WAHA, Meta and a prospect see.

mod common;

use common::*;
use juru::store::TreeName;
use serde_json::json;

#[tokio::test]
async fn a_waha_text_is_seen_typed_and_answered_through_wahas_api() {
    let bot = TestBot::start().await;
    bot.waha_webhook(&fixture("waha/message-text.json")).await.assert_ok();
    // The message carries campaign code UMR_MAR_2025_HEMAT, a trip that has
    // left: said so, with the packages still open; never its price or picture.
    let sent = bot.waha.wait_messages_to(PROSPECT, 1).await;
    assert_eq!(sent[0].path, "/api/sendText");
    assert_eq!(sent[0].body["chatId"], "6281234567890@c.us");
    let text = sent[0].body["text"].as_str().unwrap();
    assert!(text.contains("sudah berangkat") && text.contains("UMR_JAN_2027_PLUS"), "{text}");
    assert!(!text.contains("Rp 25.000.000") && !text.contains("Sisa kursi"), "{text}");
    settle().await;
    let paths: Vec<_> = bot.waha.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/api/sendSeen", "/api/startTyping", "/api/sendText"]);
    assert_eq!(
        bot.waha.calls("sendSeen")[0].body["messageIds"],
        json!(["false_6281234567890@c.us_3EB0A1B2C3D4E5F6A7B8"])
    );
    bot.waha.assert_contract();
}

#[tokio::test]
async fn the_flat_form_is_answered_like_a_waha_message() {
    let bot = TestBot::start().await;
    bot.waha_webhook(&fixture("waha/flat-contract.json")).await.assert_ok();
    let sent = bot.waha.wait_messages_to(PROSPECT, 1).await;
    assert_eq!(sent[0].body["chatId"], "6281234567890@c.us");
    bot.waha.assert_contract();
}

#[tokio::test]
async fn a_cloud_text_is_read_typed_and_answered_through_the_graph_api() {
    let bot = TestBot::start().await;
    bot.cloud_webhook(&fixture("cloud/message-text.json")).await.assert_ok();
    // The message carries the code of a trip that has left: the prospect,
    // greeted by name, hears so and gets the open packages, no image.
    let sent = bot.graph.wait_messages_to(PROSPECT, 1).await;
    assert_eq!(sent[0].body["type"], "text");
    let body = sent[0].body["text"]["body"].as_str().unwrap();
    assert!(body.contains("Budi") && body.contains("sudah berangkat") && body.contains("Rp 32.500.000"), "{body}");
    settle().await;
    assert_eq!(bot.graph.messages_to(PROSPECT).len(), 1, "no image of a departed trip");
    // On Cloud one call marks the message read and shows the typing indicator.
    let reads = bot.graph.calls("read");
    assert_eq!(reads.len(), 1, "read + typing indicator in one call");
    assert_eq!(reads[0].body["typing_indicator"]["type"], "text");
    assert_eq!(reads[0].body["message_id"], "wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABIYFDNBMDFCMkMzRDRFNUY2QTdCOEM5AA==");
    bot.graph.assert_contract();
}

#[tokio::test]
async fn seen_and_typing_can_be_switched_off() {
    let bot = TestBot::with_config("[bot]\nsend_seen = false\nsend_typing = false\n").await;
    bot.waha_webhook(&fixture("waha/message-text.json")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 1).await;
    settle().await;
    let paths: Vec<_> = bot.waha.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/api/sendText"]);
}

#[tokio::test]
async fn cloud_verification_answers_the_challenge_only_for_the_configured_token() {
    let bot = TestBot::start().await;
    let ok = bot
        .get(&format!(
            "/api/whatsapp/cloud?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"
        ))
        .await;
    assert_eq!((ok.status, ok.body.as_str()), (200, "1158201444"));
    let wrong = bot.get("/api/whatsapp/cloud?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1").await;
    assert_eq!(wrong.status, 403);
    assert!(!wrong.body.contains('1') || !wrong.body.contains("1158"), "no challenge echoed");
    let no_mode = bot.get(&format!("/api/whatsapp/cloud?hub.verify_token={VERIFY_TOKEN}&hub.challenge=1")).await;
    assert_eq!(no_mode.status, 403);
}

#[tokio::test]
async fn a_cloud_post_with_a_bad_signature_is_401_and_never_answered() {
    let bot = TestBot::start().await;
    let body = fixture("cloud/message-text.json");
    let forged = bot
        .raw_post(
            "/api/whatsapp/cloud",
            &[("X-Hub-Signature-256", &juru::channel::signature::sign_cloud("guess", body.as_bytes()))],
            &body,
        )
        .await;
    assert_eq!(forged.status, 401);
    let missing = bot.raw_post("/api/whatsapp/cloud", &[], &body).await;
    assert_eq!(missing.status, 401);
    // Signed over different bytes (re-serialised JSON) is refused too.
    let sig = juru::channel::signature::sign_cloud(APP_SECRET, body.as_bytes());
    let reserialised = serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&body).unwrap()).unwrap();
    assert_eq!(bot.raw_post("/api/whatsapp/cloud", &[("X-Hub-Signature-256", &sig)], &reserialised).await.status, 401);
    settle().await;
    assert!(bot.graph.requests().is_empty());
}

#[tokio::test]
async fn waha_webhooks_must_carry_a_valid_hmac_when_a_key_is_set() {
    let bot = TestBot::with_config("[waha]\nwebhook_hmac_key = \"hook-secret\"\n").await;
    let body = fixture("waha/message-text.json");
    let unsigned = bot.raw_post("/api/whatsapp/webhook", &[], &body).await;
    assert_eq!(unsigned.status, 401);
    let forged = bot.raw_post("/api/whatsapp/webhook", &[("X-Webhook-Hmac", &"ab".repeat(64))], &body).await;
    assert_eq!(forged.status, 401);
    bot.waha_webhook(&body).await.assert_ok(); // signed with the key
    bot.waha.wait_messages_to(PROSPECT, 1).await;
    settle().await;
    assert_eq!(bot.waha.calls("sendText").len(), 1);
}

#[tokio::test]
async fn malformed_bodies_are_400_with_a_short_reason() {
    let bot = TestBot::start().await;
    let broken = bot.waha_webhook("{\"event\": \"message\", ").await;
    assert_eq!(broken.status, 400);
    assert!(broken.body.contains("JSON"), "{}", broken.body);
    let shapeless = bot.waha_webhook(r#"{"hello": "world"}"#).await;
    assert_eq!(shapeless.status, 400);
    assert!(shapeless.body.contains("flat form"), "{}", shapeless.body);
    let wrong_object = bot.cloud_webhook(r#"{"object": "page", "entry": []}"#).await;
    assert_eq!(wrong_object.status, 400);
    let wrong_type = bot.cloud_webhook(r#"{"object": "whatsapp_business_account", "entry": "x"}"#).await;
    assert_eq!(wrong_type.status, 400);
}

#[tokio::test]
async fn unknown_and_irrelevant_events_are_200_and_ignored() {
    let bot = TestBot::start().await;
    let unknown = json!({"event": "presence.update", "session": "default", "payload": {"id": "x"}}).to_string();
    bot.waha_webhook(&unknown).await.assert_ok();
    bot.waha_webhook(&fixture("waha/session-status.json")).await.assert_ok();
    let template = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "message_template_status_update", "value": {"event": "APPROVED"}}]}]});
    bot.cloud_webhook(&template.to_string()).await.assert_ok();
    settle().await;
    assert!(bot.waha.requests().is_empty() && bot.graph.requests().is_empty());
}

#[tokio::test]
async fn a_redelivered_webhook_gets_no_second_reply() {
    let bot = TestBot::start().await;
    let waha = fixture("waha/message-text.json");
    let cloud = fixture("cloud/message-text.json");
    for _ in 0..3 {
        bot.waha_webhook(&waha).await.assert_ok();
        bot.cloud_webhook(&cloud).await.assert_ok();
    }
    bot.waha.wait_messages_to(PROSPECT, 1).await;
    bot.graph.wait_messages_to(PROSPECT, 1).await;
    settle().await;
    assert_eq!(bot.waha.calls("sendText").len(), 1);
    // The fixture's code is a departed trip: a plain text, no buttons.
    assert_eq!(bot.graph.calls("text").len(), 1);
}

#[tokio::test]
async fn waha_message_and_message_any_for_the_same_message_answer_once() {
    let bot = TestBot::start().await;
    let message = fixture("waha/message-text.json");
    let any = message
        .replace("\"event\": \"message\"", "\"event\": \"message.any\"")
        .replace("evt_01jjdq8m5t6v0r3x2k9w4ybz7c", "evt_other");
    bot.waha_webhook(&message).await.assert_ok();
    bot.waha_webhook(&any).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 1).await;
    settle().await;
    assert_eq!(bot.waha.calls("sendText").len(), 1);
}

#[tokio::test]
async fn every_message_of_a_cloud_batch_is_answered() {
    let bot = TestBot::start().await;
    bot.cloud_webhook(&fixture("cloud/batch-two-messages.json")).await.assert_ok();
    bot.graph.wait_messages_to(PROSPECT, 1).await;
    bot.graph.wait_messages_to(OTHER, 1).await;
    // Several entries and changes in one POST.
    let mut two_entries: serde_json::Value = serde_json::from_str(&cloud_text("6281111111111", "E1", "halo")).unwrap();
    let second: serde_json::Value = serde_json::from_str(&cloud_text("6282222222222", "E2", "halo")).unwrap();
    two_entries["entry"].as_array_mut().unwrap().push(second["entry"][0].clone());
    let change = second["entry"][0]["changes"][0].clone();
    let mut third_change = change.clone();
    third_change["value"]["messages"][0]["from"] = json!("6283333333333");
    third_change["value"]["messages"][0]["id"] = json!("wamid.E3");
    two_entries["entry"][0]["changes"].as_array_mut().unwrap().push(third_change);
    let report = bot.cloud_webhook(&two_entries.to_string()).await;
    report.assert_ok();
    assert!(report.body.contains("\"accepted\":3"), "{}", report.body);
    for to in ["6281111111111", "6282222222222", "6283333333333"] {
        bot.graph.wait_messages_to(to, 1).await;
    }
    bot.graph.assert_contract();
}

#[tokio::test]
async fn the_bots_own_echo_and_phone_typed_messages_get_no_reply() {
    let bot = TestBot::start().await;
    bot.waha_webhook(&fixture("waha/message-fromme.json")).await.assert_ok();
    // Typed on the business phone (source app), not through the API.
    let typed = fixture("waha/message-fromme.json")
        .replace("\"source\": \"api\"", "\"source\": \"app\"")
        .replace("evt_01jjdqb7y5w3v1s9q7p5m3k1h9", "evt_typed")
        .replace("3EB0C0FFEE1234567890", "3EB0TYPED");
    bot.waha_webhook(&typed).await.assert_ok();
    settle().await;
    assert!(bot.waha.requests().is_empty(), "{:?}", bot.waha.requests());
}

#[tokio::test]
async fn an_echo_of_a_reply_we_sent_is_recognised_by_its_id() {
    let bot = TestBot::start().await;
    bot.waha_webhook(&waha_text(PROSPECT, "IN1", "halo")).await.assert_ok();
    let sent = bot.waha.wait_messages_to(PROSPECT, 1).await;
    let _ = sent;
    // WAHA re-emits our reply as message.any with fromMe; the fake's id is FAKE<n>.
    let reply_id = bot.waha.requests().iter().position(|r| r.path == "/api/sendText").unwrap();
    let echo = json!({"id": "evt_echo", "event": "message.any", "session": "default", "payload": {
        "id": format!("true_{PROSPECT}@c.us_FAKE{reply_id:08}"), "from": "6285712345678@c.us", "to": format!("{PROSPECT}@c.us"),
        "fromMe": true, "body": "Halo kak", "hasMedia": false}});
    bot.waha_webhook(&echo.to_string()).await.assert_ok();
    settle().await;
    assert_eq!(bot.waha.messages_to(PROSPECT).len(), 1);
}

#[tokio::test]
async fn group_messages_never_reach_the_conversation() {
    let bot = TestBot::start().await;
    bot.waha_webhook(&fixture("waha/message-group.json")).await.assert_ok();
    settle().await;
    assert!(bot.waha.requests().is_empty());
}

#[tokio::test]
async fn a_lid_sender_is_resolved_through_waha_and_answered_at_the_phone() {
    let bot = TestBot::start().await;
    bot.waha.knows_lid("176369157804064@lid", "6289876543210");
    bot.waha_webhook(&fixture("waha/message-lid.json")).await.assert_ok();
    let sent = bot.waha.wait_messages_to("6289876543210", 1).await;
    assert_eq!(sent[0].body["chatId"], "6289876543210@c.us");
    // A second message from the same LID uses the cached mapping.
    let again = fixture("waha/message-lid.json")
        .replace("3A8E1EBFE4943CA06D82", "3A8E1EBFE4943CA06D83")
        .replace("evt_01jjdqd9k1m3p5q7s9v1w3y5a7", "evt_again");
    bot.waha_webhook(&again).await.assert_ok();
    bot.waha.wait_messages_to("6289876543210", 2).await;
    let lookups = bot.waha.requests().iter().filter(|r| r.method == "GET").count();
    assert_eq!(lookups, 1, "the mapping is cached");
    bot.waha.assert_contract();
}

#[tokio::test]
async fn an_unresolvable_lid_is_kept_and_never_read_as_a_phone_number() {
    let mut bot = TestBot::start().await;
    bot.waha_webhook(&fixture("waha/message-lid.json")).await.assert_ok();
    eventually(std::time::Duration::from_secs(5), || bot.waha.calls("sendText").len() == 1).await;
    assert_eq!(bot.waha.calls("sendText")[0].body["chatId"], "176369157804064@lid");
    bot.stop().await;
    let store = bot.store();
    assert!(store.read(TreeName::Contacts).get("176369157804064@lid").unwrap().is_some());
    assert!(store.read(TreeName::Contacts).get("176369157804064").unwrap().is_none());
}

#[tokio::test]
async fn statuses_update_delivery_state_and_never_move_it_backwards() {
    let mut bot = TestBot::start().await;
    bot.cloud_webhook(&cloud_text(PROSPECT, "S1", "halo")).await.assert_ok();
    bot.graph.wait_messages_to(PROSPECT, 1).await;
    // Read + typing (one call on Cloud), then the text.
    eventually(std::time::Duration::from_secs(5), || bot.graph.requests().len() == 2).await;
    let n = bot.graph.requests().iter().position(|r| r.body["type"] == "text").unwrap();
    let wamid = format!("wamid.FAKE{n:08}");
    for status in ["read", "delivered", "sent"] {
        bot.cloud_webhook(&cloud_status(&wamid, status, PROSPECT)).await.assert_ok();
    }
    settle().await;
    // A status is not a message: nothing more was sent.
    assert_eq!(bot.graph.requests().len(), 2);
    bot.stop().await;
    let record = juru::runtime::delivery::get(&bot.store(), juru::channel::Channel::Cloud, &wamid).unwrap().unwrap();
    assert_eq!(record.state, juru::channel::DeliveryState::Read);
    assert_eq!(record.chat.as_deref(), Some(PROSPECT));
}

#[tokio::test]
async fn a_waha_ack_updates_the_delivery_state_of_our_reply() {
    let mut bot = TestBot::start().await;
    bot.waha_webhook(&waha_text(PROSPECT, "A1", "halo")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 1).await;
    let n = bot.waha.requests().iter().position(|r| r.path == "/api/sendText").unwrap();
    let ack = json!({"id": "evt_ack", "event": "message.ack", "session": "default", "payload": {
        "id": format!("true_{PROSPECT}@c.us_FAKE{n:08}"), "from": format!("{PROSPECT}@c.us"), "to": format!("{PROSPECT}@c.us"), "fromMe": true, "ack": 3, "ackName": "READ"}});
    bot.waha_webhook(&ack.to_string()).await.assert_ok();
    settle().await;
    bot.stop().await;
    let record = juru::runtime::delivery::get(&bot.store(), juru::channel::Channel::Waha, &format!("FAKE{n:08}"))
        .unwrap()
        .unwrap();
    assert_eq!(record.state, juru::channel::DeliveryState::Read);
}

#[tokio::test]
async fn one_chats_burst_is_answered_in_the_order_it_was_accepted() {
    // The pipeline alone: each message acknowledged with a quote of it.
    let mut bot =
        TestBot::with_config("[bot]\nsend_seen = false\nsend_typing = false\n[sales]\nenabled = false\n").await;
    let bodies = (0..100).map(|i| waha_text(PROSPECT, &format!("B{i:03}"), &format!("pesan {i}"))).collect();
    for answer in bot.waha_webhooks_concurrently(bodies).await {
        answer.assert_ok();
    }
    let sent = bot.waha.wait_messages_to(PROSPECT, 100).await;
    let quoted: Vec<String> = sent.iter().map(|r| r.body["reply_to"].as_str().unwrap().to_string()).collect();
    bot.stop().await;
    // The accepted order is the inbound audit records' sequence order.
    let store = bot.store();
    let accepted: Vec<String> = store
        .read(TreeName::Messages)
        .scan_prefix(format!("{PROSPECT}\0"))
        .filter_map(|kv| juru::store::decode::<juru::runtime::audit::AuditRecord>(&kv.unwrap().1).ok())
        .filter(|r| r.direction == juru::runtime::audit::Direction::In)
        .map(|r| r.message_id.unwrap())
        .collect();
    assert_eq!(accepted.len(), 100);
    assert_eq!(quoted, accepted);
}

#[tokio::test]
async fn healthz_and_metrics_report_the_pipeline() {
    let bot = TestBot::start().await;
    bot.waha_webhook(&fixture("waha/message-text.json")).await.assert_ok();
    bot.waha_webhook(&fixture("waha/message-text.json")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 1).await;
    let health = bot.get("/healthz").await;
    assert_eq!(health.status, 200);
    assert!(health.body.contains("\"status\":\"ok\""), "{}", health.body);
    let metrics = bot.get("/metrics").await.body;
    for name in [
        "juru_webhooks_received_total",
        "juru_webhooks_deduped_total",
        "juru_replies_sent_total",
        "juru_lane_queue_depth",
        "juru_outbox_depth",
        "juru_handler_seconds_bucket",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    assert!(!metrics.contains(WAHA_KEY) && !metrics.contains(ACCESS_TOKEN));
}

// ---------- payloads as Meta and WAHA publish them (tests/fixtures/cloud/bsuid/SOURCES.md) ----------

fn contact_of(bot: &TestBot, key: &str) -> Option<juru::crm::Contact> {
    bot.store().read(TreeName::Contacts).get_as(key).unwrap()
}

fn audit_of(bot: &TestBot, chat: &str) -> Vec<juru::runtime::audit::AuditRecord> {
    juru::runtime::audit::trail(&bot.store(), chat).map(Result::unwrap).collect()
}

#[tokio::test]
async fn a_user_with_a_username_and_no_phone_number_is_answered_by_user_id() {
    const USER: &str = "US.13491208655302741918";
    let mut bot = TestBot::start().await;
    bot.cloud_webhook(&fixture("cloud/bsuid/message_username_only.json")).await.assert_ok();
    let sent = bot.graph.wait_messages_to(USER, 1).await;
    assert_eq!(sent[0].body["recipient"], USER, "{}", sent[0].body);
    assert!(sent[0].body.get("to").is_none(), "no phone number is invented: {}", sent[0].body);
    bot.graph.assert_contract();
    bot.stop().await;
    let contact = contact_of(&bot, USER).expect("a contact under the user id");
    assert_eq!(contact.user_id.as_deref(), Some(USER));
    assert_eq!(contact.phone, None, "a user id is never a phone number");
    assert_eq!(contact.name.as_deref(), Some("Sheena Nelson"));
}

#[tokio::test]
async fn a_contact_keeps_its_phone_number_and_its_user_id() {
    let mut bot = TestBot::start().await;
    let mut note: serde_json::Value = serde_json::from_str(&cloud_text(PROSPECT, "U1", "halo kak")).unwrap();
    let value = &mut note["entry"][0]["changes"][0]["value"];
    value["messages"][0]["from_user_id"] = json!("ID.1502576394655843");
    value["contacts"][0]["user_id"] = json!("ID.1502576394655843");
    bot.cloud_webhook(&note.to_string()).await.assert_ok();
    bot.graph.wait_messages_to(PROSPECT, 1).await;
    bot.stop().await;
    let contact = contact_of(&bot, PROSPECT).unwrap();
    assert_eq!(contact.phone.as_deref(), Some(PROSPECT));
    assert_eq!(contact.user_id.as_deref(), Some("ID.1502576394655843"));
}

#[tokio::test]
async fn one_unreadable_message_never_costs_the_rest_of_the_batch() {
    let mut bot = TestBot::start().await;
    let mut note: serde_json::Value = serde_json::from_str(&cloud_text(PROSPECT, "GOOD", "halo kak")).unwrap();
    let value = &mut note["entry"][0]["changes"][0]["value"];
    let good = value["messages"][0].clone();
    // A body that does not parse (text as a number), one without any sender, and a broken status.
    let mut bad_body = good.clone();
    bad_body["id"] = json!("wamid.BADBODY");
    bad_body["from"] = json!(OTHER);
    bad_body["text"] = json!(5);
    let mut no_sender = good.clone();
    no_sender["id"] = json!("wamid.NOSENDER");
    no_sender["from"] = json!("");
    value["messages"] = json!([bad_body, no_sender, good]);
    value["statuses"] = json!([{"id": 7, "status": "read"}]);
    let answer = bot.cloud_webhook(&note.to_string()).await;
    answer.assert_ok();
    bot.graph.wait_messages_to(PROSPECT, 1).await;
    settle().await;
    assert!(bot.graph.messages_to(OTHER).is_empty(), "an unreadable message is not answered as if understood");
    let metrics = bot.get("/metrics").await;
    assert!(metrics.body.contains("juru_webhook_items_unreadable_total"), "counted");
    bot.stop().await;
    let records = audit_of(&bot, OTHER);
    let unreadable = records.iter().find(|r| r.message_id.as_deref() == Some("wamid.BADBODY")).expect("recorded");
    assert_eq!(unreadable.kind, "unreadable");
    assert_eq!(unreadable.route.as_deref(), Some("unreadable"));
}

#[tokio::test]
async fn a_cloud_group_message_takes_the_group_path() {
    let mut bot = TestBot::start().await;
    bot.cloud_webhook(&fixture("cloud/bsuid/group_message.json")).await.assert_ok();
    let group = "HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA";
    settle().await;
    assert!(bot.graph.requests().is_empty(), "no private sales reply to the participant: {:?}", bot.graph.requests());
    bot.stop().await;
    assert_eq!(audit_of(&bot, group)[0].route.as_deref(), Some("group chat"));
    assert!(contact_of(&bot, "16505551234").is_none(), "a group member is not made a lead");
}

#[tokio::test]
async fn a_number_change_moves_the_contact_and_gets_no_reply() {
    let mut bot = TestBot::start().await;
    // Known first under the old number.
    bot.cloud_webhook(&cloud_text("16505551234", "OLD1", "halo")).await.assert_ok();
    bot.graph.wait_messages_to("16505551234", 1).await;
    settle().await;
    let before = bot.graph.requests().len();
    bot.cloud_webhook(&fixture("cloud/bsuid/system_user_changed_number.json")).await.assert_ok();
    settle().await;
    assert_eq!(bot.graph.requests().len(), before, "no reply and no read receipt for a system message");
    bot.stop().await;
    let moved = contact_of(&bot, "12195555358").unwrap();
    assert_eq!(moved.phone.as_deref(), Some("12195555358"));
    assert!(moved.aliases.contains(&"16505551234".to_string()), "{:?}", moved.aliases);
    assert_eq!(moved.user_id.as_deref(), Some("US.24817305912873645029"));
    assert_eq!(moved.messages, 1, "the history moved with it");
    let old = contact_of(&bot, "16505551234").unwrap();
    assert!(old.aliases.contains(&"12195555358".to_string()), "the old record points forward");
    let record = audit_of(&bot, "16505551234").into_iter().last().unwrap();
    assert_eq!(record.route.as_deref(), Some("identity change"));
}

#[tokio::test]
async fn a_user_id_update_updates_the_contact() {
    let mut bot = TestBot::start().await;
    let mut first: serde_json::Value = serde_json::from_str(&cloud_text("16505551234", "K1", "halo")).unwrap();
    first["entry"][0]["changes"][0]["value"]["messages"][0]["from_user_id"] = json!("US.13491208655302741918");
    bot.cloud_webhook(&first.to_string()).await.assert_ok();
    bot.graph.wait_messages_to("16505551234", 1).await;
    bot.cloud_webhook(&fixture("cloud/bsuid/user_id_update.json")).await.assert_ok();
    settle().await;
    bot.stop().await;
    let contact = contact_of(&bot, "16505551234").unwrap();
    assert_eq!(contact.user_id.as_deref(), Some("US.24817305912873645029"));
    assert_eq!(contact.aliases, ["US.13491208655302741918"], "the replaced id is kept");
    assert_eq!(contact.phone.as_deref(), Some("16505551234"));
}

#[tokio::test]
async fn an_unsupported_message_gets_one_short_could_not_read() {
    let bot = TestBot::with_config("[sales]\ncoalesce_ms = 1500\n").await;
    let mut note: serde_json::Value = serde_json::from_str(&cloud_text(PROSPECT, "UNS1", "x")).unwrap();
    let message = &mut note["entry"][0]["changes"][0]["value"]["messages"][0];
    message["type"] = json!("unsupported");
    message.as_object_mut().unwrap().remove("text");
    message["errors"] = json!([{"code": 131051, "title": "Message type unknown"}]);
    bot.cloud_webhook(&note.to_string()).await.assert_ok();
    let sent = bot.graph.wait_messages_to(PROSPECT, 1).await;
    let text = sent[0].body["text"]["body"].as_str().unwrap();
    assert!(text.contains("tidak bisa kami baca"), "{text}");
    assert!(!text.contains("sudah kami terima"), "never 'we received your submission': {text}");
    // A second one within the burst window: no second notice.
    let mut again = note.clone();
    again["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = json!("wamid.UNS2");
    bot.cloud_webhook(&again.to_string()).await.assert_ok();
    settle().await;
    assert_eq!(bot.graph.messages_to(PROSPECT).len(), 1);
}

#[tokio::test]
async fn a_waha_contact_gets_the_push_name_its_engine_sends() {
    let mut bot = TestBot::start().await;
    let cases = [
        ("WEBJS1", json!({"notifyName": "Budi Santoso"}), "Budi Santoso"),
        ("NOWEB1", json!({"pushName": "Sari"}), "Sari"),
        ("GOWS1", json!({"Info": {"PushName": "Andi"}}), "Andi"),
    ];
    for (n, (id, data, _)) in cases.iter().enumerate() {
        let mut body: serde_json::Value =
            serde_json::from_str(&waha_text(&format!("6281200000{n}"), id, "halo")).unwrap();
        body["payload"]["_data"] = data.clone();
        bot.waha_webhook(&body.to_string()).await.assert_ok();
        bot.waha.wait_messages_to(&format!("6281200000{n}"), 1).await;
    }
    bot.stop().await;
    for (n, (id, _, name)) in cases.iter().enumerate() {
        assert_eq!(contact_of(&bot, &format!("6281200000{n}")).unwrap().name.as_deref(), Some(*name), "{id}");
    }
}

#[tokio::test]
async fn a_waha_payload_that_does_not_parse_is_acknowledged_and_recorded() {
    let mut bot = TestBot::start().await;
    let mut body: serde_json::Value = serde_json::from_str(&waha_text(PROSPECT, "BROKEN1", "halo")).unwrap();
    body["payload"]["hasMedia"] = json!("sometimes");
    bot.waha_webhook(&body.to_string()).await.assert_ok();
    settle().await;
    assert!(bot.waha.calls("sendText").is_empty());
    bot.stop().await;
    let record = &audit_of(&bot, PROSPECT)[0];
    assert_eq!(record.kind, "unreadable");
}
