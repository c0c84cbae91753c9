//! Restore: rebuilds a district node's log from its stream, with the feed's checks.
//!
//! The log must be empty. Restore learns the stream's last sequence when it starts,
//! imports sequences 1..=last exactly as the feed would (every message checked by
//! [`check_message`](crate::feed), each batch imported atomically), then verifies the whole
//! log. A message that does not continue the log stops it with [`BusError::Tampered`]
//! naming the position; what was imported before it stays (it is checked and verified).

use gridledger_eventlog::{ChainHash, EventLog, EventLogError, LogHead, Position};

use crate::connection::NatsConfig;
use crate::error::{BusError, describe};
use crate::feed::{Backoff, ReaderBatch, StreamReader, apply_batch};

/// Consecutive transient failures (NATS away) restore rides out before giving up.
const MAX_CONSECUTIVE_FAILURES: u32 = 10;

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
