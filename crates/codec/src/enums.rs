//! Enums between the wire and the domain. Both sides use the same stable names
//! (`IN_DELIBERATION`, `CROSS_JURISDICTION`, ...), so each conversion goes through the name.

use gridledger_domain::{
    CoordinateSystem, EscalationReason, Forum, IssueId, IssueStatus, ResolutionLevel, Satisfaction, WithdrawalReason,
    quote_for_message,
};

use crate::error::WireError;
use crate::proto;

/// Reads a wire enum value (an `i32`) as a domain enum, refusing unknown and unspecified values.
macro_rules! enum_from_wire {
    ($function:ident, $proto:ty, $domain:ty) => {
        #[doc = concat!("A wire `", stringify!($proto), "` as the domain's; unknown and unspecified values are refused.")]
        pub fn $function(field: &'static str, value: i32) -> Result<$domain, WireError> {
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
                .ok_or_else(|| WireError::invalid(field, format!("{value} is not one of {}", allowed())))
        }
    };
}

/// Writes a domain enum as its wire value.
macro_rules! enum_to_wire {
    ($function:ident, $proto:ty, $domain:ty) => {
        #[doc = concat!("The domain's value as a wire `", stringify!($proto), "`.")]
        pub fn $function(value: $domain) -> $proto {
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
enum_from_wire!(resolution_level_from_proto, proto::ResolutionLevel, ResolutionLevel);
enum_to_wire!(resolution_level_to_proto, proto::ResolutionLevel, ResolutionLevel);
enum_from_wire!(issue_status_from_proto, proto::IssueStatus, IssueStatus);
enum_to_wire!(issue_status_to_proto, proto::IssueStatus, IssueStatus);
enum_from_wire!(coordinate_system_from_proto, proto::CoordinateSystem, CoordinateSystem);
enum_to_wire!(coordinate_system_to_proto, proto::CoordinateSystem, CoordinateSystem);

/// A wire status filter: `None` for ISSUE_STATUS_UNSPECIFIED (no filter).
pub fn issue_status_filter_from_proto(field: &'static str, value: i32) -> Result<Option<IssueStatus>, WireError> {
    if value == proto::IssueStatus::Unspecified as i32 {
        return Ok(None);
    }
    issue_status_from_proto(field, value).map(Some)
}

/// A withdrawal reason from the wire; `duplicate_of` is required exactly for DUPLICATE.
pub fn withdrawal_reason_from_proto(reason: i32, duplicate_of: &str) -> Result<WithdrawalReason, WireError> {
    match proto::WithdrawalReason::try_from(reason) {
        Ok(proto::WithdrawalReason::Duplicate) => Ok(WithdrawalReason::Duplicate {
            duplicate_of: IssueId::parse(duplicate_of).map_err(|_| {
                WireError::invalid(
                    "duplicate_of",
                    format!("{:?} is not an issue id (a UUID)", quote_for_message(duplicate_of)),
                )
            })?,
        }),
        Ok(proto::WithdrawalReason::OutOfScope) if duplicate_of.is_empty() => Ok(WithdrawalReason::OutOfScope),
        Ok(proto::WithdrawalReason::ReporterWithdrew) if duplicate_of.is_empty() => {
            Ok(WithdrawalReason::ReporterWithdrew)
        }
        Ok(proto::WithdrawalReason::OutOfScope | proto::WithdrawalReason::ReporterWithdrew) => Err(WireError::invalid(
            "duplicate_of",
            "is only allowed with reason DUPLICATE",
        )),
        _ => Err(WireError::invalid(
            "reason",
            format!("{reason} is not one of DUPLICATE, OUT_OF_SCOPE, REPORTER_WITHDREW"),
        )),
    }
}

/// A withdrawal reason on the wire: the reason and, for DUPLICATE, the other issue's id
/// (empty otherwise).
pub fn withdrawal_reason_to_proto(reason: &WithdrawalReason) -> (proto::WithdrawalReason, String) {
    match reason {
        WithdrawalReason::Duplicate { duplicate_of } => (proto::WithdrawalReason::Duplicate, duplicate_of.to_string()),
        WithdrawalReason::OutOfScope => (proto::WithdrawalReason::OutOfScope, String::new()),
        WithdrawalReason::ReporterWithdrew => (proto::WithdrawalReason::ReporterWithdrew, String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_value_has_a_wire_value_and_back() {
        for status in IssueStatus::ALL {
            let wire = issue_status_to_proto(*status);
            assert_ne!(wire, proto::IssueStatus::Unspecified, "{status}");
            assert_eq!(issue_status_filter_from_proto("status", wire as i32), Ok(Some(*status)));
        }
        assert_eq!(issue_status_filter_from_proto("status", 0), Ok(None));
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
            let wire = resolution_level_to_proto(*level);
            assert_ne!(wire, proto::ResolutionLevel::Unspecified);
            assert_eq!(resolution_level_from_proto("level", wire as i32), Ok(*level));
        }
        let huge = "9".repeat(1 << 20);
        match withdrawal_reason_from_proto(proto::WithdrawalReason::Duplicate as i32, &huge) {
            Err(WireError::InvalidField {
                field: "duplicate_of",
                reason,
            }) => assert_eq!(reason, format!("\"{}…\" is not an issue id (a UUID)", "9".repeat(64))),
            other => panic!("{other:?}"),
        }
        for (value, field) in [(0, "forum"), (99, "forum")] {
            assert!(matches!(
                forum_from_proto(field, value),
                Err(WireError::InvalidField { field: "forum", .. })
            ));
        }
    }
}
