//! The building blocks shared by the encoders: dense layers, layer norms and
//! activations, all on rows of a 2-D `(tokens, features)` activation.

use super::weights::Weights;
use crate::embed::error::EmbedError;
use candle_core::{Result, Tensor};

/// `y = x Wᵀ + b` on `(tokens, in)` rows.
#[derive(Debug, Clone)]
pub(crate) struct Linear {
    /// `(out, in)`, as checkpoints store it.
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    pub(crate) fn new(weight: Tensor, bias: Option<Tensor>) -> Linear {
        Linear { weight, bias }
    }

    /// `{name}.weight` `(out, in)` and, when `with_bias`, `{name}.bias` `(out)`.
    pub(crate) fn load(
        weights: &Weights,
        name: &str,
        in_features: usize,
        out_features: usize,
        with_bias: bool,
    ) -> std::result::Result<Linear, EmbedError> {
        let weight = weights.get(&format!("{name}.weight"), &[out_features, in_features])?;
        let bias = if with_bias {
            Some(weights.get(&format!("{name}.bias"), &[out_features])?)
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }

    /// Like [`Linear::load`] with the bias taken when the checkpoint has one.
    pub(crate) fn load_opt_bias(
        weights: &Weights,
        name: &str,
        in_features: usize,
        out_features: usize,
    ) -> std::result::Result<Linear, EmbedError> {
        let with_bias = weights.contains(&format!("{name}.bias"));
        Linear::load(weights, name, in_features, out_features, with_bias)
    }

    pub(crate) fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let ys = xs.matmul(&self.weight.t()?)?;
        match &self.bias {
            Some(bias) => ys.broadcast_add(bias),
            None => Ok(ys),
        }
    }
}

/// Layer normalization over the last dimension (fused candle kernel).
#[derive(Debug, Clone)]
pub(crate) struct LayerNorm {
    weight: Tensor,
    /// Zeros when the architecture has no bias (the fused kernel wants one).
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    /// `{name}.weight` and `{name}.bias` (or the old `gamma` / `beta`);
    /// a missing bias is zero when `bias_optional`.
    pub(crate) fn load(
        weights: &Weights,
        name: &str,
        size: usize,
        eps: f64,
        bias_optional: bool,
    ) -> std::result::Result<LayerNorm, EmbedError> {
        let (weight_name, bias_name) = if weights.contains(&format!("{name}.gamma")) {
            (format!("{name}.gamma"), format!("{name}.beta"))
        } else {
            (format!("{name}.weight"), format!("{name}.bias"))
        };
        let weight = weights.get(&weight_name, &[size])?;
        let bias = if bias_optional && !weights.contains(&bias_name) {
            weight.zeros_like()?
        } else {
            weights.get(&bias_name, &[size])?
        };
        Ok(LayerNorm {
            weight,
            bias,
            eps: eps as f32,
        })
    }

    pub(crate) fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        candle_nn::ops::layer_norm(xs, &self.weight, &self.bias, self.eps)
    }
}

/// The element-wise non-linearities the supported configs name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    /// Exact GELU, `x Φ(x)` (PyTorch's default `gelu`).
    Gelu,
    /// The tanh approximation (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    Relu,
    Silu,
}

impl Activation {
    /// Parses a Hugging Face `hidden_act` / `hidden_activation` value.
    pub(crate) fn parse(name: &str) -> Option<Activation> {
        match name {
            "gelu" => Some(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Activation::GeluTanh),
            "relu" => Some(Activation::Relu),
            "silu" | "swish" => Some(Activation::Silu),
            _ => None,
        }
    }

    pub(crate) fn forward(self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Gelu => xs.gelu_erf(),
            Activation::GeluTanh => xs.gelu(),
            Activation::Relu => xs.relu(),
            Activation::Silu => xs.silu(),
        }
    }
}

/// Rows of an embedding table for a flat list of token ids.
pub(crate) fn lookup(table: &Tensor, ids: &Tensor) -> Result<Tensor> {
    table.index_select(&ids.flatten_all()?, 0)
}
