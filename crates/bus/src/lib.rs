//! NATS JetStream for gridledger: the outbox that publishes a district's log exactly once,
//! the verified feed that replicates it into another node's log, and restore.
//!
//! The sled log of a district node is the system of record. This crate carries it off the
//! machine (docs/operations.md):
//!
//! - **Naming** ([`stream_name`], [`event_subject`]): district `runzhou` publishes on stream
//!   `GRIDLEDGER_RUNZHOU`, subjects `gridledger.ev.<grid code>.<event_type_snake>`.
//! - **Outbox** (`outbox`): every committed event, in position order, pipelined, with
//!   `Nats-Msg-Id` = event id and `Nats-Expected-Last-Sequence` = position - 1, so stream
//!   sequence N is log position N and a late duplicate is refused by the stream.
//! - **Registry** (`registry`): the district's registry travels in a key-value bucket.
//! - **Evidence** (`evidence_bucket`): the photos and videos the district's events reference
//!   travel in an object store bucket, `GRIDLEDGER_<DISTRICT>_EVIDENCE`, one object per blob
//!   named by its SHA-256; the outbox puts an event's blobs there before it publishes the
//!   event, and restore brings them back into a node's evidence store.
//! - **Feed** (`feed`): consumes a district's stream and imports it verbatim into a replica
//!   log, checking position continuity and both hash chains on arrival.
//! - **Restore** (`restore`): rebuilds a district node's log from its stream, then the
//!   evidence its events reference from the district's evidence bucket.
//! - **Checkpoints** (`checkpoints`): the district node's signed checkpoints, published to a
//!   stream of their own (`GRIDLEDGER_<DISTRICT>_CHECKPOINTS`, subject
//!   `gridledger.checkpoint.<district>`), never into the event stream; and the reader a stats
//!   node checks them with against its replica.
//!
//! Only this crate knows NATS (docs/ARCHITECTURE.md): its API speaks in gridledger's own
//! types and [`BusError`], never in async-nats types.

#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod checkpoints;
mod connection;
mod error;
mod evidence_bucket;
mod feed;
mod naming;
mod outbox;
mod registry;
mod restore;
mod stream;

pub use checkpoints::{
    CheckpointMessage, CheckpointOutbox, CheckpointOutboxConfig, CheckpointOutboxState, CheckpointOutboxStatus,
    CheckpointReader, CheckpointSink, ReceivedCheckpoint, start_checkpoint_outbox,
};
pub use connection::{NatsConfig, NatsConnection};
pub use error::BusError;
pub use evidence_bucket::{BlobPut, BucketBlob, EvidenceBucket};
pub use feed::{Feed, FeedConfig, FeedState, FeedStatus, start_feed};
pub use naming::{
    HEADER_CHAIN_HASH, HEADER_POSITION, HEADER_PREV_HASH, HEADER_ROOT_HASH, HEADER_TREE_SIZE, REGISTRY_BUCKET,
    checkpoint_stream_name, checkpoint_subject, event_subject, event_type_snake, evidence_bucket_name,
    evidence_bucket_of_stream, evidence_object_name, stream_name, stream_subjects,
};
pub use outbox::{DEFAULT_MAX_IN_FLIGHT, Outbox, OutboxConfig, OutboxState, OutboxStatus, start_outbox};
pub use registry::{fetch_registry, publish_registry};
pub use restore::{
    EvidenceRestoreProgress, EvidenceRestoreReport, RestoreProgress, RestoreReport, restore, restore_evidence,
};
pub use stream::{
    DEFAULT_DUPLICATE_WINDOW, StreamSettings, StreamState, ensure_checkpoint_stream, ensure_district_stream,
    stream_state,
};
