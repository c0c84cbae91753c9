//! The Merkle tree kept by the log: roots and proofs from the stored tree, for every size, against the RFC 6962 reference over the records, across reopens.

use gridledger_eventlog::merkle::{self, MerkleHash};
use gridledger_eventlog::{
    AppendRequest, EventLog, EventLogConfig, EventLogError, ExpectedRevision, ImportedEvent, NewEvent, RequestId,
    StreamId,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Operation {
    Append {
        stream: usize,
        events: usize,
    },
    /// Proofs for the sizes `head * n / 1000` and `m <= n`, and leaf `m`-ish.
    Prove {
        n: u16,
        m: u16,
        leaf: u16,
    },
    /// The same for sizes around the boundaries of the stored levels (16 leaves and more),
    /// `n` and `m` of [`AROUND_STORED_LEVELS`] (capped at the head).
    ProveAround {
        n: usize,
        m: usize,
        leaf: u16,
    },
    Reopen,
}

/// Sizes on and around the boundaries of the stored levels: nodes of 16 leaves and more are
/// stored, the smaller ones computed from the records.
const AROUND_STORED_LEVELS: [u64; 13] = [0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64];

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        6 => (0..3usize, prop_oneof![4 => 1..4usize, 1 => 14..18usize, 1 => 30..64usize])
            .prop_map(|(stream, events)| Operation::Append { stream, events }),
        3 => (0..=1000u16, 0..=1000u16, 0..=1000u16).prop_map(|(n, m, leaf)| Operation::Prove { n, m, leaf }),
        2 => (0..AROUND_STORED_LEVELS.len(), 0..AROUND_STORED_LEVELS.len(), 0..=1000u16)
            .prop_map(|(n, m, leaf)| Operation::ProveAround { n, m, leaf }),
        1 => Just(Operation::Reopen),
    ]
}

fn append(log: &EventLog, stream: usize, events: usize, step: usize) -> anyhow::Result<()> {
    log.append_blocking(AppendRequest {
        stream_id: StreamId::try_from(format!("stream-{stream}"))?,
        expected_revision: ExpectedRevision::Any,
        request_id: RequestId::try_from(format!("request-{step}"))?,
        actor_id: String::new(),
        events: (0..events)
            .map(|k| NewEvent {
                event_type: "Noted".to_owned(),
                occurred_at_micros: 0,
                payload: format!("{step}/{k}").into_bytes(),
            })
            .collect(),
    })?;
    Ok(())
}

/// The leaf hashes of every stored record, in position order: the reference's input.
fn leaf_hashes(log: &EventLog) -> anyhow::Result<Vec<MerkleHash>> {
    Ok(log
        .read_all(1, usize::MAX)?
        .iter()
        .map(|event| merkle::leaf_hash(&event.record_bytes))
        .collect())
}

fn in_memory(leaves: &[MerkleHash]) -> impl FnMut(u32, u64) -> Result<MerkleHash, ()> + '_ {
    |level, index| Ok(merkle::perfect_subtree_from_leaf_hashes(leaves, level, index))
}

/// Everything about sizes `n` and `m <= n` and leaf `leaf < n`: the stored root is the
/// reference root, the proofs are the reference proofs and verify, and sizes out of range
/// are refused naming the field.
fn check_sizes(log: &EventLog, leaves: &[MerkleHash], n: u64, m: u64, leaf: u64) -> anyhow::Result<()> {
    let head = log.head().position;
    assert_eq!(head, leaves.len() as u64);
    let root = log.merkle_root(n)?;
    assert_eq!(
        root,
        merkle::root_from_leaf_hashes(&leaves[..n as usize]),
        "root of {n}"
    );
    let first_root = log.merkle_root(m)?;
    let proof = log.consistency_proof(m, n)?;
    assert_eq!(
        Ok(proof.clone()),
        merkle::consistency_proof_with(m, n, in_memory(leaves))
    );
    merkle::verify_consistency(m, n, &first_root, &root, &proof)?;
    if leaf < n {
        let proof = log.inclusion_proof(leaf, n)?;
        assert_eq!(
            Ok(proof.clone()),
            merkle::inclusion_proof_with(leaf, n, in_memory(leaves))
        );
        merkle::verify_inclusion(&leaves[leaf as usize], leaf, n, &proof, &root)?;
    }
    let refused = [
        ("tree_size", log.merkle_root(head + 1).map(|_| ())),
        ("tree_size", log.inclusion_proof(0, head + 1).map(|_| ())),
        ("leaf_index", log.inclusion_proof(n, n).map(|_| ())),
        ("leaf_index", log.inclusion_proof(u64::MAX, n).map(|_| ())),
        ("second_size", log.consistency_proof(m, head + 1).map(|_| ())),
        ("first_size", log.consistency_proof(n + 1, n).map(|_| ())),
    ];
    for (expected_field, result) in refused {
        match result {
            Err(EventLogError::InvalidInput { field, .. }) if field == expected_field => {}
            other => panic!("expected InvalidInput naming {expected_field}, got {other:?}"),
        }
    }
    Ok(())
}

fn check(operations: Vec<Operation>) -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let open = || EventLog::open(EventLogConfig::new(directory.path()));
    let mut log = open()?;
    let mut leaves: Vec<MerkleHash> = Vec::new();
    for (step, operation) in operations.into_iter().enumerate() {
        match operation {
            Operation::Append { stream, events } => {
                append(&log, stream, events, step)?;
                leaves = leaf_hashes(&log)?;
            }
            Operation::Prove { n, m, leaf } => {
                let head = leaves.len() as u64;
                let n = head * u64::from(n) / 1000;
                let m = n * u64::from(m) / 1000;
                let leaf = n * u64::from(leaf) / 1000;
                check_sizes(&log, &leaves, n, m, leaf)?;
            }
            Operation::ProveAround { n, m, leaf } => {
                let head = leaves.len() as u64;
                let n = AROUND_STORED_LEVELS[n].min(head);
                let m = AROUND_STORED_LEVELS[m].min(n);
                let leaf = n * u64::from(leaf) / 1000;
                check_sizes(&log, &leaves, n, m, leaf)?;
            }
            Operation::Reopen => {
                log.close()?;
                drop(log);
                log = open()?;
                assert_eq!(leaf_hashes(&log)?, leaves, "step {step}");
            }
        }
    }
    let head = leaves.len() as u64;
    assert_eq!(log.merkle_root(head)?, merkle::root_from_leaf_hashes(&leaves));
    let report = log.verify(0, 0)?;
    assert!(report.ok, "{report:?}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn stored_roots_and_proofs_are_the_reference_ones(operations in prop::collection::vec(operation(), 1..40)) {
        check(operations).map_err(|error| TestCaseError::fail(format!("{error:#}")))?;
    }
}

/// Every size, every leaf, every pair of sizes of one log of 70 events (appended in uneven
/// groups, reopened half way).
#[test]
fn every_proof_of_a_small_log_verifies() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let mut log = EventLog::open(EventLogConfig::new(directory.path()))?;
    assert_eq!(log.merkle_root(0)?, merkle::EMPTY_ROOT);
    for (step, events) in [1, 2, 3, 5, 8, 13, 1, 1].into_iter().enumerate() {
        append(&log, step % 2, events, step)?;
    }
    log.close()?;
    drop(log);
    log = EventLog::open(EventLogConfig::new(directory.path()))?;
    for (step, events) in [21, 1, 7, 4, 3].into_iter().enumerate() {
        append(&log, step % 3, events, 100 + step)?;
    }
    let leaves = leaf_hashes(&log)?;
    assert_eq!(leaves.len(), 70);
    for n in 0..=70u64 {
        for m in 0..=n {
            check_sizes(&log, &leaves, n, m, m)?;
        }
    }
    Ok(())
}

/// A copy made by import has the same tree; a proof from the source verifies against the
/// copy's root, and the copy's tree extends when it appends.
#[test]
fn an_imported_copy_has_the_same_tree() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let source = EventLog::open(EventLogConfig::new(directory.path().join("source")))?;
    for step in 0..12 {
        append(&source, step % 4, 1 + step % 5, step)?;
    }
    let events = source.read_all(1, usize::MAX)?;
    let copy = EventLog::open(EventLogConfig::new(directory.path().join("copy")))?;
    for chunk in events.chunks(5) {
        copy.import_blocking(chunk.iter().cloned().map(ImportedEvent::from).collect())?;
    }
    let head = source.head().position;
    for n in 0..=head {
        assert_eq!(copy.merkle_root(n)?, source.merkle_root(n)?, "size {n}");
    }
    let proof = source.inclusion_proof(3, head)?;
    merkle::verify_inclusion(
        &merkle::leaf_hash(&events[3].record_bytes),
        3,
        head,
        &proof,
        &copy.merkle_root(head)?,
    )?;
    let before = copy.merkle_root(head)?;
    append(&copy, 9, 3, 99)?;
    let after = copy.merkle_root(head + 3)?;
    let proof = copy.consistency_proof(head, head + 3)?;
    merkle::verify_consistency(head, head + 3, &before, &after, &proof)?;
    assert!(copy.verify(0, 0)?.ok);
    Ok(())
}
