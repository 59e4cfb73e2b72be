//! The users' AI contract: a dry run of one turn, and prompt edits.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin::{chat_id, require_admin};
use super::{AppError, AppState};
use crate::channel::{Channel, ChatId, Inbound, OutBody, Phone};
use crate::sales::prompts::{Prompts, file_of};
use crate::sales::{ChatState, Phase};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ProcessMessage {
    /// Optional when `conversation_id` names the chat.
    #[serde(default)]
    phone: Option<String>,
    message: String,
    /// The chat's id or the dashboard's `conversation_url`: the turn starts
    /// from that conversation's stored state.
    #[serde(default)]
    conversation_id: Option<String>,
    /// leads, interest or booking (default: the conversation's, or leads).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    current_phase: Option<Phase>,
}

/// `POST /api/ai/process-message`: what the bot would answer, without sending or storing anything.
#[utoipa::path(
    post,
    path = "/api/ai/process-message",
    tag = "ai",
    request_body = ProcessMessage,
    responses(
        (status = 200, description = "response_text, media_to_send, new_phase, confidence, should_escalate, prompt_version"),
        (status = 400, description = "no phone or conversation_id, or not a phone number"),
        (status = 401, description = "admin token required")
    ),
    security(("admin_token" = []))
)]
pub async fn process_message(
    State(app): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<ProcessMessage>,
) -> Result<Json<Value>, AppError> {
    require_admin(&app, &headers)?;
    let chat = match (&req.phone, &req.conversation_id) {
        (Some(phone), _) => ChatId::Phone(
            Phone::typed(phone).ok_or_else(|| AppError::BadRequest(format!("`{phone}` is not a phone number")))?,
        ),
        (None, Some(id)) => chat_id(id)?,
        (None, None) => return Err(AppError::BadRequest("give phone or conversation_id".into())),
    };
    let stored = match &req.conversation_id {
        Some(_) => app.runtime.chat_state(&chat)?,
        None => None,
    };
    let id = req.conversation_id.clone().unwrap_or_else(|| "dry-run".into());
    let inbound = Inbound::text_from(Channel::Console, "dry-run", id, chat, &req.message);
    let mut state = stored.unwrap_or(ChatState { inbound_count: 1, ..ChatState::default() });
    if let Some(phase) = req.current_phase {
        state.phase = phase;
    }
    // A dry run: its effects (a seat hold among them) are never committed.
    let seats = app.runtime.crm().seat_view(crate::clock::now_ms());
    let effects = app.runtime.sales().turn(&inbound, &state, &[], &seats).await;
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

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PromptUpdate {
    prompt_type: String,
    content: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    updated_by: Option<String>,
}

/// PUT /api/ai/prompts: edit one prompt file.
///
/// Validates the whole set with the edit, writes the file atomically (keeping
/// the old one in `.history/`) and applies it at once. A `version` is declared
/// in base.md, so it names the prompt set every reply records.
#[utoipa::path(
    put,
    path = "/api/ai/prompts",
    tag = "ai",
    request_body = PromptUpdate,
    responses(
        (status = 200, description = "`version`: the declared version with the content hash beside it (`2.0+1a2b…`)"),
        (status = 400, description = "unknown prompt_type, or the edited set does not validate (nothing written)"),
        (status = 401, description = "admin token required")
    ),
    security(("admin_token" = []))
)]
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
    let base = file_of("base").unwrap_or("base.md");
    let version = req.version.clone();
    let content = match &version {
        Some(v) if file == base => with_version(&req.content, v),
        _ => req.content,
    };
    let written = tokio::task::spawn_blocking(move || -> Result<String, String> {
        let mut written = Prompts::write(&dir, file, &content, &by).map_err(|e| e.to_string())?;
        // The set's version is declared in base.md: an edit of another file
        // that names a version declares it there too.
        if let Some(v) = version.filter(|_| file != base) {
            let text = std::fs::read_to_string(dir.join(base)).map_err(|e| e.to_string())?;
            let declared = with_version(&text, &v);
            if declared != text {
                written = Prompts::write(&dir, base, &declared, &by).map_err(|e| e.to_string())?;
            }
        }
        Ok(written)
    })
    .await
    .map_err(|e| AppError::BadRequest(e.to_string()))?
    .map_err(AppError::BadRequest)?;
    let live = store.reload().map_err(|e| AppError::BadRequest(e.to_string()))?;
    tracing::info!(file, version = %live, requested = ?req.version, "prompt updated through the API");
    let (declared, hash) = live.split_once('+').map_or((None, live.as_str()), |(v, h)| (Some(v), h));
    Ok(Json(json!({
        "prompt_type": req.prompt_type,
        "file": file,
        "version": live,
        "declared_version": declared,
        "content_hash": hash,
        "validated_version": written,
    })))
}

/// `text` with `version: {version}` in its front matter (added when it has none).
fn with_version(text: &str, version: &str) -> String {
    let line = format!("version: {}", version.trim());
    if let Some(rest) = text.strip_prefix("---\n")
        && let Some(end) = rest.find("\n---")
    {
        let mut lines: Vec<&str> =
            rest[..end].lines().filter(|l| l.split(':').next().map(str::trim) != Some("version")).collect();
        lines.insert(0, &line);
        return format!("---\n{}{}", lines.join("\n"), &rest[end..]);
    }
    format!("---\n{line}\n---\n{text}")
}

#[cfg(test)]
mod tests {
    use super::with_version;

    #[test]
    fn a_version_replaces_the_declared_one_or_is_added() {
        assert_eq!(with_version("---\nversion: 1\nby: x\n---\nHi\n", "2.0"), "---\nversion: 2.0\nby: x\n---\nHi\n");
        assert_eq!(with_version("Hi\n", "2.0"), "---\nversion: 2.0\n---\nHi\n");
    }
}
