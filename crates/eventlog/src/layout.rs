//! The on-disk layout: every key and value the log keeps in its one sled tree.
//!
//! The log keeps everything in a single sled tree, `gridledger-log`, so that one append batch
//! (records, indexes and the chain head together) is applied atomically, and so that sled's
//! per-tree space overhead is paid once. Keys start with a one-byte tag:
//!
//! | key | value |
//! |---|---|
//! | `e` + position (u64 BE) | chain hash (32 bytes) + encoded `EventRecord` |
//! | `s` + stream id + `0x00` + revision (u64 BE) | position (u64 BE) |
//! | `q` + request id | first position (u64 BE) + last position (u64 BE) |
//! | `h` | head position (u64 BE) + head hash (32 bytes) |
//! | `m` + leaf index `i` (u64 BE), only where `trailing_ones(i) >= 4` | stored Merkle nodes completed by leaf `i`: the hashes (32 bytes each) of the perfect subtrees of levels `4..=trailing_ones(i)` that end at leaf `i`, lowest level first |
//! | `t` | Merkle tree size (u64 BE): how many leaves the stored `m` nodes cover |
//!
//! **The Merkle tree** (RFC 6962, see `merkle.rs`): leaf `i` is the record at position `i + 1`.
//! A perfect subtree (level `l`, index `k`) covers leaves `k * 2^l ..= (k + 1) * 2^l - 1`; it is
//! complete once its last leaf `(k + 1) * 2^l - 1` is written. Only the nodes of the levels
//! `l >= MIN_STORED_LEVEL` (4: subtrees of 16 leaves and more) are stored, each exactly once,
//! in the `m` value of its last leaf, slot `l - 4` (leaf `i` completes the subtrees of levels
//! `1..=trailing_ones(i)`, so it has an `m` entry only when `trailing_ones(i) >= 4`: every
//! 16th leaf, `i = 15, 31, 47, ...`). A node of a lower level is computed when it is read,
//! from the `2^l <= 8` records it covers (one range read of their `e` entries, leaf hashes
//! `SHA-256(0x00 || record bytes)`, then `2^l - 1` node hashes). That makes one `m` insert per
//! 16 events (two hashes in it on average: 4 bytes of hashes per event), while a root or a
//! proof still reads O(log n) stored nodes, plus a few dozen records.
//!
//! `t` always equals what the `m` entries cover: the writer sets it to the head position in
//! the same batch as the records and their nodes, and the build of the tree of a log written
//! before it had one (`tree.rs`) moves it chunk by chunk with the nodes. An `m` value whose
//! length is not 32 times its leaf's stored levels, or an `m` entry at a leaf that stores
//! none, is corrupt: reading such a value fails, verify names its position, and opening
//! checks the first `m` entry, so an entry of the earlier layout (which stored levels
//! `1..=trailing_ones(i)` at every odd leaf, leaf 1 first) is never taken for a node.
//!
//! Stream ids and request ids are printable ASCII, so the `0x00` separator is unambiguous and
//! a stream's keys sort by revision. The layout is private to this crate, like sled itself:
//! everything outside reads and writes the log through `EventLog`.

use crate::types::{ChainHash, Position, Revision};

/// Name of the sled tree holding the log.
pub const LOG_TREE_NAME: &[u8] = b"gridledger-log";

pub const RECORD_TAG: u8 = b'e';
pub const STREAM_INDEX_TAG: u8 = b's';
pub const REQUEST_INDEX_TAG: u8 = b'q';
pub const HEAD_KEY: &[u8] = b"h";
pub const MERKLE_NODES_TAG: u8 = b'm';
pub const TREE_SIZE_KEY: &[u8] = b"t";

/// The lowest level of the Merkle tree whose nodes are stored (in `m` entries); the nodes of
/// the levels below (up to 8 leaves) are computed from the records when they are read.
pub(crate) const MIN_STORED_LEVEL: u32 = 4;

/// Key of the stored Merkle nodes completed by leaf `leaf_index` (the record at position
/// `leaf_index + 1`); only leaves with `trailing_ones(leaf_index) >= MIN_STORED_LEVEL` have one.
pub fn merkle_nodes_key(leaf_index: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = MERKLE_NODES_TAG;
    key[1..].copy_from_slice(&leaf_index.to_be_bytes());
    key
}

/// Leaf index encoded in a Merkle nodes key, if it is one.
pub fn leaf_index_of_merkle_nodes_key(key: &[u8]) -> Option<u64> {
    match key {
        [MERKLE_NODES_TAG, rest @ ..] => Some(u64::from_be_bytes(rest.try_into().ok()?)),
        _ => None,
    }
}

/// How many stored nodes leaf `leaf_index` completes, so how many hashes its `m` value holds
/// (levels `MIN_STORED_LEVEL..=trailing_ones(leaf_index)`; 0 for 15 leaves in 16).
pub fn merkle_nodes_stored_by(leaf_index: u64) -> u32 {
    leaf_index.trailing_ones().saturating_sub(MIN_STORED_LEVEL - 1)
}

/// The part of the nodes a leaf completes (levels `1..=trailing_ones`, lowest first, as
/// `Frontier::push` gives them) that is stored: its `m` value, empty when it has none.
pub fn stored_merkle_nodes(completed: &[u8]) -> &[u8] {
    completed
        .get((MIN_STORED_LEVEL as usize - 1) * 32..)
        .unwrap_or_default()
}

/// Where node (`level >= MIN_STORED_LEVEL`, `index`) is stored: (leaf index of its `m` key,
/// byte offset of its hash in the value).
pub fn merkle_node_location(level: u32, index: u64) -> (u64, usize) {
    debug_assert!(level >= MIN_STORED_LEVEL);
    (((index + 1) << level) - 1, (level - MIN_STORED_LEVEL) as usize * 32)
}

/// Value of the tree size entry.
pub fn tree_size_value(size: u64) -> [u8; 8] {
    size.to_be_bytes()
}

/// Decodes the tree size entry.
pub fn parse_tree_size_value(value: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(value.try_into().ok()?))
}

/// Key of the record at `position`.
pub fn record_key(position: Position) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = RECORD_TAG;
    key[1..].copy_from_slice(&position.to_be_bytes());
    key
}

/// Position encoded in a record key, if it is one.
pub fn position_of_record_key(key: &[u8]) -> Option<Position> {
    match key {
        [RECORD_TAG, rest @ ..] => Some(Position::from_be_bytes(rest.try_into().ok()?)),
        _ => None,
    }
}

/// Prefix shared by all stream-index keys of one stream.
pub fn stream_index_prefix(stream_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(stream_id.len() + 2);
    key.push(STREAM_INDEX_TAG);
    key.extend_from_slice(stream_id.as_bytes());
    key.push(0);
    key
}

/// Key of the stream-index entry for (`stream_id`, `revision`).
pub fn stream_index_key(stream_id: &str, revision: Revision) -> Vec<u8> {
    let mut key = stream_index_prefix(stream_id);
    key.extend_from_slice(&revision.to_be_bytes());
    key
}

/// Revision encoded in a stream-index key.
pub fn revision_of_stream_index_key(key: &[u8]) -> Option<Revision> {
    let start = key.len().checked_sub(8)?;
    Some(Revision::from_be_bytes(key[start..].try_into().ok()?))
}

/// Key of the request-index entry for `request_id`.
pub fn request_index_key(request_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(request_id.len() + 1);
    key.push(REQUEST_INDEX_TAG);
    key.extend_from_slice(request_id.as_bytes());
    key
}

/// Value of a record entry: hash then record bytes.
pub fn record_value(hash: &ChainHash, record_bytes: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(32 + record_bytes.len());
    value.extend_from_slice(hash);
    value.extend_from_slice(record_bytes);
    value
}

/// A record entry's value with its hash zeroed, ready for `record_len` record bytes to be
/// appended; the hash is set with [`set_hash_of_value`] once they are.
pub fn record_value_with_room_for_hash(record_len: usize) -> Vec<u8> {
    let mut value = Vec::with_capacity(32 + record_len);
    value.extend_from_slice(&[0u8; 32]);
    value
}

/// The record bytes of a value built by [`record_value_with_room_for_hash`].
pub fn record_bytes_of_value(value: &[u8]) -> &[u8] {
    value.get(32..).unwrap_or_default()
}

/// Sets the hash of a value built by [`record_value_with_room_for_hash`].
pub fn set_hash_of_value(value: &mut [u8], hash: &ChainHash) {
    if let Some(slot) = value.get_mut(..32) {
        slot.copy_from_slice(hash);
    }
}

/// Splits a record entry into (hash, record bytes).
pub fn split_record_value(value: &[u8]) -> Option<(ChainHash, &[u8])> {
    if value.len() < 32 {
        return None;
    }
    let (hash, record_bytes) = value.split_at(32);
    Some((hash.try_into().ok()?, record_bytes))
}

/// Value of the head entry.
pub fn head_value(position: Position, hash: &ChainHash) -> [u8; 40] {
    let mut value = [0u8; 40];
    value[..8].copy_from_slice(&position.to_be_bytes());
    value[8..].copy_from_slice(hash);
    value
}

/// Decodes the head entry.
pub fn parse_head_value(value: &[u8]) -> Option<(Position, ChainHash)> {
    if value.len() != 40 {
        return None;
    }
    Some((
        Position::from_be_bytes(value[..8].try_into().ok()?),
        value[8..].try_into().ok()?,
    ))
}

/// Value of a request-index entry.
pub fn request_index_value(first: Position, last: Position) -> [u8; 16] {
    let mut value = [0u8; 16];
    value[..8].copy_from_slice(&first.to_be_bytes());
    value[8..].copy_from_slice(&last.to_be_bytes());
    value
}

/// Decodes a request-index entry into (first position, last position).
pub fn parse_request_index_value(value: &[u8]) -> Option<(Position, Position)> {
    if value.len() != 16 {
        return None;
    }
    Some((
        Position::from_be_bytes(value[..8].try_into().ok()?),
        Position::from_be_bytes(value[8..].try_into().ok()?),
    ))
}

/// Decodes a position stored as a stream-index value.
pub fn parse_position_value(value: &[u8]) -> Option<Position> {
    Some(Position::from_be_bytes(value.try_into().ok()?))
}

/// Opens a log's sled database directly, for the tamper tests, waiting like the log does
/// for a closing instance to release the directory. Whoever writes through this bypasses
/// every check of the log; `EventLog::verify` will say so.
#[cfg(test)]
pub(crate) fn open_raw_tree(path: &std::path::Path) -> Result<(sled::Db, sled::Tree), crate::EventLogError> {
    let db = crate::store::open_waiting_for_lock(&sled::Config::new().path(path).flush_every_ms(None))?;
    let tree = db
        .open_tree(LOG_TREE_NAME)
        .map_err(|error| crate::EventLogError::storage("opening the log tree", error))?;
    Ok((db, tree))
}
