//! Jurisdiction codes (the jurisdictions of `docs/product.md`): `runzhou`, `runzhou.s3`,
//! `runzhou.s3.c07`, `runzhou.s3.c07.g02`. A code names its whole ancestry; its segment
//! count is its level. [`DistrictCode`], [`StreetCode`], [`CommunityCode`] and [`GridCode`]
//! are codes proven to be of that level.

use serde::{Deserialize, Serialize};

use crate::quote::quote_for_message;
use crate::stable_name::enum_with_stable_names;
use crate::string_newtype::string_newtype;

/// Most segments a jurisdiction code has (district, street, community, grid).
pub const MAX_JURISDICTION_SEGMENTS: usize = 4;
/// Most characters in one segment of a code.
pub const MAX_CODE_SEGMENT_CHARS: usize = 32;
/// Most characters in a whole jurisdiction code.
pub const MAX_JURISDICTION_CODE_CHARS: usize = 128;

/// A code (jurisdiction or category) that failed validation, and why. Callers that take a
/// code from a request wrap it in their own error naming the request field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid code {code:?}: {reason}")]
pub struct InvalidCodeError {
    /// The offending input, shortened by [`quote_for_message`] (64 characters and `…`).
    pub code: String,
    /// What is wrong with it.
    pub reason: String,
}

impl InvalidCodeError {
    /// An error for `code` (quoted by [`quote_for_message`]).
    pub fn new(code: &str, reason: impl Into<String>) -> Self {
        Self {
            code: quote_for_message(code),
            reason: reason.into(),
        }
    }
}

/// Checks one segment of a code: 1..=`max_chars` characters of `[a-z0-9-]`.
/// `segment_label` names the segment in messages (`segment 2`, `the code`).
pub(crate) fn validate_code_segment(segment: &str, segment_label: &str, max_chars: usize) -> Result<(), String> {
    if segment.is_empty() {
        return Err(format!(
            "{segment_label} is empty (codes are non-empty segments of a-z, 0-9 and '-', joined by '.')"
        ));
    }
    if let Some(bad) = segment
        .chars()
        .find(|character| !matches!(character, 'a'..='z' | '0'..='9' | '-'))
    {
        return Err(format!(
            "{segment_label} ({:?}) contains {bad:?}; only lowercase a-z, 0-9 and '-' are allowed",
            quote_for_message(segment)
        ));
    }
    if segment.len() > max_chars {
        return Err(format!(
            "{segment_label} is {} characters long; at most {max_chars} are allowed",
            segment.len()
        ));
    }
    Ok(())
}

enum_with_stable_names! {
    /// The level of a jurisdiction, given by its code's number of segments.
    pub enum JurisdictionLevel {
        /// One segment: `runzhou`.
        District => "DISTRICT",
        /// Two segments: `runzhou.s3`.
        Street => "STREET",
        /// Three segments: `runzhou.s3.c07`.
        Community => "COMMUNITY",
        /// Four segments: `runzhou.s3.c07.g02`.
        Grid => "GRID",
    }
}

impl JurisdictionLevel {
    /// How many segments a code of this level has (1..=4).
    pub const fn segment_count(self) -> usize {
        match self {
            JurisdictionLevel::District => 1,
            JurisdictionLevel::Street => 2,
            JurisdictionLevel::Community => 3,
            JurisdictionLevel::Grid => 4,
        }
    }

    /// The level of a code with `segment_count` segments, if 1..=4.
    pub const fn from_segment_count(segment_count: usize) -> Option<Self> {
        match segment_count {
            1 => Some(JurisdictionLevel::District),
            2 => Some(JurisdictionLevel::Street),
            3 => Some(JurisdictionLevel::Community),
            4 => Some(JurisdictionLevel::Grid),
            _ => None,
        }
    }

    /// The level above, or `None` for a district.
    pub const fn parent_level(self) -> Option<Self> {
        match self {
            JurisdictionLevel::District => None,
            JurisdictionLevel::Street => Some(JurisdictionLevel::District),
            JurisdictionLevel::Community => Some(JurisdictionLevel::Street),
            JurisdictionLevel::Grid => Some(JurisdictionLevel::Community),
        }
    }

    /// The lowercase English noun, for messages: `district`, `street`, `community`, `grid`.
    pub const fn noun(self) -> &'static str {
        match self {
            JurisdictionLevel::District => "district",
            JurisdictionLevel::Street => "street",
            JurisdictionLevel::Community => "community",
            JurisdictionLevel::Grid => "grid",
        }
    }
}

/// A valid jurisdiction code of any level: 1..=4 segments of `[a-z0-9-]` (each 1..=32
/// characters) joined by `.`, at most 128 characters in all.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JurisdictionCode(String);

impl JurisdictionCode {
    /// Checks `value` is a jurisdiction code (no trimming, no case folding).
    pub fn parse(value: &str) -> Result<Self, InvalidCodeError> {
        if value.is_empty() {
            return Err(InvalidCodeError::new(value, "must not be empty"));
        }
        if value.len() > MAX_JURISDICTION_CODE_CHARS {
            return Err(InvalidCodeError::new(
                value,
                format!(
                    "is {} bytes long; at most {MAX_JURISDICTION_CODE_CHARS} are allowed",
                    value.len()
                ),
            ));
        }
        let segment_count = value.split('.').count();
        if segment_count > MAX_JURISDICTION_SEGMENTS {
            return Err(InvalidCodeError::new(
                value,
                format!("has {segment_count} segments; a code has 1 (district) to 4 (grid) segments"),
            ));
        }
        for (index, segment) in value.split('.').enumerate() {
            validate_code_segment(segment, &format!("segment {}", index + 1), MAX_CODE_SEGMENT_CHARS)
                .map_err(|reason| InvalidCodeError::new(value, reason))?;
        }
        Ok(Self(value.to_owned()))
    }

    /// Wraps a string the caller has built from valid parts (see the leveled codes'
    /// `from_trusted_string`).
    fn from_trusted_string(value: String) -> Self {
        Self(value)
    }

    /// The segments, from the district down.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }

    /// The level given by the number of segments.
    pub fn level(&self) -> JurisdictionLevel {
        match self.segments().count() {
            1 => JurisdictionLevel::District,
            2 => JurisdictionLevel::Street,
            3 => JurisdictionLevel::Community,
            _ => JurisdictionLevel::Grid,
        }
    }

    /// The code of the enclosing jurisdiction, or `None` for a district.
    pub fn parent(&self) -> Option<JurisdictionCode> {
        self.0
            .rsplit_once('.')
            .map(|(parent, _last_segment)| Self(parent.to_owned()))
    }

    /// The code of the enclosing jurisdiction at `level`, or `None` if `level` is below
    /// this code's own level. At its own level this is the code itself.
    pub fn ancestor_at(&self, level: JurisdictionLevel) -> Option<JurisdictionCode> {
        if level > self.level() {
            return None;
        }
        Some(self.truncated_to(level))
    }

    /// Every enclosing jurisdiction, from the district down to the direct parent; empty for
    /// a district.
    pub fn ancestors(&self) -> Vec<JurisdictionCode> {
        JurisdictionLevel::ALL
            .iter()
            .filter(|level| **level < self.level())
            .map(|level| self.truncated_to(*level))
            .collect()
    }

    /// Whether this jurisdiction is `other` or lies inside it (`runzhou.s3.c07` is within
    /// `runzhou.s3` and `runzhou`, not within `runzhou.s30`).
    pub fn is_within(&self, other: &JurisdictionCode) -> bool {
        match self.0.strip_prefix(other.as_str()) {
            Some(rest) => rest.is_empty() || rest.starts_with('.'),
            None => false,
        }
    }

    /// The first `level.segment_count()` segments (the whole code if it is shallower).
    fn truncated_to(&self, level: JurisdictionLevel) -> JurisdictionCode {
        let kept: Vec<&str> = self.segments().take(level.segment_count()).collect();
        Self(kept.join("."))
    }
}

string_newtype!(
    JurisdictionCode,
    error = InvalidCodeError,
    parse = |value| JurisdictionCode::parse(&value)
);

/// Defines a jurisdiction code newtype proven to be of one level.
macro_rules! leveled_code_newtype {
    ($(#[$meta:meta])* $name:ident, $level:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(JurisdictionCode);

        impl $name {
            /// The level every code of this type has.
            pub const LEVEL: JurisdictionLevel = JurisdictionLevel::$level;

            /// Checks `value` is a valid code of this level.
            pub fn parse(value: &str) -> Result<Self, InvalidCodeError> {
                Self::try_from(JurisdictionCode::parse(value)?)
            }

            /// Wraps a string the caller has built from valid parts of this level. Only for
            /// codes this crate generates itself (the built-in registry, tested by
            /// re-parsing).
            pub(crate) fn from_trusted_string(value: String) -> Self {
                Self(JurisdictionCode::from_trusted_string(value))
            }

            /// The code as a level-agnostic [`JurisdictionCode`].
            pub fn as_jurisdiction_code(&self) -> &JurisdictionCode {
                &self.0
            }
        }

        string_newtype!($name, error = InvalidCodeError, parse = |value| $name::parse(&value));

        impl TryFrom<JurisdictionCode> for $name {
            type Error = InvalidCodeError;

            fn try_from(code: JurisdictionCode) -> Result<Self, Self::Error> {
                let actual = code.level();
                if actual == Self::LEVEL {
                    Ok(Self(code))
                } else {
                    Err(InvalidCodeError::new(
                        code.as_str(),
                        format!(
                            "expected a {} code ({} segments), found a {} code ({} segments)",
                            Self::LEVEL.noun(),
                            Self::LEVEL.segment_count(),
                            actual.noun(),
                            actual.segment_count()
                        ),
                    ))
                }
            }
        }

        impl From<$name> for JurisdictionCode {
            fn from(code: $name) -> Self {
                code.0
            }
        }

    };
}

leveled_code_newtype!(
    /// A district code (one segment), e.g. `runzhou`.
    DistrictCode,
    District
);
leveled_code_newtype!(
    /// A street code (two segments), e.g. `runzhou.s3`.
    StreetCode,
    Street
);
leveled_code_newtype!(
    /// A community code (three segments), e.g. `runzhou.s3.c07`.
    CommunityCode,
    Community
);
leveled_code_newtype!(
    /// A grid code (four segments), e.g. `runzhou.s3.c07.g02`.
    GridCode,
    Grid
);

impl StreetCode {
    /// The district this street belongs to.
    pub fn district(&self) -> DistrictCode {
        DistrictCode(self.0.truncated_to(JurisdictionLevel::District))
    }
}

impl CommunityCode {
    /// The street this community belongs to.
    pub fn street(&self) -> StreetCode {
        StreetCode(self.0.truncated_to(JurisdictionLevel::Street))
    }

    /// The district this community belongs to.
    pub fn district(&self) -> DistrictCode {
        DistrictCode(self.0.truncated_to(JurisdictionLevel::District))
    }
}

impl GridCode {
    /// The community this grid belongs to.
    pub fn community(&self) -> CommunityCode {
        CommunityCode(self.0.truncated_to(JurisdictionLevel::Community))
    }

    /// The street this grid belongs to.
    pub fn street(&self) -> StreetCode {
        StreetCode(self.0.truncated_to(JurisdictionLevel::Street))
    }

    /// The district this grid belongs to.
    pub fn district(&self) -> DistrictCode {
        DistrictCode(self.0.truncated_to(JurisdictionLevel::District))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quote::MAX_QUOTED_CHARS;

    fn check_invalid(input: &str, reason_fragment: &str) {
        match JurisdictionCode::parse(input) {
            Ok(code) => panic!("{input:?} was accepted as {code}"),
            Err(error) => assert!(
                error.reason.contains(reason_fragment),
                "{input:?}: {error} does not mention {reason_fragment:?}"
            ),
        }
    }

    #[test]
    fn invalid_codes_are_rejected_with_the_reason() {
        check_invalid("", "must not be empty");
        check_invalid("Runzhou", "contains 'R'");
        check_invalid("runzhou.s_1", "contains '_'");
        check_invalid("runzhou. s1", "contains ' '");
        check_invalid("runzhou..s1", "segment 2 is empty");
        check_invalid("runzhou.", "segment 2 is empty");
        check_invalid(".runzhou", "segment 1 is empty");
        check_invalid("a.b.c.d.e", "has 5 segments");
        check_invalid(&"a".repeat(33), "at most 32");
        check_invalid("区.s1", "contains '区'");
        let too_long = format!("{}.{}", "a".repeat(32), "b".repeat(40));
        check_invalid(&too_long, "at most 32");
    }

    #[test]
    fn valid_codes_know_their_level_and_ancestry() {
        let grid = JurisdictionCode::parse("runzhou.s3.c07.g02").expect("valid grid code");
        assert_eq!(grid.level(), JurisdictionLevel::Grid);
        assert_eq!(grid.parent().map(String::from).as_deref(), Some("runzhou.s3.c07"));
        let ancestors: Vec<String> = grid.ancestors().into_iter().map(String::from).collect();
        assert_eq!(ancestors, ["runzhou", "runzhou.s3", "runzhou.s3.c07"]);
        let street = JurisdictionCode::parse("runzhou.s3").expect("valid street code");
        assert!(grid.is_within(&street));
        assert!(grid.is_within(&grid));
        assert!(!street.is_within(&grid));
        let other_street = JurisdictionCode::parse("runzhou.s30").expect("valid street code");
        assert!(
            !JurisdictionCode::parse("runzhou.s30.c01")
                .expect("valid community code")
                .is_within(&street)
        );
        assert!(!street.is_within(&other_street));
        assert_eq!(grid.ancestor_at(JurisdictionLevel::Street), Some(street));
        let district = JurisdictionCode::parse("runzhou").expect("valid district code");
        assert_eq!(district.parent(), None);
        assert!(district.ancestors().is_empty());
        assert_eq!(district.ancestor_at(JurisdictionLevel::Grid), None);
        let longest = vec!["a".repeat(32); 4].join(".");
        assert_eq!(longest.len(), 131);
        check_invalid(&longest, "at most 128");
        let longest_valid = format!("{}.{}", vec!["a".repeat(32); 3].join("."), "b".repeat(29));
        assert_eq!(
            JurisdictionCode::parse(&longest_valid).map(|code| code.level()),
            Ok(JurisdictionLevel::Grid)
        );
    }

    #[test]
    fn typed_codes_check_their_level() {
        let grid = GridCode::parse("runzhou.s3.c07.g02").expect("valid grid code");
        assert_eq!(grid.community().as_str(), "runzhou.s3.c07");
        assert_eq!(grid.street().as_str(), "runzhou.s3");
        assert_eq!(grid.district().as_str(), "runzhou");
        assert_eq!(grid.community().street().district().as_str(), "runzhou");
        let error = GridCode::parse("runzhou.s3").expect_err("a street is not a grid");
        assert_eq!(
            error.to_string(),
            "invalid code \"runzhou.s3\": expected a grid code (4 segments), found a street code (2 segments)"
        );
        assert!(StreetCode::parse("runzhou.s3").is_ok());
        assert!(DistrictCode::parse("runzhou.s3").is_err());
        assert!(CommunityCode::parse("runzhou.S3.c1").is_err());
    }

    #[test]
    fn long_inputs_are_shortened_in_messages() {
        let error = JurisdictionCode::parse(&"x".repeat(10_000)).expect_err("too long");
        assert_eq!(error.code.chars().count(), MAX_QUOTED_CHARS + 1);
        assert!(error.code.ends_with('…'));
    }
}
