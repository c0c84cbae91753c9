//! The governance figures (docs/metrics.md#definitions), computed from the projection for any scope, category, period and instant.

use std::collections::{BTreeMap, HashSet};

use gridledger_domain::{CategoryCode, IssueStatus, JurisdictionCode, ResolutionLevel, Timestamp};
use serde::Serialize;

use crate::aggregates::{ALL_CATEGORIES, IssueCell, LocalMonths};
use crate::facts::IssueFacts;
use crate::histogram::{BUCKET_COUNT, DurationHistogram};
use crate::projection::GovernanceProjection;

const MICROS_PER_HOUR: f64 = 3_600_000_000.0;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Which figures: scope, category, period (on the report's business time, `[start, end)`)
/// and the instant the time-dependent figures are taken at (aging, overdue, due).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsQuery {
    /// A district, street, community or grid; `None` for everything.
    pub scope: Option<JurisdictionCode>,
    pub category: Option<CategoryCode>,
    pub period_start: Option<Timestamp>,
    pub period_end: Option<Timestamp>,
    /// The as-of instant (or now).
    pub at: Timestamp,
}

/// How a breakdown groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// The district (one row per district: on a stats node following several districts).
    District,
    Street,
    Community,
    Grid,
    Category,
    /// `YYYY-MM` of the report (issues) or of the conclusion (meetings), in the district's
    /// time zone.
    Month,
    /// `YYYY` likewise.
    Year,
}

impl GroupBy {
    /// Every grouping, in the order above.
    pub const ALL: &'static [GroupBy] = &[
        GroupBy::District,
        GroupBy::Street,
        GroupBy::Community,
        GroupBy::Grid,
        GroupBy::Category,
        GroupBy::Month,
        GroupBy::Year,
    ];

    /// The grouping's name (`street`, `month`, ...), as the CLI and CSV headers spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            GroupBy::District => "district",
            GroupBy::Street => "street",
            GroupBy::Community => "community",
            GroupBy::Grid => "grid",
            GroupBy::Category => "category",
            GroupBy::Month => "month",
            GroupBy::Year => "year",
        }
    }

    /// The grouping named `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|group_by| group_by.as_str() == name)
    }
}

/// Every figure defined in docs/metrics.md#definitions.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct GovernanceStats {
    pub accepted: u64,
    pub closed: u64,
    pub closure_rate: f64,
    pub resolved_in_grid: u64,
    pub resolved_by_community: u64,
    pub resolved_by_committee: u64,
    pub escalated: u64,
    pub committee_decisions: u64,
    pub deliberation_meetings: u64,
    pub participants: u64,
    pub evaluations: u64,
    pub satisfied: u64,
    pub satisfaction_rate: f64,
    pub reopened: u64,
    pub reopen_rate: f64,
    pub due: u64,
    pub closed_on_time: u64,
    pub on_time_closure_rate: f64,
    pub time_to_close_p50_hours: f64,
    pub time_to_close_p90_hours: f64,
    pub overdue_open: u64,
    pub aging_under_7_days: u64,
    pub aging_7_to_30_days: u64,
    pub aging_30_to_90_days: u64,
    pub aging_over_90_days: u64,
    /// The log position the figures reflect.
    pub as_of_position: u64,
}

/// The running sums behind one set of figures, before the rates and percentiles are
/// taken: what can be added up across districts ([`PartialStats::merge`]) and then
/// finished into [`GovernanceStats`].
#[derive(Debug, Clone)]
pub struct PartialStats {
    stats: GovernanceStats,
    /// Dense counts per histogram bucket of time to close.
    time_to_close: Box<[u64; BUCKET_COUNT]>,
}

impl Default for PartialStats {
    fn default() -> Self {
        PartialStats {
            stats: GovernanceStats::default(),
            time_to_close: Box::new([0; BUCKET_COUNT]),
        }
    }
}

fn rate(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

impl PartialStats {
    /// Adds one accepted issue (reported in the period and scope, not withdrawn).
    fn add_issue(&mut self, facts: &IssueFacts, at: i64) {
        let stats = &mut self.stats;
        stats.accepted += 1;
        let closed = facts.status == IssueStatus::Resolved;
        if closed {
            stats.closed += 1;
            match facts.resolution_level {
                Some(ResolutionLevel::Grid) => stats.resolved_in_grid += 1,
                Some(ResolutionLevel::Community) => stats.resolved_by_community += 1,
                Some(ResolutionLevel::Committee) => stats.resolved_by_committee += 1,
                None => {}
            }
            if let Some(bucket) = facts.time_to_close_bucket {
                self.time_to_close[usize::from(bucket).min(BUCKET_COUNT - 1)] += 1;
            }
        }
        stats.escalated += u64::from(facts.ever_escalated);
        stats.committee_decisions += u64::from(facts.committee_decisions);
        stats.evaluations += u64::from(facts.evaluations);
        stats.satisfied += u64::from(facts.satisfied_evaluations);
        stats.reopened += u64::from(facts.ever_reopened);
        if facts.is_open() {
            self.add_open_issue_time_figures(facts, at);
        } else if facts.due_at <= at {
            stats.due += 1;
            if closed
                && facts
                    .last_resolved_at
                    .is_some_and(|resolved_at| resolved_at <= facts.due_at)
            {
                stats.closed_on_time += 1;
            }
        }
    }

    /// Adds a cell's time-independent figures, and its closed issues' due and on-time
    /// counts at `at`.
    fn add_cell(&mut self, cell: &IssueCell, at: i64) {
        let stats = &mut self.stats;
        stats.accepted += cell.accepted;
        stats.closed += cell.closed;
        stats.resolved_in_grid += cell.resolved_in_grid;
        stats.resolved_by_community += cell.resolved_by_community;
        stats.resolved_by_committee += cell.resolved_by_committee;
        stats.escalated += cell.escalated;
        stats.committee_decisions += cell.committee_decisions;
        stats.evaluations += cell.evaluations;
        stats.satisfied += cell.satisfied;
        stats.reopened += cell.reopened;
        stats.due += cell.closed_due_at.partition_point(|due_at| *due_at <= at) as u64;
        stats.closed_on_time += cell.closed_on_time_due_at.partition_point(|due_at| *due_at <= at) as u64;
        cell.time_to_close.add_into_dense(&mut self.time_to_close);
    }

    /// Adds the time-dependent figures of an open issue (its other figures are in a cell).
    fn add_open_issue_time_figures(&mut self, facts: &IssueFacts, at: i64) {
        let stats = &mut self.stats;
        if facts.due_at <= at {
            stats.due += 1;
        }
        if facts.due_at < at {
            stats.overdue_open += 1;
        }
        let age = at - facts.reported_at;
        if age < 7 * MICROS_PER_DAY {
            stats.aging_under_7_days += 1;
        } else if age < 30 * MICROS_PER_DAY {
            stats.aging_7_to_30_days += 1;
        } else if age < 90 * MICROS_PER_DAY {
            stats.aging_30_to_90_days += 1;
        } else {
            stats.aging_over_90_days += 1;
        }
    }

    fn add_meeting(&mut self, participants: u32) {
        self.stats.deliberation_meetings += 1;
        self.stats.participants += u64::from(participants);
    }

    /// Adds `other`'s sums to these (the figures of two disjoint sets of issues and
    /// meetings, e.g. two districts).
    pub fn merge(&mut self, other: &PartialStats) {
        let sums = &mut self.stats;
        let more = &other.stats;
        for (sum, add) in [
            (&mut sums.accepted, more.accepted),
            (&mut sums.closed, more.closed),
            (&mut sums.resolved_in_grid, more.resolved_in_grid),
            (&mut sums.resolved_by_community, more.resolved_by_community),
            (&mut sums.resolved_by_committee, more.resolved_by_committee),
            (&mut sums.escalated, more.escalated),
            (&mut sums.committee_decisions, more.committee_decisions),
            (&mut sums.deliberation_meetings, more.deliberation_meetings),
            (&mut sums.participants, more.participants),
            (&mut sums.evaluations, more.evaluations),
            (&mut sums.satisfied, more.satisfied),
            (&mut sums.reopened, more.reopened),
            (&mut sums.due, more.due),
            (&mut sums.closed_on_time, more.closed_on_time),
            (&mut sums.overdue_open, more.overdue_open),
            (&mut sums.aging_under_7_days, more.aging_under_7_days),
            (&mut sums.aging_7_to_30_days, more.aging_7_to_30_days),
            (&mut sums.aging_30_to_90_days, more.aging_30_to_90_days),
            (&mut sums.aging_over_90_days, more.aging_over_90_days),
        ] {
            *sum += add;
        }
        for (bucket, add) in self.time_to_close.iter_mut().zip(other.time_to_close.iter()) {
            *bucket += add;
        }
    }

    /// The figures: rates and percentiles taken from the sums; `position` is the log
    /// position they reflect (across districts: the number of events folded).
    pub fn finish(mut self, position: u64) -> GovernanceStats {
        let stats = &mut self.stats;
        stats.closure_rate = rate(stats.closed, stats.accepted);
        stats.satisfaction_rate = rate(stats.satisfied, stats.evaluations);
        stats.reopen_rate = rate(stats.reopened, stats.closed);
        stats.on_time_closure_rate = rate(stats.closed_on_time, stats.due);
        let time_to_close = DurationHistogram::from_dense(&self.time_to_close);
        stats.time_to_close_p50_hours = time_to_close.quantile_seconds(0.5) * 1e6 / MICROS_PER_HOUR;
        stats.time_to_close_p90_hours = time_to_close.quantile_seconds(0.9) * 1e6 / MICROS_PER_HOUR;
        stats.as_of_position = position;
        self.stats
    }
}

impl GovernanceProjection {
    /// Whether each grid of the table is inside the query's scope.
    fn grids_in_scope(&self, scope: Option<&JurisdictionCode>) -> Vec<bool> {
        self.grids
            .iter()
            .map(|grid| scope.is_none_or(|scope| grid.as_jurisdiction_code().is_within(scope)))
            .collect()
    }

    /// Whether an issue is in the query's scope and category (the period aside).
    fn in_scope_and_category(
        &self,
        facts: &IssueFacts,
        grids_in_scope: &[bool],
        category: Option<Option<u32>>,
    ) -> bool {
        grids_in_scope.get(facts.grid as usize).copied().unwrap_or(false)
            && match category {
                None => true,
                Some(wanted) => wanted == Some(facts.category),
            }
    }

    /// `None`: no category filter; `Some(None)`: a category no issue has.
    fn category_filter(&self, category: Option<&CategoryCode>) -> Option<Option<u32>> {
        category.map(|category| {
            self.categories
                .iter()
                .position(|known| known == category)
                .map(|index| index as u32)
        })
    }

    fn in_period(micros: i64, query: &StatsQuery) -> bool {
        query.period_start.is_none_or(|start| micros >= start.as_unix_micros())
            && query.period_end.is_none_or(|end| micros < end.as_unix_micros())
    }

    /// The key of an issue in a breakdown.
    fn issue_group_key(&self, facts: &IssueFacts, group_by: GroupBy) -> String {
        let grid = &self.grids[facts.grid as usize];
        match group_by {
            GroupBy::District => grid.community().street().district().as_str().to_owned(),
            GroupBy::Street => grid.community().street().as_str().to_owned(),
            GroupBy::Community => grid.community().as_str().to_owned(),
            GroupBy::Grid => grid.as_str().to_owned(),
            GroupBy::Category => self.categories[facts.category as usize].as_str().to_owned(),
            GroupBy::Month => self.aggregates.months.month_key(facts.reported_at),
            GroupBy::Year => self.aggregates.months.year_key(facts.reported_at),
        }
    }

    /// The sums behind the figures of `query` per group, in key order (groups without any
    /// issue or meeting are left out).
    pub fn partial_breakdown(&self, query: &StatsQuery, group_by: GroupBy) -> BTreeMap<String, PartialStats> {
        let grids_in_scope = self.grids_in_scope(query.scope.as_ref());
        let category = self.category_filter(query.category.as_ref());
        let at = query.at.as_unix_micros();
        let mut groups: BTreeMap<String, PartialStats> = BTreeMap::new();
        for facts in &self.issues {
            if facts.status == IssueStatus::Withdrawn
                || !self.in_scope_and_category(facts, &grids_in_scope, category)
                || !Self::in_period(facts.reported_at, query)
            {
                continue;
            }
            groups
                .entry(self.issue_group_key(facts, group_by))
                .or_default()
                .add_issue(facts, at);
        }
        for meeting in self.meetings.values() {
            if !Self::in_period(meeting.concluded_at, query) {
                continue;
            }
            let mut keys: HashSet<String> = HashSet::new();
            for &ordinal in &meeting.issues {
                let Some(facts) = self.issues.get(ordinal as usize) else {
                    continue;
                };
                if !self.in_scope_and_category(facts, &grids_in_scope, category) {
                    continue;
                }
                keys.insert(match group_by {
                    GroupBy::Month => self.aggregates.months.month_key(meeting.concluded_at),
                    GroupBy::Year => self.aggregates.months.year_key(meeting.concluded_at),
                    group_by => self.issue_group_key(facts, group_by),
                });
            }
            for key in keys {
                groups.entry(key).or_default().add_meeting(meeting.participants);
            }
        }
        groups
    }

    /// Every figure (docs/metrics.md#definitions) for `query`, from the aggregates: the cells of the scope and
    /// category over the whole months of the period, the issues and meetings of the months
    /// the period cuts, and the open backlog.
    pub fn stats(&self, query: &StatsQuery) -> GovernanceStats {
        self.partial_stats(query).finish(self.position)
    }

    /// The sums behind [`GovernanceProjection::stats`], to be merged with other districts'.
    pub fn partial_stats(&self, query: &StatsQuery) -> PartialStats {
        let mut accumulator = PartialStats::default();
        let nodes: Vec<u32> = match &query.scope {
            None => self.aggregates.district_nodes.clone(),
            Some(scope) => self.aggregates.node_ids.get(scope).copied().into_iter().collect(),
        };
        let category = self.category_filter(query.category.as_ref());
        let category_key = match category {
            None => ALL_CATEGORIES,
            Some(Some(ordinal)) => ordinal,
            Some(None) => return accumulator,
        };
        let months = &self.aggregates.months;
        let Some(plan) = MonthPlan::of(query, months) else {
            return accumulator;
        };
        let at = query.at.as_unix_micros();
        for node in &nodes {
            if let Some(months) = self.aggregates.issue_cells.get(&(*node, category_key)) {
                for cell in plan.full_months(months) {
                    accumulator.add_cell(cell, at);
                }
            }
            if let Some(months) = self.aggregates.meeting_cells.get(&(*node, category_key)) {
                for cell in plan.full_months(months) {
                    accumulator.stats.deliberation_meetings += cell.meetings;
                    accumulator.stats.participants += cell.participants;
                }
            }
        }
        let grids_in_scope = self.grids_in_scope(query.scope.as_ref());
        let in_scope = |facts: &IssueFacts| self.in_scope_and_category(facts, &grids_in_scope, category);
        // The open backlog's time-dependent figures, for issues of the whole months.
        for ordinal in &self.aggregates.open_issues {
            if let Some(facts) = self.issues.get(*ordinal as usize)
                && in_scope(facts)
                && plan.is_full_month(months.month_of(facts.reported_at))
            {
                accumulator.add_open_issue_time_figures(facts, at);
            }
        }
        // The months the period cuts: issue by issue, meeting by meeting.
        for month in &plan.cut_months {
            for ordinal in self.aggregates.issues_by_month.get(month).into_iter().flatten() {
                if let Some(facts) = self.issues.get(*ordinal as usize)
                    && facts.status != IssueStatus::Withdrawn
                    && in_scope(facts)
                    && Self::in_period(facts.reported_at, query)
                {
                    accumulator.add_issue(facts, at);
                }
            }
            for meeting_id in self.aggregates.meetings_by_month.get(month).into_iter().flatten() {
                let Some(meeting) = self.meetings.get(meeting_id) else {
                    continue;
                };
                let touches_scope = meeting
                    .issues
                    .iter()
                    .any(|ordinal| self.issues.get(*ordinal as usize).is_some_and(&in_scope));
                if touches_scope && Self::in_period(meeting.concluded_at, query) {
                    accumulator.add_meeting(meeting.participants);
                }
            }
        }
        accumulator
    }

    /// The figures of `query` per group, in key order (groups without any issue or meeting
    /// are left out).
    pub fn breakdown(&self, query: &StatsQuery, group_by: GroupBy) -> Vec<(String, GovernanceStats)> {
        self.partial_breakdown(query, group_by)
            .into_iter()
            .map(|(key, partial)| (key, partial.finish(self.position)))
            .collect()
    }
}

/// Which report months (local, of the projection's time zone) a period covers whole (summed
/// from cells) and which it cuts (scanned issue by issue). A period from local midnight on
/// the first of a month to local midnight on the first of another cuts none.
struct MonthPlan {
    first_full: Option<i64>,
    last_full: Option<i64>,
    cut_months: Vec<i64>,
}

impl MonthPlan {
    /// `None` for an empty period.
    fn of(query: &StatsQuery, months: &LocalMonths) -> Option<MonthPlan> {
        let start = query.period_start.map(Timestamp::as_unix_micros);
        let end = query.period_end.map(Timestamp::as_unix_micros);
        if let (Some(start), Some(end)) = (start, end)
            && end <= start
        {
            return None;
        }
        let mut cut_months = Vec::new();
        let first_full = start.map(|start| {
            let month = months.month_of(start);
            if months.month_start_micros(month) == Some(start) {
                month
            } else {
                cut_months.push(month);
                month + 1
            }
        });
        let last_full = end.map(|end| {
            let month = months.month_of(end);
            if months.month_start_micros(month) != Some(end) && !cut_months.contains(&month) {
                cut_months.push(month);
            }
            month - 1
        });
        Some(MonthPlan {
            first_full,
            last_full,
            cut_months,
        })
    }

    fn is_full_month(&self, month: i64) -> bool {
        self.first_full.is_none_or(|first| month >= first) && self.last_full.is_none_or(|last| month <= last)
    }

    /// The cells of the whole months.
    fn full_months<'cells, T>(&self, months: &'cells BTreeMap<i64, T>) -> impl Iterator<Item = &'cells T> {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let bounds = match (self.first_full, self.last_full) {
            // No whole month (BTreeMap::range must not get a start past its end).
            (Some(first), Some(last)) if first > last => (Included(0), Excluded(0)),
            (first, last) => (first.map_or(Unbounded, Included), last.map_or(Unbounded, Included)),
        };
        months.range(bounds).map(|(_, cell)| cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai() -> LocalMonths {
        LocalMonths::new(
            jiff::tz::TimeZoneDatabase::bundled()
                .get("Asia/Shanghai")
                .expect("bundled"),
        )
    }

    /// The plan of `[start, end)` (RFC 3339) in `months`: (first whole month, last whole
    /// month, cut months), months as `YYYY-MM`.
    fn check(months: &LocalMonths, start: &str, end: &str, expected: (&str, &str, &[&str])) {
        let instant = |text: &str| {
            let instant: jiff::Timestamp = text.parse().expect("RFC 3339");
            Timestamp::from_unix_micros(instant.as_microsecond())
        };
        let query = StatsQuery {
            scope: None,
            category: None,
            period_start: Some(instant(start)),
            period_end: Some(instant(end)),
            at: instant(end),
        };
        let plan = MonthPlan::of(&query, months).expect("a non-empty period");
        let name = |index: i64| format!("{:04}-{:02}", index.div_euclid(12), index.rem_euclid(12) + 1);
        let actual = (
            plan.first_full.map(name).unwrap_or_default(),
            plan.last_full.map(name).unwrap_or_default(),
            plan.cut_months.iter().copied().map(name).collect::<Vec<_>>(),
        );
        assert_eq!(
            (actual.0.as_str(), actual.1.as_str(), actual.2.as_slice()),
            (
                expected.0,
                expected.1,
                expected
                    .2
                    .iter()
                    .map(|month| month.to_string())
                    .collect::<Vec<_>>()
                    .as_slice()
            ),
            "[{start}, {end})"
        );
    }

    #[test]
    fn periods_of_whole_local_months_use_the_cells_alone() {
        let months = shanghai();
        // Local midnight to local midnight: whole months, nothing scanned.
        check(
            &months,
            "2026-02-01T00:00:00+08:00",
            "2026-03-01T00:00:00+08:00",
            ("2026-02", "2026-02", &[]),
        );
        check(
            &months,
            "2026-01-01T00:00:00+08:00",
            "2026-04-01T00:00:00+08:00",
            ("2026-01", "2026-03", &[]),
        );
        // UTC midnight is 08:00 in Shanghai: both ends cut a month.
        check(
            &months,
            "2026-02-01T00:00:00Z",
            "2026-03-01T00:00:00Z",
            ("2026-03", "2026-02", &["2026-02", "2026-03"]),
        );
        // In a UTC calendar the same UTC period is whole.
        let utc = LocalMonths::new(jiff::tz::TimeZone::UTC);
        check(
            &utc,
            "2026-02-01T00:00:00Z",
            "2026-03-01T00:00:00Z",
            ("2026-02", "2026-02", &[]),
        );
        // 07:00 on 1 February in Shanghai is 23:00 UTC on 31 January: February is cut.
        check(
            &months,
            "2026-01-31T23:00:00Z",
            "2026-04-01T00:00:00+08:00",
            ("2026-03", "2026-03", &["2026-02"]),
        );
    }
}
