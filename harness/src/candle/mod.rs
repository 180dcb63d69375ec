//! An independent reference implementation of both families in candle (f64 on the CPU), written
//! from the architecture description, not from the ONNX graph builder. It reads the
//! `model.safetensors` a build writes and checks the ONNX graphs; later it becomes the candle
//! runtime. Layout follows candle-transformers: `Config`, `new(cfg, vb)`, `forward(ids, offset)`.

pub mod decoder_only;
pub mod encoder_decoder;

use candle_core::{D, DType, Device, Module, Result, Tensor};
use candle_nn::VarBuilder;
use slmbench_models::{Config, FfnKind};

/// Loads `model.safetensors` as f64 tensors.
pub fn var_builder(path: &std::path::Path) -> Result<VarBuilder<'static>> {
    // SAFETY: the file is not modified while mapped (it is a build output read once by tests).
    unsafe { VarBuilder::from_mmaped_safetensors(&[path], DType::F64, &Device::Cpu) }
}

/// Masked-out score; finite so a fully masked (padding) row stays finite.
pub const MASKED: f64 = -1e9;

/// A bias-free linear layer with a Hugging Face `[out, in]` weight.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
}

impl Linear {
    pub fn new(vb: &VarBuilder, name: &str, out_dim: usize, in_dim: usize) -> Result<Linear> {
        Ok(Linear { weight: vb.get((out_dim, in_dim), name)? })
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.broadcast_matmul(&self.weight.t()?)
    }
}

#[derive(Debug, Clone)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    pub fn new(vb: &VarBuilder, name: &str, dim: usize, eps: f64) -> Result<RmsNorm> {
        Ok(RmsNorm { weight: vb.get(dim, name)?, eps })
    }
}

impl Module for RmsNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
        let inv = (ms + self.eps)?.sqrt()?.recip()?;
        x.broadcast_mul(&inv)?.broadcast_mul(&self.weight)
    }
}

/// Rotary embedding tables for positions `0..max_positions`.
#[derive(Debug, Clone)]
pub struct Rotary {
    cos: Tensor,
    sin: Tensor,
}

impl Rotary {
    pub fn new(theta: f64, head_dim: usize, max_positions: usize) -> Result<Rotary> {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(max_positions * head_dim);
        let mut sin = Vec::with_capacity(max_positions * head_dim);
        for p in 0..max_positions {
            // Each frequency is used twice: for element j and j + half (the rotate-half pairing).
            for _ in 0..2 {
                for j in 0..half {
                    let angle = p as f64 / theta.powf(2.0 * j as f64 / head_dim as f64);
                    cos.push(angle.cos());
                    sin.push(angle.sin());
                }
            }
        }
        Ok(Rotary {
            cos: Tensor::from_vec(cos, (max_positions, head_dim), &Device::Cpu)?,
            sin: Tensor::from_vec(sin, (max_positions, head_dim), &Device::Cpu)?,
        })
    }

    /// Rotates `x` `[B, heads, S, D]` whose first position is `offset`.
    pub fn apply(&self, x: &Tensor, offset: usize) -> Result<Tensor> {
        let (_, _, s, d) = x.dims4()?;
        let cos = self.cos.narrow(0, offset, s)?;
        let sin = self.sin.narrow(0, offset, s)?;
        let x1 = x.narrow(D::Minus1, 0, d / 2)?;
        let x2 = x.narrow(D::Minus1, d / 2, d / 2)?;
        let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
        x.broadcast_mul(&cos)?.add(&rotated.broadcast_mul(&sin)?)
    }
}

/// Feed-forward block with T5 (`wi`, `wi_0`/`wi_1`, `wo`) or Llama (`gate/up/down_proj`) names.
#[derive(Debug, Clone)]
pub struct Mlp {
    kind: FfnKind,
    gate: Option<Linear>,
    up: Linear,
    down: Linear,
}

impl Mlp {
    pub fn new(cfg: &Config, vb: &VarBuilder, gate: Option<&str>, up: &str, down: &str) -> Result<Mlp> {
        let (d, f) = (cfg.d_model, cfg.d_ff);
        Ok(Mlp {
            kind: cfg.ffn,
            gate: match gate {
                Some(g) => Some(Linear::new(vb, g, f, d)?),
                None => None,
            },
            up: Linear::new(vb, up, f, d)?,
            down: Linear::new(vb, down, d, f)?,
        })
    }
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let up = self.up.forward(x)?;
        let h = match (self.kind, &self.gate) {
            (FfnKind::Gelu, _) => up.gelu_erf()?,
            (FfnKind::GatedGelu, Some(g)) => (g.forward(x)?.gelu_erf()? * up)?,
            (FfnKind::Swiglu, Some(g)) => (g.forward(x)?.silu()? * up)?,
            (_, None) => candle_core::bail!("gated FFN needs a gate weight"),
        };
        self.down.forward(&h)
    }
}

/// `[B, kv_heads, T, D]` → `[B, kv_heads × n_rep, T, D]`: query head h reads KV head h / n_rep.
pub fn repeat_kv(x: &Tensor, n_rep: usize) -> Result<Tensor> {
    if n_rep == 1 {
        return Ok(x.clone());
    }
    let (b, kv, t, d) = x.dims4()?;
    Tensor::cat(&vec![x; n_rep], 2)?.reshape((b, kv * n_rep, t, d))
}

/// Multi-head attention over prepared heads: `q` `[B, H, S, D]`, `k`/`v` `[B, KV, T, D]`,
/// optional additive `mask` broadcastable to `[B, H, S, T]`. Returns `[B, S, H × D]`.
pub fn attend(q: &Tensor, k: &Tensor, v: &Tensor, n_rep: usize, mask: Option<&Tensor>) -> Result<Tensor> {
    let (b, h, s, d) = q.dims4()?;
    let k = repeat_kv(k, n_rep)?.contiguous()?;
    let v = repeat_kv(v, n_rep)?.contiguous()?;
    let scores = (q.contiguous()?.matmul(&k.t()?.contiguous()?)? / (d as f64).sqrt())?;
    let scores = match mask {
        Some(m) => scores.broadcast_add(m)?,
        None => scores,
    };
    let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
    probs.matmul(&v)?.transpose(1, 2)?.reshape((b, s, h * d))
}

/// `[B, S, heads × D]` → `[B, heads, S, D]`.
pub fn heads(x: &Tensor, n: usize, d: usize) -> Result<Tensor> {
    let (b, s, _) = x.dims3()?;
    x.reshape((b, s, n, d))?.transpose(1, 2)?.contiguous()
}

/// Additive causal mask `[S, offset + S]`.
pub fn causal(s: usize, offset: usize) -> Result<Tensor> {
    let t = offset + s;
    let m: Vec<f64> = (0..s).flat_map(|i| (0..t).map(move |j| if j <= offset + i { 0.0 } else { MASKED })).collect();
    Tensor::from_vec(m, (s, t), &Device::Cpu)
}

/// Additive padding mask `[B, 1, 1, T]` from a 0/1 mask `[B, T]`.
pub fn padding(mask: &Tensor) -> Result<Tensor> {
    let (b, t) = mask.dims2()?;
    let m = mask.to_dtype(DType::F64)?;
    ((m - 1.0)? * -MASKED)?.reshape((b, 1, 1, t))
}
