//! The principals file of `--auth` and the principals in force.
//!
//! ```json
//! {
//!   "principals": [
//!     {"id": "worker-7", "role": "grid_worker", "scopes": ["runzhou.s1.c01.g01"],
//!      "token_sha256": "3f1c…", "added_at": "2026-11-30T09:00:00Z"}
//!   ]
//! }
//! ```
//!
//! Every principal has an id, a [`Role`], one or more jurisdiction scopes (each in the
//! registry; a committee's are districts) and the SHA-256 of its token's secret, never the
//! token. A file that does not load names the line, and the principal and field at fault.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use gridledger_domain::{JurisdictionCode, JurisdictionLevel, Registry};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::AuthError;
use super::table::Role;
use super::token::{hash_secret, parse_token, validate_principal_id};

/// The file as written: what `gridledger auth add|revoke` edit and the server loads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalsFile {
    pub principals: Vec<PrincipalEntry>,
}

/// One principal as written in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalEntry {
    /// The id in its tokens (`glt_<id>_…`), the CN of its client certificate, and the
    /// `actor_id` recorded on the events it writes.
    pub id: String,
    pub role: Role,
    /// District, street, community or grid codes; the principal acts within any of them.
    pub scopes: Vec<JurisdictionCode>,
    /// SHA-256 of the token's secret (the part after `glt_<id>_`), lowercase hex.
    pub token_sha256: String,
    /// When the entry was added (RFC 3339), for people; the server ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_at: Option<String>,
}

/// Why a principals file does not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalsFileError {
    /// Not JSON, or not the file's shape (an unknown key, an unknown role, a malformed code).
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// Well formed, but a principal is wrong.
    #[error("{}principals[{index}] ({id:?}): {field}: {reason}", line.map(|line| format!("line {line}: ")).unwrap_or_default())]
    Invalid {
        /// The line of the principal's `"id"`, when it can be found.
        line: Option<usize>,
        index: usize,
        id: String,
        /// The field at fault: `id`, `scopes[1]`, `token_sha256`.
        field: String,
        reason: String,
    },
}

impl PrincipalsFile {
    /// Parses the file's text (its shape only; [`PrincipalSet::from_json`] checks the rest).
    pub fn from_json(text: &str) -> Result<Self, PrincipalsFileError> {
        serde_json::from_str(text).map_err(|error| {
            let position = format!(" at line {} column {}", error.line(), error.column());
            let message = error.to_string();
            PrincipalsFileError::Syntax {
                line: error.line(),
                column: error.column(),
                message: message.strip_suffix(&position).unwrap_or(&message).to_owned(),
            }
        })
    }

    /// The file's text, as `gridledger auth` writes it.
    pub fn to_json_pretty(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_else(|_| String::from("{\"principals\": []}"));
        text.push('\n');
        text
    }

    /// The entry of principal `id`, if any.
    pub fn entry(&self, id: &str) -> Option<&PrincipalEntry> {
        self.principals.iter().find(|entry| entry.id == id)
    }
}

/// An authenticated caller: who, in what role, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: String,
    pub role: Role,
    /// Never empty.
    pub scopes: Vec<JurisdictionCode>,
}

impl Principal {
    /// Whether `code` lies within one of the principal's scopes.
    pub fn covers(&self, code: &JurisdictionCode) -> bool {
        self.scopes.iter().any(|scope| code.is_within(scope))
    }

    /// The scopes, comma-separated, for messages.
    pub fn scopes_text(&self) -> String {
        self.scopes
            .iter()
            .map(JurisdictionCode::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Principal {
    /// `worker-7 (grid_worker, scope runzhou.s1.c01.g01)`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let noun = if self.scopes.len() == 1 { "scope" } else { "scopes" };
        write!(formatter, "{} ({}, {noun} {})", self.id, self.role, self.scopes_text())
    }
}

struct Credential {
    principal: Arc<Principal>,
    token_hash: [u8; 32],
}

/// The principals in force, by id.
#[derive(Default)]
pub struct PrincipalSet {
    by_id: HashMap<String, Credential>,
}

impl fmt::Debug for PrincipalSet {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&String> = self.by_id.keys().collect();
        ids.sort();
        formatter.debug_struct("PrincipalSet").field("ids", &ids).finish()
    }
}

/// Compared with the hash of a secret presented for an unknown id, so that an unknown id
/// costs the same work as a wrong secret.
const NO_SUCH_HASH: [u8; 32] = [0xa5; 32];

/// Said for every token that does not name a principal in force, whatever the reason.
pub(crate) const INVALID_TOKEN: &str = "invalid or revoked token";
/// Said for a value that is not a token at all.
pub(crate) const MALFORMED_TOKEN: &str = "malformed token: expected `authorization: Bearer glt_<id>_<secret>`";

impl PrincipalSet {
    /// Parses and checks a principals file against `registry`.
    pub fn from_json(text: &str, registry: &Registry) -> Result<Self, PrincipalsFileError> {
        let file = PrincipalsFile::from_json(text)?;
        let mut by_id: HashMap<String, Credential> = HashMap::with_capacity(file.principals.len());
        for (index, entry) in file.principals.into_iter().enumerate() {
            let invalid = |field: String, reason: String| PrincipalsFileError::Invalid {
                line: line_of_entry(text, index),
                index,
                id: entry.id.clone(),
                field,
                reason,
            };
            validate_principal_id(&entry.id).map_err(|reason| invalid("id".to_owned(), reason))?;
            if by_id.contains_key(&entry.id) {
                return Err(invalid(
                    "id".to_owned(),
                    "is used by an earlier principal; ids are unique".to_owned(),
                ));
            }
            if entry.scopes.is_empty() {
                return Err(invalid(
                    "scopes".to_owned(),
                    "is empty; a principal has one or more jurisdiction scopes".to_owned(),
                ));
            }
            for (scope_index, scope) in entry.scopes.iter().enumerate() {
                let field = format!("scopes[{scope_index}]");
                if !registry.contains_jurisdiction(scope) {
                    return Err(invalid(field, format!("{scope} is not in the registry")));
                }
                if entry.role == Role::Committee && scope.level() != JurisdictionLevel::District {
                    return Err(invalid(
                        field,
                        format!(
                            "{scope} is a {}; a committee acts district-wide, so its scopes are districts",
                            scope.level().noun()
                        ),
                    ));
                }
            }
            let token_hash = parse_hash(&entry.token_sha256)
                .map_err(|reason| invalid("token_sha256".to_owned(), reason.to_owned()))?;
            let principal = Principal {
                id: entry.id.clone(),
                role: entry.role,
                scopes: entry.scopes,
            };
            by_id.insert(
                entry.id,
                Credential {
                    principal: Arc::new(principal),
                    token_hash,
                },
            );
        }
        Ok(PrincipalSet { by_id })
    }

    /// How many principals are in force.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no principal is in force.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The principal a bearer token names, if its secret matches. The secret is hashed
    /// and compared in constant time even when the id is unknown, and every failure gives
    /// the same answer.
    pub fn authenticate_token(&self, token: &str) -> Result<Arc<Principal>, AuthError> {
        let parsed = parse_token(token);
        let (id, secret) = parsed.unwrap_or(("", token));
        let presented = hash_secret(secret);
        let credential = self.by_id.get(id);
        let expected = credential.map_or(&NO_SUCH_HASH, |credential| &credential.token_hash);
        let matches = bool::from(presented.ct_eq(expected));
        match (parsed, credential) {
            (None, _) => Err(AuthError::Unauthenticated {
                reason: MALFORMED_TOKEN,
            }),
            (Some(_), Some(credential)) if matches => Ok(credential.principal.clone()),
            (Some(_), _) => Err(AuthError::Unauthenticated { reason: INVALID_TOKEN }),
        }
    }

    /// The principal with id `id` (the CN of a verified client certificate).
    pub fn by_id(&self, id: &str) -> Option<Arc<Principal>> {
        self.by_id.get(id).map(|credential| credential.principal.clone())
    }
}

fn parse_hash(text: &str) -> Result<[u8; 32], &'static str> {
    if text.len() != 64 || !text.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f')) {
        return Err("must be 64 lowercase hex digits: the SHA-256 of the token's secret");
    }
    let mut hash = [0_u8; 32];
    hex::decode_to_slice(text, &mut hash).map_err(|_| "is not hex")?;
    Ok(hash)
}

/// The line of the `index`-th `"id":` key in `text` (the start of that principal), if found.
fn line_of_entry(text: &str, index: usize) -> Option<usize> {
    let offset = text
        .match_indices("\"id\"")
        .filter(|(at, key)| text[at + key.len()..].trim_start().starts_with(':'))
        .nth(index)?
        .0;
    Some(text[..offset].matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::token::{SECRET_BYTES, hash_secret_hex, token_for};

    fn file_with(entries: &str) -> String {
        format!("{{\n  \"principals\": [\n{entries}\n  ]\n}}\n")
    }

    fn entry(id: &str, role: &str, scopes: &str, hash: &str) -> String {
        format!("    {{\"id\": \"{id}\", \"role\": \"{role}\", \"scopes\": [{scopes}], \"token_sha256\": \"{hash}\"}}")
    }

    fn check(text: &str, expected_error: Option<&str>) {
        let registry = Registry::builtin_runzhou();
        match (PrincipalSet::from_json(text, &registry), expected_error) {
            (Ok(_), None) => {}
            (Err(error), Some(expected)) => assert_eq!(error.to_string(), expected, "{text}"),
            (outcome, expected) => panic!("{text}\nexpected {expected:?}, got {outcome:?}"),
        }
    }

    #[test]
    fn a_file_that_does_not_load_names_the_line_and_field() {
        let hash = "ab".repeat(32);
        let good = entry("worker-7", "grid_worker", "\"runzhou.s1.c01.g01\"", &hash);
        check(&file_with(&good), None);
        check(&file_with(""), None);
        check(
            &file_with(&format!(
                "{good},\n{}",
                entry("ops", "committee", "\"runzhou.s1\"", &hash)
            )),
            Some(
                "line 4: principals[1] (\"ops\"): scopes[0]: runzhou.s1 is a street; a committee acts district-wide, so its scopes are districts",
            ),
        );
        check(
            &file_with(&entry(
                "w",
                "grid_worker",
                "\"runzhou.s1.c01.g01\", \"runzhou.s99\"",
                &hash,
            )),
            Some("line 3: principals[0] (\"w\"): scopes[1]: runzhou.s99 is not in the registry"),
        );
        check(
            &file_with(&entry("w", "grid_worker", "", &hash)),
            Some("line 3: principals[0] (\"w\"): scopes: is empty; a principal has one or more jurisdiction scopes"),
        );
        check(
            &file_with(&entry("w_1", "admin", "\"runzhou\"", &hash)),
            Some("line 3: principals[0] (\"w_1\"): id: contains '_'; only A-Z, a-z, 0-9, '.' and '-' are allowed"),
        );
        check(
            &file_with(&format!("{good},\n{good}")),
            Some("line 4: principals[1] (\"worker-7\"): id: is used by an earlier principal; ids are unique"),
        );
        check(
            &file_with(&entry("w", "admin", "\"runzhou\"", "ABCD")),
            Some(
                "line 3: principals[0] (\"w\"): token_sha256: must be 64 lowercase hex digits: the SHA-256 of the token's secret",
            ),
        );
        let unknown_role = PrincipalSet::from_json(
            &file_with(&entry("w", "root", "\"runzhou\"", &hash)),
            &Registry::builtin_runzhou(),
        );
        assert!(
            matches!(&unknown_role, Err(PrincipalsFileError::Syntax { line: 3, message, .. }) if message.contains("unknown variant `root`")),
            "{unknown_role:?}"
        );
        let unknown_key = PrincipalSet::from_json("{\"principals\": [], \"secret\": 1}", &Registry::builtin_runzhou());
        assert!(
            matches!(&unknown_key, Err(PrincipalsFileError::Syntax { line: 1, message, .. }) if message.contains("unknown field `secret`")),
            "{unknown_key:?}"
        );
        assert!(matches!(
            PrincipalSet::from_json("", &Registry::builtin_runzhou()),
            Err(PrincipalsFileError::Syntax { .. })
        ));
    }

    #[test]
    fn tokens_authenticate_by_constant_time_hash_and_fail_alike() -> Result<(), PrincipalsFileError> {
        let secret = [7_u8; SECRET_BYTES];
        let token = token_for("worker-7", &secret);
        let (_, encoded) = parse_token(&token).expect("parses");
        let text = file_with(&entry(
            "worker-7",
            "grid_worker",
            "\"runzhou.s1.c01.g01\"",
            &hash_secret_hex(encoded),
        ));
        let principals = PrincipalSet::from_json(&text, &Registry::builtin_runzhou())?;
        let principal = principals.authenticate_token(&token).expect("the token authenticates");
        assert_eq!(principal.id, "worker-7");
        assert_eq!(
            principal.to_string(),
            "worker-7 (grid_worker, scope runzhou.s1.c01.g01)"
        );
        let wrong_secret = token_for("worker-7", &[8; SECRET_BYTES]);
        let unknown_id = token_for("worker-8", &secret);
        let invalid = Err(AuthError::Unauthenticated { reason: INVALID_TOKEN });
        assert_eq!(principals.authenticate_token(&wrong_secret), invalid);
        assert_eq!(principals.authenticate_token(&unknown_id), invalid);
        assert_eq!(
            principals.authenticate_token("hunter2"),
            Err(AuthError::Unauthenticated {
                reason: MALFORMED_TOKEN
            })
        );
        Ok(())
    }
}
