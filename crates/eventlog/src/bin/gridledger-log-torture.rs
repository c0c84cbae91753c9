//! Torture tool: appends to an event log from many threads and prints each acknowledged append, until killed.
//!
//! Usage: `gridledger-log-torture DATA_DIR APPENDERS RUN_TAG [APPENDS_PER_APPENDER]`
//!
//! Each appender thread owns the stream `torture-RUN_TAG-N` and appends one to three events
//! at a time with an exact expected revision. Every acknowledged append prints one line,
//! `ack FIRST_POSITION LAST_POSITION STREAM LAST_REVISION`, only after the log acknowledged
//! it (that is, after it was made durable). The crash test kills this process with SIGKILL
//! at random moments and checks that every printed append survived. It also makes a quick
//! check of a disk: run it, pull the plug, and verify the log.

use std::io::Write;
use std::process::ExitCode;

use gridledger_eventlog::{AppendRequest, EventLog, EventLogConfig, ExpectedRevision, NewEvent, RequestId, StreamId};

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let (data_dir, appenders, run_tag, appends_per_appender) = match arguments.as_slice() {
        [data_dir, appenders, run_tag, rest @ ..] if rest.len() <= 1 => {
            let Ok(appenders) = appenders.parse::<usize>() else {
                eprintln!("APPENDERS must be a number, not {appenders:?}");
                return ExitCode::from(2);
            };
            let appends_per_appender = match rest.first().map(|limit| limit.parse::<u64>()) {
                None => u64::MAX,
                Some(Ok(limit)) => limit,
                Some(Err(_)) => {
                    eprintln!("APPENDS_PER_APPENDER must be a number");
                    return ExitCode::from(2);
                }
            };
            (
                data_dir.clone(),
                appenders.max(1),
                run_tag.clone(),
                appends_per_appender,
            )
        }
        _ => {
            eprintln!("usage: gridledger-log-torture DATA_DIR APPENDERS RUN_TAG [APPENDS_PER_APPENDER]");
            return ExitCode::from(2);
        }
    };
    let log = match EventLog::open(EventLogConfig::new(&data_dir)) {
        Ok(log) => log,
        Err(error) => {
            eprintln!("cannot open the log in {data_dir}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let threads: Vec<_> = (0..appenders)
        .map(|appender| {
            let log = log.clone();
            let run_tag = run_tag.clone();
            std::thread::spawn(move || append_until_stopped(&log, &run_tag, appender, appends_per_appender))
        })
        .collect();
    let mut failed = false;
    for thread in threads {
        match thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                eprintln!("appender failed: {error}");
                failed = true;
            }
            Err(_) => failed = true,
        }
    }
    if let Err(error) = log.close() {
        eprintln!("closing the log failed: {error}");
        failed = true;
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn append_until_stopped(
    log: &EventLog,
    run_tag: &str,
    appender: usize,
    appends: u64,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let stream_id = StreamId::try_from(format!("torture-{run_tag}-{appender}"))?;
    let mut expected_revision = ExpectedRevision::NoStream;
    for append_number in 0..appends {
        let event_count = 1 + (append_number % 3) as usize;
        let events = (0..event_count)
            .map(|event_number| NewEvent {
                event_type: "TortureEvent".to_owned(),
                occurred_at_micros: i64::try_from(append_number).unwrap_or(i64::MAX),
                payload: format!("{run_tag}/{appender}/{append_number}/{event_number}")
                    .into_bytes()
                    .into_iter()
                    .cycle()
                    .take(300)
                    .collect(),
            })
            .collect();
        let outcome = log.append_blocking(AppendRequest {
            stream_id: stream_id.clone(),
            expected_revision,
            request_id: RequestId::try_from(format!("{run_tag}-{appender}-{append_number}"))?,
            actor_id: format!("appender-{appender}"),
            events,
        })?;
        expected_revision = ExpectedRevision::Exact(outcome.last_revision);
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "ack {} {} {} {}",
            outcome.first_position, outcome.last_position, outcome.stream_id, outcome.last_revision
        )?;
        stdout.flush()?;
    }
    Ok(())
}
