//! Jina-BERT v2 (Günther et al. 2023): BERT without position embeddings,
//! whose attention scores get a symmetric ALiBi bias `-slope_h·|i−j|`, and
//! whose post-norm MLP is gated (GeGLU: `act(x W_g) ⊙ (x W_u)`).
//!
//! Unlike candle-transformers' version this one masks padding keys, so a
//! text's vector does not depend on what else is in its batch.

use super::attention::{self, alibi_bias, alibi_slopes, combine, padding_bias};
use super::bert::fused_qkv;
use super::config::JinaBertConfig;
use super::layers::{Activation, LayerNorm, Linear, lookup};
use super::weights::Weights;
use crate::embed::error::EmbedError;
use candle_core::{Result, Tensor};

struct JinaLayer {
    qkv: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    /// `(2·intermediate, hidden)`: the gated half first, then the linear half.
    gated: Linear,
    down: Linear,
    mlp_norm: LayerNorm,
}

pub(crate) struct JinaBert {
    word_embeddings: Tensor,
    token_type_row: Tensor,
    embedding_norm: LayerNorm,
    layers: Vec<JinaLayer>,
    slopes: Vec<f64>,
    heads: usize,
    hidden: usize,
    intermediate: usize,
    gate: Activation,
}

impl JinaBert {
    pub(crate) fn load(
        config: &JinaBertConfig,
        weights: &mut Weights,
    ) -> std::result::Result<JinaBert, EmbedError> {
        weights.select_prefix(
            &["", "bert.", "model."],
            "embeddings.word_embeddings.weight",
        )?;
        let bert = &config.bert;
        let hidden = bert.hidden_size;
        let heads = bert.num_attention_heads;
        let intermediate = bert.intermediate_size;
        let eps = bert.layer_norm_eps;
        let gate = config.gate_activation().ok_or_else(|| {
            EmbedError::unsupported(
                weights.path(),
                format!("feed_forward_type `{}`", config.feed_forward_type),
            )
        })?;
        let word_embeddings = weights.get(
            "embeddings.word_embeddings.weight",
            &[bert.vocab_size, hidden],
        )?;
        let token_type_row = weights
            .get(
                "embeddings.token_type_embeddings.weight",
                &[bert.type_vocab_size, hidden],
            )?
            .narrow(0, 0, 1)?
            .contiguous()?;
        let embedding_norm = LayerNorm::load(weights, "embeddings.LayerNorm", hidden, eps, false)?;
        let layers = (0..bert.num_hidden_layers)
            .map(|index| {
                let p = format!("encoder.layer.{index}");
                Ok(JinaLayer {
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
                    gated: Linear::load_opt_bias(
                        weights,
                        &format!("{p}.mlp.gated_layers"),
                        hidden,
                        2 * intermediate,
                    )?,
                    down: Linear::load_opt_bias(
                        weights,
                        &format!("{p}.mlp.wo"),
                        intermediate,
                        hidden,
                    )?,
                    mlp_norm: LayerNorm::load(
                        weights,
                        &format!("{p}.mlp.layernorm"),
                        hidden,
                        eps,
                        false,
                    )?,
                })
            })
            .collect::<std::result::Result<Vec<_>, EmbedError>>()?;
        Ok(JinaBert {
            word_embeddings,
            token_type_row,
            embedding_norm,
            layers,
            slopes: alibi_slopes(heads),
            heads,
            hidden,
            intermediate,
            gate,
        })
    }

    /// `ids` `(batch, seq)` u32 → hidden states `(batch, seq, hidden)`.
    pub(crate) fn forward(&self, ids: &Tensor, lengths: &[usize]) -> Result<Tensor> {
        let (batch, seq) = ids.dims2()?;
        let embedded = lookup(&self.word_embeddings, ids)?.broadcast_add(&self.token_type_row)?;
        let mut xs = self.embedding_norm.forward(&embedded)?;
        let (dtype, device) = (xs.dtype(), xs.device().clone());
        let bias = combine(
            Some(alibi_bias(&self.slopes, seq, dtype, &device)?),
            padding_bias(lengths, seq, dtype, &device)?,
        )?;
        for layer in &self.layers {
            let qkv = layer.qkv.forward(&xs)?;
            let context =
                attention::self_attention(&qkv, batch, seq, self.heads, bias.as_ref(), None)?;
            let attended = layer
                .attention_norm
                .forward(&(layer.attention_out.forward(&context)? + &xs)?)?;
            let up = layer.gated.forward(&attended)?;
            let gated = self.gate.forward(&up.narrow(1, 0, self.intermediate)?)?;
            let linear = up.narrow(1, self.intermediate, self.intermediate)?;
            let mlp = layer.down.forward(&(gated * linear)?)?;
            xs = layer.mlp_norm.forward(&(mlp + &attended)?)?;
        }
        xs.reshape((batch, seq, self.hidden))
    }
}
