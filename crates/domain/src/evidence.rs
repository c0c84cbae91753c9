//! Photo and video evidence as the log records it: an [`EvidenceRef`] names a blob of the
//! node's evidence store by the SHA-256 of its bytes, with its size and the media type the
//! server found in its bytes; [`EvidenceList`] is the evidence one command carries, within
//! the limits stated here.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::field::Field;
use crate::stable_name::enum_with_stable_names;

/// Most bytes of one blob (a photo, or a short video).
pub const MAX_EVIDENCE_BYTES: u64 = 64 * 1024 * 1024;

/// Most blobs one command may reference.
pub const MAX_EVIDENCE_PER_COMMAND: usize = 16;

/// Most bytes the blobs one command references may add up to.
pub const MAX_EVIDENCE_BYTES_PER_COMMAND: u64 = 256 * 1024 * 1024;

enum_with_stable_names! {
    /// The media types accepted as evidence, as found in a blob's bytes (never as a client
    /// claims): photos as phones take them, and short videos.
    pub enum EvidenceMediaType {
        /// JPEG.
        Jpeg => "image/jpeg",
        /// PNG (screenshots, annotated photos).
        Png => "image/png",
        /// WebP.
        Webp => "image/webp",
        /// HEIC/HEIF (iPhones' default).
        Heic => "image/heic",
        /// MPEG-4 video.
        Mp4 => "video/mp4",
        /// QuickTime video (iPhones).
        QuickTime => "video/quicktime",
    }
}

/// A SHA-256 digest: 32 bytes, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256Digest([u8; 32]);

impl Sha256Digest {
    /// The digest with these bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Sha256Digest(bytes)
    }

    /// The digest in `bytes`, which must be exactly 32 bytes long.
    pub fn from_slice(field: Field, bytes: &[u8]) -> Result<Self, DomainError> {
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| DomainError::InvalidField {
            field,
            reason: format!("a SHA-256 digest is 32 bytes, got {} bytes", bytes.len()),
        })?;
        Ok(Sha256Digest(bytes))
    }

    /// The digest written as 64 hex digits (either case).
    pub fn parse_hex(field: Field, text: &str) -> Result<Self, DomainError> {
        let invalid = || DomainError::InvalidField {
            field,
            reason: format!(
                "a SHA-256 digest is 64 hex digits, got {:?}",
                crate::quote::quote_for_message(text)
            ),
        };
        if text.len() != 64 || !text.is_ascii() {
            return Err(invalid());
        }
        let mut bytes = [0_u8; 32];
        for (index, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * index..2 * index + 2], 16).map_err(|_| invalid())?;
        }
        Ok(Sha256Digest(bytes))
    }

    /// The 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Sha256Digest({})", self.to_hex())
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Sha256Digest::parse_hex(Field::Evidence, &text).map_err(serde::de::Error::custom)
    }
}

/// One blob of evidence: its digest, size and media type, as the evidence store answered
/// the upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EvidenceRef {
    /// SHA-256 of the blob's bytes.
    pub sha256: Sha256Digest,
    /// Its size in bytes: 1..=[`MAX_EVIDENCE_BYTES`].
    pub size: u64,
    /// Its media type, found in its bytes.
    pub media_type: EvidenceMediaType,
}

impl fmt::Display for EvidenceRef {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} ({}, {} bytes)", self.sha256, self.media_type, self.size)
    }
}

/// The evidence one command carries: at most [`MAX_EVIDENCE_PER_COMMAND`] distinct blobs,
/// each of 1..=[`MAX_EVIDENCE_BYTES`] bytes, together at most
/// [`MAX_EVIDENCE_BYTES_PER_COMMAND`]. Empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<EvidenceRef>", into = "Vec<EvidenceRef>")]
pub struct EvidenceList(Vec<EvidenceRef>);

impl EvidenceList {
    /// No evidence.
    pub const fn none() -> Self {
        EvidenceList(Vec::new())
    }

    /// Checks the limits of the type's documentation, in the order given.
    pub fn new(entries: Vec<EvidenceRef>) -> Result<Self, DomainError> {
        let invalid = |reason: String| DomainError::InvalidField {
            field: Field::Evidence,
            reason,
        };
        if entries.len() > MAX_EVIDENCE_PER_COMMAND {
            return Err(invalid(format!(
                "at most {MAX_EVIDENCE_PER_COMMAND} items a command, got {}",
                entries.len()
            )));
        }
        let mut total: u64 = 0;
        for (index, entry) in entries.iter().enumerate() {
            if entry.size == 0 || entry.size > MAX_EVIDENCE_BYTES {
                return Err(invalid(format!(
                    "item {index} ({}) has size {}: each item is 1..={MAX_EVIDENCE_BYTES} bytes",
                    entry.sha256, entry.size
                )));
            }
            if entries[..index].iter().any(|earlier| earlier.sha256 == entry.sha256) {
                return Err(invalid(format!("item {index} ({}) is listed twice", entry.sha256)));
            }
            total = total.saturating_add(entry.size);
        }
        if total > MAX_EVIDENCE_BYTES_PER_COMMAND {
            return Err(invalid(format!(
                "the items add up to {total} bytes, more than {MAX_EVIDENCE_BYTES_PER_COMMAND} a command"
            )));
        }
        Ok(EvidenceList(entries))
    }

    /// The items, in the order given.
    pub fn entries(&self) -> &[EvidenceRef] {
        &self.0
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<Vec<EvidenceRef>> for EvidenceList {
    type Error = DomainError;

    fn try_from(entries: Vec<EvidenceRef>) -> Result<Self, Self::Error> {
        EvidenceList::new(entries)
    }
}

impl From<EvidenceList> for Vec<EvidenceRef> {
    fn from(list: EvidenceList) -> Self {
        list.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(first_byte: u8, size: u64) -> EvidenceRef {
        let mut bytes = [0_u8; 32];
        bytes[0] = first_byte;
        EvidenceRef {
            sha256: Sha256Digest::from_bytes(bytes),
            size,
            media_type: EvidenceMediaType::Jpeg,
        }
    }

    fn check(entries: Vec<EvidenceRef>, expected_refusal: Option<&str>) {
        match (EvidenceList::new(entries.clone()), expected_refusal) {
            (Ok(list), None) => {
                assert_eq!(list.entries(), entries.as_slice());
                let json = serde_json::to_string(&list).expect("serializes");
                assert_eq!(serde_json::from_str::<EvidenceList>(&json).expect("deserializes"), list);
            }
            (Err(DomainError::InvalidField { field, reason }), Some(words)) => {
                assert_eq!(field, Field::Evidence);
                assert!(reason.contains(words), "{reason:?} should say {words:?}");
            }
            (outcome, expected) => panic!("{entries:?}: got {outcome:?}, expected refusal {expected:?}"),
        }
    }

    #[test]
    fn evidence_lists_keep_their_limits() {
        check(vec![], None);
        check(vec![item(1, 3_000_000), item(2, 1)], None);
        check(vec![item(1, 0)], Some("1..="));
        check(vec![item(1, MAX_EVIDENCE_BYTES + 1)], Some("1..="));
        check(vec![item(1, 10), item(1, 10)], Some("listed twice"));
        check(
            (0..=MAX_EVIDENCE_PER_COMMAND as u8)
                .map(|index| item(index, 1))
                .collect(),
            Some("at most 16 items"),
        );
        check(
            (0..5).map(|index| item(index, MAX_EVIDENCE_BYTES)).collect(),
            Some("add up to"),
        );
    }

    #[test]
    fn digests_read_and_write_hex() {
        let digest = Sha256Digest::parse_hex(
            Field::Evidence,
            "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        )
        .expect("hex");
        assert_eq!(
            digest.to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for bad in ["", "e3b0", &"g".repeat(64), &"é".repeat(32)] {
            assert!(Sha256Digest::parse_hex(Field::Evidence, bad).is_err(), "{bad}");
        }
        assert!(Sha256Digest::from_slice(Field::Evidence, &[0; 31]).is_err());
    }
}
