//! Chooses what happens to one inbound message: a pure function over typed
//! data, one row per rule. `#` commands and the sales conversation plug in here.

use std::collections::HashSet;

use crate::crm::nurture::is_opt_out;

use crate::channel::{ChatId, Content, Inbound, OutBody, Outgoing, ReplyMeta};
use crate::config::{Config, Language};
pub use crate::sales::brain::Intent;
pub use crate::sales::brain::llm::HistoryLine;
pub use crate::sales::lead::LeadRecord;
pub use crate::sales::state::{IntentTally, PendingTurn, Tally};
pub use crate::sales::{ChatState, Phase, Sales, TurnRecord};
use crate::texts;

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
    /// Texts arriving within this window are answered as one turn (0: each at once).
    pub coalesce_ms: u64,
    pub language: Language,
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
            language: config.sales.default_language,
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
            Route::Conversation => "conversation",
        }
    }
}

pub fn route(ev: &Inbound, bot: &BotSettings, chat: &ChatState, facts: Facts) -> Route {
    match ev {
        _ if ev.from_me && (facts.own_echo || ev.sent_by_api) => Route::Ignore("own echo"),
        // On the business phone a command is the owner's only if so configured;
        // otherwise it is a person typing there, never a prospect-visible refusal.
        _ if facts.command && (!ev.from_me || bot.owner_from_me) => Route::Command,
        _ if ev.from_me => Route::HumanOnPhone,
        _ if ev.chat.is_group() => Route::Ignore("group chat"),
        _ if bot.ignore_chats.contains(&ev.chat.key()) => Route::Ignore("ignored chat"),
        // Before the handover/pause rules: opting out of follow-ups always works.
        _ if ev.text().is_some_and(is_opt_out) => Route::OptOut,
        _ if bot.is_finish(ev.text()) => Route::Finish,
        _ if chat.bot_disabled => Route::Ignore("bot switched off for this chat"),
        _ if chat.handed_over => Route::Ignore("handed over"),
        _ if chat.paused_until_ms.is_some_and(|until| until > facts.now_ms) => {
            Route::Ignore("paused: a human is answering")
        }
        _ if matches!(ev.content, Content::Reaction { .. }) => Route::Ignore("reaction"),
        _ => Route::Conversation,
    }
}

/// What the runtime commits for one routed message.
#[derive(Debug, Clone)]
pub struct Reply {
    /// To the sender's chat, in order.
    pub outgoing: Vec<Outgoing>,
    /// To the admin chats (handover alerts).
    pub alerts: Vec<Outgoing>,
    pub state: ChatState,
    pub turn: Option<TurnRecord>,
    /// A burst is being collected: answer it at this time unless more arrives.
    pub due_ms: Option<u64>,
    pub lead: Option<LeadRecord>,
}

/// The effects of a route. The conversation path is the sales bot (or, with
/// `[sales] enabled = false`, a short acknowledgement).
pub async fn respond(
    route: Route,
    ev: &Inbound,
    bot: &BotSettings,
    sales: &Sales,
    chat: &ChatState,
    history: &[HistoryLine],
    now_ms: u64,
) -> Reply {
    let mut reply =
        Reply { outgoing: Vec::new(), alerts: Vec::new(), state: chat.clone(), turn: None, due_ms: None, lead: None };
    match route {
        Route::Conversation => {
            reply.state.playground |= ev.chat.is_playground();
            reply.state.inbound_count += 1;
            reply.state.last_inbound_ms = now_ms;
            if bot.sales && bot.coalesce_ms > 0 && matches!(ev.content, Content::Text { .. }) {
                // Collect the burst; the prospect sees we are reading and typing.
                // The window opens with the burst's first message and does not
                // slide, so a chatty prospect still gets an answer within it.
                let mut pending = match reply.state.pending.take() {
                    Some(open) => open,
                    None => {
                        reply.due_ms = Some(now_ms + bot.coalesce_ms);
                        PendingTurn {
                            token: reply.state.inbound_count,
                            texts: Vec::new(),
                            last: Box::new(ev.clone()),
                            opened_ms: now_ms,
                        }
                    }
                };
                pending.texts.extend(ev.text().map(str::to_string));
                pending.last = Box::new(ev.clone());
                reply.state.pending = Some(pending);
                let typing = Outgoing {
                    to: ev.chat.clone(),
                    body: OutBody::Text { text: String::new() },
                    reply_to: None,
                    meta: ReplyMeta::default(),
                };
                reply.outgoing = before_reply(ev, bot, std::slice::from_ref(&typing));
            } else if bot.sales {
                let turn = sales.turn(ev, &reply.state, history).await;
                reply.outgoing = before_reply(ev, bot, &turn.replies);
                reply.outgoing.extend(turn.replies);
                reply.alerts = turn.alerts;
                reply.state = turn.state;
                reply.turn = Some(turn.record);
                reply.lead = turn.lead;
                count_turn(&mut reply, now_ms);
            } else if bot.acknowledge && matches!(ev.content, Content::Text { .. }) {
                let text = texts::acknowledgement(bot.language, ev.sender_name.as_deref());
                // Quoting the message keeps a burst's answers readable.
                let ack = Outgoing {
                    to: ev.chat.clone(),
                    body: OutBody::Text { text },
                    reply_to: Some(ev.id.clone()),
                    meta: ReplyMeta::default(),
                };
                reply.outgoing = before_reply(ev, bot, std::slice::from_ref(&ack));
                reply.outgoing.push(ack);
            }
        }
        Route::HumanOnPhone => {
            reply.state.last_human_reply_ms = Some(now_ms);
            // The chat's own setting (set by an admin) wins over `[sales]`.
            if chat.stop_bot_from_me.unwrap_or(bot.stop_bot_from_me) {
                reply.state.paused_until_ms = Some(now_ms + bot.pause_ms);
            }
        }
        Route::Finish => {
            // A new session: the next message starts from a fresh state.
            reply.state = ChatState {
                lang: chat.lang,
                playground: chat.playground,
                tally: chat.tally.clone(),
                ..ChatState::default()
            };
            let text = texts::session_finished(chat.lang.unwrap_or(bot.language));
            reply.outgoing.push(Outgoing {
                to: ev.chat.clone(),
                body: OutBody::Text { text },
                reply_to: None,
                meta: ReplyMeta::default(),
            });
        }
        Route::OptOut => {
            let text = texts::opted_out(chat.lang.unwrap_or(bot.language));
            reply.outgoing.push(Outgoing {
                to: ev.chat.clone(),
                body: OutBody::Text { text },
                reply_to: None,
                meta: ReplyMeta::default(),
            });
        }
        Route::Command | Route::Ignore(_) => {}
    }
    reply
}

/// A burst's quiet window ended: answer all its texts as one turn. `None`
/// when the burst is stale (a later message restarted the window) or the
/// chat is no longer the bot's (handed over, paused).
pub async fn respond_to_burst(
    token: u64,
    bot: &BotSettings,
    sales: &Sales,
    chat: &ChatState,
    history: &[HistoryLine],
    now_ms: u64,
) -> Option<Reply> {
    let pending = chat.pending.as_ref().filter(|p| p.token == token)?;
    let mut state = chat.clone();
    state.pending = None;
    let mut reply = Reply { outgoing: Vec::new(), alerts: Vec::new(), state, turn: None, due_ms: None, lead: None };
    if chat.handed_over || chat.paused_until_ms.is_some_and(|until| until > now_ms) || !bot.sales {
        return Some(reply);
    }
    let mut burst = (*pending.last).clone();
    burst.content = Content::Text { body: pending.texts.join("\n") };
    let turn = sales.turn(&burst, &reply.state, history).await;
    reply.outgoing = turn.replies;
    reply.alerts = turn.alerts;
    reply.state = turn.state;
    reply.turn = Some(turn.record);
    reply.lead = turn.lead;
    count_turn(&mut reply, if pending.opened_ms > 0 { pending.opened_ms } else { now_ms });
    Some(reply)
}

/// Counts a sales turn for analytics. A playground chat's turn is a test:
/// it alerts no admin and makes no lead.
fn count_turn(reply: &mut Reply, started_ms: u64) {
    if let Some(turn) = &reply.turn {
        reply.state.tally.turn(turn, crate::clock::now_ms().saturating_sub(started_ms));
    }
    if reply.state.playground {
        reply.alerts.clear();
        reply.lead = None;
    }
}

/// Read receipt and typing indicator ahead of a reply, each switchable in `[bot]`.
fn before_reply(ev: &Inbound, bot: &BotSettings, replies: &[Outgoing]) -> Vec<Outgoing> {
    let Some(first) = replies.first() else { return Vec::new() };
    let marker = |body| Outgoing { to: ev.chat.clone(), body, reply_to: None, meta: first.meta.clone() };
    let mut items = Vec::new();
    if bot.send_seen {
        items.push(marker(OutBody::Seen { message_id: ev.id.clone() }));
    }
    if bot.send_typing {
        items.push(marker(OutBody::Typing { message_id: ev.id.clone() }));
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{Channel, ChatId, Phone};

    fn sales() -> Sales {
        Sales::from_config(&Config::default())
    }

    fn bot() -> BotSettings {
        let mut bot = BotSettings::from_config(&Config::default());
        bot.coalesce_ms = 0;
        bot
    }

    fn text(body: &str) -> Inbound {
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

    #[tokio::test]
    async fn a_human_typing_on_the_business_phone_is_not_answered() {
        let mut ev = text("saya bantu ya kak");
        ev.from_me = true;
        assert_eq!(route_of(&ev), Route::HumanOnPhone);
        assert!(
            respond(Route::HumanOnPhone, &ev, &bot(), &sales(), &ChatState::default(), &[], 1)
                .await
                .outgoing
                .is_empty()
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

    #[tokio::test]
    async fn a_human_reply_pauses_the_bot_until_the_pause_expires() {
        let mut ev = text("saya bantu ya kak");
        ev.from_me = true;
        let paused = respond(Route::HumanOnPhone, &ev, &bot(), &sales(), &ChatState::default(), &[], 1_000).await.state;
        let until = paused.paused_until_ms.unwrap();
        assert_eq!(
            route(&text("halo"), &bot(), &paused, Facts { now_ms: until - 1, ..Facts::default() }),
            Route::Ignore("paused: a human is answering")
        );
        assert_eq!(
            route(&text("halo"), &bot(), &paused, Facts { now_ms: until, ..Facts::default() }),
            Route::Conversation
        );
    }

    #[tokio::test]
    async fn the_finish_keyword_starts_a_fresh_session() {
        assert_eq!(route_of(&text("#selesai")), Route::Finish);
        let chat = ChatState { phase: crate::sales::Phase::Booking, handed_over: true, ..ChatState::default() };
        let reply = respond(Route::Finish, &text("#selesai"), &bot(), &sales(), &chat, &[], 1).await;
        assert_eq!(reply.state.phase, crate::sales::Phase::Leads);
        assert!(!reply.state.handed_over);
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

    #[tokio::test]
    async fn a_text_gets_seen_typing_then_the_sales_answer() {
        let ev = text("halo");
        let reply = respond(Route::Conversation, &ev, &bot(), &sales(), &ChatState::default(), &[], 5).await;
        let kinds: Vec<_> = reply.outgoing.iter().map(|o| o.body.kind()).collect();
        assert_eq!(kinds, ["seen", "typing", "text"]);
        assert_eq!(reply.state.inbound_count, 1);
        assert!(reply.turn.is_some());
    }

    #[tokio::test]
    async fn a_burst_is_answered_once_with_all_its_texts() {
        let mut bot = bot();
        bot.coalesce_ms = 1500;
        let first =
            respond(Route::Conversation, &text("halo kak"), &bot, &sales(), &ChatState::default(), &[], 1_000).await;
        assert_eq!(first.due_ms, Some(2_500));
        assert!(first.outgoing.iter().all(|o| o.body.is_marker()), "only seen/typing while collecting");
        let second =
            respond(Route::Conversation, &text("UMR_JAN_2027_PLUS"), &bot, &sales(), &first.state, &[], 2_000).await;
        assert_eq!(second.due_ms, None, "the window does not slide");
        let token = second.state.pending.as_ref().unwrap().token;
        assert!(respond_to_burst(token + 1, &bot, &sales(), &second.state, &[], 3_500).await.is_none(), "stale token");
        let answer = respond_to_burst(token, &bot, &sales(), &second.state, &[], 3_500).await.unwrap();
        let texts: Vec<_> = answer.outgoing.iter().filter(|o| o.body.kind() == "text").collect();
        assert_eq!(texts.len(), 1, "one answer for the burst");
        assert_eq!(answer.outgoing.iter().filter(|o| o.body.kind() == "image").count(), 1);
        assert!(answer.state.pending.is_none());
    }

    #[tokio::test]
    async fn without_the_sales_bot_text_is_acknowledged_with_a_quote() {
        let mut bot = bot();
        bot.sales = false;
        let reply = respond(Route::Conversation, &text("halo"), &bot, &sales(), &ChatState::default(), &[], 5).await;
        assert_eq!(reply.outgoing.last().unwrap().reply_to.as_deref(), Some("false_6281234567890@c.us_A"));
    }

    #[tokio::test]
    async fn seen_and_typing_can_be_switched_off() {
        let mut bot = bot();
        bot.send_seen = false;
        bot.send_typing = false;
        let reply = respond(Route::Conversation, &text("halo"), &bot, &sales(), &ChatState::default(), &[], 5).await;
        assert_eq!(reply.outgoing.len(), 1);
    }
}
