//! `ServiceError`: every way an RPC can fail, and the one place that maps them to `tonic::Status` (and, for the HTTP API, to an [`HttpError`] with the same code and message; for a command of a `SubmitCommands` stream, to a `CommandError` with the same code and message).

use gridledger_api::{EventDecodeError, WireError, proto};
use gridledger_domain::{DomainError, DomainErrorKind, RegistryError};
use gridledger_eventlog::{EventLogError, Position};
use gridledger_projections::ProjectionError;
use tonic::{Code, Status};

/// Why an RPC failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request was malformed or the domain refused it (a field error names the wire field).
    #[error(transparent)]
    Refused(#[from] WireError),
    /// The log refused or failed.
    #[error(transparent)]
    Log(#[from] EventLogError),
    /// A stored event does not decode: the log is damaged or was written by a newer version.
    #[error("stored event at position {position} does not decode")]
    StoredEvent {
        position: Position,
        #[source]
        source: EventDecodeError,
    },
    /// The expected revision given by the client does not hold.
    #[error("expected revision {expected} but the issue is at {}", current.map_or("no revision (it does not exist)".to_owned(), |revision| format!("revision {revision}")))]
    RevisionMismatch { expected: u64, current: Option<u64> },
    /// An issue that does not exist.
    #[error("issue {issue_id} does not exist")]
    IssueNotFound { issue_id: String },
    /// A withdrawal as a duplicate of an issue that does not exist.
    #[error("duplicate_of names issue {duplicate_of}, which does not exist")]
    DuplicateOfNotFound { duplicate_of: String },
    /// The projection failed while answering (an undecodable event, a damaged checkpoint).
    #[error("the governance projection failed")]
    Projection(#[source] ProjectionError),
    /// The live projection has stopped; queries over it are refused until it recovers.
    #[error("the governance projection is not serving: {reason}")]
    ProjectionStopped { reason: String },
    /// A stats node's feed of a district stopped (a break in its stream); figures that
    /// include that district are refused until an operator acts.
    #[error("the feed of {stream} has stopped: {reason}")]
    FeedStopped { stream: String, reason: String },
    /// The live projection did not catch up with the log in time.
    #[error("the governance projection has not caught up with log position {position} yet")]
    ProjectionBehind { position: Position },
    /// A lock guarding the projection was poisoned by a panic.
    #[error("the governance projection is unusable: a task panicked while updating it")]
    ProjectionPoisoned,
    /// A background task needed by the request failed.
    #[error("{task} failed")]
    Task {
        task: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    /// The same issue changed under every attempt; the client may retry.
    #[error("issue {issue_id} changed under {attempts} attempts in a row; try again")]
    Contended { issue_id: String, attempts: usize },
    /// A report retried while its first attempt is still being committed.
    #[error("the first attempt of request {request_id} is still being committed; retry")]
    FirstAttemptInFlight { request_id: String },
    /// A position outside the tree an inclusion proof was asked for (positions start at 1).
    #[error("position {position} is not in the tree of size {tree_size} (positions 1..={tree_size})")]
    PositionNotInTree { position: Position, tree_size: u64 },
    /// Access control refused the call (docs/security.md).
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    /// The evidence store refused an upload (its size, bytes or media type), found a blob
    /// damaged, or failed.
    #[error("{}", evidence_message(.0))]
    Evidence(#[from] gridledger_evidence::EvidenceError),
    /// `GetEvidence` without an issue, of a blob the node does not hold.
    #[error("the node holds no evidence {sha256}")]
    EvidenceUnknown { sha256: String },
    /// Every upload slot stayed taken while this upload waited for one.
    #[error("{at_once} uploads are being written already and none finished within {waited_seconds} s; try again later")]
    UploadsBusy { at_once: usize, waited_seconds: u64 },
    /// A command references a blob the evidence store does not hold as the ref states it.
    #[error("evidence {sha256}: {problem}")]
    EvidenceNotHeld { sha256: String, problem: String },
    /// `GetEvidence` of a blob that the issue's events do not reference.
    #[error("issue {issue_id} references no evidence {sha256}")]
    EvidenceNotReferenced { issue_id: String, sha256: String },
    /// An issue references a blob that this node's evidence store does not hold (lost, or
    /// a log restored without its evidence).
    #[error("issue {issue_id} references evidence {sha256}, which this node's evidence store does not hold")]
    EvidenceMissing { issue_id: String, sha256: String },
    /// An upload whose client sent no chunk for too long; the partial upload was removed.
    #[error("no chunk arrived for {seconds} s: the upload was abandoned")]
    EvidenceUploadIdle { seconds: u64 },
    /// The request stream of a client-streaming call failed (a message that does not decode
    /// or is too large, a cut connection): answered with the stream's own code and message.
    #[error("{}", .0.message())]
    RequestStream(tonic::Status),
}

/// The wire field an evidence refusal is about: `size` (declared 0 or too many), `data`
/// (more or fewer bytes than declared), `media_type` (bytes of a type not accepted, or not
/// the one claimed), `sha256`; none for a damaged blob or a storage failure.
fn evidence_field(error: &gridledger_evidence::EvidenceError) -> Option<&'static str> {
    use gridledger_evidence::EvidenceError;
    match error {
        EvidenceError::Empty | EvidenceError::TooLarge { .. } => Some("size"),
        EvidenceError::SizeExceeded { .. } | EvidenceError::Truncated { .. } => Some("data"),
        EvidenceError::ClaimedMediaTypeNotAccepted { .. }
        | EvidenceError::MediaTypeNotAccepted { .. }
        | EvidenceError::MediaTypeMismatch { .. } => Some("media_type"),
        EvidenceError::DigestMismatch { .. } => Some("sha256"),
        EvidenceError::Damaged { .. } | EvidenceError::Io { .. } => None,
    }
}

/// An evidence error's message: a refusal names its wire field like a [`WireError`].
fn evidence_message(error: &gridledger_evidence::EvidenceError) -> String {
    match evidence_field(error) {
        Some(field) => format!("invalid {field}: {error}"),
        None => error.to_string(),
    }
}

impl From<DomainError> for ServiceError {
    fn from(error: DomainError) -> Self {
        ServiceError::Refused(WireError::from(error))
    }
}

impl ServiceError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        ServiceError::Refused(WireError::invalid(field, reason))
    }

    /// The gRPC status code, exactly as docs/api.md lists them.
    fn code(&self) -> Code {
        match self {
            ServiceError::Refused(WireError::InvalidField { .. }) => Code::InvalidArgument,
            ServiceError::Refused(WireError::Domain(domain)) => match domain.kind() {
                DomainErrorKind::InvalidArgument => Code::InvalidArgument,
                DomainErrorKind::NotFound => Code::NotFound,
                DomainErrorKind::AlreadyExists | DomainErrorKind::FailedPrecondition => Code::FailedPrecondition,
            },
            ServiceError::Log(log) => match log {
                EventLogError::Conflict { .. } => Code::Aborted,
                EventLogError::RequestIdReused { .. } | EventLogError::InvalidInput { .. } => Code::InvalidArgument,
                EventLogError::Closed { .. }
                | EventLogError::Unavailable { .. }
                | EventLogError::OutcomeUnknown { .. } => Code::Unavailable,
                EventLogError::Corrupt { .. } | EventLogError::Storage { .. } | EventLogError::ImportRefused { .. } => {
                    Code::Internal
                }
            },
            ServiceError::Projection(ProjectionError::Log(EventLogError::Closed { .. })) => Code::Unavailable,
            ServiceError::StoredEvent { .. } | ServiceError::Projection(_) => Code::Internal,
            ServiceError::RevisionMismatch { .. } => Code::Aborted,
            ServiceError::IssueNotFound { .. }
            | ServiceError::DuplicateOfNotFound { .. }
            | ServiceError::PositionNotInTree { .. } => Code::NotFound,
            ServiceError::ProjectionStopped { .. }
            | ServiceError::FeedStopped { .. }
            | ServiceError::ProjectionBehind { .. }
            | ServiceError::ProjectionPoisoned
            | ServiceError::Task { .. }
            | ServiceError::Contended { .. }
            | ServiceError::FirstAttemptInFlight { .. } => Code::Unavailable,
            ServiceError::Auth(crate::auth::AuthError::Unauthenticated { .. }) => Code::Unauthenticated,
            ServiceError::Auth(crate::auth::AuthError::PermissionDenied { .. }) => Code::PermissionDenied,
            ServiceError::Evidence(evidence) => {
                use gridledger_evidence::EvidenceError;
                match evidence {
                    EvidenceError::TooLarge { .. } => Code::ResourceExhausted,
                    EvidenceError::Empty
                    | EvidenceError::SizeExceeded { .. }
                    | EvidenceError::Truncated { .. }
                    | EvidenceError::ClaimedMediaTypeNotAccepted { .. }
                    | EvidenceError::MediaTypeNotAccepted { .. }
                    | EvidenceError::MediaTypeMismatch { .. }
                    | EvidenceError::DigestMismatch { .. } => Code::InvalidArgument,
                    EvidenceError::Damaged { .. } => Code::DataLoss,
                    EvidenceError::Io { .. } => Code::Internal,
                }
            }
            ServiceError::EvidenceNotHeld { .. } => Code::FailedPrecondition,
            ServiceError::UploadsBusy { .. } => Code::ResourceExhausted,
            ServiceError::EvidenceUnknown { .. } => Code::NotFound,
            ServiceError::EvidenceNotReferenced { .. } => Code::NotFound,
            ServiceError::EvidenceMissing { .. } => Code::DataLoss,
            ServiceError::EvidenceUploadIdle { .. } => Code::DeadlineExceeded,
            ServiceError::RequestStream(status) => status.code(),
        }
    }
}

/// The error and its sources, `: `-separated, for a status message or a log line.
pub(crate) fn with_sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // `#[error(transparent)]` layers repeat their source's message.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Logs a failure as it is answered: server-side failures as errors, a client's mistake
/// at debug level.
fn log_failure(code: Code, message: &str) {
    match code {
        Code::Internal | Code::DataLoss => tracing::error!(error = %message, "request failed on the server side"),
        Code::Unavailable => tracing::warn!(error = %message, "request refused: unavailable"),
        _ => tracing::debug!(error = %message, ?code, "request refused"),
    }
}

impl From<ServiceError> for Status {
    /// Server-side failures are logged here, where they are handled; a client's mistake
    /// is never INTERNAL.
    fn from(error: ServiceError) -> Status {
        let code = error.code();
        let message = with_sources(&error);
        log_failure(code, &message);
        Status::new(code, message)
    }
}

/// A failure as the HTTP API answers it (docs/api.md#http-errors): the HTTP status, the gRPC
/// code by its canonical name, the message a gRPC client would get, and the request
/// parameter at fault when there is one. Made from a [`ServiceError`] exactly as a
/// `tonic::Status` is, so both APIs answer a failure with the same code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpError {
    pub(crate) status: u16,
    /// `INVALID_ARGUMENT`, `NOT_FOUND`, ...
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// The query parameter (or path segment) at fault, named as the API spells it.
    pub(crate) field: Option<String>,
}

impl HttpError {
    /// A failure of the HTTP layer itself (a query it cannot read): `code` with `message`,
    /// naming `field` when the failure is about one parameter.
    pub(crate) fn new(code: Code, message: impl Into<String>, field: Option<&str>) -> Self {
        let message = message.into();
        log_failure(code, &message);
        HttpError {
            status: http_status_of(code),
            code: code_name(code),
            message,
            field: field.map(str::to_owned),
        }
    }
}

impl From<ServiceError> for HttpError {
    fn from(error: ServiceError) -> HttpError {
        let field = error.field();
        let code = error.code();
        HttpError::new(code, with_sources(&error), field)
    }
}

impl ServiceError {
    /// The request field the failure is about, named as the API spells it: the field of an
    /// invalid value; `scope` for a jurisdiction and `category` for a category that is not
    /// in the registry (the read API's only parameters that name them); `issue_id` for an
    /// issue that does not exist.
    fn field(&self) -> Option<&'static str> {
        match self {
            ServiceError::Refused(WireError::InvalidField { field, .. }) => Some(field),
            ServiceError::Refused(WireError::Domain(DomainError::Registry(registry))) => match registry {
                RegistryError::UnknownJurisdiction { .. } => Some("scope"),
                RegistryError::UnknownCategory { .. } => Some("category"),
                _ => None,
            },
            ServiceError::IssueNotFound { .. } => Some("issue_id"),
            ServiceError::PositionNotInTree { .. } => Some("position"),
            ServiceError::Evidence(evidence) => evidence_field(evidence),
            ServiceError::EvidenceNotReferenced { .. } | ServiceError::EvidenceUnknown { .. } => Some("sha256"),
            _ => None,
        }
    }
}

impl ServiceError {
    /// The wire field a command's refusal is about, as the request spells it: the field of
    /// an invalid value (`title`, `meta.request_id`, `due_at`), `grid_code` and `category`
    /// for a report naming what the registry lacks, `duplicate_of` for a withdrawal as the
    /// duplicate of an issue that does not exist.
    fn command_field(&self) -> Option<&'static str> {
        match self {
            ServiceError::Refused(WireError::InvalidField { field, .. }) => Some(field),
            ServiceError::Refused(WireError::Domain(DomainError::Registry(registry))) => match registry {
                RegistryError::UnknownJurisdiction { .. } => Some("grid_code"),
                RegistryError::UnknownCategory { .. } => Some("category"),
                _ => None,
            },
            ServiceError::DuplicateOfNotFound { .. } => Some("duplicate_of"),
            ServiceError::EvidenceNotHeld { .. } => Some("evidence"),
            _ => None,
        }
    }

    /// A command's failure as a `SubmitCommands` stream answers it: the code and message of
    /// the status its unary call would have got (and logged the same way), the field at
    /// fault, and whether the same command may succeed later (`retryable`: the failures that
    /// are UNAVAILABLE: the log or a task unavailable, an issue contended, a first attempt
    /// still in flight).
    pub(crate) fn into_command_error(self) -> proto::CommandError {
        let code = self.code();
        let message = with_sources(&self);
        log_failure(code, &message);
        proto::CommandError {
            code: code as i32,
            message,
            field: self.command_field().unwrap_or_default().to_owned(),
            retryable: code == Code::Unavailable,
        }
    }
}

/// The HTTP status of a gRPC code: the mapping of `google.rpc.Code` (a client's mistake is
/// 4xx, a server-side failure 5xx).
pub(crate) const fn http_status_of(code: Code) -> u16 {
    match code {
        Code::Ok => 200,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
        Code::Unauthenticated => 401,
        Code::PermissionDenied => 403,
        Code::NotFound => 404,
        Code::Aborted | Code::AlreadyExists => 409,
        Code::ResourceExhausted => 429,
        Code::Cancelled => 499,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
        Code::DeadlineExceeded => 504,
        Code::Unknown | Code::Internal | Code::DataLoss => 500,
    }
}

/// The canonical name of a gRPC code (`INVALID_ARGUMENT`).
pub(crate) const fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
