//! `gridledger bench grpc`: durable ReportIssue commands over gRPC from concurrent clients, beside the raw sled bound of the same run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use gridledger_api::client::Client;
use gridledger_api::{CommandMeta, IssueReport};
use gridledger_domain::{CategoryCode, Field, FreeText, GridCode, IssueTitle, PersonId, Registry};
use gridledger_eventlog::{Durability, EventLog, EventLogConfig, measure_storage_bound};
use indicatif::ProgressBar;
use tokio::runtime::Runtime;

use crate::bench::{percentile, progress_bar};
use crate::throwaway::ThrowawayServer;

#[derive(Debug, Args)]
pub struct GrpcBenchArgs {
    /// Directory for the scratch data (default: a temp dir, removed after).
    #[arg(long, env = "GRIDLEDGER_BENCH_DIR")]
    dir: Option<PathBuf>,
    /// Concurrent clients (one HTTP/2 connection each).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// ReportIssue commands in all.
    #[arg(long, default_value_t = 100_000)]
    commands: usize,
}

/// One client's reports, each timed from send to acknowledgement.
async fn report_as_client(
    url: String,
    client_number: usize,
    reports: usize,
    grids: Arc<Vec<GridCode>>,
    bar: ProgressBar,
) -> anyhow::Result<Vec<Duration>> {
    let client = Client::connect(&url, None).await?;
    let category = CategoryCode::parse("environment").map_err(|error| anyhow::anyhow!("{error}"))?;
    let title = IssueTitle::parse("Overflowing bins behind building 3")?;
    let description = FreeText::parse(
        Field::Description,
        "The bins behind building 3 have not been emptied for four days; residents ask for a fix.",
    )?;
    let reporter_id = PersonId::parse(Field::Reporter, &format!("worker-{client_number}"))?;
    let mut latencies = Vec::with_capacity(reports);
    for number in 0..reports {
        let report = IssueReport {
            issue_id: None,
            grid: grids[(client_number * 7919 + number) % grids.len()].clone(),
            category: category.clone(),
            title: title.clone(),
            description: description.clone(),
            reporter_id: reporter_id.clone(),
            evidence: Default::default(),
            location: None,
        };
        let meta = CommandMeta {
            request_id: format!("bench-{client_number}-{number}"),
            expected_revision: None,
            occurred_at: None,
        };
        let sent = Instant::now();
        client.report(&meta, &report).await?;
        latencies.push(sent.elapsed());
        bar.inc(1);
    }
    Ok(latencies)
}

/// Reports from `clients` concurrent clients to a throwaway server; returns the latencies,
/// the elapsed time and the stored size of one report (for the bound's values).
async fn drive(scratch: &Path, clients: usize, per_client: usize) -> anyhow::Result<(Vec<Duration>, Duration, usize)> {
    let server = ThrowawayServer::start("server-", Some(scratch)).await?;
    let grids: Arc<Vec<GridCode>> = Arc::new(
        Registry::builtin_runzhou()
            .grids()
            .iter()
            .map(|grid| grid.code.clone())
            .collect(),
    );
    let bar = progress_bar((per_client * clients) as u64, format!("ReportIssue, {clients} clients"));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for client_number in 0..clients {
        tasks.spawn(report_as_client(
            server.url.clone(),
            client_number,
            per_client,
            Arc::clone(&grids),
            bar.clone(),
        ));
    }
    let mut latencies = Vec::with_capacity(per_client * clients);
    while let Some(result) = tasks.join_next().await {
        latencies.extend(result??);
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let data_dir = server.data_dir.clone();
    let _scratch = server.shutdown().await?;
    let log = EventLog::open(EventLogConfig::new(data_dir))?;
    let value_bytes = log.read_event(1)?.map_or(500, |event| event.record_bytes.len() + 32);
    log.close()?;
    Ok((latencies, elapsed, value_bytes))
}

pub fn bench_grpc(runtime: &Runtime, arguments: GrpcBenchArgs) -> anyhow::Result<()> {
    let scratch = tempfile::Builder::new()
        .prefix("gridledger-bench-grpc-")
        .tempdir_in(arguments.dir.clone().unwrap_or_else(std::env::temp_dir))
        .context("creating the benchmark's scratch directory")?;
    let clients = arguments.clients.max(1);
    let per_client = arguments.commands / clients;
    let (latencies, elapsed, value_bytes) = runtime.block_on(drive(scratch.path(), clients, per_client))?;
    let mut latencies: Vec<Duration> = latencies;
    latencies.sort_unstable();
    let commands_per_second = latencies.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
    let bound_64 = measure_storage_bound(
        &scratch.path().join("bound-64"),
        value_bytes,
        64,
        64 * 1_000,
        Durability::FlushAndSyncData,
    )?;
    let bound_1024 = measure_storage_bound(
        &scratch.path().join("bound-1024"),
        value_bytes,
        1_024,
        1_024 * 100,
        Durability::FlushAndSyncData,
    )?;
    println!(
        "gridledger bench grpc — {} cores, {clients} clients, {} ReportIssue commands",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        latencies.len()
    );
    println!(
        "  durable commands over gRPC   {commands_per_second:>10.0} /s   p50 {:.2} ms   p99 {:.2} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3
    );
    println!(
        "  raw sled bound ({value_bytes}-byte values, flush + fdatasync): batch 64 {:.0}/s, batch 1024 {:.0}/s",
        bound_64.values_per_second, bound_1024.values_per_second
    );
    println!(
        "  ratio: {:.1}% of the batch-64 bound, {:.1}% of the batch-1024 bound",
        100.0 * commands_per_second / bound_64.values_per_second,
        100.0 * commands_per_second / bound_1024.values_per_second
    );
    Ok(())
}
