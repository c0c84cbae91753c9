//! `ServiceError`: every way an RPC can fail, and the one place that maps them to `tonic::Status`.

use gridledger_api::EventDecodeError;
use gridledger_domain::{DomainError, DomainErrorKind};
use gridledger_eventlog::EventLogError;
use tonic::{Code, Status};

/// Why an RPC failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request broke a domain rule or was malformed.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The log refused or failed.
    #[error(transparent)]
    Log(#[from] EventLogError),
    /// A stored event does not decode: the log is damaged or was written by a newer version.
    #[error("stored event at position {position} does not decode: {source}")]
    StoredEvent {
        position: u64,
        #[source]
        source: EventDecodeError,
    },
    /// The expected revision given by the client does not hold.
    #[error("expected revision {expected} but the issue is at {}", current.map_or("no revision (it does not exist)".to_owned(), |revision| format!("revision {revision}")))]
    RevisionMismatch { expected: u64, current: Option<u64> },
    /// An issue that does not exist.
    #[error("issue {issue_id} does not exist")]
    IssueNotFound { issue_id: String },
    /// A request field that fails a check outside the domain (paging, scope, ...).
    #[error("invalid {field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    /// The projection failed (a damaged checkpoint or an undecodable event).
    #[error("governance projection failed: {0}")]
    Projection(String),
    /// The server is shutting down or the log is closed.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl ServiceError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        ServiceError::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }
}

impl From<ServiceError> for Status {
    /// The status code for each error, exactly as SPEC §6 lists them. Server-side failures
    /// are logged here, where they are handled; a client's mistake is never INTERNAL.
    fn from(error: ServiceError) -> Status {
        let code = match &error {
            ServiceError::Domain(domain) => match domain.kind() {
                DomainErrorKind::InvalidArgument => Code::InvalidArgument,
                DomainErrorKind::NotFound => Code::NotFound,
                DomainErrorKind::AlreadyExists | DomainErrorKind::FailedPrecondition => Code::FailedPrecondition,
            },
            ServiceError::Log(log) => match log {
                EventLogError::Conflict { .. } => Code::Aborted,
                EventLogError::RequestIdReused { .. } | EventLogError::InvalidInput { .. } => Code::InvalidArgument,
                EventLogError::Closed { .. } => Code::Unavailable,
                EventLogError::Corrupt { .. } | EventLogError::Storage { .. } => Code::Internal,
            },
            ServiceError::StoredEvent { .. } | ServiceError::Projection(_) => Code::Internal,
            ServiceError::RevisionMismatch { .. } => Code::Aborted,
            ServiceError::IssueNotFound { .. } => Code::NotFound,
            ServiceError::InvalidArgument { .. } => Code::InvalidArgument,
            ServiceError::Unavailable(_) => Code::Unavailable,
        };
        match code {
            Code::Internal => tracing::error!(error = %error, "request failed on the server side"),
            Code::Unavailable => tracing::warn!(error = %error, "request refused: unavailable"),
            _ => tracing::debug!(error = %error, ?code, "request refused"),
        }
        Status::new(code, error.to_string())
    }
}
