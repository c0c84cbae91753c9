//! `StatsService`: the governance figures of SPEC §5 for a scope, category, period and instant.

use std::sync::Arc;

use gridledger_api::{proto, timestamp_from_proto};
use gridledger_domain::{CategoryCode, DomainError, JurisdictionCode, Registry, Timestamp};
use gridledger_eventlog::EventLog;
use gridledger_projections::{GovernanceProjection, GovernanceStats, GroupBy, StatsQuery};
use tonic::{Request, Response, Status};

use crate::error::ServiceError;
use crate::governance::{LiveGovernance, projection_failed};
use crate::issues::now;

#[derive(Debug, Clone)]
pub(crate) struct StatsServiceImpl {
    pub(crate) log: EventLog,
    pub(crate) registry: Arc<Registry>,
    pub(crate) live: Arc<LiveGovernance>,
}

fn stats_to_proto(stats: &GovernanceStats) -> proto::GovernanceStats {
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

/// The request's filters, validated, plus the as-of instant if one was given.
struct ParsedQuery {
    query: StatsQuery,
    as_of: Option<Timestamp>,
}

impl StatsServiceImpl {
    /// Validates the filters both RPCs share (a breakdown passes its own as this message).
    fn parse(&self, filters: &proto::GetGovernanceStatsRequest) -> Result<ParsedQuery, ServiceError> {
        let proto::GetGovernanceStatsRequest {
            scope,
            category,
            period_start,
            period_end,
            as_of,
        } = filters;
        let (period_start, period_end, as_of) = (period_start.as_ref(), period_end.as_ref(), as_of.as_ref());
        let scope = if scope.is_empty() {
            None
        } else {
            let code = JurisdictionCode::parse(scope).map_err(|error| error.into_field_error("scope"))?;
            if !self.registry.contains_jurisdiction(&code) {
                return Err(DomainError::UnknownJurisdiction { code: scope.to_owned() }.into());
            }
            Some(code)
        };
        let category = if category.is_empty() {
            None
        } else {
            let code = CategoryCode::parse(category).map_err(|error| error.into_field_error("category"))?;
            if self.registry.category(&code).is_err() {
                return Err(DomainError::UnknownCategory {
                    code: category.to_owned(),
                }
                .into());
            }
            Some(code)
        };
        let period_start = period_start
            .map(|value| timestamp_from_proto("period_start", value))
            .transpose()?;
        let period_end = period_end
            .map(|value| timestamp_from_proto("period_end", value))
            .transpose()?;
        if let (Some(start), Some(end)) = (period_start, period_end)
            && end < start
        {
            return Err(ServiceError::invalid("period_end", "must not be before period_start"));
        }
        let as_of = as_of.map(|value| timestamp_from_proto("as_of", value)).transpose()?;
        let now = now();
        if as_of.is_some_and(|as_of| as_of > now) {
            return Err(ServiceError::invalid("as_of", "must not be in the future"));
        }
        Ok(ParsedQuery {
            query: StatsQuery {
                scope,
                category,
                period_start,
                period_end,
                at: as_of.unwrap_or(now),
            },
            as_of,
        })
    }

    /// Runs `compute` on the projection as the log stood at `as_of` (or now).
    async fn with_projection<T: Send + 'static>(
        &self,
        as_of: Option<Timestamp>,
        compute: impl FnOnce(&GovernanceProjection) -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        let live_head = self.log.head().position;
        let position = match as_of {
            None => live_head,
            Some(instant) => {
                let log = self.log.clone();
                tokio::task::spawn_blocking(move || log.position_at(instant.as_unix_micros()))
                    .await
                    .map_err(|error| ServiceError::Unavailable(format!("as_of lookup failed: {error}")))??
            }
        };
        self.live.wait_for(position).await?;
        {
            let projection = self
                .live
                .projection
                .read()
                .map_err(|_| ServiceError::Unavailable("the governance projection is poisoned".to_owned()))?;
            if as_of.is_none() || projection.position() == position {
                return Ok(compute(&projection));
            }
        }
        // The log has moved on since `as_of`: fold it again up to that position.
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || {
            GovernanceProjection::replay(&log, position, |_| {})
                .map(|projection| compute(&projection))
                .map_err(projection_failed)
        })
        .await
        .map_err(|error| ServiceError::Unavailable(format!("as_of replay failed: {error}")))?
    }
}

#[tonic::async_trait]
impl proto::stats_service_server::StatsService for StatsServiceImpl {
    async fn get_governance_stats(
        &self,
        request: Request<proto::GetGovernanceStatsRequest>,
    ) -> Result<Response<proto::GovernanceStats>, Status> {
        let parsed = self.parse(request.get_ref())?;
        let query = parsed.query;
        let stats = self
            .with_projection(parsed.as_of, move |projection| projection.stats(&query))
            .await?;
        Ok(Response::new(stats_to_proto(&stats)))
    }

    async fn breakdown_governance_stats(
        &self,
        request: Request<proto::BreakdownGovernanceStatsRequest>,
    ) -> Result<Response<proto::BreakdownGovernanceStatsResponse>, Status> {
        let request = request.into_inner();
        let group_by = match proto::GroupBy::try_from(request.group_by) {
            Ok(proto::GroupBy::Street) => GroupBy::Street,
            Ok(proto::GroupBy::Community) => GroupBy::Community,
            Ok(proto::GroupBy::Grid) => GroupBy::Grid,
            Ok(proto::GroupBy::Category) => GroupBy::Category,
            Ok(proto::GroupBy::Month) => GroupBy::Month,
            Ok(proto::GroupBy::Year) => GroupBy::Year,
            _ => {
                return Err(ServiceError::invalid(
                    "group_by",
                    "must be one of GROUP_BY_STREET, GROUP_BY_COMMUNITY, GROUP_BY_GRID, GROUP_BY_CATEGORY, GROUP_BY_MONTH, GROUP_BY_YEAR",
                )
                .into());
            }
        };
        let parsed = self.parse(&proto::GetGovernanceStatsRequest {
            scope: request.scope,
            category: request.category,
            period_start: request.period_start,
            period_end: request.period_end,
            as_of: request.as_of,
        })?;
        let query = parsed.query;
        let rows = self
            .with_projection(parsed.as_of, move |projection| projection.breakdown(&query, group_by))
            .await?;
        Ok(Response::new(proto::BreakdownGovernanceStatsResponse {
            rows: rows
                .iter()
                .map(|(key, stats)| proto::BreakdownRow {
                    key: key.clone(),
                    stats: Some(stats_to_proto(stats)),
                })
                .collect(),
        }))
    }
}
