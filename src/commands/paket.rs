//! `#paket [list]`, `#paket kuota CODE N`: the packages' seats as the bot
//! sees them (quota − held − taken) and an admin's "N seats are left now".

use super::args::Args;
use super::crm::split_first;
use super::{CommandError, Ctx, ForSub};
use crate::config::Language;
use crate::crm::seats::{OnSale, Standing};

pub fn run(ctx: &mut Ctx<'_>) -> Result<String, CommandError> {
    let rest = ctx.inv.rest.clone();
    let (action, args) = split_first(&rest);
    match action.as_str() {
        "" | "list" => Ok(list(ctx)),
        "kuota" | "quota" => set_quota(ctx, args),
        other => Err(CommandError::Usage { sub: None, problem: format!("unknown action `{other}`") }),
    }
}

fn list(ctx: &Ctx<'_>) -> String {
    if ctx.packages.is_empty() {
        return match ctx.lang {
            Language::Id => "Belum ada paket di prompts/packages.toml.".into(),
            Language::En => "There are no packages in prompts/packages.toml yet.".into(),
        };
    }
    let view = ctx.crm.seat_view(ctx.now_ms);
    let lines: Vec<String> = ctx.packages.iter().map(|p| line(ctx.lang, p, &view.standing(&p.code, p.quota))).collect();
    let heading = match ctx.lang {
        Language::Id => "*Paket & kursi*",
        Language::En => "*Packages & seats*",
    };
    format!("{heading}\n{}", lines.join("\n"))
}

fn line(lang: Language, p: &OnSale, s: &Standing) -> String {
    let admin = match (s.set_by_admin, lang) {
        (true, Language::Id) => ", kuota diatur admin",
        (true, Language::En) => ", quota set by an admin",
        (false, _) => "",
    };
    let state = match (p.departed, s.left, lang) {
        (true, _, Language::Id) => " — sudah berangkat".to_string(),
        (true, _, Language::En) => " — departed".to_string(),
        (false, 0, Language::Id) => " — PENUH".to_string(),
        (false, 0, Language::En) => " — FULL".to_string(),
        _ => String::new(),
    };
    match lang {
        Language::Id => format!(
            "• *{}* {} ({}): sisa {} kursi; ditahan {}, terjual {}{admin}{state}",
            p.code, p.name, p.departure, s.left, s.held, s.taken
        ),
        Language::En => format!(
            "• *{}* {} ({}): {} seats left; held {}, taken {}{admin}{state}",
            p.code, p.name, p.departure, s.left, s.held, s.taken
        ),
    }
}

fn set_quota(ctx: &mut Ctx<'_>, args: &str) -> Result<String, CommandError> {
    let args = Args::parse(args, &[]).for_sub("kuota")?;
    args.at_most(2).for_sub("kuota")?;
    let code = args.required(0, "CODE").for_sub("kuota")?;
    let n_text = args.required(1, "N").for_sub("kuota")?;
    let n: u32 = n_text
        .trim()
        .parse()
        .map_err(|_| CommandError::usage("kuota", format!("\"{n_text}\" is not a number of seats (0 or more)")))?;
    let Some(package) = ctx.packages.iter().find(|p| p.code.eq_ignore_ascii_case(code.trim())) else {
        let known: Vec<&str> = ctx.packages.iter().map(|p| p.code.as_str()).collect();
        return Err(CommandError::NotFound(format!("no package {code}; packages: {}", known.join(", "))));
    };
    let view = ctx.crm.seat_view(ctx.now_ms);
    let quota = view.quota_set(&package.code, n, package.quota, &ctx.caller.id, ctx.now_ms);
    let standing = view.standing(&package.code, package.quota);
    ctx.changes.set_quota(&package.code, &quota);
    Ok(match ctx.lang {
        Language::Id => format!(
            "✅ *{}*: sisa {n} kursi mulai sekarang (ditahan {}, terjual {}).{}",
            package.code,
            standing.held,
            standing.taken,
            if n == 0 { " Bot menawarkan paket lain." } else { "" }
        ),
        Language::En => format!(
            "✅ *{}*: {n} seats left from now (held {}, taken {}).{}",
            package.code,
            standing.held,
            standing.taken,
            if n == 0 { " The bot offers other packages." } else { "" }
        ),
    })
}
