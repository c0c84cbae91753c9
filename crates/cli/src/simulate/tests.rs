//! The planner's promises: every seed lands exactly on the profile's figures by the
//! definitions of docs/metrics.md#definitions (checked by running each plan through the
//! domain), the same seed gives the same plan, ids, times and meetings are as planned, and
//! participants are split exactly.

use std::collections::{BTreeMap, BTreeSet};

use clap::ValueEnum;
use gridledger_domain::{
    CommandEnvelope, IssueCommand, IssueEventBody, IssueState, IssueStatus, Timestamp, decide, evolve,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::plan::{IssuePlan, draw_participants, plan_simulation};
use super::profile::Profile;
use super::report::PlannedFigures;
use super::walk::{FIRST_REPORT_DAY, LAST_REPORT_DAY, LATEST_COMMAND_SECONDS, MICROS_PER_SECOND, SECONDS_PER_DAY};

const SEEDS: [u64; 5] = [1, 2, 7, 20_180_101, u64::MAX];

fn plan(seed: u64) -> Vec<IssuePlan> {
    plan_of(Profile::Runzhou, seed)
}

fn plan_of(profile: Profile, seed: u64) -> Vec<IssuePlan> {
    plan_simulation(profile, seed).unwrap_or_else(|error| panic!("{} seed {seed}: {error:#}", profile.name()))
}

/// The figures of docs/metrics.md#definitions, computed by running the plan's commands
/// through the domain.
#[derive(Debug, Default)]
struct FiguresFromTheDomain {
    reported: u64,
    withdrawn: u64,
    resolved: u64,
    participants_per_meeting: BTreeMap<String, u32>,
}

impl FiguresFromTheDomain {
    fn accepted(&self) -> u64 {
        self.reported - self.withdrawn
    }

    fn closure_rate(&self) -> f64 {
        self.resolved as f64 / self.accepted() as f64
    }

    fn participants(&self) -> u64 {
        self.participants_per_meeting
            .values()
            .map(|count| u64::from(*count))
            .sum()
    }
}

/// Runs every issue's planned commands through `decide` and `evolve` (as the server
/// would, with its clock at the latest planned time), checking each against the lifecycle
/// and the plan's expectations, and returns the resulting figures.
fn replay_through_the_domain(plans: &[IssuePlan]) -> FiguresFromTheDomain {
    let now = Timestamp::from_unix_micros(LATEST_COMMAND_SECONDS * MICROS_PER_SECOND);
    let mut figures = FiguresFromTheDomain::default();
    for plan in plans {
        let mut state = IssueState::Absent;
        let mut previous_occurred_at = Timestamp::from_unix_micros(i64::MIN);
        for command in &plan.commands {
            let context = format!(
                "issue #{} {} step {} {}",
                plan.issue_index,
                plan.issue_id,
                command.step,
                command.command.kind()
            );
            if let IssueCommand::ReportIssue(report) = &command.command {
                assert_eq!(report.issue_id(), plan.issue_id, "{context}");
                assert_eq!(report.grid(), &plan.grid, "{context}");
                assert_eq!(report.category().code(), &plan.category, "{context}");
            }
            let occurred_at = command.meta.occurred_at.expect("every command has a business time");
            assert!(occurred_at > previous_occurred_at, "{context}: time goes backwards");
            previous_occurred_at = occurred_at;
            let envelope = CommandEnvelope::new(now, command.command.clone()).with_occurred_at(occurred_at);
            let events = decide(&state, envelope).unwrap_or_else(|error| panic!("{context}: refused: {error}"));
            for event in &events {
                if let IssueEventBody::DeliberationConcluded(concluded) = &event.body {
                    let participants = concluded.participants.get();
                    let earlier = figures
                        .participants_per_meeting
                        .insert(concluded.meeting_id.as_str().to_owned(), participants);
                    assert!(
                        earlier.is_none_or(|earlier| earlier == participants),
                        "{context}: meeting {} concluded with two participant counts",
                        concluded.meeting_id
                    );
                }
                state = evolve(state, event);
            }
            let status = state.status().expect("the issue exists after its report");
            assert_eq!(status, command.expected_status_after, "{context}");
        }
        figures.reported += 1;
        match state.status() {
            Some(IssueStatus::Withdrawn) => figures.withdrawn += 1,
            Some(IssueStatus::Resolved) => figures.resolved += 1,
            _ => {}
        }
    }
    figures
}

#[test]
fn every_seed_lands_in_the_published_ranges_by_the_definitions() {
    for seed in SEEDS {
        let plans = plan(seed);
        let figures = replay_through_the_domain(&plans);
        let accepted = figures.accepted();
        assert!((4_300..=4_399).contains(&accepted), "seed {seed}: accepted {accepted}");
        let meetings = figures.participants_per_meeting.len();
        assert!((2_700..=2_799).contains(&meetings), "seed {seed}: meetings {meetings}");
        let participants = figures.participants();
        assert!(
            (39_000..=41_000).contains(&participants),
            "seed {seed}: participants {participants}"
        );
        let closure_rate = figures.closure_rate();
        assert!(
            (0.9865..0.9875).contains(&closure_rate),
            "seed {seed}: closure rate {closure_rate}"
        );
        // Exactly the constructed counts, and the summary's figures agree with the domain's.
        let planned = PlannedFigures::of(&plans);
        assert_eq!(
            (figures.reported, figures.withdrawn, accepted, figures.resolved),
            (4_420, 70, 4_350, 4_294),
            "seed {seed}"
        );
        assert_eq!((meetings, participants), (2_750, 40_000), "seed {seed}");
        assert_eq!(
            (
                planned.reports,
                planned.withdrawn,
                planned.accepted,
                planned.closed,
                planned.open,
                planned.deliberation_meetings,
                planned.participants,
                planned.reopened
            ),
            (4_420, 70, 4_350, 4_294, 56, 2_750, 40_000, 95),
            "seed {seed}"
        );
        assert_eq!(format!("{:.1}", planned.closure_rate * 100.0), "98.7");
    }
}

#[test]
fn dantu_lands_exactly_on_its_own_figures_by_the_definitions() {
    for seed in SEEDS {
        let plans = plan_of(Profile::Dantu, seed);
        let figures = replay_through_the_domain(&plans);
        assert_eq!(
            (
                figures.reported,
                figures.withdrawn,
                figures.accepted(),
                figures.resolved
            ),
            (2_400, 44, 2_356, 2_315),
            "seed {seed}"
        );
        assert_eq!(
            (figures.participants_per_meeting.len(), figures.participants()),
            (1_310, 18_800),
            "seed {seed}"
        );
        let planned = PlannedFigures::of(&plans);
        assert_eq!(
            (
                planned.reports,
                planned.withdrawn,
                planned.accepted,
                planned.closed,
                planned.open,
                planned.deliberation_meetings,
                planned.deliberated_issues,
                planned.participants,
                planned.reopened
            ),
            (2_400, 44, 2_356, 2_315, 41, 1_310, 1_500, 18_800, 52),
            "seed {seed}"
        );
        assert_eq!(format!("{:.1}", planned.closure_rate * 100.0), "98.3");
        assert!(
            plans.iter().all(|plan| plan.grid.as_str().starts_with("dantu.s")),
            "seed {seed}: every issue is in a Dantu grid"
        );
    }
}

/// What the planner takes for granted of a profile's targets; a profile that broke one
/// would plan other figures than it states (or issue ids that collide).
#[test]
fn every_profile_fits_what_the_planner_relies_on() {
    for profile in Profile::value_variants() {
        let name = profile.name();
        let targets = profile.targets();
        let meetings = targets.single_issue_meetings + targets.two_issue_meetings + targets.three_issue_meetings;
        let deliberated =
            targets.single_issue_meetings + 2 * targets.two_issue_meetings + 3 * targets.three_issue_meetings;
        let reports = deliberated
            + targets.handled_in_grid
            + targets.dispatched_and_resolved
            + targets.escalated_and_resolved
            + targets.open_reported
            + targets.open_dispatched
            + targets.withdrawn();
        let closed = reports
            - targets.withdrawn()
            - targets.meetings_whose_issue_stays_open
            - targets.open_reported
            - targets.open_dispatched;
        // Only single-issue meetings leave their issue open.
        assert!(
            targets.meetings_whose_issue_stays_open <= targets.single_issue_meetings,
            "{name}"
        );
        assert!(targets.withdrawn_after_dispatch <= targets.withdrawn(), "{name}");
        assert!(targets.reopened_and_resolved_again <= closed, "{name}");
        // Each meeting has 3 to 60 participants (draw_participants).
        let meetings_u64 = meetings as u64;
        assert!(
            (3 * meetings_u64..=60 * meetings_u64).contains(&targets.participants_total),
            "{name}"
        );
        // Issue ids carry the issue index in 16 bits; meeting ids number meetings in 4 digits.
        assert!(reports <= usize::from(u16::MAX) + 1, "{name}: {reports} reports");
        assert!(meetings <= 10_000, "{name}: {meetings} meetings");
        assert_eq!(profile.registry().district_count(), 1, "{name}");
        assert_eq!(profile.registry().districts()[0].code.as_str(), name, "{name}");
        let planned = PlannedFigures::of(&plan_of(*profile, 1));
        assert_eq!(
            (planned.reports, planned.closed, planned.deliberation_meetings),
            (reports as u64, closed as u64, meetings_u64),
            "{name}"
        );
    }
}

#[test]
fn the_same_seed_gives_the_same_plan_and_another_seed_another() {
    assert_eq!(plan(7), plan(7));
    let seven = plan(7);
    let eight = plan(8);
    assert_ne!(seven, eight);
    let ids_of = |plans: &[IssuePlan]| plans.iter().map(|plan| plan.issue_id).collect::<BTreeSet<_>>();
    assert!(ids_of(&seven).is_disjoint(&ids_of(&eight)), "seeds share issue ids");
}

/// What the plan says about one meeting, across its issues.
#[derive(Debug, Default)]
struct MeetingObservations {
    communities: BTreeSet<String>,
    participant_counts: BTreeSet<u32>,
    convened_at: BTreeSet<Timestamp>,
    concluded_at: BTreeSet<Timestamp>,
    issues_convened: usize,
    issues_concluded: usize,
}

#[test]
fn ids_times_and_meetings_are_as_planned() {
    let at = |seconds: i64| Timestamp::from_unix_micros(seconds * MICROS_PER_SECOND);
    let first_report = at(FIRST_REPORT_DAY * SECONDS_PER_DAY);
    let last_report = at((LAST_REPORT_DAY + 1) * SECONDS_PER_DAY);
    let latest = at(LATEST_COMMAND_SECONDS);
    assert_eq!(first_report.to_string(), "2018-01-01T00:00:00.000000Z");
    assert_eq!(last_report.to_string(), "2023-01-01T00:00:00.000000Z");
    assert_eq!(latest.to_string(), "2023-01-28T10:00:00.000000Z");
    for (profile, seed) in Profile::value_variants()
        .iter()
        .flat_map(|profile| SEEDS.map(|seed| (*profile, seed)))
    {
        let plans = plan_of(profile, seed);
        let mut issue_ids = BTreeSet::new();
        let mut request_ids = BTreeSet::new();
        let mut meetings: BTreeMap<String, MeetingObservations> = BTreeMap::new();
        for (position, plan) in plans.iter().enumerate() {
            assert_eq!(plan.issue_index, position);
            assert_eq!(plan.issue_id.as_uuid().get_version_num(), 7, "{}", plan.issue_id);
            assert!(issue_ids.insert(plan.issue_id), "issue id twice: {}", plan.issue_id);
            let reported_at = plan.commands[0].occurred_at();
            assert!(
                (first_report..last_report).contains(&reported_at),
                "seed {seed}: report at {reported_at}"
            );
            if position > 0 {
                assert!(plans[position - 1].commands[0].occurred_at() <= reported_at);
            }
            let community = plan.grid.community().as_str().to_owned();
            for command in &plan.commands {
                assert!(request_ids.insert(command.meta.request_id.clone()), "request id twice");
                assert_eq!(
                    command.meta.request_id,
                    format!("sim-{seed}-{}-{}", plan.issue_index, command.step)
                );
                assert_eq!(command.meta.expected_revision, None);
                assert!(command.occurred_at() <= latest, "seed {seed}: too late");
                match &command.command {
                    IssueCommand::ConveneDeliberation(convene) => {
                        let meeting = meetings.entry(convene.meeting_id.as_str().to_owned()).or_default();
                        meeting.convened_at.insert(command.occurred_at());
                        meeting.issues_convened += 1;
                    }
                    IssueCommand::ConcludeDeliberation(conclude) => {
                        let meeting = meetings.entry(conclude.meeting_id.as_str().to_owned()).or_default();
                        meeting.communities.insert(community.clone());
                        meeting.participant_counts.insert(conclude.participants.get());
                        meeting.concluded_at.insert(command.occurred_at());
                        meeting.issues_concluded += 1;
                    }
                    IssueCommand::WithdrawIssue(withdraw) => {
                        if let gridledger_domain::WithdrawalReason::Duplicate { duplicate_of } = withdraw.reason {
                            assert_ne!(duplicate_of, plan.issue_id);
                        }
                    }
                    _ => {}
                }
            }
        }
        for (meeting_id, meeting) in &meetings {
            assert_eq!(meeting.communities.len(), 1, "{meeting_id}: one community");
            assert_eq!(
                meeting.participant_counts.len(),
                1,
                "{meeting_id}: one participant count"
            );
            assert_eq!(meeting.convened_at.len(), 1, "{meeting_id}: convened at one time");
            assert_eq!(meeting.concluded_at.len(), 1, "{meeting_id}: concluded at one time");
            assert_eq!(meeting.issues_convened, meeting.issues_concluded, "{meeting_id}");
            assert!(
                (1..=3).contains(&meeting.issues_concluded),
                "{meeting_id}: {} issues",
                meeting.issues_concluded
            );
        }
        let multi_issue_meetings = meetings.values().filter(|meeting| meeting.issues_concluded > 1).count();
        let targets = profile.targets();
        assert_eq!(
            multi_issue_meetings,
            targets.two_issue_meetings + targets.three_issue_meetings,
            "{} seed {seed}",
            profile.name()
        );
        if profile == Profile::Runzhou {
            assert_eq!(multi_issue_meetings, 270, "seed {seed}");
        }
    }
}

#[test]
fn participants_are_split_exactly_and_stay_positive() {
    let mut random = StdRng::seed_from_u64(3);
    let issue_counts = [1, 2, 3, 1, 1];
    for total in [15, 100, 250] {
        let participants = draw_participants(&mut random, &issue_counts, total);
        assert_eq!(participants.iter().map(|count| u64::from(*count)).sum::<u64>(), total);
        assert!(participants.iter().all(|count| *count >= 3));
    }
}

#[test]
fn a_profile_must_describe_exactly_its_registrys_categories() {
    let builtin = Profile::Runzhou.registry();
    let categories = Profile::Runzhou.categories(&builtin).map_err(|error| error.to_string());
    assert_eq!(
        categories.map(|categories| categories
            .iter()
            .map(|category| category.code.as_str().to_owned())
            .collect::<Vec<_>>()),
        Ok(builtin
            .categories()
            .iter()
            .map(|category| category.code().as_str().to_owned())
            .collect())
    );
    let dantu = Profile::Dantu.registry();
    let dantu_categories = Profile::Dantu
        .categories(&dantu)
        .map(|categories| {
            categories
                .iter()
                .map(|category| category.code.as_str().to_owned())
                .collect::<Vec<_>>()
        })
        .map_err(|error| error.to_string());
    assert_eq!(
        dantu_categories,
        Ok(dantu
            .categories()
            .iter()
            .map(|category| category.code().as_str().to_owned())
            .collect())
    );
    let mut document = builtin.to_document();
    document.categories.retain(|category| category.code != "dispute");
    document.categories.push(
        serde_json::from_value(serde_json::json!({
            "code": "noise", "display_name": "噪音", "default_handling_deadline_hours": 24
        }))
        .expect("a category"),
    );
    let changed = gridledger_domain::Registry::from_document(document).expect("a valid registry");
    let refused = Profile::Runzhou
        .categories(&changed)
        .map(|_| ())
        .map_err(|error| error.to_string());
    assert_eq!(
        refused,
        Err("profile runzhou does not describe the registry's categories noise (their frequency, responders and titles)".to_owned())
    );
}

#[test]
fn the_summary_tells_people_the_planned_figures_and_scripts_every_count() {
    let planned = PlannedFigures::of(&plan(1));
    let summary = super::SimulationSummary {
        profile: Profile::Runzhou,
        seed: 1,
        issues_reported: planned.reports,
        commands_sent: planned.commands,
        duplicate_acks: 0,
        retries: 2,
        concurrency: 32,
        elapsed_seconds: 10.0,
        commands_per_second: planned.commands as f64 / 10.0,
        planned,
    };
    let text = summary.text_for_people();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with("simulated profile runzhou, seed 1: 4420 issues reported, "),
        "{text}"
    );
    assert!(
        lines[0]
            .ends_with(" commands sent in 10.0 s (2452 commands/s, 32 concurrent walks, 2 retries, 0 duplicate acks)"),
        "{text}"
    );
    assert_eq!(
        lines[1],
        "planned figures: accepted 4350, closed 4294, closure rate 98.7% (98.713%), deliberation meetings 2750, participants 40000"
    );
    assert!(
        lines[2].starts_with("  4420 reported, 70 withdrawn, 56 open; "),
        "{text}"
    );
    let json = summary.to_json();
    for (key, expected) in [
        ("accepted", 4_350.0),
        ("closed", 4_294.0),
        ("closure_rate_percent", 98.7),
        ("deliberation_meetings", 2_750.0),
        ("participants", 40_000.0),
        ("withdrawn", 70.0),
        ("open", 56.0),
        ("reopened", 95.0),
    ] {
        assert_eq!(json[key].as_f64(), Some(expected), "{key} in {json}");
    }
}
