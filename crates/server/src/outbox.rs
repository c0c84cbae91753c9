//! Health follows the outbox: `gridledger.v1.Outbox` is SERVING while the outbox publishes
//! (caught up or catching up) and NOT_SERVING while it cannot (NATS down, the stream
//! refused); the reason and the lag are in NodeService and in the log.

use gridledger_bus::OutboxStatus;
use tokio::sync::watch;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// The health name of the outbox.
pub(crate) const OUTBOX_SERVICE_NAME: &str = "gridledger.v1.Outbox";

/// Mirrors the outbox's status into `health` until shutdown begins or the outbox stops.
pub(crate) async fn report_outbox_health(
    mut status: watch::Receiver<OutboxStatus>,
    health: HealthReporter,
    shutdown_begun: watch::Receiver<bool>,
) {
    let mut reported: Option<bool> = None;
    loop {
        if *shutdown_begun.borrow() {
            return;
        }
        let healthy = status.borrow_and_update().is_healthy();
        if reported != Some(healthy) {
            let serving = if healthy {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            if *shutdown_begun.borrow() {
                return;
            }
            health.set_service_status(OUTBOX_SERVICE_NAME, serving).await;
            reported = Some(healthy);
        }
        if status.changed().await.is_err() {
            return;
        }
    }
}
