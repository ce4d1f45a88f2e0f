//! Tokenization with the model's `tokenizer.json`.
//!
//! The file's own truncation and padding settings are replaced: the shipped
//! all-MiniLM-L6-v2 tokenizer truncates to 128 tokens and pads every input to
//! 128, which would silently cut stacktraces and waste compute on padding.
//! Here inputs are truncated to the configured `max_tokens` (special tokens
//! included) and never padded; the embedder pads a batch to its longest row.
//!
//! **Truncation keeps the end of the text.** In a stacktrace text
//! (`SEER_API.md`: exception line, then frames caller first, crashing frame
//! last) the end holds the crashing frames, which tell stacktraces apart;
//! the beginning of a deep stack is mostly framework entry points shared by
//! unrelated errors. `models/golden/make_golden.py --measure-truncation`
//! measures this on long stacktraces (see `models/golden/README.md`).

use super::error::EmbedError;
use std::path::Path;
use tokenizers::{TruncationDirection, TruncationParams, TruncationStrategy};

/// A `tokenizer.json` with stackherd's truncation (keep the end, at most
/// `max_tokens`) and no padding.
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    max_tokens: usize,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

impl TextTokenizer {
    /// Loads `path` and truncates inputs to `max_tokens` tokens from the left.
    pub fn load(path: &Path, max_tokens: usize) -> Result<TextTokenizer, EmbedError> {
        if !path.is_file() {
            return Err(EmbedError::MissingFile {
                path: path.to_path_buf(),
            });
        }
        let mut inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| EmbedError::invalid_file(path, e.to_string()))?;
        inner
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Left,
                max_length: max_tokens,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| EmbedError::option("max_tokens", e.to_string()))?;
        inner.with_padding(None);
        let tokenizer = TextTokenizer { inner, max_tokens };
        // A tokenizer whose special tokens alone fill max_tokens cannot
        // keep any text: reject it now rather than on every request.
        let probe = tokenizer.encode("x")?;
        if probe.len() > max_tokens || probe.is_empty() {
            return Err(EmbedError::option(
                "max_tokens",
                format!("{max_tokens} tokens leave no room for text with this tokenizer"),
            ));
        }
        Ok(tokenizer)
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// The ids of `text`, special tokens included, truncated.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        let encoding = self
            .inner
            .encode_fast(text, true)
            .map_err(|e| EmbedError::Tokenization(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// [`TextTokenizer::encode`] for each text.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, EmbedError> {
        if texts.len() <= 1 {
            return texts.iter().map(|text| self.encode(text)).collect();
        }
        let encodings = self
            .inner
            .encode_batch_fast(texts.to_vec(), true)
            .map_err(|e| EmbedError::Tokenization(e.to_string()))?;
        Ok(encodings.iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// Largest token id the tokenizer can produce, plus one.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}
