//! `gridledger demo`: a throwaway server, the Runzhou simulation through its API, the district's figures beside the published ones, and a verified log; with `--serve`, the node and its dashboard stay up until Ctrl-C.

use std::net::SocketAddr;
use std::time::Instant;

use clap::Args;
use gridledger_api::StatsFilter;
use gridledger_api::client::Client;
use gridledger_projections::{GovernanceStats, GroupBy};

use crate::simulate::{FieldPhotos, Profile, simulate_with_field_data};
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
    /// After the figures, keep the demo node up with its HTTP API and dashboard until
    /// Ctrl-C (or SIGTERM), and print the dashboard's URL.
    #[arg(long)]
    serve: bool,
    /// Where `--serve` serves the dashboard (a loopback address; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080", requires = "serve")]
    http: SocketAddr,
}

/// Synthetic photos of each kind (problem, fix) the demo uploads and attaches to issues.
const DEMO_PHOTOS: u32 = 6;

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
    let http = arguments.serve.then_some(arguments.http);
    let server = ThrowawayServer::start_with_http("gridledger-demo-", None, http).await?;
    let dashboard = server
        .http_addr()
        .map(|address| crate::serve::dashboard_url(address, false));
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
    // Grid workers photograph what they report and what was fixed (整改前 / 整改后).
    let photos = FieldPhotos::upload(&client, DEMO_PHOTOS).await?;
    let summary = simulate_with_field_data(
        &client,
        Profile::Runzhou,
        arguments.seed,
        arguments.concurrency,
        !json,
        Some(&photos),
    )
    .await?;
    let everything = StatsFilter::default();
    let district = client.governance_stats(&everything).await?;
    let streets = breakdown_rows(&client, &everything, GroupBy::Street).await?;
    let verified = client.verify_log(0, 0).await?;
    drop(client);
    let server = match dashboard {
        // Without --serve the node stops here; with it, once Ctrl-C comes (below).
        None => {
            let _scratch = server.shutdown().await?;
            None
        }
        Some(_) => Some(server),
    };
    anyhow::ensure!(verified.ok, "the log did not verify: {}", verified.message);
    if json {
        let mut report = serde_json::json!({
            "seed": arguments.seed,
            "commands": summary.commands_sent,
            "district": stats_json(&district),
            "streets": crate::stats::rows_json(&streets),
            "photos_uploaded": photos.before.len() + photos.after.len(),
            "verified_events": verified.events_checked,
            "head_hash": hex::encode(verified.head_hash),
            "seconds": started.elapsed().as_secs_f64(),
        });
        if let Some(url) = &dashboard {
            report["dashboard"] = serde_json::Value::String(url.clone());
        }
        println!("{report}");
        return serve_until_stopped(server, dashboard.as_deref(), json).await;
    }
    println!(
        "{} commands in {:.1} s ({:.0}/s) through the gRPC API",
        summary.commands_sent, summary.elapsed_seconds, summary.commands_per_second
    );
    println!(
        "every report carries its location (GCJ-02); one issue in 7 carries photos of the problem and of the fix ({} photos uploaded, content-addressed)",
        photos.before.len() + photos.after.len()
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
    serve_until_stopped(server, dashboard.as_deref(), json).await
}

/// With `--serve`: says where the dashboard is, keeps the node up until SIGINT or SIGTERM,
/// then stops it gracefully (its scratch directory goes with it).
async fn serve_until_stopped(
    server: Option<ThrowawayServer>,
    dashboard: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let (Some(server), Some(url)) = (server, dashboard) else {
        return Ok(());
    };
    let line = format!("dashboard on {url} (the API under {url}api/v1/); Ctrl-C to stop the demo node");
    if json {
        eprintln!("{line}");
    } else {
        println!();
        println!("{line}");
    }
    crate::serve::shutdown_signal().await;
    let _scratch = server.shutdown().await?;
    if !json {
        println!("demo node stopped");
    }
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
