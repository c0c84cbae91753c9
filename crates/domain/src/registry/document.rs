//! The registry's JSON file format ([`RegistryDocument`] and its entries), reading it
//! ([`Registry::from_json_str`], [`Registry::from_document`], which validates) and writing
//! it ([`Registry::to_document`], [`Registry::to_json_pretty`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Community, DisplayName, District, Grid, Registry, RegistryError, Street};
use crate::category::Category;
use crate::jurisdiction::{CommunityCode, DistrictCode, GridCode, InvalidCodeError, StreetCode};
use crate::location::{BoundingBox, BoundingBoxFields};
use crate::time_zone::DistrictTimeZone;

/// The registry file format, read by [`Registry::from_json_str`] and written by
/// [`Registry::to_json_pretty`]. Unvalidated; unknown fields are refused.
///
/// ```json
/// {
///   "districts":   [{"code": "runzhou", "display_name": "Runzhou",
///                    "time_zone": "Asia/Shanghai"}],
///   "streets":     [{"code": "runzhou.s1", "display_name": "Street 1"}],
///   "communities": [{"code": "runzhou.s1.c01", "display_name": "Community 1"}],
///   "grids":       [{"code": "runzhou.s1.c01.g01", "display_name": "Grid 1"}],
///   "categories":  [{"code": "work-safety", "display_name": "安监",
///                    "default_handling_deadline_hours": 24}]
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryDocument {
    /// Districts (one-segment codes), each with its time zone.
    pub districts: Vec<DistrictDocument>,
    /// Streets (two-segment codes), each inside a listed district.
    pub streets: Vec<JurisdictionDocument>,
    /// Communities (three-segment codes), each inside a listed street.
    pub communities: Vec<JurisdictionDocument>,
    /// Grids (four-segment codes), each inside a listed community.
    pub grids: Vec<JurisdictionDocument>,
    /// Issue categories.
    pub categories: Vec<CategoryDocument>,
}

/// One district in a [`RegistryDocument`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistrictDocument {
    /// The district code.
    pub code: String,
    /// Its human-readable name.
    pub display_name: String,
    /// The IANA time zone its calendar is kept in (`Asia/Shanghai`); required: months,
    /// periods and dates without an offset are read in it (`docs/metrics.md#local-time`).
    pub time_zone: String,
    /// Optional: the rectangle the district lies in, `{"south": 32.08, "west": 119.28,
    /// "north": 32.25, "east": 119.50}` in degrees (WGS-84). A location given with a report,
    /// a handling or a resolution more than 0.05 degrees outside it is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounding_box: Option<BoundingBoxFields>,
}

/// One street, community or grid in a [`RegistryDocument`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JurisdictionDocument {
    /// The jurisdiction code.
    pub code: String,
    /// Its human-readable name.
    pub display_name: String,
}

/// One category in a [`RegistryDocument`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryDocument {
    /// The category code.
    pub code: String,
    /// Its human-readable name.
    pub display_name: String,
    /// Hours from report until a new issue of this category is due.
    pub default_handling_deadline_hours: u32,
}

fn parse_code<Code>(
    section: &'static str,
    raw_code: &str,
    parse: fn(&str) -> Result<Code, InvalidCodeError>,
) -> Result<Code, RegistryError> {
    parse(raw_code).map_err(|error| RegistryError::InvalidCode {
        section,
        code: error.code,
        reason: error.reason,
    })
}

fn parse_display_name(section: &'static str, code: &str, raw_name: &str) -> Result<DisplayName, RegistryError> {
    DisplayName::parse(raw_name).map_err(|error| RegistryError::InvalidDisplayName {
        section,
        code: code.to_owned(),
        reason: error.reason,
    })
}

fn insert_unique<Code: Ord + AsRef<str>>(
    positions: &mut BTreeMap<Code, usize>,
    section: &'static str,
    code: Code,
    position: usize,
) -> Result<(), RegistryError> {
    if positions.contains_key(&code) {
        return Err(RegistryError::DuplicateCode {
            section,
            code: code.as_ref().to_owned(),
        });
    }
    positions.insert(code, position);
    Ok(())
}

fn require_parent<ParentCode: Ord + AsRef<str>>(
    section: &'static str,
    code: &str,
    parent: &ParentCode,
    parent_positions: &BTreeMap<ParentCode, usize>,
    parent_section: &'static str,
) -> Result<(), RegistryError> {
    if parent_positions.contains_key(parent) {
        Ok(())
    } else {
        Err(RegistryError::MissingParent {
            section,
            code: code.to_owned(),
            parent: parent.as_ref().to_owned(),
            parent_section,
        })
    }
}

impl Registry {
    /// Parses and validates a registry file (see [`RegistryDocument`] for the format).
    pub fn from_json_str(json: &str) -> Result<Self, RegistryError> {
        let document: RegistryDocument = serde_json::from_str(json).map_err(|error| RegistryError::MalformedJson {
            message: error.to_string(),
        })?;
        Self::from_document(document)
    }

    /// Validates a registry document: codes well formed and of their section's level, no
    /// code twice, every parent listed, display names, district time zones and deadlines
    /// valid, at least one grid and one category. The first problem found is returned.
    pub fn from_document(document: RegistryDocument) -> Result<Self, RegistryError> {
        let mut district_positions = BTreeMap::new();
        let mut districts = Vec::with_capacity(document.districts.len());
        for entry in &document.districts {
            let code = parse_code("districts", &entry.code, DistrictCode::parse)?;
            insert_unique(&mut district_positions, "districts", code.clone(), districts.len())?;
            let display_name = parse_display_name("districts", code.as_str(), &entry.display_name)?;
            let time_zone =
                DistrictTimeZone::parse(&entry.time_zone).map_err(|reason| RegistryError::InvalidTimeZone {
                    code: code.as_str().to_owned(),
                    reason,
                })?;
            let bounding_box = entry
                .bounding_box
                .map(BoundingBox::try_from)
                .transpose()
                .map_err(|problem| RegistryError::InvalidBoundingBox {
                    code: code.as_str().to_owned(),
                    reason: problem.to_string(),
                })?;
            districts.push(District {
                code,
                display_name,
                time_zone,
                bounding_box,
            });
        }

        let mut street_positions = BTreeMap::new();
        let mut streets = Vec::with_capacity(document.streets.len());
        for entry in &document.streets {
            let code = parse_code("streets", &entry.code, StreetCode::parse)?;
            insert_unique(&mut street_positions, "streets", code.clone(), streets.len())?;
            require_parent(
                "streets",
                code.as_str(),
                &code.district(),
                &district_positions,
                "districts",
            )?;
            let display_name = parse_display_name("streets", code.as_str(), &entry.display_name)?;
            streets.push(Street { code, display_name });
        }

        let mut community_positions = BTreeMap::new();
        let mut communities = Vec::with_capacity(document.communities.len());
        for entry in &document.communities {
            let code = parse_code("communities", &entry.code, CommunityCode::parse)?;
            insert_unique(&mut community_positions, "communities", code.clone(), communities.len())?;
            require_parent(
                "communities",
                code.as_str(),
                &code.street(),
                &street_positions,
                "streets",
            )?;
            let display_name = parse_display_name("communities", code.as_str(), &entry.display_name)?;
            communities.push(Community { code, display_name });
        }

        let mut grid_positions = BTreeMap::new();
        let mut grids = Vec::with_capacity(document.grids.len());
        for entry in &document.grids {
            let code = parse_code("grids", &entry.code, GridCode::parse)?;
            insert_unique(&mut grid_positions, "grids", code.clone(), grids.len())?;
            require_parent(
                "grids",
                code.as_str(),
                &code.community(),
                &community_positions,
                "communities",
            )?;
            let display_name = parse_display_name("grids", code.as_str(), &entry.display_name)?;
            grids.push(Grid { code, display_name });
        }

        let mut category_positions = BTreeMap::new();
        let mut categories = Vec::with_capacity(document.categories.len());
        for entry in document.categories {
            let category = Category::try_from(entry)?;
            insert_unique(
                &mut category_positions,
                "categories",
                category.code().clone(),
                categories.len(),
            )?;
            categories.push(category);
        }

        if grids.is_empty() {
            return Err(RegistryError::MissingEntries { section: "grids" });
        }
        if categories.is_empty() {
            return Err(RegistryError::MissingEntries { section: "categories" });
        }
        Ok(Self {
            districts,
            streets,
            communities,
            grids,
            categories,
            district_positions,
            street_positions,
            community_positions,
            grid_positions,
            category_positions,
        })
    }

    /// The registry as a [`RegistryDocument`], entries in their registered order.
    pub fn to_document(&self) -> RegistryDocument {
        fn jurisdiction_document(code: &str, display_name: &DisplayName) -> JurisdictionDocument {
            JurisdictionDocument {
                code: code.to_owned(),
                display_name: display_name.as_str().to_owned(),
            }
        }
        RegistryDocument {
            districts: self
                .districts
                .iter()
                .map(|entry| DistrictDocument {
                    code: entry.code.as_str().to_owned(),
                    display_name: entry.display_name.as_str().to_owned(),
                    time_zone: entry.time_zone_name().to_owned(),
                    bounding_box: entry.bounding_box.map(BoundingBoxFields::from),
                })
                .collect(),
            streets: self
                .streets
                .iter()
                .map(|entry| jurisdiction_document(entry.code.as_str(), &entry.display_name))
                .collect(),
            communities: self
                .communities
                .iter()
                .map(|entry| jurisdiction_document(entry.code.as_str(), &entry.display_name))
                .collect(),
            grids: self
                .grids
                .iter()
                .map(|entry| jurisdiction_document(entry.code.as_str(), &entry.display_name))
                .collect(),
            categories: self.categories.iter().cloned().map(CategoryDocument::from).collect(),
        }
    }

    /// The registry as pretty-printed JSON in exactly the format
    /// [`Registry::from_json_str`] reads.
    pub fn to_json_pretty(&self) -> Result<String, RegistryError> {
        serde_json::to_string_pretty(&self.to_document()).map_err(|error| RegistryError::JsonEncoding {
            message: error.to_string(),
        })
    }
}

impl TryFrom<RegistryDocument> for Registry {
    type Error = RegistryError;

    fn try_from(document: RegistryDocument) -> Result<Self, Self::Error> {
        Self::from_document(document)
    }
}

impl From<Registry> for RegistryDocument {
    fn from(registry: Registry) -> Self {
        registry.to_document()
    }
}
