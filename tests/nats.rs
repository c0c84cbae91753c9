//! End-to-end tests of distribution over NATS JetStream: the real `gridledger` binary as
//! district nodes (`serve --nats`), stats nodes (`project`) and `restore`, against real
//! nats-server processes each test starts on free ports with its own store.
//!
//! Every test ends by comparing figures, histories and chains between the district nodes
//! (the system of record) and what came through JetStream.

#[path = "../crates/bus/tests/support/nats_server.rs"]
#[allow(dead_code)]
mod nats_server;
mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use gridledger_api::client::{Client, ClientError};
use gridledger_api::{CommandMeta, IssueReport, StatsFilter};
use gridledger_domain::{
    Field, FreeText, HandleInGrid, IssueCommand, IssueTitle, JurisdictionCode, PersonId, Registry,
};
use gridledger_projections::GroupBy;
use nats_server::{NatsCluster, NatsServer, free_port};

/// How long a node may take to catch up before a test gives up.
const CATCH_UP_DEADLINE: Duration = Duration::from_secs(120);

/// A `gridledger` process: a district node, a stats node.
struct Node {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    url: String,
    arguments: Vec<String>,
    ready_prefix: &'static str,
}

impl Node {
    /// Starts `gridledger <arguments>` and waits for the line starting with `ready_prefix`
    /// (`... listening on ADDRESS`).
    fn start(arguments: Vec<String>, ready_prefix: &'static str) -> anyhow::Result<Node> {
        let (child, address) = spawn_and_wait(&arguments, ready_prefix)?;
        Ok(Node {
            child,
            url: format!("http://{address}"),
            arguments,
            ready_prefix,
        })
    }

    /// A district node on a fixed port (so it can be restarted at the same address).
    fn district(data: &Path, registry: &str, nats_url: &str, replicas: u8) -> anyhow::Result<Node> {
        let port = free_port()?;
        Node::start(
            vec![
                "serve".into(),
                "--listen".into(),
                format!("127.0.0.1:{port}"),
                "--data".into(),
                data.display().to_string(),
                "--registry".into(),
                registry.into(),
                "--nats".into(),
                nats_url.into(),
                "--nats-replicas".into(),
                replicas.to_string(),
            ],
            "gridledger listening on ",
        )
    }

    /// A stats node following `streams`.
    fn stats(data: &Path, streams: &[&str], nats_url: &str) -> anyhow::Result<Node> {
        let port = free_port()?;
        let mut arguments = vec![
            "project".to_owned(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--data".into(),
            data.display().to_string(),
            "--nats".into(),
            nats_url.into(),
        ];
        for stream in streams {
            arguments.push("--stream".into());
            arguments.push((*stream).to_owned());
        }
        Node::start(arguments, "gridledger stats node listening on ")
    }

    /// SIGKILL: no shutdown, nothing flushed beyond what was durable.
    fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Starts the same command again (same port, same data).
    fn restart(&mut self) -> anyhow::Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, address) = spawn_and_wait(&self.arguments, self.ready_prefix)?;
        self.child = child;
        self.url = format!("http://{address}");
        Ok(())
    }

    async fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::connect(&self.url, Some("nats-test")).await?)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_and_wait(arguments: &[String], ready_prefix: &str) -> anyhow::Result<(Child, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gridledger"))
        .args(arguments)
        .env("GRIDLEDGER_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let address = loop {
        let Some(line) = lines.next() else {
            bail!("gridledger {arguments:?} exited before listening: {:?}", child.wait()?);
        };
        let line = line?;
        if let Some(rest) = line.strip_prefix(ready_prefix) {
            break rest.split_whitespace().next().unwrap_or_default().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok((child, address))
}

/// A workload: `issues` reports spread over the registry's grids and categories, every
/// third handled in the grid at once. Refusals of an unreachable node are counted, not
/// fatal (the node may be killed under it); the acknowledged count is returned.
async fn drive(client: &Client, registry: &Registry, first: usize, issues: usize) -> anyhow::Result<usize> {
    let grids = registry.grids();
    let categories = registry.categories();
    let mut acknowledged = 0;
    for index in first..first + issues {
        let report = IssueReport {
            issue_id: None,
            grid: grids[(index * 7) % grids.len()].code.clone(),
            category: categories[index % categories.len()].code().clone(),
            title: IssueTitle::parse(&format!("issue {index}"))?,
            description: FreeText::parse(Field::Description, "reported by the NATS end-to-end test")?,
            reporter_id: PersonId::parse(Field::Reporter, "worker-7")?,
            evidence: Default::default(),
            location: None,
        };
        let ack = match client.report(&CommandMeta::with_fresh_request_id(), &report).await {
            Ok(ack) => ack,
            Err(error) if is_unreachable(&error) => continue,
            Err(error) => return Err(error.into()),
        };
        acknowledged += 1;
        if index % 3 == 0 {
            let handle = IssueCommand::HandleInGrid(HandleInGrid {
                summary: FreeText::parse(Field::Summary, "fixed on the spot")?,
                evidence: Default::default(),
                location: None,
            });
            match client
                .send(ack.issue_id, &CommandMeta::with_fresh_request_id(), &handle)
                .await
            {
                Ok(_) => acknowledged += 1,
                Err(error) if is_unreachable(&error) => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
    Ok(acknowledged)
}

fn is_unreachable(error: &ClientError) -> bool {
    error.code().is_none_or(|code| code.is_transient())
}

fn now() -> gridledger_domain::Timestamp {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as i64);
    gridledger_domain::Timestamp::from_unix_micros(micros)
}

fn everything() -> StatsFilter {
    StatsFilter {
        scope: None,
        category: None,
        period_start: None,
        period_end: None,
        as_of: None,
    }
}

fn scoped(code: &str) -> anyhow::Result<StatsFilter> {
    Ok(StatsFilter {
        scope: Some(JurisdictionCode::parse(code)?),
        ..everything()
    })
}

/// Waits until `condition` holds for the node's status, or fails with the last status.
async fn wait_for_status(
    client: &Client,
    what: &str,
    condition: impl Fn(&gridledger_api::NodeStatusView) -> bool,
) -> anyhow::Result<gridledger_api::NodeStatusView> {
    let deadline = Instant::now() + CATCH_UP_DEADLINE;
    loop {
        let status = client.node_status().await;
        if let Ok(status) = &status
            && condition(status)
        {
            return Ok(status.clone());
        }
        if Instant::now() > deadline {
            bail!("{what}: not reached within {CATCH_UP_DEADLINE:?}; last status {status:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The district node's head once its outbox has published everything.
async fn published_head(district: &Client) -> anyhow::Result<u64> {
    let status = wait_for_status(district, "outbox caught up", |status| {
        let head = status.component("log").map(|log| log.position);
        let outbox = status.component("outbox");
        outbox.is_some_and(|outbox| outbox.serving && Some(outbox.position) == head && outbox.lag_events == 0)
    })
    .await?;
    Ok(status.component("log").map(|log| log.position).unwrap_or_default())
}

/// Waits until the stats node's feed of `stream` has applied `head` and its projection
/// followed.
async fn stats_caught_up(stats: &Client, stream: &str, head: u64) -> anyhow::Result<()> {
    let feed = format!("feed/{stream}");
    let projection = format!("projection/{stream}");
    wait_for_status(stats, &format!("{stream} applied through {head}"), |status| {
        status.component(&feed).is_some_and(|feed| feed.position == head)
            && status
                .component(&projection)
                .is_some_and(|projection| projection.serving && projection.position == head)
    })
    .await?;
    Ok(())
}

/// The same figures at the district, at every street, and per grid and category.
async fn check_same_figures(district: &Client, stats: &Client, registry: &Registry) -> anyhow::Result<()> {
    for code in registry
        .districts()
        .iter()
        .map(|district| district.code.as_str().to_owned())
        .chain(registry.streets().iter().map(|street| street.code.as_str().to_owned()))
    {
        let filter = scoped(&code)?;
        assert_eq!(
            district.governance_stats(&filter).await?,
            stats.governance_stats(&filter).await?,
            "figures of {code}"
        );
    }
    let filter = scoped(registry.districts()[0].code.as_str())?;
    for group_by in [GroupBy::Grid, GroupBy::Category, GroupBy::Month] {
        assert_eq!(
            district.breakdown(&filter, group_by).await?,
            stats.breakdown(&filter, group_by).await?,
            "breakdown by {}",
            group_by.as_str()
        );
    }
    Ok(())
}

fn stream_of(registry_name: &str) -> String {
    format!("GRIDLEDGER_{}", registry_name.to_ascii_uppercase())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_published_once_in_order_and_the_stats_node_agrees() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let directory = tempfile::tempdir()?;
    let registry = Registry::builtin_runzhou();
    let district = Node::district(&directory.path().join("district"), "builtin:runzhou", &nats.url(), 1)?;
    let district_client = district.client().await?;
    drive(&district_client, &registry, 0, 240).await?;
    let head = published_head(&district_client).await?;
    assert!(head >= 320, "the workload wrote {head} events");

    let stats = Node::stats(&directory.path().join("stats"), &["GRIDLEDGER_RUNZHOU"], &nats.url())?;
    let stats_client = stats.client().await?;
    stats_caught_up(&stats_client, "GRIDLEDGER_RUNZHOU", head).await?;
    check_same_figures(&district_client, &stats_client, &registry).await?;

    // More load while the stats node follows.
    let before_more = now();
    drive(&district_client, &registry, 240, 60).await?;
    let head = published_head(&district_client).await?;
    stats_caught_up(&stats_client, "GRIDLEDGER_RUNZHOU", head).await?;
    check_same_figures(&district_client, &stats_client, &registry).await?;
    // As of an instant in the past, too: both replay their log up to it.
    let as_of = StatsFilter {
        as_of: Some(before_more),
        ..scoped("runzhou")?
    };
    let (then_district, then_stats) = (
        district_client.governance_stats(&as_of).await?,
        stats_client.governance_stats(&as_of).await?,
    );
    assert_eq!(then_district, then_stats);
    assert!(then_stats.as_of_position < head, "{then_stats:?}");

    // The stream holds exactly one message per event, sequence N = position N.
    let connection = gridledger_bus::NatsConnection::connect(&gridledger_bus::NatsConfig::new(nats.url())).await?;
    let state = gridledger_bus::stream_state(&connection, "GRIDLEDGER_RUNZHOU").await?;
    assert_eq!((state.messages, state.last_sequence), (head, head));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_down_blocks_no_append_and_everything_is_published_once_when_it_returns() -> anyhow::Result<()> {
    let mut nats = NatsServer::start()?;
    let directory = tempfile::tempdir()?;
    let registry = Registry::builtin_runzhou();
    let district = Node::district(&directory.path().join("district"), "builtin:runzhou", &nats.url(), 1)?;
    let client = district.client().await?;
    drive(&client, &registry, 0, 60).await?;

    nats.kill()?;
    // Every command is acknowledged while NATS is down.
    let acknowledged = drive(&client, &registry, 60, 120).await?;
    assert_eq!(acknowledged, 160, "all 120 reports and 40 handlings acknowledged");
    let outage = wait_for_status(&client, "outbox reports the outage", |status| {
        status
            .component("outbox")
            .is_some_and(|outbox| !outbox.serving && outbox.lag_events > 0)
    })
    .await?;
    let outbox = outage.component("outbox").context("outbox component")?;
    assert!(!outbox.reason.is_empty(), "the outage names its reason: {outbox:?}");

    nats.restart()?;
    let started = Instant::now();
    let head = published_head(&client).await?;
    println!(
        "outbox caught up {} events after the outage in {:.2} s",
        outbox.lag_events,
        started.elapsed().as_secs_f64()
    );
    let connection = gridledger_bus::NatsConnection::connect(&gridledger_bus::NatsConfig::new(nats.url())).await?;
    let state = gridledger_bus::stream_state(&connection, "GRIDLEDGER_RUNZHOU").await?;
    assert_eq!(
        (state.messages, state.last_sequence),
        (head, head),
        "nothing lost, nothing twice"
    );

    let stats = Node::stats(&directory.path().join("stats"), &["GRIDLEDGER_RUNZHOU"], &nats.url())?;
    let stats_client = stats.client().await?;
    stats_caught_up(&stats_client, "GRIDLEDGER_RUNZHOU", head).await?;
    check_same_figures(&client, &stats_client, &registry).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_rounds_of_district_and_stats_nodes_lose_nothing_and_count_nothing_twice() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let directory = tempfile::tempdir()?;
    let registry = Registry::builtin_runzhou();
    let mut district = Node::district(&directory.path().join("district"), "builtin:runzhou", &nats.url(), 1)?;
    let mut stats = Node::stats(&directory.path().join("stats"), &["GRIDLEDGER_RUNZHOU"], &nats.url())?;
    for round in 0..4 {
        let client = district.client().await?;
        let load = {
            let client = client.clone();
            let registry = registry.clone();
            tokio::spawn(async move { drive(&client, &registry, round * 100, 100).await })
        };
        // Kill both while the load runs and the outbox and the feed are busy: the district
        // node between publishing and recording, the stats node between applying and
        // checkpointing, wherever they happen to be.
        wait_for_status(&client, "some progress", |status| {
            status
                .component("outbox")
                .is_some_and(|outbox| outbox.position > (round as u64) * 100)
        })
        .await?;
        stats.kill()?;
        district.kill()?;
        // What the load sends to the dead node is refused; it ends with the round.
        load.abort();
        let _ = load.await;
        district.restart()?;
        stats.restart()?;
    }
    let district_client = district.client().await?;
    let head = published_head(&district_client).await?;
    let stats_client = stats.client().await?;
    stats_caught_up(&stats_client, "GRIDLEDGER_RUNZHOU", head).await?;
    check_same_figures(&district_client, &stats_client, &registry).await?;
    let connection = gridledger_bus::NatsConnection::connect(&gridledger_bus::NatsConfig::new(nats.url())).await?;
    let state = gridledger_bus::stream_state(&connection, "GRIDLEDGER_RUNZHOU").await?;
    assert_eq!((state.messages, state.last_sequence), (head, head));
    let verified = district_client.verify_log(0, 0).await?;
    assert!(verified.ok, "{verified:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stats_node_serves_a_city_of_two_districts() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let directory = tempfile::tempdir()?;
    let mut districts = Vec::new();
    for name in ["runzhou", "dantu"] {
        let registry = Registry::builtin(name).context("built-in registry")?;
        let node = Node::district(&directory.path().join(name), &format!("builtin:{name}"), &nats.url(), 1)?;
        let client = node.client().await?;
        drive(&client, &registry, 0, if name == "runzhou" { 150 } else { 90 }).await?;
        districts.push((name, registry, node, client));
    }
    let stats = Node::stats(
        &directory.path().join("stats"),
        &["GRIDLEDGER_RUNZHOU", "GRIDLEDGER_DANTU"],
        &nats.url(),
    )?;
    let stats_client = stats.client().await?;
    let mut accepted = 0;
    for (name, registry, _node, client) in &districts {
        let head = published_head(client).await?;
        stats_caught_up(&stats_client, &stream_of(name), head).await?;
        check_same_figures(client, &stats_client, registry).await?;
        accepted += client.governance_stats(&everything()).await?.accepted;
    }
    let city = stats_client.governance_stats(&everything()).await?;
    assert_eq!(city.accepted, accepted, "the city sums its districts");
    let by_district = stats_client.breakdown(&everything(), GroupBy::District).await?;
    let keys: Vec<&str> = by_district.iter().map(|row| row.key.as_str()).collect();
    assert_eq!(keys, ["dantu", "runzhou"]);
    for row in &by_district {
        let (_, _, _, client) = districts
            .iter()
            .find(|(name, ..)| *name == row.key)
            .context("district")?;
        let own = client.governance_stats(&everything()).await?;
        assert_eq!(row.stats.accepted, own.accepted, "{}", row.key);
        assert_eq!(row.stats.closed, own.closed, "{}", row.key);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_log_equals_the_original() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let directory = tempfile::tempdir()?;
    let registry = Registry::builtin_runzhou();
    let district = Node::district(&directory.path().join("district"), "builtin:runzhou", &nats.url(), 1)?;
    let original = district.client().await?;
    drive(&original, &registry, 0, 150).await?;
    let head = published_head(&original).await?;

    let restored_dir = directory.path().join("restored");
    let output = support::gridledger(&[
        "restore",
        "--nats",
        &nats.url(),
        "--stream",
        "GRIDLEDGER_RUNZHOU",
        "--data",
        &restored_dir.display().to_string(),
        "--json",
    ])?;
    let report: serde_json::Value = serde_json::from_str(output.trim())?;
    assert_eq!(report["events"], head);
    assert_eq!(report["verified"], true);

    let port = free_port()?;
    let restored = Node::start(
        vec![
            "serve".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--data".into(),
            restored_dir.display().to_string(),
        ],
        "gridledger listening on ",
    )?;
    let copy = restored.client().await?;
    let (original_report, copy_report) = (original.verify_log(0, 0).await?, copy.verify_log(0, 0).await?);
    assert!(copy_report.ok, "{copy_report:?}");
    assert_eq!(
        (copy_report.head_position, copy_report.head_hash),
        (original_report.head_position, original_report.head_hash)
    );
    assert_eq!(
        hex_of(&copy_report.head_hash),
        report["head_hash"].as_str().unwrap_or_default()
    );
    check_same_figures(&original, &copy, &registry).await?;
    // Histories, event by event.
    let page = original
        .list_issues(
            &gridledger_projections::IssueListFilter {
                scope: None,
                status: None,
                category: None,
            },
            20,
            None,
        )
        .await?;
    for issue in page.issues {
        assert_eq!(
            original.issue_history(issue.issue_id).await?,
            copy.issue_history(issue.issue_id).await?
        );
    }
    // The restored node takes new commands after the restored history.
    drive(&copy, &registry, 1000, 3).await?;
    assert!(copy.verify_log(0, 0).await?.ok);
    Ok(())
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_node_cluster_loses_nothing_when_a_node_dies_under_load() -> anyhow::Result<()> {
    let mut cluster = NatsCluster::start(3)?;
    let directory = tempfile::tempdir()?;
    let registry = Registry::builtin_runzhou();
    let district = Node::district(
        &directory.path().join("district"),
        "builtin:runzhou",
        &cluster.urls(),
        3,
    )?;
    let client = district.client().await?;
    let stats = Node::stats(
        &directory.path().join("stats"),
        &["GRIDLEDGER_RUNZHOU"],
        &cluster.urls(),
    )?;
    let stats_client = stats.client().await?;
    drive(&client, &registry, 0, 60).await?;
    let load = {
        let client = client.clone();
        let registry = registry.clone();
        tokio::spawn(async move { drive(&client, &registry, 60, 180).await })
    };
    wait_for_status(&client, "publishing under load", |status| {
        status.component("outbox").is_some_and(|outbox| outbox.position > 100)
    })
    .await?;
    cluster.kill(1)?;
    let acknowledged = load.await??;
    assert_eq!(acknowledged, 240, "no append failed while a NATS node was down");
    let head = published_head(&client).await?;
    stats_caught_up(&stats_client, "GRIDLEDGER_RUNZHOU", head).await?;
    check_same_figures(&client, &stats_client, &registry).await?;
    Ok(())
}

/// Copies the stream `stream` of the server at `source_url` into a stream of the same name
/// (created as the outbox creates it, with the registry published beside it) on the server
/// at `target_url`, with one byte of the payload at `altered_position` flipped; subjects and
/// headers as the outbox wrote them.
async fn copy_stream_altering(
    source_url: &str,
    target_url: &str,
    stream: &str,
    registry: &Registry,
    altered_position: u64,
) -> anyhow::Result<()> {
    let source = async_nats::jetstream::new(async_nats::connect(source_url).await?);
    let target_connection =
        gridledger_bus::NatsConnection::connect(&gridledger_bus::NatsConfig::new(target_url)).await?;
    let district = &registry.districts()[0].code;
    gridledger_bus::ensure_district_stream(&target_connection, district, &gridledger_bus::StreamSettings::default())
        .await?;
    gridledger_bus::publish_registry(&target_connection, stream, registry, 1).await?;
    let target = async_nats::jetstream::new(async_nats::connect(target_url).await?);
    let source_stream = source.get_stream(stream).await?;
    let last = source_stream.get_info().await?.state.last_sequence;
    for sequence in 1..=last {
        let message = source_stream.get_raw_message(sequence).await?;
        let mut payload = message.payload.to_vec();
        if sequence == altered_position {
            let middle = payload.len() / 2;
            payload[middle] ^= 0x01;
        }
        target
            .publish_with_headers(message.subject.to_string(), message.headers.clone(), payload.into())
            .await?
            .await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_message_stops_the_stats_node_feed_and_restore_naming_its_position() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let directory = tempfile::tempdir()?;
    let registry = Registry::builtin_runzhou();
    // The district's true log, and a copy of it with one event altered, published by hand
    // into a second server's stream of the same name (with the same registry).
    let log_dir = directory.path().join("district");
    {
        let district = Node::district(&log_dir, "builtin:runzhou", &nats.url(), 1)?;
        let client = district.client().await?;
        drive(&client, &registry, 0, 30).await?;
        published_head(&client).await?;
    }
    let tampered = NatsServer::start()?;
    let altered_position = 17;
    copy_stream_altering(
        &nats.url(),
        &tampered.url(),
        "GRIDLEDGER_RUNZHOU",
        &registry,
        altered_position,
    )
    .await?;

    let stats = Node::stats(
        &directory.path().join("stats"),
        &["GRIDLEDGER_RUNZHOU"],
        &tampered.url(),
    )?;
    let stats_client = stats.client().await?;
    let status = wait_for_status(&stats_client, "the feed stops at the altered event", |status| {
        status
            .component("feed/GRIDLEDGER_RUNZHOU")
            .is_some_and(|feed| !feed.serving && feed.reason.contains(&altered_position.to_string()))
    })
    .await?;
    let feed = status.component("feed/GRIDLEDGER_RUNZHOU").context("feed")?;
    assert_eq!(
        feed.position,
        altered_position - 1,
        "nothing from the altered event on was applied"
    );
    let refused = stats_client.governance_stats(&everything()).await;
    match refused {
        Err(error) => assert!(error.to_string().contains("GRIDLEDGER_RUNZHOU"), "{error}"),
        Ok(stats) => bail!("figures over a broken feed were answered: {stats:?}"),
    }

    let restored_dir = directory.path().join("restored");
    let refused = support::gridledger(&[
        "restore",
        "--nats",
        &tampered.url(),
        "--stream",
        "GRIDLEDGER_RUNZHOU",
        "--data",
        &restored_dir.display().to_string(),
    ]);
    match refused {
        Err(error) => assert!(
            error.to_string().contains(&format!("position {altered_position}")),
            "{error:#}"
        ),
        Ok(output) => bail!("restore accepted a tampered stream: {output}"),
    }
    Ok(())
}
