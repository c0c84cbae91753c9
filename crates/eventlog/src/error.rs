//! The one error type of the event log, with kinds callers can branch on.

use crate::types::{ExpectedRevision, Position, Revision};

/// Everything that can go wrong in the event log.
///
/// Callers branch on the variant: [`EventLogError::Conflict`] is an optimistic-concurrency
/// miss the caller may retry after re-reading; [`EventLogError::InvalidInput`] is the caller's
/// mistake and wrote nothing; [`EventLogError::Unavailable`] wrote nothing and may be retried
/// once the log is healthy again; [`EventLogError::OutcomeUnknown`] may or may not have
/// written and is settled by a retry with the same request id; [`EventLogError::Storage`] and
/// [`EventLogError::Corrupt`] are the operator's problem; [`EventLogError::ImportRefused`]
/// means another node's events do not continue this log, and nothing was written.
/// docs/durability.md, "When storage fails", says exactly what each storage failure looks
/// like to a caller.
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    /// The stream is not at the expected revision; nothing was written.
    #[error(
        "stream {stream_id} is at {}, expected {expected}",
        match current_revision { Some(revision) => format!("revision {revision}"), None => "no revision (it does not exist)".to_owned() }
    )]
    Conflict {
        stream_id: String,
        expected: ExpectedRevision,
        /// The stream's current revision, `None` when the stream does not exist.
        current_revision: Option<Revision>,
    },

    /// The request id was already used by an append to another stream; nothing was written.
    #[error("request id {request_id} was already used for stream {original_stream_id}")]
    RequestIdReused {
        request_id: String,
        original_stream_id: String,
    },

    /// The append or read request is malformed; nothing was written.
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },

    /// An import ([`EventLog::import`](crate::EventLog::import)) was refused: the event the log
    /// expected at `position` does not continue the log (it does not decode, is not at that
    /// position, breaks the global or its stream's chain, ...) or differs from the event
    /// already stored there. Nothing of the import was written.
    #[error("import refused at position {position}: {reason}")]
    ImportRefused { position: Position, reason: String },

    /// A stored record does not decode or does not fit the log's invariants.
    #[error("log corrupt at position {position}: {reason}")]
    Corrupt { position: Position, reason: String },

    /// The storage engine or the file system failed.
    #[error("storage failure while {context}: {source}")]
    Storage {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },

    /// The append was applied to sled but the durable flush that had to acknowledge it
    /// failed (or applying its batch failed), so the append may or may not be in the log.
    ///
    /// It is not visible to anyone yet. If the writer recovers (see
    /// [`EventLog::health`](crate::EventLog::health)) it is durable from then on; after a
    /// failure for good, a reopened log has it or not. Either way a retry with the same
    /// request id (and the same stream) settles it: it returns the original outcome with
    /// `duplicate = true` if the append was written, and writes it once if it was not. For an
    /// import, resending the same events settles it the same way: events already stored are
    /// skipped.
    #[error(
        "the outcome of the append is unknown ({reason}): it may or may not have been written; \
         a retry with the same request id returns the original if it was written, and writes it once if not"
    )]
    OutcomeUnknown { reason: String },

    /// The log cannot make appends durable right now (a storage fault, see
    /// [`EventLog::health`](crate::EventLog::health)); the append was refused before it was
    /// planned and nothing was written. Retry once the log is healthy again.
    #[error("the event log is unavailable, nothing was written: {reason}")]
    Unavailable { reason: String },

    /// The log was closed on purpose (or opened read-only because its tail did not check
    /// out); nothing was written.
    #[error("the event log is closed: {reason}")]
    Closed { reason: String },
}

impl EventLogError {
    pub(crate) fn storage(context: &'static str, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        EventLogError::Storage {
            context,
            source: Box::new(source),
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        EventLogError::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}
