//! Our records as Dataverse rows, and Dataverse's back as pull changes.
//! Companies → accounts, contacts → contacts, deals → opportunities,
//! activities → tasks (with a note, an `annotation`, when they carry notes).
//!
//! Accounts, contacts and opportunities carry our id in a column with an
//! alternate key on it (`juru_waid`), so the upsert is `PATCH
//! contacts(juru_waid='…')` and links bind by that key
//! (`"parentcustomerid_account@odata.bind": "/accounts(juru_waid='…')"`).
//! Tasks and notes are upserted on a primary key derived from our id
//! (`PATCH tasks(6a757275-…)` creates the row with that id when it is
//! missing): the same idempotency without a key on activity tables.

use serde_json::{Map, Value, json};

use super::wire::OptionMetadata;
use crate::connectors::fields::{self, activity_subject, local_date, pulled_amount, pulled_name, truncate};
use crate::connectors::http::escape;
use crate::connectors::{Kind, Outcome, Record, RemoteChange, RemoteFields, RemoteIds};
use crate::crm::activity::Activity;
use crate::crm::company::Company;
use crate::crm::contact::Contact;
use crate::crm::deal::{Deal, Stage};
use crate::crm::settings::FieldMapping;

/// A new deal closes this far ahead unless it closed already.
const DEFAULT_CLOSE_DAYS: u64 = 30;

/// A Dataverse table as the connector uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub logical: &'static str,
    pub set: &'static str,
    pub id: &'static str,
}

pub const ACCOUNT: Table = Table { logical: "account", set: "accounts", id: "accountid" };
pub const CONTACT: Table = Table { logical: "contact", set: "contacts", id: "contactid" };
pub const OPPORTUNITY: Table = Table { logical: "opportunity", set: "opportunities", id: "opportunityid" };
pub const TASK: Table = Table { logical: "task", set: "tasks", id: "activityid" };
pub const ANNOTATION: Table = Table { logical: "annotation", set: "annotations", id: "annotationid" };
/// The tables whose alternate key on our id column must exist.
pub const KEYED: [Table; 3] = [ACCOUNT, CONTACT, OPPORTUNITY];

pub fn table(kind: Kind) -> Table {
    match kind {
        Kind::Company => ACCOUNT,
        Kind::Contact => CONTACT,
        Kind::Deal => OPPORTUNITY,
        Kind::Activity => TASK,
    }
}

/// What building a row needs beside the record.
pub struct Context<'a> {
    pub id_column: &'a str,
    pub mapping: &'a FieldMapping,
    pub stages: Option<&'a StageMap>,
    pub ids: &'a dyn RemoteIds,
}

/// The row's address relative to the API root: `contacts(juru_waid='628…')`
/// for keyed tables, `tasks(6a757275-…)` for activities.
pub fn address(record: &Record, id_column: &str) -> String {
    match record {
        Record::Activity(a) => format!("{}({})", TASK.set, activity_guid(a.seq, 1)),
        other => keyed(table(other.kind()), id_column, &other.local_id()),
    }
}

/// `set(column='value')`, the value quoted as OData wants it.
pub fn keyed(table: Table, id_column: &str, local_id: &str) -> String {
    let quoted = local_id.replace('\'', "''");
    format!("{}({id_column}='{}')", table.set, escape(&quoted))
}

/// A stable GUID for activity `seq` (`part` 1 the task, 2 its note): the
/// same record always lands on the same row.
pub fn activity_guid(seq: u64, part: u16) -> String {
    format!("6a757275-{part:04x}-4000-8000-{:012x}", seq & 0xffff_ffff_ffff)
}

/// The row body for an upsert, or why it cannot go (a parent not in
/// Dynamics yet is retried; an unmapped stage is dead).
pub fn body(record: &Record, cx: &Context<'_>) -> Result<Map<String, Value>, Outcome> {
    let mut out = Map::new();
    match record {
        Record::Company(c) => company(c, cx, &mut out)?,
        Record::Contact(c) => contact(c, cx, &mut out)?,
        Record::Deal(d) => deal(d, cx, &mut out)?,
        Record::Activity(a) => activity(a, cx, &mut out)?,
    }
    if !matches!(record, Record::Activity(_)) {
        // Last, so a mapping can never overwrite the key idempotency rests on.
        out.insert(cx.id_column.into(), Value::String(record.local_id()));
    }
    Ok(out)
}

/// A lookup bound by the parent's alternate key, once the parent is in Dynamics.
fn bind(cx: &Context<'_>, kind: Kind, local_id: &str) -> Result<Value, Outcome> {
    match cx.ids.remote_id(kind, local_id) {
        Some(_) => Ok(json!(format!("/{}", keyed(table(kind), cx.id_column, local_id)))),
        None => Err(Outcome::Retry { reason: format!("{} {local_id} is not in Dynamics yet", kind.as_str()) }),
    }
}

fn company(c: &Company, cx: &Context<'_>, out: &mut Map<String, Value>) -> Result<(), Outcome> {
    out.insert("name".into(), json!(truncate(&c.name, 160)));
    out.insert("description".into(), json!(format!("WhatsApp CRM {}", c.kind.as_str())));
    if let Some(parent) = &c.parent {
        out.insert("parentaccountid@odata.bind".into(), bind(cx, Kind::Company, parent)?);
    }
    Ok(())
}

fn contact(c: &Contact, cx: &Context<'_>, out: &mut Map<String, Value>) -> Result<(), Outcome> {
    let phone = c.phone.as_deref().map(|p| format!("+{p}"));
    // lastname is required; Indonesian names rarely split, so the whole name
    // goes there, else the phone, else our key.
    let name = c.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let last = name.map(str::to_string).or_else(|| phone.clone()).unwrap_or_else(|| c.key.clone());
    out.insert("lastname".into(), json!(truncate(&last, 50)));
    if let Some(phone) = &phone {
        out.insert("mobilephone".into(), json!(phone));
        out.insert("telephone1".into(), json!(phone));
    }
    if let Some(email) = &c.email {
        out.insert("emailaddress1".into(), json!(email));
    }
    if let Some(company) = &c.company {
        out.insert("parentcustomerid_account@odata.bind".into(), bind(cx, Kind::Company, company)?);
    }
    mapped_fields(c, cx, out);
    Ok(())
}

fn mapped_fields(c: &Contact, cx: &Context<'_>, out: &mut Map<String, Value>) {
    out.extend(fields::mapped_values(c, cx.mapping).into_iter().map(|(to, value)| (to.clone(), value)));
}

fn deal(d: &Deal, cx: &Context<'_>, out: &mut Map<String, Value>) -> Result<(), Outcome> {
    let stages = cx.stages.ok_or_else(|| Outcome::Retry { reason: "the sales stages are not loaded yet".into() })?;
    let option = stages.option(d.stage).ok_or_else(|| Outcome::Dead {
        reason: format!(
            "deal stage `{}` has no Dynamics sales stage (salesstage has {}): add an option named '{}' to the \
             opportunity's Sales Stage choice (Power Apps → Tables → Opportunity → Columns → Sales Stage), then #crm \
             sync",
            d.stage.as_str(),
            stages.labels().join(", "),
            d.stage.as_str()
        ),
    })?;
    out.insert("name".into(), json!(truncate(&d.title, 300)));
    out.insert("estimatedvalue".into(), json!(d.value));
    out.insert("salesstage".into(), json!(option.value));
    // Our own stage, so a pull tells apart stages sharing one option.
    out.insert("stepname".into(), json!(d.stage.as_str()));
    let close_ms = d.closed_ms.unwrap_or(d.created_ms + DEFAULT_CLOSE_DAYS * 86_400_000);
    out.insert("estimatedclosedate".into(), json!(local_date(close_ms)));
    match d.stage {
        Stage::Won | Stage::Retention => {
            out.insert("closeprobability".into(), json!(100));
        }
        Stage::Lost => {
            out.insert("closeprobability".into(), json!(0));
        }
        _ => {}
    }
    if let Some(company) = &d.company {
        out.insert("parentaccountid@odata.bind".into(), bind(cx, Kind::Company, company)?);
    }
    if let Some(contact) = &d.contact {
        out.insert("parentcontactid@odata.bind".into(), bind(cx, Kind::Contact, contact)?);
    }
    if let Some(reason) = &d.reason {
        out.insert("description".into(), json!(truncate(reason, 2000)));
    }
    Ok(())
}

fn activity(a: &Activity, cx: &Context<'_>, out: &mut Map<String, Value>) -> Result<(), Outcome> {
    let contact = bind(cx, Kind::Contact, &a.contact)?;
    match a.deal {
        Some(deal) => {
            out.insert("regardingobjectid_opportunity@odata.bind".into(), bind(cx, Kind::Deal, &format!("D{deal}"))?);
        }
        None => {
            out.insert("regardingobjectid_contact@odata.bind".into(), contact);
        }
    }
    out.insert("subject".into(), json!(truncate(&format!("{} [juru A{}]", activity_subject(a), a.seq), 200)));
    out.insert("scheduledend".into(), json!(iso_utc(a.at_ms)));
    out.insert("description".into(), json!(truncate(&fields::activity_description(a, None), 2000)));
    Ok(())
}

/// The note beside a task whose activity has notes: on the deal when it
/// has one, else on the contact. `None` without notes.
pub fn note(a: &Activity, cx: &Context<'_>) -> Result<Option<Map<String, Value>>, Outcome> {
    let Some(text) = a.notes.as_deref().map(str::trim).filter(|n| !n.is_empty()) else { return Ok(None) };
    let mut out = Map::new();
    match a.deal {
        Some(deal) => out.insert("objectid_opportunity@odata.bind".into(), bind(cx, Kind::Deal, &format!("D{deal}"))?),
        None => out.insert("objectid_contact@odata.bind".into(), bind(cx, Kind::Contact, &a.contact)?),
    };
    out.insert("subject".into(), json!(truncate(&format!("{} [juru A{}]", activity_subject(a), a.seq), 500)));
    out.insert("notetext".into(), json!(truncate(text, 100_000)));
    Ok(Some(out))
}

/// Words naming each of our stages among the Sales Stage options
/// (Dynamics' standard process: Qualify, Develop, Propose, Close).
const SYNONYMS: [(Stage, &[&str]); 8] = [
    (Stage::Lead, &["lead", "prospect", "qualif"]),
    (Stage::Qualified, &["qualif"]),
    (Stage::Discovery, &["discover", "develop", "analys"]),
    (Stage::Proposal, &["propos", "quote"]),
    (Stage::Negotiation, &["negotiat", "close"]),
    (Stage::Won, &["won", "close"]),
    (Stage::Lost, &["lost", "close"]),
    (Stage::Retention, &["retention", "won", "close"]),
];

/// Our stages onto the opportunity's Sales Stage options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageMap {
    /// Indexed like `Stage::ALL`.
    options: Vec<Option<StageOption>>,
    catalogue: Vec<StageOption>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StageOption {
    pub value: i64,
    pub label: String,
}

impl StageMap {
    /// Each stage onto the option its name or a synonym names (in the
    /// options' order, never before the previous stage's); `None` without options.
    pub fn build(options: &[OptionMetadata]) -> Option<StageMap> {
        let catalogue: Vec<StageOption> =
            options.iter().map(|o| StageOption { value: o.value, label: o.text() }).collect();
        if catalogue.is_empty() {
            return None;
        }
        let mut mapped = vec![None; Stage::ALL.len()];
        let mut floor = 0;
        for (stage, words) in SYNONYMS {
            let label = |o: &StageOption| o.label.to_lowercase();
            let exact = catalogue.iter().position(|o| label(o) == stage.as_str());
            let worded = || {
                catalogue.iter().skip(floor).position(|o| words.iter().any(|w| label(o).contains(w))).map(|p| p + floor)
            };
            if let Some(p) = exact.or_else(worded) {
                mapped[stage as usize] = Some(catalogue[p].clone());
                if stage.is_open() {
                    floor = floor.max(p);
                }
            }
        }
        Some(StageMap { options: mapped, catalogue })
    }

    pub fn option(&self, stage: Stage) -> Option<&StageOption> {
        self.options.get(stage as usize)?.as_ref()
    }

    /// A row's stage back to ours: the stage we wrote (`stepname`) while the
    /// option still is its option, else the first stage mapped onto the
    /// option; a closed opportunity (`statecode` 1 won, 2 lost) is closed here too.
    pub fn ours(&self, value: Option<i64>, stepname: Option<&str>, statecode: Option<i64>) -> Option<Stage> {
        match statecode {
            Some(1) => return Some(Stage::Won),
            Some(2) => return Some(Stage::Lost),
            _ => {}
        }
        let value = value?;
        let written = stepname.and_then(|s| Stage::ALL.into_iter().find(|st| st.as_str() == s));
        if let Some(stage) = written.filter(|s| self.option(*s).is_some_and(|o| o.value == value)) {
            return Some(stage);
        }
        Stage::ALL.into_iter().filter(|s| s.is_open()).find(|s| self.option(*s).is_some_and(|o| o.value == value))
    }

    /// The option labels, for messages.
    pub fn labels(&self) -> Vec<String> {
        self.catalogue.iter().map(|o| o.label.clone()).collect()
    }
}

/// Columns read back on pull.
pub fn pull_columns(kind: Kind, id_column: &str) -> String {
    let columns = match kind {
        Kind::Contact => "contactid,fullname,lastname,emailaddress1,mobilephone,modifiedon",
        Kind::Deal => "opportunityid,name,estimatedvalue,salesstage,stepname,statecode,modifiedon",
        Kind::Company => "accountid,name,modifiedon",
        Kind::Activity => "activityid,subject,modifiedon",
    };
    format!("{columns},{id_column}")
}

/// One pulled row as a change; `None` without its id or modified time.
pub fn change(
    kind: Kind,
    row: &Map<String, Value>,
    id_column: &str,
    stages: Option<&StageMap>,
) -> Option<RemoteChange> {
    let text = |name: &str| row.get(name).and_then(Value::as_str).map(str::to_string);
    let modified_ms = crate::clock::parse_instant_ms(&text("modifiedon")?)?;
    let remote_id = text(table(kind).id)?;
    let mut fields = RemoteFields::default();
    match kind {
        Kind::Contact => {
            let phone = text("mobilephone").as_deref().and_then(crate::phone::pulled);
            // A contact pushed without a name carries its phone as lastname.
            fields.name = pulled_name(text("fullname").or_else(|| text("lastname")), phone.as_deref());
            fields.email = text("emailaddress1");
            fields.phone = phone;
        }
        Kind::Deal => {
            fields.title = text("name");
            fields.value = pulled_amount(row.get("estimatedvalue").and_then(Value::as_f64));
            let number = |name: &str| row.get(name).and_then(Value::as_i64);
            fields.stage = stages?.ours(number("salesstage"), text("stepname").as_deref(), number("statecode"));
        }
        Kind::Company | Kind::Activity => {}
    }
    Some(RemoteChange { kind, remote_id, local_id: text(id_column), modified_ms, fields })
}

/// When our copy of the record last changed, for last-modified-wins on a 412.
pub fn local_modified_ms(record: &Record) -> u64 {
    match record {
        Record::Company(c) => c.created_ms,
        Record::Contact(c) => c.last_seen_ms.max(c.first_seen_ms).max(c.last_contacted_at_ms.unwrap_or(0)),
        Record::Deal(d) => d.updated_ms,
        Record::Activity(a) => a.at_ms,
    }
}

/// `2026-11-23T03:00:00Z`: how Dataverse writes and filters date-times.
pub fn iso_utc(ms: u64) -> String {
    format!("{}Z", fields::utc_seconds(ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::dynamics::wire::{Label, LocalizedLabel};

    fn option(value: i64, label: &str) -> OptionMetadata {
        OptionMetadata {
            value,
            label: Label {
                user_localized_label: Some(LocalizedLabel { label: label.into() }),
                localized_labels: Vec::new(),
            },
        }
    }

    #[test]
    fn the_standard_sales_stages_map_every_stage_of_ours_and_back() {
        let options = [option(0, "Qualify"), option(1, "Develop"), option(2, "Propose"), option(3, "Close")];
        let map = StageMap::build(&options).unwrap();
        let value = |s: Stage| map.option(s).map(|o| o.value);
        assert_eq!(value(Stage::Lead), Some(0));
        assert_eq!(value(Stage::Qualified), Some(0));
        assert_eq!(value(Stage::Discovery), Some(1));
        assert_eq!(value(Stage::Proposal), Some(2));
        assert_eq!(value(Stage::Negotiation), Some(3));
        assert_eq!(value(Stage::Won), Some(3));
        assert_eq!(value(Stage::Lost), Some(3));
        assert_eq!(map.ours(Some(0), Some("qualified"), Some(0)), Some(Stage::Qualified), "what we wrote");
        assert_eq!(map.ours(Some(1), Some("qualified"), Some(0)), Some(Stage::Discovery), "moved in Dynamics");
        assert_eq!(map.ours(Some(3), None, Some(1)), Some(Stage::Won));
    }

    #[test]
    fn keys_are_quoted_and_activity_rows_have_stable_ids() {
        assert_eq!(keyed(CONTACT, "juru_waid", "6281"), "contacts(juru_waid='6281')");
        assert_eq!(keyed(ACCOUNT, "juru_waid", "o'neil kopi"), "accounts(juru_waid='o%27%27neil%20kopi')");
        assert_eq!(activity_guid(7, 1), "6a757275-0001-4000-8000-000000000007");
        assert_ne!(activity_guid(7, 1), activity_guid(7, 2));
    }

    #[test]
    fn a_number_written_nationally_in_dynamics_comes_back_in_our_phone_form() {
        let row = json!({"contactid": "c1", "modifiedon": "2026-11-23T03:00:00Z", "mobilephone": "(0812) 3450 0001",
            "lastname": "Budi", "juru_waid": "6281234500001"});
        let c = change(Kind::Contact, row.as_object().unwrap(), "juru_waid", None).unwrap();
        assert_eq!(c.fields.phone.as_deref(), Some("6281234500001"));
        assert_eq!(c.fields.name.as_deref(), Some("Budi"));
    }
}
