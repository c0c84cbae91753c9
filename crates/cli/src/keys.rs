//! `gridledger keygen`: the Ed25519 key a district node signs its checkpoints with (a file
//! only its owner may read) and the verifier key to give to auditors and witnesses; and
//! reading both back (`serve --signing-key`, `audit ... --vkey`). Formats: docs/audit.md.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use gridledger_api::checkpoint::{SignerKey, VerifierKey};
use rand::TryRngCore;
use serde_json::json;

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The key's name, written on every signature line; make it the log's origin
    /// (`gridledger/<district>` unless `serve --log-origin` says otherwise).
    #[arg(long)]
    name: String,
    /// Where to write the private key (created with mode 0600; an existing file is kept).
    #[arg(long)]
    out: PathBuf,
}

/// Writes a new signing key to `--out` and prints its verifier key.
pub fn keygen(json: bool, arguments: KeygenArgs) -> anyhow::Result<()> {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut seed)
        .context("reading random bytes from the operating system")?;
    let key = SignerKey::from_seed(&arguments.name, seed).context("--name")?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&arguments.out)
        .with_context(|| {
            format!(
                "creating {} (an existing key file is never overwritten)",
                arguments.out.display()
            )
        })?;
    writeln!(file, "{}", key.to_secret_text())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", arguments.out.display()))?;
    let verifier = key.verifier();
    if json {
        println!(
            "{}",
            json!({
                "name": verifier.name(),
                "key_id": verifier.key_id_hex(),
                "vkey": verifier.to_string(),
                "out": arguments.out.display().to_string(),
            })
        );
    } else {
        eprintln!(
            "wrote the signing key to {} (mode 0600: keep it secret; serve --signing-key {0}); the verifier key for auditors and witnesses (--vkey):",
            arguments.out.display()
        );
        println!("{verifier}");
    }
    Ok(())
}

/// The signing key in `path`, refused when anyone but its owner may read or write the file.
pub fn load_signing_key(path: &Path) -> anyhow::Result<SignerKey> {
    let metadata = std::fs::metadata(path).with_context(|| format!("--signing-key {}", path.display()))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        anyhow::bail!(
            "--signing-key {}: the file is open to others (mode {mode:04o}); make it its owner's alone: chmod 600 {0}",
            path.display()
        );
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading --signing-key {}", path.display()))?;
    SignerKey::parse(&text).with_context(|| format!("--signing-key {}", path.display()))
}

/// A `--vkey` value: `<name>+<key id>+<base64 key>`.
pub fn parse_vkey(text: &str) -> Result<VerifierKey, String> {
    VerifierKey::parse(text).map_err(|error| error.to_string())
}
