//! Tokenization with the model's `tokenizer.json`.
//!
//! The file's own truncation and padding settings are replaced: the shipped
//! all-MiniLM-L6-v2 tokenizer truncates to 128 tokens and pads every input to
//! 128, which would silently cut stacktraces and waste compute on padding.
//! Here inputs are truncated to the configured `max_tokens` (special tokens
//! included) and never padded; the embedder pads a batch to its longest row.
//!
//! **Truncation keeps the first line and the end.** A stacktrace text
//! (`SEER_API.md`) starts with the outermost exception's `Type: value` line
//! and ends with the crashing frames; a deep stack's middle is call-path
//! frames that unrelated errors share. A text longer than `max_tokens` keeps
//! the tokens of its first line (at most a quarter of the room between the
//! special tokens) followed by as many tokens of its end as fit. Measured on
//! all-MiniLM-L6-v2 with 18 long stacktraces (6 crash sites × 3 call paths,
//! 400–530 tokens, cut to 256): telling same-issue pairs from different-issue
//! pairs, ROC AUC 0.901 for first line + end, against 0.634 for the end alone
//! and 0.670 for the start alone; the start alone also put 4 of 135
//! different-issue pairs at cosine 1.0 (wrong merges). Reproduce with
//! `models/golden/make_golden.py --measure-truncation`; details in
//! `models/golden/README.md`.

use super::error::EmbedError;
use std::path::Path;

/// A `tokenizer.json` with stackherd's truncation (first line + end, at most
/// `max_tokens` tokens in all) and no padding.
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    max_tokens: usize,
    /// Special tokens the post-processor puts before a single sequence…
    prefix: Vec<u32>,
    /// …and after it.
    suffix: Vec<u32>,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("max_tokens", &self.max_tokens)
            .field("prefix", &self.prefix)
            .field("suffix", &self.suffix)
            .finish_non_exhaustive()
    }
}

impl TextTokenizer {
    /// Loads `path`, dropping its own truncation and padding.
    pub fn load(path: &Path, max_tokens: usize) -> Result<TextTokenizer, EmbedError> {
        if !path.is_file() {
            return Err(EmbedError::MissingFile {
                path: path.to_path_buf(),
            });
        }
        let mut inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| EmbedError::invalid_file(path, e.to_string()))?;
        inner
            .with_truncation(None)
            .map_err(|e| EmbedError::invalid_file(path, e.to_string()))?;
        inner.with_padding(None);
        let (prefix, suffix) = special_tokens(&inner, path)?;
        if prefix.len() + suffix.len() >= max_tokens {
            return Err(EmbedError::option(
                "max_tokens",
                format!(
                    "{max_tokens} tokens leave no room for text next to the tokenizer's special tokens"
                ),
            ));
        }
        Ok(TextTokenizer {
            inner,
            max_tokens,
            prefix,
            suffix,
        })
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// The ids of `text`, truncated, special tokens included.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        let pieces = self.pieces(text)?;
        self.finish(text, &pieces)
    }

    /// [`TextTokenizer::encode`] for each text.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, EmbedError> {
        if texts.len() <= 1 {
            return texts.iter().map(|text| self.encode(text)).collect();
        }
        let encodings = self
            .inner
            .encode_batch_fast(texts.to_vec(), false)
            .map_err(|e| EmbedError::Tokenization(e.to_string()))?;
        texts
            .iter()
            .zip(encodings)
            .map(|(text, encoding)| self.finish(text, encoding.get_ids()))
            .collect()
    }

    /// Largest token id the tokenizer can produce, plus one.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    fn pieces(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        let encoding = self
            .inner
            .encode_fast(text, false)
            .map_err(|e| EmbedError::Tokenization(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Truncates `pieces` (the tokens of `text` without special tokens) to
    /// the room left by the special tokens, then adds them.
    fn finish(&self, text: &str, pieces: &[u32]) -> Result<Vec<u32>, EmbedError> {
        let room = self.max_tokens - self.prefix.len() - self.suffix.len();
        let mut ids = Vec::with_capacity(pieces.len().min(room) + self.max_tokens - room);
        ids.extend_from_slice(&self.prefix);
        if pieces.len() <= room {
            ids.extend_from_slice(pieces);
        } else {
            let first_line = text.split('\n').next().unwrap_or("");
            let header = self.pieces(first_line)?.len().min(room / 4);
            ids.extend_from_slice(&pieces[..header]);
            ids.extend_from_slice(&pieces[pieces.len() - (room - header)..]);
        }
        ids.extend_from_slice(&self.suffix);
        Ok(ids)
    }
}

/// The fixed special tokens the post-processor wraps a single sequence in,
/// found by comparing encodings with and without them.
fn special_tokens(
    tokenizer: &tokenizers::Tokenizer,
    path: &Path,
) -> Result<(Vec<u32>, Vec<u32>), EmbedError> {
    let mut found: Option<(Vec<u32>, Vec<u32>)> = None;
    for probe in ["error", "KeyError: 'x'\n  File \"a.py\", function f"] {
        let encode = |special: bool| {
            tokenizer
                .encode_fast(probe, special)
                .map(|e| e.get_ids().to_vec())
                .map_err(|e| EmbedError::invalid_file(path, e.to_string()))
        };
        let (with, without) = (encode(true)?, encode(false)?);
        let position = (0..=with.len().saturating_sub(without.len()))
            .find(|&start| with[start..].starts_with(&without))
            .filter(|_| !without.is_empty())
            .ok_or_else(|| {
                EmbedError::invalid_file(path, "the post-processor changes the text's tokens")
            })?;
        let wrap = (
            with[..position].to_vec(),
            with[position + without.len()..].to_vec(),
        );
        match &found {
            Some(previous) if *previous != wrap => {
                return Err(EmbedError::invalid_file(
                    path,
                    "the post-processor's special tokens depend on the text",
                ));
            }
            _ => found = Some(wrap),
        }
    }
    Ok(found.unwrap_or_default())
}
