//! `UploadEvidence` and `GetEvidence`: photos and videos into and out of the node's evidence
//! store (`gridledger_evidence`, at `<data dir>/evidence`), whose blocking file work runs on
//! tokio's blocking pool.
//!
//! An upload's first chunk declares the size (and may claim a media type); the bytes are
//! written as they arrive, refused as soon as they go past the size or their first bytes are
//! not an accepted media type (or not the claimed one), and stored durably, once per
//! SHA-256, before the ref is answered. A stream that ends early, breaks, or sends nothing
//! for [`UPLOAD_IDLE_TIMEOUT`] leaves nothing behind. A blob is read through an issue whose
//! events reference it: the caller needs that issue in scope, like `GetIssue`.

use std::pin::Pin;
use std::time::Duration;

use gridledger_api::{MAX_EVIDENCE_CHUNK_DATA_BYTES, evidence_ref_to_proto, parse_issue_id, proto};
use gridledger_domain::{EvidenceRef, IssueState, Sha256Digest};
use gridledger_evidence::{BlobProblem, BlobReader, EvidenceError, EvidenceStore};
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::Status;

use crate::auth::{self, Principal};
use crate::error::ServiceError;
use crate::issues::IssueStore;

/// An upload whose client sends no chunk for this long is abandoned (its partial file
/// removed), so a stalled client does not hold a file in `incoming/` for as long as its
/// connection lives (keepalive pings keep a connection open indefinitely).
pub(crate) const UPLOAD_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Uploads written at once, server-wide: each holds a file open in `incoming/`, so a
/// client opening thousands of uploads cannot run the process out of descriptors (which
/// the log needs). Further uploads wait for a slot, up to [`UPLOAD_IDLE_TIMEOUT`], then are
/// refused RESOURCE_EXHAUSTED.
pub(crate) const UPLOADS_AT_ONCE: usize = 64;

/// Chunks of a blob sent but not yet taken by the transport, per `GetEvidence` call.
const CHUNKS_IN_FLIGHT: usize = 2;

/// The chunks `GetEvidence` answers with.
pub(crate) type EvidenceChunks = Pin<Box<dyn Stream<Item = Result<proto::EvidenceChunk, Status>> + Send>>;

/// Runs `work` on the blocking pool; `task` names it if it panics.
async fn blocking<T: Send + 'static>(
    task: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|source| ServiceError::Task { task, source })
}

/// The next chunk of an upload, waiting at most `idle_timeout` for it; `None` when the
/// client has closed the stream.
async fn next_chunk<S>(chunks: &mut S, idle_timeout: Duration) -> Result<Option<proto::EvidenceChunk>, ServiceError>
where
    S: Stream<Item = Result<proto::EvidenceChunk, Status>> + Unpin,
{
    match tokio::time::timeout(idle_timeout, chunks.next()).await {
        Ok(Some(Ok(chunk))) => Ok(Some(chunk)),
        Ok(Some(Err(status))) => Err(ServiceError::RequestStream(status)),
        Ok(None) => Ok(None),
        Err(_elapsed) => Err(ServiceError::EvidenceUploadIdle {
            seconds: idle_timeout.as_secs(),
        }),
    }
}

/// `UploadEvidence`: stores the blob `chunks` carry and answers its ref (see the module
/// documentation). On any failure the partial upload is removed (dropping it does).
pub(crate) async fn upload_evidence<S>(
    evidence: &EvidenceStore,
    upload_slots: &Semaphore,
    mut chunks: S,
    idle_timeout: Duration,
) -> Result<proto::EvidenceRef, ServiceError>
where
    S: Stream<Item = Result<proto::EvidenceChunk, Status>> + Unpin,
{
    let mut chunk = next_chunk(&mut chunks, idle_timeout)
        .await?
        .ok_or_else(|| ServiceError::invalid("size", "is required on the first chunk (the stream carried no chunk)"))?;
    if chunk.size == 0 {
        return Err(ServiceError::invalid("size", "is required on the first chunk"));
    }
    let declared_size = chunk.size;
    let claimed = (!chunk.media_type.is_empty()).then(|| chunk.media_type.clone());
    // Held until the upload is stored or dropped.
    let _slot = match tokio::time::timeout(idle_timeout, upload_slots.acquire()).await {
        Ok(Ok(slot)) => slot,
        Ok(Err(_)) | Err(_) => {
            return Err(ServiceError::UploadsBusy {
                at_once: UPLOADS_AT_ONCE,
                waited_seconds: idle_timeout.as_secs(),
            });
        }
    };
    let store = evidence.clone();
    let claimed_for_store = claimed.clone();
    let mut upload = blocking("starting an evidence upload", move || {
        store.begin_upload(declared_size, claimed_for_store.as_deref())
    })
    .await??;
    loop {
        let data = std::mem::take(&mut chunk.data);
        if !data.is_empty() {
            let (returned, written) = blocking("writing evidence", move || {
                let written = upload.write_chunk(&data);
                (upload, written)
            })
            .await?;
            upload = returned;
            written?;
        }
        chunk = match next_chunk(&mut chunks, idle_timeout).await? {
            Some(next) => next,
            None => break,
        };
        if chunk.size != 0 && chunk.size != declared_size {
            return Err(ServiceError::invalid(
                "size",
                format!(
                    "the first chunk declared {declared_size} bytes and a later one {}: later chunks leave size 0 or repeat it",
                    chunk.size
                ),
            ));
        }
        if !chunk.media_type.is_empty() && Some(&chunk.media_type) != claimed.as_ref() {
            return Err(ServiceError::invalid(
                "media_type",
                "a later chunk names another media type than the first chunk: later chunks leave it empty or repeat it",
            ));
        }
    }
    let stored = blocking("storing evidence", move || upload.finish()).await??;
    let reference = stored.reference;
    tracing::info!(
        sha256 = %reference.sha256,
        size = reference.size,
        media_type = %reference.media_type,
        newly_stored = stored.newly_stored,
        "evidence stored"
    );
    Ok(evidence_ref_to_proto(&reference))
}

/// `GetEvidence`: the blob `request.sha256` in chunks of at most
/// [`MAX_EVIDENCE_CHUNK_DATA_BYTES`], the first with its size and media type, if the issue
/// `request.issue_id` (in the principal's scope) references it. Reading it to its end checks
/// its digest: a blob found damaged then ends the stream with DATA_LOSS.
pub(crate) async fn get_evidence(
    issues: &IssueStore,
    evidence: &EvidenceStore,
    principal: Option<&Principal>,
    request: &proto::GetEvidenceRequest,
) -> Result<EvidenceChunks, ServiceError> {
    let sha256 = Sha256Digest::from_bytes(request.sha256.as_slice().try_into().map_err(|_| {
        ServiceError::invalid(
            "sha256",
            format!("a SHA-256 digest is 32 bytes, got {} bytes", request.sha256.len()),
        )
    })?);
    if request.issue_id.is_empty() {
        return get_evidence_of_whole_log(issues, evidence, principal, sha256).await;
    }
    let issue_id = parse_issue_id("issue_id", &request.issue_id)?;
    let loaded = issues.load(issue_id, None)?;
    if let Some(principal) = principal {
        auth::require_issue_scope(principal, &loaded.state)?;
    }
    let IssueState::Existing(issue) = &loaded.state else {
        return Err(ServiceError::IssueNotFound {
            issue_id: issue_id.to_string(),
        });
    };
    let Some(referenced) = issue.evidence.iter().find(|held| held.sha256 == sha256).copied() else {
        return Err(ServiceError::EvidenceNotReferenced {
            issue_id: issue_id.to_string(),
            sha256: sha256.to_hex(),
        });
    };
    let store = evidence.clone();
    let reader = blocking("opening evidence", move || store.open_blob(&sha256))
        .await??
        .ok_or_else(|| ServiceError::EvidenceMissing {
            issue_id: issue_id.to_string(),
            sha256: sha256.to_hex(),
        })?;
    let held = reader.reference();
    if held.size != referenced.size {
        return Err(ServiceError::Evidence(EvidenceError::Damaged {
            sha256,
            problem: BlobProblem::SizeMismatch {
                expected: referenced.size,
                actual: held.size,
            },
        }));
    }
    let (sender, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
    tokio::spawn(send_blob(reader, referenced, sender));
    Ok(Box::pin(ReceiverStream::new(receiver)))
}

/// `GetEvidence` without an issue: for a caller who may read every issue of the node (no
/// authentication, or scopes covering every district of the registry), any blob the store
/// holds; for anyone else, the issue is required.
async fn get_evidence_of_whole_log(
    issues: &IssueStore,
    evidence: &EvidenceStore,
    principal: Option<&Principal>,
    sha256: Sha256Digest,
) -> Result<EvidenceChunks, ServiceError> {
    if let Some(principal) = principal {
        let reads_every_issue = issues
            .registry
            .districts()
            .iter()
            .all(|district| principal.scopes.contains(district.code.as_jurisdiction_code()));
        if !reads_every_issue {
            return Err(ServiceError::invalid(
                "issue_id",
                "is required: name an issue in your scope whose events reference the blob (only a principal with every district in scope may leave it empty)",
            ));
        }
    }
    let store = evidence.clone();
    let reader = blocking("opening evidence", move || store.open_blob(&sha256))
        .await??
        .ok_or_else(|| ServiceError::EvidenceUnknown {
            sha256: sha256.to_hex(),
        })?;
    let reference = reader.reference();
    let (sender, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
    tokio::spawn(send_blob(reader, reference, sender));
    Ok(Box::pin(ReceiverStream::new(receiver)))
}

/// Reads the blob chunk by chunk on the blocking pool and sends each as the client takes
/// them (no thread waits on a slow reader); stops when the client goes away.
async fn send_blob(
    mut reader: BlobReader,
    reference: EvidenceRef,
    sender: mpsc::Sender<Result<proto::EvidenceChunk, Status>>,
) {
    let mut first = true;
    loop {
        let read = blocking("reading evidence", move || {
            let chunk = reader.next_chunk(MAX_EVIDENCE_CHUNK_DATA_BYTES);
            (reader, chunk)
        })
        .await;
        let failure = match read {
            Ok((returned, Ok(Some(data)))) => {
                reader = returned;
                let mut chunk = proto::EvidenceChunk {
                    data,
                    ..proto::EvidenceChunk::default()
                };
                if first {
                    chunk.size = reference.size;
                    chunk.media_type = reference.media_type.as_str().to_owned();
                    first = false;
                }
                if sender.send(Ok(chunk)).await.is_err() {
                    // The client went away.
                    return;
                }
                continue;
            }
            Ok((_, Ok(None))) => return,
            Ok((_, Err(error))) => ServiceError::Evidence(error),
            Err(error) => error,
        };
        let _ = sender.send(Err(Status::from(failure))).await;
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(length: usize) -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00];
        bytes.resize(length, 0x42);
        bytes
    }

    /// Uploads `chunks`, then either ends the stream, fails it with `failure`, or (with
    /// `stall`) sends nothing more; the outcome must have `expected` code (OK for a ref), and
    /// nothing may be left in `incoming/`.
    async fn check(chunks: Vec<proto::EvidenceChunk>, failure: Option<Status>, stall: bool, expected: tonic::Code) {
        let directory = tempfile::tempdir().expect("a temporary folder");
        let store = EvidenceStore::open(directory.path().join("evidence")).expect("opens");
        let ending: Vec<Result<proto::EvidenceChunk, Status>> = failure.into_iter().map(Err).collect();
        let sent = tokio_stream::iter(chunks.into_iter().map(Ok).chain(ending));
        let outcome = if stall {
            upload_evidence(
                &store,
                &Semaphore::new(1),
                sent.chain(tokio_stream::pending()),
                Duration::from_millis(50),
            )
            .await
        } else {
            upload_evidence(&store, &Semaphore::new(1), sent, UPLOAD_IDLE_TIMEOUT).await
        };
        let code = match outcome {
            Ok(_) => tonic::Code::Ok,
            Err(error) => Status::from(error).code(),
        };
        assert_eq!(code, expected);
        let incoming = directory.path().join("evidence").join("incoming");
        assert_eq!(
            std::fs::read_dir(incoming).expect("lists").count(),
            0,
            "nothing is left"
        );
    }

    fn chunk(size: u64, data: Vec<u8>) -> proto::EvidenceChunk {
        proto::EvidenceChunk {
            size,
            media_type: String::new(),
            data,
        }
    }

    #[tokio::test]
    async fn an_upload_that_stalls_or_breaks_leaves_nothing() {
        check(vec![chunk(100, jpeg(100))], None, false, tonic::Code::Ok).await;
        check(vec![chunk(100, jpeg(50))], None, true, tonic::Code::DeadlineExceeded).await;
        check(vec![], None, true, tonic::Code::DeadlineExceeded).await;
        check(
            vec![chunk(100, jpeg(50))],
            Some(Status::cancelled("the client went away")),
            false,
            tonic::Code::Cancelled,
        )
        .await;
        check(
            vec![chunk(100, jpeg(50))],
            Some(Status::resource_exhausted("a chunk too large")),
            false,
            tonic::Code::ResourceExhausted,
        )
        .await;
    }

    #[tokio::test]
    async fn an_upload_waits_for_a_slot_and_is_refused_when_none_frees_up() {
        let directory = tempfile::tempdir().expect("a temporary folder");
        let store = EvidenceStore::open(directory.path().join("evidence")).expect("opens");
        let no_slot_free = Semaphore::new(0);
        let sent = tokio_stream::iter(vec![Ok(chunk(100, jpeg(100)))]);
        let refusal = upload_evidence(&store, &no_slot_free, sent, Duration::from_millis(20))
            .await
            .expect_err("no slot");
        let status = Status::from(refusal);
        assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{}", status.message());
        assert!(
            status.message().contains("uploads are being written"),
            "{}",
            status.message()
        );
        let incoming = directory.path().join("evidence").join("incoming");
        assert_eq!(std::fs::read_dir(incoming).expect("lists").count(), 0);
    }
}
