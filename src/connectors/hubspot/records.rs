//! Push (batch upsert on our id, then default associations to the parents)
//! and pull (search on the last-modified property) for one kind of record.

use std::collections::BTreeMap;

use reqwest::Method;

use super::classify::{classify, record_error_passes};
use super::mapping::{self, Object, StageMap, parse_time};
use super::wire::{
    AssociationInput, BatchAnswer, ErrorBody, Filter, FilterGroup, IdRef, Inputs, ObjectResult, SearchAnswer,
    SearchRequest, Sort, UpsertInput,
};
use super::{BATCH_MAX, HubspotConnector, PAGE};
use crate::clock::now_ms;
use crate::connectors::http::Answer;
use crate::connectors::{Item, Kind, Outcome, Pulled, Record, RemoteChange, RemoteFields, RemoteIds, SyncError};

pub(super) async fn push(c: &HubspotConnector, items: &[Item], ids: &dyn RemoteIds) -> Result<Vec<Outcome>, SyncError> {
    let Some(kind) = items.first().map(|i| i.record.kind()) else { return Ok(Vec::new()) };
    let object = mapping::object(kind);
    let stages = if kind == Kind::Deal { Some(c.stages().await?) } else { None };

    let mut outcomes: Vec<Option<Outcome>> = vec![None; items.len()];
    let mut inputs = Vec::new();
    let mut sent = Vec::new(); // item index of each input
    for (i, item) in items.iter().enumerate() {
        let properties = match &item.record {
            r if r.kind() != kind => Err(format!("a {} in a batch of {}s", r.kind().as_str(), kind.as_str())),
            Record::Company(co) => Ok(mapping::company_properties(co)),
            Record::Contact(ct) => Ok(mapping::contact_properties(ct, &c.mapping)),
            Record::Deal(d) => {
                stages.as_deref().map_or(Err("no deal stages".into()), |s| mapping::deal_properties(d, s))
            }
            Record::Activity(a) => Ok(mapping::note_properties(a)),
        };
        match properties {
            Ok(mut properties) => {
                // Also as a property: HubSpot then echoes it in the result,
                // which is how results are matched to records.
                let id = item.record.local_id();
                properties.insert(object.id_property.to_string(), id.clone());
                inputs.push(UpsertInput { id, id_property: object.id_property, properties });
                sent.push(i);
            }
            Err(reason) => outcomes[i] = Some(Outcome::Dead { reason }),
        }
    }
    for (inputs, sent) in inputs.chunks(BATCH_MAX).zip(sent.chunks(BATCH_MAX)) {
        let local_ids: Vec<String> = inputs.iter().map(|i| i.id.clone()).collect();
        let body = Inputs { inputs: inputs.to_vec() };
        let answer = c.call(Method::POST, &c.objects_path(&object, "batch/upsert"), Some(&body)).await?;
        for (outcome, &i) in read_upsert(&answer, &local_ids, object.id_property)?.into_iter().zip(sent) {
            outcomes[i] = Some(outcome);
        }
    }
    let mut outcomes: Vec<Outcome> =
        outcomes.into_iter().map(|o| o.unwrap_or_else(|| Outcome::Retry { reason: "not sent".into() })).collect();
    link(c, items, &mut outcomes, ids).await?;
    Ok(outcomes)
}

/// One outcome per input from a `batch/upsert` answer. A whole-batch 400
/// that names records dead-letters those and retries the rest (HubSpot
/// applied none of them).
fn read_upsert(answer: &Answer, local_ids: &[String], id_property: &str) -> Result<Vec<Outcome>, SyncError> {
    let status = answer.status.as_u16();
    if status == 400 || status == 409 {
        let error: ErrorBody = serde_json::from_slice(&answer.body).unwrap_or_default();
        let named: Vec<bool> = local_ids.iter().map(|id| error.context_values().any(|v| v == id)).collect();
        if !named.contains(&true) {
            return Err(classify(answer, now_ms()));
        }
        let refused = format!("HubSpot {status}: {}", error.describe());
        return Ok(named
            .into_iter()
            .map(|named| match named {
                true => Outcome::Dead { reason: refused.clone() },
                false => Outcome::Retry { reason: "not applied: HubSpot refused another record of the batch".into() },
            })
            .collect());
    }
    if !answer.status.is_success() {
        return Err(classify(answer, now_ms()));
    }
    Ok(upsert_outcomes(answer.json()?, local_ids, id_property))
}

/// Matches results and errors to inputs by our id (results carry it in the
/// unique property, errors in their `context`), not by position.
fn upsert_outcomes(batch: BatchAnswer, local_ids: &[String], id_property: &str) -> Vec<Outcome> {
    let mut out: Vec<Option<Outcome>> = vec![None; local_ids.len()];
    let open = |out: &[Option<Outcome>], v: &str| (0..local_ids.len()).find(|&i| local_ids[i] == v && out[i].is_none());
    let mut unattributed = Vec::new();
    for error in &batch.errors {
        let reason = error.describe();
        let outcome = if record_error_passes(error) { Outcome::Retry { reason } } else { Outcome::Dead { reason } };
        let mut named = false;
        for v in error.context_values() {
            if let Some(i) = open(&out, v) {
                out[i] = Some(outcome.clone());
                named = true;
            }
        }
        if !named {
            unattributed.push(error.describe());
        }
    }
    let mut without_our_id = Vec::new();
    for result in batch.results {
        match result.property(id_property).and_then(|v| open(&out, v)) {
            Some(i) => out[i] = Some(Outcome::Done { remote_id: result.id }),
            None => without_our_id.push(result.id),
        }
    }
    // Results that do not echo our id: in order onto the records still open,
    // but only when every error is accounted for.
    if unattributed.is_empty() {
        let mut rest = without_our_id.into_iter();
        for o in out.iter_mut().filter(|o| o.is_none()) {
            match rest.next() {
                Some(remote_id) => *o = Some(Outcome::Done { remote_id }),
                None => break,
            }
        }
    }
    let silent = match unattributed.is_empty() {
        true => "HubSpot did not report on this record".to_string(),
        false => unattributed.join("; "),
    };
    out.into_iter().map(|o| o.unwrap_or_else(|| Outcome::Retry { reason: silent.clone() })).collect()
}

/// The parents a record links to: (their kind, our id, HubSpot's type path).
fn parents(record: &Record) -> Vec<(Kind, String, &'static str)> {
    match record {
        Record::Company(_) => Vec::new(),
        Record::Contact(c) => c.company.iter().map(|co| (Kind::Company, co.clone(), "companies")).collect(),
        Record::Deal(d) => {
            let contact = d.contact.iter().map(|k| (Kind::Contact, k.clone(), "contacts"));
            contact.chain(d.company.iter().map(|co| (Kind::Company, co.clone(), "companies"))).collect()
        }
        Record::Activity(a) => {
            let contact = std::iter::once((Kind::Contact, a.contact.clone(), "contacts"));
            contact.chain(a.deal.map(|d| (Kind::Deal, format!("D{d}"), "deals"))).collect()
        }
    }
}

/// Default associations from each stored record to its parents. A parent
/// not in HubSpot yet makes the record `Retry` (stored; linked next time).
async fn link(
    c: &HubspotConnector,
    items: &[Item],
    outcomes: &mut [Outcome],
    ids: &dyn RemoteIds,
) -> Result<(), SyncError> {
    let Some(from_path) = items.first().map(|i| mapping::object(i.record.kind()).path) else { return Ok(()) };
    let mut by_target: BTreeMap<&'static str, Vec<(usize, String, String)>> = BTreeMap::new();
    let mut missing: Vec<Vec<String>> = vec![Vec::new(); items.len()];
    for (i, item) in items.iter().enumerate() {
        let Outcome::Done { remote_id } = &outcomes[i] else { continue };
        for (kind, local, to_path) in parents(&item.record) {
            match ids.remote_id(kind, &local) {
                Some(to) => by_target.entry(to_path).or_default().push((i, remote_id.clone(), to)),
                None => missing[i].push(format!("{} {local}", kind.as_str())),
            }
        }
    }
    for (to_path, links) in by_target {
        for chunk in links.chunks(BATCH_MAX) {
            associate(c, from_path, to_path, chunk, outcomes).await?;
        }
    }
    for (i, missing) in missing.into_iter().enumerate() {
        if !missing.is_empty() && matches!(outcomes[i], Outcome::Done { .. }) {
            outcomes[i] = Outcome::Retry {
                reason: format!(
                    "stored in HubSpot, but {} is not there yet: linked on the next push",
                    missing.join(", ")
                ),
            };
        }
    }
    Ok(())
}

/// One `batch/associate/default` call; `links` are (item, from id, to id).
async fn associate(
    c: &HubspotConnector,
    from_path: &str,
    to_path: &str,
    links: &[(usize, String, String)],
    outcomes: &mut [Outcome],
) -> Result<(), SyncError> {
    let path = format!("/crm/associations/{}/{from_path}/{to_path}/batch/associate/default", c.version);
    let inputs = links
        .iter()
        .map(|(_, from, to)| AssociationInput { from: IdRef { id: from.clone() }, to: IdRef { id: to.clone() } })
        .collect();
    let answer = c.call(Method::POST, &path, Some(&Inputs { inputs })).await?;
    if !answer.status.is_success() {
        return match classify(&answer, now_ms()) {
            SyncError::Permanent(reason) => {
                for (i, _, _) in links {
                    outcomes[*i] = Outcome::Dead { reason: format!("stored, but HubSpot refused the link: {reason}") };
                }
                Ok(())
            }
            other => Err(other),
        };
    }
    let batch: BatchAnswer = answer.json()?;
    for error in &batch.errors {
        let names = |id: &str| error.context_values().any(|v| v == id) || mentions(&error.message, id);
        let named: Vec<usize> = links.iter().filter(|(_, from, _)| names(from)).map(|(i, _, _)| *i).collect();
        let hit: Vec<usize> = if named.is_empty() { links.iter().map(|(i, _, _)| *i).collect() } else { named };
        let reason = format!("stored in HubSpot, but linking to {to_path} failed: {}", error.describe());
        for i in hit {
            outcomes[i] = match record_error_passes(error) {
                true => Outcome::Retry { reason: reason.clone() },
                false => Outcome::Dead { reason: reason.clone() },
            };
        }
    }
    Ok(())
}

/// `id` appears in `text` as a whole word (ids are digits: `12` is not in `123`).
fn mentions(text: &str, id: &str) -> bool {
    text.split(|c: char| !c.is_ascii_alphanumeric()).any(|word| word == id)
}

pub(super) async fn pull(
    c: &HubspotConnector,
    kind: Kind,
    since_ms: Option<u64>,
    page: Option<&str>,
) -> Result<Pulled, SyncError> {
    let object = mapping::object(kind);
    let stages = if kind == Kind::Deal { Some(c.stages().await?) } else { None };
    let filter = since_ms.map(|since| FilterGroup {
        filters: vec![Filter { property_name: object.modified, operator: "GT", value: since.to_string() }],
    });
    let request = SearchRequest {
        filter_groups: filter.into_iter().collect(),
        sorts: vec![Sort { property_name: object.modified, direction: "ASCENDING" }],
        properties: object.read.to_vec(),
        limit: PAGE,
        after: page.map(str::to_string),
    };
    let answer = c.call(Method::POST, &c.objects_path(&object, "search"), Some(&request)).await?;
    let page: SearchAnswer = HubspotConnector::ok(answer)?.json()?;
    Ok(pulled(kind, &object, page, stages.as_deref()))
}

/// One search page as changes, the newest modified time, and the `after`
/// token of the next page.
fn pulled(kind: Kind, object: &Object, page: SearchAnswer, stages: Option<&StageMap>) -> Pulled {
    let next_page = page.paging.and_then(|p| p.next).map(|n| n.after).filter(|a| !a.is_empty());
    let changes: Vec<RemoteChange> = page.results.iter().map(|r| change(kind, object, r, stages)).collect();
    let cursor = changes.iter().map(|c| c.modified_ms).max();
    Pulled { changes, cursor, next_page }
}

fn change(kind: Kind, object: &Object, r: &ObjectResult, stages: Option<&StageMap>) -> RemoteChange {
    let modified_ms =
        r.property(object.modified).and_then(parse_time).or_else(|| r.updated_at.as_deref().and_then(parse_time));
    let text = |name: &str| r.property(name).map(str::to_string);
    let fields = match kind {
        Kind::Contact => {
            let name = [r.property("firstname"), r.property("lastname")].into_iter().flatten().collect::<Vec<_>>();
            RemoteFields {
                name: Some(name.join(" ")).filter(|n| !n.is_empty()),
                email: text("email"),
                phone: r.property("phone").and_then(crate::phone::pulled),
                ..RemoteFields::default()
            }
        }
        Kind::Company => RemoteFields { name: text("name"), ..RemoteFields::default() },
        Kind::Deal => RemoteFields {
            title: text("dealname"),
            value: r.property("amount").and_then(amount),
            stage: r.property("dealstage").and_then(|id| stages?.stage_of(id)),
            ..RemoteFields::default()
        },
        Kind::Activity => RemoteFields::default(),
    };
    RemoteChange {
        kind,
        remote_id: r.id.clone(),
        local_id: text(object.id_property),
        modified_ms: modified_ms.unwrap_or(0),
        fields,
    }
}

/// HubSpot amounts are decimal text (`"12000000"`, `"12000000.50"`).
fn amount(text: &str) -> Option<u64> {
    text.trim().parse::<u64>().ok().or_else(|| {
        let v = text.trim().parse::<f64>().ok()?;
        (v.is_finite() && v >= 0.0).then(|| v.round() as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, props: &[(&str, &str)]) -> ObjectResult {
        ObjectResult {
            id: id.into(),
            properties: props.iter().map(|(k, v)| (k.to_string(), Some(v.to_string()))).collect(),
            updated_at: None,
        }
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn results_and_errors_find_their_records_by_our_id_not_position() {
        let batch: BatchAnswer = serde_json::from_str(
            r#"{"status":"COMPLETE","results":[
                {"id":"902","properties":{"wa_contact_id":"b"}},
                {"id":"901","properties":{"wa_contact_id":"a"}}],
              "errors":[{"status":"error","category":"VALIDATION_ERROR","message":"Email address x is invalid",
                "context":{"ids":["c"]},"errors":[{"message":"invalid","code":"INVALID_EMAIL"}]}]}"#,
        )
        .unwrap();
        let out = upsert_outcomes(batch, &ids(&["a", "b", "c"]), "wa_contact_id");
        assert_eq!(out[0], Outcome::Done { remote_id: "901".into() });
        assert_eq!(out[1], Outcome::Done { remote_id: "902".into() });
        assert!(
            matches!(&out[2], Outcome::Dead { reason } if reason.contains("INVALID_EMAIL") && reason.contains("x is invalid"))
        );
    }

    #[test]
    fn a_record_nobody_reports_on_is_retried_with_the_unplaced_error() {
        let batch = BatchAnswer {
            errors: vec![ErrorBody {
                category: "OBJECT_LOCKED".into(),
                message: "locked".into(),
                ..ErrorBody::default()
            }],
            results: vec![result("1", &[("wa_deal_id", "D1")])],
            ..BatchAnswer::default()
        };
        let out = upsert_outcomes(batch, &ids(&["D1", "D2"]), "wa_deal_id");
        assert_eq!(out[0], Outcome::Done { remote_id: "1".into() });
        assert!(matches!(&out[1], Outcome::Retry { reason } if reason.contains("locked")));
    }

    #[test]
    fn a_page_gives_the_newest_time_and_the_next_pages_token() {
        let page = |more: bool| SearchAnswer {
            results: vec![
                result("1", &[("hs_lastmodifieddate", "100"), ("name", "A"), ("wa_company_id", "a")]),
                result("2", &[("hs_lastmodifieddate", "2023-11-14T22:13:20.000Z")]),
                result("3", &[("hs_lastmodifieddate", "2023-11-14T22:13:20.000Z")]),
            ],
            paging: more
                .then(|| super::super::wire::Paging { next: Some(super::super::wire::NextPage { after: "3".into() }) }),
        };
        let p = pulled(Kind::Company, &mapping::COMPANIES, page(true), None);
        assert_eq!(p.next_page.as_deref(), Some("3"));
        assert_eq!(p.cursor, Some(1_700_000_000_000));
        assert_eq!(p.changes[0].local_id.as_deref(), Some("a"));
        assert_eq!(p.changes[0].fields.name.as_deref(), Some("A"));
        let p = pulled(Kind::Company, &mapping::COMPANIES, page(false), None);
        assert_eq!((p.next_page, p.cursor), (None, Some(1_700_000_000_000)));
    }

    #[test]
    fn contacts_come_back_with_our_phone_form_even_written_nationally_and_deals_with_numbers() {
        let r = result(
            "5",
            &[("firstname", "Sari"), ("lastname", "Dewi"), ("phone", "0812-3450-0001"), ("lastmodifieddate", "7")],
        );
        let c = change(Kind::Contact, &mapping::CONTACTS, &r, None);
        assert_eq!(c.fields.name.as_deref(), Some("Sari Dewi"));
        assert_eq!(c.fields.phone.as_deref(), Some("6281234500001"));
        assert_eq!(c.modified_ms, 7);
        assert_eq!(amount("12000000.50"), Some(12_000_001));
        assert_eq!(amount("-3"), None);
        assert!(mentions("No contact with ID 123 exists", "123"));
        assert!(!mentions("No contact with ID 1234 exists", "123"));
    }
}
