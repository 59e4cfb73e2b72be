//! English.

use super::{Builtin, SalesReport, SyncSummary, Texts};
use crate::crm::company::CompanyKind;
use crate::crm::contact::{FieldError, SETTABLE_FIELDS};
use crate::crm::deal::MoveError;
use crate::crm::scoring::RuleError;
use crate::crm::seats::{OnSale, Standing};
use crate::crm::settings::Platform;

pub struct En;

impl Texts for En {
    // ------------------------------------------------------------ runtime core

    fn could_not_read(&self) -> String {
        "Sorry, we could not read that message 🙏 Could you send it as text?".into()
    }

    fn session_finished(&self) -> String {
        "Thank you, this session is closed 🙏 Message us any time.".into()
    }

    fn acknowledgement(&self, name: Option<&str>) -> String {
        match name {
            Some(name) => format!("Hi {name}, we have received your message 🙏 Our team will reply shortly."),
            None => "Hi, we have received your message 🙏 Our team will reply shortly.".into(),
        }
    }

    fn opted_out(&self) -> String {
        "Done — we will not send you follow-up messages again 🙏 You can still message us any time.".into()
    }

    fn team_not_a_command(&self, prefix: &str) -> String {
        format!(
            "ℹ️ That is not a command. You are listed as owner/staff, so the sales bot does not answer you or \
             record you as a lead (try the bot in the dashboard's playground). Commands: {prefix}help"
        )
    }

    fn handover_reminder(&self, chat: &str, waited_min: u64, prefix: &str) -> String {
        format!(
            "⏰ *Handover waiting* — {chat} has waited {waited_min} min without an admin's reply.\n\
             Reply in the prospect's chat; give it back to the bot with {prefix}crm release {chat}."
        )
    }

    fn handover_timed_out(&self) -> String {
        "Sorry, our admin has not been able to reply yet 🙏 I can help you again meanwhile; just write your question."
            .into()
    }

    // ------------------------------------------------------------ the frame of every command reply

    fn describe(&self, what: Builtin) -> &'static str {
        match what {
            Builtin::Crm => "Leads, contacts, deals, reports and CRM connections",
            Builtin::CrmLeads => "Recent leads, one lead in detail, or the hottest by score",
            Builtin::CrmContacts => "Browse, search and edit contacts; log an activity",
            Builtin::CrmCompany => "Legal entities, their brands and locations (B2B)",
            Builtin::CrmDeals => {
                "Create deals and move them through lead → qualified → discovery → proposal → negotiation → won | lost → retention"
            }
            Builtin::CrmPipeline => "Deals and value per stage, weighted by stage probability",
            Builtin::CrmReports => "Conversion, deal size, cycle length, win rate; leads per source and campaign",
            Builtin::CrmLeadScore => "The scoring rules (engagement, intent, demographic points)",
            Builtin::CrmSegment => "Saved contact filters, e.g. lead_score > 75 and segment = Cafe",
            Builtin::CrmNurtureSequence => {
                "Follow-up messages sent on day N to opted-in contacts (they can reply STOP)"
            }
            Builtin::CrmConnect => "Choose the CRM platform to sync with",
            Builtin::CrmAuth => {
                "Store the platform's credential (encrypted, never shown again) or get an authorization link"
            }
            Builtin::CrmSync => "Queue a sync to the connected platform and show what is queued",
            Builtin::CrmFieldMapping => "Which platform field each local field goes to",
            Builtin::CrmRelease => "Give a handed-over or paused chat back to the bot",
            Builtin::Help => "List the commands you can use",
            Builtin::Label => "Put or take a WhatsApp label on a contact, recorded with your name",
            Builtin::LabelAdd => "Put a label (one that exists in WhatsApp) on a contact",
            Builtin::LabelRemove => "Take a label off a contact",
            Builtin::LabelList => "The labels and how many contacts carry each, or one contact's labels",
            Builtin::Paket => "The packages on sale with their seats left, held and taken; set seats left",
            Builtin::PaketList => "Every package: seats left of its quota, held by bookings, taken by won deals",
            Builtin::PaketKuota => {
                "Say how many seats of a package are left now (0 = full: the bot offers alternatives)"
            }
        }
    }

    fn usage_label(&self) -> &'static str {
        "Usage"
    }

    fn example_label(&self) -> &'static str {
        "Example"
    }

    fn details_label(&self) -> &'static str {
        "Details"
    }

    fn commands_you_can_use(&self) -> &'static str {
        "Commands you can use"
    }

    fn none_here(&self) -> &'static str {
        "none here"
    }

    fn no_such_command(&self, name: &str, prefix: &str) -> String {
        format!("there is no command `{name}`; send {prefix}help")
    }

    fn no_such_subcommand(&self, typed: &str) -> String {
        format!("There is no `{typed}`.")
    }

    fn command_disabled(&self, command: &str, problem: &str) -> String {
        format!("❌ {command} is disabled until its manifest is fixed: {problem}")
    }

    fn manifest_broken(&self) -> &'static str {
        "disabled: its manifest is broken"
    }

    fn command_not_built(&self, command: &str) -> String {
        format!("{command} is not available in this build")
    }

    fn command_failed(&self) -> String {
        "❌ Something went wrong on our side; nothing was changed. Please try again.".into()
    }

    fn subcommand_not_built(&self, sub: &str) -> String {
        format!("`{sub}` is listed in crm.toml but not built in")
    }

    fn unknown_subcommand(&self, sub: &str) -> String {
        format!("unknown subcommand `{sub}`")
    }

    fn unknown_action(&self, action: &str) -> String {
        format!("unknown action `{action}`")
    }

    fn and_more(&self, n: usize) -> String {
        format!("…and {n} more")
    }

    // ------------------------------------------------------------ refusals

    fn refused_private_only(&self) -> String {
        "this command works only in a private chat.".into()
    }

    fn refused_group_only(&self) -> String {
        "this command works only in a group.".into()
    }

    fn refused_admin_group_only(&self) -> String {
        "this command is for group admins only.".into()
    }

    fn refused_owner_only(&self) -> String {
        "this command is for the owner only (not owner).".into()
    }

    fn refused_premium_only(&self) -> String {
        "this command is for premium users only.".into()
    }

    fn refused_plan(&self, required: &str, current: &str) -> String {
        format!("plan *{required}* required (this bot is on {current}).")
    }

    fn refused_level(&self, required: u32, current: u32) -> String {
        format!("level {required} required (you are level {current}).")
    }

    fn refused_cooldown(&self, seconds_left: u64) -> String {
        format!("cooldown: {seconds_left} s left.")
    }

    fn refused_daily_limit(&self, limit: u32) -> String {
        format!("daily limit reached ({limit} per day); try again tomorrow.")
    }

    // ------------------------------------------------------------ arguments

    fn args_unterminated_quote(&self, column: usize) -> String {
        format!("unterminated quote starting at column {column}")
    }

    fn args_unknown_flag(&self, name: &str) -> String {
        format!("unknown option --{name}")
    }

    fn args_missing_value(&self, name: &str) -> String {
        format!("--{name} needs a value")
    }

    fn args_unexpected_value(&self, name: &str) -> String {
        format!("--{name} takes no value")
    }

    fn args_repeated(&self, name: &str) -> String {
        format!("--{name} is given twice")
    }

    fn args_missing(&self, what: &str) -> String {
        format!("missing {what}")
    }

    fn args_extra(&self, text: &str) -> String {
        format!("unexpected \"{text}\"")
    }

    fn args_not_a_number(&self, name: &str, text: &str) -> String {
        format!("--{name} must be a number, not \"{text}\"")
    }

    // ------------------------------------------------------------ contacts and leads

    fn not_a_phone(&self, text: &str) -> String {
        format!("\"{text}\" is not a phone number (e.g. 6281234567890)")
    }

    fn no_contact(&self, key: &str) -> String {
        format!("no contact {key} yet")
    }

    fn contact_line(&self, name: &str, phone: Option<&str>, stage: &str, score: i64, campaign: Option<&str>) -> String {
        let phone = phone.map(|p| format!(" ({p})")).unwrap_or_default();
        let campaign = campaign.map(|c| format!(", {c}")).unwrap_or_default();
        format!("*{name}*{phone} — {stage}, score {score}{campaign}")
    }

    fn leads_heading(&self, total: usize) -> String {
        format!("*Leads* ({total}), most recent first")
    }

    fn no_hot_leads(&self, threshold: i64) -> String {
        format!("No lead has reached the hot score ({threshold}) yet.")
    }

    fn hot_leads_heading(&self, threshold: i64, total: usize) -> String {
        format!("🔥 *Hot leads* (score ≥ {threshold}): {total}")
    }

    fn contacts_heading(&self, total: usize) -> String {
        format!("*Contacts* ({total}), most recent first")
    }

    fn no_contact_matches(&self, needle: &str) -> String {
        format!("No contact matches \"{needle}\".")
    }

    fn contacts_match_heading(&self, total: usize, needle: &str) -> String {
        format!("*{total} contact(s) match \"{needle}\"*")
    }

    fn card_phone(&self, phone: &str) -> String {
        format!("Phone: {phone}")
    }

    fn card_stage(&self, stage: &str, score: i64) -> String {
        format!("Stage: {stage} · score {score}")
    }

    fn card_source(&self, source: &str, campaign: Option<&str>) -> String {
        format!("Source: {source}{}", campaign.map(|c| format!(" ({c})")).unwrap_or_default())
    }

    fn card_first_contact(&self, at: &str, messages: u64) -> String {
        format!("First contact: {at} · {messages} messages")
    }

    fn card_last_message(&self, at: &str) -> String {
        format!("Last message: {at}")
    }

    fn card_first_message(&self, text: &str) -> String {
        format!("First message: \"{text}\"")
    }

    fn card_group(&self, group: &str, segment: Option<&str>) -> String {
        format!("Group: {group} · segment {}", segment.unwrap_or("-"))
    }

    fn card_email(&self, email: &str) -> String {
        format!("Email: {email}")
    }

    fn card_pic(&self, pic: &str) -> String {
        format!("PIC: {pic}")
    }

    fn card_estimated_value(&self, value: &str) -> String {
        format!("Estimated value: {value}")
    }

    fn card_labels(&self, labels: &str) -> String {
        format!("Labels: {labels}")
    }

    fn card_opt_in(&self, opted_in: bool) -> String {
        format!("WhatsApp opt-in: {}", if opted_in { "yes" } else { "no" })
    }

    fn card_deals_heading(&self) -> &'static str {
        "*Deals*"
    }

    fn card_activity_heading(&self) -> &'static str {
        "*Recent activity*"
    }

    fn field_not_settable(&self, field: &str, settable: &str) -> String {
        format!("{field} cannot be set; settable fields: {settable}")
    }

    fn field_refused(&self, e: &FieldError) -> String {
        match e {
            FieldError::NotSettable { field } => self.field_not_settable(field, &SETTABLE_FIELDS.join(", ")),
            // The English texts are the errors' own.
            other => other.to_string(),
        }
    }

    fn move_refused(&self, e: &MoveError) -> String {
        e.to_string()
    }

    fn rule_refused(&self, e: &RuleError) -> String {
        e.to_string()
    }

    fn api_key_hint(&self, platform: Platform) -> String {
        match platform {
            Platform::Hubspot => {
                "HubSpot → Settings → Integrations → Private apps (or a Service key): copy the access token".into()
            }
            Platform::Salesforce => "Salesforce uses OAuth: run `#crm auth --platform salesforce --oauth`".into(),
            Platform::Pipedrive => "Pipedrive → Settings → Personal preferences → API: copy your API token".into(),
            Platform::Zoho => "Zoho uses OAuth: run `#crm auth --platform zoho --oauth`".into(),
            Platform::Freshsales => "Freshsales → Profile settings → API settings: copy your API key".into(),
            Platform::Dynamics => "Azure portal → Microsoft Entra ID → App registrations → your app → Certificates & \
                                   secrets: copy the secret's Value (and set [crm.dynamics] org_url, tenant, client_id)"
                .into(),
        }
    }

    fn unknown_activity_type(&self, typed: &str, types: &str) -> String {
        format!("unknown activity type `{typed}`; types: {types}")
    }

    fn unknown_outcome(&self, typed: &str, outcomes: &str) -> String {
        format!("unknown outcome `{typed}`; outcomes: {outcomes}")
    }

    fn bad_date(&self, typed: &str) -> String {
        format!("--date is YYYY-MM-DD, not \"{typed}\"")
    }

    fn activity_logged(&self, kind: &str, category: &str, contact: &str, outcome: &str) -> String {
        format!("📝 Logged {kind} ({category}) with {contact} → {outcome}")
    }

    fn not_a_chat(&self, typed: &str) -> String {
        format!("\"{typed}\" is not a chat")
    }

    fn released(&self, key: &str) -> String {
        format!("✅ {key} is back with the bot.")
    }

    // ------------------------------------------------------------ companies

    fn company_kind(&self, kind: CompanyKind) -> &'static str {
        match kind {
            CompanyKind::LegalEntity => "legal entity",
            CompanyKind::Brand => "brand",
            CompanyKind::Location => "location",
        }
    }

    fn no_companies(&self, cmd: &str) -> String {
        format!("No companies yet. Start with: {cmd} company add entity \"PT …\" --segment Cafe")
    }

    fn companies_heading(&self) -> &'static str {
        "*Companies*"
    }

    fn company_kind_unknown(&self, typed: &str) -> String {
        format!("`{typed}`: add entity, brand or location")
    }

    fn company_name_needs_letters(&self) -> String {
        "the name needs letters or digits".into()
    }

    fn company_exists(&self, name: &str) -> String {
        format!("\"{name}\" already exists")
    }

    fn company_needs_parent(&self, kind: &str, flag: &str) -> String {
        format!("a {kind} needs --{flag}")
    }

    fn no_company_named(&self, kind: &str, name: &str) -> String {
        format!("no {kind} named \"{name}\"")
    }

    fn company_bad_segment(&self) -> String {
        "segment is one of Cafe, Restaurant, Hotel, Office, Personal".into()
    }

    fn company_segment_on_entity(&self) -> String {
        "--segment is set on the legal entity; brands and locations inherit it".into()
    }

    fn company_added(&self, kind: &str, name: &str) -> String {
        format!("✅ Added {kind} *{name}*")
    }

    // ------------------------------------------------------------ deals, pipeline, reports

    fn not_a_deal_id(&self, typed: &str) -> String {
        format!("\"{typed}\" is not a deal id (e.g. D3)")
    }

    fn no_open_deals(&self, cmd: &str) -> String {
        format!("No open deals. Create one: {cmd} deals create --title \"…\" --value 5000000")
    }

    fn open_deals_heading(&self, n: usize) -> String {
        format!("*Open deals* ({n})")
    }

    fn no_deal(&self, id: u64) -> String {
        format!("no deal D{id}")
    }

    fn deal_contact(&self, name: &str, key: &str) -> String {
        format!("Contact: {name} ({key})")
    }

    fn deal_company(&self, name: &str, kind: &str) -> String {
        format!("Company: {name} ({kind})")
    }

    fn deal_invoice_to(&self, name: &str) -> String {
        format!("Invoice to: {name}")
    }

    fn deal_segment(&self, segment: &str) -> String {
        format!("Segment: {segment}")
    }

    fn deal_reason(&self, reason: &str) -> String {
        format!("Reason: {reason}")
    }

    fn deal_history_heading(&self) -> &'static str {
        "*History*"
    }

    fn deal_history_line(&self, at: &str, from: Option<&str>, to: &str, by: &str, reason: Option<&str>) -> String {
        let reason = reason.map(|r| format!(" ({r})")).unwrap_or_default();
        format!("• {at} {} → {to} by {by}{reason}", from.unwrap_or("new"))
    }

    fn not_an_amount(&self, typed: &str) -> String {
        format!("--value \"{typed}\" is not an amount in rupiah")
    }

    fn no_brand_or_location(&self, name: &str) -> String {
        format!("no brand or location named \"{name}\"")
    }

    fn deal_created(&self, summary: &str) -> String {
        format!("✅ Created {summary}")
    }

    fn unknown_stage(&self, typed: &str, stages: &str) -> String {
        format!("unknown stage `{typed}`; stages: {stages}")
    }

    fn pipeline_heading(&self) -> &'static str {
        "*Pipeline*"
    }

    fn pipeline_stage(&self, stage: &str, probability: u64, deals: u64, value: &str, weighted: &str) -> String {
        format!("• *{stage}* ({probability}%): {deals} deal(s), {value} → weighted {weighted}")
    }

    fn pipeline_total(&self, deals: u64, weighted_open: &str) -> String {
        format!("{deals} deal(s); weighted open pipeline *{weighted_open}*")
    }

    fn period_today(&self) -> &'static str {
        "today (last 24 h)"
    }

    fn period_last_days(&self, days: u64) -> String {
        format!("last {days} days")
    }

    fn bad_period(&self, typed: &str) -> String {
        format!("--period is daily, weekly or monthly, not \"{typed}\"")
    }

    fn cycle_days(&self, days: f64) -> String {
        format!("{days:.1} days")
    }

    fn sales_report(&self, r: &SalesReport<'_>) -> String {
        [
            format!("📊 *Sales performance* — {}", r.period),
            format!("• New leads: {}", r.new_leads),
            format!("• Lead conversion rate: {} ({} won)", r.conversion, r.converted),
            format!("• Deals closed: {} ({} won, {} lost)", r.closed, r.won, r.lost),
            format!("• Win rate: {}", r.win_rate),
            format!("• Average deal size: {}", r.average_deal),
            format!("• Sales cycle length: {}", r.cycle),
            format!("• Weighted pipeline (open): {}", r.weighted_open),
        ]
        .join("\n")
    }

    fn unknown_report(&self, typed: &str) -> String {
        format!("unknown report `{typed}`")
    }

    fn attribution_heading(&self) -> &'static str {
        "📈 *Attribution* (leads and conversion per source)"
    }

    fn attribution_line(&self, source: &str, leads: usize, won: usize, rate: f64) -> String {
        format!("*{source}*: {leads} lead(s), {won} won ({rate:.1}%)")
    }

    // ------------------------------------------------------------ scoring and segments

    fn scoring_rules(&self, rules: &str, cmd: &str) -> String {
        format!("*Lead scoring rules*\n{rules}\n\nChange one: {cmd} lead-score configure set KEY VALUE")
    }

    fn scoring_set(&self, key: &str, value: &str) -> String {
        format!("✅ {key} = {value}; scores use it from now on.")
    }

    fn filter_error(&self, error: &str, source: &str, caret: &str) -> String {
        format!("filter error: {error}\n```{source}\n{caret}```")
    }

    fn no_segments(&self, cmd: &str) -> String {
        format!("No segments yet. Create one: {cmd} segment create \"NAME\" --where \"lead_score > 75\"")
    }

    fn segments_heading(&self) -> &'static str {
        "*Segments*"
    }

    fn segment_line(&self, name: &str, members: usize, filter: &str) -> String {
        format!("*{name}*: {members} contact(s) — `{filter}`")
    }

    fn segment_invalid(&self, name: &str, error: &str) -> String {
        format!("*{name}*: filter no longer valid ({error})")
    }

    fn segment_exists(&self, name: &str) -> String {
        format!("a segment named \"{name}\" exists; delete it first")
    }

    fn segment_created(&self, name: &str, members: usize) -> String {
        format!("✅ Segment *{name}* created: {members} contact(s) match now.")
    }

    fn no_segment(&self, name: &str) -> String {
        format!("no segment named \"{name}\"")
    }

    fn segment_member(&self, name: &str, phone: &str, score: i64) -> String {
        format!("{name} ({phone}) — score {score}")
    }

    fn segment_shown(&self, name: &str, filter: &str, total: usize, members: &str) -> String {
        format!("*{name}* — `{filter}`\n{total} member(s), highest score first\n{members}")
    }

    fn segment_deleted(&self, name: &str) -> String {
        format!("🗑️ Segment \"{name}\" deleted.")
    }

    // ------------------------------------------------------------ nurture sequences

    fn no_sequence(&self, name: &str) -> String {
        format!("no sequence named \"{name}\"")
    }

    fn no_sequences(&self, cmd: &str) -> String {
        format!("No sequences yet. Create one: {cmd} nurture-sequence create \"New Lead Welcome\"")
    }

    fn sequences_heading(&self) -> &'static str {
        "*Nurture sequences*"
    }

    fn sequence_line(&self, name: &str, steps: usize, days: &str, running: usize) -> String {
        format!("*{name}*: {steps} step(s) ({days}), {running} contact(s) running")
    }

    fn day(&self, n: u32) -> String {
        format!("day {n}")
    }

    fn sequence_exists(&self, name: &str) -> String {
        format!("a sequence named \"{name}\" exists")
    }

    fn sequence_created(&self, name: &str, cmd: &str) -> String {
        format!("✅ Sequence *{name}* created. Add steps: {cmd} nurture-sequence add-step \"{name}\" --day 1 \"TEXT\"")
    }

    fn day_too_late(&self, max: u32) -> String {
        format!("--day is at most {max}")
    }

    fn step_text_missing(&self) -> String {
        "missing the step's TEXT".into()
    }

    fn step_text_too_long(&self, max: usize) -> String {
        format!("a step's text is at most {max} characters")
    }

    fn too_many_steps(&self, max: usize) -> String {
        format!("a sequence has at most {max} steps")
    }

    fn step_added(&self, sequence: &str, step: usize, day: u32, steps: usize) -> String {
        format!("✅ *{sequence}*: step {step} on day {day} ({steps} step(s) now).")
    }

    fn not_on_sequence(&self, contact: &str, sequence: &str) -> String {
        format!("{contact} is not on \"{sequence}\"")
    }

    fn sequence_stopped(&self, sequence: &str, contact: &str) -> String {
        format!("⏹️ Stopped *{sequence}* for {contact}.")
    }

    fn already_on_sequence(&self, contact: &str, sequence: &str) -> String {
        format!("{contact} is already on \"{sequence}\"")
    }

    fn sequence_has_no_steps(&self, sequence: &str) -> String {
        format!("\"{sequence}\" has no steps yet")
    }

    fn not_opted_in(&self, contact: &str, cmd: &str, key: &str) -> String {
        format!(
            "{contact} has not opted in to WhatsApp messages (or replied STOP); set it with: \
             {cmd} contacts set {key} whatsapp_opt_in yes"
        )
    }

    fn sequence_started(&self, sequence: &str, contact: &str, steps: usize, first_at: &str) -> String {
        format!("▶️ *{sequence}* started for {contact}: {steps} step(s), the first at {first_at}.")
    }

    // ------------------------------------------------------------ CRM platforms

    fn unknown_platform(&self, typed: &str, platforms: &str) -> String {
        format!("unknown platform `{typed}`; one of {platforms}")
    }

    fn platform_chosen(&self, title: &str, next: &str) -> String {
        format!("🔌 {title} chosen as your CRM.\n*Next step:* {next}")
    }

    fn connect_next_oauth(&self, cmd: &str, platform: &str) -> String {
        format!("{cmd} auth --platform {platform} --oauth")
    }

    fn connect_next_key_or_oauth(&self, cmd: &str, platform: &str, hint: &str) -> String {
        format!(
            "{cmd} auth --platform {platform} --api-key YOUR_KEY\n({hint})\nor {cmd} auth --platform {platform} --oauth"
        )
    }

    fn connect_next_key(&self, cmd: &str, platform: &str, hint: &str) -> String {
        format!("{cmd} auth --platform {platform} --api-key YOUR_KEY\n({hint})")
    }

    fn connect_next_secret(&self, cmd: &str, platform: &str, hint: &str) -> String {
        format!("{cmd} auth --platform {platform} --api-key CLIENT_SECRET\n({hint})")
    }

    fn auth_both(&self) -> String {
        "give either --api-key or --oauth, not both".into()
    }

    fn auth_neither(&self) -> String {
        "missing --api-key KEY or --oauth".into()
    }

    fn platform_uses_oauth(&self, title: &str, cmd: &str, platform: &str) -> String {
        format!("{title} uses OAuth: {cmd} auth --platform {platform} --oauth")
    }

    fn not_an_api_key(&self) -> String {
        "that does not look like an API key (8–512 characters, no spaces)".into()
    }

    fn api_key_stored(&self, title: &str, cmd: &str, platform: &str) -> String {
        format!(
            "🔐 {title} API key stored, encrypted. It will not be shown again.\n\
             Tip: delete your message with the key from this chat.\n*Next:* {cmd} sync {platform}"
        )
    }

    fn platform_has_no_oauth(&self, title: &str) -> String {
        format!("{title} has no OAuth; use --api-key")
    }

    fn oauth_client_missing(&self, platform: &str) -> String {
        format!("set [crm.{platform}] client_id in config.toml to use OAuth")
    }

    fn public_url_missing(&self) -> String {
        "set [crm] public_url in config.toml to use OAuth".into()
    }

    fn authorize_link(&self, title: &str, url: &str) -> String {
        format!(
            "🔗 Authorize juru in {title} (link valid 15 minutes):\n{url}\n\nI'll confirm here once {title} sends you back."
        )
    }

    fn no_platform_connected(&self, cmd: &str) -> String {
        format!("no CRM platform connected yet: {cmd} connect hubspot")
    }

    fn credential_api_key(&self) -> String {
        "credential: API key stored".into()
    }

    fn credential_oauth_pending(&self) -> String {
        "credential: OAuth not completed".into()
    }

    fn credential_oauth(&self) -> String {
        "credential: OAuth tokens stored".into()
    }

    fn credential_none(&self, cmd: &str, platform: &str) -> String {
        format!("credential: none yet ({cmd} auth --platform {platform} …)")
    }

    fn previous_sync_request(&self, at: &str) -> String {
        format!("Previous request: {at}")
    }

    fn sync_requested(&self, s: &SyncSummary<'_>) -> String {
        format!(
            "🔄 {} sync requested ({}): {} contact(s), {} deal(s), {} activit(ies) in the CRM.\n\
             queued {} · sent {} · failed {} · dead {}",
            s.platform,
            if s.full { "full" } else { "incremental" },
            s.contacts,
            s.deals,
            s.activities,
            s.queued,
            s.sent,
            s.failed,
            s.dead
        )
    }

    fn last_push(&self, at: &str) -> String {
        format!("last push: {at}")
    }

    fn last_error(&self, at: &str, error: &str) -> String {
        format!("last error{at}: {error}")
    }

    fn connector_not_running(&self, title: &str) -> String {
        format!("⚠️ The {title} connector is not running yet: it starts once a credential is stored.")
    }

    fn field_mappings_heading(&self) -> &'static str {
        "*Field mappings*"
    }

    fn field_mappings_none(&self) -> &'static str {
        "None yet: the connectors' defaults apply."
    }

    fn field_mapping_hint(&self, cmd: &str) -> String {
        format!("Set one: {cmd} field-mapping configure set LOCAL_FIELD PLATFORM.FIELD")
    }

    fn unknown_local_field(&self, typed: &str, known: &str) -> String {
        format!("unknown local field `{typed}`; known: {known}")
    }

    fn not_platform_field(&self, typed: &str) -> String {
        format!("`{typed}` is not PLATFORM.FIELD")
    }

    fn invalid_remote_field(&self, field: &str, title: &str) -> String {
        format!("`{field}` is not a valid {title} field name")
    }

    // ------------------------------------------------------------ WhatsApp labels

    fn no_labels_known_create(&self) -> String {
        "no WhatsApp labels are known yet; create them in WhatsApp Business first".into()
    }

    fn no_label(&self, wanted: &str, labels: &str) -> String {
        format!("no label \"{wanted}\"; labels: {labels}")
    }

    fn labels_personal_only(&self) -> String {
        "labels are tracked on personal chats only".into()
    }

    fn label_already(&self, key: &str, label: &str) -> String {
        format!("{key} already has \"{label}\".")
    }

    fn label_not_had(&self, key: &str, label: &str) -> String {
        format!("{key} does not have \"{label}\".")
    }

    fn label_added(&self, label: &str, key: &str) -> String {
        format!("🏷️ \"{label}\" added to {key}, recorded as yours.")
    }

    fn label_removed(&self, label: &str, key: &str) -> String {
        format!("🏷️ \"{label}\" removed from {key}, recorded as yours.")
    }

    fn applied_by_staff(&self, id: &str) -> String {
        format!("by {id}")
    }

    fn applied_on_phone(&self, number: Option<&str>) -> String {
        format!("on the phone ({})", number.unwrap_or("this account"))
    }

    fn no_labels_of(&self, key: &str) -> String {
        format!("{key} has no labels.")
    }

    fn labels_of_heading(&self, key: &str) -> String {
        format!("*Labels of {key}*")
    }

    fn no_labels_known(&self) -> String {
        "No WhatsApp labels are known yet.".into()
    }

    fn labels_heading(&self) -> &'static str {
        "*Labels*"
    }

    fn label_count(&self, label: &str, contacts: usize) -> String {
        format!("*{label}*: {contacts} contact(s)")
    }

    fn no_packages(&self) -> String {
        "There are no packages in prompts/packages.toml yet.".into()
    }

    fn packages_heading(&self) -> &'static str {
        "*Packages & seats*"
    }

    fn package_seats(&self, p: &OnSale, s: &Standing) -> String {
        let admin = if s.set_by_admin { ", quota set by an admin" } else { "" };
        let state = match (p.departed, s.left) {
            (true, _) => " — departed",
            (false, 0) => " — FULL",
            _ => "",
        };
        format!(
            "• *{}* {} ({}): {} seats left; held {}, taken {}{admin}{state}",
            p.code, p.name, p.departure, s.left, s.held, s.taken
        )
    }

    fn not_a_seat_count(&self, typed: &str) -> String {
        format!("\"{typed}\" is not a number of seats (0 or more)")
    }

    fn no_package(&self, code: &str, known: &str) -> String {
        format!("no package {code}; packages: {known}")
    }

    fn quota_set(&self, code: &str, n: u32, held: u32, taken: u32) -> String {
        let full = if n == 0 { " The bot offers other packages." } else { "" };
        format!("✅ *{code}*: {n} seats left from now (held {held}, taken {taken}).{full}")
    }

    // ------------------------------------------------------------ segment filter mistakes

    fn filter_problem(&self, problem: &crate::crm::filter::FilterProblem) -> String {
        // The parser's own wording is English, kept there for logs and tests.
        problem.to_string()
    }
}
