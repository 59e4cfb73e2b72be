//! The scripted conversations of `tests/fixtures/conversations/`, each turn
//! through the real pipeline (`juru chat --json`'s code path: dedupe, lane,
//! router, sales, outbox) with the offline brain. Reports the share of turns
//! whose every expectation holds.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use juru::channel::Phone;
use juru::chat::{ChatOptions, run};
use juru::config::Config;
use serde_json::Value;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/conversations")
}

/// The shipped prompt folder with the fixtures' catalog.
fn prompts_dir(root: &Path) -> std::path::PathBuf {
    let dir = root.join("prompts");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    std::fs::create_dir_all(dir.join("phases")).unwrap();
    for file in juru::sales::prompts::FILES.iter().filter(|f| **f != "packages.toml") {
        std::fs::copy(shipped.join(file), dir.join(file)).unwrap();
    }
    std::fs::copy(fixtures().join("packages.toml"), dir.join("packages.toml")).unwrap();
    dir
}

async fn say(config: &Config, from: &str, text: &str) -> Vec<Value> {
    let out = Captured::default();
    let options = ChatOptions { from: Phone::parse(from).unwrap(), name: None, json: true, owner: false };
    run(config.clone(), options, format!("{text}\n").as_bytes(), Box::new(out.clone())).await.unwrap();
    let bytes = out.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Checks one turn's expectations; returns the ones that failed.
fn check(expect: &Value, lines: &[Value], last: &mut (String, bool)) -> Vec<String> {
    let mine: Vec<&Value> = lines.iter().filter(|l| l["kind"] != "seen" && l["kind"] != "typing").collect();
    if let Some(l) = mine.last() {
        *last = (l["phase"].as_str().unwrap_or_default().to_string(), l["handover"].as_bool().unwrap_or(false));
    }
    let text: String = mine
        .iter()
        .filter(|l| l["kind"] == "text")
        .filter_map(|l| l["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase();
    let media: Vec<&str> =
        mine.iter().filter_map(|l| l["kind"].as_str()).filter(|k| ["image", "document", "video"].contains(k)).collect();
    let mut failed = Vec::new();
    let mut require = |ok: bool, what: String| {
        if !ok {
            failed.push(what);
        }
    };
    if let Some(phase) = expect["phase"].as_str() {
        require(last.0 == phase, format!("phase {phase} (got {})", last.0));
    }
    if let Some(h) = expect["handover"].as_bool() {
        require(last.1 == h, format!("handover {h}"));
    }
    if let Some(kinds) = expect["media"].as_array() {
        for k in kinds.iter().filter_map(Value::as_str) {
            require(media.contains(&k), format!("media {k} (got {media:?})"));
        }
    }
    if expect["no_media"] == true {
        require(media.is_empty(), format!("no media (got {media:?})"));
    }
    if let Some(any) = expect["contains_any"].as_array() {
        require(
            any.iter().filter_map(Value::as_str).any(|s| text.contains(&s.to_lowercase())),
            format!("contains any of {any:?}"),
        );
    }
    if let Some(none) = expect["contains_none"].as_array() {
        require(
            !none.iter().filter_map(Value::as_str).any(|s| text.contains(&s.to_lowercase())),
            format!("contains none of {none:?}"),
        );
    }
    if let Some(lang) = expect["lang"].as_str() {
        let got = mine.iter().find(|l| l["kind"] == "text").and_then(|l| l["lang"].as_str()).unwrap_or("-");
        require(got == lang, format!("lang {lang} (got {got})"));
    }
    if expect["silent"] == true {
        require(lines.is_empty(), format!("silent (got {} items)", lines.len()));
    }
    failed
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scripted_conversations_pass_with_the_offline_brain() {
    let script = std::fs::read_to_string(fixtures().join("sample.jsonl")).unwrap();
    let (mut turns, mut passed, mut report) = (0, 0, Vec::new());
    for line in script.lines().filter(|l| !l.trim().is_empty()) {
        let convo: Value = serde_json::from_str(line).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let toml = format!(
            "[storage]\npath = \"{}\"\n[sales]\ncoalesce_ms = 50\nprompts_dir = \"{}\"\n",
            dir.path().join("db").display(),
            prompts_dir(dir.path()).display()
        );
        let config = Config::from_toml(&toml, Path::new("test.toml"), std::iter::empty()).unwrap();
        let from = convo["from"].as_str().unwrap();
        let mut last = ("leads".to_string(), false);
        for turn in convo["turns"].as_array().unwrap() {
            let lines = say(&config, from, turn["in"].as_str().unwrap()).await;
            let failed = check(&turn["expect"], &lines, &mut last);
            turns += 1;
            if failed.is_empty() {
                passed += 1;
            } else {
                report.push(format!("{} / {:?}: {}", convo["name"], turn["in"], failed.join("; ")));
            }
        }
    }
    println!("scripted conversations: {passed}/{turns} turns pass");
    assert!(report.is_empty(), "{passed}/{turns} turns pass; failing:\n{}", report.join("\n"));
}
