//! `ProjectionStore`: where read models keep their checkpoints, beside the log, written atomically with the position they reflect.

use crate::error::EventLogError;
use crate::types::Position;

/// Name of the sled tree that holds every projection's checkpoint.
pub(crate) const PROJECTION_TREE_NAME: &[u8] = b"gridledger-projections";

const POSITION_KIND: u8 = b'p';
const ENTRY_KIND: u8 = b'k';

/// The most entries one sled batch of [`ProjectionStore::write_unpositioned`] or
/// [`ProjectionStore::clear`] holds, so that a checkpoint of millions of issues is written
/// and removed in bounded memory.
pub const CHECKPOINT_CHUNK_ENTRIES: usize = 16_384;

/// One projection's checkpoint: a set of key/value entries and the log position they
/// reflect. A commit writes changed entries and the new position in one atomic batch, so a
/// crash leaves either the old checkpoint or the new one, never a mix.
///
/// Checkpoints are made durable by sled's flush only (no `fdatasync`): losing the newest
/// checkpoint to a power cut costs a longer replay at the next start, never correctness.
#[derive(Debug, Clone)]
pub struct ProjectionStore {
    pub(crate) db: sled::Db,
    pub(crate) tree: sled::Tree,
    /// `name` + 0x00: the prefix of every key of this projection.
    pub(crate) prefix: Vec<u8>,
}

fn storage(context: &'static str) -> impl Fn(sled::Error) -> EventLogError {
    move |error| EventLogError::storage(context, error)
}

impl ProjectionStore {
    pub(crate) fn new(db: sled::Db, tree: sled::Tree, name: &str) -> Result<Self, EventLogError> {
        if name.is_empty() || name.bytes().any(|byte| !byte.is_ascii_graphic()) {
            return Err(EventLogError::invalid(
                "projection name",
                "must be printable ASCII without spaces",
            ));
        }
        let mut prefix = name.as_bytes().to_vec();
        prefix.push(0);
        Ok(ProjectionStore { db, tree, prefix })
    }

    fn key(&self, kind: u8, rest: &[u8]) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.prefix.len() + 1 + rest.len());
        key.extend_from_slice(&self.prefix);
        key.push(kind);
        key.extend_from_slice(rest);
        key
    }

    /// The log position the checkpoint reflects (0: none yet).
    pub fn position(&self) -> Result<Position, EventLogError> {
        let Some(value) = self
            .tree
            .get(self.key(POSITION_KIND, &[]))
            .map_err(storage("reading a projection position"))?
        else {
            return Ok(0);
        };
        let bytes: [u8; 8] = value.as_ref().try_into().map_err(|_| EventLogError::Corrupt {
            position: 0,
            reason: "malformed projection checkpoint position".to_owned(),
        })?;
        Ok(Position::from_be_bytes(bytes))
    }

    /// Every entry of the checkpoint, in key order.
    pub fn entries(&self) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), EventLogError>> + use<> {
        let entry_prefix = self.key(ENTRY_KIND, &[]);
        let skip = entry_prefix.len();
        self.tree.scan_prefix(entry_prefix).map(move |item| {
            let (key, value) = item.map_err(storage("reading a projection checkpoint"))?;
            Ok((key[skip..].to_vec(), value.to_vec()))
        })
    }

    /// Writes `changes` (a value, or `None` to remove the entry) and `position` atomically,
    /// then flushes.
    pub fn commit(
        &self,
        position: Position,
        changes: impl IntoIterator<Item = (Vec<u8>, Option<Vec<u8>>)>,
    ) -> Result<(), EventLogError> {
        let mut batch = sled::Batch::default();
        for (key, value) in changes {
            let key = self.key(ENTRY_KIND, &key);
            match value {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            }
        }
        batch.insert(self.key(POSITION_KIND, &[]), &position.to_be_bytes()[..]);
        self.tree
            .apply_batch(batch)
            .map_err(storage("writing a projection checkpoint"))?;
        self.db.flush().map_err(storage("flushing a projection checkpoint"))?;
        Ok(())
    }

    /// Writes `changes` without touching the position, in batches of at most
    /// [`CHECKPOINT_CHUNK_ENTRIES`] entries, for a checkpoint too large for one batch.
    ///
    /// Only allowed while the checkpoint has no position (after [`Self::clear`]): the entries
    /// belong to no checkpoint until a [`Self::commit`] gives them their position, and a
    /// reader that finds entries without a position must treat them as an interrupted
    /// rebuild (see [`Self::has_entries_without_position`]).
    pub fn write_unpositioned(
        &self,
        changes: impl IntoIterator<Item = (Vec<u8>, Option<Vec<u8>>)>,
    ) -> Result<(), EventLogError> {
        let position = self.position()?;
        if position != 0 {
            return Err(EventLogError::invalid(
                "projection checkpoint",
                "entries may be written without a position only into a cleared checkpoint",
            ));
        }
        let mut batch = sled::Batch::default();
        let mut in_batch = 0usize;
        for (key, value) in changes {
            let key = self.key(ENTRY_KIND, &key);
            match value {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            }
            in_batch += 1;
            if in_batch == CHECKPOINT_CHUNK_ENTRIES {
                self.tree
                    .apply_batch(std::mem::take(&mut batch))
                    .map_err(storage("writing a projection checkpoint"))?;
                // Flushing each chunk keeps sled's dirty pages, and so memory, bounded.
                self.db.flush().map_err(storage("flushing a projection checkpoint"))?;
                in_batch = 0;
            }
        }
        if in_batch > 0 {
            self.tree
                .apply_batch(batch)
                .map_err(storage("writing a projection checkpoint"))?;
        }
        Ok(())
    }

    /// Whether the checkpoint holds entries but no position: a rebuild that stopped before
    /// its final commit. Such entries describe no position and must not be loaded.
    pub fn has_entries_without_position(&self) -> Result<bool, EventLogError> {
        if self.position()? != 0 {
            return Ok(false);
        }
        Ok(self.entries().next().transpose()?.is_some())
    }

    /// Removes the whole checkpoint (before a rebuild): the position first (durably), so
    /// that a crash part-way leaves entries without a position, never a mix that claims one;
    /// then the entries in batches of at most [`CHECKPOINT_CHUNK_ENTRIES`].
    pub fn clear(&self) -> Result<(), EventLogError> {
        self.tree
            .remove(self.key(POSITION_KIND, &[]))
            .map_err(storage("clearing a projection checkpoint"))?;
        self.db.flush().map_err(storage("flushing a projection checkpoint"))?;
        loop {
            let mut batch = sled::Batch::default();
            let mut in_batch = 0usize;
            for item in self
                .tree
                .scan_prefix(&self.prefix)
                .keys()
                .take(CHECKPOINT_CHUNK_ENTRIES)
            {
                batch.remove(item.map_err(storage("listing a projection checkpoint"))?);
                in_batch += 1;
            }
            if in_batch == 0 {
                break;
            }
            self.tree
                .apply_batch(batch)
                .map_err(storage("clearing a projection checkpoint"))?;
        }
        self.db.flush().map_err(storage("flushing a projection checkpoint"))?;
        Ok(())
    }
}
