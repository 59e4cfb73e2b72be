//! Lead scoring, as in the users' doc: engagement (per message, per feature
//! used, per minute engaged), intent (pricing inquiry, demo request,
//! purchase intent, complaint) and demographic points (business hours,
//! corporate email domain, verified business). Signals are kept on the contact
//! and updated on every message; the score is computed from them with the
//! current rules, so a rule change applies to every contact at once.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::contact::{Contact, Touch};

/// Two messages closer than this count as one engaged stretch.
const ENGAGED_GAP_MS: u64 = 30 * 60_000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Signals {
    pub features: u32,
    pub engaged_secs: u64,
    pub pricing_inquiry: bool,
    pub demo_request: bool,
    pub purchase_intent: bool,
    pub complaint: bool,
    pub business_hours: bool,
}

static PRICING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(harga|biaya|berapa|tarif|price|pricing|cost|how much|promo|diskon|discount)\b").unwrap()
});
static DEMO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(demo|trial|coba|survey|survei|kunjung\w*|visit|presentasi|meeting|ketemu)\b").unwrap()
});
static PURCHASE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(beli|pesan|order|booking|book|daftar|bayar|transfer|dp|checkout|buy|purchase|sign up)\b")
        .unwrap()
});
static COMPLAINT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(komplain|kecewa|complain\w*|refund|marah|buruk|jelek|lambat|disappointed|terrible)\b").unwrap()
});

impl Signals {
    /// Folds in one inbound message (`last_seen_ms`/`messages` are the contact's before it).
    pub fn observe(&mut self, last_seen_ms: u64, messages: u64, touch: &Touch) {
        if touch.feature_used {
            self.features += 1;
        }
        if messages > 0 {
            let gap = touch.now_ms.saturating_sub(last_seen_ms);
            if gap <= ENGAGED_GAP_MS {
                self.engaged_secs += gap / 1000;
            }
        }
        if let Some(text) = touch.text.as_deref() {
            self.pricing_inquiry |= PRICING.is_match(text);
            self.demo_request |= DEMO.is_match(text);
            self.purchase_intent |= PURCHASE.is_match(text);
            self.complaint |= COMPLAINT.is_match(text);
        }
        self.business_hours |= is_business_hours(touch.now_ms);
    }
}

/// Monday to Friday, 08:00–17:00 WIB.
pub fn is_business_hours(ms: u64) -> bool {
    // The users' business hours are local (WIB).
    let local = (ms + crate::clock::LOCAL_OFFSET_MS) as i64;
    let day = local.div_euclid(86_400_000);
    let minute_of_day = local.rem_euclid(86_400_000) / 60_000;
    // 1970-01-01 was a Thursday: weekday 0 = Monday.
    let weekday = (day + 3).rem_euclid(7);
    weekday < 5 && (8 * 60..17 * 60).contains(&minute_of_day)
}

/// Free-mail domains: an address elsewhere counts as a corporate domain.
const FREE_MAIL: [&str; 9] = [
    "gmail.com",
    "yahoo.com",
    "yahoo.co.id",
    "hotmail.com",
    "outlook.com",
    "ymail.com",
    "icloud.com",
    "live.com",
    "aol.com",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScoringRules {
    pub per_message: i64,
    pub per_feature: i64,
    pub per_minute: i64,
    pub pricing_inquiry: i64,
    pub demo_request: i64,
    pub purchase_intent: i64,
    pub complaint: i64,
    pub business_hours: i64,
    pub corporate_domain: i64,
    pub verified_business: i64,
    /// `#crm leads hot` lists contacts at or above this score.
    pub hot_threshold: i64,
}

impl Default for ScoringRules {
    fn default() -> Self {
        ScoringRules {
            per_message: 10,
            per_feature: 15,
            per_minute: 5,
            pricing_inquiry: 50,
            demo_request: 75,
            purchase_intent: 100,
            complaint: -20,
            business_hours: 25,
            corporate_domain: 30,
            verified_business: 40,
            hot_threshold: 75,
        }
    }
}

impl ScoringRules {
    pub const KEYS: [&'static str; 11] = [
        "per_message",
        "per_feature",
        "per_minute",
        "pricing_inquiry",
        "demo_request",
        "purchase_intent",
        "complaint",
        "business_hours",
        "corporate_domain",
        "verified_business",
        "hot_threshold",
    ];

    fn slot(&mut self, key: &str) -> Option<&mut i64> {
        Some(match key {
            "per_message" => &mut self.per_message,
            "per_feature" => &mut self.per_feature,
            "per_minute" => &mut self.per_minute,
            "pricing_inquiry" => &mut self.pricing_inquiry,
            "demo_request" => &mut self.demo_request,
            "purchase_intent" => &mut self.purchase_intent,
            "complaint" => &mut self.complaint,
            "business_hours" => &mut self.business_hours,
            "corporate_domain" => &mut self.corporate_domain,
            "verified_business" => &mut self.verified_business,
            "hot_threshold" => &mut self.hot_threshold,
            _ => return None,
        })
    }

    pub fn get(&self, key: &str) -> Option<i64> {
        self.clone().slot(key).map(|v| *v)
    }

    /// `lead-score configure set KEY VALUE`.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), RuleError> {
        let key = key.trim().to_lowercase().replace('-', "_");
        let parsed: i64 = value
            .trim()
            .parse()
            .map_err(|_| RuleError::NotWholeNumber { key: key.clone(), value: value.to_string() })?;
        if !(-RULE_LIMIT..=RULE_LIMIT).contains(&parsed) {
            return Err(RuleError::OutOfRange { key });
        }
        let slot = self.slot(&key).ok_or(RuleError::Unknown { key: key.clone() })?;
        *slot = parsed;
        Ok(())
    }

    pub fn score(&self, c: &Contact) -> i64 {
        let s = &c.signals;
        let corporate = c
            .email
            .as_deref()
            .and_then(|e| e.rsplit_once('@'))
            .is_some_and(|(_, domain)| !FREE_MAIL.iter().any(|free| domain.eq_ignore_ascii_case(free)));
        self.per_message * c.messages as i64
            + self.per_feature * s.features as i64
            + self.per_minute * (s.engaged_secs / 60) as i64
            + if s.pricing_inquiry { self.pricing_inquiry } else { 0 }
            + if s.demo_request { self.demo_request } else { 0 }
            + if s.purchase_intent { self.purchase_intent } else { 0 }
            + if s.complaint { self.complaint } else { 0 }
            + if s.business_hours { self.business_hours } else { 0 }
            + if corporate { self.corporate_domain } else { 0 }
            + if c.verified_business { self.verified_business } else { 0 }
    }

    /// One line per rule, for `lead-score configure show`.
    pub fn describe(&self) -> Vec<(&'static str, i64)> {
        Self::KEYS.iter().map(|k| (*k, self.get(k).unwrap_or(0))).collect()
    }
}

/// How far one scoring rule may weigh, either way.
pub const RULE_LIMIT: i64 = 1000;

/// Why `lead-score configure set` refused a rule; the owner reads it in their
/// language (`Texts::rule_refused`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("{key} needs a whole number, not \"{value}\"")]
    NotWholeNumber { key: String, value: String },
    #[error("{key} must be between -{RULE_LIMIT} and {RULE_LIMIT}")]
    OutOfRange { key: String },
    #[error("unknown rule \"{key}\"; rules: {}", ScoringRules::KEYS.join(", "))]
    Unknown { key: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::ChannelName;

    fn touch(text: &str, now_ms: u64) -> Touch {
        Touch {
            key: "6281".into(),
            user_id: None,
            phone: Some("6281".into()),
            name: None,
            channel: ChannelName::new("waha"),
            referral: None,
            text: Some(text.into()),
            feature_used: false,
            campaign_source: None,
            now_ms,
            opt_in: true,
        }
    }

    // 2026-11-23 is a Monday; 03:00 UTC = 10:00 WIB.
    const MONDAY_10_WIB: u64 = 1_795_402_800_000;

    #[test]
    fn business_hours_are_weekdays_eight_to_five_in_jakarta() {
        assert!(is_business_hours(MONDAY_10_WIB));
        assert!(!is_business_hours(MONDAY_10_WIB + 8 * 3_600_000), "18:00 WIB");
        assert!(!is_business_hours(MONDAY_10_WIB + 5 * 86_400_000), "Saturday");
    }

    #[test]
    fn a_pricing_question_in_business_hours_scores_as_the_doc_says() {
        let c = Contact::touched(None, &touch("Berapa harga paket hemat?", MONDAY_10_WIB));
        // 1 message (10) + pricing inquiry (50) + business hours (25).
        assert_eq!(ScoringRules::default().score(&c), 85);
        let c = Contact::touched(Some(c), &touch("Saya mau komplain", MONDAY_10_WIB + 120_000));
        // +10 message, +2 min engaged (10), complaint −20.
        assert_eq!(ScoringRules::default().score(&c), 85);
    }

    #[test]
    fn rules_can_be_changed_and_are_validated() {
        let mut rules = ScoringRules::default();
        rules.set("per-message", "3").unwrap();
        assert_eq!(rules.per_message, 3);
        assert!(matches!(rules.set("per_message", "lots"), Err(RuleError::NotWholeNumber { .. })));
        assert!(matches!(rules.set("charm", "5"), Err(RuleError::Unknown { .. })));
    }

    #[test]
    fn a_corporate_email_and_verified_business_add_points() {
        let mut c = Contact::touched(None, &touch("halo", MONDAY_10_WIB + 10 * 3_600_000));
        let base = ScoringRules::default().score(&c);
        c.email = Some("budi@kopikita.co.id".into());
        c.verified_business = true;
        assert_eq!(ScoringRules::default().score(&c), base + 70);
        c.email = Some("budi@gmail.com".into());
        assert_eq!(ScoringRules::default().score(&c), base + 40);
    }
}
