//! Events of the issue lifecycle (SPEC §3.2): one struct per event, the
//! [`IssueEventBody`] enum over them, their stable [`EventType`] names (`IssueReported`,
//! snake form `issue_reported` for NATS subjects), and [`IssueEvent`], a body with its
//! business time.

use serde::{Deserialize, Serialize};

use crate::category::CategoryCode;
use crate::issue::{EscalationReason, Forum, IssueId, IssueStatus, Satisfaction, WithdrawalReason};
use crate::jurisdiction::GridCode;
use crate::stable_name::enum_with_stable_names;
use crate::text::{
    DepartmentName, FreeText, IssueTitle, MeetingId, MeetingParties, ParticipantCount, PersonId, SupportingDepartments,
};
use crate::time::Timestamp;

enum_with_stable_names! {
    /// The type of an event, with its stable name (`IssueReported`).
    pub enum EventType {
        /// [`IssueReported`].
        IssueReported => "IssueReported",
        /// [`IssueHandledInGrid`].
        IssueHandledInGrid => "IssueHandledInGrid",
        /// [`IssueDispatched`].
        IssueDispatched => "IssueDispatched",
        /// [`AssignmentAccepted`].
        AssignmentAccepted => "AssignmentAccepted",
        /// [`DeliberationConvened`].
        DeliberationConvened => "DeliberationConvened",
        /// [`DeliberationConcluded`].
        DeliberationConcluded => "DeliberationConcluded",
        /// [`IssueEscalated`].
        IssueEscalated => "IssueEscalated",
        /// [`CommitteeDecisionRecorded`].
        CommitteeDecisionRecorded => "CommitteeDecisionRecorded",
        /// [`IssueResolved`].
        IssueResolved => "IssueResolved",
        /// [`ResolutionEvaluated`].
        ResolutionEvaluated => "ResolutionEvaluated",
        /// [`IssueReopened`].
        IssueReopened => "IssueReopened",
        /// [`IssueWithdrawn`].
        IssueWithdrawn => "IssueWithdrawn",
    }
}

impl EventType {
    /// The snake-case name used in NATS subjects: `issue_reported`, `issue_handled_in_grid`,
    /// ...
    pub const fn snake_name(self) -> &'static str {
        match self {
            EventType::IssueReported => "issue_reported",
            EventType::IssueHandledInGrid => "issue_handled_in_grid",
            EventType::IssueDispatched => "issue_dispatched",
            EventType::AssignmentAccepted => "assignment_accepted",
            EventType::DeliberationConvened => "deliberation_convened",
            EventType::DeliberationConcluded => "deliberation_concluded",
            EventType::IssueEscalated => "issue_escalated",
            EventType::CommitteeDecisionRecorded => "committee_decision_recorded",
            EventType::IssueResolved => "issue_resolved",
            EventType::ResolutionEvaluated => "resolution_evaluated",
            EventType::IssueReopened => "issue_reopened",
            EventType::IssueWithdrawn => "issue_withdrawn",
        }
    }
}

/// A grid worker reported the issue; it is REPORTED and due at `due_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueReported {
    /// The issue's id.
    pub issue_id: IssueId,
    /// The grid it is in.
    pub grid: GridCode,
    /// Its category.
    pub category: CategoryCode,
    /// Its title.
    pub title: IssueTitle,
    /// Its description.
    pub description: FreeText,
    /// Who reported it.
    pub reporter_id: PersonId,
    /// `occurred_at` plus the category's default handling deadline.
    pub due_at: Timestamp,
}

/// The issue was handled on the spot; RESOLVED at level GRID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueHandledInGrid {
    /// What was done.
    pub summary: FreeText,
}

/// The issue was dispatched to a responder; IN_PROGRESS, due at `due_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueDispatched {
    /// Who is to handle it.
    pub assignee_id: PersonId,
    /// The new deadline.
    pub due_at: Timestamp,
}

/// The assignee accepted the open assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentAccepted {
    /// Who accepted.
    pub assignee_id: PersonId,
}

/// The issue was taken to a meeting; IN_DELIBERATION.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliberationConvened {
    /// The meeting.
    pub meeting_id: MeetingId,
    /// The kind of meeting.
    pub forum: Forum,
    /// The parties invited.
    pub parties: MeetingParties,
}

/// The meeting concluded; IN_PROGRESS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliberationConcluded {
    /// The meeting.
    pub meeting_id: MeetingId,
    /// How many residents took part (counted once per meeting in the statistics).
    pub participants: ParticipantCount,
    /// What was agreed.
    pub outcome: FreeText,
    /// The minutes.
    pub minutes: FreeText,
}

/// The issue was escalated to the district guidance committee; ESCALATED.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueEscalated {
    /// Why.
    pub reason: EscalationReason,
    /// An optional explanation.
    pub note: Option<FreeText>,
}

/// The committee recorded a decision; still ESCALATED, now resolvable, due at `due_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitteeDecisionRecorded {
    /// What was decided.
    pub decision: FreeText,
    /// The department in charge.
    pub lead_department: DepartmentName,
    /// The departments supporting it.
    pub supporting_departments: SupportingDepartments,
    /// The new deadline.
    pub due_at: Timestamp,
}

/// The issue was resolved; RESOLVED at level COMMITTEE if escalated in this cycle, else
/// COMMUNITY (derived when folding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueResolved {
    /// What was done.
    pub summary: FreeText,
}

/// Residents evaluated the resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolutionEvaluated {
    /// How satisfied they are.
    pub satisfaction: Satisfaction,
    /// Who recorded the evaluation.
    pub evaluator_id: PersonId,
    /// Remarks.
    pub comment: FreeText,
}

/// The issue was reopened; REOPENED, a new cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueReopened {
    /// Why.
    pub reason: FreeText,
}

/// The issue was withdrawn; WITHDRAWN (terminal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueWithdrawn {
    /// Why.
    pub reason: WithdrawalReason,
}

/// What happened to an issue: one variant per event type. Serialized with its type name
/// in `event_type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event_type")]
pub enum IssueEventBody {
    /// See [`IssueReported`].
    IssueReported(IssueReported),
    /// See [`IssueHandledInGrid`].
    IssueHandledInGrid(IssueHandledInGrid),
    /// See [`IssueDispatched`].
    IssueDispatched(IssueDispatched),
    /// See [`AssignmentAccepted`].
    AssignmentAccepted(AssignmentAccepted),
    /// See [`DeliberationConvened`].
    DeliberationConvened(DeliberationConvened),
    /// See [`DeliberationConcluded`].
    DeliberationConcluded(DeliberationConcluded),
    /// See [`IssueEscalated`].
    IssueEscalated(IssueEscalated),
    /// See [`CommitteeDecisionRecorded`].
    CommitteeDecisionRecorded(CommitteeDecisionRecorded),
    /// See [`IssueResolved`].
    IssueResolved(IssueResolved),
    /// See [`ResolutionEvaluated`].
    ResolutionEvaluated(ResolutionEvaluated),
    /// See [`IssueReopened`].
    IssueReopened(IssueReopened),
    /// See [`IssueWithdrawn`].
    IssueWithdrawn(IssueWithdrawn),
}

impl IssueEventBody {
    /// The event's type.
    pub const fn kind(&self) -> EventType {
        match self {
            IssueEventBody::IssueReported(_) => EventType::IssueReported,
            IssueEventBody::IssueHandledInGrid(_) => EventType::IssueHandledInGrid,
            IssueEventBody::IssueDispatched(_) => EventType::IssueDispatched,
            IssueEventBody::AssignmentAccepted(_) => EventType::AssignmentAccepted,
            IssueEventBody::DeliberationConvened(_) => EventType::DeliberationConvened,
            IssueEventBody::DeliberationConcluded(_) => EventType::DeliberationConcluded,
            IssueEventBody::IssueEscalated(_) => EventType::IssueEscalated,
            IssueEventBody::CommitteeDecisionRecorded(_) => EventType::CommitteeDecisionRecorded,
            IssueEventBody::IssueResolved(_) => EventType::IssueResolved,
            IssueEventBody::ResolutionEvaluated(_) => EventType::ResolutionEvaluated,
            IssueEventBody::IssueReopened(_) => EventType::IssueReopened,
            IssueEventBody::IssueWithdrawn(_) => EventType::IssueWithdrawn,
        }
    }

    /// The stable event type name: `IssueReported`, ...
    pub const fn event_type(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The status this event moves its issue to (the lifecycle table's "status after"), or
    /// `None` for events that leave the status as it was (AssignmentAccepted,
    /// CommitteeDecisionRecorded, ResolutionEvaluated). For read models that track the
    /// status alone; `evolve` is the full fold.
    pub const fn status_after(&self) -> Option<IssueStatus> {
        match self {
            IssueEventBody::IssueReported(_) => Some(IssueStatus::Reported),
            IssueEventBody::IssueHandledInGrid(_) | IssueEventBody::IssueResolved(_) => Some(IssueStatus::Resolved),
            IssueEventBody::IssueDispatched(_) | IssueEventBody::DeliberationConcluded(_) => {
                Some(IssueStatus::InProgress)
            }
            IssueEventBody::DeliberationConvened(_) => Some(IssueStatus::InDeliberation),
            IssueEventBody::IssueEscalated(_) => Some(IssueStatus::Escalated),
            IssueEventBody::IssueReopened(_) => Some(IssueStatus::Reopened),
            IssueEventBody::IssueWithdrawn(_) => Some(IssueStatus::Withdrawn),
            IssueEventBody::AssignmentAccepted(_)
            | IssueEventBody::CommitteeDecisionRecorded(_)
            | IssueEventBody::ResolutionEvaluated(_) => None,
        }
    }

    /// The snake-case event type name for NATS subjects: `issue_reported`, ...
    pub const fn event_type_snake(&self) -> &'static str {
        self.kind().snake_name()
    }
}

/// One event of an issue's stream: what happened and when (business time). The log adds
/// position, revision, `recorded_at` and hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueEvent {
    /// When it happened, in business time.
    pub occurred_at: Timestamp,
    /// What happened.
    pub body: IssueEventBody,
}

impl IssueEvent {
    /// The stable event type name: `IssueReported`, ...
    pub const fn event_type(&self) -> &'static str {
        self.body.event_type()
    }

    /// The snake-case event type name for NATS subjects: `issue_reported`, ...
    pub const fn event_type_snake(&self) -> &'static str {
        self.body.event_type_snake()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_names_are_the_snake_case_of_the_names() {
        for event_type in EventType::ALL {
            let mut expected = String::new();
            for (index, character) in event_type.as_str().chars().enumerate() {
                if character.is_ascii_uppercase() && index > 0 {
                    expected.push('_');
                }
                expected.push(character.to_ascii_lowercase());
            }
            assert_eq!(event_type.snake_name(), expected);
        }
    }
}
