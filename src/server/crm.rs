//! CRM sync over HTTP: the OAuth callback that completes `#crm auth --oauth`,
//! and the sync status/trigger for operators (`GET|POST /api/crm/sync`).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin::require_admin;
use super::{AppError, AppState};
use crate::channel::ChatId;
use crate::crm::settings::{OAuthState, Platform, SyncRequest, oauth_key, sync_key};

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    /// Zoho names the account's data centre (`https://accounts.zoho.eu`); trusted only if it is one of Zoho's.
    #[serde(rename = "accounts-server")]
    accounts_server: Option<String>,
}

fn page(title: &str, text: &str) -> Response {
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    Html(format!(
        "<!doctype html><meta charset=utf-8><meta name=viewport content=\"width=device-width\"><title>juru</title>\
         <body style=\"font-family:system-ui;max-width:32em;margin:3em auto;padding:0 1em\"><h1>{}</h1><p>{}</p>",
        escape(title),
        escape(text)
    ))
    .into_response()
}

/// `GET /oauth/callback/{platform}?code=…&state=…`: the vendor sends the
/// owner back here. The `state` names the chat that asked; it is used once.
#[utoipa::path(
    get,
    path = "/oauth/callback/{platform}",
    tag = "crm",
    params(("platform" = String, Path, description = "hubspot, salesforce, pipedrive or zoho"), ("code" = Option<String>, Query, description = "from the vendor"), ("state" = Option<String>, Query, description = "issued by `#crm auth --oauth`, used once"), ("accounts-server" = Option<String>, Query, description = "Zoho: the Accounts server of the account's data centre (trusted only if it is Zoho's)")),
    responses(
        (status = 200, description = "a page saying whether the platform is connected", content_type = "text/html")
    )
)]
pub async fn oauth_callback(
    State(app): State<AppState>,
    Path(platform): Path<String>,
    Query(q): Query<Callback>,
) -> Response {
    let Some(p) = Platform::parse(&platform) else { return page("Unknown platform", &platform) };
    let prefix = app.config.bot.prefixes.first().map_or("#", String::as_str);
    let again = format!("Start again with {prefix}crm auth --oauth in WhatsApp.");
    let Some(state_id) = q.state.as_deref().filter(|s| !s.is_empty() && s.len() <= 64) else {
        return page("Missing state", &again);
    };
    let crm = app.runtime.crm();
    let Some(state) = crm.setting::<OAuthState>(&oauth_key(state_id)) else {
        return page("Link not recognised", &format!("It was used already or never issued. {again}"));
    };
    // Used once, whatever happens next.
    if let Err(e) = crm.commit(crm.forget_oauth_state(state_id)).await {
        tracing::error!(error = %e, "forgetting an OAuth state failed");
    }
    let chat = ChatId::parse(&state.chat);
    let tell = |text: String| {
        let runtime = app.runtime.clone();
        let chat = chat.clone();
        async move {
            if let Some(chat) = chat
                && let Err(e) = runtime.say(chat, text).await
            {
                tracing::error!(error = %e, "confirming the OAuth result in chat failed");
            }
        }
    };
    if state.platform != p || state.expires_ms < crate::clock::now_ms() {
        return page("Link expired", &again);
    }
    if let Some(error) = q.error {
        let why = q.error_description.unwrap_or(error);
        tell(format!("❌ {} authorisation was refused: {why}", p.title())).await;
        return page("Not authorised", &why);
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return page("Missing code", "The platform sent no code.");
    };
    let Some(public) = app.config.crm.public_url.as_ref() else {
        return page("Not configured", "[crm] public_url is not set.");
    };
    let redirect = format!("{}/oauth/callback/{}", public.as_str().trim_end_matches('/'), p.as_str());
    match app.connectors.complete_oauth(p, &code, &redirect, &state.by, q.accounts_server.as_deref()).await {
        Ok(()) => {
            tell(format!("✅ {} connected. Sync starts now; check it with {prefix}crm sync.", p.title())).await;
            page("Connected", &format!("juru is connected to {}. You can close this window.", p.title()))
        }
        Err(e) => {
            tracing::warn!(platform = p.as_str(), error = %e, "OAuth code exchange failed");
            tell(format!("❌ {} authorisation failed: {e}", p.title())).await;
            page("Authorisation failed", &e.to_string())
        }
    }
}

/// `GET /api/crm/sync`: queued / sent / failed / dead and the last error per platform.
#[utoipa::path(
    get,
    path = "/api/crm/sync",
    tag = "crm",
    responses(
        (status = 200, description = "`platforms`: per platform queued, sent, failed, dead, last_error, running"),
        (status = 401, description = "admin token required")
    ),
    security(("admin_token" = []))
)]
pub async fn status(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, AppError> {
    require_admin(&app, &headers)?;
    let crm = app.runtime.crm().clone();
    let running = crm.sync_targets();
    let reports = tokio::task::spawn_blocking(move || {
        Platform::ALL
            .iter()
            .map(|p| {
                let mut r = serde_json::to_value(crate::crm::sync::report(crm.store(), *p)).unwrap_or_default();
                r["running"] = json!(running.contains(p));
                r
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| AppError::BadRequest(e.to_string()))?;
    Ok(Json(json!({"platforms": reports})))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SyncNow {
    platform: String,
    #[serde(default)]
    full: bool,
}

/// `POST /api/crm/sync {"platform": "hubspot", "full": false}`: like `#crm sync`.
#[utoipa::path(
    post,
    path = "/api/crm/sync",
    tag = "crm",
    request_body = SyncNow,
    responses(
        (status = 200, description = "the push is requested"),
        (status = 400, description = "not a platform juru syncs with (hubspot, salesforce, pipedrive, zoho, freshsales, dynamics)"),
        (status = 401, description = "admin token required")
    ),
    security(("admin_token" = []))
)]
pub async fn sync_now(
    State(app): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<SyncNow>,
) -> Result<Json<Value>, AppError> {
    require_admin(&app, &headers)?;
    let p = Platform::parse(&req.platform)
        .ok_or_else(|| AppError::BadRequest(format!("`{}` is not one of {}", req.platform, Platform::names())))?;
    let crm = app.runtime.crm();
    let request = SyncRequest {
        platform: p,
        full: req.full,
        by: "api".into(),
        at_ms: crate::clock::now_ms(),
        contacts: 0,
        deals: 0,
        activities: 0,
    };
    let mut changes = crate::crm::Changes::default();
    changes.put_setting(&sync_key(p), &request);
    crm.commit(changes).await.map_err(crate::runtime::RuntimeError::from)?;
    Ok(Json(
        json!({"platform": p.as_str(), "requested": true, "full": req.full, "running": crm.sync_targets().contains(&p)}),
    ))
}

/// `POST /api/crm/webhooks/hubspot`: HubSpot says records changed. Verified
/// with the v3 signature (the app's client secret over method, the URL
/// HubSpot called — `[crm] public_url` + path — body and timestamp); the
/// worker then pulls, so the usual last-modified-wins rules apply.
#[utoipa::path(
    post,
    path = "/api/crm/webhooks/hubspot",
    tag = "crm",
    responses(
        (status = 200, description = "accepted; the worker pulls the changes"),
        (status = 401, description = "bad or missing v3 signature")
    )
)]
pub async fn hubspot_webhook(
    State(app): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> Result<Json<Value>, AppError> {
    use crate::connectors::hubspot;
    let secret = app.config.crm.hubspot.client_secret.as_ref().ok_or(AppError::NotConfigured("HubSpot webhook"))?;
    let public = app.config.crm.public_url.as_ref().ok_or(AppError::NotConfigured("HubSpot webhook"))?;
    let called =
        format!("{}{}", public.as_str().trim_end_matches('/'), uri.path_and_query().map_or("", |p| p.as_str()));
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let valid = hubspot::verify_signature_v3(
        secret.expose(),
        "POST",
        &called,
        &body,
        header("x-hubspot-request-timestamp"),
        header("x-hubspot-signature-v3"),
        crate::clock::now_ms(),
    );
    if !valid {
        return Err(AppError::Forbidden);
    }
    let events = hubspot::parse_webhook(&body).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let pulled = wake_pull(&app, Platform::Hubspot);
    Ok(Json(json!({"events": events.len(), "pulling": pulled})))
}

/// `POST /api/crm/webhooks/pipedrive`: Pipedrive's webhooks v2 carry no
/// signature; they present the Basic credentials set when subscribing.
#[utoipa::path(
    post,
    path = "/api/crm/webhooks/pipedrive",
    tag = "crm",
    responses(
        (status = 200, description = "accepted; the worker pulls the changes"),
        (status = 401, description = "wrong Basic credentials")
    )
)]
pub async fn pipedrive_webhook(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, AppError> {
    use crate::connectors::pipedrive;
    let cfg = &app.config.crm.pipedrive;
    let (Some(user), Some(password)) = (cfg.webhook_user.as_deref(), cfg.webhook_password.as_ref()) else {
        return Err(AppError::NotConfigured("Pipedrive webhook"));
    };
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    if !pipedrive::verify_basic_auth(authorization, user, password.expose()) {
        return Err(AppError::Forbidden);
    }
    let event = pipedrive::parse_webhook(&body).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let pulled = wake_pull(&app, Platform::Pipedrive);
    Ok(Json(json!({"entity": event.meta.entity, "action": event.meta.action, "pulling": pulled})))
}

fn wake_pull(app: &AppState, platform: Platform) -> bool {
    match app.connectors.handle(platform) {
        Some(handle) => {
            handle.pull_now();
            true
        }
        None => false,
    }
}
