//! Timestamps between `google.protobuf.Timestamp` and the domain's microsecond `Timestamp`.

use gridledger_domain::Timestamp;

use crate::error::WireError;

/// A wire timestamp as a domain timestamp (sub-microsecond digits are dropped).
pub fn timestamp_from_proto(field: &'static str, value: &prost_types::Timestamp) -> Result<Timestamp, WireError> {
    if !(0..1_000_000_000).contains(&value.nanos) {
        return Err(WireError::invalid(
            field,
            format!("nanos {} must be in 0..1000000000", value.nanos),
        ));
    }
    value
        .seconds
        .checked_mul(1_000_000)
        .and_then(|micros| micros.checked_add(i64::from(value.nanos / 1_000)))
        .map(Timestamp::from_unix_micros)
        .ok_or_else(|| WireError::invalid(field, format!("{} seconds is out of range", value.seconds)))
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
}
