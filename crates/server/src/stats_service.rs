//! `StatsService`: the governance figures (docs/metrics.md) for a scope, category, period and instant, over every district the node answers for.
//!
//! The reads themselves are [`governance_stats`] and [`breakdown_governance_stats`], which
//! the HTTP API (`crate::http`) calls too: one implementation behind both.

use std::sync::Arc;

use gridledger_api::{StatsFilter, breakdown_from_proto, breakdown_rows_to_proto, proto, stats_to_proto};
use gridledger_projections::PartialStats;
use tonic::{Request, Response, Status};

use crate::auth::{self, Principal};
use crate::districts::Districts;
use crate::error::ServiceError;
use crate::issues::now;

#[derive(Debug, Clone)]
pub(crate) struct StatsServiceImpl {
    pub(crate) districts: Arc<Districts>,
}

/// `GetGovernanceStats`: the figures for the request's filters, read within the
/// principal's scope (no scope means the principal's own).
pub(crate) async fn governance_stats(
    districts: &Districts,
    principal: Option<&Principal>,
    request: &proto::GetGovernanceStatsRequest,
) -> Result<proto::GovernanceStats, ServiceError> {
    let now = now();
    let registry = districts.registry();
    let mut filter = StatsFilter::from_proto(request, &registry, now)?;
    // Reads are scoped: no scope means the principal's own.
    filter.scope = auth::read_scope(principal, filter.scope, &registry)?;
    let query = filter.query(now);
    let scope = query.scope.clone();
    let (partial, position) = districts
        .partial_stats(scope.as_ref(), filter.as_of, move |projection| {
            projection.partial_stats(&query)
        })
        .await?;
    let stats = partial.unwrap_or_else(PartialStats::default).finish(position);
    Ok(stats_to_proto(&stats))
}

/// `BreakdownGovernanceStats`: the figures per group, in key order.
pub(crate) async fn breakdown_governance_stats(
    districts: &Districts,
    principal: Option<&Principal>,
    request: &proto::BreakdownGovernanceStatsRequest,
) -> Result<proto::BreakdownGovernanceStatsResponse, ServiceError> {
    let now = now();
    let registry = districts.registry();
    let (mut filter, group_by) = breakdown_from_proto(request, &registry, now)?;
    filter.scope = auth::read_scope(principal, filter.scope, &registry)?;
    let query = filter.query(now);
    let scope = query.scope.clone();
    let (groups, position) = districts
        .partial_breakdown(scope.as_ref(), filter.as_of, move |projection| {
            projection.partial_breakdown(&query, group_by)
        })
        .await?;
    let rows: Vec<_> = groups
        .into_iter()
        .map(|(key, partial)| (key, partial.finish(position)))
        .collect();
    Ok(breakdown_rows_to_proto(&rows))
}

#[tonic::async_trait]
impl proto::stats_service_server::StatsService for StatsServiceImpl {
    async fn get_governance_stats(
        &self,
        request: Request<proto::GetGovernanceStatsRequest>,
    ) -> Result<Response<proto::GovernanceStats>, Status> {
        let principal = auth::principal_of(&request);
        let stats = governance_stats(&self.districts, principal.as_deref(), request.get_ref()).await?;
        Ok(Response::new(stats))
    }

    async fn breakdown_governance_stats(
        &self,
        request: Request<proto::BreakdownGovernanceStatsRequest>,
    ) -> Result<Response<proto::BreakdownGovernanceStatsResponse>, Status> {
        let principal = auth::principal_of(&request);
        let rows = breakdown_governance_stats(&self.districts, principal.as_deref(), request.get_ref()).await?;
        Ok(Response::new(rows))
    }
}
