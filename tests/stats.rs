//! Governance statistics end to end: as_of reproduces the past, a restart resumes from the checkpoint, a rebuild equals live.

mod support;

use gridledger_api::proto;
use gridledger_api::proto::stats_service_client::StatsServiceClient;
use gridledger_eventlog::{EventLog, EventLogConfig};
use gridledger_projections::{CHECKPOINT_NAME, GovernanceProjection};
use support::{TestServer, fresh_meta, report_request};
use tonic::transport::Channel;

const GROUPS: [proto::GroupBy; 6] = [
    proto::GroupBy::Street,
    proto::GroupBy::Community,
    proto::GroupBy::Grid,
    proto::GroupBy::Category,
    proto::GroupBy::Month,
    proto::GroupBy::Year,
];

/// Every figure the service gives for `as_of`: the district, each group of each breakdown,
/// and each group's own scope where the group is a jurisdiction.
async fn every_figure(
    channel: &Channel,
    as_of: Option<prost_types::Timestamp>,
) -> anyhow::Result<Vec<(String, proto::GovernanceStats)>> {
    let mut stats = StatsServiceClient::new(channel.clone());
    let mut figures = Vec::new();
    let district = stats
        .get_governance_stats(proto::GetGovernanceStatsRequest {
            as_of,
            ..Default::default()
        })
        .await?
        .into_inner();
    figures.push(("district".to_owned(), district));
    for group_by in GROUPS {
        let rows = stats
            .breakdown_governance_stats(proto::BreakdownGovernanceStatsRequest {
                group_by: group_by as i32,
                as_of,
                ..Default::default()
            })
            .await?
            .into_inner()
            .rows;
        for row in rows {
            if matches!(
                group_by,
                proto::GroupBy::Street | proto::GroupBy::Community | proto::GroupBy::Grid
            ) {
                let scoped = stats
                    .get_governance_stats(proto::GetGovernanceStatsRequest {
                        scope: row.key.clone(),
                        as_of,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                assert_eq!(
                    Some(&scoped),
                    row.stats.as_ref(),
                    "scope {} equals its breakdown row",
                    row.key
                );
            }
            figures.push((format!("{group_by:?}:{}", row.key), row.stats.unwrap_or_default()));
        }
    }
    Ok(figures)
}

/// Reports issues across grids and categories and walks some of them.
async fn write_some_history(server: &TestServer, count: usize) -> anyhow::Result<Vec<String>> {
    let grids = [
        "runzhou.s1.c01.g01",
        "runzhou.s1.c02.g03",
        "runzhou.s4.c01.g02",
        "runzhou.s7.c03.g01",
    ];
    let categories = ["environment", "dispute", "work-safety"];
    let mut issues = server.issues();
    let mut ids = Vec::new();
    for index in 0..count {
        let mut request = report_request(&format!("issue {index}"));
        request.grid_code = grids[index % grids.len()].to_owned();
        request.category = categories[index % categories.len()].to_owned();
        let ack = issues.report_issue(request).await?.into_inner();
        if index % 3 == 0 {
            issues
                .handle_in_grid(proto::HandleInGridRequest {
                    meta: fresh_meta(),
                    issue_id: ack.issue_id.clone(),
                    summary: String::new(),
                    ..Default::default()
                })
                .await?;
        }
        if index % 3 != 0 && index % 5 == 1 {
            issues
                .convene_deliberation(proto::ConveneDeliberationRequest {
                    meta: fresh_meta(),
                    issue_id: ack.issue_id.clone(),
                    meeting_id: format!("meeting-{}", index / 10),
                    forum: proto::Forum::ResidentRepresentativeMeeting as i32,
                    parties: vec![],
                })
                .await?;
            issues
                .conclude_deliberation(proto::ConcludeDeliberationRequest {
                    meta: fresh_meta(),
                    issue_id: ack.issue_id.clone(),
                    meeting_id: format!("meeting-{}", index / 10),
                    participants: 7,
                    outcome: String::new(),
                    minutes: String::new(),
                })
                .await?;
        }
        ids.push(ack.issue_id);
    }
    Ok(ids)
}

fn now() -> prost_types::Timestamp {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    prost_types::Timestamp {
        seconds: since_epoch.as_secs() as i64,
        nanos: since_epoch.subsec_nanos() as i32,
    }
}

#[tokio::test]
async fn as_of_gives_the_figures_exactly_as_the_log_stood() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let open_issues = write_some_history(&server, 24).await?;
    let instant = now();
    let before = every_figure(&server.channel, Some(instant)).await?;
    assert!(before[0].1.accepted == 24 && before[0].1.closed == 8, "{:?}", before[0]);
    // Later events, including ones that close issues reported before the instant.
    let mut issues = server.issues();
    for issue_id in open_issues.iter().skip(1).step_by(3) {
        issues
            .handle_in_grid(proto::HandleInGridRequest {
                meta: fresh_meta(),
                issue_id: issue_id.clone(),
                summary: String::new(),
                ..Default::default()
            })
            .await
            .ok();
    }
    write_some_history(&server, 6).await?;
    let now_figures = every_figure(&server.channel, None).await?;
    assert!(now_figures[0].1.closed > before[0].1.closed);
    assert_eq!(every_figure(&server.channel, Some(instant)).await?, before);
    Ok(())
}

#[tokio::test]
async fn a_restart_resumes_from_the_checkpoint_and_a_rebuild_equals_live() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let data_dir = directory.path().join("data");
    let start = || async { TestServer::start_in(tempfile::tempdir()?, data_dir.clone()).await };
    let first = start().await?;
    write_some_history(&first, 40).await?;
    let live = every_figure(&first.channel, None).await?;
    first.server.shutdown().await?;

    // The checkpoint was saved at the head on shutdown: the next start replays nothing...
    let log = EventLog::open(EventLogConfig::new(&data_dir))?;
    let head = log.head().position;
    let store = log.projection_store(CHECKPOINT_NAME)?;
    assert_eq!(store.position()?, head);
    log.close()?;
    drop((store, log));
    // ...and gives the same figures.
    let resumed = start().await?;
    assert_eq!(every_figure(&resumed.channel, None).await?, live);
    resumed.server.shutdown().await?;

    // A rebuild from position 1 into the same store (what `gridledger rebuild` does).
    let log = EventLog::open(EventLogConfig::new(&data_dir))?;
    let store = log.projection_store(CHECKPOINT_NAME)?;
    store.clear()?;
    // In UTC, as `gridledger rebuild` folds it: the server builds Shanghai's months on load.
    let utc = gridledger_domain::DistrictTimeZone::utc();
    let mut rebuilt = GovernanceProjection::replay(&log, utc.zone(), head, |_| {})?;
    rebuilt.save_all(&store)?;
    log.close()?;
    drop((store, log));
    let after_rebuild = start().await?;
    assert_eq!(every_figure(&after_rebuild.channel, None).await?, live);
    after_rebuild.server.shutdown().await?;

    // A checkpoint that no longer decodes is dropped and rebuilt from the log.
    let log = EventLog::open(EventLogConfig::new(&data_dir))?;
    let store = log.projection_store(CHECKPOINT_NAME)?;
    store.commit(
        head,
        vec![(b"not a checkpoint entry".to_vec(), Some(b"garbage".to_vec()))],
    )?;
    log.close()?;
    drop((store, log));
    let after_damage = start().await?;
    assert_eq!(every_figure(&after_damage.channel, None).await?, live);
    after_damage.server.shutdown().await?;
    Ok(())
}
