//! Subcommands and their shared plumbing (settings, reading events).

mod bench;
mod corpus;
mod dataset;
mod eval;
mod fingerprint;
mod import;
mod input;
mod loadtest;
mod models;
mod serve;
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
    /// Run the HTTP service: Sentry's similarity API, Sentry SDK ingestion,
    /// the native API, /health and /metrics.
    Serve(serve::ServeArgs),
    /// Turn a stack trace as it appears in a log into a Sentry event.
    Import(import::ImportArgs),
    /// Labeled datasets (`dataset synth`: generate a synthetic one).
    Dataset(dataset::DatasetArgs),
    /// Measure grouping quality on a labeled dataset, fingerprint-only vs with AI.
    Eval(eval::EvalArgs),
    /// Backfill a store, then send events concurrently and report throughput and latency.
    Loadtest(loadtest::LoadtestArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref()).context("loading settings")?;
    match cli.command {
        Command::Fingerprint(args) => fingerprint::run(&args, &settings),
        Command::Text(args) => text::run(&args, &settings),
        Command::Models(args) => models::run(&args, &settings),
        Command::Bench(args) => bench::run(&args, &settings),
        Command::Serve(args) => serve::run(&args, &settings),
        Command::Import(args) => import::run(&args, &settings),
        Command::Dataset(args) => dataset::run(&args),
        Command::Eval(args) => eval::run(&args, &settings),
        Command::Loadtest(args) => loadtest::run(&args, &settings),
    }
}
