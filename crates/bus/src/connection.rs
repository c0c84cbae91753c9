//! Connecting to NATS: the server URL and optional credentials file, and the JetStream
//! context every part of this crate works through.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::BusError;

/// Where NATS is and how to sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// One or more server URLs, comma separated (`nats://127.0.0.1:4222`).
    pub url: String,
    /// A `.creds` file (JWT and NKey seed), as `nsc` writes them; `None` for none.
    pub creds_file: Option<PathBuf>,
}

impl NatsConfig {
    /// A config for `url` without credentials.
    pub fn new(url: impl Into<String>) -> Self {
        NatsConfig {
            url: url.into(),
            creds_file: None,
        }
    }
}

/// A connection to NATS with its JetStream context. Cheap to clone.
#[derive(Debug, Clone)]
pub struct NatsConnection {
    pub(crate) client: async_nats::Client,
    pub(crate) jetstream: async_nats::jetstream::Context,
}

/// How long a JetStream API request (stream info, publish ack) may take.
pub(crate) const JETSTREAM_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl NatsConnection {
    /// Connects once (no retry on the first connection: callers decide; the client itself
    /// reconnects after it has been connected).
    pub async fn connect(config: &NatsConfig) -> Result<NatsConnection, BusError> {
        let mut options = async_nats::ConnectOptions::new()
            .name("gridledger")
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Some(JETSTREAM_REQUEST_TIMEOUT));
        if let Some(creds_file) = &config.creds_file {
            options = options
                .credentials_file(creds_file)
                .await
                .map_err(|source| BusError::Credentials {
                    path: creds_file.clone(),
                    source: Box::new(source),
                })?;
        }
        let servers: Vec<&str> = config
            .url
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .collect();
        if servers.is_empty() {
            return Err(BusError::Connect {
                url: config.url.clone(),
                source: "no NATS server URL given".into(),
            });
        }
        let client = options.connect(servers).await.map_err(|source| BusError::Connect {
            url: config.url.clone(),
            source: Box::new(source),
        })?;
        let mut jetstream = async_nats::jetstream::new(client.clone());
        jetstream.set_timeout(JETSTREAM_REQUEST_TIMEOUT);
        Ok(NatsConnection { client, jetstream })
    }

    /// Whether the client is connected right now.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}
