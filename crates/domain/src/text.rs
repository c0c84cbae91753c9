//! Validated text newtypes for command and event fields (titles, free text, identifiers,
//! bounded lists, participant counts). Holding one means its limits were checked; every
//! failure is a [`DomainError::InvalidField`] naming the [`Field`].

use std::fmt;
use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::field::Field;
use crate::quote::quote_for_message;
use crate::string_newtype::string_newtype;

/// Most characters (Unicode scalar values, not bytes) an issue title may have.
pub const MAX_TITLE_CHARS: usize = 200;
/// Most bytes (UTF-8) a free-text field (description, summary, minutes, ...) may have.
pub const MAX_FREE_TEXT_BYTES: usize = 8192;
/// Most characters an identifier (person, meeting, department, party) may have.
pub const MAX_IDENTIFIER_CHARS: usize = 128;
/// Most entries a list field (parties, supporting departments) may have.
pub const MAX_LIST_ENTRIES: usize = 64;
/// Most residents a concluded meeting may report as taking part.
pub const MAX_PARTICIPANTS: u32 = 100_000;

/// What kind of character one-line text (a title, an identifier) refuses, or `None` for a
/// character it accepts: control characters, line and paragraph separators, bidirectional
/// controls, and invisible format characters (Unicode category Cf: zero-width spaces and
/// joiners, the byte-order mark, soft hyphens, tags, ...). Each would make two values that
/// look the same differ, or make a value display differently from what it holds.
pub fn one_line_refusal(character: char) -> Option<&'static str> {
    if character.is_control() {
        Some("a control character")
    } else if matches!(character, '\u{2028}' | '\u{2029}') {
        Some("a line or paragraph separator")
    } else if is_bidi_control(character) || matches!(character, '\u{200e}' | '\u{200f}' | '\u{061c}') {
        Some("a bidirectional control")
    } else if is_invisible_format(character) {
        Some("an invisible format character")
    } else {
        None
    }
}

/// What kind of character free text (a description, minutes, ...) refuses, or `None`: the
/// bidirectional embeddings, overrides and isolates (U+202A..=U+202E, U+2066..=U+2069), which
/// can make text display in another order than it is stored. Line breaks, tabs and every
/// other character are kept.
pub fn free_text_refusal(character: char) -> Option<&'static str> {
    is_bidi_control(character).then_some("a bidirectional control")
}

/// The bidirectional embeddings, overrides and isolates: LRE, RLE, PDF, LRO, RLO (U+202A..=U+202E)
/// and LRI, RLI, FSI, PDI (U+2066..=U+2069).
fn is_bidi_control(character: char) -> bool {
    matches!(character, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The characters of Unicode's general category Cf (format), as of Unicode 15: invisible
/// characters that change how their neighbours display or join.
fn is_invisible_format(character: char) -> bool {
    matches!(
        character,
        '\u{00ad}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061c}'
            | '\u{06dd}'
            | '\u{070f}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08e2}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0001}'
            | '\u{e0020}'..='\u{e007f}'
    )
}

/// `value` trimmed of surrounding whitespace, or why it is blank: empty, or nothing but
/// whitespace and invisible characters.
fn trimmed_non_blank(value: &str) -> Result<&str, String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err("must not be empty or only whitespace".to_owned());
    }
    if trimmed
        .chars()
        .all(|character| character.is_whitespace() || is_invisible_format(character))
    {
        return Err(
            "must not be blank: it has only whitespace and invisible characters (zero-width spaces, joiners, ...)"
                .to_owned(),
        );
    }
    Ok(trimmed)
}

/// Why one-line text is refused, naming the first character it refuses and where.
fn check_one_line(value: &str) -> Result<(), String> {
    match value
        .chars()
        .enumerate()
        .find_map(|(index, character)| one_line_refusal(character).map(|kind| (index, character, kind)))
    {
        None => Ok(()),
        Some((index, character, kind)) => Err(format!(
            "must be one line of visible characters, found {character:?} ({kind}, U+{:04X}) at character {}",
            u32::from(character),
            index + 1
        )),
    }
}

fn invalid_field(field: Field, reason: impl Into<String>) -> DomainError {
    DomainError::InvalidField {
        field,
        reason: reason.into(),
    }
}

/// An issue's title: trimmed of surrounding whitespace, 1..=200 characters, one line of
/// visible characters (none that [`one_line_refusal`] refuses).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IssueTitle(String);

impl IssueTitle {
    /// The field named in errors.
    pub const FIELD: Field = Field::Title;

    /// Trims `value` and checks it is a valid title.
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let trimmed = trimmed_non_blank(value).map_err(|reason| invalid_field(Self::FIELD, reason))?;
        let character_count = trimmed.chars().count();
        if character_count > MAX_TITLE_CHARS {
            return Err(invalid_field(
                Self::FIELD,
                format!("must be at most {MAX_TITLE_CHARS} characters, got {character_count} characters"),
            ));
        }
        check_one_line(trimmed).map_err(|reason| invalid_field(Self::FIELD, reason))?;
        Ok(Self(trimmed.to_owned()))
    }
}

string_newtype!(
    IssueTitle,
    error = DomainError,
    parse = |value| IssueTitle::parse(&value)
);

/// Free text (description, summary, outcome, minutes, decision, comment, reason, note):
/// kept verbatim (line breaks included), may be empty, at most 8 KiB of UTF-8, without
/// bidirectional controls ([`free_text_refusal`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FreeText(String);

impl FreeText {
    /// Checks `value` for `field` (named in the error).
    pub fn parse(field: Field, value: impl Into<String>) -> Result<Self, DomainError> {
        let value = value.into();
        if value.len() > MAX_FREE_TEXT_BYTES {
            return Err(invalid_field(
                field,
                format!(
                    "must be at most {MAX_FREE_TEXT_BYTES} bytes of UTF-8, got {} bytes",
                    value.len()
                ),
            ));
        }
        if let Some((index, character, kind)) = value
            .char_indices()
            .find_map(|(index, character)| free_text_refusal(character).map(|kind| (index, character, kind)))
        {
            return Err(invalid_field(
                field,
                format!(
                    "must not contain bidirectional controls (U+202A..=U+202E, U+2066..=U+2069), found {character:?} ({kind}) at byte {index}"
                ),
            ));
        }
        Ok(Self(value))
    }

    /// Empty text.
    pub fn empty() -> Self {
        Self(String::new())
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

// Serde sees only the text, not which field it fills, and there is no generic "free text"
// field: a free text deserialized on its own is reported as a description, the first and
// most common free text of an issue.
string_newtype!(
    FreeText,
    error = DomainError,
    parse = |value| FreeText::parse(Field::Description, value)
);

/// Checks an identifier and returns it trimmed, or the reason it is invalid.
fn validate_identifier(value: &str) -> Result<String, String> {
    let trimmed = trimmed_non_blank(value)?;
    let character_count = trimmed.chars().count();
    if character_count > MAX_IDENTIFIER_CHARS {
        return Err(format!(
            "must be at most {MAX_IDENTIFIER_CHARS} characters, got {character_count} characters"
        ));
    }
    check_one_line(trimmed)?;
    Ok(trimmed.to_owned())
}

/// Defines an identifier newtype: trimmed, 1..=128 characters, one line of visible
/// characters.
macro_rules! identifier_newtype {
    ($(#[$meta:meta])* $name:ident, serde_field = $serde_field:expr) => {
        $(#[$meta])*
        ///
        /// Trimmed of surrounding whitespace; 1..=128 characters; one line of visible
        /// characters (none that [`one_line_refusal`] refuses).
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Trims `value` and checks it for `field` (named in the error).
            pub fn parse(field: Field, value: &str) -> Result<Self, DomainError> {
                validate_identifier(value)
                    .map(Self)
                    .map_err(|reason| invalid_field(field, reason))
            }
        }

        string_newtype!($name, error = DomainError, parse = |value| $name::parse($serde_field, &value));
    };
}

identifier_newtype!(
    /// The id of a person or responding unit: a reporter, an assignee or an evaluator.
    PersonId,
    // Serde sees only the id, not whose it is; every issue has a reporter, so a person id
    // deserialized on its own is reported as the reporter.
    serde_field = Field::Reporter
);
identifier_newtype!(
    /// The id of a deliberation or consultation meeting; one meeting may take up several
    /// issues.
    MeetingId,
    serde_field = Field::Meeting
);
identifier_newtype!(
    /// The name or id of a government department (a committee decision's lead or
    /// supporting department).
    DepartmentName,
    // Serde sees one department on its own, as the lead department is (supporting
    // departments are a list, checked as one).
    serde_field = Field::LeadDepartment
);
identifier_newtype!(
    /// A party to a deliberation (a residents' group, a property company, ...).
    PartyName,
    serde_field = Field::Parties
);

/// Defines a list newtype of at most 64 distinct identifiers.
macro_rules! identifier_list_newtype {
    ($(#[$meta:meta])* $name:ident of $entry:ident, field = $field:expr) => {
        $(#[$meta])*
        ///
        /// At most 64 entries; no entry twice. May be empty.
        #[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "Vec<String>", into = "Vec<String>")]
        pub struct $name(Vec<$entry>);

        impl $name {
            /// The field named in errors.
            pub const FIELD: Field = $field;

            /// Checks already-validated entries: count and distinctness.
            pub fn from_entries(entries: Vec<$entry>) -> Result<Self, DomainError> {
                if entries.len() > MAX_LIST_ENTRIES {
                    return Err(invalid_field(
                        Self::FIELD,
                        format!(
                            "must have at most {MAX_LIST_ENTRIES} entries, got {}",
                            entries.len()
                        ),
                    ));
                }
                for (index, entry) in entries.iter().enumerate() {
                    if entries.iter().take(index).any(|earlier| earlier == entry) {
                        return Err(invalid_field(
                            Self::FIELD,
                            format!(
                                "entry {index} ({:?}) is listed twice",
                                quote_for_message(entry.as_str())
                            ),
                        ));
                    }
                }
                Ok(Self(entries))
            }

            /// Validates every entry (trimmed, 1..=128 characters), then the list.
            pub fn parse<S: AsRef<str>>(
                values: impl IntoIterator<Item = S>,
            ) -> Result<Self, DomainError> {
                let mut entries = Vec::new();
                for (index, value) in values.into_iter().enumerate() {
                    if index >= MAX_LIST_ENTRIES {
                        return Err(invalid_field(
                            Self::FIELD,
                            format!("must have at most {MAX_LIST_ENTRIES} entries"),
                        ));
                    }
                    let entry = validate_identifier(value.as_ref()).map_err(|reason| {
                        invalid_field(Self::FIELD, format!("entry {index}: {reason}"))
                    })?;
                    entries.push($entry(entry));
                }
                Self::from_entries(entries)
            }

            /// An empty list.
            pub fn empty() -> Self {
                Self(Vec::new())
            }

            /// The entries, in the order given.
            pub fn entries(&self) -> &[$entry] {
                &self.0
            }

            /// The number of entries.
            pub fn len(&self) -> usize {
                self.0.len()
            }

            /// Whether there are no entries.
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl TryFrom<Vec<String>> for $name {
            type Error = DomainError;

            fn try_from(values: Vec<String>) -> Result<Self, Self::Error> {
                Self::parse(values)
            }
        }

        impl From<$name> for Vec<String> {
            fn from(list: $name) -> Self {
                list.0.into_iter().map(String::from).collect()
            }
        }
    };
}

identifier_list_newtype!(
    /// The parties invited to a deliberation meeting.
    MeetingParties of PartyName,
    field = Field::Parties
);
identifier_list_newtype!(
    /// The departments supporting the lead department of a committee decision.
    SupportingDepartments of DepartmentName,
    field = Field::SupportingDepartments
);

/// How many residents took part in a concluded meeting: 1..=[`MAX_PARTICIPANTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct ParticipantCount(NonZeroU32);

impl ParticipantCount {
    /// The field named in errors.
    pub const FIELD: Field = Field::Participants;

    /// Checks that `count` is greater than zero and at most [`MAX_PARTICIPANTS`].
    pub fn new(count: u32) -> Result<Self, DomainError> {
        if count > MAX_PARTICIPANTS {
            return Err(invalid_field(
                Self::FIELD,
                format!("must be at most {MAX_PARTICIPANTS}, got {count}"),
            ));
        }
        NonZeroU32::new(count)
            .map(Self)
            .ok_or_else(|| invalid_field(Self::FIELD, "must be greater than zero"))
    }

    /// The count.
    pub const fn get(self) -> u32 {
        self.0.get()
    }
}

impl TryFrom<u32> for ParticipantCount {
    type Error = DomainError;

    fn try_from(count: u32) -> Result<Self, Self::Error> {
        Self::new(count)
    }
}

impl From<ParticipantCount> for u32 {
    fn from(count: ParticipantCount) -> Self {
        count.get()
    }
}

impl fmt::Display for ParticipantCount {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}
