//! [`Field`]: the domain concept a validation error is about (a title, a reporter, a due
//! date), named in plain words. Wire field names are the API's business: the `api` crate
//! maps each variant to the request field it came from.

use std::fmt;

/// A field of a command or event, as a domain concept. Carried by
/// [`crate::DomainError::InvalidField`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// An issue's id (also an issue's stream id, which is made of it).
    IssueId,
    /// The grid an issue is in.
    Grid,
    /// An issue's category.
    Category,
    /// An issue's title.
    Title,
    /// An issue's description.
    Description,
    /// Who reported an issue.
    Reporter,
    /// What was done to handle or resolve an issue.
    Summary,
    /// Who an issue is dispatched to, or who accepts the assignment.
    Assignee,
    /// A deadline set by a dispatch or a committee decision.
    DueAt,
    /// A deliberation meeting.
    Meeting,
    /// The kind of deliberation meeting.
    Forum,
    /// The parties invited to a deliberation meeting.
    Parties,
    /// How many residents took part in a deliberation meeting.
    Participants,
    /// What a deliberation meeting agreed.
    Outcome,
    /// The minutes of a deliberation meeting.
    Minutes,
    /// Why an issue is escalated.
    EscalationReason,
    /// The explanation given with an escalation.
    EscalationNote,
    /// What the district guidance committee decided.
    Decision,
    /// The department in charge of a committee decision.
    LeadDepartment,
    /// The departments supporting the lead department.
    SupportingDepartments,
    /// Residents' satisfaction with a resolution.
    Satisfaction,
    /// Who recorded an evaluation.
    Evaluator,
    /// Remarks with an evaluation.
    Comment,
    /// Why an issue is reopened.
    ReopenReason,
    /// Why an issue is withdrawn.
    WithdrawalReason,
    /// The issue a withdrawn issue duplicates.
    DuplicateOf,
    /// A location's latitude.
    LocationLatitude,
    /// A location's longitude.
    LocationLongitude,
    /// A location's coordinate system.
    LocationCoordinateSystem,
    /// A location's accuracy.
    LocationAccuracy,
    /// A location's address.
    LocationAddress,
    /// A location as a whole (outside the district, for one).
    Location,
    /// The photos and videos a command references.
    Evidence,
}

impl Field {
    /// Every field, in declaration order.
    pub const ALL: &'static [Field] = &[
        Field::IssueId,
        Field::Grid,
        Field::Category,
        Field::Title,
        Field::Description,
        Field::Reporter,
        Field::Summary,
        Field::Assignee,
        Field::DueAt,
        Field::Meeting,
        Field::Forum,
        Field::Parties,
        Field::Participants,
        Field::Outcome,
        Field::Minutes,
        Field::EscalationReason,
        Field::EscalationNote,
        Field::Decision,
        Field::LeadDepartment,
        Field::SupportingDepartments,
        Field::Satisfaction,
        Field::Evaluator,
        Field::Comment,
        Field::ReopenReason,
        Field::WithdrawalReason,
        Field::DuplicateOf,
        Field::LocationLatitude,
        Field::LocationLongitude,
        Field::LocationCoordinateSystem,
        Field::LocationAccuracy,
        Field::LocationAddress,
        Field::Location,
        Field::Evidence,
    ];

    /// The domain concept in plain words, for messages: `issue id`, `due date`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            Field::IssueId => "issue id",
            Field::Grid => "grid",
            Field::Category => "category",
            Field::Title => "title",
            Field::Description => "description",
            Field::Reporter => "reporter",
            Field::Summary => "summary",
            Field::Assignee => "assignee",
            Field::DueAt => "due date",
            Field::Meeting => "meeting",
            Field::Forum => "forum",
            Field::Parties => "parties",
            Field::Participants => "participants",
            Field::Outcome => "outcome",
            Field::Minutes => "minutes",
            Field::EscalationReason => "escalation reason",
            Field::EscalationNote => "escalation note",
            Field::Decision => "decision",
            Field::LeadDepartment => "lead department",
            Field::SupportingDepartments => "supporting departments",
            Field::Satisfaction => "satisfaction",
            Field::Evaluator => "evaluator",
            Field::Comment => "comment",
            Field::ReopenReason => "reopen reason",
            Field::WithdrawalReason => "withdrawal reason",
            Field::DuplicateOf => "duplicate of",
            Field::LocationLatitude => "latitude",
            Field::LocationLongitude => "longitude",
            Field::LocationCoordinateSystem => "coordinate system",
            Field::LocationAccuracy => "location accuracy",
            Field::LocationAddress => "address",
            Field::Location => "location",
            Field::Evidence => "evidence",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_field_is_listed_once_with_a_distinct_name() {
        assert_eq!(Field::ALL.len(), 33);
        let fields: HashSet<Field> = Field::ALL.iter().copied().collect();
        assert_eq!(fields.len(), Field::ALL.len());
        let names: HashSet<&str> = Field::ALL.iter().map(|field| field.as_str()).collect();
        assert_eq!(names.len(), Field::ALL.len());
        assert_eq!(Field::DueAt.to_string(), "due date");
        assert_eq!(Field::SupportingDepartments.to_string(), "supporting departments");
    }
}
