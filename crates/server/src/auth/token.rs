//! Tokens: `glt_<id>_<secret>`, the secret 32 random bytes in URL-safe base64 without
//! padding (43 characters). The server keeps only the SHA-256 of the secret as written in
//! the token (`printf %s SECRET | sha256sum`).

use base64::Engine;
use sha2::{Digest, Sha256};

/// What every token starts with.
pub const TOKEN_PREFIX: &str = "glt_";
/// Random bytes in a secret.
pub const SECRET_BYTES: usize = 32;
/// Characters of a secret in URL-safe base64 without padding.
pub const SECRET_CHARS: usize = 43;
/// Most characters in a principal id.
const MAX_ID_CHARS: usize = 64;

/// The token of principal `id` with the secret `secret`.
pub fn token_for(id: &str, secret: &[u8; SECRET_BYTES]) -> String {
    format!(
        "{TOKEN_PREFIX}{id}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    )
}

/// The SHA-256 of a secret, as written in the token.
pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// [`hash_secret`] in lowercase hex, as the principals file keeps it.
pub fn hash_secret_hex(secret: &str) -> String {
    hex::encode(hash_secret(secret))
}

/// A token split into the principal id and the secret, if it has the token's shape. The
/// id has no `_`, so the first `_` after the prefix ends it (the secret may contain `_`).
pub fn parse_token(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.strip_prefix(TOKEN_PREFIX)?.split_once('_')?;
    let well_formed = validate_principal_id(id).is_ok()
        && secret.len() == SECRET_CHARS
        && secret
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    well_formed.then_some((id, secret))
}

/// Checks a principal id: 1..=64 characters of `A-Z a-z 0-9 . -` (no `_`, which ends the id
/// in a token; the id also travels as a header value and a certificate's CN).
pub fn validate_principal_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if id.len() > MAX_ID_CHARS {
        return Err(format!(
            "is {} characters long; at most {MAX_ID_CHARS} are allowed",
            id.len()
        ));
    }
    if let Some(bad) = id
        .chars()
        .find(|character| !(character.is_ascii_alphanumeric() || matches!(character, '.' | '-')))
    {
        return Err(format!("contains {bad:?}; only A-Z, a-z, 0-9, '.' and '-' are allowed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_splits_into_its_id_and_secret() {
        let secret = [0xfb_u8; SECRET_BYTES];
        let token = token_for("worker-7", &secret);
        let (id, encoded) = parse_token(&token).expect("a token made here parses");
        assert_eq!(id, "worker-7");
        assert_eq!(encoded.len(), SECRET_CHARS);
        // 0xfb bytes encode to `-` and `_` in URL-safe base64: the split still holds.
        assert!(encoded.contains('_') && encoded.contains('-'), "{encoded}");
        assert_eq!(hash_secret_hex(encoded).len(), 64);
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        let secret = "a".repeat(SECRET_CHARS);
        for token in [
            String::new(),
            format!("glt_{secret}"),
            format!("gl_worker_{secret}"),
            format!("glt__{secret}"),
            format!("glt_worker_{}", "a".repeat(SECRET_CHARS - 1)),
            format!("glt_worker_{}=", "a".repeat(SECRET_CHARS - 1)),
            format!("glt_wörker_{secret}"),
        ] {
            assert_eq!(parse_token(&token), None, "{token}");
        }
    }

    #[test]
    fn ids_are_checked() {
        assert!(validate_principal_id("community-3.ops").is_ok());
        for id in ["", "under_score", "space d", &"x".repeat(65)] {
            assert!(validate_principal_id(id).is_err(), "{id:?}");
        }
    }
}
