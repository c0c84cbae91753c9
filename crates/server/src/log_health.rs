//! Health follows the log: while a storage fault keeps the event log from making appends
//! durable, the writing services and the server as a whole are NOT_SERVING (the reason is
//! logged by the log and named in every refused write); once the log recovers they are
//! SERVING again.

use gridledger_eventlog::LogHealth;
use tokio::sync::watch;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// The health names that depend on the log accepting appends.
const WRITING_SERVICES: [&str; 2] = ["", "gridledger.v1.IssueService"];

/// Mirrors `log_health` into `health` until shutdown begins or the log goes away.
pub(crate) async fn report_log_health(
    mut log_health: watch::Receiver<LogHealth>,
    health: HealthReporter,
    shutdown_begun: watch::Receiver<bool>,
) {
    loop {
        if *shutdown_begun.borrow() {
            return;
        }
        let status = match &*log_health.borrow_and_update() {
            LogHealth::Healthy => ServingStatus::Serving,
            LogHealth::Failing { .. } => ServingStatus::NotServing,
        };
        if *shutdown_begun.borrow() {
            return;
        }
        for service in WRITING_SERVICES {
            health.set_service_status(service, status).await;
        }
        if log_health.changed().await.is_err() {
            return;
        }
    }
}
