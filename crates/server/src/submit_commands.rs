//! `SubmitCommands`: many commands over one bidirectional stream, for grid apps syncing an
//! offline queue. Each command runs through the unary path (`CommandRequest` conversion,
//! `IssueStore::execute`, the one `ServiceError` mapping) and is answered under its request
//! id with the ack or a `CommandError`; a refused command never ends the stream.
//!
//! - **Order.** Commands on the same issue are executed in stream order: each waits until
//!   the one before it on that issue has finished executing. So does a command whose
//!   request id is still executing anywhere on the server (an earlier command of the same
//!   stream, or of a stream that was cut and whose queue is now being replayed), which
//!   keeps a replay from overtaking what is left of its first attempt. Commands on
//!   different issues run concurrently, so their appends share group commits. Responses
//!   go out in completion order.
//! - **Flow control.** At most [`SUBMIT_COMMANDS_WINDOW`] commands of a stream are in
//!   flight (read and not yet answered); while the window is full the stream is not read,
//!   and HTTP/2 flow control pushes back on the client. Responses wait in a channel of
//!   [`SUBMIT_COMMANDS_RESPONSE_BUFFER`]; a client that stops reading them fills it, then
//!   the window, and then its requests stay unread: memory stays bounded, other streams
//!   are not held up. When the client half-closes, the commands in flight finish and are
//!   answered, then the response stream ends (with the request stream's error, if it broke).
//!   When the client goes away, nothing more is executed: commands not yet started are
//!   dropped, the others are cancelled as a unary call would be.
//! - **Replays.** A request id seen before gets the original ack (`duplicate = true`) from
//!   `IssueStore::execute`. A command refused for good (not UNAVAILABLE) is remembered by
//!   its request id with a fingerprint of the principal and the request, in a memory shared
//!   by every stream of the server ([`REMEMBERED_REFUSALS`] of them, the oldest forgotten
//!   first): the same command sent again on a stream gets the same refusal without being
//!   executed again, even though later commands may have changed the issue since. Unary
//!   calls do not use this memory.
//! - **Access control.** The layer has admitted the stream (`SubmitCommands`' row); each
//!   command must also be one the principal's role may send by the row of its unary RPC
//!   (PERMISSION_DENIED for that command alone), and `IssueStore::execute` checks its scope.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use gridledger_api::{CommandMeta, CommandRequest, actor_of, proto};
use gridledger_domain::{CommandKind, IssueId};
use prost::Message;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Status, Streaming};

use crate::auth::{self, Principal};
use crate::error::ServiceError;
use crate::issues::IssueStore;
use crate::metrics::StreamedCommandMetrics;
use gridledger_eventlog::{EventLogError, ProjectionStore};

/// Most commands of one stream in flight (read, and not yet answered).
pub const SUBMIT_COMMANDS_WINDOW: usize = 64;

/// Most responses of one stream waiting to be sent.
pub const SUBMIT_COMMANDS_RESPONSE_BUFFER: usize = 64;

/// Most refusals the server remembers for replays, across all streams.
pub const REMEMBERED_REFUSALS: usize = 100_000;

/// The codes of a refusal for good: the same command sent again is refused again, so a
/// replay is answered from memory. (UNAVAILABLE and the like may succeed later.)
const DEFINITIVE_CODES: [Code; 6] = [
    Code::InvalidArgument,
    Code::NotFound,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::PermissionDenied,
    Code::AlreadyExists,
];

/// The response stream of one `SubmitCommands` call.
pub(crate) type SubmitCommandsResponses = ReceiverStream<Result<proto::SubmitCommandsResponse, Status>>;

/// What every `SubmitCommands` stream of a server shares: the refusals it remembers and the
/// request ids being executed.
#[derive(Debug)]
pub(crate) struct SubmitCommandsShared {
    refusals: Mutex<RefusalMemory>,
    /// Where the refusals are kept across restarts (the log's database), when they are.
    kept: Option<KeptRefusals>,
    /// Request id -> the last command with that id that is still executing.
    executing: Mutex<HashMap<String, Finished>>,
    /// Each command counted under its own name, as its unary call is.
    command_metrics: StreamedCommandMetrics,
}

/// The name of the store (in the log's database) that keeps the refusals across restarts.
pub(crate) const REFUSALS_STORE_NAME: &str = "submit-commands-refusals";

/// The refusals on disk: one entry per request id, its value the refusal's sequence
/// number (8 bytes, big-endian), the command's fingerprint (32 bytes) and the encoded
/// `CommandError`; written and flushed (sled's flush: it survives the process being killed)
/// before the refusal is answered.
#[derive(Debug)]
struct KeptRefusals {
    store: ProjectionStore,
    /// The sequence number of the next refusal kept.
    next_sequence: std::sync::atomic::AtomicU64,
}

impl Default for SubmitCommandsShared {
    fn default() -> Self {
        SubmitCommandsShared::with_memory_of(REMEMBERED_REFUSALS)
    }
}

impl SubmitCommandsShared {
    fn with_memory_of(capacity: usize) -> Self {
        SubmitCommandsShared {
            refusals: Mutex::new(RefusalMemory::with_capacity(capacity)),
            kept: None,
            executing: Mutex::new(HashMap::new()),
            command_metrics: StreamedCommandMetrics::default(),
        }
    }

    /// The shared state of a node whose refusals are kept in `store`, with the refusals
    /// kept there before (the newest [`REMEMBERED_REFUSALS`]). Entries that do not read
    /// back are skipped with a warning: at worst such a command is decided again.
    pub(crate) fn with_kept_refusals(store: ProjectionStore) -> Result<Self, EventLogError> {
        let mut entries = Vec::new();
        for entry in store.entries() {
            let (key, value) = entry?;
            match read_kept_refusal(&key, &value) {
                Some(kept) => entries.push(kept),
                None => tracing::warn!(
                    request_id = %String::from_utf8_lossy(&key),
                    "a kept SubmitCommands refusal does not read back; skipped"
                ),
            }
        }
        entries.sort_by_key(|(sequence, _, _, _)| *sequence);
        let next_sequence = entries
            .last()
            .map_or(1, |(sequence, _, _, _)| sequence.saturating_add(1));
        let mut memory = RefusalMemory::with_capacity(REMEMBERED_REFUSALS);
        for (_, request_id, fingerprint, error) in entries {
            memory.remember(&request_id, fingerprint, error);
        }
        Ok(SubmitCommandsShared {
            refusals: Mutex::new(memory),
            kept: Some(KeptRefusals {
                store,
                next_sequence: std::sync::atomic::AtomicU64::new(next_sequence),
            }),
            executing: Mutex::new(HashMap::new()),
            command_metrics: StreamedCommandMetrics::default(),
        })
    }

    /// Remembers a refusal for good, in memory and (when kept) on disk before returning;
    /// a failure to keep it is logged (the refusal still holds for this process's life).
    async fn remember_refusal(&self, request_id: &str, fingerprint: Fingerprint, error: &proto::CommandError) {
        let forgotten = self.refusals().remember(request_id, fingerprint, error.clone());
        let Some(kept) = &self.kept else {
            return;
        };
        let sequence = kept.next_sequence.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut value = Vec::with_capacity(40 + error.encoded_len());
        value.extend_from_slice(&sequence.to_be_bytes());
        value.extend_from_slice(&fingerprint);
        value.extend_from_slice(&error.encode_to_vec());
        let mut changes: Vec<(Vec<u8>, Option<Vec<u8>>)> = forgotten
            .iter()
            .map(|request_id| (request_id.as_bytes().to_vec(), None))
            .collect();
        changes.push((request_id.as_bytes().to_vec(), Some(value)));
        let store = kept.store.clone();
        let written = tokio::task::spawn_blocking(move || store.commit(sequence, changes)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(
                request_id,
                error = %crate::error::with_sources(&error),
                "keeping a SubmitCommands refusal failed; it holds until the server restarts"
            ),
            Err(error) => tracing::error!(
                request_id,
                %error,
                "keeping a SubmitCommands refusal failed; it holds until the server restarts"
            ),
        }
    }

    /// Where the streams' commands are counted (`crate::metrics`).
    pub(crate) fn command_metrics(&self) -> &StreamedCommandMetrics {
        &self.command_metrics
    }

    fn refusals(&self) -> MutexGuard<'_, RefusalMemory> {
        // The memory is consistent after every statement: a panic elsewhere spoils nothing.
        self.refusals.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn executing(&self) -> MutexGuard<'_, HashMap<String, Finished>> {
        self.executing.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A kept refusal: its sequence number, request id, fingerprint and error; `None` when the
/// entry is malformed.
fn read_kept_refusal(key: &[u8], value: &[u8]) -> Option<(u64, String, Fingerprint, proto::CommandError)> {
    let request_id = String::from_utf8(key.to_vec()).ok()?;
    let sequence = u64::from_be_bytes(value.get(..8)?.try_into().ok()?);
    let fingerprint: Fingerprint = value.get(8..40)?.try_into().ok()?;
    let error = proto::CommandError::decode(value.get(40..)?).ok()?;
    Some((sequence, request_id, fingerprint, error))
}

/// A fingerprint of a command as sent by a principal: SHA-256 of the principal's id and the
/// encoded request.
type Fingerprint = [u8; 32];

fn fingerprint(principal: Option<&Principal>, request: &proto::SubmitCommandsRequest) -> Fingerprint {
    let mut hasher = Sha256::new();
    hasher.update(principal.map_or("", |principal| principal.id.as_str()).as_bytes());
    hasher.update([0]);
    hasher.update(request.encode_to_vec());
    hasher.finalize().into()
}

/// Refusals for good by request id, with the fingerprint of the command refused; at most
/// `capacity`, the oldest forgotten first.
#[derive(Debug)]
struct RefusalMemory {
    capacity: usize,
    by_request_id: HashMap<Arc<str>, RememberedRefusal>,
    oldest_first: VecDeque<Arc<str>>,
}

#[derive(Debug)]
struct RememberedRefusal {
    fingerprint: Fingerprint,
    error: proto::CommandError,
}

impl RefusalMemory {
    fn with_capacity(capacity: usize) -> Self {
        RefusalMemory {
            capacity,
            by_request_id: HashMap::new(),
            oldest_first: VecDeque::new(),
        }
    }

    /// The refusal of this very command, if it was refused for good before.
    fn recall(&self, request_id: &str, fingerprint: &Fingerprint) -> Option<proto::CommandError> {
        self.by_request_id
            .get(request_id)
            .filter(|remembered| remembered.fingerprint == *fingerprint)
            .map(|remembered| remembered.error.clone())
    }

    /// Remembers a refusal; returns the request ids forgotten to make room.
    fn remember(&mut self, request_id: &str, fingerprint: Fingerprint, error: proto::CommandError) -> Vec<Arc<str>> {
        let remembered = RememberedRefusal { fingerprint, error };
        if let Some(entry) = self.by_request_id.get_mut(request_id) {
            *entry = remembered;
            return Vec::new();
        }
        let mut forgotten = Vec::new();
        while self.by_request_id.len() >= self.capacity.max(1) {
            let Some(oldest) = self.oldest_first.pop_front() else {
                break;
            };
            self.by_request_id.remove(&oldest);
            forgotten.push(oldest);
        }
        let request_id: Arc<str> = Arc::from(request_id);
        self.oldest_first.push_back(request_id.clone());
        self.by_request_id.insert(request_id, remembered);
        forgotten
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_request_id.len()
    }
}

/// Whether a command has finished executing: the command holds the sender and drops it
/// when done (or cancelled); whoever must wait for it holds a receiver.
#[derive(Debug, Clone)]
struct Finished(watch::Receiver<()>);

impl Finished {
    fn new_pair() -> (watch::Sender<()>, Finished) {
        let (sender, receiver) = watch::channel(());
        (sender, Finished(receiver))
    }

    async fn wait(mut self) {
        // Nothing is ever sent: `changed` fails once the sender is dropped.
        while self.0.changed().await.is_ok() {}
    }

    fn is_done(&self) -> bool {
        self.0.has_changed().is_err()
    }
}

/// A command's place in [`SubmitCommandsShared::executing`], given up when it is dropped
/// (the command finished, or was cancelled, or panicked) unless a later command with the
/// same request id has taken it.
struct ExecutingRequest {
    shared: Arc<SubmitCommandsShared>,
    request_id: String,
    finished: Finished,
}

impl Drop for ExecutingRequest {
    fn drop(&mut self) {
        let mut executing = self.shared.executing();
        if executing
            .get(&self.request_id)
            .is_some_and(|last| last.0.same_channel(&self.finished.0))
        {
            executing.remove(&self.request_id);
        }
    }
}

/// One command read from the stream, ready to run.
struct StreamedCommand {
    request_id: String,
    /// The command's kind, when the request carries one (for the metrics).
    kind: Option<CommandKind>,
    /// Set when the request id is valid: the key of the refusal memory.
    fingerprint: Option<Fingerprint>,
    /// The validated command, or why it was refused before it could run (its role, its
    /// fields).
    command: Result<CommandRequest, ServiceError>,
    /// The command before it on the same issue, and the one before it with the same
    /// request id, when they may still be executing.
    after_same_issue: Option<Finished>,
    after_same_request: Option<Finished>,
    /// Dropped when this command has finished executing.
    done: watch::Sender<()>,
    executing: Option<ExecutingRequest>,
    /// Its place in the window, given back once its response is in the channel.
    permit: OwnedSemaphorePermit,
}

/// What the commands of one stream share.
struct StreamContext {
    store: IssueStore,
    shared: Arc<SubmitCommandsShared>,
    actor: String,
    principal: Option<Arc<Principal>>,
    responses: mpsc::Sender<Result<proto::SubmitCommandsResponse, Status>>,
    /// Set when the client went away: commands that have not started do not start.
    cancelled: AtomicBool,
}

/// Starts serving one `SubmitCommands` call and returns its response stream.
pub(crate) fn submit_commands(
    store: &IssueStore,
    shared: &Arc<SubmitCommandsShared>,
    shutdown: watch::Receiver<bool>,
    request: Request<Streaming<proto::SubmitCommandsRequest>>,
) -> SubmitCommandsResponses {
    let actor = actor_of(&request);
    let principal = auth::principal_of(&request);
    let inbound = request.into_inner();
    let (responses, outbound) = mpsc::channel(SUBMIT_COMMANDS_RESPONSE_BUFFER);
    let context = Arc::new(StreamContext {
        store: store.clone(),
        shared: shared.clone(),
        actor,
        principal,
        responses,
        cancelled: AtomicBool::new(false),
    });
    tokio::spawn(drive(context, inbound, shutdown));
    ReceiverStream::new(outbound)
}

/// Completes when shutdown begins (never, if the server is dropped without one).
async fn shutdown_begins(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|shutting_down| *shutting_down).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// How a stream ends when the server begins to shut down: what was read is answered, what
/// was not is the client's to send again (to this server once it is back, or another).
fn shutting_down_status() -> Status {
    Status::unavailable(
        "the server is shutting down: the commands answered on this stream are done; send the rest again, with the same request ids, once it is back",
    )
}

/// The stream's reader: takes a place in the window, reads a command, starts it; at the
/// end of the requests, waits for the commands in flight.
async fn drive(
    context: Arc<StreamContext>,
    mut inbound: Streaming<proto::SubmitCommandsRequest>,
    mut shutdown: watch::Receiver<bool>,
) {
    let window = Arc::new(Semaphore::new(SUBMIT_COMMANDS_WINDOW));
    let mut in_flight = InFlight::default();
    let mut last_on_issue: HashMap<IssueId, Finished> = HashMap::new();
    let ending = loop {
        // A place in the window first: while it is full, the stream is not read.
        let permit = tokio::select! {
            biased;
            () = context.responses.closed() => return cancel(&context, in_flight),
            () = shutdown_begins(&mut shutdown) => break Some(shutting_down_status()),
            Some(joined) = in_flight.tasks.join_next_with_id() => {
                in_flight.reap(&context, joined).await;
                continue;
            }
            permit = window.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                // The window is never closed.
                Err(_closed) => break None,
            },
        };
        let message = loop {
            tokio::select! {
                biased;
                () = context.responses.closed() => return cancel(&context, in_flight),
                () = shutdown_begins(&mut shutdown) => break Err(shutting_down_status()),
                Some(joined) = in_flight.tasks.join_next_with_id() => in_flight.reap(&context, joined).await,
                message = inbound.message() => break message,
            }
        };
        match message {
            Ok(Some(request)) => {
                let command = read_command(&context, request, permit, &mut last_on_issue);
                in_flight.start(&context, command);
            }
            // The client half-closed: no more commands.
            Ok(None) => break None,
            // The request stream broke (a message that does not decode or is too large, a
            // reset): answer what was read, then end with its status.
            Err(status) => break Some(status),
        }
    };
    while !in_flight.tasks.is_empty() {
        tokio::select! {
            biased;
            () = context.responses.closed() => return cancel(&context, in_flight),
            Some(joined) = in_flight.tasks.join_next_with_id() => in_flight.reap(&context, joined).await,
        }
    }
    if let Some(status) = ending {
        // The client may be gone already; there is no one else to tell.
        let _ = context.responses.send(Err(status)).await;
    }
}

/// The client went away: nothing more starts, and what runs is cancelled (as a unary call's
/// handler is dropped when its client goes away).
fn cancel(context: &StreamContext, in_flight: InFlight) {
    // Before anything is aborted: a command woken by the abort of the one it waits for
    // must find the stream cancelled, not run out of order.
    context.cancelled.store(true, Ordering::SeqCst);
    tracing::debug!(
        in_flight = in_flight.tasks.len(),
        "SubmitCommands: the client went away; cancelling"
    );
    drop(in_flight);
}

/// The commands of a stream that are running, and their request ids (to answer for one
/// that panicked).
#[derive(Default)]
struct InFlight {
    tasks: JoinSet<()>,
    request_ids: HashMap<tokio::task::Id, String>,
}

impl InFlight {
    fn start(&mut self, context: &Arc<StreamContext>, command: StreamedCommand) {
        let request_id = command.request_id.clone();
        let task = self.tasks.spawn(run_command(context.clone(), command));
        self.request_ids.insert(task.id(), request_id);
    }

    /// Forgets a command that ended; one that panicked is answered here, as a failed task.
    async fn reap(&mut self, context: &StreamContext, joined: Result<(tokio::task::Id, ()), tokio::task::JoinError>) {
        let error = match joined {
            Ok((id, ())) => {
                self.request_ids.remove(&id);
                return;
            }
            Err(error) => error,
        };
        let request_id = self.request_ids.remove(&error.id()).unwrap_or_default();
        if !error.is_panic() {
            return;
        }
        let failure = ServiceError::Task {
            task: "a command of SubmitCommands",
            source: error,
        };
        // The client may be gone already; there is no one else to tell.
        let _ = context
            .responses
            .send(Ok(refusal_response(request_id, failure.into_command_error())))
            .await;
    }
}

/// Reads one request into a command to run: validated as its unary RPC would be, with its
/// place in the order of its issue and of its request id.
fn read_command(
    context: &StreamContext,
    request: proto::SubmitCommandsRequest,
    permit: OwnedSemaphorePermit,
    last_on_issue: &mut HashMap<IssueId, Finished>,
) -> StreamedCommand {
    let request_id = request.request_id().to_owned();
    let request_id_is_valid = CommandMeta::check_request_id(&request_id).is_ok();
    let fingerprint = request_id_is_valid.then(|| fingerprint(context.principal.as_deref(), &request));
    let kind = request.command_kind();
    let command = validate(context, request);
    let (done, finished) = Finished::new_pair();
    let after_same_issue = match &command {
        Ok(command) => {
            // Forget issues whose last command is done, so that the map stays about the
            // size of the window.
            if last_on_issue.len() > 2 * SUBMIT_COMMANDS_WINDOW {
                last_on_issue.retain(|_, last| !last.is_done());
            }
            last_on_issue.insert(command.issue_id, finished.clone())
        }
        // Refused before it runs: it touches no issue.
        Err(_) => None,
    };
    let (executing, after_same_request) = if request_id_is_valid {
        let after_same_request = context.shared.executing().insert(request_id.clone(), finished.clone());
        let executing = ExecutingRequest {
            shared: context.shared.clone(),
            request_id: request_id.clone(),
            finished,
        };
        (Some(executing), after_same_request)
    } else {
        (None, None)
    };
    StreamedCommand {
        request_id,
        kind,
        fingerprint,
        command,
        after_same_issue,
        after_same_request,
        done,
        executing,
        permit,
    }
}

/// The command a request carries, checked as its unary RPC would be: the role by the
/// access table's row of that RPC (the layer's check of a unary call), then the fields.
fn validate(context: &StreamContext, request: proto::SubmitCommandsRequest) -> Result<CommandRequest, ServiceError> {
    if let (Some(principal), Some(kind)) = (context.principal.as_deref(), request.command_kind()) {
        auth::authorize_streamed_command(principal, kind)?;
    }
    // As ReportIssue does: used when a report leaves issue_id empty.
    let server_chosen_id = IssueId::from_uuid(uuid::Uuid::now_v7())?;
    Ok(request.into_command(&context.store.registry, || server_chosen_id)?)
}

/// Runs one command after those it must follow, and answers it.
async fn run_command(context: Arc<StreamContext>, command: StreamedCommand) {
    let StreamedCommand {
        request_id,
        kind,
        fingerprint,
        command,
        after_same_issue,
        after_same_request,
        done,
        executing,
        permit,
    } = command;
    if let Some(before) = after_same_request {
        before.wait().await;
    }
    if let Some(before) = after_same_issue {
        before.wait().await;
    }
    if context.cancelled.load(Ordering::SeqCst) {
        return;
    }
    let started = std::time::Instant::now();
    let result = execute(&context, &request_id, fingerprint, command).await;
    if let Some(kind) = kind {
        let code = match &result {
            Ok(_) => Code::Ok,
            Err(error) => Code::from_i32(error.code),
        };
        context.shared.command_metrics().record(kind, code, started.elapsed());
    }
    // Finished: the next command on the issue, or with the request id, may go.
    drop(done);
    drop(executing);
    let response = match result {
        Ok(ack) => proto::SubmitCommandsResponse {
            request_id,
            result: Some(proto::submit_commands_response::Result::Ack(ack)),
        },
        Err(error) => refusal_response(request_id, error),
    };
    // The client may be gone; then the stream is being cancelled anyway.
    let _ = context.responses.send(Ok(response)).await;
    drop(permit);
}

/// The command's result: the refusal remembered for this very command, else what the unary
/// call would answer (remembered when it is a refusal for good).
async fn execute(
    context: &StreamContext,
    request_id: &str,
    fingerprint: Option<Fingerprint>,
    command: Result<CommandRequest, ServiceError>,
) -> Result<proto::CommandAck, proto::CommandError> {
    if let Some(fingerprint) = &fingerprint
        && let Some(remembered) = context.shared.refusals().recall(request_id, fingerprint)
    {
        tracing::debug!(
            request_id,
            code = remembered.code,
            "SubmitCommands: refused again from memory"
        );
        return Err(remembered);
    }
    let outcome = match command {
        Ok(command) => {
            context
                .store
                .execute(command, &context.actor, context.principal.as_deref())
                .await
        }
        Err(refusal) => Err(refusal),
    };
    match outcome {
        Ok(acknowledgement) => Ok(acknowledgement.to_proto()),
        Err(failure) => {
            let error = failure.into_command_error();
            if let Some(fingerprint) = fingerprint
                && DEFINITIVE_CODES.contains(&Code::from_i32(error.code))
            {
                context.shared.remember_refusal(request_id, fingerprint, &error).await;
            }
            Err(error)
        }
    }
}

fn refusal_response(request_id: String, error: proto::CommandError) -> proto::SubmitCommandsResponse {
    proto::SubmitCommandsResponse {
        request_id,
        result: Some(proto::submit_commands_response::Result::Error(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(message: &str) -> proto::CommandError {
        proto::CommandError {
            code: Code::FailedPrecondition as i32,
            message: message.to_owned(),
            field: String::new(),
            retryable: false,
        }
    }

    #[test]
    fn refusals_are_recalled_only_for_the_same_command_and_the_oldest_are_forgotten() {
        let mut memory = RefusalMemory::with_capacity(3);
        memory.remember("r-1", [1; 32], refusal("one"));
        assert_eq!(memory.recall("r-1", &[1; 32]), Some(refusal("one")));
        // Same request id, another command (or another principal): not this refusal.
        assert_eq!(memory.recall("r-1", &[2; 32]), None);
        assert_eq!(memory.recall("r-2", &[1; 32]), None);
        memory.remember("r-2", [2; 32], refusal("two"));
        memory.remember("r-3", [3; 32], refusal("three"));
        // Refused again: replaced, not added.
        memory.remember("r-1", [4; 32], refusal("one again"));
        assert_eq!(memory.len(), 3);
        assert_eq!(memory.recall("r-1", &[4; 32]), Some(refusal("one again")));
        memory.remember("r-4", [5; 32], refusal("four"));
        assert_eq!(memory.len(), 3);
        assert_eq!(memory.recall("r-1", &[4; 32]), None, "the oldest is forgotten first");
        assert_eq!(memory.recall("r-2", &[2; 32]), Some(refusal("two")));
        assert_eq!(memory.recall("r-4", &[5; 32]), Some(refusal("four")));
    }

    #[test]
    fn the_fingerprint_covers_the_principal_and_every_field_of_the_request() {
        let request = |summary: &str| proto::SubmitCommandsRequest {
            command: Some(proto::submit_commands_request::Command::ResolveIssue(
                proto::ResolveIssueRequest {
                    summary: summary.to_owned(),
                    ..Default::default()
                },
            )),
        };
        let principal = |id: &str| Principal {
            id: id.to_owned(),
            role: auth::Role::Community,
            scopes: Vec::new(),
        };
        let first = fingerprint(None, &request("fixed"));
        assert_eq!(first, fingerprint(None, &request("fixed")));
        assert_ne!(first, fingerprint(None, &request("fixed!")));
        assert_ne!(first, fingerprint(Some(&principal("p-1")), &request("fixed")));
        assert_ne!(
            fingerprint(Some(&principal("p-1")), &request("fixed")),
            fingerprint(Some(&principal("p-2")), &request("fixed"))
        );
    }

    #[tokio::test]
    async fn a_command_waits_until_the_one_before_it_has_finished() {
        let (done, finished) = Finished::new_pair();
        assert!(!finished.is_done());
        let waiter = tokio::spawn(finished.clone().wait());
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(done);
        waiter.await.expect("the waiter ends");
        assert!(finished.is_done());
        // Waiting for a command already finished returns at once.
        finished.wait().await;
    }

    #[test]
    fn a_request_id_leaves_the_executing_map_with_its_last_command() {
        let shared = Arc::new(SubmitCommandsShared::with_memory_of(10));
        let register = |shared: &Arc<SubmitCommandsShared>| {
            let (done, finished) = Finished::new_pair();
            let before = shared.executing().insert("r-1".to_owned(), finished.clone());
            let executing = ExecutingRequest {
                shared: shared.clone(),
                request_id: "r-1".to_owned(),
                finished,
            };
            ((done, executing), before)
        };
        let (first, none) = register(&shared);
        assert!(none.is_none());
        let (second, before_second) = register(&shared);
        let before_second = before_second.expect("the first is still executing");
        drop(first);
        assert!(before_second.is_done());
        // The second is the last with that id: it stays until it finishes.
        assert!(shared.executing().contains_key("r-1"));
        drop(second);
        assert!(shared.executing().is_empty());
    }
}
