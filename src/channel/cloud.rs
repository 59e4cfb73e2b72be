//! WhatsApp Cloud API (Meta Graph): webhook notifications in, `/messages` calls out.
//! Shapes: `shared/reference/whatsapp.md` Part B.

use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::senders::{SendError, Sent, retry_after};
use super::{
    Channel, ChatId, ContactCard, Content, DeliveryState, DeliveryUpdate, Event, Inbound, MediaKind, OutBody, Outgoing,
    ParseError, Phone, Referral, lenient_u64,
};

// ---------- inbound: notification envelope ----------

#[derive(Deserialize)]
struct Notification<'a> {
    object: String,
    #[serde(default, borrow)]
    entry: Vec<Entry<'a>>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(default, borrow)]
    changes: Vec<Change<'a>>,
}

#[derive(Deserialize)]
struct Change<'a> {
    field: String,
    /// Read only when `field == "messages"`; other fields have other shapes.
    #[serde(borrow)]
    value: &'a RawValue,
}

#[derive(Deserialize)]
struct MessagesValue {
    metadata: Metadata,
    #[serde(default)]
    contacts: Vec<CloudContact>,
    #[serde(default)]
    messages: Vec<CloudMessage>,
    #[serde(default)]
    statuses: Vec<CloudStatus>,
}

#[derive(Deserialize)]
struct Metadata {
    phone_number_id: String,
}

#[derive(Deserialize)]
struct CloudContact {
    wa_id: String,
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    name: Option<String>,
}

#[derive(Deserialize)]
struct CloudMessage {
    from: String,
    id: String,
    #[serde(default, deserialize_with = "lenient_u64")]
    timestamp: Option<u64>,
    #[serde(rename = "type")]
    kind: String,
    text: Option<TextObj>,
    image: Option<MediaObj>,
    video: Option<MediaObj>,
    audio: Option<MediaObj>,
    document: Option<MediaObj>,
    sticker: Option<MediaObj>,
    location: Option<LocationObj>,
    contacts: Option<Vec<CardObj>>,
    interactive: Option<InteractiveObj>,
    button: Option<ButtonObj>,
    reaction: Option<ReactionObj>,
    context: Option<ContextObj>,
    referral: Option<ReferralObj>,
}

#[derive(Deserialize)]
struct TextObj {
    body: String,
}

#[derive(Deserialize)]
struct MediaObj {
    id: Option<String>,
    mime_type: Option<String>,
    caption: Option<String>,
    filename: Option<String>,
    #[serde(default)]
    voice: bool,
}

#[derive(Deserialize)]
struct LocationObj {
    latitude: f64,
    longitude: f64,
    name: Option<String>,
    address: Option<String>,
}

#[derive(Deserialize)]
struct CardObj {
    name: Option<CardName>,
    #[serde(default)]
    phones: Vec<CardPhone>,
}

#[derive(Deserialize)]
struct CardName {
    formatted_name: Option<String>,
}

#[derive(Deserialize)]
struct CardPhone {
    phone: Option<String>,
    wa_id: Option<String>,
}

#[derive(Deserialize)]
struct InteractiveObj {
    button_reply: Option<ReplyObj>,
    list_reply: Option<ReplyObj>,
}

#[derive(Deserialize)]
struct ReplyObj {
    id: String,
    title: String,
}

#[derive(Deserialize)]
struct ButtonObj {
    payload: Option<String>,
    text: String,
}

#[derive(Deserialize)]
struct ReactionObj {
    message_id: String,
    emoji: Option<String>,
}

#[derive(Deserialize)]
struct ContextObj {
    id: Option<String>,
}

#[derive(Deserialize)]
struct ReferralObj {
    source_url: Option<String>,
    source_id: Option<String>,
    source_type: Option<String>,
    headline: Option<String>,
    body: Option<String>,
    media_type: Option<String>,
    ctwa_clid: Option<String>,
}

#[derive(Deserialize)]
struct CloudStatus {
    id: String,
    status: String,
    #[serde(default, deserialize_with = "lenient_u64")]
    timestamp: Option<u64>,
    recipient_id: Option<String>,
    #[serde(default)]
    errors: Vec<CloudErrorObj>,
}

#[derive(Deserialize)]
struct CloudErrorObj {
    code: Option<i64>,
    title: Option<String>,
    message: Option<String>,
}

/// Parses one notification POST into every message and status it carries.
pub fn parse(body: &[u8]) -> Result<Vec<Event>, ParseError> {
    let note: Notification = serde_json::from_slice(body)?;
    if note.object != "whatsapp_business_account" {
        return Err(ParseError::Shape(format!("object `{}` is not whatsapp_business_account", note.object)));
    }
    let mut events = Vec::new();
    for change in note.entry.iter().flat_map(|e| &e.changes) {
        if change.field != "messages" {
            events.push(Event::ignored("cloud change field other than messages"));
            continue;
        }
        let value: MessagesValue = serde_json::from_str(change.value.get())?;
        let account = value.metadata.phone_number_id;
        for message in value.messages {
            let name =
                value.contacts.iter().find(|c| c.wa_id == message.from).and_then(|c| c.profile.as_ref()?.name.clone());
            events.push(inbound(&account, message, name)?);
        }
        for status in value.statuses {
            events.push(delivery(status));
        }
    }
    Ok(events)
}

fn inbound(account: &str, m: CloudMessage, sender_name: Option<String>) -> Result<Event, ParseError> {
    let Some(phone) = Phone::parse(&m.from) else {
        return Err(ParseError::Shape(format!("message `from` `{}` is not a wa_id", m.from)));
    };
    let media = |kind: MediaKind, obj: MediaObj| Content::Media {
        kind: if kind == MediaKind::Audio && obj.voice { MediaKind::VoiceNote } else { kind },
        caption: obj.caption,
        url: None,
        media_id: obj.id,
        mime_type: obj.mime_type,
        filename: obj.filename,
    };
    let other = |kind: &str| Content::Other { kind: kind.to_string() };
    let content = match m.kind.as_str() {
        "text" => m.text.map(|t| Content::Text { body: t.body }).unwrap_or_else(|| other("text")),
        "image" => m.image.map(|o| media(MediaKind::Image, o)).unwrap_or_else(|| other("image")),
        "video" => m.video.map(|o| media(MediaKind::Video, o)).unwrap_or_else(|| other("video")),
        "audio" => m.audio.map(|o| media(MediaKind::Audio, o)).unwrap_or_else(|| other("audio")),
        "document" => m.document.map(|o| media(MediaKind::Document, o)).unwrap_or_else(|| other("document")),
        "sticker" => m.sticker.map(|o| media(MediaKind::Sticker, o)).unwrap_or_else(|| other("sticker")),
        "location" => m
            .location
            .map(|l| Content::Location {
                latitude: l.latitude,
                longitude: l.longitude,
                name: l.name,
                address: l.address,
            })
            .unwrap_or_else(|| other("location")),
        "contacts" => Content::Contacts {
            cards: m
                .contacts
                .unwrap_or_default()
                .into_iter()
                .map(|c| ContactCard {
                    name: c.name.and_then(|n| n.formatted_name),
                    phones: c.phones.into_iter().filter_map(|p| p.wa_id.or(p.phone)).collect(),
                })
                .collect(),
        },
        "interactive" => match m.interactive.and_then(|i| i.button_reply.or(i.list_reply)) {
            Some(r) => Content::ButtonReply { id: r.id, title: r.title },
            None => other("interactive"),
        },
        "button" => match m.button {
            Some(b) => Content::ButtonReply { id: b.payload.unwrap_or_else(|| b.text.clone()), title: b.text },
            None => other("button"),
        },
        "reaction" => match m.reaction {
            Some(r) => Content::Reaction { emoji: r.emoji.unwrap_or_default(), target: r.message_id },
            None => other("reaction"),
        },
        kind => other(kind),
    };
    let chat = ChatId::Phone(phone);
    Ok(Event::Message(Box::new(Inbound {
        channel: Channel::Cloud,
        account: account.to_string(),
        id: m.id,
        sender: chat.clone(),
        chat,
        sender_name,
        from_me: false, // Cloud never echoes our own messages as `messages`
        sent_by_api: false,
        timestamp: m.timestamp.unwrap_or(0),
        content,
        reply_to: m.context.and_then(|c| c.id),
        referral: m.referral.map(|r| Referral {
            source_url: r.source_url,
            source_id: r.source_id,
            source_type: r.source_type,
            headline: r.headline,
            body: r.body,
            media_type: r.media_type,
            ctwa_clid: r.ctwa_clid,
        }),
    })))
}

fn delivery(s: CloudStatus) -> Event {
    let state = match s.status.as_str() {
        "sent" => DeliveryState::Sent,
        "delivered" => DeliveryState::Delivered,
        "read" => DeliveryState::Read,
        "played" => DeliveryState::Played,
        "failed" => DeliveryState::Failed,
        _ => return Event::ignored("cloud status of unknown kind"),
    };
    let error = s.errors.first().map(|e| {
        format!(
            "{} {}",
            e.code.map(|c| c.to_string()).unwrap_or_default(),
            e.message.as_deref().or(e.title.as_deref()).unwrap_or_default()
        )
        .trim()
        .to_string()
    });
    Event::Delivery(DeliveryUpdate {
        channel: Channel::Cloud,
        message_id: s.id,
        chat: s.recipient_id.as_deref().and_then(Phone::parse).map(ChatId::Phone),
        state,
        timestamp: s.timestamp.unwrap_or(0),
        error,
    })
}

// ---------- outbound: Graph API sender ----------

/// Cloud API: interactive buttons; `status: read` with a `typing_indicator`
/// is one call; sends are metered per number (`[cloud] max_mps`).
pub const CAPABILITIES: super::Capabilities =
    super::Capabilities { buttons: true, labels: false, typing_marks_read: true, metered: true };

#[derive(Clone)]
pub struct CloudClient {
    http: reqwest::Client,
    messages_url: String,
    access_token: String,
}

impl CloudClient {
    pub fn new(http: reqwest::Client, graph_base_url: &str, phone_number_id: &str, access_token: &str) -> CloudClient {
        CloudClient {
            http,
            messages_url: format!("{graph_base_url}/{phone_number_id}/messages"),
            access_token: access_token.to_string(),
        }
    }

    pub async fn send(&self, out: &Outgoing) -> Result<Sent, SendError> {
        let body = request_body(out)?;
        let response = self
            .http
            .post(&self.messages_url)
            .bearer_auth(&self.access_token)
            .json(&body)
            .send()
            .await
            .map_err(SendError::from_transport)?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(SendError::from_transport)?;
        if status.is_success() {
            #[derive(Deserialize)]
            struct Ok {
                #[serde(default)]
                messages: Vec<Id>,
            }
            #[derive(Deserialize)]
            struct Id {
                id: String,
            }
            let remote_id =
                serde_json::from_slice::<Ok>(&bytes).ok().and_then(|b| b.messages.into_iter().next()).map(|m| m.id);
            return Ok(Sent { remote_id });
        }
        Err(classify_error(status.as_u16(), &bytes, wait))
    }
}

/// The JSON for `POST /{phone_number_id}/messages`.
pub fn request_body(out: &Outgoing) -> Result<serde_json::Value, SendError> {
    use serde_json::json;
    let to = match &out.to {
        ChatId::Phone(p) => p.to_string(),
        other => {
            return Err(SendError::Permanent {
                code: None,
                reason: format!("the Cloud API cannot send to {}", other.key()),
            });
        }
    };
    let mut body = match &out.body {
        OutBody::Labels { .. } => {
            return Err(SendError::Permanent {
                code: None,
                reason: "WhatsApp labels can be set only through WAHA".into(),
            });
        }
        OutBody::Seen { message_id } => {
            return Ok(json!({"messaging_product": "whatsapp", "status": "read", "message_id": message_id}));
        }
        OutBody::Typing { message_id } => {
            return Ok(json!({"messaging_product": "whatsapp", "status": "read", "message_id": message_id,
                             "typing_indicator": {"type": "text"}}));
        }
        OutBody::Text { text } => {
            json!({"type": "text", "text": {"body": text, "preview_url": false}})
        }
        OutBody::Image { url, caption } => {
            let mut image = json!({"link": url});
            if let Some(c) = caption {
                image["caption"] = json!(c);
            }
            json!({"type": "image", "image": image})
        }
        OutBody::Document { url, filename, caption } => {
            let mut doc = json!({"link": url});
            if let Some(f) = filename {
                doc["filename"] = json!(f);
            }
            if let Some(c) = caption {
                doc["caption"] = json!(c);
            }
            json!({"type": "document", "document": doc})
        }
        OutBody::Buttons { text, buttons } => {
            let buttons: Vec<_> = buttons
                .iter()
                .take(3)
                .map(|b| json!({"type": "reply", "reply": {"id": b.id, "title": b.title.chars().take(20).collect::<String>()}}))
                .collect();
            json!({"type": "interactive", "interactive": {"type": "button", "body": {"text": text}, "action": {"buttons": buttons}}})
        }
        OutBody::Video { url, caption } => {
            let mut video = json!({"link": url});
            if let Some(c) = caption {
                video["caption"] = json!(c);
            }
            json!({"type": "video", "video": video})
        }
        OutBody::Location { latitude, longitude, name, address } => json!({"type": "location",
            "location": {"latitude": latitude, "longitude": longitude, "name": name, "address": address}}),
    };
    body["messaging_product"] = json!("whatsapp");
    body["recipient_type"] = json!("individual");
    body["to"] = json!(to);
    if let Some(id) = &out.reply_to {
        body["context"] = json!({"message_id": id});
    }
    Ok(body)
}

/// Graph error classes (reference B7): throttle, pair rate, window, permanent, transient.
fn classify_error(http_status: u16, body: &[u8], wait: Option<Duration>) -> SendError {
    #[derive(Deserialize)]
    struct Envelope {
        error: GraphError,
    }
    #[derive(Deserialize)]
    struct GraphError {
        code: Option<i64>,
        message: Option<String>,
        error_data: Option<ErrorData>,
    }
    #[derive(Deserialize)]
    struct ErrorData {
        details: Option<String>,
    }
    let parsed = serde_json::from_slice::<Envelope>(body).ok().map(|e| e.error);
    let code = parsed.as_ref().and_then(|e| e.code);
    let reason = match &parsed {
        Some(e) => {
            let details = e.error_data.as_ref().and_then(|d| d.details.clone());
            format!(
                "graph error {}: {}",
                code.map(|c| c.to_string()).unwrap_or_else(|| "?".into()),
                details.or_else(|| e.message.clone()).unwrap_or_default()
            )
        }
        None => format!("HTTP {http_status}"),
    };
    match code {
        Some(131056) => SendError::Throttled { reason, retry_after: wait, recipient_only: true },
        Some(130429) | Some(4) | Some(80007) => {
            SendError::Throttled { reason, retry_after: wait, recipient_only: false }
        }
        Some(1) | Some(2) | Some(131000) => SendError::Transient { reason, retry_after: wait },
        Some(code) if http_status < 500 && http_status != 429 => SendError::Permanent { code: Some(code), reason },
        _ if http_status == 429 => SendError::Throttled { reason, retry_after: wait, recipient_only: false },
        _ if http_status >= 500 => SendError::Transient { reason, retry_after: wait },
        _ => SendError::Permanent { code, reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_rate_errors_back_off_one_recipient_only() {
        let body =
            br#"{"error":{"message":"x","type":"OAuthException","code":131056,"error_data":{"details":"pair rate"}}}"#;
        assert!(matches!(classify_error(400, body, None), SendError::Throttled { recipient_only: true, .. }));
    }

    #[test]
    fn the_24_hour_window_error_is_permanent() {
        let body = br#"{"error":{"message":"Re-engagement message","code":131047}}"#;
        assert!(matches!(classify_error(400, body, None), SendError::Permanent { code: Some(131047), .. }));
    }

    #[test]
    fn server_errors_and_429_are_retried() {
        assert!(matches!(classify_error(503, b"oops", None), SendError::Transient { .. }));
        assert!(matches!(classify_error(429, b"", None), SendError::Throttled { recipient_only: false, .. }));
    }

    #[test]
    fn a_reply_quotes_the_inbound_message() {
        let out = Outgoing {
            to: ChatId::Phone(Phone::parse("6281234567890").unwrap()),
            body: OutBody::Text { text: "halo".into() },
            reply_to: Some("wamid.X".into()),
            meta: Default::default(),
        };
        let body = request_body(&out).unwrap();
        assert_eq!(body["to"], "6281234567890");
        assert_eq!(body["text"]["body"], "halo");
        assert_eq!(body["context"]["message_id"], "wamid.X");
        assert_eq!(body["messaging_product"], "whatsapp");
    }
}
