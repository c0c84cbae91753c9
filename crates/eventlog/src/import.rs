//! Import: events recorded by another node, appended verbatim once they are shown to continue this log.
//!
//! A replica or a restore stores another node's events byte for byte: the same encoded
//! records, positions, `recorded_at`, hashes and request ids. [`crate::EventLog::import`]
//! queues an [`ImportJob`] to the writer, which plans it in a group of its own (so it is
//! serialized with concurrent appends) against the log's tail, including every group
//! applied before it:
//!
//! - each record must decode, stay within the size limits of an append, and carry valid
//!   ids (as [`StreamId`], [`RequestId`], an event type and an actor id of an append), a
//!   16-byte event id and a payload of at most [`crate::MAX_PAYLOAD_BYTES`];
//! - it must be at the next position, its claimed hash must be `SHA-256(prev || record)`,
//!   its revision the stream's next one, its `stream_prev_hash` the hash of the stream's
//!   previous event, and its `recorded_at` not before the previous position's;
//! - its request id must be new, or continue the run of the previous position (same request
//!   id, same stream: the same append, split across imports);
//! - events at positions the log already holds are skipped if they are byte for byte what
//!   is stored (hash included), so a resent import is answered as a success.
//!
//! The first event that fails refuses the whole import with
//! [`EventLogError::ImportRefused`] at the position the log expected it at. What is written
//! is exactly what an append of the same events writes (records, stream index, request
//! index, Merkle tree nodes and tree size, and chain head, in one batch), made durable and
//! published the same way.

use std::collections::{HashMap, HashSet};

use prost::Message;

use crate::error::EventLogError;
use crate::layout;
use crate::record::{EventRecord, chain_hash};
use crate::tree::Frontier;
use crate::types::{
    ChainHash, LogHead, MAX_PAYLOAD_BYTES, Position, RecordedEvent, RequestId, Revision, StreamId, ZERO_HASH,
    check_actor_id, check_event_type, check_payload_size,
};
use crate::writer::{Answer, AppliedGroup, ImportReply, Writer, outcome_unknown};

/// Most events one import may carry.
pub const MAX_EVENTS_PER_IMPORT: usize = 4096;

/// Most bytes one imported record may have: the largest payload plus room for every other
/// field of a valid record (about 600 bytes at most).
const MAX_RECORD_BYTES: usize = MAX_PAYLOAD_BYTES + 1024;

/// Length of an event id (a UUID).
const EVENT_ID_BYTES: usize = 16;

/// An event as the node that recorded it stored it: the encoded `EventRecord` bytes
/// (exactly as hashed) and the chain hash claimed for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedEvent {
    pub record_bytes: Vec<u8>,
    pub hash: ChainHash,
}

impl From<RecordedEvent> for ImportedEvent {
    fn from(event: RecordedEvent) -> Self {
        ImportedEvent {
            record_bytes: event.record_bytes,
            hash: event.hash,
        }
    }
}

/// One import waiting for the writer.
#[derive(Debug)]
pub(crate) struct ImportJob {
    pub(crate) events: Vec<ImportedEvent>,
    pub(crate) reply: ImportReply,
}

/// Checks what can be checked without the log's state.
pub(crate) fn validate(events: &[ImportedEvent]) -> Result<(), EventLogError> {
    if events.len() > MAX_EVENTS_PER_IMPORT {
        return Err(EventLogError::invalid(
            "events",
            format!("{} events, at most {MAX_EVENTS_PER_IMPORT} per import", events.len()),
        ));
    }
    Ok(())
}

fn refused(position: Position, reason: impl Into<String>) -> EventLogError {
    EventLogError::ImportRefused {
        position,
        reason: reason.into(),
    }
}

/// The events of one request id being imported at consecutive positions: one append.
struct RequestRun {
    request_id: String,
    stream_id: String,
    first: Position,
    last: Position,
}

/// A planned import, ready to be applied.
struct PlannedImport {
    /// The log's head after the import.
    head: LogHead,
    /// Everything the import writes but the chain head entry.
    batch: sled::Batch,
    /// `recorded_at` of `head`.
    last_recorded_at_micros: i64,
    events_written: u64,
    /// The Merkle frontier after the import.
    frontier: Frontier,
}

/// An import being planned on top of the log's tail. Nothing of it touches the writer
/// until it is planned completely, so a refusal leaves the writer as it was.
struct ImportPlan<'a> {
    writer: &'a Writer,
    /// The log's tail before the import.
    tail: LogHead,
    /// Position and hash of the last event planned (the tail until one is).
    head: LogHead,
    /// `recorded_at` of `head`; `None` while the log is empty.
    last_recorded_at_micros: Option<i64>,
    /// Stream heads (revision, hash) changed by the events planned.
    streams: HashMap<String, (Revision, ChainHash)>,
    run: Option<RequestRun>,
    /// Request ids whose run ended within this import.
    finished_requests: HashSet<String>,
    batch: sled::Batch,
    events_written: u64,
    /// The Merkle frontier at `head`; its nodes go into `batch` with the records.
    frontier: Frontier,
    merkle_scratch: Vec<u8>,
}

impl Writer {
    /// Plans one import and applies it to sled; `None` when it was answered already.
    pub(crate) fn apply_import(&mut self, job: ImportJob) -> Option<AppliedGroup> {
        if let Some(refusal) = self.refusal_before_planning() {
            let _ = job.reply.send(Err(refusal.error()));
            return None;
        }
        let (result, head_after, events_written) = match self.plan_import(&job.events) {
            Err(error) => (Err(error), None, 0),
            // Nothing new (or a resent prefix): the answer is the log's head.
            Ok(PlannedImport {
                head,
                events_written: 0,
                ..
            }) => (Ok(head), None, 0),
            Ok(PlannedImport {
                head,
                batch,
                last_recorded_at_micros,
                events_written,
                frontier,
            }) => {
                // The import moves the heads of its streams; the writer's cache of them is
                // simply dropped (a replica only imports, so it never fills it anyway).
                self.stream_heads.clear();
                if let Err(reason) = self.apply_batch(batch, head) {
                    let _ = job.reply.send(Err(outcome_unknown(&reason)));
                    return None;
                }
                self.next_position = head.position + 1;
                self.prev_hash = head.hash;
                self.last_recorded_at_micros = last_recorded_at_micros;
                self.frontier = frontier;
                (Ok(head), Some(head), events_written)
            }
        };
        // Answered after the flush, like appends: a success may rest on events (of this
        // import or of the groups before it) that are applied but not yet durable.
        Some(AppliedGroup {
            answers: vec![Answer::Import(job.reply, result)],
            head_after,
            appends_written: 0,
            events_written,
        })
    }

    /// Checks `events` against the log's tail and plans what writes them.
    fn plan_import(&self, events: &[ImportedEvent]) -> Result<PlannedImport, EventLogError> {
        let tail = LogHead {
            position: self.next_position - 1,
            hash: self.prev_hash,
        };
        let mut plan = ImportPlan {
            writer: self,
            tail,
            head: tail,
            last_recorded_at_micros: (tail.position > 0).then_some(self.last_recorded_at_micros),
            streams: HashMap::new(),
            run: None,
            finished_requests: HashSet::new(),
            batch: sled::Batch::default(),
            events_written: 0,
            frontier: self.frontier,
            merkle_scratch: Vec::new(),
        };
        // The position the next event of the import must have; for the first one anything
        // already stored (a resent prefix) or the position after the tail.
        let mut expected: Option<Position> = None;
        for event in events {
            let expected_position = expected.unwrap_or(tail.position + 1);
            if event.record_bytes.len() > MAX_RECORD_BYTES {
                return Err(refused(
                    expected_position,
                    format!(
                        "the record has {} bytes, at most {MAX_RECORD_BYTES} allowed",
                        event.record_bytes.len()
                    ),
                ));
            }
            let record = EventRecord::decode(event.record_bytes.as_slice())
                .map_err(|error| refused(expected_position, format!("the record does not decode: {error}")))?;
            let position = match expected {
                None if (1..=tail.position).contains(&record.position) => record.position,
                _ => expected_position,
            };
            if record.position != position {
                return Err(refused(
                    position,
                    format!("expected position {position}, the record says {}", record.position),
                ));
            }
            expected = Some(position + 1);
            if position <= tail.position {
                plan.check_stored(position, event)?;
            } else {
                plan.add(position, event, &record)?;
            }
        }
        if let Some(run) = plan.run.take() {
            plan.finish_run(run);
        }
        Ok(PlannedImport {
            head: plan.head,
            last_recorded_at_micros: plan.last_recorded_at_micros.unwrap_or(self.last_recorded_at_micros),
            batch: plan.batch,
            events_written: plan.events_written,
            frontier: plan.frontier,
        })
    }
}

impl ImportPlan<'_> {
    /// An event at a position the log holds already: accepted (and skipped) only if it is
    /// exactly what is stored there.
    fn check_stored(&self, position: Position, event: &ImportedEvent) -> Result<(), EventLogError> {
        let entry = self
            .writer
            .log
            .record_entry(position)?
            .ok_or_else(|| EventLogError::Corrupt {
                position,
                reason: "record missing".to_owned(),
            })?;
        let (stored_hash, stored_bytes) = layout::split_record_value(&entry).ok_or_else(|| EventLogError::Corrupt {
            position,
            reason: "stored entry shorter than a hash".to_owned(),
        })?;
        if stored_bytes != event.record_bytes.as_slice() {
            return Err(refused(
                position,
                format!("position {position} is already stored with a different record"),
            ));
        }
        if stored_hash != event.hash {
            return Err(refused(
                position,
                format!("position {position} is already stored with a different chain hash"),
            ));
        }
        Ok(())
    }

    /// An event at the position after the planned head: checked, then added to the batch.
    fn add(&mut self, position: Position, event: &ImportedEvent, record: &EventRecord) -> Result<(), EventLogError> {
        let refuse = |reason: String| refused(position, reason);
        let invalid = |error: EventLogError| refused(position, error.to_string());
        StreamId::try_from(record.stream_id.as_str()).map_err(invalid)?;
        RequestId::try_from(record.request_id.as_str()).map_err(invalid)?;
        check_event_type(&record.event_type).map_err(invalid)?;
        check_actor_id(&record.actor_id).map_err(invalid)?;
        check_payload_size(record.event.len()).map_err(invalid)?;
        if record.event_id.len() != EVENT_ID_BYTES {
            return Err(refuse(format!(
                "event_id has {} bytes, {EVENT_ID_BYTES} expected",
                record.event_id.len()
            )));
        }

        let hash = chain_hash(&self.head.hash, &event.record_bytes);
        if hash != event.hash {
            return Err(refuse(format!(
                "chain hash does not match: SHA-256(hash of position {} || record) is not the hash claimed",
                self.head.position
            )));
        }

        let (expected_revision, expected_stream_prev_hash) = match self.stream_head(&record.stream_id)? {
            Some((revision, hash)) => (revision + 1, hash),
            None => (0, ZERO_HASH),
        };
        if record.revision != expected_revision {
            return Err(refuse(format!(
                "expected revision {expected_revision} of stream {}, the record says {}",
                record.stream_id, record.revision
            )));
        }
        if record.stream_prev_hash != expected_stream_prev_hash {
            return Err(refuse(format!(
                "stream chain broken: stream_prev_hash is not the hash of stream {} revision {}",
                record.stream_id,
                record.revision.saturating_sub(1)
            )));
        }

        if let Some(previous) = self.last_recorded_at_micros
            && record.recorded_at < previous
        {
            return Err(refuse(format!(
                "recorded_at {} is before recorded_at {previous} of position {}",
                record.recorded_at, self.head.position
            )));
        }

        self.track_request(position, record)?;

        self.frontier
            .push_record(&event.record_bytes, &mut self.merkle_scratch, &mut self.batch);
        self.batch.insert(
            &layout::record_key(position)[..],
            layout::record_value(&hash, &event.record_bytes),
        );
        self.batch.insert(
            layout::stream_index_key(&record.stream_id, record.revision),
            &position.to_be_bytes()[..],
        );
        self.streams.insert(record.stream_id.clone(), (record.revision, hash));
        self.head = LogHead { position, hash };
        self.last_recorded_at_micros = Some(record.recorded_at);
        self.events_written += 1;
        Ok(())
    }

    /// (revision, hash) of the last event of a stream, planned or stored.
    fn stream_head(&self, stream_id: &str) -> Result<Option<(Revision, ChainHash)>, EventLogError> {
        if let Some(&head) = self.streams.get(stream_id) {
            return Ok(Some(head));
        }
        match self.writer.log.stream_last(stream_id)? {
            Some((revision, position)) => Ok(Some((revision, self.writer.log.stored_hash(position)?))),
            None => Ok(None),
        }
    }

    /// Keeps the request index as appends keep it: a request id maps to the first and last
    /// position of its append. Consecutive events with the same request id and stream are
    /// one append (also across imports); a request id seen before anywhere else is refused.
    fn track_request(&mut self, position: Position, record: &EventRecord) -> Result<(), EventLogError> {
        if let Some(run) = &mut self.run
            && run.request_id == record.request_id
        {
            if run.stream_id != record.stream_id {
                return Err(refused(
                    position,
                    format!(
                        "request id {} was used for stream {} at position {}; one append writes to one stream",
                        record.request_id, run.stream_id, run.last
                    ),
                ));
            }
            run.last = position;
            return Ok(());
        }
        if let Some(run) = self.run.take() {
            self.finish_run(run);
        }
        if self.finished_requests.contains(&record.request_id) {
            return Err(refused(
                position,
                format!(
                    "request id {} was already used by an earlier append of this import",
                    record.request_id
                ),
            ));
        }
        let first = match self.writer.log.request_positions(&record.request_id)? {
            None => position,
            // The append at the tail of the log, continued by this import.
            Some((first, last)) if last == self.tail.position && last + 1 == position => {
                let tail_stream = self
                    .writer
                    .log
                    .read_event(last)?
                    .map(|event| event.record.stream_id)
                    .ok_or_else(|| EventLogError::Corrupt {
                        position: last,
                        reason: format!("request index of {} points at a missing record", record.request_id),
                    })?;
                if tail_stream != record.stream_id {
                    return Err(refused(
                        position,
                        format!(
                            "request id {} was used for stream {tail_stream} at position {last}; one append writes to one stream",
                            record.request_id
                        ),
                    ));
                }
                first
            }
            Some((first, last)) => {
                return Err(refused(
                    position,
                    format!(
                        "request id {} was already used by the append at positions {first}..={last}",
                        record.request_id
                    ),
                ));
            }
        };
        self.run = Some(RequestRun {
            request_id: record.request_id.clone(),
            stream_id: record.stream_id.clone(),
            first,
            last: position,
        });
        Ok(())
    }

    fn finish_run(&mut self, run: RequestRun) {
        self.batch.insert(
            layout::request_index_key(&run.request_id),
            &layout::request_index_value(run.first, run.last)[..],
        );
        self.finished_requests.insert(run.request_id);
    }
}
