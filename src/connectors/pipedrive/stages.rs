//! Our deal stages onto one Pipedrive pipeline's stages. Pipedrive keeps
//! won/lost as the deal's `status`, not as stages: a closed deal keeps the
//! stage it was in when it closed.

use crate::crm::deal::{Deal, Stage};

use super::wire::{Placement, StageItem};

/// Names a Pipedrive stage may carry for each of our open stages (the first
/// ones are ours, the rest Pipedrive's default pipeline).
const SYNONYMS: [(Stage, &[&str]); 5] = [
    (Stage::Lead, &["lead", "new", "lead in", "prospect"]),
    (Stage::Qualified, &["qualified", "contact made"]),
    (Stage::Discovery, &["discovery", "needs defined", "demo scheduled", "meeting"]),
    (Stage::Proposal, &["proposal", "proposal made", "quote", "quotation"]),
    (Stage::Negotiation, &["negotiation", "negotiations started", "negotiating"]),
];

/// The chosen pipeline and where each open stage of ours lands in it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageMap {
    pub pipeline_id: u64,
    pub pipeline_name: String,
    /// Pipedrive stages of the pipeline, in board order.
    pub stages: Vec<(u64, String)>,
    /// Our open stage → Pipedrive stage id (None: no match).
    pub open: Vec<(Stage, Option<u64>)>,
}

impl StageMap {
    /// Matches by name (case-insensitive, with synonyms), then by position
    /// among the pipeline's stages for the stages no name matched.
    pub fn build(pipeline_id: u64, pipeline_name: &str, mut items: Vec<StageItem>) -> StageMap {
        items.retain(|s| !s.is_deleted && s.pipeline_id == pipeline_id);
        items.sort_by_key(|s| (s.order_nr, s.id));
        let stages: Vec<(u64, String)> = items.iter().map(|s| (s.id, s.name.clone())).collect();
        let by_name = |stage: Stage, names: &[&str]| {
            let found = names.iter().find_map(|n| stages.iter().find(|(_, s)| s.trim().eq_ignore_ascii_case(n)));
            found.or_else(|| stages.iter().find(|(_, s)| s.to_lowercase().contains(stage.as_str()))).map(|(id, _)| *id)
        };
        let open = SYNONYMS
            .iter()
            .enumerate()
            .map(|(i, (stage, names))| (*stage, by_name(*stage, names).or(stages.get(i).map(|(id, _)| *id))))
            .collect();
        StageMap { pipeline_id, pipeline_name: pipeline_name.to_string(), stages, open }
    }

    pub fn stage_id(&self, stage: Stage) -> Option<u64> {
        self.open.iter().find(|(s, _)| *s == stage).and_then(|(_, id)| *id)
    }

    /// Our stage for a Pipedrive stage and status (pull, webhooks).
    pub fn local_stage(&self, stage_id: Option<u64>, status: Option<&str>) -> Option<Stage> {
        match status {
            Some("won") => return Some(Stage::Won),
            Some("lost") => return Some(Stage::Lost),
            _ => {}
        }
        let id = stage_id?;
        // Several of ours may share a stage (positional fill): the most advanced wins.
        self.open.iter().rev().find(|(_, s)| *s == Some(id)).map(|(stage, _)| *stage)
    }

    /// Where a deal goes. `Err` says which stage could not be placed and how to fix it.
    pub fn place(&self, deal: &Deal) -> Result<Placement, String> {
        let open = |stage: Stage| {
            self.stage_id(stage).ok_or_else(|| {
                format!(
                    "stage '{}' has no Pipedrive stage: pipeline '{}' has {} stage(s); add a stage named '{}' there, then retry",
                    stage.as_str(),
                    self.pipeline_name,
                    self.stages.len(),
                    stage.as_str()
                )
            })
        };
        if deal.stage.is_open() {
            return Ok(Placement { stage_id: Some(open(deal.stage)?), status: "open", lost_reason: None });
        }
        // Closed: keep the stage it closed from, so the board shows where it ended.
        let last_open = deal.history.iter().rev().find_map(|c| c.from.filter(|s| s.is_open()));
        let stage_id = last_open.and_then(|s| self.stage_id(s)).or(self.stages.last().map(|(id, _)| *id));
        let (status, lost_reason) = match deal.stage {
            Stage::Lost => ("lost", deal.reason.clone()),
            _ => ("won", None),
        };
        Ok(Placement { stage_id, status, lost_reason })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::deal::StageChange;

    fn item(id: u64, order: i64, name: &str) -> StageItem {
        StageItem { id, order_nr: order, name: name.into(), is_deleted: false, pipeline_id: 1 }
    }

    fn deal(stage: Stage) -> Deal {
        Deal::new(1, "t", 1, stage, "x", 0)
    }

    #[test]
    fn pipedrives_default_pipeline_maps_by_name_and_position() {
        let stages = vec![
            item(1, 1, "Qualified"),
            item(2, 2, "Contact Made"),
            item(3, 3, "Demo Scheduled"),
            item(4, 4, "Proposal Made"),
            item(5, 5, "Negotiations Started"),
        ];
        let map = StageMap::build(1, "Pipeline", stages);
        // Lead matches no name: it takes the first stage by position.
        let ids: Vec<_> = map.open.iter().map(|(_, id)| *id).collect();
        assert_eq!(ids, vec![Some(1), Some(1), Some(3), Some(4), Some(5)]);
    }

    #[test]
    fn our_own_stage_names_match_case_insensitively_in_any_order() {
        let stages = vec![item(9, 1, "LEAD"), item(8, 2, "Discovery"), item(7, 3, "qualified")];
        let map = StageMap::build(1, "Sales", stages);
        assert_eq!(map.stage_id(Stage::Qualified), Some(7));
        assert_eq!(map.stage_id(Stage::Discovery), Some(8));
        assert_eq!(map.stage_id(Stage::Negotiation), None);
        let err = map.place(&deal(Stage::Negotiation)).unwrap_err();
        assert!(err.contains("'negotiation'") && err.contains("Sales"), "{err}");
    }

    #[test]
    fn won_and_lost_are_a_status_keeping_the_last_open_stage() {
        let map = StageMap::build(1, "P", vec![item(1, 1, "Lead"), item(2, 2, "Proposal")]);
        let mut d = deal(Stage::Lost);
        d.reason = Some("budget".into());
        d.history.push(StageChange {
            from: Some(Stage::Lead),
            to: Stage::Lost,
            by: "x".into(),
            at_ms: 0,
            reason: None,
        });
        let p = map.place(&d).unwrap();
        assert_eq!((p.stage_id, p.status, p.lost_reason.as_deref()), (Some(1), "lost", Some("budget")));
        let p = map.place(&deal(Stage::Won)).unwrap();
        assert_eq!((p.stage_id, p.status), (Some(2), "won"));
        assert_eq!(map.local_stage(Some(1), Some("won")), Some(Stage::Won));
        assert_eq!(map.local_stage(Some(2), Some("open")), Some(Stage::Proposal));
    }
}
