//! Our records as Freshsales records, and Freshsales' back as pull changes.
//! Companies → sales accounts, contacts → contacts, deals → deals (stage
//! ids from the deal pipeline), activities → tasks (plus a note when they
//! carry notes). Accounts, contacts and deals carry our id in the unique
//! custom field (`cf_juru_id`) the upsert's `unique_identifier` names; tasks
//! have no custom fields, so their description ends with a marker
//! (`[juru A12]`) that finds them again after an unknown outcome.

use serde_json::{Map, Value, json};

use super::wire::{StageRow, id_text};
use crate::connectors::fields::{self, activity_subject, local_date, pulled_amount, pulled_name, truncate};
use crate::connectors::{Kind, Outcome, Record, RemoteChange, RemoteFields, RemoteIds};
use crate::crm::activity::Activity;
use crate::crm::company::Company;
use crate::crm::contact::Contact;
use crate::crm::deal::{Deal, Stage};
use crate::crm::settings::FieldMapping;

/// A new deal closes this far ahead unless it closed already.
const DEFAULT_CLOSE_DAYS: u64 = 30;

/// What building a record needs beside the record.
pub struct Context<'a> {
    pub id_field: &'a str,
    pub mapping: &'a FieldMapping,
    pub stages: Option<&'a StageMap>,
    pub ids: &'a dyn RemoteIds,
}

/// The API path segment and the body's wrapper key of a kind.
pub fn entity(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Company => ("sales_accounts", "sales_account"),
        Kind::Contact => ("contacts", "contact"),
        Kind::Deal => ("deals", "deal"),
        Kind::Activity => ("tasks", "task"),
    }
}

/// An id as Freshsales wants it: a number when it is one.
pub fn id_value(id: &str) -> Value {
    id.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::String(id.to_string()))
}

/// The marker a task's description ends with.
pub fn task_marker(a: &Activity) -> String {
    format!("[juru A{}]", a.seq)
}

/// The record body (inside its wrapper) for an upsert or a task write, or
/// why it cannot go (a parent not in Freshsales yet is retried; an
/// unmapped stage is dead).
pub fn body(record: &Record, cx: &Context<'_>) -> Result<Map<String, Value>, Outcome> {
    let mut out = Map::new();
    match record {
        Record::Company(c) => company(c, cx, &mut out)?,
        Record::Contact(c) => contact(c, cx, &mut out)?,
        Record::Deal(d) => deal(d, cx, &mut out)?,
        Record::Activity(a) => return task(a, cx),
    }
    // Last, so a mapping can never overwrite the key idempotency rests on.
    let custom = out.entry("custom_field").or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(custom) = custom {
        custom.insert(cx.id_field.into(), Value::String(record.local_id()));
    }
    Ok(out)
}

/// A parent's Freshsales id, or a retry until it is there.
fn parent(cx: &Context<'_>, kind: Kind, local_id: &str) -> Result<Value, Outcome> {
    cx.ids
        .remote_id(kind, local_id)
        .map(|id| id_value(&id))
        .ok_or_else(|| Outcome::Retry { reason: format!("{} {local_id} is not in Freshsales yet", kind.as_str()) })
}

fn company(c: &Company, cx: &Context<'_>, out: &mut Map<String, Value>) -> Result<(), Outcome> {
    out.insert("name".into(), json!(truncate(&c.name, 255)));
    if let Some(p) = &c.parent {
        out.insert("parent_sales_account_id".into(), parent(cx, Kind::Company, p)?);
    }
    Ok(())
}

fn contact(c: &Contact, cx: &Context<'_>, out: &mut Map<String, Value>) -> Result<(), Outcome> {
    let phone = c.phone.as_deref().map(|p| format!("+{p}"));
    // Indonesian names rarely split: the whole name is the last name, else the phone, else our key.
    let name = c.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let last = name.map(str::to_string).or_else(|| phone.clone()).unwrap_or_else(|| c.key.clone());
    out.insert("last_name".into(), json!(truncate(&last, 255)));
    if let Some(phone) = &phone {
        out.insert("mobile_number".into(), json!(phone));
    }
    if let Some(email) = &c.email {
        out.insert("email".into(), json!(email));
    }
    if let Some(company) = &c.company {
        out.insert("sales_accounts".into(), json!([{ "id": parent(cx, Kind::Company, company)?, "is_primary": true }]));
    }
    mapped_fields(c, cx, out);
    Ok(())
}

/// Owner-chosen mappings: `cf_…` names go into `custom_field`, others beside.
fn mapped_fields(c: &Contact, cx: &Context<'_>, out: &mut Map<String, Value>) {
    for (to, value) in fields::mapped_values(c, cx.mapping) {
        if to.starts_with("cf_") {
            let custom = out.entry("custom_field").or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(custom) = custom {
                custom.insert(to.clone(), value);
            }
        } else {
            out.insert(to.clone(), value);
        }
    }
}

fn deal(d: &Deal, cx: &Context<'_>, out: &mut Map<String, Value>) -> Result<(), Outcome> {
    let stages =
        cx.stages.ok_or_else(|| Outcome::Retry { reason: "the Freshsales deal pipeline is not loaded yet".into() })?;
    let stage = stages.id(d.stage).ok_or_else(|| Outcome::Dead {
        reason: format!(
            "deal stage `{}` has no Freshsales stage in pipeline '{}': add a stage named '{}' (Admin Settings → \
             Deal pipelines), then #crm sync",
            d.stage.as_str(),
            stages.pipeline_name,
            d.stage.as_str()
        ),
    })?;
    out.insert("name".into(), json!(truncate(&d.title, 255)));
    out.insert("amount".into(), json!(d.value));
    out.insert("deal_pipeline_id".into(), id_value(&stages.pipeline_id));
    out.insert("deal_stage_id".into(), id_value(stage));
    let close_ms = d.closed_ms.unwrap_or(d.created_ms + DEFAULT_CLOSE_DAYS * 86_400_000);
    out.insert("expected_close".into(), json!(local_date(close_ms)));
    if let Some(closed) = d.closed_ms {
        out.insert("closed_date".into(), json!(local_date(closed)));
    }
    if let Some(company) = &d.company {
        out.insert("sales_account_id".into(), parent(cx, Kind::Company, company)?);
    }
    if let Some(contact) = &d.contact {
        out.insert("contacts_added_list".into(), json!([parent(cx, Kind::Contact, contact)?]));
    }
    // The won/lost reason stays in juru: Freshsales' lost reasons are an account-defined list.
    Ok(())
}

/// Where a task (and its note) hangs: the deal when it has one, else the contact.
pub fn target(a: &Activity, ids: &dyn RemoteIds) -> Result<(&'static str, String), Outcome> {
    let (kind, local, targetable) = match a.deal {
        Some(deal) => (Kind::Deal, format!("D{deal}"), "Deal"),
        None => (Kind::Contact, a.contact.clone(), "Contact"),
    };
    let remote = ids
        .remote_id(kind, &local)
        .ok_or_else(|| Outcome::Retry { reason: format!("{} {local} is not in Freshsales yet", kind.as_str()) })?;
    Ok((targetable, remote))
}

fn task(a: &Activity, cx: &Context<'_>) -> Result<Map<String, Value>, Outcome> {
    // The contact too must be there: a task on a deal still names its person in the text.
    parent(cx, Kind::Contact, &a.contact)?;
    let (targetable, id) = target(a, cx.ids)?;
    let description = fields::activity_description(a, Some(&task_marker(a)));
    let mut out = Map::new();
    out.insert("title".into(), json!(truncate(&activity_subject(a), 255)));
    out.insert("description".into(), json!(truncate_keeping_end(&description, 10_000)));
    out.insert("due_date".into(), json!(iso_utc(a.at_ms)));
    out.insert("targetable_type".into(), json!(targetable));
    out.insert("targetable_id".into(), id_value(&id));
    Ok(out)
}

/// The note written beside a new task whose activity has notes.
pub fn note(a: &Activity, ids: &dyn RemoteIds) -> Option<Value> {
    let text = a.notes.as_deref().map(str::trim).filter(|n| !n.is_empty())?;
    let (targetable, id) = target(a, ids).ok()?;
    Some(json!({ "note": {
        "description": truncate(&format!("{text}\n{}", task_marker(a)), 10_000),
        "targetable_type": targetable,
        "targetable_id": id_value(&id),
    }}))
}

/// Words that name each open stage of ours in a Freshsales pipeline
/// (the default one: New, Initial Contact, Demo Scheduled, Qualification,
/// Negotiation, Won, Lost).
const SYNONYMS: [(Stage, &[&str]); 5] = [
    (Stage::Lead, &["new", "lead", "prospect"]),
    (Stage::Qualified, &["qualif", "contact"]),
    (Stage::Discovery, &["discovery", "demo", "analysis"]),
    (Stage::Proposal, &["proposal", "quote"]),
    (Stage::Negotiation, &["negotiat", "review"]),
];

/// Our stages onto one Freshsales pipeline's stage ids.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageMap {
    pub pipeline_id: String,
    pub pipeline_name: String,
    /// Indexed like `Stage::ALL`.
    ids: [Option<String>; 8],
    catalogue: Vec<(String, StageRow)>,
}

impl StageMap {
    /// The pipeline's stages (by position): open stages by name, then in
    /// order for those no name matched (never before the previous one);
    /// won and retention → the first Won stage, lost → the first Lost one.
    pub fn build(pipeline_id: String, pipeline_name: String, mut stages: Vec<StageRow>) -> Option<StageMap> {
        stages.sort_by_key(|s| s.position.unwrap_or(i64::MAX));
        let with_ids: Vec<(String, StageRow)> = stages.into_iter().filter_map(|s| Some((id_text(&s.id)?, s))).collect();
        if with_ids.is_empty() {
            return None;
        }
        let open: Vec<&(String, StageRow)> = with_ids.iter().filter(|(_, s)| s.is_open()).collect();
        let mut ids: [Option<String>; 8] = Default::default();
        let mut floor = 0;
        for (i, (stage, words)) in SYNONYMS.iter().enumerate() {
            let name = |s: &StageRow| s.name.to_lowercase();
            let exact = open.iter().position(|(_, s)| name(s) == stage.as_str());
            let by_word = || {
                open.iter().skip(floor).position(|(_, s)| words.iter().any(|w| name(s).contains(w))).map(|p| p + floor)
            };
            let position =
                exact.or_else(by_word).or_else(|| (!open.is_empty()).then(|| i.min(open.len() - 1).max(floor)));
            if let Some(p) = position {
                ids[*stage as usize] = Some(open[p].0.clone());
                floor = floor.max(p);
            }
        }
        let won = with_ids.iter().find(|(_, s)| s.is_won()).map(|(id, _)| id.clone());
        ids[Stage::Won as usize] = won.clone();
        ids[Stage::Retention as usize] = won;
        ids[Stage::Lost as usize] = with_ids.iter().find(|(_, s)| s.is_lost()).map(|(id, _)| id.clone());
        Some(StageMap { pipeline_id, pipeline_name, ids, catalogue: with_ids })
    }

    pub fn id(&self, stage: Stage) -> Option<&str> {
        self.ids[stage as usize].as_deref()
    }

    /// A Freshsales stage id back to ours: the stage mapped onto it, else by its forecast type.
    pub fn ours(&self, id: &str) -> Option<Stage> {
        let mapped = Stage::ALL.into_iter().find(|s| *s != Stage::Retention && self.id(*s) == Some(id));
        mapped.or_else(|| {
            let (_, s) = self.catalogue.iter().find(|(sid, _)| sid == id)?;
            if s.is_won() {
                Some(Stage::Won)
            } else if s.is_lost() {
                Some(Stage::Lost)
            } else {
                None
            }
        })
    }
}

/// One pulled record as a change; `None` without an id or `updated_at`.
pub fn change(kind: Kind, row: &Map<String, Value>, id_field: &str, stages: Option<&StageMap>) -> Option<RemoteChange> {
    let text = |name: &str| row.get(name).and_then(Value::as_str).map(str::to_string);
    let modified_ms = crate::clock::parse_instant_ms(&text("updated_at")?)?;
    let remote_id = row.get("id").and_then(id_text)?;
    let local_id = row.get("custom_field").and_then(|c| c.get(id_field)).and_then(Value::as_str).map(str::to_string);
    let mut fields = RemoteFields::default();
    match kind {
        Kind::Contact => {
            let phone = text("mobile_number").as_deref().and_then(crate::phone::pulled);
            let joined = [text("first_name"), text("last_name")].into_iter().flatten().collect::<Vec<_>>().join(" ");
            // A contact pushed without a name carries its phone as last name.
            let name = text("display_name").or((!joined.trim().is_empty()).then_some(joined));
            fields.name = pulled_name(name, phone.as_deref());
            fields.email = text("email");
            fields.phone = phone;
        }
        Kind::Deal => {
            fields.title = text("name");
            let amount = match row.get("amount") {
                Some(Value::Number(n)) => n.as_f64(),
                Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            fields.value = pulled_amount(amount);
            fields.stage = row.get("deal_stage_id").and_then(id_text).and_then(|s| stages?.ours(&s));
        }
        Kind::Company | Kind::Activity => {}
    }
    Some(RemoteChange { kind, remote_id, local_id, modified_ms, fields })
}

/// Freshsales' date-times: ISO 8601 in UTC, whole seconds.
pub fn iso_utc(ms: u64) -> String {
    format!("{}+00:00", fields::utc_seconds(ms))
}

/// Cut from the front: the marker at the end must survive.
fn truncate_keeping_end(text: &str, max: usize) -> String {
    let n = text.chars().count();
    text.chars().skip(n.saturating_sub(max)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(id: u64, name: &str, forecast: &str, position: i64) -> StageRow {
        StageRow {
            id: json!(id),
            name: name.into(),
            position: Some(position),
            forecast_type: Some(forecast.into()),
            deal_pipeline_id: Some(json!(1)),
        }
    }

    #[test]
    fn the_default_pipeline_maps_every_stage_of_ours() {
        let stages = vec![
            stage(11, "New", "Open", 1),
            stage(12, "Initial Contact", "Open", 2),
            stage(13, "Demo Scheduled", "Open", 3),
            stage(14, "Qualification", "Open", 4),
            stage(15, "Negotiation", "Open", 5),
            stage(16, "Won", "Won", 6),
            stage(17, "Lost", "Lost", 7),
        ];
        let map = StageMap::build("1".into(), "Default Pipeline".into(), stages).unwrap();
        assert_eq!(map.id(Stage::Lead), Some("11"));
        assert_eq!(map.id(Stage::Qualified), Some("12"), "the first stage past New whose name fits");
        assert_eq!(map.id(Stage::Discovery), Some("13"));
        assert_eq!(map.id(Stage::Negotiation), Some("15"));
        assert_eq!(map.id(Stage::Won), Some("16"));
        assert_eq!(map.id(Stage::Lost), Some("17"));
        assert_eq!(map.ours("13"), Some(Stage::Discovery));
        assert_eq!(map.ours("16"), Some(Stage::Won));
    }

    #[test]
    fn a_number_written_nationally_in_freshsales_comes_back_in_our_phone_form() {
        let row = json!({"id": 7, "updated_at": "2026-11-23T03:00:00Z", "mobile_number": "0812-3450-0001",
            "display_name": "0812-3450-0001", "custom_field": {"cf_juru_id": "6281234500001"}});
        let c = change(Kind::Contact, row.as_object().unwrap(), "cf_juru_id", None).unwrap();
        assert_eq!(c.fields.phone.as_deref(), Some("6281234500001"));
        assert_eq!(c.fields.name, None, "the phone standing in for a name is not a name");
    }
}
