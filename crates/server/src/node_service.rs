//! `NodeService`: the node's role and each component's state, with the reason when it is
//! not serving and the lag of the outbox, the feeds and the checkpoints (the details behind
//! health).

use std::sync::Arc;

use gridledger_api::{ComponentStatus, NodeDistrict, NodeStatusView, node_status_to_proto, proto};
use gridledger_bus::{CheckpointOutboxStatus, FeedStatus, OutboxStatus};
use gridledger_eventlog::EventLog;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use crate::districts::Districts;

/// What a node is made of, for its status.
#[derive(Debug)]
pub(crate) struct NodeParts {
    /// `district` or `stats`.
    pub(crate) role: &'static str,
    /// The district node's own log (a stats node's logs are its districts').
    pub(crate) log: Option<EventLog>,
    pub(crate) districts: Arc<Districts>,
    pub(crate) outbox: Option<watch::Receiver<OutboxStatus>>,
    /// A district node's checkpoint outbox (`serve --nats`).
    pub(crate) checkpoint_outbox: Option<watch::Receiver<CheckpointOutboxStatus>>,
    pub(crate) feeds: Vec<watch::Receiver<FeedStatus>>,
    /// A district node's checkpoints.
    pub(crate) checkpoints: Option<crate::checkpoints::Checkpoints>,
    /// A stats node's checkpoint witnesses, one per followed stream.
    pub(crate) witnesses: Vec<watch::Receiver<crate::checkpoint_witness::WitnessStatus>>,
}

impl NodeParts {
    /// Every component's status, in a stable order.
    pub(crate) fn status(&self) -> NodeStatusView {
        let mut components = Vec::new();
        if let Some(log) = &self.log {
            let health = log.health();
            components.push(ComponentStatus {
                name: "log".to_owned(),
                serving: health.is_healthy(),
                reason: health.reason().unwrap_or_default().to_owned(),
                position: log.head().position,
                ..ComponentStatus::default()
            });
        }
        for member in self.districts.members() {
            let name = match &member.stream {
                Some(stream) => format!("projection/{stream}"),
                None => "projection".to_owned(),
            };
            let applied = member.live.applied_position();
            let head = member.log.head().position;
            let stopped = member.live.stopped_reason();
            components.push(ComponentStatus {
                name,
                serving: stopped.is_none(),
                reason: stopped.unwrap_or_default(),
                position: applied,
                lag_events: head.saturating_sub(applied),
                ..ComponentStatus::default()
            });
        }
        if let Some(outbox) = &self.outbox {
            let status = outbox.borrow().clone();
            let serving = status.is_healthy();
            // The lag is taken from the log now: the outbox's own status is not refreshed
            // while it cannot reach NATS.
            let (lag_events, lag_seconds) = match &self.log {
                Some(log) => outbox_lag(log, status.published_through),
                None => (status.lag_events, status.lag_seconds),
            };
            components.push(ComponentStatus {
                name: "outbox".to_owned(),
                serving,
                reason: not_serving_reason(serving, status.reason()),
                position: status.published_through,
                lag_events,
                lag_seconds,
                detail: format!("stream {}", status.stream),
            });
        }
        if let Some(checkpoints) = &self.checkpoints {
            let status = checkpoints.status();
            let size = status.newest.checkpoint.tree_size;
            let head = self.log.as_ref().map_or(size, |log| log.head().position);
            components.push(ComponentStatus {
                name: "checkpoints".to_owned(),
                serving: status.failing.is_none(),
                reason: status.failing.unwrap_or_default(),
                position: size,
                lag_events: head.saturating_sub(size),
                lag_seconds: 0.0,
                detail: format!("{} ({})", status.newest.checkpoint.origin, checkpoints.detail),
            });
        }
        if let Some(checkpoint_outbox) = &self.checkpoint_outbox {
            let status = checkpoint_outbox.borrow().clone();
            let serving = status.is_healthy();
            components.push(ComponentStatus {
                name: "checkpoint-outbox".to_owned(),
                serving,
                reason: not_serving_reason(serving, status.reason()),
                position: status.published_size,
                lag_events: status.newest_size.saturating_sub(status.published_size),
                lag_seconds: 0.0,
                detail: format!("stream {}", status.stream),
            });
        }
        for feed in &self.feeds {
            let status = feed.borrow().clone();
            let serving = status.is_healthy();
            components.push(ComponentStatus {
                name: format!("feed/{}", status.stream),
                serving,
                reason: not_serving_reason(serving, status.reason().map(|reason| reason.to_string())),
                position: status.applied_through,
                lag_events: status.lag_events,
                lag_seconds: 0.0,
                detail: format!("stream {} at sequence {}", status.stream, status.stream_last_sequence),
            });
        }
        for witness in &self.witnesses {
            let status = witness.borrow().clone();
            let head = self
                .districts
                .members()
                .iter()
                .find(|member| member.stream.as_deref() == Some(status.stream.as_str()))
                .map_or(status.verified_size, |member| member.log.head().position);
            components.push(ComponentStatus {
                name: format!("checkpoints/{}", status.stream),
                serving: status.is_serving(),
                reason: status.reason(),
                position: status.verified_size,
                lag_events: head.saturating_sub(status.verified_size),
                lag_seconds: 0.0,
                detail: status.detail(),
            });
        }
        let districts = self
            .districts
            .registry()
            .districts()
            .iter()
            .map(|district| NodeDistrict {
                code: district.code.as_str().to_owned(),
                time_zone: district.time_zone_name().to_owned(),
            })
            .collect();
        NodeStatusView {
            role: self.role.to_owned(),
            components,
            districts,
        }
    }
}

/// Events the log holds beyond `published_through`, and seconds since the oldest of them
/// was committed.
fn outbox_lag(log: &EventLog, published_through: u64) -> (u64, f64) {
    let head = log.head().position;
    let lag_events = head.saturating_sub(published_through);
    if lag_events == 0 {
        return (0, 0.0);
    }
    let lag_seconds = match log.read_event(published_through + 1) {
        Ok(Some(oldest)) => {
            let now_micros = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_micros() as i64);
            (now_micros - oldest.record.recorded_at).max(0) as f64 / 1e6
        }
        _ => 0.0,
    };
    (lag_events, lag_seconds)
}

/// The reason a component gives, or what it is doing when it gives none (connecting).
fn not_serving_reason(serving: bool, reason: Option<String>) -> String {
    match (serving, reason) {
        (true, _) => String::new(),
        (false, Some(reason)) if !reason.is_empty() => reason,
        (false, _) => "connecting to NATS".to_owned(),
    }
}

#[derive(Debug, Clone)]
pub(crate) struct NodeServiceImpl {
    pub(crate) parts: Arc<NodeParts>,
}

#[tonic::async_trait]
impl proto::node_service_server::NodeService for NodeServiceImpl {
    async fn get_node_status(
        &self,
        _request: Request<proto::GetNodeStatusRequest>,
    ) -> Result<Response<proto::NodeStatus>, Status> {
        Ok(Response::new(node_status_to_proto(&self.parts.status())))
    }
}
