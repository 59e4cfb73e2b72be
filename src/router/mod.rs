//! The one place that chooses what happens to an event: [`route`] is a pure
//! function over typed data, one row per rule, and [`Router::handle`] calls
//! the handler it names (commands, the sales conversation, controls, labels,
//! delivery statuses). Every handler returns [`Effects`].

mod controls;
mod conversation;
pub mod effects;
#[cfg(test)]
mod handler_tests;
mod labels;

use std::collections::HashSet;
use std::sync::Arc;

pub use controls::HANDOVER_TIMEOUT;
pub use effects::{Audit, Burst, Effects, Markers, ToSend};

use crate::channel::{
    Channel, ChatId, Content, Control, DeliveryState, DeliveryUpdate, IdentityChange, Inbound, LabelChange,
};
use crate::commands::Commands;
pub use crate::commands::Directory;
use crate::config::{Config, Language};
use crate::crm::nurture::is_opt_out;
use crate::crm::{AdReferral, ChannelName, Crm, CrmError, Touch};
pub use crate::sales::brain::Intent;
pub use crate::sales::brain::llm::HistoryLine;
pub use crate::sales::lead::LeadRecord;
pub use crate::sales::state::{IntentTally, PendingTurn, Tally};
pub use crate::sales::{ChatState, Phase, Sales, TurnRecord};
use crate::texts;
use conversation::Reads;

/// The bot's standing settings, derived from `[bot]` once at start.
#[derive(Debug, Clone)]
pub struct BotSettings {
    /// Commands typed on the business phone run as the owner's.
    pub owner_from_me: bool,
    pub send_seen: bool,
    pub send_typing: bool,
    pub acknowledge: bool,
    /// The sales conversation answers prospects; when off, text is only acknowledged.
    pub sales: bool,
    /// Chat keys the bot never answers.
    pub ignore_chats: HashSet<String>,
    pub keyword_finish: Option<String>,
    /// A human typing on the business phone pauses the bot...
    pub stop_bot_from_me: bool,
    /// ...for this long.
    pub pause_ms: u64,
    /// Texts arriving within this window are answered as one turn (0: each at once);
    /// each text restarts it...
    pub coalesce_ms: u64,
    /// ...up to this long after the burst's first text.
    pub coalesce_max_ms: u64,
    /// A prospect's language until their chat shows one (`[sales] default_language`);
    /// owners and staff read `[bot] language` instead.
    pub prospect_language: Language,
}

impl BotSettings {
    pub fn from_config(config: &Config) -> BotSettings {
        BotSettings {
            owner_from_me: config.bot.owner_from_me,
            send_seen: config.bot.send_seen,
            send_typing: config.bot.send_typing,
            acknowledge: config.bot.acknowledge,
            sales: config.sales.enabled,
            ignore_chats: config.sales.ignore_chats.iter().filter_map(|c| ChatId::parse(c)).map(|c| c.key()).collect(),
            keyword_finish: config.sales.keyword_finish.clone().filter(|k| !k.trim().is_empty()),
            stop_bot_from_me: config.sales.stop_bot_from_me,
            pause_ms: config.sales.pause_expire_minutes * 60_000,
            coalesce_ms: config.sales.coalesce_ms,
            coalesce_max_ms: config.sales.coalesce_max_ms.max(config.sales.coalesce_ms),
            prospect_language: config.sales.default_language,
        }
    }

    fn is_finish(&self, text: Option<&str>) -> bool {
        matches!((text, &self.keyword_finish), (Some(t), Some(k)) if t.trim().eq_ignore_ascii_case(k.trim()))
    }
}

/// Facts the runtime looked up before routing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts {
    /// The message is the gateway's echo of something the bot sent.
    pub own_echo: bool,
    /// The text is a known command (prefix + known name; see `commands::Commands::detect`).
    pub command: bool,
    /// The sender is an owner or listed staff: never a prospect.
    pub team: bool,
    pub now_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Nothing to do beyond the audit record; says why.
    Ignore(&'static str),
    /// A `#` command: manifest checks, then its handler.
    Command,
    /// The prospect replied STOP/BERHENTI: no more nurture messages.
    OptOut,
    /// A person typed on the business phone.
    HumanOnPhone,
    /// The prospect ended the session with `[sales] keyword_finish`.
    Finish,
    /// The person's phone number or user id changed: the contact follows.
    IdentityChange,
    /// An owner or staff member wrote something that is not a command:
    /// never a lead, never a sales turn; they are told how commands look.
    Team,
    /// The sales conversation.
    Conversation,
}

impl Route {
    pub fn name(self) -> &'static str {
        match self {
            Route::Ignore(why) => why,
            Route::Command => "command",
            Route::OptOut => "opt-out",
            Route::HumanOnPhone => "human on phone",
            Route::Finish => "finish",
            Route::IdentityChange => "identity change",
            Route::Team => "owner or staff",
            Route::Conversation => "conversation",
        }
    }
}

pub fn route(ev: &Inbound, bot: &BotSettings, chat: &ChatState, facts: Facts) -> Route {
    match ev {
        _ if ev.from_me && (facts.own_echo || ev.sent_by_api) => Route::Ignore("own echo"),
        // Not written by the person: never answered, never marked read.
        Inbound { content: Content::IdentityChanged(_), .. } => Route::IdentityChange,
        Inbound { content: Content::Unreadable { .. }, .. } => Route::Ignore("unreadable"),
        // On the business phone a command is the owner's only if so configured;
        // otherwise it is a person typing there, never a prospect-visible refusal.
        _ if facts.command && (!ev.from_me || bot.owner_from_me) => Route::Command,
        // Staff ending a session from the business phone (a handover included).
        _ if ev.from_me && bot.is_finish(ev.text()) => Route::Finish,
        _ if ev.from_me => Route::HumanOnPhone,
        _ if ev.chat.is_group() => Route::Ignore("group chat"),
        _ if facts.team => Route::Team,
        _ if bot.ignore_chats.contains(&ev.chat.key()) => Route::Ignore("ignored chat"),
        // Before the handover/pause rules: opting out of follow-ups always works.
        _ if ev.text().is_some_and(is_opt_out) => Route::OptOut,
        // A prospect cannot end their own handover: only staff release it.
        _ if bot.is_finish(ev.text()) && !chat.handed_over => Route::Finish,
        _ if chat.bot_disabled => Route::Ignore("bot switched off for this chat"),
        _ if chat.handed_over => Route::Ignore("handed over"),
        _ if chat.paused_until_ms.is_some_and(|until| until > facts.now_ms) => {
            Route::Ignore("paused: a human is answering")
        }
        _ if matches!(ev.content, Content::Reaction { .. }) => Route::Ignore("reaction"),
        _ => Route::Conversation,
    }
}

/// What the router may read besides the event (implemented by the runtime
/// over the store and the gateways; by tests in memory).
pub trait Lookup: Directory {
    /// The chat's last `n` text lines in and out, oldest first (for the LLM).
    fn history(&self, chat_key: &str, n: usize) -> Vec<HistoryLine>;
}

/// One event as the router receives it, with what the runtime read for it.
pub enum Input<'a> {
    /// A message, with its chat's state and the facts looked up for it.
    Message {
        ev: &'a Inbound,
        state: &'a ChatState,
        facts: Facts,
    },
    /// A burst's window ended; `state` is `None` for a chat never stored.
    Burst {
        token: u64,
        state: Option<&'a ChatState>,
    },
    /// An operator's action on a chat.
    Control {
        control: &'a Control,
        state: &'a ChatState,
    },
    Label(&'a LabelChange),
    Delivery(&'a DeliveryUpdate),
}

/// The one place that chooses the handler for an event: commands, the
/// sales conversation, controls, labels, delivery statuses.
pub struct Router {
    pub bot: BotSettings,
    pub sales: Sales,
    pub commands: Commands,
    crm: Arc<Crm>,
    /// `[crm] inbound_opt_in`: a prospect who writes agrees to follow-ups.
    inbound_opt_in: bool,
}

impl Router {
    pub fn new(config: &Config, bot: BotSettings, crm: Arc<Crm>) -> Router {
        Router {
            sales: Sales::from_config(config),
            commands: Commands::open(config, crm.clone()),
            bot,
            crm,
            inbound_opt_in: config.crm.inbound_opt_in,
        }
    }

    /// The effects of one event. Reads nothing but `input` and `env`.
    pub async fn handle(&self, input: Input<'_>, env: &impl Lookup, now_ms: u64) -> Result<Effects, RouterError> {
        Ok(match input {
            Input::Message { ev, state, facts } => self.message(ev, state, facts, env, now_ms).await,
            Input::Burst { token, state: Some(state) } => self.burst(token, state, env, now_ms).await,
            Input::Burst { state: None, .. } => Effects::default(),
            Input::Control { control, state } => controls::apply(control, state.clone(), self.bot.prospect_language),
            Input::Label(change) => labels::record(&self.crm, change, now_ms)?,
            Input::Delivery(update) => {
                if update.state == DeliveryState::Failed {
                    tracing::warn!(channel = update.channel.as_str(), message_id = %update.message_id, error = ?update.error, "message delivery failed");
                }
                Effects { delivery: Some(update.clone()), ..Effects::default() }
            }
        })
    }

    async fn message(&self, ev: &Inbound, state: &ChatState, facts: Facts, env: &impl Lookup, now: u64) -> Effects {
        let invocation = self.commands.detect(ev.text());
        let facts = Facts { command: invocation.is_some(), team: self.commands.is_team(ev), now_ms: now, ..facts };
        let route = route(ev, &self.bot, state, facts);
        if route == Route::Team {
            let prefix = self.commands.settings.prefixes.first().map_or("#", String::as_str);
            let mut effects = Effects::noted(route.name());
            effects
                .sends
                .push(Effects::text(&ev.chat, texts::team_not_a_command(self.commands.settings.language, prefix)));
            return effects;
        }
        if let (Route::Command, Some(invocation)) = (route, invocation) {
            let packages = || self.sales.on_sale();
            let mut effects = self.commands.handle(ev, &invocation, env, &packages, now, state.lang).await;
            // The team's own commands are not leads; anyone else who types one
            // is a prospect, recorded with the masked text (a pasted key never lands there).
            if !self.commands.is_team(ev)
                && let Some(mut touch) = self.touch_of(ev, None, now)
            {
                touch.text = effects.audit.text.clone();
                effects.crm.extend(self.crm.touch(touch));
            }
            return effects;
        }
        if let (Route::IdentityChange, Content::IdentityChanged(change)) = (route, &ev.content) {
            return self.identity_changed(ev, change);
        }
        let history = if route == Route::Conversation && self.sales.wants_history() {
            env.history(&ev.chat.key(), 12)
        } else {
            Vec::new()
        };
        let seats = if route == Route::Conversation { self.crm.seat_view(now) } else { Default::default() };
        let mut effects = conversation::respond(
            route,
            ev,
            &self.bot,
            &self.sales,
            state,
            &Reads { history: &history, seats: &seats },
            now,
        )
        .await;
        let campaign = effects.state.as_ref().unwrap_or(state).campaign_source.clone();
        if let Some(touch) = self.touch_of(ev, campaign, now) {
            if route == Route::OptOut {
                effects.crm.extend(self.crm.opt_out(&touch.key));
            }
            effects.crm.extend(self.crm.touch(touch));
        }
        effects
    }

    async fn burst(&self, token: u64, state: &ChatState, env: &impl Lookup, now: u64) -> Effects {
        let chat = state.pending.as_ref().map(|p| p.last.chat.key());
        let history = match (&chat, self.sales.wants_history()) {
            (Some(chat), true) => env.history(chat, 12),
            _ => Vec::new(),
        };
        let seats = self.crm.seat_view(now);
        let mut effects = conversation::respond_to_burst(
            token,
            &self.bot,
            &self.sales,
            state,
            &Reads { history: &history, seats: &seats },
            now,
        )
        .await;
        // The burst's code is known only now: record it on the contact if it has none.
        if let (Some(chat), Some(source)) = (&chat, effects.state.as_ref().and_then(|s| s.campaign_source.clone()))
            && effects.audit.turn.is_some()
        {
            effects.crm.extend(self.crm.campaign_found(chat, source));
        }
        effects
    }

    /// The contact continues under the new number (or, for a person known
    /// only by user id, the new id); the chat's audit records the change.
    fn identity_changed(&self, ev: &Inbound, change: &IdentityChange) -> Effects {
        let mut effects = Effects::default();
        effects.audit.route = Some(Route::IdentityChange.name().to_string());
        if ev.chat.is_group() || ev.chat.is_playground() {
            return effects;
        }
        let new_key = match (&change.new_phone, &ev.sender) {
            (Some(phone), _) => phone.as_str().to_string(),
            (None, ChatId::User(_)) => change.new_user_id.clone().unwrap_or_else(|| ev.sender.key()),
            (None, other) => other.key(),
        };
        let phone = change.new_phone.as_ref().map(|p| p.to_string());
        effects.crm = self.crm.identity_changed(&ev.sender.key(), &new_key, phone, change.new_user_id.clone());
        effects
    }

    /// What the CRM learns from one inbound message: only people writing in a
    /// 1:1 chat become contacts (not groups, not the business phone).
    fn touch_of(&self, ev: &Inbound, campaign_source: Option<String>, now: u64) -> Option<Touch> {
        if ev.chat.is_group() || ev.from_me || ev.chat.is_playground() {
            return None;
        }
        let feature_used = match &ev.content {
            Content::ButtonReply { .. } | Content::Location { .. } | Content::Contacts { .. } => true,
            Content::Media { kind, .. } => matches!(kind, crate::channel::MediaKind::Document),
            _ => false,
        };
        Some(Touch {
            key: ev.sender.key(),
            phone: ev.sender.phone().map(|p| p.to_string()),
            user_id: ev.sender_user_id.clone(),
            name: ev.sender_name.clone(),
            channel: ev.channel.into(),
            referral: ev.referral.as_ref().map(AdReferral::from),
            text: ev.text().map(str::to_string),
            feature_used,
            campaign_source,
            now_ms: now,
            opt_in: self.inbound_opt_in,
        })
    }
}

/// The bridge between the two vocabularies: the router is the one module
/// that knows both the channels and the CRM.
impl From<Channel> for ChannelName {
    fn from(channel: Channel) -> ChannelName {
        ChannelName::new(channel.as_str())
    }
}

/// A gateway's ad referral in the CRM's words.
impl From<&crate::channel::Referral> for AdReferral {
    fn from(r: &crate::channel::Referral) -> AdReferral {
        AdReferral {
            source_url: r.source_url.clone(),
            source_id: r.source_id.clone(),
            source_type: r.source_type.clone(),
            headline: r.headline.clone(),
            body: r.body.clone(),
            media_type: r.media_type.clone(),
            ctwa_clid: r.ctwa_clid.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error(transparent)]
    Crm(#[from] CrmError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{Channel, ChatId, Phone};

    /// Default settings without coalescing: each message is its own turn.
    pub(super) fn bot() -> BotSettings {
        let mut bot = BotSettings::from_config(&Config::default());
        bot.coalesce_ms = 0;
        bot
    }

    /// A prospect's text on WAHA.
    pub(super) fn text(body: &str) -> Inbound {
        let chat = ChatId::Phone(Phone::parse("6281234567890").unwrap());
        Inbound::text_from(Channel::Waha, "default", "false_6281234567890@c.us_A".into(), chat, body)
    }

    fn route_of(ev: &Inbound) -> Route {
        route(ev, &bot(), &ChatState::default(), Facts::default())
    }

    #[test]
    fn the_bots_own_echo_is_ignored() {
        let mut ev = text("Harga paket Rp 25.000.000");
        ev.from_me = true;
        ev.sent_by_api = true;
        assert_eq!(route_of(&ev), Route::Ignore("own echo"));
        ev.sent_by_api = false;
        assert_eq!(
            route(&ev, &bot(), &ChatState::default(), Facts { own_echo: true, ..Facts::default() }),
            Route::Ignore("own echo")
        );
    }

    #[test]
    fn a_known_command_goes_to_the_command_path() {
        let command = Facts { command: true, ..Facts::default() };
        assert_eq!(route(&text("#crm leads"), &bot(), &ChatState::default(), command), Route::Command);
    }

    #[test]
    fn a_command_typed_on_the_business_phone_needs_owner_from_me() {
        let command = Facts { command: true, ..Facts::default() };
        let mut ev = text("#crm leads");
        ev.from_me = true;
        assert_eq!(route(&ev, &bot(), &ChatState::default(), command), Route::HumanOnPhone);
        let mut bot = bot();
        bot.owner_from_me = true;
        assert_eq!(route(&ev, &bot, &ChatState::default(), command), Route::Command);
        ev.sent_by_api = true;
        assert_eq!(route(&ev, &bot, &ChatState::default(), command), Route::Ignore("own echo"), "never its own echo");
    }

    #[test]
    fn stop_or_berhenti_opts_out_and_is_not_a_sales_turn() {
        assert_eq!(route_of(&text("STOP")), Route::OptOut);
        assert_eq!(route_of(&text("berhenti.")), Route::OptOut);
        assert_eq!(route_of(&text("stop dulu ya, saya tanya lagi nanti")), Route::Conversation);
    }

    #[test]
    fn group_chats_never_reach_the_conversation() {
        let mut ev = text("Min, ada diskon?");
        ev.chat = ChatId::Group("120363041234567890@g.us".into());
        assert_eq!(route_of(&ev), Route::Ignore("group chat"));
    }

    #[test]
    fn ignored_chats_are_never_answered() {
        let mut bot = bot();
        bot.ignore_chats.insert("6281234567890".into());
        assert_eq!(route(&text("halo"), &bot, &ChatState::default(), Facts::default()), Route::Ignore("ignored chat"));
        assert_eq!(route(&text("STOP"), &bot, &ChatState::default(), Facts::default()), Route::Ignore("ignored chat"));
    }

    #[test]
    fn a_handed_over_prospect_can_still_opt_out() {
        let chat = ChatState { handed_over: true, ..ChatState::default() };
        assert_eq!(route(&text("BERHENTI"), &bot(), &chat, Facts::default()), Route::OptOut);
    }

    #[test]
    fn a_handed_over_chat_is_left_to_the_human() {
        let chat = ChatState { handed_over: true, ..ChatState::default() };
        assert_eq!(route(&text("halo"), &bot(), &chat, Facts::default()), Route::Ignore("handed over"));
    }
}
