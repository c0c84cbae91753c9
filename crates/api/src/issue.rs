//! An issue's state on the wire (`GetIssue`, `ListIssues`, `ReplayIssue`) and as a client
//! reads it back: [`IssueView`], in domain types.

use gridledger_codec::{
    WireError, evidence_list_to_proto, evidence_ref_from_proto, issue_status_from_proto, issue_status_to_proto,
    location_from_proto, location_to_proto, optional_timestamp, required_timestamp, resolution_level_from_proto,
    resolution_level_to_proto, satisfaction_from_proto, satisfaction_to_proto, timestamp_to_proto,
    withdrawal_reason_from_proto, withdrawal_reason_to_proto,
};
use gridledger_domain::{
    Assignment, CategoryCode, Evaluation, EvidenceRef, Field, FreeText, GridCode, Issue, IssueId, IssueStatus,
    IssueTitle, Location, MeetingId, PersonId, ResolutionLevel, Timestamp, WithdrawalReason,
};

use crate::commands::parse_issue_id;
use crate::proto;

/// An issue as the API shows it: what `GetIssue` returns, in domain types. (The domain's
/// `Issue` also keeps what only `decide` needs, which the API does not carry.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueView {
    pub issue_id: IssueId,
    /// The grid; its code names the community, street and district too.
    pub grid: GridCode,
    pub category: CategoryCode,
    pub title: IssueTitle,
    pub description: FreeText,
    pub reporter_id: PersonId,
    pub status: IssueStatus,
    /// The revision of the issue's last event.
    pub revision: u64,
    /// Who resolved it; `Some` exactly while RESOLVED.
    pub resolution_level: Option<ResolutionLevel>,
    pub reported_at: Timestamp,
    /// The current deadline.
    pub due_at: Timestamp,
    pub assignment: Option<Assignment>,
    /// The meeting the issue is in, while IN_DELIBERATION.
    pub open_meeting_id: Option<MeetingId>,
    pub meetings_concluded: u32,
    pub escalations: u32,
    pub committee_decisions: u32,
    pub reopens: u32,
    pub last_evaluation: Option<Evaluation>,
    pub last_resolved_at: Option<Timestamp>,
    pub last_occurred_at: Timestamp,
    pub withdrawal_reason: Option<WithdrawalReason>,
    /// Where it was reported, as the app gave it.
    pub location: Option<Location>,
    /// Every photo and video its events reference, in event order, each once.
    pub evidence: Vec<EvidenceRef>,
}

impl From<&Issue> for IssueView {
    fn from(issue: &Issue) -> Self {
        IssueView {
            issue_id: issue.issue_id,
            grid: issue.grid.clone(),
            category: issue.category.clone(),
            title: issue.title.clone(),
            description: issue.description.clone(),
            reporter_id: issue.reporter_id.clone(),
            status: issue.status,
            revision: issue.revision(),
            resolution_level: issue.resolution_level,
            reported_at: issue.reported_at,
            due_at: issue.due_at,
            assignment: issue.assignment.clone(),
            open_meeting_id: issue.open_meeting_id.clone(),
            meetings_concluded: issue.meetings_concluded,
            escalations: issue.escalations,
            committee_decisions: issue.committee_decisions,
            reopens: issue.reopen_count,
            last_evaluation: issue.last_evaluation.clone(),
            last_resolved_at: issue.last_resolved_at,
            last_occurred_at: issue.last_occurred_at,
            withdrawal_reason: issue.withdrawal_reason,
            location: issue.location.clone(),
            evidence: issue.evidence.clone(),
        }
    }
}

/// The wire form of an issue's state.
pub fn issue_to_proto(issue: &Issue) -> proto::Issue {
    IssueView::from(issue).to_proto()
}

impl IssueView {
    /// Whether the issue is open past its deadline at `now`.
    pub fn is_overdue_at(&self, now: Timestamp) -> bool {
        self.status.is_open() && self.due_at < now
    }

    /// The wire form.
    pub fn to_proto(&self) -> proto::Issue {
        let community = self.grid.community();
        let street = community.street();
        let (withdrawal_reason, duplicate_of) = match &self.withdrawal_reason {
            None => (proto::WithdrawalReason::Unspecified, String::new()),
            Some(reason) => withdrawal_reason_to_proto(reason),
        };
        proto::Issue {
            issue_id: self.issue_id.to_string(),
            grid_code: self.grid.as_str().to_owned(),
            community_code: community.as_str().to_owned(),
            street_code: street.as_str().to_owned(),
            district_code: street.district().as_str().to_owned(),
            category: self.category.as_str().to_owned(),
            title: self.title.as_str().to_owned(),
            description: self.description.as_str().to_owned(),
            reporter_id: self.reporter_id.as_str().to_owned(),
            status: issue_status_to_proto(self.status) as i32,
            revision: self.revision,
            resolution_level: self
                .resolution_level
                .map_or(proto::ResolutionLevel::Unspecified, resolution_level_to_proto)
                as i32,
            reported_at: Some(timestamp_to_proto(self.reported_at)),
            due_at: Some(timestamp_to_proto(self.due_at)),
            assignment: self.assignment.as_ref().map(|assignment| proto::Assignment {
                assignee_id: assignment.assignee_id.as_str().to_owned(),
                due_at: Some(timestamp_to_proto(assignment.due_at)),
                accepted: assignment.accepted,
            }),
            open_meeting_id: self
                .open_meeting_id
                .as_ref()
                .map(|meeting| meeting.as_str().to_owned())
                .unwrap_or_default(),
            meetings_concluded: self.meetings_concluded,
            escalations: self.escalations,
            committee_decisions: self.committee_decisions,
            reopens: self.reopens,
            last_evaluation: self.last_evaluation.as_ref().map(|evaluation| proto::Evaluation {
                satisfaction: satisfaction_to_proto(evaluation.satisfaction) as i32,
                evaluator_id: evaluation.evaluator_id.as_str().to_owned(),
                evaluated_at: Some(timestamp_to_proto(evaluation.evaluated_at)),
            }),
            last_resolved_at: self.last_resolved_at.map(timestamp_to_proto),
            last_occurred_at: Some(timestamp_to_proto(self.last_occurred_at)),
            withdrawal_reason: withdrawal_reason as i32,
            duplicate_of,
            location: self.location.as_ref().map(location_to_proto),
            evidence: evidence_list_to_proto(&self.evidence),
        }
    }
}

impl TryFrom<proto::Issue> for IssueView {
    type Error = WireError;

    /// Reads an issue the server sent, checking every field.
    fn try_from(wire: proto::Issue) -> Result<Self, WireError> {
        let grid =
            GridCode::parse(&wire.grid_code).map_err(|error| WireError::invalid("grid_code", error.to_string()))?;
        let category =
            CategoryCode::parse(&wire.category).map_err(|error| WireError::invalid("category", error.to_string()))?;
        let resolution_level = if wire.resolution_level == proto::ResolutionLevel::Unspecified as i32 {
            None
        } else {
            Some(resolution_level_from_proto("resolution_level", wire.resolution_level)?)
        };
        let withdrawal_reason = if wire.withdrawal_reason == proto::WithdrawalReason::Unspecified as i32 {
            None
        } else {
            Some(withdrawal_reason_from_proto(
                wire.withdrawal_reason,
                &wire.duplicate_of,
            )?)
        };
        let assignment = match wire.assignment {
            None => None,
            Some(assignment) => Some(Assignment {
                assignee_id: PersonId::parse(Field::Assignee, &assignment.assignee_id)?,
                due_at: required_timestamp("assignment.due_at", assignment.due_at)?,
                accepted: assignment.accepted,
            }),
        };
        let last_evaluation = match wire.last_evaluation {
            None => None,
            Some(evaluation) => Some(Evaluation {
                satisfaction: satisfaction_from_proto("last_evaluation.satisfaction", evaluation.satisfaction)?,
                evaluator_id: PersonId::parse(Field::Evaluator, &evaluation.evaluator_id)?,
                evaluated_at: required_timestamp("last_evaluation.evaluated_at", evaluation.evaluated_at)?,
            }),
        };
        let open_meeting_id = if wire.open_meeting_id.is_empty() {
            None
        } else {
            Some(MeetingId::parse(Field::Meeting, &wire.open_meeting_id)?)
        };
        Ok(IssueView {
            issue_id: parse_issue_id("issue_id", &wire.issue_id)?,
            grid,
            category,
            title: IssueTitle::parse(&wire.title)?,
            description: FreeText::parse(Field::Description, wire.description)?,
            reporter_id: PersonId::parse(Field::Reporter, &wire.reporter_id)?,
            status: issue_status_from_proto("status", wire.status)?,
            revision: wire.revision,
            resolution_level,
            reported_at: required_timestamp("reported_at", wire.reported_at)?,
            due_at: required_timestamp("due_at", wire.due_at)?,
            assignment,
            open_meeting_id,
            meetings_concluded: wire.meetings_concluded,
            escalations: wire.escalations,
            committee_decisions: wire.committee_decisions,
            reopens: wire.reopens,
            last_evaluation,
            last_resolved_at: optional_timestamp("last_resolved_at", wire.last_resolved_at.as_ref())?,
            last_occurred_at: required_timestamp("last_occurred_at", wire.last_occurred_at)?,
            withdrawal_reason,
            location: location_from_proto(wire.location)?,
            evidence: wire
                .evidence
                .iter()
                .map(evidence_ref_from_proto)
                .collect::<Result<_, _>>()?,
        })
    }
}
