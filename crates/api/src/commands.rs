//! Command requests between the wire and the domain: validated on receipt into
//! [`CommandRequest`]s (server side), and built from domain commands (client side).

use gridledger_codec::{
    WireError, escalation_reason_from_proto, escalation_reason_to_proto, evidence_list_from_proto,
    evidence_list_to_proto, forum_from_proto, forum_to_proto, location_from_proto, location_to_proto,
    required_timestamp, satisfaction_from_proto, satisfaction_to_proto, timestamp_from_proto, timestamp_to_proto,
    withdrawal_reason_from_proto, withdrawal_reason_to_proto,
};
use gridledger_domain::{
    AcceptAssignment, CategoryCode, ConcludeDeliberation, ConveneDeliberation, DepartmentName, DispatchIssue,
    EscalateIssue, EvaluateResolution, EvidenceList, Field, FreeText, GridCode, HandleInGrid, IssueCommand, IssueId,
    IssueTitle, Location, MeetingId, MeetingParties, ParticipantCount, PersonId, RecordCommitteeDecision, Registry,
    ReopenIssue, ReportIssue, ResolveIssue, SupportingDepartments, Timestamp, WithdrawIssue, quote_for_message,
};

use crate::proto;

/// Most characters of a request id.
pub const MAX_REQUEST_ID_CHARS: usize = 128;

/// The validated `CommandMeta` of a command: the idempotency key and the optional
/// concurrency and business-time settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandMeta {
    /// 1..=128 printable ASCII characters without spaces; reused on retries.
    pub request_id: String,
    /// Apply only if the issue is at this revision.
    pub expected_revision: Option<u64>,
    /// Business time; the server's clock when absent.
    pub occurred_at: Option<Timestamp>,
}

impl CommandMeta {
    /// Meta with a fresh request id (a UUIDv7) and nothing else set.
    pub fn with_fresh_request_id() -> Self {
        CommandMeta {
            request_id: uuid::Uuid::now_v7().to_string(),
            expected_revision: None,
            occurred_at: None,
        }
    }

    /// Checks a request id: 1..=128 printable ASCII characters without spaces.
    pub fn check_request_id(request_id: &str) -> Result<(), WireError> {
        if request_id.is_empty() {
            return Err(WireError::invalid(
                "meta.request_id",
                "is required: a key unique to this command, reused on retries",
            ));
        }
        if request_id.len() > MAX_REQUEST_ID_CHARS {
            return Err(WireError::invalid(
                "meta.request_id",
                format!(
                    "{} characters, at most {MAX_REQUEST_ID_CHARS} allowed",
                    request_id.len()
                ),
            ));
        }
        if let Some(bad) = request_id.chars().find(|character| !character.is_ascii_graphic()) {
            return Err(WireError::invalid(
                "meta.request_id",
                format!("character {bad:?} not allowed (printable ASCII without spaces)"),
            ));
        }
        Ok(())
    }

    fn from_proto(meta: Option<proto::CommandMeta>) -> Result<Self, WireError> {
        let meta = meta.ok_or_else(|| WireError::invalid("meta", "is required (it carries meta.request_id)"))?;
        Self::check_request_id(&meta.request_id)?;
        let occurred_at = meta
            .occurred_at
            .map(|occurred_at| timestamp_from_proto("meta.occurred_at", &occurred_at))
            .transpose()?;
        Ok(CommandMeta {
            request_id: meta.request_id,
            expected_revision: meta.expected_revision,
            occurred_at,
        })
    }

    fn to_proto(&self) -> Option<proto::CommandMeta> {
        Some(proto::CommandMeta {
            request_id: self.request_id.clone(),
            expected_revision: self.expected_revision,
            occurred_at: self.occurred_at.map(timestamp_to_proto),
        })
    }
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

/// A required issue id (a UUID). A refusal quotes at most a short prefix of the value
/// ([`quote_for_message`]).
pub fn parse_issue_id(field: &'static str, value: &str) -> Result<IssueId, WireError> {
    if value.is_empty() {
        return Err(WireError::invalid(field, "is required"));
    }
    IssueId::parse(value).map_err(|_| {
        WireError::invalid(
            field,
            format!("{:?} is not an issue id (a UUID)", quote_for_message(value)),
        )
    })
}

/// A report as a client sends it: checked for shape, but not against a registry (the
/// server holds the registry). `issue_id: None` lets the server choose the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueReport {
    pub issue_id: Option<IssueId>,
    pub grid: GridCode,
    pub category: CategoryCode,
    pub title: IssueTitle,
    pub description: FreeText,
    pub reporter_id: PersonId,
    /// Where the worker stood, if the app knows.
    pub location: Option<Location>,
    /// Photos and videos of the problem, uploaded before (`Client::upload_evidence`).
    pub evidence: EvidenceList,
}

impl From<&ReportIssue> for IssueReport {
    fn from(report: &ReportIssue) -> Self {
        IssueReport {
            issue_id: Some(report.issue_id()),
            grid: report.grid().clone(),
            category: report.category().code().clone(),
            title: report.title().clone(),
            description: report.description().clone(),
            reporter_id: report.reporter_id().clone(),
            location: report.location().cloned(),
            evidence: report.evidence().clone(),
        }
    }
}

impl IssueReport {
    /// The wire request.
    pub fn to_proto(&self, meta: &CommandMeta) -> proto::ReportIssueRequest {
        self.to_proto_with(meta.to_proto())
    }

    fn to_proto_with(&self, meta: Option<proto::CommandMeta>) -> proto::ReportIssueRequest {
        proto::ReportIssueRequest {
            meta,
            issue_id: self.issue_id.map(|issue_id| issue_id.to_string()).unwrap_or_default(),
            grid_code: self.grid.as_str().to_owned(),
            category: self.category.as_str().to_owned(),
            title: self.title.as_str().to_owned(),
            description: self.description.as_str().to_owned(),
            reporter_id: self.reporter_id.as_str().to_owned(),
            location: self.location.as_ref().map(location_to_proto),
            evidence: evidence_list_to_proto(self.evidence.entries()),
        }
    }
}

impl proto::ReportIssueRequest {
    /// Validates the report against the registry; an empty `issue_id` takes `choose_issue_id()`.
    pub fn into_command(
        self,
        registry: &Registry,
        choose_issue_id: impl FnOnce() -> IssueId,
    ) -> Result<CommandRequest, WireError> {
        let meta = CommandMeta::from_proto(self.meta)?;
        let issue_id_chosen_by_server = self.issue_id.is_empty();
        let issue_id = if issue_id_chosen_by_server {
            choose_issue_id()
        } else {
            parse_issue_id("issue_id", &self.issue_id)?
        };
        let grid =
            GridCode::parse(&self.grid_code).map_err(|error| WireError::invalid("grid_code", error.to_string()))?;
        let category =
            CategoryCode::parse(&self.category).map_err(|error| WireError::invalid("category", error.to_string()))?;
        let report = ReportIssue::new(
            registry,
            issue_id,
            grid,
            &category,
            IssueTitle::parse(&self.title)?,
            FreeText::parse(Field::Description, self.description)?,
            PersonId::parse(Field::Reporter, &self.reporter_id)?,
        )?
        .with_evidence(evidence_list_from_proto(&self.evidence)?);
        let report = match location_from_proto(self.location)? {
            Some(location) => report.with_location(registry, location)?,
            None => report,
        };
        Ok(CommandRequest {
            issue_id,
            issue_id_chosen_by_server,
            meta,
            command: IssueCommand::ReportIssue(report),
        })
    }
}

/// Free text where empty means absent.
fn optional_text(field: Field, value: String) -> Result<Option<FreeText>, WireError> {
    if value.is_empty() {
        return Ok(None);
    }
    Ok(Some(FreeText::parse(field, value)?))
}

fn strings<T: AsRef<str>>(entries: &[T]) -> Vec<String> {
    entries.iter().map(|entry| entry.as_ref().to_owned()).collect()
}

/// Implements `TryFrom<request>` for [`CommandRequest`]: meta and issue id, then the body.
macro_rules! command_from_request {
    ($request:ty, |$body:ident| $command:expr) => {
        impl TryFrom<$request> for CommandRequest {
            type Error = WireError;
            fn try_from(mut $body: $request) -> Result<Self, Self::Error> {
                let meta = CommandMeta::from_proto($body.meta.take())?;
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
    summary: FreeText::parse(Field::Summary, request.summary)?,
    location: location_from_proto(request.location)?,
    evidence: evidence_list_from_proto(&request.evidence)?,
}
.into());

command_from_request!(proto::DispatchIssueRequest, |request| DispatchIssue {
    assignee_id: PersonId::parse(Field::Assignee, &request.assignee_id)?,
    due_at: required_timestamp("due_at", request.due_at)?,
}
.into());

command_from_request!(proto::AcceptAssignmentRequest, |request| AcceptAssignment {
    assignee_id: PersonId::parse(Field::Assignee, &request.assignee_id)?,
}
.into());

command_from_request!(proto::ConveneDeliberationRequest, |request| ConveneDeliberation {
    meeting_id: MeetingId::parse(Field::Meeting, &request.meeting_id)?,
    forum: forum_from_proto("forum", request.forum)?,
    parties: MeetingParties::parse(&request.parties)?,
}
.into());

command_from_request!(proto::ConcludeDeliberationRequest, |request| ConcludeDeliberation {
    meeting_id: MeetingId::parse(Field::Meeting, &request.meeting_id)?,
    participants: ParticipantCount::new(request.participants)?,
    outcome: FreeText::parse(Field::Outcome, request.outcome)?,
    minutes: FreeText::parse(Field::Minutes, request.minutes)?,
}
.into());

command_from_request!(proto::EscalateIssueRequest, |request| EscalateIssue {
    reason: escalation_reason_from_proto("reason", request.reason)?,
    note: optional_text(Field::EscalationNote, request.note)?,
}
.into());

command_from_request!(proto::RecordCommitteeDecisionRequest, |request| {
    RecordCommitteeDecision {
        decision: FreeText::parse(Field::Decision, request.decision)?,
        lead_department: DepartmentName::parse(Field::LeadDepartment, &request.lead_department)?,
        supporting_departments: SupportingDepartments::parse(&request.supporting_departments)?,
        due_at: required_timestamp("due_at", request.due_at)?,
    }
    .into()
});

command_from_request!(proto::ResolveIssueRequest, |request| ResolveIssue {
    summary: FreeText::parse(Field::Summary, request.summary)?,
    location: location_from_proto(request.location)?,
    evidence: evidence_list_from_proto(&request.evidence)?,
}
.into());

command_from_request!(proto::EvaluateResolutionRequest, |request| EvaluateResolution {
    satisfaction: satisfaction_from_proto("satisfaction", request.satisfaction)?,
    evaluator_id: PersonId::parse(Field::Evaluator, &request.evaluator_id)?,
    comment: FreeText::parse(Field::Comment, request.comment)?,
}
.into());

command_from_request!(proto::ReopenIssueRequest, |request| ReopenIssue {
    reason: FreeText::parse(Field::ReopenReason, request.reason)?,
}
.into());

command_from_request!(proto::WithdrawIssueRequest, |request| WithdrawIssue {
    reason: withdrawal_reason_from_proto(request.reason, &request.duplicate_of)?,
}
.into());

/// A domain command as the wire request that carries it (the client side).
#[derive(Debug, Clone, PartialEq)]
pub enum WireCommand {
    ReportIssue(proto::ReportIssueRequest),
    HandleInGrid(proto::HandleInGridRequest),
    DispatchIssue(proto::DispatchIssueRequest),
    AcceptAssignment(proto::AcceptAssignmentRequest),
    ConveneDeliberation(proto::ConveneDeliberationRequest),
    ConcludeDeliberation(proto::ConcludeDeliberationRequest),
    EscalateIssue(proto::EscalateIssueRequest),
    RecordCommitteeDecision(proto::RecordCommitteeDecisionRequest),
    ResolveIssue(proto::ResolveIssueRequest),
    EvaluateResolution(proto::EvaluateResolutionRequest),
    ReopenIssue(proto::ReopenIssueRequest),
    WithdrawIssue(proto::WithdrawIssueRequest),
}

impl WireCommand {
    /// The wire request for `command` on `issue_id` with `meta`.
    pub fn of(issue_id: IssueId, meta: &CommandMeta, command: &IssueCommand) -> Self {
        let issue = issue_id.to_string();
        let meta = meta.to_proto();
        match command {
            IssueCommand::ReportIssue(report) => {
                let mut request = IssueReport::from(report).to_proto_with(meta);
                request.issue_id = issue;
                WireCommand::ReportIssue(request)
            }
            IssueCommand::HandleInGrid(command) => WireCommand::HandleInGrid(proto::HandleInGridRequest {
                meta,
                issue_id: issue,
                summary: command.summary.as_str().to_owned(),
                location: command.location.as_ref().map(location_to_proto),
                evidence: evidence_list_to_proto(command.evidence.entries()),
            }),
            IssueCommand::DispatchIssue(command) => WireCommand::DispatchIssue(proto::DispatchIssueRequest {
                meta,
                issue_id: issue,
                assignee_id: command.assignee_id.as_str().to_owned(),
                due_at: Some(timestamp_to_proto(command.due_at)),
            }),
            IssueCommand::AcceptAssignment(command) => WireCommand::AcceptAssignment(proto::AcceptAssignmentRequest {
                meta,
                issue_id: issue,
                assignee_id: command.assignee_id.as_str().to_owned(),
            }),
            IssueCommand::ConveneDeliberation(command) => {
                WireCommand::ConveneDeliberation(proto::ConveneDeliberationRequest {
                    meta,
                    issue_id: issue,
                    meeting_id: command.meeting_id.as_str().to_owned(),
                    forum: forum_to_proto(command.forum) as i32,
                    parties: strings(command.parties.entries()),
                })
            }
            IssueCommand::ConcludeDeliberation(command) => {
                WireCommand::ConcludeDeliberation(proto::ConcludeDeliberationRequest {
                    meta,
                    issue_id: issue,
                    meeting_id: command.meeting_id.as_str().to_owned(),
                    participants: command.participants.get(),
                    outcome: command.outcome.as_str().to_owned(),
                    minutes: command.minutes.as_str().to_owned(),
                })
            }
            IssueCommand::EscalateIssue(command) => WireCommand::EscalateIssue(proto::EscalateIssueRequest {
                meta,
                issue_id: issue,
                reason: escalation_reason_to_proto(command.reason) as i32,
                note: command
                    .note
                    .as_ref()
                    .map(|note| note.as_str().to_owned())
                    .unwrap_or_default(),
            }),
            IssueCommand::RecordCommitteeDecision(command) => {
                WireCommand::RecordCommitteeDecision(proto::RecordCommitteeDecisionRequest {
                    meta,
                    issue_id: issue,
                    decision: command.decision.as_str().to_owned(),
                    lead_department: command.lead_department.as_str().to_owned(),
                    supporting_departments: strings(command.supporting_departments.entries()),
                    due_at: Some(timestamp_to_proto(command.due_at)),
                })
            }
            IssueCommand::ResolveIssue(command) => WireCommand::ResolveIssue(proto::ResolveIssueRequest {
                meta,
                issue_id: issue,
                summary: command.summary.as_str().to_owned(),
                location: command.location.as_ref().map(location_to_proto),
                evidence: evidence_list_to_proto(command.evidence.entries()),
            }),
            IssueCommand::EvaluateResolution(command) => {
                WireCommand::EvaluateResolution(proto::EvaluateResolutionRequest {
                    meta,
                    issue_id: issue,
                    satisfaction: satisfaction_to_proto(command.satisfaction) as i32,
                    evaluator_id: command.evaluator_id.as_str().to_owned(),
                    comment: command.comment.as_str().to_owned(),
                })
            }
            IssueCommand::ReopenIssue(command) => WireCommand::ReopenIssue(proto::ReopenIssueRequest {
                meta,
                issue_id: issue,
                reason: command.reason.as_str().to_owned(),
            }),
            IssueCommand::WithdrawIssue(command) => {
                let (reason, duplicate_of) = withdrawal_reason_to_proto(&command.reason);
                WireCommand::WithdrawIssue(proto::WithdrawIssueRequest {
                    meta,
                    issue_id: issue,
                    reason: reason as i32,
                    duplicate_of,
                })
            }
        }
    }
}
