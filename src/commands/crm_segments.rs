//! `#crm lead-score configure` and `#crm segment`.

use super::args::{Args, FlagSpec};
use super::crm::split_first;
use super::crm_contacts::top;
use super::format::bullets;
use super::{CommandError, Ctx, ForSub};
use crate::crm::contact::LOCAL_FIELDS;
use crate::crm::filter::Filter;
use crate::crm::{Scored, Segment};
use crate::texts::Texts;

pub fn lead_score(ctx: &mut Ctx<'_>, args: &str) -> Result<String, CommandError> {
    let t = ctx.t();
    let (word, rest) = split_first(args);
    // `configure` is optional: `lead-score show` works too.
    let (action, rest) = if word == "configure" { split_first(rest) } else { (word, rest) };
    let mut rules = ctx.crm.read().rules.clone();
    match action.as_str() {
        "" | "show" => {
            let lines = rules.describe().into_iter().map(|(k, v)| format!("{k} = {v}"));
            Ok(t.scoring_rules(&bullets(t, lines, 20, 0), &ctx.command()))
        }
        "set" => {
            let args = Args::parse(rest, &[]).for_sub("lead-score")?;
            let key = args.required(0, "KEY").for_sub("lead-score")?;
            let value = args.required(1, "VALUE").for_sub("lead-score")?;
            args.at_most(2).for_sub("lead-score")?;
            rules.set(key, value).map_err(|e| CommandError::usage("lead-score", t.rule_refused(&e)))?;
            ctx.changes.put_setting(crate::crm::SCORING_KEY, &rules);
            Ok(t.scoring_set(&key.to_lowercase().replace('-', "_"), value))
        }
        other => Err(CommandError::usage("lead-score", t.unknown_action(other))),
    }
}

const CREATE_FLAGS: [FlagSpec; 1] = [FlagSpec::value("where")];

/// Points at the error under the filter text.
fn filter_error(t: &dyn Texts, source: &str, e: &crate::crm::filter::FilterError) -> CommandError {
    let caret = format!("{}^", " ".repeat(e.column.saturating_sub(1)));
    CommandError::usage("segment", t.filter_error(&t.filter_problem(&e.problem), source, &caret))
}

pub fn segment(ctx: &mut Ctx<'_>, args: &str) -> Result<String, CommandError> {
    let t = ctx.t();
    let (action, rest) = split_first(args);
    match action.as_str() {
        "" | "list" => {
            let index = ctx.crm.read();
            if index.segments.is_empty() {
                return Ok(t.no_segments(&ctx.command()));
            }
            let lines: Vec<String> = index
                .segments
                .values()
                .map(|view| match &view.filter {
                    Ok(_) => {
                        t.segment_line(&view.segment.name, index.members(view, ctx.now_ms).len(), &view.segment.filter)
                    }
                    Err(e) => t.segment_invalid(&view.segment.name, &t.filter_problem(&e.problem)),
                })
                .collect();
            Ok(format!("{}\n{}", t.segments_heading(), bullets(t, lines.iter().cloned(), 30, lines.len())))
        }
        "create" => {
            let args = Args::parse(rest, &CREATE_FLAGS).for_sub("segment")?;
            let name = args.required(0, "NAME").for_sub("segment")?.trim().to_string();
            args.at_most(1).for_sub("segment")?;
            let source = args.required_flag("where").for_sub("segment")?;
            let filter = Filter::parse(source, &LOCAL_FIELDS).map_err(|e| filter_error(t, source, &e))?;
            let index = ctx.crm.read();
            if index.segments.contains_key(&name.to_lowercase()) {
                return Err(CommandError::Invalid(t.segment_exists(&name)));
            }
            let members =
                index.contacts.values().filter(|c| filter.matches(&Scored::new(c, &index.rules, ctx.now_ms))).count();
            drop(index);
            ctx.changes.put_segment(&Segment {
                name: name.clone(),
                filter: filter.source().to_string(),
                created_by: ctx.caller.id.clone(),
                created_ms: ctx.now_ms,
            });
            Ok(t.segment_created(&name, members))
        }
        "show" => {
            let args = Args::parse(rest, &[]).for_sub("segment")?;
            let name = args.required(0, "NAME").for_sub("segment")?;
            let index = ctx.crm.read();
            let view =
                index.segments.get(&name.to_lowercase()).ok_or_else(|| CommandError::NotFound(t.no_segment(name)))?;
            let segment = &view.segment;
            if let Err(e) = &view.filter {
                return Err(filter_error(t, &segment.filter, e));
            }
            let rules = &index.rules;
            let members = index.members(view, ctx.now_ms);
            let total = members.len();
            let shown = top(members.into_iter(), 20, |c| rules.score(c));
            let lines = shown
                .iter()
                .map(|c| t.segment_member(c.display_name(), c.phone.as_deref().unwrap_or(&c.key), rules.score(c)));
            Ok(t.segment_shown(&segment.name, &segment.filter, total, &bullets(t, lines, 20, total)))
        }
        "delete" => {
            let args = Args::parse(rest, &[]).for_sub("segment")?;
            let name = args.required(0, "NAME").for_sub("segment")?.to_lowercase();
            if !ctx.crm.read().segments.contains_key(&name) {
                return Err(CommandError::NotFound(t.no_segment(&name)));
            }
            ctx.changes.remove_segment(&name);
            Ok(t.segment_deleted(&name))
        }
        other => Err(CommandError::usage("segment", t.unknown_action(other))),
    }
}
