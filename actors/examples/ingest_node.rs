//! An ingest loop with the engine embedded: one Sentry event JSON per line
//! on stdin, one grouping result JSON per line on stdout.
//!
//! ```sh
//! STACKHERD__STORAGE__DATA_DIR=/tmp/herd \
//!   cargo run --release -p stackherd-actors --example ingest_node -- --project 1 < events.jsonl
//! ```
//!
//! Settings come from the built-in defaults, `--config FILE` and
//! `STACKHERD__SECTION__KEY` variables, as for the `stackherd` binary.

use anyhow::Context as _;
use clap::Parser;
use stackherd::settings::Settings;
use stackherd_actors::Node;
use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
struct Args {
    /// Project the events belong to.
    #[arg(long, default_value_t = 1)]
    project: u64,
    /// Settings file (TOML).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STACKHERD_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let settings = Settings::load(args.config.as_deref()).context("loading settings")?;
    let node = Node::start(settings).context("starting the engine")?;
    // The engine runs its own actor thread; any executor can await it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut stdout = std::io::stdout().lock();
    for (index, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = match runtime.block_on(node.group_json(args.project, line.as_bytes())) {
            Ok(result) => serde_json::to_value(&result)?,
            Err(error) => serde_json::json!({"line": index + 1, "error": error.to_string()}),
        };
        serde_json::to_writer(&mut stdout, &answer)?;
        writeln!(stdout)?;
        stdout.flush()?;
    }
    node.shutdown(Duration::from_secs(10))?;
    Ok(())
}
