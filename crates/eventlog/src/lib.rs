//! The append-only, hash-chained event log of gridledger, on sled.
//!
//! The log is generic: it stores opaque event payloads in streams and knows nothing of
//! issues. What it guarantees (docs/events.md#what-the-log-promises):
//!
//! - **Records.** Each event is stored as an encoded [`EventRecord`]; those exact bytes are
//!   hashed: `hash = SHA-256(prev_hash || record)`. The record carries `stream_prev_hash`, the
//!   hash of the stream's previous event, so the log is one chain and every stream its own.
//! - **Positions** start at 1 without gaps; **revisions** start at 0 per stream.
//! - **Append** checks an [`ExpectedRevision`] and is idempotent by [`RequestId`], forever.
//! - **Durability.** Concurrent appends are group-committed: one atomic sled batch, one
//!   flush plus `fdatasync`, then every append in the group is acknowledged. Nothing is
//!   readable before it is durable. See `docs/durability.md`.
//! - **Reads** of a stream or of everything; [`Subscription`]s that catch up then follow.
//! - **Verify** recomputes both chains and the Merkle tree nodes and names the first bad position.
//! - **Merkle tree.** An RFC 6962 Merkle tree over the records is kept in the same atomic
//!   batches as the events ([`merkle`]); [`EventLog::merkle_root`], [`EventLog::inclusion_proof`]
//!   and [`EventLog::consistency_proof`] answer for any size up to the head in O(log n) reads.
//! - **Import** ([`EventLog::import`]) stores events recorded by another node (a replica, a
//!   restore) verbatim: same record bytes, positions, hashes and request ids, after checking
//!   that each continues the log (position, global and stream chains, revision,
//!   `recorded_at`, ids); the first that does not refuses the whole import with
//!   [`EventLogError::ImportRefused`] and nothing is written. A resent prefix identical to
//!   what is stored is skipped. Written, indexed and made durable exactly as appends are.
//! - **Storage faults** do not stop the writer. An append whose durable flush failed gets
//!   [`EventLogError::OutcomeUnknown`] (retrying it with the same request id returns the
//!   original if it was written, or writes it once); while the log is failing
//!   ([`EventLog::health`] is [`LogHealth::Failing`], [`EventLog::watch_health`] tells of
//!   every change) appends are refused at once with [`EventLogError::Unavailable`] and write
//!   nothing; the writer retries the flush (10 ms doubling to 1 s) and, once one succeeds,
//!   the head moves over everything now durable and appends are taken again. A failed
//!   `fsync` is not retried: the log then refuses appends until it is reopened. See
//!   `docs/durability.md`, "When storage fails".
//!
//! Only this crate knows sled (see `docs/ARCHITECTURE.md`).

#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod error;
#[cfg(test)]
mod fault_tests;
mod health;
mod import;
#[cfg(test)]
mod import_tests;
mod layout;
mod log;
pub mod merkle;
mod projection_store;
mod record;
mod storage_bound;
mod store;
mod subscribe;
#[cfg(test)]
mod tamper_tests;
mod tree;
#[cfg(test)]
mod tree_tests;
mod types;
mod verify;
mod writer;
mod writer_metrics;

pub use error::EventLogError;
pub use health::LogHealth;
pub use import::{ImportedEvent, MAX_EVENTS_PER_IMPORT};
pub use log::EventLog;
pub use projection_store::{CHECKPOINT_CHUNK_ENTRIES, ProjectionStore};
pub use record::{EventRecord, chain_hash};
pub use storage_bound::{StorageBound, measure_storage_bound};
pub use store::{Durability, EventLogConfig};
pub use subscribe::Subscription;
pub use types::{
    AppendOutcome, AppendRequest, ChainHash, ExpectedRevision, LogHead, MAX_EVENTS_PER_APPEND, MAX_PAYLOAD_BYTES,
    NewEvent, Position, RecordedEvent, RequestId, Revision, StreamId, ZERO_HASH,
};
pub use verify::VerifyReport;
pub use writer::WriterStats;
pub use writer_metrics::{
    FLUSH_NANOS_BOUNDS, GROUP_COMMIT_EVENTS_BOUNDS, HistogramSnapshot, WriterMetrics, WriterState,
};
