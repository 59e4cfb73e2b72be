//! juru's own CRM: contacts, companies (legal entity → brand → location),
//! deals, activities, lead scoring, segments and nurture sequences.
//!
//! Reads come from an in-memory index loaded at start (so a command over 10k
//! contacts answers in well under a millisecond); every change is a store
//! [`Write`] that the runtime commits together with the reply, after which
//! [`Crm::refresh`] re-reads the keys the change touched.

pub mod activity;
pub mod company;
pub mod contact;
pub mod deal;
pub mod filter;
pub mod nurture;
pub mod scoring;
pub mod secrets;
pub mod settings;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use activity::{Activity, ActivityType, Outcome};
pub use company::{Company, CompanyKind};
pub use contact::{Contact, Scored, Touch};
pub use deal::{Deal, Stage};
pub use nurture::{Enrollment, Segment, Sequence, Step};
pub use scoring::ScoringRules;
pub use secrets::{Sealed, Sealer};
pub use settings::Platform;

use crate::store::{Store, StoreError, TreeName, Write, decode, encode};

#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("credentials: {0}")]
    Secret(String),
}

impl From<sled::Error> for CrmError {
    fn from(e: sled::Error) -> Self {
        CrmError::Store(StoreError::Sled(e))
    }
}

/// What is kept in memory: small enough (≈1 KB a contact) and read on every command.
#[derive(Default)]
pub struct Index {
    pub contacts: HashMap<String, Arc<Contact>>,
    pub deals: BTreeMap<u64, Arc<Deal>>,
    pub companies: BTreeMap<String, Company>,
    pub segments: BTreeMap<String, Segment>,
    pub sequences: BTreeMap<String, Sequence>,
    pub rules: ScoringRules,
}

pub struct Crm {
    store: Store,
    index: RwLock<Index>,
    next_deal: AtomicU64,
    sealer: Sealer,
}

/// Keys a change touched, re-read into the index after its commit.
#[derive(Debug, Default, Clone)]
pub struct Touched {
    contacts: Vec<String>,
    deals: Vec<u64>,
    companies: bool,
    settings: bool,
    segments: bool,
    sequences: bool,
}

/// A set of CRM changes: the writes to commit and what they touch.
#[derive(Default)]
pub struct Changes {
    pub writes: Vec<Write>,
    pub touched: Touched,
}

impl Changes {
    /// Applies `f` to the stored contact inside the commit (a concurrent
    /// message from the same contact is never lost); `None` if absent.
    pub fn update_contact(&mut self, key: &str, f: impl Fn(&mut Contact) + Send + Sync + 'static) {
        self.writes.push(Write::Update(
            TreeName::Contacts,
            key.as_bytes().to_vec(),
            Box::new(move |old| {
                let mut contact: Contact = decode(old?).ok()?;
                f(&mut contact);
                Some(encode(&contact))
            }),
        ));
        self.touched.contacts.push(key.to_string());
    }

    pub fn put_contact(&mut self, contact: &Contact) {
        self.writes.push(Write::Put(TreeName::Contacts, contact.key.as_bytes().to_vec(), encode(contact)));
        self.touched.contacts.push(contact.key.clone());
    }

    pub fn put_deal(&mut self, deal: &Deal) {
        self.writes.push(Write::Put(TreeName::Deals, deal.id.to_be_bytes().to_vec(), encode(deal)));
        self.touched.deals.push(deal.id);
    }

    pub fn put_company(&mut self, company: &Company) {
        self.writes.push(Write::Put(TreeName::Companies, company.id.as_bytes().to_vec(), encode(company)));
        self.touched.companies = true;
    }

    pub fn put_setting<T: Serialize>(&mut self, key: &str, value: &T) {
        self.writes.push(Write::Put(TreeName::CrmSettings, key.as_bytes().to_vec(), encode(value)));
        self.touched.settings = true;
    }

    pub fn remove_setting(&mut self, key: &str) {
        self.writes.push(Write::Remove(TreeName::CrmSettings, key.as_bytes().to_vec()));
        self.touched.settings = true;
    }

    pub fn put_secret(&mut self, platform: Platform, sealed: &Sealed) {
        self.writes.push(Write::Put(TreeName::Secrets, platform.as_str().as_bytes().to_vec(), encode(sealed)));
    }

    pub fn put_segment(&mut self, segment: &Segment) {
        let key = segment.name.to_lowercase().into_bytes();
        self.writes.push(Write::Put(TreeName::Segments, key, encode(segment)));
        self.touched.segments = true;
    }

    pub fn remove_segment(&mut self, name: &str) {
        self.writes.push(Write::Remove(TreeName::Segments, name.to_lowercase().into_bytes()));
        self.touched.segments = true;
    }

    pub fn put_sequence(&mut self, sequence: &Sequence) {
        let key = sequence.name.to_lowercase().into_bytes();
        self.writes.push(Write::Put(TreeName::Sequences, key, encode(sequence)));
        self.touched.sequences = true;
    }

    pub fn put_enrollment(&mut self, due_ms: u64, enrollment: &Enrollment) {
        let key = nurture::enrollment_key(due_ms, &enrollment.sequence, &enrollment.contact);
        self.writes.push(Write::Put(TreeName::Enrollments, key, encode(enrollment)));
    }

    pub fn remove_enrollment(&mut self, key: Vec<u8>) {
        self.writes.push(Write::Remove(TreeName::Enrollments, key));
    }

    pub fn add_activity(&mut self, activity: &Activity) {
        let mut key = activity.contact.as_bytes().to_vec();
        key.push(0);
        key.extend_from_slice(&activity.seq.to_be_bytes());
        self.writes.push(Write::Put(TreeName::Activities, key, encode(activity)));
    }

    pub fn extend(&mut self, other: Changes) {
        self.writes.extend(other.writes);
        self.touched.contacts.extend(other.touched.contacts);
        self.touched.deals.extend(other.touched.deals);
        self.touched.companies |= other.touched.companies;
        self.touched.settings |= other.touched.settings;
        self.touched.segments |= other.touched.segments;
        self.touched.sequences |= other.touched.sequences;
    }
}

fn load_all<T: DeserializeOwned>(tree: &sled::Tree) -> Result<Vec<(sled::IVec, T)>, CrmError> {
    let mut out = Vec::new();
    for entry in tree.iter() {
        let (key, value) = entry?;
        match decode::<T>(&value) {
            Ok(v) => out.push((key, v)),
            Err(e) => tracing::warn!(tree = ?tree.name(), error = %e, "skipping an unreadable CRM record"),
        }
    }
    Ok(out)
}

impl Crm {
    /// Loads the index from the store. `secret_key`: `[crm] secret_key`.
    pub fn open(store: &Store, secret_key: Option<&str>, data_dir: &Path) -> Result<Crm, CrmError> {
        let crm = Crm {
            store: store.clone(),
            index: RwLock::new(Index::default()),
            next_deal: AtomicU64::new(1),
            sealer: Sealer::open(secret_key, data_dir)?,
        };
        {
            let mut index = crm.write_index();
            for (key, contact) in load_all::<Contact>(&store.contacts)? {
                index.contacts.insert(String::from_utf8_lossy(&key).into_owned(), Arc::new(contact.indexed()));
            }
            for (_, deal) in load_all::<Deal>(&store.deals)? {
                index.deals.insert(deal.id, Arc::new(deal));
            }
        }
        crm.reload_small()?;
        let last = crm.read().deals.keys().next_back().copied().unwrap_or(0);
        crm.next_deal.store(last + 1, Ordering::SeqCst);
        Ok(crm)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_index(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// A fresh deal id (ids are never reused, even if the commit fails).
    pub fn next_deal_id(&self) -> u64 {
        self.next_deal.fetch_add(1, Ordering::SeqCst)
    }

    /// A fresh sequence number for activities.
    pub fn next_seq(&self) -> Result<u64, CrmError> {
        Ok(self.store.next_seq()?)
    }

    pub fn contact(&self, key: &str) -> Option<Arc<Contact>> {
        self.read().contacts.get(key).cloned()
    }

    pub fn setting<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.store.crm_settings.get(key.as_bytes()).ok().flatten().and_then(|v| decode(&v).ok())
    }

    pub fn secret(&self, platform: Platform) -> Result<Option<String>, CrmError> {
        match self.store.secrets.get(platform.as_str().as_bytes())? {
            Some(bytes) => Ok(Some(self.sealer.open_sealed(&decode::<Sealed>(&bytes).map_err(StoreError::from)?)?)),
            None => Ok(None),
        }
    }

    /// Activities of one contact, newest first.
    pub fn activities(&self, contact: &str, limit: usize) -> Vec<Activity> {
        let mut prefix = contact.as_bytes().to_vec();
        prefix.push(0);
        self.store
            .activities
            .scan_prefix(prefix)
            .rev()
            .filter_map(|e| e.ok().and_then(|(_, v)| decode(&v).ok()))
            .take(limit)
            .collect()
    }

    /// Enrollments whose next step is due at or before `now_ms`, with their keys.
    pub fn due_enrollments(&self, now_ms: u64, limit: usize) -> Vec<(Vec<u8>, Enrollment)> {
        let end = (now_ms.saturating_add(1)).to_be_bytes();
        self.store
            .enrollments
            .range(..end.to_vec())
            .filter_map(|e| e.ok())
            .filter_map(|(k, v)| decode(&v).ok().map(|en| (k.to_vec(), en)))
            .take(limit)
            .collect()
    }

    /// Every enrollment (for `stop` and opt-out), with its key.
    pub fn enrollments(&self) -> Vec<(Vec<u8>, Enrollment)> {
        self.store
            .enrollments
            .iter()
            .filter_map(|e| e.ok())
            .filter_map(|(k, v)| decode(&v).ok().map(|en| (k.to_vec(), en)))
            .collect()
    }

    /// After a commit: re-reads what the change touched.
    pub fn refresh(&self, touched: &Touched) {
        if let Err(e) = self.try_refresh(touched) {
            tracing::error!(error = %e, "refreshing the CRM index failed; it catches up on the next change");
        }
    }

    fn try_refresh(&self, touched: &Touched) -> Result<(), CrmError> {
        let mut contacts = Vec::with_capacity(touched.contacts.len());
        for key in &touched.contacts {
            let value =
                self.store.contacts.get(key.as_bytes())?.and_then(|v| decode::<Contact>(&v).ok()).map(Contact::indexed);
            contacts.push((key, value));
        }
        let mut deals = Vec::with_capacity(touched.deals.len());
        for id in &touched.deals {
            deals.push((*id, self.store.deals.get(id.to_be_bytes())?.and_then(|v| decode::<Deal>(&v).ok())));
        }
        {
            let mut index = self.write_index();
            for (key, value) in contacts {
                match value {
                    Some(c) => index.contacts.insert(key.clone(), Arc::new(c)),
                    None => index.contacts.remove(key),
                };
            }
            for (id, value) in deals {
                match value {
                    Some(d) => index.deals.insert(id, Arc::new(d)),
                    None => index.deals.remove(&id),
                };
            }
        }
        if touched.companies || touched.settings || touched.segments || touched.sequences {
            self.reload_small()?;
        }
        Ok(())
    }

    /// Companies, segments, sequences and rules: small, re-read whole.
    fn reload_small(&self) -> Result<(), CrmError> {
        let companies =
            load_all::<Company>(&self.store.companies)?.into_iter().map(|(_, c)| (c.id.clone(), c)).collect();
        let segments =
            load_all::<Segment>(&self.store.segments)?.into_iter().map(|(_, s)| (s.name.to_lowercase(), s)).collect();
        let sequences =
            load_all::<Sequence>(&self.store.sequences)?.into_iter().map(|(_, s)| (s.name.to_lowercase(), s)).collect();
        let rules = self.setting::<ScoringRules>("scoring").unwrap_or_default();
        let mut index = self.write_index();
        index.companies = companies;
        index.segments = segments;
        index.sequences = sequences;
        index.rules = rules;
        Ok(())
    }

    /// The contact write for one inbound message (a new contact is a lead).
    pub fn touch(&self, touch: Touch) -> Changes {
        let key = touch.key.clone();
        let mut changes = Changes::default();
        changes.writes.push(Write::Update(
            TreeName::Contacts,
            key.clone().into_bytes(),
            Box::new(move |old| {
                let existing = old.and_then(|b| decode::<Contact>(b).ok());
                Some(encode(&Contact::touched(existing, &touch)))
            }),
        ));
        changes.touched.contacts.push(key);
        changes
    }

    /// A contact replied STOP/BERHENTI: no more nurture messages.
    pub fn opt_out(&self, contact: &str) -> Changes {
        let mut changes = Changes::default();
        changes.update_contact(contact, |c| c.whatsapp_opt_in = false);
        for (key, enrollment) in self.enrollments() {
            if enrollment.contact == contact {
                changes.remove_enrollment(key);
            }
        }
        changes
    }

    /// Records the campaign a burst revealed, if the contact has none yet.
    pub fn campaign_found(&self, contact: &str, source: String) -> Changes {
        let mut changes = Changes::default();
        changes.update_contact(contact, move |c| {
            if c.campaign_source.is_none() {
                c.campaign_source = Some(source.clone());
                if c.source_method == contact::SourceMethod::Whatsapp {
                    c.source_method = contact::SourceMethod::MetaAds;
                }
            }
        });
        changes
    }
}

/// `Rp 12.500.000`, `12500000`, `12.5jt`, `12,5 juta`, `500rb`, `2m` → rupiah.
pub fn parse_money(text: &str) -> Option<u64> {
    let t = text.trim().to_lowercase().replace(' ', "");
    let t = t.trim_start_matches("rp").trim_start_matches('.');
    let (number, multiplier) = [
        ("juta", 1_000_000u64),
        ("jt", 1_000_000),
        ("rb", 1_000),
        ("ribu", 1_000),
        ("k", 1_000),
        ("m", 1_000_000),
        ("miliar", 1_000_000_000),
    ]
    .iter()
    .find_map(|(suffix, m)| t.strip_suffix(suffix).map(|n| (n.to_string(), *m)))
    .unwrap_or((t.to_string(), 1));
    if number.is_empty() {
        return None;
    }
    if multiplier == 1 {
        // Indonesian thousands separators: 12.500.000 or 12,500,000.
        let digits: String = number.chars().filter(|c| !matches!(c, '.' | ',')).collect();
        return digits.parse().ok();
    }
    let value: f64 = number.replace(',', ".").parse().ok()?;
    (value.is_finite() && (0.0..1e15).contains(&value)).then(|| (value * multiplier as f64).round() as u64)
}

/// `12500000` → `Rp 12.500.000`.
pub fn format_money(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 3);
    out.push_str("Rp ");
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_read_the_way_indonesians_write_it() {
        assert_eq!(parse_money("Rp 12.500.000"), Some(12_500_000));
        assert_eq!(parse_money("12,5jt"), Some(12_500_000));
        assert_eq!(parse_money("500rb"), Some(500_000));
        assert_eq!(parse_money("2 juta"), Some(2_000_000));
        assert_eq!(parse_money("lots"), None);
        assert_eq!(format_money(12_500_000), "Rp 12.500.000");
        assert_eq!(format_money(0), "Rp 0");
    }
}
