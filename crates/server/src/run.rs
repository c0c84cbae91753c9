//! Starting and stopping the server: the log, the read model, the gRPC services, health and reflection.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use gridledger_api::proto;
use gridledger_domain::Registry;
use gridledger_eventlog::{EventLog, EventLogConfig, EventLogError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::audit_service::AuditServiceImpl;
use crate::governance::{LiveGovernance, STATS_SERVICE_NAME};
use crate::issue_service::IssueServiceImpl;
use crate::issues::IssueStore;
use crate::stats_service::StatsServiceImpl;

/// Largest request the services accept; larger ones get RESOURCE_EXHAUSTED.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Largest request the transport decodes at all (tonic answers OUT_OF_RANGE beyond it);
/// between the two limits the services answer RESOURCE_EXHAUSTED naming the size.
const MAX_DECODED_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// What a server needs to start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Directory of the event log (sled); created if absent.
    pub data_dir: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Jurisdictions and categories that commands are checked against.
    pub registry: Registry,
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Serving beyond this machine needs authentication, which this version does not have.
    #[error("refusing to serve on {address} without authentication: this version serves on loopback addresses only")]
    NotLoopback { address: SocketAddr },
    #[error("cannot open the event log: {0}")]
    Log(#[from] EventLogError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("gRPC transport failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("cannot start the governance projection")]
    Projection(#[source] crate::error::ServiceError),
    #[error("the server task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A running server. Dropping it does not stop it; call [`RunningServer::shutdown`] or let
/// the shutdown signal given to [`start`] fire and [`RunningServer::wait`].
#[derive(Debug)]
pub struct RunningServer {
    /// The address actually bound (useful with port 0).
    pub local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl RunningServer {
    /// Stops accepting, lets in-flight RPCs finish, closes the log (flushing it), and waits.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await?
    }

    /// Waits until the server stops by its shutdown signal.
    pub async fn wait(self) -> Result<(), ServerError> {
        self.task.await?
    }
}

/// Opens the log in `config.data_dir`, binds `config.listen`, and serves until
/// `shutdown_signal` completes or [`RunningServer::shutdown`] is called.
///
/// The serving policy is enforced here, for every program that embeds the server: an
/// address other than loopback is refused (there is no authentication yet).
pub async fn start(
    config: ServerConfig,
    shutdown_signal: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningServer, ServerError> {
    if !config.listen.ip().is_loopback() {
        return Err(ServerError::NotLoopback { address: config.listen });
    }
    let log_config = EventLogConfig::new(&config.data_dir);
    let log = tokio::task::spawn_blocking(move || EventLog::open(log_config)).await??;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            address: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        address: config.listen,
        source,
    })?;

    let store = IssueStore {
        log: log.clone(),
        registry: Arc::new(config.registry),
    };
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    // Serving until the projection says otherwise (it reports its own failures).
    health_reporter
        .set_service_status(STATS_SERVICE_NAME, tonic_health::ServingStatus::Serving)
        .await;
    let (live_governance, governance_task) = LiveGovernance::start(log.clone(), health_reporter.clone())
        .await
        .map_err(ServerError::Projection)?;
    let issue_service = proto::issue_service_server::IssueServiceServer::new(IssueServiceImpl {
        store: store.clone(),
        governance: live_governance.clone(),
    })
    .max_decoding_message_size(MAX_DECODED_REQUEST_BYTES);
    let stats_service = proto::stats_service_server::StatsServiceServer::new(StatsServiceImpl {
        log: log.clone(),
        registry: store.registry.clone(),
        live: live_governance,
    })
    .max_decoding_message_size(MAX_DECODED_REQUEST_BYTES);
    let audit_service = proto::audit_service_server::AuditServiceServer::new(AuditServiceImpl { store })
        .max_decoding_message_size(MAX_DECODED_REQUEST_BYTES);

    health_reporter
        .set_serving::<proto::issue_service_server::IssueServiceServer<IssueServiceImpl>>()
        .await;
    health_reporter
        .set_serving::<proto::audit_service_server::AuditServiceServer<AuditServiceImpl>>()
        .await;
    // Reflection in both versions: grpcurl and other tools older than grpc.reflection.v1
    // still ask v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_service = reflection().build_v1()?;
    let reflection_service_v1alpha = reflection().build_v1alpha()?;

    let (stop, stopped) = oneshot::channel::<()>();
    let until_stopped = async move {
        tokio::select! {
            () = shutdown_signal => {}
            _ = stopped => {}
        }
        tracing::info!("shutting down: no new connections, finishing in-flight requests");
        for service in [
            "",
            "gridledger.v1.IssueService",
            "gridledger.v1.AuditService",
            STATS_SERVICE_NAME,
        ] {
            health_reporter
                .set_service_status(service, tonic_health::ServingStatus::NotServing)
                .await;
        }
    };
    let router = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection_service)
        .add_service(reflection_service_v1alpha)
        .add_service(issue_service)
        .add_service(audit_service)
        .add_service(stats_service);
    // No Nagle delay on small gRPC responses (tonic sets TCP_NODELAY only on addresses it
    // binds itself).
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let task = tokio::spawn(async move {
        let served = router.serve_with_incoming_shutdown(incoming, until_stopped).await;
        // In-flight appends have been answered; flush and stop the log's writer.
        let closed = tokio::task::spawn_blocking(move || log.close()).await;
        // With the log closed the projection drains, saves its checkpoint and stops.
        if governance_task.await.is_err() {
            tracing::error!("the governance projection task panicked");
        }
        served?;
        closed??;
        tracing::info!("event log closed; server stopped");
        Ok(())
    });
    tracing::info!(%local_addr, data_dir = %config.data_dir.display(), "gridledger serving gRPC");
    Ok(RunningServer {
        local_addr,
        stop: Some(stop),
        task,
    })
}
