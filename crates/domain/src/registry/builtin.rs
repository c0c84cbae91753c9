//! The built-in synthetic registries: Runzhou, used when no `--registry` file is given (the
//! reference district's counts of streets, communities and grids), and Dantu, a second,
//! differently shaped district so that several district nodes and a city-wide statistics
//! node can be run without writing a registry file. Both have the same nine categories of
//! `docs/product.md`, so a city's figures by category line up across them, and both keep
//! their calendars in `Asia/Shanghai`.

use std::collections::BTreeMap;

use super::{Community, DisplayName, District, Grid, Registry, Street};
use crate::category::{Category, CategoryCode};
use crate::jurisdiction::{CommunityCode, DistrictCode, GridCode, StreetCode};
use crate::location::BoundingBox;
use crate::time_zone::DistrictTimeZone;

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

/// The shape of a built-in district: how many communities each street has, and how many
/// grids a community has.
struct SyntheticDistrict {
    code: &'static str,
    display_name: &'static str,
    /// South, west, north and east edges of the district, in degrees (WGS-84).
    bounding_box: (f64, f64, f64, f64),
    /// Communities per street, street 1 first.
    communities_per_street: &'static [u32],
    /// Grids of a community, given its street's index (0 for street 1) and its index among
    /// all the district's communities (0 for the first community of street 1).
    grids_per_community: fn(street_index: usize, community_index: usize) -> u32,
}

/// Runzhou: 7 streets, 52 communities (8, 8, 8, 7, 7, 7, 7 per street), 325 grids: every
/// fourth community, counting from the first, has 7 grids, the other 39 have 6.
const RUNZHOU: SyntheticDistrict = SyntheticDistrict {
    code: "runzhou",
    display_name: "Runzhou District (synthetic)",
    bounding_box: (32.08, 119.28, 32.25, 119.50),
    communities_per_street: &[8, 8, 8, 7, 7, 7, 7],
    grids_per_community: |_, community_index| if community_index % 4 == 0 { 7 } else { 6 },
};

/// Grids per community of each Dantu street: denser in the town centre (street 1), sparser
/// in the outlying townships (street 5).
const DANTU_GRIDS_PER_COMMUNITY: [u32; 5] = [7, 6, 6, 6, 5];

/// Dantu: 5 streets, 38 communities (9, 8, 7, 7, 7 per street), 230 grids (63, 48, 42, 42,
/// 35 per street: 7, 6, 6, 6 and 5 grids in each community of streets 1 to 5).
const DANTU: SyntheticDistrict = SyntheticDistrict {
    code: "dantu",
    display_name: "Dantu District (synthetic)",
    bounding_box: (31.90, 119.40, 32.25, 119.85),
    communities_per_street: &[9, 8, 7, 7, 7],
    grids_per_community: |street_index, _| DANTU_GRIDS_PER_COMMUNITY[street_index],
};

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

impl Registry {
    /// The names of the built-in registries, as [`Registry::builtin`] takes them (each is
    /// also the code of the registry's one district).
    pub const BUILTIN_NAMES: &'static [&'static str] = &["runzhou", "dantu"];

    /// The built-in registry of this name (one of [`Registry::BUILTIN_NAMES`]), or `None`.
    pub fn builtin(name: &str) -> Option<Self> {
        match name {
            "runzhou" => Some(Self::builtin_runzhou()),
            "dantu" => Some(Self::builtin_dantu()),
            _ => None,
        }
    }

    /// The built-in synthetic registry with the reference district's counts: district
    /// `runzhou`; streets `runzhou.s1`..`runzhou.s7`; 52 communities (8, 8, 8, 7, 7, 7, 7
    /// per street) `runzhou.s1.c01`...; 325 grids `runzhou.s1.c01.g01`... (every fourth
    /// community, counting from the first, has 7 grids, the other 39 have 6); and the nine
    /// categories of `docs/product.md`. Deterministic.
    pub fn builtin_runzhou() -> Self {
        Self::synthetic(&RUNZHOU)
    }

    /// A second built-in synthetic registry, shaped differently from Runzhou's: district
    /// `dantu`; streets `dantu.s1`..`dantu.s5`; 38 communities (9, 8, 7, 7, 7 per street)
    /// `dantu.s1.c01`...; 230 grids `dantu.s1.c01.g01`... (each community of streets 1 to 5
    /// has 7, 6, 6, 6 and 5 grids); and the same nine categories, with the same default
    /// deadlines, as Runzhou's. Deterministic.
    pub fn builtin_dantu() -> Self {
        Self::synthetic(&DANTU)
    }

    fn synthetic(shape: &SyntheticDistrict) -> Self {
        let synthetic = |name: String| DisplayName::from_trusted_string(name);
        let districts = vec![District {
            code: DistrictCode::from_trusted_string(shape.code.to_owned()),
            display_name: synthetic(shape.display_name.to_owned()),
            time_zone: DistrictTimeZone::asia_shanghai(),
            bounding_box: {
                let (south, west, north, east) = shape.bounding_box;
                BoundingBox::new(south, west, north, east).ok()
            },
        }];
        let mut streets = Vec::new();
        let mut communities = Vec::new();
        let mut grids = Vec::new();
        for ((street_index, street_number), community_count) in
            (0usize..).zip(1u32..).zip(shape.communities_per_street.iter().copied())
        {
            let street_code = format!("{}.s{street_number}", shape.code);
            streets.push(Street {
                code: StreetCode::from_trusted_string(street_code.clone()),
                display_name: synthetic(format!("Street {street_number} (synthetic)")),
            });
            for community_number in 1..=community_count {
                let community_code = format!("{street_code}.c{community_number:02}");
                let grid_count = (shape.grids_per_community)(street_index, communities.len());
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
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::jurisdiction::JurisdictionCode;

    fn codes<'entry, Entry: 'entry>(
        entries: impl IntoIterator<Item = &'entry Entry>,
        code_of: impl Fn(&Entry) -> &str,
    ) -> Vec<String> {
        entries.into_iter().map(|entry| code_of(entry).to_owned()).collect()
    }

    #[test]
    fn dantu_has_its_own_shape() {
        let registry = Registry::builtin_dantu();
        assert_eq!(
            (
                registry.district_count(),
                registry.street_count(),
                registry.community_count(),
                registry.grid_count(),
                registry.category_count()
            ),
            (1, 5, 38, 230, 9)
        );
        assert_eq!(codes(registry.districts(), |entry| entry.code.as_str()), ["dantu"]);
        assert_eq!(
            registry.districts()[0].display_name.as_str(),
            "Dantu District (synthetic)"
        );
        assert_eq!(
            codes(registry.streets(), |entry| entry.code.as_str()),
            ["dantu.s1", "dantu.s2", "dantu.s3", "dantu.s4", "dantu.s5"]
        );
        let communities_per_street: Vec<usize> = registry
            .streets()
            .iter()
            .map(|street| registry.communities_of(&street.code).count())
            .collect();
        assert_eq!(communities_per_street, [9, 8, 7, 7, 7]);
        let grids_per_street: Vec<usize> = registry
            .streets()
            .iter()
            .map(|street| registry.grids_within(street.code.as_jurisdiction_code()).count())
            .collect();
        assert_eq!(grids_per_street, [63, 48, 42, 42, 35]);
        for (street, grids_per_community) in registry.streets().iter().zip(DANTU_GRIDS_PER_COMMUNITY) {
            for community in registry.communities_of(&street.code) {
                assert_eq!(
                    registry.grids_of(&community.code).count(),
                    grids_per_community as usize,
                    "{}",
                    community.code
                );
            }
        }
        let first_community = CommunityCode::parse("dantu.s1.c01").expect("valid");
        assert_eq!(
            codes(registry.grids_of(&first_community), |entry| entry.code.as_str()),
            [
                "dantu.s1.c01.g01",
                "dantu.s1.c01.g02",
                "dantu.s1.c01.g03",
                "dantu.s1.c01.g04",
                "dantu.s1.c01.g05",
                "dantu.s1.c01.g06",
                "dantu.s1.c01.g07"
            ]
        );
        assert_eq!(
            registry.grids().last().map(|grid| grid.code.as_str()),
            Some("dantu.s5.c07.g05")
        );
        assert_eq!(
            registry
                .grid(&GridCode::parse("dantu.s5.c07.g05").expect("valid"))
                .map(|grid| grid.display_name.as_str()),
            Ok("Street 5 Community 07 Grid 05 (synthetic)")
        );
        assert!(
            registry
                .grid(&GridCode::parse("dantu.s5.c07.g06").expect("valid"))
                .is_err()
        );
        assert!(registry.street(&StreetCode::parse("dantu.s6").expect("valid")).is_err());
        assert_eq!(Registry::builtin_dantu(), registry, "deterministic");
    }

    #[test]
    fn every_builtin_has_the_same_categories_and_is_a_valid_registry_file() {
        let runzhou = Registry::builtin_runzhou();
        let category_triples = |registry: &Registry| {
            registry
                .categories()
                .iter()
                .map(|category| {
                    (
                        category.code().as_str().to_owned(),
                        category.display_name().as_str().to_owned(),
                        category.default_handling_deadline_hours(),
                    )
                })
                .collect::<Vec<_>>()
        };
        for name in Registry::BUILTIN_NAMES {
            let registry = Registry::builtin(name).unwrap_or_else(|| panic!("builtin {name}"));
            assert_eq!(codes(registry.districts(), |entry| entry.code.as_str()), [*name]);
            assert_eq!(category_triples(&registry), category_triples(&runzhou), "{name}");
            let district = JurisdictionCode::parse(name).expect("a district code");
            assert_eq!(
                registry.grids_within(&district).count(),
                registry.grid_count(),
                "{name}"
            );
            // Through the file format's validation and back: every parent is registered and
            // no code appears twice.
            assert_eq!(
                Registry::from_document(registry.to_document()).as_ref(),
                Ok(&registry),
                "{name}"
            );
        }
        assert_eq!(Registry::builtin("runzhou"), Some(runzhou));
        assert_eq!(Registry::builtin("dantu"), Some(Registry::builtin_dantu()));
        assert_eq!(Registry::builtin("zhenjiang"), None);
        assert_eq!(Registry::builtin("Runzhou"), None);
    }

    #[test]
    fn the_builtin_districts_share_no_jurisdiction() {
        let grids_of = |registry: Registry| -> BTreeSet<String> {
            registry
                .grids()
                .iter()
                .map(|grid| grid.code.as_str().to_owned())
                .collect()
        };
        let runzhou = grids_of(Registry::builtin_runzhou());
        let dantu = grids_of(Registry::builtin_dantu());
        assert_eq!((runzhou.len(), dantu.len()), (325, 230));
        assert!(runzhou.is_disjoint(&dantu));
    }
}
