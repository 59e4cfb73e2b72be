//! Handlers called directly, over a real store: what the sender reads and
//! what is stored after the commit.

use std::sync::Arc;

use super::*;
use crate::channel::{Channel, ChatId, Phone};
use crate::crm::Crm;
use crate::live::{LiveDir, Loadable};
use crate::store::Store;

const OWNER: &str = "6281111111111";
const PROSPECT: &str = "6282222222222";
const NOW: u64 = 1_795_402_800_000;

/// What a test reads of a command's effects.
struct Outcome {
    replies: Vec<String>,
    result: String,
    audit_text: String,
}

struct Bench {
    _dir: tempfile::TempDir,
    store: Store,
    commands: Commands,
}

fn bench() -> Bench {
    bench_in(Some(Language::En))
}

/// A bench whose owner reads `language`, or the configured default with `None`.
fn bench_in(language: Option<Language>) -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let crm = Arc::new(Crm::open(&store, None, dir.path()).unwrap());
    let mut config = Config::default();
    config.bot.owners = vec![crate::config::PhoneNumber(OWNER.into())];
    config.sales.default_language = Language::En;
    if let Some(language) = language {
        config.bot.language = language;
    }
    let commands = Commands::new(LiveDir::fixed(Manifests::embedded()), CommandSettings::from_config(&config), crm);
    Bench { _dir: dir, store, commands }
}

/// The catalog as the router hands it to commands.
fn packages() -> Vec<crate::crm::seats::OnSale> {
    let on_sale = |code: &str, quota, departed| crate::crm::seats::OnSale {
        code: code.into(),
        name: format!("Umroh {code}"),
        quota,
        departure: "2027-01-20".into(),
        departed,
    };
    vec![on_sale("UMR_JAN_2027_PLUS", 20, false), on_sale("UMR_MAR_2025_HEMAT", 45, true)]
}

fn from(phone: &str, text: &str) -> Inbound {
    let chat = ChatId::Phone(Phone::parse(phone).unwrap());
    Inbound::text_from(Channel::Waha, "default", format!("id-{text}"), chat, text)
}

impl Bench {
    /// Runs one message as a command and commits its changes, as the runtime does.
    async fn run(&self, ev: Inbound) -> Outcome {
        let inv = self.commands.detect(ev.text()).expect("a command");
        let mut effects = self.commands.handle(&ev, &inv, &NoDirectory, &packages, NOW, None).await;
        let writes = std::mem::take(&mut effects.crm.writes);
        self.store.commit.commit(writes).await.unwrap();
        self.commands.crm().refresh(&effects.crm.touched);
        Outcome {
            replies: effects.texts().iter().map(|t| t.to_string()).collect(),
            result: effects.audit.route.unwrap_or_default().trim_start_matches("command: ").to_string(),
            audit_text: effects.audit.text.unwrap_or_default(),
        }
    }

    async fn owner(&self, text: &str) -> String {
        self.run(from(OWNER, text)).await.replies.join("\n")
    }

    async fn prospect_writes(&self, text: &str) {
        let touch = crate::crm::Touch {
            key: PROSPECT.into(),
            user_id: None,
            phone: Some(PROSPECT.into()),
            name: Some("Budi".into()),
            channel: Channel::Waha.into(),
            referral: None,
            text: Some(text.into()),
            feature_used: false,
            campaign_source: Some("UMR_MAR_2025_HEMAT".into()),
            now_ms: NOW,
            opt_in: true,
        };
        let changes = self.commands.crm().touch(touch);
        self.store.commit.commit(changes.writes).await.unwrap();
        self.commands.crm().refresh(&changes.touched);
    }
}

#[test]
fn only_a_prefix_and_a_known_name_make_a_command() {
    let b = bench();
    assert!(b.commands.detect(Some("#crm leads")).is_some());
    assert!(b.commands.detect(Some("  #CRM leads")).is_some(), "case and leading spaces");
    assert!(b.commands.detect(Some("#menu")).is_some(), "an alias");
    assert!(b.commands.detect(Some("#1 best seller?")).is_none());
    assert!(b.commands.detect(Some("crm leads")).is_none(), "no prefix");
    assert!(b.commands.detect(Some("!crm leads")).is_none(), "not a configured prefix");
}

#[tokio::test]
async fn a_prospect_typing_crm_is_refused_even_with_the_owners_number_in_the_text() {
    let b = bench();
    b.prospect_writes("halo").await;
    let out = b.run(from(PROSPECT, &format!("#crm leads list {OWNER}"))).await;
    assert_eq!(out.result, "refused: owner_only");
    assert_eq!(out.replies, ["⛔ *#crm*: this command is for the owner only (not owner)."]);
    assert!(!out.replies[0].contains(PROSPECT));
}

#[tokio::test]
async fn a_deal_moves_through_its_stages_with_reasons_and_history() {
    let b = bench();
    b.prospect_writes("Berapa harga paket?").await;
    let created =
        b.owner(&format!("#crm deals create --title \"Kopi Kita\" --value 12,5jt --contact {PROSPECT}")).await;
    assert!(created.contains("*D1* Kopi Kita — Rp 12.500.000 (lead)"), "{created}");
    assert!(b.owner("#crm deals move D1 proposal").await.contains("lead → *proposal*"));
    let refused = b.owner("#crm deals won D1").await;
    assert!(refused.contains("needs a reason") && refused.contains("*Example:* #crm deals create"), "{refused}");
    assert!(b.owner("#crm deals won D1 --reason \"best price\"").await.contains("proposal → *won*"));
    assert!(b.owner("#crm deals move D1 lead").await.contains("cannot move"));
    let deal = b.commands.crm().read().deals.get(&1).cloned().unwrap();
    assert_eq!(deal.history.len(), 3);
    assert_eq!(deal.history[2].by, OWNER);
    assert_eq!(deal.reason.as_deref(), Some("best price"));
    assert_eq!(b.commands.crm().contact(PROSPECT).unwrap().current_stage, crate::crm::Stage::Won);
    let pipeline = b.owner("#crm pipeline view").await;
    assert!(pipeline.contains("*won* (100%): 1 deal(s), Rp 12.500.000"), "{pipeline}");
}

/// An Indonesian owner reads crm's refusals in Bahasa, not English inside a Bahasa frame.
#[tokio::test]
async fn crm_refusals_follow_the_owners_language() {
    let b = bench_in(None);
    b.prospect_writes("Berapa harga paket?").await;
    b.owner(&format!("#crm deals create --title \"Kopi Kita\" --value 12,5jt --contact {PROSPECT}")).await;
    let no_reason = b.owner("#crm deals won D1").await;
    assert!(no_reason.contains("wajib diberi alasan"), "{no_reason}");
    b.owner("#crm deals lost D1 --reason budget").await;
    let closed = b.owner("#crm deals move D1 lead").await;
    assert!(closed.contains("tidak bisa dipindah ke lead"), "{closed}");
    let email = b.owner(&format!("#crm contacts set {PROSPECT} email budi-at-mail")).await;
    assert!(email.contains("bukan alamat email"), "{email}");
    let rule = b.owner("#crm lead-score configure set per_message banyak").await;
    assert!(rule.contains("harus bilangan bulat"), "{rule}");
    let key = b.owner("#crm connect pipedrive").await;
    assert!(key.contains("salin API token Anda"), "{key}");
    for reply in [no_reason, closed, email, rule, key] {
        assert!(!reply.contains("needs") && !reply.contains("cannot") && !reply.contains("copy "), "{reply}");
    }
}

#[tokio::test]
async fn a_bad_segment_filter_points_at_the_column() {
    let b = bench();
    let reply = b.owner("#crm segment create \"Hot\" --where \"lead_score > and segment = Cafe\"").await;
    // The caret sits under column 14, the "and".
    assert!(reply.contains("```lead_score > and segment = Cafe\n             ^```"), "{reply}");
    assert!(reply.contains("*Example:* #crm segment create"), "{reply}");
    b.prospect_writes("Berapa harga paket?").await;
    let made =
        b.owner("#crm segment create \"Pricing\" --where \"lead_score >= 60 and campaign = UMR_MAR_2025_HEMAT\"").await;
    assert!(made.contains("1 contact(s) match"), "{made}");
    assert!(b.owner("#crm segment show pricing").await.contains("Budi"));
}

#[tokio::test]
async fn a_bad_segment_filter_is_explained_in_the_owners_language() {
    let create = "#crm segment create hot --where \"lead_score >> 5\"";
    let caret = "```lead_score >> 5\n            ^```";

    let b = bench_in(None);
    let reply = b.owner(create).await;
    assert!(reply.contains("filter salah: setelah \">\" harus ada nilai, tapi tertulis \">\""), "{reply}");
    assert!(reply.contains(caret), "{reply}");
    assert!(!reply.contains("expected"), "no English inside the Bahasa reply: {reply}");
    assert!(b.commands.crm().read().segments.is_empty(), "nothing stored");

    let reply = bench_in(Some(Language::En)).owner(create).await;
    assert!(reply.contains("filter error: expected a value after \">\", found \">\""), "{reply}");
    assert!(reply.contains(caret), "{reply}");
}

#[tokio::test]
async fn an_api_key_is_stored_encrypted_and_never_echoed_or_audited() {
    let b = bench();
    let out = b.run(from(OWNER, "#crm auth --platform pipedrive --api-key 0123abcdSECRET")).await;
    assert_eq!(out.result, "ok");
    assert!(!out.replies.concat().contains("0123abcdSECRET"));
    assert_eq!(out.audit_text, "#crm auth --platform pipedrive --api-key •••");
    let raw = b.store.read(TreeName::Secrets).get("pipedrive").unwrap().unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains("0123abcdSECRET"));
    assert_eq!(b.commands.crm().secret(crate::crm::Platform::Pipedrive).unwrap().as_deref(), Some("0123abcdSECRET"));
}

#[tokio::test]
async fn sync_says_plainly_that_no_connector_is_active() {
    let b = bench();
    assert!(b.owner("#crm sync").await.contains("no CRM platform connected"));
    assert!(b.owner("#crm connect hubspot").await.contains("*Next step:* #crm auth --platform hubspot"));
    let reply = b.owner("#crm sync --full").await;
    assert!(
        reply.contains("HubSpot sync requested (full)")
            && reply.contains("queued 0 · sent 0")
            && reply.contains("not running yet"),
        "{reply}"
    );
}

#[tokio::test]
async fn crm_alone_and_crm_help_show_usage_from_the_manifest() {
    let b = bench();
    let all = b.owner("#crm").await;
    assert!(all.contains("• *nurture-sequence*"), "{all}");
    let one = b.owner("#crm help deals").await;
    assert!(one.contains("*Usage:* #crm deals [list|show ID|create"), "{one}");
    let menu = b.run(from(PROSPECT, "#menu")).await.replies.concat();
    assert!(menu.contains("*#help*") && !menu.contains("*#crm*"), "a prospect sees only what it may use: {menu}");
}

#[tokio::test]
async fn unknown_flags_give_usage_and_example() {
    let b = bench();
    let reply = b.owner("#crm deals create --title X --valeu 5").await;
    assert!(reply.starts_with("❌ unknown option --valeu"), "{reply}");
    assert!(reply.contains("*Example:* #crm deals create --title"), "{reply}");
}

#[test]
fn secrets_are_masked_in_every_form() {
    let m = |args: &str| mask_secrets(&format!("#crm auth {args}"), args);
    assert_eq!(m("--platform hubspot --api-key pat-123"), "#crm auth --platform hubspot --api-key •••");
    assert_eq!(m("--api-key=\"pat 123\""), "#crm auth --api-key=\"•••\"");
    assert_eq!(m("--API_KEY pat-123"), "#crm auth --API_KEY •••");
    assert_eq!(m("--api-key \"pat-123"), "#crm auth •••", "unbalanced quote: nothing after the flag kept");
}

#[tokio::test]
async fn paket_lists_seats_and_an_admin_says_how_many_are_left() {
    let b = bench();
    let list = b.owner("#paket").await;
    assert!(list.contains("UMR_JAN_2027_PLUS") && list.contains("20 seats left"), "{list}");
    assert!(list.contains("UMR_MAR_2025_HEMAT") && list.contains("departed"), "{list}");
    // A booking handover elsewhere held 3 seats.
    let mut hold = crate::crm::Changes::default();
    hold.hold_seats(PROSPECT, "UMR_JAN_2027_PLUS", 3, NOW, NOW + 3_600_000);
    b.store.commit.commit(std::mem::take(&mut hold.writes)).await.unwrap();
    b.commands.crm().refresh(&hold.touched);
    assert!(b.owner("#paket list").await.contains("17 seats left; held 3, taken 0"));
    let set = b.owner("#paket kuota umr_jan_2027_plus 5").await;
    assert!(set.contains("UMR_JAN_2027_PLUS") && set.contains("5 seats left"), "{set}");
    let list = b.owner("#paket").await;
    assert!(list.contains("5 seats left; held 3, taken 0, quota set by an admin"), "{list}");
    assert!(b.owner("#paket kuota UMR_JAN_2027_PLUS 0").await.contains("other packages"));
    assert!(b.owner("#paket").await.contains("FULL"));
}

#[tokio::test]
async fn paket_kuota_refuses_what_it_cannot_read() {
    let b = bench();
    let unknown = b.owner("#paket kuota UMR_XYZ_2099_FAKE 3").await;
    assert!(unknown.contains("no package UMR_XYZ_2099_FAKE") && unknown.contains("UMR_JAN_2027_PLUS"), "{unknown}");
    let bad = b.owner("#paket kuota UMR_JAN_2027_PLUS banyak").await;
    assert!(bad.contains("not a number of seats") && bad.contains("kuota CODE N"), "{bad}");
    // Nothing was stored by the refusals.
    assert!(b.owner("#paket").await.contains("20 seats left; held 0, taken 0"));
    let prospect = b.run(from(PROSPECT, "#paket kuota UMR_JAN_2027_PLUS 1")).await;
    assert!(prospect.result.starts_with("refused"), "{}", prospect.result);
}
