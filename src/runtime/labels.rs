//! Label reconciliation: WAHA's labels API read and compared with what juru
//! holds. Differences become label events accepted into the inbox like any
//! webhook, so each is applied in its chat's lane, durably, and marked as
//! detected by polling. Applying an event that is already true changes
//! nothing, so a resync never counts twice.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::{RuntimeError, Shared};
use crate::channel::{ChatId, Event, LabelAction, LabelChange};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ResyncReport {
    pub labels: usize,
    pub added: usize,
    pub removed: usize,
    pub deleted_labels: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ResyncError {
    #[error("no configured gateway sees WhatsApp labels (WAHA does: set [waha] base_url)")]
    NoLabels,
    #[error("the gateway's labels API: {0}")]
    Gateway(#[from] crate::channel::SendError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// The events that bring juru's labels in line with WAHA's.
pub(super) async fn differences(shared: &Shared) -> Result<(Vec<Event>, ResyncReport), ResyncError> {
    let gateway = shared.gateways.all().find(|g| g.capabilities().labels).ok_or(ResyncError::NoLabels)?;
    let session = gateway.account().to_string();
    let run = crate::clock::now_ms();
    let mut report = ResyncReport::default();
    let mut events = Vec::new();
    let event = |kind: &str, label: &str, chat: Option<&ChatId>, action, name: Option<String>, color| {
        Event::Label(LabelChange {
            event_id: format!("resync:{run}:{kind}:{label}:{}", chat.map(ChatId::key).unwrap_or_default()),
            account: session.clone(),
            chat: chat.cloned(),
            label_id: label.to_string(),
            label_name: name,
            color,
            action,
            account_number: None,
            polled: true,
        })
    };
    let remote = gateway.labels().await?.ok_or(ResyncError::NoLabels)?;
    report.labels = remote.len();
    let known: HashMap<String, crate::crm::labels::Label> =
        shared.crm.labels().into_iter().map(|l| (l.id.clone(), l)).collect();
    for label in &remote {
        let stored = known.get(&label.id);
        let changed =
            stored.is_none_or(|s| s.deleted || Some(&s.name) != label.name.as_ref() || s.color != label.color);
        if changed {
            events.push(event("upsert", &label.id, None, LabelAction::Upserted, label.name.clone(), label.color));
        }
    }
    let remote_ids: HashSet<&str> = remote.iter().map(|l| l.id.as_str()).collect();
    for label in known.values().filter(|l| !l.deleted && !remote_ids.contains(l.id.as_str())) {
        events.push(event("delete", &label.id, None, LabelAction::Deleted, None, None));
        report.deleted_labels += 1;
    }
    let mut wanted = HashSet::new();
    for label in &remote {
        for chat in gateway.label_chats(&label.id).await?.unwrap_or_default() {
            // Only personal chats count.
            if !chat.is_group() {
                wanted.insert((chat.key(), label.id.clone()));
            }
        }
    }
    let active: HashSet<(String, String)> =
        shared.crm.assignments().into_iter().map(|a| (a.contact, a.label_id)).collect();
    for (contact, label) in wanted.difference(&active) {
        let Some(chat) = ChatId::parse(contact) else { continue };
        let name = remote.iter().find(|l| &l.id == label).and_then(|l| l.name.clone());
        events.push(event("add", label, Some(&chat), LabelAction::AddedToChat, name, None));
        report.added += 1;
    }
    for (contact, label) in active.difference(&wanted) {
        // Labels deleted as a whole are ended by their delete event.
        if !remote_ids.contains(label.as_str()) {
            continue;
        }
        let Some(chat) = ChatId::parse(contact) else { continue };
        events.push(event("remove", label, Some(&chat), LabelAction::RemovedFromChat, None, None));
        report.removed += 1;
    }
    Ok((events, report))
}
