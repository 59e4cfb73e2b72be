//! Pipedrive's answers as typed structs (only the fields we read), and the
//! request bodies we build from local records. Pure: no HTTP here.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::crm::activity::{Activity, ActivityType};
use crate::crm::company::Company;
use crate::crm::contact::Contact;
use crate::crm::deal::Deal;
use crate::crm::settings::FieldMapping;

/// Every Pipedrive answer: `{success, data, additional_data}` or
/// `{success: false, error, error_info}`.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Envelope<T> {
    pub success: bool,
    pub data: Option<T>,
    pub additional_data: Option<AdditionalData>,
    pub error: Option<String>,
    pub error_info: Option<String>,
}

impl<T> Default for Envelope<T> {
    fn default() -> Self {
        Envelope { success: false, data: None, additional_data: None, error: None, error_info: None }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AdditionalData {
    /// v2 cursor pagination.
    pub next_cursor: Option<String>,
    /// v1 offset pagination.
    pub pagination: Option<Pagination>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Pagination {
    pub more_items_in_collection: bool,
    pub next_start: Option<u64>,
}

/// The vendor's own wording of a refusal: `error (error_info)`.
pub fn error_message(body: &[u8]) -> Option<String> {
    let e: Envelope<serde::de::IgnoredAny> = serde_json::from_slice(body).ok()?;
    let error = e.error.filter(|s| !s.is_empty())?;
    Some(match e.error_info.filter(|s| !s.is_empty()) {
        Some(info) => format!("{error} ({info})"),
        None => error,
    })
}

/// A person/organization/deal field (v2 `…Fields`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Field {
    pub field_name: String,
    /// The 40-char hash key custom fields are written under.
    pub field_code: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Pipeline {
    pub id: u64,
    pub name: String,
    pub order_nr: i64,
    pub is_deleted: bool,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct StageItem {
    pub id: u64,
    pub order_nr: i64,
    pub name: String,
    pub is_deleted: bool,
    pub pipeline_id: u64,
}

/// Any record's id (create/update answers, list rows).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Id {
    pub id: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchData {
    pub items: Vec<SearchHit>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchHit {
    pub item: Id,
}

/// An activity row, for finding ours by the marker in its subject.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActivityRow {
    pub id: u64,
    pub subject: Option<String>,
}

/// A v1 note row, for finding ours by the marker in its content.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NoteRow {
    pub id: u64,
    pub content: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Entry {
    pub value: Option<String>,
    pub primary: bool,
}

/// A custom field's value: ours is text; others are read over.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum CustomValue {
    Text(String),
    Other(serde::de::IgnoredAny),
}

/// A person, organization or deal as list and webhook answers give it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RemoteRecord {
    pub id: u64,
    pub name: Option<String>,
    pub title: Option<String>,
    pub value: Option<f64>,
    pub status: Option<String>,
    pub stage_id: Option<u64>,
    pub emails: Vec<Entry>,
    pub phones: Vec<Entry>,
    pub update_time: Option<String>,
    pub custom_fields: HashMap<String, CustomValue>,
}

impl RemoteRecord {
    pub fn text_field(&self, key: &str) -> Option<String> {
        match self.custom_fields.get(key)? {
            CustomValue::Text(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        }
    }
}

pub fn primary(entries: &[Entry]) -> Option<String> {
    entries.iter().find(|e| e.primary).or(entries.first()).and_then(|e| e.value.clone()).filter(|v| !v.is_empty())
}

/// An OAuth token answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenAnswer {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Option<u64>,
    pub api_domain: Option<String>,
}

/// The marker our activities and notes carry, so an unsure one is found again.
pub fn marker(local_id: &str) -> String {
    format!("[juru {local_id}]")
}

/// Links resolved to Pipedrive ids.
#[derive(Debug, Default, Clone, Copy)]
pub struct Links {
    pub person_id: Option<u64>,
    pub org_id: Option<u64>,
    pub deal_id: Option<u64>,
}

fn custom_fields(id_key: &str, local_id: &str, extra: Map<String, Value>) -> Value {
    let mut fields = extra;
    fields.insert(id_key.to_string(), Value::String(local_id.to_string()));
    Value::Object(fields)
}

/// The contact's mapped fields (`mapping`: local name → Pipedrive custom
/// field key), read by name from its serde form.
pub fn mapped_fields(contact: &Contact, mapping: &FieldMapping) -> Map<String, Value> {
    let Ok(Value::Object(local)) = serde_json::to_value(contact) else { return Map::new() };
    let mut out = Map::new();
    for (local_name, remote) in mapping {
        let value = match local.get(local_name) {
            None | Some(Value::Null) => continue,
            // Pipedrive text fields take one string: lists are joined.
            Some(Value::Array(items)) => Value::String(
                items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Some(Value::Bool(b)) => Value::String(if *b { "yes" } else { "no" }.into()),
            Some(Value::Object(_)) => continue,
            Some(v) => v.clone(),
        };
        out.insert(remote.clone(), value);
    }
    out
}

pub fn person_body(contact: &Contact, org_id: Option<u64>, id_key: &str, mapping: &FieldMapping) -> Value {
    let mut body = json!({
        "name": contact.display_name(),
        "custom_fields": custom_fields(id_key, &contact.key, mapped_fields(contact, mapping)),
    });
    if let Some(phone) = contact.phone.as_deref().filter(|p| !p.is_empty()) {
        body["phones"] =
            json!([{"value": format!("+{}", phone.trim_start_matches('+')), "primary": true, "label": "mobile"}]);
    }
    if let Some(email) = contact.email.as_deref().filter(|e| !e.is_empty()) {
        body["emails"] = json!([{"value": email, "primary": true, "label": "work"}]);
    }
    if let Some(org) = org_id {
        body["org_id"] = json!(org);
    }
    body
}

pub fn organization_body(company: &Company, id_key: &str) -> Value {
    json!({"name": company.name, "custom_fields": custom_fields(id_key, &company.id, Map::new())})
}

/// Where a deal goes: an open stage, or won/lost with the stage it left from.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub stage_id: Option<u64>,
    pub status: &'static str,
    pub lost_reason: Option<String>,
}

pub fn deal_body(deal: &Deal, links: Links, placement: &Placement, id_key: &str) -> Value {
    let mut body = json!({
        "title": deal.title,
        "value": deal.value,
        "currency": "IDR",
        "status": placement.status,
        "custom_fields": custom_fields(id_key, &deal.label(), Map::new()),
    });
    if let Some(stage) = placement.stage_id {
        body["stage_id"] = json!(stage);
    }
    if let Some(reason) = &placement.lost_reason {
        body["lost_reason"] = json!(reason);
    }
    if let Some(p) = links.person_id {
        body["person_id"] = json!(p);
    }
    if let Some(o) = links.org_id {
        body["org_id"] = json!(o);
    }
    body
}

/// Pipedrive's built-in activity types closest to ours.
pub fn activity_type(kind: ActivityType) -> &'static str {
    match kind {
        ActivityType::Call => "call",
        ActivityType::Meeting | ActivityType::Visit => "meeting",
        ActivityType::Email => "email",
        _ => "task",
    }
}

fn snake_words(value: &impl serde::Serialize) -> String {
    crate::crm::contact::name_of(value).replace('_', " ")
}

/// `Call: interested — send the quote [juru A12]`.
pub fn activity_subject(a: &Activity) -> String {
    let mut subject = snake_words(&a.kind);
    if let Some(first) = subject.get(..1) {
        subject = first.to_uppercase() + subject.get(1..).unwrap_or("");
    }
    if let Some(outcome) = a.outcome {
        subject.push_str(&format!(": {}", snake_words(&outcome)));
    }
    if let Some(next) = a.next_action.as_deref().filter(|s| !s.is_empty()) {
        subject.push_str(&format!(" — {next}"));
    }
    let subject: String = subject.chars().take(200).collect();
    format!("{subject} {}", marker(&format!("A{}", a.seq)))
}

pub fn activity_body(a: &Activity, links: Links) -> Value {
    // A next step with a date is a to-do on that date; anything else is a
    // record of what happened, done on the day it happened.
    let (due_date, done) = match a.next_action_date.as_deref().filter(|d| is_date(d)) {
        Some(date) => (date.to_string(), false),
        None => (rfc3339(a.at_ms).get(..10).unwrap_or_default().to_string(), true),
    };
    let mut body = json!({
        "subject": activity_subject(a),
        "type": activity_type(a.kind),
        "due_date": due_date,
        "done": done,
    });
    if let Some(note) = a.notes.as_deref().filter(|n| !n.is_empty()) {
        body["note"] = json!(note);
    }
    if let Some(p) = links.person_id {
        body["person_id"] = json!(p);
    }
    if let Some(d) = links.deal_id {
        body["deal_id"] = json!(d);
    }
    body
}

pub fn note_body(a: &Activity, links: Links) -> Value {
    let content = format!("{}\n\n{}", a.notes.as_deref().unwrap_or_default(), marker(&format!("A{}", a.seq)));
    let mut body = json!({"content": content});
    if let Some(p) = links.person_id {
        body["person_id"] = json!(p);
    }
    if let Some(d) = links.deal_id {
        body["deal_id"] = json!(d);
    }
    body
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// `2026-11-23T03:00:00Z` (whole seconds: Pipedrive's resolution).
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let (y, m, d) = crate::clock::civil_from_days((secs / 86_400) as i64);
    let rest = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Reads `2026-11-23T03:00:00Z` / `…+07:00` / `…​.123Z` (v2) and
/// `2026-11-23 03:00:00` (v1, UTC) into ms.
pub fn parse_time(s: &str) -> Option<u64> {
    crate::clock::parse_instant_ms(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::Channel;

    #[test]
    fn times_round_trip_in_both_api_versions() {
        assert_eq!(rfc3339(1_795_402_800_000), "2026-11-23T03:00:00Z");
        assert_eq!(parse_time("2026-11-23T03:00:00Z"), Some(1_795_402_800_000));
        assert_eq!(parse_time("2026-11-23 03:00:00"), Some(1_795_402_800_000));
        assert_eq!(parse_time("2026-11-23T10:00:00+07:00"), Some(1_795_402_800_000));
        assert_eq!(parse_time("2026-11-23T03:00:00.250Z"), Some(1_795_402_800_250));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2026-13-01T00:00:00Z"), None);
    }

    #[test]
    fn a_person_carries_our_id_typed_phones_and_mapped_fields() {
        let mut c = Contact::new("6281234567890", Channel::Waha, 0);
        c.name = Some("Budi".into());
        c.email = Some("budi@example.com".into());
        c.product_dimension = vec!["60x60".into(), "80x80".into()];
        let mapping: FieldMapping =
            [("product_dimension".to_string(), "abc".to_string()), ("campaign_source".to_string(), "def".to_string())]
                .into();
        let body = person_body(&c, Some(7), "KEY", &mapping);
        assert_eq!(body["custom_fields"], json!({"KEY": "6281234567890", "abc": "60x60, 80x80"}));
        assert_eq!(body["phones"], json!([{"value": "+6281234567890", "primary": true, "label": "mobile"}]));
        assert_eq!(body["emails"][0]["value"], "budi@example.com");
        assert_eq!(body["org_id"], 7);
    }

    #[test]
    fn an_activity_subject_ends_with_our_marker() {
        let a = Activity {
            seq: 12,
            contact: "628".into(),
            kind: ActivityType::WhatsappFollowUp,
            source: "command".into(),
            outcome: Some(crate::crm::activity::Outcome::FollowUpNeeded),
            next_action: Some("send the quote".into()),
            next_action_date: Some("2026-12-01".into()),
            notes: None,
            deal: None,
            by: "x".into(),
            at_ms: 0,
        };
        assert_eq!(activity_subject(&a), "Whatsapp follow up: follow up needed — send the quote [juru A12]");
        let body = activity_body(&a, Links { person_id: Some(3), ..Links::default() });
        assert_eq!((body["due_date"].as_str(), body["done"].as_bool()), (Some("2026-12-01"), Some(false)));
        assert_eq!(body["type"], "task");
    }

    #[test]
    fn the_vendors_error_wording_is_kept() {
        let body = br#"{"success":false,"error":"Deal title is required","error_info":"Please check the docs"}"#;
        assert_eq!(error_message(body).as_deref(), Some("Deal title is required (Please check the docs)"));
        assert_eq!(error_message(b"<html>"), None);
    }
}
