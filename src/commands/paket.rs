//! `#paket [list]`, `#paket kuota CODE N`: the packages' seats as the bot
//! sees them (quota − held − taken) and an admin's "N seats are left now".

use super::args::Args;
use super::crm::split_first;
use super::{CommandError, Ctx, ForSub};

pub fn run(ctx: &mut Ctx<'_>) -> Result<String, CommandError> {
    let rest = ctx.inv.rest.clone();
    let (action, args) = split_first(&rest);
    match action.as_str() {
        "" | "list" => Ok(list(ctx)),
        "kuota" | "quota" => set_quota(ctx, args),
        other => Err(CommandError::Usage { sub: None, problem: ctx.t().unknown_action(other) }),
    }
}

fn list(ctx: &Ctx<'_>) -> String {
    let t = ctx.t();
    let packages = (ctx.packages)();
    if packages.is_empty() {
        return t.no_packages();
    }
    let view = ctx.crm.seat_view(ctx.now_ms);
    let lines: Vec<String> = packages.iter().map(|p| t.package_seats(p, &view.standing(&p.code, p.quota))).collect();
    format!("{}\n{}", t.packages_heading(), lines.join("\n"))
}

fn set_quota(ctx: &mut Ctx<'_>, args: &str) -> Result<String, CommandError> {
    let t = ctx.t();
    let args = Args::parse(args, &[]).for_sub("kuota")?;
    args.at_most(2).for_sub("kuota")?;
    let code = args.required(0, "CODE").for_sub("kuota")?;
    let n_text = args.required(1, "N").for_sub("kuota")?;
    let n: u32 = n_text.trim().parse().map_err(|_| CommandError::usage("kuota", t.not_a_seat_count(n_text)))?;
    let packages = (ctx.packages)();
    let Some(package) = packages.iter().find(|p| p.code.eq_ignore_ascii_case(code.trim())) else {
        let known: Vec<&str> = packages.iter().map(|p| p.code.as_str()).collect();
        return Err(CommandError::NotFound(t.no_package(code, &known.join(", "))));
    };
    let view = ctx.crm.seat_view(ctx.now_ms);
    let quota = view.quota_set(&package.code, n, package.quota, &ctx.caller.id, ctx.now_ms);
    let standing = view.standing(&package.code, package.quota);
    ctx.changes.set_quota(&package.code, &quota);
    Ok(t.quota_set(&package.code, n, standing.held, standing.taken))
}
