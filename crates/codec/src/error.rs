//! [`WireError`]: a value from the wire (a request or a stored body) that does not convert, naming its wire field.

use gridledger_domain::{DomainError, Field};

/// Why a value from the wire was refused. Field errors name the field as the contract
/// spells it (`reporter_id`, `meta.request_id`); everything else is the domain's refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A field is missing, malformed or out of bounds.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The field as named in `proto/` (nested fields with dots: `meta.occurred_at`).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The domain refused the value for another reason (an unknown grid, a transition the
    /// lifecycle does not allow, ...).
    #[error(transparent)]
    Domain(DomainError),
}

impl WireError {
    /// A field error for `field` (its wire name).
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        WireError::InvalidField {
            field,
            reason: reason.into(),
        }
    }

    /// The wire field at fault, for a field error.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            WireError::InvalidField { field, .. } => Some(field),
            WireError::Domain(_) => None,
        }
    }
}

impl From<DomainError> for WireError {
    /// A domain field error becomes a field error naming the wire field; other domain
    /// errors are kept as they are.
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::InvalidField { field, reason } => WireError::InvalidField {
                field: wire_field_name(field),
                reason,
            },
            other => WireError::Domain(other),
        }
    }
}

/// The wire name of a domain field: the same in every request and event message.
pub const fn wire_field_name(field: Field) -> &'static str {
    match field {
        Field::IssueId => "issue_id",
        Field::Grid => "grid_code",
        Field::Category => "category",
        Field::Title => "title",
        Field::Description => "description",
        Field::Reporter => "reporter_id",
        Field::Summary => "summary",
        Field::Assignee => "assignee_id",
        Field::DueAt => "due_at",
        Field::Meeting => "meeting_id",
        Field::Forum => "forum",
        Field::Parties => "parties",
        Field::Participants => "participants",
        Field::Outcome => "outcome",
        Field::Minutes => "minutes",
        Field::EscalationReason | Field::ReopenReason | Field::WithdrawalReason => "reason",
        Field::EscalationNote => "note",
        Field::Decision => "decision",
        Field::LeadDepartment => "lead_department",
        Field::SupportingDepartments => "supporting_departments",
        Field::Satisfaction => "satisfaction",
        Field::Evaluator => "evaluator_id",
        Field::Comment => "comment",
        Field::DuplicateOf => "duplicate_of",
        Field::LocationLatitude => "location.latitude",
        Field::LocationLongitude => "location.longitude",
        Field::LocationCoordinateSystem => "location.coordinate_system",
        Field::LocationAccuracy => "location.accuracy_m",
        Field::LocationAddress => "location.address",
        Field::Location => "location",
        Field::Evidence => "evidence",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_field_has_a_wire_name_and_keeps_its_reason() {
        for field in Field::ALL {
            let name = wire_field_name(*field);
            assert!(
                !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_' || c == '.'),
                "{name}"
            );
            let converted = WireError::from(DomainError::InvalidField {
                field: *field,
                reason: "because".to_owned(),
            });
            assert_eq!(converted.to_string(), format!("invalid {name}: because"));
        }
    }
}
