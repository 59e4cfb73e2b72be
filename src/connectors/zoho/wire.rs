//! Zoho CRM v8 JSON as it comes over the wire, and what its answers mean
//! for the worker. Every field is optional unless Zoho always sends it.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::connectors::http::Answer;
use crate::connectors::{Outcome, SyncError};

/// `POST {accounts}/oauth/v2/token`. Zoho answers a refused grant with
/// HTTP 200 and `{"error": "invalid_code"}`, so `error` is read first.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenAnswer {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Option<u64>,
    /// The account's data-centre API host (`https://www.zohoapis.eu`).
    pub api_domain: Option<String>,
    pub error: Option<String>,
}

/// Zoho's error object: a whole call's, or one record's in `data`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct ZohoError {
    pub code: String,
    pub message: String,
    pub status: String,
    pub details: Value,
}

impl ZohoError {
    /// `CODE: message (details)`, what the owner reads.
    pub fn describe(&self) -> String {
        let details = match &self.details {
            Value::Object(m) if !m.is_empty() => format!(" {}", Value::Object(m.clone())),
            _ => String::new(),
        };
        format!("{}: {}{details}", self.code, self.message)
    }
}

/// One record's result of an upsert or insert, in request order.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct RecordResult {
    pub code: String,
    pub status: String,
    pub message: String,
    /// `insert` or `update` on success.
    pub action: Option<String>,
    pub details: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DataAnswer {
    pub data: Vec<RecordResult>,
}

/// A page of records (`GET /crm/v8/{module}`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListAnswer {
    pub data: Vec<Map<String, Value>>,
    pub info: Info,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Info {
    pub more_records: bool,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FieldsAnswer {
    pub fields: Vec<Field>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Field {
    pub api_name: String,
    /// Present (an object) when the field does not allow duplicate values.
    pub unique: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LayoutsAnswer {
    pub layouts: Vec<Layout>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Layout {
    pub id: String,
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PipelineAnswer {
    pub pipeline: Vec<Pipeline>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Pipeline {
    pub id: Option<String>,
    pub display_value: String,
    pub actual_value: String,
    pub default: Option<bool>,
    pub maps: Vec<PipelineStage>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct PipelineStage {
    pub display_value: String,
    pub actual_value: String,
    /// `Open`, `Closed Won` or `Closed Lost`.
    pub forecast_type: String,
    pub sequence_number: Option<i64>,
    // `_delete` is a flag of pipeline *updates*, not of what GET answers: not read.
}

impl PipelineStage {
    pub fn is_won(&self) -> bool {
        self.forecast_type.eq_ignore_ascii_case("closed won")
    }
    pub fn is_lost(&self) -> bool {
        self.forecast_type.eq_ignore_ascii_case("closed lost")
    }
    pub fn is_open(&self) -> bool {
        !self.is_won() && !self.is_lost()
    }
}

/// Record errors that pass: a lock, a per-record limit, Zoho's own trouble.
fn passes(code: &str) -> bool {
    matches!(code, "RECORD_LOCKED" | "LIMIT_EXCEEDED" | "TOO_MANY_REQUESTS" | "INTERNAL_ERROR" | "CANNOT_PROCESS")
}

/// What one record's result means.
pub fn outcome_of(result: &RecordResult) -> Outcome {
    if result.status.eq_ignore_ascii_case("success") || result.code == "SUCCESS" {
        return match result.details.get("id").and_then(Value::as_str) {
            Some(id) => Outcome::Done { remote_id: id.to_string() },
            None => Outcome::Retry { reason: "Zoho reported success without the record's id".into() },
        };
    }
    let error = ZohoError {
        code: result.code.clone(),
        message: result.message.clone(),
        status: result.status.clone(),
        details: result.details.clone(),
    };
    let reason = format!("Zoho refused the record: {}", error.describe());
    if passes(&result.code) { Outcome::Retry { reason } } else { Outcome::Dead { reason } }
}

/// The error of a whole call, when the body holds one.
pub fn error_of(answer: &Answer) -> Option<ZohoError> {
    let error: ZohoError = serde_json::from_slice(&answer.body).ok()?;
    (!error.code.is_empty()).then_some(error)
}

/// What a failed answer means for the worker, in Zoho's own words.
pub fn classify(answer: &Answer, now_ms: u64) -> SyncError {
    let error = error_of(answer);
    let words = error.as_ref().map(ZohoError::describe).unwrap_or_else(|| answer.snippet());
    let reason = format!("Zoho {}: {words}", answer.status.as_u16());
    let code = error.as_ref().map(|e| e.code.as_str()).unwrap_or_default();
    match (answer.status.as_u16(), code) {
        (429, _) | (_, "TOO_MANY_REQUESTS") => {
            SyncError::Throttled { reason, retry_after: answer.reset_after(now_ms), daily: false }
        }
        (_, "INVALID_TOKEN" | "AUTHENTICATION_FAILURE") | (401, _) => {
            SyncError::Auth(format!("{reason}. Authorise again: #crm auth --platform zoho --oauth"))
        }
        (_, "OAUTH_SCOPE_MISMATCH" | "NO_PERMISSION") => SyncError::Auth(format!(
            "{reason}. The grant lacks a scope: authorise again with ZohoCRM.modules.ALL and ZohoCRM.settings.ALL \
             (#crm auth --platform zoho --oauth)"
        )),
        (408 | 500..=599, _) | (_, "INTERNAL_ERROR") => SyncError::Transient(reason),
        _ => SyncError::Permanent(reason),
    }
}

/// The per-minute budget left, from Zoho's headers when it sends them.
pub fn remaining(answer: &Answer) -> Option<u64> {
    answer.header("x-ratelimit-remaining")?.trim().parse().ok()
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
    fn throttles_expired_tokens_and_refusals_read_as_zoho_means_them() {
        let a = answer(
            429,
            r#"{"code":"TOO_MANY_REQUESTS","message":"too many","status":"error"}"#,
            &[("x-ratelimit-reset", "30")],
        );
        assert!(matches!(classify(&a, 0), SyncError::Throttled { retry_after: Some(d), .. } if d.as_secs() == 30));
        let a = answer(401, r#"{"code":"INVALID_TOKEN","message":"invalid oauth token","status":"error"}"#, &[]);
        assert!(matches!(classify(&a, 0), SyncError::Auth(m) if m.contains("INVALID_TOKEN: invalid oauth token")));
        let a = answer(400, r#"{"code":"INVALID_MODULE","message":"the module name given seems to be invalid"}"#, &[]);
        assert!(matches!(classify(&a, 0), SyncError::Permanent(m) if m.contains("INVALID_MODULE")));
    }

    #[test]
    fn a_record_result_is_done_retried_or_dead() {
        let ok: RecordResult =
            serde_json::from_str(r#"{"code":"SUCCESS","status":"success","action":"insert","details":{"id":"42"}}"#)
                .unwrap();
        assert_eq!(outcome_of(&ok), Outcome::Done { remote_id: "42".into() });
        let locked: RecordResult = serde_json::from_str(r#"{"code":"RECORD_LOCKED","status":"error"}"#).unwrap();
        assert!(matches!(outcome_of(&locked), Outcome::Retry { .. }));
        let bad: RecordResult = serde_json::from_str(
            r#"{"code":"MANDATORY_NOT_FOUND","status":"error","message":"required field not found","details":{"api_name":"Last_Name"}}"#,
        )
        .unwrap();
        assert!(matches!(outcome_of(&bad), Outcome::Dead { reason } if reason.contains("Last_Name")));
    }
}
