//! `GET /api/marketing/analytics`, `GET /api/conversations`, the dashboard
//! login and the playground, through the real webhook and command paths.
//! Every analytics field of the users' contract is checked against the
//! conversations the test drives.

mod common;

use common::*;
use juru::store::TreeName;
use serde_json::{Value, json};

const OWNER: &str = "6281100000001";
const ADMIN: &str = "6281999999999";
const BOOKS: &str = "6281200000001";
const BROWSES: &str = "6281200000002";
const WANTS_HUMAN: &str = "6281200000005";
const TOKEN: &str = "analytics-admin-token";

fn config(sales_extra: &str) -> String {
    format!(
        "[bot]\nowners = [\"{OWNER}\"]\nadmin_chats = [\"{ADMIN}\"]\nsend_seen = false\nsend_typing = false\n\
         [server]\nadmin_token = \"{TOKEN}\"\n[sales]\n{sales_extra}\n"
    )
}

/// Admin API calls with the bearer token.
async fn api(bot: &TestBot, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", bot.url)).bearer_auth(TOKEN);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get(bot: &TestBot, path: &str) -> Value {
    let (status, body) = api(bot, reqwest::Method::GET, path, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// Sends a prospect's text and waits for the bot's `n`-th message to them.
async fn say(bot: &TestBot, from: &str, id: &str, text: &str, n: usize) {
    bot.waha_webhook(&waha_text(from, id, text)).await.assert_ok();
    bot.waha.wait_messages_to(from, n).await;
}

#[tokio::test]
async fn analytics_counts_funnel_campaigns_ai_questions_and_drop_offs_from_stored_conversations() {
    let bot = TestBot::with_config(&config("")).await;
    // One prospect from an ad goes all the way to booking (and the bot hands
    // over on the deposit question); one browses; one asks for a human.
    say(&bot, BOOKS, "A1", "UMR_JAN_2027_PLUS", 1).await;
    let n = bot.waha.messages_to(BOOKS).len();
    say(&bot, BOOKS, "A2", "Fasilitasnya apa saja ya?", n + 1).await;
    let n = bot.waha.messages_to(BOOKS).len();
    say(&bot, BOOKS, "A3", "DP berapa?", n + 1).await;
    say(&bot, BROWSES, "B1", "Assalamualaikum, mau tanya paket umroh", 1).await;
    say(&bot, WANTS_HUMAN, "C1", "Saya mau bicara langsung dengan admin saja", 1).await;
    // The owner records the payment as a won deal.
    for (id, cmd) in [
        ("O1", format!("#crm deals create --title \"Umroh Maret\" --value 25000000 --contact {BOOKS}")),
        ("O2", "#crm deals move D1 proposal".to_string()),
        ("O3", "#crm deals won D1 --reason \"DP paid\"".to_string()),
    ] {
        let before = bot.waha.messages_to(OWNER).len();
        say(&bot, OWNER, id, &cmd, before + 1).await;
    }
    settle().await;

    let a = get(&bot, "/api/marketing/analytics").await;
    let c = &a["conversion_metrics"];
    assert_eq!(
        (c["total_leads"].as_u64(), c["reached_interest"].as_u64(), c["reached_booking"].as_u64(), c["paid"].as_u64()),
        (Some(3), Some(1), Some(1), Some(1)),
        "the owner's command chat is not a lead: {a}"
    );
    assert!((c["leads_to_interest"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9, "{c}");
    assert_eq!((c["interest_to_booking"].as_f64(), c["booking_to_paid"].as_f64()), (Some(1.0), Some(1.0)));
    assert!((c["conversion_rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9, "{c}");

    assert_eq!(
        a["campaign_performance"],
        json!([{"campaign": "UMR_JAN_2027_PLUS", "clicks": null, "conversations": 1, "bookings": 1, "paid": 1, "conversion": 1.0}])
    );

    // The shipped playbook's A/B variants: every conversation has one, the booking counts for its own.
    let variants = a["variant_performance"].as_array().expect("variant_performance");
    assert!(variants.iter().all(|v| v["variant"] == "A" || v["variant"] == "B"), "{variants:?}");
    let sum = |field: &str| variants.iter().map(|v| v[field].as_u64().unwrap()).sum::<u64>();
    assert_eq!((sum("conversations"), sum("bookings")), (3, 1), "{variants:?}");
    let booked = variants.iter().find(|v| v["bookings"] == 1).expect("the booking's variant");
    let share = 1.0 / booked["conversations"].as_f64().unwrap();
    assert!((booked["conversion"].as_f64().unwrap() - share).abs() < 1e-9, "{booked}");

    let ai = &a["ai_performance"];
    assert_eq!(ai["bot_replies"], 5, "three turns for the booker, one each for the others: {ai}");
    let avg = ai["avg_response_time_ms"].as_f64().expect("a mean over five replies");
    assert!((0.0..5_000.0).contains(&avg), "{ai}");
    assert_eq!(ai["escalated_conversations"], 2, "{ai}");
    assert!((ai["escalation_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9, "{ai}");
    assert_eq!(ai["successful_conversations"], 1, "booked before any handover: {ai}");

    let questions = a["common_questions"].as_array().unwrap();
    let total: u64 = questions.iter().map(|q| q["frequency"].as_u64().unwrap()).sum();
    assert_eq!(total, 5, "one intent per bot turn: {questions:?}");
    let by = |p: &str| questions.iter().find(|q| q["pattern"] == p).unwrap_or_else(|| panic!("{p}: {questions:?}"));
    assert_eq!(
        (by("campaign_code")["frequency"].as_u64(), by("campaign_code")["ai_success_rate"].as_f64()),
        (Some(1), Some(1.0))
    );
    assert_eq!(
        (by("payment")["answered_by_ai"].as_u64(), by("payment")["ai_success_rate"].as_f64()),
        (Some(0), Some(0.0))
    );
    assert_eq!(by("human_request")["ai_success_rate"].as_f64(), Some(0.0));
    assert!(questions.iter().all(|q| q["label"].as_str().is_some_and(|l| !l.is_empty())));
    let freqs: Vec<u64> = questions.iter().map(|q| q["frequency"].as_u64().unwrap()).collect();
    assert!(freqs.windows(2).all(|w| w[0] >= w[1]), "most frequent first: {freqs:?}");

    let d = &a["drop_off_analysis"];
    assert_eq!(
        (d["idle_hours"].as_u64(), d["dropped_total"].as_u64(), d["drop_off_rate"].as_f64()),
        (Some(72), Some(0), Some(0.0))
    );
    let phases: Vec<(&str, u64)> = d["by_phase"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["phase"].as_str().unwrap(), p["conversations"].as_u64().unwrap()))
        .collect();
    assert_eq!(phases, vec![("leads", 2), ("interest", 0), ("booking", 1)]);
    assert!(a["generated_at_ms"].as_u64().is_some());

    let list = get(&bot, "/api/conversations?limit=10").await;
    let ids: Vec<&str> = list["conversations"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![WANTS_HUMAN, BROWSES, BOOKS], "newest first, owners' command chats are not conversations");
    assert_eq!(list["conversations"][2]["campaign"], "UMR_JAN_2027_PLUS");
    assert_eq!(list["conversations"][0]["handed_over"], true);

    // Rebuilt from the stored tallies after a restart, figure for figure.
    let bot = bot.restart().await;
    let mut again = get(&bot, "/api/marketing/analytics").await;
    let mut before = a.clone();
    again["generated_at_ms"] = Value::Null;
    before["generated_at_ms"] = Value::Null;
    assert_eq!(again, before);
    let list = get(&bot, "/api/conversations?limit=10").await;
    assert_eq!(
        list["conversations"][1]["last_message"], "Assalamualaikum, mau tanya paket umroh",
        "read back after a restart"
    );
}

#[tokio::test]
async fn the_playground_answers_through_the_pipeline_with_turn_details_and_stays_out_of_the_data() {
    // A burst window, so the playground waits for the coalesced turn.
    let bot = TestBot::with_config(&config("coalesce_ms = 150")).await;
    let (status, answer) =
        api(&bot, reqwest::Method::POST, "/api/playground/messages", Some(json!({"text": "UMR_JAN_2027_PLUS"}))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["chat_id"], "playground-dashboard@lid");
    let replies = answer["replies"].as_array().unwrap();
    assert!(
        replies.iter().any(|r| r["kind"] == "text" && r["text"].as_str().is_some_and(|t| t.contains("32.500.000"))),
        "{answer}"
    );
    assert!(replies.iter().any(|r| r["kind"] == "image"), "the brochure: {answer}");
    let turn = &answer["turn"];
    assert_eq!((turn["phase_after"].as_str(), turn["handover"].as_bool()), (Some("leads"), Some(false)), "{turn}");
    assert!(turn["prompt_version"].as_str().is_some_and(|v| !v.is_empty()));
    assert!(turn["confidence"].as_f64().is_some());

    let (_, human) = api(
        &bot,
        reqwest::Method::POST,
        "/api/playground/messages",
        Some(json!({"text": "Saya mau bicara langsung dengan admin saja"})),
    )
    .await;
    assert_eq!(human["turn"]["handover"], true, "{human}");
    let (status, _) = api(&bot, reqwest::Method::POST, "/api/playground/reset", Some(json!({}))).await;
    assert_eq!(status, 200);
    let (_, fresh) = api(&bot, reqwest::Method::POST, "/api/playground/messages", Some(json!({"text": "Halo"}))).await;
    assert!(!fresh["replies"].as_array().unwrap().is_empty(), "the bot answers again after a reset: {fresh}");

    settle().await;
    assert!(bot.waha.messages_to(ADMIN).is_empty(), "a playground handover alerts no admin");
    let a = get(&bot, "/api/marketing/analytics").await;
    assert_eq!(a["conversion_metrics"]["total_leads"], 0, "kept out of analytics: {a}");
    assert_eq!(a["ai_performance"]["bot_replies"], 0);
    let d = get(&bot, "/api/marketing/dashboard").await;
    assert_eq!(d["escalated_conversations"], 0);
    assert_eq!(get(&bot, "/api/conversations").await["conversations"], json!([]));
    let transcript = get(&bot, "/api/conversations/playground-dashboard@lid").await;
    assert_eq!(transcript["state"]["playground"], true, "marked as a test chat in the data");
    let (status, body) =
        api(&bot, reqwest::Method::POST, "/api/playground/messages", Some(json!({"text": "  "}))).await;
    assert_eq!(status, 400, "{body}");

    let mut bot = bot;
    bot.stop().await;
    let store = bot.store();
    assert!(store.read(TreeName::Contacts).iter().next().is_none(), "the playground makes no CRM contact");
    assert!(store.read(TreeName::Leads).iter().next().is_none(), "and no lead");
}

#[tokio::test]
async fn the_dashboard_asks_for_the_token_once_and_keeps_a_cookie_the_api_accepts() {
    let bot = TestBot::with_config(&config("")).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = http.get(format!("{}/dashboard", bot.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let login = page.text().await.unwrap();
    assert!(login.contains("name=\"token\""), "the login form: {login}");
    assert_eq!(http.get(format!("{}/api/marketing/analytics", bot.url)).send().await.unwrap().status(), 401);

    let wrong = http
        .post(format!("{}/dashboard/login", bot.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 303);
    assert_eq!(wrong.headers()["location"], "/dashboard?error=1");
    assert!(wrong.headers().get("set-cookie").is_none());

    let ok = http
        .post(format!("{}/dashboard/login", bot.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains(TOKEN), "the cookie never holds the token itself: {cookie}");
    let pair = cookie.split(';').next().unwrap().to_string();

    let with = |path: &str| http.get(format!("{}{path}", bot.url)).header("cookie", pair.clone());
    let dashboard = with("/dashboard").send().await.unwrap().text().await.unwrap();
    assert!(dashboard.contains("/dashboard/app.js"), "the dashboard itself once logged in");
    assert_eq!(with("/api/marketing/analytics").send().await.unwrap().status(), 200);
    let js = with("/dashboard/app.js").send().await.unwrap();
    assert!(js.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    let forged = http.get(format!("{}/api/marketing/analytics", bot.url)).header("cookie", "juru_admin=00ff").send();
    assert_eq!(forged.await.unwrap().status(), 401);

    let out = http.post(format!("{}/dashboard/logout", bot.url)).header("cookie", pair.clone()).send().await.unwrap();
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
}
