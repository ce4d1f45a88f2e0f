//! The public face of the embedding layer: [`TextEmbedder`] and its candle
//! implementation [`Embedder`].

use super::error::EmbedError;
use crate::settings::{Dtype, ModelSettings};
use std::path::Path;

/// How a model directory is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedderOptions {
    /// Longest input in tokens, special tokens included. Longer texts keep
    /// their end (the crash end of a stacktrace text).
    pub max_tokens: usize,
    /// Output dimensions kept: Matryoshka truncation of the pooled vector,
    /// then L2 re-normalization. `None` keeps the model's native width.
    pub dimensions: Option<usize>,
    /// Number format of weights and activations. Pooling and normalization
    /// always run in f32.
    pub dtype: Dtype,
    /// `"cpu"`, `"cuda"` or `"cuda:N"` (the last two need the `cuda` feature).
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
    dimensions: usize,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("model_id", &self.model_id)
            .field("dimensions", &self.dimensions)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// Loads the sentence-transformers directory `dir` with `options`.
    pub fn load(dir: &Path, options: &EmbedderOptions) -> Result<Embedder, EmbedError> {
        let _ = options;
        Err(EmbedError::unsupported(dir, "not implemented yet"))
    }
}

impl TextEmbedder for Embedder {
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let _ = texts;
        Ok(Vec::new())
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    fn count_tokens(&self, text: &str) -> Result<usize, EmbedError> {
        Ok(text.len())
    }

    fn model_id(&self) -> &str {
        &self.model_id
    }
}
