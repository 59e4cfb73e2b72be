//! The `juru` command line, through the real binary: `juru chat` as a user
//! types into it, and what `juru serve` says when its configuration is wrong
//! or right. Every child runs in a temporary directory (so no `config.toml`
//! is picked up by accident), with `JURU_*` variables from the outer
//! environment removed, and is killed when its test ends.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

const BUDI: &str = "6281234567890";
const LIMIT: Duration = Duration::from_secs(30);

/// `juru <args>` in `dir` with only the given `JURU_*` variables.
fn juru(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_juru"));
    cmd.args(args).current_dir(dir).kill_on_drop(true);
    for (key, _) in std::env::vars() {
        if key.starts_with("JURU_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs to completion with `input` on stdin; panics after `LIMIT`.
async fn run(mut cmd: Command, input: &str) -> Output {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawning juru");
    let mut stdin = child.stdin.take().unwrap();
    // A process that refuses its arguments may exit before reading: a broken pipe is fine.
    let _ = stdin.write_all(input.as_bytes()).await;
    drop(stdin);
    tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("juru did not exit within {LIMIT:?}"))
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `juru chat --from 6281234567890 --name Budi [extra]` on a fresh data dir,
/// used as a person does: type the lines, wait for `replies` replies, then
/// end the input (Ctrl-D). Returns the exit status, stdout lines and stderr.
async fn chat_interactively(
    extra: &[&str],
    input: &[&str],
    is_reply: fn(&str) -> bool,
    replies: usize,
) -> (std::process::ExitStatus, Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut args = vec!["chat", "--from", BUDI, "--name", "Budi"];
    args.extend_from_slice(extra);
    let mut cmd = juru(dir.path(), &args, &[("JURU_STORAGE__PATH", db.to_str().unwrap())]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawning juru chat");
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stderr_text = tokio::spawn(async move {
        let mut text = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr_pipe, &mut text).await;
        text
    });
    let mut stdin = child.stdin.take().unwrap();
    for line in input {
        stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
    }
    stdin.flush().await.unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let waited = tokio::time::timeout(LIMIT, async {
        while printed.iter().filter(|l: &&String| is_reply(l)).count() < replies {
            match lines.next_line().await.unwrap() {
                Some(line) => printed.push(line),
                None => return,
            }
        }
    })
    .await;
    drop(stdin); // end of input
    let rest = tokio::time::timeout(LIMIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            printed.push(line);
        }
        child.wait().await.unwrap()
    })
    .await;
    let status = rest.unwrap_or_else(|_| panic!("juru chat did not exit within {LIMIT:?} of the end of input"));
    let err = stderr_text.await.unwrap();
    assert!(waited.is_ok(), "no {replies} replies within {LIMIT:?}: {printed:?}\n{err}");
    (status, printed, err)
}

fn is_json_text(line: &str) -> bool {
    line.contains(r#""kind":"text""#)
}

fn is_bot_line(line: &str) -> bool {
    line.starts_with("bot: ")
}

/// A `juru serve` that has printed where it listens; killed on drop.
struct Serving {
    _child: Child,
    banner: Vec<String>,
}

impl Serving {
    /// Starts `juru serve` and collects its banner up to the `brain:` line.
    async fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Serving {
        let mut full_args = vec!["serve"];
        full_args.extend_from_slice(args);
        let mut cmd = juru(dir, &full_args, env);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = cmd.spawn().expect("spawning juru serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let banner = tokio::time::timeout(LIMIT, async {
            let mut banner = Vec::new();
            while let Some(line) = lines.next_line().await.unwrap() {
                let last = line.starts_with("brain:");
                banner.push(line);
                if last {
                    return banner;
                }
            }
            panic!("juru serve ended before its banner was complete: {banner:?}");
        })
        .await
        .expect("juru serve printed no banner in time");
        Serving { _child: child, banner }
    }

    async fn wait_healthy(&self) {
        let url = format!("{}/healthz", self.url());
        let ok = tokio::time::timeout(LIMIT, async {
            loop {
                if let Ok(r) = reqwest::get(&url).await
                    && r.status() == 200
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(ok.is_ok(), "juru serve not healthy within {LIMIT:?}");
    }

    fn url(&self) -> String {
        let line = self.banner.iter().find_map(|l| l.strip_prefix("juru listening on ")).expect("a listening line");
        line.trim().to_string()
    }
}

// ---------------------------------------------------------------- juru chat

#[tokio::test]
async fn chat_json_prints_one_object_per_outgoing_item_and_answers_each_line() {
    let (status, lines, err) = chat_interactively(&["--json"], &["halo", "paket yang plus"], is_json_text, 2).await;
    assert!(status.success(), "exit {status:?}\nstderr: {err}");
    let mut kinds = Vec::new();
    for line in &lines {
        let item: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object per line: {line:?}: {e}"));
        let object = item.as_object().unwrap_or_else(|| panic!("not an object: {line}"));
        for key in ["to", "kind", "text", "url", "phase"] {
            assert!(object.contains_key(key), "no `{key}` in {line}");
        }
        assert_eq!(item["to"], BUDI, "{line}");
        let kind = item["kind"].as_str().unwrap_or_default().to_string();
        assert!(["text", "image", "document", "typing", "seen"].contains(&kind.as_str()), "kind {kind}");
        if kind == "text" {
            let reply = item["text"].as_str().unwrap_or_else(|| panic!("a text without text: {line}"));
            assert!(reply.contains("Budi"), "the reply greets the sender by name: {reply}");
            assert!(item["phase"].is_string(), "{line}");
        }
        kinds.push(kind);
    }
    assert_eq!(kinds.iter().filter(|k| *k == "text").count(), 2, "one reply per line typed: {lines:#?}");
}

#[tokio::test]
async fn chat_plain_prints_the_bots_replies_as_bot_lines() {
    let (status, lines, err) = chat_interactively(&[], &["halo", "paket yang plus"], is_bot_line, 2).await;
    assert!(status.success(), "exit {status:?}\nstderr: {err}");
    let replies: Vec<&String> = lines.iter().filter(|l| is_bot_line(l)).collect();
    assert_eq!(replies.len(), 2, "one `bot:` line per line typed: {lines:#?}");
    assert!(replies.iter().all(|r| r.contains("Budi")), "{replies:?}");
    assert!(lines.iter().all(|l| !l.starts_with('{')), "plain mode prints no JSON: {lines:#?}");
}

#[tokio::test]
async fn chat_with_piped_input_prints_every_reply_before_it_exits() {
    // `echo "halo" | juru chat --json`, as the README shows: end of input right after
    // the lines. Without a coalescing window each run takes ~0.1 s; the race this
    // guards against (exit before the last replies were printed) showed in 1 run of 10.
    for run_no in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let cmd = juru(
            dir.path(),
            &["chat", "--from", BUDI, "--name", "Budi", "--json"],
            &[("JURU_STORAGE__PATH", db.to_str().unwrap()), ("JURU_SALES__COALESCE_MS", "0")],
        );
        let out = run(cmd, "halo\npaket yang plus\n").await;
        assert!(out.status.success(), "run {run_no}: exit {:?}\nstderr: {}", out.status, stderr(&out));
        let texts = stdout(&out).lines().filter(|l| is_json_text(l)).count();
        assert_eq!(texts, 2, "run {run_no}: replies missing at exit:\n{}", stdout(&out));
    }
}

#[tokio::test]
async fn chat_refuses_a_sender_that_is_not_a_phone_number() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let out =
        run(juru(dir.path(), &["chat", "--from", "budi"], &[("JURU_STORAGE__PATH", db.to_str().unwrap())]), "halo\n")
            .await;
    assert!(!out.status.success(), "`--from budi` was accepted: {}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("budi") && err.contains("phone number"), "{err}");
    assert!(stdout(&out).trim().is_empty(), "nothing answered: {}", stdout(&out));
}

#[tokio::test]
async fn chat_while_serve_owns_the_data_dir_fails_naming_the_other_juru_process() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let db = db.to_str().unwrap();
    let serving =
        Serving::start(dir.path(), &[], &[("JURU_SERVER__LISTEN", "127.0.0.1:0"), ("JURU_STORAGE__PATH", db)]).await;
    // The banner comes before the store is opened: wait until serve really owns it.
    serving.wait_healthy().await;
    let out = run(juru(dir.path(), &["chat", "--from", BUDI], &[("JURU_STORAGE__PATH", db)]), "halo\n").await;
    assert!(!out.status.success(), "a second process opened the database: {}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("another juru process"), "{err}");
    assert!(err.contains(db), "the message names the data directory: {err}");
    // The server is unharmed.
    let health = reqwest::get(format!("{}/healthz", serving.url())).await.unwrap();
    assert_eq!(health.status(), 200);
}

/// A second `juru serve` on a data directory a running one owns.
async fn second_serve_on_an_owned_data_dir() -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let db = db.to_str().unwrap();
    let env = [("JURU_SERVER__LISTEN", "127.0.0.1:0"), ("JURU_STORAGE__PATH", db)];
    let first = Serving::start(dir.path(), &[], &env).await;
    first.wait_healthy().await;
    let out = run(juru(dir.path(), &["serve"], &env), "").await;
    first.wait_healthy().await; // the first one is unharmed
    (out, db.to_string())
}

#[tokio::test]
async fn a_second_serve_on_the_same_data_dir_fails_naming_the_other_juru_process() {
    let (out, db) = second_serve_on_an_owned_data_dir().await;
    assert!(!out.status.success(), "two servers own {db}: {}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("another juru process") && err.contains(&db), "{err}");
}

#[tokio::test]
async fn a_serve_that_cannot_open_its_data_dir_never_says_it_is_listening() {
    let (out, _) = second_serve_on_an_owned_data_dir().await;
    assert!(!out.status.success());
    assert!(!stdout(&out).contains("listening"), "it announced an address, then exited:\n{}", stdout(&out));
}

// ---------------------------------------------------------------- juru serve configuration

/// `juru serve` that must refuse to start; returns its stderr.
async fn serve_refuses(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut full_args = vec!["serve"];
    full_args.extend_from_slice(args);
    let db = dir.join("db");
    let mut env = env.to_vec();
    env.push(("JURU_STORAGE__PATH", db.to_str().unwrap()));
    let out = run(juru(dir, &full_args, &env), "").await;
    assert!(!out.status.success(), "juru serve started: {}", stdout(&out));
    assert!(!stdout(&out).contains("listening"), "it listened before refusing: {}", stdout(&out));
    stderr(&out)
}

#[tokio::test]
async fn an_unknown_config_key_stops_serve_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), "[waha]\nbase_ur = \"x\"\n").unwrap();
    let err = serve_refuses(dir.path(), &["--config", "bad.toml"], &[]).await;
    assert!(err.contains("waha") && err.contains("base_ur"), "{err}");
}

#[tokio::test]
async fn a_wrong_config_value_stops_serve_and_names_its_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), "[runtime]\nlanes = \"many\"\n").unwrap();
    let err = serve_refuses(dir.path(), &["--config", "bad.toml"], &[]).await;
    assert!(err.contains("runtime.lanes"), "{err}");
}

#[tokio::test]
async fn a_wrong_environment_override_stops_serve_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let err = serve_refuses(dir.path(), &[], &[("JURU_RUNTIME__LANES", "many")]).await;
    assert!(err.contains("runtime.lanes"), "{err}");
}

#[tokio::test]
async fn an_explicit_config_file_that_does_not_exist_stops_serve() {
    let dir = tempfile::tempdir().unwrap();
    let err = serve_refuses(dir.path(), &["--config", "missing.toml"], &[]).await;
    assert!(err.contains("missing.toml"), "{err}");
}

#[tokio::test]
async fn listening_beyond_loopback_without_an_admin_token_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let err = serve_refuses(dir.path(), &[], &[("JURU_SERVER__LISTEN", "0.0.0.0:0")]).await;
    assert!(err.contains("server.admin_token"), "{err}");
}

#[tokio::test]
async fn serve_says_where_it_listens_and_which_channels_are_active_without_showing_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let secrets = ["waha-key-7Q2", "graph-token-9XK", "app-secret-4MZ"];
    let serving = Serving::start(
        dir.path(),
        &[],
        &[
            ("JURU_SERVER__LISTEN", "127.0.0.1:0"),
            ("JURU_STORAGE__PATH", db.to_str().unwrap()),
            ("JURU_WAHA__BASE_URL", "http://127.0.0.1:9"),
            ("JURU_WAHA__API_KEY", secrets[0]),
            ("JURU_CLOUD__ACCESS_TOKEN", secrets[1]),
            ("JURU_CLOUD__APP_SECRET", secrets[2]),
            ("JURU_CLOUD__PHONE_NUMBER_ID", "109876543210987"),
        ],
    )
    .await;
    let banner = serving.banner.join("\n");
    let url = serving.url();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap_or_else(|_| panic!("no port in {url}"));
    assert!(url.starts_with("http://127.0.0.1:") && port != 0, "{banner}");
    assert!(banner.contains("waha: active") && banner.contains("http://127.0.0.1:9"), "{banner}");
    assert!(banner.contains("cloud: active") && banner.contains("109876543210987"), "{banner}");
    for secret in secrets {
        assert!(!banner.contains(secret), "the banner shows a secret:\n{banner}");
    }
    // The printed address is the real one.
    serving.wait_healthy().await;
}

#[tokio::test]
async fn serve_without_channel_keys_says_each_channel_is_not_configured() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let serving = Serving::start(
        dir.path(),
        &[],
        &[("JURU_SERVER__LISTEN", "127.0.0.1:0"), ("JURU_STORAGE__PATH", db.to_str().unwrap())],
    )
    .await;
    let banner = serving.banner.join("\n");
    assert!(banner.contains("waha: not configured"), "{banner}");
    assert!(banner.contains("cloud: not configured"), "{banner}");
    assert!(banner.contains(db.to_str().unwrap()), "the banner says where the data is: {banner}");
    assert!(banner.contains("admin_chats is empty"), "nobody would hear of a handover: {banner}");
}

#[tokio::test]
async fn help_describes_sync_as_the_crm_push_and_labels_as_whatsapp_labels() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(juru(dir.path(), &["--help"], &[]), "").await;
    assert!(out.status.success(), "{}", stderr(&out));
    let help = stdout(&out);
    let line = |cmd: &str| {
        help.lines()
            .find(|l| l.trim_start().starts_with(&format!("{cmd} ")))
            .unwrap_or_else(|| panic!("no `{cmd}` line in:\n{help}"))
            .to_string()
    };
    assert!(line("sync").contains("Push the CRM"), "{}", line("sync"));
    assert!(line("labels").contains("WhatsApp labels"), "{}", line("labels"));
}

#[tokio::test]
async fn export_to_a_closed_pipe_exits_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut cmd = juru(dir.path(), &["export", "contacts"], &[("JURU_STORAGE__PATH", db.to_str().unwrap())]);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawning juru export");
    // `| head` that has read what it wanted: the read end is gone before juru writes.
    drop(child.stdout.take());
    let out = tokio::time::timeout(LIMIT, child.wait_with_output()).await.unwrap().unwrap();
    assert!(out.status.success(), "exit {:?}: {}", out.status, stderr(&out));
    assert_eq!(stderr(&out), "", "nothing on stderr for a closed pipe");
}

#[tokio::test]
async fn chat_reads_the_sender_as_people_type_it_in_the_configured_country() {
    for (from, country, expected) in
        [("0812-3456-7890", "ID", BUDI), ("+62 812 3456 7890", "ID", BUDI), ("012-345 6789", "MY", "60123456789")]
    {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let cmd = juru(
            dir.path(),
            &["chat", "--from", from, "--json"],
            &[
                ("JURU_STORAGE__PATH", db.to_str().unwrap()),
                ("JURU_SALES__COALESCE_MS", "0"),
                ("JURU_BOT__DEFAULT_COUNTRY", country),
            ],
        );
        let out = run(cmd, "halo\n").await;
        assert!(out.status.success(), "{from}: exit {:?}\nstderr: {}", out.status, stderr(&out));
        let line = stdout(&out).lines().find(|l| is_json_text(l)).map(str::to_string).unwrap_or_default();
        let item: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{from}: no reply: {}", stdout(&out)));
        assert_eq!(item["to"], expected, "{from} in {country}");
    }
}

#[tokio::test]
async fn prompts_check_reports_each_file_and_warns_about_departed_packages() {
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("prompts");
    std::fs::create_dir_all(prompts.join("phases")).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in juru::sales::prompts::FILES {
        std::fs::copy(root.join("prompts").join(file), prompts.join(file)).unwrap();
    }
    std::fs::copy(root.join("tests/fixtures/prompts/packages.toml"), prompts.join("packages.toml")).unwrap();
    let env = [("JURU_SALES__PROMPTS_DIR", prompts.to_str().unwrap())];
    let out = run(juru(dir.path(), &["prompts", "check"], &env), "").await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for file in ["base.md", "escalation.md", "packages.toml", "playbook.toml: ", "escalation topics"] {
        assert!(text.contains(file), "no `{file}` in:\n{text}");
    }
    assert!(text.contains("warning: packages.toml: `UMR_MAR_2025_HEMAT` departed"), "{text}");
    assert!(
        text.contains(
            "UMR_MAR_2025_HEMAT — Paket Umroh Maret 2025 Hemat — Rp 25.000.000 — departs 2025-03-15 — departed"
        ),
        "{text}"
    );
    // A broken playbook: refused with its file and line.
    let playbook = std::fs::read_to_string(prompts.join("playbook.toml")).unwrap();
    std::fs::write(prompts.join("playbook.toml"), playbook.replace("intent = \"complaint\"", "intent = \"angry\""))
        .unwrap();
    let out = run(juru(dir.path(), &["prompts", "check"], &env), "").await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("playbook.toml line "), "{}", stderr(&out));
}
