//! The offline brain: rules over the prompt folder — the catalog
//! (`packages.toml`) and the playbook (`playbook.toml`: slang, escalation
//! topics, intent words, phase rules, FAQ, texts). No word list lives here:
//! an edit to the playbook changes the next reply. It needs no network, so
//! the bot works out of the box and when the LLM is down.

use std::sync::LazyLock;

use regex::Regex;

use super::{Decision, Intent, Media, MediaKind, Turn};
use crate::config::Language;
use crate::sales::catalog::{self, Idr, Package, Standing, campaign_codes, without_codes};
use crate::sales::lang;
use crate::sales::playbook::{Playbook, fill};
use crate::sales::state::Phase;
use crate::sales::texts;

/// "kami berempat": a party size in words.
const PARTY_WORDS: [(&str, u32); 9] = [
    ("sendiri", 1),
    ("berdua", 2),
    ("bertiga", 3),
    ("berempat", 4),
    ("berlima", 5),
    ("berenam", 6),
    ("bertujuh", 7),
    ("berdelapan", 8),
    ("bersembilan", 9),
];
const PARTY_UNITS: [&str; 10] =
    ["orang", "people", "persons", "person", "pax", "jamaah", "jemaah", "adults", "peserta", "travellers"];

/// An amount of money: `30 juta`, `30jt`, `Rp 30.000.000`, `27,5 jt`, `30 million`.
static AMOUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:rp\.?\s*|idr\s*)?(\d{1,3}(?:\.\d{3}){2,}|\d+(?:[.,]\d+)?)\s*(juta|jt|million|mio)?")
        .expect("static regex")
});

/// A message lower-cased, slang expanded, as words and as ` w1 w2 ` for phrases.
struct Msg {
    padded: String,
    words: Vec<String>,
    raw: String,
}

impl Msg {
    fn new(text: &str, playbook: &Playbook) -> Msg {
        let raw = text.to_lowercase();
        let mut words = Vec::new();
        for w in raw.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            match playbook.slang.get(w) {
                Some(full) => words.extend(full.split_whitespace().map(str::to_string)),
                None => words.push(w.to_string()),
            }
        }
        let mut padded = String::with_capacity(raw.len() + 16);
        padded.push(' ');
        for w in &words {
            padded.push_str(w);
            padded.push(' ');
        }
        Msg { padded, words, raw }
    }

    /// Any phrase (an entry with a space) or word (whole, or a prefix for 5+ letters).
    fn has(&self, list: &[String]) -> bool {
        list.iter().any(|item| self.has_one(item))
    }

    fn has_one(&self, item: &str) -> bool {
        if item.contains(' ') {
            // " {item} " without building it: this runs for every phrase of
            // every list on every turn (3 % of the CPU at 3 000 msg/s).
            let bytes = self.padded.as_bytes();
            self.padded
                .match_indices(item)
                .any(|(at, _)| at > 0 && bytes[at - 1] == b' ' && bytes.get(at + item.len()) == Some(&b' '))
        } else {
            self.words.iter().any(|w| w == item || (item.len() >= 5 && w.starts_with(item)))
        }
    }

    /// The month asked about; "bulan depan" is next month.
    fn month(&self, today: i64) -> Option<u32> {
        if self.padded.contains(" bulan depan ") || self.padded.contains(" next month ") {
            let (_, m, _) = crate::clock::civil_from_days(today);
            return Some(m % 12 + 1);
        }
        catalog::MONTH_WORDS
            .iter()
            .position(|names| self.words.iter().any(|w| names.contains(&w.as_str())))
            .map(|i| i as u32 + 1)
    }

    fn party(&self) -> Option<u32> {
        let by_number = self.words.windows(2).find_map(|w| {
            let n: u32 = w[0].parse().ok()?;
            PARTY_UNITS.contains(&w[1].as_str()).then_some(n)
        });
        by_number.or_else(|| PARTY_WORDS.iter().find(|(w, _)| self.words.iter().any(|x| x == w)).map(|(_, n)| *n))
    }

    /// A sum of money of at least a million rupiah (a budget).
    fn amount(&self) -> Option<Idr> {
        AMOUNT.captures_iter(&self.raw).find_map(|c| {
            let number = c.get(1)?.as_str();
            let scaled = match c.get(2).map(|u| u.as_str().to_lowercase()) {
                Some(_) => number.replace(',', ".").parse::<f64>().ok()? * 1_000_000.0,
                None => number.replace(['.', ','], "").parse::<f64>().ok()?,
            };
            (1_000_000.0..1e12).contains(&scaled).then_some(Idr(scaled as u64))
        })
    }

    fn is_question(&self, playbook: &Playbook) -> bool {
        self.raw.contains('?') || self.words.first().is_some_and(|w| playbook.rules.question_words.contains(w))
    }
}

/// What the prospect asks, by the playbook's words (first match wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    Compare,
    Excluded,
    Included,
    Hotel,
    Duration,
    Cheapest,
    MostExpensive,
    Cheaper,
    Budget,
    Details,
    Faq(usize),
    Location,
    Proof,
    OtherPackages,
    Plan,
    Price,
    Greeting,
    Thanks,
    Nothing,
}

impl Ask {
    /// Its name in `[phases]`.
    fn name(self) -> &'static str {
        match self {
            Ask::Compare => "compare",
            Ask::Excluded => "excluded",
            Ask::Included => "included",
            Ask::Hotel => "hotel",
            Ask::Duration => "duration",
            Ask::Cheapest => "cheapest",
            Ask::MostExpensive => "most_expensive",
            Ask::Cheaper => "cheaper",
            Ask::Budget => "budget",
            Ask::Details => "details",
            Ask::Faq(_) => "faq",
            Ask::Location => "location",
            Ask::Proof => "proof",
            Ask::OtherPackages => "other_packages",
            Ask::Plan => "plan",
            Ask::Price => "price",
            Ask::Greeting => "greeting",
            Ask::Thanks => "thanks",
            Ask::Nothing => "nothing",
        }
    }
}

fn ask_of(msg: &Msg, pb: &Playbook, today: i64, named: (usize, usize)) -> Ask {
    let has = |intent: &str| msg.has(pb.words(intent));
    // Two packages to compare (named, or one named and the current one), or
    // "paket" with none named (all are compared); one named alone is its details.
    let (comparable, named) = named;
    if has("compare") && (comparable >= 2 || (named == 0 && (msg.has_one("paket") || msg.has_one("package")))) {
        Ask::Compare
    } else if has("excluded") {
        Ask::Excluded
    } else if has("included") {
        Ask::Included
    } else if has("duration") {
        Ask::Duration
    } else if has("hotel") {
        Ask::Hotel
    } else if has("cheapest") {
        Ask::Cheapest
    } else if has("most_expensive") {
        Ask::MostExpensive
    } else if has("cheaper") {
        Ask::Cheaper
    } else if msg.amount().is_some() {
        Ask::Budget
    } else if has("details") {
        Ask::Details
    } else if let Some(i) = pb.faq.iter().position(|f| msg.has(&f.words)) {
        Ask::Faq(i)
    } else if has("location") {
        Ask::Location
    } else if has("proof") {
        Ask::Proof
    } else if has("other_packages") {
        Ask::OtherPackages
    } else if msg.month(today).is_some() || msg.party().is_some() {
        Ask::Plan
    } else if has("price") {
        Ask::Price
    } else if has("greeting") {
        Ask::Greeting
    } else if has("thanks") {
        Ask::Thanks
    } else {
        Ask::Nothing
    }
}

/// Packages named by the last part of their code ("paket plus", "yang VIP").
fn named_by_type<'a>(msg: &Msg, packages: &'a [Package]) -> Vec<&'a Package> {
    packages
        .iter()
        .filter(|p| {
            let kind = p.code.rsplit('_').next().unwrap_or_default().to_lowercase();
            kind.len() >= 3 && kind.chars().all(|c| c.is_ascii_alphabetic()) && msg.words.contains(&kind)
        })
        .collect()
}

pub fn decide<'p>(turn: &Turn<'p>) -> Decision {
    let pb = &turn.prompts.playbook;
    let catalog = &turn.prompts.catalog;
    let today = catalog::today();
    let msg = Msg::new(&without_codes(turn.text), pb);
    let lang = lang::detect(turn.text).or(turn.state.lang).unwrap_or(turn.default_language);
    let codes = campaign_codes(turn.text);
    let mut named: Vec<&Package> = codes.iter().filter_map(|c| catalog.get(c)).collect();
    let unknown_codes: Vec<String> = codes.iter().filter(|c| catalog.get(c).is_none()).cloned().collect();
    for p in named_by_type(&msg, &catalog.packages) {
        if !named.iter().any(|q| q.code == p.code) && p.standing(today) == Standing::Open {
            named.push(p);
        }
    }
    let available = catalog.available_on(today);
    let current =
        turn.state.package.as_deref().and_then(|c| catalog.get(c)).filter(|p| p.standing(today) == Standing::Open);
    let mut d = Decision {
        response_text: String::new(),
        media_to_send: Vec::new(),
        new_phase: turn.state.phase,
        confidence: 0.9,
        should_escalate: false,
        escalation_reason: None,
        intent: Intent::Smalltalk,
        lang,
        package: current.map(|p| p.code.clone()),
        send_location: false,
        unknown_codes,
        buttons: Vec::new(),
        note: None,
        party: msg.party(),
    };
    let variant = turn.state.variant.as_deref();
    let text = |name: &str| pb.text(lang, name, variant).to_string();
    let party = d.party;

    // 1. What a person must answer: the playbook's escalation topics, then large groups.
    if let Some(e) =
        pb.escalate.iter().find(|e| msg.has(&e.words) || e.patterns.iter().any(|p| p.is_match(&msg.padded)))
    {
        d.intent = match e.intent.as_str() {
            "human_request" => Intent::HumanRequest,
            "complaint" => Intent::Complaint,
            _ => Intent::Complex,
        };
        d.should_escalate = true;
        d.escalation_reason = Some(e.reason.clone());
        d.response_text = text("handover");
        if let Some(p) = named.first() {
            d.package = Some(p.code.clone());
        }
        return d;
    }
    if let Some(n) = party.filter(|n| *n > pb.rules.large_group) {
        d.intent = Intent::Complex;
        d.should_escalate = true;
        d.escalation_reason = Some(format!("grup besar ({n} orang)"));
        d.note = Some(format!("grup {n} orang, di atas batas {} orang", pb.rules.large_group));
        d.response_text = text("handover");
        return d;
    }

    // 2. Paying: the booking phase and an admin; the packages first when not yet seen.
    if msg.has(pb.words("payment")) {
        d.intent = Intent::Payment;
        d.new_phase = pb.phase_of("payment").unwrap_or(Phase::Booking);
        d.should_escalate = true;
        let subject = named.first().copied().filter(|p| p.standing(today) == Standing::Open).or(current);
        if let Some(p) = subject {
            d.package = Some(p.code.clone());
        }
        let terms = turn.prompts.company.payment_terms.as_deref();
        // Not yet seen a package (no code, no details): the packages first, marked high intent.
        if turn.state.phase == Phase::Leads && turn.state.package.is_none() {
            let shown: Vec<&Package> = match subject {
                Some(p) => vec![p],
                None => available.clone(),
            };
            d.escalation_reason = Some("payment intent (high intent: asked before seeing a package)".into());
            d.note = Some(format!(
                "HIGH INTENT — bertanya pembayaran sebelum melihat paket; bot mengirim info: {}",
                shown.iter().map(|p| p.code.as_str()).collect::<Vec<_>>().join(", ")
            ));
            d.response_text = texts::payment_first(lang, &shown, terms);
        } else {
            d.escalation_reason = Some("payment intent".into());
            d.response_text = texts::payment_first(lang, &[], terms);
        }
        return d;
    }

    let open_named: Vec<&str> =
        named.iter().filter(|p| p.standing(today) == Standing::Open).map(|p| p.code.as_str()).collect();
    let comparable = open_named.len() + usize::from(current.is_some_and(|c| !open_named.contains(&c.code.as_str())));
    let ask = ask_of(&msg, pb, today, (comparable, named.len()));
    // 3. A package named by its code that cannot be offered: say so, with what is open.
    if ask != Ask::Compare
        && let Some(p) = named.first()
    {
        match p.standing(today) {
            Standing::Departed | Standing::Full => {
                d.intent = Intent::CampaignCode;
                d.package = None;
                let answer = if p.has_departed(today) {
                    texts::package_departed(lang, p, &available)
                } else {
                    texts::package_full(lang, p, &available)
                };
                d.response_text = if turn.state.greeted {
                    answer
                } else {
                    format!("{}\n{answer}", texts::name_hello(lang, turn.name))
                };
                return d;
            }
            Standing::Open => {}
        }
    }
    let subject = named.first().copied().or(current);
    if let Some(phase) = pb.phase_of(ask.name()) {
        d.new_phase = d.new_phase.max(phase);
    }
    let month = msg.month(today);
    let in_month = |list: &[&'p Package]| -> Vec<&'p Package> {
        list.iter().copied().filter(|p| month.is_none_or(|m| p.month() == Some(m))).collect()
    };
    let pick = |d: &mut Decision, p: &Package| d.package = Some(p.code.clone());
    match ask {
        Ask::Compare => {
            d.intent = Intent::Question;
            let mut list: Vec<&Package> =
                named.iter().copied().filter(|p| p.standing(today) == Standing::Open).collect();
            if list.len() < 2
                && let Some(c) = current.filter(|c| !list.iter().any(|p| p.code == c.code))
            {
                list.push(c);
            }
            if list.len() < 2 {
                list = available.clone();
            }
            d.response_text =
                if list.is_empty() { texts::over_budget(lang, Idr(0), None) } else { texts::compare(lang, &list) };
        }
        Ask::Excluded | Ask::Included | Ask::Hotel | Ask::Duration if subject.is_none() && available.len() != 1 => {
            d.intent = Intent::Question;
            if ask == Ask::Duration {
                d.response_text = texts::duration(lang, &available);
            } else {
                // Which package? The question is answered per package once chosen.
                d.response_text = texts::other_packages(lang, &available);
                d.new_phase = turn.state.phase;
            }
        }
        Ask::Excluded | Ask::Included | Ask::Hotel | Ask::Duration => {
            d.intent = Intent::Question;
            let p = subject.or(available.first().copied()).expect("guarded: a subject or one available");
            pick(&mut d, p);
            let answer = match ask {
                Ask::Duration => Some(texts::duration(lang, &[p])),
                Ask::Included if !p.included.is_empty() => Some(texts::included(lang, p)),
                Ask::Excluded if !p.excluded.is_empty() => Some(texts::excluded(lang, p)),
                Ask::Hotel => {
                    let mut facts: Vec<String> = p.hotel.iter().cloned().collect();
                    facts.extend(p.hotel_distance_m.map(|m| texts::hotel_distance(lang, m)));
                    if facts.is_empty() {
                        facts = p.features.iter().filter(|f| f.to_lowercase().contains("hotel")).cloned().collect();
                    }
                    (!facts.is_empty()).then(|| texts::hotel(lang, p, &facts))
                }
                _ => None,
            };
            match answer {
                Some(a) => d.response_text = a,
                None => unknown(
                    &mut d,
                    &text("unknown"),
                    format!("katalog tidak punya data `{}` untuk {}", ask.name(), p.code),
                ),
            }
        }
        Ask::Cheapest | Ask::MostExpensive => {
            d.intent = Intent::Question;
            let pool = if in_month(&available).is_empty() { available.clone() } else { in_month(&available) };
            let chosen = if ask == Ask::Cheapest {
                pool.iter().min_by_key(|p| p.price)
            } else {
                pool.iter().max_by_key(|p| p.price)
            };
            match chosen {
                Some(p) => {
                    pick(&mut d, p);
                    let lead = if ask == Ask::Cheapest {
                        texts::lead_cheapest(lang)
                    } else {
                        texts::lead_most_expensive(lang)
                    };
                    d.response_text = texts::picks(lang, lead, &[p], party);
                }
                None => d.response_text = texts::over_budget(lang, Idr(0), None),
            }
        }
        Ask::Cheaper => {
            d.intent = Intent::Question;
            match current.or(named.first().copied()) {
                Some(than) => {
                    let mut cheaper: Vec<&Package> =
                        available.iter().copied().filter(|p| p.price < than.price).collect();
                    cheaper.sort_by_key(|p| p.price);
                    d.response_text = if cheaper.is_empty() {
                        texts::none_cheaper(lang, than, &available)
                    } else {
                        texts::picks(lang, &texts::lead_cheaper(lang, than), &cheaper, party)
                    };
                }
                None => {
                    let mut sorted = available.clone();
                    sorted.sort_by_key(|p| p.price);
                    d.response_text = texts::picks(lang, texts::lead_cheapest(lang), &sorted, party);
                }
            }
        }
        Ask::Budget => {
            d.intent = Intent::Question;
            let budget = msg.amount().unwrap_or(Idr(0));
            let per_person = Idr(budget.0 / party.filter(|n| *n > 1).unwrap_or(1) as u64);
            let mut fits: Vec<&Package> = in_month(&available).into_iter().filter(|p| p.price <= per_person).collect();
            fits.sort_by_key(|p| std::cmp::Reverse(p.price));
            d.response_text = if fits.is_empty() {
                texts::over_budget(lang, per_person, available.iter().copied().min_by_key(|p| p.price))
            } else {
                if let [only] = fits.as_slice() {
                    pick(&mut d, only);
                }
                texts::picks(lang, &texts::lead_budget(lang, per_person), &fits, party)
            };
        }
        Ask::Details => {
            d.intent = Intent::Details;
            match subject.or(available.first().copied()) {
                Some(p) => {
                    pick(&mut d, p);
                    d.response_text = texts::details(lang, p, turn.prompts.company.payment_terms.as_deref());
                    d.buttons = texts::next_steps(lang);
                    push(&mut d, MediaKind::Document, p.brochure_url.as_deref(), Some("Brosur"));
                    push(&mut d, MediaKind::Document, p.itinerary_url.as_deref(), Some("Itinerary"));
                }
                None => d.response_text = welcome(turn, lang, &available),
            }
        }
        Ask::Faq(i) => {
            d.intent = Intent::Faq;
            let faq = &pb.faq[i];
            d.response_text = if lang == Language::En { faq.en.clone() } else { faq.id.clone() };
        }
        Ask::Location => {
            d.intent = Intent::OfficeLocation;
            match &turn.prompts.company.address {
                Some(address) => {
                    let company = &turn.prompts.company;
                    d.response_text = texts::office(lang, &company.name, address, company.office_hours.as_deref());
                    d.send_location = company.latitude.is_some() && company.longitude.is_some();
                }
                None => unknown(&mut d, &text("unknown"), "company.md has no address".into()),
            }
        }
        Ask::Proof => {
            d.intent = Intent::Proof;
            d.response_text = texts::proof(lang, &turn.prompts.company.name);
            let video = turn.prompts.company.testimonial_videos.first().cloned();
            push(&mut d, MediaKind::Video, video.as_deref(), None);
        }
        Ask::OtherPackages => {
            d.intent = Intent::OtherPackages;
            d.response_text = texts::other_packages(lang, &available);
        }
        _ if !named.is_empty()
            && matches!(ask, Ask::Nothing | Ask::Greeting | Ask::Price | Ask::Thanks | Ask::Plan) =>
        {
            // A code (or a package's kind) with nothing else asked: its details and picture.
            let p = named[0];
            d.intent = Intent::CampaignCode;
            pick(&mut d, p);
            let mut info = texts::package_info(lang, turn.name, p);
            let total = texts::total(lang, p, party);
            if !total.is_empty() {
                info = format!("{info}\n\n{}{total}", p.name);
            }
            d.response_text = info;
            d.buttons = texts::next_steps(lang);
            push(&mut d, MediaKind::Image, p.image_url.as_deref(), None);
        }
        Ask::Plan => {
            d.intent = Intent::TripPlan;
            let matching = if month.is_some() { in_month(&available) } else { available.clone() };
            if let [only] = matching.as_slice() {
                pick(&mut d, only);
            }
            d.response_text = match (month, party) {
                (None, Some(n)) => match current {
                    Some(p) => texts::picks(lang, &texts::lead_party(lang, n), &[p], party),
                    None => texts::picks(lang, &texts::lead_party(lang, n), &available, party),
                },
                _ if matching.is_empty() => texts::recommendation(lang, &[], &available),
                _ if party.is_some() => {
                    texts::picks(lang, &texts::lead_party(lang, party.unwrap_or(1)), &matching, party)
                }
                _ => texts::recommendation(lang, &matching, &available),
            };
        }
        Ask::Price => {
            d.intent = Intent::Details;
            d.response_text = match subject {
                Some(p) => texts::picks(lang, "", &[p], party).trim_start().to_string(),
                None => texts::prices(lang, &available, party),
            };
        }
        Ask::Greeting | Ask::Thanks | Ask::Nothing => {
            d.intent = if ask == Ask::Greeting { Intent::Greeting } else { Intent::Smalltalk };
            if !turn.state.greeted || !d.unknown_codes.is_empty() {
                d.response_text = welcome(turn, lang, &available);
            } else if ask == Ask::Greeting && turn.state.idle_before_ms >= pb.rules.welcome_back_hours * 3_600_000 {
                d.response_text = welcome_back(turn, lang, &available, current);
            } else if ask == Ask::Greeting {
                d.response_text = text("greeted_again");
            } else if ask == Ask::Nothing && msg.is_question(pb) {
                unknown(&mut d, &text("unknown"), "tidak ada jawaban di katalog atau playbook".into());
            } else {
                d.confidence = 0.7;
                d.response_text = text("smalltalk");
            }
        }
    }
    // The conversation's first reply opens with a hello, whatever was asked.
    if !turn.state.greeted && !matches!(d.intent, Intent::Greeting | Intent::Smalltalk | Intent::CampaignCode) {
        d.response_text = format!("{}\n{}", texts::name_hello(lang, turn.name), d.response_text);
    }
    d
}

/// The data does not hold the answer: say so and let a person answer.
fn unknown(d: &mut Decision, text: &str, note: String) {
    d.intent = Intent::Complex;
    d.confidence = 0.3;
    d.should_escalate = true;
    d.escalation_reason = Some("no answer in the data (low confidence)".into());
    d.note = Some(note);
    d.response_text = text.to_string();
}

/// The first greeting of a conversation (its A/B variant's text).
fn welcome(turn: &Turn<'_>, lang: Language, available: &[&Package]) -> String {
    let pb = &turn.prompts.playbook;
    fill(
        pb.text(lang, "greeting", turn.state.variant.as_deref()),
        &[
            ("hello", &texts::name_hello(lang, turn.name)),
            ("company", &turn.prompts.company.name),
            ("packages", &texts::list_available(lang, available)),
        ],
    )
}

fn welcome_back(turn: &Turn<'_>, lang: Language, available: &[&Package], current: Option<&Package>) -> String {
    let pb = &turn.prompts.playbook;
    let variant = turn.state.variant.as_deref();
    let name = if current.is_some() { "welcome_back" } else { "welcome_back_no_package" };
    fill(
        pb.text(lang, name, variant),
        &[
            ("hello", &texts::name_hello(lang, turn.name)),
            ("company", &turn.prompts.company.name),
            ("packages", &texts::list_available(lang, available)),
            ("package", current.map_or("", |p| p.name.as_str())),
            ("phase", turn.state.phase.as_str()),
        ],
    )
}

fn push(d: &mut Decision, kind: MediaKind, url: Option<&str>, caption: Option<&str>) {
    if let Some(url) = url {
        d.media_to_send.push(Media { kind, url: url.to_string(), caption: caption.map(str::to_string) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert!(decide_on("bs ngobrol sm cs aja?", &s).should_escalate);
        assert!(decide_on("I'd like to speak to someone from your team", &s).should_escalate);
        assert!(decide_on("Bisa bawa kursi roda?", &s).should_escalate);
        assert!(decide_on("Grup 25 orang bisa?", &s).should_escalate);
    }

    #[test]
    fn amounts_and_parties_are_read() {
        let pb = Prompts::embedded().playbook;
        assert_eq!(Msg::new("budget 30 juta", &pb).amount(), Some(Idr(30_000_000)));
        assert_eq!(Msg::new("dana sy 27,5jt", &pb).amount(), Some(Idr(27_500_000)));
        assert_eq!(Msg::new("maksimal Rp 30.000.000 ya", &pb).amount(), Some(Idr(30_000_000)));
        assert_eq!(Msg::new("kami 4 org", &pb).party(), Some(4));
        assert_eq!(Msg::new("kami berempat", &pb).party(), Some(4));
        assert_eq!(Msg::new("paket 2027", &pb).amount(), None);
    }
}
