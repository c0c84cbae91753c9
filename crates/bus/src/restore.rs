//! Restore: rebuilds a district node's log from its stream, with the feed's checks.
//!
//! The log must be empty. Restore learns the stream's last sequence when it starts,
//! imports sequences 1..=last exactly as the feed would (every message checked by
//! [`check_message`](crate::feed), each batch imported atomically), then verifies the whole
//! log. A message that does not continue the log stops it with [`BusError::Tampered`]
//! naming the position; what was imported before it stays (it is checked and verified).
//!
//! Then [`restore_evidence`] brings back the photos and videos the restored events
//! reference, from the district's evidence bucket into the node's evidence store, each
//! checked against its digest and size as it is stored.

use std::collections::HashSet;

use gridledger_codec::decode_recorded;
use gridledger_domain::EvidenceRef;
use gridledger_eventlog::{ChainHash, EventLog, EventLogError, LogHead, Position};
use gridledger_evidence::{EvidenceError, EvidenceStore};

use crate::connection::{NatsConfig, NatsConnection};
use crate::error::{BusError, describe};
use crate::evidence_bucket::EvidenceBucket;
use crate::feed::{Backoff, ReaderBatch, StreamReader, apply_batch};
use crate::naming::evidence_bucket_of_stream;

/// Consecutive transient failures (NATS away) restore rides out before giving up.
const MAX_CONSECUTIVE_FAILURES: u32 = 10;
/// Events read from the log at a time when looking for the evidence they reference.
const EVIDENCE_SCAN_BATCH: usize = 1024;
/// Bytes read at a time when checking a blob the store holds already.
const CHECK_CHUNK_BYTES: usize = 1024 * 1024;

/// How far a restore has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoreProgress {
    /// Events imported so far (the log's head position).
    pub imported: u64,
    /// Events to import: the stream's last sequence when the restore started.
    pub total: u64,
}

/// What a finished restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    pub stream: String,
    /// Events imported.
    pub events: u64,
    pub head_position: Position,
    pub head_hash: ChainHash,
    /// Whether `EventLog::verify` over the whole restored log checked out.
    pub verified: bool,
}

/// Imports `stream` (sequences 1 to its last sequence at the start) into the empty `log`,
/// calling `progress` at the start and after every imported batch, then verifies the log.
///
/// Errors: [`BusError::LogNotEmpty`] if `log` holds events (nothing is read);
/// [`BusError::StreamNotFound`]; [`BusError::Tampered`] naming the first position that
/// does not continue the log (the positions before it stay imported; the reason says how
/// far the restore came); a transient error ([`BusError::is_transient`]) when NATS stays
/// away through 10 reconnections in a row (the log then holds a
/// checked prefix; a new restore needs an empty log again).
pub async fn restore(
    nats: &NatsConfig,
    stream: &str,
    log: &EventLog,
    mut progress: impl FnMut(RestoreProgress),
) -> Result<RestoreReport, BusError> {
    let head = log.head();
    if head.position != 0 {
        return Err(BusError::LogNotEmpty {
            head_position: head.position,
        });
    }
    let mut reader = StreamReader::open(nats, stream, 1).await?;
    let total = reader.last_sequence();
    progress(RestoreProgress { imported: 0, total });
    let mut head = head;
    let mut backoff = Backoff::new();
    let mut consecutive_failures = 0;
    while head.position < total {
        match import_next(&mut reader, log, stream, head, total).await {
            Ok(Some(new_head)) => {
                head = new_head;
                consecutive_failures = 0;
                backoff.reset();
                progress(RestoreProgress {
                    imported: head.position,
                    total,
                });
            }
            Ok(None) => {}
            Err(BusError::Tampered {
                stream,
                position,
                reason,
            }) => {
                reader.close().await;
                return Err(stopped_at(log, stream, position, reason));
            }
            Err(error) if restore_retries(&error) => {
                drop(reader);
                reader = reopen(nats, stream, log, &mut backoff, &mut consecutive_failures, error).await?;
                head = log.head();
            }
            Err(error) => return Err(error),
        }
    }
    reader.close().await;
    let verification = log.verify(1, head.position)?;
    if !verification.ok {
        tracing::error!(stream, message = %verification.message, "the restored log does not verify");
    }
    Ok(RestoreReport {
        stream: stream.to_owned(),
        events: head.position,
        head_position: head.position,
        head_hash: head.hash,
        verified: verification.ok,
    })
}

/// Opens a new reader from the log's head after `error`, with backoff; gives up (returning
/// the last error) after [`MAX_CONSECUTIVE_FAILURES`] failures in a row.
async fn reopen(
    nats: &NatsConfig,
    stream: &str,
    log: &EventLog,
    backoff: &mut Backoff,
    consecutive_failures: &mut u32,
    error: BusError,
) -> Result<StreamReader, BusError> {
    let mut error = error;
    loop {
        *consecutive_failures += 1;
        if *consecutive_failures > MAX_CONSECUTIVE_FAILURES || !restore_retries(&error) {
            return Err(error);
        }
        let delay = backoff.next_delay();
        tracing::warn!(stream, reason = %describe(&error), ?delay, "restore interrupted; resuming from the log head");
        tokio::time::sleep(delay).await;
        match StreamReader::open(nats, stream, log.head().position + 1).await {
            Ok(reader) => return Ok(reader),
            Err(next_error) => error = next_error,
        }
    }
}

/// Reads the next batch (up to `total`) and imports it: `Some(new head)`, or `None` when
/// nothing arrived yet.
async fn import_next(
    reader: &mut StreamReader,
    log: &EventLog,
    stream: &str,
    head: LogHead,
    total: u64,
) -> Result<Option<LogHead>, BusError> {
    match reader.next_batch().await? {
        ReaderBatch::Messages(mut messages) => {
            // The stream may have grown since the start: restore stops at `total`.
            let wanted = usize::try_from(total - head.position).unwrap_or(usize::MAX);
            messages.truncate(wanted);
            apply_batch(log, stream, head, &messages).await.map(Some)
        }
        ReaderBatch::Idle => reader.probe_while_idle(head.position + 1).await.map(|()| None),
    }
}

/// The Tampered error of a restore, saying what was kept.
fn stopped_at(log: &EventLog, stream: String, position: Position, reason: String) -> BusError {
    let kept = log.head().position;
    let kept = match log.verify(1, kept) {
        Ok(report) if report.ok => format!("positions 1..={kept} are imported and verified"),
        Ok(report) => format!(
            "positions 1..={kept} are imported but do not verify: {}",
            report.message
        ),
        Err(error) => format!("positions 1..={kept} are imported; verifying them failed: {error}"),
    };
    BusError::Tampered {
        stream,
        position,
        reason: format!("{reason}; restore stopped here, {kept}"),
    }
}

fn restore_retries(error: &BusError) -> bool {
    error.is_transient()
        || matches!(
            error,
            BusError::Log(EventLogError::Unavailable { .. } | EventLogError::OutcomeUnknown { .. })
        )
}

/// How far a restore of evidence has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EvidenceRestoreProgress {
    /// Blobs done: restored, or found held already.
    pub blobs_done: u64,
    /// The distinct blobs the log's events reference.
    pub blobs_total: u64,
    /// Bytes done (a blob held already counts its size at once).
    pub bytes_done: u64,
    /// The sizes of all the blobs referenced.
    pub bytes_total: u64,
}

/// What a finished restore of evidence did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EvidenceRestoreReport {
    /// The bucket read from.
    pub bucket: String,
    /// The distinct blobs the log's events reference.
    pub blobs_referenced: u64,
    /// Blobs read from the bucket and stored.
    pub blobs_restored: u64,
    /// Their bytes.
    pub bytes_restored: u64,
    /// Blobs the store held already, intact (read back and checked): not read from the
    /// bucket.
    pub already_present: u64,
}

/// Restores into `store` every evidence blob the events of `log` reference, from the
/// evidence bucket of the district whose stream is `stream`
/// ([`evidence_bucket_of_stream`]), in the order they are first referenced; each is
/// checked against its ref (size, digest, media type) as it is stored, and stored durably.
/// A blob the store holds already and that reads back intact is not fetched. `progress` is
/// called at the start and as bytes arrive. Nothing is read from NATS when no event
/// references evidence.
///
/// Errors name the blob and the position of the first event that references it:
/// [`BusError::EvidenceMissing`] when the bucket (or the blob in it) does not exist, holds
/// other bytes under its name, or its chunks do not hash to its recorded digest;
/// [`BusError::Evidence`] when the store refuses the bytes or fails; [`BusError::Decode`]
/// when a stored event does not decode; a transient error when NATS stays away through 5
/// attempts at one blob. The blobs restored before the error stay stored.
pub async fn restore_evidence(
    nats: &NatsConfig,
    stream: &str,
    log: &EventLog,
    store: &EvidenceStore,
    mut progress: impl FnMut(EvidenceRestoreProgress),
) -> Result<EvidenceRestoreReport, BusError> {
    let referenced = referenced_evidence(log).await?;
    let mut state = EvidenceRestoreProgress {
        blobs_done: 0,
        blobs_total: referenced.len() as u64,
        bytes_done: 0,
        bytes_total: referenced.iter().map(|(reference, _)| reference.size).sum(),
    };
    let mut report = EvidenceRestoreReport {
        bucket: evidence_bucket_of_stream(stream),
        blobs_referenced: state.blobs_total,
        ..EvidenceRestoreReport::default()
    };
    progress(state);
    let Some((first, first_position)) = referenced.first().copied() else {
        return Ok(report);
    };
    let connection = NatsConnection::connect(nats).await?;
    let bucket = EvidenceBucket::open(&connection, stream)
        .await?
        .ok_or_else(|| BusError::EvidenceMissing {
            bucket: report.bucket.clone(),
            sha256: first.sha256,
            position: first_position,
            reason: "cannot be read: the bucket does not exist".to_owned(),
        })?;
    for (reference, position) in referenced {
        if holds_intact(store, &reference, position).await? {
            report.already_present += 1;
            state.blobs_done += 1;
            state.bytes_done += reference.size;
            progress(state);
            continue;
        }
        let bytes_before = state.bytes_done;
        let mut backoff = Backoff::new();
        let mut attempts = 0;
        loop {
            attempts += 1;
            state.bytes_done = bytes_before;
            let outcome = bucket
                .restore_blob(store, &reference, position, |count| {
                    state.bytes_done += count;
                    progress(state);
                })
                .await;
            match outcome {
                Ok(_) => break,
                Err(error) if error.is_transient() && attempts < MAX_EVIDENCE_ATTEMPTS => {
                    let delay = backoff.next_delay();
                    tracing::warn!(
                        bucket = bucket.name(),
                        sha256 = %reference.sha256,
                        reason = %describe(&error),
                        ?delay,
                        "restoring an evidence blob was interrupted; trying again"
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(error) => return Err(error),
            }
        }
        report.blobs_restored += 1;
        report.bytes_restored += reference.size;
        state.blobs_done += 1;
        state.bytes_done = bytes_before + reference.size;
        progress(state);
    }
    Ok(report)
}

/// Attempts at one blob while NATS fails transiently.
const MAX_EVIDENCE_ATTEMPTS: u32 = 5;

/// Every distinct blob the events of `log` reference, with the position of the first event
/// that does, in that order.
async fn referenced_evidence(log: &EventLog) -> Result<Vec<(EvidenceRef, Position)>, BusError> {
    let head = log.head().position;
    let mut seen = HashSet::new();
    let mut referenced = Vec::new();
    let mut next = 1;
    while next <= head {
        let events = log.read_all(next, EVIDENCE_SCAN_BATCH)?;
        if events.is_empty() {
            break;
        }
        for event in &events {
            let decoded = decode_recorded(event).map_err(|error| BusError::Decode {
                position: event.position,
                source: Box::new(error),
            })?;
            for reference in decoded.body.evidence() {
                if seen.insert(reference.sha256) {
                    referenced.push((*reference, event.position));
                }
            }
            next = event.position + 1;
        }
        // A long log is read in batches without holding a runtime thread all along.
        tokio::task::yield_now().await;
    }
    Ok(referenced)
}

/// Whether `store` holds the blob `reference` names with its size and digest (read back
/// to check); a damaged copy is not (the import replaces it).
async fn holds_intact(store: &EvidenceStore, reference: &EvidenceRef, position: Position) -> Result<bool, BusError> {
    let checking = store.clone();
    let expected = *reference;
    let checked = tokio::task::spawn_blocking(move || -> Result<bool, EvidenceError> {
        let Some(mut reader) = checking.open_blob(&expected.sha256)? else {
            return Ok(false);
        };
        if reader.reference().size != expected.size {
            return Ok(false);
        }
        loop {
            match reader.next_chunk(CHECK_CHUNK_BYTES) {
                Ok(Some(_)) => {}
                Ok(None) => return Ok(true),
                Err(EvidenceError::Damaged { .. }) => return Ok(false),
                Err(error) => return Err(error),
            }
        }
    })
    .await;
    match checked {
        Ok(Ok(intact)) => Ok(intact),
        Ok(Err(EvidenceError::Damaged { .. })) => Ok(false),
        Ok(Err(source)) => Err(BusError::Evidence {
            sha256: reference.sha256,
            position,
            source,
        }),
        // The check did not finish: fetch the blob, whose import checks it anyway.
        Err(_) => Ok(false),
    }
}
