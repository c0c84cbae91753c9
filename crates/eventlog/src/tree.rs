//! The stored Merkle tree: the writer's in-memory right frontier, and building the tree of a log written before it had one.
//!
//! The layout is in `layout.rs` (`m` and `t` entries): every perfect subtree of level
//! `>= MIN_STORED_LEVEL` (4) is stored once, in the `m` value of its last leaf, written in the
//! same sled batch as that leaf's record; the levels below are computed from the records when
//! read. The tree size entry `t` moves with every batch. So the tree never disagrees with the
//! log: after a crash, sled recovers whole batches, records and nodes together.

use std::time::Instant;

use crate::error::EventLogError;
use crate::layout;
use crate::merkle::{MerkleHash, leaf_hash, node_hash};
use crate::store::LogTree;
use crate::types::Position;

/// The right frontier of the tree: the roots of the perfect subtrees the current tree
/// decomposes into (one per set bit of its size), which is all the writer needs to hash the
/// nodes each new leaf completes without reading anything. 2 KiB, `Copy`, so a group that
/// fails to apply is rolled back by keeping a copy.
#[derive(Clone, Copy)]
pub(crate) struct Frontier {
    size: u64,
    /// `hashes[level]` is the root of the perfect subtree of `2^level` leaves ending the
    /// largest prefix of the tree covered by the bits of `size` above `level`; valid only
    /// where bit `level` of `size` is set.
    hashes: [MerkleHash; 64],
}

impl std::fmt::Debug for Frontier {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Frontier")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Frontier {
    pub(crate) fn empty() -> Frontier {
        Frontier {
            size: 0,
            hashes: [[0; 32]; 64],
        }
    }

    /// Leaves covered.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Adds the next leaf; `completed` is cleared and receives the hashes of the nodes the
    /// leaf completes (levels `1..=trailing_ones(leaf index)`, lowest first, empty for an even
    /// leaf): every level is computed, the frontier needs them all; the stored ones, its `m`
    /// value, are [`layout::stored_merkle_nodes`] of it. Returns the leaf's index. At most 63
    /// node hashes, one on average; no allocation once `completed` has grown.
    pub(crate) fn push(&mut self, leaf: &MerkleHash, completed: &mut Vec<u8>) -> u64 {
        let leaf_index = self.size;
        completed.clear();
        let mut node = *leaf;
        let mut level = 0;
        while leaf_index >> level & 1 == 1 {
            node = node_hash(&self.hashes[level], &node);
            completed.extend_from_slice(&node);
            level += 1;
        }
        self.hashes[level] = node;
        self.size += 1;
        leaf_index
    }

    /// Adds the next leaf (the record bytes `record_bytes`) and its `m` entry, if it has one
    /// (levels `>= MIN_STORED_LEVEL` only: one leaf in 16), to `batch`.
    pub(crate) fn push_record(&mut self, record_bytes: &[u8], scratch: &mut Vec<u8>, batch: &mut sled::Batch) {
        let leaf_index = self.push(&leaf_hash(record_bytes), scratch);
        let stored = layout::stored_merkle_nodes(scratch);
        if !stored.is_empty() {
            batch.insert(&layout::merkle_nodes_key(leaf_index)[..], stored);
        }
    }

    /// The root of the tree of [`Frontier::size`] leaves.
    #[cfg(test)]
    pub(crate) fn root(&self) -> MerkleHash {
        let mut root: Option<MerkleHash> = None;
        for level in 0..64 {
            if self.size >> level & 1 == 1 {
                root = Some(match root {
                    None => self.hashes[level],
                    Some(right) => node_hash(&self.hashes[level], &right),
                });
            }
        }
        root.unwrap_or(crate::merkle::EMPTY_ROOT)
    }

    /// The frontier of the stored tree of `size` leaves: `popcount(size)` node reads (those
    /// of the levels below `MIN_STORED_LEVEL` from the last `size % 16` records).
    pub(crate) fn load(log: &LogTree, size: u64) -> Result<Frontier, EventLogError> {
        let mut frontier = Frontier::empty();
        let mut start = 0u64;
        for level in (0..64).rev() {
            if size >> level & 1 == 1 {
                frontier.hashes[level] = log.merkle_node(level as u32, start >> level)?;
                start += 1 << level;
            }
        }
        frontier.size = size;
        Ok(frontier)
    }
}

/// Leaves one batch of [`build_missing`] hashes and stores.
pub(crate) const BUILD_CHUNK_LEAVES: u64 = 16_384;

/// Makes the stored tree cover positions `1..=head`: builds the nodes of the positions past
/// the tree size entry (all of them for a log written before the tree existed), in atomic
/// chunks of `chunk_leaves` leaves ([`BUILD_CHUNK_LEAVES`] when opening) that each move the
/// tree size entry with their nodes, so a crash mid-way resumes where the last chunk ended.
/// Returns the frontier at `head`. Needs the tree size entry `<= head`.
///
/// First checks the first stored `m` entry (see [`check_first_node_entry`]), so that a
/// tree of another layout is refused (`Corrupt`) rather than extended.
pub(crate) fn build_missing(
    db: &sled::Db,
    log: &LogTree,
    head: Position,
    chunk_leaves: u64,
) -> Result<Frontier, EventLogError> {
    check_first_node_entry(log)?;
    let stored = log.tree_size()?.unwrap_or(0);
    let mut frontier = Frontier::load(log, stored.min(head))?;
    if stored >= head {
        return Ok(frontier);
    }
    let started = Instant::now();
    tracing::info!(
        from_position = stored + 1,
        to_position = head,
        "building the Merkle tree of the event log for positions written without it"
    );
    let mut scratch = Vec::new();
    let mut next = stored + 1;
    while next <= head {
        let last = head.min(next + chunk_leaves.max(1) - 1);
        let mut batch = sled::Batch::default();
        for entry in log.record_entries(next, last) {
            let (position, value) = entry?;
            let (_, record_bytes) = layout::split_record_value(&value)
                .filter(|_| position == frontier.size() + 1)
                .ok_or_else(|| EventLogError::Corrupt {
                    position: frontier.size() + 1,
                    reason: "record missing or shorter than a hash while building the Merkle tree".to_owned(),
                })?;
            frontier.push_record(record_bytes, &mut scratch, &mut batch);
        }
        if frontier.size() != last {
            return Err(EventLogError::Corrupt {
                position: frontier.size() + 1,
                reason: "record missing while building the Merkle tree".to_owned(),
            });
        }
        batch.insert(layout::TREE_SIZE_KEY, &layout::tree_size_value(last)[..]);
        log.tree
            .apply_batch(batch)
            .map_err(|error| EventLogError::storage("storing Merkle tree nodes", error))?;
        tracing::debug!(tree_size = last, head, "Merkle tree built up to position");
        next = last + 1;
    }
    db.flush()
        .map_err(|error| EventLogError::storage("flushing the built Merkle tree", error))?;
    tracing::info!(tree_size = head, elapsed = ?started.elapsed(), "Merkle tree of the event log built");
    Ok(frontier)
}

/// Checks the first stored `m` entry, one read: it must be at a leaf that stores nodes
/// (`trailing_ones >= MIN_STORED_LEVEL`) and have their length. The earlier layout (every
/// level from 1, at every odd leaf) always has one at leaf 1, so a log written with it is
/// found on open even when it is too short for any stored level to be read.
pub(crate) fn check_first_node_entry(log: &LogTree) -> Result<(), EventLogError> {
    match log.merkle_node_entries(0, u64::MAX).next() {
        None => Ok(()),
        Some(entry) => {
            let (leaf_index, value) = entry?;
            crate::store::check_merkle_nodes_value(leaf_index, &value)
        }
    }
}
