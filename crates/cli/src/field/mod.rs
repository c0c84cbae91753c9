//! `gridledger field`: an offline queue of commands, the reference client of
//! `SubmitCommands` for grid-app developers (docs/api.md § Field sync).
//!
//! - `field queue <command> ...` checks a command here, as the server would (but for what
//!   only the server knows: its registry, the issue's state), and appends it to the queue
//!   with its request id, its issue (a report gets its id now, a UUIDv7, printed for the
//!   commands that follow) and its business time, copying its photos into the queue; no
//!   server is needed.
//! - `field sync` uploads the photos and sends the queue over one stream
//!   ([`sync`]), leaving only what still needs attention.
//! - `field status` lists the queue; `field drop` removes entries by request id.
//!
//! The queue is a folder ([`queue_file`]): `queue.json` and `photos/<sha256>`.

pub mod photos;
pub mod queue_file;
pub mod sync;

use std::future::Future;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use gridledger_api::CommandMeta;
use gridledger_api::client::Client;
use gridledger_domain::{EARLIEST_BUSINESS_TIME, IssueId, MAX_CLOCK_SKEW, Timestamp};
use serde_json::json;

use crate::args::{invalid, issue_id, now, optional_issue_id};
use crate::client::{Action, Attachments, LifecycleCommand, ReportArgs};
use crate::output::time_for_people;
use queue_file::{Entry, Queue, QueuedLocation, QueuedPhoto, State};

/// What `gridledger field` takes.
#[derive(Debug, Args)]
pub struct FieldArgs {
    /// The queue's folder: `queue.json` and a copy of each photo, `photos/<sha256>`.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "GRIDLEDGER_FIELD_QUEUE",
        default_value = "gridledger-field-queue"
    )]
    queue: PathBuf,
    #[command(subcommand)]
    command: FieldCommand,
}

#[derive(Debug, Subcommand)]
pub enum FieldCommand {
    /// Append a command to the queue, offline: checked here, kept with its request id, its
    /// issue, its business time (now, or --occurred-at) and copies of its photos.
    Queue {
        #[command(subcommand)]
        command: Box<QueueCommand>,
    },
    /// Upload the queue's photos and send its commands over one SubmitCommands stream, in
    /// queue order; acknowledged ones leave the queue, refused ones stay with the reason.
    #[command(after_help = sync::EXIT_STATUS_HELP)]
    Sync,
    /// List the queue: each entry's request id, command, issue, business time, state and reason.
    Status,
    /// Remove entries from the queue by request id (a refused command given up on).
    Drop {
        #[arg(required = true, value_name = "REQUEST_ID")]
        request_ids: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Queue the report of a new issue; prints the issue's id (chosen now, a UUIDv7) for the
    /// commands that follow (just the id unless on a terminal).
    Report(ReportArgs),
    #[command(flatten)]
    Lifecycle(LifecycleCommand),
}

/// Runs a `gridledger field` command; `sync` connects with `connect` to `server`.
pub async fn run<Connect, Connecting>(
    server: &str,
    connect: Connect,
    json: bool,
    arguments: FieldArgs,
) -> anyhow::Result<()>
where
    Connect: Fn() -> Connecting,
    Connecting: Future<Output = anyhow::Result<Client>>,
{
    match arguments.command {
        FieldCommand::Queue { command } => queue(&arguments.queue, json, *command),
        FieldCommand::Sync => sync::run(&arguments.queue, server, connect, json).await,
        FieldCommand::Status => status(&arguments.queue, json),
        FieldCommand::Drop { request_ids } => drop_entries(&arguments.queue, json, &request_ids),
    }
}

/// A command to queue, taken apart.
struct Queued {
    issue_id: IssueId,
    meta: CommandMeta,
    action: Action,
    attach: Attachments,
    quiet: bool,
}

fn taken_apart(command: QueueCommand) -> anyhow::Result<Queued> {
    Ok(match command {
        QueueCommand::Report(arguments) => {
            let issue_id = match optional_issue_id("issue_id", &arguments.issue_id)? {
                Some(issue_id) => issue_id,
                None => IssueId::from_uuid(uuid::Uuid::now_v7())?,
            };
            Queued {
                issue_id,
                action: arguments.action(),
                meta: arguments.meta.into_meta()?,
                attach: arguments.attach,
                quiet: arguments.quiet,
            }
        }
        QueueCommand::Lifecycle(lifecycle) => {
            let (target, action, attach) = lifecycle.into_parts();
            Queued {
                issue_id: issue_id("issue_id", &target.issue_id)?,
                meta: target.meta.into_meta()?,
                action,
                attach,
                quiet: false,
            }
        }
    })
}

/// The business time of a command queued `now`: refused here when the server would refuse
/// it whenever it is sent (before 2000, or ahead of this clock by more than the server's
/// tolerance).
fn business_time(given: Option<Timestamp>, now: Timestamp) -> anyhow::Result<Timestamp> {
    let occurred_at = given.unwrap_or(now);
    if occurred_at < EARLIEST_BUSINESS_TIME {
        anyhow::bail!(
            "InvalidArgument: invalid meta.occurred_at {occurred_at}: it is before {EARLIEST_BUSINESS_TIME}, the earliest business time accepted"
        );
    }
    if now
        .checked_add(MAX_CLOCK_SKEW)
        .is_some_and(|latest| occurred_at > latest)
    {
        anyhow::bail!(
            "InvalidArgument: invalid meta.occurred_at {occurred_at}: it is in the future (this clock says {now})"
        );
    }
    Ok(occurred_at)
}

/// `field queue`: checks the command, keeps its photos, appends it.
fn queue(directory: &Path, json: bool, command: QueueCommand) -> anyhow::Result<()> {
    let Queued {
        issue_id,
        meta,
        action,
        attach,
        quiet,
    } = taken_apart(command)?;
    let queued_at = now();
    let meta = CommandMeta {
        occurred_at: Some(business_time(meta.occurred_at, queued_at)?),
        ..meta
    };
    let location = attach.location.location()?;
    let photos = photos::inspect_all(&attach.photos)?;
    let entry = Entry {
        request_id: meta.request_id.clone(),
        issue_id,
        occurred_at: meta.occurred_at.unwrap_or(queued_at),
        queued_at,
        expected_revision: meta.expected_revision,
        command: action,
        location: location.as_ref().map(QueuedLocation::from),
        photos: photos
            .0
            .iter()
            .map(|photo| QueuedPhoto {
                sha256: photo.reference.sha256,
                size: photo.reference.size,
                media_type: photo.reference.media_type,
                source: photo.path.display().to_string(),
                uploaded_to: None,
            })
            .collect(),
        state: State::Pending { last_error: None },
        done: false,
    };
    // Checked exactly as `sync` will build it, before anything is written.
    entry.submitted()?;

    let mut queue = Queue::open(directory, true)?;
    for photo in &photos.0 {
        queue.keep_photo(&photo.reference.sha256, &photo.bytes)?;
    }
    if let Some(earlier) = queue
        .entries
        .iter()
        .position(|queued| queued.request_id == entry.request_id)
    {
        eprintln!(
            "note: request id {} is queued already (entry {}): the server applies it once and answers the second as a duplicate",
            entry.request_id,
            earlier + 1
        );
    }
    queue.entries.push(entry.clone());
    queue.save()?;
    if json {
        println!("{}", serde_json::to_value(&entry)?);
    } else if matches!(entry.command, Action::Report { .. }) && (quiet || !std::io::stdout().is_terminal()) {
        println!("{}", entry.issue_id);
    } else {
        println!(
            "queued {}{} for issue {} (request id {}, occurred at {}); {} in {}",
            entry.command.name(),
            if entry.photos.is_empty() {
                String::new()
            } else {
                format!(" with {}", counted(entry.photos.len(), "photo", "photos"))
            },
            entry.issue_id,
            entry.request_id,
            entry.occurred_at,
            entries(queue.entries.len()),
            queue.directory().display()
        );
    }
    Ok(())
}

/// `1 entry`, `2 entries`: `count` of `one` or of `many`.
pub fn counted(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// `n entry` or `n entries`.
fn entries(count: usize) -> String {
    counted(count, "entry", "entries")
}

/// `field status`.
fn status(directory: &Path, json: bool) -> anyhow::Result<()> {
    let queue = Queue::read(directory)?;
    let refused = queue.entries.iter().filter(|entry| entry.state.is_refused()).count();
    let pending = queue.entries.len() - refused;
    if json {
        println!(
            "{}",
            json!({
                "queue": directory.display().to_string(),
                "entries": queue.entries,
                "pending": pending,
                "refused": refused,
            })
        );
        return Ok(());
    }
    print!("{}", status_text(&queue, pending, refused));
    Ok(())
}

fn status_text(queue: &Queue, pending: usize, refused: usize) -> String {
    use std::fmt::Write as _;
    let mut text = format!(
        "{}: {} ({pending} pending, {refused} refused)\n",
        queue.directory().display(),
        entries(queue.entries.len())
    );
    if queue.entries.is_empty() {
        return text;
    }
    let _ = writeln!(
        text,
        "{:<36}  {:<9}  {:<36}  {:<20}  {:<8}  reason",
        "request id", "command", "issue", "occurred at", "state"
    );
    for entry in &queue.entries {
        let mut reason = entry.state.reason().map(ToString::to_string).unwrap_or_default();
        let not_uploaded = entry.photos.iter().filter(|photo| photo.uploaded_to.is_none()).count();
        if not_uploaded > 0 {
            if !reason.is_empty() {
                reason.push_str("; ");
            }
            reason.push_str(&counted(not_uploaded, "photo to upload", "photos to upload"));
        }
        let _ = writeln!(
            text,
            "{:<36}  {:<9}  {:<36}  {:<20}  {:<8}  {reason}",
            entry.request_id,
            entry.command.name(),
            entry.issue_id.to_string(),
            time_for_people(entry.occurred_at),
            entry.state.name(),
        );
    }
    text
}

/// `field drop`: every id must be in the queue, or nothing is removed.
fn drop_entries(directory: &Path, json: bool, request_ids: &[String]) -> anyhow::Result<()> {
    let mut queue = Queue::open(directory, false)?;
    let missing: Vec<&str> = request_ids
        .iter()
        .filter(|request_id| !queue.entries.iter().any(|entry| &entry.request_id == *request_id))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(invalid(gridledger_api::WireError::invalid(
            "request_id",
            format!(
                "{} not in the queue {}; nothing was dropped",
                missing.join(", "),
                directory.display()
            ),
        )));
    }
    let before = queue.entries.len();
    for entry in &mut queue.entries {
        entry.done = request_ids.contains(&entry.request_id);
    }
    queue.save()?;
    queue.forget_done();
    let dropped = before - queue.entries.len();
    if json {
        println!("{}", json!({"dropped": dropped, "entries": queue.entries.len()}));
    } else {
        println!(
            "dropped {}; {} left in {}",
            entries(dropped),
            entries(queue.entries.len()),
            directory.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use gridledger_domain::DurationMicros;

    use super::*;

    #[test]
    fn business_times_the_server_would_always_refuse_are_refused_when_queued() {
        let now = Timestamp::from_unix_micros(1_795_741_200_000_000);
        let cases = [
            (None, Ok(now)),
            (
                Some(now.saturating_sub(DurationMicros::from_days(3))),
                Ok(now.saturating_sub(DurationMicros::from_days(3))),
            ),
            (
                Some(now.saturating_add(DurationMicros::from_minutes(4))),
                Ok(now.saturating_add(DurationMicros::from_minutes(4))),
            ),
            (
                Some(now.saturating_add(DurationMicros::from_minutes(6))),
                Err("it is in the future"),
            ),
            (Some(Timestamp::from_unix_micros(0)), Err("it is before 2000-01-01")),
        ];
        for (given, expected) in cases {
            match (business_time(given, now), expected) {
                (Ok(time), Ok(expected)) => assert_eq!(time, expected),
                (Err(error), Err(words)) => assert!(error.to_string().contains(words), "{error}"),
                (outcome, expected) => panic!("{given:?}: {outcome:?}, expected {expected:?}"),
            }
        }
    }
}
