//! `stackherd serve`: the HTTP service (similarity API, Sentry SDK
//! ingestion, native API, health and metrics); see `docs/http.md`.

use anyhow::Context as _;
use clap::Args;
use stackherd::settings::Settings;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides `server.listen`; default 127.0.0.1:9091).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<String>,
    /// Data directory (overrides `storage.data_dir`; default ./data).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

/// Logs go to standard error, filtered by `STACKHERD_LOG` (tracing's
/// `EnvFilter` syntax, e.g. `info` or `stackherd::http=debug`); `info` by default.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STACKHERD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second initialization (embedding hosts, tests) keeps the first.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .try_init();
}

pub fn run(args: &ServeArgs, settings: &Settings) -> anyhow::Result<()> {
    init_logging();
    let mut settings = settings.clone();
    if let Some(listen) = &args.listen {
        settings.server.listen.clone_from(listen);
    }
    if let Some(dir) = &args.data_dir {
        settings.storage.data_dir.clone_from(dir);
    }
    settings
        .validate()
        .context("invalid --listen or --data-dir")?;
    actix_web::rt::System::new()
        .block_on(stackherd_actors::http::serve(settings))
        .context("serve")
}
