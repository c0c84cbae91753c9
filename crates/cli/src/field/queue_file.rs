//! The queue on disk: a folder holding `queue.json` (the entries, in queue order) and
//! `photos/<sha256 hex>` (a copy of each photo the entries reference, named by the SHA-256
//! of its bytes, so the queue is self-contained).
//!
//! - Every write is atomic: the new file is written beside the old one, synced, renamed over
//!   it, and the folder synced, so a crash leaves the old queue or the new one, never a torn
//!   one. Photos are written the same way before the entry that references them.
//! - A command that changes the queue (`queue`, `sync`, `drop`) holds an exclusive lock on
//!   `lock` in the folder; a second one is refused rather than made to wait. `status` only
//!   reads.
//! - On every save, photos no entry references any more (their commands were acknowledged)
//!   are removed.

use std::collections::HashSet;
use std::fs::{File, TryLockError};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use gridledger_api::{CommandMeta, SubmittedCommand};
use gridledger_domain::{
    CoordinateSystem, EvidenceList, EvidenceMediaType, EvidenceRef, IssueId, Location, Sha256Digest, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::args::invalid;
use crate::client::{Action, rfc3339, stable_name};

/// The entries.
pub const QUEUE_FILE: &str = "queue.json";
/// The photos, each named by the 64 hex digits of its SHA-256.
pub const PHOTOS_DIRECTORY: &str = "photos";
/// Locked by the command that changes the queue.
const LOCK_FILE: &str = "lock";
/// What `queue.json` says it is.
pub const FORMAT: &str = "gridledger-field-queue";
/// The version of the format this binary reads and writes.
pub const VERSION: u32 = 1;

/// `queue.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    format: String,
    version: u32,
    entries: Vec<Entry>,
}

/// One queued command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Its idempotency key (a UUIDv7 made when it was queued, or `--request-id`): kept for
    /// every sync, so the server applies it once.
    pub request_id: String,
    /// The issue: for a report, the id chosen when it was queued (a UUIDv7).
    pub issue_id: IssueId,
    /// Business time: when it was queued, or `--occurred-at`.
    #[serde(with = "rfc3339")]
    pub occurred_at: Timestamp,
    /// When it was queued.
    #[serde(with = "rfc3339")]
    pub queued_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_revision: Option<u64>,
    /// What it does, with the flags as given.
    pub command: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<QueuedLocation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub photos: Vec<QueuedPhoto>,
    pub state: State,
    /// Acknowledged during this sync: left out of the next save.
    #[serde(skip)]
    pub done: bool,
}

/// A location as it was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueuedLocation {
    pub latitude: f64,
    pub longitude: f64,
    #[serde(with = "stable_name")]
    pub coordinate_system: CoordinateSystem,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_m: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl From<&Location> for QueuedLocation {
    fn from(location: &Location) -> Self {
        QueuedLocation {
            latitude: location.latitude(),
            longitude: location.longitude(),
            coordinate_system: location.coordinate_system(),
            accuracy_m: location.accuracy_metres(),
            address: location.address().map(str::to_owned),
        }
    }
}

impl QueuedLocation {
    /// The location, checked.
    pub fn to_location(&self) -> anyhow::Result<Location> {
        Location::new(
            self.latitude,
            self.longitude,
            self.coordinate_system,
            self.accuracy_m,
            self.address.clone(),
        )
        .map_err(invalid)
    }
}

/// A photo of an entry: its ref, the file it was copied from, and the server it was
/// uploaded to (none yet: uploaded by the next sync).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueuedPhoto {
    pub sha256: Sha256Digest,
    pub size: u64,
    pub media_type: EvidenceMediaType,
    /// The file given to `--photo`, for people; the queue's copy is `photos/<sha256>`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_to: Option<String>,
}

impl QueuedPhoto {
    pub fn reference(&self) -> EvidenceRef {
        EvidenceRef {
            sha256: self.sha256,
            size: self.size,
            media_type: self.media_type,
        }
    }
}

/// Where an entry stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// To be sent by the next sync; `last_error` says why the last one did not settle it
    /// (a refusal that may succeed later, such as UNAVAILABLE).
    Pending {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_error: Option<Reason>,
    },
    /// Refused for good: sent again, a sync gets the same refusal. Needs a person: queue a
    /// corrected command, or drop this one.
    Refused {
        #[serde(flatten)]
        reason: Reason,
    },
}

/// Why a command was refused: the gRPC status code's name, the server's message, the
/// request field at fault, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// `FAILED_PRECONDITION`, `INVALID_ARGUMENT`, `NOT_FOUND`, ...
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(with = "rfc3339")]
    pub at: Timestamp,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}: {}", self.code, self.message)?;
        if let Some(field) = &self.field {
            write!(formatter, " (field {field})")?;
        }
        Ok(())
    }
}

impl Reason {
    /// Whether `other` says the same (its time aside).
    pub fn same_as(&self, other: &Reason) -> bool {
        (&self.code, &self.message, &self.field) == (&other.code, &other.message, &other.field)
    }
}

impl State {
    pub fn is_refused(&self) -> bool {
        matches!(self, State::Refused { .. })
    }

    /// `pending` or `refused`.
    pub fn name(&self) -> &'static str {
        match self {
            State::Pending { .. } => "pending",
            State::Refused { .. } => "refused",
        }
    }

    /// Why it is refused, or why the last sync did not settle it.
    pub fn reason(&self) -> Option<&Reason> {
        match self {
            State::Pending { last_error } => last_error.as_ref(),
            State::Refused { reason } => Some(reason),
        }
    }
}

impl Entry {
    /// The meta it is sent with: always the same request id and business time.
    pub fn meta(&self) -> CommandMeta {
        CommandMeta {
            request_id: self.request_id.clone(),
            expected_revision: self.expected_revision,
            occurred_at: Some(self.occurred_at),
        }
    }

    /// The evidence it carries, as the photos' refs say.
    pub fn evidence(&self) -> anyhow::Result<EvidenceList> {
        EvidenceList::new(self.photos.iter().map(QueuedPhoto::reference).collect()).map_err(invalid)
    }

    /// The command to stream, checked as when it was queued.
    pub fn submitted(&self) -> anyhow::Result<SubmittedCommand> {
        CommandMeta::check_request_id(&self.request_id).map_err(invalid)?;
        let location = self.location.as_ref().map(QueuedLocation::to_location).transpose()?;
        self.command
            .to_submitted(self.issue_id, &self.meta(), location, self.evidence()?)
    }
}

/// The queue in a folder, as read (and, when opened for changes, locked).
#[derive(Debug)]
pub struct Queue {
    directory: PathBuf,
    pub entries: Vec<Entry>,
    /// Held while the queue may change; released when dropped.
    _lock: Option<File>,
}

impl Queue {
    /// The queue in `directory`, read without a lock (for `status`): empty when there is no
    /// such folder or file.
    pub fn read(directory: &Path) -> anyhow::Result<Queue> {
        Ok(Queue {
            directory: directory.to_owned(),
            entries: read_entries(directory)?,
            _lock: None,
        })
    }

    /// The queue in `directory`, locked against other commands that change it; the folder is
    /// created when `create` (else a missing folder is an empty queue that stays unwritten).
    pub fn open(directory: &Path, create: bool) -> anyhow::Result<Queue> {
        if !directory.is_dir() {
            if !create {
                return Queue::read(directory);
            }
            std::fs::create_dir_all(directory.join(PHOTOS_DIRECTORY))
                .with_context(|| format!("cannot create the queue folder {}", directory.display()))?;
        }
        let lock_path = directory.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("cannot open {}", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => anyhow::bail!(
                "the queue {} is in use by another `gridledger field` command (a sync?); try again when it ends",
                directory.display()
            ),
            Err(TryLockError::Error(error)) => {
                return Err(error).with_context(|| format!("cannot lock {}", lock_path.display()));
            }
        }
        Ok(Queue {
            directory: directory.to_owned(),
            entries: read_entries(directory)?,
            _lock: Some(lock),
        })
    }

    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// The queue's copy of the photo with this digest.
    pub fn photo_path(&self, sha256: &Sha256Digest) -> PathBuf {
        self.directory.join(PHOTOS_DIRECTORY).join(sha256.to_hex())
    }

    /// Keeps a copy of a photo's bytes (once per digest), durably, before an entry
    /// references it.
    pub fn keep_photo(&self, sha256: &Sha256Digest, bytes: &[u8]) -> anyhow::Result<()> {
        self.ensure_locked()?;
        let photos = self.directory.join(PHOTOS_DIRECTORY);
        std::fs::create_dir_all(&photos).with_context(|| format!("cannot create {}", photos.display()))?;
        let name = sha256.to_hex();
        if photos.join(&name).is_file() {
            return Ok(());
        }
        write_atomically(&photos, &name, bytes)
    }

    /// Writes the entries not done, atomically, then removes the photos none of them
    /// references. The entries in memory stay as they are (a sync in progress finds its
    /// entries by their index): [`Queue::forget_done`] drops the done ones.
    pub fn save(&self) -> anyhow::Result<()> {
        self.ensure_locked()?;
        let document = Document {
            format: FORMAT.to_owned(),
            version: VERSION,
            entries: self.entries.iter().filter(|entry| !entry.done).cloned().collect(),
        };
        let mut text = serde_json::to_string_pretty(&document).context("cannot write the queue as JSON")?;
        text.push('\n');
        write_atomically(&self.directory, QUEUE_FILE, text.as_bytes())?;
        self.remove_unreferenced_photos()
    }

    /// Drops the entries that are done from memory (saved without them already).
    pub fn forget_done(&mut self) {
        self.entries.retain(|entry| !entry.done);
    }

    fn ensure_locked(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self._lock.is_some(), "the queue was opened read-only");
        Ok(())
    }

    fn remove_unreferenced_photos(&self) -> anyhow::Result<()> {
        let photos = self.directory.join(PHOTOS_DIRECTORY);
        let referenced: HashSet<String> = self
            .entries
            .iter()
            .filter(|entry| !entry.done)
            .flat_map(|entry| entry.photos.iter().map(|photo| photo.sha256.to_hex()))
            .collect();
        let listing = match std::fs::read_dir(&photos) {
            Ok(listing) => listing,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(error).with_context(|| format!("cannot list {}", photos.display())),
        };
        for file in listing {
            let file = file.with_context(|| format!("cannot list {}", photos.display()))?;
            let name = file.file_name().to_string_lossy().into_owned();
            if !referenced.contains(&name) {
                std::fs::remove_file(file.path())
                    .with_context(|| format!("cannot remove {}", file.path().display()))?;
            }
        }
        Ok(())
    }
}

fn read_entries(directory: &Path) -> anyhow::Result<Vec<Entry>> {
    let path = directory.join(QUEUE_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error).with_context(|| format!("cannot read the queue {}", path.display())),
    };
    let document: Document = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a readable gridledger field queue", path.display()))?;
    anyhow::ensure!(
        document.format == FORMAT && document.version == VERSION,
        "{} is {:?} version {}; this gridledger reads {FORMAT:?} version {VERSION}",
        path.display(),
        document.format,
        document.version
    );
    Ok(document.entries)
}

/// Replaces `directory/name` with `bytes`: a temporary file written and synced, renamed over
/// it, and the folder synced so that the rename survives a crash too.
fn write_atomically(directory: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let target = directory.join(name);
    let temporary = directory.join(format!(".{name}.tmp"));
    let written = (|| {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &target)?;
        File::open(directory)?.sync_all()
    })();
    written.with_context(|| format!("cannot write {}", target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(request_id: &str, state: State) -> Entry {
        Entry {
            request_id: request_id.to_owned(),
            issue_id: IssueId::parse("01a21b09-561d-750b-a1e3-e4d063fc5eca").expect("a valid id"),
            occurred_at: Timestamp::from_unix_micros(1_795_741_200_000_000),
            queued_at: Timestamp::from_unix_micros(1_795_741_200_000_001),
            expected_revision: None,
            command: Action::Handle {
                summary: "swept".to_owned(),
            },
            location: Some(QueuedLocation {
                latitude: 32.1987654321,
                longitude: 119.4345678901,
                coordinate_system: CoordinateSystem::Gcj02,
                accuracy_m: Some(7.25),
                address: None,
            }),
            photos: vec![],
            state,
            done: false,
        }
    }

    fn refused() -> State {
        State::Refused {
            reason: Reason {
                code: "FAILED_PRECONDITION".to_owned(),
                message: "ResolveIssue is not allowed while the issue is RESOLVED".to_owned(),
                field: None,
                at: Timestamp::from_unix_micros(1_795_741_300_000_000),
            },
        }
    }

    #[test]
    fn a_queue_is_written_atomically_read_back_and_keeps_only_what_it_references() -> anyhow::Result<()> {
        let folder = tempfile::tempdir()?;
        let directory = folder.path().join("queue");
        assert!(Queue::read(&directory)?.entries.is_empty(), "no folder: an empty queue");
        let mut queue = Queue::open(&directory, true)?;
        let photo = b"\x89PNG\r\n\x1a\nphoto";
        let digest = crate::field::photos::sha256_of(photo);
        queue.keep_photo(&digest, photo)?;
        let mut with_photo = entry("r-1", State::Pending { last_error: None });
        with_photo.photos.push(QueuedPhoto {
            sha256: digest,
            size: photo.len() as u64,
            media_type: EvidenceMediaType::Png,
            source: "photo.png".to_owned(),
            uploaded_to: None,
        });
        queue.entries = vec![with_photo.clone(), entry("r-2", refused())];
        queue.save()?;
        assert!(
            Queue::open(&directory, false).is_err_and(|error| error
                .to_string()
                .contains("in use by another `gridledger field` command")),
            "a second writer is refused"
        );
        let read = Queue::read(&directory)?;
        assert_eq!(read.entries, queue.entries);
        assert_eq!(std::fs::read(queue.photo_path(&digest))?, photo);

        let text = std::fs::read_to_string(directory.join(QUEUE_FILE))?;
        assert!(
            text.starts_with("{\n  \"format\": \"gridledger-field-queue\",\n  \"version\": 1,"),
            "{text}"
        );
        assert!(
            text.contains(r#""state": "refused","#) && text.contains(r#""code": "FAILED_PRECONDITION""#),
            "{text}"
        );
        assert!(text.contains(r#""coordinate_system": "GCJ02""#), "{text}");
        assert!(
            text.contains(r#""occurred_at": "2026-11-27T01:00:00.000000Z""#),
            "{text}"
        );

        queue.entries[0].done = true;
        queue.save()?;
        assert_eq!(
            queue.entries.len(),
            2,
            "saving leaves the entries in memory where they are"
        );
        assert_eq!(Queue::read(&directory)?.entries, queue.entries[1..]);
        queue.forget_done();
        assert_eq!(queue.entries.len(), 1);
        assert!(
            !queue.photo_path(&digest).exists(),
            "the acknowledged entry's photo is gone"
        );
        let names: Vec<String> = std::fs::read_dir(&directory)?
            .map(|file| file.map(|file| file.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        assert!(names.iter().all(|name| !name.ends_with(".tmp")), "{names:?}");
        Ok(())
    }

    #[test]
    fn a_queue_file_of_another_format_or_with_unknown_fields_is_refused_and_left_alone() -> anyhow::Result<()> {
        let folder = tempfile::tempdir()?;
        let cases = [
            (
                r#"{"format":"gridledger-field-queue","version":2,"entries":[]}"#,
                "version 2",
            ),
            (r#"{"format":"something","version":1,"entries":[]}"#, "\"something\""),
            (
                r#"{"format":"gridledger-field-queue","version":1,"entries":[],"extra":1}"#,
                "not a readable gridledger field queue",
            ),
            ("{", "not a readable gridledger field queue"),
        ];
        for (text, words) in cases {
            std::fs::write(folder.path().join(QUEUE_FILE), text)?;
            let read = Queue::read(folder.path()).map_err(|error| format!("{error:#}"));
            assert!(
                read.as_ref().is_err_and(|error| error.contains(words)),
                "{text}: {read:?}"
            );
            assert_eq!(std::fs::read_to_string(folder.path().join(QUEUE_FILE))?, text);
        }
        Ok(())
    }
}
