//! Prometheus metrics of a district node (docs/operations.md#metrics): what the gRPC calls
//! came to, counted by [`MetricsLayer`] as they finish, and where the log, the projection,
//! the connections and the outbox stand, read when the metrics are scraped.
//!
//! - [`MetricsLayer`] sits in front of the access-control layer
//!   (`Security::server_builder_with`), so it sees every call, refused ones included. It
//!   counts each call by service, method and gRPC code (`gridledger_rpcs_total`), each
//!   `IssueService` command again with its latency (`gridledger_commands_total`,
//!   `gridledger_command_duration_seconds`), and each refusal of access control by reason
//!   (`gridledger_auth_failures_total`). Label values come from fixed lists only (the
//!   access table, the open services, the gRPC codes), never from what a client sent.
//! - The code is `grpc-status`: in the response's headers for a trailers-only response
//!   (how tonic answers an error, and how access control refuses), else in the trailers
//!   at the end of the body, which the layer wraps to read them. A call is timed from its
//!   arrival to its status: for a unary call, the answer; for a stream, its end. A call
//!   whose response or body is dropped before its status is known (the client went away)
//!   is counted as CANCELLED.
//! - The rest is read at each scrape by a [`Collector`], from the handles the node already
//!   has: [`EventLog::writer_metrics`], [`EventLog::head`], [`EventLog::size_on_disk`], the
//!   governance projection's applied position, the count of open connections, and the
//!   outbox's status. Nothing of it costs anything between scrapes.
//!
//! Only this module knows prometheus-client.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use gridledger_bus::OutboxStatus;
use gridledger_domain::CommandKind;
use gridledger_eventlog::{EventLog, HistogramSnapshot};
use http_body::{Body, Frame, SizeHint};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use tokio::sync::watch;
use tonic::codegen::Service;
use tonic::codegen::http::{self, HeaderMap};
use tower_layer::Layer;

use crate::auth::{AuthFailure, access_rule};
use crate::governance::LiveGovernance;
use crate::transport::OpenConnections;

/// The `Content-Type` of [`Metrics::render`]: OpenMetrics text 1.0.0.
pub(crate) const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The `Content-Type` of [`Metrics::render_prometheus_text`]: Prometheus text 0.0.4.
pub(crate) const PROMETHEUS_TEXT_CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The service whose command RPCs are the commands of `gridledger_commands_total`.
const ISSUE_SERVICE: &str = "gridledger.v1.IssueService";

/// Methods of the services open to every caller (they are not in the access table).
const OPEN_METHODS: &[(&str, &str)] = &[
    ("grpc.health.v1.Health", "Check"),
    ("grpc.health.v1.Health", "Watch"),
    ("gridledger.v1.NodeService", "GetNodeStatus"),
    ("grpc.reflection.v1.ServerReflection", "ServerReflectionInfo"),
    ("grpc.reflection.v1alpha.ServerReflection", "ServerReflectionInfo"),
];

/// The service and method labels of a path that names no known method.
const OTHER: &str = "other";

/// Upper bounds of `gridledger_command_duration_seconds`: 0.5 ms to 10 s.
const COMMAND_SECONDS_BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The gRPC status codes by number, as their label values.
const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];
const CANCELLED: &str = "CANCELLED";
const UNKNOWN: &str = "UNKNOWN";
const PERMISSION_DENIED: &str = "PERMISSION_DENIED";

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CommandCodeLabels {
    command: &'static str,
    code: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CommandLabels {
    command: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RpcLabels {
    service: &'static str,
    method: &'static str,
    code: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

fn command_histogram() -> Histogram {
    Histogram::new(COMMAND_SECONDS_BOUNDS)
}

/// What [`MetricsLayer`] counts.
#[derive(Debug)]
struct CallMetrics {
    commands: Family<CommandCodeLabels, Counter>,
    command_seconds: Family<CommandLabels, Histogram, fn() -> Histogram>,
    rpcs: Family<RpcLabels, Counter>,
    auth_failures: Family<ReasonLabels, Counter>,
}

/// Counts each command of a `SubmitCommands` stream into `gridledger_commands_total` and
/// `gridledger_command_duration_seconds` under its own name (`ReportIssue`, ...), as its
/// unary call would be counted. The services hold one from the start; it counts once the
/// node's [`Metrics`] are attached ([`Metrics::count_streamed_commands`]), and does nothing
/// where no metrics are kept.
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamedCommandMetrics {
    calls: Arc<std::sync::OnceLock<Arc<CallMetrics>>>,
}

impl StreamedCommandMetrics {
    /// One command of a stream came to `code` after `elapsed`.
    pub(crate) fn record(&self, command: CommandKind, code: tonic::Code, elapsed: std::time::Duration) {
        let Some(calls) = self.calls.get() else {
            return;
        };
        let code = usize::try_from(code as i32)
            .ok()
            .and_then(|index| CODE_NAMES.get(index).copied())
            .unwrap_or(UNKNOWN);
        let command = command.as_str();
        calls.commands.get_or_create(&CommandCodeLabels { command, code }).inc();
        calls
            .command_seconds
            .get_or_create(&CommandLabels { command })
            .observe(elapsed.as_secs_f64());
    }
}

/// The handles a node's metrics are read from at each scrape.
#[derive(Debug)]
pub(crate) struct MetricSources {
    /// The node's log: its head, size on disk and writer.
    pub(crate) log: EventLog,
    /// The governance projection that follows it: its lag.
    pub(crate) projection: Option<Arc<LiveGovernance>>,
    /// The outbox's status, on a node that publishes (`--nats`).
    pub(crate) outbox: Option<watch::Receiver<OutboxStatus>>,
    /// The client connections open now (give the same to `limited_incoming_counted`).
    pub(crate) connections: OpenConnections,
}

/// A node's metrics: a registry holding what [`MetricsLayer`] counts and what is read from
/// [`MetricSources`] at each scrape. Shared (`Arc`) between the gRPC layer and whoever
/// serves `GET /metrics`.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    calls: Arc<CallMetrics>,
}

impl Metrics {
    pub(crate) fn new(sources: MetricSources) -> Metrics {
        let calls = Arc::new(CallMetrics {
            commands: Family::default(),
            command_seconds: Family::new_with_constructor(command_histogram),
            rpcs: Family::default(),
            auth_failures: Family::default(),
        });
        // Every reason exists from the start, at 0, so that rates and alerts see it.
        for reason in AuthFailure::ALL {
            let _ = calls.auth_failures.get_or_create(&ReasonLabels {
                reason: reason.as_str(),
            });
        }
        let mut registry = Registry::default();
        registry.register(
            "gridledger_commands",
            "IssueService commands (the lifecycle RPCs) by RPC method and gRPC status code, refusals included",
            calls.commands.clone(),
        );
        registry.register_with_unit(
            "gridledger_command_duration",
            "Time from a command's arrival to its gRPC status, by RPC method",
            Unit::Seconds,
            calls.command_seconds.clone(),
        );
        registry.register(
            "gridledger_rpcs",
            "Every gRPC call by service, method (\"other\" for unknown paths) and gRPC status code",
            calls.rpcs.clone(),
        );
        registry.register(
            "gridledger_auth_failures",
            "Calls refused by access control, by reason",
            calls.auth_failures.clone(),
        );
        registry.register_collector(Box::new(NodeCollector { sources }));
        Metrics { registry, calls }
    }

    /// Makes `streamed` count into these metrics from now on.
    pub(crate) fn count_streamed_commands(&self, streamed: &StreamedCommandMetrics) {
        // Set once, by the one node that owns both.
        let _ = streamed.calls.set(self.calls.clone());
    }

    /// The layer that counts the gRPC calls into these metrics.
    pub(crate) fn layer(&self) -> MetricsLayer {
        MetricsLayer {
            calls: Some(self.calls.clone()),
        }
    }

    /// The metrics in the OpenMetrics text format 1.0.0 ([`OPENMETRICS_CONTENT_TYPE`]),
    /// ending in `# EOF`.
    pub(crate) fn render(&self) -> Result<String, fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }

    /// The metrics in the Prometheus text format 0.0.4 ([`PROMETHEUS_TEXT_CONTENT_TYPE`]).
    pub(crate) fn render_prometheus_text(&self) -> Result<String, fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }

    /// The body and `Content-Type` of a `GET /metrics` whose `Accept` header is `accept`:
    /// OpenMetrics when the scraper asks for it (Prometheus does), else Prometheus text
    /// 0.0.4 (curl, older scrapers).
    pub(crate) fn render_for(&self, accept: Option<&str>) -> Result<(&'static str, String), fmt::Error> {
        if accept.is_some_and(|accept| accept.contains("application/openmetrics-text")) {
            Ok((OPENMETRICS_CONTENT_TYPE, self.render()?))
        } else {
            Ok((PROMETHEUS_TEXT_CONTENT_TYPE, self.render_prometheus_text()?))
        }
    }
}

/// Reads the node's state at each scrape.
#[derive(Debug)]
struct NodeCollector {
    sources: MetricSources,
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, unit: Option<&Unit>, value: f64) -> fmt::Result {
    encoder
        .encode_descriptor(name, help, unit, MetricType::Gauge)?
        .encode_gauge(&value)
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    encoder
        .encode_descriptor(name, help, None, MetricType::Counter)?
        .encode_counter::<NoLabelSet, _, u64>(&value, None)
}

/// `snapshot` as a Prometheus histogram, each bound and the sum multiplied by `scale`.
fn histogram(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    snapshot: &HistogramSnapshot,
    scale: f64,
) -> fmt::Result {
    let buckets: Vec<(f64, u64)> = snapshot
        .bounds
        .iter()
        .map(|bound| *bound as f64 * scale)
        .chain(std::iter::once(f64::INFINITY))
        .zip(snapshot.counts.iter().copied())
        .collect();
    encoder
        .encode_descriptor(name, help, unit, MetricType::Histogram)?
        .encode_histogram::<NoLabelSet>(snapshot.sum as f64 * scale, snapshot.count(), &buckets, None)
}

fn flag(up: bool) -> f64 {
    if up { 1.0 } else { 0.0 }
}

impl Collector for NodeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let MetricSources {
            log,
            projection,
            outbox,
            connections,
        } = &self.sources;
        let head = log.head().position;
        let writer = log.writer_metrics();
        gauge(
            &mut encoder,
            "gridledger_log_head_position",
            "The log's last durable position.",
            None,
            head as f64,
        )?;
        // Leaves the metric out when sled cannot say (the next scrape tries again).
        if let Ok(bytes) = log.size_on_disk() {
            gauge(
                &mut encoder,
                "gridledger_log_disk",
                "Bytes the log's sled files take on disk.",
                Some(&Unit::Bytes),
                bytes as f64,
            )?;
        }
        gauge(
            &mut encoder,
            "gridledger_log_writer_up",
            "1 while the log's writer takes appends and makes them durable; 0 while storage fails, the log is read-only or the writer stopped.",
            None,
            flag(writer.state.is_up()),
        )?;
        histogram(
            &mut encoder,
            "gridledger_log_group_commit_events",
            "Events made durable by each group commit (one flush and fdatasync).",
            None,
            &writer.group_commit_events,
            1.0,
        )?;
        histogram(
            &mut encoder,
            "gridledger_log_flush_duration",
            "Time each durable flush (sled flush and fdatasync) took, failed ones included.",
            Some(&Unit::Seconds),
            &writer.flush_nanos,
            1e-9,
        )?;
        counter(
            &mut encoder,
            "gridledger_log_events_committed",
            "Events made durable since the process started (appended and imported).",
            writer.stats.events_written,
        )?;
        counter(
            &mut encoder,
            "gridledger_log_flush_failures",
            "Durable flushes that failed since the process started, retries included.",
            writer.stats.failed_flushes,
        )?;
        gauge(
            &mut encoder,
            "gridledger_grpc_connections",
            "Client connections open now.",
            None,
            connections.get() as f64,
        )?;
        if let Some(projection) = projection {
            let applied = projection.applied_position();
            gauge(
                &mut encoder,
                "gridledger_projection_applied_position",
                "The last log position the governance projection applied.",
                None,
                applied as f64,
            )?;
            gauge(
                &mut encoder,
                "gridledger_projection_lag_events",
                "Events the governance projection is behind the log's head.",
                None,
                head.saturating_sub(applied) as f64,
            )?;
            gauge(
                &mut encoder,
                "gridledger_projection_up",
                "1 while the governance projection follows the log; 0 while it is stopped (it restarts itself).",
                None,
                flag(projection.stopped_reason().is_none()),
            )?;
        }
        if let Some(outbox) = outbox {
            let status = outbox.borrow().clone();
            gauge(
                &mut encoder,
                "gridledger_outbox_up",
                "1 while the outbox publishes to NATS (however far behind); 0 while it connects, is refused or stopped.",
                None,
                flag(status.is_healthy()),
            )?;
            gauge(
                &mut encoder,
                "gridledger_outbox_published_position",
                "The highest log position the district's stream has acknowledged.",
                None,
                status.published_through as f64,
            )?;
            // From the head now: the status is only renewed when the outbox moves.
            gauge(
                &mut encoder,
                "gridledger_outbox_lag_events",
                "Events committed to the log and not yet acknowledged by the stream.",
                None,
                head.saturating_sub(status.published_through) as f64,
            )?;
            gauge(
                &mut encoder,
                "gridledger_outbox_lag",
                "Age of the oldest event not yet published, as the outbox last reported it (0 when caught up).",
                Some(&Unit::Seconds),
                status.lag_seconds,
            )?;
        }
        Ok(())
    }
}

/// The gRPC layer of [`Metrics`] (see the module's documentation). A disabled one
/// ([`MetricsLayer::disabled`]) passes every call through untouched.
#[derive(Debug, Clone, Default)]
pub(crate) struct MetricsLayer {
    calls: Option<Arc<CallMetrics>>,
}

impl MetricsLayer {
    /// A layer that counts nothing, for a server without metrics.
    pub(crate) fn disabled() -> Self {
        MetricsLayer { calls: None }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            calls: self.calls.clone(),
        }
    }
}

/// The service [`MetricsLayer`] wraps around the server's routes.
#[derive(Debug, Clone)]
pub(crate) struct MetricsService<S> {
    inner: S,
    calls: Option<Arc<CallMetrics>>,
}

/// What a call is, in label values from fixed lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CallKind {
    service: &'static str,
    method: &'static str,
    /// The command, for an IssueService command.
    command: Option<&'static str>,
}

impl CallKind {
    /// The call a request path (`/package.Service/Method`) names.
    fn of_path(path: &str) -> CallKind {
        let other = CallKind {
            service: OTHER,
            method: OTHER,
            command: None,
        };
        let Some((service, method)) = path.strip_prefix('/').and_then(|rest| rest.split_once('/')) else {
            return other;
        };
        if let Some(access) = access_rule(service, method) {
            let command = if access.service == ISSUE_SERVICE {
                CommandKind::from_name(access.method).map(CommandKind::as_str)
            } else {
                None
            };
            return CallKind {
                service: access.service,
                method: access.method,
                command,
            };
        }
        OPEN_METHODS
            .iter()
            .find(|(open_service, open_method)| *open_service == service && *open_method == method)
            .map_or(other, |(service, method)| CallKind {
                service,
                method,
                command: None,
            })
    }
}

/// The label value of a `grpc-status` value.
fn code_name(status: &http::HeaderValue) -> &'static str {
    std::str::from_utf8(status.as_bytes())
        .ok()
        .and_then(|text| text.parse::<usize>().ok())
        .and_then(|code| CODE_NAMES.get(code).copied())
        .unwrap_or(UNKNOWN)
}

fn code_in(headers: &HeaderMap) -> Option<&'static str> {
    headers.get(tonic::Status::GRPC_STATUS).map(code_name)
}

/// One call being counted, until its status is known.
#[derive(Debug)]
struct Recording {
    calls: Arc<CallMetrics>,
    kind: CallKind,
    started: Instant,
    /// Set when access control refused the call.
    auth_failure: Option<AuthFailure>,
}

impl Recording {
    fn finish(self, code: &'static str) {
        let Recording {
            calls,
            kind,
            started,
            auth_failure,
        } = self;
        calls
            .rpcs
            .get_or_create(&RpcLabels {
                service: kind.service,
                method: kind.method,
                code,
            })
            .inc();
        if let Some(command) = kind.command {
            calls.commands.get_or_create(&CommandCodeLabels { command, code }).inc();
            calls
                .command_seconds
                .get_or_create(&CommandLabels { command })
                .observe(started.elapsed().as_secs_f64());
        }
        // PERMISSION_DENIED that access control's layer did not answer comes from a
        // service's scope check.
        let reason = match auth_failure {
            Some(failure) => Some(failure),
            None if code == PERMISSION_DENIED => Some(AuthFailure::ScopeDenied),
            None => None,
        };
        if let Some(reason) = reason {
            calls
                .auth_failures
                .get_or_create(&ReasonLabels {
                    reason: reason.as_str(),
                })
                .inc();
        }
    }
}

impl<S, RequestBody, ResponseBody> Service<http::Request<RequestBody>> for MetricsService<S>
where
    S: Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
{
    type Response = http::Response<MetricsBody<ResponseBody>>;
    type Error = S::Error;
    type Future = MetricsFuture<S::Future>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        let recording = self.calls.as_ref().map(|calls| Recording {
            calls: calls.clone(),
            kind: CallKind::of_path(request.uri().path()),
            started: Instant::now(),
            auth_failure: None,
        });
        MetricsFuture {
            inner: Box::pin(self.inner.call(request)),
            recording,
        }
    }
}

/// The response of a [`MetricsService`]: the inner service's, its status counted when known.
#[derive(Debug)]
pub(crate) struct MetricsFuture<F> {
    inner: Pin<Box<F>>,
    recording: Option<Recording>,
}

impl<F, ResponseBody, Error> Future for MetricsFuture<F>
where
    F: Future<Output = Result<http::Response<ResponseBody>, Error>>,
{
    type Output = Result<http::Response<MetricsBody<ResponseBody>>, Error>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let result = match self.inner.as_mut().poll(context) {
            Poll::Ready(result) => result,
            Poll::Pending => return Poll::Pending,
        };
        let recording = self.recording.take();
        Poll::Ready(match result {
            Ok(response) => {
                let recording = recording.map(|mut recording| {
                    recording.auth_failure = response.extensions().get::<AuthFailure>().copied();
                    recording
                });
                // A trailers-only response carries its status in its headers.
                let pending = match (recording, code_in(response.headers())) {
                    (Some(recording), Some(code)) => {
                        recording.finish(code);
                        None
                    }
                    (recording, _) => recording,
                };
                Ok(response.map(|body| MetricsBody {
                    inner: Box::pin(body),
                    recording: pending,
                }))
            }
            Err(error) => {
                if let Some(recording) = recording {
                    recording.finish(UNKNOWN);
                }
                Err(error)
            }
        })
    }
}

impl<F> Drop for MetricsFuture<F> {
    fn drop(&mut self) {
        if let Some(recording) = self.recording.take() {
            recording.finish(CANCELLED);
        }
    }
}

/// A response body whose trailers' `grpc-status` finishes the call's recording.
#[derive(Debug)]
pub(crate) struct MetricsBody<B> {
    inner: Pin<Box<B>>,
    /// The call, while its status is not known yet.
    recording: Option<Recording>,
}

impl<B: Default> Default for MetricsBody<B> {
    fn default() -> Self {
        MetricsBody {
            inner: Box::pin(B::default()),
            recording: None,
        }
    }
}

impl<B: Body> Body for MetricsBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = self.inner.as_mut().poll_frame(context);
        if let Poll::Ready(frame) = &polled {
            let code = match frame {
                Some(Ok(frame)) => frame
                    .trailers_ref()
                    .map(|trailers| code_in(trailers).unwrap_or(UNKNOWN)),
                // The body failed, or ended without trailers: no status was sent.
                Some(Err(_)) | None => Some(UNKNOWN),
            };
            if let Some(code) = code
                && let Some(recording) = self.recording.take()
            {
                recording.finish(code);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for MetricsBody<B> {
    fn drop(&mut self) {
        if let Some(recording) = self.recording.take() {
            recording.finish(CANCELLED);
        }
    }
}

/// Every (service, method) pair the RPC labels can take, but `other`.
#[cfg(test)]
fn known_methods() -> impl Iterator<Item = (&'static str, &'static str)> {
    crate::auth::ACCESS_TABLE
        .iter()
        .map(|access| (access.service, access.method))
        .chain(OPEN_METHODS.iter().copied())
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
