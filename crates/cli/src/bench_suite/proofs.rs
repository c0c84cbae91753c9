//! The Merkle tree's proofs over a measured log: inclusion and consistency proof generation latency (p50/p99/max), each proof verified, beside the cost of one event read.

use std::time::{Duration, Instant};

use gridledger_eventlog::EventLog;
use gridledger_eventlog::merkle::{leaf_hash, verify_consistency, verify_inclusion};

use super::table::{Row, Section, Verdict, ms, thousands};
use crate::bench::percentile;

/// How many proofs of each kind are timed.
pub const PROOF_SAMPLES: usize = 2_000;

/// The target: a proof's p99 generation time, in milliseconds.
pub const PROOF_TARGET_P99_MS: f64 = 1.0;

/// Latencies of one kind of call, sorted.
#[derive(Debug, Clone)]
pub struct Latencies {
    sorted: Vec<Duration>,
}

impl Latencies {
    fn of(mut samples: Vec<Duration>) -> Latencies {
        samples.sort_unstable();
        Latencies { sorted: samples }
    }

    fn ms(&self, fraction: f64) -> f64 {
        percentile(&self.sorted, fraction).as_secs_f64() * 1_000.0
    }

    fn max_ms(&self) -> f64 {
        self.sorted.last().map_or(f64::NAN, |max| max.as_secs_f64() * 1_000.0)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "samples": self.sorted.len(),
            "p50_ms": self.ms(0.50),
            "p99_ms": self.ms(0.99),
            "max_ms": self.max_ms(),
        })
    }
}

/// What [`measure_proofs`] found.
#[derive(Debug, Clone)]
pub struct ProofFigures {
    pub tree_size: u64,
    pub inclusion: Latencies,
    pub consistency: Latencies,
    /// One event read by position, the bound a proof's reads are made of.
    pub event_read: Latencies,
}

/// A small deterministic generator (SplitMix64), so runs pick the same positions.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut value = *state;
    value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    value ^ (value >> 31)
}

/// Times [`PROOF_SAMPLES`] inclusion proofs (random leaves, at the head) and consistency
/// proofs (random earlier sizes to the head), verifying each outside the timing against the
/// root at the head, and as many single-event reads.
pub fn measure_proofs(log: &EventLog) -> anyhow::Result<ProofFigures> {
    let tree_size = log.head().position;
    anyhow::ensure!(
        tree_size >= 2,
        "the log is too small to measure proofs ({tree_size} events)"
    );
    let root = log.merkle_root(tree_size)?;
    let mut state = tree_size;
    let mut inclusion = Vec::with_capacity(PROOF_SAMPLES);
    let mut consistency = Vec::with_capacity(PROOF_SAMPLES);
    let mut event_read = Vec::with_capacity(PROOF_SAMPLES);
    for _ in 0..PROOF_SAMPLES {
        let leaf_index = next(&mut state) % tree_size;
        let started = Instant::now();
        let proof = log.inclusion_proof(leaf_index, tree_size)?;
        inclusion.push(started.elapsed());

        let started = Instant::now();
        let events = log.read_all(leaf_index + 1, 1)?;
        event_read.push(started.elapsed());
        let event = events
            .first()
            .ok_or_else(|| anyhow::anyhow!("position {} could not be read", leaf_index + 1))?;
        verify_inclusion(&leaf_hash(&event.record_bytes), leaf_index, tree_size, &proof, &root)
            .map_err(|error| anyhow::anyhow!("the inclusion proof of leaf {leaf_index} does not verify: {error}"))?;

        let first_size = 1 + next(&mut state) % tree_size;
        let first_root = log.merkle_root(first_size)?;
        let started = Instant::now();
        let proof = log.consistency_proof(first_size, tree_size)?;
        consistency.push(started.elapsed());
        verify_consistency(first_size, tree_size, &first_root, &root, &proof).map_err(|error| {
            anyhow::anyhow!("the consistency proof {first_size} -> {tree_size} does not verify: {error}")
        })?;
    }
    Ok(ProofFigures {
        tree_size,
        inclusion: Latencies::of(inclusion),
        consistency: Latencies::of(consistency),
        event_read: Latencies::of(event_read),
    })
}

impl ProofFigures {
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "tree_size": self.tree_size,
            "inclusion": self.inclusion.json(),
            "consistency": self.consistency.json(),
            "event_read": self.event_read.json(),
            "target_p99_ms": PROOF_TARGET_P99_MS,
        })
    }
}

/// The proofs' rows, from [`ProofFigures::json`] (possibly from another process).
pub fn proof_rows(section: &mut Section, figures: &serde_json::Value) {
    let number = |pointer: &str| {
        figures
            .pointer(pointer)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(f64::NAN)
    };
    let read_p99 = number("/event_read/p99_ms");
    for (kind, label) in [("inclusion", "inclusion proof"), ("consistency", "consistency proof")] {
        let p99 = number(&format!("/{kind}/p99_ms"));
        section.row(
            Row::info(
                format!(
                    "{label} at size {}, p99 (p50 {}, max {})",
                    thousands(number("/tree_size") as u64),
                    ms(number(&format!("/{kind}/p50_ms"))),
                    ms(number(&format!("/{kind}/max_ms")))
                ),
                ms(p99),
            )
            .bound(format!("one event read p99 {}", ms(read_p99)))
            .target("≤ 1 ms", Verdict::at_most(p99, PROOF_TARGET_P99_MS)),
        );
    }
}
