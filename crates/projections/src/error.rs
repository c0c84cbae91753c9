//! The projections' error type.

use gridledger_codec::EventDecodeError;
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
    /// Issue facts name a grid the aggregates never registered: the figures would land on
    /// another jurisdiction, so the projection stops instead.
    #[error(
        "issue facts name grid #{grid_ordinal}, which the projection never registered; rebuild it with `gridledger rebuild`"
    )]
    UnregisteredGrid { grid_ordinal: u32 },
}

impl ProjectionError {
    pub(crate) fn corrupt_checkpoint(reason: impl Into<String>) -> Self {
        ProjectionError::CorruptCheckpoint(reason.into())
    }

    pub(crate) fn encode(error: postcard::Error) -> Self {
        ProjectionError::Encode(error.to_string())
    }
}
