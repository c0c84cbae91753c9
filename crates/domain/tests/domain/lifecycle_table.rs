//! Given/when/then tests for every row of the lifecycle table (`docs/product.md`), and the matrix
//! of every named scenario × every command kind checked against the table's data.

use std::collections::BTreeSet;

use gridledger_domain::CommandKind::{
    AcceptAssignment, ConcludeDeliberation, ConveneDeliberation, DispatchIssue, EvaluateResolution, HandleInGrid,
    RecordCommitteeDecision, ReopenIssue, ResolveIssue, WithdrawIssue,
};
use gridledger_domain::{
    CommandEnvelope, CommandKind, DomainError, DomainErrorKind, IssueEvent, IssueStatus, ResolutionLevel,
    WithdrawalReason, allowed_commands, decide, evolve, fold,
};

use crate::fixtures::*;

const REPORTED_OR_REOPENED_ALLOWED: &[CommandKind] = &[
    HandleInGrid,
    DispatchIssue,
    ConveneDeliberation,
    CommandKind::EscalateIssue,
    ResolveIssue,
    WithdrawIssue,
];
const IN_PROGRESS_ALLOWED: &[CommandKind] = &[
    DispatchIssue,
    ConveneDeliberation,
    CommandKind::EscalateIssue,
    ResolveIssue,
    WithdrawIssue,
];
const IN_PROGRESS_WITH_UNACCEPTED_ASSIGNMENT_ALLOWED: &[CommandKind] = &[
    DispatchIssue,
    AcceptAssignment,
    ConveneDeliberation,
    CommandKind::EscalateIssue,
    ResolveIssue,
    WithdrawIssue,
];
const IN_DELIBERATION_ALLOWED: &[CommandKind] = &[ConcludeDeliberation, WithdrawIssue];
const ESCALATED_WITHOUT_DECISION_ALLOWED: &[CommandKind] = &[RecordCommitteeDecision, WithdrawIssue];
const ESCALATED_AFTER_DECISION_ALLOWED: &[CommandKind] = &[RecordCommitteeDecision, ResolveIssue, WithdrawIssue];
const RESOLVED_NOT_EVALUATED_ALLOWED: &[CommandKind] = &[EvaluateResolution, ReopenIssue];
const RESOLVED_EVALUATED_ALLOWED: &[CommandKind] = &[ReopenIssue];

/// What a `when` should lead to.
#[derive(Debug)]
enum Then {
    /// These events, leaving this status and resolution level.
    Events(Vec<IssueEvent>, IssueStatus, Option<ResolutionLevel>),
    /// This refusal.
    Refused(DomainError),
}

fn refused(command: CommandKind, status: IssueStatus, allowed: &[CommandKind]) -> Then {
    Then::Refused(DomainError::TransitionNotAllowed {
        command,
        status,
        allowed: allowed.to_vec(),
    })
}

fn check(name: &str, given: Vec<IssueEvent>, when: CommandEnvelope, then: Then) {
    let state = fold(&given);
    let result = decide(&state, when);
    match then {
        Then::Events(expected_events, expected_status, expected_level) => {
            let events = result.unwrap_or_else(|error| panic!("{name}: refused: {error}"));
            assert_eq!(events, expected_events, "{name}: events");
            let after = events.iter().fold(state, evolve);
            assert_eq!(after.status(), Some(expected_status), "{name}: status");
            assert_eq!(
                after.issue().and_then(|issue| issue.resolution_level),
                expected_level,
                "{name}: resolution level"
            );
        }
        Then::Refused(expected_error) => {
            assert_eq!(result, Err(expected_error), "{name}: refusal");
        }
    }
}

#[test]
fn report_issue_is_allowed_only_while_absent() {
    check(
        "absent -> REPORTED, due after the category's default deadline",
        vec![],
        CommandEnvelope::new(at(0), report_command()),
        Then::Events(history(vec![reported()]), IssueStatus::Reported, None),
    );
    check(
        "an existing issue is not reported twice",
        history(vec![reported(), dispatched("ann")]),
        when(report_command()),
        Then::Refused(DomainError::IssueAlreadyExists {
            issue_id: issue_id(),
            status: IssueStatus::InProgress,
            allowed: IN_PROGRESS_WITH_UNACCEPTED_ASSIGNMENT_ALLOWED.to_vec(),
        }),
    );
}

#[test]
fn handle_in_grid_resolves_at_grid_level_from_reported_and_reopened() {
    check(
        "REPORTED -> RESOLVED (GRID)",
        history(vec![reported()]),
        when(handle_in_grid_command()),
        Then::Events(
            vec![then_event(handled_in_grid())],
            IssueStatus::Resolved,
            Some(ResolutionLevel::Grid),
        ),
    );
    check(
        "REOPENED -> RESOLVED (GRID)",
        history(vec![reported(), resolved(), reopened()]),
        when(handle_in_grid_command()),
        Then::Events(
            vec![then_event(handled_in_grid())],
            IssueStatus::Resolved,
            Some(ResolutionLevel::Grid),
        ),
    );
    check(
        "IN_PROGRESS refuses",
        history(vec![reported(), dispatched("ann"), accepted("ann")]),
        when(handle_in_grid_command()),
        refused(HandleInGrid, IssueStatus::InProgress, IN_PROGRESS_ALLOWED),
    );
}

#[test]
fn dispatch_issue_moves_to_in_progress_from_reported_reopened_and_in_progress() {
    for (name, given) in [
        ("REPORTED -> IN_PROGRESS", history(vec![reported()])),
        (
            "REOPENED -> IN_PROGRESS",
            history(vec![reported(), handled_in_grid(), reopened()]),
        ),
        (
            "IN_PROGRESS -> IN_PROGRESS (re-dispatch)",
            history(vec![reported(), dispatched("ann"), accepted("ann")]),
        ),
    ] {
        check(
            name,
            given,
            when(dispatch_command("bob")),
            Then::Events(vec![then_event(dispatched("bob"))], IssueStatus::InProgress, None),
        );
    }
    check(
        "IN_DELIBERATION refuses",
        history(vec![reported(), convened("m1")]),
        when(dispatch_command("bob")),
        refused(DispatchIssue, IssueStatus::InDeliberation, IN_DELIBERATION_ALLOWED),
    );
}

#[test]
fn accept_assignment_needs_an_unaccepted_assignment_while_in_progress() {
    check(
        "IN_PROGRESS with an unaccepted assignment -> IN_PROGRESS",
        history(vec![reported(), dispatched("ann")]),
        when(accept_command("ann")),
        Then::Events(vec![then_event(accepted("ann"))], IssueStatus::InProgress, None),
    );
    check(
        "an accepted assignment is not accepted again",
        history(vec![reported(), dispatched("ann"), accepted("ann")]),
        when(accept_command("ann")),
        refused(AcceptAssignment, IssueStatus::InProgress, IN_PROGRESS_ALLOWED),
    );
    check(
        "REPORTED refuses",
        history(vec![reported()]),
        when(accept_command("ann")),
        refused(AcceptAssignment, IssueStatus::Reported, REPORTED_OR_REOPENED_ALLOWED),
    );
}

#[test]
fn convene_deliberation_moves_to_in_deliberation_from_reported_reopened_and_in_progress() {
    for (name, given) in [
        ("REPORTED -> IN_DELIBERATION", history(vec![reported()])),
        (
            "REOPENED -> IN_DELIBERATION",
            history(vec![reported(), resolved(), reopened()]),
        ),
        (
            "IN_PROGRESS -> IN_DELIBERATION",
            history(vec![reported(), dispatched("ann")]),
        ),
    ] {
        check(
            name,
            given,
            when(convene_command("m7")),
            Then::Events(vec![then_event(convened("m7"))], IssueStatus::InDeliberation, None),
        );
    }
    check(
        "IN_DELIBERATION refuses a second meeting",
        history(vec![reported(), convened("m1")]),
        when(convene_command("m7")),
        refused(
            ConveneDeliberation,
            IssueStatus::InDeliberation,
            IN_DELIBERATION_ALLOWED,
        ),
    );
}

#[test]
fn conclude_deliberation_returns_to_in_progress() {
    check(
        "IN_DELIBERATION -> IN_PROGRESS",
        history(vec![reported(), convened("m1")]),
        when(conclude_command("m1")),
        Then::Events(vec![then_event(concluded("m1"))], IssueStatus::InProgress, None),
    );
    check(
        "REPORTED refuses",
        history(vec![reported()]),
        when(conclude_command("m1")),
        refused(
            ConcludeDeliberation,
            IssueStatus::Reported,
            REPORTED_OR_REOPENED_ALLOWED,
        ),
    );
}

#[test]
fn escalate_issue_moves_to_escalated_from_reported_reopened_and_in_progress() {
    for (name, given) in [
        ("REPORTED -> ESCALATED", history(vec![reported()])),
        (
            "REOPENED -> ESCALATED",
            history(vec![reported(), resolved(), reopened()]),
        ),
        ("IN_PROGRESS -> ESCALATED", history(vec![reported(), dispatched("ann")])),
    ] {
        check(
            name,
            given,
            when(escalate_command()),
            Then::Events(vec![then_event(escalated())], IssueStatus::Escalated, None),
        );
    }
    check(
        "ESCALATED refuses a second escalation",
        history(vec![reported(), escalated()]),
        when(escalate_command()),
        refused(
            CommandKind::EscalateIssue,
            IssueStatus::Escalated,
            ESCALATED_WITHOUT_DECISION_ALLOWED,
        ),
    );
    check(
        "ESCALATED with a decision refuses a second escalation",
        history(vec![reported(), escalated(), committee_decision()]),
        when(escalate_command()),
        refused(
            CommandKind::EscalateIssue,
            IssueStatus::Escalated,
            ESCALATED_AFTER_DECISION_ALLOWED,
        ),
    );
}

#[test]
fn record_committee_decision_stays_escalated() {
    check(
        "ESCALATED -> ESCALATED",
        history(vec![reported(), escalated()]),
        when(committee_decision_command()),
        Then::Events(vec![then_event(committee_decision())], IssueStatus::Escalated, None),
    );
    check(
        "ESCALATED with a decision -> ESCALATED (another decision)",
        history(vec![reported(), escalated(), committee_decision()]),
        when(committee_decision_command()),
        Then::Events(vec![then_event(committee_decision())], IssueStatus::Escalated, None),
    );
    check(
        "IN_PROGRESS refuses",
        history(vec![reported(), dispatched("ann"), accepted("ann")]),
        when(committee_decision_command()),
        refused(RecordCommitteeDecision, IssueStatus::InProgress, IN_PROGRESS_ALLOWED),
    );
}

#[test]
fn resolve_issue_resolves_at_community_or_committee_level() {
    for (name, given) in [
        ("REPORTED -> RESOLVED (COMMUNITY)", history(vec![reported()])),
        (
            "REOPENED -> RESOLVED (COMMUNITY)",
            history(vec![reported(), resolved(), reopened()]),
        ),
        (
            "IN_PROGRESS -> RESOLVED (COMMUNITY)",
            history(vec![reported(), convened("m1"), concluded("m1")]),
        ),
    ] {
        check(
            name,
            given,
            when(resolve_command()),
            Then::Events(
                vec![then_event(resolved())],
                IssueStatus::Resolved,
                Some(ResolutionLevel::Community),
            ),
        );
    }
    check(
        "ESCALATED after a committee decision -> RESOLVED (COMMITTEE)",
        history(vec![reported(), escalated(), committee_decision()]),
        when(resolve_command()),
        Then::Events(
            vec![then_event(resolved())],
            IssueStatus::Resolved,
            Some(ResolutionLevel::Committee),
        ),
    );
    check(
        "ESCALATED before a committee decision refuses",
        history(vec![reported(), escalated()]),
        when(resolve_command()),
        refused(ResolveIssue, IssueStatus::Escalated, ESCALATED_WITHOUT_DECISION_ALLOWED),
    );
    check(
        "IN_DELIBERATION refuses",
        history(vec![reported(), convened("m1")]),
        when(resolve_command()),
        refused(ResolveIssue, IssueStatus::InDeliberation, IN_DELIBERATION_ALLOWED),
    );
}

#[test]
fn evaluate_resolution_once_per_cycle_while_resolved() {
    check(
        "RESOLVED -> RESOLVED (evaluated), level kept",
        history(vec![reported(), handled_in_grid()]),
        when(evaluate_command()),
        Then::Events(
            vec![then_event(evaluated())],
            IssueStatus::Resolved,
            Some(ResolutionLevel::Grid),
        ),
    );
    check(
        "RESOLVED and already evaluated refuses",
        history(vec![reported(), resolved(), evaluated()]),
        when(evaluate_command()),
        refused(EvaluateResolution, IssueStatus::Resolved, RESOLVED_EVALUATED_ALLOWED),
    );
}

#[test]
fn reopen_issue_moves_resolved_to_reopened() {
    for (name, given) in [
        (
            "RESOLVED (not evaluated) -> REOPENED",
            history(vec![reported(), handled_in_grid()]),
        ),
        (
            "RESOLVED (evaluated) -> REOPENED",
            history(vec![reported(), resolved(), evaluated()]),
        ),
    ] {
        check(
            name,
            given,
            when(reopen_command()),
            Then::Events(vec![then_event(reopened())], IssueStatus::Reopened, None),
        );
    }
    check(
        "REPORTED refuses",
        history(vec![reported()]),
        when(reopen_command()),
        refused(ReopenIssue, IssueStatus::Reported, REPORTED_OR_REOPENED_ALLOWED),
    );
}

#[test]
fn withdraw_issue_from_every_status_but_resolved_and_withdrawn() {
    let reasons = [
        WithdrawalReason::Duplicate {
            duplicate_of: other_issue_id(),
        },
        WithdrawalReason::OutOfScope,
        WithdrawalReason::ReporterWithdrew,
    ];
    for (name, given) in [
        ("REPORTED -> WITHDRAWN", history(vec![reported()])),
        ("IN_PROGRESS -> WITHDRAWN", history(vec![reported(), dispatched("ann")])),
        (
            "IN_DELIBERATION -> WITHDRAWN",
            history(vec![reported(), convened("m1")]),
        ),
        ("ESCALATED -> WITHDRAWN", history(vec![reported(), escalated()])),
        (
            "REOPENED -> WITHDRAWN",
            history(vec![reported(), resolved(), reopened()]),
        ),
    ] {
        for reason in reasons {
            check(
                &format!("{name} ({})", reason.kind_name()),
                given.clone(),
                when(withdraw_command(reason)),
                Then::Events(vec![then_event(withdrawn(reason))], IssueStatus::Withdrawn, None),
            );
        }
    }
    check(
        "RESOLVED refuses",
        history(vec![reported(), handled_in_grid()]),
        when(withdraw_command(WithdrawalReason::OutOfScope)),
        refused(WithdrawIssue, IssueStatus::Resolved, RESOLVED_NOT_EVALUATED_ALLOWED),
    );
    check(
        "WITHDRAWN is terminal",
        history(vec![reported(), withdrawn(WithdrawalReason::OutOfScope)]),
        when(withdraw_command(WithdrawalReason::OutOfScope)),
        refused(WithdrawIssue, IssueStatus::Withdrawn, &[]),
    );
}

#[test]
fn refusals_name_the_status_and_the_allowed_commands() {
    for (given, command, expected_message) in [
        (
            history(vec![reported(), escalated()]),
            resolve_command(),
            "ResolveIssue is not allowed while the issue is ESCALATED; allowed now: RecordCommitteeDecision, WithdrawIssue",
        ),
        (
            history(vec![reported(), resolved(), evaluated()]),
            evaluate_command(),
            "EvaluateResolution is not allowed while the issue is RESOLVED; allowed now: ReopenIssue",
        ),
        (
            history(vec![reported(), withdrawn(WithdrawalReason::OutOfScope)]),
            reopen_command(),
            "ReopenIssue is not allowed while the issue is WITHDRAWN; allowed now: none",
        ),
        (
            history(vec![reported()]),
            report_command(),
            "issue 0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506 already exists and is REPORTED; allowed now: HandleInGrid, DispatchIssue, ConveneDeliberation, EscalateIssue, ResolveIssue, WithdrawIssue",
        ),
        (
            vec![],
            resolve_command(),
            "the issue does not exist: ResolveIssue needs a reported issue (allowed now: ReportIssue)",
        ),
    ] {
        let error = decide(&fold(&given), when(command)).expect_err("refused");
        assert_eq!(error.to_string(), expected_message);
    }
}

#[test]
fn every_scenario_accepts_exactly_the_commands_the_table_allows() {
    let mut exercised: BTreeSet<(CommandKind, Option<IssueStatus>)> = BTreeSet::new();
    let mut statuses_reached = BTreeSet::new();
    for (name, given) in scenarios() {
        let state = fold(&given);
        statuses_reached.insert(state.status());
        let expected_allowed = table_allowed_commands(&state);
        assert_eq!(allowed_commands(&state), expected_allowed, "{name}");
        for &kind in CommandKind::ALL {
            let context = format!("{name} / {kind}");
            let result = decide(&state, when(command_of_kind(kind, &state)));
            if table_allows(&state, kind) {
                let row = table_row(kind);
                let events = result.unwrap_or_else(|error| panic!("{context}: refused: {error}"));
                assert_eq!(events.len(), 1, "{context}");
                assert_eq!(events[0].event_type(), row.event.as_str(), "{context}");
                let level_before = state.issue().and_then(|issue| issue.resolution_level);
                let after = evolve(state.clone(), &events[0]);
                let issue_after = after.issue().expect("an issue after an accepted command");
                assert_eq!(issue_after.status, row.status_after, "{context}");
                assert_eq!(
                    issue_after.resolution_level,
                    expected_level_after(row, level_before, issue_after.escalated_in_cycle),
                    "{context}"
                );
                exercised.insert((kind, state.status()));
                continue;
            }
            let error = result.expect_err(&context);
            let Some(issue) = state.issue() else {
                assert_eq!(error, DomainError::IssueNotFound { command: kind }, "{context}");
                assert_eq!(error.kind(), DomainErrorKind::NotFound, "{context}");
                continue;
            };
            if kind == CommandKind::ReportIssue {
                assert_eq!(
                    error,
                    DomainError::IssueAlreadyExists {
                        issue_id: issue.issue_id,
                        status: issue.status,
                        allowed: expected_allowed.clone(),
                    },
                    "{context}"
                );
                continue;
            }
            assert_eq!(
                error,
                DomainError::TransitionNotAllowed {
                    command: kind,
                    status: issue.status,
                    allowed: expected_allowed.clone(),
                },
                "{context}"
            );
            assert_eq!(error.kind(), DomainErrorKind::FailedPrecondition);
            let allowed_list = if expected_allowed.is_empty() {
                "none".to_owned()
            } else {
                expected_allowed
                    .iter()
                    .map(|allowed| allowed.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            assert_eq!(
                error.to_string(),
                format!(
                    "{kind} is not allowed while the issue is {}; allowed now: {allowed_list}",
                    issue.status
                ),
                "{context}"
            );
        }
    }
    let table_pairs: BTreeSet<(CommandKind, Option<IssueStatus>)> = LIFECYCLE_TABLE
        .iter()
        .flat_map(|row| {
            let absent = row.allowed_when_absent.then_some((row.command, None));
            let statuses = row
                .allowed_statuses
                .iter()
                .map(move |status| (row.command, Some(*status)));
            absent.into_iter().chain(statuses)
        })
        .collect();
    assert_eq!(
        exercised, table_pairs,
        "the scenarios exercise every (command, status) the table allows"
    );
    let every_status: BTreeSet<Option<IssueStatus>> = std::iter::once(None)
        .chain(IssueStatus::ALL.iter().copied().map(Some))
        .collect();
    assert_eq!(statuses_reached, every_status);
}
