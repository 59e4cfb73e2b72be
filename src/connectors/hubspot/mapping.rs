//! Our records as HubSpot properties (every value a string), our deal
//! stages onto a pipeline's stage ids, and HubSpot's timestamps. Pure.

use std::collections::BTreeMap;

use super::wire::Pipeline;
use crate::connectors::Kind;
use crate::crm::activity::Activity;
use crate::crm::company::Company;
use crate::crm::contact::{Contact, name_of};
use crate::crm::deal::{Deal, Stage};
use crate::crm::settings::FieldMapping;

/// What one of our kinds is on HubSpot's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object {
    /// The object type in paths.
    pub path: &'static str,
    /// Our id, in a custom property with `hasUniqueValue: true`.
    pub id_property: &'static str,
    pub id_label: &'static str,
    /// The property group the unique property goes into.
    pub group: &'static str,
    /// The last-modified property search filters on.
    pub modified: &'static str,
    /// What pull reads back.
    pub read: &'static [&'static str],
}

pub const COMPANIES: Object = Object {
    path: "companies",
    id_property: "wa_company_id",
    id_label: "juru company id",
    group: "companyinformation",
    modified: "hs_lastmodifieddate",
    read: &["name", "wa_company_id", "hs_lastmodifieddate"],
};
pub const CONTACTS: Object = Object {
    path: "contacts",
    id_property: "wa_contact_id",
    id_label: "juru contact id",
    group: "contactinformation",
    modified: "lastmodifieddate",
    read: &["firstname", "lastname", "email", "phone", "wa_contact_id", "lastmodifieddate"],
};
pub const DEALS: Object = Object {
    path: "deals",
    id_property: "wa_deal_id",
    id_label: "juru deal id",
    group: "dealinformation",
    modified: "hs_lastmodifieddate",
    read: &["dealname", "amount", "pipeline", "dealstage", "wa_deal_id", "hs_lastmodifieddate"],
};
/// Activities become notes. The group name follows HubSpot's engagement
/// groups (verify on a sandbox: property creation fails loudly if wrong).
pub const NOTES: Object = Object {
    path: "notes",
    id_property: "wa_note_id",
    id_label: "juru activity id",
    group: "note_information",
    modified: "hs_lastmodifieddate",
    read: &["hs_note_body", "hs_timestamp", "wa_note_id", "hs_lastmodifieddate"],
};

pub fn object(kind: Kind) -> Object {
    match kind {
        Kind::Company => COMPANIES,
        Kind::Contact => CONTACTS,
        Kind::Deal => DEALS,
        Kind::Activity => NOTES,
    }
}

/// HubSpot's limit on `hs_note_body`.
pub const NOTE_BODY_MAX_CHARS: usize = 65_536;

pub type Properties = BTreeMap<String, String>;

pub fn company_properties(c: &Company) -> Properties {
    BTreeMap::from([("name".to_string(), c.name.clone())])
}

/// Name split into first and last, phone in `+` form, email, then the
/// owner's field mapping on top.
pub fn contact_properties(c: &Contact, mapping: &FieldMapping) -> Properties {
    let mut p = Properties::new();
    if let Some((first, last)) = c.name.as_deref().map(split_name) {
        p.insert("firstname".into(), first);
        if !last.is_empty() {
            p.insert("lastname".into(), last);
        }
    }
    if let Some(phone) = c.phone.as_deref().filter(|s| !s.is_empty()) {
        let international = phone.bytes().all(|b| b.is_ascii_digit());
        p.insert("phone".into(), if international { format!("+{phone}") } else { phone.to_string() });
    }
    if let Some(email) = c.email.as_deref().filter(|s| !s.is_empty()) {
        p.insert("email".into(), email.to_string());
    }
    p.extend(mapped_fields(c, mapping));
    p
}

/// The owner's mapping (local field → HubSpot property), values as strings:
/// lists joined with `;` as HubSpot's multi-select properties take them;
/// empty fields are left out rather than clearing HubSpot's value.
fn mapped_fields(c: &Contact, mapping: &FieldMapping) -> Properties {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(c) else { return Properties::new() };
    mapping
        .iter()
        .filter_map(|(local, remote)| {
            let text = match fields.get(local)? {
                serde_json::Value::Null => return None,
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Array(items) => {
                    let items: Vec<String> =
                        items.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect();
                    items.join(";")
                }
                other => other.to_string(),
            };
            Some((remote.clone(), text))
        })
        .collect()
}

/// `"Budi Santoso Wijaya"` → (`Budi`, `Santoso Wijaya`); one word is a first name.
pub fn split_name(name: &str) -> (String, String) {
    let name = name.trim();
    match name.split_once(char::is_whitespace) {
        Some((first, rest)) => (first.to_string(), rest.trim().to_string()),
        None => (name.to_string(), String::new()),
    }
}

/// A deal's properties, or why it cannot go (an unmapped stage).
pub fn deal_properties(d: &Deal, stages: &StageMap) -> Result<Properties, String> {
    let stage_id = stages.stage_id(d.stage)?;
    let mut p = BTreeMap::from([
        ("dealname".to_string(), d.title.clone()),
        ("amount".to_string(), d.value.to_string()),
        ("pipeline".to_string(), stages.pipeline_id.clone()),
        ("dealstage".to_string(), stage_id.to_string()),
    ]);
    if !d.stage.is_open() {
        if let Some(closed) = d.closed_ms {
            p.insert("closedate".into(), iso_ms(closed));
        }
        // HubSpot's built-in reason properties.
        let reason_property = if d.is_won() { "closed_won_reason" } else { "closed_lost_reason" };
        if let Some(reason) = d.reason.as_deref().filter(|r| !r.is_empty()) {
            p.insert(reason_property.into(), reason.to_string());
        }
    }
    Ok(p)
}

/// An activity as a note: when it happened and what was done.
pub fn note_properties(a: &Activity) -> Properties {
    BTreeMap::from([("hs_timestamp".to_string(), iso_ms(a.at_ms)), ("hs_note_body".to_string(), note_body(a))])
}

/// `Call (sales follow-up) — interested`, the notes, the next step; cut to
/// HubSpot's limit.
pub fn note_body(a: &Activity) -> String {
    let kind = name_of(&a.kind).replace('_', " ");
    let mut head = format!("{kind} ({})", a.kind.category());
    if let Some(outcome) = &a.outcome {
        head.push_str(&format!(" — {}", name_of(outcome).replace('_', " ")));
    }
    let mut lines = vec![head];
    lines.extend(a.notes.clone().filter(|n| !n.trim().is_empty()));
    if let Some(next) = a.next_action.as_deref().filter(|n| !n.is_empty()) {
        match &a.next_action_date {
            Some(date) => lines.push(format!("Next: {next} ({date})")),
            None => lines.push(format!("Next: {next}")),
        }
    }
    lines.push(format!("By {} via {}", a.by, a.source));
    lines.join("\n").chars().take(NOTE_BODY_MAX_CHARS).collect()
}

/// Our stages on one HubSpot pipeline, from its stage catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct StageMap {
    pub pipeline_id: String,
    pub pipeline_label: String,
    ids: BTreeMap<Stage, String>,
}

impl StageMap {
    /// The stage id for `stage`, or a message saying how to fix the pipeline.
    pub fn stage_id(&self, stage: Stage) -> Result<&str, String> {
        self.ids.get(&stage).map(String::as_str).ok_or_else(|| {
            format!(
                "HubSpot pipeline '{}' has no stage for '{}': add a deal stage named '{}' to it \
                 (or rename one), then run `#crm sync` again",
                self.pipeline_label,
                stage.as_str(),
                stage.as_str()
            )
        })
    }

    /// Our stage for a HubSpot stage id (won before retention).
    pub fn stage_of(&self, id: &str) -> Option<Stage> {
        self.ids.iter().find(|(_, v)| v.as_str() == id).map(|(s, _)| *s)
    }
}

/// Maps our stages onto the `default` pipeline (or the first one): by label
/// first (case-insensitive, `qualified` matches "Qualified to buy"); won and
/// lost onto the closed stages (by label, else probability 1 and 0);
/// retention onto won; our open stages whose name matches no label onto the
/// open stages in display order (lead → the first, negotiation → the fifth).
pub fn map_stages(pipelines: &[Pipeline]) -> Option<StageMap> {
    let live = pipelines.iter().filter(|p| !p.archived);
    let pipeline = live.clone().find(|p| p.id == "default").or_else(|| live.min_by_key(|p| p.display_order))?;
    let mut stages: Vec<_> = pipeline.stages.iter().filter(|s| !s.archived).collect();
    stages.sort_by_key(|s| s.display_order);
    let (closed, open): (Vec<_>, Vec<_>) = stages.into_iter().partition(|s| s.metadata.is_closed);
    let label_has = |label: &str, word: &str| label.to_lowercase().contains(word);

    let mut ids = BTreeMap::new();
    let won = closed
        .iter()
        .find(|s| label_has(&s.label, "won"))
        .or_else(|| closed.iter().find(|s| s.metadata.probability.is_some_and(|p| p >= 1.0)));
    let lost = closed
        .iter()
        .find(|s| label_has(&s.label, "lost"))
        .or_else(|| closed.iter().find(|s| s.metadata.probability.is_some_and(|p| p <= 0.0)));
    if let Some(won) = won {
        ids.insert(Stage::Won, won.id.clone());
        ids.insert(Stage::Retention, won.id.clone());
    }
    if let Some(lost) = lost {
        ids.insert(Stage::Lost, lost.id.clone());
    }
    let ours = [Stage::Lead, Stage::Qualified, Stage::Discovery, Stage::Proposal, Stage::Negotiation];
    for (i, stage) in ours.into_iter().enumerate() {
        let by_label = open.iter().find(|s| label_has(&s.label, stage.as_str()));
        if let Some(s) = by_label.or_else(|| open.get(i)) {
            ids.insert(stage, s.id.clone());
        }
    }
    Some(StageMap { pipeline_id: pipeline.id.clone(), pipeline_label: pipeline.label.clone(), ids })
}

/// `1700000000000` → `2023-11-14T22:13:20.000Z`.
pub fn iso_ms(ms: u64) -> String {
    let (days, rest) = (ms / 86_400_000, ms % 86_400_000);
    let (y, m, d) = crate::clock::civil_from_days(days as i64);
    let (h, min, s, milli) = (rest / 3_600_000, rest / 60_000 % 60, rest / 1000 % 60, rest % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// HubSpot's times: epoch milliseconds as text, or ISO 8601 in UTC
/// (`2026-11-24T01:02:03.456Z`, fraction optional).
pub fn parse_time(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<u64>() {
        return Some(ms);
    }
    crate::clock::parse_instant_ms(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::hubspot::wire::{PipelineList, PipelineStage, StageMetadata};

    fn stage(id: &str, label: &str, order: i64, closed: bool, probability: f64) -> PipelineStage {
        PipelineStage {
            id: id.into(),
            label: label.into(),
            display_order: order,
            metadata: StageMetadata { is_closed: closed, probability: Some(probability) },
            archived: false,
        }
    }

    fn default_pipeline() -> Pipeline {
        Pipeline {
            id: "default".into(),
            label: "Sales Pipeline".into(),
            display_order: 0,
            archived: false,
            stages: vec![
                stage("appointmentscheduled", "Appointment Scheduled", 0, false, 0.2),
                stage("qualifiedtobuy", "Qualified To Buy", 1, false, 0.4),
                stage("presentationscheduled", "Presentation Scheduled", 2, false, 0.6),
                stage("decisionmakerboughtin", "Decision Maker Bought-In", 3, false, 0.8),
                stage("contractsent", "Contract Sent", 4, false, 0.9),
                stage("closedwon", "Closed Won", 5, true, 1.0),
                stage("closedlost", "Closed Lost", 6, true, 0.0),
            ],
        }
    }

    #[test]
    fn our_stages_land_on_hubspots_default_pipeline_in_order() {
        let map = map_stages(&[default_pipeline()]).unwrap();
        let got: Vec<_> = Stage::ALL.iter().map(|s| map.stage_id(*s).unwrap()).collect();
        assert_eq!(
            got,
            [
                "appointmentscheduled",
                "qualifiedtobuy",
                "presentationscheduled",
                "decisionmakerboughtin",
                "contractsent",
                "closedwon",
                "closedlost",
                "closedwon"
            ]
        );
        assert_eq!(map.stage_of("closedwon"), Some(Stage::Won));
        assert_eq!(map.stage_of("nope"), None);
    }

    #[test]
    fn labels_win_over_order_and_a_missing_stage_says_how_to_fix_it() {
        let p = Pipeline {
            id: "77".into(),
            label: "Kopi B2B".into(),
            display_order: 0,
            archived: false,
            stages: vec![
                stage("1", "New lead", 0, false, 0.1),
                stage("2", "Negotiation", 1, false, 0.7),
                stage("3", "Deal won", 2, true, 1.0),
            ],
        };
        let map = map_stages(&[p]).unwrap();
        assert_eq!(map.stage_id(Stage::Lead), Ok("1"));
        assert_eq!(map.stage_id(Stage::Negotiation), Ok("2"));
        assert_eq!(map.stage_id(Stage::Qualified), Ok("2"), "second open stage by order");
        let err = map.stage_id(Stage::Lost).unwrap_err();
        assert!(err.contains("'Kopi B2B'") && err.contains("'lost'"), "{err}");
        assert!(map.stage_id(Stage::Proposal).is_err(), "only two open stages");
    }

    #[test]
    fn stage_metadata_reads_hubspots_strings() {
        let body = r#"{"results":[{"id":"default","label":"Sales","stages":[
            {"id":"closedwon","label":"Closed Won","displayOrder":5,"metadata":{"isClosed":"true","probability":"1.0"}}]}]}"#;
        let list: PipelineList = serde_json::from_str(body).unwrap();
        let s = &list.results[0].stages[0];
        assert!(s.metadata.is_closed);
        assert_eq!(s.metadata.probability, Some(1.0));
    }

    #[test]
    fn names_split_and_phones_get_a_plus() {
        assert_eq!(split_name(" Budi  Santoso Wijaya "), ("Budi".into(), "Santoso Wijaya".into()));
        assert_eq!(split_name("Sari"), ("Sari".into(), String::new()));
        let mut c = Contact::new("6281234", crate::channel::Channel::Waha, 0);
        c.name = Some("Sari".into());
        c.labels = vec!["vip".into(), "b2b".into()];
        c.customer_group = Some(crate::crm::contact::CustomerGroup::B2B);
        let mapping = FieldMapping::from([
            ("customer_group".to_string(), "wa_group__c".to_string()),
            ("labels".to_string(), "wa_labels".to_string()),
            ("email".to_string(), "email_2".to_string()),
        ]);
        let p = contact_properties(&c, &mapping);
        assert_eq!(p.get("phone").map(String::as_str), Some("+6281234"));
        assert_eq!(p.get("firstname").map(String::as_str), Some("Sari"));
        assert!(!p.contains_key("lastname"));
        assert_eq!(p.get("wa_group__c").map(String::as_str), Some("B2B"));
        assert_eq!(p.get("wa_labels").map(String::as_str), Some("vip;b2b"));
        assert!(!p.contains_key("email_2"), "an empty field is left out");
    }

    #[test]
    fn times_round_trip_through_iso() {
        assert_eq!(iso_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(parse_time("2023-11-14T22:13:20.123Z"), Some(1_700_000_000_123));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20.5Z"), Some(1_700_000_000_500));
        assert_eq!(parse_time("1700000000000"), Some(1_700_000_000_000));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2023-13-14T22:13:20Z"), None);
    }

    #[test]
    fn a_long_note_is_cut_to_hubspots_limit() {
        let a = Activity {
            seq: 1,
            contact: "62811".into(),
            kind: crate::crm::activity::ActivityType::Call,
            source: "command".into(),
            outcome: Some(crate::crm::activity::Outcome::FollowUpNeeded),
            next_action: Some("send quote".into()),
            next_action_date: Some("2026-12-01".into()),
            notes: Some("é".repeat(70_000)),
            deal: None,
            by: "628111".into(),
            at_ms: 0,
        };
        let body = note_body(&a);
        assert_eq!(body.chars().count(), NOTE_BODY_MAX_CHARS);
        assert!(body.starts_with("call (sales follow-up) — follow up needed\n"));
    }
}
