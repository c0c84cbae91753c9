//! Access control end to end (docs/security.md), against real servers on 127.0.0.1:0.
//!
//! One `check` runs one case: a role, an RPC, a credential (inside the principal's scope,
//! outside it, no token, a wrong secret, an unknown id, a token revoked by a change of the
//! principals file) and a variant of the request, and compares the code with the expected
//! one. On a refusal the log's head must not move; on success what was written must name
//! the principal, and a list or breakdown must stay within the principal's scope. The
//! expected codes come from this file's own statement of who may do what (`allowed`), not
//! from the server's table. The reload on SIGHUP is checked with the built binary.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use gridledger_api::proto;
use gridledger_api::proto::audit_service_client::AuditServiceClient;
use gridledger_api::proto::issue_service_client::IssueServiceClient;
use gridledger_api::proto::stats_service_client::StatsServiceClient;
use gridledger_domain::Registry;
use gridledger_server::auth::{ReloadEvent, Role, hash_secret, hash_secret_hex, parse_token, token_for};
use gridledger_server::{AuthConfig, RunningServer, ServerConfig};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

/// The grid every fixture issue is in.
const GRID: &str = "runzhou.s1.c01.g01";
/// The scope lists and statistics ask for.
const COMMUNITY: &str = "runzhou.s1.c01";
const INVALID_TOKEN: &str = "invalid or revoked token";

/// Two districts, so that "the whole log" is more than one district.
const REGISTRY: &str = r#"{
  "districts": [{"code": "runzhou", "display_name": "Runzhou", "time_zone": "Asia/Shanghai"}, {"code": "dantu", "display_name": "Dantu", "time_zone": "Asia/Shanghai"}],
  "streets": [{"code": "runzhou.s1", "display_name": "R1"}, {"code": "dantu.s1", "display_name": "D1"}],
  "communities": [
    {"code": "runzhou.s1.c01", "display_name": "R1C1"},
    {"code": "runzhou.s1.c02", "display_name": "R1C2"},
    {"code": "dantu.s1.c01", "display_name": "D1C1"}
  ],
  "grids": [
    {"code": "runzhou.s1.c01.g01", "display_name": "R1C1G1"},
    {"code": "runzhou.s1.c01.g02", "display_name": "R1C1G2"},
    {"code": "runzhou.s1.c02.g01", "display_name": "R1C2G1"},
    {"code": "dantu.s1.c01.g01", "display_name": "D1C1G1"}
  ],
  "categories": [{"code": "environment", "display_name": "Environment", "default_handling_deadline_hours": 72}]
}"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Rpc {
    ReportIssue,
    HandleInGrid,
    DispatchIssue,
    AcceptAssignment,
    ConveneDeliberation,
    ConcludeDeliberation,
    EscalateIssue,
    RecordCommitteeDecision,
    ResolveIssue,
    EvaluateResolution,
    ReopenIssue,
    WithdrawIssue,
    GetIssue,
    ListIssues,
    GetGovernanceStats,
    BreakdownGovernanceStats,
    ReadIssueHistory,
    ReplayIssue,
    ReadAll,
    VerifyLog,
    GetCheckpoint,
    GetInclusionProof,
    GetConsistencyProof,
    /// `grpc.health.v1.Health/Check`: open to everyone.
    HealthCheck,
}

const RPCS: [Rpc; 24] = [
    Rpc::ReportIssue,
    Rpc::HandleInGrid,
    Rpc::DispatchIssue,
    Rpc::AcceptAssignment,
    Rpc::ConveneDeliberation,
    Rpc::ConcludeDeliberation,
    Rpc::EscalateIssue,
    Rpc::RecordCommitteeDecision,
    Rpc::ResolveIssue,
    Rpc::EvaluateResolution,
    Rpc::ReopenIssue,
    Rpc::WithdrawIssue,
    Rpc::GetIssue,
    Rpc::ListIssues,
    Rpc::GetGovernanceStats,
    Rpc::BreakdownGovernanceStats,
    Rpc::ReadIssueHistory,
    Rpc::ReplayIssue,
    Rpc::ReadAll,
    Rpc::VerifyLog,
    Rpc::GetCheckpoint,
    Rpc::GetInclusionProof,
    Rpc::GetConsistencyProof,
    Rpc::HealthCheck,
];

impl Rpc {
    fn writes(self) -> bool {
        matches!(
            self,
            Rpc::ReportIssue
                | Rpc::HandleInGrid
                | Rpc::DispatchIssue
                | Rpc::AcceptAssignment
                | Rpc::ConveneDeliberation
                | Rpc::ConcludeDeliberation
                | Rpc::EscalateIssue
                | Rpc::RecordCommitteeDecision
                | Rpc::ResolveIssue
                | Rpc::EvaluateResolution
                | Rpc::ReopenIssue
                | Rpc::WithdrawIssue
        )
    }

    /// Checkpoints and proofs: hashes and sizes only, so any scope of a role that reads will
    /// do (docs/security.md).
    fn hashes_only(self) -> bool {
        matches!(
            self,
            Rpc::GetCheckpoint | Rpc::GetInclusionProof | Rpc::GetConsistencyProof
        )
    }

    /// The state of the issue the RPC is sent about, if it is about one.
    fn fixture(self, variant: Variant) -> Option<State> {
        match (self, variant) {
            (Rpc::ResolveIssue, Variant::NotEscalated) => Some(State::Reported),
            (Rpc::ResolveIssue, _) => Some(State::EscalatedAndDecided),
            (Rpc::AcceptAssignment, _) => Some(State::Dispatched),
            (Rpc::ConcludeDeliberation, _) => Some(State::InDeliberation),
            (Rpc::RecordCommitteeDecision, _) => Some(State::Escalated),
            (Rpc::EvaluateResolution | Rpc::ReopenIssue, _) => Some(State::Resolved),
            (
                Rpc::HandleInGrid
                | Rpc::DispatchIssue
                | Rpc::ConveneDeliberation
                | Rpc::EscalateIssue
                | Rpc::WithdrawIssue
                | Rpc::GetIssue
                | Rpc::ReadIssueHistory
                | Rpc::ReplayIssue,
                _,
            ) => Some(State::Reported),
            (
                Rpc::ReportIssue
                | Rpc::ListIssues
                | Rpc::GetGovernanceStats
                | Rpc::BreakdownGovernanceStats
                | Rpc::ReadAll
                | Rpc::VerifyLog
                | Rpc::GetCheckpoint
                | Rpc::GetInclusionProof
                | Rpc::GetConsistencyProof
                | Rpc::HealthCheck,
                _,
            ) => None,
        }
    }
}

/// Who may call what, stated here independently of the server's table.
fn allowed(role: Role, rpc: Rpc) -> bool {
    use Rpc::*;
    match role {
        Role::Admin => true,
        Role::GridWorker => matches!(rpc, ReportIssue | HandleInGrid | AcceptAssignment | EvaluateResolution),
        Role::Community => matches!(
            rpc,
            DispatchIssue
                | ConveneDeliberation
                | ConcludeDeliberation
                | EscalateIssue
                | ResolveIssue
                | ReopenIssue
                | WithdrawIssue
        ),
        Role::Committee => matches!(rpc, RecordCommitteeDecision | ResolveIssue),
        Role::Analyst => {
            matches!(
                rpc,
                GetIssue | ListIssues | GetGovernanceStats | BreakdownGovernanceStats
            ) || rpc.hashes_only()
        }
        Role::Auditor => matches!(rpc, ReadIssueHistory | ReplayIssue | ReadAll | VerifyLog) || rpc.hashes_only(),
    }
}

/// Which principal of a role is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// Its scopes cover the fixtures (and, for auditor and admin, every district).
    Inside,
    /// Its scopes do not.
    Outside,
    /// Like `Inside`, but removed from the file after the server started.
    Revoked,
}

const STANDINGS: [Standing; 3] = [Standing::Inside, Standing::Outside, Standing::Revoked];

fn scopes(role: Role, standing: Standing) -> &'static [&'static str] {
    let inside = standing != Standing::Outside;
    match (role, inside) {
        (Role::GridWorker, true) => &[GRID],
        (Role::GridWorker, false) => &["runzhou.s1.c01.g02"],
        (Role::Community | Role::Analyst, true) => &[COMMUNITY],
        (Role::Community | Role::Analyst, false) => &["runzhou.s1.c02"],
        (Role::Committee, true) => &["runzhou"],
        (Role::Committee | Role::Auditor | Role::Admin, false) => &["dantu"],
        (Role::Auditor | Role::Admin, true) => &["runzhou", "dantu"],
    }
}

fn principal_id(role: Role, standing: Standing) -> String {
    let standing = match standing {
        Standing::Inside => "in",
        Standing::Outside => "out",
        Standing::Revoked => "revoked",
    };
    format!("{}-{standing}", role.as_str().replace('_', "-"))
}

/// The principal's token; its secret is derived from the id (a test needs no randomness).
fn token(id: &str) -> String {
    token_for(id, &hash_secret(id))
}

/// The principals file with every role in the given standings, but for the ids `except`.
fn principals_json(standings: &[Standing], except: &[&str]) -> String {
    let mut entries = Vec::new();
    for role in Role::ALL {
        for standing in standings {
            let id = principal_id(role, *standing);
            if except.contains(&id.as_str()) {
                continue;
            }
            let token = token(&id);
            let (_, secret) = parse_token(&token).expect("a token made by token_for parses");
            entries.push(serde_json::json!({
                "id": id,
                "role": role,
                "scopes": scopes(role, *standing),
                "token_sha256": hash_secret_hex(secret),
            }));
        }
    }
    serde_json::json!({ "principals": entries }).to_string()
}

/// What a call presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    Inside,
    Outside,
    NoToken,
    /// The inside principal's id with another secret.
    WrongSecret,
    /// An id the file does not have.
    UnknownId,
    /// The revoked principal's token.
    Revoked,
}

const CREDENTIALS: [Credential; 6] = [
    Credential::Inside,
    Credential::Outside,
    Credential::NoToken,
    Credential::WrongSecret,
    Credential::UnknownId,
    Credential::Revoked,
];

/// How the request is shaped beyond the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Variant {
    Plain,
    /// ResolveIssue of an issue that was never escalated.
    NotEscalated,
    /// A list or statistics query that names no scope.
    NoScope,
    /// `x-gridledger-actor` naming the principal itself.
    ActorSelf,
    /// `x-gridledger-actor` naming someone else.
    ActorOther,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum State {
    Reported,
    Dispatched,
    InDeliberation,
    Escalated,
    EscalatedAndDecided,
    Resolved,
}

impl State {
    /// The commands (sent as admin) that bring a new issue to this state.
    fn steps(self) -> &'static [Rpc] {
        match self {
            State::Reported => &[Rpc::ReportIssue],
            State::Dispatched => &[Rpc::ReportIssue, Rpc::DispatchIssue],
            State::InDeliberation => &[Rpc::ReportIssue, Rpc::ConveneDeliberation],
            State::Escalated => &[Rpc::ReportIssue, Rpc::EscalateIssue],
            State::EscalatedAndDecided => &[Rpc::ReportIssue, Rpc::EscalateIssue, Rpc::RecordCommitteeDecision],
            State::Resolved => &[Rpc::ReportIssue, Rpc::ResolveIssue],
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Case {
    role: Role,
    rpc: Rpc,
    credential: Credential,
    variant: Variant,
    expected: Code,
}

impl Case {
    fn new(role: Role, rpc: Rpc, credential: Credential, variant: Variant, expected: Code) -> Self {
        Case {
            role,
            rpc,
            credential,
            variant,
            expected,
        }
    }

    /// The expected code of a plain request, from [`allowed`].
    fn plain(role: Role, rpc: Rpc, credential: Credential) -> Self {
        let expected = match credential {
            _ if rpc == Rpc::HealthCheck => Code::Ok,
            Credential::NoToken | Credential::WrongSecret | Credential::UnknownId | Credential::Revoked => {
                Code::Unauthenticated
            }
            Credential::Outside if rpc.hashes_only() && allowed(role, rpc) => Code::Ok,
            Credential::Outside => Code::PermissionDenied,
            Credential::Inside if allowed(role, rpc) => Code::Ok,
            Credential::Inside => Code::PermissionDenied,
        };
        Case::new(role, rpc, credential, Variant::Plain, expected)
    }

    /// The principal the credential names, when it names one in the file.
    fn principal(&self) -> Option<(String, &'static [&'static str])> {
        match self.credential {
            Credential::Inside => Some((
                principal_id(self.role, Standing::Inside),
                scopes(self.role, Standing::Inside),
            )),
            Credential::Outside => Some((
                principal_id(self.role, Standing::Outside),
                scopes(self.role, Standing::Outside),
            )),
            _ => None,
        }
    }

    /// The `authorization` value, if any.
    fn token(&self) -> Option<String> {
        let inside = principal_id(self.role, Standing::Inside);
        match self.credential {
            Credential::Inside => Some(token(&inside)),
            Credential::Outside => Some(token(&principal_id(self.role, Standing::Outside))),
            Credential::NoToken => None,
            Credential::WrongSecret => Some(token_for(&inside, &[0x42; 32])),
            Credential::UnknownId => Some(token(&format!("{inside}-nobody"))),
            Credential::Revoked => Some(token(&principal_id(self.role, Standing::Revoked))),
        }
    }
}

/// What a successful call showed.
#[derive(Debug, Default)]
struct Outcome {
    /// The issue a command wrote to.
    acked_issue: Option<String>,
    /// The jurisdictions a list or breakdown returned (grid codes).
    jurisdictions: Vec<String>,
}

/// A server with the test's principals, its clients, and fixture issues waiting to be used.
struct World {
    _directory: tempfile::TempDir,
    server: Option<RunningServer>,
    channel: Channel,
    principals_file: PathBuf,
    reloads: mpsc::UnboundedReceiver<ReloadEvent>,
    /// Fixture issues by the state they are in; one is used up by a command that succeeds.
    fixtures: HashMap<State, String>,
}

impl World {
    async fn start() -> anyhow::Result<World> {
        let directory = tempfile::tempdir()?;
        let principals_file = directory.path().join("principals.json");
        replace_file(&principals_file, &principals_json(&STANDINGS, &[]))?;
        let (events, reloads) = mpsc::unbounded_channel();
        let server = gridledger_server::start(
            ServerConfig {
                data_dir: directory.path().join("data"),
                listen: "127.0.0.1:0".parse()?,
                http: None,
                registry: Registry::from_json_str(REGISTRY)?,
                auth: Some(AuthConfig {
                    reload_interval: Some(Duration::from_millis(50)),
                    reload_on_sighup: false,
                    reload_events: Some(events),
                    ..AuthConfig::new(&principals_file)
                }),
                tls: None,
                insecure_allow_non_loopback: false,
                nats: None,
                checkpoints: gridledger_server::CheckpointConfig {
                    min_interval: Duration::from_millis(10),
                    ..gridledger_server::CheckpointConfig::default()
                },
            },
            std::future::pending(),
        )
        .await?;
        let channel = Channel::from_shared(format!("http://{}", server.local_addr))?
            .connect()
            .await?;
        Ok(World {
            _directory: directory,
            server: Some(server),
            channel,
            principals_file,
            reloads,
            fixtures: HashMap::new(),
        })
    }

    /// Writes the principals file and waits until the server says what it made of it.
    async fn rewrite_principals(&mut self, text: &str) -> anyhow::Result<ReloadEvent> {
        replace_file(&self.principals_file, text)?;
        tokio::time::timeout(Duration::from_secs(30), self.reloads.recv())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the server stopped reporting reloads"))
    }

    /// The admin that makes fixtures and reads the log.
    fn admin() -> Case {
        Case::new(
            Role::Admin,
            Rpc::VerifyLog,
            Credential::Inside,
            Variant::Plain,
            Code::Ok,
        )
    }

    /// The log's head (position and hash), as an admin sees it.
    async fn head(&self) -> anyhow::Result<(u64, Vec<u8>)> {
        let report = AuditServiceClient::new(self.channel.clone())
            .verify_log(request(&World::admin(), proto::VerifyLogRequest::default()))
            .await?
            .into_inner();
        Ok((report.head_position, report.head_hash))
    }

    /// An issue in `state`, in [`GRID`], made by the admin unless one is waiting.
    async fn fixture(&mut self, state: State) -> anyhow::Result<String> {
        if let Some(issue_id) = self.fixtures.get(&state) {
            return Ok(issue_id.clone());
        }
        let mut issue_id = None;
        for step in state.steps() {
            let admin = Case {
                rpc: *step,
                ..World::admin()
            };
            let outcome = call(self, &admin, issue_id.as_deref())
                .await
                .map_err(|status| anyhow::anyhow!("making a {state:?} fixture, {step:?}: {status:?}"))?;
            issue_id = issue_id.or(outcome.acked_issue);
        }
        let issue_id = issue_id.ok_or_else(|| anyhow::anyhow!("no issue made for {state:?}"))?;
        self.fixtures.insert(state, issue_id.clone());
        Ok(issue_id)
    }

    /// The actor recorded on the last event of an issue.
    async fn last_actor(&self, issue_id: &str) -> anyhow::Result<String> {
        let mut events = AuditServiceClient::new(self.channel.clone())
            .read_issue_history(request(
                &World::admin(),
                proto::ReadIssueHistoryRequest {
                    issue_id: issue_id.to_owned(),
                },
            ))
            .await?
            .into_inner();
        let mut last = None;
        while let Some(event) = events.next().await {
            last = Some(event?);
        }
        Ok(last
            .and_then(|event| event.decoded)
            .map(|record| record.actor_id)
            .unwrap_or_default())
    }
}

/// Replaces a file in one rename, so the server never reads half of it.
fn replace_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

/// A request carrying the case's credential and actor header.
fn request<T>(case: &Case, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = case.token()
        && let Ok(value) = MetadataValue::try_from(format!("Bearer {token}"))
    {
        request.metadata_mut().insert("authorization", value);
    }
    let actor = match case.variant {
        Variant::ActorSelf => Some(principal_id(case.role, Standing::Inside)),
        Variant::ActorOther => Some("someone-else".to_owned()),
        _ => None,
    };
    if let Some(actor) = actor
        && let Ok(value) = MetadataValue::try_from(actor)
    {
        request.metadata_mut().insert("x-gridledger-actor", value);
    }
    request
}

fn meta() -> Option<proto::CommandMeta> {
    Some(proto::CommandMeta {
        request_id: uuid::Uuid::now_v7().to_string(),
        expected_revision: None,
        occurred_at: None,
    })
}

fn days_from_now(days: i64) -> Option<prost_types::Timestamp> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    Some(prost_types::Timestamp {
        seconds: i64::try_from(now).unwrap_or(0) + days * 86_400,
        nanos: 0,
    })
}

/// Sends the case's RPC (about `issue`), reading any stream to its end.
async fn call(world: &World, case: &Case, issue: Option<&str>) -> Result<Outcome, tonic::Status> {
    let mut issues = IssueServiceClient::new(world.channel.clone());
    let mut stats = StatsServiceClient::new(world.channel.clone());
    let mut audit = AuditServiceClient::new(world.channel.clone());
    let issue_id = issue.unwrap_or_default().to_owned();
    let scope = if case.variant == Variant::NoScope {
        String::new()
    } else {
        COMMUNITY.to_owned()
    };
    let ack = |response: tonic::Response<proto::CommandAck>| Outcome {
        acked_issue: Some(response.into_inner().issue_id),
        ..Outcome::default()
    };
    Ok(match case.rpc {
        Rpc::ReportIssue => ack(issues
            .report_issue(request(
                case,
                proto::ReportIssueRequest {
                    meta: meta(),
                    issue_id: String::new(),
                    grid_code: GRID.to_owned(),
                    category: "environment".to_owned(),
                    title: "Overflowing bins".to_owned(),
                    description: "reported by the access-control test".to_owned(),
                    reporter_id: "resident-1".to_owned(),
                    ..Default::default()
                },
            ))
            .await?),
        Rpc::HandleInGrid => ack(issues
            .handle_in_grid(request(
                case,
                proto::HandleInGridRequest {
                    meta: meta(),
                    issue_id,
                    summary: "emptied".to_owned(),
                    ..Default::default()
                },
            ))
            .await?),
        Rpc::DispatchIssue => ack(issues
            .dispatch_issue(request(
                case,
                proto::DispatchIssueRequest {
                    meta: meta(),
                    issue_id,
                    assignee_id: "ann".to_owned(),
                    due_at: days_from_now(7),
                },
            ))
            .await?),
        Rpc::AcceptAssignment => ack(issues
            .accept_assignment(request(
                case,
                proto::AcceptAssignmentRequest {
                    meta: meta(),
                    issue_id,
                    assignee_id: "ann".to_owned(),
                },
            ))
            .await?),
        Rpc::ConveneDeliberation => ack(issues
            .convene_deliberation(request(
                case,
                proto::ConveneDeliberationRequest {
                    meta: meta(),
                    issue_id,
                    meeting_id: "m-1".to_owned(),
                    forum: proto::Forum::CommunityAffairsConsultation as i32,
                    parties: vec!["residents".to_owned()],
                },
            ))
            .await?),
        Rpc::ConcludeDeliberation => ack(issues
            .conclude_deliberation(request(
                case,
                proto::ConcludeDeliberationRequest {
                    meta: meta(),
                    issue_id,
                    meeting_id: "m-1".to_owned(),
                    participants: 5,
                    outcome: "agreed".to_owned(),
                    minutes: String::new(),
                },
            ))
            .await?),
        Rpc::EscalateIssue => ack(issues
            .escalate_issue(request(
                case,
                proto::EscalateIssueRequest {
                    meta: meta(),
                    issue_id,
                    reason: proto::EscalationReason::Widespread as i32,
                    note: String::new(),
                },
            ))
            .await?),
        Rpc::RecordCommitteeDecision => ack(issues
            .record_committee_decision(request(
                case,
                proto::RecordCommitteeDecisionRequest {
                    meta: meta(),
                    issue_id,
                    decision: "joint repair".to_owned(),
                    lead_department: "housing".to_owned(),
                    supporting_departments: vec![],
                    due_at: days_from_now(14),
                },
            ))
            .await?),
        Rpc::ResolveIssue => ack(issues
            .resolve_issue(request(
                case,
                proto::ResolveIssueRequest {
                    meta: meta(),
                    issue_id,
                    summary: "done".to_owned(),
                    ..Default::default()
                },
            ))
            .await?),
        Rpc::EvaluateResolution => ack(issues
            .evaluate_resolution(request(
                case,
                proto::EvaluateResolutionRequest {
                    meta: meta(),
                    issue_id,
                    satisfaction: proto::Satisfaction::Satisfied as i32,
                    evaluator_id: "resident-1".to_owned(),
                    comment: String::new(),
                },
            ))
            .await?),
        Rpc::ReopenIssue => ack(issues
            .reopen_issue(request(
                case,
                proto::ReopenIssueRequest {
                    meta: meta(),
                    issue_id,
                    reason: "came back".to_owned(),
                },
            ))
            .await?),
        Rpc::WithdrawIssue => ack(issues
            .withdraw_issue(request(
                case,
                proto::WithdrawIssueRequest {
                    meta: meta(),
                    issue_id,
                    reason: proto::WithdrawalReason::OutOfScope as i32,
                    duplicate_of: String::new(),
                },
            ))
            .await?),
        Rpc::GetIssue => {
            issues
                .get_issue(request(case, proto::GetIssueRequest { issue_id }))
                .await?;
            Outcome::default()
        }
        Rpc::ListIssues => {
            let page = issues
                .list_issues(request(
                    case,
                    proto::ListIssuesRequest {
                        scope,
                        page_size: 500,
                        ..proto::ListIssuesRequest::default()
                    },
                ))
                .await?
                .into_inner();
            Outcome {
                jurisdictions: page.issues.into_iter().map(|issue| issue.grid_code).collect(),
                ..Outcome::default()
            }
        }
        Rpc::GetGovernanceStats => {
            stats
                .get_governance_stats(request(
                    case,
                    proto::GetGovernanceStatsRequest {
                        scope,
                        ..proto::GetGovernanceStatsRequest::default()
                    },
                ))
                .await?;
            Outcome::default()
        }
        Rpc::BreakdownGovernanceStats => {
            let rows = stats
                .breakdown_governance_stats(request(
                    case,
                    proto::BreakdownGovernanceStatsRequest {
                        scope,
                        group_by: proto::GroupBy::Grid as i32,
                        ..proto::BreakdownGovernanceStatsRequest::default()
                    },
                ))
                .await?
                .into_inner();
            Outcome {
                jurisdictions: rows.rows.into_iter().map(|row| row.key).collect(),
                ..Outcome::default()
            }
        }
        Rpc::ReadIssueHistory => {
            let mut events = audit
                .read_issue_history(request(case, proto::ReadIssueHistoryRequest { issue_id }))
                .await?
                .into_inner();
            while let Some(event) = events.next().await {
                event?;
            }
            Outcome::default()
        }
        Rpc::ReplayIssue => {
            let mut steps = audit
                .replay_issue(request(
                    case,
                    proto::ReplayIssueRequest {
                        issue_id,
                        up_to_revision: None,
                    },
                ))
                .await?
                .into_inner();
            while let Some(step) = steps.next().await {
                step?;
            }
            Outcome::default()
        }
        Rpc::ReadAll => {
            let mut events = audit
                .read_all(request(case, proto::ReadAllRequest::default()))
                .await?
                .into_inner();
            while let Some(event) = events.next().await {
                event?;
            }
            Outcome::default()
        }
        Rpc::VerifyLog => {
            audit
                .verify_log(request(case, proto::VerifyLogRequest::default()))
                .await?;
            Outcome::default()
        }
        Rpc::GetCheckpoint => {
            audit
                .get_checkpoint(request(case, proto::GetCheckpointRequest {}))
                .await?;
            Outcome::default()
        }
        Rpc::GetInclusionProof => {
            // Position 1, once a checkpoint covers it (the log has events by now).
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            loop {
                let newest = audit
                    .get_checkpoint(request(&World::admin(), proto::GetCheckpointRequest {}))
                    .await?
                    .into_inner();
                if newest.tree_size >= 1 || std::time::Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            audit
                .get_inclusion_proof(request(
                    case,
                    proto::GetInclusionProofRequest {
                        position: 1,
                        tree_size: 0,
                    },
                ))
                .await?;
            Outcome::default()
        }
        Rpc::GetConsistencyProof => {
            audit
                .get_consistency_proof(request(case, proto::GetConsistencyProofRequest::default()))
                .await?;
            Outcome::default()
        }
        Rpc::HealthCheck => {
            tonic_health::pb::health_client::HealthClient::new(world.channel.clone())
                .check(request(case, tonic_health::pb::HealthCheckRequest::default()))
                .await?;
            Outcome::default()
        }
    })
}

/// Runs one case; what went differently from the case's expectation, if anything.
async fn check(world: &mut World, case: Case) -> anyhow::Result<Result<(), String>> {
    let state = case.rpc.fixture(case.variant);
    let issue = match state {
        Some(state) => Some(world.fixture(state).await?),
        None => None,
    };
    let head_before = world.head().await?;
    let result = call(world, &case, issue.as_deref()).await;
    let head_after = world.head().await?;
    let code = result.as_ref().map_or_else(tonic::Status::code, |_| Code::Ok);
    let mut problems = Vec::new();
    if code != case.expected {
        problems.push(format!("got {code:?} ({result:?})"));
    }
    match &result {
        Err(status) => {
            if head_after != head_before {
                problems.push(format!(
                    "refused with {code:?} but the log moved from {head_before:?} to {head_after:?}"
                ));
            }
            let same_for_all = matches!(
                case.credential,
                Credential::WrongSecret | Credential::UnknownId | Credential::Revoked
            );
            if case.expected == Code::Unauthenticated && same_for_all && status.message() != INVALID_TOKEN {
                problems.push(format!("message {:?} is not {INVALID_TOKEN:?}", status.message()));
            }
            if let Some((_, scopes)) = case.principal()
                && case.credential == Credential::Outside
                && allowed(case.role, case.rpc)
                && !status.message().contains(scopes[0])
            {
                problems.push(format!(
                    "message {:?} does not name the scope {}",
                    status.message(),
                    scopes[0]
                ));
            }
        }
        Ok(outcome) => {
            if case.rpc.writes() {
                if let Some(state) = state {
                    // Used up: the next case gets a fresh one.
                    world.fixtures.remove(&state);
                }
                let (id, _) = case.principal().unwrap_or_default();
                let written = outcome.acked_issue.clone().unwrap_or_default();
                let actor = world.last_actor(&written).await?;
                if actor != id {
                    problems.push(format!("the event on {written} names the actor {actor:?}, not {id:?}"));
                }
            }
            if let Some((id, scopes)) = case.principal() {
                for jurisdiction in &outcome.jurisdictions {
                    let within = scopes
                        .iter()
                        .any(|scope| jurisdiction == scope || jurisdiction.starts_with(&format!("{scope}.")));
                    if !within {
                        problems.push(format!("{jurisdiction} returned to {id}, outside {scopes:?}"));
                    }
                }
            }
        }
    }
    Ok(if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{case:?}: {}", problems.join("; ")))
    })
}

/// Runs every case; fails with all the cases that went wrong.
async fn check_all(world: &mut World, cases: &[Case]) -> anyhow::Result<()> {
    let mut failures = Vec::new();
    for case in cases {
        if let Err(failure) = check(world, *case).await? {
            failures.push(failure);
        }
    }
    anyhow::ensure!(
        failures.is_empty(),
        "{} of {} cases went wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_and_rpc_gets_the_expected_code_and_a_refusal_writes_nothing() -> anyhow::Result<()> {
    let mut world = World::start().await?;
    // Issues elsewhere, which no scoped read may return.
    for grid in ["runzhou.s1.c01.g02", "runzhou.s1.c02.g01", "dantu.s1.c01.g01"] {
        IssueServiceClient::new(world.channel.clone())
            .report_issue(request(
                &World::admin(),
                proto::ReportIssueRequest {
                    meta: meta(),
                    grid_code: grid.to_owned(),
                    category: "environment".to_owned(),
                    title: "Elsewhere".to_owned(),
                    reporter_id: "resident-2".to_owned(),
                    ..proto::ReportIssueRequest::default()
                },
            ))
            .await?;
    }
    // The revoked principals work until the file drops them.
    let before_revocation: Vec<Case> = Role::ALL
        .into_iter()
        .map(|role| {
            Case::new(
                role,
                Rpc::VerifyLog,
                Credential::Revoked,
                Variant::Plain,
                if allowed(role, Rpc::VerifyLog) {
                    Code::Ok
                } else {
                    Code::PermissionDenied
                },
            )
        })
        .collect();
    check_all(&mut world, &before_revocation).await?;
    let reloaded = world
        .rewrite_principals(&principals_json(&[Standing::Inside, Standing::Outside], &[]))
        .await?;
    assert_eq!(reloaded, ReloadEvent::Reloaded { principals: 12 });

    let mut cases = Vec::new();
    for role in Role::ALL {
        for rpc in RPCS {
            for credential in CREDENTIALS {
                cases.push(Case::plain(role, rpc, credential));
            }
        }
    }
    use Variant::{ActorOther, ActorSelf, NoScope, NotEscalated};
    cases.extend([
        // A committee resolves escalated issues only.
        Case::new(
            Role::Committee,
            Rpc::ResolveIssue,
            Credential::Inside,
            NotEscalated,
            Code::PermissionDenied,
        ),
        Case::new(
            Role::Community,
            Rpc::ResolveIssue,
            Credential::Inside,
            NotEscalated,
            Code::Ok,
        ),
        // The actor is the principal.
        Case::new(
            Role::GridWorker,
            Rpc::ReportIssue,
            Credential::Inside,
            ActorSelf,
            Code::Ok,
        ),
        Case::new(
            Role::GridWorker,
            Rpc::ReportIssue,
            Credential::Inside,
            ActorOther,
            Code::PermissionDenied,
        ),
        Case::new(
            Role::Auditor,
            Rpc::VerifyLog,
            Credential::Inside,
            ActorOther,
            Code::PermissionDenied,
        ),
        // Reads without a scope read the principal's own; with several, one must be named,
        // unless they include every district (then: everything).
        Case::new(Role::Analyst, Rpc::ListIssues, Credential::Inside, NoScope, Code::Ok),
        Case::new(
            Role::Analyst,
            Rpc::GetGovernanceStats,
            Credential::Inside,
            NoScope,
            Code::Ok,
        ),
        Case::new(
            Role::Analyst,
            Rpc::BreakdownGovernanceStats,
            Credential::Inside,
            NoScope,
            Code::Ok,
        ),
        Case::new(
            Role::Analyst,
            Rpc::BreakdownGovernanceStats,
            Credential::Outside,
            NoScope,
            Code::Ok,
        ),
        // An admin scoped to every district reads everything when it names no scope.
        Case::new(Role::Admin, Rpc::ListIssues, Credential::Inside, NoScope, Code::Ok),
        Case::new(Role::Admin, Rpc::ListIssues, Credential::Outside, NoScope, Code::Ok),
    ]);
    assert_eq!(cases.len(), 6 * RPCS.len() * 6 + 11);
    check_all(&mut world, &cases).await?;
    if let Some(server) = world.server.take() {
        server.shutdown().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principals_file_that_does_not_load_is_refused_and_the_principals_before_stay() -> anyhow::Result<()> {
    let mut world = World::start().await?;
    let auditor = |expected| {
        Case::new(
            Role::Auditor,
            Rpc::VerifyLog,
            Credential::Inside,
            Variant::Plain,
            expected,
        )
    };

    let broken = principals_json(&STANDINGS, &[]).replace("\"runzhou.s1.c01\"", "\"runzhou.s9\"");
    match world.rewrite_principals(&broken).await? {
        ReloadEvent::Refused { error } => assert!(
            error.contains("scopes[0]: runzhou.s9 is not in the registry"),
            "{error}"
        ),
        other => anyhow::bail!("expected a refusal, got {other:?}"),
    }
    check_all(&mut world, &[auditor(Code::Ok)]).await?;

    match world
        .rewrite_principals("{\"principals\": [\n  {\"id\": 7}\n]}")
        .await?
    {
        ReloadEvent::Refused { error } => assert!(error.starts_with("line 2, column"), "{error}"),
        other => anyhow::bail!("expected a refusal, got {other:?}"),
    }
    check_all(&mut world, &[auditor(Code::Ok)]).await?;

    let without_the_auditor = principals_json(&STANDINGS, &["auditor-in"]);
    assert_eq!(
        world.rewrite_principals(&without_the_auditor).await?,
        ReloadEvent::Reloaded { principals: 17 }
    );
    check_all(&mut world, &[auditor(Code::Unauthenticated)]).await?;
    if let Some(server) = world.server.take() {
        server.shutdown().await?;
    }
    Ok(())
}

/// Runs the built binary; its exit success, stdout and stderr.
fn gridledger(arguments: &[&str]) -> anyhow::Result<(bool, String, String)> {
    let output = Command::new(env!("CARGO_BIN_EXE_gridledger"))
        .args(arguments)
        .env_remove("GRIDLEDGER_TOKEN")
        .output()?;
    Ok((
        output.status.success(),
        String::from_utf8(output.stdout)?,
        String::from_utf8(output.stderr)?,
    ))
}

/// A child process, killed if the test ends before the child does.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A step of the binary's scenario.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// `gridledger --token … audit verify`, expected to succeed or fail with this text.
    Verify(Option<&'static str>),
    Revoke,
    Sighup,
}

#[test]
fn the_binary_adds_and_revokes_principals_and_reloads_them_on_sighup() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let directory = tempfile::tempdir()?;
    let file = directory.path().join("auth.json");
    let file_text = file.to_string_lossy().into_owned();
    let (added, token, _) = gridledger(&[
        "auth",
        "add",
        "--file",
        &file_text,
        "--id",
        "auditor-1",
        "--role",
        "auditor",
        "--scope",
        "runzhou",
    ])?;
    anyhow::ensure!(added, "auth add failed");
    let token = token.trim().to_owned();
    anyhow::ensure!(token.starts_with("glt_auditor-1_") && token.len() == 14 + 43, "{token}");
    assert_eq!(std::fs::metadata(&file)?.permissions().mode() & 0o777, 0o600);
    let (listed, list, _) = gridledger(&["auth", "list", "--file", &file_text])?;
    anyhow::ensure!(
        listed && list.starts_with("auditor-1 ") && !list.contains(&token[14..]),
        "{list}"
    );

    // Polling off: only SIGHUP reloads.
    let data = directory.path().join("data");
    let mut child = Reaped(
        Command::new(env!("CARGO_BIN_EXE_gridledger"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--auth-reload-interval",
                "0",
                "--auth",
                &file_text,
                "--data",
            ])
            .arg(&data)
            .env("GRIDLEDGER_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?,
    );
    let stdout = child.0.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let stderr = child.0.stderr.take().ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let (log_lines, logged) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if log_lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut stdout_lines = BufReader::new(stdout).lines();
    let listening = stdout_lines
        .next()
        .ok_or_else(|| anyhow::anyhow!("serve printed nothing"))??;
    std::thread::spawn(move || for _ in stdout_lines {});
    let address = listening
        .strip_prefix("gridledger listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .ok_or_else(|| anyhow::anyhow!("unexpected first line {listening:?}"))?
        .to_owned();
    anyhow::ensure!(
        listening.ends_with(&format!(
            "authentication required (principals from {file_text}), plaintext"
        )),
        "{listening}"
    );
    let server = format!("http://{address}");

    let steps = [
        Step::Verify(None),
        Step::Revoke,
        Step::Verify(None),
        Step::Sighup,
        Step::Verify(Some("Unauthenticated: invalid or revoked token")),
    ];
    let mut failures = Vec::new();
    for step in steps {
        match step {
            Step::Verify(expected_error) => {
                let (ok, _, stderr) = gridledger(&["--server", &server, "--token", &token, "audit", "verify"])?;
                let as_expected = match expected_error {
                    None => ok,
                    Some(text) => !ok && stderr.contains(text),
                };
                if !as_expected {
                    failures.push(format!("{step:?}: succeeded {ok}, stderr {stderr}"));
                }
            }
            Step::Revoke => {
                let (ok, _, stderr) = gridledger(&["auth", "revoke", "--file", &file_text, "--id", "auditor-1"])?;
                anyhow::ensure!(ok, "revoke failed: {stderr}");
            }
            Step::Sighup => {
                let (ok, _, stderr) = kill("-HUP", child.0.id())?;
                anyhow::ensure!(ok, "kill -HUP failed: {stderr}");
                let reloaded = loop {
                    let line = without_colours(&logged.recv_timeout(Duration::from_secs(60))?);
                    if line.contains("reloaded the principals file") {
                        break line;
                    }
                };
                anyhow::ensure!(
                    reloaded.contains("trigger=\"SIGHUP\"") && reloaded.contains("principals=0"),
                    "{reloaded}"
                );
            }
        }
    }
    kill("-TERM", child.0.id())?;
    let status = child.0.wait()?;
    anyhow::ensure!(failures.is_empty(), "{}", failures.join("\n"));
    anyhow::ensure!(status.success(), "serve exited with {status}");
    Ok(())
}

/// A log line without its ANSI colour codes.
fn without_colours(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut in_escape = false;
    for character in line.chars() {
        match (in_escape, character) {
            (false, '\u{1b}') => in_escape = true,
            (false, _) => plain.push(character),
            (true, 'm') => in_escape = false,
            (true, _) => {}
        }
    }
    plain
}

/// `kill SIGNAL PID`.
fn kill(signal: &str, pid: u32) -> anyhow::Result<(bool, String, String)> {
    let output = Command::new("kill").args([signal, &pid.to_string()]).output()?;
    Ok((
        output.status.success(),
        String::from_utf8(output.stdout)?,
        String::from_utf8(output.stderr)?,
    ))
}
