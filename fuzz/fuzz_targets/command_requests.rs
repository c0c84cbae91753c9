//! Arbitrary bytes as a command request of the contract: the first byte picks the request
//! message (`gridledger_fuzz::COMMAND_KINDS`, modulo 12), the rest is decoded with prost
//! and converted as the server converts it (`CommandRequest::try_from`, or
//! `ReportIssueRequest::into_command` against the built-in registry). A request that
//! converts survives the client's encoding (`WireCommand::of`, encoded and converted again,
//! is the same request), and is decided on every state of a valid history (absent,
//! reported, in progress, in deliberation, escalated, resolved, reopened, withdrawn, ...).
//! Nothing panics, and every event `decide` returns survives the stored form.

#![no_main]

use gridledger_api::{MAX_COMMAND_REQUEST_BYTES, WireCommand, decode_message, proto};
use gridledger_domain::{CommandEnvelope, decide};
use gridledger_fuzz::{assert_decided_events_survive, command_from_bytes, format_error, history, kind_and_bytes, now};
use libfuzzer_sys::fuzz_target;
use prost::Message;

/// The server's decoder (size limit, one message per call) agrees with prost's decode for
/// a request within the size limit.
fn server_decoder_agrees(kind: u8, bytes: &[u8]) {
    macro_rules! agree {
        ($message:ty) => {{
            let server = decode_message::<$message>(1, bytes).ok();
            let prost = <$message>::decode(bytes).ok();
            if bytes.len() <= MAX_COMMAND_REQUEST_BYTES {
                assert_eq!(server, prost, "the server's decoder and prost disagree");
            } else {
                assert!(server.is_none(), "an oversized command was decoded");
            }
        }};
    }
    match kind % 12 {
        0 => agree!(proto::ReportIssueRequest),
        1 => agree!(proto::HandleInGridRequest),
        2 => agree!(proto::DispatchIssueRequest),
        3 => agree!(proto::AcceptAssignmentRequest),
        4 => agree!(proto::ConveneDeliberationRequest),
        5 => agree!(proto::ConcludeDeliberationRequest),
        6 => agree!(proto::EscalateIssueRequest),
        7 => agree!(proto::RecordCommitteeDecisionRequest),
        8 => agree!(proto::ResolveIssueRequest),
        9 => agree!(proto::EvaluateResolutionRequest),
        10 => agree!(proto::ReopenIssueRequest),
        _ => agree!(proto::WithdrawIssueRequest),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, bytes)) = data.split_first() else {
        return;
    };
    server_decoder_agrees(kind, bytes);
    let request = match command_from_bytes(kind, bytes) {
        None => return,
        Some(Err(error)) => {
            let _ = format_error(&error);
            return;
        }
        Some(Ok(request)) => request,
    };

    // The client's encoding of the validated request converts back to the same request.
    let wire = WireCommand::of(request.issue_id, &request.meta, &request.command);
    let (wire_kind, wire_bytes) = kind_and_bytes(&wire);
    assert_eq!(wire_kind, kind % 12, "WireCommand::of chose another request");
    let again = command_from_bytes(wire_kind, &wire_bytes)
        .expect("the client's encoding decodes")
        .unwrap_or_else(|error| panic!("the client's encoding of a valid request is refused: {error}\n{request:?}"));
    assert_eq!(again.issue_id, request.issue_id);
    assert_eq!(again.meta, request.meta);
    assert_eq!(again.command, request.command);

    for state in &history().states {
        let mut envelope = CommandEnvelope::new(now(), request.command.clone());
        if let Some(occurred_at) = request.meta.occurred_at {
            envelope = envelope.with_occurred_at(occurred_at);
        }
        match decide(state, envelope) {
            Ok(events) => assert_decided_events_survive(state, &events),
            Err(error) => {
                let _ = format_error(&error);
            }
        }
    }
});
