//! `#crm leads`, `contacts`, `company` and `release`.

use super::args::{Args, FlagSpec};
use super::crm::{contact_key, find_contact, split_first};
use super::format::{bullets, local_time};
use super::{CommandError, Ctx, ForSub};
use crate::channel::{ChatId, Control, ControlAction};
use crate::crm::company::{Company, CompanyKind, slug};
use crate::crm::contact::{BusinessSegment, name_of, parse_variant};
use crate::crm::{Activity, ActivityType, Contact, Outcome, ScoringRules, format_money};
use crate::texts::Texts;

const PAGE: usize = 15;

fn line(t: &dyn Texts, c: &Contact, rules: &ScoringRules) -> String {
    let phone = c.phone.as_deref().filter(|p| Some(*p) != c.name.as_deref());
    t.contact_line(c.display_name(), phone, c.current_stage.as_str(), rules.score(c), c.campaign())
}

/// The `n` contacts ranking highest by `key` (ties by key, so pages are
/// stable), selecting before sorting.
pub(super) fn top<'a, K: Ord>(
    items: impl Iterator<Item = &'a Contact>,
    n: usize,
    key: impl Fn(&Contact) -> K,
) -> Vec<&'a Contact> {
    top_ranked(items.map(|c| (key(c), c)).collect(), n)
}

/// The `n` highest of already-ranked contacts.
fn top_ranked<K: Ord>(mut all: Vec<(K, &Contact)>, n: usize) -> Vec<&Contact> {
    let order = |a: &(K, &Contact), b: &(K, &Contact)| b.0.cmp(&a.0).then_with(|| a.1.key.cmp(&b.1.key));
    if all.len() > n && n > 0 {
        all.select_nth_unstable_by(n - 1, order);
        all.truncate(n);
    }
    all.sort_by(order);
    all.into_iter().map(|(_, c)| c).collect()
}

pub fn leads(ctx: &mut Ctx<'_>, args: &str) -> Result<String, CommandError> {
    let t = ctx.t();
    let (action, rest) = split_first(args);
    let index = ctx.crm.read();
    let rules = &index.rules;
    match action.as_str() {
        "" | "list" => {
            let leads = index.contacts.values().filter(|c| c.is_lead());
            let total = index.contacts.values().filter(|c| c.is_lead()).count();
            let shown = top(leads.map(|c| c.as_ref()), PAGE, |c| c.last_seen_ms);
            Ok(format!(
                "{}\n{}",
                t.leads_heading(total),
                bullets(t, shown.iter().map(|c| line(t, c, rules)), PAGE, total)
            ))
        }
        "hot" => {
            // Each score once: they are ranked by it too.
            let hot: Vec<(i64, &Contact)> = index
                .contacts
                .values()
                .filter(|c| c.is_lead())
                .map(|c| (rules.score(c), c.as_ref()))
                .filter(|(score, _)| *score >= rules.hot_threshold)
                .collect();
            let total = hot.len();
            let shown = top_ranked(hot, PAGE);
            if total == 0 {
                return Ok(t.no_hot_leads(rules.hot_threshold));
            }
            Ok(format!(
                "{}\n{}",
                t.hot_leads_heading(rules.hot_threshold, total),
                bullets(t, shown.iter().map(|c| line(t, c, rules)), PAGE, total)
            ))
        }
        "show" => {
            let phone = Args::parse(rest, &[]).for_sub("leads")?.required(0, "PHONE").for_sub("leads")?.to_string();
            drop(index);
            show(ctx, &phone)
        }
        other => Err(CommandError::usage("leads", t.unknown_action(other))),
    }
}

fn show(ctx: &Ctx<'_>, phone: &str) -> Result<String, CommandError> {
    let t = ctx.t();
    let c = find_contact(ctx, phone)?;
    let index = ctx.crm.read();
    let mut lines = vec![
        format!("*{}*", c.display_name()),
        t.card_phone(c.phone.as_deref().unwrap_or(&c.key)),
        t.card_stage(c.current_stage.as_str(), index.rules.score(&c)),
        t.card_source(&name_of(&c.source_method), c.campaign()),
        t.card_first_contact(&local_time(c.first_seen_ms), c.messages),
        t.card_last_message(&local_time(c.last_seen_ms)),
    ];
    if let Some(first) = &c.first_message {
        lines.push(t.card_first_message(first));
    }
    if let Some(group) = c.customer_group {
        lines.push(t.card_group(&name_of(&group), c.segment.map(|s| name_of(&s)).as_deref()));
    }
    if let Some(email) = &c.email {
        lines.push(t.card_email(email));
    }
    if let Some(pic) = &c.pic_owner {
        lines.push(t.card_pic(pic));
    }
    if let Some(value) = c.estimated_deal_value {
        lines.push(t.card_estimated_value(&format_money(value)));
    }
    if !c.labels.is_empty() {
        lines.push(t.card_labels(&c.labels.join(", ")));
    }
    lines.push(t.card_opt_in(c.whatsapp_opt_in));
    let deals: Vec<String> = index
        .deals
        .values()
        .filter(|d| d.contact.as_deref() == Some(&c.key))
        .map(|d| format!("{} {} — {} ({})", d.label(), d.title, format_money(d.value), d.stage.as_str()))
        .collect();
    if !deals.is_empty() {
        lines.push(format!("\n{}\n{}", t.card_deals_heading(), bullets(t, deals.iter().cloned(), 5, deals.len())));
    }
    drop(index);
    let activities = ctx.crm.activities(&c.key, 3);
    if !activities.is_empty() {
        let items = activities.iter().map(|a| {
            let outcome = a.outcome.map(|o| format!(" → {}", name_of(&o))).unwrap_or_default();
            format!(
                "{} {}{outcome}{}",
                local_time(a.at_ms),
                name_of(&a.kind),
                a.notes.as_ref().map(|n| format!(": {n}")).unwrap_or_default()
            )
        });
        lines.push(format!("\n{}\n{}", t.card_activity_heading(), bullets(t, items, 3, activities.len())));
    }
    Ok(lines.join("\n"))
}

const LOG_FLAGS: [FlagSpec; 5] = [
    FlagSpec::value("type"),
    FlagSpec::value("outcome"),
    FlagSpec::value("next"),
    FlagSpec::value("date"),
    FlagSpec::value("notes"),
];

pub fn contacts(ctx: &mut Ctx<'_>, args: &str) -> Result<String, CommandError> {
    let t = ctx.t();
    let (action, rest) = split_first(args);
    match action.as_str() {
        "" | "list" => {
            let index = ctx.crm.read();
            let total = index.contacts.len();
            let shown = top(index.contacts.values().map(|c| c.as_ref()), PAGE, |c| c.last_seen_ms);
            Ok(format!(
                "{}\n{}",
                t.contacts_heading(total),
                bullets(t, shown.iter().map(|c| line(t, c, &index.rules)), PAGE, total)
            ))
        }
        "show" => {
            let phone =
                Args::parse(rest, &[]).for_sub("contacts")?.required(0, "PHONE").for_sub("contacts")?.to_string();
            show(ctx, &phone)
        }
        "search" => {
            let args = Args::parse(rest, &[]).for_sub("contacts")?;
            let needle =
                args.rest(0).ok_or_else(|| CommandError::usage("contacts", t.args_missing("TEXT")))?.to_lowercase();
            let index = ctx.crm.read();
            let hit = |c: &Contact| c.search_text.contains(needle.as_str());
            let total = index.contacts.values().filter(|c| hit(c)).count();
            let shown = top(index.contacts.values().map(|c| c.as_ref()).filter(|c| hit(c)), PAGE, |c| c.last_seen_ms);
            if total == 0 {
                return Ok(t.no_contact_matches(&needle));
            }
            Ok(format!(
                "{}\n{}",
                t.contacts_match_heading(total, &needle),
                bullets(t, shown.iter().map(|c| line(t, c, &index.rules)), PAGE, total)
            ))
        }
        "set" => {
            let args = Args::parse(rest, &[]).for_sub("contacts")?;
            let phone = args.required(0, "PHONE").for_sub("contacts")?;
            let field = args.required(1, "FIELD").for_sub("contacts")?.to_lowercase().replace('-', "_");
            let value = args.rest(2).ok_or_else(|| CommandError::usage("contacts", t.args_missing("VALUE")))?;
            let contact = find_contact(ctx, phone)?;
            // Validate on the current copy; the commit re-applies it to the stored one.
            let mut preview = (*contact).clone();
            preview.set_field(&field, &value).map_err(|e| CommandError::Invalid(t.field_refused(&e)))?;
            let (f, v) = (field.clone(), value.clone());
            ctx.changes.update_contact(&contact.key, move |c| {
                let _ = c.set_field(&f, &v);
            });
            Ok(format!("✅ {}: {field} = {value}", contact.display_name()))
        }
        "log" => {
            let args = Args::parse(rest, &LOG_FLAGS).for_sub("contacts")?;
            let contact = find_contact(ctx, args.required(0, "PHONE").for_sub("contacts")?)?;
            let kind_text = args.required_flag("type").for_sub("contacts")?;
            let kind = parse_variant(&ActivityType::ALL, &kind_text.replace('-', "_")).ok_or_else(|| {
                let types = ActivityType::ALL.iter().map(name_of).collect::<Vec<_>>().join(", ");
                CommandError::usage("contacts", t.unknown_activity_type(kind_text, &types))
            })?;
            let outcome_text = args.required_flag("outcome").for_sub("contacts")?;
            let outcome = parse_variant(&Outcome::ALL, &outcome_text.replace('-', "_")).ok_or_else(|| {
                let outcomes = Outcome::ALL.iter().map(name_of).collect::<Vec<_>>().join(", ");
                CommandError::usage("contacts", t.unknown_outcome(outcome_text, &outcomes))
            })?;
            let date = args.flag("date").map(str::to_string);
            if let Some(d) = &date
                && !is_date(d)
            {
                return Err(CommandError::usage("contacts", t.bad_date(d)));
            }
            let activity = Activity {
                seq: ctx.crm.next_seq()?,
                contact: contact.key.clone(),
                kind,
                source: "command".into(),
                outcome: Some(outcome),
                next_action: args.flag("next").map(str::to_string),
                next_action_date: date,
                notes: args.flag("notes").map(str::to_string),
                deal: None,
                by: ctx.caller.id.clone(),
                at_ms: ctx.now_ms,
            };
            ctx.changes.add_activity(&activity);
            let now = ctx.now_ms;
            ctx.changes.update_contact(&contact.key, move |c| c.last_contacted_at_ms = Some(now));
            Ok(t.activity_logged(&name_of(&kind), kind.category(), contact.display_name(), &name_of(&outcome)))
        }
        other => Err(CommandError::usage("contacts", t.unknown_action(other))),
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && (1..=12).contains(&s[5..7].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&s[8..10].parse::<u32>().unwrap_or(0))
}

const COMPANY_FLAGS: [FlagSpec; 3] = [FlagSpec::value("segment"), FlagSpec::value("entity"), FlagSpec::value("brand")];

pub fn company(ctx: &mut Ctx<'_>, args: &str) -> Result<String, CommandError> {
    let t = ctx.t();
    let (action, rest) = split_first(args);
    match action.as_str() {
        "" | "list" => {
            let index = ctx.crm.read();
            if index.companies.is_empty() {
                return Ok(t.no_companies(&ctx.command()));
            }
            let mut lines = vec![t.companies_heading().to_string()];
            for entity in index.companies.values().filter(|c| c.kind == CompanyKind::LegalEntity) {
                let segment = entity.segment.map(|s| format!(" ({})", name_of(&s))).unwrap_or_default();
                lines.push(format!("🏢 *{}*{segment}", entity.name));
                for brand in index.companies.values().filter(|c| c.parent.as_deref() == Some(&entity.id)) {
                    lines.push(format!("  • {}", brand.name));
                    for loc in index.companies.values().filter(|c| c.parent.as_deref() == Some(&brand.id)) {
                        lines.push(format!("     – {}", loc.name));
                    }
                }
            }
            Ok(lines.join("\n"))
        }
        "add" => {
            let args = Args::parse(rest, &COMPANY_FLAGS).for_sub("company")?;
            let kind = match args.required(0, "entity|brand|location").for_sub("company")?.to_lowercase().as_str() {
                "entity" | "legal-entity" => CompanyKind::LegalEntity,
                "brand" => CompanyKind::Brand,
                "location" => CompanyKind::Location,
                other => {
                    return Err(CommandError::usage("company", t.company_kind_unknown(other)));
                }
            };
            let name = args.required(1, "NAME").for_sub("company")?.trim().to_string();
            args.at_most(2).for_sub("company")?;
            let id = slug(&name);
            if id.is_empty() {
                return Err(CommandError::usage("company", t.company_name_needs_letters()));
            }
            let index = ctx.crm.read();
            if index.companies.contains_key(&id) {
                return Err(CommandError::Invalid(t.company_exists(&name)));
            }
            let (parent_flag, parent_kind) = match kind {
                CompanyKind::LegalEntity => (None, None),
                CompanyKind::Brand => (Some("entity"), kind.parent_kind()),
                CompanyKind::Location => (Some("brand"), kind.parent_kind()),
            };
            let parent = match (parent_flag, parent_kind) {
                (Some(flag), Some(pk)) => {
                    let wanted = args.flag(flag).ok_or_else(|| {
                        CommandError::usage("company", t.company_needs_parent(t.company_kind(kind), flag))
                    })?;
                    let p = index
                        .companies
                        .get(&slug(wanted))
                        .filter(|p| p.kind == pk)
                        .ok_or_else(|| CommandError::NotFound(t.no_company_named(t.company_kind(pk), wanted)))?;
                    Some(p.id.clone())
                }
                _ => None,
            };
            let segment = match args.flag("segment") {
                Some(s) if kind == CompanyKind::LegalEntity => Some(
                    parse_variant(&BusinessSegment::ALL, s)
                        .ok_or_else(|| CommandError::usage("company", t.company_bad_segment()))?,
                ),
                Some(_) => {
                    return Err(CommandError::usage("company", t.company_segment_on_entity()));
                }
                None => None,
            };
            drop(index);
            let company = Company {
                id,
                kind,
                name: name.clone(),
                parent,
                customer_group: segment.map(|s| s.group()),
                segment,
                created_by: ctx.caller.id.clone(),
                created_ms: ctx.now_ms,
            };
            ctx.changes.put_company(&company);
            Ok(t.company_added(t.company_kind(kind), &name))
        }
        other => Err(CommandError::usage("company", t.unknown_action(other))),
    }
}

/// `#crm release PHONE`: the chat goes back to the bot (handled in that chat's lane).
pub fn release(ctx: &mut Ctx<'_>, args: &str) -> Result<String, CommandError> {
    let t = ctx.t();
    let args = Args::parse(args, &[]).for_sub("release")?;
    let phone = args.required(0, "PHONE").for_sub("release")?;
    args.at_most(1).for_sub("release")?;
    let key = contact_key(t, phone)?;
    let chat = ChatId::parse(&key).ok_or_else(|| CommandError::Invalid(t.not_a_chat(phone)))?;
    ctx.controls.push(Control {
        id: format!("release:{}", ctx.crm.next_seq()?),
        chat,
        by: ctx.caller.id.clone(),
        action: ControlAction::Release,
    });
    Ok(t.released(&key))
}
