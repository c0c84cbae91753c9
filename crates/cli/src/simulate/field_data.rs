//! What the demo's grid workers bring from the field: a location with every report (a
//! point of the report's grid inside the district's bounding box, in GCJ-02 as Chinese map
//! SDKs give it) and, on some issues, photos of the problem (整改前) with the report and of
//! the fix (整改后) with its handling or resolution. The photos are small synthetic PNGs,
//! uploaded once before the walks start.

use anyhow::Context;
use gridledger_api::client::Client;
use gridledger_domain::{CoordinateSystem, EvidenceList, EvidenceRef, GridCode, IssueCommand, Location, Registry};

use super::plan::IssuePlan;

/// One issue in this many carries photos.
const ISSUES_PER_PHOTOGRAPHED_ISSUE: usize = 7;

/// Photos uploaded for the demo: of problems, and of fixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPhotos {
    /// Shown with reports.
    pub before: Vec<EvidenceRef>,
    /// Shown with handlings in the grid and resolutions.
    pub after: Vec<EvidenceRef>,
}

impl FieldPhotos {
    /// Makes `count` synthetic photos of each kind and uploads them through `client`.
    pub async fn upload(client: &Client, count: u32) -> anyhow::Result<FieldPhotos> {
        let mut photos = FieldPhotos {
            before: Vec::new(),
            after: Vec::new(),
        };
        for index in 0..count {
            for after in [false, true] {
                let bytes = synthetic_photo_png(index, after)?;
                let reference = client
                    .upload_evidence(&bytes, Some("image/png"))
                    .await
                    .with_context(|| format!("uploading demo photo {index}"))?;
                if after {
                    photos.after.push(reference);
                } else {
                    photos.before.push(reference);
                }
            }
        }
        Ok(photos)
    }
}

/// A 96 x 64 PNG, different for every `index`: warm tones for a problem, green for a fix.
pub fn synthetic_photo_png(index: u32, after: bool) -> anyhow::Result<Vec<u8>> {
    const WIDTH: u32 = 96;
    const HEIGHT: u32 = 64;
    let mut pixels = Vec::with_capacity((WIDTH * HEIGHT * 3) as usize);
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            let wave = ((x * 7 + y * 3 + index * 29) % 256) as u8;
            let shade = ((y * 4 + index * 13) % 256) as u8;
            let pixel = if after {
                [shade / 3, 160_u8.saturating_add(wave / 4), wave / 2]
            } else {
                [200_u8.saturating_add(wave / 5), wave / 2, shade / 4]
            };
            pixels.extend_from_slice(&pixel);
        }
    }
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, WIDTH, HEIGHT);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().context("writing a PNG header")?;
        writer.write_image_data(&pixels).context("writing PNG pixels")?;
        writer.finish().context("finishing a PNG")?;
    }
    Ok(bytes)
}

/// A point of `grid` inside its district's bounding box (the district's centre when the
/// registry gives none): grids are laid out on a lattice over the box, in registry order.
fn location_of_grid(registry: &Registry, grid: &GridCode, issue_index: usize) -> anyhow::Result<Location> {
    let district = registry.district(&grid.district())?;
    let (south, west, north, east) = district
        .bounding_box
        .map_or((32.15, 119.40, 32.20, 119.45), |bounding_box| bounding_box.edges());
    let grids = registry.grids();
    let position = grids.iter().position(|entry| &entry.code == grid).unwrap_or(0);
    let columns = (grids.len() as f64).sqrt().ceil().max(1.0) as usize;
    let rows = grids.len().div_ceil(columns).max(1);
    let (row, column) = (position / columns, position % columns);
    // Within the grid's cell, a little apart for each issue.
    let jitter = (issue_index % 10) as f64 / 10.0;
    let latitude = south + (north - south) * ((row as f64 + 0.25 + jitter / 2.0) / rows as f64);
    let longitude = west + (east - west) * ((column as f64 + 0.25 + jitter / 2.0) / columns as f64);
    Ok(Location::new(
        (latitude * 1e6).round() / 1e6,
        (longitude * 1e6).round() / 1e6,
        CoordinateSystem::Gcj02,
        Some(5.0 + (issue_index % 20) as f64),
        Some(format!("{} 网格", grid.as_str())),
    )?)
}

/// Gives every report of `plans` its grid's location and every
/// [`ISSUES_PER_PHOTOGRAPHED_ISSUE`]th issue photos: one of the problem with its report,
/// one of the fix (with the same location) with its handling in the grid or resolution.
pub fn attach_field_data(plans: &mut [IssuePlan], registry: &Registry, photos: &FieldPhotos) -> anyhow::Result<()> {
    for plan in plans.iter_mut() {
        let location = location_of_grid(registry, &plan.grid, plan.issue_index)?;
        let photographed = plan.issue_index % ISSUES_PER_PHOTOGRAPHED_ISSUE == 0;
        let pick = |list: &[EvidenceRef]| -> anyhow::Result<EvidenceList> {
            if !photographed || list.is_empty() {
                return Ok(EvidenceList::none());
            }
            let chosen = list[(plan.issue_index / ISSUES_PER_PHOTOGRAPHED_ISSUE) % list.len()];
            Ok(EvidenceList::new(vec![chosen])?)
        };
        let before = pick(&photos.before)?;
        let after = pick(&photos.after)?;
        for planned in &mut plan.commands {
            match &mut planned.command {
                IssueCommand::ReportIssue(report) => {
                    let with_field_data = report
                        .clone()
                        .with_location(registry, location.clone())?
                        .with_evidence(before.clone());
                    *report = with_field_data;
                }
                IssueCommand::HandleInGrid(handle) => {
                    handle.location = Some(location.clone());
                    handle.evidence = after.clone();
                }
                IssueCommand::ResolveIssue(resolve) => {
                    resolve.location = Some(location.clone());
                    resolve.evidence = after.clone();
                }
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::{Profile, plan_simulation};

    fn check(photos: &FieldPhotos, expected_photographed_share: (usize, usize)) {
        let registry = Profile::Runzhou.registry();
        let mut plans = plan_simulation(Profile::Runzhou, 3).expect("plans");
        attach_field_data(&mut plans, &registry, photos).expect("attached");
        let mut photographed = 0;
        for plan in &plans {
            let IssueCommand::ReportIssue(report) = &plan.commands[0].command else {
                panic!("the first command is the report");
            };
            let location = report.location().expect("every report has a location");
            registry
                .check_location(&plan.grid, location)
                .expect("inside the district");
            if !report.evidence().is_empty() {
                photographed += 1;
            }
        }
        let (numerator, denominator) = expected_photographed_share;
        assert_eq!(photographed, plans.len().div_ceil(denominator) * numerator);
    }

    #[test]
    fn every_report_has_a_location_inside_the_district_and_some_have_photos() {
        let photo = |first: u8| EvidenceRef {
            sha256: gridledger_domain::Sha256Digest::from_bytes([first; 32]),
            size: 1_234,
            media_type: gridledger_domain::EvidenceMediaType::Png,
        };
        check(
            &FieldPhotos {
                before: vec![photo(1), photo(2)],
                after: vec![photo(3)],
            },
            (1, ISSUES_PER_PHOTOGRAPHED_ISSUE),
        );
        check(
            &FieldPhotos {
                before: vec![],
                after: vec![],
            },
            (0, 1),
        );
        assert!(
            synthetic_photo_png(0, false)
                .expect("png")
                .starts_with(b"\x89PNG\r\n\x1a\n")
        );
        assert_ne!(synthetic_photo_png(0, false).ok(), synthetic_photo_png(1, false).ok());
    }
}
