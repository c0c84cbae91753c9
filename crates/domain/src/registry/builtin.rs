//! The built-in synthetic Runzhou registry, used when no `--registry` file is given: the
//! reference district's counts of streets, communities and grids, and the categories of
//! `docs/product.md`.

use std::collections::BTreeMap;

use super::{Community, DisplayName, District, Grid, Registry, Street};
use crate::category::{Category, CategoryCode};
use crate::jurisdiction::{CommunityCode, DistrictCode, GridCode, StreetCode};

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
    /// The built-in synthetic registry with the reference district's counts: district
    /// `runzhou`; streets `runzhou.s1`..`runzhou.s7`; 52 communities (8, 8, 8, 7, 7, 7, 7
    /// per street) `runzhou.s1.c01`...; 325 grids `runzhou.s1.c01.g01`... (every fourth
    /// community, counting from the first, has 7 grids, the other 39 have 6); and the nine
    /// categories of `docs/product.md`. Deterministic.
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
}
