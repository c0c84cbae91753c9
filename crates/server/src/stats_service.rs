//! `StatsService`: answers UNIMPLEMENTED until the projections (issue #4) exist.

use gridledger_api::proto;
use tonic::{Request, Response, Status};

#[derive(Debug, Clone, Default)]
pub(crate) struct StatsServiceImpl;

const NOT_YET: &str = "governance statistics arrive with the projections; this node does not compute them yet";

#[tonic::async_trait]
impl proto::stats_service_server::StatsService for StatsServiceImpl {
    async fn get_governance_stats(
        &self,
        _request: Request<proto::GetGovernanceStatsRequest>,
    ) -> Result<Response<proto::GovernanceStats>, Status> {
        Err(Status::unimplemented(NOT_YET))
    }

    async fn breakdown_governance_stats(
        &self,
        _request: Request<proto::BreakdownGovernanceStatsRequest>,
    ) -> Result<Response<proto::BreakdownGovernanceStatsResponse>, Status> {
        Err(Status::unimplemented(NOT_YET))
    }
}
