//! `GET /api/marketing/dashboard` from the webhook path: figures kept as
//! conversations change, rebuilt from the store after a restart.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const ASKING: &str = "6281234567890";
const WANTS_ADMIN: &str = "6289876543210";
const LIMIT: Duration = Duration::from_secs(15);

async fn dashboard(bot: &TestBot) -> Value {
    let answer = bot.get("/api/marketing/dashboard").await;
    answer.assert_ok();
    serde_json::from_str(&answer.body).unwrap()
}

#[tokio::test]
async fn the_dashboard_shows_phases_handovers_and_activity_and_survives_a_restart() {
    let bot = TestBot::start().await;
    bot.waha_webhook(&waha_text(ASKING, "D1", "Assalamualaikum, info paket umroh")).await.assert_ok();
    bot.waha_webhook(&waha_text(WANTS_ADMIN, "D2", "Saya mau bicara dengan admin")).await.assert_ok();
    bot.waha.wait_messages_to(ASKING, 1).await;
    bot.waha.wait_messages_to(WANTS_ADMIN, 1).await;
    settle().await;
    let d = dashboard(&bot).await;
    assert_eq!(d["active_conversations"], 1, "{d}");
    assert_eq!(d["escalated_conversations"], 1, "{d}");
    assert_eq!(
        d["phase_distribution"]["leads"].as_u64().unwrap() + d["phase_distribution"]["interest"].as_u64().unwrap(),
        2
    );
    let pending = &d["pending_handover"][0];
    assert_eq!(pending["id"], WANTS_ADMIN);
    assert_eq!(pending["last_message"], "Saya mau bicara dengan admin");
    assert_eq!(pending["conversation_url"], format!("/api/conversations/{WANTS_ADMIN}"));
    assert!(pending["ai_notes"].as_str().is_some_and(|n| !n.is_empty()), "the reason the bot handed over: {pending}");
    assert_eq!(bot.get(pending["conversation_url"].as_str().unwrap()).await.status, 200, "the link works");

    let bot = bot.restart().await;
    let again = dashboard(&bot).await;
    assert_eq!(again["pending_handover"], d["pending_handover"], "rebuilt from the store");
    assert_eq!(again["phase_distribution"], d["phase_distribution"]);

    bot.raw_post_method("POST", &format!("/api/conversations/{WANTS_ADMIN}/release"), "{}").await.assert_ok();
    let started = std::time::Instant::now();
    while dashboard(&bot).await["escalated_conversations"] != 0 {
        assert!(started.elapsed() < LIMIT, "the release never reached the dashboard");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let released = dashboard(&bot).await;
    assert_eq!(released["active_conversations"], 2);
    assert_eq!(released["pending_handover"], Value::Array(vec![]));
}

#[tokio::test]
async fn a_chat_paused_by_a_human_on_the_business_phone_shows_on_the_dashboard() {
    let bot = TestBot::start().await;
    bot.waha_webhook(&waha_text(ASKING, "Q1", "Assalamualaikum, info paket umroh")).await.assert_ok();
    bot.waha.wait_messages_to(ASKING, 1).await;
    let typed = serde_json::json!({"id": "evt_Q2", "event": "message.any", "session": "default", "payload": {
        "id": format!("true_{ASKING}@c.us_Q2"), "from": "6285712345678@c.us", "to": format!("{ASKING}@c.us"),
        "fromMe": true, "source": "app", "body": "Halo kak, saya Rina dari tim sales", "hasMedia": false}});
    bot.waha_webhook(&typed.to_string()).await.assert_ok();
    let started = std::time::Instant::now();
    let paused = loop {
        let d = dashboard(&bot).await;
        if let Some(row) = d["paused_conversations"].as_array().and_then(|rows| rows.first()).cloned() {
            break row;
        }
        assert!(started.elapsed() < LIMIT, "the paused chat never showed: {d}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(paused["id"], ASKING);
    assert!(paused["paused_until_ms"].as_u64().is_some(), "{paused}");
    assert_eq!(paused["conversation_url"], format!("/api/conversations/{ASKING}"));
}
