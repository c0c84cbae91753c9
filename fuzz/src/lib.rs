//! What the fuzz targets share: the built-in registry, the server clock, a valid request of
//! every command, the issue states a valid history leads through, and the checks every
//! target makes on what decodes (the stored form round-trips, errors format).
//!
//! The targets are in `fuzz_targets/`; `examples/seed_corpus.rs` writes the seed corpus
//! from the same fixtures. See docs/security.md#fuzzing.

use std::sync::OnceLock;

use gridledger_api::{CommandRequest, WireCommand, WireError, proto};
use gridledger_codec::{decode_record, encode_event, encode_events};
use gridledger_domain::{
    CommandEnvelope, IssueEvent, IssueId, IssueState, Registry, Timestamp, allowed_commands, decide, evolve,
};
use gridledger_eventlog::EventRecord;
use prost::Message;

// The clock, the issue ids and a valid request of every command are shared with the api's
// property tests.
#[path = "../../crates/api/tests/fixtures/valid_requests.rs"]
mod valid_requests;

pub use valid_requests::{ISSUE, NOW_MICROS, OTHER_ISSUE, valid_commands};

/// The server clock.
pub fn now() -> Timestamp {
    Timestamp::from_unix_micros(NOW_MICROS)
}

/// The built-in registry, built once.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::builtin_runzhou)
}

/// The id the server chooses for a report without one.
pub fn chosen_issue_id() -> IssueId {
    IssueId::parse(ISSUE).expect("a valid issue id")
}

/// The command requests, in the order of the lifecycle table (`CommandKind::ALL`); the
/// first byte of a `command_requests` input picks one of them (modulo their number).
pub const COMMAND_KINDS: [&str; 12] = [
    "ReportIssueRequest",
    "HandleInGridRequest",
    "DispatchIssueRequest",
    "AcceptAssignmentRequest",
    "ConveneDeliberationRequest",
    "ConcludeDeliberationRequest",
    "EscalateIssueRequest",
    "RecordCommitteeDecisionRequest",
    "ResolveIssueRequest",
    "EvaluateResolutionRequest",
    "ReopenIssueRequest",
    "WithdrawIssueRequest",
];

/// The index in [`COMMAND_KINDS`] of a wire command, and its encoding.
pub fn kind_and_bytes(command: &WireCommand) -> (u8, Vec<u8>) {
    match command {
        WireCommand::ReportIssue(request) => (0, request.encode_to_vec()),
        WireCommand::HandleInGrid(request) => (1, request.encode_to_vec()),
        WireCommand::DispatchIssue(request) => (2, request.encode_to_vec()),
        WireCommand::AcceptAssignment(request) => (3, request.encode_to_vec()),
        WireCommand::ConveneDeliberation(request) => (4, request.encode_to_vec()),
        WireCommand::ConcludeDeliberation(request) => (5, request.encode_to_vec()),
        WireCommand::EscalateIssue(request) => (6, request.encode_to_vec()),
        WireCommand::RecordCommitteeDecision(request) => (7, request.encode_to_vec()),
        WireCommand::ResolveIssue(request) => (8, request.encode_to_vec()),
        WireCommand::EvaluateResolution(request) => (9, request.encode_to_vec()),
        WireCommand::ReopenIssue(request) => (10, request.encode_to_vec()),
        WireCommand::WithdrawIssue(request) => (11, request.encode_to_vec()),
    }
}

/// A `command_requests` input: the kind byte, then the encoded request.
pub fn command_input(command: &WireCommand) -> Vec<u8> {
    let (kind, bytes) = kind_and_bytes(command);
    let mut input = vec![kind];
    input.extend(bytes);
    input
}

/// The request of kind `kind` ([`COMMAND_KINDS`]) in `bytes`, decoded with prost and
/// converted as the server converts it: `None` if it does not decode.
pub fn command_from_bytes(kind: u8, bytes: &[u8]) -> Option<Result<CommandRequest, WireError>> {
    macro_rules! convert {
        ($message:ty) => {
            <$message>::decode(bytes).ok().map(CommandRequest::try_from)
        };
    }
    match kind % 12 {
        0 => proto::ReportIssueRequest::decode(bytes)
            .ok()
            .map(|request| request.into_command(registry(), chosen_issue_id)),
        1 => convert!(proto::HandleInGridRequest),
        2 => convert!(proto::DispatchIssueRequest),
        3 => convert!(proto::AcceptAssignmentRequest),
        4 => convert!(proto::ConveneDeliberationRequest),
        5 => convert!(proto::ConcludeDeliberationRequest),
        6 => convert!(proto::EscalateIssueRequest),
        7 => convert!(proto::RecordCommitteeDecisionRequest),
        8 => convert!(proto::ResolveIssueRequest),
        9 => convert!(proto::EvaluateResolutionRequest),
        10 => convert!(proto::ReopenIssueRequest),
        _ => convert!(proto::WithdrawIssueRequest),
    }
}

/// The states of the valid history and its events.
#[derive(Debug)]
pub struct History {
    /// From no issue to withdrawn: absent, reported, in progress (dispatched, then
    /// accepted), in deliberation, in progress, escalated, escalated with a committee
    /// decision, resolved, evaluated, reopened, resolved in the grid, reopened, withdrawn.
    pub states: Vec<IssueState>,
    /// Every event of that history, oldest first.
    pub events: Vec<IssueEvent>,
}

/// The valid history, decided at [`now`] and folded with `evolve`, built once.
pub fn history() -> &'static History {
    static HISTORY: OnceLock<History> = OnceLock::new();
    HISTORY.get_or_init(|| {
        let commands = valid_commands();
        let mut states = vec![IssueState::Absent];
        let mut events = Vec::new();
        for index in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 9, 11] {
            let (kind, bytes) = kind_and_bytes(&commands[index]);
            let request = command_from_bytes(kind, &bytes)
                .expect("a valid request decodes")
                .expect("a valid request converts");
            let state = states.last().expect("a state").clone();
            let decided = decide(&state, CommandEnvelope::new(now(), request.command))
                .unwrap_or_else(|error| panic!("valid command {index} refused: {error}"));
            states.push(decided.iter().fold(state, evolve));
            events.extend(decided);
        }
        History { states, events }
    })
}

/// The stored record of `event`, as the log would hold it (the log's own fields set to
/// plausible values).
pub fn stored_record(event: &IssueEvent, position: u64) -> EventRecord {
    let stored = encode_event(event);
    EventRecord {
        position,
        stream_id: format!("issue-{ISSUE}"),
        revision: position.saturating_sub(1),
        event_id: vec![0x01; 16],
        event_type: stored.event_type,
        recorded_at: NOW_MICROS,
        occurred_at: stored.occurred_at_micros,
        actor_id: "worker-7".to_owned(),
        request_id: format!("r{position}"),
        stream_prev_hash: vec![0; 32],
        event: stored.payload,
    }
}

/// Whatever decoded into a domain event survives the stored form: encoded with
/// `encode_event` and decoded again, it is the same event.
pub fn assert_stored_round_trip(event: &IssueEvent) {
    let stored = encode_event(event);
    assert_eq!(stored.event_type, event.event_type());
    assert_eq!(stored.occurred_at_micros, event.occurred_at.as_unix_micros());
    let record = EventRecord {
        event_type: stored.event_type,
        occurred_at: stored.occurred_at_micros,
        event: stored.payload,
        ..EventRecord::default()
    };
    match decode_record(&record) {
        Ok(again) => assert_eq!(&again, event, "the stored form changed the event"),
        Err(error) => panic!("an event that decoded does not decode after re-encoding: {error:?}\n{event:?}"),
    }
}

/// `events`, decided on `state`, survive the stored form in order, and fold onto `state`.
pub fn assert_decided_events_survive(state: &IssueState, events: &[IssueEvent]) {
    for (event, stored) in events.iter().zip(encode_events(events)) {
        let record = EventRecord {
            event_type: stored.event_type,
            occurred_at: stored.occurred_at_micros,
            event: stored.payload,
            ..EventRecord::default()
        };
        match decode_record(&record) {
            Ok(decoded) => assert_eq!(&decoded, event, "a decided event changed in the stored form"),
            Err(error) => panic!("a decided event does not decode from its stored form: {error:?}\n{event:?}"),
        }
    }
    let after = events.iter().fold(state.clone(), evolve);
    let _ = allowed_commands(&after);
}

/// Formats an error and its sources, as logs and gRPC statuses do (formatting must not
/// panic either).
pub fn format_error(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
