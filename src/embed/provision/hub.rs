//! `hf:` sources: the Hugging Face hub layout, for users who run a hub or a
//! mirror of one. Files are fetched from
//! `<endpoint>/<repo>/resolve/<revision>/<file>` over HTTP (following
//! redirects), installed into `<cache>/hub/<owner>--<name>/<revision>/` with a
//! `stackherd-sha256sums.txt` record, and re-verified against that record
//! whenever the cache is reused.
//!
//! When the hub states a file's sha256 (the `X-Linked-Etag` or `ETag` header
//! of large files, 64 hex digits), the download is checked against it.
//!
//! The default build speaks plain `http://` only; `https://` endpoints need
//! the `hub-tls` cargo feature (rustls).

use super::manifest::is_sha256;
use super::wheel::{Staging, install};
use super::{Outcome, ProvisionError, Provisioned, REQUIRED_FILES, check_model_dir, verify};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Files fetched when the hub has them (a 404 skips them).
pub const OPTIONAL_FILES: [&str; 4] = [
    "modules.json",
    "1_Pooling/config.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
];

/// The record of installed files and their sha256, inside the install.
pub const CHECKSUMS_FILE: &str = "stackherd-sha256sums.txt";

const MAX_REDIRECTS: usize = 10;

/// One hub download.
#[derive(Debug, Clone, Copy)]
pub struct HubRequest<'a> {
    pub endpoint: &'a str,
    pub repo: &'a str,
    pub revision: &'a str,
    /// Limit for each file's whole download.
    pub timeout: Duration,
}

/// `owner/name` or `name`: letters, digits, `-`, `_`, `.`.
pub(crate) fn validate_repo(repo: &str) -> Result<(), String> {
    let parts: Vec<&str> = repo.split('/').collect();
    let part_ok = |p: &&str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if parts.len() > 2 || !parts.iter().all(part_ok) {
        return Err("a hub repository is `owner/name` (letters, digits, `-`, `_`, `.`)".into());
    }
    Ok(())
}

/// A branch, tag or commit: letters, digits, `-`, `_`, `.`, `/`.
pub(crate) fn validate_revision(revision: &str) -> Result<(), String> {
    let chars_ok = revision
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if !chars_ok || !super::manifest::is_safe_relative(revision) {
        return Err(
            "a revision is a branch, tag or commit (letters, digits, `-`, `_`, `.`, `/`)".into(),
        );
    }
    Ok(())
}

/// `<cache>/hub/<owner>--<name>/<revision>`.
pub fn install_dir(cache_dir: &Path, repo: &str, revision: &str) -> PathBuf {
    cache_dir
        .join("hub")
        .join(repo.replace('/', "--"))
        .join(revision.replace('/', "--"))
}

/// Reuses a verified install or downloads, records and installs the files.
pub fn provision(
    request: &HubRequest<'_>,
    cache_dir: &Path,
) -> Result<Provisioned, ProvisionError> {
    let target = install_dir(cache_dir, request.repo, request.revision);
    if target.is_dir() && verify_installed(&target).is_ok() {
        return Ok(Provisioned {
            dir: target,
            outcome: Outcome::Reused,
        });
    }
    let parent = target.parent().unwrap_or(cache_dir);
    fs::create_dir_all(parent)
        .map_err(|e| ProvisionError::io("cannot create the model cache", parent, e))?;
    let staging = Staging::create(parent, "hub")?;
    let staged = staging.path().join("model");
    let agent = agent(request.timeout);
    let mut sums = BTreeMap::new();
    let location = format!("{}/{}@{}", request.endpoint, request.repo, request.revision);
    for (file, required) in REQUIRED_FILES
        .iter()
        .map(|f| (*f, true))
        .chain(OPTIONAL_FILES.iter().map(|f| (*f, false)))
    {
        let url = file_url(request, file);
        match download(&agent, &url, file, &staged.join(file))? {
            Some(sha) => {
                sums.insert(file.to_string(), sha);
            }
            None if required => {
                return Err(ProvisionError::MissingFile {
                    file: file.to_string(),
                    location,
                });
            }
            None => {}
        }
    }
    write_sums(&staged, &sums)?;
    install(&staged, &target, staging.path(), verify_installed)?;
    Ok(Provisioned {
        dir: target,
        outcome: Outcome::Installed,
    })
}

/// Re-checks an install against its recorded checksums.
pub fn verify_installed(dir: &Path) -> Result<(), ProvisionError> {
    check_model_dir(dir)?;
    let path = dir.join(CHECKSUMS_FILE);
    let text =
        fs::read_to_string(&path).map_err(|e| ProvisionError::io("cannot read", &path, e))?;
    let mut sums = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some((sha, file)) = line.split_once("  ") else {
            return Err(ProvisionError::io(
                "malformed checksum line in",
                &path,
                std::io::Error::other(line.to_string()),
            ));
        };
        sums.insert(file.to_string(), sha.to_string());
    }
    verify::verify_files(dir, &sums)
}

fn write_sums(dir: &Path, sums: &BTreeMap<String, String>) -> Result<(), ProvisionError> {
    let text: String = sums
        .iter()
        .map(|(file, sha)| format!("{sha}  {file}\n"))
        .collect();
    let path = dir.join(CHECKSUMS_FILE);
    fs::write(&path, text).map_err(|e| ProvisionError::io("cannot write", &path, e))
}

fn agent(timeout: Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .build();
    ureq::Agent::new_with_config(config)
}

/// `<endpoint>/<repo>/resolve/<revision>/<file>`; a `/` in the revision is
/// percent-encoded as the hub expects.
pub fn file_url(request: &HubRequest<'_>, file: &str) -> String {
    format!(
        "{}/{}/resolve/{}/{file}",
        request.endpoint.trim_end_matches('/'),
        request.repo,
        request.revision.replace('/', "%2F")
    )
}

/// Downloads `url` into `destination`, following redirects. `Ok(None)` on
/// 404; otherwise the file's sha256, checked against the hub's own when the
/// hub states one.
fn download(
    agent: &ureq::Agent,
    url: &str,
    file: &str,
    destination: &Path,
) -> Result<Option<String>, ProvisionError> {
    let mut current = url.to_string();
    let mut stated_sha: Option<String> = None;
    for _ in 0..=MAX_REDIRECTS {
        let http_error = |message: String| ProvisionError::Http {
            url: current.clone(),
            message,
        };
        if current.starts_with("https://") && !cfg!(feature = "hub-tls") {
            return Err(http_error(
                "this build speaks plain http only: use an http:// endpoint (a mirror) or build with `--features hub-tls`"
                    .to_string(),
            ));
        }
        let response = agent
            .get(&current)
            .call()
            .map_err(|e| http_error(e.to_string()))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        if stated_sha.is_none() {
            stated_sha = header("x-linked-etag")
                .or_else(|| header("etag"))
                .and_then(|etag| etag_sha256(&etag));
        }
        match status {
            200 => {
                if let Some(parent) = destination.parent() {
                    fs::create_dir_all(parent)
                        .map_err(|e| ProvisionError::io("cannot create", parent, e))?;
                }
                let out = File::create(destination)
                    .map_err(|e| ProvisionError::io("cannot create", destination, e))?;
                let mut out = BufWriter::new(out);
                let mut body = response.into_body().into_reader();
                let (actual, _) = verify::copy_hashing(&mut body, &mut out)
                    .map_err(|e| http_error(format!("reading the body: {e}")))?;
                if let Some(expected) = &stated_sha {
                    verify::check(file, expected, &actual)?;
                }
                return Ok(Some(actual));
            }
            301 | 302 | 303 | 307 | 308 => {
                let Some(location) = header("location") else {
                    return Err(http_error(format!("redirect {status} without a Location")));
                };
                current = resolve_location(&current, &location);
            }
            404 => return Ok(None),
            other => return Err(http_error(format!("HTTP status {other}"))),
        }
    }
    Err(ProvisionError::Http {
        url: url.to_string(),
        message: format!("more than {MAX_REDIRECTS} redirects"),
    })
}

/// A sha256 stated in an ETag (`"…"`, `W/"…"`), if it is one.
fn etag_sha256(etag: &str) -> Option<String> {
    let value = etag
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_ascii_lowercase();
    is_sha256(&value).then_some(value)
}

/// Resolves a redirect's `Location` against the URL that answered it.
fn resolve_location(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_string();
    }
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let origin_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    if location.starts_with('/') {
        format!("{}{location}", &base[..origin_end])
    } else {
        let path = base.split(['?', '#']).next().unwrap_or(base);
        let dir_end = path
            .rfind('/')
            .filter(|&i| i >= origin_end)
            .map_or(path.len(), |i| i);
        format!("{}/{location}", &path[..dir_end])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls_and_install_dirs() {
        let request = HubRequest {
            endpoint: "http://127.0.0.1:1/",
            repo: "org/model",
            revision: "refs/pr/1",
            timeout: Duration::from_secs(1),
        };
        assert_eq!(
            file_url(&request, "1_Pooling/config.json"),
            "http://127.0.0.1:1/org/model/resolve/refs%2Fpr%2F1/1_Pooling/config.json"
        );
        assert_eq!(
            install_dir(Path::new("/c"), "org/model", "refs/pr/1"),
            PathBuf::from("/c/hub/org--model/refs--pr--1")
        );
    }

    #[test]
    fn redirect_locations_resolve() {
        let base = "http://h:1/a/resolve/main/model.safetensors";
        assert_eq!(resolve_location(base, "http://x/y"), "http://x/y");
        assert_eq!(resolve_location(base, "/cdn/f"), "http://h:1/cdn/f");
        assert_eq!(
            resolve_location(base, "other"),
            "http://h:1/a/resolve/main/other"
        );
        assert_eq!(resolve_location("http://h:1", "f"), "http://h:1/f");
    }

    #[test]
    fn etags_carry_sha256_only_when_64_hex() {
        let sha = "a".repeat(64);
        assert_eq!(etag_sha256(&format!("\"{sha}\"")), Some(sha.clone()));
        assert_eq!(
            etag_sha256(&format!("W/\"{}\"", sha.to_uppercase())),
            Some(sha)
        );
        assert_eq!(etag_sha256("\"0123abcd\""), None);
    }
}
