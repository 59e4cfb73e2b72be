//! Access checks, run before every handler in a fixed order; the first rule
//! that refuses is the one the sender is told about.

use serde::{Deserialize, Serialize};

use super::manifest::Manifest;
use crate::clock::local_day;
use crate::config::{Language, Plan};

/// Who is asking, as far as the checks care. Every fact comes from the
/// webhook, the config or WAHA — never from the message text.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The sender's phone digits (or LID key).
    pub id: String,
    pub is_owner: bool,
    pub in_group: bool,
    pub premium: bool,
    pub level: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    PrivateOnly,
    GroupOnly,
    AdminGroupOnly,
    OwnerOnly,
    PremiumOnly,
    Plan { required: Plan, current: Plan },
    Level { required: u32, current: u32 },
    Cooldown { seconds_left: u64 },
    DailyLimit { limit: u32 },
}

/// One user's use of one command (`command_usage` tree).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Local (WIB) day number of `count`.
    pub day: u64,
    pub count: u32,
    pub last_ms: u64,
}

impl Usage {
    pub fn used(self, now_ms: u64) -> Usage {
        let day = local_day(now_ms);
        Usage { day, count: if self.day == day { self.count + 1 } else { 1 }, last_ms: now_ms }
    }
}

/// Everything but group admin status, which is asked of WAHA only when a
/// manifest needs it (`is_group_admin`).
pub fn check(
    m: &Manifest,
    caller: &Caller,
    is_group_admin: Option<bool>,
    plan: Plan,
    usage: Option<Usage>,
    now_ms: u64,
) -> Result<(), Refusal> {
    if m.private_only && caller.in_group {
        return Err(Refusal::PrivateOnly);
    }
    if (m.group_only || m.admin_group_only) && !caller.in_group {
        return Err(Refusal::GroupOnly);
    }
    if m.admin_group_only && is_group_admin != Some(true) {
        return Err(Refusal::AdminGroupOnly);
    }
    if m.owner_only && !caller.is_owner {
        return Err(Refusal::OwnerOnly);
    }
    if m.premium_only && !(caller.premium || caller.is_owner) {
        return Err(Refusal::PremiumOnly);
    }
    if plan < m.plan {
        return Err(Refusal::Plan { required: m.plan, current: plan });
    }
    if caller.level < m.level && !caller.is_owner {
        return Err(Refusal::Level { required: m.level, current: caller.level });
    }
    if caller.is_owner {
        return Ok(());
    }
    if let Some(usage) = usage {
        let next_ms = usage.last_ms.saturating_add(m.cooldown * 1000);
        if m.cooldown > 0 && now_ms < next_ms {
            return Err(Refusal::Cooldown { seconds_left: (next_ms - now_ms).div_ceil(1000) });
        }
        if m.limit > 0 && usage.day == local_day(now_ms) && usage.count >= m.limit {
            return Err(Refusal::DailyLimit { limit: m.limit });
        }
    }
    Ok(())
}

impl Refusal {
    /// Short name for logs and the audit trail.
    pub fn rule(&self) -> &'static str {
        match self {
            Refusal::PrivateOnly => "private_only",
            Refusal::GroupOnly => "group_only",
            Refusal::AdminGroupOnly => "admin_group_only",
            Refusal::OwnerOnly => "owner_only",
            Refusal::PremiumOnly => "premium_only",
            Refusal::Plan { .. } => "plan",
            Refusal::Level { .. } => "level",
            Refusal::Cooldown { .. } => "cooldown",
            Refusal::DailyLimit { .. } => "limit",
        }
    }

    pub fn text(&self, command: &str, lang: Language) -> String {
        let t = crate::texts::of(lang);
        let body = match self {
            Refusal::PrivateOnly => t.refused_private_only(),
            Refusal::GroupOnly => t.refused_group_only(),
            Refusal::AdminGroupOnly => t.refused_admin_group_only(),
            Refusal::OwnerOnly => t.refused_owner_only(),
            Refusal::PremiumOnly => t.refused_premium_only(),
            Refusal::Plan { required, current } => t.refused_plan(required.as_str(), current.as_str()),
            Refusal::Level { required, current } => t.refused_level(*required, *current),
            Refusal::Cooldown { seconds_left } => t.refused_cooldown(*seconds_left),
            Refusal::DailyLimit { limit } => t.refused_daily_limit(*limit),
        };
        format!("⛔ *{command}*: {body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::Loadable;

    fn manifest() -> Manifest {
        let mut m = super::super::manifest::Manifests::embedded().get("crm").unwrap().as_ref().clone();
        m.owner_only = false;
        m
    }

    fn staff() -> Caller {
        Caller { id: "628222".into(), is_owner: false, in_group: false, premium: false, level: 1 }
    }

    #[test]
    fn the_first_failing_rule_in_the_fixed_order_is_reported() {
        let mut m = manifest();
        m.group_only = true;
        m.owner_only = true;
        m.level = 5;
        assert_eq!(check(&m, &staff(), None, Plan::Basic, None, 0), Err(Refusal::GroupOnly));
        let in_group = Caller { in_group: true, ..staff() };
        assert_eq!(check(&m, &in_group, None, Plan::Basic, None, 0), Err(Refusal::OwnerOnly));
        m.owner_only = false;
        assert_eq!(check(&m, &in_group, None, Plan::Basic, None, 0), Err(Refusal::Level { required: 5, current: 1 }));
    }

    #[test]
    fn cooldown_and_daily_limit_come_from_the_stored_usage() {
        let mut m = manifest();
        m.cooldown = 30;
        m.limit = 2;
        let now = 1_795_402_800_000;
        let once = Usage::default().used(now);
        assert_eq!(
            check(&m, &staff(), None, Plan::Basic, Some(once), now + 18_000),
            Err(Refusal::Cooldown { seconds_left: 12 })
        );
        let twice = once.used(now + 40_000);
        assert_eq!(
            check(&m, &staff(), None, Plan::Basic, Some(twice), now + 80_000),
            Err(Refusal::DailyLimit { limit: 2 })
        );
        assert_eq!(check(&m, &staff(), None, Plan::Basic, Some(twice), now + 86_400_000), Ok(()), "next day");
    }

    #[test]
    fn admin_group_only_needs_wahas_word() {
        let mut m = manifest();
        m.admin_group_only = true;
        let member = Caller { in_group: true, ..staff() };
        assert_eq!(check(&m, &member, Some(false), Plan::Basic, None, 0), Err(Refusal::AdminGroupOnly));
        assert_eq!(check(&m, &member, None, Plan::Basic, None, 0), Err(Refusal::AdminGroupOnly), "unknown = no");
        assert_eq!(check(&m, &member, Some(true), Plan::Basic, None, 0), Ok(()));
    }

    #[test]
    fn the_plan_is_the_installations_and_binds_owners_too() {
        let mut m = manifest();
        m.plan = Plan::Nitro;
        let owner = Caller { is_owner: true, ..staff() };
        let refusal = check(&m, &owner, None, Plan::Premium, None, 0).unwrap_err();
        assert_eq!(refusal.text("crm", Language::En), "⛔ *crm*: plan *nitro* required (this bot is on premium).");
    }
}
