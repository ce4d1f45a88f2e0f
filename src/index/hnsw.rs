//! HNSW graph from `usearch` (cosine metric).
//!
//! The graph only proposes candidates: `max(k (+1 if excluding), candidates)`
//! keys are fetched, each candidate's vector is read back and its distance
//! recomputed with [`cosine_distance_unit`], then the radius, the exclusion and
//! `k` are applied. With [`Quantization::F16`] the graph holds f16 values; the
//! store feeds it vectors that are already f16-exact, so the read-back is
//! lossless and distances equal the exact backend's.
//!
//! usearch runs calls concurrently, each on one of a fixed number of
//! per-thread contexts reserved up front; a call that finds none free fails.
//! [`Graph`] therefore hands out contexts through a semaphore (callers wait
//! instead of failing). Searches run together, and bulk adds run together;
//! an add beside searches, growing capacity, removing and serializing take
//! the graph exclusively. A [`GraphHandle`] lets the store's background
//! indexer add to a graph without holding the project's lock (see
//! `store::indexer`).
//!
//! Removing a key does not call usearch's `remove`: usearch hands a removed
//! slot to the next add, which re-links that node in place and drops the
//! links that other nodes were reached through (measured: in a 57-node graph
//! of clustered vectors, every add after three removes left three live
//! records that no search could reach). A removed key is instead renamed to a
//! *tombstone* key ([`TOMBSTONE_BIT`] set): the node stays a waypoint with
//! its links, searches filter it out, and it is never reused. Tombstones are
//! dropped when the graph is rebuilt (see [`HnswIndex::tombstones`]).
//!
//! Graphs of 16,384 nodes or more are searched through a copy laid out for
//! the walk ([`super::flat_graph`], kept current by [`super::search_copy`]);
//! usearch's own search serves smaller graphs and graphs whose copy fell
//! behind.

use super::flat_graph::FlatGraph;
use super::search_copy::SearchCopy;
use super::{
    Backend, Hit, HnswParams, IndexError, Key, Quantization, SearchRequest, VectorIndex,
    cosine_distance_unit, inverse_norm, normalized, validate_radius, validate_vector,
};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

/// Concurrent usearch calls per graph. Each context costs a visited-set of
/// `capacity / 8` bytes, so this stays modest; callers beyond it wait.
const THREAD_CONTEXTS: usize = 16;

/// Graphs smaller than this stay in 4 KiB pages (they fit the caches).
const HUGE_PAGES_FROM: usize = 16_384;

/// Set in the key of a removed node (a tombstone). Record ids come from
/// sled's monotonic id generator and never reach it; adding such a key is
/// refused. The other bits number the graph's tombstones in order, so a key
/// removed, added again and removed again still gets a unique tombstone.
pub const TOMBSTONE_BIT: Key = 1 << 63;
/// Also set in the tombstone of a slot that a graph saved by an earlier
/// version had left free (it is named by its slot number instead).
const FREE_SLOT_BIT: Key = 1 << 62;

/// Whether `key` names a removed node.
pub fn is_tombstone(key: Key) -> bool {
    key & TOMBSTONE_BIT != 0
}

/// The tombstone key usearch's free slot number `slot` is loaded under.
pub fn free_slot_tombstone(slot: u64) -> Key {
    TOMBSTONE_BIT | FREE_SLOT_BIT | slot
}

pub struct HnswIndex {
    dimensions: usize,
    params: HnswParams,
    graph: Arc<Graph>,
}

/// A shared handle on one graph (cheap to clone).
#[derive(Clone)]
pub struct GraphHandle(Arc<Graph>);

pub struct Graph {
    index: Index,
    dimensions: usize,
    /// Shared: adds and searches. Exclusive: reserve, remove, save.
    structure: RwLock<()>,
    contexts: Semaphore,
    /// Removed nodes still in the graph (changed only under the exclusive lock).
    tombstones: AtomicUsize,
    /// Number for the next tombstone key (changed only under the exclusive lock).
    next_tombstone: AtomicU64,
    huge_pages: bool,
    /// Nodes when huge pages were last asked for (see [`Graph::advise_memory`]).
    advised_at: AtomicUsize,
    quantization: Quantization,
    expansion_search: usize,
    /// The copy searches walk instead of usearch's graph (see
    /// [`super::search_copy`]); changed under the structure lock, so it
    /// always matches the graph.
    copy: RwLock<SearchCopy>,
}

/// A counting semaphore over usearch's thread contexts.
struct Semaphore {
    free: Mutex<usize>,
    released: Condvar,
}

struct Permit<'a>(&'a Semaphore);

impl Semaphore {
    fn new(permits: usize) -> Self {
        Semaphore {
            free: Mutex::new(permits),
            released: Condvar::new(),
        }
    }

    fn acquire(&self) -> Result<Permit<'_>, IndexError> {
        let mut free = self.free.lock().map_err(|_| poisoned())?;
        while *free == 0 {
            free = self.released.wait(free).map_err(|_| poisoned())?;
        }
        *free -= 1;
        Ok(Permit(self))
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Ok(mut free) = self.0.free.lock() {
            *free += 1;
            self.0.released.notify_one();
        }
    }
}

fn poisoned() -> IndexError {
    IndexError::Backend("graph lock poisoned by a panic".into())
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

/// Bytes one vector component takes inside the graph.
pub fn graph_scalar_width(quantization: Quantization) -> usize {
    match quantization {
        Quantization::F32 => 4,
        Quantization::F16 => 2,
    }
}

/// Writes `vector` as the graph stores it (usearch's little-endian scalar
/// layout), for refilling a saved graph's vectors from the records. The
/// store feeds f16-exact values, so the f16 conversion is exact.
pub fn write_graph_vector(quantization: Quantization, vector: &[f32], out: &mut [u8]) {
    let width = graph_scalar_width(quantization);
    for (x, slot) in vector.iter().zip(out.chunks_exact_mut(width)) {
        match quantization {
            Quantization::F32 => slot.copy_from_slice(&x.to_le_bytes()),
            Quantization::F16 => {
                slot.copy_from_slice(&half::f16::from_f32(*x).to_bits().to_le_bytes());
            }
        }
    }
}

impl Graph {
    fn new(dimensions: usize, params: HnswParams) -> Result<Self, IndexError> {
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
        Ok(Graph {
            index,
            dimensions,
            structure: RwLock::new(()),
            contexts: Semaphore::new(THREAD_CONTEXTS),
            tombstones: AtomicUsize::new(0),
            next_tombstone: AtomicU64::new(0),
            huge_pages: params.huge_pages,
            advised_at: AtomicUsize::new(0),
            quantization: params.quantization,
            expansion_search: params.expansion_search,
            copy: RwLock::new(SearchCopy::new(dimensions, params.search_copy)),
        })
    }

    fn copy_mut(&self) -> Result<std::sync::RwLockWriteGuard<'_, SearchCopy>, IndexError> {
        self.copy.write().map_err(|_| poisoned())
    }

    /// Takes a new search copy if the current one is missing or behind:
    /// the bytes under the exclusive lock, the copy with no lock held.
    fn refresh_copy(&self) -> Result<bool, IndexError> {
        let bytes = {
            let _exclusive = self.structure.write().map_err(|_| poisoned())?;
            if !self
                .copy
                .read()
                .map_err(|_| poisoned())?
                .wanted(self.slots())
            {
                return Ok(false);
            }
            let bytes = self.bytes_holding_lock()?;
            self.copy_mut()?.begin_refresh();
            bytes
        };
        let flat = FlatGraph::from_usearch(&bytes, self.dimensions, self.quantization);
        drop(bytes);
        let mut copy = self.copy_mut()?;
        match flat {
            Ok(flat) => Ok(copy.finish_refresh(flat, self.slots())),
            Err(error) => {
                copy.finish_refresh_failed();
                Err(error)
            }
        }
    }

    /// Asks for huge pages once the graph is large enough to miss the TLB,
    /// and again each time it has doubled (its arenas grow by doubling).
    fn advise_memory(&self) {
        let slots = self.slots();
        let advised_at = self.advised_at.load(Ordering::Relaxed);
        if !self.huge_pages || slots < HUGE_PAGES_FROM || slots < 2 * advised_at {
            return;
        }
        if self
            .advised_at
            .compare_exchange(advised_at, slots, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            let advice = super::memory::advise_huge_pages();
            tracing::debug!(slots, ?advice, "asked for huge pages");
        }
    }

    /// Live keys (tombstones are not counted).
    fn len(&self) -> usize {
        self.index.size().saturating_sub(self.tombstones())
    }

    fn tombstones(&self) -> usize {
        self.tombstones.load(Ordering::Relaxed)
    }

    /// Nodes in the graph, tombstones included.
    fn slots(&self) -> usize {
        self.index.size()
    }

    /// Grows capacity to at least `capacity` (exclusive: usearch reallocates).
    fn reserve(&self, capacity: usize) -> Result<(), IndexError> {
        let _exclusive = self.structure.write().map_err(|_| poisoned())?;
        if capacity > self.index.capacity() {
            self.index
                .reserve_capacity_and_threads(capacity, THREAD_CONTEXTS)
                .map_err(|e| backend_error(&e))?;
        }
        Ok(())
    }

    /// Adds one vector; safe to call from several threads at once. Adds do
    /// not exclude searches: callers make sure none runs, or use
    /// [`Graph::add_beside_searches`].
    fn add(&self, key: Key, vector: &[f32]) -> Result<(), IndexError> {
        self.add_holding(key, vector, false)
    }

    /// Adds one vector while searches may run. usearch allows that, but a
    /// search walking nodes that an add is re-linking can miss records that
    /// were there all along (measured: 176 of ~30,000 searches for a stored
    /// vector did not return it while another thread added). So this add
    /// takes the graph exclusively: searches wait for one add, never miss.
    fn add_beside_searches(&self, key: Key, vector: &[f32]) -> Result<(), IndexError> {
        self.add_holding(key, vector, true)
    }

    /// Adds under the shared lock, or the exclusive one when `exclusive`.
    fn add_holding(&self, key: Key, vector: &[f32], exclusive: bool) -> Result<(), IndexError> {
        validate_vector(vector, self.dimensions)?;
        if is_tombstone(key) {
            return Err(IndexError::Parameter(format!(
                "key {key} has the graph's tombstone bit set"
            )));
        }
        loop {
            {
                let _shared = match exclusive {
                    false => Some(self.structure.read().map_err(|_| poisoned())?),
                    true => None,
                };
                let _exclusive = match exclusive {
                    true => Some(self.structure.write().map_err(|_| poisoned())?),
                    false => None,
                };
                if self.index.contains(key) {
                    return Err(IndexError::DuplicateKey(key));
                }
                // Concurrent adders may race for the last free slots; the
                // margin keeps each one's slot reserved.
                if self.slots() + THREAD_CONTEXTS < self.index.capacity() {
                    let _context = self.contexts.acquire()?;
                    self.index.add(key, vector).map_err(|e| backend_error(&e))?;
                    self.copy_mut()?.note_added(key, vector, self.slots());
                    break;
                }
            }
            let target = (self.index.capacity() * 2).max(64 + THREAD_CONTEXTS);
            self.reserve(target)?;
        }
        self.advise_memory();
        Ok(())
    }

    /// Turns `key`'s node into a tombstone (see the module docs).
    fn remove(&self, key: Key) -> Result<bool, IndexError> {
        if is_tombstone(key) {
            return Ok(false);
        }
        let _exclusive = self.structure.write().map_err(|_| poisoned())?;
        if !self.index.contains(key) {
            return Ok(false);
        }
        let number = self.next_tombstone.load(Ordering::Relaxed);
        if number >= FREE_SLOT_BIT {
            return Err(IndexError::Backend(
                "graph ran out of tombstone keys".into(),
            ));
        }
        let renamed = self
            .index
            .rename(key, TOMBSTONE_BIT | number)
            .map_err(|e| backend_error(&e))?;
        if renamed > 0 {
            self.next_tombstone.store(number + 1, Ordering::Relaxed);
            self.tombstones.fetch_add(1, Ordering::Relaxed);
            self.copy_mut()?.note_removed(key, self.slots());
        }
        Ok(renamed > 0)
    }

    fn get(&self, key: Key) -> Option<Vec<f32>> {
        let _shared = self.structure.read().ok()?;
        let mut buffer = vec![0.0f32; self.dimensions];
        match self.index.get(key, &mut buffer) {
            Ok(n) if n > 0 => Some(buffer),
            _ => None,
        }
    }

    fn bytes(&self) -> Result<Vec<u8>, IndexError> {
        let _exclusive = self.structure.write().map_err(|_| poisoned())?;
        self.bytes_holding_lock()
    }

    /// [`Graph::bytes`] for a caller holding the exclusive lock.
    fn bytes_holding_lock(&self) -> Result<Vec<u8>, IndexError> {
        let mut buffer = vec![0u8; self.index.serialized_length()];
        self.index
            .save_to_buffer(&mut buffer)
            .map_err(|e| backend_error(&e))?;
        Ok(buffer)
    }

    fn search(
        &self,
        query: &[f32],
        request: &SearchRequest,
        candidates: usize,
    ) -> Result<Vec<Hit>, IndexError> {
        validate_vector(query, self.dimensions)?;
        validate_radius(request.radius)?;
        let wanted = request.k + usize::from(request.exclude.is_some());
        let count = wanted.max(candidates);
        if request.k == 0 {
            return Ok(Vec::new());
        }
        {
            let copy = self.copy.read().map_err(|_| poisoned())?;
            if let Some(hits) = copy.search(query, request, count, self.expansion_search)? {
                return Ok(hits);
            }
        }
        let _shared = self.structure.read().map_err(|_| poisoned())?;
        if self.len() == 0 {
            return Ok(Vec::new());
        }
        let matches = {
            let _context = self.contexts.acquire()?;
            let found = if self.tombstones() == 0 {
                self.index.search(query, count)
            } else {
                // Tombstones guide the walk but must not take result places.
                self.index
                    .filtered_search(query, count, |key| !is_tombstone(key))
            };
            found.map_err(|e| backend_error(&e))?
        };
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
        super::sort_hits(&mut hits);
        hits.truncate(request.k);
        Ok(hits)
    }
}

impl GraphHandle {
    /// Adds one vector without any lock of the caller's, while searches
    /// may run (the graph is taken exclusively for the add).
    pub fn add(&self, key: Key, vector: &[f32]) -> Result<(), IndexError> {
        self.0.add_beside_searches(key, vector)
    }

    pub fn remove(&self, key: Key) -> Result<bool, IndexError> {
        self.0.remove(key)
    }

    /// Whether the graph's search copy is missing or behind (a job for the
    /// store's indexer: [`GraphHandle::refresh_copy`]).
    pub fn copy_wanted(&self) -> bool {
        self.0
            .copy
            .read()
            .is_ok_and(|copy| copy.wanted(self.0.slots()))
    }

    /// Whether the indexer is building a new search copy (not
    /// [`GraphHandle::copy_wanted`] meanwhile, but not done either).
    pub fn copy_refreshing(&self) -> bool {
        self.0.copy.read().is_ok_and(|copy| copy.is_refreshing())
    }

    /// Whether searches walk a copy (see [`super::search_copy`]).
    pub fn copy_current(&self) -> bool {
        self.0.copy.read().is_ok_and(|copy| copy.is_current())
    }

    /// Bytes the search copy holds.
    pub fn copy_bytes(&self) -> usize {
        self.0.copy.read().map_or(0, |copy| copy.memory_bytes())
    }

    /// Takes a new search copy if one is wanted; `Ok(true)` when it was
    /// put in place. Searches and adds go on meanwhile (see
    /// [`super::search_copy`]).
    pub fn refresh_copy(&self) -> Result<bool, IndexError> {
        self.0.refresh_copy()
    }

    /// Whether both handles name the same graph.
    pub fn same(&self, other: &GraphHandle) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Adds many vectors from `threads` threads (bulk loads and rebuilds);
    /// keys already in the graph are skipped. Stops at the first error. The
    /// caller makes sure no search runs meanwhile (the project's write lock,
    /// or a graph nobody searches yet): see [`Graph::add_beside_searches`].
    pub fn add_parallel(&self, rows: &[(Key, Vec<f32>)], threads: usize) -> Result<(), IndexError> {
        self.0
            .reserve(self.0.slots() + rows.len() + THREAD_CONTEXTS + 64)?;
        let threads = threads.clamp(1, THREAD_CONTEXTS);
        let add_part = |part: &[(Key, Vec<f32>)]| {
            part.iter()
                .try_for_each(|(key, vector)| match self.0.add(*key, vector) {
                    Err(IndexError::DuplicateKey(_)) => Ok(()),
                    other => other,
                })
        };
        if threads == 1 || rows.len() < 256 {
            return add_part(rows);
        }
        let chunk = rows.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let workers: Vec<_> = rows
                .chunks(chunk)
                .map(|part| scope.spawn(move || add_part(part)))
                .collect();
            workers
                .into_iter()
                .try_for_each(|worker| worker.join().unwrap_or_else(|_| Err(poisoned())))
        })
    }
}

/// Threads worth using for a bulk graph build on this machine.
pub fn build_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

impl HnswIndex {
    pub fn new(dimensions: usize, params: HnswParams) -> Result<Self, IndexError> {
        Ok(HnswIndex {
            dimensions,
            params,
            graph: Arc::new(Graph::new(dimensions, params)?),
        })
    }

    /// Makes room for `capacity` vectors in total (one allocation instead of
    /// repeated doubling when loading a known number of records).
    pub fn reserve_capacity(&mut self, capacity: usize) -> Result<(), IndexError> {
        self.graph
            .reserve(capacity + self.graph.tombstones() + THREAD_CONTEXTS)
    }

    pub fn params(&self) -> HnswParams {
        self.params
    }

    pub fn handle(&self) -> GraphHandle {
        GraphHandle(Arc::clone(&self.graph))
    }

    /// The graph serialized (usearch's own format), for saving to disk.
    pub fn graph_bytes(&self) -> Result<Vec<u8>, IndexError> {
        self.graph.bytes()
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
        let index = &fresh.graph.index;
        index
            .load_from_buffer(bytes)
            .map_err(|e| backend_error(&e))?;
        if index.metric_kind() != MetricKind::Cos
            || index.scalar_kind() != scalar_kind(params.quantization)
            || index.connectivity() != params.connectivity
            || index.multi()
        {
            return Err(IndexError::Parameter(
                "saved graph was built with other metric, quantization or M".into(),
            ));
        }
        if index.size() != super::graph_file::slot_count(bytes)? {
            // usearch left slots free: a graph saved before tombstones.
            return Err(IndexError::Parameter(
                "saved graph has free slots; expand it with graph_file::Unpacked".into(),
            ));
        }
        let tombstones = super::graph_file::keys_where(bytes, is_tombstone)?;
        let next = tombstones
            .iter()
            .filter(|&&key| key & FREE_SLOT_BIT == 0)
            .map(|&key| (key & !TOMBSTONE_BIT) + 1)
            .max()
            .unwrap_or(0);
        let graph = &fresh.graph;
        graph.tombstones.store(tombstones.len(), Ordering::Relaxed);
        graph.next_tombstone.store(next, Ordering::Relaxed);
        index.change_expansion_add(params.expansion_add);
        index.change_expansion_search(params.expansion_search);
        if graph
            .copy
            .read()
            .map_err(|_| poisoned())?
            .wanted_at_load(graph.slots())
        {
            let flat = FlatGraph::from_usearch(bytes, dimensions, params.quantization)?;
            graph.copy_mut()?.replace(flat);
        }
        // Loading sizes the thread contexts for this machine; give the graph ours.
        index
            .reserve_capacity_and_threads(
                fresh.graph.slots() + THREAD_CONTEXTS + 64,
                THREAD_CONTEXTS,
            )
            .map_err(|e| backend_error(&e))?;
        fresh.graph.advise_memory();
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
        self.graph.len()
    }

    fn contains(&self, key: Key) -> bool {
        self.graph.index.contains(key)
    }

    fn add(&mut self, key: Key, vector: &[f32]) -> Result<(), IndexError> {
        self.graph.add(key, vector)
    }

    fn remove(&mut self, key: Key) -> Result<bool, IndexError> {
        self.graph.remove(key)
    }

    fn get(&self, key: Key) -> Option<Vec<f32>> {
        self.graph.get(key)
    }

    fn reserve(&mut self, additional: usize) -> Result<(), IndexError> {
        self.reserve_capacity(self.graph.len() + additional)
    }

    fn to_bytes(&self) -> Result<Option<Vec<u8>>, IndexError> {
        self.graph_bytes().map(Some)
    }

    fn graph(&self) -> Option<GraphHandle> {
        Some(self.handle())
    }

    fn tombstones(&self) -> usize {
        self.graph.tombstones()
    }

    fn search(&self, query: &[f32], request: &SearchRequest) -> Result<Vec<Hit>, IndexError> {
        self.graph.search(query, request, self.params.candidates)
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

#[cfg(test)]
mod tombstone_tests {
    use super::*;

    /// Clustered vectors: four per axis, apart by a nudge towards the next axis.
    fn clustered(i: u64) -> Vec<f32> {
        let mut v = vec![0.01f32; 16];
        v[(i % 16) as usize] = 1.0;
        v[((i + 1) % 16) as usize] += i as f32 * 0.05;
        v
    }

    fn finds_itself(graph: &HnswIndex, key: u64) -> Result<bool, IndexError> {
        let request = SearchRequest {
            k: 3,
            radius: 2.0,
            exclude: None,
        };
        let hits = graph.search(&clustered(key), &request)?;
        Ok(hits.len() == 3 && hits[0].key == key && hits.iter().all(|h| !is_tombstone(h.key)))
    }

    /// usearch's own `remove` frees the slot and the next add re-links it in
    /// place, which here cut the other records of the removed one's cluster
    /// off from every search. Tombstones keep them reachable.
    #[test]
    fn removed_nodes_stay_waypoints_and_every_live_record_is_found() -> Result<(), IndexError> {
        let mut graph = HnswIndex::new(16, HnswParams::default())?;
        for key in 0..50 {
            graph.add(key, &clustered(key))?;
        }
        for key in 0..3 {
            assert!(graph.remove(key)?);
        }
        assert!(!graph.remove(1)?, "already removed");
        for key in 50..60 {
            graph.add(key, &clustered(key))?;
        }
        for key in 3..60 {
            assert!(finds_itself(&graph, key)?, "record {key} is unreachable");
        }
        assert_eq!((graph.len(), graph.tombstones()), (57, 3));
        assert!(!graph.contains(0) && graph.get(0).is_none());

        // A key added again after its removal gets a second, distinct tombstone.
        graph.add(0, &clustered(0))?;
        assert!(graph.remove(0)?);
        assert_eq!((graph.len(), graph.tombstones()), (57, 4));
        assert!(matches!(
            graph.add(TOMBSTONE_BIT | 7, &clustered(7)),
            Err(IndexError::Parameter(_))
        ));

        // Tombstones survive serialization, and numbering carries on after it.
        let mut loaded = HnswIndex::from_bytes(&graph.graph_bytes()?, 16, HnswParams::default())?;
        assert_eq!((loaded.len(), loaded.tombstones()), (57, 4));
        assert!(loaded.remove(3)?);
        assert_eq!((loaded.len(), loaded.tombstones()), (56, 5));
        for key in 4..60 {
            assert!(
                finds_itself(&loaded, key)?,
                "record {key} is unreachable after load"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod concurrency_tests {
    use super::*;
    use crate::index::exact::ExactIndex;

    /// Searches running while the indexer adds (through a [`GraphHandle`])
    /// find every record that was already there, and the finished graph
    /// answers as the exact scan does.
    #[test]
    fn searches_beside_adds_never_miss_a_present_record() -> Result<(), IndexError> {
        let vectors: Vec<Vec<f32>> = (0..100)
            .map(|i| {
                let mut v = [0.01f32; 32];
                v[i % 32] = 1.0;
                v[(i + 1) % 32] += (i / 32) as f32 * 0.2;
                v.iter().map(|x| half::f16::from_f32(*x).to_f32()).collect()
            })
            .collect();
        let mut exact = ExactIndex::new(32);
        for (key, v) in vectors.iter().enumerate() {
            exact.add(key as u64, v)?;
        }
        let request = SearchRequest {
            k: 4,
            radius: 0.5,
            exclude: Some(3),
        };
        let mut missed = 0;
        for round in 0..30 {
            // Every third round starts empty: usearch crashed when a search
            // met a graph's very first add.
            let present = if round % 3 == 0 { 0 } else { 10 };
            let graph = HnswIndex::new(32, HnswParams::default())?;
            let handle = graph.handle();
            for (key, v) in vectors.iter().enumerate().take(present) {
                handle.add(key as u64, v)?;
            }
            let adding = vectors.clone();
            let adder = std::thread::spawn(move || -> Result<(), IndexError> {
                for (key, v) in adding.iter().enumerate().skip(present) {
                    handle.add(key as u64, v)?;
                }
                Ok(())
            });
            while !adder.is_finished() {
                for (key, v) in vectors.iter().enumerate().take(10).filter(|(k, _)| *k != 3) {
                    let hits = graph.search(v, &request)?;
                    if key < present && hits.first().map(|h| h.key) != Some(key as u64) {
                        missed += 1;
                    }
                }
            }
            adder.join().map_err(|_| poisoned())??;
            for v in &vectors {
                assert_eq!(graph.search(v, &request)?, exact.search(v, &request)?);
            }
        }
        assert_eq!(missed, 0, "searches missed a record that was in the graph");
        Ok(())
    }
}

#[cfg(test)]
mod copy_tests {
    use super::*;
    use crate::index::exact::ExactIndex;

    fn clustered(i: u64) -> Vec<f32> {
        let mut v = vec![0.01f32; 16];
        v[(i % 16) as usize] = 1.0;
        v[((i + 1) % 16) as usize] += (i % 97) as f32 * 0.01;
        normalized(&v)
            .iter()
            .map(|x| half::f16::from_f32(*x).to_f32())
            .collect()
    }

    fn assert_same_answers(graph: &HnswIndex, exact: &ExactIndex) -> Result<(), IndexError> {
        for q in 0..40 {
            let request = SearchRequest {
                k: 3,
                radius: 2.0,
                exclude: Some(q),
            };
            let query = clustered(q * 7 + 3);
            assert_eq!(
                graph.search(&query, &request)?,
                exact.search(&query, &request)?
            );
        }
        Ok(())
    }

    /// Adds and removes made while a refresh builds its copy are replayed
    /// onto it; the copy answers as the exact scan throughout.
    #[test]
    fn changes_during_a_refresh_are_replayed_onto_the_new_copy() -> Result<(), IndexError> {
        let mut graph = HnswIndex::new(16, HnswParams::default())?;
        let mut exact = ExactIndex::new(16);
        for key in 0..300 {
            graph.add(key, &clustered(key))?;
            exact.add(key, &clustered(key))?;
        }
        let handle = graph.handle();
        assert!(handle.copy_wanted() && !handle.copy_current());
        assert!(handle.refresh_copy()?);
        assert!(handle.copy_current() && !handle.copy_wanted());
        assert_same_answers(&graph, &exact)?;

        // A refresh takes the bytes; changes follow before its copy is in place.
        for key in 300..305 {
            graph.add(key, &clustered(key))?;
            exact.add(key, &clustered(key))?;
        }
        let bytes = {
            let _exclusive = graph.graph.structure.write().map_err(|_| poisoned())?;
            let bytes = graph.graph.bytes_holding_lock()?;
            graph.graph.copy_mut()?.begin_refresh();
            bytes
        };
        assert!(handle.copy_refreshing() && !handle.copy_wanted());
        for key in [1, 2, 301] {
            assert!(graph.remove(key)?);
            assert!(exact.remove(key)?);
        }
        graph.add(1, &clustered(1))?;
        exact.add(1, &clustered(1))?;
        graph.add(400, &clustered(400))?;
        exact.add(400, &clustered(400))?;
        assert_same_answers(&graph, &exact)?;
        let flat = FlatGraph::from_usearch(&bytes, 16, Quantization::F16)?;
        assert!(
            graph
                .graph
                .copy_mut()?
                .finish_refresh(flat, graph.graph.slots())
        );
        assert!(handle.copy_current() && !handle.copy_refreshing());
        assert_same_answers(&graph, &exact)?;

        // Too many changes drop the copy: searches go to usearch meanwhile.
        for key in 500..600 {
            graph.add(key, &clustered(key))?;
            exact.add(key, &clustered(key))?;
        }
        assert!(!handle.copy_current() && handle.copy_wanted());
        assert!(handle.refresh_copy()?);
        assert_same_answers(&graph, &exact)?;
        Ok(())
    }
}
