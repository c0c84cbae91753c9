//! The stored Merkle tree of a log written before it had one (or whose build was cut short) is built on open, and equals the tree the writer keeps.
//!
//! A unit test of the crate, like `tamper_tests.rs`, to reach the layout through sled.

use crate::layout;
use crate::merkle::{self, MerkleHash};
use crate::store::LogTree;
use crate::tree;
use crate::{AppendRequest, EventLog, EventLogConfig, ExpectedRevision, NewEvent, RequestId, StreamId};

const EVENTS: u64 = 53;

/// Writes 53 events in uneven appends and returns the leaf hashes of their records.
fn write_log(path: &std::path::Path) -> anyhow::Result<Vec<MerkleHash>> {
    let log = EventLog::open(EventLogConfig::new(path))?;
    let mut written = 0;
    let mut step = 0;
    while written < EVENTS {
        let events = (1 + step % 6).min(EVENTS - written);
        log.append_blocking(AppendRequest {
            stream_id: StreamId::try_from(format!("stream-{}", step % 4))?,
            expected_revision: ExpectedRevision::Any,
            request_id: RequestId::try_from(format!("request-{step}"))?,
            actor_id: "tester".to_owned(),
            events: (0..events)
                .map(|n| NewEvent {
                    event_type: "Noted".to_owned(),
                    occurred_at_micros: 0,
                    payload: format!("{step}/{n}").into_bytes(),
                })
                .collect(),
        })?;
        written += events;
        step += 1;
    }
    let leaves = log
        .read_all(1, usize::MAX)?
        .iter()
        .map(|event| merkle::leaf_hash(&event.record_bytes))
        .collect();
    log.close()?;
    Ok(leaves)
}

/// The stored `m` entries, (leaf index, value), in order.
fn node_entries(tree: &sled::Tree) -> anyhow::Result<Vec<(u64, Vec<u8>)>> {
    let mut entries = Vec::new();
    for item in tree.scan_prefix([layout::MERKLE_NODES_TAG]) {
        let (key, value) = item?;
        let leaf_index =
            layout::leaf_index_of_merkle_nodes_key(&key).ok_or_else(|| anyhow::anyhow!("bad key {key:?}"))?;
        entries.push((leaf_index, value.to_vec()));
    }
    Ok(entries)
}

/// Writes the log, lets `damage` change the sled tree directly (as an earlier version or an
/// interrupted build would have left it), reopens, and checks that the tree was built: the
/// node entries and tree size are what the writer had written, every root is the reference
/// root, verify passes, appends go on.
fn check(damage: impl FnOnce(&sled::Db, &sled::Tree) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let leaves = write_log(directory.path())?;
    let written_by_the_writer = {
        let (db, tree) = layout::open_raw_tree(directory.path())?;
        let entries = node_entries(&tree)?;
        assert_eq!(entries.len() as u64, EVENTS / 16, "one entry per 16 leaves");
        for (leaf_index, value) in &entries {
            assert_eq!(leaf_index % 16, 15, "entry of leaf {leaf_index}");
            assert_eq!(value.len(), 32 * layout::merkle_nodes_stored_by(*leaf_index) as usize);
        }
        damage(&db, &tree)?;
        db.flush()?;
        entries
    };

    let log = EventLog::open(EventLogConfig::new(directory.path()))?;
    assert_eq!(log.refusal_on_open(), None);
    let report = log.verify(0, 0)?;
    assert!(report.ok, "{report:?}");
    for size in 0..=EVENTS {
        assert_eq!(
            log.merkle_root(size)?,
            merkle::root_from_leaf_hashes(&leaves[..size as usize]),
            "size {size}"
        );
    }
    log.close()?;
    drop(log);

    let (_db, tree) = layout::open_raw_tree(directory.path())?;
    assert_eq!(node_entries(&tree)?, written_by_the_writer);
    assert_eq!(LogTree { tree }.tree_size()?, Some(EVENTS));
    Ok(())
}

fn remove_nodes_from(tree: &sled::Tree, first_leaf: u64) -> anyhow::Result<()> {
    for leaf_index in first_leaf..EVENTS {
        tree.remove(layout::merkle_nodes_key(leaf_index))?;
    }
    Ok(())
}

#[test]
fn a_log_written_without_a_tree_gets_it_on_open() -> anyhow::Result<()> {
    check(|_, tree| {
        remove_nodes_from(tree, 0)?;
        tree.remove(layout::TREE_SIZE_KEY)?;
        Ok(())
    })
}

#[test]
fn a_build_cut_short_resumes_at_the_tree_size() -> anyhow::Result<()> {
    // Each chunk of a build moves the nodes and the tree size together, so a crash leaves
    // the tree covering some prefix (nodes past it may be stale from an earlier run).
    for covered in [0, 1, 2, 7, 8, 15, 16, 17, 31, 32, 33, 47, 48, 49, 52] {
        check(|_, tree| {
            remove_nodes_from(tree, covered)?;
            tree.insert(layout::TREE_SIZE_KEY, &layout::tree_size_value(covered)[..])?;
            Ok(())
        })?;
        check(|_, tree| {
            for leaf_index in (covered..EVENTS).filter(|&leaf| layout::merkle_nodes_stored_by(leaf) > 0) {
                let levels = layout::merkle_nodes_stored_by(leaf_index) as usize;
                tree.insert(layout::merkle_nodes_key(leaf_index), vec![0xee; 32 * levels])?;
            }
            tree.insert(layout::TREE_SIZE_KEY, &layout::tree_size_value(covered)[..])?;
            Ok(())
        })?;
    }
    Ok(())
}

#[test]
fn a_real_build_in_small_chunks_interrupted_then_resumed_on_open() -> anyhow::Result<()> {
    check(|db, tree| {
        remove_nodes_from(tree, 0)?;
        tree.remove(layout::TREE_SIZE_KEY)?;
        let log = LogTree { tree: tree.clone() };
        // Up to position 30 in chunks of 7, as if the process died there.
        let frontier = tree::build_missing(db, &log, 30, 7)?;
        assert_eq!(frontier.size(), 30);
        assert_eq!(log.tree_size()?, Some(30));
        // A build that has nothing to do reads the frontier only.
        let again = tree::build_missing(db, &log, 30, 7)?;
        assert_eq!(again.root(), frontier.root());
        assert_eq!(
            merkle::root_with(30, |level, index| log.merkle_node(level, index))?,
            frontier.root()
        );
        Ok(())
    })
}

#[test]
fn the_frontier_loaded_from_storage_is_the_writers() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let leaves = write_log(directory.path())?;
    let (_db, tree) = layout::open_raw_tree(directory.path())?;
    let log = LogTree { tree };
    let mut pushed = tree::Frontier::empty();
    let mut scratch = Vec::new();
    for (size, leaf) in (1..).zip(&leaves) {
        pushed.push(leaf, &mut scratch);
        let loaded = tree::Frontier::load(&log, size)?;
        assert_eq!(loaded.size(), size);
        assert_eq!(loaded.root(), pushed.root(), "size {size}");
        assert_eq!(loaded.root(), merkle::root_from_leaf_hashes(&leaves[..size as usize]));
    }
    Ok(())
}

/// Every perfect subtree of the log read from storage, stored level or computed from the
/// records, is the reference node; a record missing under a computed node is `Corrupt` at
/// its position.
#[test]
fn every_node_read_is_the_reference_node() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let leaves = write_log(directory.path())?;
    let (_db, tree) = layout::open_raw_tree(directory.path())?;
    let log = LogTree { tree: tree.clone() };
    for level in 0..=5u32 {
        for index in 0..EVENTS >> level {
            assert_eq!(
                log.merkle_node(level, index)?,
                merkle::perfect_subtree_from_leaf_hashes(&leaves, level, index),
                "node ({level}, {index})"
            );
        }
    }
    tree.remove(layout::record_key(22))?;
    for (level, index) in [(0, 21), (1, 10), (2, 5), (3, 2)] {
        match log.merkle_node(level, index) {
            Err(crate::EventLogError::Corrupt { position: 22, .. }) => {}
            other => panic!("node ({level}, {index}) over a missing record: {other:?}"),
        }
    }
    // The stored levels are read from their `m` entries, not from the records.
    assert_eq!(
        log.merkle_node(4, 1)?,
        merkle::perfect_subtree_from_leaf_hashes(&leaves, 4, 1)
    );
    Ok(())
}
