//! The admin API described: `GET /api/openapi.json` is generated from the
//! code, every operation it names answers on the real server, and the docs
//! page is served by the binary itself (nothing from another origin).

mod common;

use common::*;
use serde_json::Value;

#[tokio::test]
async fn every_described_operation_is_a_route_of_the_running_server() {
    let bot = TestBot::start().await;
    let answer = bot.get("/api/openapi.json").await;
    answer.assert_ok();
    let doc: Value = serde_json::from_str(&answer.body).unwrap();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/api/marketing/leads") && paths.contains_key("/api/whatsapp/cloud"));
    let http = reqwest::Client::new();
    let mut checked = 0;
    for (path, item) in paths {
        // `{id}` and friends: any value reaches the handler.
        let concrete: String =
            path.split('/').map(|seg| if seg.starts_with('{') { "x" } else { seg }).collect::<Vec<_>>().join("/");
        for (method, _) in item.as_object().unwrap() {
            let Ok(m) = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()) else { continue };
            if !["GET", "POST", "PUT", "DELETE", "PATCH"].contains(&m.as_str()) {
                continue;
            }
            let reply = http
                .request(m.clone(), format!("{}{concrete}", bot.url))
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = reply.status().as_u16();
            let body = reply.text().await.unwrap_or_default();
            assert_ne!(status, 405, "{m} {path}: no such method on the route");
            assert!(!(status == 404 && body.is_empty()), "{m} {path}: no such route");
            checked += 1;
        }
    }
    assert!(checked > 30, "{checked} operations checked");
}

#[tokio::test]
async fn the_docs_page_is_served_by_the_binary_and_loads_nothing_from_elsewhere() {
    let bot = TestBot::start().await;
    let page = bot.get("/api/docs").await;
    page.assert_ok();
    assert!(page.body.contains("/api/openapi.json") && page.body.contains("/api/docs/docs.js"), "{}", page.body);
    assert!(!page.body.contains("http://") && !page.body.contains("https://"), "no other origin: {}", page.body);
    let script = bot.get("/api/docs/docs.js").await;
    script.assert_ok();
    assert!(script.body.contains("fetch(\"/api/openapi.json\")"));
    assert!(!script.body.contains("http://") && !script.body.contains("https://"));
}
