//! On-disk layout: sled trees, key encodings, and the bincode value types.
//!
//! # Trees
//!
//! | tree | key | value |
//! |---|---|---|
//! | `meta` | `b"schema_version"` | `u32` little-endian ([`SCHEMA_VERSION`]) |
//! | `versions` | model version name (UTF-8) | [`VersionValue`] |
//! | `records_by_id/<version>` | project `u64` BE ‖ record id `u64` BE ‖ hash key | [`RecordValue`] |
//! | `expiry_buckets` | last-seen hour `u64` BE ‖ version length `u8` ‖ version ‖ project `u64` BE ‖ record id / 1024 `u64` BE | 128-byte bitmap: bit `id % 1024` set for each record of that (version, project) last seen in that hour |
//! | `fingerprints` | project `u64` BE ‖ fingerprint hash key | [`FingerprintValue`] |
//! | `consent` | project `u64` BE | [`ConsentValue`] |
//!
//! A *hash key* is `0x00` ‖ 16 bytes for a 32-character lowercase hex hash
//! (Sentry's hashes; half the bytes of the text), and `0x01` ‖ UTF-8 for
//! anything else, so every hash round-trips exactly. Big-endian integers keep
//! one project's keys contiguous (prefix scans for deletion) and the expiry
//! tree ordered by time (retention reads only the expired prefix). Schema 1
//! had one `expiry` entry per record (~65 bytes on disk each, a fifth of a
//! 64-dimension record); schema 2's bitmaps cost ~1/8 byte per record.
//!
//! # Values and versioning
//!
//! Values are bincode (standard configuration: varint integers) of an enum
//! whose variant is the value's layout version (`V1`, …). A new layout adds a
//! variant; readers convert old variants on read. Changes that cannot be done
//! value by value (key layout, tree names) bump [`SCHEMA_VERSION`] and add a
//! step to [`migrate`], which runs once at open; so does a new value layout
//! (with an empty step), so that an older build refuses the database rather
//! than failing on values it cannot read.
//!
//! Schema 3 writes records as [`RecordValue::V2`] (last-seen as a delta from
//! first-seen) with f16 embeddings packed ([`EmbeddingValue::F16Packed`]):
//! 64-dimension records ~22 B smaller on disk than schema 2's (measured in
//! `benches/README.md`). Records of schema 2 are read as they are.
//!
//! Schema 4 keys records by (project, record id, hash) instead of (project,
//! hash), in a new tree per version (`records_by_id/` instead of
//! `records/`), values in layout [`RecordValue::V3`] (the id is in the
//! key). Record ids grow with every insert, so a project's inserts append
//! at the end of its key range: sled rewrites only the last leaf, and its
//! log keeps ~100 B per record less garbage than when every insert landed
//! in a random leaf (Sentry's hashes are MD5s, in no order). A hash is found
//! through the in-memory id ↔ hash table of its project
//! ([`super::record_hashes`]), rebuilt from the keys at open.

use super::StoreError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Layout version of the whole database. Bump with a step in [`migrate`].
pub const SCHEMA_VERSION: u32 = 4;

pub(crate) const META_TREE: &str = "meta";
pub(crate) const VERSIONS_TREE: &str = "versions";
pub(crate) const EXPIRY_TREE: &str = "expiry_buckets";
/// Schema 1's per-record expiry tree (migrated away).
const EXPIRY_TREE_V1: &str = "expiry";
pub(crate) const FINGERPRINTS_TREE: &str = "fingerprints";
pub(crate) const CONSENT_TREE: &str = "consent";
const RECORDS_TREE_PREFIX: &str = "records_by_id/";
/// Schemas 1–3 kept records in `records/<version>`, keyed by (project, hash).
const RECORDS_TREE_PREFIX_V3: &str = "records/";
const SCHEMA_KEY: &[u8] = b"schema_version";

/// Longest accepted hash (record hash, fingerprint hash, issue hash).
pub const MAX_HASH_BYTES: usize = 256;
/// Longest accepted model version name.
pub const MAX_VERSION_BYTES: usize = 64;
/// Longest accepted error type.
pub const MAX_ERROR_TYPE_BYTES: usize = 1024;
/// Largest accepted embedding.
pub const MAX_DIMENSIONS: usize = 16_384;

/// How a record's embedding is stored. Chosen per model version when the
/// version is first written and kept in its [`VersionValue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingFormat {
    /// 4 bytes per dimension.
    F32,
    /// IEEE half precision, 2 bytes per dimension (the default: on clustered
    /// vectors it returns the same neighbours as f32, see the store docs).
    F16,
    /// One signed byte per dimension plus one f32 scale per vector.
    I8,
}

/// Per model version, fixed when the version is first written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum VersionValue {
    V1 {
        dimensions: u32,
        format: EmbeddingFormat,
    },
}

/// An embedding as stored: little-endian f32, f16 bits (plain, or packed
/// losslessly by [`packed_f16`](super::packed_f16)), or i8 with a
/// per-vector scale (value = byte × scale). Variants are only ever added at
/// the end (bincode numbers them by position).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum EmbeddingValue {
    F32(Vec<u8>),
    F16(Vec<u8>),
    I8 {
        scale: f32,
        bytes: Vec<u8>,
    },
    /// Since record layout V2: the f16 bits of [`F16`](Self::F16), packed.
    F16Packed(Vec<u8>),
}

impl EmbeddingValue {
    pub(crate) fn format(&self) -> EmbeddingFormat {
        match self {
            EmbeddingValue::F32(_) => EmbeddingFormat::F32,
            EmbeddingValue::F16(_) | EmbeddingValue::F16Packed(_) => EmbeddingFormat::F16,
            EmbeddingValue::I8 { .. } => EmbeddingFormat::I8,
        }
    }
}

/// A record as the store works with it, whatever layout it was read from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredRecord {
    /// Key of the record in its vector index; unique in the database and
    /// never reused, so a stale saved index cannot confuse two records.
    pub id: u64,
    pub error_type: Option<String>,
    pub first_seen: u64,
    /// Never before `first_seen` (inserts set both, touches only advance it).
    pub last_seen: u64,
    pub embedding: EmbeddingValue,
}

/// Record layout 1 (schema 1 and 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RecordV1 {
    pub id: u64,
    pub error_type: Option<String>,
    pub first_seen: u64,
    pub last_seen: u64,
    pub embedding: EmbeddingValue,
}

/// Record layout 2 (schema 3): last-seen as seconds after first-seen (one
/// varint byte for a record never touched, instead of five).
/// The schema-4 migration rewrites such records as V3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RecordV2 {
    pub id: u64,
    pub error_type: Option<String>,
    pub first_seen: u64,
    pub seen_for: u64,
    pub embedding: EmbeddingValue,
}

/// Record layout 3 (schema 4): layout 2 without the id, which the key holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RecordV3 {
    pub error_type: Option<String>,
    pub first_seen: u64,
    pub seen_for: u64,
    pub embedding: EmbeddingValue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum RecordValue {
    V1(RecordV1),
    V2(RecordV2),
    V3(RecordV3),
}

impl RecordValue {
    /// The record in the layout written now.
    pub(crate) fn current(record: StoredRecord) -> Result<RecordValue, StoreError> {
        let seen_for = record
            .last_seen
            .checked_sub(record.first_seen)
            .ok_or_else(|| {
                StoreError::Encode(format!(
                    "record {} was last seen ({}) before it was first seen ({})",
                    record.id, record.last_seen, record.first_seen
                ))
            })?;
        Ok(RecordValue::V3(RecordV3 {
            error_type: record.error_type,
            first_seen: record.first_seen,
            seen_for,
            embedding: record.embedding,
        }))
    }

    /// The id a layout before V3 holds (those were keyed by hash alone).
    pub(crate) fn stored_id(&self) -> Option<u64> {
        match self {
            RecordValue::V1(r) => Some(r.id),
            RecordValue::V2(r) => Some(r.id),
            RecordValue::V3(_) => None,
        }
    }

    /// The record with id `id` (from its key), whichever layout it was
    /// stored in. A layout holding an id of its own must agree.
    pub(crate) fn into_record(self, tree: &str, id: u64) -> Result<StoredRecord, StoreError> {
        if let Some(stored) = self.stored_id()
            && stored != id
        {
            return Err(StoreError::corrupt(
                tree,
                format!("record keyed by id {id} holds id {stored}"),
            ));
        }
        let r = match self {
            RecordValue::V1(r) => {
                return Ok(StoredRecord {
                    id,
                    error_type: r.error_type,
                    first_seen: r.first_seen,
                    last_seen: r.last_seen,
                    embedding: r.embedding,
                });
            }
            RecordValue::V2(r) => RecordV3 {
                error_type: r.error_type,
                first_seen: r.first_seen,
                seen_for: r.seen_for,
                embedding: r.embedding,
            },
            RecordValue::V3(r) => r,
        };
        Ok(StoredRecord {
            id,
            last_seen: r.first_seen.checked_add(r.seen_for).ok_or_else(|| {
                StoreError::corrupt(tree, format!("record {id} last seen past u64"))
            })?,
            error_type: r.error_type,
            first_seen: r.first_seen,
            embedding: r.embedding,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum FingerprintValue {
    V1 {
        issue_hash: String,
    },
    /// Since schema 1 as well: V1 plus how the fingerprint joined its issue.
    V2 {
        issue_hash: String,
        joined: super::fingerprints::Joined,
    },
}

impl FingerprintValue {
    pub(crate) fn issue_hash(&self) -> &str {
        match self {
            FingerprintValue::V1 { issue_hash } | FingerprintValue::V2 { issue_hash, .. } => {
                issue_hash
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum ConsentValue {
    V1 {
        ai_grouping: bool,
        region: String,
        baa: bool,
    },
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| StoreError::Encode(e.to_string()))
}

pub(crate) fn decode<T: DeserializeOwned>(tree: &str, bytes: &[u8]) -> Result<T, StoreError> {
    let (value, read) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| StoreError::corrupt(tree, e.to_string()))?;
    if read != bytes.len() {
        return Err(StoreError::corrupt(tree, "trailing bytes after value"));
    }
    Ok(value)
}

pub(crate) fn records_tree_name(version: &str) -> String {
    format!("{RECORDS_TREE_PREFIX}{version}")
}

/// Model versions with a records tree of schemas 1–3, and the tree's name.
pub(crate) fn records_trees_v3(db: &sled::Db) -> Result<Vec<(String, String)>, StoreError> {
    let mut trees = Vec::new();
    for name in db.tree_names() {
        let Some(version) = name.strip_prefix(RECORDS_TREE_PREFIX_V3.as_bytes()) else {
            continue;
        };
        let version = std::str::from_utf8(version).map_err(|_| {
            StoreError::corrupt(RECORDS_TREE_PREFIX_V3, "version name is not UTF-8")
        })?;
        trees.push((
            version.to_owned(),
            format!("{RECORDS_TREE_PREFIX_V3}{version}"),
        ));
    }
    Ok(trees)
}

const HEX_TAG: u8 = 0;
const TEXT_TAG: u8 = 1;

fn is_packable_hex(hash: &str) -> bool {
    hash.len() == 32 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        _ => b - b'a' + 10,
    }
}

pub(crate) fn push_hash(key: &mut Vec<u8>, hash: &str) {
    if is_packable_hex(hash) {
        key.push(HEX_TAG);
        for pair in hash.as_bytes().chunks_exact(2) {
            key.push((hex_value(pair[0]) << 4) | hex_value(pair[1]));
        }
    } else {
        key.push(TEXT_TAG);
        key.extend_from_slice(hash.as_bytes());
    }
}

pub(crate) fn decode_hash(tree: &str, bytes: &[u8]) -> Result<String, StoreError> {
    match bytes.split_first() {
        Some((&HEX_TAG, packed)) if packed.len() == 16 => Ok(hex::encode(packed)),
        Some((&TEXT_TAG, text)) => std::str::from_utf8(text)
            .map(str::to_owned)
            .map_err(|_| StoreError::corrupt(tree, "hash is not UTF-8")),
        _ => Err(StoreError::corrupt(tree, "malformed hash key")),
    }
}

pub(crate) fn project_prefix(project: u64) -> [u8; 8] {
    project.to_be_bytes()
}

/// `fingerprints` key (and schema 3's records key): project ‖ hash key.
pub(crate) fn project_hash_key(project: u64, hash: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + 1 + hash.len());
    key.extend_from_slice(&project_prefix(project));
    push_hash(&mut key, hash);
    key
}

fn read_u64(tree: &str, bytes: &[u8]) -> Result<u64, StoreError> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StoreError::corrupt(tree, "key too short"))?;
    Ok(u64::from_be_bytes(array))
}

pub(crate) fn split_project_hash_key(tree: &str, key: &[u8]) -> Result<(u64, String), StoreError> {
    if key.len() < 9 {
        return Err(StoreError::corrupt(tree, "key too short"));
    }
    let (project, hash) = key.split_at(8);
    Ok((read_u64(tree, project)?, decode_hash(tree, hash)?))
}

/// `records_by_id/<version>` key: project ‖ record id ‖ hash key.
pub(crate) fn record_key(project: u64, id: u64, hash: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(16 + 1 + hash.len());
    key.extend_from_slice(&project_prefix(project));
    key.extend_from_slice(&id.to_be_bytes());
    push_hash(&mut key, hash);
    key
}

/// (project, record id, hash) of a `records_by_id/<version>` key.
pub(crate) fn split_record_key(tree: &str, key: &[u8]) -> Result<(u64, u64, String), StoreError> {
    if key.len() < 17 {
        return Err(StoreError::corrupt(tree, "key too short"));
    }
    let (project, rest) = key.split_at(8);
    let (id, hash) = rest.split_at(8);
    Ok((
        read_u64(tree, project)?,
        read_u64(tree, id)?,
        decode_hash(tree, hash)?,
    ))
}

/// Seconds of last-seen time per expiry bucket.
pub(crate) const EXPIRY_BUCKET_SECONDS: u64 = 3_600;
/// Record ids per expiry bitmap (one bit each).
pub(crate) const EXPIRY_IDS_PER_BITMAP: u64 = 1_024;
/// Bytes of one expiry bitmap.
pub(crate) const EXPIRY_BITMAP_BYTES: usize = (EXPIRY_IDS_PER_BITMAP / 8) as usize;

/// The key of one expiry bitmap: the records of (version, project) whose ids
/// fall in `chunk` and whose last-seen time falls in `bucket`. Record ids are
/// allocated in increasing order, so a project's records inserted in the
/// same hour share bitmaps: ~1/8 byte per record in bulk, instead of a key
/// per record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExpiryBucket {
    pub bucket: u64,
    pub version: String,
    pub project: u64,
    pub chunk: u64,
}

impl ExpiryBucket {
    /// The record ids whose bits are set in `bitmap`.
    pub(crate) fn ids(&self, bitmap: &[u8]) -> Vec<u64> {
        let base = self.chunk.saturating_mul(EXPIRY_IDS_PER_BITMAP);
        let mut ids = Vec::new();
        for (byte_at, byte) in bitmap.iter().enumerate() {
            for bit in 0..8u64 {
                if byte & (1 << bit) != 0 {
                    ids.push(base + byte_at as u64 * 8 + bit);
                }
            }
        }
        ids
    }
}

/// The bitmap key holding record `id`'s bit, and the bit (byte, mask).
pub(crate) fn expiry_key(last_seen: u64, version: &str, project: u64, id: u64) -> Vec<u8> {
    encode_expiry_key(
        last_seen / EXPIRY_BUCKET_SECONDS,
        version,
        project,
        id / EXPIRY_IDS_PER_BITMAP,
    )
}

pub(crate) fn expiry_bit(id: u64) -> (usize, u8) {
    let offset = id % EXPIRY_IDS_PER_BITMAP;
    ((offset / 8) as usize, 1 << (offset % 8))
}

/// The end (exclusive) of the keys of buckets that start before `second`.
pub(crate) fn expiry_bucket_bound(second: u64) -> [u8; 8] {
    second.div_ceil(EXPIRY_BUCKET_SECONDS).to_be_bytes()
}

fn encode_expiry_key(first: u64, version: &str, project: u64, last: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + 1 + version.len() + 8 + 8);
    key.extend_from_slice(&first.to_be_bytes());
    // Version names are at most MAX_VERSION_BYTES (< 256), checked on input.
    key.push(u8::try_from(version.len()).unwrap_or(u8::MAX));
    key.extend_from_slice(version.as_bytes());
    key.extend_from_slice(&project_prefix(project));
    key.extend_from_slice(&last.to_be_bytes());
    key
}

/// Splits `u64 ‖ version length ‖ version ‖ project ‖ u64` (the layout of
/// both expiry trees).
fn split_expiry_layout(tree: &str, key: &[u8]) -> Result<(u64, String, u64, u64), StoreError> {
    let short = || StoreError::corrupt(tree, "key too short");
    let first = read_u64(tree, key.get(..8).ok_or_else(short)?)?;
    let version_len = usize::from(*key.get(8).ok_or_else(short)?);
    let version = key.get(9..9 + version_len).ok_or_else(short)?;
    let version = std::str::from_utf8(version)
        .map_err(|_| StoreError::corrupt(tree, "version is not UTF-8"))?
        .to_owned();
    let rest = key.get(9 + version_len..).ok_or_else(short)?;
    if rest.len() != 16 {
        return Err(StoreError::corrupt(tree, "malformed key"));
    }
    let (project, last) = rest.split_at(8);
    Ok((
        first,
        version,
        read_u64(tree, project)?,
        read_u64(tree, last)?,
    ))
}

pub(crate) fn split_expiry_key(key: &[u8]) -> Result<ExpiryBucket, StoreError> {
    let (bucket, version, project, chunk) = split_expiry_layout(EXPIRY_TREE, key)?;
    Ok(ExpiryBucket {
        bucket,
        version,
        project,
        chunk,
    })
}

/// Schema 1 → 2: the per-record `expiry` tree (key = last-seen ‖ version ‖
/// project ‖ id, one entry per record) becomes bitmaps in `expiry_buckets`.
/// Idempotent: the new tree is rebuilt from scratch, and the old one is
/// dropped only once the schema version is bumped ([`drop_migrated_trees`]).
fn migrate_expiry_to_buckets(db: &sled::Db) -> Result<(), StoreError> {
    let old = db.open_tree(EXPIRY_TREE_V1)?;
    let new = db.open_tree(EXPIRY_TREE)?;
    new.clear()?;
    let mut bitmaps: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = Default::default();
    for entry in old.iter() {
        let (key, _) = entry?;
        let (last_seen, version, project, id) = split_expiry_layout(EXPIRY_TREE_V1, &key)?;
        let (byte, mask) = expiry_bit(id);
        let bitmap = bitmaps
            .entry(expiry_key(last_seen, &version, project, id))
            .or_insert_with(|| vec![0; EXPIRY_BITMAP_BYTES]);
        bitmap[byte] |= mask;
    }
    for (key, bitmap) in bitmaps {
        new.insert(key, bitmap)?;
    }
    db.flush()?;
    Ok(())
}

/// Drops the trees earlier schemas used, once the schema version says they
/// were migrated (dropping them before the bump would let a crash rerun the
/// step from nothing). Runs at every open: a crash may come between the
/// bump and the drop.
fn drop_migrated_trees(db: &sled::Db) -> Result<(), StoreError> {
    for name in db.tree_names() {
        if name.as_ref() == EXPIRY_TREE_V1.as_bytes()
            || name.starts_with(RECORDS_TREE_PREFIX_V3.as_bytes())
        {
            db.drop_tree(&name)?;
        }
    }
    Ok(())
}

/// Reads the schema version, runs migrations up to [`SCHEMA_VERSION`], and
/// refuses a database written by a newer build.
pub(crate) fn migrate(db: &sled::Db) -> Result<(), StoreError> {
    let meta = db.open_tree(META_TREE)?;
    let found = match meta.get(SCHEMA_KEY)? {
        None => None,
        Some(bytes) => {
            let array: [u8; 4] = bytes
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::corrupt(META_TREE, "schema_version is not a u32"))?;
            Some(u32::from_le_bytes(array))
        }
    };
    let mut version = match found {
        // A new database, or one whose first write never finished.
        None => SCHEMA_VERSION,
        Some(v) if v > SCHEMA_VERSION => {
            return Err(StoreError::SchemaTooNew {
                found: v,
                supported: SCHEMA_VERSION,
            });
        }
        Some(v) => v,
    };
    while version < SCHEMA_VERSION {
        // Each step rewrites what changed between `version` and `version + 1`
        // and must be idempotent (a crash mid-step reruns it).
        // 2 → 3 (record layout V2, packed f16 embeddings) rewrites nothing:
        // old values are read as they are and rewritten when next written.
        // The version is bumped so that older builds refuse the database
        // instead of calling its new values corrupt.
        // 3 → 4 moves records to trees keyed by (project, id, hash).
        match version {
            1 => migrate_expiry_to_buckets(db)?,
            3 => super::records::migrate_to_id_keys(db)?,
            _ => {}
        }
        version += 1;
    }
    if found != Some(SCHEMA_VERSION) {
        meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_le_bytes())?;
        db.flush()?;
    }
    drop_migrated_trees(db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_round_trip_through_keys() -> Result<(), StoreError> {
        for hash in [
            "0123456789abcdef0123456789abcdef",
            "0123456789ABCDEF0123456789ABCDEF",
            "short",
            "ünïcode/with spaces",
            "0123456789abcdef0123456789abcdeg",
        ] {
            let key = project_hash_key(42, hash);
            assert_eq!(split_project_hash_key("t", &key)?, (42, hash.to_owned()));
        }
        assert_eq!(
            project_hash_key(1, "0123456789abcdef0123456789abcdef").len(),
            8 + 1 + 16
        );
        Ok(())
    }

    #[test]
    fn expiry_keys_sort_by_time_and_round_trip() -> Result<(), StoreError> {
        let early = expiry_key(100, "v2", 7, 9);
        let late = expiry_key(2 * EXPIRY_BUCKET_SECONDS, "v1", 1, 3);
        assert!(early < late);
        assert!(late.as_slice() >= expiry_bucket_bound(2 * EXPIRY_BUCKET_SECONDS).as_slice());
        assert!(early.as_slice() < expiry_bucket_bound(EXPIRY_BUCKET_SECONDS).as_slice());
        let entry = split_expiry_key(&early)?;
        assert_eq!(
            entry,
            ExpiryBucket {
                bucket: 0,
                version: "v2".into(),
                project: 7,
                chunk: 0
            }
        );
        // Ids 9 and 1024 + 9 share a bit position but not a bitmap.
        assert_ne!(expiry_key(100, "v2", 7, 1033), early);
        assert_eq!(expiry_bit(9), expiry_bit(1033));
        let mut bitmap = vec![0u8; EXPIRY_BITMAP_BYTES];
        for id in [1024u64, 1033, 2047] {
            let (byte, mask) = expiry_bit(id);
            bitmap[byte] |= mask;
        }
        let bucket = split_expiry_key(&expiry_key(100, "v2", 7, 1033))?;
        assert_eq!(bucket.ids(&bitmap), vec![1024, 1033, 2047]);
        assert!(split_expiry_key(&early[..10]).is_err());
        Ok(())
    }

    #[test]
    fn values_are_versioned_and_strictly_decoded() -> Result<(), StoreError> {
        let value = RecordValue::V1(RecordV1 {
            id: 3,
            error_type: Some("KeyError".into()),
            first_seen: 1,
            last_seen: 2,
            embedding: EmbeddingValue::F16(vec![1, 2, 3, 4]),
        });
        let bytes = encode(&value)?;
        // The first byte is the layout variant (V1 = 0).
        assert_eq!(bytes[0], 0);
        assert_eq!(decode::<RecordValue>("t", &bytes)?, value);
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode::<RecordValue>("t", &longer).is_err());
        assert!(decode::<RecordValue>("t", &bytes[..bytes.len() - 1]).is_err());
        Ok(())
    }

    fn stored(first_seen: u64, last_seen: u64) -> StoredRecord {
        StoredRecord {
            id: 70_000,
            error_type: Some("KeyError".into()),
            first_seen,
            last_seen,
            embedding: EmbeddingValue::F16Packed(vec![9, 8, 7]),
        }
    }

    #[test]
    fn every_record_layout_reads_as_the_same_record() -> Result<(), StoreError> {
        let record = stored(1_764_000_000, 1_764_000_500);
        let v1 = RecordValue::V1(RecordV1 {
            id: record.id,
            error_type: record.error_type.clone(),
            first_seen: record.first_seen,
            last_seen: record.last_seen,
            embedding: record.embedding.clone(),
        });
        let v2 = RecordValue::V2(RecordV2 {
            id: record.id,
            error_type: record.error_type.clone(),
            first_seen: record.first_seen,
            seen_for: record.last_seen - record.first_seen,
            embedding: record.embedding.clone(),
        });
        let v3 = RecordValue::current(record.clone())?;
        assert!(matches!(v3, RecordValue::V3(_)));
        let v3_bytes = encode(&v3)?;
        assert_eq!(v3_bytes[0], 2);
        // A record never touched spends one byte on last-seen, not five,
        // and none on its id (70,000: five varint bytes), which the key holds.
        let untouched = encode(&RecordValue::current(stored(1_764_000_000, 1_764_000_000))?)?;
        assert_eq!(encode(&v1)?.len() - untouched.len(), 4 + 5);
        for value in [v1, v2, decode::<RecordValue>("t", &v3_bytes)?] {
            assert_eq!(value.into_record("t", record.id)?, record);
        }
        Ok(())
    }

    #[test]
    fn a_record_holding_another_id_than_its_key_is_corrupt() {
        let v2 = RecordValue::V2(RecordV2 {
            id: 5,
            error_type: None,
            first_seen: 1,
            seen_for: 0,
            embedding: EmbeddingValue::F16(vec![]),
        });
        assert_eq!(v2.stored_id(), Some(5));
        assert!(matches!(
            v2.into_record("t", 6),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn record_keys_round_trip_and_sort_by_project_then_id() -> Result<(), StoreError> {
        let hash = "ffffffffffffffffffffffffffffffff";
        for (project, id, hash) in [(1, 2, hash), (u64::MAX, 0, "short"), (0, u64::MAX, "ü")] {
            let key = record_key(project, id, hash);
            assert_eq!(split_record_key("t", &key)?, (project, id, hash.to_owned()));
        }
        // Inserts append: a later id sorts after every hash of an earlier one.
        assert!(record_key(1, 2, hash) < record_key(1, 3, "00000000000000000000000000000000"));
        assert!(record_key(1, u64::MAX, hash) < record_key(2, 0, "a"));
        assert_eq!(record_key(1, 2, hash).len(), 8 + 8 + 1 + 16);
        assert!(split_record_key("t", &record_key(1, 2, hash)[..16]).is_err());
        Ok(())
    }

    #[test]
    fn impossible_times_are_errors_not_wraparounds() {
        assert!(matches!(
            RecordValue::current(stored(10, 9)),
            Err(StoreError::Encode(_))
        ));
        let overflowing = RecordValue::V3(RecordV3 {
            error_type: None,
            first_seen: u64::MAX,
            seen_for: 1,
            embedding: EmbeddingValue::F16(vec![]),
        });
        assert!(overflowing.into_record("t", 1).is_err());
    }
}
