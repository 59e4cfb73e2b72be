//! WAHA (self-hosted WhatsApp HTTP API): webhook envelopes in, REST calls out.
//! Shapes: `shared/reference/whatsapp.md` Part A. Behaviour never depends on `_data`.

use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::senders::{SendError, Sent, retry_after};
use super::{
    Channel, ChatId, ContactCard, Content, DeliveryState, DeliveryUpdate, Event, Inbound, LabelAction, LabelChange,
    MediaKind, OutBody, Outgoing, ParseError, Phone, lenient_u64,
};

// ---------- inbound ----------

/// Either WAHA's envelope or juru's own flat contract `{from, body, timestamp, message_id}`.
#[derive(Deserialize)]
struct Probe<'a> {
    event: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default, deserialize_with = "lenient_u64")]
    timestamp: Option<u64>,
    #[serde(default)]
    session: Option<String>,
    #[serde(borrow)]
    payload: Option<&'a RawValue>,
    /// The session's own WhatsApp account (`{"id": "628…@c.us"}`).
    #[serde(default)]
    me: Option<Me>,
    // flat form
    from: Option<String>,
    body: Option<String>,
    message_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WaMessage {
    id: String,
    #[serde(default, deserialize_with = "lenient_u64")]
    timestamp: Option<u64>,
    from: String,
    to: Option<String>,
    #[serde(default)]
    from_me: bool,
    source: Option<String>,
    participant: Option<String>,
    body: Option<String>,
    #[serde(default)]
    has_media: bool,
    media: Option<WaMedia>,
    location: Option<WaLocation>,
    #[serde(default, rename = "vCards")]
    v_cards: Option<Vec<String>>,
    reply_to: Option<WaReplyTo>,
    reaction: Option<WaReaction>,
    /// The engine's own message object: read for the sender's push name only.
    #[serde(default, rename = "_data")]
    data: Option<Box<RawValue>>,
}

/// Where each engine puts the sender's push name: WEBJS `notifyName`,
/// NOWEB `pushName`, GOWS `Info.PushName`.
#[derive(Deserialize)]
struct EngineData {
    #[serde(rename = "notifyName")]
    notify_name: Option<String>,
    #[serde(rename = "pushName")]
    push_name: Option<String>,
    #[serde(rename = "Info")]
    info: Option<EngineInfo>,
}

#[derive(Deserialize)]
struct EngineInfo {
    #[serde(rename = "PushName")]
    push_name: Option<String>,
}

fn push_name(data: Option<&RawValue>) -> Option<String> {
    let data: EngineData = serde_json::from_str(data?.get()).ok()?;
    [data.notify_name, data.push_name, data.info.and_then(|i| i.push_name)]
        .into_iter()
        .flatten()
        .map(|n| n.trim().to_string())
        .find(|n| !n.is_empty())
}

#[derive(Deserialize)]
struct WaMedia {
    url: Option<String>,
    mimetype: Option<String>,
    filename: Option<String>,
}

#[derive(Deserialize)]
struct WaLocation {
    #[serde(default, deserialize_with = "lenient_f64")]
    latitude: Option<f64>,
    #[serde(default, deserialize_with = "lenient_f64")]
    longitude: Option<f64>,
    description: Option<String>,
    name: Option<String>,
    address: Option<String>,
}

#[derive(Deserialize)]
struct WaReplyTo {
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WaReaction {
    text: Option<String>,
    message_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WaAck {
    id: String,
    from: Option<String>,
    to: Option<String>,
    #[serde(default)]
    from_me: bool,
    ack: i64,
}

#[derive(Deserialize)]
struct WaLabel {
    id: String,
    name: Option<String>,
    color: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WaLabelChat {
    label_id: String,
    chat_id: String,
    label: Option<WaLabel>,
}

/// Parses one WAHA webhook body (envelope or flat form) into events.
/// A label as WAHA's labels API lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelInfo {
    pub id: String,
    pub name: Option<String>,
    pub color: Option<u32>,
}

/// A chat in `labels/{id}/chats`: `"628…@c.us"`, `{"id": "628…@c.us"}` or
/// `{"id": {"_serialized": "628…@c.us"}}` depending on the engine.
#[derive(Deserialize)]
#[serde(untagged)]
enum ChatRef {
    Jid(String),
    Object { id: JidField },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JidField {
    Jid(String),
    Serialized {
        #[serde(rename = "_serialized")]
        serialized: String,
    },
}

impl ChatRef {
    fn jid(&self) -> &str {
        match self {
            ChatRef::Jid(s) | ChatRef::Object { id: JidField::Jid(s) } => s,
            ChatRef::Object { id: JidField::Serialized { serialized } } => serialized,
        }
    }
}

async fn json_of<T: serde::de::DeserializeOwned>(response: reqwest::Response, what: &str) -> Result<T, SendError> {
    if !response.status().is_success() {
        return Err(SendError::Transient {
            reason: format!("{what} API answered {}", response.status()),
            retry_after: None,
        });
    }
    let bytes = response.bytes().await.map_err(SendError::from_transport)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| SendError::Transient { reason: format!("{what} API answer unreadable: {e}"), retry_after: None })
}

#[derive(Deserialize)]
struct Me {
    id: Option<String>,
}

pub fn parse(body: &[u8], default_session: &str) -> Result<Vec<Event>, ParseError> {
    let probe: Probe = serde_json::from_slice(body)?;
    match probe.event.as_deref() {
        Some(event) => {
            let session = probe.session.as_deref().unwrap_or(default_session);
            let payload = probe.payload.ok_or_else(|| ParseError::Shape("envelope without `payload`".into()))?;
            let event_id = probe.id.unwrap_or_else(|| format!("{event}:{}", probe.timestamp.unwrap_or(0)));
            let me = probe
                .me
                .and_then(|m| m.id)
                .and_then(|id| ChatId::from_jid(&id))
                .and_then(|c| c.phone().map(|p| p.to_string()));
            // A known envelope whose payload does not parse is still acknowledged:
            // a 4xx only makes WAHA retry the same bytes.
            let mut events = envelope(event, session, &event_id, payload.get())
                .unwrap_or_else(|e| vec![unreadable(event, session, payload.get(), &e)]);
            for e in &mut events {
                if let Event::Label(change) = e {
                    change.account_number = me.clone();
                }
            }
            Ok(events)
        }
        None => flat(probe, default_session),
    }
}

fn envelope(event: &str, session: &str, event_id: &str, payload: &str) -> Result<Vec<Event>, ParseError> {
    let event = match event {
        "message" | "message.any" | "message.reaction" => message(session, serde_json::from_str(payload)?)?,
        "message.ack" => ack(serde_json::from_str(payload)?),
        "label.upsert" | "label.deleted" => {
            let l: WaLabel = serde_json::from_str(payload)?;
            let action = if event == "label.upsert" { LabelAction::Upserted } else { LabelAction::Deleted };
            Event::Label(LabelChange {
                event_id: event_id.to_string(),
                account: session.to_string(),
                chat: None,
                label_id: l.id,
                label_name: l.name.filter(|n| !n.is_empty()),
                color: l.color,
                action,
                account_number: None,
                polled: false,
            })
        }
        "label.chat.added" | "label.chat.deleted" => {
            let a: WaLabelChat = serde_json::from_str(payload)?;
            let Some(chat) = ChatId::from_jid(&a.chat_id) else {
                return Ok(vec![Event::ignored("label on a chat that is not a person or group")]);
            };
            let action =
                if event == "label.chat.added" { LabelAction::AddedToChat } else { LabelAction::RemovedFromChat };
            Event::Label(LabelChange {
                event_id: event_id.to_string(),
                account: session.to_string(),
                chat: Some(chat),
                label_name: a.label.as_ref().and_then(|l| l.name.clone()).filter(|n| !n.is_empty()),
                color: a.label.as_ref().and_then(|l| l.color),
                label_id: a.label_id,
                action,
                account_number: None,
                polled: false,
            })
        }
        "session.status" => Event::ignored("session.status"),
        "message.ack.group" => Event::ignored("group receipts are not tracked"),
        _ => Event::ignored("unknown WAHA event"),
    };
    Ok(vec![event])
}

/// What is left of a payload that does not parse: a message whose id and
/// chat are readable is recorded as [`Content::Unreadable`]; anything else
/// is counted and logged with the event it came in.
fn unreadable(event: &str, session: &str, payload: &str, error: &ParseError) -> Event {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Head {
        id: Option<String>,
        from: Option<String>,
        #[serde(default)]
        from_me: bool,
    }
    metrics::counter!("juru_webhook_items_unreadable_total", "channel" => "waha", "what" => "payload").increment(1);
    tracing::warn!(channel = "waha", event, %error, "a webhook payload could not be read; acknowledged and recorded");
    let head = serde_json::from_str::<Head>(payload).ok();
    let is_message = matches!(event, "message" | "message.any");
    match head {
        Some(Head { id: Some(id), from: Some(from), from_me: false }) if is_message => match ChatId::from_jid(&from) {
            Some(chat) => {
                let mut ev = Inbound::text_from(Channel::Waha, session, id, chat, "");
                ev.content = Content::Unreadable { what: format!("{event} payload: {error}") };
                Event::Message(Box::new(ev))
            }
            None => Event::ignored("unreadable payload from a chat that is not a person or group"),
        },
        _ => Event::ignored("unreadable webhook payload"),
    }
}

fn message(session: &str, m: WaMessage) -> Result<Event, ParseError> {
    // For our own messages `from` is us and `to` is the chat.
    let chat_jid = if m.from_me { m.to.as_deref().unwrap_or(&m.from) } else { &m.from };
    let Some(chat) = ChatId::from_jid(chat_jid) else {
        return Ok(Event::ignored("status broadcast, channel or unknown chat kind"));
    };
    let sender = match (&chat, m.participant.as_deref().and_then(ChatId::from_jid)) {
        (ChatId::Group(_), Some(member)) => member,
        _ => chat.clone(),
    };
    let text = m.body.filter(|b| !b.is_empty());
    let content = if let Some(r) = m.reaction {
        Content::Reaction { emoji: r.text.unwrap_or_default(), target: r.message_id.unwrap_or_default() }
    } else if let Some(loc) = m.location.filter(|l| l.latitude.is_some() && l.longitude.is_some()) {
        Content::Location {
            latitude: loc.latitude.unwrap_or_default(),
            longitude: loc.longitude.unwrap_or_default(),
            name: loc.name.or(loc.description),
            address: loc.address,
        }
    } else if let Some(cards) = m.v_cards.filter(|c| !c.is_empty()) {
        Content::Contacts { cards: cards.iter().map(|c| vcard(c)).collect() }
    } else if m.has_media {
        let media = m.media.unwrap_or(WaMedia { url: None, mimetype: None, filename: None });
        Content::Media {
            kind: media_kind(media.mimetype.as_deref(), media.filename.is_some()),
            caption: text,
            url: media.url,
            media_id: None,
            mime_type: media.mimetype,
            filename: media.filename,
        }
    } else {
        match text {
            Some(body) => Content::Text { body },
            None => Content::Other { kind: "empty".into() },
        }
    };
    Ok(Event::Message(Box::new(Inbound {
        channel: Channel::Waha,
        account: session.to_string(),
        id: m.id,
        chat,
        sender,
        // Our own messages carry the business's name, not the chat's.
        sender_name: if m.from_me { None } else { push_name(m.data.as_deref()) },
        sender_user_id: None,
        from_me: m.from_me,
        sent_by_api: m.source.as_deref() == Some("api"),
        timestamp: m.timestamp.unwrap_or(0),
        content,
        reply_to: m.reply_to.and_then(|r| r.id),
        referral: None,
    })))
}

fn ack(a: WaAck) -> Event {
    let state = match a.ack {
        -1 => DeliveryState::Failed,
        0 => return Event::ignored("ack pending"),
        1 => DeliveryState::Sent,
        2 => DeliveryState::Delivered,
        3 => DeliveryState::Read,
        4 => DeliveryState::Played,
        _ => return Event::ignored("ack of unknown level"),
    };
    let chat_jid = if a.from_me { a.to.as_deref() } else { a.from.as_deref() };
    Event::Delivery(DeliveryUpdate {
        channel: Channel::Waha,
        message_id: bare_message_id(&a.id).to_string(),
        chat: chat_jid.and_then(ChatId::from_jid),
        state,
        timestamp: 0,
        error: (state == DeliveryState::Failed).then(|| "WAHA reported ack ERROR".to_string()),
    })
}

fn flat(p: Probe, session: &str) -> Result<Vec<Event>, ParseError> {
    let (Some(from), Some(body), Some(id)) = (p.from, p.body, p.message_id) else {
        return Err(ParseError::Shape(
            "neither a WAHA envelope (`event`) nor the flat form (`from`, `body`, `message_id`)".into(),
        ));
    };
    let chat = ChatId::parse(&from)
        .ok_or_else(|| ParseError::Shape(format!("`from` `{from}` is not a phone number or chat id")))?;
    Ok(vec![Event::Message(Box::new(Inbound {
        channel: Channel::Waha,
        account: session.to_string(),
        id,
        sender: chat.clone(),
        chat,
        sender_name: None,
        sender_user_id: None,
        from_me: false,
        sent_by_api: false,
        timestamp: p.timestamp.unwrap_or(0),
        content: Content::Text { body },
        reply_to: None,
        referral: None,
    }))])
}

/// `false_628…@c.us_3EB0…[_participant]` → `3EB0…`; anything else unchanged.
pub fn bare_message_id(serialized: &str) -> &str {
    let mut parts = serialized.splitn(4, '_');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("true" | "false"), Some(_chat), Some(id)) if !id.is_empty() => id,
        _ => serialized,
    }
}

fn media_kind(mime: Option<&str>, has_filename: bool) -> MediaKind {
    match mime.unwrap_or_default() {
        m if m.starts_with("image/webp") && !has_filename => MediaKind::Sticker,
        m if m.starts_with("image/") => MediaKind::Image,
        m if m.starts_with("video/") => MediaKind::Video,
        m if m.starts_with("audio/ogg") => MediaKind::VoiceNote,
        m if m.starts_with("audio/") => MediaKind::Audio,
        _ => MediaKind::Document,
    }
}

fn vcard(card: &str) -> ContactCard {
    let field = |prefix: &str| card.lines().find_map(|l| l.strip_prefix(prefix)).map(|v| v.trim().to_string());
    ContactCard {
        name: field("FN:"),
        phones: card
            .lines()
            .filter(|l| l.starts_with("TEL"))
            .filter_map(|l| l.rsplit(':').next())
            .filter_map(Phone::parse)
            .map(String::from)
            .collect(),
    }
}

fn lenient_f64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrText {
        Num(f64),
        Text(String),
    }
    Ok(match Option::<NumOrText>::deserialize(d)? {
        Some(NumOrText::Num(n)) => Some(n),
        Some(NumOrText::Text(s)) => s.trim().parse().ok(),
        None => None,
    })
}

// ---------- outbound: REST client ----------

/// WAHA: labels, no buttons; read receipts and typing are separate calls.
pub const CAPABILITIES: super::Capabilities =
    super::Capabilities { buttons: false, labels: true, typing_marks_read: false, metered: false };

#[derive(Clone)]
pub struct WahaClient {
    http: reqwest::Client,
    base_url: String,
    api_key: Option<String>,
    session: String,
}

impl WahaClient {
    pub fn new(http: reqwest::Client, base_url: &str, api_key: Option<&str>, session: &str) -> WahaClient {
        WahaClient {
            http,
            base_url: base_url.to_string(),
            api_key: api_key.map(str::to_string),
            session: session.to_string(),
        }
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.post(format!("{}{path}", self.base_url));
        match &self.api_key {
            Some(key) => req.header("X-Api-Key", key),
            None => req,
        }
    }

    pub async fn send(&self, out: &Outgoing) -> Result<Sent, SendError> {
        let (path, body) = request(&self.session, out);
        let request = match &out.body {
            OutBody::Labels { .. } => {
                use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
                let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
                let url = format!("{}/api/{}/labels/chats/{}/", self.base_url, enc(&self.session), enc(&out.to.jid()));
                let req = self.http.put(url);
                match &self.api_key {
                    Some(key) => req.header("X-Api-Key", key),
                    None => req,
                }
            }
            _ => self.post(path),
        };
        let response = request.json(&body).send().await.map_err(SendError::from_transport)?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(SendError::from_transport)?;
        if status.is_success() {
            return Ok(Sent { remote_id: sent_id(&bytes) });
        }
        let reason = format!(
            "WAHA {path} answered HTTP {}: {}",
            status.as_u16(),
            String::from_utf8_lossy(&bytes).chars().take(200).collect::<String>()
        );
        Err(match status.as_u16() {
            429 => SendError::Throttled { reason, retry_after: wait, recipient_only: false },
            s if s >= 500 => SendError::Transient { reason, retry_after: wait },
            s => SendError::Permanent { code: Some(s as i64), reason },
        })
    }

    /// `GET {base}/api/{session}/{what}/{id}{tail}` with the API key and a short timeout.
    async fn lookup(&self, what: &str, id: &str, tail: &str) -> Result<reqwest::Response, SendError> {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        let id = if id.is_empty() { String::new() } else { format!("/{}", utf8_percent_encode(id, NON_ALPHANUMERIC)) };
        let url =
            format!("{}/api/{}/{what}{id}{tail}", self.base_url, utf8_percent_encode(&self.session, NON_ALPHANUMERIC));
        let mut req = self.http.get(url).timeout(Duration::from_secs(5));
        if let Some(key) = &self.api_key {
            req = req.header("X-Api-Key", key);
        }
        req.send().await.map_err(SendError::from_transport)
    }

    /// `GET /api/{session}/groups/{id}/participants/v2` → the members whose
    /// role is `admin` or `superadmin`, as chat ids.
    pub async fn group_admins(&self, group: &ChatId) -> Result<Vec<ChatId>, SendError> {
        let response = self.lookup("groups", &group.jid(), "/participants/v2").await?;
        if !response.status().is_success() {
            return Err(SendError::Transient {
                reason: format!("groups API answered {}", response.status()),
                retry_after: None,
            });
        }
        #[derive(Deserialize)]
        struct Participant {
            id: String,
            #[serde(default)]
            role: String,
        }
        let members: Vec<Participant> = response.json().await.map_err(SendError::from_transport)?;
        Ok(members
            .into_iter()
            .filter(|p| matches!(p.role.as_str(), "admin" | "superadmin"))
            .filter_map(|p| ChatId::from_jid(&p.id))
            .collect())
    }

    /// `GET /api/{session}/labels` → the account's label catalogue.
    pub async fn labels(&self) -> Result<Vec<LabelInfo>, SendError> {
        let response = self.lookup("labels", "", "").await?;
        let labels: Vec<WaLabel> = json_of(response, "labels").await?;
        Ok(labels
            .into_iter()
            .map(|l| LabelInfo { id: l.id, name: l.name.filter(|n| !n.is_empty()), color: l.color })
            .collect())
    }

    /// `GET /api/{session}/labels/{labelId}/chats` → the chats carrying a
    /// label (the shape varies by engine: ids as strings or objects).
    pub async fn label_chats(&self, label_id: &str) -> Result<Vec<ChatId>, SendError> {
        let response = self.lookup("labels", label_id, "/chats").await?;
        let chats: Vec<ChatRef> = json_of(response, "label chats").await?;
        Ok(chats.into_iter().filter_map(|c| ChatId::from_jid(c.jid())).collect())
    }

    /// `GET /api/{session}/lids/{lid}` → the phone number behind a LID, if WAHA knows it.
    pub async fn resolve_lid(&self, lid: &str) -> Result<Option<Phone>, SendError> {
        let response = self.lookup("lids", lid, "").await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(SendError::Transient {
                reason: format!("lids API answered {}", response.status()),
                retry_after: None,
            });
        }
        #[derive(Deserialize)]
        struct LidMapping {
            pn: Option<String>,
        }
        let mapping: LidMapping = response.json().await.map_err(SendError::from_transport)?;
        Ok(mapping.pn.as_deref().and_then(ChatId::from_jid).and_then(|c| c.phone().cloned()))
    }
}

/// The endpoint and JSON body for one outgoing item (reference A7).
pub fn request(session: &str, out: &Outgoing) -> (&'static str, serde_json::Value) {
    use serde_json::json;
    let chat_id = out.to.jid();
    match &out.body {
        OutBody::Text { text } => {
            with_reply("/api/sendText", json!({"session": session, "chatId": chat_id, "text": text}), out)
        }
        OutBody::Image { url, caption } => {
            let mut b = json!({"session": session, "chatId": chat_id, "file": {"mimetype": mime_for(url, "image/jpeg"), "url": url}});
            if let Some(c) = caption {
                b["caption"] = json!(c);
            }
            with_reply("/api/sendImage", b, out)
        }
        OutBody::Document { url, filename, caption } => {
            let mut b = json!({"session": session, "chatId": chat_id, "file": {"mimetype": mime_for(url, "application/pdf"), "url": url}});
            b["file"]["filename"] = json!(filename.clone().unwrap_or_else(|| file_name(url)));
            if let Some(c) = caption {
                b["caption"] = json!(c);
            }
            with_reply("/api/sendFile", b, out)
        }
        OutBody::Buttons { text, buttons } => with_reply(
            "/api/sendText",
            json!({"session": session, "chatId": chat_id, "text": OutBody::numbered(text, buttons)}),
            out,
        ),
        OutBody::Video { url, caption } => {
            let file = json!({"mimetype": mime_for(url, "video/mp4"), "url": url});
            let mut b = json!({"session": session, "chatId": chat_id, "file": file});
            if let Some(c) = caption {
                b["caption"] = json!(c);
            }
            with_reply("/api/sendVideo", b, out)
        }
        OutBody::Location { latitude, longitude, name, .. } => (
            "/api/sendLocation",
            json!({"session": session, "chatId": chat_id, "latitude": latitude, "longitude": longitude, "title": name}),
        ),
        OutBody::Typing { .. } => ("/api/startTyping", json!({"session": session, "chatId": chat_id})),
        OutBody::Seen { message_id } => {
            ("/api/sendSeen", json!({"session": session, "chatId": chat_id, "messageIds": [message_id]}))
        }
        // PUT /api/{session}/labels/chats/{chatId}/ (the path is built by the client).
        OutBody::Labels { label_ids, .. } => {
            let labels: Vec<_> = label_ids.iter().map(|id| json!({"id": id})).collect();
            ("/api/{session}/labels/chats/{chatId}/", json!({"labels": labels}))
        }
    }
}

fn with_reply(path: &'static str, mut body: serde_json::Value, out: &Outgoing) -> (&'static str, serde_json::Value) {
    if let Some(id) = &out.reply_to {
        body["reply_to"] = serde_json::json!(id);
    }
    (path, body)
}

fn file_name(url: &str) -> String {
    url.rsplit('/').next().filter(|s| !s.is_empty()).unwrap_or("file").split('?').next().unwrap_or("file").to_string()
}

fn mime_for(url: &str, fallback: &'static str) -> &'static str {
    let ext = file_name(url).rsplit('.').next().unwrap_or_default().to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "mp4" => "video/mp4",
        _ => fallback,
    }
}

/// Send responses differ per engine (reference A7): `{"id": "true_…_ID"}`,
/// `{"id": {"_serialized": …}}`, NOWEB's `{"key": {"id": "ID"}}`, or an empty body.
fn sent_id(bytes: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IdField {
        Text(String),
        Object {
            #[serde(rename = "_serialized")]
            serialized: Option<String>,
            id: Option<String>,
        },
    }
    #[derive(Deserialize)]
    struct Key {
        id: Option<String>,
    }
    #[derive(Deserialize)]
    struct Response {
        id: Option<IdField>,
        key: Option<Key>,
    }
    let r: Response = serde_json::from_slice(bytes).ok()?;
    let id = match r.id {
        Some(IdField::Text(s)) => Some(s),
        Some(IdField::Object { serialized, id }) => serialized.or(id),
        None => None,
    }
    .or_else(|| r.key.and_then(|k| k.id))?;
    Some(bare_message_id(&id).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_ids_reduce_to_the_bare_message_id() {
        assert_eq!(bare_message_id("false_6281234567890@c.us_3EB0A1B2"), "3EB0A1B2");
        assert_eq!(bare_message_id("false_120363@g.us_3EB0F9_6285798765432@c.us"), "3EB0F9");
        assert_eq!(bare_message_id("3EB0A1B2"), "3EB0A1B2");
    }

    #[test]
    fn send_ids_are_read_from_every_engine_shape() {
        assert_eq!(sent_id(br#"{"id":"true_628@c.us_ABC"}"#).as_deref(), Some("ABC"));
        assert_eq!(sent_id(br#"{"id":{"fromMe":true,"_serialized":"true_628@c.us_DEF"}}"#).as_deref(), Some("DEF"));
        assert_eq!(
            sent_id(br#"{"key":{"remoteJid":"628@s.whatsapp.net","fromMe":true,"id":"GHI"}}"#).as_deref(),
            Some("GHI")
        );
        assert_eq!(sent_id(b""), None);
    }

    #[test]
    fn a_document_gets_a_file_name_and_mimetype() {
        let out = Outgoing {
            to: ChatId::Phone(Phone::parse("6281234567890").unwrap()),
            body: OutBody::Document { url: "https://x.id/brosur.pdf".into(), filename: None, caption: None },
            reply_to: None,
            meta: Default::default(),
        };
        let (path, body) = request("default", &out);
        assert_eq!(path, "/api/sendFile");
        assert_eq!(body["chatId"], "6281234567890@c.us");
        assert_eq!(body["file"]["filename"], "brosur.pdf");
        assert_eq!(body["file"]["mimetype"], "application/pdf");
    }
}
