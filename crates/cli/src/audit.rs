//! `gridledger audit`: an issue's history and replay, log verification, export for independent checking (with `--evidence`, the photos and videos the events reference beside it), and the signed checkpoints with their proofs (`checkpoint`, `prove`, `watch`: `crate::proofs`).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use gridledger_api::checkpoint::VerifierKey;
use gridledger_api::client::Client;
use gridledger_api::decode_recorded;
use gridledger_domain::{EvidenceRef, IssueId, Sha256Digest};
use gridledger_eventlog::RecordedEvent;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use sha2::{Digest, Sha256};

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
        /// Also write every photo and video the exported events reference into DIR, one
        /// file per blob named by the 64 hex digits of its SHA-256, each checked against
        /// its ref; files already there with the right bytes are kept (a re-export resumes).
        #[arg(long, value_name = "DIR")]
        evidence: Option<PathBuf>,
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
        AuditCommand::Export { out, from, evidence } => export(client, json, &out, from, evidence.as_deref()).await,
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

/// Writes the log from `from` up to the head it has when the export starts; with
/// `evidence`, then the blobs its events reference into that directory
/// (docs/audit.md#exporting-the-log-with-its-evidence).
async fn export(client: &Client, json: bool, out: &Path, from: u64, evidence: Option<&Path>) -> anyhow::Result<()> {
    let head = client.verify_log(0, 0).await?.head_position;
    let count = head.saturating_sub(from.max(1)) + 1;
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut writer = std::io::BufWriter::new(file);
    let bar = ProgressBar::new(count);
    bar.set_style(
        ProgressStyle::with_template("export {bar:40} {pos}/{len} events {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut referenced = ReferencedEvidence::default();
    let mut events = client.read_all(from, count, false).await?;
    let mut written: u64 = 0;
    while let Some(event) = events.next().await? {
        serde_json::to_writer(&mut writer, &recorded_event_json(&event))?;
        writer.write_all(b"\n")?;
        if evidence.is_some() {
            referenced.add(&event);
        }
        written += 1;
        bar.inc(1);
    }
    writer.flush()?;
    bar.finish_and_clear();
    let Some(directory) = evidence else {
        if json {
            println!("{}", json!({"exported": written, "out": out.display().to_string()}));
        } else {
            println!("exported {written} events to {}", out.display());
        }
        return Ok(());
    };
    if !json {
        println!("exported {written} events to {}", out.display());
    }
    let summary = export_evidence(client, directory, referenced).await?;
    if json {
        println!(
            "{}",
            json!({
                "exported": written,
                "out": out.display().to_string(),
                "evidence": {
                    "dir": directory.display().to_string(),
                    "blobs": summary.blobs,
                    "bytes": summary.bytes,
                    "fetched": summary.fetched,
                    "already_present": summary.already_present,
                },
            })
        );
    } else {
        println!(
            "evidence: {} blobs ({} fetched, {} already there), {} bytes in {}",
            summary.blobs,
            summary.fetched,
            summary.already_present,
            summary.bytes,
            directory.display()
        );
    }
    Ok(())
}

/// One distinct blob the exported events reference: its ref, and the issue and position
/// of the first event that references it (the blob is fetched through that issue).
#[derive(Debug)]
struct ReferencedBlob {
    reference: EvidenceRef,
    issue_id: IssueId,
    position: u64,
}

impl ReferencedBlob {
    fn describe(&self) -> String {
        format!(
            "evidence {} (referenced by issue {} at position {})",
            self.reference.sha256, self.issue_id, self.position
        )
    }
}

/// Every distinct blob the exported events reference, in the order first referenced, and
/// what kept an event's refs from being read.
#[derive(Debug, Default)]
struct ReferencedEvidence {
    blobs: Vec<ReferencedBlob>,
    index: HashMap<Sha256Digest, usize>,
    problems: Vec<String>,
}

impl ReferencedEvidence {
    /// Takes the refs of `event`, read from its record.
    fn add(&mut self, event: &RecordedEvent) {
        let issue_event = match decode_recorded(event) {
            Ok(issue_event) => issue_event,
            Err(error) => {
                self.problems.push(format!(
                    "position {} does not decode as an issue event, so its evidence is unknown: {error}",
                    event.position
                ));
                return;
            }
        };
        let references = issue_event.body.evidence();
        if references.is_empty() {
            return;
        }
        let issue_id = match IssueId::from_stream_id(&event.record.stream_id) {
            Ok(issue_id) => issue_id,
            Err(error) => {
                self.problems.push(format!(
                    "position {} is in stream {:?}, not an issue's, so its evidence cannot be fetched: {error}",
                    event.position, event.record.stream_id
                ));
                return;
            }
        };
        for reference in references {
            match self.index.get(&reference.sha256) {
                Some(&known) => {
                    let first = &self.blobs[known];
                    if first.reference != *reference {
                        self.problems.push(format!(
                            "evidence {} is referenced as {} at position {}, but as {} at position {}",
                            reference.sha256, first.reference, first.position, reference, event.position
                        ));
                    }
                }
                None => {
                    self.index.insert(reference.sha256, self.blobs.len());
                    self.blobs.push(ReferencedBlob {
                        reference: *reference,
                        issue_id,
                        position: event.position,
                    });
                }
            }
        }
    }
}

/// What [`export_evidence`] put into the directory.
#[derive(Debug, Default, PartialEq, Eq)]
struct EvidenceSummary {
    /// Distinct blobs referenced, all now in the directory.
    blobs: u64,
    /// Their bytes.
    bytes: u64,
    /// Blobs fetched from the server this time.
    fetched: u64,
    /// Blobs found in the directory with the right bytes already (an earlier export's).
    already_present: u64,
}

/// Fetches each blob of `referenced` that `directory` does not hold yet, checks it against
/// its ref and writes it to `directory/<64 hex>`; tries every blob, then fails naming each
/// one that is not there with the right bytes.
async fn export_evidence(
    client: &Client,
    directory: &Path,
    referenced: ReferencedEvidence,
) -> anyhow::Result<EvidenceSummary> {
    std::fs::create_dir_all(directory).with_context(|| format!("creating {}", directory.display()))?;
    let mut problems = referenced.problems;
    let total_bytes: u64 = referenced.blobs.iter().map(|blob| blob.reference.size).sum();
    let bar = ProgressBar::new(total_bytes);
    bar.set_style(
        ProgressStyle::with_template("evidence {bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut summary = EvidenceSummary::default();
    for blob in &referenced.blobs {
        let target = directory.join(blob.reference.sha256.to_hex());
        let outcome = match holds_blob(&target, &blob.reference) {
            Ok(true) => Ok(false),
            Ok(false) => match client.get_evidence(blob.issue_id, blob.reference.sha256).await {
                Ok(fetched) => check_blob(&fetched.bytes, &blob.reference)
                    .and_then(|()| write_blob(directory, &target, &fetched.bytes))
                    .map(|()| true),
                Err(error) => Err(format!("cannot be fetched: {error}")),
            },
            Err(error) => Err(format!("cannot be read from {}: {error}", target.display())),
        };
        match outcome {
            Ok(fetched) => {
                summary.blobs += 1;
                summary.bytes += blob.reference.size;
                if fetched {
                    summary.fetched += 1;
                } else {
                    summary.already_present += 1;
                }
            }
            Err(reason) => problems.push(format!("{}: {reason}", blob.describe())),
        }
        bar.inc(blob.reference.size);
    }
    bar.finish_and_clear();
    if problems.is_empty() {
        return Ok(summary);
    }
    for problem in &problems {
        eprintln!("FAILED: {problem}");
    }
    anyhow::bail!(
        "the export's evidence is incomplete: {} problem(s), each named above; {} of {} blobs are in {}",
        problems.len(),
        summary.blobs,
        referenced.blobs.len(),
        directory.display()
    )
}

/// The SHA-256 of everything `reader` yields, and how many bytes that was.
fn sha256_of(mut reader: impl Read) -> std::io::Result<(Sha256Digest, u64)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0_u8; 1 << 20];
    let mut size: u64 = 0;
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            return Ok((Sha256Digest::from_bytes(hasher.finalize().into()), size));
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
}

/// Whether `path` is a file holding exactly the blob of `reference` (an earlier export's).
fn holds_blob(path: &Path, reference: &EvidenceRef) -> std::io::Result<bool> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(error),
    };
    if !metadata.is_file() || metadata.len() != reference.size {
        return Ok(false);
    }
    let (sha256, size) = sha256_of(std::fs::File::open(path)?)?;
    Ok(sha256 == reference.sha256 && size == reference.size)
}

/// Whether `bytes` are the blob of `reference`: its size, and its SHA-256.
fn check_blob(bytes: &[u8], reference: &EvidenceRef) -> Result<(), String> {
    let size = bytes.len() as u64;
    if size != reference.size {
        return Err(format!(
            "the bytes fetched are {size} bytes, the ref says {}",
            reference.size
        ));
    }
    let (sha256, _) = sha256_of(bytes).map_err(|error| error.to_string())?;
    if sha256 != reference.sha256 {
        return Err(format!(
            "the bytes fetched have SHA-256 {sha256}, not the ref's {}",
            reference.sha256
        ));
    }
    Ok(())
}

/// Writes `bytes` to `target` in `directory` atomically: a synced temporary file of the
/// directory renamed over `target`, then the directory synced.
fn write_blob(directory: &Path, target: &Path, bytes: &[u8]) -> Result<(), String> {
    let write = || -> std::io::Result<()> {
        let mut temporary = tempfile::Builder::new().prefix(".partial-").tempfile_in(directory)?;
        temporary.write_all(bytes)?;
        temporary.as_file().sync_all()?;
        temporary.persist(target).map_err(|error| error.error)?;
        std::fs::File::open(directory)?.sync_all()
    };
    write().map_err(|error| format!("cannot be written to {}: {error}", target.display()))
}

#[cfg(test)]
mod tests {
    use gridledger_domain::EvidenceMediaType;

    use super::*;

    fn reference_of(bytes: &[u8]) -> EvidenceRef {
        EvidenceRef {
            sha256: Sha256Digest::from_bytes(Sha256::digest(bytes).into()),
            size: bytes.len() as u64,
            media_type: EvidenceMediaType::Jpeg,
        }
    }

    /// `held` (None: no file) at the blob's name in a fresh directory: whether it counts as
    /// the blob, and whether `fetched` passes the check against the ref.
    fn check(blob: &[u8], held: Option<&[u8]>, fetched: &[u8], expect_held: bool, expect_refusal: Option<&str>) {
        let directory = tempfile::tempdir().expect("a temp dir");
        let reference = reference_of(blob);
        let target = directory.path().join(reference.sha256.to_hex());
        if let Some(held) = held {
            std::fs::write(&target, held).expect("writes");
        }
        assert_eq!(holds_blob(&target, &reference).expect("reads"), expect_held, "{held:?}");
        match (check_blob(fetched, &reference), expect_refusal) {
            (Ok(()), None) => {
                write_blob(directory.path(), &target, fetched).expect("writes");
                assert!(holds_blob(&target, &reference).expect("reads"));
                let names: Vec<_> = std::fs::read_dir(directory.path())
                    .expect("lists")
                    .map(|entry| entry.expect("an entry").file_name().to_string_lossy().into_owned())
                    .collect();
                assert_eq!(names, [reference.sha256.to_hex()], "no temporary file is left");
            }
            (Err(reason), Some(words)) => assert!(reason.contains(words), "{reason:?} should say {words:?}"),
            (outcome, expected) => panic!("{fetched:?}: got {outcome:?}, expected refusal {expected:?}"),
        }
    }

    #[test]
    fn blobs_are_checked_against_their_refs_and_written_once() {
        let blob: &[u8] = b"\xff\xd8\xff\xe0 a photo";
        let mut flipped = blob.to_vec();
        flipped[5] ^= 0x01;
        let flipped = flipped.as_slice();
        // Nothing there yet, the right bytes fetched: written.
        check(blob, None, blob, false, None);
        // The right file there already: kept (and the same bytes again pass).
        check(blob, Some(blob), blob, true, None);
        // A damaged or truncated file of that name is not the blob: fetched again, replaced.
        check(blob, Some(flipped), blob, false, None);
        check(blob, Some(&blob[..4]), blob, false, None);
        check(blob, Some(b""), blob, false, None);
        // Fetched bytes that are not the ref's blob are refused, naming the hash.
        check(blob, None, flipped, false, Some("have SHA-256"));
        check(
            blob,
            None,
            &blob[..4],
            false,
            Some("the bytes fetched are 4 bytes, the ref says"),
        );
    }
}
