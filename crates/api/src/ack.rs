//! [`Acknowledgement`]: what the server answers to a command, on the wire and back.

use gridledger_codec::{WireError, issue_status_filter_from_proto, issue_status_to_proto};
use gridledger_domain::{IssueId, IssueStatus};
use gridledger_eventlog::{AppendOutcome, ChainHash};

use crate::commands::parse_issue_id;
use crate::proto;

/// A command's acknowledgement: where its last event landed and the issue's status after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    pub issue_id: IssueId,
    /// Revision of the command's last event.
    pub revision: u64,
    /// Log position of the command's last event.
    pub position: u64,
    /// Chain hash of the command's last event.
    pub event_hash: ChainHash,
    /// The issue's status after the command.
    pub status: Option<IssueStatus>,
    /// True when the request id had been seen before and nothing was written now.
    pub duplicate: bool,
}

impl Acknowledgement {
    /// The acknowledgement of an append to `issue_id`'s stream that left it in `status`.
    pub fn of_append(issue_id: IssueId, outcome: &AppendOutcome, status: Option<IssueStatus>) -> Self {
        Acknowledgement {
            issue_id,
            revision: outcome.last_revision,
            position: outcome.last_position,
            event_hash: outcome.last_hash,
            status,
            duplicate: outcome.duplicate,
        }
    }

    /// The wire form.
    pub fn to_proto(&self) -> proto::CommandAck {
        proto::CommandAck {
            issue_id: self.issue_id.to_string(),
            revision: self.revision,
            position: self.position,
            event_hash: self.event_hash.to_vec(),
            status: self
                .status
                .map_or(proto::IssueStatus::Unspecified, issue_status_to_proto) as i32,
            duplicate: self.duplicate,
        }
    }
}

impl TryFrom<proto::CommandAck> for Acknowledgement {
    type Error = WireError;

    fn try_from(wire: proto::CommandAck) -> Result<Self, WireError> {
        Ok(Acknowledgement {
            issue_id: parse_issue_id("issue_id", &wire.issue_id)?,
            revision: wire.revision,
            position: wire.position,
            event_hash: hash_from_proto("event_hash", &wire.event_hash)?,
            status: issue_status_filter_from_proto("status", wire.status)?,
            duplicate: wire.duplicate,
        })
    }
}

/// A 32-byte SHA-256 chain hash from the wire.
pub(crate) fn hash_from_proto(field: &'static str, bytes: &[u8]) -> Result<ChainHash, WireError> {
    ChainHash::try_from(bytes)
        .map_err(|_| WireError::invalid(field, format!("{} bytes, a chain hash has 32", bytes.len())))
}
