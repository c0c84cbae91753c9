//! An issue's current state, folded from its events: [`IssueState`], [`evolve`] (apply one
//! event, no validation, total) and [`fold`] (apply a whole history from absent).

use serde::{Deserialize, Serialize};

use crate::category::CategoryCode;
use crate::event::{IssueEvent, IssueEventBody, IssueReported};
use crate::evidence::EvidenceRef;
use crate::issue::{IssueId, IssueStatus, ResolutionLevel, Satisfaction, WithdrawalReason};
use crate::jurisdiction::GridCode;
use crate::location::Location;
use crate::text::{FreeText, IssueTitle, MeetingId, PersonId};
use crate::time::Timestamp;

/// The state of one issue stream: nothing reported yet, or an existing issue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum IssueState {
    /// No issue has been reported in this stream.
    #[default]
    Absent,
    /// The issue as of its last event.
    Existing(Box<Issue>),
}

impl IssueState {
    /// The issue, if one has been reported.
    pub fn issue(&self) -> Option<&Issue> {
        match self {
            IssueState::Absent => None,
            IssueState::Existing(issue) => Some(issue),
        }
    }

    /// The issue's status, if one has been reported.
    pub fn status(&self) -> Option<IssueStatus> {
        self.issue().map(|issue| issue.status)
    }
}

/// The current assignment of an issue to a responder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// Who it is assigned to.
    pub assignee_id: PersonId,
    /// When the assignment is due.
    pub due_at: Timestamp,
    /// Whether the assignee has accepted it.
    pub accepted: bool,
}

/// The most recent evaluation of a resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    /// How satisfied the residents were.
    pub satisfaction: Satisfaction,
    /// Who recorded it.
    pub evaluator_id: PersonId,
    /// When (business time).
    pub evaluated_at: Timestamp,
}

/// An existing issue: what a `GetIssue` read returns, plus what `decide` needs.
///
/// A *cycle* runs from the report (or a reopen) to the next reopen; the `*_in_cycle` flags
/// are reset by a reopen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    /// The issue's id.
    pub issue_id: IssueId,
    /// The grid it is in (its code names the community, street and district too).
    pub grid: GridCode,
    /// Its category.
    pub category: CategoryCode,
    /// Its title.
    pub title: IssueTitle,
    /// Its description.
    pub description: FreeText,
    /// Who reported it.
    pub reporter_id: PersonId,
    /// When it was reported (business time).
    pub reported_at: Timestamp,
    /// Where it is in the lifecycle.
    pub status: IssueStatus,
    /// Who resolved it; `Some` exactly while RESOLVED.
    pub resolution_level: Option<ResolutionLevel>,
    /// The current deadline: set by the report, replaced by a dispatch or a committee
    /// decision.
    pub due_at: Timestamp,
    /// The current assignment, if dispatched in this cycle.
    pub assignment: Option<Assignment>,
    /// The meeting the issue is in; `Some` exactly while IN_DELIBERATION.
    pub open_meeting_id: Option<MeetingId>,
    /// How many meetings about this issue have concluded.
    pub meetings_concluded: u32,
    /// How many times it was escalated.
    pub escalations: u32,
    /// How many committee decisions were recorded.
    pub committee_decisions: u32,
    /// How many times it was reopened.
    pub reopen_count: u32,
    /// Whether it was escalated in the current cycle.
    pub escalated_in_cycle: bool,
    /// Whether a committee decision was recorded in the current cycle.
    pub committee_decision_in_cycle: bool,
    /// Whether the resolution of the current cycle has been evaluated.
    pub evaluated_in_cycle: bool,
    /// The most recent evaluation, of any cycle.
    pub last_evaluation: Option<Evaluation>,
    /// When it was last resolved (business time), of any cycle.
    pub last_resolved_at: Option<Timestamp>,
    /// Why it was withdrawn, once WITHDRAWN.
    pub withdrawal_reason: Option<WithdrawalReason>,
    /// The business time of its last event.
    pub last_occurred_at: Timestamp,
    /// How many events its stream holds (the stream revision is this minus one).
    pub event_count: u64,
    /// Where it was reported, as the app gave it.
    pub location: Option<Location>,
    /// Every photo and video its events reference, in event order, each once.
    pub evidence: Vec<EvidenceRef>,
}

impl Issue {
    /// The issue as its report makes it: REPORTED, one event.
    fn from_report(reported: &IssueReported, occurred_at: Timestamp) -> Self {
        Self {
            issue_id: reported.issue_id,
            grid: reported.grid.clone(),
            category: reported.category.clone(),
            title: reported.title.clone(),
            description: reported.description.clone(),
            reporter_id: reported.reporter_id.clone(),
            reported_at: occurred_at,
            status: IssueStatus::Reported,
            resolution_level: None,
            due_at: reported.due_at,
            assignment: None,
            open_meeting_id: None,
            meetings_concluded: 0,
            escalations: 0,
            committee_decisions: 0,
            reopen_count: 0,
            escalated_in_cycle: false,
            committee_decision_in_cycle: false,
            evaluated_in_cycle: false,
            last_evaluation: None,
            last_resolved_at: None,
            withdrawal_reason: None,
            last_occurred_at: occurred_at,
            event_count: 1,
            location: reported.location.clone(),
            evidence: reported.evidence.entries().to_vec(),
        }
    }

    /// The revision of the stream's last event (revisions start at 0).
    pub fn revision(&self) -> u64 {
        self.event_count.saturating_sub(1)
    }

    /// Whether the issue is open: neither RESOLVED nor WITHDRAWN
    /// ([`IssueStatus::is_open`]).
    pub fn is_open(&self) -> bool {
        self.status.is_open()
    }

    /// Moves to `status`, clearing what only holds in the status being left.
    fn enter_status(&mut self, status: IssueStatus) {
        self.status = status;
        if status != IssueStatus::Resolved {
            self.resolution_level = None;
        }
        if status != IssueStatus::InDeliberation {
            self.open_meeting_id = None;
        }
    }

    /// Applies one event to an existing issue. The rules read models share (status after,
    /// resolution level, deadline, escalated in this cycle) come from the event's own
    /// methods; the `match` keeps what only the full state tracks.
    fn apply(&mut self, occurred_at: Timestamp, body: &IssueEventBody) {
        self.last_occurred_at = occurred_at;
        self.event_count = self.event_count.saturating_add(1);
        // A second report of the same stream is never emitted; keep the first.
        if matches!(body, IssueEventBody::IssueReported(_)) {
            return;
        }

        // `status_after` is `None` for the two events the table allows only in the status
        // they lead to; the fold still moves a stray one there, as the table says.
        let status_after = match body {
            IssueEventBody::AssignmentAccepted(_) => Some(IssueStatus::InProgress),
            IssueEventBody::CommitteeDecisionRecorded(_) => Some(IssueStatus::Escalated),
            _ => body.status_after(),
        };
        if let Some(status) = status_after {
            self.enter_status(status);
        }
        if let Some(level) = body.resolution_level(self.escalated_in_cycle) {
            self.resolution_level = Some(level);
            self.last_resolved_at = Some(occurred_at);
        }
        if let Some(due_at) = body.new_due_at() {
            self.due_at = due_at;
        }
        self.escalated_in_cycle = body.escalated_in_cycle_after(self.escalated_in_cycle);
        for evidence in body.evidence() {
            if !self.evidence.iter().any(|held| held.sha256 == evidence.sha256) {
                self.evidence.push(*evidence);
            }
        }

        match body {
            IssueEventBody::IssueReported(_)
            | IssueEventBody::IssueHandledInGrid(_)
            | IssueEventBody::IssueResolved(_) => {}
            IssueEventBody::IssueDispatched(dispatched) => {
                self.assignment = Some(Assignment {
                    assignee_id: dispatched.assignee_id.clone(),
                    due_at: dispatched.due_at,
                    accepted: false,
                });
            }
            IssueEventBody::AssignmentAccepted(accepted) => {
                if let Some(assignment) = self.assignment.as_mut()
                    && assignment.assignee_id == accepted.assignee_id
                {
                    assignment.accepted = true;
                }
            }
            IssueEventBody::DeliberationConvened(convened) => {
                self.open_meeting_id = Some(convened.meeting_id.clone());
            }
            IssueEventBody::DeliberationConcluded(_) => {
                self.meetings_concluded = self.meetings_concluded.saturating_add(1);
            }
            IssueEventBody::IssueEscalated(_) => {
                self.escalations = self.escalations.saturating_add(1);
            }
            IssueEventBody::CommitteeDecisionRecorded(_) => {
                self.committee_decisions = self.committee_decisions.saturating_add(1);
                self.committee_decision_in_cycle = true;
            }
            IssueEventBody::ResolutionEvaluated(evaluated) => {
                self.evaluated_in_cycle = true;
                self.last_evaluation = Some(Evaluation {
                    satisfaction: evaluated.satisfaction,
                    evaluator_id: evaluated.evaluator_id.clone(),
                    evaluated_at: occurred_at,
                });
            }
            IssueEventBody::IssueReopened(_) => {
                self.reopen_count = self.reopen_count.saturating_add(1);
                self.assignment = None;
                self.committee_decision_in_cycle = false;
                self.evaluated_in_cycle = false;
            }
            IssueEventBody::IssueWithdrawn(withdrawn) => {
                self.withdrawal_reason = Some(withdrawn.reason);
            }
        }
    }
}

/// Applies one event to a state. Only folds: never validates, never panics. Events that
/// `decide` would not emit in this state are applied as far as they make sense (an event
/// other than `IssueReported` leaves `Absent` unchanged; a second `IssueReported` only
/// counts as an event; an evaluation records itself and leaves the status as it is; any
/// other event moves to the status the lifecycle table gives it).
pub fn evolve(state: IssueState, event: &IssueEvent) -> IssueState {
    match state {
        IssueState::Absent => match &event.body {
            IssueEventBody::IssueReported(reported) => {
                IssueState::Existing(Box::new(Issue::from_report(reported, event.occurred_at)))
            }
            _ => IssueState::Absent,
        },
        IssueState::Existing(mut issue) => {
            issue.apply(event.occurred_at, &event.body);
            IssueState::Existing(issue)
        }
    }
}

/// Folds a whole history, oldest first, starting from [`IssueState::Absent`].
pub fn fold<'event>(events: impl IntoIterator<Item = &'event IssueEvent>) -> IssueState {
    events.into_iter().fold(IssueState::Absent, evolve)
}
