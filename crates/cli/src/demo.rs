//! `gridledger demo`: a throwaway server, the Runzhou simulation through its API, the district's figures beside the published ones, and a verified log.

use std::time::Instant;

use clap::Args;
use gridledger_api::StatsFilter;
use gridledger_api::client::Client;
use gridledger_projections::{GovernanceStats, GroupBy};

use crate::simulate::{Profile, simulate};
use crate::stats::{breakdown_rows, rows_text, stats_json};
use crate::throwaway::ThrowawayServer;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seed of the simulation (the same seed gives the same figures).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Concurrent issue walks.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

/// The reference district's published figures
/// (docs/product.md#the-reference-district): since 2018, 4,300+ issues accepted, 2,700+
/// deliberation and consultation meetings, 40,000 resident participations, closure rate
/// 98.7%.
const PUBLISHED: [(&str, &str); 4] = [
    ("accepted (受理)", "4,300+"),
    ("deliberation meetings (议事、会商)", "2,700+"),
    ("participants (参与群众人次)", "40,000"),
    ("closure rate (办结率)", "98.7%"),
];

/// The district's figures beside the published ones, as the demo prints them.
pub fn figures_beside_published(district: &GovernanceStats) -> String {
    let ours = [
        district.accepted.to_string(),
        district.deliberation_meetings.to_string(),
        district.participants.to_string(),
        format!("{:.1}%", district.closure_rate * 100.0),
    ];
    let mut text = format!("  {:<36} {:>12} {:>12}\n", "", "gridledger", "published");
    for ((name, published), ours) in PUBLISHED.iter().zip(ours) {
        text.push_str(&format!("  {name:<36} {ours:>12} {published:>12}\n"));
    }
    text.push_str(&format!(
        "  resolved in grid {} · by community {} · by committee {} · satisfaction {:.1}% · on time {:.1}% · open {}\n",
        district.resolved_in_grid,
        district.resolved_by_community,
        district.resolved_by_committee,
        district.satisfaction_rate * 100.0,
        district.on_time_closure_rate * 100.0,
        district.accepted.saturating_sub(district.closed)
    ));
    text
}

pub async fn run(json: bool, arguments: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let server = ThrowawayServer::start("gridledger-demo-", None).await?;
    if !json {
        println!(
            "gridledger demo: a fresh node on {}, data in {}",
            server.url,
            server.scratch().display()
        );
        println!(
            "simulating the Runzhou district, 2018–2022, seed {} ...",
            arguments.seed
        );
    }
    let client = Client::connect(&server.url, None).await?;
    let summary = simulate(&client, Profile::Runzhou, arguments.seed, arguments.concurrency, !json).await?;
    let everything = StatsFilter::default();
    let district = client.governance_stats(&everything).await?;
    let streets = breakdown_rows(&client, &everything, GroupBy::Street).await?;
    let verified = client.verify_log(0, 0).await?;
    drop(client);
    let _scratch = server.shutdown().await?;
    anyhow::ensure!(verified.ok, "the log did not verify: {}", verified.message);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "seed": arguments.seed,
                "commands": summary.commands_sent,
                "district": stats_json(&district),
                "streets": crate::stats::rows_json(&streets),
                "verified_events": verified.events_checked,
                "head_hash": hex::encode(verified.head_hash),
                "seconds": started.elapsed().as_secs_f64(),
            })
        );
        return Ok(());
    }
    println!(
        "{} commands in {:.1} s ({:.0}/s) through the gRPC API",
        summary.commands_sent, summary.elapsed_seconds, summary.commands_per_second
    );
    println!();
    println!("district figures, computed by the projections from the log:");
    print!("{}", figures_beside_published(&district));
    println!();
    println!("by street:");
    print!("{}", rows_text(&streets, "street", false));
    println!();
    println!(
        "log verified: {} events, head hash {} ({:.1} s in all)",
        verified.events_checked,
        hex::encode(verified.head_hash),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks the printed text line by line (trailing blanks aside).
    fn check(district: &GovernanceStats, expected_lines: &[&str]) {
        let text = figures_beside_published(district);
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        assert_eq!(lines, expected_lines, "{text}");
    }

    #[test]
    fn the_district_figures_are_printed_beside_the_published_ones() {
        check(
            &GovernanceStats {
                accepted: 4_350,
                closed: 4_294,
                closure_rate: 4_294.0 / 4_350.0,
                deliberation_meetings: 2_750,
                participants: 40_000,
                resolved_in_grid: 695,
                resolved_by_community: 3_356,
                resolved_by_committee: 243,
                satisfaction_rate: 0.917,
                on_time_closure_rate: 0.809,
                ..GovernanceStats::default()
            },
            &[
                "                                         gridledger    published",
                "  accepted (受理)                                4350       4,300+",
                "  deliberation meetings (议事、会商)                2750       2,700+",
                "  participants (参与群众人次)                       40000       40,000",
                "  closure rate (办结率)                          98.7%        98.7%",
                "  resolved in grid 695 · by community 3356 · by committee 243 · satisfaction 91.7% · on time 80.9% · open 56",
            ],
        );
        check(
            &GovernanceStats::default(),
            &[
                "                                         gridledger    published",
                "  accepted (受理)                                   0       4,300+",
                "  deliberation meetings (议事、会商)                   0       2,700+",
                "  participants (参与群众人次)                           0       40,000",
                "  closure rate (办结率)                           0.0%        98.7%",
                "  resolved in grid 0 · by community 0 · by committee 0 · satisfaction 0.0% · on time 0.0% · open 0",
            ],
        );
    }
}
