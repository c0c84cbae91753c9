//! Projection checkpoints against a real sled log in a temp dir: atomic commits, chunked writes without a position, clearing, reopening.

use gridledger_eventlog::{CHECKPOINT_CHUNK_ENTRIES, EventLog, EventLogConfig, EventLogError, ProjectionStore};

/// One step against a checkpoint.
#[derive(Debug)]
enum Step {
    /// `commit(position, entries 0..count)`.
    Commit {
        position: u64,
        count: usize,
    },
    /// `write_unpositioned(entries 0..count)`.
    WriteUnpositioned {
        count: usize,
    },
    Clear,
    /// Close the log and open it again.
    Reopen,
}

/// What the checkpoint holds after every step, or the step's error.
#[derive(Debug, PartialEq)]
enum Expect {
    Holds {
        position: u64,
        entries: usize,
        entries_without_position: bool,
    },
    RefusedInvalid,
}

fn entries(count: usize) -> impl Iterator<Item = (Vec<u8>, Option<Vec<u8>>)> {
    (0..count).map(|n| {
        (
            (n as u64).to_be_bytes().to_vec(),
            Some(format!("value {n}").into_bytes()),
        )
    })
}

fn holds(position: u64, entries: usize, entries_without_position: bool) -> Expect {
    Expect::Holds {
        position,
        entries,
        entries_without_position,
    }
}

fn observe(store: &ProjectionStore) -> anyhow::Result<Expect> {
    let mut count = 0;
    for (n, entry) in store.entries().enumerate() {
        let (key, value) = entry?;
        assert_eq!(key, (n as u64).to_be_bytes().to_vec(), "entries come back in key order");
        assert_eq!(value, format!("value {n}").into_bytes());
        count += 1;
    }
    Ok(holds(store.position()?, count, store.has_entries_without_position()?))
}

fn check(steps: Vec<(Step, Expect)>) -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let mut log = EventLog::open(EventLogConfig::new(directory.path()))?;
    let mut store = log.projection_store("test")?;
    for (index, (step, expect)) in steps.into_iter().enumerate() {
        let outcome = match &step {
            Step::Commit { position, count } => store.commit(*position, entries(*count)),
            Step::WriteUnpositioned { count } => store.write_unpositioned(entries(*count)),
            Step::Clear => store.clear(),
            Step::Reopen => {
                drop(store);
                log.close()?;
                drop(log);
                log = EventLog::open(EventLogConfig::new(directory.path()))?;
                store = log.projection_store("test")?;
                Ok(())
            }
        };
        let got = match outcome {
            Ok(()) => observe(&store)?,
            Err(EventLogError::InvalidInput { .. }) => RefusedInvalid,
            Err(other) => return Err(other.into()),
        };
        assert_eq!(got, expect, "step {index}: {step:?}");
    }
    log.close()?;
    Ok(())
}

use Expect::RefusedInvalid;

#[test]
fn commits_writes_without_a_position_and_clears() -> anyhow::Result<()> {
    let large = CHECKPOINT_CHUNK_ENTRIES * 2 + 17;
    check(vec![
        (Step::Commit { position: 5, count: 3 }, holds(5, 3, false)),
        // Entries without a position only go into a cleared checkpoint.
        (Step::WriteUnpositioned { count: 4 }, RefusedInvalid),
        (Step::Clear, holds(0, 0, false)),
        // More entries than one chunk: written in several batches, all of them kept.
        (Step::WriteUnpositioned { count: large }, holds(0, large, true)),
        // A crash here leaves entries that claim no position.
        (Step::Reopen, holds(0, large, true)),
        (Step::Commit { position: 40, count: 0 }, holds(40, large, false)),
        (Step::Reopen, holds(40, large, false)),
        // Clearing more than one chunk removes everything.
        (Step::Clear, holds(0, 0, false)),
        (Step::Reopen, holds(0, 0, false)),
    ])
}
