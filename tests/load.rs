//! End-to-end: `gridledger load` against a real `gridledger serve` (with and without `--auth`), each mix's JSON checked, and its refusals (an unknown mix, a server that is not there).

mod support;

use std::process::{Child, Command};

use serde_json::Value;

/// The keys of `load --json`, which benchmark harnesses parse.
const KEYS: [&str; 12] = [
    "mix",
    "clients",
    "connections",
    "operations",
    "ok",
    "errors",
    "seconds",
    "ops_per_second",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "max_ms",
];

/// A child process, killed if the test ends before the child does.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// What the built binary did: exit success, stdout, stderr.
fn gridledger(arguments: &[&str]) -> anyhow::Result<(bool, String, String)> {
    let output = Command::new(env!("CARGO_BIN_EXE_gridledger"))
        .args(arguments)
        .env_remove("GRIDLEDGER_TOKEN")
        .env_remove("GRIDLEDGER_JSON")
        .env_remove("GRIDLEDGER_REGISTRY")
        .output()?;
    Ok((
        output.status.success(),
        String::from_utf8(output.stdout)?,
        String::from_utf8(output.stderr)?,
    ))
}

/// `gridledger [prefix…] load --mix MIX --clients 4 --connections 2 --commands 40 --json`:
/// the one JSON object it prints, checked for its keys and finite numbers.
fn load(prefix: &[&str], mix: &str) -> anyhow::Result<Value> {
    let mut arguments = prefix.to_vec();
    arguments.extend([
        "load",
        "--mix",
        mix,
        "--clients",
        "4",
        "--connections",
        "2",
        "--commands",
        "40",
        "--json",
    ]);
    let (ok, stdout, stderr) = gridledger(&arguments)?;
    anyhow::ensure!(ok, "load --mix {mix} failed:\n{stdout}\n{stderr}");
    let figures: Value = serde_json::from_str(stdout.trim()).map_err(|error| {
        anyhow::anyhow!("load --mix {mix} printed more or other than one JSON object ({error}):\n{stdout}")
    })?;
    let object = figures
        .as_object()
        .ok_or_else(|| anyhow::anyhow!("not an object: {figures}"))?;
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected, "{figures}");
    assert_eq!(figures["mix"], mix);
    assert_eq!(figures["clients"], 4);
    assert_eq!(figures["connections"], 2);
    assert_eq!(figures["operations"], 40);
    for key in ["seconds", "ops_per_second", "p50_ms", "p90_ms", "p99_ms", "max_ms"] {
        let value = figures[key]
            .as_f64()
            .ok_or_else(|| anyhow::anyhow!("{key} is not a number: {figures}"))?;
        assert!(value.is_finite() && value >= 0.0, "{key}: {figures}");
    }
    Ok(figures)
}

#[test]
fn every_mix_runs_all_its_operations_against_a_real_server() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let (child, address) = support::spawn_serve(&directory.path().join("data"), &[], None)?;
    let _server = Reaped(child);
    let server = format!("http://{address}");
    for mix in ["health", "report", "lifecycle", "read"] {
        let figures = load(&["--server", &server], mix)?;
        assert_eq!(figures["ok"], 40, "{mix}: {figures}");
        assert_eq!(figures["errors"], serde_json::json!({}), "{mix}: {figures}");
        assert!(figures["p50_ms"].as_f64() <= figures["max_ms"].as_f64(), "{figures}");
    }
    // For people: the summary, with the latency of each call of a mix of several.
    let (ok, stdout, stderr) = gridledger(&[
        "--server",
        &server,
        "load",
        "--mix",
        "read",
        "--clients",
        "3",
        "--connections",
        "1",
        "--commands",
        "9",
        "--warmup",
        "0",
    ])?;
    anyhow::ensure!(ok, "load --mix read failed:\n{stdout}\n{stderr}");
    for expected in [
        "mix read",
        "3 clients over 1 connections",
        "9 timed: 9 ok, 0 failed",
        "GetIssue",
        "ListIssues",
        "GetGovernanceStats",
        "errors       none",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in:\n{stdout}");
    }
    // The lifecycle walked its issues to the end: 4 clients × (20 warmup + 10 timed)
    // operations are 24 full walks of 5 commands, each issue evaluated.
    let (ok, stdout, stderr) = gridledger(&["--server", &server, "stats", "--scope", "runzhou", "--json"])?;
    anyhow::ensure!(ok, "stats failed:\n{stdout}\n{stderr}");
    let stats: Value = serde_json::from_str(stdout.trim())?;
    assert!(stats.to_string().contains("\"evaluations\":24"), "{stats}");
    Ok(())
}

#[test]
fn against_an_auth_server_the_token_is_used_and_refusals_are_counted_not_fatal() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let principals = directory.path().join("auth.json");
    let principals_text = principals.to_string_lossy().into_owned();
    let (added, token, stderr) = gridledger(&[
        "auth",
        "add",
        "--file",
        &principals_text,
        "--id",
        "load-admin",
        "--role",
        "admin",
        "--scope",
        "runzhou",
    ])?;
    anyhow::ensure!(added, "auth add failed: {stderr}");
    let token = token.trim().to_owned();
    let (child, address) = support::spawn_serve(&directory.path().join("data"), &["--auth", &principals_text], None)?;
    let _server = Reaped(child);
    let server = format!("http://{address}");

    let figures = load(&["--server", &server, "--token", &token], "lifecycle")?;
    assert_eq!(figures["ok"], 40, "{figures}");
    assert_eq!(figures["errors"], serde_json::json!({}), "{figures}");

    // Without the token every report is refused: counted by code, and the run still exits 0.
    let figures = load(&["--server", &server], "report")?;
    assert_eq!(figures["ok"], 0, "{figures}");
    assert_eq!(
        figures["errors"],
        serde_json::json!({"UNAUTHENTICATED": 40}),
        "{figures}"
    );
    Ok(())
}

#[test]
fn an_unknown_mix_is_refused_with_the_mixes_named() -> anyhow::Result<()> {
    let (ok, stdout, stderr) = gridledger(&["load", "--mix", "nonsense", "--commands", "1"])?;
    assert!(!ok, "{stdout}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("'nonsense'") && stderr.contains("--mix") && stderr.contains("report, lifecycle, read, health"),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn a_server_that_is_not_there_fails_the_run() -> anyhow::Result<()> {
    // A loopback port this test held a moment ago and let go: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let server = format!("http://127.0.0.1:{port}");
    let (ok, stdout, stderr) = gridledger(&["--server", &server, "load", "--mix", "health", "--json"])?;
    assert!(!ok, "{stdout}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("cannot connect to"), "{stderr}");
    Ok(())
}
