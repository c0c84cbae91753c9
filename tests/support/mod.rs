//! Shared by the end-to-end tests: a real server on 127.0.0.1:0 over a temp dir, and its clients.

#![allow(dead_code)]

use gridledger_api::proto;
use gridledger_api::proto::audit_service_client::AuditServiceClient;
use gridledger_api::proto::issue_service_client::IssueServiceClient;
use gridledger_domain::Registry;
use gridledger_server::{RunningServer, ServerConfig};
use tonic::transport::Channel;

pub const GRID: &str = "runzhou.s1.c01.g01";
pub const NOW_MICROS_FALLBACK: i64 = 0;

/// A server in this process, its data dir, and connected clients.
pub struct TestServer {
    pub directory: tempfile::TempDir,
    pub server: RunningServer,
    pub channel: Channel,
}

impl TestServer {
    pub async fn start() -> anyhow::Result<TestServer> {
        let directory = tempfile::tempdir()?;
        let data_dir = directory.path().join("data");
        TestServer::start_in(directory, data_dir).await
    }

    /// A server on `data_dir` (which may hold a log already); `directory` lives as long as it.
    pub async fn start_in(directory: tempfile::TempDir, data_dir: std::path::PathBuf) -> anyhow::Result<TestServer> {
        let server = gridledger_server::start(loopback_config(data_dir)?, std::future::pending()).await?;
        let channel = Channel::from_shared(format!("http://{}", server.local_addr))?
            .connect()
            .await?;
        Ok(TestServer {
            directory,
            server,
            channel,
        })
    }

    pub fn issues(&self) -> IssueServiceClient<Channel> {
        IssueServiceClient::new(self.channel.clone())
    }

    pub fn audit(&self) -> AuditServiceClient<Channel> {
        AuditServiceClient::new(self.channel.clone())
    }

    /// The log's head position, as VerifyLog reports it.
    pub async fn head_position(&self) -> anyhow::Result<u64> {
        Ok(self
            .audit()
            .verify_log(proto::VerifyLogRequest::default())
            .await?
            .into_inner()
            .head_position)
    }
}

pub fn meta(request_id: &str) -> Option<proto::CommandMeta> {
    Some(proto::CommandMeta {
        request_id: request_id.to_owned(),
        expected_revision: None,
        occurred_at: None,
    })
}

pub fn fresh_meta() -> Option<proto::CommandMeta> {
    meta(&uuid::Uuid::now_v7().to_string())
}

pub fn days_from_now(days: i64) -> Option<prost_types::Timestamp> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Some(prost_types::Timestamp {
        seconds: i64::try_from(now).unwrap_or(0) + days * 86_400,
        nanos: 0,
    })
}

pub fn report_request(title: &str) -> proto::ReportIssueRequest {
    proto::ReportIssueRequest {
        meta: fresh_meta(),
        issue_id: String::new(),
        grid_code: GRID.to_owned(),
        category: "environment".to_owned(),
        title: title.to_owned(),
        description: "reported by an end-to-end test".to_owned(),
        reporter_id: "worker-1".to_owned(),
        ..Default::default()
    }
}

/// A report of an environment issue in [`GRID`] for the typed client (the server chooses
/// the id).
pub fn issue_report(title: &str) -> anyhow::Result<gridledger_api::IssueReport> {
    use gridledger_domain::{CategoryCode, Field, FreeText, GridCode, IssueTitle, PersonId};
    Ok(gridledger_api::IssueReport {
        issue_id: None,
        grid: GridCode::parse(GRID)?,
        category: CategoryCode::parse("environment")?,
        title: IssueTitle::parse(title)?,
        description: FreeText::parse(Field::Description, "reported by an end-to-end test")?,
        reporter_id: PersonId::parse(Field::Reporter, "worker-1")?,
        evidence: Default::default(),
        location: None,
    })
}

/// Runs the built `gridledger` binary with `arguments`; its stdout, or an error with its
/// exit status, stdout and stderr.
pub fn gridledger(arguments: &[&str]) -> anyhow::Result<String> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_gridledger"))
        .args(arguments)
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "gridledger {arguments:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

/// `gridledger serve` as a child process on a free port (with `ulimit -n descriptor_limit`
/// when given); the child and the address it printed. Its stdout is drained in the
/// background so it never blocks on a full pipe.
pub fn spawn_serve(
    data_dir: &std::path::Path,
    extra_arguments: &[&str],
    descriptor_limit: Option<u64>,
) -> anyhow::Result<(std::process::Child, String)> {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let binary = env!("CARGO_BIN_EXE_gridledger");
    let mut command = match descriptor_limit {
        None => Command::new(binary),
        Some(limit) => {
            let mut shell = Command::new("bash");
            shell.args(["-c", &format!("ulimit -n {limit} && exec \"$0\" \"$@\""), binary]);
            shell
        }
    };
    let mut child = command
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data_dir)
        .args(extra_arguments)
        .env("GRIDLEDGER_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let address = loop {
        let Some(line) = lines.next() else {
            anyhow::bail!("gridledger serve exited before listening: {:?}", child.wait()?);
        };
        let line = line?;
        if let Some(rest) = line.strip_prefix("gridledger listening on ") {
            break rest.split_whitespace().next().unwrap_or_default().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok((child, address))
}

/// A server configuration without access control: `data_dir`, the built-in registry, a
/// free loopback port.
pub fn loopback_config(data_dir: std::path::PathBuf) -> anyhow::Result<ServerConfig> {
    Ok(ServerConfig {
        data_dir,
        listen: "127.0.0.1:0".parse()?,
        http: None,
        registry: Registry::builtin_runzhou(),
        auth: None,
        tls: None,
        insecure_allow_non_loopback: false,
        nats: None,
        checkpoints: gridledger_server::CheckpointConfig::default(),
    })
}

/// What `grpc.health.v1` says of `service` over `channel`.
pub async fn health_of(
    channel: &Channel,
    service: &str,
) -> anyhow::Result<tonic_health::pb::health_check_response::ServingStatus> {
    let answer = tonic_health::pb::health_client::HealthClient::new(channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.to_owned(),
        })
        .await?
        .into_inner();
    Ok(answer.status())
}

/// An HTTP answer: status, headers and body.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The body as text.
    pub fn text(&self) -> anyhow::Result<String> {
        Ok(String::from_utf8(self.body.clone())?)
    }

    /// The body as JSON.
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

/// `GET path` with `headers` from the plain HTTP endpoint at `address` (HTTP/1.1, a
/// connection of its own).
pub async fn http_get(
    address: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<HttpReply> {
    use http_body_util::BodyExt;
    let mut builder = hyper::Request::builder()
        .method("GET")
        .uri(path)
        .header("host", address.to_string());
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(http_body_util::Empty::<hyper::body::Bytes>::new())?;
    let stream = tokio::net::TcpStream::connect(address).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await?.to_bytes().to_vec();
    Ok(HttpReply { status, headers, body })
}
