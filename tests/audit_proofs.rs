//! The verifiable log end to end (docs/audit.md): signed checkpoints, inclusion and
//! consistency proofs, and the witness, against real servers on 127.0.0.1:0 over real sled
//! directories, checked by the CLI, by the library the CLI uses, and by the independent
//! Python verifier (docs/examples/verify_proofs.py).
//!
//! - `audit prove` verifies several positions; the RPCs refuse sizes beyond the newest
//!   checkpoint (INVALID_ARGUMENT) and positions outside the tree (NOT_FOUND).
//! - Every way to spoil a proof bundle (a flipped byte of a proof, a root, a leaf, a size
//!   or a signature; a proof reused for another index; an empty proof; another key) is
//!   refused by both verifiers.
//! - The witness accepts appends and names a split view between two servers started from
//!   copies of one data directory.
//! - A `gridledger serve` killed with SIGKILL during appends restarts with a log that verifies
//!   and a checkpoint consistent with one taken before the kill.
//!
//! Waiting for a checkpoint polls `GetCheckpoint` until it covers what was written (bounded
//! by a deadline); nothing waits a fixed time in the hope that something happened.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use gridledger_api::CommandMeta;
use gridledger_api::checkpoint::{Checkpoint, SignerKey, VerifierKey, parse_and_verify_note, parse_unverified};
use gridledger_api::client::{Client, RetryPolicy, RpcCode, ServedCheckpoint};
use gridledger_api::proofs::{verify_chain_link, verify_continuation, verify_event_inclusion};
use gridledger_eventlog::RecordedEvent;
use gridledger_eventlog::merkle::{self, MerkleHash};
use gridledger_server::{CheckpointConfig, RunningServer};
use serde_json::{Value, json};

const ORIGIN: &str = "gridledger/runzhou";
/// How long a checkpoint may take to cover what was written (it is made within 10 ms here).
const CHECKPOINT_DEADLINE: Duration = Duration::from_secs(30);

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn signer(seed: u8) -> anyhow::Result<SignerKey> {
    Ok(SignerKey::from_seed(ORIGIN, [seed; 32])?)
}

/// A server in this process with a signing key (or none), making a checkpoint within
/// 10 ms of each append.
struct Node {
    server: RunningServer,
    client: Client,
    url: String,
}

impl Node {
    async fn start(data_dir: &Path, key: Option<&SignerKey>) -> anyhow::Result<Node> {
        let config = gridledger_server::ServerConfig {
            checkpoints: CheckpointConfig {
                signer: key.cloned(),
                min_interval: Duration::from_millis(10),
                ..CheckpointConfig::default()
            },
            ..support::loopback_config(data_dir.to_path_buf())?
        };
        let server = gridledger_server::start(config, std::future::pending()).await?;
        let url = format!("http://{}", server.local_addr);
        let client = Client::connect(&url, None).await?;
        Ok(Node { server, client, url })
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.server.shutdown().await?;
        Ok(())
    }

    /// Reports `count` issues; the log's head after them.
    async fn report(&self, count: usize, title: &str) -> anyhow::Result<u64> {
        let mut head = 0;
        for index in 0..count {
            let ack = self
                .client
                .report(
                    &CommandMeta::with_fresh_request_id(),
                    &support::issue_report(&format!("{title} {index}"))?,
                )
                .await?;
            head = ack.position;
        }
        Ok(head)
    }
}

/// The newest checkpoint once it covers at least `size` events.
async fn checkpoint_at_least(client: &Client, size: u64) -> anyhow::Result<ServedCheckpoint> {
    let deadline = Instant::now() + CHECKPOINT_DEADLINE;
    loop {
        let served = client.checkpoint().await;
        if let Ok(served) = &served
            && served.tree_size >= size
        {
            return Ok(served.clone());
        }
        if Instant::now() > deadline {
            bail!("no checkpoint of size {size} or more within {CHECKPOINT_DEADLINE:?}; last {served:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every event of the log, in order.
async fn events(client: &Client) -> anyhow::Result<Vec<RecordedEvent>> {
    let mut stream = client.read_all(1, 0, false).await?;
    let mut events = Vec::new();
    while let Some(event) = stream.next().await? {
        events.push(event);
    }
    Ok(events)
}

/// Runs the built binary; its exit code, stdout and stderr.
fn cli(arguments: &[&str]) -> anyhow::Result<(i32, String, String)> {
    let output: Output = Command::new(env!("CARGO_BIN_EXE_gridledger"))
        .args(arguments)
        .env("GRIDLEDGER_LOG", "warn")
        .output()?;
    Ok((
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout)?,
        String::from_utf8(output.stderr)?,
    ))
}

/// A Python 3 with `cryptography`: the system one if it has it, else a virtualenv made once
/// under the target dir (scripts/test-deps.sh installs it for the system one).
fn python_with_cryptography() -> anyhow::Result<String> {
    static PYTHON: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    let has_package = |python: &str| {
        Command::new(python)
            .args(["-c", "import cryptography.hazmat.primitives.asymmetric.ed25519"])
            .output()
            .is_ok_and(|output| output.status.success())
    };
    PYTHON
        .get_or_init(|| {
            if has_package("python3") {
                return Ok("python3".to_owned());
            }
            let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-cryptography");
            let python = venv.join("bin/python3").to_string_lossy().into_owned();
            if !has_package(&python) {
                let made = Command::new("python3")
                    .args(["-m", "venv", &venv.to_string_lossy()])
                    .status()
                    .map_err(|error| error.to_string())?;
                let installed = Command::new(&python)
                    .args(["-m", "pip", "install", "--quiet", "cryptography"])
                    .status()
                    .map_err(|error| error.to_string())?;
                if !made.success() || !installed.success() {
                    return Err("cannot install Python's cryptography package".to_owned());
                }
            }
            Ok(python)
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// The Python verifier's verdict on each bundle, in order (`ok: ...` or `FAILED: ...`).
fn python_verdicts(directory: &Path, vkey: &VerifierKey, bundles: &[Value]) -> anyhow::Result<Vec<String>> {
    let file = directory.join("bundles.jsonl");
    let lines: Vec<String> = bundles.iter().map(Value::to_string).collect();
    std::fs::write(&file, lines.join("\n") + "\n")?;
    let output = Command::new(python_with_cryptography()?)
        .arg(repository_root().join("docs/examples/verify_proofs.py"))
        .args(["--vkey", &vkey.to_string(), "--jsonl"])
        .arg(&file)
        .output()?;
    let verdicts: Vec<String> = String::from_utf8(output.stdout)?.lines().map(str::to_owned).collect();
    ensure!(
        verdicts.len() == bundles.len(),
        "{} verdicts for {} bundles: {verdicts:?}\n{}",
        verdicts.len(),
        bundles.len(),
        String::from_utf8_lossy(&output.stderr)
    );
    let all_ok = verdicts.iter().all(|verdict| verdict.starts_with("ok:"));
    ensure!(
        output.status.success() == all_ok,
        "exit status {} with verdicts {verdicts:?}",
        output.status
    );
    Ok(verdicts)
}

fn hash_of(value: &Value, what: &str) -> Result<MerkleHash, String> {
    let bytes = BASE64
        .decode(value.as_str().ok_or(format!("{what} is not a string"))?)
        .map_err(|error| format!("{what}: {error}"))?;
    MerkleHash::try_from(bytes.as_slice()).map_err(|_| format!("{what} has {} bytes", bytes.len()))
}

fn hashes_of(value: &Value, what: &str) -> Result<Vec<MerkleHash>, String> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(|item| hash_of(item, what)).collect(),
        _ => Err(format!("{what} is not a list")),
    }
}

/// Our verifier on a bundle: the library the CLI verifies with (`gridledger_api::checkpoint`
/// and `proofs`), fed what the Python verifier is fed.
fn rust_verdict(bundle: &Value, vkey: &VerifierKey) -> Result<(), String> {
    let note = bundle["checkpoint"].as_str().ok_or("no checkpoint")?;
    let checkpoint = parse_and_verify_note(note.as_bytes(), vkey).map_err(|error| error.to_string())?;
    let inclusion = &bundle["inclusion"];
    if !inclusion.is_null() {
        let position = inclusion["position"].as_u64().ok_or("no position")?;
        let tree_size = inclusion["tree_size"].as_u64().ok_or("no tree_size")?;
        let record = BASE64
            .decode(inclusion["record"].as_str().ok_or("no record")?)
            .map_err(|error| error.to_string())?;
        if !inclusion["hash"].is_null() {
            let prev_hash = hash_of(&inclusion["prev_hash"], "prev_hash")?;
            let hash = hash_of(&inclusion["hash"], "hash")?;
            verify_chain_link(position, &prev_hash, &record, &hash).map_err(|error| error.to_string())?;
            if position == checkpoint.tree_size && hash != checkpoint.chain_head {
                return Err("not the chain head".to_owned());
            }
        }
        verify_event_inclusion(
            &checkpoint,
            position,
            &record,
            tree_size,
            &hashes_of(&inclusion["hashes"], "hashes")?,
            &hashes_of(&inclusion["consistency"], "consistency")?,
        )
        .map_err(|error| error.to_string())?;
    }
    let witness = &bundle["consistency"];
    if !witness.is_null() {
        let old_note = witness["old_checkpoint"].as_str().ok_or("no old checkpoint")?;
        let old = parse_and_verify_note(old_note.as_bytes(), vkey).map_err(|error| error.to_string())?;
        verify_continuation(&old, &checkpoint, &hashes_of(&witness["hashes"], "hashes")?)
            .map_err(|error| error.to_string())?;
    }
    Ok(())
}

/// A bundle proving `event` in the tree of `tree_size` against `checkpoint_note` (of size
/// `checkpoint_size`), from the server's proofs.
async fn inclusion_bundle(
    client: &Client,
    checkpoint_note: &str,
    checkpoint_size: u64,
    event: &RecordedEvent,
    tree_size: u64,
) -> anyhow::Result<Value> {
    let proof = client.inclusion_proof(event.position, tree_size).await?;
    let consistency = client.consistency_proof(tree_size, checkpoint_size).await?;
    Ok(json!({
        "checkpoint": checkpoint_note,
        "inclusion": {
            "position": event.position,
            "record": BASE64.encode(&event.record_bytes),
            "prev_hash": BASE64.encode(event.prev_hash),
            "hash": BASE64.encode(event.hash),
            "tree_size": tree_size,
            "hashes": proof.hashes.iter().map(|hash| BASE64.encode(hash)).collect::<Vec<_>>(),
            "consistency": consistency.iter().map(|hash| BASE64.encode(hash)).collect::<Vec<_>>(),
        },
    }))
}

fn note_of(served: &ServedCheckpoint) -> anyhow::Result<String> {
    Ok(String::from_utf8(served.note.clone())?)
}

/// `note`'s checkpoint changed by `change`, signed again by `key`.
fn resigned(note: &str, key: &SignerKey, change: impl FnOnce(&mut Checkpoint)) -> anyhow::Result<String> {
    let (mut checkpoint, _) = parse_unverified(note.as_bytes())?;
    change(&mut checkpoint);
    Ok(key.sign_note(&checkpoint.body())?)
}

/// `note` with byte `index` of its (first) signature's decoded bytes flipped.
fn signature_flipped(note: &str, index: usize) -> anyhow::Result<String> {
    let blank = note.rfind("\n\n").context("a signed note")?;
    let (body, line) = (&note[..blank + 2], note[blank + 2..].trim_end());
    let (prefix, encoded) = line.rsplit_once(' ').context("a signature line")?;
    let mut bytes = BASE64.decode(encoded)?;
    bytes[index] ^= 0x01;
    Ok(format!("{body}{prefix} {}\n", BASE64.encode(bytes)))
}

/// `value` (a base64 string) with byte `index` of what it encodes flipped.
fn flipped_base64(value: &Value, index: usize) -> anyhow::Result<Value> {
    let mut bytes = BASE64.decode(value.as_str().context("base64 text")?)?;
    bytes[index] ^= 0x01;
    Ok(Value::String(BASE64.encode(bytes)))
}

/// One bundle to refuse: what was spoiled, and the bundle.
struct Spoiled {
    what: String,
    bundle: Value,
}

/// Checks every bundle of `good` (each verifies) and `spoiled` (each is refused) with both
/// verifiers.
fn check(directory: &Path, vkey: &VerifierKey, good: &[Value], spoiled: &[Spoiled]) -> anyhow::Result<()> {
    let mut all: Vec<Value> = good.to_vec();
    all.extend(spoiled.iter().map(|case| case.bundle.clone()));
    let python = python_verdicts(directory, vkey, &all)?;
    let mut failures = Vec::new();
    for (index, bundle) in good.iter().enumerate() {
        if let Err(error) = rust_verdict(bundle, vkey) {
            failures.push(format!("good bundle {index}: ours refused it: {error}"));
        }
        if !python[index].starts_with("ok:") {
            failures.push(format!("good bundle {index}: Python said {}", python[index]));
        }
    }
    for (index, case) in spoiled.iter().enumerate() {
        if rust_verdict(&case.bundle, vkey).is_ok() {
            failures.push(format!("{}: accepted by ours", case.what));
        }
        let verdict = &python[good.len() + index];
        if !verdict.starts_with("FAILED:") {
            failures.push(format!("{}: Python said {verdict}", case.what));
        }
    }
    ensure!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_prove_verifies_positions_and_the_rpcs_refuse_what_is_out_of_range() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let key = signer(1)?;
    let vkey = key.verifier().to_string();
    let node = Node::start(&directory.path().join("data"), Some(&key)).await?;
    let head = node.report(7, "prove").await?;
    assert_eq!(head, 7);
    let served = checkpoint_at_least(&node.client, 7).await?;
    assert_eq!(served.tree_size, 7);

    // `audit prove` for several positions and sizes: each verifies (exit 0).
    for (position, size) in [
        (1, None),
        (2, None),
        (4, None),
        (7, None),
        (1, Some(1)),
        (3, Some(5)),
        (5, Some(5)),
    ] {
        let mut arguments = vec![
            "--server".to_owned(),
            node.url.clone(),
            "audit".to_owned(),
            "prove".to_owned(),
        ];
        arguments.push(position.to_string());
        if let Some(size) = size {
            arguments.extend(["--size".to_owned(), size.to_string()]);
        }
        arguments.extend(["--vkey".to_owned(), vkey.clone()]);
        let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = cli(&arguments)?;
        assert_eq!(code, 0, "prove {position} {size:?}: {stdout}{stderr}");
        assert!(stdout.starts_with(&format!("ok: position {position} ")), "{stdout}");
        assert!(stdout.contains(&format!("verified with key {vkey}")), "{stdout}");
    }
    // Its --json bundle is what the Python verifier reads.
    let (code, stdout, stderr) = cli(&[
        "--server", &node.url, "--json", "audit", "prove", "3", "--size", "4", "--vkey", &vkey,
    ])?;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let bundle: Value = serde_json::from_str(&stdout)?;
    assert_eq!(bundle["verdict"], "ok");
    check(directory.path(), &key.verifier(), &[bundle], &[])?;

    // The checkpoint verifies with its key and with no other (exit 3).
    let (code, stdout, _) = cli(&["--server", &node.url, "audit", "checkpoint", "--vkey", &vkey])?;
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.starts_with("gridledger/runzhou\n7\n"), "{stdout}");
    let other = signer(2)?.verifier().to_string();
    for command in [vec!["audit", "checkpoint"], vec!["audit", "prove", "2"]] {
        let mut arguments = vec!["--server", node.url.as_str()];
        arguments.extend(command.iter().copied());
        arguments.extend(["--vkey", other.as_str()]);
        let (code, stdout, stderr) = cli(&arguments)?;
        assert_eq!(code, 3, "{command:?}: {stdout}{stderr}");
        assert!(stderr.contains("no signature by key gridledger/runzhou+"), "{stderr}");
    }
    // A position the checkpoint does not cover: the server refuses (exit 1).
    let (code, _, stderr) = cli(&["--server", &node.url, "audit", "prove", "8", "--vkey", &vkey])?;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("NotFound: position 8 is not in the tree of size 7"),
        "{stderr}"
    );

    // The RPCs: sizes beyond the newest checkpoint are INVALID_ARGUMENT, positions outside
    // the tree NOT_FOUND; tree_size 0 is the newest checkpoint's.
    let inclusion = [
        (1, 0, Ok(7)),
        (7, 7, Ok(7)),
        (2, 3, Ok(3)),
        (
            1,
            8,
            Err((
                RpcCode::InvalidArgument,
                "invalid tree_size: 8 is beyond the newest checkpoint's size 7",
            )),
        ),
        (
            0,
            0,
            Err((RpcCode::NotFound, "position 0 is not in the tree of size 7")),
        ),
        (
            8,
            0,
            Err((RpcCode::NotFound, "position 8 is not in the tree of size 7")),
        ),
        (
            6,
            5,
            Err((RpcCode::NotFound, "position 6 is not in the tree of size 5")),
        ),
        (u64::MAX, 0, Err((RpcCode::NotFound, "not in the tree of size 7"))),
    ];
    for (position, tree_size, expected) in inclusion {
        let answer = node.client.inclusion_proof(position, tree_size).await;
        match (&answer, expected) {
            (Ok(proof), Ok(size)) => {
                assert_eq!((proof.leaf_index, proof.tree_size), (position - 1, size));
            }
            (Err(error), Err((code, words))) => {
                assert_eq!(error.code(), Some(code), "{position} in {tree_size}: {error}");
                assert!(error.to_string().contains(words), "{error}");
            }
            _ => bail!("inclusion of {position} in {tree_size}: {answer:?}, expected {expected:?}"),
        }
    }
    let consistency = [
        (0, 7, Ok(0)),
        (7, 7, Ok(0)),
        (3, 7, Ok(merkle::consistency_proof_len(3, 7))),
        (4, 7, Ok(merkle::consistency_proof_len(4, 7))),
        (0, 0, Ok(0)),
        (
            3,
            8,
            Err((
                RpcCode::InvalidArgument,
                "invalid second_size: 8 is beyond the newest checkpoint's size 7",
            )),
        ),
        (
            5,
            3,
            Err((RpcCode::InvalidArgument, "invalid first_size: 5 is above second_size 3")),
        ),
    ];
    for (first, second, expected) in consistency {
        let answer = node.client.consistency_proof(first, second).await;
        match (&answer, expected) {
            (Ok(proof), Ok(length)) => assert_eq!(proof.len(), length, "{first} -> {second}"),
            (Err(error), Err((code, words))) => {
                assert_eq!(error.code(), Some(code), "{first} -> {second}: {error}");
                assert!(error.to_string().contains(words), "{error}");
            }
            _ => bail!("consistency {first} -> {second}: {answer:?}, expected {expected:?}"),
        }
    }
    node.stop().await?;

    // Without a key the server serves unsigned roots and says so; --vkey refuses them.
    let unsigned = Node::start(&directory.path().join("unsigned"), None).await?;
    unsigned.report(2, "unsigned").await?;
    checkpoint_at_least(&unsigned.client, 2).await?;
    let (code, stdout, _) = cli(&["--server", &unsigned.url, "audit", "checkpoint"])?;
    assert_eq!(code, 0);
    assert!(
        stdout.contains("NOT signed (the server runs without --signing-key)"),
        "{stdout}"
    );
    let (code, _, stderr) = cli(&["--server", &unsigned.url, "audit", "checkpoint", "--vkey", &vkey])?;
    assert_eq!(code, 3);
    assert!(stderr.contains("the checkpoint is not signed"), "{stderr}");
    unsigned.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoiled_proofs_are_refused_by_our_verifier_and_the_python_one() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    // Seed 8's verifier key has a "+" in its base64, which a verifier must not split on.
    let key = signer(8)?;
    assert!(key.verifier().to_string().matches('+').count() > 2);
    let vkey = key.verifier();
    let node = Node::start(&directory.path().join("data"), Some(&key)).await?;
    node.report(5, "before").await?;
    let five = note_of(&checkpoint_at_least(&node.client, 5).await?)?;
    node.report(6, "after").await?;
    let eleven_served = checkpoint_at_least(&node.client, 11).await?;
    assert_eq!(eleven_served.tree_size, 11);
    let eleven = note_of(&eleven_served)?;
    let events = events(&node.client).await?;
    assert_eq!(events.len(), 11);

    // Good bundles: a middle event, the last one (the chain head), one proved in an older
    // tree then that tree in the checkpoint's, and a witness's consistency from size 5.
    let middle = inclusion_bundle(&node.client, &eleven, 11, &events[2], 11).await?;
    let last = inclusion_bundle(&node.client, &eleven, 11, &events[10], 11).await?;
    let older = inclusion_bundle(&node.client, &eleven, 11, &events[5], 8).await?;
    let witness = json!({
        "checkpoint": eleven,
        "consistency": {
            "old_checkpoint": five,
            "hashes": node.client.consistency_proof(5, 11).await?.iter().map(|hash| BASE64.encode(hash)).collect::<Vec<_>>(),
        },
    });
    let good = [middle.clone(), last.clone(), older.clone(), witness.clone()];

    let mut spoiled = Vec::new();
    let mut spoil = |what: String, bundle: Value| spoiled.push(Spoiled { what, bundle });
    // Every byte of every hash of the proofs.
    for (name, bundle, pointer) in [
        ("inclusion", &middle, "/inclusion/hashes"),
        ("inclusion of the last", &last, "/inclusion/hashes"),
        ("inclusion in the older tree", &older, "/inclusion/hashes"),
        ("consistency of the older tree", &older, "/inclusion/consistency"),
        ("witness consistency", &witness, "/consistency/hashes"),
    ] {
        let count = bundle.pointer(pointer).and_then(Value::as_array).map_or(0, Vec::len);
        assert!(count > 0, "{name}: {bundle}");
        for hash in 0..count {
            for byte in 0..32 {
                let mut changed = bundle.clone();
                let item = changed.pointer_mut(&format!("{pointer}/{hash}")).context("the hash")?;
                *item = flipped_base64(item, byte)?;
                spoil(format!("{name}: hash {hash} byte {byte}"), changed);
            }
        }
    }
    // Every byte of the leaf (with and without the event's chain link beside it).
    let record_length = BASE64
        .decode(middle["inclusion"]["record"].as_str().unwrap_or_default())?
        .len();
    for byte in 0..record_length {
        let mut changed = middle.clone();
        changed["inclusion"]["record"] = flipped_base64(&middle["inclusion"]["record"], byte)?;
        spoil(format!("leaf byte {byte} (chain link kept)"), changed.clone());
        if let Some(inclusion) = changed["inclusion"].as_object_mut() {
            inclusion.remove("prev_hash");
            inclusion.remove("hash");
        }
        spoil(format!("leaf byte {byte}"), changed);
    }
    // Every byte of the root: in the signed note (the signature breaks), and signed again
    // by the log's own key (the proofs break).
    for byte in 0..32 {
        let (checkpoint, _) = parse_unverified(eleven.as_bytes())?;
        let mut root = checkpoint.root_hash;
        root[byte] ^= 0x01;
        let edited = eleven.replace(&BASE64.encode(checkpoint.root_hash), &BASE64.encode(root));
        for (name, bundle) in [("inclusion", &middle), ("witness", &witness)] {
            let mut changed = bundle.clone();
            changed["checkpoint"] = Value::String(edited.clone());
            spoil(format!("{name}: root byte {byte} in the note"), changed.clone());
            changed["checkpoint"] = Value::String(resigned(&eleven, &key, |checkpoint| {
                checkpoint.root_hash[byte] ^= 0x01;
            })?);
            spoil(format!("{name}: root byte {byte}, signed again"), changed);
        }
    }
    // Every byte of the signature (key id and signature).
    for byte in 0..68 {
        let mut changed = middle.clone();
        changed["checkpoint"] = Value::String(signature_flipped(&eleven, byte)?);
        spoil(format!("signature byte {byte}"), changed);
        let mut changed = witness.clone();
        changed["consistency"]["old_checkpoint"] = Value::String(signature_flipped(&five, byte)?);
        spoil(format!("old checkpoint's signature byte {byte}"), changed);
    }
    // Sizes: the proof's tree, the checkpoint's (signed again), the position.
    for delta in [-1i64, 1] {
        let mut changed = middle.clone();
        changed["inclusion"]["tree_size"] = json!(11 + delta);
        spoil(format!("inclusion tree size {delta:+}"), changed);
        let mut changed = older.clone();
        changed["inclusion"]["tree_size"] = json!(8 + delta);
        spoil(format!("older tree size {delta:+}"), changed);
        for (name, bundle) in [("inclusion", &middle), ("witness", &witness)] {
            let mut changed = bundle.clone();
            let size = (11 + delta).to_string();
            changed["checkpoint"] = Value::String(eleven.replacen("\n11\n", &format!("\n{size}\n"), 1));
            spoil(format!("{name}: checkpoint size {delta:+} in the note"), changed);
        }
        // Signed again by the log's key, the size still breaks the inclusion proof. (Not the
        // witness's consistency proof: a root does not commit to its size, so 11's root with
        // size 10 or 12 passes the proof from 5; the key holder that signs such a note is
        // caught at the witness's next round, which no proof from it can pass.)
        let mut changed = middle.clone();
        changed["checkpoint"] = Value::String(resigned(&eleven, &key, |checkpoint| {
            checkpoint.tree_size = checkpoint.tree_size.saturating_add_signed(delta);
        })?);
        spoil(format!("inclusion: checkpoint size {delta:+}, signed again"), changed);
        let mut changed = witness.clone();
        changed["consistency"]["old_checkpoint"] = Value::String(resigned(&five, &key, |checkpoint| {
            checkpoint.tree_size = checkpoint.tree_size.saturating_add_signed(delta);
        })?);
        spoil(format!("old checkpoint size {delta:+}, signed again"), changed);
    }
    // The proof of position 3 reused for every other position (its record, its index).
    for other in events.iter().filter(|event| event.position != 3) {
        let mut changed = middle.clone();
        changed["inclusion"]["position"] = json!(other.position);
        changed["inclusion"]["record"] = Value::String(BASE64.encode(&other.record_bytes));
        changed["inclusion"]["prev_hash"] = Value::String(BASE64.encode(other.prev_hash));
        changed["inclusion"]["hash"] = Value::String(BASE64.encode(other.hash));
        spoil(format!("position 3's proof for position {}", other.position), changed);
        let mut changed = middle.clone();
        changed["inclusion"]["position"] = json!(other.position);
        spoil(
            format!("position 3's proof and record as position {}", other.position),
            changed,
        );
    }
    // Empty proofs for a tree of 11, and the roots of a witness swapped or shrunk.
    for (name, bundle, pointer) in [
        ("empty inclusion proof", &middle, "/inclusion/hashes"),
        ("empty inclusion proof in the older tree", &older, "/inclusion/hashes"),
        (
            "empty consistency proof of the older tree",
            &older,
            "/inclusion/consistency",
        ),
        ("empty witness proof", &witness, "/consistency/hashes"),
    ] {
        let mut changed = bundle.clone();
        *changed.pointer_mut(pointer).context("the proof")? = json!([]);
        spoil(name.to_owned(), changed);
    }
    let mut swapped = witness.clone();
    swapped["checkpoint"] = Value::String(five.clone());
    swapped["consistency"]["old_checkpoint"] = Value::String(eleven.clone());
    spoil(
        "witness: the checkpoints swapped (the tree shrinks)".to_owned(),
        swapped,
    );
    // Signed by another key: of the same name, and of another name.
    let impostors = [signer(4)?, SignerKey::from_seed("gridledger/elsewhere", [3; 32])?];
    for (index, impostor) in impostors.iter().enumerate() {
        let (checkpoint, _) = parse_unverified(eleven.as_bytes())?;
        let forged = impostor.sign_note(&checkpoint.body())?;
        for (name, bundle) in [("inclusion", &middle), ("witness", &witness)] {
            let mut changed = bundle.clone();
            changed["checkpoint"] = Value::String(forged.clone());
            spoil(format!("{name}: checkpoint signed by impostor {index}"), changed);
        }
        // An impostor's checkpoint beside the real one's signature: the real key's line
        // still verifies, but a body changed under it does not.
        let cosigned = format!("{eleven}{}", forged.lines().last().unwrap_or_default());
        let mut changed = middle.clone();
        changed["checkpoint"] = Value::String(format!("{cosigned}\n").replacen("\n11\n", "\n12\n", 1));
        spoil(
            format!("inclusion: cosigned by impostor {index}, size changed"),
            changed,
        );
    }
    assert!(spoiled.len() > 900, "{} cases", spoiled.len());
    check(directory.path(), &vkey, &good, &spoiled)?;
    node.stop().await?;
    Ok(())
}

/// `audit watch --once` with `state`: exit code, stdout, stderr.
fn watch_once(url: &str, vkey: &str, state: &Path) -> anyhow::Result<(i32, String, String)> {
    cli(&[
        "--server",
        url,
        "audit",
        "watch",
        "--vkey",
        vkey,
        "--state",
        &state.to_string_lossy(),
        "--once",
    ])
}

/// Copies a directory tree (the server using it is stopped).
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_witness_accepts_appends_and_names_a_split_view() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let key = signer(5)?;
    let vkey = key.verifier().to_string();
    let (data_a, data_b) = (directory.path().join("a"), directory.path().join("b"));
    let state = directory.path().join("witness-a.note");

    // One server: the witness trusts its first checkpoint, then accepts what extends it.
    let node = Node::start(&data_a, Some(&key)).await?;
    node.report(3, "shared").await?;
    checkpoint_at_least(&node.client, 3).await?;
    let steps = [
        (0, "ok: first checkpoint"),
        (2, "ok: consistent: size 3 -> 5"),
        (0, "ok: unchanged"),
    ];
    for (appends, expected) in steps {
        if appends > 0 {
            let head = node.report(appends, "more").await?;
            checkpoint_at_least(&node.client, head).await?;
        }
        let (code, stdout, stderr) = watch_once(&node.url, &vkey, &state)?;
        assert_eq!(code, 0, "{stdout}{stderr}");
        assert!(stdout.starts_with(expected), "{stdout}");
    }
    node.stop().await?;

    // A split view: two servers from copies of one data directory, then different events.
    copy_dir(&data_a, &data_b)?;
    let a = Node::start(&data_a, Some(&key)).await?;
    let b = Node::start(&data_b, Some(&key)).await?;
    let head_a = a.report(3, "only in a").await?;
    let head_b = b.report(2, "only in b").await?;
    assert_eq!((head_a, head_b), (8, 7));
    checkpoint_at_least(&a.client, 8).await?;
    checkpoint_at_least(&b.client, 7).await?;
    // A witness of each.
    let state_b = directory.path().join("witness-b.note");
    std::fs::copy(&state, &state_b)?;
    let (code, stdout, _) = watch_once(&a.url, &vkey, &state)?;
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.starts_with("ok: consistent: size 5 -> 8"), "{stdout}");
    let (code, stdout, _) = watch_once(&b.url, &vkey, &state_b)?;
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.starts_with("ok: consistent: size 5 -> 7"), "{stdout}");
    let saved_a = std::fs::read_to_string(&state)?;
    let saved_b = std::fs::read_to_string(&state_b)?;

    // Each witness refuses the other server: a smaller tree, a failed consistency proof,
    // then (B catches up to 8) another root at the same size. Exit 2, both checkpoints
    // shown, the saved one kept.
    let served_b = note_of(&b.client.checkpoint().await?)?;
    let served_a = note_of(&a.client.checkpoint().await?)?;
    let (code, stdout, stderr) = watch_once(&b.url, &vkey, &state)?;
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stderr.contains("fork: the tree shrank from size 8 to 7"), "{stderr}");
    assert!(stdout.contains(&saved_a) && stdout.contains(&served_b), "{stdout}");
    let (code, stdout, stderr) = watch_once(&a.url, &vkey, &state_b)?;
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("fork: the consistency proof does not verify"),
        "{stderr}"
    );
    assert!(stdout.contains(&saved_b) && stdout.contains(&served_a), "{stdout}");
    b.report(1, "b catches up").await?;
    checkpoint_at_least(&b.client, 8).await?;
    let (code, _, stderr) = watch_once(&b.url, &vkey, &state)?;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("fork: two different roots at size 8"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&state)?, saved_a);
    assert_eq!(std::fs::read_to_string(&state_b)?, saved_b);
    a.stop().await?;
    b.stop().await?;

    // A server refuses to sign a log that does not continue its last signed checkpoint.
    std::fs::copy(
        data_a.join(gridledger_server::CHECKPOINTS_FILE),
        data_b.join(gridledger_server::CHECKPOINTS_FILE),
    )?;
    let refused = Node::start(&data_b, Some(&key)).await;
    let error = refused.err().map(|error| format!("{error:#}")).unwrap_or_default();
    assert!(
        error.contains("the log does not continue the last signed checkpoint") && error.contains("at size 8"),
        "{error}"
    );
    Ok(())
}

/// Kills the child if the test ends early.
struct Killed(Option<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_appends_restarts_consistent_with_its_checkpoints() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let data = directory.path().join("data");
    let key_file = directory.path().join("signing.key");
    let key_path = key_file.to_string_lossy().into_owned();

    // keygen: a 0600 file and the verifier key on stdout; serve refuses a key others read.
    let (code, stdout, stderr) = cli(&["keygen", "--name", ORIGIN, "--out", &key_path])?;
    assert_eq!(code, 0, "{stderr}");
    let vkey_text = stdout.trim().to_owned();
    let vkey = VerifierKey::parse(&vkey_text)?;
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key_file)?.permissions().mode() & 0o777, 0o600);
    let (code, _, _) = cli(&["keygen", "--name", ORIGIN, "--out", &key_path])?;
    assert_eq!(code, 1, "an existing key file is never overwritten");
    let open_key = directory.path().join("open.key");
    std::fs::copy(&key_file, &open_key)?;
    std::fs::set_permissions(&open_key, std::fs::Permissions::from_mode(0o644))?;
    let (code, _, stderr) = cli(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data",
        &data.to_string_lossy(),
        "--signing-key",
        &open_key.to_string_lossy(),
    ])?;
    assert_eq!(code, 1);
    assert!(stderr.contains("the file is open to others (mode 0644)"), "{stderr}");

    let serve_arguments = ["--signing-key", key_path.as_str(), "--checkpoint-interval", "5ms"];
    let (child, address) = support::spawn_serve(&data, &serve_arguments, None)?;
    let mut child = Killed(Some(child));
    let client = Client::connect(&format!("http://{address}"), None).await?;
    // Appends until the server is gone.
    let appender = client.clone().with_retry_policy(RetryPolicy {
        attempts: 1,
        ..RetryPolicy::default()
    });
    let appending = tokio::spawn(async move {
        let mut acknowledged = 0u64;
        loop {
            let Ok(report) = support::issue_report("appended until the kill") else {
                return acknowledged;
            };
            match appender.report(&CommandMeta::with_fresh_request_id(), &report).await {
                Ok(ack) => acknowledged = ack.position,
                Err(_) => return acknowledged,
            }
        }
    });
    let before = checkpoint_at_least(&client, 20).await?;
    let before_checkpoint = parse_and_verify_note(&before.note, &vkey)?;
    // Appends go on past it; then SIGKILL mid-stream.
    checkpoint_at_least(&client, before.tree_size + 20).await?;
    if let Some(mut killed) = child.0.take() {
        killed.kill()?;
        killed.wait()?;
    }
    let acknowledged = appending.await?;
    assert!(acknowledged >= before.tree_size + 20, "{acknowledged}");
    // The newest checkpoint kept on disk before the kill.
    let kept_text = std::fs::read_to_string(data.join(gridledger_server::CHECKPOINTS_FILE))?;
    let kept_line: Value = serde_json::from_str(kept_text.lines().last().context("a kept checkpoint")?)?;
    let kept = parse_and_verify_note(kept_line["note"].as_str().unwrap_or_default().as_bytes(), &vkey)?;
    assert!(kept.tree_size >= before.tree_size + 20);

    let (restarted, address) = support::spawn_serve(&data, &serve_arguments, None)?;
    child.0 = Some(restarted);
    let url = format!("http://{address}");
    let client = Client::connect(&url, None).await?;
    let verified = client.verify_log(0, 0).await?;
    assert!(verified.ok, "{verified:?}");
    assert!(verified.head_position >= acknowledged);
    // A fresh checkpoint, consistent with the one taken before the kill and with the last
    // one kept.
    let after = client.checkpoint().await?;
    let after_checkpoint = parse_and_verify_note(&after.note, &vkey)?;
    assert_eq!(after_checkpoint.tree_size, verified.head_position);
    for earlier in [&before_checkpoint, &kept] {
        let proof = client
            .consistency_proof(earlier.tree_size, after_checkpoint.tree_size)
            .await?;
        verify_continuation(earlier, &after_checkpoint, &proof)?;
    }
    // And the witness that saw the checkpoint before the kill agrees.
    let state = directory.path().join("witness.note");
    std::fs::write(&state, &before.note)?;
    let (code, stdout, stderr) = watch_once(&url, &vkey_text, &state)?;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.starts_with("ok: consistent") || stdout.starts_with("ok: unchanged"),
        "{stdout}"
    );
    Ok(())
}
