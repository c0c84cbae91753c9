//! The node's status (NodeService) in plain Rust types, both ways: what each component is
//! doing and, when it is not serving, why.

use crate::proto;

/// One component of a node: the log, a projection, the outbox, a feed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ComponentStatus {
    /// `log`, `projection`, `outbox`, `feed/<STREAM>`, `projection/<STREAM>`.
    pub name: String,
    pub serving: bool,
    /// Why not serving; empty while serving.
    pub reason: String,
    /// Log head, applied position or position published through.
    pub position: u64,
    pub lag_events: u64,
    pub lag_seconds: f64,
    /// Where the component points (stream name, NATS state, ...).
    pub detail: String,
}

/// A district a node answers for, and the IANA time zone its calendar is kept in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeDistrict {
    /// The district code (`runzhou`).
    pub code: String,
    /// Its IANA time zone (`Asia/Shanghai`).
    pub time_zone: String,
}

/// A node: its role (`district` or `stats`), its components and its districts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeStatusView {
    pub role: String,
    pub components: Vec<ComponentStatus>,
    /// The districts of its registry, in registered order (empty from a server that
    /// predates them).
    pub districts: Vec<NodeDistrict>,
}

impl NodeStatusView {
    /// Whether every component is serving.
    pub fn all_serving(&self) -> bool {
        self.components.iter().all(|component| component.serving)
    }

    /// The component named `name`, if any.
    pub fn component(&self, name: &str) -> Option<&ComponentStatus> {
        self.components.iter().find(|component| component.name == name)
    }
}

/// The status on the wire.
pub fn node_status_to_proto(status: &NodeStatusView) -> proto::NodeStatus {
    proto::NodeStatus {
        role: status.role.clone(),
        components: status
            .components
            .iter()
            .map(|component| proto::ComponentStatus {
                name: component.name.clone(),
                serving: component.serving,
                reason: component.reason.clone(),
                position: component.position,
                lag_events: component.lag_events,
                lag_seconds: component.lag_seconds,
                detail: component.detail.clone(),
            })
            .collect(),
        districts: status
            .districts
            .iter()
            .map(|district| proto::NodeDistrict {
                code: district.code.clone(),
                time_zone: district.time_zone.clone(),
            })
            .collect(),
    }
}

/// The status off the wire (every value is accepted as sent: it is information only).
pub fn node_status_from_proto(status: proto::NodeStatus) -> NodeStatusView {
    NodeStatusView {
        role: status.role,
        components: status
            .components
            .into_iter()
            .map(|component| ComponentStatus {
                name: component.name,
                serving: component.serving,
                reason: component.reason,
                position: component.position,
                lag_events: component.lag_events,
                lag_seconds: component.lag_seconds,
                detail: component.detail,
            })
            .collect(),
        districts: status
            .districts
            .into_iter()
            .map(|district| NodeDistrict {
                code: district.code,
                time_zone: district.time_zone,
            })
            .collect(),
    }
}
