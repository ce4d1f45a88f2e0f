//! Bidirectional multi-head self-attention shared by the three encoders, and
//! the additive biases (padding, sliding window, ALiBi) they feed it.
//!
//! Cost notes (CPU): the query projection is pre-scaled by `1/√head_dim` at
//! load time, so no scale pass runs here; the softmax is candle's fused
//! last-dimension kernel; and no bias tensor is built or added when nothing
//! needs masking (a single text, or a batch of equal lengths).

use candle_core::{DType, Device, Result, Tensor};

/// Large negative but finite, so that a fully masked row (a padding query in
/// a sliding window) softmaxes to a uniform row instead of NaN, and two
/// masks added together stay finite even in f16.
pub(crate) const MASK_VALUE: f32 = -30_000.0;

/// Rotary position tables, `(positions, head_dim / 2)` each.
#[derive(Debug, Clone)]
pub(crate) struct Rope {
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    /// The non-interleaved ("rotate half") tables for `positions` positions.
    pub(crate) fn new(
        head_dim: usize,
        theta: f64,
        positions: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<Rope> {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(positions * half);
        let mut sin = Vec::with_capacity(positions * half);
        for position in 0..positions {
            for i in 0..half {
                let inv_freq = 1.0 / theta.powf((2 * i) as f64 / head_dim as f64);
                let angle = position as f64 * inv_freq;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        let cos = Tensor::from_vec(cos, (positions, half), device)?.to_dtype(dtype)?;
        let sin = Tensor::from_vec(sin, (positions, half), device)?.to_dtype(dtype)?;
        Ok(Rope { cos, sin })
    }

    fn apply(&self, xs: &Tensor) -> Result<Tensor> {
        candle_nn::rotary_emb::rope(xs, &self.cos, &self.sin)
    }
}

/// Attention over `qkv` `(batch·seq, 3·heads·head_dim)` (query already scaled),
/// giving `(batch·seq, heads·head_dim)`. `bias` broadcasts to
/// `(batch, heads, seq, seq)` and is added to the scores.
pub(crate) fn self_attention(
    qkv: &Tensor,
    batch: usize,
    seq: usize,
    heads: usize,
    bias: Option<&Tensor>,
    rope: Option<&Rope>,
) -> Result<Tensor> {
    let width = qkv.dim(1)? / 3;
    let head_dim = width / heads;
    // One copy into head-major layout: (3, batch, heads, seq, head_dim).
    let qkv = qkv
        .reshape((batch, seq, 3, heads, head_dim))?
        .permute((2, 0, 3, 1, 4))?
        .contiguous()?;
    let mut q = qkv.get(0)?;
    let mut k = qkv.get(1)?;
    let v = qkv.get(2)?;
    if let Some(rope) = rope {
        q = rope.apply(&q)?;
        k = rope.apply(&k)?;
    }
    let mut scores = q.matmul(&k.t()?)?;
    if let Some(bias) = bias {
        scores = scores.broadcast_add(bias)?;
    }
    let probs = candle_nn::ops::softmax_last_dim(&scores)?;
    probs
        .matmul(&v)?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((batch * seq, width))
}

/// `(batch, 1, 1, seq)` with [`MASK_VALUE`] at padding keys; `None` when no
/// row is padded.
pub(crate) fn padding_bias(
    lengths: &[usize],
    seq: usize,
    dtype: DType,
    device: &Device,
) -> Result<Option<Tensor>> {
    if lengths.iter().all(|&length| length >= seq) {
        return Ok(None);
    }
    let values: Vec<f32> = lengths
        .iter()
        .flat_map(|&length| (0..seq).map(move |j| if j < length { 0.0 } else { MASK_VALUE }))
        .collect();
    Tensor::from_vec(values, (lengths.len(), 1, 1, seq), device)?
        .to_dtype(dtype)
        .map(Some)
}

/// `(1, 1, seq, seq)` masking keys farther than `half_window` from the
/// query; `None` when the window covers the whole sequence.
pub(crate) fn window_bias(
    seq: usize,
    half_window: usize,
    dtype: DType,
    device: &Device,
) -> Result<Option<Tensor>> {
    if seq <= half_window + 1 {
        return Ok(None);
    }
    let values: Vec<f32> = (0..seq)
        .flat_map(|i| {
            (0..seq).map(move |j| {
                if i.abs_diff(j) > half_window {
                    MASK_VALUE
                } else {
                    0.0
                }
            })
        })
        .collect();
    Tensor::from_vec(values, (1, 1, seq, seq), device)?
        .to_dtype(dtype)
        .map(Some)
}

/// ALiBi head slopes (Press et al.): a geometric sequence starting at
/// `2^(-8/n)` for `n` a power of two; otherwise the slopes of the closest
/// smaller power of two followed by every other slope of the next one.
pub(crate) fn alibi_slopes(heads: usize) -> Vec<f64> {
    fn power_of_two(n: usize) -> Vec<f64> {
        let start = 2f64.powf(-8.0 / n as f64);
        (1..=n).map(|i| start.powi(i as i32)).collect()
    }
    if heads.is_power_of_two() {
        return power_of_two(heads);
    }
    let closest = 1usize << heads.ilog2();
    let mut slopes = power_of_two(closest);
    slopes.extend(
        alibi_slopes(2 * closest)
            .into_iter()
            .step_by(2)
            .take(heads - closest),
    );
    slopes
}

/// `(1, heads, seq, seq)`: `-slope_h · |i − j|`, the symmetric ALiBi bias.
pub(crate) fn alibi_bias(
    slopes: &[f64],
    seq: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let mut values = Vec::with_capacity(slopes.len() * seq * seq);
    for &slope in slopes {
        for i in 0..seq {
            values.extend((0..seq).map(|j| (-slope * i.abs_diff(j) as f64) as f32));
        }
    }
    Tensor::from_vec(values, (1, slopes.len(), seq, seq), device)?.to_dtype(dtype)
}

/// Adds two optional biases.
pub(crate) fn combine(a: Option<Tensor>, b: Option<Tensor>) -> Result<Option<Tensor>> {
    match (a, b) {
        (Some(a), Some(b)) => a.broadcast_add(&b).map(Some),
        (a, b) => Ok(a.or(b)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn alibi_slopes_match_the_paper() {
        let eight = alibi_slopes(8);
        let expected: Vec<f64> = (1..=8).map(|i| 2f64.powi(-i)).collect();
        for (a, b) in eight.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-12);
        }
        // 12 heads: the 8 slopes above, then 2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5.
        let twelve = alibi_slopes(12);
        assert_eq!(twelve.len(), 12);
        for (k, slope) in twelve[8..].iter().enumerate() {
            assert!((slope - 2f64.powf(-0.5 - k as f64)).abs() < 1e-12);
        }
    }

    #[test]
    fn masks_are_skipped_when_not_needed() {
        let dev = Device::Cpu;
        assert!(
            padding_bias(&[4, 4], 4, DType::F32, &dev)
                .unwrap()
                .is_none()
        );
        assert!(
            padding_bias(&[4, 2], 4, DType::F32, &dev)
                .unwrap()
                .is_some()
        );
        assert!(window_bias(65, 64, DType::F32, &dev).unwrap().is_none());
        let window = window_bias(4, 1, DType::F32, &dev).unwrap().unwrap();
        let rows = window
            .squeeze(0)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(rows[0], vec![0.0, 0.0, MASK_VALUE, MASK_VALUE]);
        assert_eq!(rows[2], vec![MASK_VALUE, 0.0, 0.0, 0.0]);
    }
}
