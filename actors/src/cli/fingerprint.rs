//! `stackherd fingerprint EVENT [--rules FILE] [--json]`

use super::{input, tree};
use anyhow::Context as _;
use clap::Args;
use stackherd::fingerprint::Fingerprinter;
use stackherd::settings::Settings;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct FingerprintArgs {
    /// Event JSON file, or `-` for standard input.
    event: PathBuf,
    /// Project rules: stack trace rules, and fingerprint rules (lines with `->`).
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Print the grouping as JSON instead of a tree.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &FingerprintArgs, settings: &Settings) -> anyhow::Result<()> {
    let fingerprinter = match &args.rules {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading rules {}", path.display()))?;
            Fingerprinter::from_rules_text(&text)
                .with_context(|| format!("in rules {}", path.display()))?
        }
        None => Fingerprinter::default(),
    };
    let event = input::read_event(&args.event, settings)?;
    let grouping = fingerprinter.fingerprint(&event);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&grouping)?);
    } else {
        print!("{}", tree::render_grouping(&grouping));
    }
    Ok(())
}
