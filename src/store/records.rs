//! Records: one per (model version, project, hash), holding the first
//! embedding seen for the hash, its error type, and first/last-seen times.
//!
//! Embeddings are L2-normalized in f32, then stored in the version's
//! [`EmbeddingFormat`]. The vector given to the index is the *decoded* stored
//! vector, so what is searched is exactly what is on disk, before and after a
//! restart.

use super::StoreError;
use super::packed_f16;
use super::schema::{
    EmbeddingFormat, EmbeddingValue, RecordValue, StoredRecord, decode, encode, record_key,
    records_tree_name, records_trees_v3, split_project_hash_key,
};
use half::f16;

/// A stored record, as the engine sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub hash: String,
    pub error_type: Option<String>,
    /// Unix seconds.
    pub first_seen: u64,
    /// Unix seconds; refreshed by [`Store::touch`](super::Store::touch).
    pub last_seen: u64,
    /// The stored embedding, decoded (unit length up to the format's rounding).
    pub embedding: Vec<f32>,
    pub format: EmbeddingFormat,
}

/// Scales to unit length. The caller has validated the vector (finite,
/// non-zero), so the norm is a positive finite number.
pub(crate) fn normalize(vector: &[f32]) -> Vec<f32> {
    crate::index::normalized(vector)
}

/// The vector the store indexes for `vector` in `format`: L2-normalized,
/// encoded, decoded. For measuring what a format changes.
pub fn quantize(vector: &[f32], format: EmbeddingFormat) -> Vec<f32> {
    let value = encode_embedding(&normalize(vector), format);
    decode_embedding("quantize", &value, vector.len()).unwrap_or_default()
}

/// Encodes a unit vector in `format`.
pub(crate) fn encode_embedding(unit: &[f32], format: EmbeddingFormat) -> EmbeddingValue {
    match format {
        EmbeddingFormat::F32 => {
            EmbeddingValue::F32(unit.iter().flat_map(|x| x.to_le_bytes()).collect())
        }
        EmbeddingFormat::F16 => {
            let bits: Vec<u16> = unit.iter().map(|x| f16::from_f32(*x).to_bits()).collect();
            f16_value(&bits)
        }
        EmbeddingFormat::I8 => {
            let mut bytes = vec![0u8; unit.len()];
            let scale = crate::index::symmetric_i8(unit, &mut bytes);
            EmbeddingValue::I8 { scale, bytes }
        }
    }
}

/// f16 bits as stored: packed, unless packing would grow them. Packing
/// loses nothing; it only grows for odd vectors (many exact zeros beside
/// large values), which stay plain.
fn f16_value(bits: &[u16]) -> EmbeddingValue {
    let packed = packed_f16::pack(bits);
    if packed.len() < bits.len() * 2 {
        EmbeddingValue::F16Packed(packed)
    } else {
        EmbeddingValue::F16(bits.iter().flat_map(|b| b.to_le_bytes()).collect())
    }
}

/// A plain f16 embedding (schema 2) packed as schema 3 on writes it;
/// any other value as it is.
fn repacked(value: EmbeddingValue) -> EmbeddingValue {
    match value {
        EmbeddingValue::F16(bytes) if bytes.len() % 2 == 0 => {
            let bits: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .collect();
            f16_value(&bits)
        }
        other => other,
    }
}

/// Decodes a stored embedding; checks its length against the version's.
pub(crate) fn decode_embedding(
    tree: &str,
    value: &EmbeddingValue,
    dimensions: usize,
) -> Result<Vec<f32>, StoreError> {
    let decoded: Vec<f32> = match value {
        EmbeddingValue::F32(bytes) => check_length(tree, bytes, dimensions, 4)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        EmbeddingValue::F16(bytes) => check_length(tree, bytes, dimensions, 2)?
            .chunks_exact(2)
            .map(|b| f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())
            .collect(),
        EmbeddingValue::I8 { scale, bytes } => check_length(tree, bytes, dimensions, 1)?
            .iter()
            .map(|b| f32::from(i8::from_le_bytes([*b])) * scale)
            .collect(),
        EmbeddingValue::F16Packed(packed) => packed_f16::unpack(packed, dimensions)
            .map_err(|e| StoreError::corrupt(tree, e.to_string()))?
            .into_iter()
            .map(|b| f16::from_bits(b).to_f32())
            .collect(),
    };
    if decoded.iter().any(|x| !x.is_finite()) {
        return Err(StoreError::corrupt(tree, "embedding is not finite"));
    }
    Ok(decoded)
}

fn check_length<'a>(
    tree: &str,
    bytes: &'a [u8],
    dimensions: usize,
    width: usize,
) -> Result<&'a [u8], StoreError> {
    if bytes.len() != dimensions * width {
        return Err(StoreError::corrupt(
            tree,
            format!(
                "embedding has {} bytes, expected {} for {dimensions} dimensions",
                bytes.len(),
                dimensions * width
            ),
        ));
    }
    Ok(bytes)
}

/// Reads the record of (project, id, hash) from a version's records tree.
pub(crate) fn read_record(
    tree: &sled::Tree,
    tree_name: &str,
    project: u64,
    id: u64,
    hash: &str,
) -> Result<Option<StoredRecord>, StoreError> {
    match tree.get(record_key(project, id, hash))? {
        None => Ok(None),
        Some(bytes) => decode_record(tree_name, id, &bytes).map(Some),
    }
}

/// A records-tree value of record `id`, whichever layout it was written in.
pub(crate) fn decode_record(
    tree_name: &str,
    id: u64,
    bytes: &[u8],
) -> Result<StoredRecord, StoreError> {
    decode::<RecordValue>(tree_name, bytes)?.into_record(tree_name, id)
}

/// A record in the layout written now.
pub(crate) fn encode_record(record: &StoredRecord) -> Result<Vec<u8>, StoreError> {
    encode(&RecordValue::current(record.clone())?)
}

/// Schema 3 → 4: each version's `records/<version>` tree, keyed by
/// (project, hash), is copied to `records_by_id/<version>`, keyed by
/// (project, id, hash), values rewritten in the current layout (plain f16
/// packed). Rows are written in new-key order, so the new tree is laid out
/// as appends. Idempotent: each new tree is cleared first, and the old
/// trees are dropped only once the schema version says 4.
pub(crate) fn migrate_to_id_keys(db: &sled::Db) -> Result<(), StoreError> {
    const CHUNK: usize = 10_000;
    for (version, old_name) in records_trees_v3(db)? {
        let old = db.open_tree(&old_name)?;
        let new = db.open_tree(records_tree_name(&version))?;
        new.clear()?;
        let mut order = Vec::with_capacity(old.len());
        for entry in old.iter() {
            let (key, value) = entry?;
            let (project, _) = split_project_hash_key(&old_name, &key)?;
            let id = decode::<RecordValue>(&old_name, &value)?
                .stored_id()
                .ok_or_else(|| StoreError::corrupt(&old_name, "record without an id"))?;
            order.push((project, id, key));
        }
        order.sort_unstable_by_key(|(project, id, _)| (*project, *id));
        for chunk in order.chunks(CHUNK) {
            let mut batch = sled::Batch::default();
            for (project, id, old_key) in chunk {
                let Some(value) = old.get(old_key)? else {
                    continue;
                };
                let (_, hash) = split_project_hash_key(&old_name, old_key)?;
                let mut record = decode_record(&old_name, *id, &value)?;
                record.embedding = repacked(record.embedding);
                batch.insert(record_key(*project, *id, &hash), encode_record(&record)?);
            }
            new.apply_batch(batch)?;
        }
    }
    db.flush()?;
    Ok(())
}

pub(crate) fn to_public(
    tree_name: &str,
    hash: String,
    record: StoredRecord,
    dimensions: usize,
) -> Result<Record, StoreError> {
    let embedding = decode_embedding(tree_name, &record.embedding, dimensions)?;
    Ok(Record {
        hash,
        error_type: record.error_type,
        first_seen: record.first_seen,
        last_seen: record.last_seen,
        embedding,
        format: record.embedding.format(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_round_trips_within_its_precision() -> Result<(), StoreError> {
        let unit = normalize(&[0.3, -0.2, 0.9, 0.01, -0.05, 0.4, 0.0, 0.12]);
        for (format, tolerance) in [
            (EmbeddingFormat::F32, 0.0),
            (EmbeddingFormat::F16, 1e-3),
            (EmbeddingFormat::I8, 1e-2),
        ] {
            let value = encode_embedding(&unit, format);
            let back = decode_embedding("t", &value, unit.len())?;
            for (a, b) in unit.iter().zip(&back) {
                assert!((a - b).abs() <= tolerance, "{format:?}: {a} vs {b}");
            }
            // Decoding is deterministic: the index sees the same vector again.
            assert_eq!(decode_embedding("t", &value, unit.len())?, back);
            assert!(decode_embedding("t", &value, unit.len() + 1).is_err());
        }
        Ok(())
    }

    #[test]
    fn f16_is_packed_unless_packing_would_grow_it() -> Result<(), StoreError> {
        let even = normalize(&[1.0; 64]);
        let EmbeddingValue::F16Packed(packed) = encode_embedding(&even, EmbeddingFormat::F16)
        else {
            panic!("a unit vector with equal components should pack");
        };
        // One header byte, then 12 bits a value (one exponent bit).
        assert_eq!(packed.len(), 1 + 64 * 12 / 8);
        let mut spike = vec![0.0; 64];
        spike[0] = 1.0;
        let EmbeddingValue::F16(bytes) = encode_embedding(&spike, EmbeddingFormat::F16) else {
            panic!("zeros beside a one pack into more than 2 bytes a value");
        };
        assert_eq!(bytes.len(), 128);
        for (unit, value) in [
            (&even, EmbeddingValue::F16Packed(packed)),
            (&spike, EmbeddingValue::F16(bytes)),
        ] {
            let back = decode_embedding("t", &value, 64)?;
            let plain: Vec<f32> = unit.iter().map(|x| f16::from_f32(*x).to_f32()).collect();
            assert_eq!(back, plain);
            assert_eq!(value.format(), EmbeddingFormat::F16);
        }
        let EmbeddingValue::I8 { bytes, .. } = encode_embedding(&even, EmbeddingFormat::I8) else {
            panic!("wrong format");
        };
        assert_eq!(bytes.len(), 64);
        Ok(())
    }
}
