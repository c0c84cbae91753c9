//! The read API under `/api/v1/`: each endpoint reads its query into the gRPC request message and calls the very function the gRPC service calls, then writes the answer as JSON or CSV (docs/api.md#11-http-api).
//!
//! | endpoint | gRPC | shared function |
//! |---|---|---|
//! | `GET /api/v1/stats` | `StatsService/GetGovernanceStats` | `stats_service::governance_stats` |
//! | `GET /api/v1/stats/breakdown` | `StatsService/BreakdownGovernanceStats` | `stats_service::breakdown_governance_stats` |
//! | `GET /api/v1/issues` | `IssueService/ListIssues` | `issue_service::list_issues` |
//! | `GET /api/v1/issues/{id}` | `IssueService/GetIssue` and `AuditService/ReplayIssue` | `issue_service::get_issue`, `audit_service::replay_issue` |
//! | `GET /api/v1/issues/{id}/evidence/{sha256}` | `IssueService/GetEvidence` | `evidence_service::get_evidence` |
//!
//! Times in queries are read by `gridledger_api::local_time::parse_instant`: RFC 3339, or
//! a date or local date and time in the time zone of the district the query is about.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use gridledger_api::local_time::parse_instant;
use gridledger_api::{proto, scope_from_proto, timestamp_to_proto};
use gridledger_domain::{JurisdictionCode, Registry, Timestamp};
use gridledger_eventlog::{EventRecord, ZERO_HASH};
use jiff::tz::TimeZone;
use prost::Message;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tonic::Code;

use super::HttpContext;
use super::render::{Proto, cell, columns, csv_response, csv_text, descriptor, json_response};
use super::session::{Endpoint, admit};
use crate::audit_service::replay_issue;
use crate::auth::Principal;
use crate::error::{HttpError, ServiceError};
use crate::evidence_service::get_evidence;
use crate::issue_service::{get_issue, list_issues};
use crate::stats_service::{breakdown_governance_stats, governance_stats};

const STATS: &str = "gridledger.v1.StatsService";
const ISSUES: &str = "gridledger.v1.IssueService";
const AUDIT: &str = "gridledger.v1.AuditService";

const STATS_ENDPOINT: Endpoint = Endpoint {
    name: "GET /api/v1/stats",
    rpcs: &[(STATS, "GetGovernanceStats")],
};
const BREAKDOWN_ENDPOINT: Endpoint = Endpoint {
    name: "GET /api/v1/stats/breakdown",
    rpcs: &[(STATS, "BreakdownGovernanceStats")],
};
const ISSUES_ENDPOINT: Endpoint = Endpoint {
    name: "GET /api/v1/issues",
    rpcs: &[(ISSUES, "ListIssues")],
};
/// An issue with its history: for the roles that may read the issue (GetIssue) or replay
/// it (ReplayIssue).
const ISSUE_ENDPOINT: Endpoint = Endpoint {
    name: "GET /api/v1/issues/{id}",
    rpcs: &[(ISSUES, "GetIssue"), (AUDIT, "ReplayIssue")],
};
/// A photo or video an issue references: for the roles that may read evidence.
const EVIDENCE_ENDPOINT: Endpoint = Endpoint {
    name: "GET /api/v1/issues/{id}/evidence/{sha256}",
    rpcs: &[(ISSUES, "GetEvidence")],
};
/// The registry's names: for every authenticated principal.
const REGISTRY_ENDPOINT: Endpoint = Endpoint {
    name: "GET /api/v1/registry",
    rpcs: &[],
};

/// The filters of both statistics endpoints, as `GetGovernanceStats` takes them.
const STATS_PARAMETERS: &[&str] = &["scope", "category", "period_start", "period_end", "as_of", "format"];

/// The query of a request: each parameter taken at most once, and none unknown.
struct Params {
    pairs: Vec<(String, String)>,
    /// What the endpoint takes, for the message refusing anything else.
    known: &'static [&'static str],
}

impl Params {
    fn of(uri: &Uri, known: &'static [&'static str]) -> Result<Self, HttpError> {
        let pairs = match uri.query() {
            None => Vec::new(),
            Some(_) => {
                axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
                    .map_err(|rejection| {
                        HttpError::new(
                            Code::InvalidArgument,
                            format!("the query string does not decode: {}", rejection.body_text()),
                            None,
                        )
                    })?
                    .0
            }
        };
        let params = Params { pairs, known };
        for (name, _) in &params.pairs {
            if !known.contains(&name.as_str()) {
                return Err(HttpError::new(
                    Code::InvalidArgument,
                    format!(
                        "invalid {name}: this endpoint takes no such parameter; it takes {}",
                        known.join(", ")
                    ),
                    Some(name),
                ));
            }
            if params.pairs.iter().filter(|(other, _)| other == name).count() > 1 {
                return Err(HttpError::new(
                    Code::InvalidArgument,
                    format!("invalid {name}: given more than once"),
                    Some(name),
                ));
            }
        }
        Ok(params)
    }

    /// The value of `name`; an empty value is no value.
    fn get(&self, name: &str) -> Option<&str> {
        debug_assert!(self.known.contains(&name), "{name} is not a parameter of this endpoint");
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    }

    fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_owned()
    }

    /// An instant (`period_start`, `period_end`, `as_of`), read in `zone`.
    fn time(&self, name: &'static str, zone: &TimeZone) -> Result<Option<prost_types::Timestamp>, HttpError> {
        self.get(name)
            .map(|text| parse_instant(name, text, zone).map(timestamp_to_proto))
            .transpose()
            .map_err(|error| HttpError::from(ServiceError::from(error)))
    }

    fn format(&self) -> Result<Format, HttpError> {
        match self.get("format") {
            None | Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some(other) => Err(invalid("format", format!("{other:?} is not json or csv"))),
        }
    }
}

fn invalid(field: &'static str, reason: String) -> HttpError {
    HttpError::from(ServiceError::invalid(field, reason))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

/// The time zone a query's times are read in: that of the district its scope lies in (the
/// principal's own scope when it names none; the node's first district without either).
fn zone_of(registry: &Registry, principal: Option<&Principal>, scope: Option<&JurisdictionCode>) -> TimeZone {
    scope
        .or_else(|| principal.and_then(|principal| principal.scopes.first()))
        .or_else(|| {
            registry
                .districts()
                .first()
                .map(|district| district.code.as_jurisdiction_code())
        })
        .and_then(|code| registry.time_zone_of(code).ok())
        .cloned()
        .unwrap_or(TimeZone::UTC)
}

/// The filters of `GetGovernanceStats` from the query. The scope is checked first, by the
/// same function the gRPC request's is, so that its time zone reads the times.
fn stats_request(
    params: &Params,
    registry: &Registry,
    principal: Option<&Principal>,
) -> Result<proto::GetGovernanceStatsRequest, HttpError> {
    let scope_text = params.text("scope");
    let scope =
        scope_from_proto("scope", &scope_text, registry).map_err(|error| HttpError::from(ServiceError::from(error)))?;
    let zone = zone_of(registry, principal, scope.as_ref());
    Ok(proto::GetGovernanceStatsRequest {
        scope: scope_text,
        category: params.text("category"),
        period_start: params.time("period_start", &zone)?,
        period_end: params.time("period_end", &zone)?,
        as_of: params.time("as_of", &zone)?,
    })
}

/// `GET /api/v1/stats`: `GovernanceStats` as JSON, or its figures as one CSV row.
pub(crate) async fn stats(State(context): State<Arc<HttpContext>>, request: Request) -> Response {
    answer(stats_answer(&context, request).await)
}

async fn stats_answer(context: &HttpContext, request: Request) -> Result<Response, HttpError> {
    let principal = admit(context, request.headers(), request.extensions(), &STATS_ENDPOINT)?;
    let params = Params::of(request.uri(), STATS_PARAMETERS)?;
    let format = params.format()?;
    let grpc_request = stats_request(&params, &context.districts.registry(), principal.as_deref())?;
    let stats = governance_stats(&context.districts, principal.as_deref(), &grpc_request).await?;
    let message = Proto::of("gridledger.v1.GovernanceStats", &stats)?;
    match format {
        Format::Json => Ok(json_response(axum::http::StatusCode::OK, &message)),
        Format::Csv => {
            let header = columns(&descriptor("gridledger.v1.GovernanceStats")?);
            let value = message.to_value()?;
            let row = header.iter().map(|column| cell(&value, column)).collect();
            Ok(csv_response(csv_text(&header, [row]), "gridledger-stats.csv"))
        }
    }
}

const BREAKDOWN_PARAMETERS: &[&str] = &[
    "scope",
    "category",
    "period_start",
    "period_end",
    "as_of",
    "group_by",
    "format",
];

/// The groupings, by the names the HTTP API and the CLI take.
const GROUPINGS: [(&str, proto::GroupBy); 7] = [
    ("district", proto::GroupBy::District),
    ("street", proto::GroupBy::Street),
    ("community", proto::GroupBy::Community),
    ("grid", proto::GroupBy::Grid),
    ("category", proto::GroupBy::Category),
    ("month", proto::GroupBy::Month),
    ("year", proto::GroupBy::Year),
];

fn group_by(params: &Params) -> Result<(&'static str, proto::GroupBy), HttpError> {
    let names: Vec<&str> = GROUPINGS.iter().map(|(name, _)| *name).collect();
    let Some(text) = params.get("group_by") else {
        return Err(invalid("group_by", format!("is required: one of {}", names.join(", "))));
    };
    GROUPINGS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text))
        .copied()
        .ok_or_else(|| invalid("group_by", format!("{text:?} is not one of {}", names.join(", "))))
}

/// `GET /api/v1/stats/breakdown`: `{"rows": [{"key", "stats"}]}` as JSON, or one CSV row
/// per group: the group (its column named by `group_by`), then the figures.
pub(crate) async fn breakdown(State(context): State<Arc<HttpContext>>, request: Request) -> Response {
    answer(breakdown_answer(&context, request).await)
}

async fn breakdown_answer(context: &HttpContext, request: Request) -> Result<Response, HttpError> {
    let principal = admit(context, request.headers(), request.extensions(), &BREAKDOWN_ENDPOINT)?;
    let params = Params::of(request.uri(), BREAKDOWN_PARAMETERS)?;
    let format = params.format()?;
    // As `BreakdownGovernanceStats` checks them: the grouping, then the filters.
    let (group_name, grouping) = group_by(&params)?;
    let filters = stats_request(&params, &context.districts.registry(), principal.as_deref())?;
    let grpc_request = proto::BreakdownGovernanceStatsRequest {
        scope: filters.scope,
        group_by: grouping as i32,
        category: filters.category,
        period_start: filters.period_start,
        period_end: filters.period_end,
        as_of: filters.as_of,
    };
    let rows = breakdown_governance_stats(&context.districts, principal.as_deref(), &grpc_request).await?;
    let message = Proto::of("gridledger.v1.BreakdownGovernanceStatsResponse", &rows)?;
    match format {
        Format::Json => Ok(json_response(axum::http::StatusCode::OK, &message)),
        Format::Csv => {
            let figures = columns(&descriptor("gridledger.v1.GovernanceStats")?);
            let header: Vec<String> = std::iter::once(group_name.to_owned())
                .chain(figures.iter().cloned())
                .collect();
            let value = message.to_value()?;
            let lines = value["rows"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|row| {
                    std::iter::once(cell(row, "key"))
                        .chain(figures.iter().map(|column| cell(&row["stats"], column)))
                        .collect()
                })
                .collect::<Vec<Vec<String>>>();
            Ok(csv_response(
                csv_text(&header, lines),
                &format!("gridledger-breakdown-{group_name}.csv"),
            ))
        }
    }
}

const ISSUES_PARAMETERS: &[&str] = &["scope", "status", "category", "page_size", "page_token", "format"];

/// The header of a CSV page that says where the next page starts (empty on the last).
const NEXT_PAGE_HEADER: &str = "gridledger-next-page-token";

fn status_filter(params: &Params) -> Result<i32, HttpError> {
    let Some(text) = params.get("status") else {
        return Ok(proto::IssueStatus::Unspecified as i32);
    };
    let name = text.to_ascii_uppercase().replace('-', "_");
    match proto::IssueStatus::from_str_name(&name) {
        Some(proto::IssueStatus::Unspecified) | None => Err(invalid(
            "status",
            format!(
                "{text:?} is not one of REPORTED, IN_PROGRESS, IN_DELIBERATION, ESCALATED, RESOLVED, REOPENED, WITHDRAWN"
            ),
        )),
        Some(status) => Ok(status as i32),
    }
}

/// `GET /api/v1/issues`: a page of `ListIssuesResponse` as JSON, or its issues as CSV rows
/// (the next page's token in the `Gridledger-Next-Page-Token` header).
pub(crate) async fn issues(State(context): State<Arc<HttpContext>>, request: Request) -> Response {
    answer(issues_answer(&context, request).await)
}

async fn issues_answer(context: &HttpContext, request: Request) -> Result<Response, HttpError> {
    let principal = admit(context, request.headers(), request.extensions(), &ISSUES_ENDPOINT)?;
    let params = Params::of(request.uri(), ISSUES_PARAMETERS)?;
    let format = params.format()?;
    let page_size = match params.get("page_size") {
        None => 0,
        Some(text) => text
            .parse::<u32>()
            .map_err(|_| invalid("page_size", format!("{text:?} is not a number from 1 to 500")))?,
    };
    let grpc_request = proto::ListIssuesRequest {
        scope: params.text("scope"),
        status: status_filter(&params)?,
        category: params.text("category"),
        page_size,
        page_token: params.text("page_token"),
    };
    let page = list_issues(&context.store, &context.governance, principal.as_deref(), &grpc_request).await?;
    let message = Proto::of("gridledger.v1.ListIssuesResponse", &page)?;
    match format {
        Format::Json => Ok(json_response(axum::http::StatusCode::OK, &message)),
        Format::Csv => {
            let header = columns(&descriptor("gridledger.v1.Issue")?);
            let value = message.to_value()?;
            let lines = value["issues"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|issue| header.iter().map(|column| cell(issue, column)).collect())
                .collect::<Vec<Vec<String>>>();
            let mut response = csv_response(csv_text(&header, lines), "gridledger-issues.csv");
            if let Ok(token) = axum::http::HeaderValue::from_str(&page.next_page_token) {
                response.headers_mut().insert(NEXT_PAGE_HEADER, token);
            }
            Ok(response)
        }
    }
}

/// One event of an issue's history: where it is in the log, what it was, the state it
/// left the issue in, and whether it is linked into both hash chains.
#[derive(Debug, Serialize)]
struct HistoryEntry {
    position: u64,
    revision: u64,
    event_type: String,
    /// Business time (RFC 3339).
    occurred_at: String,
    /// When the log recorded it (RFC 3339).
    recorded_at: String,
    actor_id: String,
    /// `SHA-256(prev_hash || record)`, hex.
    hash: String,
    /// The chain hash of the previous position, hex.
    prev_hash: String,
    /// The hash of the issue's previous event (zeros for its report), hex.
    stream_prev_hash: String,
    /// Whether every check of [`chain_status`] passed.
    chain_ok: bool,
    /// `ok`, or the first check that failed.
    chain_status: String,
    /// The event body (`IssueEventBody`: one member, named by the event).
    event: Option<Proto>,
    /// The issue's state right after the event (`Issue`).
    state: Option<Proto>,
}

/// `GET /api/v1/issues/{id}`: the issue, whether its whole history checks out, and its history.
#[derive(Debug, Serialize)]
struct IssueWithHistory {
    issue: Proto,
    chain_ok: bool,
    history: Vec<HistoryEntry>,
}

/// The columns of a history row before the state's (`state.` + the `Issue` columns).
const HISTORY_COLUMNS: [&str; 11] = [
    "position",
    "revision",
    "event_type",
    "occurred_at",
    "recorded_at",
    "actor_id",
    "hash",
    "prev_hash",
    "stream_prev_hash",
    "chain_ok",
    "chain_status",
];

/// Checks one event of an issue's history against both hash chains, from its exact stored
/// bytes: its hash is SHA-256 of the previous position's hash and its record; the record
/// names its position and the revision that follows the issue's previous event; its
/// `stream_prev_hash` is the hash of the issue's previous event; and its `prev_hash` is
/// the hash the log holds for the previous position. `ok`, or the first that fails.
fn chain_status(
    context: &HttpContext,
    event: &proto::RecordedEvent,
    revision: u64,
    previous_in_stream: &[u8],
) -> Result<(String, EventRecord), HttpError> {
    let record = match EventRecord::decode(event.record.as_slice()) {
        Ok(record) => record,
        Err(error) => {
            return Ok((
                format!("the stored record does not decode: {error}"),
                EventRecord::default(),
            ));
        }
    };
    let computed: [u8; 32] = Sha256::new()
        .chain_update(&event.prev_hash)
        .chain_update(&event.record)
        .finalize()
        .into();
    let status = if computed.as_slice() != event.hash.as_slice() {
        "the hash is not SHA-256(prev_hash || record): the record or its hash was altered".to_owned()
    } else if record.position != event.position {
        format!("the record names position {}, not {}", record.position, event.position)
    } else if record.revision != revision {
        format!(
            "the record is revision {}, where {revision} follows the issue's previous event",
            record.revision
        )
    } else if record.stream_prev_hash.as_slice() != previous_in_stream {
        "stream_prev_hash is not the hash of the issue's previous event".to_owned()
    } else {
        let expected_prev = match event.position {
            0 | 1 => Some(ZERO_HASH),
            position => context
                .store
                .log
                .read_event(position - 1)
                .map_err(|error| HttpError::from(ServiceError::from(error)))?
                .map(|previous| previous.hash),
        };
        match expected_prev {
            Some(hash) if hash.as_slice() == event.prev_hash.as_slice() => "ok".to_owned(),
            Some(_) => format!(
                "prev_hash is not the hash the log holds for position {}",
                event.position.saturating_sub(1)
            ),
            None => format!("the log holds no position {}", event.position.saturating_sub(1)),
        }
    };
    Ok((status, record))
}

/// An instant of the log's record (microseconds) as the JSON mapping writes a
/// `google.protobuf.Timestamp`, like every other time in the answer.
fn time_text(micros: i64) -> Result<String, HttpError> {
    let timestamp = timestamp_to_proto(Timestamp::from_unix_micros(micros));
    let value = Proto::of("google.protobuf.Timestamp", &timestamp)?.to_value()?;
    Ok(value.as_str().unwrap_or_default().to_owned())
}

/// `GET /api/v1/issues/{id}`: the issue (`GetIssue`) and its history (`ReplayIssue`), each
/// event with the state after it and its chain status; as JSON, or one CSV row per event.
pub(crate) async fn issue(
    State(context): State<Arc<HttpContext>>,
    Path(issue_id): Path<String>,
    request: Request,
) -> Response {
    answer(issue_answer(&context, &issue_id, request))
}

fn issue_answer(context: &HttpContext, issue_id: &str, request: Request) -> Result<Response, HttpError> {
    let principal = admit(context, request.headers(), request.extensions(), &ISSUE_ENDPOINT)?;
    let params = Params::of(request.uri(), &["format"])?;
    let format = params.format()?;
    let issue = get_issue(
        &context.store,
        principal.as_deref(),
        &proto::GetIssueRequest {
            issue_id: issue_id.to_owned(),
        },
    )?;
    let steps = replay_issue(
        &context.store,
        principal.as_deref(),
        &proto::ReplayIssueRequest {
            issue_id: issue_id.to_owned(),
            up_to_revision: None,
        },
    )?;
    let mut history = Vec::with_capacity(steps.len());
    let mut previous_in_stream = ZERO_HASH.to_vec();
    for (revision, step) in (0_u64..).zip(&steps) {
        let Some(event) = &step.event else { continue };
        let (status, record) = chain_status(context, event, revision, &previous_in_stream)?;
        previous_in_stream.clone_from(&event.hash);
        history.push(HistoryEntry {
            position: event.position,
            revision: record.revision,
            event_type: record.event_type.clone(),
            occurred_at: time_text(record.occurred_at)?,
            recorded_at: time_text(record.recorded_at)?,
            actor_id: record.actor_id.clone(),
            hash: hex::encode(&event.hash),
            prev_hash: hex::encode(&event.prev_hash),
            stream_prev_hash: hex::encode(&record.stream_prev_hash),
            chain_ok: status == "ok",
            chain_status: status,
            event: event
                .event
                .as_ref()
                .map(|body| Proto::of("gridledger.v1.IssueEventBody", body))
                .transpose()?,
            state: step
                .state
                .as_ref()
                .map(|state| Proto::of("gridledger.v1.Issue", state))
                .transpose()?,
        });
    }
    let answer = IssueWithHistory {
        issue: Proto::of("gridledger.v1.Issue", &issue)?,
        chain_ok: history.iter().all(|entry| entry.chain_ok),
        history,
    };
    match format {
        Format::Json => Ok(json_response(axum::http::StatusCode::OK, &answer)),
        Format::Csv => {
            let state_columns = columns(&descriptor("gridledger.v1.Issue")?);
            let header: Vec<String> = HISTORY_COLUMNS
                .iter()
                .map(|name| (*name).to_owned())
                .chain(state_columns.iter().map(|column| format!("state.{column}")))
                .collect();
            let mut lines = Vec::with_capacity(answer.history.len());
            for entry in &answer.history {
                let value = serde_json::to_value(entry)
                    .map_err(|error| HttpError::new(Code::Internal, format!("cannot write JSON: {error}"), None))?;
                lines.push(header.iter().map(|column| cell(&value, column)).collect());
            }
            Ok(csv_response(
                csv_text(&header, lines),
                &format!("gridledger-issue-{}.csv", issue.issue_id),
            ))
        }
    }
}

/// How long a blob may be cached: it is named by its SHA-256, so it never changes.
const EVIDENCE_CACHE_CONTROL: &str = "private, max-age=31536000, immutable";

/// `GET /api/v1/issues/{id}/evidence/{sha256}`: the blob `sha256` (64 hex digits) that the
/// issue references, as `GetEvidence` streams it: its bytes with its media type, its size,
/// its hex as the ETag (`If-None-Match` with it answers 304), cacheable for good. The scope
/// check is `GetEvidence`'s; a blob found damaged while it is sent cuts the connection (the
/// status line has gone out).
pub(crate) async fn evidence(
    State(context): State<Arc<HttpContext>>,
    Path((issue_id, sha256)): Path<(String, String)>,
    request: Request,
) -> Response {
    answer(evidence_answer(&context, &issue_id, &sha256, request).await)
}

async fn evidence_answer(
    context: &HttpContext,
    issue_id: &str,
    sha256_hex: &str,
    request: Request,
) -> Result<Response, HttpError> {
    use axum::http::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH, X_CONTENT_TYPE_OPTIONS};
    use axum::http::{HeaderValue, StatusCode};

    let principal = admit(context, request.headers(), request.extensions(), &EVIDENCE_ENDPOINT)?;
    Params::of(request.uri(), &[])?;
    let sha256 = match hex::decode(sha256_hex) {
        Ok(bytes) if bytes.len() == 32 => bytes,
        _ => {
            return Err(invalid(
                "sha256",
                format!("{sha256_hex:?} is not a SHA-256 digest: 64 hexadecimal digits"),
            ));
        }
    };
    let grpc_request = proto::GetEvidenceRequest {
        sha256,
        issue_id: issue_id.to_owned(),
    };
    let chunks = get_evidence(
        &context.store,
        &context.store.evidence,
        principal.as_deref(),
        &grpc_request,
    )
    .await?;
    let etag = format!("\"{}\"", hex::encode(&grpc_request.sha256));
    let not_modified = request
        .headers()
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag
        });
    let mut response = if not_modified {
        // Dropping the chunks stops the blob's reader.
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        blob_response(chunks).await?
    };
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(EVIDENCE_CACHE_CONTROL));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(ETAG, value);
    }
    Ok(response)
}

/// The blob `GetEvidence` streams as the body of a 200: its media type and size from the
/// first chunk, then every chunk's bytes as the reader sends them.
async fn blob_response(mut chunks: crate::evidence_service::EvidenceChunks) -> Result<Response, HttpError> {
    use axum::http::HeaderValue;
    use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
    use tokio_stream::StreamExt;

    // The first chunk carries the size and the media type.
    let first = match chunks.next().await {
        Some(Ok(chunk)) => chunk,
        Some(Err(status)) => return Err(HttpError::new(status.code(), status.message(), None)),
        None => {
            return Err(HttpError::new(
                Code::Internal,
                "the blob's stream ended before its first chunk",
                None,
            ));
        }
    };
    let content_type = HeaderValue::from_str(&first.media_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let size = first.size;
    let rest = chunks.map(|chunk| chunk.map(|chunk| axum::body::Bytes::from(chunk.data)));
    let body = tokio_stream::once(Ok(axum::body::Bytes::from(first.data))).chain(rest);
    let mut response = axum::body::Body::from_stream(body).into_response();
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(size));
    Ok(response)
}

/// `GET /api/v1/registry`: the registry the node checks against (districts with their time
/// zones, streets, communities, grids and categories, with their names), in the format of
/// `gridledger registry`, for the dashboard's labels.
pub(crate) async fn registry(State(context): State<Arc<HttpContext>>, request: Request) -> Response {
    let answer = admit(&context, request.headers(), request.extensions(), &REGISTRY_ENDPOINT)
        .and_then(|_| Params::of(request.uri(), &[]))
        .map(|_| json_response(axum::http::StatusCode::OK, &context.districts.registry().to_document()));
    answer.unwrap_or_else(IntoResponse::into_response)
}

/// Anything else: 404 with the error body.
pub(crate) async fn not_found(request: Request) -> Response {
    HttpError::new(
        Code::NotFound,
        format!("no such endpoint: {} {}", request.method(), request.uri().path()),
        None,
    )
    .into_response()
}

fn answer(result: Result<Response, HttpError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}
