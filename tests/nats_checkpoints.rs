//! End-to-end tests of checkpoints over NATS (docs/audit.md, docs/operations.md): a district
//! node with `--signing-key` and `--nats` publishes its signed checkpoints to its checkpoint
//! stream (never into its event stream), through a NATS outage; a stats node compares each
//! with its replica's root at that size; forged, foreign and premature checkpoints, published
//! by hand, are each reported for what they are. Real `gridledger` and nats-server processes
//! on free ports.

#[path = "../crates/bus/tests/support/nats_server.rs"]
#[allow(dead_code)]
mod nats_server;
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use async_nats::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use gridledger_api::checkpoint::{Checkpoint, SignerKey, VerifierKey, parse_and_verify_note, parse_unverified};
use gridledger_api::client::Client;
use gridledger_api::{CommandMeta, IssueReport, NodeStatusView, StatsFilter};
use gridledger_bus::{HEADER_ROOT_HASH, HEADER_TREE_SIZE, NatsConfig, NatsConnection, StreamSettings};
use gridledger_domain::{DistrictCode, Field, FreeText, IssueTitle, PersonId, Registry};
use nats_server::{NatsServer, free_port};

/// How long anything awaited may take before a test gives up.
const DEADLINE: Duration = Duration::from_secs(120);
const STREAM: &str = "GRIDLEDGER_RUNZHOU";
const CHECKPOINT_STREAM: &str = "GRIDLEDGER_RUNZHOU_CHECKPOINTS";
const CHECKPOINT_SUBJECT: &str = "gridledger.checkpoint.runzhou";
const ORIGIN: &str = "gridledger/runzhou";
const WITNESS: &str = "checkpoints/GRIDLEDGER_RUNZHOU";

/// A `gridledger` process, killed when dropped.
struct Node {
    child: Child,
    url: String,
}

impl Node {
    /// Starts `gridledger <arguments>` and waits for the line starting with `ready_prefix`.
    fn start(arguments: &[String], ready_prefix: &str) -> anyhow::Result<Node> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gridledger"))
            .args(arguments)
            .env("GRIDLEDGER_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let address = loop {
            let Some(line) = lines.next() else {
                bail!("gridledger {arguments:?} exited before listening: {:?}", child.wait()?);
            };
            if let Some(rest) = line?.strip_prefix(ready_prefix) {
                break rest.split_whitespace().next().unwrap_or_default().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(Node {
            child,
            url: format!("http://{address}"),
        })
    }

    /// A stats node following Runzhou, with its checkpoint verifier key when given.
    fn stats(data: &std::path::Path, nats_url: &str, vkey: Option<&str>) -> anyhow::Result<Node> {
        let mut arguments = vec![
            "project".to_owned(),
            "--listen".into(),
            format!("127.0.0.1:{}", free_port()?),
            "--data".into(),
            data.display().to_string(),
            "--nats".into(),
            nats_url.into(),
            "--stream".into(),
            STREAM.into(),
        ];
        if let Some(vkey) = vkey {
            arguments.extend(["--checkpoint-vkey".to_owned(), vkey.to_owned()]);
        }
        Node::start(&arguments, "gridledger stats node listening on ")
    }

    async fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::connect(&self.url, Some("nats-checkpoints-test")).await?)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runzhou's district node, signing its checkpoints and publishing to `nats_url`.
struct District {
    _directory: tempfile::TempDir,
    _node: Node,
    client: Client,
    key: SignerKey,
    vkey: String,
}

impl District {
    async fn start(nats_url: &str) -> anyhow::Result<District> {
        let directory = tempfile::tempdir()?;
        let key_file = directory.path().join("runzhou.key");
        let vkey = support::gridledger(&["keygen", "--name", ORIGIN, "--out", &key_file.display().to_string()])?
            .trim()
            .to_owned();
        let key = SignerKey::parse(&std::fs::read_to_string(&key_file)?)?;
        assert_eq!(key.verifier().to_string(), vkey);
        let node = Node::start(
            &[
                "serve".to_owned(),
                "--listen".into(),
                "127.0.0.1:0".into(),
                "--data".into(),
                directory.path().join("data").display().to_string(),
                "--registry".into(),
                "builtin:runzhou".into(),
                "--nats".into(),
                nats_url.into(),
                "--signing-key".into(),
                key_file.display().to_string(),
                "--checkpoint-interval".into(),
                "20ms".into(),
            ],
            "gridledger listening on ",
        )?;
        let client = node.client().await?;
        Ok(District {
            _directory: directory,
            _node: node,
            client,
            key,
            vkey,
        })
    }

    /// Reports `issues` issues; every one must be acknowledged.
    async fn drive(&self, first: usize, issues: usize) -> anyhow::Result<()> {
        let registry = Registry::builtin_runzhou();
        let grids = registry.grids();
        let categories = registry.categories();
        for index in first..first + issues {
            let report = IssueReport {
                issue_id: None,
                grid: grids[(index * 7) % grids.len()].code.clone(),
                category: categories[index % categories.len()].code().clone(),
                title: IssueTitle::parse(&format!("issue {index}"))?,
                description: FreeText::parse(Field::Description, "reported by the checkpoint test")?,
                reporter_id: PersonId::parse(Field::Reporter, "worker-7")?,
                evidence: Default::default(),
                location: None,
            };
            self.client
                .report(&CommandMeta::with_fresh_request_id(), &report)
                .await
                .with_context(|| format!("report {index}"))?;
        }
        Ok(())
    }

    /// The head once the outbox has published every event, the newest checkpoint is of the
    /// head, and the checkpoint outbox has published it.
    async fn settled(&self) -> anyhow::Result<u64> {
        let status = wait_for_status(&self.client, "the district settled", |status| {
            let head = status.component("log").map(|log| log.position);
            let at_head = |name: &str| {
                status
                    .component(name)
                    .is_some_and(|component| component.serving && Some(component.position) == head)
            };
            at_head("outbox") && at_head("checkpoints") && at_head("checkpoint-outbox")
        })
        .await?;
        status
            .component("log")
            .map(|log| log.position)
            .context("no log component")
    }
}

/// Polls the node's status (bounded) until `condition` holds; fails with the last status.
async fn wait_for_status(
    client: &Client,
    what: &str,
    condition: impl Fn(&NodeStatusView) -> bool,
) -> anyhow::Result<NodeStatusView> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let status = client.node_status().await;
        if let Ok(status) = &status
            && condition(status)
        {
            return Ok(status.clone());
        }
        if Instant::now() > deadline {
            bail!("{what}: not reached within {DEADLINE:?}; last status {status:#?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn everything() -> StatsFilter {
    StatsFilter {
        scope: None,
        category: None,
        period_start: None,
        period_end: None,
        as_of: None,
    }
}

/// One message of a checkpoint stream, as stored.
#[derive(Debug, Clone)]
struct StoredCheckpoint {
    sequence: u64,
    headers: HeaderMap,
    note: Vec<u8>,
}

impl StoredCheckpoint {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|value| value.as_str().to_owned())
    }
}

/// Every message of `stream` on the server at `url`.
async fn read_stream(url: &str, stream: &str) -> anyhow::Result<Vec<(String, HeaderMap, Vec<u8>)>> {
    let jetstream = async_nats::jetstream::new(async_nats::connect(url).await?);
    let handle = jetstream.get_stream(stream).await?;
    let last = handle.get_info().await?.state.last_sequence;
    let mut messages = Vec::new();
    for sequence in 1..=last {
        let message = handle.get_raw_message(sequence).await?;
        messages.push((message.subject.to_string(), message.headers, message.payload.to_vec()));
    }
    Ok(messages)
}

async fn checkpoints_in(url: &str) -> anyhow::Result<Vec<StoredCheckpoint>> {
    Ok(read_stream(url, CHECKPOINT_STREAM)
        .await?
        .into_iter()
        .enumerate()
        .map(|(index, (_, headers, note))| StoredCheckpoint {
            sequence: index as u64 + 1,
            headers,
            note,
        })
        .collect())
}

/// Publishes a checkpoint message by hand, as someone other than the district node would.
async fn publish_checkpoint(url: &str, note: &[u8], tree_size: &str, root_hex: &str) -> anyhow::Result<()> {
    let jetstream = async_nats::jetstream::new(async_nats::connect(url).await?);
    let mut headers = HeaderMap::new();
    headers.insert(HEADER_TREE_SIZE, tree_size);
    headers.insert(HEADER_ROOT_HASH, root_hex);
    jetstream
        .publish_with_headers(CHECKPOINT_SUBJECT, headers, note.to_vec().into())
        .await?
        .await?;
    Ok(())
}

/// Copies Runzhou's event stream, registry and checkpoint stream from `source_url` to a
/// server at `target_url`, message by message, subjects and headers as they were.
async fn copy_district(source_url: &str, target_url: &str) -> anyhow::Result<()> {
    let registry = Registry::builtin_runzhou();
    let district = DistrictCode::parse("runzhou")?;
    let target_connection = NatsConnection::connect(&NatsConfig::new(target_url)).await?;
    gridledger_bus::ensure_district_stream(&target_connection, &district, &StreamSettings::default()).await?;
    gridledger_bus::ensure_checkpoint_stream(&target_connection, &district, &StreamSettings::default()).await?;
    gridledger_bus::publish_registry(&target_connection, STREAM, &registry, 1).await?;
    let target = async_nats::jetstream::new(async_nats::connect(target_url).await?);
    for stream in [STREAM, CHECKPOINT_STREAM] {
        for (subject, headers, payload) in read_stream(source_url, stream).await? {
            target
                .publish_with_headers(subject, headers, payload.into())
                .await?
                .await?;
        }
    }
    Ok(())
}

/// What is published into the copy of the district's streams after its true checkpoints.
#[derive(Debug, Clone, Copy)]
enum Forgery {
    /// Nothing: the district's own checkpoints only.
    Nothing,
    /// A checkpoint of the head's size with another root, signed by the district's key.
    WrongRoot,
    /// A checkpoint of the head's size with the true root but another chain head, signed.
    WrongChainHead,
    /// The true checkpoint of the head, signed by another key of the same name.
    OtherKey,
    /// The true checkpoint of the head, signed, with a root header that is not its root.
    HeadersDisagree,
    /// The true checkpoint of the head, unsigned.
    Unsigned,
    /// A signed checkpoint of 5 events more than the replica will ever get here.
    Ahead,
}

/// What the stats node must report about the district's checkpoints.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Serving, verified through the head; `detail` says how.
    Verified { detail: &'static str },
    /// Serving, verified through the head, the checkpoint of `extra` more events waiting.
    Waiting { extra: u64 },
    /// Not serving, the reason containing every fragment (`{size}` stands for the head, `{root}`
    /// and `{forged_root}` for the true and the forged root in base64); StatsService serves on.
    Halted { fragments: &'static [&'static str] },
}

struct Case {
    name: &'static str,
    /// Give the stats node the district's verifier key.
    with_key: bool,
    forgery: Forgery,
    expect: Expect,
    /// Restart the stats node once it reported, and expect the same again.
    restart: bool,
}

/// The district's true checkpoint of its head, and what the case publishes after it.
fn forged(
    district: &District,
    truth: &Checkpoint,
    forgery: Forgery,
) -> anyhow::Result<Option<(Vec<u8>, String, String)>> {
    let signed = |checkpoint: &Checkpoint, key: &SignerKey| -> anyhow::Result<(Vec<u8>, String, String)> {
        Ok((
            key.sign_note(&checkpoint.body())?.into_bytes(),
            checkpoint.tree_size.to_string(),
            hex::encode(checkpoint.root_hash),
        ))
    };
    let mut other_root = truth.clone();
    other_root.root_hash[0] ^= 0x01;
    let mut other_chain_head = truth.clone();
    other_chain_head.chain_head[31] ^= 0x80;
    let ahead = Checkpoint {
        tree_size: truth.tree_size + 5,
        ..other_root.clone()
    };
    Ok(match forgery {
        Forgery::Nothing => None,
        Forgery::WrongRoot => Some(signed(&other_root, &district.key)?),
        Forgery::WrongChainHead => Some(signed(&other_chain_head, &district.key)?),
        Forgery::OtherKey => Some(signed(truth, &SignerKey::from_seed(ORIGIN, [42; 32])?)?),
        Forgery::HeadersDisagree => {
            let (note, size, _) = signed(truth, &district.key)?;
            Some((note, size, hex::encode(other_root.root_hash)))
        }
        Forgery::Unsigned => Some((
            truth.body().into_bytes(),
            truth.tree_size.to_string(),
            hex::encode(truth.root_hash),
        )),
        Forgery::Ahead => Some(signed(&ahead, &district.key)?),
    })
}

/// Runs one case on a copy of the district's streams on a NATS server of its own.
async fn check(
    district: &District,
    source_url: &str,
    head: u64,
    truth: &Checkpoint,
    case: &Case,
) -> anyhow::Result<()> {
    let name = case.name;
    let nats = NatsServer::start()?;
    copy_district(source_url, &nats.url()).await?;
    let forgery = forged(district, truth, case.forgery)?;
    let forged_root = forgery
        .as_ref()
        .map(|(note, _, _)| parse_unverified(note).map(|(checkpoint, _)| BASE64.encode(checkpoint.root_hash)))
        .transpose()?
        .unwrap_or_default();
    if let Some((note, size, root)) = &forgery {
        publish_checkpoint(&nats.url(), note, size, root).await?;
    }
    let data = tempfile::tempdir()?;
    let vkey = case.with_key.then_some(district.vkey.as_str());
    let mut stats = Node::stats(data.path(), &nats.url(), vkey)?;
    for round in 0..if case.restart { 2 } else { 1 } {
        let client = stats.client().await?;
        let fragments: Vec<String> = match case.expect {
            Expect::Halted { fragments } => fragments
                .iter()
                .map(|fragment| {
                    fragment
                        .replace("{size}", &head.to_string())
                        .replace("{root}", &BASE64.encode(truth.root_hash))
                        .replace("{forged_root}", &forged_root)
                })
                .collect(),
            _ => Vec::new(),
        };
        let status = wait_for_status(&client, &format!("{name} (round {round})"), |status| {
            let feed_done = status
                .component(&format!("feed/{STREAM}"))
                .is_some_and(|feed| feed.serving && feed.position == head);
            let Some(witness) = status.component(WITNESS) else {
                return false;
            };
            feed_done
                && match case.expect {
                    Expect::Verified { detail } => {
                        witness.serving && witness.position == head && witness.detail.contains(detail)
                    }
                    Expect::Waiting { extra } => {
                        witness.serving
                            && witness.position == head
                            && witness.detail.contains(&format!(
                                "the checkpoint of size {} waits for the replica",
                                head + extra
                            ))
                    }
                    Expect::Halted { .. } => {
                        !witness.serving && fragments.iter().all(|fragment| witness.reason.contains(fragment))
                    }
                }
        })
        .await?;
        let witness = status.component(WITNESS).context("witness")?;
        assert_eq!(witness.position, head, "{name}: verified through the true checkpoints");
        // The figures stand whatever the checkpoints say: the replica verified every event.
        assert!(client.health_check("gridledger.v1.StatsService").await?, "{name}");
        assert!(
            status
                .component(&format!("projection/{STREAM}"))
                .is_some_and(|projection| projection.serving),
            "{name}: {status:#?}"
        );
        client.governance_stats(&everything()).await?;
        let witness_health = client
            .health_check(&format!("gridledger.v1.Checkpoints/{STREAM}"))
            .await?;
        assert_eq!(witness_health, witness.serving, "{name}: health follows the witness");
        if round == 0 && case.restart {
            drop(client);
            drop(stats);
            stats = Node::stats(data.path(), &nats.url(), vkey)?;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stats_node_verifies_the_districts_checkpoints_and_names_what_does_not_verify() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let district = District::start(&nats.url()).await?;
    district.drive(0, 40).await?;
    let head = district.settled().await?;
    let served = district.client.checkpoint().await?;
    let truth = parse_and_verify_note(&served.note, &VerifierKey::parse(&district.vkey)?)?;
    assert_eq!(truth.tree_size, head);

    // The checkpoint stream holds the district's notes as signed, sizes growing, the headers
    // repeating them; the event stream holds the events alone (sequence N = position N).
    let stored = checkpoints_in(&nats.url()).await?;
    assert!(!stored.is_empty());
    let mut previous_size = None;
    for message in &stored {
        let checkpoint = parse_and_verify_note(&message.note, &VerifierKey::parse(&district.vkey)?)?;
        assert_eq!(message.header(HEADER_TREE_SIZE), Some(checkpoint.tree_size.to_string()));
        assert_eq!(
            message.header(HEADER_ROOT_HASH),
            Some(hex::encode(checkpoint.root_hash))
        );
        assert!(
            previous_size < Some(checkpoint.tree_size),
            "sequence {}: sizes grow",
            message.sequence
        );
        previous_size = Some(checkpoint.tree_size);
    }
    assert_eq!(
        stored.last().map(|message| message.note.clone()),
        Some(served.note.clone())
    );
    let connection = NatsConnection::connect(&NatsConfig::new(nats.url())).await?;
    let events = gridledger_bus::stream_state(&connection, STREAM).await?;
    assert_eq!((events.messages, events.last_sequence), (head, head));

    let cases = [
        Case {
            name: "the district's checkpoints, with its key",
            with_key: true,
            forgery: Forgery::Nothing,
            expect: Expect::Verified {
                detail: "signatures checked with gridledger/runzhou+",
            },
            restart: false,
        },
        Case {
            name: "the district's checkpoints, roots only",
            with_key: false,
            forgery: Forgery::Nothing,
            expect: Expect::Verified {
                detail: "roots only: no --checkpoint-vkey for this stream, signatures NOT checked",
            },
            restart: false,
        },
        Case {
            name: "another root at the head's size, signed by the district's key",
            with_key: true,
            forgery: Forgery::WrongRoot,
            expect: Expect::Halted {
                fragments: &[
                    "fork at size {size}",
                    "has root {forged_root}",
                    "at size {size} is {root}",
                ],
            },
            restart: true,
        },
        Case {
            name: "another root, roots only",
            with_key: false,
            forgery: Forgery::WrongRoot,
            expect: Expect::Halted {
                fragments: &["fork at size {size}", "{forged_root}", "{root}"],
            },
            restart: false,
        },
        Case {
            name: "another chain head, signed by the district's key",
            with_key: true,
            forgery: Forgery::WrongChainHead,
            expect: Expect::Halted {
                fragments: &["fork at size {size}", "chain head"],
            },
            restart: false,
        },
        Case {
            name: "the true checkpoint signed by another key",
            with_key: true,
            forgery: Forgery::OtherKey,
            expect: Expect::Halted {
                fragments: &["does not verify", "no signature by key gridledger/runzhou+"],
            },
            restart: false,
        },
        Case {
            name: "headers that disagree with the note",
            with_key: true,
            forgery: Forgery::HeadersDisagree,
            expect: Expect::Halted {
                fragments: &["does not verify", "Gridledger-Root-Hash header"],
            },
            restart: false,
        },
        Case {
            name: "an unsigned checkpoint where a key is given",
            with_key: true,
            forgery: Forgery::Unsigned,
            expect: Expect::Halted {
                fragments: &["not signed"],
            },
            restart: false,
        },
        Case {
            name: "a checkpoint ahead of the replica waits for it",
            with_key: true,
            forgery: Forgery::Ahead,
            expect: Expect::Waiting { extra: 5 },
            restart: false,
        },
    ];
    for case in &cases {
        check(&district, &nats.url(), head, &truth, case).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_flow_through_an_outage_and_a_forgery_in_the_live_stream_is_caught_on_both_sides()
-> anyhow::Result<()> {
    let mut nats = NatsServer::start()?;
    let district = District::start(&nats.url()).await?;
    district.drive(0, 20).await?;
    let head = district.settled().await?;
    let stats_data = tempfile::tempdir()?;
    let stats = Node::stats(stats_data.path(), &nats.url(), Some(&district.vkey))?;
    let stats_client = stats.client().await?;
    let verified_through = |size: u64| {
        move |status: &NodeStatusView| {
            status
                .component(WITNESS)
                .is_some_and(|witness| witness.serving && witness.position == size)
        }
    };
    wait_for_status(&stats_client, "verified through the head", verified_through(head)).await?;

    // NATS away: appends and checkpoints go on; the checkpoint outbox says it cannot publish,
    // and publishes the newest checkpoint once NATS is back.
    nats.kill()?;
    district.drive(20, 15).await?;
    let outage = wait_for_status(&district.client, "the checkpoint outbox reports the outage", |status| {
        let head = status.component("log").map(|log| log.position);
        status.component("checkpoints").map(|checkpoints| checkpoints.position) == head
            && status
                .component("checkpoint-outbox")
                .is_some_and(|outbox| !outbox.serving && outbox.lag_events > 0 && !outbox.reason.is_empty())
    })
    .await?;
    assert!(
        outage
            .component("checkpoints")
            .is_some_and(|checkpoints| checkpoints.serving)
    );
    nats.restart()?;
    let head = district.settled().await?;
    wait_for_status(&stats_client, "verified through the new head", verified_through(head)).await?;

    // A checkpoint of the head with another root, signed with the district's own key (stolen),
    // published into the live stream.
    let served = district.client.checkpoint().await?;
    let truth = parse_and_verify_note(&served.note, &VerifierKey::parse(&district.vkey)?)?;
    let (note, size, root) = forged(&district, &truth, Forgery::WrongRoot)?.context("a forgery")?;
    publish_checkpoint(&nats.url(), &note, &size, &root).await?;
    let status = wait_for_status(&stats_client, "the stats node reports the fork", |status| {
        status
            .component(WITNESS)
            .is_some_and(|witness| !witness.serving && witness.reason.contains(&format!("fork at size {head}")))
    })
    .await?;
    assert!(stats_client.health_check("gridledger.v1.StatsService").await?);
    assert!(
        !stats_client
            .health_check(&format!("gridledger.v1.Checkpoints/{STREAM}"))
            .await?
    );
    assert!(
        status
            .component(&format!("feed/{STREAM}"))
            .is_some_and(|feed| feed.serving)
    );
    // The district node finds a checkpoint that is not its log's at the end of its stream at
    // its next publication, and refuses to publish after it; its appends go on.
    district.drive(35, 5).await?;
    let refused = wait_for_status(&district.client, "the checkpoint outbox refuses the stream", |status| {
        status
            .component("checkpoint-outbox")
            .is_some_and(|outbox| !outbox.serving && outbox.reason.contains("another log's checkpoints"))
    })
    .await?;
    let log_head = refused.component("log").map(|log| log.position);
    assert_eq!(log_head, Some(head + 5), "every append acknowledged");
    Ok(())
}
