//! The districts a node answers statistics for: one log and live projection per district
//! (a district node has one; a stats node one per followed stream), the registry queries
//! are checked against, and figures across districts added up from their sums.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use gridledger_domain::{DistrictCode, JurisdictionCode, Registry, Timestamp};
use gridledger_eventlog::{EventLog, Position};
use gridledger_projections::{GovernanceProjection, PartialStats};
use tokio::sync::watch;

use crate::error::ServiceError;
use crate::governance::LiveGovernance;

/// One district's log and its live projection.
#[derive(Debug)]
pub(crate) struct DistrictProjection {
    /// The district whose events the log holds; `None` on a district node, whose log
    /// holds whatever its registry lists.
    pub(crate) district: Option<DistrictCode>,
    /// The stream this log replicates (stats node), for messages.
    pub(crate) stream: Option<String>,
    pub(crate) log: EventLog,
    pub(crate) live: Arc<LiveGovernance>,
    /// Set while the feed that fills this log has stopped: why.
    pub(crate) feed_stopped: Option<watch::Receiver<Option<String>>>,
}

impl DistrictProjection {
    fn covers(&self, scope: Option<&JurisdictionCode>) -> bool {
        match (&self.district, scope) {
            (None, _) | (_, None) => true,
            (Some(district), Some(scope)) => scope.is_within(district.as_jurisdiction_code()),
        }
    }

    fn refuse_if_feed_stopped(&self) -> Result<(), ServiceError> {
        if let Some(stopped) = &self.feed_stopped
            && let Some(reason) = &*stopped.borrow()
        {
            return Err(ServiceError::FeedStopped {
                stream: self.stream.clone().unwrap_or_default(),
                reason: reason.clone(),
            });
        }
        Ok(())
    }

    /// Runs `compute` on the projection as this district's log stood at `as_of` (or now);
    /// returns the result and the position it reflects.
    async fn with_projection<T: Send + 'static>(
        &self,
        as_of: Option<Timestamp>,
        compute: impl FnOnce(&GovernanceProjection) -> T + Send + 'static,
    ) -> Result<(T, Position), ServiceError> {
        self.refuse_if_feed_stopped()?;
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
                let position = projection.position();
                return Ok((compute(&projection), position));
            }
        }
        // The log has moved on since `as_of`: fold it again up to that position.
        let log = self.log.clone();
        let time_zone = self.live.time_zone();
        tokio::task::spawn_blocking(move || {
            GovernanceProjection::replay(&log, &time_zone, position, |_| {})
                .map(|projection| (compute(&projection), position))
                .map_err(ServiceError::Projection)
        })
        .await
        .map_err(|source| ServiceError::Task {
            task: "replaying the log up to as_of",
            source,
        })?
    }
}

/// Puts each member's months in its district's zone (docs/metrics.md#local-time): a stats
/// node's replica in the zone of its district, a district node's log in the one zone its
/// registry's districts share. Districts of one log with different zones are logged as an
/// error and the first district's zone is kept.
fn set_time_zones(registry: &Registry, members: &[DistrictProjection]) {
    for member in members {
        let zone = match &member.district {
            Some(district) => registry.district(district).map(|district| district.time_zone().clone()),
            None => registry
                .shared_time_zone()
                .map(|zone| zone.zone().clone())
                .or_else(|error| {
                    tracing::error!(error = %error, "months are those of the registry's first district");
                    registry
                        .districts()
                        .first()
                        .map(|district| district.time_zone().clone())
                        .ok_or(error)
                }),
        };
        let set = zone
            .map_err(|error| error.to_string())
            .and_then(|zone| member.live.set_time_zone(&zone).map_err(|error| error.to_string()));
        if let Err(error) = set {
            tracing::error!(
                stream = member.stream.as_deref().unwrap_or_default(),
                error,
                "cannot put the projection's months in the district's time zone"
            );
        }
    }
}

/// Every district a node answers for, and the registry of them all.
#[derive(Debug)]
pub(crate) struct Districts {
    registry: RwLock<Arc<Registry>>,
    members: Vec<DistrictProjection>,
}

impl Districts {
    /// The districts of `members`, their projections' months put in the registry's zones.
    pub(crate) fn new(registry: Arc<Registry>, members: Vec<DistrictProjection>) -> Self {
        set_time_zones(&registry, &members);
        Districts {
            registry: RwLock::new(registry),
            members,
        }
    }

    /// The registry queries are checked against now.
    pub(crate) fn registry(&self) -> Arc<Registry> {
        match self.registry.read() {
            Ok(registry) => registry.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the registry (a stats node learned a newer one of a district); a district
    /// whose time zone changed has its months rebuilt in the new zone.
    pub(crate) fn replace_registry(&self, registry: Arc<Registry>) {
        set_time_zones(&registry, &self.members);
        match self.registry.write() {
            Ok(mut current) => *current = registry,
            Err(poisoned) => *poisoned.into_inner() = registry,
        }
    }

    pub(crate) fn members(&self) -> &[DistrictProjection] {
        &self.members
    }

    /// The sums of every district `scope` touches, added up, and the events they reflect.
    pub(crate) async fn partial_stats(
        &self,
        scope: Option<&JurisdictionCode>,
        as_of: Option<Timestamp>,
        compute: impl Fn(&GovernanceProjection) -> PartialStats + Clone + Send + 'static,
    ) -> Result<(Option<PartialStats>, Position), ServiceError> {
        let mut total: Option<PartialStats> = None;
        let mut positions: Position = 0;
        for member in self.members.iter().filter(|member| member.covers(scope)) {
            let (partial, position) = member.with_projection(as_of, compute.clone()).await?;
            positions += position;
            match &mut total {
                None => total = Some(partial),
                Some(total) => total.merge(&partial),
            }
        }
        Ok((total, positions))
    }

    /// The sums per group of every district `scope` touches, added up by group key.
    pub(crate) async fn partial_breakdown(
        &self,
        scope: Option<&JurisdictionCode>,
        as_of: Option<Timestamp>,
        compute: impl Fn(&GovernanceProjection) -> BTreeMap<String, PartialStats> + Clone + Send + 'static,
    ) -> Result<(BTreeMap<String, PartialStats>, Position), ServiceError> {
        let mut total: BTreeMap<String, PartialStats> = BTreeMap::new();
        let mut positions: Position = 0;
        for member in self.members.iter().filter(|member| member.covers(scope)) {
            let (groups, position) = member.with_projection(as_of, compute.clone()).await?;
            positions += position;
            for (key, partial) in groups {
                match total.get_mut(&key) {
                    Some(sums) => sums.merge(&partial),
                    None => {
                        total.insert(key, partial);
                    }
                }
            }
        }
        Ok((total, positions))
    }
}
