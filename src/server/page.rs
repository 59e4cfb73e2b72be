//! `GET /dashboard`: the admin page, served by the binary itself (assets
//! embedded at build time, no CDN). With `[server] admin_token` set, the page
//! asks for the token once and keeps a derived value in an HttpOnly,
//! SameSite=Strict cookie that the admin API also accepts.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::admin::{SESSION_COOKIE, is_admin, session_value};

const INDEX: &str = include_str!("../../assets/dashboard/index.html");
const LOGIN: &str = include_str!("../../assets/dashboard/login.html");
const APP_JS: &str = include_str!("../../assets/dashboard/app.js");
const APP_CSS: &str = include_str!("../../assets/dashboard/app.css");

/// Everything the page loads comes from this origin; nothing inline runs.
const CSP: &str =
    "default-src 'self'; img-src 'self' data: https:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        body,
    )
        .into_response()
}

pub async fn dashboard(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if is_admin(&app, &headers) {
        asset("text/html; charset=utf-8", INDEX)
    } else {
        asset("text/html; charset=utf-8", LOGIN)
    }
}

pub async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

pub async fn app_css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

#[derive(Deserialize)]
pub struct Login {
    token: String,
}

fn see_other(location: &'static str, cookie: Option<String>) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Behind a TLS-terminating proxy the cookie is marked `Secure`.
fn secure(headers: &HeaderMap) -> &'static str {
    let https = headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    if https { "; Secure" } else { "" }
}

/// `POST /dashboard/login` (form `token=…`).
pub async fn login(State(app): State<AppState>, headers: HeaderMap, Form(form): Form<Login>) -> Response {
    let Some(token) = &app.config.server.admin_token else { return see_other("/dashboard", None) };
    if !super::webhooks::constant_time_eq(form.token.trim(), token.expose()) {
        tracing::warn!("dashboard login with a wrong token");
        return see_other("/dashboard?error=1", None);
    }
    let cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age=2592000{}",
        session_value(token.expose()),
        secure(&headers)
    );
    see_other("/dashboard", Some(cookie))
}

/// `POST /dashboard/logout`.
pub async fn logout(headers: HeaderMap) -> Response {
    let cookie = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}", secure(&headers));
    see_other("/dashboard", Some(cookie))
}
