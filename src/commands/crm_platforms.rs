//! `#crm connect`, `auth`, `sync` and `field-mapping`: the CRM platform
//! configuration. They store and validate; the connectors do the sending.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::args::{Args, FlagSpec};
use super::crm::split_first;
use super::format::local_time;
use super::{CommandError, Ctx, ForSub};
use crate::crm::Platform;
use crate::crm::contact::LOCAL_FIELDS;
use crate::crm::settings::{
    AuthKind, AuthRecord, Connection, FieldMapping, OAuthState, SyncRequest, auth_key, mapping_key, oauth_key, sync_key,
};
use crate::texts::{SyncSummary, Texts};

/// An authorization link is good for this long.
const OAUTH_TTL_MS: u64 = 15 * 60_000;

fn platform(t: &dyn Texts, sub: &'static str, text: &str) -> Result<Platform, CommandError> {
    Platform::parse(text).ok_or_else(|| CommandError::usage(sub, t.unknown_platform(text, &Platform::names())))
}

pub fn connect(ctx: &mut Ctx<'_>, args: &str) -> Result<String, CommandError> {
    let t = ctx.t();
    let args = Args::parse(args, &[]).for_sub("connect")?;
    let p = platform(t, "connect", args.required(0, "PLATFORM").for_sub("connect")?)?;
    args.at_most(1).for_sub("connect")?;
    ctx.changes.put_setting("platform", &Connection { platform: p, by: ctx.caller.id.clone(), at_ms: ctx.now_ms });
    let cmd = ctx.command();
    let next = match p.authorize_url() {
        Some(_) if matches!(p, Platform::Salesforce | Platform::Zoho) => t.connect_next_oauth(&cmd, p.as_str()),
        Some(_) => t.connect_next_key_or_oauth(&cmd, p.as_str(), &t.api_key_hint(p)),
        // App-only: the app's client secret is the credential.
        None if p == Platform::Dynamics => t.connect_next_secret(&cmd, p.as_str(), &t.api_key_hint(p)),
        None => t.connect_next_key(&cmd, p.as_str(), &t.api_key_hint(p)),
    };
    Ok(t.platform_chosen(p.title(), &next))
}

const AUTH_FLAGS: [FlagSpec; 3] = [FlagSpec::value("platform"), FlagSpec::value("api-key"), FlagSpec::switch("oauth")];

pub fn auth(ctx: &mut Ctx<'_>, args: &str) -> Result<String, CommandError> {
    let t = ctx.t();
    let args = Args::parse(args, &AUTH_FLAGS).for_sub("auth")?;
    args.at_most(0).for_sub("auth")?;
    let connected = ctx.crm.setting::<Connection>("platform").map(|c| c.platform);
    let p = match (args.flag("platform"), connected) {
        (Some(text), _) => platform(t, "auth", text)?,
        (None, Some(p)) => p,
        (None, None) => return Err(CommandError::usage("auth", t.args_missing("--platform P"))),
    };
    match (args.flag("api-key"), args.switch("oauth")) {
        (Some(_), true) => Err(CommandError::usage("auth", t.auth_both())),
        (None, false) => Err(CommandError::usage("auth", t.auth_neither())),
        (Some(key), false) => {
            let key = key.trim().to_string();
            if matches!(p, Platform::Salesforce | Platform::Zoho) {
                return Err(CommandError::Invalid(t.platform_uses_oauth(p.title(), &ctx.command(), p.as_str())));
            }
            if key.len() < 8 || key.len() > 512 || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(CommandError::Invalid(t.not_an_api_key()));
            }
            let sealed = ctx.crm.sealer().seal(&key);
            ctx.changes.put_secret(p, &sealed);
            ctx.changes.put_setting(
                &auth_key(p),
                &AuthRecord {
                    platform: p,
                    kind: AuthKind::ApiKey,
                    by: ctx.caller.id.clone(),
                    at_ms: ctx.now_ms,
                    hint: None,
                },
            );
            Ok(t.api_key_stored(p.title(), &ctx.command(), p.as_str()))
        }
        (None, true) => {
            if p == Platform::Dynamics {
                return Err(CommandError::Invalid(format!(
                    "Dynamics 365 signs in as an app (client credentials), not through a consent page: {} auth \
                     --platform dynamics --api-key CLIENT_SECRET",
                    ctx.command()
                )));
            }
            let Some(authorize) = p.authorize_url() else {
                return Err(CommandError::Invalid(t.platform_has_no_oauth(p.title())));
            };
            let client_id = ctx
                .settings
                .oauth_clients
                .get(p.as_str())
                .ok_or_else(|| CommandError::Invalid(t.oauth_client_missing(p.as_str())))?;
            let public =
                ctx.settings.public_url.as_deref().ok_or_else(|| CommandError::Invalid(t.public_url_missing()))?;
            let state = uuid::Uuid::new_v4().simple().to_string();
            let redirect = format!("{public}/oauth/callback/{}", p.as_str());
            let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
            let mut url = format!(
                "{authorize}?response_type=code&client_id={}&redirect_uri={}&state={state}",
                enc(client_id),
                enc(&redirect)
            );
            match p {
                Platform::Hubspot => url.push_str(
                    "&scope=crm.objects.contacts.write%20crm.objects.deals.write%20crm.objects.companies.write",
                ),
                // Settings: fields, layouts and pipelines are read at start; consent gives a refresh token.
                Platform::Zoho => {
                    url.push_str("&scope=ZohoCRM.modules.ALL%2CZohoCRM.settings.ALL&access_type=offline&prompt=consent")
                }
                _ => {}
            }
            ctx.changes.put_setting(
                &oauth_key(&state),
                &OAuthState {
                    platform: p,
                    chat: ctx.chat.key(),
                    by: ctx.caller.id.clone(),
                    expires_ms: ctx.now_ms + OAUTH_TTL_MS,
                },
            );
            ctx.changes.put_setting(
                &auth_key(p),
                &AuthRecord {
                    platform: p,
                    kind: AuthKind::OauthPending,
                    by: ctx.caller.id.clone(),
                    at_ms: ctx.now_ms,
                    hint: None,
                },
            );
            Ok(t.authorize_link(p.title(), &url))
        }
    }
}

const SYNC_FLAGS: [FlagSpec; 1] = [FlagSpec::switch("full")];

pub fn sync(ctx: &mut Ctx<'_>, args: &str) -> Result<String, CommandError> {
    let t = ctx.t();
    let args = Args::parse(args, &SYNC_FLAGS).for_sub("sync")?;
    args.at_most(1).for_sub("sync")?;
    let p = match args.positional(0) {
        Some(text) => platform(t, "sync", text)?,
        None => match ctx.crm.setting::<Connection>("platform") {
            Some(c) => c.platform,
            None => {
                return Err(CommandError::Invalid(t.no_platform_connected(&ctx.command())));
            }
        },
    };
    let full = args.switch("full");
    let previous = ctx.crm.setting::<SyncRequest>(&sync_key(p));
    let since = if full { 0 } else { previous.as_ref().map(|r| r.at_ms).unwrap_or(0) };
    let (contacts, deals) = {
        let index = ctx.crm.read();
        (
            index.contacts.values().filter(|c| c.last_seen_ms >= since || c.first_seen_ms >= since).count() as u64,
            index.deals.values().filter(|d| d.updated_ms >= since).count() as u64,
        )
    };
    let activities = ctx.crm.activity_count();
    ctx.changes.put_setting(
        &sync_key(p),
        &SyncRequest { platform: p, full, by: ctx.caller.id.clone(), at_ms: ctx.now_ms, contacts, deals, activities },
    );
    let auth = ctx.crm.setting::<AuthRecord>(&auth_key(p));
    let auth_line = match auth.map(|a| a.kind) {
        Some(AuthKind::ApiKey) => t.credential_api_key(),
        Some(AuthKind::OauthPending) => t.credential_oauth_pending(),
        Some(AuthKind::Oauth) => t.credential_oauth(),
        None => t.credential_none(&ctx.command(), p.as_str()),
    };
    let previous_line =
        previous.map(|r| format!("\n{}", t.previous_sync_request(&local_time(r.at_ms)))).unwrap_or_default();
    let r = crate::crm::sync::report(ctx.crm.store(), p);
    let mut reply = t.sync_requested(&SyncSummary {
        platform: p.title(),
        full,
        contacts,
        deals,
        activities,
        queued: r.queued,
        sent: r.sent,
        failed: r.failed,
        dead: r.dead,
    });
    if let Some(at) = r.last_sync_ms {
        reply.push_str(&format!("\n{}", t.last_push(&local_time(at))));
    }
    if let Some(error) = &r.last_error {
        let at = r.last_error_ms.map(|t| format!(" ({})", local_time(t))).unwrap_or_default();
        reply.push_str(&format!("\n{}", t.last_error(&at, error)));
    }
    reply.push_str(&format!("\n{auth_line}{previous_line}"));
    if !ctx.crm.sync_targets().contains(&p) {
        reply.push_str(&format!("\n{}", t.connector_not_running(p.title())));
    }
    Ok(reply)
}

pub fn field_mapping(ctx: &mut Ctx<'_>, args: &str) -> Result<String, CommandError> {
    let t = ctx.t();
    let (word, rest) = split_first(args);
    let (action, rest) = if word == "configure" { split_first(rest) } else { (word, rest) };
    match action.as_str() {
        "" | "show" => {
            let mut lines = vec![t.field_mappings_heading().to_string()];
            for p in Platform::ALL {
                let mapping: FieldMapping = ctx.crm.setting(&mapping_key(p)).unwrap_or_default();
                if !mapping.is_empty() {
                    lines.push(format!("\n*{}*", p.title()));
                    lines.extend(mapping.iter().map(|(local, remote)| format!("• {local} → {remote}")));
                }
            }
            if lines.len() == 1 {
                lines.push(t.field_mappings_none().into());
            }
            lines.push(format!("\n{}", t.field_mapping_hint(&ctx.command())));
            Ok(lines.join("\n"))
        }
        "set" => {
            let args = Args::parse(rest, &[]).for_sub("field-mapping")?;
            let local = args.required(0, "LOCAL_FIELD").for_sub("field-mapping")?.to_lowercase();
            let target = args.required(1, "PLATFORM.FIELD").for_sub("field-mapping")?;
            args.at_most(2).for_sub("field-mapping")?;
            if !LOCAL_FIELDS.iter().any(|(name, _)| *name == local) {
                let known: Vec<&str> = LOCAL_FIELDS.iter().map(|(n, _)| *n).collect();
                return Err(CommandError::usage("field-mapping", t.unknown_local_field(&local, &known.join(", "))));
            }
            let (p, remote) = target
                .split_once('.')
                .ok_or_else(|| CommandError::usage("field-mapping", t.not_platform_field(target)))?;
            let p = platform(t, "field-mapping", p)?;
            if !p.is_valid_remote_field(remote) {
                return Err(CommandError::usage("field-mapping", t.invalid_remote_field(remote, p.title())));
            }
            let mut mapping: FieldMapping = ctx.crm.setting(&mapping_key(p)).unwrap_or_default();
            mapping.insert(local.clone(), remote.to_string());
            ctx.changes.put_setting(&mapping_key(p), &mapping);
            Ok(format!("✅ {local} → {}.{remote}", p.as_str()))
        }
        other => Err(CommandError::usage("field-mapping", t.unknown_action(other))),
    }
}
