//! Checkpoints of the log as C2SP signed notes (`tlog-checkpoint` over `signed-note`), the
//! Ed25519 keys that sign them, and their text formats, byte by byte (docs/audit.md).
//!
//! A checkpoint's body is four lines, each ending in a newline (U+000A):
//!
//! ```text
//! gridledger/runzhou                                    origin (`serve --log-origin`)
//! 17                                                    tree size: positions 1..=17
//! Jt1K4wI0H4tYFQ0x2S0V5mA9KQk5m3yQ2m+fH4lJXhY=          base64 of the RFC 6962 root
//! chain-head 36f6865505de1fe2...c0d04                   the chain hash of position 17, hex
//! ```
//!
//! A signed note is the body, a blank line, and one signature line per signer:
//! `— <key name> <base64(key id (4 bytes) || Ed25519 signature (64 bytes))>` (an em dash,
//! U+2014, then a space). The signature is over the body's bytes, final newline included. The
//! key id is the first four bytes of `SHA-256(key name || 0x0A || 0x01 || public key)`.
//!
//! Keys travel as text, in the formats of the Go `note` package: a verifier key is
//! `<name>+<key id, 8 hex digits>+<base64(0x01 || 32-byte public key)>`, and a signer key (the
//! file `gridledger keygen` writes) is `PRIVATE+KEY+<name>+<key id>+<base64(0x01 || 32-byte
//! seed)>`.
//!
//! Everything here is pure: no I/O, no clock. The server signs with [`SignerKey::sign_note`];
//! every client (the CLI's `audit checkpoint`, `prove` and `watch`) opens a note with
//! [`parse_and_verify_note`]; [`crate::proofs`] checks Merkle proofs against what it returns.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use gridledger_eventlog::ChainHash;
use gridledger_eventlog::merkle::MerkleHash;
use sha2::{Digest, Sha256};

/// The signature type byte of Ed25519 in signed notes (and in the key formats).
pub const ED25519_SIGNATURE_TYPE: u8 = 0x01;
/// What starts every signature line: an em dash (U+2014) and a space.
pub const SIGNATURE_LINE_PREFIX: &str = "\u{2014} ";
/// The extension line's keyword: `chain-head <64 hex digits>`.
pub const CHAIN_HEAD_EXTENSION: &str = "chain-head";
/// The largest note accepted (a checkpoint with one signature is under 250 bytes).
pub const MAX_NOTE_BYTES: usize = 64 * 1024;
/// The most signature lines a note may carry (the Go `note` package's limit).
pub const MAX_SIGNATURES: usize = 100;
/// What a signer key's text starts with.
const SIGNER_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Why a note, a checkpoint or a key was refused. Every variant says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note is not UTF-8.
    #[error("the note is not UTF-8")]
    NotUtf8,
    /// The note is larger than [`MAX_NOTE_BYTES`].
    #[error("the note has {bytes} bytes, more than the {MAX_NOTE_BYTES} accepted")]
    TooLarge { bytes: usize },
    /// The note breaks the signed-note format.
    #[error("malformed note: {reason}")]
    Malformed { reason: String },
    /// The note is a text without signatures: the server signs nothing (no `--signing-key`).
    #[error("the checkpoint is not signed (the server runs without --signing-key)")]
    Unsigned,
    /// The note is signed, but not by the key given.
    #[error("the note carries no signature by key {name}+{key_id}")]
    NoSignatureByKey { name: String, key_id: String },
    /// A signature line by the key given does not verify: the note was altered, or signed by
    /// another key with the same name and key id.
    #[error("the signature by key {name}+{key_id} does not verify")]
    BadSignature { name: String, key_id: String },
    /// The note's text is not a checkpoint body.
    #[error("malformed checkpoint, line {line}: {reason}")]
    Body { line: usize, reason: String },
    /// A key's text does not parse.
    #[error("invalid key: {reason}")]
    Key { reason: String },
    /// An origin or a key name breaks the naming rules.
    #[error("invalid {what} {name:?}: {reason}")]
    Name {
        what: &'static str,
        name: String,
        reason: &'static str,
    },
}

fn malformed(reason: impl Into<String>) -> NoteError {
    NoteError::Malformed { reason: reason.into() }
}

fn key_error(reason: impl Into<String>) -> NoteError {
    NoteError::Key { reason: reason.into() }
}

/// Checks a key name or an origin: non-empty, no Unicode white space, no `+`, no control
/// characters (the signed-note rules for key names, which the tlog-checkpoint spec
/// recommends for origins too, and which this log requires of both).
pub fn check_name(what: &'static str, name: &str) -> Result<(), NoteError> {
    let refuse = |reason| {
        Err(NoteError::Name {
            what,
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return refuse("it is empty");
    }
    if name.chars().any(char::is_whitespace) {
        return refuse("it contains white space");
    }
    if name.contains('+') {
        return refuse("it contains '+'");
    }
    if name.chars().any(char::is_control) {
        return refuse("it contains a control character");
    }
    Ok(())
}

/// The signed-note key id of an Ed25519 key: the first four bytes of
/// `SHA-256(name || 0x0A || 0x01 || public key)`.
pub fn key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', ED25519_SIGNATURE_TYPE]);
    hasher.update(public_key);
    let digest = hasher.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// One checkpoint: the tree head of the log's first `tree_size` events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Which log: `gridledger/<district>` unless `serve --log-origin` says otherwise.
    pub origin: String,
    /// Leaves in the tree: positions `1..=tree_size`.
    pub tree_size: u64,
    /// The RFC 6962 Merkle tree hash of those leaves.
    pub root_hash: MerkleHash,
    /// The log's chain hash at position `tree_size` (32 zero bytes for the empty log).
    pub chain_head: ChainHash,
}

impl Checkpoint {
    /// The note body: origin, tree size, base64 root hash and the `chain-head` line, each
    /// ending in a newline. The origin must pass [`check_name`] (the server checks it once,
    /// at start).
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n{CHAIN_HEAD_EXTENSION} {}\n",
            self.origin,
            self.tree_size,
            BASE64.encode(self.root_hash),
            hex(&self.chain_head)
        )
    }

    /// Reads a body as [`Checkpoint::body`] writes it, and nothing else: exactly four lines,
    /// a canonical decimal size, a canonical base64 root of 32 bytes, and the chain head
    /// in lower-case hex.
    pub fn parse_body(body: &str) -> Result<Checkpoint, NoteError> {
        let line_error = |line: usize, reason: String| NoteError::Body { line, reason };
        let Some(text) = body.strip_suffix('\n') else {
            return Err(line_error(1, "the body does not end with a newline".to_owned()));
        };
        let lines: Vec<&str> = text.split('\n').collect();
        if lines.len() != 4 {
            return Err(line_error(
                lines.len().min(5),
                format!(
                    "a checkpoint has 4 lines (origin, size, root hash, chain-head), this one {}",
                    lines.len()
                ),
            ));
        }
        let origin = lines[0];
        check_name("origin", origin).map_err(|error| line_error(1, error.to_string()))?;
        let size_text = lines[1];
        let canonical = !size_text.is_empty()
            && size_text.bytes().all(|byte| byte.is_ascii_digit())
            && (size_text == "0" || !size_text.starts_with('0'));
        let tree_size = size_text.parse::<u64>().ok().filter(|_| canonical).ok_or_else(|| {
            line_error(
                2,
                format!("{size_text:?} is not a tree size (decimal, no leading zeros)"),
            )
        })?;
        let root_hash = decode_hash_base64(lines[2]).map_err(|reason| line_error(3, reason))?;
        let chain_head = lines[3]
            .strip_prefix(CHAIN_HEAD_EXTENSION)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|hex_text| decode_hash_hex(hex_text).ok())
            .ok_or_else(|| {
                line_error(
                    4,
                    format!(
                        "{:?} is not `{CHAIN_HEAD_EXTENSION} <64 lower-case hex digits>`",
                        lines[3]
                    ),
                )
            })?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            tree_size,
            root_hash,
            chain_head,
        })
    }
}

impl fmt::Display for Checkpoint {
    /// `gridledger/runzhou at size 17, root <base64>`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} at size {}, root {}",
            self.origin,
            self.tree_size,
            BASE64.encode(self.root_hash)
        )
    }
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A 32-byte hash from canonical standard base64 (padding included).
pub fn decode_hash_base64(text: &str) -> Result<MerkleHash, String> {
    let bytes = BASE64
        .decode(text)
        .map_err(|error| format!("{text:?} is not base64: {error}"))?;
    let hash = MerkleHash::try_from(bytes.as_slice())
        .map_err(|_| format!("{text:?} decodes to {} bytes, a hash has 32", bytes.len()))?;
    if BASE64.encode(hash) != text {
        return Err(format!("{text:?} is not canonical base64"));
    }
    Ok(hash)
}

/// A 32-byte hash from 64 lower-case hex digits.
fn decode_hash_hex(text: &str) -> Result<ChainHash, String> {
    if text.len() != 64 || !text.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(format!("{text:?} is not 64 lower-case hex digits"));
    }
    let mut hash = [0u8; 32];
    for (index, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[index * 2..index * 2 + 2], 16).map_err(|error| error.to_string())?;
    }
    Ok(hash)
}

/// The part of a key's text after its name: `<key id hex>+<base64(0x01 || 32 bytes)>`.
fn parse_key_material(name: &str, rest: &str) -> Result<([u8; 4], [u8; 32]), NoteError> {
    check_name("key name", name)?;
    let (id_text, material) = rest
        .split_once('+')
        .ok_or_else(|| key_error("expected <name>+<key id>+<base64 key>"))?;
    if id_text.len() != 8 || !id_text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(key_error(format!("the key id {id_text:?} is not 8 hex digits")));
    }
    let id = u32::from_str_radix(id_text, 16)
        .map_err(|error| key_error(error.to_string()))?
        .to_be_bytes();
    let bytes = BASE64
        .decode(material)
        .map_err(|error| key_error(format!("the key is not base64: {error}")))?;
    match bytes.split_first() {
        Some((&ED25519_SIGNATURE_TYPE, key)) if key.len() == 32 => {
            let mut out = [0u8; 32];
            out.copy_from_slice(key);
            Ok((id, out))
        }
        Some((&ED25519_SIGNATURE_TYPE, key)) => Err(key_error(format!(
            "an Ed25519 key has 32 bytes, this one {}",
            key.len()
        ))),
        Some((kind, _)) => Err(key_error(format!("signature type 0x{kind:02x} is not Ed25519 (0x01)"))),
        None => Err(key_error("the key is empty")),
    }
}

/// The public half: what a verifier is configured with (`audit ... --vkey`).
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl VerifierKey {
    /// Reads `<name>+<key id>+<base64(0x01 || public key)>`, checking that the key id is the
    /// one the name and the key give.
    pub fn parse(text: &str) -> Result<VerifierKey, NoteError> {
        let text = text.trim();
        let (name, rest) = text
            .split_once('+')
            .ok_or_else(|| key_error("expected <name>+<key id>+<base64 key>"))?;
        let (id, public) = parse_key_material(name, rest)?;
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|error| key_error(format!("not an Ed25519 public key: {error}")))?;
        if key_id(name, &public) != id {
            return Err(key_error(format!(
                "the key id {} does not match the name and the key (expected {})",
                hex(&id),
                hex(&key_id(name, &public))
            )));
        }
        Ok(VerifierKey {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// The key's name (the name on its signature lines).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id, as 8 hex digits.
    pub fn key_id_hex(&self) -> String {
        hex(&self.id)
    }
}

impl fmt::Display for VerifierKey {
    /// The text [`VerifierKey::parse`] reads.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut material = vec![ED25519_SIGNATURE_TYPE];
        material.extend_from_slice(self.key.as_bytes());
        write!(formatter, "{}+{}+{}", self.name, hex(&self.id), BASE64.encode(material))
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "VerifierKey({self})")
    }
}

impl FromStr for VerifierKey {
    type Err = NoteError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        VerifierKey::parse(text)
    }
}

/// The private half: what a server signs checkpoints with. Its `Debug` does not show it.
#[derive(Clone)]
pub struct SignerKey {
    name: String,
    key: SigningKey,
}

impl SignerKey {
    /// The key of `seed` (32 random bytes), named `name`.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<SignerKey, NoteError> {
        check_name("key name", name)?;
        Ok(SignerKey {
            name: name.to_owned(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Reads `PRIVATE+KEY+<name>+<key id>+<base64(0x01 || seed)>` (surrounding white space
    /// ignored), checking that the key id is the one the name and the key give.
    pub fn parse(text: &str) -> Result<SignerKey, NoteError> {
        let text = text.trim();
        let rest = text
            .strip_prefix(SIGNER_KEY_PREFIX)
            .ok_or_else(|| key_error("a signer key starts with PRIVATE+KEY+"))?;
        let (name, rest) = rest
            .split_once('+')
            .ok_or_else(|| key_error("expected PRIVATE+KEY+<name>+<key id>+<base64 key>"))?;
        let (id, seed) = parse_key_material(name, rest)?;
        let signer = SignerKey::from_seed(name, seed)?;
        if signer.key_id() != id {
            return Err(key_error(format!(
                "the key id {} does not match the name and the key (expected {})",
                hex(&id),
                hex(&signer.key_id())
            )));
        }
        Ok(signer)
    }

    /// The text [`SignerKey::parse`] reads (secret: write it to a file only its owner reads).
    pub fn to_secret_text(&self) -> String {
        let mut material = vec![ED25519_SIGNATURE_TYPE];
        material.extend_from_slice(self.key.as_bytes());
        format!(
            "{SIGNER_KEY_PREFIX}{}+{}+{}",
            self.name,
            hex(&self.key_id()),
            BASE64.encode(material)
        )
    }

    /// The key's name, written on its signature lines.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signed-note key id.
    pub fn key_id(&self) -> [u8; 4] {
        key_id(&self.name, self.key.verifying_key().as_bytes())
    }

    /// The verifier key to give to whoever checks this key's notes.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            id: self.key_id(),
            key: self.key.verifying_key(),
        }
    }

    /// The signed note of `body`: the body, a blank line and this key's signature line. The
    /// body must end with a newline and hold no blank line and no control character but
    /// newlines (so that the note opens again as the same body).
    pub fn sign_note(&self, body: &str) -> Result<String, NoteError> {
        if !body.ends_with('\n') {
            return Err(malformed("the text to sign does not end with a newline"));
        }
        if body.contains("\n\n") || body.starts_with('\n') {
            return Err(malformed("the text to sign holds a blank line"));
        }
        if body
            .chars()
            .any(|character| character.is_control() && character != '\n')
        {
            return Err(malformed("the text to sign holds a control character"));
        }
        let signature: Signature = self.key.sign(body.as_bytes());
        let mut signed = Vec::with_capacity(68);
        signed.extend_from_slice(&self.key_id());
        signed.extend_from_slice(&signature.to_bytes());
        Ok(format!(
            "{body}\n{SIGNATURE_LINE_PREFIX}{} {}\n",
            self.name,
            BASE64.encode(signed)
        ))
    }
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "SignerKey({}, <secret>)", self.verifier())
    }
}

/// `key.sign_note(body)`: the signed note of `body` (see [`SignerKey::sign_note`]).
pub fn sign_note(body: &str, key: &SignerKey) -> Result<String, NoteError> {
    key.sign_note(body)
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLine {
    pub key_name: String,
    pub key_id: [u8; 4],
    /// What follows the key id: the signature proper.
    pub signature: Vec<u8>,
}

/// A note split into its text and its signature lines, checked for form only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitNote<'a> {
    /// The text, final newline included: what the signatures sign.
    pub body: &'a str,
    /// Empty for a text without signatures (an unsigned checkpoint).
    pub signatures: Vec<SignatureLine>,
}

/// The note in `bytes` as text: UTF-8, at most [`MAX_NOTE_BYTES`], no control character
/// other than newline.
pub fn note_text(bytes: &[u8]) -> Result<&str, NoteError> {
    if bytes.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge { bytes: bytes.len() });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| NoteError::NotUtf8)?;
    if text
        .chars()
        .any(|character| character.is_control() && character != '\n')
    {
        return Err(malformed("it holds a control character other than newline"));
    }
    Ok(text)
}

/// Splits a note at its last blank line into the text and the signature lines, checking
/// their form (not the signatures). A text with no blank line is an unsigned note: its
/// `signatures` are empty.
pub fn split_note(note: &str) -> Result<SplitNote<'_>, NoteError> {
    if !note.ends_with('\n') {
        return Err(malformed("it does not end with a newline"));
    }
    let Some(blank) = note.rfind("\n\n") else {
        return Ok(SplitNote {
            body: note,
            signatures: Vec::new(),
        });
    };
    let body = &note[..=blank];
    let block = &note[blank + 2..];
    if block.is_empty() {
        return Err(malformed("a blank line follows the text, but no signature line"));
    }
    let mut signatures = Vec::new();
    for line in block.strip_suffix('\n').unwrap_or(block).split('\n') {
        if signatures.len() == MAX_SIGNATURES {
            return Err(malformed(format!("more than {MAX_SIGNATURES} signature lines")));
        }
        let rest = line.strip_prefix(SIGNATURE_LINE_PREFIX).ok_or_else(|| {
            malformed(format!(
                "the signature line {line:?} does not start with an em dash and a space"
            ))
        })?;
        let (key_name, encoded) = rest
            .split_once(' ')
            .ok_or_else(|| malformed(format!("the signature line {line:?} is not `— <name> <base64>`")))?;
        check_name("key name", key_name)?;
        let bytes = BASE64
            .decode(encoded)
            .map_err(|error| malformed(format!("the signature of {key_name} is not base64: {error}")))?;
        if bytes.len() < 5 {
            return Err(malformed(format!(
                "the signature of {key_name} has {} bytes: a key id and a signature need more",
                bytes.len()
            )));
        }
        signatures.push(SignatureLine {
            key_name: key_name.to_owned(),
            key_id: [bytes[0], bytes[1], bytes[2], bytes[3]],
            signature: bytes[4..].to_vec(),
        });
    }
    Ok(SplitNote { body, signatures })
}

/// Opens a signed note with `key`: the text, once a signature line by `key` (its name and
/// key id) verifies. Lines by other keys are ignored, as the signed-note spec requires; a
/// line by `key` that does not verify rejects the whole note.
pub fn open_note<'a>(note: &'a str, key: &VerifierKey) -> Result<&'a str, NoteError> {
    let split = split_note(note)?;
    if split.signatures.is_empty() {
        return Err(NoteError::Unsigned);
    }
    let mut verified = false;
    for line in &split.signatures {
        if line.key_name != key.name || line.key_id != key.id {
            continue;
        }
        let good = Signature::from_slice(&line.signature)
            .is_ok_and(|signature| key.key.verify_strict(split.body.as_bytes(), &signature).is_ok());
        if !good {
            return Err(NoteError::BadSignature {
                name: key.name.clone(),
                key_id: hex(&key.id),
            });
        }
        verified = true;
    }
    if !verified {
        return Err(NoteError::NoSignatureByKey {
            name: key.name.clone(),
            key_id: hex(&key.id),
        });
    }
    Ok(split.body)
}

/// The checkpoint in `note`, once its signature by `key` verifies ([`open_note`]) and its
/// text reads as a checkpoint ([`Checkpoint::parse_body`]).
pub fn parse_and_verify_note(note: &[u8], key: &VerifierKey) -> Result<Checkpoint, NoteError> {
    let body = open_note(note_text(note)?, key)?;
    Checkpoint::parse_body(body)
}

/// The checkpoint in `note` without checking any signature, and the signature lines it
/// carries: for showing a checkpoint when no verifier key is at hand. Never trust it.
pub fn parse_unverified(note: &[u8]) -> Result<(Checkpoint, Vec<SignatureLine>), NoteError> {
    let split = split_note(note_text(note)?)?;
    Ok((Checkpoint::parse_body(split.body)?, split.signatures))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(name: &str, seed_byte: u8) -> SignerKey {
        SignerKey::from_seed(name, [seed_byte; 32]).expect("a valid name")
    }

    fn checkpoint(size: u64) -> Checkpoint {
        Checkpoint {
            origin: "gridledger/runzhou".to_owned(),
            tree_size: size,
            root_hash: [7; 32],
            chain_head: [0xab; 32],
        }
    }

    #[test]
    fn a_signed_checkpoint_opens_with_its_key_only() {
        let key = signer("gridledger/runzhou", 1);
        let note = key.sign_note(&checkpoint(17).body()).expect("signs");
        assert_eq!(
            note.lines().collect::<Vec<_>>()[..5],
            [
                "gridledger/runzhou",
                "17",
                "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
                "chain-head abababababababababababababababababababababababababababababababab",
                ""
            ]
        );
        assert!(
            note.lines()
                .nth(5)
                .is_some_and(|line| line.starts_with("— gridledger/runzhou "))
        );
        assert_eq!(
            parse_and_verify_note(note.as_bytes(), &key.verifier()),
            Ok(checkpoint(17))
        );
        // Another key of the same name: its key id differs, so the note has no line by it.
        let other = signer("gridledger/runzhou", 2);
        assert!(matches!(
            parse_and_verify_note(note.as_bytes(), &other.verifier()),
            Err(NoteError::NoSignatureByKey { .. })
        ));
        // The text alone is an unsigned checkpoint.
        assert_eq!(
            parse_and_verify_note(checkpoint(17).body().as_bytes(), &key.verifier()),
            Err(NoteError::Unsigned)
        );
        // A second signature by an unknown key is ignored.
        let cosigned = format!(
            "{note}{}",
            other
                .sign_note(&checkpoint(17).body())
                .expect("signs")
                .lines()
                .last()
                .unwrap_or_default()
        );
        assert_eq!(
            parse_and_verify_note(format!("{cosigned}\n").as_bytes(), &key.verifier()),
            Ok(checkpoint(17))
        );
    }

    #[test]
    fn every_changed_byte_of_a_signed_note_is_refused() {
        let key = signer("gridledger/runzhou", 3);
        let note = key.sign_note(&checkpoint(5).body()).expect("signs").into_bytes();
        for index in 0..note.len() {
            for flip in [0x01u8, 0x20, 0x80] {
                let mut spoiled = note.clone();
                spoiled[index] ^= flip;
                let opened = parse_and_verify_note(&spoiled, &key.verifier());
                // Flipping a base64 character's low bit can leave the same bytes only in
                // the padding; every other change is refused.
                assert!(opened.is_err(), "byte {index} ^ {flip:#x} accepted: {opened:?}");
            }
        }
    }

    #[test]
    fn keys_round_trip_and_their_ids_are_checked() {
        let key = signer("gridledger/runzhou", 4);
        let text = key.to_secret_text();
        assert!(text.starts_with("PRIVATE+KEY+gridledger/runzhou+"), "{text}");
        let again = SignerKey::parse(&format!("{text}\n")).expect("parses");
        assert_eq!(again.verifier(), key.verifier());
        let verifier = key.verifier().to_string();
        assert_eq!(VerifierKey::parse(&verifier), Ok(key.verifier()));
        // A key id that does not match.
        let (name, rest) = verifier.split_once('+').unwrap_or_default();
        let (_, material) = rest.split_once('+').unwrap_or_default();
        assert!(matches!(
            VerifierKey::parse(&format!("{name}+00000000+{material}")),
            Err(NoteError::Key { .. })
        ));
        for bad in ["", "name", "name+1234", "na me+00000000+AQ==", "x+zzzzzzzz+AQ=="] {
            assert!(VerifierKey::parse(bad).is_err(), "{bad}");
        }
        assert!(SignerKey::parse(&verifier).is_err());
    }

    /// The key id and signature of a known key, from the Go `note` package's documented
    /// example (`PeterNeumann`).
    #[test]
    fn the_go_note_example_verifies() {
        let vkey = VerifierKey::parse("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
            .expect("the example key parses");
        let note = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n\
                    \n\
                    — PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        let text =
            "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
        assert_eq!(open_note(note, &vkey), Ok(text));
        // Ed25519 is deterministic: the example's signer key signs the same note.
        let skey = SignerKey::parse("PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
            .expect("the example signer key parses");
        assert_eq!(skey.verifier(), vkey);
        assert_eq!(skey.sign_note(text).as_deref(), Ok(note));
    }

    #[test]
    fn bodies_are_read_strictly() {
        let good = checkpoint(9).body();
        assert_eq!(Checkpoint::parse_body(&good), Ok(checkpoint(9)));
        let cases = [
            good.replace("\n9\n", "\n09\n"),
            good.replace("\n9\n", "\n-9\n"),
            good.replace("\n9\n", "\n\n"),
            good.replace("chain-head ", "chain-head  "),
            good.replace("chain-head ab", "chain-head AB"),
            good.replace("gridledger/runzhou", "grid ledger"),
            good.replace("gridledger/runzhou", "a+b"),
            good.trim_end().to_owned(),
            format!("{good}extra\n"),
            good.replace(
                "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
                "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwd=",
            ),
        ];
        for body in cases {
            assert!(Checkpoint::parse_body(&body).is_err(), "{body:?}");
        }
    }
}
