//! Vector indexes: one per (model version, project), all behind [`VectorIndex`].
//!
//! Every backend answers the same question the same way: the `k` nearest
//! stored vectors within `radius` cosine distance (1 − cos) of a query,
//! ascending, ties broken by key, with **exact** distances. Approximate
//! backends ([`hnsw`], [`hora`](crate::index) behind the `hora` feature) only
//! choose the candidates; each candidate's distance is then recomputed with
//! [`cosine_distance`] on the stored vector, so a pair has the same distance
//! whichever backend found it.
//!
//! * [`exact::ExactIndex`]: a flat scan, for small projects.
//! * [`hnsw::HnswIndex`]: usearch HNSW, for large ones.
//! * [`adaptive::AdaptiveIndex`]: exact below a size threshold, HNSW above
//!   (the store's default).

pub mod adaptive;
pub mod exact;
pub mod flat_graph;
pub mod graph_file;
pub mod hnsw;
#[cfg(feature = "hora")]
pub mod hora;
pub mod memory;
pub mod search_copy;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Keys are the store's record ids (unique, never reused).
pub type Key = u64;

#[derive(Debug, Error, PartialEq)]
pub enum IndexError {
    #[error("vector has {got} dimensions, the index has {expected}")]
    Dimension { expected: usize, got: usize },
    #[error("vector component {position} is not a finite number")]
    NonFinite { position: usize },
    #[error("vector has zero length; cosine distance is undefined")]
    ZeroVector,
    #[error("radius must be a number >= 0, got {0}")]
    Radius(f32),
    #[error("key {0} is already in the index")]
    DuplicateKey(Key),
    #[error("invalid index parameter: {0}")]
    Parameter(String),
    #[error("index backend failed: {0}")]
    Backend(String),
}

/// One search hit: a key and its exact cosine distance to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub key: Key,
    pub distance: f32,
}

/// What to look for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchRequest {
    /// At most this many hits (0 → none).
    pub k: usize,
    /// Only hits with `distance <= radius`.
    pub radius: f32,
    /// Never return this key (the request's own record).
    pub exclude: Option<Key>,
}

/// Which implementation answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Exact,
    Hnsw,
    /// Exact below [`IndexOptions::exact_max`] vectors, HNSW above.
    Adaptive,
    /// Only with the `hora` cargo feature; for comparison, not production.
    Hora,
}

/// How vectors are held inside the HNSW graph. Candidates are rescored on the
/// vector read back from the graph, so this must represent the stored
/// embedding exactly (f16 storage → `F16` or `F32`; f32/i8 storage → `F32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantization {
    F32,
    F16,
}

/// HNSW parameters (the defaults: M=16, ef_construction=200, ef_search=100).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HnswParams {
    /// M: links per node per layer (layer 0 has 2·M).
    pub connectivity: usize,
    /// ef_construction.
    pub expansion_add: usize,
    /// ef_search.
    pub expansion_search: usize,
    /// Candidates fetched from the graph and rescored exactly; at least
    /// `k` (+1 when a key is excluded).
    pub candidates: usize,
    pub quantization: Quantization,
    /// Ask for huge pages on graph memory (see [`memory`]; off by default:
    /// its gain did not reproduce on the shared dev machine).
    pub huge_pages: bool,
    /// Search large graphs through a prefetching copy ([`flat_graph`],
    /// [`search_copy`]) instead of usearch's own walk; costs one more copy
    /// of the vectors and level-0 links in memory, and the vectors' 8-bit
    /// codes the walk ranks by.
    pub search_copy: bool,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            connectivity: 16,
            expansion_add: 200,
            expansion_search: 100,
            candidates: 16,
            quantization: Quantization::F16,
            huge_pages: false,
            search_copy: true,
        }
    }
}

/// Index settings shared by all backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexOptions {
    pub backend: Backend,
    /// Adaptive backend: largest size served by the exact scan. Chosen by
    /// measurement (`cargo bench --bench store -- crossover`), see
    /// [`DEFAULT_EXACT_MAX`].
    pub exact_max: usize,
    pub hnsw: HnswParams,
}

/// Exact scan up to this many vectors per (version, project), HNSW above.
///
/// Measured with `cargo bench --bench store -- crossover` (clustered
/// vectors, k=1, search p50 on the shared 2-core dev machine; table in
/// `benches/README.md`): at 64 dims the scan and HNSW (ef_search=100) cost
/// the same at ~2,000 vectors (33 vs 36 µs), at 4,000 the scan is 1.7×
/// slower; at 384 dims they cross at ~1,000 (68 vs 65 µs) and the scan is
/// 1.8× slower at 2,000 (137 vs 78 µs). 2,000 keeps the exact scan (recall 1
/// by construction, O(1) insert instead of a ~100 µs graph insert) up to the
/// 64-dim break-even, at most ~2× HNSW's search cost at 384 dims. Settable
/// per deployment ([`IndexOptions::exact_max`]).
pub const DEFAULT_EXACT_MAX: usize = 2_000;

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            backend: Backend::Adaptive,
            exact_max: DEFAULT_EXACT_MAX,
            hnsw: HnswParams::default(),
        }
    }
}

impl IndexOptions {
    pub fn validate(&self) -> Result<(), IndexError> {
        let h = &self.hnsw;
        if h.connectivity < 2 {
            return Err(IndexError::Parameter(format!(
                "hnsw connectivity (M) must be at least 2, got {}",
                h.connectivity
            )));
        }
        if h.expansion_add == 0 || h.expansion_search == 0 {
            return Err(IndexError::Parameter(
                "hnsw expansion_add and expansion_search must be at least 1".into(),
            ));
        }
        if h.candidates == 0 {
            return Err(IndexError::Parameter(
                "hnsw candidates must be at least 1".into(),
            ));
        }
        #[cfg(not(feature = "hora"))]
        if self.backend == Backend::Hora {
            return Err(IndexError::Parameter(
                "the hora backend needs the `hora` cargo feature".into(),
            ));
        }
        Ok(())
    }
}

/// A per-(version, project) vector index.
pub trait VectorIndex: Send + Sync {
    fn backend(&self) -> Backend;
    /// The implementation answering now ([`Backend::Adaptive`] reports
    /// `Exact` or `Hnsw`).
    fn active_backend(&self) -> Backend {
        self.backend()
    }
    fn dimensions(&self) -> usize;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn contains(&self, key: Key) -> bool;
    /// Adds a vector under a new key. The vector is stored as given (not
    /// normalized); distances are cosine, so scale does not matter.
    fn add(&mut self, key: Key, vector: &[f32]) -> Result<(), IndexError>;
    /// Removes a key; `Ok(false)` when it was not there.
    fn remove(&mut self, key: Key) -> Result<bool, IndexError>;
    /// The vector stored under `key`, as the index holds it.
    fn get(&self, key: Key) -> Option<Vec<f32>>;
    fn search(&self, query: &[f32], request: &SearchRequest) -> Result<Vec<Hit>, IndexError>;
    /// Makes room for `additional` more vectors (bulk loading).
    fn reserve(&mut self, _additional: usize) -> Result<(), IndexError> {
        Ok(())
    }
    /// A serialized form worth saving to disk, or `None` when rebuilding
    /// from the records is as cheap as loading (the exact scan).
    fn to_bytes(&self) -> Result<Option<Vec<u8>>, IndexError> {
        Ok(None)
    }
    /// The HNSW graph answering now, for adding to it from another thread
    /// (the store's background indexer); `None` for the exact scan.
    fn graph(&self) -> Option<hnsw::GraphHandle> {
        None
    }
    /// Removed entries still held as graph waypoints (see [`hnsw`]).
    fn tombstones(&self) -> usize {
        0
    }
}

/// Checks a vector's length and values; bad input is an error, never a panic.
pub fn validate_vector(vector: &[f32], dimensions: usize) -> Result<(), IndexError> {
    if vector.len() != dimensions {
        return Err(IndexError::Dimension {
            expected: dimensions,
            got: vector.len(),
        });
    }
    if let Some(position) = vector.iter().position(|x| !x.is_finite()) {
        return Err(IndexError::NonFinite { position });
    }
    let norm = dot(vector, vector);
    // A norm this small (or an overflow to inf) cannot be normalized reliably.
    if !(norm > f32::MIN_POSITIVE && norm.is_finite()) {
        return Err(IndexError::ZeroVector);
    }
    Ok(())
}

pub(crate) fn validate_radius(radius: f32) -> Result<(), IndexError> {
    // NaN fails both comparisons; +inf means "any distance".
    if radius >= 0.0 {
        Ok(())
    } else {
        Err(IndexError::Radius(radius))
    }
}

/// Dot product with eight independent accumulators, so the compiler can keep
/// them in SIMD registers (the plain iterator sum is a serial dependency
/// chain and does not vectorize). The summation order is fixed, so every
/// caller gets bit-identical results for the same pair.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks_a = a.chunks_exact(8);
    let chunks_b = b.chunks_exact(8);
    let tail_a = chunks_a.remainder();
    let tail_b = chunks_b.remainder();
    for (x, y) in chunks_a.zip(chunks_b) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in tail_a.iter().zip(tail_b) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// `1 / |v|` (0 for a zero vector, which validation keeps out of the indexes).
#[inline]
pub fn inverse_norm(v: &[f32]) -> f32 {
    let n = dot(v, v).sqrt();
    if n > 0.0 { 1.0 / n } else { 0.0 }
}

/// Cosine distance between a query already scaled to unit length and a
/// stored vector with its precomputed inverse norm; clamped to `[0, 2]`
/// (rounding can push 1 − cos a hair outside).
#[inline]
pub fn cosine_distance_unit(unit_query: &[f32], stored: &[f32], stored_inverse_norm: f32) -> f32 {
    (1.0 - dot(unit_query, stored) * stored_inverse_norm).clamp(0.0, 2.0)
}

/// Cosine distance (1 − cos) of two arbitrary non-zero vectors.
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f32 {
    let unit = normalized(a);
    cosine_distance_unit(&unit, b, inverse_norm(b))
}

/// `v / |v|`.
pub fn normalized(v: &[f32]) -> Vec<f32> {
    let inv = inverse_norm(v);
    v.iter().map(|x| x * inv).collect()
}

/// Sorts hits the way every backend answers: ascending distance, then key.
pub(crate) fn sort_hits(hits: &mut [Hit]) {
    hits.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.key.cmp(&b.key)));
}

/// Keeps the `k` best hits (ascending distance, then key) in a small sorted
/// buffer; `k` is small (1 for ingest), so insertion beats a heap.
pub(crate) struct TopK {
    k: usize,
    hits: Vec<Hit>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        TopK {
            k,
            hits: Vec::with_capacity(k.min(1024) + 1),
        }
    }

    /// The distance a new hit must beat (or tie) to enter.
    #[inline]
    pub(crate) fn bound(&self) -> f32 {
        if self.hits.len() < self.k {
            f32::INFINITY
        } else {
            self.hits.last().map_or(f32::INFINITY, |h| h.distance)
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, hit: Hit) {
        if self.k == 0 {
            return;
        }
        let before = |h: &Hit| (h.distance, h.key) < (hit.distance, hit.key);
        let at = self.hits.partition_point(before);
        if at >= self.k {
            return;
        }
        self.hits.insert(at, hit);
        self.hits.truncate(self.k);
    }

    pub(crate) fn into_sorted(self) -> Vec<Hit> {
        self.hits
    }
}

/// Builds the configured backend, empty.
pub fn new_index(
    options: &IndexOptions,
    dimensions: usize,
) -> Result<Box<dyn VectorIndex>, IndexError> {
    options.validate()?;
    if dimensions == 0 {
        return Err(IndexError::Parameter(
            "an index needs at least one dimension".into(),
        ));
    }
    Ok(match options.backend {
        Backend::Exact => Box::new(exact::ExactIndex::new(dimensions)),
        Backend::Hnsw => Box::new(hnsw::HnswIndex::new(dimensions, options.hnsw)?),
        Backend::Adaptive => Box::new(adaptive::AdaptiveIndex::new(dimensions, *options)),
        #[cfg(feature = "hora")]
        Backend::Hora => Box::new(hora::HoraIndex::new(dimensions, options.hnsw)),
        #[cfg(not(feature = "hora"))]
        Backend::Hora => {
            return Err(IndexError::Parameter(
                "the hora backend needs the `hora` cargo feature".into(),
            ));
        }
    })
}

/// Restores an index saved with [`VectorIndex::to_bytes`] for the configured
/// backend. Only graph backends save anything.
pub fn restore_index(
    options: &IndexOptions,
    dimensions: usize,
    bytes: &[u8],
) -> Result<Box<dyn VectorIndex>, IndexError> {
    options.validate()?;
    match options.backend {
        Backend::Hnsw => Ok(Box::new(hnsw::HnswIndex::from_bytes(
            bytes,
            dimensions,
            options.hnsw,
        )?)),
        Backend::Adaptive => Ok(Box::new(adaptive::AdaptiveIndex::from_hnsw(
            hnsw::HnswIndex::from_bytes(bytes, dimensions, options.hnsw)?,
            *options,
        ))),
        Backend::Exact | Backend::Hora => Err(IndexError::Parameter(
            "this backend is rebuilt from records, not restored".into(),
        )),
    }
}

/// Codes `vector` as i8 (stored as bytes) on a symmetric per-vector scale:
/// its largest component maps to ±127. Returns the scale (a component is
/// code × scale); 1 for a zero vector, whose codes are all zero.
pub(crate) fn symmetric_i8(vector: &[f32], codes: &mut [u8]) -> f32 {
    let largest = vector.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = match largest > 0.0 && largest.is_finite() {
        true => largest / 127.0,
        false => 1.0,
    };
    for (code, x) in codes.iter_mut().zip(vector) {
        *code = ((x / scale).round().clamp(-127.0, 127.0) as i8) as u8;
    }
    scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_sum_for_odd_lengths() {
        for n in [1usize, 7, 8, 9, 17, 64, 383] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - naive).abs() < 1e-4, "n={n}");
        }
    }

    #[test]
    fn validation_rejects_bad_vectors_without_panicking() {
        assert_eq!(
            validate_vector(&[1.0, 2.0], 3),
            Err(IndexError::Dimension {
                expected: 3,
                got: 2
            })
        );
        assert_eq!(
            validate_vector(&[1.0, f32::NAN, 0.0], 3),
            Err(IndexError::NonFinite { position: 1 })
        );
        assert_eq!(
            validate_vector(&[0.0, 0.0, 0.0], 3),
            Err(IndexError::ZeroVector)
        );
        assert_eq!(
            validate_vector(&[f32::MAX, f32::MAX, 0.0], 3),
            Err(IndexError::ZeroVector)
        );
        assert!(validate_vector(&[0.0, 3.0, 4.0], 3).is_ok());
        assert!(validate_radius(f32::NAN).is_err());
        assert!(validate_radius(-0.1).is_err());
        assert!(validate_radius(f32::INFINITY).is_ok());
    }

    #[test]
    fn cosine_distance_of_known_pairs() {
        assert!(cosine_distance(&[1.0, 0.0], &[2.0, 0.0]).abs() < 1e-6);
        assert!((cosine_distance(&[1.0, 0.0], &[0.0, 5.0]) - 1.0).abs() < 1e-6);
        assert!((cosine_distance(&[1.0, 0.0], &[-1.0, 0.0]) - 2.0).abs() < 1e-6);
    }

    #[test]
    fn top_k_orders_by_distance_then_key() {
        let mut top = TopK::new(2);
        for (key, distance) in [(5, 0.3), (1, 0.1), (9, 0.1), (2, 0.05), (3, 0.5)] {
            top.push(Hit { key, distance });
        }
        let keys: Vec<Key> = top.into_sorted().iter().map(|h| h.key).collect();
        assert_eq!(keys, vec![2, 1]);
        let mut none = TopK::new(0);
        none.push(Hit {
            key: 1,
            distance: 0.0,
        });
        assert!(none.into_sorted().is_empty());
    }
}
