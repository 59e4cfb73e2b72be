//! CSV exports over HTTP: streamed from the store, one row per record.

mod common;

use common::*;

#[tokio::test]
async fn exports_hold_what_the_bot_stored() {
    let bot = TestBot::start().await;
    bot.waha_webhook(&waha_text("6281234567890", "E1", "Halo, info paket umroh")).await.assert_ok();
    bot.waha.wait_messages_to("6281234567890", 1).await;
    bot.waha_webhook(&fixture("waha/label-chat-added.json")).await.assert_ok();
    settle().await;

    let contacts = bot.get("/api/export/contacts.csv").await;
    contacts.assert_ok();
    let mut lines = contacts.body.lines();
    assert!(lines.next().unwrap().starts_with("key,phone,name,email,first_seen_at,last_seen_at,messages"));
    let row = lines.next().expect("one contact");
    assert!(row.starts_with("6281234567890,6281234567890,"), "{row}");
    assert!(row.contains("Lead Iklan Maret") && row.contains("Halo, info paket umroh"), "{row}");
    assert_eq!(lines.next(), None);

    let labels = bot.get("/api/export/labels.csv").await;
    assert!(
        labels.body.contains("6281234567890,6,Lead Iklan Maret,whatsapp_account,default:6285712345678,"),
        "{}",
        labels.body
    );

    let audit = bot.get("/api/export/audit").await;
    assert!(
        audit.body.lines().any(|l| l.contains(",in,text,") && l.contains("Halo, info paket umroh")),
        "{}",
        audit.body
    );
    assert!(audit.body.lines().any(|l| l.contains(",out,text,")), "the reply is in the trail");

    let leads = bot.get("/api/export/leads.csv").await;
    assert_eq!(leads.body.lines().count(), 1, "no prospect reached booking: header only");
    assert_eq!(bot.get("/api/export/secrets.csv").await.status, 400);
}
