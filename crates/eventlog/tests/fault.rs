//! Fault test: a child process (`gridledger-log-fault`) runs out of file descriptors for real (`EMFILE`) while it appends; the log refuses honestly, then recovers by itself once they are released.
//!
//! The child answers each stdin line with stdout lines, so the test waits on lines and on
//! the log's health, never on a clock.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use gridledger_eventlog::{EventLog, EventLogConfig, Position};

/// How long one answer of the child may take before the test gives up (instead of hanging).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

struct FaultChild {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl FaultChild {
    fn start(directory: &std::path::Path) -> anyhow::Result<Self> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gridledger-log-fault"))
            .arg(directory)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take().ok_or_else(|| anyhow::anyhow!("no stdin"))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(FaultChild { child, stdin, lines })
    }

    /// Sends one command and returns the `count` lines that answer it.
    fn ask_lines(&mut self, command: &str, count: usize) -> anyhow::Result<Vec<String>> {
        writeln!(self.stdin, "{command}")?;
        self.stdin.flush()?;
        (0..count)
            .map(|_| {
                self.lines
                    .recv_timeout(ANSWER_TIMEOUT)
                    .map_err(|error| anyhow::anyhow!("no answer to {command:?}: {error}"))
            })
            .collect()
    }

    fn ask(&mut self, command: &str) -> anyhow::Result<String> {
        Ok(self.ask_lines(command, 1)?.remove(0))
    }

    fn append(&mut self, request_id: &str, stream: &str) -> anyhow::Result<Outcome> {
        Outcome::parse(&self.ask(&format!("append {request_id} {stream}"))?)
    }
}

/// One append's outcome as the child reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Ok {
        request_id: String,
        first: Position,
        last: Position,
        duplicate: bool,
    },
    Unknown {
        request_id: String,
        message: String,
    },
    Unavailable {
        request_id: String,
        message: String,
    },
}

impl Outcome {
    fn parse(line: &str) -> anyhow::Result<Outcome> {
        let fields: Vec<&str> = line.splitn(4, ' ').collect();
        let text = |index: usize| fields.get(index).copied().unwrap_or_default().to_owned();
        Ok(match fields.as_slice() {
            ["outcome", request_id, "ok", rest] => {
                let rest: Vec<&str> = rest.split(' ').collect();
                let [first, last, _revision, duplicate] = rest.as_slice() else {
                    anyhow::bail!("bad ok line {line:?}");
                };
                Outcome::Ok {
                    request_id: (*request_id).to_owned(),
                    first: first.parse()?,
                    last: last.parse()?,
                    duplicate: duplicate.parse()?,
                }
            }
            ["outcome", request_id, "unknown", ..] => Outcome::Unknown {
                request_id: (*request_id).to_owned(),
                message: text(3),
            },
            ["outcome", request_id, "unavailable", ..] => Outcome::Unavailable {
                request_id: (*request_id).to_owned(),
                message: text(3),
            },
            _ => anyhow::bail!("unexpected answer {line:?}"),
        })
    }

    fn request_id(&self) -> &str {
        match self {
            Outcome::Ok { request_id, .. }
            | Outcome::Unknown { request_id, .. }
            | Outcome::Unavailable { request_id, .. } => request_id,
        }
    }
}

/// Every request id stored in the log, with the positions of its events.
fn stored_requests(log: &EventLog) -> anyhow::Result<BTreeMap<String, Vec<Position>>> {
    let mut requests: BTreeMap<String, Vec<Position>> = BTreeMap::new();
    for event in log.read_all(1, usize::MAX)? {
        requests
            .entry(event.record.request_id.clone())
            .or_default()
            .push(event.position);
    }
    Ok(requests)
}

#[test]
fn exhausted_file_descriptors_fail_appends_honestly_and_the_log_recovers_without_a_restart() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let mut child = FaultChild::start(directory.path())?;
    // Acknowledged appends: request id -> (first, last).
    let mut acknowledged: BTreeMap<String, (Position, Position)> = BTreeMap::new();
    let record_ok = |acknowledged: &mut BTreeMap<String, (Position, Position)>, outcome: &Outcome| {
        if let Outcome::Ok {
            request_id,
            first,
            last,
            duplicate: false,
        } = outcome
        {
            acknowledged.insert(request_id.clone(), (*first, *last));
        }
    };

    // Healthy: appends are acknowledged.
    for n in 0..5 {
        let outcome = child.append(&format!("before-{n}"), "probe")?;
        assert!(matches!(outcome, Outcome::Ok { duplicate: false, .. }), "{outcome:?}");
        record_ok(&mut acknowledged, &outcome);
    }
    assert_eq!(child.ask("health")?, "health healthy");

    // Out of file descriptors: the flush cannot list sled's blob directory. Sixteen
    // appends at once: the group(s) applied before the failure showed get OutcomeUnknown,
    // the rest are refused; none is acknowledged.
    let exhausted = child.ask("exhaust")?;
    assert!(exhausted.starts_with("exhausted "), "{exhausted}");
    let burst: Vec<Outcome> = child
        .ask_lines("burst 16 during-burst probe", 16)?
        .iter()
        .map(|line| Outcome::parse(line))
        .collect::<anyhow::Result<_>>()?;
    for outcome in &burst {
        match outcome {
            Outcome::Ok { .. } => panic!("acknowledged while the flush fails: {outcome:?}"),
            Outcome::Unknown { message, .. } => {
                assert!(message.contains("outcome of the append is unknown"), "{message}");
                assert!(message.contains("same request id"), "{message}");
                assert!(message.contains("Too many open files"), "{message}");
            }
            Outcome::Unavailable { message, .. } => assert!(message.contains("Too many open files"), "{message}"),
        }
    }
    let unknown: Vec<&Outcome> = burst
        .iter()
        .filter(|outcome| matches!(outcome, Outcome::Unknown { .. }))
        .collect();
    assert!(
        !unknown.is_empty(),
        "the first append planned had its flush fail: {burst:?}"
    );
    let health = child.ask("health")?;
    assert!(health.starts_with("health failing retrying=true "), "{health}");
    assert!(
        health.contains("Too many open files"),
        "the reason names the cause: {health}"
    );
    // Failing: refused at once, nothing written.
    for n in 1..3 {
        let outcome = child.append(&format!("during-{n}"), "probe")?;
        assert!(matches!(outcome, Outcome::Unavailable { .. }), "{outcome:?}");
    }
    // An append whose flush failed is not visible: it is not durable.
    for outcome in &unknown {
        assert_eq!(child.ask(&format!("find {}", outcome.request_id()))?, "absent");
    }
    // Let the writer retry (and fail) a few times before the descriptors come back.
    let stats = child.ask("wait-failed-flushes 3")?;
    assert_eq!(child.ask("health")?, health, "still failing, the same reason");

    // Released: the writer's retries succeed by themselves, no restart.
    let released = child.ask("release")?;
    assert!(released.starts_with("released "), "{released}");
    assert_eq!(child.ask("wait-healthy")?, "health healthy");
    assert_eq!(child.ask("health")?, "health healthy");
    let stats_after = child.ask("stats")?;
    eprintln!(
        "{} OutcomeUnknown, {} Unavailable; while failing (durable commits, failed flushes): {stats}; after recovery: {stats_after}",
        unknown.len(),
        burst.len() - unknown.len()
    );

    // The OutcomeUnknown appends were written: the retry that succeeded flushed their
    // batches. A retry with the same request id returns the original as a duplicate; an
    // append refused as Unavailable was never written, and its retry writes it once.
    for outcome in &burst {
        let found = child.ask(&format!("find {}", outcome.request_id()))?;
        let retried = child.append(outcome.request_id(), "probe")?;
        match (outcome, &retried) {
            (
                Outcome::Unknown { .. },
                Outcome::Ok {
                    first,
                    last,
                    duplicate: true,
                    ..
                },
            ) => {
                assert_eq!(found, format!("found {first} {last}"));
            }
            (Outcome::Unavailable { .. }, Outcome::Ok { duplicate: false, .. }) => assert_eq!(found, "absent"),
            (before, after) => panic!("{before:?} retried gave {after:?}"),
        }
        if let Outcome::Ok { first, last, .. } = &retried {
            acknowledged.insert(outcome.request_id().to_owned(), (*first, *last));
        }
    }
    let retried = child.append("during-1", "probe")?;
    assert!(matches!(retried, Outcome::Ok { duplicate: false, .. }), "{retried:?}");
    record_ok(&mut acknowledged, &retried);
    // And new appends go on.
    for n in 0..5 {
        let outcome = child.append(&format!("after-{n}"), "probe")?;
        assert!(matches!(outcome, Outcome::Ok { duplicate: false, .. }), "{outcome:?}");
        record_ok(&mut acknowledged, &outcome);
    }
    let verified = child.ask("verify")?;
    assert!(verified.starts_with("verify ok "), "{verified}");
    assert_eq!(child.ask("quit")?, "closed");
    let status = child.child.wait()?;
    assert!(status.success(), "{status:?}");

    // Reopened: every acknowledged append is there exactly once, at the positions it was
    // acknowledged with; the one never retried after Unavailable is not there at all.
    let log = EventLog::open(EventLogConfig::new(directory.path()))?;
    assert_eq!(log.refusal_on_open(), None);
    assert!(log.health().is_healthy());
    let stored = stored_requests(&log)?;
    for (request_id, (first, last)) in &acknowledged {
        let positions = stored.get(request_id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(
            positions,
            (*first..=*last).collect::<Vec<_>>().as_slice(),
            "{request_id}"
        );
    }
    let expected: BTreeSet<&String> = acknowledged.keys().collect();
    let present: BTreeSet<&String> = stored.keys().collect();
    assert_eq!(present, expected, "the log holds exactly the acknowledged appends");
    assert!(!stored.contains_key("during-2"), "an Unavailable append was written");
    assert_eq!(log.head().position, stored.values().map(Vec::len).sum::<usize>() as u64);
    let report = log.verify(0, 0)?;
    assert!(report.ok, "{report:?}");
    log.close()?;
    Ok(())
}
