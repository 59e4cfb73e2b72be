//! One event in its lane: read what the router needs (the chat's state, the
//! facts of an echo), let the router choose and produce [`Effects`], commit them.

use super::commit::{Next, Source, commit};
use super::delivery;
use super::inbox::InboxItem;
use super::{RuntimeError, Shared, now_ms};
use crate::channel::{Channel, ChatId, Control, ControlAction, Event, Inbound};
use crate::router::{ChatState, Directory, Facts, HistoryLine, Input, Lookup};
use crate::store::{Store, StoreError, TreeName};

pub(super) async fn handle(shared: &Shared, next: &Next<'_>, item: InboxItem) -> Result<(), RuntimeError> {
    let (seq, now) = (item.seq, now_ms());
    let env = Env { shared };
    let router = &shared.router;
    match item.event {
        Event::Message(inbound) => {
            let mut ev = *inbound;
            shared.identity.resolve_sender(&mut ev).await;
            let state = chat_state(&shared.store, &ev.chat.key())?.unwrap_or_default();
            let facts = Facts { own_echo: own_echo(shared, &ev, now)?, ..Facts::default() };
            let effects = router.handle(Input::Message { ev: &ev, state: &state, facts }, &env, now).await?;
            tracing::debug!(chat = %ev.chat.key(), route = effects.audit.route.as_deref(), replies = effects.sends.len(), "message routed");
            commit(shared, next, Source::Message { seq, ev: &ev }, ev.channel, effects, now).await
        }
        Event::Control(Control { chat, action: ControlAction::Turn { token }, .. }) => {
            let state = chat_state(&shared.store, &chat.key())?;
            let channel = state.as_ref().and_then(|s| s.pending.as_ref()).map_or(Channel::Console, |p| p.last.channel);
            let effects = router.handle(Input::Burst { token, state: state.as_ref() }, &env, now).await?;
            commit(shared, next, Source::Burst { seq, chat: &chat, token }, channel, effects, now).await
        }
        Event::Control(control) => {
            // Read outside the commit: this chat's events are handled one at a time.
            let state = chat_state(&shared.store, &control.chat.key())?.unwrap_or_default();
            let effects = router.handle(Input::Control { control: &control, state: &state }, &env, now).await?;
            // What a control sends (a handover timeout's message) goes out on the first gateway.
            let channel = shared.gateways.configured().next().unwrap_or(Channel::Console);
            commit(shared, next, Source::Control { seq, control: &control }, channel, effects, now).await
        }
        Event::Label(change) => {
            let effects = router.handle(Input::Label(&change), &env, now).await?;
            commit(shared, next, Source::Label { seq, change: &change }, Channel::Waha, effects, now).await
        }
        Event::Delivery(update) => {
            let effects = router.handle(Input::Delivery(&update), &env, now).await?;
            commit(shared, next, Source::Delivery { seq }, update.channel, effects, now).await
        }
        Event::Ignored(_) => Ok(()),
    }
}

/// A chat's sales state, as last committed.
pub fn chat_state(store: &Store, chat_key: &str) -> Result<Option<ChatState>, StoreError> {
    store.read(TreeName::Conversations).get_as(chat_key)
}

/// The gateway's copy of something the bot sent: by its id, or by its text
/// when the gateway re-emits it under a new id.
fn own_echo(shared: &Shared, ev: &Inbound, now: u64) -> Result<bool, RuntimeError> {
    Ok(ev.from_me
        && (delivery::is_ours(&shared.store, ev.channel, &ev.id)?
            || ev.text().is_some_and(|t| shared.echoes.contains(&ev.chat.key(), t, now))))
}

/// What the router may read: the audit trail and the gateways' directory.
struct Env<'a> {
    shared: &'a Shared,
}

impl Lookup for Env<'_> {
    fn history(&self, chat_key: &str, n: usize) -> Vec<HistoryLine> {
        super::audit::recent_history(&self.shared.store, chat_key, n).unwrap_or_else(|e| {
            tracing::warn!(chat = chat_key, error = %e, "reading the conversation history failed; answering without it");
            Vec::new()
        })
    }
}

impl Directory for Env<'_> {
    async fn is_group_admin(&self, group: &ChatId, member: &ChatId) -> Option<bool> {
        self.shared.identity.is_group_admin(group, member).await
    }
}
