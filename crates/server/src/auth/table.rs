//! The decision table: for every RPC, the roles that may call it and how its scope is
//! checked. This is the one place that says who may do what; docs/security.md shows it as a
//! table (a test keeps the two in step).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a principal is for. Each RPC's row of [`ACCESS_TABLE`] names the roles that may
/// call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reports issues, handles them in the grid, accepts assignments, records evaluations,
    /// within their grids.
    GridWorker,
    /// Dispatches, deliberates, escalates, resolves, reopens and withdraws, within their
    /// community.
    Community,
    /// The district guidance committee: records decisions and resolves escalated issues,
    /// district-wide.
    Committee,
    /// Reads statistics and issues, within their scope.
    Analyst,
    /// Reads histories and replays within their scope; reads and verifies the whole log
    /// with a district-wide scope.
    Auditor,
    /// Everything, within their scope.
    Admin,
}

impl Role {
    /// Every role, in the order of docs/security.md.
    pub const ALL: [Role; 6] = [
        Role::GridWorker,
        Role::Community,
        Role::Committee,
        Role::Analyst,
        Role::Auditor,
        Role::Admin,
    ];

    /// The name used in the principals file and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::GridWorker => "grid_worker",
            Role::Community => "community",
            Role::Committee => "committee",
            Role::Analyst => "analyst",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected one of grid_worker, community, committee, analyst, auditor, admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == name)
            .ok_or_else(|| UnknownRole(name.to_owned()))
    }
}

/// How a call's jurisdiction is checked against the principal's scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeRule {
    /// The issue the call is about (the reported grid, or the loaded issue's grid) must lie
    /// within one of the principal's scopes. Checked by the service, which has the issue.
    Issue,
    /// The request's scope filter must lie within one of the principal's scopes; left
    /// empty, it becomes the principal's scope. Checked by the service.
    Filter,
    /// The call covers the whole log (the hash chain runs through every district): the
    /// principal's scopes must include every district of the registry. Checked by the layer.
    WholeLog,
    /// The call reveals hashes and sizes of the whole log and nothing of any event or issue
    /// (checkpoints and Merkle proofs): any scope of the principal will do.
    HashesOnly,
    /// The call stores a blob of evidence (`UploadEvidence`): it names no issue, and the
    /// blob reveals nothing to anyone until a command in the sender's scope references it;
    /// it is then read through that issue, in the reader's scope (`GetEvidence`, by
    /// [`ScopeRule::Issue`]). Any scope of the principal will do.
    EvidenceUpload,
}

/// One row of the decision table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// The gRPC service, e.g. `gridledger.v1.IssueService`.
    pub service: &'static str,
    /// The method, e.g. `ReportIssue`.
    pub method: &'static str,
    /// The roles that may call it.
    pub roles: &'static [Role],
    /// How its jurisdiction is checked.
    pub scope: ScopeRule,
}

impl Access {
    /// Whether `role` may call this method.
    pub fn allows(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

const ISSUES: &str = "gridledger.v1.IssueService";
/// The service of the lifecycle commands, whose RPCs are named after them.
pub(crate) const ISSUE_SERVICE: &str = ISSUES;
const STATS: &str = "gridledger.v1.StatsService";
const AUDIT: &str = "gridledger.v1.AuditService";

const fn row(service: &'static str, method: &'static str, roles: &'static [Role], scope: ScopeRule) -> Access {
    Access {
        service,
        method,
        roles,
        scope,
    }
}

use Role::{Admin, Analyst, Auditor, Committee, Community, GridWorker};
use ScopeRule::{EvidenceUpload, Filter, HashesOnly, Issue, WholeLog};

/// Every RPC of the contract and the roles that may call it. A method missing here is
/// refused to everyone (PERMISSION_DENIED), so a new RPC is closed until it gets a row.
///
/// Beyond role and scope, one condition needs the issue's state and is checked with the
/// scope (`authorize_command`): a `committee` principal resolves only ESCALATED issues.
/// `SubmitCommands` carries the other commands: each of its commands must also be allowed
/// by the row of the unary RPC of the same name.
pub const ACCESS_TABLE: &[Access] = &[
    row(ISSUES, "ReportIssue", &[GridWorker, Admin], Issue),
    row(ISSUES, "HandleInGrid", &[GridWorker, Admin], Issue),
    row(ISSUES, "DispatchIssue", &[Community, Admin], Issue),
    row(ISSUES, "AcceptAssignment", &[GridWorker, Admin], Issue),
    row(ISSUES, "ConveneDeliberation", &[Community, Admin], Issue),
    row(ISSUES, "ConcludeDeliberation", &[Community, Admin], Issue),
    row(ISSUES, "EscalateIssue", &[Community, Admin], Issue),
    row(ISSUES, "RecordCommitteeDecision", &[Committee, Admin], Issue),
    row(ISSUES, "ResolveIssue", &[Community, Committee, Admin], Issue),
    row(ISSUES, "EvaluateResolution", &[GridWorker, Admin], Issue),
    row(ISSUES, "ReopenIssue", &[Community, Admin], Issue),
    row(ISSUES, "WithdrawIssue", &[Community, Admin], Issue),
    row(ISSUES, "GetIssue", &[Analyst, Admin], Issue),
    row(ISSUES, "ListIssues", &[Analyst, Admin], Filter),
    // Every role that may send a command; each command of the stream is then checked
    // against the row of its unary RPC (`authorize_streamed_command`).
    row(
        ISSUES,
        "SubmitCommands",
        &[GridWorker, Community, Committee, Admin],
        Issue,
    ),
    // The roles whose commands carry photos and videos (reports, handlings, resolutions).
    row(
        ISSUES,
        "UploadEvidence",
        &[GridWorker, Community, Committee, Admin],
        EvidenceUpload,
    ),
    // Every role that reads an issue in some way; the issue named must be in scope.
    row(
        ISSUES,
        "GetEvidence",
        &[GridWorker, Community, Committee, Analyst, Auditor, Admin],
        Issue,
    ),
    row(STATS, "GetGovernanceStats", &[Analyst, Admin], Filter),
    row(STATS, "BreakdownGovernanceStats", &[Analyst, Admin], Filter),
    row(AUDIT, "ReadIssueHistory", &[Auditor, Admin], Issue),
    row(AUDIT, "ReplayIssue", &[Auditor, Admin], Issue),
    row(AUDIT, "ReadAll", &[Auditor, Admin], WholeLog),
    row(AUDIT, "VerifyLog", &[Auditor, Admin], WholeLog),
    row(AUDIT, "GetCheckpoint", &[Analyst, Auditor, Admin], HashesOnly),
    row(AUDIT, "GetInclusionProof", &[Analyst, Auditor, Admin], HashesOnly),
    row(AUDIT, "GetConsistencyProof", &[Analyst, Auditor, Admin], HashesOnly),
];

/// Services open to every caller, authenticated or not: health checks, the node's status
/// (the details behind health: component states, reasons and lags) and reflection.
pub const OPEN_SERVICES: &[&str] = &[
    "grpc.health.v1.Health",
    "gridledger.v1.NodeService",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// What the table says about a request path (`/package.Service/Method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathAccess {
    /// A service open to everyone.
    Open,
    /// A method of the table.
    Rule(&'static Access),
    /// Anything else: refused to everyone once authenticated.
    Unlisted,
}

/// The row of the table for `service` and `method`, if any.
pub fn access_rule(service: &str, method: &str) -> Option<&'static Access> {
    ACCESS_TABLE
        .iter()
        .find(|access| access.service == service && access.method == method)
}

/// What the table says about the request path `path`.
pub(crate) fn path_access(path: &str) -> PathAccess {
    let Some((service, method)) = path.strip_prefix('/').and_then(|rest| rest.split_once('/')) else {
        return PathAccess::Unlisted;
    };
    if OPEN_SERVICES.contains(&service) {
        return PathAccess::Open;
    }
    access_rule(service, method).map_or(PathAccess::Unlisted, PathAccess::Rule)
}

/// The table as docs/security.md shows it: one row per role, the methods it may call.
pub fn roles_markdown() -> String {
    let mut text = String::from("| role | may call |\n|---|---|\n");
    for role in Role::ALL {
        let methods: Vec<String> = ACCESS_TABLE
            .iter()
            .filter(|access| access.allows(role))
            .map(|access| format!("`{}`", access.method))
            .collect();
        text.push_str(&format!("| `{role}` | {} |\n", methods.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn every_rpc_of_the_contract_has_exactly_one_row() {
        let descriptors = prost_types::FileDescriptorSet::decode(gridledger_api::proto::FILE_DESCRIPTOR_SET)
            .expect("the contract's descriptor set decodes");
        let mut contract = Vec::new();
        for file in &descriptors.file {
            for service in &file.service {
                let service_name = format!("{}.{}", file.package(), service.name());
                if OPEN_SERVICES.contains(&service_name.as_str()) {
                    // Open to everyone: no row (the node's status, like health).
                    continue;
                }
                for method in &service.method {
                    contract.push((service_name.clone(), method.name().to_owned()));
                }
            }
        }
        assert_eq!(contract.len(), ACCESS_TABLE.len(), "RPCs of the contract: {contract:?}");
        for (service, method) in &contract {
            let rows = ACCESS_TABLE
                .iter()
                .filter(|access| access.service == service && access.method == method)
                .count();
            assert_eq!(rows, 1, "{service}/{method} must have exactly one row");
        }
    }

    #[test]
    fn every_row_admits_admin_and_one_other_role_at_least() {
        for access in ACCESS_TABLE {
            assert!(access.allows(Role::Admin), "{}", access.method);
            assert!(access.roles.len() >= 2, "{}", access.method);
        }
    }

    #[test]
    fn submit_commands_admits_exactly_the_roles_that_may_send_a_command() {
        let stream = access_rule(ISSUES, "SubmitCommands").expect("SubmitCommands has a row");
        assert_eq!(stream.scope, ScopeRule::Issue);
        for role in Role::ALL {
            let sends_a_command = gridledger_domain::CommandKind::ALL
                .iter()
                .any(|kind| access_rule(ISSUES, kind.as_str()).is_some_and(|access| access.allows(role)));
            assert_eq!(stream.allows(role), sends_a_command, "{role}");
        }
    }

    #[test]
    fn paths_are_looked_up_by_service_and_method() {
        assert_eq!(path_access("/grpc.health.v1.Health/Check"), PathAccess::Open);
        assert_eq!(
            path_access("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"),
            PathAccess::Open
        );
        assert!(matches!(
            path_access("/gridledger.v1.AuditService/ReadAll"),
            PathAccess::Rule(Access {
                scope: ScopeRule::WholeLog,
                ..
            })
        ));
        for path in [
            "/gridledger.v1.AuditService/DeleteEverything",
            "/gridledger.v1.IssueService",
            "",
            "/x/y/z",
        ] {
            assert_eq!(path_access(path), PathAccess::Unlisted, "{path}");
        }
    }

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(serde_json::to_string(&role).expect("serializes"), format!("\"{role}\""));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn the_security_guide_shows_the_table() {
        let guide = include_str!("../../../../docs/security.md");
        let table = roles_markdown();
        assert!(
            guide.contains(&table),
            "docs/security.md must contain the roles table exactly as the code has it:\n{table}"
        );
    }
}
