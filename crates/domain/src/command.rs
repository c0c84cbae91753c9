//! Commands of the issue lifecycle (`docs/product.md`): one struct per command, the
//! [`IssueCommand`] enum over them, their stable [`CommandKind`] names, and the
//! [`CommandEnvelope`] carrying the caller's clock and business time into [`crate::decide()`].

use serde::{Deserialize, Serialize};

use crate::category::{Category, CategoryCode};
use crate::error::DomainError;
use crate::evidence::{EvidenceList, EvidenceRef};
use crate::issue::{EscalationReason, Forum, IssueId, Satisfaction, WithdrawalReason};
use crate::jurisdiction::GridCode;
use crate::location::Location;
use crate::registry::Registry;
use crate::stable_name::enum_with_stable_names;
use crate::text::{
    DepartmentName, FreeText, IssueTitle, MeetingId, MeetingParties, ParticipantCount, PersonId, SupportingDepartments,
};
use crate::time::Timestamp;

enum_with_stable_names! {
    /// The kind of a command, with its stable name (`ResolveIssue`). Declared in the order
    /// of the lifecycle table.
    pub enum CommandKind {
        /// [`ReportIssue`].
        ReportIssue => "ReportIssue",
        /// [`HandleInGrid`].
        HandleInGrid => "HandleInGrid",
        /// [`DispatchIssue`].
        DispatchIssue => "DispatchIssue",
        /// [`AcceptAssignment`].
        AcceptAssignment => "AcceptAssignment",
        /// [`ConveneDeliberation`].
        ConveneDeliberation => "ConveneDeliberation",
        /// [`ConcludeDeliberation`].
        ConcludeDeliberation => "ConcludeDeliberation",
        /// [`EscalateIssue`].
        EscalateIssue => "EscalateIssue",
        /// [`RecordCommitteeDecision`].
        RecordCommitteeDecision => "RecordCommitteeDecision",
        /// [`ResolveIssue`].
        ResolveIssue => "ResolveIssue",
        /// [`EvaluateResolution`].
        EvaluateResolution => "EvaluateResolution",
        /// [`ReopenIssue`].
        ReopenIssue => "ReopenIssue",
        /// [`WithdrawIssue`].
        WithdrawIssue => "WithdrawIssue",
    }
}

/// A grid worker reports a new issue in a registered grid and category.
///
/// Built only by [`ReportIssue::new`], which checks the grid and category against a
/// [`Registry`] and keeps the category's default deadline, so `decide` can set `due_at`
/// without a registry. (Deserializing one checks field formats but not the registry.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportIssue {
    issue_id: IssueId,
    grid: GridCode,
    category: Category,
    title: IssueTitle,
    description: FreeText,
    reporter_id: PersonId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    location: Option<Location>,
    #[serde(default, skip_serializing_if = "EvidenceList::is_empty")]
    evidence: EvidenceList,
}

impl ReportIssue {
    /// Builds the command if `grid` and `category` are registered; otherwise the
    /// registry's own lookup error ([`crate::RegistryError::UnknownJurisdiction`] or
    /// [`crate::RegistryError::UnknownCategory`]) as [`DomainError::Registry`].
    pub fn new(
        registry: &Registry,
        issue_id: IssueId,
        grid: GridCode,
        category: &CategoryCode,
        title: IssueTitle,
        description: FreeText,
        reporter_id: PersonId,
    ) -> Result<Self, DomainError> {
        registry.grid(&grid)?;
        let category = registry.category(category)?.clone();
        Ok(Self {
            issue_id,
            grid,
            category,
            title,
            description,
            reporter_id,
            location: None,
            evidence: EvidenceList::none(),
        })
    }

    /// The same report made at `location`, which must lie within the bounding box the
    /// registry gives the grid's district, if it gives one ([`Registry::check_location`]).
    pub fn with_location(mut self, registry: &Registry, location: Location) -> Result<Self, DomainError> {
        registry.check_location(&self.grid, &location)?;
        self.location = Some(location);
        Ok(self)
    }

    /// The same report with photos and videos of the problem.
    pub fn with_evidence(mut self, evidence: EvidenceList) -> Self {
        self.evidence = evidence;
        self
    }

    /// Where it was reported, if the app said.
    pub fn location(&self) -> Option<&Location> {
        self.location.as_ref()
    }

    /// The photos and videos of the problem.
    pub fn evidence(&self) -> &EvidenceList {
        &self.evidence
    }

    /// The new issue's id.
    pub fn issue_id(&self) -> IssueId {
        self.issue_id
    }

    /// The grid the issue is in.
    pub fn grid(&self) -> &GridCode {
        &self.grid
    }

    /// The issue's category, with its default handling deadline.
    pub fn category(&self) -> &Category {
        &self.category
    }

    /// The title.
    pub fn title(&self) -> &IssueTitle {
        &self.title
    }

    /// The description.
    pub fn description(&self) -> &FreeText {
        &self.description
    }

    /// Who reported it.
    pub fn reporter_id(&self) -> &PersonId {
        &self.reporter_id
    }
}

/// The grid worker handles the issue on the spot; it is resolved at level GRID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandleInGrid {
    /// What was done.
    pub summary: FreeText,
    /// Where it was done, if the app said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Photos and videos of the fix.
    #[serde(default, skip_serializing_if = "EvidenceList::is_empty")]
    pub evidence: EvidenceList,
}

/// The community dispatches the issue to a responder, due at `due_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchIssue {
    /// Who is to handle it.
    pub assignee_id: PersonId,
    /// The new deadline; must be after the command's `occurred_at`.
    pub due_at: Timestamp,
}

/// The assignee accepts the open assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptAssignment {
    /// Who accepts; must be the assignee of the open assignment.
    pub assignee_id: PersonId,
}

/// The community takes the issue to a deliberation or consultation meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConveneDeliberation {
    /// The meeting (one meeting may take up several issues).
    pub meeting_id: MeetingId,
    /// The kind of meeting.
    pub forum: Forum,
    /// The parties invited.
    pub parties: MeetingParties,
}

/// The meeting the issue was taken to has concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcludeDeliberation {
    /// The meeting; must be the issue's open meeting.
    pub meeting_id: MeetingId,
    /// How many residents took part.
    pub participants: ParticipantCount,
    /// What was agreed.
    pub outcome: FreeText,
    /// The minutes.
    pub minutes: FreeText,
}

/// The community escalates the issue to the district guidance committee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalateIssue {
    /// Why.
    pub reason: EscalationReason,
    /// An optional explanation.
    pub note: Option<FreeText>,
}

/// The committee records a coordination decision across departments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordCommitteeDecision {
    /// What was decided.
    pub decision: FreeText,
    /// The department in charge.
    pub lead_department: DepartmentName,
    /// The departments supporting it.
    pub supporting_departments: SupportingDepartments,
    /// The new deadline; must be after the command's `occurred_at`.
    pub due_at: Timestamp,
}

/// The issue is resolved (at the level [`crate::ResolutionLevel::of_resolution`] gives:
/// COMMITTEE if escalated in this cycle, else COMMUNITY).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveIssue {
    /// What was done.
    pub summary: FreeText,
    /// Where the fix happened, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Photos and videos of the fix.
    #[serde(default, skip_serializing_if = "EvidenceList::is_empty")]
    pub evidence: EvidenceList,
}

/// Residents evaluate the resolution (once per cycle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluateResolution {
    /// How satisfied they are.
    pub satisfaction: Satisfaction,
    /// Who recorded the evaluation.
    pub evaluator_id: PersonId,
    /// Remarks.
    pub comment: FreeText,
}

/// A resolved issue is reopened; a new cycle begins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReopenIssue {
    /// Why.
    pub reason: FreeText,
}

/// The issue is withdrawn (terminal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawIssue {
    /// Why; a duplicate must name a different issue.
    pub reason: WithdrawalReason,
}

/// Any command of the issue lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command")]
pub enum IssueCommand {
    /// See [`ReportIssue`].
    ReportIssue(ReportIssue),
    /// See [`HandleInGrid`].
    HandleInGrid(HandleInGrid),
    /// See [`DispatchIssue`].
    DispatchIssue(DispatchIssue),
    /// See [`AcceptAssignment`].
    AcceptAssignment(AcceptAssignment),
    /// See [`ConveneDeliberation`].
    ConveneDeliberation(ConveneDeliberation),
    /// See [`ConcludeDeliberation`].
    ConcludeDeliberation(ConcludeDeliberation),
    /// See [`EscalateIssue`].
    EscalateIssue(EscalateIssue),
    /// See [`RecordCommitteeDecision`].
    RecordCommitteeDecision(RecordCommitteeDecision),
    /// See [`ResolveIssue`].
    ResolveIssue(ResolveIssue),
    /// See [`EvaluateResolution`].
    EvaluateResolution(EvaluateResolution),
    /// See [`ReopenIssue`].
    ReopenIssue(ReopenIssue),
    /// See [`WithdrawIssue`].
    WithdrawIssue(WithdrawIssue),
}

impl IssueCommand {
    /// The command's kind.
    pub const fn kind(&self) -> CommandKind {
        match self {
            IssueCommand::ReportIssue(_) => CommandKind::ReportIssue,
            IssueCommand::HandleInGrid(_) => CommandKind::HandleInGrid,
            IssueCommand::DispatchIssue(_) => CommandKind::DispatchIssue,
            IssueCommand::AcceptAssignment(_) => CommandKind::AcceptAssignment,
            IssueCommand::ConveneDeliberation(_) => CommandKind::ConveneDeliberation,
            IssueCommand::ConcludeDeliberation(_) => CommandKind::ConcludeDeliberation,
            IssueCommand::EscalateIssue(_) => CommandKind::EscalateIssue,
            IssueCommand::RecordCommitteeDecision(_) => CommandKind::RecordCommitteeDecision,
            IssueCommand::ResolveIssue(_) => CommandKind::ResolveIssue,
            IssueCommand::EvaluateResolution(_) => CommandKind::EvaluateResolution,
            IssueCommand::ReopenIssue(_) => CommandKind::ReopenIssue,
            IssueCommand::WithdrawIssue(_) => CommandKind::WithdrawIssue,
        }
    }

    /// The location the command carries (a report, a handling in the grid, a resolution).
    pub fn location(&self) -> Option<&Location> {
        match self {
            IssueCommand::ReportIssue(report) => report.location(),
            IssueCommand::HandleInGrid(handle) => handle.location.as_ref(),
            IssueCommand::ResolveIssue(resolve) => resolve.location.as_ref(),
            _ => None,
        }
    }

    /// The photos and videos the command references (none for most commands).
    pub fn evidence(&self) -> &[EvidenceRef] {
        match self {
            IssueCommand::ReportIssue(report) => report.evidence().entries(),
            IssueCommand::HandleInGrid(handle) => handle.evidence.entries(),
            IssueCommand::ResolveIssue(resolve) => resolve.evidence.entries(),
            _ => &[],
        }
    }
}

/// A command with the context `decide` needs and may not look up itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandEnvelope {
    /// The server's clock when the command arrived.
    pub now: Timestamp,
    /// The business time the client claims (offline apps report late); `None` means
    /// `now`. Must not be more than [`crate::time::MAX_CLOCK_SKEW`] after `now`, nor before
    /// the issue's report.
    pub occurred_at: Option<Timestamp>,
    /// The command.
    pub command: IssueCommand,
}

impl CommandEnvelope {
    /// A command that happened `now`.
    pub fn new(now: Timestamp, command: IssueCommand) -> Self {
        Self {
            now,
            occurred_at: None,
            command,
        }
    }

    /// The same command with an explicit business time.
    pub fn with_occurred_at(mut self, occurred_at: Timestamp) -> Self {
        self.occurred_at = Some(occurred_at);
        self
    }

    /// The business time: `occurred_at`, or `now` if absent.
    pub fn effective_occurred_at(&self) -> Timestamp {
        self.occurred_at.unwrap_or(self.now)
    }
}

impl From<ReportIssue> for IssueCommand {
    fn from(command: ReportIssue) -> Self {
        IssueCommand::ReportIssue(command)
    }
}

impl From<HandleInGrid> for IssueCommand {
    fn from(command: HandleInGrid) -> Self {
        IssueCommand::HandleInGrid(command)
    }
}

impl From<DispatchIssue> for IssueCommand {
    fn from(command: DispatchIssue) -> Self {
        IssueCommand::DispatchIssue(command)
    }
}

impl From<AcceptAssignment> for IssueCommand {
    fn from(command: AcceptAssignment) -> Self {
        IssueCommand::AcceptAssignment(command)
    }
}

impl From<ConveneDeliberation> for IssueCommand {
    fn from(command: ConveneDeliberation) -> Self {
        IssueCommand::ConveneDeliberation(command)
    }
}

impl From<ConcludeDeliberation> for IssueCommand {
    fn from(command: ConcludeDeliberation) -> Self {
        IssueCommand::ConcludeDeliberation(command)
    }
}

impl From<EscalateIssue> for IssueCommand {
    fn from(command: EscalateIssue) -> Self {
        IssueCommand::EscalateIssue(command)
    }
}

impl From<RecordCommitteeDecision> for IssueCommand {
    fn from(command: RecordCommitteeDecision) -> Self {
        IssueCommand::RecordCommitteeDecision(command)
    }
}

impl From<ResolveIssue> for IssueCommand {
    fn from(command: ResolveIssue) -> Self {
        IssueCommand::ResolveIssue(command)
    }
}

impl From<EvaluateResolution> for IssueCommand {
    fn from(command: EvaluateResolution) -> Self {
        IssueCommand::EvaluateResolution(command)
    }
}

impl From<ReopenIssue> for IssueCommand {
    fn from(command: ReopenIssue) -> Self {
        IssueCommand::ReopenIssue(command)
    }
}

impl From<WithdrawIssue> for IssueCommand {
    fn from(command: WithdrawIssue) -> Self {
        IssueCommand::WithdrawIssue(command)
    }
}
