//! The one error type of the event log, with kinds callers can branch on.

use crate::types::{ExpectedRevision, Position, Revision};

/// Everything that can go wrong in the event log.
///
/// Callers branch on the variant: [`EventLogError::Conflict`] is an optimistic-concurrency
/// miss the caller may retry after re-reading; [`EventLogError::InvalidInput`] is the caller's
/// mistake and wrote nothing; [`EventLogError::Storage`] and [`EventLogError::Corrupt`] are the
/// operator's problem.
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

    /// The log was closed (or its writer stopped after a storage failure).
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
