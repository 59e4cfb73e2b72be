//! An operator's action on a chat (release, handover, per-chat settings, the
//! playground's reset): a change of the chat's state, audited.

use super::Effects;
use crate::channel::{Control, ControlAction};
use crate::sales::ChatState;

pub fn apply(control: &Control, mut state: ChatState) -> Effects {
    match &control.action {
        ControlAction::Release => {
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
    Effects { state: Some(state), ..Effects::noted(control_name(&control.action)) }
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
        let effects = apply(&control(ControlAction::Release), held);
        let state = effects.state.unwrap();
        assert!(!state.handed_over && state.handover_reason.is_none());
        assert!(effects.sends.is_empty(), "a release sends nothing");
    }

    #[test]
    fn a_handover_names_who_took_the_chat() {
        let action = ControlAction::Handover { assigned_to: Some("Sari".into()), notes: None };
        let state = apply(&control(action), ChatState::default()).state.unwrap();
        assert!(state.handed_over);
        assert_eq!(state.handover_reason.as_deref(), Some("admin handover to Sari"));
    }

    #[test]
    fn a_reset_keeps_the_analytics_tally() {
        let mut before = ChatState { inbound_count: 7, playground: true, ..ChatState::default() };
        before.tally.replies = 3;
        let state = apply(&control(ControlAction::Reset), before).state.unwrap();
        assert_eq!((state.inbound_count, state.tally.replies, state.playground), (0, 3, true));
    }
}
