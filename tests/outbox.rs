//! The outbox: durable replies, retries with backoff, pacing, dead letters.

mod common;

use juru::store::TreeName;
use std::time::Duration;

use common::*;
use juru::runtime::outbox::DeadItem;

const NO_MARKERS: &str = "[bot]\nsend_seen = false\nsend_typing = false\n";

fn texts_to(fake: &Fake, to: &str) -> Vec<Recorded> {
    fake.requests().into_iter().filter(|r| r.body["to"] == to).collect()
}

fn dead_items(bot: &TestBot) -> Vec<DeadItem> {
    bot.store().read(TreeName::Dead).iter().map(|kv| juru::store::decode::<DeadItem>(&kv.unwrap().1).unwrap()).collect()
}

#[tokio::test]
async fn a_server_error_is_retried_until_the_reply_goes_through() {
    let bot = TestBot::with_config(NO_MARKERS).await;
    bot.graph.on(2, |_| true, Canned::status(503, "unavailable"));
    bot.cloud_webhook(&cloud_text(PROSPECT, "R1", "halo")).await.assert_ok();
    eventually(Duration::from_secs(5), || texts_to(&bot.graph, PROSPECT).len() == 3).await;
    let attempts = texts_to(&bot.graph, PROSPECT);
    // Exponential backoff: the second gap is longer than the first's minimum.
    let gap1 = attempts[1].at - attempts[0].at;
    let gap2 = attempts[2].at - attempts[1].at;
    assert!(gap1 >= Duration::from_millis(50), "{gap1:?}");
    assert!(gap2 >= Duration::from_millis(100), "{gap2:?}");
    settle().await;
    assert_eq!(texts_to(&bot.graph, PROSPECT).len(), 3, "no send after success");
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let bot = TestBot::with_config(NO_MARKERS).await;
    bot.graph.on(
        1,
        |_| true,
        Canned::status(429, r#"{"error":{"code":130429,"message":"rate"}}"#).header("retry-after", "1"),
    );
    bot.cloud_webhook(&cloud_text(PROSPECT, "R2", "halo")).await.assert_ok();
    eventually(Duration::from_secs(5), || texts_to(&bot.graph, PROSPECT).len() == 2).await;
    let attempts = texts_to(&bot.graph, PROSPECT);
    assert!(attempts[1].at - attempts[0].at >= Duration::from_millis(950));
}

#[tokio::test]
async fn a_reply_that_keeps_failing_goes_to_the_dead_letter_tree() {
    let mut bot = TestBot::with_config(NO_MARKERS).await;
    bot.graph.on(usize::MAX, |r| r.body["to"] == PROSPECT, Canned::status(500, "boom"));
    bot.cloud_webhook(&cloud_text(PROSPECT, "D1", "halo")).await.assert_ok();
    // max_attempts = 4 in the test config.
    eventually(Duration::from_secs(8), || texts_to(&bot.graph, PROSPECT).len() == 4).await;
    settle().await;
    assert_eq!(texts_to(&bot.graph, PROSPECT).len(), 4);
    bot.stop().await;
    let dead = dead_items(&bot);
    assert_eq!(dead.len(), 1);
    assert!(!dead[0].permanent);
    assert!(dead[0].error.contains("HTTP 500"), "{}", dead[0].error);
    assert!(bot.store().read(TreeName::Outbox).is_empty());
}

#[tokio::test]
async fn outside_the_24_hour_window_the_reply_is_recorded_as_failed_and_not_retried() {
    let mut bot = TestBot::with_config(NO_MARKERS).await;
    let window = r#"{"error":{"message":"Re-engagement message","type":"OAuthException","code":131047,"error_data":{"messaging_product":"whatsapp","details":"more than 24 hours"},"fbtrace_id":"A"}}"#;
    bot.graph.on(1, |_| true, Canned::status(400, window));
    bot.cloud_webhook(&cloud_text(PROSPECT, "W1", "halo")).await.assert_ok();
    bot.graph.wait_messages_to(PROSPECT, 1).await;
    settle().await;
    assert_eq!(texts_to(&bot.graph, PROSPECT).len(), 1);
    bot.stop().await;
    let dead = dead_items(&bot);
    assert!(dead[0].permanent);
    assert!(dead[0].error.contains("131047"), "{}", dead[0].error);
    let audit: Vec<_> = bot
        .store()
        .read(TreeName::Messages)
        .scan_prefix(format!("{PROSPECT}\0"))
        .map(|kv| juru::store::decode::<juru::runtime::audit::AuditRecord>(&kv.unwrap().1).unwrap())
        .filter(|r| r.kind == "text" && r.direction == juru::runtime::audit::Direction::Out)
        .collect();
    assert_eq!(audit[0].status.as_deref(), Some("failed"));
}

#[tokio::test]
async fn a_pair_rate_limit_delays_only_that_recipient() {
    let bot = TestBot::with_config(NO_MARKERS).await;
    let pair = r#"{"error":{"message":"pair rate limit","code":131056}}"#;
    bot.graph.on(1, |r| r.body["to"] == PROSPECT, Canned::status(400, pair));
    bot.cloud_webhook(&cloud_text(PROSPECT, "P1", "halo")).await.assert_ok();
    eventually(Duration::from_secs(5), || texts_to(&bot.graph, PROSPECT).len() == 1).await;
    // While Budi's chat backs off, Siti is answered at once.
    bot.cloud_webhook(&cloud_text(OTHER, "P2", "halo")).await.assert_ok();
    bot.graph.wait_messages_to(OTHER, 1).await;
    eventually(Duration::from_secs(5), || texts_to(&bot.graph, PROSPECT).len() == 2).await;
}

#[tokio::test]
async fn a_slow_gateway_for_one_chat_does_not_hold_up_other_chats() {
    let bot = TestBot::with_config(NO_MARKERS).await;
    bot.waha.on(
        1,
        |r| r.body["chatId"] == format!("{PROSPECT}@c.us"),
        Canned::status(201, "{}").delay(Duration::from_millis(3000)),
    );
    bot.waha_webhook(&waha_text(PROSPECT, "S1", "halo")).await.assert_ok();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    bot.waha_webhook(&waha_text(OTHER, "S2", "halo")).await.assert_ok();
    bot.waha.wait_messages_to(OTHER, 1).await;
    assert!(started.elapsed() < Duration::from_millis(2000), "{:?}", started.elapsed());
}

#[tokio::test]
async fn waha_sends_to_one_chat_keep_the_configured_gap() {
    let bot = TestBot::with_config("[waha]\nmin_gap_ms = 300\n[bot]\nsend_seen = false\nsend_typing = false\n").await;
    for i in 0..3 {
        bot.waha_webhook(&waha_text(PROSPECT, &format!("G{i}"), "halo")).await.assert_ok();
    }
    let sent = bot.waha.wait_messages_to(PROSPECT, 3).await;
    for pair in sent.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(290), "{:?}", pair[1].at - pair[0].at);
    }
}

#[tokio::test]
async fn replies_queued_while_the_gateway_was_down_are_sent_after_a_restart() {
    let bot = TestBot::with_config("[bot]\nsend_seen = false\nsend_typing = false\n[outbox]\nmax_attempts = 100\nbase_delay_ms = 2000\nmax_delay_ms = 5000\n").await;
    bot.graph.on(usize::MAX, |_| true, Canned::status(503, "down"));
    bot.cloud_webhook(&cloud_text(PROSPECT, "U1", "halo")).await.assert_ok();
    eventually(Duration::from_secs(5), || !texts_to(&bot.graph, PROSPECT).is_empty()).await;
    let graph = bot.graph.clone();
    let bot = bot.restart().await;
    let failed_before_restart = texts_to(&graph, PROSPECT).len();
    graph.clear_rules(); // the gateway is back
    eventually(Duration::from_secs(10), || texts_to(&graph, PROSPECT).len() > failed_before_restart).await;
    settle().await;
    assert_eq!(texts_to(&graph, PROSPECT).len(), failed_before_restart + 1, "sent once after the restart");
    drop(bot);
}
