//! Phone numbers and chat ids, validated once. Gateways and the store hold
//! international digits ([`Phone::parse`]); what a person types is read as
//! they type it ([`Phone::typed`]: `0812-3450-0001`, `+62 812 3450 0001`,
//! `6281234500001`), a national number (leading `0`) in the default country
//! (`[bot] default_country`, Indonesia unless set).

use serde::{Deserialize, Serialize};

use crate::phone::{self, Country};

/// International phone digits without `+` (`6281234567890`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    /// Sets the country of national numbers (`ID`, `MY`, `SG`, …), from config at start.
    pub fn set_default_country(code: &str) -> Result<(), String> {
        phone::set_default_country(code)
    }

    /// A two-letter country code (ISO 3166-1 alpha-2, as `[bot] default_country` takes it).
    pub fn parse_country(code: &str) -> Result<Country, String> {
        phone::parse_country(code)
    }

    /// International digits as gateways send them (`6281234567890`, `+62 812-…`).
    pub fn parse(s: &str) -> Option<Phone> {
        let digits: String = s.trim().trim_start_matches('+').chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        phone::is_digits(&digits).then_some(Phone(digits))
    }

    /// A number as people type it (`#crm` arguments, the admin API, `juru
    /// chat --from`, config); `None` when it is none.
    pub fn typed(s: &str) -> Option<Phone> {
        phone::international(s).map(Phone)
    }

    /// Like [`Phone::typed`], national numbers read in `country`.
    pub fn typed_in(s: &str, country: Country) -> Option<Phone> {
        phone::international_in(s, country).map(Phone)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Phone {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Phone::parse(&s).ok_or_else(|| format!("`{s}` is not a phone number"))
    }
}

impl From<Phone> for String {
    fn from(p: Phone) -> String {
        p.0
    }
}

impl std::fmt::Display for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A WhatsApp conversation partner.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum ChatId {
    /// A person known by phone number.
    Phone(Phone),
    /// A person known only by WhatsApp's linked id (`176369157804064@lid`).
    /// Its digits are NOT a phone number.
    Lid(String),
    /// A group (`120363041234567890@g.us`, or a Cloud API group id).
    Group(String),
    /// A person known only by their business-scoped user id (Cloud API
    /// BSUID, `ID.1234567890123456`): users with a WhatsApp username may
    /// expose no phone number at all. Never read as a phone number.
    User(String),
}

impl ChatId {
    /// Reads a WhatsApp JID (`628…@c.us`, `628…:12@s.whatsapp.net`, `…@lid`, `…@g.us`).
    /// Broadcasts, channels and anything else are `None`.
    pub fn from_jid(jid: &str) -> Option<ChatId> {
        let (user, server) = jid.trim().split_once('@')?;
        if user.is_empty() || !user.bytes().all(|b| b.is_ascii_alphanumeric() || b == b':' || b == b'-' || b == b'.') {
            return None;
        }
        match server {
            "c.us" | "s.whatsapp.net" => {
                // Strip a device suffix (`628…:12@s.whatsapp.net`).
                let user = user.split(':').next().unwrap_or(user);
                Phone::parse(user).map(ChatId::Phone)
            }
            "lid" => Some(ChatId::Lid(format!("{}@lid", user.split(':').next().unwrap_or(user)))),
            "g.us" => Some(ChatId::Group(format!("{user}@g.us"))),
            _ => None,
        }
    }

    /// What operators type: a JID, or a phone number in any usual form (`+62 812-…`, `0812…`).
    pub fn parse(s: &str) -> Option<ChatId> {
        ChatId::from_jid(s).or_else(|| Phone::typed(s).map(ChatId::Phone))
    }

    /// A business-scoped user id as Meta sends it (`CC.` + up to 128
    /// alphanumerics, `CC.ENT.…` for a parent id; `user.…` in examples).
    pub fn user(id: &str) -> Option<ChatId> {
        let id = id.trim();
        let (prefix, rest) = id.split_once('.')?;
        let well_formed = !prefix.is_empty()
            && prefix.bytes().all(|b| b.is_ascii_alphabetic())
            && !rest.is_empty()
            && id.len() <= 140
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.');
        well_formed.then(|| ChatId::User(id.to_string()))
    }

    /// The stable key used in storage and lanes: digits, the full JID, or the user id.
    pub fn key(&self) -> String {
        match self {
            ChatId::Phone(p) => p.as_str().to_string(),
            ChatId::Lid(l) | ChatId::Group(l) | ChatId::User(l) => l.clone(),
        }
    }

    /// The JID a gateway expects (`628…@c.us`).
    pub fn jid(&self) -> String {
        match self {
            ChatId::Phone(p) => format!("{p}@c.us"),
            ChatId::Lid(l) | ChatId::Group(l) | ChatId::User(l) => l.clone(),
        }
    }

    /// The dashboard playground's test chat `name` (`playground-NAME@lid`).
    pub fn playground(name: &str) -> ChatId {
        ChatId::Lid(format!("playground-{name}@lid"))
    }

    /// A test chat of the dashboard playground: kept out of the CRM and analytics.
    pub fn is_playground(&self) -> bool {
        matches!(self, ChatId::Lid(l) if l.starts_with("playground-"))
    }

    pub fn is_group(&self) -> bool {
        matches!(self, ChatId::Group(_))
    }

    pub fn phone(&self) -> Option<&Phone> {
        match self {
            ChatId::Phone(p) => Some(p),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jids_are_read_by_kind() {
        assert_eq!(ChatId::from_jid("6281234567890@c.us").unwrap().key(), "6281234567890");
        assert_eq!(ChatId::from_jid("6285712345678:12@s.whatsapp.net").unwrap().key(), "6285712345678");
        assert_eq!(ChatId::from_jid("176369157804064@lid"), Some(ChatId::Lid("176369157804064@lid".into())));
        assert!(ChatId::from_jid("120363041234567890@g.us").unwrap().is_group());
        assert_eq!(ChatId::from_jid("status@broadcast"), None);
        assert_eq!(ChatId::from_jid("123@newsletter"), None);
        assert_eq!(ChatId::from_jid("no-at-sign"), None);
    }

    #[test]
    fn a_user_id_is_its_own_kind_never_a_phone_number() {
        let user = ChatId::user("ID.13491208655302741918").unwrap();
        assert_eq!(user.key(), "ID.13491208655302741918");
        assert_eq!(user.phone(), None);
        assert!(ChatId::user("US.ENT.11815799212886844830").is_some());
        assert_eq!(ChatId::user("6281234567890"), None);
        assert_eq!(ChatId::user(""), None);
        assert_eq!(ChatId::user("ID."), None);
        assert_eq!(ChatId::user("ID.12 34"), None);
    }

    #[test]
    fn the_ways_people_type_one_number_are_the_same_phone() {
        let forms = ["081234500001", "+62 812-3450-0001", "6281234500001", "0812 3450 0001", "+62 (0)812 3450 0001"];
        for form in forms {
            assert_eq!(
                Phone::typed_in(form, Country::ID).map(String::from).as_deref(),
                Some("6281234500001"),
                "{form}"
            );
        }
        assert_eq!(Phone::typed_in("012-345 6789", Country::MY).unwrap().as_str(), "60123456789");
        assert_eq!(Phone::typed_in("0044 20 7946 0958", Country::ID).unwrap().as_str(), "442079460958");
        assert_eq!(Phone::typed("not a number"), None);
        assert_eq!(Phone::typed("0"), None);
        // What a gateway sends is kept as it is.
        assert_eq!(Phone::parse("0123456").unwrap().as_str(), "0123456");
        assert_eq!(ChatId::parse("0812 3450 0001").unwrap().key(), "6281234500001");
        assert!(Phone::parse_country("xx").is_err() && Phone::parse_country("sg").is_ok());
    }

    #[test]
    fn a_lid_is_never_read_as_a_phone_number() {
        let lid = ChatId::from_jid("176369157804064@lid").unwrap();
        assert_eq!(lid.phone(), None);
        assert_eq!(lid.key(), "176369157804064@lid");
    }
}
