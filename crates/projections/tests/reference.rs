//! Every figure equals a deliberately simple recomputation from the raw events; checkpoints and replays give the live figures.

use std::collections::{BTreeMap, BTreeSet};

use gridledger_codec::encode_event;
use gridledger_domain::{
    AcceptAssignment, CategoryCode, CommandEnvelope, ConcludeDeliberation, ConveneDeliberation, DispatchIssue,
    EscalateIssue, EscalationReason, EvaluateResolution, Field, Forum, FreeText, GridCode, HandleInGrid, IssueCommand,
    IssueEvent, IssueEventBody, IssueId, IssueState, IssueStatus, IssueTitle, JurisdictionCode, MeetingId,
    MeetingParties, ParticipantCount, PersonId, RecordCommitteeDecision, Registry, ReopenIssue, ReportIssue,
    ResolutionLevel, ResolveIssue, Satisfaction, SupportingDepartments, Timestamp, WithdrawIssue, WithdrawalReason,
    decide, evolve, fold, local_month_start,
};
use gridledger_eventlog::{AppendRequest, EventLog, EventLogConfig, ExpectedRevision, RequestId, StreamId};
use gridledger_projections::{GovernanceProjection, GovernanceStats, GroupBy, StatsQuery};
use jiff::tz::TimeZone;
use proptest::prelude::*;

const DAY: i64 = 86_400_000_000;
const HOUR: i64 = 3_600_000_000;
const START: i64 = 1_514_764_800_000_000; // 2018-01-01

/// The zone of the built-in districts: the projections' months are Shanghai's.
fn shanghai() -> TimeZone {
    Registry::builtin_runzhou().districts()[0].time_zone().clone()
}

/// An instant of a period bound: UTC midnight `days` after [`START`], Shanghai's midnight
/// of that day (8 hours earlier), or Shanghai's local midnight on the first of the month
/// `days % 66` months after January 2018 (where the per-month cells are used whole).
fn bound(days: i64, kind: u8) -> Timestamp {
    match kind % 3 {
        0 => Timestamp::from_unix_micros(START + days * DAY),
        1 => Timestamp::from_unix_micros(START + days * DAY - 8 * HOUR),
        _ => {
            let month = days % 66;
            local_month_start(2018 + month / 12, month % 12 + 1, &shanghai()).expect("a month of the 2020s")
        }
    }
}
const GRIDS: [&str; 4] = [
    "runzhou.s1.c01.g01",
    "runzhou.s1.c01.g02",
    "runzhou.s1.c02.g01",
    "runzhou.s2.c01.g01",
];
const CATEGORIES: [&str; 3] = ["environment", "dispute", "work-safety"];

/// One step of a random history: which issue, which command (an index into a menu), how
/// many days after the issue's previous event, and a small argument.
type Step = (usize, u8, i64, u8);

fn command_for(menu: u8, argument: u8, occurred_at: i64) -> IssueCommand {
    let due = Timestamp::from_unix_micros(occurred_at + (1 + i64::from(argument % 20)) * DAY);
    let text = |value: &str| FreeText::parse(Field::Summary, value).unwrap_or_else(|_| FreeText::empty());
    let person = |value: &str| PersonId::parse(Field::Assignee, value).expect("valid person");
    let meeting = || MeetingId::parse(Field::Meeting, &format!("m{}", argument % 4)).expect("valid meeting");
    match menu % 11 {
        0 => HandleInGrid {
            summary: text("done"),
            evidence: Default::default(),
            location: None,
        }
        .into(),
        1 => DispatchIssue {
            assignee_id: person("ann"),
            due_at: due,
        }
        .into(),
        2 => AcceptAssignment {
            assignee_id: person("ann"),
        }
        .into(),
        3 => ConveneDeliberation {
            meeting_id: meeting(),
            forum: Forum::ResidentRepresentativeMeeting,
            parties: MeetingParties::empty(),
        }
        .into(),
        4 => ConcludeDeliberation {
            meeting_id: meeting(),
            participants: ParticipantCount::new(1 + u32::from(argument)).expect("positive"),
            outcome: text("agreed"),
            minutes: text(""),
        }
        .into(),
        5 => EscalateIssue {
            reason: EscalationReason::Recurring,
            note: None,
        }
        .into(),
        6 => RecordCommitteeDecision {
            decision: text("decided"),
            lead_department: gridledger_domain::DepartmentName::parse(Field::LeadDepartment, "works").expect("valid"),
            supporting_departments: SupportingDepartments::empty(),
            due_at: due,
        }
        .into(),
        7 => ResolveIssue {
            summary: text("fixed"),
            evidence: Default::default(),
            location: None,
        }
        .into(),
        8 => EvaluateResolution {
            satisfaction: [
                Satisfaction::Satisfied,
                Satisfaction::BasicallySatisfied,
                Satisfaction::Unsatisfied,
            ][usize::from(argument % 3)],
            evaluator_id: person("resident"),
            comment: text(""),
        }
        .into(),
        9 => ReopenIssue { reason: text("again") }.into(),
        _ => WithdrawIssue {
            reason: WithdrawalReason::OutOfScope,
        }
        .into(),
    }
}

/// Runs a random history through `decide`; returns the accepted events in log order as
/// (position, stream id, event).
fn history(issue_count: usize, steps: &[Step]) -> Vec<(u64, String, IssueEvent)> {
    let registry = Registry::builtin_runzhou();
    let mut states: Vec<IssueState> = vec![IssueState::Absent; issue_count];
    let mut last_time: Vec<i64> = vec![0; issue_count];
    let mut events = Vec::new();
    for issue in 0..issue_count {
        let issue_id = IssueId::from_uuid(uuid::Uuid::from_u128(0x1000 + issue as u128)).expect("non-nil");
        let occurred_at = START + (issue as i64 * 37 % 1500) * DAY;
        let report = ReportIssue::new(
            &registry,
            issue_id,
            GridCode::parse(GRIDS[issue % GRIDS.len()]).expect("grid"),
            &CategoryCode::parse(CATEGORIES[issue % CATEGORIES.len()]).expect("category"),
            IssueTitle::parse("an issue").expect("title"),
            FreeText::empty(),
            PersonId::parse(Field::Reporter, "worker").expect("person"),
        )
        .expect("registered");
        push(
            &mut states,
            &mut last_time,
            &mut events,
            issue,
            report.into(),
            occurred_at,
        );
    }
    for &(issue, menu, days_later, argument) in steps {
        let issue = issue % issue_count;
        let occurred_at = last_time[issue] + days_later * DAY / 4;
        push(
            &mut states,
            &mut last_time,
            &mut events,
            issue,
            command_for(menu, argument, occurred_at),
            occurred_at,
        );
    }
    events
}

fn push(
    states: &mut [IssueState],
    last_time: &mut [i64],
    events: &mut Vec<(u64, String, IssueEvent)>,
    issue: usize,
    command: IssueCommand,
    occurred_at: i64,
) {
    let now = Timestamp::from_unix_micros(START + 4000 * DAY);
    let envelope = CommandEnvelope::new(now, command).with_occurred_at(Timestamp::from_unix_micros(occurred_at));
    if let Ok(new_events) = decide(&states[issue], envelope) {
        let stream_id = IssueId::from_uuid(uuid::Uuid::from_u128(0x1000 + issue as u128))
            .expect("id")
            .stream_id();
        for event in new_events {
            states[issue] = evolve(std::mem::take(&mut states[issue]), &event);
            events.push((events.len() as u64 + 1, stream_id.clone(), event));
        }
        last_time[issue] = occurred_at;
    }
}

/// The figures by their definitions (docs/metrics.md), from the raw events, with the
/// domain's own fold for each issue's state and exact percentiles.
fn reference(events: &[(u64, String, IssueEvent)], query: &StatsQuery) -> (GovernanceStats, Vec<f64>) {
    let mut per_issue: BTreeMap<&str, Vec<&IssueEvent>> = BTreeMap::new();
    for (_, stream, event) in events {
        per_issue.entry(stream.as_str()).or_default().push(event);
    }
    let at = query.at.as_unix_micros();
    let in_period = |micros: i64| {
        query.period_start.is_none_or(|start| micros >= start.as_unix_micros())
            && query.period_end.is_none_or(|end| micros < end.as_unix_micros())
    };
    let mut in_scope: BTreeSet<&str> = BTreeSet::new();
    let mut stats = GovernanceStats::default();
    let mut hours_to_close = Vec::new();
    for (stream, issue_events) in &per_issue {
        let IssueState::Existing(issue) = fold(issue_events.iter().copied()) else {
            continue;
        };
        let scope_ok = query
            .scope
            .as_ref()
            .is_none_or(|scope| issue.grid.as_jurisdiction_code().is_within(scope));
        let category_ok = query
            .category
            .as_ref()
            .is_none_or(|category| issue.category == *category);
        if !(scope_ok && category_ok) {
            continue;
        }
        in_scope.insert(stream);
        if issue.status == IssueStatus::Withdrawn || !in_period(issue.reported_at.as_unix_micros()) {
            continue;
        }
        stats.accepted += 1;
        let closed = issue.status == IssueStatus::Resolved;
        if closed {
            stats.closed += 1;
            match issue.resolution_level {
                Some(ResolutionLevel::Grid) => stats.resolved_in_grid += 1,
                Some(ResolutionLevel::Community) => stats.resolved_by_community += 1,
                Some(ResolutionLevel::Committee) => stats.resolved_by_committee += 1,
                None => {}
            }
            let resolved_at = issue.last_resolved_at.expect("resolved").as_unix_micros();
            hours_to_close.push((resolved_at - issue.reported_at.as_unix_micros()) as f64 / 3.6e9);
        }
        stats.escalated += u64::from(issue.escalations > 0);
        stats.committee_decisions += u64::from(issue.committee_decisions);
        for event in issue_events {
            if let IssueEventBody::ResolutionEvaluated(evaluated) = &event.body {
                stats.evaluations += 1;
                stats.satisfied += u64::from(evaluated.satisfaction != Satisfaction::Unsatisfied);
            }
        }
        stats.reopened += u64::from(issue.reopen_count > 0);
        let due_at = issue.due_at.as_unix_micros();
        if due_at <= at {
            stats.due += 1;
            if closed
                && issue
                    .last_resolved_at
                    .is_some_and(|resolved| resolved.as_unix_micros() <= due_at)
            {
                stats.closed_on_time += 1;
            }
        }
        if issue.is_open() {
            stats.overdue_open += u64::from(due_at < at);
            let age_days = (at - issue.reported_at.as_unix_micros()) as f64 / DAY as f64;
            match age_days {
                age if age < 7.0 => stats.aging_under_7_days += 1,
                age if age < 30.0 => stats.aging_7_to_30_days += 1,
                age if age < 90.0 => stats.aging_30_to_90_days += 1,
                _ => stats.aging_over_90_days += 1,
            }
        }
    }
    // Meetings: first conclusion's time and participants; counted once if any issue they
    // concluded is in scope and category.
    let mut meetings: BTreeMap<String, (i64, u32, bool)> = BTreeMap::new();
    for (_, stream, event) in events {
        if let IssueEventBody::DeliberationConcluded(concluded) = &event.body {
            let entry = meetings.entry(concluded.meeting_id.as_str().to_owned()).or_insert((
                event.occurred_at.as_unix_micros(),
                concluded.participants.get(),
                false,
            ));
            entry.2 |= in_scope.contains(stream.as_str());
        }
    }
    for (concluded_at, participants, touches_scope) in meetings.values() {
        if *touches_scope && in_period(*concluded_at) {
            stats.deliberation_meetings += 1;
            stats.participants += u64::from(*participants);
        }
    }
    let ratio = |numerator: u64, denominator: u64| {
        if denominator == 0 {
            0.0
        } else {
            numerator as f64 / denominator as f64
        }
    };
    stats.closure_rate = ratio(stats.closed, stats.accepted);
    stats.satisfaction_rate = ratio(stats.satisfied, stats.evaluations);
    stats.reopen_rate = ratio(stats.reopened, stats.closed);
    stats.on_time_closure_rate = ratio(stats.closed_on_time, stats.due);
    hours_to_close.sort_by(f64::total_cmp);
    (stats, hours_to_close)
}

fn nearest_rank(sorted: &[f64], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((quantile * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}

fn queries() -> impl Strategy<Value = StatsQuery> {
    let scopes = prop::sample::select(vec![
        None,
        Some("runzhou"),
        Some("runzhou.s1"),
        Some("runzhou.s1.c01"),
        Some("runzhou.s1.c01.g02"),
        Some("runzhou.s2"),
    ]);
    let categories = prop::sample::select(vec![None, Some("environment"), Some("dispute")]);
    let instants = prop::option::of((0..2000i64, 0..3u8));
    (scopes, categories, instants.clone(), instants, 0..3000i64).prop_map(|(scope, category, start, end, at)| {
        StatsQuery {
            scope: scope.map(|code| JurisdictionCode::parse(code).expect("code")),
            category: category.map(|code| CategoryCode::parse(code).expect("category")),
            period_start: start.map(|(days, kind)| bound(days, kind)),
            period_end: end.map(|(days, kind)| bound(days, kind)),
            at: Timestamp::from_unix_micros(START + at * DAY),
        }
    })
}

/// Compares the projection's figures with the reference's, percentiles within the
/// histogram's bucket error.
fn check(projection: &GovernanceProjection, events: &[(u64, String, IssueEvent)], query: &StatsQuery) {
    let actual = projection.stats(query);
    let (mut expected, hours) = reference(events, query);
    for (quantile, actual_hours) in [
        (0.5, actual.time_to_close_p50_hours),
        (0.9, actual.time_to_close_p90_hours),
    ] {
        let exact = nearest_rank(&hours, quantile);
        assert!(
            (actual_hours - exact).abs() <= exact * 0.05 + 0.02,
            "p{quantile}: {actual_hours} vs exact {exact}"
        );
    }
    expected.time_to_close_p50_hours = actual.time_to_close_p50_hours;
    expected.time_to_close_p90_hours = actual.time_to_close_p90_hours;
    expected.as_of_position = projection.position();
    assert_eq!(actual, expected, "{query:?}");
}

fn live(events: &[(u64, String, IssueEvent)]) -> GovernanceProjection {
    let mut projection = GovernanceProjection::new(&shanghai());
    for (position, stream, event) in events {
        projection
            .apply(*position, stream, event)
            .expect("every grid is registered");
    }
    projection
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_figure_equals_the_reference(
        issue_count in 1..10usize,
        steps in prop::collection::vec((0..10usize, 0..11u8, 0..40i64, 0..60u8), 0..80),
        query_list in prop::collection::vec(queries(), 1..6),
    ) {
        let events = history(issue_count, &steps);
        let projection = live(&events);
        for query in &query_list {
            check(&projection, &events, query);
        }
        // A breakdown's groups are the figures of their own scopes.
        let query = &query_list[0];
        for (street, stats) in projection.breakdown(&StatsQuery { scope: None, ..query.clone() }, GroupBy::Street) {
            let scoped = StatsQuery { scope: Some(JurisdictionCode::parse(&street).expect("street")), ..query.clone() };
            prop_assert_eq!(stats, projection.stats(&scoped));
        }
        // A month's row is the figures of that local month as the period (whole months:
        // the per-month cells).
        let all_time = StatsQuery { period_start: None, period_end: None, ..query.clone() };
        for (month, stats) in projection.breakdown(&all_time, GroupBy::Month) {
            let (year, month) = month.split_once('-').expect("YYYY-MM");
            let (year, month): (i64, i64) = (year.parse().expect("year"), month.parse().expect("month"));
            let next = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
            let period = StatsQuery {
                period_start: local_month_start(year, month, &shanghai()),
                period_end: local_month_start(next.0, next.1, &shanghai()),
                ..all_time.clone()
            };
            prop_assert_eq!(stats, projection.stats(&period));
        }
    }
}

/// Writes the history into a real log, then checks: a replay from position 1, a
/// checkpoint saved in two steps and loaded, and the live projection all agree.
#[test]
fn replay_and_checkpoint_equal_live() -> anyhow::Result<()> {
    let steps: Vec<Step> = (0..400)
        .map(|n| (n * 7 % 23, (n * 5 % 11) as u8, (n % 9) as i64, (n * 3 % 60) as u8))
        .collect();
    let events = history(23, &steps);
    let directory = tempfile::tempdir()?;
    let log = EventLog::open(EventLogConfig::new(directory.path()))?;
    for (position, stream, event) in &events {
        let outcome = log.append_blocking(AppendRequest {
            stream_id: StreamId::try_from(stream.as_str())?,
            expected_revision: ExpectedRevision::Any,
            request_id: RequestId::try_from(format!("r{position}"))?,
            actor_id: String::new(),
            events: vec![encode_event(event)],
        })?;
        assert_eq!(outcome.last_position, *position);
    }
    let live = live(&events);
    let zone = shanghai();
    let replayed = GovernanceProjection::replay(&log, &zone, log.head().position, |_| {})?;
    let store = log.projection_store("test")?;
    let half = events.len() as u64 / 2;
    // The checkpoint is written by a projection in another zone: the facts hold instants,
    // and the months are rebuilt in the zone the checkpoint is loaded in.
    let mut saved = GovernanceProjection::replay(&log, &TimeZone::UTC, half, |_| {})?;
    saved.save_all(&store)?;
    let mut resumed = GovernanceProjection::load(&store, &zone)?;
    assert_eq!(resumed.position(), half);
    resumed.catch_up(&log, log.head().position, |_| {})?;
    resumed.save(&store)?;
    let reloaded = GovernanceProjection::load(&store, &zone)?;
    // A projection moved to the zone afterwards is rebuilt in it too.
    let mut moved = GovernanceProjection::replay(&log, &TimeZone::UTC, log.head().position, |_| {})?;
    moved.set_time_zone(&zone)?;
    for scope in [None, Some("runzhou.s1"), Some("runzhou.s1.c01.g01"), Some("runzhou.s2")] {
        let query = StatsQuery {
            scope: scope.map(|code| JurisdictionCode::parse(code).expect("code")),
            category: None,
            period_start: None,
            period_end: None,
            at: Timestamp::from_unix_micros(START + 2500 * DAY),
        };
        let expected = live.stats(&query);
        assert!(expected.accepted > 0 || scope.is_some());
        for (name, projection) in [
            ("replayed", &replayed),
            ("resumed", &resumed),
            ("reloaded", &reloaded),
            ("moved", &moved),
        ] {
            assert_eq!(projection.stats(&query), expected, "{name} {scope:?}");
            for &group_by in GroupBy::ALL {
                assert_eq!(
                    projection.breakdown(&query, group_by),
                    live.breakdown(&query, group_by),
                    "{name} {group_by:?}"
                );
            }
        }
    }
    // A rebuild that stopped after writing entries but before its position: refused, so the
    // server replays the log rather than trusting half a checkpoint.
    store.clear()?;
    store.write_unpositioned(vec![(b"i0123456789abcdef".to_vec(), Some(vec![1, 2, 3]))])?;
    match GovernanceProjection::load(&store, &zone) {
        Err(gridledger_projections::ProjectionError::CorruptCheckpoint(reason)) => {
            assert!(reason.contains("without a position"), "{reason}");
        }
        Err(other) => anyhow::bail!("an interrupted rebuild must be refused as corrupt, got {other}"),
        Ok(_) => anyhow::bail!("an interrupted rebuild must be refused, but it loaded"),
    }
    // A complete save_all over it replaces it.
    saved.save_all(&store)?;
    assert_eq!(GovernanceProjection::load(&store, &zone)?.position(), saved.position());
    Ok(())
}
