//! Reference encoder-decoder (T5 layout, pre-RMSNorm, RoPE in self-attention only, GQA, no
//! biases), with its own self-attention cache and cross-attention keys/values.

use candle_core::{DType, Module, Result, Tensor};
use slmbench_models::{Config, FfnKind};

use super::{Linear, Mlp, RmsNorm, Rotary, Weights, attend, causal, heads, padding};

#[derive(Debug, Clone)]
struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    n_heads: usize,
    n_kv: usize,
    head_dim: usize,
}

impl Attention {
    fn new(cfg: &Config, vb: &Weights, prefix: &str) -> Result<Attention> {
        let (d, qd, kvd) = (cfg.d_model, cfg.q_dim(), cfg.kv_dim());
        Ok(Attention {
            q: Linear::new(vb, &format!("{prefix}.q.weight"), qd, d)?,
            k: Linear::new(vb, &format!("{prefix}.k.weight"), kvd, d)?,
            v: Linear::new(vb, &format!("{prefix}.v.weight"), kvd, d)?,
            o: Linear::new(vb, &format!("{prefix}.o.weight"), d, qd)?,
            n_heads: cfg.num_heads,
            n_kv: cfg.num_kv_heads,
            head_dim: cfg.head_dim(),
        })
    }

    /// Self-attention; `cache` holds this layer's keys/values of earlier positions.
    fn self_attn(
        &self,
        x: &Tensor,
        rotary: Option<&Rotary>,
        offset: usize,
        mask: Option<&Tensor>,
        cache: &mut Option<(Tensor, Tensor)>,
    ) -> Result<Tensor> {
        let mut q = heads(&self.q.forward(x)?, self.n_heads, self.head_dim)?;
        let mut k = heads(&self.k.forward(x)?, self.n_kv, self.head_dim)?;
        let mut v = heads(&self.v.forward(x)?, self.n_kv, self.head_dim)?;
        if let Some(r) = rotary {
            q = r.apply(&q, offset)?;
            k = r.apply(&k, offset)?;
        }
        if let Some((pk, pv)) = cache.as_ref() {
            k = Tensor::cat(&[pk, &k], 2)?;
            v = Tensor::cat(&[pv, &v], 2)?;
        }
        *cache = Some((k.clone(), v.clone()));
        let out = attend(&q, &k, &v, self.n_heads / self.n_kv, mask)?;
        self.o.forward(&out)
    }

    /// Cross-attention; keys/values of the encoder output are computed once and kept.
    fn cross_attn(
        &self,
        x: &Tensor,
        enc: &Tensor,
        mask: Option<&Tensor>,
        cache: &mut Option<(Tensor, Tensor)>,
    ) -> Result<Tensor> {
        if cache.is_none() {
            let k = heads(&self.k.forward(enc)?, self.n_kv, self.head_dim)?;
            let v = heads(&self.v.forward(enc)?, self.n_kv, self.head_dim)?;
            *cache = Some((k, v));
        }
        let (k, v) = cache.as_ref().expect("set above");
        let q = heads(&self.q.forward(x)?, self.n_heads, self.head_dim)?;
        let out = attend(&q, k, v, self.n_heads / self.n_kv, mask)?;
        self.o.forward(&out)
    }
}

fn mlp(cfg: &Config, vb: &Weights, prefix: &str) -> Result<Mlp> {
    let p = format!("{prefix}.DenseReluDense");
    match cfg.ffn {
        FfnKind::Gelu => Mlp::new(cfg, vb, None, &format!("{p}.wi.weight"), &format!("{p}.wo.weight")),
        _ => {
            Mlp::new(cfg, vb, Some(&format!("{p}.wi_0.weight")), &format!("{p}.wi_1.weight"), &format!("{p}.wo.weight"))
        }
    }
}

#[derive(Debug, Clone)]
struct EncoderLayer {
    attn_norm: RmsNorm,
    attn: Attention,
    ffn_norm: RmsNorm,
    ffn: Mlp,
}

#[derive(Debug, Clone)]
struct DecoderLayer {
    self_norm: RmsNorm,
    self_attn: Attention,
    cross_norm: RmsNorm,
    cross_attn: Attention,
    ffn_norm: RmsNorm,
    ffn: Mlp,
    self_cache: Option<(Tensor, Tensor)>,
    cross_cache: Option<(Tensor, Tensor)>,
}

#[derive(Debug, Clone)]
pub struct EncoderDecoder {
    shared: Tensor,
    encoder: Vec<EncoderLayer>,
    encoder_norm: RmsNorm,
    decoder: Vec<DecoderLayer>,
    decoder_norm: RmsNorm,
    lm_head: Linear,
    rotary: Option<Rotary>,
    encoder_output: Option<Tensor>,
    encoder_mask: Option<Tensor>,
    dtype: DType,
}

impl EncoderDecoder {
    pub fn new(cfg: &Config, vb: impl Into<Weights>) -> Result<EncoderDecoder> {
        let vb: Weights = vb.into();
        let (d, eps) = (cfg.d_model, cfg.norm_eps);
        let norm = |name: String| RmsNorm::new(&vb, &name, d, eps);
        let mut encoder = Vec::new();
        for i in 0..cfg.encoder_layers {
            let p = format!("encoder.block.{i}");
            encoder.push(EncoderLayer {
                attn_norm: norm(format!("{p}.layer.0.layer_norm.weight"))?,
                attn: Attention::new(cfg, &vb, &format!("{p}.layer.0.SelfAttention"))?,
                ffn_norm: norm(format!("{p}.layer.1.layer_norm.weight"))?,
                ffn: mlp(cfg, &vb, &format!("{p}.layer.1"))?,
            });
        }
        let mut decoder = Vec::new();
        for i in 0..cfg.decoder_layers {
            let p = format!("decoder.block.{i}");
            decoder.push(DecoderLayer {
                self_norm: norm(format!("{p}.layer.0.layer_norm.weight"))?,
                self_attn: Attention::new(cfg, &vb, &format!("{p}.layer.0.SelfAttention"))?,
                cross_norm: norm(format!("{p}.layer.1.layer_norm.weight"))?,
                cross_attn: Attention::new(cfg, &vb, &format!("{p}.layer.1.EncDecAttention"))?,
                ffn_norm: norm(format!("{p}.layer.2.layer_norm.weight"))?,
                ffn: mlp(cfg, &vb, &format!("{p}.layer.2"))?,
                self_cache: None,
                cross_cache: None,
            });
        }
        let shared = vb.get("shared.weight", &[cfg.vocab_size, d])?;
        Ok(EncoderDecoder {
            shared: shared.clone(),
            encoder,
            encoder_norm: norm("encoder.final_layer_norm.weight".into())?,
            decoder,
            decoder_norm: norm("decoder.final_layer_norm.weight".into())?,
            lm_head: if cfg.tie_embeddings {
                Linear::tied(&vb, "shared.weight", &shared)?
            } else {
                Linear::new(&vb, "lm_head.weight", cfg.vocab_size, d)?
            },
            rotary: match cfg.rope_theta() {
                Some(theta) => Some(Rotary::new(theta, cfg.head_dim(), cfg.max_positions, vb.dtype())?),
                None => None,
            },
            encoder_output: None,
            encoder_mask: None,
            dtype: vb.dtype(),
        })
    }

    fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, s) = ids.dims2()?;
        self.shared.index_select(&ids.flatten_all()?, 0)?.reshape((b, s, ()))
    }

    /// Runs the encoder over `ids` `[B, S]` with a 0/1 `mask` `[B, S]`; resets the decoder caches.
    pub fn encode(&mut self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let add_mask = padding(mask, self.dtype)?;
        let mut h = self.embed(ids)?;
        for layer in &self.encoder {
            let mut no_cache = None;
            let a = layer.attn.self_attn(
                &layer.attn_norm.forward(&h)?,
                self.rotary.as_ref(),
                0,
                Some(&add_mask),
                &mut no_cache,
            )?;
            h = (h + a)?;
            h = (&h + layer.ffn.forward(&layer.ffn_norm.forward(&h)?)?)?;
        }
        let out = self.encoder_norm.forward(&h)?;
        self.encoder_output = Some(out.clone());
        self.encoder_mask = Some(add_mask);
        self.clear_kv_cache();
        Ok(out)
    }

    /// Decoder over `ids` `[B, S]` whose first position is `offset`; returns logits `[B, S, V]`.
    pub fn forward(&mut self, ids: &Tensor, offset: usize) -> Result<Tensor> {
        let enc =
            self.encoder_output.clone().ok_or_else(|| candle_core::Error::Msg("call encode before forward".into()))?;
        let enc_mask = self.encoder_mask.clone();
        let (_, s) = ids.dims2()?;
        let self_mask = causal(s, offset, self.dtype)?;
        let mut h = self.embed(ids)?;
        for layer in &mut self.decoder {
            let a = layer.self_attn.self_attn(
                &layer.self_norm.forward(&h)?,
                self.rotary.as_ref(),
                offset,
                self_mask.as_ref(),
                &mut layer.self_cache,
            )?;
            h = (h + a)?;
            let a = layer.cross_attn.cross_attn(
                &layer.cross_norm.forward(&h)?,
                &enc,
                enc_mask.as_ref(),
                &mut layer.cross_cache,
            )?;
            h = (h + a)?;
            h = (&h + layer.ffn.forward(&layer.ffn_norm.forward(&h)?)?)?;
        }
        let h = self.decoder_norm.forward(&h)?;
        self.lm_head.forward(&h)
    }

    pub fn clear_kv_cache(&mut self) {
        for layer in &mut self.decoder {
            layer.self_cache = None;
            layer.cross_cache = None;
        }
    }
}
