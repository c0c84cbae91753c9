//! Time values of the domain: [`Timestamp`] (UTC microseconds since the Unix epoch) and
//! [`DurationMicros`]. The domain never reads a clock; callers pass every instant in.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How far a command's business time (`occurred_at`) may lie after the server clock.
pub const MAX_CLOCK_SKEW: DurationMicros = DurationMicros::from_minutes(5);

/// The earliest business time (`occurred_at`) a command may claim: 2000-01-01T00:00:00Z.
/// Grid governance records begin long after it, so an earlier time is a client's mistake
/// (an unset clock, seconds sent as milliseconds), not history.
pub const EARLIEST_BUSINESS_TIME: Timestamp = Timestamp(946_684_800_000_000);

/// How far after its command's business time a deadline (`due_at` of a dispatch or a
/// committee decision) may lie: 1827 days, five years with their leap days.
pub const MAX_DEADLINE_HORIZON: DurationMicros = DurationMicros::from_days(MAX_DEADLINE_HORIZON_DAYS);

/// [`MAX_DEADLINE_HORIZON`] in days.
pub const MAX_DEADLINE_HORIZON_DAYS: i64 = 5 * 365 + 2;

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_MINUTE: i64 = 60 * MICROS_PER_SECOND;
const MICROS_PER_HOUR: i64 = 60 * MICROS_PER_MINUTE;
const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// An instant in UTC, as whole microseconds since 1970-01-01T00:00:00Z.
///
/// Every `i64` is a valid timestamp; arithmetic is checked or saturating, never panicking.
/// Serialized as the plain integer; displayed as RFC 3339 with microseconds
/// (`2026-11-27T02:59:00.000000Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);

    /// 0001-01-01T00:00:00Z, the earliest instant a `google.protobuf.Timestamp` may hold
    /// (and RFC 3339 can write).
    pub const PROTOBUF_MIN: Timestamp = Timestamp(-62_135_596_800_000_000);

    /// 9999-12-31T23:59:59.999999Z, the latest instant a `google.protobuf.Timestamp` may hold
    /// (and RFC 3339 can write), in whole microseconds.
    pub const PROTOBUF_MAX: Timestamp = Timestamp(253_402_300_799_999_999);

    /// Whether this instant lies within [`Timestamp::PROTOBUF_MIN`]..=[`Timestamp::PROTOBUF_MAX`],
    /// the range every timestamp on the wire and in the log must keep.
    pub const fn is_within_protobuf_range(self) -> bool {
        self.0 >= Self::PROTOBUF_MIN.0 && self.0 <= Self::PROTOBUF_MAX.0
    }

    /// The instant `micros` microseconds after the Unix epoch (negative: before it).
    pub const fn from_unix_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_unix_micros(self) -> i64 {
        self.0
    }

    /// `self + duration`, or `None` if the result does not fit.
    pub const fn checked_add(self, duration: DurationMicros) -> Option<Self> {
        match self.0.checked_add(duration.0) {
            Some(micros) => Some(Self(micros)),
            None => None,
        }
    }

    /// `self - duration`, or `None` if the result does not fit.
    pub const fn checked_sub(self, duration: DurationMicros) -> Option<Self> {
        match self.0.checked_sub(duration.0) {
            Some(micros) => Some(Self(micros)),
            None => None,
        }
    }

    /// `self + duration`, clamped to the representable range.
    pub const fn saturating_add(self, duration: DurationMicros) -> Self {
        Self(self.0.saturating_add(duration.0))
    }

    /// `self - duration`, clamped to the representable range.
    pub const fn saturating_sub(self, duration: DurationMicros) -> Self {
        Self(self.0.saturating_sub(duration.0))
    }

    /// `self + duration` for a [`std::time::Duration`] (sub-microsecond parts are dropped),
    /// or `None` if the result does not fit.
    pub fn checked_add_std_duration(self, duration: std::time::Duration) -> Option<Self> {
        DurationMicros::from_std_duration(duration).and_then(|micros| self.checked_add(micros))
    }

    /// The signed duration from `earlier` to `self` (negative if `earlier` is later), or
    /// `None` if it does not fit.
    pub const fn checked_duration_since(self, earlier: Timestamp) -> Option<DurationMicros> {
        match self.0.checked_sub(earlier.0) {
            Some(micros) => Some(DurationMicros(micros)),
            None => None,
        }
    }

    /// The signed duration from `earlier` to `self`, clamped to the representable range.
    pub const fn saturating_duration_since(self, earlier: Timestamp) -> DurationMicros {
        DurationMicros(self.0.saturating_sub(earlier.0))
    }
}

impl Timestamp {
    /// The UTC calendar year and month (1..=12) this instant falls in. Statistics use the
    /// district's local months instead: [`crate::time_zone::local_year_month`].
    pub fn utc_year_month(self) -> (i64, i64) {
        let (year, month, _) = civil_date_from_days_since_epoch(self.0.div_euclid(MICROS_PER_DAY));
        (year, month)
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with six fractional digits. Years outside 0000..=9999 are written
    /// with a sign and as many digits as needed.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days_since_epoch = self.0.div_euclid(MICROS_PER_DAY);
        let micros_of_day = self.0.rem_euclid(MICROS_PER_DAY);
        let (year, month, day) = civil_date_from_days_since_epoch(days_since_epoch);
        let hour = micros_of_day / MICROS_PER_HOUR;
        let minute = (micros_of_day % MICROS_PER_HOUR) / MICROS_PER_MINUTE;
        let second = (micros_of_day % MICROS_PER_MINUTE) / MICROS_PER_SECOND;
        let micros = micros_of_day % MICROS_PER_SECOND;
        if (0..=9999).contains(&year) {
            write!(formatter, "{year:04}")?;
        } else {
            write!(formatter, "{year:+05}")?;
        }
        write!(
            formatter,
            "-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{micros:06}Z"
        )
    }
}

/// Converts days since 1970-01-01 into a proleptic Gregorian (year, month, day).
///
/// Howard Hinnant's `civil_from_days`; exact for every day an `i64` microsecond
/// timestamp can name.
pub(crate) fn civil_date_from_days_since_epoch(days_since_epoch: i64) -> (i64, i64, i64) {
    let days_since_0000_03_01 = days_since_epoch + 719_468;
    let era = days_since_0000_03_01.div_euclid(146_097);
    let day_of_era = days_since_0000_03_01.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A signed span of time in whole microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DurationMicros(i64);

impl DurationMicros {
    /// No time at all.
    pub const ZERO: DurationMicros = DurationMicros(0);

    /// `micros` microseconds.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// `seconds` seconds, saturating at the representable range.
    pub const fn from_seconds(seconds: i64) -> Self {
        Self(seconds.saturating_mul(MICROS_PER_SECOND))
    }

    /// `minutes` minutes, saturating at the representable range.
    pub const fn from_minutes(minutes: i64) -> Self {
        Self(minutes.saturating_mul(MICROS_PER_MINUTE))
    }

    /// `hours` hours, saturating at the representable range.
    pub const fn from_hours(hours: i64) -> Self {
        Self(hours.saturating_mul(MICROS_PER_HOUR))
    }

    /// `days` days, saturating at the representable range.
    pub const fn from_days(days: i64) -> Self {
        Self(days.saturating_mul(MICROS_PER_DAY))
    }

    /// The whole microseconds of a [`std::time::Duration`], or `None` if it does not fit.
    pub fn from_std_duration(duration: std::time::Duration) -> Option<Self> {
        i64::try_from(duration.as_micros()).ok().map(Self)
    }

    /// The span in microseconds.
    pub const fn as_micros(self) -> i64 {
        self.0
    }
}

impl fmt::Display for DurationMicros {
    /// The largest whole unit that divides the span: `48h`, `5min`, `30s` or `1500µs`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.0;
        if micros != 0 && micros % MICROS_PER_HOUR == 0 {
            write!(formatter, "{}h", micros / MICROS_PER_HOUR)
        } else if micros != 0 && micros % MICROS_PER_MINUTE == 0 {
            write!(formatter, "{}min", micros / MICROS_PER_MINUTE)
        } else if micros != 0 && micros % MICROS_PER_SECOND == 0 {
            write!(formatter, "{}s", micros / MICROS_PER_SECOND)
        } else {
            write!(formatter, "{micros}µs")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_display(micros: i64, expected: &str) {
        assert_eq!(
            Timestamp::from_unix_micros(micros).to_string(),
            expected,
            "micros {micros}"
        );
    }

    #[test]
    fn timestamps_name_their_utc_year_and_month() {
        assert_eq!(Timestamp::from_unix_micros(0).utc_year_month(), (1970, 1));
        assert_eq!(
            Timestamp::from_unix_micros(1_709_251_199_999_999).utc_year_month(),
            (2024, 2)
        );
        assert_eq!(
            Timestamp::from_unix_micros(1_709_251_200_000_000).utc_year_month(),
            (2024, 3)
        );
        assert_eq!(Timestamp::from_unix_micros(-1).utc_year_month(), (1969, 12));
    }

    #[test]
    fn timestamps_display_as_rfc3339_utc() {
        check_display(0, "1970-01-01T00:00:00.000000Z");
        check_display(1, "1970-01-01T00:00:00.000001Z");
        check_display(-1, "1969-12-31T23:59:59.999999Z");
        check_display(951_782_400_000_000, "2000-02-29T00:00:00.000000Z");
        check_display(1_795_748_340_123_456, "2026-11-27T02:59:00.123456Z");
        check_display(-62_135_596_800_000_000, "0001-01-01T00:00:00.000000Z");
        check_display(253_402_300_800_000_000, "+10000-01-01T00:00:00.000000Z");
        check_display(i64::MAX, "+294247-01-10T04:00:54.775807Z");
        check_display(i64::MIN, "-290308-12-21T19:59:05.224192Z");
    }

    #[test]
    fn arithmetic_is_checked_at_the_edges() {
        let near_end = Timestamp::from_unix_micros(i64::MAX - 1);
        assert_eq!(near_end.checked_add(DurationMicros::from_micros(2)), None);
        assert_eq!(
            near_end.saturating_add(DurationMicros::from_hours(1)),
            Timestamp::from_unix_micros(i64::MAX)
        );
        assert_eq!(
            Timestamp::from_unix_micros(i64::MIN).checked_sub(DurationMicros::from_micros(1)),
            None
        );
        assert_eq!(
            Timestamp::UNIX_EPOCH.checked_add_std_duration(std::time::Duration::from_millis(3)),
            Some(Timestamp::from_unix_micros(3_000))
        );
        assert_eq!(
            Timestamp::UNIX_EPOCH.checked_add_std_duration(std::time::Duration::MAX),
            None
        );
        assert_eq!(
            Timestamp::from_unix_micros(10).checked_duration_since(Timestamp::from_unix_micros(25)),
            Some(DurationMicros::from_micros(-15))
        );
        assert_eq!(DurationMicros::from_hours(i64::MAX).as_micros(), i64::MAX);
        let (earliest, latest) = (
            Timestamp::from_unix_micros(i64::MIN),
            Timestamp::from_unix_micros(i64::MAX),
        );
        assert_eq!(latest.saturating_duration_since(earliest).as_micros(), i64::MAX);
        assert_eq!(earliest.saturating_duration_since(latest).as_micros(), i64::MIN);
        assert_eq!(latest.checked_duration_since(earliest), None);
        assert_eq!(earliest.saturating_sub(DurationMicros::from_days(1)), earliest);
    }

    #[test]
    fn the_protobuf_range_is_years_one_to_9999() {
        check_display(Timestamp::PROTOBUF_MIN.as_unix_micros(), "0001-01-01T00:00:00.000000Z");
        check_display(Timestamp::PROTOBUF_MAX.as_unix_micros(), "9999-12-31T23:59:59.999999Z");
        check_display(EARLIEST_BUSINESS_TIME.as_unix_micros(), "2000-01-01T00:00:00.000000Z");
        assert!(Timestamp::PROTOBUF_MIN.is_within_protobuf_range());
        assert!(Timestamp::PROTOBUF_MAX.is_within_protobuf_range());
        assert!(
            !Timestamp::PROTOBUF_MIN
                .saturating_sub(DurationMicros::from_micros(1))
                .is_within_protobuf_range()
        );
        assert!(
            !Timestamp::PROTOBUF_MAX
                .saturating_add(DurationMicros::from_micros(1))
                .is_within_protobuf_range()
        );
        assert_eq!(MAX_DEADLINE_HORIZON, DurationMicros::from_days(1827));
    }

    #[test]
    fn durations_display_in_their_largest_whole_unit() {
        assert_eq!(MAX_CLOCK_SKEW.to_string(), "5min");
        assert_eq!(DurationMicros::from_hours(48).to_string(), "48h");
        assert_eq!(DurationMicros::from_days(1).to_string(), "24h");
        assert_eq!(DurationMicros::from_seconds(30).to_string(), "30s");
        assert_eq!(DurationMicros::from_micros(1_500).to_string(), "1500µs");
        assert_eq!(DurationMicros::ZERO.to_string(), "0µs");
    }
}
