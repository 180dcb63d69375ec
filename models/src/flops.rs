//! Forward FLOPs per token (a multiply-add counts 2), split into the part that is fixed per token
//! (weight matrices) and the part that grows with context (attention scores and weighted sums).
//!
//! Cost of `n` tokens attending over a context of `c` positions: `n × (matmul + attention × c)`.

use serde::Serialize;

use crate::config::{Config, Kind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StageFlops {
    /// Weight-matrix FLOPs per token, including the output projection where the stage has one.
    pub matmul_flops_per_token: u64,
    /// Attention FLOPs per token per context position (QKᵀ and the weighted sum of V).
    pub attention_flops_per_token_per_position: u64,
}

/// FLOPs of the stages that TTFT and throughput measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Flops {
    /// Encoder pass, per input token (encoder-decoder only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoder_pass: Option<StageFlops>,
    /// Cross-attention keys and values, computed once in the first decoder step, per input token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_kv_flops_per_input_token: Option<u64>,
    /// One decoder step (one new token). For an encoder-decoder the attention term counts the
    /// decoder's own positions; cross-attention adds `cross_attention_flops_per_input_token` per
    /// input token.
    pub decoder_step: StageFlops,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_attention_flops_per_input_token: Option<u64>,
    /// Prefill over the prompt (decoder-only): per prompt token; logits are computed for every
    /// position, as the exported graph does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefill: Option<StageFlops>,
}

pub fn flops(cfg: &Config) -> Flops {
    let d = cfg.d_model as u64;
    let q = cfg.q_dim() as u64;
    let kv = cfg.kv_dim() as u64;
    let ffn = cfg.ffn.matrices() as u64 * d * cfg.d_ff as u64;
    let lm_head = 2 * cfg.vocab_size as u64 * d;
    let self_attn_mm = 2 * (2 * d * q + 2 * d * kv);
    // Scores (q·k) and the weighted sum (p·v): 2 × 2 × heads × head_dim per position.
    let attn_per_pos = 4 * q;
    match cfg.kind {
        Kind::EncoderDecoder => {
            let le = cfg.encoder_layers as u64;
            let ld = cfg.decoder_layers as u64;
            Flops {
                encoder_pass: Some(StageFlops {
                    matmul_flops_per_token: le * (self_attn_mm + 2 * ffn),
                    attention_flops_per_token_per_position: le * attn_per_pos,
                }),
                cross_kv_flops_per_input_token: Some(ld * 2 * 2 * d * kv),
                decoder_step: StageFlops {
                    // Self-attention (all four), cross-attention q and o, FFN, output projection.
                    matmul_flops_per_token: ld * (self_attn_mm + 2 * 2 * d * q + 2 * ffn) + lm_head,
                    attention_flops_per_token_per_position: ld * attn_per_pos,
                },
                cross_attention_flops_per_input_token: Some(ld * attn_per_pos),
                prefill: None,
            }
        }
        Kind::DecoderOnly => {
            let l = cfg.decoder_layers as u64;
            let stage = StageFlops {
                matmul_flops_per_token: l * (self_attn_mm + 2 * ffn) + lm_head,
                attention_flops_per_token_per_position: l * attn_per_pos,
            };
            Flops {
                encoder_pass: None,
                cross_kv_flops_per_input_token: None,
                decoder_step: stage,
                cross_attention_flops_per_input_token: None,
                prefill: Some(stage),
            }
        }
    }
}

/// FLOPs of the time to first token for `batch` rows of `prompt` tokens: the encoder pass, the
/// cross-attention keys and values and the first decoder step (encoder-decoder), or the causal
/// prefill (decoder-only, position i attending over i + 1 positions).
pub fn ttft_flops(cfg: &Config, batch: usize, prompt: usize) -> u64 {
    let f = flops(cfg);
    let p = prompt as u64;
    let per_row = match (f.encoder_pass, f.prefill) {
        (Some(enc), _) => {
            p * (enc.matmul_flops_per_token + enc.attention_flops_per_token_per_position * p)
                + f.cross_kv_flops_per_input_token.unwrap_or(0) * p
                + f.decoder_step.matmul_flops_per_token
                + f.decoder_step.attention_flops_per_token_per_position
                + f.cross_attention_flops_per_input_token.unwrap_or(0) * p
        }
        (None, Some(pre)) => {
            p * pre.matmul_flops_per_token + pre.attention_flops_per_token_per_position * p * (p + 1) / 2
        }
        (None, None) => 0,
    };
    per_row * batch as u64
}

/// Weights one decode step multiplies with: every decoder layer's projections and FFN (not the
/// encoder, not the cross-attention keys and values, which the first step computes once) and the
/// output projection. The embedding lookup reads one row and is left out.
pub fn decode_step_weights(cfg: &Config) -> u64 {
    let d = cfg.d_model as u64;
    let (q, kv) = (cfg.q_dim() as u64, cfg.kv_dim() as u64);
    let self_attn = 2 * d * q + 2 * d * kv;
    let ffn = cfg.ffn.matrices() as u64 * d * cfg.d_ff as u64;
    let cross = match cfg.kind {
        Kind::EncoderDecoder => 2 * d * q,
        Kind::DecoderOnly => 0,
    };
    cfg.decoder_layers as u64 * (self_attn + cross + ffn) + cfg.vocab_size as u64 * d
}
