//! Appends against a real sled log in a temp dir: revisions, positions, idempotency, conflicts, bad input, reads.

use gridledger_eventlog::{
    AppendRequest, EventLog, EventLogConfig, EventLogError, ExpectedRevision, MAX_EVENTS_PER_APPEND, MAX_PAYLOAD_BYTES,
    NewEvent, RequestId, StreamId, ZERO_HASH, chain_hash,
};

/// What one append step must give.
#[derive(Debug)]
enum Expect {
    Written { first: u64, last: u64, revision: u64 },
    Duplicate { first: u64, last: u64, revision: u64 },
    Conflict { current_revision: Option<u64> },
    RequestIdReused,
    Invalid { field: &'static str },
}

struct Step {
    stream: &'static str,
    expected: ExpectedRevision,
    request_id: &'static str,
    events: Vec<NewEvent>,
    expect: Expect,
}

fn written(first: u64, last: u64, revision: u64) -> Expect {
    Expect::Written { first, last, revision }
}

fn duplicate(first: u64, last: u64, revision: u64) -> Expect {
    Expect::Duplicate { first, last, revision }
}

fn events(count: usize) -> Vec<NewEvent> {
    (0..count)
        .map(|n| NewEvent {
            event_type: "Noted".to_owned(),
            occurred_at_micros: 1_700_000_000_000_000 + n as i64,
            payload: format!("payload {n}").into_bytes(),
        })
        .collect()
}

fn step(
    stream: &'static str,
    expected: ExpectedRevision,
    request_id: &'static str,
    count: usize,
    expect: Expect,
) -> Step {
    Step {
        stream,
        expected,
        request_id,
        events: events(count),
        expect,
    }
}

/// Runs the steps in order against one fresh log; a step that must not write must leave the head unchanged.
fn check(steps: Vec<Step>) -> anyhow::Result<(tempfile::TempDir, EventLog)> {
    let directory = tempfile::tempdir()?;
    let log = EventLog::open(EventLogConfig::new(directory.path().join("log")))?;
    for (index, step) in steps.into_iter().enumerate() {
        let head_before = log.head();
        let result = log.append_blocking(AppendRequest {
            stream_id: StreamId::try_from(step.stream)?,
            expected_revision: step.expected,
            request_id: RequestId::try_from(step.request_id)?,
            actor_id: "tester".to_owned(),
            events: step.events,
        });
        let writes = matches!(step.expect, Expect::Written { .. });
        match (&step.expect, &result) {
            (Expect::Written { first, last, revision }, Ok(outcome))
            | (Expect::Duplicate { first, last, revision }, Ok(outcome)) => {
                assert_eq!(
                    (
                        outcome.first_position,
                        outcome.last_position,
                        outcome.last_revision,
                        outcome.duplicate
                    ),
                    (*first, *last, *revision, !writes),
                    "step {index}"
                );
                assert_eq!(log.head().position, *last.max(&head_before.position), "step {index}");
                assert_eq!(
                    log.read_event(*last)?.map(|event| event.hash),
                    Some(outcome.last_hash),
                    "step {index}"
                );
            }
            (
                Expect::Conflict { current_revision },
                Err(EventLogError::Conflict {
                    current_revision: actual,
                    ..
                }),
            ) => {
                assert_eq!(actual, current_revision, "step {index}");
            }
            (Expect::RequestIdReused, Err(EventLogError::RequestIdReused { .. })) => {}
            (Expect::Invalid { field }, Err(EventLogError::InvalidInput { field: actual, .. })) => {
                assert_eq!(actual, field, "step {index}");
            }
            (expect, result) => panic!("step {index}: expected {expect:?}, got {result:?}"),
        }
        if !writes {
            assert_eq!(log.head(), head_before, "step {index} must write nothing");
        }
    }
    Ok((directory, log))
}

use ExpectedRevision::{Any, Exact, NoStream};

#[test]
fn positions_start_at_1_and_revisions_at_0_per_stream() -> anyhow::Result<()> {
    check(vec![
        step("a", NoStream, "r1", 1, written(1, 1, 0)),
        step("b", Any, "r2", 3, written(2, 4, 2)),
        step("a", Exact(0), "r3", 2, written(5, 6, 2)),
        step("b", Any, "r4", 1, written(7, 7, 3)),
    ])?;
    Ok(())
}

#[test]
fn an_expected_revision_that_does_not_hold_writes_nothing() -> anyhow::Result<()> {
    check(vec![
        step("a", Exact(0), "r1", 1, Expect::Conflict { current_revision: None }),
        step("a", NoStream, "r2", 2, written(1, 2, 1)),
        step(
            "a",
            NoStream,
            "r3",
            1,
            Expect::Conflict {
                current_revision: Some(1),
            },
        ),
        step(
            "a",
            Exact(0),
            "r4",
            1,
            Expect::Conflict {
                current_revision: Some(1),
            },
        ),
        step(
            "a",
            Exact(2),
            "r5",
            1,
            Expect::Conflict {
                current_revision: Some(1),
            },
        ),
        // The refused request ids were not recorded: they may be used again.
        step("a", Exact(1), "r3", 1, written(3, 3, 2)),
    ])?;
    Ok(())
}

#[test]
fn a_retried_request_id_returns_the_original_outcome_and_writes_nothing() -> anyhow::Result<()> {
    check(vec![
        step("a", NoStream, "r1", 2, written(1, 2, 1)),
        step("a", NoStream, "r1", 2, duplicate(1, 2, 1)),
        step("a", Exact(1), "r2", 1, written(3, 3, 2)),
        // A retry is a duplicate whatever its expected revision says now.
        step("a", Exact(7), "r1", 1, duplicate(1, 2, 1)),
        step("b", Any, "r1", 1, Expect::RequestIdReused),
    ])?;
    Ok(())
}

#[test]
fn bad_input_is_refused_and_writes_nothing() -> anyhow::Result<()> {
    let oversized = vec![NewEvent {
        event_type: "Noted".to_owned(),
        occurred_at_micros: 0,
        payload: vec![0; MAX_PAYLOAD_BYTES + 1],
    }];
    let badly_typed = vec![NewEvent {
        event_type: "has space".to_owned(),
        occurred_at_micros: 0,
        payload: Vec::new(),
    }];
    check(vec![
        step("a", Any, "r1", 0, Expect::Invalid { field: "events" }),
        step(
            "a",
            Any,
            "r2",
            MAX_EVENTS_PER_APPEND + 1,
            Expect::Invalid { field: "events" },
        ),
        Step {
            stream: "a",
            expected: Any,
            request_id: "r3",
            events: oversized,
            expect: Expect::Invalid { field: "event" },
        },
        Step {
            stream: "a",
            expected: Any,
            request_id: "r4",
            events: badly_typed,
            expect: Expect::Invalid { field: "event_type" },
        },
        step("a", Any, "r5", MAX_EVENTS_PER_APPEND, written(1, 64, 63)),
    ])?;
    for (bad_stream_id, problem) in [
        ("", "empty"),
        ("has space", "space"),
        ("tab\t", "tab"),
        ("é", "non-ASCII"),
    ] {
        assert!(
            matches!(
                StreamId::try_from(bad_stream_id),
                Err(EventLogError::InvalidInput { field: "stream_id", .. })
            ),
            "{problem}"
        );
    }
    assert!(matches!(
        RequestId::try_from("x".repeat(129)),
        Err(EventLogError::InvalidInput {
            field: "request_id",
            ..
        })
    ));
    Ok(())
}

#[test]
fn reads_return_the_chain_as_written() -> anyhow::Result<()> {
    let (_directory, log) = check(vec![
        step("a", NoStream, "r1", 2, written(1, 2, 1)),
        step("b", NoStream, "r2", 1, written(3, 3, 0)),
        step("a", Exact(1), "r3", 1, written(4, 4, 2)),
    ])?;
    let all = log.read_all(0, 100)?;
    assert_eq!(
        all.iter().map(|event| event.position).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    let mut prev_hash = ZERO_HASH;
    for event in &all {
        assert_eq!(event.prev_hash, prev_hash);
        assert_eq!(event.hash, chain_hash(&prev_hash, &event.record_bytes));
        assert_eq!(event.record.position, event.position);
        prev_hash = event.hash;
    }
    let stream_a = log.read_stream(&StreamId::try_from("a")?, 0, 100)?;
    assert_eq!(
        stream_a
            .iter()
            .map(|event| (event.record.revision, event.position))
            .collect::<Vec<_>>(),
        vec![(0, 1), (1, 2), (2, 4)]
    );
    assert_eq!(stream_a[0].record.stream_prev_hash, ZERO_HASH.to_vec());
    assert_eq!(stream_a[2].record.stream_prev_hash, stream_a[1].hash.to_vec());
    assert_eq!(stream_a[0].record.actor_id, "tester");
    assert_eq!(stream_a[0].record.request_id, "r1");
    assert_eq!(stream_a[0].record.event, b"payload 0".to_vec());
    assert_eq!(log.read_stream(&StreamId::try_from("a")?, 2, 100)?.len(), 1);
    assert_eq!(
        log.read_all(3, 1)?
            .iter()
            .map(|event| event.position)
            .collect::<Vec<_>>(),
        vec![3]
    );
    assert!(log.read_all(5, 10)?.is_empty());
    assert_eq!(log.stream_revision(&StreamId::try_from("b")?)?, Some(0));
    assert_eq!(log.stream_revision(&StreamId::try_from("c")?)?, None);
    let recorded_at: Vec<i64> = all.iter().map(|event| event.record.recorded_at).collect();
    assert!(
        recorded_at.windows(2).all(|pair| pair[0] <= pair[1]),
        "recorded_at never decreases"
    );
    let report = log.verify(0, 0)?;
    assert!(report.ok, "{report:?}");
    assert_eq!((report.events_checked, report.head_position), (4, 4));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_durable_commits() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let log = EventLog::open(EventLogConfig::new(directory.path()))?;
    let mut appends = tokio::task::JoinSet::new();
    for n in 0..64 {
        let log = log.clone();
        appends.spawn(async move {
            log.append(AppendRequest {
                stream_id: StreamId::try_from(format!("stream-{}", n % 8))?,
                expected_revision: Any,
                request_id: RequestId::try_from(format!("request-{n}"))?,
                actor_id: String::new(),
                events: events(1),
            })
            .await
        });
    }
    let mut positions = Vec::new();
    while let Some(outcome) = appends.join_next().await {
        positions.push(outcome??.last_position);
    }
    positions.sort_unstable();
    assert_eq!(positions, (1..=64).collect::<Vec<u64>>());
    let stats = log.stats();
    assert_eq!((stats.appends_written, stats.events_written), (64, 64));
    assert!(
        stats.durable_commits < 64,
        "64 concurrent appends took {} flushes",
        stats.durable_commits
    );
    Ok(())
}

#[test]
fn a_reopened_log_continues_the_chain() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let append = |log: &EventLog, request_id: &str| {
        log.append_blocking(AppendRequest {
            stream_id: StreamId::try_from("a")?,
            expected_revision: Any,
            request_id: RequestId::try_from(request_id)?,
            actor_id: String::new(),
            events: events(2),
        })
    };
    let log = EventLog::open(EventLogConfig::new(directory.path()))?;
    append(&log, "r1")?;
    log.close()?;
    assert!(matches!(append(&log, "r2"), Err(EventLogError::Closed { .. })));
    drop(log);
    let log = EventLog::open(EventLogConfig::new(directory.path()))?;
    assert_eq!(log.head().position, 2);
    assert!(append(&log, "r1")?.duplicate);
    let outcome = append(&log, "r2")?;
    assert_eq!(
        (outcome.first_position, outcome.last_revision, outcome.duplicate),
        (3, 3, false)
    );
    assert!(log.verify(0, 0)?.ok);
    Ok(())
}
