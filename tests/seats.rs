//! Live seats end to end: a booking handover holds the prospect's seats, the
//! bot then offers the package to nobody beyond what is left, a won deal
//! takes the seats for good, a lost one frees them, and admins say how many
//! are left with `#paket kuota` or `PUT /api/packages/{code}/quota`.
//! Everything through the real WAHA webhook and the admin API.

mod common;

use common::*;
use serde_json::Value;

const OWNER: &str = "6281100000001";
const FAMILY: &str = "6281200088001";
const LATECOMER: &str = "6281200088002";
const PLUS: &str = "UMR_JAN_2027_PLUS";

fn config() -> String {
    format!(
        "[bot]\nowners = [\"{OWNER}\"]\nsend_seen = false\nsend_typing = false\nlanguage = \"en\"\n\
         [sales]\ndefault_language = \"id\"\nseat_hold_hours = 48\n"
    )
}

/// Sends `text` and returns every text the bot sent back for it.
async fn ask(bot: &TestBot, from: &str, id: &str, text: &str) -> String {
    let before = bot.waha.messages_to(from).len();
    bot.waha_webhook(&waha_text(from, id, text)).await.assert_ok();
    bot.waha.wait_messages_to(from, before + 1).await;
    // Media and alerts of the same turn follow within moments.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let sent = bot.waha.messages_to(from);
    sent[before..].iter().filter_map(|r| r.body["text"].as_str().map(str::to_string)).collect::<Vec<_>>().join("\n")
}

/// The package as `GET /api/packages` reports it.
async fn seats(bot: &TestBot, code: &str) -> Value {
    let answer = bot.get("/api/packages").await;
    answer.assert_ok();
    let list: Value = serde_json::from_str(&answer.body).unwrap();
    list["packages"].as_array().unwrap().iter().find(|p| p["code"] == code).cloned().expect("the package is listed")
}

#[tokio::test]
async fn a_booking_holds_seats_a_won_deal_takes_them_and_nobody_is_sold_a_full_trip() {
    let bot = TestBot::with_config(&config()).await;
    // The admin says 3 seats are left on the Plus trip.
    let set =
        bot.raw_post_method("PUT", &format!("/api/packages/{}/quota", PLUS.to_lowercase()), r#"{"quota": 3}"#).await;
    set.assert_ok();
    let set: Value = serde_json::from_str(&set.body).unwrap();
    assert_eq!((set["seats_left"].as_u64(), set["set_by_admin"].as_bool()), (Some(3), Some(true)), "{set}");

    // A family of three books it: the handover holds their seats.
    let details = ask(&bot, FAMILY, "F1", &format!("Assalamualaikum, info paket {PLUS} kak")).await;
    assert!(details.contains("Sisa kursi: 3"), "the live figure is quoted: {details}");
    ask(&bot, FAMILY, "F2", "kami bertiga kak, 3 orang").await;
    let booked = ask(&bot, FAMILY, "F3", "oke mau booking, DP berapa kak?").await;
    assert!(!booked.is_empty());
    let plus = seats(&bot, PLUS).await;
    assert_eq!((plus["held"].as_u64(), plus["seats_left"].as_u64()), (Some(3), Some(0)), "{plus}");

    // Somebody else asks for the same trip: it is full, alternatives are offered.
    let later = ask(&bot, LATECOMER, "L1", &format!("Halo kak, paket {PLUS} masih ada?")).await;
    assert!(later.contains("penuh"), "{later}");
    assert!(!later.contains("Sisa kursi: 3"), "{later}");
    let list = ask(&bot, LATECOMER, "L2", "paket apa saja yang tersedia kak?").await;
    assert!(!list.contains(PLUS), "a full trip is not offered: {list}");

    // The owner sees the hold, wins the deal: the seats are taken for good.
    let shown = ask(&bot, OWNER, "O1", "#paket").await;
    assert!(shown.contains(&format!("*{PLUS}*")) && shown.contains("0 seats left; held 3, taken 0"), "{shown}");
    ask(
        &bot,
        OWNER,
        "O2",
        &format!("#crm deals create --title \"Umroh keluarga\" --value 105000000 --contact {FAMILY}"),
    )
    .await;
    let won = ask(&bot, OWNER, "O3", "#crm deals won D1 --reason \"lunas\"").await;
    assert!(won.contains("won"), "{won}");
    let plus = seats(&bot, PLUS).await;
    assert_eq!(
        (plus["held"].as_u64(), plus["taken"].as_u64(), plus["seats_left"].as_u64()),
        (Some(0), Some(3), Some(0))
    );

    // Two more seats are found: the owner says so in chat, the bot sells them again.
    let set = ask(&bot, OWNER, "O4", &format!("#paket kuota {PLUS} 2")).await;
    assert!(set.contains("2 seats left"), "{set}");
    let again = ask(&bot, LATECOMER, "L3", &format!("info {PLUS} kak")).await;
    assert!(again.contains("Sisa kursi: 2"), "{again}");
    let party = ask(&bot, LATECOMER, "L4", "kami 4 orang kak, totalnya berapa?").await;
    assert!(party.contains("sisa kursi hanya 2"), "a party larger than the seats left is told so: {party}");

    // Survives a restart: holds, takes and quotas are stored.
    let bot = bot.restart().await;
    let plus = seats(&bot, PLUS).await;
    assert_eq!((plus["taken"].as_u64(), plus["seats_left"].as_u64()), (Some(3), Some(2)), "{plus}");
}

#[tokio::test]
async fn a_lost_deal_frees_the_held_seats_and_bad_quota_requests_change_nothing() {
    let bot = TestBot::with_config(&config()).await;
    ask(&bot, FAMILY, "F1", &format!("info paket {PLUS} untuk 2 orang kak")).await;
    ask(&bot, FAMILY, "F2", "mau booking, transfer DP kemana kak?").await;
    let quota = seats(&bot, PLUS).await["quota"].as_u64().unwrap();
    let plus = seats(&bot, PLUS).await;
    assert_eq!((plus["held"].as_u64(), plus["seats_left"].as_u64()), (Some(2), Some(quota - 2)), "{plus}");
    ask(&bot, OWNER, "O1", &format!("#crm deals create --title \"Umroh\" --value 70000000 --contact {FAMILY}")).await;
    ask(&bot, OWNER, "O2", "#crm deals lost D1 --reason \"batal\"").await;
    let plus = seats(&bot, PLUS).await;
    assert_eq!((plus["held"].as_u64(), plus["seats_left"].as_u64()), (Some(0), Some(quota)), "{plus}");

    for (path, body, status) in [
        (format!("/api/packages/{PLUS}/quota"), r#"{"quota": -1}"#, 422),
        (format!("/api/packages/{PLUS}/quota"), r#"{"seats": 3}"#, 422),
        ("/api/packages/UMR_XYZ_2099_FAKE/quota".to_string(), r#"{"quota": 3}"#, 404),
    ] {
        let answer = bot.raw_post_method("PUT", &path, body).await;
        assert_eq!(answer.status, status, "{path} {body}: {}", answer.body);
    }
    assert_eq!(seats(&bot, PLUS).await["set_by_admin"], false);
}
