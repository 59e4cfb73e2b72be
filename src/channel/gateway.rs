//! One trait for every gateway (WAHA, the Cloud API, the console; later
//! email and push): its webhooks verified and parsed into [`Event`]s, its
//! [`Outgoing`] items sent, its [`Capabilities`]. A new channel is one new
//! module implementing [`Gateway`] and one line in [`Gateways::from_config`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;

use super::cloud::CloudClient;
use super::console::ConsoleSink;
use super::signature::{self, SignatureError};
use super::waha::{LabelInfo, WahaClient};
use super::{Capabilities, Channel, ChatId, Event, Outgoing, ParseError, Phone, SendError, Sent};

/// A send in flight (boxed so that gateways can sit behind `dyn`).
pub type Sending<'a> = Pin<Box<dyn Future<Output = Result<Sent, SendError>> + Send + 'a>>;

/// A question to the gateway's directory in flight; `Ok(None)` where the
/// gateway keeps no such directory.
pub type Looking<'a, T> = Pin<Box<dyn Future<Output = Result<Option<T>, SendError>> + Send + 'a>>;

pub trait Gateway: Send + Sync {
    fn channel(&self) -> Channel;

    fn capabilities(&self) -> Capabilities {
        self.channel().capabilities()
    }

    /// Checks the webhook over its raw bytes, before anything is parsed.
    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), SignatureError>;

    /// Every event the body carries, each read on its own; `Err` only when
    /// the body is not this gateway's webhook at all.
    fn parse(&self, body: &[u8]) -> Result<Vec<Event>, ParseError>;

    fn send<'a>(&'a self, out: &'a Outgoing) -> Sending<'a>;

    /// The least time between two sends to one recipient (`[waha]` /
    /// `[cloud] min_gap_ms`): the pacing that keeps a number from being flagged.
    fn min_gap(&self) -> Duration {
        Duration::ZERO
    }

    /// The phone number behind a WhatsApp privacy id (`…@lid`), where the
    /// gateway can tell; `Ok(None)` also when it does not know this one.
    fn resolve_lid<'a>(&'a self, _lid: &'a str) -> Looking<'a, Phone> {
        Box::pin(std::future::ready(Ok(None)))
    }

    /// A group's admins, where the gateway keeps a group directory.
    fn group_admins<'a>(&'a self, _group: &'a ChatId) -> Looking<'a, Vec<ChatId>> {
        Box::pin(std::future::ready(Ok(None)))
    }

    /// The WhatsApp account the gateway speaks for (WAHA's session), as
    /// label events name it.
    fn account(&self) -> &str {
        self.channel().as_str()
    }

    /// The account's WhatsApp labels, where the gateway sees them
    /// (`capabilities().labels`).
    fn labels(&self) -> Looking<'_, Vec<LabelInfo>> {
        Box::pin(std::future::ready(Ok(None)))
    }

    /// The chats that carry one label.
    fn label_chats<'a>(&'a self, _label_id: &'a str) -> Looking<'a, Vec<ChatId>> {
        Box::pin(std::future::ready(Ok(None)))
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// WAHA: `X-Webhook-Hmac` when a key is configured; envelopes of its session.
pub struct Waha {
    pub client: WahaClient,
    pub webhook_key: Option<String>,
    pub session: String,
    pub min_gap: Duration,
}

impl Gateway for Waha {
    fn channel(&self) -> Channel {
        Channel::Waha
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
        match &self.webhook_key {
            Some(key) => signature::verify_waha(key, header(headers, "x-webhook-hmac"), body),
            None => Ok(()),
        }
    }

    fn parse(&self, body: &[u8]) -> Result<Vec<Event>, ParseError> {
        super::waha::parse(body, &self.session)
    }

    fn send<'a>(&'a self, out: &'a Outgoing) -> Sending<'a> {
        Box::pin(self.client.send(out))
    }

    fn min_gap(&self) -> Duration {
        self.min_gap
    }

    fn resolve_lid<'a>(&'a self, lid: &'a str) -> Looking<'a, Phone> {
        Box::pin(self.client.resolve_lid(lid))
    }

    fn group_admins<'a>(&'a self, group: &'a ChatId) -> Looking<'a, Vec<ChatId>> {
        Box::pin(async move { self.client.group_admins(group).await.map(Some) })
    }

    fn account(&self) -> &str {
        &self.session
    }

    fn labels(&self) -> Looking<'_, Vec<LabelInfo>> {
        Box::pin(async move { self.client.labels().await.map(Some) })
    }

    fn label_chats<'a>(&'a self, label_id: &'a str) -> Looking<'a, Vec<ChatId>> {
        Box::pin(async move { self.client.label_chats(label_id).await.map(Some) })
    }
}

/// The Cloud API: notifications signed with the app secret.
pub struct Cloud {
    pub client: CloudClient,
    pub app_secret: String,
    pub min_gap: Duration,
}

impl Gateway for Cloud {
    fn channel(&self) -> Channel {
        Channel::Cloud
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
        signature::verify_cloud(&self.app_secret, header(headers, "x-hub-signature-256"), body)
    }

    fn parse(&self, body: &[u8]) -> Result<Vec<Event>, ParseError> {
        super::cloud::parse(body)
    }

    fn send<'a>(&'a self, out: &'a Outgoing) -> Sending<'a> {
        Box::pin(self.client.send(out))
    }

    fn min_gap(&self) -> Duration {
        self.min_gap
    }
}

/// `juru chat` and the playground: printed, never a webhook.
impl Gateway for ConsoleSink {
    fn channel(&self) -> Channel {
        Channel::Console
    }

    fn verify(&self, _: &HeaderMap, _: &[u8]) -> Result<(), SignatureError> {
        Ok(())
    }

    fn parse(&self, _: &[u8]) -> Result<Vec<Event>, ParseError> {
        Err(ParseError::Shape("the console channel receives no webhooks".into()))
    }

    fn send<'a>(&'a self, out: &'a Outgoing) -> Sending<'a> {
        let sent = ConsoleSink::send(self, out);
        Box::pin(std::future::ready(Ok(sent)))
    }
}

/// The configured gateways, in the order replies prefer them (WAHA first).
#[derive(Clone, Default)]
pub struct Gateways {
    gateways: Vec<Arc<dyn Gateway>>,
}

impl Gateways {
    /// Every gateway whose keys are configured.
    pub fn from_config(config: &crate::config::Config) -> Result<Gateways, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.outbox.timeout_ms))
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(64)
            .user_agent(concat!("juru/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut gateways = Gateways::default();
        if let Some(url) = &config.waha.base_url {
            let client = WahaClient::new(
                http.clone(),
                url.as_str(),
                config.waha.api_key.as_ref().map(|k| k.expose()),
                &config.waha.session,
            );
            gateways.add(Arc::new(Waha {
                client,
                webhook_key: config.waha.webhook_hmac_key.as_ref().map(|k| k.expose().to_string()),
                session: config.waha.session.clone(),
                min_gap: Duration::from_millis(config.waha.min_gap_ms),
            }));
        }
        let cloud = &config.cloud;
        if let (Some(token), Some(id), Some(secret)) = (&cloud.access_token, &cloud.phone_number_id, &cloud.app_secret)
        {
            let client = CloudClient::new(http.clone(), cloud.graph_base_url.as_str(), id, token.expose());
            gateways.add(Arc::new(Cloud {
                client,
                app_secret: secret.expose().to_string(),
                min_gap: Duration::from_millis(cloud.min_gap_ms),
            }));
        }
        Ok(gateways)
    }

    /// Adds (or replaces) the gateway of its channel.
    pub fn add(&mut self, gateway: Arc<dyn Gateway>) {
        self.gateways.retain(|g| g.channel() != gateway.channel());
        self.gateways.push(gateway);
        self.gateways.sort_by_key(|g| g.channel());
    }

    /// Every configured gateway, WAHA first.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn Gateway>> + '_ {
        self.gateways.iter()
    }

    pub fn get(&self, channel: Channel) -> Option<&Arc<dyn Gateway>> {
        self.gateways.iter().find(|g| g.channel() == channel)
    }

    /// The channels that can send, WAHA first.
    pub fn configured(&self) -> impl Iterator<Item = Channel> + '_ {
        self.gateways.iter().map(|g| g.channel())
    }

    pub async fn send(&self, channel: Channel, out: &Outgoing) -> Result<Sent, SendError> {
        self.get(channel).ok_or(SendError::NotConfigured(channel))?.send(out).await
    }
}
