//! [`Location`]: where a grid worker stood when reporting an issue or fixing it, kept exactly
//! as the app gave it (latitude and longitude in the app's [`CoordinateSystem`], accuracy,
//! a free-text address), and a district's [`BoundingBox`], which catches a report placed
//! far outside the district (a swapped latitude and longitude, a default 0,0 fix).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::field::Field;
use crate::stable_name::enum_with_stable_names;

/// Most characters of a location's free-text address.
pub const MAX_ADDRESS_CHARS: usize = 500;

/// How far outside its district's bounding box a location may lie, in degrees of latitude
/// and of longitude (about 5 km): GCJ-02 and BD-09 coordinates are offset from WGS-84 by up
/// to about a kilometre, a fix has its inaccuracy, and a worker may stand on the boundary.
pub const BOUNDING_BOX_MARGIN_DEGREES: f64 = 0.05;

enum_with_stable_names! {
    /// The coordinate system of a location's latitude and longitude. Stored as given: the
    /// server never converts between them.
    pub enum CoordinateSystem {
        /// WGS-84, as GPS receivers report it.
        Wgs84 => "WGS84",
        /// GCJ-02, as Chinese map SDKs (AMap, Tencent Maps) return it.
        Gcj02 => "GCJ02",
        /// BD-09, as Baidu Maps returns it.
        Bd09 => "BD09",
    }
}

/// A location as a grid app gave it. Built by [`Location::new`], which checks every field:
/// latitude in -90..=90, longitude in -180..=180, both finite; accuracy finite and >= 0;
/// an address of at most [`MAX_ADDRESS_CHARS`] characters without control characters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "LocationFields", into = "LocationFields")]
pub struct Location {
    latitude: f64,
    longitude: f64,
    coordinate_system: CoordinateSystem,
    accuracy_metres: Option<f64>,
    address: Option<String>,
}

// Every f64 of a Location is finite (checked by `Location::new`), so equality is total.
impl Eq for Location {}

/// The fields of a [`Location`], unchecked: its serialized form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationFields {
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
    /// The coordinate system.
    pub coordinate_system: CoordinateSystem,
    /// Metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_metres: Option<f64>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl TryFrom<LocationFields> for Location {
    type Error = DomainError;

    fn try_from(fields: LocationFields) -> Result<Self, Self::Error> {
        Location::new(
            fields.latitude,
            fields.longitude,
            fields.coordinate_system,
            fields.accuracy_metres,
            fields.address,
        )
    }
}

impl From<Location> for LocationFields {
    fn from(location: Location) -> Self {
        LocationFields {
            latitude: location.latitude,
            longitude: location.longitude,
            coordinate_system: location.coordinate_system,
            accuracy_metres: location.accuracy_metres,
            address: location.address,
        }
    }
}

fn invalid(field: Field, reason: impl Into<String>) -> DomainError {
    DomainError::InvalidField {
        field,
        reason: reason.into(),
    }
}

fn check_degrees(field: Field, value: f64, bound: f64) -> Result<f64, DomainError> {
    if !value.is_finite() {
        return Err(invalid(
            field,
            format!("must be a finite number of degrees, got {value}"),
        ));
    }
    if !(-bound..=bound).contains(&value) {
        return Err(invalid(
            field,
            format!("must be within -{bound}..={bound} degrees, got {value}"),
        ));
    }
    Ok(value)
}

impl Location {
    /// Checks and builds a location. An empty address is no address.
    pub fn new(
        latitude: f64,
        longitude: f64,
        coordinate_system: CoordinateSystem,
        accuracy_metres: Option<f64>,
        address: Option<String>,
    ) -> Result<Self, DomainError> {
        let latitude = check_degrees(Field::LocationLatitude, latitude, 90.0)?;
        let longitude = check_degrees(Field::LocationLongitude, longitude, 180.0)?;
        if let Some(accuracy) = accuracy_metres
            && !(accuracy.is_finite() && accuracy >= 0.0)
        {
            return Err(invalid(
                Field::LocationAccuracy,
                format!("must be a finite number of metres >= 0, got {accuracy}"),
            ));
        }
        let address = address.filter(|address| !address.is_empty());
        if let Some(address) = &address {
            let characters = address.chars().count();
            if characters > MAX_ADDRESS_CHARS {
                return Err(invalid(
                    Field::LocationAddress,
                    format!("must be at most {MAX_ADDRESS_CHARS} characters, got {characters} characters"),
                ));
            }
            if address.chars().any(char::is_control) {
                return Err(invalid(Field::LocationAddress, "must not contain control characters"));
            }
        }
        Ok(Location {
            latitude,
            longitude,
            coordinate_system,
            accuracy_metres,
            address,
        })
    }

    /// Degrees north (negative: south), in [`Self::coordinate_system`].
    pub fn latitude(&self) -> f64 {
        self.latitude
    }

    /// Degrees east (negative: west), in [`Self::coordinate_system`].
    pub fn longitude(&self) -> f64 {
        self.longitude
    }

    /// The coordinate system the app gave the coordinates in.
    pub fn coordinate_system(&self) -> CoordinateSystem {
        self.coordinate_system
    }

    /// The fix's accuracy in metres, if the app knew it.
    pub fn accuracy_metres(&self) -> Option<f64> {
        self.accuracy_metres
    }

    /// The free-text address, if any.
    pub fn address(&self) -> Option<&str> {
        self.address.as_deref()
    }
}

impl fmt::Display for Location {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{:.6},{:.6} ({})",
            self.latitude,
            self.longitude,
            self.coordinate_system.as_str()
        )
    }
}

/// The rectangle a district lies in, in degrees (WGS-84; the offsets of GCJ-02 and BD-09
/// are far smaller than [`BOUNDING_BOX_MARGIN_DEGREES`]). Does not cross the antimeridian.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "BoundingBoxFields", into = "BoundingBoxFields")]
pub struct BoundingBox {
    south: f64,
    west: f64,
    north: f64,
    east: f64,
}

// Every f64 of a BoundingBox is finite (checked by `BoundingBox::new`).
impl Eq for BoundingBox {}

impl std::hash::Hash for BoundingBox {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // `+ 0.0` turns -0.0 into 0.0, which compare equal, so equal boxes hash alike.
        for edge in [self.south, self.west, self.north, self.east] {
            (edge + 0.0).to_bits().hash(state);
        }
    }
}

/// The fields of a [`BoundingBox`], unchecked: its form in the registry file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundingBoxFields {
    /// Southern edge, degrees north.
    pub south: f64,
    /// Western edge, degrees east.
    pub west: f64,
    /// Northern edge, degrees north.
    pub north: f64,
    /// Eastern edge, degrees east.
    pub east: f64,
}

/// Why a bounding box was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidBoundingBox(String);

impl TryFrom<BoundingBoxFields> for BoundingBox {
    type Error = InvalidBoundingBox;

    fn try_from(fields: BoundingBoxFields) -> Result<Self, Self::Error> {
        BoundingBox::new(fields.south, fields.west, fields.north, fields.east)
    }
}

impl From<BoundingBox> for BoundingBoxFields {
    fn from(bounding_box: BoundingBox) -> Self {
        BoundingBoxFields {
            south: bounding_box.south,
            west: bounding_box.west,
            north: bounding_box.north,
            east: bounding_box.east,
        }
    }
}

impl BoundingBox {
    /// Checks and builds a box: finite edges, latitudes in -90..=90 with south < north,
    /// longitudes in -180..=180 with west < east.
    pub fn new(south: f64, west: f64, north: f64, east: f64) -> Result<Self, InvalidBoundingBox> {
        let finite = [south, west, north, east].iter().all(|edge| edge.is_finite());
        if !finite {
            return Err(InvalidBoundingBox(
                "every edge must be a finite number of degrees".to_owned(),
            ));
        }
        if !((-90.0..=90.0).contains(&south) && (-90.0..=90.0).contains(&north) && south < north) {
            return Err(InvalidBoundingBox(format!(
                "south ({south}) and north ({north}) must lie within -90..=90 with south < north"
            )));
        }
        if !((-180.0..=180.0).contains(&west) && (-180.0..=180.0).contains(&east) && west < east) {
            return Err(InvalidBoundingBox(format!(
                "west ({west}) and east ({east}) must lie within -180..=180 with west < east"
            )));
        }
        Ok(BoundingBox {
            south,
            west,
            north,
            east,
        })
    }

    /// The edges: south, west, north, east.
    pub fn edges(&self) -> (f64, f64, f64, f64) {
        (self.south, self.west, self.north, self.east)
    }

    /// Whether `location` lies within the box widened by [`BOUNDING_BOX_MARGIN_DEGREES`].
    pub fn admits(&self, location: &Location) -> bool {
        let margin = BOUNDING_BOX_MARGIN_DEGREES;
        (self.south - margin..=self.north + margin).contains(&location.latitude)
            && (self.west - margin..=self.east + margin).contains(&location.longitude)
    }
}

impl fmt::Display for BoundingBox {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "latitude {}..{}, longitude {}..{}",
            self.south, self.north, self.west, self.east
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Given = (f64, f64, Option<f64>, Option<&'static str>);
    /// Accepted, or refused naming a field and saying some words.
    type Expected = Result<(), (Field, &'static str)>;

    fn check(given: Given, expected: Expected) {
        let (latitude, longitude, accuracy, address) = given;
        let built = Location::new(
            latitude,
            longitude,
            CoordinateSystem::Gcj02,
            accuracy,
            address.map(str::to_owned),
        );
        match (built, expected) {
            (Ok(location), Ok(())) => {
                assert_eq!(location.latitude().to_bits(), latitude.to_bits(), "stored as given");
                assert_eq!(location.longitude().to_bits(), longitude.to_bits(), "stored as given");
                assert_eq!(location.coordinate_system(), CoordinateSystem::Gcj02);
                let json = serde_json::to_string(&location).expect("serializes");
                let back: Location = serde_json::from_str(&json).expect("deserializes");
                assert_eq!(back, location);
            }
            (Err(DomainError::InvalidField { field, reason }), Err((expected_field, expected_words))) => {
                assert_eq!(field, expected_field, "{reason}");
                assert!(
                    reason.contains(expected_words),
                    "{reason:?} should say {expected_words:?}"
                );
            }
            (built, expected) => panic!("given {given:?}: got {built:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn locations_are_checked_field_by_field_and_kept_as_given() {
        let long_address: &'static str = Box::leak("路".repeat(MAX_ADDRESS_CHARS + 1).into_boxed_str());
        let table: Vec<(Given, Expected)> = vec![
            ((32.2044, 119.4550, Some(8.5), Some("润州区 金山路 3 号")), Ok(())),
            ((90.0, 180.0, None, None), Ok(())),
            ((-90.0, -180.0, Some(0.0), Some("")), Ok(())),
            (
                (90.000_001, 119.0, None, None),
                Err((Field::LocationLatitude, "-90..=90")),
            ),
            ((-91.0, 119.0, None, None), Err((Field::LocationLatitude, "-90..=90"))),
            ((f64::NAN, 119.0, None, None), Err((Field::LocationLatitude, "finite"))),
            (
                (32.0, f64::INFINITY, None, None),
                Err((Field::LocationLongitude, "finite")),
            ),
            ((32.0, 180.5, None, None), Err((Field::LocationLongitude, "-180..=180"))),
            ((32.0, 119.0, Some(-0.1), None), Err((Field::LocationAccuracy, ">= 0"))),
            (
                (32.0, 119.0, Some(f64::NAN), None),
                Err((Field::LocationAccuracy, "finite")),
            ),
            (
                (32.0, 119.0, None, Some(long_address)),
                Err((Field::LocationAddress, "at most 500")),
            ),
            (
                (32.0, 119.0, None, Some("line\nbreak")),
                Err((Field::LocationAddress, "control")),
            ),
        ];
        for (given, expected) in table {
            check(given, expected);
        }
    }

    #[test]
    fn a_bounding_box_admits_what_lies_within_its_margin() {
        let runzhou = BoundingBox::new(32.05, 119.30, 32.30, 119.60).expect("valid box");
        let at = |latitude, longitude| {
            Location::new(latitude, longitude, CoordinateSystem::Bd09, None, None).expect("valid location")
        };
        assert!(runzhou.admits(&at(32.2, 119.45)));
        assert!(runzhou.admits(&at(32.34, 119.64)), "within the margin");
        assert!(!runzhou.admits(&at(32.40, 119.45)), "far north");
        assert!(!runzhou.admits(&at(-32.2, 119.45)), "the sign of the latitude lost");
        assert!(!runzhou.admits(&at(0.0, 0.0)), "the default fix");
        for (south, west, north, east) in [
            (32.3, 119.3, 32.05, 119.6),
            (32.05, 119.6, 32.3, 119.3),
            (f64::NAN, 119.3, 32.3, 119.6),
            (-91.0, 119.3, 32.3, 119.6),
        ] {
            assert!(BoundingBox::new(south, west, north, east).is_err());
        }
    }
}
