//! The durable pipeline: inbox (deduped) → lanes (one per chat, in order) →
//! router → one transaction (state + audit + outbox + inbox removal) → outbox
//! worker → channel senders.

pub mod audit;
pub mod coalesce;
pub mod delivery;
mod echoes;
mod identity;
pub mod inbox;
pub mod labels;
mod lanes;
mod nurture;
pub mod outbox;
mod progress;
pub mod stats;

use std::sync::Arc;
use std::time::Duration;

use crate::channel::{Channel, Event, Senders};
use crate::config::Config;
use crate::router::{BotSettings, Sales};
use crate::store::{Store, StoreError};

pub use inbox::AcceptReport;
pub use progress::Progress;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the runtime is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Crm(#[from] crate::crm::CrmError),
}

impl From<sled::Error> for RuntimeError {
    fn from(e: sled::Error) -> Self {
        RuntimeError::Store(StoreError::Sled(e))
    }
}

/// Everything a lane or the outbox needs, shared.
pub(crate) struct Shared {
    pub store: Store,
    pub senders: Senders,
    pub bot: BotSettings,
    pub sales: Sales,
    pub config: Config,
    pub progress: Arc<Progress>,
    pub identity: identity::Identity,
    pub crm: Arc<crate::crm::Crm>,
    pub commands: crate::commands::Commands,
    /// Texts recently queued, to recognise echoes that come back under new ids.
    pub echoes: echoes::RecentTexts,
    /// Dashboard figures, kept as conversations change.
    pub stats: stats::ConversationStats,
    /// Dedupe keys whose inbox commit is in flight (see `inbox::accept`).
    pub in_flight_keys: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// A running pipeline. Clone-free: wrap in `Arc` to share.
pub struct Runtime {
    shared: Arc<Shared>,
    lanes: lanes::Lanes,
    outbox: outbox::Outbox,
    pruner: tokio::task::JoinHandle<()>,
    nurture: tokio::task::JoinHandle<()>,
}

impl Runtime {
    /// Starts lanes and the outbox worker, then replays what a previous run
    /// accepted but did not finish: inbox items first, then unsent outbox items.
    pub fn start(config: Config, bot: BotSettings, store: Store, senders: Senders) -> Result<Runtime, RuntimeError> {
        let progress = Arc::new(Progress::default());
        let identity = identity::Identity::new(store.clone(), senders.waha.clone());
        let sales = Sales::from_config(&config);
        let crm = Arc::new(crate::crm::Crm::open(
            &store,
            config.crm.secret_key.as_ref().map(|k| k.expose()),
            &config.storage.path,
        )?);
        let commands = crate::commands::Commands::open(&config, crm.clone());
        let stats = stats::ConversationStats::load(&store)?;
        let shared = Arc::new(Shared {
            store,
            senders,
            bot,
            sales,
            config,
            progress,
            identity,
            crm,
            commands,
            echoes: Default::default(),
            stats,
            in_flight_keys: Default::default(),
        });
        let outbox = outbox::Outbox::start(shared.clone())?;
        let lanes = lanes::Lanes::start(shared.clone(), outbox.clone());
        inbox::replay(&shared, &lanes)?;
        lanes.resume_turns(&shared.store)?;
        let pruner = tokio::spawn(inbox::prune_seen_forever(shared.clone()));
        let nurture = tokio::spawn(nurture::run_forever(shared.clone(), outbox.clone()));
        Ok(Runtime { shared, lanes, outbox, pruner, nurture })
    }

    /// Reads WAHA's labels API and applies what juru missed (see [`labels`]).
    pub async fn resync_labels(&self) -> Result<labels::ResyncReport, labels::ResyncError> {
        let (events, report) = labels::differences(&self.shared).await?;
        if !events.is_empty() {
            self.accept(events).await?;
        }
        if report.added + report.removed + report.deleted_labels > 0 {
            tracing::info!(?report, "labels reconciled with WAHA");
        }
        Ok(report)
    }

    /// Stores the events durably (deduped) and queues them for their lanes.
    /// Returns only after the store flushed: then, and only then, may the
    /// webhook be acknowledged.
    pub async fn accept(&self, events: Vec<Event>) -> Result<AcceptReport, RuntimeError> {
        inbox::accept(&self.shared, &self.lanes, events).await
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The dashboard's conversation figures (kept, not scanned).
    pub fn dashboard(&self) -> stats::Dashboard {
        self.shared.stats.dashboard(now_ms())
    }

    /// Funnel, campaigns, AI performance, questions and drop-offs (see [`stats`]).
    pub fn analytics(&self) -> stats::Analytics {
        let crm = self.shared.crm.read();
        self.shared.stats.analytics(now_ms(), |chat| crm.has_won(chat))
    }

    /// The latest conversations, newest first; a last message juru has not
    /// seen since start is read back from the audit trail.
    pub fn recent_conversations(&self, limit: usize) -> Vec<stats::ConversationRow> {
        let mut rows = self.shared.stats.recent_conversations(limit);
        for row in rows.iter_mut().filter(|r| r.last_message.is_none()) {
            row.last_message = stats::last_inbound_text(&self.shared.store, &row.id);
        }
        rows
    }

    /// Queues a text to `chat` outside any conversation turn (a confirmation
    /// such as the OAuth callback's), on WAHA when configured, else Cloud.
    pub async fn say(&self, chat: crate::channel::ChatId, text: String) -> Result<(), RuntimeError> {
        use crate::channel::{OutBody, Outgoing, ReplyMeta};
        let channel = match (&self.shared.senders.waha, &self.shared.senders.cloud) {
            (Some(_), _) => Channel::Waha,
            (None, Some(_)) => Channel::Cloud,
            (None, None) => Channel::Console,
        };
        let now = now_ms();
        let out = Outgoing { to: chat, body: OutBody::Text { text }, reply_to: None, meta: ReplyMeta::default() };
        let item = outbox::OutboxItem::new(self.shared.store.next_seq()?, channel, out, now);
        lanes::commit_and_send(&self.shared, &self.outbox, Vec::new(), crate::crm::Changes::default(), vec![item], now)
            .await
    }

    pub fn crm(&self) -> &Arc<crate::crm::Crm> {
        &self.shared.crm
    }

    pub fn sales(&self) -> &Sales {
        &self.shared.sales
    }

    pub fn progress(&self) -> &Progress {
        &self.shared.progress
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Resolves when no accepted message is waiting for its lane and no item
    /// of `channel` is waiting in the outbox (used by `juru chat` at end of input).
    pub async fn idle(&self, channel: Channel) {
        self.shared.progress.idle(channel).await
    }

    /// Stops lanes after they drained, lets in-flight sends finish (within
    /// `grace`), flushes the store and releases it.
    pub async fn shutdown(self, grace: Duration) {
        self.pruner.abort();
        let _ = self.pruner.await;
        self.nurture.abort();
        let _ = self.nurture.await;
        self.lanes.drain().await;
        self.outbox.stop(grace).await;
        if let Err(e) = self.shared.store.durable().await {
            tracing::error!(error = %e, "final flush failed");
        }
        self.shared.store.commit.stop();
        if Arc::strong_count(&self.shared) > 1 {
            tracing::warn!("the store is still referenced after shutdown");
        }
    }
}

pub use crate::clock::now_ms;
