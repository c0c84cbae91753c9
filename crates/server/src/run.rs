//! Starting and stopping the server: the log, the read model, the gRPC services, health and reflection.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use gridledger_api::proto;
use gridledger_domain::Registry;
use gridledger_eventlog::{EventLog, EventLogConfig, EventLogError};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::audit_service::AuditServiceImpl;
use gridledger_bus::{
    CheckpointOutboxConfig, NatsConfig, OutboxConfig, StreamSettings, start_checkpoint_outbox, start_outbox,
};

use crate::districts::{DistrictProjection, Districts};
use crate::governance::{LiveGovernance, STATS_SERVICE_NAME};
use crate::issue_service::IssueServiceImpl;
use crate::issues::IssueStore;
use crate::node_service::{NodeParts, NodeServiceImpl};
use crate::outbox::{
    CHECKPOINT_OUTBOX_SERVICE_NAME, OUTBOX_SERVICE_NAME, report_checkpoint_outbox_health, report_outbox_health,
};
use crate::stats_service::StatsServiceImpl;
use crate::transport::TransportLimits;

/// Largest command request the services accept, as received (unknown fields included);
/// larger ones get RESOURCE_EXHAUSTED. Enforced by the contract's codec in `api`.
pub const MAX_REQUEST_BYTES: usize = gridledger_api::MAX_COMMAND_REQUEST_BYTES;

/// Largest request the transport decodes at all (tonic answers OUT_OF_RANGE beyond it);
/// between the two limits the services answer RESOURCE_EXHAUSTED naming the size.
pub(crate) const MAX_DECODED_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// What a server needs to start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Directory of the event log (sled); created if absent.
    pub data_dir: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// `--http`: also serve the HTTP read API and the dashboard on this address (port 0
    /// picks a free port), under the same serving policy, authentication and TLS as gRPC
    /// (docs/api.md#11-http-api); `None` serves gRPC only.
    pub http: Option<SocketAddr>,
    /// Jurisdictions and categories that commands are checked against.
    pub registry: Registry,
    /// Authentication and authorisation (docs/security.md); `None` checks nothing and
    /// serves on loopback only.
    pub auth: Option<crate::auth::AuthConfig>,
    /// TLS, and mutual TLS with a client CA; `None` serves plaintext.
    pub tls: Option<crate::auth::TlsConfig>,
    /// `--insecure`: serve on a non-loopback address without authentication or TLS.
    pub insecure_allow_non_loopback: bool,
    /// `--nats`: publish every committed event to the district's JetStream stream
    /// (docs/operations.md); `None` keeps the node to itself.
    pub nats: Option<NatsOutboxSettings>,
    /// The log's checkpoints: origin, signing key (none: unsigned), how often
    /// (docs/audit.md). `CheckpointConfig::default()` serves unsigned ones once a second.
    pub checkpoints: crate::checkpoints::CheckpointConfig,
}

/// Where and how a district node publishes its log.
#[derive(Debug, Clone)]
pub struct NatsOutboxSettings {
    pub nats: NatsConfig,
    /// Replicas of the district's stream (and the registry bucket): 1, or 3 on a cluster.
    pub replicas: usize,
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Serving beyond this machine without authentication, and without `--insecure`.
    #[error(
        "refusing to serve on {address} without authentication: give a principals file (--auth) and TLS, or --insecure to serve anyway"
    )]
    NotLoopback { address: SocketAddr },
    /// The principals file, the TLS material or the policy refused the start.
    #[error(transparent)]
    Security(#[from] crate::auth::SecurityError),
    #[error("cannot open the event log in {}", data_dir.display())]
    Log {
        data_dir: PathBuf,
        #[source]
        source: EventLogError,
    },
    #[error("cannot open the evidence store in {}", directory.display())]
    Evidence {
        directory: PathBuf,
        #[source]
        source: gridledger_evidence::EvidenceError,
    },
    #[error("closing the event log failed")]
    Close(#[source] EventLogError),
    #[error("cannot listen on {address}")]
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
    #[error("cannot read the process's descriptor limit")]
    DescriptorLimit(#[source] std::io::Error),
    /// The configuration cannot work (names what to change).
    #[error("{0}")]
    Config(String),
}

/// A running server. Dropping it does not stop it; call [`RunningServer::shutdown`] or let
/// the shutdown signal given to [`start`] fire and [`RunningServer::wait`].
#[derive(Debug)]
pub struct RunningServer {
    /// The address actually bound (useful with port 0).
    pub local_addr: SocketAddr,
    /// The address the HTTP endpoint bound, with [`ServerConfig::http`].
    pub http_addr: Option<SocketAddr>,
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

/// [`start_with_limits`] with the default [`TransportLimits`].
pub async fn start(
    config: ServerConfig,
    shutdown_signal: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningServer, ServerError> {
    start_with_limits(config, TransportLimits::default(), shutdown_signal).await
}

/// Binds `listen`, or says which address could not be bound.
pub(crate) async fn bind(listen: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), ServerError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ServerError::Bind {
            address: listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        address: listen,
        source,
    })?;
    Ok((listener, local_addr))
}

/// Opens (or creates) the event log in `data_dir`, off the async threads.
pub(crate) async fn open_log(data_dir: &std::path::Path) -> Result<EventLog, ServerError> {
    let log_config = EventLogConfig::new(data_dir);
    let data_dir = data_dir.to_path_buf();
    tokio::task::spawn_blocking(move || EventLog::open(log_config))
        .await?
        .map_err(|source| ServerError::Log { data_dir, source })
}

/// Opens (or creates) the evidence store in `<data_dir>/evidence`, off the async threads;
/// what uploads cut short by a crash left in it is removed.
pub(crate) async fn open_evidence(
    data_dir: &std::path::Path,
) -> Result<gridledger_evidence::EvidenceStore, ServerError> {
    let directory = data_dir.join(gridledger_evidence::EVIDENCE_DIRECTORY);
    let opening = directory.clone();
    tokio::task::spawn_blocking(move || gridledger_evidence::EvidenceStore::open(opening))
        .await?
        .map_err(|source| ServerError::Evidence { directory, source })
}

/// The district a node with `--nats` publishes: its registry must list exactly one.
fn district_of(registry: &Registry) -> Result<gridledger_domain::DistrictCode, ServerError> {
    match registry.districts() {
        [district] => Ok(district.code.clone()),
        districts => Err(ServerError::Config(format!(
            "--nats publishes one district's stream, but the registry lists {} districts; run one node per district",
            districts.len()
        ))),
    }
}

/// Opens the log in `config.data_dir`, binds `config.listen`, and serves until
/// `shutdown_signal` completes or [`RunningServer::shutdown`] is called.
///
/// The serving policy is enforced here, for every program that embeds the server: an
/// address other than loopback needs authentication and TLS, unless
/// `insecure_allow_non_loopback` (docs/security.md).
pub async fn start_with_limits(
    config: ServerConfig,
    limits: TransportLimits,
    shutdown_signal: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningServer, ServerError> {
    let security = crate::auth::prepare(&config)?;
    let outbox_district = match &config.nats {
        Some(_) => Some(district_of(&config.registry)?),
        None => None,
    };
    // HTTPS with the same material as gRPC (already checked by `prepare`).
    let http_tls = match (&config.http, &config.tls) {
        (Some(_), Some(tls)) => Some(
            crate::http::tls_acceptor(tls, config.auth.is_some())
                .map_err(|reason| ServerError::Config(format!("HTTPS (--http): {reason}")))?,
        ),
        _ => None,
    };
    // Bind before opening the log: an address in use leaves no new data directory behind.
    let (listener, local_addr) = bind(config.listen).await?;
    let http_bound = match config.http {
        Some(address) => Some(bind(address).await?),
        None => None,
    };
    let log = open_log(&config.data_dir).await?;
    // After the log, whose lock keeps a second server off the same data directory.
    let evidence = open_evidence(&config.data_dir).await?;

    let registry = Arc::new(config.registry);
    let store = IssueStore {
        log: log.clone(),
        registry: registry.clone(),
        evidence: evidence.clone(),
    };
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    // Serving until the projection says otherwise (it reports its own failures).
    health_reporter
        .set_service_status(STATS_SERVICE_NAME, tonic_health::ServingStatus::Serving)
        .await;
    // Months are counted in the district's zone; a node's districts share one.
    let time_zone = registry
        .shared_time_zone()
        .map_err(|error| ServerError::Config(format!("the registry: {error}")))?
        .zone()
        .clone();
    let (live_governance, governance_task) = LiveGovernance::start_in_time_zone(
        log.clone(),
        &time_zone,
        health_reporter.clone(),
        STATS_SERVICE_NAME.to_owned(),
    )
    .await
    .map_err(ServerError::Projection)?;
    // Set when shutdown begins: follow streams and command streams end, and the grace
    // period starts.
    let (shutting_down, shutdown_begun) = watch::channel(false);
    // The refusals SubmitCommands replays are answered from, as kept before a restart.
    let submissions = {
        let log = log.clone();
        let data_dir = config.data_dir.clone();
        Arc::new(
            tokio::task::spawn_blocking(move || {
                log.projection_store(crate::submit_commands::REFUSALS_STORE_NAME)
                    .and_then(crate::submit_commands::SubmitCommandsShared::with_kept_refusals)
                    .map_err(|source| ServerError::Log { data_dir, source })
            })
            .await??,
        )
    };
    let issue_service = proto::issue_service_server::IssueServiceServer::new(IssueServiceImpl {
        store: store.clone(),
        governance: live_governance.clone(),
        submissions: submissions.clone(),
        upload_slots: Arc::new(tokio::sync::Semaphore::new(crate::evidence_service::UPLOADS_AT_ONCE)),
        evidence: evidence.clone(),
        shutdown: shutdown_begun.clone(),
    })
    .max_decoding_message_size(MAX_DECODED_REQUEST_BYTES);
    let districts = Arc::new(Districts::new(
        registry.clone(),
        vec![DistrictProjection {
            district: None,
            stream: None,
            log: log.clone(),
            live: live_governance.clone(),
            feed_stopped: None,
        }],
    ));
    let stats_service = proto::stats_service_server::StatsServiceServer::new(StatsServiceImpl {
        districts: districts.clone(),
    })
    .max_decoding_message_size(MAX_DECODED_REQUEST_BYTES);
    // With --nats, the checkpoint task offers each checkpoint to the checkpoint outbox, which
    // publishes it to the district's checkpoint stream (never its event stream).
    let checkpoint_outbox = match (&config.nats, &outbox_district) {
        (Some(settings), Some(district)) => {
            health_reporter
                .set_service_status(CHECKPOINT_OUTBOX_SERVICE_NAME, tonic_health::ServingStatus::NotServing)
                .await;
            let checkpoint_outbox = start_checkpoint_outbox(
                log.clone(),
                CheckpointOutboxConfig {
                    nats: settings.nats.clone(),
                    district: district.clone(),
                    settings: StreamSettings {
                        replicas: settings.replicas,
                        ..StreamSettings::default()
                    },
                },
            );
            tokio::spawn(report_checkpoint_outbox_health(
                checkpoint_outbox.status(),
                health_reporter.clone(),
                shutdown_begun.clone(),
            ));
            Some(checkpoint_outbox)
        }
        _ => None,
    };
    // The checkpoints: the first one is made (or the kept one checked) before serving.
    let (checkpoints, checkpoint_task) = crate::checkpoints::start_checkpoints(
        log.clone(),
        &config.data_dir,
        &registry,
        config.checkpoints,
        health_reporter.clone(),
        shutdown_begun.clone(),
        checkpoint_outbox.as_ref().map(|outbox| outbox.sink()),
    )
    .await?;
    let audit_service = proto::audit_service_server::AuditServiceServer::new(AuditServiceImpl {
        store: store.clone(),
        shutdown: shutdown_begun.clone(),
        checkpoints: checkpoints.clone(),
    })
    .max_decoding_message_size(MAX_DECODED_REQUEST_BYTES);

    // The outbox: publishes what the log commits, never in the way of an append.
    let outbox = match (config.nats, outbox_district) {
        (Some(settings), Some(district)) => {
            health_reporter
                .set_service_status(OUTBOX_SERVICE_NAME, tonic_health::ServingStatus::NotServing)
                .await;
            let mut outbox_config = OutboxConfig::new(settings.nats, district, registry.as_ref().clone());
            outbox_config.settings = StreamSettings {
                replicas: settings.replicas,
                ..outbox_config.settings
            };
            // Each event's photos and videos go to the district's evidence bucket before it.
            outbox_config.evidence = Some(evidence.clone());
            let outbox = start_outbox(log.clone(), outbox_config);
            tokio::spawn(report_outbox_health(
                outbox.status(),
                health_reporter.clone(),
                shutdown_begun.clone(),
            ));
            Some(outbox)
        }
        _ => None,
    };
    // What /metrics shows: commands, the writer, the projection, connections, the outbox.
    let connections = crate::transport::OpenConnections::default();
    let metrics = Arc::new(crate::metrics::Metrics::new(crate::metrics::MetricSources {
        log: log.clone(),
        projection: Some(live_governance.clone()),
        outbox: outbox.as_ref().map(|outbox| outbox.status()),
        connections: connections.clone(),
    }));
    // The commands of SubmitCommands streams count like unary ones.
    metrics.count_streamed_commands(submissions.command_metrics());
    // The HTTP endpoint reads through the same parts as the services above.
    let http = http_bound.map(|(listener, local_addr)| {
        let context = crate::http::HttpContext::new(
            districts.clone(),
            store,
            live_governance.clone(),
            security.auth_state(),
            http_tls.is_some(),
            metrics.clone(),
        );
        crate::http::HttpListener {
            listener,
            local_addr,
            router: crate::http::router(Arc::new(context)),
            tls: http_tls,
        }
    });
    let node_service = proto::node_service_server::NodeServiceServer::new(NodeServiceImpl {
        parts: Arc::new(NodeParts {
            role: "district",
            log: Some(log.clone()),
            districts: districts.clone(),
            outbox: outbox.as_ref().map(|outbox| outbox.status()),
            checkpoint_outbox: checkpoint_outbox.as_ref().map(|outbox| outbox.status()),
            feeds: Vec::new(),
            checkpoints: Some(checkpoints),
            witnesses: Vec::new(),
        }),
    })
    .max_decoding_message_size(MAX_DECODED_REQUEST_BYTES);

    health_reporter
        .set_serving::<proto::issue_service_server::IssueServiceServer<IssueServiceImpl>>()
        .await;
    health_reporter
        .set_serving::<proto::audit_service_server::AuditServiceServer<AuditServiceImpl>>()
        .await;
    tokio::spawn(crate::log_health::report_log_health(
        log.watch_health(),
        health_reporter.clone(),
        shutdown_begun.clone(),
    ));
    let mut routes = tonic::service::Routes::builder();
    routes
        .add_service(issue_service)
        .add_service(audit_service)
        .add_service(stats_service)
        .add_service(node_service)
        .add_service(health_service);
    let health_names = vec![
        "".to_owned(),
        "gridledger.v1.IssueService".to_owned(),
        "gridledger.v1.AuditService".to_owned(),
        STATS_SERVICE_NAME.to_owned(),
        OUTBOX_SERVICE_NAME.to_owned(),
        CHECKPOINT_OUTBOX_SERVICE_NAME.to_owned(),
        crate::checkpoints::CHECKPOINTS_SERVICE_NAME.to_owned(),
    ];
    let after_serving = async move {
        // In-flight appends have been answered: let the outbox publish what it has in
        // flight, then flush and stop the log's writer.
        if let Some(outbox) = outbox {
            outbox.stop().await;
        }
        // A last checkpoint of the head, published if NATS is at hand; then the log may close.
        checkpoint_task.stop().await;
        if let Some(checkpoint_outbox) = checkpoint_outbox {
            checkpoint_outbox.stop().await;
        }
        let closed = tokio::task::spawn_blocking(move || log.close()).await;
        // With the log closed the projection drains, saves its checkpoint and stops.
        if governance_task.await.is_err() {
            tracing::error!("the governance projection task panicked");
        }
        closed?.map_err(ServerError::Close)?;
        tracing::info!("event log closed; server stopped");
        Ok(())
    };
    let running = serve(Serving {
        listener,
        local_addr,
        http,
        security,
        limits,
        metrics_layer: metrics.layer(),
        connections,
        routes: routes.routes(),
        health_reporter,
        health_names,
        shutting_down,
        shutdown_begun,
        shutdown_signal: Box::pin(shutdown_signal),
        after_serving: Box::pin(after_serving),
    })?;
    tracing::info!(%local_addr, data_dir = %config.data_dir.display(), "gridledger serving gRPC");
    if let Some(http_addr) = running.http_addr {
        tracing::info!(%http_addr, "gridledger serving HTTP: the read API and the dashboard");
    }
    Ok(running)
}

/// Everything [`serve`] needs: the bound listener, the policy, the services, and what to
/// do once serving has stopped.
pub(crate) struct Serving {
    pub(crate) listener: tokio::net::TcpListener,
    pub(crate) local_addr: SocketAddr,
    /// The HTTP endpoint (`--http`), served beside gRPC and shut down with it.
    pub(crate) http: Option<crate::http::HttpListener>,
    pub(crate) security: crate::auth::Security,
    pub(crate) limits: TransportLimits,
    /// Counts commands and RPCs by code for /metrics (disabled where nothing scrapes).
    pub(crate) metrics_layer: crate::metrics::MetricsLayer,
    /// Open gRPC connections, for /metrics.
    pub(crate) connections: crate::transport::OpenConnections,
    pub(crate) routes: tonic::service::Routes,
    pub(crate) health_reporter: tonic_health::server::HealthReporter,
    /// Every health name that turns NOT_SERVING when shutdown begins.
    pub(crate) health_names: Vec<String>,
    pub(crate) shutting_down: watch::Sender<bool>,
    pub(crate) shutdown_begun: watch::Receiver<bool>,
    pub(crate) shutdown_signal: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
    /// Runs after the last connection closed: close logs, stop background tasks.
    pub(crate) after_serving: std::pin::Pin<Box<dyn Future<Output = Result<(), ServerError>> + Send>>,
}

/// Serves `routes` (health among them) with reflection on the listener, under the transport limits
/// and the security policy, until shutdown; then runs `after_serving`.
pub(crate) fn serve(serving: Serving) -> Result<RunningServer, ServerError> {
    let Serving {
        listener,
        local_addr,
        http,
        security,
        limits,
        metrics_layer,
        connections,
        routes,
        health_reporter,
        health_names,
        shutting_down,
        shutdown_begun,
        shutdown_signal,
        after_serving,
    } = serving;
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
        tracing::info!(
            grace = ?limits.shutdown_grace,
            "shutting down: no new connections, finishing in-flight requests"
        );
        shutting_down.send_replace(true);
        for service in &health_names {
            health_reporter
                .set_service_status(service, tonic_health::ServingStatus::NotServing)
                .await;
        }
    };
    let mut server = security
        .server_builder_with(metrics_layer)?
        .layer(crate::wire_guard::WireGuardLayer)
        .max_concurrent_streams(limits.max_concurrent_streams_per_connection)
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout));
    let router = server
        .add_routes(routes)
        .add_service(reflection_service)
        .add_service(reflection_service_v1alpha);
    // Connections are capped below the descriptor limit, so sockets alone cannot starve the
    // log of descriptors; each has a handshake and an idle deadline.
    let descriptor_limit = crate::transport::descriptor_limit().map_err(ServerError::DescriptorLimit)?;
    let connection_cap = limits.connection_cap(descriptor_limit);
    // With the HTTP endpoint, a quarter of the cap is its own: both together stay clear of
    // the descriptor limit.
    let (grpc_cap, http_cap) = match &http {
        None => (connection_cap, 0),
        Some(_) => {
            let http_cap = (connection_cap / 4).max(1);
            ((connection_cap - http_cap).max(1), http_cap)
        }
    };
    tracing::info!(
        connection_cap = grpc_cap,
        http_connection_cap = http_cap,
        descriptor_limit,
        streams_per_connection = limits.max_concurrent_streams_per_connection,
        "client limits"
    );
    let incoming = crate::transport::limited_incoming_counted(listener, grpc_cap, limits, connections);
    let http_addr = http.as_ref().map(|http| http.local_addr);
    let http_serving = http.map(|http| crate::http::serve_http(http, http_cap, limits, shutdown_begun.clone()));
    let mut grace_begins = shutdown_begun;
    let task = tokio::spawn(async move {
        let grpc_serving = router.serve_with_incoming_shutdown(incoming, until_stopped);
        // Both endpoints stop accepting when shutdown begins and finish their in-flight
        // requests; the log is closed once both are done, or once the grace period is over.
        let serving = async move {
            let http_served = async move {
                if let Some(http_serving) = http_serving {
                    http_serving.await;
                }
            };
            let (served, ()) = tokio::join!(grpc_serving, http_served);
            served
        };
        let grace_over = async move {
            if grace_begins.wait_for(|begun| *begun).await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(limits.shutdown_grace).await;
        };
        let served = tokio::select! {
            served = serving => served,
            () = grace_over => {
                tracing::warn!(grace = ?limits.shutdown_grace, "grace period over: closing the connections still open");
                Ok(())
            }
        };
        let after = after_serving.await;
        served?;
        after
    });
    Ok(RunningServer {
        local_addr,
        http_addr,
        stop: Some(stop),
        task,
    })
}
