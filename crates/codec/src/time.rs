//! Timestamps between `google.protobuf.Timestamp` and the domain's microsecond `Timestamp`.

use gridledger_domain::Timestamp;

use crate::error::WireError;

/// Seconds of [`Timestamp::PROTOBUF_MIN`], 0001-01-01T00:00:00Z.
const PROTOBUF_MIN_SECONDS: i64 = -62_135_596_800;
/// Seconds of the last second protobuf can represent, 9999-12-31T23:59:59Z.
const PROTOBUF_MAX_SECONDS: i64 = 253_402_300_799;

/// A wire timestamp as a domain timestamp (sub-microsecond digits are dropped).
///
/// Refused, naming `field`: `nanos` outside 0..1000000000, and any instant outside
/// `google.protobuf.Timestamp`'s range, 0001-01-01T00:00:00Z..=9999-12-31T23:59:59.999999999Z
/// (so every time on the wire and in the log has an RFC 3339 form).
pub fn timestamp_from_proto(field: &'static str, value: &prost_types::Timestamp) -> Result<Timestamp, WireError> {
    if !(0..1_000_000_000).contains(&value.nanos) {
        return Err(WireError::invalid(
            field,
            format!("nanos {} must be in 0..1000000000", value.nanos),
        ));
    }
    if !(PROTOBUF_MIN_SECONDS..=PROTOBUF_MAX_SECONDS).contains(&value.seconds) {
        return Err(WireError::invalid(
            field,
            format!(
                "{} seconds since the Unix epoch is outside {}..={}, the range of a protobuf Timestamp",
                value.seconds,
                Timestamp::PROTOBUF_MIN,
                Timestamp::PROTOBUF_MAX
            ),
        ));
    }
    // In range, so neither step can overflow: |seconds| < 2^38 and micros < 2^58.
    let micros = value.seconds * 1_000_000 + i64::from(value.nanos / 1_000);
    Ok(Timestamp::from_unix_micros(micros))
}

/// A domain timestamp on the wire.
pub fn timestamp_to_proto(value: Timestamp) -> prost_types::Timestamp {
    let micros = value.as_unix_micros();
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: i32::try_from(micros.rem_euclid(1_000_000) * 1_000).unwrap_or(0),
    }
}

/// A required wire timestamp.
pub fn required_timestamp(field: &'static str, value: Option<prost_types::Timestamp>) -> Result<Timestamp, WireError> {
    let value = value.ok_or_else(|| WireError::invalid(field, "is required"))?;
    timestamp_from_proto(field, &value)
}

/// An optional wire timestamp.
pub fn optional_timestamp(
    field: &'static str,
    value: Option<&prost_types::Timestamp>,
) -> Result<Option<Timestamp>, WireError> {
    value.map(|value| timestamp_from_proto(field, value)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_wire_including_before_the_epoch() {
        for micros in [0, 1, 999_999, 1_000_000, 1_700_000_000_123_456, -1, -1_500_000] {
            let timestamp = Timestamp::from_unix_micros(micros);
            assert_eq!(timestamp_from_proto("t", &timestamp_to_proto(timestamp)), Ok(timestamp));
        }
        let bad = prost_types::Timestamp { seconds: 0, nanos: -1 };
        assert!(matches!(
            timestamp_from_proto("due_at", &bad),
            Err(WireError::InvalidField { field: "due_at", .. })
        ));
        let huge = prost_types::Timestamp {
            seconds: i64::MAX,
            nanos: 0,
        };
        assert!(timestamp_from_proto("due_at", &huge).is_err());
    }

    #[test]
    fn only_protobufs_range_is_accepted() {
        let at = |seconds: i64, nanos: i32| timestamp_from_proto("due_at", &prost_types::Timestamp { seconds, nanos });
        assert_eq!(at(PROTOBUF_MIN_SECONDS, 0), Ok(Timestamp::PROTOBUF_MIN));
        assert_eq!(at(PROTOBUF_MAX_SECONDS, 999_999_999), Ok(Timestamp::PROTOBUF_MAX));
        assert_eq!(
            timestamp_to_proto(Timestamp::PROTOBUF_MIN).seconds,
            PROTOBUF_MIN_SECONDS
        );
        assert_eq!(
            timestamp_to_proto(Timestamp::PROTOBUF_MAX).seconds,
            PROTOBUF_MAX_SECONDS
        );
        for (seconds, nanos) in [
            (PROTOBUF_MIN_SECONDS - 1, 999_999_999),
            (PROTOBUF_MAX_SECONDS + 1, 0),
            (i64::MIN, 0),
            (i64::MIN / 1_000_000, 0),
            (i64::MAX / 1_000_000, 0),
        ] {
            let error = at(seconds, nanos).expect_err("outside protobuf's range");
            assert!(
                matches!(&error, WireError::InvalidField { field: "due_at", reason } if reason.contains("0001-01-01T00:00:00.000000Z..=9999-12-31T23:59:59.999999Z")),
                "{error}"
            );
        }
    }
}
