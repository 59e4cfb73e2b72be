//! Who a `…@lid` sender really is, asked of WAHA's lids API and cached in the
//! `lids` tree. Unresolved LIDs stay LIDs: their digits are never a phone number.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::channel::waha::WahaClient;
use crate::channel::{ChatId, Inbound, Phone};
use crate::store::Store;

/// How long a failed lookup is not retried.
const MISS_TTL: Duration = Duration::from_secs(600);

pub(crate) struct Identity {
    store: Store,
    waha: Option<WahaClient>,
    misses: Mutex<HashMap<String, Instant>>,
}

impl Identity {
    pub fn new(store: Store, waha: Option<WahaClient>) -> Identity {
        Identity { store, waha, misses: Mutex::new(HashMap::new()) }
    }

    /// Replaces a LID chat/sender by the phone number behind it, when known.
    pub async fn resolve_sender(&self, ev: &mut Inbound) {
        if let ChatId::Lid(lid) = &ev.chat
            && let Some(phone) = self.resolve(lid).await
        {
            ev.chat = ChatId::Phone(phone);
        }
        if let ChatId::Lid(lid) = &ev.sender
            && let Some(phone) = self.resolve(lid).await
        {
            ev.sender = ChatId::Phone(phone);
        }
    }

    async fn resolve(&self, lid: &str) -> Option<Phone> {
        if let Ok(Some(bytes)) = self.store.lids.get(lid.as_bytes()) {
            return Phone::parse(std::str::from_utf8(&bytes).ok()?);
        }
        let waha = self.waha.as_ref()?;
        {
            let misses = self.misses.lock().unwrap_or_else(|p| p.into_inner());
            if misses.get(lid).is_some_and(|at| at.elapsed() < MISS_TTL) {
                return None;
            }
        }
        match waha.resolve_lid(lid).await {
            Ok(Some(phone)) => {
                if let Err(e) = self.store.lids.insert(lid.as_bytes(), phone.as_str().as_bytes()) {
                    tracing::warn!(error = %e, "caching a LID mapping failed");
                }
                Some(phone)
            }
            Ok(None) => {
                tracing::debug!(lid, "WAHA does not know the phone number behind this LID; keeping the LID");
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
