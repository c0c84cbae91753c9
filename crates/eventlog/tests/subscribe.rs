//! Subscriptions catch up from any position and then follow live appends, without gap or duplicate.

use gridledger_eventlog::{AppendRequest, EventLog, EventLogConfig, ExpectedRevision, NewEvent, RequestId, StreamId};

fn request(stream: usize, number: usize, events: usize) -> anyhow::Result<AppendRequest> {
    Ok(AppendRequest {
        stream_id: StreamId::try_from(format!("stream-{stream}"))?,
        expected_revision: ExpectedRevision::Any,
        request_id: RequestId::try_from(format!("request-{stream}-{number}"))?,
        actor_id: String::new(),
        events: (0..events)
            .map(|n| NewEvent {
                event_type: "Noted".to_owned(),
                occurred_at_micros: 0,
                payload: format!("{stream}/{number}/{n}").into_bytes(),
            })
            .collect(),
    })
}

/// Writes `before` events, subscribes from `from`, then writes `after` more events from four
/// concurrent appenders while reading; the subscription must yield exactly positions
/// `from..=before + after`, in order, each linked to the one before.
async fn check(before: usize, from: u64, after: usize) -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let log = EventLog::open(EventLogConfig::new(directory.path()))?;
    for number in 0..before {
        log.append(request(99, number, 1)?).await?;
    }
    let mut subscription = log.subscribe(from);
    let mut writers = tokio::task::JoinSet::new();
    for stream in 0..4 {
        let log = log.clone();
        writers.spawn(async move {
            for number in 0..after / 4 {
                log.append(request(stream, number, 1)?).await?;
            }
            anyhow::Ok(())
        });
    }
    let last = (before + after) as u64;
    let first = from.max(1);
    let mut previous_hash = None;
    for expected_position in first..=last {
        let event = subscription
            .next()
            .await?
            .ok_or_else(|| anyhow::anyhow!("subscription ended early"))?;
        assert_eq!(event.position, expected_position);
        if let Some(previous_hash) = previous_hash {
            assert_eq!(event.prev_hash, previous_hash);
        }
        previous_hash = Some(event.hash);
    }
    while let Some(result) = writers.join_next().await {
        result??;
    }
    assert_eq!(log.head().position, last);
    log.close()?;
    // After the log closes, the subscription has nothing more to give and ends.
    assert!(subscription.next().await?.is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_the_start_of_an_empty_log() -> anyhow::Result<()> {
    check(0, 0, 400).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_the_start_of_a_written_log() -> anyhow::Result<()> {
    check(1_200, 1, 400).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_the_middle() -> anyhow::Result<()> {
    check(700, 333, 200).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_the_next_position() -> anyhow::Result<()> {
    check(10, 11, 40).await
}
