//! The LLM brain against a fake OpenAI-compatible server on loopback.

mod common;

use juru::store::TreeName;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use common::*;
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct FakeLlm {
    requests: Arc<Mutex<Vec<Value>>>,
    /// Scripted answers: (HTTP status, content, delay). Empty → a default answer.
    script: Arc<Mutex<VecDeque<(u16, String, Duration)>>>,
}

fn decision(text: &str, phase: &str, media: Value) -> String {
    json!({"response_text": text, "media_to_send": media, "new_phase": phase, "confidence": 0.9,
           "should_escalate": false, "escalation_reason": null, "intent": "details", "lang": "id",
           "package": "UMR_JAN_2027_PLUS", "send_location": false})
    .to_string()
}

async fn completions(State(fake): State<FakeLlm>, Json(body): Json<Value>) -> (axum::http::StatusCode, Json<Value>) {
    fake.requests.lock().unwrap().push(body.clone());
    let next = fake.script.lock().unwrap().pop_front();
    let (status, content, delay) =
        next.unwrap_or((200, decision("Jawaban dari LLM", "leads", json!([])), Duration::ZERO));
    tokio::time::sleep(delay).await;
    let answer = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]});
    (axum::http::StatusCode::from_u16(status).unwrap(), Json(answer))
}

async fn start_llm() -> (FakeLlm, String) {
    let fake = FakeLlm::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let app =
        axum::Router::new().route("/v1/chat/completions", axum::routing::post(completions)).with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, url)
}

async fn bot_with_llm(url: &str) -> TestBot {
    TestBot::with_config(&format!(
        "[bot]\nsend_seen = false\nsend_typing = false\n[llm]\nbase_url = \"{url}\"\napi_key = \"sk-test\"\nmodel = \"juru-test-model\"\ntimeout_ms = 1500\n"
    ))
    .await
}

fn texts(bot: &TestBot) -> Vec<String> {
    bot.waha.calls("sendText").iter().map(|r| r.body["text"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn the_llm_answers_with_a_composed_prompt_and_a_json_schema() {
    let (llm, url) = start_llm().await;
    let bot = bot_with_llm(&url).await;
    bot.waha_webhook(&waha_text(PROSPECT, "L1", "Assalamualaikum, ada paket bulan Januari?")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 1).await;
    assert_eq!(texts(&bot), ["Jawaban dari LLM"]);
    let request = llm.requests.lock().unwrap()[0].clone();
    assert_eq!(request["model"], "juru-test-model");
    assert_eq!(request["response_format"]["type"], "json_schema");
    assert_eq!(request["response_format"]["json_schema"]["strict"], true);
    let system = request["messages"][0]["content"].as_str().unwrap();
    for part in
        ["Juru Tour & Travel", "UMR_JAN_2027_PLUS", "Rp 32.500.000", "Fase LEADS", "Serahkan percakapan ke admin"]
    {
        assert!(system.contains(part), "system prompt lacks {part}");
    }
    assert_eq!(
        request["messages"].as_array().unwrap().last().unwrap()["content"],
        "Assalamualaikum, ada paket bulan Januari?"
    );
}

#[tokio::test]
async fn the_second_turn_carries_the_conversation_so_far() {
    let (llm, url) = start_llm().await;
    let bot = bot_with_llm(&url).await;
    bot.waha_webhook(&waha_text(PROSPECT, "H1", "halo")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 1).await;
    bot.waha_webhook(&waha_text(PROSPECT, "H2", "hotelnya bintang berapa?")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 2).await;
    let second = llm.requests.lock().unwrap()[1].clone();
    let roles: Vec<&str> = second["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
}

#[tokio::test]
async fn a_link_the_llm_invents_is_never_sent() {
    let (llm, url) = start_llm().await;
    let media = json!([{"type": "document", "url": "https://evil.example/fake.pdf"},
                       {"type": "document", "url": "https://example.com/doc/umr-jan-2027-plus.pdf"}]);
    llm.script.lock().unwrap().push_back((200, decision("Ini brosurnya kak", "interest", media), Duration::ZERO));
    let bot = bot_with_llm(&url).await;
    bot.waha_webhook(&waha_text(PROSPECT, "M1", "minta brosur")).await.assert_ok();
    let sent = bot.waha.wait_messages_to(PROSPECT, 2).await;
    settle().await;
    let urls: Vec<&str> =
        bot.waha.messages_to(PROSPECT).iter().filter_map(|r| r.body["file"]["url"].as_str()).map(|_| "").collect();
    assert_eq!(urls.len(), 1, "only the catalog's brochure");
    assert_eq!(sent[1].body["file"]["url"], "https://example.com/doc/umr-jan-2027-plus.pdf");
}

#[tokio::test]
async fn when_the_llm_fails_or_is_slow_the_offline_brain_answers() {
    let (llm, url) = start_llm().await;
    {
        let mut script = llm.script.lock().unwrap();
        // A persistent server error (async-openai retries it 3 times), then a timeout, then nonsense.
        for _ in 0..4 {
            script.push_back((500, "{}".into(), Duration::ZERO));
        }
        script.push_back((200, decision("terlambat", "leads", json!([])), Duration::from_secs(3)));
        script.push_back((200, "not json at all".into(), Duration::ZERO));
    }
    let mut bot = bot_with_llm(&url).await;
    for (i, text) in ["UMR_JAN_2027_PLUS", "Paket lain apa saja?", "Fasilitasnya apa saja?"].iter().enumerate() {
        bot.waha_webhook(&waha_text(PROSPECT, &format!("F{i}"), text)).await.assert_ok();
        eventually(Duration::from_secs(8), || bot.waha.calls("sendText").len() == i + 1).await;
    }
    let answers = texts(&bot);
    assert!(answers[0].contains("Rp 32.500.000"), "offline package info: {}", answers[0]);
    assert!(!answers.iter().any(|t| t == "terlambat"));
    bot.stop().await;
    let store = bot.store();
    let fallbacks: Vec<String> = store
        .read(TreeName::Messages)
        .scan_prefix(format!("{PROSPECT}\0"))
        .filter_map(|kv| juru::store::decode::<juru::runtime::audit::AuditRecord>(&kv.unwrap().1).ok())
        .filter_map(|r| r.turn.and_then(|t| t.fallback))
        .collect();
    assert_eq!(fallbacks.len(), 3, "{fallbacks:?}");
    assert!(fallbacks[1].contains("timed out"), "{fallbacks:?}");
    assert!(fallbacks[2].contains("not a valid decision"), "{fallbacks:?}");
}

#[tokio::test]
async fn the_llm_cannot_move_the_phase_backward() {
    let (llm, url) = start_llm().await;
    {
        let mut script = llm.script.lock().unwrap();
        script.push_back((200, decision("Ini detailnya", "interest", json!([])), Duration::ZERO));
        script.push_back((200, decision("Kembali ke awal", "leads", json!([])), Duration::ZERO));
    }
    let bot = bot_with_llm(&url).await;
    bot.waha_webhook(&waha_text(PROSPECT, "B1", "detail dong")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 1).await;
    bot.waha_webhook(&waha_text(PROSPECT, "B2", "oke")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 2).await;
    let convo: Value = serde_json::from_str(&bot.get(&format!("/api/conversations/{PROSPECT}")).await.body).unwrap();
    assert_eq!(convo["state"]["phase"], "interest");
}

#[tokio::test]
async fn a_chat_waiting_on_the_llm_does_not_hold_up_another_chat() {
    let (llm, url) = start_llm().await;
    llm.script.lock().unwrap().push_back((200, decision("lambat", "leads", json!([])), Duration::from_millis(3000)));
    let bot = bot_with_llm(&url).await;
    bot.waha_webhook(&waha_text(PROSPECT, "W1", "halo")).await.assert_ok();
    eventually(Duration::from_secs(2), || llm.requests.lock().unwrap().len() == 1).await;
    let started = std::time::Instant::now();
    bot.waha_webhook(&waha_text(OTHER, "W2", "halo")).await.assert_ok();
    bot.waha.wait_messages_to(OTHER, 1).await;
    assert!(started.elapsed() < Duration::from_millis(2000), "{:?}", started.elapsed());
    assert!(bot.waha.messages_to(PROSPECT).is_empty(), "the slow chat is still waiting");
    bot.waha.wait_messages_to(PROSPECT, 1).await;
}

#[tokio::test]
async fn a_price_or_date_the_llm_invents_falls_back_to_the_catalog() {
    let (llm, url) = start_llm().await;
    {
        let mut script = llm.script.lock().unwrap();
        script.push_back((200, decision("Harganya cuma Rp 19.900.000 kak", "leads", json!([])), Duration::ZERO));
        script.push_back((200, decision("Berangkat 2026-12-25 kak", "leads", json!([])), Duration::ZERO));
        script.push_back((
            200,
            decision("Harganya Rp 32.500.000, untuk 2 orang Rp 65.000.000", "leads", json!([])),
            Duration::ZERO,
        ));
    }
    let bot = bot_with_llm(&url).await;
    for (i, text) in ["harga paket plus?", "jadwal berangkatnya?", "harga untuk 2 orang?"].iter().enumerate() {
        bot.waha_webhook(&waha_text(PROSPECT, &format!("P{i}"), text)).await.assert_ok();
        eventually(Duration::from_secs(8), || bot.waha.calls("sendText").len() == i + 1).await;
    }
    let answers = texts(&bot);
    assert!(!answers[0].contains("19.900.000"), "an invented price is never sent: {}", answers[0]);
    assert!(!answers[1].contains("2026-12-25"), "an invented date is never sent: {}", answers[1]);
    assert_eq!(
        answers[2], "Harganya Rp 32.500.000, untuk 2 orang Rp 65.000.000",
        "the catalog's price and a total pass"
    );
}

#[tokio::test]
async fn the_llm_sees_only_the_packages_it_may_offer() {
    let (llm, url) = start_llm().await;
    let bot = bot_with_llm(&url).await;
    bot.waha_webhook(&waha_text(PROSPECT, "S1", "halo")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 1).await;
    let system = llm.requests.lock().unwrap()[0]["messages"][0]["content"].as_str().unwrap().to_string();
    assert!(system.contains("UMR_MAR_2025_HEMAT (Paket Umroh Maret 2025 Hemat): SUDAH BERANGKAT"), "{system}");
    assert!(system.contains("UMR_RMD_2027_VIP (Paket Umroh Ramadhan VIP): PENUH"), "{system}");
    assert!(
        !system.contains("Rp 48.000.000") && !system.contains("2025-03-15"),
        "no price or date of a closed package"
    );
}
