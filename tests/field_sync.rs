//! `SubmitCommands` (field sync) end to end, against real servers on 127.0.0.1:0: a queue
//! synced over one stream is answered command by command exactly as the unary calls answer
//! it; a stream cut in the middle and replayed whole leaves the log that one uninterrupted
//! sync leaves, refusing again what it refused; a client that stops reading its responses
//! is slowed down rather than buffered, while other clients go on; access control applies
//! to each command of a stream. Each queue is data, run through one `check`.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gridledger_api::client::{BearerToken, Client, ClientOptions, RpcCode};
use gridledger_api::proto;
use gridledger_api::proto::issue_service_client::IssueServiceClient;
use gridledger_api::{Acknowledgement, SubmitResult, SubmittedCommand, WireCommand};
use gridledger_domain::{IssueStatus, Registry};
use gridledger_server::auth::{Role, hash_secret, hash_secret_hex, parse_token, token_for};
use gridledger_server::{AuthConfig, ServerConfig};
use support::{GRID, TestServer};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

/// The actor the field app records, the same on every server so that logs compare.
const ACTOR: &str = "field-app-7";

/// A grid of the built-in registry outside [`GRID`] (same community).
const OTHER_GRID: &str = "runzhou.s1.c01.g02";

// ---------------------------------------------------------------------------------------
// Queues
// ---------------------------------------------------------------------------------------

/// What a command of a queue must come to.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Applied now, leaving the issue in this status.
    Ack(IssueStatus),
    /// Applied before (same request id): the original ack, with the status it left.
    Duplicate(IssueStatus),
    /// Refused with this code, naming this field (if any).
    Refused(RpcCode, Option<&'static str>),
}

impl Expect {
    /// Comparable with [`shape`].
    fn shape(self) -> String {
        match self {
            Expect::Ack(status) => format!("ack {status:?}"),
            Expect::Duplicate(status) => format!("duplicate {status:?}"),
            Expect::Refused(code, field) => format!("refused {code:?} field={field:?}"),
        }
    }
}

/// What a streamed result came to, in the words of [`Expect::shape`].
fn shape(result: &SubmitResult) -> String {
    match &result.outcome {
        Ok(ack) => {
            let status = ack.status.map_or("none".to_owned(), |status| format!("{status:?}"));
            if ack.duplicate {
                format!("duplicate {status}")
            } else {
                format!("ack {status}")
            }
        }
        Err(refusal) => format!("refused {:?} field={:?}", refusal.code, refusal.field.as_deref()),
    }
}

#[derive(Debug, Clone)]
struct Queued {
    command: WireCommand,
    expect: Expect,
}

/// A queue of commands as a field app keeps it: one business time a minute from a fixed
/// start, issue ids chosen by the app, request ids `q00`, `q01`, ...
#[derive(Debug, Clone)]
struct Queue {
    start_seconds: i64,
    issues: Vec<String>,
    entries: Vec<Queued>,
}

impl Queue {
    fn new(issue_count: usize) -> Queue {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since_epoch| since_epoch.as_secs());
        Queue {
            // Ten days ago, to the second: every business time of the queue is in the past.
            start_seconds: i64::try_from(now).unwrap_or(i64::MAX) - 10 * 86_400,
            issues: (0..issue_count).map(|_| uuid::Uuid::now_v7().to_string()).collect(),
            entries: Vec::new(),
        }
    }

    /// The business time of the next entry, plus `hours`.
    fn time(&self, hours: i64) -> Option<prost_types::Timestamp> {
        let minutes = i64::try_from(self.entries.len()).unwrap_or(i64::MAX);
        Some(prost_types::Timestamp {
            seconds: self.start_seconds + minutes * 60 + hours * 3_600,
            nanos: 0,
        })
    }

    /// The meta of the next entry, with its own request id.
    fn meta(&self) -> Option<proto::CommandMeta> {
        self.meta_with(&format!("q{:02}", self.entries.len()))
    }

    fn meta_with(&self, request_id: &str) -> Option<proto::CommandMeta> {
        Some(proto::CommandMeta {
            request_id: request_id.to_owned(),
            expected_revision: None,
            occurred_at: self.time(0),
        })
    }

    fn push(&mut self, command: WireCommand, expect: Expect) -> &mut Queue {
        self.entries.push(Queued { command, expect });
        self
    }

    /// The entry `index` once more, unchanged (same request id).
    fn again(&mut self, index: usize, expect: Expect) -> &mut Queue {
        let command = self.entries[index].command.clone();
        self.push(command, expect)
    }

    fn report_request(&self, issue_id: String, grid: &str, meta: Option<proto::CommandMeta>) -> WireCommand {
        WireCommand::ReportIssue(proto::ReportIssueRequest {
            meta,
            issue_id,
            grid_code: grid.to_owned(),
            category: "environment".to_owned(),
            title: "overflowing bins by the gate".to_owned(),
            description: "noted offline in the field".to_owned(),
            reporter_id: "resident-7".to_owned(),
            ..Default::default()
        })
    }

    fn report(&mut self, issue: usize, expect: Expect) -> &mut Queue {
        let command = self.report_request(self.issues[issue].clone(), GRID, self.meta());
        self.push(command, expect)
    }

    /// A report whose issue id the server chooses.
    fn report_without_id(&mut self, expect: Expect) -> &mut Queue {
        let command = self.report_request(String::new(), GRID, self.meta());
        self.push(command, expect)
    }

    fn report_in(&mut self, issue: usize, grid: &str, expect: Expect) -> &mut Queue {
        let command = self.report_request(self.issues[issue].clone(), grid, self.meta());
        self.push(command, expect)
    }

    fn report_with_request_id(&mut self, issue: usize, request_id: &str, expect: Expect) -> &mut Queue {
        let command = self.report_request(self.issues[issue].clone(), GRID, self.meta_with(request_id));
        self.push(command, expect)
    }

    fn handle(&mut self, issue: usize, expect: Expect) -> &mut Queue {
        let command = WireCommand::HandleInGrid(proto::HandleInGridRequest {
            meta: self.meta(),
            issue_id: self.issues[issue].clone(),
            summary: "cleared on the spot".to_owned(),
            ..Default::default()
        });
        self.push(command, expect)
    }

    /// A dispatch due `due_in_hours` after its business time (not after it: refused).
    fn dispatch(&mut self, issue: usize, due_in_hours: i64, expect: Expect) -> &mut Queue {
        let command = WireCommand::DispatchIssue(proto::DispatchIssueRequest {
            meta: self.meta(),
            issue_id: self.issues[issue].clone(),
            assignee_id: "worker-2".to_owned(),
            due_at: self.time(due_in_hours),
        });
        self.push(command, expect)
    }

    fn accept(&mut self, issue: usize, expect: Expect) -> &mut Queue {
        let command = WireCommand::AcceptAssignment(proto::AcceptAssignmentRequest {
            meta: self.meta(),
            issue_id: self.issues[issue].clone(),
            assignee_id: "worker-2".to_owned(),
        });
        self.push(command, expect)
    }

    fn escalate(&mut self, issue: usize, expect: Expect) -> &mut Queue {
        let command = WireCommand::EscalateIssue(proto::EscalateIssueRequest {
            meta: self.meta(),
            issue_id: self.issues[issue].clone(),
            reason: proto::EscalationReason::Widespread as i32,
            note: String::new(),
        });
        self.push(command, expect)
    }

    fn decide(&mut self, issue: usize, expect: Expect) -> &mut Queue {
        let command = WireCommand::RecordCommitteeDecision(proto::RecordCommitteeDecisionRequest {
            meta: self.meta(),
            issue_id: self.issues[issue].clone(),
            decision: "joint repair".to_owned(),
            lead_department: "housing".to_owned(),
            supporting_departments: vec!["water".to_owned()],
            due_at: self.time(14 * 24),
        });
        self.push(command, expect)
    }

    fn resolve(&mut self, issue: usize, expect: Expect) -> &mut Queue {
        let command = WireCommand::ResolveIssue(proto::ResolveIssueRequest {
            meta: self.meta(),
            issue_id: self.issues[issue].clone(),
            summary: "bins emptied, schedule changed".to_owned(),
            ..Default::default()
        });
        self.push(command, expect)
    }

    fn evaluate(&mut self, issue: usize, expect: Expect) -> &mut Queue {
        let command = WireCommand::EvaluateResolution(proto::EvaluateResolutionRequest {
            meta: self.meta(),
            issue_id: self.issues[issue].clone(),
            satisfaction: proto::Satisfaction::Satisfied as i32,
            evaluator_id: "resident-7".to_owned(),
            comment: String::new(),
        });
        self.push(command, expect)
    }

    fn reopen(&mut self, issue: usize, expect: Expect) -> &mut Queue {
        let command = WireCommand::ReopenIssue(proto::ReopenIssueRequest {
            meta: self.meta(),
            issue_id: self.issues[issue].clone(),
            reason: "overflowing again".to_owned(),
        });
        self.push(command, expect)
    }

    fn withdraw(&mut self, issue: usize, expect: Expect) -> &mut Queue {
        let command = WireCommand::WithdrawIssue(proto::WithdrawIssueRequest {
            meta: self.meta(),
            issue_id: self.issues[issue].clone(),
            reason: proto::WithdrawalReason::ReporterWithdrew as i32,
            duplicate_of: String::new(),
        });
        self.push(command, expect)
    }

    fn submitted(&self) -> Vec<SubmittedCommand> {
        self.entries
            .iter()
            .map(|entry| SubmittedCommand::from(entry.command.clone()))
            .collect()
    }

    /// The request ids of reports whose issue id the server chooses.
    fn server_chosen(&self) -> HashSet<String> {
        self.submitted()
            .into_iter()
            .filter(|command| {
                matches!(
                    command.clone().into_proto().command,
                    Some(proto::submit_commands_request::Command::ReportIssue(ref report)) if report.issue_id.is_empty()
                )
            })
            .map(|command| command.request_id().to_owned())
            .collect()
    }
}

/// Issues A to E and one never reported; a mixed queue with refusals (disallowed transitions, invalid fields, an
/// unknown issue, an issue reported twice) and repeats (request ids sent twice).
fn mixed_queue(with_server_chosen_report: bool) -> Queue {
    use Expect::{Ack, Duplicate, Refused};
    use IssueStatus::{Escalated, InProgress, Reopened, Reported, Resolved, Withdrawn};
    const A: usize = 0;
    const B: usize = 1;
    const C: usize = 2;
    const D: usize = 3;
    const NEVER_REPORTED: usize = 4;
    const E: usize = 5;
    let mut queue = Queue::new(6);
    queue
        .report(A, Ack(Reported))
        .report(B, Ack(Reported))
        // Refused now (nothing to accept), allowed once the dispatch after it is applied:
        // a replay must refuse it again all the same.
        .report(E, Ack(Reported))
        .accept(E, Refused(RpcCode::FailedPrecondition, None))
        .dispatch(E, 24, Ack(InProgress))
        // Not resolved yet: a disallowed transition.
        .evaluate(A, Refused(RpcCode::FailedPrecondition, None))
        .dispatch(A, 72, Ack(InProgress))
        .accept(A, Ack(InProgress))
        .again(0, Duplicate(Reported))
        .handle(B, Ack(Resolved))
        .dispatch(B, 72, Refused(RpcCode::FailedPrecondition, None))
        .report(C, Ack(Reported))
        // Due before its business time: an invalid field (decided on the issue's state).
        .dispatch(C, -1, Refused(RpcCode::InvalidArgument, Some("due_at")))
        .again(12, Refused(RpcCode::InvalidArgument, Some("due_at")))
        .resolve(A, Ack(Resolved))
        .evaluate(A, Ack(Resolved))
        .evaluate(B, Ack(Resolved))
        .report_with_request_id(
            D,
            "not valid",
            Refused(RpcCode::InvalidArgument, Some("meta.request_id")),
        )
        .report(D, Ack(Reported))
        .escalate(D, Ack(Escalated))
        // Escalated, and no committee decision yet.
        .resolve(D, Refused(RpcCode::FailedPrecondition, None))
        .decide(D, Ack(Escalated))
        .resolve(D, Ack(Resolved))
        .again(6, Duplicate(InProgress))
        .reopen(A, Ack(Reopened))
        .withdraw(C, Ack(Withdrawn))
        // Reported already, under another request id.
        .report(A, Refused(RpcCode::FailedPrecondition, None))
        .handle(NEVER_REPORTED, Refused(RpcCode::NotFound, None))
        .report_in(B, OTHER_GRID, Refused(RpcCode::FailedPrecondition, None))
        .handle(A, Ack(Resolved));
    if with_server_chosen_report {
        let first = queue.entries.len();
        queue.report_without_id(Ack(Reported)).again(first, Duplicate(Reported));
    }
    queue
}

// ---------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------

/// What a command came to, in the terms the stream and the unary calls share.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Ack {
        issue_id: String,
        revision: u64,
        status: String,
        duplicate: bool,
    },
    Refused {
        code: String,
        message: String,
    },
}

impl Outcome {
    fn of_ack(ack: &Acknowledgement) -> Outcome {
        Outcome::Ack {
            issue_id: ack.issue_id.to_string(),
            revision: ack.revision,
            status: format!("{:?}", ack.status),
            duplicate: ack.duplicate,
        }
    }

    fn of_refusal(code: RpcCode, message: &str) -> Outcome {
        Outcome::Refused {
            code: format!("{code:?}"),
            message: message.to_owned(),
        }
    }

    fn of_streamed(result: &SubmitResult) -> Outcome {
        match &result.outcome {
            Ok(ack) => Outcome::of_ack(ack),
            Err(refusal) => Outcome::of_refusal(refusal.code, &refusal.message),
        }
    }

    fn of_unary(answer: Result<proto::CommandAck, tonic::Status>) -> anyhow::Result<Outcome> {
        Ok(match answer {
            Ok(ack) => Outcome::of_ack(&Acknowledgement::try_from(ack)?),
            Err(status) => Outcome::of_refusal(RpcCode::from_wire(status.code() as i32), status.message()),
        })
    }

    /// The outcome whether or not it was applied before (a replay's acks are duplicates).
    fn applied_once(self) -> Outcome {
        match self {
            Outcome::Ack {
                issue_id,
                revision,
                status,
                ..
            } => Outcome::Ack {
                issue_id,
                revision,
                status,
                duplicate: false,
            },
            refused => refused,
        }
    }
}

/// Outcomes by request id (a request id sent twice has two), each list sorted; the issue id
/// of a report the server chose it for is checked to be the same for every outcome of its
/// request id, then replaced by a placeholder (servers choose differently).
fn by_request_id(
    outcomes: impl IntoIterator<Item = (String, Outcome)>,
    server_chosen: &HashSet<String>,
) -> anyhow::Result<BTreeMap<String, Vec<Outcome>>> {
    let mut grouped: BTreeMap<String, Vec<Outcome>> = BTreeMap::new();
    for (request_id, outcome) in outcomes {
        grouped.entry(request_id).or_default().push(outcome);
    }
    for (request_id, outcomes) in &mut grouped {
        if server_chosen.contains(request_id) {
            let mut chosen = HashSet::new();
            for outcome in outcomes.iter_mut() {
                if let Outcome::Ack { issue_id, .. } = outcome {
                    chosen.insert(std::mem::replace(issue_id, "(chosen by the server)".to_owned()));
                }
            }
            anyhow::ensure!(
                chosen.len() <= 1,
                "{request_id}: one report, several issues: {chosen:?}"
            );
        }
        outcomes.sort();
    }
    Ok(grouped)
}

fn url_of(address: SocketAddr) -> String {
    format!("http://{address}")
}

async fn connect(address: SocketAddr) -> anyhow::Result<Client> {
    Ok(Client::connect(&url_of(address), Some(ACTOR)).await?)
}

/// `message` as a request with `token` as its bearer token, if any.
fn with_token<T>(message: T, token: Option<&str>) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
    }
    Ok(request)
}

/// The unary call of `command`.
async fn send_unary(
    channel: &Channel,
    token: Option<&str>,
    command: WireCommand,
) -> anyhow::Result<Result<proto::CommandAck, tonic::Status>> {
    let mut client = IssueServiceClient::new(channel.clone());
    let answer = match command {
        WireCommand::ReportIssue(request) => client.report_issue(with_token(request, token)?).await,
        WireCommand::HandleInGrid(request) => client.handle_in_grid(with_token(request, token)?).await,
        WireCommand::DispatchIssue(request) => client.dispatch_issue(with_token(request, token)?).await,
        WireCommand::AcceptAssignment(request) => client.accept_assignment(with_token(request, token)?).await,
        WireCommand::ConveneDeliberation(request) => client.convene_deliberation(with_token(request, token)?).await,
        WireCommand::ConcludeDeliberation(request) => client.conclude_deliberation(with_token(request, token)?).await,
        WireCommand::EscalateIssue(request) => client.escalate_issue(with_token(request, token)?).await,
        WireCommand::RecordCommitteeDecision(request) => {
            client.record_committee_decision(with_token(request, token)?).await
        }
        WireCommand::ResolveIssue(request) => client.resolve_issue(with_token(request, token)?).await,
        WireCommand::EvaluateResolution(request) => client.evaluate_resolution(with_token(request, token)?).await,
        WireCommand::ReopenIssue(request) => client.reopen_issue(with_token(request, token)?).await,
        WireCommand::WithdrawIssue(request) => client.withdraw_issue(with_token(request, token)?).await,
    };
    Ok(answer.map(tonic::Response::into_inner))
}

/// One event of the log, without what depends on when or where it was written (position,
/// hashes, event id, recorded_at).
type LoggedEvent = (String, u64, String, i64, String, Vec<u8>);

/// The whole log, by stream and revision; refused if a request id wrote twice.
async fn log_of(client: &Client) -> anyhow::Result<Vec<LoggedEvent>> {
    let mut events = client.read_all(1, 0, false).await?;
    let mut logged = Vec::new();
    let mut request_ids = HashSet::new();
    while let Some(event) = events.next().await? {
        let record = event.record;
        anyhow::ensure!(
            request_ids.insert(record.request_id.clone()),
            "request id {} wrote twice",
            record.request_id
        );
        logged.push((
            record.stream_id,
            record.revision,
            record.event_type,
            record.occurred_at,
            record.request_id,
            record.event,
        ));
    }
    logged.sort();
    Ok(logged)
}

// ---------------------------------------------------------------------------------------
// a. A queue over one stream, answered as the unary calls answer it
// ---------------------------------------------------------------------------------------

/// Syncs `queue` over one stream on a fresh server, and sends it as unary calls, in order,
/// to another: every command's result must be what its unary call got (acks on issue,
/// revision, status and duplicate; refusals on code and message) and what the queue
/// expects (with the field at fault).
async fn check(queue: &Queue) -> anyhow::Result<()> {
    let streamed_server = TestServer::start().await?;
    let unary_server = TestServer::start().await?;
    let client = connect(streamed_server.server.local_addr).await?;
    let results = client
        .submit_command_list(queue.submitted())
        .await?
        .collect_all()
        .await?;
    anyhow::ensure!(
        results.len() == queue.entries.len(),
        "{} results for {} commands: {results:#?}",
        results.len(),
        queue.entries.len()
    );
    let server_chosen = queue.server_chosen();
    let streamed = by_request_id(
        results
            .iter()
            .map(|result| (result.request_id.clone(), Outcome::of_streamed(result))),
        &server_chosen,
    )?;
    let mut unary_outcomes = Vec::new();
    for entry in &queue.entries {
        let request_id = SubmittedCommand::from(entry.command.clone()).request_id().to_owned();
        let answer = send_unary(&unary_server.channel, None, entry.command.clone()).await?;
        unary_outcomes.push((request_id, Outcome::of_unary(answer)?));
    }
    let unary = by_request_id(unary_outcomes, &server_chosen)?;
    for (request_id, outcomes) in &unary {
        assert_eq!(
            streamed.get(request_id),
            Some(outcomes),
            "{request_id}: streamed (left) and unary (right) differ"
        );
    }
    assert_eq!(
        streamed.len(),
        unary.len(),
        "request ids streamed: {:?}",
        streamed.keys()
    );
    // What the queue says, field included (which the unary status does not carry).
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in &queue.entries {
        let request_id = SubmittedCommand::from(entry.command.clone()).request_id().to_owned();
        expected.entry(request_id).or_default().push(entry.expect.shape());
    }
    let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for result in &results {
        got.entry(result.request_id.clone()).or_default().push(shape(result));
    }
    for shapes in expected.values_mut().chain(got.values_mut()) {
        shapes.sort();
    }
    assert_eq!(got, expected, "streamed (left) and expected (right) differ");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_synced_over_one_stream_is_answered_as_the_unary_calls_answer_it() -> anyhow::Result<()> {
    check(&mixed_queue(true)).await
}

/// What the stream cannot run: a request without a command is refused alone (naming the
/// field `command`), and one that cannot be read at all (over the size limit of a command)
/// ends the stream with its status, once the commands read before it are answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_command_is_refused_alone_and_an_unreadable_one_ends_the_stream() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut queue = Queue::new(1);
    queue.report(0, Expect::Ack(IssueStatus::Reported));
    let mut oversized = support::report_request("too large to read");
    oversized.description = "x".repeat(gridledger_api::MAX_COMMAND_REQUEST_BYTES);
    let requests = vec![
        proto::SubmitCommandsRequest::default(),
        SubmittedCommand::from(queue.entries[0].command.clone()).into_proto(),
        proto::SubmitCommandsRequest::from(WireCommand::ReportIssue(oversized)),
    ];
    let mut responses = server
        .issues()
        .submit_commands(tokio_stream::iter(requests))
        .await?
        .into_inner();
    let mut shapes = Vec::new();
    let ending = loop {
        match responses.message().await {
            Ok(Some(response)) => {
                let result = SubmitResult::try_from(response)?;
                shapes.push(format!("{:?} {}", result.request_id, shape(&result)));
            }
            Ok(None) => break None,
            Err(status) => break Some(status.code()),
        }
    };
    shapes.sort();
    assert_eq!(
        shapes,
        [
            "\"\" refused InvalidArgument field=Some(\"command\")",
            "\"q00\" ack Reported"
        ]
    );
    assert_eq!(ending, Some(tonic::Code::ResourceExhausted));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// b. A stream cut in the middle, then the whole queue replayed
// ---------------------------------------------------------------------------------------

/// A TCP relay in front of a server, whose connections can be cut at once, as a network
/// that goes away does.
struct CuttableRelay {
    address: SocketAddr,
    relay: tokio::task::JoinHandle<()>,
}

impl CuttableRelay {
    async fn start(target: SocketAddr) -> anyhow::Result<CuttableRelay> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let relay = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Ok(CuttableRelay { address, relay })
    }

    /// Closes every relayed connection (dropping the relay drops them all) and waits until
    /// the relay is gone.
    async fn cut(self) {
        self.relay.abort();
        let _ = self.relay.await;
    }
}

/// Syncs the queue over a relayed stream, feeding it `cut_after + 3` commands, reads
/// `cut_after` results, cuts the connection, then replays the whole queue on a new stream:
/// the log must be the reference's (`reference_log`, one uninterrupted sync of the queue on
/// another server), nothing written twice, and every command of the replay answered as in
/// the reference sync (acks as duplicates or not), refusals with the same code and message.
async fn check_cut_and_replay(
    queue: &Queue,
    cut_after: usize,
    reference_log: &[LoggedEvent],
    reference: &BTreeMap<String, Vec<Outcome>>,
) -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let relay = CuttableRelay::start(server.server.local_addr).await?;
    let cut_client = connect(relay.address).await?;
    let (feed, commands) = mpsc::channel(queue.entries.len());
    let mut cut_results = cut_client.submit_commands(ReceiverStream::new(commands)).await?;
    let fed = (cut_after + 3).min(queue.entries.len());
    for command in queue.submitted().into_iter().take(fed) {
        feed.send(command).await?;
    }
    for read in 0..cut_after {
        anyhow::ensure!(
            cut_results.next().await?.is_some(),
            "cut after {cut_after}: the stream ended after {read} results"
        );
    }
    relay.cut().await;
    drop((cut_results, cut_client, feed));

    let client = connect(server.server.local_addr).await?;
    let results = client
        .submit_command_list(queue.submitted())
        .await?
        .collect_all()
        .await?;
    let replayed = by_request_id(
        results
            .iter()
            .map(|result| (result.request_id.clone(), Outcome::of_streamed(result).applied_once())),
        &HashSet::new(),
    )?;
    assert_eq!(
        &replayed, reference,
        "cut after {cut_after}: replay (left) and reference (right) differ"
    );
    assert_eq!(
        log_of(&client).await?,
        reference_log,
        "cut after {cut_after}: the log differs from the reference's"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_in_the_middle_and_replayed_whole_leaves_the_log_one_sync_leaves() -> anyhow::Result<()> {
    let queue = mixed_queue(false);
    let reference_server = TestServer::start().await?;
    let reference_client = connect(reference_server.server.local_addr).await?;
    let results = reference_client
        .submit_command_list(queue.submitted())
        .await?
        .collect_all()
        .await?;
    let reference = by_request_id(
        results
            .iter()
            .map(|result| (result.request_id.clone(), Outcome::of_streamed(result).applied_once())),
        &HashSet::new(),
    )?;
    let reference_log = log_of(&reference_client).await?;
    anyhow::ensure!(reference_log.len() > 10, "the reference sync wrote {reference_log:?}");
    for cut_after in [0, 1, 4, 9, 15, 22] {
        check_cut_and_replay(&queue, cut_after, &reference_log, &reference).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// c. A client that stops reading its responses
// ---------------------------------------------------------------------------------------

/// The stalled client's HTTP/2 receive windows (stream and connection): the smallest
/// allowed, so that few responses fit before the server must stop sending.
const STALLED_CLIENT_WINDOW: u32 = 65_535;
/// The server's HTTP/2 receive window of a stream (hyper's default, which it keeps).
const SERVER_STREAM_WINDOW: usize = 1024 * 1024;
/// What the gRPC and HTTP/2 layers may hold besides the windows, on each side and in each
/// direction: a chunk of encoded messages (tonic yields 32 KiB at most), one more waiting
/// for send capacity, a frame or two.
const LAYER_ALLOWANCE: usize = 128 * 1024;
/// How long the generator must be idle to count as stopped. Only a pause: the assertion is
/// on how many commands it was asked for, which a slow machine makes smaller, not larger.
const QUIET: Duration = Duration::from_secs(2);
/// How long anything may take before the test gives up (a liveness guard, not a measure).
const PATIENCE: Duration = Duration::from_secs(120);

/// Reports, as many as asked for, each as large as a description may be; counts how many
/// it was asked for.
struct ReportGenerator {
    produced: watch::Sender<u64>,
    description: String,
    /// Set to end the stream: the next command asked for is none.
    stop: Arc<AtomicBool>,
}

impl ReportGenerator {
    fn request(&self, number: u64) -> proto::SubmitCommandsRequest {
        proto::SubmitCommandsRequest::from(WireCommand::ReportIssue(proto::ReportIssueRequest {
            meta: Some(proto::CommandMeta {
                // 120 characters, so that a response is not tiny either.
                request_id: format!("stalled-{number:08}-{}", "r".repeat(103)),
                expected_revision: None,
                occurred_at: None,
            }),
            issue_id: String::new(),
            grid_code: GRID.to_owned(),
            category: "environment".to_owned(),
            title: format!("report {number} of a client that does not read"),
            description: self.description.clone(),
            reporter_id: "resident-7".to_owned(),
            ..Default::default()
        }))
    }
}

impl Iterator for ReportGenerator {
    type Item = proto::SubmitCommandsRequest;

    fn next(&mut self) -> Option<Self::Item> {
        if self.stop.load(Ordering::SeqCst) {
            return None;
        }
        let number = *self.produced.borrow() + 1;
        self.produced.send_replace(number);
        Some(self.request(number))
    }
}

/// Waits until the count stops growing for [`QUIET`]; fails as soon as it passes `bound`.
async fn wait_until_quiet(produced: &mut watch::Receiver<u64>, bound: u64) -> anyhow::Result<u64> {
    loop {
        let count = *produced.borrow_and_update();
        anyhow::ensure!(
            count <= bound,
            "the server pulled {count} commands from a client that reads no response (at most {bound} expected)"
        );
        match tokio::time::timeout(QUIET, produced.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => anyhow::bail!("the generator was dropped: the stream ended"),
            Err(_quiet) => return Ok(count),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_slowed_down_and_other_clients_go_on() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let address = server.server.local_addr;
    let (produced, mut produced_count) = watch::channel(0_u64);
    let stop = Arc::new(AtomicBool::new(false));
    let generator = ReportGenerator {
        produced,
        stop: stop.clone(),
        // Free text may have 8 KiB.
        description: "d".repeat(8_000),
    };
    // Less than each message's encoded size (the description alone; the request id, issue
    // id and hash alone), so that the bound errs on the generous side.
    let request_bytes = generator.description.len();
    let smallest_response_bytes = 120 + 36 + 32;
    let in_flight = gridledger_server::SUBMIT_COMMANDS_WINDOW + gridledger_server::SUBMIT_COMMANDS_RESPONSE_BUFFER;
    let requests_held = (SERVER_STREAM_WINDOW + 2 * LAYER_ALLOWANCE) / request_bytes;
    let responses_held = (STALLED_CLIENT_WINDOW as usize + 2 * LAYER_ALLOWANCE) / smallest_response_bytes;
    let bound = u64::try_from(in_flight + requests_held + responses_held + 1)?;

    let stalled_channel = Endpoint::from_shared(url_of(address))?
        .initial_stream_window_size(STALLED_CLIENT_WINDOW)
        .initial_connection_window_size(STALLED_CLIENT_WINDOW)
        .connect()
        .await?;
    let mut stalled = IssueServiceClient::new(stalled_channel)
        .submit_commands(tokio_stream::iter(generator))
        .await?
        .into_inner();
    let stalled_at = wait_until_quiet(&mut produced_count, bound).await?;
    anyhow::ensure!(stalled_at > 0, "the server read nothing at all");

    // Other clients, each on a connection of its own, are not held up.
    let reported = server
        .issues()
        .report_issue(support::report_request("reported while another client stalls"))
        .await?
        .into_inner();
    anyhow::ensure!(reported.status == proto::IssueStatus::Reported as i32, "{reported:?}");
    let other = connect(address).await?;
    let mut queue = Queue::new(2);
    queue
        .report(0, Expect::Ack(IssueStatus::Reported))
        .report(1, Expect::Ack(IssueStatus::Reported))
        .handle(0, Expect::Ack(IssueStatus::Resolved));
    let results = other
        .submit_command_list(queue.submitted())
        .await?
        .collect_all()
        .await?;
    let mut shapes: Vec<String> = results.iter().map(shape).collect();
    shapes.sort();
    assert_eq!(shapes, ["ack Reported", "ack Reported", "ack Resolved"]);
    let count = *produced_count.borrow();
    anyhow::ensure!(count <= bound, "{count} commands pulled, at most {bound} expected");

    // Reading again lets the stalled client go on. Once it stops sending (a half-close),
    // every command it sent is answered, then the stream ends.
    let mut answered = HashSet::new();
    tokio::time::timeout(PATIENCE, async {
        while *produced_count.borrow() <= stalled_at {
            let response = stalled
                .message()
                .await?
                .ok_or_else(|| anyhow::anyhow!("the stalled stream ended while its client was still sending"))?;
            answered.insert(response.request_id);
        }
        stop.store(true, Ordering::SeqCst);
        while let Some(response) = stalled.message().await? {
            anyhow::ensure!(
                matches!(response.result, Some(proto::submit_commands_response::Result::Ack(_))),
                "{response:?}"
            );
            answered.insert(response.request_id);
        }
        Ok(())
    })
    .await
    .map_err(|_| anyhow::anyhow!("the stalled client was not read from again within {PATIENCE:?}"))??;
    let produced_in_all = *produced_count.borrow();
    assert_eq!(
        u64::try_from(answered.len())?,
        produced_in_all,
        "every command sent is answered, once"
    );
    server.server.shutdown().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// d. Access control, per command
// ---------------------------------------------------------------------------------------

/// A principal's token; its secret is derived from the id (a test needs no randomness).
fn token(id: &str) -> String {
    token_for(id, &hash_secret(id))
}

/// A server with access control over the built-in registry: a grid worker of [`GRID`], an
/// analyst and an admin of the district.
async fn start_with_auth() -> anyhow::Result<(tempfile::TempDir, gridledger_server::RunningServer)> {
    let directory = tempfile::tempdir()?;
    let principals_file = directory.path().join("principals.json");
    let mut entries = Vec::new();
    for (id, role, scope) in [
        ("worker", Role::GridWorker, GRID),
        ("analyst", Role::Analyst, "runzhou"),
        ("admin", Role::Admin, "runzhou"),
    ] {
        let token = token(id);
        let (_, secret) = parse_token(&token).ok_or_else(|| anyhow::anyhow!("a token of token_for parses"))?;
        entries.push(serde_json::json!({
            "id": id,
            "role": role,
            "scopes": [scope],
            "token_sha256": hash_secret_hex(secret),
        }));
    }
    std::fs::write(
        &principals_file,
        serde_json::json!({ "principals": entries }).to_string(),
    )?;
    let server = gridledger_server::start(
        ServerConfig {
            auth: Some(AuthConfig {
                reload_interval: None,
                reload_on_sighup: false,
                ..AuthConfig::new(&principals_file)
            }),
            registry: Registry::builtin_runzhou(),
            ..support::loopback_config(directory.path().join("data"))?
        },
        std::future::pending(),
    )
    .await?;
    Ok((directory, server))
}

async fn connect_as(address: SocketAddr, id: &str) -> anyhow::Result<Client> {
    let options = ClientOptions {
        token: Some(BearerToken::new(token(id))),
        ..ClientOptions::default()
    };
    Ok(Client::connect_with(&url_of(address), &options).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_command_of_a_stream_is_authorized_as_its_unary_call_and_a_refusal_ends_nothing() -> anyhow::Result<()> {
    use Expect::{Ack, Refused};
    let (_directory, server) = start_with_auth().await?;
    let address = server.local_addr;
    let mut queue = Queue::new(2);
    queue
        .report(0, Ack(IssueStatus::Reported))
        // A grid worker does not dispatch.
        .dispatch(0, 72, Refused(RpcCode::PermissionDenied, None))
        // Nor report outside their grid.
        .report_in(1, OTHER_GRID, Refused(RpcCode::PermissionDenied, None))
        .handle(0, Ack(IssueStatus::Resolved));
    let worker = connect_as(address, "worker").await?;
    let results = worker
        .submit_command_list(queue.submitted())
        .await?
        .collect_all()
        .await?;
    let by_id: BTreeMap<String, &SubmitResult> = results
        .iter()
        .map(|result| (result.request_id.clone(), result))
        .collect();
    anyhow::ensure!(by_id.len() == queue.entries.len(), "{results:#?}");
    let channel = Endpoint::from_shared(url_of(address))?.connect().await?;
    for entry in &queue.entries {
        let request_id = SubmittedCommand::from(entry.command.clone()).request_id().to_owned();
        let streamed = by_id
            .get(&request_id)
            .ok_or_else(|| anyhow::anyhow!("no result for {request_id}"))?;
        assert_eq!(shape(streamed), entry.expect.shape(), "{request_id}");
        // The unary call of the same command answers the same (an applied one now as a
        // duplicate).
        let unary = send_unary(&channel, Some(&token("worker")), entry.command.clone()).await?;
        assert_eq!(
            Outcome::of_streamed(streamed).applied_once(),
            Outcome::of_unary(unary)?.applied_once(),
            "{request_id}: streamed (left) and unary (right) differ"
        );
    }
    // The worker's events name the worker.
    let admin = connect_as(address, "admin").await?;
    let mut events = admin.read_all(1, 0, false).await?;
    let mut actors = HashSet::new();
    while let Some(event) = events.next().await? {
        actors.insert(event.record.actor_id);
    }
    assert_eq!(actors, HashSet::from(["worker".to_owned()]));
    // A role that may send no command may not open the stream at all.
    let analyst = connect_as(address, "analyst").await?;
    let refused = analyst
        .submit_command_list(queue.submitted())
        .await
        .map(|_| ())
        .map_err(|error| error.code());
    assert_eq!(refused, Err(Some(RpcCode::PermissionDenied)));
    Ok(())
}

/// A grid app's stream left open and idle does not hold up a server's shutdown: the stream
/// ends UNAVAILABLE, saying to send the rest again, once what it carried is answered.
#[tokio::test]
async fn an_idle_stream_ends_unavailable_when_the_server_shuts_down() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (commands, requests) = mpsc::channel::<proto::SubmitCommandsRequest>(4);
    let mut responses = server
        .issues()
        .submit_commands(ReceiverStream::new(requests))
        .await?
        .into_inner();
    let report = support::report_request("sent just before the shutdown");
    commands
        .send(proto::SubmitCommandsRequest {
            command: Some(proto::submit_commands_request::Command::ReportIssue(report)),
        })
        .await?;
    let answered = responses
        .message()
        .await?
        .ok_or_else(|| anyhow::anyhow!("no response"))?;
    assert!(
        matches!(answered.result, Some(proto::submit_commands_response::Result::Ack(_))),
        "{answered:?}"
    );
    // The app keeps its stream open (`commands` is not dropped) and sends nothing more.
    let shutdown = tokio::spawn(server.server.shutdown());
    let ending = responses.message().await.expect_err("the stream ends with a status");
    assert_eq!(ending.code(), tonic::Code::Unavailable, "{}", ending.message());
    assert!(ending.message().contains("shutting down"), "{}", ending.message());
    shutdown.await??;
    drop(commands);
    Ok(())
}

/// The refusals a replay is answered from outlive the server: a queue synced, the server
/// restarted, the queue replayed — a command refused the first time is refused the same way
/// although the issue has since moved to where it would be allowed.
#[tokio::test]
async fn a_refusal_is_replayed_the_same_way_after_the_server_restarts() -> anyhow::Result<()> {
    use gridledger_api::CommandMeta;
    use gridledger_domain::{AcceptAssignment, DispatchIssue, Field, IssueCommand, IssueId, PersonId, Timestamp};

    let server = TestServer::start().await?;
    let issue_id = IssueId::from_uuid(uuid::Uuid::now_v7())?;
    let meta = |request_id: &str| CommandMeta {
        request_id: request_id.to_owned(),
        expected_revision: None,
        occurred_at: None,
    };
    let mut report = support::issue_report("accepted before it was dispatched")?;
    report.issue_id = Some(issue_id);
    let assignee = PersonId::parse(Field::Assignee, "responder-4")?;
    let due_at = Timestamp::from_unix_micros(
        i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_micros())? + 7 * 86_400 * 1_000_000,
    );
    let queue = vec![
        SubmittedCommand::report(&meta("restart-1"), &report),
        // Refused: nothing is dispatched yet.
        SubmittedCommand::new(
            issue_id,
            &meta("restart-2"),
            &IssueCommand::AcceptAssignment(AcceptAssignment {
                assignee_id: assignee.clone(),
            }),
        ),
        SubmittedCommand::new(
            issue_id,
            &meta("restart-3"),
            &IssueCommand::DispatchIssue(DispatchIssue {
                assignee_id: assignee.clone(),
                due_at,
            }),
        ),
    ];
    /// Each request id's revision and duplicate flag, or its refusal's code and message.
    type Outcomes = BTreeMap<String, Result<(u64, bool), (RpcCode, String)>>;
    let outcomes = |results: Vec<SubmitResult>| -> Outcomes {
        results
            .into_iter()
            .map(|result| {
                let outcome = result
                    .outcome
                    .map(|ack| (ack.revision, ack.duplicate))
                    .map_err(|refusal| (refusal.code, refusal.message));
                (result.request_id, outcome)
            })
            .collect()
    };
    let first = outcomes(
        connect(server.server.local_addr)
            .await?
            .submit_command_list(queue.clone())
            .await?
            .collect_all()
            .await?,
    );
    let refused_first = first.get("restart-2").cloned();
    assert!(
        matches!(&refused_first, Some(Err((RpcCode::FailedPrecondition, _)))),
        "{first:?}"
    );
    let head = server.head_position().await?;
    let TestServer { directory, server, .. } = server;
    server.shutdown().await?;
    let data_dir = directory.path().join("data");
    let server = TestServer::start_in(directory, data_dir).await?;
    let replayed = outcomes(
        connect(server.server.local_addr)
            .await?
            .submit_command_list(queue)
            .await?
            .collect_all()
            .await?,
    );
    assert_eq!(replayed.get("restart-2").cloned(), refused_first, "{replayed:?}");
    assert_eq!(replayed.get("restart-1"), Some(&Ok((0, true))), "{replayed:?}");
    assert_eq!(replayed.get("restart-3"), Some(&Ok((1, true))), "{replayed:?}");
    assert_eq!(server.head_position().await?, head, "nothing written by the replay");
    Ok(())
}
