//! The three encoder architectures on tiny randomly initialized checkpoints
//! written by the tests themselves (no download): they load, run, agree with
//! candle-transformers' independent implementations (cosine ≥ 0.9999 on
//! unpadded input), ignore padding, truncate keeping the end, and fail with
//! errors that name the file or option at fault.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use stackherd::embed::model::{Architecture, Pooling};
use stackherd::embed::tokenize::TextTokenizer;
use stackherd::embed::{EmbedError, Embedder, EmbedderOptions, TextEmbedder};
use stackherd::settings::Dtype;
use std::collections::HashMap;
use std::path::Path;

const VOCAB_SIZE: usize = 160;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Arch {
    Bert,
    ModernBert,
    Jina,
}

/// Sizes of the tiny models. Jina uses 6 heads to exercise the ALiBi slopes
/// of a head count that is not a power of two.
fn sizes(arch: Arch) -> (usize, usize, usize, usize) {
    // (hidden, heads, layers, intermediate)
    match arch {
        Arch::Bert => (32, 4, 2, 64),
        Arch::ModernBert => (32, 4, 3, 48),
        Arch::Jina => (48, 6, 2, 64),
    }
}

/// A WordPiece vocabulary in which every lowercase word, digit and common
/// stacktrace punctuation mark has a token.
fn vocab() -> Vec<String> {
    let mut words: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
    for c in 'a'..='z' {
        words.push(c.to_string());
        words.push(format!("##{c}"));
    }
    for c in '0'..='9' {
        words.push(c.to_string());
        words.push(format!("##{c}"));
    }
    for p in [
        ":", "\"", ".", "(", ")", "_", "=", "'", "/", ",", "[", "]", "<", ">", "-", "{", "}",
    ] {
        words.push(p.to_string());
    }
    for w in [
        "error", "file", "function", "line", "value", "key", "none", "self", "user", "request",
        "db", "connect", "timeout", "app", "views", "py", "get", "return", "raise", "in", "of",
        "the", "to",
    ] {
        words.push(w.to_string());
    }
    assert!(words.len() <= VOCAB_SIZE);
    words
}

fn tokenizer_json() -> serde_json::Value {
    let vocab: serde_json::Map<String, serde_json::Value> = vocab()
        .into_iter()
        .enumerate()
        .map(|(i, w)| (w, json!(i)))
        .collect();
    let special = |id: u32, content: &str| json!({"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true});
    json!({
        "version": "1.0",
        // Deliberately hostile, like the shipped MiniLM tokenizer: stackherd must override both.
        "truncation": {"direction": "Right", "max_length": 8, "strategy": "LongestFirst", "stride": 0},
        "padding": {"strategy": {"Fixed": 16}, "direction": "Right", "pad_to_multiple_of": null, "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"},
        "added_tokens": [special(0, "[PAD]"), special(1, "[UNK]"), special(2, "[CLS]"), special(3, "[SEP]"), special(4, "[MASK]")],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}
            }
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": vocab}
    })
}

fn config_json(arch: Arch) -> serde_json::Value {
    let (hidden, heads, layers, intermediate) = sizes(arch);
    // Keys for both stackherd and candle-transformers' config structs.
    match arch {
        Arch::Bert => json!({
            "architectures": ["BertModel"], "model_type": "bert", "vocab_size": VOCAB_SIZE,
            "hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
            "intermediate_size": intermediate, "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
            "max_position_embeddings": 128, "type_vocab_size": 2, "initializer_range": 0.02,
            "layer_norm_eps": 1e-12, "pad_token_id": 0, "position_embedding_type": "absolute",
            "classifier_dropout": null
        }),
        Arch::Jina => json!({
            "architectures": ["JinaBertForMaskedLM"], "model_type": "bert", "vocab_size": VOCAB_SIZE,
            "hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
            "intermediate_size": intermediate, "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
            "max_position_embeddings": 128, "type_vocab_size": 2, "initializer_range": 0.02,
            "layer_norm_eps": 1e-12, "pad_token_id": 0, "position_embedding_type": "alibi",
            "feed_forward_type": "geglu"
        }),
        Arch::ModernBert => json!({
            "architectures": ["ModernBertModel"], "model_type": "modernbert", "vocab_size": VOCAB_SIZE,
            "hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
            "intermediate_size": intermediate, "hidden_activation": "gelu",
            "max_position_embeddings": 128, "norm_eps": 1e-5, "layer_norm_eps": 1e-5,
            "pad_token_id": 0, "global_attn_every_n_layers": 2, "global_rope_theta": 160000.0,
            "local_attention": 8, "local_rope_theta": 10000.0,
            "norm_bias": false, "attention_bias": false, "mlp_bias": false
        }),
    }
}

/// Deterministic uniform noise with standard deviation `std`.
fn random(rng: &mut StdRng, shape: &[usize], std: f32) -> Tensor {
    let count: usize = shape.iter().product();
    let bound = std * 3f32.sqrt();
    let values: Vec<f32> = (0..count).map(|_| rng.gen_range(-bound..bound)).collect();
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

fn norm_weight(rng: &mut StdRng, size: usize) -> Tensor {
    (random(rng, &[size], 0.1) + 1.0).unwrap()
}

fn tensors(arch: Arch, seed: u64) -> HashMap<String, Tensor> {
    let (h, _heads, layers, i) = sizes(arch);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut t = HashMap::new();
    let dense = 1.0 / (h as f32).sqrt();
    let dense_i = 1.0 / (i as f32).sqrt();
    let mut put = |name: String, tensor: Tensor| {
        t.insert(name, tensor);
    };
    match arch {
        Arch::Bert | Arch::Jina => {
            put(
                "embeddings.word_embeddings.weight".into(),
                random(&mut rng, &[VOCAB_SIZE, h], 1.0),
            );
            put(
                "embeddings.token_type_embeddings.weight".into(),
                random(&mut rng, &[2, h], 0.5),
            );
            if arch == Arch::Bert {
                put(
                    "embeddings.position_embeddings.weight".into(),
                    random(&mut rng, &[128, h], 0.5),
                );
            }
            put(
                "embeddings.LayerNorm.weight".into(),
                norm_weight(&mut rng, h),
            );
            put(
                "embeddings.LayerNorm.bias".into(),
                random(&mut rng, &[h], 0.1),
            );
            for l in 0..layers {
                let p = format!("encoder.layer.{l}");
                for part in ["query", "key", "value"] {
                    put(
                        format!("{p}.attention.self.{part}.weight"),
                        random(&mut rng, &[h, h], dense),
                    );
                    put(
                        format!("{p}.attention.self.{part}.bias"),
                        random(&mut rng, &[h], 0.1),
                    );
                }
                put(
                    format!("{p}.attention.output.dense.weight"),
                    random(&mut rng, &[h, h], dense),
                );
                put(
                    format!("{p}.attention.output.dense.bias"),
                    random(&mut rng, &[h], 0.1),
                );
                put(
                    format!("{p}.attention.output.LayerNorm.weight"),
                    norm_weight(&mut rng, h),
                );
                put(
                    format!("{p}.attention.output.LayerNorm.bias"),
                    random(&mut rng, &[h], 0.1),
                );
                if arch == Arch::Bert {
                    put(
                        format!("{p}.intermediate.dense.weight"),
                        random(&mut rng, &[i, h], dense),
                    );
                    put(
                        format!("{p}.intermediate.dense.bias"),
                        random(&mut rng, &[i], 0.1),
                    );
                    put(
                        format!("{p}.output.dense.weight"),
                        random(&mut rng, &[h, i], dense_i),
                    );
                    put(
                        format!("{p}.output.dense.bias"),
                        random(&mut rng, &[h], 0.1),
                    );
                    put(
                        format!("{p}.output.LayerNorm.weight"),
                        norm_weight(&mut rng, h),
                    );
                    put(
                        format!("{p}.output.LayerNorm.bias"),
                        random(&mut rng, &[h], 0.1),
                    );
                } else {
                    put(
                        format!("{p}.mlp.gated_layers.weight"),
                        random(&mut rng, &[2 * i, h], dense),
                    );
                    put(
                        format!("{p}.mlp.wo.weight"),
                        random(&mut rng, &[h, i], dense_i),
                    );
                    put(format!("{p}.mlp.wo.bias"), random(&mut rng, &[h], 0.1));
                    put(
                        format!("{p}.mlp.layernorm.weight"),
                        norm_weight(&mut rng, h),
                    );
                    put(
                        format!("{p}.mlp.layernorm.bias"),
                        random(&mut rng, &[h], 0.1),
                    );
                }
            }
        }
        Arch::ModernBert => {
            // Saved under `model.` as ModernBertForMaskedLM does (candle-transformers wants it).
            put(
                "model.embeddings.tok_embeddings.weight".into(),
                random(&mut rng, &[VOCAB_SIZE, h], 1.0),
            );
            put(
                "model.embeddings.norm.weight".into(),
                norm_weight(&mut rng, h),
            );
            for l in 0..layers {
                let p = format!("model.layers.{l}");
                if l > 0 {
                    put(format!("{p}.attn_norm.weight"), norm_weight(&mut rng, h));
                }
                put(
                    format!("{p}.attn.Wqkv.weight"),
                    random(&mut rng, &[3 * h, h], dense),
                );
                put(
                    format!("{p}.attn.Wo.weight"),
                    random(&mut rng, &[h, h], dense),
                );
                put(format!("{p}.mlp_norm.weight"), norm_weight(&mut rng, h));
                put(
                    format!("{p}.mlp.Wi.weight"),
                    random(&mut rng, &[2 * i, h], dense),
                );
                put(
                    format!("{p}.mlp.Wo.weight"),
                    random(&mut rng, &[h, i], dense_i),
                );
            }
            put("model.final_norm.weight".into(), norm_weight(&mut rng, h));
        }
    }
    t
}

/// Writes a complete sentence-transformers directory for `arch`.
fn write_model(dir: &Path, arch: Arch, pooling: &str) -> Result<()> {
    let (hidden, ..) = sizes(arch);
    std::fs::create_dir_all(dir.join("1_Pooling"))?;
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&config_json(arch))?,
    )?;
    std::fs::write(
        dir.join("tokenizer.json"),
        serde_json::to_string(&tokenizer_json())?,
    )?;
    std::fs::write(
        dir.join("modules.json"),
        serde_json::to_string(&json!([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
        ]))?,
    )?;
    std::fs::write(
        dir.join("1_Pooling/config.json"),
        serde_json::to_string(&json!({
            "word_embedding_dimension": hidden,
            "pooling_mode_cls_token": pooling == "cls",
            "pooling_mode_mean_tokens": pooling == "mean",
            "pooling_mode_max_tokens": false,
            "pooling_mode_mean_sqrt_len_tokens": false
        }))?,
    )?;
    candle_core::safetensors::save(
        &tensors(arch, 7 + arch as u64),
        dir.join("model.safetensors"),
    )?;
    Ok(())
}

fn options(max_tokens: usize) -> EmbedderOptions {
    EmbedderOptions {
        max_tokens,
        dimensions: None,
        dtype: Dtype::F32,
        device: "cpu".to_string(),
    }
}

/// candle-transformers' forward on unpadded `ids`, pooled and normalized.
fn reference(dir: &Path, arch: Arch, ids: &[u32], pooling: Pooling) -> Result<Vec<f32>> {
    let config = std::fs::read_to_string(dir.join("config.json"))?;
    let bytes = std::fs::read(dir.join("model.safetensors"))?;
    let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu)?;
    let input = Tensor::new(ids, &Device::Cpu)?.unsqueeze(0)?;
    let hidden = match arch {
        Arch::Bert => {
            use candle_transformers::models::bert::{BertModel, Config};
            let config: Config = serde_json::from_str(&config)?;
            let model = BertModel::load(vb, &config)?;
            model.forward(&input, &input.zeros_like()?, None)?
        }
        Arch::Jina => {
            use candle_nn::Module;
            use candle_transformers::models::jina_bert::{BertModel, Config};
            let config: Config = serde_json::from_str(&config)?;
            BertModel::new(vb, &config)?.forward(&input)?
        }
        Arch::ModernBert => {
            use candle_transformers::models::modernbert::{Config, ModernBert};
            let config: Config = serde_json::from_str(&config)?;
            ModernBert::load(vb, &config)?.forward(&input, &input.ones_like()?)?
        }
    };
    let pooled = match pooling {
        Pooling::Cls => hidden.get(0)?.get(0)?,
        _ => hidden.get(0)?.mean(0)?,
    };
    let v = pooled.to_vec1::<f32>()?;
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    Ok(v.iter().map(|x| x / norm).collect())
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

const TEXTS: [&str; 4] = [
    "KeyError: 'user_id'\n  File \"app/views.py\", function get_user\n    uid = request.args['user_id']",
    "TimeoutError: db connect timeout\n  File \"app/db.py\", function connect\n    conn = pool.acquire(timeout=5)\n  File \"app/views.py\", function get\n    return db.connect()",
    "ValueError: none",
    "DatabaseError: connection refused\n  File \"app/views.py\", function get_user\n    user = db.connect().fetch(user_id)\n  File \"app/db.py\", function connect\n    conn = pool.acquire(timeout=5)\nKeyError: 'user_id'\n  File \"app/views.py\", function get_user\n    uid = request.args['user_id']",
];

fn check_parity(arch: Arch, pooling: &str) -> Result<()> {
    let dir = tempfile::tempdir()?;
    write_model(dir.path(), arch, pooling)?;
    let embedder = Embedder::load(dir.path(), &options(128)).context("load")?;
    let tokenizer = TextTokenizer::load(&dir.path().join("tokenizer.json"), 128)?;
    let vectors = embedder.embed_batch(&TEXTS)?;
    let mut worst = 1.0f64;
    for (text, vector) in TEXTS.iter().zip(&vectors) {
        let ids = tokenizer.encode(text)?;
        let expected = reference(dir.path(), arch, &ids, embedder.pooling())?;
        let single = &embedder.embed_batch(&[text])?[0];
        let c = cosine(single, &expected);
        let padded = cosine(vector, &expected);
        worst = worst.min(c).min(padded);
        assert!(
            c >= 0.9999,
            "{arch:?}/{pooling}: cosine {c} against candle-transformers for {text:?}"
        );
        assert!(
            padded >= 0.9999,
            "{arch:?}/{pooling}: batched cosine {padded} for {text:?}"
        );
    }
    println!(
        "{arch:?} ({pooling} pooling): worst cosine against candle-transformers {worst:.9} (1 - cos = {:.2e})",
        1.0 - worst
    );
    Ok(())
}

#[test]
fn bert_matches_candle_transformers() -> Result<()> {
    check_parity(Arch::Bert, "mean")?;
    check_parity(Arch::Bert, "cls")
}

#[test]
fn jina_bert_matches_candle_transformers() -> Result<()> {
    check_parity(Arch::Jina, "mean")
}

#[test]
fn modernbert_matches_candle_transformers() -> Result<()> {
    check_parity(Arch::ModernBert, "mean")?;
    check_parity(Arch::ModernBert, "cls")
}

#[test]
fn architectures_are_detected() -> Result<()> {
    for (arch, expected) in [
        (Arch::Bert, Architecture::Bert),
        (Arch::Jina, Architecture::JinaBert),
        (Arch::ModernBert, Architecture::ModernBert),
    ] {
        let dir = tempfile::tempdir()?;
        write_model(dir.path(), arch, "mean")?;
        let embedder = Embedder::load(dir.path(), &options(64))?;
        assert_eq!(embedder.architecture(), expected);
        assert_eq!(embedder.dimensions(), sizes(arch).0);
    }
    Ok(())
}

/// Long texts keep their first line (at most a quarter of the room) and
/// their end: with one-token words, the truncated text embeds exactly like
/// the first line plus the last words, and count_tokens reports the cap.
#[test]
fn truncation_keeps_the_first_line_and_the_end() -> Result<()> {
    let dir = tempfile::tempdir()?;
    write_model(dir.path(), Arch::Bert, "mean")?;
    let embedder = Embedder::load(dir.path(), &options(16))?;
    let words: Vec<&str> = (0..40)
        .map(|i| ["file", "a", "line", "b", "value", "c", "user", "d"][i % 8])
        .collect();
    // Room between [CLS] and [SEP]: 14; the header "error : key" is 3 pieces (≤ 14 / 4).
    let long = format!("error: key\n{}", words.join(" "));
    assert_eq!(embedder.count_tokens(&long)?, 16);
    assert_eq!(embedder.count_tokens("error")?, 3);
    let kept = format!("error: key\n{}", words[words.len() - 11..].join(" "));
    assert_eq!(
        embedder.count_tokens(&kept)?,
        16,
        "fits exactly, no truncation"
    );
    let end_only = words[words.len() - 14..].join(" ");
    let start_only = format!("error: key\n{}", words[..11].join(" "));
    let v = embedder.embed_batch(&[&long, &kept, &end_only, &start_only])?;
    assert!(
        cosine(&v[0], &v[1]) > 0.99999,
        "first line + end is what is kept"
    );
    assert!(
        cosine(&v[0], &v[2]) < 0.9999,
        "the first line is not dropped"
    );
    assert!(cosine(&v[0], &v[3]) < 0.9999, "the end is not dropped");
    // One long line: its first quarter and its end.
    let line = words.join(" ");
    let single = format!(
        "{} {}",
        words[..3].join(" "),
        words[words.len() - 11..].join(" ")
    );
    let v = embedder.embed_batch(&[&line, &single])?;
    assert!(cosine(&v[0], &v[1]) > 0.99999);
    Ok(())
}

/// A text's vector does not depend on the other texts in its batch
/// (padding is masked in all three architectures, ModernBERT's sliding
/// window included).
#[test]
fn padding_does_not_leak_into_results() -> Result<()> {
    for arch in [Arch::Bert, Arch::Jina, Arch::ModernBert] {
        let dir = tempfile::tempdir()?;
        write_model(dir.path(), arch, "mean")?;
        let embedder = Embedder::load(dir.path(), &options(128))?;
        let long = TEXTS[3].repeat(2);
        // Mixed lengths in one call; plan_batches may split but short texts
        // still get padded next to others of similar length.
        let batch: Vec<&str> = vec![
            TEXTS[2],
            TEXTS[0],
            &long,
            TEXTS[1],
            "ValueError: key",
            TEXTS[2],
        ];
        let together = embedder.embed_batch(&batch)?;
        for (text, vector) in batch.iter().zip(&together) {
            let alone = &embedder.embed_batch(&[text])?[0];
            let c = cosine(vector, alone);
            assert!(
                c >= 0.99999,
                "{arch:?}: batched vs alone cosine {c} for {text:?}"
            );
        }
        // Directly exercise a padded forward pass (lengths 5 and 13).
        let tokenizer = TextTokenizer::load(&dir.path().join("tokenizer.json"), 128)?;
        let a = tokenizer.encode("value error")?;
        let b = tokenizer.encode(TEXTS[0])?;
        let padded = embedder.embed_tokens(&[a.clone(), b.clone()])?;
        let alone_a = embedder.embed_tokens(&[a])?;
        assert!(
            cosine(&padded[0], &alone_a[0]) >= 0.99999,
            "{arch:?}: padded forward differs"
        );
    }
    Ok(())
}

#[test]
fn matryoshka_truncation_renormalizes_the_prefix() -> Result<()> {
    let dir = tempfile::tempdir()?;
    write_model(dir.path(), Arch::ModernBert, "mean")?;
    let full = Embedder::load(dir.path(), &options(64))?;
    let short = Embedder::load(
        dir.path(),
        &EmbedderOptions {
            dimensions: Some(8),
            ..options(64)
        },
    )?;
    assert_eq!(short.dimensions(), 8);
    let f = &full.embed_batch(&[TEXTS[1]])?[0];
    let s = &short.embed_batch(&[TEXTS[1]])?[0];
    assert_eq!(s.len(), 8);
    let norm: f32 = s.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5);
    assert!(cosine(&f[..8], s) > 0.99999);
    Ok(())
}

/// bf16 runs (on the CPU here; the same code path as CUDA) and stays close
/// to f32. candle-transformers' ModernBERT cannot run in bf16 at all.
#[test]
fn half_precision_runs_and_stays_close() -> Result<()> {
    for arch in [Arch::Bert, Arch::Jina, Arch::ModernBert] {
        let dir = tempfile::tempdir()?;
        write_model(dir.path(), arch, "mean")?;
        let f32_model = Embedder::load(dir.path(), &options(128))?;
        for dtype in [Dtype::Bf16, Dtype::F16] {
            let half = Embedder::load(
                dir.path(),
                &EmbedderOptions {
                    dtype,
                    ..options(128)
                },
            )?;
            let a = f32_model.embed_batch(&TEXTS)?;
            let b = half.embed_batch(&TEXTS)?;
            for (x, y) in a.iter().zip(&b) {
                let c = cosine(x, y);
                assert!(c > 0.99, "{arch:?} {dtype:?}: cosine {c} against f32");
            }
        }
    }
    Ok(())
}

#[test]
fn empty_inputs_are_handled() -> Result<()> {
    let dir = tempfile::tempdir()?;
    write_model(dir.path(), Arch::Jina, "mean")?;
    let embedder = Embedder::load(dir.path(), &options(32))?;
    assert!(embedder.embed_batch(&[])?.is_empty());
    let v = embedder.embed_batch(&[""])?;
    assert_eq!(v[0].len(), embedder.dimensions());
    Ok(())
}

#[test]
fn errors_name_the_file_or_option() -> Result<()> {
    let dir = tempfile::tempdir()?;
    write_model(dir.path(), Arch::Bert, "mean")?;
    let load =
        |options: &EmbedderOptions| Embedder::load(dir.path(), options).map(|_| ()).unwrap_err();

    let err = load(&EmbedderOptions {
        dimensions: Some(1000),
        ..options(64)
    });
    assert!(
        matches!(
            err,
            EmbedError::InvalidOption {
                option: "dimensions",
                ..
            }
        ),
        "{err}"
    );
    let err = load(&options(4096));
    assert!(
        matches!(
            err,
            EmbedError::InvalidOption {
                option: "max_tokens",
                ..
            }
        ),
        "{err}"
    );
    let err = load(&EmbedderOptions {
        device: "cuda:0".into(),
        ..options(64)
    });
    assert!(
        matches!(err, EmbedError::DeviceUnavailable { .. }) || cfg!(feature = "cuda"),
        "{err}"
    );

    std::fs::write(dir.path().join("config.json"), r#"{"model_type": "t5"}"#)?;
    let err = load(&options(64));
    assert!(
        matches!(&err, EmbedError::UnsupportedArchitecture { path, .. } if path.ends_with("config.json")),
        "{err}"
    );

    write_model(dir.path(), Arch::Bert, "mean")?;
    std::fs::write(dir.path().join("model.safetensors"), b"not safetensors")?;
    let err = load(&options(64));
    assert!(
        matches!(&err, EmbedError::InvalidFile { path, .. } if path.ends_with("model.safetensors")),
        "{err}"
    );

    // The checkpoint of another architecture: a clear message naming the tensor.
    let mut other = tensors(Arch::Jina, 1);
    other.retain(|k, _| !k.contains("position"));
    candle_core::safetensors::save(&other, dir.path().join("model.safetensors"))?;
    let err = load(&options(64)).to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("shape"),
        "{err}"
    );

    for file in [
        "tokenizer.json",
        "model.safetensors",
        "config.json",
        "1_Pooling/config.json",
        "modules.json",
    ] {
        write_model(dir.path(), Arch::Bert, "mean")?;
        std::fs::remove_file(dir.path().join(file))?;
        let err = load(&options(64));
        assert!(
            matches!(&err, EmbedError::MissingFile { path } if path.ends_with(file)),
            "removing {file}: {err}"
        );
    }
    Ok(())
}
