//! End-to-end over gRPC against a real server on 127.0.0.1:0: lifecycles, error codes, idempotency, races, streams, audit.

mod support;

use gridledger_api::proto;
use gridledger_api::proto::IssueStatus::{
    Escalated, InDeliberation, InProgress, Reopened, Reported, Resolved, Withdrawn,
};
use support::{TestServer, days_from_now, fresh_meta, meta, report_request};
use tokio_stream::StreamExt;
use tonic::Code;

/// One lifecycle command, with what it needs.
#[derive(Debug, Clone, Copy)]
enum Step {
    Handle,
    Dispatch(&'static str),
    Accept(&'static str),
    Convene(&'static str),
    Conclude(&'static str, u32),
    Escalate,
    Decide,
    Resolve,
    Evaluate,
    Reopen,
    WithdrawOutOfScope,
}

async fn send(
    server: &TestServer,
    issue_id: &str,
    step: Step,
    meta: Option<proto::CommandMeta>,
) -> Result<proto::CommandAck, tonic::Status> {
    let mut client = server.issues();
    let issue_id = issue_id.to_owned();
    let response = match step {
        Step::Handle => {
            client
                .handle_in_grid(proto::HandleInGridRequest {
                    meta,
                    issue_id,
                    summary: "fixed on the spot".to_owned(),
                    ..Default::default()
                })
                .await
        }
        Step::Dispatch(assignee) => {
            client
                .dispatch_issue(proto::DispatchIssueRequest {
                    meta,
                    issue_id,
                    assignee_id: assignee.to_owned(),
                    due_at: days_from_now(3),
                })
                .await
        }
        Step::Accept(assignee) => {
            client
                .accept_assignment(proto::AcceptAssignmentRequest {
                    meta,
                    issue_id,
                    assignee_id: assignee.to_owned(),
                })
                .await
        }
        Step::Convene(meeting) => {
            client
                .convene_deliberation(proto::ConveneDeliberationRequest {
                    meta,
                    issue_id,
                    meeting_id: meeting.to_owned(),
                    forum: proto::Forum::CommunityAffairsConsultation as i32,
                    parties: vec!["residents".to_owned()],
                })
                .await
        }
        Step::Conclude(meeting, participants) => {
            client
                .conclude_deliberation(proto::ConcludeDeliberationRequest {
                    meta,
                    issue_id,
                    meeting_id: meeting.to_owned(),
                    participants,
                    outcome: "agreed".to_owned(),
                    minutes: "minutes".to_owned(),
                })
                .await
        }
        Step::Escalate => {
            client
                .escalate_issue(proto::EscalateIssueRequest {
                    meta,
                    issue_id,
                    reason: proto::EscalationReason::Widespread as i32,
                    note: String::new(),
                })
                .await
        }
        Step::Decide => {
            client
                .record_committee_decision(proto::RecordCommitteeDecisionRequest {
                    meta,
                    issue_id,
                    decision: "joint repair".to_owned(),
                    lead_department: "housing".to_owned(),
                    supporting_departments: vec!["water".to_owned()],
                    due_at: days_from_now(14),
                })
                .await
        }
        Step::Resolve => {
            client
                .resolve_issue(proto::ResolveIssueRequest {
                    meta,
                    issue_id,
                    summary: "done".to_owned(),
                    ..Default::default()
                })
                .await
        }
        Step::Evaluate => {
            client
                .evaluate_resolution(proto::EvaluateResolutionRequest {
                    meta,
                    issue_id,
                    satisfaction: proto::Satisfaction::Satisfied as i32,
                    evaluator_id: "resident-1".to_owned(),
                    comment: String::new(),
                })
                .await
        }
        Step::Reopen => {
            client
                .reopen_issue(proto::ReopenIssueRequest {
                    meta,
                    issue_id,
                    reason: "again".to_owned(),
                })
                .await
        }
        Step::WithdrawOutOfScope => {
            client
                .withdraw_issue(proto::WithdrawIssueRequest {
                    meta,
                    issue_id,
                    reason: proto::WithdrawalReason::OutOfScope as i32,
                    duplicate_of: String::new(),
                })
                .await
        }
    };
    response.map(tonic::Response::into_inner)
}

/// (name, what the server answered, the code expected, parts the message must contain).
type ErrorCase = (
    &'static str,
    Result<proto::CommandAck, tonic::Status>,
    Code,
    &'static [&'static str],
);

async fn report(server: &TestServer) -> anyhow::Result<proto::CommandAck> {
    Ok(server
        .issues()
        .report_issue(report_request("street light out"))
        .await?
        .into_inner())
}

/// Reports an issue, walks it through `steps` checking status and revision after each,
/// then checks GetIssue against the last ack and the expected resolution level.
async fn check(
    server: &TestServer,
    steps: &[(Step, proto::IssueStatus)],
    level: proto::ResolutionLevel,
) -> anyhow::Result<()> {
    let reported = report(server).await?;
    assert_eq!(
        (reported.status, reported.revision, reported.duplicate),
        (Reported as i32, 0, false)
    );
    let mut position = reported.position;
    for (index, (step, status)) in steps.iter().enumerate() {
        let ack = send(server, &reported.issue_id, *step, fresh_meta()).await?;
        assert_eq!(
            (ack.status, ack.revision),
            (*status as i32, index as u64 + 1),
            "step {index}: {step:?}"
        );
        assert!(ack.position > position && ack.event_hash.len() == 32, "step {index}");
        position = ack.position;
    }
    let issue = server
        .issues()
        .get_issue(proto::GetIssueRequest {
            issue_id: reported.issue_id.clone(),
        })
        .await?
        .into_inner();
    let last = steps.last().map_or(Reported, |(_, status)| *status);
    assert_eq!(
        (issue.status, issue.revision, issue.resolution_level),
        (last as i32, steps.len() as u64, level as i32)
    );
    // ReplayIssue's last state is GetIssue.
    let replay: Vec<proto::ReplayStep> = server
        .audit()
        .replay_issue(proto::ReplayIssueRequest {
            issue_id: reported.issue_id.clone(),
            up_to_revision: None,
        })
        .await?
        .into_inner()
        .collect::<Result<_, _>>()
        .await?;
    assert_eq!(replay.len(), steps.len() + 1);
    assert_eq!(replay.last().and_then(|step| step.state.clone()), Some(issue));
    Ok(())
}

#[tokio::test]
async fn every_lifecycle_path_of_the_table() -> anyhow::Result<()> {
    use Step::*;
    use proto::ResolutionLevel::{Committee, Community, Grid, Unspecified};
    let server = TestServer::start().await?;
    check(&server, &[(Handle, Resolved), (Evaluate, Resolved)], Grid).await?;
    check(
        &server,
        &[
            (Dispatch("ann"), InProgress),
            (Accept("ann"), InProgress),
            (Resolve, Resolved),
            (Evaluate, Resolved),
        ],
        Community,
    )
    .await?;
    check(
        &server,
        &[
            (Convene("m-1"), InDeliberation),
            (Conclude("m-1", 12), InProgress),
            (Resolve, Resolved),
        ],
        Community,
    )
    .await?;
    check(
        &server,
        &[
            (Escalate, Escalated),
            (Decide, Escalated),
            (Resolve, Resolved),
            (Evaluate, Resolved),
        ],
        Committee,
    )
    .await?;
    check(
        &server,
        &[
            (Handle, Resolved),
            (Reopen, Reopened),
            (Dispatch("bob"), InProgress),
            (Resolve, Resolved),
        ],
        Community,
    )
    .await?;
    check(
        &server,
        &[(Dispatch("ann"), InProgress), (WithdrawOutOfScope, Withdrawn)],
        Unspecified,
    )
    .await?;
    let verified = server
        .audit()
        .verify_log(proto::VerifyLogRequest::default())
        .await?
        .into_inner();
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.events_checked, verified.head_position);
    server.server.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn every_error_code_and_nothing_written() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let issue = report(&server).await?;
    let resolved = report(&server).await?;
    send(&server, &resolved.issue_id, Step::Handle, fresh_meta()).await?;
    let unknown_issue = uuid::Uuid::now_v7().to_string();

    let mut long_title = report_request(&"标".repeat(201));
    long_title.title = "标".repeat(201);
    let mut unknown_grid = report_request("t");
    unknown_grid.grid_code = "runzhou.s9.c01.g01".to_owned();
    let mut oversized = report_request("t");
    oversized.description = "x".repeat(70 * 1024);
    let mut long_description = report_request("t");
    long_description.description = "x".repeat(9 * 1024);
    let mut no_request_id = report_request("t");
    no_request_id.meta = meta("");
    let mut future = report_request("t");
    future.meta = Some(proto::CommandMeta {
        request_id: "future-1".to_owned(),
        expected_revision: None,
        occurred_at: days_from_now(1),
    });
    let stale = Some(proto::CommandMeta {
        request_id: "stale-1".to_owned(),
        expected_revision: Some(5),
        occurred_at: None,
    });

    let cases: Vec<ErrorCase> = vec![
        (
            "title too long",
            server
                .issues()
                .report_issue(long_title)
                .await
                .map(tonic::Response::into_inner),
            Code::InvalidArgument,
            &["title"],
        ),
        (
            "description too long",
            server
                .issues()
                .report_issue(long_description)
                .await
                .map(tonic::Response::into_inner),
            Code::InvalidArgument,
            &["description"],
        ),
        (
            "request over 64 KiB",
            server
                .issues()
                .report_issue(oversized)
                .await
                .map(tonic::Response::into_inner),
            Code::ResourceExhausted,
            &[],
        ),
        (
            "no request id",
            server
                .issues()
                .report_issue(no_request_id)
                .await
                .map(tonic::Response::into_inner),
            Code::InvalidArgument,
            &["meta.request_id"],
        ),
        (
            "occurred_at in the future",
            server
                .issues()
                .report_issue(future)
                .await
                .map(tonic::Response::into_inner),
            Code::InvalidArgument,
            &["occurred_at"],
        ),
        (
            "unknown grid",
            server
                .issues()
                .report_issue(unknown_grid)
                .await
                .map(tonic::Response::into_inner),
            Code::NotFound,
            &["runzhou.s9.c01.g01"],
        ),
        (
            "unknown issue",
            send(&server, &unknown_issue, Step::Handle, fresh_meta()).await,
            Code::NotFound,
            &["does not exist"],
        ),
        (
            "bad issue id",
            send(&server, "not-a-uuid", Step::Handle, fresh_meta()).await,
            Code::InvalidArgument,
            &["issue_id"],
        ),
        (
            "disallowed transition",
            send(&server, &resolved.issue_id, Step::Resolve, fresh_meta()).await,
            Code::FailedPrecondition,
            &["RESOLVED", "allowed now: EvaluateResolution, ReopenIssue"],
        ),
        (
            "wrong assignee",
            send(&server, &issue.issue_id, Step::Accept("ann"), fresh_meta()).await,
            Code::FailedPrecondition,
            &["AcceptAssignment", "REPORTED"],
        ),
        (
            "expected revision mismatch",
            send(&server, &issue.issue_id, Step::Handle, stale).await,
            Code::Aborted,
            &["revision 0"],
        ),
    ];
    let head = server.head_position().await?;
    for (name, result, code, message_parts) in cases {
        let status = match result {
            Ok(ack) => panic!("{name}: expected {code:?}, got {ack:?}"),
            Err(status) => status,
        };
        assert_eq!(status.code(), code, "{name}: {}", status.message());
        for part in message_parts {
            assert!(
                status.message().contains(part),
                "{name}: {:?} lacks {part:?}",
                status.message()
            );
        }
    }
    assert_eq!(server.head_position().await?, head, "refused commands wrote nothing");
    let past_head = server
        .audit()
        .verify_log(proto::VerifyLogRequest {
            from_position: 1,
            to_position: head + 10,
        })
        .await;
    assert_eq!(
        past_head.map(|_| ()).map_err(|status| status.code()),
        Err(Code::InvalidArgument)
    );
    let missing = server
        .issues()
        .get_issue(proto::GetIssueRequest {
            issue_id: unknown_issue,
        })
        .await;
    assert_eq!(missing.map(|_| ()).map_err(|status| status.code()), Err(Code::NotFound));
    let mut stats = gridledger_api::proto::stats_service_client::StatsServiceClient::new(server.channel.clone());
    let unknown_scope = stats
        .get_governance_stats(proto::GetGovernanceStatsRequest {
            scope: "runzhou.s8".to_owned(),
            ..Default::default()
        })
        .await;
    assert_eq!(
        unknown_scope.map(|_| ()).map_err(|status| status.code()),
        Err(Code::NotFound)
    );
    let no_group = stats
        .breakdown_governance_stats(proto::BreakdownGovernanceStatsRequest::default())
        .await;
    assert_eq!(
        no_group.map(|_| ()).map_err(|status| status.code()),
        Err(Code::InvalidArgument)
    );
    let future = stats
        .get_governance_stats(proto::GetGovernanceStatsRequest {
            as_of: days_from_now(1),
            ..Default::default()
        })
        .await;
    assert_eq!(
        future.map(|_| ()).map_err(|status| status.code()),
        Err(Code::InvalidArgument)
    );
    Ok(())
}

#[tokio::test]
async fn a_retried_request_id_returns_the_same_ack_and_writes_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut request = report_request("retry me");
    request.meta = meta("report-once");
    let first = server.issues().report_issue(request.clone()).await?.into_inner();
    let head = server.head_position().await?;
    let again = server.issues().report_issue(request).await?.into_inner();
    assert!(!first.duplicate && again.duplicate);
    assert_eq!(
        proto::CommandAck {
            duplicate: false,
            ..again.clone()
        },
        first
    );
    let dispatched = send(&server, &first.issue_id, Step::Dispatch("ann"), meta("dispatch-once")).await?;
    let accepted = send(&server, &first.issue_id, Step::Accept("ann"), meta("accept-once")).await?;
    let dispatch_again = send(&server, &first.issue_id, Step::Dispatch("ann"), meta("dispatch-once")).await?;
    assert_eq!(
        proto::CommandAck {
            duplicate: false,
            ..dispatch_again
        },
        dispatched,
        "the ack of then, not of now"
    );
    assert_eq!(server.head_position().await?, head + 2);
    assert_eq!(accepted.revision, 2);
    // The same request id on another issue is a client error, not a silent duplicate.
    let other = report(&server).await?;
    let reused = send(&server, &other.issue_id, Step::Handle, meta("dispatch-once")).await;
    assert_eq!(
        reused.map(|_| ()).map_err(|status| status.code()),
        Err(Code::InvalidArgument)
    );
    // ...and so is a report (server-chosen id) sent with the request id of another command.
    let mut report_with_old_id = report_request("not a retry");
    report_with_old_id.meta = meta("dispatch-once");
    let refused = server.issues().report_issue(report_with_old_id).await;
    assert_eq!(
        refused.map(|_| ()).map_err(|status| status.code()),
        Err(Code::InvalidArgument)
    );
    Ok(())
}

#[tokio::test]
async fn two_clients_racing_with_the_same_expected_revision_one_is_aborted() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    for round in 0..5 {
        let issue = report(&server).await?;
        let at_revision_0 = |name: &str| {
            Some(proto::CommandMeta {
                request_id: format!("{name}-{round}"),
                expected_revision: Some(0),
                occurred_at: None,
            })
        };
        let (first, second) = tokio::join!(
            send(&server, &issue.issue_id, Step::Dispatch("ann"), at_revision_0("a")),
            send(&server, &issue.issue_id, Step::Escalate, at_revision_0("b")),
        );
        let codes: Vec<Code> = [&first, &second]
            .iter()
            .map(|result| result.as_ref().map_or_else(|status| status.code(), |_| Code::Ok))
            .collect();
        let mut sorted = codes.clone();
        sorted.sort_by_key(|code| *code as i32);
        assert_eq!(sorted, vec![Code::Ok, Code::Aborted], "round {round}: {codes:?}");
        let issue_now = server
            .issues()
            .get_issue(proto::GetIssueRequest {
                issue_id: issue.issue_id,
            })
            .await?
            .into_inner();
        assert_eq!(issue_now.revision, 1);
    }
    Ok(())
}

#[tokio::test]
async fn read_all_with_follow_receives_new_events_without_gaps() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    for _ in 0..3 {
        report(&server).await?;
    }
    let mut stream = server
        .audit()
        .read_all(proto::ReadAllRequest {
            from_position: 2,
            limit: 0,
            follow: true,
        })
        .await?
        .into_inner();
    let writer = {
        let channel = server.channel.clone();
        tokio::spawn(async move {
            let mut client = proto::issue_service_client::IssueServiceClient::new(channel);
            for _ in 0..20 {
                client.report_issue(report_request("live")).await?;
            }
            anyhow::Ok(())
        })
    };
    for expected_position in 2..=23 {
        let event = stream.message().await?.ok_or_else(|| anyhow::anyhow!("stream ended"))?;
        assert_eq!(event.position, expected_position);
        assert_eq!(event.decoded.map(|record| record.position), Some(expected_position));
        assert!(event.event.is_some());
    }
    writer.await??;
    let limited: Vec<proto::RecordedEvent> = server
        .audit()
        .read_all(proto::ReadAllRequest {
            from_position: 0,
            limit: 5,
            follow: false,
        })
        .await?
        .into_inner()
        .collect::<Result<_, _>>()
        .await?;
    assert_eq!(
        limited.iter().map(|event| event.position).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    Ok(())
}

#[tokio::test]
async fn list_issues_filters_by_scope_status_and_pages() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut reported = Vec::new();
    for (index, grid) in [
        "runzhou.s1.c01.g01",
        "runzhou.s1.c02.g01",
        "runzhou.s2.c01.g01",
        "runzhou.s1.c01.g02",
        "runzhou.s1.c01.g01",
    ]
    .iter()
    .enumerate()
    {
        let mut request = report_request(&format!("issue {index}"));
        request.grid_code = (*grid).to_owned();
        reported.push(server.issues().report_issue(request).await?.into_inner());
    }
    send(&server, &reported[0].issue_id, Step::Handle, fresh_meta()).await?;
    let list = |scope: &str, status: proto::IssueStatus, page_size: u32, page_token: String| proto::ListIssuesRequest {
        scope: scope.to_owned(),
        status: status as i32,
        category: String::new(),
        page_size,
        page_token,
    };
    let count = |response: &proto::ListIssuesResponse| response.issues.len();
    let mut client = server.issues();
    assert_eq!(
        count(
            &client
                .list_issues(list("", proto::IssueStatus::Unspecified, 0, String::new()))
                .await?
                .into_inner()
        ),
        5
    );
    assert_eq!(
        count(
            &client
                .list_issues(list("runzhou.s1", proto::IssueStatus::Unspecified, 0, String::new()))
                .await?
                .into_inner()
        ),
        4
    );
    assert_eq!(
        count(
            &client
                .list_issues(list(
                    "runzhou.s1.c01",
                    proto::IssueStatus::Unspecified,
                    0,
                    String::new()
                ))
                .await?
                .into_inner()
        ),
        3
    );
    assert_eq!(
        count(
            &client
                .list_issues(list("runzhou.s1.c01.g01", Resolved, 0, String::new()))
                .await?
                .into_inner()
        ),
        1
    );
    let first_page = client
        .list_issues(list("", proto::IssueStatus::Unspecified, 2, String::new()))
        .await?
        .into_inner();
    let second_page = client
        .list_issues(list(
            "",
            proto::IssueStatus::Unspecified,
            2,
            first_page.next_page_token.clone(),
        ))
        .await?
        .into_inner();
    let third_page = client
        .list_issues(list(
            "",
            proto::IssueStatus::Unspecified,
            2,
            second_page.next_page_token.clone(),
        ))
        .await?
        .into_inner();
    let paged: Vec<String> = [first_page, second_page, third_page.clone()]
        .iter()
        .flat_map(|page| page.issues.iter().map(|issue| issue.issue_id.clone()))
        .collect();
    // Pages follow the report order.
    let all: Vec<String> = reported.iter().map(|ack| ack.issue_id.clone()).collect();
    assert_eq!(paged, all);
    assert!(third_page.next_page_token.is_empty());
    let unknown = client
        .list_issues(list("runzhou.s8", proto::IssueStatus::Unspecified, 0, String::new()))
        .await;
    assert_eq!(unknown.map(|_| ()).map_err(|status| status.code()), Err(Code::NotFound));
    Ok(())
}

#[tokio::test]
async fn health_and_reflection_name_the_services() -> anyhow::Result<()> {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let server = TestServer::start().await?;
    assert_eq!(
        support::health_of(&server.channel, "gridledger.v1.IssueService").await?,
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(server.channel.clone())
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await?
        .into_inner();
    let response = responses
        .message()
        .await?
        .ok_or_else(|| anyhow::anyhow!("no reflection response"))?;
    let Some(MessageResponse::ListServicesResponse(services)) = response.message_response else {
        anyhow::bail!("unexpected reflection response {response:?}");
    };
    let names: Vec<String> = services.service.into_iter().map(|service| service.name).collect();
    for expected in [
        "gridledger.v1.IssueService",
        "gridledger.v1.StatsService",
        "gridledger.v1.AuditService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|name| name == expected),
            "{expected} missing from {names:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn concurrent_retries_of_a_report_all_get_the_one_issue() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    for round in 0..10 {
        let head = server.head_position().await?;
        let mut request = report_request("sent eight times at once");
        request.meta = meta(&format!("flaky-network-{round}"));
        let mut attempts = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let mut client = server.issues();
            let request = request.clone();
            attempts.spawn(async move { client.report_issue(request).await.map(tonic::Response::into_inner) });
        }
        let mut acks = Vec::new();
        while let Some(ack) = attempts.join_next().await {
            acks.push(ack??);
        }
        let issue_ids: std::collections::BTreeSet<&str> = acks.iter().map(|ack| ack.issue_id.as_str()).collect();
        assert_eq!(issue_ids.len(), 1, "round {round}: {acks:?}");
        assert_eq!(
            acks.iter().filter(|ack| !ack.duplicate).count(),
            1,
            "round {round}: {acks:?}"
        );
        assert_eq!(server.head_position().await?, head + 1, "round {round}");
    }
    Ok(())
}

#[tokio::test]
async fn concurrent_retries_of_a_command_all_get_its_ack() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    for round in 0..10 {
        let issue = report(&server).await?;
        let head = server.head_position().await?;
        let mut attempts = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let request = proto::HandleInGridRequest {
                meta: meta(&format!("handle-{round}")),
                issue_id: issue.issue_id.clone(),
                summary: "fixed".to_owned(),
                ..Default::default()
            };
            let mut client = server.issues();
            attempts.spawn(async move { client.handle_in_grid(request).await.map(tonic::Response::into_inner) });
        }
        let mut acks = Vec::new();
        while let Some(ack) = attempts.join_next().await {
            acks.push(ack??);
        }
        assert_eq!(
            acks.iter().filter(|ack| !ack.duplicate).count(),
            1,
            "round {round}: {acks:?}"
        );
        assert!(
            acks.iter()
                .all(|ack| ack.revision == 1 && ack.status == Resolved as i32),
            "round {round}: {acks:?}"
        );
        assert_eq!(server.head_position().await?, head + 1, "round {round}");
    }
    Ok(())
}

/// A log whose first event does not decode stops the governance projection: StatsService
/// turns NOT_SERVING, and stats and list queries are refused at once, naming the reason,
/// while the rest of the service keeps working.
#[tokio::test]
async fn a_stopped_projection_turns_stats_not_serving_and_queries_fail_at_once_naming_it() -> anyhow::Result<()> {
    use gridledger_eventlog::{
        AppendRequest, EventLog, EventLogConfig, ExpectedRevision, NewEvent, RequestId, StreamId,
    };
    use tonic_health::pb::health_check_response::ServingStatus;
    let directory = tempfile::tempdir()?;
    let data_dir = directory.path().join("data");
    let damaged_dir = data_dir.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let log = EventLog::open(EventLogConfig::new(&damaged_dir))?;
        log.append_blocking(AppendRequest {
            stream_id: StreamId::try_from("issue-0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506")?,
            expected_revision: ExpectedRevision::NoStream,
            request_id: RequestId::try_from("damaged".to_owned())?,
            actor_id: String::new(),
            events: vec![NewEvent {
                event_type: "IssueReported".to_owned(),
                occurred_at_micros: 1_700_000_000_000_000,
                payload: vec![0xff, 0xff, 0xff],
            }],
        })?;
        log.close()?;
        Ok(())
    })
    .await??;
    let server = TestServer::start_in(directory, data_dir).await?;
    let mut statuses = tonic_health::pb::health_client::HealthClient::new(server.channel.clone())
        .watch(tonic_health::pb::HealthCheckRequest {
            service: "gridledger.v1.StatsService".to_owned(),
        })
        .await?
        .into_inner();
    loop {
        let status = statuses
            .message()
            .await?
            .ok_or_else(|| anyhow::anyhow!("the health watch ended"))?;
        if status.status == ServingStatus::NotServing as i32 {
            break;
        }
    }
    let mut stats = proto::stats_service_client::StatsServiceClient::new(server.channel.clone());
    let refused = stats
        .get_governance_stats(proto::GetGovernanceStatsRequest::default())
        .await
        .expect_err("stats over a stopped projection");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    for named in ["not serving", "position 1", "does not decode"] {
        assert!(
            refused.message().contains(named),
            "{named:?} missing: {}",
            refused.message()
        );
    }
    let listed = server
        .issues()
        .list_issues(proto::ListIssuesRequest::default())
        .await
        .expect_err("list over a stopped projection");
    assert_eq!(listed.code(), Code::Unavailable, "{listed:?}");
    // Writes go on: a new issue is reported and acknowledged.
    let ack = server
        .issues()
        .report_issue(report_request("reported while stats are down"))
        .await?
        .into_inner();
    assert_eq!(ack.status, Reported as i32);
    Ok(())
}

#[tokio::test]
async fn the_server_library_refuses_a_non_loopback_address_without_authentication() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let config = gridledger_server::ServerConfig {
        listen: "0.0.0.0:0".parse()?,
        ..support::loopback_config(directory.path().join("data"))?
    };
    let refused = gridledger_server::start(config, std::future::pending()).await;
    match refused {
        Err(gridledger_server::ServerError::NotLoopback { address }) => assert_eq!(address.to_string(), "0.0.0.0:0"),
        other => anyhow::bail!("expected NotLoopback, got {other:?}"),
    }
    assert!(
        !directory.path().join("data").exists(),
        "nothing is written when refused"
    );
    Ok(())
}
