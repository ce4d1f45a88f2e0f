//! Retention: records not seen for `retention_days` are removed from sled
//! and their index together.
//!
//! The expiry tree is ordered by last-seen hour, so a sweep reads only the
//! buckets that started before the cutoff, never the whole database.

use super::grouping::ExpiredBitmap;
use super::schema::{expiry_bucket_bound, split_expiry_key};
use super::{Store, StoreError};
use std::collections::BTreeMap;
use std::ops::Bound;

/// Bitmaps handled per batch (bounds memory on a large backlog).
const SWEEP_CHUNK: usize = 1_000;

impl Store {
    /// Removes every record whose last-seen time is more than
    /// `retention_days` before `now` (unix seconds). Returns how many
    /// records were removed. Durable before `Ok`.
    pub fn sweep_retention(&self, now: u64) -> Result<usize, StoreError> {
        let cutoff = now.saturating_sub(self.options.retention_seconds());
        let end = Bound::Excluded(expiry_bucket_bound(cutoff).to_vec());
        // The last bucket before the cutoff may keep records seen after it,
        // so the sweep walks forward from where it stopped, not from the start.
        let mut start: Bound<Vec<u8>> = Bound::Unbounded;
        let mut removed = 0;
        loop {
            let mut groups: BTreeMap<(String, u64), Vec<ExpiredBitmap>> = BTreeMap::new();
            let mut last = None;
            for entry in self
                .expiry
                .range((start.clone(), end.clone()))
                .take(SWEEP_CHUNK)
            {
                let (key, bitmap) = entry?;
                let bucket = split_expiry_key(&key)?;
                groups
                    .entry((bucket.version.clone(), bucket.project))
                    .or_default()
                    .push(ExpiredBitmap {
                        key: key.to_vec(),
                        ids: bucket.ids(&bitmap),
                    });
                last = Some(key.to_vec());
            }
            let Some(last) = last else {
                break;
            };
            for ((version, project), bitmaps) in groups {
                removed += self.expire_entries(&version, project, &bitmaps, cutoff)?;
            }
            start = Bound::Excluded(last);
        }
        self.db.flush()?;
        Ok(removed)
    }
}
