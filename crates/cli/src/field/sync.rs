//! `gridledger field sync`: the queue sent over one `SubmitCommands` stream.
//!
//! 1. The queue is locked and read; with nothing in it, nothing is sent.
//! 2. Each photo not yet uploaded to this server is uploaded (stored once per SHA-256, so
//!    uploading again is harmless); a photo the server refuses refuses its entry, a failure
//!    that may be transient stops the sync with everything still queued.
//! 3. Every entry, pending or refused before, goes over one stream in queue order, with the
//!    request id and business time it was queued with. Each result is recorded as it
//!    arrives: an acknowledged entry leaves the queue (a line each: request id, issue,
//!    revision, duplicate or not), a refusal for good stays with its reason, a refusal that
//!    says to retry stays pending. The queue is saved every second or every
//!    [`SAVE_EVERY`] results, and at the end, so a cut connection loses no result; what was
//!    not answered stays as it was, and the next sync sends it again with the same request
//!    id (the server answers what it applied with its original acknowledgement).
//! 4. A summary, and the exit status: 0 when the queue is empty, [`EXIT_REFUSED`] when
//!    refused entries remain, [`EXIT_PENDING`] when only pending ones do.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::io::IsTerminal as _;
use std::path::Path;
use std::time::{Duration, Instant};

use gridledger_api::client::{Client, ClientError, RpcCode};
use gridledger_api::{Acknowledgement, CommandRefusal};
use gridledger_domain::{EvidenceMediaType, Sha256Digest};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use super::counted;
use super::queue_file::{Entry, Queue, Reason, State};
use crate::args::now;
use crate::output::ack_json;
use crate::proofs::Failed;

/// The exit status when refused commands remain in the queue: a person must look
/// (`gridledger field status`), then queue a corrected command or drop the refused one.
pub const EXIT_REFUSED: u8 = 3;
/// The exit status when commands are still pending (the server unreachable, the stream cut,
/// a refusal that says to retry) and none is refused: run `sync` again later.
pub const EXIT_PENDING: u8 = 4;

/// The queue is saved at least this often while results arrive...
const SAVE_INTERVAL: Duration = Duration::from_secs(1);
/// ... and after this many results.
const SAVE_EVERY: usize = 100;

/// What `sync --help` says of its exit status.
pub const EXIT_STATUS_HELP: &str = "Exit status: 0 when the queue is empty afterwards (every command acknowledged); \
3 when refused commands remain (see `gridledger field status`: queue a corrected command, or `field drop` the refused one); \
4 when commands are still pending and none is refused (the server unreachable, the stream cut, a refusal that says to retry): \
run `field sync` again; 1 on any other error (the queue unreadable or in use).";

/// What one sync did.
#[derive(Debug, Default)]
struct Summary {
    sent: usize,
    acked: usize,
    duplicates: usize,
    refused: usize,
    to_retry: usize,
    refused_here: usize,
    unanswered: usize,
}

fn reason_of_refusal(refusal: &CommandRefusal) -> Reason {
    Reason {
        code: refusal.code.name().to_owned(),
        message: refusal.message.clone(),
        field: refusal.field.clone(),
        at: now(),
    }
}

/// A refusal made on this side: the entry is not sent.
fn refused_here(code: &str, message: String, field: Option<&str>) -> State {
    State::Refused {
        reason: Reason {
            code: code.to_owned(),
            message,
            field: field.map(str::to_owned),
            at: now(),
        },
    }
}

/// Ends the sync with `code`, saying why.
fn fail(code: u8, message: String) -> anyhow::Error {
    anyhow::Error::new(Failed { code, message })
}

/// Runs `gridledger field sync` on the queue in `directory`, against `server`.
pub async fn run<Connect, Connecting>(
    directory: &Path,
    server: &str,
    connect: Connect,
    json: bool,
) -> anyhow::Result<()>
where
    Connect: Fn() -> Connecting,
    Connecting: Future<Output = anyhow::Result<Client>>,
{
    let mut queue = Queue::open(directory, false)?;
    let mut summary = Summary::default();
    if queue.entries.is_empty() {
        print_summary(json, &summary, &queue);
        return Ok(());
    }
    let client = match connect().await {
        Ok(client) => client,
        Err(error) if matches!(error.downcast_ref::<ClientError>(), Some(ClientError::Connect { .. })) => {
            return Err(fail(
                EXIT_PENDING,
                format!(
                    "{}; the queue's {} queued: run `gridledger field sync` again",
                    crate::cause_once(&error),
                    counted(queue.entries.len(), "entry stays", "entries stay")
                ),
            ));
        }
        Err(error) => return Err(error),
    };
    let not_sent = upload_photos(&client, server, &mut queue, &mut summary).await?;
    send(&client, json, &mut queue, &not_sent, &mut summary).await
}

/// Step 2: every photo of the queue not yet uploaded to `server`; the entries refused
/// because of a photo, which are not sent.
async fn upload_photos(
    client: &Client,
    server: &str,
    queue: &mut Queue,
    summary: &mut Summary,
) -> anyhow::Result<HashSet<usize>> {
    let mut not_sent = HashSet::new();
    let photo_paths: Vec<Vec<std::path::PathBuf>> = queue
        .entries
        .iter()
        .map(|entry| {
            entry
                .photos
                .iter()
                .map(|photo| queue.photo_path(&photo.sha256))
                .collect()
        })
        .collect();
    // Photos uploaded by this sync, so that a photo of several entries goes up once.
    let mut uploaded: HashMap<Sha256Digest, EvidenceMediaType> = HashMap::new();
    let mut stopped = None;
    'entries: for (index, (entry, paths)) in queue.entries.iter_mut().zip(photo_paths).enumerate() {
        for (photo, path) in entry.photos.iter_mut().zip(paths) {
            if photo.uploaded_to.as_deref() == Some(server) {
                continue;
            }
            if let Some(media_type) = uploaded.get(&photo.sha256) {
                photo.media_type = *media_type;
                photo.uploaded_to = Some(server.to_owned());
                continue;
            }
            let bytes = match std::fs::read(&path) {
                Ok(bytes) if super::photos::sha256_of(&bytes) == photo.sha256 => bytes,
                Ok(_) => {
                    entry.state = refused_here(
                        "DATA_LOSS",
                        format!(
                            "the queue's copy of photo {} ({}) is damaged: its bytes no longer hash to its name; queue the command again with the photo",
                            path.display(),
                            photo.source
                        ),
                        Some("evidence"),
                    );
                    summary.refused_here += 1;
                    not_sent.insert(index);
                    break;
                }
                Err(error) => {
                    entry.state = refused_here(
                        "DATA_LOSS",
                        format!(
                            "the queue's copy of photo {} ({}) cannot be read: {error}; queue the command again with the photo",
                            path.display(),
                            photo.source
                        ),
                        Some("evidence"),
                    );
                    summary.refused_here += 1;
                    not_sent.insert(index);
                    break;
                }
            };
            match client.upload_evidence(&bytes, None).await {
                Ok(reference) => {
                    uploaded.insert(photo.sha256, reference.media_type);
                    photo.media_type = reference.media_type;
                    photo.uploaded_to = Some(server.to_owned());
                }
                Err(error) if error.code().is_some_and(|code| !code.is_transient()) => {
                    let code = error.code().map_or("UNKNOWN", RpcCode::name);
                    let message = match &error {
                        ClientError::Rpc { message, .. } => message.clone(),
                        other => other.to_string(),
                    };
                    entry.state = refused_here(
                        code,
                        format!("the photo {} was refused: {message}", photo.source),
                        Some("evidence"),
                    );
                    summary.refused_here += 1;
                    not_sent.insert(index);
                    break;
                }
                Err(error) => {
                    stopped = Some(format!(
                        "uploading the photo {} failed: {error}; nothing was sent: run `gridledger field sync` again",
                        photo.source
                    ));
                    break 'entries;
                }
            }
        }
    }
    queue.save()?;
    match stopped {
        Some(message) => Err(fail(EXIT_PENDING, message)),
        None => Ok(not_sent),
    }
}

/// Step 3 and 4: the stream, the results as they come, the summary.
async fn send(
    client: &Client,
    json: bool,
    queue: &mut Queue,
    not_sent: &HashSet<usize>,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let mut waiting: HashMap<String, VecDeque<usize>> = HashMap::new();
    let mut commands = Vec::new();
    for (index, entry) in queue.entries.iter_mut().enumerate() {
        if not_sent.contains(&index) {
            continue;
        }
        match entry.submitted() {
            Ok(command) => {
                waiting.entry(entry.request_id.clone()).or_default().push_back(index);
                commands.push(command);
            }
            Err(error) => {
                entry.state = refused_here(
                    "INVALID_ARGUMENT",
                    format!("refused on this side, not sent: {}", crate::cause_once(&error)),
                    None,
                );
                summary.refused_here += 1;
            }
        }
    }
    summary.sent = commands.len();
    let progress = if json || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(commands.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("sync {bar:40} {pos}/{len} commands {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    };
    let opened = if commands.is_empty() {
        None
    } else {
        Some(client.submit_command_list(commands).await)
    };
    let broken = match opened {
        None => None,
        Some(Err(error)) => Some(error),
        Some(Ok(mut results)) => {
            let mut last_save = Instant::now();
            let mut unsaved = 0;
            loop {
                match results.next().await {
                    Ok(Some(result)) => {
                        let Some(index) = waiting.get_mut(&result.request_id).and_then(VecDeque::pop_front) else {
                            tracing::warn!(request_id = %result.request_id, "a result for no command sent; ignored");
                            continue;
                        };
                        let entry = &mut queue.entries[index];
                        let line = record(entry, result.outcome, summary);
                        progress.suspend(|| println!("{}", if json { line.to_string() } else { text_line(&line) }));
                        progress.inc(1);
                        unsaved += 1;
                        if unsaved >= SAVE_EVERY || last_save.elapsed() >= SAVE_INTERVAL {
                            queue.save()?;
                            last_save = Instant::now();
                            unsaved = 0;
                        }
                    }
                    Ok(None) => break None,
                    Err(error) => break Some(error),
                }
            }
        }
    };
    progress.finish_and_clear();
    summary.unanswered = waiting.values().map(VecDeque::len).sum();
    queue.save()?;
    queue.forget_done();
    print_summary(json, summary, queue);
    let refused = queue.entries.iter().filter(|entry| entry.state.is_refused()).count();
    let pending = queue.entries.len() - refused;
    let broken = broken.map(|error| {
        format!(
            "the stream broke ({error}) with {} not answered; ",
            counted(summary.unanswered, "command", "commands")
        )
    });
    if refused > 0 {
        return Err(fail(
            EXIT_REFUSED,
            format!(
                "{}{} in {} (see `gridledger field status`)",
                broken.unwrap_or_default(),
                counted(refused, "refused command remains", "refused commands remain"),
                queue.directory().display()
            ),
        ));
    }
    if pending > 0 {
        return Err(fail(
            EXIT_PENDING,
            format!(
                "{}{} pending in {}: run `gridledger field sync` again",
                broken.unwrap_or_default(),
                counted(pending, "command is still", "commands are still"),
                queue.directory().display()
            ),
        ));
    }
    Ok(())
}

/// Records one result in its entry; the result's line, as JSON.
fn record(entry: &mut Entry, outcome: Result<Acknowledgement, CommandRefusal>, summary: &mut Summary) -> Value {
    let mut line = json!({
        "request_id": entry.request_id,
        "command": entry.command.name(),
        "issue_id": entry.issue_id.to_string(),
    });
    match outcome {
        Ok(ack) => {
            entry.done = true;
            summary.acked += 1;
            summary.duplicates += usize::from(ack.duplicate);
            line["result"] = json!("acked");
            line["ack"] = ack_json(&ack);
        }
        Err(refusal) => {
            let reason = reason_of_refusal(&refusal);
            line["result"] = json!(if refusal.retryable { "pending" } else { "refused" });
            line["error"] = json!({
                "code": reason.code,
                "message": reason.message,
                "field": reason.field,
                "retryable": refusal.retryable,
            });
            if refusal.retryable {
                summary.to_retry += 1;
                entry.state = State::Pending {
                    last_error: Some(reason),
                };
            } else {
                summary.refused += 1;
                // The same refusal again keeps the time of the first: refused since then.
                let reason = match entry.state.reason() {
                    Some(earlier) if entry.state.is_refused() && earlier.same_as(&reason) => earlier.clone(),
                    _ => reason,
                };
                entry.state = State::Refused { reason };
            }
        }
    }
    line
}

/// A result's line for people.
fn text_line(line: &Value) -> String {
    let text = |key: &str| line[key].as_str().unwrap_or_default().to_owned();
    let head = format!(
        "{:<8} {}  {:<9} issue {}",
        text("result"),
        text("request_id"),
        text("command"),
        text("issue_id")
    );
    let ack = &line["ack"];
    if ack.is_object() {
        return format!(
            "{head}  revision {}  {}{}",
            ack["revision"],
            ack["status"].as_str().unwrap_or_default(),
            if ack["duplicate"].as_bool() == Some(true) {
                "  (duplicate: applied before)"
            } else {
                ""
            }
        );
    }
    let error = &line["error"];
    let field = error["field"]
        .as_str()
        .map(|field| format!(" (field {field})"))
        .unwrap_or_default();
    let retry = if error["retryable"].as_bool() == Some(true) {
        "; the next sync sends it again"
    } else {
        ""
    };
    format!(
        "{head}: {}: {}{field}{retry}",
        error["code"].as_str().unwrap_or_default(),
        error["message"].as_str().unwrap_or_default()
    )
}

fn print_summary(json: bool, summary: &Summary, queue: &Queue) {
    let refused = queue.entries.iter().filter(|entry| entry.state.is_refused()).count();
    let pending = queue.entries.len() - refused;
    if json {
        println!(
            "{}",
            json!({
                "summary": {
                    "sent": summary.sent,
                    "acked": summary.acked,
                    "duplicates": summary.duplicates,
                    "refused": summary.refused,
                    "refused_here": summary.refused_here,
                    "to_retry": summary.to_retry,
                    "unanswered": summary.unanswered,
                },
                "queue": {"entries": queue.entries.len(), "refused": refused, "pending": pending},
            })
        );
        return;
    }
    if summary.sent == 0 && summary.refused_here == 0 && queue.entries.is_empty() {
        println!("nothing to sync: the queue {} is empty", queue.directory().display());
        return;
    }
    let mut parts = vec![format!(
        "{} acked ({})",
        summary.acked,
        counted(summary.duplicates, "duplicate", "duplicates")
    )];
    parts.push(format!("{} refused", summary.refused));
    if summary.to_retry > 0 {
        parts.push(format!("{} to retry", summary.to_retry));
    }
    if summary.unanswered > 0 {
        parts.push(format!("{} unanswered", summary.unanswered));
    }
    if summary.refused_here > 0 {
        parts.push(format!("{} refused on this side, not sent", summary.refused_here));
    }
    println!(
        "sent {}: {}; the queue now holds {} ({refused} refused, {pending} pending)",
        counted(summary.sent, "command", "commands"),
        parts.join(", "),
        counted(queue.entries.len(), "entry", "entries")
    );
}

#[cfg(test)]
mod tests {
    use gridledger_domain::{IssueId, IssueStatus};

    use super::*;
    use crate::client::Action;

    fn entry() -> Entry {
        Entry {
            request_id: "r-1".to_owned(),
            issue_id: IssueId::parse("01a21b09-561d-750b-a1e3-e4d063fc5eca").expect("a valid id"),
            occurred_at: now(),
            queued_at: now(),
            expected_revision: None,
            command: Action::Resolve {
                summary: "done".to_owned(),
            },
            location: None,
            photos: vec![],
            state: State::Pending { last_error: None },
            done: false,
        }
    }

    fn refusal(code: RpcCode, retryable: bool) -> CommandRefusal {
        CommandRefusal {
            code,
            message: "not now".to_owned(),
            field: None,
            retryable,
        }
    }

    #[test]
    fn each_result_settles_its_entry_and_reads_as_one_line() {
        let mut summary = Summary::default();
        let cases: [(Result<Acknowledgement, CommandRefusal>, &str, &str, bool); 4] = [
            (
                Ok(Acknowledgement {
                    issue_id: entry().issue_id,
                    revision: 1,
                    position: 9,
                    event_hash: [7; 32],
                    status: Some(IssueStatus::Resolved),
                    duplicate: true,
                }),
                "acked    r-1  resolve   issue 01a21b09-561d-750b-a1e3-e4d063fc5eca  revision 1  RESOLVED  (duplicate: applied before)",
                "pending",
                true,
            ),
            (
                Err(refusal(RpcCode::FailedPrecondition, false)),
                "refused  r-1  resolve   issue 01a21b09-561d-750b-a1e3-e4d063fc5eca: FAILED_PRECONDITION: not now",
                "refused",
                false,
            ),
            (
                Err(refusal(RpcCode::Unavailable, true)),
                "pending  r-1  resolve   issue 01a21b09-561d-750b-a1e3-e4d063fc5eca: UNAVAILABLE: not now; the next sync sends it again",
                "pending",
                false,
            ),
            (
                Err(CommandRefusal {
                    field: Some("summary".to_owned()),
                    ..refusal(RpcCode::InvalidArgument, false)
                }),
                "refused  r-1  resolve   issue 01a21b09-561d-750b-a1e3-e4d063fc5eca: INVALID_ARGUMENT: not now (field summary)",
                "refused",
                false,
            ),
        ];
        let mut refused_before = entry();
        let first = record(
            &mut refused_before,
            Err(refusal(RpcCode::NotFound, false)),
            &mut summary,
        );
        let state_before = refused_before.state.clone();
        record(
            &mut refused_before,
            Err(refusal(RpcCode::NotFound, false)),
            &mut summary,
        );
        assert_eq!(
            refused_before.state, state_before,
            "the same refusal keeps its first time"
        );
        record(&mut refused_before, Err(refusal(RpcCode::Aborted, false)), &mut summary);
        assert_eq!(
            refused_before.state.reason().map(|reason| reason.code.as_str()),
            Some("ABORTED")
        );
        assert_eq!(first["error"]["code"], "NOT_FOUND");
        summary = Summary::default();
        for (outcome, expected_line, expected_state, expected_done) in cases {
            let mut queued = entry();
            let line = record(&mut queued, outcome, &mut summary);
            assert_eq!(text_line(&line), expected_line);
            assert_eq!((queued.state.name(), queued.done), (expected_state, expected_done));
        }
        assert_eq!(
            (summary.acked, summary.duplicates, summary.refused, summary.to_retry),
            (1, 1, 2, 1)
        );
    }
}
