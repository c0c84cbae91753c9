//! The storage bound: raw sled batch + durable flush throughput, the yardstick every log figure is printed beside.

use std::path::Path;
use std::time::Instant;

use crate::error::EventLogError;
use crate::store::{self, Durability, DurableFlusher, EventLogConfig};

/// Raw sled throughput for one batch size, measured without the log's work (no encoding,
/// hashing, indexes or revision checks).
#[derive(Debug, Clone, Copy)]
pub struct StorageBound {
    pub value_bytes: usize,
    pub values_per_batch: usize,
    pub durability: Durability,
    pub values_per_second: f64,
    pub batches_per_second: f64,
}

/// Inserts `total_values` values of `value_bytes` into a fresh sled database in `directory`,
/// `values_per_batch` per batch, each batch flushed as `durability` says.
pub fn measure_storage_bound(
    directory: &Path,
    value_bytes: usize,
    values_per_batch: usize,
    total_values: usize,
    durability: Durability,
) -> Result<StorageBound, EventLogError> {
    let values_per_batch = values_per_batch.max(1);
    let mut config = EventLogConfig::new(directory);
    config.durability = durability;
    let (db, tree) = store::open_tree(&config)?;
    let mut flusher = DurableFlusher::new(&config)?;
    let value = vec![0x5a_u8; value_bytes];
    let batches = total_values.div_ceil(values_per_batch).max(1);
    let started = Instant::now();
    let mut key: u64 = 0;
    for _ in 0..batches {
        let mut batch = sled::Batch::default();
        for _ in 0..values_per_batch {
            key += 1;
            batch.insert(&key.to_be_bytes()[..], &value[..]);
        }
        tree.apply_batch(batch)
            .map_err(|error| EventLogError::storage("applying a benchmark batch", error))?;
        flusher.flush(&db).map_err(|failure| failure.error)?;
    }
    let seconds = started.elapsed().as_secs_f64().max(f64::EPSILON);
    Ok(StorageBound {
        value_bytes,
        values_per_batch,
        durability,
        values_per_second: key as f64 / seconds,
        batches_per_second: batches as f64 / seconds,
    })
}
