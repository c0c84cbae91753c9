//! Shared support of the bus's integration tests: real nats-server processes.

#![allow(dead_code, unused_imports)]

pub mod blobs;
pub mod nats_server;

use std::time::Duration;

use gridledger_bus::OutboxStatus;
use tokio::sync::watch;

pub use nats_server::{NatsCluster, NatsServer};

/// The first outbox status that satisfies `condition`, waiting for changes up to `deadline`.
pub async fn wait_for_outbox_status(
    status: &mut watch::Receiver<OutboxStatus>,
    what: &str,
    deadline: Duration,
    condition: impl FnMut(&OutboxStatus) -> bool,
) -> anyhow::Result<OutboxStatus> {
    let outcome = match tokio::time::timeout(deadline, status.wait_for(condition)).await {
        Ok(Ok(found)) => Ok(found.clone()),
        Ok(Err(_)) => Err("the outbox ended"),
        Err(_) => Err("timed out"),
    };
    outcome.map_err(|problem| anyhow::anyhow!("waiting for {what}: {problem}; last status {:?}", *status.borrow()))
}
