//! The live governance projection: loaded from its checkpoint, fed by a log subscription,
//! saved as it goes, and supervised: when it fails it says why (StatsService turns
//! NOT_SERVING and queries are refused at once naming the reason) and it restarts itself
//! from its checkpoint with a growing delay.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use gridledger_eventlog::{EventLog, EventLogError, Position, ProjectionStore};
use gridledger_projections::{CHECKPOINT_NAME, GovernanceProjection, ProjectionError};
use jiff::tz::TimeZone;
use tokio::sync::watch;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::error::{ServiceError, with_sources};

/// Save a checkpoint after this many applied events...
const SAVE_EVERY_EVENTS: u64 = 10_000;
/// ...or once the log has been quiet this long with unsaved changes.
const SAVE_WHEN_IDLE: Duration = Duration::from_millis(500);
/// How long a query waits for the projection to catch up with the log.
const CATCH_UP_WAIT: Duration = Duration::from_secs(10);
/// The first delay before a failed projection is restarted; it doubles up to the maximum.
const FIRST_RESTART_DELAY: Duration = Duration::from_secs(1);
const MAX_RESTART_DELAY: Duration = Duration::from_secs(60);
/// The health service name of the projection's queries.
pub(crate) const STATS_SERVICE_NAME: &str = "gridledger.v1.StatsService";

/// The projection the StatsService reads, kept up to date in the background.
#[derive(Debug)]
pub(crate) struct LiveGovernance {
    projection: RwLock<GovernanceProjection>,
    applied_position: watch::Sender<Position>,
    /// Why the projection stopped following the log, while it is stopped.
    stopped: watch::Sender<Option<String>>,
    /// Where the projection's health is reported...
    health: HealthReporter,
    /// ...under this service name (StatsService's on a district node).
    health_name: String,
}

/// Loads the checkpoint, its months in `time_zone`; one that no longer decodes (damaged,
/// or written by another version) is derived data: it is dropped and the log replayed
/// instead.
fn load_checkpoint(store: &ProjectionStore, time_zone: &TimeZone) -> Result<GovernanceProjection, ProjectionError> {
    match GovernanceProjection::load(store, time_zone) {
        Err(ProjectionError::CorruptCheckpoint(reason)) => {
            tracing::warn!(reason, "governance checkpoint unusable; rebuilding it from the log");
            store.clear()?;
            Ok(GovernanceProjection::new(time_zone))
        }
        other => other,
    }
}

async fn load_checkpoint_in_background(
    store: &ProjectionStore,
    time_zone: &TimeZone,
) -> Result<GovernanceProjection, ServiceError> {
    let store = store.clone();
    let time_zone = time_zone.clone();
    tokio::task::spawn_blocking(move || load_checkpoint(&store, &time_zone))
        .await
        .map_err(|source| ServiceError::Task {
            task: "loading the governance checkpoint",
            source,
        })?
        .map_err(ServiceError::Projection)
}

impl LiveGovernance {
    /// Loads the checkpoint (no replay of what it covers), its months in `time_zone` (the
    /// district's), and starts following the log. The returned task ends after the log
    /// closes, once the last checkpoint is saved.
    pub(crate) async fn start_in_time_zone(
        log: EventLog,
        time_zone: &TimeZone,
        health: HealthReporter,
        health_name: String,
    ) -> Result<(Arc<LiveGovernance>, tokio::task::JoinHandle<()>), ServiceError> {
        let store = log.projection_store(CHECKPOINT_NAME)?;
        let projection = load_checkpoint_in_background(&store, time_zone).await?;
        let position = projection.position();
        tracing::info!(
            position,
            issues = projection.issue_count(),
            "governance projection loaded from its checkpoint"
        );
        let live = Arc::new(LiveGovernance {
            projection: RwLock::new(projection),
            applied_position: watch::Sender::new(position),
            stopped: watch::Sender::new(None),
            health,
            health_name,
        });
        let supervised = live.clone();
        let task = tokio::spawn(async move { supervised.supervise(log, store).await });
        Ok((live, task))
    }

    /// Follows the log until it closes; after a failure, reports it, waits, reloads the
    /// checkpoint and follows again.
    async fn supervise(&self, log: EventLog, store: ProjectionStore) {
        let mut restart_delay = FIRST_RESTART_DELAY;
        loop {
            let failure = match self.follow(&log, &store).await {
                Ok(()) => return,
                Err(ServiceError::Log(EventLogError::Closed { .. }))
                | Err(ServiceError::Projection(ProjectionError::Log(EventLogError::Closed { .. }))) => return,
                Err(failure) => failure,
            };
            let reason = with_sources(&failure);
            tracing::error!(
                reason,
                retry_in = ?restart_delay,
                "the governance projection stopped following the log; StatsService is NOT_SERVING"
            );
            self.stopped.send_replace(Some(reason));
            self.health
                .set_service_status(&self.health_name, ServingStatus::NotServing)
                .await;
            tokio::time::sleep(restart_delay).await;
            restart_delay = (restart_delay * 2).min(MAX_RESTART_DELAY);
            match load_checkpoint_in_background(&store, &self.time_zone()).await {
                Ok(projection) => {
                    let position = projection.position();
                    match self.write() {
                        Ok(mut current) => *current = projection,
                        Err(error) => {
                            tracing::error!(error = %error, "cannot restart the governance projection");
                            return;
                        }
                    }
                    self.applied_position.send_replace(position);
                    tracing::info!(position, "governance projection restarted from its checkpoint");
                }
                Err(error) => {
                    tracing::error!(error = %with_sources(&error), "cannot reload the governance checkpoint");
                    continue;
                }
            }
            // Serving again once the restarted projection has caught up without failing is
            // decided by `follow`: it clears the reason when it reaches the head.
        }
    }

    async fn follow(&self, log: &EventLog, store: &ProjectionStore) -> Result<(), ServiceError> {
        let start = self.applied_position.borrow().saturating_add(1);
        let mut subscription = log.subscribe(start);
        let mut since_save: u64 = 0;
        loop {
            let next = if since_save > 0 || self.stopped.borrow().is_some() {
                match tokio::time::timeout(SAVE_WHEN_IDLE, subscription.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        // Quiet: everything committed is applied.
                        self.save(store)?;
                        since_save = 0;
                        self.mark_serving().await;
                        continue;
                    }
                }
            } else {
                subscription.next().await
            };
            let Some(recorded) = next? else {
                // The log closed (shutdown): keep what was applied.
                return self.save(store);
            };
            // What the subscription read with this event is applied under the same lock,
            // and the new position published once.
            let mut applied = recorded.position;
            {
                let mut projection = self.write()?;
                projection.apply_recorded(&recorded).map_err(ServiceError::Projection)?;
                since_save += 1;
                while since_save < SAVE_EVERY_EVENTS
                    && let Some(recorded) = subscription.next_buffered()
                {
                    projection.apply_recorded(&recorded).map_err(ServiceError::Projection)?;
                    applied = recorded.position;
                    since_save += 1;
                }
            }
            self.applied_position.send_replace(applied);
            if since_save >= SAVE_EVERY_EVENTS {
                self.save(store)?;
                since_save = 0;
            }
        }
    }

    /// Clears a failure once the restarted projection has caught up.
    async fn mark_serving(&self) {
        if let Some(reason) = self.stopped.send_replace(None) {
            tracing::info!(previous_failure = reason, "the governance projection has recovered");
            self.health
                .set_service_status(&self.health_name, ServingStatus::Serving)
                .await;
        }
    }

    /// Why the projection is not following its log, while it is not.
    pub(crate) fn stopped_reason(&self) -> Option<String> {
        self.stopped.borrow().clone()
    }

    /// The time zone of the projection's months.
    pub(crate) fn time_zone(&self) -> TimeZone {
        match self.projection.read() {
            Ok(projection) => projection.time_zone().clone(),
            Err(poisoned) => poisoned.into_inner().time_zone().clone(),
        }
    }

    /// Puts the projection's months in `time_zone` (rebuilding its aggregates if the zone
    /// changes; nothing otherwise).
    pub(crate) fn set_time_zone(&self, time_zone: &TimeZone) -> Result<(), ServiceError> {
        if self.time_zone() == *time_zone {
            return Ok(());
        }
        self.write()?.set_time_zone(time_zone).map_err(ServiceError::Projection)
    }

    /// The last log position applied.
    pub(crate) fn applied_position(&self) -> Position {
        *self.applied_position.borrow()
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, GovernanceProjection>, ServiceError> {
        self.projection.write().map_err(|_| ServiceError::ProjectionPoisoned)
    }

    /// The projection, for a query; refused while the projection is stopped.
    pub(crate) fn read(&self) -> Result<RwLockReadGuard<'_, GovernanceProjection>, ServiceError> {
        self.refuse_if_stopped()?;
        self.projection.read().map_err(|_| ServiceError::ProjectionPoisoned)
    }

    fn refuse_if_stopped(&self) -> Result<(), ServiceError> {
        match &*self.stopped.borrow() {
            Some(reason) => Err(ServiceError::ProjectionStopped { reason: reason.clone() }),
            None => Ok(()),
        }
    }

    fn save(&self, store: &ProjectionStore) -> Result<(), ServiceError> {
        let mut projection = self.write()?;
        if projection.has_unsaved_changes() || store.position()? != projection.position() {
            projection.save(store).map_err(ServiceError::Projection)?;
        }
        Ok(())
    }

    /// Waits until the projection has applied every event up to `position`; fails at once
    /// (or as soon as it happens) if the projection is stopped.
    pub(crate) async fn wait_for(&self, position: Position) -> Result<(), ServiceError> {
        self.refuse_if_stopped()?;
        let mut applied = self.applied_position.subscribe();
        let mut stopped = self.stopped.subscribe();
        let caught_up = async {
            tokio::select! {
                result = applied.wait_for(|applied| *applied >= position) => result.is_ok(),
                _ = stopped.wait_for(Option::is_some) => false,
            }
        };
        match tokio::time::timeout(CATCH_UP_WAIT, caught_up).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.refuse_if_stopped()?;
                Err(ServiceError::ProjectionBehind { position })
            }
            Err(_) => Err(ServiceError::ProjectionBehind { position }),
        }
    }
}
