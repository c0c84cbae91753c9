//! End-to-end against the built `gridledger` binary: CLI clients, export checked by the Python verifier, a Python gRPC client, SIGTERM under load.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use gridledger_api::proto;
use gridledger_api::proto::issue_service_client::IssueServiceClient;
use support::report_request;
use tonic::transport::Channel;

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `gridledger serve` on a free port; returns the child and the address it printed.
fn spawn_server(data_dir: &Path, extra_arguments: &[&str]) -> anyhow::Result<(Child, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gridledger"))
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
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok((child, address))
}

/// Runs the CLI (or any program) and returns its stdout, failing on a non-zero exit.
fn run(program: &str, arguments: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(program).args(arguments).output()?;
    anyhow::ensure!(
        output.status.success(),
        "{program} {arguments:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

/// A Python 3 with protobuf, grpcio and grpcio-tools: the system one if it has them, else
/// a virtualenv made once under the target dir with those packages from PyPI, so that
/// `cargo test` alone sets up what the Python checks need on a fresh machine.
fn python_with_grpc() -> anyhow::Result<String> {
    static PYTHON: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    let has_packages = |python: &str| {
        Command::new(python)
            .args(["-c", "import google.protobuf, grpc, grpc_tools"])
            .output()
            .is_ok_and(|output| output.status.success())
    };
    PYTHON
        .get_or_init(|| {
            if has_packages("python3") {
                return Ok("python3".to_owned());
            }
            let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-grpc");
            let python = venv.join("bin/python3").to_string_lossy().into_owned();
            if !has_packages(&python) {
                run("python3", &["-m", "venv", &venv.to_string_lossy()]).map_err(|error| error.to_string())?;
                run(
                    &python,
                    &["-m", "pip", "install", "--quiet", "protobuf", "grpcio", "grpcio-tools"],
                )
                .map_err(|error| error.to_string())?;
            }
            Ok(python)
        })
        .clone()
        .map_err(|error| anyhow::anyhow!("cannot set up Python with protobuf and grpcio: {error}"))
}

fn terminate(child: &Child) -> anyhow::Result<()> {
    run("kill", &["-TERM", &child.id().to_string()]).map(|_| ())
}

#[test]
fn the_binary_serves_the_cli_and_other_grpc_stacks_and_its_export_verifies() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    // A registry that does not validate stops the server before it serves, saying why.
    let bad_registry = directory.path().join("bad-registry.json");
    std::fs::write(&bad_registry, r#"{"districts": []}"#)?;
    let refused = Command::new(env!("CARGO_BIN_EXE_gridledger"))
        .args(["serve", "--listen", "127.0.0.1:0", "--registry"])
        .arg(&bad_registry)
        .arg("--data")
        .arg(directory.path().join("never"))
        .output()?;
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("registry"),
        "{refused:?}"
    );
    // The operator's path: print the built-in registry, serve with it as a file.
    let registry_file = directory.path().join("registry.json");
    std::fs::write(&registry_file, run(env!("CARGO_BIN_EXE_gridledger"), &["registry"])?)?;
    let (mut child, address) = spawn_server(
        &directory.path().join("data"),
        &["--registry", &registry_file.to_string_lossy()],
    )?;
    let server = format!("http://{address}");
    let cli = |arguments: &[&str]| {
        let mut all = vec!["--server", server.as_str(), "--json"];
        all.extend_from_slice(arguments);
        run(env!("CARGO_BIN_EXE_gridledger"), &all).and_then(|out| Ok(serde_json::from_str::<serde_json::Value>(&out)?))
    };
    let ack = cli(&[
        "--actor",
        "worker-3",
        "report",
        "--grid",
        "runzhou.s3.c01.g02",
        "--category",
        "dispute",
        "--title",
        "噪音扰民 noise at night",
        "--reporter",
        "worker-3",
    ])?;
    let issue_id = ack["issue_id"].as_str().unwrap_or_default().to_owned();
    let history = run(
        env!("CARGO_BIN_EXE_gridledger"),
        &["--server", server.as_str(), "--json", "audit", "history", &issue_id],
    )?;
    let first_event: serde_json::Value = serde_json::from_str(history.lines().next().unwrap_or_default())?;
    assert_eq!(
        first_event["decoded"]["actor_id"].as_str(),
        Some("worker-3"),
        "{history}"
    );
    assert_eq!(
        (ack["status"].as_str(), ack["revision"].as_u64()),
        (Some("REPORTED"), Some(0))
    );
    let steps: [&[&str]; 4] = [
        &[
            "convene",
            &issue_id,
            "--meeting",
            "cli-m1",
            "--forum",
            "resident-representative-meeting",
            "--party",
            "residents",
        ],
        &[
            "conclude",
            &issue_id,
            "--meeting",
            "cli-m1",
            "--participants",
            "9",
            "--outcome",
            "quiet hours agreed",
        ],
        &["resolve", &issue_id, "--summary", "agreement holds"],
        &[
            "evaluate",
            &issue_id,
            "--satisfaction",
            "basically-satisfied",
            "--evaluator",
            "resident-9",
        ],
    ];
    for (index, step) in steps.iter().enumerate() {
        let ack = cli(step)?;
        assert_eq!(ack["revision"].as_u64(), Some(index as u64 + 1), "{step:?}");
    }
    let shown = cli(&["show", &issue_id])?;
    assert_eq!(
        (shown["status"].as_str(), shown["resolution_level"].as_str()),
        (Some("RESOLVED"), Some("COMMUNITY"))
    );
    let retried = cli(&["resolve", &issue_id, "--request-id", "cli-resolve-1"]);
    assert!(retried.is_err(), "resolving a resolved issue is refused");

    // Analysts' view: the figures as JSON, and a breakdown as CSV for a spreadsheet.
    let district = cli(&["stats"])?;
    assert_eq!(
        (district["accepted"].as_u64(), district["closed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        (
            district["deliberation_meetings"].as_u64(),
            district["participants"].as_u64()
        ),
        (Some(1), Some(9))
    );
    let csv = run(
        env!("CARGO_BIN_EXE_gridledger"),
        &[
            "--server",
            server.as_str(),
            "stats",
            "--by",
            "street",
            "--csv",
            "--from",
            "2020-01-01",
        ],
    )?;
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .is_some_and(|header| header.starts_with("street,accepted,closed,closure_rate")),
        "{csv}"
    );
    assert!(
        lines.next().is_some_and(|row| row.starts_with("runzhou.s3,1,1,100.0")),
        "{csv}"
    );

    // Another gRPC stack, from proto/ alone, walks an issue through its whole lifecycle.
    let root = repository_root();
    let python = python_with_grpc()?;
    run(
        &python,
        &[
            &root.join("docs/examples/walk_issue.py").to_string_lossy(),
            "--server",
            &address,
        ],
    )?;

    // The export verifies with the independent verifier, against the head the server reports.
    let export = directory.path().join("export.jsonl");
    let exported = cli(&["audit", "export", "--out", &export.to_string_lossy()])?;
    let verified = cli(&["audit", "verify"])?;
    assert_eq!(exported["exported"].as_u64(), verified["head_position"].as_u64());
    let head_hash = verified["head_hash"].as_str().unwrap_or_default().to_owned();
    let verifier = root.join("docs/examples/verify_export.py");
    let report = run(
        &python,
        &[
            &verifier.to_string_lossy(),
            &export.to_string_lossy(),
            "--expect-head-hash",
            &head_hash,
        ],
    )?;
    assert!(report.starts_with("ok:"), "{report}");

    // A byte changed in the export is caught by the verifier.
    let text = std::fs::read_to_string(&export)?;
    let tampered = directory.path().join("tampered.jsonl");
    let first_line_end = text.find('\n').unwrap_or(text.len());
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut line: serde_json::Value = serde_json::from_str(&text[..first_line_end])?;
    use base64::Engine;
    let mut record = base64::engine::general_purpose::STANDARD.decode(line["record"].as_str().unwrap_or_default())?;
    let last = record.len() - 1;
    record[last] ^= 0x20;
    line["record"] = serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(record));
    lines[0] = line.to_string();
    std::fs::write(&tampered, lines.join("\n") + "\n")?;
    let refused = Command::new(&python).arg(&verifier).arg(&tampered).output()?;
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stdout).contains("position 1"),
        "{}",
        String::from_utf8_lossy(&refused.stdout)
    );

    terminate(&child)?;
    assert!(child.wait()?.success());

    // With the server stopped, the projection can be rebuilt from position 1.
    let data_dir = directory.path().join("data");
    let rebuilt = run(
        env!("CARGO_BIN_EXE_gridledger"),
        &["--json", "rebuild", "--data", &data_dir.to_string_lossy()],
    )?;
    let rebuilt: serde_json::Value = serde_json::from_str(&rebuilt)?;
    assert_eq!(
        rebuilt["events"].as_u64(),
        verified["head_position"].as_u64(),
        "{rebuilt}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_load_exits_zero_and_keeps_every_acknowledged_command() -> anyhow::Result<()> {
    const CLIENTS: usize = 16;
    const ACKS_BEFORE_SIGTERM: usize = 300;
    let directory = tempfile::tempdir()?;
    let data_dir = directory.path().join("data");
    let (mut child, address) = spawn_server(&data_dir, &[])?;
    let channel = Channel::from_shared(format!("http://{address}"))?.connect().await?;
    let acknowledged: Arc<Mutex<Vec<proto::CommandAck>>> = Arc::new(Mutex::new(Vec::new()));
    let (enough_sender, mut enough) = tokio::sync::watch::channel(0usize);
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let mut client = IssueServiceClient::new(channel.clone());
        let acknowledged = acknowledged.clone();
        let enough_sender = enough_sender.clone();
        clients.spawn(async move {
            // Report until the server stops answering; keep every ack.
            while let Ok(ack) = client.report_issue(report_request("under load")).await {
                let count = {
                    let mut acknowledged = acknowledged.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                    acknowledged.push(ack.into_inner());
                    acknowledged.len()
                };
                enough_sender.send_replace(count);
            }
            anyhow::Ok(())
        });
    }
    enough.wait_for(|count| *count >= ACKS_BEFORE_SIGTERM).await?;
    terminate(&child)?;
    while let Some(result) = clients.join_next().await {
        result??;
    }
    let status = tokio::task::spawn_blocking(move || child.wait()).await??;
    assert!(status.success(), "gridledger serve exited with {status} after SIGTERM");

    let acknowledged = std::mem::take(&mut *acknowledged.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    assert!(acknowledged.len() >= ACKS_BEFORE_SIGTERM);
    let (mut child, address) = spawn_server(&data_dir, &[])?;
    let channel = Channel::from_shared(format!("http://{address}"))?.connect().await?;
    let mut issues = IssueServiceClient::new(channel.clone());
    for ack in &acknowledged {
        let issue = issues
            .get_issue(proto::GetIssueRequest {
                issue_id: ack.issue_id.clone(),
            })
            .await?
            .into_inner();
        assert_eq!(
            issue.revision, ack.revision,
            "issue {} lost its acknowledged report",
            ack.issue_id
        );
    }
    let verified = proto::audit_service_client::AuditServiceClient::new(channel)
        .verify_log(proto::VerifyLogRequest::default())
        .await?
        .into_inner();
    assert!(verified.ok, "{verified:?}");
    assert!(verified.head_position >= acknowledged.iter().map(|ack| ack.position).max().unwrap_or(0));
    terminate(&child)?;
    assert!(tokio::task::spawn_blocking(move || child.wait()).await??.success());
    Ok(())
}

#[test]
fn the_demo_lands_the_published_figures_and_verifies() -> anyhow::Result<()> {
    let output = run(env!("CARGO_BIN_EXE_gridledger"), &["--json", "demo", "--seed", "3"])?;
    let demo: serde_json::Value = serde_json::from_str(&output)?;
    let figure = |name: &str| demo["district"][name].as_f64().unwrap_or(f64::NAN);
    assert!((4_300.0..=4_399.0).contains(&figure("accepted")), "{output}");
    assert!(
        (2_700.0..=2_799.0).contains(&figure("deliberation_meetings")),
        "{output}"
    );
    assert!((39_000.0..=41_000.0).contains(&figure("participants")), "{output}");
    assert_eq!(format!("{:.1}", figure("closure_rate") * 100.0), "98.7", "{output}");
    assert_eq!(demo["streets"].as_array().map(Vec::len), Some(7));
    assert!(demo["verified_events"].as_u64().unwrap_or(0) > 20_000);
    Ok(())
}
