//! The gridledger gRPC server: `IssueService`, `AuditService` (with the log's signed checkpoints and Merkle proofs), `StatsService` and `NodeService` over the event log, with health and reflection; the HTTP read API and dashboard beside them (`serve --http`, the same reads); the outbox to NATS; and the stats node that serves figures across districts from their streams.
//!
//! A command goes: wire request -> validated [`gridledger_api::CommandRequest`] ->
//! `decide` on the issue folded from its stream -> append with the expected revision and
//! the request id (idempotent) -> ack after the group commit made it durable. All errors
//! become a `tonic::Status` in one place (`error.rs`).

#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod audit_service;
pub mod auth;
mod checkpoint_witness;
mod checkpoints;
mod districts;
mod error;
mod evidence_service;
mod governance;
mod http;
mod issue_service;
mod issues;
mod log_health;
mod metrics;
mod node_service;
mod outbox;
mod run;
mod stats_node;
mod stats_service;
mod submit_commands;
mod transport;
mod wire_guard;

pub use auth::{AuthConfig, TlsConfig};
pub use checkpoints::{CHECKPOINTS_FILE, CheckpointConfig};
pub use error::ServiceError;
pub use gridledger_bus::NatsConfig;
pub use run::{
    MAX_REQUEST_BYTES, NatsOutboxSettings, RunningServer, ServerConfig, ServerError, start, start_with_limits,
};
pub use stats_node::{StatsNodeConfig, district_of_stream, start_stats_node, start_stats_node_with_limits};
pub use submit_commands::{REMEMBERED_REFUSALS, SUBMIT_COMMANDS_RESPONSE_BUFFER, SUBMIT_COMMANDS_WINDOW};
pub use transport::{RESERVED_DESCRIPTORS, TransportLimits};
