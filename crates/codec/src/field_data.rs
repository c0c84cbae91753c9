//! What grid apps bring from the field, between the wire and the domain: a [`Location`]
//! (`proto::Location`) and the [`EvidenceRef`]s of photos and videos (`proto::EvidenceRef`),
//! validated on receipt.

use gridledger_domain::{
    EvidenceList, EvidenceMediaType, EvidenceRef, Field, Location, Sha256Digest, quote_for_message,
};

use crate::enums::{coordinate_system_from_proto, coordinate_system_to_proto};
use crate::error::WireError;
use crate::proto;

/// A wire location, checked (ranges, finite numbers, accuracy >= 0, a coordinate system);
/// `None` when the message has none.
pub fn location_from_proto(wire: Option<proto::Location>) -> Result<Option<Location>, WireError> {
    let Some(wire) = wire else {
        return Ok(None);
    };
    let coordinate_system = coordinate_system_from_proto("location.coordinate_system", wire.coordinate_system)?;
    let address = (!wire.address.is_empty()).then_some(wire.address);
    Ok(Some(Location::new(
        wire.latitude,
        wire.longitude,
        coordinate_system,
        wire.accuracy_m,
        address,
    )?))
}

/// A location as its wire message, exactly as stored.
pub fn location_to_proto(location: &Location) -> proto::Location {
    proto::Location {
        latitude: location.latitude(),
        longitude: location.longitude(),
        coordinate_system: coordinate_system_to_proto(location.coordinate_system()) as i32,
        accuracy_m: location.accuracy_metres(),
        address: location.address().unwrap_or_default().to_owned(),
    }
}

/// One wire evidence ref, checked: a 32-byte digest and a media type the node accepts.
pub fn evidence_ref_from_proto(wire: &proto::EvidenceRef) -> Result<EvidenceRef, WireError> {
    let sha256 = Sha256Digest::from_slice(Field::Evidence, &wire.sha256)?;
    let media_type = EvidenceMediaType::from_name(&wire.media_type).ok_or_else(|| {
        let allowed: Vec<&str> = EvidenceMediaType::ALL
            .iter()
            .map(|media_type| media_type.as_str())
            .collect();
        WireError::invalid(
            "evidence",
            format!(
                "media_type {:?} of {sha256} is not one of {}",
                quote_for_message(&wire.media_type),
                allowed.join(", ")
            ),
        )
    })?;
    Ok(EvidenceRef {
        sha256,
        size: wire.size,
        media_type,
    })
}

/// A ref as its wire message.
pub fn evidence_ref_to_proto(reference: &EvidenceRef) -> proto::EvidenceRef {
    proto::EvidenceRef {
        sha256: reference.sha256.as_bytes().to_vec(),
        size: reference.size,
        media_type: reference.media_type.as_str().to_owned(),
    }
}

/// The wire refs of one command or event, checked one by one and against the limits of
/// [`EvidenceList`].
pub fn evidence_list_from_proto(wire: &[proto::EvidenceRef]) -> Result<EvidenceList, WireError> {
    let entries = wire
        .iter()
        .map(evidence_ref_from_proto)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(EvidenceList::new(entries)?)
}

/// Refs as their wire messages, in order.
pub fn evidence_list_to_proto(entries: &[EvidenceRef]) -> Vec<proto::EvidenceRef> {
    entries.iter().map(evidence_ref_to_proto).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire_location(latitude: f64, longitude: f64, coordinate_system: i32, accuracy: Option<f64>) -> proto::Location {
        proto::Location {
            latitude,
            longitude,
            coordinate_system,
            accuracy_m: accuracy,
            address: "金山路 3 号".to_owned(),
        }
    }

    fn check(wire: proto::Location, expected: Result<(), &str>) {
        match (location_from_proto(Some(wire.clone())), expected) {
            (Ok(Some(location)), Ok(())) => assert_eq!(location_to_proto(&location), wire, "returned as given"),
            (Err(refusal), Err(expected_field)) => assert_eq!(refusal.field(), Some(expected_field), "{refusal}"),
            (outcome, expected) => panic!("{wire:?}: got {outcome:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn wire_locations_are_validated_and_kept_as_given() {
        let gcj02 = proto::CoordinateSystem::Gcj02 as i32;
        check(wire_location(32.198_765_4, 119.434_567_8, gcj02, Some(12.5)), Ok(()));
        check(
            wire_location(32.2, 119.4, proto::CoordinateSystem::Bd09 as i32, None),
            Ok(()),
        );
        check(wire_location(32.2, 119.4, 0, None), Err("location.coordinate_system"));
        check(wire_location(32.2, 119.4, 17, None), Err("location.coordinate_system"));
        check(wire_location(95.0, 119.4, gcj02, None), Err("location.latitude"));
        check(wire_location(32.2, f64::NAN, gcj02, None), Err("location.longitude"));
        check(
            wire_location(32.2, 119.4, gcj02, Some(-1.0)),
            Err("location.accuracy_m"),
        );
        assert_eq!(location_from_proto(None), Ok(None));
    }

    #[test]
    fn wire_evidence_refs_need_a_digest_and_an_accepted_media_type() {
        let good = proto::EvidenceRef {
            sha256: vec![7; 32],
            size: 3_000_000,
            media_type: "image/jpeg".to_owned(),
        };
        let list = evidence_list_from_proto(std::slice::from_ref(&good)).expect("valid");
        assert_eq!(evidence_list_to_proto(list.entries()), vec![good.clone()]);
        for bad in [
            proto::EvidenceRef {
                sha256: vec![7; 31],
                ..good.clone()
            },
            proto::EvidenceRef {
                media_type: "application/pdf".to_owned(),
                ..good.clone()
            },
            proto::EvidenceRef {
                size: 0,
                ..good.clone()
            },
        ] {
            let refusal = evidence_list_from_proto(&[bad]).expect_err("refused");
            assert_eq!(refusal.field(), Some("evidence"), "{refusal}");
        }
    }
}
