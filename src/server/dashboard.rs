//! `GET /api/marketing/dashboard`, `GET /api/marketing/analytics` and
//! `GET /api/conversations`: the bot at work, from figures the runtime keeps
//! as conversations change (see `runtime::stats` for how each figure is
//! computed); nothing is scanned per request.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin::require_admin;
use super::{AppError, AppState};
use crate::runtime::stats::{Analytics, Dashboard};

/// GET /api/marketing/dashboard: the bot at work now.
///
/// Figures kept as conversations change (see `runtime::stats`): active
/// conversations, phase distribution, pending handovers (with the
/// `conversation_url` the other routes accept), chats paused by a human.
#[utoipa::path(
    get,
    path = "/api/marketing/dashboard",
    tag = "marketing",
    responses(
        (status = 200, description = "active conversations, phases, pending handovers, paused chats"),
        (status = 401, description = "admin token required")
    ),
    security(("admin_token" = []))
)]
pub async fn dashboard(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<Dashboard>, AppError> {
    require_admin(&app, &headers)?;
    Ok(Json(app.runtime.dashboard()))
}

/// GET /api/marketing/analytics: the funnel, campaigns, AI performance and drop-offs.
#[utoipa::path(
    get,
    path = "/api/marketing/analytics",
    tag = "marketing",
    responses(
        (status = 200, description = "conversion metrics, campaigns, AI performance, common questions, drop-offs"),
        (status = 401, description = "admin token required")
    ),
    security(("admin_token" = []))
)]
pub async fn analytics(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<Analytics>, AppError> {
    require_admin(&app, &headers)?;
    Ok(Json(app.runtime.analytics()))
}

#[derive(Deserialize)]
pub struct Recent {
    limit: Option<usize>,
}

/// `GET /api/conversations?limit=20` (at most 200): the latest chats, newest first.
#[utoipa::path(
    get,
    path = "/api/conversations",
    tag = "conversations",
    params(("limit" = Option<usize>, Query, description = "how many (default 20, at most 200)")),
    responses(
        (status = 200, description = "`conversations`: the latest chats, newest first"),
        (status = 401, description = "admin token required")
    ),
    security(("admin_token" = []))
)]
pub async fn conversations(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Recent>,
) -> Result<Json<Value>, AppError> {
    require_admin(&app, &headers)?;
    let limit = q.limit.unwrap_or(20).clamp(1, 200);
    let runtime = app.runtime.clone();
    let rows = tokio::task::spawn_blocking(move || runtime.recent_conversations(limit))
        .await
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    Ok(Json(json!({"conversations": rows})))
}
