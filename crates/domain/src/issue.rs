//! The vocabulary of an issue (the lifecycle of `docs/product.md`): its id and stream id,
//! its statuses, and the closed value sets its commands and events carry (resolution
//! levels, forums, escalation reasons, satisfaction, withdrawal reasons), with the rules
//! that belong to a value alone ([`IssueStatus::is_open`],
//! [`ResolutionLevel::of_resolution`], [`Satisfaction::counts_as_satisfied`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::DomainError;
use crate::field::Field;
use crate::stable_name::enum_with_stable_names;

/// The prefix of every issue stream id: `issue-<uuid>`.
pub const ISSUE_STREAM_PREFIX: &str = "issue-";

/// An issue's id: a non-nil UUID (grid apps may choose it; the server uses UUIDv7).
/// Displayed and serialized in lowercase hyphenated form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IssueId(Uuid);

impl IssueId {
    /// The field named in errors.
    pub const FIELD: Field = Field::IssueId;

    /// Wraps a UUID; the nil UUID is refused (it is what an unset id looks like).
    pub fn from_uuid(uuid: Uuid) -> Result<Self, DomainError> {
        if uuid.is_nil() {
            return Err(DomainError::InvalidField {
                field: Self::FIELD,
                reason: "must not be the nil UUID".to_owned(),
            });
        }
        Ok(Self(uuid))
    }

    /// Parses a UUID in any form the `uuid` crate accepts (hyphenated, simple, braced,
    /// URN) and wraps it.
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let uuid = Uuid::parse_str(value).map_err(|error| DomainError::InvalidField {
            field: Self::FIELD,
            reason: format!("is not a UUID: {error}"),
        })?;
        Self::from_uuid(uuid)
    }

    /// Parses an issue stream id, `issue-<uuid>`. A malformed stream id is reported as
    /// an invalid [`Field::IssueId`]: a stream id is the issue id with a prefix, and there
    /// is no separate stream-id field.
    pub fn from_stream_id(stream_id: &str) -> Result<Self, DomainError> {
        match stream_id.strip_prefix(ISSUE_STREAM_PREFIX) {
            Some(uuid) => Self::parse(uuid),
            None => Err(DomainError::InvalidField {
                field: Self::FIELD,
                reason: format!("must start with {ISSUE_STREAM_PREFIX:?}"),
            }),
        }
    }

    /// The UUID.
    pub const fn as_uuid(&self) -> Uuid {
        self.0
    }

    /// The event-log stream holding this issue's events: `issue-<uuid>`.
    pub fn stream_id(&self) -> String {
        format!("{ISSUE_STREAM_PREFIX}{}", self.0.hyphenated())
    }
}

impl FromStr for IssueId {
    type Err = DomainError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

impl TryFrom<String> for IssueId {
    type Error = DomainError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl TryFrom<Uuid> for IssueId {
    type Error = DomainError;

    fn try_from(uuid: Uuid) -> Result<Self, Self::Error> {
        Self::from_uuid(uuid)
    }
}

impl From<IssueId> for String {
    fn from(issue_id: IssueId) -> Self {
        issue_id.to_string()
    }
}

impl From<IssueId> for Uuid {
    fn from(issue_id: IssueId) -> Self {
        issue_id.0
    }
}

impl fmt::Display for IssueId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), formatter)
    }
}

enum_with_stable_names! {
    /// Where an existing issue is in its lifecycle (`docs/product.md`).
    pub enum IssueStatus {
        /// Reported by a grid worker, not yet acted on.
        Reported => "REPORTED",
        /// Dispatched to a responder, or back from a deliberation meeting.
        InProgress => "IN_PROGRESS",
        /// Taken to a deliberation or consultation meeting that has not concluded.
        InDeliberation => "IN_DELIBERATION",
        /// Escalated to the district guidance committee.
        Escalated => "ESCALATED",
        /// Resolved (at grid, community or committee level); residents may evaluate.
        Resolved => "RESOLVED",
        /// Reopened after a resolution; a new cycle begins.
        Reopened => "REOPENED",
        /// Withdrawn; terminal.
        Withdrawn => "WITHDRAWN",
    }
}

impl IssueStatus {
    /// Whether an issue in this status is open: neither RESOLVED nor WITHDRAWN. The one
    /// definition of "open" (the backlog of `docs/metrics.md`, `Issue::is_open`).
    pub const fn is_open(self) -> bool {
        !matches!(self, IssueStatus::Resolved | IssueStatus::Withdrawn)
    }
}

enum_with_stable_names! {
    /// Who resolved an issue.
    pub enum ResolutionLevel {
        /// Handled on the spot inside the grid (不出网格).
        Grid => "GRID",
        /// Resolved by the community (dispatch or deliberation).
        Community => "COMMUNITY",
        /// Resolved after a district guidance committee decision.
        Committee => "COMMITTEE",
    }
}

enum_with_stable_names! {
    /// The kind of meeting an issue is deliberated in.
    pub enum Forum {
        /// 居民代表议事例会.
        ResidentRepresentativeMeeting => "RESIDENT_REPRESENTATIVE_MEETING",
        /// 社区事务会商会.
        CommunityAffairsConsultation => "COMMUNITY_AFFAIRS_CONSULTATION",
    }
}

enum_with_stable_names! {
    /// Why an issue is escalated to the district guidance committee.
    pub enum EscalationReason {
        /// It affects many residents.
        Widespread => "WIDESPREAD",
        /// It keeps coming back.
        Recurring => "RECURRING",
        /// It spans several jurisdictions.
        CrossJurisdiction => "CROSS_JURISDICTION",
        /// The community cannot solve it alone.
        BeyondCommunityCapacity => "BEYOND_COMMUNITY_CAPACITY",
    }
}

enum_with_stable_names! {
    /// Residents' evaluation of a resolution.
    pub enum Satisfaction {
        /// 满意.
        Satisfied => "SATISFIED",
        /// 基本满意.
        BasicallySatisfied => "BASICALLY_SATISFIED",
        /// 不满意.
        Unsatisfied => "UNSATISFIED",
    }
}

impl ResolutionLevel {
    /// The level a `ResolveIssue` (event `IssueResolved`) resolves at: COMMITTEE if the
    /// issue was escalated in the current cycle, else COMMUNITY. (`HandleInGrid` always
    /// resolves at GRID; see `IssueEventBody::resolution_level` for both.)
    pub const fn of_resolution(escalated_in_cycle: bool) -> ResolutionLevel {
        if escalated_in_cycle {
            ResolutionLevel::Committee
        } else {
            ResolutionLevel::Community
        }
    }
}

impl Satisfaction {
    /// Whether this counts as satisfied in the statistics (SATISFIED or
    /// BASICALLY_SATISFIED).
    pub const fn counts_as_satisfied(self) -> bool {
        matches!(self, Satisfaction::Satisfied | Satisfaction::BasicallySatisfied)
    }
}

/// Why an issue is withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WithdrawalReason {
    /// It duplicates another issue (which must be a different issue).
    Duplicate {
        /// The issue it duplicates.
        duplicate_of: IssueId,
    },
    /// It is not a matter for grid governance.
    OutOfScope,
    /// The reporter withdrew it.
    ReporterWithdrew,
}

impl WithdrawalReason {
    /// The stable name of the reason's kind: `DUPLICATE`, `OUT_OF_SCOPE`,
    /// `REPORTER_WITHDREW`.
    pub const fn kind_name(&self) -> &'static str {
        match self {
            WithdrawalReason::Duplicate { .. } => "DUPLICATE",
            WithdrawalReason::OutOfScope => "OUT_OF_SCOPE",
            WithdrawalReason::ReporterWithdrew => "REPORTER_WITHDREW",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_ids_parse_and_name_their_stream() {
        let issue_id = IssueId::parse("0192F3A4-5B6C-7D8E-9FA0-B1C2D3E4F506").expect("a valid UUID");
        assert_eq!(issue_id.to_string(), "0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506");
        assert_eq!(issue_id.stream_id(), "issue-0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506");
        assert_eq!(IssueId::from_stream_id(&issue_id.stream_id()), Ok(issue_id));
        assert!(IssueId::from_stream_id("0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506").is_err());
        assert!(IssueId::parse("not-a-uuid").is_err());
        assert!(matches!(
            IssueId::parse("00000000-0000-0000-0000-000000000000"),
            Err(DomainError::InvalidField {
                field: Field::IssueId,
                ..
            })
        ));
        assert!(matches!(
            IssueId::from_stream_id("stream-0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506"),
            Err(DomainError::InvalidField {
                field: Field::IssueId,
                ..
            })
        ));
        assert_eq!(
            serde_json::to_string(&issue_id).expect("serializable"),
            "\"0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506\""
        );
    }

    #[test]
    fn open_means_neither_resolved_nor_withdrawn() {
        let open: Vec<IssueStatus> = IssueStatus::ALL
            .iter()
            .copied()
            .filter(|status| status.is_open())
            .collect();
        assert_eq!(
            open,
            [
                IssueStatus::Reported,
                IssueStatus::InProgress,
                IssueStatus::InDeliberation,
                IssueStatus::Escalated,
                IssueStatus::Reopened,
            ]
        );
    }

    #[test]
    fn a_resolution_is_at_committee_level_only_after_an_escalation_in_the_cycle() {
        assert_eq!(ResolutionLevel::of_resolution(true), ResolutionLevel::Committee);
        assert_eq!(ResolutionLevel::of_resolution(false), ResolutionLevel::Community);
    }

    #[test]
    fn enums_have_stable_names() {
        assert_eq!(IssueStatus::InDeliberation.to_string(), "IN_DELIBERATION");
        assert_eq!(IssueStatus::from_name("IN_PROGRESS"), Some(IssueStatus::InProgress));
        assert_eq!(IssueStatus::from_name("in_progress"), None);
        assert_eq!(IssueStatus::ALL.len(), 7);
        assert_eq!(
            serde_json::to_string(&Forum::CommunityAffairsConsultation).expect("serializable"),
            "\"COMMUNITY_AFFAIRS_CONSULTATION\""
        );
        for status in IssueStatus::ALL {
            assert_eq!(IssueStatus::from_name(status.as_str()), Some(*status));
        }
        let reason = WithdrawalReason::ReporterWithdrew;
        assert_eq!(reason.kind_name(), "REPORTER_WITHDREW");
        assert_eq!(
            serde_json::to_string(&reason).expect("serializable"),
            "{\"kind\":\"REPORTER_WITHDREW\"}"
        );
    }
}
