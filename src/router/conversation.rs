//! The routes that answer a person in their chat: the sales conversation
//! (with coalescing of bursts), the finish keyword, opt-out, a human on the
//! business phone. Each returns the [`Effects`] of one message or burst.

use super::effects::{Burst, Effects, Markers};
use super::{BotSettings, Route};
use crate::channel::{Content, Inbound};
use crate::crm::seats::SeatView;
use crate::sales::brain::llm::HistoryLine;
use crate::sales::state::PendingTurn;
use crate::sales::{ChatState, Sales};
use crate::texts;

/// What a sales turn reads besides the chat's state: the recent
/// conversation (for the LLM) and the packages' seats in use.
pub struct Reads<'a> {
    pub history: &'a [HistoryLine],
    pub seats: &'a SeatView,
}

impl Default for Reads<'_> {
    /// No history, nothing held or taken.
    fn default() -> Self {
        static NONE: std::sync::LazyLock<SeatView> = std::sync::LazyLock::new(SeatView::default);
        Reads { history: &[], seats: &NONE }
    }
}

/// The effects of a route on one message. The conversation path is the
/// sales bot (or, with `[sales] enabled = false`, a short acknowledgement).
pub async fn respond(
    route: Route,
    ev: &Inbound,
    bot: &BotSettings,
    sales: &Sales,
    chat: &ChatState,
    reads: &Reads<'_>,
    now_ms: u64,
) -> Effects {
    let mut state = chat.clone();
    let mut effects = match route {
        Route::Conversation => {
            state.playground |= ev.chat.is_playground();
            state.inbound_count += 1;
            state.last_inbound_ms = now_ms;
            if chat.pending.is_none() {
                // Measured at a burst's first message: how long the prospect was away.
                state.idle_before_ms =
                    if chat.last_inbound_ms > 0 { now_ms.saturating_sub(chat.last_inbound_ms) } else { 0 };
            }
            if matches!(ev.content, Content::Other { .. }) {
                could_not_read(ev, bot, chat, state, now_ms)
            } else if bot.sales && bot.coalesce_ms > 0 && matches!(ev.content, Content::Text { .. }) {
                collect(ev, bot, state, now_ms)
            } else if bot.sales {
                let mut effects = sales.turn(ev, &state, reads.history, reads.seats).await;
                count_turn(&mut effects, ev, now_ms);
                effects.markers = markers(ev, bot);
                effects
            } else if bot.acknowledge && matches!(ev.content, Content::Text { .. }) {
                let mut ack = Effects::text(
                    &ev.chat,
                    texts::acknowledgement(chat.lang.unwrap_or(bot.prospect_language), ev.sender_name.as_deref()),
                );
                // Quoting the message keeps a burst's answers readable.
                ack.out.reply_to = Some(ev.id.clone());
                Effects { sends: vec![ack], markers: markers(ev, bot), state: Some(state), ..Effects::default() }
            } else {
                Effects { state: Some(state), ..Effects::default() }
            }
        }
        Route::HumanOnPhone => {
            state.last_human_reply_ms = Some(now_ms);
            // The chat's own setting (set by an admin) wins over `[sales]`.
            if chat.stop_bot_from_me.unwrap_or(bot.stop_bot_from_me) {
                state.paused_until_ms = Some(now_ms + bot.pause_ms);
            }
            Effects { state: Some(state), ..Effects::default() }
        }
        Route::Finish => {
            // A new session: the next message starts from a fresh state.
            let fresh = ChatState {
                lang: chat.lang,
                playground: chat.playground,
                tally: chat.tally.clone(),
                ..ChatState::default()
            };
            let text = texts::session_finished(chat.lang.unwrap_or(bot.prospect_language));
            Effects { sends: vec![Effects::text(&ev.chat, text)], state: Some(fresh), ..Effects::default() }
        }
        Route::OptOut => {
            let text = texts::opted_out(chat.lang.unwrap_or(bot.prospect_language));
            Effects { sends: vec![Effects::text(&ev.chat, text)], state: Some(state), ..Effects::default() }
        }
        // Nothing changes: not even the state is written again.
        Route::Command | Route::Team | Route::Ignore(_) | Route::IdentityChange => Effects::default(),
    };
    effects.audit.route = Some(route.name().to_string());
    effects
}

/// A kind of message juru cannot read (unsupported, an empty interactive):
/// a short "we could not read that" in the chat's language, once per burst,
/// never a reply as if it had been understood.
fn could_not_read(ev: &Inbound, bot: &BotSettings, before: &ChatState, state: ChatState, now_ms: u64) -> Effects {
    let in_burst = before.pending.is_some()
        || (before.last_inbound_ms > 0 && now_ms.saturating_sub(before.last_inbound_ms) < bot.coalesce_ms);
    if in_burst {
        return Effects { state: Some(state), ..Effects::default() };
    }
    let text = texts::could_not_read(before.lang.unwrap_or(bot.prospect_language));
    Effects {
        sends: vec![Effects::text(&ev.chat, text)],
        markers: markers(ev, bot),
        state: Some(state),
        ..Effects::default()
    }
}

/// Collects a burst: the prospect sees we are reading and typing; the
/// answer comes when the prospect has been quiet for `coalesce_ms`. Each
/// message restarts that window (a new token: the earlier timer finds it
/// stale), but never beyond `coalesce_max_ms` after the burst's first
/// message, so a chatty prospect still gets an answer.
fn collect(ev: &Inbound, bot: &BotSettings, mut state: ChatState, now_ms: u64) -> Effects {
    let token = state.inbound_count;
    let mut pending = state.pending.take().unwrap_or_else(|| PendingTurn {
        token,
        texts: Vec::new(),
        last: Box::new(ev.clone()),
        opened_ms: now_ms,
    });
    let opened = if pending.opened_ms > 0 { pending.opened_ms } else { now_ms };
    let due_ms = (now_ms + bot.coalesce_ms).min(opened + bot.coalesce_max_ms.max(bot.coalesce_ms));
    pending.token = token;
    let burst = Some(Burst::Open { token, due_ms });
    pending.texts.extend(ev.text().map(str::to_string));
    pending.last = Box::new(ev.clone());
    state.pending = Some(pending);
    Effects { markers: markers(ev, bot), state: Some(state), burst, ..Effects::default() }
}

/// A burst's quiet window ended: answer all its texts as one turn. Nothing
/// when the burst is stale (a later message restarted the window); only the
/// window's end when the chat is no longer the bot's (handed over, paused).
pub async fn respond_to_burst(
    token: u64,
    bot: &BotSettings,
    sales: &Sales,
    chat: &ChatState,
    reads: &Reads<'_>,
    now_ms: u64,
) -> Effects {
    let Some(pending) = chat.pending.as_ref().filter(|p| p.token == token) else {
        return Effects::default();
    };
    let mut state = chat.clone();
    state.pending = None;
    let mut effects = if chat.handed_over || chat.paused_until_ms.is_some_and(|until| until > now_ms) || !bot.sales {
        Effects { state: Some(state), ..Effects::default() }
    } else {
        let mut burst = (*pending.last).clone();
        burst.content = Content::Text { body: pending.texts.join("\n") };
        let mut effects = sales.turn(&burst, &state, reads.history, reads.seats).await;
        count_turn(&mut effects, &burst, if pending.opened_ms > 0 { pending.opened_ms } else { now_ms });
        effects
    };
    effects.burst = Some(Burst::Closed);
    effects
}

/// Counts a sales turn for analytics. A playground chat's turn is a test:
/// it alerts no admin and makes no lead.
fn count_turn(effects: &mut Effects, ev: &Inbound, started_ms: u64) {
    if let (Some(turn), Some(state)) = (&effects.audit.turn, effects.state.as_mut()) {
        state.tally.turn(turn, crate::clock::now_ms().saturating_sub(started_ms));
    }
    if effects.state.as_ref().is_some_and(|s| s.playground) {
        effects.sends.retain(|s| s.out.to == ev.chat);
        effects.lead = None;
    }
}

/// Read receipt and typing indicator ahead of a reply, each switchable in `[bot]`.
fn markers(ev: &Inbound, bot: &BotSettings) -> Option<Markers> {
    (bot.send_seen || bot.send_typing).then(|| Markers {
        chat: ev.chat.clone(),
        message_id: ev.id.clone(),
        seen: bot.send_seen,
        typing: bot.send_typing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::router::tests::{bot, text};
    use crate::router::{Facts, route};

    fn sales() -> Sales {
        Sales::from_config(&Config::default())
    }

    fn kinds(effects: &Effects) -> Vec<&'static str> {
        effects.outgoing().map(|o| o.body.kind()).collect()
    }

    #[tokio::test]
    async fn a_human_typing_on_the_business_phone_is_not_answered() {
        let mut ev = text("saya bantu ya kak");
        ev.from_me = true;
        let effects =
            respond(Route::HumanOnPhone, &ev, &bot(), &sales(), &ChatState::default(), &Reads::default(), 1).await;
        assert!(effects.sends.is_empty() && effects.markers.is_none());
    }

    #[tokio::test]
    async fn a_human_reply_pauses_the_bot_until_the_pause_expires() {
        let mut ev = text("saya bantu ya kak");
        ev.from_me = true;
        let paused =
            respond(Route::HumanOnPhone, &ev, &bot(), &sales(), &ChatState::default(), &Reads::default(), 1_000)
                .await
                .state
                .unwrap();
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
        let chat = ChatState { phase: crate::sales::Phase::Booking, handed_over: true, ..ChatState::default() };
        let effects = respond(Route::Finish, &text("#selesai"), &bot(), &sales(), &chat, &Reads::default(), 1).await;
        let state = effects.state.unwrap();
        assert_eq!(state.phase, crate::sales::Phase::Leads);
        assert!(!state.handed_over);
    }

    #[tokio::test]
    async fn a_text_gets_seen_typing_then_the_sales_answer() {
        let ev = text("halo");
        let effects =
            respond(Route::Conversation, &ev, &bot(), &sales(), &ChatState::default(), &Reads::default(), 5).await;
        let markers = effects.markers.as_ref().unwrap();
        assert!(markers.seen && markers.typing && markers.message_id == ev.id);
        assert_eq!(kinds(&effects), ["text"]);
        assert_eq!(effects.state.as_ref().unwrap().inbound_count, 1);
        assert!(effects.audit.turn.is_some());
        assert_eq!(effects.audit.route.as_deref(), Some("conversation"));
    }

    #[tokio::test]
    async fn a_burst_is_answered_once_with_all_its_texts() {
        let mut bot = bot();
        bot.coalesce_ms = 1500;
        let first = respond(
            Route::Conversation,
            &text("halo kak"),
            &bot,
            &sales(),
            &ChatState::default(),
            &Reads::default(),
            1_000,
        )
        .await;
        assert!(matches!(first.burst, Some(Burst::Open { due_ms: 2_500, .. })));
        assert!(first.sends.is_empty() && first.markers.is_some(), "only seen/typing while collecting");
        let first_state = first.state.unwrap();
        let second =
            respond(Route::Conversation, &text("yang plus"), &bot, &sales(), &first_state, &Reads::default(), 2_000)
                .await;
        assert!(matches!(second.burst, Some(Burst::Open { due_ms: 3_500, .. })), "the quiet window restarts");
        let state = second.state.unwrap();
        let token = state.pending.as_ref().unwrap().token;
        let stale = respond_to_burst(token - 1, &bot, &sales(), &state, &Reads::default(), 3_500).await;
        assert!(stale.state.is_none() && stale.sends.is_empty() && stale.burst.is_none(), "stale token");
        let answer = respond_to_burst(token, &bot, &sales(), &state, &Reads::default(), 3_500).await;
        assert_eq!(answer.texts().len(), 1, "one answer for the burst");
        assert_eq!(kinds(&answer).iter().filter(|k| **k == "image").count(), 1);
        assert!(answer.state.unwrap().pending.is_none());
        assert_eq!(answer.burst, Some(Burst::Closed));
    }

    #[tokio::test]
    async fn a_long_burst_is_answered_by_the_maximum_wait() {
        let mut bot = bot();
        bot.coalesce_ms = 1500;
        bot.coalesce_max_ms = 4000;
        let mut state = ChatState::default();
        let mut due = Vec::new();
        for at in (0..8).map(|i| 1_000 + i * 700) {
            let effects =
                respond(Route::Conversation, &text("dan"), &bot, &sales(), &state, &Reads::default(), at).await;
            if let Some(Burst::Open { due_ms, .. }) = effects.burst {
                due.push(due_ms);
            }
            state = effects.state.unwrap();
        }
        assert_eq!(due.first(), Some(&2_500));
        assert_eq!(due.last(), Some(&5_000), "bounded: first message + coalesce_max_ms");
        assert_eq!(state.pending.as_ref().unwrap().texts.len(), 8);
    }

    #[tokio::test]
    async fn a_burst_of_a_chat_handed_over_meanwhile_gets_no_answer() {
        let mut bot = bot();
        bot.coalesce_ms = 1500;
        let open = respond(
            Route::Conversation,
            &text("halo"),
            &bot,
            &sales(),
            &ChatState::default(),
            &Reads::default(),
            1_000,
        )
        .await;
        let mut state = open.state.unwrap();
        state.handed_over = true;
        let token = state.pending.as_ref().unwrap().token;
        let effects = respond_to_burst(token, &bot, &sales(), &state, &Reads::default(), 3_000).await;
        assert!(effects.sends.is_empty());
        assert_eq!(effects.burst, Some(Burst::Closed), "the window is forgotten");
    }

    #[tokio::test]
    async fn without_the_sales_bot_text_is_acknowledged_with_a_quote() {
        let mut bot = bot();
        bot.sales = false;
        let effects =
            respond(Route::Conversation, &text("halo"), &bot, &sales(), &ChatState::default(), &Reads::default(), 5)
                .await;
        assert_eq!(effects.sends.last().unwrap().out.reply_to.as_deref(), Some("false_6281234567890@c.us_A"));
    }

    #[tokio::test]
    async fn seen_and_typing_can_be_switched_off() {
        let mut bot = bot();
        bot.send_seen = false;
        bot.send_typing = false;
        let effects =
            respond(Route::Conversation, &text("halo"), &bot, &sales(), &ChatState::default(), &Reads::default(), 5)
                .await;
        assert!(effects.markers.is_none());
        assert_eq!(effects.sends.len(), 1);
    }

    #[tokio::test]
    async fn an_ignored_message_changes_nothing() {
        let effects = respond(
            Route::Ignore("group chat"),
            &text("halo"),
            &bot(),
            &sales(),
            &ChatState::default(),
            &Reads::default(),
            5,
        )
        .await;
        assert!(effects.state.is_none() && effects.sends.is_empty() && effects.markers.is_none());
        assert_eq!(effects.audit.route.as_deref(), Some("group chat"));
    }
}
