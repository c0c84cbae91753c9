//! Fault tool: drives an event log through a real storage fault — its own file descriptors exhausted — one stdin line at a time.
//!
//! Usage: `gridledger-log-fault DATA_DIR`, then one command a line on stdin; each command
//! answers with one line on stdout (`burst` with one line per append), printed only once
//! what it reports has happened:
//!
//! | command | answer |
//! |---|---|
//! | `append REQUEST_ID STREAM` | `outcome REQUEST_ID ok FIRST LAST REVISION DUPLICATE`, or `outcome REQUEST_ID unknown\|unavailable\|closed\|error MESSAGE` |
//! | `burst COUNT PREFIX STREAM` | COUNT `outcome` lines (request ids `PREFIX-0` ...), appended from COUNT threads at once |
//! | `exhaust` | `exhausted N`: the soft `RLIMIT_NOFILE` is lowered to 256 and `/dev/null` opened N times, until `EMFILE`; the files are held |
//! | `release` | `released N`: the held files are closed |
//! | `health` | `health healthy`, or `health failing retrying=BOOL REASON` |
//! | `wait-healthy` | `health healthy`, once the log is (it waits on `EventLog::watch_health`) |
//! | `find REQUEST_ID` | `found FIRST LAST`, or `absent` |
//! | `verify` | `verify ok EVENTS`, or `verify bad MESSAGE` |
//! | `stats` | `stats DURABLE_COMMITS FAILED_FLUSHES` |
//! | `wait-failed-flushes N` | `stats ...` as above, once at least N flushes have failed (the writer's retries included) |
//! | `quit` | `closed`, after `EventLog::close`; then it exits |
//!
//! `tests/fault.rs` runs it: appends fail with `OutcomeUnknown`/`Unavailable` while the
//! descriptors are exhausted and succeed again after they are released, without a restart.

use std::fs::File;
use std::future::Future;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use gridledger_eventlog::{
    AppendOutcome, AppendRequest, EventLog, EventLogConfig, EventLogError, ExpectedRevision, LogHealth, NewEvent,
    RequestId, StreamId,
};

/// The soft limit on open files `exhaust` sets, far above what the log itself holds.
const FILE_LIMIT: u64 = 256;

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [data_dir] = arguments.as_slice() else {
        eprintln!("usage: gridledger-log-fault DATA_DIR (commands on stdin)");
        return ExitCode::from(2);
    };
    let log = match EventLog::open(EventLogConfig::new(data_dir)) {
        Ok(log) => log,
        Err(error) => {
            eprintln!("cannot open the log in {data_dir}: {error}");
            return ExitCode::FAILURE;
        }
    };
    match run(&log) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("gridledger-log-fault: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(log: &EventLog) -> Result<(), Box<dyn std::error::Error>> {
    let mut held: Vec<File> = Vec::new();
    let mut stdout = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            ["append", request_id, stream] => vec![outcome_line(request_id, &append(log, request_id, stream))],
            ["burst", count, prefix, stream] => burst(log, count.parse()?, prefix, stream),
            ["exhaust"] => vec![exhaust(&mut held)?],
            ["release"] => {
                let released = held.len();
                held.clear();
                vec![format!("released {released}")]
            }
            ["health"] => vec![health_line(&log.health())],
            ["wait-healthy"] => {
                let mut health = log.watch_health();
                block_on(health.wait_for(LogHealth::is_healthy))?;
                vec![health_line(&log.health())]
            }
            ["find", request_id] => vec![match log.find_request(&RequestId::try_from(*request_id)?)? {
                Some(outcome) => format!("found {} {}", outcome.first_position, outcome.last_position),
                None => "absent".to_owned(),
            }],
            ["verify"] => {
                let report = log.verify(0, 0)?;
                vec![if report.ok {
                    format!("verify ok {}", report.events_checked)
                } else {
                    format!("verify bad {}", report.message)
                }]
            }
            ["stats"] => vec![stats_line(log)],
            ["wait-failed-flushes", count] => {
                let count: u64 = count.parse()?;
                // The counter has no change signal: look again each millisecond until the
                // writer's own retry schedule (10 ms, 20 ms, ...) gets there.
                while log.stats().failed_flushes < count {
                    std::thread::park_timeout(std::time::Duration::from_millis(1));
                }
                vec![stats_line(log)]
            }
            ["quit"] => {
                log.close()?;
                writeln!(stdout, "closed")?;
                stdout.flush()?;
                return Ok(());
            }
            _ => return Err(format!("unknown command {line:?}").into()),
        };
        for answer_line in answer {
            writeln!(stdout, "{answer_line}")?;
        }
        stdout.flush()?;
    }
    log.close()?;
    Ok(())
}

fn append(log: &EventLog, request_id: &str, stream: &str) -> Result<AppendOutcome, EventLogError> {
    log.append_blocking(AppendRequest {
        stream_id: StreamId::try_from(stream)?,
        expected_revision: ExpectedRevision::Any,
        request_id: RequestId::try_from(request_id)?,
        actor_id: "fault".to_owned(),
        events: vec![NewEvent {
            event_type: "FaultProbe".to_owned(),
            occurred_at_micros: 0,
            payload: request_id.as_bytes().to_vec(),
        }],
    })
}

fn burst(log: &EventLog, count: usize, prefix: &str, stream: &str) -> Vec<String> {
    let threads: Vec<_> = (0..count)
        .map(|n| {
            let log = log.clone();
            let request_id = format!("{prefix}-{n}");
            let stream = stream.to_owned();
            std::thread::spawn(move || outcome_line(&request_id, &append(&log, &request_id, &stream)))
        })
        .collect();
    threads
        .into_iter()
        .map(|thread| {
            thread
                .join()
                .unwrap_or_else(|_| "outcome ? error the appending thread panicked".to_owned())
        })
        .collect()
}

fn outcome_line(request_id: &str, result: &Result<AppendOutcome, EventLogError>) -> String {
    let kind = match result {
        Ok(outcome) => {
            return format!(
                "outcome {request_id} ok {} {} {} {}",
                outcome.first_position, outcome.last_position, outcome.last_revision, outcome.duplicate
            );
        }
        Err(EventLogError::OutcomeUnknown { .. }) => "unknown",
        Err(EventLogError::Unavailable { .. }) => "unavailable",
        Err(EventLogError::Closed { .. }) => "closed",
        Err(_) => "error",
    };
    let message = result.as_ref().err().map(ToString::to_string).unwrap_or_default();
    format!("outcome {request_id} {kind} {message}")
}

fn stats_line(log: &EventLog) -> String {
    let stats = log.stats();
    format!("stats {} {}", stats.durable_commits, stats.failed_flushes)
}

fn health_line(health: &LogHealth) -> String {
    match health {
        LogHealth::Healthy => "health healthy".to_owned(),
        LogHealth::Failing { reason, retrying, .. } => format!("health failing retrying={retrying} {reason}"),
    }
}

/// Lowers the soft limit on open files, then opens `/dev/null` until the process has none
/// left (`EMFILE`), keeping every file in `held`.
fn exhaust(held: &mut Vec<File>) -> Result<String, Box<dyn std::error::Error>> {
    /// `EMFILE` on Linux: this process has no file descriptor left.
    const EMFILE: i32 = 24;
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    rlimit::setrlimit(rlimit::Resource::NOFILE, soft.min(FILE_LIMIT), hard)?;
    let before = held.len();
    loop {
        match File::open("/dev/null") {
            Ok(file) => held.push(file),
            Err(error) if error.raw_os_error() == Some(EMFILE) => break,
            Err(error) => return Err(format!("opening /dev/null failed otherwise than with EMFILE: {error}").into()),
        }
    }
    Ok(format!("exhausted {}", held.len() - before))
}

/// Runs a future to completion on this thread (the tool needs no async runtime: the log's
/// watch channel works with any executor).
fn block_on<F: Future>(future: F) -> F::Output {
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}
