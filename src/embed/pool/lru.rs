//! A small least-recently-used map from text hashes to embeddings: O(1) get
//! and insert over a slab of nodes linked by index.

use std::collections::HashMap;

const NIL: usize = usize::MAX;

struct Node {
    key: u128,
    value: Vec<f32>,
    prev: usize,
    next: usize,
}

/// Keeps at most `capacity` entries; inserting into a full cache evicts the
/// least recently used one. A capacity of 0 keeps nothing.
pub struct Lru {
    capacity: usize,
    map: HashMap<u128, usize>,
    nodes: Vec<Node>,
    /// Most recently used.
    head: usize,
    /// Least recently used.
    tail: usize,
}

impl Lru {
    pub fn new(capacity: usize) -> Lru {
        Lru {
            capacity,
            map: HashMap::with_capacity(capacity.min(1 << 16)),
            nodes: Vec::with_capacity(capacity.min(1 << 16)),
            head: NIL,
            tail: NIL,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The value for `key`, marking it most recently used.
    pub fn get(&mut self, key: u128) -> Option<&[f32]> {
        let index = *self.map.get(&key)?;
        self.unlink(index);
        self.push_front(index);
        Some(&self.nodes[index].value)
    }

    /// Inserts or replaces `key`, evicting the least recently used entry
    /// when full.
    pub fn insert(&mut self, key: u128, value: Vec<f32>) {
        if self.capacity == 0 {
            return;
        }
        if let Some(&index) = self.map.get(&key) {
            self.nodes[index].value = value;
            self.unlink(index);
            self.push_front(index);
            return;
        }
        let index = if self.map.len() >= self.capacity {
            let index = self.tail;
            self.unlink(index);
            self.map.remove(&self.nodes[index].key);
            self.nodes[index].key = key;
            self.nodes[index].value = value;
            index
        } else {
            self.nodes.push(Node {
                key,
                value,
                prev: NIL,
                next: NIL,
            });
            self.nodes.len() - 1
        };
        self.map.insert(key, index);
        self.push_front(index);
    }

    fn unlink(&mut self, index: usize) {
        let (prev, next) = (self.nodes[index].prev, self.nodes[index].next);
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
        self.nodes[index].prev = NIL;
        self.nodes[index].next = NIL;
    }

    fn push_front(&mut self, index: usize) {
        self.nodes[index].prev = NIL;
        self.nodes[index].next = self.head;
        if self.head != NIL {
            self.nodes[self.head].prev = index;
        }
        self.head = index;
        if self.tail == NIL {
            self.tail = index;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn evicts_least_recently_used() {
        let mut lru = Lru::new(2);
        lru.insert(1, vec![1.0]);
        lru.insert(2, vec![2.0]);
        assert_eq!(lru.get(1), Some(&[1.0][..]));
        lru.insert(3, vec![3.0]);
        assert_eq!(lru.get(2), None, "2 was least recently used");
        assert_eq!(lru.get(1), Some(&[1.0][..]));
        assert_eq!(lru.get(3), Some(&[3.0][..]));
        lru.insert(3, vec![4.0]);
        assert_eq!(lru.get(3), Some(&[4.0][..]));
        assert_eq!(lru.len(), 2);
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut lru = Lru::new(0);
        lru.insert(1, vec![1.0]);
        assert_eq!(lru.len(), 0);
        assert_eq!(lru.get(1), None);
    }

    proptest! {
        /// Matches a naive model (a vector ordered by recency) on any
        /// sequence of gets and inserts.
        #[test]
        fn behaves_like_a_naive_lru(capacity in 1usize..5, ops in prop::collection::vec((any::<bool>(), 0u8..8), 0..200)) {
            let mut lru = Lru::new(capacity);
            let mut model: Vec<(u128, f32)> = Vec::new();
            for (step, (is_get, key)) in ops.into_iter().enumerate() {
                let key = u128::from(key);
                if is_get {
                    let expected = model.iter().position(|(k, _)| *k == key).map(|i| {
                        let entry = model.remove(i);
                        model.insert(0, entry);
                        entry.1
                    });
                    prop_assert_eq!(lru.get(key).map(|v| v[0]), expected);
                } else {
                    let value = step as f32;
                    model.retain(|(k, _)| *k != key);
                    model.insert(0, (key, value));
                    model.truncate(capacity);
                    lru.insert(key, vec![value]);
                }
                prop_assert_eq!(lru.len(), model.len());
            }
        }
    }
}
