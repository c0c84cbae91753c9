//! [`Client::upload_evidence`] and [`Client::get_evidence`]: photos and videos to and from a
//! server's evidence store in chunks of at most [`MAX_EVIDENCE_CHUNK_DATA_BYTES`], each blob
//! checked on arrival against its SHA-256. Both are safe to repeat (an upload is stored once
//! per digest), so both are retried whole after a failure that may be transient.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use gridledger_codec::{WireError, evidence_ref_from_proto};
use gridledger_domain::{EvidenceMediaType, EvidenceRef, IssueId, MAX_EVIDENCE_BYTES, Sha256Digest};
use sha2::{Digest, Sha256};

use super::{Client, ClientError, RpcCode};
use crate::grpc_codec::MAX_EVIDENCE_CHUNK_DATA_BYTES;
use crate::proto;

/// The slowest transfer an evidence call is given time for, in bytes a second: a call may
/// take the retry policy's timeout plus one second per MiB.
const SLOWEST_BYTES_PER_SECOND: u64 = 1024 * 1024;

/// A blob as `GetEvidence` sent it, checked: its bytes have the ref's size and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceBlob {
    pub reference: EvidenceRef,
    pub bytes: Vec<u8>,
}

fn sha256_of(bytes: &[u8]) -> Sha256Digest {
    Sha256Digest::from_bytes(Sha256::digest(bytes).into())
}

impl Client {
    /// Uploads a photo or video (`UploadEvidence`): `claimed_media_type`, when given, is what
    /// the caller believes the bytes are (`image/jpeg`, ...), which the server checks against
    /// what they are. Returns the ref to put into commands, after checking that it names
    /// these bytes. The server refuses an empty blob, more than 64 MiB
    /// (RESOURCE_EXHAUSTED), and bytes that are not of an accepted media type or not of the
    /// one claimed (INVALID_ARGUMENT).
    pub async fn upload_evidence(
        &self,
        bytes: &[u8],
        claimed_media_type: Option<&str>,
    ) -> Result<EvidenceRef, ClientError> {
        let data: Arc<[u8]> = Arc::from(bytes);
        let claimed = claimed_media_type.unwrap_or_default().to_owned();
        let sha256 = sha256_of(bytes);
        let time_allowed = self.transfer_time(bytes.len() as u64);
        let answer = self
            .retrying(time_allowed, || {
                let mut issues = self.issues.clone();
                let chunks = evidence_chunks(data.clone(), claimed.clone());
                async move { issues.upload_evidence(chunks).await.map(tonic::Response::into_inner) }
            })
            .await?;
        let reference = evidence_ref_from_proto(&answer)?;
        if reference.sha256 != sha256 || reference.size != bytes.len() as u64 {
            return Err(ClientError::InvalidResponse(WireError::invalid(
                "sha256",
                format!(
                    "the server answered {} ({} bytes) for {} bytes that hash to {sha256}",
                    reference.sha256,
                    reference.size,
                    bytes.len()
                ),
            )));
        }
        Ok(reference)
    }

    /// A blob that the issue `issue_id` references (`GetEvidence`), checked against `sha256`
    /// and the size the server announced. NOT_FOUND when the issue does not exist or does
    /// not reference it; PERMISSION_DENIED when the issue is outside the caller's scope.
    pub async fn get_evidence(&self, issue_id: IssueId, sha256: Sha256Digest) -> Result<EvidenceBlob, ClientError> {
        let request = proto::GetEvidenceRequest {
            sha256: sha256.as_bytes().to_vec(),
            issue_id: issue_id.to_string(),
        };
        let time_allowed = self.transfer_time(MAX_EVIDENCE_BYTES);
        self.retrying(time_allowed, || {
            let mut issues = self.issues.clone();
            let request = request.clone();
            async move {
                let mut chunks = issues.get_evidence(request).await?.into_inner();
                let mut received = Vec::new();
                let mut bytes: u64 = 0;
                while let Some(chunk) = chunks.message().await? {
                    bytes += chunk.data.len() as u64;
                    if bytes > MAX_EVIDENCE_BYTES {
                        return Err(tonic::Status::out_of_range(format!(
                            "the server sent more than {MAX_EVIDENCE_BYTES} bytes, more than any blob has"
                        )));
                    }
                    received.push(chunk);
                }
                Ok(received)
            }
        })
        .await
        .and_then(|chunks| blob_from_chunks(sha256, chunks))
    }

    /// How long a call that moves `bytes` may take.
    fn transfer_time(&self, bytes: u64) -> Duration {
        self.retry.timeout + Duration::from_secs(bytes.div_ceil(SLOWEST_BYTES_PER_SECOND))
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retry policy's attempts are
    /// used up, each attempt limited to `time_allowed`.
    async fn retrying<T, Attempt, Answer>(&self, time_allowed: Duration, attempt: Attempt) -> Result<T, ClientError>
    where
        Attempt: Fn() -> Answer,
        Answer: Future<Output = Result<T, tonic::Status>>,
    {
        let attempts = self.retry.attempts.max(1);
        let mut backoff = self.retry.first_backoff;
        let mut attempt_number = 1;
        loop {
            let outcome = match tokio::time::timeout(time_allowed, attempt()).await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(status)) => ClientError::of_status(&status),
                Err(_elapsed) => ClientError::Rpc {
                    code: RpcCode::DeadlineExceeded,
                    message: format!("no complete answer within {time_allowed:?}"),
                },
            };
            if !outcome.code().is_some_and(RpcCode::is_transient) || attempt_number >= attempts {
                return Err(outcome);
            }
            tracing::warn!(error = %outcome, attempt = attempt_number, "retrying an evidence call after a transient failure");
            self.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.retry.first_backoff * 32);
            attempt_number += 1;
        }
    }
}

/// The chunks of an upload of `data`: the first with the size and the claimed media type.
fn evidence_chunks(
    data: Arc<[u8]>,
    claimed_media_type: String,
) -> impl tonic::codegen::tokio_stream::Stream<Item = proto::EvidenceChunk> + Send + 'static {
    let count = data.len().div_ceil(MAX_EVIDENCE_CHUNK_DATA_BYTES).max(1);
    tonic::codegen::tokio_stream::iter((0..count).map(move |index| {
        let start = index * MAX_EVIDENCE_CHUNK_DATA_BYTES;
        let end = (start + MAX_EVIDENCE_CHUNK_DATA_BYTES).min(data.len());
        let first = index == 0;
        proto::EvidenceChunk {
            size: if first { data.len() as u64 } else { 0 },
            media_type: if first {
                claimed_media_type.clone()
            } else {
                String::new()
            },
            data: data[start..end].to_vec(),
        }
    }))
}

/// The blob `chunks` carry, checked: the first announces size and media type, and the
/// bytes have that size and the digest asked for.
fn blob_from_chunks(sha256: Sha256Digest, chunks: Vec<proto::EvidenceChunk>) -> Result<EvidenceBlob, ClientError> {
    let malformed =
        |field: &'static str, reason: String| ClientError::InvalidResponse(WireError::invalid(field, reason));
    let Some(first) = chunks.first() else {
        return Err(malformed("size", "the server sent no chunk".to_owned()));
    };
    let size = first.size;
    if size == 0 || size > MAX_EVIDENCE_BYTES {
        return Err(malformed("size", format!("the server announced {size} bytes")));
    }
    let media_type = EvidenceMediaType::from_name(&first.media_type).ok_or_else(|| {
        malformed(
            "media_type",
            format!(
                "the server announced {:?}, not an accepted media type",
                first.media_type
            ),
        )
    })?;
    let received: u64 = chunks.iter().map(|chunk| chunk.data.len() as u64).sum();
    if received != size {
        return Err(malformed(
            "data",
            format!("the server announced {size} bytes and sent {received}"),
        ));
    }
    let mut bytes = Vec::with_capacity(received as usize);
    for chunk in chunks {
        bytes.extend_from_slice(&chunk.data);
    }
    let actual = sha256_of(&bytes);
    if actual != sha256 {
        return Err(malformed(
            "sha256",
            format!("{sha256} was asked for, and the bytes sent hash to {actual}"),
        ));
    }
    Ok(EvidenceBlob {
        reference: EvidenceRef {
            sha256,
            size,
            media_type,
        },
        bytes,
    })
}
