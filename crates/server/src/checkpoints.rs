//! The log's checkpoints (docs/audit.md): a task beside the log that follows its durable
//! head and makes a checkpoint (origin, tree size, RFC 6962 root, chain head) when the head
//! has moved, at most once per `min_interval` unless `max_events` events have piled up; signs
//! it with the node's key (`serve --signing-key`), or serves it unsigned without one (and
//! says so); and keeps the signed ones.
//!
//! Kept means: each signed checkpoint is appended to `DATA/checkpoints.jsonl` (one JSON
//! object a line: `tree_size`, `root_hash` in base64, `note`) and fsynced before anyone is
//! shown it, so a checkpoint once served survives a crash. At start the newest line is read
//! back and checked against the log (its size at most the head, its root the log's root at
//! that size): a log that does not continue its last signed checkpoint (restored from an older
//! copy, altered) is refused, since signing it would fork the log. Checkpoints never go
//! backwards: only the durable head is ever signed, and the head only grows.
//!
//! With `serve --nats` each checkpoint, once kept, is also offered to the checkpoint outbox
//! (`gridledger_bus::CheckpointOutbox`), which publishes it to the district's checkpoint
//! stream; offering never blocks, so NATS never holds up a checkpoint or an append.
//!
//! Health: `gridledger.v1.Checkpoints` is SERVING while checkpoints are made, NOT_SERVING
//! while making or keeping one fails (the reason is logged and shown by NodeService); the
//! newest good checkpoint is still served meanwhile.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use gridledger_api::checkpoint::{Checkpoint, SignerKey, check_name, open_note, parse_unverified};
use gridledger_bus::{CheckpointMessage, CheckpointSink};
use gridledger_domain::Registry;
use gridledger_eventlog::EventLog;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::run::ServerError;

/// The health name of the checkpoint task.
pub(crate) const CHECKPOINTS_SERVICE_NAME: &str = "gridledger.v1.Checkpoints";
/// Where the signed checkpoints are kept, in the data directory.
pub const CHECKPOINTS_FILE: &str = "checkpoints.jsonl";
/// How much of the file's end is read to find its newest line (a line is under 1 KiB).
const TAIL_BYTES: u64 = 256 * 1024;

/// How a district node makes its checkpoints (`serve --signing-key`, `--log-origin`,
/// `--checkpoint-interval`, `--checkpoint-events`).
#[derive(Debug, Clone)]
pub struct CheckpointConfig {
    /// The origin line; `None` for `gridledger/<district>` (the districts of the registry,
    /// comma-separated, when it lists several).
    pub origin: Option<String>,
    /// The key that signs; `None` serves unsigned checkpoints (and says so).
    pub signer: Option<SignerKey>,
    /// At most one checkpoint per this interval...
    pub min_interval: Duration,
    /// ...unless this many events have been appended since the last one.
    pub max_events: u64,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            origin: None,
            signer: None,
            min_interval: Duration::from_secs(1),
            max_events: 1000,
        }
    }
}

impl CheckpointConfig {
    /// The origin line the node writes with `registry`.
    pub fn origin_for(&self, registry: &Registry) -> String {
        match &self.origin {
            Some(origin) => origin.clone(),
            None => {
                let districts: Vec<&str> = registry
                    .districts()
                    .iter()
                    .map(|district| district.code.as_str())
                    .collect();
                format!("gridledger/{}", districts.join(","))
            }
        }
    }

    /// One line for the operator: who signs, as what origin.
    pub fn describe(&self, registry: &Registry) -> String {
        let origin = self.origin_for(registry);
        match &self.signer {
            Some(signer) => format!("checkpoints of {origin} signed by {}", signer.verifier()),
            None => {
                format!("checkpoints of {origin} UNSIGNED (no --signing-key): roots are served without a signature")
            }
        }
    }
}

/// A checkpoint the node made: what it says, and the note as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MadeCheckpoint {
    pub(crate) checkpoint: Checkpoint,
    /// The signed note, exactly as signed (the body alone when unsigned).
    pub(crate) note: String,
}

/// What the task reports.
#[derive(Debug, Clone)]
pub(crate) struct CheckpointStatus {
    pub(crate) newest: Arc<MadeCheckpoint>,
    /// Why the last attempt failed, while it keeps failing.
    pub(crate) failing: Option<String>,
}

/// The services' view of the checkpoints: the newest one and how the task is doing.
#[derive(Debug, Clone)]
pub(crate) struct Checkpoints {
    status: watch::Receiver<CheckpointStatus>,
    /// `signed by <verifier key>` or `unsigned`, for NodeService.
    pub(crate) detail: String,
}

impl Checkpoints {
    /// The newest checkpoint.
    pub(crate) fn newest(&self) -> Arc<MadeCheckpoint> {
        self.status.borrow().newest.clone()
    }

    /// The newest checkpoint and the failure, if any.
    pub(crate) fn status(&self) -> CheckpointStatus {
        self.status.borrow().clone()
    }
}

/// The running task; [`CheckpointTask::stop`] makes a last checkpoint of the head and ends it.
#[derive(Debug)]
pub(crate) struct CheckpointTask {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl CheckpointTask {
    /// Makes a last checkpoint if the head moved, then stops (before the log closes).
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        if self.task.await.is_err() {
            tracing::error!("the checkpoint task panicked");
        }
    }
}

/// Where signed checkpoints are appended and fsynced.
#[derive(Debug)]
struct CheckpointFile {
    path: PathBuf,
    file: File,
}

impl CheckpointFile {
    /// Opens (or creates) the file; returns it with its newest complete line's checkpoint.
    /// A torn last line (a crash while appending it: never fsynced, never served) is cut off.
    fn open(path: PathBuf) -> Result<(CheckpointFile, Option<MadeCheckpoint>), String> {
        let describe = |error: std::io::Error| format!("{}: {error}", path.display());
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(describe)?;
        if !existed {
            sync_directory(&path).map_err(describe)?;
        }
        let length = file.metadata().map_err(describe)?.len();
        let start = length.saturating_sub(TAIL_BYTES);
        file.seek(SeekFrom::Start(start)).map_err(describe)?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail).map_err(describe)?;
        let complete = tail
            .iter()
            .rposition(|byte| *byte == b'\n')
            .map_or(0, |index| index + 1);
        if complete < tail.len() {
            tracing::warn!(
                path = %path.display(),
                bytes = tail.len() - complete,
                "cutting off a torn last line of the checkpoint file (a crash while it was written)"
            );
            file.set_len(start + complete as u64).map_err(describe)?;
            file.sync_all().map_err(describe)?;
        }
        let lines = &tail[..complete];
        let newest = match lines.strip_suffix(b"\n") {
            None => None,
            Some(lines) => {
                let line_start = lines
                    .iter()
                    .rposition(|byte| *byte == b'\n')
                    .map_or(0, |index| index + 1);
                if line_start == 0 && start > 0 {
                    return Err(format!(
                        "{}: its last line is longer than {TAIL_BYTES} bytes",
                        path.display()
                    ));
                }
                Some(parse_line(&lines[line_start..]).map_err(|reason| format!("{}: {reason}", path.display()))?)
            }
        };
        Ok((CheckpointFile { path, file }, newest))
    }

    /// Appends `made` and makes it durable.
    fn append(&mut self, made: &MadeCheckpoint) -> Result<(), String> {
        let line = serde_json::json!({
            "tree_size": made.checkpoint.tree_size,
            "root_hash": BASE64.encode(made.checkpoint.root_hash),
            "note": made.note,
        });
        let mut bytes = line.to_string().into_bytes();
        bytes.push(b'\n');
        self.file
            .write_all(&bytes)
            .and_then(|()| self.file.sync_data())
            .map_err(|error| format!("appending to {}: {error}", self.path.display()))
    }
}

/// Makes a new directory entry durable.
fn sync_directory(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(parent) => File::open(parent)?.sync_all(),
        None => Ok(()),
    }
}

/// One line of the file.
fn parse_line(line: &[u8]) -> Result<MadeCheckpoint, String> {
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|error| format!("its last line is not JSON: {error}"))?;
    let note = value["note"].as_str().ok_or("its last line has no note")?.to_owned();
    let (checkpoint, _) = parse_unverified(note.as_bytes()).map_err(|error| format!("its last note: {error}"))?;
    if value["tree_size"].as_u64() != Some(checkpoint.tree_size)
        || value["root_hash"].as_str() != Some(BASE64.encode(checkpoint.root_hash).as_str())
    {
        return Err("its last line's tree_size or root_hash differs from its note".to_owned());
    }
    Ok(MadeCheckpoint { checkpoint, note })
}

/// What making a checkpoint needs.
#[derive(Debug)]
struct Maker {
    log: EventLog,
    origin: String,
    signer: Option<SignerKey>,
    /// Where signed checkpoints are kept (with a signer only).
    file: Option<CheckpointFile>,
    /// Where each checkpoint is offered once made and kept (`serve --nats`).
    publisher: Option<CheckpointSink>,
}

impl Maker {
    /// A checkpoint of the durable head, signed and kept when there is a key.
    fn make(&mut self) -> Result<MadeCheckpoint, String> {
        let head = self.log.head();
        let root_hash = self
            .log
            .merkle_root(head.position)
            .map_err(|error| format!("computing the Merkle root at size {}: {error}", head.position))?;
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            tree_size: head.position,
            root_hash,
            chain_head: head.hash,
        };
        let body = checkpoint.body();
        let made = match &self.signer {
            Some(signer) => {
                let note = signer
                    .sign_note(&body)
                    .map_err(|error| format!("signing the checkpoint: {error}"))?;
                let made = MadeCheckpoint { checkpoint, note };
                if let Some(file) = &mut self.file {
                    file.append(&made)?;
                }
                made
            }
            None => MadeCheckpoint { checkpoint, note: body },
        };
        Ok(made)
    }
}

/// Where the checkpoint task hands each checkpoint it made (the first one included) once it
/// is kept: the district's checkpoint stream (`serve --nats`). Offering never blocks.
fn offer(publisher: Option<&CheckpointSink>, made: &MadeCheckpoint) {
    if let Some(publisher) = publisher {
        publisher.offer(CheckpointMessage {
            tree_size: made.checkpoint.tree_size,
            root_hash: made.checkpoint.root_hash,
            note: made.note.as_bytes().to_vec(),
        });
    }
}

/// Checks the log against the newest kept checkpoint, makes the first checkpoint, and starts
/// the task. Refuses a log that does not continue the kept checkpoint. With `publisher`, each
/// checkpoint is offered to it once made and kept (`serve --nats`).
pub(crate) async fn start_checkpoints(
    log: EventLog,
    data_dir: &Path,
    registry: &Registry,
    config: CheckpointConfig,
    health: HealthReporter,
    shutdown_begun: watch::Receiver<bool>,
    publisher: Option<CheckpointSink>,
) -> Result<(Checkpoints, CheckpointTask), ServerError> {
    let origin = config.origin_for(registry);
    check_name("origin", &origin).map_err(|error| ServerError::Config(format!("--log-origin: {error}")))?;
    let detail = match &config.signer {
        Some(signer) => format!("signed by {}", signer.verifier()),
        None => "unsigned: no --signing-key".to_owned(),
    };
    match &config.signer {
        Some(signer) if signer.name() != origin => tracing::warn!(
            %origin,
            key = %signer.verifier(),
            "signing checkpoints with a key whose name is not the origin (keygen --name should be the origin)"
        ),
        Some(signer) => tracing::info!(%origin, key = %signer.verifier(), "signing checkpoints"),
        None => tracing::warn!(%origin, "no --signing-key: checkpoints are served unsigned"),
    }
    let path = data_dir.join(CHECKPOINTS_FILE);
    let signer = config.signer.clone();
    let opening_log = log.clone();
    let opened = tokio::task::spawn_blocking(move || -> Result<(Maker, MadeCheckpoint), String> {
        // Without a key nothing is kept, but a file kept before is still checked.
        let (file, kept) = if signer.is_some() || path.exists() {
            let (file, kept) = CheckpointFile::open(path)?;
            (signer.is_some().then_some(file), kept)
        } else {
            (None, None)
        };
        let mut maker = Maker {
            log: opening_log,
            origin,
            signer,
            file,
            publisher,
        };
        if let Some(kept) = &kept {
            check_continues(&maker.log, &kept.checkpoint)?;
        }
        let head = maker.log.head().position;
        // The kept checkpoint is served again when the log has not moved and the key signed it.
        let reusable = kept.filter(|kept| {
            kept.checkpoint.tree_size == head
                && kept.checkpoint.origin == maker.origin
                && maker
                    .signer
                    .as_ref()
                    .is_some_and(|signer| open_note(&kept.note, &signer.verifier()).is_ok())
        });
        let first = match reusable {
            Some(kept) => kept,
            None => maker.make()?,
        };
        Ok((maker, first))
    })
    .await?;
    let (maker, first) = opened.map_err(ServerError::Config)?;
    tracing::info!(
        tree_size = first.checkpoint.tree_size,
        root = %BASE64.encode(first.checkpoint.root_hash),
        "checkpoint"
    );
    offer(maker.publisher.as_ref(), &first);
    health
        .set_service_status(CHECKPOINTS_SERVICE_NAME, ServingStatus::Serving)
        .await;
    let (status_sender, status) = watch::channel(CheckpointStatus {
        newest: Arc::new(first),
        failing: None,
    });
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(follow_head(
        maker,
        config.min_interval,
        config.max_events.max(1),
        status_sender,
        stopped,
        health,
        shutdown_begun,
    ));
    Ok((Checkpoints { status, detail }, CheckpointTask { stop, task }))
}

/// Refuses a log that does not continue `kept`: smaller, or another root at its size.
fn check_continues(log: &EventLog, kept: &Checkpoint) -> Result<(), String> {
    let head = log.head().position;
    let refusal = |what: String| {
        format!(
            "the log does not continue the last signed checkpoint in {CHECKPOINTS_FILE} ({kept}): {what}; \
             signing now would fork the log. Restore the log that checkpoint was made from; only for a new \
             log identity (a new --log-origin and key) move {CHECKPOINTS_FILE} away"
        )
    };
    if kept.tree_size > head {
        return Err(refusal(format!("the log's head is position {head}")));
    }
    let root = log
        .merkle_root(kept.tree_size)
        .map_err(|error| format!("computing the Merkle root at size {}: {error}", kept.tree_size))?;
    if root != kept.root_hash {
        return Err(refusal(format!(
            "the log's root at size {} is {}",
            kept.tree_size,
            BASE64.encode(root)
        )));
    }
    Ok(())
}

/// The task: a checkpoint each time the head has moved and one is due; a last one when told
/// to stop.
async fn follow_head(
    maker: Maker,
    min_interval: Duration,
    max_events: u64,
    status: watch::Sender<CheckpointStatus>,
    mut stopped: oneshot::Receiver<()>,
    health: HealthReporter,
    shutdown_begun: watch::Receiver<bool>,
) {
    let tick = min_interval.clamp(Duration::from_millis(10), Duration::from_millis(100));
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut maker = Some(maker);
    let mut last_attempt = Instant::now();
    loop {
        let last = tokio::select! {
            _ = &mut stopped => true,
            _ = ticker.tick() => false,
        };
        let Some(current) = maker.take() else { return };
        let newest = status.borrow().newest.checkpoint.tree_size;
        let head = current.log.head().position;
        let due = head > newest && (last || last_attempt.elapsed() >= min_interval || head - newest >= max_events);
        if !due {
            maker = Some(current);
            if last {
                return;
            }
            continue;
        }
        last_attempt = Instant::now();
        let outcome = tokio::task::spawn_blocking(move || {
            let mut current = current;
            let made = current.make();
            (current, made)
        })
        .await;
        let Ok((current, made)) = outcome else {
            tracing::error!("the checkpoint task panicked while making a checkpoint");
            return;
        };
        let publisher = current.publisher.clone();
        maker = Some(current);
        let was_failing = status.borrow().failing.is_some();
        match made {
            Ok(made) => {
                tracing::debug!(tree_size = made.checkpoint.tree_size, "checkpoint");
                offer(publisher.as_ref(), &made);
                status.send_modify(|status| {
                    status.newest = Arc::new(made);
                    status.failing = None;
                });
                if was_failing {
                    tracing::info!("checkpoints are made again");
                    if !*shutdown_begun.borrow() {
                        health
                            .set_service_status(CHECKPOINTS_SERVICE_NAME, ServingStatus::Serving)
                            .await;
                    }
                }
            }
            Err(reason) => {
                if !was_failing {
                    tracing::error!(%reason, "cannot make a checkpoint; retrying");
                    if !*shutdown_begun.borrow() {
                        health
                            .set_service_status(CHECKPOINTS_SERVICE_NAME, ServingStatus::NotServing)
                            .await;
                    }
                }
                status.send_modify(|status| status.failing = Some(reason));
            }
        }
        if last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_keeps_its_newest_complete_line() -> Result<(), String> {
        let directory = tempfile::tempdir().map_err(|error| error.to_string())?;
        let path = directory.path().join(CHECKPOINTS_FILE);
        let key = SignerKey::from_seed("gridledger/test", [5; 32]).map_err(|error| error.to_string())?;
        let made = |size: u64| -> Result<MadeCheckpoint, String> {
            let checkpoint = Checkpoint {
                origin: "gridledger/test".to_owned(),
                tree_size: size,
                root_hash: [size as u8; 32],
                chain_head: [0; 32],
            };
            let note = key.sign_note(&checkpoint.body()).map_err(|error| error.to_string())?;
            Ok(MadeCheckpoint { checkpoint, note })
        };
        let (mut file, newest) = CheckpointFile::open(path.clone())?;
        assert_eq!(newest, None);
        file.append(&made(1)?)?;
        file.append(&made(3)?)?;
        drop(file);
        // A torn line after the last complete one is cut off, and appends continue after it.
        let mut raw = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|error| error.to_string())?;
        raw.write_all(b"{\"tree_size\":4,\"ro")
            .map_err(|error| error.to_string())?;
        drop(raw);
        let (mut file, newest) = CheckpointFile::open(path.clone())?;
        assert_eq!(newest, Some(made(3)?));
        file.append(&made(5)?)?;
        drop(file);
        let (_, newest) = CheckpointFile::open(path.clone())?;
        assert_eq!(newest, Some(made(5)?));
        let text = std::fs::read_to_string(&path).map_err(|error| error.to_string())?;
        assert_eq!(text.lines().count(), 3, "{text}");
        Ok(())
    }
}
