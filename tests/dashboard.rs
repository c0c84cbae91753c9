//! The analysts' dashboard (`serve --http`, docs/api.md#the-dashboard) in a real browser:
//! headless Chromium driven over WebDriver (a chromedriver this test starts on a free
//! port), against an in-process server (sled in a temp dir, gRPC and HTTP on 127.0.0.1
//! port 0) seeded with the simulated Dantu district by the built binary's `simulate`.
//!
//! Every figure the page shows is compared with what the HTTP API answers for the same
//! query: the overview, a street drilled into, the figures as of an instant in the middle of
//! the simulation, the CSV the page downloads, an issue's timeline; then the same log behind
//! `--auth`, where an analyst scoped to one street signs in through the page and sees that
//! street only. The page is waited on by polling its `data-value` attributes until they
//! equal the API's (or a deadline passes), never by sleeping. A screenshot of the overview
//! is left in `target/test-artifacts/dashboard-overview.png`.
//!
//! Chromium and chromedriver come from `GRIDLEDGER_CHROMIUM` and `GRIDLEDGER_CHROMEDRIVER`
//! (exported by `scripts/test-deps.sh`), else from `PATH`; without them the test fails and
//! says so.

mod support;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use gridledger_api::proto;
use gridledger_api::proto::audit_service_client::AuditServiceClient;
use gridledger_domain::Registry;
use gridledger_server::auth::{hash_secret_hex, parse_token, token_for};
use gridledger_server::{AuthConfig, RunningServer, ServerConfig};
use serde_json::{Value, json};
use support::{HttpReply, http_get};
use tokio_stream::StreamExt;

/// The simulated district: its profile and built-in registry.
const PROFILE: &str = "dantu";
/// The headline figures the page shows, by their `data-figure` names (index.html).
const FIGURES: [&str; 15] = [
    "accepted",
    "closed",
    "closure_rate",
    "deliberation_meetings",
    "participants",
    "satisfaction_rate",
    "on_time_closure_rate",
    "reopen_rate",
    "time_to_close_p50_hours",
    "time_to_close_p90_hours",
    "overdue_open",
    "aging_under_7_days",
    "aging_7_to_30_days",
    "aging_30_to_90_days",
    "aging_over_90_days",
];
/// The figures of each breakdown row (app.js TABLE_FIGURES).
const ROW_FIGURES: [&str; 8] = [
    "accepted",
    "closed",
    "closure_rate",
    "deliberation_meetings",
    "participants",
    "satisfaction_rate",
    "on_time_closure_rate",
    "overdue_open",
];
/// How long the page may take to show what is asked of it.
const PAGE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the page is looked at while waiting.
const POLL: Duration = Duration::from_millis(50);
/// The street-scoped analyst of the `--auth` part.
const ANALYST: &str = "analyst-street";

// ---------------------------------------------------------------------------------------
// The browser: chromedriver on a free port, and a headless Chromium session.

/// A tool the test needs: `$variable` if set, else the first of `names` on `PATH`.
fn tool(variable: &str, names: &[&str]) -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(variable).filter(|path| !path.is_empty()) {
        let path = PathBuf::from(path);
        anyhow::ensure!(
            path.is_file(),
            "{variable}={} is not a file; run `source scripts/test-deps.sh` from the repository root (it installs Debian's chromium and chromium-driver and exports GRIDLEDGER_CHROMEDRIVER and GRIDLEDGER_CHROMIUM)",
            path.display()
        );
        return Ok(path);
    }
    let search = std::env::var_os("PATH").unwrap_or_default();
    for directory in std::env::split_paths(&search) {
        for name in names {
            let candidate = directory.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    anyhow::bail!(
        "the dashboard's browser test needs {} and found none: set {variable}, or run `source scripts/test-deps.sh` from the repository root (it installs Debian's chromium and chromium-driver and exports GRIDLEDGER_CHROMEDRIVER and GRIDLEDGER_CHROMIUM)",
        names.join(" or ")
    )
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A chromedriver process of this test, in a process group of its own; dropping it kills
/// the group (chromedriver and the browser it started).
struct Chromedriver {
    child: Child,
    address: SocketAddr,
}

impl Chromedriver {
    /// Starts chromedriver on a free port and waits until its `/status` says it is ready.
    async fn start(log_dir: &Path) -> anyhow::Result<Chromedriver> {
        let binary = tool("GRIDLEDGER_CHROMEDRIVER", &["chromedriver"])?;
        let mut failures = Vec::new();
        // The port is free when chosen; another process may take it before chromedriver
        // binds it, so a driver that exits at once is tried again on another port.
        for attempt in 0..3 {
            let port = free_port()?;
            let log = log_dir.join(format!("chromedriver-{attempt}.log"));
            let child = Command::new(&binary)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // The browser in UTC, another zone than the district's: the page must show
                // times in the district's zone all the same.
                .env("TZ", "UTC")
                .process_group(0)
                .spawn()?;
            let mut driver = Chromedriver {
                child,
                address: SocketAddr::from(([127, 0, 0, 1], port)),
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some(status) = driver.child.try_wait()? {
                    failures.push(format!(
                        "port {port}: chromedriver exited ({status}): {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    ));
                    break;
                }
                if let Ok(reply) = http_get(driver.address, "/status", &[]).await
                    && reply.status == 200
                    && reply.json().is_ok_and(|status| status["value"]["ready"] == json!(true))
                {
                    return Ok(driver);
                }
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "chromedriver on port {port} was not ready within 30 s: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                tokio::time::sleep(POLL).await;
            }
        }
        anyhow::bail!("chromedriver did not start: {}", failures.join("; "))
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the browser processes it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session with its own profile, downloading into `downloads`.
async fn browser(driver: &Chromedriver, profile: &Path, downloads: &Path) -> anyhow::Result<Client> {
    let chromium = tool(
        "GRIDLEDGER_CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
    )?;
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".to_owned(), json!("chrome"));
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--window-size=1400,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": downloads,
                "download.prompt_for_download": false,
            },
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    Ok(ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&driver.url())
        .await?)
}

// ---------------------------------------------------------------------------------------
// The server.

/// A district node over `data_dir` with the HTTP endpoint, with `--auth principals` when
/// given.
async fn start_node(data_dir: PathBuf, principals: Option<PathBuf>) -> anyhow::Result<(RunningServer, SocketAddr)> {
    let auth = principals.map(|path| AuthConfig {
        reload_on_sighup: false,
        ..AuthConfig::new(path)
    });
    let config = ServerConfig {
        http: Some("127.0.0.1:0".parse()?),
        registry: Registry::builtin(PROFILE).ok_or_else(|| anyhow::anyhow!("no built-in registry {PROFILE}"))?,
        auth,
        ..support::loopback_config(data_dir)?
    };
    let server = gridledger_server::start(config, std::future::pending()).await?;
    let http = server
        .http_addr
        .ok_or_else(|| anyhow::anyhow!("the server has no HTTP address"))?;
    Ok((server, http))
}

/// Uploads a 96 x 64 PNG to the node at `grpc` and reports an issue in a Dantu grid with it
/// and a GCJ-02 location; the issue's id.
async fn report_with_photo(grpc: SocketAddr) -> anyhow::Result<String> {
    let mut pixels = Vec::with_capacity(96 * 64 * 3);
    for index in 0..96 * 64 {
        pixels.extend_from_slice(&[(index % 256) as u8, 120, 200]);
    }
    let mut photo = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut photo, 96, 64);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
        writer.finish()?;
    }
    let mut issues = proto::issue_service_client::IssueServiceClient::connect(format!("http://{grpc}")).await?;
    let chunk = proto::EvidenceChunk {
        size: photo.len() as u64,
        media_type: "image/png".to_owned(),
        data: photo,
    };
    let reference = issues
        .upload_evidence(tokio_stream::iter(vec![chunk]))
        .await?
        .into_inner();
    let registry = Registry::builtin(PROFILE).ok_or_else(|| anyhow::anyhow!("no built-in registry {PROFILE}"))?;
    let grid = registry
        .grids()
        .first()
        .ok_or_else(|| anyhow::anyhow!("the registry has no grid"))?
        .code
        .as_str()
        .to_owned();
    let ack = issues
        .report_issue(proto::ReportIssueRequest {
            meta: support::fresh_meta(),
            grid_code: grid,
            category: "environment".to_owned(),
            title: "Rubble on the pavement".to_owned(),
            reporter_id: "worker-3".to_owned(),
            location: Some(proto::Location {
                latitude: 32.012_345,
                longitude: 119.612_345,
                coordinate_system: proto::CoordinateSystem::Gcj02 as i32,
                accuracy_m: Some(6.0),
                address: "丹徒区 谷阳路".to_owned(),
            }),
            evidence: vec![reference],
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(ack.issue_id)
}

/// Seeds the node at `grpc` with the simulated district, through the built binary.
async fn simulate(grpc: SocketAddr) -> anyhow::Result<Value> {
    let server = format!("http://{grpc}");
    let output = tokio::task::spawn_blocking(move || {
        support::gridledger(&[
            "--json",
            "--server",
            &server,
            "simulate",
            "--profile",
            PROFILE,
            "--seed",
            "1",
        ])
    })
    .await??;
    Ok(serde_json::from_str(&output)?)
}

/// `GET path` as JSON, which must answer 200.
async fn api_json(http: SocketAddr, path: &str, headers: &[(&str, &str)]) -> anyhow::Result<Value> {
    let reply = http_get(http, path, headers).await?;
    anyhow::ensure!(
        reply.status == 200,
        "GET {path}: {} {}",
        reply.status,
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

/// The recorded_at of the event at `position`, as a local date and time of `zone` to the
/// second (what a `datetime-local` field holds).
async fn recorded_at_local(grpc: SocketAddr, position: u64, zone: &str) -> anyhow::Result<String> {
    let mut audit = AuditServiceClient::connect(format!("http://{grpc}")).await?;
    let mut events = audit
        .read_all(proto::ReadAllRequest {
            from_position: position,
            limit: 1,
            follow: false,
        })
        .await?
        .into_inner();
    let event = events
        .next()
        .await
        .ok_or_else(|| anyhow::anyhow!("no event at position {position}"))??;
    let micros = event
        .decoded
        .ok_or_else(|| anyhow::anyhow!("event {position} is not decoded"))?
        .recorded_at;
    let instant = jiff::Timestamp::from_second(micros.div_euclid(1_000_000))?;
    let local = instant.to_zoned(jiff::tz::TimeZone::get(zone)?);
    Ok(local.strftime("%Y-%m-%dT%H:%M:%S").to_string())
}

// ---------------------------------------------------------------------------------------
// Reading the page, and waiting for it.

/// Calls `probe` until it answers `Ok(Ok(value))`; `Ok(Err(why))` means "not yet". Fails
/// after [`PAGE_TIMEOUT`] with the last reason.
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Result<T, String>>>,
{
    let deadline = Instant::now() + PAGE_TIMEOUT;
    loop {
        let why = match probe().await? {
            Ok(value) => return Ok(value),
            Err(why) => why,
        };
        anyhow::ensure!(
            Instant::now() < deadline,
            "{what}: not so within {PAGE_TIMEOUT:?}; last: {why}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// What the overview shows, read in one go.
const SNAPSHOT: &str = r##"
const value = (node) => (node && node.dataset.value !== undefined ? node.dataset.value : null);
const figures = {};
for (const node of document.querySelectorAll("#view-overview .figures [data-figure]")) {
  figures[node.dataset.figure] = value(node);
}
const rows = [];
for (const row of document.querySelectorAll("#breakdown tbody tr")) {
  const cells = {};
  for (const cell of row.querySelectorAll("td[data-figure]")) cells[cell.dataset.figure] = value(cell);
  rows.push({ key: row.dataset.key, level: row.dataset.level, street: row.dataset.street || null, figures: cells });
}
const banner = document.getElementById("error-banner");
return {
  figures: figures,
  position: value(document.getElementById("as-of-position")),
  scope: document.getElementById("scope-title").dataset.scope,
  rows: rows,
  error: banner.hidden ? null : (banner.dataset.code || ""),
  hash: location.hash,
  lang: document.documentElement.lang,
};
"##;

/// Whether the page's raw `data-value` says the JSON's `expected`: numbers compare as the
/// same f64 (both sides write the shortest round-trip form).
fn same_value(shown: &Value, expected: &Value) -> bool {
    match (shown.as_str(), expected) {
        (Some(text), Value::Number(number)) => text.parse::<f64>().ok() == number.as_f64(),
        (Some(text), Value::String(string)) => text == string,
        _ => false,
    }
}

/// The differences between the page's headline figures and the API's `stats`.
fn figure_differences(snapshot: &Value, stats: &Value) -> Vec<String> {
    let mut differences = Vec::new();
    for name in FIGURES {
        let shown = &snapshot["figures"][name];
        if !same_value(shown, &stats[name]) {
            differences.push(format!("{name}: page {shown}, API {}", stats[name]));
        }
    }
    if !same_value(&snapshot["position"], &stats["as_of_position"]) {
        differences.push(format!(
            "as_of_position: page {}, API {}",
            snapshot["position"], stats["as_of_position"]
        ));
    }
    differences
}

/// The differences between the page's breakdown table and the API's `rows`.
fn row_differences(snapshot: &Value, rows: &Value) -> Vec<String> {
    let shown: BTreeMap<String, &Value> = snapshot["rows"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|row| (row["key"].as_str().unwrap_or_default().to_owned(), &row["figures"]))
        .collect();
    let expected: BTreeMap<String, &Value> = rows
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|row| (row["key"].as_str().unwrap_or_default().to_owned(), &row["stats"]))
        .collect();
    let mut differences = Vec::new();
    if shown.keys().ne(expected.keys()) {
        differences.push(format!(
            "rows: page {:?}, API {:?}",
            shown.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>()
        ));
        return differences;
    }
    for (key, stats) in &expected {
        for name in ROW_FIGURES {
            let cell = &shown[key][name];
            if !same_value(cell, &stats[name]) {
                differences.push(format!("row {key} {name}: page {cell}, API {}", stats[name]));
            }
        }
    }
    differences
}

/// The page as the test drives it: the browser, and the API beside it.
struct Page {
    client: Client,
    http: SocketAddr,
    /// Headers for the test's own API calls (a bearer token with `--auth`).
    headers: Vec<(String, String)>,
}

/// What the overview must show: the scope on screen, the API query of its figures, and the
/// breakdown below it (`group_by`, or none under a grid).
struct View<'a> {
    what: &'a str,
    scope: &'a str,
    /// The query string of the figures (`scope=…&as_of=…`), without `group_by`.
    query: String,
    group_by: Option<&'a str>,
}

impl Page {
    fn headers(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect()
    }

    async fn api(&self, path: &str) -> anyhow::Result<Value> {
        api_json(self.http, path, &self.headers()).await
    }

    async fn snapshot(&self) -> anyhow::Result<Value> {
        Ok(self.client.execute(SNAPSHOT, Vec::new()).await?)
    }

    /// Waits until the overview shows `view`: the scope, every headline figure and every
    /// breakdown row equal to the API's answer to the same query. The API's figures.
    async fn check(&self, view: &View<'_>) -> anyhow::Result<Value> {
        let separator = if view.query.is_empty() { "" } else { "&" };
        let stats = self.api(&format!("/api/v1/stats?{}", view.query)).await?;
        let rows = match view.group_by {
            Some(group_by) => self
                .api(&format!(
                    "/api/v1/stats/breakdown?{}{separator}group_by={group_by}",
                    view.query
                ))
                .await?["rows"]
                .clone(),
            None => json!([]),
        };
        anyhow::ensure!(
            stats["accepted"].as_u64().unwrap_or(0) > 0,
            "{}: the API shows no issues at all ({stats}), so the page would prove nothing",
            view.what
        );
        eventually(view.what, || async {
            let snapshot = self.snapshot().await?;
            if let Some(code) = snapshot["error"].as_str() {
                anyhow::bail!("{}: the page shows an error {code}", view.what);
            }
            let mut differences = Vec::new();
            if snapshot["scope"] != json!(view.scope) {
                differences.push(format!("scope: page {}, expected {:?}", snapshot["scope"], view.scope));
            }
            differences.extend(figure_differences(&snapshot, &stats));
            differences.extend(row_differences(&snapshot, &rows));
            Ok(if differences.is_empty() {
                Ok(())
            } else {
                Err(differences.join("; "))
            })
        })
        .await?;
        Ok(stats)
    }

    async fn click(&self, selector: &str) -> anyhow::Result<()> {
        self.client
            .wait()
            .at_most(PAGE_TIMEOUT)
            .for_element(Locator::Css(selector))
            .await?
            .click()
            .await?;
        Ok(())
    }

    /// The text and attribute `attribute` of the first element matching `selector`.
    async fn read(&self, selector: &str, attribute: &str) -> anyhow::Result<(String, Option<String>)> {
        let element = self.client.find(Locator::Css(selector)).await?;
        Ok((element.text().await?, element.attr(attribute).await?))
    }

    /// Waits until an element matching `selector` is displayed.
    async fn displayed(&self, selector: &str) -> anyhow::Result<()> {
        eventually(&format!("{selector} is displayed"), || async {
            Ok(match self.client.find(Locator::Css(selector)).await {
                Ok(element) if element.is_displayed().await? => Ok(()),
                Ok(_) => Err("hidden".to_owned()),
                Err(error) => Err(error.to_string()),
            })
        })
        .await
    }

    /// Waits for a CSV file in `downloads` (a finished download: Chromium writes
    /// `.crdownload` until then); its path and text.
    async fn downloaded_csv(&self, downloads: &Path) -> anyhow::Result<(PathBuf, String)> {
        eventually("the CSV download is written", || async {
            let mut finished = Vec::new();
            for entry in std::fs::read_dir(downloads)? {
                let path = entry?.path();
                if path.extension().is_some_and(|extension| extension == "csv") {
                    finished.push(path);
                }
            }
            Ok(match finished.pop() {
                Some(path) => Ok((path.clone(), std::fs::read_to_string(&path)?)),
                None => Err(format!("{} holds no .csv yet", downloads.display())),
            })
        })
        .await
    }
}

/// The rows of a CSV text (CRLF line ends, as RFC 4180 and docs/api.md say).
fn csv_rows(text: &str) -> Vec<&str> {
    text.strip_suffix("\r\n").unwrap_or(text).split("\r\n").collect()
}

fn principals_file(path: &Path, token: &str, street: &str) -> anyhow::Result<()> {
    let (id, secret) = parse_token(token).ok_or_else(|| anyhow::anyhow!("the test token parses"))?;
    let principals = json!({"principals": [
        {"id": id, "role": "analyst", "scopes": [street], "token_sha256": hash_secret_hex(secret)},
    ]});
    std::fs::write(path, serde_json::to_string_pretty(&principals)?)?;
    Ok(())
}

fn artifacts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts")
}

// ---------------------------------------------------------------------------------------
// The test.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_what_the_api_answers_and_keeps_a_scoped_analyst_in_their_street() -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let downloads = scratch.path().join("downloads");
    std::fs::create_dir_all(&downloads)?;
    let data_dir = scratch.path().join("data");
    let driver = Chromedriver::start(scratch.path()).await?;

    // A node, seeded with the simulated district through the binary.
    let (server, http) = start_node(data_dir.clone(), None).await?;
    let simulation = simulate(server.local_addr).await?;
    let registry = api_json(http, "/api/v1/registry", &[]).await?;
    let zone = registry["districts"][0]["time_zone"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the registry names no time zone: {registry}"))?
        .to_owned();
    let streets: Vec<String> = registry["streets"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|street| street["code"].as_str().map(str::to_owned))
        .collect();
    anyhow::ensure!(
        streets.len() >= 2,
        "the registry has fewer than two streets: {registry}"
    );

    let client = browser(&driver, &scratch.path().join("profile"), &downloads).await?;
    let page = Page {
        client: client.clone(),
        http,
        headers: Vec::new(),
    };
    client.goto(&format!("http://{http}/")).await?;

    // 1. The overview's figures are the API's, zh-CN labels by default (6).
    let everything = View {
        what: "the overview of everything",
        scope: "",
        query: String::new(),
        group_by: Some("street"),
    };
    let current = page.check(&everything).await?;
    assert_eq!(
        current["accepted"], simulation["accepted"],
        "the simulation's planned figures: {simulation}"
    );
    let (title, _) = page.read("[data-i18n=\"accepted\"]", "data-i18n").await?;
    let lang = client
        .execute("return document.documentElement.lang", Vec::new())
        .await?;
    assert_eq!((title.as_str(), lang), ("受理", json!("zh-CN")), "zh-CN is the default");

    // 2. Choosing the first street drills down: its scope, its figures, its communities.
    let (_, street) = page.read("#breakdown tbody tr[data-street]", "data-street").await?;
    let street = street.ok_or_else(|| anyhow::anyhow!("the first street row has no data-street"))?;
    page.click(&format!(
        "#breakdown tbody tr[data-street=\"{street}\"] button[data-drill]"
    ))
    .await?;
    let street_view = View {
        what: "the street drilled into",
        scope: &street,
        query: format!("scope={street}"),
        group_by: Some("community"),
    };
    let street_stats = page.check(&street_view).await?;
    assert_ne!(
        street_stats["accepted"], current["accepted"],
        "a street is not the district"
    );
    assert_eq!(page.snapshot().await?["hash"], json!(format!("#/scope/{street}")));

    // 4. "Download CSV" of the street's view: the API's CSV of the same breakdown, row for row.
    let expected_csv = http_get(
        http,
        &format!("/api/v1/stats/breakdown?scope={street}&group_by=community&format=csv"),
        &[],
    )
    .await?
    .text()?;
    page.click("#download-csv").await?;
    let (file, downloaded) = page.downloaded_csv(&downloads).await?;
    let rows = csv_rows(&downloaded);
    assert_eq!(
        rows,
        csv_rows(&expected_csv),
        "the CSV the page downloaded ({})",
        file.display()
    );
    assert_eq!(
        rows.len(),
        1 + street_view_rows(&page).await?,
        "a header and one row per community on screen: {downloaded}"
    );
    assert!(rows[0].starts_with("community,accepted,closed,"), "{}", rows[0]);

    // Back up by the breadcrumb.
    page.click("#breadcrumb a[data-crumb=\"\"]").await?;
    page.check(&everything).await?;

    // 3. The as-of control: the figures as the log stood half-way through the simulation.
    let head = current["as_of_position"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("no as_of_position: {current}"))?;
    let as_of = recorded_at_local(server.local_addr, head / 2, &zone).await?;
    let field_value = client
        .execute(
            "const input = document.getElementById('as-of'); input.value = arguments[0]; \
             input.dispatchEvent(new Event('change', { bubbles: true })); return input.value;",
            vec![json!(as_of)],
        )
        .await?;
    assert!(
        field_value.as_str().is_some_and(|value| !value.is_empty()),
        "the as-of field took {as_of:?}: {field_value}"
    );
    let as_of_view = View {
        what: "the overview as of the middle of the simulation",
        scope: "",
        query: format!("as_of={as_of}"),
        group_by: Some("street"),
    };
    let then = page.check(&as_of_view).await?;
    assert!(
        then["accepted"].as_u64() < current["accepted"].as_u64(),
        "half-way through, fewer issues were accepted than now: then {then}, now {current}"
    );
    page.click("#as-of-clear").await?;
    page.check(&everything).await?;

    // 6. English on request, kept in the browser; the figures stay.
    page.click("#lang-toggle").await?;
    eventually("the labels switch to English", || async {
        let (label, _) = page.read("[data-i18n=\"accepted\"]", "data-i18n").await?;
        let lang = client
            .execute("return document.documentElement.lang", Vec::new())
            .await?;
        Ok(if label == "Accepted" && lang == json!("en") {
            Ok(())
        } else {
            Err(format!("label {label:?}, lang {lang}"))
        })
    })
    .await?;
    page.check(&everything).await?;
    client.refresh().await?;
    page.check(&everything).await?;
    let (label, _) = page.read("[data-i18n=\"accepted\"]", "data-i18n").await?;
    assert_eq!(label, "Accepted", "the choice of English is kept across a reload");

    // 8. A screenshot of the overview, with its chart and overdue list drawn.
    page.displayed("#trend-chart canvas").await?;
    let overdue = eventually("the overdue list is drawn", || async {
        let (_, count) = page.read("#overdue-count", "data-value").await?;
        Ok(count.ok_or_else(|| "not yet".to_owned()))
    })
    .await?;
    assert_eq!(
        overdue.parse::<u64>().ok(),
        current["overdue_open"].as_u64(),
        "the overdue list has overdue_open issues"
    );
    let screenshot = client.screenshot().await?;
    std::fs::create_dir_all(artifacts_dir())?;
    std::fs::write(artifacts_dir().join("dashboard-overview.png"), &screenshot)?;

    // 7. An overdue issue's page: one timeline entry per event of its history, chains ok.
    let (_, href) = page.read("#overdue-list li a", "href").await?;
    let issue_id = href
        .as_deref()
        .and_then(|href| href.rsplit_once("#/issues/"))
        .map(|(_, id)| id.to_owned())
        .ok_or_else(|| anyhow::anyhow!("the overdue link has no issue: {href:?}"))?;
    page.click("#overdue-list li a").await?;
    let issue = api_json(http, &format!("/api/v1/issues/{issue_id}"), &[]).await?;
    let expected_timeline: Vec<Value> = issue["history"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|entry| {
            json!([
                entry["position"].to_string(),
                entry["revision"].to_string(),
                entry["event_type"],
                entry["state"]["status"],
                entry["chain_ok"].to_string(),
            ])
        })
        .collect();
    assert!(
        expected_timeline.len() >= 2,
        "an overdue issue was at least reported and dispatched: {issue}"
    );
    assert_eq!(issue["chain_ok"], json!(true), "{issue}");
    eventually("the issue's timeline is drawn", || async {
        let shown = client
            .execute(
                "return { status: document.getElementById('issue-status').dataset.value || null, \
                   chain: document.getElementById('chain-status').dataset.ok || null, \
                   timeline: [...document.querySelectorAll('#timeline li')].map((li) => [li.dataset.position, \
                     li.dataset.revision, li.dataset.eventType, li.dataset.statusAfter, li.dataset.chainOk]) };",
                Vec::new(),
            )
            .await?;
        let expected = json!({
            "status": issue["issue"]["status"],
            "chain": "true",
            "timeline": expected_timeline,
        });
        Ok(if shown == expected {
            Ok(())
        } else {
            Err(format!("page {shown}, API {expected}"))
        })
    })
    .await?;
    // Each event's business time, as a local time of the district (whatever the browser's).
    let texts = client
        .execute(
            "return [...document.querySelectorAll('#timeline li')].map((li) => li.textContent)",
            Vec::new(),
        )
        .await?;
    let texts = texts.as_array().cloned().unwrap_or_default();
    let history = issue["history"].as_array().cloned().unwrap_or_default();
    assert_eq!(texts.len(), history.len());
    for (text, entry) in texts.iter().zip(&history) {
        let occurred_at: jiff::Timestamp = entry["occurred_at"].as_str().unwrap_or_default().parse()?;
        let local = occurred_at
            .to_zoned(jiff::tz::TimeZone::get(&zone)?)
            .strftime("%H:%M:%S")
            .to_string();
        assert!(
            text.as_str().unwrap_or_default().contains(&local),
            "the timeline shows {} at {local} in {zone}: {text}",
            entry["occurred_at"]
        );
    }

    // An issue the log does not hold: the error, and nothing of the issue shown before.
    client
        .execute(
            "location.hash = arguments[0]",
            vec![json!("#/issues/00000000-0000-7000-8000-000000000001")],
        )
        .await?;
    eventually("an unknown issue is refused", || async {
        let shown = client
            .execute(
                "const banner = document.getElementById('error-banner'); \
                 return { error: banner.hidden ? null : banner.dataset.code, \
                   title: document.getElementById('issue-title').textContent, \
                   chain: document.getElementById('chain-status').dataset.ok || null, \
                   timeline: document.querySelectorAll('#timeline li').length };",
                Vec::new(),
            )
            .await?;
        let expected = json!({"error": "NOT_FOUND", "title": "", "chain": null, "timeline": 0});
        Ok(if shown == expected {
            Ok(())
        } else {
            Err(format!("page {shown}"))
        })
    })
    .await?;

    // 8. A photographed issue's page: the report's location as text, exactly as given, and
    // the photo drawn by the browser from the node's evidence endpoint.
    let photographed = report_with_photo(server.local_addr).await?;
    client
        .execute(
            "location.hash = arguments[0]",
            vec![json!(format!("#/issues/{photographed}"))],
        )
        .await?;
    eventually("the photo and the location are shown", || async {
        let shown = client
            .execute(
                "const image = document.querySelector('#timeline ul.evidence img'); \
                 return { decoded: image ? (image.complete && image.naturalWidth) : null, \
                   location: document.querySelector('#timeline .event-location')?.textContent || null };",
                Vec::new(),
            )
            .await?;
        let decoded = shown["decoded"].as_u64() == Some(96);
        let located = shown["location"]
            .as_str()
            .is_some_and(|text| text.contains("32.012345") && text.contains("119.612345"));
        Ok(if decoded && located {
            Ok(())
        } else {
            Err(format!("page {shown}"))
        })
    })
    .await?;

    // 5. The same log behind --auth: an analyst scoped to one street signs in on the page.
    server.shutdown().await?;
    let secret = [0x5a_u8; 32];
    let token = token_for(ANALYST, &secret);
    let (_, token_secret) = parse_token(&token).ok_or_else(|| anyhow::anyhow!("the token parses"))?;
    let token_secret = token_secret.to_owned();
    let scoped = streets[1].clone();
    let other = streets[0].clone();
    let principals = scratch.path().join("principals.json");
    principals_file(&principals, &token, &scoped)?;
    let (server, http) = start_node(data_dir, Some(principals)).await?;
    let bearer = format!("Bearer {token}");
    let page = Page {
        client: client.clone(),
        http,
        headers: vec![("authorization".to_owned(), bearer.clone())],
    };
    client.goto(&format!("http://{http}/")).await?;
    page.displayed("#signin").await?;
    // A wrong token is refused on the page, and opens no session.
    let wrong = token_for(ANALYST, &[0x11_u8; 32]);
    let field = client
        .wait()
        .at_most(PAGE_TIMEOUT)
        .for_element(Locator::Css("#signin-token"))
        .await?;
    field.send_keys(&wrong).await?;
    page.click("#signin-submit").await?;
    page.displayed("#signin-error").await?;
    assert!(
        client.get_all_cookies().await?.is_empty(),
        "a refused sign-in sets no cookie"
    );
    field.send_keys(&token).await?;
    page.click("#signin-submit").await?;
    eventually("the analyst is signed in", || async {
        Ok(match page.read("#whoami", "data-principal").await? {
            (_, Some(id)) if id == ANALYST => Ok(()),
            (text, id) => Err(format!("whoami {text:?} {id:?}")),
        })
    })
    .await?;
    let scoped_view = View {
        what: "the scoped analyst's overview",
        scope: &scoped,
        query: format!("scope={scoped}"),
        group_by: Some("community"),
    };
    page.check(&scoped_view).await?;
    let snapshot = page.snapshot().await?;
    for row in snapshot["rows"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let key = row["key"].as_str().unwrap_or_default();
        assert!(
            key.starts_with(&format!("{scoped}.")) && row["street"].is_null(),
            "the scoped analyst's breakdown shows {row}"
        );
    }
    // The session cookie: HttpOnly (out of the page's reach) and SameSite=Strict.
    let cookies = client.get_all_cookies().await?;
    let session = cookies
        .iter()
        .find(|cookie| cookie.name() == "gridledger_session")
        .ok_or_else(|| anyhow::anyhow!("no session cookie: {cookies:?}"))?;
    assert_eq!(session.http_only(), Some(true), "{session:?}");
    assert!(
        session.same_site().is_some_and(|same_site| same_site.is_strict()),
        "{session:?}"
    );
    let page_cookies = client.execute("return document.cookie", Vec::new()).await?;
    assert!(
        !page_cookies.as_str().unwrap_or_default().contains("gridledger_session"),
        "the page can read the session cookie: {page_cookies}"
    );
    // The API with that cookie, and with the token: the analyst's street, not another's.
    let cookie = format!("gridledger_session={}", session.value());
    let other_stats = format!("/api/v1/stats?scope={other}");
    let own_stats = format!("/api/v1/stats?scope={scoped}");
    let answers: Vec<(&str, &str, u16)> = vec![
        ("cookie", own_stats.as_str(), 200),
        ("cookie", other_stats.as_str(), 403),
        ("authorization", own_stats.as_str(), 200),
        ("authorization", other_stats.as_str(), 403),
        ("none", own_stats.as_str(), 401),
    ];
    for (credential, path, expected) in answers {
        let headers: Vec<(&str, &str)> = match credential {
            "cookie" => vec![("cookie", cookie.as_str())],
            "authorization" => vec![("authorization", bearer.as_str())],
            _ => Vec::new(),
        };
        let reply: HttpReply = http_get(http, path, &headers).await?;
        assert_eq!(
            reply.status,
            expected,
            "GET {path} with {credential}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        if expected == 403 {
            assert_eq!(reply.json()?["error"]["code"], json!("PERMISSION_DENIED"));
        }
    }
    // The page refuses another street too, and shows no figures under its name.
    client
        .execute("location.hash = arguments[0]", vec![json!(format!("#/scope/{other}"))])
        .await?;
    let refused = eventually("the page refuses another street", || async {
        let snapshot = page.snapshot().await?;
        Ok(if snapshot["error"] == json!("PERMISSION_DENIED") {
            Ok(snapshot)
        } else {
            Err(format!("error {} on {}", snapshot["error"], snapshot["hash"]))
        })
    })
    .await?;
    let shown: Vec<(&str, &Value)> = FIGURES
        .iter()
        .map(|name| (*name, &refused["figures"][name]))
        .filter(|(_, value)| value.as_str().is_none_or(|value| !value.is_empty()))
        .collect();
    assert!(
        shown.is_empty() && refused["rows"] == json!([]) && refused["position"].is_null(),
        "a refused street shows figures: {refused}"
    );
    // The token is in no URL the browser loaded.
    let urls = client
        .execute(
            "return [location.href].concat(performance.getEntries().map((entry) => entry.name))",
            Vec::new(),
        )
        .await?;
    let urls = urls.as_array().cloned().unwrap_or_default();
    assert!(urls.len() > 2, "the browser loaded the page and the API: {urls:?}");
    for url in &urls {
        let url = url.as_str().unwrap_or_default();
        assert!(
            !url.contains(&token_secret) && !url.contains(ANALYST),
            "a URL carries the token: {url}"
        );
    }

    client.close().await?;
    server.shutdown().await?;
    drop(driver);
    Ok(())
}

/// How many breakdown rows the page shows.
async fn street_view_rows(page: &Page) -> anyhow::Result<usize> {
    Ok(page.snapshot().await?["rows"].as_array().map_or(0, Vec::len))
}
