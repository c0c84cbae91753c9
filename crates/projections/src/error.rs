//! The projections' error type.

use gridledger_api::EventDecodeError;
use gridledger_eventlog::{EventLogError, Position};

/// Why a projection could not be built, loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Log(#[from] EventLogError),
    #[error("event at position {position} does not decode: {source}")]
    UndecodableEvent {
        position: Position,
        #[source]
        source: EventDecodeError,
    },
    #[error("the projection checkpoint is damaged: {0}; rebuild it with `gridledger rebuild`")]
    CorruptCheckpoint(String),
    #[error("cannot encode the projection checkpoint: {0}")]
    Encode(String),
}

impl ProjectionError {
    pub(crate) fn corrupt_checkpoint(reason: impl Into<String>) -> Self {
        ProjectionError::CorruptCheckpoint(reason.into())
    }

    pub(crate) fn encode(error: postcard::Error) -> Self {
        ProjectionError::Encode(error.to_string())
    }
}
