//! The users' API contract (shared/seeds/002): the request bodies their
//! documentation shows are kept whole, and the ids the dashboard hands out
//! are accepted back.

mod common;

use common::*;
use serde_json::{Value, json};

fn json_of(answer: &Answer) -> Value {
    serde_json::from_str(&answer.body).unwrap_or_else(|_| panic!("not JSON: {}", answer.body))
}

#[tokio::test]
async fn a_lead_posted_by_the_ai_keeps_its_summary_and_confidence() {
    let bot = TestBot::start().await;
    let body = json!({
        "phone": PROSPECT,
        "name": "From WhatsApp",
        "phase": "booking",
        "interested_package": "UMR_MAR_2025_HEMAT",
        "conversation_summary": "Customer interested in March package, asking about payment",
        "source": "meta_ads_campaign_123",
        "ai_confidence": 0.85
    });
    bot.raw_post_method("POST", "/api/marketing/leads", &body.to_string()).await.assert_ok();
    let leads = json_of(&bot.get("/api/marketing/leads").await);
    let lead = leads["leads"].as_array().unwrap().iter().find(|l| l["phone"] == PROSPECT).unwrap().clone();
    assert_eq!(lead["conversation_summary"], "Customer interested in March package, asking about payment");
    assert_eq!(lead["ai_confidence"], 0.85);
}

#[tokio::test]
async fn a_confidence_outside_zero_to_one_is_refused() {
    let bot = TestBot::start().await;
    let body = json!({"phone": PROSPECT, "ai_confidence": 85});
    assert_eq!(bot.raw_post_method("POST", "/api/marketing/leads", &body.to_string()).await.status, 400);
}

#[tokio::test]
async fn a_handover_accepts_the_conversation_url_and_the_dashboard_then_lists_the_chat() {
    let bot = TestBot::start().await;
    bot.waha_webhook(&waha_text(PROSPECT, "H1", "Assalamualaikum")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 1).await;
    let body = json!({
        "conversation_id": format!("/api/conversations/{PROSPECT}"),
        "assigned_to": "sales_admin_1",
        "handover_notes": "Customer ready to pay DP, needs bank details"
    });
    bot.raw_post_method("POST", "/api/conversations/handover", &body.to_string()).await.assert_ok();
    let started = std::time::Instant::now();
    loop {
        let dashboard = json_of(&bot.get("/api/marketing/dashboard").await);
        let pending = dashboard["pending_handover"].as_array().unwrap().clone();
        if let Some(row) = pending.iter().find(|r| r["phone"] == PROSPECT) {
            // What the dashboard hands out is accepted back as it is.
            let url = row["conversation_url"].as_str().unwrap();
            let again = json!({"conversation_id": url, "assigned_to": "sales_admin_2"});
            bot.raw_post_method("POST", "/api/conversations/handover", &again.to_string()).await.assert_ok();
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "never pending: {dashboard}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_dry_run_can_name_the_conversation_instead_of_the_phone() {
    let bot = TestBot::start().await;
    bot.waha_webhook(&waha_text(PROSPECT, "D1", "Assalamualaikum")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 1).await;
    let body =
        json!({"message": "How do I pay the deposit?", "conversation_id": format!("/api/conversations/{PROSPECT}")});
    let answer = bot.raw_post_method("POST", "/api/ai/process-message", &body.to_string()).await;
    answer.assert_ok();
    assert!(json_of(&answer)["response_text"].is_string(), "{}", answer.body);
}

#[tokio::test]
async fn the_admin_api_takes_a_national_number_as_the_same_person() {
    let bot = TestBot::start().await;
    let body = json!({"phone": "0812-3456-7890", "name": "Budi"});
    bot.raw_post_method("POST", "/api/marketing/leads", &body.to_string()).await.assert_ok();
    let leads = json_of(&bot.get("/api/marketing/leads").await);
    let phones: Vec<&str> = leads["leads"].as_array().unwrap().iter().filter_map(|l| l["phone"].as_str()).collect();
    assert_eq!(phones, vec![PROSPECT], "one lead, under the international number");
}
