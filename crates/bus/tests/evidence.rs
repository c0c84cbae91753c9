//! The evidence bucket against a real nats-server: blobs put once and skipped after,
//! streamed back byte for byte, refused when missing, damaged or replaced in the bucket;
//! the outbox putting an event's blobs before the event and holding back an event whose
//! blob the node does not hold; and the evidence a log references restored from the bucket.

mod support;

use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use async_nats::jetstream;
use gridledger_bus::{
    BlobPut, BusError, EvidenceBucket, NatsConfig, NatsConnection, OutboxConfig, OutboxState, OutboxStatus,
    StreamSettings, evidence_bucket_name, evidence_object_name, restore_evidence, start_outbox, stream_name,
    stream_state,
};
use gridledger_codec::encode_events;
use gridledger_domain::{
    CategoryCode, DistrictCode, EvidenceList, EvidenceMediaType, EvidenceRef, Field, FreeText, IssueEvent,
    IssueEventBody, IssueHandledInGrid, IssueId, IssueReported, IssueTitle, PersonId, Registry, Sha256Digest,
    Timestamp,
};
use gridledger_eventlog::{AppendRequest, EventLog, EventLogConfig, ExpectedRevision, RequestId, StreamId};
use gridledger_evidence::EvidenceStore;
use support::NatsServer;
use support::blobs::png;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

/// How long any awaited condition may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(90);
const START_2025_MICROS: i64 = 1_735_689_600_000_000;

fn district() -> anyhow::Result<DistrictCode> {
    Ok(DistrictCode::parse("runzhou")?)
}

/// Stores `bytes` in `store` as an upload would.
fn upload(store: &EvidenceStore, bytes: &[u8]) -> anyhow::Result<EvidenceRef> {
    let mut upload = store.begin_upload(bytes.len() as u64, Some("image/png"))?;
    for chunk in bytes.chunks(100_000) {
        upload.write_chunk(chunk)?;
    }
    Ok(upload.finish()?.reference)
}

/// The ref of bytes no store holds.
fn unheld_ref(seed: u8) -> EvidenceRef {
    EvidenceRef {
        sha256: Sha256Digest::from_bytes([seed; 32]),
        size: 1234,
        media_type: EvidenceMediaType::Png,
    }
}

/// The bytes of `store`'s blob.
fn held_bytes(store: &EvidenceStore, sha256: &Sha256Digest) -> anyhow::Result<Vec<u8>> {
    let mut reader = store.open_blob(sha256)?.context("the store does not hold the blob")?;
    let mut bytes = Vec::new();
    while let Some(chunk) = reader.next_chunk(64 * 1024)? {
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

async fn raw_jetstream(url: &str) -> anyhow::Result<jetstream::Context> {
    Ok(jetstream::new(async_nats::connect(url).await?))
}

/// The bytes the bucket holds for `sha256`, read with async-nats itself.
async fn bucket_bytes(url: &str, bucket: &str, sha256: &Sha256Digest) -> anyhow::Result<Vec<u8>> {
    let store = raw_jetstream(url).await?.get_object_store(bucket).await?;
    let mut object = store.get(evidence_object_name(sha256)).await?;
    let mut bytes = Vec::new();
    object.read_to_end(&mut bytes).await?;
    Ok(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_are_put_once_skipped_after_and_read_back_verbatim() -> anyhow::Result<()> {
    let server = NatsServer::start()?;
    let connection = NatsConnection::connect(&NatsConfig::new(server.url())).await?;
    let directory = tempfile::tempdir()?;
    let store = EvidenceStore::open(directory.path().join("evidence"))?;
    // Several chunks of 128 KiB and a partial one.
    let photo = png(1, 300_000);
    let reference = upload(&store, &photo)?;

    let bucket = EvidenceBucket::ensure(&connection, &district()?, &StreamSettings::default()).await?;
    assert_eq!(bucket.name(), "GRIDLEDGER_RUNZHOU_EVIDENCE");
    ensure!(bucket.stat(&reference.sha256).await?.is_none(), "a new bucket is empty");
    assert_eq!(bucket.put_blob(&store, &reference, 1).await?, BlobPut::Stored);
    let stat = bucket
        .stat(&reference.sha256)
        .await?
        .context("the blob is in the bucket")?;
    ensure!(stat.matches(&reference), "{stat:?} for {reference:?}");
    assert_eq!(
        bucket_bytes(&server.url(), bucket.name(), &reference.sha256).await?,
        photo
    );
    // Put again: nothing is written.
    let stream_before = stream_state(&connection, "OBJ_GRIDLEDGER_RUNZHOU_EVIDENCE").await?;
    assert_eq!(bucket.put_blob(&store, &reference, 2).await?, BlobPut::AlreadyThere);
    let stream_after = stream_state(&connection, "OBJ_GRIDLEDGER_RUNZHOU_EVIDENCE").await?;
    assert_eq!(stream_before.last_sequence, stream_after.last_sequence);
    // The bucket opened again by its district stream's name is the same bucket.
    let reopened = EvidenceBucket::open(&connection, &stream_name(&district()?))
        .await?
        .context("the bucket exists")?;
    assert_eq!(
        EvidenceBucket::ensure(&connection, &district()?, &StreamSettings::default())
            .await?
            .name(),
        reopened.name()
    );
    ensure!(
        EvidenceBucket::open(&connection, "GRIDLEDGER_DANTU").await?.is_none(),
        "no bucket for a district that has not published"
    );

    // Back into a fresh store, byte for byte.
    let restored_directory = tempfile::tempdir()?;
    let restored = EvidenceStore::open(restored_directory.path().join("evidence"))?;
    let mut received = 0;
    let stored = reopened
        .restore_blob(&restored, &reference, 7, |count| received += count)
        .await?;
    ensure!(stored.newly_stored && stored.reference == reference, "{stored:?}");
    assert_eq!(received, photo.len() as u64);
    assert_eq!(held_bytes(&restored, &reference.sha256)?, photo);

    // What the node does not hold is never put, and the bucket says what it lacks.
    match bucket.put_blob(&store, &unheld_ref(7), 3).await {
        Err(BusError::EvidenceNotHeld {
            sha256, position: 3, ..
        }) if sha256 == unheld_ref(7).sha256 => {}
        other => bail!("a blob the store does not hold: {other:?}"),
    }
    ensure!(bucket.stat(&unheld_ref(7).sha256).await?.is_none());
    match reopened.restore_blob(&restored, &unheld_ref(7), 4, |_| {}).await {
        Err(error @ BusError::EvidenceMissing { position: 4, .. }) => {
            let text = error.to_string();
            ensure!(
                text.contains(&unheld_ref(7).sha256.to_hex()) && text.contains("not in the bucket"),
                "{text}"
            );
        }
        other => bail!("a blob the bucket does not hold: {other:?}"),
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_blobs_are_never_made_visible_and_replaced_objects_are_caught() -> anyhow::Result<()> {
    let server = NatsServer::start()?;
    let connection = NatsConnection::connect(&NatsConfig::new(server.url())).await?;
    let directory = tempfile::tempdir()?;
    let store = EvidenceStore::open(directory.path().join("evidence"))?;
    let bucket = EvidenceBucket::ensure(&connection, &district()?, &StreamSettings::default()).await?;
    let raw = raw_jetstream(&server.url())
        .await?
        .get_object_store(bucket.name())
        .await?;

    // A blob whose bytes rotted on the node's disk (same size, a flipped byte at its end):
    // the put fails naming it, and nothing appears in the bucket.
    let photo = png(2, 200_000);
    let reference = upload(&store, &photo)?;
    let mut rotten = photo.clone();
    let last = rotten.len() - 1;
    rotten[last] ^= 0xFF;
    std::fs::write(store.blob_path(&reference.sha256), &rotten)?;
    match bucket.put_blob(&store, &reference, 5).await {
        Err(BusError::Evidence {
            sha256, position: 5, ..
        }) if sha256 == reference.sha256 => {}
        other => bail!("a damaged blob: {other:?}"),
    }
    ensure!(
        bucket.stat(&reference.sha256).await?.is_none(),
        "a damaged blob was made visible"
    );

    // Other bytes under a blob's name (written by hand): the put replaces them, and a
    // restore refuses them before reading.
    let honest = png(3, 50_000);
    let honest_ref = upload(&store, &honest)?;
    let other = png(4, 50_000);
    raw.put(evidence_object_name(&honest_ref.sha256).as_str(), &mut other.as_slice())
        .await?;
    let restored_directory = tempfile::tempdir()?;
    let restored = EvidenceStore::open(restored_directory.path().join("evidence"))?;
    match bucket.restore_blob(&restored, &honest_ref, 9, |_| {}).await {
        Err(error @ BusError::EvidenceMissing { position: 9, .. }) => {
            ensure!(error.to_string().contains("is in the bucket as"), "{error}");
        }
        other => bail!("other bytes under the blob's name: {other:?}"),
    }
    ensure!(restored.stat(&honest_ref.sha256)?.is_none(), "nothing restored");
    assert_eq!(bucket.put_blob(&store, &honest_ref, 6).await?, BlobPut::Stored);
    assert_eq!(
        bucket_bytes(&server.url(), bucket.name(), &honest_ref.sha256).await?,
        honest
    );
    bucket.restore_blob(&restored, &honest_ref, 9, |_| {}).await?;
    assert_eq!(held_bytes(&restored, &honest_ref.sha256)?, honest);

    // A bucket that would let blobs expire is refused, and left as it is.
    let dantu = DistrictCode::parse("dantu")?;
    raw_jetstream(&server.url())
        .await?
        .create_object_store(jetstream::object_store::Config {
            bucket: evidence_bucket_name(&dantu),
            max_age: Duration::from_secs(3600),
            ..Default::default()
        })
        .await?;
    match EvidenceBucket::ensure(&connection, &dantu, &StreamSettings::default()).await {
        Err(BusError::StreamConfigMismatch { stream, differences }) => {
            assert_eq!(stream, "OBJ_GRIDLEDGER_DANTU_EVIDENCE");
            ensure!(differences.starts_with("max_age is 3600s"), "{differences}");
        }
        other => bail!("a bucket with a max age: {other:?}"),
    }
    Ok(())
}

fn issue_id(number: u128) -> anyhow::Result<IssueId> {
    Ok(IssueId::from_uuid(uuid::Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0000 + number,
    ))?)
}

fn reported_with(number: u128, evidence: Vec<EvidenceRef>) -> anyhow::Result<IssueEvent> {
    let registry = Registry::builtin_runzhou();
    let at = START_2025_MICROS + number as i64 * 60_000_000;
    Ok(IssueEvent {
        occurred_at: Timestamp::from_unix_micros(at),
        body: IssueEventBody::IssueReported(IssueReported {
            issue_id: issue_id(number)?,
            grid: registry.grids()[0].code.clone(),
            category: CategoryCode::parse("environment")?,
            title: IssueTitle::parse(&format!("issue {number}"))?,
            description: FreeText::empty(),
            reporter_id: PersonId::parse(Field::Reporter, "grid-worker")?,
            due_at: Timestamp::from_unix_micros(at + 86_400_000_000),
            evidence: EvidenceList::new(evidence)?,
            location: None,
        }),
    })
}

fn handled_with(number: u128, evidence: Vec<EvidenceRef>) -> anyhow::Result<IssueEvent> {
    Ok(IssueEvent {
        occurred_at: Timestamp::from_unix_micros(START_2025_MICROS + number as i64 * 60_000_000 + 1_000_000),
        body: IssueEventBody::IssueHandledInGrid(IssueHandledInGrid {
            summary: FreeText::parse(Field::Summary, "fixed, photo attached")?,
            evidence: EvidenceList::new(evidence)?,
            location: None,
        }),
    })
}

async fn append(log: &EventLog, number: u128, revision: ExpectedRevision, event: IssueEvent) -> anyhow::Result<()> {
    log.append(AppendRequest {
        stream_id: StreamId::try_from(issue_id(number)?.stream_id())?,
        expected_revision: revision,
        request_id: RequestId::try_from(format!("evidence-test-{number}-{revision:?}"))?,
        actor_id: "tester".to_owned(),
        events: encode_events(&[event]),
    })
    .await?;
    Ok(())
}

/// The first status that satisfies `condition`, waiting for changes up to [`DEADLINE`].
async fn wait_for_status(
    status: &mut watch::Receiver<OutboxStatus>,
    what: &str,
    condition: impl FnMut(&OutboxStatus) -> bool,
) -> anyhow::Result<OutboxStatus> {
    support::wait_for_outbox_status(status, what, DEADLINE, condition).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_puts_the_blobs_first_and_holds_back_an_event_whose_blob_is_not_held() -> anyhow::Result<()> {
    let server = NatsServer::start()?;
    let directory = tempfile::tempdir()?;
    let log = EventLog::open(EventLogConfig::new(directory.path().join("log")))?;
    let store = EvidenceStore::open(directory.path().join("evidence"))?;
    let before = png(10, 150_000);
    let before_ref = upload(&store, &before)?;
    let after = png(11, 20_000);
    // Referenced before the node holds it: a bug the outbox must not paper over.
    let after_ref = EvidenceRef {
        sha256: sha256_of(&after)?,
        size: after.len() as u64,
        media_type: EvidenceMediaType::Png,
    };
    append(&log, 1, ExpectedRevision::NoStream, reported_with(1, vec![before_ref])?).await?;
    append(&log, 2, ExpectedRevision::NoStream, reported_with(2, Vec::new())?).await?;
    append(&log, 1, ExpectedRevision::Exact(0), handled_with(1, vec![after_ref])?).await?;
    append(&log, 3, ExpectedRevision::NoStream, reported_with(3, vec![before_ref])?).await?;

    let mut config = OutboxConfig::new(NatsConfig::new(server.url()), district()?, Registry::builtin_runzhou());
    config.evidence = Some(store.clone());
    let outbox = start_outbox(log.clone(), config);
    let mut status = outbox.status();
    let refused = wait_for_status(&mut status, "the refusal of position 3", |status| {
        matches!(status.state, OutboxState::Refused { .. })
    })
    .await?;
    let reason = refused.reason().unwrap_or_default();
    ensure!(
        reason.contains("position 3")
            && reason.contains(&after_ref.sha256.to_hex())
            && reason.contains("does not hold"),
        "{reason}"
    );
    let connection = NatsConnection::connect(&NatsConfig::new(server.url())).await?;
    // Positions 1 and 2 went out, the first after its photo; position 3 waits for its blob.
    let published = wait_for_status(&mut status, "publication of positions 1 and 2", |status| {
        status.published_through >= 2
    })
    .await?;
    assert_eq!(published.published_through, 2);
    assert_eq!(
        stream_state(&connection, &stream_name(&district()?))
            .await?
            .last_sequence,
        2
    );
    let bucket = EvidenceBucket::open(&connection, &stream_name(&district()?))
        .await?
        .context("the bucket was created")?;
    assert_eq!(
        bucket_bytes(&server.url(), bucket.name(), &before_ref.sha256).await?,
        before
    );
    ensure!(bucket.stat(&after_ref.sha256).await?.is_none());

    // Once the node holds the blob, the next look (30 s) puts it and publishes the rest.
    assert_eq!(upload(&store, &after)?, after_ref);
    wait_for_status(&mut status, "publication through position 4", |status| {
        status.published_through >= 4 && status.is_healthy()
    })
    .await?;
    assert_eq!(
        bucket_bytes(&server.url(), bucket.name(), &after_ref.sha256).await?,
        after
    );
    assert_eq!(
        stream_state(&connection, &stream_name(&district()?))
            .await?
            .last_sequence,
        4
    );
    outbox.stop().await;

    // Everything the log references comes back from the bucket into a fresh store, once.
    let restored_directory = tempfile::tempdir()?;
    let restored = EvidenceStore::open(restored_directory.path().join("evidence"))?;
    let mut last_progress = None;
    let report = restore_evidence(
        &NatsConfig::new(server.url()),
        &stream_name(&district()?),
        &log,
        &restored,
        |progress| last_progress = Some(progress),
    )
    .await?;
    assert_eq!(report.bucket, "GRIDLEDGER_RUNZHOU_EVIDENCE");
    assert_eq!(
        (report.blobs_referenced, report.blobs_restored, report.already_present),
        (2, 2, 0)
    );
    assert_eq!(report.bytes_restored, (before.len() + after.len()) as u64);
    let last_progress = last_progress.context("progress was reported")?;
    assert_eq!(last_progress.blobs_done, 2);
    assert_eq!(last_progress.bytes_done, last_progress.bytes_total);
    assert_eq!(held_bytes(&restored, &before_ref.sha256)?, before);
    assert_eq!(held_bytes(&restored, &after_ref.sha256)?, after);
    ensure!(restored.verify(|_| {})?.is_clean());
    let again = restore_evidence(
        &NatsConfig::new(server.url()),
        &stream_name(&district()?),
        &log,
        &restored,
        |_| {},
    )
    .await?;
    assert_eq!((again.blobs_restored, again.already_present), (0, 2));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restoring_names_the_blob_and_the_position_the_bucket_lacks() -> anyhow::Result<()> {
    let server = NatsServer::start()?;
    let directory = tempfile::tempdir()?;
    let log = EventLog::open(EventLogConfig::new(directory.path().join("log")))?;
    let store = EvidenceStore::open(directory.path().join("evidence"))?;
    let nats = NatsConfig::new(server.url());
    let stream = stream_name(&district()?);
    // No evidence referenced: nothing to do, and NATS is not even asked.
    append(&log, 1, ExpectedRevision::NoStream, reported_with(1, Vec::new())?).await?;
    let report = restore_evidence(&NatsConfig::new("nats://127.0.0.1:1"), &stream, &log, &store, |_| {}).await?;
    assert_eq!(report.blobs_referenced, 0);

    append(
        &log,
        2,
        ExpectedRevision::NoStream,
        reported_with(2, vec![unheld_ref(9)])?,
    )
    .await?;
    match restore_evidence(&nats, &stream, &log, &store, |_| {}).await {
        Err(error @ BusError::EvidenceMissing { position: 2, .. }) => {
            ensure!(error.to_string().contains("the bucket does not exist"), "{error}");
        }
        other => bail!("no bucket: {other:?}"),
    }
    let connection = NatsConnection::connect(&nats).await?;
    EvidenceBucket::ensure(&connection, &district()?, &StreamSettings::default()).await?;
    match restore_evidence(&nats, &stream, &log, &store, |_| {}).await {
        Err(error @ BusError::EvidenceMissing { position: 2, .. }) => {
            let text = error.to_string();
            ensure!(
                text.contains(&unheld_ref(9).sha256.to_hex()) && text.contains("position 2"),
                "{text}"
            );
        }
        other => bail!("a blob missing from the bucket: {other:?}"),
    }
    Ok(())
}

/// The SHA-256 of `bytes`, found by storing them in a throwaway store (the store is the one
/// hasher of evidence).
fn sha256_of(bytes: &[u8]) -> anyhow::Result<Sha256Digest> {
    let directory = tempfile::tempdir()?;
    let store = EvidenceStore::open(directory.path())?;
    Ok(upload(&store, bytes)?.sha256)
}
