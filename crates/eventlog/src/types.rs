//! The values the log takes and gives: validated ids, append requests and outcomes, recorded events.

use std::fmt;

use crate::error::EventLogError;
use crate::record::EventRecord;

/// Global position of an event: 1, 2, 3, ... without gaps. 0 means "before the first event".
pub type Position = u64;

/// Revision of an event within its stream: 0, 1, 2, ... without gaps.
pub type Revision = u64;

/// A SHA-256 chain hash.
pub type ChainHash = [u8; 32];

/// The hash that stands before position 1 and before revision 0 of every stream.
pub const ZERO_HASH: ChainHash = [0u8; 32];

/// Most bytes one event payload may have. Keeps every record far below the size at which
/// sled would move a node out of its log into a separate blob file.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// Most events one append may carry.
pub const MAX_EVENTS_PER_APPEND: usize = 64;

const MAX_ID_BYTES: usize = 128;
const MAX_EVENT_TYPE_BYTES: usize = 64;

fn check_printable_ascii_id(field: &'static str, value: &str) -> Result<(), EventLogError> {
    if value.is_empty() {
        return Err(EventLogError::invalid(field, "must not be empty"));
    }
    if value.len() > MAX_ID_BYTES {
        return Err(EventLogError::invalid(
            field,
            format!("{} bytes, at most {MAX_ID_BYTES} allowed", value.len()),
        ));
    }
    if let Some(bad) = value.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(EventLogError::invalid(
            field,
            format!("character {bad:?} not allowed (printable ASCII without spaces only)"),
        ));
    }
    Ok(())
}

/// An actor id: at most 128 bytes, may be empty.
pub(crate) fn check_actor_id(actor_id: &str) -> Result<(), EventLogError> {
    if actor_id.len() > MAX_ID_BYTES {
        return Err(EventLogError::invalid(
            "actor_id",
            format!("{} bytes, at most {MAX_ID_BYTES} allowed", actor_id.len()),
        ));
    }
    Ok(())
}

/// An event type name: 1..=64 bytes of `[A-Za-z0-9_.-]`.
pub(crate) fn check_event_type(event_type: &str) -> Result<(), EventLogError> {
    let type_is_valid = !event_type.is_empty()
        && event_type.len() <= MAX_EVENT_TYPE_BYTES
        && event_type
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !type_is_valid {
        return Err(EventLogError::invalid(
            "event_type",
            format!("{event_type:?} must be 1..={MAX_EVENT_TYPE_BYTES} bytes of [A-Za-z0-9_.-]"),
        ));
    }
    Ok(())
}

/// A payload of `len` bytes: at most [`MAX_PAYLOAD_BYTES`].
pub(crate) fn check_payload_size(len: usize) -> Result<(), EventLogError> {
    if len > MAX_PAYLOAD_BYTES {
        return Err(EventLogError::invalid(
            "event",
            format!("payload of {len} bytes, at most {MAX_PAYLOAD_BYTES} allowed"),
        ));
    }
    Ok(())
}

/// The id of a stream: 1..=128 bytes of printable ASCII without spaces.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(String);

impl StreamId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for StreamId {
    type Error = EventLogError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        check_printable_ascii_id("stream_id", &value)?;
        Ok(StreamId(value))
    }
}

impl TryFrom<&str> for StreamId {
    type Error = EventLogError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        StreamId::try_from(value.to_owned())
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamId({})", self.0)
    }
}

/// The idempotency key of an append: 1..=128 bytes of printable ASCII without spaces.
/// Kept forever: an append with a request id seen before writes nothing and returns the
/// original outcome.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(String);

impl RequestId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RequestId {
    type Error = EventLogError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        check_printable_ascii_id("request_id", &value)?;
        Ok(RequestId(value))
    }
}

impl TryFrom<&str> for RequestId {
    type Error = EventLogError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        RequestId::try_from(value.to_owned())
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.0)
    }
}

/// What the caller believes about the stream before its append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedRevision {
    /// Append whatever the stream's revision is (creating it if absent).
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have exactly this revision.
    Exact(Revision),
}

impl ExpectedRevision {
    pub(crate) fn admits(self, current_revision: Option<Revision>) -> bool {
        match self {
            ExpectedRevision::Any => true,
            ExpectedRevision::NoStream => current_revision.is_none(),
            ExpectedRevision::Exact(expected) => current_revision == Some(expected),
        }
    }
}

impl fmt::Display for ExpectedRevision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedRevision::Any => f.write_str("any revision"),
            ExpectedRevision::NoStream => f.write_str("no stream"),
            ExpectedRevision::Exact(revision) => write!(f, "revision {revision}"),
        }
    }
}

/// One event to append. The log knows nothing of its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Type name of the payload, 1..=64 bytes of `[A-Za-z0-9_.-]`.
    pub event_type: String,
    /// Business time, microseconds since the Unix epoch (UTC), supplied by the caller.
    pub occurred_at_micros: i64,
    /// The encoded event, at most [`MAX_PAYLOAD_BYTES`].
    pub payload: Vec<u8>,
}

/// One append: events for one stream, all or nothing.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    pub stream_id: StreamId,
    pub expected_revision: ExpectedRevision,
    pub request_id: RequestId,
    /// Who causes the events; at most 128 bytes, may be empty.
    pub actor_id: String,
    /// 1..=[`MAX_EVENTS_PER_APPEND`] events.
    pub events: Vec<NewEvent>,
}

impl AppendRequest {
    /// Checks everything that can be checked without the log's state.
    pub(crate) fn validate(&self) -> Result<(), EventLogError> {
        if self.events.is_empty() {
            return Err(EventLogError::invalid("events", "an append needs at least one event"));
        }
        if self.events.len() > MAX_EVENTS_PER_APPEND {
            return Err(EventLogError::invalid(
                "events",
                format!(
                    "{} events, at most {MAX_EVENTS_PER_APPEND} per append",
                    self.events.len()
                ),
            ));
        }
        check_actor_id(&self.actor_id)?;
        for event in &self.events {
            check_event_type(&event.event_type)?;
            check_payload_size(event.payload.len())?;
        }
        Ok(())
    }
}

/// What an append did (or, for a retried request id, what the original append did).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    pub stream_id: StreamId,
    pub first_position: Position,
    pub last_position: Position,
    /// Revision of the last event written by the append.
    pub last_revision: Revision,
    /// Chain hash of the last event written by the append.
    pub last_hash: ChainHash,
    /// True when the request id had been seen before and nothing was written now.
    pub duplicate: bool,
}

/// One event as it stands in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub position: Position,
    /// The exact stored bytes of the encoded [`EventRecord`]; the hash covers these.
    pub record_bytes: Vec<u8>,
    /// Hash of the previous position (zeros before position 1).
    pub prev_hash: ChainHash,
    /// `SHA-256(prev_hash || record_bytes)`.
    pub hash: ChainHash,
    /// `record_bytes`, decoded.
    pub record: EventRecord,
}

/// The last committed (durable) event of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogHead {
    /// 0 when the log is empty.
    pub position: Position,
    /// [`ZERO_HASH`] when the log is empty.
    pub hash: ChainHash,
}
