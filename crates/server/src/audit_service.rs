//! `AuditService`: an issue's history and replay, the whole log (optionally followed live), and verification.

use std::pin::Pin;

use gridledger_api::{issue_to_proto, parse_issue_id, proto, recorded_to_proto, verify_report_to_proto};
use gridledger_domain::{IssueState, evolve};
use gridledger_eventlog::EventLog;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::error::ServiceError;
use crate::issues::IssueStore;

type RpcStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Events per read while streaming the log.
const READ_CHUNK: usize = 1_024;

#[derive(Debug, Clone)]
pub(crate) struct AuditServiceImpl {
    pub(crate) store: IssueStore,
}

fn stream_of<T: Send + 'static>(items: Vec<T>) -> RpcStream<T> {
    Box::pin(tokio_stream::iter(items.into_iter().map(Ok)))
}

/// Streams the log from `from` (at most `limit` events, 0 for no limit), then, with
/// `follow`, every new event as it is committed, until the client goes away.
fn read_all_stream(log: EventLog, from: u64, limit: u64, follow: bool) -> RpcStream<proto::RecordedEvent> {
    let (sender, receiver) = mpsc::channel(READ_CHUNK);
    tokio::spawn(async move {
        let limit = if limit == 0 { u64::MAX } else { limit };
        let mut sent: u64 = 0;
        if follow {
            let mut subscription = log.subscribe(from);
            while sent < limit {
                let item = match subscription.next().await {
                    Ok(Some(recorded)) => Ok(recorded_to_proto(&recorded)),
                    Ok(None) => break,
                    Err(error) => Err(Status::from(ServiceError::from(error))),
                };
                let failed = item.is_err();
                if sender.send(item).await.is_err() || failed {
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
                    let _ = sender.send(Err(Status::from(ServiceError::from(error)))).await;
                    return;
                }
            };
            let Some(last) = chunk.last() else { break };
            next = last.position + 1;
            for recorded in &chunk {
                if sender.send(Ok(recorded_to_proto(recorded))).await.is_err() {
                    return;
                }
                sent += 1;
            }
        }
    });
    Box::pin(ReceiverStream::new(receiver))
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
        let issue_id = parse_issue_id("issue_id", &request.into_inner().issue_id).map_err(ServiceError::from)?;
        let loaded = self.store.load(issue_id, None)?;
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
        let request = request.into_inner();
        let issue_id = parse_issue_id("issue_id", &request.issue_id).map_err(ServiceError::from)?;
        let loaded = self.store.load(issue_id, request.up_to_revision)?;
        if loaded.events.is_empty() {
            return Err(ServiceError::IssueNotFound {
                issue_id: issue_id.to_string(),
            }
            .into());
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
        Ok(Response::new(stream_of(steps)))
    }

    async fn read_all(&self, request: Request<proto::ReadAllRequest>) -> Result<Response<Self::ReadAllStream>, Status> {
        let request = request.into_inner();
        Ok(Response::new(read_all_stream(
            self.store.log.clone(),
            request.from_position,
            request.limit,
            request.follow,
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
}
