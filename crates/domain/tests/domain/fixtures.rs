//! Shared fixtures: the built-in registry, literal events for `given`, commands with valid
//! arguments for `when`, named histories reaching every status, and the lifecycle table of
//! `docs/product.md` encoded once as data (the oracle the decider is checked against).

use std::sync::OnceLock;

use gridledger_domain::IssueStatus::{Escalated, InDeliberation, InProgress, Reopened, Reported, Resolved};
use gridledger_domain::{
    AcceptAssignment, CategoryCode, CommandEnvelope, CommandKind, CommitteeDecisionRecorded, ConcludeDeliberation,
    ConveneDeliberation, DeliberationConcluded, DeliberationConvened, DepartmentName, DispatchIssue, EscalateIssue,
    EscalationReason, EvaluateResolution, EventType, Field, Forum, FreeText, GridCode, HandleInGrid, IssueCommand,
    IssueDispatched, IssueEscalated, IssueEvent, IssueEventBody, IssueHandledInGrid, IssueId, IssueReopened,
    IssueReported, IssueResolved, IssueState, IssueStatus, IssueTitle, IssueWithdrawn, MeetingId, MeetingParties,
    ParticipantCount, PersonId, RecordCommitteeDecision, Registry, ReopenIssue, ReportIssue, ResolutionEvaluated,
    ResolutionLevel, ResolveIssue, Satisfaction, SupportingDepartments, Timestamp, WithdrawIssue, WithdrawalReason,
};

/// 2026-11-27T02:59:00Z in microseconds.
pub const T0_MICROS: i64 = 1_795_748_340_000_000;
/// Minutes after T0 at which `when` commands happen (given events are earlier).
pub const WHEN_MINUTE: i64 = 1_000;
/// The grid every fixture issue is in.
pub const GRID: &str = "runzhou.s3.c07.g02";
/// The category every fixture issue has (48 h default deadline).
pub const CATEGORY: &str = "public-security";
/// Hours of [`CATEGORY`]'s default deadline.
pub const CATEGORY_DEADLINE_HOURS: i64 = 48;

/// T0 plus `minutes`.
pub fn at(minutes: i64) -> Timestamp {
    Timestamp::from_unix_micros(T0_MICROS + minutes * 60_000_000)
}

/// The deadline dispatches and committee decisions of `when` commands set (3 days on).
pub fn when_due_at() -> Timestamp {
    at(WHEN_MINUTE + 3 * 24 * 60)
}

/// The built-in registry, built once.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::builtin_runzhou)
}

/// The fixture issue's id.
pub fn issue_id() -> IssueId {
    IssueId::parse("0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506").expect("a valid issue id")
}

/// Another issue's id.
pub fn other_issue_id() -> IssueId {
    IssueId::parse("0192f3a4-5b6c-7d8e-9fa0-000000000002").expect("a valid issue id")
}

/// A person id.
pub fn person(id: &str) -> PersonId {
    PersonId::parse(Field::Reporter, id).expect("a valid person id")
}

/// A meeting id.
pub fn meeting(id: &str) -> MeetingId {
    MeetingId::parse(Field::Meeting, id).expect("a valid meeting id")
}

/// Free text.
pub fn text(value: &str) -> FreeText {
    FreeText::parse(Field::Description, value).expect("valid free text")
}

/// The fixture grid code.
pub fn grid() -> GridCode {
    GridCode::parse(GRID).expect("a valid grid code")
}

/// A category code.
pub fn category_code(code: &str) -> CategoryCode {
    CategoryCode::parse(code).expect("a valid category code")
}

fn title() -> IssueTitle {
    IssueTitle::parse("Broken street light").expect("a valid title")
}

fn lead_department() -> DepartmentName {
    DepartmentName::parse(Field::LeadDepartment, "district-housing-bureau").expect("a valid department")
}

fn supporting_departments() -> SupportingDepartments {
    SupportingDepartments::parse(["street-office", "power-company"]).expect("valid departments")
}

fn parties() -> MeetingParties {
    MeetingParties::parse(["residents-of-building-3", "property-company"]).expect("valid parties")
}

fn participants() -> ParticipantCount {
    ParticipantCount::new(23).expect("a valid count")
}

/// Given events: `bodies` at minutes 0, 10, 20, ...
pub fn history(bodies: Vec<IssueEventBody>) -> Vec<IssueEvent> {
    (0..)
        .zip(bodies)
        .map(|(index, body)| IssueEvent {
            occurred_at: at(index * 10),
            body,
        })
        .collect()
}

/// The report of the fixture issue (at minute 0, due 48 h later).
pub fn reported() -> IssueEventBody {
    IssueEventBody::IssueReported(IssueReported {
        issue_id: issue_id(),
        grid: grid(),
        category: category_code(CATEGORY),
        title: title(),
        description: text("The light at the gate has been out for a week."),
        reporter_id: person("grid-worker-7"),
        due_at: at(CATEGORY_DEADLINE_HOURS * 60),
        evidence: Default::default(),
        location: None,
    })
}

/// Handled on the spot.
pub fn handled_in_grid() -> IssueEventBody {
    IssueEventBody::IssueHandledInGrid(IssueHandledInGrid {
        summary: text("Replaced the bulb."),
        evidence: Default::default(),
        location: None,
    })
}

/// Dispatched to `assignee`, due [`when_due_at`].
pub fn dispatched(assignee: &str) -> IssueEventBody {
    IssueEventBody::IssueDispatched(IssueDispatched {
        assignee_id: person(assignee),
        due_at: when_due_at(),
    })
}

/// Accepted by `assignee`.
pub fn accepted(assignee: &str) -> IssueEventBody {
    IssueEventBody::AssignmentAccepted(gridledger_domain::AssignmentAccepted {
        assignee_id: person(assignee),
    })
}

/// Taken to meeting `meeting_id`.
pub fn convened(meeting_id: &str) -> IssueEventBody {
    IssueEventBody::DeliberationConvened(DeliberationConvened {
        meeting_id: meeting(meeting_id),
        forum: Forum::ResidentRepresentativeMeeting,
        parties: parties(),
    })
}

/// Meeting `meeting_id` concluded.
pub fn concluded(meeting_id: &str) -> IssueEventBody {
    IssueEventBody::DeliberationConcluded(DeliberationConcluded {
        meeting_id: meeting(meeting_id),
        participants: participants(),
        outcome: text("Agreed to share the repair cost."),
        minutes: text("Minutes of the meeting."),
    })
}

/// Escalated as cross-jurisdiction.
pub fn escalated() -> IssueEventBody {
    IssueEventBody::IssueEscalated(IssueEscalated {
        reason: EscalationReason::CrossJurisdiction,
        note: Some(text("The cable belongs to the power company.")),
    })
}

/// A committee decision, due [`when_due_at`].
pub fn committee_decision() -> IssueEventBody {
    IssueEventBody::CommitteeDecisionRecorded(CommitteeDecisionRecorded {
        decision: text("The housing bureau leads the repair."),
        lead_department: lead_department(),
        supporting_departments: supporting_departments(),
        due_at: when_due_at(),
    })
}

/// Resolved.
pub fn resolved() -> IssueEventBody {
    IssueEventBody::IssueResolved(IssueResolved {
        summary: text("Repaired."),
        evidence: Default::default(),
        location: None,
    })
}

/// Evaluated as satisfied.
pub fn evaluated() -> IssueEventBody {
    IssueEventBody::ResolutionEvaluated(ResolutionEvaluated {
        satisfaction: Satisfaction::Satisfied,
        evaluator_id: person("grid-worker-7"),
        comment: text("Residents are happy."),
    })
}

/// Reopened.
pub fn reopened() -> IssueEventBody {
    IssueEventBody::IssueReopened(IssueReopened {
        reason: text("The light failed again."),
    })
}

/// Withdrawn for `reason`.
pub fn withdrawn(reason: WithdrawalReason) -> IssueEventBody {
    IssueEventBody::IssueWithdrawn(IssueWithdrawn { reason })
}

/// A `when` envelope at [`WHEN_MINUTE`], with no explicit business time.
pub fn when(command: IssueCommand) -> CommandEnvelope {
    CommandEnvelope::new(at(WHEN_MINUTE), command)
}

/// An event at [`WHEN_MINUTE`] (what a `when` command emits).
pub fn then_event(body: IssueEventBody) -> IssueEvent {
    IssueEvent {
        occurred_at: at(WHEN_MINUTE),
        body,
    }
}

/// Reports the fixture issue (emits [`reported`] when it happens at minute 0).
pub fn report_command() -> IssueCommand {
    ReportIssue::new(
        registry(),
        issue_id(),
        grid(),
        &category_code(CATEGORY),
        title(),
        text("The light at the gate has been out for a week."),
        person("grid-worker-7"),
    )
    .expect("a registered grid and category")
    .into()
}

/// Emits [`handled_in_grid`].
pub fn handle_in_grid_command() -> IssueCommand {
    HandleInGrid {
        summary: text("Replaced the bulb."),
        evidence: Default::default(),
        location: None,
    }
    .into()
}

/// Emits [`dispatched`].
pub fn dispatch_command(assignee: &str) -> IssueCommand {
    DispatchIssue {
        assignee_id: person(assignee),
        due_at: when_due_at(),
    }
    .into()
}

/// Emits [`accepted`].
pub fn accept_command(assignee: &str) -> IssueCommand {
    AcceptAssignment {
        assignee_id: person(assignee),
    }
    .into()
}

/// Emits [`convened`].
pub fn convene_command(meeting_id: &str) -> IssueCommand {
    ConveneDeliberation {
        meeting_id: meeting(meeting_id),
        forum: Forum::ResidentRepresentativeMeeting,
        parties: parties(),
    }
    .into()
}

/// Emits [`concluded`].
pub fn conclude_command(meeting_id: &str) -> IssueCommand {
    ConcludeDeliberation {
        meeting_id: meeting(meeting_id),
        participants: participants(),
        outcome: text("Agreed to share the repair cost."),
        minutes: text("Minutes of the meeting."),
    }
    .into()
}

/// Emits [`escalated`].
pub fn escalate_command() -> IssueCommand {
    EscalateIssue {
        reason: EscalationReason::CrossJurisdiction,
        note: Some(text("The cable belongs to the power company.")),
    }
    .into()
}

/// Emits [`committee_decision`].
pub fn committee_decision_command() -> IssueCommand {
    RecordCommitteeDecision {
        decision: text("The housing bureau leads the repair."),
        lead_department: lead_department(),
        supporting_departments: supporting_departments(),
        due_at: when_due_at(),
    }
    .into()
}

/// Emits [`resolved`].
pub fn resolve_command() -> IssueCommand {
    ResolveIssue {
        summary: text("Repaired."),
        evidence: Default::default(),
        location: None,
    }
    .into()
}

/// Emits [`evaluated`].
pub fn evaluate_command() -> IssueCommand {
    EvaluateResolution {
        satisfaction: Satisfaction::Satisfied,
        evaluator_id: person("grid-worker-7"),
        comment: text("Residents are happy."),
    }
    .into()
}

/// Emits [`reopened`].
pub fn reopen_command() -> IssueCommand {
    ReopenIssue {
        reason: text("The light failed again."),
    }
    .into()
}

/// Emits [`withdrawn`].
pub fn withdraw_command(reason: WithdrawalReason) -> IssueCommand {
    WithdrawIssue { reason }.into()
}

/// A command of `kind` whose arguments suit `state` (the open assignment's assignee, the
/// open meeting), so only the lifecycle table decides whether it is accepted.
pub fn command_of_kind(kind: CommandKind, state: &IssueState) -> IssueCommand {
    let issue = state.issue();
    match kind {
        CommandKind::ReportIssue => report_command(),
        CommandKind::HandleInGrid => handle_in_grid_command(),
        CommandKind::DispatchIssue => dispatch_command("ann"),
        CommandKind::AcceptAssignment => {
            let assignee = issue
                .and_then(|issue| issue.assignment.as_ref())
                .map_or("ann", |assignment| assignment.assignee_id.as_str());
            accept_command(assignee)
        }
        CommandKind::ConveneDeliberation => convene_command("m1"),
        CommandKind::ConcludeDeliberation => {
            let meeting_id = issue
                .and_then(|issue| issue.open_meeting_id.as_ref())
                .map_or("m1", |meeting_id| meeting_id.as_str());
            conclude_command(meeting_id)
        }
        CommandKind::EscalateIssue => escalate_command(),
        CommandKind::RecordCommitteeDecision => committee_decision_command(),
        CommandKind::ResolveIssue => resolve_command(),
        CommandKind::EvaluateResolution => evaluate_command(),
        CommandKind::ReopenIssue => reopen_command(),
        CommandKind::WithdrawIssue => withdraw_command(WithdrawalReason::ReporterWithdrew),
    }
}

/// Named histories reaching every status, and every state condition of the table.
pub fn scenarios() -> Vec<(&'static str, Vec<IssueEvent>)> {
    let duplicate = WithdrawalReason::Duplicate {
        duplicate_of: other_issue_id(),
    };
    vec![
        ("absent", vec![]),
        ("reported", history(vec![reported()])),
        (
            "in progress, assignment not accepted",
            history(vec![reported(), dispatched("ann")]),
        ),
        (
            "in progress, assignment accepted",
            history(vec![reported(), dispatched("ann"), accepted("ann")]),
        ),
        (
            "in progress after a deliberation, no assignment",
            history(vec![reported(), convened("m1"), concluded("m1")]),
        ),
        (
            "in progress after a deliberation, assignment not accepted",
            history(vec![reported(), dispatched("bob"), convened("m2"), concluded("m2")]),
        ),
        ("in deliberation", history(vec![reported(), convened("m1")])),
        ("escalated, no decision", history(vec![reported(), escalated()])),
        (
            "escalated after a decision",
            history(vec![reported(), escalated(), committee_decision()]),
        ),
        (
            "escalated from in progress",
            history(vec![reported(), dispatched("ann"), escalated()]),
        ),
        (
            "resolved in grid, not evaluated",
            history(vec![reported(), handled_in_grid()]),
        ),
        (
            "resolved by community, evaluated",
            history(vec![reported(), resolved(), evaluated()]),
        ),
        (
            "resolved by committee",
            history(vec![reported(), escalated(), committee_decision(), resolved()]),
        ),
        (
            "reopened",
            history(vec![reported(), resolved(), evaluated(), reopened()]),
        ),
        (
            "reopened after a committee resolution",
            history(vec![
                reported(),
                escalated(),
                committee_decision(),
                resolved(),
                reopened(),
            ]),
        ),
        (
            "resolved again after a reopen, not evaluated in this cycle",
            history(vec![reported(), resolved(), evaluated(), reopened(), resolved()]),
        ),
        (
            "escalated again after a reopen, no decision in this cycle",
            history(vec![
                reported(),
                escalated(),
                committee_decision(),
                resolved(),
                reopened(),
                escalated(),
            ]),
        ),
        (
            "withdrawn",
            history(vec![reported(), withdrawn(WithdrawalReason::ReporterWithdrew)]),
        ),
        (
            "withdrawn during a deliberation",
            history(vec![reported(), convened("m1"), withdrawn(duplicate)]),
        ),
    ]
}

/// When a row's command is allowed, beyond the issue's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// No further condition.
    None,
    /// There is an assignment that has not been accepted.
    UnacceptedAssignment,
    /// From ESCALATED only after a committee decision in this cycle.
    CommitteeDecisionInCycleWhenEscalated,
    /// The resolution of this cycle has not been evaluated.
    NotEvaluatedInCycle,
}

/// The resolution level a row leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelAfter {
    /// No resolution level (the issue is not RESOLVED).
    None,
    /// GRID.
    Grid,
    /// COMMITTEE if escalated in this cycle, else COMMUNITY.
    CommitteeIfEscalatedElseCommunity,
    /// The level the issue already had.
    Unchanged,
}

/// One row of the lifecycle table of `docs/product.md`.
#[derive(Debug, Clone, Copy)]
pub struct LifecycleRow {
    /// The command.
    pub command: CommandKind,
    /// Whether it is allowed while the issue is absent.
    pub allowed_when_absent: bool,
    /// The statuses it is allowed in.
    pub allowed_statuses: &'static [IssueStatus],
    /// The further condition on the state.
    pub condition: Condition,
    /// The event it emits.
    pub event: EventType,
    /// The status after.
    pub status_after: IssueStatus,
    /// The resolution level after.
    pub level_after: LevelAfter,
}

const fn row(
    command: CommandKind,
    allowed_statuses: &'static [IssueStatus],
    condition: Condition,
    event: EventType,
    status_after: IssueStatus,
    level_after: LevelAfter,
) -> LifecycleRow {
    LifecycleRow {
        command,
        allowed_when_absent: false,
        allowed_statuses,
        condition,
        event,
        status_after,
        level_after,
    }
}

/// The lifecycle table of `docs/product.md`, row by row.
pub const LIFECYCLE_TABLE: [LifecycleRow; 12] = [
    LifecycleRow {
        command: CommandKind::ReportIssue,
        allowed_when_absent: true,
        allowed_statuses: &[],
        condition: Condition::None,
        event: EventType::IssueReported,
        status_after: Reported,
        level_after: LevelAfter::None,
    },
    row(
        CommandKind::HandleInGrid,
        &[Reported, Reopened],
        Condition::None,
        EventType::IssueHandledInGrid,
        Resolved,
        LevelAfter::Grid,
    ),
    row(
        CommandKind::DispatchIssue,
        &[Reported, Reopened, InProgress],
        Condition::None,
        EventType::IssueDispatched,
        InProgress,
        LevelAfter::None,
    ),
    row(
        CommandKind::AcceptAssignment,
        &[InProgress],
        Condition::UnacceptedAssignment,
        EventType::AssignmentAccepted,
        InProgress,
        LevelAfter::None,
    ),
    row(
        CommandKind::ConveneDeliberation,
        &[Reported, Reopened, InProgress],
        Condition::None,
        EventType::DeliberationConvened,
        InDeliberation,
        LevelAfter::None,
    ),
    row(
        CommandKind::ConcludeDeliberation,
        &[InDeliberation],
        Condition::None,
        EventType::DeliberationConcluded,
        InProgress,
        LevelAfter::None,
    ),
    row(
        CommandKind::EscalateIssue,
        &[Reported, Reopened, InProgress],
        Condition::None,
        EventType::IssueEscalated,
        Escalated,
        LevelAfter::None,
    ),
    row(
        CommandKind::RecordCommitteeDecision,
        &[Escalated],
        Condition::None,
        EventType::CommitteeDecisionRecorded,
        Escalated,
        LevelAfter::None,
    ),
    row(
        CommandKind::ResolveIssue,
        &[Reported, Reopened, InProgress, Escalated],
        Condition::CommitteeDecisionInCycleWhenEscalated,
        EventType::IssueResolved,
        Resolved,
        LevelAfter::CommitteeIfEscalatedElseCommunity,
    ),
    row(
        CommandKind::EvaluateResolution,
        &[Resolved],
        Condition::NotEvaluatedInCycle,
        EventType::ResolutionEvaluated,
        Resolved,
        LevelAfter::Unchanged,
    ),
    row(
        CommandKind::ReopenIssue,
        &[Resolved],
        Condition::None,
        EventType::IssueReopened,
        Reopened,
        LevelAfter::None,
    ),
    row(
        CommandKind::WithdrawIssue,
        &[Reported, InProgress, InDeliberation, Escalated, Reopened],
        Condition::None,
        EventType::IssueWithdrawn,
        IssueStatus::Withdrawn,
        LevelAfter::None,
    ),
];

/// The table's row for `command`.
pub fn table_row(command: CommandKind) -> LifecycleRow {
    LIFECYCLE_TABLE
        .iter()
        .copied()
        .find(|row| row.command == command)
        .expect("the table has a row for every command")
}

/// Whether the table allows `command` in `state`.
pub fn table_allows(state: &IssueState, command: CommandKind) -> bool {
    let row = table_row(command);
    let Some(issue) = state.issue() else {
        return row.allowed_when_absent;
    };
    if !row.allowed_statuses.contains(&issue.status) {
        return false;
    }
    match row.condition {
        Condition::None => true,
        Condition::UnacceptedAssignment => issue.assignment.as_ref().is_some_and(|assignment| !assignment.accepted),
        Condition::CommitteeDecisionInCycleWhenEscalated => {
            issue.status != Escalated || issue.committee_decision_in_cycle
        }
        Condition::NotEvaluatedInCycle => !issue.evaluated_in_cycle,
    }
}

/// Every command the table allows in `state`, in table order.
pub fn table_allowed_commands(state: &IssueState) -> Vec<CommandKind> {
    LIFECYCLE_TABLE
        .iter()
        .map(|row| row.command)
        .filter(|command| table_allows(state, *command))
        .collect()
}

/// The resolution level the table expects after `row` was applied to `before`, given
/// whether the issue is escalated in the cycle afterwards.
pub fn expected_level_after(
    row: LifecycleRow,
    level_before: Option<ResolutionLevel>,
    escalated_in_cycle: bool,
) -> Option<ResolutionLevel> {
    match row.level_after {
        LevelAfter::None => None,
        LevelAfter::Grid => Some(ResolutionLevel::Grid),
        LevelAfter::CommitteeIfEscalatedElseCommunity => Some(if escalated_in_cycle {
            ResolutionLevel::Committee
        } else {
            ResolutionLevel::Community
        }),
        LevelAfter::Unchanged => level_before,
    }
}
