//! The per-(version, project) index together with its sled records: search,
//! threshold-gated and forced inserts, touch, deletion, and loading at open.
//!
//! Write order for every mutation, under the (version, project) write lock:
//! sled writes, index update, sled flush, then `Ok`. Nothing is acknowledged
//! before the flush. The sled writes are ordered so that every crash point
//! keeps the one invariant retention needs — each record's bit is set in
//! the expiry bitmap of its (last-seen hour, id) — while a bit without a
//! matching record is allowed (retention clears it). sled recovers a prefix
//! of its log, so no transaction is needed; measured, sled transactions cost
//! ~90 µs per insert, more than everything else in a bulk insert together.
//! The index is derived from sled at the next open.

use super::project_index::{ProjectIndex, add_rows};
use super::record_hashes::RecordHashes;
use super::records::{
    Record, decode_embedding, decode_record, encode_embedding, encode_record, normalize,
    read_record, to_public,
};
use super::schema::{
    self, EmbeddingFormat, EmbeddingValue, MAX_DIMENSIONS, MAX_ERROR_TYPE_BYTES, MAX_HASH_BYTES,
    MAX_VERSION_BYTES, StoredRecord, VersionValue, decode, encode, expiry_key, project_prefix,
    record_key, records_tree_name, split_record_key,
};
use super::{OpenReport, Store, StoreError};
use crate::index::graph_file;
use crate::index::hnsw::{GraphHandle, graph_scalar_width, write_graph_vector};
use crate::index::{Backend, Key, SearchRequest, new_index, restore_index, validate_vector};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// A search result: a stored hash and its cosine distance to the query.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    pub hash: String,
    pub distance: f32,
}

/// What an insert did.
#[derive(Debug, Clone, PartialEq)]
pub enum InsertOutcome {
    /// Stored (and indexed).
    Inserted,
    /// Not stored: this existing record is within the threshold.
    NeighbourExists(Neighbour),
    /// Not stored: the (project, hash) already has an embedding (first wins).
    HashExists,
}

/// A record to insert.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewRecord<'a> {
    pub hash: &'a str,
    pub error_type: Option<&'a str>,
    /// Any non-zero finite vector of the version's dimensions; it is
    /// L2-normalized before storage.
    pub embedding: &'a [f32],
}

/// Size and active backend of one (version, project) index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexInfo {
    pub backend: Backend,
    /// Live vectors, staged ones included.
    pub vectors: usize,
    /// Acknowledged vectors still waiting for the background indexer to
    /// reach the graph (searched by exact scan meanwhile).
    pub staged: usize,
    /// Deleted vectors the graph still holds as waypoints, until the
    /// background indexer compacts it.
    pub tombstones: usize,
    /// Graph nodes when the graph was last laid out in locality order (0:
    /// never; the indexer re-lays out a graph that grew by an eighth).
    pub laid_out: usize,
    /// The background indexer has a compaction, a re-layout or a search
    /// copy to make, or is making a search copy (searches meanwhile still
    /// walk the old copy and scan the vectors added since it exactly).
    pub rework_pending: bool,
    /// Searches walk a copy of the graph laid out for them
    /// ([`crate::index::search_copy`]); the bytes it holds.
    pub search_copy_bytes: Option<usize>,
}

/// Index sizes of one model version, all projects together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionIndexSizes {
    pub version: String,
    /// Live vectors, staged ones included.
    pub vectors: usize,
    /// Vectors acknowledged but not yet in their project's graph.
    pub staged: usize,
}

pub(crate) struct VersionState {
    pub name: String,
    pub tree_name: String,
    pub records: sled::Tree,
    pub dimensions: usize,
    pub format: EmbeddingFormat,
}

/// One (version, project) index behind its lock.
pub(crate) type SharedIndex = Arc<RwLock<ProjectIndex>>;

/// An expiry bitmap of a bucket that started before the retention cutoff,
/// as retention hands it over.
pub(crate) struct ExpiredBitmap {
    pub key: Vec<u8>,
    pub ids: Vec<Key>,
}

pub(crate) fn validate_version(version: &str) -> Result<(), StoreError> {
    let ok_chars = version
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if version.is_empty() || version.len() > MAX_VERSION_BYTES || !ok_chars {
        return Err(StoreError::invalid(
            "model",
            format!(
                "model version must be 1..={MAX_VERSION_BYTES} characters of [A-Za-z0-9._-], got {version:?}"
            ),
        ));
    }
    Ok(())
}

pub(crate) fn validate_hash(field: &'static str, hash: &str) -> Result<(), StoreError> {
    if hash.is_empty() || hash.len() > MAX_HASH_BYTES || hash.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            field,
            format!("must be 1..={MAX_HASH_BYTES} bytes without control characters"),
        ));
    }
    Ok(())
}

fn validate_error_type(error_type: Option<&str>) -> Result<(), StoreError> {
    match error_type {
        Some(t) if t.len() > MAX_ERROR_TYPE_BYTES => Err(StoreError::invalid(
            "exception_type",
            format!("longer than {MAX_ERROR_TYPE_BYTES} bytes"),
        )),
        _ => Ok(()),
    }
}

fn validate_threshold(threshold: f32) -> Result<(), StoreError> {
    if threshold >= 0.0 {
        Ok(())
    } else {
        Err(StoreError::invalid(
            "threshold",
            format!("must be a number >= 0, got {threshold}"),
        ))
    }
}

fn embedding_error(version: &str, error: crate::index::IndexError) -> StoreError {
    use crate::index::IndexError;
    match error {
        IndexError::Dimension { expected, got } => StoreError::Dimension {
            version: version.to_owned(),
            expected,
            got,
        },
        other => StoreError::invalid("embedding", other.to_string()),
    }
}

/// An embedding checked, normalized, encoded, and decoded back.
struct Prepared {
    /// What is stored.
    value: EmbeddingValue,
    /// What is indexed: exactly the decoded stored value.
    decoded: Vec<f32>,
}

/// One row of an insert, with how it is to be done.
struct Insert<'r, 'a> {
    project: u64,
    row: &'r NewRecord<'a>,
    prepared: Prepared,
    threshold: Option<f32>,
    now: u64,
    /// Room in the project's stage ([`ProjectIndex::add`]).
    stage_capacity: usize,
}

/// Magic and layout version of saved graph files.
const GRAPH_MAGIC: &[u8; 8] = b"SHGRAPH1";

#[derive(Serialize, Deserialize)]
enum GraphHeader {
    /// usearch's whole buffer, vectors included, and the graph's keys.
    /// No longer written; such a file is rebuilt from sled once.
    V1 { dimensions: u32, keys: Vec<u64> },
    /// The graph alone, packed ([`graph_file`]); vectors come from sled.
    V2 { dimensions: u32 },
}

impl Store {
    // ---- versions ------------------------------------------------------

    pub(crate) fn version_states(&self) -> Result<Vec<Arc<VersionState>>, StoreError> {
        let versions = self.versions.read().map_err(|_| StoreError::Poisoned)?;
        Ok(versions.values().cloned().collect())
    }

    fn version_state(&self, version: &str) -> Result<Option<Arc<VersionState>>, StoreError> {
        let versions = self.versions.read().map_err(|_| StoreError::Poisoned)?;
        Ok(versions.get(version).cloned())
    }

    /// Model versions with stored data, and their dimensions.
    pub fn model_versions(&self) -> Result<Vec<(String, usize)>, StoreError> {
        let mut out: Vec<(String, usize)> = self
            .version_states()?
            .iter()
            .map(|s| (s.name.clone(), s.dimensions))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Vectors in the in-memory indexes of each model version, all
    /// projects together (what `/metrics` reports as index sizes).
    pub fn index_sizes(&self) -> Result<Vec<VersionIndexSizes>, StoreError> {
        let indexes: Vec<(String, SharedIndex)> = {
            let map = self.indexes.read().map_err(|_| StoreError::Poisoned)?;
            map.iter()
                .map(|((version, _), index)| (version.clone(), Arc::clone(index)))
                .collect()
        };
        let mut sizes: HashMap<String, VersionIndexSizes> = HashMap::new();
        for (version, index) in indexes {
            let guard = index.read().map_err(|_| StoreError::Poisoned)?;
            let entry = sizes
                .entry(version.clone())
                .or_insert_with(|| VersionIndexSizes {
                    version,
                    vectors: 0,
                    staged: 0,
                });
            entry.vectors += guard.len();
            entry.staged += guard.staged_len();
        }
        let mut out: Vec<VersionIndexSizes> = sizes.into_values().collect();
        out.sort_by(|a, b| a.version.cmp(&b.version));
        Ok(out)
    }

    /// The dimensions a version accepts, if known (stored or configured).
    fn expected_dimensions(&self, version: &str) -> Result<Option<usize>, StoreError> {
        Ok(match self.version_state(version)? {
            Some(state) => Some(state.dimensions),
            None => self.options.dimensions.get(version).copied(),
        })
    }

    /// The version's state, registering it (durably) on first write.
    fn version_for_write(
        &self,
        version: &str,
        dimensions: usize,
    ) -> Result<Arc<VersionState>, StoreError> {
        if let Some(state) = self.version_state(version)? {
            return Ok(state);
        }
        let mut versions = self.versions.write().map_err(|_| StoreError::Poisoned)?;
        if let Some(state) = versions.get(version) {
            return Ok(state.clone());
        }
        let value = VersionValue::V1 {
            dimensions: u32::try_from(dimensions)
                .map_err(|_| StoreError::invalid("embedding", "too many dimensions"))?,
            format: self.options.embedding_format,
        };
        self.versions_tree
            .insert(version.as_bytes(), encode(&value)?)?;
        self.db.flush()?;
        let state = Arc::new(self.open_version(version, &value)?);
        versions.insert(version.to_owned(), state.clone());
        Ok(state)
    }

    fn open_version(&self, name: &str, value: &VersionValue) -> Result<VersionState, StoreError> {
        let VersionValue::V1 { dimensions, format } = value;
        let dimensions = *dimensions as usize;
        if let Some(&configured) = self.options.dimensions.get(name)
            && configured != dimensions
        {
            return Err(StoreError::Options(format!(
                "model version `{name}` is stored with {dimensions} dimensions but configured with {configured}; a new dimension needs a new version name"
            )));
        }
        let tree_name = records_tree_name(name);
        Ok(VersionState {
            name: name.to_owned(),
            records: self.db.open_tree(&tree_name)?,
            tree_name,
            dimensions,
            format: *format,
        })
    }

    /// Validates an embedding against its version and prepares it for storage.
    fn prepare(
        &self,
        version: &str,
        embedding: &[f32],
        format: EmbeddingFormat,
        dimensions: usize,
    ) -> Result<Prepared, StoreError> {
        validate_vector(embedding, dimensions).map_err(|e| embedding_error(version, e))?;
        let value = encode_embedding(&normalize(embedding), format);
        let decoded = decode_embedding(version, &value, dimensions)?;
        // f16 can underflow every component of a pathological vector to 0.
        validate_vector(&decoded, dimensions).map_err(|e| embedding_error(version, e))?;
        Ok(Prepared { value, decoded })
    }

    fn dimensions_for_write(&self, version: &str, embedding: &[f32]) -> Result<usize, StoreError> {
        let dimensions = self
            .expected_dimensions(version)?
            .unwrap_or(embedding.len());
        if dimensions == 0 || dimensions > MAX_DIMENSIONS {
            return Err(StoreError::invalid(
                "embedding",
                format!("must have 1..={MAX_DIMENSIONS} dimensions"),
            ));
        }
        Ok(dimensions)
    }

    // ---- indexes -------------------------------------------------------

    pub(crate) fn existing_index(
        &self,
        version: &str,
        project: u64,
    ) -> Result<Option<SharedIndex>, StoreError> {
        let indexes = self.indexes.read().map_err(|_| StoreError::Poisoned)?;
        Ok(indexes.get(&(version.to_owned(), project)).cloned())
    }

    fn project_index(&self, version: &str, project: u64) -> Result<SharedIndex, StoreError> {
        if let Some(index) = self.existing_index(version, project)? {
            return Ok(index);
        }
        let mut indexes = self.indexes.write().map_err(|_| StoreError::Poisoned)?;
        Ok(indexes
            .entry((version.to_owned(), project))
            .or_default()
            .clone())
    }

    pub(crate) fn index_path(&self, version: &str, project: u64) -> PathBuf {
        self.dir
            .join("indexes")
            .join(version)
            .join(format!("{project}.graph"))
    }

    /// Size and active backend of a (version, project) index.
    pub fn index_info(&self, version: &str, project: u64) -> Result<Option<IndexInfo>, StoreError> {
        let Some(index) = self.existing_index(version, project)? else {
            return Ok(None);
        };
        let guard = index.read().map_err(|_| StoreError::Poisoned)?;
        Ok(guard.index.as_ref().map(|i| IndexInfo {
            backend: i.active_backend(),
            vectors: guard.len(),
            staged: guard.staged_len(),
            tombstones: i.tombstones(),
            laid_out: guard.laid_out(),
            rework_pending: guard.background_work_pending(),
            search_copy_bytes: guard
                .graph()
                .filter(GraphHandle::copy_current)
                .map(|graph| graph.copy_bytes()),
        }))
    }

    /// Whether (version, project, hash) has a record whose vector is in the
    /// project's index under the record's id (for consistency checks; a
    /// search is approximate above the exact threshold, this is not).
    pub fn is_indexed(&self, version: &str, project: u64, hash: &str) -> Result<bool, StoreError> {
        validate_version(version)?;
        validate_hash("hash", hash)?;
        let (Some(state), Some(index)) = (
            self.version_state(version)?,
            self.existing_index(version, project)?,
        ) else {
            return Ok(false);
        };
        let guard = index.read().map_err(|_| StoreError::Poisoned)?;
        let Some(record) = find_record(&state, &guard, project, hash)? else {
            return Ok(false);
        };
        let stored = decode_embedding(&state.tree_name, &record.embedding, state.dimensions)?;
        Ok(guard.get(record.id).as_deref() == Some(stored.as_slice()))
    }

    // ---- search --------------------------------------------------------

    /// The `k` nearest records of (version, project) within `radius` cosine
    /// distance of `query`, ascending (ties: earlier insert first), never
    /// `exclude_hash` itself. Only this project's and version's
    /// records can be returned.
    pub fn search(
        &self,
        version: &str,
        project: u64,
        query: &[f32],
        k: usize,
        radius: f32,
        exclude_hash: Option<&str>,
    ) -> Result<Vec<Neighbour>, StoreError> {
        validate_version(version)?;
        if let Some(hash) = exclude_hash {
            validate_hash("hash", hash)?;
        }
        crate::index::validate_radius(radius).map_err(|_| {
            StoreError::invalid("radius", format!("must be a number >= 0, got {radius}"))
        })?;
        let dimensions = self.expected_dimensions(version)?.unwrap_or(query.len());
        validate_vector(query, dimensions).map_err(|e| embedding_error(version, e))?;
        let (Some(state), Some(index)) = (
            self.version_state(version)?,
            self.existing_index(version, project)?,
        ) else {
            return Ok(Vec::new());
        };
        if k == 0 {
            return Ok(Vec::new());
        }
        let guard = index.read().map_err(|_| StoreError::Poisoned)?;
        if guard.index.is_none() {
            return Ok(Vec::new());
        }
        let exclude = exclude_hash.and_then(|hash| guard.hashes.id_of(hash));
        let hits = guard.search(query, &SearchRequest { k, radius, exclude })?;
        hits.into_iter()
            .map(|hit| {
                let hash = guard.hashes.hash_of(hit.key).ok_or_else(|| {
                    StoreError::corrupt(
                        &state.tree_name,
                        format!("index key {} has no record", hit.key),
                    )
                })?;
                Ok(Neighbour {
                    hash: hash.to_owned(),
                    distance: hit.distance,
                })
            })
            .collect()
    }

    // ---- inserts -------------------------------------------------------

    /// Stores the record unless a record of the same (version, project),
    /// other than `record.hash` itself, lies within `threshold`, or the hash
    /// already has an embedding (the first one wins).
    pub fn insert_if_no_neighbour(
        &self,
        version: &str,
        project: u64,
        record: NewRecord<'_>,
        threshold: f32,
        now: u64,
    ) -> Result<InsertOutcome, StoreError> {
        validate_threshold(threshold)?;
        let mut outcomes = self.insert_many(version, project, &[record], Some(threshold), now)?;
        outcomes
            .pop()
            .ok_or_else(|| StoreError::corrupt("records", "insert produced no outcome"))
    }

    /// Stores the record whatever its neighbours (for `k=0` and training
    /// mode); an existing (project, hash) keeps its first embedding.
    pub fn insert_forced(
        &self,
        version: &str,
        project: u64,
        record: NewRecord<'_>,
        now: u64,
    ) -> Result<InsertOutcome, StoreError> {
        let mut outcomes = self.insert_many(version, project, &[record], None, now)?;
        outcomes
            .pop()
            .ok_or_else(|| StoreError::corrupt("records", "insert produced no outcome"))
    }

    /// Inserts rows in order with one flush at the end (bulk backfill).
    /// With `threshold`, each row is gated as in
    /// [`Store::insert_if_no_neighbour`], including against rows stored
    /// earlier in the same batch; without, as in [`Store::insert_forced`].
    /// Every row is validated before anything is written.
    pub fn insert_batch(
        &self,
        version: &str,
        project: u64,
        rows: &[NewRecord<'_>],
        threshold: Option<f32>,
        now: u64,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        if let Some(t) = threshold {
            validate_threshold(t)?;
        }
        self.insert_many(version, project, rows, threshold, now)
    }

    fn insert_many(
        &self,
        version: &str,
        project: u64,
        rows: &[NewRecord<'_>],
        threshold: Option<f32>,
        now: u64,
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        validate_version(version)?;
        let Some(first) = rows.first() else {
            return Ok(Vec::new());
        };
        let dimensions = self.dimensions_for_write(version, first.embedding)?;
        let format = match self.version_state(version)? {
            Some(state) => state.format,
            None => self.options.embedding_format,
        };
        let mut prepared = Vec::with_capacity(rows.len());
        for row in rows {
            validate_hash("hash", row.hash)?;
            validate_error_type(row.error_type)?;
            prepared.push(self.prepare(version, row.embedding, format, dimensions)?);
        }
        let state = self.version_for_write(version, dimensions)?;
        let index = self.project_index(version, project)?;
        let mut guard = index.write().map_err(|_| StoreError::Poisoned)?;
        // A forced bulk insert stages every vector and adds them to the graph
        // from all cores at the end; otherwise the background indexer does.
        let bulk = threshold.is_none() && rows.len() > 1;
        let stage_capacity = if bulk {
            usize::MAX
        } else {
            self.options.graph_staging
        };
        let mut outcomes = Vec::with_capacity(rows.len());
        let mut wrote = false;
        let mut staged = false;
        for (row, prepared) in rows.iter().zip(prepared) {
            let insert = Insert {
                project,
                row,
                prepared,
                threshold,
                now,
                stage_capacity,
            };
            let (outcome, was_staged) = self.insert_locked(&state, &mut guard, insert)?;
            wrote |= outcome == InsertOutcome::Inserted;
            staged |= was_staged;
            outcomes.push(outcome);
        }
        if bulk {
            guard.unstage_all()?;
            if guard.needs_relayout() {
                guard.relayout(&self.options.index)?;
            }
        }
        // A bulk insert may have left the graph's search copy behind.
        let background_work = guard.needs_background_work();
        drop(guard);
        if wrote {
            self.db.flush()?;
        }
        if (staged && !bulk) || background_work {
            self.indexer.notify(&index);
        }
        Ok(outcomes)
    }

    /// Returns the outcome and whether the vector was staged.
    fn insert_locked(
        &self,
        state: &VersionState,
        guard: &mut ProjectIndex,
        insert: Insert<'_, '_>,
    ) -> Result<(InsertOutcome, bool), StoreError> {
        let Insert {
            project,
            row,
            prepared,
            threshold,
            now,
            stage_capacity,
        } = insert;
        let existing = guard.hashes.id_of(row.hash);
        if let Some(threshold) = threshold {
            let request = SearchRequest {
                k: 1,
                radius: threshold,
                exclude: existing,
            };
            if let Some(hit) = guard.search(row.embedding, &request)?.into_iter().next() {
                let hash = guard
                    .hashes
                    .hash_of(hit.key)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        StoreError::corrupt(
                            &state.tree_name,
                            format!("index key {} has no record", hit.key),
                        )
                    })?;
                let neighbour = Neighbour {
                    hash,
                    distance: hit.distance,
                };
                return Ok((InsertOutcome::NeighbourExists(neighbour), false));
            }
        }
        if existing.is_some() {
            return Ok((InsertOutcome::HashExists, false));
        }
        let record = StoredRecord {
            id: self.db.generate_id()?,
            error_type: row.error_type.map(str::to_owned),
            first_seen: now,
            last_seen: now,
            embedding: prepared.value,
        };
        let key = record_key(project, record.id, row.hash);
        let value = encode_record(&record)?;
        // Expiry bit first: a crash between the two leaves a bit without a
        // record, which retention clears; never the reverse.
        self.mark_expiry(&state.name, project, record.id, now)?;
        state.records.insert(key.as_slice(), value.as_slice())?;
        let added = guard.add(
            record.id,
            &prepared.decoded,
            &self.options.index,
            state.dimensions,
            stage_capacity,
        );
        let staged = match added {
            Ok(staged) => staged,
            Err(error) => {
                // Keep sled and the index in agreement: undo the record.
                self.remove_record_rows(state, project, row.hash, &record)?;
                return Err(error.into());
            }
        };
        guard.hashes.insert(record.id, row.hash.to_owned());
        guard.dirty = true;
        Ok((InsertOutcome::Inserted, staged))
    }

    /// Removes a record, then its expiry entry (a crash in between leaves
    /// an expiry entry without a record, which retention drops).
    fn remove_record_rows(
        &self,
        state: &VersionState,
        project: u64,
        hash: &str,
        record: &StoredRecord,
    ) -> Result<(), StoreError> {
        state.records.remove(record_key(project, record.id, hash))?;
        self.unmark_expiry(&state.name, project, record.id, record.last_seen)
    }

    // ---- reads and touch -----------------------------------------------

    /// The stored record of (version, project, hash).
    pub fn record(
        &self,
        version: &str,
        project: u64,
        hash: &str,
    ) -> Result<Option<Record>, StoreError> {
        validate_version(version)?;
        validate_hash("hash", hash)?;
        let (Some(state), Some(index)) = (
            self.version_state(version)?,
            self.existing_index(version, project)?,
        ) else {
            return Ok(None);
        };
        let guard = index.read().map_err(|_| StoreError::Poisoned)?;
        find_record(&state, &guard, project, hash)?
            .map(|r| to_public(&state.tree_name, hash.to_owned(), r, state.dimensions))
            .transpose()
    }

    /// Refreshes a record's last-seen time (a match joined its issue).
    /// `Ok(false)` when there is no such record. Time never goes backwards.
    pub fn touch(
        &self,
        version: &str,
        project: u64,
        hash: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        validate_version(version)?;
        validate_hash("hash", hash)?;
        let Some(state) = self.version_state(version)? else {
            return Ok(false);
        };
        let index = self.project_index(version, project)?;
        let guard = index.write().map_err(|_| StoreError::Poisoned)?;
        let Some(mut record) = find_record(&state, &guard, project, hash)? else {
            return Ok(false);
        };
        if now <= record.last_seen {
            return Ok(true);
        }
        let old_last_seen = record.last_seen;
        let moves = expiry_key(old_last_seen, &state.name, project, record.id)
            != expiry_key(now, &state.name, project, record.id);
        record.last_seen = now;
        // New entry, record, then old entry: at every crash point the record
        // has an expiry entry matching its last-seen time (extra, stale
        // entries are dropped by retention).
        self.mark_expiry(&state.name, project, record.id, now)?;
        state.records.insert(
            record_key(project, record.id, hash),
            encode_record(&record)?,
        )?;
        if moves {
            self.unmark_expiry(&state.name, project, record.id, old_last_seen)?;
        }
        self.db.flush()?;
        Ok(true)
    }

    // ---- deletion ------------------------------------------------------

    /// Deletes exactly these hashes of `project`, in every model version,
    /// plus fingerprint cache entries keyed by them or pointing at them.
    /// Returns how many records were removed. Durable before `Ok`.
    pub fn delete_hashes(&self, project: u64, hashes: &[&str]) -> Result<usize, StoreError> {
        for hash in hashes {
            validate_hash("hash_list", hash)?;
        }
        let mut removed = 0;
        for state in self.version_states()? {
            let index = self.project_index(&state.name, project)?;
            let mut guard = index.write().map_err(|_| StoreError::Poisoned)?;
            for hash in hashes {
                if let Some(record) = find_record(&state, &guard, project, hash)? {
                    self.remove_record_rows(&state, project, hash, &record)?;
                    guard.remove(record.id)?;
                    removed += 1;
                }
            }
            if guard.needs_background_work() {
                self.indexer.notify(&index);
            }
        }
        self.forget_fingerprints_of_issues(project, hashes)?;
        self.db.flush()?;
        Ok(removed)
    }

    /// Deletes every record of `project` in every model version (its
    /// embeddings), keeping consent and the fingerprint cache: what
    /// withdrawing AI-grouping consent requires. Durable before `Ok`.
    pub fn delete_project_records(&self, project: u64) -> Result<usize, StoreError> {
        let mut removed = 0;
        for state in self.version_states()? {
            let index = self.project_index(&state.name, project)?;
            let mut guard = index.write().map_err(|_| StoreError::Poisoned)?;
            removed += self.delete_rows_of_project(&state, project)?;
            *guard = ProjectIndex::default();
        }
        self.db.flush()?;
        for state in self.version_states()? {
            remove_file_if_exists(&self.index_path(&state.name, project))?;
        }
        Ok(removed)
    }

    /// Deletes everything about `project`: records and indexes of every
    /// model version, saved graphs, fingerprint cache, consent. Durable
    /// before `Ok`; a restart or a saved graph cannot bring any of it back.
    pub fn delete_project(&self, project: u64) -> Result<usize, StoreError> {
        let removed = self.delete_project_records(project)?;
        self.delete_fingerprints_of_project(project)?;
        self.consent.remove(project_prefix(project))?;
        self.db.flush()?;
        Ok(removed)
    }

    /// Removes a project's rows from one version, in chunks: records first,
    /// then their expiry entries (an expiry entry without a record is
    /// harmless, retention drops it; the reverse would never expire).
    fn delete_rows_of_project(
        &self,
        state: &VersionState,
        project: u64,
    ) -> Result<usize, StoreError> {
        const CHUNK: usize = 10_000;
        let mut removed = 0;
        loop {
            let mut records = sled::Batch::default();
            let mut expiry: HashMap<Vec<u8>, Vec<Key>> = HashMap::new();
            let mut count = 0;
            for entry in state
                .records
                .scan_prefix(project_prefix(project))
                .take(CHUNK)
            {
                let (key, value) = entry?;
                let (_, id, _) = split_record_key(&state.tree_name, &key)?;
                let record = decode_record(&state.tree_name, id, &value)?;
                records.remove(key);
                expiry
                    .entry(expiry_key(
                        record.last_seen,
                        &state.name,
                        project,
                        record.id,
                    ))
                    .or_default()
                    .push(record.id);
                count += 1;
            }
            if count == 0 {
                return Ok(removed);
            }
            state.records.apply_batch(records)?;
            for (key, ids) in expiry {
                self.unmark_expiry_ids(&key, &ids)?;
            }
            removed += count;
        }
    }

    /// Removes the expired records named by these bitmaps from sled and
    /// the index together (used by retention): those last seen before
    /// `cutoff`. Bits of records touched into a later hour or deleted since
    /// are cleared; records of the bucket seen at or after `cutoff` stay.
    pub(crate) fn expire_entries(
        &self,
        version: &str,
        project: u64,
        bitmaps: &[ExpiredBitmap],
        cutoff: u64,
    ) -> Result<usize, StoreError> {
        let Some(state) = self.version_state(version)? else {
            for bitmap in bitmaps {
                self.expiry.remove(bitmap.key.as_slice())?;
            }
            return Ok(0);
        };
        let index = self.project_index(version, project)?;
        let mut guard = index.write().map_err(|_| StoreError::Poisoned)?;
        let mut removed = 0;
        for bitmap in bitmaps {
            let mut clear = Vec::new();
            for &id in &bitmap.ids {
                // The index knows every live record's id; an id it lacks was
                // deleted and its bit merely left behind.
                let record = match guard.hashes.hash_of(id) {
                    Some(hash) => read_record(&state.records, &state.tree_name, project, id, hash)?
                        .map(|record| (hash.to_owned(), record)),
                    None => None,
                };
                let Some((hash, record)) = record else {
                    clear.push(id);
                    continue;
                };
                if expiry_key(record.last_seen, &state.name, project, id) != bitmap.key {
                    clear.push(id);
                } else if record.last_seen < cutoff {
                    state.records.remove(record_key(project, id, &hash))?;
                    guard.remove(id)?;
                    clear.push(id);
                    removed += 1;
                }
            }
            self.unmark_expiry_ids(&bitmap.key, &clear)?;
        }
        if guard.needs_background_work() {
            drop(guard);
            self.indexer.notify(&index);
        }
        Ok(removed)
    }

    // ---- saving and loading graphs ---------------------------------------

    /// Saves every changed graph index (exact indexes are rebuilt from sled
    /// at open, as fast as reading a file). Returns how many were written.
    /// Files are written to a temporary name, synced, then renamed.
    pub fn save_indexes(&self) -> Result<usize, StoreError> {
        let entries: Vec<((String, u64), SharedIndex)> = {
            let indexes = self.indexes.read().map_err(|_| StoreError::Poisoned)?;
            indexes
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let mut saved = 0;
        for ((version, project), index) in entries {
            let mut guard = index.write().map_err(|_| StoreError::Poisoned)?;
            if !guard.dirty {
                continue;
            }
            // A saved graph must hold every live vector.
            guard.unstage_all()?;
            let path = self.index_path(&version, project);
            if !self.options.save_graphs {
                remove_file_if_exists(&path)?;
                guard.dirty = false;
                continue;
            }
            let bytes = match guard.index.as_ref() {
                Some(index) => index.to_bytes()?,
                None => None,
            };
            match bytes {
                Some(graph) => {
                    let dimensions = guard.index.as_ref().map_or(0, |i| i.dimensions());
                    let header = GraphHeader::V2 {
                        dimensions: u32::try_from(dimensions).unwrap_or(u32::MAX),
                    };
                    let packed = graph_file::pack(&graph)?;
                    drop(graph);
                    write_graph_file(&path, &encode(&header)?, &packed)?;
                    saved += 1;
                }
                None => remove_file_if_exists(&path)?,
            }
            guard.dirty = false;
        }
        Ok(saved)
    }

    /// Builds every (version, project) index from sled, loading saved graphs
    /// where they agree with it. Called once by [`Store::open`].
    pub(crate) fn load(&self) -> Result<OpenReport, StoreError> {
        let mut report = OpenReport::default();
        let mut states = Vec::new();
        for entry in self.versions_tree.iter() {
            let (name, value) = entry?;
            let name = std::str::from_utf8(&name)
                .map_err(|_| {
                    StoreError::corrupt(schema::VERSIONS_TREE, "version name is not UTF-8")
                })?
                .to_owned();
            let value: VersionValue = decode(schema::VERSIONS_TREE, &value)?;
            states.push(Arc::new(self.open_version(&name, &value)?));
        }
        let mut live_projects: HashSet<(String, u64)> = HashSet::new();
        for state in &states {
            let mut iter = state.records.iter().peekable();
            loop {
                let project = match iter.peek() {
                    None => break,
                    Some(Ok((key, _))) => split_record_key(&state.tree_name, key)?.0,
                    Some(Err(_)) => match iter.next() {
                        Some(Err(e)) => return Err(StoreError::Sled(e)),
                        _ => continue,
                    },
                };
                let mut project_rows = std::iter::from_fn(|| {
                    let next = iter.next_if(|entry| match entry {
                        Ok((key, _)) => key.starts_with(&project_prefix(project)),
                        Err(_) => true,
                    })?;
                    Some(next.map_err(StoreError::Sled))
                });
                let built = self.build_project(state, project, &mut project_rows, &mut report)?;
                // Drain what a failed load left unread (it is rebuilt by rescan).
                for row in project_rows {
                    row?;
                }
                report.records += built.hashes.len();
                live_projects.insert((state.name.clone(), project));
                // Saved with more tombstones than records (deleted after the
                // save), or rebuilt from sled in key order, not locality order.
                let background_work = built.needs_background_work();
                let built = Arc::new(RwLock::new(built));
                if background_work {
                    self.indexer.notify(&built);
                }
                let mut indexes = self.indexes.write().map_err(|_| StoreError::Poisoned)?;
                indexes.insert((state.name.clone(), project), built);
            }
        }
        report.stale_index_files_removed = self.remove_stale_graph_files(&live_projects)?;
        let mut versions = self.versions.write().map_err(|_| StoreError::Poisoned)?;
        for state in states {
            versions.insert(state.name.clone(), state);
        }
        Ok(report)
    }

    fn build_project(
        &self,
        state: &VersionState,
        project: u64,
        rows: &mut dyn Iterator<Item = Result<(sled::IVec, sled::IVec), StoreError>>,
        report: &mut OpenReport,
    ) -> Result<ProjectIndex, StoreError> {
        let path = self.index_path(&state.name, project);
        if !self.options.save_graphs {
            // Graphs are rebuilt from sled; a file left by an earlier
            // configuration only takes disk space.
            remove_file_if_exists(&path)?;
        }
        if matches!(
            self.options.index.backend,
            Backend::Hnsw | Backend::Adaptive
        ) && path.exists()
        {
            match self.load_graph(state, &path, rows)? {
                Some(loaded) => {
                    report.indexes_loaded += 1;
                    return Ok(loaded);
                }
                None => {
                    report.indexes_rejected += 1;
                    remove_file_if_exists(&path)?;
                }
            }
            // The rows iterator may be partly consumed: rebuild from a rescan.
            let mut rescan = state
                .records
                .scan_prefix(project_prefix(project))
                .map(|r| r.map_err(StoreError::Sled));
            report.indexes_rebuilt += 1;
            return self.rebuild(state, &mut rescan);
        }
        report.indexes_rebuilt += 1;
        self.rebuild(state, rows)
    }

    fn rebuild(
        &self,
        state: &VersionState,
        rows: &mut dyn Iterator<Item = Result<(sled::IVec, sled::IVec), StoreError>>,
    ) -> Result<ProjectIndex, StoreError> {
        let mut index = new_index(&self.options.index, state.dimensions)?;
        let mut hashes = RecordHashes::default();
        // Read in chunks so start-up holds one chunk of decoded vectors, not
        // the whole project.
        let mut chunk = Vec::with_capacity(REBUILD_CHUNK);
        for row in rows {
            let (key, value) = row?;
            let (_, id, hash) = split_record_key(&state.tree_name, &key)?;
            let record = decode_record(&state.tree_name, id, &value)?;
            let vector = decode_embedding(&state.tree_name, &record.embedding, state.dimensions)?;
            chunk.push((record.id, vector));
            hashes.insert(record.id, hash);
            if chunk.len() == REBUILD_CHUNK {
                add_rows(index.as_mut(), &chunk)?;
                chunk.clear();
            }
        }
        add_rows(index.as_mut(), &chunk)?;
        // A rebuilt graph is worth saving; an exact scan is not.
        let dirty = index.active_backend() == Backend::Hnsw;
        Ok(ProjectIndex::new(index, hashes, dirty))
    }

    /// Loads a saved graph, its vectors filled from the project's records,
    /// and reconciles it with them: records written after the save are
    /// added, keys deleted after it removed.
    /// `Ok(None)`: the file is unusable or disagrees; rebuild instead.
    fn load_graph(
        &self,
        state: &VersionState,
        path: &Path,
        rows: &mut dyn Iterator<Item = Result<(sled::IVec, sled::IVec), StoreError>>,
    ) -> Result<Option<ProjectIndex>, StoreError> {
        let Some((header, bytes, start)) = read_graph_file(path)? else {
            return Ok(None);
        };
        let GraphHeader::V2 { dimensions } = header else {
            return Ok(None);
        };
        if dimensions as usize != state.dimensions {
            return Ok(None);
        }
        let quantization = self.options.index.hnsw.quantization;
        let width = graph_scalar_width(quantization) * state.dimensions;
        let unpacked = graph_file::Unpacked::new(&bytes[start..], width);
        drop(bytes);
        let Ok(mut unpacked) = unpacked else {
            return Ok(None);
        };
        let mut hashes = RecordHashes::with_capacity(unpacked.keys().count());
        let mut written_after_save = Vec::new();
        for row in rows {
            let (key, value) = row?;
            let (_, id, hash) = split_record_key(&state.tree_name, &key)?;
            let record = decode_record(&state.tree_name, id, &value)?;
            let vector = decode_embedding(&state.tree_name, &record.embedding, state.dimensions)?;
            match unpacked.vector_mut(record.id) {
                Some(slot) => write_graph_vector(quantization, &vector, slot),
                None => written_after_save.push((record.id, vector)),
            }
            hashes.insert(record.id, hash);
        }
        let deleted_after_save = unpacked.unfilled_keys();
        // Saved in key order (compact); served in locality order (fast).
        let Ok(buffer) = unpacked
            .into_buffer()
            .and_then(|b| graph_file::in_locality_order(&b))
        else {
            return Ok(None);
        };
        let restored = restore_index(&self.options.index, state.dimensions, &buffer);
        drop(buffer);
        let Ok(mut index) = restored else {
            return Ok(None);
        };
        for key in &deleted_after_save {
            if index.remove(*key).is_err() {
                return Ok(None);
            }
        }
        let changed = !deleted_after_save.is_empty() || !written_after_save.is_empty();
        if add_rows(index.as_mut(), &written_after_save).is_err() || index.len() != hashes.len() {
            return Ok(None);
        }
        // A project that shrank well below the exact threshold goes back to the scan.
        if self.options.index.backend == Backend::Adaptive
            && hashes.len() <= self.options.index.exact_max / 2
        {
            return Ok(None);
        }
        let mut loaded = ProjectIndex::new(index, hashes, changed);
        loaded.mark_laid_out();
        Ok(Some(loaded))
    }

    /// Deletes saved graphs of (version, project)s that have no records.
    fn remove_stale_graph_files(&self, live: &HashSet<(String, u64)>) -> Result<usize, StoreError> {
        let root = self.dir.join("indexes");
        let mut removed = 0;
        let versions = match std::fs::read_dir(&root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(StoreError::io(&root, e)),
        };
        for version_dir in versions {
            let version_dir = version_dir.map_err(|e| StoreError::io(&root, e))?;
            let version = version_dir.file_name().to_string_lossy().into_owned();
            let files = std::fs::read_dir(version_dir.path())
                .map_err(|e| StoreError::io(&version_dir.path(), e))?;
            for file in files {
                let file = file.map_err(|e| StoreError::io(&version_dir.path(), e))?;
                let name = file.file_name().to_string_lossy().into_owned();
                let project = name
                    .strip_suffix(".graph")
                    .and_then(|p| p.parse::<u64>().ok());
                let keep = project.is_some_and(|p| live.contains(&(version.clone(), p)));
                if !keep {
                    remove_file_if_exists(&file.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// The record of `hash`, found through the project's id ↔ hash table (its
/// key starts with its id). A table entry without a record (left by a
/// failed sled write) reads as no record: sled is the source of truth.
fn find_record(
    state: &VersionState,
    index: &ProjectIndex,
    project: u64,
    hash: &str,
) -> Result<Option<StoredRecord>, StoreError> {
    match index.hashes.id_of(hash) {
        Some(id) => read_record(&state.records, &state.tree_name, project, id, hash),
        None => Ok(None),
    }
}

/// Vectors decoded at a time while rebuilding an index at open (small in
/// unit tests, so that their rebuilds cross chunk boundaries).
const REBUILD_CHUNK: usize = if cfg!(test) { 16 } else { 65_536 };

/// Adds a chunk of a rebuild. Sized first, so that the adaptive backend goes
/// straight to a graph once the project outgrows the scan; a graph is then
/// built from all cores.
fn remove_file_if_exists(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(path, e)),
    }
}

fn write_graph_file(path: &Path, header: &[u8], graph: &[u8]) -> Result<(), StoreError> {
    let dir = path
        .parent()
        .ok_or_else(|| StoreError::Options(format!("{} has no parent", path.display())))?;
    std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    let temporary = path.with_extension("graph.tmp");
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(GRAPH_MAGIC)?;
        let header_len = u64::try_from(header.len()).unwrap_or(u64::MAX);
        file.write_all(&header_len.to_le_bytes())?;
        file.write_all(header)?;
        file.write_all(graph)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        // Make the rename itself durable.
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| StoreError::io(path, e))
}

/// `Ok(None)` for a file that is not a complete graph file of ours.
/// Returns the header, the file's bytes, and where the graph starts in them.
fn read_graph_file(path: &Path) -> Result<Option<(GraphHeader, Vec<u8>, usize)>, StoreError> {
    let bytes = std::fs::read(path).map_err(|e| StoreError::io(path, e))?;
    let Some(rest) = bytes.strip_prefix(GRAPH_MAGIC.as_slice()) else {
        return Ok(None);
    };
    let Some((length, rest)) = rest.split_first_chunk::<8>() else {
        return Ok(None);
    };
    let Ok(length) = usize::try_from(u64::from_le_bytes(*length)) else {
        return Ok(None);
    };
    let Some(header) = rest.get(..length) else {
        return Ok(None);
    };
    let Ok(header) = decode::<GraphHeader>("graph file", header) else {
        return Ok(None);
    };
    let start = GRAPH_MAGIC.len() + 8 + length;
    Ok(Some((header, bytes, start)))
}
