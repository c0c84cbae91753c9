//! `LogHealth`: whether the writer can make appends durable right now, published on a watch channel.
//!
//! The writer's two threads and every `EventLog` handle share one [`HealthCell`]. The
//! acknowledger marks the log failing when a durable flush fails and healthy again when a
//! retried flush succeeds; the planner marks it failing for good when applying a batch to
//! sled fails. Appends are refused with [`crate::EventLogError::Unavailable`] while it is
//! failing. See docs/durability.md, "When storage fails".

use std::time::SystemTime;

use tokio::sync::watch;

/// Whether the log can make appends durable right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogHealth {
    /// Appends are accepted and made durable.
    Healthy,
    /// Storage failed: appends are refused at once with
    /// [`EventLogError::Unavailable`](crate::EventLogError::Unavailable) and write nothing;
    /// reads, subscriptions and verify go on over what is durable.
    Failing {
        /// What failed, with the operating system's error (such as
        /// `Too many open files (os error 24)`).
        reason: String,
        /// When the log started failing.
        since: SystemTime,
        /// True while the writer retries the flush (with a delay growing from 10 ms to 1 s)
        /// and will turn [`LogHealth::Healthy`] by itself once one succeeds. False when it
        /// cannot: the log must be reopened (restart the process) to take appends again.
        retrying: bool,
    },
}

impl LogHealth {
    pub fn is_healthy(&self) -> bool {
        matches!(self, LogHealth::Healthy)
    }

    /// Why the log is failing, `None` when it is healthy.
    pub fn reason(&self) -> Option<&str> {
        match self {
            LogHealth::Healthy => None,
            LogHealth::Failing { reason, .. } => Some(reason),
        }
    }
}

/// What a call to [`HealthCell::fail`] changed, so that each change is logged once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// The log was healthy and is failing now.
    StartedFailing,
    /// The log was failing with retries and now fails for good.
    StoppedRetrying,
    /// Nothing a reader must be told about changed (at most the reason's text).
    None,
}

/// The one published health of a log.
#[derive(Debug)]
pub(crate) struct HealthCell {
    sender: watch::Sender<LogHealth>,
}

impl HealthCell {
    pub(crate) fn new() -> Self {
        HealthCell {
            sender: watch::Sender::new(LogHealth::Healthy),
        }
    }

    pub(crate) fn current(&self) -> LogHealth {
        self.sender.borrow().clone()
    }

    /// The reason appends are refused now, if they are.
    pub(crate) fn refusal(&self) -> Option<String> {
        self.sender.borrow().reason().map(str::to_owned)
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<LogHealth> {
        self.sender.subscribe()
    }

    /// Marks the log failing. A failure for good (`retrying == false`) is never replaced:
    /// its reason is the one the operator must see.
    pub(crate) fn fail(&self, reason: &str, retrying: bool) -> Transition {
        let mut transition = Transition::None;
        self.sender.send_if_modified(|health| match health {
            LogHealth::Healthy => {
                *health = LogHealth::Failing {
                    reason: reason.to_owned(),
                    since: SystemTime::now(),
                    retrying,
                };
                transition = Transition::StartedFailing;
                true
            }
            LogHealth::Failing { retrying: false, .. } => false,
            LogHealth::Failing {
                reason: current_reason,
                retrying: current_retrying,
                ..
            } => {
                if !retrying {
                    transition = Transition::StoppedRetrying;
                }
                let changed = current_reason != reason || *current_retrying != retrying;
                if changed {
                    reason.clone_into(current_reason);
                    *current_retrying = retrying;
                }
                changed
            }
        });
        transition
    }

    /// Marks the log healthy again after a retried flush succeeded; true if it was failing
    /// with retries. A failure for good stays.
    pub(crate) fn recover(&self) -> bool {
        self.sender.send_if_modified(|health| match health {
            LogHealth::Failing { retrying: true, .. } => {
                *health = LogHealth::Healthy;
                true
            }
            _ => false,
        })
    }
}
