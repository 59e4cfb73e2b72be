//! Each handler kind called through [`Router::handle`] without a network or
//! a running pipeline: the `Effects` are what the runtime would commit.

use std::sync::Arc;

use super::*;
use crate::channel::{Channel, ControlAction, LabelAction, Phone};
use crate::crm::Crm;
use crate::store::Store;

const OWNER: &str = "6281111111111";
const PROSPECT: &str = "6282222222222";
const NOW: u64 = 1_795_402_800_000;

struct Fixture {
    _dir: tempfile::TempDir,
    router: Router,
}

/// Nothing to look up: no history, no group admins.
struct Offline;

impl Lookup for Offline {
    fn history(&self, _: &str, _: usize) -> Vec<HistoryLine> {
        Vec::new()
    }
}

impl Directory for Offline {
    async fn is_group_admin(&self, _: &ChatId, _: &ChatId) -> Option<bool> {
        None
    }
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let crm = Arc::new(Crm::open(&store, None, dir.path()).unwrap());
    let mut config = Config::default();
    config.bot.owners = vec![crate::config::PhoneNumber(OWNER.into())];
    config.sales.coalesce_ms = 0;
    let bot = BotSettings::from_config(&config);
    Fixture { router: Router::new(&config, bot, crm), _dir: dir }
}

fn chat(phone: &str) -> ChatId {
    ChatId::Phone(Phone::parse(phone).unwrap())
}

fn from(phone: &str, text: &str) -> Inbound {
    Inbound::text_from(Channel::Cloud, "pnid", format!("wamid.{text}"), chat(phone), text)
}

impl Fixture {
    async fn message(&self, ev: &Inbound, state: &ChatState) -> Effects {
        let input = Input::Message { ev, state, facts: Facts::default() };
        self.router.handle(input, &Offline, NOW).await.unwrap()
    }
}

#[tokio::test]
async fn a_prospects_text_is_a_sales_turn_that_makes_a_contact() {
    let f = fixture();
    let effects = f.message(&from(PROSPECT, "Halo kak, mau tanya paket umroh"), &ChatState::default()).await;
    assert_eq!(effects.audit.route.as_deref(), Some("conversation"));
    assert_eq!(effects.texts().len(), 1, "one answer");
    assert!(effects.sends.iter().all(|s| s.out.to == chat(PROSPECT)));
    assert!(effects.markers.is_some(), "read receipt and typing ahead of it");
    assert_eq!(effects.crm.touched.contacts(), [PROSPECT], "the prospect becomes a contact");
    assert_eq!(effects.state.unwrap().inbound_count, 1);
}

#[tokio::test]
async fn an_owners_command_is_answered_by_the_command_and_makes_no_lead() {
    let f = fixture();
    let effects = f.message(&from(OWNER, "#crm leads"), &ChatState::default()).await;
    assert_eq!(effects.audit.route.as_deref(), Some("command: ok"));
    assert!(!effects.texts().is_empty());
    assert!(effects.state.is_none(), "a command is no conversation turn");
    assert!(effects.audit.turn.is_none());
    assert!(effects.crm.touched.contacts().is_empty(), "the owner is not a lead");
}

#[tokio::test]
async fn a_prospect_typing_an_owner_command_is_refused_and_recorded_as_a_contact() {
    let f = fixture();
    let effects = f.message(&from(PROSPECT, "#crm leads"), &ChatState::default()).await;
    assert_eq!(effects.audit.route.as_deref(), Some("command: refused: owner_only"));
    assert_eq!(effects.texts().len(), 1);
    assert_eq!(effects.crm.touched.contacts(), [PROSPECT]);
}

#[tokio::test]
async fn a_handed_over_chat_gets_no_reply_but_stays_a_contact() {
    let f = fixture();
    let held = ChatState { handed_over: true, ..ChatState::default() };
    let effects = f.message(&from(PROSPECT, "halo?"), &held).await;
    assert_eq!(effects.audit.route.as_deref(), Some("handed over"));
    assert!(effects.sends.is_empty() && effects.markers.is_none());
    assert_eq!(effects.crm.touched.contacts(), [PROSPECT]);
}

#[tokio::test]
async fn a_control_changes_the_state_and_sends_nothing() {
    let f = fixture();
    let control = Control { id: "r1".into(), chat: chat(PROSPECT), by: "sari".into(), action: ControlAction::Release };
    let held = ChatState { handed_over: true, ..ChatState::default() };
    let effects = f.router.handle(Input::Control { control: &control, state: &held }, &Offline, NOW).await.unwrap();
    assert!(!effects.state.unwrap().handed_over);
    assert!(effects.sends.is_empty());
}

#[tokio::test]
async fn a_label_added_on_the_phone_is_a_crm_change() {
    let f = fixture();
    let change = LabelChange {
        event_id: "e1".into(),
        account: "default".into(),
        chat: Some(chat(PROSPECT)),
        label_id: "3".into(),
        label_name: Some("Grade A".into()),
        color: None,
        action: LabelAction::AddedToChat,
        account_number: None,
        polled: false,
    };
    let effects = f.router.handle(Input::Label(&change), &Offline, NOW).await.unwrap();
    assert!(!effects.crm.writes.is_empty(), "the assignment and its history are written");
    assert!(effects.sends.is_empty() && effects.state.is_none());
}

#[tokio::test]
async fn a_label_on_a_group_is_only_audited() {
    let f = fixture();
    let change = LabelChange {
        event_id: "e2".into(),
        account: "default".into(),
        chat: Some(ChatId::Group("120363041234567890@g.us".into())),
        label_id: "3".into(),
        label_name: None,
        color: None,
        action: LabelAction::AddedToChat,
        account_number: None,
        polled: false,
    };
    let effects = f.router.handle(Input::Label(&change), &Offline, NOW).await.unwrap();
    assert!(effects.crm.writes.is_empty());
}

#[tokio::test]
async fn a_delivery_status_is_recorded_as_it_came() {
    let f = fixture();
    let update = DeliveryUpdate {
        channel: Channel::Cloud,
        message_id: "wamid.OUT1".into(),
        chat: Some(chat(PROSPECT)),
        state: DeliveryState::Read,
        timestamp: 1,
        error: None,
    };
    let effects = f.router.handle(Input::Delivery(&update), &Offline, NOW).await.unwrap();
    assert_eq!(effects.delivery, Some(update));
    assert!(effects.sends.is_empty() && effects.state.is_none());
}

#[tokio::test]
async fn a_burst_window_of_an_unknown_chat_does_nothing() {
    let f = fixture();
    let effects = f.router.handle(Input::Burst { token: 1, state: None }, &Offline, NOW).await.unwrap();
    assert!(effects.sends.is_empty() && effects.state.is_none() && effects.burst.is_none());
}

#[tokio::test]
async fn a_booking_handover_holds_the_partys_seats_and_a_later_question_does_not() {
    let f = fixture();
    let package = f.router.sales.on_sale().into_iter().find(|p| !p.departed && p.quota > 0).expect("an open package");
    let state = ChatState {
        phase: crate::sales::Phase::Interest,
        package: Some(package.code.clone()),
        greeted: true,
        ..ChatState::default()
    };
    let seat_writes = |e: &Effects| -> Vec<Vec<u8>> {
        e.crm
            .writes
            .iter()
            .filter_map(|w| match w {
                crate::store::Write::Update(crate::store::TreeName::Seats, key, _) => Some(key.clone()),
                _ => None,
            })
            .collect()
    };
    let booked = f.message(&from(PROSPECT, "kami 2 orang, mau booking kak, DP berapa?"), &state).await;
    let next = booked.state.clone().unwrap();
    assert!(next.handed_over && next.phase == crate::sales::Phase::Booking, "{next:?}");
    assert_eq!(next.party, Some(2));
    assert_eq!(seat_writes(&booked), vec![PROSPECT.as_bytes().to_vec()], "the prospect's chat holds seats");
    let asked = f.message(&from(PROSPECT, "hotelnya dimana kak?"), &state).await;
    assert!(seat_writes(&asked).is_empty(), "no handover, no hold");
}
