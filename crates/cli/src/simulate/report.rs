//! What a simulation did, for people and for scripts: the figures its plan is built to
//! (counted from the plan by the definitions of docs/metrics.md#definitions) and how the
//! run went.

use std::collections::BTreeMap;

use gridledger_domain::{IssueCommand, IssueStatus};

use super::plan::IssuePlan;
use super::profile::Profile;

/// The figures a plan is built to, computed from the plan itself with the definitions of
/// docs/metrics.md#definitions (all time, whole district).
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedFigures {
    /// Issues reported.
    pub reports: u64,
    /// Issues withdrawn.
    pub withdrawn: u64,
    /// Reported less withdrawn.
    pub accepted: u64,
    /// Accepted issues RESOLVED at the end.
    pub closed: u64,
    /// Accepted issues neither RESOLVED nor WITHDRAWN at the end.
    pub open: u64,
    /// closed / accepted.
    pub closure_rate: f64,
    /// Distinct meeting ids concluded.
    pub deliberation_meetings: u64,
    /// Issues taken to a meeting.
    pub deliberated_issues: u64,
    /// Participants summed once per distinct meeting.
    pub participants: u64,
    /// Issues reopened.
    pub reopened: u64,
    /// Evaluations recorded.
    pub evaluations: u64,
    /// Commands in the plan.
    pub commands: u64,
    /// Issues per path.
    pub issues_per_path: BTreeMap<&'static str, u64>,
}

impl PlannedFigures {
    /// Computes the figures of a plan from its commands and their expected statuses.
    pub fn of(plans: &[IssuePlan]) -> Self {
        let mut figures = PlannedFigures {
            reports: 0,
            withdrawn: 0,
            accepted: 0,
            closed: 0,
            open: 0,
            closure_rate: 0.0,
            deliberation_meetings: 0,
            deliberated_issues: 0,
            participants: 0,
            reopened: 0,
            evaluations: 0,
            commands: 0,
            issues_per_path: BTreeMap::new(),
        };
        let mut participants_per_meeting: BTreeMap<&str, u32> = BTreeMap::new();
        for plan in plans {
            figures.reports += 1;
            *figures.issues_per_path.entry(plan.path).or_default() += 1;
            let mut deliberated = false;
            let mut reopened = false;
            for command in &plan.commands {
                figures.commands += 1;
                match &command.command {
                    IssueCommand::ConcludeDeliberation(conclude) => {
                        deliberated = true;
                        participants_per_meeting
                            .entry(conclude.meeting_id.as_str())
                            .or_insert(conclude.participants.get());
                    }
                    IssueCommand::ReopenIssue(_) => reopened = true,
                    IssueCommand::EvaluateResolution(_) => figures.evaluations += 1,
                    _ => {}
                }
            }
            figures.deliberated_issues += u64::from(deliberated);
            figures.reopened += u64::from(reopened);
            match plan.commands.last().map(|command| command.expected_status_after) {
                Some(IssueStatus::Withdrawn) => figures.withdrawn += 1,
                Some(IssueStatus::Resolved) => figures.closed += 1,
                _ => figures.open += 1,
            }
        }
        figures.accepted = figures.reports - figures.withdrawn;
        figures.closure_rate = if figures.accepted == 0 {
            0.0
        } else {
            figures.closed as f64 / figures.accepted as f64
        };
        figures.deliberation_meetings = participants_per_meeting.len() as u64;
        figures.participants = participants_per_meeting.values().map(|count| u64::from(*count)).sum();
        figures
    }
}

/// What a simulation did: the plan's figures and how the run went.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulationSummary {
    /// The profile simulated.
    pub profile: Profile,
    /// The seed.
    pub seed: u64,
    /// Issues reported (one walk each).
    pub issues_reported: u64,
    /// Commands acknowledged by the server.
    pub commands_sent: u64,
    /// Acknowledgements of request ids the server had seen before (a re-run, or a retry
    /// whose first attempt had been committed).
    pub duplicate_acks: u64,
    /// Attempts repeated after UNAVAILABLE or transport failures.
    pub retries: u64,
    /// Walks run at the same time.
    pub concurrency: usize,
    /// Wall-clock time of sending the commands.
    pub elapsed_seconds: f64,
    /// commands_sent / elapsed_seconds.
    pub commands_per_second: f64,
    /// The figures the plan is built to.
    pub planned: PlannedFigures,
}

impl SimulationSummary {
    /// The summary as one flat JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        let planned = &self.planned;
        serde_json::json!({
            "profile": self.profile.name(),
            "seed": self.seed,
            "issues_reported": self.issues_reported,
            "commands_sent": self.commands_sent,
            "duplicate_acks": self.duplicate_acks,
            "retries": self.retries,
            "concurrency": self.concurrency,
            "elapsed_seconds": self.elapsed_seconds,
            "commands_per_second": self.commands_per_second,
            "reports": planned.reports,
            "withdrawn": planned.withdrawn,
            "accepted": planned.accepted,
            "closed": planned.closed,
            "open": planned.open,
            "closure_rate": planned.closure_rate,
            "closure_rate_percent": (planned.closure_rate * 1_000.0).round() / 10.0,
            "deliberation_meetings": planned.deliberation_meetings,
            "deliberated_issues": planned.deliberated_issues,
            "participants": planned.participants,
            "reopened": planned.reopened,
            "evaluations": planned.evaluations,
            "issues_per_path": planned.issues_per_path,
        })
    }

    /// The summary for people: how the run went, and the figures the plan is built to.
    pub fn text_for_people(&self) -> String {
        let planned = &self.planned;
        let mut text = format!(
            "simulated profile {}, seed {}: {} issues reported, {} commands sent in {:.1} s ({:.0} commands/s, {} concurrent walks, {} retries, {} duplicate acks)\n",
            self.profile.name(),
            self.seed,
            self.issues_reported,
            self.commands_sent,
            self.elapsed_seconds,
            self.commands_per_second,
            self.concurrency,
            self.retries,
            self.duplicate_acks
        );
        text.push_str(&format!(
            "planned figures: accepted {}, closed {}, closure rate {:.1}% ({:.3}%), deliberation meetings {}, participants {}\n",
            planned.accepted,
            planned.closed,
            planned.closure_rate * 100.0,
            planned.closure_rate * 100.0,
            planned.deliberation_meetings,
            planned.participants
        ));
        let paths: Vec<String> = planned
            .issues_per_path
            .iter()
            .map(|(path, count)| format!("{path} {count}"))
            .collect();
        text.push_str(&format!(
            "  {} reported, {} withdrawn, {} open; {} issues deliberated; {} reopened; {} evaluations; paths: {}\n",
            planned.reports,
            planned.withdrawn,
            planned.open,
            planned.deliberated_issues,
            planned.reopened,
            planned.evaluations,
            paths.join(", ")
        ));
        text
    }
}
