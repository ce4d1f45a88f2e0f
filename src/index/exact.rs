//! Exact flat scan: every stored vector is compared with the query.
//!
//! Vectors live in one contiguous `Vec<f32>` (row-major) so the scan streams
//! through memory; [`dot`](super::dot) is written so the compiler vectorizes
//! it. Removal swaps the last row into the hole, so the scan never skips
//! tombstones.

use super::{
    Backend, Hit, IndexError, Key, SearchRequest, TopK, VectorIndex, cosine_distance_unit,
    inverse_norm, normalized, validate_radius, validate_vector,
};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct ExactIndex {
    dimensions: usize,
    keys: Vec<Key>,
    vectors: Vec<f32>,
    inverse_norms: Vec<f32>,
    rows: HashMap<Key, usize>,
}

impl ExactIndex {
    pub fn new(dimensions: usize) -> Self {
        ExactIndex {
            dimensions,
            keys: Vec::new(),
            vectors: Vec::new(),
            inverse_norms: Vec::new(),
            rows: HashMap::new(),
        }
    }

    /// Every (key, vector) pair, for moving into another backend.
    pub fn entries(&self) -> impl Iterator<Item = (Key, &[f32])> + '_ {
        self.keys
            .iter()
            .copied()
            .zip(self.vectors.chunks_exact(self.dimensions))
    }

    pub fn reserve_rows(&mut self, additional: usize) {
        self.keys.reserve(additional);
        self.vectors.reserve(additional * self.dimensions);
        self.inverse_norms.reserve(additional);
        self.rows.reserve(additional);
    }
}

impl VectorIndex for ExactIndex {
    fn backend(&self) -> Backend {
        Backend::Exact
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn contains(&self, key: Key) -> bool {
        self.rows.contains_key(&key)
    }

    fn add(&mut self, key: Key, vector: &[f32]) -> Result<(), IndexError> {
        validate_vector(vector, self.dimensions)?;
        if self.rows.contains_key(&key) {
            return Err(IndexError::DuplicateKey(key));
        }
        self.rows.insert(key, self.keys.len());
        self.keys.push(key);
        self.vectors.extend_from_slice(vector);
        self.inverse_norms.push(inverse_norm(vector));
        Ok(())
    }

    fn remove(&mut self, key: Key) -> Result<bool, IndexError> {
        let Some(row) = self.rows.remove(&key) else {
            return Ok(false);
        };
        let last = self.keys.len() - 1;
        if row != last {
            let moved = self.keys[last];
            self.keys[row] = moved;
            self.inverse_norms[row] = self.inverse_norms[last];
            let d = self.dimensions;
            self.vectors.copy_within(last * d..(last + 1) * d, row * d);
            self.rows.insert(moved, row);
        }
        self.keys.truncate(last);
        self.inverse_norms.truncate(last);
        self.vectors.truncate(last * self.dimensions);
        Ok(true)
    }

    fn get(&self, key: Key) -> Option<Vec<f32>> {
        let row = *self.rows.get(&key)?;
        let d = self.dimensions;
        Some(self.vectors[row * d..(row + 1) * d].to_vec())
    }

    fn reserve(&mut self, additional: usize) -> Result<(), IndexError> {
        self.reserve_rows(additional);
        Ok(())
    }

    fn search(&self, query: &[f32], request: &SearchRequest) -> Result<Vec<Hit>, IndexError> {
        validate_vector(query, self.dimensions)?;
        validate_radius(request.radius)?;
        if request.k == 0 || self.keys.is_empty() {
            return Ok(Vec::new());
        }
        let unit = normalized(query);
        let mut top = TopK::new(request.k);
        let rows = self.vectors.chunks_exact(self.dimensions);
        for ((stored, &inverse), &key) in rows.zip(&self.inverse_norms).zip(&self.keys) {
            let distance = cosine_distance_unit(&unit, stored, inverse);
            if distance <= request.radius && distance <= top.bound() && Some(key) != request.exclude
            {
                top.push(Hit { key, distance });
            }
        }
        Ok(top.into_sorted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(k: usize, radius: f32) -> SearchRequest {
        SearchRequest {
            k,
            radius,
            exclude: None,
        }
    }

    #[test]
    fn finds_nearest_within_radius_excluding_a_key() -> Result<(), IndexError> {
        let mut index = ExactIndex::new(2);
        index.add(1, &[1.0, 0.0])?;
        index.add(2, &[1.0, 0.1])?;
        index.add(3, &[0.0, 1.0])?;
        let hits = index.search(&[1.0, 0.0], &request(3, 0.5))?;
        assert_eq!(hits.iter().map(|h| h.key).collect::<Vec<_>>(), vec![1, 2]);
        assert!(hits[0].distance <= hits[1].distance);
        let hits = index.search(
            &[1.0, 0.0],
            &SearchRequest {
                k: 1,
                radius: 2.0,
                exclude: Some(1),
            },
        )?;
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].key, 2);
        Ok(())
    }

    #[test]
    fn remove_swaps_rows_and_keeps_lookups_right() -> Result<(), IndexError> {
        let mut index = ExactIndex::new(2);
        index.add(1, &[1.0, 0.0])?;
        index.add(2, &[0.0, 1.0])?;
        index.add(3, &[-1.0, 0.0])?;
        assert!(index.remove(1)?);
        assert!(!index.remove(1)?);
        assert_eq!(index.len(), 2);
        assert_eq!(index.get(3), Some(vec![-1.0, 0.0]));
        let hits = index.search(&[-1.0, 0.0], &request(1, 0.1))?;
        assert_eq!(hits[0].key, 3);
        assert_eq!(index.add(3, &[1.0, 1.0]), Err(IndexError::DuplicateKey(3)));
        Ok(())
    }

    #[test]
    fn bad_queries_are_errors() {
        let index = ExactIndex::new(2);
        assert!(index.search(&[1.0], &request(1, 0.1)).is_err());
        assert!(index.search(&[f32::NAN, 1.0], &request(1, 0.1)).is_err());
        assert!(index.search(&[1.0, 0.0], &request(1, f32::NAN)).is_err());
    }
}
