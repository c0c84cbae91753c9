//! [`EvidenceStore`]: the directory of blobs, uploads into it ([`EvidenceUpload`]), reads
//! out of it ([`BlobReader`]), and imports of blobs known by their ref.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gridledger_domain::{EvidenceMediaType, EvidenceRef, MAX_EVIDENCE_BYTES, Sha256Digest};
use sha2::{Digest, Sha256};

use crate::error::{BlobProblem, EvidenceError};
use crate::sniff::{SNIFF_BYTES, SniffedType, sniff_media_type};

/// The folder of stored blobs, inside the store's directory.
pub const BLOBS_DIRECTORY: &str = "blobs";
/// The folder of uploads in progress, inside the store's directory; emptied on open.
pub const INCOMING_DIRECTORY: &str = "incoming";

/// How many bytes are read from a blob at a time.
pub(crate) const READ_BYTES: usize = 1024 * 1024;

/// Names uploads in progress uniquely within the process (with its id, across processes).
static UPLOAD_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// The evidence store: every blob is the file `blobs/<first 2 hex digits>/<64 hex
/// digits>` of the SHA-256 of its bytes, stored once per digest; uploads are written into
/// `incoming/` and moved into `blobs/` once complete, checked and durable. Cheap to clone
/// (clones share the same directory).
#[derive(Debug, Clone)]
pub struct EvidenceStore {
    inner: Arc<StoreInner>,
}

#[derive(Debug)]
pub(crate) struct StoreInner {
    pub(crate) directory: PathBuf,
    pub(crate) blobs: PathBuf,
    incoming: PathBuf,
    max_blob_bytes: u64,
}

/// A blob just uploaded or imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredEvidence {
    /// Its digest, size and media type.
    pub reference: EvidenceRef,
    /// False when the store held these bytes already (they are stored once per digest).
    pub newly_stored: bool,
}

impl EvidenceStore {
    /// Opens the store in `directory` (`<data dir>/evidence`), creating it and its folders
    /// if absent, and removes what uploads in progress left in `incoming/` (a crash or a
    /// kill mid-upload leaves nothing behind). For the one process that stores into it.
    pub fn open(directory: impl Into<PathBuf>) -> Result<EvidenceStore, EvidenceError> {
        let directory = directory.into();
        if let Some(parent) = directory.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(EvidenceError::io("create", parent))?;
        }
        create_directory_durably(&directory)?;
        let store = EvidenceStore::at(directory);
        create_directory_durably(&store.inner.blobs)?;
        create_directory_durably(&store.inner.incoming)?;
        store.remove_incoming_leftovers()?;
        Ok(store)
    }

    /// The store in `directory` as it is, for reading and verifying beside a running server:
    /// creates nothing and leaves `incoming/` alone. Fails if there is no store there.
    pub fn open_existing(directory: impl Into<PathBuf>) -> Result<EvidenceStore, EvidenceError> {
        let store = EvidenceStore::at(directory.into());
        fs::metadata(&store.inner.blobs).map_err(EvidenceError::io("open", &store.inner.blobs))?;
        Ok(store)
    }

    fn at(directory: PathBuf) -> EvidenceStore {
        EvidenceStore {
            inner: Arc::new(StoreInner {
                blobs: directory.join(BLOBS_DIRECTORY),
                incoming: directory.join(INCOMING_DIRECTORY),
                directory,
                max_blob_bytes: MAX_EVIDENCE_BYTES,
            }),
        }
    }

    /// The same store refusing blobs larger than `max_blob_bytes` (never more than
    /// [`MAX_EVIDENCE_BYTES`]).
    pub fn with_max_blob_bytes(self, max_blob_bytes: u64) -> EvidenceStore {
        EvidenceStore {
            inner: Arc::new(StoreInner {
                directory: self.inner.directory.clone(),
                blobs: self.inner.blobs.clone(),
                incoming: self.inner.incoming.clone(),
                max_blob_bytes: max_blob_bytes.min(MAX_EVIDENCE_BYTES),
            }),
        }
    }

    /// The store's directory.
    pub fn directory(&self) -> &Path {
        &self.inner.directory
    }

    /// The most bytes one blob may have here.
    pub fn max_blob_bytes(&self) -> u64 {
        self.inner.max_blob_bytes
    }

    /// The file a blob is stored in (whether or not it is there).
    pub fn blob_path(&self, sha256: &Sha256Digest) -> PathBuf {
        self.inner.blob_path(sha256)
    }

    fn remove_incoming_leftovers(&self) -> Result<(), EvidenceError> {
        let incoming = &self.inner.incoming;
        let entries = fs::read_dir(incoming).map_err(EvidenceError::io("list", incoming))?;
        let mut removed = false;
        for entry in entries {
            let entry = entry.map_err(EvidenceError::io("list", incoming))?;
            let path = entry.path();
            let is_directory = entry.file_type().map_err(EvidenceError::io("inspect", &path))?.is_dir();
            let outcome = if is_directory {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            outcome.map_err(EvidenceError::io("remove the partial upload", &path))?;
            removed = true;
        }
        if removed {
            sync_directory(incoming)?;
        }
        Ok(())
    }

    /// Starts an upload of `declared_size` bytes; `claimed_media_type` is what the client
    /// believes the bytes are, checked against what they are. Refuses a size of 0 or over
    /// [`EvidenceStore::max_blob_bytes`], and a claim that is not an accepted media type,
    /// before anything is written.
    pub fn begin_upload(
        &self,
        declared_size: u64,
        claimed_media_type: Option<&str>,
    ) -> Result<EvidenceUpload, EvidenceError> {
        if declared_size == 0 {
            return Err(EvidenceError::Empty);
        }
        if declared_size > self.inner.max_blob_bytes {
            return Err(EvidenceError::TooLarge {
                declared: declared_size,
                limit: self.inner.max_blob_bytes,
            });
        }
        let claimed = claimed_media_type
            .map(|claimed| {
                EvidenceMediaType::from_name(claimed).ok_or_else(|| EvidenceError::ClaimedMediaTypeNotAccepted {
                    claimed: claimed.chars().take(64).collect(),
                })
            })
            .transpose()?;
        let (temporary_path, file) = self.inner.create_temporary_file()?;
        Ok(EvidenceUpload {
            store: self.inner.clone(),
            temporary_path,
            file: Some(file),
            hasher: Sha256::new(),
            declared_size,
            received: 0,
            first_bytes: Vec::with_capacity(SNIFF_BYTES.min(usize::try_from(declared_size).unwrap_or(SNIFF_BYTES))),
            claimed,
            media_type: None,
            done: false,
        })
    }

    /// The ref of a stored blob: its size, and its media type found from its first bytes;
    /// `None` if the store does not hold it. (The bytes are not rehashed: see
    /// [`EvidenceStore::verify`], or read it through [`EvidenceStore::open_blob`].)
    pub fn stat(&self, sha256: &Sha256Digest) -> Result<Option<EvidenceRef>, EvidenceError> {
        Ok(self.open_blob(sha256)?.map(|reader| reader.reference()))
    }

    /// A stored blob to read, `None` if the store does not hold it. Its ref describes the
    /// file opened; reading it to its end checks its size and digest.
    pub fn open_blob(&self, sha256: &Sha256Digest) -> Result<Option<BlobReader>, EvidenceError> {
        let path = self.inner.blob_path(sha256);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(EvidenceError::io("open", &path)(error)),
        };
        let size = file.metadata().map_err(EvidenceError::io("inspect", &path))?.len();
        let damaged = |problem| EvidenceError::Damaged {
            sha256: *sha256,
            problem,
        };
        if size == 0 {
            return Err(damaged(BlobProblem::Empty));
        }
        if size > MAX_EVIDENCE_BYTES {
            return Err(damaged(BlobProblem::TooLarge { size }));
        }
        let first_bytes = read_first_bytes(&mut file).map_err(EvidenceError::io("read", &path))?;
        let found = sniff_media_type(&first_bytes);
        let media_type = found
            .accepted()
            .ok_or_else(|| damaged(BlobProblem::MediaType { found }))?;
        file.seek(SeekFrom::Start(0))
            .map_err(EvidenceError::io("read", &path))?;
        Ok(Some(BlobReader {
            file,
            path,
            reference: EvidenceRef {
                sha256: *sha256,
                size,
                media_type,
            },
            hasher: Sha256::new(),
            read: 0,
            checked: false,
        }))
    }

    /// Stores a blob known by its ref (restoring a node's evidence from elsewhere): the
    /// bytes `source` yields must have the ref's size, digest and media type; stored
    /// durably like an upload. A blob held already is not written again.
    pub fn import_blob(&self, mut source: impl Read, expected: &EvidenceRef) -> Result<StoredEvidence, EvidenceError> {
        let mut upload = self.begin_upload(expected.size, Some(expected.media_type.as_str()))?;
        let mut buffer = vec![0_u8; READ_BYTES];
        loop {
            let count = match source.read(&mut buffer) {
                Ok(0) => break,
                Ok(count) => count,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(EvidenceError::io("read the imported bytes of", upload.path())(error)),
            };
            upload.write_chunk(&buffer[..count])?;
        }
        upload.finish_expecting(Some(&expected.sha256))
    }
}

impl StoreInner {
    pub(crate) fn blob_path(&self, sha256: &Sha256Digest) -> PathBuf {
        let hex = sha256.to_hex();
        self.blobs.join(&hex[..2]).join(hex)
    }

    fn create_temporary_file(&self) -> Result<(PathBuf, File), EvidenceError> {
        loop {
            let sequence = UPLOAD_SEQUENCE.fetch_add(1, Ordering::Relaxed);
            let path = self.incoming.join(format!("upload-{}-{sequence}", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => return Ok((path, file)),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(error) => return Err(EvidenceError::io("create", &path)(error)),
            }
        }
    }

    /// Moves the complete, synced file at `temporary` into `blobs/` as `sha256`, durably;
    /// false when an intact blob of that digest was there already (the file is discarded).
    /// A damaged one there is replaced.
    fn store_blob(&self, temporary: &Path, sha256: &Sha256Digest, size: u64) -> Result<bool, EvidenceError> {
        let target = self.blob_path(sha256);
        let shard = target.parent().unwrap_or(&self.blobs).to_path_buf();
        create_directory_durably(&shard)?;
        // A hard link never replaces a file, so of two uploads of the same bytes finishing
        // at once, exactly one stores them.
        let newly_stored = match fs::hard_link(temporary, &target) {
            Ok(()) => true,
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                if blob_problem(&target, sha256, Some(size)).is_none() {
                    false
                } else {
                    // The blob held is damaged: these bytes, which hash right, replace it.
                    fs::rename(temporary, &target).map_err(EvidenceError::io("replace the damaged blob", &target))?;
                    true
                }
            }
            // A file system without hard links.
            Err(_) if !target.exists() => {
                fs::rename(temporary, &target).map_err(EvidenceError::io("store", &target))?;
                true
            }
            Err(error) => return Err(EvidenceError::io("store", &target)(error)),
        };
        if newly_stored {
            sync_directory(&shard)?;
        }
        // Gone already after a rename; a leftover is removed on the next open.
        let _ = fs::remove_file(temporary);
        Ok(newly_stored)
    }
}

/// An upload in progress: a file in `incoming/`, hashed as it is written. Dropped before
/// [`EvidenceUpload::finish`] succeeds, its file is removed.
#[derive(Debug)]
pub struct EvidenceUpload {
    store: Arc<StoreInner>,
    temporary_path: PathBuf,
    file: Option<File>,
    hasher: Sha256,
    declared_size: u64,
    received: u64,
    /// The first [`SNIFF_BYTES`] received.
    first_bytes: Vec<u8>,
    claimed: Option<EvidenceMediaType>,
    /// Found once the first bytes are in.
    media_type: Option<EvidenceMediaType>,
    /// Stored, or failed for good: nothing more is accepted.
    done: bool,
}

impl EvidenceUpload {
    /// The size the upload declared.
    pub fn declared_size(&self) -> u64 {
        self.declared_size
    }

    /// How many bytes have been written.
    pub fn received(&self) -> u64 {
        self.received
    }

    fn path(&self) -> &Path {
        &self.temporary_path
    }

    /// Writes the next bytes. Refuses bytes past the declared size, and, as soon as the
    /// first [`SNIFF_BYTES`] (or all the bytes) are in, bytes that are not of an accepted
    /// media type or not of the claimed one. After a refusal the upload accepts nothing more.
    pub fn write_chunk(&mut self, data: &[u8]) -> Result<(), EvidenceError> {
        let outcome = self.write_chunk_unchecked(data);
        if outcome.is_err() {
            self.abandon();
        }
        outcome
    }

    fn write_chunk_unchecked(&mut self, data: &[u8]) -> Result<(), EvidenceError> {
        let Some(file) = self.file.as_mut().filter(|_| !self.done) else {
            return Err(EvidenceError::io("write", &self.temporary_path)(io::Error::other(
                "the upload was already refused or finished",
            )));
        };
        let received = self.received.saturating_add(data.len() as u64);
        if received > self.declared_size {
            return Err(EvidenceError::SizeExceeded {
                declared: self.declared_size,
                received,
            });
        }
        file.write_all(data)
            .map_err(EvidenceError::io("write", &self.temporary_path))?;
        self.hasher.update(data);
        self.received = received;
        if self.first_bytes.len() < SNIFF_BYTES {
            let wanted = SNIFF_BYTES - self.first_bytes.len();
            self.first_bytes.extend_from_slice(&data[..wanted.min(data.len())]);
        }
        if self.media_type.is_none() && (self.first_bytes.len() == SNIFF_BYTES || received == self.declared_size) {
            self.media_type = Some(self.check_media_type()?);
        }
        Ok(())
    }

    /// What the first bytes are, if accepted and as claimed.
    fn check_media_type(&self) -> Result<EvidenceMediaType, EvidenceError> {
        let found = sniff_media_type(&self.first_bytes);
        match (found, self.claimed) {
            (SniffedType::Accepted(media_type), None) => Ok(media_type),
            (SniffedType::Accepted(media_type), Some(claimed)) if media_type == claimed => Ok(media_type),
            (found, Some(claimed)) => Err(EvidenceError::MediaTypeMismatch { claimed, found }),
            (found, None) => Err(EvidenceError::MediaTypeNotAccepted { found }),
        }
    }

    /// Completes the upload: refuses it unless exactly the declared size arrived; syncs the
    /// file, moves it into `blobs/` under its digest (or discards it if the store holds
    /// those bytes already) and syncs the folders. The ref is durable when this returns.
    pub fn finish(self) -> Result<StoredEvidence, EvidenceError> {
        self.finish_expecting(None)
    }

    /// [`EvidenceUpload::finish`], refusing bytes that do not hash to `expected`.
    pub(crate) fn finish_expecting(mut self, expected: Option<&Sha256Digest>) -> Result<StoredEvidence, EvidenceError> {
        let outcome = self.store(expected);
        self.abandon();
        outcome
    }

    fn store(&mut self, expected: Option<&Sha256Digest>) -> Result<StoredEvidence, EvidenceError> {
        if self.received != self.declared_size {
            return Err(EvidenceError::Truncated {
                declared: self.declared_size,
                received: self.received,
            });
        }
        let media_type = match self.media_type {
            Some(media_type) => media_type,
            None => self.check_media_type()?,
        };
        let sha256 = Sha256Digest::from_bytes(self.hasher.clone().finalize().into());
        if let Some(expected) = expected
            && *expected != sha256
        {
            return Err(EvidenceError::DigestMismatch {
                expected: *expected,
                actual: sha256,
            });
        }
        let file = self.file.take().ok_or_else(|| {
            EvidenceError::io("finish", &self.temporary_path)(io::Error::other("the upload was already finished"))
        })?;
        file.sync_all()
            .map_err(EvidenceError::io("sync", &self.temporary_path))?;
        drop(file);
        let newly_stored = self
            .store
            .store_blob(&self.temporary_path, &sha256, self.declared_size)?;
        Ok(StoredEvidence {
            reference: EvidenceRef {
                sha256,
                size: self.declared_size,
                media_type,
            },
            newly_stored,
        })
    }

    /// Closes and removes the file in `incoming/` (gone already once stored).
    fn abandon(&mut self) {
        self.done = true;
        self.file = None;
        // Gone already once stored; a leftover is removed on the next open.
        let _ = fs::remove_file(&self.temporary_path);
    }
}

impl Drop for EvidenceUpload {
    fn drop(&mut self) {
        if !self.done {
            self.abandon();
        }
    }
}

/// A stored blob being read: its ref, then its bytes in chunks. Reading to the end checks
/// that the bytes still have the size and digest of the ref.
#[derive(Debug)]
pub struct BlobReader {
    file: File,
    path: PathBuf,
    reference: EvidenceRef,
    hasher: Sha256,
    read: u64,
    checked: bool,
}

impl BlobReader {
    /// The blob's digest, size (of the file opened) and media type (found from its first
    /// bytes).
    pub fn reference(&self) -> EvidenceRef {
        self.reference
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next at most `max_bytes` bytes; `None` once all were read and found to have the
    /// ref's size and digest. A blob that does not is [`EvidenceError::Damaged`].
    pub fn next_chunk(&mut self, max_bytes: usize) -> Result<Option<Vec<u8>>, EvidenceError> {
        let mut chunk = vec![0_u8; max_bytes.max(1)];
        let mut filled = 0;
        while filled < chunk.len() {
            match self.file.read(&mut chunk[filled..]) {
                Ok(0) => break,
                Ok(count) => filled += count,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(EvidenceError::io("read", &self.path)(error)),
            }
        }
        chunk.truncate(filled);
        self.hasher.update(&chunk);
        self.read = self.read.saturating_add(filled as u64);
        let damaged = |problem| EvidenceError::Damaged {
            sha256: self.reference.sha256,
            problem,
        };
        if self.read > self.reference.size {
            return Err(damaged(BlobProblem::SizeMismatch {
                expected: self.reference.size,
                actual: self.read,
            }));
        }
        if filled > 0 {
            return Ok(Some(chunk));
        }
        if self.checked {
            return Ok(None);
        }
        if self.read != self.reference.size {
            return Err(damaged(BlobProblem::SizeMismatch {
                expected: self.reference.size,
                actual: self.read,
            }));
        }
        let actual = Sha256Digest::from_bytes(self.hasher.clone().finalize().into());
        if actual != self.reference.sha256 {
            return Err(damaged(BlobProblem::DigestMismatch { actual }));
        }
        self.checked = true;
        Ok(None)
    }
}

/// Up to [`SNIFF_BYTES`] from the start of `file`.
fn read_first_bytes(file: &mut File) -> io::Result<Vec<u8>> {
    let mut first_bytes = Vec::with_capacity(SNIFF_BYTES);
    Read::by_ref(file)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut first_bytes)?;
    Ok(first_bytes)
}

/// What is wrong with the blob file at `path` named `sha256`, rehashing all of it (and
/// checking its size against `expected_size` when given); `None` when it is intact.
/// `progress` is told of the bytes as they are read.
pub(crate) fn blob_problem_with_progress(
    path: &Path,
    sha256: &Sha256Digest,
    expected_size: Option<u64>,
    mut progress: impl FnMut(u64),
) -> Option<BlobProblem> {
    let unreadable = |error: io::Error| BlobProblem::Unreadable {
        error: format!("{}: {error}", path.display()),
    };
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) => return Some(unreadable(error)),
    };
    let size = match file.metadata() {
        Ok(metadata) => metadata.len(),
        Err(error) => return Some(unreadable(error)),
    };
    if size == 0 {
        return Some(BlobProblem::Empty);
    }
    if size > MAX_EVIDENCE_BYTES {
        return Some(BlobProblem::TooLarge { size });
    }
    if let Some(expected) = expected_size
        && expected != size
    {
        return Some(BlobProblem::SizeMismatch { expected, actual: size });
    }
    let mut hasher = Sha256::new();
    let mut buffer = vec![0_u8; READ_BYTES];
    let mut first_bytes = Vec::with_capacity(SNIFF_BYTES);
    let mut read: u64 = 0;
    loop {
        let count = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Some(unreadable(error)),
        };
        hasher.update(&buffer[..count]);
        if first_bytes.len() < SNIFF_BYTES {
            let wanted = SNIFF_BYTES - first_bytes.len();
            first_bytes.extend_from_slice(&buffer[..wanted.min(count)]);
        }
        read += count as u64;
        progress(count as u64);
    }
    if read != size {
        return Some(BlobProblem::SizeMismatch {
            expected: size,
            actual: read,
        });
    }
    let actual = Sha256Digest::from_bytes(hasher.finalize().into());
    if actual != *sha256 {
        return Some(BlobProblem::DigestMismatch { actual });
    }
    let found = sniff_media_type(&first_bytes);
    if found.accepted().is_none() {
        return Some(BlobProblem::MediaType { found });
    }
    None
}

fn blob_problem(path: &Path, sha256: &Sha256Digest, expected_size: Option<u64>) -> Option<BlobProblem> {
    blob_problem_with_progress(path, sha256, expected_size, |_| {})
}

/// Creates the folder `path` if absent, and then syncs its parent so that the new entry
/// survives a crash.
fn create_directory_durably(path: &Path) -> Result<(), EvidenceError> {
    match fs::create_dir(path) {
        Ok(()) => match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => sync_directory(parent),
            _ => Ok(()),
        },
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(error) => Err(EvidenceError::io("create", path)(error)),
    }
}

/// Makes the entries of the folder `path` durable.
fn sync_directory(path: &Path) -> Result<(), EvidenceError> {
    File::open(path)
        .and_then(|directory| directory.sync_all())
        .map_err(EvidenceError::io("sync the folder", path))
}
