//! The stored form of gridledger's issue events, and the conversions every wire form shares.
//!
//! An event's stored record (`EventRecord`, owned by `eventlog`) carries the event's type
//! name, its business time and its body: one encoded `IssueEventBody` of
//! `proto/gridledger/v1/events.proto`. This crate is the one place that turns domain events
//! into those records ([`encode_events`]) and records back into domain events
//! ([`decode_recorded`]); the server, the projections, the CLI and the tests all use it. It
//! compiles `events.proto` with prost alone, so reading the log never pulls in gRPC.
//!
//! It also holds what the gRPC contract (`gridledger-api`) shares with the stored form:
//! enum and timestamp conversions, and [`WireError`], which names the wire field of a
//! rejected value (domain errors name domain concepts, see [`wire_field_name`]).
//! Event layout and the chain: `docs/events.md`.

#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod enums;
mod error;
mod events;
mod field_data;
mod time;

pub mod proto {
    //! Code generated from `proto/gridledger/v1/events.proto`; nothing else lives here.
    #![allow(clippy::all, clippy::pedantic, missing_debug_implementations)]
    include!(concat!(env!("OUT_DIR"), "/gridledger.v1.rs"));
}

pub use enums::{coordinate_system_from_proto, coordinate_system_to_proto};
pub use enums::{
    escalation_reason_from_proto, escalation_reason_to_proto, forum_from_proto, forum_to_proto,
    issue_status_filter_from_proto, issue_status_from_proto, issue_status_to_proto, resolution_level_from_proto,
    resolution_level_to_proto, satisfaction_from_proto, satisfaction_to_proto, withdrawal_reason_from_proto,
    withdrawal_reason_to_proto,
};
pub use error::{WireError, wire_field_name};
pub use events::{
    EventDecodeError, decode_record, decode_recorded, encode_event, encode_events, event_body_from_proto,
    event_body_to_proto,
};
pub use field_data::{
    evidence_list_from_proto, evidence_list_to_proto, evidence_ref_from_proto, evidence_ref_to_proto,
    location_from_proto, location_to_proto,
};
pub use time::{optional_timestamp, required_timestamp, timestamp_from_proto, timestamp_to_proto};
