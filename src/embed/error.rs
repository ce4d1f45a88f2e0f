//! The embedding layer's error type.

use std::path::PathBuf;
use thiserror::Error;

/// Everything that can go wrong loading a model or embedding text.
///
/// Load-time variants name the file (or the option) at fault; run-time
/// variants say which input of a batch failed where that is known.
#[derive(Debug, Error)]
pub enum EmbedError {
    /// A file the model directory must contain is not there.
    #[error("model file {} is missing", path.display())]
    MissingFile { path: PathBuf },

    /// A file exists but cannot be read or parsed, or its content is inconsistent.
    #[error("model file {} is invalid: {message}", path.display())]
    InvalidFile { path: PathBuf, message: String },

    /// The directory declares an architecture (or a sentence-transformers module)
    /// this build cannot run.
    #[error("unsupported model in {}: {message}", path.display())]
    UnsupportedArchitecture { path: PathBuf, message: String },

    /// An [`EmbedderOptions`](super::EmbedderOptions) value cannot be honoured
    /// with this model or this build.
    #[error("invalid embedder option `{option}`: {message}")]
    InvalidOption {
        option: &'static str,
        message: String,
    },

    /// The configured device does not exist or this build cannot use it.
    #[error("device `{device}` is unavailable: {reason}")]
    DeviceUnavailable { device: String, reason: String },

    /// The tokenizer rejected an input.
    #[error("tokenization failed: {0}")]
    Tokenization(String),

    /// The model produced NaN or infinity for the input at `index` in the batch.
    #[error("the model produced a non-finite embedding for input {index} of the batch")]
    NonFiniteOutput { index: usize },

    /// A tensor operation failed (shape bug, out of device memory, …).
    #[error("model computation failed: {0}")]
    Compute(#[from] candle_core::Error),
}

impl EmbedError {
    pub(crate) fn invalid_file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        EmbedError::InvalidFile {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn unsupported(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        EmbedError::UnsupportedArchitecture {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn option(option: &'static str, message: impl Into<String>) -> Self {
        EmbedError::InvalidOption {
            option,
            message: message.into(),
        }
    }
}
