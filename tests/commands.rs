//! Chat commands end to end: `#crm …` through the real WAHA webhook, the
//! manifest checks (owner, group admin, level, plan, cooldown, daily limit),
//! what the CRM stores, nurture sequences, manifest reloads, and `juru chat --owner`.
//! Every test looks at what the fake WAHA was asked to send and at the sled trees.

mod common;

use juru::store::TreeName;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use juru::commands::Usage;
use juru::crm::{Contact, Deal, Stage};
use juru::runtime::audit::{AuditRecord, Direction};
use juru::store::{decode, key2};
use serde_json::json;
use tokio::io::AsyncWriteExt;

const OWNER: &str = "6281100000001";
const STAFF: &str = "6281300000002";
const STAFF_SENIOR: &str = "6281300000005";
const BUSINESS: &str = "6285712345678";
const GROUP: &str = "120363041234567890@g.us";
const GROUP_ADMIN: &str = "6281400000001";
const GROUP_MEMBER: &str = "6281400000002";
const PROSPECT_B: &str = "6281500000009";
const LIMIT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------- helpers

/// `[bot]` with an owner and no read receipts or typing (only replies are sent),
/// English for the team and for prospects; `bot_extra` lines go into `[bot]`, `rest` after it.
fn config(bot_extra: &str, rest: &str) -> String {
    format!(
        "[bot]\nowners = [\"{OWNER}\"]\nsend_seen = false\nsend_typing = false\nlanguage = \"en\"\n{bot_extra}\n\
         [sales]\ndefault_language = \"en\"\n{rest}"
    )
}

/// The text of a sendText (or the caption of a media message).
fn text_of(r: &Recorded) -> String {
    r.body["text"].as_str().or_else(|| r.body["caption"].as_str()).unwrap_or_default().to_string()
}

/// Sends `text` from `from` (1:1) and returns the next message the bot sends back to that chat.
async fn ask(bot: &TestBot, from: &str, id: &str, text: &str) -> String {
    let before = bot.waha.messages_to(from).len();
    bot.waha_webhook(&waha_text(from, id, text)).await.assert_ok();
    let sent = bot.waha.wait_messages_to(from, before + 1).await;
    text_of(&sent[before])
}

/// A WAHA group message: `from` is the group, the sender is in `participant`.
fn waha_group(member: &str, id: &str, body: &str) -> String {
    json!({
        "id": format!("evt_{id}"), "timestamp": 1737776100334u64, "event": "message", "session": "default",
        "payload": {"id": format!("false_{GROUP}_{id}_{member}@c.us"), "timestamp": 1737776100, "from": GROUP,
                    "fromMe": false, "source": "app", "to": format!("{BUSINESS}@c.us"),
                    "participant": format!("{member}@c.us"), "body": body, "hasMedia": false},
        "engine": "NOWEB"
    })
    .to_string()
}

/// Something typed on the business phone itself in the chat with `chat` (`fromMe`, `source: app`).
fn waha_from_me(chat: &str, id: &str, body: &str) -> String {
    json!({
        "id": format!("evt_{id}"), "timestamp": 1737775862101u64, "event": "message.any", "session": "default",
        "payload": {"id": format!("true_{chat}@c.us_{id}"), "timestamp": 1737775862, "from": format!("{BUSINESS}@c.us"),
                    "to": format!("{chat}@c.us"), "fromMe": true, "source": "app", "body": body, "hasMedia": false},
        "engine": "GOWS"
    })
    .to_string()
}

/// The shipped `crm.toml` with some top-level flags replaced, e.g. `[("owner_only", "false")]`.
fn crm_manifest(overrides: &[(&str, &str)]) -> String {
    let shipped = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("commands/crm.toml")).unwrap();
    let mut in_header = true;
    let mut found = 0;
    let lines: Vec<String> = shipped
        .lines()
        .map(|line| {
            in_header &= !line.starts_with("[[");
            let key = line.split('=').next().unwrap_or_default().trim();
            match overrides.iter().find(|(k, _)| in_header && *k == key) {
                Some((k, v)) => {
                    found += 1;
                    format!("{k} = {v}")
                }
                None => line.to_string(),
            }
        })
        .collect();
    assert_eq!(found, overrides.len(), "every override names a flag of the shipped crm.toml");
    lines.join("\n") + "\n"
}

/// A commands folder with `help.toml` copied and `crm.toml` given flags.
fn commands_dir(overrides: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("commands");
    std::fs::copy(shipped.join("help.toml"), dir.path().join("help.toml")).unwrap();
    std::fs::write(dir.path().join("crm.toml"), crm_manifest(overrides)).unwrap();
    dir
}

fn commands_dir_line(dir: &tempfile::TempDir) -> String {
    format!("commands_dir = \"{}\"", dir.path().display())
}

/// Every audit record of one chat, in order.
fn audit(store: &juru::store::Store, chat: &str) -> Vec<AuditRecord> {
    let mut prefix = chat.as_bytes().to_vec();
    prefix.push(0);
    store.read(TreeName::Messages).scan_prefix(prefix).map(|e| decode::<AuditRecord>(&e.unwrap().1).unwrap()).collect()
}

/// The audit record of the inbound message whose id ends with `id`.
fn inbound_record(store: &juru::store::Store, chat: &str, id: &str) -> AuditRecord {
    audit(store, chat)
        .into_iter()
        .find(|r| r.message_id.as_deref().is_some_and(|m| m.ends_with(id)))
        .unwrap_or_else(|| panic!("no audit record of {id} in {chat}"))
}

fn contact(store: &juru::store::Store, key: &str) -> Contact {
    decode(&store.read(TreeName::Contacts).get(key).unwrap().unwrap_or_else(|| panic!("no contact {key}"))).unwrap()
}

fn seconds_left(refusal: &str) -> u64 {
    let n = refusal.split("cooldown: ").nth(1).and_then(|r| r.split(' ').next()).unwrap_or_default();
    n.parse().unwrap_or_else(|_| panic!("no seconds in {refusal:?}"))
}

// ---------------------------------------------------------------- 1, 2: deals and leads

#[tokio::test]
async fn an_owner_runs_a_deal_through_its_stages_and_it_survives_a_restart() {
    let bot = TestBot::with_config(&config("", "")).await;
    bot.waha_webhook(&waha_text(PROSPECT, "P1", "Halo, saya mau tanya harga mesin kopi")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 1).await;

    let created = ask(
        &bot,
        OWNER,
        "D1",
        &format!("#crm deals create --title \"Kopi Kita\" --value 12500000 --contact {PROSPECT}"),
    )
    .await;
    assert!(created.contains("Created *D1*") && created.contains("Kopi Kita"), "{created}");
    assert!(created.contains("12.500.000"), "the value as rupiah: {created}");
    let moved = ask(&bot, OWNER, "D2", "#crm deals move D1 proposal").await;
    assert!(moved.contains("D1") && moved.contains("lead") && moved.contains("*proposal*"), "{moved}");
    let won = ask(&bot, OWNER, "D3", "#crm deals won D1 --reason \"best price\"").await;
    assert!(won.contains("D1") && won.contains("*won*"), "{won}");
    assert!(bot.waha.messages_to(PROSPECT).len() == 1, "the prospect saw none of the owner's commands");

    let mut bot = bot;
    bot.stop().await;
    {
        let store = bot.store();
        let deal: Deal =
            decode(&store.read(TreeName::Deals).get(1u64.to_be_bytes()).unwrap().expect("deal 1 stored")).unwrap();
        assert_eq!(deal.title, "Kopi Kita");
        assert_eq!(deal.value, 12_500_000);
        assert_eq!(deal.stage, Stage::Won);
        assert_eq!(deal.reason.as_deref(), Some("best price"));
        assert_eq!(deal.contact.as_deref(), Some(PROSPECT));
        let path: Vec<(Option<Stage>, Stage)> = deal.history.iter().map(|h| (h.from, h.to)).collect();
        assert_eq!(
            path,
            [(None, Stage::Lead), (Some(Stage::Lead), Stage::Proposal), (Some(Stage::Proposal), Stage::Won)],
            "three history entries"
        );
        assert!(deal.history.iter().all(|h| h.by == OWNER), "{:?}", deal.history);
        assert_eq!(deal.history[2].reason.as_deref(), Some("best price"));
        assert_eq!(contact(&store, PROSPECT).current_stage, Stage::Won, "the contact follows its deal");
    }

    let bot = bot.restart().await;
    let shown = ask(&bot, OWNER, "D4", "#crm deals show D1").await;
    for part in ["Kopi Kita", "12.500.000", "(won)", "Reason: best price", PROSPECT, "proposal → won"] {
        assert!(shown.contains(part), "`{part}` missing after restart: {shown}");
    }
    let lead = ask(&bot, OWNER, "D5", &format!("#crm leads show {PROSPECT}")).await;
    for part in [
        format!("Phone: {PROSPECT}"),
        "Stage: won".to_string(),
        "First message: \"Halo, saya mau tanya harga mesin kopi\"".to_string(),
        "D1 Kopi Kita".to_string(),
    ] {
        assert!(lead.contains(&part), "`{part}` missing after restart: {lead}");
    }
    // Ids go on after the restart: the next deal is D2, not a second D1.
    let next = ask(&bot, OWNER, "D6", "#crm deals create --title \"Kopi Kita Kemang\" --value 3jt").await;
    assert!(next.contains("Created *D2*"), "{next}");
}

#[tokio::test]
async fn every_inbound_sender_becomes_a_lead_the_owner_can_list() {
    let bot = TestBot::with_config(&config("", "")).await;
    bot.waha_webhook(&waha_text(PROSPECT, "L1", "Mesin espresso ready kak?")).await.assert_ok();
    bot.waha_webhook(&waha_text(OTHER, "L2", "Info harga grinder dong")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 1).await;
    bot.waha.wait_messages_to(OTHER, 1).await;
    let list = ask(&bot, OWNER, "L3", "#crm leads list").await;
    assert!(list.starts_with("*Leads*"), "{list}");
    assert!(list.contains(PROSPECT) && list.contains(OTHER), "both prospects are named: {list}");
    assert!(list.contains("— lead, score"), "{list}");

    let mut bot = bot;
    bot.stop().await;
    let store = bot.store();
    let c = contact(&store, PROSPECT);
    assert_eq!(c.current_stage, Stage::Lead);
    assert_eq!(c.first_message.as_deref(), Some("Mesin espresso ready kak?"));
    assert_eq!(serde_json::to_value(c.source_method).unwrap(), "whatsapp");
    assert_eq!(c.phone.as_deref(), Some(PROSPECT));
    assert_eq!(c.messages, 1);
    assert!(c.whatsapp_opt_in, "writing first opts in (`[crm] inbound_opt_in` defaults to true)");
    assert_eq!(contact(&store, OTHER).first_message.as_deref(), Some("Info harga grinder dong"));
}

// ---------------------------------------------------------------- hints that paste

#[tokio::test]
async fn every_hint_shows_the_whole_command_with_the_configured_prefix() {
    let bot = TestBot::with_config(&config("prefixes = [\"!\"]", "")).await;
    let hints = [
        ("!crm deals", "!crm deals create"),
        ("!crm segment", "!crm segment create"),
        ("!crm company", "!crm company add entity"),
        ("!crm nurture-sequence", "!crm nurture-sequence create"),
        ("!crm nurture-sequence create Welcome", "!crm nurture-sequence add-step"),
        ("!crm lead-score configure", "!crm lead-score configure set"),
        ("!crm field-mapping configure", "!crm field-mapping configure set"),
        ("!crm", "!crm help SUBCOMMAND"),
        ("!help", "!help COMMAND"),
    ];
    for (i, (command, hint)) in hints.iter().enumerate() {
        let reply = ask(&bot, OWNER, &format!("H{i}"), command).await;
        assert!(reply.contains(hint), "{command}: {reply}");
        assert!(!reply.contains("#crm") && !reply.contains("`crm "), "{command}: a hint with another prefix: {reply}");
    }
}

#[tokio::test]
async fn an_owner_pasting_a_hint_without_the_prefix_is_told_and_never_becomes_a_lead() {
    let bot = TestBot::with_config(&config(&format!("staff = [{{ phone = \"{STAFF}\", level = 1 }}]"), "")).await;
    let owner = ask(&bot, OWNER, "T1", "deals create --title \"Kopi\" --value 5000000").await;
    assert!(owner.contains("#help"), "the owner is told how commands look: {owner}");
    let staff = ask(&bot, STAFF, "T2", "Halo, mau tanya harga paket").await;
    assert!(staff.contains("#help"), "{staff}");
    let leads = ask(&bot, OWNER, "T3", "#crm leads list").await;
    assert!(!leads.contains(OWNER) && !leads.contains(STAFF), "the team is not in its own CRM: {leads}");
    settle().await;
    assert_eq!(bot.waha.messages_to(OWNER).len(), 2, "no sales reply besides the hint and the list");
    let mut bot = bot;
    bot.stop().await;
    let store = bot.store();
    assert!(
        store.read(TreeName::Contacts).get(OWNER).unwrap().is_none()
            && store.read(TreeName::Contacts).get(STAFF).unwrap().is_none()
    );
}

// ---------------------------------------------------------------- numbers as people type them

#[tokio::test]
async fn crm_arguments_and_owners_take_numbers_as_people_type_them() {
    // The owner is configured in national form; WhatsApp sends international digits.
    let bot = TestBot::with_config(
        "[bot]\nowners = [\"0811-0000-0001\"]\nsend_seen = false\nsend_typing = false\n[sales]\ndefault_language = \"en\"\n",
    )
    .await;
    bot.waha_webhook(&waha_text(PROSPECT, "N1", "Halo kak")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 1).await;
    let forms = ["081234567890", "+62 812-3456-7890", "62 812 3456 7890", "0812 3456 7890"];
    for (i, form) in forms.iter().enumerate() {
        let reply = ask(&bot, OWNER, &format!("N2_{i}"), &format!("#crm contacts show {form}")).await;
        assert!(reply.contains(PROSPECT) && !reply.contains("no contact"), "{form}: {reply}");
    }
}

// ---------------------------------------------------------------- one language per person

#[tokio::test]
async fn a_prospect_is_refused_in_their_chats_language_and_staff_in_the_teams() {
    let bot = TestBot::with_config(&format!(
        "[bot]\nowners = [\"{OWNER}\"]\nsend_seen = false\nsend_typing = false\nlanguage = \"id\"\n\
         staff = [{{ phone = \"{STAFF}\", level = 1 }}]\n[sales]\ndefault_language = \"id\"\n"
    ))
    .await;
    ask(&bot, PROSPECT_B, "G1", "Hello, I would like to know your umrah packages and the prices please").await;
    let prospect = ask(&bot, PROSPECT_B, "G2", "#crm leads").await;
    assert!(prospect.contains("owner only"), "the prospect wrote English: {prospect}");
    let staff = ask(&bot, STAFF, "G3", "#crm leads").await;
    assert!(staff.contains("khusus owner"), "the team reads [bot] language: {staff}");
    let help = ask(&bot, OWNER, "G4", "#help").await;
    assert!(help.contains("Perintah yang bisa Anda pakai") && help.contains("Rincian"), "{help}");
}

/// An owner, with `[bot] language` as shipped or as given, and a prospect who wrote once.
async fn owner_bot(language: Option<&str>) -> TestBot {
    let bot_section = format!("[bot]\nowners = [\"{OWNER}\"]\nsend_seen = false\nsend_typing = false\n");
    let language = language.map(|l| format!("language = \"{l}\"\n")).unwrap_or_default();
    let bot = TestBot::with_config(&format!("{bot_section}{language}")).await;
    ask(&bot, PROSPECT, "L0", "Halo kak, mau tanya paket umroh").await;
    bot
}

#[tokio::test]
async fn an_owner_reads_every_reply_in_bahasa_with_the_default_config() {
    let bot = owner_bot(None).await;
    let deals = ask(&bot, OWNER, "L1", "#crm deals").await;
    assert_eq!(deals, "Belum ada deal terbuka. Buat dengan: #crm deals create --title \"…\" --value 5000000");
    let contacts = ask(&bot, OWNER, "L2", "#crm contacts").await;
    assert!(contacts.starts_with("*Kontak* (1), terbaru di atas\n"), "{contacts}");
    assert!(contacts.contains(PROSPECT) && contacts.contains(", skor "), "{contacts}");
    let usage = ask(&bot, OWNER, "L3", "#crm deals show X1").await;
    assert!(usage.starts_with("❌ \"X1\" bukan id deal (contoh: D3)\n*Cara pakai:* #crm deals "), "{usage}");
    assert!(usage.contains("\n*Contoh:* #crm deals create "), "{usage}");
    let args = ask(&bot, OWNER, "L4", "#crm deals create --title").await;
    assert!(args.starts_with("❌ --title perlu diisi nilainya\n*Cara pakai:*"), "{args}");
    let help = ask(&bot, OWNER, "L5", "#help").await;
    assert!(help.starts_with("*Perintah yang bisa Anda pakai*\n"), "{help}");
    assert!(help.contains("• *#crm* — Lead, kontak, deal, laporan dan koneksi CRM"), "{help}");
    assert!(help.contains("• *#help* — Daftar perintah yang bisa Anda pakai"), "{help}");
    let crm_help = ask(&bot, OWNER, "L6", "#crm").await;
    assert!(crm_help.contains("• *deals* — Buat deal dan pindahkan tahapnya"), "{crm_help}");
    for reply in [&deals, &contacts, &usage, &args, &help, &crm_help] {
        for english in
            ["No open deals", "most recent first", "is not a deal id", "needs a value", "Usage", "Leads, contacts"]
        {
            assert!(!reply.contains(english), "English `{english}` in: {reply}");
        }
    }
}

#[tokio::test]
async fn an_owner_reads_english_with_language_en() {
    let bot = owner_bot(Some("en")).await;
    let deals = ask(&bot, OWNER, "E1", "#crm deals").await;
    assert_eq!(deals, "No open deals. Create one: #crm deals create --title \"…\" --value 5000000");
    let contacts = ask(&bot, OWNER, "E2", "#crm contacts").await;
    assert!(contacts.starts_with("*Contacts* (1), most recent first\n"), "{contacts}");
    assert!(contacts.contains(PROSPECT) && contacts.contains(", score "), "{contacts}");
    let usage = ask(&bot, OWNER, "E3", "#crm deals show X1").await;
    assert!(usage.starts_with("❌ \"X1\" is not a deal id (e.g. D3)\n*Usage:* #crm deals "), "{usage}");
    let args = ask(&bot, OWNER, "E4", "#crm deals create --title").await;
    assert!(args.starts_with("❌ --title needs a value\n*Usage:*"), "{args}");
    let help = ask(&bot, OWNER, "E5", "#help").await;
    assert!(help.starts_with("*Commands you can use*\n"), "{help}");
    assert!(help.contains("• *#crm* — Leads, contacts, deals, reports and CRM connections"), "{help}");
    for reply in [&deals, &contacts, &usage, &args, &help] {
        for bahasa in ["Belum ada", "terbaru", "bukan id", "perlu diisi", "Cara pakai", "Perintah yang"] {
            assert!(!reply.contains(bahasa), "Bahasa `{bahasa}` in: {reply}");
        }
    }
}

#[tokio::test]
async fn a_manifest_description_of_the_admins_own_replaces_the_built_in_text() {
    let dir = commands_dir(&[]);
    let crm = std::fs::read_to_string(dir.path().join("crm.toml")).unwrap();
    std::fs::write(dir.path().join("crm.toml"), format!("description = \"CRM toko kami\"\n{crm}")).unwrap();
    let bot = TestBot::with_config(&format!(
        "[bot]\nowners = [\"{OWNER}\"]\nsend_seen = false\nsend_typing = false\n{}\n",
        commands_dir_line(&dir)
    ))
    .await;
    let help = ask(&bot, OWNER, "M1", "#help").await;
    assert!(help.contains("• *#crm* — CRM toko kami"), "the admin's words: {help}");
    assert!(help.contains("• *#help* — Daftar perintah yang bisa Anda pakai"), "the built-in text: {help}");
}

// ---------------------------------------------------------------- 3: spoofing

#[tokio::test]
async fn a_prospect_cannot_run_owner_commands_even_naming_the_owner() {
    let bot = TestBot::with_config(&config("", "")).await;
    bot.waha_webhook(&waha_text(OTHER, "S0", "Halo, minta katalog")).await.assert_ok();
    bot.waha.wait_messages_to(OTHER, 1).await;

    let refused = ask(&bot, PROSPECT, "S1", "#crm leads").await;
    assert!(refused.contains("owner") && refused.contains('⛔'), "{refused}");
    assert!(!refused.contains("*Leads*") && !refused.contains(OTHER), "no lead data: {refused}");
    let spoofed = ask(&bot, PROSPECT, "S2", &format!("#crm leads list {OWNER}")).await;
    assert_eq!(spoofed, refused, "the owner's number in the text changes nothing");
    let sales = ask(&bot, PROSPECT, "S3", "#1 best seller?").await;
    assert!(!sales.contains('⛔') && !sales.contains("owner"), "a normal sales reply, not a refusal: {sales}");
    assert!(!sales.is_empty());

    let mut bot = bot;
    bot.stop().await;
    let store = bot.store();
    assert_eq!(inbound_record(&store, PROSPECT, "S1").route.as_deref(), Some("command: refused: owner_only"));
    assert_eq!(inbound_record(&store, PROSPECT, "S2").route.as_deref(), Some("command: refused: owner_only"));
    assert_eq!(inbound_record(&store, PROSPECT, "S3").route.as_deref(), Some("conversation"));
}

// ---------------------------------------------------------------- 4: group admins

#[tokio::test]
async fn admin_group_only_asks_waha_who_the_group_admins_are() {
    let dir = commands_dir(&[("owner_only", "false"), ("admin_group_only", "true")]);
    let bot = TestBot::with_config(&config(&commands_dir_line(&dir), "")).await;
    let participants = json!([
        {"id": format!("{GROUP_ADMIN}@c.us"), "role": "admin"},
        {"id": format!("{GROUP_MEMBER}@c.us"), "role": "participant"},
        {"id": "6281499999999@c.us", "role": "superadmin"}
    ]);
    bot.waha.on(
        1000,
        |r| r.method == "GET" && r.path.contains("/groups/") && r.path.ends_with("/participants/v2"),
        Canned::status(200, participants.to_string()),
    );

    // The member even claims to be an admin in the text: only WAHA's answer counts.
    bot.waha_webhook(&waha_group(GROUP_MEMBER, "G1", "#crm leads I am admin")).await.assert_ok();
    let sent = bot.waha.wait_messages_to(GROUP, 1).await;
    let refused = text_of(&sent[0]);
    assert!(refused.contains("group admins"), "{refused}");
    assert!(!refused.contains("*Leads*"), "{refused}");
    assert!(
        sent[0].body["reply_to"].as_str().is_some_and(|id| id.contains("G1")),
        "quotes the command: {}",
        sent[0].body
    );

    bot.waha_webhook(&waha_group(GROUP_ADMIN, "G2", "#crm leads")).await.assert_ok();
    let sent = bot.waha.wait_messages_to(GROUP, 2).await;
    let answered = text_of(&sent[1]);
    assert!(answered.starts_with("*Leads*"), "the admin is answered: {answered}");

    let private = ask(&bot, GROUP_ADMIN, "G3", "#crm leads").await;
    assert!(private.contains("only in a group"), "{private}");
    let asked: Vec<String> = bot
        .waha
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.contains("/groups/"))
        .map(|r| r.path.replace("%40", "@").replace("%2E", ".").replace("%2e", "."))
        .collect();
    assert!(!asked.is_empty(), "WAHA's participants API was asked");
    assert!(
        asked.iter().all(|p| p == &format!("/api/default/groups/{GROUP}/participants/v2")),
        "asked about the right group: {asked:?}"
    );
}

// ---------------------------------------------------------------- 5: fromMe

#[tokio::test]
async fn a_command_typed_on_the_business_phone_is_silent_unless_owner_from_me() {
    let bot = TestBot::with_config(&config("", "")).await;
    bot.waha_webhook(&waha_from_me(PROSPECT, "FM1", "#crm leads")).await.assert_ok();
    settle().await;
    assert!(bot.waha.messages_to(PROSPECT).is_empty(), "nothing is sent into the prospect's chat");
    assert!(bot.waha.calls("sendText").is_empty(), "no reply at all: {:?}", bot.waha.calls("sendText"));
    let mut bot = bot;
    bot.stop().await;
    {
        // Handled (stopping drains the lanes) and nothing queued: a reply would
        // have its "queued" record in the same commit.
        let store = bot.store();
        let records = audit(&store, PROSPECT);
        let record = inbound_record(&store, PROSPECT, "FM1");
        assert_eq!(record.route.as_deref(), Some("human on phone"), "{record:?}");
        assert!(records.iter().all(|r| r.direction == Direction::In), "{records:?}");
        assert!(store.read(TreeName::Outbox).is_empty());
    }

    let bot = TestBot::with_config(&config("owner_from_me = true", "")).await;
    bot.waha_webhook(&waha_text(OTHER, "FM3", "halo")).await.assert_ok();
    bot.waha.wait_messages_to(OTHER, 1).await;
    bot.waha_webhook(&waha_from_me(PROSPECT, "FM4", "#crm leads")).await.assert_ok();
    let sent = bot.waha.wait_messages_to(PROSPECT, 1).await;
    let answer = text_of(&sent[0]);
    assert!(answer.starts_with("*Leads*") && answer.contains(OTHER), "answered as the owner: {answer}");
}

#[tokio::test]
async fn the_bots_own_reply_echoed_under_a_new_id_is_ignored() {
    let bot = TestBot::with_config(&config("owner_from_me = true", "")).await;
    bot.waha_webhook(&waha_from_me(PROSPECT, "E1", "#help")).await.assert_ok();
    let sent = bot.waha.wait_messages_to(PROSPECT, 1).await;
    let help = text_of(&sent[0]);
    assert!(help.contains("*Commands you can use*") && help.contains("#crm"), "{help}");

    // WAHA re-emits it as typed on the phone, under a new id (not `source: api`).
    bot.waha_webhook(&waha_from_me(PROSPECT, "E2ECHO", &help)).await.assert_ok();
    settle().await;
    assert_eq!(bot.waha.messages_to(PROSPECT).len(), 1, "no second reply, no loop");
    // Had the echo counted as a human typing, the bot would now be paused in this chat.
    let answer = ask(&bot, PROSPECT, "E3", "halo, masih buka?").await;
    assert!(!answer.is_empty());

    let mut bot = bot;
    bot.stop().await;
    let store = bot.store();
    assert_eq!(inbound_record(&store, PROSPECT, "E2ECHO").route.as_deref(), Some("own echo"));
    assert_eq!(inbound_record(&store, PROSPECT, "E3").route.as_deref(), Some("conversation"));
}

// ---------------------------------------------------------------- 6, 7: cooldown, limit, level, plan

#[tokio::test]
async fn a_cooldown_refuses_the_second_use_and_survives_a_restart() {
    let dir = commands_dir(&[("owner_only", "false"), ("cooldown", "600"), ("limit", "0")]);
    let staff = format!("staff = [{{ phone = \"{STAFF}\", level = 1 }}]\n{}", commands_dir_line(&dir));
    let bot = TestBot::with_config(&config(&staff, "")).await;
    let first = ask(&bot, STAFF, "C1", "#crm leads").await;
    assert!(first.starts_with("*Leads*"), "{first}");
    let second = ask(&bot, STAFF, "C2", "#crm leads").await;
    assert!(second.contains("cooldown") && second.contains(" s left"), "{second}");
    let left = seconds_left(&second);
    assert!((500..=600).contains(&left), "{second}");
    // The owner is not bound by it.
    assert!(ask(&bot, OWNER, "C3", "#crm leads").await.starts_with("*Leads*"));

    let mut bot = bot;
    bot.stop().await;
    {
        let store = bot.store();
        let usage: Usage =
            decode(&store.read(TreeName::CommandUsage).get(key2("crm", STAFF)).unwrap().expect("usage stored"))
                .unwrap();
        assert_eq!(usage.count, 1, "a refused use does not count");
        assert!(
            store.read(TreeName::CommandUsage).get(key2("crm", OWNER)).unwrap().is_none(),
            "owners are not counted"
        );
    }
    let bot = bot.restart().await;
    let third = ask(&bot, STAFF, "C4", "#crm leads").await;
    assert!(third.contains("cooldown"), "still cooling down after a restart: {third}");
    assert!(seconds_left(&third) <= left, "{third}");
}

#[tokio::test]
async fn a_daily_limit_refuses_the_use_beyond_it() {
    let dir = commands_dir(&[("owner_only", "false"), ("cooldown", "0"), ("limit", "1")]);
    let staff = format!("staff = [{{ phone = \"{STAFF}\", level = 1 }}]\n{}", commands_dir_line(&dir));
    let bot = TestBot::with_config(&config(&staff, "")).await;
    assert!(ask(&bot, STAFF, "DL1", "#crm leads").await.starts_with("*Leads*"));
    let second = ask(&bot, STAFF, "DL2", "#crm leads").await;
    assert!(second.contains("daily limit") && second.contains('1'), "{second}");
    let mut bot = bot;
    bot.stop().await;
    let bot = bot.restart().await;
    let third = ask(&bot, STAFF, "DL3", "#crm deals list").await;
    assert!(third.contains("daily limit"), "the count is stored, not in memory: {third}");
}

#[tokio::test]
async fn a_level_requirement_refuses_a_lower_staff_member() {
    let dir = commands_dir(&[("owner_only", "false"), ("level", "5")]);
    let staff = format!(
        "staff = [{{ phone = \"{STAFF}\", level = 1 }}, {{ phone = \"{STAFF_SENIOR}\", level = 5 }}]\n{}",
        commands_dir_line(&dir)
    );
    let bot = TestBot::with_config(&config(&staff, "")).await;
    let refused = ask(&bot, STAFF, "LV1", "#crm leads").await;
    assert!(refused.contains("level 5 required") && refused.contains("level 1"), "{refused}");
    assert!(!refused.contains("*Leads*"));
    let senior = ask(&bot, STAFF_SENIOR, "LV2", "#crm leads").await;
    assert!(senior.starts_with("*Leads*"), "level 5 is enough: {senior}");
}

#[tokio::test]
async fn a_plan_requirement_binds_even_the_owner() {
    let dir = commands_dir(&[("plan", "\"nitro\"")]);
    let bot = TestBot::with_config(&config(&format!("plan = \"basic\"\n{}", commands_dir_line(&dir)), "")).await;
    let refused = ask(&bot, OWNER, "PL1", "#crm leads").await;
    assert!(refused.contains("plan *nitro* required"), "{refused}");
    assert!(refused.contains("basic"), "{refused}");
    let mut bot = bot;
    bot.stop().await;
    let store = bot.store();
    assert_eq!(inbound_record(&store, OWNER, "PL1").route.as_deref(), Some("command: refused: plan"));
}

// ---------------------------------------------------------------- 8: credentials

#[tokio::test]
async fn an_api_key_is_stored_encrypted_and_never_shown_or_audited() {
    const KEY: &str = "0123abcdSECRETKEY";
    let bot = TestBot::with_config(&config("", "")).await;
    // Not the owner's first message: see the ignored test below for that case.
    assert!(ask(&bot, OWNER, "A0", "#help").await.contains("#crm"));
    let reply = ask(&bot, OWNER, "A1", &format!("#crm auth --platform pipedrive --api-key {KEY}")).await;
    assert!(reply.contains("stored, encrypted"), "{reply}");
    assert!(!reply.contains(KEY) && !reply.contains("SECRETKEY"), "{reply}");
    let sync = ask(&bot, OWNER, "A2", "#crm sync pipedrive").await;
    assert!(sync.contains("credential: API key stored") && !sync.contains(KEY), "{sync}");

    let mut bot = bot;
    bot.stop().await;
    let store = bot.store();
    let records = audit(&store, OWNER);
    let command = records.iter().find(|r| r.message_id.as_deref().is_some_and(|m| m.ends_with("A1"))).unwrap();
    assert!(command.text.as_deref().is_some_and(|t| t.contains("--api-key •••")), "{command:?}");
    for entry in store.read(TreeName::Messages).iter() {
        let (_, value) = entry.unwrap();
        assert!(!String::from_utf8_lossy(&value).contains(KEY), "the audit trail holds the key");
    }
    let sealed = store.read(TreeName::Secrets).get("pipedrive").unwrap().expect("a sealed credential");
    assert!(!String::from_utf8_lossy(&sealed).contains(KEY), "stored in plain text");
    assert!(!String::from_utf8_lossy(&sealed).contains(&hex::encode(KEY)), "stored as plain hex");
    let sealed: juru::crm::Sealed = decode(&sealed).unwrap();
    let sealer = juru::crm::Sealer::open(None, &bot.db_path()).unwrap();
    assert_eq!(sealer.open_sealed(&sealed).unwrap(), KEY, "what is stored is the key, encrypted");
    // Nowhere else in the database either.
    for tree in TreeName::ALL {
        for entry in store.read(tree).iter() {
            let (k, v) = entry.unwrap();
            let tree_name = tree.as_str();
            assert!(!String::from_utf8_lossy(&k).contains(KEY), "tree {tree_name} has the key in a key");
            assert!(!String::from_utf8_lossy(&v).contains(KEY), "tree {tree_name} has the key in a value");
        }
    }
}

/// The team's commands do not make them leads, and a prospect who pastes a
/// key into a refused command is recorded with the masked text.
#[tokio::test]
async fn an_api_key_sent_as_the_first_message_is_not_kept_on_any_contact() {
    const KEY: &str = "0123abcdSECRETKEY";
    let bot = TestBot::with_config(&config("", "")).await;
    let reply = ask(&bot, OWNER, "AF1", &format!("#crm auth --platform pipedrive --api-key {KEY}")).await;
    assert!(reply.contains("stored, encrypted") && !reply.contains(KEY), "{reply}");
    let shown = ask(&bot, OWNER, "AF2", &format!("#crm leads show {OWNER}")).await;
    assert!(shown.contains("no contact"), "the owner is not a lead: {shown}");
    let refused = ask(&bot, PROSPECT, "AF3", &format!("#crm auth --platform pipedrive --api-key {KEY}")).await;
    assert!(refused.contains("owner"), "{refused}");
    let mut bot = bot;
    bot.stop().await;
    let store = bot.store();
    let first = contact(&store, PROSPECT).first_message;
    assert!(first.as_deref().is_some_and(|f| f.contains("#crm auth") && !f.contains(KEY)), "first_message = {first:?}");
}

// ---------------------------------------------------------------- 9: nurture

#[tokio::test]
async fn a_nurture_sequence_sends_day_0_and_stop_ends_it() {
    // Two-second "days": the day-2 step is due 4 s after the start, which leaves
    // seconds for the STOP to land first even on a busy machine.
    let bot = TestBot::with_config(&config("", "[crm]\nnurture_tick_ms = 100\nnurture_day_secs = 2\n")).await;
    bot.waha_webhook(&waha_text(PROSPECT, "N0", "Halo, info mesin kopi")).await.assert_ok();
    bot.waha.wait_messages_to(PROSPECT, 1).await;

    let day0 = "Terima kasih sudah menghubungi Kopi Kita, ini katalog kami";
    let day2 = "Hari kedua: masih tertarik dengan mesin espresso?";
    let created = ask(&bot, OWNER, "N1", "#crm nurture-sequence create Welcome").await;
    assert!(created.contains("Sequence *Welcome* created"), "{created}");
    let step = ask(&bot, OWNER, "N2", &format!("#crm nurture-sequence add-step Welcome --day 0 \"{day0}\"")).await;
    assert!(step.contains("step 1 on day 0"), "{step}");
    let step = ask(&bot, OWNER, "N3", &format!("#crm nurture-sequence add-step Welcome --day 2 \"{day2}\"")).await;
    assert!(step.contains("step 2 on day 2"), "{step}");
    let started = ask(&bot, OWNER, "N4", &format!("#crm nurture-sequence start Welcome {PROSPECT}")).await;
    let started_at = std::time::Instant::now();
    assert!(started.contains("*Welcome* started") && started.contains("2 step(s)"), "{started}");

    let texts = |bot: &TestBot| bot.waha.messages_to(PROSPECT).iter().map(text_of).collect::<Vec<_>>();
    eventually(LIMIT, || texts(&bot).iter().any(|t| t == day0)).await;
    assert!(started_at.elapsed() < Duration::from_secs(4), "day 2 is not due yet: the test still proves something");

    let before = bot.waha.messages_to(PROSPECT).len();
    bot.waha_webhook(&waha_text(PROSPECT, "N5", "STOP")).await.assert_ok();
    let sent = bot.waha.wait_messages_to(PROSPECT, before + 1).await;
    let opted_out = text_of(&sent[before]);
    assert!(
        [juru::config::Language::Id, juru::config::Language::En]
            .iter()
            .any(|l| opted_out == juru::texts::opted_out(*l)),
        "the opt-out reply: {opted_out}"
    );
    // Day 2 is due 4 s after the start: wait until 3 s past that.
    let quiet_until = Duration::from_secs(7);
    while started_at.elapsed() < quiet_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all = texts(&bot);
    assert!(!all.iter().any(|t| t == day2), "the day-2 step was sent after STOP: {all:?}");
    assert_eq!(all.iter().filter(|t| *t == day0).count(), 1, "day 0 once: {all:?}");

    let mut bot = bot;
    bot.stop().await;
    let store = bot.store();
    assert!(!contact(&store, PROSPECT).whatsapp_opt_in, "opted out");
    assert_eq!(store.read(TreeName::Enrollments).len(), 0, "no enrollment left");
    assert_eq!(inbound_record(&store, PROSPECT, "N5").route.as_deref(), Some("opt-out"));
}

// ---------------------------------------------------------------- 10: manifest reload

#[tokio::test]
async fn a_manifest_edit_applies_without_restart_and_a_broken_one_is_refused() {
    let dir = commands_dir(&[("owner_only", "false")]);
    let staff = format!(
        "staff = [{{ phone = \"{STAFF}\", level = 1 }}, {{ phone = \"{STAFF_SENIOR}\", level = 1 }}]\n{}",
        commands_dir_line(&dir)
    );
    let bot = TestBot::with_config(&config(&staff, "")).await;
    assert!(ask(&bot, STAFF, "R1", "#crm leads").await.starts_with("*Leads*"));
    assert!(ask(&bot, STAFF, "R2", "#crm leads").await.starts_with("*Leads*"), "no cooldown yet");

    std::fs::write(dir.path().join("crm.toml"), crm_manifest(&[("owner_only", "false"), ("cooldown", "600")])).unwrap();
    // Until the watcher reloads, uses are answered and not counted; the first
    // use after the reload is answered and counted, the next one refused.
    let started = std::time::Instant::now();
    let mut n = 0;
    let refusal = loop {
        assert!(started.elapsed() < LIMIT, "the edit never applied");
        n += 1;
        let answer = ask(&bot, STAFF, &format!("R3_{n}"), "#crm leads").await;
        if answer.contains("cooldown") {
            break answer;
        }
        assert!(answer.starts_with("*Leads*"), "{answer}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(n >= 2, "a use was answered with the new manifest before the refusal");
    assert!(seconds_left(&refusal) > 500, "{refusal}");

    // A misspelt key: the command is refused with the file and the key named
    // (not run with other rules); the other commands keep working.
    let broken = crm_manifest(&[("owner_only", "false"), ("cooldown", "0")]).replace("level = 0", "levle = 0");
    assert!(broken.contains("levle"));
    std::fs::write(dir.path().join("crm.toml"), broken).unwrap();
    let started = std::time::Instant::now();
    let refusal = loop {
        assert!(started.elapsed() < LIMIT, "the broken edit never applied");
        n += 1;
        let answer = ask(&bot, STAFF_SENIOR, &format!("R4_{n}"), "#crm leads").await;
        if answer.contains("disabled") {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(refusal.contains("crm.toml") && refusal.contains("levle"), "{refusal}");
    assert!(ask(&bot, OWNER, "R7", "#help").await.contains("#crm"), "#help still answers");
}

#[tokio::test]
async fn a_broken_manifest_at_start_disables_its_command_and_the_others_keep_their_rules() {
    let dir = commands_dir(&[("owner_only", "false")]);
    let broken = crm_manifest(&[("owner_only", "false")]).replace("level = 0", "levle = 0");
    std::fs::write(dir.path().join("crm.toml"), broken).unwrap();
    let help = std::fs::read_to_string(dir.path().join("help.toml")).unwrap();
    std::fs::write(dir.path().join("help.toml"), help.replace("owner_only = false", "owner_only = true")).unwrap();
    let bot = TestBot::with_config(&config(&commands_dir_line(&dir), "")).await;

    let crm = ask(&bot, OWNER, "B1", "#crm leads").await;
    assert!(crm.contains("disabled") && crm.contains("crm.toml") && crm.contains("levle"), "{crm}");
    let help = ask(&bot, PROSPECT_B, "B2", "#help").await;
    assert!(help.to_lowercase().contains("owner"), "help.toml's owner_only still applies: {help}");
}

// ---------------------------------------------------------------- 11: juru chat --owner

/// `juru chat --from OWNER [--owner]` in a fresh directory, `lines` piped in; its stdout.
async fn juru_chat(owner: bool, lines: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_juru"));
    cmd.args(["chat", "--from", OWNER]).current_dir(dir.path()).kill_on_drop(true);
    if owner {
        cmd.arg("--owner");
    }
    for (key, _) in std::env::vars() {
        if key.starts_with("JURU_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", "warn")
        .env("JURU_STORAGE__PATH", &db)
        .env("JURU_SALES__COALESCE_MS", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawning juru chat");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all((lines.join("\n") + "\n").as_bytes()).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("juru chat did not exit within 30 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "exit {:?}\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    stdout
}

#[tokio::test]
async fn juru_chat_as_owner_runs_the_crm_from_the_terminal() {
    let out = juru_chat(
        true,
        &[
            "#crm company add entity \"PT Kopi Nusantara\" --segment Cafe",
            "#crm company add brand \"Kopi Kita\" --entity \"PT Kopi Nusantara\"",
            "#crm deals create --title \"Senopati\" --value 5jt --company \"Kopi Kita\"",
            "#crm deals show D1",
        ],
    )
    .await;
    // No config: the owner reads the shipped default, Bahasa.
    for part in [
        "✅ Badan usaha *PT Kopi Nusantara* ditambahkan",
        "✅ Brand *Kopi Kita* ditambahkan",
        "✅ Deal dibuat: *D1* Senopati — Rp 5.000.000 (lead)",
        "Perusahaan: Kopi Kita (brand)",
        "Invoice ke: PT Kopi Nusantara",
        "Segmen: Cafe",
    ] {
        assert!(out.contains(part), "`{part}` missing:\n{out}");
    }
    assert!(!out.contains('❌') && !out.contains('⛔'), "{out}");
}

#[tokio::test]
async fn juru_chat_without_owner_is_refused_crm_commands() {
    let out = juru_chat(false, &["#crm deals list"]).await;
    let bot_lines: Vec<&str> = out.lines().filter(|l| l.starts_with("bot: ")).collect();
    assert_eq!(bot_lines.len(), 1, "{out}");
    assert!(bot_lines[0].contains('⛔') && bot_lines[0].contains("owner"), "{out}");
    assert!(!out.contains("Open deals") && !out.contains("No open deals"), "{out}");
}

// ------------------------------------------------- premium, private, release

#[tokio::test]
async fn premium_only_refuses_staff_without_premium() {
    let dir = commands_dir(&[("owner_only", "false"), ("premium_only", "true")]);
    let staff = format!(
        "staff = [{{ phone = \"{STAFF}\", level = 1 }}, {{ phone = \"{STAFF_SENIOR}\", level = 1, premium = true }}]\n{}",
        commands_dir_line(&dir)
    );
    let bot = TestBot::with_config(&config(&staff, "")).await;
    let refused = ask(&bot, STAFF, "PR1", "#crm pipeline view").await;
    assert_eq!(refused, "⛔ *#crm*: this command is for premium users only.");
    let answered = ask(&bot, STAFF_SENIOR, "PR2", "#crm pipeline view").await;
    assert!(answered.starts_with("*Pipeline*"), "{answered}");
}

#[tokio::test]
async fn private_only_refuses_in_a_group_and_answers_in_private() {
    let dir = commands_dir(&[("private_only", "true")]);
    let bot = TestBot::with_config(&config(&commands_dir_line(&dir), "")).await;
    bot.waha_webhook(&waha_group(OWNER, "PV1", "#crm pipeline view")).await.assert_ok();
    let in_group = bot.waha.wait_messages_to(GROUP, 1).await;
    assert_eq!(text_of(&in_group[0]), "⛔ *#crm*: this command works only in a private chat.");
    assert!(ask(&bot, OWNER, "PV2", "#crm pipeline view").await.starts_with("*Pipeline*"));
}

#[tokio::test]
async fn crm_release_gives_a_handed_over_chat_back_to_the_bot() {
    const CUSTOMER: &str = "6281234567890";
    let bot = TestBot::with_config(&config("", "")).await;
    bot.waha_webhook(&waha_text(CUSTOMER, "RL1", "Saya mau bicara dengan admin")).await.assert_ok();
    bot.waha.wait_messages_to(CUSTOMER, 1).await;
    bot.waha_webhook(&waha_text(CUSTOMER, "RL2", "halo?")).await.assert_ok();
    settle().await;
    assert_eq!(bot.waha.messages_to(CUSTOMER).len(), 1, "handed over: the bot is silent");
    let reply = ask(&bot, OWNER, "RL3", &format!("#crm release {CUSTOMER}")).await;
    assert_eq!(reply, format!("✅ {CUSTOMER} is back with the bot."));
    // The release was queued to the customer's lane before the reply went out,
    // so the next message there is handled after it.
    bot.waha_webhook(&waha_text(CUSTOMER, "RL4", "Paket apa saja?")).await.assert_ok();
    let answers = bot.waha.wait_messages_to(CUSTOMER, 2).await;
    assert!(!text_of(&answers[1]).is_empty(), "the bot answers again");
    let mut bot = bot;
    bot.stop().await;
    let store = bot.store();
    let released = audit(&store, CUSTOMER)
        .into_iter()
        .any(|r| r.kind == "release" && r.route.as_deref() == Some(&format!("by {OWNER}")));
    assert!(released, "the release is audited with who did it");
}
