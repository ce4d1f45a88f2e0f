//! The building blocks shared by the encoders: dense layers, layer norms and
//! activations, all on rows of a 2-D `(tokens, features)` activation.

use super::weights::Weights;
use crate::embed::error::EmbedError;
use candle_core::{CpuStorage, DType, Layout, Result, Shape, Tensor};

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
            Activation::Gelu if xs.device().is_cpu() && xs.dtype() == DType::F32 => {
                let row_strided = xs.rank() == 2 && xs.stride()[1] == 1;
                if xs.is_contiguous() || row_strided {
                    xs.apply_op1_no_bwd(&CpuGelu)
                } else {
                    xs.contiguous()?.apply_op1_no_bwd(&CpuGelu)
                }
            }
            Activation::Gelu => xs.gelu_erf(),
            Activation::GeluTanh => xs.gelu(),
            Activation::Relu => xs.relu(),
            Activation::Silu => xs.silu(),
        }
    }
}

/// Exact-form GELU, `x/2 · (1 + erf(x/√2))`, for f32 on the CPU with a
/// branch-free rational erf that the compiler vectorizes. candle's
/// `gelu_erf` calls a scalar libm `erff` per element, which profiled at
/// about 7% of an all-MiniLM-L6-v2 forward pass; this is a small fraction
/// of that. Absolute error of erf below 5e-7 (of GELU below 2e-6, at
/// |x| ≈ 5 where the slope is flat); parity with exact-erf references is
/// checked by the tests.
struct CpuGelu;

/// erf on [-4, 4] as an odd degree-13 polynomial over an even degree-8 one
/// (minimax fit, coefficients as in Eigen's `generic_fast_erf_float`);
/// |erf(x)| rounds to 1 in f32 beyond 4. Plain `*` and `+`, not `mul_add`:
/// without a target-cpu flag `mul_add` becomes a libm `fmaf` call per term.
#[inline(always)]
fn fast_erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 - 2.101_024e-6;
    p = p * x2 - 5.692_506_4e-5;
    p = p * x2 - 7.349_906_3e-4;
    p = p * x2 - 2.954_600_1e-3;
    p = p * x2 - 1.609_603_3e-2;
    let mut q = -1.456_607_2e-5_f32;
    q = q * x2 - 2.133_740_6e-4;
    q = q * x2 - 1.682_827e-3;
    q = q * x2 - 7.373_329e-3;
    q = q * x2 - 1.426_474e-2;
    x * p / q
}

#[inline(always)]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + fast_erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

impl candle_core::CustomOp1 for CpuGelu {
    fn name(&self) -> &'static str {
        "stackherd-gelu-erf"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("stackherd-gelu-erf: f32 only");
        };
        let mut out = Vec::with_capacity(layout.shape().elem_count());
        if let Some((start, end)) = layout.contiguous_offsets() {
            out.extend(data[start..end].iter().map(|&x| gelu(x)));
        } else if let ([rows, columns], [row_stride, 1]) = (layout.dims(), layout.stride()) {
            // Rows of a wider matrix (one half of a gated MLP's projection).
            for row in 0..*rows {
                let start = layout.start_offset() + row * row_stride;
                out.extend(data[start..start + columns].iter().map(|&x| gelu(x)));
            }
        } else {
            candle_core::bail!("stackherd-gelu-erf: contiguous or row-strided 2-D input only");
        }
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// Rows of an embedding table for a flat list of token ids.
pub(crate) fn lookup(table: &Tensor, ids: &Tensor) -> Result<Tensor> {
    table.index_select(&ids.flatten_all()?, 0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use candle_core::Device;

    /// erf by its Maclaurin series (|x| ≤ 3) or its asymptotic continued
    /// fraction, in f64: the reference for the fast f32 version.
    fn erf64(x: f64) -> f64 {
        let a = x.abs();
        let value = if a <= 3.0 {
            let (mut term, mut sum, mut n) = (a, a, 0.0);
            while term.abs() > 1e-17 {
                n += 1.0;
                term *= -a * a / n;
                sum += term / (2.0 * n + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            let mut fraction = 0.0;
            for k in (1..60).rev() {
                fraction = f64::from(k) / 2.0 / (a + fraction);
            }
            1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / (a + fraction)
        };
        value.copysign(x)
    }

    #[test]
    fn fast_erf_is_accurate() {
        let mut worst = 0f64;
        for i in -100_000..=100_000 {
            let x = i as f32 * 1e-4;
            worst = worst.max((f64::from(fast_erf(x)) - erf64(f64::from(x))).abs());
        }
        assert!(worst < 5e-7, "max |error| {worst}");
    }

    #[test]
    fn cpu_gelu_matches_candle_on_strided_input() {
        let xs = (Tensor::arange(-400f32, 400., &Device::Cpu).unwrap() / 50.)
            .unwrap()
            .reshape((20, 40))
            .unwrap();
        let strided = xs.narrow(1, 5, 20).unwrap();
        for input in [&xs, &strided] {
            let ours = Activation::Gelu
                .forward(input)
                .unwrap()
                .flatten_all()
                .unwrap();
            let theirs = input.gelu_erf().unwrap().flatten_all().unwrap();
            let diff = (ours - theirs).unwrap().abs().unwrap().max(0).unwrap();
            assert!(diff.to_scalar::<f32>().unwrap() < 2e-6);
        }
    }
}
