//! Property tests of the two webhook parsers: whatever bytes a gateway (or an
//! attacker, for the unsigned WAHA endpoint) sends, `parse` answers with events
//! or a `ParseError` and never panics; and well-formed messages keep who wrote
//! them, what they said and which kind of chat they came from.

use juru::channel::{Channel, ChatId, Content, Event, Phone, cloud, waha};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Value, json};

const PHONE_NUMBER_ID: &str = "109876543210987";

fn fixture_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every fixture body, WAHA and Cloud, as bytes.
fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut all = Vec::new();
    for dir in ["waha", "cloud"] {
        let mut names: Vec<_> = std::fs::read_dir(fixture_dir().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        for path in names {
            let name = format!("{dir}/{}", path.file_name().unwrap().to_string_lossy());
            all.push((name, std::fs::read(&path).unwrap()));
        }
    }
    assert!(all.len() >= 15, "fixtures missing: {}", all.len());
    all
}

fn fixture_values() -> Vec<Value> {
    fixtures()
        .into_iter()
        .map(|(name, bytes)| serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{name}: {e}")))
        .collect()
}

/// Both parsers on the same bytes; a panic fails the property.
fn parse_both(bytes: &[u8]) {
    let _ = waha::parse(bytes, "default");
    let _ = cloud::parse(bytes);
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Regressions are printed in the failure message; no files are written.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------- strategies

/// Field names both vendors use, so random objects hit the parsers' real paths.
const KEYS: &[&str] = &[
    "event",
    "payload",
    "id",
    "from",
    "to",
    "fromMe",
    "source",
    "participant",
    "body",
    "hasMedia",
    "media",
    "url",
    "mimetype",
    "filename",
    "location",
    "latitude",
    "longitude",
    "description",
    "vCards",
    "replyTo",
    "reaction",
    "text",
    "messageId",
    "ack",
    "labelId",
    "chatId",
    "label",
    "name",
    "color",
    "session",
    "timestamp",
    "message_id",
    "object",
    "entry",
    "changes",
    "field",
    "value",
    "metadata",
    "phone_number_id",
    "contacts",
    "wa_id",
    "profile",
    "messages",
    "statuses",
    "type",
    "image",
    "audio",
    "voice",
    "document",
    "interactive",
    "button_reply",
    "list_reply",
    "title",
    "button",
    "context",
    "referral",
    "status",
    "recipient_id",
    "errors",
    "code",
    "message",
    "caption",
    "mime_type",
    "emoji",
    "phones",
    "formatted_name",
];

/// Strings the parsers branch on: ids of every kind, event names, types.
const WORDS: &[&str] = &[
    "",
    "6281234567890",
    "+62 812-3456-7890",
    "6281234567890@c.us",
    "6285712345678:12@s.whatsapp.net",
    "176369157804064@lid",
    "120363041234567890@g.us",
    "status@broadcast",
    "123@newsletter",
    "@c.us",
    "false_6281234567890@c.us_3EB0",
    "whatsapp_business_account",
    "messages",
    "message",
    "message.any",
    "message.ack",
    "message.reaction",
    "label.upsert",
    "label.deleted",
    "label.chat.added",
    "label.chat.deleted",
    "session.status",
    "text",
    "image",
    "audio",
    "location",
    "contacts",
    "interactive",
    "button",
    "reaction",
    "delivered",
    "failed",
    "read",
    "api",
    "image/webp",
    "audio/ogg",
    "1737775800",
    "-1",
    "1e308",
    "NaN",
    "BEGIN:VCARD\nFN:Budi\nTEL;waid=6281234567890:+62 812-3456-7890\nEND:VCARD",
];

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(WORDS).prop_map(str::to_string),
        2 => "(?s).{0,24}",
        1 => "[0-9]{0,20}",
    ]
}

fn arb_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![Just(-1i64), Just(0), Just(1), Just(2), Just(3), Just(4), Just(5)].prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON has no NaN/inf", |f| { serde_json::Number::from_f64(f).map(Value::Number) }),
    ]
}

fn arb_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number(),
        arb_string().prop_map(Value::String),
    ]
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => "[a-zA-Z_]{0,10}",
    ]
}

/// Any JSON value, biased towards the vendors' vocabulary.
fn arb_json() -> impl Strategy<Value = Value> {
    arb_leaf().prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..8).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Drop the field (or array element).
    Remove,
    /// Put a value of a random type in its place.
    Replace(Value),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => Just(Mutation::Remove),
        2 => arb_leaf().prop_map(Mutation::Replace),
        1 => arb_json().prop_map(Mutation::Replace),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    At(usize),
}

/// The path of every node below the root.
fn node_paths(v: &Value) -> Vec<Vec<Step>> {
    fn walk(v: &Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    here.push(Step::Key(k.clone()));
                    out.push(here.clone());
                    walk(child, here, out);
                    here.pop();
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    here.push(Step::At(i));
                    out.push(here.clone());
                    walk(child, here, out);
                    here.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

fn apply(root: &mut Value, path: &[Step], mutation: Mutation) {
    let (last, parents) = path.split_last().expect("paths are below the root");
    let mut node = root;
    for step in parents {
        node = match (step, node) {
            (Step::Key(k), Value::Object(map)) => map.get_mut(k).unwrap(),
            (Step::At(i), Value::Array(items)) => &mut items[*i],
            _ => unreachable!("path computed from this value"),
        };
    }
    match (last, node, mutation) {
        (Step::Key(k), Value::Object(map), Mutation::Remove) => {
            map.remove(k);
        }
        (Step::At(i), Value::Array(items), Mutation::Remove) => {
            items.remove(*i);
        }
        (Step::Key(k), Value::Object(map), Mutation::Replace(v)) => {
            map.insert(k.clone(), v);
        }
        (Step::At(i), Value::Array(items), Mutation::Replace(v)) => items[*i] = v,
        _ => unreachable!("path computed from this value"),
    }
}

/// A real fixture with 1–6 of its fields removed or replaced by values of
/// random types: shaped like a vendor's envelope, wrong in the details.
fn arb_envelope() -> impl Strategy<Value = Value> {
    let templates = fixture_values();
    (prop::sample::select(templates), prop::collection::vec((any::<Index>(), arb_mutation()), 1..7)).prop_map(
        |(mut value, mutations)| {
            for (at, mutation) in mutations {
                let paths = node_paths(&value);
                if paths.is_empty() {
                    break;
                }
                apply(&mut value, &paths[at.index(paths.len())], mutation);
            }
            value
        },
    )
}

/// A fixture's bytes with a few bytes overwritten, then maybe cut short.
fn arb_damaged_fixture() -> impl Strategy<Value = Vec<u8>> {
    let bodies: Vec<Vec<u8>> = fixtures().into_iter().map(|(_, b)| b).collect();
    (
        prop::sample::select(bodies),
        prop::collection::vec(
            (any::<Index>(), prop_oneof![any::<u8>(), prop::sample::select(&b"{}[]\":,\\0123456789tfn@ \x00\xff"[..])]),
            0..6,
        ),
        prop::option::of(any::<Index>()),
    )
        .prop_map(|(mut bytes, flips, cut)| {
            for (at, byte) in flips {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            bytes
        })
}

fn phone_digits() -> impl Strategy<Value = String> {
    "[0-9]{6,15}"
}

// ---------------------------------------------------------------- never panic

proptest! {
    #![proptest_config(config(20_000))]

    #[test]
    fn arbitrary_bytes_never_panic_either_parser(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        parse_both(&bytes);
    }

    #[test]
    fn text_that_is_not_json_is_never_accepted(text in prop_oneof![
        "(?s).{0,300}",
        // A valid envelope followed or preceded by junk.
        "(?s).{0,3}".prop_map(|junk| format!(r#"{{"object":"whatsapp_business_account","entry":[]}}{junk}"#)),
        "(?s).{0,3}".prop_map(|junk| format!(r#"{{"from":"6281234567890","body":"a","message_id":"m"}}{junk}"#)),
        "(?s).{0,3}".prop_map(|junk| format!(r#"{junk}{{"from":"6281234567890","body":"a","message_id":"m"}}"#)),
    ]) {
        // What is not JSON is never accepted, however it starts (`0!`, `{"object":…} junk`).
        let waha_result = waha::parse(text.as_bytes(), "default");
        let cloud_result = cloud::parse(text.as_bytes());
        if serde_json::from_str::<Value>(&text).is_err() {
            prop_assert!(waha_result.is_err(), "waha accepted {:?}: {:?}", text, waha_result);
            prop_assert!(cloud_result.is_err(), "cloud accepted {:?}: {:?}", text, cloud_result);
        }
    }
}

proptest! {
    #![proptest_config(config(6_000))]

    #[test]
    fn arbitrary_json_values_never_panic_either_parser(value in arb_json()) {
        parse_both(&serde_json::to_vec(&value).unwrap());
    }

    #[test]
    fn envelopes_with_missing_or_wrong_typed_fields_never_panic(value in arb_envelope()) {
        parse_both(&serde_json::to_vec(&value).unwrap());
        // Pretty-printed bytes take other paths through the raw-value borrowing.
        parse_both(&serde_json::to_vec_pretty(&value).unwrap());
    }

    #[test]
    fn damaged_fixture_bytes_never_panic_either_parser(bytes in arb_damaged_fixture()) {
        parse_both(&bytes);
    }
}

#[test]
fn every_fixture_parses_with_its_own_parser() {
    for (name, bytes) in fixtures() {
        let result = if name.starts_with("waha/") { waha::parse(&bytes, "default") } else { cloud::parse(&bytes) };
        let events = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!events.is_empty(), "{name} gave no event");
    }
}

#[test]
fn deeply_nested_json_is_an_error_not_a_crash() {
    // 2 MB of brackets (the default body limit) in every position a parser reads.
    let depth = 500_000;
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let bodies = [
        deep.clone(),
        format!(r#"{{"event":"message","session":"default","payload":{deep}}}"#),
        format!(
            r#"{{"event":"message","payload":{{"id":"x","from":"6281234567890@c.us","body":"a","timestamp":{deep}}}}}"#
        ),
        format!(r#"{{"from":"6281234567890","body":"a","message_id":"m","timestamp":{deep}}}"#),
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"changes":[{{"field":"messages","value":{deep}}}]}}]}}"#
        ),
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"changes":[{{"field":"other","value":{deep}}}]}}]}}"#
        ),
    ];
    // Refused, or acknowledged with nothing read from it (a known envelope
    // whose payload does not parse is counted, never fails the POST).
    let read_nothing = |result: Result<Vec<juru::channel::Event>, _>| match result {
        Err(_) => true,
        Ok(events) => events.iter().all(|e| match e {
            juru::channel::Event::Message(m) => matches!(m.content, juru::channel::Content::Unreadable { .. }),
            juru::channel::Event::Ignored(_) => true,
            _ => false,
        }),
    };
    for body in &bodies {
        assert!(read_nothing(cloud::parse(body.as_bytes())), "cloud read {:.80}", body);
        assert!(read_nothing(waha::parse(body.as_bytes(), "default")), "waha read {:.80}", body);
    }
}

// ---------------------------------------------------------------- round trips

fn cloud_envelope(phone_number_id: &str, contacts: Vec<Value>, messages: Vec<Value>) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "203040506070809", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "6285712345678", "phone_number_id": phone_number_id},
        "contacts": contacts,
        "messages": messages,
    }}]}]})
}

fn messages_of(events: Vec<Event>) -> Vec<juru::channel::Inbound> {
    events
        .into_iter()
        .map(|e| match e {
            Event::Message(m) => *m,
            other => panic!("expected a message, got {other:?}"),
        })
        .collect()
}

proptest! {
    #![proptest_config(config(2_000))]

    #[test]
    fn a_valid_cloud_text_message_keeps_its_sender_id_and_body(
        from in phone_digits(),
        id in "wamid\\.[A-Za-z0-9+/=_-]{1,60}",
        body in "(?s).{0,300}",
        name in prop::option::of("(?s).{0,40}"),
        timestamp in 0u64..4_000_000_000,
        ts_as_text in any::<bool>(),
        phone_number_id in "[0-9]{10,16}",
        pretty in any::<bool>(),
    ) {
        let ts = if ts_as_text { json!(timestamp.to_string()) } else { json!(timestamp) };
        let contacts = match &name {
            Some(n) => vec![json!({"profile": {"name": n}, "wa_id": from})],
            None => vec![],
        };
        let message = json!({"from": from, "id": id, "timestamp": ts, "type": "text", "text": {"body": body}});
        let envelope = cloud_envelope(&phone_number_id, contacts, vec![message]);
        let bytes = if pretty { serde_json::to_vec_pretty(&envelope) } else { serde_json::to_vec(&envelope) }.unwrap();
        let events = cloud::parse(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut messages = messages_of(events);
        prop_assert_eq!(messages.len(), 1);
        let m = messages.pop().unwrap();
        let phone = ChatId::Phone(Phone::parse(&from).unwrap());
        prop_assert_eq!(m.channel, Channel::Cloud);
        prop_assert_eq!(&m.account, &phone_number_id);
        prop_assert_eq!(&m.id, &id);
        prop_assert_eq!(m.chat.key(), from.clone());
        prop_assert_eq!(&m.chat, &phone);
        prop_assert_eq!(&m.sender, &phone);
        prop_assert_eq!(&m.content, &Content::Text { body: body.clone() });
        prop_assert_eq!(m.text(), Some(body.as_str()));
        prop_assert_eq!(&m.sender_name, &name);
        prop_assert_eq!(m.timestamp, timestamp);
        prop_assert!(!m.from_me);
        let key = Event::Message(Box::new(m)).dedupe_key();
        prop_assert_eq!(key, Some(format!("msg:{phone_number_id}:{id}")));
    }

    #[test]
    fn every_message_of_a_cloud_batch_comes_back_in_order(
        batch in prop::collection::vec((phone_digits(), "[A-Za-z0-9]{1,20}", "(?s).{0,40}"), 1..8),
    ) {
        let messages: Vec<Value> = batch
            .iter()
            .enumerate()
            .map(|(i, (from, id, body))| json!({"from": from, "id": format!("wamid.{i}.{id}"), "timestamp": "1", "type": "text", "text": {"body": body}}))
            .collect();
        let bytes = serde_json::to_vec(&cloud_envelope(PHONE_NUMBER_ID, vec![], messages)).unwrap();
        let parsed = messages_of(cloud::parse(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?);
        prop_assert_eq!(parsed.len(), batch.len());
        for (i, (m, (from, id, body))) in parsed.iter().zip(&batch).enumerate() {
            prop_assert_eq!(m.chat.key(), from.clone());
            prop_assert_eq!(m.id.clone(), format!("wamid.{i}.{id}"));
            prop_assert_eq!(m.text(), Some(body.as_str()));
        }
    }

    #[test]
    fn a_valid_waha_text_message_from_a_phone_keeps_its_sender_id_and_body(
        from in phone_digits(),
        server in prop::sample::select(&["c.us", "s.whatsapp.net"][..]),
        device in prop::option::of(1u8..99),
        msg_id in "[A-F0-9]{8,24}",
        body in "(?s).{1,300}",
        event in prop::sample::select(&["message", "message.any"][..]),
        session in "[a-z]{1,12}",
    ) {
        let jid = match device {
            Some(d) => format!("{from}:{d}@{server}"),
            None => format!("{from}@{server}"),
        };
        let id = format!("false_{jid}_{msg_id}");
        let envelope = json!({"id": "evt_1", "timestamp": 1737775800512u64, "event": event, "session": session,
            "payload": {"id": id, "timestamp": 1737775800, "from": jid, "fromMe": false, "source": "app",
                        "to": "6285712345678@c.us", "body": body, "hasMedia": false, "_data": {}}});
        let events = waha::parse(&serde_json::to_vec(&envelope).unwrap(), "default")
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut messages = messages_of(events);
        prop_assert_eq!(messages.len(), 1);
        let m = messages.pop().unwrap();
        prop_assert_eq!(m.channel, Channel::Waha);
        prop_assert_eq!(&m.account, &session);
        prop_assert_eq!(&m.id, &id);
        prop_assert_eq!(m.chat, ChatId::Phone(Phone::parse(&from).unwrap()));
        prop_assert_eq!(m.content, Content::Text { body });
    }
}

// ---------------------------------------------------------------- chat kinds

/// A WAHA webhook body whose chat is `chat_jid`, in the envelope or flat form.
fn waha_body(form: u8, event: &str, chat_jid: &str, from_me: bool, participant: Option<&str>, body: &str) -> Value {
    let (from, to) = if from_me { ("6285712345678@c.us", chat_jid) } else { (chat_jid, "6285712345678@c.us") };
    match form {
        0 => json!({"from": chat_jid, "body": body, "timestamp": "1737775800", "message_id": "m1"}),
        _ => json!({"id": "evt_x", "timestamp": 1737775800512u64, "event": event, "session": "default",
            "payload": {"id": format!("{from_me}_{chat_jid}_3EB0AA"), "timestamp": 1737775800, "from": from, "to": to,
                        "fromMe": from_me, "source": "app", "participant": participant, "body": body,
                        "hasMedia": false, "_data": {}}}),
    }
}

fn arb_participant() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        phone_digits().prop_map(|d| format!("{d}@c.us")),
        "[0-9]{5,20}".prop_map(|d| format!("{d}@lid")),
        "[0-9]{5,20}".prop_map(|d| format!("{d}@g.us")),
        arb_string(),
    ])
}

proptest! {
    #![proptest_config(config(3_000))]

    #[test]
    fn a_waha_message_from_a_lid_never_yields_a_phone_number(
        digits in "[0-9]{1,20}",
        device in prop::option::of(0u8..99),
        form in 0u8..3,
        event in prop::sample::select(&["message", "message.any", "message.reaction"][..]),
        from_me in any::<bool>(),
        participant in arb_participant(),
        body in "(?s).{0,40}",
    ) {
        let jid = match device {
            Some(d) => format!("{digits}:{d}@lid"),
            None => format!("{digits}@lid"),
        };
        let bytes = serde_json::to_vec(&waha_body(form, event, &jid, from_me, participant.as_deref(), &body)).unwrap();
        let events = waha::parse(&bytes, "default").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let messages = messages_of(events);
        prop_assert_eq!(messages.len(), 1);
        for m in messages {
            prop_assert_eq!(&m.chat, &ChatId::Lid(format!("{digits}@lid")));
            prop_assert!(m.chat.phone().is_none(), "chat {:?}", m.chat);
            prop_assert!(m.sender.phone().is_none(), "sender {:?} of a LID chat", m.sender);
            prop_assert!(!matches!(m.chat, ChatId::Phone(_)));
        }
    }

    #[test]
    fn every_waha_group_message_yields_a_group_chat(
        user in "[0-9]{5,20}(-[0-9]{5,12})?",
        form in 0u8..3,
        event in prop::sample::select(&["message", "message.any", "message.reaction"][..]),
        from_me in any::<bool>(),
        participant in arb_participant(),
        body in "(?s).{0,40}",
    ) {
        let jid = format!("{user}@g.us");
        let bytes = serde_json::to_vec(&waha_body(form, event, &jid, from_me, participant.as_deref(), &body)).unwrap();
        let events = waha::parse(&bytes, "default").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let messages = messages_of(events);
        prop_assert_eq!(messages.len(), 1);
        for m in messages {
            prop_assert!(m.chat.is_group(), "chat {:?}", m.chat);
            prop_assert_eq!(&m.chat, &ChatId::Group(jid.clone()));
            // In the envelope form, the member WAHA names in `participant` is the sender.
            if form != 0
                && let Some(member) = participant.as_deref().and_then(ChatId::from_jid).filter(|c| !c.is_group())
            {
                prop_assert_eq!(&m.sender, &member);
            }
        }
    }
}
