//! The issue decider: every business rule of the lifecycle (`docs/product.md`) in one
//! pure, deterministic function, [`decide`], and the one predicate, [`is_command_allowed`],
//! that both `decide` and [`allowed_commands`] use, so a refusal always lists exactly what
//! the state allows.

use crate::command::{CommandEnvelope, CommandKind, IssueCommand, ReportIssue};
use crate::error::{DomainError, OccurredAtProblem};
use crate::event::{
    AssignmentAccepted, CommitteeDecisionRecorded, DeliberationConcluded, DeliberationConvened, IssueDispatched,
    IssueEscalated, IssueEvent, IssueEventBody, IssueHandledInGrid, IssueReopened, IssueReported, IssueResolved,
    IssueWithdrawn, ResolutionEvaluated,
};
use crate::field::Field;
use crate::issue::{IssueStatus, WithdrawalReason};
use crate::state::{Issue, IssueState};
use crate::time::{EARLIEST_BUSINESS_TIME, MAX_CLOCK_SKEW, MAX_DEADLINE_HORIZON, MAX_DEADLINE_HORIZON_DAYS, Timestamp};

/// Whether the lifecycle table allows a command of `kind` in `state`, including the
/// table's state conditions (an unaccepted assignment for `AcceptAssignment`, a committee
/// decision in this cycle for `ResolveIssue` from ESCALATED, no evaluation yet in this
/// cycle for `EvaluateResolution`). Conditions on the command's own arguments (which
/// assignee, which meeting, times) are checked by [`decide`] afterwards.
pub fn is_command_allowed(state: &IssueState, kind: CommandKind) -> bool {
    use IssueStatus::{Escalated, InDeliberation, InProgress, Reopened, Reported, Resolved, Withdrawn};
    let issue = match state {
        IssueState::Absent => return kind == CommandKind::ReportIssue,
        IssueState::Existing(issue) => issue,
    };
    let status = issue.status;
    match kind {
        CommandKind::ReportIssue => false,
        CommandKind::HandleInGrid => matches!(status, Reported | Reopened),
        CommandKind::DispatchIssue | CommandKind::ConveneDeliberation | CommandKind::EscalateIssue => {
            matches!(status, Reported | Reopened | InProgress)
        }
        CommandKind::AcceptAssignment => {
            status == InProgress && issue.assignment.as_ref().is_some_and(|assignment| !assignment.accepted)
        }
        CommandKind::ConcludeDeliberation => status == InDeliberation && issue.open_meeting_id.is_some(),
        CommandKind::RecordCommitteeDecision => status == Escalated,
        CommandKind::ResolveIssue => match status {
            Reported | Reopened | InProgress => true,
            Escalated => issue.committee_decision_in_cycle,
            InDeliberation | Resolved | Withdrawn => false,
        },
        CommandKind::EvaluateResolution => status == Resolved && !issue.evaluated_in_cycle,
        CommandKind::ReopenIssue => status == Resolved,
        CommandKind::WithdrawIssue => !matches!(status, Resolved | Withdrawn),
    }
}

/// The commands `state` allows, in lifecycle-table order.
pub fn allowed_commands(state: &IssueState) -> Vec<CommandKind> {
    CommandKind::ALL
        .iter()
        .copied()
        .filter(|kind| is_command_allowed(state, *kind))
        .collect()
}

/// Decides what a command does to an issue: the events to append, or why it is refused.
///
/// Checks, in order: the issue exists (or, for `ReportIssue`, does not); the lifecycle
/// table allows the command ([`is_command_allowed`]); the business time `occurred_at`
/// (default `now`) is at most [`MAX_CLOCK_SKEW`] after `now`, not before
/// [`EARLIEST_BUSINESS_TIME`] and not before the report; then the command's own conditions
/// (the assignee of the open assignment, the open meeting, deadlines after `occurred_at`
/// and at most [`MAX_DEADLINE_HORIZON`] after it, a duplicate of another issue). Pure and
/// deterministic; a refusal writes nothing.
pub fn decide(state: &IssueState, envelope: CommandEnvelope) -> Result<Vec<IssueEvent>, DomainError> {
    let occurred_at = envelope.effective_occurred_at();
    let CommandEnvelope { now, command, .. } = envelope;
    let kind = command.kind();
    let issue = match state {
        IssueState::Absent => {
            return match command {
                IssueCommand::ReportIssue(report) => decide_report(&report, occurred_at, now),
                _ => Err(DomainError::IssueNotFound { command: kind }),
            };
        }
        IssueState::Existing(issue) => issue,
    };
    if !is_command_allowed(state, kind) {
        return Err(refusal(state, issue, kind));
    }
    check_occurred_at(occurred_at, now)?;
    if occurred_at < issue.reported_at {
        return Err(DomainError::InvalidOccurredAt {
            occurred_at,
            problem: OccurredAtProblem::BeforeReport {
                reported_at: issue.reported_at,
            },
        });
    }
    let body = decide_lifecycle_command(state, issue, command, occurred_at)?;
    Ok(vec![IssueEvent { occurred_at, body }])
}

/// The error for a command `is_command_allowed` refuses on an existing issue.
fn refusal(state: &IssueState, issue: &Issue, kind: CommandKind) -> DomainError {
    let allowed = allowed_commands(state);
    if kind == CommandKind::ReportIssue {
        DomainError::IssueAlreadyExists {
            issue_id: issue.issue_id,
            status: issue.status,
            allowed,
        }
    } else {
        DomainError::TransitionNotAllowed {
            command: kind,
            status: issue.status,
            allowed,
        }
    }
}

/// The business time is at most [`MAX_CLOCK_SKEW`] after `now` and not before
/// [`EARLIEST_BUSINESS_TIME`].
fn check_occurred_at(occurred_at: Timestamp, now: Timestamp) -> Result<(), DomainError> {
    if occurred_at > now.saturating_add(MAX_CLOCK_SKEW) {
        return Err(DomainError::InvalidOccurredAt {
            occurred_at,
            problem: OccurredAtProblem::TooFarInTheFuture {
                now,
                max_skew: MAX_CLOCK_SKEW,
            },
        });
    }
    if occurred_at < EARLIEST_BUSINESS_TIME {
        return Err(DomainError::InvalidOccurredAt {
            occurred_at,
            problem: OccurredAtProblem::BeforeEarliest {
                earliest: EARLIEST_BUSINESS_TIME,
            },
        });
    }
    Ok(())
}

fn decide_report(report: &ReportIssue, occurred_at: Timestamp, now: Timestamp) -> Result<Vec<IssueEvent>, DomainError> {
    check_occurred_at(occurred_at, now)?;
    let due_at = occurred_at
        .checked_add(report.category().default_handling_deadline())
        .ok_or(DomainError::InvalidOccurredAt {
            occurred_at,
            problem: OccurredAtProblem::OutOfRange,
        })?;
    let body = IssueEventBody::IssueReported(IssueReported {
        issue_id: report.issue_id(),
        grid: report.grid().clone(),
        category: report.category().code().clone(),
        title: report.title().clone(),
        description: report.description().clone(),
        reporter_id: report.reporter_id().clone(),
        due_at,
        location: report.location().cloned(),
        evidence: report.evidence().clone(),
    });
    Ok(vec![IssueEvent { occurred_at, body }])
}

/// A deadline lies after the command's business time, and at most [`MAX_DEADLINE_HORIZON`]
/// after it.
fn check_due_at(due_at: Timestamp, occurred_at: Timestamp) -> Result<(), DomainError> {
    if due_at <= occurred_at {
        return Err(DomainError::InvalidField {
            field: Field::DueAt,
            reason: format!("must be after occurred_at ({occurred_at}), got {due_at}"),
        });
    }
    if due_at > occurred_at.saturating_add(MAX_DEADLINE_HORIZON) {
        return Err(DomainError::InvalidField {
            field: Field::DueAt,
            reason: format!(
                "must be at most {MAX_DEADLINE_HORIZON_DAYS} days (five years) after occurred_at ({occurred_at}), got {due_at}"
            ),
        });
    }
    Ok(())
}

/// The event for a command the table allows on an existing issue, after the command's own
/// conditions.
fn decide_lifecycle_command(
    state: &IssueState,
    issue: &Issue,
    command: IssueCommand,
    occurred_at: Timestamp,
) -> Result<IssueEventBody, DomainError> {
    Ok(match command {
        // Already refused by `is_command_allowed`; refused the same way here.
        IssueCommand::ReportIssue(_) => {
            return Err(refusal(state, issue, CommandKind::ReportIssue));
        }
        IssueCommand::HandleInGrid(handle) => IssueEventBody::IssueHandledInGrid(IssueHandledInGrid {
            summary: handle.summary,
            location: handle.location,
            evidence: handle.evidence,
        }),
        IssueCommand::DispatchIssue(dispatch) => {
            check_due_at(dispatch.due_at, occurred_at)?;
            IssueEventBody::IssueDispatched(IssueDispatched {
                assignee_id: dispatch.assignee_id,
                due_at: dispatch.due_at,
            })
        }
        IssueCommand::AcceptAssignment(accept) => {
            if let Some(assignment) = &issue.assignment
                && assignment.assignee_id != accept.assignee_id
            {
                return Err(DomainError::AssignmentMismatch {
                    assigned_to: assignment.assignee_id.clone(),
                    attempted_by: accept.assignee_id,
                });
            }
            IssueEventBody::AssignmentAccepted(AssignmentAccepted {
                assignee_id: accept.assignee_id,
            })
        }
        IssueCommand::ConveneDeliberation(convene) => IssueEventBody::DeliberationConvened(DeliberationConvened {
            meeting_id: convene.meeting_id,
            forum: convene.forum,
            parties: convene.parties,
        }),
        IssueCommand::ConcludeDeliberation(conclude) => {
            if let Some(open_meeting_id) = &issue.open_meeting_id
                && *open_meeting_id != conclude.meeting_id
            {
                return Err(DomainError::MeetingMismatch {
                    open_meeting_id: open_meeting_id.clone(),
                    given_meeting_id: conclude.meeting_id,
                });
            }
            IssueEventBody::DeliberationConcluded(DeliberationConcluded {
                meeting_id: conclude.meeting_id,
                participants: conclude.participants,
                outcome: conclude.outcome,
                minutes: conclude.minutes,
            })
        }
        IssueCommand::EscalateIssue(escalate) => IssueEventBody::IssueEscalated(IssueEscalated {
            reason: escalate.reason,
            note: escalate.note,
        }),
        IssueCommand::RecordCommitteeDecision(decision) => {
            check_due_at(decision.due_at, occurred_at)?;
            IssueEventBody::CommitteeDecisionRecorded(CommitteeDecisionRecorded {
                decision: decision.decision,
                lead_department: decision.lead_department,
                supporting_departments: decision.supporting_departments,
                due_at: decision.due_at,
            })
        }
        IssueCommand::ResolveIssue(resolve) => IssueEventBody::IssueResolved(IssueResolved {
            summary: resolve.summary,
            location: resolve.location,
            evidence: resolve.evidence,
        }),
        IssueCommand::EvaluateResolution(evaluate) => IssueEventBody::ResolutionEvaluated(ResolutionEvaluated {
            satisfaction: evaluate.satisfaction,
            evaluator_id: evaluate.evaluator_id,
            comment: evaluate.comment,
        }),
        IssueCommand::ReopenIssue(reopen) => IssueEventBody::IssueReopened(IssueReopened { reason: reopen.reason }),
        IssueCommand::WithdrawIssue(withdraw) => {
            if let WithdrawalReason::Duplicate { duplicate_of } = withdraw.reason
                && duplicate_of == issue.issue_id
            {
                return Err(DomainError::InvalidField {
                    field: Field::DuplicateOf,
                    reason: format!("an issue cannot be a duplicate of itself ({duplicate_of})"),
                });
            }
            IssueEventBody::IssueWithdrawn(IssueWithdrawn {
                reason: withdraw.reason,
            })
        }
    })
}
