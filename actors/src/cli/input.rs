//! Reading an event from a file or standard input.

use anyhow::Context as _;
use stackherd::event::{Event, parse_event};
use stackherd::settings::Settings;
use std::io::Read as _;
use std::path::Path;

/// Reads and validates one event; `-` is standard input.
pub fn read_event(path: &Path, settings: &Settings) -> anyhow::Result<Event> {
    let name = path.display().to_string();
    let bytes = read_bounded(path, settings.limits.max_body_bytes)
        .with_context(|| format!("reading {name}"))?;
    parse_event(&bytes, &settings.event_limits())
        .with_context(|| format!("{name} is not a valid event"))
}

/// Reads at most one byte past the limit so oversized input is reported, not buffered.
pub fn read_bounded(path: &Path, limit: usize) -> std::io::Result<Vec<u8>> {
    let take = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin().lock().take(take).read_to_end(&mut bytes)?;
    } else {
        std::fs::File::open(path)?
            .take(take)
            .read_to_end(&mut bytes)?;
    }
    Ok(bytes)
}
