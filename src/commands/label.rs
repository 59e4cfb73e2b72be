//! `#label add|remove PHONE LABEL`, `#label list [PHONE]`: labels put through
//! juru are recorded with the staff member who did it, and set in WhatsApp
//! (WAHA replaces the chat's whole label set, so the full set is sent).

use super::args::Args;
use super::crm::{contact_key, split_first};
use super::format::bullets;
use super::{CommandError, Ctx, ForSub};
use crate::channel::{ChatId, OutBody, Outgoing, ReplyMeta};
use crate::crm::labels::{AppliedBy, Detected, Label};

pub fn run(ctx: &mut Ctx<'_>) -> Result<String, CommandError> {
    let rest = ctx.inv.rest.clone();
    let (action, args) = split_first(&rest);
    match action.as_str() {
        "add" | "remove" => change(ctx, &action, args),
        "" | "list" => list(ctx, args),
        other => Err(CommandError::Usage { sub: None, problem: ctx.t().unknown_action(other) }),
    }
}

fn find_label(ctx: &Ctx<'_>, wanted: &str) -> Result<Label, CommandError> {
    let labels: Vec<Label> = ctx.crm.labels().into_iter().filter(|l| !l.deleted).collect();
    labels.iter().find(|l| l.name.eq_ignore_ascii_case(wanted.trim()) || l.id == wanted.trim()).cloned().ok_or_else(
        || {
            let known: Vec<&str> = labels.iter().map(|l| l.name.as_str()).collect();
            CommandError::NotFound(if known.is_empty() {
                ctx.t().no_labels_known_create()
            } else {
                ctx.t().no_label(wanted, &known.join(", "))
            })
        },
    )
}

fn change(ctx: &mut Ctx<'_>, action: &str, args: &str) -> Result<String, CommandError> {
    let t = ctx.t();
    let sub: &'static str = if action == "add" { "add" } else { "remove" };
    let args = Args::parse(args, &[]).for_sub(sub)?;
    let key = contact_key(t, args.required(0, "PHONE").for_sub(sub)?)?;
    let wanted = args.rest(1).ok_or_else(|| CommandError::usage(sub, t.args_missing("LABEL")))?;
    let chat =
        ChatId::parse(&key).filter(|c| !c.is_group()).ok_or_else(|| CommandError::Invalid(t.labels_personal_only()))?;
    let label = find_label(ctx, &wanted)?;
    let by = AppliedBy::Staff { id: ctx.caller.id.clone() };
    let active = ctx.crm.assignment(&key, &label.id).is_some();
    let changes = match (sub, active) {
        ("add", true) => return Ok(t.label_already(&key, &label.name)),
        ("remove", false) => return Ok(t.label_not_had(&key, &label.name)),
        ("add", _) => ctx.crm.label_added(&key, &label.id, Some(&label.name), &by, Detected::Juru, ctx.now_ms)?,
        _ => ctx.crm.label_removed(&key, &label.id, &by, Detected::Juru, ctx.now_ms)?,
    };
    ctx.changes.extend(changes);
    // The chat's whole set after this change, for WhatsApp.
    let mut set: Vec<(String, String)> = ctx
        .crm
        .assignments_of(&key)
        .into_iter()
        .filter(|a| a.label_id != label.id)
        .map(|a| (a.label_id, a.label_name))
        .collect();
    if sub == "add" {
        set.push((label.id.clone(), label.name.clone()));
    }
    ctx.sends.push(Outgoing {
        to: chat,
        body: OutBody::Labels {
            label_ids: set.iter().map(|(id, _)| id.clone()).collect(),
            names: set.iter().map(|(_, name)| name.clone()).collect(),
        },
        reply_to: None,
        meta: ReplyMeta::default(),
    });
    Ok(if sub == "add" { t.label_added(&label.name, &key) } else { t.label_removed(&label.name, &key) })
}

fn list(ctx: &mut Ctx<'_>, args: &str) -> Result<String, CommandError> {
    let t = ctx.t();
    let args = Args::parse(args, &[]).for_sub("list")?;
    if let Some(phone) = args.positional(0) {
        let key = contact_key(t, phone)?;
        let mine: Vec<String> = ctx
            .crm
            .assignments_of(&key)
            .iter()
            .map(|a| {
                let by = match &a.applied_by {
                    AppliedBy::Staff { id } => t.applied_by_staff(id),
                    AppliedBy::WhatsappAccount { number, .. } => t.applied_on_phone(number.as_deref()),
                };
                format!("*{}* — {by}, {}", a.label_name, super::format::local_time(a.applied_at_ms))
            })
            .collect();
        if mine.is_empty() {
            return Ok(t.no_labels_of(&key));
        }
        return Ok(format!("{}\n{}", t.labels_of_heading(&key), bullets(t, mine.iter().cloned(), 30, mine.len())));
    }
    let assignments = ctx.crm.assignments();
    let labels: Vec<String> = ctx
        .crm
        .labels()
        .into_iter()
        .filter(|l| !l.deleted)
        .map(|l| t.label_count(&l.name, assignments.iter().filter(|a| a.label_id == l.id).count()))
        .collect();
    if labels.is_empty() {
        return Ok(t.no_labels_known());
    }
    Ok(format!("{}\n{}", t.labels_heading(), bullets(t, labels.iter().cloned(), 50, labels.len())))
}
