//! The HTTP read API and dashboard of `serve --http`, end to end: a real server (sled in a temp dir, gRPC and HTTP on 127.0.0.1 port 0) over a seeded district; every endpoint's JSON and CSV checked, through one `check`, against the gRPC answer to the same query; errors; authentication (tokens, session cookies, scopes, revocation); TLS; the embedded assets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use gridledger_api::proto;
use gridledger_api::proto::audit_service_client::AuditServiceClient;
use gridledger_api::proto::issue_service_client::IssueServiceClient;
use gridledger_api::proto::stats_service_client::StatsServiceClient;
use gridledger_domain::{JurisdictionCode, Registry, Timestamp};
use gridledger_server::auth::{ReloadEvent, hash_secret_hex, parse_token, token_for};
use gridledger_server::{AuthConfig, RunningServer, ServerConfig, ServerError, TlsConfig};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MessageDescriptor, SerializeOptions};
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;
use tonic::transport::Channel;

const DAY_SECONDS: i64 = 86_400;

// ---------------------------------------------------------------------------------------
// The server and its data.

/// A server with its HTTP endpoint, its gRPC channel and its data directory.
struct Fixture {
    _directory: tempfile::TempDir,
    server: RunningServer,
    channel: Channel,
    http: SocketAddr,
    /// With TLS: how to reach the HTTP endpoint.
    tls: Option<tokio_rustls::TlsConnector>,
    /// With `--auth`: the principals file and its reloads.
    principals_file: Option<std::path::PathBuf>,
    reloads: Option<UnboundedReceiver<ReloadEvent>>,
}

/// What a fixture is started with.
#[derive(Default)]
struct Setup {
    /// Principals `(id, role, scopes)`; their tokens are [`token_of`]. None: no `--auth`.
    principals: Option<Vec<(&'static str, &'static str, Vec<&'static str>)>>,
    /// The server's TLS material, and the CA the test's client trusts.
    tls: Option<(TlsConfig, Vec<u8>)>,
}

/// The token of principal `id` in these tests.
fn token_of(id: &str) -> String {
    let mut secret = [0_u8; 32];
    for (index, byte) in id.bytes().enumerate() {
        secret[index % 32] ^= byte;
    }
    secret[31] = 0x5a;
    token_for(id, &secret)
}

fn principals_json(principals: &[(&str, &str, Vec<&str>)]) -> anyhow::Result<String> {
    let mut entries = Vec::new();
    for (id, role, scopes) in principals {
        let token = token_of(id);
        let (_, secret) = parse_token(&token).ok_or_else(|| anyhow::anyhow!("a test token parses"))?;
        entries.push(json!({"id": id, "role": role, "scopes": scopes, "token_sha256": hash_secret_hex(secret)}));
    }
    Ok(serde_json::to_string_pretty(&json!({ "principals": entries }))?)
}

impl Fixture {
    async fn start(setup: Setup) -> anyhow::Result<Fixture> {
        let directory = tempfile::tempdir()?;
        let (auth, principals_file, reloads) = match &setup.principals {
            None => (None, None, None),
            Some(principals) => {
                let path = directory.path().join("principals.json");
                std::fs::write(&path, principals_json(principals)?)?;
                let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
                let auth = AuthConfig {
                    reload_interval: Some(Duration::from_millis(20)),
                    reload_on_sighup: false,
                    reload_events: Some(sender),
                    ..AuthConfig::new(&path)
                };
                (Some(auth), Some(path), Some(receiver))
            }
        };
        let tls_connector = match &setup.tls {
            None => None,
            Some((_, trusted_ca)) => Some(tls_connector(trusted_ca)?),
        };
        let config = ServerConfig {
            data_dir: directory.path().join("data"),
            listen: "127.0.0.1:0".parse()?,
            http: Some("127.0.0.1:0".parse()?),
            registry: Registry::builtin_runzhou(),
            auth,
            tls: setup.tls.map(|(tls, _)| tls),
            insecure_allow_non_loopback: false,
            nats: None,
            checkpoints: gridledger_server::CheckpointConfig::default(),
        };
        let server = gridledger_server::start(config, std::future::pending()).await?;
        let http = server
            .http_addr
            .ok_or_else(|| anyhow::anyhow!("the server has no HTTP address"))?;
        let channel = if tls_connector.is_some() {
            // gRPC is not what these tests look at over TLS; a channel that is never used.
            Channel::from_static("http://127.0.0.1:9").connect_lazy()
        } else {
            Channel::from_shared(format!("http://{}", server.local_addr))?
                .connect()
                .await?
        };
        Ok(Fixture {
            _directory: directory,
            server,
            channel,
            http,
            tls: tls_connector,
            principals_file,
            reloads,
        })
    }

    fn issues(&self) -> IssueServiceClient<Channel> {
        IssueServiceClient::new(self.channel.clone())
    }

    /// A gRPC request carrying `token` when given.
    fn request<T>(message: T, token: Option<&str>) -> anyhow::Result<tonic::Request<T>> {
        let mut request = tonic::Request::new(message);
        if let Some(token) = token {
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse()?);
        }
        Ok(request)
    }

    /// Rewrites the principals file and waits until the server has reloaded it.
    async fn replace_principals(&mut self, principals: &[(&str, &str, Vec<&str>)]) -> anyhow::Result<()> {
        let path = self
            .principals_file
            .clone()
            .ok_or_else(|| anyhow::anyhow!("no principals file"))?;
        std::fs::write(&path, principals_json(principals)?)?;
        let reloads = self.reloads.as_mut().ok_or_else(|| anyhow::anyhow!("no reloads"))?;
        loop {
            match reloads.recv().await {
                Some(ReloadEvent::Reloaded { principals: count }) if count == principals.len() => return Ok(()),
                Some(ReloadEvent::Refused { error }) => anyhow::bail!("the principals file was refused: {error}"),
                Some(_) => {}
                None => anyhow::bail!("the server stopped reloading"),
            }
        }
    }
}

fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| i64::try_from(since.as_secs()).unwrap_or(0))
        .unwrap_or(0)
}

fn at(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

fn meta(occurred_at: i64) -> Option<proto::CommandMeta> {
    Some(proto::CommandMeta {
        request_id: uuid::Uuid::now_v7().to_string(),
        expected_revision: None,
        occurred_at: at(occurred_at),
    })
}

const GRIDS: [&str; 4] = [
    "runzhou.s1.c01.g01",
    "runzhou.s1.c02.g03",
    "runzhou.s4.c01.g02",
    "runzhou.s7.c03.g01",
];
const CATEGORIES: [&str; 3] = ["environment", "dispute", "work-safety"];

/// Reports issues `range` over the year before now, across grids and categories, and walks
/// them: handled in the grid, deliberated and resolved and evaluated, dispatched and left
/// overdue, or left as reported. Their ids, in order.
async fn seed(fixture: &Fixture, range: std::ops::Range<i64>) -> anyhow::Result<Vec<String>> {
    let mut issues = fixture.issues();
    let base = now_seconds() - 400 * DAY_SECONDS;
    let mut ids = Vec::new();
    for index in range {
        let reported = base + index * 15 * DAY_SECONDS;
        let position = usize::try_from(index)?;
        let ack = issues
            .report_issue(proto::ReportIssueRequest {
                meta: meta(reported),
                issue_id: String::new(),
                grid_code: GRIDS[position % GRIDS.len()].to_owned(),
                category: CATEGORIES[position % CATEGORIES.len()].to_owned(),
                title: format!("issue {index}, \"quoted\", with a comma"),
                description: "seeded by tests/http_api.rs".to_owned(),
                reporter_id: "worker-1".to_owned(),
                ..Default::default()
            })
            .await?
            .into_inner();
        let issue_id = ack.issue_id.clone();
        match index % 4 {
            0 => {
                issues
                    .handle_in_grid(proto::HandleInGridRequest {
                        meta: meta(reported + DAY_SECONDS),
                        issue_id: issue_id.clone(),
                        summary: "fixed on the spot".to_owned(),
                        ..Default::default()
                    })
                    .await?;
            }
            1 => {
                let meeting_id = format!("meeting-{}", index / 8);
                issues
                    .convene_deliberation(proto::ConveneDeliberationRequest {
                        meta: meta(reported + DAY_SECONDS),
                        issue_id: issue_id.clone(),
                        meeting_id: meeting_id.clone(),
                        forum: proto::Forum::ResidentRepresentativeMeeting as i32,
                        parties: vec!["residents".to_owned()],
                    })
                    .await?;
                issues
                    .conclude_deliberation(proto::ConcludeDeliberationRequest {
                        meta: meta(reported + 2 * DAY_SECONDS),
                        issue_id: issue_id.clone(),
                        meeting_id,
                        participants: 12,
                        outcome: "agreed".to_owned(),
                        minutes: String::new(),
                    })
                    .await?;
                issues
                    .resolve_issue(proto::ResolveIssueRequest {
                        meta: meta(reported + 5 * DAY_SECONDS),
                        issue_id: issue_id.clone(),
                        summary: "done".to_owned(),
                        ..Default::default()
                    })
                    .await?;
                issues
                    .evaluate_resolution(proto::EvaluateResolutionRequest {
                        meta: meta(reported + 6 * DAY_SECONDS),
                        issue_id: issue_id.clone(),
                        satisfaction: proto::Satisfaction::Satisfied as i32,
                        evaluator_id: "resident-1".to_owned(),
                        comment: String::new(),
                    })
                    .await?;
            }
            2 => {
                issues
                    .dispatch_issue(proto::DispatchIssueRequest {
                        meta: meta(reported + DAY_SECONDS),
                        issue_id: issue_id.clone(),
                        assignee_id: "sanitation-team".to_owned(),
                        due_at: at(reported + 3 * DAY_SECONDS),
                    })
                    .await?;
            }
            _ => {}
        }
        ids.push(issue_id);
    }
    Ok(ids)
}

/// A JPEG of `length` bytes: its first bytes make it one, the rest a pattern.
fn photo(length: usize) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00];
    bytes.extend((0..length.saturating_sub(bytes.len())).map(|index| (index % 251) as u8));
    bytes
}

/// Where the photographed issues were reported (inside the district's bounding box).
fn photo_location() -> proto::Location {
    proto::Location {
        latitude: 32.2,
        longitude: 119.45,
        coordinate_system: proto::CoordinateSystem::Gcj02 as i32,
        accuracy_m: Some(8.5),
        address: "3 Jinshan Rd, stairwell B".to_owned(),
    }
}

/// Uploads `bytes` over gRPC (in chunks of 512 KiB, with `token` when given), then reports
/// an issue in `grid` that references the photo, with [`photo_location`]: the issue's id and
/// the photo's ref.
async fn report_with_photo(
    channel: &Channel,
    token: Option<&str>,
    grid: &str,
    bytes: &[u8],
) -> anyhow::Result<(String, proto::EvidenceRef)> {
    let mut issues = IssueServiceClient::new(channel.clone());
    let size = u64::try_from(bytes.len())?;
    let chunks: Vec<proto::EvidenceChunk> = bytes
        .chunks(512 * 1024)
        .enumerate()
        .map(|(index, data)| proto::EvidenceChunk {
            size: if index == 0 { size } else { 0 },
            media_type: String::new(),
            data: data.to_vec(),
        })
        .collect();
    let reference = issues
        .upload_evidence(Fixture::request(tokio_stream::iter(chunks), token)?)
        .await?
        .into_inner();
    let ack = issues
        .report_issue(Fixture::request(
            proto::ReportIssueRequest {
                meta: meta(now_seconds() - DAY_SECONDS),
                grid_code: grid.to_owned(),
                category: "environment".to_owned(),
                title: "rubbish in the stairwell".to_owned(),
                reporter_id: "worker-1".to_owned(),
                location: Some(photo_location()),
                evidence: vec![reference.clone()],
                ..Default::default()
            },
            token,
        )?)
        .await?
        .into_inner();
    Ok((ack.issue_id, reference))
}

// ---------------------------------------------------------------------------------------
// A small HTTP/1.1 client.

/// An HTTP answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: hyper::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body)
            .map_err(|error| anyhow::anyhow!("{error}: {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok().map(str::to_owned))
            .collect()
    }
}

fn tls_connector(ca_pem: &[u8]) -> anyhow::Result<tokio_rustls::TlsConnector> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(certificate?)?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

async fn exchange<I>(io: I, request: hyper::Request<Full<Bytes>>) -> anyhow::Result<Reply>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await?.to_bytes().to_vec();
    Ok(Reply { status, headers, body })
}

impl Fixture {
    /// `method path` with `headers` and `body`, on a connection of its own.
    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, String)>,
    ) -> anyhow::Result<Reply> {
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.http.to_string());
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let body = match body {
            Some((content_type, text)) => {
                builder = builder.header("content-type", content_type);
                Full::new(Bytes::from(text))
            }
            None => Full::new(Bytes::new()),
        };
        let request = builder.body(body)?;
        let stream = tokio::net::TcpStream::connect(self.http).await?;
        match &self.tls {
            None => exchange(stream, request).await,
            Some(connector) => {
                let name = rustls::pki_types::ServerName::try_from("localhost")?;
                exchange(connector.connect(name, stream).await?, request).await
            }
        }
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> anyhow::Result<Reply> {
        self.send("GET", path, headers, None).await
    }
}

// ---------------------------------------------------------------------------------------
// What the gRPC answer looks like over HTTP: the protobuf JSON mapping with the proto
// field names, every scalar written, 64-bit integers as numbers (docs/api.md#11-http-api).

fn pool() -> anyhow::Result<DescriptorPool> {
    Ok(DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET)?)
}

fn descriptor(name: &str) -> anyhow::Result<MessageDescriptor> {
    pool()?
        .get_message_by_name(name)
        .ok_or_else(|| anyhow::anyhow!("no message {name}"))
}

fn expected_json<M: Message>(name: &str, message: &M) -> anyhow::Result<Value> {
    let dynamic = DynamicMessage::decode(descriptor(name)?, message.encode_to_vec().as_slice())?;
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(false)
        .stringify_64_bit_integers(false);
    Ok(dynamic.serialize_with_options(serde_json::value::Serializer, &options)?)
}

/// The CSV columns of a message, as docs/api.md lists them: fields in number order, a
/// nested message's as `field.subfield`, a timestamp as one column.
fn expected_columns(message: &MessageDescriptor, prefix: &str) -> Vec<String> {
    let mut columns = Vec::new();
    for field in message.fields() {
        let name = format!("{prefix}{}", field.name());
        match field.kind() {
            Kind::Message(nested) if !field.is_list() && nested.full_name() != "google.protobuf.Timestamp" => {
                columns.extend(expected_columns(&nested, &format!("{name}.")));
            }
            _ => columns.push(name),
        }
    }
    columns
}

/// The CSV text of a JSON value at a dotted path.
fn expected_cell(value: &Value, path: &str) -> String {
    let mut current = value;
    for key in path.split('.') {
        match current.get(key) {
            Some(next) => current = next,
            None => return String::new(),
        }
    }
    match current {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// RFC 4180: rows of fields (quoted fields may hold commas, quotes and line breaks).
fn parse_csv(text: &str) -> anyhow::Result<Vec<Vec<String>>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut characters = text.chars().peekable();
    while let Some(character) = characters.next() {
        match (quoted, character) {
            (true, '"') if characters.peek() == Some(&'"') => {
                characters.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, other) => field.push(other),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, other) => field.push(other),
        }
    }
    anyhow::ensure!(
        !quoted && field.is_empty() && row.is_empty(),
        "the CSV does not end with a line break"
    );
    Ok(rows)
}

// ---------------------------------------------------------------------------------------
// One check: an HTTP query against the gRPC answer to the same query.

/// A read, as HTTP and gRPC each ask it.
enum Query {
    Stats(proto::GetGovernanceStatsRequest),
    Breakdown(proto::BreakdownGovernanceStatsRequest, &'static str),
    Issues(proto::ListIssuesRequest),
    Issue(String),
}

/// What the gRPC services answer, as JSON, and the CSV that goes with it (header, rows).
async fn grpc_answer(
    fixture: &Fixture,
    query: &Query,
    token: Option<&str>,
) -> anyhow::Result<(Value, Vec<String>, Vec<Vec<String>>)> {
    let stats_columns = expected_columns(&descriptor("gridledger.v1.GovernanceStats")?, "");
    let issue_columns = expected_columns(&descriptor("gridledger.v1.Issue")?, "");
    match query {
        Query::Stats(request) => {
            let stats = StatsServiceClient::new(fixture.channel.clone())
                .get_governance_stats(Fixture::request(request.clone(), token)?)
                .await?
                .into_inner();
            let value = expected_json("gridledger.v1.GovernanceStats", &stats)?;
            let row = stats_columns
                .iter()
                .map(|column| expected_cell(&value, column))
                .collect();
            Ok((value, stats_columns, vec![row]))
        }
        Query::Breakdown(request, group_name) => {
            let rows = StatsServiceClient::new(fixture.channel.clone())
                .breakdown_governance_stats(Fixture::request(request.clone(), token)?)
                .await?
                .into_inner();
            let value = expected_json("gridledger.v1.BreakdownGovernanceStatsResponse", &rows)?;
            let header = std::iter::once((*group_name).to_owned())
                .chain(stats_columns.iter().cloned())
                .collect();
            let lines = rows
                .rows
                .iter()
                .map(|row| -> anyhow::Result<Vec<String>> {
                    let stats = expected_json(
                        "gridledger.v1.GovernanceStats",
                        row.stats
                            .as_ref()
                            .ok_or_else(|| anyhow::anyhow!("a row without stats"))?,
                    )?;
                    Ok(std::iter::once(row.key.clone())
                        .chain(stats_columns.iter().map(|column| expected_cell(&stats, column)))
                        .collect())
                })
                .collect::<anyhow::Result<_>>()?;
            Ok((value, header, lines))
        }
        Query::Issues(request) => {
            let page = IssueServiceClient::new(fixture.channel.clone())
                .list_issues(Fixture::request(request.clone(), token)?)
                .await?
                .into_inner();
            let value = expected_json("gridledger.v1.ListIssuesResponse", &page)?;
            let lines = page
                .issues
                .iter()
                .map(|issue| -> anyhow::Result<Vec<String>> {
                    let issue = expected_json("gridledger.v1.Issue", issue)?;
                    Ok(issue_columns
                        .iter()
                        .map(|column| expected_cell(&issue, column))
                        .collect())
                })
                .collect::<anyhow::Result<_>>()?;
            Ok((value, issue_columns, lines))
        }
        Query::Issue(issue_id) => {
            let issue = IssueServiceClient::new(fixture.channel.clone())
                .get_issue(Fixture::request(
                    proto::GetIssueRequest {
                        issue_id: issue_id.clone(),
                    },
                    token,
                )?)
                .await?
                .into_inner();
            let mut replay = AuditServiceClient::new(fixture.channel.clone())
                .replay_issue(Fixture::request(
                    proto::ReplayIssueRequest {
                        issue_id: issue_id.clone(),
                        up_to_revision: None,
                    },
                    token,
                )?)
                .await?
                .into_inner();
            let mut history = Vec::new();
            let mut previous_in_stream = vec![0_u8; 32];
            while let Some(step) = replay.message().await? {
                let event = step.event.ok_or_else(|| anyhow::anyhow!("a step without its event"))?;
                let record = gridledger_eventlog::EventRecord::decode(event.record.as_slice())?;
                assert_eq!(
                    record.stream_prev_hash, previous_in_stream,
                    "the issue's chain, as gRPC gives it"
                );
                previous_in_stream.clone_from(&event.hash);
                history.push(json!({
                    "position": event.position,
                    "revision": record.revision,
                    "event_type": record.event_type,
                    "occurred_at": time_json(record.occurred_at)?,
                    "recorded_at": time_json(record.recorded_at)?,
                    "actor_id": record.actor_id,
                    "hash": hex::encode(&event.hash),
                    "prev_hash": hex::encode(&event.prev_hash),
                    "stream_prev_hash": hex::encode(&record.stream_prev_hash),
                    "chain_ok": true,
                    "chain_status": "ok",
                    "event": match &event.event {
                        Some(body) => expected_json("gridledger.v1.IssueEventBody", body)?,
                        None => Value::Null,
                    },
                    "state": match &step.state {
                        Some(state) => expected_json("gridledger.v1.Issue", state)?,
                        None => Value::Null,
                    },
                }));
            }
            let header: Vec<String> = [
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
            ]
            .iter()
            .map(|name| (*name).to_owned())
            .chain(issue_columns.iter().map(|column| format!("state.{column}")))
            .collect();
            let lines = history
                .iter()
                .map(|entry| header.iter().map(|column| expected_cell(entry, column)).collect())
                .collect();
            let value = json!({
                "issue": expected_json("gridledger.v1.Issue", &issue)?,
                "chain_ok": true,
                "history": history,
            });
            Ok((value, header, lines))
        }
    }
}

/// Checks that `GET path` answers, as JSON and as CSV (`format=csv`), exactly what gRPC
/// answers to `query`, the caller authenticated by `credentials` (headers) over HTTP and by
/// `token` over gRPC.
async fn check(
    fixture: &Fixture,
    path: &str,
    query: Query,
    credentials: &[(&str, &str)],
    token: Option<&str>,
) -> anyhow::Result<()> {
    let (expected, header, rows) = grpc_answer(fixture, &query, token).await?;
    let reply = fixture.get(path, credentials).await?;
    assert_eq!(reply.status, 200, "GET {path}: {}", reply.text());
    assert_eq!(reply.header("content-type"), "application/json", "GET {path}");
    // Both through JSON text: serde_json's parser is not exact to the last bit for every
    // double, so the expectation takes the same way as the answer.
    let expected: Value = serde_json::from_str(&expected.to_string())?;
    assert_eq!(reply.json()?, expected, "GET {path} equals gRPC's answer");
    let separator = if path.contains('?') { '&' } else { '?' };
    let csv_path = format!("{path}{separator}format=csv");
    let reply = fixture.get(&csv_path, credentials).await?;
    assert_eq!(reply.status, 200, "GET {csv_path}: {}", reply.text());
    assert_eq!(
        reply.header("content-type"),
        "text/csv; charset=utf-8",
        "GET {csv_path}"
    );
    assert!(
        reply.header("content-disposition").starts_with("attachment; filename="),
        "GET {csv_path}"
    );
    let csv = parse_csv(&reply.text())?;
    let (got_header, got_rows) = csv
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("GET {csv_path}: no header row"))?;
    assert_eq!(got_header, header.as_slice(), "GET {csv_path}: the header row");
    assert_eq!(
        got_rows,
        rows.as_slice(),
        "GET {csv_path}: the rows equal gRPC's answer"
    );
    Ok(())
}

/// The path of a blob of an issue over HTTP.
fn evidence_path(issue_id: &str, sha256: &[u8]) -> String {
    format!("/api/v1/issues/{issue_id}/evidence/{}", hex::encode(sha256))
}

/// Checks that `GET /api/v1/issues/{issue_id}/evidence/{sha256}` answers exactly the bytes
/// gRPC's `GetEvidence` streams for the same request (and `expected`), with the blob's media
/// type and size, its hex as the ETag and the caching headers of a content-addressed blob;
/// and that revalidating with that ETag answers 304 without the bytes.
async fn check_evidence(
    fixture: &Fixture,
    issue_id: &str,
    reference: &proto::EvidenceRef,
    expected: &[u8],
    credentials: &[(&str, &str)],
    token: Option<&str>,
) -> anyhow::Result<()> {
    let mut stream = fixture
        .issues()
        .get_evidence(Fixture::request(
            proto::GetEvidenceRequest {
                sha256: reference.sha256.clone(),
                issue_id: issue_id.to_owned(),
            },
            token,
        )?)
        .await?
        .into_inner();
    let mut grpc_bytes = Vec::new();
    let mut media_type = None;
    while let Some(chunk) = stream.message().await? {
        media_type.get_or_insert(chunk.media_type);
        grpc_bytes.extend_from_slice(&chunk.data);
    }
    assert!(grpc_bytes == expected, "gRPC streams the photo's bytes");
    assert_eq!(media_type.as_deref(), Some(reference.media_type.as_str()));
    let path = evidence_path(issue_id, &reference.sha256);
    let reply = fixture.get(&path, credentials).await?;
    assert_eq!(reply.status, 200, "GET {path}: {}", reply.text());
    assert!(reply.body == grpc_bytes, "GET {path}: the bytes gRPC streams");
    let etag = format!("\"{}\"", hex::encode(&reference.sha256));
    let length = expected.len().to_string();
    for (name, value) in [
        ("content-type", reference.media_type.as_str()),
        ("content-length", length.as_str()),
        ("cache-control", "private, max-age=31536000, immutable"),
        ("x-content-type-options", "nosniff"),
        ("etag", etag.as_str()),
    ] {
        assert_eq!(reply.header(name), value, "GET {path}: {name}");
    }
    let mut revalidating = credentials.to_vec();
    revalidating.push(("if-none-match", etag.as_str()));
    let again = fixture.get(&path, &revalidating).await?;
    assert_eq!(again.status, 304, "GET {path} with If-None-Match: {}", again.text());
    assert!(again.body.is_empty(), "GET {path}: 304 has no body");
    assert_eq!(again.header("etag"), etag, "GET {path}: 304");
    Ok(())
}

/// A record's instant (microseconds) as the JSON mapping writes a Timestamp.
fn time_json(micros: i64) -> anyhow::Result<Value> {
    let timestamp = gridledger_api::timestamp_to_proto(Timestamp::from_unix_micros(micros));
    expected_json("google.protobuf.Timestamp", &timestamp)
}

fn rfc3339(seconds: i64) -> String {
    Timestamp::from_unix_micros(seconds * 1_000_000).to_string()
}

// ---------------------------------------------------------------------------------------
// The tests.

#[tokio::test]
async fn every_endpoint_answers_what_grpc_answers_as_json_and_csv() -> anyhow::Result<()> {
    let fixture = Fixture::start(Setup::default()).await?;
    let mut ids = seed(&fixture, 0..16).await?;
    // `as_of` between the two batches: the figures as the log stood then.
    let as_of_micros = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_micros(),
    )?;
    ids.extend(seed(&fixture, 16..26).await?);
    let as_of = Timestamp::from_unix_micros(as_of_micros);
    let as_of_proto = Some(prost_types::Timestamp {
        seconds: as_of_micros.div_euclid(1_000_000),
        nanos: i32::try_from(as_of_micros.rem_euclid(1_000_000) * 1_000)?,
    });
    let start = now_seconds() - 300 * DAY_SECONDS;
    let end = now_seconds() - 100 * DAY_SECONDS;
    // A date is local midnight in the district's time zone.
    let registry = Registry::builtin_runzhou();
    let zone = registry.time_zone_of(&JurisdictionCode::parse("runzhou")?)?;
    let local_start = gridledger_api::local_time::parse_instant("period_start", "2025-03-01", zone)?;
    let local_start_proto = Some(gridledger_api::timestamp_to_proto(local_start));

    let stats_of = |scope: &str, category: &str| proto::GetGovernanceStatsRequest {
        scope: scope.to_owned(),
        category: category.to_owned(),
        ..Default::default()
    };
    check(&fixture, "/api/v1/stats", Query::Stats(stats_of("", "")), &[], None).await?;
    check(
        &fixture,
        "/api/v1/stats?scope=runzhou.s1&category=environment",
        Query::Stats(stats_of("runzhou.s1", "environment")),
        &[],
        None,
    )
    .await?;
    check(
        &fixture,
        &format!(
            "/api/v1/stats?period_start={}&period_end={}",
            rfc3339(start),
            rfc3339(end)
        ),
        Query::Stats(proto::GetGovernanceStatsRequest {
            period_start: at(start),
            period_end: at(end),
            ..Default::default()
        }),
        &[],
        None,
    )
    .await?;
    check(
        &fixture,
        "/api/v1/stats?period_start=2025-03-01",
        Query::Stats(proto::GetGovernanceStatsRequest {
            period_start: local_start_proto,
            ..Default::default()
        }),
        &[],
        None,
    )
    .await?;
    check(
        &fixture,
        &format!("/api/v1/stats?as_of={as_of}"),
        Query::Stats(proto::GetGovernanceStatsRequest {
            as_of: as_of_proto,
            ..Default::default()
        }),
        &[],
        None,
    )
    .await?;
    // The as-of figures are those of the first batch alone.
    let then = fixture
        .get(&format!("/api/v1/stats?as_of={as_of}"), &[])
        .await?
        .json()?;
    let now = fixture.get("/api/v1/stats", &[]).await?.json()?;
    assert_eq!(then["accepted"], 16, "{then}");
    assert_eq!(now["accepted"], 26, "{now}");

    for (group_name, group_by) in [
        ("district", proto::GroupBy::District),
        ("street", proto::GroupBy::Street),
        ("community", proto::GroupBy::Community),
        ("grid", proto::GroupBy::Grid),
        ("category", proto::GroupBy::Category),
        ("month", proto::GroupBy::Month),
        ("year", proto::GroupBy::Year),
    ] {
        check(
            &fixture,
            &format!("/api/v1/stats/breakdown?group_by={group_name}"),
            Query::Breakdown(
                proto::BreakdownGovernanceStatsRequest {
                    group_by: group_by as i32,
                    ..Default::default()
                },
                group_name,
            ),
            &[],
            None,
        )
        .await?;
    }
    check(
        &fixture,
        &format!("/api/v1/stats/breakdown?group_by=community&scope=runzhou.s1&as_of={as_of}&category=dispute"),
        Query::Breakdown(
            proto::BreakdownGovernanceStatsRequest {
                scope: "runzhou.s1".to_owned(),
                group_by: proto::GroupBy::Community as i32,
                category: "dispute".to_owned(),
                as_of: as_of_proto,
                ..Default::default()
            },
            "community",
        ),
        &[],
        None,
    )
    .await?;

    let list = |scope: &str, status: proto::IssueStatus, page_size: u32, page_token: &str| proto::ListIssuesRequest {
        scope: scope.to_owned(),
        status: status as i32,
        category: String::new(),
        page_size,
        page_token: page_token.to_owned(),
    };
    check(
        &fixture,
        "/api/v1/issues",
        Query::Issues(list("", proto::IssueStatus::Unspecified, 0, "")),
        &[],
        None,
    )
    .await?;
    check(
        &fixture,
        "/api/v1/issues?scope=runzhou.s1&status=in-progress",
        Query::Issues(list("runzhou.s1", proto::IssueStatus::InProgress, 0, "")),
        &[],
        None,
    )
    .await?;
    check(
        &fixture,
        "/api/v1/issues?status=RESOLVED&category=dispute&page_size=2",
        Query::Issues(proto::ListIssuesRequest {
            category: "dispute".to_owned(),
            ..list("", proto::IssueStatus::Resolved, 2, "")
        }),
        &[],
        None,
    )
    .await?;
    // Paging: the token of one page, the next page, and the CSV's header naming it.
    let first = fixture.get("/api/v1/issues?page_size=5", &[]).await?.json()?;
    let token = first["next_page_token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(token, ids[4]);
    check(
        &fixture,
        &format!("/api/v1/issues?page_size=5&page_token={token}"),
        Query::Issues(list("", proto::IssueStatus::Unspecified, 5, &token)),
        &[],
        None,
    )
    .await?;
    let csv_page = fixture.get("/api/v1/issues?page_size=5&format=csv", &[]).await?;
    assert_eq!(csv_page.header("gridledger-next-page-token"), token);

    for issue_id in [&ids[0], &ids[1], &ids[2], &ids[3]] {
        check(
            &fixture,
            &format!("/api/v1/issues/{issue_id}"),
            Query::Issue(issue_id.clone()),
            &[],
            None,
        )
        .await?;
    }

    // An issue with a location and a photo: its JSON and CSV as gRPC's, and the photo's bytes.
    let bytes = photo(1_300_000);
    let (photo_issue, reference) = report_with_photo(&fixture.channel, None, GRIDS[0], &bytes).await?;
    assert_eq!(reference.media_type, "image/jpeg");
    check(
        &fixture,
        &format!("/api/v1/issues/{photo_issue}"),
        Query::Issue(photo_issue.clone()),
        &[],
        None,
    )
    .await?;
    let answer = fixture
        .get(&format!("/api/v1/issues/{photo_issue}"), &[])
        .await?
        .json()?;
    let location = json!({
        "latitude": 32.2,
        "longitude": 119.45,
        "coordinate_system": "GCJ02",
        "accuracy_m": 8.5,
        "address": "3 Jinshan Rd, stairwell B",
    });
    let evidence = json!([{
        "sha256": base64::engine::general_purpose::STANDARD.encode(&reference.sha256),
        "size": 1_300_000,
        "media_type": "image/jpeg",
    }]);
    for (pointer, expected) in [
        ("/issue/location", &location),
        ("/issue/evidence", &evidence),
        ("/history/0/event/issue_reported/location", &location),
        ("/history/0/event/issue_reported/evidence", &evidence),
    ] {
        assert_eq!(answer.pointer(pointer), Some(expected), "{pointer} in {answer}");
    }
    check_evidence(&fixture, &photo_issue, &reference, &bytes, &[], None).await?;
    fixture.server.shutdown().await?;
    Ok(())
}

/// `GET path` is refused with `status`, the gRPC code `code` and the parameter `field`.
async fn check_error(
    fixture: &Fixture,
    path: &str,
    credentials: &[(&str, &str)],
    status: u16,
    code: &str,
    field: Option<&str>,
) -> anyhow::Result<Value> {
    let reply = fixture.get(path, credentials).await?;
    assert_eq!(reply.status, status, "GET {path}: {}", reply.text());
    assert_eq!(reply.header("content-type"), "application/json", "GET {path}");
    let body = reply.json()?;
    assert_eq!(body["error"]["code"], code, "GET {path}: {body}");
    assert_eq!(body["error"]["field"], json!(field), "GET {path}: {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "GET {path}: {body}");
    if let Some(field) = field
        && status == 400
    {
        assert!(message.contains(field), "GET {path}: the message names {field}: {body}");
    }
    Ok(body)
}

#[tokio::test]
async fn mistakes_are_4xx_with_a_json_body_naming_the_parameter() -> anyhow::Result<()> {
    let fixture = Fixture::start(Setup::default()).await?;
    let ids = seed(&fixture, 0..2).await?;
    let (photo_issue, reference) = report_with_photo(&fixture.channel, None, GRIDS[0], &photo(4096)).await?;
    let photo_hex = hex::encode(&reference.sha256);
    let absent = uuid::Uuid::now_v7().to_string();
    let cases: Vec<(String, u16, &str, Option<&str>)> = vec![
        (
            "/api/v1/stats?period_start=yesterday".to_owned(),
            400,
            "INVALID_ARGUMENT",
            Some("period_start"),
        ),
        (
            "/api/v1/stats?period_end=2026-13-01".to_owned(),
            400,
            "INVALID_ARGUMENT",
            Some("period_end"),
        ),
        (
            "/api/v1/stats?period_start=2026-02-01&period_end=2026-01-01".to_owned(),
            400,
            "INVALID_ARGUMENT",
            Some("period_end"),
        ),
        (
            "/api/v1/stats?as_of=2999-01-01T00:00:00Z".to_owned(),
            400,
            "INVALID_ARGUMENT",
            Some("as_of"),
        ),
        (
            "/api/v1/stats?scope=runzhou.s99".to_owned(),
            404,
            "NOT_FOUND",
            Some("scope"),
        ),
        (
            "/api/v1/stats?scope=Runzhou!".to_owned(),
            400,
            "INVALID_ARGUMENT",
            Some("scope"),
        ),
        (
            "/api/v1/stats?category=weather".to_owned(),
            400,
            "INVALID_ARGUMENT",
            Some("category"),
        ),
        (
            "/api/v1/stats?format=xml".to_owned(),
            400,
            "INVALID_ARGUMENT",
            Some("format"),
        ),
        (
            "/api/v1/stats?from=2026-01-01".to_owned(),
            400,
            "INVALID_ARGUMENT",
            Some("from"),
        ),
        (
            "/api/v1/stats?scope=runzhou&scope=runzhou.s1".to_owned(),
            400,
            "INVALID_ARGUMENT",
            Some("scope"),
        ),
        (
            "/api/v1/stats/breakdown".to_owned(),
            400,
            "INVALID_ARGUMENT",
            Some("group_by"),
        ),
        (
            "/api/v1/stats/breakdown?group_by=planet".to_owned(),
            400,
            "INVALID_ARGUMENT",
            Some("group_by"),
        ),
        (
            "/api/v1/stats/breakdown?group_by=street&as_of=soon".to_owned(),
            400,
            "INVALID_ARGUMENT",
            Some("as_of"),
        ),
        (
            "/api/v1/issues?page_size=501".to_owned(),
            400,
            "INVALID_ARGUMENT",
            Some("page_size"),
        ),
        (
            "/api/v1/issues?page_size=many".to_owned(),
            400,
            "INVALID_ARGUMENT",
            Some("page_size"),
        ),
        (
            "/api/v1/issues?page_token=zzz".to_owned(),
            400,
            "INVALID_ARGUMENT",
            Some("page_token"),
        ),
        (
            format!("/api/v1/issues?page_token={absent}"),
            400,
            "INVALID_ARGUMENT",
            Some("page_token"),
        ),
        (
            "/api/v1/issues?status=sleeping".to_owned(),
            400,
            "INVALID_ARGUMENT",
            Some("status"),
        ),
        (
            "/api/v1/issues/not-a-uuid".to_owned(),
            400,
            "INVALID_ARGUMENT",
            Some("issue_id"),
        ),
        (format!("/api/v1/issues/{absent}"), 404, "NOT_FOUND", Some("issue_id")),
        (
            format!("/api/v1/issues/{}?format=pdf", ids[0]),
            400,
            "INVALID_ARGUMENT",
            Some("format"),
        ),
        ("/api/v1/nothing".to_owned(), 404, "NOT_FOUND", None),
        (
            format!("/api/v1/issues/{photo_issue}/evidence/not-hex"),
            400,
            "INVALID_ARGUMENT",
            Some("sha256"),
        ),
        (
            format!("/api/v1/issues/{photo_issue}/evidence/{}", &photo_hex[1..]),
            400,
            "INVALID_ARGUMENT",
            Some("sha256"),
        ),
        (
            format!("/api/v1/issues/{photo_issue}/evidence/{photo_hex}?format=csv"),
            400,
            "INVALID_ARGUMENT",
            Some("format"),
        ),
        (
            format!("/api/v1/issues/not-a-uuid/evidence/{photo_hex}"),
            400,
            "INVALID_ARGUMENT",
            Some("issue_id"),
        ),
        (
            format!("/api/v1/issues/{absent}/evidence/{photo_hex}"),
            404,
            "NOT_FOUND",
            Some("issue_id"),
        ),
        // Held by the node, but not referenced by this issue.
        (
            format!("/api/v1/issues/{}/evidence/{photo_hex}", ids[0]),
            404,
            "NOT_FOUND",
            Some("sha256"),
        ),
        (
            format!("/api/v1/issues/{photo_issue}/evidence/{}", "ab".repeat(32)),
            404,
            "NOT_FOUND",
            Some("sha256"),
        ),
    ];
    for (path, status, code, field) in &cases {
        check_error(&fixture, path, &[], *status, code, *field).await?;
    }
    // The message is gRPC's for the same mistake.
    let body = check_error(
        &fixture,
        "/api/v1/stats?scope=runzhou.s99",
        &[],
        404,
        "NOT_FOUND",
        Some("scope"),
    )
    .await?;
    let status = StatsServiceClient::new(fixture.channel.clone())
        .get_governance_stats(proto::GetGovernanceStatsRequest {
            scope: "runzhou.s99".to_owned(),
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("gRPC accepted an unknown scope"))?;
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert_eq!(body["error"]["message"], status.message());
    fixture.server.shutdown().await?;
    Ok(())
}

fn bearer(id: &str) -> String {
    format!("Bearer {}", token_of(id))
}

/// The value of the session cookie a `Set-Cookie` sets.
fn session_of(set_cookie: &str) -> Option<String> {
    set_cookie
        .split(';')
        .next()?
        .strip_prefix("gridledger_session=")
        .map(str::to_owned)
}

#[tokio::test]
async fn with_auth_scopes_apply_as_over_grpc_and_a_session_cookie_works() -> anyhow::Result<()> {
    let principals = vec![
        ("analyst-s1", "analyst", vec!["runzhou.s1"]),
        ("admin-1", "admin", vec!["runzhou"]),
        ("worker-1", "grid_worker", vec!["runzhou.s1.c01.g01"]),
        ("auditor-1", "auditor", vec!["runzhou"]),
    ];
    let mut fixture = Fixture::start(Setup {
        principals: Some(principals.clone()),
        tls: None,
    })
    .await?;
    // Seeding as the admin: commands over gRPC need a token too.
    let admin_token = token_of("admin-1");
    let ids = seed_as(&fixture.channel, &admin_token, 0..12).await?;
    // A photo of an issue in runzhou.s1 (the street analyst's) and of one in runzhou.s4.
    let bytes = photo(4096);
    let (photo_in_s1, reference) = report_with_photo(&fixture.channel, Some(&admin_token), GRIDS[0], &bytes).await?;
    let (photo_in_s4, _) = report_with_photo(&fixture.channel, Some(&admin_token), GRIDS[2], &bytes).await?;

    // Without credentials: 401, and the dashboard's files are open.
    for path in [
        "/api/v1/stats",
        "/api/v1/stats/breakdown?group_by=street",
        "/api/v1/issues",
        "/api/v1/registry",
        &evidence_path(&photo_in_s1, &reference.sha256),
    ] {
        let reply = fixture.get(path, &[]).await?;
        assert_eq!(reply.status, 401, "GET {path}: {}", reply.text());
        assert_eq!(reply.json()?["error"]["code"], "UNAUTHENTICATED");
        assert_eq!(reply.header("www-authenticate"), "Bearer realm=\"gridledger\"");
    }
    assert_eq!(fixture.get("/", &[]).await?.status, 200);
    let session = fixture.get("/session", &[]).await?.json()?;
    assert_eq!(
        session,
        json!({"auth": true, "principal": null, "via": null, "expires_at": null, "reason": session["reason"]})
    );
    check_error(
        &fixture,
        "/api/v1/stats",
        &[(
            "authorization",
            "Bearer glt_nobody_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )],
        401,
        "UNAUTHENTICATED",
        None,
    )
    .await?;

    // A street's analyst reads its street only, with a token, exactly as over gRPC.
    let analyst = bearer("analyst-s1");
    let analyst_token = token_of("analyst-s1");
    let credentials = [("authorization", analyst.as_str())];
    check(
        &fixture,
        "/api/v1/stats",
        Query::Stats(proto::GetGovernanceStatsRequest::default()),
        &credentials,
        Some(&analyst_token),
    )
    .await?;
    let own = fixture.get("/api/v1/stats", &credentials).await?.json()?;
    let street = fixture
        .get("/api/v1/stats?scope=runzhou.s1", &credentials)
        .await?
        .json()?;
    assert_eq!(own, street, "no scope is the principal's own");
    check(
        &fixture,
        "/api/v1/stats/breakdown?group_by=street",
        Query::Breakdown(
            proto::BreakdownGovernanceStatsRequest {
                group_by: proto::GroupBy::Street as i32,
                ..Default::default()
            },
            "street",
        ),
        &credentials,
        Some(&analyst_token),
    )
    .await?;
    let streets = fixture
        .get("/api/v1/stats/breakdown?group_by=street", &credentials)
        .await?
        .json()?;
    let keys: Vec<&str> = streets["rows"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|row| row["key"].as_str())
        .collect();
    assert_eq!(keys, ["runzhou.s1"]);
    check(
        &fixture,
        "/api/v1/issues",
        Query::Issues(proto::ListIssuesRequest::default()),
        &credentials,
        Some(&analyst_token),
    )
    .await?;
    let listed = fixture
        .get("/api/v1/issues?page_size=500", &credentials)
        .await?
        .json()?;
    for issue in listed["issues"].as_array().map(Vec::as_slice).unwrap_or_default() {
        assert_eq!(issue["street_code"], "runzhou.s1", "{issue}");
    }
    // ids[0] is in runzhou.s1.c01.g01, ids[2] in runzhou.s4.
    check(
        &fixture,
        &format!("/api/v1/issues/{}", ids[0]),
        Query::Issue(ids[0].clone()),
        &[("authorization", bearer("admin-1").as_str())],
        Some(&admin_token),
    )
    .await?;
    let refused = check_error(
        &fixture,
        "/api/v1/stats?scope=runzhou",
        &credentials,
        403,
        "PERMISSION_DENIED",
        None,
    )
    .await?;
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("outside the scope of principal analyst-s1")),
        "{refused}"
    );
    check_error(
        &fixture,
        &format!("/api/v1/issues/{}", ids[2]),
        &credentials,
        403,
        "PERMISSION_DENIED",
        None,
    )
    .await?;
    assert_eq!(
        fixture
            .get(&format!("/api/v1/issues/{}", ids[0]), &credentials)
            .await?
            .status,
        200
    );
    // A role without the RPCs: refused, naming the roles that may.
    let worker = bearer("worker-1");
    let refused = check_error(
        &fixture,
        "/api/v1/stats",
        &[("authorization", worker.as_str())],
        403,
        "PERMISSION_DENIED",
        None,
    )
    .await?;
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("it is for analyst, admin")),
        "{refused}"
    );
    // Evidence is read through an issue in scope, by every role GetEvidence admits (a grid
    // worker too, who may not read the issue itself over HTTP).
    let worker_token = token_of("worker-1");
    for (id, token) in [
        ("analyst-s1", &analyst_token),
        ("worker-1", &worker_token),
        ("auditor-1", &token_of("auditor-1")),
    ] {
        check_evidence(
            &fixture,
            &photo_in_s1,
            &reference,
            &bytes,
            &[("authorization", bearer(id).as_str())],
            Some(token),
        )
        .await?;
    }
    for (credentials, issue_id) in [(&analyst, &photo_in_s4), (&worker, &photo_in_s4)] {
        let path = evidence_path(issue_id, &reference.sha256);
        let refused = check_error(
            &fixture,
            &path,
            &[("authorization", credentials.as_str())],
            403,
            "PERMISSION_DENIED",
            None,
        )
        .await?;
        let status = fixture
            .issues()
            .get_evidence(Fixture::request(
                proto::GetEvidenceRequest {
                    sha256: reference.sha256.clone(),
                    issue_id: issue_id.clone(),
                },
                credentials.strip_prefix("Bearer "),
            )?)
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("gRPC answered a blob out of scope"))?;
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
        assert_eq!(
            refused["error"]["message"],
            status.message(),
            "GET {path}: gRPC's message"
        );
    }
    // An auditor replays issues over gRPC, so it reads an issue's history over HTTP.
    let auditor = bearer("auditor-1");
    assert_eq!(
        fixture
            .get(
                &format!("/api/v1/issues/{}", ids[2]),
                &[("authorization", auditor.as_str())]
            )
            .await?
            .status,
        200
    );
    check_error(
        &fixture,
        "/api/v1/issues",
        &[("authorization", auditor.as_str())],
        403,
        "PERMISSION_DENIED",
        None,
    )
    .await?;

    // Sign-in with the token (JSON): an HttpOnly, SameSite=Strict cookie that is not the token.
    let signed_in = fixture
        .send(
            "POST",
            "/session",
            &[],
            Some(("application/json", json!({"token": analyst_token}).to_string())),
        )
        .await?;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text());
    let body = signed_in.json()?;
    assert_eq!(body["principal"]["id"], "analyst-s1");
    assert_eq!(body["principal"]["role"], "analyst");
    assert_eq!(body["principal"]["scopes"], json!(["runzhou.s1"]));
    let cookies = signed_in.set_cookies();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let attributes: Vec<&str> = cookies[0].split("; ").collect();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attributes.contains(&attribute), "{attribute} in {cookies:?}");
    }
    assert!(
        !attributes.contains(&"Secure"),
        "not Secure over plaintext: {cookies:?}"
    );
    let session = session_of(&cookies[0]).ok_or_else(|| anyhow::anyhow!("no session cookie: {cookies:?}"))?;
    assert!(!session.contains(&analyst_token) && !analyst_token.contains(&session));
    assert!(!cookies[0].contains("glt_"), "{cookies:?}");
    let cookie = format!("theme=dark; gridledger_session={session}");
    let with_cookie = [("cookie", cookie.as_str())];
    check(
        &fixture,
        "/api/v1/stats/breakdown?group_by=community",
        Query::Breakdown(
            proto::BreakdownGovernanceStatsRequest {
                group_by: proto::GroupBy::Community as i32,
                ..Default::default()
            },
            "community",
        ),
        &with_cookie,
        Some(&analyst_token),
    )
    .await?;
    check_evidence(
        &fixture,
        &photo_in_s1,
        &reference,
        &bytes,
        &with_cookie,
        Some(&analyst_token),
    )
    .await?;
    let who = fixture.get("/session", &with_cookie).await?.json()?;
    assert_eq!(who["principal"]["id"], "analyst-s1");
    assert_eq!(who["via"], "session");
    check_error(
        &fixture,
        "/api/v1/stats?scope=runzhou",
        &with_cookie,
        403,
        "PERMISSION_DENIED",
        None,
    )
    .await?;

    // Sign-in by form: a redirect to the dashboard, with the cookie.
    let form = fixture
        .send(
            "POST",
            "/session",
            &[],
            Some((
                "application/x-www-form-urlencoded",
                format!("token={}", token_of("admin-1")),
            )),
        )
        .await?;
    assert_eq!(form.status, 303, "{}", form.text());
    assert_eq!(form.header("location"), "/");
    let admin_session = form
        .set_cookies()
        .first()
        .and_then(|cookie| session_of(cookie))
        .ok_or_else(|| anyhow::anyhow!("no cookie from the form"))?;
    // A wrong token opens nothing; a page of another origin may not sign in.
    let wrong = fixture
        .send(
            "POST",
            "/session",
            &[],
            Some((
                "application/json",
                json!({"token": "glt_analyst-s1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}).to_string(),
            )),
        )
        .await?;
    assert_eq!(wrong.status, 401, "{}", wrong.text());
    assert!(wrong.set_cookies().is_empty());
    let foreign = fixture
        .send(
            "POST",
            "/session",
            &[("origin", "http://evil.example")],
            Some(("application/json", json!({"token": analyst_token}).to_string())),
        )
        .await?;
    assert_eq!(foreign.status, 403, "{}", foreign.text());
    assert!(foreign.set_cookies().is_empty());
    let missing = fixture
        .send("POST", "/session", &[], Some(("application/json", "{}".to_owned())))
        .await?;
    assert_eq!(missing.status, 400, "{}", missing.text());
    assert_eq!(missing.json()?["error"]["field"], "token");

    // Sign-out clears the cookie and ends the session.
    let signed_out = fixture.send("POST", "/session/logout", &with_cookie, None).await?;
    assert_eq!(signed_out.status, 204);
    assert!(
        signed_out
            .set_cookies()
            .iter()
            .any(|cookie| cookie.starts_with("gridledger_session=;") && cookie.contains("Max-Age=0")),
        "{:?}",
        signed_out.set_cookies()
    );
    check_error(&fixture, "/api/v1/stats", &with_cookie, 401, "UNAUTHENTICATED", None).await?;

    // Revoking the principal ends its sessions at the next reload.
    let admin_cookie = format!("gridledger_session={admin_session}");
    assert_eq!(
        fixture
            .get("/api/v1/stats", &[("cookie", admin_cookie.as_str())])
            .await?
            .status,
        200
    );
    let without_admin: Vec<_> = principals.into_iter().filter(|(id, _, _)| *id != "admin-1").collect();
    fixture.replace_principals(&without_admin).await?;
    check_error(
        &fixture,
        "/api/v1/stats",
        &[("cookie", admin_cookie.as_str())],
        401,
        "UNAUTHENTICATED",
        None,
    )
    .await?;
    fixture.server.shutdown().await?;
    Ok(())
}

/// [`seed`] through `channel` with a bearer token.
async fn seed_as(channel: &Channel, token: &str, range: std::ops::Range<i64>) -> anyhow::Result<Vec<String>> {
    let value: tonic::metadata::MetadataValue<tonic::metadata::Ascii> = format!("Bearer {token}").parse()?;
    let intercepted =
        tonic::service::interceptor::InterceptedService::new(channel.clone(), move |mut request: tonic::Request<()>| {
            request.metadata_mut().insert("authorization", value.clone());
            Ok(request)
        });
    let mut issues = IssueServiceClient::new(intercepted);
    let base = now_seconds() - 400 * DAY_SECONDS;
    let mut ids = Vec::new();
    for index in range {
        let reported = base + index * 15 * DAY_SECONDS;
        let position = usize::try_from(index)?;
        let ack = issues
            .report_issue(proto::ReportIssueRequest {
                meta: meta(reported),
                issue_id: String::new(),
                grid_code: GRIDS[position % GRIDS.len()].to_owned(),
                category: CATEGORIES[position % CATEGORIES.len()].to_owned(),
                title: format!("issue {index}"),
                description: String::new(),
                reporter_id: "worker-1".to_owned(),
                ..Default::default()
            })
            .await?
            .into_inner();
        if index % 2 == 0 {
            issues
                .handle_in_grid(proto::HandleInGridRequest {
                    meta: meta(reported + DAY_SECONDS),
                    issue_id: ack.issue_id.clone(),
                    summary: String::new(),
                    ..Default::default()
                })
                .await?;
        }
        ids.push(ack.issue_id);
    }
    Ok(ids)
}

#[tokio::test]
async fn the_dashboard_is_served_from_the_binary_with_its_content_types() -> anyhow::Result<()> {
    let fixture = Fixture::start(Setup::default()).await?;
    for (path, content_type, contains) in [
        ("/", "text/html; charset=utf-8", "data-testid"),
        ("/assets/app.js", "text/javascript; charset=utf-8", "api/v1"),
        ("/assets/app.css", "text/css; charset=utf-8", "{"),
        (
            "/assets/vendor/uplot/uPlot.iife.min.js",
            "text/javascript; charset=utf-8",
            "uPlot",
        ),
        (
            "/assets/vendor/uplot/uPlot.min.css",
            "text/css; charset=utf-8",
            ".uplot",
        ),
        ("/assets/vendor/uplot/LICENSE", "text/plain; charset=utf-8", "MIT"),
    ] {
        let reply = fixture.get(path, &[]).await?;
        assert_eq!(reply.status, 200, "GET {path}");
        assert_eq!(reply.header("content-type"), content_type, "GET {path}");
        assert_eq!(reply.header("x-content-type-options"), "nosniff", "GET {path}");
        assert!(reply.text().contains(contains), "GET {path} holds {contains:?}");
    }
    let index = fixture.get("/", &[]).await?;
    assert!(
        index.header("content-security-policy").contains("script-src 'self'"),
        "{:?}",
        index.headers
    );
    assert!(
        !index.text().contains("://"),
        "no file from elsewhere: no absolute URL in the page"
    );
    // The issue view shows photos from the evidence endpoint, lazily, and nothing from elsewhere.
    let script = fixture.get("/assets/app.js", &[]).await?.text();
    for needle in ["\"/evidence/\"", "loading: \"lazy\"", "formatLocation"] {
        assert!(script.contains(needle), "app.js holds {needle}");
    }
    assert!(!script.contains("://"), "app.js fetches nothing from elsewhere");
    let missing = fixture.get("/assets/nothing.js", &[]).await?;
    assert_eq!(missing.status, 404);
    let session = fixture.get("/session", &[]).await?.json()?;
    assert_eq!(session["auth"], false);
    let registry = fixture.get("/api/v1/registry", &[]).await?.json()?;
    assert_eq!(registry["districts"][0]["code"], "runzhou");
    fixture.server.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn over_tls_the_endpoint_is_https_and_the_cookie_is_secure() -> anyhow::Result<()> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "gridledger http test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate()?;
    let mut server_params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    server_params.distinguished_name.push(DnType::CommonName, "localhost");
    let server_certificate = server_params.signed_by(&server_key, &issuer)?;
    let fixture = Fixture::start(Setup {
        principals: Some(vec![("analyst-1", "analyst", vec!["runzhou"])]),
        tls: Some((
            TlsConfig {
                certificate_pem: server_certificate.pem().into_bytes(),
                key_pem: server_key.serialize_pem().into_bytes(),
                client_ca_pem: None,
            },
            ca.pem().into_bytes(),
        )),
    })
    .await?;
    let signed_in = fixture
        .send(
            "POST",
            "/session",
            &[],
            Some(("application/json", json!({"token": token_of("analyst-1")}).to_string())),
        )
        .await?;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text());
    let cookies = signed_in.set_cookies();
    assert!(cookies.iter().all(|cookie| cookie.ends_with("; Secure")), "{cookies:?}");
    let session = cookies
        .first()
        .and_then(|cookie| session_of(cookie))
        .ok_or_else(|| anyhow::anyhow!("no cookie"))?;
    let cookie = format!("gridledger_session={session}");
    let stats = fixture.get("/api/v1/stats", &[("cookie", cookie.as_str())]).await?;
    assert_eq!(stats.status, 200, "{}", stats.text());
    assert_eq!(stats.json()?["accepted"], 0);
    // Plaintext HTTP on the TLS port gets no answer.
    let plaintext = Fixture { tls: None, ..fixture };
    assert!(plaintext.get("/api/v1/stats", &[]).await.is_err());
    plaintext.server.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn the_serving_policy_covers_the_http_address() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let config = ServerConfig {
        data_dir: directory.path().join("data"),
        listen: "127.0.0.1:0".parse()?,
        http: Some("0.0.0.0:0".parse()?),
        registry: Registry::builtin_runzhou(),
        auth: None,
        tls: None,
        insecure_allow_non_loopback: false,
        nats: None,
        checkpoints: gridledger_server::CheckpointConfig::default(),
    };
    assert!(
        config.serving_policy().contains("0.0.0.0:0"),
        "{}",
        config.serving_policy()
    );
    match gridledger_server::start(config, std::future::pending()).await {
        Err(ServerError::NotLoopback { address }) => assert_eq!(address.to_string(), "0.0.0.0:0"),
        other => panic!("expected NotLoopback for the HTTP address, got {other:?}"),
    }
    assert!(!directory.path().join("data").exists(), "nothing was created");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// /metrics

/// The samples of a Prometheus text scrape, `name{labels}` -> value; every line checked
/// against the text format (comments, or `name[{labels}] value`), and `# EOF` last when the
/// scrape is OpenMetrics.
fn samples(text: &str, openmetrics: bool) -> anyhow::Result<std::collections::BTreeMap<String, f64>> {
    let mut samples = std::collections::BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    anyhow::ensure!(!lines.is_empty(), "an empty scrape");
    if openmetrics {
        anyhow::ensure!(lines.last() == Some(&"# EOF"), "an OpenMetrics scrape ends with # EOF");
    }
    for line in lines {
        if line.starts_with('#') {
            anyhow::ensure!(
                line == "# EOF"
                    || line.starts_with("# HELP ")
                    || line.starts_with("# TYPE ")
                    || line.starts_with("# UNIT "),
                "a comment that is not HELP, TYPE, UNIT or EOF: {line}"
            );
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .ok_or_else(|| anyhow::anyhow!("a sample without a value: {line}"))?;
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        anyhow::ensure!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "a bad metric name: {line}"
        );
        if name_end < series.len() {
            anyhow::ensure!(series.ends_with('}'), "unclosed labels: {line}");
        }
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other.parse().map_err(|error| anyhow::anyhow!("{error}: {line}"))?,
        };
        anyhow::ensure!(
            samples.insert(series.to_owned(), value).is_none(),
            "a repeated series: {line}"
        );
    }
    Ok(samples)
}

async fn scrape(
    fixture: &Fixture,
    headers: &[(&str, &str)],
) -> anyhow::Result<std::collections::BTreeMap<String, f64>> {
    let reply = fixture.get("/metrics", headers).await?;
    anyhow::ensure!(reply.status == 200, "GET /metrics: {} {}", reply.status, reply.text());
    let openmetrics = reply.header("content-type").starts_with("application/openmetrics-text");
    samples(&reply.text(), openmetrics)
}

#[tokio::test]
async fn metrics_parse_and_move_with_the_commands_sent() -> anyhow::Result<()> {
    let fixture = Fixture::start(Setup::default()).await?;
    let before = scrape(&fixture, &[]).await?;
    seed(&fixture, 0..3).await?;
    let mut refused = proto::ReportIssueRequest {
        meta: meta(now_seconds()),
        grid_code: "runzhou.nowhere".to_owned(),
        ..Default::default()
    };
    refused.title = "refused: no such grid".to_owned();
    assert!(fixture.issues().report_issue(refused).await.is_err());
    // Both formats parse; Prometheus asks for OpenMetrics.
    let after = scrape(&fixture, &[("accept", "application/openmetrics-text; version=1.0.0")]).await?;
    let plain = scrape(&fixture, &[]).await?;
    let value =
        |samples: &std::collections::BTreeMap<String, f64>, series: &str| samples.get(series).copied().unwrap_or(0.0);
    let ok = r#"gridledger_commands_total{command="ReportIssue",code="OK"}"#;
    let invalid = r#"gridledger_commands_total{command="ReportIssue",code="INVALID_ARGUMENT"}"#;
    assert_eq!(value(&after, ok) - value(&before, ok), 3.0, "{after:#?}");
    assert_eq!(value(&after, invalid) - value(&before, invalid), 1.0);
    assert_eq!(value(&plain, ok), value(&after, ok));
    // Three reports and what followed them (seed walks some issues further).
    assert!(value(&after, "gridledger_log_head_position") >= 3.0, "{after:#?}");
    assert!(value(&after, "gridledger_log_disk_bytes") > 0.0);
    assert_eq!(value(&after, "gridledger_log_writer_up"), 1.0);
    assert!(value(&after, "gridledger_grpc_connections") >= 1.0);
    fixture.server.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn metrics_need_a_principal_with_auth() -> anyhow::Result<()> {
    let fixture = Fixture::start(Setup {
        principals: Some(vec![("ops", "admin", vec!["runzhou"])]),
        ..Setup::default()
    })
    .await?;
    let anonymous = fixture.get("/metrics", &[]).await?;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());
    let token = format!("Bearer {}", token_of("ops"));
    let scraped = scrape(&fixture, &[("authorization", token.as_str())]).await?;
    assert!(
        scraped.contains_key(r#"gridledger_auth_failures_total{reason="no_credentials"}"#),
        "{scraped:#?}"
    );
    fixture.server.shutdown().await?;
    Ok(())
}
