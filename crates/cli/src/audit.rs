//! `gridledger audit`: an issue's history and replay, log verification, and export for independent checking.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use gridledger_api::proto;
use gridledger_api::proto::audit_service_client::AuditServiceClient;
use indicatif::{ProgressBar, ProgressStyle};

use crate::client::connect;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Every event of one issue, as stored.
    History { issue_id: String },
    /// Every event of one issue with the issue's state after it.
    Replay {
        issue_id: String,
        /// Stop after this revision.
        #[arg(long)]
        up_to_revision: Option<u64>,
    },
    /// Recompute the hash chains; exit 1 if anything does not check out.
    Verify {
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[arg(long, default_value_t = 0)]
        to: u64,
    },
    /// Write the log as JSON Lines (position, record base64, prev_hash, hash, decoded).
    Export {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        from: u64,
    },
}

pub fn run(server: &str, json: bool, command: AuditCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let mut client = AuditServiceClient::new(connect(server).await?);
        match command {
            AuditCommand::History { issue_id } => {
                let mut events = client
                    .read_issue_history(proto::ReadIssueHistoryRequest { issue_id })
                    .await
                    .map_err(output::status_error)?
                    .into_inner();
                while let Some(event) = events.message().await.map_err(output::status_error)? {
                    if json {
                        println!("{}", output::recorded_event_json(&event));
                    } else {
                        println!("{}", output::recorded_event_line(&event));
                    }
                }
            }
            AuditCommand::Replay { issue_id, up_to_revision } => {
                let mut steps = client
                    .replay_issue(proto::ReplayIssueRequest { issue_id, up_to_revision })
                    .await
                    .map_err(output::status_error)?
                    .into_inner();
                while let Some(step) = steps.message().await.map_err(output::status_error)? {
                    let event = step.event.unwrap_or_default();
                    let state = step.state.unwrap_or_default();
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({"event": output::recorded_event_json(&event), "state": output::issue_json(&state)})
                        );
                    } else {
                        println!(
                            "{}  -> {} rev {}",
                            output::recorded_event_line(&event),
                            proto::IssueStatus::try_from(state.status).map_or("UNKNOWN", |status| status.as_str_name()),
                            state.revision
                        );
                    }
                }
            }
            AuditCommand::Verify { from, to } => {
                let report = client
                    .verify_log(proto::VerifyLogRequest { from_position: from, to_position: to })
                    .await
                    .map_err(output::status_error)?
                    .into_inner();
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "ok": report.ok,
                            "events_checked": report.events_checked,
                            "head_position": report.head_position,
                            "head_hash": hex::encode(&report.head_hash),
                            "first_bad_position": report.first_bad_position,
                            "message": report.message,
                        })
                    );
                } else if report.ok {
                    println!(
                        "ok: {} (head position {}, head hash {})",
                        report.message,
                        report.head_position,
                        hex::encode(&report.head_hash)
                    );
                }
                if !report.ok {
                    anyhow::bail!("verification FAILED at position {}: {}", report.first_bad_position, report.message);
                }
            }
            AuditCommand::Export { out, from } => {
                let head = client
                    .verify_log(proto::VerifyLogRequest { from_position: 0, to_position: 0 })
                    .await
                    .map_err(output::status_error)?
                    .into_inner()
                    .head_position;
                let file = std::fs::File::create(&out).with_context(|| format!("creating {}", out.display()))?;
                let mut writer = std::io::BufWriter::new(file);
                let bar = ProgressBar::new(head.saturating_sub(from.max(1)) + 1);
                bar.set_style(
                    ProgressStyle::with_template("export {bar:40} {pos}/{len} events {per_sec} eta {eta}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                let mut events = client
                    .read_all(proto::ReadAllRequest {
                        from_position: from,
                        limit: head.saturating_sub(from.max(1)) + 1,
                        follow: false,
                    })
                    .await
                    .map_err(output::status_error)?
                    .into_inner();
                let mut written: u64 = 0;
                while let Some(event) = events.message().await.map_err(output::status_error)? {
                    serde_json::to_writer(&mut writer, &output::recorded_event_json(&event))?;
                    writer.write_all(b"\n")?;
                    written += 1;
                    bar.inc(1);
                }
                writer.flush()?;
                bar.finish_and_clear();
                if json {
                    println!("{}", serde_json::json!({"exported": written, "out": out.display().to_string()}));
                } else {
                    println!("exported {written} events to {}", out.display());
                }
            }
        }
        Ok(())
    })
}
