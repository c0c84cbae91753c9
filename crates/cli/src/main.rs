//! The `gridledger` binary: one entry point for the service and the operator's tools.

mod bench;

use clap::{Parser, Subcommand};

/// gridledger: an event-sourced issue ledger for grid-based neighbourhood governance.
#[derive(Debug, Parser)]
#[command(name = "gridledger", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Benchmarks, each printed beside the storage bound measured in the same run.
    Bench {
        #[command(subcommand)]
        target: bench::BenchTarget,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench { target } => bench::run(target),
    }
}
