//! Subcommands and their shared plumbing (settings, reading events).

mod bench;
mod fingerprint;
mod input;
mod models;
mod text;
mod tree;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use stackherd::settings::Settings;
use std::path::PathBuf;

/// stackherd groups error events into issues: lexical fingerprinting first,
/// transformer-embedding similarity as the fallback.
#[derive(Debug, Parser)]
#[command(name = "stackherd", version)]
pub struct Cli {
    /// Settings file (TOML); overrides the built-in defaults, and is
    /// overridden by STACKHERD__SECTION__KEY environment variables.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print an event's grouping variants, their hashes and component trees.
    Fingerprint(fingerprint::FingerprintArgs),
    /// Print the scrubbed stacktrace text that would be embedded.
    Text(text::TextArgs),
    /// List, fetch (install and verify) or verify the configured models.
    Models(models::ModelsArgs),
    /// Measure performance (`bench embed`: embedder throughput and latency).
    Bench(bench::BenchArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref()).context("loading settings")?;
    match cli.command {
        Command::Fingerprint(args) => fingerprint::run(&args, &settings),
        Command::Text(args) => text::run(&args, &settings),
        Command::Models(args) => models::run(&args, &settings),
        Command::Bench(args) => bench::run(&args, &settings),
    }
}
