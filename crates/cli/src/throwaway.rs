//! A throwaway server for `demo` and `bench`: the built-in registry, a log in a scratch
//! directory, listening on 127.0.0.1 on a free port, stopped (gracefully) when done.

use std::path::{Path, PathBuf};

use anyhow::Context;
use gridledger_domain::Registry;
use gridledger_server::{RunningServer, ServerConfig, start};

/// A running throwaway server; [`ThrowawayServer::shutdown`] stops it and closes its log.
#[derive(Debug)]
pub struct ThrowawayServer {
    /// `http://127.0.0.1:PORT`, for the typed client.
    pub url: String,
    /// The log's directory.
    pub data_dir: PathBuf,
    server: RunningServer,
    scratch: tempfile::TempDir,
}

impl ThrowawayServer {
    /// Starts a server on a fresh scratch directory (named `prefix…`) inside `parent`, or
    /// inside the system's temp dir.
    pub async fn start(prefix: &str, parent: Option<&Path>) -> anyhow::Result<Self> {
        Self::start_with_http(prefix, parent, None).await
    }

    /// [`ThrowawayServer::start`], also serving the HTTP API and the dashboard on `http`
    /// (a loopback address) when given.
    pub async fn start_with_http(
        prefix: &str,
        parent: Option<&Path>,
        http: Option<std::net::SocketAddr>,
    ) -> anyhow::Result<Self> {
        let scratch = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(parent.map_or_else(std::env::temp_dir, Path::to_path_buf))
            .context("creating a scratch directory for the throwaway server")?;
        let data_dir = scratch.path().join("data");
        let server = start(
            ServerConfig {
                data_dir: data_dir.clone(),
                listen: "127.0.0.1:0".parse()?,
                http,
                registry: Registry::builtin_runzhou(),
                auth: None,
                tls: None,
                insecure_allow_non_loopback: false,
                nats: None,
                checkpoints: gridledger_server::CheckpointConfig::default(),
            },
            std::future::pending(),
        )
        .await?;
        Ok(ThrowawayServer {
            url: format!("http://{}", server.local_addr),
            data_dir,
            server,
            scratch,
        })
    }

    /// The address of the HTTP endpoint, when started with one.
    pub fn http_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.http_addr
    }

    /// The scratch directory (the log is in `data/` inside it).
    pub fn scratch(&self) -> &Path {
        self.scratch.path()
    }

    /// Stops the server gracefully and closes its log; the scratch directory stays until
    /// the returned guard is dropped.
    pub async fn shutdown(self) -> anyhow::Result<tempfile::TempDir> {
        self.server.shutdown().await?;
        Ok(self.scratch)
    }
}
