use super::*;
use crate::index::exact::ExactIndex;
use crate::index::hnsw::HnswIndex;
use crate::index::{HnswParams, SearchRequest, VectorIndex, normalized};
use proptest::prelude::*;

/// Clustered unit-ish vectors: 20 centres, points spread around them.
fn clustered(i: u64, dimensions: usize) -> Vec<f32> {
    let mut state = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let centre = i % 20;
    (0..dimensions)
        .map(|d| {
            let axis = if (d as u64) % 20 == centre { 1.0 } else { 0.0 };
            axis + 0.15 * next()
        })
        .collect()
}

/// The store feeds graphs f16-exact unit vectors; so does this.
fn stored(i: u64, dimensions: usize) -> Vec<f32> {
    normalized(&clustered(i, dimensions))
        .iter()
        .map(|x| half::f16::from_f32(*x).to_f32())
        .collect()
}

fn graph(n: u64, dimensions: usize) -> Result<(HnswIndex, ExactIndex), IndexError> {
    let params = HnswParams {
        search_copy: false,
        ..HnswParams::default()
    };
    let mut hnsw = HnswIndex::new(dimensions, params)?;
    let mut exact = ExactIndex::new(dimensions);
    for key in 0..n {
        let v = stored(key, dimensions);
        hnsw.add(key, &v)?;
        exact.add(key, &v)?;
    }
    Ok((hnsw, exact))
}

#[test]
fn holds_the_graphs_keys_and_vectors() -> Result<(), IndexError> {
    let (hnsw, _) = graph(500, 24)?;
    let flat = FlatGraph::from_usearch(&hnsw.graph_bytes()?, 24, Quantization::F16)?;
    assert_eq!(flat.len(), 500);
    let mut buffer = vec![0.0; 24];
    let mut keys = Vec::new();
    for slot in 0..500u32 {
        let key = flat.key(slot);
        flat.vector(slot, &mut buffer);
        assert_eq!(Some(buffer.clone()), hnsw.get(key), "vector of key {key}");
        keys.push(key);
    }
    keys.sort_unstable();
    assert_eq!(keys, (0..500).collect::<Vec<_>>());
    Ok(())
}

#[test]
fn walk_finds_the_exact_nearest_for_nearly_every_query() -> Result<(), IndexError> {
    let dimensions = 32;
    let (hnsw, exact) = graph(3000, dimensions)?;
    let flat = FlatGraph::from_usearch(&hnsw.graph_bytes()?, dimensions, Quantization::F16)?;
    let request = SearchRequest {
        k: 1,
        radius: 2.0,
        exclude: None,
    };
    let mut found = 0;
    for q in 0..200u64 {
        let query = clustered(1_000_000 + q, dimensions);
        let want = exact.search(&query, &request)?[0].key;
        let slots = flat.search(&normalized(&query), 16, 100, None);
        assert_eq!(slots.len(), 16);
        found += usize::from(slots.iter().any(|&s| flat.key(s) == want));
    }
    assert!(found >= 198, "nearest found for {found} of 200 queries");
    Ok(())
}

#[test]
fn removed_records_guide_the_walk_but_are_never_returned() -> Result<(), IndexError> {
    let dimensions = 16;
    let (mut hnsw, _) = graph(600, dimensions)?;
    for key in (0..600).step_by(3) {
        assert!(hnsw.remove(key)?);
    }
    let flat = FlatGraph::from_usearch(&hnsw.graph_bytes()?, dimensions, Quantization::F16)?;
    let odd = |key: Key| key % 2 == 1;
    for q in 0..50u64 {
        let query = normalized(&clustered(q, dimensions));
        for slot in flat.search(&query, 10, 50, None) {
            assert!(!is_tombstone(flat.key(slot)));
        }
        let slots = flat.search(&query, 10, 50, Some(&odd));
        assert_eq!(slots.len(), 10);
        for slot in slots {
            let key = flat.key(slot);
            assert!(!is_tombstone(key) && key % 2 == 1, "key {key}");
        }
    }
    Ok(())
}

#[test]
fn an_empty_graph_answers_nothing_and_damage_is_an_error() -> Result<(), IndexError> {
    let (empty, _) = graph(0, 8)?;
    let flat = FlatGraph::from_usearch(&empty.graph_bytes()?, 8, Quantization::F16)?;
    assert!(flat.is_empty());
    assert!(flat.search(&normalized(&[1.0; 8]), 1, 10, None).is_empty());

    let (hnsw, _) = graph(200, 8)?;
    let bytes = hnsw.graph_bytes()?;
    assert!(FlatGraph::from_usearch(&bytes, 9, Quantization::F16).is_err());
    assert!(FlatGraph::from_usearch(&bytes, 8, Quantization::F32).is_err());
    for cut in [0, 7, bytes.len() / 2, bytes.len() - 1] {
        assert!(FlatGraph::from_usearch(&bytes[..cut], 8, Quantization::F16).is_err());
    }
    Ok(())
}

proptest! {
    /// Every kernel this CPU picks agrees with the plain sum over the codes.
    #[test]
    fn kernels_agree_with_the_plain_dot_product(
        pairs in proptest::collection::vec((-1.0f32..1.0, any::<i8>()), 0..100)
    ) {
        let query: Vec<f32> = pairs.iter().map(|p| p.0).collect();
        let codes: Vec<u8> = pairs.iter().map(|p| p.1 as u8).collect();
        let dot: f32 = pairs.iter().map(|p| p.0 * f32::from(p.1)).sum();
        let norm: f32 = pairs.iter().map(|p| f32::from(p.1) * f32::from(p.1)).sum();
        let close = |(d, n): (f32, f32)| {
            (d - dot).abs() <= 1e-3 * (1.0 + dot.abs()) && (n - norm).abs() <= 1e-3 * (1.0 + norm)
        };
        prop_assert!(close(code_kernel()(&query, &codes)));
        prop_assert!(close(dot_codes(&query, &codes)));
    }

    /// Codes keep a vector's direction: the cosine they give a unit query
    /// is within √d/127 of the exact one (each component rounds by at most
    /// half a step, a step being the largest component / 127).
    #[test]
    fn codes_keep_the_cosine_within_the_rounding_bound(
        pairs in proptest::collection::vec((-1.0f32..1.0, -1.0f32..1.0), 1..100)
    ) {
        let query = normalized(&pairs.iter().map(|p| p.0).collect::<Vec<_>>());
        let vector: Vec<f32> = pairs.iter().map(|p| p.1).collect();
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        prop_assume!(norm > 1e-3 && query.iter().any(|&x| x != 0.0));
        let exact = query.iter().zip(&vector).map(|(q, v)| q * v).sum::<f32>() / norm;
        let mut codes = vec![0u8; vector.len()];
        crate::index::symmetric_i8(&vector, &mut codes);
        let (dot, squared) = dot_codes(&query, &codes);
        let coded = dot / squared.sqrt();
        let bound = (vector.len() as f32).sqrt() / 127.0 + 1e-4;
        prop_assert!((coded - exact).abs() <= bound, "{coded} vs {exact}");
    }
}

#[test]
fn a_zero_vector_gets_zero_codes() {
    let mut codes = vec![1u8; 8];
    crate::index::symmetric_i8(&[0.0; 8], &mut codes);
    assert_eq!(codes, vec![0u8; 8]);
    crate::index::symmetric_i8(&[f32::NAN; 8], &mut codes);
    assert_eq!(codes, vec![0u8; 8]);
}
