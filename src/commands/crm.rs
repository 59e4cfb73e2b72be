//! `#crm`: dispatches to its subcommands (the manifest `commands/crm.toml`
//! lists them; one removed there is unavailable here too).

use std::sync::Arc;

use super::{CommandError, Ctx, crm_contacts, crm_deals, crm_nurture, crm_platforms, crm_segments, help};
use crate::channel::ChatId;
use crate::crm::Contact;
use crate::texts::Texts;

pub fn run(ctx: &mut Ctx<'_>) -> Result<String, CommandError> {
    let rest = ctx.inv.rest.clone();
    let (sub, args) = split_first(&rest);
    if sub.is_empty() || sub == "help" {
        return Ok(help_text(ctx, args));
    }
    if ctx.inv.manifest.subcommand(&sub).is_none() {
        return Err(CommandError::Usage { sub: None, problem: ctx.t().unknown_subcommand(&sub) });
    }
    match sub.as_str() {
        "leads" => crm_contacts::leads(ctx, args),
        "contacts" => crm_contacts::contacts(ctx, args),
        "company" => crm_contacts::company(ctx, args),
        "release" => crm_contacts::release(ctx, args),
        "deals" => crm_deals::deals(ctx, args),
        "pipeline" => crm_deals::pipeline(ctx, args),
        "reports" => crm_deals::reports(ctx, args),
        "lead-score" => crm_segments::lead_score(ctx, args),
        "segment" => crm_segments::segment(ctx, args),
        "nurture-sequence" => crm_nurture::run(ctx, args),
        "connect" => crm_platforms::connect(ctx, args),
        "auth" => crm_platforms::auth(ctx, args),
        "sync" => crm_platforms::sync(ctx, args),
        "field-mapping" => crm_platforms::field_mapping(ctx, args),
        other => Err(CommandError::Invalid(ctx.t().subcommand_not_built(other))),
    }
}

/// `#crm` alone or `#crm help SUB`: usage from the manifest.
fn help_text(ctx: &Ctx<'_>, args: &str) -> String {
    let m = &ctx.inv.manifest;
    let cmd = ctx.command();
    match split_first(args).0.as_str() {
        "" => help::usage_of(m, &ctx.inv.prefix, ctx.lang),
        name => match m.subcommand(name) {
            Some(s) => format!(
                "*{cmd} {}* — {}\n*{}:* {cmd} {}\n*{}:* {cmd} {}",
                s.name,
                m.describe_sub(s, ctx.lang),
                ctx.t().usage_label(),
                s.usage,
                ctx.t().example_label(),
                s.example
            ),
            None => format!(
                "{}\n\n{}",
                ctx.t().no_such_subcommand(&format!("{cmd} {name}")),
                help::usage_of(m, &ctx.inv.prefix, ctx.lang)
            ),
        },
    }
}

/// The first word (lowercased) and the rest.
pub fn split_first(s: &str) -> (String, &str) {
    let s = s.trim_start();
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    (s[..end].to_lowercase(), s[end..].trim_start())
}

/// A phone number or chat id as typed → the contact key.
pub fn contact_key(t: &dyn Texts, text: &str) -> Result<String, CommandError> {
    ChatId::parse(text.trim()).map(|c| c.key()).ok_or_else(|| CommandError::Invalid(t.not_a_phone(text)))
}

pub fn find_contact(ctx: &Ctx<'_>, text: &str) -> Result<Arc<Contact>, CommandError> {
    let key = contact_key(ctx.t(), text)?;
    ctx.crm.contact(&key).ok_or_else(|| CommandError::NotFound(ctx.t().no_contact(&key)))
}
