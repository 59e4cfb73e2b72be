//! CRM connectors: push the local CRM (companies, contacts, deals,
//! activities and notes) to HubSpot, Salesforce, Pipedrive, Zoho CRM, Freshsales and Dynamics 365, and pull
//! their changes back (last-modified wins).
//!
//! One [`Connector`] trait, one module per vendor. The sync outbox
//! (`crm::sync`, filled in the same transaction as every CRM change) is
//! drained by one [`worker`] per platform, which batches records, waits on
//! the platform's rate [`limit`], retries what failed for a passing reason
//! and dead-letters what the vendor refused for good. Idempotency comes
//! from our own id stored in the vendor's record (a unique property, an
//! External ID field, a custom field), so a record pushed twice exists once.
//! No other module calls a vendor API.

pub mod credential;
pub mod dynamics;
pub mod fields;
pub mod freshsales;
pub mod http;
pub mod hubspot;
pub mod limit;
pub mod pipedrive;
pub mod pull;
pub mod salesforce;
pub mod supervisor;
pub mod worker;
pub mod zoho;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::crm::activity::Activity;
use crate::crm::company::Company;
use crate::crm::contact::Contact;
use crate::crm::deal::Deal;
use crate::crm::settings::Platform;

pub use crate::crm::sync::Kind;

/// One local record to push, as the CRM holds it now (the outbox keeps only
/// references, so the latest version is always the one sent).
#[derive(Debug, Clone)]
pub enum Record {
    Company(Arc<Company>),
    Contact(Arc<Contact>),
    Deal(Arc<Deal>),
    /// An activity; one with `notes` is also a note on the vendor's side
    /// where the vendor keeps notes apart (HubSpot notes, Pipedrive notes).
    Activity(Activity),
}

impl Record {
    pub fn kind(&self) -> Kind {
        match self {
            Record::Company(_) => Kind::Company,
            Record::Contact(_) => Kind::Contact,
            Record::Deal(_) => Kind::Deal,
            Record::Activity(_) => Kind::Activity,
        }
    }

    /// Our id, stored in the vendor's record as the idempotency key:
    /// the company slug, the contact key (phone digits), `D{id}`, `A{seq}`.
    pub fn local_id(&self) -> String {
        match self {
            Record::Company(c) => c.id.clone(),
            Record::Contact(c) => c.key.clone(),
            Record::Deal(d) => d.label(),
            Record::Activity(a) => format!("A{}", a.seq),
        }
    }

    /// The records this one links to, pushed before it so that their remote
    /// ids are known: a company's parent, a contact's company, a deal's
    /// contact and company, an activity's contact and deal.
    pub fn parents(&self) -> Vec<(Kind, String)> {
        let company = |id: &Option<String>| id.iter().map(|c| (Kind::Company, c.clone())).collect::<Vec<_>>();
        match self {
            Record::Company(c) => company(&c.parent),
            Record::Contact(c) => company(&c.company),
            Record::Deal(d) => {
                let mut parents = company(&d.company);
                parents.extend(d.contact.iter().map(|c| (Kind::Contact, c.clone())));
                parents
            }
            Record::Activity(a) => {
                let mut parents = vec![(Kind::Contact, a.contact.clone())];
                parents.extend(a.deal.map(|d| (Kind::Deal, format!("D{d}"))));
                parents
            }
        }
    }
}

/// One record to push and what the worker knows of it.
#[derive(Debug, Clone)]
pub struct Item {
    pub record: Record,
    /// Its remote id from an earlier push (update rather than create).
    pub remote_id: Option<String>,
    /// An earlier push ended without an answer (timeout, crash): it may exist
    /// remotely already. Vendors without upsert look it up by our id first.
    pub unsure: bool,
}

/// Remote ids of records already pushed (parents are pushed first, so a
/// contact's company and a deal's contact are normally known).
pub trait RemoteIds: Send + Sync {
    fn remote_id(&self, kind: Kind, local_id: &str) -> Option<String>;
}

/// What became of one record of a push, in the order the records were given.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Stored remotely (created or updated) under `remote_id`.
    Done { remote_id: String },
    /// Failed for a passing reason (lock, per-record throttling): retry later.
    Retry { reason: String },
    /// The vendor refused it for good (validation, duplicate rule, unmapped
    /// stage): dead-lettered with the vendor's message, never retried.
    Dead { reason: String },
}

/// Why a whole call failed, sorted by what the worker does about it.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum SyncError {
    /// Rate limited: wait `retry_after` (the window), or until the daily
    /// budget resets when `daily`.
    #[error("throttled: {reason}")]
    Throttled { reason: String, retry_after: Option<Duration>, daily: bool },
    /// Network trouble, timeouts, 5xx: retry with jittered backoff.
    #[error("transient: {0}")]
    Transient(String),
    /// Credentials missing, expired beyond refresh, or revoked: the owner must
    /// run `#crm auth` again. The outbox waits.
    #[error("not authorised: {0}")]
    Auth(String),
    /// The request itself is wrong for this account (missing scope, bad
    /// configuration): the batch is dead-lettered with this message.
    #[error("refused: {0}")]
    Permanent(String),
}

/// A change made on the vendor's side, for pull (last-modified wins).
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteChange {
    pub kind: Kind,
    pub remote_id: String,
    /// Our id, when the record carries it (records we pushed).
    pub local_id: Option<String>,
    /// The vendor's last-modified time.
    pub modified_ms: u64,
    pub fields: RemoteFields,
}

/// The fields a pull may bring back into the local CRM.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RemoteFields {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Deals.
    pub title: Option<String>,
    pub value: Option<u64>,
    pub stage: Option<crate::crm::deal::Stage>,
}

/// One page of remote changes and how to go on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pulled {
    pub changes: Vec<RemoteChange>,
    /// The newest modified time seen (ms), to ask from next time.
    pub cursor: Option<u64>,
    /// The vendor's token for the next page of the same query (Pipedrive's
    /// `next_cursor`, HubSpot's `after`, Salesforce's `nextRecordsUrl`).
    /// Paging by token rather than by time cannot skip or stall on a run of
    /// records modified in the same second (a bulk edit).
    pub next_page: Option<String>,
}

/// A vendor's API as the sync worker uses it. Implementations are plain
/// structs holding an HTTP client, credentials and caches; they never touch
/// the store (the worker does).
pub trait Connector: Send + Sync + 'static {
    fn platform(&self) -> Platform;

    /// Most records of `kind` per write call (HubSpot 100, Salesforce 200, Pipedrive 1).
    fn batch_size(&self, kind: Kind) -> usize;

    /// Once per start and after re-authorisation: check the credentials,
    /// create what the account needs if missing (unique property, External
    /// ID field, custom field for our id) and load the pipeline/stage catalogue.
    fn prepare(&self) -> impl Future<Output = Result<(), SyncError>> + Send;

    /// Upserts `items` (all of one kind, at most `batch_size`); one
    /// outcome per item, in order. A whole-call failure is an `Err`.
    fn push(&self, items: &[Item], ids: &dyn RemoteIds)
    -> impl Future<Output = Result<Vec<Outcome>, SyncError>> + Send;

    /// Records of `kind` modified after `since_ms`, oldest first, one page:
    /// the first without `page`, the next ones with the `next_page` token
    /// of the one before (and the same `since_ms`).
    fn pull(
        &self,
        kind: Kind,
        since_ms: Option<u64>,
        page: Option<&str>,
    ) -> impl Future<Output = Result<Pulled, SyncError>> + Send;
}
