//! The dashboard playground: an admin chats with the bot as a prospect would,
//! through the same pipeline as real chats (inbox, lane, sales bot, outbox),
//! in a test chat (`playground-dashboard@lid`) that is kept out of the CRM and
//! analytics, alerts no admin and makes no lead. Each answer shows the turn's
//! phase, confidence, handover and prompt version, so a prompt edit can be
//! tried before prospects see it.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::admin::require_admin;
use super::{AppError, AppState};
use crate::channel::{Channel, ChatId, Control, ControlAction, Event, Inbound};
use crate::router::TurnRecord;
use crate::runtime::audit::{AuditRecord, Direction, trail};
use crate::runtime::chat_state;
use crate::store::Store;

/// The account name playground messages arrive on (the console channel).
const ACCOUNT: &str = "playground";
/// Beyond the burst window: how long an answer (an LLM call included) may take.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Say {
    text: String,
}

#[derive(Debug, Serialize)]
pub struct PlaygroundReply {
    pub kind: String,
    pub text: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PlaygroundAnswer {
    pub chat_id: String,
    pub replies: Vec<PlaygroundReply>,
    pub turn: Option<TurnRecord>,
}

fn chat() -> ChatId {
    ChatId::playground("dashboard")
}

/// `POST /api/playground/messages` `{"text": …}`: waits for the bot's answer.
#[utoipa::path(
    post,
    path = "/api/playground/messages",
    tag = "playground",
    request_body = Say,
    responses(
        (status = 200, description = "the bot's replies to the text"),
        (status = 401, description = "admin token required")
    ),
    security(("admin_token" = []))
)]
pub async fn say(
    State(app): State<AppState>,
    headers: HeaderMap,
    Json(say): Json<Say>,
) -> Result<Json<PlaygroundAnswer>, AppError> {
    require_admin(&app, &headers)?;
    let text = say.text.trim();
    if text.is_empty() {
        return Err(AppError::BadRequest("give the message as `text`".into()));
    }
    let id = format!("playground-{}", uuid::Uuid::now_v7());
    let inbound = Inbound::text_from(Channel::Console, ACCOUNT, id.clone(), chat(), text);
    app.runtime.accept(vec![Event::Message(Box::new(inbound))]).await?;
    let burst = Duration::from_millis(app.config.sales.coalesce_ms);
    let deadline = tokio::time::Instant::now() + burst + ANSWER_WITHIN;
    loop {
        let store = app.runtime.store().clone();
        let key = chat().key();
        let (found, waiting) = (id.clone(), key.clone());
        // A text collected into a burst is answered by the burst's turn.
        let burst_answers = app.config.sales.enabled && app.config.sales.coalesce_ms > 0;
        let answer = tokio::task::spawn_blocking(move || answer_to(&store, &waiting, &found, burst_answers))
            .await
            .map_err(|e| AppError::BadRequest(e.to_string()))?;
        if let Some((replies, turn)) = answer {
            return Ok(Json(PlaygroundAnswer { chat_id: key, replies, turn }));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(AppError::Timeout(format!(
                "the bot did not answer within {} s; see GET /api/conversations/{key}",
                (burst + ANSWER_WITHIN).as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The replies to message `id` once its turn is done (a burst answered too).
fn answer_to(
    store: &Store,
    chat: &str,
    id: &str,
    burst_answers: bool,
) -> Option<(Vec<PlaygroundReply>, Option<TurnRecord>)> {
    let state = chat_state(store, chat).ok()??;
    if state.pending.is_some() {
        return None;
    }
    // Newest first, back to the message: everything after it is its answer.
    let mut after = Vec::new();
    for record in trail(store, chat).rev() {
        let record = record.ok()?;
        if record.direction == Direction::In && record.message_id.as_deref() == Some(id) {
            let turn = after.iter().rev().find_map(|r: &AuditRecord| r.turn.clone()).or(record.turn);
            // The state and the trail are two reads: a message handled between
            // them shows here without its burst's answer yet.
            if burst_answers && turn.is_none() && record.route.as_deref() == Some("conversation") {
                return None;
            }
            let replies = after
                .into_iter()
                .rev()
                .filter(|r| r.direction == Direction::Out && !matches!(r.kind.as_str(), "typing" | "seen"))
                .map(|r| PlaygroundReply { kind: r.kind, text: r.text, url: r.url })
                .collect();
            return Some((replies, turn));
        }
        after.push(record);
    }
    None
}

/// `POST /api/playground/reset`: the playground conversation starts afresh.
#[utoipa::path(
    post,
    path = "/api/playground/reset",
    tag = "playground",
    responses(
        (status = 200, description = "the playground conversation starts afresh"),
        (status = 401, description = "admin token required")
    ),
    security(("admin_token" = []))
)]
pub async fn reset(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, AppError> {
    require_admin(&app, &headers)?;
    let control = Control {
        id: uuid::Uuid::now_v7().to_string(),
        chat: chat(),
        by: "dashboard".into(),
        action: ControlAction::Reset,
    };
    app.runtime.accept(vec![Event::Control(control)]).await?;
    Ok(Json(json!({"chat_id": chat().key(), "reset": true})))
}
