//! [`Client`]: the one typed client of a gridledger server. It takes domain commands and
//! returns domain results, hides the transport, and keeps the protocol's retry rules in
//! one place: a command is sent again only with the same request id (so the server answers
//! a repeat with the original acknowledgement), and only after a failure that may be
//! transient.
//!
//! [`Client::submit_commands`] sends many commands over one stream (an offline queue being
//! synced): no automatic retry there, because the remedy for a broken stream is to send the
//! whole queue again with the same request ids, which the server answers as it did the
//! first time (the original acknowledgement, or the same refusal).
//!
//! [`ClientOptions`] carry who the client is: a bearer token (`glt_<id>_<secret>`), TLS
//! material for `https://` servers (a CA to trust, a client certificate for mutual TLS),
//! and, without authentication, the actor to record (docs/security.md).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gridledger_codec::WireError;
use gridledger_domain::{IssueCommand, IssueId};
use gridledger_eventlog::merkle::MerkleHash;
use gridledger_eventlog::{RecordedEvent, VerifyReport};
use gridledger_projections::{GovernanceStats, GroupBy, IssueListFilter};
use tonic::metadata::AsciiMetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::ack::Acknowledgement;
use crate::commands::{CommandMeta, IssueReport, WireCommand};
use crate::issue::IssueView;
use crate::metadata::ACTOR_METADATA_KEY;
use crate::node::{NodeStatusView, node_status_from_proto};
use crate::proto;
use crate::proto::audit_service_client::AuditServiceClient;
use crate::proto::issue_service_client::IssueServiceClient;
use crate::proto::node_service_client::NodeServiceClient;
use crate::proto::stats_service_client::StatsServiceClient;
use crate::recorded::{ReplayStep, recorded_from_proto, replay_step_from_proto, verify_report_from_proto};
use crate::stats::{
    BreakdownRow, StatsFilter, breakdown_rows_from_proto, breakdown_to_proto, list_request_to_proto, stats_from_proto,
};
use crate::submit::{SubmitResult, SubmittedCommand};

// `Client::upload_evidence` and `Client::get_evidence`, in a file of their own.
#[path = "evidence_client.rs"]
mod evidence_client;
pub use evidence_client::EvidenceBlob;

/// The trait of the command streams [`Client::submit_commands`] takes (`futures`' `Stream`).
pub use tonic::codegen::tokio_stream::Stream;

/// The status code of a failed call, as gRPC defines them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RpcCode {
    Cancelled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
}

impl RpcCode {
    /// The code's name as gRPC spells it: `FAILED_PRECONDITION`.
    pub const fn name(self) -> &'static str {
        match self {
            RpcCode::Cancelled => "CANCELLED",
            RpcCode::Unknown => "UNKNOWN",
            RpcCode::InvalidArgument => "INVALID_ARGUMENT",
            RpcCode::DeadlineExceeded => "DEADLINE_EXCEEDED",
            RpcCode::NotFound => "NOT_FOUND",
            RpcCode::AlreadyExists => "ALREADY_EXISTS",
            RpcCode::PermissionDenied => "PERMISSION_DENIED",
            RpcCode::ResourceExhausted => "RESOURCE_EXHAUSTED",
            RpcCode::FailedPrecondition => "FAILED_PRECONDITION",
            RpcCode::Aborted => "ABORTED",
            RpcCode::OutOfRange => "OUT_OF_RANGE",
            RpcCode::Unimplemented => "UNIMPLEMENTED",
            RpcCode::Internal => "INTERNAL",
            RpcCode::Unavailable => "UNAVAILABLE",
            RpcCode::DataLoss => "DATA_LOSS",
            RpcCode::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    pub(crate) fn of(code: tonic::Code) -> Self {
        match code {
            tonic::Code::Cancelled => RpcCode::Cancelled,
            tonic::Code::InvalidArgument => RpcCode::InvalidArgument,
            tonic::Code::DeadlineExceeded => RpcCode::DeadlineExceeded,
            tonic::Code::NotFound => RpcCode::NotFound,
            tonic::Code::AlreadyExists => RpcCode::AlreadyExists,
            tonic::Code::PermissionDenied => RpcCode::PermissionDenied,
            tonic::Code::ResourceExhausted => RpcCode::ResourceExhausted,
            tonic::Code::FailedPrecondition => RpcCode::FailedPrecondition,
            tonic::Code::Aborted => RpcCode::Aborted,
            tonic::Code::OutOfRange => RpcCode::OutOfRange,
            tonic::Code::Unimplemented => RpcCode::Unimplemented,
            tonic::Code::Internal => RpcCode::Internal,
            tonic::Code::Unavailable => RpcCode::Unavailable,
            tonic::Code::DataLoss => RpcCode::DataLoss,
            tonic::Code::Unauthenticated => RpcCode::Unauthenticated,
            // `Ok` never comes with an error; anything else is unknown.
            tonic::Code::Ok | tonic::Code::Unknown => RpcCode::Unknown,
        }
    }

    /// The code of its number on the wire (`google.rpc.Code`: 3 is INVALID_ARGUMENT); a
    /// number that is no code is [`RpcCode::Unknown`].
    pub fn from_wire(code: i32) -> Self {
        RpcCode::of(tonic::Code::from_i32(code))
    }

    /// Whether a call that failed with this code may succeed if sent again unchanged.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            RpcCode::Unavailable | RpcCode::Unknown | RpcCode::DeadlineExceeded | RpcCode::Cancelled
        )
    }
}

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server address is not a URL.
    #[error("{url:?} is not a server URL (e.g. http://127.0.0.1:50051)")]
    InvalidUrl {
        url: String,
        #[source]
        source: tonic::codegen::http::uri::InvalidUri,
    },
    /// No connection could be made.
    #[error("cannot connect to {url}")]
    Connect {
        url: String,
        #[source]
        source: tonic::transport::Error,
    },
    /// The actor name cannot travel in a header.
    #[error("the actor {actor:?} must be printable ASCII")]
    InvalidActor { actor: String },
    /// The token cannot travel in a header.
    #[error("the token must be printable ASCII (glt_<id>_<secret>)")]
    InvalidToken,
    /// The TLS options do not fit the URL or each other.
    #[error("{reason}")]
    TlsOptions { reason: String },
    /// The TLS material was refused.
    #[error("cannot use the TLS certificates for {url}")]
    Tls {
        url: String,
        #[source]
        source: tonic::transport::Error,
    },
    /// The server refused or failed the call.
    #[error("{code:?}: {message}")]
    Rpc { code: RpcCode, message: String },
    /// The server's answer does not convert into domain types.
    #[error("the server's answer is malformed")]
    InvalidResponse(#[source] WireError),
}

impl ClientError {
    /// The status code, when the server answered with one.
    pub fn code(&self) -> Option<RpcCode> {
        match self {
            ClientError::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }

    fn of_status(status: &tonic::Status) -> Self {
        ClientError::Rpc {
            code: RpcCode::of(status.code()),
            message: status.message().to_owned(),
        }
    }
}

impl From<WireError> for ClientError {
    fn from(error: WireError) -> Self {
        ClientError::InvalidResponse(error)
    }
}

/// How calls are retried: `attempts` in all (1 = no retry), each limited to `timeout`,
/// waiting `first_backoff`, then twice as long each time (up to 32 times as long).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub timeout: Duration,
    pub first_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            timeout: Duration::from_secs(30),
            first_backoff: Duration::from_millis(100),
        }
    }
}

/// A bearer token; its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// A token as `gridledger auth add` printed it (`glt_<id>_<secret>`).
    pub fn new(token: impl Into<String>) -> Self {
        BearerToken(token.into())
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("BearerToken(<redacted>)")
    }
}

/// TLS material for `https://` servers, PEM-encoded.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientTls {
    /// The CA that signed the server's certificate; `None` trusts the system's roots.
    pub ca_certificate_pem: Option<Vec<u8>>,
    /// For mutual TLS: the client's certificate (its subject CN names the principal) and
    /// its key, both or neither.
    pub client_certificate_pem: Option<Vec<u8>>,
    pub client_key_pem: Option<Vec<u8>>,
    /// The name to check the server's certificate against, when not the URL's host.
    pub domain_name: Option<String>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ClientTls")
            .field("ca_certificate_pem", &self.ca_certificate_pem.as_ref().map(Vec::len))
            .field(
                "client_certificate_pem",
                &self.client_certificate_pem.as_ref().map(Vec::len),
            )
            .field("client_key_pem", &self.client_key_pem.as_ref().map(|_| "<redacted>"))
            .field("domain_name", &self.domain_name)
            .finish()
    }
}

impl ClientTls {
    fn is_empty(&self) -> bool {
        *self == ClientTls::default()
    }
}

/// Who the client is and how it reaches the server.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Recorded as the actor of the commands sent (`x-gridledger-actor`). With
    /// authentication the server records the principal instead, and refuses an actor
    /// naming someone else.
    pub actor: Option<String>,
    /// Sent as `authorization: Bearer …` with every call.
    pub token: Option<BearerToken>,
    /// For `https://` URLs.
    pub tls: ClientTls,
}

/// Adds the actor and authorization headers to every request.
#[derive(Debug, Clone)]
pub struct CallHeaders {
    actor: Option<AsciiMetadataValue>,
    authorization: Option<AsciiMetadataValue>,
}

impl CallHeaders {
    fn of(options: &ClientOptions) -> Result<Self, ClientError> {
        let actor = options
            .actor
            .as_deref()
            .map(|actor| {
                actor
                    .parse::<AsciiMetadataValue>()
                    .map_err(|_| ClientError::InvalidActor {
                        actor: actor.to_owned(),
                    })
            })
            .transpose()?;
        let authorization = options
            .token
            .as_ref()
            .map(|token| {
                let mut value = format!("Bearer {}", token.0)
                    .parse::<AsciiMetadataValue>()
                    .map_err(|_| ClientError::InvalidToken)?;
                value.set_sensitive(true);
                Ok::<_, ClientError>(value)
            })
            .transpose()?;
        Ok(CallHeaders { actor, authorization })
    }
}

impl Interceptor for CallHeaders {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(actor) = &self.actor {
            request.metadata_mut().insert(ACTOR_METADATA_KEY, actor.clone());
        }
        if let Some(authorization) = &self.authorization {
            request.metadata_mut().insert("authorization", authorization.clone());
        }
        Ok(request)
    }
}

type Transport = InterceptedService<Channel, CallHeaders>;

/// A closure calling `method` on a clone of the generated `client` (whose methods take
/// `&mut self`), for [`Client::call`].
macro_rules! unary {
    ($client:ident, $method:ident) => {
        |request| {
            let mut client = $client.clone();
            async move { client.$method(request).await }
        }
    };
}

/// A page of `ListIssues`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuePage {
    pub issues: Vec<IssueView>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next_page_token: Option<IssueId>,
}

/// A typed client of one server; cheap to clone (clones share the connection).
#[derive(Debug, Clone)]
pub struct Client {
    issues: IssueServiceClient<Transport>,
    stats: StatsServiceClient<Transport>,
    audit: AuditServiceClient<Transport>,
    node: NodeServiceClient<Transport>,
    health: HealthClient<Transport>,
    retry: RetryPolicy,
    retries: Arc<AtomicU64>,
}

impl Client {
    /// Connects to `url` without credentials; `actor`, when given, is recorded by the
    /// server as the actor of the commands sent. Shorthand for [`Client::connect_with`].
    pub async fn connect(url: &str, actor: Option<&str>) -> Result<Self, ClientError> {
        let options = ClientOptions {
            actor: actor.map(str::to_owned),
            ..ClientOptions::default()
        };
        Client::connect_with(url, &options).await
    }

    /// Connects to `url` (`http://` or, with TLS, `https://`) as `options` say.
    pub async fn connect_with(url: &str, options: &ClientOptions) -> Result<Self, ClientError> {
        let header = CallHeaders::of(options)?;
        let mut endpoint = Channel::from_shared(url.to_owned()).map_err(|source| ClientError::InvalidUrl {
            url: url.to_owned(),
            source,
        })?;
        let https = endpoint.uri().scheme_str() == Some("https");
        let tls = &options.tls;
        if !https && !tls.is_empty() {
            return Err(ClientError::TlsOptions {
                reason: format!("TLS options were given, but {url} is not an https:// URL"),
            });
        }
        if https {
            let mut config = ClientTlsConfig::new();
            config = match &tls.ca_certificate_pem {
                Some(ca) => config.ca_certificate(Certificate::from_pem(ca)),
                None => config.with_native_roots(),
            };
            match (&tls.client_certificate_pem, &tls.client_key_pem) {
                (Some(certificate), Some(key)) => config = config.identity(Identity::from_pem(certificate, key)),
                (None, None) => {}
                _ => {
                    return Err(ClientError::TlsOptions {
                        reason: "a client certificate needs its key, and a key its certificate".to_owned(),
                    });
                }
            }
            if let Some(domain_name) = &tls.domain_name {
                config = config.domain_name(domain_name.clone());
            }
            endpoint = endpoint.tls_config(config).map_err(|source| ClientError::Tls {
                url: url.to_owned(),
                source,
            })?;
        }
        let channel = endpoint.connect().await.map_err(|source| ClientError::Connect {
            url: url.to_owned(),
            source,
        })?;
        Ok(Client {
            issues: IssueServiceClient::with_interceptor(channel.clone(), header.clone()),
            stats: StatsServiceClient::with_interceptor(channel.clone(), header.clone()),
            audit: AuditServiceClient::with_interceptor(channel.clone(), header.clone()),
            node: NodeServiceClient::with_interceptor(channel.clone(), header.clone()),
            health: HealthClient::with_interceptor(channel, header),
            retry: RetryPolicy::default(),
            retries: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The same client with another retry policy.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// How many attempts this client (and its clones) repeated after transient failures.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Sends one unary call, retrying transient failures with the same request.
    async fn call<Request, Response, Call, Answer>(&self, request: Request, call: Call) -> Result<Response, ClientError>
    where
        Request: Clone,
        Call: Fn(tonic::Request<Request>) -> Answer,
        Answer: Future<Output = Result<tonic::Response<Response>, tonic::Status>>,
    {
        let attempts = self.retry.attempts.max(1);
        let mut backoff = self.retry.first_backoff;
        let mut attempt = 1;
        loop {
            let mut wire_request = tonic::Request::new(request.clone());
            wire_request.set_timeout(self.retry.timeout);
            let outcome = match tokio::time::timeout(self.retry.timeout, call(wire_request)).await {
                Ok(Ok(response)) => return Ok(response.into_inner()),
                Ok(Err(status)) => ClientError::of_status(&status),
                Err(_elapsed) => ClientError::Rpc {
                    code: RpcCode::DeadlineExceeded,
                    message: format!("no answer within {:?}", self.retry.timeout),
                },
            };
            let transient = outcome.code().is_some_and(RpcCode::is_transient);
            if !transient || attempt >= attempts {
                return Err(outcome);
            }
            tracing::warn!(error = %outcome, attempt, "retrying a call after a transient failure");
            self.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.retry.first_backoff * 32);
            attempt += 1;
        }
    }

    /// Reports a new issue; the acknowledgement names its id (chosen by the server when the
    /// report has none).
    pub async fn report(&self, meta: &CommandMeta, report: &IssueReport) -> Result<Acknowledgement, ClientError> {
        self.send_wire(WireCommand::ReportIssue(report.to_proto(meta))).await
    }

    /// Sends a lifecycle command (or a report built with a registry) for `issue_id`.
    pub async fn send(
        &self,
        issue_id: IssueId,
        meta: &CommandMeta,
        command: &IssueCommand,
    ) -> Result<Acknowledgement, ClientError> {
        self.send_wire(WireCommand::of(issue_id, meta, command)).await
    }

    async fn send_wire(&self, command: WireCommand) -> Result<Acknowledgement, ClientError> {
        let issues = &self.issues;
        let ack = match command {
            WireCommand::ReportIssue(request) => self.call(request, unary!(issues, report_issue)).await?,
            WireCommand::HandleInGrid(request) => self.call(request, unary!(issues, handle_in_grid)).await?,
            WireCommand::DispatchIssue(request) => self.call(request, unary!(issues, dispatch_issue)).await?,
            WireCommand::AcceptAssignment(request) => self.call(request, unary!(issues, accept_assignment)).await?,
            WireCommand::ConveneDeliberation(request) => {
                self.call(request, unary!(issues, convene_deliberation)).await?
            }
            WireCommand::ConcludeDeliberation(request) => {
                self.call(request, unary!(issues, conclude_deliberation)).await?
            }
            WireCommand::EscalateIssue(request) => self.call(request, unary!(issues, escalate_issue)).await?,
            WireCommand::RecordCommitteeDecision(request) => {
                self.call(request, unary!(issues, record_committee_decision)).await?
            }
            WireCommand::ResolveIssue(request) => self.call(request, unary!(issues, resolve_issue)).await?,
            WireCommand::EvaluateResolution(request) => self.call(request, unary!(issues, evaluate_resolution)).await?,
            WireCommand::ReopenIssue(request) => self.call(request, unary!(issues, reopen_issue)).await?,
            WireCommand::WithdrawIssue(request) => self.call(request, unary!(issues, withdraw_issue)).await?,
        };
        Ok(Acknowledgement::try_from(ack)?)
    }

    /// Sends `commands` over one `SubmitCommands` stream as the stream yields them, and
    /// returns their results as they come ([`SubmitResults`]).
    ///
    /// - Every command is answered once, under its request id, with the acknowledgement or
    ///   the refusal its unary call would have given; a refused command never ends the
    ///   stream.
    /// - Commands on the same issue are applied in the order sent; commands on different
    ///   issues may be applied at once, so results come in the order they complete, not in
    ///   the order sent: match them to commands by request id.
    /// - The server takes commands only as fast as it applies them (a bounded window in
    ///   flight); a faster stream just waits to be read.
    /// - When `commands` ends, the server finishes and answers what it has, then ends the
    ///   results.
    /// - Nothing is retried. If the stream breaks ([`SubmitResults::next`] fails), send the
    ///   whole queue again on a new stream with the same request ids: what was applied
    ///   comes back as its original acknowledgement (`duplicate: true`), what was refused is
    ///   refused again the same way, and the rest is applied, in order.
    pub async fn submit_commands<Commands>(&self, commands: Commands) -> Result<SubmitResults, ClientError>
    where
        Commands: Stream<Item = SubmittedCommand> + Send + 'static,
    {
        use tonic::codegen::tokio_stream::StreamExt;
        let requests = commands.map(SubmittedCommand::into_proto);
        let mut issues = self.issues.clone();
        // The stream opens as soon as the server answers with its headers; only that waits
        // for at most the policy's timeout, not the commands.
        let opening = issues.submit_commands(requests);
        let response = match tokio::time::timeout(self.retry.timeout, opening).await {
            Ok(Ok(response)) => response,
            Ok(Err(status)) => return Err(ClientError::of_status(&status)),
            Err(_elapsed) => {
                return Err(ClientError::Rpc {
                    code: RpcCode::DeadlineExceeded,
                    message: format!("the server did not open the stream within {:?}", self.retry.timeout),
                });
            }
        };
        Ok(SubmitResults {
            stream: response.into_inner(),
        })
    }

    /// [`Client::submit_commands`] for a queue at hand (a list read from a file, say).
    pub async fn submit_command_list<Commands>(&self, commands: Commands) -> Result<SubmitResults, ClientError>
    where
        Commands: IntoIterator<Item = SubmittedCommand>,
        Commands::IntoIter: Send + 'static,
    {
        self.submit_commands(tonic::codegen::tokio_stream::iter(commands)).await
    }

    /// An issue's current state.
    pub async fn get_issue(&self, issue_id: IssueId) -> Result<IssueView, ClientError> {
        let request = proto::GetIssueRequest {
            issue_id: issue_id.to_string(),
        };
        let issues = &self.issues;
        let issue = self.call(request, unary!(issues, get_issue)).await?;
        Ok(IssueView::try_from(issue)?)
    }

    /// A page of the issues matching `filter`, in report order, after the issue `after`.
    pub async fn list_issues(
        &self,
        filter: &IssueListFilter,
        page_size: u32,
        after: Option<IssueId>,
    ) -> Result<IssuePage, ClientError> {
        let request = list_request_to_proto(filter, page_size, after);
        let issues = &self.issues;
        let page = self.call(request, unary!(issues, list_issues)).await?;
        let next_page_token = if page.next_page_token.is_empty() {
            None
        } else {
            Some(crate::commands::parse_issue_id(
                "next_page_token",
                &page.next_page_token,
            )?)
        };
        Ok(IssuePage {
            issues: page
                .issues
                .into_iter()
                .map(IssueView::try_from)
                .collect::<Result<_, _>>()?,
            next_page_token,
        })
    }

    /// The governance figures for `filter`.
    pub async fn governance_stats(&self, filter: &StatsFilter) -> Result<GovernanceStats, ClientError> {
        let stats = &self.stats;
        let figures = self
            .call(filter.to_proto(), unary!(stats, get_governance_stats))
            .await?;
        Ok(stats_from_proto(&figures))
    }

    /// The governance figures for `filter`, one row per group.
    pub async fn breakdown(&self, filter: &StatsFilter, group_by: GroupBy) -> Result<Vec<BreakdownRow>, ClientError> {
        let stats = &self.stats;
        let rows = self
            .call(
                breakdown_to_proto(filter, group_by),
                unary!(stats, breakdown_governance_stats),
            )
            .await?;
        Ok(breakdown_rows_from_proto(rows)?)
    }

    /// Every event of an issue, as stored.
    pub async fn issue_history(&self, issue_id: IssueId) -> Result<Vec<RecordedEvent>, ClientError> {
        let request = proto::ReadIssueHistoryRequest {
            issue_id: issue_id.to_string(),
        };
        let audit = &self.audit;
        let mut stream = self.call(request, unary!(audit, read_issue_history)).await?;
        let mut events = Vec::new();
        while let Some(event) = stream
            .message()
            .await
            .map_err(|status| ClientError::of_status(&status))?
        {
            events.push(recorded_from_proto(event)?);
        }
        Ok(events)
    }

    /// An issue's events with its state after each, up to `up_to_revision` if given.
    pub async fn replay_issue(
        &self,
        issue_id: IssueId,
        up_to_revision: Option<u64>,
    ) -> Result<Vec<ReplayStep>, ClientError> {
        let request = proto::ReplayIssueRequest {
            issue_id: issue_id.to_string(),
            up_to_revision,
        };
        let audit = &self.audit;
        let mut stream = self.call(request, unary!(audit, replay_issue)).await?;
        let mut steps = Vec::new();
        while let Some(step) = stream
            .message()
            .await
            .map_err(|status| ClientError::of_status(&status))?
        {
            steps.push(replay_step_from_proto(step)?);
        }
        Ok(steps)
    }

    /// The log from `from_position` (at most `limit` events, 0 for all); with `follow`,
    /// then every event as it commits, until dropped.
    pub async fn read_all(&self, from_position: u64, limit: u64, follow: bool) -> Result<EventStream, ClientError> {
        let request = proto::ReadAllRequest {
            from_position,
            limit,
            follow,
        };
        let audit = &self.audit;
        let stream = self.call(request, unary!(audit, read_all)).await?;
        Ok(EventStream { stream })
    }

    /// Verifies the chains over `from..=to` (0 for the start or the head).
    pub async fn verify_log(&self, from_position: u64, to_position: u64) -> Result<VerifyReport, ClientError> {
        let request = proto::VerifyLogRequest {
            from_position,
            to_position,
        };
        let audit = &self.audit;
        let report = self.call(request, unary!(audit, verify_log)).await?;
        Ok(verify_report_from_proto(report)?)
    }

    /// The newest checkpoint as the server sent it: check the note with
    /// [`crate::checkpoint::parse_and_verify_note`] before trusting anything in it.
    pub async fn checkpoint(&self) -> Result<ServedCheckpoint, ClientError> {
        let audit = &self.audit;
        let checkpoint = self
            .call(proto::GetCheckpointRequest {}, unary!(audit, get_checkpoint))
            .await?;
        Ok(ServedCheckpoint {
            note: checkpoint.note,
            tree_size: checkpoint.tree_size,
            root_hash: merkle_hash_from_proto("root_hash", &checkpoint.root_hash)?,
        })
    }

    /// The inclusion proof of the event at `position` in the tree of `tree_size` leaves (0
    /// for the newest checkpoint's size).
    pub async fn inclusion_proof(&self, position: u64, tree_size: u64) -> Result<ServedInclusionProof, ClientError> {
        let audit = &self.audit;
        let proof = self
            .call(
                proto::GetInclusionProofRequest { position, tree_size },
                unary!(audit, get_inclusion_proof),
            )
            .await?;
        Ok(ServedInclusionProof {
            leaf_index: proof.leaf_index,
            tree_size: proof.tree_size,
            hashes: merkle_hashes_from_proto(&proof.hashes)?,
        })
    }

    /// The consistency proof from the tree of `first_size` leaves to the tree of
    /// `second_size`.
    pub async fn consistency_proof(&self, first_size: u64, second_size: u64) -> Result<Vec<MerkleHash>, ClientError> {
        let audit = &self.audit;
        let proof = self
            .call(
                proto::GetConsistencyProofRequest {
                    first_size,
                    second_size,
                },
                unary!(audit, get_consistency_proof),
            )
            .await?;
        Ok(merkle_hashes_from_proto(&proof.hashes)?)
    }

    /// `grpc.health.v1.Health/Check` of `service` ("" for the server as a whole): true
    /// when it answers SERVING, false for any other status. An unknown service is NOT_FOUND.
    pub async fn health_check(&self, service: &str) -> Result<bool, ClientError> {
        let request = tonic_health::pb::HealthCheckRequest {
            service: service.to_owned(),
        };
        let health = &self.health;
        let answer = self.call(request, unary!(health, check)).await?;
        Ok(answer.status() == ServingStatus::Serving)
    }

    /// The node's role and how each of its components is doing.
    pub async fn node_status(&self) -> Result<NodeStatusView, ClientError> {
        let node = &self.node;
        let status = self
            .call(proto::GetNodeStatusRequest {}, unary!(node, get_node_status))
            .await?;
        Ok(node_status_from_proto(status))
    }
}

/// A checkpoint as a server sent it (`GetCheckpoint`). Only `note` is signed; `tree_size`
/// and `root_hash` are the server's word for what the note says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedCheckpoint {
    /// The note exactly as signed (the text alone when the server signs nothing).
    pub note: Vec<u8>,
    pub tree_size: u64,
    pub root_hash: MerkleHash,
}

/// An inclusion proof as a server sent it (`GetInclusionProof`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedInclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    /// The audit path, bottom up.
    pub hashes: Vec<MerkleHash>,
}

fn merkle_hash_from_proto(field: &'static str, bytes: &[u8]) -> Result<MerkleHash, WireError> {
    MerkleHash::try_from(bytes).map_err(|_| WireError::invalid(field, format!("{} bytes, a hash has 32", bytes.len())))
}

fn merkle_hashes_from_proto(hashes: &[Vec<u8>]) -> Result<Vec<MerkleHash>, WireError> {
    hashes
        .iter()
        .map(|hash| merkle_hash_from_proto("hashes", hash))
        .collect()
}

/// Events streamed by [`Client::read_all`].
#[derive(Debug)]
pub struct EventStream {
    stream: tonic::Streaming<proto::RecordedEvent>,
}

impl EventStream {
    /// The next event; `None` when the stream ends.
    pub async fn next(&mut self) -> Result<Option<RecordedEvent>, ClientError> {
        match self.stream.message().await {
            Ok(Some(event)) => Ok(Some(recorded_from_proto(event)?)),
            Ok(None) => Ok(None),
            Err(status) => Err(ClientError::of_status(&status)),
        }
    }
}

/// The results of [`Client::submit_commands`], in the order the server sends them (the
/// order commands complete).
#[derive(Debug)]
pub struct SubmitResults {
    stream: tonic::Streaming<proto::SubmitCommandsResponse>,
}

impl SubmitResults {
    /// The next command's result; `None` once every command sent has been answered and the
    /// stream has ended. An error means the stream broke (the server went away or is
    /// shutting down, the connection was cut): the commands not answered yet may or may not
    /// have been applied, so send them again with the same request ids.
    pub async fn next(&mut self) -> Result<Option<SubmitResult>, ClientError> {
        match self.stream.message().await {
            Ok(Some(response)) => Ok(Some(SubmitResult::try_from(response)?)),
            Ok(None) => Ok(None),
            Err(status) => Err(ClientError::of_status(&status)),
        }
    }

    /// Every result still to come, until the stream ends.
    pub async fn collect_all(mut self) -> Result<Vec<SubmitResult>, ClientError> {
        let mut results = Vec::new();
        while let Some(result) = self.next().await? {
            results.push(result);
        }
        Ok(results)
    }
}
