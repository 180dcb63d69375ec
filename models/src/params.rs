//! Exact parameter counts from a config, and the decoder-only layer count that matches an
//! encoder-decoder's total.

use serde::Serialize;

use crate::config::{Config, Kind};
use crate::error::ConfigError;

/// Parameter counts of one model. The embedding group includes an untied output projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ParamCounts {
    pub embedding: u64,
    pub encoder: u64,
    pub decoder: u64,
    pub total: u64,
}

fn attention(cfg: &Config) -> u64 {
    let d = cfg.d_model as u64;
    // q and o are d × q_dim, k and v are d × kv_dim; no biases.
    2 * d * cfg.q_dim() as u64 + 2 * d * cfg.kv_dim() as u64
}

fn ffn(cfg: &Config) -> u64 {
    cfg.ffn.matrices() as u64 * cfg.d_model as u64 * cfg.d_ff as u64
}

/// One encoder (or decoder-only) layer: attention, FFN and two RMSNorm scales.
pub fn self_layer(cfg: &Config) -> u64 {
    attention(cfg) + ffn(cfg) + 2 * cfg.d_model as u64
}

/// One encoder-decoder decoder layer: self- and cross-attention, FFN, three RMSNorm scales.
pub fn cross_layer(cfg: &Config) -> u64 {
    2 * attention(cfg) + ffn(cfg) + 3 * cfg.d_model as u64
}

pub fn count(cfg: &Config) -> ParamCounts {
    let d = cfg.d_model as u64;
    let table = cfg.vocab_size as u64 * d;
    let embedding = if cfg.tie_embeddings { table } else { 2 * table };
    let (encoder, decoder) = match cfg.kind {
        Kind::EncoderDecoder => {
            (cfg.encoder_layers as u64 * self_layer(cfg) + d, cfg.decoder_layers as u64 * cross_layer(cfg) + d)
        }
        Kind::DecoderOnly => (0, cfg.decoder_layers as u64 * self_layer(cfg) + d),
    };
    ParamCounts { embedding, encoder, decoder, total: embedding + encoder + decoder }
}

/// Largest allowed relative difference between the two totals of a matched pair.
pub const MATCH_TOLERANCE: f64 = 0.02;

/// The decoder-only model with the encoder-decoder's width, heads, FFN and vocabulary whose layer
/// count brings its total closest to the encoder-decoder's.
pub fn match_decoder_only(encdec: &Config) -> Result<Config, ConfigError> {
    let target = count(encdec).total;
    let mut best = encdec.clone();
    best.kind = Kind::DecoderOnly;
    best.encoder_layers = 0;
    best.decoder_layers = 1;
    let fixed = count(&best).total - self_layer(&best);
    let per_layer = self_layer(&best);
    // Total is linear in layers: try the two integers around the real solution.
    let ideal = (target.saturating_sub(fixed)) as f64 / per_layer as f64;
    let mut candidates = vec![ideal.floor().max(1.0) as usize, ideal.ceil().max(1.0) as usize];
    candidates.dedup();
    let layers = candidates.into_iter().min_by_key(|&l| (fixed + l as u64 * per_layer).abs_diff(target)).unwrap_or(1);
    best.decoder_layers = layers;
    let params = count(&best).total;
    let off = params.abs_diff(target) as f64 / target as f64;
    if off > MATCH_TOLERANCE {
        return Err(ConfigError::NoMatch { layers, params, target, off_pct: off * 100.0 });
    }
    Ok(best)
}

/// Relative difference of the pair's totals (decoder-only − encoder-decoder) / encoder-decoder.
pub fn relative_difference(encdec: &Config, decoder_only: &Config) -> f64 {
    let a = count(encdec).total as f64;
    let b = count(decoder_only).total as f64;
    (b - a) / a
}
