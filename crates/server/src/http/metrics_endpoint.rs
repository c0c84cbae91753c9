//! `GET /metrics`: the Prometheus scrape of `crate::metrics`, OpenMetrics or text 0.0.4 by the Accept header; with `--auth`, for any principal in force.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::HttpContext;
use super::session::{Endpoint, admit};

/// Any authenticated principal may scrape (no RPC of the access table names it).
const METRICS_ENDPOINT: Endpoint = Endpoint {
    name: "GET /metrics",
    rpcs: &[],
};

pub(crate) async fn metrics(State(context): State<Arc<HttpContext>>, request: Request) -> Response {
    if let Err(refused) = admit(&context, request.headers(), request.extensions(), &METRICS_ENDPOINT) {
        return refused.into_response();
    }
    let accept = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok());
    match context.metrics.render_for(accept) {
        Ok((content_type, body)) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(error) => {
            tracing::error!(%error, "encoding the metrics failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "encoding the metrics failed\n").into_response()
        }
    }
}
