//! Fingerprint cache: (project, fingerprint hash) → issue hash, so an event
//! whose fingerprint the AI path has already placed skips the model.

use super::grouping::validate_hash;
use super::schema::{
    FINGERPRINTS_TREE, FingerprintValue, decode, encode, project_hash_key, project_prefix,
    split_project_hash_key,
};
use super::{Store, StoreError};
use serde::{Deserialize, Serialize};

/// How a fingerprint joined its issue, kept so an issue's members can be
/// explained (`fingerprint`, `ai`, `new`, `fingerprint_only`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Joined {
    pub method: String,
    /// For `ai`: the stored hash whose embedding matched.
    pub matched_hash: Option<String>,
    /// For `ai`: the cosine distance of the match.
    pub distance: Option<f32>,
    /// The model version used, if any.
    pub model: Option<String>,
    /// For `fingerprint_only`: why the AI path was skipped.
    pub reason: Option<String>,
    /// Seconds since the Unix epoch.
    pub at: u64,
}

/// One fingerprint cache entry.
#[derive(Debug, Clone, PartialEq)]
pub struct FingerprintEntry {
    pub fingerprint: String,
    pub issue: String,
    /// `None` for entries written before this was recorded.
    pub joined: Option<Joined>,
}

fn entry_of(fingerprint: String, value: FingerprintValue) -> FingerprintEntry {
    match value {
        FingerprintValue::V1 { issue_hash } => FingerprintEntry {
            fingerprint,
            issue: issue_hash,
            joined: None,
        },
        FingerprintValue::V2 { issue_hash, joined } => FingerprintEntry {
            fingerprint,
            issue: issue_hash,
            joined: Some(joined),
        },
    }
}

impl Store {
    /// The issue a fingerprint was grouped into, if cached.
    pub fn fingerprint_issue(
        &self,
        project: u64,
        fingerprint_hash: &str,
    ) -> Result<Option<String>, StoreError> {
        validate_hash("fingerprint", fingerprint_hash)?;
        match self
            .fingerprints
            .get(project_hash_key(project, fingerprint_hash))?
        {
            None => Ok(None),
            Some(bytes) => {
                let value: FingerprintValue = decode(FINGERPRINTS_TREE, &bytes)?;
                Ok(Some(value.issue_hash().to_owned()))
            }
        }
    }

    /// Caches every fingerprint → `issue` with how it joined, in one
    /// batch. Durable before `Ok`.
    pub fn set_fingerprint_issues(
        &self,
        project: u64,
        fingerprints: &[&str],
        issue_hash: &str,
        joined: &Joined,
    ) -> Result<(), StoreError> {
        validate_hash("issue hash", issue_hash)?;
        let mut batch = sled::Batch::default();
        for fingerprint in fingerprints {
            validate_hash("fingerprint", fingerprint)?;
            let value = FingerprintValue::V2 {
                issue_hash: issue_hash.to_owned(),
                joined: joined.clone(),
            };
            batch.insert(project_hash_key(project, fingerprint), encode(&value)?);
        }
        self.fingerprints.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }

    /// Caches many fingerprint → issue entries of one project with one
    /// flush (bulk loads). Durable before `Ok`.
    pub fn set_fingerprint_entries(
        &self,
        project: u64,
        entries: &[(&str, &str)],
        joined: &Joined,
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (fingerprint, issue_hash) in entries {
            validate_hash("fingerprint", fingerprint)?;
            validate_hash("issue hash", issue_hash)?;
            let value = FingerprintValue::V2 {
                issue_hash: (*issue_hash).to_owned(),
                joined: joined.clone(),
            };
            batch.insert(project_hash_key(project, fingerprint), encode(&value)?);
        }
        self.fingerprints.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }

    /// The fingerprints of one issue and how each joined it (a scan of the
    /// project's cache: for inspection, not hot paths).
    pub fn issue_members(
        &self,
        project: u64,
        issue_hash: &str,
    ) -> Result<Vec<FingerprintEntry>, StoreError> {
        validate_hash("issue", issue_hash)?;
        let mut members = Vec::new();
        for entry in self.fingerprints.scan_prefix(project_prefix(project)) {
            let (key, value) = entry?;
            let value: FingerprintValue = decode(FINGERPRINTS_TREE, &value)?;
            if value.issue_hash() == issue_hash {
                let (_, fingerprint) = split_project_hash_key(FINGERPRINTS_TREE, &key)?;
                members.push(entry_of(fingerprint, value));
            }
        }
        Ok(members)
    }

    /// Caches fingerprint → issue (replacing an earlier entry). Durable
    /// before `Ok`.
    pub fn set_fingerprint_issue(
        &self,
        project: u64,
        fingerprint_hash: &str,
        issue_hash: &str,
    ) -> Result<(), StoreError> {
        validate_hash("fingerprint", fingerprint_hash)?;
        validate_hash("issue hash", issue_hash)?;
        let value = FingerprintValue::V1 {
            issue_hash: issue_hash.to_owned(),
        };
        self.fingerprints
            .insert(project_hash_key(project, fingerprint_hash), encode(&value)?)?;
        self.db.flush()?;
        Ok(())
    }

    /// Every (fingerprint, issue) cached for a project.
    pub(crate) fn fingerprints_of(
        &self,
        project: u64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.fingerprints.scan_prefix(project_prefix(project)) {
            let (key, value) = entry?;
            let (_, fingerprint) = split_project_hash_key(FINGERPRINTS_TREE, &key)?;
            let value: FingerprintValue = decode(FINGERPRINTS_TREE, &value)?;
            out.push((fingerprint, value.issue_hash().to_owned()));
        }
        Ok(out)
    }

    /// Drops cache entries keyed by, or pointing at, deleted issue hashes
    /// (a cached route to a deleted issue would resurrect it). Not flushed:
    /// the caller flushes once.
    pub(crate) fn forget_fingerprints_of_issues(
        &self,
        project: u64,
        hashes: &[&str],
    ) -> Result<(), StoreError> {
        if hashes.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for hash in hashes {
            batch.remove(project_hash_key(project, hash));
        }
        for entry in self.fingerprints.scan_prefix(project_prefix(project)) {
            let (key, value) = entry?;
            let value: FingerprintValue = decode(FINGERPRINTS_TREE, &value)?;
            if hashes.contains(&value.issue_hash()) {
                batch.remove(key);
            }
        }
        self.fingerprints.apply_batch(batch)?;
        Ok(())
    }

    /// Drops a project's whole cache. Not flushed: the caller flushes once.
    pub(crate) fn delete_fingerprints_of_project(&self, project: u64) -> Result<(), StoreError> {
        loop {
            let mut batch = sled::Batch::default();
            let mut count = 0;
            for entry in self
                .fingerprints
                .scan_prefix(project_prefix(project))
                .take(10_000)
            {
                let (key, _) = entry?;
                batch.remove(key);
                count += 1;
            }
            if count == 0 {
                return Ok(());
            }
            self.fingerprints.apply_batch(batch)?;
        }
    }
}
