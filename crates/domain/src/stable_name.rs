//! A macro for field-less enums whose variants have stable, documented wire names
//! (`IN_DELIBERATION`, `ResolveIssue`, ...): one place defines the name used by `Display`,
//! serde, `as_str` and `from_name`, so they can never disagree.

/// Defines a `Copy` enum whose every variant has one stable name, plus:
/// `ALL` (every variant, in declaration order), `as_str`, `from_name`, `Display` and serde
/// (serialized as the stable name).
macro_rules! enum_with_stable_names {
    (
        $(#[$enum_meta:meta])*
        pub enum $enum_name:ident {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident => $stable_name:literal
            ),+ $(,)?
        }
    ) => {
        $(#[$enum_meta])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            PartialOrd,
            Ord,
            Hash,
            serde::Serialize,
            serde::Deserialize,
        )]
        pub enum $enum_name {
            $(
                $(#[$variant_meta])*
                #[serde(rename = $stable_name)]
                $variant,
            )+
        }

        impl $enum_name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$enum_name] = &[$($enum_name::$variant),+];

            /// The stable name of this variant.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($enum_name::$variant => $stable_name,)+
                }
            }

            /// The variant with this exact stable name, if any.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($stable_name => Some($enum_name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $enum_name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use enum_with_stable_names;
