//! `gridledger audit checkpoint|prove|watch`: the log's signed checkpoints checked here,
//! on the client's side, against the verifier key (`--vkey`): a checkpoint's signature, an
//! event's inclusion proof, and, as a witness, the consistency of each new checkpoint with the
//! last one verified. What each proves, the formats and the exit codes: docs/audit.md.
//!
//! Exit codes: 0 verified; 1 could not check (server unreachable, a refused request, an
//! unreadable state file); [`EXIT_FORK`] (2) a fork, two checkpoints of one log that cannot
//! both be true; [`EXIT_REFUSED`] (3) something that does not verify (a signature, a proof,
//! an event, a checkpoint of another log).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use gridledger_api::checkpoint::{Checkpoint, VerifierKey, parse_and_verify_note, parse_unverified};
use gridledger_api::client::{Client, ServedCheckpoint};
use gridledger_api::proofs::{
    Continuation, ProofError, verify_chain_link, verify_continuation, verify_event_inclusion,
};
use gridledger_eventlog::merkle::MerkleHash;
use serde_json::{Value, json};

/// Exit status of a fork.
pub const EXIT_FORK: u8 = 2;
/// Exit status of something that does not verify.
pub const EXIT_REFUSED: u8 = 3;

/// A verdict that ends the command with its own exit status (`main` prints the message).
#[derive(Debug)]
pub struct Failed {
    pub code: u8,
    pub message: String,
}

impl fmt::Display for Failed {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for Failed {}

fn refused(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failed {
        code: EXIT_REFUSED,
        message: message.into(),
    })
}

fn b64(hash: &[u8]) -> String {
    BASE64.encode(hash)
}

fn hashes_json(hashes: &[MerkleHash]) -> Value {
    Value::Array(hashes.iter().map(|hash| Value::String(b64(hash))).collect())
}

/// The served checkpoint opened with `vkey` (or only read, without one), and checked to say
/// what the server's plain fields say.
fn open_served(served: &ServedCheckpoint, vkey: Option<&VerifierKey>) -> anyhow::Result<Checkpoint> {
    let checkpoint = match vkey {
        Some(vkey) => parse_and_verify_note(&served.note, vkey)
            .map_err(|error| refused(format!("the server's checkpoint does not verify: {error}")))?,
        None => {
            parse_unverified(&served.note)
                .map_err(|error| refused(format!("the server's checkpoint does not read: {error}")))?
                .0
        }
    };
    if checkpoint.tree_size != served.tree_size || checkpoint.root_hash != served.root_hash {
        return Err(refused(format!(
            "the server says size {} and root {}, but its note says {checkpoint}",
            served.tree_size,
            b64(&served.root_hash)
        )));
    }
    Ok(checkpoint)
}

/// The note as text (it has been read, so it is UTF-8).
fn note_string(note: &[u8]) -> String {
    String::from_utf8_lossy(note).into_owned()
}

/// `audit checkpoint`: prints the newest checkpoint, verified with `--vkey` when given.
pub async fn checkpoint(client: &Client, json: bool, vkey: Option<&VerifierKey>) -> anyhow::Result<()> {
    let served = client.checkpoint().await?;
    let checkpoint = open_served(&served, vkey)?;
    let signed = parse_unverified(&served.note)
        .map(|(_, lines)| !lines.is_empty())
        .unwrap_or(false);
    if json {
        println!(
            "{}",
            json!({
                "origin": checkpoint.origin,
                "tree_size": checkpoint.tree_size,
                "root_hash": b64(&checkpoint.root_hash),
                "chain_head": hex::encode(checkpoint.chain_head),
                "signed": signed,
                "verified": vkey.is_some(),
                "note": note_string(&served.note),
            })
        );
    } else {
        print!("{}", note_string(&served.note));
        match vkey {
            Some(vkey) => println!("ok: checkpoint of {checkpoint} verified with key {vkey}"),
            None if signed => println!("NOT verified (give --vkey): checkpoint of {checkpoint}"),
            None => println!("NOT signed (the server runs without --signing-key): checkpoint of {checkpoint}"),
        }
    }
    Ok(())
}

/// `audit prove POSITION [--size N]`: the event, its inclusion proof and the newest
/// checkpoint, each verified here.
pub async fn prove(
    client: &Client,
    json: bool,
    vkey: Option<&VerifierKey>,
    position: u64,
    size: Option<u64>,
) -> anyhow::Result<()> {
    let served = client.checkpoint().await?;
    let checkpoint = open_served(&served, vkey)?;
    let tree_size = size.unwrap_or(checkpoint.tree_size);
    let proof = client
        .inclusion_proof(position, tree_size)
        .await
        .context("GetInclusionProof")?;
    if proof.tree_size != tree_size || proof.leaf_index + 1 != position {
        return Err(refused(format!(
            "asked for position {position} in the tree of {tree_size}, the server proved leaf {} in the tree of {}",
            proof.leaf_index, proof.tree_size
        )));
    }
    let consistency = if tree_size < checkpoint.tree_size {
        client
            .consistency_proof(tree_size, checkpoint.tree_size)
            .await
            .context("GetConsistencyProof")?
    } else {
        Vec::new()
    };
    let mut events = client.read_all(position, 1, false).await.context("ReadAll")?;
    let event = events
        .next()
        .await?
        .filter(|event| event.position == position)
        .ok_or_else(|| refused(format!("the server sent no event at position {position}")))?;
    let verdict = verify_chain_link(position, &event.prev_hash, &event.record_bytes, &event.hash)
        .and_then(|()| {
            verify_event_inclusion(
                &checkpoint,
                position,
                &event.record_bytes,
                tree_size,
                &proof.hashes,
                &consistency,
            )
        })
        .and_then(|root| {
            if position == checkpoint.tree_size && event.hash != checkpoint.chain_head {
                return Err(ProofError::ChainHeadMismatch { position });
            }
            Ok(root)
        });
    if json {
        // The bundle docs/examples/verify_proofs.py reads (docs/audit.md#proof-bundles).
        println!(
            "{}",
            json!({
                "verdict": match &verdict { Ok(_) => "ok".to_owned(), Err(error) => format!("FAILED: {error}") },
                "checkpoint": note_string(&served.note),
                "inclusion": {
                    "position": position,
                    "record": b64(&event.record_bytes),
                    "prev_hash": b64(&event.prev_hash),
                    "hash": b64(&event.hash),
                    "tree_size": tree_size,
                    "hashes": hashes_json(&proof.hashes),
                    "consistency": hashes_json(&consistency),
                },
            })
        );
    }
    let root = verdict.map_err(|error| refused(format!("position {position}: {error}")))?;
    if !json {
        println!(
            "ok: position {position} ({} of stream {}) is leaf {} of the tree of size {tree_size} (root {}){}",
            event.record.event_type,
            event.record.stream_id,
            position - 1,
            b64(&root),
            if tree_size < checkpoint.tree_size {
                format!(
                    ", which the consistency proof shows to be a prefix of the checkpoint's tree of size {}",
                    checkpoint.tree_size
                )
            } else {
                String::new()
            }
        );
        match vkey {
            Some(vkey) => println!("   checkpoint of {checkpoint} verified with key {vkey}"),
            None => println!("   checkpoint of {checkpoint} NOT verified (give --vkey)"),
        }
    }
    Ok(())
}

/// What one round of the witness found.
enum Round {
    /// No state yet: the checkpoint is trusted on first use.
    First(Checkpoint),
    Unchanged(Checkpoint),
    Consistent {
        from: Checkpoint,
        to: Checkpoint,
    },
}

/// `audit watch`: the witness. Each round fetches the newest checkpoint, verifies it, and
/// checks it against the last one verified (kept in `state`); `once` does one round.
pub async fn watch(
    client: &Client,
    json: bool,
    vkey: &VerifierKey,
    state: &Path,
    interval: Duration,
    once: bool,
) -> anyhow::Result<()> {
    loop {
        match watch_round(client, vkey, state).await {
            Ok(round) => report_round(json, state, &round),
            Err(error) if once || error.downcast_ref::<Failed>().is_some() => return Err(error),
            Err(error) => {
                // The server may be away for a while; the witness keeps its state and waits.
                tracing::warn!(error = %format!("{error:#}"), "cannot check the checkpoint this round");
            }
        }
        if once {
            return Ok(());
        }
        tokio::time::sleep(interval).await;
    }
}

async fn watch_round(client: &Client, vkey: &VerifierKey, state: &Path) -> anyhow::Result<Round> {
    let saved_note = match std::fs::read(state) {
        Ok(note) => Some(note),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(error).with_context(|| format!("reading the state file {}", state.display())),
    };
    let saved = match &saved_note {
        Some(note) => Some(parse_and_verify_note(note, vkey).map_err(|error| {
            refused(format!(
                "the saved checkpoint in {} does not verify with --vkey: {error}",
                state.display()
            ))
        })?),
        None => None,
    };
    let served = client.checkpoint().await?;
    let checkpoint = open_served(&served, Some(vkey))?;
    let (Some(saved), Some(saved_note)) = (saved, saved_note) else {
        save_state(state, &served.note)?;
        return Ok(Round::First(checkpoint));
    };
    let proof = if checkpoint.tree_size > saved.tree_size && checkpoint.origin == saved.origin {
        client
            .consistency_proof(saved.tree_size, checkpoint.tree_size)
            .await
            .context("GetConsistencyProof")?
    } else {
        Vec::new()
    };
    match verify_continuation(&saved, &checkpoint, &proof) {
        Ok(Continuation::Unchanged) => Ok(Round::Unchanged(checkpoint)),
        Ok(Continuation::Extends { .. }) => {
            save_state(state, &served.note)?;
            Ok(Round::Consistent {
                from: saved,
                to: checkpoint,
            })
        }
        Err(error) if error.is_fork() => {
            let evidence = format!(
                "FORK: {error}\n--- the checkpoint verified before ({})\n{}--- the checkpoint the server shows now\n{}",
                state.display(),
                note_string(&saved_note),
                note_string(&served.note)
            );
            println!("{evidence}");
            Err(anyhow::Error::new(Failed {
                code: EXIT_FORK,
                message: format!(
                    "fork: {error}: the log shows checkpoints of {saved} and of {checkpoint}, which no append-only log can both have signed"
                ),
            }))
        }
        Err(error) => Err(refused(format!(
            "the new checkpoint does not continue the saved one: {error}"
        ))),
    }
}

fn report_round(json: bool, state: &Path, round: &Round) {
    let (verdict, checkpoint, previous) = match round {
        Round::First(checkpoint) => ("first", checkpoint, None),
        Round::Unchanged(checkpoint) => ("unchanged", checkpoint, None),
        Round::Consistent { from, to } => ("consistent", to, Some(from)),
    };
    if json {
        println!(
            "{}",
            json!({
                "verdict": verdict,
                "origin": checkpoint.origin,
                "tree_size": checkpoint.tree_size,
                "root_hash": b64(&checkpoint.root_hash),
                "previous_size": previous.map(|previous| previous.tree_size),
                "state": state.display().to_string(),
            })
        );
        return;
    }
    match round {
        Round::First(checkpoint) => println!(
            "ok: first checkpoint, trusted on first use and saved to {}: {checkpoint}",
            state.display()
        ),
        Round::Unchanged(checkpoint) => println!("ok: unchanged: {checkpoint}"),
        Round::Consistent { from, to } => println!(
            "ok: consistent: size {} -> {}, saved to {}: {to}",
            from.tree_size,
            to.tree_size,
            state.display()
        ),
    }
}

/// Replaces the state file with `note`, atomically and durably.
fn save_state(state: &Path, note: &[u8]) -> anyhow::Result<()> {
    let directory = match state.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut temporary = tempfile::NamedTempFile::new_in(&directory)
        .with_context(|| format!("creating a file beside {}", state.display()))?;
    temporary.write_all(note)?;
    temporary.as_file().sync_all()?;
    temporary
        .persist(state)
        .with_context(|| format!("replacing {}", state.display()))?;
    std::fs::File::open(&directory).and_then(|directory| directory.sync_all())?;
    Ok(())
}
