//! `gridledger audit`: an issue's history and replay, log verification, export for independent checking, and the signed checkpoints with their proofs (`checkpoint`, `prove`, `watch`: `crate::proofs`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use gridledger_api::checkpoint::VerifierKey;
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
    /// The newest signed checkpoint (origin, tree size, Merkle root, chain head): print it,
    /// and verify its signature with --vkey. Exit 3 if it does not verify.
    Checkpoint {
        /// The log's verifier key (`name+keyid+base64`, as `gridledger keygen` printed it).
        #[arg(long, env = "GRIDLEDGER_VKEY", value_parser = crate::keys::parse_vkey)]
        vkey: Option<VerifierKey>,
    },
    /// Prove that the event at POSITION is in the log: fetch it, its inclusion proof and the
    /// newest checkpoint, and verify all three here. Exit 3 if anything does not verify.
    Prove {
        /// The event's log position (1 for the first event).
        position: u64,
        /// Prove it in the tree of this size (default: the newest checkpoint's), then that
        /// tree in the checkpoint's with a consistency proof.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        size: Option<u64>,
        /// The log's verifier key; without it the checkpoint's signature is not checked.
        #[arg(long, env = "GRIDLEDGER_VKEY", value_parser = crate::keys::parse_vkey)]
        vkey: Option<VerifierKey>,
    },
    /// The witness: verify each new checkpoint's signature and its consistency with the last
    /// one verified (kept in --state). Exit 2 on a fork (a smaller tree, another root at the
    /// same size, a failed consistency proof), 3 on a checkpoint that does not verify.
    Watch {
        /// The log's verifier key.
        #[arg(long, env = "GRIDLEDGER_VKEY", value_parser = crate::keys::parse_vkey)]
        vkey: VerifierKey,
        /// The file that keeps the last verified checkpoint (created on first use).
        #[arg(long)]
        state: PathBuf,
        /// Time between rounds (e.g. 30s, 5m).
        #[arg(long, value_parser = humantime::parse_duration, default_value = "60s", conflicts_with = "once")]
        interval: Duration,
        /// One round, then exit.
        #[arg(long)]
        once: bool,
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
        AuditCommand::Checkpoint { vkey } => crate::proofs::checkpoint(client, json, vkey.as_ref()).await,
        AuditCommand::Prove { position, size, vkey } => {
            crate::proofs::prove(client, json, vkey.as_ref(), position, size).await
        }
        AuditCommand::Watch {
            vkey,
            state,
            interval,
            once,
        } => crate::proofs::watch(client, json, &vkey, &state, interval, once).await,
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
