//! `stackherd text EVENT`: the scrubbed text that would be embedded.

use super::input;
use clap::Args;
use stackherd::scrub::Scrubber;
use stackherd::settings::Settings;
use stackherd::text::render_stacktrace;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct TextArgs {
    /// Event JSON file, or `-` for standard input.
    event: PathBuf,
}

pub fn run(args: &TextArgs, settings: &Settings) -> anyhow::Result<()> {
    let event = input::read_event(&args.event, settings)?;
    let text = render_stacktrace(&event, &settings.text_limits())
        .map_err(|reason| anyhow::anyhow!("no stacktrace text for this event: {reason}"))?;
    println!("{}", Scrubber::new().scrub(&text));
    Ok(())
}
