//! HNSW graph from `usearch` (cosine metric).
//!
//! The graph only proposes candidates: `max(k (+1 if excluding), candidates)`
//! keys are fetched, each candidate's vector is read back and its distance
//! recomputed with [`cosine_distance_unit`], then the radius, the exclusion and
//! `k` are applied. With [`Quantization::F16`] the graph holds f16 values; the
//! store feeds it vectors that are already f16-exact, so the read-back is
//! lossless and distances equal the exact backend's.

use super::{
    Backend, Hit, HnswParams, IndexError, Key, Quantization, SearchRequest, VectorIndex,
    cosine_distance_unit, inverse_norm, normalized, validate_radius, validate_vector,
};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

pub struct HnswIndex {
    dimensions: usize,
    params: HnswParams,
    index: Index,
}

fn backend_error<E: std::fmt::Display>(error: &E) -> IndexError {
    IndexError::Backend(error.to_string())
}

fn scalar_kind(quantization: Quantization) -> ScalarKind {
    match quantization {
        Quantization::F32 => ScalarKind::F32,
        Quantization::F16 => ScalarKind::F16,
    }
}

impl HnswIndex {
    pub fn new(dimensions: usize, params: HnswParams) -> Result<Self, IndexError> {
        let options = IndexOptions {
            dimensions,
            metric: MetricKind::Cos,
            quantization: scalar_kind(params.quantization),
            connectivity: params.connectivity,
            expansion_add: params.expansion_add,
            expansion_search: params.expansion_search,
            multi: false,
        };
        let index = Index::new(&options).map_err(|e| backend_error(&e))?;
        Ok(HnswIndex {
            dimensions,
            params,
            index,
        })
    }

    /// Makes room for `capacity` vectors in total (one allocation instead of
    /// repeated doubling when loading a known number of records).
    pub fn reserve_capacity(&mut self, capacity: usize) -> Result<(), IndexError> {
        if capacity > self.index.capacity() {
            self.index
                .reserve(capacity)
                .map_err(|e| backend_error(&e))?;
        }
        Ok(())
    }

    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// The graph serialized (usearch's own format), for saving to disk.
    pub fn graph_bytes(&self) -> Result<Vec<u8>, IndexError> {
        let mut buffer = vec![0u8; self.index.serialized_length()];
        self.index
            .save_to_buffer(&mut buffer)
            .map_err(|e| backend_error(&e))?;
        Ok(buffer)
    }

    /// Restores a graph written by [`HnswIndex::graph_bytes`]. The file must
    /// match `dimensions`, the cosine metric, the quantization and M;
    /// expansion factors are taken from `params` (they are not structural).
    pub fn from_bytes(
        bytes: &[u8],
        dimensions: usize,
        params: HnswParams,
    ) -> Result<Self, IndexError> {
        let metadata = Index::metadata_from_buffer(bytes).map_err(|e| backend_error(&e))?;
        if metadata.dimensions != dimensions as u64 {
            return Err(IndexError::Dimension {
                expected: dimensions,
                got: usize::try_from(metadata.dimensions).unwrap_or(usize::MAX),
            });
        }
        let fresh = HnswIndex::new(dimensions, params)?;
        fresh
            .index
            .load_from_buffer(bytes)
            .map_err(|e| backend_error(&e))?;
        if fresh.index.metric_kind() != MetricKind::Cos
            || fresh.index.scalar_kind() != scalar_kind(params.quantization)
            || fresh.index.connectivity() != params.connectivity
            || fresh.index.multi()
        {
            return Err(IndexError::Parameter(
                "saved graph was built with other metric, quantization or M".into(),
            ));
        }
        fresh.index.change_expansion_add(params.expansion_add);
        fresh.index.change_expansion_search(params.expansion_search);
        Ok(fresh)
    }
}

impl VectorIndex for HnswIndex {
    fn backend(&self) -> Backend {
        Backend::Hnsw
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    fn len(&self) -> usize {
        self.index.size()
    }

    fn contains(&self, key: Key) -> bool {
        self.index.contains(key)
    }

    fn add(&mut self, key: Key, vector: &[f32]) -> Result<(), IndexError> {
        validate_vector(vector, self.dimensions)?;
        if self.index.contains(key) {
            return Err(IndexError::DuplicateKey(key));
        }
        // usearch needs capacity before `add`; grow geometrically.
        if self.index.size() + 1 > self.index.capacity() {
            let target = (self.index.capacity() * 2).max(64);
            self.index.reserve(target).map_err(|e| backend_error(&e))?;
        }
        self.index.add(key, vector).map_err(|e| backend_error(&e))
    }

    fn remove(&mut self, key: Key) -> Result<bool, IndexError> {
        let removed = self.index.remove(key).map_err(|e| backend_error(&e))?;
        Ok(removed > 0)
    }

    fn get(&self, key: Key) -> Option<Vec<f32>> {
        let mut buffer = vec![0.0f32; self.dimensions];
        match self.index.get(key, &mut buffer) {
            Ok(n) if n > 0 => Some(buffer),
            _ => None,
        }
    }

    fn reserve(&mut self, additional: usize) -> Result<(), IndexError> {
        self.reserve_capacity(self.index.size() + additional)
    }

    fn to_bytes(&self) -> Result<Option<Vec<u8>>, IndexError> {
        self.graph_bytes().map(Some)
    }

    fn search(&self, query: &[f32], request: &SearchRequest) -> Result<Vec<Hit>, IndexError> {
        validate_vector(query, self.dimensions)?;
        validate_radius(request.radius)?;
        if request.k == 0 || self.index.size() == 0 {
            return Ok(Vec::new());
        }
        let wanted = request.k + usize::from(request.exclude.is_some());
        let count = wanted.max(self.params.candidates);
        let matches = self
            .index
            .search(query, count)
            .map_err(|e| backend_error(&e))?;
        let unit = normalized(query);
        let mut buffer = vec![0.0f32; self.dimensions];
        let mut hits = Vec::with_capacity(matches.keys.len());
        for &key in &matches.keys {
            if Some(key) == request.exclude {
                continue;
            }
            let found = self
                .index
                .get(key, &mut buffer)
                .map_err(|e| backend_error(&e))?;
            if found == 0 {
                continue;
            }
            let distance = cosine_distance_unit(&unit, &buffer, inverse_norm(&buffer));
            if distance <= request.radius {
                hits.push(Hit { key, distance });
            }
        }
        hits.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.key.cmp(&b.key)));
        hits.truncate(request.k);
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::exact::ExactIndex;

    fn vector(seed: u64, dimensions: usize) -> Vec<f32> {
        // Small deterministic generator; enough spread for a graph test.
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..dimensions)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect()
    }

    #[test]
    fn agrees_with_exact_scan_and_round_trips_through_bytes() -> Result<(), IndexError> {
        let dimensions = 16;
        let params = HnswParams {
            quantization: Quantization::F32,
            ..HnswParams::default()
        };
        let mut hnsw = HnswIndex::new(dimensions, params)?;
        let mut exact = ExactIndex::new(dimensions);
        for key in 0..300u64 {
            let v = vector(key, dimensions);
            hnsw.add(key, &v)?;
            exact.add(key, &v)?;
        }
        assert!(hnsw.remove(7)?);
        assert!(exact.remove(7)?);
        assert!(!hnsw.remove(7)?);
        assert_eq!(hnsw.len(), 299);
        assert_eq!(
            hnsw.add(8, &vector(1, dimensions)),
            Err(IndexError::DuplicateKey(8))
        );
        let request = SearchRequest {
            k: 3,
            radius: 2.0,
            exclude: Some(11),
        };
        let restored = HnswIndex::from_bytes(&hnsw.graph_bytes()?, dimensions, params)?;
        assert_eq!(restored.len(), 299);
        for q in 1000..1020u64 {
            let query = vector(q, dimensions);
            let want = exact.search(&query, &request)?;
            assert_eq!(hnsw.search(&query, &request)?, want);
            assert_eq!(restored.search(&query, &request)?, want);
        }
        assert!(HnswIndex::from_bytes(&hnsw.graph_bytes()?, dimensions + 1, params).is_err());
        assert!(HnswIndex::from_bytes(b"not a graph", dimensions, params).is_err());
        Ok(())
    }
}
