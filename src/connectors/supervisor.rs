//! Starts a sync worker for each platform that has a credential (from
//! config, or stored sealed by `#crm auth` / the OAuth callback), restarts
//! it when the credential changes, and carries out `#crm sync` requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::SyncError;
use super::credential::{Credential, TokenSink, Tokens};
use super::worker::{self, Handle, Worker};
use crate::config::Config;
use crate::crm::Crm;
use crate::crm::settings::{
    AuthKind, AuthRecord, FieldMapping, Platform, SyncRequest, auth_key, mapping_key, sync_key,
};
use crate::store::{TreeName, Write, encode};

/// The platforms juru has connectors for.
pub const SUPPORTED: [Platform; 6] = [
    Platform::Hubspot,
    Platform::Salesforce,
    Platform::Pipedrive,
    Platform::Zoho,
    Platform::Freshsales,
    Platform::Dynamics,
];
/// Look again even without a settings change (a credential put in config.toml needs a restart anyway).
const RECHECK: Duration = Duration::from_secs(30);

struct Running {
    handle: Handle,
    task: tokio::task::JoinHandle<()>,
    /// What it was started with, to notice a new credential or mapping.
    started_with: String,
}

pub struct Connectors {
    /// `juru sync --platform P`: only that one.
    only: Option<Platform>,
    config: Arc<Config>,
    crm: Arc<Crm>,
    running: Mutex<HashMap<Platform, Running>>,
    /// The last `#crm sync` request carried out, per platform.
    handled: Mutex<HashMap<Platform, u64>>,
}

impl Connectors {
    pub fn new(config: Arc<Config>, crm: Arc<Crm>) -> Arc<Connectors> {
        Connectors::only(config, crm, None)
    }

    /// Connectors of one platform (or all with `None`), for `juru sync`.
    pub fn only(config: Arc<Config>, crm: Arc<Crm>, only: Option<Platform>) -> Arc<Connectors> {
        Arc::new(Connectors {
            only,
            config,
            crm,
            running: Mutex::new(HashMap::new()),
            handled: Mutex::new(HashMap::new()),
        })
    }

    /// Reconciles now, then whenever CRM settings change.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut changes = this.crm.settings_changes();
            loop {
                this.reconcile().await;
                let _ = tokio::time::timeout(RECHECK, changes.changed()).await;
            }
        })
    }

    /// The running worker of `platform`.
    pub fn handle(&self, platform: Platform) -> Option<Handle> {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).get(&platform).map(|r| r.handle.clone())
    }

    /// Stops every worker (at shutdown; the outbox keeps what was not pushed).
    pub fn stop(&self) {
        for (_, running) in self.running.lock().unwrap_or_else(|p| p.into_inner()).drain() {
            running.task.abort();
        }
    }

    pub async fn reconcile(&self) {
        let mut initial = Vec::new();
        for platform in Platform::ALL.into_iter().filter(|p| self.only.is_none_or(|only| only == *p)) {
            let credential = self.credential(platform);
            let mapping: FieldMapping = self.crm.setting(&mapping_key(platform)).unwrap_or_default();
            let started_with =
                format!("{}|{:?}", credential.as_ref().map(Credential::to_stored).unwrap_or_default(), mapping);
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            let current = running.get(&platform).map(|r| r.started_with.clone());
            if current.as_deref() == Some(started_with.as_str()) {
                continue;
            }
            if let Some(old) = running.remove(&platform) {
                old.task.abort();
            }
            let Some(credential) = credential else { continue };
            // The first connection pushes what the CRM already holds.
            let first =
                matches!(self.crm.store().read(TreeName::SyncState).get(platform.as_str().as_bytes()), Ok(None));
            match start(platform, &self.config, credential, mapping, self.crm.clone(), self.token_sink(platform)) {
                Some((handle, task)) => {
                    tracing::info!(platform = platform.as_str(), "CRM sync worker started");
                    running.insert(platform, Running { handle, task, started_with });
                    if first {
                        initial.push(platform);
                    }
                }
                None => tracing::debug!(platform = platform.as_str(), "no connector for this platform in this build"),
            }
        }
        // A realtime worker drains these on its own; a manual one waits to be asked.
        for platform in initial {
            match worker::enqueue_all(&self.crm, platform).await {
                Ok(n) => tracing::info!(platform = platform.as_str(), records = n, "first sync: everything queued"),
                Err(e) => tracing::error!(platform = platform.as_str(), error = %e, "queueing the first sync failed"),
            }
        }
        self.carry_out_requests().await;
    }

    /// `#crm sync [--full]`: queue everything for a full sync, then drain.
    async fn carry_out_requests(&self) {
        for platform in Platform::ALL {
            let Some(request) = self.crm.setting::<SyncRequest>(&sync_key(platform)) else { continue };
            let Some(handle) = self.handle(platform) else { continue };
            let done = self.handled.lock().unwrap_or_else(|p| p.into_inner()).get(&platform).copied();
            if done.is_some_and(|at| at >= request.at_ms) {
                continue;
            }
            let status = crate::crm::sync::load_status(self.crm.store(), platform);
            if status.handled_request_ms.is_some_and(|at| at >= request.at_ms) {
                self.handled.lock().unwrap_or_else(|p| p.into_inner()).insert(platform, request.at_ms);
                continue;
            }
            if request.full {
                match worker::enqueue_all(&self.crm, platform).await {
                    Ok(n) => tracing::info!(platform = platform.as_str(), records = n, "full sync queued"),
                    Err(e) => tracing::error!(platform = platform.as_str(), error = %e, "queueing a full sync failed"),
                }
            }
            handle.sync_now();
            handle.note_request(request.at_ms);
            self.handled.lock().unwrap_or_else(|p| p.into_inner()).insert(platform, request.at_ms);
        }
    }

    /// Config first (an operator's explicit choice), then what `#crm auth` stored.
    pub fn credential(&self, platform: Platform) -> Option<Credential> {
        let crm = &self.config.crm;
        let stored = match self.crm.secret(platform) {
            Ok(stored) => stored.map(|s| Credential::from_stored(&s)),
            Err(e) => {
                tracing::error!(platform = platform.as_str(), error = %e, "stored credential unreadable");
                None
            }
        };
        let configured = match platform {
            Platform::Hubspot => crm.hubspot.token.as_ref().map(|t| Credential::ApiKey(t.expose().to_string())),
            Platform::Pipedrive => crm.pipedrive.api_token.as_ref().map(|t| Credential::ApiKey(t.expose().to_string())),
            Platform::Freshsales => crm.freshsales.api_key.as_ref().map(|t| Credential::ApiKey(t.expose().to_string())),
            Platform::Salesforce => {
                let sf = &crm.salesforce;
                let flow = sf.refresh_token.is_some()
                    || (sf.username.is_some() && sf.private_key_path.is_some())
                    || (sf.client_id.is_some() && sf.client_secret.is_some());
                // No token yet: the connector gets one with the configured flow.
                flow.then(|| {
                    Credential::OAuth(Tokens {
                        refresh_token: sf.refresh_token.as_ref().map(|t| t.expose().to_string()),
                        ..Tokens::default()
                    })
                })
            }
            // A self-client refresh token; the connector gets an access token with it.
            Platform::Zoho => crm.zoho.refresh_token.as_ref().map(|t| {
                Credential::OAuth(Tokens { refresh_token: Some(t.expose().to_string()), ..Tokens::default() })
            }),
            // The app's client secret; the connector trades it for tokens itself.
            Platform::Dynamics => {
                crm.dynamics.client_secret.as_ref().map(|t| Credential::ApiKey(t.expose().to_string()))
            }
        };
        match platform {
            // Salesforce's and Zoho's config name a flow, not a credential: tokens already got come first.
            Platform::Salesforce | Platform::Zoho => stored.or(configured),
            _ => configured.or(stored),
        }
    }

    /// Refreshed tokens are sealed and stored at once (a rotated refresh token
    /// lost here would mean authorising again).
    fn token_sink(&self, platform: Platform) -> TokenSink {
        let crm = self.crm.clone();
        Arc::new(move |tokens: Tokens| {
            let sealed = crm.sealer().seal(&Credential::OAuth(tokens).to_stored());
            let write = Write::Put(TreeName::Secrets, platform.as_str().as_bytes().to_vec(), encode(&sealed));
            let crm = crm.clone();
            tokio::spawn(async move {
                if let Err(e) = crm.store().commit.commit(vec![write]).await {
                    tracing::error!(platform = platform.as_str(), error = %e, "storing refreshed tokens failed");
                }
            });
        })
    }

    /// Completes an OAuth authorisation: exchanges the code, seals the tokens,
    /// records how the platform is authorised. The worker starts on the change.
    pub async fn complete_oauth(
        &self,
        platform: Platform,
        code: &str,
        redirect_uri: &str,
        by: &str,
        accounts_server: Option<&str>,
    ) -> Result<(), SyncError> {
        let tokens = exchange_code(platform, &self.config, code, redirect_uri, accounts_server).await?;
        let now = crate::clock::now_ms();
        let sealed = self.crm.sealer().seal(&Credential::OAuth(tokens).to_stored());
        let record = AuthRecord { platform, kind: AuthKind::Oauth, by: by.to_string(), at_ms: now, hint: None };
        let writes = vec![
            Write::Put(TreeName::Secrets, platform.as_str().as_bytes().to_vec(), encode(&sealed)),
            Write::Put(TreeName::CrmSettings, auth_key(platform).into_bytes(), encode(&record)),
        ];
        self.crm.store().commit.commit(writes).await.map_err(|e| SyncError::Transient(e.to_string()))?;
        self.crm.refresh(&Crm::settings_touched());
        Ok(())
    }
}

/// The worker of one platform, or `None` where juru has no connector.
fn start(
    platform: Platform,
    config: &Config,
    credential: Credential,
    mapping: FieldMapping,
    crm: Arc<Crm>,
    on_tokens: TokenSink,
) -> Option<(Handle, tokio::task::JoinHandle<()>)> {
    let crm_config = &config.crm;
    match platform {
        Platform::Hubspot => {
            let connector = super::hubspot::HubspotConnector::new(&crm_config.hubspot, credential, mapping, on_tokens);
            Some(Worker::spawn_with(connector, crm, crm_config.hubspot.mode, every(crm_config.hubspot.pull_secs)))
        }
        Platform::Pipedrive => {
            let connector =
                super::pipedrive::PipedriveConnector::new(&crm_config.pipedrive, credential, mapping, on_tokens);
            Some(Worker::spawn_with(connector, crm, crm_config.pipedrive.mode, every(crm_config.pipedrive.pull_secs)))
        }
        Platform::Salesforce => {
            let connector =
                super::salesforce::SalesforceConnector::new(&crm_config.salesforce, credential, mapping, on_tokens);
            Some(Worker::spawn_with(connector, crm, crm_config.salesforce.mode, every(crm_config.salesforce.pull_secs)))
        }
        Platform::Zoho => {
            let connector = super::zoho::ZohoConnector::new(&crm_config.zoho, credential, mapping, on_tokens);
            Some(Worker::spawn_with(connector, crm, crm_config.zoho.mode, every(crm_config.zoho.pull_secs)))
        }
        Platform::Freshsales => {
            let fs = &crm_config.freshsales;
            let connector = super::freshsales::FreshsalesConnector::new(fs, credential, mapping);
            Some(Worker::spawn_with(connector, crm, fs.mode, every(fs.pull_secs)))
        }
        Platform::Dynamics => {
            let connector = super::dynamics::DynamicsConnector::new(&crm_config.dynamics, credential, mapping);
            Some(Worker::spawn_with(connector, crm, crm_config.dynamics.mode, every(crm_config.dynamics.pull_secs)))
        }
    }
}

/// `pull_secs` as a period (0: never).
fn every(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// The OAuth authorization-code exchange of `platform`.
pub async fn exchange_code(
    platform: Platform,
    config: &Config,
    code: &str,
    redirect_uri: &str,
    accounts_server: Option<&str>,
) -> Result<Tokens, SyncError> {
    match platform {
        Platform::Hubspot => super::hubspot::exchange_code(&config.crm.hubspot, code, redirect_uri).await,
        Platform::Pipedrive => super::pipedrive::exchange_code(&config.crm.pipedrive, code, redirect_uri).await,
        Platform::Salesforce => super::salesforce::exchange_code(&config.crm.salesforce, code, redirect_uri).await,
        Platform::Zoho => super::zoho::exchange_code(&config.crm.zoho, code, redirect_uri, accounts_server).await,
        _ => Err(SyncError::Permanent(format!("{} has no OAuth connector in this build", platform.title()))),
    }
}
