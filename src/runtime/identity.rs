//! Who a `…@lid` sender really is, asked of the gateway it came through (WAHA
//! has a lids API) and cached in the `lids` tree. Unresolved LIDs stay LIDs:
//! their digits are never a phone number. And who administers a group.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::channel::{Channel, ChatId, Gateways, Inbound, Phone};
use crate::store::{Store, TreeName, Wait, Write};

/// How long a failed lookup is not retried.
const MISS_TTL: Duration = Duration::from_secs(600);
/// How long a group's admin list is trusted before it is asked again.
const ADMINS_TTL: Duration = Duration::from_secs(300);

pub(crate) struct Identity {
    store: Store,
    gateways: Gateways,
    misses: Mutex<HashMap<String, Instant>>,
    admins: Mutex<HashMap<String, (Instant, Vec<String>)>>,
}

impl Identity {
    pub fn new(store: Store, gateways: Gateways) -> Identity {
        Identity { store, gateways, misses: Mutex::new(HashMap::new()), admins: Mutex::new(HashMap::new()) }
    }

    /// Replaces a LID chat/sender by the phone number behind it, when known.
    pub async fn resolve_sender(&self, ev: &mut Inbound) {
        if let ChatId::Lid(lid) = &ev.chat
            && let Some(phone) = self.resolve(ev.channel, lid).await
        {
            ev.chat = ChatId::Phone(phone);
        }
        if let ChatId::Lid(lid) = &ev.sender
            && let Some(phone) = self.resolve(ev.channel, lid).await
        {
            ev.sender = ChatId::Phone(phone);
        }
    }

    async fn resolve(&self, channel: Channel, lid: &str) -> Option<Phone> {
        if let Ok(Some(bytes)) = self.store.read(TreeName::Lids).get(lid.as_bytes()) {
            return Phone::parse(std::str::from_utf8(&bytes).ok()?);
        }
        let gateway = self.gateways.get(channel)?;
        {
            let misses = self.misses.lock().unwrap_or_else(|p| p.into_inner());
            if misses.get(lid).is_some_and(|at| at.elapsed() < MISS_TTL) {
                return None;
            }
        }
        match gateway.resolve_lid(lid).await {
            Ok(Some(phone)) => {
                // A cache: applied now, on disk with the next flush.
                let put = Write::Put(TreeName::Lids, lid.as_bytes().to_vec(), phone.as_str().as_bytes().to_vec());
                if let Err(e) = self.store.commit.commit_with(vec![put], Wait::Applied).await {
                    tracing::warn!(error = %e, "caching a LID mapping failed");
                }
                Some(phone)
            }
            Ok(None) => {
                tracing::debug!(
                    lid,
                    channel = channel.as_str(),
                    "the gateway does not know the phone number behind this LID; keeping the LID"
                );
                self.misses.lock().unwrap_or_else(|p| p.into_inner()).insert(lid.to_string(), Instant::now());
                None
            }
            Err(e) => {
                tracing::warn!(lid, error = %e, "LID lookup failed; keeping the LID");
                self.misses.lock().unwrap_or_else(|p| p.into_inner()).insert(lid.to_string(), Instant::now());
                None
            }
        }
    }
}

/// Group admin status comes from the gateways' group directory (WAHA's
/// groups API; cached for a few minutes), never from anything written in a message.
impl Identity {
    pub async fn is_group_admin(&self, group: &ChatId, member: &ChatId) -> Option<bool> {
        let key = group.key();
        let cached = self
            .admins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .filter(|(at, _)| at.elapsed() < ADMINS_TTL)
            .map(|(_, admins)| admins.clone());
        let admins = match cached {
            Some(admins) => admins,
            None => {
                let mut found = None;
                for gateway in self.gateways.all() {
                    match gateway.group_admins(group).await {
                        Ok(Some(list)) => {
                            found = Some(list.iter().map(ChatId::key).collect::<Vec<String>>());
                            break;
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(group = %group.key(), error = %e, "group admin lookup failed; treating the sender as a member");
                            return None;
                        }
                    }
                }
                let keys = found?;
                self.admins.lock().unwrap_or_else(|p| p.into_inner()).insert(key, (Instant::now(), keys.clone()));
                keys
            }
        };
        Some(admins.contains(&member.key()))
    }
}
