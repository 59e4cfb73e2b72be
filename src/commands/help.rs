//! `#help` / `#menu`: the commands this sender may use, or one command's usage.

use super::{CommandError, Ctx, checks};
use crate::config::Language;
use crate::texts;

pub fn run(ctx: &mut Ctx<'_>) -> Result<String, CommandError> {
    let wanted = ctx.inv.rest.split_whitespace().next().map(str::to_lowercase);
    let prefix = if ctx.inv.prefix.is_empty() { ctx.settings.prefixes[0].as_str() } else { ctx.inv.prefix.as_str() };
    if let Some(name) = wanted {
        let m = ctx
            .manifests
            .get(name.trim_start_matches(prefix))
            .ok_or_else(|| CommandError::NotFound(ctx.t().no_such_command(&name, prefix)))?;
        return Ok(usage_of(m, prefix, ctx.lang));
    }
    let mut lines = vec![format!("*{}*", ctx.t().commands_you_can_use())];
    for m in ctx.manifests.all() {
        // Cooldowns and limits do not hide a command; the rules about who and where do.
        if m.broken.is_some() {
            lines.push(format!("• *{prefix}{}* — ❌ {}", m.name, ctx.t().manifest_broken()));
            continue;
        }
        let allowed = checks::check(m, ctx.caller, Some(true), ctx.settings.plan, None, ctx.now_ms).is_ok();
        if allowed {
            let shown = if m.prefix { format!("{prefix}{}", m.name) } else { m.name.clone() };
            lines.push(format!("• *{shown}* — {}", m.describe(ctx.lang)));
        }
    }
    if lines.len() == 1 {
        lines.push(format!("({})", ctx.t().none_here()));
    }
    lines.push(format!("\n{}: {prefix}help COMMAND", ctx.t().details_label()));
    Ok(lines.join("\n"))
}

/// A command's usage and its subcommands, from the manifest.
pub fn usage_of(m: &super::Manifest, prefix: &str, lang: Language) -> String {
    let p = if m.prefix { prefix } else { "" };
    let usage = texts::of(lang).usage_label();
    let mut lines = vec![format!("*{p}{}* — {}", m.name, m.describe(lang)), format!("*{usage}:* {p}{}", m.usage)];
    if !m.subcommands.is_empty() {
        lines.push(String::new());
        for s in &m.subcommands {
            lines.push(format!("• *{}* — {}", s.name, m.describe_sub(s, lang)));
        }
        lines.push(format!("\n{}: {p}{} help SUBCOMMAND", texts::of(lang).details_label(), m.name));
    }
    lines.join("\n")
}
