//! `gridledger bench`: the benchmark harness; every throughput is printed beside the raw storage bound of the same run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use gridledger_eventlog::{
    AppendRequest, Durability, EventLog, EventLogConfig, ExpectedRevision, NewEvent, RequestId, StreamId,
    measure_storage_bound,
};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::runtime::Runtime;

#[derive(Debug, Subcommand)]
pub enum BenchTarget {
    /// The event log: raw sled bound, durable appends at 1/16/64 appenders, read-all.
    Log(LogBenchArgs),
    /// The projections: rebuild throughput beside raw read-all, and GetGovernanceStats latency.
    Stats(crate::bench_stats::StatsBenchArgs),
    /// Durable ReportIssue commands over gRPC from concurrent clients, beside the sled bound.
    Grpc(crate::bench_grpc::GrpcBenchArgs),
    /// Durable appends with the NATS outbox on beside off, and its catch-up after an outage, beside the sled bound.
    Outbox(crate::bench_outbox::OutboxBenchArgs),
    /// Grid apps in the field: reports as unary calls beside SubmitCommands streams (one client, 64), and 3 MB photo uploads, against a server in its own process, beside the storage bound.
    Field(crate::bench_field::FieldBenchArgs),
}

#[derive(Debug, Args)]
pub struct LogBenchArgs {
    /// Directory for the benchmark's scratch databases (default: a temp dir, removed after).
    #[arg(long, env = "GRIDLEDGER_BENCH_DIR")]
    dir: Option<PathBuf>,
    /// Appends per run at 16 and 64 appenders (the single appender does a tenth).
    #[arg(long, default_value_t = 60_000)]
    appends: usize,
    /// Payload bytes per event (an issue event encodes to roughly 300).
    #[arg(long, default_value_t = 300)]
    payload_bytes: usize,
}

/// Runs one benchmark, or without a target the whole suite (`--json`: one JSON object); the
/// async parts run on the binary's one `runtime`.
pub fn run(
    runtime: &Runtime,
    target: Option<BenchTarget>,
    suite: crate::bench_suite::SuiteArgs,
    json: bool,
) -> anyhow::Result<()> {
    match target {
        None => crate::bench_suite::run(runtime, suite, json),
        Some(BenchTarget::Log(arguments)) => bench_log(runtime, arguments),
        Some(BenchTarget::Stats(arguments)) => crate::bench_stats::bench_stats(runtime, arguments),
        Some(BenchTarget::Grpc(arguments)) => crate::bench_grpc::bench_grpc(runtime, arguments),
        Some(BenchTarget::Outbox(arguments)) => crate::bench_outbox::bench_outbox(runtime, arguments),
        Some(BenchTarget::Field(arguments)) => crate::bench_field::bench_field(runtime, json, arguments),
    }
}

/// Throughput and latency of one appender configuration.
struct AppendFigures {
    appenders: usize,
    durability: Durability,
    appends_per_second: f64,
    p50: Duration,
    p99: Duration,
    commits: u64,
    appends: u64,
}

fn bench_log(runtime: &Runtime, arguments: LogBenchArgs) -> anyhow::Result<()> {
    let scratch = tempfile::Builder::new()
        .prefix("gridledger-bench-")
        .tempdir_in(arguments.dir.clone().unwrap_or_else(std::env::temp_dir))
        .context("creating the benchmark's scratch directory")?;
    println!(
        "gridledger bench log — {} cores, payload {} bytes, scratch {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        arguments.payload_bytes,
        scratch.path().display()
    );

    let configurations = [
        (1, arguments.appends / 10, Durability::FlushAndSyncData),
        (16, arguments.appends, Durability::FlushAndSyncData),
        (64, arguments.appends, Durability::FlushAndSyncData),
        (64, arguments.appends, Durability::SledFlushOnly),
    ];
    let mut figures = Vec::new();
    for (index, (appenders, appends, durability)) in configurations.into_iter().enumerate() {
        let directory = scratch.path().join(format!("log-{index}"));
        figures.push(runtime.block_on(bench_appends(
            &directory,
            appenders,
            appends.max(appenders),
            durability,
            arguments.payload_bytes,
        ))?);
    }

    // Read-all over the biggest durable log, and its size on disk.
    let read_directory = scratch.path().join("log-2");
    let (read_events_per_second, stored_value_bytes, record_bytes_total, disk_bytes) = bench_read_all(&read_directory)?;

    // The storage bound: raw sled batch + flush (+ fdatasync) with values of the stored size.
    let bound_values = arguments.appends.max(1_024);
    let mut bounds = Vec::new();
    for (values_per_batch, durability, total) in [
        (1, Durability::SledFlushOnly, bound_values / 20),
        (1, Durability::FlushAndSyncData, bound_values / 20),
        (64, Durability::SledFlushOnly, bound_values),
        (64, Durability::FlushAndSyncData, bound_values),
        (1_024, Durability::FlushAndSyncData, bound_values * 2),
    ] {
        let directory = scratch.path().join(format!("bound-{values_per_batch}-{durability:?}"));
        bounds.push(measure_storage_bound(
            &directory,
            stored_value_bytes,
            values_per_batch,
            total.max(values_per_batch),
            durability,
        )?);
    }
    let durable_bound_at_batch = |values_per_batch: usize| {
        bounds
            .iter()
            .find(|bound| {
                bound.durability == Durability::FlushAndSyncData && bound.values_per_batch == values_per_batch
            })
            .map_or(f64::NAN, |bound| bound.values_per_second)
    };
    let bound = durable_bound_at_batch(1_024);
    let bound_at_64 = durable_bound_at_batch(64);

    println!();
    println!("storage bound: raw sled, {stored_value_bytes}-byte values, one batch + flush per row");
    println!(
        "  {:>8}  {:<34}  {:>14}  {:>12}",
        "batch", "durability", "values/s", "flushes/s"
    );
    for row in &bounds {
        println!(
            "  {:>8}  {:<34}  {:>14.0}  {:>12.0}",
            row.values_per_batch,
            durability_name(row.durability),
            row.values_per_second,
            row.batches_per_second
        );
    }
    println!(
        "  bounds used for ratios: {bound:.0} values/s (durable, batch 1024) and {bound_at_64:.0} values/s (durable, batch 64)"
    );
    println!();
    println!(
        "log appends: one event of {} payload bytes per append, each acknowledged after its group commit",
        arguments.payload_bytes
    );
    println!(
        "  {:>9}  {:<34}  {:>12}  {:>9}  {:>9}  {:>13}  {:>10}  {:>10}",
        "appenders", "durability", "appends/s", "p50 ms", "p99 ms", "appends/flush", "vs b=1024", "vs b=64"
    );
    for row in &figures {
        println!(
            "  {:>9}  {:<34}  {:>12.0}  {:>9.3}  {:>9.3}  {:>13.1}  {:>9.1}%  {:>9.1}%",
            row.appenders,
            durability_name(row.durability),
            row.appends_per_second,
            row.p50.as_secs_f64() * 1e3,
            row.p99.as_secs_f64() * 1e3,
            row.appends as f64 / row.commits.max(1) as f64,
            100.0 * row.appends_per_second / bound,
            100.0 * row.appends_per_second / bound_at_64
        );
    }
    println!();
    println!(
        "read-all: {read_events_per_second:.0} events/s decoded ({:.1}x the batch-1024 bound)",
        read_events_per_second / bound
    );
    println!(
        "disk: {disk_bytes} bytes on disk for {record_bytes_total} record bytes ({:.2}x)",
        disk_bytes as f64 / record_bytes_total.max(1) as f64
    );
    Ok(())
}

fn durability_name(durability: Durability) -> &'static str {
    match durability {
        Durability::FlushAndSyncData => "sled flush + fdatasync (default)",
        Durability::SledFlushOnly => "sled flush only (not power-safe)",
    }
}

/// The `fraction` percentile of sorted latencies (nearest rank below).
pub fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 * fraction) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

pub fn progress_bar(length: u64, message: String) -> ProgressBar {
    let bar = ProgressBar::new(length);
    bar.set_style(
        ProgressStyle::with_template("{msg:40} {bar:40} {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(message);
    bar
}

async fn bench_appends(
    directory: &Path,
    appenders: usize,
    appends: usize,
    durability: Durability,
    payload_bytes: usize,
) -> anyhow::Result<AppendFigures> {
    let mut config = EventLogConfig::new(directory);
    config.durability = durability;
    let log = EventLog::open(config)?;
    let bar = progress_bar(appends as u64, format!("appends, {appenders} appenders"));
    let per_appender = appends / appenders;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for appender in 0..appenders {
        let log = log.clone();
        let bar = bar.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(per_appender);
            let payload = vec![b'x'; payload_bytes];
            for number in 0..per_appender {
                let request = AppendRequest {
                    stream_id: StreamId::try_from(format!("issue-bench-{appender}-{}", number / 8))?,
                    expected_revision: ExpectedRevision::Any,
                    request_id: RequestId::try_from(format!("bench-{appender}-{number}"))?,
                    actor_id: format!("worker-{appender}"),
                    events: vec![NewEvent {
                        event_type: "IssueReported".to_owned(),
                        occurred_at_micros: 1_700_000_000_000_000,
                        payload: payload.clone(),
                    }],
                };
                let sent = Instant::now();
                log.append(request).await?;
                latencies.push(sent.elapsed());
                bar.inc(1);
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(appends);
    while let Some(result) = tasks.join_next().await {
        latencies.extend(result??);
    }
    let elapsed = started.elapsed().as_secs_f64().max(f64::EPSILON);
    bar.finish_and_clear();
    latencies.sort_unstable();
    let stats = log.stats();
    log.close()?;
    Ok(AppendFigures {
        appenders,
        durability,
        appends_per_second: latencies.len() as f64 / elapsed,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        commits: stats.durable_commits,
        appends: stats.appends_written,
    })
}

/// Reads the whole log once; returns (events/s, mean stored value bytes, record bytes, disk bytes).
fn bench_read_all(directory: &Path) -> anyhow::Result<(f64, usize, u64, u64)> {
    let log = EventLog::open(EventLogConfig::new(directory))?;
    let head = log.head().position;
    let bar = progress_bar(head, "read-all".to_owned());
    let started = Instant::now();
    let mut next = 1;
    let mut record_bytes: u64 = 0;
    while next <= head {
        let events = log.read_all(next, 4_096)?;
        let Some(last) = events.last() else { break };
        next = last.position + 1;
        record_bytes += events.iter().map(|event| event.record_bytes.len() as u64).sum::<u64>();
        bar.set_position(next - 1);
    }
    let elapsed = started.elapsed().as_secs_f64().max(f64::EPSILON);
    bar.finish_and_clear();
    let disk_bytes = log.size_on_disk()?;
    log.close()?;
    let mean_value_bytes = (record_bytes / head.max(1)) as usize + 32;
    Ok((head as f64 / elapsed, mean_value_bytes, record_bytes, disk_bytes))
}
