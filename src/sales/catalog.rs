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
    pub code: String,
    pub name: String,
    pub price: Idr,
    #[serde(default = "idr")]
    pub currency: String,
    /// `YYYY-MM-DD`.
    pub departure: String,
    pub duration_days: u32,
    /// Seats left; 0 = full.
    pub quota: u32,
    pub image_url: Option<String>,
    pub brochure_url: Option<String>,
    pub itinerary_url: Option<String>,
    #[serde(default)]
    pub features: Vec<String>,
}

fn idr() -> String {
    "IDR".into()
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

    /// Every link the bot may send for this package.
    pub fn urls(&self) -> impl Iterator<Item = &str> {
        [&self.image_url, &self.brochure_url, &self.itinerary_url].into_iter().flatten().map(String::as_str)
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
        let catalog: Catalog = toml::from_str(text).map_err(|e| CatalogError::Toml(e.to_string()))?;
        for p in &catalog.packages {
            let bad = |message: &str| Err(CatalogError::Package { code: p.code.clone(), message: message.into() });
            if campaign_codes(&p.code) != [p.code.clone()] {
                return bad("code must look like PKG_MONTH_YEAR_TYPE in capitals (e.g. UMR_MAR_2025_HEMAT)");
            }
            if p.month().is_none_or(|m| !(1..=12).contains(&m)) || p.year().is_none() || p.departure.len() != 10 {
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

    /// Packages with seats left, soonest departure first.
    pub fn available(&self) -> Vec<&Package> {
        let mut list: Vec<&Package> = self.packages.iter().filter(|p| !p.is_full()).collect();
        list.sort_by(|a, b| a.departure.cmp(&b.departure));
        list
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
}
