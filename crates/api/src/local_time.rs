//! Times typed by people — command-line flags, HTTP query parameters, dashboard fields — read
//! in a district's local time. One parser for every read surface, so `2026-02` or
//! `2026-02-01` means the same instants in the CLI, the HTTP API and the dashboard.
//!
//! Accepted forms ([`parse_instant`]):
//!
//! | form | example | meaning |
//! |---|---|---|
//! | RFC 3339 with an offset or `Z` | `2026-02-01T07:00:00+08:00`, `2026-01-31T23:00:00Z` | that instant, as given |
//! | a date | `2026-02-01` | local midnight at the start of that day |
//! | a local date and time | `2026-02-01T07:00`, `2026-02-01T07:00:30` | that wall-clock time, local |
//!
//! and a whole local month ([`parse_month`]): `2026-02`, from local midnight on the 1st to
//! local midnight on the 1st of the next month.
//!
//! "Local" is the zone passed in: the zone of the district a query is about
//! (`Registry::time_zone_of`). A local time that a clock change skips is read forward by
//! the length of the gap; one it repeats is read as its first occurrence (jiff's
//! "compatible" disambiguation, as RFC 5545 and Temporal do). Every result lies within
//! the range of a `google.protobuf.Timestamp` (years 0001..=9999), so it can go on the wire.
//! Errors are [`WireError::InvalidField`]s naming the field and the accepted forms.

use gridledger_codec::WireError;
use gridledger_domain::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

/// The forms [`parse_instant`] accepts, as its errors list them.
pub const INSTANT_FORMS: &str = "RFC 3339 with an offset or Z (2026-02-01T07:00:00+08:00, 2026-01-31T23:00:00Z), \
     a date YYYY-MM-DD (local midnight) or a local time YYYY-MM-DDTHH:MM[:SS]";

/// The form [`parse_month`] accepts, as its errors state it.
pub const MONTH_FORM: &str = "a month YYYY-MM";

/// An instant typed by a person: RFC 3339 with an offset or `Z` (taken as given), a date
/// `YYYY-MM-DD` (local midnight at the start of that day) or a local date and time
/// `YYYY-MM-DDTHH:MM[:SS]`, local meaning in `zone`. `field` names the value in errors.
pub fn parse_instant(field: &'static str, text: &str, zone: &TimeZone) -> Result<Timestamp, WireError> {
    let refused = |reason: String| {
        WireError::invalid(
            field,
            format!(
                "{text:?} {reason}; expected {INSTANT_FORMS}, local meaning {}",
                zone_name(zone)
            ),
        )
    };
    let instant = match shape_of(text) {
        Shape::Date => {
            let date: Date = text
                .parse()
                .map_err(|error| refused(format!("is not a date ({error})")))?;
            zone.to_ambiguous_zoned(date.to_datetime(jiff::civil::Time::midnight()))
                .compatible()
                .map_err(|error| refused(format!("has no local midnight ({error})")))?
                .timestamp()
        }
        Shape::LocalDateTime => {
            let datetime: DateTime = text
                .parse()
                .map_err(|error| refused(format!("is not a date and time ({error})")))?;
            zone.to_ambiguous_zoned(datetime)
                .compatible()
                .map_err(|error| refused(format!("is not a local time ({error})")))?
                .timestamp()
        }
        Shape::WithOffset => text
            .parse::<jiff::Timestamp>()
            .map_err(|error| refused(format!("is not an RFC 3339 time ({error})")))?,
        Shape::Other => return Err(refused("is not a time".to_owned())),
    };
    within_wire_range(instant).ok_or_else(|| refused("is outside the years 0001..=9999".to_owned()))
}

/// A whole local month typed by a person, `YYYY-MM`: `[start, end)` from local midnight on
/// its first day to local midnight on the first day of the next month, in `zone`.
pub fn parse_month(field: &'static str, text: &str, zone: &TimeZone) -> Result<(Timestamp, Timestamp), WireError> {
    let refused = |reason: &str| {
        WireError::invalid(
            field,
            format!(
                "{text:?} {reason}; expected {MONTH_FORM}, local meaning {}",
                zone_name(zone)
            ),
        )
    };
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 7 && bytes[4] == b'-' && digits(&bytes[..4]) && digits(&bytes[5..]);
    if !shaped {
        return Err(refused("is not a month"));
    }
    let year: i16 = text[..4].parse().map_err(|_| refused("is not a month"))?;
    let month: i8 = text[5..].parse().map_err(|_| refused("is not a month"))?;
    let first = Date::new(year, month, 1).map_err(|_| refused("is not a month"))?;
    let start = local_midnight(first, zone).ok_or_else(|| refused("is outside the years 0001..=9999"))?;
    let end = first
        .checked_add(jiff::Span::new().months(1))
        .ok()
        .and_then(|next| local_midnight(next, zone))
        .ok_or_else(|| refused("is outside the years 0001..=9999"))?;
    Ok((start, end))
}

/// Whether reading `text` needs a time zone: anything but a time with an offset or `Z`
/// (dates, local times, months — and text that is none of these, whose error names the
/// zone). A client can skip finding the district's zone when no value needs it.
pub fn needs_time_zone(text: &str) -> bool {
    shape_of(text) != Shape::WithOffset
}

/// The zone's IANA name, or how it reads when it has none.
fn zone_name(zone: &TimeZone) -> String {
    match zone.iana_name() {
        Some(name) => format!("in {name}"),
        None => "in the district's time zone".to_owned(),
    }
}

/// Local midnight at the start of `date` in `zone`, within the wire's range.
fn local_midnight(date: Date, zone: &TimeZone) -> Option<Timestamp> {
    let zoned = zone
        .to_ambiguous_zoned(date.to_datetime(jiff::civil::Time::midnight()))
        .compatible()
        .ok()?;
    within_wire_range(zoned.timestamp())
}

/// A jiff instant as a domain timestamp, if a `google.protobuf.Timestamp` can hold it.
fn within_wire_range(instant: jiff::Timestamp) -> Option<Timestamp> {
    let timestamp = Timestamp::from_unix_micros(instant.as_microsecond());
    // jiff's range (years -9999..=9999) fits an i64 of microseconds; only the lower
    // years fall outside the wire's.
    timestamp.is_within_protobuf_range().then_some(timestamp)
}

/// Which form a text has, by its characters alone (its values are checked by parsing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `YYYY-MM-DD`.
    Date,
    /// `YYYY-MM-DDTHH:MM` or `YYYY-MM-DDTHH:MM:SS`.
    LocalDateTime,
    /// A date and time followed by an offset or `Z` (RFC 3339; jiff checks the rest).
    WithOffset,
    Other,
}

fn shape_of(text: &str) -> Shape {
    let bytes = text.as_bytes();
    let is_date = |bytes: &[u8]| {
        bytes.len() == 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && digits(&bytes[..4])
            && digits(&bytes[5..7])
            && digits(&bytes[8..])
    };
    if bytes.len() < 10 || !is_date(&bytes[..10]) {
        return Shape::Other;
    }
    let rest = &bytes[10..];
    if rest.is_empty() {
        return Shape::Date;
    }
    if !matches!(rest[0], b'T' | b't' | b' ') {
        return Shape::Other;
    }
    let clock = &rest[1..];
    let hh_mm = |bytes: &[u8]| bytes.len() == 5 && bytes[2] == b':' && digits(&bytes[..2]) && digits(&bytes[3..]);
    let local = rest[0] == b'T'
        && ((clock.len() == 5 && hh_mm(clock))
            || (clock.len() == 8 && hh_mm(&clock[..5]) && clock[5] == b':' && digits(&clock[6..])));
    if local {
        return Shape::LocalDateTime;
    }
    if clock.iter().any(|byte| matches!(byte, b'Z' | b'z' | b'+' | b'-')) {
        return Shape::WithOffset;
    }
    Shape::Other
}

fn digits(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai() -> TimeZone {
        jiff::tz::TimeZoneDatabase::bundled()
            .get("Asia/Shanghai")
            .expect("the bundled database holds Asia/Shanghai")
    }

    fn new_york() -> TimeZone {
        jiff::tz::TimeZoneDatabase::bundled()
            .get("America/New_York")
            .expect("the bundled database holds America/New_York")
    }

    /// `text` read in `zone` is `expected` (RFC 3339, as `Timestamp` displays), or an
    /// error whose message contains every one of `error_parts`.
    fn check(text: &str, zone: &TimeZone, expected: Result<&str, &[&str]>) {
        let got = parse_instant("period_start", text, zone);
        match (got, expected) {
            (Ok(instant), Ok(expected)) => assert_eq!(instant.to_string(), expected, "{text:?}"),
            (Err(error), Err(parts)) => {
                let message = error.to_string();
                assert!(
                    matches!(
                        error,
                        WireError::InvalidField {
                            field: "period_start",
                            ..
                        }
                    ),
                    "{text:?}: {message}"
                );
                for part in parts {
                    assert!(message.contains(part), "{text:?}: {message:?} lacks {part:?}");
                }
            }
            (got, expected) => panic!("{text:?}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn each_accepted_form_reads_as_documented() {
        let zone = shanghai();
        let cases: &[(&str, &str)] = &[
            // A date: local midnight at its start.
            ("2026-02-01", "2026-01-31T16:00:00.000000Z"),
            // A local date and time, with or without seconds.
            ("2026-02-01T07:00", "2026-01-31T23:00:00.000000Z"),
            ("2026-02-01T07:00:30", "2026-01-31T23:00:30.000000Z"),
            ("2026-01-31T23:30", "2026-01-31T15:30:00.000000Z"),
            // RFC 3339 with an offset or Z: as given, whatever the zone.
            ("2026-01-31T23:00:00Z", "2026-01-31T23:00:00.000000Z"),
            ("2026-01-31T23:00:00z", "2026-01-31T23:00:00.000000Z"),
            ("2026-02-01T07:00:00+08:00", "2026-01-31T23:00:00.000000Z"),
            ("2026-02-01T02:00:00-05:00", "2026-02-01T07:00:00.000000Z"),
            ("2026-02-01T07:00:00.123456+08:00", "2026-01-31T23:00:00.123456Z"),
            ("2026-02-01 07:00:00+08:00", "2026-01-31T23:00:00.000000Z"),
            ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000000Z"),
        ];
        for (text, expected) in cases {
            check(text, &zone, Ok(expected));
        }
    }

    #[test]
    fn local_times_follow_the_zone_and_its_clock_changes() {
        let zone = new_york();
        let cases: &[(&str, &str)] = &[
            ("2026-01-15", "2026-01-15T05:00:00.000000Z"),
            ("2026-07-15", "2026-07-15T04:00:00.000000Z"),
            // 02:30 on 8 March 2026 does not exist (clocks go 02:00 -> 03:00): read forward.
            ("2026-03-08T02:30", "2026-03-08T07:30:00.000000Z"),
            // 01:30 on 1 November 2026 happens twice: the first (EDT) is taken.
            ("2026-11-01T01:30", "2026-11-01T05:30:00.000000Z"),
        ];
        for (text, expected) in cases {
            check(text, &zone, Ok(expected));
        }
        check("2026-02-01T07:00", &TimeZone::UTC, Ok("2026-02-01T07:00:00.000000Z"));
    }

    #[test]
    fn refusals_name_the_field_and_the_accepted_forms() {
        let zone = shanghai();
        let forms: &[&str] = &[
            "period_start",
            "RFC 3339",
            "YYYY-MM-DD",
            "YYYY-MM-DDTHH:MM[:SS]",
            "Asia/Shanghai",
        ];
        for text in [
            "",
            "yesterday",
            "2026-2-1",
            "2026-02",
            "2026-02-30",
            "2026-13-01",
            "2026-02-01T25:00",
            "2026-02-01T07",
            "2026-02-01T07:00:00.5",
            "2026-02-01 07:00",
            "2026-02-01T07:00:00+99:00",
            "2026-02-01T07:00[Europe/Paris]",
            " 2026-02-01",
            "2026-02-01x",
            "1700000000",
            "-0001-01-01T00:00:00Z",
        ] {
            check(text, &zone, Err(forms));
        }
        check("0000-12-31T23:59:59Z", &zone, Err(&["outside the years 0001..=9999"]));
        check("0001-01-01", &zone, Err(&["outside the years 0001..=9999"]));
    }

    #[test]
    fn a_month_is_local_midnight_to_local_midnight() {
        let zone = shanghai();
        let month = |text: &str, zone: &TimeZone| {
            parse_month("month", text, zone).map(|(start, end)| (start.to_string(), end.to_string()))
        };
        let expect = |start: &str, end: &str| Ok((start.to_owned(), end.to_owned()));
        assert_eq!(
            month("2026-02", &zone),
            expect("2026-01-31T16:00:00.000000Z", "2026-02-28T16:00:00.000000Z")
        );
        assert_eq!(
            month("2026-12", &zone),
            expect("2026-11-30T16:00:00.000000Z", "2026-12-31T16:00:00.000000Z")
        );
        assert_eq!(
            month("2024-02", &TimeZone::UTC),
            expect("2024-02-01T00:00:00.000000Z", "2024-03-01T00:00:00.000000Z")
        );
        // A month across a clock change is shorter or longer than its days times 24 hours.
        assert_eq!(
            month("2026-03", &new_york()),
            expect("2026-03-01T05:00:00.000000Z", "2026-04-01T04:00:00.000000Z")
        );
        for text in [
            "",
            "2026",
            "2026-2",
            "2026-13",
            "2026-00",
            "2026-02-01",
            "26-02",
            "2026/02",
        ] {
            let error = parse_month("month", text, &zone).expect_err(text).to_string();
            for part in ["invalid month", "YYYY-MM", "Asia/Shanghai"] {
                assert!(error.contains(part), "{text:?}: {error:?} lacks {part:?}");
            }
        }
        let error = parse_month("month", "0001-01", &zone).expect_err("0001-01 starts in year 0");
        assert!(error.to_string().contains("0001..=9999"), "{error}");
    }

    #[test]
    fn only_times_with_an_offset_need_no_zone() {
        for (text, needs) in [
            ("2026-02-01T07:00:00+08:00", false),
            ("2026-01-31T23:00:00Z", false),
            ("2026-02-01", true),
            ("2026-02-01T07:00", true),
            ("2026-02", true),
            ("yesterday", true),
        ] {
            assert_eq!(needs_time_zone(text), needs, "{text}");
        }
    }

    #[test]
    fn an_instant_read_locally_falls_in_its_local_month() {
        let zone = shanghai();
        let (february, march) = parse_month("month", "2026-02", &zone).expect("a month");
        for (text, in_february) in [
            ("2026-01-31T23:30", false),
            ("2026-02-01T00:00", true),
            ("2026-02-01T07:00", true),
            ("2026-02-28T23:59:59", true),
            ("2026-03-01", false),
        ] {
            let instant = parse_instant("at", text, &zone).expect(text);
            assert_eq!((february..march).contains(&instant), in_february, "{text}");
        }
    }
}
