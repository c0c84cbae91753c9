//! Arbitrary bytes through the real conversions never panic: stored event bodies through
//! `decode_record`, every request message through the server's decoder and its conversion
//! to a command or filter, every response through the client's conversions; and `decide`
//! on whatever comes out never panics, and anything it accepts survives the stored form.
//!
//! The bytes are either arbitrary or valid encodings with bytes overwritten, truncated or
//! spliced, so that they reach past the first field.

use gridledger_api::{
    Acknowledgement, CommandRequest, IssueView, StatsFilter, WireCommand, breakdown_from_proto,
    breakdown_rows_from_proto, decode_message, decode_record, encode_events, list_filter_from_proto, parse_issue_id,
    proto, recorded_from_proto, replay_step_from_proto, stats_from_proto, verify_report_from_proto,
};
use gridledger_domain::{
    CommandEnvelope, EventType, IssueEvent, IssueId, IssueState, Registry, Timestamp, decide, evolve, fold,
};
use gridledger_eventlog::EventRecord;
use proptest::prelude::*;
use proptest::sample::Index;
use prost::Message;

#[path = "fixtures/valid_requests.rs"]
mod valid_requests;

use valid_requests::{ISSUE, NOW_MICROS as NOW, valid_commands};

fn registry() -> &'static Registry {
    static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(Registry::builtin_runzhou)
}

fn encoded(command: &WireCommand) -> Vec<u8> {
    match command {
        WireCommand::ReportIssue(request) => request.encode_to_vec(),
        WireCommand::HandleInGrid(request) => request.encode_to_vec(),
        WireCommand::DispatchIssue(request) => request.encode_to_vec(),
        WireCommand::AcceptAssignment(request) => request.encode_to_vec(),
        WireCommand::ConveneDeliberation(request) => request.encode_to_vec(),
        WireCommand::ConcludeDeliberation(request) => request.encode_to_vec(),
        WireCommand::EscalateIssue(request) => request.encode_to_vec(),
        WireCommand::RecordCommitteeDecision(request) => request.encode_to_vec(),
        WireCommand::ResolveIssue(request) => request.encode_to_vec(),
        WireCommand::EvaluateResolution(request) => request.encode_to_vec(),
        WireCommand::ReopenIssue(request) => request.encode_to_vec(),
        WireCommand::WithdrawIssue(request) => request.encode_to_vec(),
    }
}

/// The server's view of a request of `kind` (its position in [`valid_commands`]) sent as
/// `bytes`: decoded by the server's codec, then converted.
fn command_from_bytes(kind: usize, bytes: &[u8]) -> Option<Result<CommandRequest, gridledger_api::WireError>> {
    macro_rules! convert {
        ($message:ty) => {
            decode_message::<$message>(1, bytes)
                .ok()
                .map(CommandRequest::try_from)
        };
    }
    match kind {
        0 => decode_message::<proto::ReportIssueRequest>(1, bytes)
            .ok()
            .map(|request| request.into_command(registry(), || IssueId::parse(ISSUE).expect("a valid id"))),
        1 => convert!(proto::DispatchIssueRequest),
        2 => convert!(proto::AcceptAssignmentRequest),
        3 => convert!(proto::ConveneDeliberationRequest),
        4 => convert!(proto::ConcludeDeliberationRequest),
        5 => convert!(proto::EscalateIssueRequest),
        6 => convert!(proto::RecordCommitteeDecisionRequest),
        7 => convert!(proto::ResolveIssueRequest),
        8 => convert!(proto::EvaluateResolutionRequest),
        9 => convert!(proto::ReopenIssueRequest),
        10 => convert!(proto::HandleInGridRequest),
        _ => convert!(proto::WithdrawIssueRequest),
    }
}

/// The states of [`valid_history`] and the stored (event type, body) of its events.
type History = (Vec<IssueState>, Vec<(String, Vec<u8>)>);

/// Every state the valid commands lead through, in the order of [`valid_commands`] but
/// reopening again after the handling in the grid (from no issue to withdrawn), and the
/// encoded bodies of the events that led there.
fn valid_history() -> &'static History {
    static HISTORY: std::sync::OnceLock<History> = std::sync::OnceLock::new();
    HISTORY.get_or_init(|| {
        let mut states = vec![IssueState::Absent];
        let mut bodies = Vec::new();
        let commands = valid_commands();
        for kind in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 9, 11] {
            let request = command_from_bytes(kind, &encoded(&commands[kind]))
                .expect("decodes")
                .expect("converts");
            let state = states.last().expect("a state").clone();
            let events = decide(
                &state,
                CommandEnvelope::new(Timestamp::from_unix_micros(NOW), request.command),
            )
            .unwrap_or_else(|error| panic!("command {kind}: {error}"));
            for encoded in encode_events(&events) {
                bodies.push((encoded.event_type, encoded.payload));
            }
            states.push(events.iter().fold(state, evolve));
        }
        (states, bodies)
    })
}

/// How a valid encoding is damaged: bytes overwritten, then (maybe) a tail cut off and
/// other bytes spliced in.
type Damage = (Vec<(Index, u8)>, Option<Index>, Vec<u8>);

fn damage() -> impl Strategy<Value = Damage> {
    (
        prop::collection::vec((any::<Index>(), any::<u8>()), 0..6),
        prop::option::of(any::<Index>()),
        prop::collection::vec(any::<u8>(), 0..8),
    )
}

fn damaged(mut bytes: Vec<u8>, (overwrites, cut, spliced): Damage) -> Vec<u8> {
    for (at, value) in overwrites {
        if !bytes.is_empty() {
            let index = at.index(bytes.len());
            bytes[index] = value;
        }
    }
    if let Some(cut) = cut {
        let at = cut.index(bytes.len() + 1);
        bytes.truncate(at);
        bytes.extend(spliced);
    }
    bytes
}

/// Bytes a hostile client might send: arbitrary, or one of `valid` damaged.
fn hostile_bytes(valid: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let arbitrary = prop::collection::vec(any::<u8>(), 0..256);
    let mutated =
        (any::<Index>(), damage()).prop_map(move |(which, damage)| damaged(which.get(&valid).clone(), damage));
    prop_oneof![arbitrary, mutated]
}

/// A stored record a damaged log might hold: the body of a valid event, damaged or not, or
/// arbitrary bytes; mostly with that event's type, sometimes another or an arbitrary one;
/// mostly a plausible business time, sometimes any.
fn hostile_record() -> impl Strategy<Value = EventRecord> {
    let type_names: Vec<String> = EventType::ALL.iter().map(|kind| kind.as_str().to_owned()).collect();
    (
        any::<Index>(),
        prop_oneof![3 => damage().prop_map(Some), 1 => Just(None)],
        prop::collection::vec(any::<u8>(), 0..128),
        prop_oneof![
            4 => Just(None),
            1 => prop::sample::select(type_names).prop_map(Some),
            1 => ".{0,20}".prop_map(Some),
        ],
        prop_oneof![4 => (0..1_000_000_000_000i64).prop_map(|offset| NOW - offset), 1 => any::<i64>()],
    )
        .prop_map(|(which, damage, arbitrary, event_type, occurred_at)| {
            let (valid_type, valid_body) = which.get(&valid_history().1).clone();
            let event = match damage {
                Some(damage) => damaged(valid_body, damage),
                None => arbitrary,
            };
            EventRecord {
                event_type: event_type.unwrap_or(valid_type),
                occurred_at,
                event,
                ..EventRecord::default()
            }
        })
}

fn valid_requests() -> Vec<Vec<u8>> {
    valid_commands().iter().map(encoded).collect()
}

/// Decides `request` against every state of the valid history. Whatever `decide` accepts
/// must survive the stored form, as the server appends it.
fn decide_everywhere(request: &CommandRequest) -> Result<(), TestCaseError> {
    for state in &valid_history().0 {
        let mut envelope = CommandEnvelope::new(Timestamp::from_unix_micros(NOW), request.command.clone());
        if let Some(occurred_at) = request.meta.occurred_at {
            envelope = envelope.with_occurred_at(occurred_at);
        }
        if let Ok(events) = decide(state, envelope) {
            for (event, stored) in events.iter().zip(encode_events(&events)) {
                let record = EventRecord {
                    event_type: stored.event_type,
                    occurred_at: stored.occurred_at_micros,
                    event: stored.payload,
                    ..EventRecord::default()
                };
                let decoded = decode_record(&record);
                prop_assert_eq!(decoded.as_ref(), Ok(event));
            }
            let _ = events.iter().fold(state.clone(), evolve);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every command request, from bytes to `decide`.
    #[test]
    fn command_requests_from_arbitrary_bytes_never_panic(
        kind in 0..12usize,
        bytes in hostile_bytes(valid_requests()),
    ) {
        if let Some(Ok(request)) = command_from_bytes(kind, &bytes) {
            decide_everywhere(&request)?;
        }
    }

    /// The same bytes as every other request of the contract, through its conversion.
    #[test]
    fn queries_from_arbitrary_bytes_never_panic(bytes in hostile_bytes(valid_requests())) {
        let now = Timestamp::from_unix_micros(NOW);
        if let Ok(request) = decode_message::<proto::GetIssueRequest>(1, bytes.as_slice()) {
            let _ = parse_issue_id("issue_id", &request.issue_id);
        }
        if let Ok(request) = decode_message::<proto::ListIssuesRequest>(1, bytes.as_slice()) {
            let _ = list_filter_from_proto(&request, registry());
            let _ = parse_issue_id("page_token", &request.page_token);
        }
        if let Ok(request) = decode_message::<proto::GetGovernanceStatsRequest>(1, bytes.as_slice())
            && let Ok(filter) = StatsFilter::from_proto(&request, registry(), now)
        {
            let _ = filter.query(now);
        }
        if let Ok(request) = decode_message::<proto::BreakdownGovernanceStatsRequest>(1, bytes.as_slice()) {
            let _ = breakdown_from_proto(&request, registry(), now);
        }
        if let Ok(request) = decode_message::<proto::ReadIssueHistoryRequest>(1, bytes.as_slice()) {
            let _ = parse_issue_id("issue_id", &request.issue_id);
        }
        if let Ok(request) = decode_message::<proto::ReplayIssueRequest>(1, bytes.as_slice()) {
            let _ = parse_issue_id("issue_id", &request.issue_id);
        }
        let _ = decode_message::<proto::ReadAllRequest>(1, bytes.as_slice());
        let _ = decode_message::<proto::VerifyLogRequest>(1, bytes.as_slice());
    }

    /// The same bytes as every response, through the typed client's conversions.
    #[test]
    fn responses_from_arbitrary_bytes_never_panic(bytes in hostile_bytes(valid_requests())) {
        if let Ok(ack) = decode_message::<proto::CommandAck>(1, bytes.as_slice()) {
            let _ = Acknowledgement::try_from(ack);
        }
        if let Ok(issue) = decode_message::<proto::Issue>(1, bytes.as_slice()) {
            let _ = IssueView::try_from(issue);
        }
        if let Ok(list) = decode_message::<proto::ListIssuesResponse>(1, bytes.as_slice()) {
            for issue in list.issues {
                let _ = IssueView::try_from(issue);
            }
        }
        if let Ok(stats) = decode_message::<proto::GovernanceStats>(1, bytes.as_slice()) {
            let _ = stats_from_proto(&stats);
        }
        if let Ok(rows) = decode_message::<proto::BreakdownGovernanceStatsResponse>(1, bytes.as_slice()) {
            let _ = breakdown_rows_from_proto(rows);
        }
        if let Ok(event) = decode_message::<proto::RecordedEvent>(1, bytes.as_slice()) {
            let _ = recorded_from_proto(event);
        }
        if let Ok(step) = decode_message::<proto::ReplayStep>(1, bytes.as_slice()) {
            let _ = replay_step_from_proto(step);
        }
        if let Ok(report) = decode_message::<proto::VerifyLogResponse>(1, bytes.as_slice()) {
            let _ = verify_report_from_proto(report);
        }
    }

    /// A stored record with an arbitrary body, type and business time decodes or is
    /// refused; a history of whatever decodes folds, and `decide` on the result never
    /// panics.
    #[test]
    fn stored_records_from_arbitrary_bytes_never_panic(
        records in prop::collection::vec(hostile_record(), 1..12),
        kind in 0..12usize,
    ) {
        let events: Vec<IssueEvent> = records.iter().filter_map(|record| decode_record(record).ok()).collect();
        let state = fold(&events);
        let command = &valid_commands()[kind];
        let request = command_from_bytes(kind, &encoded(command))
            .expect("decodes")
            .expect("converts");
        let _ = decide(&state, CommandEnvelope::new(Timestamp::from_unix_micros(NOW), request.command));
    }
}
