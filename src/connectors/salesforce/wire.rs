//! What Salesforce answers, typed, and what an answer means for the worker:
//! the error array, per-record save results, describe, SOQL pages, the
//! `Sforce-Limit-Info` header, and the classification into [`SyncError`] /
//! [`Outcome`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::connectors::http::Answer;
use crate::connectors::{Outcome, SyncError};

/// How long to wait before asking again once the org's daily allocation is
/// used up: it is a rolling 24 h count, so capacity comes back gradually.
pub const DAILY_RECHECK: Duration = Duration::from_secs(15 * 60);
/// Too many concurrent long-running requests clears within seconds.
pub const CONCURRENT_RETRY: Duration = Duration::from_secs(10);

/// One entry of Salesforce's error array (`[{message, errorCode, fields}]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ApiError {
    pub message: String,
    pub error_code: String,
    pub fields: Vec<String>,
}

/// The error array of a failed answer (empty when the body is not one).
pub fn api_errors(answer: &Answer) -> Vec<ApiError> {
    serde_json::from_slice(&answer.body).unwrap_or_default()
}

/// `errorCode: message; errorCode: message`, or the body's start.
fn describe_errors(answer: &Answer) -> String {
    let errors = api_errors(answer);
    if errors.is_empty() {
        return format!("{}: {}", answer.status.as_u16(), answer.snippet());
    }
    errors.iter().map(|e| format!("{}: {}", e.error_code, e.message)).collect::<Vec<_>>().join("; ")
}

/// What a non-2xx REST answer means. 403 is throttling only with
/// `REQUEST_LIMIT_EXCEEDED` (daily when the message names TotalRequests,
/// otherwise the concurrent-request limit); any other 403 is a permission
/// problem. 401 reaches here only after the one token renewal failed.
pub fn classify(answer: &Answer) -> SyncError {
    let errors = api_errors(answer);
    let reason = describe_errors(answer);
    let limit = errors.iter().find(|e| e.error_code == "REQUEST_LIMIT_EXCEEDED");
    match answer.status.as_u16() {
        403 if limit.is_some() => {
            let daily = limit.is_some_and(|e| e.message.contains("TotalRequests"));
            let fallback = if daily { DAILY_RECHECK } else { CONCURRENT_RETRY };
            SyncError::Throttled { reason, retry_after: Some(answer.retry_after().unwrap_or(fallback)), daily }
        }
        401 => SyncError::Auth(reason),
        300 => SyncError::Permanent(format!("several records carry this external id: {reason}")),
        408 | 500..=599 => SyncError::Transient(reason),
        429 => SyncError::Throttled { reason, retry_after: answer.retry_after(), daily: false },
        _ => SyncError::Permanent(reason),
    }
}

/// A 401 that a fresh token can cure (`INVALID_SESSION_ID`, or no body).
pub fn is_expired_session(answer: &Answer) -> bool {
    answer.status.as_u16() == 401 && {
        let errors = api_errors(answer);
        errors.is_empty() || errors.iter().any(|e| e.error_code == "INVALID_SESSION_ID")
    }
}

/// `Sforce-Limit-Info: api-usage=18/15000` (possibly with `api-bursts=…`).
pub fn api_usage(header: &str) -> Option<(u64, u64)> {
    header.split([',', ';']).find_map(|part| {
        let (used, max) = part.trim().strip_prefix("api-usage=")?.split_once('/')?;
        Some((used.trim().parse().ok()?, max.trim().parse().ok()?))
    })
}

/// One record's result in an sObject Collections answer (request order).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SaveResult {
    pub id: Option<String>,
    pub success: bool,
    pub created: Option<bool>,
    pub errors: Vec<SaveError>,
}

/// An OpportunityContactRole row: which contact plays a part in which deal.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ContactRole {
    #[serde(rename = "OpportunityId")]
    pub opportunity_id: String,
    #[serde(rename = "ContactId")]
    pub contact_id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SaveError {
    pub status_code: String,
    pub message: String,
    pub fields: Vec<String>,
}

/// Per-record codes that pass: a locked parent row, a busy org. Everything
/// else (validation, duplicates, restricted picklists, several records with
/// our id) is refused for good.
const RETRYABLE: [&str; 3] = ["UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE"];

/// What became of one record.
pub fn outcome_of(result: &SaveResult) -> Outcome {
    if result.success {
        return match &result.id {
            Some(id) if !id.is_empty() => Outcome::Done { remote_id: id.clone() },
            _ => Outcome::Retry { reason: "Salesforce saved the record but returned no id".into() },
        };
    }
    let reason = if result.errors.is_empty() {
        "Salesforce refused the record without saying why".to_string()
    } else {
        result
            .errors
            .iter()
            .map(|e| match e.fields.is_empty() {
                true => format!("{}: {}", e.status_code, e.message),
                false => format!("{}: {} ({})", e.status_code, e.message, e.fields.join(", ")),
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let passing = result.errors.iter().any(|e| RETRYABLE.contains(&e.status_code.as_str()));
    // A lookup by external id whose parent is not there yet (pushed in the
    // same batch, or still waiting): it may be there next time.
    let missing_parent = result.errors.iter().any(|e| e.message.starts_with("Foreign key external ID"));
    if passing || missing_parent { Outcome::Retry { reason } } else { Outcome::Dead { reason } }
}

/// Salesforce refused the `StageName` we mapped: the cached catalogue is stale.
pub fn is_stale_stage(result: &SaveResult) -> bool {
    result.errors.iter().any(|e| {
        e.status_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
            && (e.fields.iter().any(|f| f == "StageName") || e.message.starts_with("Stage"))
    })
}

/// `GET /sobjects/{SObject}/describe`, the part we read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Describe {
    pub fields: Vec<FieldInfo>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FieldInfo {
    pub name: String,
    pub external_id: bool,
    pub unique: bool,
}

/// One page of a SOQL query.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPage<T> {
    #[serde(default)]
    pub done: bool,
    #[serde(default)]
    pub next_records_url: Option<String>,
    #[serde(default = "Vec::new")]
    pub records: Vec<T>,
}

/// A row of `OpportunityStage`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct StageRow {
    #[serde(rename = "ApiName")]
    pub api_name: String,
    #[serde(rename = "MasterLabel")]
    pub label: String,
    #[serde(rename = "IsClosed")]
    pub is_closed: bool,
    #[serde(rename = "IsWon")]
    pub is_won: bool,
    #[serde(rename = "DefaultProbability")]
    pub probability: Option<f64>,
}

/// A scalar field of a queried record; objects (attributes, parents) are skipped.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Text(String),
    Number(f64),
    Flag(bool),
    Other(serde::de::IgnoredAny),
}

/// A queried record of any synced object: the fields pull reads, plus the
/// rest by name (the External ID field's name is configured).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Row {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "SystemModstamp")]
    pub modstamp: String,
    #[serde(rename = "Name")]
    pub name: Option<String>,
    #[serde(rename = "Email")]
    pub email: Option<String>,
    #[serde(rename = "Phone")]
    pub phone: Option<String>,
    #[serde(rename = "MobilePhone")]
    pub mobile: Option<String>,
    #[serde(rename = "Amount")]
    pub amount: Option<f64>,
    #[serde(rename = "StageName")]
    pub stage: Option<String>,
    #[serde(rename = "Subject")]
    pub subject: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Option<Scalar>>,
}

impl Row {
    /// A text field by name (our id in the External ID field).
    pub fn text(&self, field: &str) -> Option<&str> {
        match self.other.get(field) {
            Some(Some(Scalar::Text(s))) if !s.is_empty() => Some(s),
            _ => None,
        }
    }
}

/// The token endpoint's answer (all grants).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TokenAnswer {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub instance_url: Option<String>,
    /// Not sent by Salesforce today (session length is an org setting), read if it comes.
    pub expires_in: Option<u64>,
}

/// The token endpoint's refusal (`{error, error_description}`, OAuth style).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TokenRefusal {
    pub error: String,
    pub error_description: String,
}

/// A failed token request: refused grants need the owner; the rest passes.
pub fn classify_token_error(answer: &Answer) -> SyncError {
    let status = answer.status.as_u16();
    let refusal: TokenRefusal = serde_json::from_slice(&answer.body).unwrap_or_default();
    let reason = match refusal.error.is_empty() {
        true => format!("token request failed ({status}): {}", answer.snippet()),
        false => format!("token request refused ({status}): {}: {}", refusal.error, refusal.error_description),
    };
    match status {
        408 | 429 | 500..=599 => SyncError::Transient(reason),
        _ => SyncError::Auth(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    fn answer(status: u16, body: &str) -> Answer {
        Answer { status: StatusCode::from_u16(status).unwrap(), headers: HeaderMap::new(), body: body.into() }
    }

    #[test]
    fn the_daily_allocation_is_a_daily_throttle_and_the_concurrent_limit_a_short_one() {
        let daily =
            answer(403, r#"[{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"TotalRequests Limit exceeded."}]"#);
        assert!(
            matches!(classify(&daily), SyncError::Throttled { daily: true, retry_after: Some(d), .. } if d == DAILY_RECHECK)
        );
        let concurrent = answer(
            403,
            r#"[{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"ConcurrentRequests (Concurrent API Requests) Limit exceeded."}]"#,
        );
        assert!(
            matches!(classify(&concurrent), SyncError::Throttled { daily: false, retry_after: Some(d), .. } if d == CONCURRENT_RETRY)
        );
    }

    #[test]
    fn other_403s_are_permission_errors_and_503_passes() {
        let forbidden = answer(403, r#"[{"errorCode":"INSUFFICIENT_ACCESS","message":"no access"}]"#);
        assert_eq!(classify(&forbidden), SyncError::Permanent("INSUFFICIENT_ACCESS: no access".into()));
        assert!(matches!(classify(&answer(503, "<html>down</html>")), SyncError::Transient(_)));
        assert!(matches!(classify(&answer(401, "[]")), SyncError::Auth(_)));
        assert!(
            matches!(classify(&answer(400, r#"[{"errorCode":"INVALID_FIELD","message":"x"}]"#)), SyncError::Permanent(m) if m.contains("INVALID_FIELD"))
        );
    }

    #[test]
    fn an_expired_session_is_told_apart_from_other_401s() {
        assert!(is_expired_session(&answer(
            401,
            r#"[{"errorCode":"INVALID_SESSION_ID","message":"Session expired or invalid"}]"#
        )));
        assert!(!is_expired_session(&answer(401, r#"[{"errorCode":"INVALID_AUTH_HEADER","message":"x"}]"#)));
        assert!(!is_expired_session(&answer(403, "[]")));
    }

    #[test]
    fn limit_info_reads_the_api_usage() {
        assert_eq!(api_usage("api-usage=18/15000"), Some((18, 15000)));
        assert_eq!(api_usage("api-bursts=1/750, api-usage=15000/15000"), Some((15000, 15000)));
        assert_eq!(api_usage("per-app-api-usage=1/2"), None);
        assert_eq!(api_usage("api-usage=x/1"), None);
    }

    fn failed(code: &str, message: &str) -> SaveResult {
        SaveResult {
            success: false,
            errors: vec![SaveError { status_code: code.into(), message: message.into(), fields: vec![] }],
            ..SaveResult::default()
        }
    }

    #[test]
    fn per_record_results_become_outcomes() {
        let ok = SaveResult { id: Some("003A".into()), success: true, created: Some(true), errors: vec![] };
        assert_eq!(outcome_of(&ok), Outcome::Done { remote_id: "003A".into() });
        assert!(matches!(outcome_of(&failed("UNABLE_TO_LOCK_ROW", "locked")), Outcome::Retry { .. }));
        assert_eq!(
            outcome_of(&failed("DUPLICATE_VALUE", "duplicate value found: WA_Id__c")),
            Outcome::Dead { reason: "DUPLICATE_VALUE: duplicate value found: WA_Id__c".into() }
        );
        for code in [
            "DUPLICATES_DETECTED",
            "REQUIRED_FIELD_MISSING",
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "DUPLICATE_EXTERNAL_ID",
        ] {
            assert!(matches!(outcome_of(&failed(code, "no")), Outcome::Dead { .. }), "{code}");
        }
        let parent =
            failed("INVALID_FIELD", "Foreign key external ID: kopi not found for field WA_Id__c in entity Account");
        assert!(matches!(outcome_of(&parent), Outcome::Retry { .. }));
    }

    #[test]
    fn a_refused_stage_name_marks_the_catalogue_stale() {
        let mut refused =
            failed("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Stage: bad value for restricted picklist field: X");
        assert!(is_stale_stage(&refused));
        refused.errors[0].message = "Lead Source: bad value".into();
        assert!(!is_stale_stage(&refused));
        assert!(!is_stale_stage(&failed("REQUIRED_FIELD_MISSING", "Stage")));
    }

    #[test]
    fn a_queried_row_gives_our_id_by_the_configured_field_name() {
        let row: Row = serde_json::from_str(
            r#"{"attributes":{"type":"Contact","url":"/x"},"Id":"003A","Name":"Budi","WA_Id__c":"62812","Amount":null,"SystemModstamp":"2026-11-24T01:02:03.000+0000","Account":{"WA_Id__c":"k"}}"#,
        )
        .unwrap();
        assert_eq!(row.text("WA_Id__c"), Some("62812"));
        assert_eq!(row.name.as_deref(), Some("Budi"));
        assert_eq!(row.text("Other__c"), None);
    }
}
