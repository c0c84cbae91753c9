//! The verified feed and restore against real nats-server processes: streams published by
//! hand from a real event log (no outbox), replicas that must equal the original, and
//! hand-tampered streams that must stop the feed and restore at the tampered position.

mod support;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use async_nats::jetstream;
use gridledger_bus::{
    BusError, FeedConfig, FeedState, FeedStatus, HEADER_CHAIN_HASH, HEADER_POSITION, HEADER_PREV_HASH, NatsConfig,
    RestoreProgress, restore, start_feed,
};
use gridledger_eventlog::{
    AppendRequest, EventLog, EventLogConfig, EventRecord, ExpectedRevision, NewEvent, Position, RecordedEvent,
    RequestId, StreamId, ZERO_HASH, chain_hash,
};
use prost::Message as _;
use support::{NatsCluster, NatsServer};
use tokio::sync::watch;

/// How long any awaited state change may take (generous: 2 cores, shared with builds).
const DEADLINE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// The original log and its messages.

fn log_config(path: &Path) -> EventLogConfig {
    EventLogConfig {
        cache_capacity_bytes: 8 * 1024 * 1024,
        ..EventLogConfig::new(path)
    }
}

/// A log in `path` with `count` events over a few issue streams, some appends carrying
/// several events (so one request id spans positions, and may span import batches).
async fn original_log(path: &Path, count: u64) -> anyhow::Result<EventLog> {
    let log = EventLog::open(log_config(path))?;
    let mut appended = 0;
    let mut append_number = 0u64;
    while appended < count {
        let events_in_append = (append_number % 4 + 1).min(count - appended);
        let events = (0..events_in_append)
            .map(|index| NewEvent {
                event_type: "IssueReported".to_owned(),
                occurred_at_micros: 1_700_000_000_000_000 + i64::try_from(appended + index).unwrap_or(0),
                payload: format!("event {}", appended + index + 1).into_bytes(),
            })
            .collect();
        log.append(AppendRequest {
            stream_id: StreamId::try_from(format!("issue-{}", append_number % 7))?,
            expected_revision: ExpectedRevision::Any,
            request_id: RequestId::try_from(format!("request-{append_number}"))?,
            actor_id: "tester".to_owned(),
            events,
        })
        .await?;
        appended += events_in_append;
        append_number += 1;
    }
    Ok(log)
}

fn everything(log: &EventLog) -> anyhow::Result<Vec<RecordedEvent>> {
    Ok(log.read_all(1, usize::MAX)?)
}

/// One message as a test publishes it: the headers the outbox would set, or tampered ones.
#[derive(Debug, Clone)]
struct Outgoing {
    position_header: String,
    prev_hash_header: String,
    chain_hash_header: String,
    payload: Vec<u8>,
}

impl Outgoing {
    fn of(event: &RecordedEvent) -> Outgoing {
        Outgoing {
            position_header: event.position.to_string(),
            prev_hash_header: hex::encode(event.prev_hash),
            chain_hash_header: hex::encode(event.hash),
            payload: event.record_bytes.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Streams on the test server.

/// A client of `server` for publishing and looking at streams.
async fn jetstream_of(url: &str) -> anyhow::Result<jetstream::Context> {
    let client = async_nats::connect(url).await?;
    Ok(jetstream::new(client))
}

fn subject_of(stream: &str) -> String {
    format!("gridledger.ev.{}.test", stream.to_ascii_lowercase())
}

async fn create_stream(jetstream: &jetstream::Context, stream: &str) -> anyhow::Result<jetstream::stream::Stream> {
    create_replicated_stream(jetstream, stream, 1).await
}

async fn create_replicated_stream(
    jetstream: &jetstream::Context,
    stream: &str,
    replicas: usize,
) -> anyhow::Result<jetstream::stream::Stream> {
    Ok(jetstream
        .create_stream(jetstream::stream::Config {
            name: stream.to_owned(),
            subjects: vec![format!("gridledger.ev.{}.>", stream.to_ascii_lowercase())],
            storage: jetstream::stream::StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        })
        .await?)
}

/// The headers the outbox would set (with whatever the message says), plus a
/// `Nats-Msg-Id` unique per published message, so the stream keeps a deliberate duplicate.
fn headers_of(stream: &str, index: usize, message: &Outgoing) -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(HEADER_POSITION, message.position_header.as_str());
    headers.insert(HEADER_PREV_HASH, message.prev_hash_header.as_str());
    headers.insert(HEADER_CHAIN_HASH, message.chain_hash_header.as_str());
    headers.insert(
        "Nats-Msg-Id",
        format!("{stream}-{index}-{}", message.position_header).as_str(),
    );
    headers
}

/// Publishes `messages` in order and waits for every acknowledgement.
async fn publish(jetstream: &jetstream::Context, stream: &str, messages: &[Outgoing]) -> anyhow::Result<()> {
    let mut acks = Vec::with_capacity(messages.len());
    for (index, message) in messages.iter().enumerate() {
        acks.push(
            jetstream
                .publish_with_headers(
                    subject_of(stream),
                    headers_of(stream, index, message),
                    message.payload.clone().into(),
                )
                .await?,
        );
    }
    for ack in acks {
        ack.await?;
    }
    Ok(())
}

/// Publishes `messages` one at a time, resending each until it is acknowledged (while a
/// cluster elects a new stream leader); the stream drops a resent copy by its message id.
async fn publish_resending(jetstream: &jetstream::Context, stream: &str, messages: &[Outgoing]) -> anyhow::Result<()> {
    for (index, message) in messages.iter().enumerate() {
        let give_up = tokio::time::Instant::now() + DEADLINE;
        loop {
            let sent = jetstream
                .publish_with_headers(
                    subject_of(stream),
                    headers_of(stream, index, message),
                    message.payload.clone().into(),
                )
                .await;
            let acknowledged = match sent {
                Ok(ack) => ack.await.map(|_| ()).map_err(anyhow::Error::from),
                Err(error) => Err(anyhow::Error::from(error)),
            };
            match acknowledged {
                Ok(()) => break,
                Err(error) if tokio::time::Instant::now() > give_up => {
                    return Err(error.context(format!("publishing position {}", message.position_header)));
                }
                // Waiting for the cluster, not synchronising with the code under test.
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Waiting on a feed.

async fn wait_for(
    status: &mut watch::Receiver<FeedStatus>,
    what: &str,
    predicate: impl FnMut(&FeedStatus) -> bool,
) -> anyhow::Result<FeedStatus> {
    let outcome = tokio::time::timeout(DEADLINE, async {
        status.wait_for(predicate).await.map(|status| status.clone())
    })
    .await;
    match outcome {
        Ok(Ok(status)) => Ok(status),
        Ok(Err(_)) => bail!("the feed's status channel closed while waiting until {what}"),
        Err(_) => bail!("waited {DEADLINE:?} until {what}; last status {:?}", *status.borrow()),
    }
}

async fn wait_applied(status: &mut watch::Receiver<FeedStatus>, position: Position) -> anyhow::Result<FeedStatus> {
    let reached = wait_for(status, &format!("applied through {position}"), |status| {
        status.applied_through >= position || matches!(status.state, FeedState::Stopped { .. })
    })
    .await?;
    ensure!(
        reached.applied_through == position && reached.is_healthy(),
        "expected a healthy feed applied through {position}, got {reached:?}"
    );
    Ok(reached)
}

/// The replica equals the original: same head, verifies, same events byte for byte.
fn check_replica(name: &str, replica: &EventLog, original: &EventLog) -> anyhow::Result<()> {
    ensure!(
        replica.head() == original.head(),
        "{name}: head {:?} != {:?}",
        replica.head(),
        original.head()
    );
    let report = replica.verify(1, 0)?;
    ensure!(report.ok, "{name}: replica does not verify: {}", report.message);
    ensure!(
        everything(replica)? == everything(original)?,
        "{name}: replica events differ from the original"
    );
    Ok(())
}

fn nats_config(url: &str) -> NatsConfig {
    NatsConfig::new(url)
}

// ---------------------------------------------------------------------------------------
// (a) A feed of N events, some published before it starts, some while it follows.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_replicates_the_stream_exactly() -> anyhow::Result<()> {
    let server = NatsServer::start()?;
    let dir = tempfile::tempdir()?;
    let original = original_log(&dir.path().join("original"), 1300).await?;
    let messages: Vec<Outgoing> = everything(&original)?.iter().map(Outgoing::of).collect();
    let replica = EventLog::open(log_config(&dir.path().join("replica")))?;
    let stream = "GRIDLEDGER_FEEDA";

    // The feed waits for a stream that does not exist yet.
    let feed = start_feed(
        replica.clone(),
        FeedConfig {
            nats: nats_config(&server.url()),
            stream: stream.to_owned(),
        },
    );
    let mut status = feed.status();
    let waiting = wait_for(&mut status, "the feed reports the missing stream", |status| {
        status.reason().is_some_and(|reason| reason.contains("does not exist"))
    })
    .await?;
    ensure!(matches!(waiting.state, FeedState::Connecting { .. }), "{waiting:?}");

    let jetstream = jetstream_of(&server.url()).await?;
    create_stream(&jetstream, stream).await?;
    publish(&jetstream, stream, &messages[..1000]).await?;
    wait_applied(&mut status, 1000).await?;
    publish(&jetstream, stream, &messages[1000..]).await?;
    let done = wait_applied(&mut status, 1300).await?;
    ensure!(done.lag_events == 0 && done.stream_last_sequence == 1300, "{done:?}");
    feed.stop().await;

    check_replica("feed", &replica, &original)?;
    let stopped = status.borrow().clone();
    ensure!(
        matches!(stopped.state, FeedState::Stopped { .. }),
        "after stop: {stopped:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// (b) Resumption: the replica closed and reopened mid-stream, nats-server killed and restarted.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_resumes_after_reopening_the_replica_and_restarting_nats() -> anyhow::Result<()> {
    let mut server = NatsServer::start()?;
    let dir = tempfile::tempdir()?;
    let original = original_log(&dir.path().join("original"), 1500).await?;
    let messages: Vec<Outgoing> = everything(&original)?.iter().map(Outgoing::of).collect();
    let replica_path = dir.path().join("replica");
    let stream = "GRIDLEDGER_FEEDB";
    let config = FeedConfig {
        nats: nats_config(&server.url()),
        stream: stream.to_owned(),
    };
    let jetstream = jetstream_of(&server.url()).await?;
    create_stream(&jetstream, stream).await?;
    publish(&jetstream, stream, &messages[..1000]).await?;

    // First life of the replica: stopped wherever it is once it has made some progress.
    let replica = EventLog::open(log_config(&replica_path))?;
    let feed = start_feed(replica.clone(), config.clone());
    let mut status = feed.status();
    wait_for(&mut status, "some progress", |status| status.applied_through > 0).await?;
    feed.stop().await;
    let interrupted_at = replica.head().position;
    replica.close()?;
    drop(replica);

    // Second life: resumes from its head.
    let replica = EventLog::open(log_config(&replica_path))?;
    ensure!(
        replica.head().position == interrupted_at,
        "the reopened replica lost its head"
    );
    let feed = start_feed(replica.clone(), config);
    let mut status = feed.status();
    wait_applied(&mut status, 1000).await?;
    publish(&jetstream, stream, &messages[1000..1200]).await?;
    wait_applied(&mut status, 1200).await?;

    // NATS goes away: the feed says so, and comes back when NATS does.
    drop(jetstream);
    tokio::task::block_in_place(|| server.kill())?;
    let disconnected = wait_for(&mut status, "the feed notices NATS is gone", |status| {
        matches!(status.state, FeedState::Connecting { reason: Some(_) })
    })
    .await?;
    ensure!(disconnected.applied_through == 1200, "{disconnected:?}");
    tokio::task::block_in_place(|| server.restart())?;
    wait_for(&mut status, "the feed follows again", FeedStatus::is_healthy).await?;
    let jetstream = jetstream_of(&server.url()).await?;
    publish(&jetstream, stream, &messages[1200..]).await?;
    wait_applied(&mut status, 1500).await?;
    feed.stop().await;

    check_replica("resumed feed", &replica, &original)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// (b') A three-node cluster losing a node while the feed follows an R3 stream.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_follows_through_the_loss_of_a_cluster_node() -> anyhow::Result<()> {
    let mut cluster = tokio::task::block_in_place(|| NatsCluster::start(3))?;
    let dir = tempfile::tempdir()?;
    let original = original_log(&dir.path().join("original"), 1200).await?;
    let messages: Vec<Outgoing> = everything(&original)?.iter().map(Outgoing::of).collect();
    let stream = "GRIDLEDGER_CLUSTER";
    // The feed and the publisher talk to node 2; node 1 goes away.
    let url = cluster.nodes[1].url();
    let jetstream = jetstream_of(&url).await?;
    create_replicated_stream(&jetstream, stream, 3).await?;
    publish_resending(&jetstream, stream, &messages[..600]).await?;

    let replica = EventLog::open(log_config(&dir.path().join("replica")))?;
    let feed = start_feed(
        replica.clone(),
        FeedConfig {
            nats: nats_config(&url),
            stream: stream.to_owned(),
        },
    );
    let mut status = feed.status();
    wait_applied(&mut status, 600).await?;
    tokio::task::block_in_place(|| cluster.kill(0))?;
    publish_resending(&jetstream, stream, &messages[600..]).await?;
    wait_applied(&mut status, 1200).await?;
    feed.stop().await;

    check_replica("cluster feed", &replica, &original)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// (c) Tampered streams stop the feed and restore at the tampered position.

/// How a case spoils an honest stream.
#[derive(Debug, Clone, Copy)]
enum Tamper {
    /// One byte of the record's event payload flipped, headers left as they were.
    AlterPayloadByte,
    /// The chain hash header replaced by another hash.
    WrongChainHashHeader,
    /// The event at the position published a second time right after itself.
    DuplicateAfter,
    /// The event at the position never published: its successor takes its sequence.
    Omit,
    /// The record's position field changed (and re-encoded, headers made to match it).
    RecordPositionDisagrees,
    /// Published honestly, then the message deleted from the stream.
    DeleteFromStream,
    /// The record's stream chain broken (`stream_prev_hash` replaced), headers made to
    /// match: only the log's import checks see it.
    BreakStreamChain,
}

struct TamperCase {
    name: &'static str,
    tamper: Tamper,
    /// The position the tamper is applied to.
    at: Position,
    /// The position the feed and restore must name.
    stops_at: Position,
}

const TAMPERED_EVENTS: u64 = 12;

fn tampered_messages(events: &[RecordedEvent], tamper: Tamper, at: Position) -> anyhow::Result<Vec<Outgoing>> {
    let index = usize::try_from(at - 1)?;
    let mut messages: Vec<Outgoing> = events.iter().map(Outgoing::of).collect();
    let target = &events[index];
    match tamper {
        Tamper::AlterPayloadByte => {
            let last = messages[index].payload.last_mut().context("empty record")?;
            *last ^= 0x20;
        }
        Tamper::WrongChainHashHeader => {
            messages[index].chain_hash_header = hex::encode(chain_hash(&target.hash, b"not the record"));
        }
        Tamper::DuplicateAfter => {
            let duplicate = messages[index].clone();
            messages.insert(index + 1, duplicate);
        }
        Tamper::Omit => {
            messages.remove(index);
        }
        Tamper::RecordPositionDisagrees => {
            let mut record = EventRecord::decode(target.record_bytes.as_slice())?;
            record.position = at + 100;
            let payload = record.encode_to_vec();
            messages[index].chain_hash_header = hex::encode(chain_hash(&target.prev_hash, &payload));
            messages[index].payload = payload;
        }
        Tamper::BreakStreamChain => {
            let mut record = EventRecord::decode(target.record_bytes.as_slice())?;
            record.stream_prev_hash = vec![0x5a; 32];
            let payload = record.encode_to_vec();
            messages[index].chain_hash_header = hex::encode(chain_hash(&target.prev_hash, &payload));
            messages[index].payload = payload;
        }
        Tamper::DeleteFromStream => {}
    }
    Ok(messages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_streams_stop_feed_and_restore_at_the_position() -> anyhow::Result<()> {
    let cases = [
        TamperCase {
            name: "altered payload byte",
            tamper: Tamper::AlterPayloadByte,
            at: 5,
            stops_at: 5,
        },
        TamperCase {
            name: "wrong chain hash header",
            tamper: Tamper::WrongChainHashHeader,
            at: 7,
            stops_at: 7,
        },
        TamperCase {
            name: "duplicated message",
            tamper: Tamper::DuplicateAfter,
            at: 4,
            stops_at: 5,
        },
        TamperCase {
            name: "gap",
            tamper: Tamper::Omit,
            at: 6,
            stops_at: 6,
        },
        TamperCase {
            name: "position field disagrees",
            tamper: Tamper::RecordPositionDisagrees,
            at: 3,
            stops_at: 3,
        },
        TamperCase {
            name: "message deleted from the stream",
            tamper: Tamper::DeleteFromStream,
            at: 8,
            stops_at: 8,
        },
        TamperCase {
            name: "last message deleted",
            tamper: Tamper::DeleteFromStream,
            at: 12,
            stops_at: 12,
        },
        TamperCase {
            name: "stream chain broken",
            tamper: Tamper::BreakStreamChain,
            at: 6,
            stops_at: 6,
        },
        TamperCase {
            name: "first message altered",
            tamper: Tamper::AlterPayloadByte,
            at: 1,
            stops_at: 1,
        },
    ];
    let server = NatsServer::start()?;
    let dir = tempfile::tempdir()?;
    let original = original_log(&dir.path().join("original"), TAMPERED_EVENTS).await?;
    let events = everything(&original)?;
    let jetstream = jetstream_of(&server.url()).await?;
    for (number, case) in cases.iter().enumerate() {
        let stream = format!("GRIDLEDGER_TAMPER{number}");
        check_tamper_case(&server, &jetstream, dir.path(), &events, &stream, case)
            .await
            .with_context(|| format!("case {:?}", case.name))?;
    }
    Ok(())
}

async fn check_tamper_case(
    server: &NatsServer,
    jetstream: &jetstream::Context,
    dir: &Path,
    events: &[RecordedEvent],
    stream: &str,
    case: &TamperCase,
) -> anyhow::Result<()> {
    let nats_stream = create_stream(jetstream, stream).await?;
    publish(jetstream, stream, &tampered_messages(events, case.tamper, case.at)?).await?;
    if let Tamper::DeleteFromStream = case.tamper {
        ensure!(
            nats_stream.delete_message(case.at).await?,
            "message {} not deleted",
            case.at
        );
    }
    let kept = case.stops_at - 1;
    let names_the_position =
        |text: &str| text.contains(stream) && text.contains(&format!("at position {}", case.stops_at));

    // The feed stops there, the replica keeps what came before.
    let replica = EventLog::open(log_config(&dir.join(format!("{stream}-replica"))))?;
    let feed = start_feed(
        replica.clone(),
        FeedConfig {
            nats: nats_config(&server.url()),
            stream: stream.to_owned(),
        },
    );
    let mut status = feed.status();
    let stopped = wait_for(&mut status, "the feed stops", |status| {
        matches!(status.state, FeedState::Stopped { .. })
    })
    .await?;
    let reason = stopped.reason().unwrap_or_default().to_owned();
    ensure!(
        names_the_position(&reason),
        "the feed's reason does not name the position: {reason:?}"
    );
    ensure!(
        replica.head().position == kept && stopped.applied_through == kept,
        "replica head {} (status {}), expected {kept}",
        replica.head().position,
        stopped.applied_through
    );
    let kept_hash = match kept {
        0 => ZERO_HASH,
        _ => events[usize::try_from(kept - 1)?].hash,
    };
    ensure!(
        replica.head().hash == kept_hash,
        "the replica's head hash is not the original's at {kept}"
    );
    ensure!(replica.verify(1, 0)?.ok, "the kept prefix does not verify");
    feed.stop().await;

    // Restore stops at the same position and keeps the same prefix.
    let restored = EventLog::open(log_config(&dir.join(format!("{stream}-restored"))))?;
    match restore(&nats_config(&server.url()), stream, &restored, |_| {}).await {
        Err(error @ BusError::Tampered { position, .. }) => {
            let text = error.to_string();
            ensure!(
                position == case.stops_at && names_the_position(&text),
                "restore said {text:?}"
            );
        }
        other => bail!("restore should stop at {}: {other:?}", case.stops_at),
    }
    ensure!(
        restored.head() == replica.head(),
        "restore kept {:?}, the feed {:?}",
        restored.head(),
        replica.head()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// (d) Restore.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_rebuilds_the_original_and_refuses_a_non_empty_log() -> anyhow::Result<()> {
    let server = NatsServer::start()?;
    let dir = tempfile::tempdir()?;
    let original = original_log(&dir.path().join("original"), 1100).await?;
    let messages: Vec<Outgoing> = everything(&original)?.iter().map(Outgoing::of).collect();
    let jetstream = jetstream_of(&server.url()).await?;
    let stream = "GRIDLEDGER_RESTORE";
    create_stream(&jetstream, stream).await?;
    publish(&jetstream, stream, &messages).await?;
    let nats = nats_config(&server.url());

    let restored = EventLog::open(log_config(&dir.path().join("restored")))?;
    let mut progress = Vec::new();
    let report = restore(&nats, stream, &restored, |step| progress.push(step)).await?;
    ensure!(
        report.stream == stream
            && report.events == 1100
            && report.head_position == 1100
            && report.head_hash == original.head().hash
            && report.verified,
        "{report:?}"
    );
    check_replica("restore", &restored, &original)?;
    ensure!(
        progress.first()
            == Some(&RestoreProgress {
                imported: 0,
                total: 1100
            })
            && progress.last()
                == Some(&RestoreProgress {
                    imported: 1100,
                    total: 1100
                })
            && progress.windows(2).all(|pair| pair[0].imported < pair[1].imported),
        "progress {progress:?}"
    );

    match restore(&nats, stream, &restored, |_| {}).await {
        Err(BusError::LogNotEmpty { head_position: 1100 }) => {}
        other => bail!("restore into a non-empty log must be refused: {other:?}"),
    }
    ensure!(
        restored.head() == original.head(),
        "the refused restore changed the log"
    );

    // An empty stream restores to an empty, verified log.
    create_stream(&jetstream, "GRIDLEDGER_EMPTY").await?;
    let empty = EventLog::open(log_config(&dir.path().join("empty")))?;
    let report = restore(&nats, "GRIDLEDGER_EMPTY", &empty, |_| {}).await?;
    ensure!(
        report.events == 0 && report.verified && empty.head().position == 0,
        "{report:?}"
    );

    match restore(&nats, "GRIDLEDGER_NOPE", &empty, |_| {}).await {
        Err(BusError::StreamNotFound { stream }) if stream == "GRIDLEDGER_NOPE" => {}
        other => bail!("restore from a missing stream: {other:?}"),
    }
    Ok(())
}
