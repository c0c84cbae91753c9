//! The HTTP endpoint of `serve --http`: the read API under `/api/v1/` (JSON and CSV), sign-in sessions, and the analysts' dashboard, served beside gRPC on the same runtime, under the same serving policy, authentication and TLS (docs/api.md#11-http-api).
//!
//! - `api`: the endpoints. Each turns its query into the gRPC request message and calls
//!   the function the gRPC service calls (`stats_service::governance_stats`,
//!   `issue_service::list_issues`, ...), so HTTP and gRPC share one implementation of
//!   every read; only the encoding differs;
//! - `render`: the answers as JSON (the proto field names, through the contract's
//!   descriptors) and as CSV (a header row of the same names);
//! - `session`: who is calling: a bearer token, a session cookie (`POST /session`) or a
//!   client certificate, checked against the principals in force, and the role each
//!   endpoint needs from the access table;
//! - `assets`: the dashboard, embedded in the binary;
//! - `metrics_endpoint`: `GET /metrics`, the Prometheus scrape (`crate::metrics`);
//! - `listener`: the accept loop (plaintext or rustls, HTTP/1.1 and HTTP/2) under the
//!   transport limits, and its graceful shutdown.

mod api;
mod assets;
mod listener;
mod metrics_endpoint;
mod render;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::auth::AuthState;
use crate::districts::Districts;
use crate::governance::LiveGovernance;
use crate::issues::IssueStore;

pub(crate) use listener::{HttpListener, serve_http, tls_acceptor};

/// What the HTTP endpoints read from: the same parts the gRPC services hold.
#[derive(Debug)]
pub(crate) struct HttpContext {
    /// The statistics (`StatsService`'s).
    pub(crate) districts: Arc<Districts>,
    /// The log, the registry and the evidence store (`IssueService`'s and `AuditService`'s).
    pub(crate) store: IssueStore,
    /// The read model behind the issue list (`IssueService`'s).
    pub(crate) governance: Arc<LiveGovernance>,
    /// The principals in force, with `--auth`; `None` lets every request through.
    pub(crate) auth: Option<Arc<AuthState>>,
    /// Signed-in sessions (the `gridledger_session` cookie).
    pub(crate) sessions: session::Sessions,
    /// Whether the endpoint serves HTTPS (the session cookie is then `Secure`).
    pub(crate) tls: bool,
    /// What `GET /metrics` shows.
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
}

impl HttpContext {
    pub(crate) fn new(
        districts: Arc<Districts>,
        store: IssueStore,
        governance: Arc<LiveGovernance>,
        auth: Option<Arc<AuthState>>,
        tls: bool,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        HttpContext {
            districts,
            store,
            governance,
            auth,
            sessions: session::Sessions::default(),
            tls,
            metrics,
        }
    }
}

/// Every route of the HTTP endpoint.
pub(crate) fn router(context: Arc<HttpContext>) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/{*path}", get(assets::asset))
        .route("/api/v1/stats", get(api::stats))
        .route("/api/v1/stats/breakdown", get(api::breakdown))
        .route("/api/v1/issues", get(api::issues))
        .route("/api/v1/issues/{issue_id}", get(api::issue))
        .route("/api/v1/issues/{issue_id}/evidence/{sha256}", get(api::evidence))
        .route("/api/v1/registry", get(api::registry))
        .route("/metrics", get(metrics_endpoint::metrics))
        .route(
            "/session",
            get(session::current).post(session::sign_in).delete(session::sign_out),
        )
        .route("/session/logout", post(session::sign_out))
        .fallback(api::not_found)
        .with_state(context)
}
