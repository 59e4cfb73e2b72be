//! `GET /api/marketing/dashboard`: the bot at work, from figures the runtime
//! keeps as conversations change (see `runtime::stats` for how each figure
//! is computed); nothing is scanned per request.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;

use super::admin::require_admin;
use super::{AppError, AppState};
use crate::runtime::stats::Dashboard;

pub async fn dashboard(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<Dashboard>, AppError> {
    require_admin(&app, &headers)?;
    Ok(Json(app.runtime.dashboard()))
}
