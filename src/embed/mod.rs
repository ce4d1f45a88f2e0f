//! Text embeddings for the AI grouping fallback.
//!
//! A model version's directory (sentence-transformers layout: `config.json`,
//! `tokenizer.json`, `model.safetensors`, `modules.json`, `1_Pooling/config.json`)
//! is loaded into an [`Embedder`], which turns stacktrace texts into
//! L2-normalized vectors. Three encoder architectures are implemented on candle
//! ops: BERT, ModernBERT and Jina-BERT (ALiBi).
//!
//! Texts longer than the configured `max_tokens` keep their **end** (the crash
//! end of a stacktrace text: the crashing frame is the last line of the
//! exception's frames); see [`tokenize`].

pub mod embedder;
pub mod error;
pub mod model;
pub mod tokenize;

pub use embedder::{Embedder, EmbedderOptions, TextEmbedder};
pub use error::EmbedError;
