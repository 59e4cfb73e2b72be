//! Seats of the packages the business sells, live: a booking handover holds
//! seats for a while, a won deal takes them, a lost deal gives them back, and
//! an admin may say how many are left. The catalog (`prompts/packages.toml`)
//! gives each package its `quota`, the seats on sale; what the bot offers is
//! that minus what is held and taken ([`SeatView::left`]).
//!
//! Holds are stored per chat (`seats` tree, keyed by chat key) so that a
//! deal's win or loss, which knows its contact and not the package, finds
//! them with one key. An admin's quota (`crm_settings` `quota:CODE`) says
//! "N seats are left now": it is kept with what was held and taken at that
//! moment, and gives way again once `packages.toml` changes that package's
//! quota (the file was edited since, so the file is the newer word).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::deal::{Deal, Stage};
use super::{Changes, Crm};
use crate::store::{TreeName, Write, decode, encode};

/// The crm_settings key of a package's quota set by an admin.
pub fn quota_key(code: &str) -> String {
    format!("quota:{}", code.to_ascii_uppercase())
}

/// A package as the catalog lists it, for those who manage its seats
/// (`#paket`, the API) without reading the prompt folder themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct OnSale {
    pub code: String,
    pub name: String,
    /// `packages.toml`'s quota: the seats on sale.
    pub quota: u32,
    pub departure: String,
    pub departed: bool,
}

/// Seats one chat holds or took on one package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    pub package: String,
    pub seats: u32,
    pub since_ms: u64,
    /// When the hold lapses; `None`: taken by a won deal, for good.
    pub until_ms: Option<u64>,
}

impl Hold {
    /// Counted against the package's quota at `now_ms`.
    pub fn counts(&self, now_ms: u64) -> bool {
        self.until_ms.is_none_or(|until| until > now_ms)
    }

    pub fn is_taken(&self) -> bool {
        self.until_ms.is_none()
    }
}

/// Every hold of one chat (`seats` tree value).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatSeats {
    pub holds: Vec<Hold>,
}

impl ChatSeats {
    /// A booking handover: holds `seats` of `package` until `until_ms`,
    /// replacing an earlier hold of the same package that is not taken.
    fn hold(&mut self, package: &str, seats: u32, now_ms: u64, until_ms: u64) {
        self.holds.retain(|h| h.is_taken() || !h.package.eq_ignore_ascii_case(package));
        self.holds.push(Hold { package: package.to_string(), seats, since_ms: now_ms, until_ms: Some(until_ms) });
    }

    /// A deal closed at `closed_ms`: won takes the holds made before it (the
    /// active ones, or the last lapsed one when the admin closed late), lost
    /// gives them back. Holds made after the close belong to a later booking.
    fn close(&mut self, won: bool, closed_ms: u64) {
        let before = |h: &Hold| !h.is_taken() && h.since_ms <= closed_ms;
        if !won {
            self.holds.retain(|h| !before(h));
            return;
        }
        let active: Vec<usize> =
            (0..self.holds.len()).filter(|&i| before(&self.holds[i]) && self.holds[i].counts(closed_ms)).collect();
        let taking = if active.is_empty() {
            (0..self.holds.len())
                .filter(|&i| before(&self.holds[i]))
                .max_by_key(|&i| self.holds[i].since_ms)
                .into_iter()
                .collect()
        } else {
            active
        };
        for i in taking {
            self.holds[i].until_ms = None;
        }
    }
}

/// "N seats are left now", said by an admin (`#paket kuota`, the API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaSet {
    pub seats_left: u32,
    /// Held and taken when it was said: what is held or taken later comes off it.
    pub used_then: u32,
    /// `packages.toml`'s quota then: a later edit of it wins.
    pub file_quota: u32,
    pub set_ms: u64,
    pub by: String,
}

/// How a package's seats stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Standing {
    pub left: u32,
    pub held: u32,
    pub taken: u32,
    /// The admin's quota applies (not the file's).
    pub set_by_admin: bool,
}

/// The seats in use per package at one moment, with the admins' quotas:
/// what the sales bot and `#paket` read.
#[derive(Debug, Clone, Default)]
pub struct SeatView {
    held: HashMap<String, u32>,
    taken: Arc<HashMap<String, u32>>,
    quotas: Arc<HashMap<String, QuotaSet>>,
}

impl SeatView {
    /// How `code` stands given the file's `quota`.
    pub fn standing(&self, code: &str, file_quota: u32) -> Standing {
        let code = code.to_ascii_uppercase();
        let held = self.held.get(&code).copied().unwrap_or(0);
        let taken = self.taken.get(&code).copied().unwrap_or(0);
        let used = held + taken;
        let (left, set_by_admin) = match self.quotas.get(&code).filter(|q| q.file_quota == file_quota) {
            Some(q) => ((q.seats_left + q.used_then).saturating_sub(used), true),
            None => (file_quota.saturating_sub(used), false),
        };
        Standing { left, held, taken, set_by_admin }
    }

    /// Seats left of `code`.
    pub fn left(&self, code: &str, file_quota: u32) -> u32 {
        self.standing(code, file_quota).left
    }

    /// Nothing held, taken or set: every package has its file's quota.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty() && self.taken.is_empty() && self.quotas.is_empty()
    }

    /// An admin's "N left now" for `code`, to store with [`Changes::set_quota`].
    pub fn quota_set(&self, code: &str, seats_left: u32, file_quota: u32, by: &str, now_ms: u64) -> QuotaSet {
        let s = self.standing(code, file_quota);
        QuotaSet { seats_left, used_then: s.held + s.taken, file_quota, set_ms: now_ms, by: by.to_string() }
    }
}

/// The seat records kept in the CRM's index, with running totals so that a
/// turn's [`SeatIndex::view`] walks only the holds still running, not every
/// booking ever made (taken seats and lapsed holds stay on record).
#[derive(Debug, Default)]
pub struct SeatIndex {
    chats: HashMap<String, ChatSeats>,
    /// Seats taken by won deals, per package.
    taken: Arc<HashMap<String, u32>>,
    /// Holds not taken, by when they lapse: (until, chat, package) → seats.
    pending: BTreeMap<(u64, String, String), u32>,
    quotas: Arc<HashMap<String, QuotaSet>>,
}

impl SeatIndex {
    pub(super) fn set_chat(&mut self, chat: &str, seats: Option<ChatSeats>) {
        if let Some(old) = self.chats.remove(chat) {
            self.count(chat, &old, false);
        }
        if let Some(new) = seats.filter(|s| !s.holds.is_empty()) {
            self.count(chat, &new, true);
            self.chats.insert(chat.to_string(), new);
        }
    }

    /// Adds (or takes off) one chat's holds to the running totals.
    fn count(&mut self, chat: &str, seats: &ChatSeats, add: bool) {
        for hold in &seats.holds {
            let package = hold.package.to_ascii_uppercase();
            match hold.until_ms {
                None => {
                    let taken = Arc::make_mut(&mut self.taken);
                    let n = taken.entry(package.clone()).or_default();
                    *n = if add { *n + hold.seats } else { n.saturating_sub(hold.seats) };
                    if *n == 0 {
                        taken.remove(&package);
                    }
                }
                Some(until) if add => {
                    *self.pending.entry((until, chat.to_string(), package)).or_default() += hold.seats;
                }
                Some(until) => {
                    self.pending.remove(&(until, chat.to_string(), package));
                }
            }
        }
    }

    pub(super) fn set_quotas(&mut self, quotas: HashMap<String, QuotaSet>) {
        self.quotas = Arc::new(quotas);
    }

    /// Seats in use at `now_ms`.
    pub fn view(&self, now_ms: u64) -> SeatView {
        let mut held = HashMap::new();
        for ((_, _, package), seats) in self.pending.range((now_ms + 1, String::new(), String::new())..) {
            *held.entry(package.clone()).or_default() += seats;
        }
        SeatView { held, taken: self.taken.clone(), quotas: self.quotas.clone() }
    }
}

impl Crm {
    /// The seats in use now, with the admins' quotas.
    pub fn seat_view(&self, now_ms: u64) -> SeatView {
        self.read().seats.view(now_ms)
    }

    /// Reloads the admins' quotas (start, and after one changed).
    pub(super) fn load_quotas(&self) -> Result<(), super::CrmError> {
        let mut quotas = HashMap::new();
        for entry in self.store.read(TreeName::CrmSettings).scan_prefix(b"quota:") {
            let (key, value) = entry?;
            match decode::<QuotaSet>(&value) {
                Ok(q) => {
                    quotas.insert(String::from_utf8_lossy(&key["quota:".len()..]).into_owned(), q);
                }
                Err(e) => tracing::warn!(error = %e, "skipping an unreadable package quota"),
            }
        }
        self.write_index().seats.set_quotas(quotas);
        Ok(())
    }
}

impl Changes {
    /// A booking handover holds `seats` of `package` for `chat` until `until_ms`.
    pub fn hold_seats(&mut self, chat: &str, package: &str, seats: u32, now_ms: u64, until_ms: u64) {
        let package = package.to_ascii_uppercase();
        self.update_seats(chat, move |s| s.hold(&package, seats.max(1), now_ms, until_ms));
    }

    /// An admin's quota for a package.
    pub fn set_quota(&mut self, code: &str, quota: &QuotaSet) {
        self.writes.push(Write::Put(TreeName::CrmSettings, quota_key(code).into_bytes(), encode(quota)));
        self.touched.quotas = true;
    }

    /// What a deal's close does to its contact's holds (called with every deal write).
    pub(super) fn close_seats(&mut self, deal: &Deal) {
        let (Some(contact), Some(closed_ms)) = (deal.contact.clone(), deal.closed_ms) else { return };
        let won = match deal.stage {
            Stage::Won | Stage::Retention => true,
            Stage::Lost => false,
            _ => return,
        };
        self.update_seats(&contact, move |s| s.close(won, closed_ms));
    }

    /// Read-modify-write of one chat's holds inside the commit, so two
    /// writers of the same chat never lose each other's change.
    fn update_seats(&mut self, chat: &str, f: impl Fn(&mut ChatSeats) + Send + Sync + 'static) {
        self.writes.push(Write::Update(
            TreeName::Seats,
            chat.as_bytes().to_vec(),
            Box::new(move |old| {
                let mut seats: ChatSeats = old.and_then(|b| decode(b).ok()).unwrap_or_default();
                let before = seats.clone();
                f(&mut seats);
                (seats != before).then(|| encode(&seats))
            }),
        ));
        self.touched.seats.push(chat.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_of(chats: &[(&str, ChatSeats)]) -> SeatIndex {
        let mut index = SeatIndex::default();
        for (chat, seats) in chats {
            index.set_chat(chat, Some(seats.clone()));
        }
        index
    }

    #[test]
    fn a_hold_counts_until_it_lapses_and_a_win_keeps_it_for_good() {
        let mut s = ChatSeats::default();
        s.hold("UMR_JAN_2027_PLUS", 4, 100, 1_000);
        let index = index_of(&[("628111", s.clone())]);
        assert_eq!(index.view(500).left("umr_jan_2027_plus", 10), 6);
        assert_eq!(index.view(1_000).left("UMR_JAN_2027_PLUS", 10), 10, "lapsed");
        s.close(true, 900);
        let index = index_of(&[("628111", s.clone())]);
        let standing = index.view(5_000).standing("UMR_JAN_2027_PLUS", 10);
        assert_eq!((standing.left, standing.held, standing.taken), (6, 0, 4));
    }

    #[test]
    fn a_chat_written_again_replaces_its_seats_in_the_totals() {
        let mut index = SeatIndex::default();
        let mut s = ChatSeats::default();
        s.hold("A", 2, 100, 1_000);
        index.set_chat("628111", Some(s.clone()));
        index.set_chat("628111", Some(s.clone()));
        assert_eq!(index.view(500).standing("A", 10).held, 2, "not counted twice");
        s.close(true, 200);
        index.set_chat("628111", Some(s.clone()));
        let standing = index.view(500).standing("A", 10);
        assert_eq!((standing.held, standing.taken), (0, 2));
        index.set_chat("628111", None);
        assert!(index.view(500).is_empty());
    }

    #[test]
    fn a_late_win_takes_the_last_lapsed_hold_and_a_loss_gives_seats_back() {
        let mut s = ChatSeats::default();
        s.hold("A", 2, 100, 200);
        s.close(true, 900);
        assert!(s.holds[0].is_taken());
        let mut lost = ChatSeats::default();
        lost.hold("A", 2, 100, 10_000);
        lost.close(false, 500);
        assert!(lost.holds.is_empty());
    }

    #[test]
    fn a_booking_after_a_win_is_not_taken_by_the_old_deal() {
        let mut s = ChatSeats::default();
        s.hold("A", 1, 100, 10_000);
        s.close(true, 200);
        s.hold("A", 3, 300, 10_000);
        // The old deal written again (a title edit, a pull) takes nothing new.
        s.close(true, 200);
        assert_eq!(s.holds.iter().filter(|h| h.is_taken()).map(|h| h.seats).sum::<u32>(), 1);
        assert_eq!(s.holds.iter().filter(|h| !h.is_taken()).map(|h| h.seats).sum::<u32>(), 3);
    }

    #[test]
    fn an_admins_quota_is_seats_left_then_until_the_file_changes() {
        let mut s = ChatSeats::default();
        s.hold("A", 2, 100, 10_000);
        let mut index = index_of(&[("628111", s.clone())]);
        let q = index.view(150).quota_set("A", 5, 45, "628999", 150);
        index.set_quotas(HashMap::from([("A".to_string(), q)]));
        assert_eq!(index.view(150).left("A", 45), 5);
        // The hold lapses: its seats come back on top of the admin's 5.
        assert_eq!(index.view(20_000).left("A", 45), 7);
        // Someone edits packages.toml: its quota is the newer word.
        assert_eq!(index.view(150).left("A", 30), 28);
        assert!(!index.view(150).standing("A", 30).set_by_admin);
    }
}
