//! Field limits enforced by the validated newtypes (titles, free text, identifiers, lists,
//! participant counts), each refusal naming its field; and serde round trips of commands,
//! events and state, which validate on the way in.

use gridledger_domain::{
    CommandEnvelope, DepartmentName, DomainError, Field, FreeText, IssueCommand, IssueEvent, IssueId, IssueTitle,
    MAX_PARTICIPANTS, MAX_QUOTED_CHARS, MeetingId, MeetingParties, ParticipantCount, PartyName, PersonId,
    SupportingDepartments, decide, fold,
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
fn participants_are_one_to_a_hundred_thousand() {
    check("zero", ParticipantCount::new(0), Some(Field::Participants));
    check("one", ParticipantCount::new(1), None);
    check("the most", ParticipantCount::new(MAX_PARTICIPANTS), None);
    check(
        "one more",
        ParticipantCount::new(MAX_PARTICIPANTS + 1),
        Some(Field::Participants),
    );
    check("u32::MAX", ParticipantCount::new(u32::MAX), Some(Field::Participants));
    assert_eq!(
        ParticipantCount::new(100_001).expect_err("too many").to_string(),
        "invalid participants: must be at most 100000, got 100001"
    );
}

/// Titles and identifiers are one line of visible characters: no line or paragraph
/// separators, bidirectional controls or invisible format characters, and not blank once
/// those are set aside. Free text keeps its line breaks but refuses bidirectional controls.
#[test]
fn one_line_text_refuses_invisible_and_reordering_characters_and_free_text_refuses_bidi_controls() {
    let refused_in_one_line = [
        ("line separator", "a\u{2028}b"),
        ("paragraph separator", "a\u{2029}b"),
        ("LRE", "a\u{202a}b"),
        ("RLE", "a\u{202b}b"),
        ("PDF", "a\u{202c}b"),
        ("LRO", "a\u{202d}b"),
        ("RLO", "a\u{202e}b"),
        ("LRI", "a\u{2066}b"),
        ("RLI", "a\u{2067}b"),
        ("FSI", "a\u{2068}b"),
        ("PDI", "a\u{2069}b"),
        ("zero-width space", "a\u{200b}b"),
        ("zero-width non-joiner", "a\u{200c}b"),
        ("zero-width joiner", "a\u{200d}b"),
        ("LRM", "a\u{200e}b"),
        ("RLM", "a\u{200f}b"),
        ("byte-order mark", "\u{feff}ab"),
        ("soft hyphen", "a\u{00ad}b"),
        ("word joiner", "a\u{2060}b"),
        ("Arabic letter mark", "a\u{061c}b"),
        ("a tag character", "a\u{e0041}b"),
        ("a newline", "a\nb"),
        ("NUL", "a\u{0}b"),
        ("DEL", "a\u{7f}b"),
        ("NEL", "a\u{85}b"),
    ];
    for (case, value) in refused_in_one_line {
        check(case, IssueTitle::parse(value), Some(Field::Title));
        check(case, PersonId::parse(Field::Reporter, value), Some(Field::Reporter));
        check(case, MeetingId::parse(Field::Meeting, value), Some(Field::Meeting));
        check(
            case,
            DepartmentName::parse(Field::LeadDepartment, value),
            Some(Field::LeadDepartment),
        );
        check(case, MeetingParties::parse([value]), Some(Field::Parties));
        check(
            case,
            SupportingDepartments::parse([value]),
            Some(Field::SupportingDepartments),
        );
    }
    let error = IssueTitle::parse("bins\u{202e}nib").expect_err("an override");
    assert_eq!(
        error.to_string(),
        "invalid title: must be one line of visible characters, found '\\u{202e}' (a bidirectional control, U+202E) at character 5"
    );
    for (case, blank) in [
        ("zero-width spaces", "\u{200b}\u{200b}"),
        ("a byte-order mark between spaces", " \u{feff} "),
        ("a word joiner", "\u{2060}"),
    ] {
        check(case, PersonId::parse(Field::Assignee, blank), Some(Field::Assignee));
        check(case, IssueTitle::parse(blank), Some(Field::Title));
        let message = PartyName::parse(Field::Parties, blank).expect_err(case).to_string();
        assert!(message.contains("must not be blank"), "{case}: {message}");
    }
    for accepted in ["网格 7 号", "Ünïcödé", "emoji 🚧", "tab\tinside"] {
        let one_line_ok = !accepted.contains('\t');
        assert_eq!(IssueTitle::parse(accepted).is_ok(), one_line_ok, "{accepted:?}");
        assert_eq!(
            PersonId::parse(Field::Reporter, accepted).is_ok(),
            one_line_ok,
            "{accepted:?}"
        );
    }

    check(
        "line breaks",
        FreeText::parse(Field::Minutes, "first line\nsecond line\r\n\u{2028}third\tcolumn"),
        None,
    );
    check(
        "a zero-width joiner",
        FreeText::parse(Field::Comment, "👩\u{200d}🔧"),
        None,
    );
    check(
        "RTL text with marks",
        FreeText::parse(Field::Comment, "שלום\u{200f} 1"),
        None,
    );
    for (case, value) in [
        ("RLO", "pay \u{202e}0001\u{202c} yuan"),
        ("LRE", "\u{202a}x"),
        ("PDF", "x\u{202c}"),
        ("RLI", "x\u{2067}y"),
        ("PDI", "x\u{2069}"),
    ] {
        check(
            case,
            FreeText::parse(Field::Description, value),
            Some(Field::Description),
        );
    }
    let error = FreeText::parse(Field::Minutes, "ok\u{2066}").expect_err("an isolate");
    assert!(
        error
            .to_string()
            .starts_with("invalid minutes: must not contain bidirectional controls"),
        "{error}"
    );
}

/// An error quotes at most 64 characters of the value it refuses.
#[test]
fn errors_quote_a_short_prefix_of_what_they_refuse() {
    let huge = "x".repeat(1 << 20);
    for message in [
        IssueId::parse(&huge).expect_err("not a UUID").to_string(),
        gridledger_domain::GridCode::parse(&huge)
            .expect_err("not a code")
            .to_string(),
        gridledger_domain::CategoryCode::parse(&huge)
            .expect_err("not a code")
            .to_string(),
        PersonId::parse(Field::Reporter, &huge)
            .expect_err("too long")
            .to_string(),
        IssueTitle::parse(&huge).expect_err("too long").to_string(),
        FreeText::parse(Field::Minutes, huge.clone())
            .expect_err("too long")
            .to_string(),
    ] {
        assert!(message.len() < 300, "{} bytes: {}", message.len(), &message[..300]);
    }
    let duplicate = "d".repeat(100);
    let message = SupportingDepartments::parse([duplicate.as_str(), duplicate.as_str()])
        .expect_err("listed twice")
        .to_string();
    assert!(message.contains(&format!("\"{}…\"", "d".repeat(64))), "{message}");
    assert_eq!(
        gridledger_domain::quote_for_message(&huge).chars().count(),
        MAX_QUOTED_CHARS + 1
    );
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
