//! Photos and videos for commands, checked on this side before anything is sent: each file
//! is read, its size checked (1 byte to 64 MiB), its media type found in its bytes as the
//! server finds it (`gridledger_evidence::sniff_media_type`), its SHA-256 taken, and the
//! command's limits checked (at most 16, none twice, 256 MiB together); then uploaded with
//! `Client::upload_evidence`, whose refs the command carries.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use gridledger_api::client::Client;
use gridledger_domain::{EvidenceList, EvidenceMediaType, EvidenceRef, MAX_EVIDENCE_BYTES, Sha256Digest};
use gridledger_evidence::{SNIFF_BYTES, sniff_media_type};
use sha2::{Digest as _, Sha256};

use crate::args::invalid;

/// A photo read from a file, with the ref the server will answer for it.
#[derive(Debug)]
pub struct Photo {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub reference: EvidenceRef,
}

/// The photos of one command, in the order given.
#[derive(Debug, Default)]
pub struct Photos(pub Vec<Photo>);

/// The SHA-256 of `bytes`.
pub fn sha256_of(bytes: &[u8]) -> Sha256Digest {
    Sha256Digest::from_bytes(Sha256::digest(bytes).into())
}

/// The ref of a blob of these bytes, as the server's evidence store will answer its
/// upload; refused like the server refuses it (too big, empty, or not an accepted type).
pub fn reference_of(bytes: &[u8]) -> anyhow::Result<EvidenceRef> {
    let size = bytes.len() as u64;
    if size == 0 || size > MAX_EVIDENCE_BYTES {
        anyhow::bail!(
            "InvalidArgument: invalid evidence: {size} bytes; a photo or video is 1..={MAX_EVIDENCE_BYTES} bytes"
        );
    }
    let sniffed = sniff_media_type(&bytes[..bytes.len().min(SNIFF_BYTES)]);
    let media_type = sniffed.accepted().ok_or_else(|| {
        let accepted: Vec<&str> = EvidenceMediaType::ALL
            .iter()
            .map(|media_type| media_type.as_str())
            .collect();
        anyhow::anyhow!(
            "InvalidArgument: invalid evidence: its bytes are {sniffed}, not one of {}",
            accepted.join(", ")
        )
    })?;
    Ok(EvidenceRef {
        sha256: sha256_of(bytes),
        size,
        media_type,
    })
}

/// Reads and checks one photo.
pub fn inspect(path: &Path) -> anyhow::Result<Photo> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the photo {}", path.display()))?;
    let reference = reference_of(&bytes).with_context(|| format!("the photo {}", path.display()))?;
    Ok(Photo {
        path: path.to_owned(),
        bytes,
        reference,
    })
}

/// Reads and checks the photos of one command, and the command's limits.
pub fn inspect_all(paths: &[PathBuf]) -> anyhow::Result<Photos> {
    let photos = Photos(paths.iter().map(|path| inspect(path)).collect::<anyhow::Result<_>>()?);
    photos.evidence()?;
    Ok(photos)
}

impl Photos {
    /// The evidence the command will carry, checked against the limits of one command.
    pub fn evidence(&self) -> anyhow::Result<EvidenceList> {
        EvidenceList::new(self.0.iter().map(|photo| photo.reference).collect()).map_err(invalid)
    }

    /// Uploads each photo (stored once per SHA-256, so uploading again is harmless) and
    /// returns the refs the server answered.
    pub async fn upload(&self, client: &Client) -> anyhow::Result<EvidenceList> {
        let mut references = Vec::with_capacity(self.0.len());
        for photo in &self.0 {
            let reference = client
                .upload_evidence(&photo.bytes, None)
                .await
                .with_context(|| format!("uploading the photo {}", photo.path.display()))?;
            references.push(reference);
        }
        EvidenceList::new(references).map_err(invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(bytes: &[u8], expected: Result<EvidenceMediaType, &str>) {
        match (reference_of(bytes), expected) {
            (Ok(reference), Ok(media_type)) => {
                assert_eq!(reference.media_type, media_type);
                assert_eq!(reference.size, bytes.len() as u64);
                assert_eq!(reference.sha256, sha256_of(bytes));
            }
            (Err(error), Err(words)) => assert!(error.to_string().contains(words), "{error}"),
            (outcome, expected) => panic!("{outcome:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn photos_are_checked_here_as_the_evidence_store_checks_them() {
        check(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", Ok(EvidenceMediaType::Png));
        check(b"\xff\xd8\xff\xe0\0\x10JFIF\0", Ok(EvidenceMediaType::Jpeg));
        check(b"", Err("invalid evidence: 0 bytes"));
        check(
            b"just some text",
            Err("invalid evidence: its bytes are of no media type"),
        );
        check(
            b"%PDF-1.7\n",
            Err("its bytes are application/pdf, not one of image/jpeg"),
        );
        let twice = Photos(
            [1, 2]
                .map(|_| Photo {
                    path: PathBuf::from("same.png"),
                    bytes: Vec::new(),
                    reference: EvidenceRef {
                        sha256: sha256_of(b"x"),
                        size: 1,
                        media_type: EvidenceMediaType::Png,
                    },
                })
                .into(),
        );
        assert!(
            twice
                .evidence()
                .is_err_and(|error| error.to_string().contains("listed twice"))
        );
    }
}
