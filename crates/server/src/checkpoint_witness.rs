//! A stats node as a second, independent witness of a district's checkpoints
//! (docs/audit.md, docs/operations.md).
//!
//! For each district it follows, the stats node also reads the district's checkpoint stream
//! (`GRIDLEDGER_<DISTRICT>_CHECKPOINTS`) in order. Each checkpoint is opened (its signature
//! checked with the district's verifier key when the node has one, `project
//! --checkpoint-vkey`; its form alone otherwise), its headers checked against its note, and,
//! once the replica holds that many events, its root and chain head compared with the
//! replica's own at that size (`EventLog::merkle_root`; the replica is imported verbatim, so
//! its tree is the district's). A checkpoint ahead of the replica waits for the replica's head
//! to get there (a watch, no polling).
//!
//! A checkpoint whose root or chain head differs from the replica's is a **fork**: the
//! district signed a log other than the one it published. A checkpoint that does not open
//! (a bad or missing signature, a malformed note, headers that disagree with it) is
//! **refused**. Either stops the witness of that district for good, names the stream
//! sequence and the size, and reports it (NodeService's `checkpoints/<STREAM>` component and
//! health `gridledger.v1.Checkpoints/<STREAM>` NOT_SERVING, an error in the log); the figures
//! are still served, since the replica itself verified event by event. What was verified is
//! kept in `DATA/<STREAM>/checkpoints-verified.json` (the last stream sequence and tree size),
//! so a restart goes on from there, and finds a fork again since it never got past it.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use gridledger_api::checkpoint::{Checkpoint, VerifierKey, parse_and_verify_note, parse_unverified};
use gridledger_bus::{BusError, CheckpointReader, NatsConfig, ReceivedCheckpoint};
use gridledger_eventlog::EventLog;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::checkpoints::CHECKPOINTS_SERVICE_NAME;

/// First delay before reading the checkpoint stream again after a failure; doubles to the
/// longest.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(200);
const LONGEST_RETRY_DELAY: Duration = Duration::from_secs(5);
/// The file beside a replica that says how far its checkpoints were verified.
pub(crate) const VERIFIED_FILE: &str = "checkpoints-verified.json";

/// What the witness of one district is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WitnessState {
    /// Connecting to NATS or opening the checkpoint stream (which the district node creates
    /// with its first checkpoint); `reason` says why the last attempt failed.
    Connecting { reason: Option<String> },
    /// Reading the checkpoint stream; every checkpoint so far verified.
    Following,
    /// A checkpoint of `tree_size` waits for the replica to hold that many events.
    Waiting { tree_size: u64 },
    /// A checkpoint's root or chain head is not the replica's: stopped for good.
    Fork { reason: String },
    /// A checkpoint does not open (signature, form, headers): stopped for good.
    Refused { reason: String },
    /// The node is stopping.
    Stopped,
}

/// The witness's report, for NodeService and health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WitnessStatus {
    /// The district's event stream (`GRIDLEDGER_RUNZHOU`): the component is
    /// `checkpoints/<stream>`.
    pub(crate) stream: String,
    /// Its checkpoint stream (`GRIDLEDGER_RUNZHOU_CHECKPOINTS`).
    pub(crate) checkpoint_stream: String,
    pub(crate) state: WitnessState,
    /// The tree size of the last checkpoint verified against the replica (0: none yet).
    pub(crate) verified_size: u64,
    /// Its stream sequence.
    pub(crate) verified_sequence: u64,
    /// The checkpoint stream's last sequence, as far as the witness knows.
    pub(crate) stream_last_sequence: u64,
    /// The verifier key signatures are checked with; `None`: roots only.
    pub(crate) key: Option<String>,
}

impl WitnessStatus {
    /// Serving while it reads the stream and everything so far checked out (waiting for the
    /// replica included); not while connecting, after a fork or a refusal, or stopped.
    pub(crate) fn is_serving(&self) -> bool {
        matches!(self.state, WitnessState::Following | WitnessState::Waiting { .. })
    }

    /// Why it is not serving.
    pub(crate) fn reason(&self) -> String {
        match &self.state {
            WitnessState::Connecting { reason } => reason
                .clone()
                .unwrap_or_else(|| format!("connecting to NATS to read {}", self.checkpoint_stream)),
            WitnessState::Fork { reason } | WitnessState::Refused { reason } => reason.clone(),
            WitnessState::Stopped => "the checkpoint witness was stopped".to_owned(),
            WitnessState::Following | WitnessState::Waiting { .. } => String::new(),
        }
    }

    /// What it checks and where it stands, for NodeService's detail.
    pub(crate) fn detail(&self) -> String {
        let checks = match &self.key {
            Some(key) => format!("signatures checked with {key}"),
            None => "roots only: no --checkpoint-vkey for this stream, signatures NOT checked".to_owned(),
        };
        let waiting = match self.state {
            WitnessState::Waiting { tree_size } => {
                format!("; the checkpoint of size {tree_size} waits for the replica")
            }
            _ => String::new(),
        };
        format!(
            "stream {} at sequence {}, verified through sequence {}; {checks}{waiting}",
            self.checkpoint_stream, self.stream_last_sequence, self.verified_sequence
        )
    }
}

/// A running witness. Dropping it stops it, without waiting.
#[derive(Debug)]
pub(crate) struct Witness {
    status: watch::Receiver<WitnessStatus>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Witness {
    pub(crate) fn status(&self) -> watch::Receiver<WitnessStatus> {
        self.status.clone()
    }

    /// Stops reading and waits for the task (before the replica closes).
    pub(crate) async fn stop(self) {
        self.stop.send_replace(true);
        if self.task.await.is_err() {
            tracing::error!("the checkpoint witness task panicked");
        }
    }
}

/// What a witness needs.
#[derive(Debug, Clone)]
pub(crate) struct WitnessConfig {
    pub(crate) nats: NatsConfig,
    /// The district's event stream.
    pub(crate) stream: String,
    /// Its checkpoint stream.
    pub(crate) checkpoint_stream: String,
    /// The district's verifier key, if the node was given one.
    pub(crate) key: Option<VerifierKey>,
    /// `DATA/<STREAM>/checkpoints-verified.json`.
    pub(crate) progress_file: PathBuf,
}

/// How far the checkpoints were verified, as kept in the progress file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Progress {
    sequence: u64,
    tree_size: u64,
}

impl Progress {
    fn load(path: &std::path::Path) -> Progress {
        let Ok(text) = std::fs::read_to_string(path) else {
            return Progress::default();
        };
        let value: serde_json::Value = match serde_json::from_str(&text) {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "unreadable checkpoint progress; verifying the checkpoints from the start");
                return Progress::default();
            }
        };
        match (value["sequence"].as_u64(), value["tree_size"].as_u64()) {
            (Some(sequence), Some(tree_size)) => Progress { sequence, tree_size },
            _ => Progress::default(),
        }
    }

    /// Written atomically (a new file renamed over the old one). Losing it costs only
    /// verifying again.
    fn save(&self, path: &std::path::Path) {
        let text = serde_json::json!({ "sequence": self.sequence, "tree_size": self.tree_size }).to_string();
        let temporary = path.with_extension("json.tmp");
        if let Err(error) = std::fs::write(&temporary, text).and_then(|()| std::fs::rename(&temporary, path)) {
            tracing::warn!(path = %path.display(), %error, "cannot keep the checkpoint progress");
        }
    }
}

/// Starts the witness of one district over its replica `log`.
pub(crate) fn start_witness(log: EventLog, config: WitnessConfig) -> Witness {
    let progress = Progress::load(&config.progress_file);
    let (status_sender, status) = watch::channel(WitnessStatus {
        stream: config.stream.clone(),
        checkpoint_stream: config.checkpoint_stream.clone(),
        state: WitnessState::Connecting { reason: None },
        verified_size: progress.tree_size,
        verified_sequence: progress.sequence,
        stream_last_sequence: 0,
        key: config.key.as_ref().map(ToString::to_string),
    });
    let (stop, stop_requested) = watch::channel(false);
    let task = tokio::spawn(
        WitnessTask {
            log,
            config,
            progress,
            status: status_sender,
            stop: stop_requested,
        }
        .run(),
    );
    Witness { status, stop, task }
}

/// The verdict on one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Verified { tree_size: u64 },
    Fork(String),
    Refused(String),
}

struct WitnessTask {
    log: EventLog,
    config: WitnessConfig,
    progress: Progress,
    status: watch::Sender<WitnessStatus>,
    stop: watch::Receiver<bool>,
}

/// How a session of reading ended.
enum SessionEnd {
    Stopped,
    /// A fork or a refusal: the witness stays where it is until the node stops.
    Halted,
    Failed(BusError),
}

impl WitnessTask {
    async fn run(mut self) {
        let mut delay = FIRST_RETRY_DELAY;
        loop {
            match self.session(&mut delay).await {
                SessionEnd::Stopped => break,
                SessionEnd::Halted => {
                    wait_for_stop(&mut self.stop).await;
                    return;
                }
                SessionEnd::Failed(error) => {
                    let reason = crate::error::with_sources(&error);
                    if self.status.borrow().state
                        != (WitnessState::Connecting {
                            reason: Some(reason.clone()),
                        })
                    {
                        tracing::warn!(stream = %self.config.checkpoint_stream, %reason, retry_in = ?delay, "cannot read the checkpoint stream");
                    }
                    self.set_state(WitnessState::Connecting { reason: Some(reason) });
                    let stopped = tokio::select! {
                        biased;
                        () = wait_for_stop(&mut self.stop) => true,
                        () = tokio::time::sleep(delay) => false,
                    };
                    if stopped {
                        break;
                    }
                    delay = (delay * 2).min(LONGEST_RETRY_DELAY);
                }
            }
        }
        self.set_state(WitnessState::Stopped);
    }

    async fn session(&mut self, delay: &mut Duration) -> SessionEnd {
        let stream = self.config.checkpoint_stream.clone();
        let mut reader = loop {
            let opened = tokio::select! {
                biased;
                () = wait_for_stop(&mut self.stop) => return SessionEnd::Stopped,
                opened = CheckpointReader::open(&self.config.nats, &stream, self.progress.sequence + 1) => opened,
            };
            let reader = match opened {
                Ok(reader) => reader,
                Err(error) => return SessionEnd::Failed(error),
            };
            if reader.last_sequence() >= self.progress.sequence {
                break reader;
            }
            tracing::warn!(
                stream = %stream,
                last_sequence = reader.last_sequence(),
                verified_sequence = self.progress.sequence,
                "the checkpoint stream holds less than was verified (recreated?); verifying it from the start"
            );
            self.progress = Progress::default();
            self.progress.save(&self.config.progress_file);
            self.status.send_modify(|status| {
                status.verified_size = 0;
                status.verified_sequence = 0;
            });
        };
        *delay = FIRST_RETRY_DELAY;
        self.set_state(WitnessState::Following);
        self.learn_last_sequence(reader.last_sequence());
        loop {
            let next = tokio::select! {
                biased;
                () = wait_for_stop(&mut self.stop) => return SessionEnd::Stopped,
                next = reader.next() => next,
            };
            let message = match next {
                Ok(Some(message)) => message,
                Ok(None) => {
                    self.learn_last_sequence(reader.last_sequence());
                    continue;
                }
                Err(error) => return SessionEnd::Failed(error),
            };
            self.learn_last_sequence(reader.last_sequence());
            if message.sequence <= self.progress.sequence {
                continue;
            }
            let checkpoint = match open_checkpoint(&message, self.config.key.as_ref()) {
                Ok(checkpoint) => checkpoint,
                Err(reason) => {
                    return self.halt(Verdict::Refused(format!(
                        "the checkpoint at sequence {} of {stream} does not verify: {reason}",
                        message.sequence
                    )));
                }
            };
            if !self.wait_for_replica(checkpoint.tree_size).await {
                return SessionEnd::Stopped;
            }
            match self.compare_with_replica(message.sequence, &checkpoint).await {
                Ok(Verdict::Verified { tree_size }) => {
                    self.progress = Progress {
                        sequence: message.sequence,
                        tree_size,
                    };
                    self.progress.save(&self.config.progress_file);
                    let progress = self.progress;
                    self.status.send_modify(|status| {
                        status.verified_size = progress.tree_size;
                        status.verified_sequence = progress.sequence;
                    });
                    tracing::debug!(stream = %stream, tree_size, sequence = message.sequence, "checkpoint verified against the replica");
                }
                Ok(verdict) => return self.halt(verdict),
                Err(error) => return SessionEnd::Failed(error),
            }
        }
    }

    /// Waits until the replica holds `tree_size` events; false if the node stops first (or
    /// the replica closed).
    async fn wait_for_replica(&mut self, tree_size: u64) -> bool {
        if self.log.head().position >= tree_size {
            return true;
        }
        self.set_state(WitnessState::Waiting { tree_size });
        let mut head = self.log.watch_head();
        let reached = tokio::select! {
            biased;
            () = wait_for_stop(&mut self.stop) => false,
            reached = head.wait_for(|head| head.position >= tree_size) => reached.is_ok(),
        };
        if reached {
            self.set_state(WitnessState::Following);
        }
        reached
    }

    /// The replica's root and chain head at the checkpoint's size against the checkpoint's.
    async fn compare_with_replica(&self, sequence: u64, checkpoint: &Checkpoint) -> Result<Verdict, BusError> {
        let log = self.log.clone();
        let tree_size = checkpoint.tree_size;
        let (root, chain_head) = tokio::task::spawn_blocking(move || {
            let root = log.merkle_root(tree_size)?;
            let chain_head = match tree_size {
                0 => [0u8; 32],
                size => log.read_event(size)?.map_or([0u8; 32], |event| event.hash),
            };
            Ok::<_, gridledger_eventlog::EventLogError>((root, chain_head))
        })
        .await
        .map_err(|error| BusError::Nats {
            context: "comparing a checkpoint with the replica".to_owned(),
            source: Box::new(error),
        })??;
        let stream = &self.config.stream;
        if root != checkpoint.root_hash {
            return Ok(Verdict::Fork(format!(
                "fork at size {tree_size}: the checkpoint at sequence {sequence} of {} has root {}, but the root \
                 of {stream} (the replica, verified event by event) at size {tree_size} is {}",
                self.config.checkpoint_stream,
                BASE64.encode(checkpoint.root_hash),
                BASE64.encode(root)
            )));
        }
        if chain_head != checkpoint.chain_head {
            return Ok(Verdict::Fork(format!(
                "fork at size {tree_size}: the checkpoint at sequence {sequence} of {} has chain head {}, but the \
                 chain hash of {stream} at position {tree_size} is {}",
                self.config.checkpoint_stream,
                hex::encode(checkpoint.chain_head),
                hex::encode(chain_head)
            )));
        }
        Ok(Verdict::Verified { tree_size })
    }

    fn halt(&mut self, verdict: Verdict) -> SessionEnd {
        let state = match verdict {
            Verdict::Fork(reason) => {
                tracing::error!(stream = %self.config.stream, %reason, "FORK: a district's signed checkpoint disagrees with its published log");
                WitnessState::Fork { reason }
            }
            Verdict::Refused(reason) => {
                tracing::error!(stream = %self.config.stream, %reason, "a checkpoint of the district does not verify");
                WitnessState::Refused { reason }
            }
            Verdict::Verified { .. } => return SessionEnd::Stopped,
        };
        self.set_state(state);
        SessionEnd::Halted
    }

    fn set_state(&self, state: WitnessState) {
        self.status.send_if_modified(|status| {
            let changed = status.state != state;
            status.state = state;
            changed
        });
    }

    fn learn_last_sequence(&self, last_sequence: u64) {
        self.status.send_if_modified(|status| {
            let changed = status.stream_last_sequence < last_sequence;
            status.stream_last_sequence = status.stream_last_sequence.max(last_sequence);
            changed
        });
    }
}

/// Opens a checkpoint message: the note (its signature by `key` when given, else its form
/// only), and the headers, which must repeat what the note says.
fn open_checkpoint(message: &ReceivedCheckpoint, key: Option<&VerifierKey>) -> Result<Checkpoint, String> {
    let checkpoint = match key {
        Some(key) => parse_and_verify_note(&message.note, key).map_err(|error| error.to_string())?,
        None => parse_unverified(&message.note).map_err(|error| error.to_string())?.0,
    };
    let size_header = message.tree_size_header.as_deref().unwrap_or("(none)");
    if size_header != checkpoint.tree_size.to_string() {
        return Err(format!(
            "its {} header is {size_header}, but its note says size {}",
            gridledger_bus::HEADER_TREE_SIZE,
            checkpoint.tree_size
        ));
    }
    let root_header = message.root_hash_header.as_deref().unwrap_or("(none)");
    if root_header != hex::encode(checkpoint.root_hash) {
        return Err(format!(
            "its {} header is {root_header}, but its note says root {}",
            gridledger_bus::HEADER_ROOT_HASH,
            hex::encode(checkpoint.root_hash)
        ));
    }
    Ok(checkpoint)
}

/// Resolves once a stop is asked for, or the handle is gone.
async fn wait_for_stop(stop: &mut watch::Receiver<bool>) {
    let _stopped_or_dropped = stop.wait_for(|stopped| *stopped).await;
}

/// The health name of one district's witness: `gridledger.v1.Checkpoints/<STREAM>`.
pub(crate) fn witness_health_name(stream: &str) -> String {
    format!("{CHECKPOINTS_SERVICE_NAME}/{stream}")
}

/// Mirrors a witness's status into its health name until shutdown begins.
pub(crate) async fn report_witness_health(
    mut status: watch::Receiver<WitnessStatus>,
    health: HealthReporter,
    shutdown_begun: watch::Receiver<bool>,
) {
    let name = witness_health_name(&status.borrow().stream);
    let mut reported: Option<bool> = None;
    loop {
        if *shutdown_begun.borrow() {
            return;
        }
        let serving = status.borrow_and_update().is_serving();
        if reported != Some(serving) {
            if *shutdown_begun.borrow() {
                return;
            }
            let state = if serving {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            health.set_service_status(&name, state).await;
            reported = Some(serving);
        }
        if status.changed().await.is_err() {
            return;
        }
    }
}

/// Which verifier key checks which followed stream, from `project --checkpoint-vkey`
/// (repeatable): `STREAM=VKEY` names the stream; a bare `VKEY` applies to the stream of the
/// district its name is the default origin of (`gridledger/runzhou` -> `GRIDLEDGER_RUNZHOU`).
/// Each key must apply to a followed stream, and a stream has at most one key.
pub(crate) fn checkpoint_keys(streams: &[String], texts: &[String]) -> Result<Vec<Option<VerifierKey>>, String> {
    let mut keys: Vec<Option<VerifierKey>> = vec![None; streams.len()];
    for text in texts {
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let (stream, key_text) = match text.split_once('=') {
            Some((stream, key)) if stream.starts_with("GRIDLEDGER_") && !stream.contains('+') => {
                (Some(stream.to_owned()), key)
            }
            _ => (None, text),
        };
        let key = VerifierKey::parse(key_text).map_err(|error| format!("--checkpoint-vkey {text:?}: {error}"))?;
        let stream = match stream {
            Some(stream) => stream,
            None => match key.name().strip_prefix("gridledger/") {
                Some(district) if !district.is_empty() && !district.contains([',', '/']) => {
                    format!("GRIDLEDGER_{}", district.to_ascii_uppercase())
                }
                _ => {
                    return Err(format!(
                        "--checkpoint-vkey {text:?}: the key's name {:?} names no district \
                         (gridledger/<district>): give it as STREAM=VKEY, e.g. GRIDLEDGER_RUNZHOU={text}",
                        key.name()
                    ));
                }
            },
        };
        let Some(index) = streams.iter().position(|followed| *followed == stream) else {
            return Err(format!(
                "--checkpoint-vkey {text:?} is for {stream}, which is not followed (--stream {})",
                streams.join(" --stream ")
            ));
        };
        if keys[index].is_some() {
            return Err(format!("--checkpoint-vkey: two keys for {stream}"));
        }
        keys[index] = Some(key);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use gridledger_api::checkpoint::SignerKey;

    use super::*;

    fn signer(name: &str, seed: u8) -> SignerKey {
        SignerKey::from_seed(name, [seed; 32]).expect("a valid name")
    }

    fn message(sequence: u64, checkpoint: &Checkpoint, note: String) -> ReceivedCheckpoint {
        ReceivedCheckpoint {
            sequence,
            tree_size_header: Some(checkpoint.tree_size.to_string()),
            root_hash_header: Some(hex::encode(checkpoint.root_hash)),
            note: note.into_bytes(),
        }
    }

    fn checkpoint(size: u64) -> Checkpoint {
        Checkpoint {
            origin: "gridledger/runzhou".to_owned(),
            tree_size: size,
            root_hash: [size as u8; 32],
            chain_head: [9; 32],
        }
    }

    /// Opens `message` with `key`; `Some(fragment)` expects a refusal naming it.
    fn check(name: &str, message: &ReceivedCheckpoint, key: Option<&VerifierKey>, refusal: Option<&str>) {
        match (open_checkpoint(message, key), refusal) {
            (Ok(_), None) => {}
            (Err(reason), Some(fragment)) => {
                assert!(reason.contains(fragment), "{name}: {reason:?} lacks {fragment:?}")
            }
            (outcome, expected) => panic!("{name}: got {outcome:?}, expected refusal {expected:?}"),
        }
    }

    #[test]
    fn checkpoints_open_with_the_districts_key_and_their_headers_must_agree() {
        let key = signer("gridledger/runzhou", 1);
        let vkey = key.verifier();
        let other = signer("gridledger/runzhou", 2).verifier();
        let good_checkpoint = checkpoint(7);
        let signed = key.sign_note(&good_checkpoint.body()).expect("signs");
        let good = message(3, &good_checkpoint, signed.clone());
        check("signed, with its key", &good, Some(&vkey), None);
        check("signed, roots only", &good, None, None);
        check("another key", &good, Some(&other), Some("no signature by key"));
        let unsigned = message(3, &good_checkpoint, good_checkpoint.body());
        check("unsigned, roots only", &unsigned, None, None);
        check("unsigned, with a key", &unsigned, Some(&vkey), Some("not signed"));
        let altered = message(3, &good_checkpoint, signed.replacen("\n7\n", "\n8\n", 1));
        check("altered note", &altered, Some(&vkey), Some("does not verify"));
        let wrong_size = ReceivedCheckpoint {
            tree_size_header: Some("8".to_owned()),
            ..good.clone()
        };
        check(
            "size header",
            &wrong_size,
            Some(&vkey),
            Some("Gridledger-Tree-Size header is 8"),
        );
        let no_root = ReceivedCheckpoint {
            root_hash_header: None,
            ..good.clone()
        };
        check(
            "no root header",
            &no_root,
            None,
            Some("Gridledger-Root-Hash header is (none)"),
        );
        let garbage = ReceivedCheckpoint {
            note: b"not a note".to_vec(),
            ..good
        };
        check("garbage", &garbage, None, Some("malformed"));
    }

    #[test]
    fn keys_are_bound_to_streams_by_prefix_or_by_their_name() {
        let streams = vec!["GRIDLEDGER_RUNZHOU".to_owned(), "GRIDLEDGER_DANTU".to_owned()];
        let runzhou = signer("gridledger/runzhou", 1).verifier().to_string();
        let dantu_custom = signer("dantu-log", 2).verifier().to_string();
        let bound = |texts: &[String]| {
            checkpoint_keys(&streams, texts).map(|keys| {
                keys.iter()
                    .map(|key| key.as_ref().map(|key| key.name().to_owned()))
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(bound(&[]), Ok(vec![None, None]));
        assert_eq!(bound(&[String::new()]), Ok(vec![None, None]));
        assert_eq!(
            bound(std::slice::from_ref(&runzhou)),
            Ok(vec![Some("gridledger/runzhou".to_owned()), None])
        );
        assert_eq!(
            bound(&[format!("GRIDLEDGER_DANTU={dantu_custom}"), runzhou.clone()]),
            Ok(vec![
                Some("gridledger/runzhou".to_owned()),
                Some("dantu-log".to_owned())
            ])
        );
        let refused = |texts: &[String], fragment: &str| match bound(texts) {
            Err(reason) => assert!(reason.contains(fragment), "{reason:?} lacks {fragment:?}"),
            Ok(keys) => panic!("{texts:?} accepted as {keys:?}"),
        };
        refused(std::slice::from_ref(&dantu_custom), "give it as STREAM=VKEY");
        refused(&[format!("GRIDLEDGER_XIN={runzhou}")], "not followed");
        refused(&[runzhou.clone(), format!("GRIDLEDGER_RUNZHOU={runzhou}")], "two keys");
        refused(&["gridledger/runzhou+00000000+AQ==".to_owned()], "invalid key");
        let huaian = signer("gridledger/huaian", 3).verifier().to_string();
        refused(&[huaian], "GRIDLEDGER_HUAIAN, which is not followed");
    }
}
