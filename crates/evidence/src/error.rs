//! [`EvidenceError`]: why the evidence store refused bytes or failed, with kinds callers
//! branch on: the caller's bytes or declared size ([`EvidenceError::is_refusal`]), a
//! stored blob that is damaged, or the file system.

use std::fmt;
use std::path::PathBuf;

use gridledger_domain::{EvidenceMediaType, Sha256Digest};

use crate::sniff::SniffedType;

/// Why the evidence store refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// An upload declared no bytes: a blob has at least one.
    #[error("an evidence blob has at least 1 byte; 0 were declared")]
    Empty,
    /// An upload declared more bytes than a blob may have.
    #[error("{declared} bytes is over the limit of {limit} bytes for one evidence blob")]
    TooLarge { declared: u64, limit: u64 },
    /// More bytes arrived than were declared.
    #[error("{declared} bytes were declared, and {received} have arrived")]
    SizeExceeded { declared: u64, received: u64 },
    /// Fewer bytes arrived than were declared.
    #[error("the blob is cut short: {declared} bytes were declared, and {received} arrived")]
    Truncated { declared: u64, received: u64 },
    /// The client named a media type that is not accepted as evidence.
    #[error(
        "{claimed:?} is not a media type accepted as evidence (accepted: {})",
        accepted_list()
    )]
    ClaimedMediaTypeNotAccepted { claimed: String },
    /// The bytes are not of an accepted media type.
    #[error(
        "the bytes are {found}, which is not accepted as evidence (accepted: {})",
        accepted_list()
    )]
    MediaTypeNotAccepted { found: SniffedType },
    /// The bytes are not of the media type the client said.
    #[error("the client says {claimed}, but the bytes are {found}")]
    MediaTypeMismatch {
        claimed: EvidenceMediaType,
        found: SniffedType,
    },
    /// Bytes imported for a known digest hash to another.
    #[error("the bytes were expected to hash to {expected}, but hash to {actual}")]
    DigestMismatch {
        expected: Sha256Digest,
        actual: Sha256Digest,
    },
    /// A stored blob is not what its name says (see [`BlobProblem`]).
    #[error("stored evidence blob {sha256} is damaged: {problem}")]
    Damaged { sha256: Sha256Digest, problem: BlobProblem },
    /// The file system failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done: `create`, `write`, `sync`, ...
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl EvidenceError {
    /// Whether the caller's bytes or declared size were refused (the caller's mistake),
    /// as opposed to a damaged blob or a failing file system.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, EvidenceError::Damaged { .. } | EvidenceError::Io { .. })
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| EvidenceError::Io { action, path, source }
    }
}

fn accepted_list() -> String {
    let names: Vec<&str> = EvidenceMediaType::ALL
        .iter()
        .map(|media_type| media_type.as_str())
        .collect();
    names.join(", ")
}

/// What is wrong with a stored blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobProblem {
    /// Its bytes hash to another digest than its name (a flipped bit, a torn write).
    DigestMismatch { actual: Sha256Digest },
    /// It has another size than the one it was read or referenced with.
    SizeMismatch { expected: u64, actual: u64 },
    /// It is empty.
    Empty,
    /// It is larger than any blob may be.
    TooLarge { size: u64 },
    /// Its first bytes are not of an accepted media type.
    MediaType { found: SniffedType },
    /// It could not be read (the error and its sources).
    Unreadable { error: String },
}

impl fmt::Display for BlobProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobProblem::DigestMismatch { actual } => write!(formatter, "its bytes hash to {actual}"),
            BlobProblem::SizeMismatch { expected, actual } => {
                write!(formatter, "it has {actual} bytes, {expected} were expected")
            }
            BlobProblem::Empty => formatter.write_str("it is empty"),
            BlobProblem::TooLarge { size } => write!(formatter, "it has {size} bytes, more than any blob may have"),
            BlobProblem::MediaType { found } => write!(formatter, "its bytes are {found}, not an accepted media type"),
            BlobProblem::Unreadable { error } => write!(formatter, "it cannot be read: {error}"),
        }
    }
}
