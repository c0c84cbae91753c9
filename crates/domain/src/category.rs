//! Issue categories (the categories of `docs/product.md`): a [`CategoryCode`] such as
//! `public-security`, a display name and a default handling deadline that sets a new
//! issue's `due_at`.

use serde::{Deserialize, Serialize};

use crate::jurisdiction::{InvalidCodeError, validate_code_segment};
use crate::registry::{CategoryDocument, DisplayName, RegistryError};
use crate::string_newtype::string_newtype;
use crate::time::DurationMicros;

/// Most characters in a category code.
pub const MAX_CATEGORY_CODE_CHARS: usize = 64;
/// Longest default handling deadline a category may have: 366 days.
pub const MAX_DEFAULT_HANDLING_DEADLINE_HOURS: u32 = 366 * 24;

/// A category code: 1..=64 characters of `[a-z0-9-]`, e.g. `work-safety`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CategoryCode(String);

impl CategoryCode {
    /// Checks `value` is a category code (no trimming, no case folding).
    pub fn parse(value: &str) -> Result<Self, InvalidCodeError> {
        validate_code_segment(value, "the code", MAX_CATEGORY_CODE_CHARS)
            .map_err(|reason| InvalidCodeError::new(value, reason))?;
        Ok(Self(value.to_owned()))
    }

    /// Wraps a string the caller knows to be valid. Only for the built-in registry, whose
    /// validity is tested by re-parsing.
    pub(crate) fn from_trusted_string(value: String) -> Self {
        Self(value)
    }
}

string_newtype!(
    CategoryCode,
    error = InvalidCodeError,
    parse = |value| CategoryCode::parse(&value)
);

/// A registered category: code, display name and default handling deadline
/// (1..=8784 hours).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "CategoryDocument", into = "CategoryDocument")]
pub struct Category {
    code: CategoryCode,
    display_name: DisplayName,
    default_handling_deadline_hours: u32,
}

impl Category {
    /// Checks the deadline (1..=8784 hours) and builds the category.
    pub fn new(
        code: CategoryCode,
        display_name: DisplayName,
        default_handling_deadline_hours: u32,
    ) -> Result<Self, RegistryError> {
        if !(1..=MAX_DEFAULT_HANDLING_DEADLINE_HOURS).contains(&default_handling_deadline_hours) {
            return Err(RegistryError::InvalidCategory {
                code: code.as_str().to_owned(),
                reason: format!(
                    "default_handling_deadline_hours must be 1..={MAX_DEFAULT_HANDLING_DEADLINE_HOURS}, got {default_handling_deadline_hours}"
                ),
            });
        }
        Ok(Self {
            code,
            display_name,
            default_handling_deadline_hours,
        })
    }

    /// Builds a category from parts the caller knows to be valid (deadline within
    /// 1..=8784 hours). Only for the built-in registry, whose validity is tested by
    /// re-parsing.
    pub(crate) fn from_trusted_parts(
        code: CategoryCode,
        display_name: DisplayName,
        default_handling_deadline_hours: u32,
    ) -> Self {
        Self {
            code,
            display_name,
            default_handling_deadline_hours,
        }
    }

    /// The category code.
    pub fn code(&self) -> &CategoryCode {
        &self.code
    }

    /// The human-readable name (may be Chinese).
    pub fn display_name(&self) -> &DisplayName {
        &self.display_name
    }

    /// How many hours a new issue of this category has until it is due.
    pub fn default_handling_deadline_hours(&self) -> u32 {
        self.default_handling_deadline_hours
    }

    /// The default handling deadline as a duration.
    pub fn default_handling_deadline(&self) -> DurationMicros {
        DurationMicros::from_hours(i64::from(self.default_handling_deadline_hours))
    }
}

impl TryFrom<CategoryDocument> for Category {
    type Error = RegistryError;

    fn try_from(document: CategoryDocument) -> Result<Self, Self::Error> {
        let code = CategoryCode::parse(&document.code).map_err(|error| RegistryError::InvalidCode {
            section: "categories",
            code: error.code,
            reason: error.reason,
        })?;
        let display_name =
            DisplayName::parse(&document.display_name).map_err(|error| RegistryError::InvalidDisplayName {
                section: "categories",
                code: code.as_str().to_owned(),
                reason: error.reason,
            })?;
        Category::new(code, display_name, document.default_handling_deadline_hours)
    }
}

impl From<Category> for CategoryDocument {
    fn from(category: Category) -> Self {
        CategoryDocument {
            code: category.code.into(),
            display_name: category.display_name.into(),
            default_handling_deadline_hours: category.default_handling_deadline_hours,
        }
    }
}
