//! Every text an owner, a staff member or a prospect reads from the runtime
//! core and from the chat commands, one file per language: [`id`] (Bahasa
//! Indonesia) and [`en`] (English) each implement [`Texts`], so a text missing
//! in one language does not compile. Owners and staff read `[bot] language`,
//! prospects the language detected in their chat. The sales conversation's
//! texts live in `sales::texts` and `prompts/playbook.toml`.
//!
//! Adding a language: a `Language` variant in config.rs, a file here that
//! implements [`Texts`], and its arm in [`of`] and [`LANGUAGES`].
//!
//! For translators: keep command names, flags (`--value`), placeholders in
//! capitals (`PHONE`), ids (`D3`), stage and field names as they are; they are
//! typed back into commands. `cmd` is the command as the user typed it
//! (`#crm`), so a hint stays pasteable. Identifiers, logs and comments stay in
//! English.

use crate::config::Language;
use crate::crm::company::CompanyKind;
use crate::crm::contact::FieldError;
use crate::crm::deal::MoveError;
use crate::crm::scoring::RuleError;
use crate::crm::seats::{OnSale, Standing};
use crate::crm::settings::Platform;

pub mod en;
pub mod id;

/// Every language juru speaks, for tests and checks.
pub const LANGUAGES: [Language; 2] = [Language::Id, Language::En];

/// The texts of one language.
pub fn of(lang: Language) -> &'static dyn Texts {
    match lang {
        Language::Id => &id::Id,
        Language::En => &en::En,
    }
}

/// The figures of `#crm reports sales-performance`, already formatted.
pub struct SalesReport<'a> {
    /// From [`Texts::period_today`] or [`Texts::period_last_days`].
    pub period: &'a str,
    pub new_leads: usize,
    /// `12.5%`, or `–` without leads.
    pub conversion: &'a str,
    pub converted: usize,
    pub closed: usize,
    pub won: usize,
    pub lost: usize,
    pub win_rate: &'a str,
    pub average_deal: &'a str,
    /// From [`Texts::cycle_days`], or `–`.
    pub cycle: &'a str,
    pub weighted_open: &'a str,
}

/// The figures of `#crm sync`.
pub struct SyncSummary<'a> {
    pub platform: &'a str,
    pub full: bool,
    pub contacts: u64,
    pub deals: u64,
    pub activities: u64,
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
    pub dead: u64,
}

/// The commands and subcommands this build has: `#help` describes them in the
/// reader's language unless their manifest gives a `description` of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Crm,
    CrmLeads,
    CrmContacts,
    CrmCompany,
    CrmDeals,
    CrmPipeline,
    CrmReports,
    CrmLeadScore,
    CrmSegment,
    CrmNurtureSequence,
    CrmConnect,
    CrmAuth,
    CrmSync,
    CrmFieldMapping,
    CrmRelease,
    Help,
    Label,
    LabelAdd,
    LabelRemove,
    LabelList,
    Paket,
    PaketList,
    PaketKuota,
}

impl Builtin {
    pub const ALL: [Builtin; 23] = [
        Builtin::Crm,
        Builtin::CrmLeads,
        Builtin::CrmContacts,
        Builtin::CrmCompany,
        Builtin::CrmDeals,
        Builtin::CrmPipeline,
        Builtin::CrmReports,
        Builtin::CrmLeadScore,
        Builtin::CrmSegment,
        Builtin::CrmNurtureSequence,
        Builtin::CrmConnect,
        Builtin::CrmAuth,
        Builtin::CrmSync,
        Builtin::CrmFieldMapping,
        Builtin::CrmRelease,
        Builtin::Help,
        Builtin::Label,
        Builtin::LabelAdd,
        Builtin::LabelRemove,
        Builtin::LabelList,
        Builtin::Paket,
        Builtin::PaketList,
        Builtin::PaketKuota,
    ];

    /// By manifest name and subcommand name (`("crm", Some("leads"))`).
    pub fn named(command: &str, sub: Option<&str>) -> Option<Builtin> {
        use Builtin::*;
        Some(match (command, sub) {
            ("crm", None) => Crm,
            ("crm", Some("leads")) => CrmLeads,
            ("crm", Some("contacts")) => CrmContacts,
            ("crm", Some("company")) => CrmCompany,
            ("crm", Some("deals")) => CrmDeals,
            ("crm", Some("pipeline")) => CrmPipeline,
            ("crm", Some("reports")) => CrmReports,
            ("crm", Some("lead-score")) => CrmLeadScore,
            ("crm", Some("segment")) => CrmSegment,
            ("crm", Some("nurture-sequence")) => CrmNurtureSequence,
            ("crm", Some("connect")) => CrmConnect,
            ("crm", Some("auth")) => CrmAuth,
            ("crm", Some("sync")) => CrmSync,
            ("crm", Some("field-mapping")) => CrmFieldMapping,
            ("crm", Some("release")) => CrmRelease,
            ("help", None) => Help,
            ("label", None) => Label,
            ("label", Some("add")) => LabelAdd,
            ("label", Some("remove")) => LabelRemove,
            ("label", Some("list")) => LabelList,
            ("paket", None) => Paket,
            ("paket", Some("list")) => PaketList,
            ("paket", Some("kuota")) => PaketKuota,
            _ => return None,
        })
    }
}

/// One method per text; its doc says when it is shown.
pub trait Texts: Sync {
    // ------------------------------------------------------------ runtime core

    /// The reply to a message juru cannot read (an unsupported type, an empty interactive).
    fn could_not_read(&self) -> String;
    /// The reply to `[sales] keyword_finish`.
    fn session_finished(&self) -> String;
    /// The acknowledgement sent until a conversation brain answers for real.
    fn acknowledgement(&self, name: Option<&str>) -> String;
    /// The reply to STOP / BERHENTI.
    fn opted_out(&self) -> String;
    /// To an owner or staff member whose text is not a command (the sales bot
    /// does not answer the team, and their text makes no lead).
    fn team_not_a_command(&self, prefix: &str) -> String;
    /// To `[bot] admin_chats` when a handed-over prospect still waits.
    fn handover_reminder(&self, chat: &str, waited_min: u64, prefix: &str) -> String;
    /// To the prospect when nobody took their handed-over chat in time.
    fn handover_timed_out(&self) -> String;

    // ------------------------------------------------------------ the frame of every command reply

    /// A command's or subcommand's line in `#help` / `#crm help`.
    fn describe(&self, what: Builtin) -> &'static str;

    /// `*Usage:*` before a command's usage line.
    fn usage_label(&self) -> &'static str;
    /// `*Example:*` before a command's example.
    fn example_label(&self) -> &'static str;
    /// Before `#help COMMAND` / `#crm help SUBCOMMAND`.
    fn details_label(&self) -> &'static str;
    /// The heading of `#help`.
    fn commands_you_can_use(&self) -> &'static str;
    /// `#help` when no command is open to the sender here.
    fn none_here(&self) -> &'static str;
    /// `#help NAME` for a name no command has.
    fn no_such_command(&self, name: &str, prefix: &str) -> String;
    /// `#crm help NAME` for a name no subcommand has.
    fn no_such_subcommand(&self, typed: &str) -> String;
    /// A command whose manifest file is broken, with the file and key named.
    fn command_disabled(&self, command: &str, problem: &str) -> String;
    /// `#help`'s line for such a command.
    fn manifest_broken(&self) -> &'static str;
    /// A manifest whose handler this build lacks.
    fn command_not_built(&self, command: &str) -> String;
    /// A command that failed on juru's side.
    fn command_failed(&self) -> String;
    /// A subcommand listed in crm.toml that this build has no handler for.
    fn subcommand_not_built(&self, sub: &str) -> String;
    /// A word after the command that is no subcommand.
    fn unknown_subcommand(&self, sub: &str) -> String;
    /// A word after the subcommand that is none of its actions.
    fn unknown_action(&self, action: &str) -> String;
    /// The tail of a list cut short.
    fn and_more(&self, n: usize) -> String;

    // ------------------------------------------------------------ refusals (after `⛔ *#crm*: `)

    fn refused_private_only(&self) -> String;
    fn refused_group_only(&self) -> String;
    fn refused_admin_group_only(&self) -> String;
    fn refused_owner_only(&self) -> String;
    fn refused_premium_only(&self) -> String;
    fn refused_plan(&self, required: &str, current: &str) -> String;
    fn refused_level(&self, required: u32, current: u32) -> String;
    fn refused_cooldown(&self, seconds_left: u64) -> String;
    fn refused_daily_limit(&self, limit: u32) -> String;

    // ------------------------------------------------------------ arguments that cannot be read

    fn args_unterminated_quote(&self, column: usize) -> String;
    fn args_unknown_flag(&self, name: &str) -> String;
    fn args_missing_value(&self, name: &str) -> String;
    fn args_unexpected_value(&self, name: &str) -> String;
    fn args_repeated(&self, name: &str) -> String;
    /// A required argument left out; `what` is its placeholder (`PHONE`, `--day N`).
    fn args_missing(&self, what: &str) -> String;
    fn args_extra(&self, text: &str) -> String;
    fn args_not_a_number(&self, name: &str, text: &str) -> String;

    // ------------------------------------------------------------ contacts and leads

    /// An argument that should be a phone number.
    fn not_a_phone(&self, text: &str) -> String;
    /// A number no contact has.
    fn no_contact(&self, key: &str) -> String;
    /// One contact in a list; `phone` when it differs from the name.
    fn contact_line(&self, name: &str, phone: Option<&str>, stage: &str, score: i64, campaign: Option<&str>) -> String;
    /// `#crm leads`.
    fn leads_heading(&self, total: usize) -> String;
    /// `#crm leads hot` with none.
    fn no_hot_leads(&self, threshold: i64) -> String;
    /// `#crm leads hot`.
    fn hot_leads_heading(&self, threshold: i64, total: usize) -> String;
    /// `#crm contacts`.
    fn contacts_heading(&self, total: usize) -> String;
    /// `#crm contacts search` with no match.
    fn no_contact_matches(&self, needle: &str) -> String;
    /// `#crm contacts search`.
    fn contacts_match_heading(&self, total: usize, needle: &str) -> String;
    /// The lines of `#crm contacts show` / `#crm leads show`.
    fn card_phone(&self, phone: &str) -> String;
    fn card_stage(&self, stage: &str, score: i64) -> String;
    fn card_source(&self, source: &str, campaign: Option<&str>) -> String;
    fn card_first_contact(&self, at: &str, messages: u64) -> String;
    fn card_last_message(&self, at: &str) -> String;
    fn card_first_message(&self, text: &str) -> String;
    fn card_group(&self, group: &str, segment: Option<&str>) -> String;
    fn card_email(&self, email: &str) -> String;
    fn card_pic(&self, pic: &str) -> String;
    fn card_estimated_value(&self, value: &str) -> String;
    fn card_labels(&self, labels: &str) -> String;
    fn card_opt_in(&self, opted_in: bool) -> String;
    fn card_deals_heading(&self) -> &'static str;
    fn card_activity_heading(&self) -> &'static str;
    /// `#crm contacts set` of a field that cannot be set.
    fn field_not_settable(&self, field: &str, settable: &str) -> String;
    /// `#crm contacts set` with a value the field does not take.
    fn field_refused(&self, e: &FieldError) -> String;
    /// `#crm deals move` to a stage the deal cannot reach (or won/lost without a reason).
    fn move_refused(&self, e: &MoveError) -> String;
    /// `#crm lead-score configure set` with a bad key or value.
    fn rule_refused(&self, e: &RuleError) -> String;
    /// Where the owner gets the API key (or secret) of `platform` for `#crm auth --api-key`.
    fn api_key_hint(&self, platform: Platform) -> String;
    fn unknown_activity_type(&self, typed: &str, types: &str) -> String;
    fn unknown_outcome(&self, typed: &str, outcomes: &str) -> String;
    fn bad_date(&self, typed: &str) -> String;
    /// `#crm contacts log`.
    fn activity_logged(&self, kind: &str, category: &str, contact: &str, outcome: &str) -> String;
    /// `#crm release` of something that is no chat.
    fn not_a_chat(&self, typed: &str) -> String;
    /// `#crm release`.
    fn released(&self, key: &str) -> String;

    // ------------------------------------------------------------ companies

    /// A kind of company, inside a sentence (`legal entity`).
    fn company_kind(&self, kind: CompanyKind) -> &'static str;
    fn no_companies(&self, cmd: &str) -> String;
    fn companies_heading(&self) -> &'static str;
    /// `#crm company add` of something that is no entity, brand or location.
    fn company_kind_unknown(&self, typed: &str) -> String;
    fn company_name_needs_letters(&self) -> String;
    fn company_exists(&self, name: &str) -> String;
    /// A brand without `--entity`, a location without `--brand`.
    fn company_needs_parent(&self, kind: &str, flag: &str) -> String;
    fn no_company_named(&self, kind: &str, name: &str) -> String;
    fn company_bad_segment(&self) -> String;
    fn company_segment_on_entity(&self) -> String;
    fn company_added(&self, kind: &str, name: &str) -> String;

    // ------------------------------------------------------------ deals, pipeline, reports

    fn not_a_deal_id(&self, typed: &str) -> String;
    fn no_open_deals(&self, cmd: &str) -> String;
    fn open_deals_heading(&self, n: usize) -> String;
    fn no_deal(&self, id: u64) -> String;
    fn deal_contact(&self, name: &str, key: &str) -> String;
    fn deal_company(&self, name: &str, kind: &str) -> String;
    /// The legal entity at the top of the deal's company chain.
    fn deal_invoice_to(&self, name: &str) -> String;
    fn deal_segment(&self, segment: &str) -> String;
    fn deal_reason(&self, reason: &str) -> String;
    fn deal_history_heading(&self) -> &'static str;
    /// One stage change; `from` is None for the deal's creation.
    fn deal_history_line(&self, at: &str, from: Option<&str>, to: &str, by: &str, reason: Option<&str>) -> String;
    fn not_an_amount(&self, typed: &str) -> String;
    fn no_brand_or_location(&self, name: &str) -> String;
    /// `summary` is `*D3* title — Rp 5.000.000 (lead)`.
    fn deal_created(&self, summary: &str) -> String;
    fn unknown_stage(&self, typed: &str, stages: &str) -> String;
    fn pipeline_heading(&self) -> &'static str;
    fn pipeline_stage(&self, stage: &str, probability: u64, deals: u64, value: &str, weighted: &str) -> String;
    fn pipeline_total(&self, deals: u64, weighted_open: &str) -> String;
    fn period_today(&self) -> &'static str;
    fn period_last_days(&self, days: u64) -> String;
    fn bad_period(&self, typed: &str) -> String;
    fn cycle_days(&self, days: f64) -> String;
    fn sales_report(&self, r: &SalesReport<'_>) -> String;
    fn unknown_report(&self, typed: &str) -> String;
    fn attribution_heading(&self) -> &'static str;
    fn attribution_line(&self, source: &str, leads: usize, won: usize, rate: f64) -> String;

    // ------------------------------------------------------------ scoring and segments

    /// `rules` is the list of `key = value` lines.
    fn scoring_rules(&self, rules: &str, cmd: &str) -> String;
    fn scoring_set(&self, key: &str, value: &str) -> String;
    /// A segment filter that does not parse, with a caret under the column.
    fn filter_error(&self, error: &str, source: &str, caret: &str) -> String;
    fn no_segments(&self, cmd: &str) -> String;
    fn segments_heading(&self) -> &'static str;
    fn segment_line(&self, name: &str, members: usize, filter: &str) -> String;
    fn segment_invalid(&self, name: &str, error: &str) -> String;
    fn segment_exists(&self, name: &str) -> String;
    fn segment_created(&self, name: &str, members: usize) -> String;
    fn no_segment(&self, name: &str) -> String;
    fn segment_member(&self, name: &str, phone: &str, score: i64) -> String;
    fn segment_shown(&self, name: &str, filter: &str, total: usize, members: &str) -> String;
    fn segment_deleted(&self, name: &str) -> String;

    // ------------------------------------------------------------ nurture sequences

    fn no_sequence(&self, name: &str) -> String;
    fn no_sequences(&self, cmd: &str) -> String;
    fn sequences_heading(&self) -> &'static str;
    /// `days` is the list of [`Texts::day`].
    fn sequence_line(&self, name: &str, steps: usize, days: &str, running: usize) -> String;
    fn day(&self, n: u32) -> String;
    fn sequence_exists(&self, name: &str) -> String;
    fn sequence_created(&self, name: &str, cmd: &str) -> String;
    fn day_too_late(&self, max: u32) -> String;
    fn step_text_missing(&self) -> String;
    fn step_text_too_long(&self, max: usize) -> String;
    fn too_many_steps(&self, max: usize) -> String;
    fn step_added(&self, sequence: &str, step: usize, day: u32, steps: usize) -> String;
    fn not_on_sequence(&self, contact: &str, sequence: &str) -> String;
    fn sequence_stopped(&self, sequence: &str, contact: &str) -> String;
    fn already_on_sequence(&self, contact: &str, sequence: &str) -> String;
    fn sequence_has_no_steps(&self, sequence: &str) -> String;
    fn not_opted_in(&self, contact: &str, cmd: &str, key: &str) -> String;
    fn sequence_started(&self, sequence: &str, contact: &str, steps: usize, first_at: &str) -> String;

    // ------------------------------------------------------------ CRM platforms

    fn unknown_platform(&self, typed: &str, platforms: &str) -> String;
    /// `#crm connect`; `next` is one of the `connect_next_*` texts.
    fn platform_chosen(&self, title: &str, next: &str) -> String;
    fn connect_next_oauth(&self, cmd: &str, platform: &str) -> String;
    /// `hint` says where the platform shows its API key.
    fn connect_next_key_or_oauth(&self, cmd: &str, platform: &str, hint: &str) -> String;
    fn connect_next_key(&self, cmd: &str, platform: &str, hint: &str) -> String;
    /// An app-only platform (Dynamics): the app's client secret is the credential.
    fn connect_next_secret(&self, cmd: &str, platform: &str, hint: &str) -> String;
    fn auth_both(&self) -> String;
    fn auth_neither(&self) -> String;
    fn platform_uses_oauth(&self, title: &str, cmd: &str, platform: &str) -> String;
    fn not_an_api_key(&self) -> String;
    fn api_key_stored(&self, title: &str, cmd: &str, platform: &str) -> String;
    fn platform_has_no_oauth(&self, title: &str) -> String;
    fn oauth_client_missing(&self, platform: &str) -> String;
    fn public_url_missing(&self) -> String;
    fn authorize_link(&self, title: &str, url: &str) -> String;
    fn no_platform_connected(&self, cmd: &str) -> String;
    fn credential_api_key(&self) -> String;
    fn credential_oauth_pending(&self) -> String;
    fn credential_oauth(&self) -> String;
    fn credential_none(&self, cmd: &str, platform: &str) -> String;
    fn previous_sync_request(&self, at: &str) -> String;
    /// `#crm sync`: what was asked and the sync outbox's counters.
    fn sync_requested(&self, s: &SyncSummary<'_>) -> String;
    fn last_push(&self, at: &str) -> String;
    /// `at` is ` (2026-11-23 10:00)` or empty.
    fn last_error(&self, at: &str, error: &str) -> String;
    fn connector_not_running(&self, title: &str) -> String;
    fn field_mappings_heading(&self) -> &'static str;
    fn field_mappings_none(&self) -> &'static str;
    fn field_mapping_hint(&self, cmd: &str) -> String;
    fn unknown_local_field(&self, typed: &str, known: &str) -> String;
    fn not_platform_field(&self, typed: &str) -> String;
    fn invalid_remote_field(&self, field: &str, title: &str) -> String;

    // ------------------------------------------------------------ WhatsApp labels

    fn no_labels_known_create(&self) -> String;
    fn no_label(&self, wanted: &str, labels: &str) -> String;
    fn labels_personal_only(&self) -> String;
    fn label_already(&self, key: &str, label: &str) -> String;
    fn label_not_had(&self, key: &str, label: &str) -> String;
    fn label_added(&self, label: &str, key: &str) -> String;
    fn label_removed(&self, label: &str, key: &str) -> String;
    /// Who put a label on: a staff member through juru…
    fn applied_by_staff(&self, id: &str) -> String;
    /// …or someone on the WhatsApp phone (`number` of the account when known).
    fn applied_on_phone(&self, number: Option<&str>) -> String;
    fn no_labels_of(&self, key: &str) -> String;
    fn labels_of_heading(&self, key: &str) -> String;
    fn no_labels_known(&self) -> String;
    fn labels_heading(&self) -> &'static str;
    fn label_count(&self, label: &str, contacts: usize) -> String;

    // ------------------------------------------------------------ package seats (`#paket`)

    fn no_packages(&self) -> String;
    fn packages_heading(&self) -> &'static str;
    /// One package's line: seats left, held, taken; whether an admin set the
    /// quota; departed or full.
    fn package_seats(&self, p: &OnSale, s: &Standing) -> String;
    fn not_a_seat_count(&self, typed: &str) -> String;
    fn no_package(&self, code: &str, known: &str) -> String;
    /// `n` seats left from now; 0 means the bot offers other packages.
    fn quota_set(&self, code: &str, n: u32, held: u32, taken: u32) -> String;

    // ------------------------------------------------------------ segment filter mistakes

    /// What is wrong with a segment filter, shown inside [`Texts::filter_error`].
    /// Keep the filter syntax as typed: `and`, `or`, `not`, `in`, `yes`/`no`,
    /// operators, brackets and field names.
    fn filter_problem(&self, problem: &crate::crm::filter::FilterProblem) -> String;
}

// The runtime core's texts by language, for callers outside the commands.

/// See [`Texts::could_not_read`].
pub fn could_not_read(lang: Language) -> String {
    of(lang).could_not_read()
}

/// See [`Texts::session_finished`].
pub fn session_finished(lang: Language) -> String {
    of(lang).session_finished()
}

/// See [`Texts::acknowledgement`].
pub fn acknowledgement(lang: Language, name: Option<&str>) -> String {
    of(lang).acknowledgement(name)
}

/// See [`Texts::opted_out`].
pub fn opted_out(lang: Language) -> String {
    of(lang).opted_out()
}

/// See [`Texts::team_not_a_command`].
pub fn team_not_a_command(lang: Language, prefix: &str) -> String {
    of(lang).team_not_a_command(prefix)
}

/// See [`Texts::handover_reminder`].
pub fn handover_reminder(lang: Language, chat: &str, waited_min: u64, prefix: &str) -> String {
    of(lang).handover_reminder(chat, waited_min, prefix)
}

/// See [`Texts::handover_timed_out`].
pub fn handover_timed_out(lang: Language) -> String {
    of(lang).handover_timed_out()
}

#[cfg(test)]
mod tests;
