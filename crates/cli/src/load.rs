//! `gridledger load`: drives any server with N concurrent clients over M HTTP/2 connections and one mix of calls (report, lifecycle, read or health), then reports throughput, latency percentiles and the failed calls by status code.
//!
//! Each connection is its own [`Client::connect_with`] (its own HTTP/2 channel); the
//! clients are tokio tasks, spread round-robin over the connections, each sending one call
//! at a time. The client's own retries are off, so every figure is the server's: a call
//! that fails is counted once, under its gRPC code. Requests are built from values made
//! before the run (the request id is rewritten in place), and each client keeps its
//! latencies in a vector allocated up front, merged at the end.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use gridledger_api::client::{Client, ClientError, RetryPolicy, RpcCode};
use gridledger_api::{CommandMeta, IssueReport, StatsFilter};
use gridledger_domain::{
    AcceptAssignment, CategoryCode, DispatchIssue, EvaluateResolution, Field, FreeText, IssueCommand, IssueId,
    IssueTitle, JurisdictionCode, PersonId, Registry, ResolveIssue, Satisfaction,
};
use gridledger_projections::IssueListFilter;
use indicatif::ProgressBar;
use serde_json::{Map, Value, json};
use tokio::sync::Barrier;

/// Issues reported in the untimed setup of the `read` mix, for its GetIssue calls.
const READ_SETUP_ISSUES: usize = 200;
/// Concurrent reports in that setup.
const READ_SETUP_CONCURRENCY: usize = 16;
/// Issues per ListIssues page in the `read` mix.
const READ_PAGE_SIZE: u32 = 50;
/// The progress bar advances by this many operations at a time.
const PROGRESS_STEP: u64 = 64;
/// How far ahead of now a `lifecycle` dispatch is due.
const DISPATCH_DUE_IN: Duration = Duration::from_secs(30 * 86_400);

/// What each operation of a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mix {
    /// ReportIssue over the registry's grids, categories round-robin.
    Report,
    /// Each client walks its own issues: report, dispatch, accept, resolve, evaluate (one operation each).
    Lifecycle,
    /// GetIssue, ListIssues (a page of 50) and GetGovernanceStats (district scope), in equal thirds.
    Read,
    /// grpc.health.v1.Health/Check of the server as a whole: the transport's bound.
    Health,
}

impl Mix {
    fn name(self) -> &'static str {
        match self {
            Mix::Report => "report",
            Mix::Lifecycle => "lifecycle",
            Mix::Read => "read",
            Mix::Health => "health",
        }
    }

    /// The calls of the mix, in the order [`next_call`] numbers them.
    fn calls(self) -> &'static [&'static str] {
        match self {
            Mix::Report => &["ReportIssue"],
            Mix::Lifecycle => &[
                "ReportIssue",
                "DispatchIssue",
                "AcceptAssignment",
                "ResolveIssue",
                "EvaluateResolution",
            ],
            Mix::Read => &["GetIssue", "ListIssues", "GetGovernanceStats"],
            Mix::Health => &["Health/Check"],
        }
    }

    fn operation(self) -> &'static str {
        match self {
            Mix::Report => "ReportIssue",
            Mix::Lifecycle => "one command of report, dispatch, accept, resolve, evaluate",
            Mix::Read => "GetIssue, ListIssues or GetGovernanceStats, in thirds",
            Mix::Health => "Health/Check",
        }
    }
}

/// What `gridledger load` takes (with the global --server, --token, TLS options and --json).
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// What each operation is. report and lifecycle write issues to the server's log.
    #[arg(long, value_enum)]
    mix: Mix,
    /// Concurrent clients (tokio tasks, one call in flight each), round-robin over the connections.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    clients: u32,
    /// HTTP/2 connections to the server (at most one per client).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    connections: u32,
    /// Timed operations in all, split over the clients.
    #[arg(long, default_value_t = 20_000)]
    commands: u64,
    /// Untimed operations per client before the timed ones.
    #[arg(long, default_value_t = 20)]
    warmup: u64,
    /// Registry JSON file or `builtin:NAME` naming the server's grids and categories;
    /// default: the built-in Runzhou registry.
    #[arg(long, env = "GRIDLEDGER_REGISTRY")]
    registry: Option<PathBuf>,
}

/// Everything the clients share, built before the run.
#[derive(Debug)]
struct Plan {
    mix: Mix,
    /// Unique to this run; in every request id.
    run_id: String,
    clients: u64,
    /// One report per grid, categories round-robin.
    reports: Vec<IssueReport>,
    /// The lifecycle after the report: dispatch, accept, resolve, evaluate.
    lifecycle: [IssueCommand; 4],
    /// The issues the `read` mix gets.
    read_issues: Vec<IssueId>,
    list_filter: IssueListFilter,
    stats_filter: StatsFilter,
}

impl Plan {
    fn new(mix: Mix, clients: u64, registry: &Registry) -> anyhow::Result<Self> {
        let categories: Vec<&CategoryCode> = registry.categories().iter().map(|category| category.code()).collect();
        anyhow::ensure!(
            !registry.grids().is_empty() && !categories.is_empty(),
            "the registry has no grids or no categories"
        );
        let title = IssueTitle::parse("Load test: overflowing bins")?;
        let description = FreeText::parse(Field::Description, "Reported by gridledger load.")?;
        let reporter_id = PersonId::parse(Field::Reporter, "load-grid-worker")?;
        let reports = registry
            .grids()
            .iter()
            .enumerate()
            .map(|(index, grid)| IssueReport {
                issue_id: None,
                grid: grid.code.clone(),
                category: categories[index % categories.len()].clone(),
                title: title.clone(),
                description: description.clone(),
                reporter_id: reporter_id.clone(),
                evidence: Default::default(),
                location: None,
            })
            .collect();
        let assignee_id = PersonId::parse(Field::Assignee, "load-responder")?;
        let due_at = crate::args::now()
            .checked_add_std_duration(DISPATCH_DUE_IN)
            .context("the clock is out of range")?;
        let lifecycle = [
            DispatchIssue {
                assignee_id: assignee_id.clone(),
                due_at,
            }
            .into(),
            AcceptAssignment { assignee_id }.into(),
            ResolveIssue {
                summary: FreeText::parse(Field::Summary, "Done by the responder (gridledger load).")?,
                evidence: Default::default(),
                location: None,
            }
            .into(),
            EvaluateResolution {
                satisfaction: Satisfaction::Satisfied,
                evaluator_id: PersonId::parse(Field::Evaluator, "load-resident")?,
                comment: FreeText::parse(Field::Comment, "Residents are satisfied (gridledger load).")?,
            }
            .into(),
        ];
        let district = registry
            .districts()
            .first()
            .map(|district| JurisdictionCode::from(district.code.clone()));
        Ok(Plan {
            mix,
            run_id: uuid::Uuid::now_v7().simple().to_string(),
            clients,
            reports,
            lifecycle,
            read_issues: Vec::new(),
            list_filter: IssueListFilter {
                scope: district.clone(),
                ..IssueListFilter::default()
            },
            stats_filter: StatsFilter {
                scope: district,
                ..StatsFilter::default()
            },
        })
    }

    /// The report for the `slot`-th operation of the run (grids in turn).
    fn report(&self, slot: u64) -> &IssueReport {
        &self.reports[(slot % self.reports.len() as u64) as usize]
    }
}

/// Why an operation failed.
#[derive(Debug)]
enum Failure {
    Call(ClientError),
    /// Health/Check answered, but not SERVING.
    NotServing,
}

impl Failure {
    /// The gRPC code's name, "NOT_SERVING", or "transport" when the call has no code.
    fn key(&self) -> &'static str {
        match self {
            Failure::NotServing => "NOT_SERVING",
            Failure::Call(error) => error.code().map_or("transport", RpcCode::name),
        }
    }
}

/// Failed operations by key, with the first message of each.
#[derive(Debug, Default)]
struct ErrorTally {
    counts: BTreeMap<&'static str, (u64, String)>,
}

impl ErrorTally {
    fn add(&mut self, failure: &Failure) {
        self.counts
            .entry(failure.key())
            .or_insert_with(|| {
                let message = match failure {
                    Failure::Call(error) => error.to_string(),
                    Failure::NotServing => "the server answers, but not SERVING".to_owned(),
                };
                (0, message)
            })
            .0 += 1;
    }

    fn merge(&mut self, other: ErrorTally) {
        for (key, (count, message)) in other.counts {
            self.counts.entry(key).or_insert((0, message)).0 += count;
        }
    }

    fn total(&self) -> u64 {
        self.counts.values().map(|(count, _)| count).sum()
    }
}

/// Where a client is in the `lifecycle` mix: its current issue and the next step.
#[derive(Debug, Default)]
struct Walk {
    issue: Option<IssueId>,
    /// 0 reports a new issue; 1..=4 send `Plan::lifecycle[step - 1]`.
    step: usize,
}

/// Which call of [`Mix::calls`] a client's next operation is: in the `lifecycle` mix, the
/// client's next step; in the `read` mix, each in turn (`turn` is the client's number plus
/// its operation's, so that the clients together make equal thirds whatever their number).
fn next_call(plan: &Plan, walk: &Walk, turn: u64) -> usize {
    match plan.mix {
        Mix::Report | Mix::Health => 0,
        Mix::Lifecycle if walk.issue.is_some() => walk.step,
        Mix::Lifecycle => 0,
        Mix::Read => (turn % 3) as usize,
    }
}

/// One operation: `call` (from [`next_call`]) of the mix; `slot` chooses the grid or the issue.
async fn operate(
    plan: &Plan,
    client: &Client,
    meta: &CommandMeta,
    walk: &mut Walk,
    call: usize,
    slot: u64,
) -> Result<(), Failure> {
    match plan.mix {
        Mix::Health => match client.health_check("").await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Failure::NotServing),
            Err(error) => Err(Failure::Call(error)),
        },
        Mix::Report => client
            .report(meta, plan.report(slot))
            .await
            .map(drop)
            .map_err(Failure::Call),
        Mix::Lifecycle => {
            let outcome = match (call, walk.issue) {
                (1..=4, Some(issue)) => client.send(issue, meta, &plan.lifecycle[call - 1]).await.map(drop),
                _ => client
                    .report(meta, plan.report(slot))
                    .await
                    .map(|ack| walk.issue = Some(ack.issue_id)),
            };
            match outcome {
                Ok(()) => {
                    // After the evaluation, the next operation reports a new issue.
                    walk.step = (call + 1) % 5;
                    if walk.step == 0 {
                        walk.issue = None;
                    }
                    Ok(())
                }
                Err(error) => {
                    // The issue is left where it is; the next operation reports a new one.
                    *walk = Walk::default();
                    Err(Failure::Call(error))
                }
            }
        }
        Mix::Read => {
            let outcome = match call {
                0 => {
                    let issue = plan.read_issues[(slot % plan.read_issues.len() as u64) as usize];
                    client.get_issue(issue).await.map(drop)
                }
                1 => client
                    .list_issues(&plan.list_filter, READ_PAGE_SIZE, None)
                    .await
                    .map(drop),
                _ => client.governance_stats(&plan.stats_filter).await.map(drop),
            };
            outcome.map_err(Failure::Call)
        }
    }
}

/// What one client measured.
#[derive(Debug)]
struct ClientOutcome {
    /// Nanoseconds from send to answer of each operation that succeeded.
    latencies: Vec<u64>,
    /// The call of each of those operations (an index into [`Mix::calls`]).
    calls: Vec<u8>,
    errors: ErrorTally,
    warmup_failures: u64,
    finished: Instant,
}

/// Writes the request id of the client's `sequence`-th operation into `meta`, in place.
fn set_request_id(meta: &mut CommandMeta, run_id: &str, client: u64, sequence: u64) {
    meta.request_id.clear();
    // Writing into a String cannot fail.
    let _ = write!(meta.request_id, "load-{run_id}-{client}-{sequence}");
}

/// One client: `warmup` untimed operations, the barrier, then `operations` timed ones.
async fn drive_client(
    plan: Arc<Plan>,
    client: Client,
    index: u64,
    warmup: u64,
    operations: u64,
    barrier: Arc<Barrier>,
    bar: ProgressBar,
) -> ClientOutcome {
    let writes = matches!(plan.mix, Mix::Report | Mix::Lifecycle);
    let mut meta = CommandMeta {
        request_id: String::with_capacity(80),
        expected_revision: None,
        occurred_at: None,
    };
    let mut walk = Walk::default();
    let mut sequence = 0u64;
    let mut warmup_failures = 0;
    for _ in 0..warmup {
        if writes {
            set_request_id(&mut meta, &plan.run_id, index, sequence);
        }
        let slot = sequence * plan.clients + index;
        let call = next_call(&plan, &walk, sequence + index);
        warmup_failures += u64::from(operate(&plan, &client, &meta, &mut walk, call, slot).await.is_err());
        sequence += 1;
    }
    barrier.wait().await;
    let capacity = usize::try_from(operations).unwrap_or(0);
    let mut latencies = Vec::with_capacity(capacity);
    let by_call = plan.mix.calls().len() > 1;
    let mut calls = Vec::with_capacity(if by_call { capacity } else { 0 });
    let mut errors = ErrorTally::default();
    let mut unshown = 0;
    for _ in 0..operations {
        if writes {
            set_request_id(&mut meta, &plan.run_id, index, sequence);
        }
        let slot = sequence * plan.clients + index;
        let call = next_call(&plan, &walk, sequence + index);
        let sent = Instant::now();
        let outcome = operate(&plan, &client, &meta, &mut walk, call, slot).await;
        let elapsed = sent.elapsed();
        match outcome {
            Ok(()) => {
                latencies.push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
                if by_call {
                    calls.push(call as u8);
                }
            }
            Err(failure) => errors.add(&failure),
        }
        sequence += 1;
        unshown += 1;
        if unshown == PROGRESS_STEP {
            bar.inc(unshown);
            unshown = 0;
        }
    }
    bar.inc(unshown);
    ClientOutcome {
        latencies,
        calls,
        errors,
        warmup_failures,
        finished: Instant::now(),
    }
}

/// The `read` mix's issues: reported in an untimed setup; when the principal may not
/// report, the first issues of the district the server already holds.
async fn read_setup(plan: &Plan, connections: &[Client]) -> anyhow::Result<Vec<IssueId>> {
    let mut reporters = tokio::task::JoinSet::new();
    let shared = Arc::new(
        (0..READ_SETUP_ISSUES)
            .map(|number| plan.report(number as u64).clone())
            .collect::<Vec<_>>(),
    );
    for reporter in 0..READ_SETUP_CONCURRENCY {
        let client = connections[reporter % connections.len()].clone();
        let reports = Arc::clone(&shared);
        let run_id = plan.run_id.clone();
        reporters.spawn(async move {
            let mut issues = Vec::new();
            for number in (reporter..reports.len()).step_by(READ_SETUP_CONCURRENCY) {
                let meta = CommandMeta {
                    request_id: format!("load-{run_id}-setup-{number}"),
                    expected_revision: None,
                    occurred_at: None,
                };
                issues.push(client.report(&meta, &reports[number]).await?.issue_id);
            }
            Ok::<_, ClientError>(issues)
        });
    }
    let mut issues = Vec::with_capacity(READ_SETUP_ISSUES);
    let mut refused = None;
    while let Some(joined) = reporters.join_next().await {
        match joined.context("a setup task failed")? {
            Ok(reported) => issues.extend(reported),
            Err(error) => refused = Some(error),
        }
    }
    let Some(refused) = refused else {
        return Ok(issues);
    };
    // Fall back on issues the server holds (a reader may not report).
    let client = &connections[0];
    let mut after = None;
    let mut existing = Vec::new();
    while existing.len() < READ_SETUP_ISSUES {
        let Ok(page) = client.list_issues(&plan.list_filter, READ_PAGE_SIZE, after).await else {
            break;
        };
        existing.extend(page.issues.iter().map(|issue| issue.issue_id));
        match page.next_page_token {
            Some(token) => after = Some(token),
            None => break,
        }
    }
    if existing.is_empty() {
        return Err(anyhow::Error::from(refused)
            .context("the read mix's setup could not report its issues, and the server lists none to read"));
    }
    eprintln!(
        "load: the setup could not report issues ({refused}); reading {} issues the server holds instead",
        existing.len()
    );
    Ok(existing)
}

/// The figures of a run.
#[derive(Debug)]
struct Summary {
    mix: Mix,
    clients: u64,
    connections: usize,
    operations: u64,
    ok: u64,
    errors: ErrorTally,
    warmup: u64,
    warmup_failures: u64,
    seconds: f64,
    /// Sorted nanoseconds of the operations that succeeded.
    latencies: Vec<u64>,
    /// The same by call, sorted, when the mix has several calls.
    by_call: Vec<(&'static str, Vec<u64>)>,
}

/// The latency at `fraction` (nearest rank) of sorted nanoseconds, in milliseconds; 0 without any.
fn percentile_ms(sorted: &[u64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1e6
}

impl Summary {
    fn percentile_ms(&self, fraction: f64) -> f64 {
        percentile_ms(&self.latencies, fraction)
    }

    fn ops_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.ok as f64 / self.seconds
        } else {
            0.0
        }
    }

    fn to_json(&self) -> Value {
        let round = |value: f64, scale: f64| {
            let rounded = (value * scale).round() / scale;
            if rounded.is_finite() { rounded } else { 0.0 }
        };
        let errors: Map<String, Value> = self
            .errors
            .counts
            .iter()
            .map(|(key, (count, _))| ((*key).to_owned(), json!(count)))
            .collect();
        json!({
            "mix": self.mix.name(),
            "clients": self.clients,
            "connections": self.connections,
            "operations": self.operations,
            "ok": self.ok,
            "errors": errors,
            "seconds": round(self.seconds, 1e4),
            "ops_per_second": round(self.ops_per_second(), 10.0),
            "p50_ms": round(self.percentile_ms(0.50), 1e3),
            "p90_ms": round(self.percentile_ms(0.90), 1e3),
            "p99_ms": round(self.percentile_ms(0.99), 1e3),
            "max_ms": round(self.percentile_ms(1.0), 1e3),
        })
    }

    fn to_text(&self, server: &str) -> String {
        let mut text = format!(
            "gridledger load — mix {} against {server}: {} clients over {} connections\n",
            self.mix.name(),
            self.clients,
            self.connections
        );
        let failed = self.errors.total();
        let _ = writeln!(text, "  operation    {}", self.mix.operation());
        let _ = writeln!(
            text,
            "  operations   {} timed: {} ok, {failed} failed ({} untimed warmup per client{})",
            self.operations,
            self.ok,
            self.warmup,
            if self.warmup_failures > 0 {
                format!(", {} of them failed", self.warmup_failures)
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            text,
            "  throughput   {:.0} ok operations/s over {:.2} s",
            self.ops_per_second(),
            self.seconds
        );
        let _ = writeln!(
            text,
            "  latency      p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   max {:.2} ms (ok operations, send to answer)",
            self.percentile_ms(0.50),
            self.percentile_ms(0.90),
            self.percentile_ms(0.99),
            self.percentile_ms(1.0)
        );
        for (call, latencies) in &self.by_call {
            let _ = writeln!(
                text,
                "    {call:<20} {:>9} ok   p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
                latencies.len(),
                percentile_ms(latencies, 0.50),
                percentile_ms(latencies, 0.90),
                percentile_ms(latencies, 0.99),
                percentile_ms(latencies, 1.0)
            );
        }
        if failed == 0 {
            let _ = writeln!(text, "  errors       none");
        } else {
            let _ = writeln!(text, "  errors");
            for (key, (count, message)) in &self.errors.counts {
                let _ = writeln!(text, "    {key:<20} {count:>9}   first: {message}");
            }
        }
        text
    }
}

/// Runs the load against `server`; `connect` opens one connection (with the global
/// credentials). Fails only when it cannot connect (or, for `read`, set up); failed
/// operations are reported, not fatal.
pub async fn run<Connect, Connecting>(
    server: &str,
    connect: Connect,
    json: bool,
    arguments: LoadArgs,
) -> anyhow::Result<()>
where
    Connect: Fn() -> Connecting,
    Connecting: Future<Output = anyhow::Result<Client>>,
{
    let registry = crate::serve::load_registry(arguments.registry.as_deref())?;
    let clients = u64::from(arguments.clients);
    let connection_count = arguments.connections.min(arguments.clients) as usize;
    let mut plan = Plan::new(arguments.mix, clients, &registry)?;

    // The figures are the server's: one attempt per operation.
    let one_attempt = RetryPolicy {
        attempts: 1,
        ..RetryPolicy::default()
    };
    let mut connections = Vec::with_capacity(connection_count);
    for number in 1..=connection_count {
        let client = connect()
            .await
            .with_context(|| format!("load: opening connection {number} of {connection_count}"))?;
        connections.push(client.with_retry_policy(one_attempt));
    }
    if plan.mix == Mix::Read {
        plan.read_issues = read_setup(&plan, &connections).await?;
    }
    let plan = Arc::new(plan);

    let bar = if std::io::stderr().is_terminal() {
        crate::bench::progress_bar(
            arguments.commands,
            format!("load {}, {clients} clients", plan.mix.name()),
        )
    } else {
        ProgressBar::hidden()
    };
    let barrier = Arc::new(Barrier::new(arguments.clients as usize + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..clients {
        let operations = arguments.commands / clients + u64::from(index < arguments.commands % clients);
        tasks.spawn(drive_client(
            Arc::clone(&plan),
            connections[(index as usize) % connection_count].clone(),
            index,
            arguments.warmup,
            operations,
            Arc::clone(&barrier),
            bar.clone(),
        ));
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut outcomes = Vec::with_capacity(arguments.clients as usize);
    while let Some(joined) = tasks.join_next().await {
        outcomes.push(joined.context("a load client failed")?);
    }
    bar.finish_and_clear();

    let finished = outcomes.iter().map(|outcome| outcome.finished).max().unwrap_or(started);
    let mut latencies = Vec::with_capacity(outcomes.iter().map(|outcome| outcome.latencies.len()).sum());
    let mut errors = ErrorTally::default();
    let mut warmup_failures = 0;
    let names = plan.mix.calls();
    let mut by_call: Vec<(&'static str, Vec<u64>)> = if names.len() > 1 {
        names.iter().map(|name| (*name, Vec::new())).collect()
    } else {
        Vec::new()
    };
    for outcome in outcomes {
        if !by_call.is_empty() {
            for (latency, call) in outcome.latencies.iter().zip(&outcome.calls) {
                by_call[usize::from(*call)].1.push(*latency);
            }
        }
        latencies.extend_from_slice(&outcome.latencies);
        errors.merge(outcome.errors);
        warmup_failures += outcome.warmup_failures;
    }
    latencies.sort_unstable();
    for (_, call_latencies) in &mut by_call {
        call_latencies.sort_unstable();
    }
    let summary = Summary {
        mix: plan.mix,
        clients,
        connections: connection_count,
        operations: arguments.commands,
        ok: latencies.len() as u64,
        errors,
        warmup: arguments.warmup,
        warmup_failures,
        seconds: finished.saturating_duration_since(started).as_secs_f64(),
        latencies,
        by_call,
    };
    if json {
        println!("{}", summary.to_json());
    } else {
        print!("{}", summary.to_text(server));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(latencies_ms: &[u64], errors: &[(&'static str, u64)]) -> Summary {
        let mut tally = ErrorTally::default();
        for (key, count) in errors {
            tally.counts.insert(key, (*count, "a message".to_owned()));
        }
        Summary {
            mix: Mix::Report,
            clients: 4,
            connections: 2,
            operations: latencies_ms.len() as u64 + tally.total(),
            ok: latencies_ms.len() as u64,
            errors: tally,
            warmup: 20,
            warmup_failures: 0,
            seconds: 2.0,
            latencies: latencies_ms.iter().map(|ms| ms * 1_000_000).collect(),
            by_call: Vec::new(),
        }
    }

    #[test]
    fn percentiles_are_nearest_rank_over_the_ok_operations() {
        let figures = summary(&(1..=100).collect::<Vec<_>>(), &[]);
        assert_eq!(figures.percentile_ms(0.5), 50.0);
        assert_eq!(figures.percentile_ms(0.9), 90.0);
        assert_eq!(figures.percentile_ms(0.99), 99.0);
        assert_eq!(figures.percentile_ms(1.0), 100.0);
        assert_eq!(figures.ops_per_second(), 50.0);
        assert_eq!(summary(&[], &[("UNAVAILABLE", 3)]).percentile_ms(0.5), 0.0);
    }

    #[test]
    fn the_json_has_exactly_the_harness_keys_and_only_the_codes_seen() {
        let value = summary(&[5, 7], &[("UNAVAILABLE", 2), ("transport", 1)]).to_json();
        let keys: Vec<&str> = value
            .as_object()
            .map(|object| object.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut expected = vec![
            "mix",
            "clients",
            "connections",
            "operations",
            "ok",
            "errors",
            "seconds",
            "ops_per_second",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "max_ms",
        ];
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(value["errors"], json!({"UNAVAILABLE": 2, "transport": 1}));
        assert_eq!(value["operations"], json!(5));
        assert_eq!(value["ok"], json!(2));
        assert_eq!(value["max_ms"], json!(7.0));
    }

    #[test]
    fn every_code_has_its_grpc_name() {
        assert_eq!(RpcCode::FailedPrecondition.name(), "FAILED_PRECONDITION");
        assert_eq!(RpcCode::Unauthenticated.name(), "UNAUTHENTICATED");
        let failure = Failure::Call(ClientError::Rpc {
            code: RpcCode::Unavailable,
            message: "down".to_owned(),
        });
        assert_eq!(failure.key(), "UNAVAILABLE");
        assert_eq!(Failure::NotServing.key(), "NOT_SERVING");
    }

    #[test]
    fn reports_take_the_grids_in_turn_with_categories_round_robin() -> anyhow::Result<()> {
        let registry = Registry::builtin_runzhou();
        let plan = Plan::new(Mix::Report, 4, &registry)?;
        assert_eq!(plan.reports.len(), registry.grids().len());
        let categories = registry.categories().len();
        for slot in 0..categories as u64 {
            assert_eq!(plan.report(slot).category, *registry.categories()[slot as usize].code());
        }
        assert_eq!(plan.report(registry.grids().len() as u64).grid, plan.report(0).grid);
        Ok(())
    }

    #[test]
    fn request_ids_are_rewritten_in_place_and_valid() {
        let mut meta = CommandMeta::with_fresh_request_id();
        let run_id = uuid::Uuid::now_v7().simple().to_string();
        set_request_id(&mut meta, &run_id, 63, 1_000_000);
        assert_eq!(meta.request_id, format!("load-{run_id}-63-1000000"));
        assert!(CommandMeta::check_request_id(&meta.request_id).is_ok());
    }
}
