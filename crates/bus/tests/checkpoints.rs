//! The checkpoint outbox and reader against a real nats-server: checkpoints go to a stream of
//! their own in growing tree sizes, never twice (through a restart of the publisher), never
//! into the event stream; a stream whose last checkpoint is another log's is refused and left
//! alone; the reader reads them in order from any sequence.

mod support;

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use gridledger_bus::{
    CheckpointMessage, CheckpointOutboxConfig, CheckpointOutboxState, CheckpointOutboxStatus, CheckpointReader,
    HEADER_ROOT_HASH, HEADER_TREE_SIZE, NatsConfig, NatsConnection, StreamSettings, checkpoint_stream_name,
    ensure_checkpoint_stream, start_checkpoint_outbox, stream_name, stream_state,
};
use gridledger_domain::DistrictCode;
use gridledger_eventlog::{AppendRequest, EventLog, EventLogConfig, ExpectedRevision, NewEvent, RequestId, StreamId};
use support::NatsServer;
use tokio::sync::watch;

const DEADLINE: Duration = Duration::from_secs(60);

fn district() -> anyhow::Result<DistrictCode> {
    Ok(DistrictCode::parse("runzhou")?)
}

fn config(url: &str) -> anyhow::Result<CheckpointOutboxConfig> {
    Ok(CheckpointOutboxConfig {
        nats: NatsConfig::new(url),
        district: district()?,
        settings: StreamSettings::default(),
    })
}

/// Appends `count` opaque events, one append each, to stream `s-<first + i>`.
async fn append(log: &EventLog, first: usize, count: usize) -> anyhow::Result<()> {
    for number in first..first + count {
        log.append(AppendRequest {
            stream_id: StreamId::try_from(format!("s-{number}"))?,
            expected_revision: ExpectedRevision::NoStream,
            request_id: RequestId::try_from(format!("r-{number}"))?,
            actor_id: "tester".to_owned(),
            events: vec![NewEvent {
                event_type: "Opaque".to_owned(),
                occurred_at_micros: 0,
                payload: number.to_le_bytes().to_vec(),
            }],
        })
        .await?;
    }
    Ok(())
}

/// The checkpoint of the log's first `size` events (the note is a stand-in: the bus carries
/// it as bytes).
fn checkpoint_of(log: &EventLog, size: u64) -> anyhow::Result<CheckpointMessage> {
    Ok(CheckpointMessage {
        tree_size: size,
        root_hash: log.merkle_root(size)?,
        note: format!("note of size {size}\n").into_bytes(),
    })
}

async fn wait_for(
    status: &mut watch::Receiver<CheckpointOutboxStatus>,
    what: &str,
    condition: impl Fn(&CheckpointOutboxStatus) -> bool,
) -> anyhow::Result<CheckpointOutboxStatus> {
    let outcome = match tokio::time::timeout(DEADLINE, status.wait_for(|status| condition(status))).await {
        Ok(Ok(status)) => Ok(status.clone()),
        Ok(Err(_)) => Err("the outbox is gone"),
        Err(_) => Err("not reached in time"),
    };
    match outcome {
        Ok(status) => Ok(status),
        Err(why) => bail!("{what}: {why}; status {:?}", *status.borrow()),
    }
}

/// Every checkpoint in the stream, read with the reader from `from`: (sequence, size, note).
async fn read_all(url: &str, from: u64) -> anyhow::Result<Vec<(u64, u64, String)>> {
    let nats = NatsConfig::new(url);
    let stream = checkpoint_stream_name(&district()?);
    let connection = NatsConnection::connect(&nats).await?;
    let last = stream_state(&connection, &stream).await?.last_sequence;
    let mut reader = CheckpointReader::open(&nats, &stream, from).await?;
    let mut read = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    while read.last().map_or(from.saturating_sub(1), |(sequence, _, _)| *sequence) < last {
        if Instant::now() > deadline {
            bail!("read {read:?} of {last}");
        }
        if let Some(message) = reader.next().await? {
            let size = message.tree_size_header.context("tree size header")?.parse()?;
            read.push((message.sequence, size, String::from_utf8(message.note)?));
        }
    }
    Ok(read)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_published_once_in_growing_sizes_and_read_back_in_order() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let directory = tempfile::tempdir()?;
    let log = EventLog::open(EventLogConfig::new(directory.path().join("log")))?;
    append(&log, 0, 5).await?;

    let outbox = start_checkpoint_outbox(log.clone(), config(&nats.url())?);
    let mut status = outbox.status();
    let sink = outbox.sink();
    // Offers: 3, then an older one and one of the same size (neither published), then 5.
    sink.offer(checkpoint_of(&log, 3)?);
    wait_for(&mut status, "size 3 published", |status| status.published_size == 3).await?;
    sink.offer(checkpoint_of(&log, 2)?);
    sink.offer(checkpoint_of(&log, 3)?);
    sink.offer(checkpoint_of(&log, 5)?);
    let published = wait_for(&mut status, "size 5 published", |status| status.published_size == 5).await?;
    assert_eq!(published.published_total, 2);
    assert_eq!(published.stream, "GRIDLEDGER_RUNZHOU_CHECKPOINTS");
    outbox.stop().await;

    // A new publisher (a restarted node) offered the same newest checkpoint adds nothing; a
    // newer one comes next.
    let outbox = start_checkpoint_outbox(log.clone(), config(&nats.url())?);
    let mut status = outbox.status();
    outbox.sink().offer(checkpoint_of(&log, 5)?);
    let resumed = wait_for(&mut status, "publishing again", |status| {
        status.is_healthy() && status.published_size == 5 && status.newest_size == 5
    })
    .await?;
    assert_eq!(resumed.published_total, 0);
    append(&log, 5, 2).await?;
    outbox.sink().offer(checkpoint_of(&log, 7)?);
    wait_for(&mut status, "size 7 published", |status| status.published_size == 7).await?;
    // The last checkpoint offered before a stop is published by the stop.
    append(&log, 7, 1).await?;
    outbox.sink().offer(checkpoint_of(&log, 8)?);
    outbox.stop().await;

    let expected: Vec<(u64, u64, String)> = [3u64, 5, 7, 8]
        .iter()
        .enumerate()
        .map(|(index, size)| (index as u64 + 1, *size, format!("note of size {size}\n")))
        .collect();
    assert_eq!(read_all(&nats.url(), 1).await?, expected);
    assert_eq!(read_all(&nats.url(), 3).await?, expected[2..]);
    // The headers carry the root; the event stream was never touched.
    let jetstream = async_nats::jetstream::new(async_nats::connect(nats.url()).await?);
    let stored = jetstream
        .get_stream("GRIDLEDGER_RUNZHOU_CHECKPOINTS")
        .await?
        .get_raw_message(2)
        .await?;
    assert_eq!(
        stored
            .headers
            .get(HEADER_ROOT_HASH)
            .map(|value| value.as_str().to_owned()),
        Some(hex::encode(log.merkle_root(5)?))
    );
    assert_eq!(
        stored
            .headers
            .get(HEADER_TREE_SIZE)
            .map(|value| value.as_str().to_owned()),
        Some("5".to_owned())
    );
    assert_eq!(stored.subject.as_str(), "gridledger.checkpoint.runzhou");
    let connection = NatsConnection::connect(&NatsConfig::new(nats.url())).await?;
    assert!(stream_state(&connection, &stream_name(&district()?)).await.is_err());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_holding_another_logs_checkpoint_is_refused_and_left_alone() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let directory = tempfile::tempdir()?;
    let log = EventLog::open(EventLogConfig::new(directory.path().join("log")))?;
    append(&log, 0, 4).await?;
    let other_directory = tempfile::tempdir()?;
    let other = EventLog::open(EventLogConfig::new(other_directory.path().join("log")))?;
    append(&other, 100, 4).await?;

    // Another log's publisher got there first.
    let foreign = start_checkpoint_outbox(other.clone(), config(&nats.url())?);
    let mut foreign_status = foreign.status();
    foreign.sink().offer(checkpoint_of(&other, 3)?);
    wait_for(&mut foreign_status, "the other log's checkpoint", |status| {
        status.published_size == 3
    })
    .await?;
    foreign.stop().await;

    let outbox = start_checkpoint_outbox(log.clone(), config(&nats.url())?);
    let mut status = outbox.status();
    outbox.sink().offer(checkpoint_of(&log, 4)?);
    let refused = wait_for(&mut status, "refused", |status| {
        matches!(status.state, CheckpointOutboxState::Refused { .. })
    })
    .await?;
    let reason = refused.reason().unwrap_or_default();
    assert!(reason.contains("of size 3"), "{reason}");
    assert!(reason.contains("another log's checkpoints"), "{reason}");
    assert!(!refused.is_healthy());
    outbox.stop().await;
    let connection = NatsConnection::connect(&NatsConfig::new(nats.url())).await?;
    let state = stream_state(&connection, "GRIDLEDGER_RUNZHOU_CHECKPOINTS").await?;
    assert_eq!(
        state.messages, 1,
        "nothing was written after the other log's checkpoint"
    );

    // A stream created with other settings is refused as well, naming them.
    let other_nats = NatsServer::start()?;
    let other_connection = NatsConnection::connect(&NatsConfig::new(other_nats.url())).await?;
    let short_window = StreamSettings {
        replicas: 1,
        duplicate_window: Duration::from_secs(5),
    };
    ensure_checkpoint_stream(&other_connection, &district()?, &short_window).await?;
    let outbox = start_checkpoint_outbox(log.clone(), config(&other_nats.url())?);
    let mut status = outbox.status();
    let refused = wait_for(&mut status, "refused", |status| {
        matches!(status.state, CheckpointOutboxState::Refused { .. })
    })
    .await?;
    assert!(
        refused.reason().unwrap_or_default().contains("duplicate_window"),
        "{refused:?}"
    );
    outbox.stop().await;
    Ok(())
}
