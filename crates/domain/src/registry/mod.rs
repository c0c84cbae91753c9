//! The registry of jurisdictions (districts, streets, communities, grids) and categories
//! (`docs/product.md`): the validated [`Registry`], its lookups and accessors. Its JSON file
//! format and validation are in `document`, the built-in synthetic Runzhou registry in
//! `builtin`, its errors in `error`, display names in `display_name`.

mod builtin;
mod display_name;
mod document;
mod error;
mod merge;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use display_name::{DisplayName, InvalidDisplayNameError, MAX_DISPLAY_NAME_CHARS};
pub use document::{CategoryDocument, DistrictDocument, JurisdictionDocument, RegistryDocument};
pub use error::RegistryError;

use crate::category::{Category, CategoryCode};
use crate::error::DomainError;
use crate::field::Field;
use crate::jurisdiction::{CommunityCode, DistrictCode, GridCode, JurisdictionCode, JurisdictionLevel, StreetCode};
use crate::location::{BoundingBox, Location};
use crate::quote::quote_for_message;
use crate::time_zone::DistrictTimeZone;

/// A registered district.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct District {
    /// Its code, e.g. `runzhou`.
    pub code: DistrictCode,
    /// Its name.
    pub display_name: DisplayName,
    /// The zone its calendar is kept in: months, periods and dates given without an offset.
    time_zone: DistrictTimeZone,
    /// The rectangle it lies in, if the registry gives one: locations far outside it are
    /// refused ([`Registry::check_location`]).
    pub bounding_box: Option<BoundingBox>,
}

impl District {
    /// The district's time zone (`Asia/Shanghai` for the built-in districts): local months
    /// and dates of its statistics are read in it (`docs/metrics.md#local-time`).
    pub fn time_zone(&self) -> &jiff::tz::TimeZone {
        self.time_zone.zone()
    }

    /// The IANA name of [`District::time_zone`], as the registry file spells it.
    pub fn time_zone_name(&self) -> &str {
        self.time_zone.name()
    }

    /// The validated zone, name and rules.
    pub fn district_time_zone(&self) -> &DistrictTimeZone {
        &self.time_zone
    }
}

/// A registered street.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Street {
    /// Its code, e.g. `runzhou.s3`.
    pub code: StreetCode,
    /// Its name.
    pub display_name: DisplayName,
}

/// A registered community.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Community {
    /// Its code, e.g. `runzhou.s3.c07`.
    pub code: CommunityCode,
    /// Its name.
    pub display_name: DisplayName,
}

/// A registered grid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Grid {
    /// Its code, e.g. `runzhou.s3.c07.g02`.
    pub code: GridCode,
    /// Its name.
    pub display_name: DisplayName,
}

/// A validated registry: every child's parent is registered, no code twice, at least one
/// grid and one category. Entries keep the order they were listed in.
///
/// Serde reads and writes the [`RegistryDocument`] format, validating on the way in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RegistryDocument", into = "RegistryDocument")]
pub struct Registry {
    districts: Vec<District>,
    streets: Vec<Street>,
    communities: Vec<Community>,
    grids: Vec<Grid>,
    categories: Vec<Category>,
    district_positions: BTreeMap<DistrictCode, usize>,
    street_positions: BTreeMap<StreetCode, usize>,
    community_positions: BTreeMap<CommunityCode, usize>,
    grid_positions: BTreeMap<GridCode, usize>,
    category_positions: BTreeMap<CategoryCode, usize>,
}

fn unknown_jurisdiction(code: &impl AsRef<str>) -> RegistryError {
    RegistryError::UnknownJurisdiction {
        code: quote_for_message(code.as_ref()),
    }
}

impl Registry {
    /// The district with this code.
    pub fn district(&self, code: &DistrictCode) -> Result<&District, RegistryError> {
        self.district_positions
            .get(code)
            .and_then(|position| self.districts.get(*position))
            .ok_or_else(|| unknown_jurisdiction(code))
    }

    /// The street with this code.
    pub fn street(&self, code: &StreetCode) -> Result<&Street, RegistryError> {
        self.street_positions
            .get(code)
            .and_then(|position| self.streets.get(*position))
            .ok_or_else(|| unknown_jurisdiction(code))
    }

    /// The community with this code.
    pub fn community(&self, code: &CommunityCode) -> Result<&Community, RegistryError> {
        self.community_positions
            .get(code)
            .and_then(|position| self.communities.get(*position))
            .ok_or_else(|| unknown_jurisdiction(code))
    }

    /// The grid with this code.
    pub fn grid(&self, code: &GridCode) -> Result<&Grid, RegistryError> {
        self.grid_positions
            .get(code)
            .and_then(|position| self.grids.get(*position))
            .ok_or_else(|| unknown_jurisdiction(code))
    }

    /// Checks that `location`, given for an issue in `grid`, lies within the bounding box of
    /// the grid's district (widened by [`crate::BOUNDING_BOX_MARGIN_DEGREES`]), when the
    /// registry gives the district one; an invalid [`Field::Location`] otherwise.
    pub fn check_location(&self, grid: &GridCode, location: &Location) -> Result<(), DomainError> {
        let district = self.district(&grid.district())?;
        match &district.bounding_box {
            Some(bounding_box) if !bounding_box.admits(location) => Err(DomainError::InvalidField {
                field: Field::Location,
                reason: format!(
                    "{location} lies far outside district {} ({bounding_box}); check the fix and that latitude and longitude are not swapped",
                    district.code
                ),
            }),
            _ => Ok(()),
        }
    }

    /// The category with this code.
    pub fn category(&self, code: &CategoryCode) -> Result<&Category, RegistryError> {
        self.category_positions
            .get(code)
            .and_then(|position| self.categories.get(*position))
            .ok_or_else(|| RegistryError::UnknownCategory {
                code: code.as_str().to_owned(),
            })
    }

    /// The display name of a jurisdiction of any level.
    pub fn jurisdiction_display_name(&self, code: &JurisdictionCode) -> Result<&DisplayName, RegistryError> {
        let unknown = || unknown_jurisdiction(code);
        match code.level() {
            JurisdictionLevel::District => {
                let code = DistrictCode::try_from(code.clone()).map_err(|_| unknown())?;
                self.district(&code).map(|entry| &entry.display_name)
            }
            JurisdictionLevel::Street => {
                let code = StreetCode::try_from(code.clone()).map_err(|_| unknown())?;
                self.street(&code).map(|entry| &entry.display_name)
            }
            JurisdictionLevel::Community => {
                let code = CommunityCode::try_from(code.clone()).map_err(|_| unknown())?;
                self.community(&code).map(|entry| &entry.display_name)
            }
            JurisdictionLevel::Grid => {
                let code = GridCode::try_from(code.clone()).map_err(|_| unknown())?;
                self.grid(&code).map(|entry| &entry.display_name)
            }
        }
    }

    /// The time zone of the district `code` lies in (a district, street, community or grid
    /// code); unknown if that district is not registered.
    pub fn time_zone_of(&self, code: &JurisdictionCode) -> Result<&jiff::tz::TimeZone, RegistryError> {
        self.district_of(code).map(District::time_zone)
    }

    /// The one time zone of every district of the registry, for a node that keeps all of
    /// them in one projection (a district node's log holds whatever its registry lists):
    /// [`RegistryError::MixedTimeZones`] names two districts whose zones differ.
    pub fn shared_time_zone(&self) -> Result<&DistrictTimeZone, RegistryError> {
        let Some(first) = self.districts.first() else {
            return Err(RegistryError::MissingEntries { section: "districts" });
        };
        match self
            .districts
            .iter()
            .find(|district| district.time_zone != first.time_zone)
        {
            None => Ok(&first.time_zone),
            Some(other) => Err(RegistryError::MixedTimeZones {
                first: first.code.as_str().to_owned(),
                first_zone: first.time_zone.name().to_owned(),
                other: other.code.as_str().to_owned(),
                other_zone: other.time_zone.name().to_owned(),
            }),
        }
    }

    /// The district `code` lies in (a district, street, community or grid code).
    pub fn district_of(&self, code: &JurisdictionCode) -> Result<&District, RegistryError> {
        let district = code
            .ancestor_at(JurisdictionLevel::District)
            .and_then(|district| DistrictCode::try_from(district).ok())
            .ok_or_else(|| unknown_jurisdiction(code))?;
        self.district(&district)
    }

    /// Whether a jurisdiction of any level is registered.
    pub fn contains_jurisdiction(&self, code: &JurisdictionCode) -> bool {
        self.jurisdiction_display_name(code).is_ok()
    }

    /// Every district, in registered order.
    pub fn districts(&self) -> &[District] {
        &self.districts
    }

    /// Every street, in registered order.
    pub fn streets(&self) -> &[Street] {
        &self.streets
    }

    /// Every community, in registered order.
    pub fn communities(&self) -> &[Community] {
        &self.communities
    }

    /// Every grid, in registered order.
    pub fn grids(&self) -> &[Grid] {
        &self.grids
    }

    /// Every category, in registered order.
    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    /// How many districts are registered.
    pub fn district_count(&self) -> usize {
        self.districts.len()
    }

    /// How many streets are registered.
    pub fn street_count(&self) -> usize {
        self.streets.len()
    }

    /// How many communities are registered.
    pub fn community_count(&self) -> usize {
        self.communities.len()
    }

    /// How many grids are registered.
    pub fn grid_count(&self) -> usize {
        self.grids.len()
    }

    /// How many categories are registered.
    pub fn category_count(&self) -> usize {
        self.categories.len()
    }

    /// The streets of a district, in registered order (none if the district is unknown).
    pub fn streets_of<'registry>(
        &'registry self,
        district: &'registry DistrictCode,
    ) -> impl Iterator<Item = &'registry Street> {
        self.streets
            .iter()
            .filter(move |street| street.code.district() == *district)
    }

    /// The communities of a street, in registered order (none if the street is unknown).
    pub fn communities_of<'registry>(
        &'registry self,
        street: &'registry StreetCode,
    ) -> impl Iterator<Item = &'registry Community> {
        self.communities
            .iter()
            .filter(move |community| community.code.street() == *street)
    }

    /// The grids of a community, in registered order (none if the community is unknown).
    pub fn grids_of<'registry>(
        &'registry self,
        community: &'registry CommunityCode,
    ) -> impl Iterator<Item = &'registry Grid> {
        self.grids
            .iter()
            .filter(move |grid| grid.code.community() == *community)
    }

    /// The grids inside a jurisdiction of any level (a grid code yields that grid), in
    /// registered order.
    pub fn grids_within<'registry>(
        &'registry self,
        scope: &'registry JurisdictionCode,
    ) -> impl Iterator<Item = &'registry Grid> {
        self.grids
            .iter()
            .filter(move |grid| grid.code.as_jurisdiction_code().is_within(scope))
    }
}
