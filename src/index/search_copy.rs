//! Keeps a graph's [`FlatGraph`] copy usable while the graph changes.
//!
//! The copy is taken from usearch's serialized graph (at load, after a
//! re-layout or compaction, and by the store's indexer when it has fallen
//! behind). Changes made to the graph since are kept beside it: vectors
//! added since are searched by exact scan, keys removed since are dropped
//! from the copy's answers. A copy that falls too far behind is dropped and
//! searches go to usearch until the indexer has taken a new one.
//!
//! A refresh takes the graph's bytes (under the graph's exclusive lock, so no
//! change is half-made), then builds the copy with no lock held; changes
//! made meanwhile are logged and replayed onto the new copy when it is put
//! in place.

use super::exact::ExactIndex;
use super::flat_graph::FlatGraph;
use super::hnsw::is_tombstone;
use super::{
    Hit, IndexError, Key, SearchRequest, VectorIndex, cosine_distance_unit, inverse_norm,
    normalized, sort_hits,
};
use std::collections::HashSet;
use std::sync::Arc;

/// Graphs of at least this many nodes get a copy; smaller ones fit the
/// caches, where usearch's own walk is as fast. Tests copy small graphs.
pub const COPY_FROM: usize = if cfg!(test) { 64 } else { 16_384 };

/// Changes since the copy was taken before the indexer takes a new one.
/// Searches scan the vectors added since exactly, so this bounds that scan
/// (~1,000 vectors at 1M nodes: a few µs at 64 dimensions).
fn refresh_after(nodes: usize) -> usize {
    let least = if cfg!(test) { 8 } else { 256 };
    (nodes / 1024).max(least)
}

/// Changes since the copy was taken past which it is dropped.
fn drop_after(nodes: usize) -> usize {
    4 * refresh_after(nodes)
}

enum Change {
    Added(Key, Vec<f32>),
    Removed(Key),
}

pub(crate) struct SearchCopy {
    enabled: bool,
    dimensions: usize,
    flat: Option<Arc<FlatGraph>>,
    /// Vectors added to the graph since `flat` was taken.
    added: ExactIndex,
    /// Keys removed from the graph since `flat` was taken.
    removed: HashSet<Key>,
    /// Changes since a refresh took the graph's bytes (`None`: no refresh
    /// under way, or it fell too far behind and will not be put in place).
    pending: Option<Vec<Change>>,
}

impl SearchCopy {
    pub(crate) fn new(dimensions: usize, enabled: bool) -> Self {
        SearchCopy {
            enabled,
            dimensions,
            flat: None,
            added: ExactIndex::new(dimensions),
            removed: HashSet::new(),
            pending: None,
        }
    }

    fn changes(&self) -> usize {
        self.added.len() + self.removed.len()
    }

    /// Whether a graph of `nodes` nodes should have a copy taken now.
    pub(crate) fn wanted(&self, nodes: usize) -> bool {
        self.enabled
            && nodes >= COPY_FROM
            && self.pending.is_none()
            && (self.flat.is_none() || self.changes() >= refresh_after(nodes))
    }

    /// Whether a graph of `nodes` nodes gets a copy as soon as it is loaded.
    pub(crate) fn wanted_at_load(&self, nodes: usize) -> bool {
        self.enabled && nodes >= COPY_FROM
    }

    /// Whether a refresh has taken the graph's bytes and is building its copy.
    pub(crate) fn is_refreshing(&self) -> bool {
        self.pending.is_some()
    }

    pub(crate) fn is_current(&self) -> bool {
        self.flat.is_some()
    }

    /// Bytes the copy holds (0 without one).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.flat.as_ref().map_or(0, |flat| flat.memory_bytes())
    }

    fn drop_copy(&mut self) {
        self.flat = None;
        self.added = ExactIndex::new(self.dimensions);
        self.removed.clear();
    }

    fn log(&mut self, change: Change, nodes: usize) {
        if let Some(log) = self.pending.as_mut() {
            if log.len() >= drop_after(nodes) {
                self.pending = None;
            } else {
                log.push(change);
            }
        }
    }

    /// Records that the graph (now `nodes` nodes) took `key`'s vector.
    pub(crate) fn note_added(&mut self, key: Key, vector: &[f32], nodes: usize) {
        if self.pending.is_some() {
            self.log(Change::Added(key, vector.to_vec()), nodes);
        }
        self.apply_added(key, vector, nodes);
    }

    fn apply_added(&mut self, key: Key, vector: &[f32], nodes: usize) {
        if self.flat.is_none() {
            return;
        }
        if self.changes() >= drop_after(nodes) || self.added.add(key, vector).is_err() {
            self.drop_copy();
        }
    }

    /// Records that the graph (`nodes` nodes) no longer answers with `key`.
    pub(crate) fn note_removed(&mut self, key: Key, nodes: usize) {
        self.log(Change::Removed(key), nodes);
        self.apply_removed(key, nodes);
    }

    fn apply_removed(&mut self, key: Key, nodes: usize) {
        if self.flat.is_none() {
            return;
        }
        if self.changes() >= drop_after(nodes) {
            self.drop_copy();
            return;
        }
        // A key re-added since the copy was taken is in both: the copy's
        // node stays hidden, the re-added vector goes.
        let _ = self.added.remove(key);
        self.removed.insert(key);
    }

    /// A refresh has taken the graph's bytes: log changes from now on.
    pub(crate) fn begin_refresh(&mut self) {
        self.pending = Some(Vec::new());
    }

    /// Puts in place the copy made from the bytes taken at
    /// [`SearchCopy::begin_refresh`], with the changes since replayed.
    /// `false` when it fell too far behind (searches keep what they had).
    pub(crate) fn finish_refresh(&mut self, flat: FlatGraph, nodes: usize) -> bool {
        let Some(log) = self.pending.take() else {
            return false;
        };
        self.replace(flat);
        for change in log {
            match change {
                Change::Added(key, vector) => self.apply_added(key, &vector, nodes),
                Change::Removed(key) => self.apply_removed(key, nodes),
            }
        }
        self.flat.is_some()
    }

    /// A refresh could not make its copy: stop logging for it.
    pub(crate) fn finish_refresh_failed(&mut self) {
        self.pending = None;
    }

    /// Puts in place a copy of the graph as it is now.
    pub(crate) fn replace(&mut self, flat: FlatGraph) {
        self.drop_copy();
        self.flat = Some(Arc::new(flat));
    }

    /// Answers `request` from the copy and the vectors added since, with
    /// exact distances; `None` without a copy. `count` candidates are taken
    /// from the walk with `expansion` (ef), as from usearch.
    pub(crate) fn search(
        &self,
        query: &[f32],
        request: &SearchRequest,
        count: usize,
        expansion: usize,
    ) -> Result<Option<Vec<Hit>>, IndexError> {
        let Some(flat) = self.flat.as_ref() else {
            return Ok(None);
        };
        let unit = normalized(query);
        let mut slots = flat.search(&unit, count, expansion, None);
        let wanted = request.k + usize::from(request.exclude.is_some());
        if !self.removed.is_empty() {
            let live = |key: Key| !self.removed.contains(&key);
            let before = slots.len();
            slots.retain(|&slot| live(flat.key(slot)));
            if slots.len() < before && slots.len() < wanted {
                // Records removed since the copy took the places: walk again,
                // passing over them (slower: a key lookup per candidate).
                slots = flat.search(&unit, count, expansion, Some(&live));
            }
        }
        let mut buffer = vec![0.0f32; self.dimensions];
        let mut hits = Vec::with_capacity(slots.len() + request.k);
        for slot in slots {
            let key = flat.key(slot);
            if Some(key) == request.exclude || is_tombstone(key) {
                continue;
            }
            flat.vector(slot, &mut buffer);
            let distance = cosine_distance_unit(&unit, &buffer, inverse_norm(&buffer));
            if distance <= request.radius {
                hits.push(Hit { key, distance });
            }
        }
        if !self.added.is_empty() {
            hits.extend(self.added.search(query, request)?);
        }
        sort_hits(&mut hits);
        hits.dedup_by_key(|hit| hit.key);
        hits.truncate(request.k);
        Ok(Some(hits))
    }
}
