//! The single writer thread: group commit of concurrent appends, one sled batch and one durable flush per group.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;
use tokio::sync::{oneshot, watch};

use crate::error::EventLogError;
use crate::layout;
use crate::record::{EventRecord, chain_hash};
use crate::store::{DurableFlusher, LogTree};
use crate::types::{AppendOutcome, AppendRequest, ChainHash, LogHead, Position, Revision, StreamId, ZERO_HASH};

pub(crate) type AppendReply = oneshot::Sender<Result<AppendOutcome, EventLogError>>;

/// One append waiting for the writer.
#[derive(Debug)]
pub(crate) struct AppendJob {
    pub(crate) request: AppendRequest,
    pub(crate) reply: AppendReply,
}

/// State owned by the writer thread alone.
#[derive(Debug)]
pub(crate) struct Writer {
    pub(crate) db: sled::Db,
    pub(crate) log: LogTree,
    pub(crate) flusher: DurableFlusher,
    pub(crate) max_appends_per_commit: usize,
    /// Position the next event will get.
    pub(crate) next_position: Position,
    /// Hash of position `next_position - 1`.
    pub(crate) prev_hash: ChainHash,
    /// recorded_at of the last commit; recorded_at never decreases.
    pub(crate) last_recorded_at_micros: i64,
    /// Published after every durable commit; readers never look past it.
    pub(crate) committed_head: watch::Sender<LogHead>,
    /// Set when the log must not be extended: the tail did not check out on open, or a
    /// storage failure left sled's state ahead of what is known to be on disk.
    pub(crate) refusal: Option<String>,
    pub(crate) counters: Arc<WriterCounters>,
}

/// Counters the writer keeps for operators and tests.
#[derive(Debug, Default)]
pub(crate) struct WriterCounters {
    commits: AtomicU64,
    appends: AtomicU64,
    events: AtomicU64,
}

impl WriterCounters {
    pub(crate) fn snapshot(&self) -> WriterStats {
        WriterStats {
            durable_commits: self.commits.load(Ordering::Relaxed),
            appends_written: self.appends.load(Ordering::Relaxed),
            events_written: self.events.load(Ordering::Relaxed),
        }
    }
}

/// What the writer has done since the log was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterStats {
    /// Group commits: one sled batch and one durable flush each.
    pub durable_commits: u64,
    /// Appends that wrote events (retries of a seen request id and refusals not counted).
    pub appends_written: u64,
    pub events_written: u64,
}

/// What became of one job while a group was being planned.
enum Planned {
    Written(AppendOutcome),
    /// Same request id as an earlier, successful job of this group.
    DuplicateOfEarlierJob(usize),
    Failed(EventLogError),
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

impl Writer {
    /// Runs until every sender of `jobs` is gone.
    pub(crate) fn run(mut self, jobs: mpsc::Receiver<AppendJob>) {
        while let Ok(first_job) = jobs.recv() {
            let mut group = vec![first_job];
            while group.len() < self.max_appends_per_commit {
                match jobs.try_recv() {
                    Ok(job) => group.push(job),
                    Err(_) => break,
                }
            }
            self.commit_group(group);
        }
        if self.refusal.is_none()
            && let Err(error) = self.flusher.flush(&self.db)
        {
            tracing::error!(%error, "final flush of the event log failed");
        }
    }

    fn commit_group(&mut self, group: Vec<AppendJob>) {
        if let Some(reason) = &self.refusal {
            for job in group {
                let _ = job.reply.send(Err(EventLogError::Closed { reason: reason.clone() }));
            }
            return;
        }

        let first_position_of_group = self.next_position;
        let prev_hash_of_group = self.prev_hash;
        let recorded_at_micros = now_micros().max(self.last_recorded_at_micros);

        let mut batch = sled::Batch::default();
        let mut pending_streams = PendingStreamHeads::default();
        let mut written_request_ids: HashMap<String, usize> = HashMap::new();
        let mut planned: Vec<Planned> = Vec::with_capacity(group.len());

        for (job_index, job) in group.iter().enumerate() {
            let request = &job.request;
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

        let wrote_events = self.next_position != first_position_of_group;
        if wrote_events {
            let head_position = self.next_position - 1;
            batch.insert(
                layout::HEAD_KEY,
                &layout::head_value(head_position, &self.prev_hash)[..],
            );
            let committed = self
                .log
                .tree
                .apply_batch(batch)
                .map_err(|error| EventLogError::storage("applying an append batch", error))
                .and_then(|()| self.flusher.flush(&self.db));
            if let Err(error) = committed {
                let reason = format!("a commit failed and the writer stopped: {error}");
                tracing::error!(%error, "event log commit failed; refusing further appends");
                self.refusal = Some(reason.clone());
                self.next_position = first_position_of_group;
                self.prev_hash = prev_hash_of_group;
                for job in group {
                    let _ = job.reply.send(Err(EventLogError::Closed { reason: reason.clone() }));
                }
                return;
            }
            self.last_recorded_at_micros = recorded_at_micros;
            self.counters.commits.fetch_add(1, Ordering::Relaxed);
            self.counters
                .appends
                .fetch_add(written_request_ids.len() as u64, Ordering::Relaxed);
            self.counters
                .events
                .fetch_add(self.next_position - first_position_of_group, Ordering::Relaxed);
            self.committed_head.send_replace(LogHead {
                position: head_position,
                hash: self.prev_hash,
            });
        }

        let resolved: Vec<Result<AppendOutcome, EventLogError>> = {
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
                        Err(_) => Err(EventLogError::Closed {
                            reason: "the original append of this request id failed".to_owned(),
                        }),
                    },
                };
                resolved.push(result);
            }
            resolved
        };
        for (job, result) in group.into_iter().zip(resolved) {
            let _ = job.reply.send(result);
        }
    }

    /// Checks one append against the log and the group so far, and adds its entries to `batch`.
    fn plan_append(
        &mut self,
        request: &AppendRequest,
        recorded_at_micros: i64,
        batch: &mut sled::Batch,
        pending_streams: &mut PendingStreamHeads,
    ) -> Result<AppendOutcome, EventLogError> {
        if let Some((first_position, last_position)) = self.log.request_positions(request.request_id.as_str())? {
            return self.outcome_of_earlier_append(request, first_position, last_position);
        }

        let current = match pending_streams.heads.get(&request.stream_id) {
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
        for event in &request.events {
            let position = self.next_position;
            let record = EventRecord {
                position,
                stream_id: request.stream_id.as_str().to_owned(),
                revision: next_revision,
                event_id: uuid::Uuid::now_v7().as_bytes().to_vec(),
                event_type: event.event_type.clone(),
                recorded_at: recorded_at_micros,
                occurred_at: event.occurred_at_micros,
                actor_id: request.actor_id.clone(),
                request_id: request.request_id.as_str().to_owned(),
                stream_prev_hash: stream_prev_hash.to_vec(),
                event: event.payload.clone(),
            };
            let record_bytes = record.encode_to_vec();
            let hash = chain_hash(&self.prev_hash, &record_bytes);
            batch.insert(
                &layout::record_key(position)[..],
                layout::record_value(&hash, &record_bytes),
            );
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
