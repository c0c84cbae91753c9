//! The gRPC contract of gridledger and the one seam between the wire and the domain.
//!
//! - [`proto`]: the code generated from `proto/gridledger/v1/gridledger.proto` (the one
//!   module that holds it); its stored-event and record messages are `gridledger-codec`'s
//!   and `gridledger-eventlog`'s types, so each .proto is compiled once.
//! - Conversions, validating on receipt with [`WireError`]s that name the wire field:
//!   commands ([`CommandRequest`], [`WireCommand`]), issues ([`IssueView`]), statistics and
//!   their filters ([`StatsFilter`], checked against the registry once), recorded events,
//!   acknowledgements ([`Acknowledgement`]), the node's status ([`NodeStatusView`]) and the
//!   metadata keys.
//! - [`local_time`]: times typed by people (`2026-02-01`, `2026-02-01T07:00`, `2026-02`),
//!   read in a district's time zone; the one parser of the CLI, the HTTP API and the dashboard.
//! - [`checkpoint`]: the log's checkpoints as C2SP signed notes, the Ed25519 signer and
//!   verifier keys, their text formats; [`proofs`]: inclusion and consistency proofs checked
//!   against opened checkpoints (docs/audit.md). Pure, for the server and every client.
//! - [`client::Client`]: the typed client every client-side command uses; its
//!   `submit_commands` sends a queue of [`SubmittedCommand`]s over one stream and gets a
//!   [`SubmitResult`] per command.
//! - [`GridledgerCodec`]: the codec of every service and client: a request that does not
//!   decode is INVALID_ARGUMENT, a command is at most [`MAX_COMMAND_REQUEST_BYTES`] as
//!   received, a unary call carries one request message.
//!
//! Domain errors name domain concepts; [`WireError`] maps them to the contract's field
//! names ([`wire_field_name`]). Contract guide: `docs/api.md`.

#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod ack;
pub mod checkpoint;
pub mod client;
mod commands;
mod grpc_codec;
mod issue;
pub mod local_time;
mod metadata;
mod node;
pub mod proofs;
mod recorded;
mod stats;
mod submit;

pub mod proto {
    //! Code generated from `proto/gridledger/v1/gridledger.proto`; nothing else lives here.
    //! The messages it imports are re-exported from the crates that compile them.
    #![allow(clippy::all, clippy::pedantic, missing_debug_implementations)]
    tonic::include_proto!("gridledger.v1");

    pub use gridledger_codec::proto::{
        AssignmentAccepted, CommitteeDecisionRecorded, CoordinateSystem, DeliberationConcluded, DeliberationConvened,
        EscalationReason, EvidenceRef, Forum, IssueDispatched, IssueEscalated, IssueEventBody, IssueHandledInGrid,
        IssueReopened, IssueReported, IssueResolved, IssueStatus, IssueWithdrawn, Location, ResolutionEvaluated,
        ResolutionLevel, Satisfaction, WithdrawalReason, issue_event_body,
    };
    pub use gridledger_eventlog::EventRecord;

    /// The encoded `FileDescriptorSet` of the contract, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/gridledger_descriptor.bin"));
}

pub use ack::Acknowledgement;
pub use commands::{CommandMeta, CommandRequest, IssueReport, MAX_REQUEST_ID_CHARS, WireCommand, parse_issue_id};
pub use gridledger_codec::{
    EventDecodeError, WireError, decode_record, decode_recorded, encode_events, evidence_ref_from_proto,
    evidence_ref_to_proto, location_from_proto, location_to_proto, timestamp_from_proto, timestamp_to_proto,
    wire_field_name,
};
pub use grpc_codec::{
    GridledgerCodec, GridledgerDecoder, MAX_COMMAND_REQUEST_BYTES, MAX_EVIDENCE_CHUNK_DATA_BYTES,
    MAX_EVIDENCE_CHUNK_MESSAGE_BYTES, WireMessage, WireRole, decode_message,
};
pub use issue::{IssueView, issue_to_proto};
pub use metadata::{ACTOR_METADATA_KEY, MAX_ACTOR_CHARS, actor_of};
pub use node::{ComponentStatus, NodeDistrict, NodeStatusView, node_status_from_proto, node_status_to_proto};
pub use recorded::{
    ReplayStep, recorded_from_proto, recorded_to_proto, replay_step_from_proto, verify_report_from_proto,
    verify_report_to_proto,
};
pub use stats::{
    BreakdownRow, StatsFilter, breakdown_from_proto, breakdown_rows_from_proto, breakdown_rows_to_proto,
    breakdown_to_proto, category_filter_from_proto, list_filter_from_proto, list_request_to_proto, scope_from_proto,
    stats_from_proto, stats_to_proto,
};
pub use submit::{CommandRefusal, SubmitResult, SubmittedCommand};
