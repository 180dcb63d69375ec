//! Blocks shared by both families: RMSNorm, RoPE, grouped-query attention with a KV cache, FFN,
//! masks and the output projection.

use super::Fault;
use crate::config::{Config, FfnKind};
use crate::onnx::builder::{Attr, Graph};
use crate::onnx::proto::DataType;
use crate::weights::{AttnNames, FfnNames};

/// Additive mask value: large enough to zero a probability, finite so that a fully masked row
/// (a padding query) gives no NaN.
pub const MASK_VALUE: f32 = -1e9;

pub struct Ctx<'a> {
    pub cfg: &'a Config,
    pub fault: Option<Fault>,
    /// Fused kernels ([`super::GraphVariant::Fused`]) instead of one operator per step.
    pub fused: bool,
}

/// The residual stream. A plain graph adds each block's output at once; a fused graph carries
/// it to the next norm, where `SkipSimplifiedLayerNormalization` adds and normalises in one
/// kernel (and hands the sum on), as onnxruntime-genai's builder does.
pub struct Residual {
    h: String,
    pending: Option<String>,
}

impl Residual {
    pub fn new(h: String) -> Residual {
        Residual { h, pending: None }
    }

    /// Adds a block's output to the stream.
    pub fn add(&mut self, g: &mut Graph, ctx: &Ctx, x: String) {
        if !ctx.fused {
            self.h = g.op("Add", &[&self.h, &x]);
            return;
        }
        if let Some(p) = self.pending.take() {
            self.h = g.op("Add", &[&self.h, &p]);
        }
        self.pending = Some(x);
    }

    /// RMSNorm of the stream (with what was added since the last norm).
    pub fn norm(&mut self, g: &mut Graph, ctx: &Ctx, weight: &str) -> String {
        let eps = ctx.cfg.norm_eps as f32;
        if !ctx.fused {
            return rms_norm(g, &self.h, weight, ctx.cfg.norm_eps);
        }
        match self.pending.take() {
            None => g.op_attr(
                "SimplifiedLayerNormalization",
                &[&self.h, weight],
                vec![("axis", Attr::Int(-1)), ("epsilon", Attr::Float(eps)), ("stash_type", Attr::Int(1))],
            ),
            Some(p) => {
                let outs = g.contrib(
                    "SkipSimplifiedLayerNormalization",
                    &[&self.h, &p, weight],
                    vec![("epsilon", Attr::Float(eps))],
                    &[Some(""), None, None, Some("")],
                );
                self.h = outs[3].clone();
                outs[0].clone()
            }
        }
    }
}

pub fn rms_norm(g: &mut Graph, x: &str, weight: &str, eps: f64) -> String {
    let sq = g.op("Mul", &[x, x]);
    let axes = g.const_i64(&[-1]);
    let ms = g.op_attr("ReduceMean", &[&sq, &axes], vec![("keepdims", Attr::Int(1))]);
    let e = g.scalar_f32(eps as f32);
    let ms = g.op("Add", &[&ms, &e]);
    let rms = g.op("Sqrt", &[&ms]);
    let y = g.op("Div", &[x, &rms]);
    g.op("Mul", &[&y, weight])
}

/// `x @ w` with `w` stored `[in, out]`.
pub fn linear(g: &mut Graph, x: &str, w: &str) -> String {
    g.op("MatMul", &[x, w])
}

/// Exact GELU, `0.5 x (1 + erf(x / √2))` (the `Gelu` operator only exists from opset 20).
fn gelu(g: &mut Graph, x: &str) -> String {
    let r2 = g.scalar_f32(std::f32::consts::SQRT_2);
    let one = g.scalar_f32(1.0);
    let half = g.scalar_f32(0.5);
    let t = g.op("Div", &[x, &r2]);
    let t = g.op("Erf", &[&t]);
    let t = g.op("Add", &[&t, &one]);
    let t = g.op("Mul", &[x, &t]);
    g.op("Mul", &[&t, &half])
}

/// GELU: the `com.microsoft` kernel in a fused graph, the five-operator formula otherwise.
fn gelu_of(g: &mut Graph, ctx: &Ctx, x: &str) -> String {
    if ctx.fused { g.contrib("Gelu", &[x], vec![], &[Some("")]).remove(0) } else { gelu(g, x) }
}

pub fn ffn(g: &mut Graph, ctx: &Ctx, x: &str, w: &FfnNames) -> String {
    let cfg = ctx.cfg;
    let up = linear(g, x, &w.up);
    let hidden = match (cfg.ffn, &w.gate) {
        (FfnKind::Gelu, _) => gelu_of(g, ctx, &up),
        (FfnKind::GatedGelu, Some(gate)) => {
            let gt = linear(g, x, gate);
            let gt = gelu_of(g, ctx, &gt);
            g.op("Mul", &[&gt, &up])
        }
        (FfnKind::Swiglu, Some(gate)) => {
            let gt = linear(g, x, gate);
            let s = g.op("Sigmoid", &[&gt]);
            let gt = g.op("Mul", &[&gt, &s]);
            g.op("Mul", &[&gt, &up])
        }
        (_, None) => unreachable!("gated FFN without a gate weight: weights::stack_tensors always adds one"),
    };
    linear(g, &hidden, &w.down)
}

/// cos and sin tables for RoPE, shaped to broadcast against `[B, heads, S, head_dim]`.
pub struct Rope {
    pub cos: String,
    pub sin: String,
}

/// RoPE tables from integer positions: `[S]` gives `[S, D]`, `[B, S]` gives `[B, 1, S, D]`.
pub fn rope_tables(g: &mut Graph, cfg: &Config, positions: &str, batched: bool) -> Option<Rope> {
    let theta = cfg.rope_theta()?;
    let hd = cfg.head_dim();
    let inv_freq: Vec<f32> = (0..hd / 2).map(|j| (1.0 / theta.powf(2.0 * j as f64 / hd as f64)) as f32).collect();
    let inv = g.const_f32(&inv_freq, &[(hd / 2) as i64]);
    let p = g.cast(positions, DataType::Float);
    let p = g.unsqueeze(&p, &[-1]);
    let freqs = g.op("Mul", &[&p, &inv]);
    let emb = g.concat(&[&freqs, &freqs], -1);
    let (mut cos, mut sin) = (g.op("Cos", &[&emb]), g.op("Sin", &[&emb]));
    if batched {
        cos = g.unsqueeze(&cos, &[1]);
        sin = g.unsqueeze(&sin, &[1]);
    }
    Some(Rope { cos, sin })
}

/// `x cos + rotate_half(x) sin`, rotate_half(x) = concat(−x₂, x₁) over the two halves of head_dim.
fn apply_rope(g: &mut Graph, ctx: &Ctx, x: &str, rope: &Rope) -> String {
    let half = (ctx.cfg.head_dim() / 2) as i64;
    let split = g.const_i64(&[half, half]);
    let parts = g.node("Split", &[x, &split], vec![("axis", Attr::Int(-1))], 2);
    let neg = g.op("Neg", &[&parts[1]]);
    let rotated = if ctx.fault == Some(Fault::RopeSign) {
        let neg1 = g.op("Neg", &[&parts[0]]);
        g.concat(&[&parts[1], &neg1], -1)
    } else {
        g.concat(&[&neg, &parts[0]], -1)
    };
    let a = g.op("Mul", &[x, &rope.cos]);
    let b = g.op("Mul", &[&rotated, &rope.sin]);
    g.op("Add", &[&a, &b])
}

/// `[B, S, heads × D]` → `[B, heads, S, D]`.
fn split_heads(g: &mut Graph, x: &str, heads: usize, hd: usize) -> String {
    let r = g.reshape(x, &[0, 0, heads as i64, hd as i64]);
    g.transpose(&r, &[0, 2, 1, 3])
}

/// Where an attention block's keys and values come from.
pub enum KeyValues<'a> {
    /// Self-attention over the block's own input, appended to a cache when there is one.
    Own { past: Option<(&'a str, &'a str)> },
    /// Cross-attention keys/values computed from the encoder's output.
    FromEncoder(&'a str),
    /// Cross-attention keys/values from the cache.
    Cached(&'a str, &'a str),
    /// Self-attention over a fixed-size cache `past` (`[B, kv, M, D]`): the block's own keys and
    /// values are written into it at `at` (`[B, kv, S, D]` positions, `ScatterElements`), and
    /// attention reads all M positions (a static-shape graph; the mask hides the unwritten ones).
    Written { past: (&'a str, &'a str), at: &'a str },
}

/// The keys and values an attention block used, to hand out as `present.*`.
pub struct Present {
    pub key: String,
    pub value: String,
}

/// Grouped-query attention. `mask` is additive and broadcasts against `[B, kv, group, S, T]`.
/// `present_names` names the key/value outputs when they are graph outputs.
#[allow(clippy::too_many_arguments)] // the block's inputs, each distinct; a struct would only rename them
pub fn attention(
    g: &mut Graph,
    ctx: &Ctx,
    x: &str,
    w: &AttnNames,
    kv: KeyValues,
    rope: Option<&Rope>,
    mask: &str,
    present_names: Option<(&str, &str)>,
) -> (String, Present) {
    let cfg = ctx.cfg;
    let (h, kvh, hd, grp) = (cfg.num_heads, cfg.num_kv_heads, cfg.head_dim(), cfg.group_size());
    let name_or_fresh =
        |g: &mut Graph, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>, name: Option<&str>| match name {
            Some(n) => g.op_named(op, inputs, attrs, n),
            None => g.op_attr(op, inputs, attrs),
        };
    let q = linear(g, x, &w.q);
    let mut q = split_heads(g, &q, h, hd);
    if let Some(r) = rope {
        q = apply_rope(g, ctx, &q, r);
    }
    // The block's own keys and values, `[B, kv, S, D]`, RoPE applied to the keys.
    let own = |g: &mut Graph| {
        let k = linear(g, x, &w.k);
        let v = linear(g, x, &w.v);
        let mut k = split_heads(g, &k, kvh, hd);
        let v = split_heads(g, &v, kvh, hd);
        if let Some(r) = rope {
            k = apply_rope(g, ctx, &k, r);
        }
        (k, v)
    };
    let (k, v) = match kv {
        KeyValues::Written { past: (pk, pv), at } => {
            let (k, v) = own(g);
            let axis = || vec![("axis", Attr::Int(2))];
            let k = name_or_fresh(g, "ScatterElements", &[pk, at, &k], axis(), present_names.map(|p| p.0));
            let v = name_or_fresh(g, "ScatterElements", &[pv, at, &v], axis(), present_names.map(|p| p.1));
            (k, v)
        }
        KeyValues::Own { past } => {
            let (k, v) = own(g);
            match past {
                Some((pk, pv)) => {
                    let order = |a: &str, b: &str| -> Vec<String> {
                        if ctx.fault == Some(Fault::CacheOrder) {
                            vec![b.to_string(), a.to_string()]
                        } else {
                            vec![a.to_string(), b.to_string()]
                        }
                    };
                    let ko = order(pk, &k);
                    let vo = order(pv, &v);
                    let pn = present_names.map(|p| p.0);
                    let k = name_or_fresh(g, "Concat", &[&ko[0], &ko[1]], vec![("axis", Attr::Int(2))], pn);
                    let pn = present_names.map(|p| p.1);
                    let v = name_or_fresh(g, "Concat", &[&vo[0], &vo[1]], vec![("axis", Attr::Int(2))], pn);
                    (k, v)
                }
                None => match present_names {
                    Some((nk, nv)) => {
                        g.identity_to(&k, nk);
                        g.identity_to(&v, nv);
                        (nk.to_string(), nv.to_string())
                    }
                    None => (k, v),
                },
            }
        }
        KeyValues::FromEncoder(enc) => {
            let k = linear(g, enc, &w.k);
            let v = linear(g, enc, &w.v);
            let k = g.reshape(&k, &[0, 0, kvh as i64, hd as i64]);
            let v = g.reshape(&v, &[0, 0, kvh as i64, hd as i64]);
            let perm = vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))];
            let k = name_or_fresh(g, "Transpose", &[&k], perm, present_names.map(|p| p.0));
            let perm = vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))];
            let v = name_or_fresh(g, "Transpose", &[&v], perm, present_names.map(|p| p.1));
            (k, v)
        }
        KeyValues::Cached(k, v) => (k.to_string(), v.to_string()),
    };
    // Queries grouped under their KV head: [B, H, S, D] → [B, kv, group, S, D]; keys and values
    // get a broadcast group axis, so no repeated copy of the cache is made.
    let scale = g.scalar_f32((1.0 / (hd as f64).sqrt()) as f32);
    let q = g.op("Mul", &[&q, &scale]);
    let q5 = if ctx.fault == Some(Fault::GqaGrouping) {
        let r = g.reshape(&q, &[0, grp as i64, kvh as i64, -1, hd as i64]);
        g.transpose(&r, &[0, 2, 1, 3, 4])
    } else {
        g.reshape(&q, &[0, kvh as i64, grp as i64, -1, hd as i64])
    };
    let k5 = g.unsqueeze(&k, &[2]);
    let v5 = g.unsqueeze(&v, &[2]);
    let kt = g.transpose(&k5, &[0, 1, 2, 4, 3]);
    let scores = g.op("MatMul", &[&q5, &kt]);
    let scores = g.op("Add", &[&scores, mask]);
    let probs = g.op_attr("Softmax", &[&scores], vec![("axis", Attr::Int(-1))]);
    let ctx5 = g.op("MatMul", &[&probs, &v5]);
    let heads = if ctx.fault == Some(Fault::GqaGrouping) {
        let t = g.transpose(&ctx5, &[0, 2, 1, 3, 4]);
        g.reshape(&t, &[0, h as i64, -1, hd as i64])
    } else {
        g.reshape(&ctx5, &[0, h as i64, -1, hd as i64])
    };
    let t = g.transpose(&heads, &[0, 2, 1, 3]);
    let merged = g.reshape(&t, &[0, 0, (h * hd) as i64]);
    let out = linear(g, &merged, &w.o);
    (out, Present { key: k, value: v })
}

/// `[B, T]` int64 attention mask → boolean `[B, 1, 1, 1, T]` (true = attend).
pub fn padding_mask(g: &mut Graph, mask: &str) -> String {
    let b = g.cast(mask, DataType::Bool);
    g.unsqueeze(&b, &[1, 2, 3])
}

/// Boolean `[S, T]`: query i (absolute position T − S + i) sees keys 0..=T − S + i.
pub fn causal_mask(g: &mut Graph, s_len: &str, t_len: &str) -> String {
    let zero = g.scalar_i64(0);
    let one = g.scalar_i64(1);
    let start = g.op("Sub", &[t_len, s_len]);
    let q_pos = g.op("Range", &[&start, t_len, &one]);
    let q_pos = g.unsqueeze(&q_pos, &[1]);
    let k_pos = g.op("Range", &[&zero, t_len, &one]);
    g.op("LessOrEqual", &[&k_pos, &q_pos])
}

/// Boolean mask → additive float mask (0 where attending, [`MASK_VALUE`] elsewhere).
pub fn additive(g: &mut Graph, allowed: &str) -> String {
    let zero = g.scalar_f32(0.0);
    let neg = g.scalar_f32(MASK_VALUE);
    g.op("Where", &[allowed, &zero, &neg])
}

/// An all-attend additive mask (the causal-mask fault).
pub fn no_mask(g: &mut Graph) -> String {
    g.scalar_f32(0.0)
}

/// Final projection to the vocabulary, named `out`. Tied: `Gemm` against the `[V, d]` embedding
/// with `transB`, so the table is stored once.
pub fn lm_head(
    g: &mut Graph,
    cfg: &Config,
    x: &str,
    embedding: &str,
    lm_head: Option<&str>,
    input_ids: &str,
    out: &str,
) -> String {
    match lm_head {
        Some(w) => g.op_named("MatMul", &[x, w], vec![], out),
        None => {
            let flat = g.reshape(x, &[-1, cfg.d_model as i64]);
            let logits = g.op_attr("Gemm", &[&flat, embedding], vec![("transB", Attr::Int(1))]);
            let bs = g.op("Shape", &[input_ids]);
            let v = g.const_i64(&[cfg.vocab_size as i64]);
            let shape = g.concat(&[&bs, &v], 0);
            g.op_named("Reshape", &[&logits, &shape], vec![], out)
        }
    }
}
