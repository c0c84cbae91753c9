//! The decider's conditions beyond the table's status column: who may accept, which
//! meeting concludes, resolution from ESCALATED, evaluations per cycle, duplicates, time
//! rules, unknown grids and categories, error kinds, and `evolve`'s totality.

use gridledger_domain::{
    CommandEnvelope, CommandKind, DispatchIssue, DomainError, DomainErrorKind, DurationMicros, EARLIEST_BUSINESS_TIME,
    Field, IssueCommand, IssueEvent, IssueEventBody, IssueReported, IssueState, IssueStatus, IssueTitle,
    MAX_CLOCK_SKEW, MAX_DEADLINE_HORIZON, OccurredAtProblem, RecordCommitteeDecision, RegistryError, ReportIssue,
    ResolutionLevel, Timestamp, WithdrawalReason, decide, evolve, fold,
};

use crate::fixtures::*;

/// Decides `when` on the state `given` folds to; on success, also returns the state after.
fn check(given: &[IssueEvent], when: CommandEnvelope) -> Result<(Vec<IssueEvent>, IssueState), DomainError> {
    let state = fold(given);
    let events = decide(&state, when)?;
    let after = events.iter().fold(state, evolve);
    Ok((events, after))
}

fn level_after(given: &[IssueEvent], when: CommandEnvelope) -> Option<ResolutionLevel> {
    let (_, after) = check(given, when).expect("accepted");
    after.issue().and_then(|issue| issue.resolution_level)
}

#[test]
fn only_the_assignee_accepts_an_assignment() {
    let given = history(vec![reported(), dispatched("ann")]);
    let error = check(&given, when(accept_command("bob"))).expect_err("wrong assignee");
    assert_eq!(
        error,
        DomainError::AssignmentMismatch {
            assigned_to: person("ann"),
            attempted_by: person("bob"),
        }
    );
    assert_eq!(error.to_string(), "the open assignment is for \"ann\", not \"bob\"");
    assert_eq!(error.kind(), DomainErrorKind::FailedPrecondition);

    let redispatched = history(vec![reported(), dispatched("ann"), accepted("ann"), dispatched("bob")]);
    assert!(check(&redispatched, when(accept_command("bob"))).is_ok());
    assert!(matches!(
        check(&redispatched, when(accept_command("ann"))),
        Err(DomainError::AssignmentMismatch { .. })
    ));

    let (_, after) = check(&given, when(accept_command("ann"))).expect("accepted");
    let assignment = after
        .issue()
        .and_then(|issue| issue.assignment.clone())
        .expect("an assignment");
    assert!(assignment.accepted);
    assert_eq!(assignment.due_at, when_due_at());
}

#[test]
fn accepting_needs_an_open_assignment() {
    let after_deliberation = history(vec![reported(), convened("m1"), concluded("m1")]);
    let error = check(&after_deliberation, when(accept_command("ann"))).expect_err("refused");
    assert!(matches!(
        error,
        DomainError::TransitionNotAllowed {
            command: CommandKind::AcceptAssignment,
            status: IssueStatus::InProgress,
            ref allowed,
        } if !allowed.contains(&CommandKind::AcceptAssignment)
    ));
}

#[test]
fn only_the_open_meeting_concludes() {
    let given = history(vec![reported(), convened("m1")]);
    let error = check(&given, when(conclude_command("m2"))).expect_err("wrong meeting");
    assert_eq!(
        error,
        DomainError::MeetingMismatch {
            open_meeting_id: meeting("m1"),
            given_meeting_id: meeting("m2"),
        }
    );
    assert_eq!(
        error.to_string(),
        "meeting \"m2\" is not this issue's open deliberation; the open meeting is \"m1\""
    );
    let (_, after) = check(&given, when(conclude_command("m1"))).expect("concluded");
    let issue = after.issue().expect("an issue");
    assert_eq!(issue.meetings_concluded, 1);
    assert_eq!(issue.open_meeting_id, None);
}

#[test]
fn resolving_from_escalated_needs_a_decision_in_this_cycle() {
    let escalated_only = history(vec![reported(), escalated()]);
    assert!(matches!(
        check(&escalated_only, when(resolve_command())),
        Err(DomainError::TransitionNotAllowed {
            command: CommandKind::ResolveIssue,
            status: IssueStatus::Escalated,
            ..
        })
    ));
    let decided = history(vec![reported(), escalated(), committee_decision()]);
    assert_eq!(
        level_after(&decided, when(resolve_command())),
        Some(ResolutionLevel::Committee)
    );
    let (_, after) = check(&decided, when(resolve_command())).expect("resolved");
    let issue = after.issue().expect("an issue");
    assert_eq!(issue.due_at, when_due_at(), "the decision's deadline");
    assert_eq!(issue.escalations, 1);
    assert_eq!(issue.committee_decisions, 1);

    let escalated_again = history(vec![
        reported(),
        escalated(),
        committee_decision(),
        resolved(),
        reopened(),
        escalated(),
    ]);
    assert!(
        check(&escalated_again, when(resolve_command())).is_err(),
        "the previous cycle's decision does not count"
    );
}

#[test]
fn resolution_levels_follow_the_cycle() {
    assert_eq!(
        level_after(&history(vec![reported()]), when(handle_in_grid_command())),
        Some(ResolutionLevel::Grid)
    );
    assert_eq!(
        level_after(&history(vec![reported(), dispatched("ann")]), when(resolve_command())),
        Some(ResolutionLevel::Community)
    );
    let reopened_after_committee = history(vec![
        reported(),
        escalated(),
        committee_decision(),
        resolved(),
        reopened(),
    ]);
    assert_eq!(
        level_after(&reopened_after_committee, when(resolve_command())),
        Some(ResolutionLevel::Community),
        "a reopen starts a new cycle"
    );
    let state = fold(&reopened_after_committee);
    let issue = state.issue().expect("an issue");
    assert_eq!(issue.resolution_level, None);
    assert!(!issue.escalated_in_cycle && !issue.committee_decision_in_cycle);
    assert_eq!(issue.reopen_count, 1);
    assert_eq!(issue.escalations, 1);
}

#[test]
fn evaluation_is_once_per_cycle_and_allowed_again_after_reopen_and_resolve() {
    let evaluated_once = history(vec![reported(), resolved(), evaluated()]);
    assert!(matches!(
        check(&evaluated_once, when(evaluate_command())),
        Err(DomainError::TransitionNotAllowed {
            command: CommandKind::EvaluateResolution,
            ..
        })
    ));
    let resolved_again = history(vec![reported(), resolved(), evaluated(), reopened(), resolved()]);
    let (_, after) = check(&resolved_again, when(evaluate_command())).expect("evaluated");
    let issue = after.issue().expect("an issue");
    assert!(issue.evaluated_in_cycle);
    let evaluation = issue.last_evaluation.clone().expect("an evaluation");
    assert_eq!(evaluation.evaluated_at, at(WHEN_MINUTE));
    assert_eq!(issue.last_resolved_at, Some(at(40)));
}

#[test]
fn a_duplicate_must_name_another_issue() {
    let given = history(vec![reported()]);
    let itself = WithdrawalReason::Duplicate {
        duplicate_of: issue_id(),
    };
    let error = check(&given, when(withdraw_command(itself))).expect_err("self duplicate");
    assert!(matches!(
        error,
        DomainError::InvalidField {
            field: Field::DuplicateOf,
            ..
        }
    ));
    assert_eq!(error.kind(), DomainErrorKind::InvalidArgument);
    let other = WithdrawalReason::Duplicate {
        duplicate_of: other_issue_id(),
    };
    let (_, after) = check(&given, when(withdraw_command(other))).expect("withdrawn");
    assert_eq!(after.issue().and_then(|issue| issue.withdrawal_reason), Some(other));
}

#[test]
fn occurred_at_is_bounded_by_the_server_clock_and_the_report() {
    let given = history(vec![reported(), dispatched("ann")]);
    let now = at(WHEN_MINUTE);
    let latest = now.checked_add(MAX_CLOCK_SKEW).expect("in range");
    let just_too_late = latest.checked_add(DurationMicros::from_micros(1)).expect("in range");
    let resolve_at =
        |occurred_at: Timestamp| CommandEnvelope::new(now, resolve_command()).with_occurred_at(occurred_at);

    let (events, _) = check(&given, resolve_at(latest)).expect("5 minutes ahead is fine");
    assert_eq!(events[0].occurred_at, latest);
    let error = check(&given, resolve_at(just_too_late)).expect_err("too far ahead");
    assert_eq!(
        error,
        DomainError::InvalidOccurredAt {
            occurred_at: just_too_late,
            problem: OccurredAtProblem::TooFarInTheFuture {
                now,
                max_skew: MAX_CLOCK_SKEW,
            },
        }
    );
    assert_eq!(
        error.to_string(),
        "invalid occurred_at 2026-11-27T19:44:00.000001Z: it is more than 5min after the server clock (2026-11-27T19:39:00.000000Z)"
    );

    let (events, _) = check(&given, resolve_at(at(0))).expect("at the report is fine");
    assert_eq!(events[0].occurred_at, at(0));
    let before_report = at(0).checked_sub(DurationMicros::from_micros(1)).expect("in range");
    assert_eq!(
        check(&given, resolve_at(before_report)),
        Err(DomainError::InvalidOccurredAt {
            occurred_at: before_report,
            problem: OccurredAtProblem::BeforeReport { reported_at: at(0) },
        })
    );

    let late_report = CommandEnvelope::new(now, report_command()).with_occurred_at(at(-600));
    let (events, after) = check(&[], late_report).expect("an offline app reports late");
    let issue = after.issue().expect("an issue");
    assert_eq!(issue.reported_at, at(-600));
    assert_eq!(issue.due_at, at(-600 + CATEGORY_DEADLINE_HOURS * 60));
    assert_eq!(events[0].occurred_at, at(-600));
    let future_report = CommandEnvelope::new(now, report_command()).with_occurred_at(just_too_late);
    assert!(matches!(
        check(&[], future_report),
        Err(DomainError::InvalidOccurredAt { .. })
    ));
}

#[test]
fn deadlines_must_follow_occurred_at() {
    let reported_only = history(vec![reported()]);
    let escalated_only = history(vec![reported(), escalated()]);
    let dispatch_due = |due_at: Timestamp| -> IssueCommand {
        DispatchIssue {
            assignee_id: person("ann"),
            due_at,
        }
        .into()
    };
    let decision_due = |due_at: Timestamp| -> IssueCommand {
        RecordCommitteeDecision {
            decision: text("Fix it."),
            lead_department: gridledger_domain::DepartmentName::parse(Field::LeadDepartment, "roads").expect("valid"),
            supporting_departments: gridledger_domain::SupportingDepartments::empty(),
            due_at,
        }
        .into()
    };
    for (given, command) in [
        (&reported_only, dispatch_due(at(WHEN_MINUTE))),
        (&reported_only, dispatch_due(at(WHEN_MINUTE - 1))),
        (&escalated_only, decision_due(at(WHEN_MINUTE))),
    ] {
        let error = check(given, when(command)).expect_err("due_at not after occurred_at");
        assert!(
            matches!(
                error,
                DomainError::InvalidField {
                    field: Field::DueAt,
                    ..
                }
            ),
            "{error}"
        );
    }
    let (_, after) = check(&reported_only, when(dispatch_due(at(WHEN_MINUTE + 1)))).expect("dispatched");
    assert_eq!(after.issue().map(|issue| issue.due_at), Some(at(WHEN_MINUTE + 1)));
    let (_, after) = check(&escalated_only, when(decision_due(at(WHEN_MINUTE + 1)))).expect("decided");
    assert_eq!(after.issue().map(|issue| issue.due_at), Some(at(WHEN_MINUTE + 1)));

    // At most five years (1827 days) after occurred_at.
    let horizon = at(WHEN_MINUTE).checked_add(MAX_DEADLINE_HORIZON).expect("in range");
    let past_horizon = horizon.checked_add(DurationMicros::from_micros(1)).expect("in range");
    let (_, after) = check(&reported_only, when(dispatch_due(horizon))).expect("five years ahead is fine");
    assert_eq!(after.issue().map(|issue| issue.due_at), Some(horizon));
    check(&escalated_only, when(decision_due(horizon))).expect("five years ahead is fine");
    for (given, command) in [
        (&reported_only, dispatch_due(past_horizon)),
        (&escalated_only, decision_due(past_horizon)),
        (&reported_only, dispatch_due(Timestamp::from_unix_micros(i64::MAX))),
    ] {
        let error = check(given, when(command)).expect_err("due_at too far ahead");
        assert!(
            matches!(&error, DomainError::InvalidField { field: Field::DueAt, reason } if reason.contains("1827 days")),
            "{error}"
        );
    }
}

#[test]
fn occurred_at_is_not_before_the_year_2000() {
    let now = at(WHEN_MINUTE);
    let report_at = |occurred_at: Timestamp| CommandEnvelope::new(now, report_command()).with_occurred_at(occurred_at);
    let (events, _) = check(&[], report_at(EARLIEST_BUSINESS_TIME)).expect("2000-01-01 is fine");
    assert_eq!(events[0].occurred_at, EARLIEST_BUSINESS_TIME);
    for too_early in [
        EARLIEST_BUSINESS_TIME
            .checked_sub(DurationMicros::from_micros(1))
            .expect("in range"),
        Timestamp::UNIX_EPOCH,
        Timestamp::from_unix_micros(i64::MIN),
    ] {
        let error = check(&[], report_at(too_early)).expect_err("before 2000");
        assert_eq!(
            error,
            DomainError::InvalidOccurredAt {
                occurred_at: too_early,
                problem: OccurredAtProblem::BeforeEarliest {
                    earliest: EARLIEST_BUSINESS_TIME
                },
            }
        );
        assert_eq!(error.kind(), DomainErrorKind::InvalidArgument);
    }
    assert_eq!(
        check(&[], report_at(Timestamp::UNIX_EPOCH))
            .expect_err("1970")
            .to_string(),
        "invalid occurred_at 1970-01-01T00:00:00.000000Z: it is before 2000-01-01T00:00:00.000000Z, the earliest business time accepted"
    );
    // A server clock before 2000 (an unset clock) refuses every command rather than
    // recording it then.
    let unset_clock = CommandEnvelope::new(Timestamp::UNIX_EPOCH, report_command());
    assert!(matches!(
        check(&[], unset_clock),
        Err(DomainError::InvalidOccurredAt {
            problem: OccurredAtProblem::BeforeEarliest { .. },
            ..
        })
    ));
}

#[test]
fn reports_need_a_registered_grid_and_category() {
    let title = IssueTitle::parse("Gas smell in stairwell").expect("valid title");
    let report = |grid: &str, category: &str| {
        ReportIssue::new(
            registry(),
            issue_id(),
            gridledger_domain::GridCode::parse(grid).expect("a well-formed grid code"),
            &category_code(category),
            title.clone(),
            text(""),
            person("grid-worker-7"),
        )
    };
    let unknown_grid = report("runzhou.s7.c07.g07", "work-safety").expect_err("unknown grid");
    assert_eq!(
        unknown_grid,
        DomainError::Registry(RegistryError::UnknownJurisdiction {
            code: "runzhou.s7.c07.g07".to_owned()
        })
    );
    assert_eq!(unknown_grid.kind(), DomainErrorKind::NotFound);
    let unknown_category = report(GRID, "fireworks").expect_err("unknown category");
    assert_eq!(
        unknown_category,
        DomainError::Registry(RegistryError::UnknownCategory {
            code: "fireworks".to_owned()
        })
    );
    assert_eq!(unknown_category.kind(), DomainErrorKind::InvalidArgument);
    assert_eq!(
        unknown_category.to_string(),
        "unknown category \"fireworks\": it is not in the registry"
    );
    let malformed_registry = DomainError::from(RegistryError::MissingEntries { section: "grids" });
    assert_eq!(malformed_registry.kind(), DomainErrorKind::InvalidArgument);
    let work_safety = report(GRID, "work-safety").expect("registered");
    assert_eq!(work_safety.category().default_handling_deadline_hours(), 24);
    let (events, _) = check(&[], CommandEnvelope::new(at(0), work_safety.into())).expect("ok");
    let IssueEventBody::IssueReported(IssueReported { due_at, .. }) = &events[0].body else {
        panic!("expected IssueReported, got {:?}", events[0].body);
    };
    assert_eq!(*due_at, at(24 * 60));
}

#[test]
fn decide_is_deterministic() {
    let state = fold(&history(vec![reported(), dispatched("ann")]));
    let first = decide(&state, when(accept_command("ann")));
    let second = decide(&state, when(accept_command("ann")));
    assert_eq!(first, second);
}

#[test]
fn evolve_is_total_for_events_decide_never_emits() {
    let stray_events = [
        resolved(),
        concluded("m1"),
        accepted("zed"),
        evaluated(),
        committee_decision(),
        reported(),
        withdrawn(WithdrawalReason::OutOfScope),
        reopened(),
    ];
    assert_eq!(
        fold(&history(stray_events[..2].to_vec())),
        IssueState::Absent,
        "nothing but a report creates an issue"
    );
    let mut all = vec![reported()];
    all.extend(stray_events);
    let state = fold(&history(all));
    let issue = state.issue().expect("an issue");
    assert_eq!(issue.event_count, 9);
    assert_eq!(issue.revision(), 8);
    assert_eq!(issue.status, IssueStatus::Reopened);
    assert_eq!(issue.resolution_level, None);
    assert_eq!(issue.assignment, None);

    let evaluated_while_reported = fold(&history(vec![reported(), evaluated()]));
    assert_eq!(evaluated_while_reported.status(), Some(IssueStatus::Reported));
}
