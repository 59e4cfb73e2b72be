//! The other direction: changes made in the vendor's CRM come back into the
//! local one, last-modified wins.
//!
//! A remote change is applied only when it is newer than both our last push
//! of that record (`sync_ids`) and any local change still waiting to be
//! pushed (`sync_outbox`), and only for the fields that differ: our own
//! writes come back with our own values and change nothing, so they are
//! never echoed back. What is applied is queued for the *other* platforms
//! only. Records created in the vendor without our id are not imported
//! (juru's contacts start on WhatsApp).

use std::collections::BTreeMap;

use super::{Connector, RemoteChange, SyncError};
use crate::crm::deal::StageChange;
use crate::crm::settings::Platform;
use crate::crm::sync::{self, Kind, RemoteRef, SyncItem};
use crate::crm::{Changes, Crm};
use crate::store::{TreeName, decode};

/// Pages read per kind in one round, so a huge backlog cannot starve pushes.
const MAX_PAGES: usize = 20;
/// What pull brings back: contacts (name, email) and deals (title, value, stage).
const PULLED: [Kind; 2] = [Kind::Contact, Kind::Deal];

/// One pull round; returns how many local records changed.
pub async fn pull_round<C: Connector>(
    connector: &C,
    crm: &Crm,
    platform: Platform,
    cursors: &mut BTreeMap<Kind, u64>,
) -> Result<usize, SyncError> {
    let mut applied = 0;
    for kind in PULLED {
        let since = cursors.get(&kind).copied();
        let mut newest = since;
        let mut page: Option<String> = None;
        let mut complete = false;
        for _ in 0..MAX_PAGES {
            let pulled = connector.pull(kind, since, page.as_deref()).await?;
            for change in &pulled.changes {
                applied += usize::from(apply(crm, platform, change).await?);
            }
            newest = newest.max(pulled.cursor);
            // A token that does not move would repeat the page forever.
            match pulled.next_page {
                Some(next) if page.as_ref() != Some(&next) => page = Some(next),
                _ => {
                    complete = true;
                    break;
                }
            }
        }
        // Cut short, the next round starts just before the newest time seen:
        // records sharing it may be unread (rereading is harmless).
        let next = if complete { newest } else { newest.map(|n| n.saturating_sub(1).max(since.unwrap_or(0))) };
        if let Some(cursor) = next {
            cursors.insert(kind, cursor);
        }
    }
    Ok(applied)
}

/// Applies one remote change if it wins; `true` when the local record changed.
pub async fn apply(crm: &Crm, platform: Platform, change: &RemoteChange) -> Result<bool, SyncError> {
    let Some(local) = change.local_id.as_deref() else { return Ok(false) };
    let store = crm.store();
    let key = sync::key(platform, change.kind, local);
    let read = |tree: TreeName| store.read(tree).get(&key).map_err(|e| SyncError::Transient(e.to_string()));
    let pushed_ms = read(TreeName::SyncIds)?.and_then(|b| decode::<RemoteRef>(&b).ok()).map_or(0, |r| r.pushed_ms);
    let pending_ms = read(TreeName::SyncOutbox)?.and_then(|b| decode::<SyncItem>(&b).ok()).map_or(0, |i| i.changed_ms);
    if change.modified_ms <= pushed_ms.max(pending_ms) {
        return Ok(false);
    }
    let now = crate::clock::now_ms();
    let mut changes = Changes::default();
    let fields = &change.fields;
    match change.kind {
        Kind::Contact => {
            let Some(contact) = crm.contact(local) else { return Ok(false) };
            let differs = |new: &Option<String>, old: &Option<String>| {
                new.as_ref().filter(|n| !n.trim().is_empty() && Some(*n) != old.as_ref()).cloned()
            };
            let name = differs(&fields.name, &contact.name);
            let email = differs(&fields.email, &contact.email);
            if name.is_none() && email.is_none() {
                return Ok(false);
            }
            changes.update_contact(local, move |c| {
                if let Some(name) = &name {
                    c.name = Some(name.clone());
                }
                if let Some(email) = &email {
                    c.email = Some(email.clone());
                }
            });
        }
        Kind::Deal => {
            let Some(id) = local.strip_prefix('D').and_then(|id| id.parse::<u64>().ok()) else { return Ok(false) };
            let Some(deal) = crm.read().deals.get(&id).cloned() else { return Ok(false) };
            let mut deal = (*deal).clone();
            let mut changed = false;
            if let Some(title) = fields.title.as_ref().filter(|t| !t.trim().is_empty() && **t != deal.title) {
                deal.title = title.clone();
                changed = true;
            }
            if let Some(value) = fields.value.filter(|v| *v != deal.value) {
                deal.value = value;
                changed = true;
            }
            if let Some(stage) = fields.stage.filter(|s| *s != deal.stage) {
                // Recorded like any move, by the platform; the vendor's rules apply there.
                deal.history.push(StageChange {
                    from: Some(deal.stage),
                    to: stage,
                    by: platform.as_str().to_string(),
                    at_ms: now,
                    reason: None,
                });
                deal.stage = stage;
                deal.closed_ms = (!stage.is_open()).then_some(deal.closed_ms.unwrap_or(now));
                changed = true;
            }
            if !changed {
                return Ok(false);
            }
            deal.updated_ms = now;
            changes.put_deal(&deal);
        }
        Kind::Company | Kind::Activity => return Ok(false),
    }
    let mut writes = changes.writes;
    writes.extend(crm.sync_writes_except(&changes.touched, now, Some(platform)));
    store.commit.commit(writes).await.map_err(|e| SyncError::Transient(e.to_string()))?;
    crm.refresh(&changes.touched);
    tracing::info!(platform = platform.as_str(), kind = change.kind.as_str(), id = local, "remote change applied");
    Ok(true)
}
