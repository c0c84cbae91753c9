//! Requests from the wire become domain commands (or field errors), and events survive their stored form.

use gridledger_api::{
    Acknowledgement, CommandMeta, CommandRequest, EventDecodeError, IssueView, WireCommand, WireError, decode_record,
    encode_events, proto,
};
use gridledger_domain::{
    CommandEnvelope, DomainError, IssueId, IssueState, Registry, RegistryError, Timestamp, decide, evolve,
};
use gridledger_eventlog::EventRecord;

const NOW: i64 = 1_700_000_000_000_000;

fn meta(request_id: &str) -> Option<proto::CommandMeta> {
    Some(proto::CommandMeta {
        request_id: request_id.to_owned(),
        expected_revision: None,
        occurred_at: None,
    })
}

fn in_days(days: i64) -> Option<prost_types::Timestamp> {
    Some(gridledger_api::timestamp_to_proto(Timestamp::from_unix_micros(
        NOW + days * 86_400_000_000,
    )))
}

/// A stored record holding one encoded event (the fields the decoder reads).
fn stored(event_type: &str, occurred_at: i64, payload: Vec<u8>) -> EventRecord {
    EventRecord {
        event_type: event_type.to_owned(),
        occurred_at,
        event: payload,
        ..EventRecord::default()
    }
}

/// Applies each request through decide, then checks: the client's wire form of the command
/// converts back to the same request; every emitted event encodes and decodes back to itself
/// and folds to the same state; and the issue survives its wire form.
fn check(requests: Vec<Result<CommandRequest, WireError>>) -> IssueState {
    let mut state = IssueState::Absent;
    for (index, request) in requests.into_iter().enumerate() {
        let request = request.unwrap_or_else(|error| panic!("request {index}: {error}"));
        check_client_form(&request, index);
        let events = decide(
            &state,
            CommandEnvelope::new(Timestamp::from_unix_micros(NOW), request.command),
        )
        .unwrap_or_else(|error| panic!("request {index}: {error}"));
        for (event, encoded) in events.iter().zip(encode_events(&events)) {
            let decoded = decode_record(&stored(
                &encoded.event_type,
                encoded.occurred_at_micros,
                encoded.payload.clone(),
            ));
            assert_eq!(decoded.as_ref(), Ok(event), "request {index}");
            let wrong_type = if event.event_type() == "IssueReopened" {
                "IssueResolved"
            } else {
                "IssueReopened"
            };
            assert!(
                matches!(
                    decode_record(&stored(wrong_type, encoded.occurred_at_micros, encoded.payload)),
                    Err(EventDecodeError::TypeMismatch { .. })
                ),
                "request {index}"
            );
            state = evolve(state, event);
        }
        if let Some(issue) = state.issue() {
            let view = IssueView::from(issue);
            assert_eq!(IssueView::try_from(view.to_proto()), Ok(view), "request {index}");
        }
    }
    state
}

/// The request a client builds from a domain command converts back into that command.
fn check_client_form(request: &CommandRequest, index: usize) {
    let registry = Registry::builtin_runzhou();
    let wire = WireCommand::of(request.issue_id, &request.meta, &request.command);
    let back: Result<CommandRequest, WireError> = match wire {
        WireCommand::ReportIssue(report) => report.into_command(&registry, || request.issue_id),
        WireCommand::HandleInGrid(wire) => wire.try_into(),
        WireCommand::DispatchIssue(wire) => wire.try_into(),
        WireCommand::AcceptAssignment(wire) => wire.try_into(),
        WireCommand::ConveneDeliberation(wire) => wire.try_into(),
        WireCommand::ConcludeDeliberation(wire) => wire.try_into(),
        WireCommand::EscalateIssue(wire) => wire.try_into(),
        WireCommand::RecordCommitteeDecision(wire) => wire.try_into(),
        WireCommand::ResolveIssue(wire) => wire.try_into(),
        WireCommand::EvaluateResolution(wire) => wire.try_into(),
        WireCommand::ReopenIssue(wire) => wire.try_into(),
        WireCommand::WithdrawIssue(wire) => wire.try_into(),
    };
    let back = back.unwrap_or_else(|error| panic!("request {index}: {error}"));
    assert_eq!(
        (&back.meta, back.issue_id, &back.command),
        (&request.meta, request.issue_id, &request.command),
        "request {index}"
    );
}

#[test]
fn a_whole_lifecycle_round_trips_through_the_wire_and_the_stored_form() {
    let registry = Registry::builtin_runzhou();
    let issue_id = IssueId::parse("0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506").expect("valid");
    let id = issue_id.to_string();
    let report = proto::ReportIssueRequest {
        meta: meta("r0"),
        issue_id: String::new(),
        grid_code: "runzhou.s1.c01.g01".to_owned(),
        category: "environment".to_owned(),
        title: "路灯不亮 street light out".to_owned(),
        description: "Two lamps dark since Monday".to_owned(),
        reporter_id: "worker-7".to_owned(),
        ..Default::default()
    }
    .into_command(&registry, || issue_id);
    let state = check(vec![
        report,
        proto::DispatchIssueRequest {
            meta: meta("r1"),
            issue_id: id.clone(),
            assignee_id: "ann".to_owned(),
            due_at: in_days(3),
        }
        .try_into(),
        proto::AcceptAssignmentRequest {
            meta: meta("r2"),
            issue_id: id.clone(),
            assignee_id: "ann".to_owned(),
        }
        .try_into(),
        proto::ConveneDeliberationRequest {
            meta: meta("r3"),
            issue_id: id.clone(),
            meeting_id: "m1".to_owned(),
            forum: proto::Forum::ResidentRepresentativeMeeting as i32,
            parties: vec!["residents".to_owned(), "property company".to_owned()],
        }
        .try_into(),
        proto::ConcludeDeliberationRequest {
            meta: meta("r4"),
            issue_id: id.clone(),
            meeting_id: "m1".to_owned(),
            participants: 12,
            outcome: "agreed".to_owned(),
            minutes: "…".to_owned(),
        }
        .try_into(),
        proto::EscalateIssueRequest {
            meta: meta("r5"),
            issue_id: id.clone(),
            reason: proto::EscalationReason::CrossJurisdiction as i32,
            note: String::new(),
        }
        .try_into(),
        proto::RecordCommitteeDecisionRequest {
            meta: meta("r6"),
            issue_id: id.clone(),
            decision: "fix it".to_owned(),
            lead_department: "works".to_owned(),
            supporting_departments: vec!["power".to_owned()],
            due_at: in_days(10),
        }
        .try_into(),
        proto::ResolveIssueRequest {
            meta: meta("r7"),
            issue_id: id.clone(),
            summary: "lamps replaced".to_owned(),
            ..Default::default()
        }
        .try_into(),
        proto::EvaluateResolutionRequest {
            meta: meta("r8"),
            issue_id: id.clone(),
            satisfaction: proto::Satisfaction::BasicallySatisfied as i32,
            evaluator_id: "resident-1".to_owned(),
            comment: String::new(),
        }
        .try_into(),
        proto::ReopenIssueRequest {
            meta: meta("r9"),
            issue_id: id.clone(),
            reason: "dark again".to_owned(),
        }
        .try_into(),
        proto::WithdrawIssueRequest {
            meta: meta("r10"),
            issue_id: id.clone(),
            reason: proto::WithdrawalReason::Duplicate as i32,
            duplicate_of: "0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f507".to_owned(),
        }
        .try_into(),
    ]);
    let issue = state.issue().expect("reported");
    let wire = gridledger_api::issue_to_proto(issue);
    assert_eq!((wire.status, wire.revision), (proto::IssueStatus::Withdrawn as i32, 10));
    assert_eq!(
        (
            wire.community_code.as_str(),
            wire.street_code.as_str(),
            wire.district_code.as_str()
        ),
        ("runzhou.s1.c01", "runzhou.s1", "runzhou")
    );
    assert_eq!(wire.duplicate_of, "0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f507");
}

#[test]
fn bad_requests_name_the_field() {
    let registry = Registry::builtin_runzhou();
    let id = "0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506".to_owned();
    let report = |grid: &str, category: &str, title: &str| {
        proto::ReportIssueRequest {
            meta: meta("r"),
            issue_id: String::new(),
            grid_code: grid.to_owned(),
            category: category.to_owned(),
            title: title.to_owned(),
            description: String::new(),
            reporter_id: "w".to_owned(),
            ..Default::default()
        }
        .into_command(&registry, || {
            IssueId::parse("0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506").expect("valid")
        })
    };
    let field_of = |result: Result<CommandRequest, WireError>| match result {
        Err(WireError::InvalidField { field, .. }) => field.to_owned(),
        Err(WireError::Domain(DomainError::Registry(RegistryError::UnknownJurisdiction { .. }))) => {
            "unknown grid".to_owned()
        }
        Err(WireError::Domain(DomainError::Registry(RegistryError::UnknownCategory { .. }))) => {
            "unknown category".to_owned()
        }
        other => format!("{other:?}"),
    };
    let cases: Vec<(Result<CommandRequest, WireError>, &str)> = vec![
        (report("runzhou.s1.c01.g01", "environment", &"x".repeat(201)), "title"),
        (report("runzhou.s1.c01", "environment", "t"), "grid_code"),
        (report("Runzhou.s1.c01.g01", "environment", "t"), "grid_code"),
        (report("runzhou.s9.c01.g01", "environment", "t"), "unknown grid"),
        (report("runzhou.s1.c01.g01", "weather", "t"), "unknown category"),
        (
            proto::HandleInGridRequest {
                meta: None,
                issue_id: id.clone(),
                summary: String::new(),
                ..Default::default()
            }
            .try_into(),
            "meta",
        ),
        (
            proto::HandleInGridRequest {
                meta: meta(""),
                issue_id: id.clone(),
                summary: String::new(),
                ..Default::default()
            }
            .try_into(),
            "meta.request_id",
        ),
        (
            proto::HandleInGridRequest {
                meta: meta("has space"),
                issue_id: id.clone(),
                summary: String::new(),
                ..Default::default()
            }
            .try_into(),
            "meta.request_id",
        ),
        (
            proto::HandleInGridRequest {
                meta: meta("r"),
                issue_id: String::new(),
                summary: String::new(),
                ..Default::default()
            }
            .try_into(),
            "issue_id",
        ),
        (
            proto::HandleInGridRequest {
                meta: meta("r"),
                issue_id: "nope".to_owned(),
                summary: String::new(),
                ..Default::default()
            }
            .try_into(),
            "issue_id",
        ),
        (
            proto::HandleInGridRequest {
                meta: meta("r"),
                issue_id: id.clone(),
                summary: "x".repeat(8 * 1024 + 1),
                ..Default::default()
            }
            .try_into(),
            "summary",
        ),
        (
            proto::DispatchIssueRequest {
                meta: meta("r"),
                issue_id: id.clone(),
                assignee_id: "ann".to_owned(),
                due_at: None,
            }
            .try_into(),
            "due_at",
        ),
        (
            proto::ConveneDeliberationRequest {
                meta: meta("r"),
                issue_id: id.clone(),
                meeting_id: "m".to_owned(),
                forum: 0,
                parties: vec![],
            }
            .try_into(),
            "forum",
        ),
        (
            proto::ConcludeDeliberationRequest {
                meta: meta("r"),
                issue_id: id.clone(),
                meeting_id: "m".to_owned(),
                participants: 0,
                outcome: String::new(),
                minutes: String::new(),
            }
            .try_into(),
            "participants",
        ),
        (
            proto::WithdrawIssueRequest {
                meta: meta("r"),
                issue_id: id.clone(),
                reason: proto::WithdrawalReason::Duplicate as i32,
                duplicate_of: String::new(),
            }
            .try_into(),
            "duplicate_of",
        ),
        (
            proto::WithdrawIssueRequest {
                meta: meta("r"),
                issue_id: id.clone(),
                reason: 0,
                duplicate_of: String::new(),
            }
            .try_into(),
            "reason",
        ),
    ];
    for (index, (result, expected_field)) in cases.into_iter().enumerate() {
        assert_eq!(field_of(result), expected_field, "case {index}");
    }
}

#[test]
fn acknowledgements_survive_the_wire_and_bad_ones_name_the_field() {
    let issue_id = IssueId::parse("0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506").expect("valid");
    let ack = Acknowledgement {
        issue_id,
        revision: 3,
        position: 42,
        event_hash: [7; 32],
        status: Some(gridledger_domain::IssueStatus::InProgress),
        duplicate: true,
    };
    assert_eq!(Acknowledgement::try_from(ack.to_proto()), Ok(ack.clone()));
    let mut short_hash = ack.to_proto();
    short_hash.event_hash.truncate(31);
    assert!(matches!(
        Acknowledgement::try_from(short_hash),
        Err(WireError::InvalidField {
            field: "event_hash",
            ..
        })
    ));
    let meta = CommandMeta::with_fresh_request_id();
    assert!(CommandMeta::check_request_id(&meta.request_id).is_ok());
}

#[test]
fn stats_filters_are_checked_against_the_registry_and_figures_survive_the_wire() {
    use gridledger_api::{StatsFilter, stats_from_proto, stats_to_proto};
    let registry = Registry::builtin_runzhou();
    let now = Timestamp::from_unix_micros(NOW);
    let at = |days: i64| in_days(days);
    let outcome = |request: proto::GetGovernanceStatsRequest| match StatsFilter::from_proto(&request, &registry, now) {
        Ok(filter) => {
            assert_eq!(
                StatsFilter::from_proto(&filter.to_proto(), &registry, now),
                Ok(filter.clone())
            );
            "ok".to_owned()
        }
        Err(WireError::InvalidField { field, .. }) => field.to_owned(),
        Err(WireError::Domain(DomainError::Registry(RegistryError::UnknownJurisdiction { .. }))) => {
            "unknown scope".to_owned()
        }
        Err(WireError::Domain(DomainError::Registry(RegistryError::UnknownCategory { .. }))) => {
            "unknown category".to_owned()
        }
        Err(other) => format!("{other:?}"),
    };
    let request = |scope: &str, category: &str| proto::GetGovernanceStatsRequest {
        scope: scope.to_owned(),
        category: category.to_owned(),
        ..Default::default()
    };
    let cases = [
        (request("", ""), "ok"),
        (request("runzhou.s3.c07", "dispute"), "ok"),
        (request("runzhou.s9", ""), "unknown scope"),
        (request("Runzhou", ""), "scope"),
        (request("", "weather"), "unknown category"),
        (request("", "Bad Code"), "category"),
        (
            proto::GetGovernanceStatsRequest {
                period_start: at(-10),
                period_end: at(-20),
                ..Default::default()
            },
            "period_end",
        ),
        (
            proto::GetGovernanceStatsRequest {
                as_of: at(1),
                ..Default::default()
            },
            "as_of",
        ),
        (
            proto::GetGovernanceStatsRequest {
                period_start: at(-20),
                period_end: at(-10),
                as_of: at(-1),
                ..Default::default()
            },
            "ok",
        ),
    ];
    for (index, (request, expected)) in cases.into_iter().enumerate() {
        assert_eq!(outcome(request), expected, "case {index}");
    }
    let figures = gridledger_projections::GovernanceStats {
        accepted: 4_350,
        closed: 4_294,
        closure_rate: 4_294.0 / 4_350.0,
        participants: 40_000,
        time_to_close_p90_hours: 71.5,
        as_of_position: 24_524,
        ..Default::default()
    };
    assert_eq!(stats_from_proto(&stats_to_proto(&figures)), figures);
}
