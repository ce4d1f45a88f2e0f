//! Exact scan while a project is small, HNSW once it outgrows
//! [`IndexOptions::exact_max`](super::IndexOptions::exact_max).
//!
//! The switch happens inside the `add` that crosses the threshold: the graph
//! is built from the scan's vectors in one go (a one-off cost of roughly
//! `exact_max` graph inserts). A project that shrinks below the threshold
//! keeps its graph until the store next starts, when indexes are rebuilt with
//! the backend their size calls for; a graph that exists costs nothing to
//! keep, and never switching down in place means a project hovering at the
//! boundary cannot rebuild over and over.

use super::exact::ExactIndex;
use super::hnsw::HnswIndex;
use super::{Backend, Hit, IndexError, IndexOptions, Key, SearchRequest, VectorIndex};

enum Inner {
    Exact(ExactIndex),
    Hnsw(HnswIndex),
}

pub struct AdaptiveIndex {
    options: IndexOptions,
    inner: Inner,
}

impl AdaptiveIndex {
    pub fn new(dimensions: usize, options: IndexOptions) -> Self {
        AdaptiveIndex {
            options,
            inner: Inner::Exact(ExactIndex::new(dimensions)),
        }
    }

    /// Wraps a graph restored from disk.
    pub fn from_hnsw(hnsw: HnswIndex, options: IndexOptions) -> Self {
        AdaptiveIndex {
            options,
            inner: Inner::Hnsw(hnsw),
        }
    }

    /// Which backend answers right now.
    pub fn active(&self) -> Backend {
        match self.inner {
            Inner::Exact(_) => Backend::Exact,
            Inner::Hnsw(_) => Backend::Hnsw,
        }
    }

    fn promote(&mut self) -> Result<(), IndexError> {
        let Inner::Exact(exact) = &self.inner else {
            return Ok(());
        };
        let mut graph = HnswIndex::new(exact.dimensions(), self.options.hnsw)?;
        graph.reserve_capacity((exact.len() * 2).max(64))?;
        let rows: Vec<(Key, Vec<f32>)> = exact.entries().map(|(k, v)| (k, v.to_vec())).collect();
        graph
            .handle()
            .add_parallel(&rows, super::hnsw::build_threads())?;
        self.inner = Inner::Hnsw(graph);
        Ok(())
    }

    fn get_index(&self) -> &dyn VectorIndex {
        match &self.inner {
            Inner::Exact(index) => index,
            Inner::Hnsw(index) => index,
        }
    }

    fn get_index_mut(&mut self) -> &mut dyn VectorIndex {
        match &mut self.inner {
            Inner::Exact(index) => index,
            Inner::Hnsw(index) => index,
        }
    }
}

impl VectorIndex for AdaptiveIndex {
    fn backend(&self) -> Backend {
        Backend::Adaptive
    }

    fn active_backend(&self) -> Backend {
        self.active()
    }

    fn dimensions(&self) -> usize {
        self.get_index().dimensions()
    }

    fn len(&self) -> usize {
        self.get_index().len()
    }

    fn contains(&self, key: Key) -> bool {
        self.get_index().contains(key)
    }

    fn add(&mut self, key: Key, vector: &[f32]) -> Result<(), IndexError> {
        self.get_index_mut().add(key, vector)?;
        if matches!(self.inner, Inner::Exact(_)) && self.len() > self.options.exact_max {
            self.promote()?;
        }
        Ok(())
    }

    fn remove(&mut self, key: Key) -> Result<bool, IndexError> {
        self.get_index_mut().remove(key)
    }

    fn get(&self, key: Key) -> Option<Vec<f32>> {
        self.get_index().get(key)
    }

    fn search(&self, query: &[f32], request: &SearchRequest) -> Result<Vec<Hit>, IndexError> {
        self.get_index().search(query, request)
    }

    fn reserve(&mut self, additional: usize) -> Result<(), IndexError> {
        match &mut self.inner {
            Inner::Exact(index) => {
                // Loading more than the scan should hold: go straight to a graph.
                if index.len() + additional > self.options.exact_max {
                    self.promote()?;
                    return self.reserve(additional);
                }
                index.reserve_rows(additional);
                Ok(())
            }
            Inner::Hnsw(index) => index.reserve_capacity(index.len() + additional),
        }
    }

    fn tombstones(&self) -> usize {
        self.get_index().tombstones()
    }

    fn graph(&self) -> Option<super::hnsw::GraphHandle> {
        match &self.inner {
            Inner::Exact(_) => None,
            Inner::Hnsw(index) => Some(index.handle()),
        }
    }

    fn to_bytes(&self) -> Result<Option<Vec<u8>>, IndexError> {
        match &self.inner {
            Inner::Exact(_) => Ok(None),
            Inner::Hnsw(index) => index.graph_bytes().map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{HnswParams, Quantization};

    #[test]
    fn switches_to_hnsw_past_the_threshold_and_keeps_answering() -> Result<(), IndexError> {
        let options = IndexOptions {
            backend: Backend::Adaptive,
            exact_max: 10,
            hnsw: HnswParams {
                quantization: Quantization::F32,
                ..HnswParams::default()
            },
        };
        let mut index = AdaptiveIndex::new(3, options);
        for key in 0..10u64 {
            index.add(key, &[1.0, key as f32, 0.5])?;
        }
        assert_eq!(index.active(), Backend::Exact);
        assert!(index.to_bytes()?.is_none());
        index.add(10, &[1.0, 10.0, 0.5])?;
        assert_eq!(index.active(), Backend::Hnsw);
        assert_eq!(index.len(), 11);
        assert!(index.to_bytes()?.is_some());
        let hits = index.search(
            &[1.0, 3.0, 0.5],
            &SearchRequest {
                k: 1,
                radius: 0.001,
                exclude: None,
            },
        )?;
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].key, 3);
        assert!(index.remove(3)?);
        assert!(!index.contains(3));
        Ok(())
    }
}
