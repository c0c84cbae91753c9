//! The suite's in-process log work: real encoded ReportIssue appends, the large log (append throughput early and late, resident set, disk, reopen to stats, rebuild), and the read-all and rebuild passes.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use gridledger_api::client::{Client, RetryPolicy};
use gridledger_api::{StatsFilter, encode_events};
use gridledger_domain::{
    CategoryCode, Field, FreeText, GridCode, IssueEvent, IssueEventBody, IssueId, IssueReported, IssueTitle,
    JurisdictionCode, PersonId, Registry, Timestamp,
};
use gridledger_eventlog::{AppendRequest, Durability, EventLog, EventLogConfig, ExpectedRevision, RequestId, StreamId};
use gridledger_projections::{CHECKPOINT_NAME, GovernanceProjection, StatsQuery};
use tokio::runtime::Runtime;

use super::process::{
    RssSampler, ServerProcess, directory_size, memory_limit_kib, reset_own_peak, spinner, status_kib,
};
use super::table::{Row, Section, Verdict, bytes, percent, rate, seconds, thousands, times};
use crate::bench::progress_bar;

/// The district of the built-in registry every bench event belongs to.
pub const DISTRICT: &str = "runzhou";
/// 2018-01-01T00:00:00Z: the first bench issue's report; one every ten seconds after it.
const START_2018_MICROS: i64 = 1_514_764_800_000_000;
const DAY_MICROS: i64 = 86_400_000_000;
/// The large log's checkpoint is saved every this many events while it is built.
const CHECKPOINT_EVERY_EVENTS: u64 = 100_000;
/// The resident-set target: 256 MiB.
pub const RSS_TARGET_KIB: u64 = 256 * 1024;
/// The disk target: at most twice the record bytes.
pub const DISK_TARGET_RATIO: f64 = 2.0;
/// Reopening (or restarting) and serving statistics: at most 2 s.
pub const REOPEN_TARGET_SECONDS: f64 = 2.0;
/// Rebuilding the statistics from the log: at least a million events a second.
pub const REBUILD_TARGET_PER_SECOND: f64 = 1_000_000.0;

/// Builds real `IssueReported` appends (as a ReportIssue command records them), one new
/// issue stream each, in the district's grids.
#[derive(Debug, Clone)]
pub struct ReportBuilder {
    grids: Arc<Vec<GridCode>>,
    category: CategoryCode,
    title: IssueTitle,
    description: FreeText,
    prefix: &'static str,
}

impl ReportBuilder {
    /// Request ids are `{prefix}-{number}`.
    pub fn new(prefix: &'static str) -> anyhow::Result<ReportBuilder> {
        let grids: Vec<GridCode> = Registry::builtin_runzhou()
            .grids()
            .iter()
            .map(|grid| grid.code.clone())
            .collect();
        anyhow::ensure!(!grids.is_empty(), "the built-in Runzhou registry has no grids");
        Ok(ReportBuilder {
            grids: Arc::new(grids),
            category: CategoryCode::parse("environment")?,
            title: IssueTitle::parse("Overflowing bins behind building 3")?,
            description: FreeText::parse(
                Field::Description,
                "The bins behind building 3 have not been emptied for four days; residents ask for a fix.",
            )?,
            prefix,
        })
    }

    /// Issue `number`'s report, encoded as the log stores it.
    pub fn request(&self, number: u64, appender: usize) -> anyhow::Result<AppendRequest> {
        let issue_id = IssueId::from_uuid(uuid::Uuid::from_u128(
            0x0190_0000_0000_7000_8000_0000_0000_0000 + u128::from(number) + 1,
        ))?;
        let at = START_2018_MICROS + i64::try_from(number).unwrap_or(i64::MAX / 2) * 10_000_000;
        let grid = self.grids[(number as usize).wrapping_mul(7_919) % self.grids.len()].clone();
        let event = IssueEvent {
            occurred_at: Timestamp::from_unix_micros(at),
            body: IssueEventBody::IssueReported(IssueReported {
                issue_id,
                grid,
                category: self.category.clone(),
                title: self.title.clone(),
                description: self.description.clone(),
                reporter_id: PersonId::parse(Field::Reporter, &format!("worker-{appender}"))?,
                due_at: Timestamp::from_unix_micros(at + 3 * DAY_MICROS),
                evidence: Default::default(),
                location: None,
            }),
        };
        Ok(AppendRequest {
            stream_id: StreamId::try_from(issue_id.stream_id())?,
            expected_revision: ExpectedRevision::NoStream,
            request_id: RequestId::try_from(format!("{}-{number}", self.prefix))?,
            actor_id: format!("worker-{appender}"),
            events: encode_events(&[event]),
        })
    }
}

pub fn open_log(directory: &Path) -> anyhow::Result<EventLog> {
    let mut config = EventLogConfig::new(directory);
    config.durability = Durability::FlushAndSyncData;
    EventLog::open(config).with_context(|| format!("opening the log in {}", directory.display()))
}

/// The stored size of one ReportIssue (record + its 32-byte hash, as the storage bound's
/// values): a few real reports appended to a scratch log and read back.
pub fn report_value_bytes(runtime: &Runtime, directory: &Path) -> anyhow::Result<usize> {
    let builder = ReportBuilder::new("bench-value-size")?;
    let log = open_log(directory)?;
    runtime.block_on(async {
        for number in 0..64 {
            log.append(builder.request(number, 0)?).await?;
        }
        anyhow::Ok(())
    })?;
    let read = read_all_timed(&log, None)?;
    log.close()?;
    Ok((read.record_bytes / read.events.max(1)) as usize + 32)
}

/// One pass of `read_all` over the whole log.
#[derive(Debug, Clone, Copy)]
pub struct ReadPass {
    pub events: u64,
    pub record_bytes: u64,
    pub seconds: f64,
}

impl ReadPass {
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.seconds.max(f64::EPSILON)
    }
}

/// Reads every event (decoded records, nothing applied): the rebuild's bound, and the
/// record bytes the disk is compared with.
pub fn read_all_timed(log: &EventLog, message: Option<&str>) -> anyhow::Result<ReadPass> {
    let head = log.head().position;
    let bar = message.map(|message| progress_bar(head, message.to_owned()));
    let started = Instant::now();
    let mut next = 1;
    let mut events = 0;
    let mut record_bytes = 0;
    while next <= head {
        let chunk = log.read_all(next, 4_096)?;
        let Some(last) = chunk.last() else { break };
        next = last.position + 1;
        events += chunk.len() as u64;
        record_bytes += chunk.iter().map(|event| event.record_bytes.len() as u64).sum::<u64>();
        if let Some(bar) = &bar {
            bar.set_position(next - 1);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(ReadPass {
        events,
        record_bytes,
        seconds,
    })
}

/// The time zone of the bench district (the built-in Runzhou's, Asia/Shanghai).
fn district_time_zone() -> gridledger_domain::DistrictTimeZone {
    Registry::builtin_runzhou().districts()[0].district_time_zone().clone()
}

/// `GovernanceProjection::replay` over the whole log, timed.
pub fn replay_timed(log: &EventLog, message: &str) -> anyhow::Result<(GovernanceProjection, f64)> {
    let head = log.head().position;
    let bar = progress_bar(head, message.to_owned());
    let started = Instant::now();
    let time_zone = district_time_zone();
    let projection = GovernanceProjection::replay(log, time_zone.zone(), head, |position| bar.set_position(position))?;
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    Ok((projection, seconds))
}

/// The district-wide stats filter every "serving statistics" check asks for.
pub fn district_filter() -> anyhow::Result<StatsFilter> {
    Ok(StatsFilter {
        scope: Some(JurisdictionCode::parse(DISTRICT).map_err(|error| anyhow::anyhow!("{error}"))?),
        ..StatsFilter::default()
    })
}

fn now() -> Timestamp {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX));
    Timestamp::from_unix_micros(micros)
}

/// Spawns `gridledger serve` on `data_dir` and times it from spawn until GetGovernanceStats
/// (district scope) answers; returns the server, the seconds, and the accepted count.
pub fn spawn_until_stats(
    runtime: &Runtime,
    data_dir: &Path,
    log_path: &Path,
    deadline: Duration,
) -> anyhow::Result<(ServerProcess, f64, u64)> {
    let filter = district_filter()?;
    let mut server = ServerProcess::spawn(data_dir, log_path)?;
    let _watchdog = RssSampler::start_with_limit(Some(server.pid()), memory_limit_kib());
    let spinner = spinner("restarting the server until it serves statistics".to_owned());
    let policy = RetryPolicy {
        attempts: 1,
        timeout: Duration::from_secs(10),
        first_backoff: Duration::from_millis(10),
    };
    let outcome = runtime.block_on(async {
        let mut last_error = String::from("nothing tried yet");
        let mut client: Option<Client> = None;
        loop {
            server.check_running()?;
            if server.spawned_at.elapsed() > deadline {
                anyhow::bail!(
                    "the restarted server did not answer GetGovernanceStats within {deadline:?}: {last_error}"
                );
            }
            if client.is_none() {
                match Client::connect(&server.url, None).await {
                    Ok(connected) => client = Some(connected.with_retry_policy(policy)),
                    Err(error) => last_error = error.to_string(),
                }
            }
            if let Some(connected) = &client {
                match connected.governance_stats(&filter).await {
                    Ok(stats) => return Ok((server.spawned_at.elapsed().as_secs_f64(), stats.accepted)),
                    Err(error) => last_error = error.to_string(),
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    spinner.finish_and_clear();
    let (seconds, accepted) = outcome?;
    Ok((server, seconds, accepted))
}

/// What the large-log section measured.
#[derive(Debug, Clone)]
struct LargeFigures {
    events: u64,
    appenders: usize,
    window: u64,
    write_seconds: f64,
    first_window_per_second: f64,
    last_window_per_second: f64,
    rss_at_start_kib: Option<u64>,
    peak_rss_sampled_kib: u64,
    peak_rss_hwm_kib: Option<u64>,
    peak_reset: bool,
    rss_after_kib: Option<u64>,
    disk_bytes: u64,
    disk_allocated_bytes: u64,
    sled_size_on_disk: u64,
    read: ReadPass,
    rebuild_seconds: f64,
    rebuild_peak_rss_kib: Option<u64>,
    issues: usize,
    checkpoint_save_seconds: f64,
    reopen_open_seconds: f64,
    reopen_load_seconds: f64,
    reopen_stats_seconds: f64,
    reopen_total_seconds: f64,
    server_reopen_seconds: Option<f64>,
    server_reopen_listening_seconds: Option<f64>,
    server_reopen_rss_kib: Option<u64>,
    server_reopen_error: Option<String>,
    proofs: super::proofs::ProofFigures,
}

/// Section 7: `events` real ReportIssue appends from 64 appenders into a fresh log in this
/// process; then its disk, a read-all and a rebuild, a checkpoint, and the time to reopen it
/// and serve statistics, in this process and as a server.
pub fn large_log(
    runtime: &Runtime,
    scratch: &Path,
    events: u64,
    server_deadline: Duration,
) -> anyhow::Result<serde_json::Value> {
    let events = events.max(1_000);
    let appenders = 64;
    // The first and the last million (a tenth of smaller logs).
    let window = (events / 10).clamp(1, 1_000_000);
    let directory = scratch.join("large");
    let builder = ReportBuilder::new("bench-large")?;
    let _watchdog = RssSampler::start_with_limit(None, memory_limit_kib());

    // Writing: this process holds the log, so its resident set is the log's.
    let rss_at_start_kib = status_kib(None, "VmRSS");
    let peak_reset = reset_own_peak();
    let sampler = RssSampler::start(None);
    let log = open_log(&directory)?;
    let bar = progress_bar(events, format!("large log: {} appends", thousands(events)));
    let done = Arc::new(AtomicU64::new(0));
    let marks: Arc<Mutex<(Option<Instant>, Option<Instant>)>> = Arc::new(Mutex::new((None, None)));
    let started = Instant::now();
    runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for appender in 0..appenders {
            let log = log.clone();
            let builder = builder.clone();
            let bar = bar.clone();
            let done = Arc::clone(&done);
            let marks = Arc::clone(&marks);
            tasks.spawn(async move {
                let mut number = appender as u64;
                while number < events {
                    log.append(builder.request(number, appender)?).await?;
                    let count = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if count == window || count == events - window {
                        let at = Instant::now();
                        if let Ok(mut marks) = marks.lock() {
                            if count == window {
                                marks.0 = Some(at);
                            }
                            if count == events - window {
                                marks.1 = Some(at);
                            }
                        }
                    }
                    bar.inc(1);
                    number += appenders as u64;
                }
                anyhow::Ok(())
            });
        }
        while let Some(result) = tasks.join_next().await {
            result??;
        }
        anyhow::Ok(())
    })?;
    let ended = Instant::now();
    bar.finish_and_clear();
    let (first_mark, last_mark) = marks.lock().map(|marks| *marks).unwrap_or((None, None));
    let first_window_per_second = first_mark.map_or(f64::NAN, |at| {
        window as f64 / (at - started).as_secs_f64().max(f64::EPSILON)
    });
    let last_window_per_second = last_mark.map_or(f64::NAN, |at| {
        window as f64 / (ended - at).as_secs_f64().max(f64::EPSILON)
    });
    // "And after": the log still open, idle for a second.
    std::thread::sleep(Duration::from_secs(1));
    let rss_after_kib = status_kib(None, "VmRSS");
    let peak_rss_sampled_kib = sampler.take_peak();
    let peak_rss_hwm_kib = status_kib(None, "VmHWM");
    drop(sampler);
    let sled_size_on_disk = log.size_on_disk()?;
    log.close()?;
    drop(log);
    let (disk_bytes, disk_allocated_bytes) = directory_size(&directory)?;

    // Read-all (the bound), the rebuild, and the checkpoint a restart loads.
    let log = open_log(&directory)?;
    let read = read_all_timed(&log, Some("large log: read-all"))?;
    let rebuild_reset = reset_own_peak();
    let (projection, rebuild_seconds) = replay_timed(&log, "large log: rebuild")?;
    let rebuild_peak_rss_kib = if rebuild_reset { status_kib(None, "VmHWM") } else { None };
    let issues = projection.issue_count();
    drop(projection);
    // The checkpoint, built as the server builds it: following the log, saved every
    // CHECKPOINT_EVERY_EVENTS.
    let store = log.projection_store(CHECKPOINT_NAME)?;
    store.clear()?;
    let head = log.head().position;
    let bar = progress_bar(head, "large log: checkpoint".to_owned());
    let save_started = Instant::now();
    let time_zone = district_time_zone();
    let mut projection = GovernanceProjection::new(time_zone.zone());
    while projection.position() < head {
        let up_to = (projection.position() + CHECKPOINT_EVERY_EVENTS).min(head);
        projection.catch_up(&log, up_to, |position| bar.set_position(position))?;
        projection.save(&store)?;
    }
    let checkpoint_save_seconds = save_started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    drop(projection);
    drop(store);
    log.close()?;
    drop(log);

    // Reopen in this process: open, load the checkpoint, catch up, first stats.
    let reopening = spinner("large log: reopening to statistics".to_owned());
    let reopen_started = Instant::now();
    let log = open_log(&directory)?;
    let reopen_open_seconds = reopen_started.elapsed().as_secs_f64();
    let store = log.projection_store(CHECKPOINT_NAME)?;
    let mut projection = GovernanceProjection::load(&store, time_zone.zone())?;
    let reopen_load_seconds = reopen_started.elapsed().as_secs_f64() - reopen_open_seconds;
    projection.catch_up(&log, log.head().position, |_| {})?;
    let filter = district_filter()?;
    let stats = projection.stats(&StatsQuery {
        scope: filter.scope.clone(),
        category: None,
        period_start: None,
        period_end: None,
        at: now(),
    });
    let reopen_total_seconds = reopen_started.elapsed().as_secs_f64();
    let reopen_stats_seconds = reopen_total_seconds - reopen_open_seconds - reopen_load_seconds;
    reopening.finish_and_clear();
    anyhow::ensure!(
        stats.accepted > 0,
        "the reopened large log's statistics count no accepted issue"
    );
    drop(projection);
    drop(store);
    let proving = spinner("large log: Merkle proofs".to_owned());
    let proof_figures = super::proofs::measure_proofs(&log)?;
    proving.finish_and_clear();
    log.close()?;
    drop(log);

    // Reopen as a server: spawn to GetGovernanceStats answering.
    let (server_reopen_seconds, server_reopen_listening_seconds, server_reopen_rss_kib, server_reopen_error) =
        match spawn_until_stats(runtime, &directory, &scratch.join("server-large.log"), server_deadline) {
            Ok((server, seconds, _accepted)) => {
                let listening = server.listening().map(|(at, _)| at);
                let rss = status_kib(Some(server.pid()), "VmRSS");
                server.stop(Duration::from_secs(300))?;
                (Some(seconds), listening, rss, None)
            }
            Err(error) => (None, None, None, Some(format!("{error:#}"))),
        };

    let figures = LargeFigures {
        events,
        appenders,
        window,
        write_seconds: (ended - started).as_secs_f64(),
        first_window_per_second,
        last_window_per_second,
        rss_at_start_kib,
        peak_rss_sampled_kib,
        peak_rss_hwm_kib: peak_reset.then_some(peak_rss_hwm_kib).flatten(),
        peak_reset,
        rss_after_kib,
        disk_bytes,
        disk_allocated_bytes,
        sled_size_on_disk,
        read,
        rebuild_seconds,
        rebuild_peak_rss_kib,
        issues,
        checkpoint_save_seconds,
        reopen_open_seconds,
        reopen_load_seconds,
        reopen_stats_seconds,
        reopen_total_seconds,
        server_reopen_seconds,
        server_reopen_listening_seconds,
        server_reopen_rss_kib,
        server_reopen_error,
        proofs: proof_figures,
    };
    Ok(figures.json())
}

impl LargeFigures {
    fn peak_kib(&self) -> u64 {
        self.peak_rss_hwm_kib.unwrap_or(0).max(self.peak_rss_sampled_kib)
    }

    fn rebuild_per_second(&self) -> f64 {
        self.read.events as f64 / self.rebuild_seconds.max(f64::EPSILON)
    }

    fn disk_ratio(&self) -> f64 {
        self.disk_bytes as f64 / self.read.record_bytes.max(1) as f64
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "events": self.events,
            "appenders": self.appenders,
            "window_events": self.window,
            "write_seconds": self.write_seconds,
            "appends_per_second": self.events as f64 / self.write_seconds.max(f64::EPSILON),
            "first_window_appends_per_second": self.first_window_per_second,
            "last_window_appends_per_second": self.last_window_per_second,
            "last_vs_first": self.last_window_per_second / self.first_window_per_second,
            "rss": {
                "at_start_kib": self.rss_at_start_kib,
                "peak_kib": self.peak_kib(),
                "peak_sampled_kib": self.peak_rss_sampled_kib,
                "vm_hwm_kib": self.peak_rss_hwm_kib,
                "vm_hwm_reset": self.peak_reset,
                "after_writing_kib": self.rss_after_kib,
                "rebuild_peak_kib": self.rebuild_peak_rss_kib,
                "target_kib": RSS_TARGET_KIB,
            },
            "disk": {
                "bytes": self.disk_bytes,
                "allocated_bytes": self.disk_allocated_bytes,
                "sled_size_on_disk": self.sled_size_on_disk,
                "record_bytes": self.read.record_bytes,
                "ratio": self.disk_ratio(),
            },
            "read_all": {
                "events": self.read.events,
                "seconds": self.read.seconds,
                "events_per_second": self.read.events_per_second(),
            },
            "rebuild": {
                "seconds": self.rebuild_seconds,
                "events_per_second": self.rebuild_per_second(),
                "vs_read_all": self.rebuild_per_second() / self.read.events_per_second(),
                "issues": self.issues,
            },
            "checkpoint_save_seconds": self.checkpoint_save_seconds,
            "reopen_in_process": {
                "open_seconds": self.reopen_open_seconds,
                "load_checkpoint_seconds": self.reopen_load_seconds,
                "first_stats_seconds": self.reopen_stats_seconds,
                "total_seconds": self.reopen_total_seconds,
            },
            "proofs": self.proofs.json(),
            "reopen_server": {
                "seconds_to_stats": self.server_reopen_seconds,
                "seconds_to_listening": self.server_reopen_listening_seconds,
                "rss_kib": self.server_reopen_rss_kib,
                "error": self.server_reopen_error,
            },
        })
    }
}

/// A number of the large log's figures (`pointer` as in `/rss/peak_kib`); NaN when absent.
fn number(figures: &serde_json::Value, pointer: &str) -> f64 {
    figures
        .pointer(pointer)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(f64::NAN)
}

/// Resident set in KiB as text ("n/a" when absent).
fn kib_text(kib: f64) -> String {
    if kib.is_finite() {
        bytes(kib as u64 * 1024)
    } else {
        "n/a".to_owned()
    }
}

/// Section 7's table, from its figures (as [`large_log`] returns them, possibly from another
/// process).
pub fn large_section(figures: &serde_json::Value) -> Section {
    let events = number(figures, "/events");
    let mut section = Section::new(format!(
        "7. Large log: {} ReportIssue events appended by a process of its own ({} appenders, durable)",
        thousands(events as u64),
        number(figures, "/appenders")
    ));
    section.note(format!(
        "written in {:.0} s ({}); that process holds the log, so its resident set is the log's \
         (sled's page cache is 64 MiB; {} before the first append); requests are encoded as they are sent",
        number(figures, "/write_seconds"),
        rate(number(figures, "/appends_per_second"), "appends/s"),
        kib_text(number(figures, "/rss/at_start_kib"))
    ));
    section.note(format!(
        "then read back ({}), rebuilt into {} issues, checkpointed as a server does (following the log, saved \
         every 100,000 events) in {:.1} s, reopened in process and as a server",
        rate(number(figures, "/read_all/events_per_second"), "events/s"),
        thousands(number(figures, "/rebuild/issues") as u64),
        number(figures, "/checkpoint_save_seconds")
    ));
    let window = thousands(number(figures, "/window_events") as u64);
    let scale_ratio = number(figures, "/last_vs_first");
    section.row(
        Row::info(
            format!("appends/s, last {window} events"),
            rate(number(figures, "/last_window_appends_per_second"), "/s"),
        )
        .bound(format!(
            "first {window}: {}",
            rate(number(figures, "/first_window_appends_per_second"), "/s")
        ))
        .ratio(percent(scale_ratio))
        .target("within 10% (≥ 90%)", Verdict::at_least(scale_ratio, 0.9)),
    );
    let peak = number(figures, "/rss/peak_kib");
    let reset = figures.pointer("/rss/vm_hwm_reset") == Some(&serde_json::Value::Bool(true));
    section.row(
        Row::info("peak RSS while writing", kib_text(peak))
            .bound(if reset {
                "VmHWM and 100 ms samples"
            } else {
                "100 ms samples (VmHWM not reset)"
            })
            .target("≤ 256 MiB", Verdict::at_most(peak, RSS_TARGET_KIB as f64)),
    );
    let after = number(figures, "/rss/after_writing_kib");
    section.row(
        Row::info("RSS after writing (log open, idle 1 s)", kib_text(after))
            .target("≤ 256 MiB", Verdict::at_most(after, RSS_TARGET_KIB as f64)),
    );
    let disk_ratio = number(figures, "/disk/ratio");
    section.row(
        Row::info(
            "disk (files in the data dir)",
            bytes(number(figures, "/disk/bytes") as u64),
        )
        .bound(format!(
            "record bytes {}",
            bytes(number(figures, "/disk/record_bytes") as u64)
        ))
        .ratio(times(disk_ratio))
        .target("≤ 2x", Verdict::at_most(disk_ratio, DISK_TARGET_RATIO)),
    );
    let reopen = number(figures, "/reopen_in_process/total_seconds");
    section.row(
        Row::info("reopen to first stats, in process", seconds(reopen))
            .bound(format!(
                "open {:.2} + load checkpoint {:.2} + stats {:.3}",
                number(figures, "/reopen_in_process/open_seconds"),
                number(figures, "/reopen_in_process/load_checkpoint_seconds"),
                number(figures, "/reopen_in_process/first_stats_seconds")
            ))
            .target("≤ 2 s", Verdict::at_most(reopen, REOPEN_TARGET_SECONDS)),
    );
    let server_reopen = number(figures, "/reopen_server/seconds_to_stats");
    if server_reopen.is_finite() {
        section.row(
            Row::info("server spawn to GetGovernanceStats", seconds(server_reopen))
                .bound(format!(
                    "listening after {}; RSS then {}",
                    seconds(number(figures, "/reopen_server/seconds_to_listening")),
                    kib_text(number(figures, "/reopen_server/rss_kib"))
                ))
                .target("≤ 2 s", Verdict::at_most(server_reopen, REOPEN_TARGET_SECONDS)),
        );
    } else {
        section.row(
            Row::info("server spawn to GetGovernanceStats", "failed")
                .bound(
                    figures
                        .pointer("/reopen_server/error")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default(),
                )
                .target("≤ 2 s", Verdict::NotMet),
        );
    }
    let rebuild = number(figures, "/rebuild/events_per_second");
    let read_all = number(figures, "/read_all/events_per_second");
    section.row(
        Row::info("rebuild (replay)", rate(rebuild, "events/s"))
            .bound(format!("read-all {}", rate(read_all, "events/s")))
            .ratio(percent(rebuild / read_all))
            .target(
                "≥ 1,000,000 events/s",
                Verdict::at_least(rebuild, REBUILD_TARGET_PER_SECOND),
            ),
    );
    let rebuild_peak = number(figures, "/rss/rebuild_peak_kib");
    if rebuild_peak.is_finite() {
        section.row(Row::info(
            "peak RSS during the rebuild (projection in memory)",
            kib_text(rebuild_peak),
        ));
    }
    if let Some(proofs) = figures.pointer("/proofs") {
        super::proofs::proof_rows(&mut section, proofs);
    }
    section
}
