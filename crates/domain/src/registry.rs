//! The registry of jurisdictions (districts, streets, communities, grids) and categories
//! (SPEC §3.1): its JSON file format, its validation, lookups, and the built-in synthetic
//! Runzhou registry used when no `--registry` file is given.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::category::{Category, CategoryCode};
use crate::jurisdiction::{
    CommunityCode, DistrictCode, GridCode, InvalidCodeError, JurisdictionCode, JurisdictionLevel, StreetCode,
    quote_for_message,
};

/// Most characters a display name may have.
pub const MAX_DISPLAY_NAME_CHARS: usize = 200;

/// A human-readable name of a jurisdiction or category: trimmed, 1..=200 characters, no
/// control characters. Chinese is welcome.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);

/// Why a display name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid display name: {reason}")]
pub struct InvalidDisplayNameError {
    /// What is wrong with it.
    pub reason: String,
}

impl DisplayName {
    /// Trims `value` and checks it is a valid display name.
    pub fn parse(value: &str) -> Result<Self, InvalidDisplayNameError> {
        let trimmed = value.trim();
        let refuse = |reason: String| Err(InvalidDisplayNameError { reason });
        if trimmed.is_empty() {
            return refuse("must not be empty or only whitespace".to_owned());
        }
        let character_count = trimmed.chars().count();
        if character_count > MAX_DISPLAY_NAME_CHARS {
            return refuse(format!(
                "must be at most {MAX_DISPLAY_NAME_CHARS} characters, got {character_count}"
            ));
        }
        if let Some(control) = trimmed.chars().find(|character| character.is_control()) {
            return refuse(format!("must not contain control characters, found {control:?}"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// Wraps a name the caller knows to be valid. Only for the built-in registry, whose
    /// validity is tested by re-parsing.
    fn from_trusted_string(value: String) -> Self {
        Self(value)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DisplayName {
    type Error = InvalidDisplayNameError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<DisplayName> for String {
    fn from(name: DisplayName) -> Self {
        name.0
    }
}

impl AsRef<str> for DisplayName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// The registry file format, read by [`Registry::from_json_str`] and written by
/// [`Registry::to_json_pretty`]. Unvalidated; unknown fields are refused.
///
/// ```json
/// {
///   "districts":   [{"code": "runzhou", "display_name": "Runzhou"}],
///   "streets":     [{"code": "runzhou.s1", "display_name": "Street 1"}],
///   "communities": [{"code": "runzhou.s1.c01", "display_name": "Community 1"}],
///   "grids":       [{"code": "runzhou.s1.c01.g01", "display_name": "Grid 1"}],
///   "categories":  [{"code": "work-safety", "display_name": "安监",
///                    "default_handling_deadline_hours": 24}]
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryDocument {
    /// Districts (one-segment codes).
    pub districts: Vec<JurisdictionDocument>,
    /// Streets (two-segment codes), each inside a listed district.
    pub streets: Vec<JurisdictionDocument>,
    /// Communities (three-segment codes), each inside a listed street.
    pub communities: Vec<JurisdictionDocument>,
    /// Grids (four-segment codes), each inside a listed community.
    pub grids: Vec<JurisdictionDocument>,
    /// Issue categories.
    pub categories: Vec<CategoryDocument>,
}

/// One jurisdiction in a [`RegistryDocument`].
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

/// Why a registry was refused, or a lookup failed. Every variant names the offending code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The text is not JSON of the registry's shape (message includes line and column).
    #[error("the registry is not valid JSON of the expected shape: {message}")]
    MalformedJson {
        /// The parser's description.
        message: String,
    },
    /// A code is malformed or of the wrong level for its section.
    #[error("registry {section}: invalid code {code:?}: {reason}")]
    InvalidCode {
        /// The JSON section (`streets`, `categories`, ...).
        section: &'static str,
        /// The offending code.
        code: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The same code is listed twice.
    #[error("registry {section}: {code:?} is listed more than once")]
    DuplicateCode {
        /// The JSON section.
        section: &'static str,
        /// The duplicated code.
        code: String,
    },
    /// A street, community or grid whose parent is not listed.
    #[error("registry {section}: {code:?} has no parent: {parent:?} is not listed in {parent_section}")]
    MissingParent {
        /// The JSON section of the orphan.
        section: &'static str,
        /// The orphan's code.
        code: String,
        /// The code its parent would have.
        parent: String,
        /// The section the parent should be listed in.
        parent_section: &'static str,
    },
    /// A display name is empty, too long or contains control characters.
    #[error("registry {section}: {code:?} has an invalid display_name: {reason}")]
    InvalidDisplayName {
        /// The JSON section.
        section: &'static str,
        /// The code whose name is invalid.
        code: String,
        /// What is wrong with the name.
        reason: String,
    },
    /// A category's other fields are invalid (e.g. a zero deadline).
    #[error("registry categories: {code:?} is invalid: {reason}")]
    InvalidCategory {
        /// The category code.
        code: String,
        /// What is wrong.
        reason: String,
    },
    /// A section that must not be empty is empty (a registry needs grids and categories).
    #[error("registry {section}: at least one entry is required")]
    MissingEntries {
        /// The empty section.
        section: &'static str,
    },
    /// A lookup of a jurisdiction that is not in the registry.
    #[error("unknown jurisdiction {code:?}: it is not in the registry")]
    UnknownJurisdiction {
        /// The code looked up.
        code: String,
    },
    /// A lookup of a category that is not in the registry.
    #[error("unknown category {code:?}: it is not in the registry")]
    UnknownCategory {
        /// The code looked up.
        code: String,
    },
    /// The registry could not be written as JSON.
    #[error("the registry could not be encoded as JSON: {message}")]
    JsonEncoding {
        /// The encoder's description.
        message: String,
    },
}

/// A registered district.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct District {
    /// Its code, e.g. `runzhou`.
    pub code: DistrictCode,
    /// Its name.
    pub display_name: DisplayName,
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

/// Communities per street in the built-in registry (52 in all).
const BUILTIN_COMMUNITIES_PER_STREET: [u32; 7] = [8, 8, 8, 7, 7, 7, 7];

/// The built-in categories: code, display name, default handling deadline in hours.
const BUILTIN_CATEGORIES: [(&str, &str, u32); 9] = [
    ("public-security", "Public security (综治)", 48),
    ("civil-affairs", "Civil affairs (民政)", 120),
    ("work-safety", "Work safety (安监)", 24),
    ("property-management", "Property management (物业)", 72),
    ("environment", "Environment and sanitation (环境卫生)", 72),
    ("dispute", "Disputes (矛盾纠纷)", 168),
    ("elderly-and-children", "Elderly and children (助老助幼)", 120),
    ("municipal-facilities", "Municipal facilities (市政设施)", 120),
    ("other", "Other (其他)", 168),
];

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

fn positions_by_code<Entry, Code: Ord + Clone>(
    entries: &[Entry],
    code_of: impl Fn(&Entry) -> &Code,
) -> BTreeMap<Code, usize> {
    entries
        .iter()
        .enumerate()
        .map(|(position, entry)| (code_of(entry).clone(), position))
        .collect()
}

fn unknown_jurisdiction(code: &impl AsRef<str>) -> RegistryError {
    RegistryError::UnknownJurisdiction {
        code: quote_for_message(code.as_ref()),
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
    /// code twice, every parent listed, display names and deadlines valid, at least one
    /// grid and one category. The first problem found is returned.
    pub fn from_document(document: RegistryDocument) -> Result<Self, RegistryError> {
        let mut district_positions = BTreeMap::new();
        let mut districts = Vec::with_capacity(document.districts.len());
        for entry in &document.districts {
            let code = parse_code("districts", &entry.code, DistrictCode::parse)?;
            insert_unique(&mut district_positions, "districts", code.clone(), districts.len())?;
            let display_name = parse_display_name("districts", code.as_str(), &entry.display_name)?;
            districts.push(District { code, display_name });
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
                .map(|entry| jurisdiction_document(entry.code.as_str(), &entry.display_name))
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

    /// The built-in synthetic registry with the reference district's counts: district
    /// `runzhou`; streets `runzhou.s1`..`runzhou.s7`; 52 communities (8, 8, 8, 7, 7, 7, 7
    /// per street) `runzhou.s1.c01`...; 325 grids `runzhou.s1.c01.g01`... (every fourth
    /// community, counting from the first, has 7 grids, the other 39 have 6); and the nine
    /// categories of SPEC §3.1. Deterministic.
    pub fn builtin_runzhou() -> Self {
        let synthetic = |name: String| DisplayName::from_trusted_string(name);
        let districts = vec![District {
            code: DistrictCode::from_trusted_string("runzhou".to_owned()),
            display_name: synthetic("Runzhou District (synthetic)".to_owned()),
        }];
        let mut streets = Vec::new();
        let mut communities = Vec::new();
        let mut grids = Vec::new();
        for (street_number, community_count) in (1u32..).zip(BUILTIN_COMMUNITIES_PER_STREET) {
            let street_code = format!("runzhou.s{street_number}");
            streets.push(Street {
                code: StreetCode::from_trusted_string(street_code.clone()),
                display_name: synthetic(format!("Street {street_number} (synthetic)")),
            });
            for community_number in 1..=community_count {
                let community_code = format!("{street_code}.c{community_number:02}");
                let grid_count = if communities.len() % 4 == 0 { 7 } else { 6 };
                communities.push(Community {
                    code: CommunityCode::from_trusted_string(community_code.clone()),
                    display_name: synthetic(format!(
                        "Street {street_number} Community {community_number:02} (synthetic)"
                    )),
                });
                for grid_number in 1..=grid_count {
                    grids.push(Grid {
                        code: GridCode::from_trusted_string(format!("{community_code}.g{grid_number:02}")),
                        display_name: synthetic(format!(
                            "Street {street_number} Community {community_number:02} Grid {grid_number:02} (synthetic)"
                        )),
                    });
                }
            }
        }
        let categories: Vec<Category> = BUILTIN_CATEGORIES
            .iter()
            .map(|(code, display_name, hours)| {
                Category::from_trusted_parts(
                    CategoryCode::from_trusted_string((*code).to_owned()),
                    synthetic((*display_name).to_owned()),
                    *hours,
                )
            })
            .collect();
        Self {
            district_positions: positions_by_code(&districts, |entry| &entry.code),
            street_positions: positions_by_code(&streets, |entry| &entry.code),
            community_positions: positions_by_code(&communities, |entry| &entry.code),
            grid_positions: positions_by_code(&grids, |entry| &entry.code),
            category_positions: positions_by_code(&categories, |entry| entry.code()),
            districts,
            streets,
            communities,
            grids,
            categories,
        }
    }

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
