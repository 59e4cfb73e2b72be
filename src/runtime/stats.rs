//! Conversation figures kept as they change, so the dashboard and analytics
//! read them without scanning the store: loaded once from the `conversations`
//! tree at start, then updated after every commit that writes a chat's state.
//! Playground chats (`ChatId::is_playground`) are tests and never counted.
//!
//! How each dashboard figure is computed:
//! - `active_conversations`: chats whose last inbound message is less than
//!   24 hours old and that are not handed over to a human.
//! - `phase_distribution`: chats per current sales phase (`leads`,
//!   `interest`, `booking`), every chat with a conversation state.
//! - `pending_handover`: chats handed over and not yet released, oldest
//!   inbound first, with the last inbound text juru saw, the package the
//!   prospect was interested in, and the reason the bot handed over
//!   (`ai_notes`).
//! - `escalated_conversations`: how many chats are handed over now.
//! - `paused_conversations`: chats the bot keeps quiet in although nobody
//!   handed them over: a human typed on the business phone (until
//!   `paused_until_ms`) or an admin switched the bot off for the chat.
//!
//! How each analytics figure is computed (every chat's [`Tally`] is stored
//! with its state; the sums below are kept as tallies change):
//! - `conversion_metrics`: `total_leads` counts chats; `reached_interest` and
//!   `reached_booking` count chats whose furthest phase got there (a finished
//!   session does not undo it); `paid` counts booked chats whose contact has a
//!   won deal in the CRM. `leads_to_interest` = reached_interest / total_leads,
//!   `interest_to_booking` = reached_booking / reached_interest,
//!   `booking_to_paid` = paid / reached_booking, `conversion_rate` = paid /
//!   total_leads. A rate with a zero denominator is `null`.
//! - `campaign_performance`: per campaign code a chat came with (ad referral
//!   or a code in its messages): its chats (`conversations`), those that
//!   reached booking (`bookings`) and paid, and `conversion` = bookings /
//!   conversations. `clicks` is `null`: Meta counts ad clicks, juru sees only
//!   the clicks that opened a chat, which are the conversations.
//! - `ai_performance`: `bot_replies` counts turns the bot answered;
//!   `avg_response_time_ms` is their mean time from the message reaching juru
//!   (a burst's first message) to the reply being queued; `escalated_conversations`
//!   counts chats the bot handed over at least once and `escalation_rate`
//!   divides it by the chats the bot answered; `successful_conversations`
//!   counts chats that reached booking without the bot handing over before.
//! - `common_questions`: per intent the brain recognised (the question
//!   pattern), how many turns had it (`frequency`) and the share the bot
//!   answered itself without handing over (`ai_success_rate`), most frequent first.
//! - `drop_off_analysis`: per furthest phase, chats not handed over nor
//!   paused whose last inbound message is older than `idle_hours` (booked
//!   chats count only while unpaid); `rate` = dropped / chats whose furthest
//!   phase is that one. A paused chat is a human's, not a drop-off.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use serde::Serialize;

use crate::router::{ChatState, Intent, IntentTally, Phase, Tally};
use crate::store::{Store, StoreError, TreeName, decode};

/// "Active" means an inbound message within this window.
pub const ACTIVE_WINDOW_MS: u64 = 24 * 3_600_000;
/// A chat quiet this long without reaching its goal has dropped off.
pub const DROP_OFF_HOURS: u64 = 72;
/// Last messages are kept this short in memory.
const LAST_MESSAGE_CHARS: usize = 200;
const PHASES: [Phase; 3] = [Phase::Leads, Phase::Interest, Phase::Booking];

#[derive(Debug, Clone, PartialEq)]
struct Summary {
    phase: Phase,
    handed_over: bool,
    paused_until_ms: Option<u64>,
    bot_disabled: bool,
    last_human_reply_ms: Option<u64>,
    reason: Option<String>,
    last_inbound_ms: u64,
    last_message: Option<String>,
    package: Option<String>,
    campaign: Option<String>,
    /// The A/B variant the conversation was assigned.
    variant: Option<String>,
    furthest: Phase,
    replies: u32,
    reply_ms: u64,
    escalated: bool,
    escalated_before_booking: bool,
    /// Few entries per chat: a slice is much smaller than a map.
    intents: Box<[(Intent, IntentTally)]>,
}

impl Summary {
    fn of(state: &ChatState, last_message: Option<String>) -> Summary {
        let Tally { replies, reply_ms, handovers, escalated_before_booking, furthest, intents } = &state.tally;
        Summary {
            phase: state.phase,
            handed_over: state.handed_over,
            paused_until_ms: state.paused_until_ms,
            bot_disabled: state.bot_disabled,
            last_human_reply_ms: state.last_human_reply_ms,
            reason: state.handover_reason.clone(),
            last_inbound_ms: state.last_inbound_ms,
            last_message,
            package: state.package.clone(),
            campaign: state.campaign_source.clone(),
            variant: state.variant.clone(),
            furthest: (*furthest).max(state.phase),
            replies: *replies,
            reply_ms: *reply_ms,
            escalated: *handovers > 0,
            escalated_before_booking: *escalated_before_booking,
            intents: intents.iter().map(|(i, n)| (*i, *n)).collect(),
        }
    }

    fn booked(&self) -> bool {
        self.furthest == Phase::Booking
    }

    /// The bot is quiet in this chat because a human has it (not handed over).
    fn paused(&self, now_ms: u64) -> bool {
        self.bot_disabled || self.paused_until_ms.is_some_and(|until| until > now_ms)
    }
}

/// Sums over all chats, each chat added when observed and taken out again
/// before its next version is added.
#[derive(Default)]
struct Totals {
    furthest: [usize; 3],
    replies: u64,
    reply_ms: u64,
    bot_chats: usize,
    escalated: usize,
    successful: usize,
    intents: BTreeMap<Intent, (u64, u64)>,
    campaigns: HashMap<String, (usize, usize)>,
    variants: HashMap<String, (usize, usize)>,
}

impl Totals {
    fn apply(&mut self, s: &Summary, add: bool) {
        let step = |n: &mut usize, yes: bool| {
            if yes {
                *n = if add { *n + 1 } else { n.saturating_sub(1) };
            }
        };
        let step64 = |n: &mut u64, by: u64| *n = if add { *n + by } else { n.saturating_sub(by) };
        step(&mut self.furthest[s.furthest as usize], true);
        step64(&mut self.replies, u64::from(s.replies));
        step64(&mut self.reply_ms, s.reply_ms);
        step(&mut self.bot_chats, s.replies > 0);
        step(&mut self.escalated, s.escalated);
        step(&mut self.successful, s.booked() && !s.escalated_before_booking);
        for (intent, n) in s.intents.iter() {
            let sums = self.intents.entry(*intent).or_default();
            step64(&mut sums.0, u64::from(n.asked));
            step64(&mut sums.1, u64::from(n.answered));
        }
        for (groups, key) in [(&mut self.campaigns, &s.campaign), (&mut self.variants, &s.variant)] {
            let Some(key) = key else { continue };
            let sums = groups.entry(key.clone()).or_default();
            step(&mut sums.0, true);
            step(&mut sums.1, s.booked());
            if sums.0 == 0 {
                groups.remove(key);
            }
        }
    }
}

#[derive(Default)]
struct Inner {
    chats: HashMap<String, Summary>,
    phases: HashMap<&'static str, usize>,
    handed_over: BTreeSet<(u64, String)>,
    recent: BTreeSet<(u64, String)>,
    /// Chats whose furthest phase is booking: the only ones that can be paid.
    booked: BTreeSet<String>,
    totals: Totals,
}

#[derive(Default)]
pub struct ConversationStats {
    inner: Mutex<Inner>,
}

#[derive(Debug, Serialize)]
pub struct PendingHandover {
    pub id: String,
    pub phone: String,
    pub phase: &'static str,
    pub last_message: Option<String>,
    pub interested_package: Option<String>,
    pub conversation_url: String,
    pub ai_notes: Option<String>,
}

/// A chat the bot is quiet in without a handover.
#[derive(Debug, Serialize)]
pub struct PausedConversation {
    pub id: String,
    pub phase: &'static str,
    /// Until when a human's reply on the business phone keeps the bot quiet.
    pub paused_until_ms: Option<u64>,
    /// An admin switched the bot off for this chat (until switched on).
    pub bot_disabled: bool,
    pub last_message: Option<String>,
    pub conversation_url: String,
}

/// A handed-over chat as the handover sweeper sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandedOver {
    pub chat: String,
    /// Since when the prospect waits: the later of their last message and a human's reply.
    pub waiting_since_ms: u64,
}

#[derive(Debug, Serialize)]
pub struct Dashboard {
    pub active_conversations: usize,
    pub phase_distribution: HashMap<&'static str, usize>,
    pub pending_handover: Vec<PendingHandover>,
    pub paused_conversations: Vec<PausedConversation>,
    pub escalated_conversations: usize,
    pub generated_at_ms: u64,
}

#[derive(Debug, Serialize)]
pub struct Analytics {
    pub conversion_metrics: ConversionMetrics,
    pub campaign_performance: Vec<CampaignPerformance>,
    /// Conversations and bookings per A/B variant (`playbook.toml` `[[variant]]`).
    pub variant_performance: Vec<VariantPerformance>,
    pub ai_performance: AiPerformance,
    pub common_questions: Vec<CommonQuestion>,
    pub drop_off_analysis: DropOffAnalysis,
    pub generated_at_ms: u64,
}

#[derive(Debug, Serialize)]
pub struct ConversionMetrics {
    pub total_leads: usize,
    pub reached_interest: usize,
    pub reached_booking: usize,
    pub paid: usize,
    pub leads_to_interest: Option<f64>,
    pub interest_to_booking: Option<f64>,
    pub booking_to_paid: Option<f64>,
    pub conversion_rate: Option<f64>,
}

/// How the conversations assigned one A/B variant did: booked of started.
#[derive(Debug, Serialize)]
pub struct VariantPerformance {
    pub variant: String,
    pub conversations: usize,
    pub bookings: usize,
    pub conversion: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct CampaignPerformance {
    pub campaign: String,
    pub clicks: Option<u64>,
    pub conversations: usize,
    pub bookings: usize,
    pub paid: usize,
    pub conversion: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct AiPerformance {
    pub bot_replies: u64,
    pub avg_response_time_ms: Option<f64>,
    pub successful_conversations: usize,
    pub escalated_conversations: usize,
    pub escalation_rate: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct CommonQuestion {
    pub pattern: Intent,
    pub label: &'static str,
    pub frequency: u64,
    pub answered_by_ai: u64,
    pub ai_success_rate: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct DropOffAnalysis {
    pub idle_hours: u64,
    pub dropped_total: usize,
    pub drop_off_rate: Option<f64>,
    pub by_phase: Vec<PhaseDropOff>,
}

#[derive(Debug, Serialize)]
pub struct PhaseDropOff {
    pub phase: &'static str,
    pub conversations: usize,
    pub dropped: usize,
    pub rate: Option<f64>,
}

/// One row of the recent-conversations list.
#[derive(Debug, Serialize)]
pub struct ConversationRow {
    pub id: String,
    pub phase: &'static str,
    pub handed_over: bool,
    pub last_inbound_ms: u64,
    pub last_message: Option<String>,
    pub campaign: Option<String>,
}

/// `part / whole`, or `None` (JSON `null`) when there is nothing to divide by.
fn ratio(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

impl ConversationStats {
    pub fn load(store: &Store) -> Result<ConversationStats, StoreError> {
        let stats = ConversationStats::default();
        for entry in store.read(TreeName::Conversations).iter() {
            let (key, value) = entry?;
            if let Ok(state) = decode::<ChatState>(&value) {
                let chat = String::from_utf8_lossy(&key).into_owned();
                // Handed-over chats show their last message: read it back (they are few).
                let last = if state.handed_over { last_inbound_text(store, &chat) } else { None };
                stats.observe(&chat, &state, last.as_deref());
            }
        }
        Ok(stats)
    }

    /// A chat's state after a commit; `text`: the inbound message it handled, if any.
    pub fn observe(&self, chat: &str, state: &ChatState, text: Option<&str>) {
        if state.playground {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let inner = &mut *inner;
        let old = inner.chats.remove(chat);
        if let Some(old) = &old {
            if let Some(n) = inner.phases.get_mut(old.phase.as_str()) {
                *n = n.saturating_sub(1);
            }
            inner.handed_over.remove(&(old.last_inbound_ms, chat.to_string()));
            inner.recent.remove(&(old.last_inbound_ms, chat.to_string()));
            inner.booked.remove(chat);
            inner.totals.apply(old, false);
        }
        let last_message =
            text.map(|t| t.chars().take(LAST_MESSAGE_CHARS).collect()).or_else(|| old.and_then(|o| o.last_message));
        let summary = Summary::of(state, last_message);
        *inner.phases.entry(summary.phase.as_str()).or_default() += 1;
        if summary.handed_over {
            inner.handed_over.insert((summary.last_inbound_ms, chat.to_string()));
        } else {
            inner.recent.insert((summary.last_inbound_ms, chat.to_string()));
        }
        if summary.booked() {
            inner.booked.insert(chat.to_string());
        }
        inner.totals.apply(&summary, true);
        inner.chats.insert(chat.to_string(), summary);
    }

    pub fn dashboard(&self, now_ms: u64) -> Dashboard {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let since = now_ms.saturating_sub(ACTIVE_WINDOW_MS);
        let active = inner.recent.range((since, String::new())..).count();
        let pending_handover = inner
            .handed_over
            .iter()
            .filter_map(|(_, chat)| inner.chats.get(chat).map(|s| (chat, s)))
            .map(|(chat, s)| PendingHandover {
                id: chat.clone(),
                phone: chat.clone(),
                phase: s.phase.as_str(),
                last_message: s.last_message.clone(),
                interested_package: s.package.clone(),
                conversation_url: format!("/api/conversations/{chat}"),
                ai_notes: s.reason.clone(),
            })
            .collect();
        let paused_conversations = inner
            .recent
            .iter()
            .rev()
            .filter_map(|(_, chat)| inner.chats.get(chat).map(|s| (chat, s)))
            .filter(|(_, s)| s.paused(now_ms))
            .map(|(chat, s)| PausedConversation {
                id: chat.clone(),
                phase: s.phase.as_str(),
                paused_until_ms: s.paused_until_ms.filter(|until| *until > now_ms),
                bot_disabled: s.bot_disabled,
                last_message: s.last_message.clone(),
                conversation_url: format!("/api/conversations/{chat}"),
            })
            .collect();
        let mut phase_distribution: HashMap<&'static str, usize> = PHASES.map(|p| (p.as_str(), 0)).into();
        for (phase, n) in &inner.phases {
            phase_distribution.insert(phase, *n);
        }
        Dashboard {
            active_conversations: active,
            phase_distribution,
            pending_handover,
            paused_conversations,
            escalated_conversations: inner.handed_over.len(),
            generated_at_ms: now_ms,
        }
    }

    /// The analytics figures; `paid` says whether a chat's contact has a won deal.
    pub fn analytics(&self, now_ms: u64, paid: impl Fn(&str) -> bool) -> Analytics {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let t = &inner.totals;
        let total = inner.chats.len();
        let reached_interest = t.furthest[1] + t.furthest[2];
        let reached_booking = t.furthest[2];

        // Only booked chats can be paid: few, and whether they are paid lives in the CRM.
        let mut paid_total = 0;
        let mut paid_by_campaign: HashMap<&str, usize> = HashMap::new();
        let mut booked_idle_unpaid = 0;
        let idle_before = now_ms.saturating_sub(DROP_OFF_HOURS * 3_600_000);
        for chat in &inner.booked {
            let Some(s) = inner.chats.get(chat) else { continue };
            if paid(chat) {
                paid_total += 1;
                if let Some(c) = &s.campaign {
                    *paid_by_campaign.entry(c).or_default() += 1;
                }
            } else if !s.handed_over && !s.paused(now_ms) && s.last_inbound_ms < idle_before {
                booked_idle_unpaid += 1;
            }
        }

        let mut campaign_performance: Vec<CampaignPerformance> = t
            .campaigns
            .iter()
            .map(|(campaign, (conversations, bookings))| CampaignPerformance {
                campaign: campaign.clone(),
                clicks: None,
                conversations: *conversations,
                bookings: *bookings,
                paid: paid_by_campaign.get(campaign.as_str()).copied().unwrap_or(0),
                conversion: ratio(*bookings, *conversations),
            })
            .collect();
        campaign_performance.sort_by(|a, b| b.conversations.cmp(&a.conversations).then(a.campaign.cmp(&b.campaign)));

        let mut variant_performance: Vec<VariantPerformance> = t
            .variants
            .iter()
            .map(|(variant, (conversations, bookings))| VariantPerformance {
                variant: variant.clone(),
                conversations: *conversations,
                bookings: *bookings,
                conversion: ratio(*bookings, *conversations),
            })
            .collect();
        variant_performance.sort_by(|a, b| a.variant.cmp(&b.variant));

        let mut common_questions: Vec<CommonQuestion> = t
            .intents
            .iter()
            .filter(|(_, (asked, _))| *asked > 0)
            .map(|(intent, (asked, answered))| CommonQuestion {
                pattern: *intent,
                label: intent.label(),
                frequency: *asked,
                answered_by_ai: *answered,
                ai_success_rate: ratio(*answered as usize, *asked as usize),
            })
            .collect();
        common_questions.sort_by_key(|q| std::cmp::Reverse(q.frequency));

        // Idle chats not handed over: the older end of `recent`.
        let mut dropped = [0usize; 3];
        for (_, chat) in inner.recent.range(..(idle_before, String::new())) {
            if let Some(s) = inner.chats.get(chat)
                && !s.booked()
                && !s.paused(now_ms)
            {
                dropped[s.furthest as usize] += 1;
            }
        }
        dropped[2] = booked_idle_unpaid;
        let by_phase = PHASES
            .iter()
            .map(|p| PhaseDropOff {
                phase: p.as_str(),
                conversations: t.furthest[*p as usize],
                dropped: dropped[*p as usize],
                rate: ratio(dropped[*p as usize], t.furthest[*p as usize]),
            })
            .collect();
        let dropped_total = dropped.iter().sum();

        Analytics {
            conversion_metrics: ConversionMetrics {
                total_leads: total,
                reached_interest,
                reached_booking,
                paid: paid_total,
                leads_to_interest: ratio(reached_interest, total),
                interest_to_booking: ratio(reached_booking, reached_interest),
                booking_to_paid: ratio(paid_total, reached_booking),
                conversion_rate: ratio(paid_total, total),
            },
            campaign_performance,
            variant_performance,
            ai_performance: AiPerformance {
                bot_replies: t.replies,
                avg_response_time_ms: (t.replies > 0).then(|| t.reply_ms as f64 / t.replies as f64),
                successful_conversations: t.successful,
                escalated_conversations: t.escalated,
                escalation_rate: ratio(t.escalated, t.bot_chats),
            },
            common_questions,
            drop_off_analysis: DropOffAnalysis {
                idle_hours: DROP_OFF_HOURS,
                dropped_total,
                drop_off_rate: ratio(dropped_total, total),
                by_phase,
            },
            generated_at_ms: now_ms,
        }
    }

    /// Every chat handed over now, longest waiting first.
    pub fn handed_over(&self) -> Vec<HandedOver> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut chats: Vec<HandedOver> = inner
            .handed_over
            .iter()
            .filter_map(|(_, chat)| inner.chats.get(chat).map(|s| (chat, s)))
            .map(|(chat, s)| HandedOver {
                chat: chat.clone(),
                waiting_since_ms: s.last_inbound_ms.max(s.last_human_reply_ms.unwrap_or(0)),
            })
            .collect();
        chats.sort_by_key(|h| h.waiting_since_ms);
        chats
    }

    /// The `limit` chats with the latest inbound messages, newest first.
    pub fn recent_conversations(&self, limit: usize) -> Vec<ConversationRow> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut latest: Vec<&(u64, String)> =
            inner.recent.iter().rev().take(limit).chain(inner.handed_over.iter().rev().take(limit)).collect();
        latest.sort_by(|a, b| b.cmp(a));
        latest
            .into_iter()
            .take(limit)
            .filter_map(|(_, chat)| inner.chats.get(chat).map(|s| (chat, s)))
            .map(|(chat, s)| ConversationRow {
                id: chat.clone(),
                phase: s.phase.as_str(),
                handed_over: s.handed_over,
                last_inbound_ms: s.last_inbound_ms,
                last_message: s.last_message.clone(),
                campaign: s.campaign.clone(),
            })
            .collect()
    }
}

/// The chat's last inbound text in the audit trail.
pub(crate) fn last_inbound_text(store: &Store, chat: &str) -> Option<String> {
    super::audit::trail(store, chat)
        .rev()
        .filter_map(Result::ok)
        .find_map(|record| (record.direction == super::audit::Direction::In).then_some(record.text).flatten())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::TurnRecord;

    fn turn(phase_after: Phase, intent: Intent, handover: bool) -> TurnRecord {
        TurnRecord {
            prompt_version: "v1".into(),
            brain: "offline".into(),
            fallback: None,
            intent: Some(intent),
            confidence: 0.9,
            phase_before: Phase::Leads,
            phase_after,
            handover,
            handover_reason: handover.then(|| "payment intent".into()),
            campaign_source: None,
            unknown_codes: Vec::new(),
            dropped_urls: Vec::new(),
            variant: None,
            note: None,
        }
    }

    #[test]
    fn figures_follow_each_chats_latest_state() {
        let stats = ConversationStats::default();
        let now = 100 * ACTIVE_WINDOW_MS;
        let leads = ChatState { last_inbound_ms: now - 1_000, ..ChatState::default() };
        stats.observe("6281", &leads, Some("halo"));
        stats.observe("6282", &ChatState { last_inbound_ms: now - 2 * ACTIVE_WINDOW_MS, ..leads.clone() }, None);
        let handed = ChatState {
            phase: Phase::Booking,
            handed_over: true,
            handover_reason: Some("payment intent".into()),
            package: Some("UMR_JAN_2027_PLUS".into()),
            ..leads.clone()
        };
        stats.observe("6281", &handed, Some("mau transfer DP"));
        let d = stats.dashboard(now);
        assert_eq!(d.active_conversations, 0, "6281 is handed over, 6282 is older than 24 h");
        assert_eq!((d.phase_distribution["leads"], d.phase_distribution["booking"]), (1, 1));
        assert_eq!(d.escalated_conversations, 1);
        assert_eq!(d.pending_handover[0].last_message.as_deref(), Some("mau transfer DP"));
        assert_eq!(d.pending_handover[0].ai_notes.as_deref(), Some("payment intent"));
        stats.observe("6281", &ChatState { handed_over: false, ..handed }, None);
        let d = stats.dashboard(now);
        assert_eq!((d.active_conversations, d.escalated_conversations), (1, 0), "released");
    }

    #[test]
    fn analytics_sums_follow_each_chats_latest_tally_and_skip_the_playground() {
        let stats = ConversationStats::default();
        let now = 1_000 * ACTIVE_WINDOW_MS;
        let mut a = ChatState {
            last_inbound_ms: now,
            campaign_source: Some("UMR_MAR_2025_HEMAT".into()),
            ..Default::default()
        };
        a.tally.turn(&turn(Phase::Interest, Intent::Details, false), 100);
        stats.observe("a", &a, None);
        // The same chat again, a turn later: replaced, not added twice.
        a.phase = Phase::Booking;
        a.tally.turn(&turn(Phase::Booking, Intent::Payment, true), 300);
        a.handed_over = true;
        stats.observe("a", &a, None);
        let mut idle = ChatState { last_inbound_ms: now - (DROP_OFF_HOURS + 1) * 3_600_000, ..Default::default() };
        idle.tally.turn(&turn(Phase::Leads, Intent::Details, false), 200);
        stats.observe("idle", &idle, None);
        let mut test = ChatState { playground: true, ..a.clone() };
        test.tally.turn(&turn(Phase::Booking, Intent::Complex, true), 5);
        stats.observe("playground-x@lid", &test, None);

        let x = stats.analytics(now, |chat| chat == "a");
        let c = &x.conversion_metrics;
        assert_eq!((c.total_leads, c.reached_interest, c.reached_booking, c.paid), (2, 1, 1, 1));
        assert_eq!((c.leads_to_interest, c.booking_to_paid, c.conversion_rate), (Some(0.5), Some(1.0), Some(0.5)));
        let camp = &x.campaign_performance[0];
        assert_eq!(
            (camp.campaign.as_str(), camp.conversations, camp.bookings, camp.paid),
            ("UMR_MAR_2025_HEMAT", 1, 1, 1)
        );
        assert_eq!(camp.clicks, None);
        let ai = &x.ai_performance;
        assert_eq!((ai.bot_replies, ai.avg_response_time_ms), (3, Some(200.0)));
        assert_eq!((ai.escalated_conversations, ai.escalation_rate, ai.successful_conversations), (1, Some(0.5), 1));
        let details = x.common_questions.iter().find(|q| q.pattern == Intent::Details).unwrap();
        assert_eq!((details.frequency, details.answered_by_ai, details.ai_success_rate), (2, 2, Some(1.0)));
        assert!(x.common_questions.iter().all(|q| q.pattern != Intent::Complex), "playground turns are not counted");
        let d = &x.drop_off_analysis;
        assert_eq!((d.dropped_total, d.by_phase[0].dropped, d.by_phase[0].rate), (1, 1, Some(1.0)));
        assert_eq!(stats.recent_conversations(10).len(), 2);
        assert_eq!(stats.recent_conversations(10)[0].id, "a", "newest first");
    }

    #[test]
    fn a_paused_chat_is_on_the_dashboard_and_not_a_drop_off() {
        let stats = ConversationStats::default();
        let now = 1000 * ACTIVE_WINDOW_MS;
        let idle = now - (DROP_OFF_HOURS + 1) * 3_600_000;
        let quiet = ChatState { last_inbound_ms: idle, ..ChatState::default() };
        stats.observe("6281", &ChatState { paused_until_ms: Some(now + 60_000), ..quiet.clone() }, Some("halo"));
        stats.observe("6282", &ChatState { bot_disabled: true, ..quiet.clone() }, None);
        stats.observe("6283", &quiet, None);
        let d = stats.dashboard(now);
        let paused: Vec<&str> = d.paused_conversations.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(paused.len(), 2);
        assert!(paused.contains(&"6281") && paused.contains(&"6282"), "{paused:?}");
        assert_eq!(stats.analytics(now, |_| false).drop_off_analysis.dropped_total, 1, "only 6283 dropped off");
        // A pause that ended is a chat like any other.
        assert_eq!(stats.analytics(now + 120_000, |_| false).drop_off_analysis.dropped_total, 2);
    }
}
