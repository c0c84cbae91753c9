//! Verification: recompute the global and per-stream hash chains and report the first bad position.

use crate::error::EventLogError;
use crate::layout;
use crate::record::{EventRecord, chain_hash};
use crate::store::LogTree;
use crate::types::{ChainHash, LogHead, Position, ZERO_HASH};

use prost::Message;

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// True when every checked position and the chain head check out.
    pub ok: bool,
    pub events_checked: u64,
    /// The head the log claims (its chain head entry).
    pub head_position: Position,
    pub head_hash: ChainHash,
    /// The first position that does not check out.
    pub first_bad_position: Option<Position>,
    /// What was wrong, or a summary when all is well.
    pub message: String,
}

/// Verifies `from..=to` (`0` as either bound means the start or the end of the log).
///
/// The hash of `from - 1` is taken from the log as the anchor; verifying from position 1
/// anchors at the 32 zero bytes and so checks everything.
pub(crate) fn verify_range(
    log: &LogTree,
    head: LogHead,
    from: Position,
    to: Position,
) -> Result<VerifyReport, EventLogError> {
    let from = from.max(1);
    let to = if to == 0 { head.position } else { to };
    let mut report = VerifyReport {
        ok: true,
        events_checked: 0,
        head_position: head.position,
        head_hash: head.hash,
        first_bad_position: None,
        message: String::new(),
    };
    if to > head.position {
        return Ok(report.bad(to, format!("position {to} is past the chain head {}", head.position)));
    }
    if from > to {
        report.message = "nothing to verify".to_owned();
        return Ok(report);
    }

    let mut prev_hash = match log.stored_hash(from - 1) {
        Ok(hash) => hash,
        Err(error) => return Ok(report.bad(from - 1, format!("anchor of the range: {error}"))),
    };
    let mut expected_position = from;
    for entry in log.record_entries(from, to) {
        let (position, value) = entry?;
        if position != expected_position {
            return Ok(report.bad(expected_position, format!("position {expected_position} is missing")));
        }
        match check_one(log, position, &value, &prev_hash) {
            Ok(hash) => prev_hash = hash,
            Err(problem) => return Ok(report.bad(position, problem)),
        }
        report.events_checked += 1;
        expected_position += 1;
    }
    if expected_position <= to {
        return Ok(report.bad(
            expected_position,
            format!(
                "position {expected_position} is missing: the chain head says the log ends at {}",
                head.position
            ),
        ));
    }
    if to == head.position && prev_hash != head.hash {
        return Ok(report.bad(to, format!("the chain head hash does not match position {to}")));
    }
    report.message = format!("{} events verified, positions {from}..={to}", report.events_checked);
    Ok(report)
}

impl VerifyReport {
    fn bad(mut self, position: Position, message: String) -> VerifyReport {
        self.ok = false;
        self.first_bad_position = Some(position);
        self.message = message;
        self
    }
}

/// Checks one stored entry: it decodes, its hash links to the previous position, its stream
/// chain links to the stream's previous event, and the stream index points at it.
/// Returns the (verified) hash of the position.
fn check_one(log: &LogTree, position: Position, value: &[u8], prev_hash: &ChainHash) -> Result<ChainHash, String> {
    let (stored_hash, record_bytes) =
        layout::split_record_value(value).ok_or_else(|| "stored entry is shorter than a hash".to_owned())?;
    if chain_hash(prev_hash, record_bytes) != stored_hash {
        return Err(format!(
            "hash mismatch at position {position}: the record or its hash was changed"
        ));
    }
    let record =
        EventRecord::decode(record_bytes).map_err(|error| format!("record at {position} does not decode: {error}"))?;
    if record.position != position {
        return Err(format!("record at {position} says it is position {}", record.position));
    }
    let expected_stream_prev_hash = if record.revision == 0 {
        ZERO_HASH
    } else {
        let previous_position = log
            .stream_position(&record.stream_id, record.revision - 1)
            .map_err(|error| error.to_string())?
            .ok_or_else(|| {
                format!(
                    "stream {} has no revision {} before position {position}",
                    record.stream_id,
                    record.revision - 1
                )
            })?;
        if previous_position >= position {
            return Err(format!(
                "stream {} revision {} sits at {previous_position}, not before {position}",
                record.stream_id,
                record.revision - 1
            ));
        }
        log.stored_hash(previous_position).map_err(|error| error.to_string())?
    };
    if record.stream_prev_hash != expected_stream_prev_hash {
        return Err(format!(
            "stream chain broken at position {position}: stream_prev_hash is not the hash of {} revision {}",
            record.stream_id,
            record.revision.saturating_sub(1)
        ));
    }
    match log.stream_position(&record.stream_id, record.revision) {
        Ok(Some(indexed)) if indexed == position => Ok(stored_hash),
        Ok(_) => Err(format!(
            "stream index of {} revision {} does not point at position {position}",
            record.stream_id, record.revision
        )),
        Err(error) => Err(error.to_string()),
    }
}
