//! Our records as Salesforce sObjects (companies → Account, contacts →
//! Contact, deals → Opportunity, activities → Task), our stages onto the
//! org's Opportunity stages, and the date formats Salesforce speaks.
//! Pure functions: everything here is tested without a network.

use serde_json::{Map, Value, json};

use super::wire::{Row, StageRow};
use crate::connectors::fields::{self, activity_subject, local_date, pulled_amount, pulled_name, truncate};
use crate::connectors::{Kind, Outcome, Record, RemoteChange, RemoteFields, RemoteIds};
use crate::crm::activity::Activity;
use crate::crm::company::Company;
use crate::crm::contact::Contact;
use crate::crm::deal::{Deal, Stage};
use crate::crm::settings::FieldMapping;

/// The sObject each kind lives in.
pub fn sobject(kind: Kind) -> &'static str {
    match kind {
        Kind::Company => "Account",
        Kind::Contact => "Contact",
        Kind::Deal => "Opportunity",
        Kind::Activity => "Task",
    }
}

/// The fields pull reads per kind (besides the External ID field).
pub fn pull_fields(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Company => &["Id", "Name", "Phone", "SystemModstamp"],
        Kind::Contact => &["Id", "Name", "Email", "Phone", "MobilePhone", "SystemModstamp"],
        Kind::Deal => &["Id", "Name", "Amount", "StageName", "SystemModstamp"],
        Kind::Activity => &["Id", "Subject", "SystemModstamp"],
    }
}

/// What building a record's body needs besides the record.
pub struct Context<'a> {
    pub external_id_field: &'a str,
    pub mapping: &'a FieldMapping,
    pub stages: Option<&'a StageMap>,
    pub ids: &'a dyn RemoteIds,
}

/// The collections body entry for one record, or why it cannot be sent
/// (an unmapped stage is dead; a parent not pushed yet is retried).
pub fn body(record: &Record, cx: &Context<'_>) -> Result<Map<String, Value>, Outcome> {
    let kind = record.kind();
    let mut out = Map::new();
    out.insert("attributes".into(), json!({ "type": sobject(kind) }));
    out.insert(cx.external_id_field.into(), Value::String(record.local_id()));
    match record {
        Record::Company(c) => company(c, cx, &mut out),
        Record::Contact(c) => contact(c, cx, &mut out),
        Record::Deal(d) => deal(d, cx, &mut out)?,
        Record::Activity(a) => activity(a, cx, &mut out)?,
    }
    Ok(out)
}

/// A lookup by the parent's External ID (`"Account": {"WA_Id__c": "kopi"}`),
/// so no id needs to be known; Salesforce resolves it when it saves.
fn by_our_id(cx: &Context<'_>, local_id: &str) -> Value {
    let mut reference = Map::new();
    reference.insert(cx.external_id_field.into(), Value::String(local_id.into()));
    Value::Object(reference)
}

fn company(c: &Company, cx: &Context<'_>, out: &mut Map<String, Value>) {
    out.insert("Name".into(), json!(c.name));
    out.insert("Description".into(), json!(format!("WhatsApp CRM {}", c.kind.as_str())));
    if let Some(parent) = &c.parent {
        match cx.ids.remote_id(Kind::Company, parent) {
            Some(id) => out.insert("ParentId".into(), json!(id)),
            None => out.insert("Parent".into(), by_our_id(cx, parent)),
        };
    }
}

fn contact(c: &Contact, cx: &Context<'_>, out: &mut Map<String, Value>) {
    let phone = c.phone.as_deref().map(|p| format!("+{p}"));
    // LastName is required; Indonesian names rarely split into first/last,
    // so the whole name goes there, else the phone, else our key.
    let name = c.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let last = name.map(str::to_string).or_else(|| phone.clone()).unwrap_or_else(|| c.key.clone());
    out.insert("LastName".into(), json!(truncate(&last, 80)));
    if let Some(phone) = phone {
        out.insert("Phone".into(), json!(phone));
    }
    if let Some(email) = &c.email {
        out.insert("Email".into(), json!(email));
    }
    if let Some(company) = &c.company {
        match cx.ids.remote_id(Kind::Company, company) {
            Some(id) => out.insert("AccountId".into(), json!(id)),
            None => out.insert("Account".into(), by_our_id(cx, company)),
        };
    }
    mapped_fields(c, cx, out);
}

/// The owner's field mapping on top of the built-in fields: the local field
/// read by its serde name, lists as multi-select picklist values (`a;b`).
fn mapped_fields(c: &Contact, cx: &Context<'_>, out: &mut Map<String, Value>) {
    for (to, value) in fields::mapped_values(c, cx.mapping) {
        // Our id and the type tag are what idempotency rests on.
        if to != cx.external_id_field && to != "attributes" {
            out.insert(to.clone(), value);
        }
    }
}

fn deal(d: &Deal, cx: &Context<'_>, out: &mut Map<String, Value>) -> Result<(), Outcome> {
    let stage = cx.stages.and_then(|s| s.api_name(d.stage)).ok_or_else(|| Outcome::Dead {
        reason: format!(
            "deal stage `{}` has no Salesforce Opportunity stage: add an active {} stage in Setup → \
             Object Manager → Opportunity → Fields & Relationships → Stage, then run `#crm sync` again",
            d.stage.as_str(),
            match d.stage {
                Stage::Won | Stage::Retention => "closed-won",
                Stage::Lost => "closed-lost",
                _ => "open",
            }
        ),
    })?;
    out.insert("Name".into(), json!(truncate(&d.title, 120)));
    out.insert("StageName".into(), json!(stage));
    out.insert("Amount".into(), json!(d.value));
    // CloseDate is required: the real one once closed, else a stable guess
    // a month after creation (the rep moves it in Salesforce).
    let close_ms = d.closed_ms.unwrap_or(d.created_ms + 30 * 86_400_000);
    out.insert("CloseDate".into(), json!(local_date(close_ms)));
    if let Some(reason) = &d.reason {
        out.insert("Description".into(), json!(format!("{}: {reason}", d.stage.as_str())));
    }
    if let Some(company) = &d.company {
        match cx.ids.remote_id(Kind::Company, company) {
            Some(id) => out.insert("AccountId".into(), json!(id)),
            None => out.insert("Account".into(), by_our_id(cx, company)),
        };
    }
    Ok(())
}

fn activity(a: &Activity, cx: &Context<'_>, out: &mut Map<String, Value>) -> Result<(), Outcome> {
    // WhoId/WhatId are polymorphic and take Salesforce ids, not our ids.
    let who = cx
        .ids
        .remote_id(Kind::Contact, &a.contact)
        .ok_or_else(|| Outcome::Retry { reason: format!("contact {} is not in Salesforce yet", a.contact) })?;
    out.insert("WhoId".into(), json!(who));
    if let Some(deal) = a.deal {
        let what = cx
            .ids
            .remote_id(Kind::Deal, &format!("D{deal}"))
            .ok_or_else(|| Outcome::Retry { reason: format!("deal D{deal} is not in Salesforce yet") })?;
        out.insert("WhatId".into(), json!(what));
    }
    out.insert("Subject".into(), json!(truncate(&activity_subject(a), 255)));
    out.insert("ActivityDate".into(), json!(local_date(a.at_ms)));
    out.insert("Status".into(), json!("Completed"));
    out.insert("Description".into(), json!(truncate(&fields::activity_description(a, None), 32_000)));
    Ok(())
}

/// Our stages onto the org's Opportunity stages (`ApiName`s).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageMap {
    /// Indexed like `Stage::ALL`.
    names: [Option<String>; 8],
    catalogue: Vec<StageRow>,
}

/// Words that name each open stage in a typical org (the default sales
/// process: Prospecting, Qualification, Needs Analysis, …, Negotiation/Review).
const SYNONYMS: [(Stage, &[&str]); 5] = [
    (Stage::Lead, &["lead", "prospect"]),
    (Stage::Qualified, &["qualif"]),
    (Stage::Discovery, &["discovery", "needs analysis", "analysis"]),
    (Stage::Proposal, &["proposal", "quote"]),
    (Stage::Negotiation, &["negotiat", "review"]),
];

impl StageMap {
    /// Maps by name first (`ApiName` or label, case-insensitively), then the
    /// open stages left over in order; won and retention → the first won
    /// stage, lost → the first closed stage that is not won. `rows` come in
    /// the org's sort order.
    pub fn new(rows: Vec<StageRow>) -> StageMap {
        let mut names: [Option<String>; 8] = Default::default();
        let open: Vec<&StageRow> = rows.iter().filter(|r| !r.is_closed).collect();
        let matches = |r: &StageRow, words: &[&str]| {
            let (api, label) = (r.api_name.to_lowercase(), r.label.to_lowercase());
            words.iter().any(|w| api.contains(w) || label.contains(w))
        };
        let mut floor = 0;
        for (i, (stage, words)) in SYNONYMS.iter().enumerate() {
            let exact = open.iter().position(|r| {
                r.api_name.eq_ignore_ascii_case(stage.as_str()) || r.label.eq_ignore_ascii_case(stage.as_str())
            });
            let by_word = || open.iter().skip(floor).position(|r| matches(r, words)).map(|p| p + floor);
            // Unmatched: the i-th open stage, never before the previous one.
            let position =
                exact.or_else(by_word).or_else(|| (!open.is_empty()).then(|| i.min(open.len() - 1).max(floor)));
            if let Some(p) = position {
                names[*stage as usize] = Some(open[p].api_name.clone());
                floor = floor.max(p);
            }
        }
        let won = rows.iter().find(|r| r.is_closed && r.is_won).map(|r| r.api_name.clone());
        let lost = rows.iter().find(|r| r.is_closed && !r.is_won).map(|r| r.api_name.clone());
        names[Stage::Won as usize] = won.clone();
        names[Stage::Retention as usize] = won;
        names[Stage::Lost as usize] = lost;
        StageMap { names, catalogue: rows }
    }

    pub fn api_name(&self, stage: Stage) -> Option<&str> {
        self.names[stage as usize].as_deref()
    }

    /// A remote `StageName` back to ours: the stage mapped onto it, else by
    /// the catalogue's won/closed flags.
    pub fn ours(&self, api_name: &str) -> Option<Stage> {
        let mapped = Stage::ALL.into_iter().find(|s| self.api_name(*s) == Some(api_name));
        mapped.or_else(|| {
            let row = self.catalogue.iter().find(|r| r.api_name == api_name)?;
            match (row.is_closed, row.is_won) {
                (true, true) => Some(Stage::Won),
                (true, false) => Some(Stage::Lost),
                _ => None,
            }
        })
    }
}

/// A queried row as a pull change.
pub fn change(kind: Kind, row: &Row, external_id_field: &str, stages: Option<&StageMap>) -> Option<RemoteChange> {
    let modified_ms = parse_datetime(&row.modstamp)?;
    let phone = row.phone.as_deref().or(row.mobile.as_deref()).and_then(crate::phone::pulled);
    // A contact pushed without a name carries the phone as LastName.
    let name = pulled_name(row.name.clone(), phone.as_deref());
    let mut fields = RemoteFields::default();
    match kind {
        Kind::Company => (fields.name, fields.phone) = (name, phone),
        Kind::Contact => (fields.name, fields.email, fields.phone) = (name, row.email.clone(), phone),
        Kind::Deal => {
            fields.title = name;
            fields.value = pulled_amount(row.amount);
            fields.stage = row.stage.as_deref().and_then(|s| stages.and_then(|m| m.ours(s)));
        }
        Kind::Activity => fields.title = row.subject.clone(),
    }
    Some(RemoteChange {
        kind,
        remote_id: row.id.clone(),
        local_id: row.text(external_id_field).map(str::to_string),
        modified_ms,
        fields,
    })
}

/// A value inside a SOQL string literal: backslash and quote escaped.
pub fn soql_escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}

/// A SOQL datetime literal in UTC: `2026-11-24T01:02:03.456Z`.
pub fn soql_datetime(ms: u64) -> String {
    let (y, m, d) = crate::clock::civil_from_days((ms / 86_400_000) as i64);
    let rem = ms % 86_400_000;
    let (h, min, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// Salesforce's datetimes (`2026-11-24T01:02:03.000+0000`, also `Z` and
/// `+07:00` forms) to ms since the epoch.
pub fn parse_datetime(text: &str) -> Option<u64> {
    crate::clock::parse_instant_ms(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::Channel;
    use crate::crm::activity::ActivityType;
    use std::sync::Arc;

    struct Known(Vec<(Kind, &'static str, &'static str)>);
    impl RemoteIds for Known {
        fn remote_id(&self, kind: Kind, local_id: &str) -> Option<String> {
            self.0.iter().find(|(k, l, _)| *k == kind && *l == local_id).map(|(_, _, r)| r.to_string())
        }
    }

    fn row(api: &str, label: &str, closed: bool, won: bool) -> StageRow {
        StageRow { api_name: api.into(), label: label.into(), is_closed: closed, is_won: won, probability: None }
    }

    fn default_process() -> Vec<StageRow> {
        [
            "Prospecting",
            "Qualification",
            "Needs Analysis",
            "Value Proposition",
            "Id. Decision Makers",
            "Perception Analysis",
            "Proposal/Price Quote",
            "Negotiation/Review",
        ]
        .into_iter()
        .map(|n| row(n, n, false, false))
        .chain([row("Closed Won", "Closed Won", true, true), row("Closed Lost", "Closed Lost", true, false)])
        .collect()
    }

    #[test]
    fn the_default_sales_process_maps_by_name() {
        let map = StageMap::new(default_process());
        let names: Vec<_> = Stage::ALL.iter().map(|s| map.api_name(*s).unwrap_or("-")).collect();
        assert_eq!(
            names,
            [
                "Prospecting",
                "Qualification",
                "Needs Analysis",
                "Proposal/Price Quote",
                "Negotiation/Review",
                "Closed Won",
                "Closed Lost",
                "Closed Won"
            ]
        );
        assert_eq!(map.ours("Closed Won"), Some(Stage::Won));
        assert_eq!(map.ours("Value Proposition"), None);
        assert_eq!(map.ours("Negotiation/Review"), Some(Stage::Negotiation));
    }

    #[test]
    fn unnamed_open_stages_are_taken_in_order_and_missing_closed_stages_stay_unmapped() {
        let map = StageMap::new(vec![row("Tahap 1", "Tahap 1", false, false), row("Tahap 2", "Tahap 2", false, false)]);
        assert_eq!(map.api_name(Stage::Lead), Some("Tahap 1"));
        assert_eq!(map.api_name(Stage::Qualified), Some("Tahap 2"));
        assert_eq!(map.api_name(Stage::Negotiation), Some("Tahap 2"));
        assert_eq!(map.api_name(Stage::Won), None);
        assert_eq!(map.api_name(Stage::Lost), None);
        assert_eq!(StageMap::new(vec![]).api_name(Stage::Lead), None);
    }

    #[test]
    fn an_exact_name_wins_over_a_word() {
        let map = StageMap::new(vec![
            row("New", "New", false, false),
            row("Lead", "Lead", false, false),
            row("Won", "Won", true, true),
        ]);
        assert_eq!(map.api_name(Stage::Lead), Some("Lead"));
    }

    fn cx<'a>(mapping: &'a FieldMapping, stages: Option<&'a StageMap>, ids: &'a Known) -> Context<'a> {
        Context { external_id_field: "WA_Id__c", mapping, stages, ids }
    }

    #[test]
    fn a_contact_without_a_name_uses_the_phone_links_its_company_by_our_id_and_gets_mapped_fields() {
        let mut c = Contact::new("6281234567890", Channel::Waha, 0);
        c.company = Some("kopi-kita".into());
        c.customer_group = Some(crate::crm::contact::CustomerGroup::B2B);
        c.labels = vec!["hot".into(), "vip".into()];
        let mapping: FieldMapping = [
            ("customer_group".to_string(), "wa_group__c".to_string()),
            ("labels".into(), "Labels__c".into()),
            ("key".into(), "WA_Id__c".into()),
        ]
        .into();
        let ids = Known(vec![]);
        let body = body(&Record::Contact(Arc::new(c)), &cx(&mapping, None, &ids)).unwrap();
        assert_eq!(body["attributes"], json!({"type": "Contact"}));
        assert_eq!(body["WA_Id__c"], "6281234567890");
        assert_eq!(body["LastName"], "+6281234567890");
        assert_eq!(body["Account"], json!({"WA_Id__c": "kopi-kita"}));
        assert_eq!(body["wa_group__c"], "B2B");
        assert_eq!(body["Labels__c"], "hot;vip");
    }

    fn a_deal(stage: Stage) -> Deal {
        Deal {
            contact: Some("6281234567890".into()),
            company: Some("kopi-kita".into()),
            updated_ms: 0,
            ..Deal::new(7, "Mesin kopi", 25_000_000, stage, "x", 1_764_000_000_000)
        }
    }

    #[test]
    fn a_deal_carries_its_stage_close_date_and_account_and_an_unmapped_stage_is_dead() {
        let map = StageMap::new(default_process());
        let ids = Known(vec![(Kind::Company, "kopi-kita", "001X")]);
        let mapping = FieldMapping::new();
        let body = body(&Record::Deal(Arc::new(a_deal(Stage::Proposal))), &cx(&mapping, Some(&map), &ids)).unwrap();
        assert_eq!(body["StageName"], "Proposal/Price Quote");
        assert_eq!(body["AccountId"], "001X");
        assert_eq!(body["Amount"], 25_000_000);
        assert_eq!(body["CloseDate"], local_date(1_764_000_000_000 + 30 * 86_400_000));
        let open_only = StageMap::new(vec![row("Open", "Open", false, false)]);
        let dead = super::body(&Record::Deal(Arc::new(a_deal(Stage::Lost))), &cx(&mapping, Some(&open_only), &ids));
        assert!(
            matches!(dead, Err(Outcome::Dead { reason }) if reason.contains("`lost`") && reason.contains("closed-lost"))
        );
    }

    #[test]
    fn an_activity_links_by_salesforce_ids_and_waits_for_an_unpushed_contact() {
        let a = Activity {
            seq: 3,
            contact: "62812".into(),
            kind: ActivityType::Call,
            source: "command".into(),
            outcome: Some(crate::crm::activity::Outcome::FollowUpNeeded),
            next_action: Some("kirim penawaran".into()),
            next_action_date: Some("2026-12-01".into()),
            notes: Some("tertarik paket B".into()),
            deal: Some(7),
            by: "628111".into(),
            at_ms: 1_764_000_000_000,
        };
        let mapping = FieldMapping::new();
        let ids = Known(vec![(Kind::Contact, "62812", "003A"), (Kind::Deal, "D7", "006B")]);
        let body = body(&Record::Activity(a.clone()), &cx(&mapping, None, &ids)).unwrap();
        assert_eq!((body["WhoId"].as_str(), body["WhatId"].as_str()), (Some("003A"), Some("006B")));
        assert_eq!(body["Subject"], "Call: follow up needed");
        assert_eq!(body["Description"], "tertarik paket B\nNext: kirim penawaran (2026-12-01)\nBy 628111 via command");
        assert_eq!(body["WA_Id__c"], "A3");
        let none = Known(vec![]);
        assert!(matches!(super::body(&Record::Activity(a), &cx(&mapping, None, &none)), Err(Outcome::Retry { .. })));
    }

    #[test]
    fn datetimes_round_trip_and_read_every_offset_form() {
        let ms = 1_764_000_123_456;
        assert_eq!(parse_datetime(&soql_datetime(ms)), Some(ms));
        assert_eq!(soql_datetime(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(parse_datetime("1970-01-01T00:00:01.000+0000"), Some(1000));
        assert_eq!(parse_datetime("1970-01-01T07:00:00.000+07:00"), Some(0));
        assert_eq!(parse_datetime("2026-11-24T01:02:03Z"), parse_datetime("2026-11-24T01:02:03.000+0000"));
        assert_eq!(parse_datetime("garbage"), None);
        assert_eq!(parse_datetime("2026-13-01T00:00:00Z"), None);
    }

    #[test]
    fn a_pulled_contact_named_by_its_phone_brings_no_name() {
        let row: Row = serde_json::from_str(
            r#"{"Id":"003A","Name":"+6281234567890","Phone":"+6281234567890","WA_Id__c":"6281234567890","SystemModstamp":"1970-01-01T00:00:01.000+0000"}"#,
        )
        .unwrap();
        let c = change(Kind::Contact, &row, "WA_Id__c", None).unwrap();
        assert_eq!(c.fields.name, None);
        assert_eq!(c.fields.phone.as_deref(), Some("6281234567890"));
        assert_eq!(c.local_id.as_deref(), Some("6281234567890"));
        assert_eq!(c.modified_ms, 1000);
    }
}
