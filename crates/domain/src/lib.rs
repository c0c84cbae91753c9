//! Pure domain of gridledger: jurisdictions, categories, commands, events and the issue
//! decider (the lifecycle and jurisdictions of `docs/product.md`, the events of
//! `docs/events.md`).
//!
//! - [`jurisdiction`]: validated codes (`runzhou.s3.c07.g02`) and their levels.
//! - [`category`] and [`registry`]: categories with default deadlines; the registry file
//!   format, its validation and the built-in synthetic Runzhou registry.
//! - [`issue`], [`command`], [`event`], [`state`]: the issue lifecycle's vocabulary.
//! - [`decide()`] holds every business rule; [`evolve`] and [`fold`] only fold events.
//!   The rules a read model needs without an [`Issue`] are public once, here:
//!   [`IssueStatus::is_open`], [`ResolutionLevel::of_resolution`],
//!   [`IssueEventBody::status_after`], [`IssueEventBody::resolution_level`],
//!   [`IssueEventBody::new_due_at`], [`IssueEventBody::escalated_in_cycle_after`] and
//!   [`Satisfaction::counts_as_satisfied`] (the figures built on them: `docs/metrics.md`).
//! - [`text`] and [`time`]: validated field values and microsecond timestamps; a refused
//!   value is a [`DomainError::InvalidField`] naming its [`Field`], a domain concept (the
//!   `api` crate maps it to the wire field). An error quotes a refused value only through
//!   [`quote_for_message`], so no message carries an unbounded input.
//!
//! Nothing here performs I/O or reads a clock: the server's clock comes in through
//! [`CommandEnvelope::now`], and ids are chosen by callers.

pub mod category;
pub mod command;
pub mod decide;
pub mod error;
pub mod event;
pub mod evidence;
pub mod field;
pub mod issue;
pub mod jurisdiction;
pub mod location;
pub mod quote;
pub mod registry;
mod stable_name;
pub mod state;
mod string_newtype;
pub mod text;
pub mod time;
pub mod time_zone;

pub use category::{Category, CategoryCode};
pub use command::{
    AcceptAssignment, CommandEnvelope, CommandKind, ConcludeDeliberation, ConveneDeliberation, DispatchIssue,
    EscalateIssue, EvaluateResolution, HandleInGrid, IssueCommand, RecordCommitteeDecision, ReopenIssue, ReportIssue,
    ResolveIssue, WithdrawIssue,
};
pub use decide::{allowed_commands, decide, is_command_allowed};
pub use error::{DomainError, DomainErrorKind, OccurredAtProblem};
pub use event::{
    AssignmentAccepted, CommitteeDecisionRecorded, DeliberationConcluded, DeliberationConvened, EventType,
    IssueDispatched, IssueEscalated, IssueEvent, IssueEventBody, IssueHandledInGrid, IssueReopened, IssueReported,
    IssueResolved, IssueWithdrawn, ResolutionEvaluated,
};
pub use evidence::{
    EvidenceList, EvidenceMediaType, EvidenceRef, MAX_EVIDENCE_BYTES, MAX_EVIDENCE_BYTES_PER_COMMAND,
    MAX_EVIDENCE_PER_COMMAND, Sha256Digest,
};
pub use field::Field;
pub use issue::{EscalationReason, Forum, IssueId, IssueStatus, ResolutionLevel, Satisfaction, WithdrawalReason};
pub use jurisdiction::{
    CommunityCode, DistrictCode, GridCode, InvalidCodeError, JurisdictionCode, JurisdictionLevel, StreetCode,
};
pub use location::{
    BOUNDING_BOX_MARGIN_DEGREES, BoundingBox, BoundingBoxFields, CoordinateSystem, InvalidBoundingBox, Location,
    LocationFields, MAX_ADDRESS_CHARS,
};
pub use quote::{MAX_QUOTED_CHARS, quote_for_message};
pub use registry::{Community, DisplayName, District, Grid, Registry, RegistryDocument, RegistryError, Street};
pub use state::{Assignment, Evaluation, Issue, IssueState, evolve, fold};
pub use text::{
    DepartmentName, FreeText, IssueTitle, MAX_PARTICIPANTS, MeetingId, MeetingParties, ParticipantCount, PartyName,
    PersonId, SupportingDepartments,
};
pub use time::{
    DurationMicros, EARLIEST_BUSINESS_TIME, MAX_CLOCK_SKEW, MAX_DEADLINE_HORIZON, MAX_DEADLINE_HORIZON_DAYS, Timestamp,
};
pub use time_zone::{DistrictTimeZone, local_month_start, local_year_month};
