//! A WhatsApp label event: the catalogue, the contact's active labels and
//! the history change (CRM writes). Labels on groups are audited only (only
//! personal chats count).

use super::Effects;
use crate::channel::{LabelAction, LabelChange};
use crate::crm::labels::{AppliedBy, Detected};
use crate::crm::{Changes, Crm, CrmError};

pub fn record(crm: &Crm, change: &LabelChange, now: u64) -> Result<Effects, CrmError> {
    let by = AppliedBy::WhatsappAccount { session: change.account.clone(), number: change.account_number.clone() };
    let detected = if change.polled { Detected::Reconcile } else { Detected::Webhook };
    let changes = match (change.action, &change.chat) {
        (_, Some(chat)) if chat.is_group() => Changes::default(),
        (LabelAction::Upserted, _) => {
            crm.label_upserted(&change.label_id, change.label_name.as_deref(), change.color, now)
        }
        (LabelAction::Deleted, _) => crm.label_deleted(&change.label_id, &by, detected, now)?,
        (LabelAction::AddedToChat, Some(chat)) => {
            crm.label_added(&chat.key(), &change.label_id, change.label_name.as_deref(), &by, detected, now)?
        }
        (LabelAction::RemovedFromChat, Some(chat)) => {
            crm.label_removed(&chat.key(), &change.label_id, &by, detected, now)?
        }
        (_, None) => Changes::default(),
    };
    Ok(Effects { crm: changes, ..Effects::default() })
}
