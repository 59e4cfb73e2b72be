//! Contacts (`contacts` tree, keyed by phone digits or `lid:…`): everyone who
//! wrote to the business, with the CRM fields the users' field design names.

use serde::{Deserialize, Serialize};

use super::filter::{FieldKind, FieldValue, Fields};
use super::scoring::{ScoringRules, Signals};

/// The channel a contact wrote through, by name ("waha", "cloud",
/// "console"): the CRM records it and hands it back (a nurture step goes out
/// the way the contact came in) without knowing what it is (DESIGN.md: `crm`
/// knows no WhatsApp types). Stored as the bare name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChannelName(String);

impl ChannelName {
    pub fn new(name: &str) -> ChannelName {
        ChannelName(name.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The ad click that brought a contact (a click-to-WhatsApp referral), in
/// the CRM's own words; stored with the same fields as the gateways name them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AdReferral {
    pub source_url: Option<String>,
    pub source_id: Option<String>,
    pub source_type: Option<String>,
    pub headline: Option<String>,
    pub body: Option<String>,
    pub media_type: Option<String>,
    pub ctwa_clid: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CustomerGroup {
    B2B,
    B2C,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BusinessSegment {
    Cafe,
    Restaurant,
    Hotel,
    Office,
    Personal,
}

impl BusinessSegment {
    pub const ALL: [BusinessSegment; 5] = [Self::Cafe, Self::Restaurant, Self::Hotel, Self::Office, Self::Personal];

    /// The group a segment belongs to: Personal is B2C, the rest B2B.
    pub fn group(self) -> CustomerGroup {
        if self == Self::Personal { CustomerGroup::B2C } else { CustomerGroup::B2B }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SourceMethod {
    Canvassing,
    Event,
    CsoAcademy,
    Referral,
    MetaAds,
    #[default]
    Whatsapp,
}

impl SourceMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Canvassing => "canvassing",
            Self::Event => "event",
            Self::CsoAcademy => "cso_academy",
            Self::Referral => "referral",
            Self::MetaAds => "meta_ads",
            Self::Whatsapp => "whatsapp",
        }
    }

    pub const ALL: [SourceMethod; 6] =
        [Self::Canvassing, Self::Event, Self::CsoAcademy, Self::Referral, Self::MetaAds, Self::Whatsapp];
}

/// Serde's name of a unit variant (`MetaAds` → `meta_ads`), for replies and filters.
pub fn name_of<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// Parses a unit variant from its serde name, case-insensitively.
pub fn parse_variant<T: Serialize + Copy>(all: &[T], text: &str) -> Option<T> {
    all.iter().copied().find(|v| name_of(v).eq_ignore_ascii_case(text.trim()))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub key: String,
    pub phone: Option<String>,
    /// Their WhatsApp business-scoped user id, when the gateway names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Numbers and user ids they had before (a number change keeps the old one here).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    pub name: Option<String>,
    pub channel: ChannelName,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    pub messages: u64,
    /// The first ad click that brought them (Cloud API referral).
    pub referral: Option<AdReferral>,
    /// The first campaign code or ad id the sales conversation recorded.
    #[serde(default)]
    pub campaign_source: Option<String>,
    #[serde(default)]
    pub first_message: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub customer_group: Option<CustomerGroup>,
    #[serde(default)]
    pub segment: Option<BusinessSegment>,
    #[serde(default)]
    pub source_method: SourceMethod,
    #[serde(default)]
    pub source_app: Option<String>,
    /// The salesperson who owns the relationship.
    #[serde(default)]
    pub pic_owner: Option<String>,
    /// The stage of the contact's most advanced deal (`lead` until one exists).
    #[serde(default)]
    pub current_stage: super::deal::Stage,
    #[serde(default)]
    pub estimated_deal_value: Option<u64>,
    #[serde(default)]
    pub product_dimension: Vec<String>,
    #[serde(default)]
    pub whatsapp_opt_in: bool,
    #[serde(default)]
    pub email_opt_in: bool,
    #[serde(default)]
    pub preferred_channel: Option<String>,
    /// Last time the business wrote to them (a command, a nurture step).
    #[serde(default)]
    pub last_contacted_at_ms: Option<u64>,
    #[serde(default)]
    pub verified_business: bool,
    /// Active WhatsApp labels, by name.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Company link: a brand or location id (see `companies`).
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub signals: Signals,
    /// Lowercase name, phone, email, campaign and PIC, for `contacts search`
    /// (filled by the CRM index, never stored).
    #[serde(skip)]
    pub search_text: String,
}

/// What the runtime knows of one inbound message, for the contact it comes from.
#[derive(Debug, Clone)]
pub struct Touch {
    pub key: String,
    pub phone: Option<String>,
    /// The business-scoped user id the message came with, if any.
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub channel: ChannelName,
    pub referral: Option<AdReferral>,
    pub text: Option<String>,
    /// A button, location, contact card or document: a bot feature used.
    pub feature_used: bool,
    pub campaign_source: Option<String>,
    pub now_ms: u64,
    /// `[crm] inbound_opt_in`: writing first counts as WhatsApp opt-in.
    pub opt_in: bool,
}

impl Contact {
    pub fn new(key: &str, channel: impl Into<ChannelName>, now_ms: u64) -> Contact {
        Contact {
            key: key.to_string(),
            phone: key.bytes().all(|b| b.is_ascii_digit()).then(|| key.to_string()),
            user_id: None,
            aliases: Vec::new(),
            name: None,
            channel: channel.into(),
            first_seen_ms: now_ms,
            last_seen_ms: now_ms,
            messages: 0,
            referral: None,
            campaign_source: None,
            first_message: None,
            email: None,
            customer_group: None,
            segment: None,
            source_method: SourceMethod::Whatsapp,
            source_app: None,
            pic_owner: None,
            current_stage: super::deal::Stage::Lead,
            estimated_deal_value: None,
            product_dimension: Vec::new(),
            whatsapp_opt_in: false,
            email_opt_in: false,
            preferred_channel: None,
            last_contacted_at_ms: None,
            verified_business: false,
            labels: Vec::new(),
            company: None,
            signals: Signals::default(),
            search_text: String::new(),
        }
    }

    /// Prepares `search_text`; the index calls it on every contact it holds.
    pub fn indexed(mut self) -> Contact {
        let fields = [
            self.name.as_deref(),
            self.phone.as_deref(),
            self.email.as_deref(),
            self.campaign(),
            self.pic_owner.as_deref(),
        ];
        self.search_text = fields.into_iter().flatten().collect::<Vec<_>>().join("\u{1f}").to_lowercase();
        self
    }

    /// The contact after one more inbound message: a new contact is a lead
    /// from WhatsApp with its first message and first-contact time.
    pub fn touched(existing: Option<Contact>, touch: &Touch) -> Contact {
        let mut c = existing.unwrap_or_else(|| {
            let mut c = Contact::new(&touch.key, touch.channel.clone(), touch.now_ms);
            c.phone = touch.phone.clone().or(c.phone);
            c.first_message = touch.text.as_ref().map(|t| t.chars().take(500).collect());
            c.whatsapp_opt_in = touch.opt_in;
            c.preferred_channel = Some("whatsapp".into());
            if touch.referral.is_some() {
                c.source_method = SourceMethod::MetaAds;
            }
            c
        });
        c.signals.observe(c.last_seen_ms, c.messages, touch);
        c.messages += 1;
        c.last_seen_ms = touch.now_ms;
        if let Some(name) = &touch.name {
            c.name = Some(name.clone());
        }
        if touch.user_id.is_some() {
            c.user_id = touch.user_id.clone();
        }
        if c.referral.is_none() {
            c.referral = touch.referral.clone();
        }
        if c.campaign_source.is_none() {
            c.campaign_source = touch.campaign_source.clone();
        }
        if c.campaign_source.is_some() && c.source_method == SourceMethod::Whatsapp {
            c.source_method = SourceMethod::MetaAds;
        }
        c
    }

    /// The contact under its new identifiers; what it was known by before
    /// is kept in `aliases`.
    pub fn renamed(mut self, key: &str, phone: Option<&str>, user_id: Option<&str>) -> Contact {
        let before = [self.phone.clone(), self.user_id.clone(), Some(self.key.clone())];
        self.key = key.to_string();
        if let Some(phone) = phone {
            self.phone = Some(phone.to_string());
        }
        if let Some(user_id) = user_id {
            self.user_id = Some(user_id.to_string());
        }
        let current = [self.phone.clone(), self.user_id.clone(), Some(self.key.clone())];
        for old in before.into_iter().flatten() {
            if !current.contains(&Some(old.clone())) && !self.aliases.contains(&old) {
                self.aliases.push(old);
            }
        }
        self
    }

    pub fn display_name(&self) -> &str {
        self.name.as_deref().or(self.phone.as_deref()).unwrap_or(&self.key)
    }

    /// Campaign code, ad id or ad headline that brought them, if any.
    pub fn campaign(&self) -> Option<&str> {
        self.campaign_source
            .as_deref()
            .or_else(|| self.referral.as_ref().and_then(|r| r.source_id.as_deref().or(r.headline.as_deref())))
    }

    pub fn score(&self, rules: &ScoringRules) -> i64 {
        rules.score(self)
    }

    /// Still in the funnel: no deal won, lost or in retention yet.
    pub fn is_lead(&self) -> bool {
        self.current_stage.is_open()
    }

    /// Sets one field from text (`#crm contacts set PHONE FIELD VALUE`).
    pub fn set_field(&mut self, field: &str, value: &str) -> Result<(), FieldError> {
        let text = || (!value.trim().is_empty() && value.trim() != "-").then(|| value.trim().to_string());
        let flag = || match value.trim().to_lowercase().as_str() {
            "true" | "yes" | "ya" | "on" | "1" => Ok(true),
            "false" | "no" | "tidak" | "off" | "0" => Ok(false),
            other => Err(FieldError::NotYesNo { field: field.to_string(), value: other.to_string() }),
        };
        match field {
            "name" => self.name = text(),
            "email" => {
                let email = text();
                if email.as_deref().is_some_and(|e| !e.contains('@') || e.contains(char::is_whitespace)) {
                    return Err(FieldError::NotEmail(value.to_string()));
                }
                self.email = email;
            }
            "customer_group" => {
                self.customer_group = match value.trim().to_uppercase().as_str() {
                    "B2B" => Some(CustomerGroup::B2B),
                    "B2C" => Some(CustomerGroup::B2C),
                    "-" | "" => None,
                    _ => return Err(FieldError::CustomerGroup),
                }
            }
            "segment" => {
                let segment = parse_variant(&BusinessSegment::ALL, value).ok_or(FieldError::Segment)?;
                self.segment = Some(segment);
                self.customer_group = Some(segment.group());
            }
            "source_method" => {
                self.source_method = parse_variant(&SourceMethod::ALL, value).ok_or(FieldError::SourceMethod)?
            }
            "source_app" => self.source_app = text(),
            "pic_owner" => self.pic_owner = text(),
            "estimated_deal_value" => {
                self.estimated_deal_value = match text() {
                    None => None,
                    Some(t) => Some(super::parse_money(&t).ok_or(FieldError::NotRupiah(t))?),
                }
            }
            "product_dimension" => {
                self.product_dimension =
                    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
            }
            "whatsapp_opt_in" => self.whatsapp_opt_in = flag()?,
            "email_opt_in" => self.email_opt_in = flag()?,
            "preferred_channel" => self.preferred_channel = text(),
            "verified_business" => self.verified_business = flag()?,
            _ => {
                return Err(FieldError::NotSettable { field: field.to_string() });
            }
        }
        Ok(())
    }
}

/// Fields an owner may set with `#crm contacts set`.
/// Why `#crm contacts set` refused a value; the owner reads it in their
/// language (`Texts::field_refused`). The English text is for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("{field} is yes or no, not \"{value}\"")]
    NotYesNo { field: String, value: String },
    #[error("\"{0}\" is not an email address")]
    NotEmail(String),
    #[error("customer_group is B2B or B2C")]
    CustomerGroup,
    #[error("segment is one of Cafe, Restaurant, Hotel, Office (B2B) or Personal (B2C)")]
    Segment,
    #[error("source_method is one of canvassing, event, cso_academy, referral, meta_ads, whatsapp")]
    SourceMethod,
    #[error("\"{0}\" is not an amount in rupiah")]
    NotRupiah(String),
    #[error("{field} cannot be set; settable fields: {}", SETTABLE_FIELDS.join(", "))]
    NotSettable { field: String },
}

pub const SETTABLE_FIELDS: [&str; 13] = [
    "name",
    "email",
    "customer_group",
    "segment",
    "source_method",
    "source_app",
    "pic_owner",
    "estimated_deal_value",
    "product_dimension",
    "whatsapp_opt_in",
    "email_opt_in",
    "preferred_channel",
    "verified_business",
];

/// Every local field: the segment filter language and field mappings name these.
pub const LOCAL_FIELDS: [(&str, FieldKind); 22] = [
    ("name", FieldKind::Text),
    ("phone", FieldKind::Text),
    ("email", FieldKind::Text),
    ("customer_group", FieldKind::Text),
    ("segment", FieldKind::Text),
    ("source_method", FieldKind::Text),
    ("source_app", FieldKind::Text),
    ("pic_owner", FieldKind::Text),
    ("current_stage", FieldKind::Text),
    ("estimated_deal_value", FieldKind::Number),
    ("product_dimension", FieldKind::TextList),
    ("whatsapp_opt_in", FieldKind::Bool),
    ("email_opt_in", FieldKind::Bool),
    ("preferred_channel", FieldKind::Text),
    ("verified_business", FieldKind::Bool),
    ("campaign", FieldKind::Text),
    ("label", FieldKind::TextList),
    ("lead_score", FieldKind::Number),
    ("messages", FieldKind::Number),
    ("first_message", FieldKind::Text),
    ("days_since_last_message", FieldKind::Number),
    ("days_since_first_contact", FieldKind::Number),
];

/// A contact seen through the scoring rules and the clock, as filters read it.
pub struct Scored<'a> {
    pub contact: &'a Contact,
    pub rules: &'a ScoringRules,
    pub now_ms: u64,
    /// Serde names of the enum fields, computed once per contact.
    names: [Option<&'static str>; 4],
}

impl<'a> Scored<'a> {
    pub fn new(contact: &'a Contact, rules: &'a ScoringRules, now_ms: u64) -> Scored<'a> {
        let group = contact.customer_group.map(|g| match g {
            CustomerGroup::B2B => "B2B",
            CustomerGroup::B2C => "B2C",
        });
        let segment = contact.segment.map(|s| match s {
            BusinessSegment::Cafe => "Cafe",
            BusinessSegment::Restaurant => "Restaurant",
            BusinessSegment::Hotel => "Hotel",
            BusinessSegment::Office => "Office",
            BusinessSegment::Personal => "Personal",
        });
        let source = Some(contact.source_method.as_str());
        Scored { contact, rules, now_ms, names: [group, segment, source, Some(contact.current_stage.as_str())] }
    }
}

impl Fields for Scored<'_> {
    fn field(&self, name: &str) -> FieldValue<'_> {
        let c = self.contact;
        let days = |ms: u64| FieldValue::Number(self.now_ms.saturating_sub(ms) as f64 / 86_400_000.0);
        match name {
            "name" => FieldValue::Text(c.name.as_deref()),
            "phone" => FieldValue::Text(c.phone.as_deref()),
            "email" => FieldValue::Text(c.email.as_deref()),
            "customer_group" => FieldValue::Text(self.names[0]),
            "segment" => FieldValue::Text(self.names[1]),
            "source_method" => FieldValue::Text(self.names[2]),
            "current_stage" => FieldValue::Text(self.names[3]),
            "source_app" => FieldValue::Text(c.source_app.as_deref()),
            "pic_owner" => FieldValue::Text(c.pic_owner.as_deref()),
            "estimated_deal_value" => FieldValue::Number(c.estimated_deal_value.unwrap_or(0) as f64),
            "product_dimension" => FieldValue::List(&c.product_dimension),
            "whatsapp_opt_in" => FieldValue::Bool(c.whatsapp_opt_in),
            "email_opt_in" => FieldValue::Bool(c.email_opt_in),
            "preferred_channel" => FieldValue::Text(c.preferred_channel.as_deref()),
            "verified_business" => FieldValue::Bool(c.verified_business),
            "campaign" => FieldValue::Text(c.campaign()),
            "label" => FieldValue::List(&c.labels),
            "lead_score" => FieldValue::Number(self.rules.score(c) as f64),
            "messages" => FieldValue::Number(c.messages as f64),
            "first_message" => FieldValue::Text(c.first_message.as_deref()),
            "days_since_last_message" => days(c.last_seen_ms),
            "days_since_first_contact" => days(c.first_seen_ms),
            _ => FieldValue::Text(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Contacts stored before the CRM had its own words for the channel and
    /// the ad referral read back unchanged and are written the same way.
    #[test]
    fn contacts_stored_with_the_gateway_types_read_back_unchanged() {
        let stored = r#"{"key":"6281234567890","phone":"6281234567890","name":"Budi","channel":"cloud",
            "first_seen_ms":1,"last_seen_ms":2,"messages":3,
            "referral":{"source_url":"https://fb.me/x","source_id":"120","source_type":"ad","headline":"Umroh",
            "body":null,"media_type":"image","ctwa_clid":"ARA"}}"#;
        let contact: Contact = serde_json::from_str(stored).unwrap();
        assert_eq!(contact.channel.as_str(), "cloud");
        assert_eq!(contact.referral.as_ref().and_then(|r| r.ctwa_clid.as_deref()), Some("ARA"));
        let written = serde_json::to_value(&contact).unwrap();
        assert_eq!(written["channel"], "cloud");
        assert_eq!(written["referral"]["source_id"], "120");
        assert_eq!(written["referral"]["headline"], "Umroh");
    }
}
