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
use super::waha::WahaClient;
use super::{Capabilities, Channel, Event, Outgoing, ParseError, SendError, Sent};

/// A send in flight (boxed so that gateways can sit behind `dyn`).
pub type Sending<'a> = Pin<Box<dyn Future<Output = Result<Sent, SendError>> + Send + 'a>>;

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
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// WAHA: `X-Webhook-Hmac` when a key is configured; envelopes of its session.
pub struct Waha {
    pub client: WahaClient,
    pub webhook_key: Option<String>,
    pub session: String,
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
}

/// The Cloud API: notifications signed with the app secret.
pub struct Cloud {
    pub client: CloudClient,
    pub app_secret: String,
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
    /// WAHA's own APIs beyond sending (LID lookup, labels, group admins).
    pub waha: Option<WahaClient>,
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
            gateways.waha = Some(client.clone());
            gateways.add(Arc::new(Waha {
                client,
                webhook_key: config.waha.webhook_hmac_key.as_ref().map(|k| k.expose().to_string()),
                session: config.waha.session.clone(),
            }));
        }
        let cloud = &config.cloud;
        if let (Some(token), Some(id), Some(secret)) = (&cloud.access_token, &cloud.phone_number_id, &cloud.app_secret)
        {
            let client = CloudClient::new(http.clone(), cloud.graph_base_url.as_str(), id, token.expose());
            gateways.add(Arc::new(Cloud { client, app_secret: secret.expose().to_string() }));
        }
        Ok(gateways)
    }

    /// Adds (or replaces) the gateway of its channel.
    pub fn add(&mut self, gateway: Arc<dyn Gateway>) {
        self.gateways.retain(|g| g.channel() != gateway.channel());
        self.gateways.push(gateway);
        self.gateways.sort_by_key(|g| g.channel());
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
