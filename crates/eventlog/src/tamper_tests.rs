//! Tampering with the stored log through sled, behind the log's back, is caught by verify at the right position.

//!
//! A unit test of the crate (not an integration test) so that the on-disk layout, and sled
//! with it, stay private to `eventlog`.

use crate::layout;
use crate::{AppendRequest, EventLog, EventLogConfig, ExpectedRevision, NewEvent, RequestId, StreamId};

const EVENTS: u64 = 20;

/// Writes 20 events over 3 streams, closes the log, lets `tamper` change the sled tree
/// directly, reopens the log and checks what verify reports.
fn check(
    tamper: impl FnOnce(&sled::Tree) -> anyhow::Result<()>,
    expected_first_bad_position: u64,
    expected_message_part: &str,
    appends_refused_after_reopen: bool,
) -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let log = EventLog::open(EventLogConfig::new(directory.path()))?;
    for n in 0..EVENTS {
        log.append_blocking(AppendRequest {
            stream_id: StreamId::try_from(format!("stream-{}", n % 3))?,
            expected_revision: ExpectedRevision::Any,
            request_id: RequestId::try_from(format!("request-{n}"))?,
            actor_id: "tester".to_owned(),
            events: vec![NewEvent {
                event_type: "Noted".to_owned(),
                occurred_at_micros: 1_700_000_000_000_000,
                payload: format!("event number {n}").into_bytes(),
            }],
        })?;
    }
    assert!(log.verify(0, 0)?.ok);
    log.close()?;
    drop(log);

    {
        let (db, tree) = layout::open_raw_tree(directory.path())?;
        tamper(&tree)?;
        db.flush()?;
    }

    let log = EventLog::open(EventLogConfig::new(directory.path()))?;
    let report = log.verify(0, 0)?;
    assert!(!report.ok, "{report:?}");
    assert_eq!(
        report.first_bad_position,
        Some(expected_first_bad_position),
        "{report:?}"
    );
    assert!(report.message.contains(expected_message_part), "{report:?}");
    assert_eq!(log.refusal_on_open().is_some(), appends_refused_after_reopen);
    Ok(())
}

fn flip_byte(tree: &sled::Tree, position: u64, offset: usize) -> anyhow::Result<()> {
    let key = layout::record_key(position);
    let mut value = tree
        .get(key)?
        .ok_or_else(|| anyhow::anyhow!("no record {position}"))?
        .to_vec();
    value[offset] ^= 0x01;
    tree.insert(key, value)?;
    Ok(())
}

#[test]
fn a_changed_byte_in_a_record_is_found_at_its_position() -> anyhow::Result<()> {
    // Offset 32 is the first byte of the record after the stored hash; 40 is inside it.
    check(|tree| flip_byte(tree, 7, 40), 7, "hash mismatch", false)
}

#[test]
fn a_changed_byte_in_the_last_record_is_found_and_stops_appends() -> anyhow::Result<()> {
    check(|tree| flip_byte(tree, EVENTS, 45), EVENTS, "hash mismatch", true)
}

#[test]
fn a_changed_stored_hash_is_found_at_its_position() -> anyhow::Result<()> {
    check(|tree| flip_byte(tree, 3, 0), 3, "hash mismatch", false)
}

#[test]
fn a_truncated_last_event_is_reported_as_missing() -> anyhow::Result<()> {
    check(
        |tree| {
            tree.remove(layout::record_key(EVENTS))?;
            Ok(())
        },
        EVENTS,
        "missing",
        true,
    )
}
