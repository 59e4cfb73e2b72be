//! `#crm nurture-sequence`: follow-up messages on day N after the start, sent
//! by the scheduler through the outbox to contacts who opted in.

use super::args::{Args, FlagSpec};
use super::crm::{find_contact, split_first};
use super::format::{bullets, local_time};
use super::{CommandError, Ctx, ForSub};
use crate::crm::{Enrollment, Sequence, Step};

const SUB: &str = "nurture-sequence";
const STEP_FLAGS: [FlagSpec; 1] = [FlagSpec::value("day")];
const MAX_STEPS: usize = 30;
const MAX_TEXT: usize = 1500;
const MAX_DAY: u32 = 365;

fn sequence(ctx: &Ctx<'_>, name: &str) -> Result<Sequence, CommandError> {
    let index = ctx.crm.read();
    index.sequences.get(&name.to_lowercase()).cloned().ok_or_else(|| CommandError::NotFound(ctx.t().no_sequence(name)))
}

pub fn run(ctx: &mut Ctx<'_>, args: &str) -> Result<String, CommandError> {
    let t = ctx.t();
    let (action, rest) = split_first(args);
    match action.as_str() {
        "" | "list" => {
            let index = ctx.crm.read();
            if index.sequences.is_empty() {
                return Ok(t.no_sequences(&ctx.command()));
            }
            let enrollments = ctx.crm.enrollments();
            let lines: Vec<String> = index
                .sequences
                .values()
                .map(|s| {
                    let running = enrollments.iter().filter(|(_, e)| e.sequence.eq_ignore_ascii_case(&s.name)).count();
                    let days: Vec<String> = s.steps.iter().map(|st| t.day(st.day)).collect();
                    t.sequence_line(&s.name, s.steps.len(), &days.join(", "), running)
                })
                .collect();
            Ok(format!("{}\n{}", t.sequences_heading(), bullets(t, lines.iter().cloned(), 30, lines.len())))
        }
        "create" => {
            let args = Args::parse(rest, &[]).for_sub(SUB)?;
            let name = args.required(0, "NAME").for_sub(SUB)?.trim().to_string();
            args.at_most(1).for_sub(SUB)?;
            if ctx.crm.read().sequences.contains_key(&name.to_lowercase()) {
                return Err(CommandError::Invalid(t.sequence_exists(&name)));
            }
            ctx.changes.put_sequence(&Sequence {
                name: name.clone(),
                steps: Vec::new(),
                created_by: ctx.caller.id.clone(),
                created_ms: ctx.now_ms,
            });
            Ok(t.sequence_created(&name, &ctx.command()))
        }
        "add-step" => {
            let args = Args::parse(rest, &STEP_FLAGS).for_sub(SUB)?;
            let name = args.required(0, "NAME").for_sub(SUB)?;
            let day: u32 = args
                .number_flag("day")
                .for_sub(SUB)?
                .ok_or_else(|| CommandError::usage(SUB, t.args_missing("--day N")))?;
            if day > MAX_DAY {
                return Err(CommandError::usage(SUB, t.day_too_late(MAX_DAY)));
            }
            let text = args.rest(1).ok_or_else(|| CommandError::usage(SUB, t.step_text_missing()))?;
            if text.chars().count() > MAX_TEXT {
                return Err(CommandError::Invalid(t.step_text_too_long(MAX_TEXT)));
            }
            let mut sequence = sequence(ctx, name)?;
            if sequence.steps.len() >= MAX_STEPS {
                return Err(CommandError::Invalid(t.too_many_steps(MAX_STEPS)));
            }
            // Steps stay in day order; a step added for an existing day goes after it.
            let at = sequence.steps.partition_point(|s| s.day <= day);
            sequence.steps.insert(at, Step { day, text });
            ctx.changes.put_sequence(&sequence);
            Ok(t.step_added(&sequence.name, at + 1, day, sequence.steps.len()))
        }
        "start" | "stop" => {
            let args = Args::parse(rest, &[]).for_sub(SUB)?;
            let name = args.required(0, "NAME").for_sub(SUB)?;
            let contact = find_contact(ctx, args.required(1, "PHONE").for_sub(SUB)?)?;
            args.at_most(2).for_sub(SUB)?;
            let sequence = sequence(ctx, name)?;
            let running: Vec<Vec<u8>> = ctx
                .crm
                .enrollments()
                .into_iter()
                .filter(|(_, e)| e.contact == contact.key && e.sequence.eq_ignore_ascii_case(&sequence.name))
                .map(|(k, _)| k)
                .collect();
            if action == "stop" {
                if running.is_empty() {
                    return Err(CommandError::NotFound(t.not_on_sequence(contact.display_name(), &sequence.name)));
                }
                running.into_iter().for_each(|k| ctx.changes.remove_enrollment(k));
                return Ok(t.sequence_stopped(&sequence.name, contact.display_name()));
            }
            if !running.is_empty() {
                return Err(CommandError::Invalid(t.already_on_sequence(contact.display_name(), &sequence.name)));
            }
            let Some(first) = sequence.steps.first() else {
                return Err(CommandError::Invalid(t.sequence_has_no_steps(&sequence.name)));
            };
            if !contact.whatsapp_opt_in {
                return Err(CommandError::Invalid(t.not_opted_in(
                    contact.display_name(),
                    &ctx.command(),
                    &contact.key,
                )));
            }
            let due = ctx.now_ms + u64::from(first.day) * ctx.settings.day_ms;
            ctx.changes.put_enrollment(
                due,
                &Enrollment {
                    sequence: sequence.name.clone(),
                    contact: contact.key.clone(),
                    channel: contact.channel.clone(),
                    step: 0,
                    started_ms: ctx.now_ms,
                    by: ctx.caller.id.clone(),
                },
            );
            Ok(t.sequence_started(&sequence.name, contact.display_name(), sequence.steps.len(), &local_time(due)))
        }
        other => Err(CommandError::usage(SUB, t.unknown_action(other))),
    }
}
