//! HubSpot's request and answer bodies, typed. Every answer field we do not
//! strictly need is optional (`#[serde(default)]`): HubSpot adds fields
//! freely and leaves out empty ones.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// One input of `batch/upsert`: our id in a unique property.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpsertInput {
    pub id: String,
    pub id_property: &'static str,
    /// Every value a string, as HubSpot's spec types them.
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Inputs<T> {
    pub inputs: Vec<T>,
}

/// A `batch/upsert` answer (200, or 207 with `errors`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BatchAnswer {
    pub status: String,
    pub results: Vec<ObjectResult>,
    pub errors: Vec<ErrorBody>,
}

/// One record in an answer (upsert results, search results).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectResult {
    pub id: String,
    /// HubSpot answers `null` for properties without a value.
    pub properties: BTreeMap<String, Option<String>>,
    pub updated_at: Option<String>,
}

impl ObjectResult {
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name).and_then(|v| v.as_deref()).filter(|v| !v.is_empty())
    }
}

/// HubSpot's error body, whole-call (4xx/5xx) or per record in a 207.
/// Every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ErrorBody {
    pub status: String,
    pub message: String,
    pub correlation_id: String,
    pub category: String,
    pub sub_category: Option<String>,
    /// 429: `RATE_LIMIT`.
    pub error_type: String,
    /// 429: `TEN_SECONDLY_ROLLING`, `SECONDLY`, `DAILY`.
    pub policy_name: String,
    /// Per-record errors name the inputs here (`{"ids": ["6281…"]}`).
    pub context: BTreeMap<String, Vec<String>>,
    pub errors: Vec<ErrorDetail>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ErrorDetail {
    pub message: String,
    pub code: String,
    pub context: BTreeMap<String, Vec<String>>,
}

impl ErrorBody {
    /// Every id the error names, in its own context or its details'.
    pub fn context_values(&self) -> impl Iterator<Item = &str> {
        let own = self.context.values().flatten();
        let details = self.errors.iter().flat_map(|d| d.context.values().flatten());
        own.chain(details).map(String::as_str)
    }

    /// The vendor's words: the message and the first detail's code.
    pub fn describe(&self) -> String {
        let code = self.errors.iter().map(|d| d.code.as_str()).find(|c| !c.is_empty());
        let head = [Some(self.category.as_str()).filter(|c| !c.is_empty()), code].into_iter().flatten();
        let head: Vec<&str> = head.collect();
        match (head.is_empty(), self.message.is_empty()) {
            (true, _) => self.message.clone(),
            (false, true) => head.join(" "),
            (false, false) => format!("{}: {}", head.join(" "), self.message),
        }
    }
}

/// `POST /crm/properties/{v}/{type}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewProperty {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub field_type: &'static str,
    pub group_name: &'static str,
    pub has_unique_value: bool,
    pub description: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PropertyList {
    pub results: Vec<PropertyInfo>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PropertyInfo {
    pub name: String,
    pub has_unique_value: bool,
}

/// `GET /crm/pipelines/{v}/deals`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PipelineList {
    pub results: Vec<Pipeline>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Pipeline {
    pub id: String,
    pub label: String,
    pub display_order: i64,
    pub stages: Vec<PipelineStage>,
    pub archived: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PipelineStage {
    pub id: String,
    pub label: String,
    pub display_order: i64,
    pub metadata: StageMetadata,
    pub archived: bool,
}

/// HubSpot sends these as strings (`"isClosed": "false"`, `"probability": "0.2"`);
/// plain JSON booleans and numbers are read too.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StageMetadata {
    #[serde(deserialize_with = "loose_bool")]
    pub is_closed: bool,
    #[serde(deserialize_with = "loose_f64")]
    pub probability: Option<f64>,
}

fn loose_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => b,
        serde_json::Value::String(s) => s.trim().eq_ignore_ascii_case("true"),
        _ => false,
    })
}

fn loose_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// One `from → to` pair for `batch/associate/default`.
#[derive(Debug, Clone, Serialize)]
pub struct AssociationInput {
    pub from: IdRef,
    pub to: IdRef,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdRef {
    pub id: String,
}

/// `POST /crm/objects/{v}/{type}/search`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    pub filter_groups: Vec<FilterGroup>,
    pub sorts: Vec<Sort>,
    pub properties: Vec<&'static str>,
    pub limit: usize,
    /// The `paging.next.after` of the page before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FilterGroup {
    pub filters: Vec<Filter>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub property_name: &'static str,
    pub operator: &'static str,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sort {
    pub property_name: &'static str,
    pub direction: &'static str,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SearchAnswer {
    pub results: Vec<ObjectResult>,
    pub paging: Option<Paging>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Paging {
    pub next: Option<NextPage>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NextPage {
    pub after: String,
}

/// `POST /oauth/v3/token`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TokenAnswer {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Option<u64>,
}
