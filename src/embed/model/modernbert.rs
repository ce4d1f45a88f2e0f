//! ModernBERT (Warner et al. 2024): token embeddings and a norm, then
//! pre-norm layers `x += Wo·attn(norm(x))`, `x += mlp(norm(x))` with rotary
//! positions, GeGLU MLPs and no biases by default; every
//! `global_attn_every_n_layers`-th layer (starting with the first) attends
//! globally with `global_rope_theta`, the others within a sliding window of
//! `local_attention` tokens with `local_rope_theta`; a final norm.
//!
//! Masks are built in the run dtype (candle-transformers' version hard-codes
//! an f32 mask and so fails in bf16).

use super::attention::{self, Rope, combine, padding_bias, window_bias};
use super::config::ModernBertConfig;
use super::layers::{Activation, LayerNorm, Linear, lookup};
use super::weights::Weights;
use crate::embed::error::EmbedError;
use candle_core::{Result, Tensor};

struct ModernLayer {
    /// Absent in the first layer (the embedding norm precedes it).
    attention_norm: Option<LayerNorm>,
    qkv: Linear,
    attention_out: Linear,
    mlp_norm: LayerNorm,
    /// `(2·intermediate, hidden)`: activated half first, then the gate.
    up: Linear,
    down: Linear,
    global: bool,
}

pub(crate) struct ModernBert {
    word_embeddings: Tensor,
    embedding_norm: LayerNorm,
    layers: Vec<ModernLayer>,
    final_norm: LayerNorm,
    global_rope: Rope,
    local_rope: Rope,
    half_window: usize,
    heads: usize,
    hidden: usize,
    intermediate: usize,
    activation: Activation,
}

impl ModernBert {
    /// `positions`: the longest sequence that will be run (rotary tables).
    pub(crate) fn load(
        config: &ModernBertConfig,
        weights: &mut Weights,
        positions: usize,
    ) -> std::result::Result<ModernBert, EmbedError> {
        weights.select_prefix(&["", "model."], "embeddings.tok_embeddings.weight")?;
        let hidden = config.hidden_size;
        let heads = config.num_attention_heads;
        let head_dim = hidden / heads;
        let intermediate = config.intermediate_size;
        let eps = config.eps();
        let scale = 1.0 / (head_dim as f64).sqrt();
        let word_embeddings = weights.get(
            "embeddings.tok_embeddings.weight",
            &[config.vocab_size, hidden],
        )?;
        let embedding_norm = LayerNorm::load(weights, "embeddings.norm", hidden, eps, true)?;
        let layers = (0..config.num_hidden_layers)
            .map(|index| {
                let p = format!("layers.{index}");
                let attention_norm = if weights.contains(&format!("{p}.attn_norm.weight")) {
                    Some(LayerNorm::load(
                        weights,
                        &format!("{p}.attn_norm"),
                        hidden,
                        eps,
                        true,
                    )?)
                } else {
                    None
                };
                // Pre-scale the query rows of the fused projection (rotation is
                // linear, so scaling before it is the same as after).
                let qkv_weight =
                    weights.get_cpu(&format!("{p}.attn.Wqkv.weight"), &[3 * hidden, hidden])?;
                let qkv_weight = Tensor::cat(
                    &[
                        (qkv_weight.narrow(0, 0, hidden)? * scale)?,
                        qkv_weight.narrow(0, hidden, 2 * hidden)?,
                    ],
                    0,
                )?;
                let qkv_bias = if weights.contains(&format!("{p}.attn.Wqkv.bias")) {
                    let bias = weights.get_cpu(&format!("{p}.attn.Wqkv.bias"), &[3 * hidden])?;
                    let bias = Tensor::cat(
                        &[
                            (bias.narrow(0, 0, hidden)? * scale)?,
                            bias.narrow(0, hidden, 2 * hidden)?,
                        ],
                        0,
                    )?;
                    Some(weights.finish(&bias)?)
                } else {
                    None
                };
                Ok(ModernLayer {
                    attention_norm,
                    qkv: Linear::new(weights.finish(&qkv_weight)?, qkv_bias),
                    attention_out: Linear::load_opt_bias(
                        weights,
                        &format!("{p}.attn.Wo"),
                        hidden,
                        hidden,
                    )?,
                    mlp_norm: LayerNorm::load(
                        weights,
                        &format!("{p}.mlp_norm"),
                        hidden,
                        eps,
                        true,
                    )?,
                    up: Linear::load_opt_bias(
                        weights,
                        &format!("{p}.mlp.Wi"),
                        hidden,
                        2 * intermediate,
                    )?,
                    down: Linear::load_opt_bias(
                        weights,
                        &format!("{p}.mlp.Wo"),
                        intermediate,
                        hidden,
                    )?,
                    global: index % config.global_attn_every_n_layers == 0,
                })
            })
            .collect::<std::result::Result<Vec<_>, EmbedError>>()?;
        let final_norm = LayerNorm::load(weights, "final_norm", hidden, eps, true)?;
        let (dtype, device) = (weights.dtype(), weights.device().clone());
        let global_rope = Rope::new(
            head_dim,
            config.global_rope_theta,
            positions,
            dtype,
            &device,
        )?;
        let local_rope = Rope::new(head_dim, config.local_rope_theta, positions, dtype, &device)?;
        Ok(ModernBert {
            word_embeddings,
            embedding_norm,
            layers,
            final_norm,
            global_rope,
            local_rope,
            half_window: config.local_attention / 2,
            heads,
            hidden,
            intermediate,
            activation: config.activation(),
        })
    }

    /// `ids` `(batch, seq)` u32 → hidden states `(batch, seq, hidden)`.
    pub(crate) fn forward(&self, ids: &Tensor, lengths: &[usize]) -> Result<Tensor> {
        let (batch, seq) = ids.dims2()?;
        let mut xs = self
            .embedding_norm
            .forward(&lookup(&self.word_embeddings, ids)?)?;
        let (dtype, device) = (xs.dtype(), xs.device().clone());
        let global_bias = padding_bias(lengths, seq, dtype, &device)?;
        let local_bias = combine(
            global_bias.clone(),
            window_bias(seq, self.half_window, dtype, &device)?,
        )?;
        for layer in &self.layers {
            let normed = match &layer.attention_norm {
                Some(norm) => norm.forward(&xs)?,
                None => xs.clone(),
            };
            let qkv = layer.qkv.forward(&normed)?;
            let (bias, rope) = if layer.global {
                (global_bias.as_ref(), &self.global_rope)
            } else {
                (local_bias.as_ref(), &self.local_rope)
            };
            let context =
                attention::self_attention(&qkv, batch, seq, self.heads, bias, Some(rope))?;
            xs = (xs + layer.attention_out.forward(&context)?)?;
            let up = layer.up.forward(&layer.mlp_norm.forward(&xs)?)?;
            let activated = self
                .activation
                .forward(&up.narrow(1, 0, self.intermediate)?)?;
            let gate = up.narrow(1, self.intermediate, self.intermediate)?;
            xs = (xs + layer.down.forward(&(activated * gate)?)?)?;
        }
        self.final_norm
            .forward(&xs)?
            .reshape((batch, seq, self.hidden))
    }
}
