//! `StatsService`: the governance figures (docs/metrics.md) for a scope, category, period and instant.

use std::sync::Arc;

use gridledger_api::{StatsFilter, breakdown_from_proto, breakdown_rows_to_proto, proto, stats_to_proto};
use gridledger_domain::{Registry, Timestamp};
use gridledger_eventlog::EventLog;
use gridledger_projections::GovernanceProjection;
use tonic::{Request, Response, Status};

use crate::auth;
use crate::error::ServiceError;
use crate::governance::LiveGovernance;
use crate::issues::now;

#[derive(Debug, Clone)]
pub(crate) struct StatsServiceImpl {
    pub(crate) log: EventLog,
    pub(crate) registry: Arc<Registry>,
    pub(crate) live: Arc<LiveGovernance>,
}

impl StatsServiceImpl {
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
                    .map_err(|source| ServiceError::Task {
                        task: "finding the log position of as_of",
                        source,
                    })??
            }
        };
        self.live.wait_for(position).await?;
        {
            let projection = self.live.read()?;
            if as_of.is_none() || projection.position() == position {
                return Ok(compute(&projection));
            }
        }
        // The log has moved on since `as_of`: fold it again up to that position.
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || {
            GovernanceProjection::replay(&log, position, |_| {})
                .map(|projection| compute(&projection))
                .map_err(ServiceError::Projection)
        })
        .await
        .map_err(|source| ServiceError::Task {
            task: "replaying the log up to as_of",
            source,
        })?
    }
}

#[tonic::async_trait]
impl proto::stats_service_server::StatsService for StatsServiceImpl {
    async fn get_governance_stats(
        &self,
        request: Request<proto::GetGovernanceStatsRequest>,
    ) -> Result<Response<proto::GovernanceStats>, Status> {
        let now = now();
        let mut filter = StatsFilter::from_proto(request.get_ref(), &self.registry, now).map_err(ServiceError::from)?;
        // Reads are scoped: no scope means the principal's own.
        filter.scope = auth::read_scope(auth::principal_of(&request).as_deref(), filter.scope)?;
        let query = filter.query(now);
        let stats = self
            .with_projection(filter.as_of, move |projection| projection.stats(&query))
            .await?;
        Ok(Response::new(stats_to_proto(&stats)))
    }

    async fn breakdown_governance_stats(
        &self,
        request: Request<proto::BreakdownGovernanceStatsRequest>,
    ) -> Result<Response<proto::BreakdownGovernanceStatsResponse>, Status> {
        let now = now();
        let (mut filter, group_by) =
            breakdown_from_proto(request.get_ref(), &self.registry, now).map_err(ServiceError::from)?;
        filter.scope = auth::read_scope(auth::principal_of(&request).as_deref(), filter.scope)?;
        let query = filter.query(now);
        let rows = self
            .with_projection(filter.as_of, move |projection| projection.breakdown(&query, group_by))
            .await?;
        Ok(Response::new(breakdown_rows_to_proto(&rows)))
    }
}
