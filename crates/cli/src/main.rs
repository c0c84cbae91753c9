//! The `gridledger` binary: one entry point for the service, its clients and the operator's tools, on one tokio runtime.

mod args;
mod audit;
mod auth;
mod bench;
mod bench_field;
mod bench_grpc;
mod bench_outbox;
mod bench_stats;
mod bench_suite;
mod client;
mod cluster;
mod demo;
mod evidence;
mod field;
mod keys;
mod load;
mod output;
mod proofs;
mod rebuild;
mod serve;
mod simulate;
mod stats;
mod throwaway;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use gridledger_api::client::Client;

/// gridledger: an event-sourced issue ledger for grid-based neighbourhood governance.
#[derive(Debug, Parser)]
#[command(name = "gridledger", version, about)]
struct Cli {
    /// Server to talk to (client commands).
    #[arg(
        long,
        global = true,
        env = "GRIDLEDGER_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    server: String,
    /// Who sends the commands (recorded as the events' actor_id).
    #[arg(long, global = true, env = "GRIDLEDGER_ACTOR")]
    actor: Option<String>,
    /// Print JSON for scripts instead of text for people.
    #[arg(long, global = true, env = "GRIDLEDGER_JSON")]
    json: bool,
    #[command(flatten)]
    credentials: auth::ClientCredentials,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gRPC service (sled in a local folder; no NATS needed).
    Serve(serve::ServeArgs),
    /// Run a stats node: follow districts' JetStream streams and serve their figures.
    Project(cluster::ProjectArgs),
    /// Rebuild a district node's log from its JetStream stream, verifying both chains.
    Restore(cluster::RestoreArgs),
    /// How the node at --server is doing: each component, its lag, and why it is not serving.
    Status,
    /// Principals and tokens for `serve --auth`: add, list, revoke.
    Auth {
        #[command(subcommand)]
        command: auth::AuthCommand,
    },
    /// A key to sign the log's checkpoints with (serve --signing-key); prints its verifier key.
    Keygen(keys::KeygenArgs),
    /// Print the registry in use as JSON, in the format --registry reads.
    Registry {
        /// Registry JSON file or `builtin:NAME`; without it, the built-in synthetic Runzhou registry.
        #[arg(long, env = "GRIDLEDGER_REGISTRY")]
        registry: Option<PathBuf>,
    },
    #[command(flatten)]
    Issue(client::ClientCommand),
    /// Photos and videos: upload them, fetch one an issue references, verify a node's evidence store.
    Evidence {
        #[command(subcommand)]
        command: evidence::EvidenceCommand,
    },
    /// Field apps' offline queue: queue commands offline, sync them over one stream, see what is left.
    Field(field::FieldArgs),
    /// Auditors' tools: history, replay, verify, export; signed checkpoints, proofs, the witness.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Benchmarks, each figure beside its bound measured in the same run; without a target, the whole suite.
    #[command(args_conflicts_with_subcommands = true)]
    Bench {
        #[command(subcommand)]
        target: Option<bench::BenchTarget>,
        #[command(flatten)]
        suite: bench_suite::SuiteArgs,
    },
    /// Load any server: N clients over M connections, one mix of calls; throughput, latency, errors by code.
    Load(load::LoadArgs),
    /// Drive the API with a deterministic, seeded workload of a district's years of issues.
    Simulate(simulate::SimulateArgs),
    /// Governance figures (办结率 and the rest) for a scope, category, period and instant.
    Stats(stats::StatsArgs),
    /// Rebuild the governance projection from position 1 (stop the server first).
    Rebuild(rebuild::RebuildArgs),
    /// See it work: a throwaway node, the Runzhou simulation, its figures, a verified log.
    Demo(demo::DemoArgs),
}

/// Runs the command on the binary's one runtime; client commands connect the typed client
/// to `--server`, with `--token` and the TLS options, as `--actor`.
fn run(runtime: &tokio::runtime::Runtime, cli: Cli) -> anyhow::Result<()> {
    let Cli {
        server,
        actor,
        json,
        credentials,
        command,
    } = cli;
    let connect = || async {
        let options = credentials.options(actor.clone())?;
        anyhow::Ok(Client::connect_with(&server, &options).await?)
    };
    match command {
        Command::Serve(arguments) => runtime.block_on(serve::run(arguments)),
        Command::Project(arguments) => runtime.block_on(cluster::project(arguments)),
        Command::Restore(arguments) => runtime.block_on(cluster::restore(json, arguments)),
        Command::Status => runtime.block_on(async { cluster::status(&connect().await?, json).await }),
        Command::Auth { command } => auth::run(json, command),
        Command::Keygen(arguments) => keys::keygen(json, arguments),
        Command::Registry { registry } => {
            println!("{}", serve::load_registry(registry.as_deref())?.to_json_pretty()?);
            Ok(())
        }
        Command::Bench { target, suite } => bench::run(runtime, target, suite, json),
        Command::Rebuild(arguments) => rebuild::run(json, arguments),
        Command::Demo(arguments) => runtime.block_on(demo::run(json, arguments)),
        Command::Issue(command) => runtime.block_on(async { client::run(&connect().await?, json, command).await }),
        Command::Field(arguments) => runtime.block_on(field::run(&server, connect, json, arguments)),
        Command::Audit { command } => runtime.block_on(async { audit::run(&connect().await?, json, command).await }),
        Command::Evidence { command } => runtime.block_on(evidence::run(connect, json, command)),
        Command::Load(arguments) => runtime.block_on(load::run(&server, connect, json, arguments)),
        Command::Simulate(arguments) => {
            runtime.block_on(async { simulate::run(&connect().await?, json, arguments).await })
        }
        Command::Stats(arguments) => runtime.block_on(async { stats::run(&connect().await?, json, arguments).await }),
    }
}

/// Output piped into a reader that stopped early (`gridledger … | head -1`) ends the
/// program quietly, as a closed pipe ends `cat`: Rust ignores SIGPIPE, so `println!` panics
/// instead; this hook turns that one panic into exit status 141 (128 + SIGPIPE).
fn exit_quietly_on_a_closed_stdout() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
}

fn main() -> std::process::ExitCode {
    exit_quietly_on_a_closed_stdout();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GRIDLEDGER_LOG")
                // The service logs its life; tools keep quiet unless something is wrong.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new(
                        if matches!(cli.command, Command::Serve(_) | Command::Project(_)) {
                            "info"
                        } else {
                            "warn"
                        },
                    )
                }),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| run(&runtime, cli));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", cause_once(&error));
            // A verdict of the audit tools has its own status (docs/audit.md#exit-codes).
            match error.downcast_ref::<proofs::Failed>() {
                Some(failed) => std::process::ExitCode::from(failed.code),
                None => std::process::ExitCode::FAILURE,
            }
        }
    }
}

/// The error and its causes, `: `-separated, each said once: a layer whose message already
/// quotes its cause (or repeats the layer above) adds nothing.
fn cause_once(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if message.is_empty() || text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::cause_once;

    fn check(layers: &[&str], expected: &str) {
        let mut error = anyhow::anyhow!(layers[layers.len() - 1].to_owned());
        for layer in layers.iter().rev().skip(1) {
            error = error.context(layer.to_string());
        }
        assert_eq!(cause_once(&error), expected, "{layers:?}");
    }

    #[test]
    fn each_cause_is_said_once() {
        check(&["a", "b", "c"], "a: b: c");
        check(
            &[
                "cannot open the event log in /tmp/f",
                "storage failure while creating the data directory: File exists (os error 17)",
                "File exists (os error 17)",
            ],
            "cannot open the event log in /tmp/f: storage failure while creating the data directory: File exists (os error 17)",
        );
        check(&["x: y", "y"], "x: y");
    }
}
