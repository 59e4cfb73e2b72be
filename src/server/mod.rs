//! HTTP: webhooks, health and metrics. The only module that knows axum.

mod admin;
mod ai;
mod crm;
mod dashboard;
mod export;
mod health;
mod labels;
mod leads;
mod openapi;
mod packages;
mod page;
mod playground;
mod webhooks;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::channel::signature::SignatureError;
use crate::channel::{Gateways, ParseError};
use crate::config::Config;
use crate::router::BotSettings;
use crate::runtime::{Runtime, RuntimeError};
use crate::store::{Store, StoreError};

#[derive(Clone)]
pub struct AppState {
    pub runtime: Arc<Runtime>,
    pub config: Arc<Config>,
    pub metrics: PrometheusHandle,
    pub connectors: Arc<crate::connectors::supervisor::Connectors>,
}

/// The routes, as tests and `serve` use them.
pub fn app(state: AppState) -> Router {
    let limit = state.config.server.max_body_bytes;
    Router::new()
        .route("/api/whatsapp/webhook", axum::routing::post(webhooks::waha))
        .route("/api/whatsapp/cloud", get(webhooks::cloud_verify).post(webhooks::cloud))
        .route("/api/ai/process-message", axum::routing::post(ai::process_message))
        .route("/api/ai/prompts", axum::routing::put(ai::update_prompt))
        .route("/api/marketing/leads", get(leads::list).post(leads::create))
        .route("/api/packages", get(packages::list))
        .route("/api/packages/{code}/quota", axum::routing::put(packages::set_quota))
        .route("/api/marketing/dashboard", get(dashboard::dashboard))
        .route("/api/marketing/analytics", get(dashboard::analytics))
        .route("/api/conversations", get(dashboard::conversations))
        .route("/api/playground/messages", axum::routing::post(playground::say))
        .route("/api/playground/reset", axum::routing::post(playground::reset))
        .route("/dashboard", get(page::dashboard))
        .route("/dashboard/app.js", get(page::app_js))
        .route("/dashboard/app.css", get(page::app_css))
        .route("/dashboard/login", axum::routing::post(page::login))
        .route("/dashboard/logout", axum::routing::post(page::logout))
        .route("/api/export/{file}", get(export::export))
        .route("/api/crm/sync", get(crm::status).post(crm::sync_now))
        .route("/oauth/callback/{platform}", get(crm::oauth_callback))
        .route("/api/crm/webhooks/hubspot", axum::routing::post(crm::hubspot_webhook))
        .route("/api/crm/webhooks/pipedrive", axum::routing::post(crm::pipedrive_webhook))
        .route("/api/labels", get(labels::list))
        .route("/api/labels/resync", axum::routing::post(labels::resync))
        .route("/api/labels/trend", get(labels::trend))
        .route("/api/labels/{label}/contacts", get(labels::contacts))
        .route("/api/conversations/handover", axum::routing::post(admin::handover))
        .route("/api/conversations/{id}/release", axum::routing::post(admin::release))
        .route("/api/conversations/{id}/settings", axum::routing::put(admin::settings))
        .route("/api/conversations/{id}", get(admin::conversation))
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/api/docs", get(openapi::docs_page))
        .route("/api/docs/docs.js", get(openapi::docs_script))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .layer(DefaultBodyLimit::max(limit))
        // Spans carry the path only: the Cloud handshake's query holds the verify token.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            tracing::debug_span!("http", method = %req.method(), path = %req.uri().path())
        }))
        .with_state(state)
}

/// Why a request was refused; each maps to one status code and a short reason.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Signature(#[from] SignatureError),
    #[error("{0}")]
    Parse(#[from] ParseError),
    #[error("the {0} channel is not configured")]
    NotConfigured(&'static str),
    #[error("verification token does not match")]
    Forbidden,
    #[error("admin token required: Authorization: Bearer <[server] admin_token>")]
    Unauthorized,
    #[error("{0}")]
    BadRequest(String),
    #[error("not found")]
    NotFound,
    /// A gateway this request depends on failed.
    #[error("{0}")]
    BadGateway(String),
    /// The work was queued but did not finish in time.
    #[error("{0}")]
    Timeout(String),
    #[error("storage unavailable, retry later")]
    Unavailable(#[from] RuntimeError),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match &self {
            AppError::Signature(_) => StatusCode::UNAUTHORIZED,
            AppError::Parse(_) => StatusCode::BAD_REQUEST,
            AppError::NotConfigured(_) => StatusCode::NOT_FOUND,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            AppError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            AppError::Unavailable(e @ RuntimeError::Overloaded { retry_after_s, .. }) => {
                let retry = retry_after_s.to_string();
                let body = Json(serde_json::json!({"error": e.to_string()}));
                return (StatusCode::SERVICE_UNAVAILABLE, [(axum::http::header::RETRY_AFTER, retry)], body)
                    .into_response();
            }
            AppError::Unavailable(e) => {
                tracing::error!(error = %e, "request failed on storage");
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        (status, Json(serde_json::json!({"error": self.to_string()}))).into_response()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("building the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("serving HTTP: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs `juru serve` on `listener` until `shutdown` resolves, then stops
/// accepting, drains the lanes, lets in-flight sends finish and flushes.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    start(config)?.serve(listener, shutdown).await
}

/// The store is open and the pipeline running; HTTP is not served yet.
pub struct Started {
    runtime: Arc<Runtime>,
    config: Config,
}

/// Opens the store and starts the pipeline (replaying what a previous run left).
pub fn start(config: Config) -> Result<Started, ServeError> {
    // Validated with the config: numbers typed without a country code are read in it.
    if let Err(e) = crate::channel::Phone::set_default_country(&config.bot.default_country) {
        tracing::error!(error = %e, "bot.default_country");
    }
    let store = Store::open_with_cache(&config.storage.path, config.storage.cache_mb * 1024 * 1024)?;
    let mut gateways = Gateways::from_config(&config)?;
    // The dashboard playground's replies are read from the audit trail; the
    // console channel just accepts them.
    gateways.add(std::sync::Arc::new(crate::channel::console::ConsoleSink::new(Box::new(std::io::sink()), false)));
    if config.bot.admin_chats.is_empty() {
        tracing::warn!(
            "[bot] admin_chats is empty: nobody is alerted of handovers; handed-over chats show on the dashboard \
             and go back to the bot after [sales] handover_timeout_secs"
        );
    }
    let bot = BotSettings::from_config(&config);
    let runtime = Arc::new(Runtime::start(config.clone(), bot, store, gateways)?);
    Ok(Started { runtime, config })
}

impl Started {
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Started { runtime, config } = self;
        let metrics = crate::telemetry::metrics();
        let upkeep = tokio::spawn({
            let metrics = metrics.clone();
            async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    metrics.run_upkeep();
                }
            }
        });
        let poller = (config.waha.is_active() && config.waha.label_poll_secs > 0).then(|| {
            let (runtime, every) = (runtime.clone(), Duration::from_secs(config.waha.label_poll_secs));
            // At start (catching up on what happened while down), then periodically.
            tokio::spawn(async move {
                loop {
                    if let Err(e) = runtime.resync_labels().await {
                        tracing::warn!(error = %e, "label reconciliation failed; retrying at the next poll");
                    }
                    tokio::time::sleep(every).await;
                }
            })
        });
        let handover = tokio::spawn(crate::runtime::handover::run_forever(runtime.clone()));
        let config = Arc::new(config);
        let connectors = crate::connectors::supervisor::Connectors::new(config.clone(), runtime.crm().clone());
        let supervisor = connectors.spawn();
        let state = AppState { runtime: runtime.clone(), config, metrics, connectors: connectors.clone() };
        axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await?;
        upkeep.abort();
        handover.abort();
        let _ = handover.await;
        // Unpushed records stay in the sync outbox for the next start.
        supervisor.abort();
        connectors.stop();
        if let Some(poller) = poller {
            poller.abort();
            let _ = poller.await;
        }
        tracing::info!("stopped accepting; draining lanes and outbox");
        // The router's state clones are gone once serve returned.
        match Arc::try_unwrap(runtime) {
            Ok(runtime) => runtime.shutdown(Duration::from_secs(10)).await,
            Err(runtime) => {
                tracing::warn!("runtime still shared at shutdown; flushing only");
                let _ = runtime.store().durable().await;
            }
        }
        tracing::info!("shutdown complete");
        Ok(())
    }
}
