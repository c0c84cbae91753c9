//! Requests from the wire become domain commands (or field errors), and events survive their stored form.

use gridledger_api::{CommandRequest, EventDecodeError, decode_event, encode_event, proto};
use gridledger_domain::{CommandEnvelope, DomainError, IssueId, IssueState, Registry, Timestamp, decide, evolve};

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

/// Applies each request through decide, then checks every emitted event encodes and decodes
/// back to itself and folds to the same state.
fn check(requests: Vec<Result<CommandRequest, DomainError>>) -> IssueState {
    let mut state = IssueState::Absent;
    for (index, request) in requests.into_iter().enumerate() {
        let request = request.unwrap_or_else(|error| panic!("request {index}: {error}"));
        let events = decide(
            &state,
            CommandEnvelope::new(Timestamp::from_unix_micros(NOW), request.command),
        )
        .unwrap_or_else(|error| panic!("request {index}: {error}"));
        for event in events {
            let encoded = encode_event(&event);
            let decoded = decode_event(encoded.event_type, encoded.occurred_at_micros, &encoded.payload);
            assert_eq!(decoded.as_ref(), Ok(&event), "request {index}");
            let wrong_type = if event.event_type() == "IssueReopened" {
                "IssueResolved"
            } else {
                "IssueReopened"
            };
            assert!(
                matches!(
                    decode_event(wrong_type, encoded.occurred_at_micros, &encoded.payload),
                    Err(EventDecodeError::TypeMismatch { .. })
                ),
                "request {index}"
            );
            state = evolve(state, &event);
        }
    }
    state
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
        }
        .into_command(&registry, || {
            IssueId::parse("0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506").expect("valid")
        })
    };
    let field_of = |result: Result<CommandRequest, DomainError>| match result {
        Err(DomainError::InvalidField { field, .. }) => field.to_owned(),
        Err(DomainError::UnknownJurisdiction { .. }) => "unknown grid".to_owned(),
        Err(DomainError::UnknownCategory { .. }) => "unknown category".to_owned(),
        other => format!("{other:?}"),
    };
    let cases: Vec<(Result<CommandRequest, DomainError>, &str)> = vec![
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
            }
            .try_into(),
            "meta",
        ),
        (
            proto::HandleInGridRequest {
                meta: meta(""),
                issue_id: id.clone(),
                summary: String::new(),
            }
            .try_into(),
            "meta.request_id",
        ),
        (
            proto::HandleInGridRequest {
                meta: meta("has space"),
                issue_id: id.clone(),
                summary: String::new(),
            }
            .try_into(),
            "meta.request_id",
        ),
        (
            proto::HandleInGridRequest {
                meta: meta("r"),
                issue_id: String::new(),
                summary: String::new(),
            }
            .try_into(),
            "issue_id",
        ),
        (
            proto::HandleInGridRequest {
                meta: meta("r"),
                issue_id: "nope".to_owned(),
                summary: String::new(),
            }
            .try_into(),
            "issue_id",
        ),
        (
            proto::HandleInGridRequest {
                meta: meta("r"),
                issue_id: id.clone(),
                summary: "x".repeat(8 * 1024 + 1),
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
