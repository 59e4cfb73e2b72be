//! The durable pipeline: inbox (deduped) → lanes (one per chat, in order) →
//! router (chooses, returns `Effects`) → commit (one transaction: state +
//! audit + outbox + inbox removal) → outbox worker → channel senders.

pub mod audit;
pub mod coalesce;
mod commit;
pub mod delivery;
mod echoes;
mod events;
pub mod handover;
mod identity;
pub mod inbox;
pub mod labels;
mod lanes;
mod nurture;
pub mod outbox;
mod progress;
pub mod retention;
pub mod stats;

use std::sync::Arc;
use std::time::Duration;

use crate::channel::{Channel, Event, Gateways};
use crate::config::Config;
use crate::router::{BotSettings, Effects, Router, Sales};
use crate::store::{Store, StoreError};

pub use events::chat_state;
pub use inbox::AcceptReport;
pub use progress::Progress;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the runtime is shutting down")]
    ShuttingDown,
    /// More work is waiting than `[runtime] max_backlog`: the sender should retry.
    #[error("overloaded: {backlog} events and replies waiting; retry in {retry_after_s} s")]
    Overloaded { backlog: i64, retry_after_s: u64 },
    #[error(transparent)]
    Crm(#[from] crate::crm::CrmError),
    #[error(transparent)]
    Router(#[from] crate::router::RouterError),
}

/// Everything a lane or the outbox needs, shared.
pub(crate) struct Shared {
    pub store: Store,
    pub gateways: Gateways,
    /// Chooses and runs the handler of every event.
    pub router: Router,
    pub config: Config,
    pub progress: Arc<Progress>,
    pub identity: identity::Identity,
    pub crm: Arc<crate::crm::Crm>,
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
    nurture: tokio::task::JoinHandle<()>,
    sweeper: tokio::task::JoinHandle<()>,
}

impl Runtime {
    /// Starts lanes and the outbox worker, then replays what a previous run
    /// accepted but did not finish: inbox items first, then unsent outbox items.
    pub fn start(config: Config, bot: BotSettings, store: Store, gateways: Gateways) -> Result<Runtime, RuntimeError> {
        let progress = Arc::new(Progress::default());
        let identity = identity::Identity::new(store.clone(), gateways.clone());
        let crm = Arc::new(crate::crm::Crm::open(
            &store,
            config.crm.secret_key.as_ref().map(|k| k.expose()),
            &config.storage.path,
        )?);
        let router = Router::new(&config, bot, crm.clone());
        let stats = stats::ConversationStats::load(&store)?;
        let shared = Arc::new(Shared {
            store,
            gateways,
            router,
            config,
            progress,
            identity,
            crm,
            echoes: Default::default(),
            stats,
            in_flight_keys: Default::default(),
        });
        let outbox = outbox::Outbox::start(shared.clone())?;
        let lanes = lanes::Lanes::start(shared.clone(), outbox.clone());
        inbox::replay(&shared, &lanes)?;
        lanes.resume_turns(&shared.store)?;
        let nurture = tokio::spawn(nurture::run_forever(shared.clone(), outbox.clone()));
        let sweeper = tokio::spawn(retention::run_forever(shared.clone()));
        Ok(Runtime { shared, lanes, outbox, nurture, sweeper })
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

    /// The chats handed over now, longest waiting first (kept, not scanned).
    pub fn handed_over(&self) -> Vec<stats::HandedOver> {
        self.shared.stats.handed_over()
    }

    /// The stored state of one chat, if it has any.
    pub fn chat_state(&self, chat: &crate::channel::ChatId) -> Result<Option<crate::sales::ChatState>, RuntimeError> {
        Ok(events::chat_state(&self.shared.store, &chat.key())?)
    }

    /// Queues a text to `chat` outside any conversation turn (a confirmation
    /// such as the OAuth callback's), on the first configured gateway.
    pub async fn say(&self, chat: crate::channel::ChatId, text: String) -> Result<(), RuntimeError> {
        let channel = self.shared.gateways.configured().next().unwrap_or(Channel::Console);
        let effects = Effects { sends: vec![Effects::text(&chat, text)], ..Effects::default() };
        commit::commit_scheduled(&self.shared, &self.outbox, channel, effects).await
    }

    /// Merges `lead` into the stored one through the committer (on disk when
    /// it returns) and reads the result back.
    pub async fn upsert_lead(
        &self,
        lead: crate::router::LeadRecord,
    ) -> Result<Option<crate::router::LeadRecord>, RuntimeError> {
        let key = lead.phone.clone();
        self.shared.store.commit.commit(vec![commit::upsert_lead(lead)]).await?;
        Ok(self.shared.store.read(crate::store::TreeName::Leads).get_as(key).ok().flatten())
    }

    /// The gateway of `channel`, when configured (webhooks are verified and parsed by it).
    pub fn gateway(&self, channel: Channel) -> Option<Arc<dyn crate::channel::Gateway>> {
        self.shared.gateways.get(channel).cloned()
    }

    pub fn crm(&self) -> &Arc<crate::crm::Crm> {
        &self.shared.crm
    }

    pub fn sales(&self) -> &Sales {
        &self.shared.router.sales
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
        self.nurture.abort();
        let _ = self.nurture.await;
        self.sweeper.abort();
        let _ = self.sweeper.await;
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

/// Moves an entry that does not decode out of its queue into `dead`, as it
/// is: kept and visible, never silently dropped, never retried.
fn set_aside(store: &Store, from: crate::store::TreeName, key: &[u8], value: &[u8]) {
    use crate::store::{TreeName, Write};
    let writes = vec![Write::Put(TreeName::Dead, key.to_vec(), value.to_vec()), Write::Remove(from, key.to_vec())];
    // Start-up is synchronous here: the move rides on the next flush.
    drop(store.commit.submit(writes));
}
