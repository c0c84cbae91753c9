//! A stats node (`gridledger project`): follows one or many districts' JetStream streams,
//! keeps each district's log verbatim in its own replica (the replica's head is the
//! district's checkpoint, written atomically with the events), folds the same projections
//! and serves StatsService across every district it follows: the city, any district,
//! street, community or grid, breakdowns by district, as of any instant. For each district it
//! is also a witness of the district's checkpoints (`checkpoint_witness`): each one published
//! to the district's checkpoint stream is compared with the replica's own root at its size.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gridledger_api::proto;
use gridledger_bus::{
    FeedConfig, FeedState, FeedStatus, NatsConfig, NatsConnection, checkpoint_stream_name, fetch_registry, start_feed,
};
use gridledger_domain::{DistrictCode, Registry};
use tokio::sync::watch;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::checkpoint_witness::{
    VERIFIED_FILE, WitnessConfig, WitnessStatus, checkpoint_keys, report_witness_health, start_witness,
    witness_health_name,
};
use crate::districts::{DistrictProjection, Districts};
use crate::governance::{LiveGovernance, STATS_SERVICE_NAME};
use crate::node_service::{NodeParts, NodeServiceImpl};
use crate::run::{MAX_DECODED_REQUEST_BYTES, RunningServer, ServerConfig, ServerError, Serving, bind, open_log, serve};
use crate::stats_service::StatsServiceImpl;
use crate::transport::TransportLimits;

/// The first delay between attempts to fetch a registry; it doubles up to the maximum.
const FIRST_REGISTRY_RETRY: Duration = Duration::from_millis(200);
const MAX_REGISTRY_RETRY: Duration = Duration::from_secs(5);
/// How often the registries are fetched again (a district may publish a newer one).
const REGISTRY_REFRESH: Duration = Duration::from_secs(30);
/// How often StatsService's health is recomputed besides every feed change.
const HEALTH_RECHECK: Duration = Duration::from_secs(1);

/// What a stats node needs to start.
#[derive(Debug, Clone)]
pub struct StatsNodeConfig {
    /// One folder per followed stream is kept below it.
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub nats: NatsConfig,
    /// The districts' streams, e.g. `GRIDLEDGER_RUNZHOU`.
    pub streams: Vec<String>,
    pub auth: Option<crate::auth::AuthConfig>,
    pub tls: Option<crate::auth::TlsConfig>,
    pub insecure_allow_non_loopback: bool,
    /// `--checkpoint-vkey`: the districts' verifier keys, `STREAM=VKEY` or a bare `VKEY` named
    /// `gridledger/<district>`; checkpoints of a stream without one are checked by root only.
    pub checkpoint_vkeys: Vec<String>,
}

/// The district a stream carries: `GRIDLEDGER_RUNZHOU` -> `runzhou`.
pub fn district_of_stream(stream: &str) -> Result<DistrictCode, ServerError> {
    let refused = |reason: &str| ServerError::Config(format!("--stream {stream:?}: {reason}"));
    let Some(upper) = stream.strip_prefix("GRIDLEDGER_") else {
        return Err(refused(
            "a district's stream is named GRIDLEDGER_<DISTRICT>, e.g. GRIDLEDGER_RUNZHOU",
        ));
    };
    if upper.bytes().any(|byte| byte.is_ascii_lowercase()) {
        return Err(refused("stream names are upper case"));
    }
    DistrictCode::parse(&upper.to_ascii_lowercase()).map_err(|error| refused(&error.to_string()))
}

/// The folder of one stream's replica and registry.
fn stream_dir(data_dir: &Path, stream: &str) -> PathBuf {
    data_dir.join(stream)
}

fn registry_cache_path(data_dir: &Path, stream: &str) -> PathBuf {
    stream_dir(data_dir, stream).join("registry.json")
}

/// The registry last fetched for `stream`, kept beside its replica.
fn cached_registry(data_dir: &Path, stream: &str) -> Result<Option<Registry>, ServerError> {
    let path = registry_cache_path(data_dir, stream);
    match std::fs::read_to_string(&path) {
        Ok(json) => Registry::from_json_str(&json)
            .map(Some)
            .map_err(|error| ServerError::Config(format!("registry cache {}: {error}", path.display()))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(ServerError::Config(format!("cannot read {}: {error}", path.display()))),
    }
}

fn save_registry(data_dir: &Path, stream: &str, registry: &Registry) -> Result<(), ServerError> {
    let path = registry_cache_path(data_dir, stream);
    let json = registry
        .to_json_pretty()
        .map_err(|error| ServerError::Config(format!("registry of {stream}: {error}")))?;
    let temporary = path.with_extension("json.tmp");
    std::fs::create_dir_all(stream_dir(data_dir, stream))
        .and_then(|()| std::fs::write(&temporary, json))
        .and_then(|()| std::fs::rename(&temporary, &path))
        .map_err(|error| ServerError::Config(format!("cannot write {}: {error}", path.display())))
}

fn check_registry_district(stream: &str, district: &DistrictCode, registry: &Registry) -> Result<(), ServerError> {
    match registry.districts() {
        [only] if only.code == *district => Ok(()),
        districts => Err(ServerError::Config(format!(
            "the registry published for {stream} lists {:?}, not just district {district}",
            districts.iter().map(|listed| listed.code.as_str()).collect::<Vec<_>>()
        ))),
    }
}

/// Fetches `stream`'s registry from the bucket, waiting (with growing pauses, logged) until
/// NATS answers and the district node has published it.
async fn wait_for_registry(nats: &NatsConfig, stream: &str) -> Registry {
    let mut delay = FIRST_REGISTRY_RETRY;
    loop {
        let outcome = match NatsConnection::connect(nats).await {
            Ok(connection) => fetch_registry(&connection, stream).await,
            Err(error) => Err(error),
        };
        match outcome {
            Ok(Some(registry)) => return registry,
            Ok(None) => {
                tracing::warn!(stream, retry_in = ?delay, "waiting for the district node to publish its registry")
            }
            Err(error) => {
                tracing::warn!(stream, error = %crate::error::with_sources(&error), retry_in = ?delay, "cannot fetch the registry yet")
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_REGISTRY_RETRY);
    }
}

/// Each stream's registry: the cached copy, else fetched (waiting for it).
async fn registries(config: &StatsNodeConfig, districts: &[DistrictCode]) -> Result<Vec<Registry>, ServerError> {
    let mut registries = Vec::with_capacity(config.streams.len());
    for (stream, district) in config.streams.iter().zip(districts) {
        let registry = match cached_registry(&config.data_dir, stream)? {
            Some(registry) => registry,
            None => {
                let registry = wait_for_registry(&config.nats, stream).await;
                check_registry_district(stream, district, &registry)?;
                save_registry(&config.data_dir, stream, &registry)?;
                registry
            }
        };
        check_registry_district(stream, district, &registry)?;
        registries.push(registry);
    }
    Ok(registries)
}

fn merged(registries: &[Registry]) -> Result<Registry, ServerError> {
    Registry::merged(registries)
        .map_err(|error| ServerError::Config(format!("the districts' registries do not fit together: {error}")))
}

/// Starts a stats node with the default transport limits.
pub async fn start_stats_node(
    config: StatsNodeConfig,
    shutdown_signal: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningServer, ServerError> {
    start_stats_node_with_limits(config, TransportLimits::default(), shutdown_signal).await
}

/// Starts a stats node: registries (cached, or fetched from the bucket), one replica log,
/// feed and projection per stream, and StatsService and NodeService on `config.listen`.
pub async fn start_stats_node_with_limits(
    config: StatsNodeConfig,
    limits: TransportLimits,
    shutdown_signal: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningServer, ServerError> {
    if config.streams.is_empty() {
        return Err(ServerError::Config(
            "a stats node follows at least one --stream".to_owned(),
        ));
    }
    let mut districts = Vec::with_capacity(config.streams.len());
    for (index, stream) in config.streams.iter().enumerate() {
        if config.streams[..index].contains(stream) {
            return Err(ServerError::Config(format!("--stream {stream} is given twice")));
        }
        districts.push(district_of_stream(stream)?);
    }
    let checkpoint_keys = checkpoint_keys(&config.streams, &config.checkpoint_vkeys).map_err(ServerError::Config)?;
    let registries = registries(&config, &districts).await?;
    let registry = merged(&registries)?;
    let security = crate::auth::prepare(&ServerConfig {
        data_dir: config.data_dir.clone(),
        listen: config.listen,
        http: None,
        registry: registry.clone(),
        auth: config.auth.clone(),
        tls: config.tls.clone(),
        insecure_allow_non_loopback: config.insecure_allow_non_loopback,
        nats: None,
        checkpoints: crate::checkpoints::CheckpointConfig::default(),
    })?;
    let (listener, local_addr) = bind(config.listen).await?;
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status(STATS_SERVICE_NAME, ServingStatus::NotServing)
        .await;

    let mut members = Vec::with_capacity(config.streams.len());
    let mut feeds = Vec::with_capacity(config.streams.len());
    let mut logs = Vec::with_capacity(config.streams.len());
    let mut governance_tasks = Vec::with_capacity(config.streams.len());
    let mut witnesses = Vec::with_capacity(config.streams.len());
    let mut health_names = vec!["".to_owned(), STATS_SERVICE_NAME.to_owned()];
    for ((stream, district), key) in config.streams.iter().zip(&districts).zip(checkpoint_keys) {
        let log = open_log(&stream_dir(&config.data_dir, stream).join("log")).await?;
        let health_name = format!("{STATS_SERVICE_NAME}/{stream}");
        health_names.push(health_name.clone());
        let time_zone = registry
            .district(district)
            .map_err(|error| ServerError::Config(format!("registry of {stream}: {error}")))?
            .time_zone()
            .clone();
        let (live, task) =
            LiveGovernance::start_in_time_zone(log.clone(), &time_zone, health_reporter.clone(), health_name)
                .await
                .map_err(ServerError::Projection)?;
        let feed = start_feed(
            log.clone(),
            FeedConfig {
                nats: config.nats.clone(),
                stream: stream.clone(),
            },
        );
        let feed_stopped = stopped_reasons(feed.status());
        health_names.push(witness_health_name(stream));
        health_reporter
            .set_service_status(&witness_health_name(stream), ServingStatus::NotServing)
            .await;
        witnesses.push(start_witness(
            log.clone(),
            WitnessConfig {
                nats: config.nats.clone(),
                stream: stream.clone(),
                checkpoint_stream: checkpoint_stream_name(district),
                key,
                progress_file: stream_dir(&config.data_dir, stream).join(VERIFIED_FILE),
            },
        ));
        members.push(DistrictProjection {
            district: Some(district.clone()),
            stream: Some(stream.clone()),
            log: log.clone(),
            live,
            feed_stopped: Some(feed_stopped),
        });
        logs.push(log);
        feeds.push(feed);
        governance_tasks.push(task);
    }
    let districts = Arc::new(Districts::new(Arc::new(registry), members));
    let feed_statuses: Vec<watch::Receiver<FeedStatus>> = feeds.iter().map(|feed| feed.status()).collect();
    let witness_statuses: Vec<watch::Receiver<WitnessStatus>> =
        witnesses.iter().map(|witness| witness.status()).collect();
    let parts = Arc::new(NodeParts {
        role: "stats",
        log: None,
        districts: districts.clone(),
        outbox: None,
        checkpoint_outbox: None,
        feeds: feed_statuses.clone(),
        checkpoints: None,
        witnesses: witness_statuses.clone(),
    });
    let (shutting_down, shutdown_begun) = watch::channel(false);
    for status in witness_statuses {
        tokio::spawn(report_witness_health(
            status,
            health_reporter.clone(),
            shutdown_begun.clone(),
        ));
    }
    tokio::spawn(report_stats_health(
        parts.clone(),
        feed_statuses,
        health_reporter.clone(),
        shutdown_begun.clone(),
    ));
    tokio::spawn(refresh_registries(
        config.clone(),
        districts.clone(),
        shutdown_begun.clone(),
    ));

    let stats_service = proto::stats_service_server::StatsServiceServer::new(StatsServiceImpl {
        districts: districts.clone(),
    })
    .max_decoding_message_size(MAX_DECODED_REQUEST_BYTES);
    let node_service = proto::node_service_server::NodeServiceServer::new(NodeServiceImpl { parts })
        .max_decoding_message_size(MAX_DECODED_REQUEST_BYTES);
    let mut routes = tonic::service::Routes::builder();
    routes
        .add_service(stats_service)
        .add_service(node_service)
        .add_service(health_service);
    let after_serving = async move {
        for witness in witnesses {
            witness.stop().await;
        }
        for feed in feeds {
            feed.stop().await;
        }
        let mut first_failure = None;
        for log in logs {
            match tokio::task::spawn_blocking(move || log.close()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    first_failure.get_or_insert(ServerError::Close(error));
                }
                Err(error) => {
                    first_failure.get_or_insert(ServerError::Task(error));
                }
            }
        }
        for task in governance_tasks {
            if task.await.is_err() {
                tracing::error!("a governance projection task panicked");
            }
        }
        match first_failure {
            Some(failure) => Err(failure),
            None => {
                tracing::info!("replica logs closed; stats node stopped");
                Ok(())
            }
        }
    };
    let running = serve(Serving {
        listener,
        local_addr,
        http: None,
        security,
        limits,
        metrics_layer: crate::metrics::MetricsLayer::disabled(),
        connections: crate::transport::OpenConnections::default(),
        routes: routes.routes(),
        health_reporter,
        health_names,
        shutting_down,
        shutdown_begun,
        shutdown_signal: Box::pin(shutdown_signal),
        after_serving: Box::pin(after_serving),
    })?;
    tracing::info!(%local_addr, streams = ?config.streams, data_dir = %config.data_dir.display(), "gridledger stats node serving gRPC");
    Ok(running)
}

/// Why a feed has stopped, while it has (queries over its district are then refused).
fn stopped_reasons(mut status: watch::Receiver<FeedStatus>) -> watch::Receiver<Option<String>> {
    let reason_of = |status: &FeedStatus| match &status.state {
        FeedState::Stopped { reason } => Some(reason.clone()),
        _ => None,
    };
    let (sender, receiver) = watch::channel(reason_of(&status.borrow()));
    tokio::spawn(async move {
        while status.changed().await.is_ok() {
            let reason = reason_of(&status.borrow_and_update());
            sender.send_if_modified(|current| {
                let changed = *current != reason;
                *current = reason.clone();
                changed
            });
        }
    });
    receiver
}

/// StatsService (and the node as a whole) is SERVING while every feed follows its stream
/// and every projection follows its replica; NOT_SERVING, with the reasons logged and in
/// NodeService, otherwise. `gridledger.v1.StatsService/<STREAM>` says the same of one
/// district (its feed and its projection). Queries are still answered from the replicas
/// while a feed is only reconnecting; a feed stopped by a break refuses the queries over
/// its district. The checkpoint witnesses (`checkpoints/<STREAM>`) report under their own
/// health names: a fork is the district's, and the figures, verified event by event, stand.
async fn report_stats_health(
    parts: Arc<NodeParts>,
    mut feeds: Vec<watch::Receiver<FeedStatus>>,
    health: HealthReporter,
    shutdown_begun: watch::Receiver<bool>,
) {
    let streams: Vec<String> = parts
        .districts
        .members()
        .iter()
        .filter_map(|member| member.stream.clone())
        .collect();
    let mut reported: Option<bool> = None;
    loop {
        if *shutdown_begun.borrow() {
            return;
        }
        let status = parts.status();
        let failing: Vec<String> = status
            .components
            .iter()
            .filter(|component| !component.serving && !component.name.starts_with("checkpoints/"))
            .map(|component| format!("{}: {}", component.name, component.reason))
            .collect();
        let serving = failing.is_empty();
        if reported != Some(serving) {
            if serving {
                tracing::info!("stats node serving: every feed and projection is following");
            } else {
                tracing::error!(failing = ?failing, "stats node NOT_SERVING");
            }
            reported = Some(serving);
        }
        // Set every pass (not only on change): a projection reports its own failures under
        // its district's name, and this keeps the name saying "feed and projection".
        let mut names = vec![(STATS_SERVICE_NAME.to_owned(), serving), (String::new(), serving)];
        for stream in &streams {
            let district_serving = status
                .components
                .iter()
                .filter(|component| {
                    component.name == format!("feed/{stream}") || component.name == format!("projection/{stream}")
                })
                .all(|component| component.serving);
            names.push((format!("{STATS_SERVICE_NAME}/{stream}"), district_serving));
        }
        if *shutdown_begun.borrow() {
            return;
        }
        for (name, serving) in names {
            let status = if serving {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            health.set_service_status(&name, status).await;
        }
        let changes = feeds.iter_mut().map(|feed| Box::pin(feed.changed()));
        tokio::select! {
            _ = futures_select_all(changes) => {}
            () = tokio::time::sleep(HEALTH_RECHECK) => {}
        }
    }
}

/// Completes when any of `futures` does (or never, for none).
async fn futures_select_all<F: Future + Unpin>(futures: impl Iterator<Item = F>) {
    let futures: Vec<F> = futures.collect();
    if futures.is_empty() {
        std::future::pending::<()>().await;
    }
    let _ = futures_util::future::select_all(futures).await;
}

/// Fetches the registries again now and then; a district's newer registry is cached and
/// queries are checked against it from then on.
async fn refresh_registries(config: StatsNodeConfig, districts: Arc<Districts>, shutdown_begun: watch::Receiver<bool>) {
    let mut current: Vec<Option<Registry>> = config
        .streams
        .iter()
        .map(|stream| cached_registry(&config.data_dir, stream).ok().flatten())
        .collect();
    loop {
        tokio::time::sleep(REGISTRY_REFRESH).await;
        if *shutdown_begun.borrow() {
            return;
        }
        let Ok(connection) = NatsConnection::connect(&config.nats).await else {
            continue;
        };
        let mut changed = false;
        for (index, stream) in config.streams.iter().enumerate() {
            match fetch_registry(&connection, stream).await {
                Ok(Some(registry)) if current[index].as_ref() != Some(&registry) => {
                    let district = district_of_stream(stream);
                    let fits = district
                        .and_then(|district| check_registry_district(stream, &district, &registry))
                        .and_then(|()| save_registry(&config.data_dir, stream, &registry));
                    match fits {
                        Ok(()) => {
                            tracing::info!(stream, "a newer registry was published; queries use it from now on");
                            current[index] = Some(registry);
                            changed = true;
                        }
                        Err(error) => tracing::error!(stream, error = %error, "ignoring the registry published"),
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(stream, error = %crate::error::with_sources(&error), "cannot refresh the registry")
                }
            }
        }
        if changed {
            let known: Vec<Registry> = current.iter().flatten().cloned().collect();
            match merged(&known) {
                Ok(registry) => districts.replace_registry(Arc::new(registry)),
                Err(error) => tracing::error!(error = %error, "keeping the registries in use"),
            }
        }
    }
}
