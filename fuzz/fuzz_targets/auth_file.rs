//! Arbitrary bytes as the principals file of `--auth` and as a bearer token. The server
//! reads the file's bytes and, when they are UTF-8, parses them with
//! `PrincipalSet::from_json` against its registry (the private `auth::reload::parse`
//! adds only the UTF-8 check); invalid UTF-8 is also tried lossily converted, to reach the
//! parser. The same text goes through `PrincipalsFile::from_json` (what `gridledger auth`
//! edits), `parse_token`, `validate_principal_id` and `authenticate_token`. Nothing
//! panics; a file that loads has every principal by id, and survives being written back
//! (`to_json_pretty`) and loaded again; a token that parses is `glt_<id>_<secret>`.

#![no_main]

use std::sync::OnceLock;

use gridledger_fuzz::{format_error, registry};
use gridledger_server::auth::{
    PrincipalSet, PrincipalsFile, SECRET_CHARS, TOKEN_PREFIX, hash_secret_hex, parse_token, validate_principal_id,
};
use libfuzzer_sys::fuzz_target;

/// The secret of [`principals`]' `worker-7`.
const SECRET: &str = "q0V3l1p2oFJ4aUt1fCq8s7yX1Kkz9b6eHhN3mRzT0cA";

/// A set of principals in force, to authenticate the input against as a token.
fn principals() -> &'static PrincipalSet {
    static SET: OnceLock<PrincipalSet> = OnceLock::new();
    SET.get_or_init(|| {
        let text = format!(
            r#"{{"principals": [{{"id": "worker-7", "role": "grid_worker", "scopes": ["runzhou.s1.c01.g01"], "token_sha256": "{}"}}]}}"#,
            hash_secret_hex(SECRET)
        );
        PrincipalSet::from_json(&text, registry()).expect("the fixture file loads")
    })
}

fn check_file(text: &str) {
    let file = PrincipalsFile::from_json(text);
    match PrincipalSet::from_json(text, registry()) {
        Ok(set) => {
            let file = file.expect("a file that loads has the file's shape");
            assert_eq!(set.len(), file.principals.len());
            for entry in &file.principals {
                let principal = set.by_id(&entry.id).expect("every principal of the file is in force");
                assert_eq!(principal.role, entry.role);
                assert_eq!(principal.scopes, entry.scopes);
                let _ = principal.to_string();
            }
            let written = file.to_json_pretty();
            let reread = PrincipalsFile::from_json(&written)
                .unwrap_or_else(|error| panic!("a file written back does not parse: {error}\n{written}"));
            assert_eq!(reread, file);
            let reloaded = PrincipalSet::from_json(&written, registry())
                .unwrap_or_else(|error| panic!("a file written back does not load: {error}\n{written}"));
            assert_eq!(reloaded.len(), set.len());
        }
        Err(error) => {
            let _ = format_error(&error);
        }
    }
}

fn check_token(text: &str) {
    if let Some((id, secret)) = parse_token(text) {
        assert!(validate_principal_id(id).is_ok());
        assert_eq!(secret.len(), SECRET_CHARS);
        assert_eq!(format!("{TOKEN_PREFIX}{id}_{secret}"), text);
    }
    let _ = validate_principal_id(text);
    match principals().authenticate_token(text) {
        Ok(principal) => {
            assert_eq!(principal.id, "worker-7");
            assert_eq!(text, format!("{TOKEN_PREFIX}worker-7_{SECRET}"));
        }
        Err(error) => {
            let _ = format_error(&error);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    match std::str::from_utf8(data) {
        Ok(text) => {
            check_file(text);
            check_token(text);
        }
        Err(_) => {
            let text = String::from_utf8_lossy(data);
            check_file(&text);
            check_token(&text);
        }
    }
});
