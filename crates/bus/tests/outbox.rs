//! The outbox against real nats-server processes: every event published once, in order and
//! verbatim, through outages and restarts and after the duplicate window; foreign streams
//! refused; the registry carried in its bucket.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use async_nats::jetstream;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::{PublishMessage, StreamMessage};
use gridledger_bus::{
    BusError, HEADER_CHAIN_HASH, HEADER_POSITION, HEADER_PREV_HASH, NatsConfig, NatsConnection, OutboxConfig,
    OutboxState, OutboxStatus, REGISTRY_BUCKET, StreamSettings, ensure_district_stream, event_subject, fetch_registry,
    publish_registry, start_outbox, stream_name, stream_state, stream_subjects,
};
use gridledger_codec::{decode_recorded, encode_events};
use gridledger_domain::{
    CategoryCode, DistrictCode, Field, FreeText, GridCode, IssueEvent, IssueEventBody, IssueHandledInGrid, IssueId,
    IssueReported, IssueTitle, PersonId, Registry, Timestamp,
};
use gridledger_eventlog::{
    AppendRequest, EventLog, EventLogConfig, ExpectedRevision, Position, RecordedEvent, RequestId, StreamId,
};
use support::{NatsCluster, NatsServer};
use tokio::sync::watch;

/// How long any awaited condition may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(90);
const DAY_MICROS: i64 = 86_400_000_000;
const START_2025_MICROS: i64 = 1_735_689_600_000_000;

fn district() -> anyhow::Result<DistrictCode> {
    Ok(DistrictCode::parse("runzhou")?)
}

fn outbox_config(url: &str, settings: StreamSettings) -> anyhow::Result<OutboxConfig> {
    let mut config = OutboxConfig::new(NatsConfig::new(url), district()?, Registry::builtin_runzhou());
    config.settings = settings;
    Ok(config)
}

fn open_log(directory: &tempfile::TempDir) -> anyhow::Result<EventLog> {
    Ok(EventLog::open(EventLogConfig::new(directory.path().join("log")))?)
}

fn issue_id(number: usize) -> anyhow::Result<IssueId> {
    Ok(IssueId::from_uuid(uuid::Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0000 + number as u128,
    ))?)
}

/// The grid of issue `number`, spread over the district's grids.
fn grid_of_issue(number: usize) -> GridCode {
    let registry = Registry::builtin_runzhou();
    let grids = registry.grids();
    grids[number % grids.len()].code.clone()
}

fn reported(number: usize) -> anyhow::Result<IssueEvent> {
    let at = START_2025_MICROS + number as i64 * 60_000_000;
    Ok(IssueEvent {
        occurred_at: Timestamp::from_unix_micros(at),
        body: IssueEventBody::IssueReported(IssueReported {
            issue_id: issue_id(number)?,
            grid: grid_of_issue(number),
            category: CategoryCode::parse("environment")?,
            title: IssueTitle::parse(&format!("issue {number}"))?,
            description: FreeText::empty(),
            reporter_id: PersonId::parse(Field::Reporter, "grid-worker")?,
            due_at: Timestamp::from_unix_micros(at + 3 * DAY_MICROS),
            evidence: Default::default(),
            location: None,
        }),
    })
}

fn handled(number: usize) -> anyhow::Result<IssueEvent> {
    Ok(IssueEvent {
        occurred_at: Timestamp::from_unix_micros(START_2025_MICROS + number as i64 * 60_000_000 + DAY_MICROS),
        body: IssueEventBody::IssueHandledInGrid(IssueHandledInGrid {
            summary: FreeText::parse(Field::Summary, format!("handled issue {number}"))?,
            evidence: Default::default(),
            location: None,
        }),
    })
}

/// Appends `events` to issue `number`'s stream, after `expected_revision`.
async fn append_issue_events(
    log: &EventLog,
    number: usize,
    expected_revision: ExpectedRevision,
    events: &[IssueEvent],
) -> anyhow::Result<()> {
    log.append(AppendRequest {
        stream_id: StreamId::try_from(issue_id(number)?.stream_id())?,
        expected_revision,
        request_id: RequestId::try_from(format!("test-{number}-{expected_revision:?}"))?,
        actor_id: "tester".to_owned(),
        events: encode_events(events),
    })
    .await?;
    Ok(())
}

/// Issues `numbers` reported, one append each.
async fn append_reports(log: &EventLog, numbers: std::ops::Range<usize>) -> anyhow::Result<()> {
    for number in numbers {
        append_issue_events(log, number, ExpectedRevision::NoStream, &[reported(number)?]).await?;
    }
    Ok(())
}

/// Issues `numbers` (reported before) handled in the grid, one append each.
async fn append_follow_ups(log: &EventLog, numbers: std::ops::Range<usize>) -> anyhow::Result<()> {
    for number in numbers {
        append_issue_events(log, number, ExpectedRevision::Exact(0), &[handled(number)?]).await?;
    }
    Ok(())
}

/// Issues `numbers` reported and handled in one append each (two events).
async fn append_whole_issues(log: &EventLog, numbers: std::ops::Range<usize>) -> anyhow::Result<()> {
    for number in numbers {
        append_issue_events(
            log,
            number,
            ExpectedRevision::NoStream,
            &[reported(number)?, handled(number)?],
        )
        .await?;
    }
    Ok(())
}

/// The first status that satisfies `condition`, waiting for changes up to [`DEADLINE`].
async fn wait_for_status(
    status: &mut watch::Receiver<OutboxStatus>,
    what: &str,
    condition: impl FnMut(&OutboxStatus) -> bool,
) -> anyhow::Result<OutboxStatus> {
    support::wait_for_outbox_status(status, what, DEADLINE, condition).await
}

async fn wait_until_published_through(
    status: &mut watch::Receiver<OutboxStatus>,
    position: Position,
) -> anyhow::Result<OutboxStatus> {
    wait_for_status(status, &format!("publication through position {position}"), |status| {
        status.published_through >= position
    })
    .await
}

async fn raw_jetstream(url: &str) -> anyhow::Result<jetstream::Context> {
    Ok(jetstream::new(async_nats::connect(url).await?))
}

/// Every message of `stream`, by sequence 1..=last.
async fn stream_messages(jetstream: &jetstream::Context, stream: &str) -> anyhow::Result<Vec<StreamMessage>> {
    let mut handle = jetstream.get_stream(stream).await?;
    let state = handle.info().await?.state.clone();
    ensure!(
        state.first_sequence <= 1 && state.messages == state.last_sequence,
        "stream {stream} has gaps: {state:?}"
    );
    let mut messages = Vec::with_capacity(state.messages as usize);
    for sequence in 1..=state.last_sequence {
        messages.push(handle.get_raw_message(sequence).await?);
    }
    Ok(messages)
}

fn header<'message>(message: &'message StreamMessage, name: &str) -> anyhow::Result<&'message str> {
    message
        .headers
        .get(name)
        .map(|value| value.as_str())
        .with_context(|| format!("message {} has no {name} header", message.sequence))
}

/// One stream message is the log's event at the same position, verbatim, on the subject of
/// its issue's grid.
fn check(message: &StreamMessage, event: &RecordedEvent, grid: &GridCode) -> anyhow::Result<()> {
    let position = event.position;
    ensure!(
        message.sequence == position,
        "sequence {} holds position {position}",
        message.sequence
    );
    ensure!(
        header(message, HEADER_POSITION)? == position.to_string(),
        "position header of {position}"
    );
    ensure!(
        header(message, HEADER_CHAIN_HASH)? == hex::encode(event.hash),
        "chain hash of {position}"
    );
    ensure!(
        header(message, HEADER_PREV_HASH)? == hex::encode(event.prev_hash),
        "prev hash of {position}"
    );
    ensure!(
        header(message, "Nats-Msg-Id")? == uuid::Uuid::from_slice(&event.record.event_id)?.hyphenated().to_string(),
        "message id of {position}"
    );
    ensure!(
        message.payload.as_ref() == event.record_bytes.as_slice(),
        "payload of {position}"
    );
    ensure!(
        message.subject.as_str() == event_subject(grid, &event.record.event_type),
        "subject of {position}: {}",
        message.subject
    );
    Ok(())
}

/// The stream holds exactly the log: one message per position, each checked, ids unique.
async fn check_stream_holds_log(url: &str, log: &EventLog) -> anyhow::Result<usize> {
    let jetstream = raw_jetstream(url).await?;
    let messages = stream_messages(&jetstream, &stream_name(&district()?)).await?;
    let head = log.head().position;
    ensure!(
        messages.len() as u64 == head,
        "{} messages for a log of {head} events",
        messages.len()
    );
    let events = log.read_all(1, head as usize)?;
    let mut grids_of_issues: HashMap<String, GridCode> = HashMap::new();
    let mut message_ids = HashSet::new();
    for (message, event) in messages.iter().zip(&events) {
        let issue = event.record.stream_id.clone();
        if let IssueEventBody::IssueReported(reported) = decode_recorded(event)?.body {
            grids_of_issues.insert(issue.clone(), reported.grid);
        }
        let grid = grids_of_issues
            .get(&issue)
            .context("an issue reported before its other events")?;
        check(message, event, grid)?;
        ensure!(
            message_ids.insert(header(message, "Nats-Msg-Id")?.to_owned()),
            "message id twice"
        );
    }
    Ok(messages.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_published_once_in_order_and_verbatim() -> anyhow::Result<()> {
    let started = Instant::now();
    let server = NatsServer::start()?;
    let directory = tempfile::tempdir()?;
    let log = open_log(&directory)?;
    // Before the outbox starts (catch-up): reports, then their follow-ups.
    append_reports(&log, 0..120).await?;
    append_follow_ups(&log, 0..120).await?;
    let outbox = start_outbox(log.clone(), outbox_config(&server.url(), StreamSettings::default())?);
    let mut status = outbox.status();
    wait_until_published_through(&mut status, 240).await?;
    // While it runs (following): whole issues, then reports and their follow-ups apart.
    append_whole_issues(&log, 120..200).await?;
    append_reports(&log, 200..260).await?;
    append_follow_ups(&log, 200..260).await?;
    let head = log.head().position;
    assert_eq!(head, 520);
    let caught_up = wait_until_published_through(&mut status, head).await?;
    assert!(caught_up.is_healthy(), "{caught_up:?}");
    assert_eq!(caught_up.published_total, head);
    outbox.stop().await;
    let stopped = status.borrow().clone();
    assert_eq!(stopped.state, OutboxState::Stopped);
    assert_eq!((stopped.lag_events, stopped.lag_seconds), (0, 0.0));

    assert_eq!(check_stream_holds_log(&server.url(), &log).await?, 520);
    let connection = NatsConnection::connect(&NatsConfig::new(server.url())).await?;
    let state = stream_state(&connection, &stream_name(&district()?)).await?;
    assert_eq!((state.last_sequence, state.messages), (520, 520));
    eprintln!("published {head} events in {:?}", started.elapsed());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_of_nats_holds_up_no_append_and_loses_or_doubles_nothing() -> anyhow::Result<()> {
    let mut server = NatsServer::start()?;
    let directory = tempfile::tempdir()?;
    let log = open_log(&directory)?;
    let outbox = start_outbox(log.clone(), outbox_config(&server.url(), StreamSettings::default())?);
    let mut status = outbox.status();

    // Appends run all along, in their own task.
    let keep_appending = Arc::new(AtomicBool::new(true));
    let appender = tokio::spawn({
        let log = log.clone();
        let keep_appending = keep_appending.clone();
        async move {
            let mut number = 0;
            while keep_appending.load(Ordering::Relaxed) {
                append_whole_issues(&log, number..number + 1).await?;
                number += 1;
            }
            anyhow::Ok(number)
        }
    });

    wait_until_published_through(&mut status, 60).await?;
    server.kill()?;
    wait_for_status(&mut status, "the outbox noticing the outage", |status| {
        !status.is_healthy()
    })
    .await?;
    // Appends go on while NATS is down: wait for 100 more events to be committed.
    let head_at_outage = log.head().position;
    log.subscribe(head_at_outage + 100)
        .next()
        .await?
        .context("the log closed")?;
    let lagging = status.borrow().clone();
    assert!(matches!(lagging.state, OutboxState::Connecting { .. }), "{lagging:?}");

    let server = tokio::task::spawn_blocking(move || server.restart().map(|()| server)).await??;
    // Appends keep running through the restart; stop them once publishing is back.
    wait_for_status(&mut status, "publishing again", OutboxStatus::is_healthy).await?;
    keep_appending.store(false, Ordering::Relaxed);
    let issues = appender.await??;
    let head = log.head().position;
    assert_eq!(head, 2 * issues as u64);
    wait_until_published_through(&mut status, head).await?;
    outbox.stop().await;

    assert_eq!(check_stream_holds_log(&server.url(), &log).await? as u64, head);
    eprintln!("{head} events, {} appended during the outage", head - head_at_outage);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_replica_stream_survives_the_loss_of_a_node() -> anyhow::Result<()> {
    let mut cluster = NatsCluster::start(3)?;
    let directory = tempfile::tempdir()?;
    let log = open_log(&directory)?;
    let settings = StreamSettings {
        replicas: 3,
        ..StreamSettings::default()
    };
    // One seed URL: the client learns the other nodes from the cluster, and fails over to
    // them when its node is killed below.
    let outbox = start_outbox(log.clone(), outbox_config(&cluster.nodes[1].url(), settings)?);
    let mut status = outbox.status();
    append_whole_issues(&log, 0..100).await?;
    wait_until_published_through(&mut status, 200).await?;

    cluster.kill(1)?;
    append_whole_issues(&log, 100..150).await?;
    wait_until_published_through(&mut status, 300).await?;
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.restart(1)?;
        anyhow::Ok(cluster)
    })
    .await??;
    append_whole_issues(&log, 150..160).await?;
    let caught_up = wait_until_published_through(&mut status, 320).await?;
    outbox.stop().await;
    assert!(caught_up.published_total <= 320, "{caught_up:?}");

    let url = cluster.nodes[0].url();
    let mut stream = raw_jetstream(&url).await?.get_stream(stream_name(&district()?)).await?;
    assert_eq!(stream.info().await?.config.num_replicas, 3);
    assert_eq!(check_stream_holds_log(&url, &log).await?, 320);
    Ok(())
}

/// A copy of `message` as the outbox sent it, to publish again.
fn republication(message: &StreamMessage) -> anyhow::Result<PublishMessage> {
    let position: u64 = header(message, HEADER_POSITION)?.parse()?;
    Ok(PublishMessage::build()
        .message_id(header(message, "Nats-Msg-Id")?)
        .expected_last_sequence(position - 1)
        .header(HEADER_POSITION, header(message, HEADER_POSITION)?)
        .header(HEADER_CHAIN_HASH, header(message, HEADER_CHAIN_HASH)?)
        .header(HEADER_PREV_HASH, header(message, HEADER_PREV_HASH)?)
        .payload(message.payload.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_duplicate_outside_the_duplicate_window_is_refused() -> anyhow::Result<()> {
    let server = NatsServer::start()?;
    let directory = tempfile::tempdir()?;
    let log = open_log(&directory)?;
    let settings = StreamSettings {
        replicas: 1,
        duplicate_window: Duration::from_secs(1),
    };
    append_reports(&log, 0..40).await?;
    append_whole_issues(&log, 40..60).await?;
    let first = start_outbox(log.clone(), outbox_config(&server.url(), settings)?);
    let mut status = first.status();
    wait_until_published_through(&mut status, 80).await?;
    first.stop().await;

    let jetstream = raw_jetstream(&server.url()).await?;
    let stream = stream_name(&district()?);
    let messages = stream_messages(&jetstream, &stream).await?;
    // Wait until the duplicate window of the newest message has surely passed: a probe
    // stream with the same window, its message sent after the outbox's last one, is polled
    // until it forgets the probe's id (it stores a republication instead of calling it a
    // duplicate).
    jetstream
        .create_stream(jetstream::stream::Config {
            name: "DUPLICATE_WINDOW_PROBE".to_owned(),
            subjects: vec!["duplicate-window-probe".to_owned()],
            storage: jetstream::stream::StorageType::Memory,
            duplicate_window: settings.duplicate_window,
            ..Default::default()
        })
        .await?;
    let probe = || PublishMessage::build().message_id("probe").payload("probe".into());
    jetstream.send_publish("duplicate-window-probe", probe()).await?.await?;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut poll = tokio::time::interval(Duration::from_millis(100));
    let mut probes_inside_the_window = 0;
    loop {
        poll.tick().await;
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the duplicate window never ended"
        );
        if !jetstream
            .send_publish("duplicate-window-probe", probe())
            .await?
            .await?
            .duplicate
        {
            break;
        }
        probes_inside_the_window += 1;
    }
    ensure!(probes_inside_the_window > 0, "the probe was never inside its window");
    // Now every position published again is refused by the expected last sequence.
    for message in &messages {
        let answer = jetstream
            .send_publish(message.subject.clone(), republication(message)?)
            .await?
            .await;
        match answer {
            Err(error) if error.kind() == PublishErrorKind::WrongLastSequence => {}
            other => bail!("position {} published again: {other:?}", message.sequence),
        }
    }
    assert_eq!(check_stream_holds_log(&server.url(), &log).await?, 80);

    // A second outbox from scratch (no cursor, no cache) resumes where the stream stands.
    append_follow_ups(&log, 0..40).await?;
    let second = start_outbox(log.clone(), outbox_config(&server.url(), settings)?);
    let mut status = second.status();
    let caught_up = wait_until_published_through(&mut status, 120).await?;
    second.stop().await;
    assert_eq!(caught_up.published_total, 40, "{caught_up:?}");
    assert_eq!(check_stream_holds_log(&server.url(), &log).await?, 120);
    Ok(())
}

/// How a test prepares the district's stream before the outbox comes.
enum Preparation {
    /// A stream by that name made by someone else, with gridledger's settings but this change.
    ForeignConfig(fn(&mut jetstream::stream::Config)),
    /// gridledger's stream with this many messages another publisher wrote.
    ForeignMessages(usize),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_is_not_the_logs_is_refused_and_left_alone() -> anyhow::Result<()> {
    let server = NatsServer::start()?;
    let directory = tempfile::tempdir()?;
    let log = open_log(&directory)?;
    append_whole_issues(&log, 0..5).await?;
    let district = district()?;
    let stream = stream_name(&district);
    let jetstream = raw_jetstream(&server.url()).await?;
    let connection = NatsConnection::connect(&NatsConfig::new(server.url())).await?;
    let gridledger_settings = jetstream::stream::Config {
        name: stream.clone(),
        subjects: vec![stream_subjects(&district)],
        storage: jetstream::stream::StorageType::File,
        deny_delete: true,
        deny_purge: true,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    };
    let cases: Vec<(&str, Preparation, &str)> = vec![
        (
            "memory storage",
            Preparation::ForeignConfig(|config| config.storage = jetstream::stream::StorageType::Memory),
            "storage",
        ),
        (
            "an age limit",
            Preparation::ForeignConfig(|config| config.max_age = Duration::from_secs(3600)),
            "max_age",
        ),
        (
            "purge allowed",
            Preparation::ForeignConfig(|config| config.deny_purge = false),
            "deny_purge",
        ),
        (
            "other subjects",
            Preparation::ForeignConfig(|config| config.subjects = vec!["gridledger.ev.runzhou.s1.>".to_owned()]),
            "subjects",
        ),
        (
            "another duplicate window",
            Preparation::ForeignConfig(|config| config.duplicate_window = Duration::from_secs(10)),
            "duplicate_window",
        ),
        (
            "more messages than the log",
            Preparation::ForeignMessages(11),
            "log ends at position 10",
        ),
        (
            "another log's message",
            Preparation::ForeignMessages(1),
            "holds another log",
        ),
    ];
    for (case, preparation, expected_reason) in cases {
        let _ = jetstream.delete_stream(&stream).await;
        let foreign_messages = match preparation {
            Preparation::ForeignConfig(change) => {
                let mut config = gridledger_settings.clone();
                change(&mut config);
                jetstream.create_stream(config).await?;
                match ensure_district_stream(&connection, &district, &StreamSettings::default()).await {
                    Err(BusError::StreamConfigMismatch { differences, .. }) => {
                        assert!(differences.contains(expected_reason), "{case}: {differences}")
                    }
                    other => bail!("{case}: ensure_district_stream gave {other:?}"),
                }
                0
            }
            Preparation::ForeignMessages(count) => {
                ensure_district_stream(&connection, &district, &StreamSettings::default()).await?;
                for number in 0..count {
                    jetstream
                        .publish(
                            "gridledger.ev.runzhou.s1.c01.g01.issue_reported",
                            format!("foreign {number}").into(),
                        )
                        .await?
                        .await?;
                }
                count as u64
            }
        };
        let outbox = start_outbox(log.clone(), outbox_config(&server.url(), StreamSettings::default())?);
        let mut status = outbox.status();
        let refused = wait_for_status(&mut status, &format!("{case}: a refusal"), |status| {
            matches!(status.state, OutboxState::Refused { .. })
        })
        .await?;
        outbox.stop().await;
        let reason = refused.reason().unwrap_or_default();
        assert!(reason.contains(expected_reason), "{case}: {reason}");
        assert!(
            !refused.is_healthy() && refused.published_total == 0,
            "{case}: {refused:?}"
        );
        let state = stream_state(&connection, &stream).await?;
        assert_eq!(state.messages, foreign_messages, "{case}: the outbox published into it");
    }

    // Another publisher while the outbox runs: the next publish meets "wrong last sequence",
    // the outbox asks the stream, finds a message that is not the log's, and stops there.
    jetstream.delete_stream(&stream).await?;
    let outbox = start_outbox(log.clone(), outbox_config(&server.url(), StreamSettings::default())?);
    let mut status = outbox.status();
    wait_until_published_through(&mut status, 10).await?;
    jetstream
        .publish("gridledger.ev.runzhou.s1.c01.g01.issue_reported", "foreign".into())
        .await?
        .await?;
    append_whole_issues(&log, 5..6).await?;
    let refused = wait_for_status(&mut status, "a refusal of the foreign message", |status| {
        matches!(status.state, OutboxState::Refused { .. })
    })
    .await?;
    outbox.stop().await;
    assert!(
        refused
            .reason()
            .unwrap_or_default()
            .contains("message 11 has Gridledger-Chain-Hash (none)"),
        "{refused:?}"
    );
    assert_eq!((refused.published_through, refused.log_head), (10, 12));
    // Position 12, sent in the same window as 11, may have landed after the foreign
    // message (it expected sequence 11, and found one); nothing was sent after the refusal.
    let messages = stream_state(&connection, &stream).await?.messages;
    assert!((11..=12).contains(&messages), "{messages} messages");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_travels_in_its_bucket() -> anyhow::Result<()> {
    let server = NatsServer::start()?;
    let connection = NatsConnection::connect(&NatsConfig::new(server.url())).await?;
    let stream = stream_name(&district()?);
    let builtin = Registry::builtin_runzhou();
    let small = Registry::from_json_str(
        r#"{
          "districts":   [{"code": "runzhou", "display_name": "Runzhou", "time_zone": "Asia/Shanghai"}],
          "streets":     [{"code": "runzhou.s1", "display_name": "Street 1"}],
          "communities": [{"code": "runzhou.s1.c01", "display_name": "Community 1"}],
          "grids":       [{"code": "runzhou.s1.c01.g01", "display_name": "Grid 1"}],
          "categories":  [{"code": "work-safety", "display_name": "安监", "default_handling_deadline_hours": 24}]
        }"#,
    )?;

    assert_eq!(fetch_registry(&connection, &stream).await?, None, "before any bucket");
    // (registry published, written?) in turn; each time it reads back as published.
    for (registry, written) in [(&builtin, true), (&builtin, false), (&small, true), (&builtin, true)] {
        assert_eq!(publish_registry(&connection, &stream, registry, 1).await?, written);
        assert_eq!(fetch_registry(&connection, &stream).await?.as_ref(), Some(registry));
    }
    assert_eq!(
        fetch_registry(&connection, "GRIDLEDGER_ELSEWHERE").await?,
        None,
        "another district"
    );

    let bucket = raw_jetstream(&server.url())
        .await?
        .get_key_value(REGISTRY_BUCKET)
        .await?;
    bucket.put("GRIDLEDGER_BROKEN", "{ not a registry".into()).await?;
    match fetch_registry(&connection, "GRIDLEDGER_BROKEN").await {
        Err(BusError::Registry { stream, .. }) => assert_eq!(stream, "GRIDLEDGER_BROKEN"),
        other => bail!("an invalid registry gave {other:?}"),
    }
    Ok(())
}
