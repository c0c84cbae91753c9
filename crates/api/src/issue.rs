//! An issue's folded state on the wire (`GetIssue`, `ListIssues`, `ReplayIssue`).

use gridledger_domain::{Issue, WithdrawalReason};

use crate::enums::{issue_status_to_proto, resolution_level_to_proto, satisfaction_to_proto};
use crate::proto;
use crate::time::timestamp_to_proto;

/// The wire form of an issue's state.
pub fn issue_to_proto(issue: &Issue) -> proto::Issue {
    let community = issue.grid.community();
    let street = community.street();
    let (withdrawal_reason, duplicate_of) = match &issue.withdrawal_reason {
        None => (proto::WithdrawalReason::Unspecified, String::new()),
        Some(WithdrawalReason::Duplicate { duplicate_of }) => {
            (proto::WithdrawalReason::Duplicate, duplicate_of.to_string())
        }
        Some(WithdrawalReason::OutOfScope) => (proto::WithdrawalReason::OutOfScope, String::new()),
        Some(WithdrawalReason::ReporterWithdrew) => (proto::WithdrawalReason::ReporterWithdrew, String::new()),
    };
    proto::Issue {
        issue_id: issue.issue_id.to_string(),
        grid_code: issue.grid.as_str().to_owned(),
        community_code: community.as_str().to_owned(),
        street_code: street.as_str().to_owned(),
        district_code: street.district().as_str().to_owned(),
        category: issue.category.as_str().to_owned(),
        title: issue.title.as_str().to_owned(),
        description: issue.description.as_str().to_owned(),
        reporter_id: issue.reporter_id.as_str().to_owned(),
        status: issue_status_to_proto(issue.status) as i32,
        revision: issue.revision(),
        resolution_level: issue
            .resolution_level
            .map_or(proto::ResolutionLevel::Unspecified, resolution_level_to_proto) as i32,
        reported_at: Some(timestamp_to_proto(issue.reported_at)),
        due_at: Some(timestamp_to_proto(issue.due_at)),
        assignment: issue.assignment.as_ref().map(|assignment| proto::Assignment {
            assignee_id: assignment.assignee_id.as_str().to_owned(),
            due_at: Some(timestamp_to_proto(assignment.due_at)),
            accepted: assignment.accepted,
        }),
        open_meeting_id: issue
            .open_meeting_id
            .as_ref()
            .map(|meeting| meeting.as_str().to_owned())
            .unwrap_or_default(),
        meetings_concluded: issue.meetings_concluded,
        escalations: issue.escalations,
        committee_decisions: issue.committee_decisions,
        reopens: issue.reopen_count,
        last_evaluation: issue.last_evaluation.as_ref().map(|evaluation| proto::Evaluation {
            satisfaction: satisfaction_to_proto(evaluation.satisfaction) as i32,
            evaluator_id: evaluation.evaluator_id.as_str().to_owned(),
            evaluated_at: Some(timestamp_to_proto(evaluation.evaluated_at)),
        }),
        last_resolved_at: issue.last_resolved_at.map(timestamp_to_proto),
        last_occurred_at: Some(timestamp_to_proto(issue.last_occurred_at)),
        withdrawal_reason: withdrawal_reason as i32,
        duplicate_of,
    }
}
