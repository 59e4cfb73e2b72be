//! B2B structure (`companies` tree, keyed by id): a legal entity has brands,
//! a brand has locations. Deals attach to a brand or a location and inherit
//! the legal entity's group and segment; invoices go to the legal entity.

use serde::{Deserialize, Serialize};

use super::contact::{BusinessSegment, CustomerGroup};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompanyKind {
    LegalEntity,
    Brand,
    Location,
}

impl CompanyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CompanyKind::LegalEntity => "legal entity",
            CompanyKind::Brand => "brand",
            CompanyKind::Location => "location",
        }
    }

    /// The kind a parent must have.
    pub fn parent_kind(self) -> Option<CompanyKind> {
        match self {
            CompanyKind::LegalEntity => None,
            CompanyKind::Brand => Some(CompanyKind::LegalEntity),
            CompanyKind::Location => Some(CompanyKind::Brand),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Company {
    /// Lowercase slug of the name, unique across kinds.
    pub id: String,
    pub kind: CompanyKind,
    pub name: String,
    pub parent: Option<String>,
    /// Set on the legal entity; brands and locations inherit it.
    pub customer_group: Option<CustomerGroup>,
    pub segment: Option<BusinessSegment>,
    pub created_by: String,
    pub created_ms: u64,
}

/// `"Kopi Kita Senopati"` → `kopi-kita-senopati`.
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}
