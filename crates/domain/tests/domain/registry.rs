//! The registry: the built-in Runzhou counts and categories, lookups and children, the
//! JSON round trip, and invalid files refused with errors naming the offending code.

use gridledger_domain::{
    CategoryCode, CommunityCode, DistrictCode, GridCode, JurisdictionCode, Registry, RegistryError, StreetCode,
};

use crate::fixtures::registry;

/// A small valid registry file; tests break it in one place each.
const VALID_REGISTRY: &str = r#"{
  "districts": [{"code": "d1", "display_name": "District One", "time_zone": "Europe/Berlin"}],
  "streets": [{"code": "d1.s1", "display_name": "Street One"}],
  "communities": [{"code": "d1.s1.c1", "display_name": "社区一"}],
  "grids": [{"code": "d1.s1.c1.g1", "display_name": "Grid One"}],
  "categories": [{"code": "other", "display_name": "其他", "default_handling_deadline_hours": 72}]
}"#;

/// Parses `VALID_REGISTRY` with `from` replaced by `to` and expects the error (or, if
/// `expected` is `None`, success).
fn check(from: &str, to: &str, expected: Option<RegistryError>) {
    assert!(VALID_REGISTRY.contains(from), "fixture lacks {from:?}");
    let json = VALID_REGISTRY.replacen(from, to, 1);
    let result = Registry::from_json_str(&json);
    match expected {
        None => assert!(result.is_ok(), "{from:?} -> {to:?}: {result:?}"),
        Some(expected_error) => assert_eq!(result.err(), Some(expected_error), "{from:?} -> {to:?}"),
    }
}

#[test]
fn the_builtin_registry_has_the_reference_counts() {
    let registry = registry();
    assert_eq!(registry.district_count(), 1);
    assert_eq!(registry.street_count(), 7);
    assert_eq!(registry.community_count(), 52);
    assert_eq!(registry.grid_count(), 325);
    assert_eq!(registry.category_count(), 9);

    let district = DistrictCode::parse("runzhou").expect("valid");
    let streets: Vec<&str> = registry
        .streets_of(&district)
        .map(|street| street.code.as_str())
        .collect();
    assert_eq!(
        streets,
        [
            "runzhou.s1",
            "runzhou.s2",
            "runzhou.s3",
            "runzhou.s4",
            "runzhou.s5",
            "runzhou.s6",
            "runzhou.s7"
        ]
    );
    let communities_per_street: Vec<usize> = registry
        .streets()
        .iter()
        .map(|street| registry.communities_of(&street.code).count())
        .collect();
    assert_eq!(communities_per_street, [8, 8, 8, 7, 7, 7, 7]);
    let grids_per_community: Vec<usize> = registry
        .communities()
        .iter()
        .map(|community| registry.grids_of(&community.code).count())
        .collect();
    assert_eq!(grids_per_community.iter().filter(|count| **count == 7).count(), 13);
    assert_eq!(grids_per_community.iter().filter(|count| **count == 6).count(), 39);

    let first_community = CommunityCode::parse("runzhou.s1.c01").expect("valid");
    let first_grids: Vec<&str> = registry
        .grids_of(&first_community)
        .map(|grid| grid.code.as_str())
        .collect();
    assert_eq!(first_grids.first(), Some(&"runzhou.s1.c01.g01"));
    assert_eq!(first_grids.last(), Some(&"runzhou.s1.c01.g07"));
    let street_three = JurisdictionCode::parse("runzhou.s3").expect("valid");
    assert_eq!(registry.grids_within(&street_three).count(), 6 * 8 + 2);
    assert_eq!(
        registry
            .grids_within(&JurisdictionCode::parse("runzhou").expect("valid"))
            .count(),
        325
    );
    assert_eq!(
        registry
            .grid(&GridCode::parse("runzhou.s7.c07.g06").expect("valid"))
            .map(|grid| grid.display_name.as_str()),
        Ok("Street 7 Community 07 Grid 06 (synthetic)")
    );
    assert_eq!(Registry::builtin_runzhou(), *registry, "deterministic");
}

#[test]
fn the_builtin_categories_have_default_deadlines() {
    let registry = registry();
    let deadline = |code: &str| {
        registry
            .category(&CategoryCode::parse(code).expect("valid"))
            .map(|category| category.default_handling_deadline_hours())
    };
    let codes: Vec<&str> = registry
        .categories()
        .iter()
        .map(|category| category.code().as_str())
        .collect();
    assert_eq!(
        codes,
        [
            "public-security",
            "civil-affairs",
            "work-safety",
            "property-management",
            "environment",
            "dispute",
            "elderly-and-children",
            "municipal-facilities",
            "other"
        ]
    );
    assert_eq!(deadline("work-safety"), Ok(24));
    assert_eq!(deadline("public-security"), Ok(48));
    for category in registry.categories() {
        let hours = category.default_handling_deadline_hours();
        assert!((24..=168).contains(&hours), "{}: {hours}", category.code());
    }
    assert!(
        registry
            .categories()
            .iter()
            .any(|category| category.display_name().as_str().contains("综治"))
    );
}

#[test]
fn lookups_of_unknown_codes_are_refused() {
    let registry = registry();
    let unknown_grid = GridCode::parse("runzhou.s1.c01.g08").expect("well formed");
    assert_eq!(
        registry.grid(&unknown_grid).err(),
        Some(RegistryError::UnknownJurisdiction {
            code: "runzhou.s1.c01.g08".to_owned()
        })
    );
    let unknown_street = StreetCode::parse("runzhou.s8").expect("well formed");
    assert!(registry.street(&unknown_street).is_err());
    assert_eq!(registry.communities_of(&unknown_street).count(), 0);
    let unknown_category = CategoryCode::parse("fireworks").expect("well formed");
    let error = registry.category(&unknown_category).expect_err("unknown");
    assert_eq!(
        error.to_string(),
        "unknown category \"fireworks\": it is not in the registry"
    );
    assert!(registry.contains_jurisdiction(&JurisdictionCode::parse("runzhou.s7.c07").expect("valid")));
    assert!(!registry.contains_jurisdiction(&JurisdictionCode::parse("runzhou.s7.c08").expect("valid")));
    assert!(!registry.contains_jurisdiction(&JurisdictionCode::parse("other").expect("valid")));
}

#[test]
fn json_round_trips_exactly() {
    let registry = registry();
    let json = registry.to_json_pretty().expect("encodable");
    let parsed = Registry::from_json_str(&json).expect("the builtin registry is valid");
    assert_eq!(parsed, *registry);
    assert_eq!(parsed.to_json_pretty().expect("encodable"), json);
    assert!(json.contains("\"default_handling_deadline_hours\": 24"));

    let small = Registry::from_json_str(VALID_REGISTRY).expect("valid");
    let reparsed = Registry::from_json_str(&small.to_json_pretty().expect("encodable")).expect("valid");
    assert_eq!(reparsed, small);
    let via_serde: Registry = serde_json::from_str(VALID_REGISTRY).expect("serde validates too");
    assert_eq!(via_serde, small);
}

#[test]
fn districts_keep_their_time_zone() {
    let small = Registry::from_json_str(VALID_REGISTRY).expect("valid");
    let district = &small.districts()[0];
    assert_eq!(district.time_zone_name(), "Europe/Berlin");
    assert_eq!(district.time_zone().iana_name(), Some("Europe/Berlin"));
    for code in ["d1", "d1.s1", "d1.s1.c1", "d1.s1.c1.g1", "d1.s9"] {
        let code = JurisdictionCode::parse(code).expect("valid");
        assert_eq!(
            small.time_zone_of(&code).map(|zone| zone.iana_name()),
            Ok(Some("Europe/Berlin")),
            "{code}"
        );
    }
    assert_eq!(
        small.time_zone_of(&JurisdictionCode::parse("d2.s1").expect("valid")),
        Err(RegistryError::UnknownJurisdiction { code: "d2".to_owned() })
    );
    for name in Registry::BUILTIN_NAMES {
        let builtin = Registry::builtin(name).expect("built in");
        assert_eq!(builtin.districts()[0].time_zone_name(), "Asia/Shanghai", "{name}");
        let code = JurisdictionCode::parse(name).expect("valid");
        assert_eq!(
            builtin.time_zone_of(&code).map(|zone| zone.iana_name()),
            Ok(Some("Asia/Shanghai"))
        );
    }
    assert!(
        registry()
            .to_json_pretty()
            .expect("encodable")
            .contains("\"time_zone\": \"Asia/Shanghai\"")
    );
    assert_eq!(small.shared_time_zone().map(|zone| zone.name()), Ok("Europe/Berlin"));
    let city = Registry::merged([&Registry::builtin_runzhou(), &Registry::builtin_dantu()]).expect("disjoint");
    assert_eq!(city.shared_time_zone().map(|zone| zone.name()), Ok("Asia/Shanghai"));
    let mut berlin_dantu = Registry::builtin_dantu().to_document();
    berlin_dantu.districts[0].time_zone = "Europe/Berlin".to_owned();
    let berlin_dantu = Registry::from_document(berlin_dantu).expect("valid");
    let mixed = Registry::merged([&Registry::builtin_runzhou(), &berlin_dantu]).expect("disjoint");
    assert_eq!(
        mixed.shared_time_zone().map_err(|error| error.to_string()),
        Err(
            "districts \"runzhou\" (Asia/Shanghai) and \"dantu\" (Europe/Berlin) keep different time zones; a node \
             whose log holds several districts needs them to share one (or run one node per district)"
                .to_owned()
        )
    );
}

#[test]
fn invalid_files_are_refused_naming_the_problem() {
    for (zone, reason) in [
        (
            "Asia/Runzhou",
            "\"Asia/Runzhou\" is not a time zone of the IANA database (a name such as Asia/Shanghai or UTC)",
        ),
        (
            "europe/berlin",
            "\"europe/berlin\" is spelled Europe/Berlin in the IANA database",
        ),
        (
            "+01:00",
            "\"+01:00\" is not a time zone of the IANA database (a name such as Asia/Shanghai or UTC)",
        ),
        (
            "",
            "\"\" is not a time zone of the IANA database (a name such as Asia/Shanghai or UTC)",
        ),
    ] {
        check(
            "\"Europe/Berlin\"",
            &format!("{zone:?}"),
            Some(RegistryError::InvalidTimeZone {
                code: "d1".to_owned(),
                reason: reason.to_owned(),
            }),
        );
    }
    let unknown_zone = VALID_REGISTRY.replacen("Europe/Berlin", "Asia/Runzhou", 1);
    assert_eq!(
        Registry::from_json_str(&unknown_zone)
            .expect_err("unknown zone")
            .to_string(),
        "registry districts: \"d1\" has an invalid time_zone: \"Asia/Runzhou\" is not a time zone of the IANA \
         database (a name such as Asia/Shanghai or UTC)"
    );
    check("\"Europe/Berlin\"", "\"UTC\"", None);
    check("\"d1.s1.c1.g1\"", "\"d1.s1.c1.g1\"", None);
    check(
        "\"code\": \"d1.s1\"",
        "\"code\": \"d1.S1\"",
        Some(RegistryError::InvalidCode {
            section: "streets",
            code: "d1.S1".to_owned(),
            reason: "segment 2 (\"S1\") contains 'S'; only lowercase a-z, 0-9 and '-' are allowed".to_owned(),
        }),
    );
    check(
        "\"code\": \"d1.s1.c1\"",
        "\"code\": \"d1.s2.c1\"",
        Some(RegistryError::MissingParent {
            section: "communities",
            code: "d1.s2.c1".to_owned(),
            parent: "d1.s2".to_owned(),
            parent_section: "streets",
        }),
    );
    check(
        "[{\"code\": \"d1.s1.c1.g1\", \"display_name\": \"Grid One\"}]",
        "[{\"code\": \"d1.s1.c1.g1\", \"display_name\": \"Grid One\"}, {\"code\": \"d1.s1.c1.g1\", \"display_name\": \"Again\"}]",
        Some(RegistryError::DuplicateCode {
            section: "grids",
            code: "d1.s1.c1.g1".to_owned(),
        }),
    );
    check(
        "\"code\": \"d1.s1.c1.g1\"",
        "\"code\": \"d1.s1.c1\"",
        Some(RegistryError::InvalidCode {
            section: "grids",
            code: "d1.s1.c1".to_owned(),
            reason: "expected a grid code (4 segments), found a community code (3 segments)".to_owned(),
        }),
    );
    check(
        "\"display_name\": \"Street One\"",
        "\"display_name\": \"  \"",
        Some(RegistryError::InvalidDisplayName {
            section: "streets",
            code: "d1.s1".to_owned(),
            reason: "must not be empty or only whitespace".to_owned(),
        }),
    );
    check(
        "\"default_handling_deadline_hours\": 72",
        "\"default_handling_deadline_hours\": 0",
        Some(RegistryError::InvalidCategory {
            code: "other".to_owned(),
            reason: "default_handling_deadline_hours must be 1..=8784, got 0".to_owned(),
        }),
    );
    check(
        "\"code\": \"other\"",
        "\"code\": \"Other_Things\"",
        Some(RegistryError::InvalidCode {
            section: "categories",
            code: "Other_Things".to_owned(),
            reason: "the code (\"Other_Things\") contains 'O'; only lowercase a-z, 0-9 and '-' are allowed".to_owned(),
        }),
    );
    check(
        "[{\"code\": \"other\", \"display_name\": \"其他\", \"default_handling_deadline_hours\": 72}]",
        "[]",
        Some(RegistryError::MissingEntries { section: "categories" }),
    );

    for (from, to, fragment) in [
        ("\"grids\"", "\"grid\"", "unknown field `grid`"),
        (", \"time_zone\": \"Europe/Berlin\"", "", "missing field `time_zone`"),
        ("\"Europe/Berlin\"", "8", "invalid type"),
        ("\"categories\": [", "\"categories\": [,", "line 6"),
        ("72}", "\"72\"}", "invalid type"),
    ] {
        let json = VALID_REGISTRY.replacen(from, to, 1);
        let error = Registry::from_json_str(&json).expect_err("malformed");
        assert!(
            matches!(&error, RegistryError::MalformedJson { message } if message.contains(fragment)),
            "{from:?} -> {to:?}: {error}"
        );
    }
    let orphan = VALID_REGISTRY.replacen("\"code\": \"d1.s1.c1\"", "\"code\": \"d1.s2.c1\"", 1);
    let message = Registry::from_json_str(&orphan).expect_err("orphan").to_string();
    assert_eq!(
        message,
        "registry communities: \"d1.s2.c1\" has no parent: \"d1.s2\" is not listed in streets"
    );
}
