//! `juru chat`: the terminal as a WhatsApp chat, through the same pipeline as
//! a webhook (dedupe, lane, router, outbox) with the console channel.

use std::io::Write;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::channel::console::ConsoleSink;
use crate::channel::{Channel, ChatId, Event, Gateways, Inbound, Phone};
use crate::config::Config;
use crate::router::BotSettings;
use crate::runtime::{Runtime, RuntimeError};
use crate::store::{Store, StoreError};

pub struct ChatOptions {
    pub from: Phone,
    pub name: Option<String>,
    pub json: bool,
    /// Treat the sender as an owner (for `#` commands).
    pub owner: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("building the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("reading input: {0}")]
    Input(#[from] std::io::Error),
}

/// Reads one inbound message per line until end of input, printing each
/// line's answers before reading the next, then shuts the runtime down.
pub async fn run(
    mut config: Config,
    options: ChatOptions,
    input: impl AsyncBufRead + Unpin,
    output: Box<dyn Write + Send>,
) -> Result<(), ChatError> {
    let store = Store::open_with_cache(&config.storage.path, config.storage.cache_mb * 1024 * 1024)?;
    let mut gateways = Gateways::from_config(&config)?;
    gateways.add(std::sync::Arc::new(ConsoleSink::new(output, options.json)));
    if options.owner {
        config.bot.owners.push(crate::config::PhoneNumber(options.from.to_string()));
    }
    let bot = BotSettings::from_config(&config);
    let runtime = Runtime::start(config, bot, store, gateways)?;
    let chat = ChatId::Phone(options.from.clone());
    let mut lines = input.lines();
    while let Some(line) = lines.next_line().await? {
        let text = line.trim_end_matches('\r');
        if text.trim().is_empty() {
            continue;
        }
        let id = format!("console-{}", uuid::Uuid::now_v7());
        let mut inbound = Inbound::text_from(Channel::Console, "console", id, chat.clone(), text);
        inbound.sender_name = options.name.clone();
        inbound.timestamp = crate::runtime::now_ms() / 1000;
        let event = Event::Message(Box::new(inbound));
        runtime.accept(vec![event]).await?;
        // Turn by turn: each line's answers are printed before the next line is
        // read, so a piped script is answered line by line, not as one burst.
        runtime.idle(Channel::Console).await;
    }
    runtime.idle(Channel::Console).await;
    runtime.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
