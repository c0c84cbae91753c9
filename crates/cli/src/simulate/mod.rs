//! `gridledger simulate`: a deterministic, seeded workload that walks years of a district's issues through the real gRPC API.
//!
//! The work is split in two. [`plan_simulation`] is pure: from a profile and a seed it
//! computes every issue's complete list of domain commands (ids, request ids, business
//! times, meetings) with the profile's figures fixed by construction, whatever the seed —
//! the seed only chooses which issues, grids, categories, dates, paths and orders. The
//! drive then sends the planned commands through the typed client, each issue's commands
//! strictly in order, up to `concurrency` issues at a time.
//!
//! - [`profile`]: the simulated districts and their exact counts;
//! - [`plan`] (with [`walk`]): the planner;
//! - [`drive`]: sending a plan, with a progress bar;
//! - [`report`]: the summary, for people and as JSON.
//!
//! The `runzhou` profile reproduces the reference district's published figures
//! (docs/product.md#the-reference-district) over 2018–2022: 4,420 reports of which 70 are
//! withdrawn (4,350 accepted), 56 accepted issues left open (4,294 closed, closure rate
//! 98.71%), 2,750 deliberation meetings taking up one to three issues of one community
//! each, with 40,000 participants in all.

mod drive;
mod field_data;
mod plan;
mod profile;
mod report;
#[cfg(test)]
mod tests;
mod walk;

use clap::Args;
use gridledger_api::client::Client;

pub use field_data::FieldPhotos;
use field_data::attach_field_data;
pub use plan::plan_simulation;
pub use profile::Profile;
pub use report::{PlannedFigures, SimulationSummary};

/// `gridledger simulate` options.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The district and figures to simulate.
    #[arg(long, value_enum, default_value_t = Profile::Runzhou)]
    pub profile: Profile,
    /// Seed of the workload: the same seed against a fresh server gives the same log figures.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How many issues are walked at the same time (each issue's commands stay in order).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
}

/// `gridledger simulate`: plans, sends and prints the summary (one JSON object with `--json`).
pub async fn run(client: &Client, json: bool, arguments: SimulateArgs) -> anyhow::Result<()> {
    let summary = simulate(client, arguments.profile, arguments.seed, arguments.concurrency, true).await?;
    if json {
        println!("{}", summary.to_json());
    } else {
        print!("{}", summary.text_for_people());
    }
    Ok(())
}

/// Plans the profile's workload for `seed` and sends it through `client`, up to
/// `concurrency` issues at a time; `progress` shows a progress bar on a terminal (stderr).
pub async fn simulate(
    client: &Client,
    profile: Profile,
    seed: u64,
    concurrency: usize,
    progress: bool,
) -> anyhow::Result<SimulationSummary> {
    simulate_with_field_data(client, profile, seed, concurrency, progress, None).await
}

/// [`simulate`], with a location on every report and, given `photos`, photos on some
/// issues' reports and fixes (what `gridledger demo` shows).
pub async fn simulate_with_field_data(
    client: &Client,
    profile: Profile,
    seed: u64,
    concurrency: usize,
    progress: bool,
    photos: Option<&FieldPhotos>,
) -> anyhow::Result<SimulationSummary> {
    anyhow::ensure!(concurrency >= 1, "--concurrency must be at least 1");
    let mut plans = plan_simulation(profile, seed)?;
    if let Some(photos) = photos {
        attach_field_data(&mut plans, &profile.registry(), photos)?;
    }
    let planned = PlannedFigures::of(&plans);
    let tally = drive::send_plans(client, plans, concurrency, progress).await?;
    Ok(SimulationSummary {
        profile,
        seed,
        issues_reported: planned.reports,
        commands_sent: tally.commands,
        duplicate_acks: tally.duplicate_acks,
        retries: tally.retries,
        concurrency,
        elapsed_seconds: tally.elapsed_seconds,
        commands_per_second: if tally.elapsed_seconds > 0.0 {
            tally.commands as f64 / tally.elapsed_seconds
        } else {
            0.0
        },
        planned,
    })
}
