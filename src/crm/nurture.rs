//! Segments and nurture sequences. A sequence is a list of steps, each sent
//! N days after the contact was started on it. Enrollments are keyed by the
//! time their next step is due, so the scheduler reads only what is due.

use serde::{Deserialize, Serialize};

use super::contact::ChannelName;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub name: String,
    /// The filter's source text (re-parsed on load).
    pub filter: String,
    pub created_by: String,
    pub created_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub day: u32,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sequence {
    pub name: String,
    /// Ordered by day.
    pub steps: Vec<Step>,
    pub created_by: String,
    pub created_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrollment {
    pub sequence: String,
    pub contact: String,
    pub channel: ChannelName,
    /// Index of the next step to send.
    pub step: usize,
    pub started_ms: u64,
    pub by: String,
}

/// `due_ms BE ++ sequence \0 contact`.
pub fn enrollment_key(due_ms: u64, sequence: &str, contact: &str) -> Vec<u8> {
    let mut k = due_ms.to_be_bytes().to_vec();
    k.extend_from_slice(&crate::store::key2(&sequence.to_lowercase(), contact));
    k
}

/// The due time encoded in an enrollment key.
pub fn due_of(key: &[u8]) -> u64 {
    key.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes).unwrap_or(0)
}

/// `STOP` or `BERHENTI` (any case, surrounding punctuation ignored): the contact opts out.
pub fn is_opt_out(text: &str) -> bool {
    let word = text.trim().trim_matches(|c: char| !c.is_alphanumeric());
    ["stop", "berhenti", "unsubscribe"].iter().any(|w| word.eq_ignore_ascii_case(w))
}
