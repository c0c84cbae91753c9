//! [`quote_for_message`]: the one way an error message quotes a value it refuses, so that
//! no message carries an unbounded input (a 1 MiB id is quoted as its first 64 characters).

/// Most characters of an offending value an error message quotes.
pub const MAX_QUOTED_CHARS: usize = 64;

/// `value` shortened for an error message: its first [`MAX_QUOTED_CHARS`] characters, with
/// `…` appended when it was longer. Callers quote the result with `{:?}`, which escapes
/// control and invisible characters, so the message stays one printable line.
pub fn quote_for_message(value: &str) -> String {
    match value.char_indices().nth(MAX_QUOTED_CHARS) {
        None => value.to_owned(),
        Some((cut, _)) => {
            let mut shortened = String::with_capacity(cut + '…'.len_utf8());
            shortened.push_str(&value[..cut]);
            shortened.push('…');
            shortened
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_quoted_whole_and_long_ones_shortened() {
        assert_eq!(quote_for_message(""), "");
        assert_eq!(quote_for_message(&"a".repeat(64)), "a".repeat(64));
        assert_eq!(quote_for_message(&"a".repeat(65)), format!("{}…", "a".repeat(64)));
        let cjk = quote_for_message(&"网".repeat(1_000_000));
        assert_eq!(cjk.chars().count(), MAX_QUOTED_CHARS + 1);
        assert!(cjk.ends_with('…'));
        // Quoted with {:?}, control and invisible characters are escaped.
        assert_eq!(
            format!("{:?}", quote_for_message("a\u{0}\u{202e}b")),
            "\"a\\0\\u{202e}b\""
        );
    }
}
