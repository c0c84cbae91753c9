//! `gridledger stats`: the governance figures for a scope, category, period and instant, as a table, CSV or JSON.

use std::fmt::Write as _;

use anyhow::Context;
use clap::Args;
use gridledger_api::StatsFilter;
use gridledger_api::client::Client;
use gridledger_domain::{CategoryCode, JurisdictionCode, Timestamp};
use gridledger_projections::{GovernanceStats, GroupBy};
use serde_json::{Value, json};

use crate::args::{StableName, named, optional_code, parse_time};

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Jurisdiction code (district, street, community or grid); default: everything.
    #[arg(long, default_value = "")]
    scope: String,
    /// One row per district, street, community, grid, category, month or year.
    #[arg(long = "by", value_parser = named::<GroupBy>())]
    group_by: Option<GroupBy>,
    #[arg(long, default_value = "")]
    category: String,
    /// Start of the period on the report date (RFC 3339 or YYYY-MM-DD), inclusive.
    #[arg(long, value_parser = parse_time)]
    from: Option<Timestamp>,
    /// End of the period (RFC 3339 or YYYY-MM-DD), exclusive.
    #[arg(long, value_parser = parse_time)]
    to: Option<Timestamp>,
    /// The figures exactly as the log stood at this instant (RFC 3339 or YYYY-MM-DD).
    #[arg(long, value_parser = parse_time)]
    as_of: Option<Timestamp>,
    /// Comma-separated values for spreadsheets.
    #[arg(long, conflicts_with = "json")]
    csv: bool,
}

/// (column name, value as text) for every figure.
fn columns(stats: &GovernanceStats) -> Vec<(&'static str, String)> {
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

/// The figures as JSON, one key per figure.
pub fn stats_json(stats: &GovernanceStats) -> Value {
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

/// Breakdown rows as JSON: `[{"key": ..., "stats": {...}}, ...]`.
pub fn rows_json(rows: &[(String, GovernanceStats)]) -> Value {
    Value::Array(
        rows.iter()
            .map(|(key, stats)| json!({ "key": key, "stats": stats_json(stats) }))
            .collect(),
    )
}

/// One figure per line (a single scope).
pub fn figures_text(stats: &GovernanceStats) -> String {
    let mut text = String::new();
    for (name, value) in columns(stats) {
        let _ = writeln!(text, "{name:>24}  {value}");
    }
    text
}

/// Rows as an aligned table with a few columns, or every column as CSV.
pub fn rows_text(rows: &[(String, GovernanceStats)], key_name: &str, csv: bool) -> String {
    let mut text = String::new();
    if csv {
        let header: Vec<&str> = std::iter::once(key_name)
            .chain(columns(&GovernanceStats::default()).iter().map(|(name, _)| *name))
            .collect();
        let _ = writeln!(text, "{}", header.join(","));
        for (key, stats) in rows {
            let values: Vec<String> = std::iter::once(csv_field(key))
                .chain(
                    columns(stats)
                        .into_iter()
                        .map(|(_, value)| value.trim_end_matches('%').to_owned()),
                )
                .collect();
            let _ = writeln!(text, "{}", values.join(","));
        }
        return text;
    }
    let _ = writeln!(
        text,
        "{key_name:<22} {:>9} {:>8} {:>8} {:>9} {:>12} {:>9} {:>10} {:>8}",
        "accepted", "closed", "closure", "meetings", "participants", "escalated", "satisfied", "overdue"
    );
    for (key, stats) in rows {
        let _ = writeln!(
            text,
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
    text
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
    client: &Client,
    filter: &StatsFilter,
    group_by: GroupBy,
) -> anyhow::Result<Vec<(String, GovernanceStats)>> {
    Ok(client
        .breakdown(filter, group_by)
        .await?
        .into_iter()
        .map(|row| (row.key, row.stats))
        .collect())
}

impl StatsArgs {
    fn filter(&self) -> anyhow::Result<StatsFilter> {
        Ok(StatsFilter {
            scope: optional_code("scope", JurisdictionCode::parse, &self.scope)?,
            category: optional_code("category", CategoryCode::parse, &self.category)?,
            period_start: self.from,
            period_end: self.to,
            as_of: self.as_of,
        })
    }
}

pub async fn run(client: &Client, json: bool, arguments: StatsArgs) -> anyhow::Result<()> {
    let filter = arguments.filter()?;
    let Some(group_by) = arguments.group_by else {
        let stats = client.governance_stats(&filter).await.context("stats")?;
        let scope = if arguments.scope.is_empty() {
            "all".to_owned()
        } else {
            arguments.scope
        };
        if json {
            println!("{}", stats_json(&stats));
        } else if arguments.csv {
            print!("{}", rows_text(&[(scope, stats)], "scope", true));
        } else {
            print!("{}", figures_text(&stats));
        }
        return Ok(());
    };
    let rows = breakdown_rows(client, &filter, group_by).await.context("stats")?;
    if json {
        println!("{}", rows_json(&rows));
    } else {
        print!("{}", rows_text(&rows, &group_by.cli_name(), arguments.csv));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures() -> GovernanceStats {
        GovernanceStats {
            accepted: 4_350,
            closed: 4_294,
            closure_rate: 4_294.0 / 4_350.0,
            deliberation_meetings: 2_750,
            participants: 40_000,
            escalated: 150,
            satisfaction_rate: 0.9312,
            overdue_open: 3,
            time_to_close_p50_hours: 61.25,
            as_of_position: 24_524,
            ..GovernanceStats::default()
        }
    }

    /// Checks the text line by line (trailing blanks aside).
    fn check(text: &str, expected_lines: &[&str]) {
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        assert_eq!(lines, expected_lines, "{text}");
    }

    #[test]
    fn a_breakdown_is_a_table_for_people_and_csv_for_spreadsheets() {
        let rows = vec![
            ("runzhou.s3".to_owned(), figures()),
            ("a \"quoted\", key".to_owned(), GovernanceStats::default()),
        ];
        check(
            &rows_text(&rows, "street", false),
            &[
                "street                  accepted   closed  closure  meetings participants escalated  satisfied  overdue",
                "runzhou.s3                  4350     4294    98.7%      2750        40000       150      93.1%        3",
                "a \"quoted\", key                0        0     0.0%         0            0         0       0.0%        0",
            ],
        );
        let csv = rows_text(&rows, "street", true);
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some(
                "street,accepted,closed,closure_rate,resolved_in_grid,resolved_by_community,resolved_by_committee,escalated,committee_decisions,deliberation_meetings,participants,evaluations,satisfied,satisfaction_rate,reopened,reopen_rate,due,closed_on_time,on_time_closure_rate,time_to_close_p50_hours,time_to_close_p90_hours,overdue_open,aging_under_7_days,aging_7_to_30_days,aging_30_to_90_days,aging_over_90_days,as_of_position"
            )
        );
        assert_eq!(
            lines.next(),
            Some("runzhou.s3,4350,4294,98.7,0,0,0,150,0,2750,40000,0,0,93.1,0,0.0,0,0,0.0,61.2,0.0,3,0,0,0,0,24524")
        );
        assert_eq!(
            lines.next(),
            Some("\"a \"\"quoted\"\", key\",0,0,0.0,0,0,0,0,0,0,0,0,0,0.0,0,0.0,0,0,0.0,0.0,0.0,0,0,0,0,0,0")
        );
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn one_scope_is_one_figure_per_line_and_json_has_every_figure() {
        let text = figures_text(&figures());
        assert_eq!(text.lines().count(), 26);
        check(
            &text.lines().take(3).collect::<Vec<_>>().join("\n"),
            &[
                "                accepted  4350",
                "                  closed  4294",
                "            closure_rate  98.7%",
            ],
        );
        let json = stats_json(&figures());
        assert_eq!(json.as_object().map(serde_json::Map::len), Some(26));
        assert_eq!(
            (json["accepted"].as_u64(), json["participants"].as_u64()),
            (Some(4_350), Some(40_000))
        );
        assert_eq!(json["closure_rate"].as_f64(), Some(4_294.0 / 4_350.0));
        assert_eq!(
            rows_json(&[("runzhou.s1".to_owned(), figures())])[0]["key"],
            "runzhou.s1"
        );
    }

    #[test]
    fn scope_and_category_are_checked_as_the_server_checks_them() {
        let arguments = |scope: &str, category: &str| StatsArgs {
            scope: scope.to_owned(),
            group_by: None,
            category: category.to_owned(),
            from: None,
            to: None,
            as_of: None,
            csv: false,
        };
        let filter = arguments("runzhou.s3", "dispute")
            .filter()
            .map_err(|error| error.to_string());
        assert!(
            filter
                .as_ref()
                .is_ok_and(
                    |filter| filter.scope.as_ref().map(JurisdictionCode::as_str) == Some("runzhou.s3")
                        && filter.category.as_ref().map(CategoryCode::as_str) == Some("dispute")
                ),
            "{filter:?}"
        );
        assert!(
            arguments("", "")
                .filter()
                .is_ok_and(|filter| filter == StatsFilter::default())
        );
        for (scope, category, expected) in [
            ("Runzhou", "", "InvalidArgument: invalid scope: "),
            ("", "two words", "InvalidArgument: invalid category: "),
        ] {
            let error = arguments(scope, category)
                .filter()
                .map(|_| ())
                .map_err(|error| error.to_string());
            assert!(
                error.as_ref().is_err_and(|error| error.starts_with(expected)),
                "{error:?}"
            );
        }
    }
}
