//! `prompts/playbook.toml`: what the offline brain recognises and says —
//! slang, escalation topics, intent words, phase rules, FAQ answers, texts
//! per language and A/B variants. The shipped file is the default; an edit
//! applies on the next message.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;

use crate::config::Language;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlaybookError {
    /// The TOML parser's message names the line and column.
    #[error("playbook.toml: {0}")]
    Toml(String),
    #[error("playbook.toml line {line}: {message}")]
    Invalid { line: usize, message: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    slang: BTreeMap<String, String>,
    #[serde(default)]
    escalate: Vec<RawEscalation>,
    #[serde(default)]
    rules: Rules,
    #[serde(default)]
    phases: PhaseRules,
    #[serde(default)]
    intents: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    faq: Vec<Faq>,
    #[serde(default)]
    texts: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    variant: Vec<RawVariant>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEscalation {
    topic: String,
    intent: String,
    reason: String,
    #[serde(default)]
    words: Vec<String>,
    #[serde(default)]
    patterns: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariant {
    name: String,
    #[serde(default)]
    id: BTreeMap<String, String>,
    #[serde(default)]
    en: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    pub large_group: u32,
    pub welcome_back_hours: u64,
    pub question_words: Vec<String>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules { large_group: 20, welcome_back_hours: 6, question_words: Vec::new() }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhaseRules {
    pub interest: Vec<String>,
    pub booking: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faq {
    pub topic: String,
    pub words: Vec<String>,
    pub id: String,
    pub en: String,
}

/// One escalation topic, its words and compiled patterns.
#[derive(Debug, Clone)]
pub struct Escalation {
    pub topic: String,
    /// `human_request`, `complaint` or `complex`.
    pub intent: String,
    pub reason: String,
    pub words: Vec<String>,
    pub patterns: Vec<Regex>,
}

#[derive(Debug, Clone)]
pub struct Variant {
    pub name: String,
    texts: [BTreeMap<String, String>; 2],
}

/// The intents whose words the file must list.
pub const INTENTS: [&str; 18] = [
    "payment",
    "location",
    "proof",
    "other_packages",
    "details",
    "greeting",
    "cheapest",
    "most_expensive",
    "cheaper",
    "budget",
    "duration",
    "included",
    "excluded",
    "hotel",
    "compare",
    "price",
    "thanks",
    "faq",
];

/// The texts each language must have.
pub const TEXTS: [&str; 7] =
    ["greeting", "greeted_again", "welcome_back", "welcome_back_no_package", "smalltalk", "handover", "unknown"];

#[derive(Debug, Clone)]
pub struct Playbook {
    pub slang: BTreeMap<String, String>,
    pub escalate: Vec<Escalation>,
    pub rules: Rules,
    pub phases: PhaseRules,
    intents: BTreeMap<String, Vec<String>>,
    pub faq: Vec<Faq>,
    texts: [BTreeMap<String, String>; 2],
    pub variants: Vec<Variant>,
}

fn lang_index(lang: Language) -> usize {
    match lang {
        Language::Id => 0,
        Language::En => 1,
    }
}

/// The 1-based line where `needle` first appears (for error messages).
fn line_of(text: &str, needle: &str) -> usize {
    // A needle may start with the newline that anchors it to a line's start.
    let skip = usize::from(needle.starts_with('\n'));
    text.find(needle).map(|at| text[..at + skip].matches('\n').count() + 1).unwrap_or(1)
}

impl Playbook {
    pub fn parse(text: &str) -> Result<Playbook, PlaybookError> {
        let raw: Raw = toml::from_str(text).map_err(|e| PlaybookError::Toml(e.to_string()))?;
        let invalid = |needle: &str, message: String| PlaybookError::Invalid { line: line_of(text, needle), message };
        let mut escalate = Vec::with_capacity(raw.escalate.len());
        for e in raw.escalate {
            if !["human_request", "complaint", "complex"].contains(&e.intent.as_str()) {
                return Err(invalid(
                    &format!("topic = \"{}\"", e.topic),
                    format!("escalation `{}`: intent must be human_request, complaint or complex", e.topic),
                ));
            }
            if e.words.is_empty() && e.patterns.is_empty() {
                return Err(invalid(
                    &format!("topic = \"{}\"", e.topic),
                    format!("escalation `{}` has neither words nor patterns", e.topic),
                ));
            }
            let mut patterns = Vec::with_capacity(e.patterns.len());
            for p in &e.patterns {
                patterns.push(
                    Regex::new(p)
                        .map_err(|err| invalid(p, format!("escalation `{}`: pattern `{p}`: {err}", e.topic)))?,
                );
            }
            escalate.push(Escalation {
                topic: e.topic,
                intent: e.intent,
                reason: e.reason,
                words: lower(e.words),
                patterns,
            });
        }
        for name in raw.intents.keys() {
            if !INTENTS.contains(&name.as_str()) {
                return Err(invalid(
                    &format!("\n{name} ="),
                    format!("[intents] `{name}` is not an intent (known: {})", INTENTS.join(", ")),
                ));
            }
        }
        for rule in raw.phases.interest.iter().chain(&raw.phases.booking) {
            if !INTENTS.contains(&rule.as_str()) {
                return Err(invalid(&format!("\"{rule}\""), format!("[phases] `{rule}` is not an intent")));
            }
        }
        let mut texts: [BTreeMap<String, String>; 2] = Default::default();
        for (lang, table) in raw.texts {
            let i = match lang.as_str() {
                "id" => 0,
                "en" => 1,
                other => {
                    return Err(invalid(
                        &format!("[texts.{other}]"),
                        format!("[texts.{other}]: language must be id or en"),
                    ));
                }
            };
            texts[i] = table;
        }
        for (i, lang) in ["id", "en"].iter().enumerate() {
            for name in TEXTS {
                if !texts[i].contains_key(name) {
                    return Err(invalid(&format!("[texts.{lang}]"), format!("[texts.{lang}] lacks `{name}`")));
                }
            }
            for name in texts[i].keys() {
                if !TEXTS.contains(&name.as_str()) {
                    return Err(invalid(&format!("\n{name} ="), format!("[texts.{lang}] `{name}` is not a text")));
                }
            }
        }
        let mut variants = Vec::new();
        for v in raw.variant {
            if variants.iter().any(|w: &Variant| w.name == v.name) {
                return Err(invalid(&format!("name = \"{}\"", v.name), format!("variant `{}` appears twice", v.name)));
            }
            for name in v.id.keys().chain(v.en.keys()) {
                if !TEXTS.contains(&name.as_str()) {
                    return Err(invalid(
                        &format!("\n{name} ="),
                        format!("variant `{}`: `{name}` is not a text", v.name),
                    ));
                }
            }
            variants.push(Variant { name: v.name, texts: [v.id, v.en] });
        }
        let faq = raw.faq.into_iter().map(|f| Faq { words: lower(f.words), ..f }).collect();
        Ok(Playbook {
            slang: raw.slang.into_iter().map(|(k, v)| (k.to_lowercase(), v.to_lowercase())).collect(),
            escalate,
            rules: Rules { question_words: lower(raw.rules.question_words), ..raw.rules },
            phases: raw.phases,
            intents: raw.intents.into_iter().map(|(k, v)| (k, lower(v))).collect(),
            faq,
            texts,
            variants,
        })
    }

    /// The words of an intent (empty when the file lists none).
    pub fn words(&self, intent: &str) -> &[String] {
        self.intents.get(intent).map_or(&[], Vec::as_slice)
    }

    /// A text in a language, the variant's own when it has one.
    pub fn text(&self, lang: Language, name: &str, variant: Option<&str>) -> &str {
        let i = lang_index(lang);
        variant
            .and_then(|v| self.variants.iter().find(|w| w.name == v))
            .and_then(|v| v.texts[i].get(name))
            .or_else(|| self.texts[i].get(name))
            .map_or("", String::as_str)
    }

    /// The variant of a new conversation: stable per chat.
    pub fn assign_variant(&self, chat_key: &str) -> Option<String> {
        if self.variants.is_empty() {
            return None;
        }
        let hash =
            chat_key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
        Some(self.variants[(hash % self.variants.len() as u64) as usize].name.clone())
    }

    /// The phase an intent moves to, by `[phases]`.
    pub fn phase_of(&self, intent: &str) -> Option<super::Phase> {
        if self.phases.booking.iter().any(|i| i == intent) {
            Some(super::Phase::Booking)
        } else if self.phases.interest.iter().any(|i| i == intent) {
            Some(super::Phase::Interest)
        } else {
            None
        }
    }

    /// What `juru prompts check` prints about this file.
    pub fn summary(&self) -> String {
        format!(
            "playbook.toml: {} slang words, {} escalation topics ({}), {} intents, {} FAQ answers, texts id/en, {} A/B variants ({})",
            self.slang.len(),
            self.escalate.len(),
            self.escalate.iter().map(|e| e.topic.as_str()).collect::<Vec<_>>().join(", "),
            self.intents.len(),
            self.faq.len(),
            self.variants.len(),
            self.variants.iter().map(|v| v.name.as_str()).collect::<Vec<_>>().join(", "),
        )
    }
}

/// Fills `{name}` placeholders.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

fn lower(words: Vec<String>) -> Vec<String> {
    words.into_iter().map(|w| w.to_lowercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../prompts/playbook.toml");

    #[test]
    fn the_shipped_playbook_loads() {
        let p = Playbook::parse(SHIPPED).unwrap();
        assert!(p.escalate.iter().any(|e| e.topic == "human"));
        assert!(!p.text(Language::En, "greeting", None).is_empty());
        assert_ne!(p.text(Language::Id, "greeting", Some("B")), p.text(Language::Id, "greeting", Some("A")));
    }

    #[test]
    fn errors_name_the_line() {
        let bad = SHIPPED.replace(
            "intent = \"complex\"\nreason = \"kebutuhan khusus",
            "intent = \"nope\"\nreason = \"kebutuhan khusus",
        );
        let err = Playbook::parse(&bad).unwrap_err().to_string();
        assert!(err.contains("line ") && err.contains("wheelchair"), "{err}");
        let line: usize = err.split("line ").nth(1).unwrap().split(':').next().unwrap().parse().unwrap();
        assert!(SHIPPED.lines().nth(line - 1).unwrap().contains("wheelchair"), "{err}");
        let err = Playbook::parse("[slang\n").unwrap_err().to_string();
        assert!(err.contains("line 1"), "the parser's own position: {err}");
    }
}
