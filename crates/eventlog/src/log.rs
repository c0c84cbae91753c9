//! `EventLog`: the public handle — open, append, read, subscribe, verify, close.

use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::thread::JoinHandle;

use tokio::sync::{oneshot, watch};

use crate::error::EventLogError;
use crate::health::{HealthCell, LogHealth};
use crate::import::{self, ImportJob, ImportedEvent};
use crate::merkle::{self, MerkleHash};
use crate::projection_store::{PROJECTION_TREE_NAME, ProjectionStore};
use crate::record::chain_hash;
use crate::store::{self, DurableFlusher, EventLogConfig, LogTree};
use crate::subscribe::Subscription;
use crate::tree::{self, Frontier};
use crate::types::{
    AppendOutcome, AppendRequest, LogHead, Position, RecordedEvent, RequestId, Revision, StreamId, ZERO_HASH,
};
use crate::verify::{self, VerifyReport};
use crate::writer::{Acknowledger, AppendJob, Job, Writer, WriterCounters, WriterStats};
use crate::writer_metrics::{WriterMetrics, WriterState};

/// A handle to an open event log. Cheap to clone; all clones share one writer thread.
///
/// Appends from any number of tasks are queued to the writer, which commits them in groups:
/// one sled batch and one durable flush per group, after which every append of the group is
/// acknowledged. Reads never see an event before it is durable. When a flush fails the
/// writer keeps going: see [`EventLog::health`] and docs/durability.md, "When storage fails".
#[derive(Debug, Clone)]
pub struct EventLog {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    db: sled::Db,
    log: LogTree,
    jobs: RwLock<Option<mpsc::Sender<Job>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    committed_head: watch::Receiver<LogHead>,
    refusal_on_open: Option<String>,
    /// Largest tree size the stored Merkle tree is known to cover beyond the head: unlimited
    /// but for a log opened read-only, whose tree was not completed on open.
    merkle_tree_limit: u64,
    stats: Arc<WriterCounters>,
    health: Arc<HealthCell>,
    #[cfg(test)]
    injected_fault: Arc<Mutex<Option<crate::store::InjectedFault>>>,
}

impl EventLog {
    /// Opens (or creates) the log in `config.path`.
    ///
    /// Opening checks the tail of the log against its chain head entry; a log whose tail does
    /// not check out opens read-only (reads and verify work, appends are refused). It then
    /// builds the Merkle tree of any positions written without it (a log of an earlier
    /// version: O(n) reads and hashing, in atomic chunks, resumed if interrupted); a tree
    /// size entry past the log, or stored tree nodes that cannot be read, open the log
    /// read-only too.
    pub fn open(config: EventLogConfig) -> Result<EventLog, EventLogError> {
        let (db, tree) = store::open_tree(&config)?;
        let log = LogTree { tree };
        let tail = check_tail(&log)?;
        let mut refusal_on_open = tail.problem.clone();
        let stored_tree_size = match log.tree_size() {
            Ok(size) => size.unwrap_or(0),
            Err(error @ EventLogError::Corrupt { .. }) => {
                refusal_on_open.get_or_insert_with(|| error.to_string());
                0
            }
            Err(error) => return Err(error),
        };
        if refusal_on_open.is_none() && stored_tree_size > tail.last_stored.position {
            refusal_on_open = Some(format!(
                "the Merkle tree size entry says {stored_tree_size} but the last stored record is {}",
                tail.last_stored.position
            ));
        }
        // The Merkle tree covers the whole log before anything is served; a log opened
        // read-only keeps the tree it has (proofs past it are refused as unavailable).
        // A tree that cannot be read (a node entry of the wrong size, ...) was changed outside
        // the log: it opens read-only like a bad tail, and verify says where.
        let built = match refusal_on_open {
            None => tree::build_missing(&db, &log, tail.last_stored.position, tree::BUILD_CHUNK_LEAVES),
            Some(_) => Ok(Frontier::empty()),
        };
        let frontier = match built {
            Ok(frontier) => frontier,
            Err(error @ EventLogError::Corrupt { .. }) => {
                refusal_on_open = Some(format!("the Merkle tree does not check out: {error}"));
                Frontier::empty()
            }
            Err(error) => return Err(error),
        };
        let merkle_tree_limit = if refusal_on_open.is_none() {
            u64::MAX
        } else {
            stored_tree_size
        };
        if let Some(problem) = &refusal_on_open {
            tracing::error!(problem, path = %config.path.display(), "event log does not check out; opened read-only");
        }
        let (head_sender, committed_head) = watch::channel(tail.claimed_head);
        let stats = Arc::new(WriterCounters::default());
        let last_recorded_at_micros = match log.read_event(tail.last_stored.position) {
            Ok(Some(event)) => event.record.recorded_at,
            _ => 0,
        };
        let health = Arc::new(HealthCell::new());
        let writer = Writer {
            log: log.clone(),
            max_appends_per_commit: config.max_appends_per_commit.max(1),
            next_position: tail.last_stored.position + 1,
            prev_hash: tail.last_stored.hash,
            last_recorded_at_micros,
            refusal: refusal_on_open.clone(),
            health: health.clone(),
            stream_heads: Default::default(),
            frontier,
            merkle_scratch: Vec::new(),
        };
        let flusher = DurableFlusher::new(&config)?;
        #[cfg(test)]
        let injected_fault = flusher.injected_fault.clone();
        let acknowledger = Acknowledger {
            db: db.clone(),
            flusher,
            committed_head: head_sender,
            counters: stats.clone(),
            health: health.clone(),
        };
        let (job_sender, job_receiver) = mpsc::channel();
        let writer_thread = std::thread::Builder::new()
            .name("eventlog-writer".to_owned())
            .spawn(move || writer.run(job_receiver, acknowledger))
            .map_err(|error| EventLogError::storage("starting the writer thread", error))?;
        Ok(EventLog {
            shared: Arc::new(Shared {
                db,
                log,
                jobs: RwLock::new(Some(job_sender)),
                writer_thread: Mutex::new(Some(writer_thread)),
                committed_head,
                refusal_on_open,
                merkle_tree_limit,
                stats,
                health,
                #[cfg(test)]
                injected_fault,
            }),
        })
    }

    /// Appends events to one stream, all or nothing, and waits until they are durable.
    ///
    /// A request id seen before writes nothing and returns the original outcome with
    /// `duplicate = true`. An expected revision that does not hold fails with
    /// [`EventLogError::Conflict`] and writes nothing.
    ///
    /// When storage fails (docs/durability.md, "When storage fails"): an append whose durable
    /// flush failed gets [`EventLogError::OutcomeUnknown`] (a retry with the same request id
    /// settles it), and while the log is failing ([`EventLog::health`]) appends are refused
    /// at once with [`EventLogError::Unavailable`] and write nothing.
    pub async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, EventLogError> {
        let outcome = self.enqueue(request)?;
        outcome.await.map_err(|_| writer_stopped())?
    }

    /// [`EventLog::append`] for threads outside an async runtime (it panics inside one, as
    /// any blocking wait would stall the runtime).
    pub fn append_blocking(&self, request: AppendRequest) -> Result<AppendOutcome, EventLogError> {
        let outcome = self.enqueue(request)?;
        outcome.blocking_recv().map_err(|_| writer_stopped())?
    }

    /// Appends `events`, recorded by another node, verbatim, after verifying that they
    /// continue this log; returns the new head (the log's head when nothing was new). All or
    /// nothing; for replicas and restores, which store another node's log byte for byte.
    ///
    /// Each event, in order, must decode as an [`EventRecord`](crate::EventRecord) of at
    /// most the size an append can write, with ids valid as an append's ([`StreamId`],
    /// [`RequestId`], event type, actor id, a 16-byte event id, a payload of at most
    /// [`MAX_PAYLOAD_BYTES`](crate::MAX_PAYLOAD_BYTES)); be at the position after the
    /// previous one (the log's head for the first); carry the hash
    /// `chain_hash(previous hash, record_bytes)`; be its stream's next revision with
    /// `stream_prev_hash` the hash of the stream's previous event (zeros at revision 0);
    /// have a `recorded_at` not before the previous position's; and use a request id not
    /// seen before, unless it continues the previous position's (same request id, same
    /// stream: one append, split across imports). Later events are checked against the log
    /// including the earlier events of the same import.
    ///
    /// Events at positions the log already holds are accepted and skipped when they are
    /// byte for byte what is stored there, hash included: a resent import (say after
    /// [`EventLogError::OutcomeUnknown`], or a crash before its answer was seen) succeeds.
    ///
    /// The first event that fails refuses the whole import with
    /// [`EventLogError::ImportRefused`], naming the position the log expected that event at;
    /// nothing is written. What is written is exactly what an append of the same events
    /// writes (so [`EventLog::find_request`] finds imported appends, and appends on this log
    /// are idempotent against their request ids), in one atomic batch, durable before the
    /// head moves and subscribers see it. Imports and appends are serialized by the writer;
    /// storage faults are answered as for appends (`OutcomeUnknown`, `Unavailable`).
    /// At most [`MAX_EVENTS_PER_IMPORT`](crate::MAX_EVENTS_PER_IMPORT) events per call.
    pub async fn import(&self, events: Vec<ImportedEvent>) -> Result<LogHead, EventLogError> {
        let head = self.enqueue_import(events)?;
        head.await.map_err(|_| writer_stopped())?
    }

    /// [`EventLog::import`] for threads outside an async runtime (it panics inside one, as
    /// any blocking wait would stall the runtime).
    pub fn import_blocking(&self, events: Vec<ImportedEvent>) -> Result<LogHead, EventLogError> {
        let head = self.enqueue_import(events)?;
        head.blocking_recv().map_err(|_| writer_stopped())?
    }

    fn enqueue(
        &self,
        request: AppendRequest,
    ) -> Result<oneshot::Receiver<Result<AppendOutcome, EventLogError>>, EventLogError> {
        request.validate()?;
        let (reply, outcome) = oneshot::channel();
        self.send_job(Job::Append(AppendJob { request, reply }))?;
        Ok(outcome)
    }

    fn enqueue_import(
        &self,
        events: Vec<ImportedEvent>,
    ) -> Result<oneshot::Receiver<Result<LogHead, EventLogError>>, EventLogError> {
        import::validate(&events)?;
        let (reply, head) = oneshot::channel();
        self.send_job(Job::Import(ImportJob { events, reply }))?;
        Ok(head)
    }

    /// Queues a job to the writer, unless the log is closed or failing.
    fn send_job(&self, job: Job) -> Result<(), EventLogError> {
        let jobs = self.shared.jobs.read().map_err(|_| EventLogError::Closed {
            reason: "a thread panicked while holding the append queue".to_owned(),
        })?;
        let sender = jobs.as_ref().ok_or_else(|| EventLogError::Closed {
            reason: "the log was closed".to_owned(),
        })?;
        // Refused at once while failing; the planner checks again before planning.
        if let Some(reason) = self.shared.health.refusal() {
            return Err(EventLogError::Unavailable { reason });
        }
        sender.send(job).map_err(|_| writer_stopped())
    }

    /// The outcome of the durable append that used `request_id`, if there is one.
    ///
    /// An append that is applied but not durable (being committed, or answered
    /// [`EventLogError::OutcomeUnknown`] while a flush keeps failing) is not found here until
    /// a flush makes it durable.
    ///
    /// Callers that must decide before they append (such as a command handler whose rules
    /// would refuse a retried command) ask here first; the append itself stays idempotent
    /// for the race where a retry arrives while its original is being committed.
    pub fn find_request(&self, request_id: &RequestId) -> Result<Option<AppendOutcome>, EventLogError> {
        let Some((first_position, last_position)) = self.shared.log.request_positions(request_id.as_str())? else {
            return Ok(None);
        };
        if last_position > self.head().position {
            return Ok(None);
        }
        let last_event = self
            .shared
            .log
            .read_event(last_position)?
            .ok_or_else(|| EventLogError::Corrupt {
                position: last_position,
                reason: format!("request index of {request_id} points at a missing record"),
            })?;
        Ok(Some(AppendOutcome {
            stream_id: StreamId::try_from(last_event.record.stream_id)?,
            first_position,
            last_position,
            last_revision: last_event.record.revision,
            last_hash: last_event.hash,
            duplicate: true,
        }))
    }

    /// Counters of the writer since the log was opened.
    pub fn stats(&self) -> WriterStats {
        self.shared.stats.snapshot()
    }

    /// What the writer has done and where it stands, for metrics: its counters, histograms
    /// of the events per durable commit and of the flush durations, and whether it takes
    /// appends (and if not why). A few atomic loads and a lock or two: cheap enough for
    /// every scrape, and it never waits for the writer.
    pub fn writer_metrics(&self) -> WriterMetrics {
        let (group_commit_events, flush_nanos) = self.shared.stats.histograms();
        WriterMetrics {
            stats: self.shared.stats.snapshot(),
            group_commit_events,
            flush_nanos,
            state: self.writer_state(),
        }
    }

    fn writer_state(&self) -> WriterState {
        let closed = self.shared.jobs.read().map_or(true, |jobs| jobs.is_none());
        if closed {
            return WriterState::Stopped {
                reason: "the log was closed".to_owned(),
            };
        }
        let thread_ended = self
            .shared
            .writer_thread
            .lock()
            .map_or(true, |thread| thread.as_ref().is_none_or(JoinHandle::is_finished));
        if thread_ended {
            return WriterState::Stopped {
                reason: "the writer thread stopped".to_owned(),
            };
        }
        if let Some(reason) = &self.shared.refusal_on_open {
            return WriterState::ReadOnly { reason: reason.clone() };
        }
        match self.shared.health.current() {
            LogHealth::Healthy => WriterState::Running,
            LogHealth::Failing { reason, retrying, .. } => WriterState::Failing { reason, retrying },
        }
    }

    /// The last durable event (position 0 when the log is empty).
    pub fn head(&self) -> LogHead {
        *self.shared.committed_head.borrow()
    }

    /// A receiver of the durable head: it sees the head each time it moves (the same value
    /// [`EventLog::head`] returns), for a task that waits until the log reaches a position
    /// without polling.
    pub fn watch_head(&self) -> watch::Receiver<LogHead> {
        self.shared.committed_head.clone()
    }

    /// Whether the writer can make appends durable now: [`LogHealth::Failing`] (with the
    /// reason, since when, and whether it retries) while a storage fault lasts, during which
    /// appends are refused with [`EventLogError::Unavailable`]. A log opened read-only (see
    /// [`EventLog::refusal_on_open`]) is reported healthy: its storage works.
    pub fn health(&self) -> LogHealth {
        self.shared.health.current()
    }

    /// A receiver that sees every change of [`EventLog::health`]: the turn to failing,
    /// changes of the reason, and the recovery.
    pub fn watch_health(&self) -> watch::Receiver<LogHealth> {
        self.shared.health.subscribe()
    }

    /// Makes the next durable flushes fail with `fault` (until called with `None`).
    #[cfg(test)]
    pub(crate) fn inject_flush_fault(&self, fault: Option<crate::store::InjectedFault>) {
        if let Ok(mut injected) = self.shared.injected_fault.lock() {
            *injected = fault;
        }
    }

    /// Why appends are refused, if the log opened with an inconsistent tail.
    pub fn refusal_on_open(&self) -> Option<&str> {
        self.shared.refusal_on_open.as_deref()
    }

    /// The current revision of a stream, `None` if it does not exist.
    pub fn stream_revision(&self, stream_id: &StreamId) -> Result<Option<Revision>, EventLogError> {
        let head = self.head().position;
        let Some((revision, position)) = self.shared.log.stream_last(stream_id.as_str())? else {
            return Ok(None);
        };
        if position <= head {
            return Ok(Some(revision));
        }
        // The writer is committing this stream's newest events right now; walk back to the
        // newest durable one.
        let mut revision = revision;
        while revision > 0 {
            revision -= 1;
            if let Some(position) = self.shared.log.stream_position(stream_id.as_str(), revision)?
                && position <= head
            {
                return Ok(Some(revision));
            }
        }
        Ok(None)
    }

    /// Up to `max_count` events of one stream, from `from_revision` on, oldest first.
    pub fn read_stream(
        &self,
        stream_id: &StreamId,
        from_revision: Revision,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        let head = self.head().position;
        let mut events = Vec::new();
        let mut revision = from_revision;
        while events.len() < max_count {
            let Some(position) = self.shared.log.stream_position(stream_id.as_str(), revision)? else {
                break;
            };
            if position > head {
                break;
            }
            let event = self
                .shared
                .log
                .read_event(position)?
                .ok_or_else(|| EventLogError::Corrupt {
                    position,
                    reason: format!("stream index of {stream_id} revision {revision} points at a missing record"),
                })?;
            events.push(event);
            revision += 1;
        }
        Ok(events)
    }

    /// Up to `max_count` events from `from_position` on (1 if 0 is given), in position order.
    pub fn read_all(&self, from_position: Position, max_count: usize) -> Result<Vec<RecordedEvent>, EventLogError> {
        read_range(&self.shared.log, from_position.max(1), self.head().position, max_count)
    }

    /// The event at `position`, if it is durable.
    pub fn read_event(&self, position: Position) -> Result<Option<RecordedEvent>, EventLogError> {
        if position == 0 || position > self.head().position {
            return Ok(None);
        }
        self.shared.log.read_event(position)
    }

    /// Follows the log from `from_position` (1 if 0 is given): first the events already
    /// there, then each new one as it becomes durable, without gap or duplicate.
    pub fn subscribe(&self, from_position: Position) -> Subscription {
        Subscription::new(
            self.shared.log.clone(),
            self.shared.committed_head.clone(),
            from_position.max(1),
        )
    }

    /// Recomputes both hash chains and the Merkle tree nodes over
    /// `from_position..=to_position` (0 means the whole log) and reports the first position
    /// that does not check out (a tree node at the position whose event completed it).
    pub fn verify(&self, from_position: Position, to_position: Position) -> Result<VerifyReport, EventLogError> {
        verify::verify_range(&self.shared.log, self.head(), from_position, to_position)
    }

    /// The RFC 6962 Merkle tree hash of the log's first `tree_size` events (leaf `i` is the
    /// stored record bytes of position `i + 1`, see [`crate::merkle`]): [`merkle::EMPTY_ROOT`] for 0.
    /// O(log n) reads.
    ///
    /// `tree_size` above the durable head ([`EventLog::head`]) is
    /// [`EventLogError::InvalidInput`] with field `tree_size`.
    pub fn merkle_root(&self, tree_size: u64) -> Result<MerkleHash, EventLogError> {
        self.check_tree_size("tree_size", tree_size)?;
        merkle::root_with(tree_size, |level, index| self.shared.log.merkle_node(level, index))
    }

    /// The inclusion proof of leaf `leaf_index` (the event at position `leaf_index + 1`) in
    /// the tree of the first `tree_size` events, for [`merkle::verify_inclusion`]: the audit
    /// path of RFC 6962 §2.1.1, bottom up. O(log n) reads.
    ///
    /// [`EventLogError::InvalidInput`] with field `tree_size` when `tree_size` is above the
    /// durable head, with field `leaf_index` when `leaf_index >= tree_size` (so always for
    /// `tree_size` 0).
    pub fn inclusion_proof(&self, leaf_index: u64, tree_size: u64) -> Result<Vec<MerkleHash>, EventLogError> {
        self.check_tree_size("tree_size", tree_size)?;
        if leaf_index >= tree_size {
            return Err(EventLogError::invalid(
                "leaf_index",
                format!("{leaf_index} is not below the tree size {tree_size}"),
            ));
        }
        merkle::inclusion_proof_with(leaf_index, tree_size, |level, index| {
            self.shared.log.merkle_node(level, index)
        })
    }

    /// The consistency proof between the trees of the first `first_size` and the first
    /// `second_size` events, for [`merkle::verify_consistency`] (RFC 6962 §2.1.2); empty when
    /// `first_size` is 0 or equals `second_size`. O(log n) reads.
    ///
    /// [`EventLogError::InvalidInput`] with field `second_size` when `second_size` is above
    /// the durable head, with field `first_size` when `first_size > second_size`.
    pub fn consistency_proof(&self, first_size: u64, second_size: u64) -> Result<Vec<MerkleHash>, EventLogError> {
        self.check_tree_size("second_size", second_size)?;
        if first_size > second_size {
            return Err(EventLogError::invalid(
                "first_size",
                format!("{first_size} is above the second size {second_size}"),
            ));
        }
        merkle::consistency_proof_with(first_size, second_size, |level, index| {
            self.shared.log.merkle_node(level, index)
        })
    }

    fn check_tree_size(&self, field: &'static str, size: u64) -> Result<(), EventLogError> {
        let head = self.head().position;
        if size > head {
            return Err(EventLogError::invalid(
                field,
                format!("{size} is above the head position {head}"),
            ));
        }
        if size > self.shared.merkle_tree_limit {
            return Err(EventLogError::Unavailable {
                reason: format!(
                    "the log opened read-only with a Merkle tree of {} events only",
                    self.shared.merkle_tree_limit
                ),
            });
        }
        Ok(())
    }

    /// The checkpoint store of the projection called `name` (kept in the log's database, in
    /// a tree of its own).
    pub fn projection_store(&self, name: &str) -> Result<ProjectionStore, EventLogError> {
        let tree = self
            .shared
            .db
            .open_tree(PROJECTION_TREE_NAME)
            .map_err(|error| EventLogError::storage("opening the projection tree", error))?;
        ProjectionStore::new(self.shared.db.clone(), tree, name)
    }

    /// The last durable position whose `recorded_at` is at or before `instant_micros`
    /// (0 if none): where the log stood at that instant. `recorded_at` never decreases
    /// along positions, so this is a binary search.
    pub fn position_at(&self, instant_micros: i64) -> Result<Position, EventLogError> {
        let (mut low, mut high) = (0, self.head().position);
        while low < high {
            let middle = low + (high - low).div_ceil(2);
            let event = self
                .shared
                .log
                .read_event(middle)?
                .ok_or_else(|| EventLogError::Corrupt {
                    position: middle,
                    reason: "record missing".to_owned(),
                })?;
            if event.record.recorded_at <= instant_micros {
                low = middle;
            } else {
                high = middle - 1;
            }
        }
        Ok(low)
    }

    /// Bytes sled uses on disk for this log.
    pub fn size_on_disk(&self) -> Result<u64, EventLogError> {
        self.shared
            .db
            .size_on_disk()
            .map_err(|error| EventLogError::storage("measuring the size on disk", error))
    }

    /// Stops taking appends, lets the writer finish the queued ones, and waits for its final
    /// flush. Other clones of this handle see [`EventLogError::Closed`] on append afterwards.
    ///
    /// While a flush keeps failing, close makes one last try instead of waiting for the
    /// storage to recover; appends answered [`EventLogError::OutcomeUnknown`] may then be in
    /// the reopened log or not.
    pub fn close(&self) -> Result<(), EventLogError> {
        if let Ok(mut jobs) = self.shared.jobs.write() {
            jobs.take();
        }
        let writer_thread = self
            .shared
            .writer_thread
            .lock()
            .map_err(|_| EventLogError::Closed {
                reason: "a thread panicked while closing".to_owned(),
            })?
            .take();
        if let Some(writer_thread) = writer_thread {
            writer_thread.join().map_err(|_| EventLogError::Closed {
                reason: "the writer thread panicked".to_owned(),
            })?;
        }
        Ok(())
    }
}

fn writer_stopped() -> EventLogError {
    EventLogError::Closed {
        reason: "the writer thread stopped".to_owned(),
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Ok(mut jobs) = self.jobs.write() {
            jobs.take();
        }
        if let Ok(mut writer_thread) = self.writer_thread.lock()
            && let Some(writer_thread) = writer_thread.take()
        {
            let _ = writer_thread.join();
        }
    }
}

/// Stored events in `from..=min(to, from + max_count - 1)`, checked to be gapless.
pub(crate) fn read_range(
    log: &LogTree,
    from: Position,
    to: Position,
    max_count: usize,
) -> Result<Vec<RecordedEvent>, EventLogError> {
    if from > to || max_count == 0 {
        return Ok(Vec::new());
    }
    let last = to.min(from.saturating_add(max_count as u64 - 1));
    let mut prev_hash = log.stored_hash(from - 1)?;
    let mut events = Vec::with_capacity((last - from + 1) as usize);
    let mut expected_position = from;
    for entry in log.record_entries(from, last) {
        let (position, value) = entry?;
        if position != expected_position {
            return Err(EventLogError::Corrupt {
                position: expected_position,
                reason: "record missing".to_owned(),
            });
        }
        let event = LogTree::decode_entry(position, &value, prev_hash)?;
        prev_hash = event.hash;
        events.push(event);
        expected_position += 1;
    }
    if expected_position <= last {
        return Err(EventLogError::Corrupt {
            position: expected_position,
            reason: "record missing".to_owned(),
        });
    }
    Ok(events)
}

/// What opening found at the end of the log.
struct TailCheck {
    /// The head the chain head entry claims (or the last record, without an entry).
    claimed_head: LogHead,
    /// The last record actually stored, and its stored hash.
    last_stored: LogHead,
    problem: Option<String>,
}

/// Checks the newest record against the chain head entry and the indexes written with it.
///
/// Each commit writes records, indexes and head in one atomic sled batch, so after a crash
/// they agree; a disagreement means the files were changed outside the log.
fn check_tail(log: &LogTree) -> Result<TailCheck, EventLogError> {
    let last_position = log.last_record_position()?.unwrap_or(0);
    let last_stored = LogHead {
        position: last_position,
        hash: if last_position == 0 {
            ZERO_HASH
        } else {
            log.stored_hash(last_position)?
        },
    };
    let head_entry = log.head_entry()?;
    let claimed_head = match head_entry {
        Some((position, hash)) => LogHead { position, hash },
        None => last_stored,
    };
    let mut problem = None;
    if head_entry.is_some() && claimed_head != last_stored {
        problem = Some(format!(
            "chain head entry says position {} but the last stored record is {} (or its hash differs)",
            claimed_head.position, last_stored.position
        ));
    } else if head_entry.is_none() && last_position != 0 {
        problem = Some("records are stored but the chain head entry is missing".to_owned());
    } else if last_position != 0 {
        problem = check_last_record(log, last_position)?;
    }
    Ok(TailCheck {
        claimed_head,
        last_stored,
        problem,
    })
}

fn check_last_record(log: &LogTree, last_position: Position) -> Result<Option<String>, EventLogError> {
    let event = match log.read_event(last_position) {
        Ok(Some(event)) => event,
        Ok(None) => return Ok(Some(format!("record {last_position} vanished while opening"))),
        Err(error) => return Ok(Some(error.to_string())),
    };
    if chain_hash(&event.prev_hash, &event.record_bytes) != event.hash {
        return Ok(Some(format!("record {last_position} does not match its chain hash")));
    }
    if log.stream_position(&event.record.stream_id, event.record.revision)? != Some(last_position) {
        return Ok(Some(format!("stream index entry of record {last_position} is missing")));
    }
    match log.request_positions(&event.record.request_id)? {
        Some((first, last)) if first <= last_position && last_position <= last => Ok(None),
        _ => Ok(Some(format!(
            "request index entry of record {last_position} is missing"
        ))),
    }
}
