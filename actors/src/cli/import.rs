//! `stackherd import`: a stack trace as it appears in a log, turned into a
//! Sentry event (JSON on stdout).

use super::input::read_bounded;
use anyhow::Context as _;
use clap::Args;
use stackherd::import::{TraceFormat, import_trace};
use stackherd::settings::Settings;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Trace format: auto, java, python, javascript, go, ruby, csharp or gdb.
    #[arg(long, default_value = "auto")]
    format: String,
    /// File holding the trace; `-` reads standard input.
    #[arg(default_value = "-")]
    file: PathBuf,
    /// Print the event on one line.
    #[arg(long)]
    compact: bool,
}

pub fn run(args: &ImportArgs, settings: &Settings) -> anyhow::Result<()> {
    let format: TraceFormat = args.format.parse()?;
    let bytes = read_bounded(&args.file, settings.limits.max_body_bytes)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let text = String::from_utf8(bytes).context("the trace is not valid UTF-8")?;
    let event = import_trace(&text, format)?;
    let json = if args.compact {
        serde_json::to_string(&event)?
    } else {
        serde_json::to_string_pretty(&event)?
    };
    println!("{json}");
    Ok(())
}
