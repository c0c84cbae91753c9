//! Model-based property test of import: a log written by random appends, copied into another log by imports of random sizes (with resent overlaps and reopens), is the same log.

use gridledger_eventlog::{
    AppendRequest, EventLog, EventLogConfig, ExpectedRevision, ImportedEvent, LogHead, NewEvent, RequestId, StreamId,
};
use proptest::prelude::*;

const STREAMS: usize = 4;

#[derive(Debug, Clone)]
struct Append {
    stream: usize,
    events: usize,
    /// Reuses an earlier request id (the append then writes nothing).
    retry_of: Option<usize>,
}

#[derive(Debug, Clone)]
struct Chunk {
    /// New events in this import.
    size: usize,
    /// Events already imported that the import sends again first.
    resend: usize,
    /// Reopen the copy before this import.
    reopen: bool,
}

fn append() -> impl Strategy<Value = Append> {
    (0..STREAMS, 1..5usize, prop::option::weighted(0.15, 0..64usize)).prop_map(|(stream, events, retry_of)| Append {
        stream,
        events,
        retry_of,
    })
}

fn chunk() -> impl Strategy<Value = Chunk> {
    (
        1..9usize,
        prop_oneof![4 => Just(0usize), 1 => 1..4usize],
        prop::bool::weighted(0.2),
    )
        .prop_map(|(size, resend, reopen)| Chunk { size, resend, reopen })
}

fn check(appends: Vec<Append>, chunks: Vec<Chunk>) -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let source = EventLog::open(EventLogConfig::new(directory.path().join("source")))?;
    let open_copy = || EventLog::open(EventLogConfig::new(directory.path().join("copy")));
    let mut request_ids: Vec<RequestId> = Vec::new();
    for (n, append) in appends.into_iter().enumerate() {
        let request_id = match append.retry_of {
            Some(index) if !request_ids.is_empty() => request_ids[index % request_ids.len()].clone(),
            _ => RequestId::try_from(format!("request-{n}"))?,
        };
        // A retry for another stream is refused (RequestIdReused): that is fine here.
        let _ = source.append_blocking(AppendRequest {
            stream_id: StreamId::try_from(format!("stream-{}", append.stream))?,
            expected_revision: ExpectedRevision::Any,
            request_id: request_id.clone(),
            actor_id: format!("actor-{n}"),
            events: (0..append.events)
                .map(|k| NewEvent {
                    event_type: "Noted".to_owned(),
                    occurred_at_micros: n as i64,
                    payload: format!("{n}/{k}").into_bytes(),
                })
                .collect(),
        });
        request_ids.push(request_id);
    }
    let events = source.read_all(0, usize::MAX)?;

    let mut copy = open_copy()?;
    let mut imported = 0usize;
    let mut chunks = chunks.into_iter();
    while imported < events.len() {
        let chunk = chunks.next().unwrap_or(Chunk {
            size: usize::MAX,
            resend: 0,
            reopen: false,
        });
        if chunk.reopen {
            copy.close()?;
            drop(copy);
            copy = open_copy()?;
        }
        let start = imported.saturating_sub(chunk.resend);
        let end = imported.saturating_add(chunk.size).min(events.len());
        let head = copy.import_blocking(events[start..end].iter().cloned().map(ImportedEvent::from).collect())?;
        let last = &events[end - 1];
        assert_eq!(
            head,
            LogHead {
                position: last.position,
                hash: last.hash
            }
        );
        assert_eq!(copy.head(), head);
        imported = end;
    }

    assert_eq!(copy.head(), source.head());
    assert_eq!(copy.read_all(0, usize::MAX)?, events);
    assert_eq!(copy.verify(0, 0)?, source.verify(0, 0)?);
    // The Merkle tree the import built is the source's, at every size.
    for size in 0..=events.len() as u64 {
        assert_eq!(copy.merkle_root(size)?, source.merkle_root(size)?, "tree size {size}");
    }
    for request_id in &request_ids {
        assert_eq!(
            copy.find_request(request_id)?,
            source.find_request(request_id)?,
            "{request_id}"
        );
    }
    for stream in 0..STREAMS {
        let stream_id = StreamId::try_from(format!("stream-{stream}"))?;
        assert_eq!(
            copy.read_stream(&stream_id, 0, usize::MAX)?,
            source.read_stream(&stream_id, 0, usize::MAX)?
        );
        assert_eq!(copy.stream_revision(&stream_id)?, source.stream_revision(&stream_id)?);
    }
    for event in &events {
        let instant = event.record.recorded_at;
        assert_eq!(copy.position_at(instant)?, source.position_at(instant)?);
    }

    // Appends go on the same way on both: a retry is the same duplicate, a new append
    // lands at the same position and revision.
    if let Some(request_id) = request_ids.first()
        && let Some(original) = source.find_request(request_id)?
    {
        for log in [&source, &copy] {
            let retried = log.append_blocking(request(original.stream_id.as_str(), request_id.clone()))?;
            assert_eq!(retried, original);
        }
    }
    let on_source = source.append_blocking(request("stream-1", RequestId::try_from("after")?))?;
    let on_copy = copy.append_blocking(request("stream-1", RequestId::try_from("after")?))?;
    assert_eq!(
        (on_copy.first_position, on_copy.last_revision, on_copy.duplicate),
        (on_source.first_position, on_source.last_revision, false)
    );
    let report = copy.verify(0, 0)?;
    assert!(
        report.ok && report.events_checked == events.len() as u64 + 1,
        "{report:?}"
    );
    copy.close()?;
    source.close()?;
    Ok(())
}

fn request(stream: &str, request_id: RequestId) -> AppendRequest {
    AppendRequest {
        stream_id: StreamId::try_from(stream).unwrap_or_else(|error| panic!("{error}")),
        expected_revision: ExpectedRevision::Any,
        request_id,
        actor_id: String::new(),
        events: vec![NewEvent {
            event_type: "Noted".to_owned(),
            occurred_at_micros: 0,
            payload: b"after".to_vec(),
        }],
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn an_imported_copy_is_the_same_log(
        appends in prop::collection::vec(append(), 1..30),
        chunks in prop::collection::vec(chunk(), 0..20),
    ) {
        check(appends, chunks).map_err(|error| TestCaseError::fail(error.to_string()))?;
    }
}
