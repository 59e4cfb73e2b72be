//! Rapid messages from one prospect are answered as one turn: each message
//! restarts its chat's quiet window (`[sales] coalesce_ms`); when a window
//! ends, a `Turn` control goes into the chat's lane. Windows are kept in the
//! `turns` tree, so a restart answers the bursts it interrupted.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::inbox::InboxItem;
use super::{Progress, now_ms};
use crate::channel::{ChatId, Control, ControlAction, Event};
use crate::store::Store;

/// A window that is open (`turns` tree value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DueTurn {
    pub chat: ChatId,
    pub token: u64,
    pub due_ms: u64,
}

/// Where due turns go: the lanes' queues.
pub(super) type Dispatch = Arc<dyn Fn(InboxItem) + Send + Sync>;

pub(super) struct Coalescer {
    tx: mpsc::UnboundedSender<DueTurn>,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
    progress: Arc<Progress>,
}

impl Coalescer {
    pub fn start(store: Store, progress: Arc<Progress>, dispatch: Dispatch) -> Coalescer {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(store, progress.clone(), dispatch, rx));
        Coalescer { tx, task: std::sync::Mutex::new(Some(task)), progress }
    }

    /// Answers `chat`'s burst at `due_ms` unless a later message changed its token.
    pub fn schedule(&self, turn: DueTurn) {
        // Counted as pending work until the lane has handled it (juru chat waits for it).
        self.progress.inbox_added(1);
        let _ = self.tx.send(turn);
    }

    /// Forgets the timers (the `turns` tree keeps them for the next start).
    pub async fn stop(&self) {
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }
}

async fn run(store: Store, progress: Arc<Progress>, dispatch: Dispatch, mut rx: mpsc::UnboundedReceiver<DueTurn>) {
    let mut timers: BinaryHeap<Reverse<(u64, u64, String)>> = BinaryHeap::new();
    let mut turns: std::collections::HashMap<String, DueTurn> = std::collections::HashMap::new();
    loop {
        let next = timers.peek().map(|Reverse((due, ..))| *due);
        let wait = next.map(|due| Duration::from_millis(due.saturating_sub(now_ms())));
        tokio::select! {
            turn = rx.recv() => match turn {
                Some(turn) => {
                    let key = turn.chat.key();
                    timers.push(Reverse((turn.due_ms, turn.token, key.clone())));
                    if let Some(old) = turns.insert(key, turn) {
                        // Superseded: its timer will find a newer token and do nothing.
                        let _ = old;
                    }
                }
                None => return,
            },
            _ = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(3600))), if wait.is_some() => {
                let now = now_ms();
                while let Some(Reverse((due, token, key))) = timers.peek().cloned() {
                    if due > now {
                        break;
                    }
                    timers.pop();
                    let chat = match turns.get(&key) {
                        Some(t) if t.token == token => turns.remove(&key).map(|t| t.chat),
                        _ => None,
                    };
                    match chat.or_else(|| ChatId::parse(&key)) {
                        Some(chat) => match store.next_seq() {
                            Ok(seq) => {
                                let control = Control { id: format!("turn:{key}:{token}"), chat, by: "coalesce".into(), action: ControlAction::Turn { token } };
                                dispatch(InboxItem { seq, received_ms: now, event: Event::Control(control) });
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "cannot number a due turn; it is answered at the next start");
                                progress.inbox_added(-1);
                            }
                        },
                        None => progress.inbox_added(-1),
                    }
                }
            }
        }
    }
}
