//! `GET /healthz` (writes and flushes a canary, so a wedged store shows) and
//! `GET /metrics` (Prometheus text).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use crate::runtime::now_ms;

/// GET /healthz: whether juru can take webhooks.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses(
        (status = 200, description = "the store answers and the pipeline runs"),
        (status = 503, description = "storage unavailable")
    )
)]
pub async fn healthz(State(app): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let store = app.runtime.store();
    let canary = store.probe(now_ms()).map_err(|e| e.to_string());
    let flushed = match canary {
        Ok(_) => match tokio::time::timeout(Duration::from_secs(2), store.durable()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("store flush timed out".to_string()),
        },
        Err(e) => Err(e),
    };
    let progress = app.runtime.progress();
    let body = serde_json::json!({
        "status": if flushed.is_ok() { "ok" } else { "unhealthy" },
        "error": flushed.as_ref().err(),
        "inbox_depth": progress.inbox_depth(),
        "outbox_depth": progress.outbox_depth(),
    });
    let status = if flushed.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body))
}

/// GET /metrics: Prometheus metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain")
    )
)]
pub async fn metrics(State(app): State<AppState>) -> String {
    let store = app.runtime.store();
    metrics::gauge!("juru_store_disk_bytes").set(store.size_on_disk() as f64);
    metrics::gauge!("juru_lane_queue_depth").set(app.runtime.progress().inbox_depth() as f64);
    metrics::gauge!("juru_outbox_depth").set(app.runtime.progress().outbox_depth() as f64);
    app.metrics.render()
}
