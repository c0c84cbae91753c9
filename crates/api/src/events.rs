//! Events between the domain and their stored form: `EventRecord.event` holds one encoded
//! `IssueEventBody`, `EventRecord.event_type` names its variant, and `EventRecord.occurred_at`
//! its business time.

use gridledger_domain::{
    AssignmentAccepted, CategoryCode, CommitteeDecisionRecorded, DeliberationConcluded, DeliberationConvened,
    DepartmentName, DomainError, FreeText, GridCode, IssueDispatched, IssueEscalated, IssueEvent, IssueEventBody,
    IssueHandledInGrid, IssueId, IssueReopened, IssueReported, IssueResolved, IssueTitle, IssueWithdrawn, MeetingId,
    MeetingParties, ParticipantCount, PersonId, ResolutionEvaluated, SupportingDepartments, Timestamp,
    WithdrawalReason,
};
use prost::Message;

use crate::enums::{
    escalation_reason_from_proto, escalation_reason_to_proto, forum_from_proto, forum_to_proto,
    satisfaction_from_proto, satisfaction_to_proto,
};
use crate::proto;
use crate::proto::issue_event_body::Body;
use crate::time::{required_timestamp, timestamp_to_proto};

/// An event ready for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedEvent {
    pub event_type: &'static str,
    pub occurred_at_micros: i64,
    pub payload: Vec<u8>,
}

/// A stored event that does not decode into a domain event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventDecodeError {
    #[error("event payload does not decode as IssueEventBody: {0}")]
    Protobuf(String),
    #[error("event payload has no body")]
    EmptyBody,
    #[error("event_type {stored:?} does not match the payload's {payload}")]
    TypeMismatch { stored: String, payload: &'static str },
    #[error("event payload field is invalid: {0}")]
    Field(DomainError),
}

/// Encodes a domain event for the log.
pub fn encode_event(event: &IssueEvent) -> EncodedEvent {
    EncodedEvent {
        event_type: event.event_type(),
        occurred_at_micros: event.occurred_at.as_unix_micros(),
        payload: event_body_to_proto(&event.body).encode_to_vec(),
    }
}

/// Decodes an event stored by [`encode_event`], checking it against its stored type.
pub fn decode_event(event_type: &str, occurred_at_micros: i64, payload: &[u8]) -> Result<IssueEvent, EventDecodeError> {
    let wire = decode_event_body(payload)?;
    let body = event_body_from_proto(wire)?;
    if body.event_type() != event_type {
        return Err(EventDecodeError::TypeMismatch {
            stored: event_type.to_owned(),
            payload: body.event_type(),
        });
    }
    Ok(IssueEvent {
        occurred_at: Timestamp::from_unix_micros(occurred_at_micros),
        body,
    })
}

/// Decodes a stored payload into its wire message (for audit views).
pub fn decode_event_body(payload: &[u8]) -> Result<proto::IssueEventBody, EventDecodeError> {
    proto::IssueEventBody::decode(payload).map_err(|error| EventDecodeError::Protobuf(error.to_string()))
}

/// A domain event body as its wire message.
pub fn event_body_to_proto(body: &IssueEventBody) -> proto::IssueEventBody {
    let wire = match body {
        IssueEventBody::IssueReported(event) => Body::IssueReported(proto::IssueReported {
            issue_id: event.issue_id.to_string(),
            grid_code: event.grid.as_str().to_owned(),
            category: event.category.as_str().to_owned(),
            title: event.title.as_str().to_owned(),
            description: event.description.as_str().to_owned(),
            reporter_id: event.reporter_id.as_str().to_owned(),
            due_at: Some(timestamp_to_proto(event.due_at)),
        }),
        IssueEventBody::IssueHandledInGrid(event) => Body::IssueHandledInGrid(proto::IssueHandledInGrid {
            summary: event.summary.as_str().to_owned(),
        }),
        IssueEventBody::IssueDispatched(event) => Body::IssueDispatched(proto::IssueDispatched {
            assignee_id: event.assignee_id.as_str().to_owned(),
            due_at: Some(timestamp_to_proto(event.due_at)),
        }),
        IssueEventBody::AssignmentAccepted(event) => Body::AssignmentAccepted(proto::AssignmentAccepted {
            assignee_id: event.assignee_id.as_str().to_owned(),
        }),
        IssueEventBody::DeliberationConvened(event) => Body::DeliberationConvened(proto::DeliberationConvened {
            meeting_id: event.meeting_id.as_str().to_owned(),
            forum: forum_to_proto(event.forum) as i32,
            parties: event
                .parties
                .entries()
                .iter()
                .map(|party| party.as_str().to_owned())
                .collect(),
        }),
        IssueEventBody::DeliberationConcluded(event) => Body::DeliberationConcluded(proto::DeliberationConcluded {
            meeting_id: event.meeting_id.as_str().to_owned(),
            participants: event.participants.get(),
            outcome: event.outcome.as_str().to_owned(),
            minutes: event.minutes.as_str().to_owned(),
        }),
        IssueEventBody::IssueEscalated(event) => Body::IssueEscalated(proto::IssueEscalated {
            reason: escalation_reason_to_proto(event.reason) as i32,
            note: event
                .note
                .as_ref()
                .map(|note| note.as_str().to_owned())
                .unwrap_or_default(),
        }),
        IssueEventBody::CommitteeDecisionRecorded(event) => {
            Body::CommitteeDecisionRecorded(proto::CommitteeDecisionRecorded {
                decision: event.decision.as_str().to_owned(),
                lead_department: event.lead_department.as_str().to_owned(),
                supporting_departments: event
                    .supporting_departments
                    .entries()
                    .iter()
                    .map(|department| department.as_str().to_owned())
                    .collect(),
                due_at: Some(timestamp_to_proto(event.due_at)),
            })
        }
        IssueEventBody::IssueResolved(event) => Body::IssueResolved(proto::IssueResolved {
            summary: event.summary.as_str().to_owned(),
        }),
        IssueEventBody::ResolutionEvaluated(event) => Body::ResolutionEvaluated(proto::ResolutionEvaluated {
            satisfaction: satisfaction_to_proto(event.satisfaction) as i32,
            evaluator_id: event.evaluator_id.as_str().to_owned(),
            comment: event.comment.as_str().to_owned(),
        }),
        IssueEventBody::IssueReopened(event) => Body::IssueReopened(proto::IssueReopened {
            reason: event.reason.as_str().to_owned(),
        }),
        IssueEventBody::IssueWithdrawn(event) => Body::IssueWithdrawn(withdrawal_to_proto(&event.reason)),
    };
    proto::IssueEventBody { body: Some(wire) }
}

fn withdrawal_to_proto(reason: &WithdrawalReason) -> proto::IssueWithdrawn {
    let (reason, duplicate_of) = match reason {
        WithdrawalReason::Duplicate { duplicate_of } => (proto::WithdrawalReason::Duplicate, duplicate_of.to_string()),
        WithdrawalReason::OutOfScope => (proto::WithdrawalReason::OutOfScope, String::new()),
        WithdrawalReason::ReporterWithdrew => (proto::WithdrawalReason::ReporterWithdrew, String::new()),
    };
    proto::IssueWithdrawn {
        reason: reason as i32,
        duplicate_of,
    }
}

/// A withdrawal reason from the wire; `duplicate_of` is required exactly for DUPLICATE.
pub(crate) fn withdrawal_from_proto(reason: i32, duplicate_of: &str) -> Result<WithdrawalReason, DomainError> {
    match proto::WithdrawalReason::try_from(reason) {
        Ok(proto::WithdrawalReason::Duplicate) => Ok(WithdrawalReason::Duplicate {
            duplicate_of: IssueId::parse(duplicate_of)
                .map_err(|_| crate::invalid("duplicate_of", format!("{duplicate_of:?} is not an issue id (a UUID)")))?,
        }),
        Ok(proto::WithdrawalReason::OutOfScope) if duplicate_of.is_empty() => Ok(WithdrawalReason::OutOfScope),
        Ok(proto::WithdrawalReason::ReporterWithdrew) if duplicate_of.is_empty() => {
            Ok(WithdrawalReason::ReporterWithdrew)
        }
        Ok(proto::WithdrawalReason::OutOfScope | proto::WithdrawalReason::ReporterWithdrew) => {
            Err(crate::invalid("duplicate_of", "is only allowed with reason DUPLICATE"))
        }
        _ => Err(crate::invalid(
            "reason",
            format!("{reason} is not one of DUPLICATE, OUT_OF_SCOPE, REPORTER_WITHDREW"),
        )),
    }
}

fn grid_from(field: &'static str, value: &str) -> Result<GridCode, DomainError> {
    GridCode::parse(value).map_err(|error| error.into_field_error(field))
}

fn category_from(field: &'static str, value: &str) -> Result<CategoryCode, DomainError> {
    CategoryCode::parse(value).map_err(|error| error.into_field_error(field))
}

/// A wire event body as a domain event body (validating every field).
fn event_body_from_proto(wire: proto::IssueEventBody) -> Result<IssueEventBody, EventDecodeError> {
    let body = wire.body.ok_or(EventDecodeError::EmptyBody)?;
    let domain = (|| -> Result<IssueEventBody, DomainError> {
        Ok(match body {
            Body::IssueReported(event) => IssueEventBody::IssueReported(IssueReported {
                issue_id: IssueId::parse(&event.issue_id)?,
                grid: grid_from("grid_code", &event.grid_code)?,
                category: category_from("category", &event.category)?,
                title: IssueTitle::parse(&event.title)?,
                description: FreeText::parse("description", event.description)?,
                reporter_id: PersonId::parse("reporter_id", &event.reporter_id)?,
                due_at: required_timestamp("due_at", event.due_at)?,
            }),
            Body::IssueHandledInGrid(event) => IssueEventBody::IssueHandledInGrid(IssueHandledInGrid {
                summary: FreeText::parse("summary", event.summary)?,
            }),
            Body::IssueDispatched(event) => IssueEventBody::IssueDispatched(IssueDispatched {
                assignee_id: PersonId::parse("assignee_id", &event.assignee_id)?,
                due_at: required_timestamp("due_at", event.due_at)?,
            }),
            Body::AssignmentAccepted(event) => IssueEventBody::AssignmentAccepted(AssignmentAccepted {
                assignee_id: PersonId::parse("assignee_id", &event.assignee_id)?,
            }),
            Body::DeliberationConvened(event) => IssueEventBody::DeliberationConvened(DeliberationConvened {
                meeting_id: MeetingId::parse("meeting_id", &event.meeting_id)?,
                forum: forum_from_proto("forum", event.forum)?,
                parties: MeetingParties::parse(&event.parties)?,
            }),
            Body::DeliberationConcluded(event) => IssueEventBody::DeliberationConcluded(DeliberationConcluded {
                meeting_id: MeetingId::parse("meeting_id", &event.meeting_id)?,
                participants: ParticipantCount::new(event.participants)?,
                outcome: FreeText::parse("outcome", event.outcome)?,
                minutes: FreeText::parse("minutes", event.minutes)?,
            }),
            Body::IssueEscalated(event) => IssueEventBody::IssueEscalated(IssueEscalated {
                reason: escalation_reason_from_proto("reason", event.reason)?,
                note: optional_text("note", event.note)?,
            }),
            Body::CommitteeDecisionRecorded(event) => {
                IssueEventBody::CommitteeDecisionRecorded(CommitteeDecisionRecorded {
                    decision: FreeText::parse("decision", event.decision)?,
                    lead_department: DepartmentName::parse("lead_department", &event.lead_department)?,
                    supporting_departments: SupportingDepartments::parse(&event.supporting_departments)?,
                    due_at: required_timestamp("due_at", event.due_at)?,
                })
            }
            Body::IssueResolved(event) => IssueEventBody::IssueResolved(IssueResolved {
                summary: FreeText::parse("summary", event.summary)?,
            }),
            Body::ResolutionEvaluated(event) => IssueEventBody::ResolutionEvaluated(ResolutionEvaluated {
                satisfaction: satisfaction_from_proto("satisfaction", event.satisfaction)?,
                evaluator_id: PersonId::parse("evaluator_id", &event.evaluator_id)?,
                comment: FreeText::parse("comment", event.comment)?,
            }),
            Body::IssueReopened(event) => IssueEventBody::IssueReopened(IssueReopened {
                reason: FreeText::parse("reason", event.reason)?,
            }),
            Body::IssueWithdrawn(event) => IssueEventBody::IssueWithdrawn(IssueWithdrawn {
                reason: withdrawal_from_proto(event.reason, &event.duplicate_of)?,
            }),
        })
    })();
    domain.map_err(EventDecodeError::Field)
}

/// Free text where empty means absent.
pub(crate) fn optional_text(field: &'static str, value: String) -> Result<Option<FreeText>, DomainError> {
    if value.is_empty() {
        return Ok(None);
    }
    FreeText::parse(field, value).map(Some)
}
