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
//!
//! # Devices
//!
//! The CPU in f32 is the default and needs no system library. With the
//! `cuda` cargo feature, `device = "cuda"` / `"cuda:N"` loads the weights on
//! that GPU in the configured dtype (bf16 is the intended one); attention then
//! runs as cuBLAS batched products around candle's fused kernels (softmax over
//! the last dimension, layer norm, rotary embedding), with the query scale
//! folded into the weights and no mask at batch size 1 or equal lengths.
//! candle has no fused CUDA attention (its `sdpa` is Metal-only; flash
//! attention lives in the separate `candle-flash-attn` crate, not used).
//! Without the feature a CUDA device is a clear
//! [`EmbedError::DeviceUnavailable`]. The half-precision path is tested on the
//! CPU (bf16 and f16 against f32); the CUDA path itself has not been run here.

pub mod embedder;
pub mod error;
pub mod model;
pub mod pool;
pub mod provision;
pub mod tokenize;

pub use embedder::{Embedder, EmbedderOptions, TextEmbedder};
pub use error::EmbedError;
