//! A district's checkpoints on the bus: the checkpoint outbox that publishes the district
//! node's signed notes, and the reader a stats node follows them with.
//!
//! Checkpoints never go into the district's event stream, whose sequence N must stay log
//! position N (the outbox, the feed and restore rely on it). They have a stream of their own,
//! [`checkpoint_stream_name`] (`GRIDLEDGER_RUNZHOU_CHECKPOINTS`), created like the event
//! stream (file storage, limits retention without any limit, `deny_delete`, `deny_purge`, the
//! same replicas), with the one subject [`checkpoint_subject`]
//! (`gridledger.checkpoint.runzhou`).
//!
//! A message is one checkpoint: the payload is the note exactly as the district node signed
//! it (the text alone when it runs without a key), with headers [`HEADER_TREE_SIZE`] (the
//! tree size, decimal) and [`HEADER_ROOT_HASH`] (the root, lowercase hex), which repeat what
//! the note says (only the note is signed: a reader checks the headers against it),
//! `Nats-Msg-Id` (the tree size) and `Nats-Expected-Last-Sequence` (the stream's last sequence
//! as the publisher knows it, so that it is the stream's only publisher and never stores a
//! checkpoint twice, however late a retry comes).
//!
//! The publisher sends the newest checkpoint it was offered whenever its tree size is larger
//! than the stream's last one: sizes only grow along the stream. A checkpoint made while NATS
//! was away is skipped when a newer one has been made meanwhile (the newer one covers it; every
//! checkpoint is kept in the node's `checkpoints.jsonl`). Before publishing it checks that the
//! stream's last checkpoint is this log's (its root is the log's root at its size) and refuses
//! a stream that holds another log's checkpoints, as the event outbox does. Offering never
//! blocks, and nothing here ever waits on the log's appends.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::pull;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy};
use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::publish::PublishAck;
use futures_util::StreamExt;
use gridledger_domain::DistrictCode;
use gridledger_eventlog::EventLog;
use gridledger_eventlog::merkle::MerkleHash;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::connection::{NatsConfig, NatsConnection};
use crate::error::{BusError, describe};
use crate::feed::{
    Backoff, CONSUMER_INACTIVE_THRESHOLD, IDLE_PROBE_INTERVAL, PULL_EXPIRES, PULL_HEARTBEAT, get_stream,
};
use crate::naming::{HEADER_ROOT_HASH, HEADER_TREE_SIZE, checkpoint_stream_name, checkpoint_subject};
use crate::outbox::SessionEnd;
use crate::stream::{StreamSettings, ensure_checkpoint_stream, stream_state};

/// How often a publisher looks again at a stream it refused to publish into.
const REFUSED_RETRY_INTERVAL: Duration = Duration::from_secs(30);
/// How often a connected publisher checks its connection while there is nothing to publish.
const CONNECTION_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How long `stop` gives the last checkpoint to be published.
const STOP_PUBLISH_DEADLINE: Duration = Duration::from_secs(5);
/// How long `stop` waits for the task altogether before aborting it.
const STOP_JOIN_DEADLINE: Duration = Duration::from_secs(15);
/// After how many resyncs in a row without progress the publisher stops calling itself
/// publishing (someone else writes into the stream).
const RESYNCS_BEFORE_REPORTING: u32 = 3;
/// The most checkpoint messages the reader asks for at once.
const READER_BATCH: usize = 64;

/// One checkpoint to publish: the note exactly as signed, and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointMessage {
    /// The number of events the note commits to.
    pub tree_size: u64,
    /// Their RFC 6962 Merkle root.
    pub root_hash: MerkleHash,
    /// The signed note, byte for byte (the text alone when unsigned).
    pub note: Vec<u8>,
}

/// Where a district node publishes its checkpoints.
#[derive(Debug, Clone)]
pub struct CheckpointOutboxConfig {
    pub nats: NatsConfig,
    /// The district: its checkpoint stream is `checkpoint_stream_name(district)`.
    pub district: DistrictCode,
    /// Replicas and duplicate window, the same as the district's event stream.
    pub settings: StreamSettings,
}

/// What the checkpoint outbox is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointOutboxState {
    /// Not (yet) publishing: connecting, reconnecting, or waiting to retry after `reason`.
    Connecting { reason: Option<String> },
    /// Connected, the stream checked: publishing each newer checkpoint.
    Publishing,
    /// The stream is not one it may publish into (other settings, another log's
    /// checkpoints): nothing is published; looked at again every 30 s.
    Refused { reason: String },
    /// [`CheckpointOutbox::stop`] was called (or the handle dropped).
    Stopped,
}

/// The checkpoint outbox's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointOutboxStatus {
    /// The district's checkpoint stream.
    pub stream: String,
    pub state: CheckpointOutboxState,
    /// The tree size of the newest checkpoint the stream holds, as far as the publisher
    /// knows (0: none, or not known yet).
    pub published_size: u64,
    /// The tree size of the newest checkpoint offered.
    pub newest_size: u64,
    /// Checkpoints the stream acknowledged to this publisher since it started.
    pub published_total: u64,
}

impl CheckpointOutboxStatus {
    /// Whether it publishes (however far behind).
    pub fn is_healthy(&self) -> bool {
        self.state == CheckpointOutboxState::Publishing
    }

    /// Why it does not publish, if it says.
    pub fn reason(&self) -> Option<String> {
        match &self.state {
            CheckpointOutboxState::Connecting { reason } => reason.clone(),
            CheckpointOutboxState::Refused { reason } => Some(reason.clone()),
            CheckpointOutboxState::Publishing => None,
            CheckpointOutboxState::Stopped => Some("the checkpoint outbox was stopped".to_owned()),
        }
    }
}

/// Where the checkpoint task offers each new checkpoint. Cheap to clone; offering never
/// blocks (the newest offer replaces one not yet published).
#[derive(Debug, Clone)]
pub struct CheckpointSink {
    offers: Arc<watch::Sender<Option<Arc<CheckpointMessage>>>>,
}

impl CheckpointSink {
    /// Offers `checkpoint` for publication.
    pub fn offer(&self, checkpoint: CheckpointMessage) {
        self.offers.send_replace(Some(Arc::new(checkpoint)));
    }
}

/// A running checkpoint outbox. Dropping it stops it, without waiting.
#[derive(Debug)]
pub struct CheckpointOutbox {
    sink: CheckpointSink,
    status: watch::Receiver<CheckpointOutboxStatus>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl CheckpointOutbox {
    /// Where to offer checkpoints.
    pub fn sink(&self) -> CheckpointSink {
        self.sink.clone()
    }

    /// A receiver of every status change.
    pub fn status(&self) -> watch::Receiver<CheckpointOutboxStatus> {
        self.status.clone()
    }

    /// Publishes the newest checkpoint offered if the stream does not hold it yet and NATS is
    /// at hand (within 5 s), then stops. Waits at most 15 s in all.
    pub async fn stop(self) {
        let CheckpointOutbox {
            status, stop, mut task, ..
        } = self;
        stop.send_replace(true);
        if tokio::time::timeout(STOP_JOIN_DEADLINE, &mut task).await.is_err() {
            task.abort();
            tracing::warn!(stream = %status.borrow().stream, "the checkpoint outbox did not stop in time; aborted");
        }
    }
}

/// Starts publishing the checkpoints offered to [`CheckpointOutbox::sink`] to the district's
/// checkpoint stream, in a task of the current tokio runtime. `log` is the district's log, to
/// check that the stream's last checkpoint is its own.
pub fn start_checkpoint_outbox(log: EventLog, config: CheckpointOutboxConfig) -> CheckpointOutbox {
    let stream = checkpoint_stream_name(&config.district);
    let subject = checkpoint_subject(&config.district);
    let (offers, offered) = watch::channel(None);
    let (status_sender, status) = watch::channel(CheckpointOutboxStatus {
        stream: stream.clone(),
        state: CheckpointOutboxState::Connecting { reason: None },
        published_size: 0,
        newest_size: 0,
        published_total: 0,
    });
    let (stop, stop_requested) = watch::channel(false);
    let task = PublisherTask {
        log,
        config,
        stream,
        subject,
        offered,
        status: status_sender,
        stop: stop_requested,
        published_size: 0,
        published_total: 0,
    };
    CheckpointOutbox {
        sink: CheckpointSink {
            offers: Arc::new(offers),
        },
        status,
        stop,
        task: tokio::spawn(task.run()),
    }
}

/// The stream's last checkpoint, as its headers say.
#[derive(Debug, Clone, Copy)]
struct StreamCheckpoint {
    sequence: u64,
    tree_size: u64,
    root_hash: MerkleHash,
}

struct PublisherTask {
    log: EventLog,
    config: CheckpointOutboxConfig,
    stream: String,
    subject: String,
    offered: watch::Receiver<Option<Arc<CheckpointMessage>>>,
    status: watch::Sender<CheckpointOutboxStatus>,
    stop: watch::Receiver<bool>,
    published_size: u64,
    published_total: u64,
}

impl PublisherTask {
    async fn run(mut self) {
        tracing::info!(stream = %self.stream, url = %self.config.nats.url, "checkpoint outbox starting");
        let mut connection: Option<NatsConnection> = None;
        let mut backoff = Backoff::new();
        let mut resyncs_without_progress = 0u32;
        loop {
            if self.stop_requested() {
                break;
            }
            let current = match &connection {
                Some(current) => current.clone(),
                None => {
                    let connected = tokio::select! {
                        biased;
                        () = wait_for_stop(&mut self.stop) => break,
                        connected = NatsConnection::connect(&self.config.nats) => connected,
                    };
                    match connected {
                        Ok(connected) => {
                            connection = Some(connected.clone());
                            connected
                        }
                        Err(error) => {
                            self.set_state(CheckpointOutboxState::Connecting {
                                reason: Some(describe(&error)),
                            });
                            if self.pause(backoff.next_delay()).await {
                                break;
                            }
                            continue;
                        }
                    }
                }
            };
            if !current.is_connected() {
                self.set_state(CheckpointOutboxState::Connecting {
                    reason: Some("disconnected from NATS, reconnecting".to_owned()),
                });
                if self.pause(backoff.next_delay()).await {
                    break;
                }
                continue;
            }
            let published_before = self.published_total;
            let end = self.session(&current).await;
            let progressed = self.published_total != published_before;
            if progressed {
                backoff.reset();
            }
            let stopped = match end {
                SessionEnd::Stopped => true,
                SessionEnd::Resync(reason) => {
                    tracing::debug!(stream = %self.stream, reason, "asking the checkpoint stream where it stands again");
                    resyncs_without_progress = if progressed { 0 } else { resyncs_without_progress + 1 };
                    if resyncs_without_progress >= RESYNCS_BEFORE_REPORTING {
                        self.set_state(CheckpointOutboxState::Connecting { reason: Some(reason) });
                    }
                    self.pause(backoff.next_delay()).await
                }
                SessionEnd::Transient(reason) => {
                    self.set_state(CheckpointOutboxState::Connecting { reason: Some(reason) });
                    self.pause(backoff.next_delay()).await
                }
                SessionEnd::Refused(reason) => {
                    self.set_state(CheckpointOutboxState::Refused { reason });
                    backoff.reset();
                    self.pause(REFUSED_RETRY_INTERVAL).await
                }
            };
            if stopped {
                break;
            }
        }
        self.set_state(CheckpointOutboxState::Stopped);
    }

    fn stop_requested(&self) -> bool {
        *self.stop.borrow() || self.stop.has_changed().is_err()
    }

    /// Waits `duration`; true if a stop came first.
    async fn pause(&mut self, duration: Duration) -> bool {
        tokio::select! {
            biased;
            () = wait_for_stop(&mut self.stop) => true,
            () = tokio::time::sleep(duration) => false,
        }
    }

    /// One connected stretch: check the stream and its last checkpoint, then publish every
    /// newer checkpoint offered.
    async fn session(&mut self, connection: &NatsConnection) -> SessionEnd {
        let district = self.config.district.clone();
        let settings = self.config.settings;
        let ensured = tokio::select! {
            biased;
            () = wait_for_stop(&mut self.stop) => return SessionEnd::Stopped,
            ensured = ensure_checkpoint_stream(connection, &district, &settings) => ensured,
        };
        if let Err(error) = ensured {
            return SessionEnd::of_error(&error);
        }
        let last = tokio::select! {
            biased;
            () = wait_for_stop(&mut self.stop) => return SessionEnd::Stopped,
            last = last_in_stream(connection, &self.stream) => last,
        };
        let last = match last {
            Ok(last) => last,
            Err(error) => return SessionEnd::of_error(&error),
        };
        let mut last_sequence = last.map_or(0, |last| last.sequence);
        // The stream's last checkpoint, until the log is shown to continue it.
        let mut unchecked = last.filter(|last| last.tree_size > 0);
        if let Err(error) = self.check_continues(&mut unchecked) {
            return SessionEnd::of_error(&error);
        }
        if let Some(pending) = unchecked {
            tracing::warn!(
                stream = %self.stream,
                stream_tree_size = pending.tree_size,
                log_head = self.log.head().position,
                "the checkpoint stream is ahead of this log; publishing again once the log has passed it"
            );
        }
        self.published_size = last.map_or(0, |last| last.tree_size);
        self.set_state(CheckpointOutboxState::Publishing);
        self.refresh_status();
        let mut connection_check = tokio::time::interval(CONNECTION_CHECK_INTERVAL);
        connection_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let newest = self.offered.borrow_and_update().clone();
            self.refresh_status();
            if let Some(newest) = newest
                && newest.tree_size > self.published_size
            {
                match self
                    .publish_checked(connection, &newest, &mut last_sequence, &mut unchecked)
                    .await
                {
                    Ok(()) => continue,
                    Err(end) => return end,
                }
            }
            tokio::select! {
                biased;
                () = wait_for_stop(&mut self.stop) => {
                    return self.publish_before_stopping(connection, last_sequence, unchecked).await;
                }
                changed = self.offered.changed() => {
                    if changed.is_err() {
                        // Nobody can offer any more: wait for the stop.
                        wait_for_stop(&mut self.stop).await;
                        return SessionEnd::Stopped;
                    }
                }
                _ = connection_check.tick() => {
                    if !connection.is_connected() {
                        return SessionEnd::Transient("lost the connection to NATS".to_owned());
                    }
                }
            }
        }
    }

    /// At a stop: the newest checkpoint, if the stream does not hold it yet, within 5 s.
    async fn publish_before_stopping(
        &mut self,
        connection: &NatsConnection,
        mut last_sequence: u64,
        mut unchecked: Option<StreamCheckpoint>,
    ) -> SessionEnd {
        let newest = self.offered.borrow_and_update().clone();
        self.refresh_status();
        if let Some(newest) = newest
            && newest.tree_size > self.published_size
        {
            let published = tokio::time::timeout(
                STOP_PUBLISH_DEADLINE,
                self.publish_checked(connection, &newest, &mut last_sequence, &mut unchecked),
            )
            .await;
            if !matches!(published, Ok(Ok(()))) {
                tracing::warn!(
                    stream = %self.stream,
                    tree_size = newest.tree_size,
                    "stopping without publishing the last checkpoint; the next start publishes a newer one"
                );
            }
        }
        SessionEnd::Stopped
    }

    /// Publishes `newest` after the stream's last sequence, once the log is shown to continue
    /// the stream's last checkpoint.
    async fn publish_checked(
        &mut self,
        connection: &NatsConnection,
        newest: &CheckpointMessage,
        last_sequence: &mut u64,
        unchecked: &mut Option<StreamCheckpoint>,
    ) -> Result<(), SessionEnd> {
        self.check_continues(unchecked)
            .map_err(|error| SessionEnd::of_error(&error))?;
        if unchecked.is_some() {
            // The log has not reached the stream's last checkpoint yet: nothing to publish.
            return Ok(());
        }
        // The ack may take the JetStream timeout (10 s) when the connection is lost under it.
        let ack = tokio::select! {
            ack = self.publish(connection, newest, *last_sequence) => ack,
            () = lost(connection) => {
                return Err(SessionEnd::Transient(format!(
                    "publishing the checkpoint of size {}: lost the connection to NATS",
                    newest.tree_size
                )));
            }
        };
        match ack {
            Ok(ack) if ack.stream == self.stream && !ack.duplicate => {
                *last_sequence = ack.sequence;
                self.published_size = newest.tree_size;
                self.published_total += 1;
                self.refresh_status();
                tracing::debug!(stream = %self.stream, tree_size = newest.tree_size, sequence = ack.sequence, "checkpoint published");
                Ok(())
            }
            Ok(ack) if ack.duplicate => Err(SessionEnd::Resync(format!(
                "the checkpoint of size {} was already stored (sequence {})",
                newest.tree_size, ack.sequence
            ))),
            Ok(ack) => Err(SessionEnd::Refused(
                BusError::Conflict {
                    stream: self.stream.clone(),
                    reason: format!(
                        "the checkpoint of size {} was acknowledged by stream {}",
                        newest.tree_size, ack.stream
                    ),
                }
                .to_string(),
            )),
            Err(error) if error.kind() == PublishErrorKind::WrongLastSequence => Err(SessionEnd::Resync(format!(
                "publishing the checkpoint of size {}: {error}",
                newest.tree_size
            ))),
            Err(error) => Err(SessionEnd::Transient(format!(
                "publishing the checkpoint of size {}: {error}",
                newest.tree_size
            ))),
        }
    }

    async fn publish(
        &self,
        connection: &NatsConnection,
        checkpoint: &CheckpointMessage,
        last_sequence: u64,
    ) -> Result<PublishAck, PublishError> {
        let message = PublishMessage::build()
            .message_id(checkpoint.tree_size.to_string())
            .expected_last_sequence(last_sequence)
            .header(HEADER_TREE_SIZE, checkpoint.tree_size.to_string())
            .header(HEADER_ROOT_HASH, hex::encode(checkpoint.root_hash))
            .payload(checkpoint.note.clone().into());
        connection
            .jetstream
            .send_publish(self.subject.clone(), message)
            .await?
            .await
    }

    /// Refuses a stream whose last checkpoint is not this log's: its root differs from the
    /// log's root at its size. Clears `unchecked` once checked; leaves it while the log is
    /// behind it.
    fn check_continues(&self, unchecked: &mut Option<StreamCheckpoint>) -> Result<(), BusError> {
        let Some(last) = *unchecked else {
            return Ok(());
        };
        if last.tree_size > self.log.head().position {
            return Ok(());
        }
        let root = self.log.merkle_root(last.tree_size)?;
        if root != last.root_hash {
            return Err(BusError::Conflict {
                stream: self.stream.clone(),
                reason: format!(
                    "its last checkpoint (sequence {}) is of size {} with root {}, but this log's root at size {} \
                     is {}: the stream holds another log's checkpoints, or this log is not the one they were \
                     signed for",
                    last.sequence,
                    last.tree_size,
                    hex::encode(last.root_hash),
                    last.tree_size,
                    hex::encode(root)
                ),
            });
        }
        *unchecked = None;
        Ok(())
    }

    fn set_state(&mut self, state: CheckpointOutboxState) {
        if self.status.borrow().state == state {
            return;
        }
        match &state {
            CheckpointOutboxState::Connecting { reason } => {
                tracing::warn!(stream = %self.stream, reason = reason.as_deref().unwrap_or(""), "checkpoint outbox not publishing");
            }
            CheckpointOutboxState::Publishing => {
                tracing::info!(stream = %self.stream, published_size = self.published_size, "checkpoint outbox publishing");
            }
            CheckpointOutboxState::Refused { reason } => {
                tracing::error!(stream = %self.stream, reason, "checkpoint outbox refuses to publish; retrying in 30 s");
            }
            CheckpointOutboxState::Stopped => {
                tracing::info!(stream = %self.stream, published_size = self.published_size, "checkpoint outbox stopped");
            }
        }
        self.status.send_modify(|status| status.state = state);
    }

    fn refresh_status(&self) {
        let newest_size = self.offered.borrow().as_ref().map_or(0, |newest| newest.tree_size);
        let (published_size, published_total) = (self.published_size, self.published_total);
        self.status.send_if_modified(|status| {
            let changed = (status.published_size, status.newest_size, status.published_total)
                != (published_size, newest_size, published_total);
            status.published_size = published_size;
            status.newest_size = newest_size;
            status.published_total = published_total;
            changed
        });
    }
}

/// The stream's last message, read as a checkpoint (`None` for an empty stream).
async fn last_in_stream(connection: &NatsConnection, stream: &str) -> Result<Option<StreamCheckpoint>, BusError> {
    let state = stream_state(connection, stream).await?;
    if state.last_sequence == 0 {
        return Ok(None);
    }
    let sequence = state.last_sequence;
    let handle = connection
        .jetstream
        .get_stream_no_info(stream)
        .await
        .map_err(|error| BusError::nats(format!("opening stream {stream}"), error))?;
    let message = handle
        .get_raw_message(sequence)
        .await
        .map_err(|error| BusError::nats(format!("reading message {sequence} of {stream}"), error))?;
    let header = |name: &str| message.headers.get(name).map(|value| value.as_str().to_owned());
    let not_ours = |what: String| BusError::Conflict {
        stream: stream.to_owned(),
        reason: format!("its last message (sequence {sequence}) {what}: it is not a gridledger checkpoint"),
    };
    let tree_size = header(HEADER_TREE_SIZE)
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(|| not_ours(format!("has no decimal {HEADER_TREE_SIZE}")))?;
    let root_hash = header(HEADER_ROOT_HASH)
        .and_then(|text| decode_hash_hex(&text))
        .ok_or_else(|| not_ours(format!("has no 64-hex-digit {HEADER_ROOT_HASH}")))?;
    Ok(Some(StreamCheckpoint {
        sequence,
        tree_size,
        root_hash,
    }))
}

/// Resolves once the connection is lost (looked at every 250 ms).
async fn lost(connection: &NatsConnection) {
    while connection.is_connected() {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Resolves once a stop is asked for, or the handle is gone.
async fn wait_for_stop(stop: &mut watch::Receiver<bool>) {
    let _stopped_or_dropped = stop.wait_for(|stopped| *stopped).await;
}

/// 32 bytes from 64 lowercase hex digits.
fn decode_hash_hex(text: &str) -> Option<MerkleHash> {
    if text.len() != 64 || !text.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    hex::decode(text).ok()?.try_into().ok()
}

/// One message of a checkpoint stream, as it arrived: nothing in it is checked here (the
/// stats node opens the note, checks its signature and compares it with its replica).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedCheckpoint {
    /// The message's stream sequence.
    pub sequence: u64,
    /// [`HEADER_TREE_SIZE`], as sent.
    pub tree_size_header: Option<String>,
    /// [`HEADER_ROOT_HASH`], as sent.
    pub root_hash_header: Option<String>,
    /// The payload: the note.
    pub note: Vec<u8>,
}

/// Reads a checkpoint stream in order from a sequence, with an ephemeral pull consumer (no
/// acknowledgements, removed by the server 30 s after its reader is gone). A message lost in
/// transit or a lost connection is an error ([`BusError::is_transient`]); the caller opens a
/// new reader after the last message it handled.
pub struct CheckpointReader {
    connection: NatsConnection,
    stream_name: String,
    messages: pull::Stream,
    last_consumer_sequence: u64,
    last_sequence: u64,
}

impl std::fmt::Debug for CheckpointReader {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CheckpointReader")
            .field("stream", &self.stream_name)
            .field("last_consumer_sequence", &self.last_consumer_sequence)
            .field("last_sequence", &self.last_sequence)
            .finish_non_exhaustive()
    }
}

impl CheckpointReader {
    /// Connects and reads `stream` (a checkpoint stream, e.g.
    /// `GRIDLEDGER_RUNZHOU_CHECKPOINTS`) from `start_sequence` on.
    /// [`BusError::StreamNotFound`] while the district node has not created it.
    pub async fn open(nats: &NatsConfig, stream: &str, start_sequence: u64) -> Result<CheckpointReader, BusError> {
        let connection = NatsConnection::connect(nats).await?;
        let handle = get_stream(&connection, stream).await?;
        let last_sequence = handle.cached_info().state.last_sequence;
        let consumer = handle
            .create_consumer(pull::Config {
                description: Some("gridledger checkpoint witness".to_owned()),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: start_sequence.max(1),
                },
                ack_policy: AckPolicy::None,
                inactive_threshold: CONSUMER_INACTIVE_THRESHOLD,
                memory_storage: true,
                num_replicas: 1,
                ..Default::default()
            })
            .await
            .map_err(|error| BusError::nats(format!("creating a consumer on stream {stream}"), error))?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(READER_BATCH)
            .heartbeat(PULL_HEARTBEAT)
            .expires(PULL_EXPIRES)
            .messages()
            .await
            .map_err(|error| BusError::nats(format!("pulling from stream {stream}"), error))?;
        Ok(CheckpointReader {
            connection,
            stream_name: stream.to_owned(),
            messages,
            last_consumer_sequence: 0,
            last_sequence,
        })
    }

    /// The stream's last sequence as far as this reader knows.
    pub fn last_sequence(&self) -> u64 {
        self.last_sequence
    }

    /// The next message, or `None` when none arrived for a couple of seconds (the
    /// connection is checked then).
    pub async fn next(&mut self) -> Result<Option<ReceivedCheckpoint>, BusError> {
        let context = || format!("reading stream {}", self.stream_name);
        let item = match tokio::time::timeout(IDLE_PROBE_INTERVAL, self.messages.next()).await {
            Err(_elapsed) => {
                if !self.connection.is_connected() {
                    return Err(BusError::nats(context(), "disconnected from NATS"));
                }
                return Ok(None);
            }
            Ok(None) => return Err(BusError::nats(context(), "the consumer's message stream ended")),
            Ok(Some(item)) => item,
        };
        let message = item.map_err(|error| BusError::nats(context(), error))?;
        let info = message
            .info()
            .map_err(|error| BusError::nats(format!("{}: a message without JetStream metadata", context()), error))?;
        if info.consumer_sequence != self.last_consumer_sequence + 1 {
            return Err(BusError::nats(
                context(),
                format!(
                    "the consumer went from delivery {} to {}: messages were lost in transit",
                    self.last_consumer_sequence, info.consumer_sequence
                ),
            ));
        }
        self.last_consumer_sequence = info.consumer_sequence;
        let sequence = info.stream_sequence;
        self.last_sequence = self.last_sequence.max(sequence.saturating_add(info.pending));
        let header = |name: &str| {
            message
                .headers
                .as_ref()
                .and_then(|headers| headers.get(name))
                .map(|value| value.as_str().to_owned())
        };
        Ok(Some(ReceivedCheckpoint {
            sequence,
            tree_size_header: header(HEADER_TREE_SIZE),
            root_hash_header: header(HEADER_ROOT_HASH),
            note: message.payload.to_vec(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_headers_are_64_lowercase_hex_digits() {
        let hash = [0xabu8; 32];
        assert_eq!(decode_hash_hex(&hex::encode(hash)), Some(hash));
        for bad in ["", "ab", &"AB".repeat(32), &"ab".repeat(33), &"zz".repeat(32)] {
            assert_eq!(decode_hash_hex(bad), None, "{bad}");
        }
    }
}
