//! `gridledger audit export --evidence DIR` against a real server: the photos the events reference are written beside the JSONL, `docs/examples/verify_export.py --evidence DIR` checks every blob's hash, and a flipped byte (in an exported blob, or in the node's own store) or a missing blob is named by its hash.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gridledger_api::CommandMeta;
use gridledger_api::client::Client;
use gridledger_domain::{EvidenceList, EvidenceRef, Field, FreeText, HandleInGrid, IssueCommand, IssueId};
use serde_json::Value;
use support::{TestServer, issue_report};

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A photo whose first bytes make it a JPEG (or a PNG), `size` bytes of `seed` after them.
fn photo(png: bool, seed: u8, size: usize) -> Vec<u8> {
    let mut bytes = if png {
        vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]
    } else {
        vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00]
    };
    bytes.extend((0..size).map(|index| seed.wrapping_add((index % 251) as u8)));
    bytes
}

/// Runs `command` to its end (on this test's thread; the server runs on the others).
fn output(command: &mut Command) -> anyhow::Result<Output> {
    Ok(tokio::task::block_in_place(|| command.output())?)
}

/// The lines of `output` (stdout, then stderr) that name one failing blob or event.
fn named_failures(output: &Output) -> Vec<String> {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    text.lines()
        .filter(|line| line.starts_with("FAILED at position ") || line.starts_with("FAILED: evidence "))
        .map(str::to_owned)
        .collect()
}

/// Runs `command`: with no `failures` it must succeed and print each of `ok`; otherwise it
/// must fail and name exactly the failures given, one line each holding all of an entry's
/// words, in order. Returns its stdout.
fn check(label: &str, mut command: Command, ok: &[&str], failures: &[Vec<String>]) -> anyhow::Result<String> {
    let output = output(&mut command)?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let shown = format!(
        "{label}: {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let named = named_failures(&output);
    if failures.is_empty() {
        anyhow::ensure!(output.status.success() && named.is_empty(), "expected success; {shown}");
        for words in ok {
            anyhow::ensure!(stdout.contains(words), "expected {words:?}; {shown}");
        }
    } else {
        anyhow::ensure!(!output.status.success(), "expected a failure; {shown}");
        anyhow::ensure!(
            named.len() == failures.len(),
            "expected {} named failures, got {named:#?}; {shown}",
            failures.len()
        );
        for (line, words) in named.iter().zip(failures) {
            for word in words {
                anyhow::ensure!(line.contains(word.as_str()), "expected {word:?} in {line:?}; {shown}");
            }
        }
    }
    Ok(stdout)
}

/// `python3 verify_export.py EXPORT --evidence DIR --expect-head-hash HEAD`.
fn verifier(export: &Path, directory: &Path, head_hash: &str) -> Command {
    let mut command = Command::new("python3");
    command
        .arg(repository_root().join("docs/examples/verify_export.py"))
        .arg(export)
        .arg("--evidence")
        .arg(directory)
        .args(["--expect-head-hash", head_hash]);
    command
}

/// `gridledger --json --server URL audit export --out EXPORT --evidence DIR`.
fn export_command(url: &str, export: &Path, directory: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gridledger"));
    command
        .args(["--json", "--server", url, "audit", "export", "--out"])
        .arg(export)
        .arg("--evidence")
        .arg(directory);
    command
}

fn copy_directory(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        std::fs::copy(entry.path(), to.join(entry.file_name()))?;
    }
    Ok(())
}

fn flip_a_byte(path: &Path, offset: usize) -> anyhow::Result<()> {
    let mut bytes = std::fs::read(path)?;
    bytes[offset] ^= 0x01;
    std::fs::write(path, bytes)?;
    Ok(())
}

/// The names of the files in `directory`, sorted.
fn file_names(directory: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = std::fs::read_dir(directory)?
        .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}

/// What is done to a blob of a copy of the exported directory, named by its hex digest.
enum Spoil<'a> {
    Flip(&'a str),
    Delete(&'a str),
    Truncate(&'a str),
}

/// A copy of the exported directory, spoiled so, and what the verifier must say of it.
struct Case<'a> {
    label: &'a str,
    spoils: Vec<Spoil<'a>>,
    ok: &'a [&'a str],
    failures: Vec<Vec<String>>,
}

fn words(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| (*word).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_evidence_is_checked_by_hash_by_the_export_and_the_python_verifier() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = format!("http://{}", server.server.local_addr);
    let client = Client::connect(&url, Some("worker-1")).await?;

    // Three photos: `before` (a PNG of two chunks) and `shared` on the report, `after` on
    // the handling, and `shared` again on a second issue's report.
    let mut uploaded: Vec<EvidenceRef> = Vec::new();
    for bytes in [
        photo(true, 1, 1_500_000),
        photo(false, 2, 20_000),
        photo(false, 3, 3_000),
    ] {
        uploaded.push(client.upload_evidence(&bytes, None).await?);
    }
    let [before, after, shared] = [uploaded[0], uploaded[1], uploaded[2]];
    let [before_hex, after_hex, shared_hex] = [before, after, shared].map(|reference| reference.sha256.to_hex());

    let mut report = issue_report("broken street light")?;
    report.evidence = EvidenceList::new(vec![before, shared])?;
    let reported = client.report(&CommandMeta::with_fresh_request_id(), &report).await?;
    let handle = IssueCommand::HandleInGrid(HandleInGrid {
        summary: FreeText::parse(Field::Summary, "bulb replaced")?,
        location: None,
        evidence: EvidenceList::new(vec![after])?,
    });
    let handled = client
        .send(reported.issue_id, &CommandMeta::with_fresh_request_id(), &handle)
        .await?;
    let mut second = issue_report("the same light, seen from the other street")?;
    second.evidence = EvidenceList::new(vec![shared])?;
    let reported_again = client.report(&CommandMeta::with_fresh_request_id(), &second).await?;
    assert_eq!(
        [reported.position, handled.position, reported_again.position],
        [1, 2, 3]
    );
    let issue: IssueId = reported.issue_id;
    let head_hash = hex::encode(client.verify_log(0, 0).await?.head_hash);

    let work = server.directory.path();
    let export = work.join("log.jsonl");
    let exported = work.join("evidence");
    let total_bytes = before.size + after.size + shared.size;

    // The export writes the three blobs, each once, named by its hash; again, it fetches
    // nothing; with one of its files damaged, it fetches that one again.
    for (label, spoil, fetched) in [
        ("first export", None, 3),
        ("export again", None, 0),
        ("export over a damaged file", Some(&after_hex), 1),
    ] {
        if let Some(name) = spoil {
            flip_a_byte(&exported.join(name), 30)?;
        }
        let stdout = check(label, export_command(&url, &export, &exported), &[], &[])?;
        let summary: Value = serde_json::from_str(&stdout)?;
        assert_eq!(summary["exported"].as_u64(), Some(3), "{label}: {summary}");
        let evidence = &summary["evidence"];
        assert_eq!(
            [
                &evidence["blobs"],
                &evidence["bytes"],
                &evidence["fetched"],
                &evidence["already_present"]
            ]
            .map(Value::as_u64),
            [Some(3), Some(total_bytes), Some(fetched), Some(3 - fetched)],
            "{label}: {summary}"
        );
        let mut expected = vec![before_hex.clone(), after_hex.clone(), shared_hex.clone()];
        expected.sort();
        assert_eq!(file_names(&exported)?, expected, "{label}");
    }

    // The JSONL's events name the files: the verifier finds each, or names what is wrong
    // with it by hash and by the position of the event that references it.
    let cases = [
        Case {
            label: "as exported",
            spoils: vec![],
            ok: &["ok: 3 events verified", "ok: 3 evidence blobs verified"],
            failures: vec![],
        },
        Case {
            label: "a byte flipped in a blob",
            spoils: vec![Spoil::Flip(&after_hex)],
            ok: &[],
            failures: vec![words(&[
                "FAILED at position 2:",
                &format!("evidence {after_hex} is damaged"),
            ])],
        },
        Case {
            label: "a blob deleted",
            spoils: vec![Spoil::Delete(&shared_hex)],
            ok: &[],
            failures: vec![words(&[
                "FAILED at position 1:",
                &format!("evidence {shared_hex} is missing"),
                "also referenced at position 3",
            ])],
        },
        Case {
            label: "a blob cut short",
            spoils: vec![Spoil::Truncate(&before_hex)],
            ok: &[],
            failures: vec![words(&[
                "FAILED at position 1:",
                &format!("evidence {before_hex} is damaged"),
                &format!("has 1000 bytes, the event says {}", before.size),
            ])],
        },
        Case {
            label: "one flipped, one deleted",
            spoils: vec![Spoil::Flip(&before_hex), Spoil::Delete(&after_hex)],
            ok: &[],
            failures: vec![
                words(&["FAILED at position 1:", &format!("evidence {before_hex} is damaged")]),
                words(&["FAILED at position 2:", &format!("evidence {after_hex} is missing")]),
            ],
        },
    ];
    for (index, case) in cases.iter().enumerate() {
        let directory = work.join(format!("case-{index}"));
        copy_directory(&exported, &directory)?;
        for spoil in &case.spoils {
            match spoil {
                Spoil::Flip(name) => flip_a_byte(&directory.join(name), 700)?,
                Spoil::Delete(name) => std::fs::remove_file(directory.join(name))?,
                Spoil::Truncate(name) => {
                    let path = directory.join(name);
                    std::fs::write(&path, &std::fs::read(&path)?[..1000])?;
                }
            }
        }
        check(
            case.label,
            verifier(&export, &directory, &head_hash),
            case.ok,
            &case.failures,
        )?;
    }

    // The refs are read from the hashed record: an export line whose `event` object names
    // another blob than its record does is refused, even though that blob is there.
    let lines: Vec<String> = std::fs::read_to_string(&export)?.lines().map(str::to_owned).collect();
    let mut handled_line: Value = serde_json::from_str(&lines[1])?;
    handled_line["event"]["evidence"][0]["sha256"] = Value::String(shared_hex.clone());
    let redirected = work.join("redirected.jsonl");
    std::fs::write(
        &redirected,
        [lines[0].clone(), handled_line.to_string(), lines[2].clone()].join("\n") + "\n",
    )?;
    check(
        "an export line whose event names another blob",
        verifier(&redirected, &exported, &head_hash),
        &[],
        &[words(&["FAILED at position 2:", "event.evidence", &after_hex])],
    )?;

    // A byte flipped in the node's own store: the export refuses that blob by its hash
    // (whoever notices first, the node, the client or the export's own check), writes the
    // others, leaves no partial file, and exits non-zero.
    let stored = work
        .join("data/evidence/blobs")
        .join(&before_hex[..2])
        .join(&before_hex);
    flip_a_byte(&stored, 1_200_000)?;
    let fresh = work.join("evidence-after-damage");
    check(
        "export of a damaged store",
        export_command(&url, &work.join("log-again.jsonl"), &fresh),
        &[],
        &[words(&[
            "FAILED: evidence",
            &before_hex,
            &format!("referenced by issue {issue} at position 1"),
        ])],
    )?;
    let mut written = vec![after_hex.clone(), shared_hex.clone()];
    written.sort();
    assert_eq!(file_names(&fresh)?, written);
    Ok(())
}
