//! The nurture scheduler: every `[crm] nurture_tick_ms` it sends the steps
//! that are due, through the outbox, to contacts who still opt in. Taking a
//! step, queueing its message and scheduling the next step are one commit.

use std::sync::Arc;
use std::time::Duration;

use super::commit::commit_scheduled;
use super::outbox::Outbox;
use super::{RuntimeError, Shared, now_ms};
use crate::channel::{Channel, ChatId};
use crate::crm::{Activity, ActivityType, Enrollment};
use crate::router::Effects;

/// Steps handled per tick at most (the rest wait for the next tick).
const BATCH: usize = 500;

pub(super) async fn run_forever(shared: Arc<Shared>, outbox: Outbox) {
    let tick = Duration::from_millis(shared.config.crm.nurture_tick_ms);
    loop {
        tokio::time::sleep(tick).await;
        match send_due(&shared, &outbox).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(steps = n, "nurture steps queued"),
            Err(e) => tracing::error!(error = %e, "nurture scheduler failed; retrying next tick"),
        }
    }
}

/// Queues every step due now; returns how many messages were queued.
pub(super) async fn send_due(shared: &Shared, outbox: &Outbox) -> Result<usize, RuntimeError> {
    let now = now_ms();
    let day_ms = shared.config.crm.nurture_day_secs * 1000;
    let mut sent = 0;
    for (key, enrollment) in shared.crm.due_enrollments(now, BATCH) {
        let mut effects = Effects::default();
        effects.crm.remove_enrollment(key);
        let contact = shared.crm.contact(&enrollment.contact);
        let sequence = shared.crm.read().sequences.get(&enrollment.sequence.to_lowercase()).cloned();
        match (contact, sequence, ChatId::parse(&enrollment.contact)) {
            (Some(contact), Some(sequence), Some(chat)) if contact.whatsapp_opt_in => {
                if let Some(step) = sequence.steps.get(enrollment.step) {
                    effects.sends.push(Effects::text(&chat, step.text.clone()));
                    effects.crm.add_activity(&Activity {
                        seq: shared.store.next_seq()?,
                        contact: contact.key.clone(),
                        kind: ActivityType::NurtureMessage,
                        source: "nurture".into(),
                        outcome: None,
                        next_action: None,
                        next_action_date: None,
                        notes: Some(format!("{} step {} (day {})", sequence.name, enrollment.step + 1, step.day)),
                        deal: None,
                        by: enrollment.by.clone(),
                        at_ms: now,
                    });
                    effects.crm.update_contact(&contact.key, move |c| c.last_contacted_at_ms = Some(now));
                }
                if let Some(next) = sequence.steps.get(enrollment.step + 1) {
                    let due = (enrollment.started_ms + u64::from(next.day) * day_ms).max(now);
                    let mut following = enrollment.clone();
                    following.step += 1;
                    effects.crm.put_enrollment(due, &following);
                }
            }
            // Opted out, sequence deleted or unknown contact: the enrollment ends.
            _ => {
                tracing::info!(contact = %enrollment.contact, sequence = %enrollment.sequence, "nurture enrollment ended")
            }
        }
        sent += effects.sends.len();
        commit_scheduled(shared, outbox, channel_of(shared, &enrollment), effects).await?;
    }
    Ok(sent)
}

/// The channel the enrollment's contact wrote through; one this version does
/// not know (written by a later one) falls back to a configured gateway.
fn channel_of(shared: &Shared, enrollment: &Enrollment) -> Channel {
    Channel::from_name(enrollment.channel.as_str()).unwrap_or_else(|| {
        let fallback = shared.gateways.configured().next().unwrap_or(Channel::Console);
        tracing::warn!(
            channel = enrollment.channel.as_str(),
            fallback = fallback.as_str(),
            "nurture enrollment names an unknown channel"
        );
        fallback
    })
}
