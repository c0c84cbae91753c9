//! Printing for people (text) and for scripts (`--json`, one JSON document per result):
//! acknowledgements here, issues in [`issue`], recorded events in [`event`].

pub mod event;
#[cfg(test)]
mod fixtures;
pub mod issue;

use gridledger_api::Acknowledgement;
use gridledger_domain::{IssueStatus, Timestamp};
use serde_json::{Value, json};

/// The JSON name of an optional status: its stable name, or the wire's name for none.
pub fn status_name(status: Option<IssueStatus>) -> &'static str {
    status.map_or("ISSUE_STATUS_UNSPECIFIED", IssueStatus::as_str)
}

/// An acknowledgement as JSON.
pub fn ack_json(ack: &Acknowledgement) -> Value {
    json!({
        "issue_id": ack.issue_id.to_string(),
        "revision": ack.revision,
        "position": ack.position,
        "event_hash": hex::encode(ack.event_hash),
        "status": status_name(ack.status),
        "duplicate": ack.duplicate,
    })
}

const DUPLICATE_NOTE: &str = "  (duplicate: already applied, nothing written)";

/// An acknowledgement on one line for people.
pub fn ack_line(ack: &Acknowledgement) -> String {
    format!(
        "issue {}  revision {}  status {}  position {}  hash {}{}",
        ack.issue_id,
        ack.revision,
        status_name(ack.status),
        ack.position,
        hex::encode(ack.event_hash),
        if ack.duplicate { DUPLICATE_NOTE } else { "" }
    )
}

/// How `gridledger report` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportOutput {
    /// The acknowledgement as JSON (`--json`).
    Json,
    /// Just the new issue's id (`--quiet`, or stdout is not a terminal), for `ID=$(...)`.
    IdOnly,
    /// A sentence and the acknowledgement, on a terminal.
    ForPeople,
}

impl ReportOutput {
    /// The output for the flags given and whether stdout is a terminal.
    pub fn choose(json: bool, quiet: bool, stdout_is_terminal: bool) -> Self {
        if json {
            ReportOutput::Json
        } else if quiet || !stdout_is_terminal {
            ReportOutput::IdOnly
        } else {
            ReportOutput::ForPeople
        }
    }

    /// What `report` prints for `ack`.
    pub fn render(self, ack: &Acknowledgement) -> String {
        match self {
            ReportOutput::Json => ack_json(ack).to_string(),
            ReportOutput::IdOnly => ack.issue_id.to_string(),
            ReportOutput::ForPeople => format!(
                "reported issue {} ({}, revision {}, log position {}, hash {}){}",
                ack.issue_id,
                status_name(ack.status),
                ack.revision,
                ack.position,
                hex::encode(ack.event_hash),
                if ack.duplicate { DUPLICATE_NOTE } else { "" }
            ),
        }
    }
}

/// A time for people: `2026-11-27 03:25 UTC` (to the minute).
pub fn time_for_people(time: Timestamp) -> String {
    let exact = time.to_string();
    match (exact.get(..10), exact.get(11..16)) {
        (Some(date), Some(hour_minute)) if exact.len() == 27 => format!("{date} {hour_minute} UTC"),
        _ => exact,
    }
}

/// Free text on one line: whitespace and control characters collapsed to single spaces,
/// cut to `max_chars` characters with an ellipsis.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let words: Vec<&str> = text
        .split(|character: char| character.is_whitespace() || character.is_control())
        .filter(|word| !word.is_empty())
        .collect();
    let joined = words.join(" ");
    if joined.chars().count() <= max_chars {
        return joined;
    }
    let mut cut: String = joined.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use gridledger_domain::IssueId;

    use super::*;

    fn ack(status: Option<IssueStatus>, duplicate: bool) -> Acknowledgement {
        Acknowledgement {
            issue_id: IssueId::parse("01a21b09-561d-750b-a1e3-e4d063fc5eca").expect("a valid id"),
            revision: 0,
            position: 17,
            event_hash: [0x36; 32],
            status,
            duplicate,
        }
    }

    fn check(rendered: String, expected: &str) {
        assert_eq!(rendered, expected);
    }

    const HASH: &str = "3636363636363636363636363636363636363636363636363636363636363636";

    #[test]
    fn report_prints_only_the_id_unless_on_a_terminal_and_json_always_the_ack() {
        let reported = ack(Some(IssueStatus::Reported), false);
        let choose = |json, quiet, terminal| ReportOutput::choose(json, quiet, terminal).render(&reported);
        check(choose(false, false, false), "01a21b09-561d-750b-a1e3-e4d063fc5eca");
        check(choose(false, true, true), "01a21b09-561d-750b-a1e3-e4d063fc5eca");
        check(
            choose(false, false, true),
            &format!(
                "reported issue 01a21b09-561d-750b-a1e3-e4d063fc5eca (REPORTED, revision 0, log position 17, hash {HASH})"
            ),
        );
        let json = format!(
            r#"{{"duplicate":false,"event_hash":"{HASH}","issue_id":"01a21b09-561d-750b-a1e3-e4d063fc5eca","position":17,"revision":0,"status":"REPORTED"}}"#
        );
        check(choose(true, false, false), &json);
        check(choose(true, true, true), &json);
    }

    #[test]
    fn acks_name_the_status_and_say_when_nothing_was_written() {
        check(
            ack_line(&ack(Some(IssueStatus::InProgress), false)),
            &format!(
                "issue 01a21b09-561d-750b-a1e3-e4d063fc5eca  revision 0  status IN_PROGRESS  position 17  hash {HASH}"
            ),
        );
        check(
            ack_line(&ack(Some(IssueStatus::Resolved), true)),
            &format!(
                "issue 01a21b09-561d-750b-a1e3-e4d063fc5eca  revision 0  status RESOLVED  position 17  hash {HASH}  (duplicate: already applied, nothing written)"
            ),
        );
        check(
            ack_json(&ack(None, true))["status"].to_string(),
            "\"ISSUE_STATUS_UNSPECIFIED\"",
        );
    }

    #[test]
    fn times_for_people_are_to_the_minute_and_text_fits_on_one_line() {
        check(
            time_for_people(Timestamp::from_unix_micros(1_795_748_340_123_456)),
            "2026-11-27 02:59 UTC",
        );
        check(
            time_for_people(Timestamp::from_unix_micros(253_402_300_800_000_000)),
            "+10000-01-01T00:00:00.000000Z",
        );
        check(one_line("  two\nlines\t and\u{7}more ", 80), "two lines and more");
        check(one_line("噪音扰民 noise at night", 8), "噪音扰民 no…");
        check(one_line("", 8), "");
    }
}
