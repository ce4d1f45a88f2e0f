//! The live records of one (version, project), both ways: record id → hash
//! (a search's index answers in ids) and hash → id (a record's sled key
//! starts with its id, see [`super::schema`], so finding the record of a
//! hash starts here).
//!
//! Rebuilt from sled at open, changed under the (version, project)'s write
//! lock together with sled. The reverse direction keeps a 64-bit digest of
//! each hash instead of a second copy of it; a hash whose digest is already
//! taken by another hash is kept whole in `collided` (with a per-table
//! random key, practically never).

use crate::index::Key;
use std::collections::HashMap;
use std::collections::hash_map::{Entry, RandomState};
use std::hash::BuildHasher;

pub(crate) struct RecordHashes<S = RandomState> {
    by_id: HashMap<Key, String>,
    by_digest: HashMap<u64, Key>,
    collided: HashMap<String, Key>,
    digests: S,
}

impl Default for RecordHashes {
    fn default() -> Self {
        RecordHashes::with_digests(RandomState::new())
    }
}

impl RecordHashes {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let mut table = RecordHashes::default();
        table.by_id.reserve(capacity);
        table.by_digest.reserve(capacity);
        table
    }
}

impl<S: BuildHasher> RecordHashes<S> {
    fn with_digests(digests: S) -> Self {
        RecordHashes {
            by_id: HashMap::new(),
            by_digest: HashMap::new(),
            collided: HashMap::new(),
            digests,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn hash_of(&self, id: Key) -> Option<&str> {
        self.by_id.get(&id).map(String::as_str)
    }

    pub(crate) fn id_of(&self, hash: &str) -> Option<Key> {
        let digest = self.digests.hash_one(hash);
        match self.by_digest.get(&digest) {
            Some(&id) if self.hash_of(id) == Some(hash) => Some(id),
            _ => self.collided.get(hash).copied(),
        }
    }

    pub(crate) fn contains_id(&self, id: Key) -> bool {
        self.by_id.contains_key(&id)
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = Key> + '_ {
        self.by_id.keys().copied()
    }

    /// Records `id` as the record of `hash`. Each is in at most one pair:
    /// whatever held `id` or `hash` before is forgotten.
    pub(crate) fn insert(&mut self, id: Key, hash: String) {
        self.remove(id);
        if let Some(previous) = self.id_of(&hash) {
            self.remove(previous);
        }
        match self.by_digest.entry(self.digests.hash_one(hash.as_str())) {
            Entry::Vacant(slot) => {
                slot.insert(id);
            }
            Entry::Occupied(_) => {
                self.collided.insert(hash.clone(), id);
            }
        }
        self.by_id.insert(id, hash);
    }

    /// Forgets `id`; returns its hash.
    pub(crate) fn remove(&mut self, id: Key) -> Option<String> {
        let hash = self.by_id.remove(&id)?;
        let digest = self.digests.hash_one(hash.as_str());
        if self.by_digest.get(&digest) == Some(&id) {
            self.by_digest.remove(&digest);
        } else {
            self.collided.remove(&hash);
        }
        Some(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::hash::{BuildHasherDefault, Hasher};

    /// Every hash gets the same digest: every lookup goes the collision way.
    #[derive(Default)]
    struct SameDigest;

    impl Hasher for SameDigest {
        fn finish(&self) -> u64 {
            7
        }
        fn write(&mut self, _: &[u8]) {}
    }

    #[derive(Debug, Clone)]
    enum Step {
        Insert(Key, String),
        Remove(Key),
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        let hash = prop::sample::select(vec!["a", "b", "c", "d", "e"]).prop_map(String::from);
        let step = prop_oneof![
            (0u64..6, hash).prop_map(|(id, hash)| Step::Insert(id, hash)),
            (0u64..6).prop_map(Step::Remove),
        ];
        prop::collection::vec(step, 0..40)
    }

    /// Runs `steps` on `table` and on a model of two ordered maps, checking
    /// every lookup after each step.
    fn agrees_with_model<S: BuildHasher>(mut table: RecordHashes<S>, steps: &[Step]) {
        let mut by_id: BTreeMap<Key, String> = BTreeMap::new();
        for step in steps {
            match step {
                Step::Insert(id, hash) => {
                    by_id.retain(|other_id, other_hash| other_id != id && other_hash != hash);
                    by_id.insert(*id, hash.clone());
                    table.insert(*id, hash.clone());
                }
                Step::Remove(id) => {
                    assert_eq!(table.remove(*id), by_id.remove(id));
                }
            }
            assert_eq!(table.len(), by_id.len());
            for id in 0..6 {
                assert_eq!(table.hash_of(id), by_id.get(&id).map(String::as_str));
                assert_eq!(table.contains_id(id), by_id.contains_key(&id));
            }
            for hash in ["a", "b", "c", "d", "e"] {
                let expected = by_id.iter().find(|(_, h)| *h == hash).map(|(id, _)| *id);
                assert_eq!(table.id_of(hash), expected, "{hash} after {step:?}");
            }
            let mut ids: Vec<Key> = table.ids().collect();
            ids.sort_unstable();
            assert_eq!(ids, by_id.keys().copied().collect::<Vec<_>>());
        }
    }

    proptest! {
        #[test]
        fn lookups_agree_with_a_model(steps in steps()) {
            agrees_with_model(RecordHashes::default(), &steps);
        }

        #[test]
        fn lookups_agree_with_a_model_when_every_digest_collides(steps in steps()) {
            let table = RecordHashes::with_digests(BuildHasherDefault::<SameDigest>::default());
            agrees_with_model(table, &steps);
        }
    }
}
