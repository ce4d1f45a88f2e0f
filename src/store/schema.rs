//! On-disk layout: sled trees, key encodings, and the bincode value types.
//!
//! # Trees
//!
//! | tree | key | value |
//! |---|---|---|
//! | `meta` | `b"schema_version"` | `u32` little-endian ([`SCHEMA_VERSION`]) |
//! | `versions` | model version name (UTF-8) | [`VersionValue`] |
//! | `records/<version>` | project `u64` BE ‖ hash key | [`RecordValue`] |
//! | `expiry` | last-seen `u64` BE ‖ version length `u8` ‖ version ‖ project `u64` BE ‖ record id `u64` BE | empty |
//! | `fingerprints` | project `u64` BE ‖ fingerprint hash key | [`FingerprintValue`] |
//! | `consent` | project `u64` BE | [`ConsentValue`] |
//!
//! A *hash key* is `0x00` ‖ 16 bytes for a 32-character lowercase hex hash
//! (Sentry's hashes; half the bytes of the text), and `0x01` ‖ UTF-8 for
//! anything else, so every hash round-trips exactly. Big-endian integers keep
//! one project's keys contiguous (prefix scans for deletion) and the expiry
//! tree ordered by time (retention reads only the expired prefix).
//!
//! # Values and versioning
//!
//! Values are bincode (standard configuration: varint integers) of an enum
//! whose variant is the value's layout version (`V1`, …). A new layout adds a
//! variant; readers convert old variants on read. Changes that cannot be done
//! value by value (key layout, tree names) bump [`SCHEMA_VERSION`] and add a
//! step to [`migrate`], which runs once at open.

use super::StoreError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Layout version of the whole database. Bump with a step in [`migrate`].
pub const SCHEMA_VERSION: u32 = 1;

pub(crate) const META_TREE: &str = "meta";
pub(crate) const VERSIONS_TREE: &str = "versions";
pub(crate) const EXPIRY_TREE: &str = "expiry";
pub(crate) const FINGERPRINTS_TREE: &str = "fingerprints";
pub(crate) const CONSENT_TREE: &str = "consent";
const RECORDS_TREE_PREFIX: &str = "records/";
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

/// An embedding as stored: little-endian f32, f16 bits, or i8 with a
/// per-vector scale (value = byte × scale).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum EmbeddingValue {
    F32(Vec<u8>),
    F16(Vec<u8>),
    I8 { scale: f32, bytes: Vec<u8> },
}

impl EmbeddingValue {
    pub(crate) fn format(&self) -> EmbeddingFormat {
        match self {
            EmbeddingValue::F32(_) => EmbeddingFormat::F32,
            EmbeddingValue::F16(_) => EmbeddingFormat::F16,
            EmbeddingValue::I8 { .. } => EmbeddingFormat::I8,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RecordV1 {
    /// Key of the record in its vector index; unique in the database and
    /// never reused, so a stale saved index cannot confuse two records.
    pub id: u64,
    pub error_type: Option<String>,
    pub first_seen: u64,
    pub last_seen: u64,
    pub embedding: EmbeddingValue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum RecordValue {
    V1(RecordV1),
}

impl RecordValue {
    /// The current layout (older variants are converted here).
    pub(crate) fn into_current(self) -> RecordV1 {
        match self {
            RecordValue::V1(record) => record,
        }
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

/// `records/<version>` key and `fingerprints` key: project ‖ hash key.
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

/// One entry of the `expiry` tree. It names the record by id, not hash (8
/// bytes instead of 17+); the id → hash map of the project's index resolves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExpiryEntry {
    pub last_seen: u64,
    pub version: String,
    pub project: u64,
    pub id: u64,
}

pub(crate) fn expiry_key(last_seen: u64, version: &str, project: u64, id: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + 1 + version.len() + 8 + 8);
    key.extend_from_slice(&last_seen.to_be_bytes());
    // Version names are at most MAX_VERSION_BYTES (< 256), checked on input.
    key.push(u8::try_from(version.len()).unwrap_or(u8::MAX));
    key.extend_from_slice(version.as_bytes());
    key.extend_from_slice(&project_prefix(project));
    key.extend_from_slice(&id.to_be_bytes());
    key
}

pub(crate) fn split_expiry_key(key: &[u8]) -> Result<ExpiryEntry, StoreError> {
    let short = || StoreError::corrupt(EXPIRY_TREE, "key too short");
    let last_seen = read_u64(EXPIRY_TREE, key.get(..8).ok_or_else(short)?)?;
    let version_len = usize::from(*key.get(8).ok_or_else(short)?);
    let version = key.get(9..9 + version_len).ok_or_else(short)?;
    let version = std::str::from_utf8(version)
        .map_err(|_| StoreError::corrupt(EXPIRY_TREE, "version is not UTF-8"))?
        .to_owned();
    let rest = key.get(9 + version_len..).ok_or_else(short)?;
    if rest.len() != 16 {
        return Err(StoreError::corrupt(EXPIRY_TREE, "malformed key"));
    }
    let (project, id) = rest.split_at(8);
    Ok(ExpiryEntry {
        last_seen,
        version,
        project: read_u64(EXPIRY_TREE, project)?,
        id: read_u64(EXPIRY_TREE, id)?,
    })
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
        // and must be idempotent (a crash mid-step reruns it). None yet.
        version += 1;
    }
    if found != Some(SCHEMA_VERSION) {
        meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_le_bytes())?;
        db.flush()?;
    }
    Ok(())
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
        let late = expiry_key(200, "v1", 1, 3);
        assert!(early < late);
        let entry = split_expiry_key(&early)?;
        assert_eq!(
            entry,
            ExpiryEntry {
                last_seen: 100,
                version: "v2".into(),
                project: 7,
                id: 9
            }
        );
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
}
