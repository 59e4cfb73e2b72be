//! `POST /api/marketing/leads` (record a lead by hand) and `GET /api/marketing/leads`.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin::require_admin;
use super::{AppError, AppState};
use crate::channel::Phone;
use crate::runtime::now_ms;
use crate::sales::lead::LeadRecord;
use crate::store::{TreeName, decode};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewLead {
    phone: String,
    name: Option<String>,
    #[serde(default)]
    phase: Option<String>,
    interested_package: Option<String>,
    source: Option<String>,
    /// What the conversation was about (the AI's summary, as the users' contract sends it).
    conversation_summary: Option<String>,
    /// 0.0 to 1.0.
    ai_confidence: Option<f64>,
    notes: Option<String>,
    created_by: Option<String>,
}

/// POST /api/marketing/leads: record a lead (as the AI or a person does).
#[utoipa::path(
    post,
    path = "/api/marketing/leads",
    tag = "marketing",
    request_body = NewLead,
    responses(
        (status = 200, description = "the stored lead, merged with what was known"),
        (status = 400, description = "bad phone, phase, package or ai_confidence"),
        (status = 401, description = "admin token required")
    ),
    security(("admin_token" = []))
)]
pub async fn create(
    State(app): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<NewLead>,
) -> Result<Json<Value>, AppError> {
    require_admin(&app, &headers)?;
    let phone = Phone::typed(&req.phone)
        .ok_or_else(|| AppError::BadRequest(format!("`{}` is not a phone number", req.phone)))?;
    let phase = req.phase.unwrap_or_else(|| "leads".into());
    if !["leads", "interest", "booking"].contains(&phase.as_str()) {
        return Err(AppError::BadRequest(format!("phase `{phase}` is not leads, interest or booking")));
    }
    if let Some(code) = &req.interested_package
        && app.runtime.sales().prompts.current().catalog.get(code).is_none()
    {
        return Err(AppError::BadRequest(format!("package `{code}` is not in the catalog")));
    }
    if let Some(c) = req.ai_confidence
        && !(0.0..=1.0).contains(&c)
    {
        return Err(AppError::BadRequest(format!("ai_confidence {c} is not between 0 and 1")));
    }
    let now = now_ms();
    let lead = LeadRecord {
        phone: phone.to_string(),
        name: req.name,
        phase,
        interested_package: req.interested_package,
        conversation_summary: req.conversation_summary.unwrap_or_default(),
        source: req.source,
        ai_confidence: req.ai_confidence,
        handover_reason: None,
        receipt_url: None,
        notes: req.notes,
        created_by: req.created_by.unwrap_or_else(|| "api".into()),
        created_ms: now,
        updated_ms: now,
    };
    let stored = app.runtime.upsert_lead(lead).await?;
    Ok(Json(json!({"lead": stored})))
}

/// GET /api/marketing/leads: every lead.
#[utoipa::path(
    get,
    path = "/api/marketing/leads",
    tag = "marketing",
    responses(
        (status = 200, description = "`leads`: every lead record"),
        (status = 401, description = "admin token required")
    ),
    security(("admin_token" = []))
)]
pub async fn list(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, AppError> {
    require_admin(&app, &headers)?;
    let store = app.runtime.store().clone();
    let all = tokio::task::spawn_blocking(move || {
        store
            .read(TreeName::Leads)
            .iter()
            .filter_map(|kv| kv.ok())
            .filter_map(|(_, v)| decode::<LeadRecord>(&v).ok())
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| AppError::BadRequest(e.to_string()))?;
    Ok(Json(json!({"leads": all})))
}
