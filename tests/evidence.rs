//! Photo and video evidence end to end, against real servers on 127.0.0.1:0: uploads
//! stored once per SHA-256 and read back through an issue that references them; refusals
//! (cut short, too long, too large, not a photo, not the type claimed) that leave nothing in
//! `evidence/incoming` or `evidence/blobs`; a flipped byte named by `gridledger evidence
//! verify`; a server killed with SIGKILL during uploads that keeps every ref it answered;
//! and scopes: a grid worker reads the evidence of issues in their grid only.

mod support;

use std::path::{Path, PathBuf};

use gridledger_api::client::{BearerToken, Client, ClientOptions, RetryPolicy, RpcCode};
use gridledger_api::proto;
use gridledger_domain::{EvidenceMediaType, EvidenceRef, IssueId, MAX_EVIDENCE_BYTES, Sha256Digest};
use gridledger_server::AuthConfig;
use gridledger_server::auth::{Role, hash_secret, hash_secret_hex, parse_token, token_for};
use sha2::{Digest, Sha256};
use support::{TestServer, fresh_meta, report_request};
use tonic::Code;
use tonic::metadata::MetadataValue;

/// `length` bytes that differ with `seed`.
fn filler(seed: u64, length: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..length)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect()
}

/// A photo: a JPEG's start (SOI, APP0 JFIF), then `length` bytes of its own.
fn photo(seed: u64, length: usize) -> Vec<u8> {
    let mut bytes = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00,
    ];
    bytes.extend_from_slice(&[0x00, 0x01, 0x00, 0x01, 0x00, 0x00]);
    bytes.extend(filler(seed, length));
    bytes
}

/// A screenshot: a PNG's signature and IHDR chunk, then `length` bytes of its own.
fn screenshot(seed: u64, length: usize) -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    bytes.extend_from_slice(&[0x00, 0x00, 0x00, 0x0D, b'I', b'H', b'D', b'R']);
    bytes.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0, 0x90, 0x77, 0x53, 0xDE]);
    bytes.extend(filler(seed, length));
    bytes
}

/// A video: an MP4 `ftyp` box (isom), then `length` bytes of its own.
fn video(seed: u64, length: usize) -> Vec<u8> {
    let mut bytes = 24_u32.to_be_bytes().to_vec();
    bytes.extend_from_slice(b"ftypisom\x00\x00\x02\x00isommp41");
    bytes.extend(filler(seed, length));
    bytes
}

/// Runs the built `gridledger` with `arguments` off the runtime's threads (an in-process
/// server under test shares them); its output, whatever its exit status.
async fn gridledger_output(arguments: &[&str]) -> anyhow::Result<std::process::Output> {
    let arguments: Vec<String> = arguments.iter().map(|argument| (*argument).to_owned()).collect();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_gridledger"))
            .args(&arguments)
            .output()
    })
    .await??;
    Ok(output)
}

/// [`gridledger_output`]'s stdout, or an error with its exit status, stdout and stderr.
async fn gridledger(arguments: &[&str]) -> anyhow::Result<String> {
    let output = gridledger_output(arguments).await?;
    anyhow::ensure!(
        output.status.success(),
        "gridledger {arguments:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

fn sha256_of(bytes: &[u8]) -> Sha256Digest {
    Sha256Digest::from_bytes(Sha256::digest(bytes).into())
}

fn chunk(size: u64, media_type: &str, data: &[u8]) -> proto::EvidenceChunk {
    proto::EvidenceChunk {
        size,
        media_type: media_type.to_owned(),
        data: data.to_vec(),
    }
}

/// `bytes` as an upload sends them: the size on the first chunk, then chunks of 1 MiB.
fn chunks_of(bytes: &[u8], media_type: &str) -> Vec<proto::EvidenceChunk> {
    bytes
        .chunks(1024 * 1024)
        .enumerate()
        .map(|(index, data)| {
            if index == 0 {
                chunk(bytes.len() as u64, media_type, data)
            } else {
                chunk(0, "", data)
            }
        })
        .collect()
}

fn ref_to_proto(reference: &EvidenceRef) -> proto::EvidenceRef {
    proto::EvidenceRef {
        sha256: reference.sha256.as_bytes().to_vec(),
        size: reference.size,
        media_type: reference.media_type.as_str().to_owned(),
    }
}

/// How many files a folder holds (counting the files in its subfolders, for `blobs/`).
fn files_in(directory: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| {
            if entry.path().is_dir() {
                files_in(&entry.path())
            } else {
                1
            }
        })
        .sum()
}

fn blob_file(data_dir: &Path, sha256: &Sha256Digest) -> PathBuf {
    let hex = sha256.to_hex();
    data_dir.join("evidence").join("blobs").join(&hex[..2]).join(hex)
}

/// Reports an issue in the test grid whose report references `evidence`; its id.
async fn report_with(server: &TestServer, title: &str, evidence: &[EvidenceRef]) -> anyhow::Result<IssueId> {
    let mut request = report_request(title);
    request.evidence = evidence.iter().map(ref_to_proto).collect();
    let ack = server.issues().report_issue(request).await?.into_inner();
    Ok(IssueId::parse(&ack.issue_id)?)
}

/// One upload, as sent, and what it must come to: the media type stored, or a code and
/// words of the message.
struct UploadCase {
    name: &'static str,
    chunks: Vec<proto::EvidenceChunk>,
    /// The bytes the chunks carry, when the upload is to be stored.
    bytes: Vec<u8>,
    expected: Result<EvidenceMediaType, (Code, &'static str)>,
}

fn stored(name: &'static str, bytes: Vec<u8>, claimed: &str, media_type: EvidenceMediaType) -> UploadCase {
    UploadCase {
        name,
        chunks: chunks_of(&bytes, claimed),
        bytes,
        expected: Ok(media_type),
    }
}

fn refused(name: &'static str, chunks: Vec<proto::EvidenceChunk>, code: Code, words: &'static str) -> UploadCase {
    UploadCase {
        name,
        chunks,
        bytes: Vec::new(),
        expected: Err((code, words)),
    }
}

/// Sends the case's chunks, compares the answer, and checks the disk: a stored blob is one
/// file (one more than before unless the bytes were held) and reads back through an issue
/// that references it; a refusal leaves `incoming/` empty and `blobs/` as it was.
async fn check(server: &TestServer, client: &Client, case: UploadCase) -> anyhow::Result<()> {
    let data_dir = server.directory.path().join("data");
    let blobs = data_dir.join("evidence").join("blobs");
    let incoming = data_dir.join("evidence").join("incoming");
    let blobs_before = files_in(&blobs);
    let held_before = std::fs::exists(blob_file(&data_dir, &sha256_of(&case.bytes)))?;
    let answer = server
        .issues()
        .upload_evidence(tokio_stream::iter(case.chunks))
        .await
        .map(tonic::Response::into_inner);
    let name = case.name;
    assert_eq!(files_in(&incoming), 0, "{name}: nothing is left in evidence/incoming");
    match (answer, case.expected) {
        (Ok(answer), Ok(media_type)) => {
            let reference = EvidenceRef {
                sha256: sha256_of(&case.bytes),
                size: case.bytes.len() as u64,
                media_type,
            };
            assert_eq!(answer, ref_to_proto(&reference), "{name}");
            let blobs_after = blobs_before + usize::from(!held_before);
            assert_eq!(files_in(&blobs), blobs_after, "{name}: stored once");
            assert_eq!(
                std::fs::read(blob_file(&data_dir, &reference.sha256))?,
                case.bytes,
                "{name}"
            );
            let issue_id = report_with(server, name, &[reference]).await?;
            let blob = client.get_evidence(issue_id, reference.sha256).await?;
            assert_eq!(blob.reference, reference, "{name}");
            assert_eq!(blob.bytes, case.bytes, "{name}: read back through the issue");
        }
        (Err(status), Err((code, words))) => {
            assert_eq!(status.code(), code, "{name}: {status:?}");
            assert!(
                status.message().contains(words),
                "{name}: {:?} should say {words:?}",
                status.message()
            );
            assert_eq!(files_in(&blobs), blobs_before, "{name}: nothing stored");
        }
        (answer, expected) => panic!("{name}: got {answer:?}, expected {expected:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn uploads_are_stored_once_and_read_back_through_issues_or_leave_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = Client::connect(&format!("http://{}", server.server.local_addr), None).await?;
    let big_photo = photo(1, 3 * 1024 * 1024 + 17);
    let text = b"this is not a photo, whatever it says\n".repeat(100);
    let cases = vec![
        stored("a photo", photo(2, 5_000), "", EvidenceMediaType::Jpeg),
        stored(
            "the same photo again",
            photo(2, 5_000),
            "image/jpeg",
            EvidenceMediaType::Jpeg,
        ),
        stored(
            "a photo of several chunks",
            big_photo.clone(),
            "image/jpeg",
            EvidenceMediaType::Jpeg,
        ),
        stored(
            "a screenshot",
            screenshot(3, 2_000),
            "image/png",
            EvidenceMediaType::Png,
        ),
        stored("a video", video(4, 1_500_000), "video/mp4", EvidenceMediaType::Mp4),
        UploadCase {
            name: "size on the first chunk only, data from the second",
            chunks: vec![chunk(6_000, "", &[]), chunk(0, "", &photo(5, 5_980))],
            bytes: photo(5, 5_980),
            expected: Ok(EvidenceMediaType::Jpeg),
        },
        refused(
            "declared 3 MB, sent 1 MB, closed",
            vec![chunk(3_000_000, "image/jpeg", &photo(6, 1_000_000 - 20))],
            Code::InvalidArgument,
            "invalid data: the blob is cut short: 3000000 bytes were declared, and 1000000 arrived",
        ),
        refused(
            "more than declared",
            vec![chunk(1_000, "", &photo(7, 980)), chunk(0, "", b"x")],
            Code::InvalidArgument,
            "invalid data: 1000 bytes were declared, and 1001 have arrived",
        ),
        refused(
            "over 64 MiB declared",
            vec![chunk(MAX_EVIDENCE_BYTES + 1, "video/mp4", &video(8, 100))],
            Code::ResourceExhausted,
            "invalid size: 67108865 bytes is over the limit of 67108864 bytes",
        ),
        refused(
            "a text file claiming image/jpeg",
            chunks_of(&text, "image/jpeg"),
            Code::InvalidArgument,
            "invalid media_type: the client says image/jpeg, but the bytes are of no media type known",
        ),
        refused(
            "a PDF",
            chunks_of(&b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".repeat(100), ""),
            Code::InvalidArgument,
            "invalid media_type: the bytes are application/pdf, which is not accepted as evidence",
        ),
        refused(
            "a PNG claiming image/jpeg",
            chunks_of(&screenshot(9, 100), "image/jpeg"),
            Code::InvalidArgument,
            "the client says image/jpeg, but the bytes are image/png",
        ),
        refused(
            "no size",
            vec![chunk(0, "", &photo(10, 100))],
            Code::InvalidArgument,
            "invalid size: is required on the first chunk",
        ),
        refused(
            "no chunk at all",
            vec![],
            Code::InvalidArgument,
            "invalid size: is required on the first chunk",
        ),
        refused(
            "a later chunk with another size",
            vec![chunk(1_000, "", &photo(11, 100)), chunk(2_000, "", b"x")],
            Code::InvalidArgument,
            "invalid size: the first chunk declared 1000 bytes and a later one 2000",
        ),
        refused(
            "a chunk over 1 MiB",
            vec![chunk(2 * 1024 * 1024, "", &photo(12, 2 * 1024 * 1024 - 20))],
            Code::ResourceExhausted,
            "at most 1048576 bytes of data a chunk",
        ),
    ];
    for case in cases {
        check(&server, &client, case).await?;
    }
    // The typed client: the same photo twice is the same ref, one file.
    let first = client.upload_evidence(&big_photo, Some("image/jpeg")).await?;
    let second = client.upload_evidence(&big_photo, None).await?;
    assert_eq!(first, second);
    assert_eq!(first.sha256, sha256_of(&big_photo));
    let refusal = client
        .upload_evidence(&b"plain text".repeat(10), Some("image/jpeg"))
        .await;
    assert!(
        matches!(&refusal, Err(error) if error.code() == Some(RpcCode::InvalidArgument)),
        "{refusal:?}"
    );
    let data_dir = server.directory.path().join("data");
    let report = gridledger_evidence::EvidenceStore::open_existing(data_dir.join("evidence"))?.verify(|_| {})?;
    assert_eq!(report.blobs_checked, 5, "{report:?}");
    assert!(report.is_clean(), "{report:?}");
    // What GetEvidence refuses.
    let issue_id = report_with(&server, "no evidence", &[]).await?;
    let mut issues = server.issues();
    for (request, code, words) in [
        (
            proto::GetEvidenceRequest {
                sha256: first.sha256.as_bytes().to_vec(),
                issue_id: issue_id.to_string(),
            },
            Code::NotFound,
            "references no evidence",
        ),
        (
            proto::GetEvidenceRequest {
                sha256: vec![1; 31],
                issue_id: issue_id.to_string(),
            },
            Code::InvalidArgument,
            "invalid sha256: a SHA-256 digest is 32 bytes, got 31 bytes",
        ),
        (
            proto::GetEvidenceRequest {
                sha256: vec![7; 32],
                issue_id: String::new(),
            },
            Code::NotFound,
            "the node holds no evidence 0707",
        ),
        (
            proto::GetEvidenceRequest {
                sha256: first.sha256.as_bytes().to_vec(),
                issue_id: "0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506".to_owned(),
            },
            Code::NotFound,
            "does not exist",
        ),
    ] {
        let status = issues.get_evidence(request).await.expect_err("refused");
        assert_eq!(status.code(), code, "{status:?}");
        assert!(status.message().contains(words), "{status:?}");
    }
    // Without authentication every issue is readable: a blob by its digest alone.
    let mut chunks = issues
        .get_evidence(proto::GetEvidenceRequest {
            sha256: first.sha256.as_bytes().to_vec(),
            issue_id: String::new(),
        })
        .await?
        .into_inner();
    let mut fetched = Vec::new();
    while let Some(chunk) = chunks.message().await? {
        fetched.extend_from_slice(&chunk.data);
    }
    assert_eq!(sha256_of(&fetched), first.sha256);
    assert_eq!(fetched.len() as u64, first.size);
    server.server.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn evidence_verify_names_a_flipped_byte_and_upload_prints_refs() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = format!("http://{}", server.server.local_addr);
    let data_dir = server.directory.path().join("data");
    let data = data_dir.to_string_lossy().into_owned();
    let files = server.directory.path().join("files");
    std::fs::create_dir(&files)?;
    let mut paths = Vec::new();
    for (name, bytes) in [
        ("photo.jpg", photo(20, 40_000)),
        ("screen.png", screenshot(21, 10_000)),
        ("clip.mp4", video(22, 2_500_000)),
    ] {
        let path = files.join(name);
        std::fs::write(&path, bytes)?;
        paths.push(path.to_string_lossy().into_owned());
    }
    let mut arguments = vec!["--server", url.as_str(), "evidence", "upload"];
    arguments.extend(paths.iter().map(String::as_str));
    let printed = gridledger(&arguments).await?;
    let lines: Vec<Vec<&str>> = printed.lines().map(|line| line.split_whitespace().collect()).collect();
    assert_eq!(lines.len(), 3, "{printed}");
    for ((line, path), media_type) in lines.iter().zip(&paths).zip(["image/jpeg", "image/png", "video/mp4"]) {
        let bytes = std::fs::read(path)?;
        assert_eq!(
            line,
            &vec![
                sha256_of(&bytes).to_hex(),
                bytes.len().to_string(),
                media_type.to_owned(),
                path.clone()
            ],
            "{printed}"
        );
    }
    let intact = gridledger(&["evidence", "verify", "--data", &data]).await?;
    assert!(intact.contains("3 blobs") && intact.contains("intact"), "{intact}");

    // A byte flipped behind the store's back, in the middle of the video.
    let video_sha256 = sha256_of(&std::fs::read(&paths[2])?);
    let file = blob_file(&data_dir, &video_sha256);
    let mut bytes = std::fs::read(&file)?;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&file, &bytes)?;
    let output = gridledger_output(&["evidence", "verify", "--data", &data]).await?;
    let stdout = String::from_utf8(output.stdout)?;
    let stderr = String::from_utf8(output.stderr)?;
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "DAMAGED {video_sha256}: its bytes hash to {}",
            sha256_of(&bytes)
        )),
        "{stdout}"
    );
    assert!(stdout.contains("1 of 3 blobs damaged"), "{stdout}");
    assert!(stderr.contains("1 of 3 evidence blobs are damaged"), "{stderr}");
    let json = gridledger_output(&["--json", "evidence", "verify", "--data", &data]).await?;
    let report: serde_json::Value = serde_json::from_slice(&json.stdout)?;
    assert_eq!(report["ok"], false);
    assert_eq!(report["damaged"][0]["sha256"], video_sha256.to_hex());

    // Uploading the right bytes again repairs it.
    gridledger(&["--server", &url, "evidence", "upload", &paths[2]]).await?;
    let repaired = gridledger(&["evidence", "verify", "--data", &data]).await?;
    assert!(
        repaired.contains("3 blobs") && repaired.contains("intact"),
        "{repaired}"
    );
    server.server.shutdown().await?;
    Ok(())
}

/// Kills a child process when dropped (a failing test leaves no server behind).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_server_killed_during_uploads_keeps_every_ref_it_answered() -> anyhow::Result<()> {
    /// Uploads in parallel, each client sending until the server dies (or this many).
    const UPLOADERS: u64 = 4;
    const UPLOADS_EACH: u64 = 40;
    /// Refs answered before the kill.
    const KILL_AFTER: usize = 10;
    let directory = tempfile::tempdir()?;
    let data_dir = directory.path().join("data");
    let (child, address) = support::spawn_serve(&data_dir, &[], None)?;
    let mut child = KillOnDrop(child);
    let url = format!("http://{address}");
    let no_retry = RetryPolicy {
        attempts: 1,
        ..RetryPolicy::default()
    };
    let (answered, mut answers) = tokio::sync::mpsc::unbounded_channel::<(EvidenceRef, Vec<u8>)>();
    let mut uploaders = Vec::new();
    for uploader in 0..UPLOADERS {
        let client = Client::connect(&url, None).await?.with_retry_policy(no_retry);
        let answered = answered.clone();
        uploaders.push(tokio::spawn(async move {
            for upload in 0..UPLOADS_EACH {
                let seed = 1000 * uploader + upload;
                // From a few KiB to 1.5 MiB, so that some uploads are mid-way at the kill.
                let bytes = photo(seed, 4_000 + (seed as usize * 97_531) % 1_500_000);
                match client.upload_evidence(&bytes, Some("image/jpeg")).await {
                    Ok(reference) => {
                        if answered.send((reference, bytes)).is_err() {
                            return;
                        }
                    }
                    // The server is gone.
                    Err(_) => return,
                }
            }
        }));
    }
    drop(answered);
    let mut refs = Vec::new();
    while refs.len() < KILL_AFTER {
        let Some(answer) = answers.recv().await else {
            anyhow::bail!("the uploads ended before {KILL_AFTER} refs were answered");
        };
        refs.push(answer);
    }
    child.0.kill()?;
    child.0.wait()?;
    for uploader in uploaders {
        uploader.await?;
    }
    // Answers that arrived before the kill took effect count too.
    while let Some(answer) = answers.recv().await {
        refs.push(answer);
    }
    assert!(
        refs.len() < (UPLOADERS * UPLOADS_EACH) as usize,
        "the kill came before the uploads were done"
    );

    let (restarted, address) = support::spawn_serve(&data_dir, &[], None)?;
    let _restarted = KillOnDrop(restarted);
    let evidence = data_dir.join("evidence");
    assert_eq!(
        files_in(&evidence.join("incoming")),
        0,
        "restarting removed the partial uploads"
    );
    let store = gridledger_evidence::EvidenceStore::open_existing(&evidence)?;
    for (reference, bytes) in &refs {
        assert_eq!(store.stat(&reference.sha256)?, Some(*reference));
        assert_eq!(&std::fs::read(blob_file(&data_dir, &reference.sha256))?, bytes);
    }
    let verified = gridledger(&["--json", "evidence", "verify", "--data", &data_dir.to_string_lossy()]).await?;
    let report: serde_json::Value = serde_json::from_str(&verified)?;
    assert_eq!(report["ok"], true, "{verified}");
    assert!(
        report["blobs_checked"].as_u64() >= Some(refs.len() as u64),
        "{verified}"
    );

    // Each is readable through an issue that references it.
    let url = format!("http://{address}");
    let client = Client::connect(&url, None).await?;
    let mut issues = proto::issue_service_client::IssueServiceClient::connect(url.clone()).await?;
    for batch in refs.chunks(gridledger_domain::MAX_EVIDENCE_PER_COMMAND) {
        let mut request = report_request("photos sent while the server was killed");
        request.evidence = batch.iter().map(|(reference, _)| ref_to_proto(reference)).collect();
        let ack = issues.report_issue(request).await?.into_inner();
        let issue_id = IssueId::parse(&ack.issue_id)?;
        for (reference, bytes) in batch {
            let blob = client.get_evidence(issue_id, reference.sha256).await?;
            assert_eq!(&blob.bytes, bytes);
        }
    }
    Ok(())
}

/// A principal of the scope test.
fn principal_entry(id: &str, role: Role, scope: &str) -> anyhow::Result<serde_json::Value> {
    let token = token_for(id, &hash_secret(id));
    let (_, secret) = parse_token(&token).ok_or_else(|| anyhow::anyhow!("a token made by token_for parses"))?;
    Ok(serde_json::json!({
        "id": id,
        "role": role,
        "scopes": [scope],
        "token_sha256": hash_secret_hex(secret),
    }))
}

fn token_of(id: &str) -> String {
    token_for(id, &hash_secret(id))
}

#[tokio::test]
async fn a_grid_worker_reads_the_evidence_of_issues_in_their_grid_only() -> anyhow::Result<()> {
    const GRID_TWO: &str = "runzhou.s1.c01.g02";
    let directory = tempfile::tempdir()?;
    let principals_file = directory.path().join("principals.json");
    let principals = serde_json::json!({ "principals": [
        principal_entry("admin", Role::Admin, "runzhou")?,
        principal_entry("worker-one", Role::GridWorker, support::GRID)?,
        principal_entry("worker-two", Role::GridWorker, GRID_TWO)?,
        principal_entry("analyst-elsewhere", Role::Analyst, "runzhou.s1.c02")?,
        principal_entry("auditor", Role::Auditor, "runzhou")?,
    ]});
    std::fs::write(&principals_file, principals.to_string())?;
    let mut config = support::loopback_config(directory.path().join("data"))?;
    config.auth = Some(AuthConfig {
        reload_interval: None,
        reload_on_sighup: false,
        reload_events: None,
        ..AuthConfig::new(&principals_file)
    });
    let server = gridledger_server::start(config, std::future::pending()).await?;
    let url = format!("http://{}", server.local_addr);
    let client_of = |id: Option<&str>| {
        let options = ClientOptions {
            token: id.map(|id| BearerToken::new(token_of(id))),
            ..ClientOptions::default()
        };
        let url = url.clone();
        async move { Client::connect_with(&url, &options).await }
    };
    let mut issues = proto::issue_service_client::IssueServiceClient::connect(url.clone()).await?;
    let with_token = |id: &str, mut request: proto::ReportIssueRequest, grid: &str| -> anyhow::Result<_> {
        request.grid_code = grid.to_owned();
        request.meta = fresh_meta();
        let mut request = tonic::Request::new(request);
        request.metadata_mut().insert(
            "authorization",
            MetadataValue::try_from(format!("Bearer {}", token_of(id)))?,
        );
        Ok(request)
    };

    // Each worker uploads a photo and reports an issue in their grid with it.
    let photo_one = photo(31, 20_000);
    let photo_two = photo(32, 20_000);
    let one = client_of(Some("worker-one"))
        .await?
        .upload_evidence(&photo_one, None)
        .await?;
    let two = client_of(Some("worker-two"))
        .await?
        .upload_evidence(&photo_two, None)
        .await?;
    let mut report = report_request("a photo of grid one");
    report.evidence = vec![ref_to_proto(&one)];
    let issue_one = issues
        .report_issue(with_token("worker-one", report, support::GRID)?)
        .await?
        .into_inner()
        .issue_id;
    let mut report = report_request("a photo of grid two");
    report.evidence = vec![ref_to_proto(&two)];
    let issue_two = issues
        .report_issue(with_token("worker-two", report, GRID_TWO)?)
        .await?
        .into_inner()
        .issue_id;
    let issue_one = IssueId::parse(&issue_one)?;
    let issue_two = IssueId::parse(&issue_two)?;

    // Uploads: the roles whose commands carry evidence, whatever their scope.
    let refused = client_of(Some("analyst-elsewhere"))
        .await?
        .upload_evidence(&photo_one, None)
        .await
        .expect_err("analysts send no evidence");
    assert_eq!(refused.code(), Some(RpcCode::PermissionDenied), "{refused}");

    let cases: [(Option<&str>, IssueId, &EvidenceRef, Option<RpcCode>); 9] = [
        (Some("worker-one"), issue_one, &one, None),
        (Some("worker-one"), issue_two, &two, Some(RpcCode::PermissionDenied)),
        // An issue in scope does not open another issue's photo.
        (Some("worker-one"), issue_one, &two, Some(RpcCode::NotFound)),
        (Some("worker-two"), issue_two, &two, None),
        (Some("worker-two"), issue_one, &one, Some(RpcCode::PermissionDenied)),
        (
            Some("analyst-elsewhere"),
            issue_one,
            &one,
            Some(RpcCode::PermissionDenied),
        ),
        (Some("auditor"), issue_two, &two, None),
        (Some("admin"), issue_one, &one, None),
        (None, issue_one, &one, Some(RpcCode::Unauthenticated)),
    ];
    for (principal, issue_id, reference, expected) in cases {
        let client = client_of(principal).await?;
        let outcome = client.get_evidence(issue_id, reference.sha256).await;
        match (outcome, expected) {
            (Ok(blob), None) => {
                assert_eq!(blob.reference, *reference, "{principal:?}");
                let photo = if *reference == one { &photo_one } else { &photo_two };
                assert_eq!(&blob.bytes, photo, "{principal:?}");
            }
            (Err(error), Some(code)) => assert_eq!(error.code(), Some(code), "{principal:?}: {error}"),
            (outcome, expected) => panic!("{principal:?} {issue_id}: got {outcome:?}, expected {expected:?}"),
        }
    }
    // By digest alone: only for a principal who reads every issue of the node.
    for (principal, expected) in [("worker-one", Err(Code::InvalidArgument)), ("admin", Ok(()))] {
        let mut request = tonic::Request::new(proto::GetEvidenceRequest {
            sha256: one.sha256.as_bytes().to_vec(),
            issue_id: String::new(),
        });
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {}", token_of(principal)).parse()?);
        let outcome = issues.get_evidence(request).await;
        match (outcome, expected) {
            (Ok(_), Ok(())) => {}
            (Err(status), Err(code)) => {
                assert_eq!(status.code(), code, "{status:?}");
                assert!(status.message().contains("issue_id"), "{status:?}");
            }
            (outcome, expected) => panic!("{principal}: got {outcome:?}, expected {expected:?}"),
        }
    }
    server.shutdown().await?;
    Ok(())
}

/// A command may name only blobs the node holds, as the node holds them: otherwise
/// FAILED_PRECONDITION naming `evidence`, and nothing is written.
#[tokio::test]
async fn a_command_naming_a_blob_the_node_does_not_hold_is_refused_and_writes_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = Client::connect(&format!("http://{}", server.server.local_addr), None).await?;
    let bytes = photo(41, 20_000);
    let held = client.upload_evidence(&bytes, None).await?;
    let never_uploaded = EvidenceRef {
        sha256: sha256_of(&photo(42, 20_000)),
        ..held
    };
    let wrong_size = EvidenceRef {
        size: held.size + 1,
        ..held
    };
    let wrong_type = EvidenceRef {
        media_type: EvidenceMediaType::Png,
        ..held
    };
    for (reference, words) in [
        (never_uploaded, "holds no such blob"),
        (wrong_size, "bytes of"),
        (wrong_type, "bytes of"),
    ] {
        let head_before = server.head_position().await?;
        let mut request = report_request("a photo the node lacks");
        request.evidence = vec![ref_to_proto(&reference)];
        let refusal = server.issues().report_issue(request).await.expect_err("refused");
        assert_eq!(refusal.code(), Code::FailedPrecondition, "{}", refusal.message());
        assert!(
            refusal.message().contains(&reference.sha256.to_hex()) && refusal.message().contains(words),
            "{}",
            refusal.message()
        );
        assert_eq!(server.head_position().await?, head_before, "nothing written");
    }
    let issue_id = report_with(&server, "a photo the node holds", &[held]).await?;
    let fetched = client.get_evidence(issue_id, held.sha256).await?;
    assert_eq!(fetched.bytes, bytes);
    Ok(())
}
