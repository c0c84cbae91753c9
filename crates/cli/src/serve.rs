//! `gridledger serve`: runs the gRPC service (and, with `--http`, the HTTP read API and the dashboard) until SIGINT or SIGTERM, then shuts down gracefully.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use gridledger_domain::Registry;
use gridledger_server::{CheckpointConfig, NatsConfig, NatsOutboxSettings, ServerConfig, start};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory of the event log (created if absent).
    #[arg(long, env = "GRIDLEDGER_DATA", default_value = "./gridledger-data")]
    data: PathBuf,
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, env = "GRIDLEDGER_LISTEN", default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// Also serve the HTTP read API (JSON, CSV) and the analysts' dashboard on this address,
    /// e.g. 127.0.0.1:8080 (port 0 picks a free one); same policy, `--auth` and TLS as gRPC.
    #[arg(long, env = "GRIDLEDGER_HTTP")]
    http: Option<SocketAddr>,
    /// Registry JSON file, or `builtin:runzhou` / `builtin:dantu`; without it, the built-in
    /// synthetic Runzhou registry.
    #[arg(long, env = "GRIDLEDGER_REGISTRY")]
    registry: Option<PathBuf>,
    #[command(flatten)]
    security: crate::auth::ServeSecurity,
    #[command(flatten)]
    nats: NatsArgs,
    #[command(flatten)]
    checkpoints: CheckpointArgs,
    /// Replicas of the district's JetStream stream: 1 for one nats-server, 3 on a cluster.
    #[arg(long, env = "GRIDLEDGER_NATS_REPLICAS", default_value_t = 1, requires = "nats", value_parser = clap::value_parser!(u8).range(1..=5))]
    nats_replicas: u8,
}

/// How the log's checkpoints are made and signed (docs/audit.md).
#[derive(Debug, Clone, Args)]
pub struct CheckpointArgs {
    /// Sign checkpoints with this key (written by `gridledger keygen`; mode 0600, refused if
    /// others may read it). Without it the server serves unsigned roots, and says so.
    #[arg(long, env = "GRIDLEDGER_SIGNING_KEY")]
    signing_key: Option<PathBuf>,
    /// The checkpoints' origin line; default `gridledger/<district>`.
    #[arg(long, env = "GRIDLEDGER_LOG_ORIGIN")]
    log_origin: Option<String>,
    /// At most one checkpoint per this interval when the head moves (e.g. 1s, 250ms)...
    #[arg(long, env = "GRIDLEDGER_CHECKPOINT_INTERVAL", value_parser = humantime::parse_duration, default_value = "1s")]
    checkpoint_interval: std::time::Duration,
    /// ...unless this many events were appended since the last one.
    #[arg(long, env = "GRIDLEDGER_CHECKPOINT_EVENTS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    checkpoint_events: u64,
}

impl CheckpointArgs {
    /// The server's checkpoint settings, the signing key read (and its file's mode checked).
    pub fn config(&self) -> anyhow::Result<CheckpointConfig> {
        Ok(CheckpointConfig {
            origin: self.log_origin.clone(),
            signer: self
                .signing_key
                .as_deref()
                .map(crate::keys::load_signing_key)
                .transpose()?,
            min_interval: self.checkpoint_interval,
            max_events: self.checkpoint_events,
        })
    }
}

/// Where NATS is (`--nats`) and how to sign in (`--nats-creds`).
#[derive(Debug, Clone, Args)]
pub struct NatsArgs {
    /// NATS server URL(s), comma separated: publish every committed event to the district's
    /// JetStream stream (docs/operations.md). Without it the node keeps its log to itself.
    #[arg(long, env = "GRIDLEDGER_NATS")]
    pub nats: Option<String>,
    /// NATS credentials file (`.creds`: JWT and NKey seed).
    #[arg(long, env = "GRIDLEDGER_NATS_CREDS", requires = "nats")]
    pub nats_creds: Option<PathBuf>,
}

impl NatsArgs {
    /// The NATS settings, if `--nats` was given.
    pub fn config(&self) -> Option<NatsConfig> {
        self.nats.as_ref().map(|url| NatsConfig {
            url: url.clone(),
            creds_file: self.nats_creds.clone(),
        })
    }
}

/// The registry in `path` (a JSON file, or `builtin:NAME`), or the built-in Runzhou one.
pub fn load_registry(path: Option<&Path>) -> anyhow::Result<Registry> {
    match path {
        None => Ok(Registry::builtin_runzhou()),
        Some(path) if path.to_string_lossy().starts_with("builtin:") => {
            let text = path.to_string_lossy();
            let name = text.trim_start_matches("builtin:");
            Registry::builtin(name).with_context(|| {
                format!(
                    "no built-in registry {name:?}: the built-in ones are {}",
                    Registry::BUILTIN_NAMES.join(", ")
                )
            })
        }
        Some(path) => {
            let json = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Registry::from_json_str(&json).with_context(|| format!("registry {}", path.display()))
        }
    }
}

/// Serves until SIGINT or SIGTERM. The server itself enforces the serving policy
/// (docs/security.md): loopback only without `--auth`, TLS too off loopback, unless
/// `--insecure`.
pub async fn run(arguments: ServeArgs) -> anyhow::Result<()> {
    let registry = load_registry(arguments.registry.as_deref())?;
    let checkpoints = arguments.checkpoints.config()?;
    let checkpoint_line = checkpoints.describe(&registry);
    let config = ServerConfig {
        data_dir: arguments.data.clone(),
        listen: arguments.listen,
        http: arguments.http,
        registry,
        auth: arguments.security.auth_config(),
        tls: arguments.security.tls_config()?,
        insecure_allow_non_loopback: arguments.security.insecure,
        nats: arguments.nats.config().map(|nats| NatsOutboxSettings {
            nats,
            replicas: usize::from(arguments.nats_replicas),
        }),
        checkpoints,
    };
    let policy = config.serving_policy();
    let https = config.tls.is_some();
    let server = start(config, shutdown_signal()).await?;
    println!(
        "gridledger listening on {} (data in {}); {policy}",
        server.local_addr,
        arguments.data.display()
    );
    if let Some(http_addr) = server.http_addr {
        println!("gridledger dashboard on {}", dashboard_url(http_addr, https));
    }
    println!("gridledger {checkpoint_line}");
    server.wait().await?;
    println!("gridledger stopped cleanly");
    Ok(())
}

/// The dashboard's URL on `address` (the API is under `/api/v1/`).
pub fn dashboard_url(address: SocketAddr, https: bool) -> String {
    format!("{}://{address}/", if https { "https" } else { "http" })
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
