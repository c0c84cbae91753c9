//! End-to-end against the built `gridledger` binary: its CLI clients, its output for people and for scripts, its export checked by the Python verifier, a Python gRPC client, a rebuild, and SIGTERM under load.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};

use base64::Engine;
use gridledger_api::client::Client;
use gridledger_api::{Acknowledgement, CommandMeta};
use serde_json::Value;
use support::{gridledger, issue_report};

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `gridledger serve` on a free port; the child and the address it printed.
fn spawn_server(data_dir: &Path, extra_arguments: &[&str]) -> anyhow::Result<(Child, String)> {
    support::spawn_serve(data_dir, extra_arguments, None)
}

/// Runs a program and returns its stdout, failing on a non-zero exit.
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
/// `cargo test` alone sets up what the Python client needs on a fresh machine.
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

/// A `gridledger serve` child with its data in a temp dir, and the CLI pointed at it.
struct Served {
    directory: tempfile::TempDir,
    child: Child,
    address: String,
}

impl Served {
    /// Serves the built-in registry, given as a file printed by `gridledger registry` (the
    /// operator's path to a registry of their own).
    fn start() -> anyhow::Result<Served> {
        let directory = tempfile::tempdir()?;
        let registry_file = directory.path().join("registry.json");
        std::fs::write(&registry_file, gridledger(&["registry"])?)?;
        let (child, address) = spawn_server(
            &directory.path().join("data"),
            &["--registry", &registry_file.to_string_lossy()],
        )?;
        Ok(Served {
            directory,
            child,
            address,
        })
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The CLI's text output for `arguments` against this server.
    fn text(&self, arguments: &[&str]) -> anyhow::Result<String> {
        let url = self.url();
        let mut all = vec!["--server", url.as_str()];
        all.extend_from_slice(arguments);
        gridledger(&all)
    }

    /// The CLI's JSON output for `arguments` against this server.
    fn json(&self, arguments: &[&str]) -> anyhow::Result<Value> {
        let mut all = vec!["--json"];
        all.extend_from_slice(arguments);
        Ok(serde_json::from_str(&self.text(&all)?)?)
    }

    /// Reports an issue as worker-3 and walks it through a meeting with 9 participants to
    /// its evaluation, checking each revision; its id.
    fn walk_one_issue(&self) -> anyhow::Result<String> {
        let ack = self.json(&[
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
        assert_eq!(
            (ack["status"].as_str(), ack["revision"].as_u64()),
            (Some("REPORTED"), Some(0))
        );
        let issue_id = ack["issue_id"].as_str().unwrap_or_default().to_owned();
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
            let ack = self.json(step)?;
            assert_eq!(ack["revision"].as_u64(), Some(index as u64 + 1), "{step:?}");
        }
        Ok(issue_id)
    }

    /// Stops the server with SIGTERM and checks it exits cleanly.
    fn stop(mut self) -> anyhow::Result<tempfile::TempDir> {
        terminate(&self.child)?;
        assert!(self.child.wait()?.success());
        Ok(self.directory)
    }
}

#[test]
fn a_registry_that_does_not_validate_stops_the_server_saying_why() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
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
    Ok(())
}

#[test]
fn report_then_walk_the_lifecycle_from_the_cli() -> anyhow::Result<()> {
    let served = Served::start()?;
    let issue_id = served.walk_one_issue()?;
    let history = served.text(&["--json", "audit", "history", &issue_id])?;
    let first_event: Value = serde_json::from_str(history.lines().next().unwrap_or_default())?;
    assert_eq!(
        first_event["decoded"]["actor_id"].as_str(),
        Some("worker-3"),
        "{history}"
    );
    assert_eq!(history.lines().count(), 5, "{history}");
    let shown = served.json(&["show", &issue_id])?;
    assert_eq!(
        (shown["status"].as_str(), shown["resolution_level"].as_str()),
        (Some("RESOLVED"), Some("COMMUNITY"))
    );
    let retried = served.json(&["resolve", &issue_id, "--request-id", "cli-resolve-1"]);
    assert!(retried.is_err(), "resolving a resolved issue is refused");
    let refusal = retried.map(|_| ()).map_err(|error| error.to_string());
    assert!(
        refusal.as_ref().is_err_and(|error| error
            .contains("error: FailedPrecondition: ResolveIssue is not allowed while the issue is RESOLVED")),
        "{refusal:?}"
    );
    served.stop()?;
    Ok(())
}

#[test]
fn show_reads_like_a_case_file_and_history_says_what_happened() -> anyhow::Result<()> {
    let served = Served::start()?;
    let issue_id = served.walk_one_issue()?;
    let case_file = served.text(&["show", &issue_id])?;
    let lines: Vec<&str> = case_file.lines().map(str::trim_end).collect();
    assert_eq!(lines.first(), Some(&"噪音扰民 noise at night"), "{case_file}");
    for expected in [
        format!("  issue        {issue_id}  (revision 4)"),
        "  status       RESOLVED".to_owned(),
        "  where        grid runzhou.s3.c01.g02 · community runzhou.s3.c01 · street runzhou.s3 · district runzhou"
            .to_owned(),
        "  category     dispute".to_owned(),
        "  meetings     1 meeting concluded".to_owned(),
    ] {
        assert!(lines.contains(&expected.as_str()), "{expected:?} not in:\n{case_file}");
    }
    for prefix in [
        "  reported     ",
        "  due          ",
        "  resolved     at COMMUNITY level, ",
        "  evaluation   BASICALLY_SATISFIED by resident-9, ",
    ] {
        assert!(
            lines.iter().any(|line| line.starts_with(prefix)),
            "{prefix:?} not in:\n{case_file}"
        );
    }
    assert!(
        !case_file.contains("UNSPECIFIED") && !case_file.contains("OVERDUE"),
        "{case_file}"
    );

    let history = served.text(&["audit", "history", &issue_id])?;
    let expected = [
        "IssueReported",
        "DeliberationConvened       meeting cli-m1 (RESIDENT_REPRESENTATIVE_MEETING), parties: residents  -> IN_DELIBERATION",
        "DeliberationConcluded      meeting cli-m1, 9 participants, outcome \"quiet hours agreed\"  -> IN_PROGRESS",
        "IssueResolved              \"agreement holds\"  -> RESOLVED (COMMUNITY)",
        "ResolutionEvaluated        BASICALLY_SATISFIED by resident-9  -> RESOLVED (COMMUNITY)",
    ];
    assert_eq!(history.lines().count(), expected.len(), "{history}");
    for (revision, (line, expected)) in history.lines().zip(expected).enumerate() {
        assert!(line.contains(&format!("  rev {revision:<3} ")), "{line}");
        assert!(line.contains(expected), "{expected:?} not in {line}");
    }
    assert!(
        history
            .lines()
            .next()
            .is_some_and(|line| line.contains("by worker-3, due ") && line.contains("-> REPORTED  actor worker-3")),
        "{history}"
    );
    let replay = served.text(&["audit", "replay", &issue_id, "--up-to-revision", "1"])?;
    assert_eq!(
        replay.lines().collect::<Vec<_>>(),
        history.lines().take(2).collect::<Vec<_>>()
    );
    served.stop()?;
    Ok(())
}

#[test]
fn report_prints_just_the_id_for_scripts() -> anyhow::Result<()> {
    let served = Served::start()?;
    let report = [
        "report",
        "--grid",
        "runzhou.s1.c01.g01",
        "--category",
        "environment",
        "--title",
        "Overflowing bins",
        "--reporter",
        "worker-7",
    ];
    // Captured by a pipe, as `ID=$(gridledger report ...)` does: just the id.
    let piped = served.text(&report)?;
    let issue_id = piped.strip_suffix('\n').unwrap_or_default();
    assert!(uuid::Uuid::parse_str(issue_id).is_ok(), "{piped:?}");
    let quiet = served.text(&[&report[..], &["--quiet"]].concat())?;
    assert!(
        uuid::Uuid::parse_str(quiet.trim_end()).is_ok() && quiet != piped,
        "{quiet:?}"
    );
    // The id is what the other commands take.
    let handled = served.json(&["handle", issue_id, "--summary", "emptied on the spot"])?;
    assert_eq!(
        (handled["issue_id"].as_str(), handled["status"].as_str()),
        (Some(issue_id), Some("RESOLVED"))
    );
    let listed = served.json(&["list", "--scope", "runzhou.s1", "--status", "resolved"])?;
    assert_eq!(listed["issues"][0]["issue_id"].as_str(), Some(issue_id), "{listed}");
    assert_eq!(listed["issues"].as_array().map(Vec::len), Some(1), "{listed}");
    served.stop()?;
    Ok(())
}

#[test]
fn stats_from_the_cli_as_json_and_csv() -> anyhow::Result<()> {
    let served = Served::start()?;
    served.walk_one_issue()?;
    let district = served.json(&["stats"])?;
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
    let csv = served.text(&["stats", "--by", "street", "--csv", "--from", "2020-01-01"])?;
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
    served.stop()?;
    Ok(())
}

/// `gridledger stats` reads dates and months in the zone of the scope's district, which
/// it asks the server for: the built-in Runzhou keeps Asia/Shanghai (UTC+8).
#[test]
fn stats_dates_and_months_are_the_district_s_local_ones() -> anyhow::Result<()> {
    let served = Served::start()?;
    // 23:30 on 31 January and 07:00 on 1 February in Shanghai.
    for occurred_at in ["2026-01-31T15:30:00Z", "2026-01-31T23:00:00Z"] {
        served.text(&[
            "report",
            "--grid",
            "runzhou.s3.c01.g02",
            "--category",
            "dispute",
            "--title",
            "noise at night",
            "--reporter",
            "worker-3",
            "--occurred-at",
            occurred_at,
        ])?;
    }
    let accepted = |arguments: &[&str]| -> anyhow::Result<Option<u64>> {
        let mut all = vec!["stats"];
        all.extend_from_slice(arguments);
        Ok(served.json(&all)?["accepted"].as_u64())
    };
    for (arguments, expected) in [
        (&["--month", "2026-02"][..], 1),
        (&["--month", "2026-01", "--scope", "runzhou.s3"][..], 1),
        (&["--from", "2026-02-01", "--to", "2026-03-01"][..], 1),
        (&["--from", "2026-02-01T07:00", "--to", "2026-03-01"][..], 1),
        (&["--from", "2026-02-01T07:01", "--to", "2026-03-01"][..], 0),
        (&["--from", "2026-02-01T00:00:00Z"][..], 0),
        (&["--month", "2026-01", "--time-zone", "UTC"][..], 2),
    ] {
        assert_eq!(accepted(arguments)?, Some(expected), "{arguments:?}");
    }
    let months = served.json(&["stats", "--by", "month"])?;
    let rows: Vec<(Option<&str>, Option<u64>)> = months
        .as_array()
        .into_iter()
        .flatten()
        .map(|row| (row["key"].as_str(), row["stats"]["accepted"].as_u64()))
        .collect();
    assert_eq!(rows, [(Some("2026-01"), Some(1)), (Some("2026-02"), Some(1))]);
    let refused = Command::new(env!("CARGO_BIN_EXE_gridledger"))
        .args(["--server", &served.url(), "stats", "--month", "Feb"])
        .output()?;
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains(
            "invalid --month: \"Feb\" is not a month; expected a month YYYY-MM, local meaning in Asia/Shanghai"
        ),
        "{refused:?}"
    );
    served.stop()?;
    Ok(())
}

#[test]
fn a_python_grpc_client_built_from_proto_alone_walks_an_issue() -> anyhow::Result<()> {
    let served = Served::start()?;
    let python = python_with_grpc()?;
    let walked = run(
        &python,
        &[
            &repository_root().join("docs/examples/walk_issue.py").to_string_lossy(),
            "--server",
            &served.address,
        ],
    )?;
    assert!(walked.contains("ok: walked issue"), "{walked}");
    served.stop()?;
    Ok(())
}

#[test]
fn export_is_verified_by_the_python_verifier() -> anyhow::Result<()> {
    let served = Served::start()?;
    served.walk_one_issue()?;
    let export = served.directory.path().join("export.jsonl");
    let exported = served.json(&["audit", "export", "--out", &export.to_string_lossy()])?;
    let verified = served.json(&["audit", "verify"])?;
    assert_eq!(exported["exported"].as_u64(), verified["head_position"].as_u64());
    assert_eq!(verified["ok"].as_bool(), Some(true));

    // Every time in the export is RFC 3339 text, the report's deadline included.
    let text = std::fs::read_to_string(&export)?;
    for line in text.lines() {
        let line: Value = serde_json::from_str(line)?;
        for time in [
            &line["decoded"]["recorded_at"],
            &line["decoded"]["occurred_at"],
            &line["event"]["due_at"],
        ] {
            if !time.is_null() {
                assert!(
                    time.as_str().is_some_and(|time| humantime::parse_rfc3339(time).is_ok()),
                    "{time} in {line}"
                );
            }
        }
    }

    // The independent verifier needs a stock Python 3 only, and checks the head hash the
    // server reports.
    let head_hash = verified["head_hash"].as_str().unwrap_or_default().to_owned();
    let verifier = repository_root().join("docs/examples/verify_export.py");
    let report = run(
        "python3",
        &[
            &verifier.to_string_lossy(),
            &export.to_string_lossy(),
            "--expect-head-hash",
            &head_hash,
        ],
    )?;
    assert!(report.starts_with("ok:"), "{report}");

    // A byte changed in the export is caught by the verifier.
    let tampered = served.directory.path().join("tampered.jsonl");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut line: Value = serde_json::from_str(&lines[0])?;
    let mut record = base64::engine::general_purpose::STANDARD.decode(line["record"].as_str().unwrap_or_default())?;
    let last = record.len() - 1;
    record[last] ^= 0x20;
    line["record"] = Value::String(base64::engine::general_purpose::STANDARD.encode(record));
    lines[0] = line.to_string();
    std::fs::write(&tampered, lines.join("\n") + "\n")?;
    let refused = Command::new("python3").arg(&verifier).arg(&tampered).output()?;
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stdout).contains("position 1"),
        "{}",
        String::from_utf8_lossy(&refused.stdout)
    );
    served.stop()?;
    Ok(())
}

#[test]
fn rebuild_after_the_server_stops_replays_every_event() -> anyhow::Result<()> {
    let served = Served::start()?;
    served.walk_one_issue()?;
    let head = served.json(&["audit", "verify"])?["head_position"].as_u64();
    let directory = served.stop()?;
    let data_dir = directory.path().join("data");
    let rebuilt: Value = serde_json::from_str(&gridledger(&[
        "--json",
        "rebuild",
        "--data",
        &data_dir.to_string_lossy(),
    ])?)?;
    assert_eq!(rebuilt["events"].as_u64(), head, "{rebuilt}");
    assert_eq!(rebuilt["issues"].as_u64(), Some(1), "{rebuilt}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_keeps_every_acknowledged_report() -> anyhow::Result<()> {
    const CLIENTS: usize = 16;
    const ACKS_BEFORE_SIGTERM: usize = 300;
    let directory = tempfile::tempdir()?;
    let data_dir = directory.path().join("data");
    let (mut child, address) = spawn_server(&data_dir, &[])?;
    // One attempt per report: a report the server does not answer is not acknowledged.
    let no_retries = gridledger_api::client::RetryPolicy {
        attempts: 1,
        ..Default::default()
    };
    let client = Client::connect(&format!("http://{address}"), None)
        .await?
        .with_retry_policy(no_retries);
    let acknowledged: Arc<Mutex<Vec<Acknowledgement>>> = Arc::new(Mutex::new(Vec::new()));
    let (enough_sender, mut enough) = tokio::sync::watch::channel(0usize);
    let report = issue_report("under load")?;
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let client = client.clone();
        let report = report.clone();
        let acknowledged = acknowledged.clone();
        let enough_sender = enough_sender.clone();
        clients.spawn(async move {
            // Report until the server stops answering; keep every ack.
            while let Ok(ack) = client.report(&CommandMeta::with_fresh_request_id(), &report).await {
                let count = {
                    let mut acknowledged = acknowledged.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                    acknowledged.push(ack);
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
    let client = Client::connect(&format!("http://{address}"), None).await?;
    for ack in &acknowledged {
        let issue = client.get_issue(ack.issue_id).await?;
        assert_eq!(
            issue.revision, ack.revision,
            "issue {} lost its acknowledged report",
            ack.issue_id
        );
    }
    let verified = client.verify_log(0, 0).await?;
    assert!(verified.ok, "{verified:?}");
    assert!(verified.head_position >= acknowledged.iter().map(|ack| ack.position).max().unwrap_or(0));
    terminate(&child)?;
    assert!(tokio::task::spawn_blocking(move || child.wait()).await??.success());
    Ok(())
}

/// Runs `gridledger serve` expecting it to fail; its stderr.
fn serve_failure(arguments: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_gridledger"))
        .arg("serve")
        .args(arguments)
        .env("GRIDLEDGER_LOG", "error")
        .output()?;
    anyhow::ensure!(!output.status.success(), "serve {arguments:?} should fail");
    Ok(String::from_utf8(output.stderr)?)
}

#[test]
fn a_data_path_that_is_a_file_is_named_and_the_cause_said_once() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let file = directory.path().join("not-a-directory");
    std::fs::write(&file, "x")?;
    let path = file.to_string_lossy().into_owned();
    let stderr = serve_failure(&["--listen", "127.0.0.1:0", "--data", &path])?;
    assert!(stderr.contains(&path), "{stderr}");
    assert_eq!(stderr.matches("File exists").count(), 1, "{stderr}");
    Ok(())
}

#[test]
fn a_failed_bind_leaves_no_data_directory_behind() -> anyhow::Result<()> {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = taken.local_addr()?.to_string();
    let directory = tempfile::tempdir()?;
    let data_dir = directory.path().join("data");
    let stderr = serve_failure(&["--listen", &address, "--data", &data_dir.to_string_lossy()])?;
    assert!(stderr.contains("cannot listen on"), "{stderr}");
    assert_eq!(stderr.matches("Address already in use").count(), 1, "{stderr}");
    assert!(!data_dir.exists(), "the data directory was created: {stderr}");
    Ok(())
}

/// `gridledger … | head -1`: a reader that closes the pipe early ends the CLI quietly
/// (exit 0 if everything was written before, 141 as for SIGPIPE otherwise), never with a
/// panic.
#[test]
fn a_closed_stdout_ends_the_cli_quietly() -> anyhow::Result<()> {
    let served = Served::start()?;
    let issue_id = served.walk_one_issue()?;
    let url = served.url();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gridledger"))
        .args(["--server", url.as_str(), "audit", "history", &issue_id])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    // Close the reading end before the CLI has its answer to print.
    drop(child.stdout.take());
    let output = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        matches!(output.status.code(), Some(0 | 141)),
        "{:?}: {stderr}",
        output.status
    );
    served.stop()?;
    Ok(())
}
