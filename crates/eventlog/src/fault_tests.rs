//! Model-style property test of the log under storage faults: random appends, bursts of
//! concurrent appends, faults injected into the durable flush (retryable, and for good),
//! heals and reopens; after every step the log holds exactly the acknowledged appends.
//!
//! The faults are injected (`EventLog::inject_flush_fault`), so this runs in-process and
//! cheaply; `tests/fault.rs` makes a real one (`EMFILE`) in a child process.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;

use crate::store::InjectedFault;
use crate::{
    AppendOutcome, AppendRequest, EventLog, EventLogConfig, EventLogError, ExpectedRevision, LogHealth, NewEvent,
    Position, RequestId, StreamId,
};

#[derive(Debug, Clone)]
enum Operation {
    /// One append; `retry_of` retries an earlier request id (of any outcome).
    Append {
        stream: usize,
        retry_of: Option<usize>,
    },
    /// Appends with fresh request ids from `count` threads at once.
    Burst {
        count: usize,
    },
    /// Every flush from now on fails, retryably or for good, until `Heal` (or `Reopen`).
    Break {
        for_good: bool,
    },
    /// Flushes work again; a log failing with retries recovers by itself.
    Heal,
    Reopen,
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        6 => (0..3usize, prop::option::weighted(0.3, 0..32usize))
            .prop_map(|(stream, retry_of)| Operation::Append { stream, retry_of }),
        2 => (2..8usize).prop_map(|count| Operation::Burst { count }),
        2 => prop::bool::weighted(0.25).prop_map(|for_good| Operation::Break { for_good }),
        2 => Just(Operation::Heal),
        1 => Just(Operation::Reopen),
    ]
}

/// What the test knows about every request id it used.
#[derive(Default)]
struct Model {
    /// Acknowledged (or found durable later): request id -> (stream, first, last).
    acknowledged: BTreeMap<String, (String, Position, Position)>,
    /// Answered OutcomeUnknown and not settled yet.
    unknown: BTreeMap<String, String>,
    /// Every request id used, for retries.
    used: Vec<(String, String)>,
    /// The fault the flushes fail with now.
    fault: Option<InjectedFault>,
}

fn request(stream: &str, request_id: &str) -> AppendRequest {
    AppendRequest {
        stream_id: StreamId::try_from(stream).unwrap_or_else(|error| panic!("{error}")),
        expected_revision: ExpectedRevision::Any,
        request_id: RequestId::try_from(request_id).unwrap_or_else(|error| panic!("{error}")),
        actor_id: String::new(),
        events: vec![NewEvent {
            event_type: "Noted".to_owned(),
            occurred_at_micros: 0,
            payload: request_id.as_bytes().to_vec(),
        }],
    }
}

/// Waits (at most a minute, so a bug fails instead of hanging) until `done` holds for the
/// log's health, and returns that health.
fn wait_for_health(log: &EventLog, done: fn(&LogHealth) -> bool) -> LogHealth {
    let mut health = log.watch_health();
    let (sender, waited) = mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().build();
        let result = runtime
            .map(|runtime| runtime.block_on(async { health.wait_for(done).await.map(|health| health.clone()).ok() }));
        let _ = sender.send(result.ok().flatten());
    });
    match waited.recv_timeout(Duration::from_secs(60)) {
        Ok(Some(health)) => health,
        other => panic!("the log's health did not settle ({other:?}): {:?}", log.health()),
    }
}

pub(crate) fn wait_healthy(log: &EventLog) {
    wait_for_health(log, LogHealth::is_healthy);
}

/// Waits until the log is healthy or failing for good (not retrying any more).
fn wait_settled(log: &EventLog) -> LogHealth {
    wait_for_health(log, |health| {
        !matches!(health, LogHealth::Failing { retrying: true, .. })
    })
}

impl Model {
    /// Records one append's answer, checking it against what the log's state allows.
    fn record(
        &mut self,
        step: usize,
        stream: &str,
        request_id: &str,
        health_before: &LogHealth,
        result: Result<AppendOutcome, EventLogError>,
    ) {
        let known = self.acknowledged.get(request_id).cloned();
        match result {
            Ok(outcome) => {
                assert!(
                    health_before.is_healthy(),
                    "step {step}: {request_id} acknowledged while failing"
                );
                match known {
                    Some((_, first, last)) => {
                        assert!(outcome.duplicate, "step {step}: {request_id} written twice");
                        assert_eq!((outcome.first_position, outcome.last_position), (first, last));
                    }
                    None => {
                        assert!(
                            !outcome.duplicate,
                            "step {step}: {request_id} duplicate of nothing known"
                        );
                        assert_eq!(
                            self.fault, None,
                            "step {step}: {request_id} acknowledged over a failed flush"
                        );
                        self.acknowledged.insert(
                            request_id.to_owned(),
                            (stream.to_owned(), outcome.first_position, outcome.last_position),
                        );
                    }
                }
            }
            Err(EventLogError::OutcomeUnknown { reason }) => {
                assert!(health_before.is_healthy(), "step {step}: planned while failing");
                assert!(self.fault.is_some(), "step {step}: OutcomeUnknown without a fault");
                assert!(reason.contains("injected fault"), "step {step}: {reason}");
                assert!(
                    known.is_none(),
                    "step {step}: a durable append's retry got OutcomeUnknown"
                );
                self.unknown.insert(request_id.to_owned(), stream.to_owned());
            }
            Err(EventLogError::Unavailable { reason }) => {
                assert!(
                    !health_before.is_healthy() || self.fault.is_some(),
                    "step {step}: Unavailable while healthy"
                );
                assert!(reason.contains("injected fault"), "step {step}: {reason}");
            }
            Err(error) => panic!("step {step}: {request_id}: {error}"),
        }
    }

    /// After recovery or reopen: each OutcomeUnknown append is durable or absent (after a
    /// recovery without reopen it must be durable).
    fn settle_unknown(&mut self, log: &EventLog, must_be_durable: bool) -> anyhow::Result<()> {
        for (request_id, stream) in std::mem::take(&mut self.unknown) {
            match log.find_request(&RequestId::try_from(request_id.as_str())?)? {
                Some(outcome) => {
                    self.acknowledged
                        .insert(request_id, (stream, outcome.first_position, outcome.last_position));
                }
                None => assert!(!must_be_durable, "{request_id} lost by a recovery"),
            }
        }
        Ok(())
    }

    /// The log holds exactly the acknowledged appends, once each, at their positions, and
    /// nothing else is visible.
    fn check_log(&self, step: usize, log: &EventLog) -> anyhow::Result<()> {
        let mut visible: BTreeMap<String, Vec<Position>> = BTreeMap::new();
        for event in log.read_all(1, usize::MAX)? {
            visible
                .entry(event.record.request_id.clone())
                .or_default()
                .push(event.position);
        }
        let expected: BTreeMap<String, Vec<Position>> = self
            .acknowledged
            .iter()
            .map(|(request_id, (_, first, last))| (request_id.clone(), (*first..=*last).collect()))
            .collect();
        assert_eq!(visible, expected, "step {step}");
        assert_eq!(
            log.head().position,
            expected.values().map(Vec::len).sum::<usize>() as u64,
            "step {step}"
        );
        for (request_id, (_, first, last)) in &self.acknowledged {
            let found = log.find_request(&RequestId::try_from(request_id.as_str())?)?;
            assert_eq!(
                found.map(|outcome| (outcome.first_position, outcome.last_position)),
                Some((*first, *last)),
                "step {step}"
            );
        }
        for request_id in self.unknown.keys() {
            assert_eq!(
                log.find_request(&RequestId::try_from(request_id.as_str())?)?,
                None,
                "step {step}: {request_id} found before it is durable"
            );
        }
        Ok(())
    }
}

fn check(operations: Vec<Operation>) -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let open = || EventLog::open(EventLogConfig::new(directory.path()));
    let mut log = open()?;
    let mut model = Model::default();

    for (step, operation) in operations.into_iter().enumerate() {
        match operation {
            Operation::Append { stream, retry_of } => {
                let (request_id, stream) = match retry_of {
                    Some(index) if !model.used.is_empty() => model.used[index % model.used.len()].clone(),
                    _ => (format!("request-{step}"), format!("stream-{stream}")),
                };
                model.used.push((request_id.clone(), stream.clone()));
                let health_before = log.health();
                let result = log.append_blocking(request(&stream, &request_id));
                if !health_before.is_healthy() {
                    assert!(
                        matches!(result, Err(EventLogError::Unavailable { .. })),
                        "step {step}: {result:?}"
                    );
                }
                if health_before.is_healthy() && model.fault.is_some() && !model.acknowledged.contains_key(&request_id)
                {
                    // Planned on a healthy log, its flush fails: the outcome is unknown.
                    assert!(
                        matches!(result, Err(EventLogError::OutcomeUnknown { .. })),
                        "step {step}: {result:?}"
                    );
                }
                model.record(step, &stream, &request_id, &health_before, result);
            }
            Operation::Burst { count } => {
                let health_before = log.health();
                let threads: Vec<_> = (0..count)
                    .map(|n| {
                        let log = log.clone();
                        let request_id = format!("burst-{step}-{n}");
                        std::thread::spawn(move || {
                            let result = log.append_blocking(request("burst", &request_id));
                            (request_id, result)
                        })
                    })
                    .collect();
                let unknown_before = model.unknown.len();
                for thread in threads {
                    let (request_id, result) = thread.join().map_err(|_| anyhow::anyhow!("appender panicked"))?;
                    model.used.push((request_id.clone(), "burst".to_owned()));
                    model.record(step, "burst", &request_id, &health_before, result);
                }
                if health_before.is_healthy() && model.fault.is_some() {
                    assert!(
                        model.unknown.len() > unknown_before,
                        "step {step}: a failed flush answered nobody"
                    );
                }
            }
            Operation::Break { for_good } => {
                let fault = if for_good {
                    InjectedFault::ForGood
                } else {
                    InjectedFault::Transient
                };
                // A fault for good stays until reopen; don't downgrade it.
                if model.fault != Some(InjectedFault::ForGood) {
                    model.fault = Some(fault);
                    log.inject_flush_fault(Some(fault));
                }
            }
            Operation::Heal => {
                model.fault = None;
                log.inject_flush_fault(None);
                // A retry already under way may still meet the fault it read; wait until
                // the writer has either recovered or failed for good.
                if wait_settled(&log).is_healthy() {
                    model.settle_unknown(&log, true)?;
                }
            }
            Operation::Reopen => {
                log.close()?;
                drop(log);
                log = open()?;
                model.fault = None;
                assert!(log.health().is_healthy(), "step {step}");
                model.settle_unknown(&log, false)?;
            }
        }
        if let LogHealth::Failing { reason, .. } = log.health() {
            assert!(reason.contains("injected fault"), "step {step}: {reason}");
        }
        model.check_log(step, &log)?;
    }
    model.fault = None;
    log.inject_flush_fault(None);
    if wait_settled(&log).is_healthy() {
        model.settle_unknown(&log, true)?;
        model.check_log(usize::MAX, &log)?;
    }
    let report = log.verify(0, 0)?;
    assert!(report.ok, "{report:?}");
    log.close()?;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn the_log_holds_exactly_what_it_acknowledged_through_storage_faults(
        operations in prop::collection::vec(operation(), 1..40)
    ) {
        check(operations).map_err(|error| TestCaseError::fail(error.to_string()))?;
    }
}

/// The plain story, step by step: a failing flush, refusals, recovery, a retry.
#[test]
fn a_failed_flush_is_unknown_then_refused_then_recovered() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let log = EventLog::open(EventLogConfig::new(directory.path()))?;
    let first = log.append_blocking(request("s", "r1"))?;
    log.inject_flush_fault(Some(InjectedFault::Transient));
    let unknown = log.append_blocking(request("s", "r2"));
    assert!(
        matches!(unknown, Err(EventLogError::OutcomeUnknown { .. })),
        "{unknown:?}"
    );
    assert!(matches!(log.health(), LogHealth::Failing { retrying: true, .. }));
    // Refused before planning: a new request id is not written, not even later.
    let refused = log.append_blocking(request("s", "r3"));
    assert!(matches!(refused, Err(EventLogError::Unavailable { .. })), "{refused:?}");
    // The retried original is refused too while failing, and not visible.
    assert!(matches!(
        log.append_blocking(request("s", "r2")),
        Err(EventLogError::Unavailable { .. })
    ));
    assert_eq!(log.find_request(&RequestId::try_from("r2")?)?, None);
    assert_eq!(log.head().position, first.last_position);
    let mut health = log.watch_health();
    health.borrow_and_update();
    log.inject_flush_fault(None);
    wait_healthy(&log);
    assert!(health.has_changed()?, "watchers are told of the recovery");
    let found = log.find_request(&RequestId::try_from("r2")?)?;
    assert_eq!(found.as_ref().map(|outcome| outcome.first_position), Some(2));
    let retried = log.append_blocking(request("s", "r2"))?;
    assert!(retried.duplicate);
    assert_eq!(retried.first_position, 2);
    assert_eq!(log.find_request(&RequestId::try_from("r3")?)?, None);
    let written = log.append_blocking(request("s", "r3"))?;
    assert_eq!((written.first_position, written.duplicate), (3, false));
    let stats = log.stats();
    assert!(stats.failed_flushes >= 1, "{stats:?}");
    assert_eq!(stats.appends_written, 3, "{stats:?}");
    assert!(log.verify(0, 0)?.ok);
    log.close()?;
    Ok(())
}

/// An fsync that failed is never trusted again: the log refuses until it is reopened.
#[test]
fn a_failed_fsync_fails_for_good_until_reopened() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let log = EventLog::open(EventLogConfig::new(directory.path()))?;
    log.append_blocking(request("s", "r1"))?;
    log.inject_flush_fault(Some(InjectedFault::ForGood));
    let unknown = log.append_blocking(request("s", "r2"));
    assert!(
        matches!(unknown, Err(EventLogError::OutcomeUnknown { .. })),
        "{unknown:?}"
    );
    let LogHealth::Failing { reason, retrying, .. } = log.health() else {
        panic!("healthy after a failed fsync");
    };
    assert!(!retrying);
    assert!(reason.contains("must be reopened"), "{reason}");
    log.inject_flush_fault(None);
    let refused = log.append_blocking(request("s", "r3"));
    assert!(matches!(refused, Err(EventLogError::Unavailable { .. })), "{refused:?}");
    assert_eq!(log.head().position, 1);
    log.close()?;
    let closed = log.append_blocking(request("s", "r4"));
    assert!(matches!(closed, Err(EventLogError::Closed { .. })), "{closed:?}");
    drop(log);

    let log = EventLog::open(EventLogConfig::new(directory.path()))?;
    assert!(log.health().is_healthy());
    // r2 may or may not have reached the disk; its retry settles it either way.
    let settled = log.append_blocking(request("s", "r2"))?;
    assert_eq!(settled.first_position, 2);
    assert_eq!(log.find_request(&RequestId::try_from("r3")?)?, None);
    assert!(log.verify(0, 0)?.ok);
    log.close()?;
    Ok(())
}
