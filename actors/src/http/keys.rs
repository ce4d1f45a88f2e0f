//! DSN public keys of the projects that Sentry SDKs send to.
//!
//! Two sources: keys configured in settings (`[projects.<id>] keys = […]`),
//! fixed for the process, and keys created through the native API, kept in
//! `<data_dir>/project_keys.json`. That file is rewritten whole on every
//! change — written to a temporary file, synced, renamed over the old one,
//! and the directory synced — so a crash leaves the old or the new file,
//! never a torn one; a change is acknowledged only after that.
//!
//! ```json
//! {"version": 1, "projects": {"42": ["3f2a…", "9b1c…"]}}
//! ```

use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use stackherd::settings::is_valid_dsn_key;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError, RwLock};
use thiserror::Error;

/// The file's name inside the data directory.
pub const KEYS_FILE: &str = "project_keys.json";

const FORMAT_VERSION: u32 = 1;

/// Most API-created keys per project: rotation needs two or three.
pub const MAX_KEYS_PER_PROJECT: usize = 32;

#[derive(Debug, Error)]
pub enum KeyError {
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error("{0}")]
    Configured(String),
    #[error("project {project} already has {MAX_KEYS_PER_PROJECT} keys; revoke one first")]
    TooMany { project: u64 },
}

/// Where a key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// `[projects.<id>]` in settings: revoked by editing settings.
    Settings,
    /// Created through the native API.
    Api,
}

/// One key of a project, as the native API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    pub public_key: String,
    pub source: KeySource,
}

#[derive(Debug, Serialize, Deserialize)]
struct KeysFile {
    version: u32,
    projects: BTreeMap<String, Vec<String>>,
}

type KeyMap = BTreeMap<u64, BTreeSet<String>>;

/// The keys of every project, from settings and the key file.
#[derive(Debug)]
pub struct KeyStore {
    path: PathBuf,
    configured: KeyMap,
    created: RwLock<KeyMap>,
    /// Serializes writers of the file (readers use `created`).
    write: Mutex<()>,
}

impl KeyStore {
    /// Loads the key file in `data_dir` (none yet is fine) beside the
    /// configured keys. A file that cannot be read or parsed is an error:
    /// starting without keys that clients rely on would be worse.
    pub fn open(
        data_dir: &Path,
        configured: &BTreeMap<u64, Vec<String>>,
    ) -> Result<KeyStore, KeyError> {
        let path = data_dir.join(KEYS_FILE);
        let created = match std::fs::read(&path) {
            Ok(bytes) => parse_file(&path, &bytes)?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => KeyMap::new(),
            Err(error) => {
                return Err(KeyError::Read {
                    path,
                    message: error.to_string(),
                });
            }
        };
        let configured = configured
            .iter()
            .map(|(project, keys)| (*project, keys.iter().cloned().collect()))
            .collect();
        Ok(KeyStore {
            path,
            configured,
            created: RwLock::new(created),
            write: Mutex::new(()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `key` is one of `project`'s keys.
    pub fn is_valid(&self, project: u64, key: &str) -> bool {
        if self
            .configured
            .get(&project)
            .is_some_and(|keys| keys.contains(key))
        {
            return true;
        }
        let created = self.created.read().unwrap_or_else(PoisonError::into_inner);
        created.get(&project).is_some_and(|keys| keys.contains(key))
    }

    /// The project's keys, settings first.
    pub fn list(&self, project: u64) -> Vec<KeyInfo> {
        let mut keys: Vec<KeyInfo> = self
            .configured
            .get(&project)
            .into_iter()
            .flatten()
            .map(|key| KeyInfo {
                public_key: key.clone(),
                source: KeySource::Settings,
            })
            .collect();
        let created = self.created.read().unwrap_or_else(PoisonError::into_inner);
        keys.extend(
            created
                .get(&project)
                .into_iter()
                .flatten()
                .map(|key| KeyInfo {
                    public_key: key.clone(),
                    source: KeySource::Api,
                }),
        );
        keys
    }

    /// Projects with at least one key, and how many keys each has.
    pub fn counts(&self) -> BTreeMap<u64, usize> {
        let mut counts: BTreeMap<u64, usize> =
            self.configured.iter().map(|(p, k)| (*p, k.len())).collect();
        let created = self.created.read().unwrap_or_else(PoisonError::into_inner);
        for (project, keys) in created.iter() {
            *counts.entry(*project).or_default() += keys.len();
        }
        counts.retain(|_, count| *count > 0);
        counts
    }

    /// Creates a random key (32 hex digits, as Sentry's) for `project`;
    /// durable before `Ok`. Blocks on file I/O.
    pub fn create(&self, project: u64) -> Result<String, KeyError> {
        let _writer = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = self
            .created
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let keys = next.entry(project).or_default();
        if keys.len() >= MAX_KEYS_PER_PROJECT {
            return Err(KeyError::TooMany { project });
        }
        let mut bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut bytes);
        let key = hex::encode(bytes);
        keys.insert(key.clone());
        self.persist(&next)?;
        *self.created.write().unwrap_or_else(PoisonError::into_inner) = next;
        Ok(key)
    }

    /// Revokes an API-created key; durable before `Ok`. `Ok(false)` when
    /// the project has no such key; keys from settings cannot be revoked here.
    pub fn revoke(&self, project: u64, key: &str) -> Result<bool, KeyError> {
        if self
            .configured
            .get(&project)
            .is_some_and(|keys| keys.contains(key))
        {
            return Err(KeyError::Configured(format!(
                "the key is configured in settings (projects.{project}.keys); remove it there"
            )));
        }
        let _writer = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = self
            .created
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(keys) = next.get_mut(&project) else {
            return Ok(false);
        };
        if !keys.remove(key) {
            return Ok(false);
        }
        if keys.is_empty() {
            next.remove(&project);
        }
        self.persist(&next)?;
        *self.created.write().unwrap_or_else(PoisonError::into_inner) = next;
        Ok(true)
    }

    /// Writes `keys` atomically: temporary file, fsync, rename, fsync of
    /// the directory.
    fn persist(&self, keys: &KeyMap) -> Result<(), KeyError> {
        let fail = |message: String| KeyError::Write {
            path: self.path.clone(),
            message,
        };
        let file = KeysFile {
            version: FORMAT_VERSION,
            projects: keys
                .iter()
                .map(|(project, keys)| (project.to_string(), keys.iter().cloned().collect()))
                .collect(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| fail(e.to_string()))?;
        let temporary = self.path.with_extension("json.tmp");
        let mut out = std::fs::File::create(&temporary).map_err(|e| fail(e.to_string()))?;
        out.write_all(&bytes).map_err(|e| fail(e.to_string()))?;
        out.sync_all().map_err(|e| fail(e.to_string()))?;
        drop(out);
        std::fs::rename(&temporary, &self.path).map_err(|e| fail(e.to_string()))?;
        if let Some(dir) = self.path.parent() {
            // Makes the rename itself durable (Unix; a no-op elsewhere).
            if let Ok(dir) = std::fs::File::open(dir) {
                dir.sync_all().map_err(|e| fail(e.to_string()))?;
            }
        }
        Ok(())
    }
}

fn parse_file(path: &Path, bytes: &[u8]) -> Result<KeyMap, KeyError> {
    let bad = |message: String| KeyError::Read {
        path: path.to_owned(),
        message,
    };
    let file: KeysFile = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    if file.version != FORMAT_VERSION {
        return Err(bad(format!("unknown format version {}", file.version)));
    }
    let mut keys = KeyMap::new();
    for (project, list) in file.projects {
        let project: u64 = project
            .parse()
            .map_err(|_| bad(format!("`{project}` is not a project id")))?;
        for key in list {
            if !is_valid_dsn_key(&key) {
                return Err(bad(format!("project {project} has an invalid key")));
            }
            keys.entry(project).or_default().insert(key);
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn created_keys_survive_a_reopen_and_revocation_too() {
        let dir = tempfile::tempdir().unwrap();
        let configured = BTreeMap::from([(1, vec!["configured-key".to_string()])]);
        let store = KeyStore::open(dir.path(), &configured).unwrap();
        assert!(store.is_valid(1, "configured-key"));
        assert!(!store.is_valid(2, "configured-key"));
        let first = store.create(2).unwrap();
        let second = store.create(2).unwrap();
        assert_eq!(first.len(), 32);
        assert_ne!(first, second);
        assert!(store.is_valid(2, &first));

        let reopened = KeyStore::open(dir.path(), &configured).unwrap();
        assert!(reopened.is_valid(2, &first) && reopened.is_valid(2, &second));
        assert!(reopened.revoke(2, &first).unwrap());
        assert!(!reopened.revoke(2, &first).unwrap());
        assert!(matches!(
            reopened.revoke(1, "configured-key"),
            Err(KeyError::Configured(_))
        ));

        let again = KeyStore::open(dir.path(), &configured).unwrap();
        assert!(!again.is_valid(2, &first));
        assert!(again.is_valid(2, &second));
        assert_eq!(again.counts(), BTreeMap::from([(1, 1), (2, 1)]));
        let sources: Vec<KeySource> = again.list(1).into_iter().map(|k| k.source).collect();
        assert_eq!(sources, vec![KeySource::Settings]);
    }

    #[test]
    fn a_corrupt_key_file_is_an_error_not_an_empty_store() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEYS_FILE), b"{not json").unwrap();
        let error = KeyStore::open(dir.path(), &BTreeMap::new()).unwrap_err();
        assert!(error.to_string().contains(KEYS_FILE), "{error}");
    }
}
