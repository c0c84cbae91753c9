//! End to end, evidence over NATS: a district node (`serve --nats`) puts the photos an event
//! references into the district's evidence bucket before it publishes the event, and
//! `gridledger restore` brings them back with the log, checked, into a data directory that
//! `gridledger evidence verify` passes and a node serves them from; a blob missing from the
//! bucket fails the restore naming the blob and the event that references it.

#[path = "../crates/bus/tests/support/blobs.rs"]
mod blobs;
#[path = "../crates/bus/tests/support/nats_server.rs"]
#[allow(dead_code)]
mod nats_server;
mod support;

use blobs::png;

use std::future::Future;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use async_nats::jetstream;
use base64::Engine;
use gridledger_api::CommandMeta;
use gridledger_api::client::Client;
use gridledger_domain::{EvidenceList, EvidenceRef, Field, FreeText, HandleInGrid, IssueCommand};
use gridledger_evidence::{EVIDENCE_DIRECTORY, EvidenceStore};
use nats_server::NatsServer;
use tokio::io::AsyncReadExt;

/// How long the district node may take to publish before the test gives up.
const DEADLINE: Duration = Duration::from_secs(90);
const STREAM: &str = "GRIDLEDGER_RUNZHOU";
const BUCKET: &str = "GRIDLEDGER_RUNZHOU_EVIDENCE";

/// A `gridledger serve` child, killed when dropped.
struct Serve {
    child: Child,
    client: Client,
}

impl Serve {
    async fn start(data: &Path, extra_arguments: &[&str]) -> anyhow::Result<Serve> {
        let (child, address) = support::spawn_serve(data, extra_arguments, None)?;
        let client = Client::connect(&format!("http://{address}"), Some("nats-evidence-test")).await?;
        Ok(Serve { child, client })
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `probe` until it answers `Some`, up to [`DEADLINE`].
async fn wait_until<T, F, Probe>(what: &str, mut probe: Probe) -> anyhow::Result<T>
where
    Probe: FnMut() -> F,
    F: Future<Output = anyhow::Result<Option<T>>>,
{
    let started = Instant::now();
    loop {
        let last = match probe().await {
            Ok(Some(found)) => return Ok(found),
            Ok(None) => "not yet".to_owned(),
            Err(error) => format!("{error:#}"),
        };
        if started.elapsed() > DEADLINE {
            bail!("waiting for {what}: timed out ({last})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The district stream's last sequence (0 while it does not exist).
async fn stream_last_sequence(jetstream: &jetstream::Context) -> anyhow::Result<u64> {
    match jetstream.get_stream(STREAM).await {
        Ok(mut stream) => Ok(stream.info().await?.state.last_sequence),
        Err(_) => Ok(0),
    }
}

/// The bytes the bucket holds for a blob.
async fn bucket_bytes(jetstream: &jetstream::Context, reference: &EvidenceRef) -> anyhow::Result<Vec<u8>> {
    let bucket = jetstream.get_object_store(BUCKET).await?;
    let mut object = bucket.get(reference.sha256.to_hex()).await?;
    let mut bytes = Vec::new();
    object.read_to_end(&mut bytes).await?;
    Ok(bytes)
}

/// Checks that JetStream stored the bucket's entry for a blob (the metadata that makes it
/// visible) no later than the event at `position` that references it.
async fn check_stored_before(
    jetstream: &jetstream::Context,
    reference: &EvidenceRef,
    position: u64,
) -> anyhow::Result<()> {
    let encoded = base64::engine::general_purpose::URL_SAFE.encode(reference.sha256.to_hex());
    let entry = jetstream
        .get_stream(format!("OBJ_{BUCKET}"))
        .await?
        .get_last_raw_message_by_subject(&format!("$O.{BUCKET}.M.{encoded}"))
        .await?;
    let event = jetstream.get_stream(STREAM).await?.get_raw_message(position).await?;
    ensure!(
        entry.time <= event.time,
        "the blob of position {position} was stored at {:?}, after its event ({:?})",
        entry.time,
        event.time
    );
    Ok(())
}

/// The bytes a data directory's evidence store holds for a blob.
fn stored_bytes(data: &Path, reference: &EvidenceRef) -> anyhow::Result<Vec<u8>> {
    let store = EvidenceStore::open_existing(data.join(EVIDENCE_DIRECTORY))?;
    Ok(std::fs::read(store.blob_path(&reference.sha256))?)
}

fn restore(nats_url: &str, data: &Path, json: bool) -> anyhow::Result<String> {
    let data = data.display().to_string();
    let mut arguments = vec!["restore", "--nats", nats_url, "--stream", STREAM, "--data", &data];
    if json {
        arguments.push("--json");
    }
    support::gridledger(&arguments)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_go_to_the_bucket_before_their_events_and_restore_brings_them_back() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let directory = tempfile::tempdir()?;
    let district_data = directory.path().join("district");
    let district = Serve::start(
        &district_data,
        &["--registry", "builtin:runzhou", "--nats", &nats.url()],
    )
    .await?;
    let client = &district.client;

    // A photo of the problem with the report, one of the fix with the handling: several
    // object chunks each (128 KiB).
    let problem = png(1, 300_000);
    let fix = png(2, 140_000);
    let problem_ref = client.upload_evidence(&problem, Some("image/png")).await?;
    let fix_ref = client.upload_evidence(&fix, Some("image/png")).await?;
    let mut report = support::issue_report("a blocked drain, photographed")?;
    report.evidence = EvidenceList::new(vec![problem_ref])?;
    let ack = client.report(&CommandMeta::with_fresh_request_id(), &report).await?;
    let handle = IssueCommand::HandleInGrid(HandleInGrid {
        summary: FreeText::parse(Field::Summary, "cleared, photo attached")?,
        evidence: EvidenceList::new(vec![fix_ref])?,
        location: None,
    });
    client
        .send(ack.issue_id, &CommandMeta::with_fresh_request_id(), &handle)
        .await?;

    // Both events reach the stream; by then their photos are in the bucket, stored first.
    let jetstream = jetstream::new(async_nats::connect(nats.url()).await?);
    wait_until("both events on the stream", || async {
        Ok((stream_last_sequence(&jetstream).await? >= 2).then_some(()))
    })
    .await?;
    assert_eq!(stream_last_sequence(&jetstream).await?, 2);
    assert_eq!(bucket_bytes(&jetstream, &problem_ref).await?, problem);
    assert_eq!(bucket_bytes(&jetstream, &fix_ref).await?, fix);
    check_stored_before(&jetstream, &problem_ref, 1).await?;
    check_stored_before(&jetstream, &fix_ref, 2).await?;

    // Restore: the log, then its evidence, checked, into a fresh directory.
    let restored = directory.path().join("restored");
    let output = restore(&nats.url(), &restored, true)?;
    let summary: serde_json::Value = serde_json::from_str(output.trim())?;
    assert_eq!(summary["events"], 2);
    assert_eq!(summary["verified"], true);
    let evidence = &summary["evidence"];
    assert_eq!(evidence["bucket"], BUCKET);
    assert_eq!(evidence["blobs_referenced"], 2);
    assert_eq!(evidence["blobs_restored"], 2);
    assert_eq!(evidence["bytes_restored"], (problem.len() + fix.len()) as u64);
    assert_eq!(evidence["already_present"], 0);
    assert_eq!(stored_bytes(&restored, &problem_ref)?, problem);
    assert_eq!(stored_bytes(&restored, &fix_ref)?, fix);
    let verified = support::gridledger(&["evidence", "verify", "--data", &restored.display().to_string()])?;
    ensure!(verified.contains("2 blobs"), "{verified}");

    // The summary line, as people read it.
    let again = directory.path().join("restored-again");
    let text = restore(&nats.url(), &again, false)?;
    ensure!(
        text.contains("restored 2 evidence blobs") && text.contains(BUCKET) && text.contains("0 already present"),
        "{text}"
    );
    // A photo lost from a restored directory: --evidence-only brings it back beside its log,
    // and a directory without a log is refused.
    let lost = EvidenceStore::open_existing(again.join(EVIDENCE_DIRECTORY))?.blob_path(&fix_ref.sha256);
    std::fs::remove_file(&lost)?;
    let again_text = again.display().to_string();
    let url = nats.url();
    let evidence_only = [
        "restore",
        "--nats",
        &url,
        "--stream",
        STREAM,
        "--data",
        &again_text,
        "--evidence-only",
    ];
    let text = support::gridledger(&evidence_only)?;
    ensure!(
        text.contains("restored 1 evidence blobs") && text.contains("1 already present"),
        "{text}"
    );
    assert_eq!(stored_bytes(&again, &fix_ref)?, fix);
    let empty = directory.path().join("no-log-here").display().to_string();
    let refused = support::gridledger(&[
        "restore",
        "--nats",
        &url,
        "--stream",
        STREAM,
        "--data",
        &empty,
        "--evidence-only",
    ]);
    ensure!(
        refused
            .as_ref()
            .is_err_and(|error| error.to_string().contains("holds no event log")),
        "{refused:?}"
    );

    // A node on the restored directory serves the photos as the district did.
    let copy = Serve::start(&restored, &["--registry", "builtin:runzhou"]).await?;
    let served = copy.client.get_evidence(ack.issue_id, fix_ref.sha256).await?;
    assert_eq!(served.bytes, fix);
    drop(copy);

    // A blob gone from the bucket: restore fails, naming it and the event that references it.
    jetstream
        .get_object_store(BUCKET)
        .await?
        .delete(fix_ref.sha256.to_hex())
        .await?;
    let lacking = directory.path().join("restored-lacking");
    match restore(&nats.url(), &lacking, false) {
        Err(error) => {
            let text = format!("{error:#}");
            ensure!(
                text.contains(&fix_ref.sha256.to_hex()) && text.contains("position 2"),
                "{text}"
            );
        }
        Ok(output) => bail!("restore succeeded without a blob the log references: {output}"),
    }
    drop(district);
    Ok(())
}
