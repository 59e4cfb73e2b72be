//! Deals (`deals` tree, keyed by id u64 BE) and their stage machine:
//! `lead → qualified → discovery → proposal → negotiation → won | lost → retention`.
//! Won and lost need a reason; retention only follows won; every change
//! records who made it and when.

use serde::{Deserialize, Serialize};

use super::contact::{BusinessSegment, CustomerGroup};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    #[default]
    Lead,
    Qualified,
    Discovery,
    Proposal,
    Negotiation,
    Won,
    Lost,
    Retention,
}

impl Stage {
    pub const ALL: [Stage; 8] = [
        Stage::Lead,
        Stage::Qualified,
        Stage::Discovery,
        Stage::Proposal,
        Stage::Negotiation,
        Stage::Won,
        Stage::Lost,
        Stage::Retention,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Lead => "lead",
            Stage::Qualified => "qualified",
            Stage::Discovery => "discovery",
            Stage::Proposal => "proposal",
            Stage::Negotiation => "negotiation",
            Stage::Won => "won",
            Stage::Lost => "lost",
            Stage::Retention => "retention",
        }
    }

    pub fn parse(text: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// Still being worked on.
    pub fn is_open(self) -> bool {
        !matches!(self, Stage::Won | Stage::Lost | Stage::Retention)
    }

    /// Win probability in percent, for the weighted pipeline: lead 10,
    /// qualified and discovery 25, proposal 50, negotiation 75, won and
    /// retention 100, lost 0.
    pub fn probability(self) -> u64 {
        match self {
            Stage::Lead => 10,
            Stage::Qualified | Stage::Discovery => 25,
            Stage::Proposal => 50,
            Stage::Negotiation => 75,
            Stage::Won | Stage::Retention => 100,
            Stage::Lost => 0,
        }
    }

    /// Whether `self → to` is allowed: open stages move freely among
    /// themselves and close as won or lost; won only goes on to retention;
    /// lost and retention are final.
    pub fn can_move_to(self, to: Stage) -> Result<(), MoveError> {
        match (self, to) {
            (from, to) if from == to => Err(MoveError::AlreadyIn(to)),
            (from, _) if from.is_open() && to != Stage::Retention => Ok(()),
            (_, Stage::Retention) if self == Stage::Won => Ok(()),
            (from, Stage::Retention) if from.is_open() => Err(MoveError::RetentionBeforeWon),
            (from, to) => Err(MoveError::Closed { from, to }),
        }
    }
}

/// Why a deal cannot move; the owner reads it in their language (`Texts::move_refused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    #[error("the deal is already in {}", .0.as_str())]
    AlreadyIn(Stage),
    #[error("retention comes only after won")]
    RetentionBeforeWon,
    #[error("the deal is {} and cannot move to {}", from.as_str(), to.as_str())]
    Closed { from: Stage, to: Stage },
    /// Won and lost are recorded with the reason why.
    #[error("a {} deal needs a reason (--reason \"…\")", .0.as_str())]
    NeedsReason(Stage),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageChange {
    pub from: Option<Stage>,
    pub to: Stage,
    pub by: String,
    pub at_ms: u64,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deal {
    pub id: u64,
    pub title: String,
    /// Value in rupiah.
    pub value: u64,
    pub stage: Stage,
    /// The contact (phone key) the deal is with.
    pub contact: Option<String>,
    /// The brand or location it attaches to (company id).
    pub company: Option<String>,
    /// Inherited from the company's legal entity when attached.
    pub customer_group: Option<CustomerGroup>,
    pub segment: Option<BusinessSegment>,
    /// Won or lost reason.
    pub reason: Option<String>,
    pub created_by: String,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub closed_ms: Option<u64>,
    pub history: Vec<StageChange>,
}

impl Deal {
    /// A deal at `stage` linked to nothing, without history, created and
    /// last updated at `at_ms`; callers fill in the rest with `..`.
    pub fn new(
        id: u64,
        title: impl Into<String>,
        value: u64,
        stage: Stage,
        created_by: impl Into<String>,
        at_ms: u64,
    ) -> Deal {
        Deal {
            id,
            title: title.into(),
            value,
            stage,
            contact: None,
            company: None,
            customer_group: None,
            segment: None,
            reason: None,
            created_by: created_by.into(),
            created_ms: at_ms,
            updated_ms: at_ms,
            closed_ms: None,
            history: Vec::new(),
        }
    }

    pub fn label(&self) -> String {
        format!("D{}", self.id)
    }

    /// Moves the deal, recording who and when. Won and lost need a reason.
    pub fn move_to(&mut self, to: Stage, by: &str, reason: Option<&str>, now_ms: u64) -> Result<(), MoveError> {
        self.stage.can_move_to(to)?;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if matches!(to, Stage::Won | Stage::Lost) && reason.is_none() {
            return Err(MoveError::NeedsReason(to));
        }
        self.history.push(StageChange {
            from: Some(self.stage),
            to,
            by: by.to_string(),
            at_ms: now_ms,
            reason: reason.map(str::to_string),
        });
        if matches!(to, Stage::Won | Stage::Lost) {
            self.reason = reason.map(str::to_string);
            self.closed_ms = Some(now_ms);
        }
        self.stage = to;
        self.updated_ms = now_ms;
        Ok(())
    }

    /// Weighted value: value × stage probability.
    pub fn weighted(&self) -> u64 {
        self.value / 100 * self.stage.probability() + self.value % 100 * self.stage.probability() / 100
    }

    /// The deal is or was won (retention follows a win).
    pub fn is_won(&self) -> bool {
        matches!(self.stage, Stage::Won | Stage::Retention)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deal() -> Deal {
        Deal::new(1, "Kopi Kita Senopati", 12_000_000, Stage::Lead, "628111", 0)
    }

    #[test]
    fn won_needs_a_reason_and_records_who_and_when() {
        let mut d = deal();
        assert_eq!(d.move_to(Stage::Won, "628111", None, 5).unwrap_err(), MoveError::NeedsReason(Stage::Won));
        d.move_to(Stage::Won, "628111", Some("best price"), 5).unwrap();
        assert_eq!(d.history.last().unwrap().by, "628111");
        assert_eq!(d.closed_ms, Some(5));
        assert_eq!(d.reason.as_deref(), Some("best price"));
    }

    #[test]
    fn retention_only_after_won_and_lost_is_final() {
        let mut d = deal();
        assert_eq!(d.move_to(Stage::Retention, "x", None, 1).unwrap_err(), MoveError::RetentionBeforeWon);
        d.move_to(Stage::Lost, "x", Some("budget"), 1).unwrap();
        assert!(d.move_to(Stage::Proposal, "x", None, 2).is_err());
        let mut d = deal();
        d.move_to(Stage::Won, "x", Some("ok"), 1).unwrap();
        d.move_to(Stage::Retention, "x", None, 2).unwrap();
        assert!(d.move_to(Stage::Lead, "x", None, 3).is_err());
    }

    #[test]
    fn weighted_value_follows_the_stage_probability() {
        let mut d = deal();
        assert_eq!(d.weighted(), 1_200_000);
        d.move_to(Stage::Negotiation, "x", None, 1).unwrap();
        assert_eq!(d.weighted(), 9_000_000);
    }
}
