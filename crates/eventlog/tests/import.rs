//! Imports of a source log's events into another log: what is accepted (verbatim, resent prefixes), what is refused and where, and that a refused import writes nothing.

use std::sync::OnceLock;

use gridledger_eventlog::{
    AppendOutcome, AppendRequest, EventLog, EventLogConfig, EventLogError, EventRecord, ExpectedRevision,
    ImportedEvent, MAX_PAYLOAD_BYTES, NewEvent, RecordedEvent, RequestId, StreamId, VerifyReport, chain_hash,
};
use prost::Message;

/// The source log, written once per test process: 12 events over 3 streams.
///
/// | position | stream | revision | request |
/// |---|---|---|---|
/// | 1, 2 | s0 | 0, 1 | append-0 |
/// | 3 | s1 | 0 | append-1 |
/// | 4 | s0 | 2 | append-2 |
/// | 5, 6, 7 | s2 | 0, 1, 2 | append-3 |
/// | 8, 9 | s1 | 1, 2 | append-4 |
/// | 10 | s0 | 3 | append-5 |
/// | 11 | s2 | 3 | append-6 |
/// | 12 | s1 | 3 | append-7 |
struct Source {
    events: Vec<RecordedEvent>,
    appends: Vec<(RequestId, AppendOutcome)>,
    verify: VerifyReport,
}

const APPENDS: [(&str, usize); 8] = [
    ("s0", 2),
    ("s1", 1),
    ("s0", 1),
    ("s2", 3),
    ("s1", 2),
    ("s0", 1),
    ("s2", 1),
    ("s1", 1),
];

fn write_source() -> anyhow::Result<Source> {
    let directory = tempfile::tempdir()?;
    let log = EventLog::open(EventLogConfig::new(directory.path()))?;
    let mut appends = Vec::new();
    for (n, (stream, count)) in APPENDS.into_iter().enumerate() {
        let request_id = RequestId::try_from(format!("append-{n}"))?;
        let outcome = log.append_blocking(AppendRequest {
            stream_id: StreamId::try_from(stream)?,
            expected_revision: ExpectedRevision::Any,
            request_id: request_id.clone(),
            actor_id: "source-node".to_owned(),
            events: (0..count)
                .map(|k| NewEvent {
                    event_type: "Noted".to_owned(),
                    occurred_at_micros: 1_700_000_000_000_000 + k as i64,
                    payload: format!("append {n} event {k}").into_bytes(),
                })
                .collect(),
        })?;
        appends.push((request_id, outcome));
    }
    let source = Source {
        events: log.read_all(0, usize::MAX)?,
        appends,
        verify: log.verify(0, 0)?,
    };
    log.close()?;
    Ok(source)
}

fn source() -> &'static Source {
    static SOURCE: OnceLock<Source> = OnceLock::new();
    SOURCE.get_or_init(|| match write_source() {
        Ok(source) => source,
        Err(error) => panic!("writing the source log: {error}"),
    })
}

/// How an imported event differs from the source's.
#[derive(Clone, Copy)]
enum Alteration {
    /// The last byte of the record (inside the payload) flipped, the claimed hash kept.
    FlipLastByte,
    /// The record kept, its claimed hash changed.
    WrongClaimedHash,
    /// `recorded_at` one microsecond before the previous position's, hash recomputed.
    RecordedAtBeforePrevious,
    /// The record changed by this and re-encoded, its hash recomputed on the source's chain.
    Record(fn(&mut EventRecord)),
}

enum Item {
    /// The source's event at this position, as it is.
    Event(u64),
    Altered(u64, Alteration),
    Bytes(Vec<u8>),
}

fn events(positions: std::ops::RangeInclusive<u64>) -> Vec<Item> {
    positions.map(Item::Event).collect()
}

fn with(mut items: Vec<Item>, item: Item) -> Vec<Item> {
    items.push(item);
    items
}

fn imported(item: &Item) -> ImportedEvent {
    let events = &source().events;
    let at = |position: u64| &events[position as usize - 1];
    match item {
        Item::Event(position) => at(*position).clone().into(),
        Item::Bytes(bytes) => ImportedEvent {
            record_bytes: bytes.clone(),
            hash: [0; 32],
        },
        Item::Altered(position, alteration) => {
            let event = at(*position);
            let rehashed = |record: EventRecord| {
                let record_bytes = record.encode_to_vec();
                ImportedEvent {
                    hash: chain_hash(&event.prev_hash, &record_bytes),
                    record_bytes,
                }
            };
            match alteration {
                Alteration::FlipLastByte => {
                    let mut record_bytes = event.record_bytes.clone();
                    if let Some(last) = record_bytes.last_mut() {
                        *last ^= 0x01;
                    }
                    ImportedEvent {
                        record_bytes,
                        hash: event.hash,
                    }
                }
                Alteration::WrongClaimedHash => {
                    let mut hash = event.hash;
                    hash[31] ^= 0x01;
                    ImportedEvent {
                        record_bytes: event.record_bytes.clone(),
                        hash,
                    }
                }
                Alteration::RecordedAtBeforePrevious => rehashed(EventRecord {
                    recorded_at: at(position - 1).record.recorded_at - 1,
                    ..event.record.clone()
                }),
                Alteration::Record(change) => {
                    let mut record = event.record.clone();
                    change(&mut record);
                    rehashed(record)
                }
            }
        }
    }
}

enum Expect {
    /// Accepted; the log then holds the source's events 1..=head.
    Head(u64),
    /// Refused at `position` with a reason containing `reason`; the log unchanged.
    Refused { position: u64, reason: &'static str },
}

/// Imports the source's events `1..=before` into a fresh log, then `items`, and checks the
/// outcome. An accepted import must leave the source's prefix verbatim (records, hashes,
/// verify, request index), survive a reopen, and let appends (and retries of the source's
/// appends) continue; a refused one must leave the log as it was.
fn check(before: u64, items: Vec<Item>, expect: Expect) -> anyhow::Result<()> {
    let source = source();
    let directory = tempfile::tempdir()?;
    let open = || EventLog::open(EventLogConfig::new(directory.path()));
    let log = open()?;
    let prefix: Vec<ImportedEvent> = events(1..=before).iter().map(imported).collect();
    assert_eq!(log.import_blocking(prefix)?.position, before);
    let head_before = log.head();
    let events_before = log.read_all(0, usize::MAX)?;

    let result = log.import_blocking(items.iter().map(imported).collect());

    match expect {
        Expect::Refused { position, reason } => {
            match &result {
                Err(EventLogError::ImportRefused {
                    position: refused_at,
                    reason: refused_because,
                }) => {
                    assert_eq!(*refused_at, position, "{result:?}");
                    assert!(refused_because.contains(reason), "{result:?}");
                }
                _ => panic!("expected a refusal at {position}, got {result:?}"),
            }
            assert!(
                result.as_ref().err().is_some_and(|error| error
                    .to_string()
                    .starts_with(&format!("import refused at position {position}: "))),
                "{result:?}"
            );
            log.close()?;
            drop(log);
            let log = open()?;
            assert_eq!(log.head(), head_before);
            assert_eq!(log.read_all(0, usize::MAX)?, events_before);
            let report = log.verify(0, 0)?;
            assert!(report.ok && report.events_checked == before, "{report:?}");
        }
        Expect::Head(head) => {
            let expected_head = source.events[head as usize - 1].clone();
            let got = result?;
            assert_eq!((got.position, got.hash), (head, expected_head.hash));
            log.close()?;
            drop(log);
            let log = open()?;
            assert_eq!(log.head(), got);
            assert_eq!(log.read_all(0, usize::MAX)?, source.events[..head as usize].to_vec());
            let report = log.verify(0, 0)?;
            if head == source.events.len() as u64 {
                assert_eq!(report, source.verify);
            }
            assert!(report.ok && report.events_checked == head, "{report:?}");
            for (request_id, original) in &source.appends {
                let found = log.find_request(request_id)?;
                let expected = if original.last_position <= head {
                    Some(AppendOutcome {
                        duplicate: true,
                        ..original.clone()
                    })
                } else {
                    None
                };
                if original.first_position > head || original.last_position <= head {
                    assert_eq!(found, expected, "{request_id}");
                } else {
                    // An append imported in part so far.
                    let found = found.map(|outcome| (outcome.first_position, outcome.last_position));
                    assert_eq!(found, Some((original.first_position, head)), "{request_id}");
                }
            }
            check_appends_continue(&log, head)?;
        }
    }
    Ok(())
}

/// A retry of the source's first append is a duplicate; a new append to s0 continues its
/// stream chain after the imported events.
fn check_appends_continue(log: &EventLog, head: u64) -> anyhow::Result<()> {
    let (first_request, first_outcome) = &source().appends[0];
    let s0 = StreamId::try_from("s0")?;
    let retry = log.append_blocking(AppendRequest {
        stream_id: s0.clone(),
        expected_revision: ExpectedRevision::Any,
        request_id: first_request.clone(),
        actor_id: String::new(),
        events: vec![NewEvent {
            event_type: "Noted".to_owned(),
            occurred_at_micros: 0,
            payload: b"retry".to_vec(),
        }],
    })?;
    assert_eq!(
        retry,
        AppendOutcome {
            duplicate: true,
            ..first_outcome.clone()
        }
    );
    let s0_revision = log.stream_revision(&s0)?;
    let written = log.append_blocking(AppendRequest {
        stream_id: s0.clone(),
        expected_revision: s0_revision.map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact),
        request_id: RequestId::try_from("after-the-import")?,
        actor_id: String::new(),
        events: vec![
            NewEvent {
                event_type: "Noted".to_owned(),
                occurred_at_micros: 0,
                payload: b"after 1".to_vec(),
            },
            NewEvent {
                event_type: "Noted".to_owned(),
                occurred_at_micros: 0,
                payload: b"after 2".to_vec(),
            },
        ],
    })?;
    assert_eq!((written.first_position, written.duplicate), (head + 1, false));
    let appended = log.read_all(head + 1, 2)?;
    assert!(
        appended
            .first()
            .is_some_and(|event| event.record.recorded_at >= source().events[head as usize - 1].record.recorded_at)
    );
    let report = log.verify(0, 0)?;
    assert!(report.ok && report.events_checked == head + 2, "{report:?}");
    log.close()?;
    Ok(())
}

#[test]
fn everything_at_once_is_stored_verbatim() -> anyhow::Result<()> {
    check(0, events(1..=12), Expect::Head(12))
}

#[test]
fn an_append_split_across_two_imports_is_one_request() -> anyhow::Result<()> {
    // append-3 is positions 5..=7.
    check(6, events(7..=12), Expect::Head(12))
}

#[test]
fn a_resent_prefix_is_skipped() -> anyhow::Result<()> {
    check(8, events(3..=12), Expect::Head(12))
}

#[test]
fn a_resent_import_of_what_is_stored_changes_nothing() -> anyhow::Result<()> {
    check(8, events(1..=8), Expect::Head(8))
}

#[test]
fn an_empty_import_changes_nothing() -> anyhow::Result<()> {
    check(4, Vec::new(), Expect::Head(4))
}

#[test]
fn a_gap_is_refused() -> anyhow::Result<()> {
    check(
        4,
        events(6..=8),
        Expect::Refused {
            position: 5,
            reason: "expected position 5, the record says 6",
        },
    )
}

#[test]
fn a_gap_inside_the_import_refuses_all_of_it() -> anyhow::Result<()> {
    check(
        4,
        with(events(5..=6), Item::Event(8)),
        Expect::Refused {
            position: 7,
            reason: "expected position 7, the record says 8",
        },
    )
}

#[test]
fn a_position_twice_inside_the_import_is_refused() -> anyhow::Result<()> {
    check(
        4,
        with(events(5..=6), Item::Event(6)),
        Expect::Refused {
            position: 7,
            reason: "expected position 7, the record says 6",
        },
    )
}

#[test]
fn a_stored_position_with_other_bytes_is_refused() -> anyhow::Result<()> {
    check(
        6,
        vec![Item::Altered(4, Alteration::Record(|record| record.event.push(b'!')))],
        Expect::Refused {
            position: 4,
            reason: "already stored with a different record",
        },
    )
}

#[test]
fn a_stored_position_with_another_hash_is_refused() -> anyhow::Result<()> {
    check(
        6,
        vec![Item::Altered(4, Alteration::WrongClaimedHash)],
        Expect::Refused {
            position: 4,
            reason: "already stored with a different chain hash",
        },
    )
}

#[test]
fn a_resent_prefix_then_a_bad_event_writes_nothing() -> anyhow::Result<()> {
    check(
        6,
        with(events(3..=7), Item::Altered(8, Alteration::WrongClaimedHash)),
        Expect::Refused {
            position: 8,
            reason: "chain hash does not match",
        },
    )
}

#[test]
fn an_altered_record_byte_breaks_the_chain() -> anyhow::Result<()> {
    check(
        4,
        vec![
            Item::Event(5),
            Item::Altered(6, Alteration::FlipLastByte),
            Item::Event(7),
        ],
        Expect::Refused {
            position: 6,
            reason: "chain hash does not match",
        },
    )
}

#[test]
fn a_wrong_claimed_hash_is_refused() -> anyhow::Result<()> {
    check(
        4,
        vec![Item::Event(5), Item::Altered(6, Alteration::WrongClaimedHash)],
        Expect::Refused {
            position: 6,
            reason: "chain hash does not match",
        },
    )
}

#[test]
fn a_wrong_stream_prev_hash_is_refused() -> anyhow::Result<()> {
    check(
        4,
        vec![
            Item::Event(5),
            Item::Altered(6, Alteration::Record(|record| record.stream_prev_hash = vec![7; 32])),
        ],
        Expect::Refused {
            position: 6,
            reason: "stream chain broken",
        },
    )
}

#[test]
fn a_skipped_revision_is_refused() -> anyhow::Result<()> {
    check(
        4,
        vec![
            Item::Event(5),
            Item::Altered(6, Alteration::Record(|record| record.revision += 1)),
        ],
        Expect::Refused {
            position: 6,
            reason: "expected revision 1 of stream s2, the record says 2",
        },
    )
}

#[test]
fn recorded_at_going_back_is_refused() -> anyhow::Result<()> {
    check(
        4,
        vec![Item::Event(5), Item::Altered(6, Alteration::RecordedAtBeforePrevious)],
        Expect::Refused {
            position: 6,
            reason: "recorded_at",
        },
    )
}

#[test]
fn garbage_bytes_are_refused_at_the_expected_position() -> anyhow::Result<()> {
    check(
        4,
        vec![Item::Event(5), Item::Bytes(vec![0xff; 9])],
        Expect::Refused {
            position: 6,
            reason: "does not decode",
        },
    )
}

#[test]
fn an_oversized_record_is_refused_before_decoding() -> anyhow::Result<()> {
    check(
        0,
        vec![Item::Bytes(vec![0; MAX_PAYLOAD_BYTES + 2048])],
        Expect::Refused {
            position: 1,
            reason: "bytes, at most",
        },
    )
}

#[test]
fn an_invalid_stream_id_is_refused() -> anyhow::Result<()> {
    check(
        4,
        vec![
            Item::Event(5),
            Item::Altered(6, Alteration::Record(|record| record.stream_id = "s 2".to_owned())),
        ],
        Expect::Refused {
            position: 6,
            reason: "invalid stream_id",
        },
    )
}

#[test]
fn an_event_id_of_the_wrong_length_is_refused() -> anyhow::Result<()> {
    check(
        4,
        vec![
            Item::Event(5),
            Item::Altered(6, Alteration::Record(|record| record.event_id.truncate(8))),
        ],
        Expect::Refused {
            position: 6,
            reason: "event_id has 8 bytes",
        },
    )
}

#[test]
fn a_request_id_of_an_earlier_append_is_refused() -> anyhow::Result<()> {
    check(
        4,
        with(
            events(5..=7),
            Item::Altered(
                8,
                Alteration::Record(|record| record.request_id = "append-0".to_owned()),
            ),
        ),
        Expect::Refused {
            position: 8,
            reason: "request id append-0 was already used by the append at positions 1..=2",
        },
    )
}
