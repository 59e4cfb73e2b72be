//! Rapid messages from one prospect are answered once, as one turn.

mod common;

use std::time::Duration;

use common::*;

const WINDOW: &str = "[sales]\ncoalesce_ms = 400\n";

#[tokio::test]
async fn a_burst_of_messages_gets_one_answer() {
    let bot = TestBot::with_config(WINDOW).await;
    for (i, text) in ["halo kak", "saya lihat iklan", "UMR_JAN_2027_PLUS"].iter().enumerate() {
        bot.waha_webhook(&waha_text(PROSPECT, &format!("C{i}"), text)).await.assert_ok();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // While collecting, the prospect sees each message read and the bot typing.
    eventually(Duration::from_secs(2), || bot.waha.calls("sendSeen").len() == 3).await;
    assert!(bot.waha.calls("sendText").is_empty());
    eventually(Duration::from_secs(3), || bot.waha.calls("sendText").len() == 1).await;
    settle().await;
    let answers = bot.waha.calls("sendText");
    assert_eq!(answers.len(), 1, "one answer for the whole burst");
    assert!(answers[0].body["text"].as_str().unwrap().contains("Rp 32.500.000"), "answers the code in the burst");
    assert_eq!(bot.waha.calls("sendImage").len(), 1);
}

#[tokio::test]
async fn messages_far_apart_are_separate_turns() {
    let bot = TestBot::with_config(WINDOW).await;
    bot.waha_webhook(&waha_text(PROSPECT, "S1", "halo")).await.assert_ok();
    eventually(Duration::from_secs(3), || bot.waha.calls("sendText").len() == 1).await;
    bot.waha_webhook(&waha_text(PROSPECT, "S2", "Paket lain apa saja?")).await.assert_ok();
    eventually(Duration::from_secs(3), || bot.waha.calls("sendText").len() == 2).await;
}

#[tokio::test]
async fn a_burst_interrupted_by_a_restart_is_still_answered() {
    let bot = TestBot::with_config("[sales]\ncoalesce_ms = 1500\n").await;
    bot.waha_webhook(&waha_text(PROSPECT, "R1", "UMR_JAN_2027_PLUS")).await.assert_ok();
    eventually(Duration::from_secs(2), || bot.waha.calls("sendSeen").len() == 1).await;
    let waha = bot.waha.clone();
    let bot = bot.restart().await;
    eventually(Duration::from_secs(5), || waha.calls("sendText").len() == 1).await;
    settle().await;
    assert_eq!(waha.calls("sendText").len(), 1);
    drop(bot);
}
