//! Verification: recompute the global and per-stream hash chains and the Merkle tree nodes, and report the first bad position.

use crate::error::EventLogError;
use crate::layout;
use crate::merkle::leaf_hash;
use crate::record::{EventRecord, chain_hash};
use crate::store::{LogTree, stray_merkle_nodes};
use crate::tree::Frontier;
use crate::types::{ChainHash, LogHead, Position, ZERO_HASH};

use prost::Message;

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// True when every checked position and the chain head check out.
    pub ok: bool,
    pub events_checked: u64,
    /// The head the log claims (its chain head entry).
    pub head_position: Position,
    pub head_hash: ChainHash,
    /// The first position that does not check out.
    pub first_bad_position: Option<Position>,
    /// What was wrong, or a summary when all is well.
    pub message: String,
}

/// Verifies `from..=to` (`0` as either bound means the start or the end of the log).
///
/// The hash of `from - 1` is taken from the log as the anchor, and so is the Merkle
/// frontier of the tree of size `from - 1` (its stored nodes); verifying from position 1
/// anchors at the 32 zero bytes and the empty tree and so checks everything. Each event's
/// leaf is hashed from its record, every node it completes is recomputed, and those of the
/// stored levels (`>= MIN_STORED_LEVEL`) are compared with its `m` entry (the levels below
/// are not stored: they are the records' own hashes, which the chain checks).
pub(crate) fn verify_range(
    log: &LogTree,
    head: LogHead,
    from: Position,
    to: Position,
) -> Result<VerifyReport, EventLogError> {
    let from = from.max(1);
    let to = if to == 0 { head.position } else { to };
    let mut report = VerifyReport {
        ok: true,
        events_checked: 0,
        head_position: head.position,
        head_hash: head.hash,
        first_bad_position: None,
        message: String::new(),
    };
    if to > head.position {
        return Ok(report.bad(to, format!("position {to} is past the chain head {}", head.position)));
    }
    if from > to {
        report.message = "nothing to verify".to_owned();
        return Ok(report);
    }

    let mut prev_hash = match log.stored_hash(from - 1) {
        Ok(hash) => hash,
        Err(error) => return Ok(report.bad(from - 1, format!("anchor of the range: {error}"))),
    };
    // The Merkle tree is anchored like the chain: its frontier at `from - 1` is read from
    // the stored nodes; from position 1 it is empty and everything is recomputed.
    let mut frontier = match Frontier::load(log, from - 1) {
        Ok(frontier) => frontier,
        Err(error) => return Ok(report.bad(from - 1, format!("anchor of the Merkle tree: {error}"))),
    };
    let mut stored_nodes = StoredNodes {
        entries: log.merkle_node_entries(from - 1, to - 1).peekable(),
    };
    let mut completed = Vec::new();
    let mut expected_position = from;
    for entry in log.record_entries(from, to) {
        let (position, value) = entry?;
        if position != expected_position {
            return Ok(report.bad(expected_position, format!("position {expected_position} is missing")));
        }
        match check_one(log, position, &value, &prev_hash) {
            Ok(hash) => prev_hash = hash,
            Err(problem) => return Ok(report.bad(position, problem)),
        }
        let record_bytes = layout::record_bytes_of_value(&value);
        let leaf_index = frontier.push(&leaf_hash(record_bytes), &mut completed);
        if let Err((bad_position, problem)) = stored_nodes.check(leaf_index, &completed)? {
            return Ok(report.bad(bad_position, problem));
        }
        report.events_checked += 1;
        expected_position += 1;
    }
    if expected_position <= to {
        return Ok(report.bad(
            expected_position,
            format!(
                "position {expected_position} is missing: the chain head says the log ends at {}",
                head.position
            ),
        ));
    }
    if to == head.position && prev_hash != head.hash {
        return Ok(report.bad(to, format!("the chain head hash does not match position {to}")));
    }
    // The writer may have applied groups past the durable head, records and tree together:
    // the entry may be ahead of `to`, never past the last stored record.
    let tree_size = log.tree_size()?.unwrap_or(0);
    if tree_size < to {
        return Ok(report.bad(
            tree_size + 1,
            format!("the Merkle tree size entry says the tree covers {tree_size} positions, the log has {to}"),
        ));
    }
    let last_stored = log.last_record_position()?.unwrap_or(0);
    if tree_size > last_stored {
        return Ok(report.bad(
            last_stored + 1,
            format!(
                "the Merkle tree size entry says the tree covers {tree_size} positions, the log ends at {last_stored}"
            ),
        ));
    }
    report.message = format!(
        "{} events verified, positions {from}..={to}, with their Merkle tree nodes",
        report.events_checked
    );
    Ok(report)
}

/// The stored Merkle node entries of the range being verified, in leaf order.
struct StoredNodes<I: Iterator<Item = Result<(u64, sled::IVec), EventLogError>>> {
    entries: std::iter::Peekable<I>,
}

impl<I: Iterator<Item = Result<(u64, sled::IVec), EventLogError>>> StoredNodes<I> {
    /// Compares the `m` entry of leaf `leaf_index` with the stored levels of the nodes
    /// recomputed from the records (`completed`, levels `1..=trailing_ones`; a leaf that
    /// completes no level `>= MIN_STORED_LEVEL` must have no entry). A problem is given with
    /// the position it is at.
    fn check(&mut self, leaf_index: u64, completed: &[u8]) -> Result<Result<(), (Position, String)>, EventLogError> {
        let position = leaf_index + 1;
        let stored = match self
            .entries
            .next_if(|entry| !matches!(entry, Ok((index, _)) if *index > leaf_index))
        {
            None => None,
            Some(Err(error)) => return Err(error),
            Some(Ok((index, _))) if index < leaf_index => {
                let stray = index + 1;
                return Ok(Err((stray, stray_merkle_nodes(stray))));
            }
            Some(Ok((_, value))) => Some(value),
        };
        let expected = layout::stored_merkle_nodes(completed);
        let lowest = layout::MIN_STORED_LEVEL as usize;
        let levels = expected.len() / 32;
        let problem = match stored {
            None if levels == 0 => return Ok(Ok(())),
            Some(value) if value.as_ref() == expected => return Ok(Ok(())),
            None if levels == 1 => format!("Merkle tree nodes of position {position} (level {lowest}) are missing"),
            None => format!(
                "Merkle tree nodes of position {position} (levels {lowest}..={}) are missing",
                lowest + levels - 1
            ),
            Some(_) if levels == 0 => stray_merkle_nodes(position),
            Some(value) => match value
                .chunks(32)
                .zip(expected.chunks(32))
                .position(|(stored, recomputed)| stored != recomputed)
            {
                Some(slot) => {
                    let level = slot + lowest;
                    let first = position + 1 - (1u64 << level);
                    format!(
                        "Merkle tree node mismatch at position {position}: the stored node of level {level} \
                         (positions {first}..={position}) is not the hash of the records"
                    )
                }
                None => format!(
                    "Merkle tree nodes of position {position} have {} bytes, {} expected",
                    value.len(),
                    expected.len()
                ),
            },
        };
        Ok(Err((position, problem)))
    }
}

impl VerifyReport {
    fn bad(mut self, position: Position, message: String) -> VerifyReport {
        self.ok = false;
        self.first_bad_position = Some(position);
        self.message = message;
        self
    }
}

/// Checks one stored entry: it decodes, its hash links to the previous position, its stream
/// chain links to the stream's previous event, and the stream index points at it.
/// Returns the (verified) hash of the position.
fn check_one(log: &LogTree, position: Position, value: &[u8], prev_hash: &ChainHash) -> Result<ChainHash, String> {
    let (stored_hash, record_bytes) =
        layout::split_record_value(value).ok_or_else(|| "stored entry is shorter than a hash".to_owned())?;
    if chain_hash(prev_hash, record_bytes) != stored_hash {
        return Err(format!(
            "hash mismatch at position {position}: the record or its hash was changed"
        ));
    }
    let record =
        EventRecord::decode(record_bytes).map_err(|error| format!("record at {position} does not decode: {error}"))?;
    if record.position != position {
        return Err(format!("record at {position} says it is position {}", record.position));
    }
    let expected_stream_prev_hash = if record.revision == 0 {
        ZERO_HASH
    } else {
        let previous_position = log
            .stream_position(&record.stream_id, record.revision - 1)
            .map_err(|error| error.to_string())?
            .ok_or_else(|| {
                format!(
                    "stream {} has no revision {} before position {position}",
                    record.stream_id,
                    record.revision - 1
                )
            })?;
        if previous_position >= position {
            return Err(format!(
                "stream {} revision {} sits at {previous_position}, not before {position}",
                record.stream_id,
                record.revision - 1
            ));
        }
        log.stored_hash(previous_position).map_err(|error| error.to_string())?
    };
    if record.stream_prev_hash != expected_stream_prev_hash {
        return Err(format!(
            "stream chain broken at position {position}: stream_prev_hash is not the hash of {} revision {}",
            record.stream_id,
            record.revision.saturating_sub(1)
        ));
    }
    match log.stream_position(&record.stream_id, record.revision) {
        Ok(Some(indexed)) if indexed == position => Ok(stored_hash),
        Ok(_) => Err(format!(
            "stream index of {} revision {} does not point at position {position}",
            record.stream_id, record.revision
        )),
        Err(error) => Err(error.to_string()),
    }
}
