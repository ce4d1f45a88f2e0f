//! `hora` HNSW, behind the `hora` cargo feature, kept only to compare with
//! usearch (`cargo bench --bench store --features hora -- crossover`).
//!
//! hora cannot delete, so removed keys are tombstoned and filtered out, and
//! its search asserts on bad input, so every input is validated first. Not
//! meant for production: the store's default backends are exact and usearch.

use super::{
    Backend, Hit, HnswParams, IndexError, Key, SearchRequest, VectorIndex, cosine_distance_unit,
    inverse_norm, normalized, validate_radius, validate_vector,
};
use hora::core::ann_index::ANNIndex;
use hora::core::metrics::Metric;
use hora::core::node::Node;
use hora::index::hnsw_idx::HNSWIndex;
use hora::index::hnsw_params::HNSWParams;
use std::collections::HashMap;

pub struct HoraIndex {
    dimensions: usize,
    params: HnswParams,
    graph: HNSWIndex<f32, u64>,
    /// Live vectors by key: hora keeps removed nodes in its graph.
    live: HashMap<Key, Vec<f32>>,
    graph_nodes: usize,
}

impl HoraIndex {
    pub fn new(dimensions: usize, params: HnswParams) -> Self {
        let hora_params = HNSWParams::<f32>::default()
            .max_item(100_000_000)
            .n_neighbor(params.connectivity)
            .n_neighbor0(params.connectivity * 2)
            .ef_build(params.expansion_add)
            .ef_search(params.expansion_search);
        HoraIndex {
            dimensions,
            params,
            graph: HNSWIndex::new(dimensions, &hora_params),
            live: HashMap::new(),
            graph_nodes: 0,
        }
    }
}

impl VectorIndex for HoraIndex {
    fn backend(&self) -> Backend {
        Backend::Hora
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    fn len(&self) -> usize {
        self.live.len()
    }

    fn contains(&self, key: Key) -> bool {
        self.live.contains_key(&key)
    }

    fn add(&mut self, key: Key, vector: &[f32]) -> Result<(), IndexError> {
        validate_vector(vector, self.dimensions)?;
        if self.live.contains_key(&key) {
            return Err(IndexError::DuplicateKey(key));
        }
        // Unit vectors and the Euclidean metric, which orders unit vectors as
        // cosine does (|a − b|² = 2 − 2·cos). hora 0.1.1's cosine divides by
        // norms and its ordering panics on the NaN that can produce; its dot
        // product negates twice (the SIMD kernel and the metric wrapper each
        // return −a·b), so it ranks the *farthest* vectors first.
        self.graph
            .add_node(&Node::new_with_idx(&normalized(vector), key))
            .map_err(|e| IndexError::Backend(e.to_string()))?;
        // `build` links the nodes added since the last call into the graph.
        self.graph
            .build(Metric::Euclidean)
            .map_err(|e| IndexError::Backend(e.to_string()))?;
        self.graph_nodes += 1;
        self.live.insert(key, vector.to_vec());
        Ok(())
    }

    fn remove(&mut self, key: Key) -> Result<bool, IndexError> {
        Ok(self.live.remove(&key).is_some())
    }

    fn get(&self, key: Key) -> Option<Vec<f32>> {
        self.live.get(&key).cloned()
    }

    fn search(&self, query: &[f32], request: &SearchRequest) -> Result<Vec<Hit>, IndexError> {
        validate_vector(query, self.dimensions)?;
        validate_radius(request.radius)?;
        if request.k == 0 || self.live.is_empty() {
            return Ok(Vec::new());
        }
        let tombstones = self.graph_nodes - self.live.len();
        let wanted = request.k + usize::from(request.exclude.is_some());
        let count = (wanted.max(self.params.candidates) + tombstones).min(self.graph_nodes);
        let unit = normalized(query);
        let mut hits: Vec<Hit> = Vec::new();
        for key in self.graph.search(&unit, count) {
            if Some(key) == request.exclude || hits.iter().any(|h| h.key == key) {
                continue;
            }
            let Some(stored) = self.live.get(&key) else {
                continue;
            };
            let distance = cosine_distance_unit(&unit, stored, inverse_norm(stored));
            if distance <= request.radius {
                hits.push(Hit { key, distance });
            }
        }
        super::sort_hits(&mut hits);
        hits.truncate(request.k);
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::exact::ExactIndex;

    #[test]
    fn agrees_with_the_exact_scan_and_honours_removal() -> Result<(), IndexError> {
        let mut hora = HoraIndex::new(8, HnswParams::default());
        let mut exact = ExactIndex::new(8);
        for key in 0..200u64 {
            let v: Vec<f32> = (0..8)
                .map(|i| ((key * 7 + i) % 13) as f32 - 6.0 + 0.01)
                .collect();
            hora.add(key, &v)?;
            exact.add(key, &v)?;
        }
        hora.remove(5)?;
        exact.remove(5)?;
        let request = SearchRequest {
            k: 3,
            radius: 2.0,
            exclude: Some(9),
        };
        let mut agreeing = 0;
        for q in 0..20u64 {
            let query: Vec<f32> = (0..8)
                .map(|i| ((q * 5 + i) % 11) as f32 - 5.0 + 0.02)
                .collect();
            let got = hora.search(&query, &request)?;
            assert!(!got.is_empty() && got.len() <= 3);
            assert!(got.iter().all(|h| h.key != 5 && h.key != 9));
            assert!(got.windows(2).all(|w| w[0].distance <= w[1].distance));
            // Distances are exact whichever backend found the candidate.
            if got.first() == exact.search(&query, &request)?.first() {
                agreeing += 1;
            }
            for hit in &got {
                let stored = exact
                    .get(hit.key)
                    .ok_or(IndexError::DuplicateKey(hit.key))?;
                let want = crate::index::cosine_distance(&query, &stored);
                assert!((hit.distance - want).abs() < 1e-6);
            }
        }
        // A graph this small is searched nearly exhaustively at ef = 100.
        assert!(
            agreeing >= 18,
            "top-1 agreed with the exact scan {agreeing}/20 times"
        );
        Ok(())
    }
}
