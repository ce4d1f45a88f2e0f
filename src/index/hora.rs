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
        self.graph
            .add_node(&Node::new_with_idx(vector, key))
            .map_err(|e| IndexError::Backend(e.to_string()))?;
        // `build` links the nodes added since the last call into the graph.
        self.graph
            .build(Metric::CosineSimilarity)
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
        for key in self.graph.search(query, count) {
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
        hits.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.key.cmp(&b.key)));
        hits.truncate(request.k);
        Ok(hits)
    }
}
