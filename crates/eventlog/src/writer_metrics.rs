//! Cheap observation of the writer, for operators: fixed-bucket histograms of the events
//! each durable commit made durable and of the time each durable flush took, kept with
//! relaxed atomics by the acknowledger, and the writer's state; read at scrape time through
//! [`crate::EventLog::writer_metrics`]. The log knows nothing of the format they are
//! exported in (the server turns them into Prometheus metrics, docs/operations.md#metrics).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::writer::WriterStats;

/// Upper bounds (inclusive) of the buckets of [`WriterMetrics::group_commit_events`]:
/// events made durable by one commit.
pub const GROUP_COMMIT_EVENTS_BOUNDS: &[u64] = &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];

/// Upper bounds (inclusive) of the buckets of [`WriterMetrics::flush_nanos`], in
/// nanoseconds: 50 µs to 2.5 s.
pub const FLUSH_NANOS_BOUNDS: &[u64] = &[
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
];

/// A histogram with fixed buckets that any thread may add to without a lock.
#[derive(Debug)]
pub(crate) struct AtomicHistogram {
    bounds: &'static [u64],
    /// One per bound, then the overflow bucket.
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl AtomicHistogram {
    pub(crate) fn new(bounds: &'static [u64]) -> Self {
        debug_assert!(bounds.windows(2).all(|pair| pair[0] < pair[1]), "bounds ascend");
        AtomicHistogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    /// Counts `value` in the first bucket whose bound is at least `value`.
    pub(crate) fn observe(&self, value: u64) {
        let index = self.bounds.partition_point(|bound| *bound < value);
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            bounds: self.bounds,
            counts: self
                .buckets
                .iter()
                .map(|bucket| bucket.load(Ordering::Relaxed))
                .collect(),
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

/// A histogram as read at one moment. Each bucket and the sum are read on their own
/// (relaxed), so an observation made during the read may be in the buckets and not yet in
/// the sum, or the other way round; [`HistogramSnapshot::count`] always agrees with the
/// buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Upper bounds, inclusive and ascending: a value falls in the first bucket whose bound
    /// is at least the value, or in the overflow bucket.
    pub bounds: &'static [u64],
    /// Observations in each bucket (not cumulative): `counts[i]` for `bounds[i]`, then
    /// `counts[bounds.len()]` for the overflow bucket (`+Inf`).
    pub counts: Vec<u64>,
    /// The sum of every value observed.
    pub sum: u64,
}

impl HistogramSnapshot {
    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// Whether the writer takes appends and makes them durable, and if not why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriterState {
    /// Taking appends and making them durable.
    Running,
    /// A storage fault: appends are refused; `retrying` as in
    /// [`LogHealth::Failing`](crate::LogHealth::Failing) (false: the log must be reopened).
    Failing { reason: String, retrying: bool },
    /// The log opened read-only because its tail did not check out
    /// ([`crate::EventLog::refusal_on_open`]).
    ReadOnly { reason: String },
    /// The log was closed, or the writer's thread ended.
    Stopped { reason: String },
}

impl WriterState {
    /// Whether appends are taken now.
    pub fn is_up(&self) -> bool {
        matches!(self, WriterState::Running)
    }

    /// Why appends are not taken, `None` while they are.
    pub fn reason(&self) -> Option<&str> {
        match self {
            WriterState::Running => None,
            WriterState::Failing { reason, .. }
            | WriterState::ReadOnly { reason }
            | WriterState::Stopped { reason } => Some(reason),
        }
    }
}

/// What the writer has done since the log was opened and where it stands: cumulative, as
/// a scrape reads it ([`crate::EventLog::writer_metrics`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterMetrics {
    /// The writer's counters ([`crate::EventLog::stats`]).
    pub stats: WriterStats,
    /// Events made durable by each durable commit (one flush plus `fdatasync`, covering
    /// one or more groups), for the commits that made events durable; buckets
    /// [`GROUP_COMMIT_EVENTS_BOUNDS`]. Its sum is the events written.
    pub group_commit_events: HistogramSnapshot,
    /// The time each durable flush took (sled's flush and `fdatasync`), failed ones and
    /// retries included, in nanoseconds; buckets [`FLUSH_NANOS_BOUNDS`].
    pub flush_nanos: HistogramSnapshot,
    /// Whether appends are taken now.
    pub state: WriterState,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault_tests::wait_healthy;
    use crate::store::InjectedFault;
    use crate::{AppendRequest, EventLog, EventLogConfig, ExpectedRevision, NewEvent, RequestId, StreamId};

    fn request(stream: &str, request_id: &str, events: usize) -> AppendRequest {
        AppendRequest {
            stream_id: StreamId::try_from(stream).unwrap_or_else(|error| panic!("{error}")),
            expected_revision: ExpectedRevision::Any,
            request_id: RequestId::try_from(request_id).unwrap_or_else(|error| panic!("{error}")),
            actor_id: String::new(),
            events: (0..events)
                .map(|_| NewEvent {
                    event_type: "Noted".to_owned(),
                    occurred_at_micros: 0,
                    payload: b"x".to_vec(),
                })
                .collect(),
        }
    }

    /// Every flush attempt is timed; every commit that made events durable is counted with
    /// its events; the state follows the log from running to failing, back, and closed.
    #[test]
    fn the_writer_is_observed_commit_by_commit_and_its_state_follows_the_log() -> anyhow::Result<()> {
        let directory = tempfile::tempdir()?;
        let log = EventLog::open(EventLogConfig::new(directory.path()))?;
        let metrics = log.writer_metrics();
        assert_eq!(metrics.state, WriterState::Running);
        assert_eq!(
            (metrics.group_commit_events.count(), metrics.flush_nanos.count()),
            (0, 0)
        );
        assert_eq!(
            metrics.group_commit_events.counts.len(),
            GROUP_COMMIT_EVENTS_BOUNDS.len() + 1
        );
        assert_eq!(metrics.flush_nanos.counts.len(), FLUSH_NANOS_BOUNDS.len() + 1);

        // One append at a time: one commit each, of its events.
        for (index, events) in [1, 3, 3, 5].into_iter().enumerate() {
            log.append_blocking(request("s", &format!("r{index}"), events))?;
        }
        // A retry writes nothing: its flush is timed, no commit of events is counted.
        assert!(log.append_blocking(request("s", "r0", 1))?.duplicate);
        let metrics = log.writer_metrics();
        let commits = &metrics.group_commit_events;
        assert_eq!(commits.sum, 12);
        assert_eq!(commits.sum, metrics.stats.events_written);
        // Bounds 1, 2, 4, 8: one commit of 1, two of 3, one of 5.
        assert_eq!(commits.counts[..4], [1, 0, 2, 1]);
        assert_eq!(commits.count(), 4);
        assert_eq!(metrics.stats.durable_commits, 5);
        assert_eq!(metrics.flush_nanos.count(), 5);
        assert!(metrics.flush_nanos.sum > 0);

        log.inject_flush_fault(Some(InjectedFault::Transient));
        assert!(log.append_blocking(request("s", "r9", 2)).is_err());
        let failing = log.writer_metrics();
        assert!(
            matches!(&failing.state, WriterState::Failing { retrying: true, reason } if reason.contains("durable flush failed")),
            "{:?}",
            failing.state
        );
        assert!(!failing.state.is_up());
        log.inject_flush_fault(None);
        wait_healthy(&log);
        let recovered = log.writer_metrics();
        assert_eq!(recovered.state, WriterState::Running);
        // The retried flush that succeeded committed r9's two events.
        assert_eq!(recovered.group_commit_events.sum, 14);
        assert_eq!(recovered.group_commit_events.count(), 5);
        assert_eq!(
            recovered.flush_nanos.count(),
            recovered.stats.durable_commits + recovered.stats.failed_flushes
        );

        log.close()?;
        let closed = log.writer_metrics();
        assert_eq!(
            closed.state,
            WriterState::Stopped {
                reason: "the log was closed".to_owned()
            }
        );
        assert_eq!(closed.state.reason(), Some("the log was closed"));
        Ok(())
    }

    #[test]
    fn values_fall_in_the_first_bucket_whose_bound_is_at_least_the_value() {
        let histogram = AtomicHistogram::new(&[1, 4, 16]);
        for (value, bucket) in [
            (0, 0),
            (1, 0),
            (2, 1),
            (4, 1),
            (5, 2),
            (16, 2),
            (17, 3),
            (u64::MAX / 2, 3),
        ] {
            let before = histogram.snapshot();
            histogram.observe(value);
            let after = histogram.snapshot();
            let moved: Vec<u64> = after.counts.iter().zip(&before.counts).map(|(a, b)| a - b).collect();
            let mut expected = vec![0; 4];
            expected[bucket] = 1;
            assert_eq!(moved, expected, "value {value}");
            assert_eq!(after.sum - before.sum, value, "value {value}");
            assert_eq!(after.count(), before.count() + 1);
        }
    }
}
