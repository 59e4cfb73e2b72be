//! The LLM brain: an OpenAI-compatible chat completion with a JSON-schema
//! structured output for the Decision. Its answer is validated; on timeout,
//! error or invalid output the caller falls back to the offline brain.

use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestUserMessage, CreateChatCompletionRequestArgs, ResponseFormat, ResponseFormatJsonSchema,
};
use serde::Deserialize;
use serde_json::json;

use super::{Decision, Intent, Media, MediaKind, Turn};
use crate::config::{Language, LlmConfig};
use crate::sales::catalog::{self, Standing, campaign_codes};
use crate::sales::prompts::Prompts;
use crate::sales::state::Phase;
use crate::sales::texts::package_line;

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("LLM timed out after {0:?}")]
    Timeout(Duration),
    #[error("LLM request failed: {0}")]
    Api(String),
    #[error("LLM answer is not a valid decision: {0}")]
    Invalid(String),
}

/// One earlier line of the conversation, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryLine {
    pub from_prospect: bool,
    pub text: String,
}

pub struct LlmBrain {
    client: async_openai::Client<OpenAIConfig>,
    model: String,
    timeout: Duration,
}

impl LlmBrain {
    /// `None` when no `[llm] api_key` is set: the offline brain answers alone.
    pub fn from_config(config: &LlmConfig) -> Option<LlmBrain> {
        let key = config.api_key.as_ref()?;
        let base = config
            .base_url
            .as_ref()
            .map(|u| u.as_str().to_string())
            .unwrap_or_else(|| "https://api.openai.com/v1".into());
        // Set both explicitly: OpenAIConfig::new() would read OPENAI_* from the environment.
        let openai = OpenAIConfig::new().with_api_base(base).with_api_key(key.expose().trim());
        let timeout = Duration::from_millis(config.timeout_ms);
        // Our own deadline (below) covers retries and reads as a timeout; the
        // client's is a backstop.
        let http = reqwest::Client::builder().timeout(timeout + Duration::from_secs(1)).build().ok()?;
        Some(LlmBrain {
            client: async_openai::Client::with_config(openai).with_http_client(http),
            model: config.model.clone(),
            timeout,
        })
    }

    pub async fn decide(&self, turn: &Turn<'_>, history: &[HistoryLine]) -> Result<Decision, LlmError> {
        let mut messages: Vec<ChatCompletionRequestMessage> = vec![
            ChatCompletionRequestSystemMessage::from(system_prompt(turn.prompts, turn.state.phase).as_str()).into(),
        ];
        for line in history {
            messages.push(if line.from_prospect {
                ChatCompletionRequestUserMessage::from(line.text.as_str()).into()
            } else {
                ChatCompletionRequestAssistantMessage::from(line.text.as_str()).into()
            });
        }
        messages.push(ChatCompletionRequestUserMessage::from(turn.text).into());
        let request = CreateChatCompletionRequestArgs::default()
            .model(&self.model)
            .messages(messages)
            .response_format(ResponseFormat::JsonSchema {
                json_schema: ResponseFormatJsonSchema {
                    name: "sales_decision".into(),
                    description: Some("The next reply of the WhatsApp sales bot".into()),
                    schema: decision_schema(),
                    strict: Some(true),
                },
            })
            .build()
            .map_err(|e| LlmError::Api(e.to_string()))?;
        let response = tokio::time::timeout(self.timeout, self.client.chat().create(request))
            .await
            .map_err(|_| LlmError::Timeout(self.timeout))?
            .map_err(|e| LlmError::Api(e.to_string()))?;
        let content = response
            .choices
            .first()
            .and_then(|c| c.message.content.clone())
            .ok_or_else(|| LlmError::Invalid("no message content".into()))?;
        parse_decision(&content, turn)
    }
}

/// base + company + packages + rules + escalation + the current phase's prompt.
/// The catalog is the live one: only open packages are offered; departed and
/// full ones are named as such, without a price to quote.
pub fn system_prompt(prompts: &Prompts, phase: Phase) -> String {
    let today = catalog::today();
    let closed: Vec<String> = prompts
        .catalog
        .packages
        .iter()
        .filter_map(|p| match p.standing(today) {
            Standing::Departed => Some(format!("{} ({}): SUDAH BERANGKAT — jangan ditawarkan", p.code, p.name)),
            Standing::Full => Some(format!("{} ({}): PENUH — jangan ditawarkan", p.code, p.name)),
            Standing::Open => None,
        })
        .collect();
    let packages: Vec<String> = prompts
        .catalog
        .available_on(today)
        .into_iter()
        .map(|p| {
            let media = [("image", &p.image_url), ("brochure", &p.brochure_url), ("itinerary", &p.itinerary_url)]
                .iter()
                .filter_map(|(k, u)| u.as_ref().map(|u| format!("{k}: {u}")))
                .collect::<Vec<_>>()
                .join(", ");
            let seats = format!("sisa kursi {}", p.quota);
            let mut facts = format!("fasilitas: {}", p.features.join("; "));
            if !p.included.is_empty() {
                facts.push_str(&format!(" | termasuk: {}", p.included.join("; ")));
            }
            if !p.excluded.is_empty() {
                facts.push_str(&format!(" | tidak termasuk: {}", p.excluded.join("; ")));
            }
            format!("{} | berangkat {} | {seats} | {facts} | {media}", package_line(Language::Id, p), p.departure)
        })
        .collect();
    let c = &prompts.company;
    let mut company = format!("Nama: {}\n", c.name);
    if let Some(a) = &c.address {
        company.push_str(&format!("Alamat kantor: {a}\n"));
    }
    if let Some(h) = &c.office_hours {
        company.push_str(&format!("Jam kantor: {h}\n"));
    }
    if let Some(t) = &c.payment_terms {
        company.push_str(&format!("Ketentuan pembayaran: {t}\n"));
    }
    for v in &c.testimonial_videos {
        company.push_str(&format!("Video testimoni: {v}\n"));
    }
    let closed = if closed.is_empty() {
        String::new()
    } else {
        format!("\n\n# Paket yang tidak boleh ditawarkan\n{}", closed.join("\n"))
    };
    format!(
        "{}\n\n# Profil perusahaan\n{company}\n{}\n\n# Katalog paket yang tersedia (satu-satunya sumber harga, tanggal dan tautan)\n{}{closed}\n\n# Aturan\n{}\n\n# Kapan menyerahkan ke admin\n{}\n\n# Fase saat ini: {}\n{}\n\nJawab HANYA dengan JSON sesuai skema. media_to_send hanya boleh berisi URL dari katalog atau video testimoni di atas.",
        prompts.base.trim(),
        prompts.company_text.trim(),
        packages.join("\n"),
        prompts.rules.trim(),
        prompts.escalation.trim(),
        phase.as_str(),
        prompts.phase_prompt(phase).trim(),
    )
}

/// An amount of rupiah in a reply: `Rp 25.000.000`, `Rp25jt`, `Rp 27,5 juta`.
static RUPIAH: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"(?i)\brp\.?\s*(\d{1,3}(?:[.,]\d{3})+|\d+(?:[.,]\d+)?)\s*(juta|jt)?").expect("static regex")
});

/// A price or date the model wrote must be in the live catalog (a package's
/// price, a total for up to 50 people, an amount of the company file) — as
/// links are checked. Otherwise the turn falls back to the offline brain.
fn check_facts(text: &str, prompts: &Prompts) -> Result<(), LlmError> {
    let today = catalog::today();
    let open = prompts.catalog.available_on(today);
    let company_amounts: Vec<u64> = RUPIAH
        .captures_iter(&format!("{} {}", prompts.company_text, prompts.company.payment_terms.as_deref().unwrap_or("")))
        .filter_map(|c| amount(&c))
        .collect();
    for c in RUPIAH.captures_iter(text) {
        let Some(value) = amount(&c) else { continue };
        let priced = open.iter().any(|p| (1..=50).any(|n| p.price.0 * n == value));
        if !priced && !company_amounts.contains(&value) {
            return Err(LlmError::Invalid(format!(
                "price `{}` is not in the catalog",
                c.get(0).map_or("", |m| m.as_str())
            )));
        }
    }
    // A departure, or the day the trip comes back (its last day or the day after).
    for (written, day) in catalog::dates_in(text) {
        let known = open.iter().filter_map(|p| p.departure_day().map(|d| (d, p.duration_days as i64))).any(
            |(departs, days)| day == departs || (days > 0 && (day == departs + days - 1 || day == departs + days)),
        );
        if !known {
            return Err(LlmError::Invalid(format!("date `{written}` is not a departure in the catalog")));
        }
    }
    Ok(())
}

fn amount(c: &regex::Captures<'_>) -> Option<u64> {
    let number = c.get(1)?.as_str();
    match c.get(2) {
        Some(_) => number.replace(',', ".").parse::<f64>().ok().map(|v| (v * 1_000_000.0).round() as u64),
        None if number.contains(['.', ',']) && number.rsplit(['.', ',']).next().is_some_and(|g| g.len() == 3) => {
            number.replace(['.', ','], "").parse().ok()
        }
        None => number.parse().ok(),
    }
}

fn decision_schema() -> serde_json::Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["response_text", "media_to_send", "new_phase", "confidence", "should_escalate", "escalation_reason", "intent", "lang", "package", "send_location"],
        "properties": {
            "response_text": {"type": "string"},
            "media_to_send": {"type": "array", "items": {"type": "object", "additionalProperties": false, "required": ["type", "url"],
                "properties": {"type": {"type": "string", "enum": ["image", "document", "video"]}, "url": {"type": "string"}}}},
            "new_phase": {"type": "string", "enum": ["leads", "interest", "booking"]},
            "confidence": {"type": "number"},
            "should_escalate": {"type": "boolean"},
            "escalation_reason": {"type": ["string", "null"]},
            "intent": {"type": "string", "enum": ["greeting", "campaign_code", "trip_plan", "details", "payment", "human_request", "complaint", "office_location", "proof", "other_packages", "complex", "smalltalk"]},
            "lang": {"type": "string", "enum": ["id", "en"]},
            "package": {"type": ["string", "null"]},
            "send_location": {"type": "boolean"}
        }
    })
}

#[derive(Deserialize)]
struct Answer {
    response_text: String,
    media_to_send: Vec<AnswerMedia>,
    new_phase: Phase,
    confidence: f64,
    should_escalate: bool,
    escalation_reason: Option<String>,
    intent: Intent,
    lang: Language,
    package: Option<String>,
    send_location: bool,
}

#[derive(Deserialize)]
struct AnswerMedia {
    #[serde(rename = "type")]
    kind: MediaKind,
    url: String,
}

/// Validates the model's JSON into a Decision (schema, ranges, known package).
pub fn parse_decision(content: &str, turn: &Turn<'_>) -> Result<Decision, LlmError> {
    let a: Answer = serde_json::from_str(content.trim()).map_err(|e| LlmError::Invalid(e.to_string()))?;
    if a.response_text.trim().is_empty() {
        return Err(LlmError::Invalid("empty response_text".into()));
    }
    if !(0.0..=1.0).contains(&a.confidence) {
        return Err(LlmError::Invalid(format!("confidence {} outside 0..1", a.confidence)));
    }
    check_facts(&a.response_text, turn.prompts)?;
    let today = catalog::today();
    // A departed or full package is never the one the conversation is about.
    let package =
        a.package.filter(|code| turn.prompts.catalog.get(code).is_some_and(|p| p.standing(today) == Standing::Open));
    let codes = campaign_codes(turn.text);
    let unknown_codes = codes.into_iter().filter(|c| turn.prompts.catalog.get(c).is_none()).collect();
    Ok(Decision {
        response_text: a.response_text,
        media_to_send: a.media_to_send.into_iter().map(|m| Media { kind: m.kind, url: m.url, caption: None }).collect(),
        new_phase: a.new_phase,
        confidence: a.confidence,
        should_escalate: a.should_escalate,
        escalation_reason: a.escalation_reason,
        intent: a.intent,
        lang: a.lang,
        package,
        send_location: a.send_location,
        unknown_codes,
        buttons: Vec::new(),
        note: None,
        party: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_the_model_writes_must_be_a_departure_or_return_of_an_open_package() {
        let prompts = Prompts::embedded();
        let p = prompts.catalog.available().first().copied().cloned().expect("the demo catalog has an open package");
        let (y, m, d) = crate::clock::civil_from_days(p.departure_day().unwrap());
        let written = format!("Berangkat {d} {} {y} kak", catalog::BULAN[m as usize - 1]);
        assert!(check_facts(&written, &prompts).is_ok(), "{written}");
        let back = p.departure_day().unwrap() + p.duration_days as i64 - 1;
        let (by, bm, bd) = crate::clock::civil_from_days(back);
        let english = format!("back on {} {bd}, {by}", catalog::MONTH[bm as usize - 1]);
        assert!(check_facts(&english, &prompts).is_ok(), "{english}");
        let (wy, wm, wd) = crate::clock::civil_from_days(p.departure_day().unwrap() + 3);
        let invented = format!("Berangkat {wd} {} {wy} kak", catalog::BULAN[wm as usize - 1]);
        let err = check_facts(&invented, &prompts).unwrap_err().to_string();
        assert!(err.contains("not a departure"), "{err}");
        assert!(check_facts("berangkat 1999-01-01", &prompts).is_err());
    }
}
