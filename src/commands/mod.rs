//! Chat commands: prefix parsing, manifests, access checks, cooldowns and
//! daily limits, then the command's handler.
//!
//! Adding a command = a manifest `commands/NAME.toml` + a handler file here,
//! registered in [`HANDLERS`]. Handlers are plain functions over the local
//! CRM: they read what they need and return their effects (reply text and
//! [`Changes`]); the runtime commits those with the audit record in one
//! transaction, then sends the reply. No handler performs I/O of its own.

pub mod args;
pub mod checks;
mod crm;
mod crm_contacts;
mod crm_deals;
mod crm_nurture;
mod crm_platforms;
mod crm_segments;
pub mod format;
mod help;
mod label;
pub mod manifest;
mod paket;

use std::collections::HashMap;
use std::sync::Arc;

use args::ArgsError;
pub use checks::{Caller, Refusal, Usage};
pub use manifest::{Manifest, Manifests};

use crate::channel::{ChatId, Control, Inbound, Phone};
use crate::config::{Config, Language, Plan};
use crate::crm::seats::OnSale;
use crate::crm::{Changes, Crm, CrmError};
use crate::live::LiveDir;
use crate::router::{Effects, ToSend};
use crate::store::{TreeName, Write, decode, encode, key2};
use crate::texts::{self, Texts};

/// A handler: the parsed invocation in, the reply text out.
pub type Handler = fn(&mut Ctx<'_>) -> Result<String, CommandError>;

/// Every command this build can run, by manifest name.
pub const HANDLERS: [(&str, Handler); 4] =
    [("crm", crm::run), ("help", help::run), ("label", label::run), ("paket", paket::run)];
pub const HANDLER_NAMES: &[&str] = &["crm", "help", "label", "paket"];

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Wrong arguments: the reply adds the (sub)command's usage and example.
    #[error("{problem}")]
    Usage { sub: Option<&'static str>, problem: String },
    /// Arguments that could not be read: worded in the caller's language when replied.
    #[error("{error}")]
    Args { sub: &'static str, error: ArgsError },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Crm(#[from] CrmError),
}

impl CommandError {
    pub fn usage(sub: &'static str, problem: impl std::fmt::Display) -> CommandError {
        CommandError::Usage { sub: Some(sub), problem: problem.to_string() }
    }
}

/// Arguments errors belong to the subcommand being parsed.
pub trait ForSub<T> {
    fn for_sub(self, sub: &'static str) -> Result<T, CommandError>;
}

impl<T> ForSub<T> for Result<T, ArgsError> {
    fn for_sub(self, sub: &'static str) -> Result<T, CommandError> {
        self.map_err(|error| CommandError::Args { sub, error })
    }
}

/// Asked of the WhatsApp side when a manifest needs it.
pub trait Directory: Sync {
    /// Whether `member` is an admin of `group`; `None` when it cannot be told.
    fn is_group_admin(&self, group: &ChatId, member: &ChatId) -> impl Future<Output = Option<bool>> + Send;
}

/// No group API: nobody is a group admin.
pub struct NoDirectory;

impl Directory for NoDirectory {
    async fn is_group_admin(&self, _: &ChatId, _: &ChatId) -> Option<bool> {
        None
    }
}

/// Settings from config the commands need.
#[derive(Debug, Clone)]
pub struct CommandSettings {
    pub prefixes: Vec<String>,
    pub owners: Vec<String>,
    pub owner_from_me: bool,
    pub plan: Plan,
    /// Phone → (level, premium).
    pub staff: HashMap<String, (u32, bool)>,
    /// What juru speaks to owners and staff (`[bot] language`).
    pub language: Language,
    /// What it speaks to a prospect whose language is not known yet (`[sales] default_language`).
    pub prospect_language: Language,
    pub public_url: Option<String>,
    /// OAuth client ids by platform name.
    pub oauth_clients: HashMap<&'static str, String>,
    /// Length of a nurture day in ms.
    pub day_ms: u64,
}

impl CommandSettings {
    pub fn from_config(config: &Config) -> CommandSettings {
        let crm = &config.crm;
        let oauth_clients = [
            ("hubspot", &crm.hubspot.client_id),
            ("salesforce", &crm.salesforce.client_id),
            ("pipedrive", &crm.pipedrive.client_id),
            ("zoho", &crm.zoho.client_id),
        ]
        .into_iter()
        .filter_map(|(name, id)| id.clone().map(|id| (name, id)))
        .collect();
        // Numbers in config may be national (`0812…`): the caller's id is international.
        let country = Phone::parse_country(&config.bot.default_country).unwrap_or(phonenumber::country::Id::ID);
        let normalised = |typed: &str, country| Phone::typed_in(typed, country).map_or(typed.to_string(), String::from);
        CommandSettings {
            prefixes: config.bot.prefixes.clone(),
            owners: config.bot.owners.iter().map(|p| normalised(&p.0, country)).collect(),
            owner_from_me: config.bot.owner_from_me,
            plan: config.bot.plan,
            staff: config.bot.staff.iter().map(|s| (normalised(&s.phone.0, country), (s.level, s.premium))).collect(),
            language: config.bot.language,
            prospect_language: config.sales.default_language,
            public_url: crm.public_url.as_ref().map(|u| u.as_str().to_string()),
            oauth_clients,
            day_ms: crm.nurture_day_secs * 1000,
        }
    }
}

pub struct Commands {
    manifests: LiveDir<Manifests>,
    pub settings: CommandSettings,
    crm: Arc<Crm>,
}

/// A message recognised as a command.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub manifest: Arc<Manifest>,
    /// The name typed (may be an alias).
    pub name: String,
    pub prefix: String,
    /// Everything after the name.
    pub rest: String,
}

/// A command's effects: its reply texts (each within WhatsApp's length
/// limit, quoting the command in a group so it shows whom the answer is
/// for), items for other chats (labels), CRM changes, operator actions on
/// other chats, and the audit (credentials masked; `ok`, `refused: owner_only`,
/// `error` as the route).
fn effects(ev: &Inbound, text: &str, audit_text: String, result: &str) -> Effects {
    let mut effects = Effects::noted(&format!("command: {result}"));
    effects.audit.text = Some(audit_text);
    for part in format::split(text, format::WHATSAPP_LIMIT) {
        let mut send = Effects::text(&ev.chat, part);
        send.out.reply_to = ev.chat.is_group().then(|| ev.id.clone());
        effects.sends.push(send);
    }
    effects
}

/// What a handler sees.
pub struct Ctx<'a> {
    pub inv: &'a Invocation,
    pub caller: &'a Caller,
    pub chat: &'a ChatId,
    pub crm: &'a Crm,
    /// The catalog's packages, asked only by the commands that need them
    /// (commands do not read the prompt folder).
    pub packages: &'a (dyn Fn() -> Vec<OnSale> + Sync),
    pub settings: &'a CommandSettings,
    pub manifests: &'a Manifests,
    /// The caller's language: `[bot] language` for the team, the chat's for anyone else.
    pub lang: Language,
    pub now_ms: u64,
    pub changes: Changes,
    pub controls: Vec<Control>,
    pub sends: Vec<crate::channel::Outgoing>,
}

impl Ctx<'_> {
    /// The texts in the caller's language.
    pub fn t(&self) -> &'static dyn Texts {
        texts::of(self.lang)
    }

    /// `#crm` as typed, for usage lines.
    pub fn command(&self) -> String {
        format!("{}{}", self.inv.prefix, self.inv.manifest.name)
    }
}

impl Commands {
    pub fn new(manifests: LiveDir<Manifests>, settings: CommandSettings, crm: Arc<Crm>) -> Commands {
        Commands { manifests, settings, crm }
    }

    pub fn open(config: &Config, crm: Arc<Crm>) -> Commands {
        Commands::new(LiveDir::open(&config.bot.commands_dir), CommandSettings::from_config(config), crm)
    }

    pub fn crm(&self) -> &Arc<Crm> {
        &self.crm
    }

    pub fn manifests(&self) -> Arc<Manifests> {
        self.manifests.current()
    }

    /// A command only if a prefix is followed by a known command name (or the
    /// bare name of a command whose manifest has `prefix = false`).
    pub fn detect(&self, text: Option<&str>) -> Option<Invocation> {
        let text = text?.trim_start();
        let manifests = self.manifests.current();
        let split = |s: &str| -> (String, String) {
            let s = s.trim_start();
            let end = s.find(char::is_whitespace).unwrap_or(s.len());
            (s[..end].to_lowercase(), s[end..].trim().to_string())
        };
        for prefix in &self.settings.prefixes {
            if let Some(after) = text.strip_prefix(prefix.as_str()) {
                let (name, rest) = split(after);
                if let Some(m) = manifests.get(&name).filter(|m| m.prefix) {
                    return Some(Invocation { manifest: m.clone(), name, prefix: prefix.clone(), rest });
                }
            }
        }
        let (name, rest) = split(text);
        let m = manifests.get(&name).filter(|m| !m.prefix)?;
        Some(Invocation { manifest: m.clone(), name, prefix: String::new(), rest })
    }

    /// Who the sender is, from config and the webhook alone.
    pub fn caller(&self, ev: &Inbound) -> Caller {
        let id = ev.sender.key();
        let is_owner = if ev.from_me {
            self.settings.owner_from_me
        } else {
            ev.sender.phone().is_some_and(|p| self.settings.owners.iter().any(|o| o == p.as_str()))
        };
        let (level, premium) = self.settings.staff.get(&id).copied().unwrap_or((0, false));
        Caller { id, is_owner, in_group: ev.chat.is_group(), premium, level: if is_owner { u32::MAX } else { level } }
    }

    /// An owner or a listed staff member (their commands do not make them leads).
    pub fn is_team(&self, ev: &Inbound) -> bool {
        let caller = self.caller(ev);
        caller.is_owner || self.settings.staff.contains_key(&caller.id)
    }

    /// Checks, then the handler. Never fails: errors become replies, in the
    /// caller's language (`chat_lang`: the language detected in the chat).
    pub async fn handle(
        &self,
        ev: &Inbound,
        inv: &Invocation,
        dir: &impl Directory,
        packages: &(dyn Fn() -> Vec<OnSale> + Sync),
        now_ms: u64,
        chat_lang: Option<Language>,
    ) -> Effects {
        let caller = self.caller(ev);
        let lang = if self.is_team(ev) {
            self.settings.language
        } else {
            chat_lang.unwrap_or(self.settings.prospect_language)
        };
        let m = &inv.manifest;
        let usage_key = key2(&m.name, &caller.id);
        let usage: Option<Usage> =
            self.crm.store().read(TreeName::CommandUsage).get(&usage_key).ok().flatten().and_then(|v| decode(&v).ok());
        let admin =
            if m.admin_group_only && caller.in_group { dir.is_group_admin(&ev.chat, &ev.sender).await } else { None };
        let shown = format!("{}{}", inv.prefix, inv.name);
        // Credentials never reach the audit trail, whether the command runs or not.
        let audit_text = mask_secrets(&format!("{shown} {}", inv.rest), &inv.rest);
        if let Some(problem) = &m.broken {
            let text = texts::of(lang).command_disabled(&shown, problem);
            return effects(ev, &text, audit_text, "refused: broken manifest");
        }
        if let Err(refusal) = checks::check(m, &caller, admin, self.settings.plan, usage, now_ms) {
            tracing::info!(command = %m.name, sender = %caller.id, rule = refusal.rule(), "command refused");
            let text = refusal.text(&shown, lang);
            return effects(ev, &text, audit_text, &format!("refused: {}", refusal.rule()));
        }
        let manifests = self.manifests.current();
        let mut ctx = Ctx {
            inv,
            caller: &caller,
            chat: &ev.chat,
            crm: &self.crm,
            packages,
            settings: &self.settings,
            manifests: &manifests,
            lang,
            now_ms,
            changes: Changes::default(),
            controls: Vec::new(),
            sends: Vec::new(),
        };
        let handler = HANDLERS.iter().find(|(name, _)| *name == m.name).map(|(_, h)| *h);
        let result = match handler {
            Some(h) => h(&mut ctx),
            None => Err(CommandError::Invalid(texts::of(lang).command_not_built(&shown))),
        };
        let (text, result, mut changes) = match result {
            Ok(text) => (text, "ok".to_string(), ctx.changes),
            Err(e) => (self.error_text(&ctx, &e), "error".to_string(), Changes::default()),
        };
        // Refused and failed commands do not count against cooldowns and limits.
        if result == "ok" && !caller.is_owner && (m.cooldown > 0 || m.limit > 0) {
            let used = usage.unwrap_or_default().used(now_ms);
            changes.writes.push(Write::Put(TreeName::CommandUsage, usage_key, encode(&used)));
        }
        let mut effects = effects(ev, &text, audit_text, &result);
        effects.crm = changes;
        if result == "ok" {
            effects.controls = ctx.controls;
            effects.sends.extend(ctx.sends.into_iter().map(|out| ToSend { out, via: None }));
        }
        tracing::info!(chat = %ev.chat.key(), command = %m.name, %result, "command handled");
        effects
    }

    fn error_text(&self, ctx: &Ctx<'_>, e: &CommandError) -> String {
        let t = ctx.t();
        let (sub, problem) = match e {
            CommandError::Usage { sub, problem } => (*sub, problem.clone()),
            CommandError::Args { sub, error } => (Some(*sub), args_text(t, error)),
            CommandError::Crm(e) => {
                tracing::error!(error = %e, "command failed");
                return t.command_failed();
            }
            other => return format!("❌ {other}"),
        };
        let cmd = ctx.command();
        let m = &ctx.inv.manifest;
        let (usage, example) = (t.usage_label(), t.example_label());
        match sub.and_then(|s| m.subcommand(s)) {
            Some(s) => format!("❌ {problem}\n*{usage}:* {cmd} {}\n*{example}:* {cmd} {}", s.usage, s.example),
            None => format!("❌ {problem}\n*{usage}:* {}{}", ctx.inv.prefix, m.usage),
        }
    }
}

/// Why the arguments could not be read, in the caller's words.
fn args_text(t: &dyn Texts, e: &ArgsError) -> String {
    match e {
        ArgsError::UnterminatedQuote { column } => t.args_unterminated_quote(*column),
        ArgsError::UnknownFlag { name } => t.args_unknown_flag(name),
        ArgsError::MissingValue { name } => t.args_missing_value(name),
        ArgsError::UnexpectedValue { name } => t.args_unexpected_value(name),
        ArgsError::Repeated { name } => t.args_repeated(name),
        ArgsError::Missing { what } => t.args_missing(what),
        ArgsError::Extra { text } => t.args_extra(text),
        ArgsError::NotANumber { name, text } => t.args_not_a_number(name, text),
    }
}

/// Flags whose value is a credential.
const SECRET_FLAGS: [&str; 6] = ["--api-key", "--api_key", "--token", "--password", "--secret", "--client-secret"];

/// `text` with the values of [`SECRET_FLAGS`] in `args` replaced by `•••`.
fn mask_secrets(text: &str, args: &str) -> String {
    let masked = text.trim_end().to_string();
    let Ok(tokens) = args::tokenize(args) else {
        // Unbalanced quotes: keep nothing after a secret flag.
        let lower = masked.to_lowercase();
        return match SECRET_FLAGS.iter().filter_map(|f| lower.find(f)).min() {
            Some(at) => format!("{}•••", &masked[..at]),
            None => masked,
        };
    };
    let mut secrets = Vec::new();
    let mut next_is_secret = false;
    for t in tokens {
        let lower = t.text.to_lowercase();
        if next_is_secret {
            secrets.push(t.text.clone());
        } else if let Some((flag, value)) = t.text.split_once('=')
            && SECRET_FLAGS.contains(&flag.to_lowercase().as_str())
        {
            secrets.push(value.to_string());
        }
        next_is_secret = SECRET_FLAGS.contains(&lower.as_str());
    }
    secrets.into_iter().filter(|s| !s.is_empty()).fold(masked, |text, s| text.replace(&s, "•••"))
}

#[cfg(test)]
mod tests;
