//! The gRPC contract of gridledger: generated protobuf/gRPC code and the proto <-> domain conversions.
//!
//! This is the only crate where generated types and domain types meet. Conversions from
//! the wire validate on receipt and fail with [`DomainError::InvalidField`] naming the API
//! field; conversions to the wire cannot fail.

#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod commands;
mod enums;
mod events;
mod issue;
mod time;

pub mod proto {
    //! Code generated from `proto/gridledger/v1/*.proto`; nothing else lives here.
    #![allow(clippy::all, clippy::pedantic, missing_debug_implementations)]
    tonic::include_proto!("gridledger.v1");

    /// The encoded `FileDescriptorSet` of the contract, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/gridledger_descriptor.bin"));
}

pub use commands::{CommandMeta, CommandRequest, parse_issue_id};
pub use enums::{issue_status_from_proto, issue_status_to_proto};
pub use events::{EncodedEvent, EventDecodeError, decode_event, decode_event_body, encode_event, event_body_to_proto};
pub use issue::issue_to_proto;
pub use time::{timestamp_from_proto, timestamp_to_proto};

use gridledger_domain::DomainError;

fn invalid(field: &'static str, reason: impl Into<String>) -> DomainError {
    DomainError::InvalidField {
        field,
        reason: reason.into(),
    }
}
