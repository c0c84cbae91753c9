//! Access control from the command line (docs/security.md):
//!
//! - `gridledger auth add|list|revoke --file FILE`: the principals file of `serve --auth`.
//!   `add` makes a token (`glt_<id>_<secret>`, 32 random bytes of secret), prints it once
//!   and writes only the SHA-256 of its secret; the file is written whole and atomically,
//!   with mode 0600, and checked as the server will check it before it is written.
//! - The client credentials every client command takes: `--token`, `--ca-cert`,
//!   `--client-cert` and `--client-key` (and their `GRIDLEDGER_*` variables).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use gridledger_api::client::{BearerToken, ClientOptions, ClientTls};
use gridledger_domain::JurisdictionCode;
use gridledger_server::auth::{
    PrincipalEntry, PrincipalSet, PrincipalsFile, Role, SECRET_BYTES, hash_secret_hex, parse_token, token_for,
    validate_principal_id,
};
use gridledger_server::{AuthConfig, TlsConfig};
use rand::TryRngCore;
use serde_json::json;

/// `serve`'s access-control and TLS options.
#[derive(Debug, Args)]
pub struct ServeSecurity {
    /// Principals file (JSON, made with `gridledger auth add`): every call must then
    /// authenticate. Reloaded on SIGHUP and when it changes.
    #[arg(long, env = "GRIDLEDGER_AUTH")]
    auth: Option<PathBuf>,
    /// How often the principals file is checked for changes ("0" for SIGHUP only).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_interval)]
    auth_reload_interval: Interval,
    /// The server's certificate chain (PEM): serve TLS.
    #[arg(long, env = "GRIDLEDGER_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, env = "GRIDLEDGER_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// CA (PEM) whose client certificates are accepted (mutual TLS); a certificate's
    /// subject CN names the principal.
    #[arg(long, env = "GRIDLEDGER_TLS_CLIENT_CA", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Serve on a non-loopback address without authentication or without TLS.
    #[arg(long)]
    pub insecure: bool,
}

/// A reload interval; `None` for SIGHUP only.
#[derive(Debug, Clone, Copy)]
struct Interval(Option<Duration>);

fn parse_interval(text: &str) -> Result<Interval, String> {
    if text == "0" {
        return Ok(Interval(None));
    }
    let interval = humantime::parse_duration(text).map_err(|error| format!("{error} (e.g. 2s, 500ms, or 0)"))?;
    Ok(Interval((!interval.is_zero()).then_some(interval)))
}

impl ServeSecurity {
    /// The server's access control, with SIGHUP reloads.
    pub fn auth_config(&self) -> Option<AuthConfig> {
        self.auth.as_ref().map(|file| AuthConfig {
            reload_interval: self.auth_reload_interval.0,
            ..AuthConfig::new(file)
        })
    }

    /// The server's TLS material, read from the PEM files.
    pub fn tls_config(&self) -> anyhow::Result<Option<TlsConfig>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(certificate), Some(key)) => Ok(Some(TlsConfig::from_files(
                certificate,
                key,
                self.tls_client_ca.as_deref(),
            )?)),
            _ => Ok(None),
        }
    }
}

/// How a client command proves who it is, and checks the server (with `https://` URLs).
#[derive(Debug, Args)]
pub struct ClientCredentials {
    /// Bearer token from `gridledger auth add` (prefer the variable: arguments show in `ps`).
    #[arg(long, global = true, env = "GRIDLEDGER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// CA certificate (PEM) that signed the server's certificate; without it, an
    /// https:// server is checked against the system's roots.
    #[arg(long, global = true, env = "GRIDLEDGER_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS; its subject CN names the principal.
    #[arg(long, global = true, env = "GRIDLEDGER_CLIENT_CERT", requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, global = true, env = "GRIDLEDGER_CLIENT_KEY", requires = "client_cert")]
    client_key: Option<PathBuf>,
}

impl ClientCredentials {
    /// The typed client's options: these credentials, and `actor`.
    pub fn options(&self, actor: Option<String>) -> anyhow::Result<ClientOptions> {
        let read = |path: &Option<PathBuf>| -> anyhow::Result<Option<Vec<u8>>> {
            path.as_deref()
                .map(|path| std::fs::read(path).with_context(|| format!("reading {}", path.display())))
                .transpose()
        };
        Ok(ClientOptions {
            actor,
            token: self.token.as_deref().map(BearerToken::new),
            tls: ClientTls {
                ca_certificate_pem: read(&self.ca_cert)?,
                client_certificate_pem: read(&self.client_cert)?,
                client_key_pem: read(&self.client_key)?,
                domain_name: None,
            },
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Add a principal: print its new token (shown once) and write the SHA-256 of its
    /// secret to the file (created with mode 0600 if absent).
    Add {
        /// The principals file of `serve --auth`.
        #[arg(long)]
        file: PathBuf,
        /// The principal's id: A-Z, a-z, 0-9, '.' and '-' (also a client certificate's CN).
        #[arg(long)]
        id: String,
        /// grid_worker, community, committee, analyst, auditor or admin.
        #[arg(long)]
        role: Role,
        /// A jurisdiction the principal acts within (repeat for more).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Replace an existing principal of this id (a new token; the old one stops working
        /// at the server's next reload).
        #[arg(long)]
        replace: bool,
        /// Registry JSON file the scopes are checked against; without it, the built-in one.
        #[arg(long, env = "GRIDLEDGER_REGISTRY")]
        registry: Option<PathBuf>,
    },
    /// List the principals (never their tokens).
    List {
        #[arg(long)]
        file: PathBuf,
    },
    /// Remove a principal; a running server refuses its token from its next reload.
    Revoke {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        id: String,
        /// Registry JSON file the remaining principals are checked against.
        #[arg(long, env = "GRIDLEDGER_REGISTRY")]
        registry: Option<PathBuf>,
    },
}

pub fn run(json: bool, command: AuthCommand) -> anyhow::Result<()> {
    match command {
        AuthCommand::Add {
            file,
            id,
            role,
            scopes,
            replace,
            registry,
        } => add(json, &file, &id, role, scopes, replace, registry.as_deref()),
        AuthCommand::List { file } => list(json, &file),
        AuthCommand::Revoke { file, id, registry } => revoke(json, &file, &id, registry.as_deref()),
    }
}

fn add(
    json: bool,
    path: &Path,
    id: &str,
    role: Role,
    scopes: Vec<String>,
    replace: bool,
    registry: Option<&Path>,
) -> anyhow::Result<()> {
    validate_principal_id(id).map_err(|reason| anyhow::anyhow!("invalid --id {id:?}: {reason}"))?;
    let mut file = read_or_empty(path)?;
    let existing = file.principals.iter().position(|entry| entry.id == id);
    if existing.is_some() && !replace {
        anyhow::bail!(
            "principal {id:?} is already in {}: revoke it first, or give --replace for a new token",
            path.display()
        );
    }
    let mut secret = [0_u8; SECRET_BYTES];
    rand::rngs::OsRng
        .try_fill_bytes(&mut secret)
        .context("reading random bytes from the operating system")?;
    let token = token_for(id, &secret);
    let (_, encoded_secret) = parse_token(&token).context("a token made here parses")?;
    let entry = PrincipalEntry {
        id: id.to_owned(),
        role,
        scopes: scopes
            .iter()
            .map(|scope| JurisdictionCode::parse(scope).with_context(|| format!("invalid --scope {scope:?}")))
            .collect::<anyhow::Result<_>>()?,
        token_sha256: hash_secret_hex(encoded_secret),
        added_at: Some(humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()),
    };
    match existing {
        Some(index) => file.principals[index] = entry.clone(),
        None => file.principals.push(entry.clone()),
    }
    write(path, &file, registry)?;
    if json {
        println!(
            "{}",
            json!({"id": entry.id, "role": entry.role, "scopes": entry.scopes, "token": token})
        );
    } else {
        println!("{token}");
    }
    eprintln!(
        "{} principal {id} ({role}) in {}; the token above is shown once: keep it secret",
        if existing.is_some() { "replaced" } else { "added" },
        path.display()
    );
    Ok(())
}

fn list(json: bool, path: &Path) -> anyhow::Result<()> {
    let file = read(path)?;
    for entry in &file.principals {
        let scopes: Vec<&str> = entry.scopes.iter().map(|scope| scope.as_str()).collect();
        if json {
            println!(
                "{}",
                json!({"id": entry.id, "role": entry.role, "scopes": scopes, "added_at": entry.added_at})
            );
        } else {
            println!(
                "{:<24} {:<12} {:<40} {}",
                entry.id,
                entry.role.as_str(),
                scopes.join(","),
                entry.added_at.as_deref().unwrap_or("-")
            );
        }
    }
    Ok(())
}

fn revoke(json: bool, path: &Path, id: &str, registry: Option<&Path>) -> anyhow::Result<()> {
    let mut file = read(path)?;
    let before = file.principals.len();
    file.principals.retain(|entry| entry.id != id);
    if file.principals.len() == before {
        anyhow::bail!("no principal {id:?} in {}", path.display());
    }
    write(path, &file, registry)?;
    if json {
        println!("{}", json!({"revoked": id}));
    } else {
        println!(
            "revoked {id} in {}; a running server refuses its token from its next reload (when it sees the change, or on SIGHUP)",
            path.display()
        );
    }
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<PrincipalsFile> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    PrincipalsFile::from_json(&text).with_context(|| format!("principals file {}", path.display()))
}

fn read_or_empty(path: &Path) -> anyhow::Result<PrincipalsFile> {
    if path.exists() {
        read(path)
    } else {
        Ok(PrincipalsFile::default())
    }
}

/// Checks the file as the server will, then replaces it in one rename, with mode 0600.
fn write(path: &Path, file: &PrincipalsFile, registry: Option<&Path>) -> anyhow::Result<()> {
    let text = file.to_json_pretty();
    let registry = crate::serve::load_registry(registry)?;
    PrincipalSet::from_json(&text, &registry)
        .with_context(|| format!("refusing to write {}: the server would not load it", path.display()))?;
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // A named temporary file is created with mode 0600.
    let mut temporary = tempfile::Builder::new()
        .prefix(".gridledger-principals")
        .tempfile_in(directory)
        .with_context(|| format!("creating a temporary file in {}", directory.display()))?;
    temporary.write_all(text.as_bytes())?;
    temporary
        .as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    temporary.as_file().sync_all()?;
    temporary
        .persist(path)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}
