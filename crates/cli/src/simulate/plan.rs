//! The planner, pure: from a profile and a seed, every issue's walk as domain commands
//! (ids, request ids, business times, meetings), with the profile's figures fixed by
//! construction whatever the seed; the seed only chooses which issues, grids, categories,
//! dates, paths and orders. The status each command leads to is the domain's: the plan is
//! run through `decide` and `evolve` as it is made.

use std::collections::BTreeSet;

use anyhow::Context;
use gridledger_api::CommandMeta;
use gridledger_domain::{
    AcceptAssignment, CategoryCode, CommandEnvelope, CommunityCode, ConcludeDeliberation, ConveneDeliberation,
    DepartmentName, DispatchIssue, DomainError, EscalateIssue, EvaluateResolution, Field, Forum, FreeText, GridCode,
    HandleInGrid, IssueCommand, IssueId, IssueState, IssueStatus, IssueTitle, MeetingId, MeetingParties,
    ParticipantCount, PersonId, RecordCommitteeDecision, Registry, ReopenIssue, ReportIssue, ResolveIssue,
    SupportingDepartments, Timestamp, WithdrawIssue, decide, evolve,
};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};

use super::profile::{MEETING_PARTIES, PlannedCategory, Profile, ProfileTargets};
use super::walk::{
    DAYS_REPORTED_BEFORE_MEETING, FIRST_REPORT_DAY, IssueDraft, LAST_REPORT_DAY, LATE_MEETING_DAYS,
    LATEST_COMMAND_SECONDS, MICROS_PER_SECOND, Step,
};
use crate::args::WithdrawalKind;

/// One issue's complete, pre-planned walk.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuePlan {
    /// Position in the plan (issues are numbered in the order they are reported).
    pub issue_index: usize,
    /// The issue's id, chosen by the client: a UUIDv7 whose time is the report's business
    /// time and whose other bits come from the seed and the issue index.
    pub issue_id: IssueId,
    /// The grid it is reported in.
    pub grid: GridCode,
    /// Its category.
    pub category: CategoryCode,
    /// The path it takes, e.g. `deliberated`, `handled_in_grid`, `withdrawn`.
    pub path: &'static str,
    /// Its commands, in order; the first is the report.
    pub commands: Vec<PlannedCommand>,
}

/// One planned command of an issue.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCommand {
    /// Position in the issue's walk (0 = the report).
    pub step: usize,
    /// The request id (`sim-{seed}-{issue_index}-{step}`, the idempotency key) and the
    /// business time.
    pub meta: CommandMeta,
    /// The command, for the plan's issue.
    pub command: IssueCommand,
    /// The issue's status after the command, as the domain decides it.
    pub expected_status_after: IssueStatus,
}

impl PlannedCommand {
    /// The business time (every planned command has one).
    pub fn occurred_at(&self) -> Timestamp {
        self.meta.occurred_at.unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

/// The registry as the planner uses it: codes by index.
#[derive(Debug)]
pub(super) struct PlanningRegistry {
    pub(super) grid_codes: Vec<GridCode>,
    pub(super) community_of_grid: Vec<usize>,
    pub(super) community_codes: Vec<CommunityCode>,
    grids_of_community: Vec<Vec<usize>>,
    pub(super) categories: Vec<PlannedCategory>,
    total_category_weight: u32,
}

impl PlanningRegistry {
    fn new(registry: &Registry, categories: Vec<PlannedCategory>) -> Self {
        let community_codes: Vec<CommunityCode> = registry
            .communities()
            .iter()
            .map(|community| community.code.clone())
            .collect();
        let mut grid_codes = Vec::new();
        let mut community_of_grid = Vec::new();
        let mut grids_of_community = vec![Vec::new(); community_codes.len()];
        for grid in registry.grids() {
            // A validated registry registers every grid's community.
            let Some(community_index) = community_codes.iter().position(|code| *code == grid.code.community()) else {
                continue;
            };
            grids_of_community[community_index].push(grid_codes.len());
            community_of_grid.push(community_index);
            grid_codes.push(grid.code.clone());
        }
        let total_category_weight = categories.iter().map(|category| category.profile.weight).sum();
        Self {
            grid_codes,
            community_of_grid,
            community_codes,
            grids_of_community,
            categories,
            total_category_weight,
        }
    }

    /// A category's default deadline, in seconds.
    pub(super) fn deadline_seconds(&self, category_index: usize) -> i64 {
        self.categories[category_index].default_deadline.as_micros() / MICROS_PER_SECOND
    }

    pub(super) fn random_grid(&self, random: &mut StdRng) -> usize {
        random.random_range(0..self.grid_codes.len())
    }

    pub(super) fn random_grid_of_community(&self, random: &mut StdRng, community_index: usize) -> usize {
        self.grids_of_community[community_index]
            .choose(random)
            .copied()
            .unwrap_or_else(|| self.random_grid(random))
    }

    pub(super) fn random_category(&self, random: &mut StdRng) -> usize {
        let mut remaining = random.random_range(0..self.total_category_weight.max(1));
        for (index, category) in self.categories.iter().enumerate() {
            if remaining < category.profile.weight {
                return index;
            }
            remaining -= category.profile.weight;
        }
        0
    }
}

/// The path an issue takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IssuePath {
    HandledInGrid,
    DispatchedAndResolved,
    EscalatedAndResolved,
    Deliberated {
        meeting_index: usize,
    },
    OpenReported,
    OpenDispatched,
    Withdrawn {
        reason: WithdrawalKind,
        after_dispatch: bool,
    },
}

impl IssuePath {
    pub(super) fn label(self) -> &'static str {
        match self {
            IssuePath::HandledInGrid => "handled_in_grid",
            IssuePath::DispatchedAndResolved => "dispatched",
            IssuePath::EscalatedAndResolved => "escalated",
            IssuePath::Deliberated { .. } => "deliberated",
            IssuePath::OpenReported => "open_reported",
            IssuePath::OpenDispatched => "open_dispatched",
            IssuePath::Withdrawn { .. } => "withdrawn",
        }
    }
}

/// A meeting: where, when, who, and how many issues it takes up.
#[derive(Debug, Clone)]
pub(super) struct PlannedMeeting {
    pub(super) meeting_id: String,
    pub(super) community_index: usize,
    pub(super) day: i64,
    pub(super) issue_count: usize,
    pub(super) participants: u32,
    pub(super) forum: Forum,
    pub(super) parties: Vec<String>,
    /// Its (single) issue is left IN_PROGRESS after the meeting.
    pub(super) issue_stays_open: bool,
}

/// The client-chosen issue id: a UUIDv7 carrying the report's business time (millisecond),
/// then 64 bits mixed from the seed and the issue index in 16 bits, so ids of one plan
/// differ by construction and ids of different seeds differ but for a 2^-58 chance.
fn issue_id_for(seed: u64, issue_index: usize, reported_at_seconds: i64) -> Result<IssueId, DomainError> {
    let mixed_seed = splitmix64(seed ^ 0x6772_6964_6c65_6467); // "gridledg"
    let mut counter_random_bytes = [0u8; 10];
    counter_random_bytes[..8].copy_from_slice(&mixed_seed.to_be_bytes());
    counter_random_bytes[8..].copy_from_slice(&(issue_index as u16).to_be_bytes());
    let millis = u64::try_from(reported_at_seconds * 1_000).unwrap_or(0);
    IssueId::from_uuid(uuid::Builder::from_unix_timestamp_millis(millis, &counter_random_bytes).into_uuid())
}

/// SplitMix64's finaliser: a bijection of u64 that spreads the seed's bits.
fn splitmix64(value: u64) -> u64 {
    let mut mixed = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    mixed ^ (mixed >> 31)
}

/// Splits `total` over meetings by `issue_count`, each at least 3 and at most 60: a seeded
/// draw that grows with the number of issues, then adjusted one by one to hit the total.
pub(super) fn draw_participants(random: &mut StdRng, issue_counts: &[usize], total: u64) -> Vec<u32> {
    const FEWEST: u32 = 3;
    const MOST: u32 = 60;
    let mut participants: Vec<u32> = issue_counts
        .iter()
        .map(|issue_count| {
            let extra = 4 * (*issue_count as u32).saturating_sub(1);
            random.random_range(6 + extra..=22 + extra)
        })
        .collect();
    let mut order: Vec<usize> = (0..participants.len()).collect();
    order.shuffle(random);
    let mut sum: u64 = participants.iter().map(|count| u64::from(*count)).sum();
    while sum != total {
        let mut changed = false;
        for &meeting in &order {
            if sum < total && participants[meeting] < MOST {
                participants[meeting] += 1;
                sum += 1;
                changed = true;
            } else if sum > total && participants[meeting] > FEWEST {
                participants[meeting] -= 1;
                sum -= 1;
                changed = true;
            }
            if sum == total {
                break;
            }
        }
        if !changed {
            break;
        }
    }
    participants
}

/// The planner's state: the registry, the seed's random stream, the meetings.
#[derive(Debug)]
pub(super) struct Planner {
    pub(super) registry: PlanningRegistry,
    pub(super) random: StdRng,
    pub(super) meetings: Vec<PlannedMeeting>,
}

/// Plans the whole workload of `profile` for `seed`: every issue's commands, in report
/// order. Pure and deterministic; the figures do not depend on the seed. Fails only if the
/// profile does not fit its registry, or (a bug) the domain refuses a planned command.
pub fn plan_simulation(profile: Profile, seed: u64) -> anyhow::Result<Vec<IssuePlan>> {
    let targets = profile.targets();
    let registry = profile.registry();
    let mut planner = Planner {
        registry: PlanningRegistry::new(&registry, profile.categories(&registry)?),
        random: StdRng::seed_from_u64(seed),
        meetings: Vec::new(),
    };
    planner.plan_meetings(seed, &targets);
    let paths = planner.plan_paths(&targets);
    let reopened_issues = planner.choose_reopened_issues(&paths, targets.reopened_and_resolved_again);
    let mut drafts: Vec<IssueDraft> = paths
        .iter()
        .enumerate()
        .map(|(draft_index, path)| planner.draft_issue(*path, reopened_issues.contains(&draft_index)))
        .collect();
    // Issues are numbered in report order (ties keep the drafting order).
    drafts.sort_by_key(IssueDraft::reported_at_seconds);
    planner.plans_of(seed, &registry, drafts)
}

/// The instant of a planned time, in whole seconds since the Unix epoch.
fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_micros(seconds * MICROS_PER_SECOND)
}

fn text(field: Field, value: String) -> Result<FreeText, DomainError> {
    FreeText::parse(field, value)
}

/// What every command of one issue names.
#[derive(Debug)]
struct IssueIdentity<'plan> {
    issue_id: IssueId,
    grid: &'plan GridCode,
    category: &'plan CategoryCode,
    /// The issue a DUPLICATE withdrawal names.
    duplicate_of: Option<IssueId>,
}

impl Planner {
    /// The meetings: sizes, dates, communities, forums and participants (summing exactly
    /// to the profile's total), numbered in date order.
    fn plan_meetings(&mut self, seed: u64, targets: &ProfileTargets) {
        let mut issue_counts: Vec<usize> = std::iter::repeat_n(1, targets.single_issue_meetings)
            .chain(std::iter::repeat_n(2, targets.two_issue_meetings))
            .chain(std::iter::repeat_n(3, targets.three_issue_meetings))
            .collect();
        issue_counts.shuffle(&mut self.random);
        let participants = draw_participants(&mut self.random, &issue_counts, targets.participants_total);
        let mut open_meetings_left = targets.meetings_whose_issue_stays_open;
        let mut meetings: Vec<PlannedMeeting> = Vec::with_capacity(issue_counts.len());
        for (issue_count, participants) in issue_counts.into_iter().zip(participants) {
            let issue_stays_open = issue_count == 1 && open_meetings_left > 0;
            if issue_stays_open {
                open_meetings_left -= 1;
            }
            let day = if issue_stays_open {
                self.random.random_range(LATE_MEETING_DAYS)
            } else {
                self.random
                    .random_range(FIRST_REPORT_DAY + DAYS_REPORTED_BEFORE_MEETING.end()..=LAST_REPORT_DAY)
            };
            let community_index = self.registry.community_of_grid[self.registry.random_grid(&mut self.random)];
            let forum = if self.random.random_bool(0.6) {
                Forum::ResidentRepresentativeMeeting
            } else {
                Forum::CommunityAffairsConsultation
            };
            let party_count = self.random.random_range(2..=4);
            let parties: Vec<String> = MEETING_PARTIES
                .choose_multiple(&mut self.random, party_count)
                .map(|party| (*party).to_owned())
                .collect();
            meetings.push(PlannedMeeting {
                meeting_id: String::new(),
                community_index,
                day,
                issue_count,
                participants,
                forum,
                parties,
                issue_stays_open,
            });
        }
        meetings.sort_by_key(|meeting| meeting.day);
        for (meeting_index, meeting) in meetings.iter_mut().enumerate() {
            meeting.meeting_id = format!("sim-{seed}-meeting-{meeting_index:04}");
        }
        self.meetings = meetings;
    }

    /// Every issue's path, exactly as many of each as the profile says, in a seeded order.
    fn plan_paths(&mut self, targets: &ProfileTargets) -> Vec<IssuePath> {
        let mut paths = Vec::new();
        for (meeting_index, meeting) in self.meetings.iter().enumerate() {
            paths.extend(std::iter::repeat_n(
                IssuePath::Deliberated { meeting_index },
                meeting.issue_count,
            ));
        }
        paths.extend(std::iter::repeat_n(IssuePath::HandledInGrid, targets.handled_in_grid));
        paths.extend(std::iter::repeat_n(
            IssuePath::DispatchedAndResolved,
            targets.dispatched_and_resolved,
        ));
        paths.extend(std::iter::repeat_n(
            IssuePath::EscalatedAndResolved,
            targets.escalated_and_resolved,
        ));
        paths.extend(std::iter::repeat_n(IssuePath::OpenReported, targets.open_reported));
        paths.extend(std::iter::repeat_n(IssuePath::OpenDispatched, targets.open_dispatched));
        let mut withdrawal_reasons: Vec<WithdrawalKind> =
            std::iter::repeat_n(WithdrawalKind::OutOfScope, targets.withdrawn_out_of_scope)
                .chain(std::iter::repeat_n(
                    WithdrawalKind::ReporterWithdrew,
                    targets.withdrawn_by_reporter,
                ))
                .chain(std::iter::repeat_n(
                    WithdrawalKind::Duplicate,
                    targets.withdrawn_as_duplicates,
                ))
                .collect();
        withdrawal_reasons.shuffle(&mut self.random);
        let mut dispatched_first: Vec<bool> = (0..targets.withdrawn())
            .map(|index| index < targets.withdrawn_after_dispatch)
            .collect();
        dispatched_first.shuffle(&mut self.random);
        paths.extend(
            withdrawal_reasons
                .into_iter()
                .zip(dispatched_first)
                .map(|(reason, after_dispatch)| IssuePath::Withdrawn { reason, after_dispatch }),
        );
        paths.shuffle(&mut self.random);
        paths
    }

    /// Which closed issues are reopened and resolved again: exactly `count` of them.
    fn choose_reopened_issues(&mut self, paths: &[IssuePath], count: usize) -> BTreeSet<usize> {
        let mut closed: Vec<usize> = paths
            .iter()
            .enumerate()
            .filter(|(_, path)| match path {
                IssuePath::HandledInGrid | IssuePath::DispatchedAndResolved | IssuePath::EscalatedAndResolved => true,
                IssuePath::Deliberated { meeting_index } => !self.meetings[*meeting_index].issue_stays_open,
                IssuePath::OpenReported | IssuePath::OpenDispatched | IssuePath::Withdrawn { .. } => false,
            })
            .map(|(index, _)| index)
            .collect();
        closed.shuffle(&mut self.random);
        closed.into_iter().take(count).collect()
    }

    /// Numbers the drafts (already in report order), gives them ids and request ids, picks
    /// the issues that duplicates duplicate, and turns every step into a domain command,
    /// decided as the server will decide it to learn the status it leads to.
    fn plans_of(&mut self, seed: u64, registry: &Registry, drafts: Vec<IssueDraft>) -> anyhow::Result<Vec<IssuePlan>> {
        let issue_ids: Vec<IssueId> = drafts
            .iter()
            .enumerate()
            .map(|(issue_index, draft)| issue_id_for(seed, issue_index, draft.reported_at_seconds()))
            .collect::<Result<_, _>>()?;
        // Accepted issues reported so far, per community: what a duplicate duplicates.
        let mut accepted_so_far_by_community: Vec<Vec<usize>> = vec![Vec::new(); self.registry.community_codes.len()];
        let mut plans = Vec::with_capacity(drafts.len());
        for (issue_index, draft) in drafts.into_iter().enumerate() {
            let community_index = self.registry.community_of_grid[draft.grid_index];
            let duplicate_of = match draft.path {
                IssuePath::Withdrawn {
                    reason: WithdrawalKind::Duplicate,
                    ..
                } => {
                    let recent = &accepted_so_far_by_community[community_index];
                    let earlier_issue = recent[recent.len().saturating_sub(20)..]
                        .choose(&mut self.random)
                        .copied()
                        // Nothing earlier in the community: any other issue of the plan.
                        .unwrap_or(if issue_index == 0 { 1 } else { 0 });
                    issue_ids.get(earlier_issue).copied()
                }
                _ => None,
            };
            if !matches!(draft.path, IssuePath::Withdrawn { .. }) {
                accepted_so_far_by_community[community_index].push(issue_index);
            }
            let identity = IssueIdentity {
                issue_id: issue_ids[issue_index],
                grid: &self.registry.grid_codes[draft.grid_index],
                category: &self.registry.categories[draft.category_index].code,
                duplicate_of,
            };
            let commands = self
                .commands_of(seed, issue_index, registry, &identity, draft.timed_steps)
                .with_context(|| format!("planning issue #{issue_index} {}", identity.issue_id))?;
            plans.push(IssuePlan {
                issue_index,
                issue_id: identity.issue_id,
                grid: identity.grid.clone(),
                category: identity.category.clone(),
                path: draft.path.label(),
                commands,
            });
        }
        Ok(plans)
    }

    /// One issue's timed steps as domain commands, each decided and folded from the issue's
    /// state before it, as the server will (its clock at the latest planned time).
    fn commands_of(
        &self,
        seed: u64,
        issue_index: usize,
        registry: &Registry,
        identity: &IssueIdentity<'_>,
        timed_steps: Vec<(i64, Step)>,
    ) -> anyhow::Result<Vec<PlannedCommand>> {
        let now = at(LATEST_COMMAND_SECONDS);
        let mut state = IssueState::Absent;
        let mut commands = Vec::with_capacity(timed_steps.len());
        for (step_number, (time_seconds, step)) in timed_steps.into_iter().enumerate() {
            let command = self.command_of(step, time_seconds, registry, identity)?;
            let occurred_at = at(time_seconds);
            let kind = command.kind();
            let envelope = CommandEnvelope::new(now, command.clone()).with_occurred_at(occurred_at);
            let events = decide(&state, envelope)
                .with_context(|| format!("the domain refuses step {step_number} {kind} at {occurred_at}"))?;
            for event in &events {
                state = evolve(state, event);
            }
            commands.push(PlannedCommand {
                step: step_number,
                meta: CommandMeta {
                    request_id: format!("sim-{seed}-{issue_index}-{step_number}"),
                    expected_revision: None,
                    occurred_at: Some(occurred_at),
                },
                command,
                expected_status_after: state.status().context("no issue after its report")?,
            });
        }
        Ok(commands)
    }

    /// The domain command of one step of an issue, at `time_seconds`.
    fn command_of(
        &self,
        step: Step,
        time_seconds: i64,
        registry: &Registry,
        identity: &IssueIdentity<'_>,
    ) -> Result<IssueCommand, DomainError> {
        let due = |due_after_seconds: i64| at(time_seconds + due_after_seconds);
        Ok(match step {
            Step::Report {
                title,
                description,
                reporter_id,
            } => ReportIssue::new(
                registry,
                identity.issue_id,
                identity.grid.clone(),
                identity.category,
                IssueTitle::parse(&title)?,
                text(Field::Description, description)?,
                PersonId::parse(Field::Reporter, &reporter_id)?,
            )?
            .into(),
            Step::HandleInGrid { summary } => HandleInGrid {
                summary: text(Field::Summary, summary)?,
                evidence: Default::default(),
                location: None,
            }
            .into(),
            Step::Dispatch {
                assignee_id,
                due_after_seconds,
            } => DispatchIssue {
                assignee_id: PersonId::parse(Field::Assignee, &assignee_id)?,
                due_at: due(due_after_seconds),
            }
            .into(),
            Step::Accept { assignee_id } => AcceptAssignment {
                assignee_id: PersonId::parse(Field::Assignee, &assignee_id)?,
            }
            .into(),
            Step::Convene { meeting_index } => {
                let meeting = &self.meetings[meeting_index];
                ConveneDeliberation {
                    meeting_id: MeetingId::parse(Field::Meeting, &meeting.meeting_id)?,
                    forum: meeting.forum,
                    parties: MeetingParties::parse(&meeting.parties)?,
                }
                .into()
            }
            Step::Conclude { meeting_index } => {
                let meeting = &self.meetings[meeting_index];
                ConcludeDeliberation {
                    meeting_id: MeetingId::parse(Field::Meeting, &meeting.meeting_id)?,
                    participants: ParticipantCount::new(meeting.participants)?,
                    outcome: text(
                        Field::Outcome,
                        format!("Agreed a plan with the {} issue(s) on the agenda.", meeting.issue_count),
                    )?,
                    minutes: text(
                        Field::Minutes,
                        format!(
                            "{} residents took part; parties: {}.",
                            meeting.participants,
                            meeting.parties.join(", ")
                        ),
                    )?,
                }
                .into()
            }
            Step::Escalate { reason, note } => EscalateIssue {
                reason,
                note: Some(text(Field::EscalationNote, note)?),
            }
            .into(),
            Step::RecordCommitteeDecision {
                decision,
                lead_department,
                supporting_departments,
                due_after_seconds,
            } => RecordCommitteeDecision {
                decision: text(Field::Decision, decision)?,
                lead_department: DepartmentName::parse(Field::LeadDepartment, &lead_department)?,
                supporting_departments: SupportingDepartments::parse(&supporting_departments)?,
                due_at: due(due_after_seconds),
            }
            .into(),
            Step::Resolve { summary } => ResolveIssue {
                summary: text(Field::Summary, summary)?,
                evidence: Default::default(),
                location: None,
            }
            .into(),
            Step::Evaluate {
                satisfaction,
                evaluator_id,
                comment,
            } => EvaluateResolution {
                satisfaction,
                evaluator_id: PersonId::parse(Field::Evaluator, &evaluator_id)?,
                comment: text(Field::Comment, comment)?,
            }
            .into(),
            Step::Reopen { reason } => ReopenIssue {
                reason: text(Field::ReopenReason, reason)?,
            }
            .into(),
            Step::Withdraw { reason } => WithdrawIssue {
                reason: reason
                    .reason(identity.duplicate_of)
                    .map_err(|error| DomainError::InvalidField {
                        field: Field::WithdrawalReason,
                        reason: error.to_string(),
                    })?,
            }
            .into(),
        })
    }
}
