//! The commands of a city's cluster (docs/operations.md): `project` runs a stats node over
//! districts' JetStream streams, `restore` rebuilds a district node's log from its stream
//! and its evidence from the district's evidence bucket, `status` shows how a node's
//! components are doing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use gridledger_api::NodeStatusView;
use gridledger_api::client::Client;
use gridledger_eventlog::{EventLog, EventLogConfig};
use gridledger_server::{StatsNodeConfig, start_stats_node};
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};

use crate::serve::NatsArgs;

#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// The districts' streams to follow, e.g. `--stream GRIDLEDGER_RUNZHOU --stream GRIDLEDGER_DANTU`.
    #[arg(long = "stream", required = true, env = "GRIDLEDGER_STREAMS", value_delimiter = ',')]
    streams: Vec<String>,
    /// Directory of the stats node: one replica log and registry per stream.
    #[arg(long, env = "GRIDLEDGER_DATA", default_value = "./gridledger-stats")]
    data: PathBuf,
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, env = "GRIDLEDGER_LISTEN", default_value = "127.0.0.1:50061")]
    listen: SocketAddr,
    #[command(flatten)]
    nats: NatsArgs,
    /// A district's checkpoint verifier key (`keygen` prints it), repeatable: the stats node
    /// checks the signature of each checkpoint of that district before comparing its root
    /// with the replica's. `NAME+ID+KEY` applies to the stream of the district its name is
    /// the default origin of (`gridledger/runzhou` -> GRIDLEDGER_RUNZHOU); for another name
    /// give `STREAM=NAME+ID+KEY`. Without one, that district's checkpoints are checked by
    /// root only, and its status says so. In the environment: space separated.
    #[arg(
        long = "checkpoint-vkey",
        value_name = "[STREAM=]VKEY",
        env = "GRIDLEDGER_CHECKPOINT_VKEYS",
        value_delimiter = ' '
    )]
    checkpoint_vkeys: Vec<String>,
    #[command(flatten)]
    security: crate::auth::ServeSecurity,
}

/// `gridledger project`: serves StatsService across the followed districts until SIGINT or
/// SIGTERM.
pub async fn project(arguments: ProjectArgs) -> anyhow::Result<()> {
    let nats = arguments
        .nats
        .config()
        .context("a stats node reads the districts' streams: give --nats URL")?;
    let config = StatsNodeConfig {
        data_dir: arguments.data.clone(),
        listen: arguments.listen,
        nats,
        streams: arguments.streams.clone(),
        auth: arguments.security.auth_config(),
        tls: arguments.security.tls_config()?,
        insecure_allow_non_loopback: arguments.security.insecure,
        checkpoint_vkeys: arguments.checkpoint_vkeys.clone(),
    };
    let server = start_stats_node(config, crate::serve::shutdown_signal()).await?;
    println!(
        "gridledger stats node listening on {} (following {}; data in {})",
        server.local_addr,
        arguments.streams.join(", "),
        arguments.data.display()
    );
    server.wait().await?;
    println!("gridledger stats node stopped cleanly");
    Ok(())
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The district's stream, e.g. `GRIDLEDGER_RUNZHOU`.
    #[arg(long)]
    stream: String,
    /// Directory of the district node's log to rebuild (must not hold a log yet, unless
    /// --evidence-only).
    #[arg(long, env = "GRIDLEDGER_DATA")]
    data: PathBuf,
    /// Restore only the evidence the log already in --data references (after a restore
    /// whose evidence step failed, or into a node whose blobs were lost): each blob missing
    /// or damaged there is fetched from the district's evidence bucket and checked.
    #[arg(long)]
    evidence_only: bool,
    #[command(flatten)]
    nats: NatsArgs,
}

/// `gridledger restore`: the district node's log, rebuilt verbatim from its stream and
/// verified; then every evidence blob its events reference, from the district's evidence
/// bucket into `<DATA>/evidence`, each checked against its digest and size.
pub async fn restore(json: bool, arguments: RestoreArgs) -> anyhow::Result<()> {
    let nats = arguments
        .nats
        .config()
        .context("restore reads the district's stream: give --nats URL")?;
    if arguments.evidence_only {
        return restore_evidence_only(json, &nats, &arguments).await;
    }
    anyhow::ensure!(
        !arguments.data.join("db").exists(),
        "{} already holds an event log: restore into a new directory (or --evidence-only for its evidence)",
        arguments.data.display()
    );
    let created_here = !arguments.data.exists();
    let data = arguments.data.clone();
    let log = tokio::task::spawn_blocking(move || EventLog::open(EventLogConfig::new(&data))).await??;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("restore {bar:40} {pos}/{len} events {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let outcome = gridledger_bus::restore(&nats, &arguments.stream, &log, |progress| {
        bar.set_length(progress.total);
        bar.set_position(progress.imported);
    })
    .await;
    bar.finish_and_clear();
    // The evidence the restored events reference, once the log is whole and verified.
    let evidence = match &outcome {
        Ok(report) if report.verified => Some(restore_evidence(&nats, &arguments.stream, &arguments.data, &log).await),
        _ => None,
    };
    let restored_nothing = log.head().position == 0;
    let closing = tokio::task::spawn_blocking(move || log.close()).await?;
    if outcome.is_err() && restored_nothing && created_here {
        // Nothing was restored: leave no empty log behind, so a retry can start afresh.
        let _ = std::fs::remove_dir_all(&arguments.data);
    }
    let report = outcome.with_context(|| format!("restoring {} from {}", arguments.stream, nats.url))?;
    closing?;
    let evidence = evidence.transpose().with_context(|| {
        format!(
            "the log of {} was restored into {} (head {}), but not all the evidence it references",
            report.stream,
            arguments.data.display(),
            report.head_position
        )
    })?;
    let seconds = started.elapsed().as_secs_f64();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "stream": report.stream,
                "events": report.events,
                "head_position": report.head_position,
                "head_hash": hex::encode(report.head_hash),
                "verified": report.verified,
                "evidence": evidence.as_ref().map(|evidence| serde_json::json!({
                    "bucket": evidence.bucket,
                    "blobs_referenced": evidence.blobs_referenced,
                    "blobs_restored": evidence.blobs_restored,
                    "bytes_restored": evidence.bytes_restored,
                    "already_present": evidence.already_present,
                })),
                "seconds": seconds,
            })
        );
    } else {
        println!(
            "restored {} events of {} into {} in {seconds:.2} s; head {} hash {}; both chains verified: {}",
            report.events,
            report.stream,
            arguments.data.display(),
            report.head_position,
            hex::encode(report.head_hash),
            if report.verified { "yes" } else { "NO" }
        );
        if let Some(evidence) = &evidence {
            println!(
                "restored {} evidence blobs ({}) from {} into {}; {} already present",
                evidence.blobs_restored,
                HumanBytes(evidence.bytes_restored),
                evidence.bucket,
                arguments.data.join(gridledger_evidence::EVIDENCE_DIRECTORY).display(),
                evidence.already_present
            );
        }
    }
    anyhow::ensure!(report.verified, "the restored log does not verify");
    Ok(())
}

/// `restore --evidence-only`: the evidence of the log already in `--data`, which must not
/// be served by a running node meanwhile (the log's lock refuses a second opener).
async fn restore_evidence_only(
    json: bool,
    nats: &gridledger_bus::NatsConfig,
    arguments: &RestoreArgs,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        arguments.data.join("db").exists(),
        "{} holds no event log: restore the log first (without --evidence-only)",
        arguments.data.display()
    );
    let data = arguments.data.clone();
    let log = tokio::task::spawn_blocking(move || EventLog::open(EventLogConfig::new(&data)))
        .await?
        .with_context(|| format!("opening the log in {}", arguments.data.display()))?;
    let outcome = restore_evidence(nats, &arguments.stream, &arguments.data, &log).await;
    let closing = tokio::task::spawn_blocking(move || log.close()).await?;
    let evidence = outcome.with_context(|| {
        format!(
            "restoring the evidence of the log in {} from the bucket of {}",
            arguments.data.display(),
            arguments.stream
        )
    })?;
    closing?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "stream": arguments.stream,
                "evidence": {
                    "bucket": evidence.bucket,
                    "blobs_referenced": evidence.blobs_referenced,
                    "blobs_restored": evidence.blobs_restored,
                    "bytes_restored": evidence.bytes_restored,
                    "already_present": evidence.already_present,
                },
            })
        );
    } else {
        println!(
            "restored {} evidence blobs ({}) from {} into {}; {} already present",
            evidence.blobs_restored,
            HumanBytes(evidence.bytes_restored),
            evidence.bucket,
            arguments.data.join(gridledger_evidence::EVIDENCE_DIRECTORY).display(),
            evidence.already_present
        );
    }
    Ok(())
}

/// Restores into `<data>/evidence` every blob the events of the restored `log` reference,
/// from the evidence bucket of `stream`, with a progress bar of the bytes on a terminal.
async fn restore_evidence(
    nats: &gridledger_bus::NatsConfig,
    stream: &str,
    data: &Path,
    log: &EventLog,
) -> anyhow::Result<gridledger_bus::EvidenceRestoreReport> {
    let directory = data.join(gridledger_evidence::EVIDENCE_DIRECTORY);
    let store = tokio::task::spawn_blocking(move || gridledger_evidence::EvidenceStore::open(directory)).await??;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("evidence {bar:40} {bytes}/{total_bytes} {msg} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let outcome = gridledger_bus::restore_evidence(nats, stream, log, &store, |progress| {
        bar.set_length(progress.bytes_total);
        bar.set_position(progress.bytes_done);
        bar.set_message(format!("({}/{} blobs)", progress.blobs_done, progress.blobs_total));
    })
    .await;
    bar.finish_and_clear();
    Ok(outcome?)
}

/// `gridledger status`: the node's role and each component's state.
pub async fn status(client: &Client, json: bool) -> anyhow::Result<()> {
    let status = client.node_status().await?;
    if json {
        println!("{}", status_json(&status));
    } else {
        print!("{}", status_text(&status));
    }
    anyhow::ensure!(status.all_serving(), "not every component is serving");
    Ok(())
}

fn status_json(status: &NodeStatusView) -> serde_json::Value {
    serde_json::json!({
        "role": status.role,
        "serving": status.all_serving(),
        "components": status.components.iter().map(|component| serde_json::json!({
            "name": component.name,
            "serving": component.serving,
            "reason": component.reason,
            "position": component.position,
            "lag_events": component.lag_events,
            "lag_seconds": component.lag_seconds,
            "detail": component.detail,
        })).collect::<Vec<_>>(),
    })
}

fn status_text(status: &NodeStatusView) -> String {
    let mut text = format!("{} node\n", status.role);
    for component in &status.components {
        let state = if component.serving { "serving" } else { "NOT SERVING" };
        text.push_str(&format!(
            "  {:<32} {state:<12} position {:>10}  lag {} events, {:.1} s",
            component.name, component.position, component.lag_events, component.lag_seconds
        ));
        if !component.detail.is_empty() {
            text.push_str(&format!("  ({})", component.detail));
        }
        if !component.reason.is_empty() {
            text.push_str(&format!("\n    why: {}", component.reason));
        }
        text.push('\n');
    }
    text
}
