//! `gridledger simulate`: a deterministic, seeded workload that walks years of a district's issues through the real gRPC API.
//!
//! The work is split in two. [`plan_simulation`] is pure: from a profile and a seed it
//! computes every issue's complete command list (ids, request ids, business times, meetings)
//! with the profile's figures fixed by construction, whatever the seed — the seed only
//! chooses which issues, grids, categories, dates, paths and orders. [`simulate`] then sends
//! the planned commands to a server, each issue's commands strictly in order, up to
//! `concurrency` issues at a time, retrying transient failures with the same request id.
//!
//! The `runzhou` profile reproduces the reference district's published figures (SPEC §1)
//! over 2018–2022: 4,420 reports of which 70 are withdrawn (4,350 accepted), 56 accepted
//! issues left open (4,294 closed, closure rate 98.71%), 2,750 deliberation meetings taking
//! up one to three issues of one community each, with 40,000 participants in all.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use gridledger_api::proto;
use gridledger_api::proto::issue_service_client::IssueServiceClient;
use gridledger_domain::Registry;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use tonic::transport::Channel;

use crate::client;

/// `gridledger simulate` options.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The district and figures to simulate.
    #[arg(long, value_enum, default_value_t = Profile::Runzhou)]
    pub profile: Profile,
    /// Seed of the workload: the same seed against a fresh server gives the same log figures.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How many issues are walked at the same time (each issue's commands stay in order).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
}

/// A simulated district and the figures its plan is built to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// Runzhou, Zhenjiang (built-in registry), 2018–2022: 4,350 issues accepted, 2,750
    /// deliberation meetings, 40,000 participants, closure rate 98.7%.
    Runzhou,
}

impl Profile {
    /// The profile's name, as given on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Runzhou => "runzhou",
        }
    }

    /// The registry the profile's issues are reported in (the server must serve the same one).
    fn registry(self) -> Registry {
        match self {
            Profile::Runzhou => Registry::builtin_runzhou(),
        }
    }

    /// The exact counts the plan is built to.
    fn targets(self) -> ProfileTargets {
        match self {
            Profile::Runzhou => ProfileTargets {
                handled_in_grid: 700,
                dispatched_and_resolved: 400,
                escalated_and_resolved: 136,
                single_issue_meetings: 2_480,
                two_issue_meetings: 220,
                three_issue_meetings: 50,
                meetings_whose_issue_stays_open: 12,
                open_reported: 20,
                open_dispatched: 24,
                withdrawn_out_of_scope: 34,
                withdrawn_by_reporter: 26,
                withdrawn_as_duplicates: 10,
                withdrawn_after_dispatch: 20,
                reopened_and_resolved_again: 95,
                participants_total: 40_000,
            },
        }
    }
}

/// The exact counts of a profile's plan. The reports are the issues handled in grid,
/// dispatched, escalated, deliberated (1, 2 or 3 per meeting), left open (reported or
/// dispatched) and withdrawn; the open issues are those of the meetings whose issue stays
/// open plus the ones left reported or dispatched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProfileTargets {
    /// Issues handled on the spot in their grid (HandleInGrid).
    handled_in_grid: usize,
    /// Issues dispatched, accepted and resolved.
    dispatched_and_resolved: usize,
    /// Issues escalated to the committee, decided on and resolved (not deliberated).
    escalated_and_resolved: usize,
    /// Meetings taking up one issue.
    single_issue_meetings: usize,
    /// Meetings taking up two issues of one community.
    two_issue_meetings: usize,
    /// Meetings taking up three issues of one community.
    three_issue_meetings: usize,
    /// Single-issue meetings (late in the period) whose issue is left IN_PROGRESS.
    meetings_whose_issue_stays_open: usize,
    /// Accepted issues left REPORTED.
    open_reported: usize,
    /// Accepted issues dispatched and left IN_PROGRESS.
    open_dispatched: usize,
    /// Issues withdrawn as OUT_OF_SCOPE.
    withdrawn_out_of_scope: usize,
    /// Issues withdrawn as REPORTER_WITHDREW.
    withdrawn_by_reporter: usize,
    /// Issues withdrawn as DUPLICATE of an earlier issue of the same community.
    withdrawn_as_duplicates: usize,
    /// How many of the withdrawn issues were dispatched (IN_PROGRESS) before withdrawal.
    withdrawn_after_dispatch: usize,
    /// Closed issues reopened once and resolved again.
    reopened_and_resolved_again: usize,
    /// Participants of all meetings together (each meeting counted once).
    participants_total: u64,
}

impl ProfileTargets {
    fn withdrawn(&self) -> usize {
        self.withdrawn_out_of_scope + self.withdrawn_by_reporter + self.withdrawn_as_duplicates
    }
}

const SECONDS_PER_MINUTE: i64 = 60;
const SECONDS_PER_HOUR: i64 = 3_600;
const SECONDS_PER_DAY: i64 = 86_400;
const MICROS_PER_SECOND: i64 = 1_000_000;
/// 2018-01-01 (days since the Unix epoch): the first day an issue is reported.
const FIRST_REPORT_DAY: i64 = 17_532;
/// 2022-12-31 (days since the Unix epoch): the last day an issue is reported or a meeting held.
const LAST_REPORT_DAY: i64 = 19_357;
/// 2023-01-28T10:00:00Z: no command happens later (four weeks after the last report day);
/// walks that would run later are compressed in time.
const LATEST_COMMAND_SECONDS: i64 = (LAST_REPORT_DAY + 28) * SECONDS_PER_DAY + 10 * SECONDS_PER_HOUR;
/// Working hours, 08:30–18:00 Beijing time (UTC+8), as seconds after midnight UTC.
const WORKING_HOURS_UTC_SECONDS: std::ops::RangeInclusive<i64> = 30 * SECONDS_PER_MINUTE..=10 * SECONDS_PER_HOUR;
/// Meetings are convened at 14:00 and concluded at 16:30 Beijing time.
const MEETING_CONVENED_UTC_SECONDS: i64 = 6 * SECONDS_PER_HOUR;
const MEETING_CONCLUDED_UTC_SECONDS: i64 = 8 * SECONDS_PER_HOUR + 30 * SECONDS_PER_MINUTE;
/// Issues are reported one to three weeks before the meeting that takes them up.
const DAYS_REPORTED_BEFORE_MEETING: std::ops::RangeInclusive<i64> = 1..=21;
/// Meetings whose issue is left open are held in the last months of the period.
const LATE_MEETING_DAYS: std::ops::RangeInclusive<i64> = LAST_REPORT_DAY - 80..=LAST_REPORT_DAY - 3;

/// Share of resolutions planned before the issue's due_at when there is still time.
const ON_TIME_RESOLUTION_SHARE: f64 = 0.9;

/// Attempts per command on UNAVAILABLE and other transport failures (same request id).
const MAX_ATTEMPTS_PER_COMMAND: u32 = 6;
/// A command that gets no answer in this time is retried.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// One issue's complete, pre-planned walk.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuePlan {
    /// Position in the plan (issues are numbered in the order they are reported).
    pub issue_index: usize,
    /// The issue's id, chosen by the client: a UUIDv7 whose time is the report's business
    /// time and whose other bits come from the seed and the issue index.
    pub issue_id: String,
    /// The grid it is reported in.
    pub grid_code: String,
    /// Its category.
    pub category: String,
    /// The path it takes, e.g. `deliberated`, `handled_in_grid`, `withdrawn`.
    pub path: &'static str,
    /// Its commands, in order; the first is the report.
    pub commands: Vec<PlannedCommand>,
}

/// One planned command of an issue.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCommand {
    /// Position in the issue's walk (0 = the report).
    pub step: usize,
    /// The idempotency key: `sim-{seed}-{issue_index}-{step}`.
    pub request_id: String,
    /// The business time (`meta.occurred_at`), microseconds since the Unix epoch.
    pub occurred_at_micros: i64,
    /// The status the lifecycle table gives the issue after this command.
    pub expected_status_after: proto::IssueStatus,
    /// The request as it is sent (its meta carries the request id and business time).
    pub request: PlannedRequest,
}

/// A request of `IssueService`, as it goes on the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum PlannedRequest {
    Report(proto::ReportIssueRequest),
    HandleInGrid(proto::HandleInGridRequest),
    Dispatch(proto::DispatchIssueRequest),
    Accept(proto::AcceptAssignmentRequest),
    Convene(proto::ConveneDeliberationRequest),
    Conclude(proto::ConcludeDeliberationRequest),
    Escalate(proto::EscalateIssueRequest),
    RecordCommitteeDecision(proto::RecordCommitteeDecisionRequest),
    Resolve(proto::ResolveIssueRequest),
    Evaluate(proto::EvaluateResolutionRequest),
    Reopen(proto::ReopenIssueRequest),
    Withdraw(proto::WithdrawIssueRequest),
}

impl PlannedRequest {
    /// The RPC's name.
    pub fn rpc_name(&self) -> &'static str {
        match self {
            PlannedRequest::Report(_) => "ReportIssue",
            PlannedRequest::HandleInGrid(_) => "HandleInGrid",
            PlannedRequest::Dispatch(_) => "DispatchIssue",
            PlannedRequest::Accept(_) => "AcceptAssignment",
            PlannedRequest::Convene(_) => "ConveneDeliberation",
            PlannedRequest::Conclude(_) => "ConcludeDeliberation",
            PlannedRequest::Escalate(_) => "EscalateIssue",
            PlannedRequest::RecordCommitteeDecision(_) => "RecordCommitteeDecision",
            PlannedRequest::Resolve(_) => "ResolveIssue",
            PlannedRequest::Evaluate(_) => "EvaluateResolution",
            PlannedRequest::Reopen(_) => "ReopenIssue",
            PlannedRequest::Withdraw(_) => "WithdrawIssue",
        }
    }
}

/// The figures a plan is built to, computed from the plan itself with the definitions of
/// SPEC §5 (all time, whole district).
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
                match &command.request {
                    PlannedRequest::Conclude(conclude) => {
                        deliberated = true;
                        participants_per_meeting
                            .entry(conclude.meeting_id.as_str())
                            .or_insert(conclude.participants);
                    }
                    PlannedRequest::Reopen(_) => reopened = true,
                    PlannedRequest::Evaluate(_) => figures.evaluations += 1,
                    _ => {}
                }
            }
            figures.deliberated_issues += u64::from(deliberated);
            figures.reopened += u64::from(reopened);
            match plan.commands.last().map(|command| command.expected_status_after) {
                Some(proto::IssueStatus::Withdrawn) => figures.withdrawn += 1,
                Some(proto::IssueStatus::Resolved) => figures.closed += 1,
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

    fn print_for_people(&self) {
        let planned = &self.planned;
        println!(
            "simulated profile {}, seed {}: {} issues reported, {} commands sent in {:.1} s ({:.0} commands/s, {} concurrent walks, {} retries, {} duplicate acks)",
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
        println!(
            "planned figures: accepted {}, closed {}, closure rate {:.1}% ({:.3}%), deliberation meetings {}, participants {}",
            planned.accepted,
            planned.closed,
            planned.closure_rate * 100.0,
            planned.closure_rate * 100.0,
            planned.deliberation_meetings,
            planned.participants
        );
        let paths: Vec<String> = planned
            .issues_per_path
            .iter()
            .map(|(path, count)| format!("{path} {count}"))
            .collect();
        println!(
            "  {} reported, {} withdrawn, {} open; {} issues deliberated; {} reopened; {} evaluations; paths: {}",
            planned.reports,
            planned.withdrawn,
            planned.open,
            planned.deliberated_issues,
            planned.reopened,
            planned.evaluations,
            paths.join(", ")
        );
    }
}

/// `gridledger simulate`: plans, sends and prints the summary (one JSON object with `--json`).
pub fn run(server: &str, json: bool, arguments: SimulateArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let summary = runtime.block_on(simulate(
        server,
        arguments.profile,
        arguments.seed,
        arguments.concurrency,
        true,
    ))?;
    if json {
        println!("{}", summary.to_json());
    } else {
        summary.print_for_people();
    }
    Ok(())
}

/// Plans the profile's workload for `seed` and sends it to `server`, up to `concurrency`
/// issues at a time; `progress` shows a progress bar on a terminal (stderr).
pub async fn simulate(
    server: &str,
    profile: Profile,
    seed: u64,
    concurrency: usize,
    progress: bool,
) -> anyhow::Result<SimulationSummary> {
    anyhow::ensure!(concurrency >= 1, "--concurrency must be at least 1");
    let plans = plan_simulation(profile, seed);
    let planned = PlannedFigures::of(&plans);
    let channel = client::connect(server).await?;
    let progress_bar = if progress {
        let bar = ProgressBar::new(planned.commands);
        bar.set_style(
            ProgressStyle::with_template("simulate {bar:40} {pos}/{len} commands {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let plans = Arc::new(plans);
    let next_issue = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut walkers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(plans.len().max(1)) {
        walkers.spawn(walk_issues(
            IssueServiceClient::new(channel.clone()),
            Arc::clone(&plans),
            Arc::clone(&next_issue),
            progress_bar.clone(),
        ));
    }
    let mut tally = WalkTally::default();
    while let Some(joined) = walkers.join_next().await {
        let outcome = joined.context("a simulation task failed").and_then(|walked| walked);
        match outcome {
            Ok(walked) => tally.add(&walked),
            Err(error) => {
                walkers.abort_all();
                progress_bar.abandon();
                return Err(error);
            }
        }
    }
    let elapsed_seconds = started.elapsed().as_secs_f64();
    progress_bar.finish_and_clear();
    Ok(SimulationSummary {
        profile,
        seed,
        issues_reported: planned.reports,
        commands_sent: tally.commands,
        duplicate_acks: tally.duplicate_acks,
        retries: tally.retries,
        concurrency,
        elapsed_seconds,
        commands_per_second: if elapsed_seconds > 0.0 {
            tally.commands as f64 / elapsed_seconds
        } else {
            0.0
        },
        planned,
    })
}

// ---------------------------------------------------------------------------------------
// Execution
// ---------------------------------------------------------------------------------------

/// What one walker task did.
#[derive(Debug, Default, Clone, Copy)]
struct WalkTally {
    commands: u64,
    duplicate_acks: u64,
    retries: u64,
}

impl WalkTally {
    fn add(&mut self, other: &WalkTally) {
        self.commands += other.commands;
        self.duplicate_acks += other.duplicate_acks;
        self.retries += other.retries;
    }
}

/// Takes the next unwalked issue until none is left and sends its commands in order.
async fn walk_issues(
    mut issue_client: IssueServiceClient<Channel>,
    plans: Arc<Vec<IssuePlan>>,
    next_issue: Arc<AtomicUsize>,
    progress_bar: ProgressBar,
) -> anyhow::Result<WalkTally> {
    let mut tally = WalkTally::default();
    while let Some(plan) = plans.get(next_issue.fetch_add(1, Ordering::Relaxed)) {
        for command in &plan.commands {
            let describe = || {
                format!(
                    "issue #{} {} ({}, grid {}), step {} {} at {} (request id {})",
                    plan.issue_index,
                    plan.issue_id,
                    plan.category,
                    plan.grid_code,
                    command.step,
                    command.request.rpc_name(),
                    gridledger_domain::Timestamp::from_unix_micros(command.occurred_at_micros),
                    command.request_id
                )
            };
            let (acknowledgement, retries) = send_with_retries(&mut issue_client, &command.request)
                .await
                .map_err(|status| anyhow::anyhow!("{}: {:?}: {}", describe(), status.code(), status.message()))?;
            tally.retries += u64::from(retries);
            tally.commands += 1;
            tally.duplicate_acks += u64::from(acknowledgement.duplicate);
            if acknowledgement.status != command.expected_status_after as i32 {
                let reported = proto::IssueStatus::try_from(acknowledgement.status)
                    .map_or("UNKNOWN", |status| status.as_str_name());
                anyhow::bail!(
                    "{}: the server reports status {reported}, the plan expects {} (was the server's log fresh, with the profile's registry?)",
                    describe(),
                    command.expected_status_after.as_str_name()
                );
            }
            progress_bar.inc(1);
        }
    }
    Ok(tally)
}

/// Whether a failed attempt may succeed if sent again with the same request id.
fn is_transient(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
    )
}

/// Sends one command, retrying transient failures with the same request (and request id);
/// returns the acknowledgement and how many attempts were repeated.
async fn send_with_retries(
    issue_client: &mut IssueServiceClient<Channel>,
    request: &PlannedRequest,
) -> Result<(proto::CommandAck, u32), tonic::Status> {
    let mut attempt: u32 = 1;
    loop {
        match send_once(issue_client, request).await {
            Ok(acknowledgement) => return Ok((acknowledgement, attempt - 1)),
            Err(status) if is_transient(&status) && attempt < MAX_ATTEMPTS_PER_COMMAND => {
                tracing::warn!(code = ?status.code(), message = status.message(), attempt, "retrying a command");
                tokio::time::sleep(Duration::from_millis(100u64 << attempt.min(5))).await;
                attempt += 1;
            }
            Err(status) => return Err(status),
        }
    }
}

fn with_timeout<Message>(message: Message) -> tonic::Request<Message> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(COMMAND_TIMEOUT);
    request
}

async fn send_once(
    issue_client: &mut IssueServiceClient<Channel>,
    request: &PlannedRequest,
) -> Result<proto::CommandAck, tonic::Status> {
    let response = match request {
        PlannedRequest::Report(message) => issue_client.report_issue(with_timeout(message.clone())).await,
        PlannedRequest::HandleInGrid(message) => issue_client.handle_in_grid(with_timeout(message.clone())).await,
        PlannedRequest::Dispatch(message) => issue_client.dispatch_issue(with_timeout(message.clone())).await,
        PlannedRequest::Accept(message) => issue_client.accept_assignment(with_timeout(message.clone())).await,
        PlannedRequest::Convene(message) => issue_client.convene_deliberation(with_timeout(message.clone())).await,
        PlannedRequest::Conclude(message) => issue_client.conclude_deliberation(with_timeout(message.clone())).await,
        PlannedRequest::Escalate(message) => issue_client.escalate_issue(with_timeout(message.clone())).await,
        PlannedRequest::RecordCommitteeDecision(message) => {
            issue_client
                .record_committee_decision(with_timeout(message.clone()))
                .await
        }
        PlannedRequest::Resolve(message) => issue_client.resolve_issue(with_timeout(message.clone())).await,
        PlannedRequest::Evaluate(message) => issue_client.evaluate_resolution(with_timeout(message.clone())).await,
        PlannedRequest::Reopen(message) => issue_client.reopen_issue(with_timeout(message.clone())).await,
        PlannedRequest::Withdraw(message) => issue_client.withdraw_issue(with_timeout(message.clone())).await,
    };
    response.map(tonic::Response::into_inner)
}

// ---------------------------------------------------------------------------------------
// Planning (pure: profile + seed -> plans)
// ---------------------------------------------------------------------------------------

/// How responders, titles and frequencies differ by category.
#[derive(Debug)]
struct CategoryProfile {
    code: &'static str,
    /// Relative frequency among reports.
    weight: u32,
    /// Who a dispatch of this category goes to.
    responder_unit: &'static str,
    titles: [&'static str; 4],
}

static CATEGORY_PROFILES: [CategoryProfile; 9] = [
    CategoryProfile {
        code: "environment",
        weight: 18,
        responder_unit: "sanitation-team",
        titles: [
            "Overflowing refuse bins",
            "Construction waste dumped on a verge",
            "Blocked drain and standing water",
            "Cooking fumes from a street restaurant",
        ],
    },
    CategoryProfile {
        code: "property-management",
        weight: 16,
        responder_unit: "property-company",
        titles: [
            "Lift out of service",
            "Leaking roof over a top-floor flat",
            "Dispute over parking spaces",
            "Broken entrance door lock",
        ],
    },
    CategoryProfile {
        code: "dispute",
        weight: 14,
        responder_unit: "mediation-committee",
        titles: [
            "Water leaking into the flat below",
            "Noise between neighbours at night",
            "Shared corridor occupied by belongings",
            "Vegetable plot dug in the greenbelt",
        ],
    },
    CategoryProfile {
        code: "municipal-facilities",
        weight: 12,
        responder_unit: "municipal-maintenance",
        titles: [
            "Street light out",
            "Broken paving slabs on the pavement",
            "Manhole cover missing",
            "Public toilet out of order",
        ],
    },
    CategoryProfile {
        code: "public-security",
        weight: 10,
        responder_unit: "police-liaison",
        titles: [
            "Gate access control broken",
            "Street vendors blocking the road",
            "Group renting in an overcrowded flat",
            "Bicycle thefts near the market",
        ],
    },
    CategoryProfile {
        code: "civil-affairs",
        weight: 8,
        responder_unit: "civil-affairs-office",
        titles: [
            "Help with a subsistence allowance application",
            "Disability subsidy enquiry",
            "Hardship relief for a family after illness",
            "Veteran household needs assistance",
        ],
    },
    CategoryProfile {
        code: "elderly-and-children",
        weight: 8,
        responder_unit: "elderly-care-service",
        titles: [
            "Elderly resident living alone needs regular visits",
            "Meal delivery for an elderly couple",
            "Playground equipment unsafe",
            "After-school care requested",
        ],
    },
    CategoryProfile {
        code: "work-safety",
        weight: 6,
        responder_unit: "work-safety-inspector",
        titles: [
            "Electric bikes charged in a stairwell",
            "Fire escape blocked in a shop",
            "Gas cylinders stored in a restaurant kitchen",
            "Unsafe scaffolding at a renovation",
        ],
    },
    CategoryProfile {
        code: "other",
        weight: 8,
        responder_unit: "community-office",
        titles: [
            "Stray dogs in the neighbourhood",
            "More benches requested along the path",
            "Notice board damaged",
            "Pigeon droppings on a walkway",
        ],
    },
];

/// Used for a registry category the table above does not know.
static FALLBACK_CATEGORY_PROFILE: CategoryProfile = CategoryProfile {
    code: "",
    weight: 4,
    responder_unit: "community-office",
    titles: [
        "Residents' request",
        "Residents' complaint",
        "Problem reported on patrol",
        "Matter raised at the door",
    ],
};

const COMMITTEE_DEPARTMENTS: [&str; 8] = [
    "housing-and-construction-bureau",
    "urban-management-bureau",
    "civil-affairs-bureau",
    "public-security-bureau",
    "emergency-management-bureau",
    "ecology-and-environment-bureau",
    "market-regulation-bureau",
    "transport-bureau",
];

const MEETING_PARTIES: [&str; 6] = [
    "resident representatives",
    "community party committee",
    "neighbourhood committee",
    "property company",
    "owners' committee",
    "grid workers",
];

/// The registry as the planner uses it: codes by index.
#[derive(Debug)]
struct PlanningRegistry {
    grid_codes: Vec<String>,
    community_of_grid: Vec<usize>,
    community_codes: Vec<String>,
    grids_of_community: Vec<Vec<usize>>,
    category_codes: Vec<String>,
    category_profiles: Vec<&'static CategoryProfile>,
    /// Each category's default handling deadline: the due_at a report gets.
    category_deadline_seconds: Vec<i64>,
    total_category_weight: u32,
}

impl PlanningRegistry {
    fn new(registry: &Registry) -> Self {
        let community_codes: Vec<String> = registry
            .communities()
            .iter()
            .map(|community| community.code.as_str().to_owned())
            .collect();
        let community_index_of: BTreeMap<&str, usize> = community_codes
            .iter()
            .enumerate()
            .map(|(index, code)| (code.as_str(), index))
            .collect();
        let mut grid_codes = Vec::new();
        let mut community_of_grid = Vec::new();
        let mut grids_of_community = vec![Vec::new(); community_codes.len()];
        for grid in registry.grids() {
            let community_code = grid.code.community();
            // A validated registry registers every grid's community.
            let Some(&community_index) = community_index_of.get(community_code.as_str()) else {
                continue;
            };
            grids_of_community[community_index].push(grid_codes.len());
            community_of_grid.push(community_index);
            grid_codes.push(grid.code.as_str().to_owned());
        }
        let category_codes: Vec<String> = registry
            .categories()
            .iter()
            .map(|category| category.code().as_str().to_owned())
            .collect();
        let category_profiles: Vec<&'static CategoryProfile> = category_codes
            .iter()
            .map(|code| {
                CATEGORY_PROFILES
                    .iter()
                    .find(|profile| profile.code == code)
                    .unwrap_or(&FALLBACK_CATEGORY_PROFILE)
            })
            .collect();
        let category_deadline_seconds = registry
            .categories()
            .iter()
            .map(|category| i64::from(category.default_handling_deadline_hours()) * SECONDS_PER_HOUR)
            .collect();
        let total_category_weight = category_profiles.iter().map(|profile| profile.weight).sum();
        Self {
            grid_codes,
            community_of_grid,
            community_codes,
            grids_of_community,
            category_codes,
            category_profiles,
            category_deadline_seconds,
            total_category_weight,
        }
    }

    fn random_grid(&self, random: &mut StdRng) -> usize {
        random.random_range(0..self.grid_codes.len())
    }

    fn random_grid_of_community(&self, random: &mut StdRng, community_index: usize) -> usize {
        self.grids_of_community[community_index]
            .choose(random)
            .copied()
            .unwrap_or_else(|| self.random_grid(random))
    }

    fn random_category(&self, random: &mut StdRng) -> usize {
        let mut remaining = random.random_range(0..self.total_category_weight.max(1));
        for (index, profile) in self.category_profiles.iter().enumerate() {
            if remaining < profile.weight {
                return index;
            }
            remaining -= profile.weight;
        }
        0
    }
}

/// The path an issue takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IssuePath {
    HandledInGrid,
    DispatchedAndResolved,
    EscalatedAndResolved,
    Deliberated {
        meeting_index: usize,
    },
    OpenReported,
    OpenDispatched,
    Withdrawn {
        reason: WithdrawalKind,
        after_dispatch: bool,
    },
}

impl IssuePath {
    fn label(self) -> &'static str {
        match self {
            IssuePath::HandledInGrid => "handled_in_grid",
            IssuePath::DispatchedAndResolved => "dispatched",
            IssuePath::EscalatedAndResolved => "escalated",
            IssuePath::Deliberated { .. } => "deliberated",
            IssuePath::OpenReported => "open_reported",
            IssuePath::OpenDispatched => "open_dispatched",
            IssuePath::Withdrawn { .. } => "withdrawn",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WithdrawalKind {
    OutOfScope,
    ReporterWithdrew,
    Duplicate,
}

/// A meeting: where, when, who, and how many issues it takes up.
#[derive(Debug, Clone)]
struct PlannedMeeting {
    meeting_id: String,
    community_index: usize,
    day: i64,
    issue_count: usize,
    participants: u32,
    forum: proto::Forum,
    parties: Vec<String>,
    /// Its (single) issue is left IN_PROGRESS after the meeting.
    issue_stays_open: bool,
}

/// One step of a walk before it is put on the wire.
#[derive(Debug, Clone)]
enum Step {
    Report {
        title: String,
        description: String,
        reporter_id: String,
    },
    HandleInGrid {
        summary: String,
    },
    Dispatch {
        assignee_id: String,
        due_after_seconds: i64,
    },
    Accept {
        assignee_id: String,
    },
    Convene {
        meeting_index: usize,
    },
    Conclude {
        meeting_index: usize,
    },
    Escalate {
        reason: proto::EscalationReason,
        note: String,
    },
    RecordCommitteeDecision {
        decision: String,
        lead_department: String,
        supporting_departments: Vec<String>,
        due_after_seconds: i64,
    },
    Resolve {
        summary: String,
    },
    Evaluate {
        satisfaction: proto::Satisfaction,
        evaluator_id: String,
        comment: String,
    },
    Reopen {
        reason: String,
    },
    Withdraw {
        reason: WithdrawalKind,
    },
}

impl Step {
    /// The status the lifecycle table (SPEC §3.2) gives an issue after this step.
    fn status_after(&self) -> proto::IssueStatus {
        match self {
            Step::Report { .. } => proto::IssueStatus::Reported,
            Step::HandleInGrid { .. } | Step::Resolve { .. } | Step::Evaluate { .. } => proto::IssueStatus::Resolved,
            Step::Dispatch { .. } | Step::Accept { .. } | Step::Conclude { .. } => proto::IssueStatus::InProgress,
            Step::Convene { .. } => proto::IssueStatus::InDeliberation,
            Step::Escalate { .. } | Step::RecordCommitteeDecision { .. } => proto::IssueStatus::Escalated,
            Step::Reopen { .. } => proto::IssueStatus::Reopened,
            Step::Withdraw { .. } => proto::IssueStatus::Withdrawn,
        }
    }
}

/// An issue being planned: where, what, and its timed steps (unix seconds).
#[derive(Debug, Clone)]
struct IssueDraft {
    path: IssuePath,
    grid_index: usize,
    category_index: usize,
    timed_steps: Vec<(i64, Step)>,
}

impl IssueDraft {
    fn reported_at_seconds(&self) -> i64 {
        self.timed_steps.first().map_or(0, |(time, _)| *time)
    }
}

/// A walk's steps after a start, as gaps (seconds) before each step.
#[derive(Debug)]
struct WalkGaps {
    steps: Vec<(i64, Step)>,
    /// Seconds from the walk's start to its last step so far.
    elapsed_seconds: i64,
    /// Seconds from the walk's start to the issue's current due_at (negative if already past).
    due_offset_seconds: i64,
}

impl WalkGaps {
    /// A walk whose issue is due `due_offset_seconds` after the walk's start.
    fn starting_with_due_in(due_offset_seconds: i64) -> Self {
        Self {
            steps: Vec::new(),
            elapsed_seconds: 0,
            due_offset_seconds,
        }
    }

    fn then(&mut self, gap_seconds: i64, step: Step) {
        self.elapsed_seconds += gap_seconds;
        if let Step::Dispatch { due_after_seconds, .. } | Step::RecordCommitteeDecision { due_after_seconds, .. } =
            &step
        {
            self.due_offset_seconds = self.elapsed_seconds + due_after_seconds;
        }
        self.steps.push((gap_seconds, step));
    }

    /// Seconds from the last step so far to the issue's current due_at.
    fn seconds_until_due(&self) -> i64 {
        self.due_offset_seconds - self.elapsed_seconds
    }

    /// Places the steps after `start_seconds`, compressing the gaps proportionally when
    /// the walk would end after [`LATEST_COMMAND_SECONDS`]. Every gap stays at least a minute.
    fn place_after(self, start_seconds: i64) -> Vec<(i64, Step)> {
        let step_count = self.steps.len() as i64;
        let total_gap: i64 = self.steps.iter().map(|(gap, _)| *gap).sum();
        let available = LATEST_COMMAND_SECONDS - start_seconds - SECONDS_PER_MINUTE * step_count;
        let mut time = start_seconds;
        self.steps
            .into_iter()
            .map(|(gap, step)| {
                let placed_gap = if total_gap > available && total_gap > 0 {
                    i64::try_from(i128::from(gap) * i128::from(available.max(0)) / i128::from(total_gap)).unwrap_or(0)
                } else {
                    gap
                };
                time += placed_gap.max(SECONDS_PER_MINUTE);
                (time, step)
            })
            .collect()
    }
}

fn hours_between(random: &mut StdRng, minimum_hours: i64, maximum_hours: i64) -> i64 {
    random.random_range(minimum_hours * SECONDS_PER_HOUR..=maximum_hours * SECONDS_PER_HOUR)
}

fn days_between(random: &mut StdRng, minimum_days: i64, maximum_days: i64) -> i64 {
    hours_between(random, minimum_days * 24, maximum_days * 24)
}

/// A time during working hours on `day`.
fn working_time_on(random: &mut StdRng, day: i64) -> i64 {
    day * SECONDS_PER_DAY + random.random_range(WORKING_HOURS_UTC_SECONDS)
}

/// The client-chosen issue id: a UUIDv7 carrying the report's business time (millisecond),
/// then 64 bits mixed from the seed and the issue index in 16 bits, so ids of one plan
/// differ by construction and ids of different seeds differ but for a 2^-58 chance.
fn issue_id_for(seed: u64, issue_index: usize, reported_at_seconds: i64) -> String {
    let mixed_seed = splitmix64(seed ^ 0x6772_6964_6c65_6467); // "gridledg"
    let mut counter_random_bytes = [0u8; 10];
    counter_random_bytes[..8].copy_from_slice(&mixed_seed.to_be_bytes());
    counter_random_bytes[8..].copy_from_slice(&(issue_index as u16).to_be_bytes());
    let millis = u64::try_from(reported_at_seconds * 1_000).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &counter_random_bytes)
        .into_uuid()
        .to_string()
}

/// SplitMix64's finaliser: a bijection of u64 that spreads the seed's bits.
fn splitmix64(value: u64) -> u64 {
    let mut mixed = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    mixed ^ (mixed >> 31)
}

/// Splits `total` over meetings by `issue_count`, each at least 3 and at most 60: a seeded
/// draw that grows with the number of issues, then adjusted one by one to hit the total.
fn draw_participants(random: &mut StdRng, issue_counts: &[usize], total: u64) -> Vec<u32> {
    const FEWEST: u32 = 3;
    const MOST: u32 = 60;
    let mut participants: Vec<u32> = issue_counts
        .iter()
        .map(|issue_count| {
            let extra = 4 * (*issue_count as u32).saturating_sub(1);
            random.random_range(6 + extra..=22 + extra)
        })
        .collect();
    let mut order: Vec<usize> = (0..participants.len()).collect();
    order.shuffle(random);
    let mut sum: u64 = participants.iter().map(|count| u64::from(*count)).sum();
    while sum != total {
        let mut changed = false;
        for &meeting in &order {
            if sum < total && participants[meeting] < MOST {
                participants[meeting] += 1;
                sum += 1;
                changed = true;
            } else if sum > total && participants[meeting] > FEWEST {
                participants[meeting] -= 1;
                sum -= 1;
                changed = true;
            }
            if sum == total {
                break;
            }
        }
        if !changed {
            break;
        }
    }
    participants
}

/// The planner's state: the registry, the seed's random stream, the meetings.
#[derive(Debug)]
struct Planner {
    registry: PlanningRegistry,
    random: StdRng,
    meetings: Vec<PlannedMeeting>,
}

/// Plans the whole workload of `profile` for `seed`: every issue's commands, in report
/// order. Pure and deterministic; the figures do not depend on the seed.
pub fn plan_simulation(profile: Profile, seed: u64) -> Vec<IssuePlan> {
    let targets = profile.targets();
    let mut planner = Planner {
        registry: PlanningRegistry::new(&profile.registry()),
        random: StdRng::seed_from_u64(seed),
        meetings: Vec::new(),
    };
    planner.plan_meetings(seed, &targets);
    let paths = planner.plan_paths(&targets);
    let reopened_issues = planner.choose_reopened_issues(&paths, targets.reopened_and_resolved_again);
    let mut drafts: Vec<IssueDraft> = paths
        .iter()
        .enumerate()
        .map(|(draft_index, path)| planner.draft_issue(*path, reopened_issues.contains(&draft_index)))
        .collect();
    // Issues are numbered in report order (ties keep the drafting order).
    drafts.sort_by_key(IssueDraft::reported_at_seconds);
    planner.wire_plans(seed, drafts)
}

impl Planner {
    /// The meetings: sizes, dates, communities, forums and participants (summing exactly
    /// to the profile's total), numbered in date order.
    fn plan_meetings(&mut self, seed: u64, targets: &ProfileTargets) {
        let mut issue_counts: Vec<usize> = std::iter::repeat_n(1, targets.single_issue_meetings)
            .chain(std::iter::repeat_n(2, targets.two_issue_meetings))
            .chain(std::iter::repeat_n(3, targets.three_issue_meetings))
            .collect();
        issue_counts.shuffle(&mut self.random);
        let participants = draw_participants(&mut self.random, &issue_counts, targets.participants_total);
        let mut open_meetings_left = targets.meetings_whose_issue_stays_open;
        let mut meetings: Vec<PlannedMeeting> = Vec::with_capacity(issue_counts.len());
        for (issue_count, participants) in issue_counts.into_iter().zip(participants) {
            let issue_stays_open = issue_count == 1 && open_meetings_left > 0;
            if issue_stays_open {
                open_meetings_left -= 1;
            }
            let day = if issue_stays_open {
                self.random.random_range(LATE_MEETING_DAYS)
            } else {
                self.random
                    .random_range(FIRST_REPORT_DAY + DAYS_REPORTED_BEFORE_MEETING.end()..=LAST_REPORT_DAY)
            };
            let community_index = self.registry.community_of_grid[self.registry.random_grid(&mut self.random)];
            let forum = if self.random.random_bool(0.6) {
                proto::Forum::ResidentRepresentativeMeeting
            } else {
                proto::Forum::CommunityAffairsConsultation
            };
            let party_count = self.random.random_range(2..=4);
            let parties: Vec<String> = MEETING_PARTIES
                .choose_multiple(&mut self.random, party_count)
                .map(|party| (*party).to_owned())
                .collect();
            meetings.push(PlannedMeeting {
                meeting_id: String::new(),
                community_index,
                day,
                issue_count,
                participants,
                forum,
                parties,
                issue_stays_open,
            });
        }
        meetings.sort_by_key(|meeting| meeting.day);
        for (meeting_index, meeting) in meetings.iter_mut().enumerate() {
            meeting.meeting_id = format!("sim-{seed}-meeting-{meeting_index:04}");
        }
        self.meetings = meetings;
    }

    /// Every issue's path, exactly as many of each as the profile says, in a seeded order.
    fn plan_paths(&mut self, targets: &ProfileTargets) -> Vec<IssuePath> {
        let mut paths = Vec::new();
        for (meeting_index, meeting) in self.meetings.iter().enumerate() {
            paths.extend(std::iter::repeat_n(
                IssuePath::Deliberated { meeting_index },
                meeting.issue_count,
            ));
        }
        paths.extend(std::iter::repeat_n(IssuePath::HandledInGrid, targets.handled_in_grid));
        paths.extend(std::iter::repeat_n(
            IssuePath::DispatchedAndResolved,
            targets.dispatched_and_resolved,
        ));
        paths.extend(std::iter::repeat_n(
            IssuePath::EscalatedAndResolved,
            targets.escalated_and_resolved,
        ));
        paths.extend(std::iter::repeat_n(IssuePath::OpenReported, targets.open_reported));
        paths.extend(std::iter::repeat_n(IssuePath::OpenDispatched, targets.open_dispatched));
        let mut withdrawal_reasons: Vec<WithdrawalKind> =
            std::iter::repeat_n(WithdrawalKind::OutOfScope, targets.withdrawn_out_of_scope)
                .chain(std::iter::repeat_n(
                    WithdrawalKind::ReporterWithdrew,
                    targets.withdrawn_by_reporter,
                ))
                .chain(std::iter::repeat_n(
                    WithdrawalKind::Duplicate,
                    targets.withdrawn_as_duplicates,
                ))
                .collect();
        withdrawal_reasons.shuffle(&mut self.random);
        let mut dispatched_first: Vec<bool> = (0..targets.withdrawn())
            .map(|index| index < targets.withdrawn_after_dispatch)
            .collect();
        dispatched_first.shuffle(&mut self.random);
        paths.extend(
            withdrawal_reasons
                .into_iter()
                .zip(dispatched_first)
                .map(|(reason, after_dispatch)| IssuePath::Withdrawn { reason, after_dispatch }),
        );
        paths.shuffle(&mut self.random);
        paths
    }

    /// Which closed issues are reopened and resolved again: exactly `count` of them.
    fn choose_reopened_issues(&mut self, paths: &[IssuePath], count: usize) -> BTreeSet<usize> {
        let mut closed: Vec<usize> = paths
            .iter()
            .enumerate()
            .filter(|(_, path)| match path {
                IssuePath::HandledInGrid | IssuePath::DispatchedAndResolved | IssuePath::EscalatedAndResolved => true,
                IssuePath::Deliberated { meeting_index } => !self.meetings[*meeting_index].issue_stays_open,
                IssuePath::OpenReported | IssuePath::OpenDispatched | IssuePath::Withdrawn { .. } => false,
            })
            .map(|(index, _)| index)
            .collect();
        closed.shuffle(&mut self.random);
        closed.into_iter().take(count).collect()
    }

    /// Draws one issue: grid, category, report time and every step with its time.
    fn draft_issue(&mut self, path: IssuePath, reopened: bool) -> IssueDraft {
        let (grid_index, category_index) = match path {
            IssuePath::Deliberated { meeting_index } => {
                let community_index = self.meetings[meeting_index].community_index;
                (
                    self.registry
                        .random_grid_of_community(&mut self.random, community_index),
                    self.registry.random_category(&mut self.random),
                )
            }
            _ => (
                self.registry.random_grid(&mut self.random),
                self.registry.random_category(&mut self.random),
            ),
        };
        let report = self.report_step(grid_index, category_index);
        let timed_steps = match path {
            IssuePath::Deliberated { meeting_index } => {
                self.deliberated_walk(meeting_index, report, grid_index, category_index, reopened)
            }
            _ => {
                let report_day = match path {
                    IssuePath::OpenReported => self.random.random_range(LAST_REPORT_DAY - 45..=LAST_REPORT_DAY),
                    IssuePath::OpenDispatched => self.random.random_range(LAST_REPORT_DAY - 90..=LAST_REPORT_DAY - 10),
                    _ => self.random.random_range(FIRST_REPORT_DAY..=LAST_REPORT_DAY),
                };
                let reported_at = working_time_on(&mut self.random, report_day);
                let gaps = self.walk_after_report(path, grid_index, category_index, reopened);
                let mut timed_steps = vec![(reported_at, report)];
                timed_steps.extend(gaps.place_after(reported_at));
                timed_steps
            }
        };
        IssueDraft {
            path,
            grid_index,
            category_index,
            timed_steps,
        }
    }

    fn report_step(&mut self, grid_index: usize, category_index: usize) -> Step {
        let grid_code = &self.registry.grid_codes[grid_index];
        let category = self.registry.category_profiles[category_index];
        let title = category
            .titles
            .choose(&mut self.random)
            .copied()
            .unwrap_or("Residents' request");
        let reporter_number = self.random.random_range(1..=3);
        Step::Report {
            title: format!("{title} ({grid_code})"),
            description: format!("Reported on patrol in grid {grid_code}: {}.", title.to_lowercase()),
            reporter_id: format!("grid-worker-{grid_code}-{reporter_number}"),
        }
    }

    fn assignee_for(&mut self, grid_index: usize, category_index: usize) -> String {
        let community_code = &self.registry.community_codes[self.registry.community_of_grid[grid_index]];
        let unit = self.registry.category_profiles[category_index].responder_unit;
        let number = self.random.random_range(1..=2);
        format!("{unit}-{number}@{community_code}")
    }

    /// The gap before a resolution, between the bounds: usually before the issue's current
    /// due_at when that is still possible, otherwise anywhere in the bounds (late).
    fn gap_to_resolution(&mut self, walk: &WalkGaps, minimum_seconds: i64, maximum_seconds: i64) -> i64 {
        let latest_on_time = walk.seconds_until_due() - SECONDS_PER_HOUR;
        if latest_on_time > minimum_seconds && self.random.random_bool(ON_TIME_RESOLUTION_SHARE) {
            self.random
                .random_range(minimum_seconds..=maximum_seconds.min(latest_on_time))
        } else {
            self.random.random_range(minimum_seconds..=maximum_seconds)
        }
    }

    /// Dispatch (due in three to ten days) and, most of the time, acceptance.
    fn push_dispatch(
        &mut self,
        walk: &mut WalkGaps,
        grid_index: usize,
        category_index: usize,
        accept_probability: f64,
    ) {
        let assignee_id = self.assignee_for(grid_index, category_index);
        walk.then(
            hours_between(&mut self.random, 2, 72),
            Step::Dispatch {
                assignee_id: assignee_id.clone(),
                due_after_seconds: days_between(&mut self.random, 3, 10),
            },
        );
        if self.random.random_bool(accept_probability) {
            walk.then(hours_between(&mut self.random, 1, 24), Step::Accept { assignee_id });
        }
    }

    /// Escalation, the committee's decision, and resolution by the lead department.
    fn push_escalation_and_resolution(&mut self, walk: &mut WalkGaps) {
        let reason = *[
            proto::EscalationReason::Widespread,
            proto::EscalationReason::Recurring,
            proto::EscalationReason::CrossJurisdiction,
            proto::EscalationReason::BeyondCommunityCapacity,
        ]
        .choose(&mut self.random)
        .unwrap_or(&proto::EscalationReason::BeyondCommunityCapacity);
        walk.then(
            days_between(&mut self.random, 1, 7),
            Step::Escalate {
                reason,
                note: "Needs departments beyond the community; referred to the district guidance committee.".to_owned(),
            },
        );
        let mut departments: Vec<&str> = COMMITTEE_DEPARTMENTS.to_vec();
        departments.shuffle(&mut self.random);
        let supporting_count = self.random.random_range(0..=2);
        let lead_department = departments[0].to_owned();
        walk.then(
            days_between(&mut self.random, 2, 14),
            Step::RecordCommitteeDecision {
                decision: format!("The {lead_department} leads the repair with the departments named."),
                supporting_departments: departments[1..=supporting_count]
                    .iter()
                    .map(|department| (*department).to_owned())
                    .collect(),
                lead_department,
                due_after_seconds: days_between(&mut self.random, 10, 30),
            },
        );
        let gap = self.gap_to_resolution(walk, 3 * SECONDS_PER_DAY, 20 * SECONDS_PER_DAY);
        walk.then(
            gap,
            Step::Resolve {
                summary: "Resolved by the lead department as the committee decided.".to_owned(),
            },
        );
    }

    fn evaluation_step(&mut self, grid_index: usize, before_reopen: bool) -> Step {
        let satisfaction = if before_reopen {
            if self.random.random_bool(0.8) {
                proto::Satisfaction::Unsatisfied
            } else {
                proto::Satisfaction::BasicallySatisfied
            }
        } else {
            let draw: f64 = self.random.random();
            if draw < 0.72 {
                proto::Satisfaction::Satisfied
            } else if draw < 0.93 {
                proto::Satisfaction::BasicallySatisfied
            } else {
                proto::Satisfaction::Unsatisfied
            }
        };
        let comment = match satisfaction {
            proto::Satisfaction::Satisfied => "Residents are satisfied with the result.",
            proto::Satisfaction::BasicallySatisfied => "Mostly fixed; residents will keep an eye on it.",
            _ => "Residents say the problem is not really solved.",
        };
        let evaluator_number = self.random.random_range(1..=5);
        Step::Evaluate {
            satisfaction,
            evaluator_id: format!(
                "resident-representative-{}-{evaluator_number}",
                self.registry.grid_codes[grid_index]
            ),
            comment: comment.to_owned(),
        }
    }

    /// After the first resolution: usually an evaluation; for a reopened issue, the reopen,
    /// a second resolution (in the grid, by dispatch, or by the community) and its evaluation.
    fn push_resolution_tail(
        &mut self,
        walk: &mut WalkGaps,
        grid_index: usize,
        category_index: usize,
        first_resolved_in_grid: bool,
        reopened: bool,
    ) {
        if reopened {
            if self.random.random_bool(0.75) {
                let evaluation = self.evaluation_step(grid_index, true);
                walk.then(days_between(&mut self.random, 1, 5), evaluation);
            }
            walk.then(
                days_between(&mut self.random, 2, 12),
                Step::Reopen {
                    reason: "The problem came back; residents asked for it to be looked at again.".to_owned(),
                },
            );
            if first_resolved_in_grid && self.random.random_bool(0.6) {
                let gap = self.gap_to_resolution(walk, 2 * SECONDS_PER_HOUR, 72 * SECONDS_PER_HOUR);
                walk.then(
                    gap,
                    Step::HandleInGrid {
                        summary: "Fixed properly on the second visit.".to_owned(),
                    },
                );
            } else {
                if self.random.random_bool(0.35) {
                    self.push_dispatch(walk, grid_index, category_index, 1.0);
                }
                let gap = self.gap_to_resolution(walk, SECONDS_PER_DAY, 10 * SECONDS_PER_DAY);
                walk.then(
                    gap,
                    Step::Resolve {
                        summary: "Resolved again after the reopening.".to_owned(),
                    },
                );
            }
            if self.random.random_bool(0.85) {
                let evaluation = self.evaluation_step(grid_index, false);
                walk.then(days_between(&mut self.random, 1, 5), evaluation);
            }
        } else if self.random.random_bool(0.88) {
            let evaluation = self.evaluation_step(grid_index, false);
            walk.then(days_between(&mut self.random, 1, 7), evaluation);
        }
    }

    /// The steps after the report of an issue that is not deliberated.
    fn walk_after_report(
        &mut self,
        path: IssuePath,
        grid_index: usize,
        category_index: usize,
        reopened: bool,
    ) -> WalkGaps {
        let mut walk = WalkGaps::starting_with_due_in(self.registry.category_deadline_seconds[category_index]);
        match path {
            IssuePath::HandledInGrid => {
                let gap = self.gap_to_resolution(&walk, SECONDS_PER_HOUR, 48 * SECONDS_PER_HOUR);
                walk.then(
                    gap,
                    Step::HandleInGrid {
                        summary: "Handled on the spot by the grid worker.".to_owned(),
                    },
                );
                self.push_resolution_tail(&mut walk, grid_index, category_index, true, reopened);
            }
            IssuePath::DispatchedAndResolved => {
                self.push_dispatch(&mut walk, grid_index, category_index, 0.9);
                let gap = self.gap_to_resolution(&walk, SECONDS_PER_DAY, 10 * SECONDS_PER_DAY);
                walk.then(
                    gap,
                    Step::Resolve {
                        summary: "Done by the responder; checked by the community.".to_owned(),
                    },
                );
                self.push_resolution_tail(&mut walk, grid_index, category_index, false, reopened);
            }
            IssuePath::EscalatedAndResolved => {
                if self.random.random_bool(0.3) {
                    self.push_dispatch(&mut walk, grid_index, category_index, 0.8);
                }
                self.push_escalation_and_resolution(&mut walk);
                self.push_resolution_tail(&mut walk, grid_index, category_index, false, reopened);
            }
            IssuePath::OpenReported | IssuePath::Deliberated { .. } => {}
            IssuePath::OpenDispatched => self.push_dispatch(&mut walk, grid_index, category_index, 0.5),
            IssuePath::Withdrawn { reason, after_dispatch } => {
                if after_dispatch {
                    self.push_dispatch(&mut walk, grid_index, category_index, 0.5);
                }
                walk.then(hours_between(&mut self.random, 1, 240), Step::Withdraw { reason });
            }
        }
        walk
    }

    /// A deliberated issue: reported one to three weeks before its meeting, usually
    /// dispatched first with a deadline that leaves time for the meeting; convened and
    /// concluded with the meeting; then (unless it stays open) resolved, perhaps after
    /// escalation, and evaluated.
    fn deliberated_walk(
        &mut self,
        meeting_index: usize,
        report: Step,
        grid_index: usize,
        category_index: usize,
        reopened: bool,
    ) -> Vec<(i64, Step)> {
        let meeting_day = self.meetings[meeting_index].day;
        let issue_stays_open = self.meetings[meeting_index].issue_stays_open;
        let report_day = meeting_day - self.random.random_range(DAYS_REPORTED_BEFORE_MEETING);
        let reported_at = working_time_on(&mut self.random, report_day);
        let convened_at = meeting_day * SECONDS_PER_DAY + MEETING_CONVENED_UTC_SECONDS;
        let concluded_at = meeting_day * SECONDS_PER_DAY + MEETING_CONCLUDED_UTC_SECONDS;
        let mut timed_steps = vec![(reported_at, report)];
        let mut due_at = reported_at + self.registry.category_deadline_seconds[category_index];
        if self.random.random_bool(0.75) {
            // Dispatched first, with a deadline past the meeting: it needs the residents' agreement.
            let span = convened_at - reported_at;
            let dispatched_at = reported_at + span * self.random.random_range(10..=40) / 100;
            let assignee_id = self.assignee_for(grid_index, category_index);
            due_at = concluded_at + days_between(&mut self.random, 5, 20);
            timed_steps.push((
                dispatched_at,
                Step::Dispatch {
                    assignee_id: assignee_id.clone(),
                    due_after_seconds: due_at - dispatched_at,
                },
            ));
            if self.random.random_bool(0.8) {
                let accepted_at = reported_at + span * self.random.random_range(50..=85) / 100;
                timed_steps.push((accepted_at, Step::Accept { assignee_id }));
            }
        }
        timed_steps.push((convened_at, Step::Convene { meeting_index }));
        timed_steps.push((concluded_at, Step::Conclude { meeting_index }));
        if !issue_stays_open {
            let mut walk = WalkGaps::starting_with_due_in(due_at - concluded_at);
            if self.random.random_bool(0.04) {
                self.push_escalation_and_resolution(&mut walk);
            } else {
                let gap = self.gap_to_resolution(&walk, SECONDS_PER_DAY, 15 * SECONDS_PER_DAY);
                walk.then(
                    gap,
                    Step::Resolve {
                        summary: "Carried out as agreed at the meeting.".to_owned(),
                    },
                );
            }
            self.push_resolution_tail(&mut walk, grid_index, category_index, false, reopened);
            timed_steps.extend(walk.place_after(concluded_at));
        }
        timed_steps
    }

    /// Numbers the drafts (already in report order), gives them ids and request ids, picks
    /// the issues that duplicates duplicate, and puts every step on the wire.
    fn wire_plans(&mut self, seed: u64, drafts: Vec<IssueDraft>) -> Vec<IssuePlan> {
        let issue_ids: Vec<String> = drafts
            .iter()
            .enumerate()
            .map(|(issue_index, draft)| issue_id_for(seed, issue_index, draft.reported_at_seconds()))
            .collect();
        // Accepted issues reported so far, per community: what a duplicate duplicates.
        let mut accepted_so_far_by_community: Vec<Vec<usize>> = vec![Vec::new(); self.registry.community_codes.len()];
        let mut plans = Vec::with_capacity(drafts.len());
        for (issue_index, draft) in drafts.into_iter().enumerate() {
            let community_index = self.registry.community_of_grid[draft.grid_index];
            let duplicate_of = match draft.path {
                IssuePath::Withdrawn {
                    reason: WithdrawalKind::Duplicate,
                    ..
                } => {
                    let recent = &accepted_so_far_by_community[community_index];
                    let earlier_issue = recent[recent.len().saturating_sub(20)..]
                        .choose(&mut self.random)
                        .copied()
                        // Nothing earlier in the community: any other issue of the plan.
                        .unwrap_or(if issue_index == 0 { 1 } else { 0 });
                    issue_ids.get(earlier_issue).cloned().unwrap_or_default()
                }
                _ => String::new(),
            };
            if !matches!(draft.path, IssuePath::Withdrawn { .. }) {
                accepted_so_far_by_community[community_index].push(issue_index);
            }
            let issue_id = issue_ids[issue_index].clone();
            let grid_code = self.registry.grid_codes[draft.grid_index].clone();
            let category = self.registry.category_codes[draft.category_index].clone();
            let commands = draft
                .timed_steps
                .into_iter()
                .enumerate()
                .map(|(step_number, (time_seconds, step))| {
                    let request_id = format!("sim-{seed}-{issue_index}-{step_number}");
                    let occurred_at_micros = time_seconds * MICROS_PER_SECOND;
                    let meta = Some(proto::CommandMeta {
                        request_id: request_id.clone(),
                        expected_revision: None,
                        occurred_at: Some(timestamp(time_seconds)),
                    });
                    let identity = IssueIdentity {
                        issue_id: &issue_id,
                        grid_code: &grid_code,
                        category: &category,
                        duplicate_of: &duplicate_of,
                    };
                    PlannedCommand {
                        step: step_number,
                        request_id,
                        occurred_at_micros,
                        expected_status_after: step.status_after(),
                        request: self.wire_request(step, meta, time_seconds, &identity),
                    }
                })
                .collect();
            plans.push(IssuePlan {
                issue_index,
                issue_id,
                grid_code,
                category,
                path: draft.path.label(),
                commands,
            });
        }
        plans
    }

    /// The request for one step of an issue, at `time_seconds`, with its meta.
    fn wire_request(
        &self,
        step: Step,
        meta: Option<proto::CommandMeta>,
        time_seconds: i64,
        identity: &IssueIdentity<'_>,
    ) -> PlannedRequest {
        let issue_id = identity.issue_id.to_owned();
        match step {
            Step::Report {
                title,
                description,
                reporter_id,
            } => PlannedRequest::Report(proto::ReportIssueRequest {
                meta,
                issue_id,
                grid_code: identity.grid_code.to_owned(),
                category: identity.category.to_owned(),
                title,
                description,
                reporter_id,
            }),
            Step::HandleInGrid { summary } => PlannedRequest::HandleInGrid(proto::HandleInGridRequest {
                meta,
                issue_id,
                summary,
            }),
            Step::Dispatch {
                assignee_id,
                due_after_seconds,
            } => PlannedRequest::Dispatch(proto::DispatchIssueRequest {
                meta,
                issue_id,
                assignee_id,
                due_at: Some(timestamp(time_seconds + due_after_seconds)),
            }),
            Step::Accept { assignee_id } => PlannedRequest::Accept(proto::AcceptAssignmentRequest {
                meta,
                issue_id,
                assignee_id,
            }),
            Step::Convene { meeting_index } => {
                let meeting = &self.meetings[meeting_index];
                PlannedRequest::Convene(proto::ConveneDeliberationRequest {
                    meta,
                    issue_id,
                    meeting_id: meeting.meeting_id.clone(),
                    forum: meeting.forum as i32,
                    parties: meeting.parties.clone(),
                })
            }
            Step::Conclude { meeting_index } => {
                let meeting = &self.meetings[meeting_index];
                PlannedRequest::Conclude(proto::ConcludeDeliberationRequest {
                    meta,
                    issue_id,
                    meeting_id: meeting.meeting_id.clone(),
                    participants: meeting.participants,
                    outcome: format!("Agreed a plan with the {} issue(s) on the agenda.", meeting.issue_count),
                    minutes: format!(
                        "{} residents took part; parties: {}.",
                        meeting.participants,
                        meeting.parties.join(", ")
                    ),
                })
            }
            Step::Escalate { reason, note } => PlannedRequest::Escalate(proto::EscalateIssueRequest {
                meta,
                issue_id,
                reason: reason as i32,
                note,
            }),
            Step::RecordCommitteeDecision {
                decision,
                lead_department,
                supporting_departments,
                due_after_seconds,
            } => PlannedRequest::RecordCommitteeDecision(proto::RecordCommitteeDecisionRequest {
                meta,
                issue_id,
                decision,
                lead_department,
                supporting_departments,
                due_at: Some(timestamp(time_seconds + due_after_seconds)),
            }),
            Step::Resolve { summary } => PlannedRequest::Resolve(proto::ResolveIssueRequest {
                meta,
                issue_id,
                summary,
            }),
            Step::Evaluate {
                satisfaction,
                evaluator_id,
                comment,
            } => PlannedRequest::Evaluate(proto::EvaluateResolutionRequest {
                meta,
                issue_id,
                satisfaction: satisfaction as i32,
                evaluator_id,
                comment,
            }),
            Step::Reopen { reason } => PlannedRequest::Reopen(proto::ReopenIssueRequest { meta, issue_id, reason }),
            Step::Withdraw { reason } => {
                let (reason, duplicate_of) = match reason {
                    WithdrawalKind::OutOfScope => (proto::WithdrawalReason::OutOfScope, String::new()),
                    WithdrawalKind::ReporterWithdrew => (proto::WithdrawalReason::ReporterWithdrew, String::new()),
                    WithdrawalKind::Duplicate => (proto::WithdrawalReason::Duplicate, identity.duplicate_of.to_owned()),
                };
                PlannedRequest::Withdraw(proto::WithdrawIssueRequest {
                    meta,
                    issue_id,
                    reason: reason as i32,
                    duplicate_of,
                })
            }
        }
    }
}

/// What every request of one issue names.
#[derive(Debug)]
struct IssueIdentity<'plan> {
    issue_id: &'plan str,
    grid_code: &'plan str,
    category: &'plan str,
    /// The issue a DUPLICATE withdrawal names (empty otherwise).
    duplicate_of: &'plan str,
}

fn timestamp(unix_seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: unix_seconds,
        nanos: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use gridledger_api::{CommandRequest, issue_status_to_proto};
    use gridledger_domain::{CommandEnvelope, IssueEventBody, IssueId, IssueState, Timestamp, decide, evolve};

    const SEEDS: [u64; 5] = [1, 2, 7, 20_180_101, u64::MAX];

    /// The figures of SPEC §5, computed by running the plan's commands through the domain.
    #[derive(Debug, Default)]
    struct FiguresFromTheDomain {
        reported: u64,
        withdrawn: u64,
        resolved: u64,
        participants_per_meeting: BTreeMap<String, u32>,
    }

    impl FiguresFromTheDomain {
        fn accepted(&self) -> u64 {
            self.reported - self.withdrawn
        }

        fn closure_rate(&self) -> f64 {
            self.resolved as f64 / self.accepted() as f64
        }

        fn participants(&self) -> u64 {
            self.participants_per_meeting
                .values()
                .map(|count| u64::from(*count))
                .sum()
        }
    }

    /// The domain command a planned request becomes on the server (the same conversion).
    fn domain_request(request: &PlannedRequest, registry: &Registry) -> CommandRequest {
        let converted = match request.clone() {
            PlannedRequest::Report(message) => message.into_command(registry, || {
                IssueId::from_uuid(uuid::Uuid::from_u128(1)).expect("a non-nil UUID")
            }),
            PlannedRequest::HandleInGrid(message) => CommandRequest::try_from(message),
            PlannedRequest::Dispatch(message) => CommandRequest::try_from(message),
            PlannedRequest::Accept(message) => CommandRequest::try_from(message),
            PlannedRequest::Convene(message) => CommandRequest::try_from(message),
            PlannedRequest::Conclude(message) => CommandRequest::try_from(message),
            PlannedRequest::Escalate(message) => CommandRequest::try_from(message),
            PlannedRequest::RecordCommitteeDecision(message) => CommandRequest::try_from(message),
            PlannedRequest::Resolve(message) => CommandRequest::try_from(message),
            PlannedRequest::Evaluate(message) => CommandRequest::try_from(message),
            PlannedRequest::Reopen(message) => CommandRequest::try_from(message),
            PlannedRequest::Withdraw(message) => CommandRequest::try_from(message),
        };
        converted.unwrap_or_else(|error| panic!("{} is not a valid request: {error}", request.rpc_name()))
    }

    /// Runs every issue's planned commands through `decide` and `evolve` (as the server
    /// would, with its clock at the latest planned time), checking each against the
    /// lifecycle table and the plan's expectations, and returns the resulting figures.
    fn replay_through_the_domain(plans: &[IssuePlan], registry: &Registry) -> FiguresFromTheDomain {
        let now = Timestamp::from_unix_micros(LATEST_COMMAND_SECONDS * MICROS_PER_SECOND);
        let mut figures = FiguresFromTheDomain::default();
        for plan in plans {
            let mut state = IssueState::Absent;
            let mut previous_occurred_at = i64::MIN;
            for command in &plan.commands {
                let context = format!(
                    "issue #{} {} step {} {}",
                    plan.issue_index,
                    plan.issue_id,
                    command.step,
                    command.request.rpc_name()
                );
                let request = domain_request(&command.request, registry);
                assert_eq!(request.issue_id.to_string(), plan.issue_id, "{context}");
                assert!(!request.issue_id_chosen_by_server, "{context}");
                assert_eq!(request.meta.request_id, command.request_id, "{context}");
                let occurred_at = request.meta.occurred_at.expect("every command has a business time");
                assert_eq!(occurred_at.as_unix_micros(), command.occurred_at_micros, "{context}");
                assert!(
                    command.occurred_at_micros > previous_occurred_at,
                    "{context}: time goes backwards"
                );
                previous_occurred_at = command.occurred_at_micros;
                let envelope = CommandEnvelope::new(now, request.command).with_occurred_at(occurred_at);
                let events = decide(&state, envelope).unwrap_or_else(|error| panic!("{context}: refused: {error}"));
                for event in &events {
                    if let IssueEventBody::DeliberationConcluded(concluded) = &event.body {
                        let participants = concluded.participants.get();
                        let earlier = figures
                            .participants_per_meeting
                            .insert(concluded.meeting_id.as_str().to_owned(), participants);
                        assert!(
                            earlier.is_none_or(|earlier| earlier == participants),
                            "{context}: meeting {} concluded with two participant counts",
                            concluded.meeting_id
                        );
                    }
                    state = evolve(state, event);
                }
                let status = state.status().expect("the issue exists after its report");
                assert_eq!(
                    issue_status_to_proto(status),
                    command.expected_status_after,
                    "{context}"
                );
            }
            figures.reported += 1;
            match state.status() {
                Some(gridledger_domain::IssueStatus::Withdrawn) => figures.withdrawn += 1,
                Some(gridledger_domain::IssueStatus::Resolved) => figures.resolved += 1,
                _ => {}
            }
        }
        figures
    }

    #[test]
    fn every_seed_lands_in_the_published_ranges_by_the_definitions() {
        let registry = Profile::Runzhou.registry();
        for seed in SEEDS {
            let plans = plan_simulation(Profile::Runzhou, seed);
            let figures = replay_through_the_domain(&plans, &registry);
            let accepted = figures.accepted();
            assert!((4_300..=4_399).contains(&accepted), "seed {seed}: accepted {accepted}");
            let meetings = figures.participants_per_meeting.len();
            assert!((2_700..=2_799).contains(&meetings), "seed {seed}: meetings {meetings}");
            let participants = figures.participants();
            assert!(
                (39_000..=41_000).contains(&participants),
                "seed {seed}: participants {participants}"
            );
            let closure_rate = figures.closure_rate();
            assert!(
                (0.9865..0.9875).contains(&closure_rate),
                "seed {seed}: closure rate {closure_rate}"
            );
            // Exactly the constructed counts, and the summary's figures agree with the domain's.
            let planned = PlannedFigures::of(&plans);
            assert_eq!(
                (figures.reported, figures.withdrawn, accepted, figures.resolved),
                (4_420, 70, 4_350, 4_294),
                "seed {seed}"
            );
            assert_eq!((meetings, participants), (2_750, 40_000), "seed {seed}");
            assert_eq!(
                (
                    planned.reports,
                    planned.withdrawn,
                    planned.accepted,
                    planned.closed,
                    planned.open,
                    planned.deliberation_meetings,
                    planned.participants,
                    planned.reopened
                ),
                (4_420, 70, 4_350, 4_294, 56, 2_750, 40_000, 95),
                "seed {seed}"
            );
            assert_eq!(format!("{:.1}", planned.closure_rate * 100.0), "98.7");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_plan_and_another_seed_another() {
        assert_eq!(
            plan_simulation(Profile::Runzhou, 7),
            plan_simulation(Profile::Runzhou, 7)
        );
        let seven = plan_simulation(Profile::Runzhou, 7);
        let eight = plan_simulation(Profile::Runzhou, 8);
        assert_ne!(seven, eight);
        let ids_of = |plans: &[IssuePlan]| plans.iter().map(|plan| plan.issue_id.clone()).collect::<BTreeSet<_>>();
        assert!(ids_of(&seven).is_disjoint(&ids_of(&eight)), "seeds share issue ids");
    }

    /// What the plan says about one meeting, across its issues.
    #[derive(Debug, Default)]
    struct MeetingObservations {
        communities: BTreeSet<String>,
        participant_counts: BTreeSet<u32>,
        convened_at: BTreeSet<i64>,
        concluded_at: BTreeSet<i64>,
        issues_convened: usize,
        issues_concluded: usize,
    }

    #[test]
    fn ids_times_and_meetings_are_as_planned() {
        let first_report = FIRST_REPORT_DAY * SECONDS_PER_DAY * MICROS_PER_SECOND;
        let last_report = (LAST_REPORT_DAY + 1) * SECONDS_PER_DAY * MICROS_PER_SECOND;
        let latest = LATEST_COMMAND_SECONDS * MICROS_PER_SECOND;
        assert_eq!(
            Timestamp::from_unix_micros(first_report).to_string(),
            "2018-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            Timestamp::from_unix_micros(last_report).to_string(),
            "2023-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            Timestamp::from_unix_micros(latest).to_string(),
            "2023-01-28T10:00:00.000000Z"
        );
        for seed in SEEDS {
            let plans = plan_simulation(Profile::Runzhou, seed);
            let mut issue_ids = BTreeSet::new();
            let mut request_ids = BTreeSet::new();
            let mut meetings: BTreeMap<String, MeetingObservations> = BTreeMap::new();
            for (position, plan) in plans.iter().enumerate() {
                assert_eq!(plan.issue_index, position);
                let uuid = uuid::Uuid::parse_str(&plan.issue_id).expect("a UUID");
                assert_eq!(uuid.get_version_num(), 7, "{}", plan.issue_id);
                assert!(
                    issue_ids.insert(plan.issue_id.clone()),
                    "issue id twice: {}",
                    plan.issue_id
                );
                let reported_at = plan.commands[0].occurred_at_micros;
                assert!(
                    (first_report..last_report).contains(&reported_at),
                    "seed {seed}: report at {reported_at}"
                );
                if position > 0 {
                    assert!(plans[position - 1].commands[0].occurred_at_micros <= reported_at);
                }
                let community = plan
                    .grid_code
                    .rsplit_once('.')
                    .map(|(community, _)| community.to_owned());
                for command in &plan.commands {
                    assert!(request_ids.insert(command.request_id.clone()), "request id twice");
                    assert_eq!(
                        command.request_id,
                        format!("sim-{seed}-{}-{}", plan.issue_index, command.step)
                    );
                    assert!(command.occurred_at_micros <= latest, "seed {seed}: too late");
                    match &command.request {
                        PlannedRequest::Convene(convene) => {
                            meetings
                                .entry(convene.meeting_id.clone())
                                .or_default()
                                .convened_at
                                .insert(command.occurred_at_micros);
                            meetings.entry(convene.meeting_id.clone()).or_default().issues_convened += 1;
                        }
                        PlannedRequest::Conclude(conclude) => {
                            let meeting = meetings.entry(conclude.meeting_id.clone()).or_default();
                            meeting.communities.insert(community.clone().unwrap_or_default());
                            meeting.participant_counts.insert(conclude.participants);
                            meeting.concluded_at.insert(command.occurred_at_micros);
                            meeting.issues_concluded += 1;
                        }
                        PlannedRequest::Withdraw(withdraw) if !withdraw.duplicate_of.is_empty() => {
                            assert_ne!(withdraw.duplicate_of, plan.issue_id);
                        }
                        _ => {}
                    }
                }
            }
            for (meeting_id, meeting) in &meetings {
                assert_eq!(meeting.communities.len(), 1, "{meeting_id}: one community");
                assert_eq!(
                    meeting.participant_counts.len(),
                    1,
                    "{meeting_id}: one participant count"
                );
                assert_eq!(meeting.convened_at.len(), 1, "{meeting_id}: convened at one time");
                assert_eq!(meeting.concluded_at.len(), 1, "{meeting_id}: concluded at one time");
                assert_eq!(meeting.issues_convened, meeting.issues_concluded, "{meeting_id}");
                assert!(
                    (1..=3).contains(&meeting.issues_concluded),
                    "{meeting_id}: {} issues",
                    meeting.issues_concluded
                );
            }
            let multi_issue_meetings = meetings.values().filter(|meeting| meeting.issues_concluded > 1).count();
            assert_eq!(multi_issue_meetings, 270, "seed {seed}");
        }
    }

    #[test]
    fn participants_are_split_exactly_and_stay_positive() {
        let mut random = StdRng::seed_from_u64(3);
        let issue_counts = [1, 2, 3, 1, 1];
        for total in [15, 100, 250] {
            let participants = draw_participants(&mut random, &issue_counts, total);
            assert_eq!(participants.iter().map(|count| u64::from(*count)).sum::<u64>(), total);
            assert!(participants.iter().all(|count| *count >= 3));
        }
    }
}
