//! The handover sweeper: a chat handed over to a human must not be a dead
//! end. Every tick it looks at the chats handed over now (from the dashboard
//! figures: no scan of the store). A prospect who has waited longer than
//! `[sales] handover_remind_secs` (since their last message or a human's
//! reply on the business phone) is brought to `[bot] admin_chats` again,
//! once; one who has waited longer than `handover_timeout_secs` gets the
//! chat back from the bot, which tells them so.
//!
//! Its actions go through the committer like everyone's: a reminder is a
//! scheduled send; a timeout is a release control through the chat's lane,
//! so the release, its audit record and the message to the prospect commit
//! together, in order with the prospect's own messages. Which chats were
//! reminded is kept in memory: after a restart a waiting chat is reminded
//! once more.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::{Runtime, now_ms};
use crate::channel::{ChatId, Control, ControlAction, Event};
use crate::config::Config;
use crate::router::HANDOVER_TIMEOUT;
use crate::texts;

/// What the sweeper decides for one handed-over chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Nothing,
    Remind { waited_s: u64 },
    HandBack,
}

/// The rule, over plain numbers: a timeout wins over a reminder; a chat is
/// reminded once per wait (`reminded`: the wait it was reminded of).
pub fn due(config: &Config, waiting_since_ms: u64, reminded: Option<u64>, now: u64) -> Due {
    let waited_ms = now.saturating_sub(waiting_since_ms);
    let (remind, timeout) = (config.sales.handover_remind_secs, config.sales.handover_timeout_secs);
    if timeout > 0 && waited_ms >= timeout * 1000 {
        Due::HandBack
    } else if remind > 0 && waited_ms >= remind * 1000 && reminded != Some(waiting_since_ms) {
        Due::Remind { waited_s: waited_ms / 1000 }
    } else {
        Due::Nothing
    }
}

/// How often to look: a fraction of the shorter limit, between 100 ms and 30 s.
fn tick(config: &Config) -> Option<Duration> {
    let limits = [config.sales.handover_remind_secs, config.sales.handover_timeout_secs];
    let shortest = limits.into_iter().filter(|s| *s > 0).min()?;
    Some(Duration::from_millis((shortest * 1000 / 4).clamp(100, 30_000)))
}

/// Runs until aborted (by `serve` at shutdown).
pub async fn run_forever(runtime: Arc<Runtime>) {
    let config = runtime.config().clone();
    let Some(every) = tick(&config) else { return };
    let admins: Vec<ChatId> = config.bot.admin_chats.iter().filter_map(|a| ChatId::parse(a)).collect();
    let prefix = config.bot.prefixes.first().cloned().unwrap_or_else(|| "#".into());
    let mut reminded: HashMap<String, u64> = HashMap::new();
    loop {
        tokio::time::sleep(every).await;
        let now = now_ms();
        let waiting = runtime.handed_over();
        reminded.retain(|chat, _| waiting.iter().any(|w| &w.chat == chat));
        for w in waiting {
            let Some(chat) = ChatId::parse(&w.chat) else { continue };
            match due(&config, w.waiting_since_ms, reminded.get(&w.chat).copied(), now) {
                Due::Nothing => {}
                Due::Remind { waited_s } => {
                    reminded.insert(w.chat.clone(), w.waiting_since_ms);
                    let text = texts::handover_reminder(config.bot.language, &w.chat, waited_s / 60, &prefix);
                    for admin in &admins {
                        if let Err(e) = runtime.say(admin.clone(), text.clone()).await {
                            tracing::warn!(error = %e, chat = %w.chat, "handover reminder not queued");
                        }
                    }
                    tracing::info!(chat = %w.chat, waited_s, admins = admins.len(), "handover still waiting; admins reminded");
                }
                Due::HandBack => {
                    // One id per wait: a second tick before the lane ran is deduped.
                    let id = format!("handover-timeout:{}:{}", w.chat, w.waiting_since_ms);
                    let control = Control { id, chat, by: HANDOVER_TIMEOUT.into(), action: ControlAction::Release };
                    match runtime.accept(vec![Event::Control(control)]).await {
                        Ok(_) => tracing::info!(chat = %w.chat, "handover timed out; the chat is the bot's again"),
                        Err(e) => tracing::warn!(error = %e, chat = %w.chat, "handover timeout not queued"),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(remind: u64, timeout: u64) -> Config {
        let mut c = Config::default();
        c.sales.handover_remind_secs = remind;
        c.sales.handover_timeout_secs = timeout;
        c
    }

    #[test]
    fn a_waiting_chat_is_reminded_once_then_handed_back() {
        let c = config(60, 600);
        assert_eq!(due(&c, 1_000, None, 30_000), Due::Nothing);
        assert_eq!(due(&c, 1_000, None, 61_000), Due::Remind { waited_s: 60 });
        assert_eq!(due(&c, 1_000, Some(1_000), 120_000), Due::Nothing, "once per wait");
        assert_eq!(due(&c, 500_000, Some(1_000), 560_000), Due::Remind { waited_s: 60 }, "a new wait");
        assert_eq!(due(&c, 1_000, Some(1_000), 601_000), Due::HandBack);
    }

    #[test]
    fn zero_turns_each_rule_off() {
        assert_eq!(due(&config(0, 0), 0, None, u64::MAX / 2), Due::Nothing);
        assert_eq!(tick(&config(0, 0)), None);
        assert_eq!(due(&config(0, 10), 0, None, 10_000), Due::HandBack);
        assert_eq!(tick(&config(1, 0)), Some(Duration::from_millis(250)));
    }
}
