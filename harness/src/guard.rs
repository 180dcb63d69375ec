//! The memory guard: before a cell runs, estimate what it needs and compare with what the host
//! has available, so an out-of-memory-sized input fails as one cell instead of killing the sweep
//! (or the machine).
//!
//! Weights are estimated from the files on disk: ONNX Runtime's CPU provider held 1.45–1.52× the
//! files' size at peak on the `small` and `paper` pairs (prepacked MatMul weights), plus the
//! runtime itself. A cell adds its KV cache (past and present held at once), the prefill logits
//! and one layer's attention scores and FFN activations, doubled for the runtime's arena.

use std::fmt;

use crate::files::layout::Geometry;
use crate::files::layout::ModelConfig;

const F32: u64 = 4;
const MIB: u64 = 1 << 20;
/// Resident memory of the runtime with no model loaded (measured: 60–100 MiB).
const RUNTIME_BYTES: u64 = 128 * MIB;

/// Estimated bytes of one cell, by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Estimate {
    pub weights: u64,
    pub cache: u64,
    pub activations: u64,
}

impl Estimate {
    pub fn total(&self) -> u64 {
        self.weights.saturating_add(self.cache).saturating_add(self.activations)
    }
}

pub fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

impl fmt::Display for Estimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (weights {}, KV cache {}, activations {})",
            gib(self.total()),
            gib(self.weights),
            gib(self.cache),
            gib(self.activations)
        )
    }
}

/// Weights and runtime, from the model's bytes on disk.
pub fn weights(bytes_on_disk: u64) -> u64 {
    bytes_on_disk.saturating_mul(3) / 2 + RUNTIME_BYTES
}

fn product(xs: &[u64]) -> u64 {
    xs.iter().fold(1u64, |a, &x| a.saturating_mul(x))
}

/// Cache and activations of one cell (batch `b`, `p` prompt tokens, `n` new tokens).
pub fn cell(g: &Geometry, cfg: &ModelConfig, encoder_decoder: bool, b: usize, p: usize, n: usize) -> Estimate {
    let (b, p, n) = (b as u64, p as u64, n as u64);
    let (layers, kv, hd, vocab) = (g.layers as u64, g.kv_heads as u64, g.head_dim as u64, g.vocab_size as u64);
    let heads = cfg.num_heads.map(|h| h as u64).unwrap_or(kv);
    let d = cfg.d_model.map(|x| x as u64).unwrap_or(heads.saturating_mul(hd));
    let ff = cfg.d_ff.map(|x| x as u64).unwrap_or(d.saturating_mul(4));
    // Past and present of every layer's key and value are alive together during a step.
    let self_len = if encoder_decoder { n } else { p.saturating_add(n) };
    let mut cache = product(&[2, 2, layers, b, kv, hd, self_len, F32]);
    if encoder_decoder {
        cache =
            cache.saturating_add(product(&[2, 2, layers, b, g.cross_kv_heads as u64, g.cross_head_dim as u64, p, F32]));
    }
    // Decoder-only prefill returns logits for every prompt position; the encoder-decoder's first
    // decoder step for one.
    let logit_rows = if encoder_decoder { 1 } else { p };
    let activations = product(&[b, logit_rows, vocab, F32])
        .saturating_add(product(&[2, b, heads, p, p, F32]))
        .saturating_add(product(&[b, p, ff.saturating_add(d.saturating_mul(4)), F32]))
        // ONNX Runtime's CPU arena rounds large blocks up and keeps them: measured peaks on the
        // `small` pair at batch 8 × 512 tokens needed twice the tensors' own size.
        .saturating_mul(2);
    Estimate { weights: 0, cache, activations }
}

/// The refusal message, or `None` when the estimate fits.
pub fn check(what: &str, needed: &Estimate, available: u64) -> Option<String> {
    (needed.total() > available).then(|| {
        format!(
            "{what} needs an estimated {needed} but {} is available; lower -b, -p or -n, free memory, \
             or pass --force to run it anyway",
            gib(available)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry() -> Geometry {
        Geometry {
            layers: 10,
            kv_heads: 3,
            head_dim: 64,
            cross_kv_heads: 3,
            cross_head_dim: 64,
            vocab_size: 32128,
            half_cache: false,
        }
    }

    #[test]
    fn estimates_grow_with_batch_and_length() {
        let cfg = ModelConfig { num_heads: Some(6), d_model: Some(384), d_ff: Some(1536), ..Default::default() };
        let small = cell(&geometry(), &cfg, false, 1, 32, 32);
        // 2 × 2 × 10 layers × 3 heads × 64 × 64 positions × 4 bytes.
        assert_eq!(small.cache, 2 * 2 * 10 * 3 * 64 * 64 * 4);
        let big = cell(&geometry(), &cfg, false, 8, 512, 32);
        assert!(big.cache > 8 * small.cache && big.activations > 8 * small.activations);
        let ed = cell(&geometry(), &cfg, true, 1, 512, 32);
        assert!(ed.activations < big.activations, "one logits row, not 512");
        // Absurd sizes saturate instead of overflowing.
        let huge = cell(&geometry(), &cfg, false, usize::MAX, usize::MAX, usize::MAX);
        assert_eq!(huge.total(), u64::MAX);
    }

    #[test]
    fn refusal_names_the_fix() {
        let e = Estimate { weights: 3 << 30, cache: 2 << 30, activations: 1 << 30 };
        let msg = check("small/decoder-only b64 p2048 n32", &e, 4 << 30).unwrap();
        assert!(msg.contains("6.00 GiB") && msg.contains("4.00 GiB") && msg.contains("--force"), "{msg}");
        assert!(check("x", &e, 8 << 30).is_none());
    }
}
