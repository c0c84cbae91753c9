//! Printing for people (aligned text) and for scripts (`--json`, one JSON document per result).

use gridledger_api::{decode_event, proto};
use serde_json::{Value, json};

/// A gRPC error as a one-line error naming its code.
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", status.code(), status.message())
}

/// RFC 3339 text of a wire timestamp ("" when absent).
pub fn time_text(timestamp: Option<&prost_types::Timestamp>) -> String {
    let Some(timestamp) = timestamp else {
        return String::new();
    };
    micros_text(
        timestamp
            .seconds
            .saturating_mul(1_000_000)
            .saturating_add(i64::from(timestamp.nanos / 1_000)),
    )
}

/// RFC 3339 text of microseconds since the Unix epoch.
pub fn micros_text(micros: i64) -> String {
    match u64::try_from(micros) {
        Ok(micros) => {
            humantime::format_rfc3339_micros(std::time::UNIX_EPOCH + std::time::Duration::from_micros(micros))
                .to_string()
        }
        Err(_) => format!("{micros}us before 1970"),
    }
}

fn status_name(status: i32) -> &'static str {
    proto::IssueStatus::try_from(status).map_or("UNKNOWN", |status| status.as_str_name())
}

pub fn ack_json(ack: &proto::CommandAck) -> Value {
    json!({
        "issue_id": ack.issue_id,
        "revision": ack.revision,
        "position": ack.position,
        "event_hash": hex::encode(&ack.event_hash),
        "status": status_name(ack.status),
        "duplicate": ack.duplicate,
    })
}

pub fn print_ack(ack: &proto::CommandAck, json: bool) {
    if json {
        println!("{}", ack_json(ack));
        return;
    }
    println!(
        "issue {}  revision {}  status {}  position {}  hash {}{}",
        ack.issue_id,
        ack.revision,
        status_name(ack.status),
        ack.position,
        hex::encode(&ack.event_hash),
        if ack.duplicate {
            "  (duplicate: already applied, nothing written)"
        } else {
            ""
        }
    );
}

pub fn issue_json(issue: &proto::Issue) -> Value {
    json!({
        "issue_id": issue.issue_id,
        "grid_code": issue.grid_code,
        "community_code": issue.community_code,
        "street_code": issue.street_code,
        "district_code": issue.district_code,
        "category": issue.category,
        "title": issue.title,
        "description": issue.description,
        "reporter_id": issue.reporter_id,
        "status": status_name(issue.status),
        "revision": issue.revision,
        "resolution_level": proto::ResolutionLevel::try_from(issue.resolution_level).map_or("UNKNOWN", |level| level.as_str_name()),
        "reported_at": time_text(issue.reported_at.as_ref()),
        "due_at": time_text(issue.due_at.as_ref()),
        "assignment": issue.assignment.as_ref().map(|assignment| json!({
            "assignee_id": assignment.assignee_id,
            "due_at": time_text(assignment.due_at.as_ref()),
            "accepted": assignment.accepted,
        })),
        "open_meeting_id": issue.open_meeting_id,
        "meetings_concluded": issue.meetings_concluded,
        "escalations": issue.escalations,
        "committee_decisions": issue.committee_decisions,
        "reopens": issue.reopens,
        "last_evaluation": issue.last_evaluation.as_ref().map(|evaluation| json!({
            "satisfaction": proto::Satisfaction::try_from(evaluation.satisfaction).map_or("UNKNOWN", |s| s.as_str_name()),
            "evaluator_id": evaluation.evaluator_id,
            "evaluated_at": time_text(evaluation.evaluated_at.as_ref()),
        })),
        "last_resolved_at": time_text(issue.last_resolved_at.as_ref()),
        "last_occurred_at": time_text(issue.last_occurred_at.as_ref()),
        "withdrawal_reason": proto::WithdrawalReason::try_from(issue.withdrawal_reason).map_or("UNKNOWN", |reason| reason.as_str_name()),
        "duplicate_of": issue.duplicate_of,
    })
}

pub fn print_issue(issue: &proto::Issue, json: bool) {
    if json {
        println!("{}", issue_json(issue));
        return;
    }
    let Value::Object(fields) = issue_json(issue) else {
        return;
    };
    for (name, value) in fields {
        let text = match value {
            Value::String(text) if text.is_empty() => continue,
            Value::Null => continue,
            Value::String(text) => text,
            other => other.to_string(),
        };
        println!("{name:>20}  {text}");
    }
}

pub fn print_issue_list(response: &proto::ListIssuesResponse, json: bool) {
    if json {
        println!(
            "{}",
            json!({
                "issues": response.issues.iter().map(issue_json).collect::<Vec<_>>(),
                "next_page_token": response.next_page_token,
            })
        );
        return;
    }
    println!(
        "{:<36}  {:<16}  {:<22}  {:<20}  title",
        "issue", "status", "grid", "category"
    );
    for issue in &response.issues {
        println!(
            "{:<36}  {:<16}  {:<22}  {:<20}  {}",
            issue.issue_id,
            status_name(issue.status),
            issue.grid_code,
            issue.category,
            issue.title
        );
    }
    if !response.next_page_token.is_empty() {
        println!("more: --page-token {}", response.next_page_token);
    }
}

/// A recorded event as JSON: the exact record bytes (base64), both hashes (hex), the record
/// decoded and, when it is an issue event, the event decoded. This is also the export line.
pub fn recorded_event_json(event: &proto::RecordedEvent) -> Value {
    use base64::Engine;
    let decoded = event.decoded.as_ref().map(|record| {
        json!({
            "position": record.position,
            "stream_id": record.stream_id,
            "revision": record.revision,
            "event_id": uuid::Uuid::from_slice(&record.event_id).map(|id| id.to_string()).unwrap_or_else(|_| hex::encode(&record.event_id)),
            "event_type": record.event_type,
            "recorded_at": micros_text(record.recorded_at),
            "occurred_at": micros_text(record.occurred_at),
            "actor_id": record.actor_id,
            "request_id": record.request_id,
            "stream_prev_hash": hex::encode(&record.stream_prev_hash),
        })
    });
    let domain_event = event.decoded.as_ref().and_then(|record| {
        decode_event(&record.event_type, record.occurred_at, &record.event)
            .ok()
            .and_then(|event| serde_json::to_value(&event.body).ok())
    });
    json!({
        "position": event.position,
        "record": base64::engine::general_purpose::STANDARD.encode(&event.record),
        "prev_hash": hex::encode(&event.prev_hash),
        "hash": hex::encode(&event.hash),
        "decoded": decoded,
        "event": domain_event,
    })
}

/// One line for people: position, time, stream, revision, type.
pub fn recorded_event_line(event: &proto::RecordedEvent) -> String {
    match &event.decoded {
        Some(record) => format!(
            "{:>8}  {}  {}  rev {:<3} {:<26} {}",
            event.position,
            micros_text(record.occurred_at),
            record.stream_id,
            record.revision,
            record.event_type,
            hex::encode(&event.hash)
        ),
        None => format!(
            "{:>8}  (undecodable record)  {}",
            event.position,
            hex::encode(&event.hash)
        ),
    }
}
