//! Model-based property test: the log against a plain `Vec` reference, with reopen steps.

use std::collections::HashMap;

use gridledger_eventlog::{
    AppendOutcome, AppendRequest, EventLog, EventLogConfig, EventLogError, ExpectedRevision, NewEvent, RequestId,
    StreamId, ZERO_HASH,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum ExpectedChoice {
    Any,
    NoStream,
    Current,
    /// The current revision plus this (1..=2) — always wrong.
    Ahead(u64),
}

#[derive(Debug, Clone)]
enum Operation {
    Append {
        stream: usize,
        expected: ExpectedChoice,
        retry_of: Option<usize>,
        events: usize,
    },
    ReadAll {
        from: u64,
        max_count: usize,
    },
    ReadStream {
        stream: usize,
        from_revision: u64,
    },
    Reopen,
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        6 => (0..4usize, prop_oneof![Just(ExpectedChoice::Any), Just(ExpectedChoice::NoStream), Just(ExpectedChoice::Current), (1..3u64).prop_map(ExpectedChoice::Ahead)], prop::option::weighted(0.2, 0..64usize), 1..4usize)
            .prop_map(|(stream, expected, retry_of, events)| Operation::Append { stream, expected, retry_of, events }),
        2 => (0..40u64, 1..50usize).prop_map(|(from, max_count)| Operation::ReadAll { from, max_count }),
        2 => (0..4usize, 0..6u64).prop_map(|(stream, from_revision)| Operation::ReadStream { stream, from_revision }),
        1 => Just(Operation::Reopen),
    ]
}

/// The reference: every event ever written, in position order, and each request's outcome.
#[derive(Default)]
struct Model {
    /// (stream, revision, payload) at index position - 1.
    events: Vec<(String, u64, Vec<u8>)>,
    requests: HashMap<String, (String, u64, u64, u64)>,
}

impl Model {
    fn current_revision(&self, stream: &str) -> Option<u64> {
        self.events
            .iter()
            .filter(|(s, _, _)| s == stream)
            .map(|(_, revision, _)| *revision)
            .max()
    }
}

fn check(operations: Vec<Operation>) -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let open = || EventLog::open(EventLogConfig::new(directory.path()));
    let mut log = open()?;
    let mut model = Model::default();
    let mut request_ids: Vec<String> = Vec::new();

    for (step, operation) in operations.into_iter().enumerate() {
        match operation {
            Operation::Append {
                stream,
                expected,
                retry_of,
                events,
            } => {
                let stream = format!("stream-{stream}");
                let current = model.current_revision(&stream);
                let expected_revision = match expected {
                    ExpectedChoice::Any => ExpectedRevision::Any,
                    ExpectedChoice::NoStream => ExpectedRevision::NoStream,
                    ExpectedChoice::Current => current.map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact),
                    ExpectedChoice::Ahead(ahead) => ExpectedRevision::Exact(current.map_or(ahead, |r| r + ahead)),
                };
                let request_id = match retry_of {
                    Some(index) if !request_ids.is_empty() => request_ids[index % request_ids.len()].clone(),
                    _ => format!("request-{step}"),
                };
                let payloads: Vec<Vec<u8>> = (0..events).map(|n| format!("{step}/{n}").into_bytes()).collect();
                let result = log.append_blocking(AppendRequest {
                    stream_id: StreamId::try_from(stream.clone())?,
                    expected_revision,
                    request_id: RequestId::try_from(request_id.clone())?,
                    actor_id: String::new(),
                    events: payloads
                        .iter()
                        .map(|payload| NewEvent {
                            event_type: "Noted".to_owned(),
                            occurred_at_micros: 0,
                            payload: payload.clone(),
                        })
                        .collect(),
                });
                let expected_result = match model.requests.get(&request_id) {
                    Some((original_stream, ..)) if *original_stream != stream => Err("reused"),
                    Some(&(_, first, last, revision)) => Ok((first, last, revision, true)),
                    None if !expected_revision_admits(expected_revision, current) => Err("conflict"),
                    None => {
                        let first = model.events.len() as u64 + 1;
                        let mut revision = current.map_or(0, |r| r + 1);
                        for payload in payloads {
                            model.events.push((stream.clone(), revision, payload));
                            revision += 1;
                        }
                        let outcome = (first, model.events.len() as u64, revision - 1, false);
                        model
                            .requests
                            .insert(request_id.clone(), (stream.clone(), outcome.0, outcome.1, outcome.2));
                        request_ids.push(request_id);
                        Ok(outcome)
                    }
                };
                match (expected_result, result) {
                    (
                        Ok(expected),
                        Ok(AppendOutcome {
                            first_position,
                            last_position,
                            last_revision,
                            duplicate,
                            ..
                        }),
                    ) => {
                        assert_eq!(
                            (first_position, last_position, last_revision, duplicate),
                            expected,
                            "step {step}"
                        );
                    }
                    (Err("conflict"), Err(EventLogError::Conflict { current_revision, .. })) => {
                        assert_eq!(current_revision, current, "step {step}");
                    }
                    (Err("reused"), Err(EventLogError::RequestIdReused { .. })) => {}
                    (expected, actual) => panic!("step {step}: model says {expected:?}, log says {actual:?}"),
                }
            }
            Operation::ReadAll { from, max_count } => {
                let read = log.read_all(from, max_count)?;
                let start = from.max(1) as usize;
                let expected: Vec<_> = model
                    .events
                    .iter()
                    .enumerate()
                    .skip(start - 1)
                    .take(max_count)
                    .collect();
                assert_eq!(read.len(), expected.len(), "step {step}");
                for (event, (index, (stream, revision, payload))) in read.iter().zip(expected) {
                    assert_eq!(event.position, index as u64 + 1);
                    assert_eq!(
                        (&event.record.stream_id, event.record.revision, &event.record.event),
                        (stream, *revision, payload)
                    );
                }
            }
            Operation::ReadStream { stream, from_revision } => {
                let stream = format!("stream-{stream}");
                let read = log.read_stream(&StreamId::try_from(stream.clone())?, from_revision, usize::MAX)?;
                let expected: Vec<_> = model
                    .events
                    .iter()
                    .filter(|(s, r, _)| *s == stream && *r >= from_revision)
                    .collect();
                assert_eq!(read.len(), expected.len(), "step {step}");
                for (event, (_, revision, payload)) in read.iter().zip(expected) {
                    assert_eq!((event.record.revision, &event.record.event), (*revision, payload));
                }
                if let Some(first) = read.first().filter(|event| event.record.revision == 0) {
                    assert_eq!(first.record.stream_prev_hash, ZERO_HASH.to_vec());
                }
            }
            Operation::Reopen => {
                log.close()?;
                drop(log);
                log = open()?;
            }
        }
        assert_eq!(log.head().position, model.events.len() as u64, "step {step}");
    }
    let report = log.verify(0, 0)?;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.events_checked, model.events.len() as u64);
    Ok(())
}

fn expected_revision_admits(expected: ExpectedRevision, current: Option<u64>) -> bool {
    match expected {
        ExpectedRevision::Any => true,
        ExpectedRevision::NoStream => current.is_none(),
        ExpectedRevision::Exact(revision) => current == Some(revision),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_log_behaves_like_a_vec(operations in prop::collection::vec(operation(), 1..40)) {
        check(operations).map_err(|error| TestCaseError::fail(error.to_string()))?;
    }
}
