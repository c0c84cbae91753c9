//! End-to-end over gRPC against a real server on 127.0.0.1:0: where a report, a handling or a resolution happened, validated on receipt, kept exactly as the app gave it, and returned by GetIssue and the history.

mod support;

use gridledger_api::proto;
use support::{GRID, TestServer, fresh_meta, report_request};
use tokio_stream::StreamExt;
use tonic::Code;

/// A spot inside the built-in Runzhou district (its bounding box: latitude 32.08..32.25,
/// longitude 119.28..119.50), as an AMap SDK returns it.
fn jinshan_road() -> proto::Location {
    proto::Location {
        latitude: 32.198_765_432_1,
        longitude: 119.434_567_890_1,
        coordinate_system: proto::CoordinateSystem::Gcj02 as i32,
        accuracy_m: Some(7.25),
        address: "润州区 金山路 3 号 B 栋楼道".to_owned(),
    }
}

/// What a location given with a report leads to: accepted (and then returned exactly), or
/// refused with a code naming a field.
type Expected = Result<(), (Code, &'static str)>;

async fn check(server: &TestServer, location: proto::Location, expected: Expected) -> anyhow::Result<()> {
    let mut request = report_request("a location check");
    request.location = Some(location.clone());
    let outcome = server.issues().report_issue(request).await;
    match (outcome, expected) {
        (Ok(ack), Ok(())) => {
            let issue_id = ack.into_inner().issue_id;
            let issue = server
                .issues()
                .get_issue(proto::GetIssueRequest {
                    issue_id: issue_id.clone(),
                })
                .await?
                .into_inner();
            assert_eq!(issue.location, Some(location.clone()), "GetIssue returns it as given");
            let mut history = server
                .audit()
                .read_issue_history(proto::ReadIssueHistoryRequest { issue_id })
                .await?
                .into_inner();
            let first = history.next().await.ok_or_else(|| anyhow::anyhow!("no history"))??;
            let Some(proto::issue_event_body::Body::IssueReported(reported)) = first.event.and_then(|event| event.body)
            else {
                anyhow::bail!("the first event is not the report");
            };
            assert_eq!(reported.location, Some(location), "the stored event holds it as given");
        }
        (Err(status), Err((code, field))) => {
            assert_eq!(status.code(), code, "{}", status.message());
            assert!(
                status.message().contains(field),
                "{:?} should name {field}",
                status.message()
            );
        }
        (outcome, expected) => anyhow::bail!("{location:?}: got {outcome:?}, expected {expected:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn locations_are_validated_and_returned_as_given() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let at = |latitude: f64, longitude: f64| proto::Location {
        latitude,
        longitude,
        ..jinshan_road()
    };
    let table: Vec<(proto::Location, Expected)> = vec![
        (jinshan_road(), Ok(())),
        (
            proto::Location {
                coordinate_system: proto::CoordinateSystem::Wgs84 as i32,
                accuracy_m: None,
                address: String::new(),
                ..jinshan_road()
            },
            Ok(()),
        ),
        (
            proto::Location {
                coordinate_system: proto::CoordinateSystem::Bd09 as i32,
                ..at(32.2049, 119.4413)
            },
            Ok(()),
        ),
        // Just outside the box, within its margin (a worker on the boundary).
        (at(32.27, 119.52), Ok(())),
        (at(95.0, 119.43), Err((Code::InvalidArgument, "location.latitude"))),
        (at(f64::NAN, 119.43), Err((Code::InvalidArgument, "location.latitude"))),
        (
            at(32.2, f64::INFINITY),
            Err((Code::InvalidArgument, "location.longitude")),
        ),
        (at(32.2, -181.0), Err((Code::InvalidArgument, "location.longitude"))),
        (
            proto::Location {
                accuracy_m: Some(-3.0),
                ..jinshan_road()
            },
            Err((Code::InvalidArgument, "location.accuracy_m")),
        ),
        (
            proto::Location {
                coordinate_system: 0,
                ..jinshan_road()
            },
            Err((Code::InvalidArgument, "location.coordinate_system")),
        ),
        (
            proto::Location {
                address: "x".repeat(501),
                ..jinshan_road()
            },
            Err((Code::InvalidArgument, "location.address")),
        ),
        // Far outside Runzhou: Beijing, the default 0,0 fix, a lost sign.
        (at(39.9042, 116.4074), Err((Code::InvalidArgument, "location"))),
        (
            at(0.0, 0.0),
            Err((Code::InvalidArgument, "far outside district runzhou")),
        ),
        (at(-32.19, 119.43), Err((Code::InvalidArgument, "far outside"))),
    ];
    for (location, expected) in table {
        check(&server, location, expected).await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_handling_far_outside_the_district_is_refused_and_writes_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let ack = server
        .issues()
        .report_issue(report_request("handled with a location"))
        .await?
        .into_inner();
    let head_before = server.head_position().await?;
    let far = proto::HandleInGridRequest {
        meta: fresh_meta(),
        issue_id: ack.issue_id.clone(),
        summary: "fixed".to_owned(),
        location: Some(proto::Location {
            latitude: 31.2304,
            longitude: 121.4737,
            ..jinshan_road()
        }),
        evidence: Vec::new(),
    };
    let refusal = server
        .issues()
        .handle_in_grid(far)
        .await
        .expect_err("Shanghai is not in Runzhou");
    assert_eq!(refusal.code(), Code::InvalidArgument, "{}", refusal.message());
    assert!(refusal.message().contains("location"), "{}", refusal.message());
    assert_eq!(server.head_position().await?, head_before, "nothing written");
    let near = proto::HandleInGridRequest {
        meta: fresh_meta(),
        issue_id: ack.issue_id.clone(),
        summary: "fixed".to_owned(),
        location: Some(jinshan_road()),
        evidence: Vec::new(),
    };
    server.issues().handle_in_grid(near).await?;
    let issue = server
        .issues()
        .get_issue(proto::GetIssueRequest { issue_id: ack.issue_id })
        .await?
        .into_inner();
    assert_eq!(issue.grid_code, GRID);
    assert_eq!(issue.location, None, "GetIssue's location is the report's");
    Ok(())
}
