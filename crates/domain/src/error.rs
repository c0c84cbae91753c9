//! [`DomainError`]: why a command was refused, with a [`DomainErrorKind`] the gRPC layer
//! maps to a status code.

use crate::command::CommandKind;
use crate::field::Field;
use crate::issue::{IssueId, IssueStatus};
use crate::quote::quote_for_message;
use crate::registry::RegistryError;
use crate::text::{MeetingId, PersonId};
use crate::time::{DurationMicros, Timestamp};

/// Why a command was refused. Every variant's message names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A field of a command or event is malformed or out of bounds.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The field, as a domain concept (the `api` crate maps it to its wire name).
        field: Field,
        /// What is wrong with it.
        reason: String,
    },
    /// The command's business time is too far in the future or before the report.
    #[error("invalid occurred_at {occurred_at}: {problem}")]
    InvalidOccurredAt {
        /// The business time given (or defaulted to the server clock).
        occurred_at: Timestamp,
        /// What is wrong with it.
        problem: OccurredAtProblem,
    },
    /// A lifecycle command for an issue that has not been reported.
    #[error("the issue does not exist: {command} needs a reported issue (allowed now: ReportIssue)")]
    IssueNotFound {
        /// The command refused.
        command: CommandKind,
    },
    /// A report for an issue that already exists.
    #[error(
        "issue {issue_id} already exists and is {status}; allowed now: {}",
        format_command_list(.allowed)
    )]
    IssueAlreadyExists {
        /// The existing issue.
        issue_id: IssueId,
        /// Its status.
        status: IssueStatus,
        /// The commands its state allows.
        allowed: Vec<CommandKind>,
    },
    /// A command the lifecycle table does not allow in the issue's current state.
    #[error(
        "{command} is not allowed while the issue is {status}; allowed now: {}",
        format_command_list(.allowed)
    )]
    TransitionNotAllowed {
        /// The command refused.
        command: CommandKind,
        /// The issue's status.
        status: IssueStatus,
        /// The commands its state allows (from [`crate::allowed_commands`]).
        allowed: Vec<CommandKind>,
    },
    /// An `AcceptAssignment` by someone other than the assignee.
    #[error(
        "the open assignment is for {:?}, not {:?}",
        quote_for_message(.assigned_to.as_str()),
        quote_for_message(.attempted_by.as_str())
    )]
    AssignmentMismatch {
        /// Who the open assignment is for.
        assigned_to: PersonId,
        /// Who tried to accept it.
        attempted_by: PersonId,
    },
    /// A `ConcludeDeliberation` for another meeting than the issue's open one.
    #[error(
        "meeting {:?} is not this issue's open deliberation; the open meeting is {:?}",
        quote_for_message(.given_meeting_id.as_str()),
        quote_for_message(.open_meeting_id.as_str())
    )]
    MeetingMismatch {
        /// The meeting the issue is in.
        open_meeting_id: MeetingId,
        /// The meeting named by the command.
        given_meeting_id: MeetingId,
    },
    /// A registry lookup failed (a jurisdiction or category that is not registered), or a
    /// registry was refused; the registry's own error, message unchanged.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// What is wrong with a command's `occurred_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OccurredAtProblem {
    /// More than the allowed clock skew after the server clock.
    #[error("it is more than {max_skew} after the server clock ({now})")]
    TooFarInTheFuture {
        /// The server clock.
        now: Timestamp,
        /// The allowed skew ([`crate::time::MAX_CLOCK_SKEW`]).
        max_skew: DurationMicros,
    },
    /// Before the issue was reported.
    #[error("it is before the issue was reported ({reported_at})")]
    BeforeReport {
        /// When the issue was reported.
        reported_at: Timestamp,
    },
    /// Before the earliest business time accepted ([`crate::time::EARLIEST_BUSINESS_TIME`]).
    #[error("it is before {earliest}, the earliest business time accepted")]
    BeforeEarliest {
        /// The earliest business time accepted.
        earliest: Timestamp,
    },
    /// So far from the epoch that the resulting deadline cannot be represented.
    #[error("it is too far from the Unix epoch to compute a deadline")]
    OutOfRange,
}

/// The broad class of a [`DomainError`], for mapping to a transport status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DomainErrorKind {
    /// The request itself is malformed (gRPC `INVALID_ARGUMENT`).
    InvalidArgument,
    /// The issue or jurisdiction does not exist (gRPC `NOT_FOUND`).
    NotFound,
    /// The issue already exists (the gRPC layer answers `FAILED_PRECONDITION`: a report is
    /// a transition the table allows only while the issue is absent).
    AlreadyExists,
    /// The issue's state does not allow the command (gRPC `FAILED_PRECONDITION`).
    FailedPrecondition,
}

impl DomainError {
    /// The broad class of this error.
    pub const fn kind(&self) -> DomainErrorKind {
        match self {
            DomainError::InvalidField { .. } | DomainError::InvalidOccurredAt { .. } => {
                DomainErrorKind::InvalidArgument
            }
            DomainError::IssueNotFound { .. } | DomainError::Registry(RegistryError::UnknownJurisdiction { .. }) => {
                DomainErrorKind::NotFound
            }
            DomainError::Registry(_) => DomainErrorKind::InvalidArgument,
            DomainError::IssueAlreadyExists { .. } => DomainErrorKind::AlreadyExists,
            DomainError::TransitionNotAllowed { .. }
            | DomainError::AssignmentMismatch { .. }
            | DomainError::MeetingMismatch { .. } => DomainErrorKind::FailedPrecondition,
        }
    }
}

/// `A, B, C`, or `none` for an empty list.
fn format_command_list(commands: &[CommandKind]) -> String {
    if commands.is_empty() {
        return "none".to_owned();
    }
    commands
        .iter()
        .map(|command| command.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
