//! WhatsApp Cloud API (Meta Graph): webhook notifications in, `/messages` calls out.
//! Shapes: `shared/reference/whatsapp.md` Part B.

use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::senders::{SendError, Sent, retry_after};
use super::{
    Channel, ChatId, ContactCard, Content, DeliveryState, DeliveryUpdate, Event, IdentityChange, Inbound, MediaKind,
    OutBody, Outgoing, ParseError, Phone, Referral, lenient_u64,
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

/// A `messages` change. Messages, statuses and contacts stay raw here: each
/// is read on its own, so one that does not parse never costs the others.
#[derive(Deserialize)]
struct MessagesValue<'a> {
    metadata: Metadata,
    #[serde(default, borrow)]
    contacts: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    messages: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    statuses: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Metadata {
    phone_number_id: String,
}

/// `contacts[]`: `wa_id` may be `""` or absent for a user with a username;
/// `user_id` is the business-scoped user id.
#[derive(Deserialize)]
struct CloudContact {
    #[serde(default)]
    wa_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    name: Option<String>,
    username: Option<String>,
}

/// What every message must have to be recorded at all: its id and who sent it.
#[derive(Deserialize)]
struct MessageHead {
    id: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    from_user_id: Option<String>,
    #[serde(default)]
    group_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_u64")]
    timestamp: Option<u64>,
}

#[derive(Deserialize)]
struct CloudMessage {
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
    system: Option<SystemObj>,
    context: Option<ContextObj>,
    referral: Option<ReferralObj>,
}

/// `system`: `user_changed_number` (new number in `wa_id`, older payloads
/// `new_wa_id`) or `user_changed_user_id` (new user id only).
#[derive(Deserialize)]
struct SystemObj {
    #[serde(rename = "type")]
    kind: Option<String>,
    wa_id: Option<String>,
    new_wa_id: Option<String>,
    user_id: Option<String>,
    new_user_id: Option<String>,
    previous_user_id: Option<String>,
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
    /// The recipient's business-scoped user id (present when sent to one).
    recipient_user_id: Option<String>,
    #[serde(default)]
    errors: Vec<CloudErrorObj>,
}

/// `user_id_update`: a user's business-scoped id changed (it does when
/// their phone number does).
#[derive(Deserialize)]
struct UserIdUpdateValue<'a> {
    metadata: Metadata,
    #[serde(default, borrow)]
    user_id_update: Vec<&'a RawValue>,
}

/// `{wa_id?, detail, user_id: {previous, current}, parent_user_id?, timestamp}`.
#[derive(Deserialize)]
struct UserIdUpdate {
    #[serde(default)]
    wa_id: Option<String>,
    #[serde(default)]
    user_id: Option<IdPair>,
    #[serde(default, deserialize_with = "lenient_u64")]
    timestamp: Option<u64>,
}

#[derive(Deserialize)]
struct IdPair {
    previous: Option<String>,
    current: Option<String>,
}

#[derive(Deserialize)]
struct CloudErrorObj {
    code: Option<i64>,
    title: Option<String>,
    message: Option<String>,
}

/// Parses one notification POST into every message and status it carries.
/// Only what is not a WhatsApp notification at all is an error; a message or
/// status that does not parse is counted, logged with its field and, when its
/// id and sender are readable, recorded as [`Content::Unreadable`].
pub fn parse(body: &[u8]) -> Result<Vec<Event>, ParseError> {
    let note: Notification = serde_json::from_slice(body)?;
    if note.object != "whatsapp_business_account" {
        return Err(ParseError::Shape(format!("object `{}` is not whatsapp_business_account", note.object)));
    }
    let mut events = Vec::new();
    for change in note.entry.iter().flat_map(|e| &e.changes) {
        match change.field.as_str() {
            "messages" => match serde_json::from_str::<MessagesValue>(change.value.get()) {
                Ok(value) => messages(value, &mut events),
                Err(e) => events.push(unreadable("messages value", &e)),
            },
            "user_id_update" => match serde_json::from_str::<UserIdUpdateValue>(change.value.get()) {
                Ok(value) => user_id_updates(value, &mut events),
                Err(e) => events.push(unreadable("user_id_update value", &e)),
            },
            _ => events.push(Event::ignored("cloud change field juru does not read")),
        }
    }
    Ok(events)
}

/// Counted and logged with the field it concerns; nothing to record it under.
fn unreadable(what: &'static str, error: &dyn std::fmt::Display) -> Event {
    metrics::counter!("juru_webhook_items_unreadable_total", "channel" => "cloud", "what" => what).increment(1);
    tracing::warn!(channel = "cloud", what, %error, "a webhook item could not be read; the rest of the POST is kept");
    Event::ignored("unreadable webhook item")
}

fn messages(value: MessagesValue, events: &mut Vec<Event>) {
    let account = value.metadata.phone_number_id;
    let contacts: Vec<CloudContact> =
        value.contacts.iter().filter_map(|c| serde_json::from_str::<CloudContact>(c.get()).ok()).collect();
    for raw in value.messages {
        events.push(message(&account, raw.get(), &contacts));
    }
    for raw in value.statuses {
        match serde_json::from_str::<CloudStatus>(raw.get()) {
            Ok(status) => events.push(delivery(status)),
            Err(e) => events.push(unreadable("statuses[]", &e)),
        }
    }
}

/// The person a message names: the phone number when there is one, else the user id.
fn person(phone: Option<&str>, user_id: Option<&str>) -> Option<ChatId> {
    phone.and_then(Phone::parse).map(ChatId::Phone).or_else(|| user_id.and_then(ChatId::user))
}

fn message(account: &str, raw: &str, contacts: &[CloudContact]) -> Event {
    let head = match serde_json::from_str::<MessageHead>(raw) {
        Ok(head) => head,
        Err(e) => return unreadable("messages[]", &e),
    };
    let parsed = serde_json::from_str::<CloudMessage>(raw);
    // `user_changed_user_id` names the person only by the id it replaces.
    let previous = parsed.as_ref().ok().and_then(|m| m.system.as_ref()?.previous_user_id.clone());
    let user_id = head.from_user_id.as_deref().filter(|u| !u.is_empty()).or(previous.as_deref());
    let (Some(id), Some(sender)) = (head.id.clone(), person(head.from.as_deref(), user_id)) else {
        return unreadable("messages[] id or sender (from, from_user_id)", &"missing or not a wa_id / user id");
    };
    let contact = contacts.iter().find(|c| {
        let same_phone = c.wa_id.as_deref().is_some_and(|w| !w.is_empty() && Some(w) == head.from.as_deref());
        same_phone || (user_id.is_some() && c.user_id.as_deref() == user_id)
    });
    let profile = contact.and_then(|c| c.profile.as_ref());
    let sender_name = profile.and_then(|p| p.name.clone().or_else(|| p.username.clone()));
    let sender_user_id = user_id.map(str::to_string).or_else(|| contact.and_then(|c| c.user_id.clone()));
    let (content, reply_to, referral) = match parsed {
        Ok(m) => content(m),
        Err(e) => {
            let what = format!("messages[] body: {e}");
            metrics::counter!("juru_webhook_items_unreadable_total", "channel" => "cloud", "what" => "messages[] body")
                .increment(1);
            tracing::warn!(channel = "cloud", message = %id, error = %e, "a message body could not be read; recorded as unreadable");
            (Content::Unreadable { what }, None, None)
        }
    };
    // A Cloud API group message carries the group's id: it takes the group path.
    let chat = match head.group_id.filter(|g| !g.is_empty()) {
        Some(group) => ChatId::Group(group),
        None => sender.clone(),
    };
    Event::Message(Box::new(Inbound {
        channel: Channel::Cloud,
        account: account.to_string(),
        id,
        chat,
        sender,
        sender_name,
        sender_user_id,
        from_me: false, // Cloud never echoes our own messages as `messages`
        sent_by_api: false,
        timestamp: head.timestamp.unwrap_or(0),
        content,
        reply_to,
        referral,
    }))
}

fn content(m: CloudMessage) -> (Content, Option<String>, Option<Referral>) {
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
        "system" => match m.system {
            Some(sys) => Content::IdentityChanged(IdentityChange {
                kind: sys.kind.unwrap_or_else(|| "system".into()),
                new_phone: sys.new_wa_id.or(sys.wa_id).as_deref().and_then(Phone::parse),
                new_user_id: sys.new_user_id.or(sys.user_id).filter(|u| ChatId::user(u).is_some()),
                old_user_id: sys.previous_user_id,
            }),
            None => other("system"),
        },
        kind => other(kind),
    };
    let referral = m.referral.map(|r| Referral {
        source_url: r.source_url,
        source_id: r.source_id,
        source_type: r.source_type,
        headline: r.headline,
        body: r.body,
        media_type: r.media_type,
        ctwa_clid: r.ctwa_clid,
    });
    (content, m.context.and_then(|c| c.id), referral)
}

/// Each update becomes an identity change of the person it names, keyed by
/// the id it replaces (a redelivery is deduped like a message).
fn user_id_updates(value: UserIdUpdateValue, events: &mut Vec<Event>) {
    let account = value.metadata.phone_number_id;
    for raw in value.user_id_update {
        let update = match serde_json::from_str::<UserIdUpdate>(raw.get()) {
            Ok(u) => u,
            Err(e) => {
                events.push(unreadable("user_id_update[]", &e));
                continue;
            }
        };
        let (previous, current) = update.user_id.map_or((None, None), |p| (p.previous, p.current));
        let Some(person) = person(update.wa_id.as_deref(), previous.as_deref()) else {
            events.push(unreadable("user_id_update[] person (wa_id, user_id.previous)", &"missing"));
            continue;
        };
        let new_user_id = current.filter(|u| ChatId::user(u).is_some());
        let id = format!("user_id_update:{}:{}", person.key(), new_user_id.as_deref().unwrap_or_default());
        let mut ev = Inbound::text_from(Channel::Cloud, &account, id, person, "");
        ev.timestamp = update.timestamp.unwrap_or(0);
        ev.content = Content::IdentityChanged(IdentityChange {
            kind: "user_id_update".into(),
            new_phone: None,
            new_user_id,
            old_user_id: previous,
        });
        events.push(Event::Message(Box::new(ev)));
    }
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
        chat: person(s.recipient_id.as_deref(), s.recipient_user_id.as_deref()),
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
    // A phone number goes in `to`; a business-scoped user id in `recipient`
    // (Meta: `to` wins when both are given, so only one is ever set).
    let (field, to, recipient_type) = match &out.to {
        ChatId::Phone(p) => ("to", p.to_string(), "individual"),
        ChatId::User(u) => ("recipient", u.clone(), "individual"),
        ChatId::Group(g) => ("to", g.clone(), "group"),
        other @ ChatId::Lid(_) => {
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
    body["recipient_type"] = json!(recipient_type);
    body[field] = json!(to);
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
    fn a_status_sent_to_a_user_id_names_that_user() {
        for file in ["status_bsuid.json", "status_bsuid_failed.json"] {
            let body = std::fs::read(format!("{}/tests/fixtures/cloud/bsuid/{file}", env!("CARGO_MANIFEST_DIR")));
            let events = parse(&body.unwrap()).unwrap();
            let Some(Event::Delivery(update)) = events.first() else { panic!("{file}: {events:?}") };
            assert_eq!(update.chat, Some(ChatId::User("US.13491208655302741918".into())), "{file}");
        }
    }

    #[test]
    fn a_send_to_a_user_id_uses_recipient_and_a_group_send_names_the_group() {
        let mut out = Outgoing {
            to: ChatId::User("US.13491208655302741918".into()),
            body: OutBody::Text { text: "halo".into() },
            reply_to: None,
            meta: Default::default(),
        };
        let body = request_body(&out).unwrap();
        assert_eq!(body["recipient"], "US.13491208655302741918");
        assert!(body.get("to").is_none());
        out.to = ChatId::Group("HBgLMTY1MDM4".into());
        let body = request_body(&out).unwrap();
        assert_eq!((body["to"].as_str(), body["recipient_type"].as_str()), (Some("HBgLMTY1MDM4"), Some("group")));
    }

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
