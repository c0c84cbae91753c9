//! The issue read model behind `ListIssues`: what each issue is filtered on, folded from a log subscription.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use gridledger_domain::{CategoryCode, GridCode, IssueEventBody, IssueId, IssueStatus, JurisdictionCode};
use gridledger_eventlog::{EventLog, Position};
use tokio::sync::watch;

use crate::error::ServiceError;
use crate::issues::decode_recorded;

/// How long a list waits for the read model to catch up with the log before answering.
const CATCH_UP_WAIT: Duration = Duration::from_secs(5);

/// What a list filters on, per issue. The full state of a listed issue is read from the
/// log when the page is built, so the index stays small.
#[derive(Debug, Clone)]
struct IndexedIssue {
    grid: GridCode,
    category: CategoryCode,
    status: IssueStatus,
}

/// Every issue's filter fields, in issue-id order (server-chosen ids are UUIDv7, so
/// roughly report order), kept up to date from the log.
#[derive(Debug)]
pub(crate) struct IssueIndex {
    issues: RwLock<BTreeMap<IssueId, IndexedIssue>>,
    applied_position: watch::Sender<Position>,
}

/// What `ListIssues` filters on.
#[derive(Debug, Default)]
pub(crate) struct IssueFilter {
    pub(crate) scope: Option<JurisdictionCode>,
    pub(crate) status: Option<IssueStatus>,
    pub(crate) category: Option<CategoryCode>,
}

impl IssueIndex {
    /// Starts folding the log from position 1 into a new index, on the current runtime.
    pub(crate) fn spawn(log: EventLog) -> Arc<IssueIndex> {
        let index = Arc::new(IssueIndex {
            issues: RwLock::new(BTreeMap::new()),
            applied_position: watch::Sender::new(0),
        });
        let feeding = index.clone();
        tokio::spawn(async move {
            let mut subscription = log.subscribe(1);
            loop {
                match subscription.next().await {
                    Ok(Some(recorded)) => {
                        if let Err(error) = feeding.apply(&recorded) {
                            tracing::error!(%error, position = recorded.position, "issue read model cannot apply an event");
                        }
                        feeding.applied_position.send_replace(recorded.position);
                    }
                    Ok(None) => break,
                    Err(error) => {
                        tracing::error!(%error, "issue read model stopped: the log could not be read");
                        break;
                    }
                }
            }
        });
        index
    }

    fn apply(&self, recorded: &gridledger_eventlog::RecordedEvent) -> Result<(), ServiceError> {
        let Ok(issue_id) = IssueId::from_stream_id(&recorded.record.stream_id) else {
            return Ok(()); // not an issue stream
        };
        let event = decode_recorded(recorded)?;
        let mut issues = self
            .issues
            .write()
            .map_err(|_| ServiceError::Unavailable("the issue read model is poisoned".to_owned()))?;
        if let IssueEventBody::IssueReported(reported) = &event.body {
            issues.entry(issue_id).or_insert_with(|| IndexedIssue {
                grid: reported.grid.clone(),
                category: reported.category.clone(),
                status: IssueStatus::Reported,
            });
        } else if let Some(indexed) = issues.get_mut(&issue_id)
            && let Some(status) = event.body.status_after()
        {
            indexed.status = status;
        }
        Ok(())
    }

    /// Waits (briefly) until every event up to `position` is in the index.
    pub(crate) async fn wait_for(&self, position: Position) -> Result<(), ServiceError> {
        let mut applied = self.applied_position.subscribe();
        let caught_up = tokio::time::timeout(CATCH_UP_WAIT, applied.wait_for(|applied| *applied >= position)).await;
        match caught_up {
            Ok(Ok(_)) => Ok(()),
            _ => Err(ServiceError::Unavailable(format!(
                "the issue read model has not caught up with log position {position}"
            ))),
        }
    }

    /// Up to `page_size` ids of issues matching `filter` after `after`, and the last of them
    /// when more follow.
    pub(crate) fn list(
        &self,
        filter: &IssueFilter,
        after: Option<IssueId>,
        page_size: usize,
    ) -> Result<(Vec<IssueId>, Option<IssueId>), ServiceError> {
        let issues = self
            .issues
            .read()
            .map_err(|_| ServiceError::Unavailable("the issue read model is poisoned".to_owned()))?;
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut matching = issues
            .range((lower, Bound::Unbounded))
            .filter(|(_, issue)| {
                filter
                    .scope
                    .as_ref()
                    .is_none_or(|scope| issue.grid.as_jurisdiction_code().is_within(scope))
                    && filter.status.is_none_or(|status| issue.status == status)
                    && filter
                        .category
                        .as_ref()
                        .is_none_or(|category| issue.category == *category)
            })
            .map(|(issue_id, _)| *issue_id);
        let page: Vec<IssueId> = matching.by_ref().take(page_size).collect();
        let next = if matching.next().is_some() {
            page.last().copied()
        } else {
            None
        };
        Ok((page, next))
    }
}
