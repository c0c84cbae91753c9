//! The facts the statistics need about each issue and meeting, and how one event changes them.

use gridledger_domain::{IssueEvent, IssueEventBody, IssueStatus, ResolutionLevel};
use serde::{Deserialize, Serialize};

use crate::histogram::bucket_of;

/// What the statistics need to know about one issue, as of the last event applied.
/// Compact on purpose: a district node keeps one per issue in memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueFacts {
    /// Index into the projection's grid table.
    pub grid: u32,
    /// Index into the projection's category table.
    pub category: u32,
    /// Business time of the report (the period filter and month/year groups use it).
    pub reported_at: i64,
    pub status: IssueStatus,
    /// Set while RESOLVED.
    pub resolution_level: Option<ResolutionLevel>,
    /// The current deadline.
    pub due_at: i64,
    /// Business time of the last resolution, of any cycle.
    pub last_resolved_at: Option<i64>,
    pub ever_escalated: bool,
    /// Escalated in the current cycle (decides the level of the next resolution).
    pub escalated_in_cycle: bool,
    pub ever_reopened: bool,
    /// The duration-histogram bucket of report-to-last-resolution, kept with
    /// `last_resolved_at` so queries only count buckets.
    pub time_to_close_bucket: Option<u16>,
    pub committee_decisions: u32,
    pub evaluations: u32,
    /// Evaluations SATISFIED or BASICALLY_SATISFIED.
    pub satisfied_evaluations: u32,
}

/// A deliberation meeting: when it first concluded, with how many participants, and the
/// issues it concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingFacts {
    /// Business time of the meeting's first conclusion.
    pub concluded_at: i64,
    /// Participants as reported by the first conclusion (a meeting counts them once).
    pub participants: u32,
    /// Ordinals of the issues the meeting concluded.
    pub issues: Vec<u32>,
}

impl IssueFacts {
    /// Applies an event other than the report to the issue's facts.
    pub(crate) fn apply(&mut self, event: &IssueEvent) {
        let occurred_at = event.occurred_at.as_unix_micros();
        let body = &event.body;
        // The lifecycle's rules are the domain's: status, resolution level, deadline and the
        // escalation cycle come from it, so the figures cannot drift from `evolve`.
        if let Some(status) = body.status_after() {
            self.status = status;
        }
        if let Some(due_at) = body.new_due_at() {
            self.due_at = due_at.as_unix_micros();
        }
        if let Some(level) = body.resolution_level(self.escalated_in_cycle) {
            self.resolution_level = Some(level);
            self.resolved_at(occurred_at);
        }
        self.escalated_in_cycle = body.escalated_in_cycle_after(self.escalated_in_cycle);
        match body {
            IssueEventBody::IssueEscalated(_) => self.ever_escalated = true,
            IssueEventBody::CommitteeDecisionRecorded(_) => self.committee_decisions += 1,
            IssueEventBody::ResolutionEvaluated(evaluated) => {
                self.evaluations += 1;
                if evaluated.satisfaction.counts_as_satisfied() {
                    self.satisfied_evaluations += 1;
                }
            }
            IssueEventBody::IssueReopened(_) => {
                self.resolution_level = None;
                self.ever_reopened = true;
            }
            IssueEventBody::IssueWithdrawn(_) => self.resolution_level = None,
            IssueEventBody::IssueReported(_)
            | IssueEventBody::IssueHandledInGrid(_)
            | IssueEventBody::IssueDispatched(_)
            | IssueEventBody::AssignmentAccepted(_)
            | IssueEventBody::DeliberationConvened(_)
            | IssueEventBody::DeliberationConcluded(_)
            | IssueEventBody::IssueResolved(_) => {}
        }
    }

    fn resolved_at(&mut self, occurred_at: i64) {
        self.last_resolved_at = Some(occurred_at);
        self.time_to_close_bucket = Some(bucket_of(occurred_at.saturating_sub(self.reported_at) as f64 / 1e6));
    }

    /// Open in the domain's sense (`IssueStatus::is_open`).
    pub fn is_open(&self) -> bool {
        self.status.is_open()
    }
}
