//! A macro for the crate's validated text newtypes (`struct IssueTitle(String)`,
//! `struct GridCode(JurisdictionCode)`, ...): one place writes `as_str`, `TryFrom<String>`
//! (through the type's own parse), `From<T> for String`, `AsRef<str>` and `Display`, so no
//! newtype can hand out or accept its text differently from the others.

/// Implements, for a newtype whose single field is text (`String`, or another newtype of
/// this macro):
///
/// - `as_str(&self) -> &str`, the validated text;
/// - `TryFrom<String>` with the given error type, by the given parse (written like a
///   closure over the owned `String`); serde's `try_from = "String"` goes through it;
/// - `From<T> for String` (serde's `into = "String"`), `AsRef<str>` and `Display` (the
///   text, verbatim).
///
/// ```text
/// string_newtype!(IssueTitle, error = DomainError, parse = |value| IssueTitle::parse(&value));
/// ```
macro_rules! string_newtype {
    ($name:ident, error = $error:ty, parse = |$value:ident| $parse:expr) => {
        impl $name {
            /// The validated text.
            pub fn as_str(&self) -> &str {
                AsRef::<str>::as_ref(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = $error;

            fn try_from($value: String) -> Result<Self, Self::Error> {
                $parse
            }
        }

        impl From<$name> for String {
            fn from(newtype: $name) -> Self {
                String::from(newtype.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use string_newtype;
