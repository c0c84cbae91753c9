//! `StatsService`: the governance figures (docs/metrics.md) for a scope, category, period and instant, over every district the node answers for.

use std::sync::Arc;

use gridledger_api::{StatsFilter, breakdown_from_proto, breakdown_rows_to_proto, proto, stats_to_proto};
use gridledger_projections::PartialStats;
use tonic::{Request, Response, Status};

use crate::auth;
use crate::districts::Districts;
use crate::error::ServiceError;
use crate::issues::now;

#[derive(Debug, Clone)]
pub(crate) struct StatsServiceImpl {
    pub(crate) districts: Arc<Districts>,
}

#[tonic::async_trait]
impl proto::stats_service_server::StatsService for StatsServiceImpl {
    async fn get_governance_stats(
        &self,
        request: Request<proto::GetGovernanceStatsRequest>,
    ) -> Result<Response<proto::GovernanceStats>, Status> {
        let now = now();
        let registry = self.districts.registry();
        let mut filter = StatsFilter::from_proto(request.get_ref(), &registry, now).map_err(ServiceError::from)?;
        // Reads are scoped: no scope means the principal's own.
        filter.scope = auth::read_scope(auth::principal_of(&request).as_deref(), filter.scope, &registry)?;
        let query = filter.query(now);
        let scope = query.scope.clone();
        let (partial, position) = self
            .districts
            .partial_stats(scope.as_ref(), filter.as_of, move |projection| {
                projection.partial_stats(&query)
            })
            .await?;
        let stats = partial.unwrap_or_else(PartialStats::default).finish(position);
        Ok(Response::new(stats_to_proto(&stats)))
    }

    async fn breakdown_governance_stats(
        &self,
        request: Request<proto::BreakdownGovernanceStatsRequest>,
    ) -> Result<Response<proto::BreakdownGovernanceStatsResponse>, Status> {
        let now = now();
        let registry = self.districts.registry();
        let (mut filter, group_by) =
            breakdown_from_proto(request.get_ref(), &registry, now).map_err(ServiceError::from)?;
        filter.scope = auth::read_scope(auth::principal_of(&request).as_deref(), filter.scope, &registry)?;
        let query = filter.query(now);
        let scope = query.scope.clone();
        let (groups, position) = self
            .districts
            .partial_breakdown(scope.as_ref(), filter.as_of, move |projection| {
                projection.partial_breakdown(&query, group_by)
            })
            .await?;
        let rows: Vec<_> = groups
            .into_iter()
            .map(|(key, partial)| (key, partial.finish(position)))
            .collect();
        Ok(Response::new(breakdown_rows_to_proto(&rows)))
    }
}
