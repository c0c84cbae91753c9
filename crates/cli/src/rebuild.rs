//! `gridledger rebuild`: rebuilds the governance projection's checkpoint from position 1 of the log (the server must be stopped).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use gridledger_domain::DistrictTimeZone;
use gridledger_eventlog::{EventLog, EventLogConfig};
use gridledger_projections::{CHECKPOINT_NAME, GovernanceProjection};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// Directory of the event log.
    #[arg(long, env = "GRIDLEDGER_DATA", default_value = "./gridledger-data")]
    data: PathBuf,
}

pub fn run(json: bool, arguments: RebuildArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        arguments.data.join("db").exists(),
        "no event log in {} (give --data)",
        arguments.data.display()
    );
    let log = EventLog::open(EventLogConfig::new(&arguments.data))?;
    let head = log.head().position;
    let store = log.projection_store(CHECKPOINT_NAME)?;
    let bar = ProgressBar::new(head);
    bar.set_style(
        ProgressStyle::with_template("rebuild {bar:40} {pos}/{len} events {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    // The checkpoint holds instants only; the server builds the months in its district's
    // zone when it loads it, so the zone folded in here does not matter.
    let mut projection = GovernanceProjection::replay(&log, DistrictTimeZone::utc().zone(), head, |position| {
        bar.set_position(position)
    })?;
    let replayed = started.elapsed().as_secs_f64();
    projection.save_all(&store)?;
    bar.finish_and_clear();
    log.close()?;
    let events_per_second = head as f64 / replayed.max(f64::EPSILON);
    if json {
        println!(
            "{}",
            serde_json::json!({"events": head, "issues": projection.issue_count(), "seconds": replayed, "events_per_second": events_per_second})
        );
    } else {
        println!(
            "rebuilt the governance projection from {head} events ({} issues) in {replayed:.2} s ({events_per_second:.0} events/s)",
            projection.issue_count()
        );
    }
    Ok(())
}
