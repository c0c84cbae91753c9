//! Names on the bus: streams, subjects, headers, the registry bucket and the evidence
//! buckets, in one place.

use gridledger_domain::{DistrictCode, GridCode, Sha256Digest};

/// Header with the event's log position (decimal).
pub const HEADER_POSITION: &str = "Gridledger-Position";
/// Header with the event's chain hash, `SHA-256(prev_hash || record)`, lowercase hex.
pub const HEADER_CHAIN_HASH: &str = "Gridledger-Chain-Hash";
/// Header with the previous event's chain hash (64 zeros for position 1), lowercase hex.
pub const HEADER_PREV_HASH: &str = "Gridledger-Prev-Hash";
/// The key-value bucket holding each district's registry, keyed by stream name.
pub const REGISTRY_BUCKET: &str = "GRIDLEDGER_REGISTRY";
/// Header of a checkpoint message: the tree size the note commits to (decimal).
pub const HEADER_TREE_SIZE: &str = "Gridledger-Tree-Size";
/// Header of a checkpoint message: the note's Merkle root, lowercase hex.
pub const HEADER_ROOT_HASH: &str = "Gridledger-Root-Hash";

/// The stream of a district: `GRIDLEDGER_` + the district code in upper case
/// (`runzhou` -> `GRIDLEDGER_RUNZHOU`).
pub fn stream_name(district: &DistrictCode) -> String {
    format!("GRIDLEDGER_{}", district.as_str().to_ascii_uppercase())
}

/// The subjects a district's stream captures: `gridledger.ev.<district>.>`.
pub fn stream_subjects(district: &DistrictCode) -> String {
    format!("gridledger.ev.{}.>", district.as_str())
}

/// The stream of a district's checkpoints: `GRIDLEDGER_<DISTRICT>_CHECKPOINTS`
/// (`runzhou` -> `GRIDLEDGER_RUNZHOU_CHECKPOINTS`). A stream of its own, never the district's
/// event stream, whose sequence N must stay log position N. It cannot be another district's
/// event stream: district codes hold no `_`.
pub fn checkpoint_stream_name(district: &DistrictCode) -> String {
    format!("{}_CHECKPOINTS", stream_name(district))
}

/// The one subject of a district's checkpoints: `gridledger.checkpoint.<district>` (a
/// district code is one segment of `[a-z0-9-]`, so this is always three tokens, outside
/// every event stream's `gridledger.ev.>`).
pub fn checkpoint_subject(district: &DistrictCode) -> String {
    format!("gridledger.checkpoint.{}", district.as_str())
}

/// The object store bucket of a district's evidence blobs: `GRIDLEDGER_<DISTRICT>_EVIDENCE`
/// (`runzhou` -> `GRIDLEDGER_RUNZHOU_EVIDENCE`), the district stream's name and `_EVIDENCE`.
/// Behind it JetStream keeps the stream `OBJ_GRIDLEDGER_RUNZHOU_EVIDENCE`, subjects
/// `$O.GRIDLEDGER_RUNZHOU_EVIDENCE.>`.
pub fn evidence_bucket_name(district: &DistrictCode) -> String {
    evidence_bucket_of_stream(&stream_name(district))
}

/// The evidence bucket of the district whose event stream is `stream`
/// (`GRIDLEDGER_RUNZHOU` -> `GRIDLEDGER_RUNZHOU_EVIDENCE`), for those who know the stream only.
pub fn evidence_bucket_of_stream(stream: &str) -> String {
    format!("{stream}_EVIDENCE")
}

/// The name of a blob in its evidence bucket: the 64 lowercase hex digits of its SHA-256.
pub fn evidence_object_name(sha256: &Sha256Digest) -> String {
    sha256.to_hex()
}

/// The subject of one event: `gridledger.ev.<grid code>.<event_type_snake>`, e.g.
/// `gridledger.ev.runzhou.s3.c07.g02.issue_reported`.
pub fn event_subject(grid: &GridCode, event_type: &str) -> String {
    format!("gridledger.ev.{}.{}", grid.as_str(), event_type_snake(event_type))
}

/// `IssueReported` -> `issue_reported`.
pub fn event_type_snake(event_type: &str) -> String {
    let mut snake = String::with_capacity(event_type.len() + 4);
    for (index, character) in event_type.chars().enumerate() {
        if character.is_ascii_uppercase() {
            if index > 0 {
                snake.push('_');
            }
            snake.push(character.to_ascii_lowercase());
        } else {
            snake.push(character);
        }
    }
    snake
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(event_type: &str, expected: &str) {
        assert_eq!(event_type_snake(event_type), expected, "{event_type}");
    }

    #[test]
    fn event_types_become_snake_case() {
        check("IssueReported", "issue_reported");
        check("DeliberationConcluded", "deliberation_concluded");
        check("X", "x");
    }

    #[test]
    fn streams_and_subjects_follow_the_district() -> Result<(), Box<dyn std::error::Error>> {
        let district = DistrictCode::parse("runzhou")?;
        assert_eq!(stream_name(&district), "GRIDLEDGER_RUNZHOU");
        assert_eq!(stream_subjects(&district), "gridledger.ev.runzhou.>");
        assert_eq!(checkpoint_stream_name(&district), "GRIDLEDGER_RUNZHOU_CHECKPOINTS");
        assert_eq!(checkpoint_subject(&district), "gridledger.checkpoint.runzhou");
        assert_eq!(evidence_bucket_name(&district), "GRIDLEDGER_RUNZHOU_EVIDENCE");
        assert_eq!(
            evidence_bucket_of_stream("GRIDLEDGER_RUNZHOU"),
            "GRIDLEDGER_RUNZHOU_EVIDENCE"
        );
        let digest = Sha256Digest::from_bytes([0xab; 32]);
        assert_eq!(evidence_object_name(&digest), "ab".repeat(32));
        let hyphenated = DistrictCode::parse("xin-bei")?;
        assert_eq!(checkpoint_stream_name(&hyphenated), "GRIDLEDGER_XIN-BEI_CHECKPOINTS");
        assert_eq!(checkpoint_subject(&hyphenated), "gridledger.checkpoint.xin-bei");
        assert_eq!(evidence_bucket_name(&hyphenated), "GRIDLEDGER_XIN-BEI_EVIDENCE");
        let grid = GridCode::parse("runzhou.s3.c07.g02")?;
        assert_eq!(
            event_subject(&grid, "IssueReported"),
            "gridledger.ev.runzhou.s3.c07.g02.issue_reported"
        );
        Ok(())
    }
}
