//! Both families in candle, written from the architecture description, not from the ONNX graph
//! builder. Two uses: the f64 reference the correctness tests hold the ONNX graphs to (weights
//! from the `model.safetensors` a build can write), and the `candle` backend ([`backend`]),
//! which reads the ONNX files' own initializers ([`onnx_weights`]). Layout follows
//! candle-transformers: `Config`, `new(cfg, weights)`, `forward(ids, offset)`.

pub mod backend;
mod build;
pub mod decoder_only;
pub mod encoder_decoder;
pub mod onnx_weights;

use std::sync::Arc;

use candle_core::quantized::QMatMul;
use candle_core::{D, DType, Device, Module, Result, Tensor};
use candle_nn::VarBuilder;
use slmbench_models::{Config, FfnKind};

use self::onnx_weights::OnnxWeights;

/// Loads `model.safetensors` as f64 tensors.
pub fn var_builder(path: &std::path::Path) -> Result<VarBuilder<'static>> {
    // SAFETY: the file is not modified while mapped (it is a build output read once by tests).
    unsafe { VarBuilder::from_mmaped_safetensors(&[path], DType::F64, &Device::Cpu) }
}

/// Where a model's tensors come from, and in which element type they are computed.
#[derive(Clone)]
pub enum Weights {
    /// `model.safetensors`: Hugging Face names, linear weights `[out, in]`.
    Safetensors(VarBuilder<'static>),
    /// The ONNX files' initializers: the same names, linear weights `[in, out]`, each split
    /// into `parts` column blocks multiplied in parallel (see [`Linear`]).
    Onnx { weights: Arc<OnnxWeights>, dtype: DType, parts: usize },
}

impl From<VarBuilder<'static>> for Weights {
    fn from(vb: VarBuilder<'static>) -> Weights {
        Weights::Safetensors(vb)
    }
}

impl Weights {
    pub fn dtype(&self) -> DType {
        match self {
            Weights::Safetensors(vb) => vb.dtype(),
            Weights::Onnx { dtype, .. } => *dtype,
        }
    }

    /// Column blocks per linear weight.
    pub fn parts(&self) -> usize {
        match self {
            Weights::Safetensors(_) => 1,
            Weights::Onnx { parts, .. } => *parts,
        }
    }

    /// A tensor stored as `dims` in both sources (norm weights, embeddings).
    pub fn get(&self, name: &str, dims: &[usize]) -> Result<Tensor> {
        match self {
            Weights::Safetensors(vb) => vb.get(dims, name),
            Weights::Onnx { weights, dtype, .. } => {
                weights.get(name, dims, *dtype, &Device::Cpu).map_err(|e| candle_core::Error::Msg(e.to_string()))
            }
        }
    }

    /// A linear weight stored quantized (`MatMulNBits` codes and scales), as candle's quantized
    /// matrix multiply; `None` for a float weight.
    pub fn quantized(&self, name: &str, out_dim: usize, in_dim: usize) -> Option<Result<QMatMul>> {
        match self {
            Weights::Safetensors(_) => None,
            Weights::Onnx { weights, .. } => weights
                .ggml(name, out_dim, in_dim)
                .map(|q| q.map_err(|e| candle_core::Error::Msg(e.to_string())).and_then(QMatMul::from_qtensor)),
        }
    }

    /// A linear weight as `[in, out]`, ready to multiply from the right. A fused build packs
    /// self-attention's query, key and value weights into one `[in, q + 2·kv]` initializer
    /// (`…qkv_proj.weight`, `…SelfAttention.qkv.weight`): each is a column range of it.
    pub fn linear(&self, name: &str, out_dim: usize, in_dim: usize) -> Result<Tensor> {
        match self {
            Weights::Safetensors(vb) => vb.get((out_dim, in_dim), name)?.t(),
            Weights::Onnx { weights, .. } => match packed(name).filter(|(p, _)| !weights.has(name) && weights.has(p)) {
                Some((packed, which)) => {
                    let total = weights.raw(&packed).and_then(|(_, d)| d.get(1).copied()).unwrap_or(0);
                    // q first, then k and v of equal size.
                    let start = match which {
                        0 => 0,
                        1 => total.saturating_sub(2 * out_dim),
                        _ => total.saturating_sub(out_dim),
                    };
                    self.get(&packed, &[in_dim, total])?.narrow(1, start, out_dim)?.contiguous()
                }
                None => self.get(name, &[in_dim, out_dim]),
            },
        }
    }
}

/// Masked-out score; finite so a fully masked (padding) row stays finite.
pub const MASKED: f64 = -1e9;

/// The masked-out score in `dtype`: f16 holds no -1e9 (it would be -inf, and a fully masked row
/// NaN), so there its most negative finite value.
fn masked(dtype: DType) -> f64 {
    if dtype == DType::F16 { -65504.0 } else { MASKED }
}

/// The packed initializer a fused build keeps `name` in, and which of q (0), k (1), v (2) it is.
fn packed(name: &str) -> Option<(String, usize)> {
    for (i, part) in ["q", "k", "v"].iter().enumerate() {
        if let Some(p) = name.strip_suffix(&format!(".self_attn.{part}_proj.weight")) {
            return Some((format!("{p}.self_attn.qkv_proj.weight"), i));
        }
        if let Some(p) = name.strip_suffix(&format!(".SelfAttention.{part}.weight")) {
            return Some((format!("{p}.SelfAttention.qkv.weight"), i));
        }
    }
    None
}

/// A bias-free linear layer, its weight held as `[in, out]`, in one or more column blocks.
///
/// Why blocks: a decode step multiplies one row per sequence, and candle's matrix multiply runs
/// such a product on one thread, which reads the weights at one core's memory bandwidth (half of
/// what two cores read here). Blocks multiplied on rayon's threads and joined read them at all
/// the threads' bandwidth (`candle_matvec_costs` in `tests/candle_backend.rs` measured this).
///
/// A weight the ONNX file holds quantized runs through candle's quantized matrix multiply instead
/// (q4_0 or q8_0, [`onnx_weights::OnnxWeights::ggml`]), which uses every thread itself.
#[derive(Debug, Clone)]
pub struct Linear {
    parts: Vec<Tensor>,
    quantized: Option<QMatMul>,
}

impl Linear {
    pub fn new(w: &Weights, name: &str, out_dim: usize, in_dim: usize) -> Result<Linear> {
        if let Some(q) = w.quantized(name, out_dim, in_dim) {
            return Ok(Linear { parts: vec![], quantized: Some(q?) });
        }
        let full = w.linear(name, out_dim, in_dim)?;
        let parts = w.parts();
        if parts <= 1 || in_dim * out_dim < SPLIT_FROM {
            return Ok(Linear { parts: vec![full], quantized: None });
        }
        let parts = blocks(out_dim, parts).map(|(s, n)| full.narrow(1, s, n)?.contiguous()).collect::<Result<_>>()?;
        Ok(Linear { parts, quantized: None })
    }

    /// The output projection tied to `embedding` `[vocab, d]` (initializer `name`): blocks of
    /// its rows, transposed (views, no copy), or its quantized copy where the file holds one.
    pub fn tied(w: &Weights, name: &str, embedding: &Tensor) -> Result<Linear> {
        let (vocab, d) = embedding.dims2()?;
        if let Some(q) = w.quantized(name, vocab, d) {
            return Ok(Linear { parts: vec![], quantized: Some(q?) });
        }
        let parts = if embedding.elem_count() < SPLIT_FROM { 1 } else { w.parts().max(1) };
        let parts = blocks(vocab, parts).map(|(s, n)| embedding.narrow(0, s, n)?.t()).collect::<Result<_>>()?;
        Ok(Linear { parts, quantized: None })
    }
}

/// Weights smaller than this many elements stay whole: waking a thread costs more than the
/// product (on `tiny`, blocks made the decode step 4× slower).
const SPLIT_FROM: usize = 1 << 20;

/// `parts` nearly equal `(start, len)` ranges covering `0..n`.
fn blocks(n: usize, parts: usize) -> impl Iterator<Item = (usize, usize)> {
    let parts = parts.clamp(1, n.max(1));
    (0..parts).map(move |i| (i * n / parts, (i + 1) * n / parts - i * n / parts))
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        use rayon::prelude::*;
        if let Some(q) = &self.quantized {
            return q.forward(x);
        }
        if let [w] = &self.parts[..] {
            return x.broadcast_matmul(w);
        }
        let outs = self.parts.par_iter().map(|w| x.broadcast_matmul(w)).collect::<Result<Vec<_>>>()?;
        Tensor::cat(&outs, D::Minus1)
    }
}

#[derive(Debug, Clone)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    pub fn new(w: &Weights, name: &str, dim: usize, eps: f64) -> Result<RmsNorm> {
        Ok(RmsNorm { weight: w.get(name, &[dim])?, eps })
    }
}

impl Module for RmsNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // The fused kernel for the backend's types; the f64 reference keeps its plain arithmetic.
        if x.dtype() != DType::F64 {
            return candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps as f32);
        }
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
    /// The first halves (each frequency once), for candle-nn's fused kernel.
    cos_half: Tensor,
    sin_half: Tensor,
}

impl Rotary {
    /// Tables computed in f64 and stored as `dtype`.
    pub fn new(theta: f64, head_dim: usize, max_positions: usize, dtype: DType) -> Result<Rotary> {
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
        let cos = Tensor::from_vec(cos, (max_positions, head_dim), &Device::Cpu)?.to_dtype(dtype)?;
        let sin = Tensor::from_vec(sin, (max_positions, head_dim), &Device::Cpu)?.to_dtype(dtype)?;
        Ok(Rotary {
            cos_half: cos.narrow(1, 0, half)?.contiguous()?,
            sin_half: sin.narrow(1, 0, half)?.contiguous()?,
            cos,
            sin,
        })
    }

    /// Rotates `x` `[B, heads, S, D]` whose first position is `offset`.
    pub fn apply(&self, x: &Tensor, offset: usize) -> Result<Tensor> {
        let (_, _, s, d) = x.dims4()?;
        if x.dtype() != DType::F64 {
            let (cos, sin) = (self.cos_half.narrow(0, offset, s)?, self.sin_half.narrow(0, offset, s)?);
            return candle_nn::rotary_emb::rope(&x.contiguous()?, &cos, &sin);
        }
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
    pub fn new(cfg: &Config, w: &Weights, gate: Option<&str>, up: &str, down: &str) -> Result<Mlp> {
        let (d, f) = (cfg.d_model, cfg.d_ff);
        Ok(Mlp {
            kind: cfg.ffn,
            gate: match gate {
                Some(g) => Some(Linear::new(w, g, f, d)?),
                None => None,
            },
            up: Linear::new(w, up, f, d)?,
            down: Linear::new(w, down, d, f)?,
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
    let probs = if scores.dtype() == DType::F64 {
        candle_nn::ops::softmax(&scores, D::Minus1)?
    } else {
        candle_nn::ops::softmax_last_dim(&scores.contiguous()?)?
    };
    probs.matmul(&v)?.transpose(1, 2)?.reshape((b, s, h * d))
}

/// `[B, S, heads × D]` → `[B, heads, S, D]`.
pub fn heads(x: &Tensor, n: usize, d: usize) -> Result<Tensor> {
    let (b, s, _) = x.dims3()?;
    x.reshape((b, s, n, d))?.transpose(1, 2)?.contiguous()
}

/// Additive causal mask `[S, offset + S]` as `dtype`; `None` for one new position, which may
/// see every position before it.
pub fn causal(s: usize, offset: usize, dtype: DType) -> Result<Option<Tensor>> {
    if s == 1 {
        return Ok(None);
    }
    let t = offset + s;
    let off = masked(dtype);
    let m: Vec<f64> = (0..s).flat_map(|i| (0..t).map(move |j| if j <= offset + i { 0.0 } else { off })).collect();
    Some(Tensor::from_vec(m, (s, t), &Device::Cpu)?.to_dtype(dtype)).transpose()
}

/// Additive padding mask `[B, 1, 1, T]` as `dtype` from a 0/1 mask `[B, T]`.
pub fn padding(mask: &Tensor, dtype: DType) -> Result<Tensor> {
    let (b, t) = mask.dims2()?;
    let m = mask.to_dtype(DType::F64)?;
    ((m - 1.0)? * -masked(dtype))?.reshape((b, 1, 1, t))?.to_dtype(dtype)
}
