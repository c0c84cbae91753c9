//! `gridledger evidence`: upload photos and videos to a server, fetch one that an issue
//! references, and verify a data directory's evidence store (every blob rehashed).

use std::future::Future;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use gridledger_api::client::Client;
use gridledger_domain::{EvidenceRef, Field, MAX_EVIDENCE_BYTES, Sha256Digest};
use gridledger_evidence::{EVIDENCE_DIRECTORY, EvidenceStore, EvidenceVerifyReport, VerifyProgress};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::args::{invalid, issue_id};

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Upload photos or videos to --server; prints each one's ref (sha256, size, media type)
    /// to put into commands.
    Upload {
        /// The media type the files are believed to be (image/jpeg, video/mp4, ...); the
        /// server refuses a file whose bytes are another.
        #[arg(long)]
        media_type: Option<String>,
        /// The files, at most 64 MiB each.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Fetch a blob that an issue references, checked against its SHA-256.
    Get {
        /// The issue whose events reference it (it must be in your scope).
        #[arg(long)]
        issue: String,
        /// The blob's SHA-256, 64 hex digits.
        sha256: String,
        /// Where to write it.
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Rehash every blob of a data directory's evidence store (safe beside a running
    /// server); exit status 1 if any is damaged.
    Verify {
        /// The node's data directory.
        #[arg(long, env = "GRIDLEDGER_DATA", default_value = "./gridledger-data")]
        data: PathBuf,
    },
}

/// Runs an evidence command; only `upload` and `get` connect to the server.
pub async fn run<Connect, Connecting>(connect: Connect, json: bool, command: EvidenceCommand) -> anyhow::Result<()>
where
    Connect: FnOnce() -> Connecting,
    Connecting: Future<Output = anyhow::Result<Client>>,
{
    match command {
        EvidenceCommand::Upload { media_type, files } => {
            upload(&connect().await?, json, media_type.as_deref(), &files).await
        }
        EvidenceCommand::Get { issue, sha256, out } => get(&connect().await?, json, &issue, &sha256, &out).await,
        EvidenceCommand::Verify { data } => verify(json, &data),
    }
}

fn reference_json(reference: &EvidenceRef) -> serde_json::Value {
    json!({
        "sha256": reference.sha256.to_hex(),
        "size": reference.size,
        "media_type": reference.media_type.as_str(),
    })
}

async fn upload(client: &Client, json: bool, media_type: Option<&str>, files: &[PathBuf]) -> anyhow::Result<()> {
    for file in files {
        let size = std::fs::metadata(file)
            .with_context(|| format!("cannot read {}", file.display()))?
            .len();
        anyhow::ensure!(
            size <= MAX_EVIDENCE_BYTES,
            "{} has {size} bytes, more than the {MAX_EVIDENCE_BYTES} bytes a blob of evidence may have",
            file.display()
        );
        let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let reference = client
            .upload_evidence(&bytes, media_type)
            .await
            .with_context(|| format!("uploading {}", file.display()))?;
        if json {
            let mut line = reference_json(&reference);
            line["file"] = json!(file.display().to_string());
            println!("{line}");
        } else {
            println!(
                "{}  {:>10}  {:<16}  {}",
                reference.sha256,
                reference.size,
                reference.media_type,
                file.display()
            );
        }
    }
    Ok(())
}

async fn get(client: &Client, json: bool, issue: &str, sha256: &str, out: &Path) -> anyhow::Result<()> {
    let issue_id = issue_id("issue_id", issue)?;
    let sha256 = Sha256Digest::parse_hex(Field::Evidence, sha256).map_err(invalid)?;
    let blob = client.get_evidence(issue_id, sha256).await?;
    std::fs::write(out, &blob.bytes).with_context(|| format!("cannot write {}", out.display()))?;
    if json {
        let mut line = reference_json(&blob.reference);
        line["out"] = json!(out.display().to_string());
        println!("{line}");
    } else {
        println!(
            "wrote {} ({}, {} bytes) to {}",
            blob.reference.sha256,
            blob.reference.media_type,
            blob.reference.size,
            out.display()
        );
    }
    Ok(())
}

fn verify(json: bool, data: &Path) -> anyhow::Result<()> {
    let directory = data.join(EVIDENCE_DIRECTORY);
    let report = if directory.exists() {
        let store = EvidenceStore::open_existing(&directory)?;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("verify {bar:40} {bytes}/{total_bytes} {msg} {bytes_per_sec} eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        let report = store.verify(|progress: &VerifyProgress| {
            if let Some(bar) = &bar {
                bar.set_length(progress.bytes_total);
                bar.set_position(progress.bytes_checked);
                bar.set_message(format!("{}/{} blobs", progress.blobs_checked, progress.blobs_total));
            }
        })?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        report
    } else {
        anyhow::ensure!(
            data.join("db").exists(),
            "no gridledger data in {} (give --data)",
            data.display()
        );
        EvidenceVerifyReport::default()
    };
    print_report(json, data, &report);
    if !report.is_clean() {
        anyhow::bail!(
            "{} of {} evidence blobs are damaged",
            report.damaged.len(),
            report.blobs_checked
        );
    }
    Ok(())
}

fn print_report(json: bool, data: &Path, report: &EvidenceVerifyReport) {
    if json {
        let damaged: Vec<serde_json::Value> = report
            .damaged
            .iter()
            .map(|blob| {
                json!({
                    "sha256": blob.sha256.to_hex(),
                    "path": blob.path.display().to_string(),
                    "problem": blob.problem.to_string(),
                })
            })
            .collect();
        let unexpected: Vec<String> = report
            .unexpected
            .iter()
            .map(|path| path.display().to_string())
            .collect();
        println!(
            "{}",
            json!({
                "ok": report.is_clean(),
                "blobs_checked": report.blobs_checked,
                "bytes_checked": report.bytes_checked,
                "damaged": damaged,
                "unexpected": unexpected,
            })
        );
        return;
    }
    for blob in &report.damaged {
        println!("DAMAGED {}: {} ({})", blob.sha256, blob.problem, blob.path.display());
    }
    for path in &report.unexpected {
        println!("not a blob, not checked: {}", path.display());
    }
    if report.is_clean() {
        println!(
            "evidence in {}: {} blobs ({} bytes) intact",
            data.display(),
            report.blobs_checked,
            report.bytes_checked
        );
    } else {
        println!(
            "evidence in {}: {} of {} blobs damaged ({} bytes checked); upload a good copy of each to repair it",
            data.display(),
            report.damaged.len(),
            report.blobs_checked,
            report.bytes_checked
        );
    }
}
