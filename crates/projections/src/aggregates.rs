//! Per (scope, category, report month) aggregates, so a query of any scope sums a few cells instead of scanning every issue.
//!
//! Each issue adds its time-independent figures to eight cells: its district, street,
//! community and grid, each for its category and for all categories, in the month it was
//! reported. A query sums the cells of its scope and category over the whole months of its
//! period, scans the issues of the at most two months its period cuts, and takes the
//! time-dependent figures from the open backlog (aging, overdue, due) and from the cells'
//! closed issues sorted by deadline (due, closed on time). Meetings likewise, by the month
//! of their first conclusion. Months are local: those of the district's time zone
//! ([`LocalMonths`]), so an issue reported at 07:00 on 1 February in Shanghai (23:00 UTC
//! on 31 January) is in February's cells.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use gridledger_domain::{
    GridCode, IssueStatus, JurisdictionCode, JurisdictionLevel, ResolutionLevel, Timestamp, local_month_start,
    local_year_month,
};
use jiff::tz::TimeZone;

use crate::error::ProjectionError;
use crate::facts::{IssueFacts, MeetingFacts};
use crate::histogram::DurationHistogram;

/// The category key of the cells that hold every category.
pub(crate) const ALL_CATEGORIES: u32 = u32::MAX;

/// The time-independent figures of the accepted issues of one cell.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct IssueCell {
    pub(crate) accepted: u64,
    pub(crate) closed: u64,
    pub(crate) resolved_in_grid: u64,
    pub(crate) resolved_by_community: u64,
    pub(crate) resolved_by_committee: u64,
    pub(crate) escalated: u64,
    pub(crate) committee_decisions: u64,
    pub(crate) evaluations: u64,
    pub(crate) satisfied: u64,
    pub(crate) reopened: u64,
    pub(crate) time_to_close: DurationHistogram,
    /// due_at of the closed issues, sorted: how many are "due" depends on the instant asked.
    pub(crate) closed_due_at: Vec<i64>,
    /// due_at of the closed issues that closed on time, sorted.
    pub(crate) closed_on_time_due_at: Vec<i64>,
}

/// The meetings of one cell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MeetingCell {
    pub(crate) meetings: u64,
    pub(crate) participants: u64,
}

/// A cell key: scope node and category (or [`ALL_CATEGORIES`]).
pub(crate) type CellKey = (u32, u32);

#[derive(Debug, Clone)]
pub(crate) struct Aggregates {
    /// The calendar the month keys below are in.
    pub(crate) months: LocalMonths,
    /// Every scope (district, street, community, grid) seen, as a node id.
    pub(crate) node_ids: HashMap<JurisdictionCode, u32>,
    pub(crate) district_nodes: Vec<u32>,
    /// Per grid ordinal: the node ids of its district, street, community and grid.
    grid_nodes: Vec<[u32; 4]>,
    pub(crate) issue_cells: HashMap<CellKey, BTreeMap<i64, IssueCell>>,
    pub(crate) meeting_cells: HashMap<CellKey, BTreeMap<i64, MeetingCell>>,
    meeting_keys: HashMap<String, HashSet<CellKey>>,
    /// Ordinals of accepted issues neither RESOLVED nor WITHDRAWN.
    pub(crate) open_issues: BTreeSet<u32>,
    pub(crate) issues_by_month: HashMap<i64, Vec<u32>>,
    pub(crate) meetings_by_month: HashMap<i64, Vec<String>>,
    /// While loading in bulk, deadlines are appended and sorted once at the end.
    bulk_loading: bool,
}

/// The months of one time zone, as indexes: months since 0000-01, `year * 12 + month - 1`
/// of the local calendar.
#[derive(Debug, Clone)]
pub(crate) struct LocalMonths {
    zone: TimeZone,
}

impl LocalMonths {
    pub(crate) fn new(zone: TimeZone) -> Self {
        LocalMonths { zone }
    }

    pub(crate) fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// The local month an instant falls in.
    pub(crate) fn month_of(&self, micros: i64) -> i64 {
        let (year, month) = local_year_month(Timestamp::from_unix_micros(micros), &self.zone);
        year * 12 + month - 1
    }

    /// The first microsecond of a local month (local midnight on its first day), if the
    /// month lies within the years -9999..=9999.
    pub(crate) fn month_start_micros(&self, month_index: i64) -> Option<i64> {
        let (year, month) = (month_index.div_euclid(12), month_index.rem_euclid(12) + 1);
        local_month_start(year, month, &self.zone).map(Timestamp::as_unix_micros)
    }

    /// `YYYY-MM` of the local month an instant falls in.
    pub(crate) fn month_key(&self, micros: i64) -> String {
        let (year, month) = local_year_month(Timestamp::from_unix_micros(micros), &self.zone);
        format!("{year:04}-{month:02}")
    }

    /// `YYYY` of the local year an instant falls in.
    pub(crate) fn year_key(&self, micros: i64) -> String {
        format!(
            "{:04}",
            local_year_month(Timestamp::from_unix_micros(micros), &self.zone).0
        )
    }
}

/// Inserts (`sign` 1) or removes (`sign` -1) one `value` in a sorted vector (or, in bulk,
/// appends it for a sort at the end).
fn add_to_sorted(values: &mut Vec<i64>, value: i64, sign: i64, bulk_loading: bool) {
    if bulk_loading && sign > 0 {
        values.push(value);
        return;
    }
    let index = values.partition_point(|existing| *existing < value);
    if sign > 0 {
        values.insert(index, value);
    } else if values.get(index) == Some(&value) {
        values.remove(index);
    }
}

fn add_signed(counter: &mut u64, sign: i64) {
    *counter = counter.saturating_add_signed(sign);
}

impl Aggregates {
    /// Empty aggregates whose months are those of `months`.
    pub(crate) fn new(months: LocalMonths) -> Self {
        Aggregates {
            months,
            node_ids: HashMap::new(),
            district_nodes: Vec::new(),
            grid_nodes: Vec::new(),
            issue_cells: HashMap::new(),
            meeting_cells: HashMap::new(),
            meeting_keys: HashMap::new(),
            open_issues: BTreeSet::new(),
            issues_by_month: HashMap::new(),
            meetings_by_month: HashMap::new(),
            bulk_loading: false,
        }
    }

    fn node(&mut self, code: &JurisdictionCode) -> u32 {
        if let Some(node) = self.node_ids.get(code) {
            return *node;
        }
        let node = self.node_ids.len() as u32;
        self.node_ids.insert(code.clone(), node);
        if code.level() == JurisdictionLevel::District {
            self.district_nodes.push(node);
        }
        node
    }

    /// Registers the grid with ordinal `grid_ordinal` (in ordinal order).
    pub(crate) fn register_grid(&mut self, grid_ordinal: u32, grid: &GridCode) {
        if (grid_ordinal as usize) < self.grid_nodes.len() {
            return;
        }
        let community = grid.community();
        let street = community.street();
        let nodes = [
            self.node(street.district().as_jurisdiction_code()),
            self.node(street.as_jurisdiction_code()),
            self.node(community.as_jurisdiction_code()),
            self.node(grid.as_jurisdiction_code()),
        ];
        self.grid_nodes.push(nodes);
    }

    /// The eight cells an issue adds to; an error if its grid was never registered (the
    /// figures would otherwise land on some other jurisdiction).
    fn keys_of(&self, facts: &IssueFacts) -> Result<Vec<CellKey>, ProjectionError> {
        let nodes = self
            .grid_nodes
            .get(facts.grid as usize)
            .copied()
            .ok_or(ProjectionError::UnregisteredGrid {
                grid_ordinal: facts.grid,
            })?;
        let category = facts.category;
        Ok(nodes
            .into_iter()
            .flat_map(|node| [(node, category), (node, ALL_CATEGORIES)])
            .collect())
    }

    /// Adds (`sign` 1) or takes away (`sign` -1) an issue's time-independent figures.
    /// Withdrawn issues are not accepted and add nothing.
    pub(crate) fn account_issue(&mut self, facts: &IssueFacts, sign: i64) -> Result<(), ProjectionError> {
        if facts.status == IssueStatus::Withdrawn {
            return Ok(());
        }
        let month = self.months.month_of(facts.reported_at);
        let closed = facts.status == IssueStatus::Resolved;
        let bulk_loading = self.bulk_loading;
        for key in self.keys_of(facts)? {
            let cell = self.issue_cells.entry(key).or_default().entry(month).or_default();
            add_signed(&mut cell.accepted, sign);
            add_signed(&mut cell.escalated, sign * i64::from(facts.ever_escalated));
            add_signed(
                &mut cell.committee_decisions,
                sign * i64::from(facts.committee_decisions),
            );
            add_signed(&mut cell.evaluations, sign * i64::from(facts.evaluations));
            add_signed(&mut cell.satisfied, sign * i64::from(facts.satisfied_evaluations));
            add_signed(&mut cell.reopened, sign * i64::from(facts.ever_reopened));
            if !closed {
                continue;
            }
            add_signed(&mut cell.closed, sign);
            match facts.resolution_level {
                Some(ResolutionLevel::Grid) => add_signed(&mut cell.resolved_in_grid, sign),
                Some(ResolutionLevel::Community) => add_signed(&mut cell.resolved_by_community, sign),
                Some(ResolutionLevel::Committee) => add_signed(&mut cell.resolved_by_committee, sign),
                None => {}
            }
            if let Some(bucket) = facts.time_to_close_bucket {
                cell.time_to_close.add_to_bucket(bucket, sign);
            }
            add_to_sorted(&mut cell.closed_due_at, facts.due_at, sign, bulk_loading);
            if facts
                .last_resolved_at
                .is_some_and(|resolved_at| resolved_at <= facts.due_at)
            {
                add_to_sorted(&mut cell.closed_on_time_due_at, facts.due_at, sign, bulk_loading);
            }
        }
        Ok(())
    }

    /// Starts a bulk load: additions only, sorted once by [`Aggregates::finish_bulk_load`].
    pub(crate) fn start_bulk_load(&mut self) {
        self.bulk_loading = true;
    }

    pub(crate) fn finish_bulk_load(&mut self) {
        for months in self.issue_cells.values_mut() {
            for cell in months.values_mut() {
                cell.closed_due_at.sort_unstable();
                cell.closed_on_time_due_at.sort_unstable();
            }
        }
        self.bulk_loading = false;
    }

    /// Keeps the open backlog in step with an issue's status.
    pub(crate) fn track_open(&mut self, ordinal: u32, facts: &IssueFacts) {
        if facts.status.is_open() {
            self.open_issues.insert(ordinal);
        } else {
            self.open_issues.remove(&ordinal);
        }
    }

    pub(crate) fn index_report(&mut self, ordinal: u32, facts: &IssueFacts) {
        self.issues_by_month
            .entry(self.months.month_of(facts.reported_at))
            .or_default()
            .push(ordinal);
    }

    /// Counts a meeting once in every cell one of its issues touches (keys only grow).
    pub(crate) fn account_meeting(
        &mut self,
        meeting_id: &str,
        meeting: &MeetingFacts,
        issues: &[IssueFacts],
    ) -> Result<(), ProjectionError> {
        let month = self.months.month_of(meeting.concluded_at);
        if !self.meeting_keys.contains_key(meeting_id) {
            self.meetings_by_month
                .entry(month)
                .or_default()
                .push(meeting_id.to_owned());
        }
        let mut wanted: HashSet<CellKey> = HashSet::new();
        for facts in meeting
            .issues
            .iter()
            .filter_map(|ordinal| issues.get(*ordinal as usize))
        {
            wanted.extend(self.keys_of(facts)?);
        }
        let known = self.meeting_keys.entry(meeting_id.to_owned()).or_default();
        let new_keys: Vec<CellKey> = wanted.difference(known).copied().collect();
        known.extend(new_keys.iter().copied());
        for key in new_keys {
            let cell = self.meeting_cells.entry(key).or_default().entry(month).or_default();
            cell.meetings += 1;
            cell.participants += u64::from(meeting.participants);
        }
        Ok(())
    }
}
