//! `gridledger demo` end to end: a throwaway node, the Runzhou simulation through the gRPC API, and the district's figures exactly as the simulation fixes them by construction.

mod support;

use serde_json::Value;
use support::gridledger;

#[test]
fn the_demo_lands_exactly_on_the_figures_the_simulation_fixes_and_verifies() -> anyhow::Result<()> {
    let output = gridledger(&["--json", "demo", "--seed", "3"])?;
    let demo: Value = serde_json::from_str(&output)?;
    let district = &demo["district"];
    let count = |name: &str| district[name].as_u64();
    // docs/product.md#the-reference-district: 4,300+ accepted, 2,700+ meetings, 40,000
    // participants, closure rate 98.7%; the simulation hits exact counts whatever the seed.
    assert_eq!(count("accepted"), Some(4_350), "{output}");
    assert_eq!(count("closed"), Some(4_294), "{output}");
    assert_eq!(count("deliberation_meetings"), Some(2_750), "{output}");
    assert_eq!(count("participants"), Some(40_000), "{output}");
    let closure_rate = district["closure_rate"].as_f64().unwrap_or(f64::NAN);
    assert_eq!(closure_rate, 4_294.0 / 4_350.0, "{output}");
    assert_eq!(
        format!("{:.1}%", closure_rate * 100.0),
        "98.7%",
        "as the demo prints it"
    );
    let streets = demo["streets"].as_array().map(Vec::as_slice).unwrap_or_default();
    assert_eq!(streets.len(), 7, "{output}");
    let by_street = |name: &str| {
        streets
            .iter()
            .map(|row| row["stats"][name].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    assert_eq!(
        (by_street("accepted"), by_street("closed"), by_street("participants")),
        (4_350, 4_294, 40_000)
    );
    // Every command wrote one event, and the log verified.
    assert_eq!(demo["verified_events"].as_u64(), demo["commands"].as_u64(), "{output}");
    assert!(demo["verified_events"].as_u64().unwrap_or(0) > 20_000, "{output}");
    Ok(())
}
