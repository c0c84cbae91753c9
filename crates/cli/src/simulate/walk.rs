//! How one issue's walk is drawn: the steps each path takes, their business times (working
//! hours, meetings in the afternoon, resolutions mostly before the deadline), compressed
//! when a walk would run past the simulated period.

use gridledger_domain::{EscalationReason, Satisfaction};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};

use super::plan::{IssuePath, Planner};
use super::profile::COMMITTEE_DEPARTMENTS;
use crate::args::WithdrawalKind;

pub(super) const SECONDS_PER_MINUTE: i64 = 60;
pub(super) const SECONDS_PER_HOUR: i64 = 3_600;
pub(super) const SECONDS_PER_DAY: i64 = 86_400;
pub(super) const MICROS_PER_SECOND: i64 = 1_000_000;
/// 2018-01-01 (days since the Unix epoch): the first day an issue is reported.
pub(super) const FIRST_REPORT_DAY: i64 = 17_532;
/// 2022-12-31 (days since the Unix epoch): the last day an issue is reported or a meeting held.
pub(super) const LAST_REPORT_DAY: i64 = 19_357;
/// 2023-01-28T10:00:00Z: no command happens later (four weeks after the last report day);
/// walks that would run later are compressed in time.
pub(super) const LATEST_COMMAND_SECONDS: i64 = (LAST_REPORT_DAY + 28) * SECONDS_PER_DAY + 10 * SECONDS_PER_HOUR;
/// Working hours, 08:30–18:00 Beijing time (UTC+8), as seconds after midnight UTC.
pub(super) const WORKING_HOURS_UTC_SECONDS: std::ops::RangeInclusive<i64> =
    30 * SECONDS_PER_MINUTE..=10 * SECONDS_PER_HOUR;
/// Meetings are convened at 14:00 and concluded at 16:30 Beijing time.
pub(super) const MEETING_CONVENED_UTC_SECONDS: i64 = 6 * SECONDS_PER_HOUR;
pub(super) const MEETING_CONCLUDED_UTC_SECONDS: i64 = 8 * SECONDS_PER_HOUR + 30 * SECONDS_PER_MINUTE;
/// Issues are reported one to three weeks before the meeting that takes them up.
pub(super) const DAYS_REPORTED_BEFORE_MEETING: std::ops::RangeInclusive<i64> = 1..=21;
/// Meetings whose issue is left open are held in the last months of the period.
pub(super) const LATE_MEETING_DAYS: std::ops::RangeInclusive<i64> = LAST_REPORT_DAY - 80..=LAST_REPORT_DAY - 3;

/// Share of resolutions planned before the issue's due_at when there is still time.
const ON_TIME_RESOLUTION_SHARE: f64 = 0.9;

/// One step of a walk, before it becomes a domain command.
#[derive(Debug, Clone)]
pub(super) enum Step {
    Report {
        title: String,
        description: String,
        reporter_id: String,
    },
    HandleInGrid {
        summary: String,
    },
    Dispatch {
        assignee_id: String,
        due_after_seconds: i64,
    },
    Accept {
        assignee_id: String,
    },
    Convene {
        meeting_index: usize,
    },
    Conclude {
        meeting_index: usize,
    },
    Escalate {
        reason: EscalationReason,
        note: String,
    },
    RecordCommitteeDecision {
        decision: String,
        lead_department: String,
        supporting_departments: Vec<String>,
        due_after_seconds: i64,
    },
    Resolve {
        summary: String,
    },
    Evaluate {
        satisfaction: Satisfaction,
        evaluator_id: String,
        comment: String,
    },
    Reopen {
        reason: String,
    },
    Withdraw {
        reason: WithdrawalKind,
    },
}

/// An issue being planned: where, what, and its timed steps (unix seconds).
#[derive(Debug, Clone)]
pub(super) struct IssueDraft {
    pub(super) path: IssuePath,
    pub(super) grid_index: usize,
    pub(super) category_index: usize,
    pub(super) timed_steps: Vec<(i64, Step)>,
}

impl IssueDraft {
    pub(super) fn reported_at_seconds(&self) -> i64 {
        self.timed_steps.first().map_or(0, |(time, _)| *time)
    }
}

/// A walk's steps after a start, as gaps (seconds) before each step.
#[derive(Debug)]
struct WalkGaps {
    steps: Vec<(i64, Step)>,
    /// Seconds from the walk's start to its last step so far.
    elapsed_seconds: i64,
    /// Seconds from the walk's start to the issue's current due_at (negative if already past).
    due_offset_seconds: i64,
}

impl WalkGaps {
    /// A walk whose issue is due `due_offset_seconds` after the walk's start.
    fn starting_with_due_in(due_offset_seconds: i64) -> Self {
        Self {
            steps: Vec::new(),
            elapsed_seconds: 0,
            due_offset_seconds,
        }
    }

    fn then(&mut self, gap_seconds: i64, step: Step) {
        self.elapsed_seconds += gap_seconds;
        if let Step::Dispatch { due_after_seconds, .. } | Step::RecordCommitteeDecision { due_after_seconds, .. } =
            &step
        {
            self.due_offset_seconds = self.elapsed_seconds + due_after_seconds;
        }
        self.steps.push((gap_seconds, step));
    }

    /// Seconds from the last step so far to the issue's current due_at.
    fn seconds_until_due(&self) -> i64 {
        self.due_offset_seconds - self.elapsed_seconds
    }

    /// Places the steps after `start_seconds`, compressing the gaps proportionally when
    /// the walk would end after [`LATEST_COMMAND_SECONDS`]. Every gap stays at least a minute.
    fn place_after(self, start_seconds: i64) -> Vec<(i64, Step)> {
        let step_count = self.steps.len() as i64;
        let total_gap: i64 = self.steps.iter().map(|(gap, _)| *gap).sum();
        let available = LATEST_COMMAND_SECONDS - start_seconds - SECONDS_PER_MINUTE * step_count;
        let mut time = start_seconds;
        self.steps
            .into_iter()
            .map(|(gap, step)| {
                let placed_gap = if total_gap > available && total_gap > 0 {
                    i64::try_from(i128::from(gap) * i128::from(available.max(0)) / i128::from(total_gap)).unwrap_or(0)
                } else {
                    gap
                };
                time += placed_gap.max(SECONDS_PER_MINUTE);
                (time, step)
            })
            .collect()
    }
}

fn hours_between(random: &mut StdRng, minimum_hours: i64, maximum_hours: i64) -> i64 {
    random.random_range(minimum_hours * SECONDS_PER_HOUR..=maximum_hours * SECONDS_PER_HOUR)
}

fn days_between(random: &mut StdRng, minimum_days: i64, maximum_days: i64) -> i64 {
    hours_between(random, minimum_days * 24, maximum_days * 24)
}

/// A time during working hours on `day`.
fn working_time_on(random: &mut StdRng, day: i64) -> i64 {
    day * SECONDS_PER_DAY + random.random_range(WORKING_HOURS_UTC_SECONDS)
}

impl Planner {
    /// Draws one issue: grid, category, report time and every step with its time.
    pub(super) fn draft_issue(&mut self, path: IssuePath, reopened: bool) -> IssueDraft {
        let (grid_index, category_index) = match path {
            IssuePath::Deliberated { meeting_index } => {
                let community_index = self.meetings[meeting_index].community_index;
                (
                    self.registry
                        .random_grid_of_community(&mut self.random, community_index),
                    self.registry.random_category(&mut self.random),
                )
            }
            _ => (
                self.registry.random_grid(&mut self.random),
                self.registry.random_category(&mut self.random),
            ),
        };
        let report = self.report_step(grid_index, category_index);
        let timed_steps = match path {
            IssuePath::Deliberated { meeting_index } => {
                self.deliberated_walk(meeting_index, report, grid_index, category_index, reopened)
            }
            _ => {
                let report_day = match path {
                    IssuePath::OpenReported => self.random.random_range(LAST_REPORT_DAY - 45..=LAST_REPORT_DAY),
                    IssuePath::OpenDispatched => self.random.random_range(LAST_REPORT_DAY - 90..=LAST_REPORT_DAY - 10),
                    _ => self.random.random_range(FIRST_REPORT_DAY..=LAST_REPORT_DAY),
                };
                let reported_at = working_time_on(&mut self.random, report_day);
                let gaps = self.walk_after_report(path, grid_index, category_index, reopened);
                let mut timed_steps = vec![(reported_at, report)];
                timed_steps.extend(gaps.place_after(reported_at));
                timed_steps
            }
        };
        IssueDraft {
            path,
            grid_index,
            category_index,
            timed_steps,
        }
    }

    fn report_step(&mut self, grid_index: usize, category_index: usize) -> Step {
        let grid_code = &self.registry.grid_codes[grid_index];
        let category = self.registry.categories[category_index].profile;
        let title = category
            .titles
            .choose(&mut self.random)
            .copied()
            .unwrap_or("Residents' request");
        let reporter_number = self.random.random_range(1..=3);
        Step::Report {
            title: format!("{title} ({grid_code})"),
            description: format!("Reported on patrol in grid {grid_code}: {}.", title.to_lowercase()),
            reporter_id: format!("grid-worker-{grid_code}-{reporter_number}"),
        }
    }

    fn assignee_for(&mut self, grid_index: usize, category_index: usize) -> String {
        let community_code = &self.registry.community_codes[self.registry.community_of_grid[grid_index]];
        let unit = self.registry.categories[category_index].profile.responder_unit;
        let number = self.random.random_range(1..=2);
        format!("{unit}-{number}@{community_code}")
    }

    /// The gap before a resolution, between the bounds: usually before the issue's current
    /// due_at when that is still possible, otherwise anywhere in the bounds (late).
    fn gap_to_resolution(&mut self, walk: &WalkGaps, minimum_seconds: i64, maximum_seconds: i64) -> i64 {
        let latest_on_time = walk.seconds_until_due() - SECONDS_PER_HOUR;
        if latest_on_time > minimum_seconds && self.random.random_bool(ON_TIME_RESOLUTION_SHARE) {
            self.random
                .random_range(minimum_seconds..=maximum_seconds.min(latest_on_time))
        } else {
            self.random.random_range(minimum_seconds..=maximum_seconds)
        }
    }

    /// Dispatch (due in three to ten days) and, most of the time, acceptance.
    fn push_dispatch(
        &mut self,
        walk: &mut WalkGaps,
        grid_index: usize,
        category_index: usize,
        accept_probability: f64,
    ) {
        let assignee_id = self.assignee_for(grid_index, category_index);
        walk.then(
            hours_between(&mut self.random, 2, 72),
            Step::Dispatch {
                assignee_id: assignee_id.clone(),
                due_after_seconds: days_between(&mut self.random, 3, 10),
            },
        );
        if self.random.random_bool(accept_probability) {
            walk.then(hours_between(&mut self.random, 1, 24), Step::Accept { assignee_id });
        }
    }

    /// Escalation, the committee's decision, and resolution by the lead department.
    fn push_escalation_and_resolution(&mut self, walk: &mut WalkGaps) {
        let reason = *EscalationReason::ALL
            .choose(&mut self.random)
            .unwrap_or(&EscalationReason::BeyondCommunityCapacity);
        walk.then(
            days_between(&mut self.random, 1, 7),
            Step::Escalate {
                reason,
                note: "Needs departments beyond the community; referred to the district guidance committee.".to_owned(),
            },
        );
        let mut departments: Vec<&str> = COMMITTEE_DEPARTMENTS.to_vec();
        departments.shuffle(&mut self.random);
        let supporting_count = self.random.random_range(0..=2);
        let lead_department = departments[0].to_owned();
        walk.then(
            days_between(&mut self.random, 2, 14),
            Step::RecordCommitteeDecision {
                decision: format!("The {lead_department} leads the repair with the departments named."),
                supporting_departments: departments[1..=supporting_count]
                    .iter()
                    .map(|department| (*department).to_owned())
                    .collect(),
                lead_department,
                due_after_seconds: days_between(&mut self.random, 10, 30),
            },
        );
        let gap = self.gap_to_resolution(walk, 3 * SECONDS_PER_DAY, 20 * SECONDS_PER_DAY);
        walk.then(
            gap,
            Step::Resolve {
                summary: "Resolved by the lead department as the committee decided.".to_owned(),
            },
        );
    }

    fn evaluation_step(&mut self, grid_index: usize, before_reopen: bool) -> Step {
        let satisfaction = if before_reopen {
            if self.random.random_bool(0.8) {
                Satisfaction::Unsatisfied
            } else {
                Satisfaction::BasicallySatisfied
            }
        } else {
            let draw: f64 = self.random.random();
            if draw < 0.72 {
                Satisfaction::Satisfied
            } else if draw < 0.93 {
                Satisfaction::BasicallySatisfied
            } else {
                Satisfaction::Unsatisfied
            }
        };
        let comment = match satisfaction {
            Satisfaction::Satisfied => "Residents are satisfied with the result.",
            Satisfaction::BasicallySatisfied => "Mostly fixed; residents will keep an eye on it.",
            _ => "Residents say the problem is not really solved.",
        };
        let evaluator_number = self.random.random_range(1..=5);
        Step::Evaluate {
            satisfaction,
            evaluator_id: format!(
                "resident-representative-{}-{evaluator_number}",
                self.registry.grid_codes[grid_index]
            ),
            comment: comment.to_owned(),
        }
    }

    /// After the first resolution: usually an evaluation; for a reopened issue, the reopen,
    /// a second resolution (in the grid, by dispatch, or by the community) and its evaluation.
    fn push_resolution_tail(
        &mut self,
        walk: &mut WalkGaps,
        grid_index: usize,
        category_index: usize,
        first_resolved_in_grid: bool,
        reopened: bool,
    ) {
        if reopened {
            if self.random.random_bool(0.75) {
                let evaluation = self.evaluation_step(grid_index, true);
                walk.then(days_between(&mut self.random, 1, 5), evaluation);
            }
            walk.then(
                days_between(&mut self.random, 2, 12),
                Step::Reopen {
                    reason: "The problem came back; residents asked for it to be looked at again.".to_owned(),
                },
            );
            if first_resolved_in_grid && self.random.random_bool(0.6) {
                let gap = self.gap_to_resolution(walk, 2 * SECONDS_PER_HOUR, 72 * SECONDS_PER_HOUR);
                walk.then(
                    gap,
                    Step::HandleInGrid {
                        summary: "Fixed properly on the second visit.".to_owned(),
                    },
                );
            } else {
                if self.random.random_bool(0.35) {
                    self.push_dispatch(walk, grid_index, category_index, 1.0);
                }
                let gap = self.gap_to_resolution(walk, SECONDS_PER_DAY, 10 * SECONDS_PER_DAY);
                walk.then(
                    gap,
                    Step::Resolve {
                        summary: "Resolved again after the reopening.".to_owned(),
                    },
                );
            }
            if self.random.random_bool(0.85) {
                let evaluation = self.evaluation_step(grid_index, false);
                walk.then(days_between(&mut self.random, 1, 5), evaluation);
            }
        } else if self.random.random_bool(0.88) {
            let evaluation = self.evaluation_step(grid_index, false);
            walk.then(days_between(&mut self.random, 1, 7), evaluation);
        }
    }

    /// The steps after the report of an issue that is not deliberated.
    fn walk_after_report(
        &mut self,
        path: IssuePath,
        grid_index: usize,
        category_index: usize,
        reopened: bool,
    ) -> WalkGaps {
        let mut walk = WalkGaps::starting_with_due_in(self.registry.deadline_seconds(category_index));
        match path {
            IssuePath::HandledInGrid => {
                let gap = self.gap_to_resolution(&walk, SECONDS_PER_HOUR, 48 * SECONDS_PER_HOUR);
                walk.then(
                    gap,
                    Step::HandleInGrid {
                        summary: "Handled on the spot by the grid worker.".to_owned(),
                    },
                );
                self.push_resolution_tail(&mut walk, grid_index, category_index, true, reopened);
            }
            IssuePath::DispatchedAndResolved => {
                self.push_dispatch(&mut walk, grid_index, category_index, 0.9);
                let gap = self.gap_to_resolution(&walk, SECONDS_PER_DAY, 10 * SECONDS_PER_DAY);
                walk.then(
                    gap,
                    Step::Resolve {
                        summary: "Done by the responder; checked by the community.".to_owned(),
                    },
                );
                self.push_resolution_tail(&mut walk, grid_index, category_index, false, reopened);
            }
            IssuePath::EscalatedAndResolved => {
                if self.random.random_bool(0.3) {
                    self.push_dispatch(&mut walk, grid_index, category_index, 0.8);
                }
                self.push_escalation_and_resolution(&mut walk);
                self.push_resolution_tail(&mut walk, grid_index, category_index, false, reopened);
            }
            IssuePath::OpenReported | IssuePath::Deliberated { .. } => {}
            IssuePath::OpenDispatched => self.push_dispatch(&mut walk, grid_index, category_index, 0.5),
            IssuePath::Withdrawn { reason, after_dispatch } => {
                if after_dispatch {
                    self.push_dispatch(&mut walk, grid_index, category_index, 0.5);
                }
                walk.then(hours_between(&mut self.random, 1, 240), Step::Withdraw { reason });
            }
        }
        walk
    }

    /// A deliberated issue: reported one to three weeks before its meeting, usually
    /// dispatched first with a deadline that leaves time for the meeting; convened and
    /// concluded with the meeting; then (unless it stays open) resolved, perhaps after
    /// escalation, and evaluated.
    fn deliberated_walk(
        &mut self,
        meeting_index: usize,
        report: Step,
        grid_index: usize,
        category_index: usize,
        reopened: bool,
    ) -> Vec<(i64, Step)> {
        let meeting_day = self.meetings[meeting_index].day;
        let issue_stays_open = self.meetings[meeting_index].issue_stays_open;
        let report_day = meeting_day - self.random.random_range(DAYS_REPORTED_BEFORE_MEETING);
        let reported_at = working_time_on(&mut self.random, report_day);
        let convened_at = meeting_day * SECONDS_PER_DAY + MEETING_CONVENED_UTC_SECONDS;
        let concluded_at = meeting_day * SECONDS_PER_DAY + MEETING_CONCLUDED_UTC_SECONDS;
        let mut timed_steps = vec![(reported_at, report)];
        let mut due_at = reported_at + self.registry.deadline_seconds(category_index);
        if self.random.random_bool(0.75) {
            // Dispatched first, with a deadline past the meeting: it needs the residents' agreement.
            let span = convened_at - reported_at;
            let dispatched_at = reported_at + span * self.random.random_range(10..=40) / 100;
            let assignee_id = self.assignee_for(grid_index, category_index);
            due_at = concluded_at + days_between(&mut self.random, 5, 20);
            timed_steps.push((
                dispatched_at,
                Step::Dispatch {
                    assignee_id: assignee_id.clone(),
                    due_after_seconds: due_at - dispatched_at,
                },
            ));
            if self.random.random_bool(0.8) {
                let accepted_at = reported_at + span * self.random.random_range(50..=85) / 100;
                timed_steps.push((accepted_at, Step::Accept { assignee_id }));
            }
        }
        timed_steps.push((convened_at, Step::Convene { meeting_index }));
        timed_steps.push((concluded_at, Step::Conclude { meeting_index }));
        if !issue_stays_open {
            let mut walk = WalkGaps::starting_with_due_in(due_at - concluded_at);
            if self.random.random_bool(0.04) {
                self.push_escalation_and_resolution(&mut walk);
            } else {
                let gap = self.gap_to_resolution(&walk, SECONDS_PER_DAY, 15 * SECONDS_PER_DAY);
                walk.then(
                    gap,
                    Step::Resolve {
                        summary: "Carried out as agreed at the meeting.".to_owned(),
                    },
                );
            }
            self.push_resolution_tail(&mut walk, grid_index, category_index, false, reopened);
            timed_steps.extend(walk.place_after(concluded_at));
        }
        timed_steps
    }
}
