//! The outbox: publishes every committed event of a district's log to the district's
//! stream, in position order, exactly once, without ever holding up an append.
//!
//! How "exactly once" holds. The outbox is the stream's only publisher and the stream keeps
//! everything, so stream sequence N is log position N. Each message carries
//! `Nats-Expected-Last-Sequence: N-1`: the stream stores it only right after N-1, so a late
//! or repeated publish of a position already stored is refused ("wrong last sequence") no
//! matter how long ago the first one was, and the refusal tells the outbox to ask the stream
//! where it stands and go on from there. `Nats-Msg-Id` (the event id, see below) adds the
//! stream's own duplicate detection inside its duplicate window: where the server answers a
//! republication with the first one's sequence (`duplicate`), it counts as published (a
//! single nats-server 2.15 checks the expected last sequence first and answers "wrong last
//! sequence" even inside the window; either way nothing is stored twice). Where to resume
//! always comes from the stream (its last sequence S: resume at S+1), never from a local
//! cursor. Before resuming, the outbox checks that the messages it has not seen
//! acknowledged, up to S, carry the log's chain hashes at their sequences (on its first
//! look, message S alone): another publisher's message is refused ([`BusError::Conflict`]),
//! though the rest of a pipelined window may already have landed after it.
//!
//! A message of position N: subject `event_subject(grid, event_type)`, payload the exact
//! stored record bytes, headers `Nats-Msg-Id` (the event id as a hyphenated UUID,
//! `0190f5c2-7a4e-7c3b-9d1e-2f6a8b0c4d5e`), `Nats-Expected-Last-Sequence` (N-1),
//! [`HEADER_POSITION`] (N), [`HEADER_CHAIN_HASH`] and [`HEADER_PREV_HASH`] (lowercase hex).
//!
//! Evidence goes first. An event that references photos or videos (a report, a handling in
//! the grid, a resolution) is published only once every blob it names is in the district's
//! evidence bucket ([`crate::EvidenceBucket`], `GRIDLEDGER_<DISTRICT>_EVIDENCE`), put there
//! from the node's evidence store ([`OutboxConfig::evidence`]) if it was not already; the
//! digests known to be there are remembered (the last 10,000), so that a blob costs a round
//! trip once. A blob the store does not hold, or holds damaged, stops the outbox before that
//! event ([`OutboxState::Refused`], naming the blob and the position; looked at again every
//! 30 s): an event is never published ahead of its evidence.
//!
//! The outbox runs as a task next to the log: appends never wait for it. Its
//! [`OutboxStatus`] says what it is doing and how far behind it is.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::publish::PublishAck;
use futures_util::FutureExt;
use futures_util::stream::{FuturesOrdered, StreamExt};
use gridledger_codec::decode_recorded;
use gridledger_domain::{DistrictCode, EvidenceRef, GridCode, IssueEventBody, Registry, Sha256Digest};
use gridledger_eventlog::{EventLog, Position, RecordedEvent, StreamId};
use gridledger_evidence::{EvidenceError, EvidenceStore};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::connection::{NatsConfig, NatsConnection};
use crate::error::{BusError, describe};
use crate::evidence_bucket::{BlobPut, EvidenceBucket};
use crate::naming::{HEADER_CHAIN_HASH, HEADER_POSITION, HEADER_PREV_HASH, event_subject, stream_name};
use crate::registry::publish_registry;
use crate::stream::{StreamSettings, ensure_district_stream, stream_state};

/// How many publishes may await their ack at once when the config does not say.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;
/// The most publishes awaiting their ack at once, whatever the config says (below the
/// JetStream context's own limit of pending acks, which would otherwise block a publish).
const MAX_IN_FLIGHT_LIMIT: usize = 4096;
/// First wait after a failed connection or a transient failure; doubles up to the next.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
const LONGEST_RETRY_DELAY: Duration = Duration::from_secs(5);
/// After how many "wrong last sequence" in a row without progress the outbox stops calling
/// itself publishing.
const RESYNCS_BEFORE_REPORTING: u32 = 3;
/// How often the outbox looks again at a stream it refused to publish into.
const REFUSED_RETRY_INTERVAL: Duration = Duration::from_secs(30);
/// How often the status is refreshed (lag, log head) and the connection checked.
const STATUS_INTERVAL: Duration = Duration::from_secs(1);
/// How often, at most, a lag is logged.
const LAG_LOG_INTERVAL: Duration = Duration::from_secs(5);
/// From how many seconds behind the outbox counts as lagging (and logs it).
const LAG_LOG_THRESHOLD_SECONDS: f64 = 1.0;
/// How long `stop` waits for the acks of messages in flight.
const STOP_DRAIN_DEADLINE: Duration = Duration::from_secs(10);
/// How long `stop` waits for the task altogether before aborting it.
const STOP_JOIN_DEADLINE: Duration = Duration::from_secs(15);
/// How many issue streams' grids the outbox remembers (oldest forgotten first).
const GRID_CACHE_CAPACITY: usize = 100_000;
/// How many evidence digests the outbox remembers as being in the bucket (oldest forgotten
/// first; one forgotten costs a round trip to the bucket the next time it is referenced).
const REPLICATED_CACHE_CAPACITY: usize = 10_000;

/// What the outbox publishes, where, and how.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// The NATS servers.
    pub nats: NatsConfig,
    /// The district whose log this is: its stream is `stream_name(district)`, and every
    /// event's grid must belong to it.
    pub district: DistrictCode,
    /// The district's registry, published to [`crate::REGISTRY_BUCKET`] on each (re)start.
    pub registry: Registry,
    /// The stream's replicas and duplicate window (also the registry bucket's replicas).
    pub settings: StreamSettings,
    /// How many publishes may await their ack at once (1..=4096; default 256).
    pub max_in_flight: usize,
    /// The node's evidence store: the blobs an event references are put from it into the
    /// district's evidence bucket (created with `settings`' replicas) before the event is
    /// published. `None` creates no bucket, and an event that references evidence is then
    /// refused (never published without its blobs).
    pub evidence: Option<EvidenceStore>,
}

impl OutboxConfig {
    /// A config with the default stream settings and window.
    pub fn new(nats: NatsConfig, district: DistrictCode, registry: Registry) -> OutboxConfig {
        OutboxConfig {
            nats,
            district,
            registry,
            settings: StreamSettings::default(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            evidence: None,
        }
    }
}

/// What the outbox is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxState {
    /// Not (yet) publishing: connecting, reconnecting, or waiting to retry after `reason`.
    Connecting { reason: Option<String> },
    /// Connected, the stream checked: publishing whatever the log commits.
    Publishing,
    /// The stream is not one the outbox may publish into (other settings, another log's
    /// messages) or an event cannot be published (its grid is unknown; evidence it
    /// references is not in the evidence store, or damaged there): nothing is published;
    /// looked at again every 30 s.
    Refused { reason: String },
    /// [`Outbox::stop`] was called (or the handle dropped).
    Stopped,
}

/// The outbox's progress, as [`Outbox::status`] reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxStatus {
    /// The district's stream.
    pub stream: String,
    pub state: OutboxState,
    /// The highest position the stream has acknowledged (or, on (re)start, holds).
    pub published_through: Position,
    /// The log's committed head when the status was made.
    pub log_head: Position,
    /// `log_head - published_through`.
    pub lag_events: u64,
    /// Seconds since the oldest unpublished event was committed; 0 when caught up.
    pub lag_seconds: f64,
    /// Messages the stream acknowledged to this outbox since it started (a duplicate
    /// recognised by its `Nats-Msg-Id` counts: it is stored once, at its position).
    pub published_total: u64,
}

impl OutboxStatus {
    /// Whether the outbox is publishing (however far behind).
    pub fn is_healthy(&self) -> bool {
        self.state == OutboxState::Publishing
    }

    /// Why the outbox is not publishing, if it says.
    pub fn reason(&self) -> Option<String> {
        match &self.state {
            OutboxState::Connecting { reason } => reason.clone(),
            OutboxState::Refused { reason } => Some(reason.clone()),
            OutboxState::Publishing => None,
            OutboxState::Stopped => Some("the outbox was stopped".to_owned()),
        }
    }
}

/// The handle of a running outbox. Dropping it stops the outbox as [`Outbox::stop`] does,
/// without waiting.
#[derive(Debug)]
pub struct Outbox {
    status: watch::Receiver<OutboxStatus>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Outbox {
    /// A receiver of every status change (and of a refreshed status at least every second
    /// while the log or the outbox moves).
    pub fn status(&self) -> watch::Receiver<OutboxStatus> {
        self.status.clone()
    }

    /// Stops publishing: no new message is sent, the acks of those in flight are awaited
    /// (up to 10 s), then the task ends. Waits at most 15 s in all.
    pub async fn stop(self) {
        let Outbox { status, stop, mut task } = self;
        stop.send_replace(true);
        if tokio::time::timeout(STOP_JOIN_DEADLINE, &mut task).await.is_err() {
            task.abort();
            tracing::warn!(stream = %status.borrow().stream, "the outbox did not stop in time; aborted");
        }
    }
}

/// Starts publishing `log` to the district's stream, in a task of the current tokio
/// runtime (so it must be called inside one). It connects (retrying forever), creates or
/// checks the stream, publishes the registry, asks the stream where it stands and follows
/// the log from there; see the module documentation.
pub fn start_outbox(log: EventLog, mut config: OutboxConfig) -> Outbox {
    config.max_in_flight = config.max_in_flight.clamp(1, MAX_IN_FLIGHT_LIMIT);
    let stream = stream_name(&config.district);
    let head = log.head().position;
    let (status_sender, status_receiver) = watch::channel(OutboxStatus {
        stream: stream.clone(),
        state: OutboxState::Connecting { reason: None },
        published_through: 0,
        log_head: head,
        lag_events: head,
        lag_seconds: 0.0,
        published_total: 0,
    });
    let (stop_sender, stop_receiver) = watch::channel(false);
    let task = OutboxTask {
        log,
        config,
        stream,
        status: status_sender,
        stop: stop_receiver,
        grids: GridCache::default(),
        evidence_bucket: None,
        replicated: ReplicatedDigests::default(),
        published_through: 0,
        published_total: 0,
        stream_checked: false,
        oldest_unpublished: None,
        last_lag_log: None,
    };
    Outbox {
        status: status_receiver,
        stop: stop_sender,
        task: tokio::spawn(task.run()),
    }
}

/// Why a session (one connected stretch of publishing) ended; the checkpoint outbox's
/// sessions end the same ways.
#[derive(Debug)]
pub(crate) enum SessionEnd {
    Stopped,
    /// The stream is elsewhere than the outbox thought (a publish met "wrong last
    /// sequence"): ask it again and go on.
    Resync(String),
    /// NATS is down, slow or failed: retry after a growing delay.
    Transient(String),
    /// The outbox must not publish: retry in 30 s, in case the operator fixes it.
    Refused(String),
}

impl SessionEnd {
    pub(crate) fn of_error(error: &BusError) -> SessionEnd {
        match error {
            BusError::StreamConfigMismatch { .. }
            | BusError::Conflict { .. }
            | BusError::Tampered { .. }
            | BusError::Registry { .. }
            | BusError::Credentials { .. }
            | BusError::EvidenceNotHeld { .. }
            | BusError::EvidenceMissing { .. }
            | BusError::Decode { .. } => SessionEnd::Refused(describe(error)),
            // A damaged blob needs someone; a failing file system may come back by itself.
            BusError::Evidence { source, .. } if !matches!(source, EvidenceError::Io { .. }) => {
                SessionEnd::Refused(describe(error))
            }
            _ => SessionEnd::Transient(describe(error)),
        }
    }
}

/// Resolves once a stop is asked for, or the handle is gone.
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    // An error means the handle was dropped, which stops the outbox as well.
    let _ = stop.wait_for(|stopped| *stopped).await;
}

fn is_stop_requested(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

/// `future`'s output, or `None` if a stop comes first.
async fn unless_stopped<F: Future>(stop: &mut watch::Receiver<bool>, future: F) -> Option<F::Output> {
    tokio::select! {
        biased;
        () = stop_requested(stop) => None,
        output = future => Some(output),
    }
}

/// 100 ms doubling to 5 s.
#[derive(Debug)]
struct RetryDelay {
    next: Duration,
}

impl RetryDelay {
    fn new() -> RetryDelay {
        RetryDelay {
            next: FIRST_RETRY_DELAY,
        }
    }

    fn next(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(LONGEST_RETRY_DELAY);
        delay
    }

    fn reset(&mut self) {
        self.next = FIRST_RETRY_DELAY;
    }
}

/// The grid of each issue stream seen lately, forgetting the oldest beyond its capacity.
#[derive(Debug, Default)]
struct GridCache {
    grids: HashMap<String, GridCode>,
    insertion_order: VecDeque<String>,
}

impl GridCache {
    fn get(&self, stream_id: &str) -> Option<&GridCode> {
        self.grids.get(stream_id)
    }

    fn insert(&mut self, stream_id: &str, grid: &GridCode) {
        if self.grids.contains_key(stream_id) {
            return;
        }
        self.grids.insert(stream_id.to_owned(), grid.clone());
        self.insertion_order.push_back(stream_id.to_owned());
        while self.insertion_order.len() > GRID_CACHE_CAPACITY {
            if let Some(oldest) = self.insertion_order.pop_front() {
                self.grids.remove(&oldest);
            }
        }
    }
}

/// The evidence digests known to be in the bucket, forgetting the oldest beyond its
/// capacity.
#[derive(Debug, Default)]
struct ReplicatedDigests {
    known: HashSet<Sha256Digest>,
    insertion_order: VecDeque<Sha256Digest>,
}

impl ReplicatedDigests {
    fn contains(&self, sha256: &Sha256Digest) -> bool {
        self.known.contains(sha256)
    }

    fn insert(&mut self, sha256: Sha256Digest) {
        if !self.known.insert(sha256) {
            return;
        }
        self.insertion_order.push_back(sha256);
        while self.insertion_order.len() > REPLICATED_CACHE_CAPACITY {
            if let Some(oldest) = self.insertion_order.pop_front() {
                self.known.remove(&oldest);
            }
        }
    }

    fn clear(&mut self) {
        self.known.clear();
        self.insertion_order.clear();
    }
}

/// Where an event goes, and the evidence that must be in the bucket before it.
#[derive(Debug)]
struct Route {
    grid: GridCode,
    evidence: Vec<EvidenceRef>,
}

/// Puts every blob of `evidence` that is not known to be in `bucket` there from `store`,
/// for the event at `position`.
async fn replicate_evidence(
    bucket: Option<&EvidenceBucket>,
    store: Option<&EvidenceStore>,
    replicated: &mut ReplicatedDigests,
    evidence: &[EvidenceRef],
    position: Position,
) -> Result<(), BusError> {
    for reference in evidence {
        if replicated.contains(&reference.sha256) {
            continue;
        }
        let (Some(bucket), Some(store)) = (bucket, store) else {
            return Err(BusError::EvidenceNotHeld {
                sha256: reference.sha256,
                position,
                reason: "cannot be replicated: the outbox was given no evidence store".to_owned(),
            });
        };
        if bucket.put_blob(store, reference, position).await? == BlobPut::Stored {
            tracing::info!(
                bucket = bucket.name(),
                sha256 = %reference.sha256,
                size = reference.size,
                position,
                "evidence blob put into the bucket"
            );
        }
        replicated.insert(reference.sha256);
    }
    Ok(())
}

/// A message sent and not yet acknowledged.
#[derive(Debug)]
struct InFlight {
    position: Position,
    recorded_at_micros: i64,
}

type AckFuture = Pin<Box<dyn Future<Output = (Position, Result<PublishAck, PublishError>)> + Send>>;

struct OutboxTask {
    log: EventLog,
    config: OutboxConfig,
    stream: String,
    status: watch::Sender<OutboxStatus>,
    stop: watch::Receiver<bool>,
    grids: GridCache,
    /// The evidence bucket, opened (or created) by each session when there is a store.
    evidence_bucket: Option<EvidenceBucket>,
    /// Evidence known to be in the bucket.
    replicated: ReplicatedDigests,
    published_through: Position,
    published_total: u64,
    /// Whether the outbox has checked where the stream stands once (from then on, every
    /// position through `published_through` is known to be the log's).
    stream_checked: bool,
    /// The commit time of one position, read from the log for the lag.
    oldest_unpublished: Option<(Position, i64)>,
    last_lag_log: Option<Instant>,
}

impl OutboxTask {
    async fn run(mut self) {
        tracing::info!(stream = %self.stream, url = %self.config.nats.url, "outbox starting");
        let mut connection: Option<NatsConnection> = None;
        let mut retry_delay = RetryDelay::new();
        let mut resyncs_without_progress = 0;
        loop {
            if is_stop_requested(&self.stop) {
                break;
            }
            let current = match &connection {
                Some(current) => current.clone(),
                None => match unless_stopped(&mut self.stop, NatsConnection::connect(&self.config.nats)).await {
                    None => break,
                    Some(Ok(connected)) => {
                        connection = Some(connected.clone());
                        connected
                    }
                    Some(Err(error)) => {
                        self.set_state(OutboxState::Connecting {
                            reason: Some(describe(&error)),
                        });
                        if self.pause(retry_delay.next()).await {
                            break;
                        }
                        continue;
                    }
                },
            };
            if !current.is_connected() {
                // The client reconnects by itself; look again shortly.
                self.set_state(OutboxState::Connecting {
                    reason: Some("disconnected from NATS, reconnecting".to_owned()),
                });
                if self.pause(FIRST_RETRY_DELAY).await {
                    break;
                }
                continue;
            }
            let published_before = (self.published_total, self.published_through);
            let end = self.session(&current).await;
            let progressed = (self.published_total, self.published_through) != published_before;
            if progressed {
                retry_delay.reset();
            }
            let stopped = match end {
                SessionEnd::Stopped => true,
                SessionEnd::Resync(reason) => {
                    tracing::debug!(stream = %self.stream, reason, "asking the stream where it stands again");
                    resyncs_without_progress = if progressed { 0 } else { resyncs_without_progress + 1 };
                    if resyncs_without_progress >= RESYNCS_BEFORE_REPORTING {
                        self.set_state(OutboxState::Connecting { reason: Some(reason) });
                    }
                    resyncs_without_progress > 0 && self.pause(retry_delay.next()).await
                }
                SessionEnd::Transient(reason) => {
                    self.set_state(OutboxState::Connecting { reason: Some(reason) });
                    self.pause(retry_delay.next()).await
                }
                SessionEnd::Refused(reason) => {
                    self.set_state(OutboxState::Refused { reason });
                    retry_delay.reset();
                    self.pause(REFUSED_RETRY_INTERVAL).await
                }
            };
            if stopped {
                break;
            }
        }
        self.refresh_status(&VecDeque::new());
        self.set_state(OutboxState::Stopped);
    }

    /// Waits `duration` (refreshing the status every second); true if a stop came.
    async fn pause(&mut self, duration: Duration) -> bool {
        let until = Instant::now() + duration;
        loop {
            self.refresh_status(&VecDeque::new());
            let wake = until.min(Instant::now() + STATUS_INTERVAL);
            if unless_stopped(&mut self.stop, tokio::time::sleep_until(wake))
                .await
                .is_none()
            {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
        }
    }

    /// One connected stretch: check the stream, publish the registry, ask the stream where
    /// it stands, check it continues this log, publish from there.
    async fn session(&mut self, connection: &NatsConnection) -> SessionEnd {
        let district = self.config.district.clone();
        let settings = self.config.settings;
        match unless_stopped(&mut self.stop, ensure_district_stream(connection, &district, &settings)).await {
            None => return SessionEnd::Stopped,
            Some(Err(error)) => return SessionEnd::of_error(&error),
            Some(Ok(_)) => {}
        }
        let registry = self.config.registry.clone();
        let stream = self.stream.clone();
        match unless_stopped(
            &mut self.stop,
            publish_registry(connection, &stream, &registry, settings.replicas),
        )
        .await
        {
            None => return SessionEnd::Stopped,
            Some(Err(error)) => return SessionEnd::of_error(&error),
            Some(Ok(_)) => {}
        }
        // The evidence bucket, and nothing known to be in it yet (it may have been recreated).
        self.replicated.clear();
        self.evidence_bucket = None;
        if self.config.evidence.is_some() {
            match unless_stopped(&mut self.stop, EvidenceBucket::ensure(connection, &district, &settings)).await {
                None => return SessionEnd::Stopped,
                Some(Err(error)) => return SessionEnd::of_error(&error),
                Some(Ok(bucket)) => self.evidence_bucket = Some(bucket),
            }
        }
        // Acknowledged positions are the stream's word; before the first look, nothing is.
        let verified_through = self.stream_checked.then_some(self.published_through);
        let last_sequence = match unless_stopped(
            &mut self.stop,
            checked_stream_position(connection, &self.log, &self.stream, verified_through),
        )
        .await
        {
            None => return SessionEnd::Stopped,
            Some(Err(error)) => return SessionEnd::of_error(&error),
            Some(Ok(last_sequence)) => last_sequence,
        };
        if last_sequence < self.published_through {
            tracing::warn!(
                stream = %self.stream,
                stream_last_sequence = last_sequence,
                acknowledged_before = self.published_through,
                "the stream holds less than it acknowledged before (recreated?); publishing again from there"
            );
        }
        self.published_through = last_sequence;
        self.stream_checked = true;
        self.set_state(OutboxState::Publishing);
        self.refresh_status(&VecDeque::new());
        self.publish_from(connection, last_sequence + 1).await
    }

    /// Publishes the log from `from_position` on, pipelined, until something ends it.
    async fn publish_from(&mut self, connection: &NatsConnection, from_position: Position) -> SessionEnd {
        let mut subscription = self.log.subscribe(from_position);
        let mut acks: FuturesOrdered<AckFuture> = FuturesOrdered::new();
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        let mut status_tick = tokio::time::interval(STATUS_INTERVAL);
        status_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut log_closed = false;
        loop {
            let window_open = acks.len() < self.config.max_in_flight && !log_closed;
            let waiting_for_acks = !acks.is_empty();
            tokio::select! {
                biased;
                () = stop_requested(&mut self.stop) => {
                    return self.drain_and_stop(acks, in_flight).await;
                }
                Some((position, result)) = acks.next(), if waiting_for_acks => {
                    let mut settled = self.settle(position, result, &mut in_flight);
                    while settled.is_ok() {
                        match acks.next().now_or_never() {
                            Some(Some((position, result))) => settled = self.settle(position, result, &mut in_flight),
                            _ => break,
                        }
                    }
                    self.refresh_status(&in_flight);
                    if let Err(end) = settled {
                        return end;
                    }
                }
                next = subscription.next(), if window_open => match next {
                    Ok(Some(event)) => {
                        let position = event.position;
                        let recorded_at_micros = event.record.recorded_at;
                        let route = match self.route(&event) {
                            Ok(route) => route,
                            Err(reason) => return SessionEnd::Refused(reason),
                        };
                        // Its evidence first: the event is never published ahead of its blobs.
                        if !route.evidence.is_empty() {
                            let replicating = replicate_evidence(
                                self.evidence_bucket.as_ref(),
                                self.config.evidence.as_ref(),
                                &mut self.replicated,
                                &route.evidence,
                                position,
                            );
                            match unless_stopped(&mut self.stop, replicating).await {
                                None => return self.drain_and_stop(acks, in_flight).await,
                                Some(Err(error)) => {
                                    let end = SessionEnd::of_error(&error);
                                    return self.settle_then(end, acks, in_flight).await;
                                }
                                Some(Ok(())) => {}
                            }
                        }
                        match self.publish(connection, event, &route.grid).await {
                            Ok(ack) => {
                                in_flight.push_back(InFlight { position, recorded_at_micros });
                                acks.push_back(ack);
                            }
                            Err(end) => return end,
                        }
                    }
                    Ok(None) => {
                        tracing::info!(stream = %self.stream, "the log was closed; nothing more to publish");
                        log_closed = true;
                    }
                    Err(error) => return SessionEnd::Transient(format!("reading the log: {}", describe(&error))),
                },
                _ = status_tick.tick() => {
                    if !connection.is_connected() {
                        return SessionEnd::Transient("lost the connection to NATS".to_owned());
                    }
                    self.refresh_status(&in_flight);
                }
            }
        }
    }

    /// Sends one event to `grid`'s subject; the future of its ack.
    async fn publish(
        &mut self,
        connection: &NatsConnection,
        event: RecordedEvent,
        grid: &GridCode,
    ) -> Result<AckFuture, SessionEnd> {
        let position = event.position;
        let message_id = uuid::Uuid::from_slice(&event.record.event_id)
            .map_err(|_| {
                SessionEnd::Refused(format!(
                    "position {position}: the event id has {} bytes, not 16",
                    event.record.event_id.len()
                ))
            })?
            .hyphenated()
            .to_string();
        let subject = event_subject(grid, &event.record.event_type);
        let message = PublishMessage::build()
            .message_id(message_id)
            .expected_last_sequence(position - 1)
            .header(HEADER_POSITION, position.to_string())
            .header(HEADER_CHAIN_HASH, hex::encode(event.hash))
            .header(HEADER_PREV_HASH, hex::encode(event.prev_hash))
            .payload(event.record_bytes.into());
        let ack = connection
            .jetstream
            .send_publish(subject, message)
            .await
            .map_err(|error| SessionEnd::Transient(format!("publishing position {position}: {}", describe(&error))))?;
        Ok(Box::pin(ack.into_future().map(move |result| (position, result))))
    }

    /// The grid of an event (an `IssueReported` names it; any other event's is its issue's
    /// first event's) and the evidence it references, from one decode. An event without a
    /// grid is a bug; the reason says where.
    fn route(&mut self, event: &RecordedEvent) -> Result<Route, String> {
        let position = event.position;
        let stream_id = event.record.stream_id.as_str();
        let decoded = decode_recorded(event).map_err(|error| {
            format!(
                "position {position} ({stream_id}) does not decode: {}",
                describe(&error)
            )
        })?;
        let grid = match &decoded.body {
            IssueEventBody::IssueReported(reported) => reported.grid.clone(),
            _ => match self.grids.get(stream_id) {
                Some(grid) => grid.clone(),
                None => self.grid_of_stream(position, stream_id)?,
            },
        };
        if grid.district() != self.config.district {
            return Err(format!(
                "position {position} ({stream_id}): grid {} is not in district {}",
                grid.as_str(),
                self.config.district.as_str()
            ));
        }
        self.grids.insert(stream_id, &grid);
        Ok(Route {
            grid,
            evidence: decoded.body.evidence().to_vec(),
        })
    }

    /// The grid in the `IssueReported` that opens `stream_id`.
    fn grid_of_stream(&self, position: Position, stream_id: &str) -> Result<GridCode, String> {
        let cannot = |why: String| format!("position {position}: cannot tell the grid of {stream_id}: {why}");
        let id = StreamId::try_from(stream_id).map_err(|error| cannot(describe(&error)))?;
        let first = self
            .log
            .read_stream(&id, 0, 1)
            .map_err(|error| cannot(describe(&error)))?;
        let Some(first) = first.first() else {
            return Err(cannot("the stream has no events".to_owned()));
        };
        match decode_recorded(first).map_err(|error| cannot(describe(&error)))?.body {
            IssueEventBody::IssueReported(reported) => Ok(reported.grid),
            other => Err(cannot(format!(
                "its first event (position {}) is {}, not IssueReported",
                first.position,
                other.event_type()
            ))),
        }
    }

    /// Takes one ack (they come in publish order).
    fn settle(
        &mut self,
        position: Position,
        result: Result<PublishAck, PublishError>,
        in_flight: &mut VecDeque<InFlight>,
    ) -> Result<(), SessionEnd> {
        in_flight.pop_front();
        match result {
            Ok(ack) if ack.sequence == position && ack.stream == self.stream => {
                self.published_through = position;
                self.published_total += 1;
                Ok(())
            }
            Ok(ack) => Err(SessionEnd::Refused(
                BusError::Conflict {
                    stream: self.stream.clone(),
                    reason: format!(
                        "position {position} was acknowledged as sequence {} of stream {}{}",
                        ack.sequence,
                        ack.stream,
                        if ack.duplicate {
                            " (a duplicate of an earlier message with its id)"
                        } else {
                            ""
                        }
                    ),
                }
                .to_string(),
            )),
            Err(error) if error.kind() == PublishErrorKind::WrongLastSequence => {
                Err(SessionEnd::Resync(format!("position {position}: {}", describe(&error))))
            }
            Err(error) => Err(SessionEnd::Transient(format!(
                "publishing position {position}: {}",
                describe(&error)
            ))),
        }
    }

    /// Awaits the acks in flight (bounded, and only what has been sent), so that the status
    /// says how far the stream got, then ends with `end` (or with what an ack says, if one
    /// says the session must end otherwise).
    async fn settle_then(
        &mut self,
        end: SessionEnd,
        mut acks: FuturesOrdered<AckFuture>,
        mut in_flight: VecDeque<InFlight>,
    ) -> SessionEnd {
        let deadline = Instant::now() + STOP_DRAIN_DEADLINE;
        while let Ok(Some((position, result))) = tokio::time::timeout_at(deadline, acks.next()).await {
            if let Err(settled) = self.settle(position, result, &mut in_flight) {
                return settled;
            }
        }
        self.refresh_status(&in_flight);
        end
    }

    /// Awaits the acks in flight (bounded), then ends.
    async fn drain_and_stop(
        &mut self,
        mut acks: FuturesOrdered<AckFuture>,
        mut in_flight: VecDeque<InFlight>,
    ) -> SessionEnd {
        let deadline = Instant::now() + STOP_DRAIN_DEADLINE;
        while let Ok(Some((position, result))) = tokio::time::timeout_at(deadline, acks.next()).await {
            if self.settle(position, result, &mut in_flight).is_err() {
                break;
            }
        }
        if !acks.is_empty() {
            tracing::warn!(stream = %self.stream, unacknowledged = acks.len(), "stopping without the acks of some messages; the next start asks the stream");
        }
        SessionEnd::Stopped
    }

    fn set_state(&mut self, state: OutboxState) {
        let previous = self.status.borrow().state.clone();
        if previous == state {
            return;
        }
        match &state {
            OutboxState::Connecting { reason } => {
                tracing::warn!(stream = %self.stream, reason = reason.as_deref().unwrap_or(""), "outbox not publishing");
            }
            OutboxState::Publishing => {
                tracing::info!(stream = %self.stream, from_position = self.published_through + 1, "outbox publishing");
            }
            OutboxState::Refused { reason } => {
                tracing::error!(stream = %self.stream, reason, "outbox refuses to publish; retrying in 30 s");
            }
            OutboxState::Stopped => {
                tracing::info!(stream = %self.stream, published_through = self.published_through, "outbox stopped");
            }
        }
        self.status.send_modify(|status| status.state = state);
    }

    /// Recomputes progress and lag and reports them; logs the lag now and then.
    fn refresh_status(&mut self, in_flight: &VecDeque<InFlight>) {
        let log_head = self.log.head().position;
        let lag_events = log_head.saturating_sub(self.published_through);
        let lag_seconds = if lag_events == 0 {
            0.0
        } else {
            let oldest = self.published_through + 1;
            let recorded_at_micros = match in_flight.front() {
                Some(entry) if entry.position == oldest => Some(entry.recorded_at_micros),
                _ => self.recorded_at_of(oldest),
            };
            recorded_at_micros.map_or(0.0, seconds_since)
        };
        let published_through = self.published_through;
        let published_total = self.published_total;
        self.status.send_modify(|status| {
            status.published_through = published_through;
            status.log_head = log_head;
            status.lag_events = lag_events;
            status.lag_seconds = lag_seconds;
            status.published_total = published_total;
        });
        if lag_seconds >= LAG_LOG_THRESHOLD_SECONDS
            && self
                .last_lag_log
                .is_none_or(|logged| logged.elapsed() >= LAG_LOG_INTERVAL)
        {
            self.last_lag_log = Some(Instant::now());
            tracing::warn!(
                stream = %self.stream,
                lag_events,
                lag_seconds = format!("{lag_seconds:.1}"),
                published_through,
                log_head,
                "outbox lagging"
            );
        }
    }

    /// The commit time of `position`, read from the log once per position.
    fn recorded_at_of(&mut self, position: Position) -> Option<i64> {
        if let Some((cached_position, recorded_at)) = self.oldest_unpublished
            && cached_position == position
        {
            return Some(recorded_at);
        }
        let recorded_at = self.log.read_event(position).ok().flatten()?.record.recorded_at;
        self.oldest_unpublished = Some((position, recorded_at));
        Some(recorded_at)
    }
}

/// Where the stream stands (its last sequence S), checked to continue this log: S is not
/// beyond the log's head, and the messages it holds that the outbox has not seen
/// acknowledged carry the log's chain hashes at their sequences. `verified_through` is the
/// last sequence already known to be right (acknowledged, or checked before): messages
/// after it up to S are checked one by one (a pipelined window at most); without it (the
/// outbox's first look at the stream) message S alone is.
async fn checked_stream_position(
    connection: &NatsConnection,
    log: &EventLog,
    stream: &str,
    verified_through: Option<Position>,
) -> Result<Position, BusError> {
    let state = stream_state(connection, stream).await?;
    let last_sequence = state.last_sequence;
    let head = log.head().position;
    if last_sequence > head {
        return Err(BusError::Conflict {
            stream: stream.to_owned(),
            reason: format!(
                "the stream's last sequence is {last_sequence} but the log ends at position {head}: \
                 it holds messages this log did not write"
            ),
        });
    }
    if last_sequence == 0 {
        return Ok(0);
    }
    let first_to_check = match verified_through {
        Some(verified) if verified < last_sequence => verified + 1,
        _ => last_sequence,
    };
    let handle = connection
        .jetstream
        .get_stream_no_info(stream)
        .await
        .map_err(|error| BusError::nats(format!("opening stream {stream}"), error))?;
    let mut next_to_check = first_to_check;
    while next_to_check <= last_sequence {
        let events = log.read_all(next_to_check, (last_sequence - next_to_check + 1).min(512) as usize)?;
        if events.is_empty() {
            return Err(BusError::Conflict {
                stream: stream.to_owned(),
                reason: format!("the log has no position {next_to_check}"),
            });
        }
        for event in events {
            let sequence = event.position;
            let message = handle
                .get_raw_message(sequence)
                .await
                .map_err(|error| BusError::nats(format!("reading message {sequence} of {stream}"), error))?;
            let expected_hash = hex::encode(event.hash);
            let found_hash = message
                .headers
                .get(HEADER_CHAIN_HASH)
                .map(|value| value.as_str().to_owned());
            if found_hash.as_deref() != Some(expected_hash.as_str()) {
                return Err(BusError::Conflict {
                    stream: stream.to_owned(),
                    reason: format!(
                        "message {sequence} has {HEADER_CHAIN_HASH} {}, the log's position {sequence} has \
                         {expected_hash}: the stream holds another log's messages",
                        found_hash.as_deref().unwrap_or("(none)")
                    ),
                });
            }
            next_to_check = sequence + 1;
        }
    }
    Ok(last_sequence)
}

/// Seconds from `micros` (since the Unix epoch) to now; 0 if that is in the future.
fn seconds_since(micros: i64) -> f64 {
    let now_micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since_epoch| since_epoch.as_micros() as i64);
    (now_micros.saturating_sub(micros)).max(0) as f64 / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(delays: &mut RetryDelay, expected_millis: &[u64]) {
        let taken: Vec<u64> = expected_millis
            .iter()
            .map(|_| delays.next().as_millis() as u64)
            .collect();
        assert_eq!(taken, expected_millis);
    }

    #[test]
    fn retry_delays_double_up_to_five_seconds_and_reset() {
        let mut delays = RetryDelay::new();
        check(&mut delays, &[100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        delays.reset();
        check(&mut delays, &[100, 200]);
    }

    #[test]
    fn the_grid_cache_forgets_the_oldest_first() -> Result<(), Box<dyn std::error::Error>> {
        let grid = GridCode::parse("runzhou.s3.c07.g02")?;
        let mut cache = GridCache::default();
        for number in 0..=GRID_CACHE_CAPACITY {
            cache.insert(&format!("issue-{number}"), &grid);
        }
        assert!(cache.get("issue-0").is_none());
        assert!(cache.get("issue-1").is_some());
        assert_eq!(cache.grids.len(), GRID_CACHE_CAPACITY);
        Ok(())
    }

    #[test]
    fn the_replicated_digests_forget_the_oldest_first() {
        let digest = |number: usize| {
            let mut bytes = [0_u8; 32];
            bytes[..8].copy_from_slice(&(number as u64).to_be_bytes());
            Sha256Digest::from_bytes(bytes)
        };
        let mut replicated = ReplicatedDigests::default();
        for number in 0..=REPLICATED_CACHE_CAPACITY {
            replicated.insert(digest(number));
        }
        replicated.insert(digest(1));
        assert!(!replicated.contains(&digest(0)));
        assert!(replicated.contains(&digest(1)));
        assert!(replicated.contains(&digest(REPLICATED_CACHE_CAPACITY)));
        assert_eq!(replicated.known.len(), REPLICATED_CACHE_CAPACITY);
        assert_eq!(replicated.insertion_order.len(), REPLICATED_CACHE_CAPACITY);
        replicated.clear();
        assert!(!replicated.contains(&digest(1)));
    }
}
