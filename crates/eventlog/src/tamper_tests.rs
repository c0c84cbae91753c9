//! Tampering with the stored log (records, hashes, Merkle tree nodes) through sled, behind the log's back, is caught by verify at the right position.

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

fn merkle_nodes(tree: &sled::Tree, leaf_index: u64) -> anyhow::Result<Vec<u8>> {
    Ok(tree
        .get(layout::merkle_nodes_key(leaf_index))?
        .ok_or_else(|| anyhow::anyhow!("no Merkle nodes at leaf {leaf_index}"))?
        .to_vec())
}

#[test]
fn a_changed_merkle_node_is_found_at_the_position_that_completed_it() -> anyhow::Result<()> {
    // Leaf 7 (position 8) completes levels 1, 2 and 3; flip a byte of its level-2 node.
    check(
        |tree| {
            let mut nodes = merkle_nodes(tree, 7)?;
            assert_eq!(nodes.len(), 3 * 32);
            nodes[32 + 5] ^= 0x40;
            tree.insert(layout::merkle_nodes_key(7), nodes)?;
            Ok(())
        },
        8,
        "Merkle tree node mismatch at position 8: the stored node of level 2 (positions 5..=8)",
        false,
    )
}

#[test]
fn a_changed_merkle_node_of_the_last_event_is_found() -> anyhow::Result<()> {
    // Leaf 19 (position 20, the last) completes levels 1 and 2.
    check(
        |tree| {
            let mut nodes = merkle_nodes(tree, EVENTS - 1)?;
            nodes[0] ^= 0x01;
            tree.insert(layout::merkle_nodes_key(EVENTS - 1), nodes)?;
            Ok(())
        },
        EVENTS,
        "Merkle tree node mismatch at position 20: the stored node of level 1",
        false,
    )
}

#[test]
fn a_removed_merkle_node_entry_is_reported_as_missing() -> anyhow::Result<()> {
    check(
        |tree| {
            tree.remove(layout::merkle_nodes_key(11))?;
            Ok(())
        },
        12,
        "Merkle tree nodes of position 12 (levels 1..=2) are missing",
        false,
    )
}

#[test]
fn a_truncated_merkle_node_entry_is_found() -> anyhow::Result<()> {
    check(
        |tree| {
            let nodes = merkle_nodes(tree, 15)?;
            tree.insert(layout::merkle_nodes_key(15), &nodes[..nodes.len() - 32])?;
            Ok(())
        },
        16,
        "Merkle tree nodes of position 16 have 96 bytes, 128 expected",
        // Opening reads that node (the tree of 20 events is nodes 1..=16 and 17..=20).
        true,
    )
}

#[test]
fn a_merkle_node_entry_for_an_even_leaf_is_found() -> anyhow::Result<()> {
    check(
        |tree| {
            tree.insert(layout::merkle_nodes_key(4), &[7u8; 32][..])?;
            Ok(())
        },
        5,
        "which completes none",
        false,
    )
}

#[test]
fn a_tree_size_entry_past_the_log_is_found_and_stops_appends() -> anyhow::Result<()> {
    check(
        |tree| {
            tree.insert(layout::TREE_SIZE_KEY, &layout::tree_size_value(EVENTS + 3)[..])?;
            Ok(())
        },
        EVENTS + 1,
        "the Merkle tree size entry says the tree covers 23 positions, the log ends at 20",
        true,
    )
}
