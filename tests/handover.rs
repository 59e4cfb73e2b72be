//! Handover, pauses and release: when the bot speaks and when it stays quiet.

mod common;

use common::*;
use serde_json::json;

const ADMIN: &str = "6285700000001";

fn config(extra: &str) -> String {
    format!("[bot]\nsend_seen = false\nsend_typing = false\nadmin_chats = [\"{ADMIN}\"]\n{extra}")
}

async fn post_json(bot: &TestBot, path: &str, token: Option<&str>, body: serde_json::Value) -> Answer {
    let mut headers = vec![("content-type", "application/json".to_string())];
    if let Some(t) = token {
        headers.push(("authorization", format!("Bearer {t}")));
    }
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    bot.raw_post(path, &headers, &body.to_string()).await
}

#[tokio::test]
async fn payment_intent_hands_over_alerts_the_admin_and_silences_the_bot() {
    let bot = TestBot::with_config(&config("")).await;
    bot.waha_webhook(&waha_text(PROSPECT, "H1", "UMR_JAN_2027_PLUS")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 2).await;
    bot.waha_webhook(&waha_text(PROSPECT, "H2", "DP berapa kak? saya mau daftar")).await.assert_ok();
    let alert = bot.waha.wait_messages_to(ADMIN, 1).await;
    let alert_text = alert[0].body["text"].as_str().unwrap();
    assert!(alert_text.contains(PROSPECT) && alert_text.contains("payment intent"), "{alert_text}");
    assert!(alert_text.contains("UMR_JAN_2027_PLUS"), "{alert_text}");
    let before = bot.waha.calls("sendText").len();
    bot.waha_webhook(&waha_text(PROSPECT, "H3", "halo? kok diam")).await.assert_ok();
    settle().await;
    assert_eq!(bot.waha.calls("sendText").len(), before, "a handed-over chat gets no bot answer");
}

#[tokio::test]
async fn an_admin_release_lets_the_bot_answer_again() {
    let bot = TestBot::with_config(&config("")).await;
    bot.waha_webhook(&waha_text(PROSPECT, "R1", "Saya mau bicara dengan admin")).await.assert_ok();
    bot.waha.wait_messages_to(ADMIN, 1).await;
    let released = post_json(&bot, &format!("/api/conversations/{PROSPECT}/release"), None, json!({})).await;
    released.assert_ok();
    bot.waha_webhook(&waha_text(PROSPECT, "R2", "Paket lain apa saja?")).await.assert_ok();
    let answers = bot.waha.wait_messages_to(PROSPECT, 2).await;
    assert!(answers[1].body["text"].as_str().unwrap().contains("UMR_JAN_2027_PLUS"));
}

#[tokio::test]
async fn the_admin_api_requires_the_admin_token_when_one_is_set() {
    let bot = TestBot::with_config(&config("[server]\nadmin_token = \"s3cret-admin\"\n")).await;
    let path = format!("/api/conversations/{PROSPECT}/release");
    assert_eq!(post_json(&bot, &path, None, json!({})).await.status, 401);
    assert_eq!(post_json(&bot, &path, Some("guess"), json!({})).await.status, 401);
    post_json(&bot, &path, Some("s3cret-admin"), json!({})).await.assert_ok();
}

#[tokio::test]
async fn a_human_reply_from_the_business_phone_pauses_the_bot_in_that_chat() {
    let bot = TestBot::with_config(&config("")).await;
    bot.waha_webhook(&waha_text(PROSPECT, "P1", "halo")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 1).await;
    let typed = json!({"id": "evt_typed", "event": "message.any", "session": "default", "payload": {
        "id": format!("true_{PROSPECT}@c.us_TYPEDONPHONE"), "from": "6285712345678@c.us", "to": format!("{PROSPECT}@c.us"),
        "fromMe": true, "source": "app", "body": "Halo kak, saya Rina dari tim sales", "hasMedia": false}});
    bot.waha_webhook(&typed.to_string()).await.assert_ok();
    settle().await;
    bot.waha_webhook(&waha_text(PROSPECT, "P2", "Oke kak Rina, paket lain apa saja?")).await.assert_ok();
    settle().await;
    assert_eq!(bot.waha.messages_to(PROSPECT).len(), 1, "paused while the human answers");
    // Another prospect is not affected.
    bot.waha_webhook(&waha_text(OTHER, "P3", "halo")).await.assert_ok();
    bot.waha.wait_messages_to(OTHER, 1).await;
    // Release ends the pause.
    post_json(&bot, &format!("/api/conversations/{PROSPECT}/release"), None, json!({})).await.assert_ok();
    bot.waha_webhook(&waha_text(PROSPECT, "P4", "Paket lain apa saja?")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 2).await;
}

#[tokio::test]
async fn an_admin_takeover_silences_the_bot_and_the_conversation_shows_it() {
    let bot = TestBot::with_config(&config("")).await;
    bot.waha_webhook(&waha_text(PROSPECT, "T1", "UMR_JAN_2027_PLUS")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 2).await;
    let body = json!({"conversation_id": PROSPECT, "assigned_to": "rina", "handover_notes": "VIP"});
    post_json(&bot, "/api/conversations/handover", None, body).await.assert_ok();
    bot.waha_webhook(&waha_text(PROSPECT, "T2", "halo?")).await.assert_ok();
    settle().await;
    assert_eq!(bot.waha.messages_to(PROSPECT).len(), 2);
    let convo: serde_json::Value =
        serde_json::from_str(&bot.get(&format!("/api/conversations/{PROSPECT}")).await.body).unwrap();
    assert_eq!(convo["state"]["handed_over"], true);
    let messages = convo["messages"].as_array().unwrap();
    let first_in = messages.iter().find(|m| m["direction"] == "in").unwrap();
    assert_eq!(first_in["turn"]["phase_after"], "leads");
    assert!(first_in["turn"]["prompt_version"].as_str().is_some_and(|v| !v.is_empty()));
    assert!(messages.iter().any(|m| m["direction"] == "control" && m["kind"] == "handover"));
    assert!(messages.iter().any(|m| m["direction"] == "out" && m["kind"] == "image"));
    assert_eq!(bot.get("/api/conversations/6289999999999").await.status, 404);
    assert_eq!(bot.get("/api/conversations/not-a-number").await.status, 400);
}

#[tokio::test]
async fn the_finish_keyword_closes_the_session() {
    let bot = TestBot::with_config(&config("")).await;
    bot.waha_webhook(&waha_text(PROSPECT, "F1", "UMR_JAN_2027_PLUS")).await.assert_ok();
    let before = bot.waha.wait_messages_to(PROSPECT, 1).await.len();
    settle().await;
    let before = bot.waha.messages_to(PROSPECT).len().max(before);
    bot.waha_webhook(&waha_text(PROSPECT, "F2", "#selesai")).await.assert_ok();
    let sent = bot.waha.wait_messages_to(PROSPECT, before + 1).await;
    assert!(sent[before].body["text"].as_str().unwrap().contains("sesi"));
    bot.waha_webhook(&waha_text(PROSPECT, "F3", "halo lagi")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, before + 2).await;
}

/// Something typed on the business phone in the chat with the prospect.
fn typed_on_phone(id: &str, body: &str) -> String {
    json!({"id": format!("evt_{id}"), "event": "message.any", "session": "default", "payload": {
        "id": format!("true_{PROSPECT}@c.us_{id}"), "from": "6285712345678@c.us", "to": format!("{PROSPECT}@c.us"),
        "fromMe": true, "source": "app", "body": body, "hasMedia": false}})
    .to_string()
}

async fn pending(bot: &TestBot) -> Vec<serde_json::Value> {
    let dashboard: serde_json::Value = serde_json::from_str(&bot.get("/api/marketing/dashboard").await.body).unwrap();
    dashboard["pending_handover"].as_array().unwrap().clone()
}

/// Until the dashboard lists no handed-over chat (the figures follow the commit).
async fn no_pending(bot: &TestBot) {
    let started = std::time::Instant::now();
    while !pending(bot).await.is_empty() {
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "still pending: {:?}", pending(bot).await);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_prospect_cannot_end_their_own_handover_but_staff_can() {
    let bot = TestBot::with_config(&config("")).await;
    bot.waha_webhook(&waha_text(PROSPECT, "E1", "Saya mau bicara dengan admin")).await.assert_ok();
    bot.waha.wait_messages_to(ADMIN, 1).await;
    let before = bot.waha.messages_to(PROSPECT).len();
    bot.waha_webhook(&waha_text(PROSPECT, "E2", "#selesai")).await.assert_ok();
    settle().await;
    assert_eq!(bot.waha.messages_to(PROSPECT).len(), before, "no session-closed reply to the prospect");
    assert_eq!(pending(&bot).await.len(), 1, "still handed over");
    // Staff typing the keyword on the business phone ends it.
    bot.waha_webhook(&typed_on_phone("E3", "#selesai")).await.assert_ok();
    let sent = bot.waha.wait_messages_to(PROSPECT, before + 1).await;
    assert!(sent[before].body["text"].as_str().unwrap().contains("sesi"), "{:?}", sent[before].body);
    no_pending(&bot).await;
}

#[tokio::test]
async fn a_handover_nobody_answers_reminds_the_admins_once() {
    let bot = TestBot::with_config(&config("[sales]\nhandover_remind_secs = 1\nhandover_timeout_secs = 0\n")).await;
    bot.waha_webhook(&waha_text(PROSPECT, "W1", "Saya mau bicara dengan admin")).await.assert_ok();
    let alerts = bot.waha.wait_messages_to(ADMIN, 2).await;
    let reminder = alerts[1].body["text"].as_str().unwrap();
    assert!(reminder.contains(PROSPECT) && reminder.contains("#crm release"), "{reminder}");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(bot.waha.messages_to(ADMIN).len(), 2, "one reminder per wait");
}

#[tokio::test]
async fn a_handover_that_times_out_goes_back_to_the_bot_which_tells_the_prospect() {
    let bot = TestBot::with_config(&config("[sales]\nhandover_remind_secs = 0\nhandover_timeout_secs = 1\n")).await;
    bot.waha_webhook(&waha_text(PROSPECT, "O1", "Saya mau bicara dengan admin")).await.assert_ok();
    bot.waha.wait_messages_to(ADMIN, 1).await;
    let before = bot.waha.messages_to(PROSPECT).len();
    let sent = bot.waha.wait_messages_to(PROSPECT, before + 1).await;
    assert!(sent[before].body["text"].as_str().unwrap().contains("admin kami belum sempat"), "{:?}", sent[before].body);
    no_pending(&bot).await;
    bot.waha_webhook(&waha_text(PROSPECT, "O2", "Paket lain apa saja?")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, before + 2).await;
    let convo: serde_json::Value =
        serde_json::from_str(&bot.get(&format!("/api/conversations/{PROSPECT}")).await.body).unwrap();
    let release = convo["messages"].as_array().unwrap().iter().find(|m| m["kind"] == "release").cloned();
    assert!(release.is_some(), "the timeout is in the audit trail: {convo}");
}

#[tokio::test]
async fn a_transfer_receipt_after_a_payment_question_goes_to_the_admins() {
    let bot = TestBot::with_config(&config("")).await;
    bot.waha_webhook(&waha_text(PROSPECT, "B1", "Kak, bisa bayar cicilan?")).await.assert_ok();
    bot.waha.wait_messages_to(ADMIN, 1).await;
    post_json(&bot, &format!("/api/conversations/{PROSPECT}/release"), None, json!({})).await.assert_ok();
    bot.waha_webhook(&fixture("waha/message-image.json")).await.assert_ok();
    let to_admin = bot.waha.wait_messages_to(ADMIN, 3).await;
    assert!(to_admin[1].body["text"].as_str().unwrap().contains("transfer receipt"));
    assert_eq!(to_admin[2].path, "/api/sendFile");
    let to_prospect = bot.waha.messages_to(PROSPECT);
    assert!(to_prospect.last().unwrap().body["text"].as_str().unwrap().contains("bukti transfer"));
}

#[tokio::test]
async fn reaching_booking_creates_the_lead_record() {
    let bot = TestBot::with_config(&config("")).await;
    let referral = fixture("cloud/message-referral-ad.json");
    bot.cloud_webhook(&referral).await.assert_ok();
    bot.graph.wait_messages_to(OTHER, 1).await;
    bot.cloud_webhook(&cloud_text(OTHER, "L2", "UMR_JAN_2027_PLUS")).await.assert_ok();
    bot.graph.wait_messages_to(OTHER, 3).await;
    bot.cloud_webhook(&cloud_text(OTHER, "L3", "Mau daftar, transfer DP ke rekening mana?")).await.assert_ok();
    bot.graph.wait_messages_to(ADMIN, 1).await;
    let leads: serde_json::Value = serde_json::from_str(&bot.get("/api/marketing/leads").await.body).unwrap();
    let lead = leads["leads"].as_array().unwrap().iter().find(|l| l["phone"] == OTHER).unwrap().clone();
    assert_eq!(lead["phase"], "booking");
    assert_eq!(lead["interested_package"], "UMR_JAN_2027_PLUS");
    assert_eq!(lead["source"], "120212345678901234", "the click-to-WhatsApp ad id");
    assert_eq!(lead["handover_reason"], "payment intent");
    assert_eq!(lead["name"], "Budi", "the latest WhatsApp profile name (cloud_text sends Budi)");
    assert!(lead["ai_confidence"].as_f64().is_some());
    drop(leads);
    let mut bot = bot;
    bot.stop().await;
    let contact: juru::crm::Contact =
        juru::store::decode(&bot.store().read(juru::store::TreeName::Contacts).get(OTHER).unwrap().unwrap()).unwrap();
    assert_eq!(contact.campaign_source.as_deref(), Some("120212345678901234"));
    assert!(contact.referral.is_some_and(|r| r.ctwa_clid.is_some()));
}

#[tokio::test]
async fn marketing_can_record_a_lead_and_bad_input_is_refused() {
    let bot = TestBot::with_config(&config("")).await;
    let ok = post_json(&bot, "/api/marketing/leads", None, json!({"phone": "+62 812-0000-0009", "name": "Andi", "interested_package": "UMR_JAN_2027_PLUS", "source": "event"})).await;
    ok.assert_ok();
    assert!(ok.body.contains("6281200000009"));
    assert_eq!(post_json(&bot, "/api/marketing/leads", None, json!({"phone": "andi"})).await.status, 400);
    assert_eq!(
        post_json(
            &bot,
            "/api/marketing/leads",
            None,
            json!({"phone": "6281200000009", "interested_package": "NOPE_XXX_2099_X"})
        )
        .await
        .status,
        400
    );
}

#[tokio::test]
async fn cloud_prospects_get_reply_buttons_and_a_tap_is_understood() {
    let bot = TestBot::with_config(&config("")).await;
    bot.cloud_webhook(&cloud_text(PROSPECT, "BT1", "UMR_JAN_2027_PLUS")).await.assert_ok();
    let sent = bot.graph.wait_messages_to(PROSPECT, 2).await;
    assert_eq!(sent[0].body["type"], "interactive");
    let titles: Vec<&str> = sent[0].body["interactive"]["action"]["buttons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["reply"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Lihat paket lain", "Bicara dengan admin"]);
    bot.graph.assert_contract();
    let tap = fixture("cloud/message-interactive-button.json")
        .replace("daftar_umr_mar_2025", "talk_admin")
        .replace("Daftar sekarang", "Bicara dengan admin");
    bot.cloud_webhook(&tap).await.assert_ok();
    bot.graph.wait_messages_to(ADMIN, 1).await;
}

#[tokio::test]
async fn waha_prospects_get_a_numbered_list_and_can_answer_with_a_number() {
    let bot = TestBot::with_config(&config("")).await;
    bot.waha_webhook(&waha_text(PROSPECT, "N1", "UMR_JAN_2027_PLUS")).await.assert_ok();
    let sent = bot.waha.wait_messages_to(PROSPECT, 2).await;
    let text = sent[0].body["text"].as_str().unwrap();
    assert!(text.contains("1. Lihat paket lain") && text.contains("2. Bicara dengan admin"), "{text}");
    bot.waha_webhook(&waha_text(PROSPECT, "N2", "2")).await.assert_ok();
    bot.waha.wait_messages_to(ADMIN, 1).await;
}

#[tokio::test]
async fn an_admin_can_switch_the_bot_off_and_on_for_one_chat() {
    let bot = TestBot::with_config(&config("")).await;
    let path = format!("/api/conversations/{PROSPECT}/settings");
    let put = |body: serde_json::Value| {
        let path = path.clone();
        let bot = &bot;
        async move { bot.raw_post_method("PUT", &path, &body.to_string()).await }
    };
    put(json!({"bot_enabled": false})).await.assert_ok();
    assert_eq!(put(json!({})).await.status, 400);
    bot.waha_webhook(&waha_text(PROSPECT, "O1", "halo")).await.assert_ok();
    bot.waha_webhook(&waha_text(OTHER, "O2", "halo")).await.assert_ok();
    bot.waha.wait_messages_to(OTHER, 1).await;
    settle().await;
    assert!(bot.waha.messages_to(PROSPECT).is_empty(), "switched off for this chat only");
    put(json!({"bot_enabled": true})).await.assert_ok();
    bot.waha_webhook(&waha_text(PROSPECT, "O3", "halo lagi")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 1).await;
}

#[tokio::test]
async fn a_chat_can_opt_out_of_pausing_on_human_replies() {
    let bot = TestBot::with_config(&config("")).await;
    bot.raw_post_method(
        "PUT",
        &format!("/api/conversations/{PROSPECT}/settings"),
        &json!({"stop_bot_from_me": false}).to_string(),
    )
    .await
    .assert_ok();
    let typed = json!({"id": "evt_typed2", "event": "message.any", "session": "default", "payload": {
        "id": format!("true_{PROSPECT}@c.us_TYPED2"), "from": "6285712345678@c.us", "to": format!("{PROSPECT}@c.us"),
        "fromMe": true, "source": "app", "body": "Halo kak", "hasMedia": false}});
    bot.waha_webhook(&typed.to_string()).await.assert_ok();
    settle().await;
    bot.waha_webhook(&waha_text(PROSPECT, "Q1", "Paket lain apa saja?")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 1).await;
}
