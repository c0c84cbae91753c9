//! `gridledger bench grpc`: durable ReportIssue commands over gRPC from concurrent clients, beside the raw sled bound of the same run.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use gridledger_api::proto;
use gridledger_api::proto::issue_service_client::IssueServiceClient;
use gridledger_domain::Registry;
use gridledger_eventlog::{Durability, measure_storage_bound};
use gridledger_server::{ServerConfig, start};

use crate::bench::{percentile, progress_bar};

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

pub fn bench_grpc(arguments: GrpcBenchArgs) -> anyhow::Result<()> {
    let scratch = tempfile::Builder::new()
        .prefix("gridledger-bench-grpc-")
        .tempdir_in(arguments.dir.clone().unwrap_or_else(std::env::temp_dir))
        .context("creating the benchmark's scratch directory")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let clients = arguments.clients.max(1);
    let per_client = arguments.commands / clients;
    let (latencies, elapsed, value_bytes) = runtime.block_on(async {
        let server = start(
            ServerConfig {
                data_dir: scratch.path().join("data"),
                listen: "127.0.0.1:0".parse()?,
                registry: Registry::builtin_runzhou(),
            },
            std::future::pending(),
        )
        .await?;
        let url = format!("http://{}", server.local_addr);
        let registry = Registry::builtin_runzhou();
        let grids: Vec<String> = registry
            .grids()
            .iter()
            .map(|grid| grid.code.as_str().to_owned())
            .collect();
        let bar = progress_bar((per_client * clients) as u64, format!("ReportIssue, {clients} clients"));
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for client_number in 0..clients {
            let channel = crate::client::connect(&url).await?;
            let grids = grids.clone();
            let bar = bar.clone();
            tasks.spawn(async move {
                let mut client = IssueServiceClient::new(channel);
                let mut latencies = Vec::with_capacity(per_client);
                for number in 0..per_client {
                    let request = proto::ReportIssueRequest {
                        meta: Some(proto::CommandMeta {
                            request_id: format!("bench-{client_number}-{number}"),
                            expected_revision: None,
                            occurred_at: None,
                        }),
                        issue_id: String::new(),
                        grid_code: grids[(client_number * 7919 + number) % grids.len()].clone(),
                        category: "environment".to_owned(),
                        title: "Overflowing bins behind building 3".to_owned(),
                        description:
                            "The bins behind building 3 have not been emptied for four days; residents ask for a fix."
                                .to_owned(),
                        reporter_id: format!("worker-{client_number}"),
                    };
                    let sent = Instant::now();
                    client.report_issue(request).await?;
                    latencies.push(sent.elapsed());
                    bar.inc(1);
                }
                anyhow::Ok(latencies)
            });
        }
        let mut latencies = Vec::with_capacity(per_client * clients);
        while let Some(result) = tasks.join_next().await {
            latencies.extend(result??);
        }
        let elapsed = started.elapsed();
        bar.finish_and_clear();
        server.shutdown().await?;
        // The stored size of one such event, for the bound's values.
        let log =
            gridledger_eventlog::EventLog::open(gridledger_eventlog::EventLogConfig::new(scratch.path().join("data")))?;
        let value_bytes = log.read_event(1)?.map_or(500, |event| event.record_bytes.len() + 32);
        log.close()?;
        anyhow::Ok((latencies, elapsed, value_bytes))
    })?;
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
