//! Admin API: take over and release conversations, read one conversation.
//! Requires `Authorization: Bearer {admin_token}` when `[server] admin_token` is set
//! (and it must be set to listen beyond loopback).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppError, AppState};
use crate::channel::{ChatId, Control, ControlAction, Event};
use crate::runtime::audit::{AuditRecord, trail};
use crate::runtime::chat_state;
use crate::store::StoreError;

/// The dashboard's login cookie.
pub const SESSION_COOKIE: &str = "juru_admin";

/// Admin routes take `Authorization: Bearer TOKEN` or the dashboard's login cookie.
pub fn require_admin(app: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
    if is_admin(app, headers) { Ok(()) } else { Err(AppError::Unauthorized) }
}

pub fn is_admin(app: &AppState, headers: &HeaderMap) -> bool {
    let Some(token) = &app.config.server.admin_token else { return true };
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| super::webhooks::constant_time_eq(given, token.expose()));
    bearer
        || cookie(headers, SESSION_COOKIE)
            .is_some_and(|given| super::webhooks::constant_time_eq(given, &session_value(token.expose())))
}

/// The cookie holds a value derived from the admin token, never the token itself.
pub fn session_value(token: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"juru dashboard session v1");
    hex::encode(mac.finalize().into_bytes())
}

fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// A conversation as the API names it: its id (`6281234567890`, `…@g.us`)
/// or the `conversation_url` the dashboard hands out (`/api/conversations/{id}`).
pub fn chat_id(id: &str) -> Result<ChatId, AppError> {
    let bare = id.rsplit_once("/api/conversations/").map_or(id, |(_, rest)| rest).trim_end_matches('/');
    let bare = percent_encoding::percent_decode_str(bare).decode_utf8_lossy();
    ChatId::parse(&bare).ok_or_else(|| AppError::BadRequest(format!("`{id}` is not a phone number or chat id")))
}

async fn queue(app: &AppState, chat: ChatId, by: &str, action: ControlAction) -> Result<(), AppError> {
    let control = Control { id: uuid::Uuid::now_v7().to_string(), chat, by: by.to_string(), action };
    app.runtime.accept(vec![Event::Control(control)]).await?;
    Ok(())
}

/// `POST /api/conversations/{id}/release`: the bot may answer this chat again.
#[utoipa::path(
    post,
    path = "/api/conversations/{id}/release",
    tag = "conversations",
    params(("id" = String, Path, description = "The chat: phone digits (0812… or +62 812… are read too), a JID, or the dashboard's conversation_url")),
    responses(
        (status = 200, description = "queued: the bot answers this chat again"),
        (status = 400, description = "not a phone number or chat id"),
        (status = 401, description = "admin token required")
    ),
    security(("admin_token" = []))
)]
pub async fn release(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    require_admin(&app, &headers)?;
    let chat = chat_id(&id)?;
    queue(&app, chat.clone(), "api", ControlAction::Release).await?;
    Ok(Json(json!({"conversation_id": chat.key(), "released": true})))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct HandoverRequest {
    conversation_id: String,
    assigned_to: Option<String>,
    handover_notes: Option<String>,
}

/// `POST /api/conversations/handover`: a human takes the chat.
#[utoipa::path(
    post,
    path = "/api/conversations/handover",
    tag = "conversations",
    request_body = HandoverRequest,
    responses(
        (status = 200, description = "queued: the bot is silent in this chat until released"),
        (status = 400, description = "not a phone number or chat id"),
        (status = 401, description = "admin token required")
    ),
    security(("admin_token" = []))
)]
pub async fn handover(
    State(app): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<HandoverRequest>,
) -> Result<Json<Value>, AppError> {
    require_admin(&app, &headers)?;
    let chat = chat_id(&req.conversation_id)?;
    let by = req.assigned_to.clone().unwrap_or_else(|| "api".into());
    let action = ControlAction::Handover { assigned_to: req.assigned_to, notes: req.handover_notes };
    queue(&app, chat.clone(), &by, action).await?;
    Ok(Json(json!({"conversation_id": chat.key(), "handed_over": true})))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ChatSettings {
    bot_enabled: Option<bool>,
    stop_bot_from_me: Option<bool>,
}

/// `PUT /api/conversations/{id}/settings`: per-chat overrides of `[sales]`.
#[utoipa::path(
    put,
    path = "/api/conversations/{id}/settings",
    tag = "conversations",
    params(("id" = String, Path, description = "The chat: phone digits (0812… or +62 812… are read too), a JID, or the dashboard's conversation_url")),
    request_body = ChatSettings,
    responses(
        (status = 200, description = "queued"),
        (status = 400, description = "neither setting given, or not a chat id"),
        (status = 401, description = "admin token required")
    ),
    security(("admin_token" = []))
)]
pub async fn settings(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(req): Json<ChatSettings>,
) -> Result<Json<Value>, AppError> {
    require_admin(&app, &headers)?;
    let chat = chat_id(&id)?;
    if req.bot_enabled.is_none() && req.stop_bot_from_me.is_none() {
        return Err(AppError::BadRequest("give bot_enabled and/or stop_bot_from_me".into()));
    }
    let action = ControlAction::Settings { bot_enabled: req.bot_enabled, stop_bot_from_me: req.stop_bot_from_me };
    queue(&app, chat.clone(), "api", action).await?;
    Ok(Json(
        json!({"conversation_id": chat.key(), "bot_enabled": req.bot_enabled, "stop_bot_from_me": req.stop_bot_from_me}),
    ))
}

/// `GET /api/conversations/{id}`: state and the full audit trail of one chat.
#[utoipa::path(
    get,
    path = "/api/conversations/{id}",
    tag = "conversations",
    params(("id" = String, Path, description = "The chat: phone digits (0812… or +62 812… are read too), a JID, or the dashboard's conversation_url")),
    responses(
        (status = 200, description = "`state` and `messages`, oldest first"),
        (status = 404, description = "no such conversation"),
        (status = 401, description = "admin token required")
    ),
    security(("admin_token" = []))
)]
pub async fn conversation(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    require_admin(&app, &headers)?;
    let key = chat_id(&id)?.key();
    let store = app.runtime.store().clone();
    let read = tokio::task::spawn_blocking(move || -> Result<Value, StoreError> {
        // An unreadable state shows as none rather than hiding the trail.
        let state = chat_state(&store, &key).ok().flatten();
        let messages = trail(&store, &key).collect::<Result<Vec<AuditRecord>, _>>()?;
        Ok(json!({"conversation_id": key, "state": state, "messages": messages}))
    })
    .await
    .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let value = read.map_err(|e| AppError::Unavailable(crate::runtime::RuntimeError::from(e)))?;
    if value["state"].is_null() && value["messages"].as_array().is_some_and(Vec::is_empty) {
        return Err(AppError::NotFound);
    }
    Ok(Json(value))
}
