//! `gridledger field` end to end, the built binary against a `gridledger serve` on a free
//! port: commands queued while no server runs (a report with a photo and a location, a
//! handling, a resolution the lifecycle will refuse, a retried handling, an evaluation),
//! a sync while the server is still away, then syncs against it; what the issue, its
//! evidence and the queue hold afterwards; `report`, `handle` and `resolve` with a location
//! and photos; and `docs/examples/field_sync.py`, the same protocol from Python.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use gridledger_api::client::Client;
use gridledger_domain::{CoordinateSystem, IssueId, Location};
use serde_json::Value;
use support::{GRID, gridledger};

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the binary with `arguments`; checks its exit status and that its stdout and stderr
/// together say each of `words`; its stdout.
fn check(arguments: &[&str], status: i32, words: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_gridledger"))
        .args(arguments)
        .output()?;
    let stdout = String::from_utf8(output.stdout)?;
    let said = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(status), "gridledger {arguments:?}:\n{said}");
    for word in words {
        assert!(
            said.contains(word),
            "gridledger {arguments:?} should say {word:?}:\n{said}"
        );
    }
    Ok(stdout)
}

/// `field --queue QUEUE` and the rest of the arguments.
fn with_queue<'a>(queue: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    [&["field", "--queue", queue][..], rest].concat()
}

/// `gridledger serve` on a free port over a temp dir, stopped when dropped.
struct Served {
    child: Child,
    address: String,
    _directory: tempfile::TempDir,
}

impl Served {
    fn start() -> anyhow::Result<Served> {
        let directory = tempfile::tempdir()?;
        let (child, address) = support::spawn_serve(&directory.path().join("data"), &[], None)?;
        Ok(Served {
            child,
            address,
            _directory: directory,
        })
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bytes of a small PNG: its signature and header chunk, then `marker`.
fn png(marker: &str) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0".to_vec();
    bytes.extend_from_slice(marker.as_bytes());
    bytes
}

/// A loopback URL where nothing listens.
fn nowhere() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    drop(listener);
    Ok(format!("http://{address}"))
}

/// The queue as `field status --json` shows it.
fn status(queue: &str) -> anyhow::Result<Value> {
    Ok(serde_json::from_str(&check(
        &["--json", "field", "--queue", queue, "status"],
        0,
        &[],
    )?)?)
}

/// The JSON lines a `field sync --json` printed: each result by request id (in the order
/// they came), and the summary.
fn sync_lines(stdout: &str) -> anyhow::Result<(BTreeMap<String, Vec<Value>>, Value)> {
    let mut results: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut summary = Value::Null;
    for line in stdout.lines() {
        let line: Value = serde_json::from_str(line)?;
        match line["request_id"].as_str() {
            Some(request_id) => results.entry(request_id.to_owned()).or_default().push(line),
            None => summary = line,
        }
    }
    Ok((results, summary))
}

/// The result words of `lines`: `acked`, `acked duplicate`, `refused FAILED_PRECONDITION`.
fn outcomes(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .map(|line| match line["result"].as_str() {
            Some("acked") if line["ack"]["duplicate"] == true => "acked duplicate".to_owned(),
            Some("acked") => "acked".to_owned(),
            Some(result) => format!("{result} {}", line["error"]["code"].as_str().unwrap_or_default()),
            None => format!("{line}"),
        })
        .collect()
}

const LATITUDE: &str = "32.1987654321";
const LONGITUDE: &str = "119.4345678901";
const ADDRESS: &str = "润州区 金山路 3 号 B 栋楼道";

fn given_location() -> anyhow::Result<Location> {
    Ok(Location::new(
        LATITUDE.parse()?,
        LONGITUDE.parse()?,
        CoordinateSystem::Gcj02,
        Some(7.25),
        Some(ADDRESS.to_owned()),
    )?)
}

#[tokio::test]
async fn a_queue_made_offline_syncs_once_and_keeps_only_the_refused_command_with_its_reason() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let queue_path = directory.path().join("queue");
    let queue = queue_path.to_str().unwrap_or_default();
    let photo_bytes = png("overflowing bins, building 3");
    let photo_path = directory.path().join("bins.png");
    std::fs::write(&photo_path, &photo_bytes)?;
    let photo = photo_path.to_str().unwrap_or_default();
    let notes_path = directory.path().join("notes.txt");
    std::fs::write(&notes_path, "not a photo")?;
    let notes = notes_path.to_str().unwrap_or_default();

    // No server anywhere: the report gets its id now (printed alone, stdout not being a
    // terminal), with its location and a copy of its photo.
    let issue = check(
        &with_queue(
            queue,
            &[
                "queue",
                "report",
                "--grid",
                GRID,
                "--category",
                "environment",
                "--title",
                "Overflowing bins",
                "--reporter",
                "worker-7",
                "--lat",
                LATITUDE,
                "--lon",
                LONGITUDE,
                "--coordinate-system",
                "gcj02",
                "--accuracy-m",
                "7.25",
                "--address",
                ADDRESS,
                "--photo",
                photo,
                "--request-id",
                "report-1",
            ],
        ),
        0,
        &[],
    )?
    .trim()
    .to_owned();
    let issue_id = IssueId::parse(&issue)?;
    assert_eq!(issue_id.as_uuid().get_version_num(), 7, "{issue}");

    // What the server would refuse whenever it is sent is refused now, and nothing is written.
    for (arguments, words) in [
        (
            vec!["queue", "handle", &issue, "--lat", "95", "--lon", LONGITUDE],
            &["invalid location.latitude: must be within -90..=90 degrees, got 95"][..],
        ),
        (
            vec!["queue", "resolve", &issue, "--photo", notes],
            &["invalid evidence: its bytes are of no media type"][..],
        ),
        (vec!["queue", "handle", "building-3"], &["invalid issue_id"][..]),
        (
            vec!["queue", "handle", &issue, "--occurred-at", "2099-01-01T00:00:00Z"],
            &["invalid meta.occurred_at", "in the future"][..],
        ),
        (
            vec!["queue", "accept", &issue, "--assignee", "a", "--photo", photo],
            &["unexpected argument '--photo'"][..],
        ),
    ] {
        check(
            &with_queue(queue, &arguments),
            if words[0].starts_with("unexpected") { 2 } else { 1 },
            words,
        )?;
    }
    assert_eq!(status(queue)?["entries"].as_array().map(Vec::len), Some(1));

    // A handling with the same photo, a resolution the lifecycle will refuse once the issue
    // is resolved, the handling queued again with its request id (a retry), an evaluation.
    let queued = [
        (
            vec![
                "queue",
                "handle",
                &issue,
                "--summary",
                "emptied on the spot",
                "--request-id",
                "handle-1",
                "--photo",
                photo,
            ],
            &["queued handle with 1 photo for issue"][..],
        ),
        (
            vec![
                "queue",
                "resolve",
                &issue,
                "--summary",
                "resolved again",
                "--request-id",
                "resolve-1",
            ],
            &[][..],
        ),
        (
            vec![
                "queue",
                "handle",
                &issue,
                "--summary",
                "emptied on the spot",
                "--request-id",
                "handle-1",
            ],
            &["note: request id handle-1 is queued already (entry 2)"][..],
        ),
        (
            vec![
                "queue",
                "evaluate",
                &issue,
                "--satisfaction",
                "satisfied",
                "--evaluator",
                "resident-9",
                "--request-id",
                "evaluate-1",
            ],
            &["5 entries in"][..],
        ),
    ];
    for (arguments, words) in queued {
        check(&with_queue(queue, &arguments), 0, words)?;
    }
    let photo_copy = queue_path.join("photos").join(hex_sha256(&photo_bytes)?);
    assert_eq!(std::fs::read(&photo_copy)?, photo_bytes, "the queue keeps its own copy");

    // Syncing while the server is away sends nothing and keeps everything.
    let before = std::fs::read_to_string(queue_path.join("queue.json"))?;
    let away = nowhere()?;
    check(
        &[&["--server", &away][..], &with_queue(queue, &["sync"])].concat(),
        4,
        &["cannot connect", "the queue's 5 entries stay queued"],
    )?;
    assert_eq!(std::fs::read_to_string(queue_path.join("queue.json"))?, before);

    // The server comes up: one sync, every result recorded.
    let served = Served::start()?;
    let url = served.url();
    let synced = check(
        &[&["--json", "--server", &url][..], &with_queue(queue, &["sync"])].concat(),
        3,
        &["1 refused command remains"],
    )?;
    let (results, summary) = sync_lines(&synced)?;
    let by_request: BTreeMap<&str, Vec<String>> = results
        .iter()
        .map(|(request_id, lines)| (request_id.as_str(), outcomes(lines)))
        .collect();
    assert_eq!(
        by_request,
        BTreeMap::from([
            ("evaluate-1", vec!["acked".to_owned()]),
            ("handle-1", vec!["acked".to_owned(), "acked duplicate".to_owned()]),
            ("report-1", vec!["acked".to_owned()]),
            ("resolve-1", vec!["refused FAILED_PRECONDITION".to_owned()]),
        ])
    );
    let refusal = results["resolve-1"][0]["error"].clone();
    assert_eq!(
        refusal["message"]
            .as_str()
            .map(|message| message.starts_with("ResolveIssue is not allowed while the issue is RESOLVED")),
        Some(true),
        "{refusal}"
    );
    assert_eq!(results["evaluate-1"][0]["ack"]["revision"], 2);
    assert_eq!(
        summary["summary"],
        serde_json::json!({"sent": 5, "acked": 4, "duplicates": 1, "refused": 1, "refused_here": 0, "to_retry": 0, "unanswered": 0})
    );

    // The queue holds the refused command alone, with its reason; the photo copies are gone.
    let after = status(queue)?;
    let entries = after["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 1, "{after}");
    assert_eq!(
        (
            &entries[0]["request_id"],
            &entries[0]["state"]["state"],
            &entries[0]["state"]["code"],
            &entries[0]["state"]["message"]
        ),
        (
            &Value::from("resolve-1"),
            &Value::from("refused"),
            &refusal["code"],
            &refusal["message"]
        )
    );
    assert_eq!(
        (&after["pending"], &after["refused"]),
        (&Value::from(0), &Value::from(1))
    );
    assert!(!photo_copy.exists(), "photos no entry references are removed");

    // The issue: where it was reported, exactly as given, and its photo, whose bytes come back.
    let client = Client::connect(&url, None).await?;
    let view = client.get_issue(issue_id).await?;
    assert_eq!(view.location, Some(given_location()?));
    assert_eq!(view.evidence.len(), 1, "{:?}", view.evidence);
    assert_eq!(view.evidence[0].sha256.to_hex(), hex_sha256(&photo_bytes)?);
    assert_eq!(view.evidence[0].media_type.as_str(), "image/png");
    let blob = client.get_evidence(issue_id, view.evidence[0].sha256).await?;
    assert_eq!(blob.bytes, photo_bytes);
    assert_eq!((view.revision, view.status.as_str()), (2, "RESOLVED"));
    let shown = gridledger(&["--server", &url, "show", &issue])?;
    for line in [
        format!("  location     {LATITUDE}, {LONGITUDE} (GCJ02), accuracy 7.25 m, \"{ADDRESS}\""),
        format!(
            "  evidence     {} (image/png, {} bytes)",
            hex_sha256(&photo_bytes)?,
            photo_bytes.len()
        ),
    ] {
        assert!(shown.contains(&line), "{line:?} not in:\n{shown}");
    }
    let history = gridledger(&["--server", &url, "audit", "history", &issue])?;
    assert!(
        history.contains(&format!("; at {LATITUDE}, {LONGITUDE} (GCJ02), accuracy 7.25 m")),
        "{history}"
    );

    // Syncing again sends the refused command alone, refused the same way.
    let again = check(
        &[&["--json", "--server", &url][..], &with_queue(queue, &["sync"])].concat(),
        3,
        &[],
    )?;
    let (results, summary) = sync_lines(&again)?;
    assert_eq!(results.keys().collect::<Vec<_>>(), ["resolve-1"]);
    assert_eq!(results["resolve-1"][0]["error"], refusal);
    assert_eq!(summary["summary"]["sent"], 1);
    assert_eq!(status(queue)?["entries"], after["entries"]);

    // For people: the refused entry and its reason; then dropped, and nothing is left.
    check(
        &with_queue(queue, &["status"]),
        0,
        &[
            "1 entry (0 pending, 1 refused)",
            "resolve-1",
            "resolve",
            &issue,
            "refused",
            "FAILED_PRECONDITION: ResolveIssue is not allowed",
        ],
    )?;
    check(
        &with_queue(queue, &["drop", "nope"]),
        1,
        &["nope not in the queue", "nothing was dropped"],
    )?;
    check(
        &with_queue(queue, &["drop", "resolve-1"]),
        0,
        &["dropped 1 entry; 0 entries left"],
    )?;
    check(
        &[&["--server", &url][..], &with_queue(queue, &["sync"])].concat(),
        0,
        &["nothing to sync"],
    )?;
    Ok(())
}

#[test]
fn a_long_queue_goes_over_one_stream_saved_as_results_arrive() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let queue_path = directory.path().join("queue");
    let queue = queue_path.to_str().unwrap_or_default();
    let due = humantime::format_rfc3339(std::time::SystemTime::now() + std::time::Duration::from_secs(3 * 86_400))
        .to_string();
    // 40 issues, each reported, dispatched and accepted: 120 commands, more than the sync
    // saves the queue after, on 40 issues applied concurrently, each in its own order.
    let mut issues = Vec::new();
    for number in 0..40 {
        let title = format!("Broken street light {number}");
        let issue = check(
            &with_queue(
                queue,
                &[
                    "queue",
                    "report",
                    "--grid",
                    GRID,
                    "--category",
                    "municipal-facilities",
                    "--title",
                    &title,
                    "--reporter",
                    "worker-7",
                ],
            ),
            0,
            &[],
        )?
        .trim()
        .to_owned();
        for arguments in [
            &[
                "queue",
                "dispatch",
                &issue,
                "--assignee",
                "electrician-2",
                "--due",
                &due,
            ][..],
            &["queue", "accept", &issue, "--assignee", "electrician-2"][..],
        ] {
            check(&with_queue(queue, arguments), 0, &[])?;
        }
        issues.push(issue);
    }
    let served = Served::start()?;
    let url = served.url();
    let synced = check(
        &[&["--json", "--server", &url][..], &with_queue(queue, &["sync"])].concat(),
        0,
        &[],
    )?;
    let (results, summary) = sync_lines(&synced)?;
    assert_eq!(results.len(), 120);
    assert!(results.values().all(|lines| outcomes(lines) == ["acked"]), "{synced}");
    assert_eq!(summary["queue"]["entries"], 0, "{summary}");
    assert_eq!(status(queue)?["entries"], serde_json::json!([]));
    for issue in [&issues[0], &issues[39]] {
        let shown: Value = serde_json::from_str(&gridledger(&["--server", &url, "--json", "show", issue])?)?;
        assert_eq!(
            (&shown["status"], &shown["revision"]),
            (&Value::from("IN_PROGRESS"), &Value::from(2))
        );
        assert_eq!(shown["assignment"]["accepted"], true);
    }
    Ok(())
}

/// The SHA-256 of `bytes` in hex, as `sha256sum` prints it.
fn hex_sha256(bytes: &[u8]) -> anyhow::Result<String> {
    use sha2::Digest;
    Ok(hex::encode(sha2::Sha256::digest(bytes)))
}

#[tokio::test]
async fn report_handle_and_resolve_upload_their_photos_and_keep_their_location() -> anyhow::Result<()> {
    let served = Served::start()?;
    let url = served.url();
    let directory = tempfile::tempdir()?;
    let before = directory.path().join("before.png");
    let after = directory.path().join("after.png");
    std::fs::write(&before, png("before"))?;
    std::fs::write(&after, png("after"))?;
    let (before, after) = (before.to_str().unwrap_or_default(), after.to_str().unwrap_or_default());
    let issue = gridledger(&[
        "--server",
        &url,
        "report",
        "--grid",
        GRID,
        "--category",
        "environment",
        "--title",
        "Broken bench",
        "--reporter",
        "worker-7",
        "--lat",
        LATITUDE,
        "--lon",
        LONGITUDE,
        "--coordinate-system",
        "gcj02",
        "--accuracy-m",
        "7.25",
        "--address",
        ADDRESS,
        "--photo",
        before,
    ])?
    .trim()
    .to_owned();
    check(
        &[
            "--server",
            &url,
            "handle",
            &issue,
            "--summary",
            "fixed",
            "--lat",
            "32.2",
            "--lon",
            "119.43",
            "--photo",
            after,
            "--photo",
            before,
        ],
        0,
        &["status RESOLVED"],
    )?;
    // Far outside the district: the bounding box is the server's to check.
    check(&["--server", &url, "reopen", &issue], 0, &["status REOPENED"])?;
    check(
        &["--server", &url, "resolve", &issue, "--lat", "0", "--lon", "0"],
        1,
        &["InvalidArgument", "lies far outside district runzhou"],
    )?;
    let shown: Value = serde_json::from_str(&gridledger(&["--server", &url, "--json", "show", &issue])?)?;
    assert_eq!(
        shown["location"],
        serde_json::json!({"latitude": 32.1987654321, "longitude": 119.4345678901, "coordinate_system": "GCJ02", "accuracy_m": 7.25, "address": ADDRESS})
    );
    let digests: Vec<&str> = shown["evidence"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|reference| reference["sha256"].as_str())
        .collect();
    assert_eq!(digests, [hex_sha256(&png("before"))?, hex_sha256(&png("after"))?]);
    Ok(())
}

/// A Python 3 with protobuf, grpcio and grpcio-tools: the system one if it has them, else
/// a virtualenv made once under the target dir with those packages from PyPI.
fn python_with_grpc() -> anyhow::Result<String> {
    let has_packages = |python: &str| {
        Command::new(python)
            .args(["-c", "import google.protobuf, grpc, grpc_tools"])
            .output()
            .is_ok_and(|output| output.status.success())
    };
    if has_packages("python3") {
        return Ok("python3".to_owned());
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-grpc");
    let python = venv.join("bin/python3").to_string_lossy().into_owned();
    if !has_packages(&python) {
        let run = |program: &str, arguments: &[&str]| -> anyhow::Result<()> {
            let output = Command::new(program).args(arguments).output()?;
            anyhow::ensure!(output.status.success(), "{program} {arguments:?}: {output:?}");
            Ok(())
        };
        run("python3", &["-m", "venv", &venv.to_string_lossy()])?;
        run(
            &python,
            &["-m", "pip", "install", "--quiet", "protobuf", "grpcio", "grpcio-tools"],
        )?;
    }
    Ok(python)
}

#[test]
fn the_python_example_syncs_a_queue_over_one_stream() -> anyhow::Result<()> {
    let served = Served::start()?;
    let python = python_with_grpc()?;
    let output = Command::new(&python)
        .arg(repository_root().join("docs/examples/field_sync.py"))
        .args(["--server", &served.address])
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "field_sync.py failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    for words in [
        "uploaded photo",
        "acked    report-",
        "refused  resolve-",
        "FAILED_PRECONDITION",
        "duplicate",
        "replayed: the same answers",
        "ok: synced",
    ] {
        assert!(stdout.contains(words), "{words:?} not in:\n{stdout}");
    }
    Ok(())
}
