//! `gridledger bench field`: what grid apps in the field meet — ReportIssue sent as unary calls beside the same reports over SubmitCommands streams (one client, then 64), and 3 MB photos through UploadEvidence — against a server in its own process, each figure beside the storage bound measured in the same run.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use gridledger_api::client::Client;
use gridledger_api::{CommandMeta, IssueReport, SubmittedCommand};
use gridledger_domain::{CategoryCode, Field, FreeText, GridCode, IssueTitle, PersonId, Registry};
use gridledger_eventlog::{Durability, measure_storage_bound};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::runtime::Runtime;

use crate::bench_suite::process::ServerProcess;

/// One stream must carry at least this many times the reports of one unary client.
const ONE_STREAM_TARGET_RATIO: f64 = 3.0;
/// 64 streams must carry at least as many reports as 64 unary clients.
const MANY_STREAMS_TARGET_RATIO: f64 = 1.0;
/// Uploads of a 3 MB photo, in MB/s (10^6 bytes) on loopback.
const UPLOAD_TARGET_MB_PER_SECOND: f64 = 50.0;
/// How long the server may take to start, and to stop.
const SERVER_DEADLINE: Duration = Duration::from_secs(60);

#[derive(Debug, Args)]
pub struct FieldBenchArgs {
    /// Directory for the scratch data (default: a temp dir, removed after).
    #[arg(long, env = "GRIDLEDGER_BENCH_DIR")]
    dir: Option<PathBuf>,
    /// Reports sent by the one unary client (one stream sends the same number).
    #[arg(long, default_value_t = 2_000)]
    single_reports: usize,
    /// Reports sent by the 64 clients, or over the 64 streams, in all.
    #[arg(long, default_value_t = 64_000)]
    many_reports: usize,
    /// Concurrent clients, and streams.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Photos uploaded one after the other.
    #[arg(long, default_value_t = 40)]
    uploads: usize,
    /// Bytes of each photo.
    #[arg(long, default_value_t = 3_000_000)]
    photo_bytes: usize,
}

/// The reports a client sends: each its own request id and issue (the server picks the id).
struct ReportMaker {
    grids: Arc<Vec<GridCode>>,
    category: CategoryCode,
    title: IssueTitle,
    description: FreeText,
}

impl ReportMaker {
    fn new() -> anyhow::Result<ReportMaker> {
        Ok(ReportMaker {
            grids: Arc::new(
                Registry::builtin_runzhou()
                    .grids()
                    .iter()
                    .map(|grid| grid.code.clone())
                    .collect(),
            ),
            category: CategoryCode::parse("environment").map_err(|error| anyhow::anyhow!("{error}"))?,
            title: IssueTitle::parse("Overflowing bins behind building 3")?,
            description: FreeText::parse(
                Field::Description,
                "The bins behind building 3 have not been emptied for four days; residents ask for a fix.",
            )?,
        })
    }

    fn report(&self, run: &str, client: usize, number: usize) -> anyhow::Result<(CommandMeta, IssueReport)> {
        let meta = CommandMeta {
            request_id: format!("bench-field-{run}-{client}-{number}"),
            expected_revision: None,
            occurred_at: None,
        };
        let report = IssueReport {
            issue_id: None,
            grid: self.grids[(client * 7919 + number) % self.grids.len()].clone(),
            category: self.category.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            reporter_id: PersonId::parse(Field::Reporter, &format!("worker-{client}"))?,
            location: None,
            evidence: Default::default(),
        };
        Ok((meta, report))
    }
}

/// How a client sends its reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// One ReportIssue call at a time, each awaited.
    Unary,
    /// Every report on one SubmitCommands stream.
    Stream,
}

/// `clients` clients (each its own connection) send `per_client` reports each; reports/s.
async fn run_clients(
    url: &str,
    maker: &Arc<ReportMaker>,
    run: &'static str,
    transport: Transport,
    clients: usize,
    per_client: usize,
) -> anyhow::Result<f64> {
    let mut connected = Vec::with_capacity(clients);
    for _ in 0..clients {
        connected.push(Client::connect(url, None).await?);
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (client_number, client) in connected.into_iter().enumerate() {
        let maker = Arc::clone(maker);
        tasks.spawn(async move {
            match transport {
                Transport::Unary => {
                    for number in 0..per_client {
                        let (meta, report) = maker.report(run, client_number, number)?;
                        client.report(&meta, &report).await?;
                    }
                }
                Transport::Stream => {
                    let mut commands = Vec::with_capacity(per_client);
                    for number in 0..per_client {
                        let (meta, report) = maker.report(run, client_number, number)?;
                        commands.push(SubmittedCommand::report(&meta, &report));
                    }
                    let mut results = client.submit_command_list(commands).await?;
                    let mut acknowledged = 0;
                    while let Some(result) = results.next().await? {
                        if let Err(refusal) = result.outcome {
                            anyhow::bail!("report {} refused: {refusal}", result.request_id);
                        }
                        acknowledged += 1;
                    }
                    anyhow::ensure!(
                        acknowledged == per_client,
                        "the stream answered {acknowledged} of {per_client} reports"
                    );
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    Ok((clients * per_client) as f64 / started.elapsed().as_secs_f64().max(f64::EPSILON))
}

/// A photo of `size` bytes, different for each `seed`: a JPEG header (so the server's
/// sniffing takes it for one) and pseudo-random bytes, which do not compress.
fn synthetic_photo(seed: u64, size: usize) -> Vec<u8> {
    let mut bytes = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00,
    ];
    let mut block = Sha256::digest(seed.to_le_bytes());
    while bytes.len() < size {
        bytes.extend_from_slice(&block);
        block = Sha256::digest(block);
    }
    bytes.truncate(size);
    bytes
}

/// Uploads `count` different photos one after the other; MB/s (10^6 bytes).
async fn upload_photos(url: &str, count: usize, size: usize) -> anyhow::Result<f64> {
    let client = Client::connect(url, None).await?;
    let photos: Vec<Vec<u8>> = (0..count as u64).map(|seed| synthetic_photo(seed, size)).collect();
    let started = Instant::now();
    for photo in &photos {
        client.upload_evidence(photo, Some("image/jpeg")).await?;
    }
    Ok((count * size) as f64 / 1e6 / started.elapsed().as_secs_f64().max(f64::EPSILON))
}

/// The storage bound of a blob: `count` files of `size` bytes written, fsynced and renamed
/// into place (with the directory fsynced) one after the other, as the evidence store
/// keeps an upload; MB/s.
fn blob_storage_bound(directory: &Path, count: usize, size: usize) -> anyhow::Result<f64> {
    std::fs::create_dir_all(directory)?;
    let photos: Vec<Vec<u8>> = (0..count as u64)
        .map(|seed| synthetic_photo(1_000 + seed, size))
        .collect();
    let started = Instant::now();
    for (number, photo) in photos.iter().enumerate() {
        let incoming = directory.join(format!("incoming-{number}"));
        let mut file = std::fs::File::create(&incoming)?;
        file.write_all(photo)?;
        file.sync_all()?;
        std::fs::rename(&incoming, directory.join(format!("blob-{number}")))?;
        std::fs::File::open(directory)?.sync_all()?;
    }
    Ok((count * size) as f64 / 1e6 / started.elapsed().as_secs_f64().max(f64::EPSILON))
}

/// The figures of one run.
struct FieldFigures {
    unary_one: f64,
    stream_one: f64,
    unary_many: f64,
    stream_many: f64,
    upload_mb_per_second: f64,
}

async fn measure(url: &str, arguments: &FieldBenchArgs) -> anyhow::Result<FieldFigures> {
    let maker = Arc::new(ReportMaker::new()?);
    let clients = arguments.clients.max(1);
    let per_client = (arguments.many_reports / clients).max(1);
    let single = arguments.single_reports.max(1);
    eprintln!("one client, {single} ReportIssue calls ...");
    let unary_one = run_clients(url, &maker, "u1", Transport::Unary, 1, single).await?;
    eprintln!("one SubmitCommands stream, {single} reports ...");
    let stream_one = run_clients(url, &maker, "s1", Transport::Stream, 1, single).await?;
    eprintln!("{clients} clients, {per_client} ReportIssue calls each ...");
    let unary_many = run_clients(url, &maker, "u64", Transport::Unary, clients, per_client).await?;
    eprintln!("{clients} SubmitCommands streams, {per_client} reports each ...");
    let stream_many = run_clients(url, &maker, "s64", Transport::Stream, clients, per_client).await?;
    eprintln!(
        "{} uploads of a {} byte photo ...",
        arguments.uploads, arguments.photo_bytes
    );
    let upload_mb_per_second = upload_photos(url, arguments.uploads.max(1), arguments.photo_bytes.max(64)).await?;
    Ok(FieldFigures {
        unary_one,
        stream_one,
        unary_many,
        stream_many,
        upload_mb_per_second,
    })
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT MET" }
}

pub fn bench_field(runtime: &Runtime, json_output: bool, arguments: FieldBenchArgs) -> anyhow::Result<()> {
    let scratch = tempfile::Builder::new()
        .prefix("gridledger-bench-field-")
        .tempdir_in(arguments.dir.clone().unwrap_or_else(std::env::temp_dir))
        .context("creating the benchmark's scratch directory")?;
    let data_dir = scratch.path().join("server");
    std::fs::create_dir_all(&data_dir)?;
    let server = ServerProcess::start(&data_dir, &scratch.path().join("server.log"), SERVER_DEADLINE)?;
    let figures = runtime.block_on(measure(&server.url, &arguments));
    server.stop(SERVER_DEADLINE)?;
    let figures = figures?;
    // The bounds of the same run: a report's record (about 500 bytes) appended with the
    // log's durability at one and at 64 values a batch; a photo's file made durable.
    let bound_1 = measure_storage_bound(
        &scratch.path().join("bound-1"),
        500,
        1,
        1_000,
        Durability::FlushAndSyncData,
    )?;
    let bound_64 = measure_storage_bound(
        &scratch.path().join("bound-64"),
        500,
        64,
        64 * 500,
        Durability::FlushAndSyncData,
    )?;
    let blob_bound = blob_storage_bound(
        &scratch.path().join("blob-bound"),
        arguments.uploads.clamp(1, 20),
        arguments.photo_bytes.max(64),
    )?;
    let one_ratio = figures.stream_one / figures.unary_one.max(f64::EPSILON);
    let many_ratio = figures.stream_many / figures.unary_many.max(f64::EPSILON);
    if json_output {
        println!(
            "{}",
            json!({
                "unary_one_client_per_second": figures.unary_one,
                "stream_one_per_second": figures.stream_one,
                "one_stream_ratio": one_ratio,
                "unary_many_clients_per_second": figures.unary_many,
                "stream_many_per_second": figures.stream_many,
                "many_streams_ratio": many_ratio,
                "clients": arguments.clients,
                "upload_mb_per_second": figures.upload_mb_per_second,
                "photo_bytes": arguments.photo_bytes,
                "storage_bound_batch_1_per_second": bound_1.values_per_second,
                "storage_bound_batch_64_per_second": bound_64.values_per_second,
                "blob_storage_bound_mb_per_second": blob_bound,
            })
        );
        return Ok(());
    }
    let clients = arguments.clients;
    println!(
        "gridledger bench field — {} cores, server in its own process, load from this one",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!(
        "  one client:   unary {:>8.0}/s   one stream {:>8.0}/s   {one_ratio:.1}x (target >= {ONE_STREAM_TARGET_RATIO:.0}x: {})",
        figures.unary_one,
        figures.stream_one,
        verdict(one_ratio >= ONE_STREAM_TARGET_RATIO)
    );
    println!(
        "  {clients} clients:   unary {:>8.0}/s   {clients} streams {:>8.0}/s   {many_ratio:.2}x (target >= {MANY_STREAMS_TARGET_RATIO:.0}x: {})",
        figures.unary_many,
        figures.stream_many,
        verdict(many_ratio >= MANY_STREAMS_TARGET_RATIO)
    );
    println!(
        "  storage bound (500-byte records, flush + fdatasync): batch 1 {:.0}/s, batch 64 {:.0}/s",
        bound_1.values_per_second, bound_64.values_per_second
    );
    println!(
        "  UploadEvidence, {} bytes a photo: {:.0} MB/s (target >= {UPLOAD_TARGET_MB_PER_SECOND:.0} MB/s: {}); storage bound (write + fsync + rename): {blob_bound:.0} MB/s",
        arguments.photo_bytes,
        figures.upload_mb_per_second,
        verdict(figures.upload_mb_per_second >= UPLOAD_TARGET_MB_PER_SECOND)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_photos_are_jpegs_of_the_size_asked_and_differ_by_seed() {
        for size in [64, 3_000_000] {
            let photo = synthetic_photo(7, size);
            assert_eq!(photo.len(), size);
            assert!(photo.starts_with(&[0xFF, 0xD8, 0xFF]));
        }
        assert_ne!(synthetic_photo(1, 4_096), synthetic_photo(2, 4_096));
    }
}
