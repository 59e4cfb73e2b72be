//! The sales conversation: prospects move through `leads → interest → booking`
//! and are handed to a human admin when a person should answer.
//!
//! A brain proposes a [`brain::Decision`]; [`Sales::turn`] applies it under
//! the rules that hold whatever a brain says: the phase never moves backward,
//! handover triggers fire, only catalog links are sent.

pub mod brain;
pub mod catalog;
pub mod lang;
pub mod lead;
pub mod playbook;
pub mod prompts;
pub mod state;
pub(crate) mod texts;
mod watch;

use serde::{Deserialize, Serialize};

use crate::channel::{ChatId, Content, Inbound, MediaKind as InMedia, OutBody, Outgoing, ReplyMeta};
use crate::config::{Config, Language};
use crate::crm::Changes;
use crate::crm::seats::SeatView;
use crate::router::Effects;
use brain::llm::{HistoryLine, LlmBrain};
use brain::{Decision, Intent, MediaKind, Turn};
pub use prompts::Prompts;
pub use state::{ChatState, Phase};
pub use watch::PromptStore;

/// The sales bot: prompt store plus the settings its rules need.
pub struct Sales {
    pub prompts: PromptStore,
    llm: Option<LlmBrain>,
    threshold: f64,
    default_language: Language,
    admin_chats: Vec<ChatId>,
    /// How long a booking handover holds seats (0: no holds).
    seat_hold_ms: u64,
    /// The last live catalog built, reused while the prompts and the seats
    /// left stay the same (a copy of the prompts per turn otherwise).
    live: std::sync::Mutex<Option<Live>>,
}

/// Prompts with their packages' seats left, and what they were made from.
struct Live {
    source: std::sync::Arc<Prompts>,
    left: Vec<u32>,
    prompts: std::sync::Arc<Prompts>,
}

/// A turn's effects: the replies to the prospect in order, then the alerts
/// to `[bot] admin_chats`; the next state; the turn's audit; the lead when
/// the prospect reached booking; the seats a booking handover holds.
fn effects(
    replies: Vec<Outgoing>,
    alerts: Vec<Outgoing>,
    state: ChatState,
    record: TurnRecord,
    lead: Option<lead::LeadRecord>,
    crm: Changes,
) -> Effects {
    let mut effects = Effects { state: Some(state), lead, crm, ..Effects::default() };
    effects.audit.turn = Some(record);
    for out in replies.into_iter().chain(alerts) {
        effects.push(out);
    }
    effects
}

/// The audit of one turn: what was decided, with which prompts, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnRecord {
    pub prompt_version: String,
    /// `llm`, `offline` or `rules` (media handling).
    pub brain: String,
    /// Why the LLM's answer was not used for this turn.
    #[serde(default)]
    pub fallback: Option<String>,
    pub intent: Option<Intent>,
    pub confidence: f64,
    pub phase_before: Phase,
    pub phase_after: Phase,
    pub handover: bool,
    pub handover_reason: Option<String>,
    pub campaign_source: Option<String>,
    pub unknown_codes: Vec<String>,
    pub dropped_urls: Vec<String>,
    /// The conversation's A/B variant.
    #[serde(default)]
    pub variant: Option<String>,
    /// What the admins were told the bot knew (handover turns).
    #[serde(default)]
    pub note: Option<String>,
}

impl Sales {
    pub fn from_config(config: &Config) -> Sales {
        let admin_chats = config
            .bot
            .admin_chats
            .iter()
            .filter_map(|a| {
                let chat = ChatId::parse(a);
                if chat.is_none() {
                    tracing::warn!(entry = %a, "[bot] admin_chats entry is neither a phone number nor a chat id; ignored");
                }
                chat
            })
            .collect();
        Sales {
            prompts: PromptStore::open(&config.sales.prompts_dir),
            llm: LlmBrain::from_config(&config.llm),
            threshold: config.sales.confidence_threshold,
            default_language: config.sales.default_language,
            admin_chats,
            seat_hold_ms: config.sales.seat_hold_hours.saturating_mul(3_600_000),
            live: std::sync::Mutex::new(None),
        }
    }

    /// Whether turns read the recent conversation (the LLM brain does).
    pub fn wants_history(&self) -> bool {
        self.llm.is_some()
    }

    /// The catalog's packages, for `#paket` and the packages API.
    pub fn on_sale(&self) -> Vec<crate::crm::seats::OnSale> {
        let prompts = self.prompts.current();
        let today = catalog::today();
        prompts
            .catalog
            .packages
            .iter()
            .map(|p| crate::crm::seats::OnSale {
                code: p.code.clone(),
                name: p.name.clone(),
                quota: p.quota,
                departure: p.departure.clone(),
                departed: p.has_departed(today),
            })
            .collect()
    }

    /// The prompts with the catalog's seats as they stand now: what both
    /// brains quote and offer.
    pub fn live_prompts(&self, seats: &SeatView) -> std::sync::Arc<Prompts> {
        let prompts = self.prompts.current();
        if seats.is_empty() {
            return prompts;
        }
        let left: Vec<u32> = prompts.catalog.packages.iter().map(|p| seats.left(&p.code, p.quota)).collect();
        if prompts.catalog.packages.iter().zip(&left).all(|(p, left)| p.quota == *left) {
            return prompts;
        }
        let mut cached = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(live) = cached.as_ref().filter(|l| std::sync::Arc::ptr_eq(&l.source, &prompts) && l.left == left) {
            return live.prompts.clone();
        }
        let mut copy = (*prompts).clone();
        for (p, left) in copy.catalog.packages.iter_mut().zip(&left) {
            p.quota = *left;
        }
        let copy = std::sync::Arc::new(copy);
        *cached = Some(Live { source: prompts, left, prompts: copy.clone() });
        copy
    }

    /// One prospect message → replies, admin alerts and the next state.
    /// `seats`: the packages' seats in use now (holds, won deals, admins' quotas).
    pub async fn turn(&self, ev: &Inbound, state: &ChatState, history: &[HistoryLine], seats: &SeatView) -> Effects {
        let prompts = self.live_prompts(seats);
        let mut next = state.clone();
        if next.campaign_source.is_none() {
            next.campaign_source = ev.referral.as_ref().and_then(|r| r.source_id.clone().or(r.headline.clone()));
        }
        if next.variant.is_none() {
            next.variant = prompts.playbook.assign_variant(&ev.chat.key());
        }
        let text = match &ev.content {
            Content::Text { body } => chosen_option(body, state),
            Content::ButtonReply { title, .. } => title,
            _ => return self.non_text(ev, state, next, &prompts),
        };
        let turn = Turn {
            text,
            name: ev.sender_name.as_deref(),
            state: &next,
            prompts: &prompts,
            default_language: self.default_language,
        };
        let (decision, brain, fallback) = match &self.llm {
            Some(llm) => match llm.decide(&turn, history).await {
                Ok(d) => (d, "llm", None),
                Err(e) => {
                    tracing::warn!(chat = %ev.chat.key(), error = %e, "LLM unusable for this turn; the offline brain answers");
                    (brain::offline::decide(&turn), "offline", Some(e.to_string()))
                }
            },
            None => (brain::offline::decide(&turn), "offline", None),
        };
        let mut effects = self.apply(ev, state, next, decision, &prompts);
        if let Some(record) = effects.audit.turn.as_mut() {
            record.brain = brain.into();
            record.fallback = fallback;
        }
        effects
    }

    /// The phase machine: enforces the rules on a brain's decision.
    fn apply(&self, ev: &Inbound, before: &ChatState, mut next: ChatState, d: Decision, prompts: &Prompts) -> Effects {
        next.phase = before.phase.max(d.new_phase);
        next.lang = Some(d.lang);
        if d.package.is_some() {
            next.package = d.package.clone();
        }
        if d.intent == Intent::CampaignCode && next.campaign_source.is_none() {
            // The ad's code, even of a trip that has left or is full: it brought the prospect.
            next.campaign_source = catalog::campaign_codes(ev.text().unwrap_or_default())
                .into_iter()
                .find(|c| prompts.catalog.get(c).is_some())
                .or_else(|| d.package.clone());
        }
        next.party = d.party.or(next.party);
        next.asked_payment |= d.intent == Intent::Payment;
        next.high_intent |= d.intent == Intent::Payment && before.phase == Phase::Leads && before.package.is_none();
        next.greeted = true;
        let low_confidence = d.confidence < self.threshold;
        let handover = d.should_escalate || low_confidence;
        let reason = d.escalation_reason.clone().or_else(|| low_confidence.then(|| "low confidence".to_string()));
        let text = if low_confidence && !d.should_escalate {
            prompts.playbook.text(d.lang, "handover", next.variant.as_deref()).to_string()
        } else {
            d.response_text.clone()
        };
        let note = d.note.clone().or_else(|| {
            low_confidence.then(|| format!("keyakinan bot {:.2} di bawah ambang {:.2}", d.confidence, self.threshold))
        });
        if handover {
            next.handed_over = true;
            next.handover_reason = reason.clone();
        }
        if !d.unknown_codes.is_empty() {
            tracing::info!(chat = %ev.chat.key(), codes = ?d.unknown_codes, "campaign codes not in the catalog");
        }
        // Buttons where the channel has them (and the text fits), a numbered list elsewhere.
        next.options.clear();
        let body = if d.buttons.is_empty() {
            OutBody::Text { text }
        } else if ev.channel.capabilities().buttons && text.chars().count() <= 1024 {
            OutBody::Buttons { text, buttons: d.buttons.clone() }
        } else {
            next.options = d.buttons.iter().map(|b| b.title.clone()).collect();
            OutBody::Text { text: OutBody::numbered(&text, &d.buttons) }
        };
        let meta = self.meta(&next, d.lang, prompts);
        let mut replies = vec![reply(ev, body, &meta)];
        let mut dropped_urls = Vec::new();
        for media in &d.media_to_send {
            if !prompts.knows_url(&media.url) {
                // Never send a link the catalog does not have, whoever proposed it.
                dropped_urls.push(media.url.clone());
                continue;
            }
            let body = match media.kind {
                MediaKind::Image => OutBody::Image { url: media.url.clone(), caption: media.caption.clone() },
                MediaKind::Document => {
                    OutBody::Document { url: media.url.clone(), filename: None, caption: media.caption.clone() }
                }
                MediaKind::Video => OutBody::Video { url: media.url.clone(), caption: media.caption.clone() },
            };
            replies.push(reply(ev, body, &meta));
        }
        if d.send_location
            && let (Some(latitude), Some(longitude)) = (prompts.company.latitude, prompts.company.longitude)
        {
            let location = OutBody::Location {
                latitude,
                longitude,
                name: Some(prompts.company.name.clone()),
                address: prompts.company.address.clone(),
            };
            replies.push(reply(ev, location, &meta));
        }
        let alerts = if handover {
            self.alerts(ev, &next, reason.as_deref().unwrap_or("handover"), note.as_deref(), &meta)
        } else {
            Vec::new()
        };
        let record = TurnRecord {
            prompt_version: prompts.version.clone(),
            brain: "offline".into(),
            fallback: None,
            intent: Some(d.intent),
            confidence: d.confidence,
            phase_before: before.phase,
            phase_after: next.phase,
            handover,
            handover_reason: reason,
            campaign_source: next.campaign_source.clone(),
            unknown_codes: d.unknown_codes,
            dropped_urls,
            variant: next.variant.clone(),
            note,
        };
        let lead = (next.phase == Phase::Booking).then(|| self.lead(ev, &next, &record, None));
        let hold = if handover { self.hold(ev, &next) } else { Changes::default() };
        effects(replies, alerts, next, record, lead, hold)
    }

    /// A booking handed to an admin holds the party's seats on the package,
    /// so the bot does not sell them twice while the admin closes the sale.
    /// Nothing outside booking, without a package, or in a group or a test chat.
    fn hold(&self, ev: &Inbound, next: &ChatState) -> Changes {
        let mut changes = Changes::default();
        let test = ev.chat.is_group() || ev.chat.is_playground() || next.playground;
        if let Some(package) = next.package.as_deref()
            && next.phase == Phase::Booking
            && self.seat_hold_ms > 0
            && !test
        {
            let now = crate::clock::now_ms();
            changes.hold_seats(&ev.chat.key(), package, next.party.unwrap_or(1), now, now + self.seat_hold_ms);
        }
        changes
    }

    fn lead(
        &self,
        ev: &Inbound,
        state: &ChatState,
        record: &TurnRecord,
        receipt_url: Option<String>,
    ) -> lead::LeadRecord {
        let now = crate::clock::now_ms();
        let last = ev.text().unwrap_or("[media]");
        lead::LeadRecord {
            phone: ev.chat.key(),
            name: ev.sender_name.clone(),
            phase: state.phase.as_str().to_string(),
            interested_package: state.package.clone(),
            conversation_summary: format!(
                "{} pesan; paket: {}; alasan handover: {}; pesan terakhir: \"{last}\"",
                state.inbound_count,
                state.package.as_deref().unwrap_or("-"),
                record.handover_reason.as_deref().unwrap_or("-"),
            ),
            source: state.campaign_source.clone(),
            ai_confidence: Some(record.confidence),
            handover_reason: record.handover_reason.clone(),
            receipt_url,
            notes: None,
            created_by: "bot".into(),
            created_ms: now,
            updated_ms: now,
        }
    }

    /// Photos, documents, voice notes, locations, contact cards: never dropped silently.
    fn non_text(&self, ev: &Inbound, before: &ChatState, mut next: ChatState, prompts: &Prompts) -> Effects {
        let lang = before.lang.unwrap_or(self.default_language);
        let (text, handover_reason) = match &ev.content {
            Content::Media { kind: InMedia::Image | InMedia::Document, caption, .. }
                if before.asked_payment || caption.as_deref().is_some_and(looks_like_receipt) =>
            {
                next.phase = next.phase.max(Phase::Booking);
                (texts::receipt_received(lang), Some("transfer receipt"))
            }
            Content::Media { kind: InMedia::VoiceNote | InMedia::Audio, .. } => {
                next.voice_notes += 1;
                if next.voice_notes >= 2 {
                    (texts::handover(lang), Some("voice notes"))
                } else {
                    (texts::please_type(lang), None)
                }
            }
            _ => (texts::media_noted(lang), None),
        };
        if let Some(reason) = handover_reason {
            next.handed_over = true;
            next.handover_reason = Some(reason.to_string());
        }
        let meta = self.meta(&next, lang, prompts);
        let replies = vec![reply(ev, OutBody::Text { text }, &meta)];
        let alerts = handover_reason.map(|r| self.alerts(ev, &next, r, None, &meta)).unwrap_or_default();
        let record = TurnRecord {
            prompt_version: prompts.version.clone(),
            brain: "rules".into(),
            fallback: None,
            intent: None,
            confidence: 1.0,
            phase_before: before.phase,
            phase_after: next.phase,
            handover: handover_reason.is_some(),
            handover_reason: handover_reason.map(str::to_string),
            campaign_source: next.campaign_source.clone(),
            unknown_codes: Vec::new(),
            dropped_urls: Vec::new(),
            variant: next.variant.clone(),
            note: None,
        };
        let receipt = match (&ev.content, handover_reason) {
            (Content::Media { url, media_id, .. }, Some("transfer receipt")) => url.clone().or(media_id.clone()),
            _ => None,
        };
        let lead = (next.phase == Phase::Booking).then(|| self.lead(ev, &next, &record, receipt));
        let hold = if handover_reason.is_some() { self.hold(ev, &next) } else { Changes::default() };
        effects(replies, alerts, next, record, lead, hold)
    }

    fn meta(&self, state: &ChatState, lang: Language, prompts: &Prompts) -> ReplyMeta {
        ReplyMeta {
            phase: Some(state.phase.as_str().to_string()),
            lang: Some(match lang {
                Language::Id => "id".into(),
                Language::En => "en".into(),
            }),
            handover: state.handed_over,
            prompt_version: Some(prompts.version.clone()),
        }
    }

    fn alerts(
        &self,
        ev: &Inbound,
        state: &ChatState,
        reason: &str,
        note: Option<&str>,
        meta: &ReplyMeta,
    ) -> Vec<Outgoing> {
        let last = ev.text().unwrap_or("[media]");
        let mut text = texts::admin_alert(
            &ev.chat.key(),
            ev.sender_name.as_deref(),
            state.phase.as_str(),
            state.package.as_deref(),
            reason,
            last,
        );
        if let Some(note) = note {
            text.push_str(&format!("\nYang bot tahu: {note}"));
        }
        if state.high_intent {
            text.push_str("\n⚡ High intent: tanya pembayaran sejak awal — mohon segera dibalas.");
        }
        let mut alerts: Vec<Outgoing> = self
            .admin_chats
            .iter()
            .map(|admin| Outgoing {
                to: admin.clone(),
                body: OutBody::Text { text: text.clone() },
                reply_to: None,
                meta: meta.clone(),
            })
            .collect();
        // The receipt itself goes to the admins too.
        if let Content::Media { url: Some(url), kind: InMedia::Image | InMedia::Document, .. } = &ev.content {
            for admin in &self.admin_chats {
                let body = OutBody::Document {
                    url: url.clone(),
                    filename: None,
                    caption: Some(format!("Dari {}", ev.chat.key())),
                };
                alerts.push(Outgoing { to: admin.clone(), body, reply_to: None, meta: meta.clone() });
            }
        }
        alerts
    }
}

/// "2" after a numbered list means the second choice.
fn chosen_option<'a>(text: &'a str, state: &'a ChatState) -> &'a str {
    match text.trim().trim_end_matches('.').parse::<usize>() {
        Ok(n) if (1..=state.options.len()).contains(&n) => &state.options[n - 1],
        _ => text,
    }
}

fn looks_like_receipt(caption: &str) -> bool {
    let c = caption.to_lowercase();
    ["bukti", "transfer", "tf", "struk", "receipt", "dp", "bayar", "pelunasan"].iter().any(|w| c.contains(w))
}

fn reply(ev: &Inbound, body: OutBody, meta: &ReplyMeta) -> Outgoing {
    Outgoing { to: ev.chat.clone(), body, reply_to: None, meta: meta.clone() }
}
