//! Prompt files: edits apply without restart, bad edits are refused, every
//! reply names its prompt version.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

async fn put_prompt(bot: &TestBot, body: Value) -> Answer {
    bot.raw_post_method("PUT", "/api/ai/prompts", &body.to_string()).await
}

#[tokio::test]
async fn an_edited_catalog_file_applies_without_restart() {
    let bot = TestBot::start().await;
    let catalog = bot.prompts_path().join("packages.toml");
    let edited = std::fs::read_to_string(&catalog).unwrap().replace("price = 32500000", "price = 31000000");
    std::fs::write(&catalog, edited).unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await; // the watcher's quiet window
    bot.waha_webhook(&waha_text(PROSPECT, "E1", "UMR_JAN_2027_PLUS")).await.assert_ok();
    let sent = bot.waha.wait_messages_to(PROSPECT, 1).await;
    assert!(sent[0].body["text"].as_str().unwrap().contains("Rp 31.000.000"));
}

#[tokio::test]
async fn a_broken_edit_keeps_the_last_good_version_live() {
    let bot = TestBot::start().await;
    std::fs::write(bot.prompts_path().join("packages.toml"), "[[package]]\ncode = \"oops\"\n").unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    bot.waha_webhook(&waha_text(PROSPECT, "K1", "UMR_JAN_2027_PLUS")).await.assert_ok();
    let sent = bot.waha.wait_messages_to(PROSPECT, 1).await;
    assert!(sent[0].body["text"].as_str().unwrap().contains("Rp 32.500.000"));
}

#[tokio::test]
async fn the_prompt_api_validates_writes_and_applies_an_edit() {
    let bot = TestBot::start().await;
    let bad =
        put_prompt(&bot, json!({"prompt_type": "packages", "content": "not = [valid", "updated_by": "rina"})).await;
    assert_eq!(bad.status, 400);
    let unknown = put_prompt(&bot, json!({"prompt_type": "nope", "content": "x"})).await;
    assert_eq!(unknown.status, 400);
    let catalog =
        std::fs::read_to_string(bot.prompts_path().join("packages.toml")).unwrap().replace("quota = 20", "quota = 3");
    let ok =
        put_prompt(&bot, json!({"prompt_type": "packages", "content": catalog, "version": "v2", "updated_by": "rina"}))
            .await;
    ok.assert_ok();
    let answer: Value = serde_json::from_str(&ok.body).unwrap();
    let version = answer["version"].as_str().unwrap().to_string();
    assert!(version.starts_with("v2+"), "the given version, with the content hash beside it: {answer}");
    assert_eq!(answer["declared_version"], "v2");
    assert_eq!(version.strip_prefix("v2+"), answer["content_hash"].as_str());
    let history: Vec<String> = std::fs::read_dir(bot.prompts_path().join(".history"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(history.iter().filter(|f| f.starts_with("packages.toml")).count(), 1, "the previous file is kept");
    bot.waha_webhook(&waha_text(PROSPECT, "P1", "UMR_JAN_2027_PLUS")).await.assert_ok();
    let sent = bot.waha.wait_messages_to(PROSPECT, 1).await;
    assert!(sent[0].body["text"].as_str().unwrap().contains("Sisa kursi: 3"));
    let convo: Value = serde_json::from_str(&bot.get(&format!("/api/conversations/{PROSPECT}")).await.body).unwrap();
    let outbound = convo["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["direction"] == "out" && m["kind"] == "text")
        .unwrap()
        .clone();
    assert_eq!(outbound["prompt_version"], version.as_str());
}

#[tokio::test]
async fn a_dry_run_answers_without_sending_anything() {
    let bot = TestBot::start().await;
    let body = json!({"phone": PROSPECT, "message": "How do I pay the deposit?", "conversation_id": "c1", "current_phase": "interest"});
    let answer = bot.raw_post_method("POST", "/api/ai/process-message", &body.to_string()).await;
    answer.assert_ok();
    let v: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(v["new_phase"], "booking");
    assert_eq!(v["should_escalate"], true);
    assert!(v["response_text"].as_str().unwrap().contains("admin"));
    settle().await;
    assert!(bot.waha.requests().is_empty() && bot.graph.requests().is_empty());
}

#[tokio::test]
async fn an_edit_to_the_playbook_changes_the_offline_bots_next_reply() {
    let bot = TestBot::start().await;
    bot.waha_webhook(&waha_text(PROSPECT, "Q1", "manasiknya kapan kak?")).await.assert_ok();
    let sent = bot.waha.wait_messages_to(PROSPECT, 1).await;
    assert!(sent[0].body["text"].as_str().unwrap().contains("Manasik umroh diadakan 2x"));
    let path = bot.prompts_path().join("playbook.toml");
    let edited = std::fs::read_to_string(&path)
        .unwrap()
        .replace("Manasik umroh diadakan 2x sebelum keberangkatan", "Manasik hari Sabtu pukul 09.00")
        // A new escalation trigger: asking about the "kursi pesawat" hands over.
        .replace("words = [\"kursi roda\",", "words = [\"kursi pesawat\", \"kursi roda\",");
    std::fs::write(&path, edited).unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await; // the watcher's quiet window
    bot.waha_webhook(&waha_text(PROSPECT, "Q2", "manasik dimana kak?")).await.assert_ok();
    let sent = bot.waha.wait_messages_to(PROSPECT, 2).await;
    assert!(sent[1].body["text"].as_str().unwrap().contains("Manasik hari Sabtu pukul 09.00"), "{:?}", sent[1].body);
    bot.waha_webhook(&waha_text(PROSPECT, "Q3", "bisa pilih kursi pesawat?")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 3).await;
    let convo: Value = serde_json::from_str(&bot.get(&format!("/api/conversations/{PROSPECT}")).await.body).unwrap();
    assert_eq!(convo["state"]["handed_over"], true, "the new trigger hands over");
}

#[tokio::test]
async fn a_broken_playbook_is_refused_with_its_line() {
    let bot = TestBot::start().await;
    let content = std::fs::read_to_string(bot.prompts_path().join("playbook.toml"))
        .unwrap()
        .replace("intent = \"complaint\"", "intent = \"angry\"");
    let bad = put_prompt(&bot, json!({"prompt_type": "playbook", "content": content})).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("playbook.toml line ") && bad.body.contains("complaint"), "{}", bad.body);
}
