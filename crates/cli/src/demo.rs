//! `gridledger demo`: a throwaway server, the Runzhou simulation through its API, the district's figures beside the published ones, and a verified log.

use std::time::Instant;

use clap::Args;
use gridledger_api::proto;
use gridledger_api::proto::audit_service_client::AuditServiceClient;
use gridledger_api::proto::stats_service_client::StatsServiceClient;
use gridledger_domain::Registry;
use gridledger_server::{ServerConfig, start};

use crate::output;
use crate::simulate::{Profile, simulate};
use crate::stats::{breakdown_rows, print_rows};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seed of the simulation (the same seed gives the same figures).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Concurrent issue walks.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

/// The reference district's published figures (SPEC §1): since 2018, 4,300+ issues
/// accepted, 2,700+ deliberation and consultation meetings, 40,000 resident
/// participations, closure rate 98.7%.
const PUBLISHED: [(&str, &str); 4] = [
    ("accepted (受理)", "4,300+"),
    ("deliberation meetings (议事、会商)", "2,700+"),
    ("participants (参与群众人次)", "40,000"),
    ("closure rate (办结率)", "98.7%"),
];

pub fn run(json: bool, arguments: DemoArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let started = Instant::now();
        let data = tempfile::Builder::new().prefix("gridledger-demo-").tempdir()?;
        let server = start(
            ServerConfig {
                data_dir: data.path().join("data"),
                listen: "127.0.0.1:0".parse()?,
                registry: Registry::builtin_runzhou(),
            },
            std::future::pending(),
        )
        .await?;
        let url = format!("http://{}", server.local_addr);
        if !json {
            println!("gridledger demo: a fresh node on {url}, data in {}", data.path().display());
            println!("simulating the Runzhou district, 2018–2022, seed {} ...", arguments.seed);
        }
        let summary = simulate(&url, Profile::Runzhou, arguments.seed, arguments.concurrency, !json).await?;
        let channel = crate::client::connect(&url).await?;
        let mut stats = StatsServiceClient::new(channel.clone());
        let district = stats
            .get_governance_stats(proto::GetGovernanceStatsRequest::default())
            .await
            .map_err(output::status_error)?
            .into_inner();
        let streets = breakdown_rows(
            &mut stats,
            proto::BreakdownGovernanceStatsRequest {
                group_by: proto::GroupBy::Street as i32,
                ..Default::default()
            },
        )
        .await?;
        let verified = AuditServiceClient::new(channel)
            .verify_log(proto::VerifyLogRequest::default())
            .await
            .map_err(output::status_error)?
            .into_inner();
        server.shutdown().await?;
        anyhow::ensure!(verified.ok, "the log did not verify: {}", verified.message);
        let ours = [
            district.accepted.to_string(),
            district.deliberation_meetings.to_string(),
            district.participants.to_string(),
            format!("{:.1}%", district.closure_rate * 100.0),
        ];
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "seed": arguments.seed,
                    "commands": summary.commands_sent,
                    "district": crate::stats::stats_json(&district),
                    "streets": streets.iter().map(|(key, stats)| serde_json::json!({"key": key, "stats": crate::stats::stats_json(stats)})).collect::<Vec<_>>(),
                    "verified_events": verified.events_checked,
                    "head_hash": hex::encode(&verified.head_hash),
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
        println!("  {:<36} {:>12} {:>12}", "", "gridledger", "published");
        for ((name, published), ours) in PUBLISHED.iter().zip(ours) {
            println!("  {name:<36} {ours:>12} {published:>12}");
        }
        println!(
            "  resolved in grid {} · by community {} · by committee {} · satisfaction {:.1}% · on time {:.1}% · open {}",
            district.resolved_in_grid,
            district.resolved_by_community,
            district.resolved_by_committee,
            district.satisfaction_rate * 100.0,
            district.on_time_closure_rate * 100.0,
            district.accepted - district.closed
        );
        println!();
        println!("by street:");
        print_rows(&streets, "street", false);
        println!();
        println!(
            "log verified: {} events, head hash {} ({:.1} s in all)",
            verified.events_checked,
            hex::encode(&verified.head_hash),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
}
