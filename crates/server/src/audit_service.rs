//! `AuditService`: an issue's history and replay, the whole log (optionally followed live), verification, and the log's checkpoints with their inclusion and consistency proofs (docs/audit.md).

use std::pin::Pin;

use gridledger_api::{issue_to_proto, parse_issue_id, proto, recorded_to_proto, verify_report_to_proto};
use gridledger_domain::{IssueState, evolve};
use gridledger_eventlog::EventLog;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::auth::{self, Principal};
use crate::error::ServiceError;
use crate::issues::IssueStore;

type RpcStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Events per read while streaming the log.
const READ_CHUNK: usize = 64;
/// Bytes of encoded records one ReadAll stream may hold between the log and the client:
/// a reader that stops reading pins at most this much (plus one read chunk).
const STREAM_BUFFER_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub(crate) struct AuditServiceImpl {
    pub(crate) store: IssueStore,
    /// Turns true when the server begins to shut down: follow streams end then.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// The newest checkpoint: proofs are given for trees up to its size.
    pub(crate) checkpoints: crate::checkpoints::Checkpoints,
}

fn stream_of<T: Send + 'static>(items: Vec<T>) -> RpcStream<T> {
    Box::pin(tokio_stream::iter(items.into_iter().map(Ok)))
}

/// The sending half of a stream whose buffer is bounded in bytes: each item holds permits
/// for its size until the transport takes it.
struct BoundedSender {
    sender: mpsc::Sender<(Result<proto::RecordedEvent, Status>, Option<OwnedSemaphorePermit>)>,
    budget: Arc<Semaphore>,
}

impl BoundedSender {
    /// Sends `item`, waiting while the buffer is full; false once the client has gone.
    async fn send(&self, item: Result<proto::RecordedEvent, Status>) -> bool {
        let bytes = item.as_ref().map_or(0, |event| event.record.len().max(1));
        let permits = u32::try_from(bytes.min(STREAM_BUFFER_BYTES)).unwrap_or(u32::MAX);
        let permit = if permits == 0 {
            None
        } else {
            match self.budget.clone().acquire_many_owned(permits).await {
                Ok(permit) => Some(permit),
                Err(_closed) => return false,
            }
        };
        self.sender.send((item, permit)).await.is_ok()
    }
}

fn bounded_stream() -> (BoundedSender, RpcStream<proto::RecordedEvent>) {
    let (sender, receiver) = mpsc::channel(READ_CHUNK);
    let budget = Arc::new(Semaphore::new(STREAM_BUFFER_BYTES));
    // The permit is dropped as the item is handed to the transport.
    let stream = ReceiverStream::new(receiver).map(|(item, _permit)| item);
    (BoundedSender { sender, budget }, Box::pin(stream))
}

/// Completes when shutdown begins (never, if the server is dropped without one).
async fn shutdown_begins(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|shutting_down| *shutting_down).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Streams the log from `from` (at most `limit` events, 0 for no limit), then, with
/// `follow`, every new event as it is committed, until the client goes away or the server
/// shuts down (then the stream ends with UNAVAILABLE "server shutting down").
fn read_all_stream(
    log: EventLog,
    from: u64,
    limit: u64,
    follow: bool,
    mut shutdown: watch::Receiver<bool>,
) -> RpcStream<proto::RecordedEvent> {
    let (sender, stream) = bounded_stream();
    tokio::spawn(async move {
        let limit = if limit == 0 { u64::MAX } else { limit };
        let mut sent: u64 = 0;
        if follow {
            let mut subscription = log.subscribe(from);
            while sent < limit {
                let next = tokio::select! {
                    next = subscription.next() => next,
                    () = shutdown_begins(&mut shutdown) => {
                        sender.send(Err(Status::unavailable("server shutting down"))).await;
                        return;
                    }
                };
                let item = match next {
                    Ok(Some(recorded)) => Ok(recorded_to_proto(&recorded)),
                    Ok(None) => Err(Status::unavailable("server shutting down")),
                    Err(error) => Err(Status::from(ServiceError::from(error))),
                };
                let failed = item.is_err();
                if !sender.send(item).await || failed {
                    break;
                }
                sent += 1;
            }
            return;
        }
        let head = log.head().position;
        let mut next = from.max(1);
        while sent < limit && next <= head {
            let want = usize::try_from((limit - sent).min(READ_CHUNK as u64)).unwrap_or(READ_CHUNK);
            let chunk = match log.read_all(next, want) {
                Ok(chunk) => chunk,
                Err(error) => {
                    sender.send(Err(Status::from(ServiceError::from(error)))).await;
                    return;
                }
            };
            let Some(last) = chunk.last() else { break };
            next = last.position + 1;
            for recorded in &chunk {
                if !sender.send(Ok(recorded_to_proto(recorded))).await {
                    return;
                }
                sent += 1;
            }
        }
    });
    stream
}

/// `ReplayIssue`: the issue's events up to `up_to_revision` (all without it), each with
/// the issue's state right after it, for a principal with the issue in scope. The HTTP
/// API's issue history (`crate::http`) is this replay too.
pub(crate) fn replay_issue(
    store: &IssueStore,
    principal: Option<&Principal>,
    request: &proto::ReplayIssueRequest,
) -> Result<Vec<proto::ReplayStep>, ServiceError> {
    let issue_id = parse_issue_id("issue_id", &request.issue_id)?;
    let loaded = store.load(issue_id, request.up_to_revision)?;
    if let Some(principal) = principal {
        auth::require_issue_scope(principal, &loaded.state)?;
    }
    if loaded.events.is_empty() {
        return Err(ServiceError::IssueNotFound {
            issue_id: issue_id.to_string(),
        });
    }
    let mut state = IssueState::Absent;
    let mut steps = Vec::with_capacity(loaded.events.len());
    for (recorded, event) in &loaded.events {
        state = evolve(state, event);
        steps.push(proto::ReplayStep {
            event: Some(recorded_to_proto(recorded)),
            state: state.issue().map(issue_to_proto),
        });
    }
    Ok(steps)
}

#[tonic::async_trait]
impl proto::audit_service_server::AuditService for AuditServiceImpl {
    type ReadIssueHistoryStream = RpcStream<proto::RecordedEvent>;
    type ReplayIssueStream = RpcStream<proto::ReplayStep>;
    type ReadAllStream = RpcStream<proto::RecordedEvent>;

    async fn read_issue_history(
        &self,
        request: Request<proto::ReadIssueHistoryRequest>,
    ) -> Result<Response<Self::ReadIssueHistoryStream>, Status> {
        let principal = auth::principal_of(&request);
        let issue_id = parse_issue_id("issue_id", &request.into_inner().issue_id).map_err(ServiceError::from)?;
        let loaded = self.store.load(issue_id, None)?;
        if let Some(principal) = &principal {
            auth::require_issue_scope(principal, &loaded.state)?;
        }
        if loaded.events.is_empty() {
            return Err(ServiceError::IssueNotFound {
                issue_id: issue_id.to_string(),
            }
            .into());
        }
        let events = loaded
            .events
            .iter()
            .map(|(recorded, _)| recorded_to_proto(recorded))
            .collect();
        Ok(Response::new(stream_of(events)))
    }

    async fn replay_issue(
        &self,
        request: Request<proto::ReplayIssueRequest>,
    ) -> Result<Response<Self::ReplayIssueStream>, Status> {
        let principal = auth::principal_of(&request);
        let steps = replay_issue(&self.store, principal.as_deref(), request.get_ref())?;
        Ok(Response::new(stream_of(steps)))
    }

    async fn read_all(&self, request: Request<proto::ReadAllRequest>) -> Result<Response<Self::ReadAllStream>, Status> {
        let request = request.into_inner();
        Ok(Response::new(read_all_stream(
            self.store.log.clone(),
            request.from_position,
            request.limit,
            request.follow,
            self.shutdown.clone(),
        )))
    }

    async fn verify_log(
        &self,
        request: Request<proto::VerifyLogRequest>,
    ) -> Result<Response<proto::VerifyLogResponse>, Status> {
        let request = request.into_inner();
        if request.to_position != 0 && request.to_position < request.from_position {
            return Err(ServiceError::invalid("to_position", "must not be before from_position").into());
        }
        let head = self.store.log.head().position;
        if request.to_position > head {
            return Err(ServiceError::invalid(
                "to_position",
                format!("{} is past the head of the log ({head})", request.to_position),
            )
            .into());
        }
        let log = self.store.log.clone();
        let report = tokio::task::spawn_blocking(move || log.verify(request.from_position, request.to_position))
            .await
            .map_err(|source| ServiceError::Task {
                task: "verifying the log",
                source,
            })?
            .map_err(ServiceError::from)?;
        Ok(Response::new(verify_report_to_proto(&report)))
    }

    async fn get_checkpoint(
        &self,
        _request: Request<proto::GetCheckpointRequest>,
    ) -> Result<Response<proto::Checkpoint>, Status> {
        let newest = self.checkpoints.newest();
        Ok(Response::new(proto::Checkpoint {
            note: newest.note.clone().into_bytes(),
            tree_size: newest.checkpoint.tree_size,
            root_hash: newest.checkpoint.root_hash.to_vec(),
        }))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<proto::GetInclusionProofRequest>,
    ) -> Result<Response<proto::InclusionProof>, Status> {
        let request = request.into_inner();
        let newest = self.checkpoints.newest().checkpoint.tree_size;
        let tree_size = if request.tree_size == 0 {
            newest
        } else {
            request.tree_size
        };
        if tree_size > newest {
            return Err(ServiceError::invalid(
                "tree_size",
                format!("{tree_size} is beyond the newest checkpoint's size {newest}"),
            )
            .into());
        }
        let position = request.position;
        if position == 0 || position > tree_size {
            return Err(ServiceError::PositionNotInTree { position, tree_size }.into());
        }
        let log = self.store.log.clone();
        let hashes = tokio::task::spawn_blocking(move || log.inclusion_proof(position - 1, tree_size))
            .await
            .map_err(|source| ServiceError::Task {
                task: "making an inclusion proof",
                source,
            })?
            .map_err(ServiceError::from)?;
        Ok(Response::new(proto::InclusionProof {
            leaf_index: position - 1,
            tree_size,
            hashes: hashes.iter().map(|hash| hash.to_vec()).collect(),
        }))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<proto::GetConsistencyProofRequest>,
    ) -> Result<Response<proto::ConsistencyProof>, Status> {
        let proto::GetConsistencyProofRequest {
            first_size,
            second_size,
        } = request.into_inner();
        let newest = self.checkpoints.newest().checkpoint.tree_size;
        if second_size > newest {
            return Err(ServiceError::invalid(
                "second_size",
                format!("{second_size} is beyond the newest checkpoint's size {newest}"),
            )
            .into());
        }
        if first_size > second_size {
            return Err(ServiceError::invalid(
                "first_size",
                format!("{first_size} is above second_size {second_size}"),
            )
            .into());
        }
        let log = self.store.log.clone();
        let hashes = tokio::task::spawn_blocking(move || log.consistency_proof(first_size, second_size))
            .await
            .map_err(|source| ServiceError::Task {
                task: "making a consistency proof",
                source,
            })?
            .map_err(ServiceError::from)?;
        Ok(Response::new(proto::ConsistencyProof {
            hashes: hashes.iter().map(|hash| hash.to_vec()).collect(),
        }))
    }
}
