//! `gridledger demo` end to end: a throwaway node, the Runzhou simulation through the gRPC API, and the district's figures exactly as the simulation fixes them by construction; with `--serve`, the node and its dashboard stay up until SIGINT, then stop cleanly.

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{gridledger, http_get};

#[test]
fn the_demo_lands_exactly_on_the_figures_the_simulation_fixes_and_verifies() -> anyhow::Result<()> {
    let output = gridledger(&["--json", "demo", "--seed", "3"])?;
    let demo: Value = serde_json::from_str(&output)?;
    let district = &demo["district"];
    let count = |name: &str| district[name].as_u64();
    // docs/product.md#the-reference-district: 4,300+ accepted, 2,700+ meetings, 40,000
    // participants, closure rate 98.7%; the simulation hits exact counts whatever the seed.
    assert_eq!(count("accepted"), Some(4_350), "{output}");
    assert_eq!(count("closed"), Some(4_294), "{output}");
    assert_eq!(count("deliberation_meetings"), Some(2_750), "{output}");
    assert_eq!(count("participants"), Some(40_000), "{output}");
    let closure_rate = district["closure_rate"].as_f64().unwrap_or(f64::NAN);
    assert_eq!(closure_rate, 4_294.0 / 4_350.0, "{output}");
    assert_eq!(
        format!("{:.1}%", closure_rate * 100.0),
        "98.7%",
        "as the demo prints it"
    );
    let streets = demo["streets"].as_array().map(Vec::as_slice).unwrap_or_default();
    assert_eq!(streets.len(), 7, "{output}");
    let by_street = |name: &str| {
        streets
            .iter()
            .map(|row| row["stats"][name].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    assert_eq!(
        (by_street("accepted"), by_street("closed"), by_street("participants")),
        (4_350, 4_294, 40_000)
    );
    // Every command wrote one event, and the log verified.
    assert_eq!(demo["verified_events"].as_u64(), demo["commands"].as_u64(), "{output}");
    assert!(demo["verified_events"].as_u64().unwrap_or(0) > 20_000, "{output}");
    // Six photos of problems and six of fixes, uploaded before the walks reference them.
    assert_eq!(demo["photos_uploaded"].as_u64(), Some(12), "{output}");
    Ok(())
}

/// A child process that is killed if the test ends before it exits.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serve_keeps_the_dashboard_up_until_sigint_then_stops_cleanly() -> anyhow::Result<()> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gridledger"))
        .args(["demo", "--seed", "3", "--serve", "--http", "127.0.0.1:0"])
        .env("GRIDLEDGER_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut child = Running(child);
    // Its stdout, line by line, read on a thread of its own.
    let (sender, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = Vec::new();
    // The simulation comes first: it may take a while in a debug build.
    let address: SocketAddr = loop {
        let line = tokio::time::timeout(Duration::from_secs(600), lines.recv())
            .await
            .map_err(|_| anyhow::anyhow!("no dashboard URL within 600 s: {printed:#?}"))?
            .ok_or_else(|| anyhow::anyhow!("demo --serve ended before serving: {printed:#?}"))?;
        printed.push(line.clone());
        if let Some(rest) = line.strip_prefix("dashboard on http://") {
            let address = rest.split('/').next().unwrap_or_default();
            break address.parse()?;
        }
    };
    anyhow::ensure!(address.ip().is_loopback() && address.port() != 0, "{address}");
    // The API answers with the demo's figures, and the dashboard is there.
    let stats = http_get(address, "/api/v1/stats", &[]).await?;
    assert_eq!(stats.status, 200, "{}", String::from_utf8_lossy(&stats.body));
    let stats = stats.json()?;
    assert_eq!(
        (stats["accepted"].as_u64(), stats["participants"].as_u64()),
        (Some(4_350), Some(40_000)),
        "{stats}"
    );
    // Every report carries its location; some issues carry photos (the first issue does).
    let issues = http_get(address, "/api/v1/issues?page_size=50", &[]).await?;
    assert_eq!(issues.status, 200, "{}", String::from_utf8_lossy(&issues.body));
    let issues = issues.json()?;
    let listed = issues["issues"].as_array().map(Vec::as_slice).unwrap_or_default();
    assert_eq!(listed.len(), 50, "{issues}");
    for issue in listed {
        assert_eq!(issue["location"]["coordinate_system"], "GCJ02", "{issue}");
    }
    let photographed = listed
        .iter()
        .filter(|issue| {
            issue["evidence"]
                .as_array()
                .is_some_and(|evidence| !evidence.is_empty())
        })
        .count();
    assert!(
        (1..50).contains(&photographed),
        "{photographed} of 50 issues with photos"
    );
    let page = http_get(address, "/", &[]).await?;
    assert_eq!(page.status, 200);
    let content_type = page
        .headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(page.text()?.contains("id=\"scope-title\""), "the dashboard's page");
    // SIGINT (Ctrl-C): the node stops gracefully, the demo exits 0.
    let signal = Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status()?;
    assert!(signal.success(), "kill -INT: {signal}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.0.try_wait()? {
            break status;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "demo --serve still running 60 s after SIGINT"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    while let Some(line) = lines.recv().await {
        printed.push(line);
    }
    assert!(status.success(), "demo --serve exited {status}: {printed:#?}");
    assert_eq!(
        printed.last().map(String::as_str),
        Some("demo node stopped"),
        "{printed:#?}"
    );
    // And the port is closed.
    assert!(
        http_get(address, "/api/v1/stats", &[]).await.is_err(),
        "{address} still answers"
    );
    Ok(())
}
