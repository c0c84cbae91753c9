//! Client commands: report an issue, walk it through its lifecycle, show and list issues.

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use gridledger_api::proto;
use gridledger_api::proto::issue_service_client::IssueServiceClient;
use tonic::transport::Channel;

use crate::output;

/// Options every command carries.
#[derive(Debug, Args)]
pub struct MetaOptions {
    /// Idempotency key; reuse it to retry safely. Default: a fresh UUID.
    #[arg(long)]
    request_id: Option<String>,
    /// Apply only if the issue is at this revision.
    #[arg(long)]
    expected_revision: Option<u64>,
    /// Business time (RFC 3339, e.g. 2026-11-27T09:30:00Z); default: the server's clock.
    #[arg(long)]
    occurred_at: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ForumChoice {
    /// 居民代表议事例会
    ResidentRepresentativeMeeting,
    /// 社区事务会商会
    CommunityAffairsConsultation,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EscalationChoice {
    Widespread,
    Recurring,
    CrossJurisdiction,
    BeyondCommunityCapacity,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SatisfactionChoice {
    Satisfied,
    BasicallySatisfied,
    Unsatisfied,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum WithdrawalChoice {
    Duplicate,
    OutOfScope,
    ReporterWithdrew,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusChoice {
    Reported,
    InProgress,
    InDeliberation,
    Escalated,
    Resolved,
    Reopened,
    Withdrawn,
}

#[derive(Debug, Subcommand)]
pub enum IssueCommand {
    /// Report a new issue (a grid worker).
    Report {
        #[arg(long)]
        grid: String,
        #[arg(long)]
        category: String,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long)]
        reporter: String,
        /// Choose the issue's UUID (offline apps do); default: the server chooses.
        #[arg(long, default_value = "")]
        issue_id: String,
        #[command(flatten)]
        meta: MetaOptions,
    },
    /// Show an issue's current state.
    Show { issue_id: String },
    /// List issues, newest ids last, a page at a time.
    List {
        /// Jurisdiction code (district, street, community or grid).
        #[arg(long, default_value = "")]
        scope: String,
        #[arg(long)]
        status: Option<StatusChoice>,
        #[arg(long, default_value = "")]
        category: String,
        #[arg(long, default_value_t = 50)]
        page_size: u32,
        #[arg(long, default_value = "")]
        page_token: String,
    },
    /// Resolve on the spot, inside the grid.
    Handle {
        issue_id: String,
        #[arg(long, default_value = "")]
        summary: String,
        #[command(flatten)]
        meta: MetaOptions,
    },
    /// Dispatch to a responder with a deadline.
    Dispatch {
        issue_id: String,
        #[arg(long)]
        assignee: String,
        /// Deadline, RFC 3339.
        #[arg(long)]
        due: String,
        #[command(flatten)]
        meta: MetaOptions,
    },
    /// Accept an assignment (the assignee).
    Accept {
        issue_id: String,
        #[arg(long)]
        assignee: String,
        #[command(flatten)]
        meta: MetaOptions,
    },
    /// Take the issue to a deliberation meeting.
    Convene {
        issue_id: String,
        #[arg(long)]
        meeting: String,
        #[arg(long, value_enum)]
        forum: ForumChoice,
        /// A party to the meeting; repeat for several.
        #[arg(long = "party")]
        parties: Vec<String>,
        #[command(flatten)]
        meta: MetaOptions,
    },
    /// Conclude the issue's deliberation meeting.
    Conclude {
        issue_id: String,
        #[arg(long)]
        meeting: String,
        #[arg(long)]
        participants: u32,
        #[arg(long, default_value = "")]
        outcome: String,
        #[arg(long, default_value = "")]
        minutes: String,
        #[command(flatten)]
        meta: MetaOptions,
    },
    /// Escalate to the district guidance committee.
    Escalate {
        issue_id: String,
        #[arg(long, value_enum)]
        reason: EscalationChoice,
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        meta: MetaOptions,
    },
    /// Record the committee's decision on an escalated issue.
    Decide {
        issue_id: String,
        #[arg(long)]
        decision: String,
        #[arg(long)]
        lead_department: String,
        /// A supporting department; repeat for several.
        #[arg(long = "supporting-department")]
        supporting_departments: Vec<String>,
        /// Deadline, RFC 3339.
        #[arg(long)]
        due: String,
        #[command(flatten)]
        meta: MetaOptions,
    },
    /// Resolve the issue (community, or committee once it decided).
    Resolve {
        issue_id: String,
        #[arg(long, default_value = "")]
        summary: String,
        #[command(flatten)]
        meta: MetaOptions,
    },
    /// Record the residents' evaluation of the resolution.
    Evaluate {
        issue_id: String,
        #[arg(long, value_enum)]
        satisfaction: SatisfactionChoice,
        #[arg(long)]
        evaluator: String,
        #[arg(long, default_value = "")]
        comment: String,
        #[command(flatten)]
        meta: MetaOptions,
    },
    /// Reopen a resolved issue.
    Reopen {
        issue_id: String,
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        meta: MetaOptions,
    },
    /// Withdraw an issue (terminal).
    Withdraw {
        issue_id: String,
        #[arg(long, value_enum)]
        reason: WithdrawalChoice,
        #[arg(long, default_value = "")]
        duplicate_of: String,
        #[command(flatten)]
        meta: MetaOptions,
    },
}

/// Parses an RFC 3339 time given on the command line.
pub fn parse_time(flag: &str, value: &str) -> anyhow::Result<prost_types::Timestamp> {
    let time =
        humantime::parse_rfc3339_weak(value).with_context(|| format!("{flag}: {value:?} is not an RFC 3339 time"))?;
    let since_epoch = time
        .duration_since(std::time::UNIX_EPOCH)
        .with_context(|| format!("{flag}: {value:?} is before 1970"))?;
    Ok(prost_types::Timestamp {
        seconds: i64::try_from(since_epoch.as_secs())?,
        nanos: i32::try_from(since_epoch.subsec_nanos())?,
    })
}

fn meta(options: MetaOptions) -> anyhow::Result<Option<proto::CommandMeta>> {
    Ok(Some(proto::CommandMeta {
        request_id: options.request_id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
        expected_revision: options.expected_revision,
        occurred_at: options
            .occurred_at
            .map(|value| parse_time("--occurred-at", &value))
            .transpose()?,
    }))
}

pub async fn connect(server: &str) -> anyhow::Result<Channel> {
    Channel::from_shared(server.to_owned())
        .with_context(|| format!("--server {server:?} is not a URL"))?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {server}"))
}

/// Sends `actor` (if any) as the `x-gridledger-actor` header of every request, so the
/// server records it as the events' actor_id.
fn actor_header(actor: Option<&str>) -> anyhow::Result<impl tonic::service::Interceptor + Clone> {
    let value: Option<tonic::metadata::AsciiMetadataValue> = actor
        .map(|actor| actor.parse())
        .transpose()
        .context("--actor must be printable ASCII")?;
    Ok(move |mut request: tonic::Request<()>| {
        if let Some(value) = &value {
            request
                .metadata_mut()
                .insert(gridledger_server::ACTOR_METADATA_KEY, value.clone());
        }
        Ok(request)
    })
}

pub fn run(server: &str, json: bool, actor: Option<&str>, command: IssueCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let interceptor = actor_header(actor)?;
    runtime.block_on(async move {
        let mut client = IssueServiceClient::with_interceptor(connect(server).await?, interceptor);
        let status = |choice: StatusChoice| match choice {
            StatusChoice::Reported => proto::IssueStatus::Reported,
            StatusChoice::InProgress => proto::IssueStatus::InProgress,
            StatusChoice::InDeliberation => proto::IssueStatus::InDeliberation,
            StatusChoice::Escalated => proto::IssueStatus::Escalated,
            StatusChoice::Resolved => proto::IssueStatus::Resolved,
            StatusChoice::Reopened => proto::IssueStatus::Reopened,
            StatusChoice::Withdrawn => proto::IssueStatus::Withdrawn,
        };
        let ack = match command {
            IssueCommand::Show { issue_id } => {
                let issue = client
                    .get_issue(proto::GetIssueRequest { issue_id })
                    .await
                    .map_err(output::status_error)?
                    .into_inner();
                output::print_issue(&issue, json);
                return Ok(());
            }
            IssueCommand::List {
                scope,
                status: status_choice,
                category,
                page_size,
                page_token,
            } => {
                let response = client
                    .list_issues(proto::ListIssuesRequest {
                        scope,
                        status: status_choice.map_or(proto::IssueStatus::Unspecified, status) as i32,
                        category,
                        page_size,
                        page_token,
                    })
                    .await
                    .map_err(output::status_error)?
                    .into_inner();
                output::print_issue_list(&response, json);
                return Ok(());
            }
            IssueCommand::Report {
                grid,
                category,
                title,
                description,
                reporter,
                issue_id,
                meta: options,
            } => {
                client
                    .report_issue(proto::ReportIssueRequest {
                        meta: meta(options)?,
                        issue_id,
                        grid_code: grid,
                        category,
                        title,
                        description,
                        reporter_id: reporter,
                    })
                    .await
            }
            IssueCommand::Handle {
                issue_id,
                summary,
                meta: options,
            } => {
                client
                    .handle_in_grid(proto::HandleInGridRequest {
                        meta: meta(options)?,
                        issue_id,
                        summary,
                    })
                    .await
            }
            IssueCommand::Dispatch {
                issue_id,
                assignee,
                due,
                meta: options,
            } => {
                client
                    .dispatch_issue(proto::DispatchIssueRequest {
                        meta: meta(options)?,
                        issue_id,
                        assignee_id: assignee,
                        due_at: Some(parse_time("--due", &due)?),
                    })
                    .await
            }
            IssueCommand::Accept {
                issue_id,
                assignee,
                meta: options,
            } => {
                client
                    .accept_assignment(proto::AcceptAssignmentRequest {
                        meta: meta(options)?,
                        issue_id,
                        assignee_id: assignee,
                    })
                    .await
            }
            IssueCommand::Convene {
                issue_id,
                meeting,
                forum,
                parties,
                meta: options,
            } => {
                let forum = match forum {
                    ForumChoice::ResidentRepresentativeMeeting => proto::Forum::ResidentRepresentativeMeeting,
                    ForumChoice::CommunityAffairsConsultation => proto::Forum::CommunityAffairsConsultation,
                };
                client
                    .convene_deliberation(proto::ConveneDeliberationRequest {
                        meta: meta(options)?,
                        issue_id,
                        meeting_id: meeting,
                        forum: forum as i32,
                        parties,
                    })
                    .await
            }
            IssueCommand::Conclude {
                issue_id,
                meeting,
                participants,
                outcome,
                minutes,
                meta: options,
            } => {
                client
                    .conclude_deliberation(proto::ConcludeDeliberationRequest {
                        meta: meta(options)?,
                        issue_id,
                        meeting_id: meeting,
                        participants,
                        outcome,
                        minutes,
                    })
                    .await
            }
            IssueCommand::Escalate {
                issue_id,
                reason,
                note,
                meta: options,
            } => {
                let reason = match reason {
                    EscalationChoice::Widespread => proto::EscalationReason::Widespread,
                    EscalationChoice::Recurring => proto::EscalationReason::Recurring,
                    EscalationChoice::CrossJurisdiction => proto::EscalationReason::CrossJurisdiction,
                    EscalationChoice::BeyondCommunityCapacity => proto::EscalationReason::BeyondCommunityCapacity,
                };
                client
                    .escalate_issue(proto::EscalateIssueRequest {
                        meta: meta(options)?,
                        issue_id,
                        reason: reason as i32,
                        note,
                    })
                    .await
            }
            IssueCommand::Decide {
                issue_id,
                decision,
                lead_department,
                supporting_departments,
                due,
                meta: options,
            } => {
                client
                    .record_committee_decision(proto::RecordCommitteeDecisionRequest {
                        meta: meta(options)?,
                        issue_id,
                        decision,
                        lead_department,
                        supporting_departments,
                        due_at: Some(parse_time("--due", &due)?),
                    })
                    .await
            }
            IssueCommand::Resolve {
                issue_id,
                summary,
                meta: options,
            } => {
                client
                    .resolve_issue(proto::ResolveIssueRequest {
                        meta: meta(options)?,
                        issue_id,
                        summary,
                    })
                    .await
            }
            IssueCommand::Evaluate {
                issue_id,
                satisfaction,
                evaluator,
                comment,
                meta: options,
            } => {
                let satisfaction = match satisfaction {
                    SatisfactionChoice::Satisfied => proto::Satisfaction::Satisfied,
                    SatisfactionChoice::BasicallySatisfied => proto::Satisfaction::BasicallySatisfied,
                    SatisfactionChoice::Unsatisfied => proto::Satisfaction::Unsatisfied,
                };
                client
                    .evaluate_resolution(proto::EvaluateResolutionRequest {
                        meta: meta(options)?,
                        issue_id,
                        satisfaction: satisfaction as i32,
                        evaluator_id: evaluator,
                        comment,
                    })
                    .await
            }
            IssueCommand::Reopen {
                issue_id,
                reason,
                meta: options,
            } => {
                client
                    .reopen_issue(proto::ReopenIssueRequest {
                        meta: meta(options)?,
                        issue_id,
                        reason,
                    })
                    .await
            }
            IssueCommand::Withdraw {
                issue_id,
                reason,
                duplicate_of,
                meta: options,
            } => {
                let reason = match reason {
                    WithdrawalChoice::Duplicate => proto::WithdrawalReason::Duplicate,
                    WithdrawalChoice::OutOfScope => proto::WithdrawalReason::OutOfScope,
                    WithdrawalChoice::ReporterWithdrew => proto::WithdrawalReason::ReporterWithdrew,
                };
                client
                    .withdraw_issue(proto::WithdrawIssueRequest {
                        meta: meta(options)?,
                        issue_id,
                        reason: reason as i32,
                        duplicate_of,
                    })
                    .await
            }
        };
        let ack = ack.map_err(output::status_error)?.into_inner();
        output::print_ack(&ack, json);
        Ok(())
    })
}
