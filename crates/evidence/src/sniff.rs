//! The media type of a blob, found from its first bytes with `infer` (never taken from a
//! client's word): the six [`EvidenceMediaType`]s are accepted, anything else is named and
//! refused.

use std::fmt;

use gridledger_domain::EvidenceMediaType;

/// How many leading bytes of a blob the media type is found from. The signatures `infer`
/// reads lie in the first 262 bytes; an ISO-BMFF `ftyp` box (MP4, QuickTime, HEIC) lists
/// its brands within its first few dozen.
pub const SNIFF_BYTES: usize = 4096;

/// What a blob's first bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SniffedType {
    /// One of the accepted media types.
    Accepted(EvidenceMediaType),
    /// A type `infer` knows that is not accepted as evidence (`application/pdf`,
    /// `image/avif`, ...).
    NotAccepted(&'static str),
    /// Nothing `infer` knows (plain text, random bytes, a damaged header).
    Unknown,
}

impl SniffedType {
    /// The accepted media type, if it is one.
    pub fn accepted(self) -> Option<EvidenceMediaType> {
        match self {
            SniffedType::Accepted(media_type) => Some(media_type),
            SniffedType::NotAccepted(_) | SniffedType::Unknown => None,
        }
    }
}

impl fmt::Display for SniffedType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SniffedType::Accepted(media_type) => formatter.write_str(media_type.as_str()),
            SniffedType::NotAccepted(mime) => formatter.write_str(mime),
            SniffedType::Unknown => formatter.write_str("of no media type known from their first bytes"),
        }
    }
}

/// The media type of a blob that starts with `first_bytes` (its first [`SNIFF_BYTES`], or
/// all of it when shorter).
///
/// What `infer` 0.22 answers, and what is accepted: `image/jpeg`, `image/png`, `image/webp`
/// (with the `RIFF` header, which `infer` does not check), `image/heif` (brands `heic` and
/// `heix`, or `mif1`/`msf1` listing `heic`) as `image/heic`, `video/mp4` and `video/x-m4v`
/// (Apple's MP4) as `video/mp4`, `video/quicktime`. HEIF's other HEVC brands (`heim`,
/// `heis`, `hevc`, `hevx`), which `infer` does not know, are `image/heic` too. Anything
/// else `infer` names (`image/avif`, `application/pdf`, `audio/m4a`, ...) is not accepted.
pub fn sniff_media_type(first_bytes: &[u8]) -> SniffedType {
    let Some(kind) = infer::get(first_bytes) else {
        return if is_hevc_heif(first_bytes) {
            SniffedType::Accepted(EvidenceMediaType::Heic)
        } else {
            SniffedType::Unknown
        };
    };
    let accepted = match kind.mime_type() {
        "image/jpeg" => EvidenceMediaType::Jpeg,
        "image/png" => EvidenceMediaType::Png,
        "image/webp" if first_bytes.starts_with(b"RIFF") => EvidenceMediaType::Webp,
        "image/webp" => return SniffedType::Unknown,
        "image/heif" => EvidenceMediaType::Heic,
        "video/mp4" | "video/x-m4v" => EvidenceMediaType::Mp4,
        "video/quicktime" => EvidenceMediaType::QuickTime,
        other => return SniffedType::NotAccepted(other),
    };
    SniffedType::Accepted(accepted)
}

/// The HEVC brands of HEIF (ISO/IEC 23008-12) that `infer` does not recognise.
const MORE_HEVC_HEIF_BRANDS: [&[u8; 4]; 4] = [b"heim", b"heis", b"hevc", b"hevx"];

/// Whether `bytes` open with an `ftyp` box whose major brand is one of
/// [`MORE_HEVC_HEIF_BRANDS`], or is `mif1`/`msf1` with one of them among its compatible
/// brands.
fn is_hevc_heif(bytes: &[u8]) -> bool {
    let Some(box_size) = bytes.get(0..4).and_then(|size| <[u8; 4]>::try_from(size).ok()) else {
        return false;
    };
    let box_size = u32::from_be_bytes(box_size) as usize;
    if bytes.get(4..8) != Some(b"ftyp".as_slice()) || box_size < 16 || bytes.len() < box_size {
        return false;
    }
    let is_hevc = |brand: &[u8]| MORE_HEVC_HEIF_BRANDS.iter().any(|known| known.as_slice() == brand);
    let major = &bytes[8..12];
    if is_hevc(major) {
        return true;
    }
    (major == b"mif1" || major == b"msf1") && bytes[16..box_size].chunks_exact(4).any(is_hevc)
}
