//! An issue for scripts (the JSON of `show` and `list`) and for people (`show` as a case
//! file, `list` as a table).

use std::fmt::Write as _;

use gridledger_api::IssueView;
use gridledger_api::client::IssuePage;
use gridledger_domain::{EvidenceRef, Location, ResolutionLevel, Timestamp, WithdrawalReason};
use serde_json::{Value, json};

use super::{one_line, time_for_people};

/// An issue as JSON: every field, with the wire's names for unset enums.
pub fn issue_json(issue: &IssueView) -> Value {
    let community = issue.grid.community();
    let street = community.street();
    let (withdrawal_reason, duplicate_of) = match &issue.withdrawal_reason {
        None => ("WITHDRAWAL_REASON_UNSPECIFIED", String::new()),
        Some(reason @ WithdrawalReason::Duplicate { duplicate_of }) => (reason.kind_name(), duplicate_of.to_string()),
        Some(reason) => (reason.kind_name(), String::new()),
    };
    json!({
        "issue_id": issue.issue_id.to_string(),
        "grid_code": issue.grid.as_str(),
        "community_code": community.as_str(),
        "street_code": street.as_str(),
        "district_code": street.district().as_str(),
        "category": issue.category.as_str(),
        "title": issue.title.as_str(),
        "description": issue.description.as_str(),
        "reporter_id": issue.reporter_id.as_str(),
        "status": issue.status.as_str(),
        "revision": issue.revision,
        "resolution_level": issue.resolution_level.map_or("RESOLUTION_LEVEL_UNSPECIFIED", ResolutionLevel::as_str),
        "reported_at": issue.reported_at.to_string(),
        "due_at": issue.due_at.to_string(),
        "assignment": issue.assignment.as_ref().map(|assignment| json!({
            "assignee_id": assignment.assignee_id.as_str(),
            "due_at": assignment.due_at.to_string(),
            "accepted": assignment.accepted,
        })),
        "open_meeting_id": issue.open_meeting_id.as_ref().map_or("", |meeting| meeting.as_str()),
        "meetings_concluded": issue.meetings_concluded,
        "escalations": issue.escalations,
        "committee_decisions": issue.committee_decisions,
        "reopens": issue.reopens,
        "last_evaluation": issue.last_evaluation.as_ref().map(|evaluation| json!({
            "satisfaction": evaluation.satisfaction.as_str(),
            "evaluator_id": evaluation.evaluator_id.as_str(),
            "evaluated_at": evaluation.evaluated_at.to_string(),
        })),
        "last_resolved_at": issue.last_resolved_at.map(|at| at.to_string()).unwrap_or_default(),
        "last_occurred_at": issue.last_occurred_at.to_string(),
        "withdrawal_reason": withdrawal_reason,
        "duplicate_of": duplicate_of,
        "location": issue.location.as_ref().map(location_json),
        "evidence": issue.evidence.iter().map(evidence_json).collect::<Vec<_>>(),
    })
}

/// A location as JSON, exactly as the app gave it (the wire's field names).
pub fn location_json(location: &Location) -> Value {
    json!({
        "latitude": location.latitude(),
        "longitude": location.longitude(),
        "coordinate_system": location.coordinate_system().as_str(),
        "accuracy_m": location.accuracy_metres(),
        "address": location.address().unwrap_or_default(),
    })
}

/// An evidence ref as JSON: the SHA-256 in hex.
pub fn evidence_json(reference: &EvidenceRef) -> Value {
    json!({
        "sha256": reference.sha256.to_hex(),
        "size": reference.size,
        "media_type": reference.media_type.as_str(),
    })
}

/// A location for people, its coordinates exactly as given: `32.1987654321, 119.4345678901
/// (GCJ02), accuracy 7.25 m, "3 Jinshan Rd"`.
pub fn location_text(location: &Location) -> String {
    let mut text = format!(
        "{}, {} ({})",
        location.latitude(),
        location.longitude(),
        location.coordinate_system()
    );
    if let Some(accuracy) = location.accuracy_metres() {
        let _ = write!(text, ", accuracy {accuracy} m");
    }
    if let Some(address) = location.address() {
        let _ = write!(text, ", \"{}\"", one_line(address, 120));
    }
    text
}

/// An evidence ref for people: `<sha256 hex> (image/jpeg, 48213 bytes)`.
pub fn evidence_text(reference: &EvidenceRef) -> String {
    format!(
        "{} ({}, {} bytes)",
        reference.sha256, reference.media_type, reference.size
    )
}

/// `n thing` or `n things`.
fn count(number: u32, thing: &str) -> String {
    format!("{number} {thing}{}", if number == 1 { "" } else { "s" })
}

/// An issue as a case file for people, as it stands at `now`: what it is, where, who
/// reported it and when, its deadline (and whether it is overdue), and what has happened
/// to it. What never happened is left out.
pub fn case_file(issue: &IssueView, now: Timestamp) -> String {
    let mut lines: Vec<(&str, String)> = Vec::new();
    lines.push(("issue", format!("{}  (revision {})", issue.issue_id, issue.revision)));
    lines.push(("status", issue.status.as_str().to_owned()));
    let community = issue.grid.community();
    let street = community.street();
    lines.push((
        "where",
        format!(
            "grid {} · community {} · street {} · district {}",
            issue.grid,
            community,
            street,
            street.district()
        ),
    ));
    lines.push(("category", issue.category.as_str().to_owned()));
    lines.push((
        "reported",
        format!("{} by {}", time_for_people(issue.reported_at), issue.reporter_id),
    ));
    if !issue.description.is_empty() {
        lines.push(("description", one_line(issue.description.as_str(), 400)));
    }
    let overdue = if issue.is_overdue_at(now) {
        "  OVERDUE (open and past due)"
    } else {
        ""
    };
    lines.push(("due", format!("{}{overdue}", time_for_people(issue.due_at))));
    if let Some(assignment) = &issue.assignment {
        lines.push((
            "assignee",
            format!(
                "{}, {}, due {}",
                assignment.assignee_id,
                if assignment.accepted {
                    "accepted"
                } else {
                    "not accepted yet"
                },
                time_for_people(assignment.due_at)
            ),
        ));
    }
    if let Some(meeting) = &issue.open_meeting_id {
        lines.push(("in meeting", format!("{meeting} (not concluded yet)")));
    }
    if issue.meetings_concluded > 0 {
        lines.push((
            "meetings",
            format!("{} concluded", count(issue.meetings_concluded, "meeting")),
        ));
    }
    if issue.escalations > 0 || issue.committee_decisions > 0 {
        lines.push((
            "committee",
            format!(
                "escalated {}, {}",
                count(issue.escalations, "time"),
                count(issue.committee_decisions, "committee decision")
            ),
        ));
    }
    match (issue.resolution_level, issue.last_resolved_at) {
        (Some(level), Some(at)) => lines.push(("resolved", format!("at {level} level, {}", time_for_people(at)))),
        (Some(level), None) => lines.push(("resolved", format!("at {level} level"))),
        (None, Some(at)) => lines.push(("resolved", format!("{}, reopened since", time_for_people(at)))),
        (None, None) => {}
    }
    if let Some(evaluation) = &issue.last_evaluation {
        lines.push((
            "evaluation",
            format!(
                "{} by {}, {}",
                evaluation.satisfaction,
                evaluation.evaluator_id,
                time_for_people(evaluation.evaluated_at)
            ),
        ));
    }
    if issue.reopens > 0 {
        lines.push(("reopened", count(issue.reopens, "time")));
    }
    match &issue.withdrawal_reason {
        Some(WithdrawalReason::Duplicate { duplicate_of }) => {
            lines.push(("withdrawn", format!("DUPLICATE of {duplicate_of}")));
        }
        Some(reason) => lines.push(("withdrawn", reason.kind_name().to_owned())),
        None => {}
    }
    if let Some(location) = &issue.location {
        lines.push(("location", location_text(location)));
    }
    for reference in &issue.evidence {
        lines.push(("evidence", evidence_text(reference)));
    }
    lines.push(("last event", time_for_people(issue.last_occurred_at)));
    let mut text = format!("{}\n", issue.title);
    for (label, value) in lines {
        let _ = writeln!(text, "  {label:<12} {value}");
    }
    text
}

/// A page of issues as JSON.
pub fn list_json(page: &IssuePage) -> Value {
    json!({
        "issues": page.issues.iter().map(issue_json).collect::<Vec<_>>(),
        "next_page_token": page.next_page_token.map(|issue_id| issue_id.to_string()).unwrap_or_default(),
    })
}

/// A page of issues as a table, with how to ask for the next page.
pub fn list_table(page: &IssuePage) -> String {
    let mut text = format!(
        "{:<36}  {:<16}  {:<22}  {:<20}  title\n",
        "issue", "status", "grid", "category"
    );
    for issue in &page.issues {
        let _ = writeln!(
            text,
            "{:<36}  {:<16}  {:<22}  {:<20}  {}",
            issue.issue_id,
            issue.status.as_str(),
            issue.grid.as_str(),
            issue.category.as_str(),
            issue.title
        );
    }
    if let Some(token) = page.next_page_token {
        let _ = writeln!(text, "more: --page-token {token}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{REPORTED_AT, walk};
    use super::*;
    use gridledger_domain::DurationMicros;

    /// Checks that `text` holds every expected line (trailing blanks aside) and none of
    /// the unexpected words.
    fn check(text: &str, expected_lines: &[&str], unexpected: &[&str]) {
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        for line in expected_lines {
            assert!(lines.contains(line), "{line:?} not in:\n{text}");
        }
        for word in unexpected {
            assert!(!text.contains(word), "{word:?} in:\n{text}");
        }
    }

    fn days_after_report(days: i64) -> Timestamp {
        REPORTED_AT.saturating_add(DurationMicros::from_days(days))
    }

    const UNSET: [&str; 4] = ["UNSPECIFIED", "WITHDRAWAL_REASON", "RESOLUTION_LEVEL", "null"];

    #[test]
    fn a_new_issue_reads_as_a_short_case_file_and_says_when_it_is_overdue() {
        let (_, views) = walk();
        let reported = &views[0];
        let on_time = case_file(reported, days_after_report(1));
        check(
            &on_time,
            &[
                "噪音扰民 noise at night",
                "  issue        01a21b09-561d-750b-a1e3-e4d063fc5eca  (revision 0)",
                "  status       REPORTED",
                "  where        grid runzhou.s3.c01.g02 · community runzhou.s3.c01 · street runzhou.s3 · district runzhou",
                "  category     dispute",
                "  reported     2026-11-27 01:00 UTC by worker-3",
                "  description  Music until 2 am every weekend",
                "  due          2026-12-04 01:00 UTC",
                "  last event   2026-11-27 01:00 UTC",
            ],
            &[
                &UNSET[..],
                &[
                    "assignee",
                    "meeting",
                    "committee",
                    "resolved",
                    "evaluation",
                    "reopened",
                    "withdrawn",
                    "OVERDUE",
                ],
            ]
            .concat(),
        );
        check(
            &case_file(reported, days_after_report(8)),
            &["  due          2026-12-04 01:00 UTC  OVERDUE (open and past due)"],
            &[],
        );
    }

    #[test]
    fn the_case_file_tells_what_happened_to_the_issue() {
        let (_, views) = walk();
        let late = days_after_report(100);
        check(
            &case_file(&views[2], late),
            &[
                "  status       IN_PROGRESS",
                "  assignee     mediator-2, accepted, due 2026-11-30 01:00 UTC",
                "  due          2026-11-30 01:00 UTC  OVERDUE (open and past due)",
            ],
            &UNSET,
        );
        check(
            &case_file(&views[1], late),
            &["  assignee     mediator-2, not accepted yet, due 2026-11-30 01:00 UTC"],
            &UNSET,
        );
        check(
            &case_file(&views[3], late),
            &[
                "  status       IN_DELIBERATION",
                "  in meeting   cli-m1 (not concluded yet)",
            ],
            &UNSET,
        );
        let evaluated = case_file(&views[8], late);
        check(
            &evaluated,
            &[
                "  status       RESOLVED",
                "  meetings     1 meeting concluded",
                "  committee    escalated 1 time, 1 committee decision",
                "  resolved     at COMMITTEE level, 2026-11-27 09:00 UTC",
                "  evaluation   BASICALLY_SATISFIED by resident-9, 2026-11-27 10:00 UTC",
                "  due          2026-12-07 01:00 UTC",
            ],
            &[&UNSET[..], &["OVERDUE", "reopened"]].concat(),
        );
        check(
            &case_file(&views[11], late),
            &[
                "  status       REOPENED",
                "  resolved     2026-11-27 12:00 UTC, reopened since",
                "  reopened     2 times",
            ],
            &UNSET,
        );
        check(
            &case_file(&views[12], late),
            &[
                "  status       WITHDRAWN",
                "  withdrawn    DUPLICATE of 01a21b09-3152-763a-8c93-bb709cf5d91b",
            ],
            &[&UNSET[..], &["OVERDUE"]].concat(),
        );
    }

    #[test]
    fn issue_json_keeps_every_field_and_the_wire_names_of_unset_enums() {
        let (_, views) = walk();
        let reported = issue_json(&views[0]);
        let field = |json: &Value, name: &str| json[name].to_string();
        for (name, expected) in [
            ("status", "\"REPORTED\""),
            ("resolution_level", "\"RESOLUTION_LEVEL_UNSPECIFIED\""),
            ("withdrawal_reason", "\"WITHDRAWAL_REASON_UNSPECIFIED\""),
            ("duplicate_of", "\"\""),
            ("open_meeting_id", "\"\""),
            ("last_resolved_at", "\"\""),
            ("assignment", "null"),
            ("last_evaluation", "null"),
            ("community_code", "\"runzhou.s3.c01\""),
            ("street_code", "\"runzhou.s3\""),
            ("district_code", "\"runzhou\""),
            ("reported_at", "\"2026-11-27T01:00:00.000000Z\""),
            ("due_at", "\"2026-12-04T01:00:00.000000Z\""),
        ] {
            assert_eq!(field(&reported, name), expected, "{name}");
        }
        assert_eq!(reported.as_object().map(serde_json::Map::len), Some(27));
        assert_eq!(
            (field(&reported, "location"), field(&reported, "evidence")),
            ("null".to_owned(), "[]".to_owned())
        );
        let evaluated = issue_json(&views[8]);
        assert_eq!(field(&evaluated, "resolution_level"), "\"COMMITTEE\"");
        assert_eq!(
            field(&evaluated["last_evaluation"], "satisfaction"),
            "\"BASICALLY_SATISFIED\""
        );
        let withdrawn = issue_json(&views[12]);
        assert_eq!(
            (
                field(&withdrawn, "withdrawal_reason"),
                field(&withdrawn, "duplicate_of")
            ),
            (
                "\"DUPLICATE\"".to_owned(),
                "\"01a21b09-3152-763a-8c93-bb709cf5d91b\"".to_owned()
            )
        );
    }

    #[test]
    fn where_it_was_reported_and_its_photos_are_shown_as_given() {
        use gridledger_domain::{CoordinateSystem, EvidenceMediaType, Sha256Digest};
        let (_, views) = walk();
        let mut issue = views[0].clone();
        issue.location = Location::new(
            32.1987654321,
            119.4345678901,
            CoordinateSystem::Gcj02,
            Some(7.25),
            Some("金山路 3 号".to_owned()),
        )
        .ok();
        issue.evidence = vec![EvidenceRef {
            sha256: Sha256Digest::from_bytes([0xab; 32]),
            size: 48_213,
            media_type: EvidenceMediaType::Jpeg,
        }];
        let hex = "ab".repeat(32);
        check(
            &case_file(&issue, days_after_report(1)),
            &[
                "  location     32.1987654321, 119.4345678901 (GCJ02), accuracy 7.25 m, \"金山路 3 号\"",
                &format!("  evidence     {hex} (image/jpeg, 48213 bytes)"),
            ],
            &[],
        );
        let json = issue_json(&issue);
        assert_eq!(
            json["location"].to_string(),
            r#"{"accuracy_m":7.25,"address":"金山路 3 号","coordinate_system":"GCJ02","latitude":32.1987654321,"longitude":119.4345678901}"#
        );
        assert_eq!(
            json["evidence"].to_string(),
            format!(r#"[{{"media_type":"image/jpeg","sha256":"{hex}","size":48213}}]"#)
        );
        issue.location = Location::new(-33.86, 151.2, CoordinateSystem::Wgs84, None, None).ok();
        check(
            &case_file(&issue, days_after_report(1)),
            &["  location     -33.86, 151.2 (WGS84)"],
            &["accuracy"],
        );
        assert_eq!(issue_json(&issue)["location"]["accuracy_m"], Value::Null);
    }

    #[test]
    fn a_list_is_a_table_that_says_how_to_get_the_next_page() {
        let (_, views) = walk();
        let page = IssuePage {
            issues: vec![views[0].clone(), views[12].clone()],
            next_page_token: Some(views[12].issue_id),
        };
        let table = list_table(&page);
        check(
            &table,
            &[
                "issue                                 status            grid                    category              title",
                "01a21b09-561d-750b-a1e3-e4d063fc5eca  REPORTED          runzhou.s3.c01.g02      dispute               噪音扰民 noise at night",
                "01a21b09-561d-750b-a1e3-e4d063fc5eca  WITHDRAWN         runzhou.s3.c01.g02      dispute               噪音扰民 noise at night",
                "more: --page-token 01a21b09-561d-750b-a1e3-e4d063fc5eca",
            ],
            &[],
        );
        let last_page = IssuePage {
            issues: vec![],
            next_page_token: None,
        };
        check(&list_table(&last_page), &[], &["more"]);
        assert_eq!(
            list_json(&last_page).to_string(),
            r#"{"issues":[],"next_page_token":""}"#
        );
        assert_eq!(list_json(&page)["issues"][1]["status"], "WITHDRAWN");
    }
}
