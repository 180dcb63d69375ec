//! The fused blocks of [`super::GraphVariant::Fused`] graphs: ONNX Runtime's contrib kernels for
//! attention and RoPE, as onnxruntime-genai's builder emits them for the CPU provider. The
//! residual stream and norms they share with plain graphs are in `layers` ([`Residual`]).
//!
//! [`Residual`]: super::layers::Residual

use super::Fault;
use super::layers::{Ctx, KeyValues, linear};
use crate::config::Config;
use crate::onnx::builder::{Attr, Graph};
use crate::onnx::proto::DataType;
use crate::weights::AttnNames;

/// The fused kernels' RoPE tables: `cos(p θ_j)` and `sin(p θ_j)`, `[max_positions, head_dim / 2]`.
pub struct RopeCache {
    pub cos: String,
    pub sin: String,
}

pub fn rope_cache(g: &mut Graph, cfg: &Config) -> Option<RopeCache> {
    let theta = cfg.rope_theta()?;
    let (hd, n) = (cfg.head_dim(), cfg.max_positions);
    let angle = |p: usize, j: usize| p as f64 / theta.powf(2.0 * j as f64 / hd as f64);
    let table = |f: fn(f64) -> f64| -> Vec<f32> {
        (0..n).flat_map(|p| (0..hd / 2).map(move |j| f(angle(p, j)) as f32)).collect()
    };
    let dims = [n as i64, (hd / 2) as i64];
    let cos = g.const_f32(&table(f64::cos), &dims);
    let sin = g.const_f32(&table(f64::sin), &dims);
    Some(RopeCache { cos, sin })
}

/// What `GroupQueryAttention` takes instead of a mask: `seqlens_k` `[B]` (each row's total
/// length − 1) and `total_sequence_length` (a scalar), both int32.
pub struct SeqLens {
    pub seqlens_k: String,
    pub total: String,
}

impl SeqLens {
    /// `seqlens_k` = Σ mask − 1 per row and `total_sequence_length` = the mask's width, as
    /// onnxruntime-genai's builder computes them. Taken from a mask, never from the cache's
    /// shape, so the cache may be one fixed-size buffer shared by `past` and `present`
    /// (`past_present_share_buffer`): the kernel then writes the new keys in place.
    pub fn from_mask(g: &mut Graph, mask: &str) -> SeqLens {
        let axes = g.const_i64(&[1]);
        let sum = g.op_attr("ReduceSum", &[mask, &axes], vec![("keepdims", Attr::Int(0))]);
        let one = g.const_i64(&[1]);
        let last = g.op("Sub", &[&sum, &one]);
        let seqlens_k = g.cast(&last, DataType::Int32);
        let t_len = g.dim(mask, 1);
        let total = g.cast(&t_len, DataType::Int32);
        SeqLens { seqlens_k, total }
    }
}

/// Causal self-attention and its cache in one `GroupQueryAttention` (RoPE inside when the model
/// has it); the kernel appends the new keys/values to `past` and hands the whole cache out as
/// `present`. Without `past` (a first step with no cache input) `present` is the step's own.
/// Queries, keys and values come from one packed projection (`[q; k; v]`, see
/// [`crate::weights::packed_qkv`]), as onnxruntime-genai's builder writes it: one MatMul, and one
/// wake of the thread pool, instead of three.
#[allow(clippy::too_many_arguments)] // the block's inputs, each distinct, as for `attention`
pub fn gqa_attention(
    g: &mut Graph,
    ctx: &Ctx,
    x: &str,
    w: &AttnNames,
    past: Option<(&str, &str)>,
    lens: &SeqLens,
    rope: Option<&RopeCache>,
    present: (&str, &str),
) -> String {
    let cfg = ctx.cfg;
    let qkv = linear(g, x, &w.qkv());
    let (pk, pv) = past.unwrap_or(("", ""));
    let mut inputs = vec![qkv.as_str(), "", "", pk, pv, &lens.seqlens_k, &lens.total];
    if let Some(r) = rope {
        inputs.extend([r.cos.as_str(), &r.sin]);
    }
    let out = g.contrib(
        "GroupQueryAttention",
        &inputs,
        vec![
            ("num_heads", Attr::Int(cfg.num_heads as i64)),
            ("kv_num_heads", Attr::Int(cfg.num_kv_heads as i64)),
            ("scale", Attr::Float((1.0 / (cfg.head_dim() as f64).sqrt()) as f32)),
            ("do_rotary", Attr::Int(rope.is_some() as i64)),
            ("rotary_interleaved", Attr::Int(interleaved(ctx))),
        ],
        &[Some(""), Some(present.0), Some(present.1)],
    );
    linear(g, &out[0], &w.o)
}

/// The fused kernels' RoPE layout: 0 rotates the two halves of a head (as [`apply_rope`]);
/// the RoPE fault pairs neighbouring elements instead (the other common layout, wrong here).
fn interleaved(ctx: &Ctx) -> i64 {
    (ctx.fault == Some(Fault::RopeSign)) as i64
}

/// `[B, L, kv × D]` → `[B, L, heads × D]`, each KV head repeated for its query group:
/// `MultiHeadAttention` takes as many key heads as query heads.
fn repeat_kv(g: &mut Graph, ctx: &Ctx, x: &str) -> String {
    let cfg = ctx.cfg;
    let (kvh, hd, grp) = (cfg.num_kv_heads as i64, cfg.head_dim() as i64, cfg.group_size() as i64);
    if grp == 1 {
        return x.to_string();
    }
    let (r, shape) = if ctx.fault == Some(Fault::GqaGrouping) {
        // Query head h would read KV head h mod kv_heads.
        (g.reshape(x, &[0, 0, 1, kvh, hd]), g.const_i64(&[1, 1, grp, 1, 1]))
    } else {
        (g.reshape(x, &[0, 0, kvh, 1, hd]), g.const_i64(&[1, 1, 1, grp, 1]))
    };
    let e = g.op("Expand", &[&r, &shape]);
    g.reshape(&e, &[0, 0, kvh * grp * hd])
}

/// RoPE on `[B, S, heads × D]` through the `RotaryEmbedding` kernel; `positions` is `[B, S]`.
fn rotary(g: &mut Graph, ctx: &Ctx, x: &str, heads: usize, positions: &str, rope: &RopeCache) -> String {
    g.contrib(
        "RotaryEmbedding",
        &[x, positions, &rope.cos, &rope.sin],
        vec![("num_heads", Attr::Int(heads as i64)), ("interleaved", Attr::Int(interleaved(ctx)))],
        &[Some("")],
    )
    .remove(0)
}

fn mha(g: &mut Graph, cfg: &Config, q: &str, k: &str, v: &str, key_mask: &str) -> String {
    g.contrib(
        "MultiHeadAttention",
        &[q, k, v, "", key_mask],
        vec![
            ("num_heads", Attr::Int(cfg.num_heads as i64)),
            ("scale", Attr::Float((1.0 / (cfg.head_dim() as f64).sqrt()) as f32)),
        ],
        &[Some("")],
    )
    .remove(0)
}

/// The encoder's bidirectional self-attention, fused: `RotaryEmbedding` on queries and keys,
/// then `MultiHeadAttention` with the padding mask (`[B, S]` int32).
pub fn mha_self_attention(
    g: &mut Graph,
    ctx: &Ctx,
    x: &str,
    w: &AttnNames,
    rope: Option<(&RopeCache, &str)>,
    key_mask: &str,
) -> String {
    let cfg = ctx.cfg;
    let mut q = linear(g, x, &w.q);
    let mut k = linear(g, x, &w.k);
    let v = linear(g, x, &w.v);
    if let Some((r, positions)) = rope {
        q = rotary(g, ctx, &q, cfg.num_heads, positions, r);
        k = rotary(g, ctx, &k, cfg.num_kv_heads, positions, r);
    }
    let k = repeat_kv(g, ctx, &k);
    let v = repeat_kv(g, ctx, &v);
    let out = mha(g, cfg, &q, &k, &v, key_mask);
    linear(g, &out, &w.o)
}

/// Cross-attention, fused: `MultiHeadAttention` over the encoder's keys and values, kept
/// `[B, heads, L, D]` (repeated to every query head once, when they are computed) so that later
/// steps read them as they are. `FromEncoder` computes them (named `present` when given);
/// `Cached` reads them.
pub fn mha_cross_attention(
    g: &mut Graph,
    ctx: &Ctx,
    x: &str,
    w: &AttnNames,
    kv: KeyValues,
    key_mask: &str,
    present: Option<(&str, &str)>,
) -> String {
    let cfg = ctx.cfg;
    let q = linear(g, x, &w.q);
    let (k, v) = match kv {
        KeyValues::FromEncoder(enc) => {
            let bnsh = |g: &mut Graph, weight: &str, name: Option<&str>| {
                let p = linear(g, enc, weight);
                let p = repeat_kv(g, ctx, &p);
                let p = g.reshape(&p, &[0, 0, cfg.num_heads as i64, cfg.head_dim() as i64]);
                let perm = vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))];
                match name {
                    Some(n) => g.op_named("Transpose", &[&p], perm, n),
                    None => g.op_attr("Transpose", &[&p], perm),
                }
            };
            (bnsh(g, &w.k, present.map(|p| p.0)), bnsh(g, &w.v, present.map(|p| p.1)))
        }
        KeyValues::Cached(k, v) => (k.to_string(), v.to_string()),
        KeyValues::Own { .. } | KeyValues::Written { .. } => {
            unreachable!("cross-attention reads the encoder's keys and values")
        }
    };
    let out = mha(g, cfg, &q, &k, &v, key_mask);
    linear(g, &out, &w.o)
}
