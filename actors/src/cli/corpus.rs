//! A labeled dataset read into events, in processing order (by timestamp
//! when every line has one, else file order).

use anyhow::Context as _;
use stackherd::dataset::{EventSource, read_dataset};
use stackherd::event::{Event, event_from_value};
use stackherd::import::{TraceFormat, import_trace};
use stackherd::settings::Settings;
use std::io::BufReader;
use std::path::Path;
use std::time::SystemTime;

/// One dataset event, ready to group.
#[derive(Debug, Clone)]
pub struct LabeledEvent {
    pub project: u64,
    pub label: String,
    pub platform: String,
    pub event: Event,
}

pub fn load(path: &Path, settings: &Settings) -> anyhow::Result<Vec<LabeledEvent>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let limits = settings.event_limits();
    let mut timed: Vec<(Option<SystemTime>, LabeledEvent)> = Vec::new();
    for line in read_dataset(BufReader::new(file)) {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        let event = match line.source {
            EventSource::Event(value) => event_from_value(value, &limits)
                .with_context(|| format!("{}: event of label {}", path.display(), line.label))?,
            EventSource::Stacktrace { text, platform } => {
                let format = platform
                    .as_deref()
                    .and_then(TraceFormat::from_platform)
                    .unwrap_or(TraceFormat::Auto);
                import_trace(&text, format).with_context(|| {
                    format!("{}: stacktrace of label {}", path.display(), line.label)
                })?
            }
        };
        let platform = event
            .platform
            .clone()
            .unwrap_or_else(|| "unknown".to_string());
        timed.push((
            line.timestamp,
            LabeledEvent {
                project: line.project,
                label: line.label,
                platform,
                event,
            },
        ));
    }
    if timed.iter().all(|(time, _)| time.is_some()) {
        // Stable: equal times keep file order.
        timed.sort_by_key(|(time, _)| *time);
    }
    Ok(timed.into_iter().map(|(_, event)| event).collect())
}
