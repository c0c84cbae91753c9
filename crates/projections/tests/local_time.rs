//! Months are the district's local months: events around local midnight at a month
//! boundary land in the month of the district's calendar (Asia/Shanghai for the built-in
//! districts, UTC+8), in `stats` for a period of whole local months (the per-month cells)
//! or cut months (issue by issue), and in `breakdown` by month and year.

use gridledger_domain::{
    CategoryCode, CommandEnvelope, ConcludeDeliberation, ConveneDeliberation, Field, Forum, FreeText, GridCode,
    IssueCommand, IssueEvent, IssueId, IssueState, IssueTitle, MeetingId, MeetingParties, ParticipantCount, PersonId,
    Registry, ReportIssue, Timestamp, decide, evolve, local_month_start,
};
use gridledger_projections::{GovernanceProjection, GroupBy, StatsQuery};
use jiff::tz::TimeZone;

/// An instant written in RFC 3339 (with its offset).
fn at(text: &str) -> Timestamp {
    let instant: jiff::Timestamp = text.parse().expect("an RFC 3339 instant");
    Timestamp::from_unix_micros(instant.as_microsecond())
}

/// Local midnight on the first of `month` of `year` in `zone`.
fn month_start(year: i64, month: i64, zone: &TimeZone) -> Timestamp {
    local_month_start(year, month, zone).expect("a month of the 2020s")
}

/// One issue reported at each instant of `reports`, in Runzhou (Asia/Shanghai); the issue
/// of `meeting`'s index also has a deliberation meeting concluded then.
fn history(reports: &[&str], meeting: Option<(usize, &str)>) -> Vec<(u64, String, IssueEvent)> {
    let registry = Registry::builtin_runzhou();
    let now = at("2026-12-31T00:00:00Z");
    let mut events = Vec::new();
    for (index, reported_at) in reports.iter().enumerate() {
        let issue_id = IssueId::from_uuid(uuid::Uuid::from_u128(0x2000 + index as u128)).expect("non-nil");
        let report = ReportIssue::new(
            &registry,
            issue_id,
            GridCode::parse("runzhou.s1.c01.g01").expect("grid"),
            &CategoryCode::parse("environment").expect("category"),
            IssueTitle::parse("an issue").expect("title"),
            FreeText::empty(),
            PersonId::parse(Field::Reporter, "worker").expect("person"),
        )
        .expect("registered");
        let mut commands: Vec<(IssueCommand, Timestamp)> = vec![(report.into(), at(reported_at))];
        if let Some((meeting_index, concluded_at)) = meeting
            && meeting_index == index
        {
            let meeting_id = MeetingId::parse(Field::Meeting, "m1").expect("meeting");
            commands.push((
                ConveneDeliberation {
                    meeting_id: meeting_id.clone(),
                    forum: Forum::ResidentRepresentativeMeeting,
                    parties: MeetingParties::empty(),
                }
                .into(),
                at(reported_at),
            ));
            commands.push((
                ConcludeDeliberation {
                    meeting_id,
                    participants: ParticipantCount::new(12).expect("positive"),
                    outcome: FreeText::empty(),
                    minutes: FreeText::empty(),
                }
                .into(),
                at(concluded_at),
            ));
        }
        let mut state = IssueState::Absent;
        for (command, occurred_at) in commands {
            let envelope = CommandEnvelope::new(now, command).with_occurred_at(occurred_at);
            for event in decide(&state, envelope).expect("allowed") {
                state = evolve(state, &event);
                events.push((events.len() as u64 + 1, issue_id.stream_id(), event));
            }
        }
    }
    events
}

fn projection(events: &[(u64, String, IssueEvent)], zone: &TimeZone) -> GovernanceProjection {
    let mut projection = GovernanceProjection::new(zone);
    for (position, stream, event) in events {
        projection.apply(*position, stream, event).expect("registered grid");
    }
    projection
}

/// Issues reported at `reports` (and a meeting concluded at `meeting`) give, in `zone`,
/// `accepted` issues (and `meetings` meetings) for the period `[start, end)`, and by month
/// exactly the rows `months` (key, accepted, meetings).
fn check(
    reports: &[&str],
    meeting: Option<(usize, &str)>,
    zone: &TimeZone,
    (start, end): (Timestamp, Timestamp),
    (accepted, meetings): (u64, u64),
    months: &[(&str, u64, u64)],
) {
    let projection = projection(&history(reports, meeting), zone);
    let query = StatsQuery {
        scope: None,
        category: None,
        period_start: Some(start),
        period_end: Some(end),
        at: at("2026-12-31T00:00:00Z"),
    };
    let stats = projection.stats(&query);
    assert_eq!(
        (stats.accepted, stats.deliberation_meetings),
        (accepted, meetings),
        "{reports:?} in [{start}, {end}), {zone:?}"
    );
    // The scan issue by issue agrees with the cells (a breakdown always scans).
    let scanned = projection.breakdown(&query, GroupBy::District);
    let scanned = scanned
        .first()
        .map_or((0, 0), |(_, stats)| (stats.accepted, stats.deliberation_meetings));
    assert_eq!(
        scanned,
        (accepted, meetings),
        "scanned, {reports:?} in [{start}, {end})"
    );
    let all_time = StatsQuery {
        period_start: None,
        period_end: None,
        ..query
    };
    let rows: Vec<(String, u64, u64)> = projection
        .breakdown(&all_time, GroupBy::Month)
        .into_iter()
        .map(|(key, stats)| (key, stats.accepted, stats.deliberation_meetings))
        .collect();
    let expected: Vec<(String, u64, u64)> = months
        .iter()
        .map(|(key, accepted, meetings)| ((*key).to_owned(), *accepted, *meetings))
        .collect();
    assert_eq!(rows, expected, "{reports:?} by month, {zone:?}");
}

#[test]
fn events_around_midnight_at_a_month_boundary_land_in_the_right_local_month() {
    let shanghai = Registry::builtin_runzhou().districts()[0].time_zone().clone();
    let february = (month_start(2026, 2, &shanghai), month_start(2026, 3, &shanghai));
    assert_eq!(february.0, at("2026-02-01T00:00:00+08:00"));
    let around_midnight = [
        "2026-01-31T23:30:00+08:00", // 15:30Z: January, locally and in UTC
        "2026-02-01T07:00:00+08:00", // 23:00Z on 31 January: February locally
        "2026-02-01T00:00:00+08:00", // 16:00Z on 31 January: local midnight, February
        "2026-02-28T23:59:59+08:00", // 15:59:59Z: still February
        "2026-03-01T00:00:00+08:00", // 16:00Z on 28 February: March locally
    ];
    let meeting = Some((1, "2026-02-01T07:30:00+08:00")); // 23:30Z on 31 January

    // The whole local month of February: the per-month cells.
    check(
        &around_midnight,
        meeting,
        &shanghai,
        february,
        (3, 1),
        &[("2026-01", 1, 0), ("2026-02", 3, 1), ("2026-03", 1, 0)],
    );
    // A period that cuts February (from 07:00 on the 1st): scanned issue by issue.
    check(
        &around_midnight,
        meeting,
        &shanghai,
        (at("2026-02-01T07:00:00+08:00"), february.1),
        (2, 1),
        &[("2026-01", 1, 0), ("2026-02", 3, 1), ("2026-03", 1, 0)],
    );
    // Several whole months, and a period ending inside one.
    check(
        &around_midnight,
        meeting,
        &shanghai,
        (month_start(2026, 1, &shanghai), month_start(2026, 4, &shanghai)),
        (5, 1),
        &[("2026-01", 1, 0), ("2026-02", 3, 1), ("2026-03", 1, 0)],
    );
    check(
        &around_midnight,
        meeting,
        &shanghai,
        (month_start(2026, 1, &shanghai), at("2026-02-01T07:00:00+08:00")),
        (2, 0),
        &[("2026-01", 1, 0), ("2026-02", 3, 1), ("2026-03", 1, 0)],
    );
    // The same events in a UTC calendar: 07:00 on 1 February in Shanghai is January.
    check(
        &around_midnight,
        meeting,
        &TimeZone::UTC,
        (
            month_start(2026, 2, &TimeZone::UTC),
            month_start(2026, 3, &TimeZone::UTC),
        ),
        (2, 0),
        &[("2026-01", 3, 1), ("2026-02", 2, 0)],
    );
    // The year turns at local midnight too.
    let new_year = ["2025-12-31T23:59:59+08:00", "2026-01-01T00:00:00+08:00"];
    check(
        &new_year,
        None,
        &shanghai,
        (month_start(2026, 1, &shanghai), month_start(2026, 2, &shanghai)),
        (1, 0),
        &[("2025-12", 1, 0), ("2026-01", 1, 0)],
    );
    let by_year: Vec<String> = projection(&history(&new_year, None), &shanghai)
        .breakdown(
            &StatsQuery {
                scope: None,
                category: None,
                period_start: None,
                period_end: None,
                at: at("2026-12-31T00:00:00Z"),
            },
            GroupBy::Year,
        )
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(by_year, ["2025", "2026"]);
}
