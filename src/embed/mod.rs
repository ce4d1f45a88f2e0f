//! Text embeddings for the AI grouping fallback.
//!
//! A model version's directory (sentence-transformers layout: `config.json`,
//! `tokenizer.json`, `model.safetensors`, `modules.json`, `1_Pooling/config.json`)
//! is loaded into an [`Embedder`], which turns stacktrace texts into
//! L2-normalized vectors. Three encoder architectures are implemented on candle
//! ops: BERT, ModernBERT and Jina-BERT (ALiBi).
//!
//! Texts longer than the configured `max_tokens` keep their first line (the
//! outermost exception's `Type: value`, at most a quarter of the budget) and
//! their **end** (the crashing frames); see [`tokenize`] for the measurement
//! behind that choice.

pub mod embedder;
pub mod error;
pub mod model;
pub mod pool;
pub mod provision;
pub mod tokenize;

pub use embedder::{Embedder, EmbedderOptions, TextEmbedder};
pub use error::EmbedError;
