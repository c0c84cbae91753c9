//! The audit views between the log and the wire: recorded events (with their exact stored
//! bytes and hashes), replay steps, and the log verification report.

use gridledger_codec::WireError;
use gridledger_eventlog::{EventRecord, RecordedEvent, VerifyReport};
use prost::Message;

use crate::ack::hash_from_proto;
use crate::issue::IssueView;
use crate::proto;

/// A committed event on the wire: the exact record bytes, both hashes, the record decoded
/// and, when it holds an issue event, its body decoded.
pub fn recorded_to_proto(recorded: &RecordedEvent) -> proto::RecordedEvent {
    proto::RecordedEvent {
        position: recorded.position,
        record: recorded.record_bytes.clone(),
        prev_hash: recorded.prev_hash.to_vec(),
        hash: recorded.hash.to_vec(),
        decoded: Some(recorded.record.clone()),
        event: proto::IssueEventBody::decode(recorded.record.event.as_slice()).ok(),
    }
}

/// A committed event a server sent. The record is decoded from the exact bytes sent (the
/// bytes the hash covers), not taken from the convenience copy beside them; the hashes are
/// carried as sent, so an auditor can check them.
pub fn recorded_from_proto(wire: proto::RecordedEvent) -> Result<RecordedEvent, WireError> {
    let record = EventRecord::decode(wire.record.as_slice())
        .map_err(|error| WireError::invalid("record", format!("does not decode as an EventRecord: {error}")))?;
    Ok(RecordedEvent {
        position: wire.position,
        prev_hash: hash_from_proto("prev_hash", &wire.prev_hash)?,
        hash: hash_from_proto("hash", &wire.hash)?,
        record_bytes: wire.record,
        record,
    })
}

/// One step of an issue's replay: an event and the issue's state after it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayStep {
    pub event: RecordedEvent,
    pub state_after: IssueView,
}

/// A replay step a server sent.
pub fn replay_step_from_proto(wire: proto::ReplayStep) -> Result<ReplayStep, WireError> {
    let event = wire.event.ok_or_else(|| WireError::invalid("event", "is required"))?;
    let state = wire.state.ok_or_else(|| WireError::invalid("state", "is required"))?;
    Ok(ReplayStep {
        event: recorded_from_proto(event)?,
        state_after: IssueView::try_from(state)?,
    })
}

/// The verification report on the wire.
pub fn verify_report_to_proto(report: &VerifyReport) -> proto::VerifyLogResponse {
    proto::VerifyLogResponse {
        ok: report.ok,
        events_checked: report.events_checked,
        head_position: report.head_position,
        head_hash: report.head_hash.to_vec(),
        first_bad_position: report.first_bad_position.unwrap_or(0),
        message: report.message.clone(),
    }
}

/// The verification report a server sent.
pub fn verify_report_from_proto(wire: proto::VerifyLogResponse) -> Result<VerifyReport, WireError> {
    Ok(VerifyReport {
        ok: wire.ok,
        events_checked: wire.events_checked,
        head_position: wire.head_position,
        head_hash: hash_from_proto("head_hash", &wire.head_hash)?,
        first_bad_position: (wire.first_bad_position != 0).then_some(wire.first_bad_position),
        message: wire.message,
    })
}
