//! Tampering with the stored log (records, hashes, Merkle tree nodes) through sled, behind the log's back, is caught by verify at the right position.

//!
//! A unit test of the crate (not an integration test) so that the on-disk layout, and sled
//! with it, stay private to `eventlog`.

use crate::layout;
use crate::{AppendRequest, EventLog, EventLogConfig, ExpectedRevision, NewEvent, RequestId, StreamId};

/// Events of the logs tampered with: long enough for stored Merkle nodes of two levels
/// (`m` entries at leaves 15, 31 and 47: levels 4; 4 and 5; 4), the last event completing one.
const EVENTS: u64 = 48;

/// Writes 48 events over 3 streams, closes the log, lets `tamper` change the sled tree
/// directly, reopens the log and checks what verify reports.
fn check(
    tamper: impl FnOnce(&sled::Tree) -> anyhow::Result<()>,
    expected_first_bad_position: u64,
    expected_message_part: &str,
    appends_refused_after_reopen: bool,
) -> anyhow::Result<()> {
    check_log_of(
        EVENTS,
        tamper,
        expected_first_bad_position,
        expected_message_part,
        appends_refused_after_reopen,
    )
}

/// [`check`] for a log of `events` events.
fn check_log_of(
    events: u64,
    tamper: impl FnOnce(&sled::Tree) -> anyhow::Result<()>,
    expected_first_bad_position: u64,
    expected_message_part: &str,
    appends_refused_after_reopen: bool,
) -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let log = EventLog::open(EventLogConfig::new(directory.path()))?;
    for n in 0..events {
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
    // Leaf 31 (position 32) completes levels 1 to 5 and stores 4 and 5; flip a byte of its
    // level-5 node, the second one stored.
    check(
        |tree| {
            let mut nodes = merkle_nodes(tree, 31)?;
            assert_eq!(nodes.len(), 2 * 32);
            nodes[32 + 5] ^= 0x40;
            tree.insert(layout::merkle_nodes_key(31), nodes)?;
            Ok(())
        },
        32,
        "Merkle tree node mismatch at position 32: the stored node of level 5 (positions 1..=32)",
        false,
    )
}

#[test]
fn a_changed_merkle_node_of_the_last_event_is_found() -> anyhow::Result<()> {
    // Leaf 47 (position 48, the last) completes levels 1 to 4 and stores 4.
    check(
        |tree| {
            let mut nodes = merkle_nodes(tree, EVENTS - 1)?;
            assert_eq!(nodes.len(), 32);
            nodes[0] ^= 0x01;
            tree.insert(layout::merkle_nodes_key(EVENTS - 1), nodes)?;
            Ok(())
        },
        EVENTS,
        "Merkle tree node mismatch at position 48: the stored node of level 4 (positions 33..=48)",
        false,
    )
}

#[test]
fn a_removed_merkle_node_entry_is_reported_as_missing() -> anyhow::Result<()> {
    check(
        |tree| {
            tree.remove(layout::merkle_nodes_key(15))?;
            Ok(())
        },
        16,
        "Merkle tree nodes of position 16 (level 4) are missing",
        // The tree of 48 events is nodes 1..=32 and 33..=48: opening does not read it.
        false,
    )?;
    check(
        |tree| {
            tree.remove(layout::merkle_nodes_key(31))?;
            Ok(())
        },
        32,
        "Merkle tree nodes of position 32 (levels 4..=5) are missing",
        // Opening reads node 1..=32.
        true,
    )
}

#[test]
fn a_truncated_merkle_node_entry_is_found() -> anyhow::Result<()> {
    check(
        |tree| {
            let nodes = merkle_nodes(tree, 31)?;
            tree.insert(layout::merkle_nodes_key(31), &nodes[..nodes.len() - 32])?;
            Ok(())
        },
        32,
        "Merkle tree nodes of position 32 have 32 bytes, 64 expected",
        // Opening reads that node (the tree of 48 events is nodes 1..=32 and 33..=48).
        true,
    )
}

#[test]
fn a_merkle_node_entry_for_a_leaf_that_stores_none_is_found() -> anyhow::Result<()> {
    // Leaf 5 completes level 1 only, which is not stored. As the first `m` entry of the log
    // it is also found on open.
    check(
        |tree| {
            tree.insert(layout::merkle_nodes_key(5), &[7u8; 32][..])?;
            Ok(())
        },
        6,
        "Merkle tree nodes are stored for position 6, which completes no stored node (levels >= 4)",
        true,
    )?;
    // Leaf 20 completes none, after the entry of leaf 15: found by verify only.
    check(
        |tree| {
            tree.insert(layout::merkle_nodes_key(20), &[7u8; 32][..])?;
            Ok(())
        },
        21,
        "which completes no stored node",
        false,
    )
}

/// Rewrites the `m` entries as the earlier layout had them: at every odd leaf, the nodes of
/// levels `1..=trailing_ones(i)`.
fn rewrite_in_the_earlier_layout(tree: &sled::Tree) -> anyhow::Result<()> {
    let mut frontier = crate::tree::Frontier::empty();
    let mut completed = Vec::new();
    for item in tree.scan_prefix([layout::RECORD_TAG]) {
        let (_, value) = item?;
        let leaf_index = frontier.push(
            &crate::merkle::leaf_hash(layout::record_bytes_of_value(&value)),
            &mut completed,
        );
        tree.remove(layout::merkle_nodes_key(leaf_index))?;
        if !completed.is_empty() {
            tree.insert(layout::merkle_nodes_key(leaf_index), &completed[..])?;
        }
    }
    Ok(())
}

#[test]
fn a_tree_of_the_earlier_layout_is_refused_on_open() -> anyhow::Result<()> {
    // Its first entry, at leaf 1, is found on open, however short the log.
    for events in [EVENTS, 10, 2] {
        check_log_of(
            events,
            rewrite_in_the_earlier_layout,
            2,
            "Merkle tree nodes are stored for position 2, which completes no stored node",
            true,
        )?;
    }
    Ok(())
}

#[test]
fn a_tree_size_entry_past_the_log_is_found_and_stops_appends() -> anyhow::Result<()> {
    check(
        |tree| {
            tree.insert(layout::TREE_SIZE_KEY, &layout::tree_size_value(EVENTS + 3)[..])?;
            Ok(())
        },
        EVENTS + 1,
        "the Merkle tree size entry says the tree covers 51 positions, the log ends at 48",
        true,
    )
}
