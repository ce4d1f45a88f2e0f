//! The grouping store: sled is the source of truth, vector indexes are
//! derived from it.
//!
//! One [`Store`] owns a directory:
//!
//! ```text
//! <dir>/db/                               sled database (layout: [`schema`])
//! <dir>/indexes/<version>/<project>.graph saved HNSW graphs (optional, see below)
//! ```
//!
//! * **Durability.** Every mutating call flushes sled before it returns
//!   `Ok`, so an acknowledged insert or delete survives `kill -9`.
//! * **Indexes.** One per (model version, project), so a search can only ever
//!   see its own project's and version's records. [`Store::open`] rebuilds
//!   each from sled, or loads the graph saved by [`Store::save_indexes`] /
//!   [`Store::close`] and reconciles it with sled: ids sled no longer has are
//!   removed (a saved graph cannot bring back a deletion), ids it lacks are
//!   added, and a sample of vectors is compared; any disagreement → rebuild.
//! * **Distances** are cosine distance (1 − cos) on L2-normalized vectors,
//!   computed exactly on the stored (decoded) embedding, whichever backend
//!   found the candidate.
//! * **Embedding format.** f16 by default. Measured on clustered synthetic
//!   vectors (no golden embedding set exists yet; `cargo bench --bench store
//!   -- formats`, table in `benches/README.md`): over 2,000 queries against
//!   20,000 records, f16 changed no `should_group` decision at threshold 0.01
//!   and picked the same nearest record as f32 for 1996/2000 queries at 64
//!   dims (2000/2000 at 384); the 4 others were ties within 1.2e-5 of the
//!   true nearest distance. i8 with a per-vector scale changed 52–67 top-1
//!   picks, 19–25 of them by more than 1e-4, and flipped 2 decisions at 384
//!   dims, so it is available but not the default.
//! * **Concurrency.** `Store` is `Send + Sync`. Each (version, project) has
//!   its own lock; searches share it, writes hold it across the sled write,
//!   the flush and the index update, so a threshold-gated insert is atomic.
//!
//! Times are unix seconds supplied by the caller.

mod consent;
mod expiry;
mod fingerprints;
mod grouping;
mod indexer;
mod packed_f16;
mod project_index;
mod record_hashes;
pub mod records;
mod retention;
pub mod schema;

pub use consent::Consent;
pub use fingerprints::{FingerprintEntry, Joined};
pub use grouping::{IndexInfo, InsertOutcome, Neighbour, NewRecord, VersionIndexSizes};
pub use records::Record;
pub use schema::EmbeddingFormat;

use crate::index::{IndexError, IndexOptions};
use grouping::{SharedIndex, VersionState};
use schema::{CONSENT_TREE, EXPIRY_TREE, FINGERPRINTS_TREE, VERSIONS_TREE};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// Bad input from a request; names the field (maps to HTTP 400).
    #[error("invalid {field}: {message}")]
    InvalidInput {
        field: &'static str,
        message: String,
    },
    /// An embedding whose length differs from its model version's (HTTP 400).
    #[error("model version `{version}` has {expected} dimensions, the embedding has {got}")]
    Dimension {
        version: String,
        expected: usize,
        got: usize,
    },
    #[error("invalid store option: {0}")]
    Options(String),
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew { found: u32, supported: u32 },
    #[error("storage: {0}")]
    Sled(#[from] sled::Error),
    #[error("I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("corrupt data in `{tree}`: {message}")]
    Corrupt { tree: String, message: String },
    #[error("cannot encode value: {0}")]
    Encode(String),
    #[error("vector index: {0}")]
    Index(#[from] IndexError),
    #[error("a store lock was poisoned by a panic in another thread")]
    Poisoned,
}

impl StoreError {
    /// True when the caller sent something invalid (not a server fault).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            StoreError::InvalidInput { .. } | StoreError::Dimension { .. }
        )
    }

    pub(crate) fn corrupt(tree: &str, message: impl Into<String>) -> Self {
        StoreError::Corrupt {
            tree: tree.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        StoreError::InvalidInput {
            field,
            message: message.into(),
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Store settings. `Default` is the issue's defaults (90-day retention,
/// adaptive exact/HNSW with M=16, ef_construction=200, ef_search=100, f16).
#[derive(Debug, Clone, PartialEq)]
pub struct StoreOptions {
    /// Records not seen for this many days are removed by
    /// [`Store::sweep_retention`].
    pub retention_days: u32,
    pub index: IndexOptions,
    /// Format for model versions written for the first time; existing
    /// versions keep theirs.
    pub embedding_format: EmbeddingFormat,
    /// Expected dimensions per model version. A version listed here rejects
    /// other lengths from the first call; an unlisted version takes the
    /// length of its first stored embedding. Opening a database whose stored
    /// dimensions differ from these is an error.
    pub dimensions: BTreeMap<String, usize>,
    /// sled page cache, in bytes.
    pub cache_capacity_bytes: u64,
    /// zstd-compress sled's log. Measured on 64-dim f16 records: ~2.5×
    /// fewer bytes on disk for ~50 µs more per insert (`cargo bench --bench
    /// store -- run … --no-compress` for the other side). Fixed when the
    /// database is created: sled refuses to reopen with the other setting.
    pub compress: bool,
    /// Most vectors per (version, project) acknowledged before they are in
    /// the project's HNSW graph (searched by exact scan meanwhile; see
    /// `store/project_index.rs`). 0 adds every vector to the graph before
    /// the insert returns.
    pub graph_staging: usize,
    /// Save graphs ([`Store::save_indexes`], [`Store::close`]) so that the
    /// next open loads them; `false` keeps only sled on disk and rebuilds
    /// every graph at open.
    pub save_graphs: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            retention_days: 90,
            index: IndexOptions::default(),
            embedding_format: EmbeddingFormat::F16,
            dimensions: BTreeMap::new(),
            cache_capacity_bytes: 256 * 1024 * 1024,
            compress: true,
            graph_staging: 1024,
            save_graphs: true,
        }
    }
}

impl StoreOptions {
    /// Retention and per-version dimensions from the service settings.
    pub fn from_settings(settings: &crate::settings::Settings) -> Self {
        let index = &settings.index;
        StoreOptions {
            retention_days: settings.storage.retention_days,
            index: IndexOptions {
                backend: index.backend,
                exact_max: index.exact_max,
                hnsw: crate::index::HnswParams {
                    connectivity: index.connectivity,
                    expansion_add: index.expansion_add,
                    expansion_search: index.expansion_search,
                    candidates: index.candidates,
                    huge_pages: index.huge_pages,
                    search_copy: index.search_copy,
                    ..crate::index::HnswParams::default()
                },
            },
            graph_staging: index.graph_staging,
            save_graphs: index.save_graphs,
            dimensions: settings
                .models
                .iter()
                .map(|(name, model)| (name.clone(), model.dimensions))
                .collect(),
            ..StoreOptions::default()
        }
    }

    fn validate(&self) -> Result<(), StoreError> {
        self.index
            .validate()
            .map_err(|e| StoreError::Options(e.to_string()))?;
        for (version, &dimensions) in &self.dimensions {
            grouping::validate_version(version).map_err(|e| StoreError::Options(e.to_string()))?;
            if dimensions == 0 || dimensions > schema::MAX_DIMENSIONS {
                return Err(StoreError::Options(format!(
                    "dimensions of `{version}` must be 1..={}, got {dimensions}",
                    schema::MAX_DIMENSIONS
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn retention_seconds(&self) -> u64 {
        u64::from(self.retention_days) * 86_400
    }
}

/// Everything stored about one project, for tests and audits that must show
/// a deletion left nothing behind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectScan {
    /// (model version, hash) of every record.
    pub records: Vec<(String, String)>,
    /// (fingerprint hash, issue hash) of every fingerprint cache entry.
    pub fingerprints: Vec<(String, String)>,
    pub consent: Option<Consent>,
    /// Retention index entries pointing at the project (full scan of the
    /// expiry tree: for tests, not hot paths).
    pub expiry_entries: usize,
    /// Vectors in the project's in-memory indexes, all versions.
    pub indexed_vectors: usize,
    /// Saved graph files of the project.
    pub index_files: Vec<PathBuf>,
}

impl ProjectScan {
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
            && self.fingerprints.is_empty()
            && self.consent.is_none()
            && self.expiry_entries == 0
            && self.indexed_vectors == 0
            && self.index_files.is_empty()
    }
}

/// What [`Store::open`] did, for logs and the start-up benchmark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    pub records: usize,
    pub indexes_rebuilt: usize,
    pub indexes_loaded: usize,
    /// Saved graphs that disagreed with sled and were rebuilt instead.
    pub indexes_rejected: usize,
    /// Saved graphs of projects with no records left, removed.
    pub stale_index_files_removed: usize,
}

pub struct Store {
    dir: PathBuf,
    db: sled::Db,
    options: StoreOptions,
    versions_tree: sled::Tree,
    expiry: sled::Tree,
    fingerprints: sled::Tree,
    consent: sled::Tree,
    /// Model versions known to the database (and their records trees).
    versions: RwLock<HashMap<String, Arc<VersionState>>>,
    /// (version, project) → index. Entries are never removed while the
    /// store is open (a deleted project's entry is emptied instead), so every
    /// writer of a (version, project) serializes on the same lock.
    indexes: RwLock<HashMap<(String, u64), SharedIndex>>,
    /// Moves staged vectors into graphs in the background.
    indexer: indexer::Indexer,
    open_report: OpenReport,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, migrates the schema,
    /// and rebuilds or loads every (version, project) index.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        options.validate()?;
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let db = open_db(
            &dir.join("db"),
            options.cache_capacity_bytes,
            options.compress,
        )?;
        schema::migrate(&db)?;
        let indexer = indexer::Indexer::start(options.index).map_err(|e| StoreError::io(dir, e))?;
        let mut store = Store {
            dir: dir.to_owned(),
            versions_tree: db.open_tree(VERSIONS_TREE)?,
            expiry: db.open_tree(EXPIRY_TREE)?,
            fingerprints: db.open_tree(FINGERPRINTS_TREE)?,
            consent: db.open_tree(CONSENT_TREE)?,
            db,
            options,
            versions: RwLock::new(HashMap::new()),
            indexes: RwLock::new(HashMap::new()),
            indexer,
            open_report: OpenReport::default(),
        };
        store.open_report = store.load()?;
        Ok(store)
    }

    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the last [`Store::open`] rebuilt and loaded.
    pub fn open_report(&self) -> &OpenReport {
        &self.open_report
    }

    /// Flushes sled to disk. Mutating calls already do; this is for callers
    /// that want a barrier.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Saves indexes and flushes; the next open loads the saved graphs
    /// instead of rebuilding them.
    pub fn close(self) -> Result<(), StoreError> {
        self.indexer.stop();
        self.save_indexes()?;
        self.flush()
    }

    /// Bytes the store occupies on disk (sled files and saved graphs).
    pub fn disk_usage(&self) -> Result<u64, StoreError> {
        fn walk(path: &Path) -> Result<u64, StoreError> {
            let mut total = 0;
            let entries = match std::fs::read_dir(path) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
                Err(e) => return Err(StoreError::io(path, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| StoreError::io(path, e))?;
                let meta = entry
                    .metadata()
                    .map_err(|e| StoreError::io(&entry.path(), e))?;
                total += if meta.is_dir() {
                    walk(&entry.path())?
                } else {
                    meta.len()
                };
            }
            Ok(total)
        }
        walk(&self.dir)
    }

    /// Everything stored about `project` (see [`ProjectScan`]).
    pub fn scan_project(&self, project: u64) -> Result<ProjectScan, StoreError> {
        let mut scan = ProjectScan {
            fingerprints: self.fingerprints_of(project)?,
            consent: self.consent(project)?,
            ..ProjectScan::default()
        };
        for state in self.version_states()? {
            for entry in state.records.scan_prefix(schema::project_prefix(project)) {
                let (key, _) = entry?;
                let (_, _, hash) = schema::split_record_key(&state.tree_name, &key)?;
                scan.records.push((state.name.clone(), hash));
            }
            if let Some(index) = self.existing_index(&state.name, project)? {
                let guard = index.read().map_err(|_| StoreError::Poisoned)?;
                scan.indexed_vectors += guard.held_vectors();
            }
            let file = self.index_path(&state.name, project);
            if file.exists() {
                scan.index_files.push(file);
            }
        }
        for entry in self.expiry.iter() {
            let (key, bitmap) = entry?;
            if schema::split_expiry_key(&key)?.project == project {
                scan.expiry_entries += bitmap
                    .iter()
                    .map(|b| b.count_ones() as usize)
                    .sum::<usize>();
            }
        }
        Ok(scan)
    }
}

/// Opens sled. sled releases its file lock when the last of its background
/// threads lets go of a dropped database, a moment after `drop`; a reopen in
/// that window (a restart in the same process, tests) waits briefly instead of
/// failing. A lock held by another live process still fails, after ~2 s.
pub(crate) fn open_db(
    path: &Path,
    cache_capacity: u64,
    compress: bool,
) -> Result<sled::Db, StoreError> {
    let config = sled::Config::new()
        .path(path)
        .cache_capacity(cache_capacity)
        // We flush explicitly before acknowledging; no background timer.
        .flush_every_ms(None)
        .use_compression(compress);
    let mut attempt = 0;
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if attempt < 40 && e.to_string().contains("could not acquire lock") =>
            {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return Ok(other?),
        }
    }
}

#[cfg(test)]
mod tests;
