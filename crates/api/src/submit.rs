//! The commands of a `SubmitCommands` stream between the wire and the domain: a streamed
//! request validated exactly as the unary RPC of the same name validates it (server side),
//! and [`SubmittedCommand`]s in, [`SubmitResult`]s out (client side, for
//! [`crate::client::Client::submit_commands`]).

use std::fmt;

use gridledger_codec::WireError;
use gridledger_domain::{CommandKind, IssueCommand, IssueId, Registry};

use crate::ack::Acknowledgement;
use crate::client::RpcCode;
use crate::commands::{CommandMeta, CommandRequest, IssueReport, WireCommand};
use crate::proto;
use crate::proto::submit_commands_request::Command as StreamedCommand;
use crate::proto::submit_commands_response::Result as StreamedResult;

/// The oneof's twelve fields, for the refusal of a request that sets none.
const COMMAND_FIELDS: &str = "report_issue, handle_in_grid, dispatch_issue, accept_assignment, convene_deliberation, conclude_deliberation, escalate_issue, record_committee_decision, resolve_issue, evaluate_resolution, reopen_issue, withdraw_issue";

impl proto::SubmitCommandsRequest {
    /// The kind of command the request carries; `None` when its oneof is empty. Its name is
    /// the name of the unary RPC that carries the same command (`ResolveIssue`).
    pub fn command_kind(&self) -> Option<CommandKind> {
        let kind = match self.command.as_ref()? {
            StreamedCommand::ReportIssue(_) => CommandKind::ReportIssue,
            StreamedCommand::HandleInGrid(_) => CommandKind::HandleInGrid,
            StreamedCommand::DispatchIssue(_) => CommandKind::DispatchIssue,
            StreamedCommand::AcceptAssignment(_) => CommandKind::AcceptAssignment,
            StreamedCommand::ConveneDeliberation(_) => CommandKind::ConveneDeliberation,
            StreamedCommand::ConcludeDeliberation(_) => CommandKind::ConcludeDeliberation,
            StreamedCommand::EscalateIssue(_) => CommandKind::EscalateIssue,
            StreamedCommand::RecordCommitteeDecision(_) => CommandKind::RecordCommitteeDecision,
            StreamedCommand::ResolveIssue(_) => CommandKind::ResolveIssue,
            StreamedCommand::EvaluateResolution(_) => CommandKind::EvaluateResolution,
            StreamedCommand::ReopenIssue(_) => CommandKind::ReopenIssue,
            StreamedCommand::WithdrawIssue(_) => CommandKind::WithdrawIssue,
        };
        Some(kind)
    }

    /// The command's `meta.request_id` as sent, unchecked: empty when the request has no
    /// command or no meta.
    pub fn request_id(&self) -> &str {
        let meta = match self.command.as_ref() {
            None => None,
            Some(StreamedCommand::ReportIssue(request)) => request.meta.as_ref(),
            Some(StreamedCommand::HandleInGrid(request)) => request.meta.as_ref(),
            Some(StreamedCommand::DispatchIssue(request)) => request.meta.as_ref(),
            Some(StreamedCommand::AcceptAssignment(request)) => request.meta.as_ref(),
            Some(StreamedCommand::ConveneDeliberation(request)) => request.meta.as_ref(),
            Some(StreamedCommand::ConcludeDeliberation(request)) => request.meta.as_ref(),
            Some(StreamedCommand::EscalateIssue(request)) => request.meta.as_ref(),
            Some(StreamedCommand::RecordCommitteeDecision(request)) => request.meta.as_ref(),
            Some(StreamedCommand::ResolveIssue(request)) => request.meta.as_ref(),
            Some(StreamedCommand::EvaluateResolution(request)) => request.meta.as_ref(),
            Some(StreamedCommand::ReopenIssue(request)) => request.meta.as_ref(),
            Some(StreamedCommand::WithdrawIssue(request)) => request.meta.as_ref(),
        };
        meta.map_or("", |meta| meta.request_id.as_str())
    }

    /// Validates the command exactly as the unary RPC of the same name does (a report
    /// against `registry`, taking `choose_issue_id()` when its `issue_id` is empty). A
    /// request without a command is refused naming the field `command`.
    pub fn into_command(
        self,
        registry: &Registry,
        choose_issue_id: impl FnOnce() -> IssueId,
    ) -> Result<CommandRequest, WireError> {
        match self.command {
            None => Err(WireError::invalid(
                "command",
                format!("is required: set one of {COMMAND_FIELDS}"),
            )),
            Some(StreamedCommand::ReportIssue(request)) => request.into_command(registry, choose_issue_id),
            Some(StreamedCommand::HandleInGrid(request)) => CommandRequest::try_from(request),
            Some(StreamedCommand::DispatchIssue(request)) => CommandRequest::try_from(request),
            Some(StreamedCommand::AcceptAssignment(request)) => CommandRequest::try_from(request),
            Some(StreamedCommand::ConveneDeliberation(request)) => CommandRequest::try_from(request),
            Some(StreamedCommand::ConcludeDeliberation(request)) => CommandRequest::try_from(request),
            Some(StreamedCommand::EscalateIssue(request)) => CommandRequest::try_from(request),
            Some(StreamedCommand::RecordCommitteeDecision(request)) => CommandRequest::try_from(request),
            Some(StreamedCommand::ResolveIssue(request)) => CommandRequest::try_from(request),
            Some(StreamedCommand::EvaluateResolution(request)) => CommandRequest::try_from(request),
            Some(StreamedCommand::ReopenIssue(request)) => CommandRequest::try_from(request),
            Some(StreamedCommand::WithdrawIssue(request)) => CommandRequest::try_from(request),
        }
    }
}

impl From<WireCommand> for proto::SubmitCommandsRequest {
    fn from(command: WireCommand) -> Self {
        let command = match command {
            WireCommand::ReportIssue(request) => StreamedCommand::ReportIssue(request),
            WireCommand::HandleInGrid(request) => StreamedCommand::HandleInGrid(request),
            WireCommand::DispatchIssue(request) => StreamedCommand::DispatchIssue(request),
            WireCommand::AcceptAssignment(request) => StreamedCommand::AcceptAssignment(request),
            WireCommand::ConveneDeliberation(request) => StreamedCommand::ConveneDeliberation(request),
            WireCommand::ConcludeDeliberation(request) => StreamedCommand::ConcludeDeliberation(request),
            WireCommand::EscalateIssue(request) => StreamedCommand::EscalateIssue(request),
            WireCommand::RecordCommitteeDecision(request) => StreamedCommand::RecordCommitteeDecision(request),
            WireCommand::ResolveIssue(request) => StreamedCommand::ResolveIssue(request),
            WireCommand::EvaluateResolution(request) => StreamedCommand::EvaluateResolution(request),
            WireCommand::ReopenIssue(request) => StreamedCommand::ReopenIssue(request),
            WireCommand::WithdrawIssue(request) => StreamedCommand::WithdrawIssue(request),
        };
        proto::SubmitCommandsRequest { command: Some(command) }
    }
}

/// One command for [`crate::client::Client::submit_commands`]: which issue, with what
/// meta, doing what. Its result comes back under its request id (`meta.request_id`), so
/// give every command of a queue its own id and keep it when the queue is sent again.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmittedCommand {
    request: proto::SubmitCommandsRequest,
}

impl SubmittedCommand {
    /// A lifecycle command (or a report built with a registry) for `issue_id`.
    pub fn new(issue_id: IssueId, meta: &CommandMeta, command: &IssueCommand) -> Self {
        SubmittedCommand::from(WireCommand::of(issue_id, meta, command))
    }

    /// A report as a client without the registry makes it; with `issue_id: None` the
    /// server chooses the id (and a replay with the same request id gets the issue the
    /// first attempt created).
    pub fn report(meta: &CommandMeta, report: &IssueReport) -> Self {
        SubmittedCommand::from(WireCommand::ReportIssue(report.to_proto(meta)))
    }

    /// The request id its result will carry.
    pub fn request_id(&self) -> &str {
        self.request.request_id()
    }

    /// The wire request.
    pub fn into_proto(self) -> proto::SubmitCommandsRequest {
        self.request
    }
}

impl From<WireCommand> for SubmittedCommand {
    fn from(command: WireCommand) -> Self {
        SubmittedCommand {
            request: proto::SubmitCommandsRequest::from(command),
        }
    }
}

/// Why the server refused one command of a stream: what the unary call's status would
/// have said, plus the request field at fault and whether to send it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRefusal {
    pub code: RpcCode,
    pub message: String,
    /// The request field at fault (`title`, `meta.request_id`, `due_at`), when one is.
    pub field: Option<String>,
    /// True when the same command (same request id) may succeed if sent again later
    /// (UNAVAILABLE and the like); false for a refusal, which a replay gets again.
    pub retryable: bool,
}

impl fmt::Display for CommandRefusal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{:?}: {}", self.code, self.message)
    }
}

impl From<proto::CommandError> for CommandRefusal {
    fn from(error: proto::CommandError) -> Self {
        CommandRefusal {
            code: RpcCode::from_wire(error.code),
            message: error.message,
            field: (!error.field.is_empty()).then_some(error.field),
            retryable: error.retryable,
        }
    }
}

/// The result of one command of a stream, under its request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitResult {
    /// The command's `meta.request_id` (empty when it had none, which is refused).
    pub request_id: String,
    /// The acknowledgement, exactly as the unary call would have answered, or the refusal.
    pub outcome: Result<Acknowledgement, CommandRefusal>,
}

impl TryFrom<proto::SubmitCommandsResponse> for SubmitResult {
    type Error = WireError;

    fn try_from(response: proto::SubmitCommandsResponse) -> Result<Self, WireError> {
        let outcome = match response.result {
            Some(StreamedResult::Ack(ack)) => Ok(Acknowledgement::try_from(ack)?),
            Some(StreamedResult::Error(error)) => Err(CommandRefusal::from(error)),
            None => return Err(WireError::invalid("result", "is required: an ack or an error")),
        };
        Ok(SubmitResult {
            request_id: response.request_id,
            outcome,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle_in_grid(request_id: &str) -> proto::HandleInGridRequest {
        proto::HandleInGridRequest {
            meta: Some(proto::CommandMeta {
                request_id: request_id.to_owned(),
                ..Default::default()
            }),
            issue_id: "0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506".to_owned(),
            summary: "swept".to_owned(),
            ..Default::default()
        }
    }

    #[test]
    fn a_streamed_command_is_validated_like_its_unary_request() {
        let registry = Registry::builtin_runzhou();
        let unused = || IssueId::from_uuid(uuid::Uuid::now_v7()).expect("a v7 uuid is not nil");
        let request = proto::SubmitCommandsRequest::from(WireCommand::HandleInGrid(handle_in_grid("r-1")));
        assert_eq!(request.command_kind(), Some(CommandKind::HandleInGrid));
        assert_eq!(request.request_id(), "r-1");
        assert_eq!(
            request.into_command(&registry, unused),
            CommandRequest::try_from(handle_in_grid("r-1"))
        );
        let bad = proto::SubmitCommandsRequest::from(WireCommand::HandleInGrid(handle_in_grid("has space")));
        assert_eq!(bad.request_id(), "has space");
        assert_eq!(
            bad.into_command(&registry, unused).map_err(|error| error.to_string()),
            CommandRequest::try_from(handle_in_grid("has space")).map_err(|error| error.to_string())
        );
        let empty = proto::SubmitCommandsRequest::default();
        assert_eq!((empty.command_kind(), empty.request_id()), (None, ""));
        assert!(matches!(
            empty.into_command(&registry, unused),
            Err(WireError::InvalidField { field: "command", .. })
        ));
    }

    #[test]
    fn results_come_back_as_acks_or_refusals() {
        let refusal = SubmitResult::try_from(proto::SubmitCommandsResponse {
            request_id: "r-2".to_owned(),
            result: Some(StreamedResult::Error(proto::CommandError {
                code: 9,
                message: "not now".to_owned(),
                field: String::new(),
                retryable: false,
            })),
        })
        .expect("converts");
        assert_eq!(
            refusal.outcome,
            Err(CommandRefusal {
                code: RpcCode::FailedPrecondition,
                message: "not now".to_owned(),
                field: None,
                retryable: false,
            })
        );
        let without_result = proto::SubmitCommandsResponse {
            request_id: "r-3".to_owned(),
            result: None,
        };
        assert!(SubmitResult::try_from(without_result).is_err());
    }
}
