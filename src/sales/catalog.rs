//! The catalog the bot may quote (`prompts/packages.toml`) and the Meta-ads
//! campaign codes (`PKG_MONTH_YEAR_TYPE`, e.g. `UMR_MAR_2025_HEMAT`) that point into it.

use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CatalogError {
    #[error("packages.toml: {0}")]
    Toml(String),
    #[error("packages.toml: package `{code}`: {message}")]
    Package { code: String, message: String },
}

/// Rupiah, formatted the Indonesian way: `Rp 25.000.000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub struct Idr(pub u64);

impl std::fmt::Display for Idr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digits = self.0.to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push('.');
            }
            grouped.push(c);
        }
        write!(f, "Rp {grouped}")
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    /// May hold `{MON}` and `{YYYY}`, filled from the departure (for relative dates).
    pub code: String,
    /// May hold `{BULAN}`, `{MONTH}` and `{YYYY}` likewise.
    pub name: String,
    pub price: Idr,
    #[serde(default = "idr")]
    pub currency: String,
    /// `YYYY-MM-DD`; or leave it out and give `departs_in_days`.
    #[serde(default)]
    pub departure: String,
    /// Departure this many days after the day the catalog is loaded (a demo
    /// catalog that never shows a trip that has left).
    #[serde(default)]
    pub departs_in_days: Option<u32>,
    pub duration_days: u32,
    /// Seats on sale; 0 = full. In the catalog a turn sees, the seats left
    /// (held by bookings and taken by won deals subtracted: `crm::seats`).
    pub quota: u32,
    pub image_url: Option<String>,
    pub brochure_url: Option<String>,
    pub itinerary_url: Option<String>,
    #[serde(default)]
    pub features: Vec<String>,
    /// What the price includes and leaves out, and the hotel's distance (for questions).
    #[serde(default)]
    pub included: Vec<String>,
    #[serde(default)]
    pub excluded: Vec<String>,
    #[serde(default)]
    pub hotel: Option<String>,
    #[serde(default)]
    pub hotel_distance_m: Option<u32>,
}

fn idr() -> String {
    "IDR".into()
}

/// Today as a day number in WIB (see [`crate::clock::local_day`]).
pub fn today() -> i64 {
    crate::clock::local_day(crate::clock::now_ms()) as i64
}

/// Days since the epoch of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const MON: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
pub const BULAN: [&str; 12] = [
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
];
pub const MONTH: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Month names as people write them, Indonesian and English, with the
/// usual short forms (language, not configuration): read in prospects'
/// messages and in dates the LLM writes.
pub const MONTH_WORDS: [&[&str]; 12] = [
    &["januari", "january", "jan"],
    &["februari", "february", "feb", "pebruari", "peb"],
    &["maret", "march", "mar", "mrt"],
    &["april", "apr"],
    &["mei", "may"],
    &["juni", "june", "jun"],
    &["juli", "july", "jul"],
    &["agustus", "august", "agu", "agt", "ags", "aug"],
    &["september", "sep", "sept"],
    &["oktober", "october", "okt", "oct"],
    &["november", "nov", "nop"],
    &["desember", "december", "des", "dec"],
];

/// A month's number (1–12) from a word of [`MONTH_WORDS`] (`Januari`, `Agt.`).
fn month_number(word: &str) -> Option<u32> {
    let w = word.to_lowercase();
    let w = w.trim_end_matches('.');
    MONTH_WORDS.iter().position(|names| names.contains(&w)).map(|i| i as u32 + 1)
}

/// Dates written in a text: `2027-01-20`, `20 Januari 2027`, `20 Jan 2027`,
/// `January 20, 2027`, `20/01/2027` — as written, and as day numbers
/// (comparable with [`Package::departure_day`]). Impossible dates are skipped.
pub fn dates_in(text: &str) -> Vec<(String, i64)> {
    static WRITTEN: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?ix)
            \b(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2})\b
            | \b(?P<d>\d{1,2})\s+(?P<m>[a-z]{3,9}\.?)\s+(?P<y>\d{4})\b
            | \b(?P<m2>[a-z]{3,9}\.?)\s+(?P<d2>\d{1,2}),?\s+(?P<y2>\d{4})\b
            | \b(?P<sd>\d{1,2})/(?P<sm>\d{1,2})/(?P<sy>\d{4})\b",
        )
        .expect("static regex")
    });
    let mut out = Vec::new();
    for c in WRITTEN.captures_iter(text) {
        let num = |name: &str| c.name(name).and_then(|m| m.as_str().parse::<u32>().ok());
        let (y, m, d) = if let (Some(y), Some(m), Some(d)) = (num("iy"), num("im"), num("id")) {
            (y, Some(m), d)
        } else if let (Some(y), Some(d)) = (num("y"), num("d")) {
            (y, c.name("m").and_then(|m| month_number(m.as_str())), d)
        } else if let (Some(y), Some(d)) = (num("y2"), num("d2")) {
            (y, c.name("m2").and_then(|m| month_number(m.as_str())), d)
        } else if let (Some(y), Some(m), Some(d)) = (num("sy"), num("sm"), num("sd")) {
            (y, Some(m), d)
        } else {
            continue;
        };
        let Some(m) = m.filter(|m| (1..=12).contains(m)) else { continue };
        let day = days_from_civil(y as i64, m, d);
        // `31 Februari` is no date: it does not come back as itself.
        if d == 0 || crate::clock::civil_from_days(day) != (y as i64, m, d) {
            continue;
        }
        out.push((c.get(0).map_or("", |m| m.as_str()).to_string(), day));
    }
    out
}

/// Where a package stands on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Open,
    Full,
    Departed,
}

impl Package {
    pub fn is_full(&self) -> bool {
        self.quota == 0
    }

    /// Departure month number (1–12).
    pub fn month(&self) -> Option<u32> {
        self.departure.get(5..7)?.parse().ok()
    }

    pub fn year(&self) -> Option<u32> {
        self.departure.get(0..4)?.parse().ok()
    }

    /// The departure as a day number (comparable with [`today`]).
    pub fn departure_day(&self) -> Option<i64> {
        let d: u32 = self.departure.get(8..10)?.parse().ok()?;
        Some(days_from_civil(self.year()? as i64, self.month()?, d))
    }

    /// A trip that leaves today or has left is never offered.
    pub fn has_departed(&self, today: i64) -> bool {
        self.departure_day().is_none_or(|d| d <= today)
    }

    pub fn standing(&self, today: i64) -> Standing {
        if self.has_departed(today) {
            Standing::Departed
        } else if self.is_full() {
            Standing::Full
        } else {
            Standing::Open
        }
    }

    /// Every link the bot may send for this package.
    pub fn urls(&self) -> impl Iterator<Item = &str> {
        [&self.image_url, &self.brochure_url, &self.itinerary_url].into_iter().flatten().map(String::as_str)
    }

    /// Relative departures become dates; placeholders in code and name are filled.
    fn resolve(&mut self, today: i64) {
        if let Some(days) = self.departs_in_days {
            let (y, m, d) = crate::clock::civil_from_days(today + days as i64);
            self.departure = format!("{y:04}-{m:02}-{d:02}");
        }
        if let (Some(y), Some(m)) = (self.year(), self.month().filter(|m| (1..=12).contains(m))) {
            let i = m as usize - 1;
            let fill = |s: &str| {
                s.replace("{MON}", MON[i])
                    .replace("{YYYY}", &y.to_string())
                    .replace("{BULAN}", BULAN[i])
                    .replace("{MONTH}", MONTH[i])
            };
            self.code = fill(&self.code);
            self.name = fill(&self.name);
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    #[serde(default, rename = "package")]
    pub packages: Vec<Package>,
}

/// A campaign code anywhere in a message, any case.
static CODE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b([a-z]{2,5}_[a-z]{3}_\d{4}_[a-z0-9]{2,12})\b").expect("static regex"));

/// Codes found in a message, upper-cased, in order of appearance, without repeats.
pub fn campaign_codes(text: &str) -> Vec<String> {
    let mut codes: Vec<String> = Vec::new();
    for m in CODE.find_iter(text) {
        let code = m.as_str().to_ascii_uppercase();
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    codes
}

/// The message with campaign codes blanked out (their parts are not words: `MAR` is no month).
pub fn without_codes(text: &str) -> String {
    CODE.replace_all(text, " ").into_owned()
}

impl Catalog {
    pub fn parse(text: &str) -> Result<Catalog, CatalogError> {
        Catalog::parse_on(text, today())
    }

    /// Parses with relative departures counted from day `today`.
    pub fn parse_on(text: &str, today: i64) -> Result<Catalog, CatalogError> {
        let mut catalog: Catalog = toml::from_str(text).map_err(|e| CatalogError::Toml(e.to_string()))?;
        for p in &mut catalog.packages {
            if p.departs_in_days.is_some() && !p.departure.is_empty() {
                return Err(CatalogError::Package {
                    code: p.code.clone(),
                    message: "give departure or departs_in_days, not both".into(),
                });
            }
            p.resolve(today);
        }
        for p in &catalog.packages {
            let bad = |message: &str| Err(CatalogError::Package { code: p.code.clone(), message: message.into() });
            if campaign_codes(&p.code) != [p.code.clone()] {
                return bad("code must look like PKG_MONTH_YEAR_TYPE in capitals (e.g. UMR_MAR_2025_HEMAT)");
            }
            if p.month().is_none_or(|m| !(1..=12).contains(&m))
                || p.departure_day().is_none()
                || p.departure.len() != 10
            {
                return bad("departure must be a date YYYY-MM-DD");
            }
            if p.urls().any(|u| !(u.starts_with("https://") || u.starts_with("http://"))) {
                return bad("image_url, brochure_url and itinerary_url must be http(s) links");
            }
            if catalog.packages.iter().filter(|q| q.code == p.code).count() > 1 {
                return bad("code appears twice");
            }
        }
        Ok(catalog)
    }

    pub fn get(&self, code: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.code.eq_ignore_ascii_case(code))
    }

    /// Packages that may be offered today: not departed, seats left; soonest departure first.
    pub fn available(&self) -> Vec<&Package> {
        self.available_on(today())
    }

    pub fn available_on(&self, today: i64) -> Vec<&Package> {
        let mut list: Vec<&Package> = self.packages.iter().filter(|p| p.standing(today) == Standing::Open).collect();
        list.sort_by(|a, b| a.departure.cmp(&b.departure));
        list
    }

    /// What `juru prompts check` warns about: departed packages and those
    /// leaving within `soon_days`.
    pub fn warnings(&self, today: i64, soon_days: i64) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.packages {
            match p.departure_day() {
                Some(d) if d <= today => {
                    out.push(format!("packages.toml: `{}` departed on {}: it is never offered", p.code, p.departure))
                }
                Some(d) if d - today <= soon_days => out.push(format!(
                    "packages.toml: `{}` departs in {} days ({}): update or replace it soon",
                    p.code,
                    d - today,
                    p.departure
                )),
                _ => {}
            }
            if p.is_full() {
                out.push(format!("packages.toml: `{}` is full (quota 0): offered only as full", p.code));
            }
        }
        out
    }

    /// Is `url` one the catalog (or the company file) lets the bot send?
    pub fn knows_url(&self, url: &str) -> bool {
        self.packages.iter().any(|p| p.urls().any(|u| u == url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_read_as_people_write_them() {
        let day = days_from_civil(2027, 1, 20);
        for text in [
            "berangkat 2027-01-20 kak",
            "berangkat 20 Januari 2027 kak",
            "tgl 20 jan 2027",
            "on January 20, 2027",
            "20 Jan. 2027",
            "20/01/2027",
        ] {
            assert_eq!(dates_in(text).into_iter().map(|(_, d)| d).collect::<Vec<_>>(), vec![day], "{text}");
        }
        assert_eq!(dates_in("15 Agt 2027 dan 1 Des 2027").len(), 2);
        for text in ["31 Februari 2027", "kami 4 orang 2027", "Rp 25.000.000", "20 Jan", "2027-13-01"] {
            assert!(dates_in(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn rupiah_is_grouped_with_dots() {
        assert_eq!(Idr(25_000_000).to_string(), "Rp 25.000.000");
        assert_eq!(Idr(950).to_string(), "Rp 950");
        assert_eq!(Idr(1_000).to_string(), "Rp 1.000");
    }

    #[test]
    fn codes_are_found_anywhere_in_any_case() {
        assert_eq!(campaign_codes("Halo kak, paket umr_mar_2025_hemat masih ada?"), ["UMR_MAR_2025_HEMAT"]);
        assert_eq!(
            campaign_codes("Bedanya UMR_XYZ_2099_FAKE sama UMR_JAN_2027_PLUS apa?"),
            ["UMR_XYZ_2099_FAKE", "UMR_JAN_2027_PLUS"]
        );
        assert!(campaign_codes("harga_paket berapa").is_empty());
    }

    #[test]
    fn a_bad_package_is_refused_with_its_code() {
        let err = Catalog::parse("[[package]]\ncode = \"UMR_MAR_2025_HEMAT\"\nname = \"x\"\nprice = 1\ndeparture = \"maret\"\nduration_days = 9\nquota = 1\n").unwrap_err();
        assert!(err.to_string().contains("UMR_MAR_2025_HEMAT") && err.to_string().contains("departure"), "{err}");
    }

    #[test]
    fn relative_departures_fill_the_code_and_are_never_departed() {
        let today = days_from_civil(2026, 12, 7);
        let c = Catalog::parse_on(
            "[[package]]\ncode = \"UMR_{MON}_{YYYY}_HEMAT\"\nname = \"Umroh {BULAN} {YYYY}\"\nprice = 1\ndeparts_in_days = 40\nduration_days = 9\nquota = 1\n\n[[package]]\ncode = \"UMR_MAR_2025_HEMAT\"\nname = \"old\"\nprice = 1\ndeparture = \"2025-03-15\"\nduration_days = 9\nquota = 45\n",
            today,
        )
        .unwrap();
        assert_eq!(c.packages[0].code, "UMR_JAN_2027_HEMAT");
        assert_eq!(c.packages[0].name, "Umroh Januari 2027");
        assert_eq!(c.packages[0].departure, "2027-01-16");
        let open: Vec<&str> = c.available_on(today).iter().map(|p| p.code.as_str()).collect();
        assert_eq!(open, ["UMR_JAN_2027_HEMAT"], "the departed one is never offered");
        assert_eq!(c.packages[1].standing(today), Standing::Departed);
        assert!(c.warnings(today, 14).iter().any(|w| w.contains("UMR_MAR_2025_HEMAT") && w.contains("departed")));
        assert!(c.warnings(today + 30, 14).iter().any(|w| w.contains("departs in 10 days")));
    }
}
