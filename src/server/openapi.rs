//! The admin API described: OpenAPI 3.1 generated from the handlers'
//! `#[utoipa::path]` attributes (the webhook routes, whose handlers parse raw
//! bytes, are described here), served at `GET /api/openapi.json`, and a docs
//! page at `GET /api/docs` that renders it. The page and its script are
//! embedded in the binary: nothing is loaded from another origin.

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ResponseBuilder, ResponsesBuilder};

use super::{admin, ai, crm, dashboard, export, health, labels, leads, packages, playground};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "juru admin API",
        description = "Conversations, handovers, leads, prompts, analytics, CRM sync and labels of a juru bot. \
                       With `[server] admin_token` set, send `Authorization: Bearer TOKEN` (or log in on /dashboard)."
    ),
    paths(
        admin::release,
        admin::handover,
        admin::settings,
        admin::conversation,
        ai::process_message,
        ai::update_prompt,
        packages::list,
        packages::set_quota,
        leads::create,
        leads::list,
        dashboard::dashboard,
        dashboard::analytics,
        dashboard::conversations,
        export::export,
        crm::status,
        crm::sync_now,
        crm::oauth_callback,
        crm::hubspot_webhook,
        crm::pipedrive_webhook,
        labels::list,
        labels::contacts,
        labels::resync,
        labels::trend,
        playground::say,
        playground::reset,
        health::healthz,
        health::metrics,
        openapi_json,
        docs_page,
        docs_script,
    ),
    modifiers(&AdminToken, &Webhooks),
    tags(
        (name = "whatsapp", description = "Webhooks from WAHA and the WhatsApp Cloud API"),
        (name = "conversations", description = "Read, hand over and release chats"),
        (name = "ai", description = "The sales bot: dry runs and prompt edits"),
        (name = "marketing", description = "Leads, dashboard and analytics"),
        (name = "crm", description = "Sync with HubSpot, Salesforce and Pipedrive"),
        (name = "labels", description = "WhatsApp labels"),
        (name = "export", description = "CSV exports"),
        (name = "playground", description = "The dashboard's test chat"),
        (name = "health", description = "Health and metrics"),
        (name = "docs", description = "This description"),
    )
)]
pub struct ApiDoc;

/// The admin token as a bearer scheme (the routes that need it name it).
struct AdminToken;

impl utoipa::Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("`[server] admin_token`; not needed when unset (loopback only)"))
            .build();
        components.add_security_scheme("admin_token", SecurityScheme::Http(scheme));
    }
}

/// The gateways' webhooks: their handlers take raw bytes (the signature is
/// over them), so their operations are written here.
struct Webhooks;

impl utoipa::Modify for Webhooks {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let responses = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .fold(ResponsesBuilder::new(), |b, (code, text)| {
                    b.response(*code, ResponseBuilder::new().description(*text).build())
                })
                .build()
        };
        let operation = |summary: &str, description: &str, codes: &[(&str, &str)]| {
            OperationBuilder::new()
                .tag("whatsapp")
                .summary(Some(summary))
                .description(Some(description))
                .responses(responses(codes))
        };
        let waha = operation(
            "POST /api/whatsapp/webhook: WAHA events",
            "WAHA envelopes (message, message.any, message.ack, label events) and the flat \
             `{from, body, timestamp, message_id}` form. With `[waha] webhook_hmac_key` set, \
             `X-Webhook-Hmac` must carry the hex HMAC-SHA512 of the body.",
            &[
                ("200", "stored durably in the inbox"),
                ("400", "not a WAHA webhook"),
                ("401", "bad signature"),
                ("503", "overloaded: retry after Retry-After"),
            ],
        );
        let verify = operation(
            "GET /api/whatsapp/cloud: Meta's verification handshake",
            "Answers `hub.challenge` when `hub.verify_token` is `[cloud] verify_token`.",
            &[("200", "the challenge"), ("403", "the verify token does not match")],
        )
        .parameters(Some(
            ["hub.mode", "hub.verify_token", "hub.challenge"]
                .map(|name| ParameterBuilder::new().name(name).parameter_in(ParameterIn::Query).build()),
        ));
        let cloud = operation(
            "POST /api/whatsapp/cloud: Cloud API notifications",
            "Signed with the app secret (`X-Hub-Signature-256`). Each message and status is read on its own.",
            &[
                ("200", "stored durably in the inbox"),
                ("400", "not a WhatsApp notification"),
                ("401", "bad signature"),
                ("503", "overloaded: retry after Retry-After"),
            ],
        );
        openapi.paths.add_path_operation("/api/whatsapp/webhook", vec![HttpMethod::Post], waha.build());
        openapi.paths.add_path_operation("/api/whatsapp/cloud", vec![HttpMethod::Get], verify.build());
        openapi.paths.add_path_operation("/api/whatsapp/cloud", vec![HttpMethod::Post], cloud.build());
    }
}

/// GET /api/openapi.json: this API, described.
#[utoipa::path(get, path = "/api/openapi.json", tag = "docs", responses((status = 200, description = "OpenAPI 3.1")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

const DOCS_HTML: &str = include_str!("../../assets/docs/index.html");
const DOCS_JS: &str = include_str!("../../assets/docs/docs.js");
/// Everything comes from this origin; nothing inline runs.
const CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        body,
    )
        .into_response()
}

/// GET /api/docs: the API description as a page (embedded, no CDN).
#[utoipa::path(get, path = "/api/docs", tag = "docs", responses((status = 200, description = "HTML", content_type = "text/html")))]
pub async fn docs_page() -> Response {
    asset("text/html; charset=utf-8", DOCS_HTML)
}

/// GET /api/docs/docs.js: the script of the docs page.
#[utoipa::path(get, path = "/api/docs/docs.js", tag = "docs", responses((status = 200, description = "JavaScript", content_type = "text/javascript")))]
pub async fn docs_script() -> Response {
    asset("text/javascript; charset=utf-8", DOCS_JS)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The pages of the dashboard are not the API.
    const UNDESCRIBED: [&str; 5] =
        ["/dashboard", "/dashboard/app.js", "/dashboard/app.css", "/dashboard/login", "/dashboard/logout"];

    /// `(METHOD, path)` of every route `server::app` registers, read from its source.
    fn routes() -> BTreeSet<(String, String)> {
        let source = include_str!("mod.rs");
        let app = &source[source.find("pub fn app(").expect("server::app")..];
        let app = &app[..app.find("\n}\n").expect("the end of server::app")];
        let method = regex::Regex::new(r"[ :.](get|post|put|delete|patch)\(").unwrap();
        let mut routes = BTreeSet::new();
        for call in app.split(".route(\"").skip(1) {
            let (path, rest) = call.split_once('"').expect("a quoted path");
            let handlers = rest.lines().next().unwrap_or_default();
            for m in method.captures_iter(handlers) {
                routes.insert((m[1].to_uppercase(), path.to_string()));
            }
        }
        routes
    }

    /// `(METHOD, path)` of every described operation that has a summary.
    fn described() -> (BTreeSet<(String, String)>, Vec<String>) {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut described = BTreeSet::new();
        let mut unsummarised = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if !["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                    continue;
                }
                if op["summary"].as_str().is_none_or(|s| s.trim().is_empty()) {
                    unsummarised.push(format!("{method} {path}"));
                }
                described.insert((method.to_uppercase(), path.clone()));
            }
        }
        (described, unsummarised)
    }

    #[test]
    fn the_route_reader_finds_the_routes() {
        let routes = routes();
        assert!(routes.contains(&("GET".into(), "/api/whatsapp/cloud".into())), "{routes:?}");
        assert!(routes.contains(&("POST".into(), "/api/whatsapp/cloud".into())), "{routes:?}");
        assert!(routes.contains(&("PUT".into(), "/api/ai/prompts".into())), "{routes:?}");
        assert!(routes.contains(&("GET".into(), "/api/marketing/leads".into())), "{routes:?}");
        assert!(routes.contains(&("POST".into(), "/api/marketing/leads".into())), "{routes:?}");
        assert!(routes.len() > 30, "{routes:?}");
    }

    #[test]
    fn every_route_is_described_and_every_description_is_a_route() {
        let routes: BTreeSet<_> = routes().into_iter().filter(|(_, p)| !UNDESCRIBED.contains(&p.as_str())).collect();
        let (described, unsummarised) = described();
        let missing: Vec<_> = routes.difference(&described).collect();
        let phantom: Vec<_> = described.difference(&routes).collect();
        assert!(missing.is_empty(), "routes without a description: {missing:?}");
        assert!(phantom.is_empty(), "descriptions of routes that do not exist: {phantom:?}");
        assert!(unsummarised.is_empty(), "operations without a summary: {unsummarised:?}");
    }
}
