//! Hostile input over a real server: malformed protobuf, bad gRPC framing, oversized and
//! padded requests, out-of-range and implausible times, huge and invisible text, stale page
//! tokens and duplicates of nothing. Each is refused with the client's code (never
//! INTERNAL), a short printable message naming what is wrong, and nothing written.

mod support;

use std::future::Future;
use std::pin::Pin;

use gridledger_api::proto;
use support::{GRID, TestServer, days_from_now, fresh_meta, meta, report_request};
use tonic::codegen::http;
use tonic::{Code, Status};

/// A call sent, answered with its status (`Ok` for OK).
type Sent<'a> = Pin<Box<dyn Future<Output = Result<(), Status>> + Send + 'a>>;

/// A typed call, its response dropped.
fn sent<'a, T>(call: impl Future<Output = Result<tonic::Response<T>, Status>> + Send + 'a) -> Sent<'a> {
    Box::pin(async move { call.await.map(|_| ()) })
}

/// Sends `body` as the exact HTTP/2 request body of a gRPC call to `path`, framing and all,
/// and returns the call's status. (The body is a `String`: the frames built here are
/// ASCII, lengths included.)
fn raw<'a>(server: &'a TestServer, path: &'static str, body: Vec<u8>) -> Sent<'a> {
    Box::pin(async move {
        use tonic::codegen::Body as _;
        use tonic::codegen::Service as _;
        let body = String::from_utf8(body).map_err(|error| Status::unknown(format!("not ASCII: {error}")))?;
        let request = http::Request::builder()
            .method("POST")
            .uri(format!("http://{}{path}", server.server.local_addr))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(tonic::body::Body::new(body))
            .map_err(|error| Status::unknown(error.to_string()))?;
        let mut channel = server.channel.clone();
        std::future::poll_fn(|context| channel.poll_ready(context))
            .await
            .map_err(|error| Status::unknown(error.to_string()))?;
        let response = channel
            .call(request)
            .await
            .map_err(|error| Status::unknown(error.to_string()))?;
        // A trailers-only response carries its status in the headers; otherwise it is in
        // the trailers after the messages.
        let mut status = Status::from_header_map(response.headers());
        let mut body = response.into_body();
        while status.is_none() {
            match std::future::poll_fn(|context| Pin::new(&mut body).poll_frame(context)).await {
                None => return Err(Status::unknown("the response ended without a status")),
                Some(Err(status)) => return Err(status),
                Some(Ok(frame)) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        status = Status::from_header_map(&trailers);
                    }
                }
            }
        }
        match status {
            Some(status) if status.code() != Code::Ok => Err(status),
            _ => Ok(()),
        }
    })
}

/// One gRPC frame: the compression flag, the big-endian length, the message.
fn frame(compression_flag: u8, message: &[u8]) -> Vec<u8> {
    let length = u32::try_from(message.len()).expect("a frame under 4 GiB");
    [&[compression_flag][..], &length.to_be_bytes(), message].concat()
}

/// A length-delimited protobuf field under 128 bytes (so its key and length are one ASCII
/// byte each).
fn field(number: u8, value: &[u8]) -> Vec<u8> {
    assert!(
        number < 16 && value.len() < 128,
        "field {number} of {} bytes",
        value.len()
    );
    [&[(number << 3) | 2, value.len() as u8][..], value].concat()
}

/// A valid ReportIssueRequest, encoded by hand as a client without our code would.
fn report_bytes(request_id: &str) -> Vec<u8> {
    [
        field(1, &field(1, request_id.as_bytes())),
        field(3, GRID.as_bytes()),
        field(4, b"environment"),
        field(5, b"sent as raw bytes"),
        field(7, b"worker-1"),
    ]
    .concat()
}

/// `total` bytes of unknown fields (number 15), every byte ASCII: 127-byte values, then
/// a shorter one and, if needed, an empty varint field to land on `total` exactly.
fn unknown_fields(total: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(total);
    while total - bytes.len() > 130 {
        bytes.extend(field(15, &[b'x'; 127]));
    }
    if total - bytes.len() == 130 {
        bytes.extend([15 << 3, 0]);
    }
    let rest = total - bytes.len();
    if rest > 0 {
        bytes.extend(field(15, &vec![b'x'; rest - 2]));
    }
    assert_eq!(bytes.len(), total);
    bytes
}

/// A `RecordedEvent` (field 2: bytes) sent to `HandleInGrid` (field 2: the issue id, a
/// string), as a client built from another schema would: bytes that are not UTF-8 where a
/// string is expected.
fn not_utf8_where_a_string_is_expected(server: &TestServer) -> Sent<'_> {
    Box::pin(async move {
        let mut grpc = tonic::client::Grpc::new(server.channel.clone());
        grpc.ready().await.map_err(|error| Status::unknown(error.to_string()))?;
        let codec = gridledger_api::GridledgerCodec::<proto::RecordedEvent, proto::CommandAck>::default();
        let message = proto::RecordedEvent {
            record: vec![0xff, 0xfe, 0xfd],
            ..Default::default()
        };
        grpc.unary(
            tonic::Request::new(message),
            http::uri::PathAndQuery::from_static("/gridledger.v1.IssueService/HandleInGrid"),
            codec,
        )
        .await
        .map(|_| ())
    })
}

/// Sends one hostile call and checks it is refused with `code`, with a short printable
/// message containing every one of `message_parts`, and that the log's head did not move.
async fn check(
    server: &TestServer,
    case: &str,
    call: Sent<'_>,
    code: Code,
    message_parts: &[&str],
) -> anyhow::Result<()> {
    let head = server.head_position().await?;
    let status = match call.await {
        Ok(()) => anyhow::bail!("{case}: accepted, expected {code:?}"),
        Err(status) => status,
    };
    let message = status.message();
    anyhow::ensure!(
        status.code() == code,
        "{case}: {:?} {message:?}, expected {code:?}",
        status.code()
    );
    for part in message_parts {
        anyhow::ensure!(message.contains(part), "{case}: {message:?} lacks {part:?}");
    }
    anyhow::ensure!(
        message.len() <= 400 && !message.chars().any(char::is_control),
        "{case}: not a short printable message: {} bytes, {:?}",
        message.len(),
        &message[..message.len().min(400)]
    );
    anyhow::ensure!(server.head_position().await? == head, "{case}: the log's head moved");
    Ok(())
}

fn timestamp(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

fn meta_at(occurred_at: Option<prost_types::Timestamp>) -> Option<proto::CommandMeta> {
    Some(proto::CommandMeta {
        occurred_at,
        ..fresh_meta().expect("meta")
    })
}

#[tokio::test]
async fn hostile_input_is_refused_as_the_clients_mistake_and_writes_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut issues = server.issues();
    // The raw sender speaks gRPC: a well-formed hand-encoded report is accepted.
    let head = server.head_position().await?;
    raw(
        &server,
        "/gridledger.v1.IssueService/ReportIssue",
        frame(0, &report_bytes("raw-1")),
    )
    .await?;
    assert_eq!(server.head_position().await?, head + 1);
    let open = issues.report_issue(report_request("open")).await?.into_inner().issue_id;
    let in_deliberation = issues
        .report_issue(report_request("in deliberation"))
        .await?
        .into_inner()
        .issue_id;
    issues
        .convene_deliberation(proto::ConveneDeliberationRequest {
            meta: fresh_meta(),
            issue_id: in_deliberation.clone(),
            meeting_id: "m-1".to_owned(),
            forum: proto::Forum::ResidentRepresentativeMeeting as i32,
            parties: vec![],
        })
        .await?;
    let unknown_issue = uuid::Uuid::now_v7().to_string();

    let report_with = |edit: fn(&mut proto::ReportIssueRequest)| {
        let mut request = report_request("hostile");
        edit(&mut request);
        let mut client = server.issues();
        sent(async move { client.report_issue(request).await })
    };
    let dispatch = |assignee: &str, due_at: Option<prost_types::Timestamp>| {
        let request = proto::DispatchIssueRequest {
            meta: fresh_meta(),
            issue_id: open.clone(),
            assignee_id: assignee.to_owned(),
            due_at,
        };
        let mut client = server.issues();
        sent(async move { client.dispatch_issue(request).await })
    };
    let handle = |issue_id: String| {
        let request = proto::HandleInGridRequest {
            meta: fresh_meta(),
            issue_id,
            summary: String::new(),
            ..Default::default()
        };
        let mut client = server.issues();
        sent(async move { client.handle_in_grid(request).await })
    };
    let get = |issue_id: String| {
        let mut client = server.issues();
        sent(async move { client.get_issue(proto::GetIssueRequest { issue_id }).await })
    };
    let list_after = |page_token: String| {
        let request = proto::ListIssuesRequest {
            page_token,
            ..Default::default()
        };
        let mut client = server.issues();
        sent(async move { client.list_issues(request).await })
    };
    let convene = |meeting_id: &str, parties: &[&str]| {
        let request = proto::ConveneDeliberationRequest {
            meta: fresh_meta(),
            issue_id: open.clone(),
            meeting_id: meeting_id.to_owned(),
            forum: proto::Forum::CommunityAffairsConsultation as i32,
            parties: parties.iter().map(|party| (*party).to_owned()).collect(),
        };
        let mut client = server.issues();
        sent(async move { client.convene_deliberation(request).await })
    };
    let conclude = |participants: u32| {
        let request = proto::ConcludeDeliberationRequest {
            meta: fresh_meta(),
            issue_id: in_deliberation.clone(),
            meeting_id: "m-1".to_owned(),
            participants,
            outcome: String::new(),
            minutes: String::new(),
        };
        let mut client = server.issues();
        sent(async move { client.conclude_deliberation(request).await })
    };
    let decide = |lead: &str, supporting: &[&str]| {
        let request = proto::RecordCommitteeDecisionRequest {
            meta: fresh_meta(),
            issue_id: open.clone(),
            decision: String::new(),
            lead_department: lead.to_owned(),
            supporting_departments: supporting.iter().map(|name| (*name).to_owned()).collect(),
            due_at: days_from_now(3),
        };
        let mut client = server.issues();
        sent(async move { client.record_committee_decision(request).await })
    };
    let withdraw_as_duplicate_of = |duplicate_of: String| {
        let request = proto::WithdrawIssueRequest {
            meta: fresh_meta(),
            issue_id: open.clone(),
            reason: proto::WithdrawalReason::Duplicate as i32,
            duplicate_of,
        };
        let mut client = server.issues();
        sent(async move { client.withdraw_issue(request).await })
    };
    const REPORT: &str = "/gridledger.v1.IssueService/ReportIssue";
    const GET: &str = "/gridledger.v1.IssueService/GetIssue";
    const READ_ALL: &str = "/gridledger.v1.AuditService/ReadAll";
    let nested_groups = [[0x7b_u8; 128], [0x7c_u8; 128]].concat();
    // Exactly 3 MiB: a valid report, then unknown fields.
    let padded_report = {
        let report = report_bytes("padded-1");
        [report.clone(), unknown_fields(3 * 1024 * 1024 - report.len())].concat()
    };
    let two_reports = [frame(0, &report_bytes("twice-1")), frame(0, &report_bytes("twice-2"))].concat();
    // The frame's length prefix promises the whole report; the body ends 40 bytes in.
    let cut_short = frame(0, &report_bytes("cut-1"))[..40].to_vec();
    let year_10000 = 253_402_300_800;
    let six_years_from_now = days_from_now(6 * 365).map(|at| at.seconds).unwrap_or_default();
    let long_id = "0".repeat(10 * 1024);
    let huge_id = "f".repeat(1024 * 1024);
    let names_the_unknown_duplicate = ["duplicate_of", unknown_issue.as_str()];

    let cases: Vec<(&str, Sent<'_>, Code, &[&str])> = vec![
        // 1. Malformed protobuf and bad framing: the client's mistake, never INTERNAL.
        (
            "wire type 7",
            raw(&server, REPORT, frame(0, &[0x0f])),
            Code::InvalidArgument,
            &["ReportIssueRequest", "invalid wire type value: 7"],
        ),
        (
            "wire type 7 in a query",
            raw(&server, GET, frame(0, &[0x0f])),
            Code::InvalidArgument,
            &["GetIssueRequest", "invalid wire type value: 7"],
        ),
        (
            "wire type 7 in a health check",
            raw(&server, "/grpc.health.v1.Health/Check", frame(0, &[0x0f])),
            Code::InvalidArgument,
            &["invalid wire type value: 7"],
        ),
        (
            "groups nested 128 deep",
            raw(&server, REPORT, frame(0, &nested_groups)),
            Code::InvalidArgument,
            &["recursion limit reached"],
        ),
        (
            "a string that is not UTF-8",
            not_utf8_where_a_string_is_expected(&server),
            Code::InvalidArgument,
            &["HandleInGridRequest", "invalid string value: data is not UTF-8 encoded"],
        ),
        (
            "a body that ends inside a message",
            raw(&server, REPORT, cut_short),
            Code::InvalidArgument,
            &["ended inside a message"],
        ),
        (
            "a unary call with no message",
            raw(&server, REPORT, Vec::new()),
            Code::InvalidArgument,
            &["no request message"],
        ),
        (
            "a streaming call's request with no message",
            raw(&server, READ_ALL, Vec::new()),
            Code::InvalidArgument,
            &["no request message"],
        ),
        (
            "a compression flag of 2",
            raw(&server, REPORT, frame(2, &report_bytes("flag-2"))),
            Code::InvalidArgument,
            &["compression flag"],
        ),
        (
            "a message flagged compressed, without grpc-encoding",
            raw(&server, REPORT, frame(1, &report_bytes("flag-1"))),
            Code::InvalidArgument,
            &["compressed"],
        ),
        // 2. Size counts the bytes received; a unary call carries one message.
        (
            "a report padded with 3 MiB of unknown fields",
            raw(&server, REPORT, frame(0, &padded_report)),
            Code::ResourceExhausted,
            &["3145728 bytes", "65536 bytes"],
        ),
        (
            "two reports in one unary call",
            raw(&server, REPORT, two_reports),
            Code::InvalidArgument,
            &["exactly one ReportIssueRequest"],
        ),
        // 3. Times outside protobuf's range, and implausible business times.
        (
            "occurred_at in the year -290308",
            report_with(|request| {
                // The year -290308: i64::MIN microseconds.
                request.meta = meta_at(timestamp(i64::MIN / 1_000_000));
            }),
            Code::InvalidArgument,
            &["meta.occurred_at", "range of a protobuf Timestamp"],
        ),
        (
            "due_at in the year 10000",
            dispatch("ann", timestamp(year_10000)),
            Code::InvalidArgument,
            &["due_at", "range of a protobuf Timestamp"],
        ),
        (
            "due_at six years ahead",
            dispatch("ann", timestamp(six_years_from_now)),
            Code::InvalidArgument,
            &["due_at", "1827 days"],
        ),
        (
            "occurred_at in 1999",
            report_with(|request| {
                // 1999-12-31T23:59:59Z.
                request.meta = meta_at(timestamp(946_684_799));
            }),
            Code::InvalidArgument,
            &["occurred_at", "2000-01-01T00:00:00.000000Z"],
        ),
        // 4. Offending values are quoted by a short prefix.
        (
            "a 10 KiB issue id",
            handle(long_id.clone()),
            Code::InvalidArgument,
            &["issue_id", "…", "is not an issue id"],
        ),
        (
            "a 1 MiB issue id",
            get(huge_id.clone()),
            Code::InvalidArgument,
            &["issue_id", "…"],
        ),
        (
            "a 10 KiB duplicate_of",
            withdraw_as_duplicate_of(long_id.clone()),
            Code::InvalidArgument,
            &["duplicate_of", "…"],
        ),
        // 5. Page tokens name an issue the list knows.
        (
            "an unknown page token",
            list_after(unknown_issue.clone()),
            Code::InvalidArgument,
            &["page_token", "not an issue this list knows"],
        ),
        (
            "a malformed page token",
            list_after("page-2".to_owned()),
            Code::InvalidArgument,
            &["page_token"],
        ),
        // 6. One-line text refuses invisible and reordering characters; free text refuses
        // bidirectional controls; participants are bounded.
        (
            "a line separator in a title",
            report_with(|request| request.title = "bins\u{2028}overflowing".to_owned()),
            Code::InvalidArgument,
            &["title", "U+2028"],
        ),
        (
            "a right-to-left override in a title",
            report_with(|request| request.title = "bins \u{202e}gniwolfrevo".to_owned()),
            Code::InvalidArgument,
            &["title", "U+202E"],
        ),
        (
            "a zero-width space in a title",
            report_with(|request| request.title = "bins\u{200b}".to_owned()),
            Code::InvalidArgument,
            &["title", "U+200B"],
        ),
        (
            "a reporter that is only invisible characters",
            report_with(|request| request.reporter_id = "\u{200b}\u{feff}".to_owned()),
            Code::InvalidArgument,
            &["reporter_id", "blank"],
        ),
        (
            "an isolate in a description",
            report_with(|request| request.description = "pay \u{2067}100\u{2069} yuan".to_owned()),
            Code::InvalidArgument,
            &["description", "bidirectional"],
        ),
        (
            "a paragraph separator in an assignee",
            dispatch("ann\u{2029}bob", days_from_now(3)),
            Code::InvalidArgument,
            &["assignee_id", "U+2029"],
        ),
        (
            "a byte-order mark in a meeting id",
            convene("\u{feff}m-2", &[]),
            Code::InvalidArgument,
            &["meeting_id", "U+FEFF"],
        ),
        (
            "a left-to-right embedding in a party",
            convene("m-2", &["residents", "\u{202a}owners"]),
            Code::InvalidArgument,
            &["parties", "entry 1"],
        ),
        (
            "a zero-width joiner in a lead department",
            decide("roads\u{200d}", &[]),
            Code::InvalidArgument,
            &["lead_department"],
        ),
        (
            "a word joiner in a supporting department",
            decide("roads", &["water\u{2060}"]),
            Code::InvalidArgument,
            &["supporting_departments"],
        ),
        (
            "100001 participants",
            conclude(100_001),
            Code::InvalidArgument,
            &["participants", "100000"],
        ),
        // 7. A duplicate of an issue that does not exist.
        (
            "a duplicate of an unknown issue",
            withdraw_as_duplicate_of(unknown_issue.clone()),
            Code::NotFound,
            &names_the_unknown_duplicate,
        ),
    ];
    for (case, call, code, message_parts) in cases {
        check(&server, case, call, code, message_parts).await?;
    }

    // What was refused is no longer refused once it is right, and the log verifies.
    let duplicate = issues
        .withdraw_issue(proto::WithdrawIssueRequest {
            meta: meta("withdraw-as-duplicate"),
            issue_id: open,
            reason: proto::WithdrawalReason::Duplicate as i32,
            duplicate_of: in_deliberation,
        })
        .await?
        .into_inner();
    assert_eq!(duplicate.status, proto::IssueStatus::Withdrawn as i32);
    let verified = server
        .audit()
        .verify_log(proto::VerifyLogRequest::default())
        .await?
        .into_inner();
    assert!(verified.ok && verified.head_position == head + 5, "{verified:?}");
    Ok(())
}
