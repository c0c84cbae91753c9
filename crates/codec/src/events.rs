//! Domain events and their stored form: `EventRecord.event` holds one encoded
//! `IssueEventBody`, `EventRecord.event_type` names its variant, and `EventRecord.occurred_at`
//! its business time. [`encode_events`] and [`decode_recorded`] are the one way in and out.

use gridledger_domain::{
    AssignmentAccepted, CategoryCode, CommitteeDecisionRecorded, DeliberationConcluded, DeliberationConvened,
    DepartmentName, Field, FreeText, GridCode, IssueDispatched, IssueEscalated, IssueEvent, IssueEventBody,
    IssueHandledInGrid, IssueId, IssueReopened, IssueReported, IssueResolved, IssueTitle, IssueWithdrawn, MeetingId,
    MeetingParties, ParticipantCount, PersonId, ResolutionEvaluated, SupportingDepartments, Timestamp,
};
use gridledger_eventlog::{EventRecord, NewEvent, RecordedEvent};
use prost::Message;

use crate::enums::{
    escalation_reason_from_proto, escalation_reason_to_proto, forum_from_proto, forum_to_proto,
    satisfaction_from_proto, satisfaction_to_proto, withdrawal_reason_from_proto, withdrawal_reason_to_proto,
};
use crate::error::WireError;
use crate::field_data::{evidence_list_from_proto, evidence_list_to_proto, location_from_proto, location_to_proto};
use crate::proto;
use crate::proto::issue_event_body::Body;
use crate::time::{required_timestamp, timestamp_to_proto};

/// A stored event that does not decode into a domain event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventDecodeError {
    /// The payload is not an encoded `IssueEventBody`.
    #[error("event payload does not decode as IssueEventBody")]
    Protobuf(#[source] prost::DecodeError),
    /// The payload decodes but sets no body.
    #[error("event payload has no body")]
    EmptyBody,
    /// The record's `event_type` names another event than its payload holds.
    #[error("event_type {stored:?} does not match the payload's {payload}")]
    TypeMismatch {
        /// The record's `event_type`.
        stored: String,
        /// The type of the body the payload holds.
        payload: &'static str,
    },
    /// A field of the body breaks the domain's rules.
    #[error("event payload field is invalid")]
    Field(#[source] WireError),
}

/// A domain event in the form the log stores it.
pub fn encode_event(event: &IssueEvent) -> NewEvent {
    NewEvent {
        event_type: event.event_type().to_owned(),
        occurred_at_micros: event.occurred_at.as_unix_micros(),
        payload: event_body_to_proto(&event.body).encode_to_vec(),
    }
}

/// Domain events in the form the log stores them, in order.
pub fn encode_events(events: &[IssueEvent]) -> Vec<NewEvent> {
    events.iter().map(encode_event).collect()
}

/// The domain event a committed event holds.
pub fn decode_recorded(recorded: &RecordedEvent) -> Result<IssueEvent, EventDecodeError> {
    decode_record(&recorded.record)
}

/// The domain event a stored record holds, checked against the record's event type.
pub fn decode_record(record: &EventRecord) -> Result<IssueEvent, EventDecodeError> {
    let wire = proto::IssueEventBody::decode(record.event.as_slice()).map_err(EventDecodeError::Protobuf)?;
    let body = event_body_from_proto(wire)?;
    if body.event_type() != record.event_type {
        return Err(EventDecodeError::TypeMismatch {
            stored: record.event_type.clone(),
            payload: body.event_type(),
        });
    }
    Ok(IssueEvent {
        occurred_at: Timestamp::from_unix_micros(record.occurred_at),
        body,
    })
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
            location: event.location.as_ref().map(location_to_proto),
            evidence: evidence_list_to_proto(event.evidence.entries()),
        }),
        IssueEventBody::IssueHandledInGrid(event) => Body::IssueHandledInGrid(proto::IssueHandledInGrid {
            summary: event.summary.as_str().to_owned(),
            location: event.location.as_ref().map(location_to_proto),
            evidence: evidence_list_to_proto(event.evidence.entries()),
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
            parties: strings(event.parties.entries()),
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
                supporting_departments: strings(event.supporting_departments.entries()),
                due_at: Some(timestamp_to_proto(event.due_at)),
            })
        }
        IssueEventBody::IssueResolved(event) => Body::IssueResolved(proto::IssueResolved {
            summary: event.summary.as_str().to_owned(),
            location: event.location.as_ref().map(location_to_proto),
            evidence: evidence_list_to_proto(event.evidence.entries()),
        }),
        IssueEventBody::ResolutionEvaluated(event) => Body::ResolutionEvaluated(proto::ResolutionEvaluated {
            satisfaction: satisfaction_to_proto(event.satisfaction) as i32,
            evaluator_id: event.evaluator_id.as_str().to_owned(),
            comment: event.comment.as_str().to_owned(),
        }),
        IssueEventBody::IssueReopened(event) => Body::IssueReopened(proto::IssueReopened {
            reason: event.reason.as_str().to_owned(),
        }),
        IssueEventBody::IssueWithdrawn(event) => {
            let (reason, duplicate_of) = withdrawal_reason_to_proto(&event.reason);
            Body::IssueWithdrawn(proto::IssueWithdrawn {
                reason: reason as i32,
                duplicate_of,
            })
        }
    };
    proto::IssueEventBody { body: Some(wire) }
}

fn strings<T: AsRef<str>>(entries: &[T]) -> Vec<String> {
    entries.iter().map(|entry| entry.as_ref().to_owned()).collect()
}

/// A wire grid code, checked for shape (not against a registry).
pub(crate) fn grid_from_proto(field: &'static str, value: &str) -> Result<GridCode, WireError> {
    GridCode::parse(value).map_err(|error| WireError::invalid(field, error.to_string()))
}

/// A wire category code, checked for shape (not against a registry).
pub(crate) fn category_from_proto(field: &'static str, value: &str) -> Result<CategoryCode, WireError> {
    CategoryCode::parse(value).map_err(|error| WireError::invalid(field, error.to_string()))
}

/// Free text where empty means absent.
pub(crate) fn optional_text(field: Field, value: String) -> Result<Option<FreeText>, WireError> {
    if value.is_empty() {
        return Ok(None);
    }
    Ok(Some(FreeText::parse(field, value)?))
}

/// A wire event body as a domain event body, validating every field.
pub fn event_body_from_proto(wire: proto::IssueEventBody) -> Result<IssueEventBody, EventDecodeError> {
    let body = wire.body.ok_or(EventDecodeError::EmptyBody)?;
    let domain = (|| -> Result<IssueEventBody, WireError> {
        Ok(match body {
            Body::IssueReported(event) => IssueEventBody::IssueReported(IssueReported {
                issue_id: IssueId::parse(&event.issue_id)?,
                grid: grid_from_proto("grid_code", &event.grid_code)?,
                category: category_from_proto("category", &event.category)?,
                title: IssueTitle::parse(&event.title)?,
                description: FreeText::parse(Field::Description, event.description)?,
                reporter_id: PersonId::parse(Field::Reporter, &event.reporter_id)?,
                due_at: required_timestamp("due_at", event.due_at)?,
                location: location_from_proto(event.location)?,
                evidence: evidence_list_from_proto(&event.evidence)?,
            }),
            Body::IssueHandledInGrid(event) => IssueEventBody::IssueHandledInGrid(IssueHandledInGrid {
                summary: FreeText::parse(Field::Summary, event.summary)?,
                location: location_from_proto(event.location)?,
                evidence: evidence_list_from_proto(&event.evidence)?,
            }),
            Body::IssueDispatched(event) => IssueEventBody::IssueDispatched(IssueDispatched {
                assignee_id: PersonId::parse(Field::Assignee, &event.assignee_id)?,
                due_at: required_timestamp("due_at", event.due_at)?,
            }),
            Body::AssignmentAccepted(event) => IssueEventBody::AssignmentAccepted(AssignmentAccepted {
                assignee_id: PersonId::parse(Field::Assignee, &event.assignee_id)?,
            }),
            Body::DeliberationConvened(event) => IssueEventBody::DeliberationConvened(DeliberationConvened {
                meeting_id: MeetingId::parse(Field::Meeting, &event.meeting_id)?,
                forum: forum_from_proto("forum", event.forum)?,
                parties: MeetingParties::parse(&event.parties)?,
            }),
            Body::DeliberationConcluded(event) => IssueEventBody::DeliberationConcluded(DeliberationConcluded {
                meeting_id: MeetingId::parse(Field::Meeting, &event.meeting_id)?,
                participants: ParticipantCount::new(event.participants)?,
                outcome: FreeText::parse(Field::Outcome, event.outcome)?,
                minutes: FreeText::parse(Field::Minutes, event.minutes)?,
            }),
            Body::IssueEscalated(event) => IssueEventBody::IssueEscalated(IssueEscalated {
                reason: escalation_reason_from_proto("reason", event.reason)?,
                note: optional_text(Field::EscalationNote, event.note)?,
            }),
            Body::CommitteeDecisionRecorded(event) => {
                IssueEventBody::CommitteeDecisionRecorded(CommitteeDecisionRecorded {
                    decision: FreeText::parse(Field::Decision, event.decision)?,
                    lead_department: DepartmentName::parse(Field::LeadDepartment, &event.lead_department)?,
                    supporting_departments: SupportingDepartments::parse(&event.supporting_departments)?,
                    due_at: required_timestamp("due_at", event.due_at)?,
                })
            }
            Body::IssueResolved(event) => IssueEventBody::IssueResolved(IssueResolved {
                summary: FreeText::parse(Field::Summary, event.summary)?,
                location: location_from_proto(event.location)?,
                evidence: evidence_list_from_proto(&event.evidence)?,
            }),
            Body::ResolutionEvaluated(event) => IssueEventBody::ResolutionEvaluated(ResolutionEvaluated {
                satisfaction: satisfaction_from_proto("satisfaction", event.satisfaction)?,
                evaluator_id: PersonId::parse(Field::Evaluator, &event.evaluator_id)?,
                comment: FreeText::parse(Field::Comment, event.comment)?,
            }),
            Body::IssueReopened(event) => IssueEventBody::IssueReopened(IssueReopened {
                reason: FreeText::parse(Field::ReopenReason, event.reason)?,
            }),
            Body::IssueWithdrawn(event) => IssueEventBody::IssueWithdrawn(IssueWithdrawn {
                reason: withdrawal_reason_from_proto(event.reason, &event.duplicate_of)?,
            }),
        })
    })();
    domain.map_err(EventDecodeError::Field)
}
