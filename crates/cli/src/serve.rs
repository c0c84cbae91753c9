//! `gridledger serve`: runs the gRPC service until SIGINT or SIGTERM, then shuts down gracefully.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use gridledger_domain::Registry;
use gridledger_server::{ServerConfig, start};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory of the event log (created if absent).
    #[arg(long, env = "GRIDLEDGER_DATA", default_value = "./gridledger-data")]
    data: PathBuf,
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, env = "GRIDLEDGER_LISTEN", default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// Registry JSON file; without it, the built-in synthetic Runzhou registry.
    #[arg(long, env = "GRIDLEDGER_REGISTRY")]
    registry: Option<PathBuf>,
}

/// The registry in `path`, or the built-in one.
pub fn load_registry(path: Option<&Path>) -> anyhow::Result<Registry> {
    match path {
        None => Ok(Registry::builtin_runzhou()),
        Some(path) => {
            let json = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Registry::from_json_str(&json).with_context(|| format!("registry {}", path.display()))
        }
    }
}

/// Serves until SIGINT or SIGTERM. The server itself refuses addresses other than
/// loopback (there is no authentication yet).
pub async fn run(arguments: ServeArgs) -> anyhow::Result<()> {
    let registry = load_registry(arguments.registry.as_deref())?;
    let server = start(
        ServerConfig {
            data_dir: arguments.data.clone(),
            listen: arguments.listen,
            registry,
        },
        shutdown_signal(),
    )
    .await?;
    println!(
        "gridledger listening on {} (data in {}); loopback only, no authentication",
        server.local_addr,
        arguments.data.display()
    );
    server.wait().await?;
    println!("gridledger stopped cleanly");
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
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
