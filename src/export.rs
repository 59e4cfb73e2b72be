//! CSV exports of leads, contacts, labels and the audit trail, written row
//! by row straight from the store (nothing is loaded whole into memory).
//! `GET /api/export/{what}.csv` streams them; `juru export` writes a file.

use std::io::Write;

use crate::crm::Contact;
use crate::crm::labels::{AppliedBy, Assignment};
use crate::runtime::audit::AuditRecord;
use crate::sales::lead::LeadRecord;
use crate::store::{Store, TreeName, decode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    Leads,
    Contacts,
    Labels,
    Audit,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("unknown export `{0}`: leads, contacts, labels or audit")]
    Unknown(String),
    /// The reader went away (`juru export … | head`): not a failure.
    #[error("the output was closed")]
    Closed,
    #[error(transparent)]
    Csv(csv::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl From<csv::Error> for ExportError {
    fn from(e: csv::Error) -> Self {
        match e.kind() {
            csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe => ExportError::Closed,
            _ => ExportError::Csv(e),
        }
    }
}

impl Export {
    /// `contacts` or `contacts.csv`.
    pub fn parse(name: &str) -> Result<Export, ExportError> {
        match name.trim_end_matches(".csv") {
            "leads" => Ok(Export::Leads),
            "contacts" => Ok(Export::Contacts),
            "labels" => Ok(Export::Labels),
            "audit" => Ok(Export::Audit),
            other => Err(ExportError::Unknown(other.to_string())),
        }
    }

    /// Writes the header and every row to `out`.
    pub fn write(self, store: &Store, out: impl Write) -> Result<u64, ExportError> {
        let mut csv = csv::Writer::from_writer(out);
        let mut rows = 0;
        let tree = match self {
            Export::Leads => store.read(TreeName::Leads),
            Export::Contacts => store.read(TreeName::Contacts),
            Export::Labels => store.read(TreeName::LabelAssignments),
            Export::Audit => store.read(TreeName::Messages),
        };
        csv.write_record(self.header())?;
        for entry in tree.iter() {
            let (_, value) = entry?;
            let row = match self {
                Export::Leads => decode::<LeadRecord>(&value).ok().map(|l| lead_row(&l)),
                Export::Contacts => decode::<Contact>(&value).ok().map(|c| contact_row(&c)),
                Export::Labels => decode::<Assignment>(&value).ok().map(|a| label_row(&a)),
                Export::Audit => decode::<AuditRecord>(&value).ok().map(|r| audit_row(&r)),
            };
            if let Some(row) = row {
                csv.write_record(&row)?;
                rows += 1;
            }
        }
        csv.flush().map_err(csv::Error::from)?;
        Ok(rows)
    }

    fn header(self) -> &'static [&'static str] {
        match self {
            Export::Leads => &[
                "phone",
                "name",
                "phase",
                "interested_package",
                "source",
                "handover_reason",
                "created_by",
                "created_at",
                "updated_at",
            ],
            Export::Contacts => &[
                "key",
                "phone",
                "name",
                "email",
                "first_seen_at",
                "last_seen_at",
                "messages",
                "source_method",
                "campaign",
                "current_stage",
                "customer_group",
                "segment",
                "pic_owner",
                "labels",
                "whatsapp_opt_in",
                "first_message",
            ],
            Export::Labels => {
                &["contact", "label_id", "label", "applied_by_kind", "applied_by", "applied_at", "detected"]
            }
            Export::Audit => &[
                "chat",
                "seq",
                "at",
                "direction",
                "kind",
                "text",
                "url",
                "route",
                "phase",
                "prompt_version",
                "status",
                "error",
            ],
        }
    }
}

/// RFC 3339 UTC, as spreadsheets read it.
fn time(ms: u64) -> String {
    let secs = ms / 1000;
    let (y, m, d) = crate::clock::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

fn lead_row(l: &LeadRecord) -> Vec<String> {
    vec![
        l.phone.clone(),
        opt(&l.name),
        l.phase.clone(),
        opt(&l.interested_package),
        opt(&l.source),
        opt(&l.handover_reason),
        l.created_by.clone(),
        time(l.created_ms),
        time(l.updated_ms),
    ]
}

fn contact_row(c: &Contact) -> Vec<String> {
    vec![
        c.key.clone(),
        opt(&c.phone),
        opt(&c.name),
        opt(&c.email),
        time(c.first_seen_ms),
        time(c.last_seen_ms),
        c.messages.to_string(),
        c.source_method.as_str().to_string(),
        c.campaign().unwrap_or_default().to_string(),
        c.current_stage.as_str().to_string(),
        c.customer_group.map(|g| crate::crm::contact::name_of(&g)).unwrap_or_default(),
        c.segment.map(|s| crate::crm::contact::name_of(&s)).unwrap_or_default(),
        opt(&c.pic_owner),
        c.labels.join("; "),
        c.whatsapp_opt_in.to_string(),
        opt(&c.first_message),
    ]
}

fn label_row(a: &Assignment) -> Vec<String> {
    let (kind, by) = match &a.applied_by {
        AppliedBy::WhatsappAccount { session, number } => {
            ("whatsapp_account", format!("{session}{}", number.as_ref().map(|n| format!(":{n}")).unwrap_or_default()))
        }
        AppliedBy::Staff { id } => ("staff", id.clone()),
    };
    let detected =
        serde_json::to_value(a.detected).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    vec![a.contact.clone(), a.label_id.clone(), a.label_name.clone(), kind.into(), by, time(a.applied_at_ms), detected]
}

fn audit_row(r: &AuditRecord) -> Vec<String> {
    let direction =
        serde_json::to_value(&r.direction).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    vec![
        r.chat.clone(),
        r.seq.to_string(),
        time(r.at_ms),
        direction,
        r.kind.clone(),
        opt(&r.text),
        opt(&r.url),
        opt(&r.route),
        opt(&r.phase),
        opt(&r.prompt_version),
        opt(&r.status),
        opt(&r.error),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(time(1_795_402_800_000), "2026-11-23T03:00:00Z");
    }

    #[test]
    fn a_contacts_export_quotes_what_needs_quoting() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut c = Contact::new("6281234567890", crate::channel::Channel::Waha, 1_795_402_800_000);
        c.name = Some("Budi, \"Pak\"".into());
        c.labels = vec!["Grade A".into(), "Hot".into()];
        let put = crate::store::Write::Put(TreeName::Contacts, b"6281234567890".to_vec(), crate::store::encode(&c));
        store.commit.submit(vec![put]).blocking_recv().unwrap().unwrap();
        let mut out = Vec::new();
        assert_eq!(Export::parse("contacts.csv").unwrap().write(&store, &mut out).unwrap(), 1);
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        assert!(lines.next().unwrap().starts_with("key,phone,name,email,first_seen_at"));
        let row = lines.next().unwrap();
        assert!(row.starts_with("6281234567890,6281234567890,\"Budi, \"\"Pak\"\"\",,2026-11-23T03:00:00Z"), "{row}");
        assert!(row.contains("Grade A; Hot"));
        assert!(Export::parse("secrets").is_err());
    }
}
