//! Command requests from the wire, validated on receipt into domain commands.

use gridledger_domain::{
    AcceptAssignment, CategoryCode, ConcludeDeliberation, ConveneDeliberation, DepartmentName, DispatchIssue,
    DomainError, EscalateIssue, EvaluateResolution, FreeText, GridCode, HandleInGrid, IssueCommand, IssueId,
    IssueTitle, MeetingId, MeetingParties, ParticipantCount, PersonId, RecordCommitteeDecision, Registry, ReopenIssue,
    ReportIssue, ResolveIssue, SupportingDepartments, Timestamp, WithdrawIssue,
};

use crate::enums::{escalation_reason_from_proto, forum_from_proto, satisfaction_from_proto};
use crate::events::{optional_text, withdrawal_from_proto};
use crate::invalid;
use crate::proto;
use crate::time::{required_timestamp, timestamp_from_proto};

/// Most characters of a request id.
const MAX_REQUEST_ID_CHARS: usize = 128;

/// The validated `CommandMeta` of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandMeta {
    /// 1..=128 printable ASCII characters without spaces.
    pub request_id: String,
    pub expected_revision: Option<u64>,
    pub occurred_at: Option<Timestamp>,
}

/// A command request, validated: which issue, with what meta, doing what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRequest {
    pub issue_id: IssueId,
    /// True when the client left `issue_id` empty on ReportIssue and the server chose it:
    /// a retry then means the issue the first attempt created, whatever id this one got.
    pub issue_id_chosen_by_server: bool,
    pub meta: CommandMeta,
    pub command: IssueCommand,
}

fn meta_from_proto(meta: Option<proto::CommandMeta>) -> Result<CommandMeta, DomainError> {
    let meta = meta.ok_or_else(|| invalid("meta", "is required (it carries meta.request_id)"))?;
    let request_id = meta.request_id;
    if request_id.is_empty() {
        return Err(invalid(
            "meta.request_id",
            "is required: a key unique to this command, reused on retries",
        ));
    }
    if request_id.len() > MAX_REQUEST_ID_CHARS {
        return Err(invalid(
            "meta.request_id",
            format!(
                "{} characters, at most {MAX_REQUEST_ID_CHARS} allowed",
                request_id.len()
            ),
        ));
    }
    if let Some(bad) = request_id.chars().find(|character| !character.is_ascii_graphic()) {
        return Err(invalid(
            "meta.request_id",
            format!("character {bad:?} not allowed (printable ASCII without spaces)"),
        ));
    }
    let occurred_at = meta
        .occurred_at
        .map(|occurred_at| timestamp_from_proto("meta.occurred_at", &occurred_at))
        .transpose()?;
    Ok(CommandMeta {
        request_id,
        expected_revision: meta.expected_revision,
        occurred_at,
    })
}

/// A required issue id (a UUID).
pub fn parse_issue_id(field: &'static str, value: &str) -> Result<IssueId, DomainError> {
    if value.is_empty() {
        return Err(invalid(field, "is required"));
    }
    IssueId::parse(value).map_err(|_| invalid(field, format!("{value:?} is not an issue id (a UUID)")))
}

impl proto::ReportIssueRequest {
    /// Validates the report against the registry; an empty `issue_id` takes `choose_issue_id()`.
    pub fn into_command(
        self,
        registry: &Registry,
        choose_issue_id: impl FnOnce() -> IssueId,
    ) -> Result<CommandRequest, DomainError> {
        let meta = meta_from_proto(self.meta)?;
        let issue_id_chosen_by_server = self.issue_id.is_empty();
        let issue_id = if issue_id_chosen_by_server {
            choose_issue_id()
        } else {
            parse_issue_id("issue_id", &self.issue_id)?
        };
        let grid = GridCode::parse(&self.grid_code).map_err(|error| error.into_field_error("grid_code"))?;
        let category = CategoryCode::parse(&self.category).map_err(|error| error.into_field_error("category"))?;
        let report = ReportIssue::new(
            registry,
            issue_id,
            grid,
            &category,
            IssueTitle::parse(&self.title)?,
            FreeText::parse("description", self.description)?,
            PersonId::parse("reporter_id", &self.reporter_id)?,
        )?;
        Ok(CommandRequest {
            issue_id,
            issue_id_chosen_by_server,
            meta,
            command: IssueCommand::ReportIssue(report),
        })
    }
}

/// Implements `TryFrom<request>` for [`CommandRequest`]: meta and issue id, then the body.
macro_rules! command_from_request {
    ($request:ty, |$body:ident| $command:expr) => {
        impl TryFrom<$request> for CommandRequest {
            type Error = DomainError;
            fn try_from(mut $body: $request) -> Result<Self, Self::Error> {
                let meta = meta_from_proto($body.meta.take())?;
                let issue_id = parse_issue_id("issue_id", &$body.issue_id)?;
                let command: IssueCommand = $command;
                Ok(CommandRequest {
                    issue_id,
                    issue_id_chosen_by_server: false,
                    meta,
                    command,
                })
            }
        }
    };
}

command_from_request!(proto::HandleInGridRequest, |request| HandleInGrid {
    summary: FreeText::parse("summary", request.summary)?,
}
.into());

command_from_request!(proto::DispatchIssueRequest, |request| DispatchIssue {
    assignee_id: PersonId::parse("assignee_id", &request.assignee_id)?,
    due_at: required_timestamp("due_at", request.due_at)?,
}
.into());

command_from_request!(proto::AcceptAssignmentRequest, |request| AcceptAssignment {
    assignee_id: PersonId::parse("assignee_id", &request.assignee_id)?,
}
.into());

command_from_request!(proto::ConveneDeliberationRequest, |request| ConveneDeliberation {
    meeting_id: MeetingId::parse("meeting_id", &request.meeting_id)?,
    forum: forum_from_proto("forum", request.forum)?,
    parties: MeetingParties::parse(&request.parties)?,
}
.into());

command_from_request!(proto::ConcludeDeliberationRequest, |request| ConcludeDeliberation {
    meeting_id: MeetingId::parse("meeting_id", &request.meeting_id)?,
    participants: ParticipantCount::new(request.participants)?,
    outcome: FreeText::parse("outcome", request.outcome)?,
    minutes: FreeText::parse("minutes", request.minutes)?,
}
.into());

command_from_request!(proto::EscalateIssueRequest, |request| EscalateIssue {
    reason: escalation_reason_from_proto("reason", request.reason)?,
    note: optional_text("note", request.note)?,
}
.into());

command_from_request!(proto::RecordCommitteeDecisionRequest, |request| {
    RecordCommitteeDecision {
        decision: FreeText::parse("decision", request.decision)?,
        lead_department: DepartmentName::parse("lead_department", &request.lead_department)?,
        supporting_departments: SupportingDepartments::parse(&request.supporting_departments)?,
        due_at: required_timestamp("due_at", request.due_at)?,
    }
    .into()
});

command_from_request!(proto::ResolveIssueRequest, |request| ResolveIssue {
    summary: FreeText::parse("summary", request.summary)?,
}
.into());

command_from_request!(proto::EvaluateResolutionRequest, |request| EvaluateResolution {
    satisfaction: satisfaction_from_proto("satisfaction", request.satisfaction)?,
    evaluator_id: PersonId::parse("evaluator_id", &request.evaluator_id)?,
    comment: FreeText::parse("comment", request.comment)?,
}
.into());

command_from_request!(proto::ReopenIssueRequest, |request| ReopenIssue {
    reason: FreeText::parse("reason", request.reason)?,
}
.into());

command_from_request!(proto::WithdrawIssueRequest, |request| WithdrawIssue {
    reason: withdrawal_from_proto(request.reason, &request.duplicate_of)?,
}
.into());
