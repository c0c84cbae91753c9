//! `gridledger audit`: an issue's history and replay, log verification, and export for independent checking.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use gridledger_api::client::Client;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::args::issue_id;
use crate::output::event::{history_line, recorded_event_json};
use crate::output::issue::issue_json;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Every event of one issue: what happened and the status it led to (with --json, as
    /// stored, one export line each).
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
    /// Write the log as JSON Lines (position, record base64, prev_hash, hash, decoded, event).
    Export {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        from: u64,
    },
}

pub async fn run(client: &Client, json: bool, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::History { issue_id: id } => history(client, json, &id).await,
        AuditCommand::Replay {
            issue_id: id,
            up_to_revision,
        } => replay(client, json, &id, up_to_revision).await,
        AuditCommand::Verify { from, to } => verify(client, json, from, to).await,
        AuditCommand::Export { out, from } => export(client, json, &out, from).await,
    }
}

/// For people, one line per event from the replay (it carries the status after each);
/// for scripts, the events as stored.
async fn history(client: &Client, json: bool, issue_id_text: &str) -> anyhow::Result<()> {
    let issue_id = issue_id("issue_id", issue_id_text)?;
    if json {
        for event in client.issue_history(issue_id).await? {
            println!("{}", recorded_event_json(&event));
        }
    } else {
        for step in client.replay_issue(issue_id, None).await? {
            println!("{}", history_line(&step));
        }
    }
    Ok(())
}

async fn replay(client: &Client, json: bool, issue_id_text: &str, up_to_revision: Option<u64>) -> anyhow::Result<()> {
    let steps = client
        .replay_issue(issue_id("issue_id", issue_id_text)?, up_to_revision)
        .await?;
    for step in steps {
        if json {
            println!(
                "{}",
                json!({"event": recorded_event_json(&step.event), "state": issue_json(&step.state_after)})
            );
        } else {
            println!("{}", history_line(&step));
        }
    }
    Ok(())
}

async fn verify(client: &Client, json: bool, from: u64, to: u64) -> anyhow::Result<()> {
    let report = client.verify_log(from, to).await?;
    if json {
        println!(
            "{}",
            json!({
                "ok": report.ok,
                "events_checked": report.events_checked,
                "head_position": report.head_position,
                "head_hash": hex::encode(report.head_hash),
                "first_bad_position": report.first_bad_position.unwrap_or(0),
                "message": report.message,
            })
        );
    } else if report.ok {
        println!(
            "ok: {} (head position {}, head hash {})",
            report.message,
            report.head_position,
            hex::encode(report.head_hash)
        );
    }
    if !report.ok {
        anyhow::bail!(
            "verification FAILED at position {}: {}",
            report.first_bad_position.unwrap_or(0),
            report.message
        );
    }
    Ok(())
}

/// Writes the log from `from` up to the head it has when the export starts.
async fn export(client: &Client, json: bool, out: &Path, from: u64) -> anyhow::Result<()> {
    let head = client.verify_log(0, 0).await?.head_position;
    let count = head.saturating_sub(from.max(1)) + 1;
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut writer = std::io::BufWriter::new(file);
    let bar = ProgressBar::new(count);
    bar.set_style(
        ProgressStyle::with_template("export {bar:40} {pos}/{len} events {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut events = client.read_all(from, count, false).await?;
    let mut written: u64 = 0;
    while let Some(event) = events.next().await? {
        serde_json::to_writer(&mut writer, &recorded_event_json(&event))?;
        writer.write_all(b"\n")?;
        written += 1;
        bar.inc(1);
    }
    writer.flush()?;
    bar.finish_and_clear();
    if json {
        println!("{}", json!({"exported": written, "out": out.display().to_string()}));
    } else {
        println!("exported {written} events to {}", out.display());
    }
    Ok(())
}
