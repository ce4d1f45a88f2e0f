//! One (version, project)'s vectors in memory: its index (exact scan or
//! HNSW graph), the vectors *staged* for the graph, and the id → hash map.
//!
//! A graph insert costs far more than the durable sled write (≈ 400 µs at
//! 100k vectors with ef_construction = 200, against ≈ 280 µs for the
//! flushed write; `cargo bench --bench store -- profile-insert`). So once a
//! project is served by a graph, a single insert only *stages* its vector:
//! it is acknowledged after the sled flush, and the store's background
//! indexer ([`super::indexer`]) moves it into the graph. Staged vectors are
//! searched by exact scan next to the graph, so every acknowledged record is
//! found by the next search, exactly as before. The stage is bounded: when
//! it is full an insert adds to the graph itself (back-pressure).
//!
//! Removed records stay in the graph as tombstones (see
//! [`crate::index::hnsw`]). Once they outnumber the live records the indexer
//! *compacts* the project: it rebuilds the graph from a snapshot of the live
//! vectors without holding the project's lock, then swaps it in, replaying
//! what changed meanwhile ([`ProjectIndex::finish_compaction`]).
//!
//! The same machinery *re-lays out* a graph that has grown by an eighth
//! since it was last laid out: its nodes are renumbered in locality order
//! ([`crate::index::graph_file::in_locality_order`]), so that a search's
//! nodes share cache lines and pages. Graph adds place nodes in arrival
//! order, scattered over memory; loaded graphs are laid out at load.

use super::record_hashes::RecordHashes;
use crate::index::exact::ExactIndex;
use crate::index::graph_file::{in_locality_order, keys_where};
use crate::index::hnsw::{GraphHandle, build_threads, is_tombstone};
use crate::index::{
    Hit, IndexError, IndexOptions, Key, SearchRequest, VectorIndex, new_index, restore_index,
};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub(crate) struct ProjectIndex {
    /// `None` until the first insert (and after the project is deleted).
    pub(super) index: Option<Box<dyn VectorIndex>>,
    /// Acknowledged vectors not yet in the graph.
    staged: Option<ExactIndex>,
    /// Held while a staged vector is added to the graph outside the project
    /// lock, so that two threads never add the same key at once.
    adding: Arc<Mutex<()>>,
    /// Record id (index key) ↔ hash: the live records.
    pub(super) hashes: RecordHashes,
    /// Changed since the graph was last saved.
    pub(super) dirty: bool,
    /// Graph nodes when the graph was last laid out in locality order.
    laid_out: usize,
}

/// A graph is rebuilt once its tombstones outnumber its live records and
/// reach this many (below it, they cost less than a rebuild). Tests use a
/// handful so that their compactions run.
pub(crate) const COMPACT_AT_LEAST: usize = if cfg!(test) { 8 } else { 1024 };

/// A graph is re-laid out once it has this many nodes and has grown by an
/// eighth since its last layout (smaller graphs fit the caches).
pub(crate) const RELAYOUT_FROM: usize = if cfg!(test) { 64 } else { 16_384 };

/// What a compaction works from: the graph answering when it was taken, and
/// what is made anew from it.
pub(crate) struct CompactionSnapshot {
    pub graph: GraphHandle,
    pub dimensions: usize,
    pub work: Compaction,
}

pub(crate) enum Compaction {
    /// Tombstones outnumber live records: rebuild from the live vectors.
    Rebuild(Vec<(Key, Vec<f32>)>),
    /// The graph grew since its last layout: the same graph (usearch's
    /// serialized form), to be renumbered in locality order.
    Relayout(Vec<u8>),
}

impl CompactionSnapshot {
    /// Live keys the snapshot holds.
    fn taken(&self) -> Result<HashSet<Key>, IndexError> {
        Ok(match &self.work {
            Compaction::Rebuild(rows) => rows.iter().map(|(key, _)| *key).collect(),
            Compaction::Relayout(graph) => keys_where(graph, |key| !is_tombstone(key))?
                .into_iter()
                .collect(),
        })
    }

    /// Live records the snapshot holds (for the log).
    pub(crate) fn records(&self) -> usize {
        self.taken().map_or(0, |taken| taken.len())
    }
}

/// A staged vector handed to the indexer.
pub(crate) struct StagedVector {
    pub graph: GraphHandle,
    pub key: Key,
    pub vector: Vec<f32>,
    pub adding: Arc<Mutex<()>>,
}

impl ProjectIndex {
    pub(crate) fn new(index: Box<dyn VectorIndex>, hashes: RecordHashes, dirty: bool) -> Self {
        ProjectIndex {
            index: Some(index),
            hashes,
            dirty,
            ..ProjectIndex::default()
        }
    }

    /// Live records (indexed or staged).
    pub(crate) fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Distinct vectors held in memory, graph and stage together (what a
    /// deletion audit counts; unlike [`ProjectIndex::len`] it does not trust
    /// the id → hash map).
    pub(crate) fn held_vectors(&self) -> usize {
        let indexed = self.index.as_ref().map_or(0, |i| i.len());
        let staged_only = self.staged.as_ref().map_or(0, |staged| {
            staged
                .entries()
                .filter(|(key, _)| !self.index.as_ref().is_some_and(|i| i.contains(*key)))
                .count()
        });
        indexed + staged_only
    }

    pub(crate) fn staged_len(&self) -> usize {
        self.staged.as_ref().map_or(0, VectorIndex::len)
    }

    /// The index's answer merged with the staged vectors' (a vector the
    /// indexer is moving can be in both for a moment: counted once).
    pub(crate) fn search(
        &self,
        query: &[f32],
        request: &SearchRequest,
    ) -> Result<Vec<Hit>, IndexError> {
        let mut hits = match &self.index {
            Some(index) => index.search(query, request)?,
            None => Vec::new(),
        };
        if let Some(staged) = self.staged.as_ref().filter(|s| !s.is_empty()) {
            hits.extend(staged.search(query, request)?);
            crate::index::sort_hits(&mut hits);
            hits.dedup_by_key(|hit| hit.key);
            hits.truncate(request.k);
        }
        Ok(hits)
    }

    /// The vector held for `key`, staged or indexed.
    pub(crate) fn get(&self, key: Key) -> Option<Vec<f32>> {
        self.staged
            .as_ref()
            .and_then(|s| s.get(key))
            .or_else(|| self.index.as_ref().and_then(|i| i.get(key)))
    }

    /// Adds a vector: staged when a graph serves the project and the stage
    /// has room (`Ok(true)`: the indexer must be told), otherwise indexed now.
    pub(crate) fn add(
        &mut self,
        key: Key,
        vector: &[f32],
        options: &IndexOptions,
        dimensions: usize,
        stage_capacity: usize,
    ) -> Result<bool, IndexError> {
        let Some(index) = self.index.as_mut() else {
            let mut index = new_index(options, dimensions)?;
            index.add(key, vector)?;
            self.index = Some(index);
            return Ok(false);
        };
        if stage_capacity > 0 && index.graph().is_some() {
            let staged = self
                .staged
                .get_or_insert_with(|| ExactIndex::new(dimensions));
            if staged.len() < stage_capacity {
                staged.add(key, vector)?;
                return Ok(true);
            }
        }
        index.add(key, vector)?;
        Ok(false)
    }

    pub(crate) fn remove(&mut self, key: Key) -> Result<(), IndexError> {
        if let Some(staged) = self.staged.as_mut() {
            staged.remove(key)?;
        }
        if let Some(index) = self.index.as_mut() {
            index.remove(key)?;
        }
        self.hashes.remove(key);
        self.dirty = true;
        Ok(())
    }

    /// Whether the graph holds more tombstones than live records (and at
    /// least [`COMPACT_AT_LEAST`]).
    pub(crate) fn needs_compaction(&self) -> bool {
        self.index.as_ref().is_some_and(|index| {
            let tombstones = index.tombstones();
            tombstones >= COMPACT_AT_LEAST && tombstones > index.len()
        })
    }

    /// Whether the graph has grown by an eighth since it was last laid out.
    pub(crate) fn needs_relayout(&self) -> bool {
        self.index.as_ref().is_some_and(|index| {
            let nodes = index.len() + index.tombstones();
            index.graph().is_some()
                && nodes >= RELAYOUT_FROM
                && nodes > self.laid_out + self.laid_out / 8
        })
    }

    /// Whether the indexer has a compaction, a relayout or a search copy
    /// to make.
    pub(crate) fn needs_background_work(&self) -> bool {
        self.needs_compaction() || self.needs_relayout() || self.needs_search_copy()
    }

    /// Background work to do or under way: [`Self::needs_background_work`]
    /// or a search copy being built (what callers waiting for a settled
    /// index wait on).
    pub(crate) fn background_work_pending(&self) -> bool {
        self.needs_background_work() || self.graph().is_some_and(|graph| graph.copy_refreshing())
    }

    /// Whether the graph's search copy is missing or behind
    /// ([`crate::index::search_copy`]).
    pub(crate) fn needs_search_copy(&self) -> bool {
        self.graph().is_some_and(|graph| graph.copy_wanted())
    }

    /// The graph serving the project, if one does.
    pub(crate) fn graph(&self) -> Option<GraphHandle> {
        self.index.as_ref().and_then(|index| index.graph())
    }

    /// Graph nodes when the graph was last laid out in locality order.
    pub(crate) fn laid_out(&self) -> usize {
        self.laid_out
    }

    /// Records that the graph is in locality order now (it was just loaded).
    pub(crate) fn mark_laid_out(&mut self) {
        self.laid_out = self.index.as_ref().map_or(0, |i| i.len() + i.tombstones());
    }

    /// What the indexer rebuilds or re-lays out, if anything.
    pub(crate) fn compaction_snapshot(&self) -> Result<Option<CompactionSnapshot>, IndexError> {
        let Some(index) = self.index.as_ref() else {
            return Ok(None);
        };
        let Some(graph) = index.graph() else {
            return Ok(None);
        };
        let work = if self.needs_compaction() {
            let rows = self
                .hashes
                .ids()
                .filter_map(|key| index.get(key).map(|vector| (key, vector)))
                .collect();
            Compaction::Rebuild(rows)
        } else if self.needs_relayout() {
            match index.to_bytes()? {
                Some(bytes) => Compaction::Relayout(bytes),
                None => return Ok(None),
            }
        } else {
            return Ok(None);
        };
        Ok(Some(CompactionSnapshot {
            graph,
            dimensions: index.dimensions(),
            work,
        }))
    }

    /// Swaps in `rebuilt` (made from `snapshot`), first replaying what
    /// changed since the snapshot: records deleted meanwhile are removed,
    /// vectors added to the old graph meanwhile are added. Returns `false`
    /// (and changes nothing) when the project's graph was replaced meanwhile.
    pub(crate) fn finish_compaction(
        &mut self,
        snapshot: &CompactionSnapshot,
        mut rebuilt: Box<dyn VectorIndex>,
    ) -> Result<bool, IndexError> {
        let Some(current) = self.index.as_ref() else {
            return Ok(false);
        };
        if !current.graph().is_some_and(|g| g.same(&snapshot.graph)) {
            return Ok(false);
        }
        let taken = snapshot.taken()?;
        for key in taken.iter().filter(|key| !self.hashes.contains_id(**key)) {
            rebuilt.remove(*key)?;
        }
        for key in self.hashes.ids().filter(|key| !taken.contains(key)) {
            if let Some(vector) = current.get(key)
                && !rebuilt.contains(key)
            {
                rebuilt.add(key, &vector)?;
            }
        }
        if rebuilt.graph().is_none()
            && let Some(staged) = self.staged.take()
        {
            // Small enough for the exact scan: it takes the staged vectors.
            for (key, vector) in staged.entries() {
                rebuilt.add(key, vector)?;
            }
        }
        self.index = Some(rebuilt);
        self.mark_laid_out();
        self.dirty = true;
        Ok(true)
    }

    /// Lays the graph out in locality order now, under the caller's write
    /// lock (after a bulk insert, which holds it anyway: a background
    /// re-layout would have to replay the whole batch).
    pub(crate) fn relayout(&mut self, options: &IndexOptions) -> Result<(), IndexError> {
        let Some(index) = self.index.as_ref() else {
            return Ok(());
        };
        let Some(graph) = index.to_bytes()? else {
            return Ok(());
        };
        self.index = Some(laid_out_index(options, index.dimensions(), &graph)?);
        self.mark_laid_out();
        self.dirty = true;
        Ok(())
    }

    /// Makes the index `snapshot` describes (a rebuild from all cores), its
    /// graph in locality order.
    pub(crate) fn rebuild(
        options: &IndexOptions,
        snapshot: &CompactionSnapshot,
    ) -> Result<Box<dyn VectorIndex>, IndexError> {
        match &snapshot.work {
            Compaction::Relayout(graph) => laid_out_index(options, snapshot.dimensions, graph),
            Compaction::Rebuild(rows) => {
                let mut index = new_index(options, snapshot.dimensions)?;
                add_rows(index.as_mut(), rows)?;
                match index.to_bytes()? {
                    Some(graph) => laid_out_index(options, snapshot.dimensions, &graph),
                    None => Ok(index),
                }
            }
        }
    }

    /// Moves every staged vector into the graph now, from all cores (bulk
    /// inserts, and before a graph is saved).
    pub(crate) fn unstage_all(&mut self) -> Result<(), IndexError> {
        let Some(staged) = self.staged.take().filter(|s| !s.is_empty()) else {
            return Ok(());
        };
        let Some(graph) = self.index.as_ref().and_then(|i| i.graph()) else {
            self.staged = Some(staged);
            return Err(IndexError::Backend(
                "vectors are staged but no graph serves the project".into(),
            ));
        };
        let rows: Vec<(Key, Vec<f32>)> = staged.entries().map(|(k, v)| (k, v.to_vec())).collect();
        let _adding = self
            .adding
            .lock()
            .map_err(|_| IndexError::Backend("indexer lock poisoned".into()))?;
        match graph.add_parallel(&rows, build_threads()) {
            Ok(()) => {
                self.dirty = true;
                Ok(())
            }
            Err(error) => {
                // Nothing is lost: the vectors stay searchable in the stage.
                self.staged = Some(staged);
                Err(error)
            }
        }
    }

    /// The next staged vector for the indexer, if a graph serves the project.
    pub(crate) fn next_staged(&self) -> Option<StagedVector> {
        let graph = self.index.as_ref()?.graph()?;
        let (key, vector) = self.staged.as_ref()?.entries().next()?;
        Some(StagedVector {
            graph,
            key,
            vector: vector.to_vec(),
            adding: Arc::clone(&self.adding),
        })
    }

    /// Records what the indexer's graph add did. An error leaves the
    /// vector staged (and found by searches); a later insert retries.
    pub(crate) fn finish_staged(
        &mut self,
        graph: &GraphHandle,
        key: Key,
        added: Result<(), IndexError>,
    ) -> Result<(), IndexError> {
        let current = self.index.as_ref().and_then(|i| i.graph());
        if !current.is_some_and(|c| c.same(graph)) {
            // The project was deleted or rebuilt meanwhile; the old graph
            // goes with its last handle.
            return Ok(());
        }
        match added {
            Ok(()) | Err(IndexError::DuplicateKey(_)) => {
                if let Some(staged) = self.staged.as_mut() {
                    staged.remove(key)?;
                }
                if !self.hashes.contains_id(key) {
                    // Deleted while it was being added: take it out again.
                    graph.remove(key)?;
                }
                self.dirty = true;
                Ok(())
            }
            Err(error) => Err(error),
        }
    }
}

/// The index a serialized graph restores to, its nodes in locality order.
fn laid_out_index(
    options: &IndexOptions,
    dimensions: usize,
    graph: &[u8],
) -> Result<Box<dyn VectorIndex>, IndexError> {
    restore_index(options, dimensions, &in_locality_order(graph)?)
}

/// Adds `rows` to `index`: to a graph from all cores, to a scan one by one.
pub(crate) fn add_rows(
    index: &mut dyn VectorIndex,
    rows: &[(Key, Vec<f32>)],
) -> Result<(), IndexError> {
    index.reserve(rows.len())?;
    match index.graph() {
        Some(graph) => graph.add_parallel(rows, build_threads()),
        None => rows
            .iter()
            .try_for_each(|(key, vector)| index.add(*key, vector)),
    }
}
