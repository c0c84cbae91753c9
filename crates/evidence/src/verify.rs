//! [`EvidenceStore::verify`]: every stored blob rehashed and checked against its name, for
//! `gridledger evidence verify`.

use std::fs;
use std::path::PathBuf;

use gridledger_domain::{Field, Sha256Digest};

use crate::error::{BlobProblem, EvidenceError};
use crate::store::{EvidenceStore, blob_problem_with_progress};

/// How far a verification has come, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VerifyProgress {
    pub blobs_checked: u64,
    pub blobs_total: u64,
    pub bytes_checked: u64,
    /// The blobs' sizes as listed when the verification began.
    pub bytes_total: u64,
}

/// A stored blob that is not what its name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedBlob {
    /// The digest its file name says.
    pub sha256: Sha256Digest,
    pub path: PathBuf,
    pub problem: BlobProblem,
}

/// What [`EvidenceStore::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EvidenceVerifyReport {
    pub blobs_checked: u64,
    pub bytes_checked: u64,
    /// Blobs whose bytes do not match their name, in digest order.
    pub damaged: Vec<DamagedBlob>,
    /// Files and folders in `blobs/` that are not named as blobs are (`<2 hex>/<64 hex>`,
    /// lowercase, in the folder of their first two digits): not checked, listed for an
    /// operator to look at.
    pub unexpected: Vec<PathBuf>,
}

impl EvidenceVerifyReport {
    /// Whether every blob is intact.
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty()
    }
}

impl EvidenceStore {
    /// Rehashes every stored blob and checks its size and media type: each that does not
    /// match its name is listed with its problem. `progress` is told after every chunk read.
    /// Blobs stored while it runs may or may not be checked; it never changes the store.
    pub fn verify(&self, mut progress: impl FnMut(&VerifyProgress)) -> Result<EvidenceVerifyReport, EvidenceError> {
        let (blobs, unexpected) = self.list_blobs()?;
        let mut state = VerifyProgress {
            blobs_total: blobs.len() as u64,
            bytes_total: blobs.iter().map(|(_, _, size)| size).sum(),
            ..VerifyProgress::default()
        };
        progress(&state);
        let mut damaged = Vec::new();
        for (sha256, path, _) in blobs {
            let problem = blob_problem_with_progress(&path, &sha256, None, |count| {
                state.bytes_checked += count;
                progress(&state);
            });
            state.blobs_checked += 1;
            progress(&state);
            if let Some(problem) = problem {
                damaged.push(DamagedBlob { sha256, path, problem });
            }
        }
        Ok(EvidenceVerifyReport {
            blobs_checked: state.blobs_checked,
            bytes_checked: state.bytes_checked,
            damaged,
            unexpected,
        })
    }

    /// Every blob file (digest, path, size), in digest order, and every other entry of
    /// `blobs/`.
    #[allow(clippy::type_complexity)]
    fn list_blobs(&self) -> Result<(Vec<(Sha256Digest, PathBuf, u64)>, Vec<PathBuf>), EvidenceError> {
        let blobs_directory = self.directory().join(crate::store::BLOBS_DIRECTORY);
        let mut blobs = Vec::new();
        let mut unexpected = Vec::new();
        let shards = fs::read_dir(&blobs_directory).map_err(EvidenceError::io("list", &blobs_directory))?;
        for shard in shards {
            let shard = shard.map_err(EvidenceError::io("list", &blobs_directory))?;
            let shard_path = shard.path();
            let shard_name = shard.file_name().to_string_lossy().into_owned();
            let is_directory = shard
                .file_type()
                .map_err(EvidenceError::io("inspect", &shard_path))?
                .is_dir();
            if !is_directory || !is_lowercase_hex(&shard_name, 2) {
                unexpected.push(shard_path);
                continue;
            }
            let files = fs::read_dir(&shard_path).map_err(EvidenceError::io("list", &shard_path))?;
            for file in files {
                let file = file.map_err(EvidenceError::io("list", &shard_path))?;
                let path = file.path();
                let name = file.file_name().to_string_lossy().into_owned();
                let metadata = file.metadata().map_err(EvidenceError::io("inspect", &path))?;
                let digest = Some(&name)
                    .filter(|name| is_lowercase_hex(name, 64) && name.starts_with(&shard_name))
                    .and_then(|name| Sha256Digest::parse_hex(Field::Evidence, name).ok());
                match digest {
                    Some(sha256) if metadata.is_file() => blobs.push((sha256, path, metadata.len())),
                    _ => unexpected.push(path),
                }
            }
        }
        blobs.sort_by_key(|(sha256, _, _)| *sha256);
        unexpected.sort();
        Ok((blobs, unexpected))
    }
}

fn is_lowercase_hex(text: &str, length: usize) -> bool {
    text.len() == length && text.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}
