//! `gridledger stats`: the governance figures for a scope, category, period and instant, as a table, CSV or JSON.

use std::fmt::Write as _;

use anyhow::Context;
use clap::Args;
use gridledger_api::client::Client;
use gridledger_api::local_time::{needs_time_zone, parse_instant, parse_month};
use gridledger_api::{NodeDistrict, StatsFilter, WireError};
use gridledger_domain::{CategoryCode, DistrictTimeZone, JurisdictionCode, JurisdictionLevel};
use gridledger_projections::{GovernanceStats, GroupBy};
use serde_json::{Value, json};

use crate::args::{StableName, invalid, named, optional_code};

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
    /// Start of the period on the report date, inclusive: a date YYYY-MM-DD (local
    /// midnight), a local time YYYY-MM-DDTHH:MM[:SS], or RFC 3339 with an offset or Z.
    #[arg(long)]
    from: Option<String>,
    /// End of the period, exclusive (the same forms as --from).
    #[arg(long)]
    to: Option<String>,
    /// The period as one whole local month, YYYY-MM (instead of --from and --to).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    month: Option<String>,
    /// The figures exactly as the log stood at this instant (the same forms as --from).
    #[arg(long)]
    as_of: Option<String>,
    /// The IANA time zone (Asia/Shanghai) dates, local times and months are read in.
    /// Default: the zone of the scope's district, as the server's registry states it.
    #[arg(long)]
    time_zone: Option<String>,
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
    /// The time values given, with their flags.
    fn time_values(&self) -> impl Iterator<Item = &str> {
        [&self.from, &self.to, &self.month, &self.as_of]
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// The filter, dates and months read in `zone`.
    fn filter(&self, zone: &DistrictTimeZone) -> anyhow::Result<StatsFilter> {
        let instant = |field: &'static str, value: &Option<String>| {
            value
                .as_deref()
                .map(|text| parse_instant(field, text, zone.zone()))
                .transpose()
                .map_err(invalid)
        };
        let (period_start, period_end) = match &self.month {
            Some(month) => {
                let (start, end) = parse_month("--month", month, zone.zone()).map_err(invalid)?;
                (Some(start), Some(end))
            }
            None => (instant("--from", &self.from)?, instant("--to", &self.to)?),
        };
        Ok(StatsFilter {
            scope: optional_code("scope", JurisdictionCode::parse, &self.scope)?,
            category: optional_code("category", CategoryCode::parse, &self.category)?,
            period_start,
            period_end,
            as_of: instant("--as-of", &self.as_of)?,
        })
    }

    /// The zone dates and months are read in: --time-zone, else (only when a value needs
    /// one) the zone of the scope's district as the server states it.
    async fn time_zone(&self, client: &Client) -> anyhow::Result<DistrictTimeZone> {
        if let Some(name) = &self.time_zone {
            return DistrictTimeZone::parse(name).map_err(|reason| invalid(WireError::invalid("--time-zone", reason)));
        }
        if !self.time_values().any(needs_time_zone) {
            // Every time has its offset: no zone is read.
            return Ok(DistrictTimeZone::utc());
        }
        let scope = optional_code("scope", JurisdictionCode::parse, &self.scope)?;
        let status = client.node_status().await.context("the districts' time zones")?;
        zone_of_scope(&status.districts, scope.as_ref())
    }
}

/// The zone of the district `scope` lies in, among the node's districts; for no scope, the
/// zone every district of the node shares.
fn zone_of_scope(districts: &[NodeDistrict], scope: Option<&JurisdictionCode>) -> anyhow::Result<DistrictTimeZone> {
    let advice = "give --time-zone, or times with an offset (2026-02-01T00:00:00+08:00)";
    let parse = |district: &NodeDistrict| {
        DistrictTimeZone::parse(&district.time_zone)
            .map_err(|reason| anyhow::anyhow!("the server states district {}'s time zone as {reason}", district.code))
    };
    if districts.is_empty() {
        anyhow::bail!("the server does not state its districts' time zones; {advice}");
    }
    match scope.and_then(|scope| scope.ancestor_at(JurisdictionLevel::District)) {
        Some(district) => match districts.iter().find(|known| known.code == district.as_str()) {
            Some(known) => parse(known),
            None => Err(invalid(WireError::invalid(
                "scope",
                format!("district {district} is not one of this node's"),
            ))),
        },
        None => {
            let first = &districts[0];
            match districts.iter().find(|other| other.time_zone != first.time_zone) {
                None => parse(first),
                Some(other) => anyhow::bail!(
                    "the node's districts keep different time zones ({} {}, {} {}): give a --scope within one \
                     district, or {advice}",
                    first.code,
                    first.time_zone,
                    other.code,
                    other.time_zone
                ),
            }
        }
    }
}

pub async fn run(client: &Client, json: bool, arguments: StatsArgs) -> anyhow::Result<()> {
    let zone = arguments.time_zone(client).await?;
    let filter = arguments.filter(&zone)?;
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

    fn arguments(scope: &str, category: &str) -> StatsArgs {
        StatsArgs {
            scope: scope.to_owned(),
            group_by: None,
            category: category.to_owned(),
            from: None,
            to: None,
            month: None,
            as_of: None,
            time_zone: None,
            csv: false,
        }
    }

    #[test]
    fn scope_and_category_are_checked_as_the_server_checks_them() {
        let utc = DistrictTimeZone::utc();
        let filter = arguments("runzhou.s3", "dispute")
            .filter(&utc)
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
                .filter(&utc)
                .is_ok_and(|filter| filter == StatsFilter::default())
        );
        for (scope, category, expected) in [
            ("Runzhou", "", "InvalidArgument: invalid scope: "),
            ("", "two words", "InvalidArgument: invalid category: "),
        ] {
            let error = arguments(scope, category)
                .filter(&utc)
                .map(|_| ())
                .map_err(|error| error.to_string());
            assert!(
                error.as_ref().is_err_and(|error| error.starts_with(expected)),
                "{error:?}"
            );
        }
    }

    /// Values of `--from`, `--to`, `--month` and `--as-of`.
    type TimeFlags<'text> = (
        Option<&'text str>,
        Option<&'text str>,
        Option<&'text str>,
        Option<&'text str>,
    );
    /// The period's start and end and the as-of instant, as RFC 3339 in UTC.
    type Instants<'text> = (Option<&'text str>, Option<&'text str>, Option<&'text str>);

    /// The time flags read in Shanghai: the instants, or the start of the error.
    fn check_times((from, to, month, as_of): TimeFlags<'_>, expected: Result<Instants<'_>, &str>) {
        let owned = |value: Option<&str>| value.map(str::to_owned);
        let arguments = StatsArgs {
            from: owned(from),
            to: owned(to),
            month: owned(month),
            as_of: owned(as_of),
            ..arguments("runzhou", "")
        };
        let shown = |instant: Option<gridledger_domain::Timestamp>| instant.map(|instant| instant.to_string());
        let actual = arguments
            .filter(&DistrictTimeZone::asia_shanghai())
            .map(|filter| {
                (
                    shown(filter.period_start),
                    shown(filter.period_end),
                    shown(filter.as_of),
                )
            })
            .map_err(|error| error.to_string());
        match expected {
            Ok((start, end, as_of)) => assert_eq!(
                actual,
                Ok((
                    start.map(str::to_owned),
                    end.map(str::to_owned),
                    as_of.map(str::to_owned)
                ))
            ),
            Err(prefix) => assert!(
                actual.as_ref().is_err_and(|error| error.starts_with(prefix)),
                "{actual:?} does not start with {prefix:?}"
            ),
        }
    }

    #[test]
    fn dates_and_months_are_read_in_the_district_s_time_zone() {
        check_times(
            (Some("2026-02-01"), Some("2026-03-01"), None, Some("2026-03-01T09:30")),
            Ok((
                Some("2026-01-31T16:00:00.000000Z"),
                Some("2026-02-28T16:00:00.000000Z"),
                Some("2026-03-01T01:30:00.000000Z"),
            )),
        );
        check_times(
            (None, None, Some("2026-02"), Some("2026-03-01T00:00:00Z")),
            Ok((
                Some("2026-01-31T16:00:00.000000Z"),
                Some("2026-02-28T16:00:00.000000Z"),
                Some("2026-03-01T00:00:00.000000Z"),
            )),
        );
        check_times(
            (Some("2026-02-01T07:00:00+08:00"), None, None, None),
            Ok((Some("2026-01-31T23:00:00.000000Z"), None, None)),
        );
        check_times(
            (Some("1 Feb"), None, None, None),
            Err("InvalidArgument: invalid --from: \"1 Feb\" is not a time; expected RFC 3339"),
        );
        check_times(
            (None, None, Some("2026-02-01"), None),
            Err("InvalidArgument: invalid --month: \"2026-02-01\" is not a month; expected a month YYYY-MM"),
        );
        let offsets_only = StatsArgs {
            from: Some("2026-02-01T00:00:00+08:00".to_owned()),
            as_of: Some("2026-03-01T00:00:00Z".to_owned()),
            ..arguments("", "")
        };
        assert!(!offsets_only.time_values().any(needs_time_zone));
    }

    #[test]
    fn the_zone_is_that_of_the_scope_s_district() {
        let district = |code: &str, time_zone: &str| NodeDistrict {
            code: code.to_owned(),
            time_zone: time_zone.to_owned(),
        };
        let scope = |code: &str| JurisdictionCode::parse(code).expect("a code");
        let zone = |districts: &[NodeDistrict], scope: Option<&JurisdictionCode>| {
            zone_of_scope(districts, scope)
                .map(|zone| zone.name().to_owned())
                .map_err(|error| error.to_string())
        };
        let city = [district("runzhou", "Asia/Shanghai"), district("dantu", "Asia/Shanghai")];
        assert_eq!(zone(&city, None), Ok("Asia/Shanghai".to_owned()));
        assert_eq!(
            zone(&city, Some(&scope("dantu.s2.c03"))),
            Ok("Asia/Shanghai".to_owned())
        );
        let mixed = [district("runzhou", "Asia/Shanghai"), district("lyon", "Europe/Paris")];
        assert_eq!(zone(&mixed, Some(&scope("lyon.s1"))), Ok("Europe/Paris".to_owned()));
        for (districts, scope, expected) in [
            (
                &mixed[..],
                None,
                "the node's districts keep different time zones (runzhou Asia/Shanghai, lyon Europe/Paris)",
            ),
            (
                &mixed[..],
                Some(scope("paris")),
                "InvalidArgument: invalid scope: district paris is not one of this node's",
            ),
            (
                &[][..],
                None,
                "the server does not state its districts' time zones; give --time-zone",
            ),
        ] {
            let error = zone(districts, scope.as_ref());
            assert!(
                error.as_ref().is_err_and(|error| error.starts_with(expected)),
                "{error:?}"
            );
        }
    }
}
