//! The background indexer: moves staged vectors into their project's HNSW
//! graph after their inserts were acknowledged (see [`super::project_index`]).
//!
//! One thread per store. An insert that staged a vector sends its project's
//! index; the thread adds staged vectors one at a time *without* holding the
//! project's lock, then takes the write lock only to mark the vector as
//! moved. Inserts of the project therefore never wait for a graph insert; a
//! search waits for at most one (the add takes the graph itself exclusively,
//! see `index::hnsw`).
//!
//! The same thread compacts a project whose graph holds more tombstones than
//! live records, re-lays out one that has grown (see
//! [`super::project_index`]), and takes a new search copy of a graph whose
//! copy fell behind (see [`crate::index::search_copy`]): a store that
//! deletes, expires or bulk-inserts records notifies it as it does for
//! staged vectors.

use super::grouping::SharedIndex;
use super::project_index::ProjectIndex;
use crate::index::IndexOptions;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

pub(crate) struct Indexer {
    sender: Mutex<Option<mpsc::Sender<SharedIndex>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    stop: Arc<AtomicBool>,
}

impl Indexer {
    pub(crate) fn start(options: IndexOptions) -> std::io::Result<Indexer> {
        let (sender, receiver) = mpsc::channel::<SharedIndex>();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("stackherd-indexer".into())
            .spawn(move || {
                while let Ok(project) = receiver.recv() {
                    if stopping.load(Ordering::Relaxed) {
                        return;
                    }
                    drain(&project, &stopping);
                    if !stopping.load(Ordering::Relaxed) {
                        compact(&project, &options);
                        // Vectors staged during the rebuild go into the new graph.
                        drain(&project, &stopping);
                        refresh_search_copy(&project);
                    }
                }
            })?;
        Ok(Indexer {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
            stop,
        })
    }

    /// Tells the indexer that `project` has staged vectors.
    pub(crate) fn notify(&self, project: &SharedIndex) {
        if let Ok(sender) = self.sender.lock()
            && let Some(sender) = sender.as_ref()
        {
            // A stopped indexer leaves the vectors staged, where they are
            // still searched and are moved when the graph is next saved.
            let _ = sender.send(Arc::clone(project));
        }
    }

    /// Stops the thread after the vector it is adding (idempotent).
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Moves the project's staged vectors into its graph until none is left.
fn drain(project: &SharedIndex, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let next = match project.read() {
            Ok(index) => index.next_staged(),
            Err(_) => return,
        };
        let Some(staged) = next else {
            return;
        };
        let added = match staged.adding.lock() {
            Ok(_adding) => staged.graph.add(staged.key, &staged.vector),
            Err(_) => return,
        };
        let Ok(mut index) = project.write() else {
            return;
        };
        if let Err(error) = index.finish_staged(&staged.graph, staged.key, added) {
            tracing::warn!(%error, "graph insert failed; the vector stays staged and searchable");
            return;
        }
    }
}

/// Rebuilds the project's graph from its live vectors if tombstones
/// outnumber them, or re-lays it out if it has grown. Only the snapshot and
/// the swap hold the project's lock.
fn compact(project: &SharedIndex, options: &IndexOptions) {
    let snapshot = match project.read() {
        Ok(index) => index.compaction_snapshot(),
        Err(_) => return,
    };
    let snapshot = match snapshot {
        Ok(Some(snapshot)) => snapshot,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(%error, "graph snapshot failed; the graph keeps serving as it is");
            return;
        }
    };
    let finished = ProjectIndex::rebuild(options, &snapshot).and_then(|rebuilt| {
        let mut index = project
            .write()
            .map_err(|_| crate::index::IndexError::Backend("project lock poisoned".into()))?;
        index.finish_compaction(&snapshot, rebuilt)
    });
    match finished {
        Ok(swapped) => {
            tracing::debug!(swapped, records = snapshot.records(), "graph compacted");
        }
        Err(error) => {
            tracing::warn!(%error, "graph compaction failed; the old graph keeps serving");
        }
    }
}

/// Takes a new search copy of the project's graph if its copy is missing or
/// behind. Holds no project lock while it works.
fn refresh_search_copy(project: &SharedIndex) {
    let graph = match project.read() {
        Ok(index) => index.graph(),
        Err(_) => return,
    };
    if let Some(graph) = graph {
        match graph.refresh_copy() {
            Ok(refreshed) => tracing::debug!(refreshed, "search copy refreshed"),
            Err(error) => {
                tracing::warn!(%error, "search copy failed; searches walk the graph itself");
            }
        }
    }
}
