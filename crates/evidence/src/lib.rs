//! The evidence store of a district node: photos and videos as files under
//! `<data dir>/evidence`, each named by the SHA-256 of its bytes and stored once per digest.
//!
//! - [`EvidenceStore::open`] creates `blobs/` and `incoming/` and empties `incoming/`: an
//!   upload cut short by a crash leaves nothing behind.
//! - [`EvidenceStore::begin_upload`] starts an [`EvidenceUpload`] of a declared size (1 to
//!   [`gridledger_domain::MAX_EVIDENCE_BYTES`], or a lower configured limit) into a file of
//!   `incoming/`, hashed as it is written. Its media type is found from its first
//!   [`SNIFF_BYTES`] with `infer` ([`sniff_media_type`]); only the six
//!   [`gridledger_domain::EvidenceMediaType`]s are accepted, and a media type the client
//!   claims must be the one found. [`EvidenceUpload::finish`] refuses anything but the
//!   declared size, syncs the file, links it into `blobs/<2 hex>/<64 hex>` (or discards it
//!   when the store holds those bytes already) and syncs the folders: the returned
//!   [`gridledger_domain::EvidenceRef`] is durable. An upload dropped unfinished removes its
//!   file.
//! - [`EvidenceStore::open_blob`] reads a blob back ([`BlobReader`], which checks size and
//!   digest at the end), [`EvidenceStore::stat`] gives its ref, [`EvidenceStore::import_blob`]
//!   stores bytes known by their ref (a restore), and [`EvidenceStore::verify`] rehashes
//!   every blob and names each damaged one.
//!
//! Synchronous `std::fs` only, no async runtime: the server calls it through
//! `tokio::task::spawn_blocking`. Errors are one [`EvidenceError`], whose kinds say whether
//! the caller's bytes were refused, a blob is damaged, or the file system failed.

#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod error;
mod sniff;
mod store;
mod verify;

#[cfg(test)]
mod tests;

pub use error::{BlobProblem, EvidenceError};
pub use sniff::{SNIFF_BYTES, SniffedType, sniff_media_type};
pub use store::{BLOBS_DIRECTORY, BlobReader, EvidenceStore, EvidenceUpload, INCOMING_DIRECTORY, StoredEvidence};
pub use verify::{DamagedBlob, EvidenceVerifyReport, VerifyProgress};

/// The store's folder inside a node's data directory.
pub const EVIDENCE_DIRECTORY: &str = "evidence";
