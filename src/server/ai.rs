//! The users' AI contract: a dry run of one turn, and prompt edits.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin::require_admin;
use super::{AppError, AppState};
use crate::channel::{Channel, ChatId, Inbound, OutBody, Phone};
use crate::sales::prompts::{Prompts, file_of};
use crate::sales::{ChatState, Phase};

#[derive(Deserialize)]
pub struct ProcessMessage {
    phone: String,
    message: String,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    current_phase: Option<Phase>,
}

/// `POST /api/ai/process-message`: what the bot would answer, without sending or storing anything.
pub async fn process_message(
    State(app): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<ProcessMessage>,
) -> Result<Json<Value>, AppError> {
    require_admin(&app, &headers)?;
    let phone = Phone::parse(&req.phone)
        .ok_or_else(|| AppError::BadRequest(format!("`{}` is not a phone number", req.phone)))?;
    let chat = ChatId::Phone(phone);
    let id = req.conversation_id.clone().unwrap_or_else(|| "dry-run".into());
    let inbound = Inbound::text_from(Channel::Console, "dry-run", id, chat, &req.message);
    let state = ChatState { phase: req.current_phase.unwrap_or_default(), inbound_count: 1, ..ChatState::default() };
    let effects = app.runtime.sales().turn(&inbound, &state, &[]).await;
    let text = effects.texts().first().map(|t| t.to_string());
    let media: Vec<Value> = effects
        .outgoing()
        .filter_map(|o| match &o.body {
            OutBody::Image { url, .. } => Some(json!({"type": "image", "url": url})),
            OutBody::Document { url, .. } => Some(json!({"type": "document", "url": url})),
            OutBody::Video { url, .. } => Some(json!({"type": "video", "url": url})),
            _ => None,
        })
        .collect();
    let phase = effects.state.as_ref().map(|s| s.phase).unwrap_or(state.phase);
    let turn = effects.audit.turn.as_ref();
    Ok(Json(json!({
        "response_text": text,
        "media_to_send": media,
        "new_phase": phase,
        "confidence": turn.map(|t| &t.confidence),
        "should_escalate": turn.map(|t| &t.handover),
        "escalation_reason": turn.map(|t| &t.handover_reason),
        "intent": turn.map(|t| &t.intent),
        "prompt_version": turn.map(|t| &t.prompt_version),
    })))
}

#[derive(Deserialize)]
pub struct PromptUpdate {
    prompt_type: String,
    content: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    updated_by: Option<String>,
}

/// `PUT /api/ai/prompts`: validates the whole set with the edit, writes the
/// file atomically (keeping the old one in `.history/`), applies it at once.
pub async fn update_prompt(
    State(app): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<PromptUpdate>,
) -> Result<Json<Value>, AppError> {
    require_admin(&app, &headers)?;
    let file = file_of(&req.prompt_type).ok_or_else(|| {
        AppError::BadRequest(format!(
            "unknown prompt_type `{}` (base, company, rules, escalation, leads, interest, booking, packages)",
            req.prompt_type
        ))
    })?;
    let store = &app.runtime.sales().prompts;
    let dir = store.dir().to_path_buf();
    let by = req.updated_by.unwrap_or_else(|| "api".into());
    let content = req.content;
    let written = tokio::task::spawn_blocking(move || Prompts::write(&dir, file, &content, &by))
        .await
        .map_err(|e| AppError::BadRequest(e.to_string()))?
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let live = store.reload().map_err(|e| AppError::BadRequest(e.to_string()))?;
    tracing::info!(file, version = %live, requested = ?req.version, "prompt updated through the API");
    Ok(Json(json!({"prompt_type": req.prompt_type, "file": file, "version": live, "validated_version": written})))
}
