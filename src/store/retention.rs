//! Retention: records not seen for `retention_days` are removed from sled
//! and their index together.
//!
//! The `expiry` tree is ordered by last-seen time, so a sweep reads only
//! the expired prefix, never the whole database.

use super::grouping::ExpiredEntry;
use super::schema::split_expiry_key;
use super::{Store, StoreError};
use std::collections::BTreeMap;

/// Expiry entries handled per batch (bounds memory on a large backlog).
const SWEEP_CHUNK: usize = 10_000;

impl Store {
    /// Removes every record whose last-seen time is more than
    /// `retention_days` before `now` (unix seconds). Returns how many
    /// records were removed. Durable before `Ok`.
    pub fn sweep_retention(&self, now: u64) -> Result<usize, StoreError> {
        let cutoff = now.saturating_sub(self.options.retention_seconds());
        let mut removed = 0;
        loop {
            let mut groups: BTreeMap<(String, u64), Vec<ExpiredEntry>> = BTreeMap::new();
            let mut count = 0;
            for entry in self.expiry.range(..cutoff.to_be_bytes()).take(SWEEP_CHUNK) {
                let (key, _) = entry?;
                let parsed = split_expiry_key(&key)?;
                groups
                    .entry((parsed.version, parsed.project))
                    .or_default()
                    .push(ExpiredEntry {
                        key: key.to_vec(),
                        id: parsed.id,
                        last_seen: parsed.last_seen,
                    });
                count += 1;
            }
            if count == 0 {
                break;
            }
            for ((version, project), entries) in groups {
                removed += self.expire_entries(&version, project, &entries)?;
            }
        }
        self.db.flush()?;
        Ok(removed)
    }
}
