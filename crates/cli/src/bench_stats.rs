//! `gridledger bench stats`: projection rebuild throughput beside the raw read-all of the same log, and stats query latency over a million issues.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use gridledger_api::encode_events;
use gridledger_domain::{
    CategoryCode, Field, FreeText, IssueDispatched, IssueEvent, IssueEventBody, IssueHandledInGrid, IssueId,
    IssueReported, IssueResolved, IssueTitle, JurisdictionCode, PersonId, Registry, Timestamp,
};
use gridledger_eventlog::{AppendRequest, EventLog, EventLogConfig, ExpectedRevision, RequestId, StreamId};
use gridledger_projections::{GovernanceProjection, StatsQuery};
use tokio::runtime::Runtime;

use crate::bench::{percentile, progress_bar};

#[derive(Debug, Args)]
pub struct StatsBenchArgs {
    /// Directory for the scratch log (default: a temp dir, removed after).
    #[arg(long, env = "GRIDLEDGER_BENCH_DIR")]
    dir: Option<PathBuf>,
    /// Issues in the log the rebuild reads (three events each).
    #[arg(long, default_value_t = 200_000)]
    log_issues: usize,
    /// Issues in the projection the queries run against.
    #[arg(long, default_value_t = 1_000_000)]
    issues: usize,
    /// Queries per kind.
    #[arg(long, default_value_t = 200)]
    queries: usize,
}

const DAY: i64 = 86_400_000_000;
const START_2018: i64 = 1_514_764_800_000_000;

/// A deterministic synthetic issue: report, then (mostly) a dispatch and a resolution, or
/// a handling in the grid; one in fifty left open.
fn synthetic_issue(number: usize, registry: &Registry) -> anyhow::Result<(String, Vec<IssueEvent>)> {
    let grids = registry.grids();
    let categories = registry.categories();
    let mixed = (number as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let grid = &grids[(mixed % grids.len() as u64) as usize].code;
    let category: &CategoryCode = categories[((mixed >> 17) % categories.len() as u64) as usize].code();
    let issue_id = IssueId::from_uuid(uuid::Uuid::from_u128(
        0x0100_0000_0000_0000_0000_0000_0000_0000 + number as u128,
    ))?;
    let reported_at = START_2018 + ((mixed >> 29) % (5 * 365)) as i64 * DAY;
    let at = |days: i64| Timestamp::from_unix_micros(reported_at + days * DAY);
    let mut events = vec![IssueEvent {
        occurred_at: at(0),
        body: IssueEventBody::IssueReported(IssueReported {
            issue_id,
            grid: grid.clone(),
            category: category.clone(),
            title: IssueTitle::parse("synthetic issue")?,
            description: FreeText::empty(),
            reporter_id: PersonId::parse(Field::Reporter, "worker")?,
            due_at: at(3),
            evidence: Default::default(),
            location: None,
        }),
    }];
    match mixed % 50 {
        0 => {}
        1..=15 => events.push(IssueEvent {
            occurred_at: at(1),
            body: IssueEventBody::IssueHandledInGrid(IssueHandledInGrid {
                summary: FreeText::empty(),
                evidence: Default::default(),
                location: None,
            }),
        }),
        _ => {
            events.push(IssueEvent {
                occurred_at: at(1),
                body: IssueEventBody::IssueDispatched(IssueDispatched {
                    assignee_id: PersonId::parse(Field::Assignee, "responder")?,
                    due_at: at(7),
                }),
            });
            events.push(IssueEvent {
                occurred_at: at(2 + (mixed >> 41) as i64 % 9),
                body: IssueEventBody::IssueResolved(IssueResolved {
                    summary: FreeText::empty(),
                    evidence: Default::default(),
                    location: None,
                }),
            });
        }
    }
    Ok((issue_id.stream_id(), events))
}

pub fn bench_stats(runtime: &Runtime, arguments: StatsBenchArgs) -> anyhow::Result<()> {
    let registry = Registry::builtin_runzhou();
    let scratch = tempfile::Builder::new()
        .prefix("gridledger-bench-stats-")
        .tempdir_in(arguments.dir.clone().unwrap_or_else(std::env::temp_dir))
        .context("creating the benchmark's scratch directory")?;
    println!(
        "gridledger bench stats — {} cores, scratch {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        scratch.path().display()
    );

    // 1. A log of `log_issues` issues, written with one append per issue.
    let log = EventLog::open(EventLogConfig::new(scratch.path().join("log")))?;
    let bar = progress_bar(arguments.log_issues as u64, "writing the log".to_owned());
    runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        let writers = 64;
        for writer in 0..writers {
            let log = log.clone();
            let registry = registry.clone();
            let bar = bar.clone();
            let count = arguments.log_issues;
            tasks.spawn(async move {
                for number in (writer..count).step_by(writers) {
                    let (stream, events) = synthetic_issue(number, &registry)?;
                    log.append(AppendRequest {
                        stream_id: StreamId::try_from(stream)?,
                        expected_revision: ExpectedRevision::NoStream,
                        request_id: RequestId::try_from(format!("bench-{number}"))?,
                        actor_id: String::new(),
                        events: encode_events(&events),
                    })
                    .await?;
                    bar.inc(1);
                }
                anyhow::Ok(())
            });
        }
        while let Some(result) = tasks.join_next().await {
            result??;
        }
        anyhow::Ok(())
    })?;
    bar.finish_and_clear();
    let head = log.head().position;

    // The bound: reading every event back, decoded as records, with nothing applied.
    let started = Instant::now();
    let mut next = 1;
    while next <= head {
        let events = log.read_all(next, 4_096)?;
        let Some(last) = events.last() else { break };
        next = last.position + 1;
    }
    let read_all_per_second = head as f64 / started.elapsed().as_secs_f64().max(f64::EPSILON);
    let started = Instant::now();
    let time_zone = registry.districts()[0].time_zone().clone();
    let mut rebuilt = GovernanceProjection::replay(&log, &time_zone, head, |_| {})?;
    let rebuild_per_second = head as f64 / started.elapsed().as_secs_f64().max(f64::EPSILON);
    // What a restart does instead of a replay: load the checkpoint.
    let store = log.projection_store("bench")?;
    let started = Instant::now();
    rebuilt.save_all(&store)?;
    let save_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let loaded = GovernanceProjection::load(&store, &time_zone)?;
    let load_seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        loaded.issue_count() == rebuilt.issue_count(),
        "the checkpoint lost issues"
    );
    log.close()?;

    // 2. A projection of `issues` issues, built in memory, queried at every scope.
    let bar = progress_bar(arguments.issues as u64, "building the projection".to_owned());
    let mut projection = GovernanceProjection::new(&time_zone);
    let mut position = 0;
    for number in 0..arguments.issues {
        let (stream, events) = synthetic_issue(number, &registry)?;
        for event in &events {
            position += 1;
            projection.apply(position, &stream, event)?;
        }
        if number % 10_000 == 0 {
            bar.set_position(number as u64);
        }
    }
    bar.finish_and_clear();
    let at = Timestamp::from_unix_micros(START_2018 + 6 * 365 * DAY);
    let code = |value: &str| JurisdictionCode::parse(value).map_err(|error| anyhow::anyhow!("{error}"));
    let environment = CategoryCode::parse("environment").map_err(|error| anyhow::anyhow!("{error}"))?;
    let kinds: Vec<(&str, StatsQuery)> = vec![
        (
            "district",
            StatsQuery {
                scope: None,
                category: None,
                period_start: None,
                period_end: None,
                at,
            },
        ),
        (
            "street",
            StatsQuery {
                scope: Some(code("runzhou.s3")?),
                category: None,
                period_start: None,
                period_end: None,
                at,
            },
        ),
        (
            "community",
            StatsQuery {
                scope: Some(code("runzhou.s3.c02")?),
                category: None,
                period_start: None,
                period_end: None,
                at,
            },
        ),
        (
            "grid",
            StatsQuery {
                scope: Some(code("runzhou.s3.c02.g04")?),
                category: None,
                period_start: None,
                period_end: None,
                at,
            },
        ),
        (
            "district, category",
            StatsQuery {
                scope: None,
                category: Some(environment),
                period_start: None,
                period_end: None,
                at,
            },
        ),
        (
            "district, one year",
            StatsQuery {
                scope: None,
                category: None,
                period_start: Some(Timestamp::from_unix_micros(START_2018 + 365 * DAY)),
                period_end: Some(Timestamp::from_unix_micros(START_2018 + 730 * DAY)),
                at,
            },
        ),
    ];
    println!();
    println!(
        "rebuild from the log ({head} events, {} issues):",
        rebuilt.issue_count()
    );
    println!("  read-all, records decoded (the bound)   {read_all_per_second:>12.0} events/s");
    println!(
        "  rebuild (read, decode events, fold)     {rebuild_per_second:>12.0} events/s  ({:.0}% of the bound)",
        100.0 * rebuild_per_second / read_all_per_second
    );
    println!(
        "  checkpoint of {} issues: saved in {save_seconds:.2} s, loaded in {load_seconds:.2} s ({:.0} issues/s)",
        rebuilt.issue_count(),
        rebuilt.issue_count() as f64 / load_seconds.max(f64::EPSILON)
    );
    println!();
    println!(
        "GetGovernanceStats in process, {} issues ({} queries a kind):",
        projection.issue_count(),
        arguments.queries
    );
    println!("  {:<22} {:>10} {:>10} {:>10}", "scope", "p50 ms", "p99 ms", "accepted");
    for (name, query) in &kinds {
        let mut latencies = Vec::with_capacity(arguments.queries);
        let mut accepted = 0;
        for _ in 0..arguments.queries {
            let started = Instant::now();
            let stats = projection.stats(query);
            latencies.push(started.elapsed());
            accepted = stats.accepted;
        }
        latencies.sort_unstable();
        println!(
            "  {name:<22} {:>10.3} {:>10.3} {accepted:>10}",
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3
        );
    }
    Ok(())
}
