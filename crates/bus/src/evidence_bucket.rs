//! The district's evidence bucket: a JetStream object store holding every photo and video
//! the district's events reference, one object per blob named by the 64 hex digits of its
//! SHA-256 (`GRIDLEDGER_<DISTRICT>_EVIDENCE`, see [`evidence_bucket_name`]), so that the
//! evidence travels with the stream and `restore` can bring both back.
//!
//! - [`EvidenceBucket::ensure`] creates the bucket if it is missing (file storage, the
//!   district stream's replicas, nothing ever expires) and refuses one that would not keep
//!   every blob (a limit, memory storage, other replicas), naming each difference.
//! - [`EvidenceBucket::put_blob`] replicates one blob from the node's evidence store: an
//!   object already there with the blob's size and SHA-256 digest (the object store records
//!   one, `SHA-256=<base64url>`) is left alone; otherwise the bytes are streamed from the
//!   store in 128 KiB chunks, rehashed as they are read, and the object's metadata, which is
//!   what makes it visible, is written only after the last chunk checked out. The outbox
//!   calls it for every blob an event references before it publishes the event.
//! - [`EvidenceBucket::restore_blob`] streams an object back into an evidence store through
//!   `EvidenceStore::import_blob`, which checks size and digest once more.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::object_store::{self, GetErrorKind, InfoErrorKind, ObjectInfo, ObjectMetadata, ObjectStore};
use async_nats::jetstream::stream::StorageType;
use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use bytes::{Bytes, BytesMut};
use gridledger_domain::{DistrictCode, EvidenceRef, Sha256Digest};
use gridledger_eventlog::Position;
use gridledger_evidence::{BlobProblem, BlobReader, EvidenceError, EvidenceStore, StoredEvidence};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::sync::mpsc;

use crate::connection::NatsConnection;
use crate::error::BusError;
use crate::naming::{evidence_bucket_name, evidence_bucket_of_stream, evidence_object_name};
use crate::stream::StreamSettings;

/// The bytes of one chunk of an object: the object store's own default.
const CHUNK_BYTES: usize = 128 * 1024;
/// Chunks read ahead of the one being sent or stored.
const CHUNKS_AHEAD: usize = 4;
/// The object's metadata key holding the blob's media type.
const MEDIA_TYPE_METADATA: &str = "media-type";

/// The JetStream stream behind an object store bucket.
fn bucket_stream_name(bucket: &str) -> String {
    format!("OBJ_{bucket}")
}

/// A district's evidence bucket. Cheap to clone.
#[derive(Clone)]
pub struct EvidenceBucket {
    name: String,
    store: ObjectStore,
}

impl fmt::Debug for EvidenceBucket {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("EvidenceBucket")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What the bucket holds under a blob's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketBlob {
    /// The object's size in bytes.
    pub size: u64,
    /// The SHA-256 the object store recorded for the object's bytes (`None` when it recorded
    /// none, or one that is not a SHA-256 digest).
    pub sha256: Option<Sha256Digest>,
}

impl BucketBlob {
    fn of_info(info: &ObjectInfo) -> BucketBlob {
        BucketBlob {
            size: info.size as u64,
            sha256: info.digest.as_deref().and_then(parse_object_digest),
        }
    }

    /// Whether these are the bytes `reference` names: its size, and its digest as the object
    /// store recorded it.
    pub fn matches(&self, reference: &EvidenceRef) -> bool {
        self.size == reference.size && self.sha256 == Some(reference.sha256)
    }

    fn describe(&self) -> String {
        match self.sha256 {
            Some(sha256) => format!("{} bytes whose SHA-256 is {sha256}", self.size),
            None => format!("{} bytes without a SHA-256 digest", self.size),
        }
    }
}

/// What [`EvidenceBucket::put_blob`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobPut {
    /// The bucket held the blob already (its size and digest): nothing was written.
    AlreadyThere,
    /// The blob's bytes were written.
    Stored,
}

/// The SHA-256 in an object store digest, `SHA-256=<base64url>` (padded or not).
fn parse_object_digest(digest: &str) -> Option<Sha256Digest> {
    let (algorithm, encoded) = digest.split_once('=')?;
    if !algorithm.eq_ignore_ascii_case("SHA-256") {
        return None;
    }
    let bytes = URL_SAFE
        .decode(encoded)
        .or_else(|_| URL_SAFE_NO_PAD.decode(encoded))
        .ok()?;
    let bytes: [u8; 32] = bytes.try_into().ok()?;
    Some(Sha256Digest::from_bytes(bytes))
}

/// The bucket's configuration gridledger creates.
fn bucket_config(bucket: &str, district: &DistrictCode, settings: &StreamSettings) -> object_store::Config {
    object_store::Config {
        bucket: bucket.to_owned(),
        description: Some(format!(
            "gridledger evidence of district {}: each photo or video its events reference, named by its SHA-256",
            district.as_str()
        )),
        max_age: Duration::ZERO,
        max_bytes: -1,
        storage: StorageType::File,
        num_replicas: settings.replicas.max(1),
        ..Default::default()
    }
}

/// Every way the existing bucket's stream differs from one that keeps every blob with the
/// replicas asked for, one phrase each.
fn bucket_differences(wanted: &object_store::Config, found: &jetstream::stream::Config) -> Vec<String> {
    let mut differences = Vec::new();
    let mut differ = |setting: &str, wanted_value: String, found_value: String| {
        if wanted_value != found_value {
            differences.push(format!("{setting} is {found_value}, want {wanted_value}"));
        }
    };
    let limit = |value: i64| {
        if value <= 0 {
            "unlimited".to_owned()
        } else {
            value.to_string()
        }
    };
    differ(
        "storage",
        format!("{:?}", wanted.storage),
        format!("{:?}", found.storage),
    );
    differ(
        "replicas",
        wanted.num_replicas.max(1).to_string(),
        found.num_replicas.max(1).to_string(),
    );
    differ(
        "max_age",
        "unlimited".to_owned(),
        if found.max_age.is_zero() {
            "unlimited".to_owned()
        } else {
            format!("{:?}", found.max_age)
        },
    );
    differ("max_bytes", "unlimited".to_owned(), limit(found.max_bytes));
    differ("max_msgs", "unlimited".to_owned(), limit(found.max_messages));
    differ("sealed", "false".to_owned(), found.sealed.to_string());
    differences
}

/// The bucket's stream configuration, `None` when the bucket does not exist.
async fn bucket_stream_config(
    connection: &NatsConnection,
    bucket: &str,
) -> Result<Option<jetstream::stream::Config>, BusError> {
    match connection.jetstream.get_stream(bucket_stream_name(bucket)).await {
        Ok(handle) => Ok(Some(handle.cached_info().config.clone())),
        Err(error) => match error.kind() {
            GetStreamErrorKind::JetStream(api_error)
                if api_error.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
            {
                Ok(None)
            }
            _ => Err(BusError::nats(format!("reading bucket {bucket}"), error)),
        },
    }
}

impl EvidenceBucket {
    /// The evidence bucket of `district` ([`evidence_bucket_name`]), created if missing with
    /// file storage, `settings.replicas` copies and no limit; an existing one that would not
    /// keep every blob (a limit, memory storage, sealed) or has other replicas is left as it
    /// is and refused with [`BusError::StreamConfigMismatch`] naming each difference.
    pub async fn ensure(
        connection: &NatsConnection,
        district: &DistrictCode,
        settings: &StreamSettings,
    ) -> Result<EvidenceBucket, BusError> {
        let name = evidence_bucket_name(district);
        let wanted = bucket_config(&name, district, settings);
        if let Some(found) = bucket_stream_config(connection, &name).await? {
            check_bucket(&wanted, &found)?;
            return EvidenceBucket::open_existing(connection, &name).await;
        }
        match connection.jetstream.create_object_store(wanted.clone()).await {
            Ok(store) => {
                tracing::info!(bucket = %name, replicas = wanted.num_replicas, "created the evidence bucket");
                Ok(EvidenceBucket { name, store })
            }
            // Someone else created it meanwhile: check theirs.
            Err(create_error) => match bucket_stream_config(connection, &name).await {
                Ok(Some(found)) => {
                    check_bucket(&wanted, &found)?;
                    EvidenceBucket::open_existing(connection, &name).await
                }
                _ => Err(BusError::nats(format!("creating bucket {name}"), create_error)),
            },
        }
    }

    /// The evidence bucket of the district whose event stream is `stream`
    /// ([`evidence_bucket_of_stream`]); `None` when it does not exist. Nothing is created.
    pub async fn open(connection: &NatsConnection, stream: &str) -> Result<Option<EvidenceBucket>, BusError> {
        let name = evidence_bucket_of_stream(stream);
        if bucket_stream_config(connection, &name).await?.is_none() {
            return Ok(None);
        }
        EvidenceBucket::open_existing(connection, &name).await.map(Some)
    }

    async fn open_existing(connection: &NatsConnection, name: &str) -> Result<EvidenceBucket, BusError> {
        let store = connection
            .jetstream
            .get_object_store(name)
            .await
            .map_err(|error| BusError::nats(format!("opening bucket {name}"), error))?;
        Ok(EvidenceBucket {
            name: name.to_owned(),
            store,
        })
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the bucket holds under `sha256`'s name; `None` when nothing (or a deleted
    /// object).
    pub async fn stat(&self, sha256: &Sha256Digest) -> Result<Option<BucketBlob>, BusError> {
        let object = evidence_object_name(sha256);
        match self.store.info(&object).await {
            Ok(info) if info.deleted => Ok(None),
            Ok(info) => Ok(Some(BucketBlob::of_info(&info))),
            Err(error) if error.kind() == InfoErrorKind::NotFound => Ok(None),
            Err(error) => Err(BusError::nats(format!("reading {}/{object}", self.name), error)),
        }
    }

    /// Makes sure the bucket holds the blob `reference` names, reading it from `store`:
    /// [`BlobPut::AlreadyThere`] when an object of that name has its size and digest,
    /// else its bytes are streamed into the bucket ([`BlobPut::Stored`]), the object made
    /// visible only once every byte was read and found to hash to the blob's digest.
    /// `position` is the event that references it, for the errors.
    ///
    /// Errors: [`BusError::EvidenceNotHeld`] when `store` does not hold the blob;
    /// [`BusError::Evidence`] when it is damaged (other size or digest; nothing is made
    /// visible) or the file system fails; [`BusError::Nats`] when NATS does.
    pub async fn put_blob(
        &self,
        store: &EvidenceStore,
        reference: &EvidenceRef,
        position: Position,
    ) -> Result<BlobPut, BusError> {
        if let Some(found) = self.stat(&reference.sha256).await?
            && found.matches(reference)
        {
            return Ok(BlobPut::AlreadyThere);
        }
        let sha256 = reference.sha256;
        let store_failed = |source: EvidenceError| BusError::Evidence {
            sha256,
            position,
            source,
        };
        let opening = store.clone();
        let reader = tokio::task::spawn_blocking(move || opening.open_blob(&sha256))
            .await
            .map_err(|error| store_failed(task_failed("read", store.blob_path(&sha256), error)))?
            .map_err(store_failed)?;
        let Some(reader) = reader else {
            return Err(BusError::EvidenceNotHeld {
                sha256,
                position,
                reason: format!("the evidence store in {} does not hold", store.directory().display()),
            });
        };
        let held_size = reader.reference().size;
        if held_size != reference.size {
            return Err(store_failed(EvidenceError::Damaged {
                sha256,
                problem: BlobProblem::SizeMismatch {
                    expected: reference.size,
                    actual: held_size,
                },
            }));
        }
        let path = reader.path().to_path_buf();
        let (sender, receiver) = mpsc::channel(CHUNKS_AHEAD);
        let producer = tokio::task::spawn_blocking(move || send_chunks(reader, sender));
        let object = evidence_object_name(&sha256);
        let metadata = ObjectMetadata {
            name: object.clone(),
            description: Some(format!("{}, {} bytes", reference.media_type, reference.size)),
            chunk_size: Some(CHUNK_BYTES),
            metadata: HashMap::from([(MEDIA_TYPE_METADATA.to_owned(), reference.media_type.as_str().to_owned())]),
            headers: None,
        };
        let mut chunks = ChunkStream::new(receiver);
        let put = self.store.put(metadata, &mut chunks).await;
        // The producer stops at its next chunk if the put gave up early.
        drop(chunks);
        match producer.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(store_failed(error)),
            Err(error) => return Err(store_failed(task_failed("read", path, error))),
        }
        let info = put.map_err(|error| BusError::nats(format!("writing {}/{object}", self.name), error))?;
        let written = BucketBlob::of_info(&info);
        if !written.matches(reference) {
            return Err(BusError::EvidenceMissing {
                bucket: self.name.clone(),
                sha256,
                position,
                reason: format!(
                    "was written as {}, not {} bytes with that digest",
                    written.describe(),
                    reference.size
                ),
            });
        }
        tracing::debug!(bucket = %self.name, sha256 = %sha256, size = reference.size, position, "evidence blob replicated");
        Ok(BlobPut::Stored)
    }

    /// Reads the blob `reference` names out of the bucket into `store`
    /// (`EvidenceStore::import_blob`, which checks its size, digest and media type and stores
    /// it durably; a blob the store holds already is not written again). `progress` is told
    /// of the bytes as they arrive. `position` is the event that references it.
    ///
    /// Errors: [`BusError::EvidenceMissing`] when the bucket does not hold it, holds other
    /// bytes under its name, or its chunks do not hash to the digest it recorded;
    /// [`BusError::Evidence`] when the store refuses the bytes (another size, digest or media
    /// type) or fails; [`BusError::Nats`] when NATS does (transient).
    pub async fn restore_blob(
        &self,
        store: &EvidenceStore,
        reference: &EvidenceRef,
        position: Position,
        mut progress: impl FnMut(u64),
    ) -> Result<StoredEvidence, BusError> {
        let sha256 = reference.sha256;
        let missing = |reason: String| BusError::EvidenceMissing {
            bucket: self.name.clone(),
            sha256,
            position,
            reason,
        };
        match self.stat(&sha256).await? {
            None => return Err(missing("is not in the bucket".to_owned())),
            Some(found) if !found.matches(reference) => {
                return Err(missing(format!(
                    "is in the bucket as {}, not {} bytes with that digest",
                    found.describe(),
                    reference.size
                )));
            }
            Some(_) => {}
        }
        let object_name = evidence_object_name(&sha256);
        let mut object = match self.store.get(&object_name).await {
            Ok(object) => object,
            Err(error) if error.kind() == GetErrorKind::NotFound => {
                return Err(missing("is not in the bucket".to_owned()));
            }
            Err(error) => {
                return Err(BusError::nats(format!("reading {}/{object_name}", self.name), error));
            }
        };
        let (sender, receiver) = mpsc::channel(CHUNKS_AHEAD);
        let importing = store.clone();
        let expected = *reference;
        let importer =
            tokio::task::spawn_blocking(move || importing.import_blob(ChunkReader::new(receiver), &expected));
        let mut read_failure = None;
        loop {
            let mut buffer = BytesMut::with_capacity(CHUNK_BYTES);
            match object.read_buf(&mut buffer).await {
                Ok(0) => break,
                Ok(count) => {
                    progress(count as u64);
                    if sender.send(Ok(buffer.freeze())).await.is_err() {
                        // The store refused the bytes; its error says why.
                        break;
                    }
                }
                Err(error) => {
                    let _ = sender.send(Err(io::Error::new(error.kind(), error.to_string()))).await;
                    read_failure = Some(error);
                    break;
                }
            }
        }
        drop(sender);
        let imported = importer.await;
        if let Some(error) = read_failure {
            // The object store answers InvalidData when the chunks do not hash to the
            // digest it recorded.
            return Err(if error.kind() == io::ErrorKind::InvalidData {
                missing(format!("is damaged in the bucket: {error}"))
            } else {
                BusError::nats(format!("reading {}/{object_name}", self.name), error)
            });
        }
        match imported {
            Ok(Ok(stored)) => Ok(stored),
            Ok(Err(source)) => Err(BusError::Evidence {
                sha256,
                position,
                source,
            }),
            Err(error) => Err(BusError::Evidence {
                sha256,
                position,
                source: task_failed("import", store.blob_path(&sha256), error),
            }),
        }
    }
}

fn check_bucket(wanted: &object_store::Config, found: &jetstream::stream::Config) -> Result<(), BusError> {
    let differences = bucket_differences(wanted, found);
    if differences.is_empty() {
        Ok(())
    } else {
        Err(BusError::StreamConfigMismatch {
            stream: bucket_stream_name(&wanted.bucket),
            differences: differences.join("; "),
        })
    }
}

/// A blocking task that failed (panicked or was cancelled), as the store's I/O error.
fn task_failed(action: &'static str, path: PathBuf, error: tokio::task::JoinError) -> EvidenceError {
    EvidenceError::Io {
        action,
        path,
        source: io::Error::other(error),
    }
}

/// Reads `reader` to its end, chunk by chunk, into `sender` (on a blocking thread). A
/// damaged blob sends an error instead of its end, so whoever reads the chunks never sees
/// it complete; the error is returned too. Stops quietly when the receiver is gone.
fn send_chunks(mut reader: BlobReader, sender: mpsc::Sender<io::Result<Bytes>>) -> Result<(), EvidenceError> {
    loop {
        match reader.next_chunk(CHUNK_BYTES) {
            Ok(Some(chunk)) => {
                if sender.blocking_send(Ok(Bytes::from(chunk))).is_err() {
                    return Ok(());
                }
            }
            Ok(None) => return Ok(()),
            Err(error) => {
                let _ = sender.blocking_send(Err(io::Error::other(error.to_string())));
                return Err(error);
            }
        }
    }
}

/// The chunks of a channel as an `AsyncRead` (for the object store's `put`); the end of
/// the channel is the end of the bytes.
struct ChunkStream {
    receiver: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl ChunkStream {
    fn new(receiver: mpsc::Receiver<io::Result<Bytes>>) -> ChunkStream {
        ChunkStream {
            receiver,
            current: Bytes::new(),
        }
    }
}

impl AsyncRead for ChunkStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.current.is_empty() {
                let count = self.current.len().min(buffer.remaining());
                let taken = self.current.split_to(count);
                buffer.put_slice(&taken);
                return Poll::Ready(Ok(()));
            }
            match self.receiver.poll_recv(context) {
                Poll::Ready(Some(Ok(chunk))) => self.current = chunk,
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Err(error)),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The chunks of a channel as a blocking `Read` (for `import_blob`, on a blocking thread);
/// the end of the channel is the end of the bytes.
struct ChunkReader {
    receiver: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl ChunkReader {
    fn new(receiver: mpsc::Receiver<io::Result<Bytes>>) -> ChunkReader {
        ChunkReader {
            receiver,
            current: Bytes::new(),
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if buffer.is_empty() {
            return Ok(0);
        }
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(error)) => return Err(error),
                None => return Ok(0),
            }
        }
        let count = self.current.len().min(buffer.len());
        buffer[..count].copy_from_slice(&self.current.split_to(count));
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_store_digests_are_read_padded_or_not() {
        let digest = Sha256Digest::from_bytes([0xfb; 32]);
        let padded = format!("SHA-256={}", URL_SAFE.encode(digest.as_bytes()));
        let unpadded = format!("SHA-256={}", URL_SAFE_NO_PAD.encode(digest.as_bytes()));
        assert_eq!(parse_object_digest(&padded), Some(digest));
        assert_eq!(parse_object_digest(&unpadded), Some(digest));
        assert_eq!(parse_object_digest(&format!("sha-256={}", &padded[8..])), Some(digest));
        assert_eq!(parse_object_digest("SHA-512=AAAA"), None);
        assert_eq!(parse_object_digest("SHA-256=AAAA"), None);
        assert_eq!(parse_object_digest("nothing"), None);
    }

    #[test]
    fn a_bucket_that_would_lose_blobs_is_named_each_way() -> Result<(), Box<dyn std::error::Error>> {
        let district = DistrictCode::parse("runzhou")?;
        let settings = StreamSettings {
            replicas: 3,
            ..StreamSettings::default()
        };
        let wanted = bucket_config("GRIDLEDGER_RUNZHOU_EVIDENCE", &district, &settings);
        let mut found = jetstream::stream::Config {
            name: "OBJ_GRIDLEDGER_RUNZHOU_EVIDENCE".to_owned(),
            storage: StorageType::File,
            num_replicas: 3,
            max_bytes: -1,
            max_messages: -1,
            ..Default::default()
        };
        assert!(bucket_differences(&wanted, &found).is_empty());
        found.max_age = Duration::from_secs(3600);
        found.max_bytes = 1 << 30;
        found.num_replicas = 1;
        let named: Vec<String> = bucket_differences(&wanted, &found)
            .iter()
            .map(|difference| difference.split(' ').next().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(named, ["replicas", "max_age", "max_bytes"]);
        Ok(())
    }

    #[tokio::test]
    async fn chunks_read_back_as_the_bytes_sent() -> Result<(), Box<dyn std::error::Error>> {
        let (sender, receiver) = mpsc::channel(2);
        let writer = tokio::spawn(async move {
            for chunk in [&b"abc"[..], b"", b"defgh"] {
                if sender.send(Ok(Bytes::copy_from_slice(chunk))).await.is_err() {
                    break;
                }
            }
        });
        let mut stream = ChunkStream::new(receiver);
        let mut read = Vec::new();
        stream.read_to_end(&mut read).await?;
        writer.await?;
        assert_eq!(read, b"abcdefgh");

        let (sender, receiver) = mpsc::channel(2);
        let reader = tokio::task::spawn_blocking(move || {
            let mut read = Vec::new();
            ChunkReader::new(receiver).read_to_end(&mut read).map(|_| read)
        });
        sender.send(Ok(Bytes::from_static(b"12"))).await?;
        sender.send(Err(io::Error::other("cut"))).await?;
        drop(sender);
        assert!(reader.await?.is_err());
        Ok(())
    }
}
