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
pub mod labels;
pub mod nurture;
pub mod scoring;
pub mod seats;
pub mod secrets;
pub mod settings;
pub mod sync;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use activity::{Activity, ActivityType, Outcome};
pub use company::{Company, CompanyKind};
pub use contact::{AdReferral, ChannelName, Contact, Scored, Touch};
pub use deal::{Deal, Stage};
pub use nurture::{Enrollment, Segment, Sequence, Step};
pub use scoring::ScoringRules;
pub use secrets::{Sealed, Sealer};
pub use settings::Platform;

use crate::store::{IVec, Store, StoreError, TreeName, Write, decode, encode};

#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("credentials: {0}")]
    Secret(String),
}

/// What is kept in memory: small enough (≈1 KB a contact) and read on every
/// command. Contacts and deals change only through [`Index::set_contact`] and
/// [`Index::set_deal`], which keep the per-source counts and the segment
/// memberships up to date, so no command has to scan every contact for them.
#[derive(Default)]
pub struct Index {
    pub contacts: HashMap<String, Arc<Contact>>,
    pub deals: BTreeMap<u64, Arc<Deal>>,
    pub companies: BTreeMap<String, Company>,
    pub segments: BTreeMap<String, SegmentView>,
    pub sequences: BTreeMap<String, Sequence>,
    pub rules: ScoringRules,
    /// Leads and won contacts per source (campaign code, else source method).
    pub sources: HashMap<String, SourceCount>,
    /// Won (or retained) deals per contact key.
    won_deals: HashMap<String, usize>,
    /// Seats held and taken per chat, and the admins' package quotas.
    pub seats: seats::SeatIndex,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceCount {
    pub leads: usize,
    pub won: usize,
}

/// A saved segment with its parsed filter and, unless the filter reads the
/// clock, its members kept up to date.
pub struct SegmentView {
    pub segment: Segment,
    pub filter: Result<filter::Filter, filter::FilterError>,
    /// `None`: the filter uses a time field, so members are found when asked.
    pub members: Option<std::collections::HashSet<String>>,
}

/// Fields whose value changes with the clock alone.
const CLOCK_FIELDS: [&str; 2] = ["days_since_last_message", "days_since_first_contact"];

fn source_of(c: &Contact) -> &str {
    c.campaign().unwrap_or(c.source_method.as_str())
}

impl Index {
    pub fn has_won(&self, contact: &str) -> bool {
        self.won_deals.get(contact).is_some_and(|n| *n > 0)
    }

    fn count_source(&mut self, c: &Contact, sign: isize) {
        let won = self.has_won(&c.key);
        let entry = self.sources.entry(source_of(c).to_string()).or_default();
        entry.leads = entry.leads.saturating_add_signed(sign);
        if won {
            entry.won = entry.won.saturating_add_signed(sign);
        }
    }

    /// Replaces (or removes) one contact, keeping counts and memberships.
    pub fn set_contact(&mut self, key: &str, new: Option<Contact>, now_ms: u64) {
        if let Some(old) = self.contacts.remove(key) {
            self.count_source(&old, -1);
        }
        for view in self.segments.values_mut() {
            if let Some(members) = &mut view.members {
                members.remove(key);
            }
        }
        let Some(contact) = new else { return };
        self.count_source(&contact, 1);
        let rules = &self.rules;
        for view in self.segments.values_mut() {
            if let (Some(members), Ok(filter)) = (&mut view.members, &view.filter)
                && filter.matches(&Scored::new(&contact, rules, now_ms))
            {
                members.insert(key.to_string());
            }
        }
        self.contacts.insert(key.to_string(), Arc::new(contact));
    }

    /// Replaces (or removes) one deal, keeping the won counts.
    pub fn set_deal(&mut self, id: u64, new: Option<Deal>) {
        let old = self.deals.remove(&id);
        for (deal, sign) in [(old.as_deref(), -1isize), (new.as_ref(), 1)] {
            let Some(contact) = deal.filter(|d| d.is_won()).and_then(|d| d.contact.clone()) else { continue };
            let before = self.has_won(&contact);
            let n = self.won_deals.entry(contact.clone()).or_default();
            *n = n.saturating_add_signed(sign);
            if before != self.has_won(&contact)
                && let Some(c) = self.contacts.get(&contact).cloned()
            {
                let entry = self.sources.entry(source_of(&c).to_string()).or_default();
                entry.won = entry.won.saturating_add_signed(if before { -1 } else { 1 });
            }
        }
        if let Some(deal) = new {
            self.deals.insert(id, Arc::new(deal));
        }
    }

    /// Parses every segment and finds its members (start, and after a
    /// segment or the scoring rules changed).
    fn set_segments(&mut self, segments: Vec<Segment>, now_ms: u64) {
        let mut views = BTreeMap::new();
        for segment in segments {
            let filter = filter::Filter::parse(&segment.filter, &contact::LOCAL_FIELDS);
            let members = match &filter {
                Ok(f) if !f.uses_any(&CLOCK_FIELDS) => Some(
                    self.contacts
                        .iter()
                        .filter(|(_, c)| f.matches(&Scored::new(c, &self.rules, now_ms)))
                        .map(|(k, _)| k.clone())
                        .collect(),
                ),
                _ => None,
            };
            views.insert(segment.name.to_lowercase(), SegmentView { segment, filter, members });
        }
        self.segments = views;
    }

    /// A segment's members now: kept, or found by evaluating its filter.
    pub fn members(&self, view: &SegmentView, now_ms: u64) -> Vec<&Contact> {
        match (&view.members, &view.filter) {
            (Some(keys), _) => keys.iter().filter_map(|k| self.contacts.get(k)).map(|c| c.as_ref()).collect(),
            (None, Ok(f)) => self
                .contacts
                .values()
                .filter(|c| f.matches(&Scored::new(c, &self.rules, now_ms)))
                .map(|c| c.as_ref())
                .collect(),
            (None, Err(_)) => Vec::new(),
        }
    }
}

pub struct Crm {
    store: Store,
    index: RwLock<Index>,
    next_deal: AtomicU64,
    sealer: Sealer,
    /// Platforms with a running connector: every change is queued for them.
    sync_targets: RwLock<Vec<Platform>>,
    /// Bumped after a commit that changed settings or credentials.
    settings_changed: tokio::sync::watch::Sender<u64>,
    /// Bumped after a commit that queued records for sync: workers start at
    /// once instead of at their next poll.
    outbox_changed: tokio::sync::watch::Sender<u64>,
}

/// An activity's id in the sync outbox: `A{seq}/{contact}` (the vendor sees
/// `A{seq}`; the contact finds it in the `activities` tree).
pub fn activity_sync_id(activity: &Activity) -> String {
    format!("A{}/{}", activity.seq, activity.contact)
}

/// The `activities` key of a sync id made by [`activity_sync_id`].
pub fn activity_key(sync_id: &str) -> Option<Vec<u8>> {
    let (seq, contact) = sync_id.strip_prefix('A')?.split_once('/')?;
    let mut key = contact.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&seq.parse::<u64>().ok()?.to_be_bytes());
    Some(key)
}

/// The `crm_settings` key of the scoring rules.
pub const SCORING_KEY: &str = "scoring";

/// Keys a change touched, re-read into the index after its commit.
#[derive(Debug, Default, Clone)]
pub struct Touched {
    contacts: Vec<String>,
    deals: Vec<u64>,
    companies: bool,
    /// Company ids and activity sync ids, for the sync outbox.
    company_ids: Vec<String>,
    activities: Vec<String>,
    /// A setting or credential changed (connectors react: sync requests, auth).
    settings: bool,
    rules: bool,
    segments: bool,
    sequences: bool,
    /// Chats whose seat holds changed, and whether a package quota did.
    seats: Vec<String>,
    quotas: bool,
}

impl Touched {
    /// The contacts a change writes.
    pub fn contacts(&self) -> &[String] {
        &self.contacts
    }
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

    /// Like [`Changes::update_contact`], creating the contact when it is new
    /// (a WhatsApp chat labelled before it wrote to juru).
    pub fn upsert_contact(
        &mut self,
        key: &str,
        channel: ChannelName,
        now_ms: u64,
        f: impl Fn(&mut Contact) + Send + Sync + 'static,
    ) {
        let new_key = key.to_string();
        self.writes.push(Write::Update(
            TreeName::Contacts,
            key.as_bytes().to_vec(),
            Box::new(move |old| {
                let mut contact = match old {
                    Some(bytes) => decode(bytes).ok()?,
                    None => Contact::new(&new_key, channel.clone(), now_ms),
                };
                f(&mut contact);
                Some(encode(&contact))
            }),
        ));
        self.touched.contacts.push(key.to_string());
    }

    /// Writes a deal; a won deal takes its contact's held seats, a lost one gives them back.
    pub fn put_deal(&mut self, deal: &Deal) {
        self.writes.push(Write::Put(TreeName::Deals, deal.id.to_be_bytes().to_vec(), encode(deal)));
        self.touched.deals.push(deal.id);
        self.close_seats(deal);
    }

    pub fn put_company(&mut self, company: &Company) {
        self.writes.push(Write::Put(TreeName::Companies, company.id.as_bytes().to_vec(), encode(company)));
        self.touched.companies = true;
        self.touched.company_ids.push(company.id.clone());
    }

    /// Settings are read from the store when needed; only the scoring rules
    /// live in the index (and the segment memberships that depend on them).
    pub fn put_setting<T: Serialize>(&mut self, key: &str, value: &T) {
        self.writes.push(Write::Put(TreeName::CrmSettings, key.as_bytes().to_vec(), encode(value)));
        self.touched.rules |= key == SCORING_KEY;
        self.touched.settings = true;
    }

    pub fn put_secret(&mut self, platform: Platform, sealed: &Sealed) {
        self.writes.push(Write::Put(TreeName::Secrets, platform.as_str().as_bytes().to_vec(), encode(sealed)));
        self.touched.settings = true;
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
        self.touched.activities.push(activity_sync_id(activity));
    }

    pub fn extend(&mut self, other: Changes) {
        self.writes.extend(other.writes);
        self.touched.contacts.extend(other.touched.contacts);
        self.touched.deals.extend(other.touched.deals);
        self.touched.companies |= other.touched.companies;
        self.touched.company_ids.extend(other.touched.company_ids);
        self.touched.activities.extend(other.touched.activities);
        self.touched.settings |= other.touched.settings;
        self.touched.rules |= other.touched.rules;
        self.touched.segments |= other.touched.segments;
        self.touched.sequences |= other.touched.sequences;
        self.touched.seats.extend(other.touched.seats);
        self.touched.quotas |= other.touched.quotas;
    }
}

fn load_all<T: DeserializeOwned>(store: &Store, tree: TreeName) -> Result<Vec<(IVec, T)>, CrmError> {
    let mut out = Vec::new();
    for entry in store.read(tree).iter() {
        let (key, value) = entry?;
        match decode::<T>(&value) {
            Ok(v) => out.push((key, v)),
            Err(e) => tracing::warn!(?tree, error = %e, "skipping an unreadable CRM record"),
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
            sync_targets: RwLock::new(Vec::new()),
            settings_changed: tokio::sync::watch::channel(0).0,
            outbox_changed: tokio::sync::watch::channel(0).0,
        };
        {
            let mut index = crm.write_index();
            let now = crate::clock::now_ms();
            for (_, deal) in load_all::<Deal>(store, TreeName::Deals)? {
                index.set_deal(deal.id, Some(deal));
            }
            for (key, contact) in load_all::<Contact>(store, TreeName::Contacts)? {
                index.set_contact(&String::from_utf8_lossy(&key), Some(contact.indexed()), now);
            }
            for (key, seats) in load_all::<seats::ChatSeats>(store, TreeName::Seats)? {
                index.seats.set_chat(&String::from_utf8_lossy(&key), Some(seats));
            }
        }
        crm.load_quotas()?;
        crm.try_refresh(&Touched {
            companies: true,
            rules: true,
            segments: true,
            sequences: true,
            ..Touched::default()
        })?;
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
        self.store.read(TreeName::CrmSettings).get(key.as_bytes()).ok().flatten().and_then(|v| decode(&v).ok())
    }

    pub fn secret(&self, platform: Platform) -> Result<Option<String>, CrmError> {
        match self.store.read(TreeName::Secrets).get(platform.as_str().as_bytes())? {
            Some(bytes) => Ok(Some(self.sealer.open_sealed(&decode::<Sealed>(&bytes).map_err(StoreError::from)?)?)),
            None => Ok(None),
        }
    }

    /// How many activities are stored (walks them: for reports).
    pub fn activity_count(&self) -> u64 {
        self.store.read(TreeName::Activities).len() as u64
    }

    /// Activities of one contact, newest first.
    pub fn activities(&self, contact: &str, limit: usize) -> Vec<Activity> {
        let mut prefix = contact.as_bytes().to_vec();
        prefix.push(0);
        self.store
            .read(TreeName::Activities)
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
            .read(TreeName::Enrollments)
            .range(..end.to_vec())
            .filter_map(|e| e.ok())
            .filter_map(|(k, v)| decode(&v).ok().map(|en| (k.to_vec(), en)))
            .take(limit)
            .collect()
    }

    /// Every enrollment (for `stop` and opt-out), with its key.
    pub fn enrollments(&self) -> Vec<(Vec<u8>, Enrollment)> {
        self.store
            .read(TreeName::Enrollments)
            .iter()
            .filter_map(|e| e.ok())
            .filter_map(|(k, v)| decode(&v).ok().map(|en| (k.to_vec(), en)))
            .collect()
    }

    /// After a commit: re-reads what the change touched.
    /// Connectors register the platforms they push to; from then on every
    /// CRM change is queued for them (see [`Crm::sync_writes`]).
    pub fn set_sync_targets(&self, platforms: Vec<Platform>) {
        *self.sync_targets.write().unwrap_or_else(|p| p.into_inner()) = platforms;
    }

    pub fn sync_targets(&self) -> Vec<Platform> {
        self.sync_targets.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The sync outbox entries for what `touched` changed, to commit with it.
    pub fn sync_writes(&self, touched: &Touched, now_ms: u64) -> Vec<Write> {
        self.sync_writes_except(touched, now_ms, None)
    }

    /// Like [`Crm::sync_writes`], leaving out the platform a change came from.
    pub fn sync_writes_except(&self, touched: &Touched, now_ms: u64, except: Option<Platform>) -> Vec<Write> {
        let mut targets = self.sync_targets();
        targets.retain(|p| Some(*p) != except);
        if targets.is_empty() {
            return Vec::new();
        }
        let deals: Vec<String> = touched.deals.iter().map(|id| format!("D{id}")).collect();
        let records = [
            (sync::Kind::Company, &touched.company_ids),
            (sync::Kind::Contact, &touched.contacts),
            (sync::Kind::Deal, &deals),
            (sync::Kind::Activity, &touched.activities),
        ];
        let mut writes = Vec::new();
        for platform in targets {
            for (kind, ids) in &records {
                let mut ids: Vec<&String> = ids.iter().collect();
                ids.sort();
                ids.dedup();
                writes.extend(ids.into_iter().map(|id| sync::enqueue(platform, *kind, id, now_ms)));
            }
        }
        writes
    }

    pub fn refresh(&self, touched: &Touched) {
        if let Err(e) = self.try_refresh(touched) {
            tracing::error!(error = %e, "refreshing the CRM index failed; it catches up on the next change");
        }
        if touched.settings {
            self.settings_changed.send_modify(|n| *n += 1);
        }
        let synced = !(touched.contacts.is_empty()
            && touched.deals.is_empty()
            && touched.company_ids.is_empty()
            && touched.activities.is_empty());
        if synced && !self.sync_targets.read().unwrap_or_else(|p| p.into_inner()).is_empty() {
            self.outbox_touched();
        }
    }

    /// Wakes when a commit queued records for sync.
    pub fn outbox_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.outbox_changed.subscribe()
    }

    /// Notes that records were queued for sync (after their commit).
    pub fn outbox_touched(&self) {
        self.outbox_changed.send_modify(|n| *n += 1);
    }

    /// Wakes when a commit changed CRM settings or credentials.
    pub fn settings_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.settings_changed.subscribe()
    }

    /// Notes a settings change made outside a command (the OAuth callback).
    pub fn settings_touched() -> Touched {
        Touched { settings: true, ..Touched::default() }
    }

    fn try_refresh(&self, touched: &Touched) -> Result<(), CrmError> {
        let mut contacts = Vec::with_capacity(touched.contacts.len());
        for key in &touched.contacts {
            let value = self
                .store
                .read(TreeName::Contacts)
                .get(key.as_bytes())?
                .and_then(|v| decode::<Contact>(&v).ok())
                .map(Contact::indexed);
            contacts.push((key, value));
        }
        let mut deals = Vec::with_capacity(touched.deals.len());
        for id in &touched.deals {
            deals.push((
                *id,
                self.store.read(TreeName::Deals).get(id.to_be_bytes())?.and_then(|v| decode::<Deal>(&v).ok()),
            ));
        }
        {
            let mut index = self.write_index();
            let now = crate::clock::now_ms();
            for (key, value) in contacts {
                index.set_contact(key, value, now);
            }
            for (id, value) in deals {
                index.set_deal(id, value);
            }
        }
        if !touched.seats.is_empty() {
            let mut chats = Vec::with_capacity(touched.seats.len());
            for chat in &touched.seats {
                let value = self.store.read(TreeName::Seats).get_as::<seats::ChatSeats>(chat.as_bytes()).ok().flatten();
                chats.push((chat, value));
            }
            let mut index = self.write_index();
            for (chat, value) in chats {
                index.seats.set_chat(chat, value);
            }
        }
        if touched.quotas {
            self.load_quotas()?;
        }
        if touched.companies {
            let companies = load_all::<Company>(&self.store, TreeName::Companies)?;
            self.write_index().companies = companies.into_iter().map(|(_, c)| (c.id.clone(), c)).collect();
        }
        if touched.sequences {
            let sequences = load_all::<Sequence>(&self.store, TreeName::Sequences)?;
            self.write_index().sequences = sequences.into_iter().map(|(_, s)| (s.name.to_lowercase(), s)).collect();
        }
        // Memberships are found by scanning every contact: only when a
        // segment or the rules its scores use changed.
        if touched.rules || touched.segments {
            self.reload_segments()?;
        }
        Ok(())
    }

    /// The scoring rules, then every segment with its members.
    fn reload_segments(&self) -> Result<(), CrmError> {
        let segments = load_all::<Segment>(&self.store, TreeName::Segments)?.into_iter().map(|(_, s)| s).collect();
        let rules = self.setting::<ScoringRules>(SCORING_KEY).unwrap_or_default();
        let mut index = self.write_index();
        index.rules = rules;
        index.set_segments(segments, crate::clock::now_ms());
        Ok(())
    }

    /// Commits `changes` (durably) and refreshes the index: for callers
    /// outside a lane (the admin API); lanes commit theirs with the event.
    pub async fn commit(&self, changes: Changes) -> Result<(), CrmError> {
        self.store.commit.commit(changes.writes).await.map_err(CrmError::from)?;
        self.refresh(&changes.touched);
        Ok(())
    }

    /// Forgets a used OAuth state (its link works once).
    pub fn forget_oauth_state(&self, state_id: &str) -> Changes {
        let mut changes = Changes::default();
        changes.writes.push(Write::Remove(TreeName::CrmSettings, settings::oauth_key(state_id).into_bytes()));
        changes
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

    /// Their phone number or user id changed (WhatsApp says so). A contact
    /// known by the old number or id continues under the new one, the old
    /// kept as an alias; the old record stays, pointing forward in its
    /// aliases, so deals and activities that name it still resolve.
    pub fn identity_changed(
        &self,
        old_key: &str,
        new_key: &str,
        new_phone: Option<String>,
        new_user_id: Option<String>,
    ) -> Changes {
        let mut changes = Changes::default();
        let Some(old) = self.contact(old_key) else { return changes };
        if new_key == old_key {
            let (phone, user_id) = (new_phone, new_user_id);
            changes.update_contact(old_key, move |c| {
                *c = c.clone().renamed(&c.key.clone(), phone.as_deref(), user_id.as_deref());
            });
            return changes;
        }
        let moved = (*old).clone().renamed(new_key, new_phone.as_deref(), new_user_id.as_deref());
        changes.writes.push(Write::Update(
            TreeName::Contacts,
            new_key.as_bytes().to_vec(),
            // A contact already under the new key (they wrote from it first) is kept.
            Box::new(move |existing| existing.is_none().then(|| encode(&moved))),
        ));
        changes.touched.contacts.push(new_key.to_string());
        let forward = new_key.to_string();
        changes.update_contact(old_key, move |c| {
            if !c.aliases.contains(&forward) {
                c.aliases.push(forward.clone());
            }
        });
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

    fn contact(i: u64, campaign: Option<&str>, messages: u64) -> Contact {
        let mut c = Contact::new(&format!("62812{i:08}"), ChannelName::new("waha"), 0);
        c.campaign_source = campaign.map(str::to_string);
        c.messages = messages;
        c
    }

    fn deal(id: u64, contact: u64, stage: Stage) -> Deal {
        Deal { contact: Some(format!("62812{contact:08}")), ..Deal::new(id, "d", 1, stage, "x", 0) }
    }

    /// The kept counts and memberships equal what a full scan finds, after
    /// any sequence of contact and deal changes.
    #[test]
    fn kept_counts_and_members_match_a_full_scan() {
        let mut index = Index::default();
        index.set_segments(
            vec![Segment {
                name: "Busy".into(),
                filter: "messages >= 5".into(),
                created_by: "x".into(),
                created_ms: 0,
            }],
            0,
        );
        let campaigns = [None, Some("UMR_A"), Some("UMR_B")];
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            seed >> 33
        };
        for _ in 0..2000 {
            let (i, roll) = (next() % 40, next() % 10);
            match roll {
                0..=5 => index.set_contact(
                    &format!("62812{i:08}"),
                    Some(contact(i, campaigns[(next() % 3) as usize], next() % 10)),
                    0,
                ),
                6 => index.set_contact(&format!("62812{i:08}"), None, 0),
                _ => {
                    let stage = [Stage::Lead, Stage::Won, Stage::Lost, Stage::Retention][(next() % 4) as usize];
                    let id = next() % 30;
                    index.set_deal(id, (roll != 9).then(|| deal(id, i, stage)));
                }
            }
        }
        let mut expected: HashMap<String, SourceCount> = HashMap::new();
        for c in index.contacts.values() {
            let won = index.deals.values().any(|d| d.is_won() && d.contact.as_deref() == Some(c.key.as_str()));
            let e = expected.entry(source_of(c).to_string()).or_default();
            e.leads += 1;
            e.won += usize::from(won);
        }
        let kept: HashMap<String, SourceCount> =
            index.sources.iter().filter(|(_, n)| n.leads > 0 || n.won > 0).map(|(k, v)| (k.clone(), *v)).collect();
        assert_eq!(kept, expected);
        let view = &index.segments["busy"];
        let mut members: Vec<&str> = view.members.as_ref().unwrap().iter().map(String::as_str).collect();
        members.sort();
        let mut scanned: Vec<&str> =
            index.contacts.values().filter(|c| c.messages >= 5).map(|c| c.key.as_str()).collect();
        scanned.sort();
        assert_eq!(members, scanned);
    }

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
