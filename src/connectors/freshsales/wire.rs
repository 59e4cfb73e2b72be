//! Freshsales (Freshworks CRM) JSON as it comes over the wire, and what its
//! answers mean for the worker. Every field is optional unless Freshsales
//! always sends it; ids are numbers on the wire and strings here.

use serde::Deserialize;
use serde_json::Value;

use crate::connectors::SyncError;
use crate::connectors::http::Answer;

/// Freshsales' error bodies: `{"errors": {"code": 400, "message": ["…"]}}`,
/// a refused key's `{"login": "failed", "message": "…"}`, or a bare `message`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    pub errors: Option<Errors>,
    pub login: Option<String>,
    pub message: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Errors {
    pub code: Option<Value>,
    pub message: Option<Value>,
}

/// A message that is a string or a list of strings.
fn words(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Array(items) => {
            let parts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        _ => None,
    }
}

/// What Freshsales said, in its words (the body's start when it is not JSON).
pub fn vendor_words(answer: &Answer) -> String {
    let body: Option<ErrorBody> = serde_json::from_slice(&answer.body).ok();
    let said = body.and_then(|b| {
        let from_errors = b.errors.as_ref().and_then(|e| e.message.as_ref()).and_then(words);
        from_errors.or_else(|| b.message.as_ref().and_then(words))
    });
    said.unwrap_or_else(|| {
        let text = answer.snippet();
        if text.trim_start().starts_with('<') { "an HTML page, not the API".to_string() } else { text }
    })
}

/// The hourly budget left, from Freshsales' headers when it sends them.
pub fn remaining(answer: &Answer) -> Option<u64> {
    answer.header("x-ratelimit-remaining")?.trim().parse().ok()
}

/// The fix for a refused API key.
pub const KEY_FIX: &str = "Copy the API key again from Freshsales → Profile Settings → API Settings, then \
                           #crm auth --platform freshsales --api-key KEY";

/// What a failed call means for the worker, in Freshsales' own words.
pub fn classify(answer: &Answer, now_ms: u64) -> SyncError {
    let reason = format!("Freshsales {}: {}", answer.status.as_u16(), vendor_words(answer));
    match answer.status.as_u16() {
        429 => SyncError::Throttled { reason, retry_after: answer.reset_after(now_ms), daily: false },
        401 => SyncError::Auth(format!("{reason}. {KEY_FIX}")),
        403 => SyncError::Auth(format!(
            "{reason}. The API key's user may not do this: use the key of a user (an admin for field checks) \
             allowed to edit contacts, accounts and deals"
        )),
        408 | 500..=599 => SyncError::Transient(reason),
        _ => SyncError::Permanent(reason),
    }
}

/// A Freshsales id (a number, sometimes a string) as text.
pub fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// `GET /api/settings/{entity}/fields`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FieldsAnswer {
    pub fields: Vec<Field>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Field {
    pub name: String,
    pub label: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// `GET /api/selector/deal_pipelines`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PipelinesAnswer {
    pub deal_pipelines: Vec<Pipeline>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Pipeline {
    pub id: Value,
    pub name: String,
    pub is_default: Option<bool>,
}

/// `GET /api/selector/deal_stages`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StagesAnswer {
    pub deal_stages: Vec<StageRow>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct StageRow {
    pub id: Value,
    pub name: String,
    pub position: Option<i64>,
    /// `Open`, `Won` or `Lost` (older accounts: `Closed Won`, `Closed Lost`).
    pub forecast_type: Option<String>,
    pub deal_pipeline_id: Option<Value>,
}

impl StageRow {
    fn forecast(&self) -> String {
        self.forecast_type.as_deref().unwrap_or("open").to_lowercase()
    }
    pub fn is_won(&self) -> bool {
        self.forecast().contains("won")
    }
    pub fn is_lost(&self) -> bool {
        self.forecast().contains("lost")
    }
    pub fn is_open(&self) -> bool {
        !self.is_won() && !self.is_lost()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    fn answer(status: u16, body: &str, headers: &[(&'static str, &str)]) -> Answer {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, v.parse().unwrap());
        }
        Answer { status: StatusCode::from_u16(status).unwrap(), headers: map, body: body.as_bytes().to_vec() }
    }

    #[test]
    fn throttles_refused_keys_and_refusals_read_as_freshsales_means_them() {
        let a = answer(429, r#"{"errors":{"code":429,"message":["Too many requests"]}}"#, &[("retry-after", "30")]);
        assert!(matches!(classify(&a, 0), SyncError::Throttled { retry_after: Some(d), .. } if d.as_secs() == 30));
        let a = answer(401, r#"{"login":"failed","message":"Incorrect or expired API key"}"#, &[]);
        assert!(
            matches!(classify(&a, 0), SyncError::Auth(m) if m.contains("Incorrect or expired API key") && m.contains("--api-key"))
        );
        let a = answer(400, r#"{"errors":{"code":400,"message":["Deal stage is invalid"]}}"#, &[]);
        assert!(matches!(classify(&a, 0), SyncError::Permanent(m) if m.contains("Deal stage is invalid")));
        let a = answer(404, "<html><body>The page you were looking for doesn't exist</body></html>", &[]);
        assert!(matches!(classify(&a, 0), SyncError::Permanent(m) if m.contains("HTML page")));
    }
}
