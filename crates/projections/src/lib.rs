//! Governance statistics of gridledger: folds of the log, incremental while running, checkpointed, rebuildable, as of any past instant.
//!
//! [`GovernanceProjection`] keeps, per issue, the few facts the figures need
//! ([`IssueFacts`]) and, per deliberation meeting, when it concluded and with how many
//! participants. It is fed events in log order ([`GovernanceProjection::apply`]), saves
//! what changed together with the log position into the log database's projection store
//! ([`GovernanceProjection::save`]), reloads from there without replaying the log
//! ([`GovernanceProjection::load`]), and can be rebuilt from position 1
//! ([`GovernanceProjection::replay`]) with the same result. [`GovernanceProjection::stats`]
//! and [`GovernanceProjection::breakdown`] compute every figure of `docs/metrics.md` for a scope,
//! category and period; figures "as of" a past instant come from a projection replayed up
//! to the log position of that instant. Definitions: `docs/metrics.md`.

#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod aggregates;
mod error;
mod facts;
mod histogram;
mod projection;
mod stats;

pub use error::ProjectionError;
pub use facts::{IssueFacts, MeetingFacts};
pub use histogram::DurationHistogram;
pub use projection::{CHECKPOINT_NAME, GovernanceProjection, IssueListFilter};
pub use stats::{GovernanceStats, GroupBy, PartialStats, StatsQuery};
