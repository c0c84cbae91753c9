//! [`DistrictTimeZone`]: the IANA time zone a district keeps its calendar in, and the local
//! months of [`Timestamp`]s in a zone ([`local_year_month`], [`local_month_start`]).
//!
//! Zones are looked up in the IANA time zone database compiled into the binary (jiff's
//! bundled copy), never in the machine's `/usr/share/zoneinfo`: every node — a district's,
//! a statistics node, a rebuild on a laptop — then draws month boundaries at the same
//! instants, and a machine without a zone database works the same. A newer database comes
//! with a dependency update.

use std::fmt;
use std::hash::{Hash, Hasher};

use jiff::tz::{TimeZone, TimeZoneDatabase};

use crate::quote::quote_for_message;
use crate::time::Timestamp;

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// A time zone of the IANA database (`Asia/Shanghai`), validated: its name as the database
/// spells it and its rules. Equal when the names are.
#[derive(Clone)]
pub struct DistrictTimeZone {
    name: String,
    zone: TimeZone,
}

impl DistrictTimeZone {
    /// The zone named `name`, exactly as the IANA database spells it (`Asia/Shanghai`,
    /// `UTC`); an unknown name, a differently cased one, a fixed offset (`+08:00`) or a
    /// POSIX rule is refused with the reason.
    pub fn parse(name: &str) -> Result<Self, String> {
        let zone = TimeZoneDatabase::bundled().get(name).map_err(|_| {
            format!(
                "{:?} is not a time zone of the IANA database (a name such as Asia/Shanghai or UTC)",
                quote_for_message(name)
            )
        })?;
        match zone.iana_name() {
            Some(canonical) if canonical == name => Ok(Self {
                name: name.to_owned(),
                zone,
            }),
            Some(canonical) => Err(format!(
                "{:?} is spelled {canonical} in the IANA database",
                quote_for_message(name)
            )),
            None => Err(format!(
                "{:?} is not a time zone of the IANA database (a name such as Asia/Shanghai or UTC)",
                quote_for_message(name)
            )),
        }
    }

    /// `Asia/Shanghai`, the zone of the built-in districts.
    pub fn asia_shanghai() -> Self {
        Self::parse("Asia/Shanghai").unwrap_or_else(|_| Self::utc())
    }

    /// `UTC`.
    pub fn utc() -> Self {
        Self {
            name: "UTC".to_owned(),
            zone: TimeZone::UTC,
        }
    }

    /// The IANA name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The zone's rules.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }
}

impl fmt::Debug for DistrictTimeZone {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_tuple("DistrictTimeZone").field(&self.name).finish()
    }
}

impl fmt::Display for DistrictTimeZone {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.name)
    }
}

impl PartialEq for DistrictTimeZone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for DistrictTimeZone {}

impl Hash for DistrictTimeZone {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

/// The instant as jiff's, clamped to jiff's range (years -9999..=9999; every instant a
/// protobuf timestamp or the log can hold lies inside it).
fn to_jiff(instant: Timestamp) -> jiff::Timestamp {
    let micros = instant.as_unix_micros();
    jiff::Timestamp::from_microsecond(micros).unwrap_or(if micros < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    })
}

/// The local calendar year and month (1..=12) `instant` falls in, in `zone`.
pub fn local_year_month(instant: Timestamp, zone: &TimeZone) -> (i64, i64) {
    let instant = to_jiff(instant);
    let offset_micros = i64::from(zone.to_offset(instant).seconds()) * MICROS_PER_SECOND;
    let local = instant.as_microsecond() + offset_micros;
    let (year, month, _) = crate::time::civil_date_from_days_since_epoch(local.div_euclid(MICROS_PER_DAY));
    (year, month)
}

/// The first instant of local month `month` (1..=12) of `year` in `zone`: local midnight
/// on its first day (where a clock change skips that midnight, the first instant after the
/// gap). `None` outside the years -9999..=9999 or for a month outside 1..=12.
pub fn local_month_start(year: i64, month: i64, zone: &TimeZone) -> Option<Timestamp> {
    let date = jiff::civil::Date::new(i16::try_from(year).ok()?, i8::try_from(month).ok()?, 1).ok()?;
    let start = zone
        .to_ambiguous_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
        .compatible()
        .ok()?;
    Some(Timestamp::from_unix_micros(start.as_microsecond()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_parse(name: &str, expected: Result<&str, &str>) {
        match (DistrictTimeZone::parse(name), expected) {
            (Ok(zone), Ok(expected)) => assert_eq!(zone.name(), expected, "{name:?}"),
            (Err(reason), Err(part)) => assert!(reason.contains(part), "{name:?}: {reason:?} lacks {part:?}"),
            (got, expected) => panic!("{name:?}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn only_iana_names_as_the_database_spells_them_are_zones() {
        check_parse("Asia/Shanghai", Ok("Asia/Shanghai"));
        check_parse("UTC", Ok("UTC"));
        check_parse("America/New_York", Ok("America/New_York"));
        check_parse("asia/shanghai", Err("is spelled Asia/Shanghai"));
        check_parse(
            "Asia/Runzhou",
            Err("\"Asia/Runzhou\" is not a time zone of the IANA database"),
        );
        check_parse("+08:00", Err("is not a time zone"));
        check_parse("CST-8", Err("is not a time zone"));
        check_parse("", Err("is not a time zone"));
        assert_eq!(DistrictTimeZone::asia_shanghai().name(), "Asia/Shanghai");
        assert_eq!(DistrictTimeZone::asia_shanghai().to_string(), "Asia/Shanghai");
    }

    #[test]
    fn local_months_turn_at_local_midnight() {
        let shanghai = DistrictTimeZone::asia_shanghai();
        let zone = shanghai.zone();
        let at = |micros: i64| Timestamp::from_unix_micros(micros);
        // 2026-01-31T15:59:59.999999Z is 23:59:59.999999 on 31 January in Shanghai;
        // 2026-01-31T16:00:00Z is midnight on 1 February.
        let february_local_midnight = 1_769_875_200_000_000;
        assert_eq!(local_year_month(at(february_local_midnight - 1), zone), (2026, 1));
        assert_eq!(local_year_month(at(february_local_midnight), zone), (2026, 2));
        assert_eq!(local_year_month(at(february_local_midnight), &TimeZone::UTC), (2026, 1));
        assert_eq!(local_month_start(2026, 2, zone), Some(at(february_local_midnight)));
        assert_eq!(local_month_start(2026, 13, zone), None);
        assert_eq!(local_month_start(10_000, 1, zone), None);
        assert_eq!(local_year_month(at(i64::MIN), zone).0, -9999);
        assert_eq!(local_year_month(at(i64::MAX), zone).0, 9999);
    }
}
