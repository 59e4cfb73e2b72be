//! Phone numbers as people and CRMs write them, read into international
//! digits (`6281234500001`) once: `0812-3450-0001`, `+62 812 3450 0001`,
//! `(0812) 3450 0001`, `6281234500001` are one person. A national number
//! (leading `0`) belongs to the default country (`[bot] default_country`,
//! Indonesia unless set). A leaf module: the gateways' `channel::Phone`,
//! `#crm` arguments and the numbers connectors pull back from a CRM all read
//! numbers here, so they agree on who is who.

use std::sync::RwLock;

pub use phonenumber::country::Id as Country;

/// The country a number written without its country code belongs to.
static DEFAULT_COUNTRY: RwLock<Country> = RwLock::new(Country::ID);

/// The default country, as set from config at start.
pub fn default_country() -> Country {
    *DEFAULT_COUNTRY.read().unwrap_or_else(|p| p.into_inner())
}

/// Sets the country of national numbers (`ID`, `MY`, `SG`, …), from config at start.
pub fn set_default_country(code: &str) -> Result<(), String> {
    let id = parse_country(code)?;
    *DEFAULT_COUNTRY.write().unwrap_or_else(|p| p.into_inner()) = id;
    Ok(())
}

/// A two-letter country code (ISO 3166-1 alpha-2, as `[bot] default_country` takes it).
pub fn parse_country(code: &str) -> Result<Country, String> {
    code.trim()
        .to_ascii_uppercase()
        .parse::<Country>()
        .map_err(|_| format!("`{code}` is not a two-letter country code (e.g. ID, MY, SG)"))
}

/// International digits of a number as written, national numbers read in
/// the default country; `None` when it is no phone number.
pub fn international(text: &str) -> Option<String> {
    international_in(text, default_country())
}

/// Like [`international`], national numbers read in `country`.
pub fn international_in(text: &str, country: Country) -> Option<String> {
    let kept: String = text.trim().chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}')).collect();
    // libphonenumber reads letters as a keypad would (`abc` → `222`); a
    // person's number written with letters is not one we can reach.
    if !kept.trim_start_matches('+').bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = if let Some(international) = kept.strip_prefix('+').or_else(|| kept.strip_prefix("00")) {
        // libphonenumber also drops a national `(0)` written after the country code.
        e164(None, &format!("+{international}")).unwrap_or_else(|| international.to_string())
    } else if kept.starts_with('0') {
        e164(Some(country), &kept)?
    } else {
        // Bare digits are international, as WhatsApp writes them (`628…`).
        kept
    };
    is_digits(&digits).then_some(digits)
}

/// A number as a CRM holds it: international digits when it reads as a
/// phone number, else the bare digits of what is written with digits and the
/// usual separators only (`+62 813`, an extension: kept, never completed into
/// somebody's number); `None` for text that is no number at all.
pub fn pulled(text: &str) -> Option<String> {
    international(text).or_else(|| {
        let plain = text.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '.' | '(' | ')'));
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        (plain && !digits.is_empty()).then_some(digits)
    })
}

/// 6 to 15 ASCII digits: the length E.164 allows (and short test numbers).
pub fn is_digits(digits: &str) -> bool {
    (6..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// International digits of `text` as libphonenumber reads it in `country`.
fn e164(country: Option<Country>, text: &str) -> Option<String> {
    let number = phonenumber::parse(country, text).ok()?;
    let formatted = number.format().mode(phonenumber::Mode::E164).to_string();
    formatted.strip_prefix('+').map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_ways_of_writing_one_number_agree() {
        for written in ["081234500001", "0812-3450-0001", "+62 812-3450-0001", "6281234500001", "(0812) 3450 0001"] {
            assert_eq!(international_in(written, Country::ID).as_deref(), Some("6281234500001"), "{written}");
        }
        assert_eq!(international_in("+62 (0)812 3450 0001", Country::ID).as_deref(), Some("6281234500001"));
        assert_eq!(international_in("012-345 6789", Country::MY).as_deref(), Some("60123456789"));
    }

    #[test]
    fn a_number_a_crm_holds_is_read_like_a_typed_one_and_a_short_one_kept() {
        assert_eq!(pulled("0812-3450-0001").as_deref(), international("0812-3450-0001").as_deref());
        assert_eq!(pulled("+62 813").as_deref(), Some("62813"));
        assert_eq!(pulled("ask reception"), None);
    }

    #[test]
    fn what_is_no_number_is_none() {
        for text in ["", "ask reception", "12", "0812abc", "+"] {
            assert_eq!(international_in(text, Country::ID), None, "{text:?}");
        }
    }
}
