//! Sends a plan to a server through the typed client: each issue's commands strictly in
//! order, up to `concurrency` issues at a time, each acknowledgement checked against the
//! status the domain gave the command when it was planned. The client retries transient
//! failures with the same request id.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;
use gridledger_api::client::Client;
use indicatif::{ProgressBar, ProgressStyle};

use super::plan::{IssuePlan, PlannedCommand};

/// What sending a plan did.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Tally {
    /// Commands acknowledged.
    pub commands: u64,
    /// Acknowledgements of request ids the server had seen before (a re-run, or a retry
    /// whose first attempt had been committed).
    pub duplicate_acks: u64,
    /// Attempts the client repeated after transient failures.
    pub retries: u64,
    /// Wall-clock time of sending.
    pub elapsed_seconds: f64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.commands += other.commands;
        self.duplicate_acks += other.duplicate_acks;
    }
}

/// A progress bar over `commands` on stderr when `shown`, else a hidden one.
fn progress_bar(commands: u64, shown: bool) -> ProgressBar {
    if !shown {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(commands);
    bar.set_style(
        ProgressStyle::with_template("simulate {bar:40} {pos}/{len} commands {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Sends every plan's commands through `client`, up to `concurrency` issues at a time.
pub async fn send_plans(
    client: &Client,
    plans: Vec<IssuePlan>,
    concurrency: usize,
    progress: bool,
) -> anyhow::Result<Tally> {
    let commands = plans.iter().map(|plan| plan.commands.len() as u64).sum();
    let bar = progress_bar(commands, progress);
    let plans = Arc::new(plans);
    let next_issue = Arc::new(AtomicUsize::new(0));
    let retries_before = client.retries();
    let started = Instant::now();
    let mut walkers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(plans.len().max(1)) {
        walkers.spawn(walk_issues(
            client.clone(),
            Arc::clone(&plans),
            Arc::clone(&next_issue),
            bar.clone(),
        ));
    }
    let mut tally = Tally::default();
    while let Some(joined) = walkers.join_next().await {
        match joined.context("a simulation task failed").and_then(|walked| walked) {
            Ok(walked) => tally.add(&walked),
            Err(error) => {
                walkers.abort_all();
                bar.abandon();
                return Err(error);
            }
        }
    }
    tally.elapsed_seconds = started.elapsed().as_secs_f64();
    tally.retries = client.retries() - retries_before;
    bar.finish_and_clear();
    Ok(tally)
}

/// Which command of which issue, for an error.
fn describe(plan: &IssuePlan, command: &PlannedCommand) -> String {
    format!(
        "issue #{} {} ({}, grid {}), step {} {} at {} (request id {})",
        plan.issue_index,
        plan.issue_id,
        plan.category,
        plan.grid,
        command.step,
        command.command.kind(),
        command.occurred_at(),
        command.meta.request_id
    )
}

/// Takes the next unwalked issue until none is left and sends its commands in order.
async fn walk_issues(
    client: Client,
    plans: Arc<Vec<IssuePlan>>,
    next_issue: Arc<AtomicUsize>,
    bar: ProgressBar,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    while let Some(plan) = plans.get(next_issue.fetch_add(1, Ordering::Relaxed)) {
        for command in &plan.commands {
            let ack = client
                .send(plan.issue_id, &command.meta, &command.command)
                .await
                .with_context(|| describe(plan, command))?;
            tally.commands += 1;
            tally.duplicate_acks += u64::from(ack.duplicate);
            if ack.status != Some(command.expected_status_after) {
                anyhow::bail!(
                    "{}: the server reports status {}, the domain decided {} (was the server's log fresh, with the profile's registry?)",
                    describe(plan, command),
                    crate::output::status_name(ack.status),
                    command.expected_status_after
                );
            }
            bar.inc(1);
        }
    }
    Ok(tally)
}
