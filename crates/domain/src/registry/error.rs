//! [`RegistryError`]: why a registry file was refused, or a registry lookup failed.

/// Why a registry was refused, or a lookup failed. Every variant names the offending code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The text is not JSON of the registry's shape (message includes line and column).
    #[error("the registry is not valid JSON of the expected shape: {message}")]
    MalformedJson {
        /// The parser's description.
        message: String,
    },
    /// A code is malformed or of the wrong level for its section.
    #[error("registry {section}: invalid code {code:?}: {reason}")]
    InvalidCode {
        /// The JSON section (`streets`, `categories`, ...).
        section: &'static str,
        /// The offending code.
        code: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The same code is listed twice.
    #[error("registry {section}: {code:?} is listed more than once")]
    DuplicateCode {
        /// The JSON section.
        section: &'static str,
        /// The duplicated code.
        code: String,
    },
    /// A street, community or grid whose parent is not listed.
    #[error("registry {section}: {code:?} has no parent: {parent:?} is not listed in {parent_section}")]
    MissingParent {
        /// The JSON section of the orphan.
        section: &'static str,
        /// The orphan's code.
        code: String,
        /// The code its parent would have.
        parent: String,
        /// The section the parent should be listed in.
        parent_section: &'static str,
    },
    /// A display name is empty, too long or contains control characters.
    #[error("registry {section}: {code:?} has an invalid display_name: {reason}")]
    InvalidDisplayName {
        /// The JSON section.
        section: &'static str,
        /// The code whose name is invalid.
        code: String,
        /// What is wrong with the name.
        reason: String,
    },
    /// A district's `bounding_box` is not a valid rectangle.
    #[error("registry districts: {code:?} has an invalid bounding_box: {reason}")]
    InvalidBoundingBox {
        /// The district code.
        code: String,
        /// What is wrong with the box.
        reason: String,
    },
    /// A district's `time_zone` is not a zone of the IANA database.
    #[error("registry districts: {code:?} has an invalid time_zone: {reason}")]
    InvalidTimeZone {
        /// The district code.
        code: String,
        /// What is wrong with the zone.
        reason: String,
    },
    /// Districts kept in one projection (one node's log) whose time zones differ: their
    /// months could not be the same.
    #[error(
        "districts {first:?} ({first_zone}) and {other:?} ({other_zone}) keep different time zones; \
         a node whose log holds several districts needs them to share one (or run one node per district)"
    )]
    MixedTimeZones {
        /// A district.
        first: String,
        /// Its zone.
        first_zone: String,
        /// Another district, with another zone.
        other: String,
        /// That zone.
        other_zone: String,
    },
    /// A category's other fields are invalid (e.g. a zero deadline).
    #[error("registry categories: {code:?} is invalid: {reason}")]
    InvalidCategory {
        /// The category code.
        code: String,
        /// What is wrong.
        reason: String,
    },
    /// A section that must not be empty is empty (a registry needs grids and categories).
    #[error("registry {section}: at least one entry is required")]
    MissingEntries {
        /// The empty section.
        section: &'static str,
    },
    /// A lookup of a jurisdiction that is not in the registry.
    #[error("unknown jurisdiction {code:?}: it is not in the registry")]
    UnknownJurisdiction {
        /// The code looked up.
        code: String,
    },
    /// A lookup of a category that is not in the registry.
    #[error("unknown category {code:?}: it is not in the registry")]
    UnknownCategory {
        /// The code looked up.
        code: String,
    },
    /// The registry could not be written as JSON.
    #[error("the registry could not be encoded as JSON: {message}")]
    JsonEncoding {
        /// The encoder's description.
        message: String,
    },
}
