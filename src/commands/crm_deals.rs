//! `#crm deals`, `pipeline view` and `reports`.

use std::collections::BTreeMap;

use super::args::{Args, FlagSpec};
use super::crm::{find_contact, split_first};
use super::format::{bullets, local_time};
use super::{CommandError, Ctx, ForSub};
use crate::crm::company::{CompanyKind, slug};
use crate::crm::contact::name_of;
use crate::crm::deal::MoveError;
use crate::crm::{Activity, ActivityType, Deal, Stage, format_money, parse_money};
use crate::texts::{SalesReport, Texts};

const CREATE_FLAGS: [FlagSpec; 4] =
    [FlagSpec::value("title"), FlagSpec::value("value"), FlagSpec::value("contact"), FlagSpec::value("company")];
const REASON_FLAGS: [FlagSpec; 1] = [FlagSpec::value("reason")];

fn deal_id(t: &dyn Texts, text: &str) -> Result<u64, CommandError> {
    text.trim().trim_start_matches(['D', 'd']).parse().map_err(|_| CommandError::usage("deals", t.not_a_deal_id(text)))
}

fn summary(d: &Deal) -> String {
    format!("*{}* {} — {} ({})", d.label(), d.title, format_money(d.value), d.stage.as_str())
}

pub fn deals(ctx: &mut Ctx<'_>, args: &str) -> Result<String, CommandError> {
    let t = ctx.t();
    let (action, rest) = split_first(args);
    match action.as_str() {
        "" | "list" => {
            let index = ctx.crm.read();
            let mut open: Vec<&Deal> = index.deals.values().filter(|d| d.stage.is_open()).map(|d| d.as_ref()).collect();
            open.sort_by_key(|d| std::cmp::Reverse(d.updated_ms));
            if open.is_empty() {
                return Ok(t.no_open_deals(&ctx.command()));
            }
            Ok(format!(
                "{}\n{}",
                t.open_deals_heading(open.len()),
                bullets(t, open.iter().map(|d| summary(d)), 15, open.len())
            ))
        }
        "show" => {
            let args = Args::parse(rest, &[]).for_sub("deals")?;
            let id = deal_id(t, args.required(0, "ID").for_sub("deals")?)?;
            let index = ctx.crm.read();
            let d = index.deals.get(&id).ok_or_else(|| CommandError::NotFound(t.no_deal(id)))?;
            let mut lines = vec![summary(d)];
            if let Some(c) = d.contact.as_deref().and_then(|k| index.contacts.get(k)) {
                lines.push(t.deal_contact(c.display_name(), &c.key));
            }
            if let Some(company) = d.company.as_deref().and_then(|id| index.companies.get(id)) {
                lines.push(t.deal_company(&company.name, t.company_kind(company.kind)));
                // Invoices go to the legal entity at the top of the chain.
                let mut top = company;
                while let Some(parent) = top.parent.as_deref().and_then(|p| index.companies.get(p)) {
                    top = parent;
                }
                if top.kind == CompanyKind::LegalEntity {
                    lines.push(t.deal_invoice_to(&top.name));
                }
            }
            if let Some(segment) = d.segment {
                lines.push(t.deal_segment(&name_of(&segment)));
            }
            if let Some(reason) = &d.reason {
                lines.push(t.deal_reason(reason));
            }
            lines.push(format!("\n{}", t.deal_history_heading()));
            for h in &d.history {
                lines.push(t.deal_history_line(
                    &local_time(h.at_ms),
                    h.from.map(|s| s.as_str()),
                    h.to.as_str(),
                    &h.by,
                    h.reason.as_deref(),
                ));
            }
            Ok(lines.join("\n"))
        }
        "create" => {
            let args = Args::parse(rest, &CREATE_FLAGS).for_sub("deals")?;
            args.at_most(0).for_sub("deals")?;
            let title = args.required_flag("title").for_sub("deals")?.trim().to_string();
            let value_text = args.required_flag("value").for_sub("deals")?;
            let value =
                parse_money(value_text).ok_or_else(|| CommandError::usage("deals", t.not_an_amount(value_text)))?;
            let contact = args.flag("contact").map(|p| find_contact(ctx, p)).transpose()?;
            let index = ctx.crm.read();
            let company = match args.flag("company") {
                Some(name) => Some(
                    index
                        .companies
                        .get(&slug(name))
                        .filter(|c| c.kind != CompanyKind::LegalEntity)
                        .ok_or_else(|| CommandError::NotFound(t.no_brand_or_location(name)))?,
                ),
                None => None,
            };
            // The deal inherits group and segment from the company's legal entity.
            let mut entity = company;
            while let Some(parent) = entity.and_then(|c| c.parent.as_deref()).and_then(|p| index.companies.get(p)) {
                entity = Some(parent);
            }
            let segment = entity.and_then(|e| e.segment).or(contact.as_ref().and_then(|c| c.segment));
            let deal = Deal {
                contact: contact.as_ref().map(|c| c.key.clone()),
                company: company.map(|c| c.id.clone()),
                customer_group: segment.map(|s| s.group()),
                segment,
                history: vec![crate::crm::deal::StageChange {
                    from: None,
                    to: Stage::Lead,
                    by: ctx.caller.id.clone(),
                    at_ms: ctx.now_ms,
                    reason: None,
                }],
                ..Deal::new(ctx.crm.next_deal_id(), title, value, Stage::Lead, ctx.caller.id.clone(), ctx.now_ms)
            };
            drop(index);
            ctx.changes.put_deal(&deal);
            Ok(t.deal_created(&summary(&deal)))
        }
        "move" | "won" | "lost" => {
            let args = Args::parse(rest, &REASON_FLAGS).for_sub("deals")?;
            let id = deal_id(t, args.required(0, "ID").for_sub("deals")?)?;
            let to = match action.as_str() {
                "won" => Stage::Won,
                "lost" => Stage::Lost,
                _ => {
                    let text = args.required(1, "STAGE").for_sub("deals")?;
                    Stage::parse(text).ok_or_else(|| {
                        CommandError::usage("deals", t.unknown_stage(text, &Stage::ALL.map(|s| s.as_str()).join(", ")))
                    })?
                }
            };
            args.at_most(if action == "move" { 2 } else { 1 }).for_sub("deals")?;
            let reason = args.flag("reason").map(str::to_string);
            let mut deal = ctx
                .crm
                .read()
                .deals
                .get(&id)
                .map(|d| (**d).clone())
                .ok_or_else(|| CommandError::NotFound(t.no_deal(id)))?;
            let from = deal.stage;
            deal.move_to(to, &ctx.caller.id, reason.as_deref(), ctx.now_ms).map_err(|e| match e {
                MoveError::NeedsReason(_) => CommandError::usage("deals", t.move_refused(&e)),
                _ => CommandError::Invalid(t.move_refused(&e)),
            })?;
            ctx.changes.put_deal(&deal);
            if let Some(contact) = deal.contact.clone() {
                ctx.changes.update_contact(&contact, move |c| c.current_stage = to);
                let activity = Activity {
                    seq: ctx.crm.next_seq()?,
                    contact,
                    kind: ActivityType::StageChange,
                    source: "command".into(),
                    outcome: None,
                    next_action: None,
                    next_action_date: None,
                    notes: Some(format!("{} {} → {}", deal.label(), from.as_str(), to.as_str())),
                    deal: Some(deal.id),
                    by: ctx.caller.id.clone(),
                    at_ms: ctx.now_ms,
                };
                ctx.changes.add_activity(&activity);
            }
            Ok(format!("✅ {} {} → *{}*", deal.label(), from.as_str(), to.as_str()))
        }
        other => Err(CommandError::usage("deals", t.unknown_action(other))),
    }
}

pub fn pipeline(ctx: &mut Ctx<'_>, args: &str) -> Result<String, CommandError> {
    let t = ctx.t();
    match split_first(args).0.as_str() {
        "" | "view" => {}
        other => return Err(CommandError::usage("pipeline", t.unknown_action(other))),
    }
    let index = ctx.crm.read();
    let mut per_stage: BTreeMap<Stage, (u64, u64, u64)> = BTreeMap::new();
    for d in index.deals.values() {
        let e = per_stage.entry(d.stage).or_default();
        e.0 += 1;
        e.1 += d.value;
        e.2 += d.weighted();
    }
    let mut lines = vec![t.pipeline_heading().to_string()];
    let (mut count, mut weighted_open) = (0, 0);
    for stage in Stage::ALL {
        let (n, value, weighted) = per_stage.get(&stage).copied().unwrap_or_default();
        count += n;
        if stage.is_open() {
            weighted_open += weighted;
        }
        lines.push(t.pipeline_stage(
            stage.as_str(),
            stage.probability(),
            n,
            &format_money(value),
            &format_money(weighted),
        ));
    }
    lines.push(format!("\n{}", t.pipeline_total(count, &format_money(weighted_open))));
    Ok(lines.join("\n"))
}

const REPORT_FLAGS: [FlagSpec; 1] = [FlagSpec::value("period")];

pub fn reports(ctx: &mut Ctx<'_>, args: &str) -> Result<String, CommandError> {
    let t = ctx.t();
    let (kind, rest) = split_first(args);
    let index = ctx.crm.read();
    match kind.as_str() {
        "" | "sales-performance" => {
            let args = Args::parse(rest, &REPORT_FLAGS).for_sub("reports")?;
            let (label, days) = match args.flag("period").unwrap_or("monthly").to_lowercase().as_str() {
                "daily" => (t.period_today().to_string(), 1),
                "weekly" => (t.period_last_days(7), 7),
                "monthly" => (t.period_last_days(30), 30),
                other => return Err(CommandError::usage("reports", t.bad_period(other))),
            };
            let since = ctx.now_ms.saturating_sub(days * 86_400_000);
            let new_leads: Vec<_> = index.contacts.values().filter(|c| c.first_seen_ms >= since).collect();
            let converted = new_leads.iter().filter(|c| index.has_won(&c.key)).count();
            let closed: Vec<&Deal> =
                index.deals.values().filter(|d| d.closed_ms.is_some_and(|t| t >= since)).map(|d| d.as_ref()).collect();
            let won: Vec<&&Deal> = closed.iter().filter(|d| d.is_won()).collect();
            let pct = |a: usize, b: usize| {
                if b == 0 { "–".to_string() } else { format!("{:.1}%", a as f64 * 100.0 / b as f64) }
            };
            let avg_size = if won.is_empty() { 0 } else { won.iter().map(|d| d.value).sum::<u64>() / won.len() as u64 };
            let cycle_days = if won.is_empty() {
                "–".to_string()
            } else {
                let total: u64 =
                    won.iter().map(|d| d.closed_ms.unwrap_or(d.created_ms).saturating_sub(d.created_ms)).sum();
                t.cycle_days(total as f64 / won.len() as f64 / 86_400_000.0)
            };
            let weighted: u64 = index.deals.values().filter(|d| d.stage.is_open()).map(|d| d.weighted()).sum();
            Ok(t.sales_report(&SalesReport {
                period: &label,
                new_leads: new_leads.len(),
                conversion: &pct(converted, new_leads.len()),
                converted,
                closed: closed.len(),
                won: won.len(),
                lost: closed.len() - won.len(),
                win_rate: &pct(won.len(), closed.len()),
                average_deal: &if won.is_empty() { "–".into() } else { format_money(avg_size) },
                cycle: &cycle_days,
                weighted_open: &format_money(weighted),
            }))
        }
        "attribution" => {
            Args::parse(rest, &[]).for_sub("reports")?.at_most(0).for_sub("reports")?;
            // Leads and wins per source: the campaign code when known, else the source method.
            // Kept up to date on every contact and deal change (see `crm::Index`).
            let per_source =
                index.sources.iter().filter(|(_, n)| n.leads > 0).map(|(s, n)| (s.clone(), (n.leads, n.won)));
            let mut rows: Vec<_> = per_source.into_iter().collect();
            rows.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(&b.0)));
            let total = rows.len();
            let lines = rows.into_iter().map(|(source, (leads, won))| {
                t.attribution_line(&source, leads, won, won as f64 * 100.0 / leads.max(1) as f64)
            });
            Ok(format!("{}\n{}", t.attribution_heading(), bullets(t, lines, 20, total)))
        }
        other => Err(CommandError::usage("reports", t.unknown_report(other))),
    }
}
