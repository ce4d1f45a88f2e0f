//! A read-only copy of an HNSW graph, laid out for searching.
//!
//! usearch keeps a node's links and its vector apart (the vector behind a
//! pointer table), and its dense index does not prefetch: at 1M × 64 a
//! search waits on memory for one neighbour after another (see
//! `benches/README.md`, "Where a search's time goes"). [`FlatGraph`] holds
//! the same graph — built by usearch: same nodes, links and vectors — as one
//! array of 64-byte-aligned node records, each the node's vector as 8-bit
//! codes followed by its level-0 links. A search asks for every unvisited
//! neighbour's codes at once (software prefetch) before scoring any of them,
//! so their cache misses overlap instead of queueing. The links above level
//! 0 (a few percent of the nodes) sit in a map.
//!
//! Why codes: at 1M nodes the walk is bound by how many cache misses can be
//! in flight, and a 64-dimension f16 vector spans two lines, its codes one.
//! Each vector is scaled on its own so that its largest component is ±127;
//! cosine ignores scale, so the codes rank nodes without a stored factor.
//! The walk only proposes candidates: the graph's own vectors are kept
//! apart, and [`FlatGraph::vector`] gives them for exact rescoring.
//!
//! The walk is HNSW's search, as usearch runs it: a greedy descent through
//! the upper levels, then a best-first search of level 0 that keeps the
//! `expansion` (ef) best nodes. Nodes the caller does not want returned
//! (removed records) still guide the walk, as in usearch's filtered search.
//!
//! It is a copy: what changes in the graph after it was taken is for the
//! caller to account for (see `hnsw`).

use super::graph_file::GraphView;
use super::hnsw::{graph_scalar_width, is_tombstone};
use super::{IndexError, Key, Quantization};
use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};

/// Node records are aligned and padded to cache lines.
const LINE: usize = 64;
/// An unused link place in a record.
const NO_LINK: u32 = u32::MAX;

/// `(Σ query[i]·codes[i], Σ codes[i]²)`, `codes` as i8: the norm comes with
/// the dot product at no extra memory traffic.
type CodeKernel = fn(&[f32], &[u8]) -> (f32, f32);

pub struct FlatGraph {
    dimensions: usize,
    quantization: Quantization,
    /// Bytes per node record (a multiple of [`LINE`]).
    stride: usize,
    /// Link places per record (usearch's level-0 capacity), after the
    /// `dimensions` code bytes.
    base_links: usize,
    /// The records start at `records[first..]`, on a line boundary.
    records: Vec<u8>,
    first: usize,
    /// Bytes of one vector in the graph's scalar layout.
    vector_bytes: usize,
    /// The graph's vectors, slot after slot (read for rescoring only).
    vectors: Vec<u8>,
    keys: Vec<Key>,
    /// Bit per slot: a removed record (tombstone), never returned.
    hidden: Vec<u64>,
    /// Per node above level 0: for level 1, 2, … its link count, then links.
    upper: HashMap<u32, Box<[u32]>>,
    entry: Option<u32>,
    max_level: usize,
    dot: CodeKernel,
}

fn damaged(what: &str) -> IndexError {
    IndexError::Backend(format!("graph copy: {what}"))
}

impl FlatGraph {
    /// Copies a buffer from usearch's `save_to_buffer` (checked: a damaged
    /// buffer is an error, never a panic).
    pub fn from_usearch(
        usearch: &[u8],
        dimensions: usize,
        quantization: Quantization,
    ) -> Result<Self, IndexError> {
        Self::from_usearch_in_pages(usearch, dimensions, quantization, true)
    }

    /// [`FlatGraph::from_usearch`], choosing whether the records ask for
    /// huge pages (Linux): a search touches a few thousand records spread
    /// over hundreds of megabytes, and with 4 KiB pages nearly each one
    /// also misses the TLB. Unlike usearch's arenas (`index::memory`), this
    /// is one buffer of our own, advised before it is first written.
    pub fn from_usearch_in_pages(
        usearch: &[u8],
        dimensions: usize,
        quantization: Quantization,
        huge_pages: bool,
    ) -> Result<Self, IndexError> {
        let view = GraphView::read(usearch)?;
        let vector_bytes = dimensions * graph_scalar_width(quantization);
        if view.columns() != vector_bytes {
            return Err(damaged("vector width differs from the index's"));
        }
        let size = view.size();
        if size >= NO_LINK as usize {
            return Err(damaged("too many nodes"));
        }
        let base_links = view.base_capacity();
        let stride = (dimensions + 4 * base_links).div_ceil(LINE).max(1) * LINE;
        let mut records = vec![0u8; size * stride + LINE];
        let first = records.as_ptr().align_offset(LINE).min(LINE);
        let mut vectors = vec![0u8; size * vector_bytes];
        if huge_pages {
            super::memory::advise_huge_pages_for(&records);
            super::memory::advise_huge_pages_for(&vectors);
        }
        let mut keys = Vec::with_capacity(size);
        let mut hidden = vec![0u64; size.div_ceil(64)];
        let mut upper = HashMap::new();
        let mut links = Vec::with_capacity(base_links);
        let mut vector = vec![0.0; dimensions];
        let bytes = &mut records[first..first + size * stride];
        let places = bytes
            .chunks_exact_mut(stride)
            .zip(vectors.chunks_exact_mut(vector_bytes));
        for (slot, (record, exact)) in places.enumerate() {
            let stored = view.vector(slot);
            exact.copy_from_slice(stored);
            decode(stored, quantization, &mut vector);
            super::symmetric_i8(&vector, &mut record[..dimensions]);
            view.neighbours(slot, 0, &mut links)?;
            let places = record[dimensions..dimensions + 4 * base_links].chunks_exact_mut(4);
            for (i, place) in places.enumerate() {
                let link = links.get(i).copied().unwrap_or(NO_LINK);
                place.copy_from_slice(&link.to_le_bytes());
            }
            keys.push(view.key(slot));
            if is_tombstone(view.key(slot)) {
                hidden[slot / 64] |= 1 << (slot % 64);
            }
            if view.level(slot) > 0 {
                let mut lists = Vec::new();
                for level in 1..=view.level(slot) {
                    view.neighbours(slot, level, &mut links)?;
                    lists.push(links.len() as u32);
                    lists.extend_from_slice(&links);
                }
                upper.insert(slot as u32, lists.into_boxed_slice());
            }
        }
        Ok(FlatGraph {
            dimensions,
            quantization,
            stride,
            base_links,
            records,
            first,
            vector_bytes,
            vectors,
            keys,
            hidden,
            upper,
            entry: view.entry()?.map(|e| e as u32),
            max_level: view.max_level(),
            dot: code_kernel(),
        })
    }

    /// Nodes, removed records included.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Bytes held (records, vectors, keys and upper links).
    pub fn memory_bytes(&self) -> usize {
        let upper: usize = self.upper.values().map(|l| 4 * l.len() + 16).sum();
        self.records.len()
            + self.vectors.len()
            + self.keys.len() * 8
            + self.hidden.len() * 8
            + upper
    }

    pub fn key(&self, slot: u32) -> Key {
        self.keys[slot as usize]
    }

    /// `slot`'s vector as f32 (exactly what usearch's `get` reads back).
    pub fn vector(&self, slot: u32, out: &mut [f32]) {
        decode(self.exact(slot), self.quantization, out);
    }

    fn exact(&self, slot: u32) -> &[u8] {
        let start = slot as usize * self.vector_bytes;
        &self.vectors[start..start + self.vector_bytes]
    }

    fn record(&self, slot: u32) -> &[u8] {
        let start = self.first + slot as usize * self.stride;
        &self.records[start..start + self.stride]
    }

    fn codes(&self, slot: u32) -> &[u8] {
        &self.record(slot)[..self.dimensions]
    }

    fn base_links(&self, slot: u32) -> &[u8] {
        &self.record(slot)[self.dimensions..self.dimensions + 4 * self.base_links]
    }

    fn upper_links(&self, slot: u32, level: usize) -> &[u32] {
        let Some(lists) = self.upper.get(&slot) else {
            return &[];
        };
        let mut at = 0;
        for _ in 1..level {
            at += 1 + lists.get(at).map_or(0, |&n| n as usize);
        }
        let count = lists.get(at).map_or(0, |&n| n as usize);
        lists.get(at + 1..at + 1 + count).unwrap_or(&[])
    }

    /// The walk's distance: 1 − cos of the query (unit length) and the
    /// node's codes. Only ranks nodes; the caller rescores what it returns.
    fn distance(&self, query: &[f32], slot: u32) -> f32 {
        let (dot, squared_norm) = (self.dot)(query, self.codes(slot));
        match squared_norm > 0.0 {
            true => 1.0 - dot / squared_norm.sqrt(),
            false => 1.0,
        }
    }

    /// The (at most) `count` nodes the walk finds nearest `unit_query`, best
    /// first, keeping `expansion` (ef) nodes while it walks. Removed records
    /// (tombstones) and nodes whose key `returnable` rejects guide the walk
    /// but are not returned.
    pub fn search(
        &self,
        unit_query: &[f32],
        count: usize,
        expansion: usize,
        returnable: Option<&dyn Fn(Key) -> bool>,
    ) -> Vec<u32> {
        let Some(entry) = self.entry else {
            return Vec::new();
        };
        if unit_query.len() != self.dimensions || count == 0 {
            return Vec::new();
        }
        let (start, start_distance) = self.descend(unit_query, entry);
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            scratch.prepare(self.len());
            self.walk_base(
                unit_query,
                Scored::new(start_distance, start),
                expansion.max(count),
                returnable,
                &mut scratch,
            );
            let mut best = std::mem::take(&mut scratch.results).into_sorted_vec();
            best.truncate(count);
            // The caller rescores these: their vectors' misses overlap.
            for s in &best {
                prefetch(self.exact(s.slot));
            }
            let slots = best.iter().map(|s| s.slot).collect();
            scratch.results = BinaryHeap::from(best);
            slots
        })
    }

    /// Greedy descent from the entry through the upper levels.
    fn descend(&self, query: &[f32], entry: u32) -> (u32, f32) {
        let mut current = entry;
        let mut best = self.distance(query, current);
        for level in (1..=self.max_level).rev() {
            loop {
                let mut moved = false;
                // As on level 0: all the misses at once, then the scores.
                for &next in self.upper_links(current, level) {
                    prefetch(self.codes(next));
                }
                for &next in self.upper_links(current, level) {
                    let distance = self.distance(query, next);
                    if distance < best {
                        (best, current, moved) = (distance, next, true);
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        (current, best)
    }

    /// Best-first search of level 0; leaves the best `limit` returnable
    /// nodes in `scratch.results`.
    fn walk_base(
        &self,
        query: &[f32],
        start: Scored,
        limit: usize,
        returnable: Option<&dyn Fn(Key) -> bool>,
        scratch: &mut Scratch,
    ) {
        let wanted = |slot: u32| {
            self.hidden[slot as usize / 64] & (1 << (slot % 64)) == 0
                && returnable.is_none_or(|f| f(self.keys[slot as usize]))
        };
        let Scratch {
            visited,
            candidates,
            results,
            fresh,
        } = scratch;
        visited.insert(start.slot);
        candidates.push(Reverse(start));
        if wanted(start.slot) {
            results.push(start);
        }
        while let Some(Reverse(candidate)) = candidates.pop() {
            let worst = results.peek().map_or(f32::INFINITY, |s| s.distance);
            if results.len() >= limit && candidate.distance > worst {
                break;
            }
            fresh.clear();
            for link in self.base_links(candidate.slot).chunks_exact(4) {
                let next = u32::from_le_bytes([link[0], link[1], link[2], link[3]]);
                if next == NO_LINK {
                    break;
                }
                if visited.insert(next) {
                    prefetch(self.codes(next));
                    fresh.push(next);
                }
            }
            // The node expanded next most likely: its links are not in the
            // lines its vector's distance brought in.
            if let Some(Reverse(next)) = candidates.peek() {
                prefetch(self.base_links(next.slot));
            }
            for &next in fresh.iter() {
                let distance = self.distance(query, next);
                let worst = results.peek().map_or(f32::INFINITY, |s| s.distance);
                if results.len() < limit || distance < worst {
                    candidates.push(Reverse(Scored::new(distance, next)));
                    if wanted(next) {
                        results.push(Scored::new(distance, next));
                        if results.len() > limit {
                            results.pop();
                        }
                    }
                }
            }
        }
    }
}

/// A node and its walk distance, ordered by distance, then slot.
#[derive(Clone, Copy, Debug)]
struct Scored {
    distance: f32,
    slot: u32,
}

impl Scored {
    fn new(distance: f32, slot: u32) -> Self {
        Scored { distance, slot }
    }
}

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Scored {}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.distance
            .total_cmp(&other.distance)
            .then(self.slot.cmp(&other.slot))
    }
}

/// A search's working memory, kept per thread between searches.
#[derive(Default)]
struct Scratch {
    visited: Visited,
    candidates: BinaryHeap<Reverse<Scored>>,
    results: BinaryHeap<Scored>,
    fresh: Vec<u32>,
}

impl Scratch {
    fn prepare(&mut self, nodes: usize) {
        self.visited.prepare(nodes);
        self.candidates.clear();
        self.results.clear();
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// A bitmap over the slots; cleared word by word through the words it set
/// (a search visits a few thousand nodes, the bitmap spans all of them).
#[derive(Default)]
struct Visited {
    words: Vec<u64>,
    touched: Vec<u32>,
}

impl Visited {
    fn prepare(&mut self, nodes: usize) {
        for &word in &self.touched {
            self.words[word as usize] = 0;
        }
        self.touched.clear();
        let words = nodes.div_ceil(64);
        if self.words.len() < words {
            self.words.resize(words, 0);
        }
    }

    /// Marks `slot`; whether it was unmarked.
    fn insert(&mut self, slot: u32) -> bool {
        let (word, bit) = ((slot / 64) as usize, 1u64 << (slot % 64));
        let Some(bits) = self.words.get_mut(word) else {
            return false;
        };
        if *bits & bit != 0 {
            return false;
        }
        if *bits == 0 {
            self.touched.push(word as u32);
        }
        *bits |= bit;
        true
    }
}

/// Asks for `bytes`' cache lines (a hint: never faults).
#[inline(always)]
#[allow(unsafe_code)]
fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(LINE) {
        // SAFETY: a prefetch is a hint on an address inside a live slice.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast::<i8>(),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// A vector in the graph's scalar layout as f32.
fn decode(stored: &[u8], quantization: Quantization, out: &mut [f32]) {
    match quantization {
        Quantization::F32 => {
            for (x, b) in out.iter_mut().zip(stored.chunks_exact(4)) {
                *x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        Quantization::F16 => {
            for (x, b) in out.iter_mut().zip(stored.chunks_exact(2)) {
                *x = half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
            }
        }
    }
}

/// The fastest code kernel this CPU runs. (No AVX-512 kernel: its
/// intrinsics need Rust 1.89, the project supports 1.85; the walk waits on
/// memory far more than on arithmetic.)
fn code_kernel() -> CodeKernel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return simd::dot_codes_avx2;
        }
    }
    dot_codes
}

fn dot_codes(query: &[f32], codes: &[u8]) -> (f32, f32) {
    query
        .iter()
        .zip(codes)
        .fold((0.0, 0.0), |(dot, norm), (q, &code)| {
            let v = f32::from(code as i8);
            (dot + q * v, norm + v * v)
        })
}

/// SIMD needs `unsafe`: each kernel is only picked where the CPU has the
/// features it was compiled for, and its loads stay inside the slices.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod simd {
    use super::dot_codes;
    use std::arch::x86_64::*;

    /// Only chosen where `avx2` and `fma` were detected.
    pub(super) fn dot_codes_avx2(query: &[f32], codes: &[u8]) -> (f32, f32) {
        // SAFETY: the CPU has AVX2 and FMA (checked before it is picked).
        unsafe { dot_codes_avx2_unchecked(query, codes) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_codes_avx2_unchecked(query: &[f32], codes: &[u8]) -> (f32, f32) {
        let n = query.len().min(codes.len());
        let (mut acc, mut norms) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: i + 8 <= n keeps the 8-lane and 8-byte loads inside
            // the slices.
            let (q, eight) = unsafe {
                (
                    _mm256_loadu_ps(query.as_ptr().add(i)),
                    _mm_loadl_epi64(codes.as_ptr().add(i).cast()),
                )
            };
            let v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(eight));
            acc = _mm256_fmadd_ps(q, v, acc);
            norms = _mm256_fmadd_ps(v, v, norms);
            i += 8;
        }
        let (dot, norm) = dot_codes(&query[i..n], &codes[i..n]);
        (dot + sum_lanes(acc), norm + sum_lanes(norms))
    }

    #[target_feature(enable = "avx2")]
    fn sum_lanes(lanes: __m256) -> f32 {
        let pairs = _mm_add_ps(
            _mm256_castps256_ps128(lanes),
            _mm256_extractf128_ps(lanes, 1),
        );
        let pairs = _mm_add_ps(pairs, _mm_movehl_ps(pairs, pairs));
        _mm_cvtss_f32(_mm_add_ss(pairs, _mm_shuffle_ps(pairs, pairs, 1)))
    }
}

#[cfg(test)]
mod tests;
