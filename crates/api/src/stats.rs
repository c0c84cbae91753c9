//! Statistics and list filters between the wire and the projections: the figures
//! ([`stats_to_proto`] / [`stats_from_proto`]), the filters both StatsService RPCs share
//! ([`StatsFilter`], checked against the registry once), breakdown grouping, and the
//! `ListIssues` filter.

use gridledger_codec::{
    WireError, issue_status_filter_from_proto, issue_status_to_proto, optional_timestamp, timestamp_to_proto,
};
use gridledger_domain::{CategoryCode, DomainError, JurisdictionCode, Registry, RegistryError, Timestamp};
use gridledger_projections::{GovernanceStats, GroupBy, IssueListFilter, StatsQuery};

use crate::proto;

/// The figures on the wire.
pub fn stats_to_proto(stats: &GovernanceStats) -> proto::GovernanceStats {
    proto::GovernanceStats {
        accepted: stats.accepted,
        closed: stats.closed,
        closure_rate: stats.closure_rate,
        resolved_in_grid: stats.resolved_in_grid,
        resolved_by_community: stats.resolved_by_community,
        resolved_by_committee: stats.resolved_by_committee,
        escalated: stats.escalated,
        committee_decisions: stats.committee_decisions,
        deliberation_meetings: stats.deliberation_meetings,
        participants: stats.participants,
        evaluations: stats.evaluations,
        satisfied: stats.satisfied,
        satisfaction_rate: stats.satisfaction_rate,
        reopened: stats.reopened,
        reopen_rate: stats.reopen_rate,
        due: stats.due,
        closed_on_time: stats.closed_on_time,
        on_time_closure_rate: stats.on_time_closure_rate,
        time_to_close_p50_hours: stats.time_to_close_p50_hours,
        time_to_close_p90_hours: stats.time_to_close_p90_hours,
        overdue_open: stats.overdue_open,
        aging_under_7_days: stats.aging_under_7_days,
        aging_7_to_30_days: stats.aging_7_to_30_days,
        aging_30_to_90_days: stats.aging_30_to_90_days,
        aging_over_90_days: stats.aging_over_90_days,
        as_of_position: stats.as_of_position,
    }
}

/// The figures a server sent.
pub fn stats_from_proto(wire: &proto::GovernanceStats) -> GovernanceStats {
    GovernanceStats {
        accepted: wire.accepted,
        closed: wire.closed,
        closure_rate: wire.closure_rate,
        resolved_in_grid: wire.resolved_in_grid,
        resolved_by_community: wire.resolved_by_community,
        resolved_by_committee: wire.resolved_by_committee,
        escalated: wire.escalated,
        committee_decisions: wire.committee_decisions,
        deliberation_meetings: wire.deliberation_meetings,
        participants: wire.participants,
        evaluations: wire.evaluations,
        satisfied: wire.satisfied,
        satisfaction_rate: wire.satisfaction_rate,
        reopened: wire.reopened,
        reopen_rate: wire.reopen_rate,
        due: wire.due,
        closed_on_time: wire.closed_on_time,
        on_time_closure_rate: wire.on_time_closure_rate,
        time_to_close_p50_hours: wire.time_to_close_p50_hours,
        time_to_close_p90_hours: wire.time_to_close_p90_hours,
        overdue_open: wire.overdue_open,
        aging_under_7_days: wire.aging_under_7_days,
        aging_7_to_30_days: wire.aging_7_to_30_days,
        aging_30_to_90_days: wire.aging_30_to_90_days,
        aging_over_90_days: wire.aging_over_90_days,
        as_of_position: wire.as_of_position,
    }
}

/// A jurisdiction filter: empty means everything; otherwise a registered code.
pub fn scope_from_proto(
    field: &'static str,
    value: &str,
    registry: &Registry,
) -> Result<Option<JurisdictionCode>, WireError> {
    if value.is_empty() {
        return Ok(None);
    }
    let code = JurisdictionCode::parse(value).map_err(|error| WireError::invalid(field, error.to_string()))?;
    if !registry.contains_jurisdiction(&code) {
        return Err(DomainError::from(RegistryError::UnknownJurisdiction { code: value.to_owned() }).into());
    }
    Ok(Some(code))
}

/// A category filter: empty means every category; otherwise a registered code.
pub fn category_filter_from_proto(
    field: &'static str,
    value: &str,
    registry: &Registry,
) -> Result<Option<CategoryCode>, WireError> {
    if value.is_empty() {
        return Ok(None);
    }
    let code = CategoryCode::parse(value).map_err(|error| WireError::invalid(field, error.to_string()))?;
    registry.category(&code).map_err(DomainError::from)?;
    Ok(Some(code))
}

/// The filters of `GetGovernanceStats` and `BreakdownGovernanceStats`: scope, category,
/// period `[period_start, period_end)` on business time, and the as-of instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsFilter {
    /// A district, street, community or grid; `None` for everything the node holds.
    pub scope: Option<JurisdictionCode>,
    pub category: Option<CategoryCode>,
    pub period_start: Option<Timestamp>,
    pub period_end: Option<Timestamp>,
    /// The figures as the log stood at this instant; `None` for now.
    pub as_of: Option<Timestamp>,
}

impl StatsFilter {
    /// Validates wire filters against the registry; `now` bounds `as_of`.
    pub fn from_proto(
        request: &proto::GetGovernanceStatsRequest,
        registry: &Registry,
        now: Timestamp,
    ) -> Result<Self, WireError> {
        let filter = StatsFilter {
            scope: scope_from_proto("scope", &request.scope, registry)?,
            category: category_filter_from_proto("category", &request.category, registry)?,
            period_start: optional_timestamp("period_start", request.period_start.as_ref())?,
            period_end: optional_timestamp("period_end", request.period_end.as_ref())?,
            as_of: optional_timestamp("as_of", request.as_of.as_ref())?,
        };
        if let (Some(start), Some(end)) = (filter.period_start, filter.period_end)
            && end < start
        {
            return Err(WireError::invalid("period_end", "must not be before period_start"));
        }
        if filter.as_of.is_some_and(|as_of| as_of > now) {
            return Err(WireError::invalid("as_of", "must not be in the future"));
        }
        Ok(filter)
    }

    /// The wire filters.
    pub fn to_proto(&self) -> proto::GetGovernanceStatsRequest {
        proto::GetGovernanceStatsRequest {
            scope: self
                .scope
                .as_ref()
                .map(|scope| scope.as_str().to_owned())
                .unwrap_or_default(),
            category: self
                .category
                .as_ref()
                .map(|category| category.as_str().to_owned())
                .unwrap_or_default(),
            period_start: self.period_start.map(timestamp_to_proto),
            period_end: self.period_end.map(timestamp_to_proto),
            as_of: self.as_of.map(timestamp_to_proto),
        }
    }

    /// The projection query: at `as_of`, or at `now` when none was given.
    pub fn query(&self, now: Timestamp) -> StatsQuery {
        StatsQuery {
            scope: self.scope.clone(),
            category: self.category.clone(),
            period_start: self.period_start,
            period_end: self.period_end,
            at: self.as_of.unwrap_or(now),
        }
    }
}

/// A breakdown request, validated: its filters and how to group.
pub fn breakdown_from_proto(
    request: &proto::BreakdownGovernanceStatsRequest,
    registry: &Registry,
    now: Timestamp,
) -> Result<(StatsFilter, GroupBy), WireError> {
    let group_by = group_by_from_proto(request.group_by)?;
    let filters = proto::GetGovernanceStatsRequest {
        scope: request.scope.clone(),
        category: request.category.clone(),
        period_start: request.period_start,
        period_end: request.period_end,
        as_of: request.as_of,
    };
    Ok((StatsFilter::from_proto(&filters, registry, now)?, group_by))
}

/// A breakdown request on the wire.
pub fn breakdown_to_proto(filter: &StatsFilter, group_by: GroupBy) -> proto::BreakdownGovernanceStatsRequest {
    let filters = filter.to_proto();
    proto::BreakdownGovernanceStatsRequest {
        scope: filters.scope,
        group_by: group_by_to_proto(group_by) as i32,
        category: filters.category,
        period_start: filters.period_start,
        period_end: filters.period_end,
        as_of: filters.as_of,
    }
}

fn group_by_from_proto(value: i32) -> Result<GroupBy, WireError> {
    match proto::GroupBy::try_from(value) {
        Ok(proto::GroupBy::District) => Ok(GroupBy::District),
        Ok(proto::GroupBy::Street) => Ok(GroupBy::Street),
        Ok(proto::GroupBy::Community) => Ok(GroupBy::Community),
        Ok(proto::GroupBy::Grid) => Ok(GroupBy::Grid),
        Ok(proto::GroupBy::Category) => Ok(GroupBy::Category),
        Ok(proto::GroupBy::Month) => Ok(GroupBy::Month),
        Ok(proto::GroupBy::Year) => Ok(GroupBy::Year),
        _ => Err(WireError::invalid(
            "group_by",
            "must be one of GROUP_BY_DISTRICT, GROUP_BY_STREET, GROUP_BY_COMMUNITY, GROUP_BY_GRID, GROUP_BY_CATEGORY, GROUP_BY_MONTH, GROUP_BY_YEAR",
        )),
    }
}

fn group_by_to_proto(group_by: GroupBy) -> proto::GroupBy {
    match group_by {
        GroupBy::District => proto::GroupBy::District,
        GroupBy::Street => proto::GroupBy::Street,
        GroupBy::Community => proto::GroupBy::Community,
        GroupBy::Grid => proto::GroupBy::Grid,
        GroupBy::Category => proto::GroupBy::Category,
        GroupBy::Month => proto::GroupBy::Month,
        GroupBy::Year => proto::GroupBy::Year,
    }
}

/// One breakdown row: the group's key (a code, `YYYY-MM` or `YYYY`) and its figures.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakdownRow {
    pub key: String,
    pub stats: GovernanceStats,
}

/// A breakdown on the wire.
pub fn breakdown_rows_to_proto(rows: &[(String, GovernanceStats)]) -> proto::BreakdownGovernanceStatsResponse {
    proto::BreakdownGovernanceStatsResponse {
        rows: rows
            .iter()
            .map(|(key, stats)| proto::BreakdownRow {
                key: key.clone(),
                stats: Some(stats_to_proto(stats)),
            })
            .collect(),
    }
}

/// A breakdown a server sent.
pub fn breakdown_rows_from_proto(
    wire: proto::BreakdownGovernanceStatsResponse,
) -> Result<Vec<BreakdownRow>, WireError> {
    wire.rows
        .into_iter()
        .map(|row| {
            let stats = row
                .stats
                .as_ref()
                .ok_or_else(|| WireError::invalid("rows.stats", "is required"))?;
            Ok(BreakdownRow {
                key: row.key,
                stats: stats_from_proto(stats),
            })
        })
        .collect()
}

/// The `ListIssues` filter, validated against the registry.
pub fn list_filter_from_proto(
    request: &proto::ListIssuesRequest,
    registry: &Registry,
) -> Result<IssueListFilter, WireError> {
    Ok(IssueListFilter {
        scope: scope_from_proto("scope", &request.scope, registry)?,
        status: issue_status_filter_from_proto("status", request.status)?,
        category: category_filter_from_proto("category", &request.category, registry)?,
    })
}

/// A `ListIssues` request on the wire.
pub fn list_request_to_proto(
    filter: &IssueListFilter,
    page_size: u32,
    page_token: Option<gridledger_domain::IssueId>,
) -> proto::ListIssuesRequest {
    proto::ListIssuesRequest {
        scope: filter
            .scope
            .as_ref()
            .map(|scope| scope.as_str().to_owned())
            .unwrap_or_default(),
        status: filter
            .status
            .map_or(proto::IssueStatus::Unspecified, issue_status_to_proto) as i32,
        category: filter
            .category
            .as_ref()
            .map(|category| category.as_str().to_owned())
            .unwrap_or_default(),
        page_size,
        page_token: page_token.map(|issue_id| issue_id.to_string()).unwrap_or_default(),
    }
}
