//! `gridledger bench` without a target: the whole suite, each figure beside its bound measured in the same run, against docs/performance.md's targets.
//!
//! In order: the storage bound (raw sled, durable); a server in its own process; load from
//! other processes (`gridledger load`: the transport bound, ReportIssue, the lifecycle and
//! read mixes, at 64 clients and at one); the server's resident set and disk; the time from
//! restarting it to serving statistics; the rebuild of its statistics beside a raw read-all;
//! and (not with `--quick`) a large log written, reopened and rebuilt in this process.

mod large;
pub(crate) mod process;
mod proofs;
mod table;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use gridledger_eventlog::{Durability, StorageBound, measure_storage_bound};
use tokio::runtime::Runtime;

use large::{
    DISK_TARGET_RATIO, REBUILD_TARGET_PER_SECOND, REOPEN_TARGET_SECONDS, RSS_TARGET_KIB, ReadPass, open_log,
    read_all_timed, replay_timed, report_value_bytes, spawn_until_stats,
};
use process::{LoadSpec, RssSampler, ServerProcess, directory_size, run_load, spinner, status_kib};
use table::{Grid, Row, Section, Verdict, bytes, ms, percent, rate, seconds, thousands, times};

/// ReportIssue at 64 clients: at least half the transport bound's rate...
const REPORT_TARGET_RATIO: f64 = 0.5;
/// ...with p99 at most 10 ms.
const REPORT_P99_TARGET_MS: f64 = 10.0;
/// The lifecycle mix at 64 clients: at least 40% of the transport bound.
const LIFECYCLE_TARGET_RATIO: f64 = 0.4;
/// One client: ReportIssue p50 at most transport p50 + durable flush p50 + 0.2 ms.
const SINGLE_CLIENT_MARGIN_MS: f64 = 0.2;
/// How long a server may take to start listening on an empty or small log.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long a server may take to stop after SIGTERM (it saves its checkpoint).
const STOP_DEADLINE: Duration = Duration::from_secs(120);
/// How long a server may take to serve statistics on the large log.
const LARGE_SERVER_DEADLINE: Duration = Duration::from_secs(1_800);

#[derive(Debug, Clone, Args)]
pub struct SuiteArgs {
    /// A short run (a few minutes on two cores): fewer commands, no large log.
    #[arg(long)]
    quick: bool,
    /// Directory for the scratch data (default: a temp dir); removed after unless --keep.
    #[arg(long, env = "GRIDLEDGER_BENCH_DIR")]
    dir: Option<PathBuf>,
    /// Keep the scratch data (the server's log, the large log, the child processes' logs).
    #[arg(long)]
    keep: bool,
    /// Leave out the large log (section 7).
    #[arg(long)]
    skip_large: bool,
    /// Events in the large log (section 7).
    #[arg(long, default_value_t = 10_000_000, value_name = "N")]
    large_events: u64,
    /// Concurrent clients of the concurrent runs.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// HTTP/2 connections the concurrent runs' clients share.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Health checks at --clients (the transport bound) [default: 200,000; --quick 40,000].
    #[arg(long, value_name = "N")]
    health_commands: Option<usize>,
    /// ReportIssue commands at --clients [default: 100,000; --quick 20,000].
    #[arg(long, value_name = "N")]
    report_commands: Option<usize>,
    /// Health checks and ReportIssue commands of each one-client run [default: 10,000; --quick 2,000].
    #[arg(long, value_name = "N")]
    single_commands: Option<usize>,
    /// Lifecycle-mix commands at --clients [default: 50,000; --quick 10,000].
    #[arg(long, value_name = "N")]
    lifecycle_commands: Option<usize>,
    /// Read-mix calls at --clients [default: 50,000; --quick 10,000].
    #[arg(long, value_name = "N")]
    read_commands: Option<usize>,
    /// Internal: only the large log, in --dir, its figures as JSON (the suite runs section 7
    /// in a process of its own, so that process's resident set is the log's alone).
    #[arg(long, hide = true, requires = "dir")]
    large_only: bool,
}

impl SuiteArgs {
    fn count(&self, given: Option<usize>, full: usize, quick: usize) -> usize {
        given.unwrap_or(if self.quick { quick } else { full }).max(1)
    }

    /// The load runs, in order.
    fn loads(&self) -> Vec<LoadSpec> {
        let clients = self.clients.max(1);
        let connections = self.connections.clamp(1, clients);
        let single = self.count(self.single_commands, 10_000, 2_000);
        let spec = |key: &str, mix: &'static str, clients: usize, connections: usize, commands: usize| LoadSpec {
            key: key.to_owned(),
            mix,
            clients,
            connections,
            commands,
        };
        vec![
            spec(
                "health",
                "health",
                clients,
                connections,
                self.count(self.health_commands, 200_000, 40_000),
            ),
            spec("health_single", "health", 1, 1, single),
            spec(
                "report",
                "report",
                clients,
                connections,
                self.count(self.report_commands, 100_000, 20_000),
            ),
            spec("report_single", "report", 1, 1, single),
            spec(
                "lifecycle",
                "lifecycle",
                clients,
                connections,
                self.count(self.lifecycle_commands, 50_000, 10_000),
            ),
            spec(
                "read",
                "read",
                clients,
                connections,
                self.count(self.read_commands, 50_000, 10_000),
            ),
        ]
    }
}

/// Prints each section as it is done (or, with `--json`, everything as one object at the end).
#[derive(Debug)]
struct Output {
    json: bool,
    object: serde_json::Map<String, serde_json::Value>,
    verdicts: Vec<serde_json::Value>,
}

impl Output {
    fn section(&mut self, key: &str, section: &Section, figures: serde_json::Value) {
        if !self.json {
            section.print();
        }
        self.verdicts.extend(section.verdicts_json(key));
        self.object.insert(key.to_owned(), figures);
    }
}

/// Runs the suite; the async parts run on the binary's one `runtime`.
pub fn run(runtime: &Runtime, arguments: SuiteArgs, json: bool) -> anyhow::Result<()> {
    if arguments.large_only {
        let directory = arguments.dir.clone().context("--large-only needs --dir")?;
        let figures = large::large_log(runtime, &directory, arguments.large_events, LARGE_SERVER_DEADLINE)?;
        println!("{figures}");
        return Ok(());
    }
    let started = Instant::now();
    let parent = arguments.dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let mut scratch = tempfile::Builder::new()
        .prefix("gridledger-bench-suite-")
        .tempdir_in(&parent)
        .context("creating the benchmark's scratch directory")?;
    scratch.disable_cleanup(arguments.keep);
    let scratch_path = scratch.path().to_owned();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let with_large = !arguments.quick && !arguments.skip_large;
    let loads = arguments.loads();
    if !json {
        println!(
            "gridledger bench{} — {cores} cores, server and load in their own processes, scratch {}{}",
            if arguments.quick { " --quick" } else { "" },
            scratch_path.display(),
            if arguments.keep { " (kept)" } else { "" }
        );
    }
    let mut output = Output {
        json,
        object: serde_json::Map::new(),
        verdicts: Vec::new(),
    };
    output.object.insert("benchmark".into(), "suite".into());
    output.object.insert("quick".into(), arguments.quick.into());
    output.object.insert("cores".into(), cores.into());
    output
        .object
        .insert("scratch".into(), scratch_path.display().to_string().into());

    // 1. The storage bound.
    let value_bytes = report_value_bytes(runtime, &scratch_path.join("value-size"))?;
    let bounds = storage_bounds(&scratch_path, value_bytes, arguments.quick)?;
    let (section, figures) = storage_section(value_bytes, &bounds);
    output.section("storage_bound", &section, figures);
    let flush_ms = bounds.batch_1.flush_ms();

    // 2. The server in its own process.
    let data_dir = scratch_path.join("server");
    let server = ServerProcess::start(&data_dir, &scratch_path.join("server-1.log"), START_DEADLINE)?;
    let (listening_seconds, address) = server.listening().unwrap_or((f64::NAN, String::new()));
    let rss_at_start = status_kib(Some(server.pid()), "VmRSS");
    let mut section = Section::new("2. Server in its own process");
    section.note(format!(
        "gridledger serve (pid {}) on {address}, data in {}, GRIDLEDGER_LOG=warn; listening {} after spawn; RSS {}",
        server.pid(),
        data_dir.display(),
        seconds(listening_seconds),
        rss_at_start.map_or("n/a".to_owned(), |kib| bytes(kib * 1024))
    ));
    output.section(
        "server",
        &section,
        serde_json::json!({
            "pid": server.pid(),
            "address": address,
            "data_dir": data_dir.display().to_string(),
            "seconds_to_listening": listening_seconds,
            "rss_at_start_kib": rss_at_start,
        }),
    );

    // 3. Load from other processes, the server's resident set sampled meanwhile.
    let sampler = RssSampler::start(Some(server.pid()));
    let mut runs = Vec::new();
    for spec in &loads {
        sampler.take_peak();
        let figures = run_load(&server.url, spec, &scratch_path.join(format!("load-{}.log", spec.key)))?;
        runs.push(LoadRun {
            spec: spec.clone(),
            figures,
            server_peak_rss_kib: sampler.take_peak(),
        });
    }
    let (section, figures) = load_section(&runs, flush_ms);
    output.section("load", &section, figures);

    // 4. The server process: its resident set after the load, then (stopped) its disk.
    std::thread::sleep(Duration::from_secs(1));
    let rss_after_load = status_kib(Some(server.pid()), "VmRSS");
    let server_hwm = status_kib(Some(server.pid()), "VmHWM");
    let sampled_peak = runs.iter().map(|run| run.server_peak_rss_kib).max().unwrap_or(0);
    drop(sampler);
    let stop_seconds = server.stop(STOP_DEADLINE)?;
    let (disk_bytes, disk_allocated) = directory_size(&data_dir)?;

    // 5. Restart to serving statistics.
    let (restarted, restart_seconds, accepted) = spawn_until_stats(
        runtime,
        &data_dir,
        &scratch_path.join("server-2.log"),
        Duration::from_secs(300),
    )?;
    let restart_listening = restarted.listening().map(|(at, _)| at);
    let rss_after_restart = status_kib(Some(restarted.pid()), "VmRSS");
    let second_stop_seconds = restarted.stop(STOP_DEADLINE)?;

    // 6. Rebuild, in this process, over the stopped server's log.
    let log = open_log(&data_dir)?;
    let read = read_all_timed(&log, Some("server log: read-all"))?;
    let (projection, rebuild_seconds) = replay_timed(&log, "server log: rebuild")?;
    let issues = projection.issue_count();
    drop(projection);
    let sled_size_on_disk = log.size_on_disk()?;
    let proof_figures = proofs::measure_proofs(&log)?;
    log.close()?;
    drop(log);

    let (section, figures) = server_process_section(ServerProcessFigures {
        sampled_peak_kib: sampled_peak,
        hwm_kib: server_hwm,
        rss_after_load_kib: rss_after_load,
        disk_bytes,
        disk_allocated,
        sled_size_on_disk,
        read,
        issues,
    });
    output.section("server_process", &section, figures);

    let mut section = Section::new("5. Restart to serving statistics (SIGTERM, wait, spawn again)");
    section.note(format!(
        "log of {} events, {} issues; the first server stopped {} after SIGTERM, the second {}",
        thousands(read.events),
        thousands(issues as u64),
        seconds(stop_seconds),
        seconds(second_stop_seconds)
    ));
    section.row(
        Row::info("spawn to GetGovernanceStats (district)", seconds(restart_seconds))
            .bound(format!(
                "listening after {}",
                restart_listening.map_or("n/a".to_owned(), seconds)
            ))
            .target("≤ 2 s", Verdict::at_most(restart_seconds, REOPEN_TARGET_SECONDS)),
    );
    section.row(Row::info(
        "server RSS once serving",
        rss_after_restart.map_or("n/a".to_owned(), |kib| bytes(kib * 1024)),
    ));
    output.section(
        "restart",
        &section,
        serde_json::json!({
            "seconds_to_stats": restart_seconds,
            "seconds_to_listening": restart_listening,
            "accepted_in_answer": accepted,
            "stop_seconds": stop_seconds,
            "second_stop_seconds": second_stop_seconds,
            "rss_serving_kib": rss_after_restart,
            "log_events": read.events,
            "issues": issues,
        }),
    );

    let rebuild_per_second = read.events as f64 / rebuild_seconds.max(f64::EPSILON);
    let mut section = Section::new("6. Rebuild of the statistics from the server's log, in this process");
    section.note(format!(
        "GovernanceProjection::replay over {} events ({} issues) beside a raw read_all of the same log",
        thousands(read.events),
        thousands(issues as u64)
    ));
    section.row(
        Row::info("rebuild (replay)", rate(rebuild_per_second, "events/s"))
            .bound(format!("read-all {}", rate(read.events_per_second(), "events/s")))
            .ratio(percent(rebuild_per_second / read.events_per_second()))
            .target(
                "≥ 1,000,000 events/s",
                Verdict::at_least(rebuild_per_second, REBUILD_TARGET_PER_SECOND),
            ),
    );
    output.section(
        "rebuild",
        &section,
        serde_json::json!({
            "events": read.events,
            "issues": issues,
            "rebuild_seconds": rebuild_seconds,
            "rebuild_events_per_second": rebuild_per_second,
            "read_all_seconds": read.seconds,
            "read_all_events_per_second": read.events_per_second(),
            "vs_read_all": rebuild_per_second / read.events_per_second(),
        }),
    );

    let mut section = Section::new("6b. Merkle proofs over the server's log, in this process");
    section.note(format!(
        "{} inclusion and {} consistency proofs to the head, random positions and sizes, each verified",
        thousands(proofs::PROOF_SAMPLES as u64),
        thousands(proofs::PROOF_SAMPLES as u64)
    ));
    let proof_json = proof_figures.json();
    proofs::proof_rows(&mut section, &proof_json);
    output.section("proofs", &section, proof_json);

    // 7. The large log.
    if with_large {
        let figures = large_log_in_own_process(&scratch_path, arguments.large_events)?;
        output.section("large_log", &large::large_section(&figures), figures);
    } else {
        output.object.insert("large_log".into(), serde_json::Value::Null);
        if !json {
            println!();
            println!(
                "7. Large log: left out ({})",
                if arguments.quick { "--quick" } else { "--skip-large" }
            );
        }
    }

    let wall_seconds = started.elapsed().as_secs_f64();
    let met = output
        .verdicts
        .iter()
        .filter(|verdict| verdict["met"] == serde_json::Value::Bool(true))
        .count();
    let judged = output.verdicts.len();
    if json {
        let Output {
            mut object, verdicts, ..
        } = output;
        object.insert("verdicts".into(), verdicts.into());
        object.insert("targets_met".into(), met.into());
        object.insert("targets_judged".into(), judged.into());
        object.insert("wall_seconds".into(), wall_seconds.into());
        println!("{}", serde_json::to_string_pretty(&serde_json::Value::Object(object))?);
    } else {
        println!();
        println!("targets met: {met} of {judged}; wall time {wall_seconds:.0} s");
    }
    Ok(())
}

/// Runs section 7 as `gridledger bench --large-only` in a process of its own (its progress
/// on this terminal); its figures.
fn large_log_in_own_process(scratch: &std::path::Path, events: u64) -> anyhow::Result<serde_json::Value> {
    let mut child = process::gridledger_command()?
        .args(["bench", "--large-only", "--large-events", &events.to_string(), "--dir"])
        .arg(scratch)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .context("spawning gridledger bench --large-only")?;
    let stdout = child.stdout.take();
    let mut child = process::ChildGuard::new(child, "gridledger bench --large-only");
    let mut text = String::new();
    if let Some(mut stdout) = stdout {
        std::io::Read::read_to_string(&mut stdout, &mut text).context("reading the large log's figures")?;
    }
    let status = child
        .wait_for(LARGE_SERVER_DEADLINE * 4)?
        .context("the large log's process did not exit after closing its output")?;
    anyhow::ensure!(status.success(), "the large log's process failed ({status})");
    let figures: serde_json::Value =
        serde_json::from_str(text.trim()).with_context(|| format!("reading the large log's figures: {text:?}"))?;
    Ok(figures)
}

/// The durable storage bound at batch 1, 64 and 1,024.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    batch_1: StorageBound,
    batch_64: StorageBound,
    batch_1024: StorageBound,
}

trait FlushTime {
    /// The mean time of one batch + flush + fdatasync, in ms.
    fn flush_ms(&self) -> f64;
}

impl FlushTime for StorageBound {
    fn flush_ms(&self) -> f64 {
        1e3 / self.batches_per_second.max(f64::EPSILON)
    }
}

fn storage_bounds(scratch: &std::path::Path, value_bytes: usize, quick: bool) -> anyhow::Result<Bounds> {
    let scale = if quick { 1 } else { 4 };
    let measure = |values_per_batch: usize, batches: usize| {
        let spinner = spinner(format!("storage bound: batch {values_per_batch}, {batches} batches"));
        let bound = measure_storage_bound(
            &scratch.join(format!("bound-{values_per_batch}")),
            value_bytes,
            values_per_batch,
            values_per_batch * batches,
            Durability::FlushAndSyncData,
        );
        spinner.finish_and_clear();
        bound
    };
    Ok(Bounds {
        batch_1: measure(1, 500 * scale)?,
        batch_64: measure(64, 300 * scale)?,
        batch_1024: measure(1_024, 50 * scale)?,
    })
}

fn storage_section(value_bytes: usize, bounds: &Bounds) -> (Section, serde_json::Value) {
    let mut section = Section::new(format!(
        "1. Storage bound: raw sled, {value_bytes}-byte values (a stored ReportIssue), one batch + sled flush + fdatasync at a time"
    ));
    let mut grid = Grid::new(&["batch", "values/s", "flushes/s", "flush (mean)"]);
    for bound in [&bounds.batch_1, &bounds.batch_64, &bounds.batch_1024] {
        grid.push(vec![
            thousands(bound.values_per_batch as u64),
            rate(bound.values_per_second, ""),
            rate(bound.batches_per_second, ""),
            ms(bound.flush_ms()),
        ]);
    }
    section.grid = Some(grid);
    section.note(
        "the durable flush at batch 1 (its mean: measure_storage_bound times batches, not single flushes) \
         is the one-client target's flush term",
    );
    let bound_json = |bound: &StorageBound| {
        serde_json::json!({
            "values_per_batch": bound.values_per_batch,
            "values_per_second": bound.values_per_second,
            "flushes_per_second": bound.batches_per_second,
            "flush_mean_ms": bound.flush_ms(),
        })
    };
    let figures = serde_json::json!({
        "value_bytes": value_bytes,
        "durability": "flush_and_sync_data",
        "batch_1": bound_json(&bounds.batch_1),
        "batch_64": bound_json(&bounds.batch_64),
        "batch_1024": bound_json(&bounds.batch_1024),
        "flush_p50_ms": bounds.batch_1.flush_ms(),
        "flush_p50_is_mean": true,
    });
    (section, figures)
}

/// One `gridledger load` run: what was asked, its JSON, and the server's peak RSS meanwhile.
#[derive(Debug, Clone)]
struct LoadRun {
    spec: LoadSpec,
    figures: serde_json::Value,
    server_peak_rss_kib: u64,
}

impl LoadRun {
    fn number(&self, key: &str) -> f64 {
        self.figures
            .get(key)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(f64::NAN)
    }

    fn errors(&self) -> u64 {
        self.figures
            .get("errors")
            .and_then(serde_json::Value::as_object)
            .map_or(0, |errors| errors.values().filter_map(serde_json::Value::as_u64).sum())
    }

    fn errors_text(&self) -> String {
        match self.figures.get("errors").and_then(serde_json::Value::as_object) {
            Some(errors) if !errors.is_empty() => errors
                .iter()
                .map(|(code, count)| format!("{code}:{}", count.as_u64().unwrap_or(0)))
                .collect::<Vec<_>>()
                .join(" "),
            _ => "0".to_owned(),
        }
    }
}

fn load_section(runs: &[LoadRun], flush_ms: f64) -> (Section, serde_json::Value) {
    let find = |key: &str| runs.iter().find(|run| run.spec.key == key);
    let mut section = Section::new(
        "3. Load from other processes: gridledger load against the server, the transport bound (Health/Check) at the same concurrency",
    );
    let mut grid = Grid::new(&[
        "run",
        "clients",
        "conns",
        "ops",
        "ok",
        "errors",
        "ops/s",
        "p50",
        "p90",
        "p99",
        "max",
        "server RSS peak",
    ]);
    for run in runs {
        grid.push(vec![
            run.spec.key.clone(),
            run.spec.clients.to_string(),
            run.spec.connections.to_string(),
            thousands(run.number("operations") as u64),
            thousands(run.number("ok") as u64),
            run.errors_text(),
            rate(run.number("ops_per_second"), ""),
            ms(run.number("p50_ms")),
            ms(run.number("p90_ms")),
            ms(run.number("p99_ms")),
            ms(run.number("max_ms")),
            bytes(run.server_peak_rss_kib * 1024),
        ]);
    }
    section.grid = Some(grid);

    let mut ratios = serde_json::Map::new();
    if let (Some(health), Some(report)) = (find("health"), find("report")) {
        let concurrency = format!("{} clients", report.spec.clients);
        let ratio = report.number("ops_per_second") / health.number("ops_per_second");
        ratios.insert("report_vs_transport".into(), ratio.into());
        section.row(
            Row::info(
                format!("ReportIssue rate, {concurrency}"),
                rate(report.number("ops_per_second"), "/s"),
            )
            .bound(format!("transport {}", rate(health.number("ops_per_second"), "/s")))
            .ratio(percent(ratio))
            .target(
                "≥ 50% of the transport bound",
                Verdict::at_least(ratio, REPORT_TARGET_RATIO),
            ),
        );
        section.row(
            Row::info(format!("ReportIssue p99, {concurrency}"), ms(report.number("p99_ms")))
                .bound(format!("transport p99 {}", ms(health.number("p99_ms"))))
                .ratio(times(report.number("p99_ms") / health.number("p99_ms")))
                .target(
                    "≤ 10 ms",
                    Verdict::at_most(report.number("p99_ms"), REPORT_P99_TARGET_MS),
                ),
        );
    }
    if let (Some(health), Some(lifecycle)) = (find("health"), find("lifecycle")) {
        let ratio = lifecycle.number("ops_per_second") / health.number("ops_per_second");
        ratios.insert("lifecycle_vs_transport".into(), ratio.into());
        section.row(
            Row::info(
                format!("lifecycle mix rate, {} clients", lifecycle.spec.clients),
                rate(lifecycle.number("ops_per_second"), "/s"),
            )
            .bound(format!("transport {}", rate(health.number("ops_per_second"), "/s")))
            .ratio(percent(ratio))
            .target(
                "≥ 40% of the transport bound",
                Verdict::at_least(ratio, LIFECYCLE_TARGET_RATIO),
            ),
        );
    }
    if let (Some(health), Some(read)) = (find("health"), find("read")) {
        let ratio = read.number("ops_per_second") / health.number("ops_per_second");
        ratios.insert("read_vs_transport".into(), ratio.into());
        section.row(
            Row::info(
                format!("read mix rate, {} clients", read.spec.clients),
                rate(read.number("ops_per_second"), "/s"),
            )
            .bound(format!("transport {}", rate(health.number("ops_per_second"), "/s")))
            .ratio(percent(ratio)),
        );
    }
    let mut single_json = serde_json::Value::Null;
    if let (Some(health), Some(report)) = (find("health_single"), find("report_single")) {
        let bound = health.number("p50_ms") + flush_ms;
        let limit = bound + SINGLE_CLIENT_MARGIN_MS;
        let p50 = report.number("p50_ms");
        ratios.insert("report_single_p50_vs_bound".into(), (p50 / bound).into());
        single_json = serde_json::json!({
            "report_p50_ms": p50,
            "transport_p50_ms": health.number("p50_ms"),
            "durable_flush_ms": flush_ms,
            "bound_ms": bound,
            "target_ms": limit,
        });
        section.row(
            Row::info("ReportIssue p50, 1 client", ms(p50))
                .bound(format!(
                    "transport p50 {} + flush {} = {}",
                    ms(health.number("p50_ms")),
                    ms(flush_ms),
                    ms(bound)
                ))
                .ratio(times(p50 / bound))
                .target(
                    format!("≤ {} (bound + 0.2 ms)", ms(limit)),
                    Verdict::at_most(p50, limit),
                ),
        );
    }
    let errors: u64 = runs.iter().map(LoadRun::errors).sum();
    section.row(Row::info("failed calls, all runs", thousands(errors)).target("0", Verdict::of(Some(errors == 0))));

    let mut figures = serde_json::Map::new();
    for run in runs {
        let mut figures_of_run = run.figures.clone();
        if let Some(object) = figures_of_run.as_object_mut() {
            object.insert("server_peak_rss_kib".into(), run.server_peak_rss_kib.into());
            object.insert("requested_commands".into(), run.spec.commands.into());
        }
        figures.insert(run.spec.key.clone(), figures_of_run);
    }
    figures.insert("ratios".into(), ratios.into());
    figures.insert("single_client".into(), single_json);
    figures.insert("failed_calls".into(), errors.into());
    (section, serde_json::Value::Object(figures))
}

/// What section 4 measured of the server process.
#[derive(Debug, Clone, Copy)]
struct ServerProcessFigures {
    sampled_peak_kib: u64,
    hwm_kib: Option<u64>,
    rss_after_load_kib: Option<u64>,
    disk_bytes: u64,
    disk_allocated: u64,
    sled_size_on_disk: u64,
    read: ReadPass,
    issues: usize,
}

fn server_process_section(figures: ServerProcessFigures) -> (Section, serde_json::Value) {
    let mut section = Section::new("4. The server process: resident set during and after the load, disk");
    section.note(format!(
        "its log: {} events, {} issues, {} record bytes",
        thousands(figures.read.events),
        thousands(figures.issues as u64),
        thousands(figures.read.record_bytes)
    ));
    let peak = figures.hwm_kib.unwrap_or(0).max(figures.sampled_peak_kib);
    section.row(
        Row::info("peak RSS during the load", bytes(peak * 1024))
            .bound(format!(
                "VmHWM {}, sampled max {}",
                figures.hwm_kib.map_or("n/a".to_owned(), |kib| bytes(kib * 1024)),
                bytes(figures.sampled_peak_kib * 1024)
            ))
            .target("≤ 256 MiB", Verdict::at_most(peak as f64, RSS_TARGET_KIB as f64)),
    );
    section.row(
        Row::info(
            "RSS after the load (idle 1 s)",
            figures
                .rss_after_load_kib
                .map_or("n/a".to_owned(), |kib| bytes(kib * 1024)),
        )
        .target(
            "≤ 256 MiB",
            Verdict::at_most(
                figures.rss_after_load_kib.map_or(f64::NAN, |kib| kib as f64),
                RSS_TARGET_KIB as f64,
            ),
        ),
    );
    let ratio = figures.disk_bytes as f64 / figures.read.record_bytes.max(1) as f64;
    section.row(
        Row::info("disk (files in the data dir)", bytes(figures.disk_bytes))
            .bound(format!("record bytes {}", bytes(figures.read.record_bytes)))
            .ratio(times(ratio))
            .target("≤ 2x", Verdict::at_most(ratio, DISK_TARGET_RATIO)),
    );
    let json = serde_json::json!({
        "rss": {
            "peak_kib": peak,
            "vm_hwm_kib": figures.hwm_kib,
            "sampled_peak_kib": figures.sampled_peak_kib,
            "after_load_kib": figures.rss_after_load_kib,
            "target_kib": RSS_TARGET_KIB,
        },
        "disk": {
            "bytes": figures.disk_bytes,
            "allocated_bytes": figures.disk_allocated,
            "sled_size_on_disk": figures.sled_size_on_disk,
            "record_bytes": figures.read.record_bytes,
            "ratio": ratio,
        },
        "log_events": figures.read.events,
        "issues": figures.issues,
    });
    (section, json)
}
