//! The store's cases, each run by one `check`: uploads (whole, cut short, too long, too
//! large, of a type not accepted, of another type than claimed), imports, and then a byte
//! flipped on disk or an upload left behind by a crash, with what must be on disk after.

use std::path::Path;

use gridledger_domain::{EvidenceMediaType, EvidenceRef, MAX_EVIDENCE_BYTES, Sha256Digest};
use sha2::{Digest, Sha256};

use crate::{BlobProblem, EvidenceError, EvidenceStore, SniffedType, sniff_media_type};

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

/// A JPEG's start (SOI, APP0 JFIF) and then `length` more bytes.
fn jpeg(seed: u64, length: usize) -> Vec<u8> {
    let mut bytes = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00,
    ];
    bytes.extend_from_slice(&[0x00, 0x01, 0x00, 0x01, 0x00, 0x00]);
    bytes.extend(filler(seed, length));
    bytes
}

/// A PNG's signature and IHDR chunk (1x1, 8-bit RGB), then `length` more bytes.
fn png(seed: u64, length: usize) -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    bytes.extend_from_slice(&[0x00, 0x00, 0x00, 0x0D, b'I', b'H', b'D', b'R']);
    bytes.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0, 0x90, 0x77, 0x53, 0xDE]);
    bytes.extend(filler(seed, length));
    bytes
}

/// An ISO-BMFF file: an `ftyp` box with `major` and the `compatible` brands, then `length`
/// more bytes.
fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]], seed: u64, length: usize) -> Vec<u8> {
    let size = 16 + 4 * compatible.len() as u32;
    let mut bytes = size.to_be_bytes().to_vec();
    bytes.extend_from_slice(b"ftyp");
    bytes.extend_from_slice(major);
    bytes.extend_from_slice(&[0, 0, 2, 0]);
    for brand in compatible {
        bytes.extend_from_slice(*brand);
    }
    bytes.extend(filler(seed, length));
    bytes
}

fn webp(seed: u64, length: usize) -> Vec<u8> {
    let mut bytes = b"RIFF".to_vec();
    bytes.extend_from_slice(&(length as u32 + 4).to_le_bytes());
    bytes.extend_from_slice(b"WEBPVP8 ");
    bytes.extend(filler(seed, length));
    bytes
}

fn sha256_of(bytes: &[u8]) -> Sha256Digest {
    Sha256Digest::from_bytes(Sha256::digest(bytes).into())
}

#[test]
fn the_six_media_types_are_found_in_their_bytes_and_nothing_else_is_accepted() {
    use EvidenceMediaType::*;
    let cases: Vec<(&str, Vec<u8>, SniffedType)> = vec![
        ("jpeg", jpeg(1, 10), SniffedType::Accepted(Jpeg)),
        ("png", png(1, 10), SniffedType::Accepted(Png)),
        ("webp", webp(1, 10), SniffedType::Accepted(Webp)),
        (
            "WEBP without RIFF",
            [&[0_u8; 8][..], b"WEBPVP8 "].concat(),
            SniffedType::Unknown,
        ),
        (
            "heic",
            ftyp(b"heic", &[b"mif1", b"heic"], 1, 10),
            SniffedType::Accepted(Heic),
        ),
        (
            "mif1 listing heic",
            ftyp(b"mif1", &[b"mif1", b"heic"], 1, 10),
            SniffedType::Accepted(Heic),
        ),
        (
            "heif sequence hevc",
            ftyp(b"hevc", &[b"msf1", b"hevc"], 1, 10),
            SniffedType::Accepted(Heic),
        ),
        (
            "msf1 listing hevc",
            ftyp(b"msf1", &[b"msf1", b"hevc"], 1, 10),
            SniffedType::Accepted(Heic),
        ),
        (
            "mp4 isom",
            ftyp(b"isom", &[b"isom", b"mp41"], 1, 10),
            SniffedType::Accepted(Mp4),
        ),
        ("mp4 mp42", ftyp(b"mp42", &[b"isom"], 1, 10), SniffedType::Accepted(Mp4)),
        (
            "m4v",
            ftyp(b"M4V ", &[b"M4V ", b"mp42"], 1, 10),
            SniffedType::Accepted(Mp4),
        ),
        (
            "quicktime",
            ftyp(b"qt  ", &[b"qt  "], 1, 10),
            SniffedType::Accepted(QuickTime),
        ),
        (
            "avif",
            ftyp(b"avif", &[b"mif1", b"avif"], 1, 10),
            SniffedType::NotAccepted("image/avif"),
        ),
        (
            "m4a",
            ftyp(b"M4A ", &[b"M4A "], 1, 10),
            SniffedType::NotAccepted("audio/m4a"),
        ),
        (
            "pdf",
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj".to_vec(),
            SniffedType::NotAccepted("application/pdf"),
        ),
        (
            "gif",
            b"GIF89a\x01\x00\x01\x00".to_vec(),
            SniffedType::NotAccepted("image/gif"),
        ),
        ("text", b"a photo, honestly\n".to_vec(), SniffedType::Unknown),
        ("one byte", vec![0xFF], SniffedType::Unknown),
    ];
    for (name, bytes, expected) in cases {
        assert_eq!(sniff_media_type(&bytes), expected, "{name}");
    }
}

/// One upload as a client sends it.
#[derive(Debug, Clone)]
struct Upload {
    bytes: Vec<u8>,
    /// The size declared (the bytes' length unless said).
    declared: u64,
    /// How many of the bytes are sent (all unless said).
    sent: usize,
    claimed: Option<&'static str>,
}

fn upload(bytes: Vec<u8>) -> Upload {
    Upload {
        declared: bytes.len() as u64,
        sent: bytes.len(),
        bytes,
        claimed: None,
    }
}

impl Upload {
    fn declared(self, declared: u64) -> Self {
        Upload { declared, ..self }
    }
    fn sent(self, sent: usize) -> Self {
        Upload { sent, ..self }
    }
    fn claimed(self, claimed: &'static str) -> Self {
        Upload {
            claimed: Some(claimed),
            ..self
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// An upload and what it must come to.
    Upload(Upload, Outcome),
    /// `import_blob` of the bytes under a ref (the right one unless the digest is given).
    Import(Vec<u8>, Option<Sha256Digest>, Outcome),
    /// Flips a byte in the middle of the blob of these bytes, behind the store's back.
    FlipByte(Vec<u8>),
    /// Starts an upload and leaves it behind as a killed process would, then reopens.
    CrashMidUploadAndReopen,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Stored(EvidenceMediaType, bool),
    /// The error's variant, by name.
    Refused(&'static str),
}

fn variant(error: &EvidenceError) -> &'static str {
    match error {
        EvidenceError::Empty => "Empty",
        EvidenceError::TooLarge { .. } => "TooLarge",
        EvidenceError::SizeExceeded { .. } => "SizeExceeded",
        EvidenceError::Truncated { .. } => "Truncated",
        EvidenceError::ClaimedMediaTypeNotAccepted { .. } => "ClaimedMediaTypeNotAccepted",
        EvidenceError::MediaTypeNotAccepted { .. } => "MediaTypeNotAccepted",
        EvidenceError::MediaTypeMismatch { .. } => "MediaTypeMismatch",
        EvidenceError::DigestMismatch { .. } => "DigestMismatch",
        EvidenceError::Damaged { .. } => "Damaged",
        EvidenceError::Io { .. } => "Io",
    }
}

fn entries(directory: &Path) -> usize {
    std::fs::read_dir(directory)
        .map(|entries| entries.count())
        .unwrap_or(usize::MAX)
}

/// Every blob file under `blobs/`.
fn blob_files(store: &EvidenceStore) -> usize {
    std::fs::read_dir(store.directory().join("blobs"))
        .expect("blobs/ lists")
        .map(|shard| entries(&shard.expect("a shard").path()))
        .sum()
}

fn read_back(store: &EvidenceStore, sha256: &Sha256Digest) -> Result<Vec<u8>, EvidenceError> {
    let mut reader = store.open_blob(sha256)?.expect("the blob is held");
    let mut bytes = Vec::new();
    while let Some(chunk) = reader.next_chunk(1000)? {
        bytes.extend(chunk);
    }
    Ok(bytes)
}

/// Runs `steps` on a new store limited to `max_blob_bytes`; then `blobs` files must be
/// stored and `damaged` (the bytes of the blobs) named by verify.
fn check(name: &str, max_blob_bytes: u64, steps: Vec<Step>, blobs: usize, damaged: Vec<Vec<u8>>) {
    let directory = tempfile::tempdir().expect("a temporary folder");
    let path = directory.path().join("data").join("evidence");
    let mut store = EvidenceStore::open(&path)
        .expect("opens")
        .with_max_blob_bytes(max_blob_bytes);
    let incoming = path.join("incoming");
    for (index, step) in steps.into_iter().enumerate() {
        let context = format!("{name}, step {index}");
        match step {
            Step::Upload(upload, expected) => {
                let outcome = (|| {
                    let mut upload_in_progress = store.begin_upload(upload.declared, upload.claimed)?;
                    for chunk in upload.bytes[..upload.sent].chunks(700) {
                        upload_in_progress.write_chunk(chunk)?;
                    }
                    upload_in_progress.finish()
                })();
                let got = match &outcome {
                    Ok(stored) => Outcome::Stored(stored.reference.media_type, stored.newly_stored),
                    Err(error) => Outcome::Refused(variant(error)),
                };
                assert_eq!(got, expected, "{context}: {outcome:?}");
                if let Ok(stored) = outcome {
                    let expected_ref = EvidenceRef {
                        sha256: sha256_of(&upload.bytes),
                        size: upload.bytes.len() as u64,
                        media_type: stored.reference.media_type,
                    };
                    assert_eq!(stored.reference, expected_ref, "{context}");
                    assert_eq!(store.stat(&expected_ref.sha256).expect("stat"), Some(expected_ref));
                    assert_eq!(read_back(&store, &expected_ref.sha256).expect("reads"), upload.bytes);
                } else {
                    // Refused errors say what was wrong in words.
                    assert!(!format!("{}", outcome.expect_err("refused")).is_empty());
                }
                assert_eq!(entries(&incoming), 0, "{context}: nothing is left in incoming/");
            }
            Step::Import(bytes, digest, expected) => {
                let reference = EvidenceRef {
                    sha256: digest.unwrap_or_else(|| sha256_of(&bytes)),
                    size: bytes.len() as u64,
                    media_type: sniff_media_type(&bytes).accepted().expect("an accepted type"),
                };
                let outcome = store.import_blob(bytes.as_slice(), &reference);
                let got = match &outcome {
                    Ok(stored) => Outcome::Stored(stored.reference.media_type, stored.newly_stored),
                    Err(error) => Outcome::Refused(variant(error)),
                };
                assert_eq!(got, expected, "{context}: {outcome:?}");
                assert_eq!(entries(&incoming), 0, "{context}: nothing is left in incoming/");
            }
            Step::FlipByte(bytes) => {
                let file = store.blob_path(&sha256_of(&bytes));
                let mut stored = std::fs::read(&file).expect("the blob is on disk");
                let middle = stored.len() / 2;
                stored[middle] ^= 0x01;
                std::fs::write(&file, stored).expect("rewritten");
                assert!(
                    matches!(
                        read_back(&store, &sha256_of(&bytes)),
                        Err(EvidenceError::Damaged {
                            problem: BlobProblem::DigestMismatch { .. },
                            ..
                        })
                    ),
                    "{context}: reading a flipped blob to its end says so"
                );
            }
            Step::CrashMidUploadAndReopen => {
                let mut left_behind = store.begin_upload(1000, None).expect("begins");
                left_behind.write_chunk(&jpeg(99, 100)).expect("writes");
                std::mem::forget(left_behind);
                assert_eq!(entries(&incoming), 1, "{context}: the crash left a file");
                store = EvidenceStore::open(&path).expect("reopens");
                assert_eq!(entries(&incoming), 0, "{context}: reopening removed it");
            }
        }
    }
    assert_eq!(blob_files(&store), blobs, "{name}: blob files");
    let mut progress_calls = 0;
    let report = store.verify(|_| progress_calls += 1).expect("verifies");
    assert!(progress_calls >= blobs, "{name}: progress is told");
    assert_eq!(report.blobs_checked, blobs as u64, "{name}");
    let named: Vec<Sha256Digest> = report.damaged.iter().map(|blob| blob.sha256).collect();
    let mut expected: Vec<Sha256Digest> = damaged.iter().map(|bytes| sha256_of(bytes)).collect();
    expected.sort();
    assert_eq!(named, expected, "{name}: damaged blobs");
    assert_eq!(report.is_clean(), damaged.is_empty(), "{name}");
    assert!(report.unexpected.is_empty(), "{name}: {:?}", report.unexpected);
    // A store opened for reading only sees the same.
    let read_only = EvidenceStore::open_existing(&path).expect("opens as it is");
    assert_eq!(read_only.verify(|_| {}).expect("verifies"), report, "{name}");
}

#[test]
fn uploads_are_stored_once_checked_and_durable_or_leave_nothing() {
    use EvidenceMediaType::*;
    use Outcome::{Refused, Stored};
    const LIMIT: u64 = 100_000;
    let photo = jpeg(1, 5_000);
    let video = ftyp(b"isom", &[b"isom", b"mp41"], 2, 20_000);
    let screenshot = png(3, 3_000);
    check(
        "roundtrip of each type, and the same photo twice stored once",
        LIMIT,
        vec![
            Step::Upload(upload(photo.clone()), Stored(Jpeg, true)),
            Step::Upload(upload(photo.clone()), Stored(Jpeg, false)),
            Step::Upload(upload(photo.clone()).claimed("image/jpeg"), Stored(Jpeg, false)),
            Step::Upload(upload(video.clone()).claimed("video/mp4"), Stored(Mp4, true)),
            Step::Upload(upload(screenshot.clone()), Stored(Png, true)),
            Step::Upload(upload(webp(4, 100)), Stored(Webp, true)),
            Step::Upload(upload(ftyp(b"heic", &[b"mif1", b"heic"], 5, 100)), Stored(Heic, true)),
            Step::Upload(upload(ftyp(b"qt  ", &[b"qt  "], 6, 100)), Stored(QuickTime, true)),
            // Smaller than the sniffing window, and exactly the limit.
            Step::Upload(upload(jpeg(7, 0)), Stored(Jpeg, true)),
            Step::Upload(upload(jpeg(8, LIMIT as usize - 20)), Stored(Jpeg, true)),
        ],
        8,
        vec![],
    );
    check(
        "refusals leave nothing",
        LIMIT,
        vec![
            // Declared 3 times what is sent, then closed.
            Step::Upload(
                upload(photo.clone()).declared(3 * photo.len() as u64),
                Refused("Truncated"),
            ),
            Step::Upload(
                upload(photo.clone()).declared(photo.len() as u64 - 1),
                Refused("SizeExceeded"),
            ),
            Step::Upload(upload(photo.clone()).sent(0), Refused("Truncated")),
            Step::Upload(upload(photo.clone()).declared(0).sent(0), Refused("Empty")),
            Step::Upload(upload(jpeg(9, LIMIT as usize - 19)), Refused("TooLarge")),
            Step::Upload(upload(vec![]).declared(MAX_EVIDENCE_BYTES + 1), Refused("TooLarge")),
            Step::Upload(upload(b"%PDF-1.7\n%...".repeat(500)), Refused("MediaTypeNotAccepted")),
            Step::Upload(upload(b"not a photo\n".to_vec()), Refused("MediaTypeNotAccepted")),
            Step::Upload(
                upload(ftyp(b"avif", &[b"avif"], 1, 100)),
                Refused("MediaTypeNotAccepted"),
            ),
            Step::Upload(
                upload(b"plain text, claimed to be a photo".repeat(200)).claimed("image/jpeg"),
                Refused("MediaTypeMismatch"),
            ),
            Step::Upload(
                upload(screenshot.clone()).claimed("image/jpeg"),
                Refused("MediaTypeMismatch"),
            ),
            Step::Upload(
                upload(photo.clone()).claimed("application/pdf"),
                Refused("ClaimedMediaTypeNotAccepted"),
            ),
            Step::Upload(
                upload(photo.clone()).claimed("image/JPEG"),
                Refused("ClaimedMediaTypeNotAccepted"),
            ),
        ],
        0,
        vec![],
    );
    check(
        "a flipped byte is named by verify, and an upload of the right bytes repairs it",
        LIMIT,
        vec![
            Step::Upload(upload(photo.clone()), Stored(Jpeg, true)),
            Step::Upload(upload(video.clone()), Stored(Mp4, true)),
            Step::FlipByte(video.clone()),
        ],
        2,
        vec![video.clone()],
    );
    check(
        "repair",
        LIMIT,
        vec![
            Step::Upload(upload(video.clone()), Stored(Mp4, true)),
            Step::FlipByte(video.clone()),
            Step::Upload(upload(video.clone()), Stored(Mp4, true)),
            Step::Upload(upload(video.clone()), Stored(Mp4, false)),
        ],
        1,
        vec![],
    );
    check(
        "a crash mid-upload leaves nothing once reopened",
        LIMIT,
        vec![
            Step::Upload(upload(photo.clone()), Stored(Jpeg, true)),
            Step::CrashMidUploadAndReopen,
            Step::Upload(upload(photo.clone()), Stored(Jpeg, false)),
        ],
        1,
        vec![],
    );
    check(
        "imports are checked against their ref",
        LIMIT,
        vec![
            Step::Import(photo.clone(), None, Stored(Jpeg, true)),
            Step::Import(photo.clone(), None, Stored(Jpeg, false)),
            Step::Import(screenshot.clone(), Some(sha256_of(&photo)), Refused("DigestMismatch")),
            Step::Upload(upload(photo.clone()), Stored(Jpeg, false)),
        ],
        1,
        vec![],
    );
}

#[test]
fn unexpected_files_in_blobs_are_listed_not_checked() {
    let directory = tempfile::tempdir().expect("a temporary folder");
    let store = EvidenceStore::open(directory.path().join("evidence")).expect("opens");
    let blobs = directory.path().join("evidence").join("blobs");
    std::fs::write(blobs.join("README"), "hello").expect("writes");
    std::fs::create_dir(blobs.join("ab")).expect("creates");
    std::fs::write(blobs.join("ab").join("cd".repeat(32)), "in the wrong folder").expect("writes");
    let report = store.verify(|_| {}).expect("verifies");
    assert_eq!(report.blobs_checked, 0);
    assert_eq!(report.unexpected.len(), 2, "{report:?}");
    assert!(report.is_clean());
    assert!(EvidenceStore::open_existing(directory.path().join("nothing")).is_err());
}
