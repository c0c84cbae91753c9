//! Real values for the output tests: an issue walked through every event type by the
//! domain's `decide` and `evolve`, its state after each event, and its events as a real
//! event log stores them.

use gridledger_api::{IssueView, encode_events};
use gridledger_domain::{
    AcceptAssignment, CategoryCode, CommandEnvelope, ConcludeDeliberation, ConveneDeliberation, DepartmentName,
    DispatchIssue, DurationMicros, EscalateIssue, EscalationReason, EvaluateResolution, Field, Forum, FreeText,
    GridCode, HandleInGrid, IssueCommand, IssueEvent, IssueId, IssueState, IssueTitle, MeetingId, MeetingParties,
    ParticipantCount, PersonId, RecordCommitteeDecision, Registry, ReopenIssue, ReportIssue, ResolveIssue,
    Satisfaction, SupportingDepartments, Timestamp, WithdrawIssue, WithdrawalReason, decide, evolve,
};
use gridledger_eventlog::{
    AppendRequest, EventLog, EventLogConfig, ExpectedRevision, RecordedEvent, RequestId, StreamId,
};

/// 2026-11-27T01:00:00Z, when the walked issue is reported.
pub const REPORTED_AT: Timestamp = Timestamp::from_unix_micros(1_795_741_200_000_000);

pub fn issue_id() -> IssueId {
    IssueId::parse("01a21b09-561d-750b-a1e3-e4d063fc5eca").expect("a valid id")
}

pub fn other_issue_id() -> IssueId {
    IssueId::parse("01a21b09-3152-763a-8c93-bb709cf5d91b").expect("a valid id")
}

fn hours_after_report(hours: i64) -> Timestamp {
    REPORTED_AT.saturating_add(DurationMicros::from_hours(hours))
}

fn text(field: Field, value: &str) -> FreeText {
    FreeText::parse(field, value).expect("valid text")
}

fn person(field: Field, value: &str) -> PersonId {
    PersonId::parse(field, value).expect("a valid person id")
}

/// The walk's commands, each with the hour after the report it happens at: every event
/// type of the lifecycle once (the withdrawal as a duplicate).
fn commands() -> Vec<(i64, IssueCommand)> {
    let registry = Registry::builtin_runzhou();
    let report = ReportIssue::new(
        &registry,
        issue_id(),
        GridCode::parse("runzhou.s3.c01.g02").expect("a grid"),
        &CategoryCode::parse("dispute").expect("a category"),
        IssueTitle::parse("噪音扰民 noise at night").expect("a title"),
        text(Field::Description, "Music until 2 am\nevery weekend"),
        person(Field::Reporter, "worker-3"),
    )
    .expect("a registered grid and category");
    let meeting = MeetingId::parse(Field::Meeting, "cli-m1").expect("a meeting id");
    vec![
        (0, report.into()),
        (
            1,
            DispatchIssue {
                assignee_id: person(Field::Assignee, "mediator-2"),
                due_at: hours_after_report(72),
            }
            .into(),
        ),
        (
            2,
            AcceptAssignment {
                assignee_id: person(Field::Assignee, "mediator-2"),
            }
            .into(),
        ),
        (
            3,
            ConveneDeliberation {
                meeting_id: meeting.clone(),
                forum: Forum::ResidentRepresentativeMeeting,
                parties: MeetingParties::parse(["residents", "landlord"]).expect("parties"),
            }
            .into(),
        ),
        (
            5,
            ConcludeDeliberation {
                meeting_id: meeting,
                participants: ParticipantCount::new(9).expect("participants"),
                outcome: text(Field::Outcome, "quiet hours agreed"),
                minutes: FreeText::empty(),
            }
            .into(),
        ),
        (
            6,
            EscalateIssue {
                reason: EscalationReason::Recurring,
                note: Some(text(Field::EscalationNote, "keeps coming back")),
            }
            .into(),
        ),
        (
            7,
            RecordCommitteeDecision {
                decision: text(Field::Decision, "enforce quiet hours"),
                lead_department: DepartmentName::parse(Field::LeadDepartment, "urban-management-bureau")
                    .expect("a department"),
                supporting_departments: SupportingDepartments::parse(["public-security-bureau"]).expect("departments"),
                due_at: hours_after_report(240),
            }
            .into(),
        ),
        (
            8,
            ResolveIssue {
                summary: text(Field::Summary, "agreement holds"),
                evidence: Default::default(),
                location: None,
            }
            .into(),
        ),
        (
            9,
            EvaluateResolution {
                satisfaction: Satisfaction::BasicallySatisfied,
                evaluator_id: person(Field::Evaluator, "resident-9"),
                comment: FreeText::empty(),
            }
            .into(),
        ),
        (
            10,
            ReopenIssue {
                reason: text(Field::ReopenReason, "music is back"),
            }
            .into(),
        ),
        (
            11,
            HandleInGrid {
                summary: text(Field::Summary, "talked to the tenant"),
                evidence: Default::default(),
                location: None,
            }
            .into(),
        ),
        (
            12,
            ReopenIssue {
                reason: FreeText::empty(),
            }
            .into(),
        ),
        (
            13,
            WithdrawIssue {
                reason: WithdrawalReason::Duplicate {
                    duplicate_of: other_issue_id(),
                },
            }
            .into(),
        ),
    ]
}

/// The walk's events, as the domain decides them, and the issue's state after each.
pub fn walk() -> (Vec<IssueEvent>, Vec<IssueView>) {
    let mut state = IssueState::Absent;
    let mut events = Vec::new();
    let mut views = Vec::new();
    for (hours, command) in commands() {
        let at = hours_after_report(hours);
        let decided = decide(&state, CommandEnvelope::new(at, command)).expect("the walk is allowed");
        for event in decided {
            state = evolve(state, &event);
            views.push(IssueView::from(state.issue().expect("reported")));
            events.push(event);
        }
    }
    (events, views)
}

/// `events` appended to a real event log (one append each, the first by an actor), read
/// back as the log records them.
pub fn recorded(events: &[IssueEvent]) -> Vec<RecordedEvent> {
    let directory = tempfile::tempdir().expect("a temp dir");
    let log = EventLog::open(EventLogConfig::new(directory.path())).expect("a fresh log");
    for (index, event) in events.iter().enumerate() {
        log.append_blocking(AppendRequest {
            stream_id: StreamId::try_from(issue_id().stream_id()).expect("a stream id"),
            expected_revision: ExpectedRevision::Any,
            request_id: RequestId::try_from(format!("fixture-{index}")).expect("a request id"),
            actor_id: if index == 0 {
                "worker-3".to_owned()
            } else {
                String::new()
            },
            events: encode_events(std::slice::from_ref(event)),
        })
        .expect("appended");
    }
    let recorded = log.read_all(1, events.len()).expect("read back");
    log.close().expect("closed");
    recorded
}
