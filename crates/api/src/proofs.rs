//! Checking what a server proves against its checkpoints: that an event is in the log a
//! checkpoint commits to (inclusion), and that a newer checkpoint extends an older one
//! (consistency). Pure functions over [`Checkpoint`]s that [`crate::checkpoint`] has already
//! opened with a verifier key; the Merkle arithmetic is `gridledger_eventlog::merkle`'s
//! (RFC 9162 §2.1.3.2 and §2.1.4.2). What each check proves: docs/audit.md.

use gridledger_eventlog::merkle::{self, EMPTY_ROOT, MerkleError, MerkleHash};
use gridledger_eventlog::{ChainHash, chain_hash};

use crate::checkpoint::Checkpoint;

/// Why a proof was refused. [`ProofError::is_fork`] tells a split view (two checkpoints of
/// the same log that cannot both be true) from a proof that merely does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// Position 0, or a position beyond the tree the proof is for.
    #[error("position {position} is not in the tree of size {tree_size}")]
    PositionOutOfRange { position: u64, tree_size: u64 },
    /// A proof for a tree larger than the checkpoint it is checked against.
    #[error("tree size {tree_size} is beyond the checkpoint's size {checkpoint_size}")]
    SizeBeyondCheckpoint { tree_size: u64, checkpoint_size: u64 },
    /// The event's chain hash is not `SHA-256(prev_hash || record)`.
    #[error("the event at position {position} does not hash to its chain hash")]
    ChainHash { position: u64 },
    /// The event is the checkpoint's last one, but its chain hash is not the checkpoint's
    /// `chain-head`.
    #[error(
        "the event at position {position} is the checkpoint's last, but its chain hash is not the checkpoint's chain head"
    )]
    ChainHeadMismatch { position: u64 },
    /// The inclusion proof does not lead to the root it must.
    #[error("the inclusion proof does not verify: {0}")]
    Inclusion(#[source] MerkleError),
    /// The consistency proof does not verify.
    #[error("the consistency proof does not verify: {0}")]
    Consistency(#[source] MerkleError),
    /// Two checkpoints of different logs.
    #[error("the checkpoints are of different logs: {first:?} and {second:?}")]
    OriginDiffers { first: String, second: String },
    /// A later checkpoint of a smaller tree: the log would have lost events.
    #[error("the tree shrank from size {first_size} to {second_size}")]
    Shrank { first_size: u64, second_size: u64 },
    /// Two checkpoints of the same size with different roots.
    #[error("two different roots at size {tree_size}")]
    RootsDiffer { tree_size: u64 },
}

impl ProofError {
    /// Whether the error shows a fork: two signed checkpoints of one log that no single
    /// append-only log can have produced (a smaller size, another root at the same size, a
    /// consistency proof that fails).
    pub fn is_fork(&self) -> bool {
        matches!(
            self,
            ProofError::Shrank { .. } | ProofError::RootsDiffer { .. } | ProofError::Consistency(_)
        )
    }
}

/// Checks the event's own chain link: `hash == SHA-256(prev_hash || record)`.
pub fn verify_chain_link(
    position: u64,
    prev_hash: &ChainHash,
    record: &[u8],
    hash: &ChainHash,
) -> Result<(), ProofError> {
    if chain_hash(prev_hash, record) != *hash {
        return Err(ProofError::ChainHash { position });
    }
    Ok(())
}

/// The root that an inclusion proof of `leaf_hash` at `leaf_index` in a tree of `tree_size`
/// leads to, or why the proof has the wrong shape.
pub fn root_from_inclusion_proof(
    leaf_hash: &MerkleHash,
    leaf_index: u64,
    tree_size: u64,
    proof: &[MerkleHash],
) -> Result<MerkleHash, MerkleError> {
    // The verifier reports the root it computed when it differs from the one given.
    match merkle::verify_inclusion(leaf_hash, leaf_index, tree_size, proof, &EMPTY_ROOT) {
        Ok(()) => Ok(EMPTY_ROOT),
        Err(MerkleError::RootMismatch { computed, .. }) => Ok(computed),
        Err(error) => Err(error),
    }
}

/// Checks that `record` (the stored record bytes of the event at `position`) is leaf
/// `position - 1` of the log `checkpoint` commits to.
///
/// `inclusion` is the inclusion proof in the tree of `tree_size` leaves. When `tree_size`
/// is the checkpoint's size it must lead to the checkpoint's root, and `consistency` must be
/// empty; when it is smaller, the root it leads to must be shown by `consistency` (the
/// consistency proof from `tree_size` to the checkpoint's size) to be the root of the first
/// `tree_size` leaves of the checkpoint's tree. Returns the root of the tree of `tree_size`.
pub fn verify_event_inclusion(
    checkpoint: &Checkpoint,
    position: u64,
    record: &[u8],
    tree_size: u64,
    inclusion: &[MerkleHash],
    consistency: &[MerkleHash],
) -> Result<MerkleHash, ProofError> {
    if position == 0 || position > tree_size {
        return Err(ProofError::PositionOutOfRange { position, tree_size });
    }
    if tree_size > checkpoint.tree_size {
        return Err(ProofError::SizeBeyondCheckpoint {
            tree_size,
            checkpoint_size: checkpoint.tree_size,
        });
    }
    let leaf = merkle::leaf_hash(record);
    if tree_size == checkpoint.tree_size {
        merkle::verify_inclusion(&leaf, position - 1, tree_size, inclusion, &checkpoint.root_hash)
            .map_err(ProofError::Inclusion)?;
        merkle::verify_consistency(
            tree_size,
            tree_size,
            &checkpoint.root_hash,
            &checkpoint.root_hash,
            consistency,
        )
        .map_err(ProofError::Consistency)?;
        return Ok(checkpoint.root_hash);
    }
    let root = root_from_inclusion_proof(&leaf, position - 1, tree_size, inclusion).map_err(ProofError::Inclusion)?;
    merkle::verify_consistency(
        tree_size,
        checkpoint.tree_size,
        &root,
        &checkpoint.root_hash,
        consistency,
    )
    .map_err(ProofError::Consistency)?;
    Ok(root)
}

/// What a newer checkpoint is to an older one of the same log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuation {
    /// The same tree.
    Unchanged,
    /// A larger tree that the consistency proof shows to extend the older one.
    Extends { first_size: u64, second_size: u64 },
}

/// Checks that `second` continues `first` (both already opened with the log's key): same
/// origin, a size no smaller, the same root at the same size, and otherwise a consistency
/// `proof` from `first`'s size to `second`'s that verifies. Any other outcome is an error;
/// [`ProofError::is_fork`] says which of them are forks.
pub fn verify_continuation(
    first: &Checkpoint,
    second: &Checkpoint,
    proof: &[MerkleHash],
) -> Result<Continuation, ProofError> {
    if first.origin != second.origin {
        return Err(ProofError::OriginDiffers {
            first: first.origin.clone(),
            second: second.origin.clone(),
        });
    }
    if second.tree_size < first.tree_size {
        return Err(ProofError::Shrank {
            first_size: first.tree_size,
            second_size: second.tree_size,
        });
    }
    if second.tree_size == first.tree_size {
        if second.root_hash != first.root_hash {
            return Err(ProofError::RootsDiffer {
                tree_size: first.tree_size,
            });
        }
        merkle::verify_consistency(
            first.tree_size,
            second.tree_size,
            &first.root_hash,
            &second.root_hash,
            proof,
        )
        .map_err(ProofError::Consistency)?;
        return Ok(Continuation::Unchanged);
    }
    merkle::verify_consistency(
        first.tree_size,
        second.tree_size,
        &first.root_hash,
        &second.root_hash,
        proof,
    )
    .map_err(ProofError::Consistency)?;
    Ok(Continuation::Extends {
        first_size: first.tree_size,
        second_size: second.tree_size,
    })
}

#[cfg(test)]
mod tests {
    use gridledger_eventlog::merkle::{leaf_hash, node_hash};

    use super::*;

    fn records(count: u8) -> Vec<Vec<u8>> {
        (0..count).map(|index| vec![index; 3]).collect()
    }

    /// The root of the first `size` records, from the definition.
    fn root(records: &[Vec<u8>], size: usize) -> MerkleHash {
        let leaves: Vec<MerkleHash> = records[..size].iter().map(|record| leaf_hash(record)).collect();
        merkle::root_from_leaf_hashes(&leaves)
    }

    fn checkpoint(records: &[Vec<u8>], size: usize) -> Checkpoint {
        Checkpoint {
            origin: "gridledger/test".to_owned(),
            tree_size: size as u64,
            root_hash: root(records, size),
            chain_head: [0; 32],
        }
    }

    #[test]
    fn an_event_is_proved_in_its_checkpoint_and_in_an_older_tree() {
        let records = records(3);
        let (a, b, c) = (leaf_hash(&records[0]), leaf_hash(&records[1]), leaf_hash(&records[2]));
        let three = checkpoint(&records, 3);
        // Leaf 1 (position 2) of 3: path b's sibling a, then c.
        assert_eq!(
            verify_event_inclusion(&three, 2, &records[1], 3, &[a, c], &[]),
            Ok(three.root_hash)
        );
        // In the tree of 2, then that tree to the checkpoint's 3.
        let two = node_hash(&a, &b);
        assert_eq!(verify_event_inclusion(&three, 2, &records[1], 2, &[a], &[c]), Ok(two));
        let refusals = [
            verify_event_inclusion(&three, 2, &records[1], 2, &[a], &[]),
            verify_event_inclusion(&three, 2, &records[1], 2, &[a], &[a]),
            verify_event_inclusion(&three, 2, &records[0], 3, &[a, c], &[]),
            verify_event_inclusion(&three, 1, &records[1], 3, &[a, c], &[]),
            verify_event_inclusion(&three, 2, &records[1], 3, &[], &[]),
            verify_event_inclusion(&three, 2, &records[1], 3, &[a, c], &[c]),
            verify_event_inclusion(&three, 0, &records[1], 3, &[a, c], &[]),
            verify_event_inclusion(&three, 4, &records[1], 3, &[a, c], &[]),
            verify_event_inclusion(&three, 2, &records[1], 4, &[a, c], &[]),
        ];
        for (index, refusal) in refusals.iter().enumerate() {
            assert!(refusal.is_err(), "case {index} accepted");
        }
    }

    #[test]
    fn continuations_and_forks() {
        let records = records(4);
        let mut other = records.clone();
        other[3] = vec![9; 3];
        let (two, three, four) = (
            checkpoint(&records, 2),
            checkpoint(&records, 3),
            checkpoint(&records, 4),
        );
        // PROOF(2, D[0:4]) = [MTH(D[2:4])].
        let proof = [node_hash(&leaf_hash(&records[2]), &leaf_hash(&records[3]))];
        assert_eq!(
            verify_continuation(&two, &four, &proof),
            Ok(Continuation::Extends {
                first_size: 2,
                second_size: 4
            })
        );
        assert_eq!(verify_continuation(&four, &four, &[]), Ok(Continuation::Unchanged));
        let forks = [
            verify_continuation(&four, &three, &[]),
            verify_continuation(&four, &checkpoint(&other, 4), &[]),
            verify_continuation(&two, &checkpoint(&other, 4), &proof),
        ];
        for fork in forks {
            assert!(fork.as_ref().is_err_and(ProofError::is_fork), "{fork:?}");
        }
        let elsewhere = Checkpoint {
            origin: "gridledger/elsewhere".to_owned(),
            ..four.clone()
        };
        assert!(matches!(
            verify_continuation(&four, &elsewhere, &[]),
            Err(ProofError::OriginDiffers { .. })
        ));
    }
}
