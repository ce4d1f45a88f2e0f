//! BERT (Devlin et al. 2018) as sentence-transformers checkpoints use it:
//! word + learned absolute position + token-type embeddings, layer norm, then
//! post-norm encoder layers (self-attention → dense → add & norm → GELU MLP →
//! add & norm).

use super::attention::{self, padding_bias};
use super::config::BertConfig;
use super::layers::{Activation, LayerNorm, Linear, lookup};
use super::weights::Weights;
use crate::embed::error::EmbedError;
use candle_core::{Result, Tensor};

/// Query, key and value projections fused into one `(3·hidden, hidden)`
/// matrix, the query rows (and bias) pre-multiplied by `1/√head_dim`.
pub(crate) fn fused_qkv(
    weights: &Weights,
    prefix: &str,
    hidden: usize,
    heads: usize,
) -> std::result::Result<Linear, EmbedError> {
    let scale = 1.0 / ((hidden / heads) as f64).sqrt();
    let part = |name: &str| -> std::result::Result<(Tensor, Tensor), EmbedError> {
        let weight = weights.get_cpu(&format!("{prefix}.{name}.weight"), &[hidden, hidden])?;
        let bias = weights.get_cpu(&format!("{prefix}.{name}.bias"), &[hidden])?;
        Ok((weight, bias))
    };
    let (qw, qb) = part("query")?;
    let (kw, kb) = part("key")?;
    let (vw, vb) = part("value")?;
    let weight = Tensor::cat(&[(qw * scale)?, kw, vw], 0)?;
    let bias = Tensor::cat(&[(qb * scale)?, kb, vb], 0)?;
    Ok(Linear::new(
        weights.finish(&weight)?,
        Some(weights.finish(&bias)?),
    ))
}

struct BertLayer {
    qkv: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

pub(crate) struct Bert {
    word_embeddings: Tensor,
    /// Position embeddings with the token-type-0 row already added.
    position_embeddings: Tensor,
    embedding_norm: LayerNorm,
    layers: Vec<BertLayer>,
    heads: usize,
    hidden: usize,
    activation: Activation,
}

impl Bert {
    pub(crate) fn load(
        config: &BertConfig,
        weights: &mut Weights,
    ) -> std::result::Result<Bert, EmbedError> {
        weights.select_prefix(
            &["", "bert.", "model."],
            "embeddings.word_embeddings.weight",
        )?;
        let hidden = config.hidden_size;
        let heads = config.num_attention_heads;
        let eps = config.layer_norm_eps;
        let word_embeddings = weights.get(
            "embeddings.word_embeddings.weight",
            &[config.vocab_size, hidden],
        )?;
        let positions = weights.get_cpu(
            "embeddings.position_embeddings.weight",
            &[config.max_position_embeddings, hidden],
        )?;
        let token_types = weights.get_cpu(
            "embeddings.token_type_embeddings.weight",
            &[config.type_vocab_size, hidden],
        )?;
        let position_embeddings =
            weights.finish(&positions.broadcast_add(&token_types.narrow(0, 0, 1)?)?)?;
        let embedding_norm = LayerNorm::load(weights, "embeddings.LayerNorm", hidden, eps, false)?;
        let layers = (0..config.num_hidden_layers)
            .map(|index| {
                let p = format!("encoder.layer.{index}");
                Ok(BertLayer {
                    qkv: fused_qkv(weights, &format!("{p}.attention.self"), hidden, heads)?,
                    attention_out: Linear::load(
                        weights,
                        &format!("{p}.attention.output.dense"),
                        hidden,
                        hidden,
                        true,
                    )?,
                    attention_norm: LayerNorm::load(
                        weights,
                        &format!("{p}.attention.output.LayerNorm"),
                        hidden,
                        eps,
                        false,
                    )?,
                    intermediate: Linear::load(
                        weights,
                        &format!("{p}.intermediate.dense"),
                        hidden,
                        config.intermediate_size,
                        true,
                    )?,
                    output: Linear::load(
                        weights,
                        &format!("{p}.output.dense"),
                        config.intermediate_size,
                        hidden,
                        true,
                    )?,
                    output_norm: LayerNorm::load(
                        weights,
                        &format!("{p}.output.LayerNorm"),
                        hidden,
                        eps,
                        false,
                    )?,
                })
            })
            .collect::<std::result::Result<Vec<_>, EmbedError>>()?;
        Ok(Bert {
            word_embeddings,
            position_embeddings,
            embedding_norm,
            layers,
            heads,
            hidden,
            activation: config.activation(),
        })
    }

    /// `ids` `(batch, seq)` u32 → hidden states `(batch, seq, hidden)`.
    pub(crate) fn forward(&self, ids: &Tensor, lengths: &[usize]) -> Result<Tensor> {
        let (batch, seq) = ids.dims2()?;
        let embedded = lookup(&self.word_embeddings, ids)?
            .reshape((batch, seq, self.hidden))?
            .broadcast_add(&self.position_embeddings.narrow(0, 0, seq)?)?;
        let mut xs = self
            .embedding_norm
            .forward(&embedded)?
            .reshape((batch * seq, self.hidden))?;
        let bias = padding_bias(lengths, seq, xs.dtype(), xs.device())?;
        for layer in &self.layers {
            let qkv = layer.qkv.forward(&xs)?;
            let context =
                attention::self_attention(&qkv, batch, seq, self.heads, bias.as_ref(), None)?;
            let attended = layer
                .attention_norm
                .forward(&(layer.attention_out.forward(&context)? + &xs)?)?;
            let inner = self
                .activation
                .forward(&layer.intermediate.forward(&attended)?)?;
            xs = layer
                .output_norm
                .forward(&(layer.output.forward(&inner)? + &attended)?)?;
        }
        xs.reshape((batch, seq, self.hidden))
    }
}
