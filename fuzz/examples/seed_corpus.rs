//! Writes the seed corpus of every fuzz target into `fuzz/corpus/<target>/`: a handful of
//! small valid inputs built from the same fixtures as the targets.
//!
//! ```sh
//! cd fuzz && cargo +nightly run --example seed_corpus
//! ```
//!
//! Files are named `seed-<what>`; running it again overwrites them and leaves the files
//! the fuzzer added alone. Empty requests are left out: libFuzzer tries the empty input
//! anyway. `cargo fuzz cmin` keeps every seed written here (checked when they were made).

use std::path::{Path, PathBuf};

use gridledger_api::{WireCommand, list_request_to_proto, proto};
use gridledger_codec::event_body_to_proto;
use gridledger_domain::{IssueStatus, Timestamp};
use gridledger_fuzz::{NOW_MICROS, OTHER_ISSUE, command_input, history, stored_record, valid_commands};
use gridledger_server::auth::{hash_secret_hex, token_for};
use prost::Message;

fn corpus(target: &str) -> PathBuf {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    std::fs::create_dir_all(&directory).expect("create the corpus directory");
    directory
}

fn write(directory: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(directory.join(format!("seed-{name}")), bytes).expect("write a seed");
}

fn timestamp(days: i64) -> Option<prost_types::Timestamp> {
    Some(gridledger_api::timestamp_to_proto(Timestamp::from_unix_micros(
        NOW_MICROS + days * 86_400_000_000,
    )))
}

fn stored_record_seeds() {
    let directory = corpus("stored_record");
    let mut seen_types = Vec::new();
    for (index, event) in history().events.iter().enumerate() {
        // Once per event type: the second reopening adds nothing.
        if seen_types.contains(&event.event_type()) {
            continue;
        }
        seen_types.push(event.event_type());
        let position = index as u64 + 1;
        let name = format!("{position:02}-{}", event.event_type());
        // The whole record, as the log stores it ...
        write(
            &directory,
            &format!("record-{name}"),
            &stored_record(event, position).encode_to_vec(),
        );
        // ... and the event body alone, as the payload tried under every event type.
        write(
            &directory,
            &format!("body-{name}"),
            &event_body_to_proto(&event.body).encode_to_vec(),
        );
    }
}

fn command_seeds() {
    let directory = corpus("command_requests");
    let commands = valid_commands();
    for command in &commands {
        let input = command_input(command);
        let name = gridledger_fuzz::COMMAND_KINDS[usize::from(input[0])];
        write(&directory, name, &input);
    }
    // Variants: the server chooses the id; meta with a revision and a business time;
    // escalation without a note; withdrawal for another reason; a report outside the
    // registry.
    let mut variants = Vec::new();
    if let WireCommand::ReportIssue(report) = &commands[0] {
        let mut chosen = report.clone();
        chosen.issue_id.clear();
        chosen.meta = Some(proto::CommandMeta {
            request_id: "r-chosen".to_owned(),
            expected_revision: Some(0),
            occurred_at: timestamp(-1),
        });
        variants.push(("ReportIssueRequest-server-chooses-id", WireCommand::ReportIssue(chosen)));
        let mut unknown = report.clone();
        unknown.grid_code = "runzhou.s9.c99.g99".to_owned();
        variants.push(("ReportIssueRequest-unknown-grid", WireCommand::ReportIssue(unknown)));
    }
    if let Some(WireCommand::EscalateIssue(escalate)) = commands.get(5) {
        let mut no_note = escalate.clone();
        no_note.note.clear();
        no_note.reason = proto::EscalationReason::BeyondCommunityCapacity as i32;
        variants.push(("EscalateIssueRequest-no-note", WireCommand::EscalateIssue(no_note)));
    }
    if let Some(WireCommand::WithdrawIssue(withdraw)) = commands.get(11) {
        let mut resolved = withdraw.clone();
        resolved.reason = proto::WithdrawalReason::ReporterWithdrew as i32;
        resolved.duplicate_of.clear();
        variants.push((
            "WithdrawIssueRequest-other-reason",
            WireCommand::WithdrawIssue(resolved),
        ));
        let mut itself = withdraw.clone();
        itself.duplicate_of = OTHER_ISSUE.to_owned();
        itself.meta = Some(proto::CommandMeta {
            request_id: "r-expected".to_owned(),
            expected_revision: Some(12),
            occurred_at: timestamp(0),
        });
        variants.push((
            "WithdrawIssueRequest-expected-revision",
            WireCommand::WithdrawIssue(itself),
        ));
    }
    for (name, command) in variants {
        write(&directory, name, &command_input(&command));
    }
}

fn stats_seeds() {
    let directory = corpus("stats_filters");
    let stats = [
        (
            "stats-street-category-period",
            proto::GetGovernanceStatsRequest {
                scope: "runzhou.s1".to_owned(),
                category: "environment".to_owned(),
                period_start: timestamp(-90),
                period_end: timestamp(0),
                as_of: timestamp(-1),
            },
        ),
        (
            "stats-grid",
            proto::GetGovernanceStatsRequest {
                scope: "runzhou.s3.c07.g02".to_owned(),
                ..Default::default()
            },
        ),
    ];
    for (name, request) in stats {
        write(&directory, name, &request.encode_to_vec());
    }
    let breakdowns = [
        (
            "breakdown-by-community",
            proto::BreakdownGovernanceStatsRequest {
                scope: "runzhou.s2".to_owned(),
                group_by: proto::GroupBy::Community as i32,
                ..Default::default()
            },
        ),
        (
            "breakdown-by-month",
            proto::BreakdownGovernanceStatsRequest {
                scope: "runzhou".to_owned(),
                group_by: proto::GroupBy::Month as i32,
                category: "public-security".to_owned(),
                period_start: timestamp(-365),
                period_end: timestamp(0),
                as_of: None,
            },
        ),
    ];
    for (name, request) in breakdowns {
        write(&directory, name, &request.encode_to_vec());
    }
    // A list filter naming every field (a community, a status, a category), as the client
    // sends it, with a page token.
    let request = proto::ListIssuesRequest {
        scope: "runzhou.s1.c01".to_owned(),
        status: gridledger_codec::issue_status_to_proto(IssueStatus::InProgress) as i32,
        category: "environment".to_owned(),
        page_size: 20,
        page_token: String::new(),
    };
    let filter =
        gridledger_api::list_filter_from_proto(&request, gridledger_fuzz::registry()).expect("a valid list filter");
    let page_token = gridledger_api::parse_issue_id("page_token", OTHER_ISSUE).ok();
    write(
        &directory,
        "list-community-in-progress",
        &list_request_to_proto(&filter, 20, page_token).encode_to_vec(),
    );
}

fn auth_seeds() {
    let directory = corpus("auth_file");
    let secret = [0x5a_u8; 32];
    let token = token_for("worker-7", &secret);
    let (_, encoded_secret) = token.rsplit_once('_').map_or(("", ""), |(id, secret)| (id, secret));
    let hash = hash_secret_hex(encoded_secret);
    let file = format!(
        r#"{{
  "principals": [
    {{
      "id": "worker-7",
      "role": "grid_worker",
      "scopes": ["runzhou.s1.c01.g01", "runzhou.s1.c01.g02"],
      "token_sha256": "{hash}",
      "added_at": "2026-11-30T09:00:00Z"
    }},
    {{"id": "ops", "role": "community", "scopes": ["runzhou.s1.c01"], "token_sha256": "{hash}"}},
    {{"id": "board.1", "role": "committee", "scopes": ["runzhou"], "token_sha256": "{hash}"}},
    {{"id": "analyst-1", "role": "analyst", "scopes": ["runzhou.s2"], "token_sha256": "{hash}"}},
    {{"id": "auditor-1", "role": "auditor", "scopes": ["runzhou"], "token_sha256": "{hash}"}},
    {{"id": "root", "role": "admin", "scopes": ["runzhou"], "token_sha256": "{hash}"}}
  ]
}}
"#
    );
    write(&directory, "file-every-role", file.as_bytes());
    write(&directory, "file-empty", b"{\"principals\": []}\n");
    write(
        &directory,
        "file-committee-on-a-street",
        format!(r#"{{"principals": [{{"id": "ops", "role": "committee", "scopes": ["runzhou.s1"], "token_sha256": "{hash}"}}]}}"#)
            .as_bytes(),
    );
    write(&directory, "file-unknown-key", br#"{"principals": [], "secret": 1}"#);
    write(&directory, "token-worker-7", token.as_bytes());
    write(
        &directory,
        "token-fixture",
        b"glt_worker-7_q0V3l1p2oFJ4aUt1fCq8s7yX1Kkz9b6eHhN3mRzT0cA",
    );
}

fn main() {
    stored_record_seeds();
    command_seeds();
    stats_seeds();
    auth_seeds();
    for target in ["stored_record", "command_requests", "stats_filters", "auth_file"] {
        let directory = corpus(target);
        let files = std::fs::read_dir(&directory).expect("read the corpus").count();
        println!("{}: {files} files", directory.display());
    }
}
