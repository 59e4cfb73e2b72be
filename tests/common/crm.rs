//! What a connector test hands a connector: records as the CRM holds them,
//! the worker's memory of remote ids, and a push that feeds it, so each
//! vendor's test reads as what the vendor ends up holding.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use juru::channel::Channel;
use juru::connectors::{Connector, Item, Kind, Outcome, Record, RemoteIds, SyncError};
use juru::crm::activity::{Activity, ActivityType};
use juru::crm::company::{Company, CompanyKind};
use juru::crm::contact::Contact;
use juru::crm::deal::{Deal, Stage};

/// When every record here was made (2025-11-24T16:00:00Z).
pub const MADE_MS: u64 = 1_764_000_000_000;

/// The worker's local → remote id map, fed from push outcomes.
#[derive(Default)]
pub struct Ids(Mutex<HashMap<(Kind, String), String>>);

impl RemoteIds for Ids {
    fn remote_id(&self, kind: Kind, local_id: &str) -> Option<String> {
        self.0.lock().unwrap().get(&(kind, local_id.to_string())).cloned()
    }
}

impl Ids {
    /// Remembers the remote id of every item pushed with `Done`.
    pub fn remember(&self, items: &[Item], outcomes: &[Outcome]) {
        for (item, outcome) in items.iter().zip(outcomes) {
            if let Outcome::Done { remote_id } = outcome {
                self.0.lock().unwrap().insert((item.record.kind(), item.record.local_id()), remote_id.clone());
            }
        }
    }
}

/// Pushes `items` as the worker would and remembers what became of them.
pub async fn push_items(c: &impl Connector, ids: &Ids, items: Vec<Item>) -> Result<Vec<Outcome>, SyncError> {
    let outcomes = c.push(&items, ids).await?;
    ids.remember(&items, &outcomes);
    Ok(outcomes)
}

/// Pushes `records`, none pushed before.
pub async fn push(c: &impl Connector, ids: &Ids, records: Vec<Record>) -> Result<Vec<Outcome>, SyncError> {
    let items = records.into_iter().map(|record| Item { record, remote_id: None, unsure: false }).collect();
    push_items(c, ids, items).await
}

pub fn company(id: &str, name: &str, kind: CompanyKind, parent: Option<&str>) -> Record {
    Record::Company(Arc::new(Company {
        id: id.into(),
        kind,
        name: name.into(),
        parent: parent.map(str::to_string),
        customer_group: None,
        segment: None,
        created_by: "628111".into(),
        created_ms: MADE_MS,
    }))
}

pub fn contact(key: &str, name: Option<&str>, company: Option<&str>) -> Record {
    let mut c = Contact::new(key, Channel::Waha, MADE_MS);
    c.name = name.map(str::to_string);
    c.company = company.map(str::to_string);
    Record::Contact(Arc::new(c))
}

/// `Mesin kopi #{id}` for Rp 25.000.000.
pub fn deal(id: u64, stage: Stage, contact: Option<&str>, company: Option<&str>) -> Record {
    Record::Deal(Arc::new(Deal {
        contact: contact.map(str::to_string),
        company: company.map(str::to_string),
        ..Deal::new(id, format!("Mesin kopi #{id}"), 25_000_000, stage, "628111", MADE_MS)
    }))
}

/// A WhatsApp follow-up by the owner, the prospect interested.
pub fn activity(seq: u64, contact: &str, deal: Option<u64>, notes: Option<&str>) -> Record {
    Record::Activity(Activity {
        seq,
        contact: contact.into(),
        kind: ActivityType::WhatsappFollowUp,
        source: "command".into(),
        outcome: Some(juru::crm::activity::Outcome::Interested),
        next_action: None,
        next_action_date: None,
        notes: notes.map(str::to_string),
        deal,
        by: "628111".into(),
        at_ms: MADE_MS,
    })
}

/// The remote id of a `Done`; anything else fails the test.
pub fn done(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Done { remote_id } => remote_id.clone(),
        other => panic!("expected Done, got {other:?}"),
    }
}
