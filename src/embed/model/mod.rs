//! Encoder architectures, written on candle ops from the published papers:
//! [`bert`], [`modernbert`] and [`jina_bert`], sharing [`attention`] and
//! [`layers`]; [`config`] tells them apart and [`pooling`] reads the
//! sentence-transformers pipeline around them.

pub(crate) mod attention;
pub(crate) mod bert;
pub mod config;
pub(crate) mod jina_bert;
pub(crate) mod layers;
pub(crate) mod modernbert;
pub mod pooling;
pub(crate) mod weights;

pub use config::Architecture;
pub use pooling::Pooling;

use crate::embed::error::EmbedError;
use candle_core::{Result, Tensor};
use config::ModelConfig;
use weights::Weights;

/// A loaded encoder: token ids in, token states out.
pub(crate) enum Encoder {
    Bert(bert::Bert),
    ModernBert(modernbert::ModernBert),
    JinaBert(jina_bert::JinaBert),
}

impl Encoder {
    /// Builds the encoder `config` describes from `weights`; `positions` is
    /// the longest sequence it will be asked to run.
    pub(crate) fn load(
        config: &ModelConfig,
        weights: &mut Weights,
        positions: usize,
    ) -> std::result::Result<Encoder, EmbedError> {
        Ok(match config {
            ModelConfig::Bert(c) => Encoder::Bert(bert::Bert::load(c, weights)?),
            ModelConfig::ModernBert(c) => {
                Encoder::ModernBert(modernbert::ModernBert::load(c, weights, positions)?)
            }
            ModelConfig::JinaBert(c) => Encoder::JinaBert(jina_bert::JinaBert::load(c, weights)?),
        })
    }

    /// `ids` `(batch, seq)` u32, right-padded; `lengths[i]` real tokens in
    /// row `i`. Returns `(batch, seq, hidden)` in the run dtype.
    pub(crate) fn forward(&self, ids: &Tensor, lengths: &[usize]) -> Result<Tensor> {
        match self {
            Encoder::Bert(model) => model.forward(ids, lengths),
            Encoder::ModernBert(model) => model.forward(ids, lengths),
            Encoder::JinaBert(model) => model.forward(ids, lengths),
        }
    }
}
