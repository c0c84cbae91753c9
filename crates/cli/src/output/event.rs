//! Recorded events for scripts (the export line: the exact record, both hashes, the record
//! and the event decoded) and for people (one history line per event: what happened and
//! the status it led to).

use base64::Engine;
use gridledger_api::{ReplayStep, decode_recorded};
use gridledger_domain::{EvidenceRef, FreeText, IssueEventBody, Location, Timestamp, WithdrawalReason};
use gridledger_eventlog::RecordedEvent;
use serde_json::{Value, json};

use super::issue::{evidence_text, location_text};
use super::one_line;

/// The deadline an event body carries, if any: the one time inside a body (the event's
/// own time is the record's `occurred_at`).
fn deadline_in(body: &IssueEventBody) -> Option<Timestamp> {
    match body {
        IssueEventBody::IssueReported(event) => Some(event.due_at),
        IssueEventBody::IssueDispatched(event) => Some(event.due_at),
        IssueEventBody::CommitteeDecisionRecorded(event) => Some(event.due_at),
        IssueEventBody::IssueHandledInGrid(_)
        | IssueEventBody::AssignmentAccepted(_)
        | IssueEventBody::DeliberationConvened(_)
        | IssueEventBody::DeliberationConcluded(_)
        | IssueEventBody::IssueEscalated(_)
        | IssueEventBody::IssueResolved(_)
        | IssueEventBody::ResolutionEvaluated(_)
        | IssueEventBody::IssueReopened(_)
        | IssueEventBody::IssueWithdrawn(_) => None,
    }
}

/// An event body as JSON: the domain's field names under an `event_type` tag, with its
/// time as RFC 3339 text like every other time of the export.
pub fn event_body_json(body: &IssueEventBody) -> Value {
    let mut json = serde_json::to_value(body).unwrap_or(Value::Null);
    if let (Some(due_at), Value::Object(fields)) = (deadline_in(body), &mut json) {
        fields.insert("due_at".to_owned(), Value::String(due_at.to_string()));
    }
    json
}

/// A recorded event as JSON, which is also the export line: the exact record bytes
/// (base64), both hashes (hex), the record decoded and, when it holds an issue event,
/// the event decoded.
pub fn recorded_event_json(event: &RecordedEvent) -> Value {
    let record = &event.record;
    let event_id = uuid::Uuid::from_slice(&record.event_id)
        .map(|event_id| event_id.to_string())
        .unwrap_or_else(|_| hex::encode(&record.event_id));
    let decoded = json!({
        "position": record.position,
        "stream_id": record.stream_id,
        "revision": record.revision,
        "event_id": event_id,
        "event_type": record.event_type,
        "recorded_at": Timestamp::from_unix_micros(record.recorded_at).to_string(),
        "occurred_at": Timestamp::from_unix_micros(record.occurred_at).to_string(),
        "actor_id": record.actor_id,
        "request_id": record.request_id,
        "stream_prev_hash": hex::encode(&record.stream_prev_hash),
    });
    let issue_event = decode_recorded(event)
        .ok()
        .map(|issue_event| event_body_json(&issue_event.body));
    json!({
        "position": event.position,
        "record": base64::engine::general_purpose::STANDARD.encode(&event.record_bytes),
        "prev_hash": hex::encode(event.prev_hash),
        "hash": hex::encode(event.hash),
        "decoded": decoded,
        "event": issue_event,
    })
}

/// Free text, quoted and on one line; nothing when empty.
fn quoted(prefix: &str, text: &FreeText) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!("{prefix}\"{}\"", one_line(text.as_str(), 60))
    }
}

/// A list as `a, b`, after `prefix`; nothing when empty.
fn listed<T: AsRef<str>>(prefix: &str, entries: &[T]) -> String {
    if entries.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = entries.iter().map(AsRef::as_ref).collect();
    format!("{prefix}{}", names.join(", "))
}

/// Where an event happened and its photos, when it says: `; at <location>; evidence
/// <sha256> (<media type>, <size> bytes), ...`; nothing when it says neither.
fn place_and_evidence(location: Option<&Location>, evidence: &[EvidenceRef]) -> String {
    let mut text = String::new();
    if let Some(location) = location {
        text.push_str("; at ");
        text.push_str(&location_text(location));
    }
    if !evidence.is_empty() {
        let references: Vec<String> = evidence.iter().map(evidence_text).collect();
        text.push_str("; evidence ");
        text.push_str(&references.join(", "));
    }
    text
}

/// What an event says, in a few words: who, what, until when; where, and its photos.
pub fn what_happened(body: &IssueEventBody) -> String {
    let said = what_it_says(body);
    format!("{said}{}", place_and_evidence(body.location(), body.evidence()))
}

fn what_it_says(body: &IssueEventBody) -> String {
    match body {
        IssueEventBody::IssueReported(event) => format!(
            "\"{}\" in {}, {}, by {}, due {}",
            one_line(event.title.as_str(), 60),
            event.grid,
            event.category,
            event.reporter_id,
            event.due_at
        ),
        IssueEventBody::IssueHandledInGrid(event) => format!("handled on the spot{}", quoted(": ", &event.summary)),
        IssueEventBody::IssueDispatched(event) => format!("to {}, due {}", event.assignee_id, event.due_at),
        IssueEventBody::AssignmentAccepted(event) => format!("by {}", event.assignee_id),
        IssueEventBody::DeliberationConvened(event) => format!(
            "meeting {} ({}){}",
            event.meeting_id,
            event.forum,
            listed(", parties: ", event.parties.entries())
        ),
        IssueEventBody::DeliberationConcluded(event) => format!(
            "meeting {}, {} participants{}",
            event.meeting_id,
            event.participants,
            quoted(", outcome ", &event.outcome)
        ),
        IssueEventBody::IssueEscalated(event) => format!(
            "{}{}",
            event.reason,
            event.note.as_ref().map(|note| quoted(": ", note)).unwrap_or_default()
        ),
        IssueEventBody::CommitteeDecisionRecorded(event) => format!(
            "lead {}{}, due {}{}",
            event.lead_department,
            listed(", supporting ", event.supporting_departments.entries()),
            event.due_at,
            quoted(": ", &event.decision)
        ),
        IssueEventBody::IssueResolved(event) => quoted("", &event.summary),
        IssueEventBody::ResolutionEvaluated(event) => format!(
            "{} by {}{}",
            event.satisfaction,
            event.evaluator_id,
            quoted(": ", &event.comment)
        ),
        IssueEventBody::IssueReopened(event) => quoted("", &event.reason),
        IssueEventBody::IssueWithdrawn(event) => match &event.reason {
            WithdrawalReason::Duplicate { duplicate_of } => format!("DUPLICATE of {duplicate_of}"),
            reason => reason.kind_name().to_owned(),
        },
    }
}

/// One event of an issue's history for people: position, business time, revision, type,
/// what happened, the status it led to (with the resolution level), the actor and the
/// chain hash.
pub fn history_line(step: &ReplayStep) -> String {
    let record = &step.event.record;
    let what = match decode_recorded(&step.event) {
        Ok(event) => what_happened(&event.body),
        Err(error) => format!("(undecodable event: {error})"),
    };
    let state = &step.state_after;
    let level = state
        .resolution_level
        .map(|level| format!(" ({level})"))
        .unwrap_or_default();
    let actor = if record.actor_id.is_empty() {
        String::new()
    } else {
        format!("  actor {}", record.actor_id)
    };
    format!(
        "{:>8}  {}  rev {:<3} {:<26} {}  -> {}{level}{actor}  {}",
        step.event.position,
        Timestamp::from_unix_micros(record.occurred_at),
        record.revision,
        record.event_type,
        what,
        state.status,
        hex::encode(step.event.hash)
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{recorded, walk};
    use super::*;

    /// Checks each rendered line against its expected text.
    fn check(rendered: &[String], expected: &[&str]) {
        assert_eq!(rendered.len(), expected.len(), "{rendered:#?}");
        for (line, expected) in rendered.iter().zip(expected) {
            assert_eq!(line, expected);
        }
    }

    #[test]
    fn each_history_line_says_what_happened_and_the_status_it_led_to() {
        let (events, views) = walk();
        let recorded = recorded(&events);
        let lines: Vec<String> = recorded
            .iter()
            .zip(&views)
            .map(|(event, state_after)| {
                let line = history_line(&ReplayStep {
                    event: event.clone(),
                    state_after: state_after.clone(),
                });
                let hash = hex::encode(event.hash);
                assert!(line.ends_with(&format!("  {hash}")), "{line}");
                line.trim_end_matches(&hash).trim_end().to_owned()
            })
            .collect();
        check(
            &lines,
            &[
                "       1  2026-11-27T01:00:00.000000Z  rev 0   IssueReported              \"噪音扰民 noise at night\" in runzhou.s3.c01.g02, dispute, by worker-3, due 2026-12-04T01:00:00.000000Z  -> REPORTED  actor worker-3",
                "       2  2026-11-27T02:00:00.000000Z  rev 1   IssueDispatched            to mediator-2, due 2026-11-30T01:00:00.000000Z  -> IN_PROGRESS",
                "       3  2026-11-27T03:00:00.000000Z  rev 2   AssignmentAccepted         by mediator-2  -> IN_PROGRESS",
                "       4  2026-11-27T04:00:00.000000Z  rev 3   DeliberationConvened       meeting cli-m1 (RESIDENT_REPRESENTATIVE_MEETING), parties: residents, landlord  -> IN_DELIBERATION",
                "       5  2026-11-27T06:00:00.000000Z  rev 4   DeliberationConcluded      meeting cli-m1, 9 participants, outcome \"quiet hours agreed\"  -> IN_PROGRESS",
                "       6  2026-11-27T07:00:00.000000Z  rev 5   IssueEscalated             RECURRING: \"keeps coming back\"  -> ESCALATED",
                "       7  2026-11-27T08:00:00.000000Z  rev 6   CommitteeDecisionRecorded  lead urban-management-bureau, supporting public-security-bureau, due 2026-12-07T01:00:00.000000Z: \"enforce quiet hours\"  -> ESCALATED",
                "       8  2026-11-27T09:00:00.000000Z  rev 7   IssueResolved              \"agreement holds\"  -> RESOLVED (COMMITTEE)",
                "       9  2026-11-27T10:00:00.000000Z  rev 8   ResolutionEvaluated        BASICALLY_SATISFIED by resident-9  -> RESOLVED (COMMITTEE)",
                "      10  2026-11-27T11:00:00.000000Z  rev 9   IssueReopened              \"music is back\"  -> REOPENED",
                "      11  2026-11-27T12:00:00.000000Z  rev 10  IssueHandledInGrid         handled on the spot: \"talked to the tenant\"  -> RESOLVED (GRID)",
                "      12  2026-11-27T13:00:00.000000Z  rev 11  IssueReopened                -> REOPENED",
                "      13  2026-11-27T14:00:00.000000Z  rev 12  IssueWithdrawn             DUPLICATE of 01a21b09-3152-763a-8c93-bb709cf5d91b  -> WITHDRAWN",
            ],
        );
    }

    #[test]
    fn history_lines_say_where_and_name_each_photo() {
        use gridledger_domain::{CoordinateSystem, EvidenceList, EvidenceMediaType, IssueHandledInGrid, Sha256Digest};
        let photos = |bytes: &[u8]| {
            EvidenceList::new(
                bytes
                    .iter()
                    .map(|byte| EvidenceRef {
                        sha256: Sha256Digest::from_bytes([*byte; 32]),
                        size: 1_000 + u64::from(*byte),
                        media_type: EvidenceMediaType::Png,
                    })
                    .collect(),
            )
            .expect("within the limits")
        };
        let handled = |location, evidence| {
            what_happened(&IssueEventBody::IssueHandledInGrid(IssueHandledInGrid {
                summary: FreeText::parse(gridledger_domain::Field::Summary, "swept").expect("valid text"),
                location,
                evidence,
            }))
        };
        let here = Location::new(
            32.2,
            119.4,
            CoordinateSystem::Bd09,
            Some(3.0),
            Some("gate 2".to_owned()),
        )
        .ok();
        assert_eq!(
            handled(here, photos(&[1, 2])),
            format!(
                "handled on the spot: \"swept\"; at 32.2, 119.4 (BD09), accuracy 3 m, \"gate 2\"; evidence {} (image/png, 1001 bytes), {} (image/png, 1002 bytes)",
                "01".repeat(32),
                "02".repeat(32)
            )
        );
        assert_eq!(
            handled(None, photos(&[3])),
            format!(
                "handled on the spot: \"swept\"; evidence {} (image/png, 1003 bytes)",
                "03".repeat(32)
            )
        );
        assert_eq!(handled(None, EvidenceList::none()), "handled on the spot: \"swept\"");
    }

    #[test]
    fn the_export_line_writes_every_time_as_rfc3339_and_keeps_the_exact_record() {
        let (events, _) = walk();
        let recorded = recorded(&events);
        for event in &recorded {
            let line = recorded_event_json(event);
            let record = base64::engine::general_purpose::STANDARD
                .decode(line["record"].as_str().unwrap_or_default())
                .expect("base64");
            assert_eq!(record, event.record_bytes);
            assert_eq!(line["hash"], hex::encode(event.hash));
            assert_eq!(line["prev_hash"], hex::encode(event.prev_hash));
            assert_eq!(line["position"], event.position);
            assert_eq!(line["decoded"]["position"], event.position);
            assert_eq!(
                line["decoded"]["stream_id"],
                "issue-01a21b09-561d-750b-a1e3-e4d063fc5eca"
            );
            assert_eq!(line["decoded"]["event_type"], line["event"]["event_type"]);
            assert_eq!(
                line["decoded"]["occurred_at"],
                events[usize::try_from(event.position).unwrap_or(1) - 1]
                    .occurred_at
                    .to_string()
            );
            assert!(
                uuid::Uuid::parse_str(line["decoded"]["event_id"].as_str().unwrap_or_default()).is_ok(),
                "{line}"
            );
            // Every time is text; the only numbers of an event are counts.
            let numbers: Vec<&String> = line["event"]
                .as_object()
                .map(|fields| {
                    fields
                        .iter()
                        .filter(|(_, value)| value.is_number())
                        .map(|(key, _)| key)
                        .collect()
                })
                .unwrap_or_default();
            assert!(numbers.iter().all(|key| *key == "participants"), "{line}");
        }
        let reported = recorded_event_json(&recorded[0]);
        assert_eq!(reported["decoded"]["actor_id"], "worker-3");
        assert_eq!(reported["decoded"]["request_id"], "fixture-0");
        assert_eq!(reported["decoded"]["stream_prev_hash"], hex::encode([0u8; 32]));
        let keys = |value: &Value| {
            value
                .as_object()
                .map(|fields| fields.keys().cloned().collect::<Vec<_>>())
        };
        assert_eq!(
            keys(&reported),
            Some(
                ["decoded", "event", "hash", "position", "prev_hash", "record"]
                    .map(str::to_owned)
                    .to_vec()
            )
        );
        assert_eq!(
            reported["event"].to_string(),
            r#"{"category":"dispute","description":"Music until 2 am\nevery weekend","due_at":"2026-12-04T01:00:00.000000Z","event_type":"IssueReported","grid":"runzhou.s3.c01.g02","issue_id":"01a21b09-561d-750b-a1e3-e4d063fc5eca","reporter_id":"worker-3","title":"噪音扰民 noise at night"}"#
        );
        assert_eq!(
            recorded_event_json(&recorded[6])["event"]["due_at"],
            "2026-12-07T01:00:00.000000Z"
        );
        assert_eq!(
            recorded_event_json(&recorded[1])["event"]["due_at"],
            "2026-11-30T01:00:00.000000Z"
        );
    }
}
