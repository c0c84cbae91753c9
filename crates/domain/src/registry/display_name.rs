//! [`DisplayName`]: the validated human-readable name of a jurisdiction or category, and
//! why one was refused.

use serde::{Deserialize, Serialize};

use crate::string_newtype::string_newtype;

/// Most characters a display name may have.
pub const MAX_DISPLAY_NAME_CHARS: usize = 200;

/// A human-readable name of a jurisdiction or category: trimmed, 1..=200 characters, no
/// control characters. Chinese is welcome.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);

/// Why a display name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid display name: {reason}")]
pub struct InvalidDisplayNameError {
    /// What is wrong with it.
    pub reason: String,
}

impl DisplayName {
    /// Trims `value` and checks it is a valid display name.
    pub fn parse(value: &str) -> Result<Self, InvalidDisplayNameError> {
        let trimmed = value.trim();
        let refuse = |reason: String| Err(InvalidDisplayNameError { reason });
        if trimmed.is_empty() {
            return refuse("must not be empty or only whitespace".to_owned());
        }
        let character_count = trimmed.chars().count();
        if character_count > MAX_DISPLAY_NAME_CHARS {
            return refuse(format!(
                "must be at most {MAX_DISPLAY_NAME_CHARS} characters, got {character_count}"
            ));
        }
        if let Some(control) = trimmed.chars().find(|character| character.is_control()) {
            return refuse(format!("must not contain control characters, found {control:?}"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// Wraps a name the caller knows to be valid. Only for the built-in registry, whose
    /// validity is tested by re-parsing.
    pub(super) fn from_trusted_string(value: String) -> Self {
        Self(value)
    }
}

string_newtype!(
    DisplayName,
    error = InvalidDisplayNameError,
    parse = |value| DisplayName::parse(&value)
);
