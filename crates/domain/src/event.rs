//! Events of the issue lifecycle (`docs/events.md`): one struct per event, the
//! [`IssueEventBody`] enum over them, their stable [`EventType`] names (`IssueReported`,
//! snake form `issue_reported` for NATS subjects), and [`IssueEvent`], a body with its
//! business time.

use serde::{Deserialize, Serialize};

use crate::category::CategoryCode;
use crate::evidence::{EvidenceList, EvidenceRef};
use crate::issue::{EscalationReason, Forum, IssueId, IssueStatus, ResolutionLevel, Satisfaction, WithdrawalReason};
use crate::jurisdiction::GridCode;
use crate::location::Location;
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
    /// Where it was reported, as the app gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Photos and videos of the problem.
    #[serde(default, skip_serializing_if = "EvidenceList::is_empty")]
    pub evidence: EvidenceList,
}

/// The issue was handled on the spot; RESOLVED at level GRID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueHandledInGrid {
    /// What was done.
    pub summary: FreeText,
    /// Where, as the app gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Photos and videos of the fix.
    #[serde(default, skip_serializing_if = "EvidenceList::is_empty")]
    pub evidence: EvidenceList,
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
/// COMMUNITY (derived when folding, by [`ResolutionLevel::of_resolution`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueResolved {
    /// What was done.
    pub summary: FreeText,
    /// Where the fix happened, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Photos and videos of the fix.
    #[serde(default, skip_serializing_if = "EvidenceList::is_empty")]
    pub evidence: EvidenceList,
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

    /// The photos and videos the event references (a report, a handling in the grid, a
    /// resolution; none for the others).
    pub fn evidence(&self) -> &[EvidenceRef] {
        match self {
            IssueEventBody::IssueReported(event) => event.evidence.entries(),
            IssueEventBody::IssueHandledInGrid(event) => event.evidence.entries(),
            IssueEventBody::IssueResolved(event) => event.evidence.entries(),
            _ => &[],
        }
    }

    /// The location the event records, if any.
    pub fn location(&self) -> Option<&Location> {
        match self {
            IssueEventBody::IssueReported(event) => event.location.as_ref(),
            IssueEventBody::IssueHandledInGrid(event) => event.location.as_ref(),
            IssueEventBody::IssueResolved(event) => event.location.as_ref(),
            _ => None,
        }
    }

    /// The snake-case event type name for NATS subjects: `issue_reported`, ...
    pub const fn event_type_snake(&self) -> &'static str {
        self.kind().snake_name()
    }

    /// The level this event resolves its issue at, or `None` if it does not resolve it:
    /// GRID for `IssueHandledInGrid`; for `IssueResolved`,
    /// [`ResolutionLevel::of_resolution`] of whether the issue was escalated in the
    /// current cycle before this event. The one place a read model or the fold learns
    /// that an event is a resolution, and at which level.
    pub const fn resolution_level(&self, escalated_in_cycle: bool) -> Option<ResolutionLevel> {
        match self {
            IssueEventBody::IssueHandledInGrid(_) => Some(ResolutionLevel::Grid),
            IssueEventBody::IssueResolved(_) => Some(ResolutionLevel::of_resolution(escalated_in_cycle)),
            _ => None,
        }
    }

    /// The deadline this event sets, or `None` if it leaves the deadline as it was: the
    /// report's `due_at`, and the new `due_at` of a dispatch or a committee decision.
    pub const fn new_due_at(&self) -> Option<Timestamp> {
        match self {
            IssueEventBody::IssueReported(reported) => Some(reported.due_at),
            IssueEventBody::IssueDispatched(dispatched) => Some(dispatched.due_at),
            IssueEventBody::CommitteeDecisionRecorded(decision) => Some(decision.due_at),
            _ => None,
        }
    }

    /// Whether the issue counts as escalated in the current cycle after this event, given
    /// whether it did before: an escalation sets it, a reopen (which starts a new cycle)
    /// clears it, every other event keeps it. It decides the level of the next resolution
    /// ([`IssueEventBody::resolution_level`]).
    pub const fn escalated_in_cycle_after(&self, escalated_in_cycle_before: bool) -> bool {
        match self {
            IssueEventBody::IssueEscalated(_) => true,
            IssueEventBody::IssueReopened(_) => false,
            _ => escalated_in_cycle_before,
        }
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
    use crate::field::Field;

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

    fn summary() -> FreeText {
        FreeText::empty()
    }

    fn escalated() -> IssueEventBody {
        IssueEventBody::IssueEscalated(IssueEscalated {
            reason: EscalationReason::Recurring,
            note: None,
        })
    }

    fn reopened() -> IssueEventBody {
        IssueEventBody::IssueReopened(IssueReopened { reason: summary() })
    }

    #[test]
    fn only_the_two_resolving_events_have_a_resolution_level() {
        let handled = IssueEventBody::IssueHandledInGrid(IssueHandledInGrid {
            summary: summary(),
            evidence: Default::default(),
            location: None,
        });
        let resolved = IssueEventBody::IssueResolved(IssueResolved {
            summary: summary(),
            evidence: Default::default(),
            location: None,
        });
        for escalated_in_cycle in [false, true] {
            assert_eq!(
                handled.resolution_level(escalated_in_cycle),
                Some(ResolutionLevel::Grid)
            );
            assert_eq!(escalated().resolution_level(escalated_in_cycle), None);
            assert_eq!(reopened().resolution_level(escalated_in_cycle), None);
        }
        assert_eq!(resolved.resolution_level(false), Some(ResolutionLevel::Community));
        assert_eq!(resolved.resolution_level(true), Some(ResolutionLevel::Committee));
    }

    #[test]
    fn an_escalation_marks_the_cycle_and_a_reopen_starts_a_new_one() {
        let resolved = IssueEventBody::IssueResolved(IssueResolved {
            summary: summary(),
            evidence: Default::default(),
            location: None,
        });
        for before in [false, true] {
            assert!(escalated().escalated_in_cycle_after(before));
            assert!(!reopened().escalated_in_cycle_after(before));
            assert_eq!(resolved.escalated_in_cycle_after(before), before);
        }
    }

    #[test]
    fn the_report_a_dispatch_and_a_committee_decision_set_the_deadline() {
        let due_at = Timestamp::from_unix_micros(86_400_000_000);
        let assignee_id = PersonId::parse(Field::Assignee, "ann").expect("a valid person id");
        let lead_department = DepartmentName::parse(Field::LeadDepartment, "roads").expect("a valid department");
        let dispatched = IssueEventBody::IssueDispatched(IssueDispatched { assignee_id, due_at });
        let decided = IssueEventBody::CommitteeDecisionRecorded(CommitteeDecisionRecorded {
            decision: summary(),
            lead_department,
            supporting_departments: SupportingDepartments::empty(),
            due_at,
        });
        assert_eq!(dispatched.new_due_at(), Some(due_at));
        assert_eq!(decided.new_due_at(), Some(due_at));
        assert_eq!(escalated().new_due_at(), None);
        assert_eq!(reopened().new_due_at(), None);
    }
}
