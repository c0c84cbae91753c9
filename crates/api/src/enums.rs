//! Enums between the wire and the domain. Both sides use the same stable names
//! (`IN_DELIBERATION`, `CROSS_JURISDICTION`, ...), so each conversion goes through the name.

use gridledger_domain::{DomainError, EscalationReason, Forum, IssueStatus, ResolutionLevel, Satisfaction};

use crate::invalid;
use crate::proto;

/// Reads a wire enum value (an `i32`) as a domain enum, refusing unknown and unspecified values.
macro_rules! enum_from_wire {
    ($function:ident, $proto:ty, $domain:ty) => {
        pub(crate) fn $function(field: &'static str, value: i32) -> Result<$domain, DomainError> {
            let allowed = || {
                <$domain>::ALL
                    .iter()
                    .map(|variant| variant.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            <$proto>::try_from(value)
                .ok()
                .and_then(|wire| <$domain>::from_name(wire.as_str_name()))
                .ok_or_else(|| invalid(field, format!("{value} is not one of {}", allowed())))
        }
    };
}

/// Writes a domain enum as its wire value.
macro_rules! enum_to_wire {
    ($function:ident, $proto:ty, $domain:ty) => {
        pub(crate) fn $function(value: $domain) -> $proto {
            <$proto>::from_str_name(value.as_str()).unwrap_or_default()
        }
    };
}

enum_from_wire!(forum_from_proto, proto::Forum, Forum);
enum_to_wire!(forum_to_proto, proto::Forum, Forum);
enum_from_wire!(escalation_reason_from_proto, proto::EscalationReason, EscalationReason);
enum_to_wire!(escalation_reason_to_proto, proto::EscalationReason, EscalationReason);
enum_from_wire!(satisfaction_from_proto, proto::Satisfaction, Satisfaction);
enum_to_wire!(satisfaction_to_proto, proto::Satisfaction, Satisfaction);
enum_to_wire!(resolution_level_to_proto, proto::ResolutionLevel, ResolutionLevel);
enum_from_wire!(issue_status_from_wire, proto::IssueStatus, IssueStatus);
enum_to_wire!(issue_status_to_wire, proto::IssueStatus, IssueStatus);

/// A domain status on the wire.
pub fn issue_status_to_proto(status: IssueStatus) -> proto::IssueStatus {
    issue_status_to_wire(status)
}

/// A wire status filter: `None` for ISSUE_STATUS_UNSPECIFIED (no filter).
pub fn issue_status_from_proto(field: &'static str, value: i32) -> Result<Option<IssueStatus>, DomainError> {
    if value == proto::IssueStatus::Unspecified as i32 {
        return Ok(None);
    }
    issue_status_from_wire(field, value).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_value_has_a_wire_value_and_back() {
        for status in IssueStatus::ALL {
            let wire = issue_status_to_proto(*status);
            assert_ne!(wire, proto::IssueStatus::Unspecified, "{status}");
            assert_eq!(issue_status_from_proto("status", wire as i32), Ok(Some(*status)));
        }
        for forum in Forum::ALL {
            assert_eq!(forum_from_proto("forum", forum_to_proto(*forum) as i32), Ok(*forum));
        }
        for reason in EscalationReason::ALL {
            assert_eq!(
                escalation_reason_from_proto("reason", escalation_reason_to_proto(*reason) as i32),
                Ok(*reason)
            );
        }
        for satisfaction in Satisfaction::ALL {
            assert_eq!(
                satisfaction_from_proto("s", satisfaction_to_proto(*satisfaction) as i32),
                Ok(*satisfaction)
            );
        }
        for level in ResolutionLevel::ALL {
            assert_ne!(resolution_level_to_proto(*level), proto::ResolutionLevel::Unspecified);
        }
        assert!(matches!(
            forum_from_proto("forum", 0),
            Err(DomainError::InvalidField { field: "forum", .. })
        ));
        assert!(matches!(
            forum_from_proto("forum", 99),
            Err(DomainError::InvalidField { field: "forum", .. })
        ));
    }
}
