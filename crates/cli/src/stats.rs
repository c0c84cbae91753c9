//! `gridledger stats`: the governance figures for a scope, category, period and instant, as a table, CSV or JSON.

use anyhow::Context;
use clap::{Args, ValueEnum};
use gridledger_api::proto;
use gridledger_api::proto::stats_service_client::StatsServiceClient;
use serde_json::json;

use crate::client::{connect, parse_time};
use crate::output;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GroupByChoice {
    Street,
    Community,
    Grid,
    Category,
    Month,
    Year,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Jurisdiction code (district, street, community or grid); default: everything.
    #[arg(long, default_value = "")]
    scope: String,
    /// One row per street, community, grid, category, month or year.
    #[arg(long = "by", value_enum)]
    group_by: Option<GroupByChoice>,
    #[arg(long, default_value = "")]
    category: String,
    /// Start of the period on the report date (RFC 3339 or YYYY-MM-DD), inclusive.
    #[arg(long)]
    from: Option<String>,
    /// End of the period (RFC 3339 or YYYY-MM-DD), exclusive.
    #[arg(long)]
    to: Option<String>,
    /// The figures exactly as the log stood at this instant (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    as_of: Option<String>,
    /// Comma-separated values for spreadsheets.
    #[arg(long, conflicts_with = "json")]
    csv: bool,
}

/// Accepts a plain date (midnight UTC) as well as RFC 3339.
fn parse_date_or_time(flag: &str, value: &str) -> anyhow::Result<prost_types::Timestamp> {
    if value.len() == 10 {
        return parse_time(flag, &format!("{value}T00:00:00Z"));
    }
    parse_time(flag, value)
}

/// (column name, value as text) for every figure.
fn columns(stats: &proto::GovernanceStats) -> Vec<(&'static str, String)> {
    let percent = |rate: f64| format!("{:.1}%", rate * 100.0);
    vec![
        ("accepted", stats.accepted.to_string()),
        ("closed", stats.closed.to_string()),
        ("closure_rate", percent(stats.closure_rate)),
        ("resolved_in_grid", stats.resolved_in_grid.to_string()),
        ("resolved_by_community", stats.resolved_by_community.to_string()),
        ("resolved_by_committee", stats.resolved_by_committee.to_string()),
        ("escalated", stats.escalated.to_string()),
        ("committee_decisions", stats.committee_decisions.to_string()),
        ("deliberation_meetings", stats.deliberation_meetings.to_string()),
        ("participants", stats.participants.to_string()),
        ("evaluations", stats.evaluations.to_string()),
        ("satisfied", stats.satisfied.to_string()),
        ("satisfaction_rate", percent(stats.satisfaction_rate)),
        ("reopened", stats.reopened.to_string()),
        ("reopen_rate", percent(stats.reopen_rate)),
        ("due", stats.due.to_string()),
        ("closed_on_time", stats.closed_on_time.to_string()),
        ("on_time_closure_rate", percent(stats.on_time_closure_rate)),
        (
            "time_to_close_p50_hours",
            format!("{:.1}", stats.time_to_close_p50_hours),
        ),
        (
            "time_to_close_p90_hours",
            format!("{:.1}", stats.time_to_close_p90_hours),
        ),
        ("overdue_open", stats.overdue_open.to_string()),
        ("aging_under_7_days", stats.aging_under_7_days.to_string()),
        ("aging_7_to_30_days", stats.aging_7_to_30_days.to_string()),
        ("aging_30_to_90_days", stats.aging_30_to_90_days.to_string()),
        ("aging_over_90_days", stats.aging_over_90_days.to_string()),
        ("as_of_position", stats.as_of_position.to_string()),
    ]
}

pub fn stats_json(stats: &proto::GovernanceStats) -> serde_json::Value {
    json!({
        "accepted": stats.accepted, "closed": stats.closed, "closure_rate": stats.closure_rate,
        "resolved_in_grid": stats.resolved_in_grid, "resolved_by_community": stats.resolved_by_community,
        "resolved_by_committee": stats.resolved_by_committee, "escalated": stats.escalated,
        "committee_decisions": stats.committee_decisions, "deliberation_meetings": stats.deliberation_meetings,
        "participants": stats.participants, "evaluations": stats.evaluations, "satisfied": stats.satisfied,
        "satisfaction_rate": stats.satisfaction_rate, "reopened": stats.reopened, "reopen_rate": stats.reopen_rate,
        "due": stats.due, "closed_on_time": stats.closed_on_time, "on_time_closure_rate": stats.on_time_closure_rate,
        "time_to_close_p50_hours": stats.time_to_close_p50_hours, "time_to_close_p90_hours": stats.time_to_close_p90_hours,
        "overdue_open": stats.overdue_open, "aging_under_7_days": stats.aging_under_7_days,
        "aging_7_to_30_days": stats.aging_7_to_30_days, "aging_30_to_90_days": stats.aging_30_to_90_days,
        "aging_over_90_days": stats.aging_over_90_days, "as_of_position": stats.as_of_position,
    })
}

/// Prints one figure per line (a single scope).
pub fn print_stats(stats: &proto::GovernanceStats) {
    for (name, value) in columns(stats) {
        println!("{name:>24}  {value}");
    }
}

/// Prints rows as an aligned table, with a few columns, or every column as CSV.
pub fn print_rows(rows: &[(String, proto::GovernanceStats)], key_name: &str, csv: bool) {
    if csv {
        let header: Vec<&str> = std::iter::once(key_name)
            .chain(
                columns(&proto::GovernanceStats::default())
                    .iter()
                    .map(|(name, _)| *name),
            )
            .collect();
        println!("{}", header.join(","));
        for (key, stats) in rows {
            let values: Vec<String> = std::iter::once(csv_field(key))
                .chain(
                    columns(stats)
                        .into_iter()
                        .map(|(_, value)| value.trim_end_matches('%').to_owned()),
                )
                .collect();
            println!("{}", values.join(","));
        }
        return;
    }
    println!(
        "{key_name:<22} {:>9} {:>8} {:>8} {:>9} {:>12} {:>9} {:>10} {:>8}",
        "accepted", "closed", "closure", "meetings", "participants", "escalated", "satisfied", "overdue"
    );
    for (key, stats) in rows {
        println!(
            "{key:<22} {:>9} {:>8} {:>7.1}% {:>9} {:>12} {:>9} {:>9.1}% {:>8}",
            stats.accepted,
            stats.closed,
            stats.closure_rate * 100.0,
            stats.deliberation_meetings,
            stats.participants,
            stats.escalated,
            stats.satisfaction_rate * 100.0,
            stats.overdue_open
        );
    }
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// A breakdown's rows as (key, figures).
pub async fn breakdown_rows(
    client: &mut StatsServiceClient<tonic::transport::Channel>,
    request: proto::BreakdownGovernanceStatsRequest,
) -> anyhow::Result<Vec<(String, proto::GovernanceStats)>> {
    Ok(client
        .breakdown_governance_stats(request)
        .await
        .map_err(output::status_error)?
        .into_inner()
        .rows
        .into_iter()
        .map(|row| (row.key, row.stats.unwrap_or_default()))
        .collect())
}

pub fn run(server: &str, json: bool, arguments: StatsArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime
        .block_on(async move {
            let mut client = StatsServiceClient::new(connect(server).await?);
            let period_start = arguments
                .from
                .as_deref()
                .map(|value| parse_date_or_time("--from", value))
                .transpose()?;
            let period_end = arguments
                .to
                .as_deref()
                .map(|value| parse_date_or_time("--to", value))
                .transpose()?;
            let as_of = arguments
                .as_of
                .as_deref()
                .map(|value| parse_date_or_time("--as-of", value))
                .transpose()?;
            let Some(group_by) = arguments.group_by else {
                let stats = client
                    .get_governance_stats(proto::GetGovernanceStatsRequest {
                        scope: arguments.scope.clone(),
                        category: arguments.category,
                        period_start,
                        period_end,
                        as_of,
                    })
                    .await
                    .map_err(output::status_error)?
                    .into_inner();
                let scope = if arguments.scope.is_empty() {
                    "all".to_owned()
                } else {
                    arguments.scope
                };
                if json {
                    println!("{}", stats_json(&stats));
                } else if arguments.csv {
                    print_rows(&[(scope, stats)], "scope", true);
                } else {
                    print_stats(&stats);
                }
                return anyhow::Ok(());
            };
            let (wire, key_name) = match group_by {
                GroupByChoice::Street => (proto::GroupBy::Street, "street"),
                GroupByChoice::Community => (proto::GroupBy::Community, "community"),
                GroupByChoice::Grid => (proto::GroupBy::Grid, "grid"),
                GroupByChoice::Category => (proto::GroupBy::Category, "category"),
                GroupByChoice::Month => (proto::GroupBy::Month, "month"),
                GroupByChoice::Year => (proto::GroupBy::Year, "year"),
            };
            let rows = breakdown_rows(
                &mut client,
                proto::BreakdownGovernanceStatsRequest {
                    scope: arguments.scope,
                    group_by: wire as i32,
                    category: arguments.category,
                    period_start,
                    period_end,
                    as_of,
                },
            )
            .await?;
            if json {
                let rows: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|(key, stats)| json!({ "key": key, "stats": stats_json(stats) }))
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                print_rows(&rows, key_name, arguments.csv);
            }
            Ok(())
        })
        .context("stats")
}
