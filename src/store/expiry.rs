//! The expiry index: which records of a (version, project) were last seen
//! in which hour, as bitmaps in the `expiry_buckets` tree (layout in
//! [`super::schema`]). Every change happens under the (version, project)'s
//! write lock, so a bitmap's read-modify-write cannot race another writer.

use super::schema::{EXPIRY_BITMAP_BYTES, EXPIRY_TREE, expiry_bit, expiry_key};
use super::{Store, StoreError};

impl Store {
    /// Sets record `id`'s bit for `last_seen`.
    pub(crate) fn mark_expiry(
        &self,
        version: &str,
        project: u64,
        id: u64,
        last_seen: u64,
    ) -> Result<(), StoreError> {
        let key = expiry_key(last_seen, version, project, id);
        let (byte, mask) = expiry_bit(id);
        let mut bitmap = self.read_bitmap(&key)?;
        if bitmap[byte] & mask == 0 {
            bitmap[byte] |= mask;
            self.expiry.insert(key, bitmap)?;
        }
        Ok(())
    }

    /// Clears record `id`'s bit for `last_seen`.
    pub(crate) fn unmark_expiry(
        &self,
        version: &str,
        project: u64,
        id: u64,
        last_seen: u64,
    ) -> Result<(), StoreError> {
        self.unmark_expiry_ids(&expiry_key(last_seen, version, project, id), &[id])
    }

    /// Clears the bits of `ids` in the bitmap at `key`; an emptied bitmap is
    /// removed.
    pub(crate) fn unmark_expiry_ids(&self, key: &[u8], ids: &[u64]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut bitmap = self.read_bitmap(key)?;
        for &id in ids {
            let (byte, mask) = expiry_bit(id);
            bitmap[byte] &= !mask;
        }
        if bitmap.iter().all(|&b| b == 0) {
            self.expiry.remove(key)?;
        } else {
            self.expiry.insert(key, bitmap)?;
        }
        Ok(())
    }

    fn read_bitmap(&self, key: &[u8]) -> Result<Vec<u8>, StoreError> {
        match self.expiry.get(key)? {
            None => Ok(vec![0; EXPIRY_BITMAP_BYTES]),
            Some(bytes) if bytes.len() == EXPIRY_BITMAP_BYTES => Ok(bytes.to_vec()),
            Some(_) => Err(StoreError::corrupt(
                EXPIRY_TREE,
                "bitmap has the wrong size",
            )),
        }
    }
}
