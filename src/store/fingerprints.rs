//! Fingerprint cache: (project, fingerprint hash) → issue hash, so an event
//! whose fingerprint the AI path has already placed skips the model.

use super::grouping::validate_hash;
use super::schema::{
    FINGERPRINTS_TREE, FingerprintValue, decode, encode, project_hash_key, project_prefix,
    split_project_hash_key,
};
use super::{Store, StoreError};

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
                let FingerprintValue::V1 { issue_hash } = decode(FINGERPRINTS_TREE, &bytes)?;
                Ok(Some(issue_hash))
            }
        }
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
            let FingerprintValue::V1 { issue_hash } = decode(FINGERPRINTS_TREE, &value)?;
            out.push((fingerprint, issue_hash));
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
            let FingerprintValue::V1 { issue_hash } = decode(FINGERPRINTS_TREE, &value)?;
            if hashes.contains(&issue_hash.as_str()) {
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
