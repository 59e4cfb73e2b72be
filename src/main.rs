//! The `juru` command line: parse arguments, build the app, run it.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use juru::channel::Phone;
use juru::config::Config;
use juru::telemetry::{self, LogFormat};

#[derive(Parser)]
#[command(name = "juru", version, about = "WhatsApp bot runtime for sales teams")]
struct Cli {
    /// Configuration file; every key can be overridden by JURU_SECTION__KEY.
    #[arg(long, global = true, default_value = "config.toml")]
    config: PathBuf,
    /// Log format on stderr (filter with RUST_LOG).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the bot: webhooks in, replies out.
    Serve,
    /// Talk to the bot from the terminal: one line = one message.
    Chat {
        /// The sender's phone number (e.g. 6281234567890).
        #[arg(long)]
        from: String,
        /// The sender's WhatsApp profile name.
        #[arg(long)]
        name: Option<String>,
        /// Print each outgoing item as one JSON object per line.
        #[arg(long)]
        json: bool,
        /// Treat the sender as an owner (for `#` commands).
        #[arg(long)]
        owner: bool,
    },
    /// Work with the prompt folder admins edit.
    Prompts {
        #[command(subcommand)]
        action: PromptsAction,
    },
    /// Work with the command manifests admins edit.
    Commands {
        #[command(subcommand)]
        action: PromptsAction,
    },
    /// Write leads, contacts, labels or audit as CSV (stop `serve` first:
    /// one process owns the data; while it runs, use `GET /api/export/{what}.csv`).
    Export {
        /// leads | contacts | labels | audit
        what: String,
        /// The file to write (default: standard output).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Push the CRM to HubSpot, Salesforce, Pipedrive, Zoho CRM, Freshsales or Dynamics 365 now, with a
    /// progress bar (stop `serve` first; while it runs, use `#crm sync` or `POST /api/crm/sync`).
    Sync {
        /// hubspot | salesforce | pipedrive | zoho | freshsales | dynamics (default: every platform with a credential).
        #[arg(long)]
        platform: Option<String>,
        /// Push every record, not only what changed since the last sync.
        #[arg(long)]
        full: bool,
    },
    /// WhatsApp labels (stop `serve` first: one process owns the data;
    /// while it runs, use `POST /api/labels/resync`).
    Labels {
        #[command(subcommand)]
        action: LabelsAction,
    },
}

#[derive(Subcommand)]
enum LabelsAction {
    /// Read WAHA's labels API and apply what juru missed, without double counting.
    Resync,
}

#[derive(Subcommand)]
enum PromptsAction {
    /// Validate the folder (`[sales] prompts_dir` / `[bot] commands_dir`) and print what it holds.
    Check,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let explicit_config = std::env::args().any(|a| a == "--config" || a.starts_with("--config="));
    let config = Config::load(&cli.config, explicit_config, std::env::vars()).context("invalid configuration")?;
    Phone::set_default_country(&config.bot.default_country).map_err(anyhow::Error::msg)?;
    match cli.command {
        Command::Serve => serve(config, cli.log_format).await,
        Command::Prompts { action: PromptsAction::Check } => {
            let dir = &config.sales.prompts_dir;
            let prompts = juru::sales::Prompts::load(dir)
                .with_context(|| format!("prompt folder {} is invalid", dir.display()))?;
            println!("prompts: {} (version {})", dir.display(), prompts.version);
            println!("company: {}", prompts.company.name);
            let today = juru::sales::catalog::today();
            for p in &prompts.catalog.packages {
                let seats = match p.standing(today) {
                    juru::sales::catalog::Standing::Departed => "departed".to_string(),
                    juru::sales::catalog::Standing::Full => "full".to_string(),
                    juru::sales::catalog::Standing::Open => format!("{} seats", p.quota),
                };
                println!("  {} — {} — {} — departs {} — {seats}", p.code, p.name, p.price, p.departure);
            }
            for line in prompts.report(today) {
                println!("{line}");
            }
            Ok(())
        }
        Command::Sync { platform, full } => {
            telemetry::init_logs(cli.log_format, "warn");
            let result = sync(config, platform.as_deref(), full).await;
            if let Err(e) = &result {
                tracing::error!(error = %format!("{e:#}"), "juru sync failed");
            }
            result
        }
        Command::Labels { action: LabelsAction::Resync } => {
            let store =
                juru::store::Store::open_with_cache(&config.storage.path, config.storage.cache_mb * 1024 * 1024)?;
            let gateways = juru::channel::Gateways::from_config(&config)?;
            let bot = juru::router::BotSettings::from_config(&config);
            let runtime = juru::runtime::Runtime::start(config, bot, store, gateways)?;
            let report = runtime.resync_labels().await;
            runtime.idle(juru::channel::Channel::Waha).await;
            runtime.shutdown(std::time::Duration::from_secs(5)).await;
            let report = report.context("label resync failed")?;
            println!(
                "labels: {} in WAHA · {} added · {} removed · {} labels deleted",
                report.labels, report.added, report.removed, report.deleted_labels
            );
            Ok(())
        }
        Command::Export { what, out } => {
            let what = juru::export::Export::parse(&what)?;
            let store =
                juru::store::Store::open_with_cache(&config.storage.path, config.storage.cache_mb * 1024 * 1024)?;
            let rows = match &out {
                Some(path) => {
                    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
                    what.write(&store, file)?
                }
                None => match what.write(&store, std::io::stdout().lock()) {
                    // `juru export … | head`: the reader has what it wanted.
                    Err(juru::export::ExportError::Closed) => 0,
                    other => other?,
                },
            };
            store.close();
            if let Some(path) = out {
                eprintln!("{rows} rows written to {}", path.display());
            }
            Ok(())
        }
        Command::Commands { action: PromptsAction::Check } => {
            let dir = &config.bot.commands_dir;
            let set = juru::commands::Manifests::load_dir(dir, juru::commands::HANDLER_NAMES)
                .and_then(juru::commands::Manifests::check)
                .with_context(|| format!("command manifests in {} are invalid", dir.display()))?;
            println!("commands: {}", dir.display());
            for m in set.all() {
                let subs: Vec<&str> = m.subcommands.iter().map(|s| s.name.as_str()).collect();
                println!(
                    "  {} — {}{}",
                    m.name,
                    m.describe(config.bot.language),
                    if subs.is_empty() { String::new() } else { format!(" [{}]", subs.join(", ")) }
                );
            }
            Ok(())
        }
        Command::Chat { from, name, json, owner } => {
            telemetry::init_logs(cli.log_format, "warn");
            let from = Phone::typed(&from).with_context(|| {
                format!("--from `{from}` is not a phone number (e.g. 081234567890 or +62 812-3456-7890)")
            })?;
            let options = juru::chat::ChatOptions { from, name, json, owner };
            let input = tokio::io::BufReader::new(tokio::io::stdin());
            juru::chat::run(config, options, input, Box::new(std::io::stdout())).await?;
            Ok(())
        }
    }
}

async fn serve(config: Config, log_format: LogFormat) -> anyhow::Result<()> {
    telemetry::init_logs(log_format, "info,tower_http=warn");
    // A store that cannot write is restarted by the supervisor, not left at 503.
    juru::store::exit_on_io_error(true);
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    // Open the store first: announce the address only once it will be served.
    let started = juru::server::start(config.clone())?;
    println!("juru listening on http://{}", listener.local_addr()?);
    println!("storage: {}", config.storage.path.display());
    for line in config.channel_summary() {
        println!("  {line}");
    }
    if config.bot.admin_chats.is_empty() {
        println!("  handover alerts: nobody ([bot] admin_chats is empty): watch the dashboard");
    }
    println!("brain: {}", if config.llm.api_key.is_some() { "LLM" } else { "offline (no [llm] api_key)" });
    started.serve(listener, shutdown_signal()).await?;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received");
}

/// `juru sync`: starts the connectors with a credential, queues everything
/// when `full`, drains with a progress bar and prints a summary per platform.
async fn sync(config: Config, platform: Option<&str>, full: bool) -> anyhow::Result<()> {
    use juru::connectors::supervisor::Connectors;
    use juru::crm::settings::Platform;
    use std::sync::Arc;
    use std::time::Duration;

    let only = match platform {
        Some(text) => {
            Some(Platform::parse(text).with_context(|| format!("`{text}` is not one of {}", Platform::names()))?)
        }
        None => None,
    };
    let store = juru::store::Store::open_with_cache(&config.storage.path, config.storage.cache_mb * 1024 * 1024)?;
    let crm = Arc::new(juru::crm::Crm::open(
        &store,
        config.crm.secret_key.as_ref().map(|k| k.expose()),
        &config.storage.path,
    )?);
    let connectors = Connectors::only(Arc::new(config), crm.clone(), only);
    connectors.reconcile().await;
    let platforms = crm.sync_targets();
    anyhow::ensure!(
        !platforms.is_empty(),
        "no credential for {}: #crm auth in WhatsApp, or [crm.<platform>] in config.toml",
        only.map_or("any platform", |p| p.title())
    );
    let handles: Vec<_> = platforms.iter().filter_map(|p| connectors.handle(*p)).collect();
    let sent_total = || platforms.iter().map(|p| juru::crm::sync::report(crm.store(), *p).sent).sum::<u64>();
    let sent_before = sent_total();
    for p in &platforms {
        if full {
            let n = juru::connectors::worker::enqueue_all(&crm, *p).await?;
            eprintln!("{}: {n} records queued", p.title());
        }
    }
    for handle in &handles {
        handle.sync_now();
    }
    let queued = || platforms.iter().map(|p| juru::crm::sync::report(crm.store(), *p).queued).sum::<u64>();
    let total = queued();
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    // Done when every worker found nothing due twice in a row (what is left
    // waits for a retry after a failure).
    let mut quiet = 0;
    while quiet < 2 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let left = queued();
        bar.set_length(total.max(left));
        bar.set_position(total.saturating_sub(left));
        let sent: u64 = platforms.iter().map(|p| juru::crm::sync::report(crm.store(), *p).sent).sum();
        bar.set_message(format!("sent {sent}"));
        quiet = if handles.iter().all(|h| h.is_idle()) { quiet + 1 } else { 0 };
    }
    bar.finish_and_clear();
    connectors.stop();
    let mut errors = Vec::new();
    for p in &platforms {
        let r = juru::crm::sync::report(crm.store(), *p);
        println!("{}: sent {} · failed {} · dead {} · still queued {}", p.title(), r.sent, r.failed, r.dead, r.queued);
        if let Some(error) = r.last_error {
            eprintln!("{}: last error: {error}", p.title());
            errors.push(format!("{}: {error}", p.title()));
        }
    }
    let nothing_sent = sent_total() == sent_before && queued() > 0;
    drop(crm);
    store.close();
    if errors.is_empty() {
        errors.push("no error was recorded".into());
    }
    anyhow::ensure!(!nothing_sent, "nothing could be sent ({})", errors.join("; "));
    Ok(())
}
