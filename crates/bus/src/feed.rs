//! The verified feed: follows a district's stream and imports it verbatim into a replica log.
//!
//! Stream sequence N is log position N (the outbox publishes exactly once). The feed reads
//! the stream from the replica's head + 1 with an ephemeral pull consumer, checks every
//! message ([`check_message`]: sequence, headers, record position, both hashes) and imports
//! each batch with [`EventLog::import`], which writes the events and the head atomically.
//! The replica's head is therefore the checkpoint: after a crash, a disconnect or a restart
//! the feed resumes from it, without losing or duplicating anything.
//!
//! A message that does not continue the log stops the feed for good
//! ([`FeedState::Stopped`], [`BusError::Tampered`] naming stream and position): nothing of
//! it is applied and nothing after it is skipped to; an operator has to look. NATS being
//! away is not a break: the feed reconnects with backoff (100 ms doubling to 5 s) and
//! resumes from the head.

use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::consumer::pull;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::ReadyChunks;
use gridledger_eventlog::{
    ChainHash, EventLog, EventLogError, EventRecord, ImportedEvent, LogHead, Position, chain_hash,
};
use prost::Message as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::connection::{NatsConfig, NatsConnection};
use crate::error::{BusError, describe};
use crate::naming::{HEADER_CHAIN_HASH, HEADER_POSITION, HEADER_PREV_HASH};

/// Most messages checked and imported as one batch.
pub(crate) const MAX_BATCH_MESSAGES: usize = 512;
/// How long the reader waits for a message before it looks at the connection and the stream.
pub(crate) const IDLE_PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// Idle heartbeat asked of the server for each pull request.
pub(crate) const PULL_HEARTBEAT: Duration = Duration::from_secs(5);
/// Lifetime of one pull request.
pub(crate) const PULL_EXPIRES: Duration = Duration::from_secs(30);
/// An abandoned consumer (the process died) is removed by the server after this long.
pub(crate) const CONSUMER_INACTIVE_THRESHOLD: Duration = Duration::from_secs(30);
/// First delay before reconnecting after a transient error.
pub(crate) const BACKOFF_INITIAL: Duration = Duration::from_millis(100);
/// Longest delay between reconnection attempts.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What the feed follows and where NATS is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedConfig {
    pub nats: NatsConfig,
    /// The district's stream, e.g. `GRIDLEDGER_RUNZHOU` (see [`crate::stream_name`]).
    pub stream: String,
}

/// Where a feed stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedState {
    /// Connecting to NATS or opening the stream; `reason` says why the last attempt (or the
    /// last session) failed, `None` before the first attempt.
    Connecting { reason: Option<String> },
    /// Reading the stream and importing it.
    Following,
    /// Stopped for good: a message did not continue the log, the replica log refused the
    /// import or failed, or [`Feed::stop`] was called. Needs an operator (or a new feed).
    Stopped { reason: String },
}

/// What a feed reports on [`Feed::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedStatus {
    pub stream: String,
    pub state: FeedState,
    /// The replica log's head: every position up to here is imported and verified.
    pub applied_through: Position,
    /// The stream's last sequence as far as the feed knows (0 before it learns it).
    pub stream_last_sequence: u64,
    /// `stream_last_sequence - applied_through` (0 when the replica is ahead or level).
    pub lag_events: u64,
}

impl FeedStatus {
    /// Whether the feed is following its stream.
    pub fn is_healthy(&self) -> bool {
        matches!(self.state, FeedState::Following)
    }

    /// Why the feed is not following, if it is not and there is a reason.
    pub fn reason(&self) -> Option<&str> {
        match &self.state {
            FeedState::Connecting { reason } => reason.as_deref(),
            FeedState::Following => None,
            FeedState::Stopped { reason } => Some(reason),
        }
    }

    fn set_applied(&mut self, applied_through: Position) {
        self.applied_through = applied_through;
        self.lag_events = self.stream_last_sequence.saturating_sub(applied_through);
    }

    fn learn_last_sequence(&mut self, last_sequence: u64) {
        self.stream_last_sequence = self.stream_last_sequence.max(last_sequence);
        self.lag_events = self.stream_last_sequence.saturating_sub(self.applied_through);
    }
}

/// A running feed. Dropping it stops the feed like [`Feed::stop`], without waiting.
#[derive(Debug)]
pub struct Feed {
    status: watch::Receiver<FeedStatus>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Feed {
    /// A receiver of every status change.
    pub fn status(&self) -> watch::Receiver<FeedStatus> {
        self.status.clone()
    }

    /// Stops the feed and waits until its task has ended: an import under way is finished
    /// first, and nothing is written to the log by this feed afterwards.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        if let Err(error) = self.task.await
            && error.is_panic()
        {
            tracing::error!(%error, "the feed task panicked");
        }
    }
}

/// Starts following `config.stream` into `log` from `log.head().position + 1`, in a task of
/// the current tokio runtime (so it must be called inside one).
///
/// `log` is the replica: nothing else may append to it (its head is the feed's checkpoint).
pub fn start_feed(log: EventLog, config: FeedConfig) -> Feed {
    let head = log.head();
    let initial = FeedStatus {
        stream: config.stream.clone(),
        state: FeedState::Connecting { reason: None },
        applied_through: head.position,
        stream_last_sequence: 0,
        lag_events: 0,
    };
    let (status_sender, status) = watch::channel(initial);
    let (stop, stop_requested) = watch::channel(false);
    let task = tokio::spawn(run_feed(
        log,
        config,
        status_sender,
        StopSignal {
            requested: stop_requested,
        },
    ));
    Feed { status, stop, task }
}

/// The feed's side of [`Feed::stop`] (a dropped [`Feed`] counts as a stop).
struct StopSignal {
    requested: watch::Receiver<bool>,
}

impl StopSignal {
    /// Resolves once a stop is requested; cancel-safe, may be awaited again and again.
    async fn requested(&mut self) {
        // An error means the Feed was dropped: stop as well.
        let _stop_or_dropped = self.requested.wait_for(|stop| *stop).await;
    }
}

async fn run_feed(log: EventLog, config: FeedConfig, status: watch::Sender<FeedStatus>, mut stop: StopSignal) {
    let mut backoff = Backoff::new();
    loop {
        let error = match follow(&log, &config, &status, &mut backoff, &mut stop).await {
            SessionEnd::StopRequested => {
                set_stopped(&log, &status, "the feed was stopped".to_owned());
                return;
            }
            SessionEnd::Failed(error) => error,
        };
        let reason = describe(&error);
        if !feed_retries(&error) {
            tracing::error!(stream = %config.stream, %reason, "feed stopped");
            set_stopped(&log, &status, reason);
            return;
        }
        let delay = backoff.next_delay();
        tracing::warn!(stream = %config.stream, %reason, ?delay, "feed interrupted; resuming from the replica head");
        status.send_modify(|current| {
            current.state = FeedState::Connecting { reason: Some(reason) };
            current.set_applied(log.head().position);
        });
        tokio::select! {
            () = stop.requested() => {
                set_stopped(&log, &status, "the feed was stopped".to_owned());
                return;
            }
            () = tokio::time::sleep(delay) => {}
        }
    }
}

fn set_stopped(log: &EventLog, status: &watch::Sender<FeedStatus>, reason: String) {
    status.send_modify(|current| {
        current.state = FeedState::Stopped { reason };
        current.set_applied(log.head().position);
    });
}

/// How a session of [`follow`] ended.
enum SessionEnd {
    StopRequested,
    Failed(BusError),
}

/// One session: connect, open the stream from the replica's head and import until an error
/// or a stop. A stop interrupts connecting and waiting for messages, never an import.
async fn follow(
    log: &EventLog,
    config: &FeedConfig,
    status: &watch::Sender<FeedStatus>,
    backoff: &mut Backoff,
    stop: &mut StopSignal,
) -> SessionEnd {
    let mut head = log.head();
    let opened = tokio::select! {
        () = stop.requested() => return SessionEnd::StopRequested,
        opened = StreamReader::open(&config.nats, &config.stream, head.position + 1) => opened,
    };
    let mut reader = match opened {
        Ok(reader) => reader,
        Err(error) => return SessionEnd::Failed(error),
    };
    backoff.reset();
    status.send_modify(|current| {
        current.state = FeedState::Following;
        current.learn_last_sequence(reader.last_sequence());
        current.set_applied(head.position);
    });
    loop {
        let batch = tokio::select! {
            () = stop.requested() => return SessionEnd::StopRequested,
            batch = reader.next_batch() => batch,
        };
        let batch = match batch {
            Ok(batch) => batch,
            Err(error) => return SessionEnd::Failed(error),
        };
        match batch {
            ReaderBatch::Messages(messages) => {
                let applied = apply_batch(log, &config.stream, head, &messages).await;
                let last_sequence = reader.last_sequence();
                let applied_through = match &applied {
                    Ok(new_head) => new_head.position,
                    Err(_) => log.head().position,
                };
                status.send_modify(|current| {
                    current.learn_last_sequence(last_sequence);
                    current.set_applied(applied_through);
                });
                match applied {
                    Ok(new_head) => head = new_head,
                    Err(error) => return SessionEnd::Failed(error),
                }
            }
            ReaderBatch::Idle => {
                let probed = tokio::select! {
                    () = stop.requested() => return SessionEnd::StopRequested,
                    probed = reader.probe_while_idle(head.position + 1) => probed,
                };
                if let Err(error) = probed {
                    return SessionEnd::Failed(error);
                }
                let last_sequence = reader.last_sequence();
                status.send_if_modified(|current| {
                    let before = current.stream_last_sequence;
                    current.learn_last_sequence(last_sequence);
                    current.stream_last_sequence != before
                });
            }
        }
    }
}

/// Whether the feed reconnects after `error` (rather than stopping for good).
fn feed_retries(error: &BusError) -> bool {
    error.is_transient()
        // The district has not created its stream yet, or it is being recreated.
        || matches!(error, BusError::StreamNotFound { .. })
        || matches!(
            error,
            BusError::Log(EventLogError::Unavailable { .. } | EventLogError::OutcomeUnknown { .. })
        )
}

/// 100 ms doubling to 5 s.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff { next: BACKOFF_INITIAL }
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        delay
    }

    pub(crate) fn reset(&mut self) {
        self.next = BACKOFF_INITIAL;
    }
}

/// One message of a district's stream, as far as the checks need it.
#[derive(Debug, Clone)]
pub(crate) struct IncomingMessage {
    pub(crate) stream_sequence: u64,
    pub(crate) position_header: Option<String>,
    pub(crate) prev_hash_header: Option<String>,
    pub(crate) chain_hash_header: Option<String>,
    pub(crate) payload: Bytes,
}

/// Checks that `message` continues a log whose last event is `expected_position - 1` with
/// hash `prev_hash`, and returns it ready to import. The one check of the feed and restore.
///
/// In order: the stream sequence is `expected_position` (no gap, no duplicate); the
/// `Gridledger-Position` header is the sequence; the payload decodes as an [`EventRecord`]
/// whose position is the sequence; `Gridledger-Prev-Hash` is `prev_hash`;
/// `Gridledger-Chain-Hash` is `SHA-256(prev_hash || payload)`.
pub(crate) fn check_message(
    stream: &str,
    expected_position: Position,
    prev_hash: &ChainHash,
    message: &IncomingMessage,
) -> Result<ImportedEvent, BusError> {
    let sequence = message.stream_sequence;
    let tampered = |position: Position, reason: String| BusError::Tampered {
        stream: stream.to_owned(),
        position,
        reason,
    };
    if sequence > expected_position {
        return Err(tampered(
            expected_position,
            format!("the stream holds no message at sequence {expected_position}: the next one is {sequence} (a gap)"),
        ));
    }
    if sequence < expected_position {
        return Err(tampered(
            expected_position,
            format!("stream sequence {sequence} arrived again where {expected_position} was due (a duplicate)"),
        ));
    }
    let position_header = message
        .position_header
        .as_deref()
        .ok_or_else(|| tampered(sequence, format!("header {HEADER_POSITION} is missing")))?;
    let header_position: Position = position_header.parse().map_err(|_| {
        tampered(
            sequence,
            format!("header {HEADER_POSITION} is {position_header:?}, not a position"),
        )
    })?;
    if header_position != sequence {
        return Err(tampered(
            sequence,
            format!("header {HEADER_POSITION} says {header_position} but the stream sequence is {sequence}"),
        ));
    }
    let record = EventRecord::decode(message.payload.as_ref()).map_err(|error| {
        tampered(
            sequence,
            format!("the payload does not decode as an EventRecord: {error}"),
        )
    })?;
    if record.position != sequence {
        return Err(tampered(
            sequence,
            format!(
                "the record says position {} but the stream sequence is {sequence}",
                record.position
            ),
        ));
    }
    let expected_prev_hex = hex::encode(prev_hash);
    match message.prev_hash_header.as_deref() {
        None => return Err(tampered(sequence, format!("header {HEADER_PREV_HASH} is missing"))),
        Some(header) if header != expected_prev_hex => {
            return Err(tampered(
                sequence,
                format!(
                    "header {HEADER_PREV_HASH} is {header:?} but the hash of position {} is {expected_prev_hex}",
                    sequence - 1
                ),
            ));
        }
        Some(_) => {}
    }
    let hash = chain_hash(prev_hash, &message.payload);
    let hash_hex = hex::encode(hash);
    match message.chain_hash_header.as_deref() {
        None => Err(tampered(sequence, format!("header {HEADER_CHAIN_HASH} is missing"))),
        Some(header) if header != hash_hex => Err(tampered(
            sequence,
            format!(
                "header {HEADER_CHAIN_HASH} is {header:?} but SHA-256(prev hash || payload) is {hash_hex} \
                 (the payload or the header was altered)"
            ),
        )),
        Some(_) => Ok(ImportedEvent {
            record_bytes: message.payload.to_vec(),
            hash,
        }),
    }
}

/// Checks `messages` in order from `head` and imports them.
///
/// The messages before the first one that fails its check are imported (they continue the
/// log); then that check's [`BusError::Tampered`] is returned. An import the log refuses at
/// a position is [`BusError::Tampered`] at that position too, after the events before it
/// are imported. On any error the log's head says what was imported.
pub(crate) async fn apply_batch(
    log: &EventLog,
    stream: &str,
    head: LogHead,
    messages: &[IncomingMessage],
) -> Result<LogHead, BusError> {
    let (events, refusal) = check_batch(stream, head, messages);
    if events.is_empty() {
        return match refusal {
            Some(error) => Err(error),
            None => Ok(head),
        };
    }
    let new_head = match log.import(events).await {
        Ok(new_head) => new_head,
        Err(EventLogError::ImportRefused { position, reason }) => {
            // The log checks more than the headers do (the stream chain, revisions, ids) and
            // refused the whole batch at `position`: keep what comes before it.
            let before = usize::try_from(position.saturating_sub(head.position + 1)).unwrap_or(usize::MAX);
            if before > 0 && before < messages.len() {
                let (prefix, _) = check_batch(stream, head, &messages[..before]);
                log.import(prefix).await.map_err(|error| import_error(stream, error))?;
            }
            return Err(import_error(stream, EventLogError::ImportRefused { position, reason }));
        }
        Err(error) => return Err(import_error(stream, error)),
    };
    match refusal {
        Some(error) => Err(error),
        None => Ok(new_head),
    }
}

/// The events of `messages` that pass [`check_message`] in order from `head`, and the
/// refusal of the first one that does not.
fn check_batch(stream: &str, head: LogHead, messages: &[IncomingMessage]) -> (Vec<ImportedEvent>, Option<BusError>) {
    let mut events = Vec::with_capacity(messages.len());
    let mut prev_hash = head.hash;
    let mut expected_position = head.position + 1;
    for message in messages {
        match check_message(stream, expected_position, &prev_hash, message) {
            Ok(event) => {
                prev_hash = event.hash;
                expected_position += 1;
                events.push(event);
            }
            Err(error) => return (events, Some(error)),
        }
    }
    (events, None)
}

fn import_error(stream: &str, error: EventLogError) -> BusError {
    match error {
        EventLogError::ImportRefused { position, reason } => BusError::Tampered {
            stream: stream.to_owned(),
            position,
            reason: format!("the replica log refused it: {reason}"),
        },
        other => BusError::Log(other),
    }
}

/// What [`StreamReader::next_batch`] got.
#[derive(Debug)]
pub(crate) enum ReaderBatch {
    /// One or more messages, in delivery order, all that had arrived (at most
    /// [`MAX_BATCH_MESSAGES`]).
    Messages(Vec<IncomingMessage>),
    /// Nothing arrived for [`IDLE_PROBE_INTERVAL`].
    Idle,
}

/// A connection and an ephemeral pull consumer reading a stream in order from a sequence.
///
/// The consumer does not take acknowledgements, so a message lost in transit (a disconnect)
/// is not redelivered: the reader notices (the consumer sequence jumps, or the consumer has
/// delivered what never arrived) and fails with a transient error, after which the caller
/// opens a new reader from its head.
pub(crate) struct StreamReader {
    connection: NatsConnection,
    stream_name: String,
    stream: jetstream::stream::Stream,
    consumer: jetstream::consumer::PullConsumer,
    messages: ReadyChunks<pull::Stream>,
    last_consumer_sequence: u64,
    last_sequence: u64,
}

impl std::fmt::Debug for StreamReader {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("StreamReader")
            .field("stream", &self.stream_name)
            .field("last_consumer_sequence", &self.last_consumer_sequence)
            .field("last_sequence", &self.last_sequence)
            .finish_non_exhaustive()
    }
}

impl StreamReader {
    /// Connects, looks the stream up (learning its last sequence) and starts a consumer at
    /// `start_sequence`.
    pub(crate) async fn open(
        nats: &NatsConfig,
        stream_name: &str,
        start_sequence: u64,
    ) -> Result<StreamReader, BusError> {
        let connection = NatsConnection::connect(nats).await?;
        let stream = get_stream(&connection, stream_name).await?;
        let last_sequence = stream.cached_info().state.last_sequence;
        let consumer = stream
            .create_consumer(pull::Config {
                description: Some("gridledger feed".to_owned()),
                deliver_policy: DeliverPolicy::ByStartSequence { start_sequence },
                ack_policy: AckPolicy::None,
                inactive_threshold: CONSUMER_INACTIVE_THRESHOLD,
                memory_storage: true,
                num_replicas: 1,
                ..Default::default()
            })
            .await
            .map_err(|error| BusError::nats(format!("creating a consumer on stream {stream_name}"), error))?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(MAX_BATCH_MESSAGES)
            .heartbeat(PULL_HEARTBEAT)
            .expires(PULL_EXPIRES)
            .messages()
            .await
            .map_err(|error| BusError::nats(format!("pulling from stream {stream_name}"), error))?
            .ready_chunks(MAX_BATCH_MESSAGES);
        Ok(StreamReader {
            connection,
            stream_name: stream_name.to_owned(),
            stream,
            consumer,
            messages,
            last_consumer_sequence: 0,
            last_sequence,
        })
    }

    /// The stream's last sequence as far as this reader knows.
    pub(crate) fn last_sequence(&self) -> u64 {
        self.last_sequence
    }

    /// The next messages that have arrived (waiting for the first one at most
    /// [`IDLE_PROBE_INTERVAL`]).
    pub(crate) async fn next_batch(&mut self) -> Result<ReaderBatch, BusError> {
        let chunk = match tokio::time::timeout(IDLE_PROBE_INTERVAL, self.messages.next()).await {
            Err(_elapsed) => return Ok(ReaderBatch::Idle),
            Ok(None) => {
                return Err(BusError::nats(
                    format!("reading stream {}", self.stream_name),
                    "the consumer's message stream ended",
                ));
            }
            Ok(Some(chunk)) => chunk,
        };
        let mut messages = Vec::with_capacity(chunk.len());
        for item in chunk {
            let message =
                item.map_err(|error| BusError::nats(format!("reading stream {}", self.stream_name), error))?;
            let info = message.info().map_err(|error| {
                BusError::nats(
                    format!(
                        "reading stream {}: a message without JetStream metadata",
                        self.stream_name
                    ),
                    error,
                )
            })?;
            if info.consumer_sequence != self.last_consumer_sequence + 1 {
                return Err(BusError::nats(
                    format!("reading stream {}", self.stream_name),
                    format!(
                        "the consumer went from delivery {} to {}: messages were lost in transit",
                        self.last_consumer_sequence, info.consumer_sequence
                    ),
                ));
            }
            self.last_consumer_sequence = info.consumer_sequence;
            self.last_sequence = self
                .last_sequence
                .max(info.stream_sequence.saturating_add(info.pending));
            let header = |name: &str| {
                message
                    .headers
                    .as_ref()
                    .and_then(|headers| headers.get(name))
                    .map(|value| value.as_str().to_owned())
            };
            messages.push(IncomingMessage {
                stream_sequence: info.stream_sequence,
                position_header: header(HEADER_POSITION),
                prev_hash_header: header(HEADER_PREV_HASH),
                chain_hash_header: header(HEADER_CHAIN_HASH),
                payload: message.payload.clone(),
            });
        }
        Ok(ReaderBatch::Messages(messages))
    }

    /// Called when nothing arrived for a while and `expected_sequence` is due next: checks
    /// the connection, refreshes the stream's last sequence, and finds out whether the
    /// message is on its way.
    ///
    /// Fails with [`BusError::Tampered`] when the stream's last sequence is at or past
    /// `expected_sequence` but the stream no longer holds it (nor anything after it: the
    /// consumer has delivered everything it has), and with a transient error when the
    /// connection is down or the consumer delivered messages that never arrived.
    pub(crate) async fn probe_while_idle(&mut self, expected_sequence: u64) -> Result<(), BusError> {
        if !self.connection.is_connected() {
            return Err(BusError::nats(
                format!("reading stream {}", self.stream_name),
                "disconnected from NATS",
            ));
        }
        // The stream first, then the consumer: a message in the stream at the first look is
        // delivered or pending at the second.
        let stream_info = self
            .stream
            .get_info()
            .await
            .map_err(|error| BusError::nats(format!("stream info of {}", self.stream_name), error))?;
        let last_sequence = stream_info.state.last_sequence;
        self.last_sequence = self.last_sequence.max(last_sequence);
        if last_sequence < expected_sequence {
            return Ok(());
        }
        let consumer_info = self
            .consumer
            .get_info()
            .await
            .map_err(|error| BusError::nats(format!("consumer info on stream {}", self.stream_name), error))?;
        let delivered = consumer_info.delivered.stream_sequence;
        if delivered >= expected_sequence {
            return Err(BusError::nats(
                format!("reading stream {}", self.stream_name),
                format!("the consumer delivered up to sequence {delivered} but {expected_sequence} never arrived"),
            ));
        }
        if consumer_info.num_pending == 0 {
            return Err(BusError::Tampered {
                stream: self.stream_name.clone(),
                position: expected_sequence,
                reason: format!(
                    "the stream's last sequence is {last_sequence} but it holds no message at \
                     {expected_sequence} or after (deleted or purged)"
                ),
            });
        }
        Ok(())
    }

    /// Deletes the consumer (best effort; the server drops it anyway once it is inactive).
    pub(crate) async fn close(self) {
        let consumer_name = self.consumer.cached_info().name.clone();
        if let Err(error) = self.stream.delete_consumer(&consumer_name).await {
            tracing::debug!(stream = %self.stream_name, %error, "could not delete the feed's consumer");
        }
    }
}

pub(crate) async fn get_stream(
    connection: &NatsConnection,
    stream_name: &str,
) -> Result<jetstream::stream::Stream, BusError> {
    connection
        .jetstream
        .get_stream(stream_name)
        .await
        .map_err(|error| stream_lookup_error(stream_name, error))
}

fn stream_lookup_error(stream_name: &str, error: jetstream::context::GetStreamError) -> BusError {
    use jetstream::context::GetStreamErrorKind;
    match error.kind() {
        GetStreamErrorKind::JetStream(jetstream_error)
            if jetstream_error.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
        {
            BusError::StreamNotFound {
                stream: stream_name.to_owned(),
            }
        }
        GetStreamErrorKind::EmptyName | GetStreamErrorKind::InvalidStreamName => BusError::StreamNotFound {
            stream: stream_name.to_owned(),
        },
        _ => BusError::nats(format!("looking up stream {stream_name}"), error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_bytes(position: Position) -> Vec<u8> {
        EventRecord {
            position,
            stream_id: "issue-1".to_owned(),
            revision: position - 1,
            event_type: "IssueReported".to_owned(),
            event: vec![1, 2, 3],
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn good_message(position: Position, prev_hash: &ChainHash) -> IncomingMessage {
        let payload = record_bytes(position);
        IncomingMessage {
            stream_sequence: position,
            position_header: Some(position.to_string()),
            prev_hash_header: Some(hex::encode(prev_hash)),
            chain_hash_header: Some(hex::encode(chain_hash(prev_hash, &payload))),
            payload: Bytes::from(payload),
        }
    }

    /// Checks `message` as position 2 after `prev_hash`; `Some(fragment)` expects a refusal
    /// at position 2 whose reason contains `fragment`.
    fn check(name: &str, message: &IncomingMessage, prev_hash: &ChainHash, refusal: Option<&str>) {
        match (check_message("S", 2, prev_hash, message), refusal) {
            (Ok(event), None) => {
                assert_eq!(event.record_bytes, message.payload.to_vec(), "{name}");
                assert_eq!(event.hash, chain_hash(prev_hash, &message.payload), "{name}");
            }
            (Err(BusError::Tampered { position, reason, .. }), Some(fragment)) => {
                assert_eq!(position, 2, "{name}: {reason}");
                assert!(reason.contains(fragment), "{name}: {reason:?} lacks {fragment:?}");
            }
            (outcome, expected) => panic!("{name}: got {outcome:?}, expected refusal {expected:?}"),
        }
    }

    #[test]
    fn every_check_names_the_position() {
        let prev_hash = [7u8; 32];
        let good = good_message(2, &prev_hash);
        check("good", &good, &prev_hash, None);

        let gap = IncomingMessage {
            stream_sequence: 3,
            ..good.clone()
        };
        check("gap", &gap, &prev_hash, Some("a gap"));
        let duplicate = IncomingMessage {
            stream_sequence: 1,
            ..good.clone()
        };
        check("duplicate", &duplicate, &prev_hash, Some("a duplicate"));
        let no_position = IncomingMessage {
            position_header: None,
            ..good.clone()
        };
        check("no position header", &no_position, &prev_hash, Some("missing"));
        let wrong_position = IncomingMessage {
            position_header: Some("5".to_owned()),
            ..good.clone()
        };
        check("wrong position header", &wrong_position, &prev_hash, Some("says 5"));
        let garbage = IncomingMessage {
            payload: Bytes::from_static(&[0xff, 0xff, 0xff]),
            ..good.clone()
        };
        check("garbage payload", &garbage, &prev_hash, Some("does not decode"));
        let misplaced = good_message(3, &prev_hash);
        let misplaced = IncomingMessage {
            stream_sequence: 2,
            position_header: Some("2".to_owned()),
            ..misplaced
        };
        check(
            "record position",
            &misplaced,
            &prev_hash,
            Some("record says position 3"),
        );
        check("wrong prev hash", &good, &[8u8; 32], Some(HEADER_PREV_HASH));
        let wrong_hash = IncomingMessage {
            chain_hash_header: Some(hex::encode([9u8; 32])),
            ..good.clone()
        };
        check("wrong chain hash", &wrong_hash, &prev_hash, Some("altered"));
        let mut altered_payload = good.payload.to_vec();
        if let Some(last) = altered_payload.last_mut() {
            *last ^= 0x01;
        }
        let altered = IncomingMessage {
            payload: Bytes::from(altered_payload),
            ..good
        };
        check("altered payload", &altered, &prev_hash, Some("altered"));
    }

    #[test]
    fn backoff_doubles_to_five_seconds_and_resets() {
        let mut backoff = Backoff::new();
        let delays: Vec<u128> = (0..8).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), BACKOFF_INITIAL);
    }
}
