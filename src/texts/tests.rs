//! Every text exists, non-empty, in every language; hints stay pasteable.

use std::collections::BTreeSet;

use super::*;
use crate::live::Loadable;

fn report() -> SalesReport<'static> {
    SalesReport {
        period: "x",
        new_leads: 2,
        conversion: "50.0%",
        converted: 1,
        closed: 2,
        won: 1,
        lost: 1,
        win_rate: "50.0%",
        average_deal: "Rp 1",
        cycle: "x",
        weighted_open: "Rp 1",
    }
}

fn on_sale() -> OnSale {
    OnSale { code: "x".into(), name: "x".into(), quota: 1, departure: "x".into(), departed: false }
}

fn sync() -> SyncSummary<'static> {
    SyncSummary {
        platform: "x",
        full: true,
        contacts: 1,
        deals: 1,
        activities: 1,
        queued: 1,
        sent: 1,
        failed: 1,
        dead: 1,
    }
}

/// The refusals `crm` raises (deal moves, contact fields, scoring rules) and
/// the API-key hints are translated, not passed through in English.
#[test]
fn crm_refusals_and_key_hints_are_in_each_language() {
    use crate::crm::Stage;
    use crate::crm::contact::FieldError;
    use crate::crm::deal::MoveError;
    use crate::crm::scoring::RuleError;
    use crate::crm::settings::Platform;
    let (id, en) = (of(Language::Id), of(Language::En));
    let x = || "x".to_string();
    let fields = [
        FieldError::NotYesNo { field: x(), value: x() },
        FieldError::NotEmail(x()),
        FieldError::CustomerGroup,
        FieldError::Segment,
        FieldError::SourceMethod,
        FieldError::NotRupiah(x()),
        FieldError::NotSettable { field: x() },
    ];
    let moves = [
        MoveError::AlreadyIn(Stage::Lead),
        MoveError::RetentionBeforeWon,
        MoveError::Closed { from: Stage::Lost, to: Stage::Lead },
        MoveError::NeedsReason(Stage::Won),
    ];
    let rules = [
        RuleError::NotWholeNumber { key: x(), value: x() },
        RuleError::OutOfRange { key: x() },
        RuleError::Unknown { key: x() },
    ];
    let mut pairs: Vec<(String, String, String)> = Vec::new();
    pairs.extend(fields.iter().map(|e| (format!("{e:?}"), id.field_refused(e), en.field_refused(e))));
    pairs.extend(moves.iter().map(|e| (format!("{e:?}"), id.move_refused(e), en.move_refused(e))));
    pairs.extend(rules.iter().map(|e| (format!("{e:?}"), id.rule_refused(e), en.rule_refused(e))));
    pairs.extend(Platform::ALL.iter().map(|p| (format!("{p:?}"), id.api_key_hint(*p), en.api_key_hint(*p))));
    for (what, bahasa, english) in pairs {
        assert!(!bahasa.trim().is_empty() && !english.trim().is_empty(), "{what} is empty");
        assert_ne!(bahasa, english, "{what} is not translated");
    }
    // English reads as the errors' own text (logs and replies agree).
    assert_eq!(en.move_refused(&moves[3]), moves[3].to_string());
}

/// Each text of the catalogue, by method name, called with sample arguments
/// (`cmd` is `#crm`, `prefix` is `#`).
fn all(t: &dyn Texts) -> Vec<(&'static str, String)> {
    let described = Builtin::ALL.into_iter().map(|b| ("describe", t.describe(b).to_string()));
    let kinds = [CompanyKind::LegalEntity, CompanyKind::Brand, CompanyKind::Location];
    let kinds = kinds.into_iter().map(|k| ("company_kind", t.company_kind(k).to_string()));
    described
        .chain(kinds)
        .chain([
            ("could_not_read", t.could_not_read().to_string()),
            ("session_finished", t.session_finished().to_string()),
            ("acknowledgement", t.acknowledgement(Some("x")).to_string()),
            ("opted_out", t.opted_out().to_string()),
            ("team_not_a_command", t.team_not_a_command("#").to_string()),
            ("handover_reminder", t.handover_reminder("x", 2, "#").to_string()),
            ("handover_timed_out", t.handover_timed_out().to_string()),
            ("usage_label", t.usage_label().to_string()),
            ("example_label", t.example_label().to_string()),
            ("details_label", t.details_label().to_string()),
            ("commands_you_can_use", t.commands_you_can_use().to_string()),
            ("none_here", t.none_here().to_string()),
            ("no_such_command", t.no_such_command("x", "#").to_string()),
            ("no_such_subcommand", t.no_such_subcommand("x").to_string()),
            ("command_disabled", t.command_disabled("x", "x").to_string()),
            ("manifest_broken", t.manifest_broken().to_string()),
            ("command_not_built", t.command_not_built("x").to_string()),
            ("command_failed", t.command_failed().to_string()),
            ("subcommand_not_built", t.subcommand_not_built("x").to_string()),
            ("unknown_subcommand", t.unknown_subcommand("x").to_string()),
            ("unknown_action", t.unknown_action("x").to_string()),
            ("and_more", t.and_more(2).to_string()),
            ("refused_private_only", t.refused_private_only().to_string()),
            ("refused_group_only", t.refused_group_only().to_string()),
            ("refused_admin_group_only", t.refused_admin_group_only().to_string()),
            ("refused_owner_only", t.refused_owner_only().to_string()),
            ("refused_premium_only", t.refused_premium_only().to_string()),
            ("refused_plan", t.refused_plan("x", "x").to_string()),
            ("refused_level", t.refused_level(2, 2).to_string()),
            ("refused_cooldown", t.refused_cooldown(2).to_string()),
            ("refused_daily_limit", t.refused_daily_limit(2).to_string()),
            ("args_unterminated_quote", t.args_unterminated_quote(2).to_string()),
            ("args_unknown_flag", t.args_unknown_flag("x").to_string()),
            ("args_missing_value", t.args_missing_value("x").to_string()),
            ("args_unexpected_value", t.args_unexpected_value("x").to_string()),
            ("args_repeated", t.args_repeated("x").to_string()),
            ("args_missing", t.args_missing("x").to_string()),
            ("args_extra", t.args_extra("x").to_string()),
            ("args_not_a_number", t.args_not_a_number("x", "x").to_string()),
            ("not_a_phone", t.not_a_phone("x").to_string()),
            ("no_contact", t.no_contact("x").to_string()),
            ("contact_line", t.contact_line("x", Some("x"), "x", 2, Some("x")).to_string()),
            ("leads_heading", t.leads_heading(2).to_string()),
            ("no_hot_leads", t.no_hot_leads(2).to_string()),
            ("hot_leads_heading", t.hot_leads_heading(2, 2).to_string()),
            ("contacts_heading", t.contacts_heading(2).to_string()),
            ("no_contact_matches", t.no_contact_matches("x").to_string()),
            ("contacts_match_heading", t.contacts_match_heading(2, "x").to_string()),
            ("card_phone", t.card_phone("x").to_string()),
            ("card_stage", t.card_stage("x", 2).to_string()),
            ("card_source", t.card_source("x", Some("x")).to_string()),
            ("card_first_contact", t.card_first_contact("x", 2).to_string()),
            ("card_last_message", t.card_last_message("x").to_string()),
            ("card_first_message", t.card_first_message("x").to_string()),
            ("card_group", t.card_group("x", Some("x")).to_string()),
            ("card_email", t.card_email("x").to_string()),
            ("card_pic", t.card_pic("x").to_string()),
            ("card_estimated_value", t.card_estimated_value("x").to_string()),
            ("card_labels", t.card_labels("x").to_string()),
            ("card_opt_in", t.card_opt_in(true).to_string()),
            ("card_deals_heading", t.card_deals_heading().to_string()),
            ("card_activity_heading", t.card_activity_heading().to_string()),
            ("field_not_settable", t.field_not_settable("x", "x").to_string()),
            ("field_refused", t.field_refused(&crate::crm::contact::FieldError::CustomerGroup)),
            ("move_refused", t.move_refused(&crate::crm::deal::MoveError::RetentionBeforeWon)),
            ("rule_refused", t.rule_refused(&crate::crm::scoring::RuleError::Unknown { key: "x".into() })),
            ("api_key_hint", t.api_key_hint(crate::crm::settings::Platform::Pipedrive)),
            ("unknown_activity_type", t.unknown_activity_type("x", "x").to_string()),
            ("unknown_outcome", t.unknown_outcome("x", "x").to_string()),
            ("bad_date", t.bad_date("x").to_string()),
            ("activity_logged", t.activity_logged("x", "x", "x", "x").to_string()),
            ("not_a_chat", t.not_a_chat("x").to_string()),
            ("released", t.released("x").to_string()),
            ("no_companies", t.no_companies("#crm").to_string()),
            ("companies_heading", t.companies_heading().to_string()),
            ("company_kind_unknown", t.company_kind_unknown("x").to_string()),
            ("company_name_needs_letters", t.company_name_needs_letters().to_string()),
            ("company_exists", t.company_exists("x").to_string()),
            ("company_needs_parent", t.company_needs_parent("x", "x").to_string()),
            ("no_company_named", t.no_company_named("x", "x").to_string()),
            ("company_bad_segment", t.company_bad_segment().to_string()),
            ("company_segment_on_entity", t.company_segment_on_entity().to_string()),
            ("company_added", t.company_added("x", "x").to_string()),
            ("not_a_deal_id", t.not_a_deal_id("x").to_string()),
            ("no_open_deals", t.no_open_deals("#crm").to_string()),
            ("open_deals_heading", t.open_deals_heading(2).to_string()),
            ("no_deal", t.no_deal(2).to_string()),
            ("deal_contact", t.deal_contact("x", "x").to_string()),
            ("deal_company", t.deal_company("x", "x").to_string()),
            ("deal_invoice_to", t.deal_invoice_to("x").to_string()),
            ("deal_segment", t.deal_segment("x").to_string()),
            ("deal_reason", t.deal_reason("x").to_string()),
            ("deal_history_heading", t.deal_history_heading().to_string()),
            ("deal_history_line", t.deal_history_line("x", Some("x"), "x", "x", Some("x")).to_string()),
            ("not_an_amount", t.not_an_amount("x").to_string()),
            ("no_brand_or_location", t.no_brand_or_location("x").to_string()),
            ("deal_created", t.deal_created("x").to_string()),
            ("unknown_stage", t.unknown_stage("x", "x").to_string()),
            ("pipeline_heading", t.pipeline_heading().to_string()),
            ("pipeline_stage", t.pipeline_stage("x", 2, 2, "x", "x").to_string()),
            ("pipeline_total", t.pipeline_total(2, "x").to_string()),
            ("period_today", t.period_today().to_string()),
            ("period_last_days", t.period_last_days(2).to_string()),
            ("bad_period", t.bad_period("x").to_string()),
            ("cycle_days", t.cycle_days(2.5).to_string()),
            ("sales_report", t.sales_report(&report()).to_string()),
            ("unknown_report", t.unknown_report("x").to_string()),
            ("attribution_heading", t.attribution_heading().to_string()),
            ("attribution_line", t.attribution_line("x", 2, 2, 2.5).to_string()),
            ("scoring_rules", t.scoring_rules("x", "#crm").to_string()),
            ("scoring_set", t.scoring_set("x", "x").to_string()),
            ("filter_error", t.filter_error("x", "x", "x").to_string()),
            ("filter_problem", t.filter_problem(&crate::crm::filter::FilterProblem::EmptyList)),
            ("no_segments", t.no_segments("#crm").to_string()),
            ("segments_heading", t.segments_heading().to_string()),
            ("segment_line", t.segment_line("x", 2, "x").to_string()),
            ("segment_invalid", t.segment_invalid("x", "x").to_string()),
            ("segment_exists", t.segment_exists("x").to_string()),
            ("segment_created", t.segment_created("x", 2).to_string()),
            ("no_segment", t.no_segment("x").to_string()),
            ("segment_member", t.segment_member("x", "x", 2).to_string()),
            ("segment_shown", t.segment_shown("x", "x", 2, "x").to_string()),
            ("segment_deleted", t.segment_deleted("x").to_string()),
            ("no_sequence", t.no_sequence("x").to_string()),
            ("no_sequences", t.no_sequences("#crm").to_string()),
            ("sequences_heading", t.sequences_heading().to_string()),
            ("sequence_line", t.sequence_line("x", 2, "x", 2).to_string()),
            ("day", t.day(2).to_string()),
            ("sequence_exists", t.sequence_exists("x").to_string()),
            ("sequence_created", t.sequence_created("x", "#crm").to_string()),
            ("day_too_late", t.day_too_late(2).to_string()),
            ("step_text_missing", t.step_text_missing().to_string()),
            ("step_text_too_long", t.step_text_too_long(2).to_string()),
            ("too_many_steps", t.too_many_steps(2).to_string()),
            ("step_added", t.step_added("x", 2, 2, 2).to_string()),
            ("not_on_sequence", t.not_on_sequence("x", "x").to_string()),
            ("sequence_stopped", t.sequence_stopped("x", "x").to_string()),
            ("already_on_sequence", t.already_on_sequence("x", "x").to_string()),
            ("sequence_has_no_steps", t.sequence_has_no_steps("x").to_string()),
            ("not_opted_in", t.not_opted_in("x", "#crm", "x").to_string()),
            ("sequence_started", t.sequence_started("x", "x", 2, "x").to_string()),
            ("unknown_platform", t.unknown_platform("x", "x").to_string()),
            ("platform_chosen", t.platform_chosen("x", "x").to_string()),
            ("connect_next_oauth", t.connect_next_oauth("#crm", "x").to_string()),
            ("connect_next_key_or_oauth", t.connect_next_key_or_oauth("#crm", "x", "x").to_string()),
            ("connect_next_key", t.connect_next_key("#crm", "x", "x").to_string()),
            ("connect_next_secret", t.connect_next_secret("#crm", "x", "x").to_string()),
            ("auth_both", t.auth_both().to_string()),
            ("auth_neither", t.auth_neither().to_string()),
            ("platform_uses_oauth", t.platform_uses_oauth("x", "#crm", "x").to_string()),
            ("not_an_api_key", t.not_an_api_key().to_string()),
            ("api_key_stored", t.api_key_stored("x", "#crm", "x").to_string()),
            ("platform_has_no_oauth", t.platform_has_no_oauth("x").to_string()),
            ("oauth_client_missing", t.oauth_client_missing("x").to_string()),
            ("public_url_missing", t.public_url_missing().to_string()),
            ("authorize_link", t.authorize_link("x", "x").to_string()),
            ("no_platform_connected", t.no_platform_connected("#crm").to_string()),
            ("credential_api_key", t.credential_api_key().to_string()),
            ("credential_oauth_pending", t.credential_oauth_pending().to_string()),
            ("credential_oauth", t.credential_oauth().to_string()),
            ("credential_none", t.credential_none("#crm", "x").to_string()),
            ("previous_sync_request", t.previous_sync_request("x").to_string()),
            ("sync_requested", t.sync_requested(&sync()).to_string()),
            ("last_push", t.last_push("x").to_string()),
            ("last_error", t.last_error("x", "x").to_string()),
            ("connector_not_running", t.connector_not_running("x").to_string()),
            ("field_mappings_heading", t.field_mappings_heading().to_string()),
            ("field_mappings_none", t.field_mappings_none().to_string()),
            ("field_mapping_hint", t.field_mapping_hint("#crm").to_string()),
            ("unknown_local_field", t.unknown_local_field("x", "x").to_string()),
            ("not_platform_field", t.not_platform_field("x").to_string()),
            ("invalid_remote_field", t.invalid_remote_field("x", "x").to_string()),
            ("no_labels_known_create", t.no_labels_known_create().to_string()),
            ("no_label", t.no_label("x", "x").to_string()),
            ("labels_personal_only", t.labels_personal_only().to_string()),
            ("label_already", t.label_already("x", "x").to_string()),
            ("label_not_had", t.label_not_had("x", "x").to_string()),
            ("label_added", t.label_added("x", "x").to_string()),
            ("label_removed", t.label_removed("x", "x").to_string()),
            ("applied_by_staff", t.applied_by_staff("x").to_string()),
            ("applied_on_phone", t.applied_on_phone(Some("x")).to_string()),
            ("no_labels_of", t.no_labels_of("x").to_string()),
            ("labels_of_heading", t.labels_of_heading("x").to_string()),
            ("no_labels_known", t.no_labels_known().to_string()),
            ("labels_heading", t.labels_heading().to_string()),
            ("label_count", t.label_count("x", 2).to_string()),
            ("no_packages", t.no_packages()),
            ("packages_heading", t.packages_heading().to_string()),
            ("package_seats", t.package_seats(&on_sale(), &Standing::default())),
            ("not_a_seat_count", t.not_a_seat_count("x")),
            ("no_package", t.no_package("x", "x")),
            ("quota_set", t.quota_set("x", 0, 1, 1)),
        ])
        .collect()
}

#[test]
fn no_text_is_empty_in_any_language() {
    for lang in LANGUAGES {
        for (name, text) in all(of(lang)) {
            assert!(!text.trim().is_empty(), "{name} is empty in {lang:?}");
        }
    }
}

#[test]
fn every_text_of_the_catalogue_is_sampled_here() {
    let source = include_str!("mod.rs");
    let start = source.find("pub trait Texts").unwrap();
    let end = source[start..].find("\n}\n").unwrap() + start;
    let declared: BTreeSet<&str> = source[start..end]
        .split("fn ")
        .skip(1)
        .filter_map(|s| s.split_once("(&self").map(|(name, _)| name.trim()))
        .collect();
    let sampled: BTreeSet<&str> = all(of(Language::En)).into_iter().map(|(name, _)| name).collect();
    assert_eq!(declared, sampled, "add the new text to `all` so the tests see it");
}

#[test]
fn hints_show_the_whole_command_in_every_language() {
    let with_cmd = [
        "no_companies",
        "no_open_deals",
        "scoring_rules",
        "no_segments",
        "no_sequences",
        "sequence_created",
        "not_opted_in",
        "connect_next_oauth",
        "connect_next_key_or_oauth",
        "connect_next_key",
        "connect_next_secret",
        "platform_uses_oauth",
        "api_key_stored",
        "no_platform_connected",
        "credential_none",
        "field_mapping_hint",
    ];
    for lang in LANGUAGES {
        for (name, text) in all(of(lang)).into_iter().filter(|(name, _)| with_cmd.contains(name)) {
            assert!(text.contains("#crm "), "{name} in {lang:?} shows no pasteable command: {text}");
        }
    }
}

#[test]
fn every_builtin_is_found_by_its_names() {
    let shipped = crate::commands::Manifests::embedded();
    for m in shipped.all() {
        assert!(Builtin::named(&m.name, None).is_some(), "{}", m.name);
        for s in &m.subcommands {
            assert!(Builtin::named(&m.name, Some(&s.name)).is_some(), "{} {}", m.name, s.name);
        }
    }
    let subs: usize = shipped.all().iter().map(|m| 1 + m.subcommands.len()).sum();
    assert_eq!(subs, Builtin::ALL.len(), "every built-in text is shown for a shipped command");
}

#[test]
fn owners_read_bahasa_unless_configured_otherwise() {
    let t = of(Language::default());
    assert_eq!(
        t.no_open_deals("#crm"),
        "Belum ada deal terbuka. Buat dengan: #crm deals create --title \"…\" --value 5000000"
    );
    assert_eq!(of(Language::En).args_missing("PHONE"), "missing PHONE");
    assert_eq!(t.args_missing("PHONE"), "PHONE belum diisi");
}

/// One of every filter mistake; the match makes a new variant fail to compile until it is listed here.
fn every_filter_problem() -> Vec<crate::crm::filter::FilterProblem> {
    use crate::crm::filter::{Bracket, FieldHint, FieldKind, FilterProblem as P, Found};
    let word = || Found::Word("x".into());
    let all = vec![
        P::TooLong { chars: 1001, max: 1000 },
        P::Empty,
        P::Unmatched { bracket: Bracket::Square },
        P::ExpectedJoinOrEnd { found: word() },
        P::UnexpectedBang,
        P::UnexpectedAmpersand,
        P::UnexpectedPipe,
        P::UnclosedQuote { close: '"' },
        P::UnexpectedChar { found: '#' },
        P::TooDeep { max: 32 },
        P::Unclosed { bracket: Bracket::Round },
        P::ExpectedJoinOrClose { found: Found::Symbol("]".into()) },
        P::ExpectedCondition { after: "and".into() },
        P::ExpectedField { found: Found::Text("x".into()) },
        P::UnknownField { typed: "x".into(), hint: FieldHint::DidYouMean("city".into()) },
        P::UnknownField { typed: "x".into(), hint: FieldHint::NoFields },
        P::UnknownField { typed: "x".into(), hint: FieldHint::Known(vec!["city".into(), "label".into()]) },
        P::OperatorNotAllowed { operator: ">".into(), field: "city".into(), kind: FieldKind::Text },
        P::ExpectedInAfterNot { found: Found::End },
        P::NotInNotAllowed { field: "whatsapp_opt_in".into(), kind: FieldKind::Bool },
        P::InNotAllowed { field: "whatsapp_opt_in".into(), kind: FieldKind::Bool },
        P::ExpectedOperator { field: "lead_score".into(), kind: FieldKind::Number, found: word() },
        P::ExpectedList { found: word() },
        P::EmptyList,
        P::ExpectedSeparator { bracket: Bracket::Square, found: word() },
        P::KeywordAsValue { after: "=".into(), keyword: "not".into() },
        P::ExpectedValue { after: "=".into(), found: Found::End },
        P::NeedsNumber { field: "lead_score".into(), found: word() },
        P::NeedsYesNo { field: "whatsapp_opt_in".into(), found: word() },
    ];
    let listed: BTreeSet<usize> = all
        .iter()
        .map(|p| match p {
            P::TooLong { .. } => 0,
            P::Empty => 1,
            P::Unmatched { .. } => 2,
            P::ExpectedJoinOrEnd { .. } => 3,
            P::UnexpectedBang => 4,
            P::UnexpectedAmpersand => 5,
            P::UnexpectedPipe => 6,
            P::UnclosedQuote { .. } => 7,
            P::UnexpectedChar { .. } => 8,
            P::TooDeep { .. } => 9,
            P::Unclosed { .. } => 10,
            P::ExpectedJoinOrClose { .. } => 11,
            P::ExpectedCondition { .. } => 12,
            P::ExpectedField { .. } => 13,
            P::UnknownField { .. } => 14,
            P::OperatorNotAllowed { .. } => 15,
            P::ExpectedInAfterNot { .. } => 16,
            P::NotInNotAllowed { .. } => 17,
            P::InNotAllowed { .. } => 18,
            P::ExpectedOperator { .. } => 19,
            P::ExpectedList { .. } => 20,
            P::EmptyList => 21,
            P::ExpectedSeparator { .. } => 22,
            P::KeywordAsValue { .. } => 23,
            P::ExpectedValue { .. } => 24,
            P::NeedsNumber { .. } => 25,
            P::NeedsYesNo { .. } => 26,
        })
        .collect();
    assert_eq!(listed, (0..27).collect(), "every variant is listed at least once");
    all
}

#[test]
fn every_filter_problem_reads_in_every_language_and_bahasa_is_not_english() {
    for problem in every_filter_problem() {
        for lang in LANGUAGES {
            assert!(!of(lang).filter_problem(&problem).trim().is_empty(), "{problem:?} in {lang:?}");
        }
        let (id, en) = (of(Language::Id).filter_problem(&problem), of(Language::En).filter_problem(&problem));
        assert_eq!(en, problem.to_string(), "English reads as the parser's own wording");
        assert_ne!(id, en, "{problem:?} is not translated");
    }
}

#[test]
fn filter_mistakes_keep_the_syntax_untranslated_in_bahasa() {
    use crate::crm::filter::{FieldKind, Filter};
    let fields = [("lead_score", FieldKind::Number), ("segment", FieldKind::Text), ("opt_in", FieldKind::Bool)];
    let id = of(Language::Id);
    let said = |source: &str| id.filter_problem(&Filter::parse(source, &fields).unwrap_err().problem);
    assert_eq!(said("segment > 5"), "\">\" tidak bisa dipakai untuk segment (kolom teks); pakai =, !=, in atau not in");
    assert_eq!(said("lead_scor > 5"), "kolom \"lead_scor\" tidak ada; maksudnya \"lead_score\"?");
    assert_eq!(said("opt_in = maybe"), "opt_in harus diisi yes atau no, tapi tertulis \"maybe\"");
    assert_eq!(said("lead_score > 5 and"), "setelah \"and\" harus ada kondisi");
    assert_eq!(
        said("segment in Cafe"),
        "setelah \"in\" harus ada daftar, contoh [Hot, \"Grade A\"], tapi tertulis \"Cafe\""
    );
}
