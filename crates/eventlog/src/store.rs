//! The sled side of the log: opening the database, typed reads of the layout, and durable flushes.
//!
//! A failed durable flush says whether it may be retried ([`FlushFailure`]): a failure to
//! open a file (such as `EMFILE`) or of sled's own flush may; a failed `fsync`/`fdatasync`
//! may not, because Linux may drop the pages it could not write and report the next sync as
//! a success.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use prost::Message;

use crate::error::EventLogError;
use crate::layout;
use crate::merkle::{self, MerkleHash};
use crate::record::EventRecord;
use crate::types::{ChainHash, Position, RecordedEvent, Revision, ZERO_HASH};

/// How an acknowledged append is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// sled's flush, then `fdatasync` of sled's data file (and of any blob file): survives
    /// power loss on a disk that honours cache flushes. The default.
    FlushAndSyncData,
    /// sled's flush only (`sync_file_range`): survives a process crash, not a power loss.
    /// For measuring what the `fdatasync` costs; never the default.
    SledFlushOnly,
}

/// Settings of an event log.
#[derive(Debug, Clone)]
pub struct EventLogConfig {
    /// Directory of the sled database; created if absent.
    pub path: PathBuf,
    /// sled's page cache size in bytes.
    pub cache_capacity_bytes: u64,
    pub durability: Durability,
    /// Most appends one group commit takes.
    pub max_appends_per_commit: usize,
}

impl EventLogConfig {
    /// Production defaults for a log in `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        EventLogConfig {
            path: path.into(),
            cache_capacity_bytes: 64 * 1024 * 1024,
            durability: Durability::FlushAndSyncData,
            max_appends_per_commit: 2048,
        }
    }
}

/// How long opening waits for sled's lock on the data directory. sled releases the lock
/// only when its last background job of a closed database ends, which can be a moment
/// after the close; a second process holding the directory is refused after this wait.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Opens the sled database of `config`, fsyncing the directory so the files themselves survive.
pub(crate) fn open_tree(config: &EventLogConfig) -> Result<(sled::Db, sled::Tree), EventLogError> {
    std::fs::create_dir_all(&config.path)
        .map_err(|error| EventLogError::storage("creating the data directory", error))?;
    let sled_config = sled::Config::new()
        .path(&config.path)
        .cache_capacity(config.cache_capacity_bytes)
        .flush_every_ms(None);
    let db = open_waiting_for_lock(&sled_config)?;
    let tree = db
        .open_tree(layout::LOG_TREE_NAME)
        .map_err(|error| EventLogError::storage("opening the log tree", error))?;
    sync_directory(&config.path)?;
    Ok((db, tree))
}

/// Opens sled, retrying for up to [`LOCK_WAIT`] while its directory lock is held.
pub(crate) fn open_waiting_for_lock(sled_config: &sled::Config) -> Result<sled::Db, EventLogError> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match sled_config.open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(error))
                if error.to_string().contains("could not acquire lock") && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(error) => return Err(EventLogError::storage("opening sled", error)),
        }
    }
}

fn sync_directory(path: &Path) -> Result<(), EventLogError> {
    File::open(path)
        .and_then(|directory| directory.sync_all())
        .map_err(|error| EventLogError::storage("syncing the data directory", error))
}

/// A durable flush that failed, and whether trying it again can make it good.
#[derive(Debug)]
pub(crate) struct FlushFailure {
    pub(crate) error: EventLogError,
    /// True when nothing written so far can have been lost by the failure, so a later
    /// successful flush proves the data durable: sled's own flush (sled keeps any I/O error
    /// of its log until it is reopened, so it never reports success over lost data), and
    /// opening a file or directory to sync it (such as `EMFILE`). False when an
    /// `fsync`/`fdatasync` itself failed: Linux may then have dropped the pages it could not
    /// write and report the next sync as a success, so no later flush can be trusted.
    pub(crate) retryable: bool,
}

impl FlushFailure {
    fn retryable(context: &'static str, error: impl std::error::Error + Send + Sync + 'static) -> Self {
        FlushFailure {
            error: EventLogError::storage(context, error),
            retryable: true,
        }
    }

    fn for_good(context: &'static str, error: impl std::error::Error + Send + Sync + 'static) -> Self {
        FlushFailure {
            error: EventLogError::storage(context, error),
            retryable: false,
        }
    }
}

/// A fault the unit tests make the next flushes fail with, instead of a real one.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InjectedFault {
    /// As if listing the blob directory failed with `EMFILE`: retryable.
    Transient,
    /// As if `fdatasync` failed: not retryable.
    ForGood,
}

/// Makes what sled has flushed durable against power loss.
///
/// sled 0.34.7 flushes its log file with `sync_file_range`, which flushes neither the
/// device's write cache nor the file's metadata (sled issue #1452). After sled's flush we
/// therefore `fdatasync` its data file, and `fsync` any blob file sled wrote since the last
/// time (sled does not sync those at all) together with the blob directory.
#[derive(Debug)]
pub(crate) struct DurableFlusher {
    durability: Durability,
    data_file: File,
    blob_directory: PathBuf,
    synced_blob_names: HashSet<OsString>,
    /// A blob file was synced but the directory naming it not yet (kept across a retry).
    blob_directory_unsynced: bool,
    #[cfg(test)]
    pub(crate) injected_fault: std::sync::Arc<std::sync::Mutex<Option<InjectedFault>>>,
}

impl DurableFlusher {
    pub(crate) fn new(config: &EventLogConfig) -> Result<Self, EventLogError> {
        let data_file = File::open(config.path.join("db"))
            .map_err(|error| EventLogError::storage("opening sled's data file for fdatasync", error))?;
        Ok(DurableFlusher {
            durability: config.durability,
            data_file,
            blob_directory: config.path.join("blobs"),
            synced_blob_names: HashSet::new(),
            blob_directory_unsynced: false,
            #[cfg(test)]
            injected_fault: std::sync::Arc::default(),
        })
    }

    /// Flushes sled, then syncs its files as `durability` says. Safe to call again after a
    /// retryable failure: it flushes and syncs everything not yet synced.
    pub(crate) fn flush(&mut self, db: &sled::Db) -> Result<(), FlushFailure> {
        #[cfg(test)]
        if let Some(fault) = self.injected_fault.lock().ok().and_then(|fault| *fault) {
            let error = std::io::Error::other("injected fault");
            return Err(match fault {
                InjectedFault::Transient => FlushFailure::retryable("listing sled's blob directory", error),
                InjectedFault::ForGood => FlushFailure::for_good("fdatasync of sled's data file", error),
            });
        }
        db.flush()
            .map_err(|error| FlushFailure::retryable("flushing sled", error))?;
        if self.durability == Durability::SledFlushOnly {
            return Ok(());
        }
        self.data_file
            .sync_data()
            .map_err(|error| FlushFailure::for_good("fdatasync of sled's data file", error))?;
        self.sync_new_blobs()
    }

    fn sync_new_blobs(&mut self) -> Result<(), FlushFailure> {
        let entries = match std::fs::read_dir(&self.blob_directory) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(FlushFailure::retryable("listing sled's blob directory", error)),
        };
        for entry in entries {
            let entry = entry.map_err(|error| FlushFailure::retryable("listing sled's blob directory", error))?;
            let name = entry.file_name();
            if self.synced_blob_names.contains(&name) {
                continue;
            }
            let blob = File::open(entry.path())
                .map_err(|error| FlushFailure::retryable("opening a sled blob file to fsync it", error))?;
            blob.sync_all()
                .map_err(|error| FlushFailure::for_good("fsync of a sled blob file", error))?;
            self.synced_blob_names.insert(name);
            self.blob_directory_unsynced = true;
        }
        if self.blob_directory_unsynced {
            let directory = File::open(&self.blob_directory)
                .map_err(|error| FlushFailure::retryable("opening sled's blob directory to fsync it", error))?;
            directory
                .sync_all()
                .map_err(|error| FlushFailure::for_good("fsync of sled's blob directory", error))?;
            self.blob_directory_unsynced = false;
        }
        Ok(())
    }
}

/// Checks that the `m` value of leaf `leaf_index` has the length the leaf's stored levels call
/// for (none: a leaf that stores no node has no `m` entry).
pub(crate) fn check_merkle_nodes_value(leaf_index: u64, value: &[u8]) -> Result<(), EventLogError> {
    let position = leaf_index + 1;
    let levels = layout::merkle_nodes_stored_by(leaf_index);
    if levels == 0 {
        return Err(EventLogError::Corrupt {
            position,
            reason: stray_merkle_nodes(position),
        });
    }
    if value.len() != 32 * levels as usize {
        return Err(EventLogError::Corrupt {
            position,
            reason: format!(
                "Merkle tree nodes of position {position} have {} bytes, {} expected",
                value.len(),
                32 * levels
            ),
        });
    }
    Ok(())
}

/// What is wrong with an `m` entry at `position`, whose leaf completes no stored level.
pub(crate) fn stray_merkle_nodes(position: Position) -> String {
    format!(
        "Merkle tree nodes are stored for position {position}, which completes no stored node (levels >= {})",
        layout::MIN_STORED_LEVEL
    )
}

/// Typed reads of the layout in one sled tree.
#[derive(Debug, Clone)]
pub(crate) struct LogTree {
    pub(crate) tree: sled::Tree,
}

fn read_failed(error: sled::Error) -> EventLogError {
    EventLogError::storage("reading the log tree", error)
}

impl LogTree {
    /// The stored (hash, record bytes) at `position`.
    pub(crate) fn record_entry(&self, position: Position) -> Result<Option<sled::IVec>, EventLogError> {
        self.tree.get(layout::record_key(position)).map_err(read_failed)
    }

    /// The stored chain hash of `position`; [`ZERO_HASH`] for position 0.
    pub(crate) fn stored_hash(&self, position: Position) -> Result<ChainHash, EventLogError> {
        if position == 0 {
            return Ok(ZERO_HASH);
        }
        let entry = self.record_entry(position)?.ok_or_else(|| EventLogError::Corrupt {
            position,
            reason: "record missing".to_owned(),
        })?;
        let (hash, _) = layout::split_record_value(&entry).ok_or_else(|| EventLogError::Corrupt {
            position,
            reason: "stored entry shorter than a hash".to_owned(),
        })?;
        Ok(hash)
    }

    /// Decodes a stored entry into a [`RecordedEvent`].
    pub(crate) fn decode_entry(
        position: Position,
        entry: &[u8],
        prev_hash: ChainHash,
    ) -> Result<RecordedEvent, EventLogError> {
        let (hash, record_bytes) = layout::split_record_value(entry).ok_or_else(|| EventLogError::Corrupt {
            position,
            reason: "stored entry shorter than a hash".to_owned(),
        })?;
        let record = EventRecord::decode(record_bytes).map_err(|error| EventLogError::Corrupt {
            position,
            reason: format!("record does not decode: {error}"),
        })?;
        Ok(RecordedEvent {
            position,
            record_bytes: record_bytes.to_vec(),
            prev_hash,
            hash,
            record,
        })
    }

    /// The event at `position`, with the hash of the position before it.
    pub(crate) fn read_event(&self, position: Position) -> Result<Option<RecordedEvent>, EventLogError> {
        let Some(entry) = self.record_entry(position)? else {
            return Ok(None);
        };
        let prev_hash = self.stored_hash(position - 1)?;
        Self::decode_entry(position, &entry, prev_hash).map(Some)
    }

    /// (revision, position) of the last event of a stream, `None` if the stream does not exist.
    pub(crate) fn stream_last(&self, stream_id: &str) -> Result<Option<(Revision, Position)>, EventLogError> {
        // A stream's revisions are gapless from 0, so without revision 0 there is no
        // stream: one point read instead of a reverse prefix scan (much cheaper in sled)
        // for the common case of a new stream, such as every report.
        if self.stream_position(stream_id, 0)?.is_none() {
            return Ok(None);
        }
        let prefix = layout::stream_index_prefix(stream_id);
        let Some(item) = self.tree.scan_prefix(&prefix).next_back() else {
            return Ok(None);
        };
        let (key, value) = item.map_err(read_failed)?;
        let revision = layout::revision_of_stream_index_key(&key);
        let position = layout::parse_position_value(&value);
        match (revision, position) {
            (Some(revision), Some(position)) => Ok(Some((revision, position))),
            _ => Err(EventLogError::Corrupt {
                position: 0,
                reason: format!("malformed stream index entry for stream {stream_id}"),
            }),
        }
    }

    /// Position of (`stream_id`, `revision`), if it exists.
    pub(crate) fn stream_position(
        &self,
        stream_id: &str,
        revision: Revision,
    ) -> Result<Option<Position>, EventLogError> {
        let Some(value) = self
            .tree
            .get(layout::stream_index_key(stream_id, revision))
            .map_err(read_failed)?
        else {
            return Ok(None);
        };
        layout::parse_position_value(&value)
            .map(Some)
            .ok_or_else(|| EventLogError::Corrupt {
                position: 0,
                reason: format!("malformed stream index entry for {stream_id} revision {revision}"),
            })
    }

    /// (first, last) position written by the append with `request_id`, if it was seen.
    pub(crate) fn request_positions(&self, request_id: &str) -> Result<Option<(Position, Position)>, EventLogError> {
        let Some(value) = self
            .tree
            .get(layout::request_index_key(request_id))
            .map_err(read_failed)?
        else {
            return Ok(None);
        };
        layout::parse_request_index_value(&value)
            .map(Some)
            .ok_or_else(|| EventLogError::Corrupt {
                position: 0,
                reason: format!("malformed request index entry for {request_id}"),
            })
    }

    /// The chain head entry, written with every commit.
    pub(crate) fn head_entry(&self) -> Result<Option<(Position, ChainHash)>, EventLogError> {
        let Some(value) = self.tree.get(layout::HEAD_KEY).map_err(read_failed)? else {
            return Ok(None);
        };
        layout::parse_head_value(&value)
            .map(Some)
            .ok_or_else(|| EventLogError::Corrupt {
                position: 0,
                reason: "malformed chain head entry".to_owned(),
            })
    }

    /// Position of the last record actually stored.
    pub(crate) fn last_record_position(&self) -> Result<Option<Position>, EventLogError> {
        let Some(item) = self.tree.scan_prefix([layout::RECORD_TAG]).next_back() else {
            return Ok(None);
        };
        let (key, _) = item.map_err(read_failed)?;
        layout::position_of_record_key(&key)
            .map(Some)
            .ok_or_else(|| EventLogError::Corrupt {
                position: 0,
                reason: "malformed record key".to_owned(),
            })
    }

    /// The hash of the perfect Merkle subtree (`level`, `index`): leaves
    /// `index * 2^level ..= (index + 1) * 2^level - 1`, whose last leaf must be stored. One
    /// read: the `m` entry of its last leaf for a stored level (`>= MIN_STORED_LEVEL`), else
    /// the `2^level <= 8` records it covers (one point read for a leaf, one range read above),
    /// hashed up.
    pub(crate) fn merkle_node(&self, level: u32, index: u64) -> Result<MerkleHash, EventLogError> {
        if level < layout::MIN_STORED_LEVEL {
            return self.merkle_node_from_records(level, index);
        }
        let (leaf_index, offset) = layout::merkle_node_location(level, index);
        let position = leaf_index + 1;
        let value = self
            .tree
            .get(layout::merkle_nodes_key(leaf_index))
            .map_err(read_failed)?
            .ok_or_else(|| EventLogError::Corrupt {
                position,
                reason: format!("Merkle tree node (level {level}, index {index}) missing"),
            })?;
        check_merkle_nodes_value(leaf_index, &value)?;
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&value[offset..offset + 32]);
        Ok(hash)
    }

    /// The hash of the perfect subtree (`level < MIN_STORED_LEVEL`, `index`), from the records
    /// of its `2^level` leaves: `2^level` leaf hashes and `2^level - 1` node hashes.
    fn merkle_node_from_records(&self, level: u32, index: u64) -> Result<MerkleHash, EventLogError> {
        const MOST_LEAVES: usize = 1 << (layout::MIN_STORED_LEVEL - 1);
        let leaf_hash_of = |position: Position, entry: &[u8]| {
            layout::split_record_value(entry)
                .map(|(_, record_bytes)| merkle::leaf_hash(record_bytes))
                .ok_or_else(|| EventLogError::Corrupt {
                    position,
                    reason: "stored entry shorter than a hash".to_owned(),
                })
        };
        let missing = |position: Position| EventLogError::Corrupt {
            position,
            reason: "record missing".to_owned(),
        };
        let width = 1u64 << level;
        let first = index * width + 1;
        if level == 0 {
            let entry = self.record_entry(first)?.ok_or_else(|| missing(first))?;
            return leaf_hash_of(first, &entry);
        }
        let mut hashes = [[0u8; 32]; MOST_LEAVES];
        let mut count = 0usize;
        for entry in self.record_entries(first, first + width - 1) {
            let (position, value) = entry?;
            let expected = first + count as u64;
            if position != expected {
                return Err(missing(expected));
            }
            hashes[count] = leaf_hash_of(position, &value)?;
            count += 1;
        }
        if count as u64 != width {
            return Err(missing(first + count as u64));
        }
        // Pairwise, level by level, in place: the perfect subtree's root ends in slot 0.
        while count > 1 {
            count /= 2;
            for slot in 0..count {
                hashes[slot] = merkle::node_hash(&hashes[2 * slot], &hashes[2 * slot + 1]);
            }
        }
        Ok(hashes[0])
    }

    /// The tree size entry: how many leaves the stored Merkle nodes cover (`None` for a log
    /// written before the tree existed, or an empty one).
    pub(crate) fn tree_size(&self) -> Result<Option<u64>, EventLogError> {
        let Some(value) = self.tree.get(layout::TREE_SIZE_KEY).map_err(read_failed)? else {
            return Ok(None);
        };
        layout::parse_tree_size_value(&value)
            .map(Some)
            .ok_or_else(|| EventLogError::Corrupt {
                position: 0,
                reason: "malformed Merkle tree size entry".to_owned(),
            })
    }

    /// Stored Merkle node entries (`m`) of leaves `from..=to`, in order: (leaf index, value).
    pub(crate) fn merkle_node_entries(
        &self,
        from: u64,
        to: u64,
    ) -> impl Iterator<Item = Result<(u64, sled::IVec), EventLogError>> + use<> {
        self.tree
            .range(layout::merkle_nodes_key(from)..=layout::merkle_nodes_key(to))
            .map(|item| {
                let (key, value) = item.map_err(read_failed)?;
                let leaf_index =
                    layout::leaf_index_of_merkle_nodes_key(&key).ok_or_else(|| EventLogError::Corrupt {
                        position: 0,
                        reason: "malformed Merkle node key".to_owned(),
                    })?;
                Ok((leaf_index, value))
            })
    }

    /// Stored record entries with positions in `from..=to`, in order.
    pub(crate) fn record_entries(
        &self,
        from: Position,
        to: Position,
    ) -> impl Iterator<Item = Result<(Position, sled::IVec), EventLogError>> + use<> {
        self.tree
            .range(layout::record_key(from)..=layout::record_key(to))
            .map(|item| {
                let (key, value) = item.map_err(read_failed)?;
                let position = layout::position_of_record_key(&key).ok_or_else(|| EventLogError::Corrupt {
                    position: 0,
                    reason: "malformed record key".to_owned(),
                })?;
                Ok((position, value))
            })
    }
}
