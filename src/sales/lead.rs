//! The lead record created when a prospect reaches booking (`leads` tree,
//! keyed by chat key): what an admin needs to close the sale.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadRecord {
    /// Phone digits (or the LID when unresolved).
    pub phone: String,
    pub name: Option<String>,
    pub phase: String,
    pub interested_package: Option<String>,
    pub conversation_summary: String,
    /// Campaign code or click-to-WhatsApp ad id that brought the prospect.
    pub source: Option<String>,
    pub ai_confidence: Option<f64>,
    pub handover_reason: Option<String>,
    /// A transfer receipt the prospect sent (gateway media URL).
    pub receipt_url: Option<String>,
    pub notes: Option<String>,
    /// `bot` or who created it through the API.
    pub created_by: String,
    pub created_ms: u64,
    pub updated_ms: u64,
}

impl LeadRecord {
    /// Merges a newer view of the same lead: keeps what the newer one lacks.
    pub fn merged_over(mut self, older: Option<LeadRecord>) -> LeadRecord {
        if let Some(old) = older {
            self.created_ms = old.created_ms;
            self.created_by = old.created_by;
            self.name = self.name.or(old.name);
            self.interested_package = self.interested_package.or(old.interested_package);
            self.source = self.source.or(old.source);
            self.receipt_url = self.receipt_url.or(old.receipt_url);
            self.notes = self.notes.or(old.notes);
            self.ai_confidence = self.ai_confidence.or(old.ai_confidence);
        }
        self
    }
}
