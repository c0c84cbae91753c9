//! The writer: group commit of concurrent appends — one atomic sled batch per group, applied while the previous group is flushed.
//!
//! When storage fails the writer does not stop (docs/durability.md, "When storage fails"):
//!
//! 1. A durable flush fails. The acknowledger marks the log [`LogHealth::Failing`] first,
//!    then answers every append of the groups that flush had to cover, and of every group
//!    applied after them, with [`EventLogError::OutcomeUnknown`] (their batches are in
//!    sled but not known to be on disk); appends that wrote nothing keep their answer
//!    (a conflict stays a conflict), and a retry whose original is already durable keeps
//!    its duplicate outcome. The head does not move.
//! 2. While the log is failing, the planner refuses every append before planning it with
//!    [`EventLogError::Unavailable`], so nothing more is applied.
//! 3. If the failure is retryable ([`FlushFailure::retryable`]) the acknowledger flushes
//!    again after 10 ms, 20 ms, ... up to 1 s between tries. The first flush that succeeds
//!    covers every batch applied so far: the head moves over all of them (the appends that
//!    were answered `OutcomeUnknown` are durable and visible from then on, and a retry with
//!    their request id returns them as duplicates), then the log turns healthy again.
//! 4. A failure that is not retryable (an `fsync` that failed, or applying a batch to sled
//!    that failed) leaves the log failing for good: appends are refused until it is
//!    reopened, and nothing is flushed or published any more.
//!
//! The failure and the recovery are logged once each, not once per retry.
//!
//! An import ([`crate::EventLog::import`], planned in `import.rs`) is a job like an append:
//! it is planned in a group of its own, between the groups of appends queued before and
//! after it, applied as one batch, flushed (its flush may be shared with the groups next to
//! it) and answered the same way.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message;
use tokio::sync::{oneshot, watch};

use crate::error::EventLogError;
use crate::health::{HealthCell, LogHealth, Transition};
use crate::import::ImportJob;
use crate::layout;
use crate::record::{EventRecord, chain_hash};
use crate::store::{DurableFlusher, FlushFailure, LogTree};
use crate::tree::Frontier;
use crate::types::{AppendOutcome, AppendRequest, ChainHash, LogHead, Position, Revision, StreamId, ZERO_HASH};
use crate::writer_metrics::{AtomicHistogram, FLUSH_NANOS_BOUNDS, GROUP_COMMIT_EVENTS_BOUNDS, HistogramSnapshot};

pub(crate) type AppendReply = oneshot::Sender<Result<AppendOutcome, EventLogError>>;
pub(crate) type ImportReply = oneshot::Sender<Result<LogHead, EventLogError>>;

/// One job for the writer, in the order it was queued.
#[derive(Debug)]
pub(crate) enum Job {
    Append(AppendJob),
    Import(ImportJob),
}

/// One append waiting for the writer.
#[derive(Debug)]
pub(crate) struct AppendJob {
    pub(crate) request: AppendRequest,
    pub(crate) reply: AppendReply,
}

/// The planning half of the writer, on its own thread: takes queued appends in groups,
/// checks them, assigns positions and hashes, and applies each group to sled as one atomic
/// batch. It then hands the group to the [`Acknowledger`] and goes on planning the next
/// group while that one is being flushed, so a flush is always in progress under load.
#[derive(Debug)]
pub(crate) struct Writer {
    pub(crate) log: LogTree,
    pub(crate) max_appends_per_commit: usize,
    /// Position the next event will get.
    pub(crate) next_position: Position,
    /// Hash of position `next_position - 1`.
    pub(crate) prev_hash: ChainHash,
    /// recorded_at of the last group; recorded_at never decreases.
    pub(crate) last_recorded_at_micros: i64,
    /// Set when the log opened read-only because its tail did not check out; appends are
    /// refused with [`EventLogError::Closed`].
    pub(crate) refusal: Option<String>,
    /// Failing while a storage fault lasts; appends are then refused with
    /// [`EventLogError::Unavailable`].
    pub(crate) health: Arc<HealthCell>,
    /// (revision, hash) of the last event of recently written streams, as applied to sled,
    /// so that planning an append to a stream it knows reads nothing from sled. Updated with
    /// every batch of appends applied, emptied by every import, and emptied when it reaches
    /// [`STREAM_HEAD_CACHE_ENTRIES`].
    pub(crate) stream_heads: HashMap<StreamId, (Revision, ChainHash)>,
    /// The right frontier of the Merkle tree as applied to sled (size `next_position - 1`):
    /// each planned event's leaf is pushed onto it and the nodes it completes go into the
    /// same batch as its record (`tree.rs`).
    pub(crate) frontier: Frontier,
    /// Reused buffer for the Merkle nodes one event completes.
    pub(crate) merkle_scratch: Vec<u8>,
}

/// Most streams the writer's cache of stream heads holds.
pub(crate) const STREAM_HEAD_CACHE_ENTRIES: usize = 65_536;

/// The durable half of the writer, on its own thread: flushes once for every group (or run
/// of groups) the planner applied, then publishes the new head and acknowledges the appends.
#[derive(Debug)]
pub(crate) struct Acknowledger {
    pub(crate) db: sled::Db,
    pub(crate) flusher: DurableFlusher,
    /// Published after every durable flush; readers never look past it.
    pub(crate) committed_head: watch::Sender<LogHead>,
    pub(crate) counters: Arc<WriterCounters>,
    pub(crate) health: Arc<HealthCell>,
}

/// The answer to one job, sent once the flush covering its group is done.
pub(crate) enum Answer {
    Append(AppendReply, Result<AppendOutcome, EventLogError>),
    Import(ImportReply, Result<LogHead, EventLogError>),
}

impl Answer {
    fn send(self) {
        match self {
            Answer::Append(reply, result) => {
                let _ = reply.send(result);
            }
            Answer::Import(reply, result) => {
                let _ = reply.send(result);
            }
        }
    }

    /// Answers `error` instead, whatever the job's result was.
    fn send_error(self, error: EventLogError) {
        match self {
            Answer::Append(reply, _) => {
                let _ = reply.send(Err(error));
            }
            Answer::Import(reply, _) => {
                let _ = reply.send(Err(error));
            }
        }
    }

    /// Answers after a failed flush: a success that rests on events not yet durable (up to
    /// position `durable`) becomes [`EventLogError::OutcomeUnknown`]; refusals stand.
    fn send_unless_unflushed(self, durable: Position, reason: &str) {
        match self {
            Answer::Append(reply, result) => {
                let _ = reply.send(match result {
                    Ok(outcome) if outcome.last_position <= durable => Ok(outcome),
                    Ok(_) => Err(outcome_unknown(reason)),
                    Err(error) => Err(error),
                });
            }
            Answer::Import(reply, result) => {
                let _ = reply.send(match result {
                    Ok(head) if head.position <= durable => Ok(head),
                    Ok(_) => Err(outcome_unknown(reason)),
                    Err(error) => Err(error),
                });
            }
        }
    }
}

/// A group applied to sled, waiting for the flush that makes it durable.
pub(crate) struct AppliedGroup {
    pub(crate) answers: Vec<Answer>,
    /// The head after this group, when it wrote events.
    pub(crate) head_after: Option<LogHead>,
    pub(crate) appends_written: u64,
    pub(crate) events_written: u64,
}

/// Groups the planner may run ahead of the flush.
const APPLIED_GROUPS_IN_FLIGHT: usize = 2;

/// The wait before the first retry of a failed flush; it doubles up to [`LAST_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(10);
const LAST_RETRY_DELAY: Duration = Duration::from_secs(1);

/// Counters the writer keeps for operators and tests (relaxed atomics: a few per flush).
#[derive(Debug)]
pub(crate) struct WriterCounters {
    flushes: AtomicU64,
    failed_flushes: AtomicU64,
    appends: AtomicU64,
    events: AtomicU64,
    /// Events made durable by each durable commit that made any.
    group_commit_events: AtomicHistogram,
    /// Nanoseconds each durable flush took, failed ones included.
    flush_nanos: AtomicHistogram,
}

impl Default for WriterCounters {
    fn default() -> Self {
        WriterCounters {
            flushes: AtomicU64::new(0),
            failed_flushes: AtomicU64::new(0),
            appends: AtomicU64::new(0),
            events: AtomicU64::new(0),
            group_commit_events: AtomicHistogram::new(GROUP_COMMIT_EVENTS_BOUNDS),
            flush_nanos: AtomicHistogram::new(FLUSH_NANOS_BOUNDS),
        }
    }
}

impl WriterCounters {
    /// The histograms of [`crate::WriterMetrics`]: events per durable commit, flush nanoseconds.
    pub(crate) fn histograms(&self) -> (HistogramSnapshot, HistogramSnapshot) {
        (self.group_commit_events.snapshot(), self.flush_nanos.snapshot())
    }

    /// A durable commit made `events` durable.
    fn committed(&self, appends: u64, events: u64) {
        self.flushes.fetch_add(1, Ordering::Relaxed);
        self.appends.fetch_add(appends, Ordering::Relaxed);
        self.events.fetch_add(events, Ordering::Relaxed);
        if events > 0 {
            self.group_commit_events.observe(events);
        }
    }

    pub(crate) fn snapshot(&self) -> WriterStats {
        WriterStats {
            durable_commits: self.flushes.load(Ordering::Relaxed),
            failed_flushes: self.failed_flushes.load(Ordering::Relaxed),
            appends_written: self.appends.load(Ordering::Relaxed),
            events_written: self.events.load(Ordering::Relaxed),
        }
    }
}

/// What the writer has done since the log was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterStats {
    /// Durable flushes, each acknowledging every append applied before it.
    pub durable_commits: u64,
    /// Durable flushes that failed, retries included (see [`crate::EventLog::health`]).
    pub failed_flushes: u64,
    /// Appends that wrote events (retries of a seen request id and refusals not counted).
    pub appends_written: u64,
    /// Events written, by appends and by imports ([`crate::EventLog::import`]).
    pub events_written: u64,
}

/// What became of one job while a group was being planned.
enum Planned {
    Written(AppendOutcome),
    /// Same request id as an earlier, successful job of this group.
    DuplicateOfEarlierJob(usize),
    Failed(EventLogError),
}

/// Why the writer refuses jobs before planning them.
pub(crate) enum Refusal {
    /// The log opened read-only because its tail did not check out.
    Closed(String),
    /// The log is failing: nothing reaches sled until it is healthy again.
    Unavailable(String),
}

impl Refusal {
    pub(crate) fn error(&self) -> EventLogError {
        match self {
            Refusal::Closed(reason) => closed(reason),
            Refusal::Unavailable(reason) => unavailable(reason),
        }
    }
}

/// The stream heads as they will be after the batch being built.
#[derive(Default)]
struct PendingStreamHeads {
    heads: HashMap<StreamId, (Revision, ChainHash)>,
}

fn now_micros() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since_epoch) => i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

fn closed(reason: &str) -> EventLogError {
    EventLogError::Closed {
        reason: reason.to_owned(),
    }
}

fn unavailable(reason: &str) -> EventLogError {
    EventLogError::Unavailable {
        reason: reason.to_owned(),
    }
}

pub(crate) fn outcome_unknown(reason: &str) -> EventLogError {
    EventLogError::OutcomeUnknown {
        reason: reason.to_owned(),
    }
}

impl Writer {
    /// Plans groups until every sender of `jobs` is gone, then waits for the acknowledger to
    /// flush and acknowledge the last of them.
    pub(crate) fn run(mut self, jobs: mpsc::Receiver<Job>, acknowledger: Acknowledger) {
        let (applied_sender, applied_receiver) = mpsc::sync_channel(APPLIED_GROUPS_IN_FLIGHT);
        let acknowledger_thread = std::thread::Builder::new()
            .name("eventlog-flush".to_owned())
            .spawn(move || acknowledger.run(applied_receiver));
        let acknowledger_thread = match acknowledger_thread {
            Ok(thread) => thread,
            Err(error) => {
                tracing::error!(%error, "cannot start the event log's flush thread");
                while let Ok(job) = jobs.recv() {
                    let error = closed("the flush thread could not start");
                    match job {
                        Job::Append(job) => {
                            let _ = job.reply.send(Err(error));
                        }
                        Job::Import(job) => {
                            let _ = job.reply.send(Err(error));
                        }
                    }
                }
                return;
            }
        };
        // An import queued behind appends taken into a group: it is planned next, alone.
        let mut next_import: Option<ImportJob> = None;
        loop {
            let first_job = match next_import.take() {
                Some(import) => Job::Import(import),
                None => match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => break,
                },
            };
            let applied = match first_job {
                Job::Import(import) => self.apply_import(import),
                Job::Append(first_append) => {
                    let mut group = vec![first_append];
                    while group.len() < self.max_appends_per_commit {
                        match jobs.try_recv() {
                            Ok(Job::Append(job)) => group.push(job),
                            Ok(Job::Import(import)) => {
                                next_import = Some(import);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.apply_group(group)
                }
            };
            if let Some(applied) = applied
                && let Err(mpsc::SendError(applied)) = applied_sender.send(applied)
            {
                for answer in applied.answers {
                    answer.send_error(closed("the flush thread stopped"));
                }
            }
        }
        drop(applied_sender);
        if acknowledger_thread.join().is_err() {
            tracing::error!("the event log's flush thread panicked");
        }
    }

    /// Plans one group and applies it to sled; `None` when every job was answered already.
    fn apply_group(&mut self, mut group: Vec<AppendJob>) -> Option<AppliedGroup> {
        if let Some(refusal) = self.refusal_before_planning() {
            for job in group {
                let _ = job.reply.send(Err(refusal.error()));
            }
            return None;
        }

        let first_position_of_group = self.next_position;
        let prev_hash_of_group = self.prev_hash;
        let frontier_of_group = self.frontier;
        let recorded_at_micros = now_micros().max(self.last_recorded_at_micros);

        let mut batch = sled::Batch::default();
        let mut pending_streams = PendingStreamHeads::default();
        let mut written_request_ids: HashMap<String, usize> = HashMap::new();
        let mut planned: Vec<Planned> = Vec::with_capacity(group.len());

        for (job_index, job) in group.iter_mut().enumerate() {
            let request = &mut job.request;
            if let Some(&earlier) = written_request_ids.get(request.request_id.as_str()) {
                planned.push(Planned::DuplicateOfEarlierJob(earlier));
                continue;
            }
            let outcome = self.plan_append(request, recorded_at_micros, &mut batch, &mut pending_streams);
            if let Ok(AppendOutcome { duplicate: false, .. }) = &outcome {
                written_request_ids.insert(request.request_id.as_str().to_owned(), job_index);
            }
            planned.push(match outcome {
                Ok(outcome) => Planned::Written(outcome),
                Err(error) => Planned::Failed(error),
            });
        }

        let events_written = self.next_position - first_position_of_group;
        let mut head_after = None;
        if events_written > 0 {
            let head = LogHead {
                position: self.next_position - 1,
                hash: self.prev_hash,
            };
            if let Err(reason) = self.apply_batch(batch, head) {
                self.next_position = first_position_of_group;
                self.prev_hash = prev_hash_of_group;
                self.frontier = frontier_of_group;
                for (job, plan) in group.into_iter().zip(planned) {
                    let answer = match plan {
                        Planned::Failed(error) => error,
                        Planned::Written(_) | Planned::DuplicateOfEarlierJob(_) => outcome_unknown(&reason),
                    };
                    let _ = job.reply.send(Err(answer));
                }
                return None;
            }
            self.last_recorded_at_micros = recorded_at_micros;
            head_after = Some(head);
            self.remember_stream_heads(pending_streams);
        }

        // Retries and refusals are answered after the flush too: a retry may point at an
        // append that is applied but not yet durable.
        let mut resolved: Vec<Result<AppendOutcome, EventLogError>> = Vec::with_capacity(planned.len());
        for plan in planned {
            let result = match plan {
                Planned::Written(outcome) => Ok(outcome),
                Planned::Failed(error) => Err(error),
                Planned::DuplicateOfEarlierJob(earlier) => match &resolved[earlier] {
                    Ok(original) => Ok(AppendOutcome {
                        duplicate: true,
                        ..original.clone()
                    }),
                    Err(_) => Err(closed("the original append of this request id failed")),
                },
            };
            resolved.push(result);
        }
        Some(AppliedGroup {
            answers: group
                .into_iter()
                .zip(resolved)
                .map(|(job, result)| Answer::Append(job.reply, result))
                .collect(),
            head_after,
            appends_written: written_request_ids.len() as u64,
            events_written,
        })
    }

    /// Keeps the stream heads of a batch that was applied to sled.
    fn remember_stream_heads(&mut self, applied: PendingStreamHeads) {
        if self.stream_heads.len() + applied.heads.len() > STREAM_HEAD_CACHE_ENTRIES {
            self.stream_heads.clear();
        }
        self.stream_heads.extend(applied.heads);
    }

    /// Why a job must be refused before it is planned, if it must.
    pub(crate) fn refusal_before_planning(&self) -> Option<Refusal> {
        if let Some(reason) = &self.refusal {
            return Some(Refusal::Closed(reason.clone()));
        }
        self.health.refusal().map(Refusal::Unavailable)
    }

    /// Applies a planned batch, with the chain head entry `head` and the Merkle tree size
    /// entry (the tree covers exactly the log), to sled. When that fails, sled may hold part
    /// of the batch in memory: nothing more may be planned on top of it, so the log fails for
    /// good until it is reopened; the reason is returned.
    pub(crate) fn apply_batch(&self, mut batch: sled::Batch, head: LogHead) -> Result<(), String> {
        batch.insert(layout::HEAD_KEY, &layout::head_value(head.position, &head.hash)[..]);
        batch.insert(layout::TREE_SIZE_KEY, &layout::tree_size_value(head.position)[..]);
        self.log.tree.apply_batch(batch).map_err(|error| {
            let reason =
                format!("applying a batch to sled failed ({error}); the log must be reopened (restart the process)");
            if self.health.fail(&reason, false) != Transition::None {
                tracing::error!(%error, "event log batch failed; refusing appends until the log is reopened");
            }
            reason
        })
    }

    /// Checks one append against the log and the group so far, and adds its entries to `batch`.
    /// The payloads of an append that is written are moved into its records (the request is
    /// not read again after planning but for its ids).
    fn plan_append(
        &mut self,
        request: &mut AppendRequest,
        recorded_at_micros: i64,
        batch: &mut sled::Batch,
        pending_streams: &mut PendingStreamHeads,
    ) -> Result<AppendOutcome, EventLogError> {
        if let Some((first_position, last_position)) = self.log.request_positions(request.request_id.as_str())? {
            return self.outcome_of_earlier_append(request, first_position, last_position);
        }

        let current = match pending_streams
            .heads
            .get(&request.stream_id)
            .or_else(|| self.stream_heads.get(&request.stream_id))
        {
            Some(&(revision, hash)) => Some((revision, hash)),
            None => match self.log.stream_last(request.stream_id.as_str())? {
                Some((revision, position)) => Some((revision, self.log.stored_hash(position)?)),
                None => None,
            },
        };
        let current_revision = current.map(|(revision, _)| revision);
        if !request.expected_revision.admits(current_revision) {
            return Err(EventLogError::Conflict {
                stream_id: request.stream_id.to_string(),
                expected: request.expected_revision,
                current_revision,
            });
        }

        let first_position = self.next_position;
        let (mut next_revision, mut stream_prev_hash) = match current {
            Some((revision, hash)) => (revision + 1, hash),
            None => (0, ZERO_HASH),
        };
        for event in &mut request.events {
            let position = self.next_position;
            let record = EventRecord {
                position,
                stream_id: request.stream_id.as_str().to_owned(),
                revision: next_revision,
                event_id: uuid::Uuid::now_v7().as_bytes().to_vec(),
                event_type: std::mem::take(&mut event.event_type),
                recorded_at: recorded_at_micros,
                occurred_at: event.occurred_at_micros,
                actor_id: request.actor_id.clone(),
                request_id: request.request_id.as_str().to_owned(),
                stream_prev_hash: stream_prev_hash.to_vec(),
                event: std::mem::take(&mut event.payload),
            };
            // The stored value (hash, then record bytes) is encoded in place, without a
            // second copy of the record.
            let mut value = layout::record_value_with_room_for_hash(record.encoded_len());
            record.encode_raw(&mut value);
            let hash = chain_hash(&self.prev_hash, layout::record_bytes_of_value(&value));
            layout::set_hash_of_value(&mut value, &hash);
            self.frontier
                .push_record(layout::record_bytes_of_value(&value), &mut self.merkle_scratch, batch);
            batch.insert(&layout::record_key(position)[..], value);
            batch.insert(
                layout::stream_index_key(request.stream_id.as_str(), next_revision),
                &position.to_be_bytes()[..],
            );
            self.prev_hash = hash;
            self.next_position += 1;
            stream_prev_hash = hash;
            next_revision += 1;
        }
        let last_position = self.next_position - 1;
        let last_revision = next_revision - 1;
        batch.insert(
            layout::request_index_key(request.request_id.as_str()),
            &layout::request_index_value(first_position, last_position)[..],
        );
        pending_streams
            .heads
            .insert(request.stream_id.clone(), (last_revision, self.prev_hash));
        Ok(AppendOutcome {
            stream_id: request.stream_id.clone(),
            first_position,
            last_position,
            last_revision,
            last_hash: self.prev_hash,
            duplicate: false,
        })
    }

    /// The outcome of a committed append whose request id is being retried.
    fn outcome_of_earlier_append(
        &self,
        request: &AppendRequest,
        first_position: Position,
        last_position: Position,
    ) -> Result<AppendOutcome, EventLogError> {
        let last_event = self
            .log
            .read_event(last_position)?
            .ok_or_else(|| EventLogError::Corrupt {
                position: last_position,
                reason: format!("request index of {} points at a missing record", request.request_id),
            })?;
        if last_event.record.stream_id != request.stream_id.as_str() {
            return Err(EventLogError::RequestIdReused {
                request_id: request.request_id.to_string(),
                original_stream_id: last_event.record.stream_id,
            });
        }
        Ok(AppendOutcome {
            stream_id: request.stream_id.clone(),
            first_position,
            last_position,
            last_revision: last_event.record.revision,
            last_hash: last_event.hash,
            duplicate: true,
        })
    }
}

/// What groups answered [`EventLogError::OutcomeUnknown`] wrote, waiting for a flush to
/// succeed and make it durable.
#[derive(Default)]
struct Unflushed {
    head: Option<LogHead>,
    appends: u64,
    events: u64,
}

impl Acknowledger {
    /// Flushes and acknowledges applied groups until the planner is gone.
    fn run(mut self, applied: mpsc::Receiver<AppliedGroup>) {
        while let Ok(first_group) = applied.recv() {
            let mut groups = vec![first_group];
            while let Ok(group) = applied.try_recv() {
                groups.push(group);
            }
            match self.timed_flush() {
                Ok(()) => self.acknowledge(groups),
                Err(failure) => self.ride_out(failure, groups, &applied),
            }
        }
    }

    /// One durable flush, its duration observed.
    fn timed_flush(&mut self) -> Result<(), FlushFailure> {
        let started = Instant::now();
        let flushed = self.flusher.flush(&self.db);
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.counters.flush_nanos.observe(nanos);
        flushed
    }

    /// After a successful flush: publishes the head over `groups` and answers their appends.
    fn acknowledge(&mut self, groups: Vec<AppliedGroup>) {
        let appends = groups.iter().map(|group| group.appends_written).sum();
        let events = groups.iter().map(|group| group.events_written).sum();
        self.counters.committed(appends, events);
        if let Some(head) = groups.iter().rev().find_map(|group| group.head_after) {
            self.committed_head.send_replace(head);
        }
        for group in groups {
            for answer in group.answers {
                answer.send();
            }
        }
    }

    /// After a failed flush: marks the log failing, answers the appends of `groups` and of
    /// every group applied after them, and retries the flush with a growing delay until one
    /// succeeds (then the head moves over all of them and the log is healthy again), the
    /// failure turns out not to be retryable, or the planner is gone.
    fn ride_out(&mut self, failure: FlushFailure, groups: Vec<AppliedGroup>, applied: &mpsc::Receiver<AppliedGroup>) {
        self.counters.failed_flushes.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let mut reason = self.mark_failing(&failure);
        let mut retryable = failure.retryable;
        let mut unflushed = Unflushed::default();
        for group in groups {
            self.answer_unknown(group, &reason, &mut unflushed);
        }
        let mut delay = FIRST_RETRY_DELAY;
        let mut retry_at = Instant::now() + delay;
        let mut retries: u64 = 0;
        loop {
            if !retryable {
                // Nothing will be flushed again: answer what the planner had in flight
                // until it is gone (it refuses everything else before planning).
                while let Ok(group) = applied.recv() {
                    self.answer_unknown(group, &reason, &mut unflushed);
                }
                if let Some(head) = unflushed.head {
                    tracing::error!(
                        unflushed_up_to = head.position,
                        "the event log stops with appends whose outcome is unknown; a reopened log may or may not hold them"
                    );
                }
                return;
            }
            let planner_gone = match applied.recv_timeout(retry_at.saturating_duration_since(Instant::now())) {
                Ok(group) => {
                    self.answer_unknown(group, &reason, &mut unflushed);
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => false,
                // The log is being closed: one last try now, instead of retrying forever.
                Err(mpsc::RecvTimeoutError::Disconnected) => true,
            };
            retries += 1;
            match self.timed_flush() {
                Ok(()) => {
                    self.counters.committed(unflushed.appends, unflushed.events);
                    // The head first: whoever sees the log healthy finds the appends that
                    // were answered OutcomeUnknown durable already.
                    if let Some(head) = unflushed.head {
                        self.committed_head.send_replace(head);
                    }
                    if self.health.recover() {
                        tracing::info!(
                            retries,
                            failing_for = ?started.elapsed(),
                            head = self.committed_head.borrow().position,
                            "event log flush succeeded again; appends are accepted again"
                        );
                    }
                    return;
                }
                Err(next_failure) => {
                    self.counters.failed_flushes.fetch_add(1, Ordering::Relaxed);
                    reason = self.mark_failing(&next_failure);
                    retryable = next_failure.retryable;
                    if planner_gone {
                        if let Some(head) = unflushed.head {
                            tracing::error!(
                                %next_failure.error,
                                unflushed_up_to = head.position,
                                "the event log closes with appends whose outcome is unknown; a reopened log may or may not hold them"
                            );
                        }
                        return;
                    }
                    tracing::debug!(%next_failure.error, retries, "event log flush failed again");
                    delay = (delay * 2).min(LAST_RETRY_DELAY);
                    retry_at = Instant::now() + delay;
                }
            }
        }
    }

    /// Publishes the failure (logging it once) and returns the reason appends are given.
    fn mark_failing(&self, failure: &FlushFailure) -> String {
        let error = &failure.error;
        let reason = if failure.retryable {
            format!("a durable flush failed: {error}")
        } else {
            format!(
                "a durable flush failed: {error}; the log must be reopened (restart the process): \
                 after a failed fsync a later one cannot prove the data reached the disk"
            )
        };
        match self.health.fail(&reason, failure.retryable) {
            Transition::StartedFailing if failure.retryable => {
                tracing::error!(%error, "event log flush failed; refusing appends and retrying the flush");
            }
            Transition::StartedFailing | Transition::StoppedRetrying => {
                tracing::error!(%error, "event log flush failed; refusing appends until the log is reopened");
            }
            Transition::None => {}
        }
        // A failure for good of the planner's stays what health says; give that reason.
        match self.health.current() {
            LogHealth::Failing { reason, .. } => reason,
            LogHealth::Healthy => reason,
        }
    }

    /// Answers the appends of a group whose flush failed: what wrote events (or returns
    /// events not yet durable) is unknown; refusals and retries of durable appends stand.
    fn answer_unknown(&self, group: AppliedGroup, reason: &str, unflushed: &mut Unflushed) {
        let durable = self.committed_head.borrow().position;
        if group.head_after.is_some() {
            unflushed.head = group.head_after;
        }
        unflushed.appends += group.appends_written;
        unflushed.events += group.events_written;
        for answer in group.answers {
            answer.send_unless_unflushed(durable, reason);
        }
    }
}
