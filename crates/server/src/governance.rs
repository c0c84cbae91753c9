//! The live governance projection: loaded from its checkpoint, fed by a log subscription, saved as it goes.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use gridledger_eventlog::{EventLog, Position};
use gridledger_projections::{CHECKPOINT_NAME, GovernanceProjection, ProjectionError};
use tokio::sync::watch;

use crate::error::ServiceError;

/// Save a checkpoint after this many applied events...
const SAVE_EVERY_EVENTS: u64 = 10_000;
/// ...or once the log has been quiet this long with unsaved changes.
const SAVE_WHEN_IDLE: Duration = Duration::from_millis(500);
/// How long a query waits for the projection to catch up with the log.
const CATCH_UP_WAIT: Duration = Duration::from_secs(10);

/// The projection the StatsService reads, kept up to date in the background.
#[derive(Debug)]
pub(crate) struct LiveGovernance {
    pub(crate) projection: RwLock<GovernanceProjection>,
    applied_position: watch::Sender<Position>,
}

impl LiveGovernance {
    /// Loads the checkpoint (no replay of what it covers) and starts following the log.
    /// The returned task ends after the log closes, once the last checkpoint is saved.
    pub(crate) async fn start(
        log: EventLog,
    ) -> Result<(Arc<LiveGovernance>, tokio::task::JoinHandle<()>), ServiceError> {
        let store = log.projection_store(CHECKPOINT_NAME)?;
        let loading_store = store.clone();
        let projection = tokio::task::spawn_blocking(move || {
            match GovernanceProjection::load(&loading_store) {
                // The checkpoint is derived data: one that no longer decodes (damaged, or
                // written by another version) is dropped and the log replayed instead.
                Err(ProjectionError::CorruptCheckpoint(reason)) => {
                    tracing::warn!(reason, "governance checkpoint unusable; rebuilding it from the log");
                    loading_store.clear()?;
                    Ok(GovernanceProjection::default())
                }
                other => other,
            }
        })
        .await
        .map_err(|error| ServiceError::Unavailable(format!("loading the projection failed: {error}")))?
        .map_err(projection_failed)?;
        let position = projection.position();
        tracing::info!(
            position,
            issues = projection.issue_count(),
            "governance projection loaded from its checkpoint"
        );
        let live = Arc::new(LiveGovernance {
            projection: RwLock::new(projection),
            applied_position: watch::Sender::new(position),
        });
        let following = live.clone();
        let task = tokio::spawn(async move {
            if let Err(error) = following.follow(log, store).await {
                tracing::error!(%error, "governance projection stopped following the log");
            }
        });
        Ok((live, task))
    }

    async fn follow(&self, log: EventLog, store: gridledger_eventlog::ProjectionStore) -> Result<(), ServiceError> {
        let start = self.applied_position.borrow().saturating_add(1);
        let mut subscription = log.subscribe(start);
        let mut since_save: u64 = 0;
        loop {
            let next = if since_save > 0 {
                match tokio::time::timeout(SAVE_WHEN_IDLE, subscription.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        self.save(&store)?;
                        since_save = 0;
                        continue;
                    }
                }
            } else {
                subscription.next().await
            };
            let Some(recorded) = next? else {
                // The log closed (shutdown): keep what was applied.
                return self.save(&store);
            };
            {
                let mut projection = self.write()?;
                projection.apply_recorded(&recorded).map_err(projection_failed)?;
            }
            self.applied_position.send_replace(recorded.position);
            since_save += 1;
            if since_save >= SAVE_EVERY_EVENTS {
                self.save(&store)?;
                since_save = 0;
            }
        }
    }

    fn write(&self) -> Result<std::sync::RwLockWriteGuard<'_, GovernanceProjection>, ServiceError> {
        self.projection
            .write()
            .map_err(|_| ServiceError::Unavailable("the governance projection is poisoned".to_owned()))
    }

    fn save(&self, store: &gridledger_eventlog::ProjectionStore) -> Result<(), ServiceError> {
        let mut projection = self.write()?;
        if projection.has_unsaved_changes() || store.position()? != projection.position() {
            projection.save(store).map_err(projection_failed)?;
        }
        Ok(())
    }

    /// Waits until the projection has applied every event up to `position`.
    pub(crate) async fn wait_for(&self, position: Position) -> Result<(), ServiceError> {
        let mut applied = self.applied_position.subscribe();
        match tokio::time::timeout(CATCH_UP_WAIT, applied.wait_for(|applied| *applied >= position)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(ServiceError::Unavailable(format!(
                "the governance projection has not caught up with log position {position} yet"
            ))),
        }
    }
}

pub(crate) fn projection_failed(error: ProjectionError) -> ServiceError {
    match error {
        ProjectionError::Log(error) => ServiceError::Log(error),
        other => ServiceError::Projection(other.to_string()),
    }
}
