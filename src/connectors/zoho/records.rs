//! Our records as Zoho CRM v8 records, and Zoho's back as pull changes.
//! Companies → Accounts, contacts → Contacts (or Leads), deals → Deals,
//! activities → Tasks (with a Note beside the task when it carries notes).
//! Every record carries our id in the unique custom field (`WA_Id`), which
//! is what the upsert's `duplicate_check_fields` matches on.

use serde_json::{Map, Value, json};

use super::wire::{Pipeline, PipelineStage};
use crate::connectors::fields::{self, activity_subject, local_date, pulled_amount, pulled_name, truncate};
use crate::connectors::{Kind, Outcome, Record, RemoteChange, RemoteFields, RemoteIds};
use crate::crm::activity::Activity;
use crate::crm::company::Company;
use crate::crm::contact::Contact;
use crate::crm::deal::{Deal, Stage};
use crate::crm::settings::FieldMapping;

/// A new deal closes this far ahead unless it closed already (Zoho wants a date).
const DEFAULT_CLOSE_DAYS: u64 = 30;

/// What building a record needs beside the record.
pub struct Context<'a> {
    pub id_field: &'a str,
    pub contacts_module: &'a str,
    pub mapping: &'a FieldMapping,
    pub stages: Option<&'a StageMap>,
    pub ids: &'a dyn RemoteIds,
}

impl Context<'_> {
    /// Deals and tasks link to contacts only in the Contacts module.
    fn contacts_are_leads(&self) -> bool {
        self.contacts_module.eq_ignore_ascii_case("Leads")
    }
}

/// The Zoho module a kind goes to.
pub fn module(kind: Kind, contacts_module: &str) -> &str {
    match kind {
        Kind::Company => "Accounts",
        Kind::Contact => contacts_module,
        Kind::Deal => "Deals",
        Kind::Activity => "Tasks",
    }
}

/// Fields read back on pull (v8 wants them named).
pub fn pull_fields(kind: Kind, id_field: &str) -> String {
    let fields = match kind {
        Kind::Contact => "Last_Name,First_Name,Full_Name,Email,Phone,Modified_Time",
        Kind::Deal => "Deal_Name,Amount,Stage,Modified_Time",
        Kind::Company => "Account_Name,Modified_Time",
        Kind::Activity => "Subject,Modified_Time",
    };
    format!("{fields},{id_field}")
}

/// The record body for an upsert, or why it cannot go (a parent not in Zoho
/// yet is retried; an unmapped stage is dead).
pub fn body(record: &Record, cx: &Context<'_>) -> Result<Map<String, Value>, Outcome> {
    let mut out = Map::new();
    match record {
        Record::Company(c) => company(c, cx, &mut out)?,
        Record::Contact(c) => contact(c, cx, &mut out)?,
        Record::Deal(d) => deal(d, cx, &mut out)?,
        Record::Activity(a) => activity(a, cx, &mut out)?,
    }
    // Last, so a mapping can never overwrite the key idempotency rests on.
    out.insert(cx.id_field.into(), Value::String(record.local_id()));
    Ok(out)
}

/// A lookup to a parent already in Zoho (`{"id": "…"}`).
fn lookup(cx: &Context<'_>, kind: Kind, local_id: &str) -> Result<Value, Outcome> {
    cx.ids
        .remote_id(kind, local_id)
        .map(|id| json!({ "id": id }))
        .ok_or_else(|| Outcome::Retry { reason: format!("{} {local_id} is not in Zoho yet", kind.as_str()) })
}

fn company(c: &Company, cx: &Context<'_>, out: &mut Map<String, Value>) -> Result<(), Outcome> {
    out.insert("Account_Name".into(), json!(truncate(&c.name, 200)));
    out.insert("Description".into(), json!(format!("WhatsApp CRM {}", c.kind.as_str())));
    if let Some(parent) = &c.parent {
        out.insert("Parent_Account".into(), lookup(cx, Kind::Company, parent)?);
    }
    Ok(())
}

fn contact(c: &Contact, cx: &Context<'_>, out: &mut Map<String, Value>) -> Result<(), Outcome> {
    let phone = c.phone.as_deref().map(|p| format!("+{p}"));
    // Last_Name is mandatory; Indonesian names rarely split, so the whole
    // name goes there, else the phone, else our key.
    let name = c.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let last = name.map(str::to_string).or_else(|| phone.clone()).unwrap_or_else(|| c.key.clone());
    out.insert("Last_Name".into(), json!(truncate(&last, 80)));
    if let Some(phone) = &phone {
        out.insert("Phone".into(), json!(phone));
        out.insert("Mobile".into(), json!(phone));
    }
    if let Some(email) = &c.email {
        out.insert("Email".into(), json!(email));
    }
    match (&c.company, cx.contacts_are_leads()) {
        // A lead names its company in text (Zoho's Leads have no account lookup).
        (Some(company), true) => {
            out.insert("Company".into(), json!(company));
        }
        (None, true) => {
            out.insert("Company".into(), json!("WhatsApp"));
        }
        (Some(company), false) => {
            out.insert("Account_Name".into(), lookup(cx, Kind::Company, company)?);
        }
        (None, false) => {}
    }
    mapped_fields(c, cx, out);
    Ok(())
}

fn mapped_fields(c: &Contact, cx: &Context<'_>, out: &mut Map<String, Value>) {
    out.extend(fields::mapped_values(c, cx.mapping).into_iter().map(|(to, value)| (to.clone(), value)));
}

fn deal(d: &Deal, cx: &Context<'_>, out: &mut Map<String, Value>) -> Result<(), Outcome> {
    let stages = cx.stages.ok_or_else(|| Outcome::Retry { reason: "the Zoho pipeline is not loaded yet".into() })?;
    let stage = stages.value(d.stage).ok_or_else(|| Outcome::Dead {
        reason: format!(
            "deal stage `{}` has no Zoho stage in pipeline '{}': add a stage named '{}' (Setup → Customization → \
             Pipelines), then #crm sync",
            d.stage.as_str(),
            stages.pipeline,
            d.stage.as_str()
        ),
    })?;
    out.insert("Deal_Name".into(), json!(truncate(&d.title, 120)));
    out.insert("Amount".into(), json!(d.value));
    out.insert("Stage".into(), json!(stage));
    if stages.several {
        out.insert("Pipeline".into(), json!(stages.pipeline));
    }
    let close_ms = d.closed_ms.unwrap_or(d.created_ms + DEFAULT_CLOSE_DAYS * 86_400_000);
    out.insert("Closing_Date".into(), json!(local_date(close_ms)));
    if let Some(company) = &d.company {
        out.insert("Account_Name".into(), lookup(cx, Kind::Company, company)?);
    }
    if let Some(contact) = &d.contact
        && !cx.contacts_are_leads()
    {
        out.insert("Contact_Name".into(), lookup(cx, Kind::Contact, contact)?);
    }
    if let Some(reason) = &d.reason {
        out.insert("Description".into(), json!(truncate(reason, 32_000)));
    }
    Ok(())
}

fn activity(a: &Activity, cx: &Context<'_>, out: &mut Map<String, Value>) -> Result<(), Outcome> {
    let contact = lookup(cx, Kind::Contact, &a.contact)?;
    match (a.deal, cx.contacts_are_leads()) {
        (Some(deal), _) => {
            out.insert("What_Id".into(), lookup(cx, Kind::Deal, &format!("D{deal}"))?);
            out.insert("$se_module".into(), json!("Deals"));
            if !cx.contacts_are_leads() {
                out.insert("Who_Id".into(), contact);
            }
        }
        (None, true) => {
            out.insert("What_Id".into(), contact);
            out.insert("$se_module".into(), json!("Leads"));
        }
        (None, false) => {
            out.insert("Who_Id".into(), contact);
        }
    }
    out.insert("Subject".into(), json!(truncate(&activity_subject(a), 255)));
    out.insert("Due_Date".into(), json!(local_date(a.at_ms)));
    out.insert("Status".into(), json!("Completed"));
    out.insert("Description".into(), json!(truncate(&fields::activity_description(a, None), 32_000)));
    Ok(())
}

/// The Note written beside a new task whose activity has notes: on the deal
/// when it has one, else on the contact.
pub fn note(a: &Activity, cx: &Context<'_>) -> Option<Value> {
    let text = a.notes.as_deref().map(str::trim).filter(|n| !n.is_empty())?;
    let (module, parent) = match a.deal {
        Some(deal) => ("Deals", cx.ids.remote_id(Kind::Deal, &format!("D{deal}"))?),
        None => (cx.contacts_module, cx.ids.remote_id(Kind::Contact, &a.contact)?),
    };
    Some(json!({
        "Note_Title": truncate(&format!("{} [juru A{}]", activity_subject(a), a.seq), 120),
        "Note_Content": truncate(text, 32_000),
        "Parent_Id": { "module": { "api_name": module }, "id": parent },
    }))
}

/// Words that name each open stage in Zoho's standard pipeline
/// (Qualification, Needs Analysis, Value Proposition, Identify Decision
/// Makers, Proposal/Price Quote, Negotiation/Review).
const SYNONYMS: [(Stage, &[&str]); 5] = [
    (Stage::Lead, &["lead", "prospect"]),
    (Stage::Qualified, &["qualif"]),
    (Stage::Discovery, &["discovery", "needs analysis", "analysis"]),
    (Stage::Proposal, &["proposal", "quote"]),
    (Stage::Negotiation, &["negotiat", "review"]),
];

/// Our stages onto one Zoho pipeline's stages (their `actual_value`s).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageMap {
    pub pipeline: String,
    /// The layout has more than one pipeline: deals name theirs.
    pub several: bool,
    /// Indexed like `Stage::ALL`.
    values: [Option<String>; 8],
    catalogue: Vec<PipelineStage>,
}

impl StageMap {
    /// The default pipeline (else the first) of the Deals layout: open
    /// stages by name, then in order for those no name matched (never
    /// before the previous one); won and retention → the first Closed Won
    /// stage, lost → the first Closed Lost.
    pub fn build(pipelines: &[Pipeline]) -> Option<StageMap> {
        let chosen = pipelines.iter().find(|p| p.default == Some(true)).or_else(|| pipelines.first())?;
        let mut stages: Vec<PipelineStage> = chosen.maps.clone();
        stages.sort_by_key(|s| s.sequence_number.unwrap_or(i64::MAX));
        let open: Vec<&PipelineStage> = stages.iter().filter(|s| s.is_open()).collect();
        let mut values: [Option<String>; 8] = Default::default();
        let mut floor = 0;
        for (i, (stage, words)) in SYNONYMS.iter().enumerate() {
            let named = |s: &PipelineStage| {
                let (a, d) = (s.actual_value.to_lowercase(), s.display_value.to_lowercase());
                a == stage.as_str() || d == stage.as_str()
            };
            let worded = |s: &PipelineStage| {
                let (a, d) = (s.actual_value.to_lowercase(), s.display_value.to_lowercase());
                words.iter().any(|w| a.contains(w) || d.contains(w))
            };
            let exact = open.iter().position(|s| named(s));
            let by_word = || open.iter().skip(floor).position(|s| worded(s)).map(|p| p + floor);
            let position =
                exact.or_else(by_word).or_else(|| (!open.is_empty()).then(|| i.min(open.len() - 1).max(floor)));
            if let Some(p) = position {
                values[*stage as usize] = Some(open[p].actual_value.clone());
                floor = floor.max(p);
            }
        }
        let won = stages.iter().find(|s| s.is_won()).map(|s| s.actual_value.clone());
        values[Stage::Won as usize] = won.clone();
        values[Stage::Retention as usize] = won;
        values[Stage::Lost as usize] = stages.iter().find(|s| s.is_lost()).map(|s| s.actual_value.clone());
        let pipeline = if chosen.actual_value.is_empty() { &chosen.display_value } else { &chosen.actual_value };
        Some(StageMap { pipeline: pipeline.clone(), several: pipelines.len() > 1, values, catalogue: stages })
    }

    pub fn value(&self, stage: Stage) -> Option<&str> {
        self.values[stage as usize].as_deref()
    }

    /// A Zoho `Stage` back to ours: the stage mapped onto it, else by its forecast type.
    pub fn ours(&self, value: &str) -> Option<Stage> {
        let mapped = Stage::ALL.into_iter().find(|s| *s != Stage::Retention && self.value(*s) == Some(value));
        mapped.or_else(|| {
            let s = self.catalogue.iter().find(|s| s.actual_value == value || s.display_value == value)?;
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

/// One pulled record as a change; `None` without a modified time.
pub fn change(kind: Kind, row: &Map<String, Value>, id_field: &str, stages: Option<&StageMap>) -> Option<RemoteChange> {
    let text = |name: &str| row.get(name).and_then(Value::as_str).map(str::to_string);
    let modified_ms = crate::clock::parse_instant_ms(&text("Modified_Time")?)?;
    let remote_id = text("id")?;
    let mut fields = RemoteFields::default();
    match kind {
        Kind::Contact => {
            let phone = text("Phone").as_deref().and_then(crate::phone::pulled);
            // A contact pushed without a name carries its phone as Last_Name.
            fields.name = pulled_name(text("Full_Name").or_else(|| text("Last_Name")), phone.as_deref());
            fields.email = text("Email");
            fields.phone = phone;
        }
        Kind::Deal => {
            fields.title = text("Deal_Name");
            fields.value = pulled_amount(row.get("Amount").and_then(Value::as_f64));
            fields.stage = text("Stage").and_then(|s| stages?.ours(&s));
        }
        Kind::Company | Kind::Activity => {}
    }
    Some(RemoteChange { kind, remote_id, local_id: text(id_field), modified_ms, fields })
}

/// `If-Modified-Since` for Zoho: ISO 8601 in UTC, whole seconds.
pub fn iso_utc(ms: u64) -> String {
    format!("{}+00:00", fields::utc_seconds(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(value: &str, forecast: &str, seq: i64) -> PipelineStage {
        PipelineStage {
            display_value: value.into(),
            actual_value: value.into(),
            forecast_type: forecast.into(),
            sequence_number: Some(seq),
        }
    }

    #[test]
    fn zohos_standard_pipeline_maps_every_stage_of_ours() {
        let maps = vec![
            stage("Qualification", "Open", 1),
            stage("Needs Analysis", "Open", 2),
            stage("Value Proposition", "Open", 3),
            stage("Proposal/Price Quote", "Open", 5),
            stage("Negotiation/Review", "Open", 6),
            stage("Closed Won", "Closed Won", 7),
            stage("Closed Lost", "Closed Lost", 8),
        ];
        let p =
            Pipeline { display_value: "Standard".into(), actual_value: "Standard".into(), maps, ..Pipeline::default() };
        let map = StageMap::build(&[p]).unwrap();
        assert_eq!(map.value(Stage::Lead), Some("Qualification"));
        assert_eq!(map.value(Stage::Qualified), Some("Qualification"));
        assert_eq!(map.value(Stage::Discovery), Some("Needs Analysis"));
        assert_eq!(map.value(Stage::Proposal), Some("Proposal/Price Quote"));
        assert_eq!(map.value(Stage::Negotiation), Some("Negotiation/Review"));
        assert_eq!(map.value(Stage::Won), Some("Closed Won"));
        assert_eq!(map.value(Stage::Lost), Some("Closed Lost"));
        assert_eq!(map.ours("Needs Analysis"), Some(Stage::Discovery));
        assert_eq!(map.ours("Closed Won"), Some(Stage::Won));
        assert!(!map.several);
    }

    #[test]
    fn if_modified_since_is_iso_utc() {
        assert_eq!(iso_utc(1_764_000_000_123), "2025-11-24T16:00:00+00:00");
    }
}
