//! `stackherd dataset synth`: a synthetic labeled dataset (JSON Lines, see
//! docs/dataset.md) for evaluating and load-testing grouping.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use stackherd::dataset::synth::{Platform, SynthOptions, generate};
use stackherd::dataset::write_line;
use std::io::Write as _;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct DatasetArgs {
    #[command(subcommand)]
    command: DatasetCommand,
}

#[derive(Debug, Subcommand)]
enum DatasetCommand {
    /// Generate labeled events across platforms with realistic variations
    /// and hard negatives.
    Synth(SynthArgs),
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    #[arg(long, default_value_t = 5)]
    projects: u64,
    #[arg(long, default_value_t = 40)]
    issues_per_project: usize,
    /// Mean events per issue (sizes are skewed around it).
    #[arg(long, default_value_t = 10)]
    events_per_issue: usize,
    /// Comma-separated platforms (python, java, javascript, go, ruby, csharp, native); default all.
    #[arg(long, value_delimiter = ',')]
    platforms: Vec<String>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Share of issues that are hard negatives of another issue.
    #[arg(long)]
    hard_negative_fraction: Option<f64>,
    /// Output file; standard output when absent.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

pub fn run(args: &DatasetArgs) -> anyhow::Result<()> {
    match &args.command {
        DatasetCommand::Synth(synth) => run_synth(synth),
    }
}

pub fn synth_options(args: &SynthArgs) -> anyhow::Result<SynthOptions> {
    let mut options = SynthOptions {
        projects: args.projects,
        issues_per_project: args.issues_per_project,
        events_per_issue: args.events_per_issue,
        seed: args.seed,
        ..SynthOptions::default()
    };
    if let Some(fraction) = args.hard_negative_fraction {
        anyhow::ensure!(
            (0.0..=1.0).contains(&fraction),
            "--hard-negative-fraction must be within 0..=1"
        );
        options.hard_negative_fraction = fraction;
    }
    options.platforms = args
        .platforms
        .iter()
        .map(|name| {
            name.parse::<Platform>()
                .map_err(|e| anyhow::anyhow!("--platforms: {e}"))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(options)
}

fn run_synth(args: &SynthArgs) -> anyhow::Result<()> {
    let lines = generate(&synth_options(args)?);
    let mut out: Box<dyn std::io::Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    for line in &lines {
        write_line(&mut out, line)?;
    }
    out.flush()?;
    eprintln!("{} events written", lines.len());
    Ok(())
}
