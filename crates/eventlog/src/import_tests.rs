//! Imports under storage faults injected into the durable flush, and against concurrent appends on the same log.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::{Arc, Barrier, mpsc};
use std::task::Poll;

use crate::fault_tests::wait_healthy;
use crate::store::InjectedFault;
use crate::{
    AppendRequest, EventLog, EventLogConfig, EventLogError, ExpectedRevision, ImportedEvent, LogHealth, NewEvent,
    RecordedEvent, RequestId, StreamId,
};

fn request(stream: &str, request_id: &str, events: usize) -> anyhow::Result<AppendRequest> {
    Ok(AppendRequest {
        stream_id: StreamId::try_from(stream)?,
        expected_revision: ExpectedRevision::Any,
        request_id: RequestId::try_from(request_id)?,
        actor_id: String::new(),
        events: (0..events)
            .map(|n| NewEvent {
                event_type: "Noted".to_owned(),
                occurred_at_micros: 0,
                payload: format!("{request_id}/{n}").into_bytes(),
            })
            .collect(),
    })
}

/// Six events of a source log: positions 3 and 4 are one append, split by the imports below.
fn source_events(path: &std::path::Path) -> anyhow::Result<Vec<RecordedEvent>> {
    let log = EventLog::open(EventLogConfig::new(path))?;
    for (stream, request_id, events) in [
        ("a", "r1", 1),
        ("b", "r2", 1),
        ("a", "r3", 2),
        ("b", "r4", 1),
        ("a", "r5", 1),
    ] {
        log.append_blocking(request(stream, request_id, events)?)?;
    }
    let events = log.read_all(0, usize::MAX)?;
    log.close()?;
    Ok(events)
}

fn imported(events: &[RecordedEvent]) -> Vec<ImportedEvent> {
    events.iter().cloned().map(ImportedEvent::from).collect()
}

/// Imports events 1..=3, then 4..=6 with `fault` injected into the flush: that import's
/// outcome is unknown and nothing of it is visible; imports and appends are then refused as
/// unavailable. Once the log is healthy again (by itself, or reopened after a fault for
/// good), resending everything succeeds, skipping what was written, and the copy is exact.
fn check(fault: InjectedFault) -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let events = source_events(&directory.path().join("source"))?;
    let open = || EventLog::open(EventLogConfig::new(directory.path().join("copy")));
    let log = open()?;
    assert_eq!(log.import_blocking(imported(&events[..3]))?.position, 3);

    log.inject_flush_fault(Some(fault));
    let unknown = log.import_blocking(imported(&events[3..]));
    assert!(
        matches!(unknown, Err(EventLogError::OutcomeUnknown { .. })),
        "{unknown:?}"
    );
    assert_eq!(log.head().position, 3, "nothing is visible before it is durable");
    assert_eq!(log.read_all(4, usize::MAX)?, Vec::new());
    let refused = log.import_blocking(imported(&events[3..]));
    assert!(matches!(refused, Err(EventLogError::Unavailable { .. })), "{refused:?}");
    let refused = log.append_blocking(request("c", "local", 1)?);
    assert!(matches!(refused, Err(EventLogError::Unavailable { .. })), "{refused:?}");
    log.inject_flush_fault(None);

    let log = match fault {
        InjectedFault::Transient => {
            wait_healthy(&log);
            assert_eq!(log.head().position, 6, "the recovered flush made the import durable");
            log
        }
        InjectedFault::ForGood => {
            assert!(matches!(log.health(), LogHealth::Failing { retrying: false, .. }));
            log.close()?;
            drop(log);
            let log = open()?;
            assert!(matches!(log.head().position, 3 | 6), "{:?}", log.head());
            log
        }
    };
    let last = &events[5];
    let head = log.import_blocking(imported(&events))?;
    assert_eq!((head.position, head.hash), (last.position, last.hash));
    assert_eq!(log.read_all(0, usize::MAX)?, events);
    let r3 = log.find_request(&RequestId::try_from("r3")?)?;
    assert_eq!(
        r3.map(|outcome| (outcome.first_position, outcome.last_position)),
        Some((3, 4))
    );
    let report = log.verify(0, 0)?;
    assert!(report.ok && report.events_checked == 6, "{report:?}");
    log.close()?;
    Ok(())
}

#[test]
fn an_import_over_a_transient_flush_failure_is_settled_by_resending_it() -> anyhow::Result<()> {
    check(InjectedFault::Transient)
}

#[test]
fn an_import_over_a_failed_fsync_is_settled_by_resending_it_after_reopen() -> anyhow::Result<()> {
    check(InjectedFault::ForGood)
}

/// An import and appends on the same log at once are serialized by the writer. Queued before
/// the appends (even rounds), the import is stored whole right after the log's head, the
/// appends after it; queued once an append is in (odd rounds, while the others go on, so it
/// sits in the writer's queue behind appends), it is refused (its first position now holds
/// other bytes) and writes nothing. Either way the log verifies.
#[test]
fn imports_and_concurrent_appends_are_serialized() -> anyhow::Result<()> {
    const APPENDERS: usize = 4;
    /// Appends per appender: enough to keep the writer's queue busy when the import comes.
    const APPENDS: usize = 8;
    const LOCAL_EVENTS: u64 = (APPENDERS * APPENDS) as u64;
    let directory = tempfile::tempdir()?;
    let events = source_events(&directory.path().join("source"))?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    for round in 0..8 {
        let import_first = round % 2 == 0;
        let log = EventLog::open(EventLogConfig::new(directory.path().join(format!("copy-{round}"))))?;
        log.import_blocking(imported(&events[..2]))?;
        let start = Arc::new(Barrier::new(APPENDERS + 1));
        let (first_appended, first_append) = mpsc::channel();
        let appenders: Vec<_> = (0..APPENDERS)
            .map(|n| {
                let (log, start, first_appended) = (log.clone(), start.clone(), first_appended.clone());
                std::thread::spawn(move || -> anyhow::Result<()> {
                    start.wait();
                    for k in 0..APPENDS {
                        log.append_blocking(request(&format!("local-{n}"), &format!("local-{n}-{k}"), 1)?)?;
                        let _ = first_appended.send(());
                    }
                    Ok(())
                })
            })
            .collect();
        let result = runtime.block_on(async {
            let mut import = pin!(log.import(imported(&events[2..])));
            // The first poll queues the import to the writer.
            let queued_first = if import_first {
                poll_fn(|context| Poll::Ready(import.as_mut().poll(context))).await
            } else {
                Poll::Pending
            };
            start.wait();
            if !import_first {
                first_append.recv()?;
            }
            anyhow::Ok(match queued_first {
                Poll::Ready(result) => result,
                Poll::Pending => import.await,
            })
        })?;
        for appender in appenders {
            appender.join().map_err(|_| anyhow::anyhow!("an appender panicked"))??;
        }
        let stored = log.read_all(0, usize::MAX)?;
        match result {
            Ok(head) if import_first => {
                assert_eq!(head.position, 6);
                assert_eq!(stored[..6], events[..]);
                assert_eq!(log.head().position, 6 + LOCAL_EVENTS);
            }
            Err(EventLogError::ImportRefused { position, reason }) if !import_first => {
                // Position 3 now holds an append: the import's first event differs from it.
                assert_eq!(position, 3, "{reason}");
                assert!(reason.contains("already stored with a different record"), "{reason}");
                assert_eq!(log.head().position, 2 + LOCAL_EVENTS);
                assert!(stored[2..].iter().all(|event| !events.contains(event)));
            }
            other => panic!("round {round}: {other:?}"),
        }
        let report = log.verify(0, 0)?;
        assert!(report.ok && report.events_checked == log.head().position, "{report:?}");
        log.close()?;
    }
    Ok(())
}
