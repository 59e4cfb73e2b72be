//! Dataverse Web API and Microsoft Entra ID JSON as it comes over the wire,
//! and what its answers mean for the worker (crm-apis.md §6). Every field is
//! optional unless Dataverse always sends it.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::connectors::http::Answer;
use crate::connectors::{Outcome, SyncError};

/// `POST {login}/{tenant}/oauth2/v2.0/token`: a token, or Entra ID's
/// `{"error": "invalid_client", "error_description": "AADSTS7000215: …"}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenAnswer {
    pub access_token: String,
    pub expires_in: Option<u64>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Dataverse's error body: `{"error": {"code": "0x80040237", "message": "…"}}`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

impl ErrorDetail {
    /// `0x80040237: Cannot insert duplicate key.`, what the owner reads.
    pub fn describe(&self) -> String {
        match (self.code.is_empty(), self.message.is_empty()) {
            (false, false) => format!("{}: {}", self.code, self.message),
            (true, false) => self.message.clone(),
            _ => self.code.clone(),
        }
    }
}

/// The error in a body, when it holds one.
pub fn error_in(body: &[u8]) -> Option<ErrorDetail> {
    let parsed: ErrorBody = serde_json::from_slice(body).ok()?;
    (!parsed.error.code.is_empty() || !parsed.error.message.is_empty()).then_some(parsed.error)
}

/// `EntityDefinitions(LogicalName='contact')/Keys`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct KeysAnswer {
    pub value: Vec<EntityKey>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct EntityKey {
    pub logical_name: String,
    pub key_attributes: Vec<String>,
    /// `Active` once the key's index is built; `Pending`, `InProgress`, `Failed` before.
    pub entity_key_index_status: String,
}

/// The `salesstage` choice of opportunities with its options.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PicklistAnswer {
    pub option_set: OptionSet,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct OptionSet {
    pub options: Vec<OptionMetadata>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct OptionMetadata {
    pub value: i64,
    pub label: Label,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Label {
    pub user_localized_label: Option<LocalizedLabel>,
    pub localized_labels: Vec<LocalizedLabel>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct LocalizedLabel {
    pub label: String,
}

impl OptionMetadata {
    pub fn text(&self) -> String {
        self.label
            .user_localized_label
            .as_ref()
            .or(self.label.localized_labels.first())
            .map(|l| l.label.clone())
            .unwrap_or_default()
    }
}

/// A page of rows (`GET /contacts?$filter=…`), with `@odata.nextLink` while more follow.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListAnswer {
    pub value: Vec<Map<String, Value>>,
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
}

/// Dataverse's service-protection error codes (429): requests, execution
/// time, concurrency. All three carry `Retry-After`.
pub const THROTTLE_CODES: [&str; 3] = ["0x80072322", "0x80072321", "0x80072326"];
/// `If-Match` did not match: the row changed since we last saw it.
pub const VERSION_MISMATCH: u16 = 412;

/// What one operation's answer in a `$batch` means for its record.
pub fn outcome_of(status: u16, body: &[u8]) -> Outcome {
    let words = error_in(body).map(|e| e.describe()).unwrap_or_else(|| String::from_utf8_lossy(body).into());
    let reason = format!("Dynamics refused the record ({status}): {words}");
    match status {
        // Throttled or busy for this one operation, the server's own trouble: passes.
        429 | 408 | 500..=599 => Outcome::Retry { reason },
        _ => Outcome::Dead { reason },
    }
}

/// What a failed answer to a whole call means for the worker, in Dataverse's words.
pub fn classify(answer: &Answer) -> SyncError {
    let error = error_in(&answer.body);
    let words = error.as_ref().map(ErrorDetail::describe).unwrap_or_else(|| answer.snippet());
    let reason = format!("Dynamics {}: {words}", answer.status.as_u16());
    let code = error.as_ref().map(|e| e.code.as_str()).unwrap_or_default();
    match answer.status.as_u16() {
        429 => SyncError::Throttled { reason, retry_after: answer.retry_after(), daily: false },
        _ if THROTTLE_CODES.contains(&code) => {
            SyncError::Throttled { reason, retry_after: answer.retry_after(), daily: false }
        }
        401 => SyncError::Auth(format!(
            "{reason}. Check [crm.dynamics] tenant, client_id and the client secret (#crm auth --platform dynamics \
             --api-key CLIENT_SECRET)"
        )),
        // The app has a token but is no user of this environment, or lacks a privilege.
        403 => SyncError::Auth(format!(
            "{reason}. Add the app as an application user of the environment with a security role that may \
             read and write contacts, accounts, opportunities, tasks and notes (Power Platform admin center → \
             Environments → Settings → Users + permissions → Application users)"
        )),
        408 | 500..=599 => SyncError::Transient(reason),
        _ => SyncError::Permanent(reason),
    }
}

/// Requests left in the user's 5-minute window, from Dataverse's headers.
pub fn remaining(answer: &Answer) -> Option<u64> {
    answer.header("x-ms-ratelimit-burst-remaining-xrm-requests")?.trim().parse().ok()
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
    fn throttles_refusals_and_missing_roles_read_as_dataverse_means_them() {
        let a = answer(
            429,
            r#"{"error":{"code":"0x80072322","message":"Number of requests exceeded the limit of 6000 over time window of 300 seconds."}}"#,
            &[("retry-after", "7")],
        );
        assert!(matches!(classify(&a), SyncError::Throttled { retry_after: Some(d), .. } if d.as_secs() == 7));
        let a = answer(
            403,
            r#"{"error":{"code":"0x80072560","message":"The user is not a member of the organization."}}"#,
            &[],
        );
        assert!(
            matches!(classify(&a), SyncError::Auth(m) if m.contains("0x80072560") && m.contains("application user"))
        );
        let a = answer(
            400,
            r#"{"error":{"code":"0x80060888","message":"Resource not found for the segment 'contactz'."}}"#,
            &[],
        );
        assert!(matches!(classify(&a), SyncError::Permanent(m) if m.contains("contactz")));
    }

    #[test]
    fn an_operation_is_retried_or_dead() {
        let dup = br#"{"error":{"code":"0x80040237","message":"Cannot insert duplicate key."}}"#;
        assert!(matches!(outcome_of(400, dup), Outcome::Dead { reason } if reason.contains("duplicate key")));
        assert!(matches!(outcome_of(503, b""), Outcome::Retry { .. }));
    }
}
