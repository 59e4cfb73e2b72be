//! Values every vendor fills the same way, whatever its field is called:
//! an activity's subject and description, the owner's field mapping, dates
//! and times as CRMs write them, and what a pulled record's name and amount
//! mean. One place, so Salesforce, Zoho, Freshsales and Dynamics agree.

use serde_json::Value;

use crate::crm::activity::{Activity, ActivityType};
use crate::crm::contact::Contact;
use crate::crm::settings::FieldMapping;

/// At most `max` characters (vendors count characters, not bytes).
pub fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// An activity's kind as a task's title.
pub fn activity_title(kind: ActivityType) -> &'static str {
    match kind {
        ActivityType::Call => "Call",
        ActivityType::WhatsappFollowUp => "WhatsApp follow-up",
        ActivityType::Meeting => "Meeting",
        ActivityType::Visit => "Visit",
        ActivityType::Email => "Email",
        ActivityType::Inquiry => "Inquiry",
        ActivityType::Complaint => "Complaint",
        ActivityType::Support => "Support",
        ActivityType::AiConversation => "AI conversation",
        ActivityType::AiHandover => "AI handover",
        ActivityType::NurtureMessage => "Nurture message",
        ActivityType::StageChange => "Stage change",
        ActivityType::LabelChange => "Label change",
    }
}

/// `WhatsApp follow-up: interested`: the kind, and the outcome when there is one.
pub fn activity_subject(a: &Activity) -> String {
    let title = activity_title(a.kind);
    match a.outcome.map(|o| crate::crm::contact::name_of(&o).replace('_', " ")) {
        Some(o) => format!("{title}: {o}"),
        None => title.to_string(),
    }
}

/// A task's description: the notes, the next action and who logged it
/// where, one a line; `tail` ends the last line (a vendor's marker).
pub fn activity_description(a: &Activity, tail: Option<&str>) -> String {
    let mut lines: Vec<String> = a.notes.iter().cloned().collect();
    if let Some(next) = &a.next_action {
        let when = a.next_action_date.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
        lines.push(format!("Next: {next}{when}"));
    }
    let by = format!("By {} via {}", a.by, a.source);
    lines.push(match tail {
        Some(tail) => format!("{by} {tail}"),
        None => by,
    });
    lines.join("\n")
}

/// The owner's field mapping applied to a contact: (vendor field, value)
/// for every mapped field the contact has. Lists become `a;b` (a vendor's
/// multi-select form); nested objects are not mapped.
pub fn mapped_values<'m>(c: &Contact, mapping: &'m FieldMapping) -> Vec<(&'m String, Value)> {
    if mapping.is_empty() {
        return Vec::new();
    }
    let Ok(Value::Object(local)) = serde_json::to_value(c) else { return Vec::new() };
    let mut out = Vec::with_capacity(mapping.len());
    for (from, to) in mapping {
        let value = match local.get(from) {
            None | Some(Value::Object(_)) => continue,
            Some(Value::Array(items)) => {
                Value::String(items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(";"))
            }
            Some(v) => v.clone(),
        };
        out.push((to, value));
    }
    out
}

/// `YYYY-MM-DD` in the business's time zone: a CRM date has no zone, and
/// the day is the one the users live in.
pub fn local_date(ms: u64) -> String {
    crate::clock::date_of_day(crate::clock::local_day(ms))
}

/// `2026-11-23T03:00:00` in UTC, whole seconds, without a zone: the vendor
/// adds its own way of saying UTC (`Z`, `+00:00`).
pub fn utc_seconds(ms: u64) -> String {
    let (y, m, d) = crate::clock::civil_from_days((ms / 86_400_000) as i64);
    let rem = ms % 86_400_000;
    let (h, min, s) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}")
}

/// A pulled record's name, unless it is only its phone number: a contact
/// pushed without a name carries its phone there (and someone may have
/// retyped it nationally, `0812-…`), and that is no name.
pub fn pulled_name(name: Option<String>, phone: Option<&str>) -> Option<String> {
    name.filter(|n| n.chars().any(char::is_alphabetic) || phone != crate::phone::pulled(n).as_deref())
}

/// A pulled amount in whole rupiah; `None` when negative or not a number.
pub fn pulled_amount(amount: Option<f64>) -> Option<u64> {
    amount.filter(|a| a.is_finite() && *a >= 0.0).map(|a| a.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_utc_time_has_whole_seconds_and_no_zone() {
        assert_eq!(utc_seconds(1_764_000_000_123), "2025-11-24T16:00:00");
        assert_eq!(local_date(1_764_000_000_123), "2025-11-24", "23:00 in WIB");
    }

    #[test]
    fn a_name_that_is_only_the_phone_is_no_name() {
        let phone = Some("6281234567890");
        assert_eq!(pulled_name(Some("+6281234567890".into()), phone), None);
        assert_eq!(pulled_name(Some("0812-3456-7890".into()), phone), None, "written nationally");
        assert_eq!(pulled_name(Some("Budi".into()), phone).as_deref(), Some("Budi"));
        assert_eq!(pulled_name(Some("+6281200000000".into()), phone).as_deref(), Some("+6281200000000"));
        assert_eq!(pulled_amount(Some(-1.0)), None);
        assert_eq!(pulled_amount(Some(2.5e7)), Some(25_000_000));
    }
}
