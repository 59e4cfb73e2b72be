//! An operator's action on a chat (release, handover, per-chat settings, the
//! playground's reset): a change of the chat's state, audited.

use super::Effects;
use crate::channel::{Control, ControlAction};
use crate::config::Language;
use crate::sales::ChatState;
use crate::texts;

/// Who releases a chat whose handover waited past `[sales] handover_timeout_secs`.
pub const HANDOVER_TIMEOUT: &str = "handover timeout";

/// `lang`: the prospect's language when the chat has none of its own yet.
pub fn apply(control: &Control, mut state: ChatState, lang: Language) -> Effects {
    let mut sends = Vec::new();
    match &control.action {
        ControlAction::Release => {
            // Nobody took the chat: the prospect is told the bot answers again.
            if control.by == HANDOVER_TIMEOUT && state.handed_over {
                sends.push(Effects::text(&control.chat, texts::handover_timed_out(state.lang.unwrap_or(lang))));
            }
            state.handed_over = false;
            state.handover_reason = None;
            state.paused_until_ms = None;
        }
        // Bursts reach the router as `Input::Burst`, never here.
        ControlAction::Turn { .. } => return Effects::default(),
        ControlAction::Reset => {
            state = ChatState {
                playground: state.playground,
                tally: std::mem::take(&mut state.tally),
                ..ChatState::default()
            };
        }
        ControlAction::Settings { bot_enabled, stop_bot_from_me } => {
            if let Some(enabled) = bot_enabled {
                state.bot_disabled = !enabled;
            }
            if stop_bot_from_me.is_some() {
                state.stop_bot_from_me = *stop_bot_from_me;
            }
        }
        ControlAction::Handover { assigned_to, .. } => {
            state.handed_over = true;
            state.handover_reason =
                Some(format!("admin handover to {}", assigned_to.as_deref().unwrap_or(&control.by)));
        }
    }
    Effects { state: Some(state), sends, ..Effects::noted(control_name(&control.action)) }
}

fn control_name(action: &ControlAction) -> &'static str {
    match action {
        ControlAction::Release => "release",
        ControlAction::Handover { .. } => "handover",
        ControlAction::Settings { .. } => "settings",
        ControlAction::Turn { .. } => "turn",
        ControlAction::Reset => "reset",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{ChatId, Phone};

    fn control(action: ControlAction) -> Control {
        let chat = ChatId::Phone(Phone::parse("6281234567890").unwrap());
        Control { id: "c1".into(), chat, by: "admin".into(), action }
    }

    #[test]
    fn a_release_gives_the_chat_back_to_the_bot() {
        let held = ChatState { handed_over: true, handover_reason: Some("payment".into()), ..ChatState::default() };
        let effects = apply(&control(ControlAction::Release), held, Language::Id);
        let state = effects.state.unwrap();
        assert!(!state.handed_over && state.handover_reason.is_none());
        assert!(effects.sends.is_empty(), "a release sends nothing");
    }

    #[test]
    fn a_timed_out_handover_tells_the_prospect_in_their_language() {
        let held = ChatState { handed_over: true, lang: Some(Language::En), ..ChatState::default() };
        let timeout = Control { by: HANDOVER_TIMEOUT.into(), ..control(ControlAction::Release) };
        let effects = apply(&timeout, held.clone(), Language::Id);
        assert!(!effects.state.as_ref().unwrap().handed_over);
        assert_eq!(effects.texts(), [texts::handover_timed_out(Language::En)]);
        let released = ChatState { handed_over: false, ..held };
        assert!(apply(&timeout, released, Language::Id).sends.is_empty(), "an admin released it first");
    }

    #[test]
    fn a_handover_names_who_took_the_chat() {
        let action = ControlAction::Handover { assigned_to: Some("Sari".into()), notes: None };
        let state = apply(&control(action), ChatState::default(), Language::Id).state.unwrap();
        assert!(state.handed_over);
        assert_eq!(state.handover_reason.as_deref(), Some("admin handover to Sari"));
    }

    #[test]
    fn a_reset_keeps_the_analytics_tally() {
        let mut before = ChatState { inbound_count: 7, playground: true, ..ChatState::default() };
        before.tally.replies = 3;
        let state = apply(&control(ControlAction::Reset), before, Language::Id).state.unwrap();
        assert_eq!((state.inbound_count, state.tally.replies, state.playground), (0, 3, true));
    }
}
