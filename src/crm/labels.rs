//! WhatsApp labels that staff put on contacts: the catalogue (`labels`), the
//! active assignments (`label_assignments`, keyed `contact \0 label id`) and
//! an append-only history (`label_log`, keyed by seq).
//!
//! Attribution is never invented: WAHA's label events carry no actor, so a
//! label applied on a phone is attributed to the WhatsApp account (session
//! and its number); one applied through juru names the staff member.

use serde::{Deserialize, Serialize};

use super::{Activity, ActivityType, Changes, Crm, CrmError};
use crate::store::{TreeName, Write, decode, encode, key2};

/// The channel that carries WhatsApp labels (only WAHA sees them): a
/// contact labelled before it ever wrote is recorded as reached through it.
const LABELS_CHANNEL: &str = "waha";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub id: String,
    pub name: String,
    pub color: Option<u32>,
    /// Deleted in WhatsApp: kept so history still names it.
    #[serde(default)]
    pub deleted: bool,
    pub updated_ms: u64,
}

/// Who applied or removed a label, as far as anyone can tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AppliedBy {
    /// On a phone logged into this WhatsApp account (WAHA gives no person).
    WhatsappAccount { session: String, number: Option<String> },
    /// Through juru, by this staff member.
    Staff { id: String },
}

/// How juru learnt of the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detected {
    /// A label event from the gateway, at the time it arrived.
    Webhook,
    /// The labels API, polled (engines without events) or at resync: the
    /// time is when the change was detected, not when it was made.
    Reconcile,
    /// A command or the dashboard.
    Juru,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub contact: String,
    pub label_id: String,
    pub label_name: String,
    pub applied_by: AppliedBy,
    pub applied_at_ms: u64,
    pub detected: Detected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelAction {
    Added,
    Removed,
}

/// One line of the append-only history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelEvent {
    pub seq: u64,
    pub contact: String,
    pub label_id: String,
    pub label_name: String,
    pub action: LabelAction,
    pub by: AppliedBy,
    pub at_ms: u64,
    pub detected: Detected,
}

impl Crm {
    pub fn label(&self, id: &str) -> Option<Label> {
        self.store().read(TreeName::Labels).get(id.as_bytes()).ok().flatten().and_then(|v| decode(&v).ok())
    }

    pub fn labels(&self) -> Vec<Label> {
        self.store().read(TreeName::Labels).iter().filter_map(|e| e.ok().and_then(|(_, v)| decode(&v).ok())).collect()
    }

    pub fn assignment(&self, contact: &str, label_id: &str) -> Option<Assignment> {
        self.store()
            .read(TreeName::LabelAssignments)
            .get(key2(contact, label_id))
            .ok()
            .flatten()
            .and_then(|v| decode(&v).ok())
    }

    /// One contact's active labels (a prefix read, not a scan).
    pub fn assignments_of(&self, contact: &str) -> Vec<Assignment> {
        self.store()
            .read(TreeName::LabelAssignments)
            .scan_prefix(key2(contact, ""))
            .filter_map(|e| e.ok().and_then(|(_, v)| decode(&v).ok()))
            .collect()
    }

    /// Every active assignment.
    pub fn assignments(&self) -> Vec<Assignment> {
        self.store()
            .read(TreeName::LabelAssignments)
            .iter()
            .filter_map(|e| e.ok().and_then(|(_, v)| decode(&v).ok()))
            .collect()
    }

    /// A label created, renamed or recoloured.
    pub fn label_upserted(&self, id: &str, name: Option<&str>, color: Option<u32>, now_ms: u64) -> Changes {
        let mut changes = Changes::default();
        let old = self.label(id);
        let name_given = name.is_some();
        let name = name
            .map(str::to_string)
            .or_else(|| old.as_ref().map(|l| l.name.clone()))
            .unwrap_or_else(|| format!("label {id}"));
        let label = Label {
            id: id.to_string(),
            name: name.clone(),
            color: color.or(old.as_ref().and_then(|l| l.color)),
            deleted: false,
            updated_ms: now_ms,
        };
        // Merged inside the commit: another chat's lane may write the same
        // label at once (a label event and the label's first use), and
        // neither may lose what the other knew (its name, its colour).
        let given = (name_given, color);
        changes.writes.push(Write::Update(
            TreeName::Labels,
            id.as_bytes().to_vec(),
            Box::new(move |stored| {
                let mut merged = label.clone();
                if let Some(stored) = stored.and_then(|b| decode::<Label>(b).ok()) {
                    if !given.0 {
                        merged.name = stored.name;
                    }
                    merged.color = given.1.or(stored.color);
                }
                Some(encode(&merged))
            }),
        ));
        // A rename reaches every contact carrying the label (segments filter by name).
        if let Some(old) = old.filter(|o| o.name != name) {
            for a in self.assignments().into_iter().filter(|a| a.label_id == id) {
                let mut renamed = a.clone();
                renamed.label_name = name.clone();
                changes.writes.push(Write::Put(TreeName::LabelAssignments, key2(&a.contact, id), encode(&renamed)));
                let (from, to) = (old.name.clone(), name.clone());
                changes.update_contact(&a.contact, move |c| {
                    c.labels.retain(|l| *l != from);
                    if !c.labels.contains(&to) {
                        c.labels.push(to.clone());
                    }
                });
            }
        }
        changes
    }

    /// A label deleted in WhatsApp: no longer active anywhere; history stays.
    pub fn label_deleted(
        &self,
        id: &str,
        by: &AppliedBy,
        detected: Detected,
        now_ms: u64,
    ) -> Result<Changes, CrmError> {
        let mut changes = Changes::default();
        if let Some(mut label) = self.label(id) {
            label.deleted = true;
            label.updated_ms = now_ms;
            changes.writes.push(Write::Put(TreeName::Labels, id.as_bytes().to_vec(), encode(&label)));
        }
        for a in self.assignments().into_iter().filter(|a| a.label_id == id) {
            changes.extend(self.label_removed(&a.contact, id, by, detected, now_ms)?);
        }
        Ok(changes)
    }

    /// A label put on a contact. Already active: nothing changes (a repeated
    /// event or a resync never counts twice).
    pub fn label_added(
        &self,
        contact: &str,
        label_id: &str,
        name: Option<&str>,
        by: &AppliedBy,
        detected: Detected,
        now_ms: u64,
    ) -> Result<Changes, CrmError> {
        let mut changes = Changes::default();
        if self.assignment(contact, label_id).is_some() {
            return Ok(changes);
        }
        let name = name
            .map(str::to_string)
            .or_else(|| self.label(label_id).map(|l| l.name))
            .unwrap_or_else(|| format!("label {label_id}"));
        if self.label(label_id).is_none() {
            changes.extend(self.label_upserted(label_id, Some(&name), None, now_ms));
        }
        let assignment = Assignment {
            contact: contact.to_string(),
            label_id: label_id.to_string(),
            label_name: name.clone(),
            applied_by: by.clone(),
            applied_at_ms: now_ms,
            detected,
        };
        changes.writes.push(Write::Put(TreeName::LabelAssignments, key2(contact, label_id), encode(&assignment)));
        self.log(&mut changes, contact, label_id, &name, LabelAction::Added, by, detected, now_ms)?;
        let added = name.clone();
        changes.upsert_contact(contact, super::ChannelName::new(LABELS_CHANNEL), now_ms, move |c| {
            if !c.labels.contains(&added) {
                c.labels.push(added.clone());
            }
        });
        Ok(changes)
    }

    /// A label taken off a contact. Not active: nothing changes.
    pub fn label_removed(
        &self,
        contact: &str,
        label_id: &str,
        by: &AppliedBy,
        detected: Detected,
        now_ms: u64,
    ) -> Result<Changes, CrmError> {
        let mut changes = Changes::default();
        let Some(active) = self.assignment(contact, label_id) else { return Ok(changes) };
        changes.writes.push(Write::Remove(TreeName::LabelAssignments, key2(contact, label_id)));
        self.log(&mut changes, contact, label_id, &active.label_name, LabelAction::Removed, by, detected, now_ms)?;
        let removed = active.label_name.clone();
        changes.update_contact(contact, move |c| c.labels.retain(|l| *l != removed));
        Ok(changes)
    }

    #[allow(clippy::too_many_arguments)]
    fn log(
        &self,
        changes: &mut Changes,
        contact: &str,
        label_id: &str,
        name: &str,
        action: LabelAction,
        by: &AppliedBy,
        detected: Detected,
        now_ms: u64,
    ) -> Result<(), CrmError> {
        let seq = self.next_seq()?;
        let event = LabelEvent {
            seq,
            contact: contact.to_string(),
            label_id: label_id.to_string(),
            label_name: name.to_string(),
            action,
            by: by.clone(),
            at_ms: now_ms,
            detected,
        };
        changes.writes.push(Write::Put(TreeName::LabelLog, seq.to_be_bytes().to_vec(), encode(&event)));
        // Label changes are CRM activities on the contact.
        let verb = if action == LabelAction::Added { "added" } else { "removed" };
        changes.add_activity(&Activity {
            seq: self.next_seq()?,
            contact: contact.to_string(),
            kind: ActivityType::LabelChange,
            source: match detected {
                Detected::Webhook => "whatsapp",
                Detected::Reconcile => "reconcile",
                Detected::Juru => "command",
            }
            .into(),
            outcome: None,
            next_action: None,
            next_action_date: None,
            notes: Some(format!("label \"{name}\" {verb}")),
            deal: None,
            by: match by {
                AppliedBy::WhatsappAccount { session, number } => {
                    format!("whatsapp:{session}{}", number.as_ref().map(|n| format!(":{n}")).unwrap_or_default())
                }
                AppliedBy::Staff { id } => id.clone(),
            },
            at_ms: now_ms,
        });
        Ok(())
    }

    /// The history, oldest first.
    pub fn label_history(&self) -> Vec<LabelEvent> {
        self.store().read(TreeName::LabelLog).iter().filter_map(|e| e.ok().and_then(|(_, v)| decode(&v).ok())).collect()
    }
}
