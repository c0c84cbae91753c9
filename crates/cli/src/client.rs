//! Client commands: report an issue, walk it through its lifecycle, show and list issues.
//! Each command becomes a domain command (checked on this side as the server would check
//! it) and goes through the typed client.

use std::io::IsTerminal;

use clap::{Args, Subcommand};
use gridledger_api::IssueReport;
use gridledger_api::client::Client;
use gridledger_domain::{
    AcceptAssignment, CategoryCode, ConcludeDeliberation, ConveneDeliberation, DepartmentName, DispatchIssue,
    EscalateIssue, EscalationReason, EvaluateResolution, Field, Forum, FreeText, GridCode, HandleInGrid, IssueCommand,
    IssueStatus, IssueTitle, JurisdictionCode, MeetingId, MeetingParties, ParticipantCount, PersonId,
    RecordCommitteeDecision, ReopenIssue, ResolveIssue, Satisfaction, SupportingDepartments, Timestamp, WithdrawIssue,
};
use gridledger_projections::IssueListFilter;

use crate::args::{
    MetaOptions, WithdrawalKind, code, invalid, issue_id, named, now, optional_code, optional_issue_id, parse_time,
};
use crate::output::{self, ReportOutput};

/// The issue a lifecycle command is for, and its meta.
#[derive(Debug, Args)]
pub struct Target {
    issue_id: String,
    #[command(flatten)]
    meta: MetaOptions,
}

/// What `report` takes.
#[derive(Debug, Args)]
pub struct ReportArgs {
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
    /// Print only the new issue's id, even on a terminal.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    meta: MetaOptions,
}

/// What `list` filters on, and which page.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Jurisdiction code (district, street, community or grid).
    #[arg(long, default_value = "")]
    scope: String,
    #[arg(long, value_parser = named::<IssueStatus>())]
    status: Option<IssueStatus>,
    #[arg(long, default_value = "")]
    category: String,
    #[arg(long, default_value_t = 50)]
    page_size: u32,
    #[arg(long, default_value = "")]
    page_token: String,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Report a new issue (a grid worker). Prints just its id unless on a terminal.
    Report(ReportArgs),
    /// Show an issue's current state, as a case file.
    Show { issue_id: String },
    /// List issues, newest ids last, a page at a time.
    List(ListArgs),
    /// Resolve on the spot, inside the grid.
    Handle {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value = "")]
        summary: String,
    },
    /// Dispatch to a responder with a deadline.
    Dispatch {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        assignee: String,
        /// Deadline, RFC 3339.
        #[arg(long, value_parser = parse_time)]
        due: Timestamp,
    },
    /// Accept an assignment (the assignee).
    Accept {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        assignee: String,
    },
    /// Take the issue to a deliberation meeting.
    Convene {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        meeting: String,
        #[arg(long, value_parser = named::<Forum>())]
        forum: Forum,
        /// A party to the meeting; repeat for several.
        #[arg(long = "party")]
        parties: Vec<String>,
    },
    /// Conclude the issue's deliberation meeting.
    Conclude {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        meeting: String,
        #[arg(long)]
        participants: u32,
        #[arg(long, default_value = "")]
        outcome: String,
        #[arg(long, default_value = "")]
        minutes: String,
    },
    /// Escalate to the district guidance committee.
    Escalate {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_parser = named::<EscalationReason>())]
        reason: EscalationReason,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Record the committee's decision on an escalated issue.
    Decide {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        decision: String,
        #[arg(long)]
        lead_department: String,
        /// A supporting department; repeat for several.
        #[arg(long = "supporting-department")]
        supporting_departments: Vec<String>,
        /// Deadline, RFC 3339.
        #[arg(long, value_parser = parse_time)]
        due: Timestamp,
    },
    /// Resolve the issue (community, or committee once it decided).
    Resolve {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value = "")]
        summary: String,
    },
    /// Record the residents' evaluation of the resolution.
    Evaluate {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_parser = named::<Satisfaction>())]
        satisfaction: Satisfaction,
        #[arg(long)]
        evaluator: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Reopen a resolved issue.
    Reopen {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Withdraw an issue (terminal).
    Withdraw {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_parser = named::<WithdrawalKind>())]
        reason: WithdrawalKind,
        /// The issue this one duplicates (with --reason duplicate).
        #[arg(long, default_value = "")]
        duplicate_of: String,
    },
}

fn text(field: Field, value: String) -> anyhow::Result<FreeText> {
    FreeText::parse(field, value).map_err(invalid)
}

fn person(field: Field, value: &str) -> anyhow::Result<PersonId> {
    PersonId::parse(field, value).map_err(invalid)
}

fn meeting(value: &str) -> anyhow::Result<MeetingId> {
    MeetingId::parse(Field::Meeting, value).map_err(invalid)
}

/// Runs one client command against `client`.
pub async fn run(client: &Client, json: bool, command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::Report(arguments) => report(client, json, arguments).await,
        ClientCommand::Show { issue_id: id } => show(client, json, &id).await,
        ClientCommand::List(arguments) => list(client, json, arguments).await,
        lifecycle => {
            let (target, command) = lifecycle_command(lifecycle)?;
            let issue_id = issue_id("issue_id", &target.issue_id)?;
            let ack = client.send(issue_id, &target.meta.into_meta()?, &command).await?;
            if json {
                println!("{}", output::ack_json(&ack));
            } else {
                println!("{}", output::ack_line(&ack));
            }
            Ok(())
        }
    }
}

async fn report(client: &Client, json: bool, arguments: ReportArgs) -> anyhow::Result<()> {
    let report = IssueReport {
        issue_id: optional_issue_id("issue_id", &arguments.issue_id)?,
        grid: code("grid_code", GridCode::parse, &arguments.grid)?,
        category: code("category", CategoryCode::parse, &arguments.category)?,
        title: IssueTitle::parse(&arguments.title).map_err(invalid)?,
        description: text(Field::Description, arguments.description)?,
        reporter_id: person(Field::Reporter, &arguments.reporter)?,
        evidence: Default::default(),
        location: None,
    };
    let ack = client.report(&arguments.meta.into_meta()?, &report).await?;
    let output = ReportOutput::choose(json, arguments.quiet, std::io::stdout().is_terminal());
    println!("{}", output.render(&ack));
    Ok(())
}

async fn list(client: &Client, json: bool, arguments: ListArgs) -> anyhow::Result<()> {
    let filter = IssueListFilter {
        scope: optional_code("scope", JurisdictionCode::parse, &arguments.scope)?,
        status: arguments.status,
        category: optional_code("category", CategoryCode::parse, &arguments.category)?,
    };
    let after = optional_issue_id("page_token", &arguments.page_token)?;
    let page = client.list_issues(&filter, arguments.page_size, after).await?;
    if json {
        println!("{}", output::issue::list_json(&page));
    } else {
        print!("{}", output::issue::list_table(&page));
    }
    Ok(())
}

async fn show(client: &Client, json: bool, issue_id_text: &str) -> anyhow::Result<()> {
    let issue = client.get_issue(issue_id("issue_id", issue_id_text)?).await?;
    if json {
        println!("{}", output::issue::issue_json(&issue));
    } else {
        print!("{}", output::issue::case_file(&issue, now()));
    }
    Ok(())
}

/// A lifecycle command's target and its domain command.
fn lifecycle_command(command: ClientCommand) -> anyhow::Result<(Target, IssueCommand)> {
    Ok(match command {
        ClientCommand::Handle { target, summary } => (
            target,
            HandleInGrid {
                summary: text(Field::Summary, summary)?,
                evidence: Default::default(),
                location: None,
            }
            .into(),
        ),
        ClientCommand::Dispatch { target, assignee, due } => (
            target,
            DispatchIssue {
                assignee_id: person(Field::Assignee, &assignee)?,
                due_at: due,
            }
            .into(),
        ),
        ClientCommand::Accept { target, assignee } => (
            target,
            AcceptAssignment {
                assignee_id: person(Field::Assignee, &assignee)?,
            }
            .into(),
        ),
        ClientCommand::Convene {
            target,
            meeting: meeting_id,
            forum,
            parties,
        } => (
            target,
            ConveneDeliberation {
                meeting_id: meeting(&meeting_id)?,
                forum,
                parties: MeetingParties::parse(&parties).map_err(invalid)?,
            }
            .into(),
        ),
        ClientCommand::Conclude {
            target,
            meeting: meeting_id,
            participants,
            outcome,
            minutes,
        } => (
            target,
            ConcludeDeliberation {
                meeting_id: meeting(&meeting_id)?,
                participants: ParticipantCount::new(participants).map_err(invalid)?,
                outcome: text(Field::Outcome, outcome)?,
                minutes: text(Field::Minutes, minutes)?,
            }
            .into(),
        ),
        ClientCommand::Escalate { target, reason, note } => (
            target,
            EscalateIssue {
                reason,
                note: if note.is_empty() {
                    None
                } else {
                    Some(text(Field::EscalationNote, note)?)
                },
            }
            .into(),
        ),
        ClientCommand::Decide {
            target,
            decision,
            lead_department,
            supporting_departments,
            due,
        } => (
            target,
            RecordCommitteeDecision {
                decision: text(Field::Decision, decision)?,
                lead_department: DepartmentName::parse(Field::LeadDepartment, &lead_department).map_err(invalid)?,
                supporting_departments: SupportingDepartments::parse(&supporting_departments).map_err(invalid)?,
                due_at: due,
            }
            .into(),
        ),
        ClientCommand::Resolve { target, summary } => (
            target,
            ResolveIssue {
                summary: text(Field::Summary, summary)?,
                evidence: Default::default(),
                location: None,
            }
            .into(),
        ),
        ClientCommand::Evaluate {
            target,
            satisfaction,
            evaluator,
            comment,
        } => (
            target,
            EvaluateResolution {
                satisfaction,
                evaluator_id: person(Field::Evaluator, &evaluator)?,
                comment: text(Field::Comment, comment)?,
            }
            .into(),
        ),
        ClientCommand::Reopen { target, reason } => (
            target,
            ReopenIssue {
                reason: text(Field::ReopenReason, reason)?,
            }
            .into(),
        ),
        ClientCommand::Withdraw {
            target,
            reason,
            duplicate_of,
        } => (
            target,
            WithdrawIssue {
                reason: reason
                    .reason(optional_issue_id("duplicate_of", &duplicate_of)?)
                    .map_err(invalid)?,
            }
            .into(),
        ),
        ClientCommand::Report(_) | ClientCommand::Show { .. } | ClientCommand::List(_) => {
            anyhow::bail!("not a lifecycle command")
        }
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Line {
        #[command(subcommand)]
        command: ClientCommand,
    }

    const ISSUE: &str = "01a21b09-561d-750b-a1e3-e4d063fc5eca";
    const OTHER: &str = "01a21b09-3152-763a-8c93-bb709cf5d91b";

    /// Parses a lifecycle command line into its domain command: `Ok` with the command's
    /// JSON (the domain's serde form), or `Err` with the error's text.
    fn domain_command(arguments: &[&str]) -> Result<String, String> {
        let line = Line::try_parse_from(std::iter::once("gridledger").chain(arguments.iter().copied()))
            .map_err(|error| error.to_string())?;
        let (target, command) = lifecycle_command(line.command).map_err(|error| error.to_string())?;
        assert_eq!(target.issue_id, ISSUE);
        serde_json::to_string(&command).map_err(|error| error.to_string())
    }

    fn check(arguments: &[&str], expected: Result<&str, &str>) {
        match (domain_command(arguments), expected) {
            (Ok(command), Ok(expected)) => assert_eq!(command, expected, "{arguments:?}"),
            (Err(error), Err(expected)) => assert!(error.contains(expected), "{arguments:?}: {error}"),
            (outcome, expected) => panic!("{arguments:?}: {outcome:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn lifecycle_command_lines_become_domain_commands() {
        check(
            &[
                "dispatch",
                ISSUE,
                "--assignee",
                "community-3",
                "--due",
                "2026-12-01T09:00:00Z",
            ],
            Ok(r#"{"command":"DispatchIssue","assignee_id":"community-3","due_at":1796115600000000}"#),
        );
        check(
            &[
                "convene",
                ISSUE,
                "--meeting",
                "m1",
                "--forum",
                "community-affairs-consultation",
                "--party",
                "residents",
                "--party",
                "owners",
            ],
            Ok(
                r#"{"command":"ConveneDeliberation","meeting_id":"m1","forum":"COMMUNITY_AFFAIRS_CONSULTATION","parties":["residents","owners"]}"#,
            ),
        );
        check(
            &["escalate", ISSUE, "--reason", "cross-jurisdiction"],
            Ok(r#"{"command":"EscalateIssue","reason":"CROSS_JURISDICTION","note":null}"#),
        );
        check(
            &[
                "evaluate",
                ISSUE,
                "--satisfaction",
                "basically-satisfied",
                "--evaluator",
                "resident-9",
            ],
            Ok(
                r#"{"command":"EvaluateResolution","satisfaction":"BASICALLY_SATISFIED","evaluator_id":"resident-9","comment":""}"#,
            ),
        );
        check(
            &["withdraw", ISSUE, "--reason", "duplicate", "--duplicate-of", OTHER],
            Ok(
                r#"{"command":"WithdrawIssue","reason":{"kind":"DUPLICATE","duplicate_of":"01a21b09-3152-763a-8c93-bb709cf5d91b"}}"#,
            ),
        );
        check(
            &["withdraw", ISSUE, "--reason", "reporter-withdrew"],
            Ok(r#"{"command":"WithdrawIssue","reason":{"kind":"REPORTER_WITHDREW"}}"#),
        );
    }

    #[test]
    fn values_the_server_would_refuse_are_refused_here_naming_the_wire_field() {
        check(
            &["withdraw", ISSUE, "--reason", "out-of-scope", "--duplicate-of", OTHER],
            Err("InvalidArgument: invalid duplicate_of: is only allowed with reason DUPLICATE"),
        );
        check(
            &["withdraw", ISSUE, "--reason", "duplicate", "--duplicate-of", "nope"],
            Err("InvalidArgument: invalid duplicate_of: \"nope\" is not an issue id (a UUID)"),
        );
        check(
            &["conclude", ISSUE, "--meeting", "m1", "--participants", "0"],
            Err("InvalidArgument: invalid participants: must be greater than zero"),
        );
        check(
            &["accept", ISSUE, "--assignee", " "],
            Err("InvalidArgument: invalid assignee_id"),
        );
        check(
            &["convene", ISSUE, "--meeting", "m1", "--forum", "town-hall"],
            Err("invalid value 'town-hall' for '--forum <FORUM>'"),
        );
        check(
            &["dispatch", ISSUE, "--assignee", "a", "--due", "next week"],
            Err("invalid value 'next week' for '--due <DUE>'"),
        );
    }
}
