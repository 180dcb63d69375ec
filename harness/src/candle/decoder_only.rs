//! Reference decoder-only model (Llama layout: pre-RMSNorm, RoPE, GQA, no biases) with its own
//! KV cache.

use candle_core::{DType, Module, Result, Tensor};
use slmbench_models::{Config, FfnKind};

use super::{Linear, Mlp, RmsNorm, Rotary, Weights, attend, causal, heads, padding};

#[derive(Debug, Clone)]
struct Layer {
    input_norm: RmsNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    post_norm: RmsNorm,
    mlp: Mlp,
    cache: Option<(Tensor, Tensor)>,
}

#[derive(Debug, Clone)]
pub struct DecoderOnly {
    embed: Tensor,
    layers: Vec<Layer>,
    norm: RmsNorm,
    lm_head: Linear,
    rotary: Option<Rotary>,
    n_heads: usize,
    n_kv: usize,
    head_dim: usize,
    dtype: DType,
}

impl DecoderOnly {
    pub fn new(cfg: &Config, vb: impl Into<Weights>) -> Result<DecoderOnly> {
        let vb: Weights = vb.into();
        let (d, qd, kvd, eps) = (cfg.d_model, cfg.q_dim(), cfg.kv_dim(), cfg.norm_eps);
        let mut layers = Vec::new();
        for i in 0..cfg.decoder_layers {
            let p = format!("model.layers.{i}");
            let gate = format!("{p}.mlp.gate_proj.weight");
            layers.push(Layer {
                input_norm: RmsNorm::new(&vb, &format!("{p}.input_layernorm.weight"), d, eps)?,
                q: Linear::new(&vb, &format!("{p}.self_attn.q_proj.weight"), qd, d)?,
                k: Linear::new(&vb, &format!("{p}.self_attn.k_proj.weight"), kvd, d)?,
                v: Linear::new(&vb, &format!("{p}.self_attn.v_proj.weight"), kvd, d)?,
                o: Linear::new(&vb, &format!("{p}.self_attn.o_proj.weight"), d, qd)?,
                post_norm: RmsNorm::new(&vb, &format!("{p}.post_attention_layernorm.weight"), d, eps)?,
                mlp: Mlp::new(
                    cfg,
                    &vb,
                    (cfg.ffn != FfnKind::Gelu).then_some(gate.as_str()),
                    &format!("{p}.mlp.up_proj.weight"),
                    &format!("{p}.mlp.down_proj.weight"),
                )?,
                cache: None,
            });
        }
        let embed = vb.get("model.embed_tokens.weight", &[cfg.vocab_size, d])?;
        Ok(DecoderOnly {
            embed: embed.clone(),
            layers,
            norm: RmsNorm::new(&vb, "model.norm.weight", d, eps)?,
            lm_head: if cfg.tie_embeddings {
                Linear::tied(&vb, "model.embed_tokens.weight", &embed)?
            } else {
                Linear::new(&vb, "lm_head.weight", cfg.vocab_size, d)?
            },
            rotary: match cfg.rope_theta() {
                Some(theta) => Some(Rotary::new(theta, cfg.head_dim(), cfg.max_positions, vb.dtype())?),
                None => None,
            },
            n_heads: cfg.num_heads,
            n_kv: cfg.num_kv_heads,
            head_dim: cfg.head_dim(),
            dtype: vb.dtype(),
        })
    }

    /// Logits `[B, S, V]` for `ids` `[B, S]` at positions `offset..offset + S`.
    pub fn forward(&mut self, ids: &Tensor, offset: usize) -> Result<Tensor> {
        self.forward_masked(ids, offset, None)
    }

    /// As `forward`, with a 0/1 padding mask `[B, offset + S]` over all positions so far.
    pub fn forward_masked(&mut self, ids: &Tensor, offset: usize, mask: Option<&Tensor>) -> Result<Tensor> {
        let (b, s) = ids.dims2()?;
        let add_mask = match (causal(s, offset, self.dtype)?, mask) {
            (c, None) => c,
            (None, Some(m)) => Some(padding(m, self.dtype)?),
            (Some(c), Some(m)) => Some(c.broadcast_add(&padding(m, self.dtype)?)?),
        };
        let mut h = self.embed.index_select(&ids.flatten_all()?, 0)?.reshape((b, s, ()))?;
        for layer in &mut self.layers {
            let x = layer.input_norm.forward(&h)?;
            let mut q = heads(&layer.q.forward(&x)?, self.n_heads, self.head_dim)?;
            let mut k = heads(&layer.k.forward(&x)?, self.n_kv, self.head_dim)?;
            let mut v = heads(&layer.v.forward(&x)?, self.n_kv, self.head_dim)?;
            if let Some(r) = &self.rotary {
                q = r.apply(&q, offset)?;
                k = r.apply(&k, offset)?;
            }
            if let Some((pk, pv)) = &layer.cache {
                k = Tensor::cat(&[pk, &k], 2)?;
                v = Tensor::cat(&[pv, &v], 2)?;
            }
            layer.cache = Some((k.clone(), v.clone()));
            let a = layer.o.forward(&attend(&q, &k, &v, self.n_heads / self.n_kv, add_mask.as_ref())?)?;
            h = (h + a)?;
            h = (&h + layer.mlp.forward(&layer.post_norm.forward(&h)?)?)?;
        }
        let h = self.norm.forward(&h)?;
        self.lm_head.forward(&h)
    }

    pub fn clear_kv_cache(&mut self) {
        for layer in &mut self.layers {
            layer.cache = None;
        }
    }
}
