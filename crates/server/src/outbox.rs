//! Health follows the outbox: `gridledger.v1.Outbox` is SERVING while the outbox publishes
//! (caught up or catching up) and NOT_SERVING while it cannot (NATS down, the stream
//! refused); the reason and the lag are in NodeService and in the log. The checkpoint
//! outbox likewise, as `gridledger.v1.CheckpointOutbox`.

use gridledger_bus::{CheckpointOutboxStatus, OutboxStatus};
use tokio::sync::watch;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// The health name of the outbox.
pub(crate) const OUTBOX_SERVICE_NAME: &str = "gridledger.v1.Outbox";
/// The health name of the checkpoint outbox.
pub(crate) const CHECKPOINT_OUTBOX_SERVICE_NAME: &str = "gridledger.v1.CheckpointOutbox";

/// Mirrors the outbox's status into `health` until shutdown begins or the outbox stops.
pub(crate) async fn report_outbox_health(
    status: watch::Receiver<OutboxStatus>,
    health: HealthReporter,
    shutdown_begun: watch::Receiver<bool>,
) {
    report_health(
        status,
        OUTBOX_SERVICE_NAME,
        OutboxStatus::is_healthy,
        health,
        shutdown_begun,
    )
    .await;
}

/// Mirrors the checkpoint outbox's status into `health`, the same way.
pub(crate) async fn report_checkpoint_outbox_health(
    status: watch::Receiver<CheckpointOutboxStatus>,
    health: HealthReporter,
    shutdown_begun: watch::Receiver<bool>,
) {
    report_health(
        status,
        CHECKPOINT_OUTBOX_SERVICE_NAME,
        CheckpointOutboxStatus::is_healthy,
        health,
        shutdown_begun,
    )
    .await;
}

async fn report_health<S>(
    mut status: watch::Receiver<S>,
    name: &str,
    is_healthy: fn(&S) -> bool,
    health: HealthReporter,
    shutdown_begun: watch::Receiver<bool>,
) {
    let mut reported: Option<bool> = None;
    loop {
        if *shutdown_begun.borrow() {
            return;
        }
        let healthy = is_healthy(&status.borrow_and_update());
        if reported != Some(healthy) {
            let serving = if healthy {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            if *shutdown_begun.borrow() {
                return;
            }
            health.set_service_status(name, serving).await;
            reported = Some(healthy);
        }
        if status.changed().await.is_err() {
            return;
        }
    }
}
