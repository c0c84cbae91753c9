//! Client commands: report an issue, walk it through its lifecycle, show and list issues.
//! Each command becomes a domain command (checked on this side as the server would check
//! it) and goes through the typed client.
//!
//! What a command does is an [`Action`]: the flags as given, in a serde form that is also
//! how `gridledger field queue` keeps a command in its queue file (`crate::field`), so a
//! command sent now and one queued for later are checked by the same code. Reports,
//! handlings and resolutions also take a location and photos ([`Attachments`]).

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use gridledger_api::client::Client;
use gridledger_api::{CommandMeta, IssueReport, SubmittedCommand};
use gridledger_domain::{
    AcceptAssignment, CategoryCode, ConcludeDeliberation, ConveneDeliberation, CoordinateSystem, DepartmentName,
    DispatchIssue, EscalateIssue, EscalationReason, EvaluateResolution, EvidenceList, Field, Forum, FreeText, GridCode,
    HandleInGrid, IssueCommand, IssueId, IssueStatus, IssueTitle, JurisdictionCode, Location, MeetingId,
    MeetingParties, ParticipantCount, PersonId, RecordCommitteeDecision, ReopenIssue, ResolveIssue, Satisfaction,
    SupportingDepartments, Timestamp, WithdrawIssue,
};
use gridledger_projections::IssueListFilter;
use serde::{Deserialize, Serialize};

use crate::args::{
    MetaOptions, StableName, WithdrawalKind, code, invalid, issue_id, named, now, optional_code, optional_issue_id,
    parse_time,
};
use crate::field::photos;
use crate::output::{self, ReportOutput};

impl StableName for CoordinateSystem {
    const ALL: &'static [Self] = CoordinateSystem::ALL;
    fn stable_name(self) -> &'static str {
        self.as_str()
    }
}

/// The issue a lifecycle command is for, and its meta.
#[derive(Debug, Args)]
pub struct Target {
    pub issue_id: String,
    #[command(flatten)]
    pub meta: MetaOptions,
}

/// Where the worker stood: `--lat` and `--lon` together, the rest optional.
#[derive(Debug, Clone, Default, Args)]
pub struct LocationArgs {
    /// Latitude in degrees north (negative: south), in --coordinate-system; with --lon.
    #[arg(long, requires = "lon", allow_negative_numbers = true, display_order = 60)]
    pub lat: Option<f64>,
    /// Longitude in degrees east (negative: west); with --lat.
    #[arg(long, requires = "lat", allow_negative_numbers = true, display_order = 61)]
    pub lon: Option<f64>,
    /// The coordinate system of --lat and --lon, stored as given: wgs84 (GPS, the default),
    /// gcj02 (AMap, Tencent Maps), bd09 (Baidu Maps).
    #[arg(long, value_parser = named::<CoordinateSystem>(), requires = "lat", display_order = 62)]
    pub coordinate_system: Option<CoordinateSystem>,
    /// The fix's accuracy in metres.
    #[arg(long, requires = "lat", allow_negative_numbers = true, display_order = 63)]
    pub accuracy_m: Option<f64>,
    /// A free-text address (at most 500 characters, one line).
    #[arg(long, requires = "lat", display_order = 64)]
    pub address: Option<String>,
}

impl LocationArgs {
    /// The location the flags give, checked as the server checks it (the district's
    /// bounding box aside: only the server knows its registry); `None` without `--lat`.
    pub fn location(&self) -> anyhow::Result<Option<Location>> {
        let (Some(latitude), Some(longitude)) = (self.lat, self.lon) else {
            return Ok(None);
        };
        Location::new(
            latitude,
            longitude,
            self.coordinate_system.unwrap_or(CoordinateSystem::Wgs84),
            self.accuracy_m,
            self.address.clone(),
        )
        .map(Some)
        .map_err(invalid)
    }
}

/// What reports, handlings and resolutions carry besides their text: where, and photos.
#[derive(Debug, Clone, Default, Args)]
pub struct Attachments {
    #[command(flatten)]
    pub location: LocationArgs,
    /// A photo or short video (JPEG, PNG, WebP, HEIC, MP4, QuickTime; at most 64 MiB), uploaded
    /// before the command and referenced by it; repeat for several (at most 16).
    #[arg(long = "photo", value_name = "FILE", display_order = 65)]
    pub photos: Vec<PathBuf>,
}

/// What `report` takes.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[arg(long)]
    pub grid: String,
    #[arg(long)]
    pub category: String,
    #[arg(long)]
    pub title: String,
    #[arg(long, default_value = "")]
    pub description: String,
    #[arg(long)]
    pub reporter: String,
    /// Choose the issue's UUID (offline apps do); default: the server chooses (`field queue
    /// report`: a fresh UUIDv7, printed).
    #[arg(long, default_value = "")]
    pub issue_id: String,
    /// Print only the new issue's id, even on a terminal.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub attach: Attachments,
    #[command(flatten)]
    pub meta: MetaOptions,
}

impl ReportArgs {
    /// What the report does, as an [`Action`].
    pub fn action(&self) -> Action {
        Action::Report {
            grid: self.grid.clone(),
            category: self.category.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            reporter: self.reporter.clone(),
        }
    }
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
    #[command(flatten)]
    Lifecycle(LifecycleCommand),
}

/// The lifecycle commands after the report, each on an issue.
#[derive(Debug, Subcommand)]
pub enum LifecycleCommand {
    /// Resolve on the spot, inside the grid.
    Handle {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value = "")]
        summary: String,
        #[command(flatten)]
        attach: Attachments,
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
        #[command(flatten)]
        attach: Attachments,
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

impl LifecycleCommand {
    /// The issue it is for with its meta, what it does, and what it carries (nothing but
    /// for `handle` and `resolve`).
    pub fn into_parts(self) -> (Target, Action, Attachments) {
        let none = Attachments::default;
        match self {
            LifecycleCommand::Handle {
                target,
                summary,
                attach,
            } => (target, Action::Handle { summary }, attach),
            LifecycleCommand::Dispatch { target, assignee, due } => {
                (target, Action::Dispatch { assignee, due }, none())
            }
            LifecycleCommand::Accept { target, assignee } => (target, Action::Accept { assignee }, none()),
            LifecycleCommand::Convene {
                target,
                meeting,
                forum,
                parties,
            } => (
                target,
                Action::Convene {
                    meeting,
                    forum,
                    parties,
                },
                none(),
            ),
            LifecycleCommand::Conclude {
                target,
                meeting,
                participants,
                outcome,
                minutes,
            } => (
                target,
                Action::Conclude {
                    meeting,
                    participants,
                    outcome,
                    minutes,
                },
                none(),
            ),
            LifecycleCommand::Escalate { target, reason, note } => (target, Action::Escalate { reason, note }, none()),
            LifecycleCommand::Decide {
                target,
                decision,
                lead_department,
                supporting_departments,
                due,
            } => (
                target,
                Action::Decide {
                    decision,
                    lead_department,
                    supporting_departments,
                    due,
                },
                none(),
            ),
            LifecycleCommand::Resolve {
                target,
                summary,
                attach,
            } => (target, Action::Resolve { summary }, attach),
            LifecycleCommand::Evaluate {
                target,
                satisfaction,
                evaluator,
                comment,
            } => (
                target,
                Action::Evaluate {
                    satisfaction,
                    evaluator,
                    comment,
                },
                none(),
            ),
            LifecycleCommand::Reopen { target, reason } => (target, Action::Reopen { reason }, none()),
            LifecycleCommand::Withdraw {
                target,
                reason,
                duplicate_of,
            } => (target, Action::Withdraw { reason, duplicate_of }, none()),
        }
    }
}

/// What a command does, with its flags as given (not yet checked): how `gridledger field
/// queue` keeps a command in its queue file, one JSON object tagged by the command's CLI
/// name (`{"command":"handle","summary":"swept"}`), with the flags' names in snake case,
/// enum values as their stable names (`COMMUNITY_AFFAIRS_CONSULTATION`) and times as RFC
/// 3339 text. [`Action::to_report`] and [`Action::to_command`] check it as the server
/// would.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    Report {
        grid: String,
        category: String,
        title: String,
        description: String,
        reporter: String,
    },
    Handle {
        summary: String,
    },
    Dispatch {
        assignee: String,
        #[serde(with = "rfc3339")]
        due: Timestamp,
    },
    Accept {
        assignee: String,
    },
    Convene {
        meeting: String,
        #[serde(with = "stable_name")]
        forum: Forum,
        parties: Vec<String>,
    },
    Conclude {
        meeting: String,
        participants: u32,
        outcome: String,
        minutes: String,
    },
    Escalate {
        #[serde(with = "stable_name")]
        reason: EscalationReason,
        note: String,
    },
    Decide {
        decision: String,
        lead_department: String,
        supporting_departments: Vec<String>,
        #[serde(with = "rfc3339")]
        due: Timestamp,
    },
    Resolve {
        summary: String,
    },
    Evaluate {
        #[serde(with = "stable_name")]
        satisfaction: Satisfaction,
        evaluator: String,
        comment: String,
    },
    Reopen {
        reason: String,
    },
    Withdraw {
        #[serde(with = "stable_name")]
        reason: WithdrawalKind,
        duplicate_of: String,
    },
}

impl Action {
    /// The command's name on the command line (`handle`).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Report { .. } => "report",
            Action::Handle { .. } => "handle",
            Action::Dispatch { .. } => "dispatch",
            Action::Accept { .. } => "accept",
            Action::Convene { .. } => "convene",
            Action::Conclude { .. } => "conclude",
            Action::Escalate { .. } => "escalate",
            Action::Decide { .. } => "decide",
            Action::Resolve { .. } => "resolve",
            Action::Evaluate { .. } => "evaluate",
            Action::Reopen { .. } => "reopen",
            Action::Withdraw { .. } => "withdraw",
        }
    }

    /// Whether the command may carry a location and photos (a report, a handling in the
    /// grid, a resolution).
    pub fn takes_attachments(&self) -> bool {
        matches!(
            self,
            Action::Report { .. } | Action::Handle { .. } | Action::Resolve { .. }
        )
    }

    /// The report, checked; `issue_id: None` lets the server choose.
    pub fn to_report(
        &self,
        issue_id: Option<IssueId>,
        location: Option<Location>,
        evidence: EvidenceList,
    ) -> anyhow::Result<IssueReport> {
        let Action::Report {
            grid,
            category,
            title,
            description,
            reporter,
        } = self
        else {
            anyhow::bail!("{} is not a report", self.name());
        };
        Ok(IssueReport {
            issue_id,
            grid: code("grid_code", GridCode::parse, grid)?,
            category: code("category", CategoryCode::parse, category)?,
            title: IssueTitle::parse(title).map_err(invalid)?,
            description: text(Field::Description, description)?,
            reporter_id: person(Field::Reporter, reporter)?,
            location,
            evidence,
        })
    }

    /// The lifecycle command, checked (a location and evidence only on a handling or a
    /// resolution).
    pub fn to_command(&self, location: Option<Location>, evidence: EvidenceList) -> anyhow::Result<IssueCommand> {
        if !self.takes_attachments() && (location.is_some() || !evidence.is_empty()) {
            anyhow::bail!(
                "{} carries no location or photos (only report, handle and resolve do)",
                self.name()
            );
        }
        Ok(match self {
            Action::Report { .. } => anyhow::bail!("a report is not a lifecycle command"),
            Action::Handle { summary } => HandleInGrid {
                summary: text(Field::Summary, summary)?,
                evidence,
                location,
            }
            .into(),
            Action::Dispatch { assignee, due } => DispatchIssue {
                assignee_id: person(Field::Assignee, assignee)?,
                due_at: *due,
            }
            .into(),
            Action::Accept { assignee } => AcceptAssignment {
                assignee_id: person(Field::Assignee, assignee)?,
            }
            .into(),
            Action::Convene {
                meeting: meeting_id,
                forum,
                parties,
            } => ConveneDeliberation {
                meeting_id: meeting(meeting_id)?,
                forum: *forum,
                parties: MeetingParties::parse(parties).map_err(invalid)?,
            }
            .into(),
            Action::Conclude {
                meeting: meeting_id,
                participants,
                outcome,
                minutes,
            } => ConcludeDeliberation {
                meeting_id: meeting(meeting_id)?,
                participants: ParticipantCount::new(*participants).map_err(invalid)?,
                outcome: text(Field::Outcome, outcome)?,
                minutes: text(Field::Minutes, minutes)?,
            }
            .into(),
            Action::Escalate { reason, note } => EscalateIssue {
                reason: *reason,
                note: if note.is_empty() {
                    None
                } else {
                    Some(text(Field::EscalationNote, note)?)
                },
            }
            .into(),
            Action::Decide {
                decision,
                lead_department,
                supporting_departments,
                due,
            } => RecordCommitteeDecision {
                decision: text(Field::Decision, decision)?,
                lead_department: DepartmentName::parse(Field::LeadDepartment, lead_department).map_err(invalid)?,
                supporting_departments: SupportingDepartments::parse(supporting_departments).map_err(invalid)?,
                due_at: *due,
            }
            .into(),
            Action::Resolve { summary } => ResolveIssue {
                summary: text(Field::Summary, summary)?,
                evidence,
                location,
            }
            .into(),
            Action::Evaluate {
                satisfaction,
                evaluator,
                comment,
            } => EvaluateResolution {
                satisfaction: *satisfaction,
                evaluator_id: person(Field::Evaluator, evaluator)?,
                comment: text(Field::Comment, comment)?,
            }
            .into(),
            Action::Reopen { reason } => ReopenIssue {
                reason: text(Field::ReopenReason, reason)?,
            }
            .into(),
            Action::Withdraw { reason, duplicate_of } => WithdrawIssue {
                reason: reason
                    .reason(optional_issue_id("duplicate_of", duplicate_of)?)
                    .map_err(invalid)?,
            }
            .into(),
        })
    }

    /// The command for a `SubmitCommands` stream, checked: a report with `issue_id` as the
    /// client-chosen id, or the lifecycle command on `issue_id`.
    pub fn to_submitted(
        &self,
        issue_id: IssueId,
        meta: &CommandMeta,
        location: Option<Location>,
        evidence: EvidenceList,
    ) -> anyhow::Result<SubmittedCommand> {
        Ok(match self {
            Action::Report { .. } => {
                SubmittedCommand::report(meta, &self.to_report(Some(issue_id), location, evidence)?)
            }
            _ => SubmittedCommand::new(issue_id, meta, &self.to_command(location, evidence)?),
        })
    }
}

/// Serde for the [`StableName`] enums: the stable name (`CROSS_JURISDICTION`); the CLI's
/// kebab case is read too.
pub mod stable_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::args::StableName;

    pub fn serialize<T: StableName, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value.stable_name())
    }

    pub fn deserialize<'de, T: StableName, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
        let name = String::deserialize(deserializer)?;
        T::from_cli_name(&name).ok_or_else(|| {
            let known: Vec<&str> = T::ALL.iter().map(|value| value.stable_name()).collect();
            serde::de::Error::custom(format!("{name:?} is not one of {}", known.join(", ")))
        })
    }
}

/// Serde for a [`Timestamp`] as RFC 3339 text (`2026-11-27T09:30:00.000000Z`).
pub mod rfc3339 {
    use gridledger_domain::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&time.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(deserializer)?;
        crate::args::parse_time(&text).map_err(serde::de::Error::custom)
    }
}

fn text(field: Field, value: &str) -> anyhow::Result<FreeText> {
    FreeText::parse(field, value.to_owned()).map_err(invalid)
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
        ClientCommand::Lifecycle(lifecycle) => {
            let (target, action, attach) = lifecycle.into_parts();
            let issue_id = issue_id("issue_id", &target.issue_id)?;
            let meta = target.meta.into_meta()?;
            let location = attach.location.location()?;
            // Everything is checked before anything is uploaded.
            let photos = photos::inspect_all(&attach.photos)?;
            action.to_command(location.clone(), photos.evidence()?)?;
            let evidence = photos.upload(client).await?;
            let command = action.to_command(location, evidence)?;
            let ack = client.send(issue_id, &meta, &command).await?;
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
    let issue_id = optional_issue_id("issue_id", &arguments.issue_id)?;
    let location = arguments.attach.location.location()?;
    let action = arguments.action();
    let photos = photos::inspect_all(&arguments.attach.photos)?;
    action.to_report(issue_id, location.clone(), photos.evidence()?)?;
    let meta = arguments.meta.into_meta()?;
    let evidence = photos.upload(client).await?;
    let report = action.to_report(issue_id, location, evidence)?;
    let ack = client.report(&meta, &report).await?;
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
    /// JSON (the domain's serde form), or `Err` with the error's text. The action also
    /// survives its trip through the queue file's form.
    fn domain_command(arguments: &[&str]) -> Result<String, String> {
        let line = Line::try_parse_from(std::iter::once("gridledger").chain(arguments.iter().copied()))
            .map_err(|error| error.to_string())?;
        let ClientCommand::Lifecycle(lifecycle) = line.command else {
            return Err("not a lifecycle command".to_owned());
        };
        let (target, action, attach) = lifecycle.into_parts();
        assert_eq!(target.issue_id, ISSUE);
        let queued = serde_json::to_string(&action).map_err(|error| error.to_string())?;
        let back: Action = serde_json::from_str(&queued).map_err(|error| error.to_string())?;
        assert_eq!(back, action, "{queued}");
        let location = attach.location.location().map_err(|error| error.to_string())?;
        let command = action
            .to_command(location, EvidenceList::none())
            .map_err(|error| error.to_string())?;
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
        check(
            &["handle", ISSUE, "--summary", "swept"],
            Ok(r#"{"command":"HandleInGrid","summary":"swept"}"#),
        );
    }

    #[test]
    fn handle_and_resolve_take_a_location_checked_here_and_no_other_command_does() {
        check(
            &[
                "handle",
                ISSUE,
                "--lat",
                "32.1987654321",
                "--lon",
                "119.4345678901",
                "--coordinate-system",
                "gcj02",
                "--accuracy-m",
                "7.25",
                "--address",
                "金山路 3 号",
            ],
            Ok(
                r#"{"command":"HandleInGrid","summary":"","location":{"latitude":32.1987654321,"longitude":119.4345678901,"coordinate_system":"GCJ02","accuracy_metres":7.25,"address":"金山路 3 号"}}"#,
            ),
        );
        check(
            &[
                "resolve",
                ISSUE,
                "--summary",
                "done",
                "--lat",
                "-33.86",
                "--lon",
                "151.2",
            ],
            Ok(
                r#"{"command":"ResolveIssue","summary":"done","location":{"latitude":-33.86,"longitude":151.2,"coordinate_system":"WGS84"}}"#,
            ),
        );
        check(
            &["handle", ISSUE, "--lat", "95", "--lon", "119.4"],
            Err("InvalidArgument: invalid location.latitude: must be within -90..=90 degrees, got 95"),
        );
        check(
            &["handle", ISSUE, "--lat", "32.2", "--lon", "119.4", "--accuracy-m", "-1"],
            Err("InvalidArgument: invalid location.accuracy_m"),
        );
        check(&["handle", ISSUE, "--lat", "32.2"], Err("--lon <LON>"));
        check(&["resolve", ISSUE, "--address", "somewhere"], Err("--lat <LAT>"));
        check(
            &[
                "handle",
                ISSUE,
                "--lat",
                "32.2",
                "--lon",
                "119.4",
                "--coordinate-system",
                "utm",
            ],
            Err("wgs84, gcj02, bd09"),
        );
        check(
            &["accept", ISSUE, "--assignee", "a", "--lat", "32.2", "--lon", "119.4"],
            Err("unexpected argument '--lat'"),
        );
        let no_place = Action::Accept {
            assignee: "a".to_owned(),
        };
        let somewhere = Location::new(32.2, 119.4, CoordinateSystem::Wgs84, None, None).ok();
        assert!(
            no_place
                .to_command(somewhere, EvidenceList::none())
                .is_err_and(|error| error.to_string().contains("carries no location or photos"))
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

    #[test]
    fn actions_keep_their_form_in_the_queue_file_and_refuse_what_they_do_not_know() {
        let cases: [(&str, Result<Action, &str>); 6] = [
            (
                r#"{"command":"decide","decision":"fix it","lead_department":"urban-management-bureau","supporting_departments":["police"],"due":"2026-12-01T09:00:00.000000Z"}"#,
                Ok(Action::Decide {
                    decision: "fix it".to_owned(),
                    lead_department: "urban-management-bureau".to_owned(),
                    supporting_departments: vec!["police".to_owned()],
                    due: Timestamp::from_unix_micros(1_796_115_600_000_000),
                }),
            ),
            (
                r#"{"command":"report","grid":"runzhou.s1.c01.g01","category":"environment","title":"Bins","description":"","reporter":"worker-7"}"#,
                Ok(Action::Report {
                    grid: "runzhou.s1.c01.g01".to_owned(),
                    category: "environment".to_owned(),
                    title: "Bins".to_owned(),
                    description: String::new(),
                    reporter: "worker-7".to_owned(),
                }),
            ),
            (
                r#"{"command":"withdraw","reason":"OUT_OF_SCOPE","duplicate_of":""}"#,
                Ok(Action::Withdraw {
                    reason: WithdrawalKind::OutOfScope,
                    duplicate_of: String::new(),
                }),
            ),
            (
                r#"{"command":"handle","summary":"x","colour":"red"}"#,
                Err("unknown field `colour`"),
            ),
            (r#"{"command":"paint","summary":"x"}"#, Err("unknown variant `paint`")),
            (
                r#"{"command":"escalate","reason":"BORED","note":""}"#,
                Err("\"BORED\" is not one of WIDESPREAD, RECURRING"),
            ),
        ];
        for (json, expected) in cases {
            let read = serde_json::from_str::<Action>(json).map_err(|error| error.to_string());
            match (read, expected) {
                (Ok(action), Ok(expected)) => {
                    assert_eq!(action, expected);
                    assert_eq!(serde_json::to_string(&action).ok().as_deref(), Some(json));
                }
                (Err(error), Err(words)) => assert!(error.contains(words), "{json}: {error}"),
                (read, expected) => panic!("{json}: {read:?}, expected {expected:?}"),
            }
        }
    }
}
