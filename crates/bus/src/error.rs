//! The one error type of the bus, with kinds callers can branch on.

use std::path::PathBuf;

use gridledger_domain::Sha256Digest;
use gridledger_eventlog::{EventLogError, Position};

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong between gridledger and NATS.
///
/// Callers branch on the variant: [`BusError::Connect`] and [`BusError::Nats`] are transient
/// (retry with backoff); [`BusError::StreamConfigMismatch`] is the operator's to fix (a
/// stream by that name exists with other settings); [`BusError::Conflict`] means another
/// publisher wrote to the stream; [`BusError::Tampered`] means a message in the stream does
/// not continue the log (never applied, names the position); [`BusError::Log`] comes from
/// the local log. The evidence kinds name the blob and the position of the event that
/// references it: [`BusError::EvidenceNotHeld`] and [`BusError::Evidence`] are about the
/// node's evidence store, [`BusError::EvidenceMissing`] about the district's evidence bucket.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot connect to NATS at {url}")]
    Connect { url: String, source: Source },

    #[error("cannot read NATS credentials file {}", path.display())]
    Credentials { path: PathBuf, source: Source },

    /// A JetStream request failed (timeout, no responders, server error).
    #[error("NATS JetStream: {context}")]
    Nats { context: String, source: Source },

    /// The stream exists with settings gridledger does not use; nothing was changed.
    #[error("stream {stream} exists with other settings: {differences}; gridledger will not change it")]
    StreamConfigMismatch { stream: String, differences: String },

    /// The stream does not exist.
    #[error("stream {stream} does not exist")]
    StreamNotFound { stream: String },

    /// The stream holds messages the outbox did not publish: its sequence no longer equals
    /// the log's positions.
    #[error("stream {stream} is not this log's: {reason}")]
    Conflict { stream: String, reason: String },

    /// A message does not continue the log: a gap, a duplicate, a bad chain hash or a
    /// record that does not decode. Nothing from it was applied.
    #[error("stream {stream} at position {position}: {reason}")]
    Tampered {
        stream: String,
        position: Position,
        reason: String,
    },

    /// The registry in the bucket is missing or invalid.
    #[error("registry of {stream}: {reason}")]
    Registry { stream: String, reason: String },

    /// Restore needs an empty log; this one holds events. Nothing was read or written.
    #[error("restore needs an empty log, but this one holds events up to position {head_position}")]
    LogNotEmpty { head_position: Position },

    #[error("event log")]
    Log(#[from] EventLogError),

    /// A stored event's body does not decode, so what it references cannot be told.
    #[error("the event at position {position} does not decode")]
    Decode { position: Position, source: Source },

    /// An event references an evidence blob the node's evidence store does not hold (or the
    /// outbox was given no evidence store): the event is not published before its blob is in
    /// the evidence bucket.
    #[error("position {position} references evidence blob {sha256}, which {reason}")]
    EvidenceNotHeld {
        sha256: Sha256Digest,
        position: Position,
        reason: String,
    },

    /// The evidence store failed on a blob an event references: the blob is damaged, the
    /// bytes imported for it do not hash to it or have another size, or the file system
    /// failed.
    #[error("evidence blob {sha256} (referenced at position {position})")]
    Evidence {
        sha256: Sha256Digest,
        position: Position,
        source: gridledger_evidence::EvidenceError,
    },

    /// The district's evidence bucket does not hold a blob an event references, or holds
    /// other bytes under its name.
    #[error("bucket {bucket}: evidence blob {sha256} (referenced at position {position}) {reason}")]
    EvidenceMissing {
        bucket: String,
        sha256: Sha256Digest,
        position: Position,
        reason: String,
    },
}

impl BusError {
    pub(crate) fn nats(context: impl Into<String>, source: impl Into<Source>) -> BusError {
        BusError::Nats {
            context: context.into(),
            source: source.into(),
        }
    }

    /// Whether retrying later may succeed (NATS down or slow), as opposed to a refusal that
    /// needs someone to act.
    pub fn is_transient(&self) -> bool {
        matches!(self, BusError::Connect { .. } | BusError::Nats { .. })
    }
}

/// An error and its sources, as one line (skipping a source its parent already shows).
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
