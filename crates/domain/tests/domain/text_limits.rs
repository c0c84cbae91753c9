//! Field limits enforced by the validated newtypes (titles, free text, identifiers, lists,
//! participant counts), each refusal naming its field; and serde round trips of commands,
//! events and state, which validate on the way in.

use gridledger_domain::{
    CommandEnvelope, DepartmentName, DomainError, Field, FreeText, IssueCommand, IssueEvent, IssueId, IssueTitle,
    MeetingId, MeetingParties, ParticipantCount, PartyName, PersonId, SupportingDepartments, decide, fold,
};

use crate::fixtures::*;

/// Asserts `result` is `Ok` when `expected_invalid_field` is `None`, and otherwise an
/// `InvalidField` for that field.
fn check<T: std::fmt::Debug>(case: &str, result: Result<T, DomainError>, expected_invalid_field: Option<Field>) {
    match (result, expected_invalid_field) {
        (Ok(_), None) => {}
        (Err(DomainError::InvalidField { field, reason }), Some(expected_field)) => {
            assert_eq!(field, expected_field, "{case}: {reason}");
        }
        (result, expected) => panic!("{case}: got {result:?}, expected invalid field {expected:?}"),
    }
}

#[test]
fn titles_are_one_to_two_hundred_characters() {
    check("200 ASCII", IssueTitle::parse(&"a".repeat(200)), None);
    check("201 ASCII", IssueTitle::parse(&"a".repeat(201)), Some(Field::Title));
    check("200 CJK (600 bytes)", IssueTitle::parse(&"灯".repeat(200)), None);
    check("201 CJK", IssueTitle::parse(&"灯".repeat(201)), Some(Field::Title));
    check("empty", IssueTitle::parse(""), Some(Field::Title));
    check("only whitespace", IssueTitle::parse(" \t "), Some(Field::Title));
    check("a newline", IssueTitle::parse("one\ntwo"), Some(Field::Title));
    let padded = format!("  {}  ", "a".repeat(200));
    let title = IssueTitle::parse(&padded).expect("trimmed to 200");
    assert_eq!(title.as_str(), "a".repeat(200));
    let error = IssueTitle::parse(&"a".repeat(201)).expect_err("too long");
    assert_eq!(
        error.to_string(),
        "invalid title: must be at most 200 characters, got 201 characters"
    );
}

#[test]
fn free_text_is_at_most_eight_kibibytes() {
    check("empty", FreeText::parse(Field::Description, ""), None);
    check(
        "8192 bytes",
        FreeText::parse(Field::Description, "x".repeat(8192)),
        None,
    );
    check(
        "8193 bytes",
        FreeText::parse(Field::Description, "x".repeat(8193)),
        Some(Field::Description),
    );
    check(
        "2730 CJK = 8190 bytes",
        FreeText::parse(Field::Minutes, "议".repeat(2730)),
        None,
    );
    check(
        "2731 CJK = 8193 bytes",
        FreeText::parse(Field::Minutes, "议".repeat(2731)),
        Some(Field::Minutes),
    );
    assert_eq!(
        FreeText::parse(Field::Summary, "  kept verbatim\n").map(String::from),
        Ok("  kept verbatim\n".to_owned())
    );
}

#[test]
fn identifiers_are_one_to_128_characters() {
    check("128", PersonId::parse(Field::Assignee, &"p".repeat(128)), None);
    check(
        "129",
        PersonId::parse(Field::Assignee, &"p".repeat(129)),
        Some(Field::Assignee),
    );
    check("128 CJK", PersonId::parse(Field::Reporter, &"网".repeat(128)), None);
    check("empty", PersonId::parse(Field::Evaluator, ""), Some(Field::Evaluator));
    check("blank", MeetingId::parse(Field::Meeting, "   "), Some(Field::Meeting));
    check(
        "control character",
        DepartmentName::parse(Field::LeadDepartment, "roads\u{0}"),
        Some(Field::LeadDepartment),
    );
    assert_eq!(
        PersonId::parse(Field::Assignee, " ann ").map(String::from),
        Ok("ann".to_owned())
    );
}

#[test]
fn lists_have_at_most_64_distinct_entries() {
    let names = |count: usize| (0..count).map(|index| format!("party-{index}"));
    check("64 parties", MeetingParties::parse(names(64)), None);
    check("65 parties", MeetingParties::parse(names(65)), Some(Field::Parties));
    check("no parties", MeetingParties::parse(Vec::<String>::new()), None);
    check(
        "65 departments",
        SupportingDepartments::parse(names(65)),
        Some(Field::SupportingDepartments),
    );
    check(
        "a duplicate",
        SupportingDepartments::parse(["roads", "water", "roads"]),
        Some(Field::SupportingDepartments),
    );
    let error = MeetingParties::parse(["a", "b", ""]).expect_err("an empty entry");
    assert_eq!(
        error.to_string(),
        "invalid parties: entry 2: must not be empty or only whitespace"
    );
}

#[test]
fn participants_are_more_than_zero() {
    check("zero", ParticipantCount::new(0), Some(Field::Participants));
    check("one", ParticipantCount::new(1), None);
    check("many", ParticipantCount::new(u32::MAX), None);
}

#[test]
fn values_deserialized_on_their_own_name_the_closest_field() {
    fn message<T: serde::de::DeserializeOwned + std::fmt::Debug>(json: &str) -> String {
        serde_json::from_str::<T>(json).expect_err("invalid").to_string()
    }
    let too_long_text = format!("\"{}\"", "x".repeat(8193));
    for (case, message, expected_start) in [
        (
            "free text",
            message::<FreeText>(&too_long_text),
            "invalid description: ",
        ),
        ("a person", message::<PersonId>("\" \""), "invalid reporter: "),
        ("a meeting", message::<MeetingId>("\"\""), "invalid meeting: "),
        (
            "a department",
            message::<DepartmentName>("\"\""),
            "invalid lead department: ",
        ),
        ("a party", message::<PartyName>("\"\""), "invalid parties: "),
        ("a title", message::<IssueTitle>("\"\""), "invalid title: "),
        (
            "the nil issue id",
            message::<IssueId>("\"00000000-0000-0000-0000-000000000000\""),
            "invalid issue id: ",
        ),
    ] {
        assert!(message.starts_with(expected_start), "{case}: {message}");
    }
}

#[test]
fn serde_round_trips_and_validates_on_the_way_in() {
    let given = history(vec![
        reported(),
        convened("m1"),
        concluded("m1"),
        escalated(),
        committee_decision(),
        resolved(),
        evaluated(),
    ]);
    let json = serde_json::to_string(&given).expect("serializable");
    let parsed: Vec<IssueEvent> = serde_json::from_str(&json).expect("deserializable");
    assert_eq!(parsed, given);
    assert!(json.contains("\"event_type\":\"IssueReported\""), "{json}");

    let state = fold(&given);
    let state_json = serde_json::to_string(&state).expect("serializable");
    assert_eq!(
        serde_json::from_str::<gridledger_domain::IssueState>(&state_json).expect("parses"),
        state
    );

    let envelope = CommandEnvelope::new(at(0), report_command());
    let envelope_json = serde_json::to_string(&envelope).expect("serializable");
    let parsed: CommandEnvelope = serde_json::from_str(&envelope_json).expect("deserializable");
    assert_eq!(parsed, envelope);
    assert_eq!(decide(&fold(&[]), parsed).expect("accepted"), history(vec![reported()]));

    let too_long_title = envelope_json.replace("Broken street light", &"x".repeat(201));
    let error = serde_json::from_str::<CommandEnvelope>(&too_long_title).expect_err("a 201-character title");
    assert!(error.to_string().contains("invalid title"), "{error}");

    let zero_participants = serde_json::to_string(&conclude_command("m1"))
        .expect("serializable")
        .replace("\"participants\":23", "\"participants\":0");
    assert!(serde_json::from_str::<IssueCommand>(&zero_participants).is_err());
}
