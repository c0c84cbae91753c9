//! `DurationHistogram`: a mergeable log-scale histogram of durations, for percentiles at any scope without rescanning.

use serde::{Deserialize, Serialize};

/// Buckets per doubling: each bucket spans a factor of 2^(1/8), so a percentile read from
/// the histogram is within about 4.5% of the exact value (it reports the bucket's
/// geometric middle).
const BUCKETS_PER_DOUBLING: f64 = 8.0;
/// Durations at or below one minute share the first bucket.
const SMALLEST_SECONDS: f64 = 60.0;
/// 8 buckets a doubling from one minute covers about 2^32 minutes: far beyond any issue.
pub const BUCKET_COUNT: usize = 256;

/// Counts of durations in log-scale buckets. Adding two histograms gives the histogram of
/// the union, so per-cell histograms roll up to any scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DurationHistogram {
    /// Sparse: (bucket, count), sorted by bucket.
    buckets: Vec<(u16, u64)>,
    count: u64,
}

/// The bucket a duration falls in.
pub fn bucket_of(seconds: f64) -> u16 {
    if seconds <= SMALLEST_SECONDS {
        return 0;
    }
    let bucket = ((seconds / SMALLEST_SECONDS).log2() * BUCKETS_PER_DOUBLING).ceil();
    (bucket as usize).min(BUCKET_COUNT - 1) as u16
}

/// The geometric middle of a bucket, in seconds.
fn bucket_middle_seconds(bucket: u16) -> f64 {
    if bucket == 0 {
        return SMALLEST_SECONDS;
    }
    let upper = SMALLEST_SECONDS * 2f64.powf(f64::from(bucket) / BUCKETS_PER_DOUBLING);
    upper / 2f64.powf(0.5 / BUCKETS_PER_DOUBLING)
}

impl DurationHistogram {
    /// Records one duration (negative durations count as zero).
    pub fn record_seconds(&mut self, seconds: f64) {
        let bucket = bucket_of(seconds.max(0.0));
        match self.buckets.binary_search_by_key(&bucket, |(bucket, _)| *bucket) {
            Ok(index) => self.buckets[index].1 += 1,
            Err(index) => self.buckets.insert(index, (bucket, 1)),
        }
        self.count += 1;
    }

    /// Adds `delta` (which may be negative) to one bucket's count; a bucket falling to zero
    /// is dropped.
    pub fn add_to_bucket(&mut self, bucket: u16, delta: i64) {
        match self.buckets.binary_search_by_key(&bucket, |(bucket, _)| *bucket) {
            Ok(index) => {
                let count = self.buckets[index].1.saturating_add_signed(delta);
                if count == 0 {
                    self.buckets.remove(index);
                } else {
                    self.buckets[index].1 = count;
                }
            }
            Err(index) if delta > 0 => self.buckets.insert(index, (bucket, delta.unsigned_abs())),
            Err(_) => return,
        }
        self.count = self.count.saturating_add_signed(delta);
    }

    /// Adds each bucket's count into a dense per-bucket array.
    pub fn add_into_dense(&self, dense: &mut [u64; BUCKET_COUNT]) {
        for &(bucket, count) in &self.buckets {
            dense[usize::from(bucket).min(BUCKET_COUNT - 1)] += count;
        }
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &DurationHistogram) {
        for &(bucket, count) in &other.buckets {
            match self.buckets.binary_search_by_key(&bucket, |(bucket, _)| *bucket) {
                Ok(index) => self.buckets[index].1 += count,
                Err(index) => self.buckets.insert(index, (bucket, count)),
            }
        }
        self.count += other.count;
    }

    /// The histogram of dense per-bucket counts (as an accumulator keeps them).
    pub fn from_dense(counts: &[u64; BUCKET_COUNT]) -> DurationHistogram {
        let buckets: Vec<(u16, u64)> = counts
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(bucket, count)| (bucket as u16, *count))
            .collect();
        let count = buckets.iter().map(|(_, count)| count).sum();
        DurationHistogram { buckets, count }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The `quantile` (0.0..=1.0) in seconds: the smallest recorded value that at least
    /// that fraction of values is at or below (nearest rank), as its bucket's middle; 0
    /// when empty.
    pub fn quantile_seconds(&self, quantile: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = ((quantile.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for &(bucket, count) in &self.buckets {
            seen += count;
            if seen >= rank {
                return bucket_middle_seconds(bucket);
            }
        }
        self.buckets
            .last()
            .map_or(0.0, |(bucket, _)| bucket_middle_seconds(*bucket))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(values_hours: &[f64], quantile: f64, exact_hours: f64) {
        let mut histogram = DurationHistogram::default();
        for hours in values_hours {
            histogram.record_seconds(hours * 3600.0);
        }
        let estimate = histogram.quantile_seconds(quantile) / 3600.0;
        assert!(
            (estimate - exact_hours).abs() <= exact_hours * 0.05 + 1.0 / 60.0,
            "q{quantile} of {values_hours:?}: {estimate} vs {exact_hours}"
        );
    }

    #[test]
    fn quantiles_are_within_the_bucket_error() {
        check(&[1.0, 2.0, 3.0, 4.0, 100.0], 0.5, 3.0);
        check(&[1.0, 2.0, 3.0, 4.0, 100.0], 0.9, 100.0);
        check(&[24.0; 10], 0.5, 24.0);
        check(&[0.001], 0.5, 1.0 / 60.0);
        check(&[1000.0, 2000.0], 0.5, 1000.0);
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let mut left = DurationHistogram::default();
        let mut right = DurationHistogram::default();
        let mut both = DurationHistogram::default();
        for (index, seconds) in [5.0, 70.0, 3_600.0, 86_400.0, 7.0e6, 3_600.0].iter().enumerate() {
            if index % 2 == 0 {
                left.record_seconds(*seconds)
            } else {
                right.record_seconds(*seconds)
            }
            both.record_seconds(*seconds);
        }
        left.merge(&right);
        assert_eq!(left, both);
        assert_eq!(DurationHistogram::default().quantile_seconds(0.5), 0.0);
    }
}
