//! The offline brain: rules over the prompt folder and catalog. It needs no
//! network, so the bot works out of the box and when the LLM is down.

use super::{Decision, Intent, Media, MediaKind, Turn};
use crate::sales::catalog::{Package, campaign_codes, without_codes};
use crate::sales::lang;
use crate::sales::state::Phase;
use crate::sales::texts;

const HUMAN: &[&str] = &[
    "admin",
    "customer service",
    "manusia",
    "orang asli",
    "bicara dengan",
    "bicara langsung",
    "ngobrol dengan",
    "telpon",
    "telepon",
    "hubungi saya",
    "human",
    "agent",
    "real person",
    "talk to",
    "call me",
    "operator",
    "petugas",
];
const COMPLAINT: &[&str] = &[
    "kecewa",
    "komplain",
    "keluhan",
    "refund",
    "pembatalan",
    "penipuan",
    "complain",
    "cancel",
    "scam",
    "disappointed",
];
const PAYMENT_WORDS: &[&str] = &[
    "bayar",
    "pembayaran",
    "dp",
    "transfer",
    "rekening",
    "daftar",
    "mendaftar",
    "booking",
    "cicil",
    "cicilan",
    "angsuran",
    "pay",
    "payment",
    "deposit",
    "register",
    "installment",
    "lunas",
    "pelunasan",
    "book",
];
const PAYMENT_PHRASES: &[&str] = &["uang muka", "pesan kursi", "sign up", "down payment", "no rek"];
const LOCATION: &[&str] = &["alamat", "kantor", "lokasi", "address", "office", "located"];
const PROOF: &[&str] = &[
    "testimoni",
    "testimonial",
    "review",
    "terpercaya",
    "amanah",
    "izin",
    "legal",
    "resmi",
    "proof",
    "legit",
    "trusted",
];
const OTHER_PACKAGES: &[&str] = &[
    "paket lain",
    "paket apa saja",
    "pilihan paket",
    "other package",
    "another package",
    "packages do you have",
    "list paket",
];
const DETAILS: &[&str] = &[
    "fasilitas",
    "itinerary",
    "jadwal",
    "hotel",
    "brosur",
    "brochure",
    "detail",
    "rincian",
    "termasuk",
    "include",
    "pesawat",
    "maskapai",
    "makan",
    "visa",
    "perlengkapan",
    "manasik",
    "facility",
    "facilities",
    "schedule",
    "flight",
    "airline",
    "meal",
    "program",
];
const GREETING: &[&str] = &[
    "halo",
    "hallo",
    "hai",
    "assalamualaikum",
    "assalamu",
    "selamat pagi",
    "selamat siang",
    "selamat sore",
    "selamat malam",
    "hi",
    "hello",
    "permisi",
    "tanya paket",
    "info paket",
    "mau tanya",
    "info umroh",
    "info umrah",
];
const MONTHS: [(&[&str], u32); 12] = [
    (&["januari", "january", "jan"], 1),
    (&["februari", "february", "feb"], 2),
    (&["maret", "march", "mar"], 3),
    (&["april", "apr"], 4),
    (&["mei"], 5),
    (&["juni", "june", "jun"], 6),
    (&["juli", "july", "jul"], 7),
    (&["agustus", "august", "agu"], 8),
    (&["september", "sep"], 9),
    (&["oktober", "october", "okt"], 10),
    (&["november", "nov"], 11),
    (&["desember", "december", "des"], 12),
];

struct Words {
    lower: String,
    words: Vec<String>,
}

impl Words {
    fn new(text: &str) -> Words {
        let lower = text.to_lowercase();
        let words = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string).collect();
        Words { lower, words }
    }

    /// Any phrase (multi-word: substring) or word (whole word or a word starting with it).
    fn any(&self, list: &[&str]) -> bool {
        list.iter().any(|item| {
            if item.contains(' ') {
                self.lower.contains(item)
            } else {
                self.words.iter().any(|w| w == item || (item.len() >= 5 && w.starts_with(item)))
            }
        })
    }

    fn month(&self) -> Option<u32> {
        MONTHS.iter().find(|(names, _)| self.words.iter().any(|w| names.contains(&w.as_str()))).map(|(_, m)| *m)
    }

    fn mentions_party(&self) -> bool {
        self.words.windows(2).any(|w| {
            w[0].chars().all(|c| c.is_ascii_digit())
                && ["orang", "people", "persons", "pax", "jamaah"].contains(&w[1].as_str())
        })
    }
}

pub fn decide(turn: &Turn<'_>) -> Decision {
    let words = Words::new(&without_codes(turn.text));
    let lang = lang::detect(turn.text).or(turn.state.lang).unwrap_or(turn.default_language);
    let catalog = &turn.prompts.catalog;
    let codes = campaign_codes(turn.text);
    let valid = codes.iter().find_map(|c| catalog.get(c));
    let unknown_codes: Vec<String> = codes.iter().filter(|c| valid.is_none_or(|p| &p.code != *c)).cloned().collect();
    let intent = classify(&words, valid.is_some(), turn.text);
    let package = valid.map(|p| p.code.clone()).or_else(|| turn.state.package.clone());
    let mut d = Decision {
        response_text: String::new(),
        media_to_send: Vec::new(),
        new_phase: turn.state.phase,
        confidence: 0.9,
        should_escalate: false,
        escalation_reason: None,
        intent,
        lang,
        package,
        send_location: false,
        unknown_codes,
        buttons: Vec::new(),
    };
    let available = catalog.available();
    let current = d.package.as_deref().and_then(|c| catalog.get(c));
    match intent {
        Intent::HumanRequest | Intent::Complaint | Intent::Complex => {
            d.should_escalate = true;
            d.escalation_reason = Some(
                match intent {
                    Intent::HumanRequest => "request for a human",
                    Intent::Complaint => "complaint",
                    _ => "complex question",
                }
                .into(),
            );
            if intent == Intent::Complex {
                d.confidence = 0.3;
            }
            d.response_text = texts::handover(lang);
        }
        Intent::Payment => {
            d.new_phase = Phase::Booking;
            d.should_escalate = true;
            d.escalation_reason = Some("payment intent".into());
            // In the leads phase the prospect has not seen the package yet: a soft redirect.
            let info = (turn.state.phase == Phase::Leads).then_some(current).flatten();
            d.response_text = texts::payment_redirect(lang, info);
        }
        Intent::CampaignCode => {
            let p = valid.expect("classified as a code only when one is valid");
            if p.is_full() {
                d.response_text = texts::package_full(lang, p, &available);
            } else {
                d.response_text = texts::package_info(lang, turn.name, p);
                d.buttons = texts::next_steps(lang);
                push(&mut d, MediaKind::Image, p.image_url.as_deref(), None);
            }
        }
        Intent::Details => {
            let p = current.filter(|p| !p.is_full()).or_else(|| available.first().copied());
            match p {
                Some(p) => {
                    d.new_phase = Phase::Interest;
                    d.package = Some(p.code.clone());
                    d.response_text = texts::details(lang, p, turn.prompts.company.payment_terms.as_deref());
                    d.buttons = texts::next_steps(lang);
                    push(&mut d, MediaKind::Document, p.brochure_url.as_deref(), Some("Brosur"));
                    push(&mut d, MediaKind::Document, p.itinerary_url.as_deref(), Some("Itinerary"));
                }
                None => d.response_text = texts::greeting(lang, turn.name, &available),
            }
        }
        Intent::TripPlan => {
            let month = words.month();
            let matching: Vec<&Package> =
                available.iter().copied().filter(|p| month.is_some_and(|m| p.month() == Some(m))).collect();
            d.response_text = texts::recommendation(lang, &matching, &available);
            if let [only] = matching.as_slice() {
                d.package = Some(only.code.clone());
            }
        }
        Intent::OfficeLocation => match &turn.prompts.company.address {
            Some(address) => {
                let company = &turn.prompts.company;
                d.response_text = texts::office(lang, &company.name, address, company.office_hours.as_deref());
                d.send_location = company.latitude.is_some() && company.longitude.is_some();
            }
            None => {
                d.confidence = 0.4;
                d.response_text = texts::handover(lang);
            }
        },
        Intent::Proof => {
            d.response_text = texts::proof(lang, &turn.prompts.company.name);
            let video = turn.prompts.company.testimonial_videos.first().cloned();
            push(&mut d, MediaKind::Video, video.as_deref(), None);
        }
        Intent::OtherPackages => d.response_text = texts::other_packages(lang, &available),
        Intent::Greeting => d.response_text = texts::greeting(lang, turn.name, &available),
        Intent::Smalltalk => {
            d.confidence = 0.7;
            d.response_text = if turn.state.inbound_count == 0 || !d.unknown_codes.is_empty() {
                texts::greeting(lang, turn.name, &available)
            } else {
                texts::smalltalk(lang)
            };
        }
    }
    d
}

fn classify(words: &Words, has_valid_code: bool, text: &str) -> Intent {
    if words.any(HUMAN) {
        Intent::HumanRequest
    } else if words.any(COMPLAINT) {
        Intent::Complaint
    } else if words.any(PAYMENT_WORDS) || words.any(PAYMENT_PHRASES) {
        Intent::Payment
    } else if has_valid_code {
        Intent::CampaignCode
    } else if words.any(LOCATION) {
        Intent::OfficeLocation
    } else if words.any(PROOF) {
        Intent::Proof
    } else if words.any(OTHER_PACKAGES) {
        Intent::OtherPackages
    } else if words.any(DETAILS) {
        Intent::Details
    } else if words.month().is_some() || words.mentions_party() {
        Intent::TripPlan
    } else if text.chars().count() > 280 || text.matches('?').count() >= 3 {
        Intent::Complex
    } else if words.any(GREETING) {
        Intent::Greeting
    } else {
        Intent::Smalltalk
    }
}

fn push(d: &mut Decision, kind: MediaKind, url: Option<&str>, caption: Option<&str>) {
    if let Some(url) = url {
        d.media_to_send.push(Media { kind, url: url.to_string(), caption: caption.map(str::to_string) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Language;
    use crate::sales::prompts::Prompts;
    use crate::sales::state::ChatState;

    fn decide_on(text: &str, state: &ChatState) -> Decision {
        let prompts = Prompts::embedded();
        decide(&Turn { text, name: None, state, prompts: &prompts, default_language: Language::Id })
    }

    #[test]
    fn intents_are_recognised() {
        let s = ChatState::default();
        assert_eq!(decide_on("How do I pay the deposit?", &s).intent, Intent::Payment);
        assert_eq!(decide_on("Minta itinerary lengkapnya dong", &s).intent, Intent::Details);
    }
}
