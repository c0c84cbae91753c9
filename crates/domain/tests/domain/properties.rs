//! Property test: random command sequences (arguments from small pools, random business
//! times) through `decide` + `evolve` only make the transitions the lifecycle table allows,
//! keep the state's invariants, and `fold` of all emitted events reproduces the state; and a
//! read model kept by the domain's public per-event rules alone agrees with the fold.

use gridledger_domain::{
    AcceptAssignment, CommandEnvelope, CommandKind, ConcludeDeliberation, ConveneDeliberation, DepartmentName,
    DispatchIssue, DomainError, DurationMicros, EscalateIssue, EscalationReason, EvaluateResolution, Field, Forum,
    IssueCommand, IssueEvent, IssueState, IssueStatus, MeetingParties, ParticipantCount, RecordCommitteeDecision,
    ResolutionLevel, Satisfaction, SupportingDepartments, Timestamp, WithdrawIssue, WithdrawalReason, allowed_commands,
    decide, evolve, fold,
};
use proptest::prelude::*;

use crate::fixtures::*;

const ASSIGNEES: [&str; 3] = ["ann", "bob", "cho"];
const MEETINGS: [&str; 3] = ["m1", "m2", "m3"];

/// One random step: which command, two argument choices and a business-time choice.
#[derive(Debug, Clone, Copy)]
struct Step {
    kind_index: usize,
    first_choice: usize,
    second_choice: usize,
    time_choice: usize,
}

fn step_strategy() -> impl Strategy<Value = Step> {
    (0..CommandKind::ALL.len(), 0..4usize, 0..3usize, 0..6usize).prop_map(
        |(kind_index, first_choice, second_choice, time_choice)| Step {
            kind_index,
            first_choice,
            second_choice,
            time_choice,
        },
    )
}

/// The server clock of step `index`: one hour apart.
fn now_of_step(index: usize) -> Timestamp {
    at(i64::try_from(index).expect("a small step index") * 60)
}

/// The business time a step claims: none, a little earlier, slightly ahead (allowed), too
/// far ahead, long before any report, or two days earlier.
fn occurred_at_of(step: Step, now: Timestamp) -> Option<Timestamp> {
    let offset = |micros: i64| now.checked_add(DurationMicros::from_micros(micros));
    match step.time_choice {
        0 => None,
        1 => offset(-30 * 60_000_000),
        2 => offset(4 * 60_000_000),
        3 => offset(5 * 60_000_000 + 1),
        4 => Some(at(-100_000)),
        _ => offset(-2 * 24 * 60 * 60_000_000),
    }
}

/// A deadline relative to the business time: a day later, equal (refused), a week later.
fn due_at_of(step: Step, occurred_at: Timestamp) -> Timestamp {
    let days = match step.second_choice {
        0 => 1,
        1 => 0,
        _ => 7,
    };
    occurred_at
        .checked_add(DurationMicros::from_days(days))
        .unwrap_or(occurred_at)
}

fn command_of_step(step: Step, occurred_at: Timestamp) -> IssueCommand {
    let kind = CommandKind::ALL[step.kind_index];
    let assignee = person(ASSIGNEES[step.first_choice % ASSIGNEES.len()]);
    let meeting_id = meeting(MEETINGS[step.second_choice % MEETINGS.len()]);
    match kind {
        CommandKind::DispatchIssue => DispatchIssue {
            assignee_id: assignee,
            due_at: due_at_of(step, occurred_at),
        }
        .into(),
        CommandKind::AcceptAssignment => AcceptAssignment { assignee_id: assignee }.into(),
        CommandKind::ConveneDeliberation => ConveneDeliberation {
            meeting_id,
            forum: Forum::ALL[step.first_choice % Forum::ALL.len()],
            parties: MeetingParties::empty(),
        }
        .into(),
        CommandKind::ConcludeDeliberation => ConcludeDeliberation {
            meeting_id,
            participants: ParticipantCount::new(1 + u32::try_from(step.first_choice).expect("a small choice"))
                .expect("positive"),
            outcome: text("outcome"),
            minutes: text("minutes"),
        }
        .into(),
        CommandKind::EscalateIssue => EscalateIssue {
            reason: EscalationReason::ALL[step.first_choice % EscalationReason::ALL.len()],
            note: None,
        }
        .into(),
        CommandKind::RecordCommitteeDecision => RecordCommitteeDecision {
            decision: text("decision"),
            lead_department: DepartmentName::parse(Field::LeadDepartment, "roads").expect("valid"),
            supporting_departments: SupportingDepartments::empty(),
            due_at: due_at_of(step, occurred_at),
        }
        .into(),
        CommandKind::EvaluateResolution => EvaluateResolution {
            satisfaction: Satisfaction::ALL[step.first_choice % Satisfaction::ALL.len()],
            evaluator_id: assignee,
            comment: text("comment"),
        }
        .into(),
        CommandKind::WithdrawIssue => WithdrawIssue {
            reason: match step.first_choice {
                0 => WithdrawalReason::Duplicate {
                    duplicate_of: issue_id(),
                },
                1 => WithdrawalReason::Duplicate {
                    duplicate_of: other_issue_id(),
                },
                2 => WithdrawalReason::OutOfScope,
                _ => WithdrawalReason::ReporterWithdrew,
            },
        }
        .into(),
        other => command_of_kind(other, &IssueState::Absent),
    }
}

/// What a read model (the governance projection) keeps of an issue without an `Issue`,
/// updated only by the domain's public per-event rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ReadModel {
    status: IssueStatus,
    resolution_level: Option<ResolutionLevel>,
    escalated_in_cycle: bool,
    due_at: Timestamp,
}

impl ReadModel {
    /// The read model after `event`; `None` until a report.
    fn after(read_model: Option<ReadModel>, event: &IssueEvent) -> Option<ReadModel> {
        let body = &event.body;
        let Some(before) = read_model else {
            return body.new_due_at().map(|due_at| ReadModel {
                status: IssueStatus::Reported,
                resolution_level: None,
                escalated_in_cycle: false,
                due_at,
            });
        };
        let status = body.status_after().unwrap_or(before.status);
        let resolution_level = body
            .resolution_level(before.escalated_in_cycle)
            .or(before.resolution_level)
            .filter(|_| status == IssueStatus::Resolved);
        Some(ReadModel {
            status,
            resolution_level,
            escalated_in_cycle: body.escalated_in_cycle_after(before.escalated_in_cycle),
            due_at: body.new_due_at().unwrap_or(before.due_at),
        })
    }

    /// The same facts as the fold's issue.
    fn of_issue(issue: &gridledger_domain::Issue) -> ReadModel {
        ReadModel {
            status: issue.status,
            resolution_level: issue.resolution_level,
            escalated_in_cycle: issue.escalated_in_cycle,
            due_at: issue.due_at,
        }
    }
}

/// The state invariants the lifecycle implies.
fn check_invariants(state: &IssueState) -> Result<(), TestCaseError> {
    let Some(issue) = state.issue() else {
        return Ok(());
    };
    let resolved = issue.status == IssueStatus::Resolved;
    prop_assert_eq!(issue.resolution_level.is_some(), resolved);
    if let Some(level) = issue.resolution_level {
        prop_assert_eq!(level == ResolutionLevel::Committee, issue.escalated_in_cycle);
    }
    prop_assert_eq!(
        issue.open_meeting_id.is_some(),
        issue.status == IssueStatus::InDeliberation
    );
    prop_assert!(!issue.committee_decision_in_cycle || issue.escalated_in_cycle);
    prop_assert!(!issue.evaluated_in_cycle || resolved);
    prop_assert!(issue.last_occurred_at >= issue.reported_at);
    prop_assert_eq!(
        issue.withdrawal_reason.is_some(),
        issue.status == IssueStatus::Withdrawn
    );
    Ok(())
}

/// Applies the steps and checks every decision against the table.
fn check(report_first: bool, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let report_step = Step {
        kind_index: 0,
        first_choice: 0,
        second_choice: 0,
        time_choice: 0,
    };
    let steps = report_first.then_some(report_step).into_iter().chain(steps);
    let mut state = IssueState::Absent;
    let mut emitted: Vec<IssueEvent> = Vec::new();
    let mut read_model: Option<ReadModel> = None;
    for (index, step) in steps.enumerate() {
        let now = now_of_step(index);
        let occurred_at = occurred_at_of(step, now);
        let command = command_of_step(step, occurred_at.unwrap_or(now));
        let kind = command.kind();
        let expected_allowed = table_allowed_commands(&state);
        prop_assert_eq!(allowed_commands(&state), expected_allowed.clone());
        let envelope = CommandEnvelope {
            now,
            occurred_at,
            command,
        };
        match decide(&state, envelope) {
            Ok(events) => {
                prop_assert!(table_allows(&state, kind), "{kind} accepted in {:?}", state.status());
                prop_assert_eq!(events.len(), 1);
                let row = table_row(kind);
                let event = &events[0];
                prop_assert_eq!(event.event_type(), row.event.as_str());
                prop_assert_eq!(event.occurred_at, occurred_at.unwrap_or(now));
                let level_before = state.issue().and_then(|issue| issue.resolution_level);
                let count_before = state.issue().map_or(0, |issue| issue.event_count);
                state = evolve(state, event);
                let issue = state.issue().expect("an issue after an accepted command");
                prop_assert_eq!(issue.status, row.status_after);
                // Read models that track only the status agree with the fold.
                prop_assert!(event.body.status_after().is_none_or(|status| status == issue.status));
                prop_assert_eq!(
                    issue.resolution_level,
                    expected_level_after(row, level_before, issue.escalated_in_cycle)
                );
                prop_assert_eq!(issue.event_count, count_before + 1);
                read_model = ReadModel::after(read_model, event);
                prop_assert_eq!(read_model, Some(ReadModel::of_issue(issue)));
                prop_assert_eq!(read_model.map(|model| model.status.is_open()), Some(issue.is_open()));
                emitted.push(event.clone());
            }
            Err(error) => {
                if table_allows(&state, kind) {
                    prop_assert!(
                        matches!(
                            error,
                            DomainError::AssignmentMismatch { .. }
                                | DomainError::MeetingMismatch { .. }
                                | DomainError::InvalidOccurredAt { .. }
                                | DomainError::InvalidField { .. }
                        ),
                        "{kind} allowed but refused with {error}"
                    );
                } else {
                    let expected_error = match state.issue() {
                        None => DomainError::IssueNotFound { command: kind },
                        Some(issue) if kind == CommandKind::ReportIssue => DomainError::IssueAlreadyExists {
                            issue_id: issue.issue_id,
                            status: issue.status,
                            allowed: expected_allowed,
                        },
                        Some(issue) => DomainError::TransitionNotAllowed {
                            command: kind,
                            status: issue.status,
                            allowed: expected_allowed,
                        },
                    };
                    prop_assert_eq!(error, expected_error);
                }
            }
        }
        check_invariants(&state)?;
        prop_assert_eq!(&fold(&emitted), &state);
    }
    if state.status() == Some(IssueStatus::Withdrawn) {
        prop_assert!(allowed_commands(&state).is_empty(), "WITHDRAWN is terminal");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_command_sequences_follow_the_lifecycle_table(
        report_first in any::<bool>(),
        steps in prop::collection::vec(step_strategy(), 0..60),
    ) {
        check(report_first, steps)?;
    }
}
