//! A model's own memory in a cell, computed: the caches it holds at the cell's context, beside the
//! weights its files hold. What a process measures (peak RSS) covers everything loaded at once, so
//! an interleaved pair cannot tell one model's share; the caches' shapes can.

use serde::{Deserialize, Serialize};

/// The key/value caches of one cell at its full context (every row of the batch), computed from
/// the model's cache shapes: layers × KV heads × head size × element bytes, keys and values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheMemory {
    /// Self-attention cache bytes per position, one row (every decoder layer, keys and values).
    pub self_bytes_per_position: u64,
    /// Positions the self-attention cache holds at the end of the cell: the prompt and the output
    /// for a decoder-only model, the output only for an encoder-decoder (its decoder never sees
    /// the prompt as tokens), the fixed buffer of a static build.
    pub self_positions: u64,
    /// Cross-attention cache bytes per encoded position, one row (0: decoder-only).
    pub cross_bytes_per_position: u64,
    /// Encoded positions the cross-attention cache holds (the prompt, or a static build's buffer).
    pub cross_positions: u64,
    pub batch: u64,
}

impl CacheMemory {
    /// Caches of a model whose decoder has `layers` layers of `kv_heads × head_dim` keys and values
    /// (cross attention: `cross_kv_heads × cross_head_dim`, 0 for decoder-only) at `element_bytes`
    /// each, after `prompt` + `new` tokens for `batch` rows; `fixed` is a static build's buffer.
    #[allow(clippy::too_many_arguments)]
    pub fn of(
        layers: usize,
        kv_heads: usize,
        head_dim: usize,
        cross: (usize, usize),
        element_bytes: u64,
        encoder_decoder: bool,
        (batch, prompt, new): (usize, usize, usize),
        fixed: Option<usize>,
    ) -> CacheMemory {
        let per = |heads: usize, dim: usize| 2 * layers as u64 * heads as u64 * dim as u64 * element_bytes;
        let self_positions = fixed.unwrap_or(if encoder_decoder { new } else { prompt + new }) as u64;
        let (cross_bytes_per_position, cross_positions) = match encoder_decoder {
            true => (per(cross.0, cross.1), fixed.unwrap_or(prompt) as u64),
            false => (0, 0),
        };
        CacheMemory {
            self_bytes_per_position: per(kv_heads, head_dim),
            self_positions,
            cross_bytes_per_position,
            cross_positions,
            batch: batch as u64,
        }
    }

    pub fn self_bytes(&self) -> u64 {
        self.self_bytes_per_position * self.self_positions * self.batch
    }

    pub fn cross_bytes(&self) -> u64 {
        self.cross_bytes_per_position * self.cross_positions * self.batch
    }

    pub fn total_bytes(&self) -> u64 {
        self.self_bytes() + self.cross_bytes()
    }

    /// The caches one row holds after `prompt` + `new` tokens (how they grow with context): a
    /// static build's buffers do not grow, so this is only for dynamic ones.
    pub fn at(&self, encoder_decoder: bool, prompt: u64, new: u64) -> u64 {
        let self_positions = if encoder_decoder { new } else { prompt + new };
        self.self_bytes_per_position * self_positions + self.cross_bytes_per_position * prompt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paper_pair_at_known_shapes() {
        // Encoder-decoder: 10 decoder layers, 3 KV heads × 64, fp32, prompt 256, output 64, batch 1.
        let ed = CacheMemory::of(10, 3, 64, (3, 64), 4, true, (1, 256, 64), None);
        assert_eq!(ed.self_bytes_per_position, 2 * 10 * 3 * 64 * 4);
        assert_eq!((ed.self_positions, ed.cross_positions), (64, 256));
        assert_eq!(ed.total_bytes(), 15_360 * 64 + 15_360 * 256);
        // Decoder-only: the prompt is in the self cache, and there is no cross cache.
        let dec = CacheMemory::of(30, 3, 64, (0, 0), 4, false, (2, 256, 64), None);
        assert_eq!((dec.self_positions, dec.cross_bytes()), (320, 0));
        assert_eq!(dec.total_bytes(), 2 * 46_080 * 320);
        assert_eq!(dec.at(false, 256, 64) * 2, dec.total_bytes());
        assert_eq!(ed.at(true, 256, 64), ed.total_bytes());
        // A static build holds its whole buffer whatever the lengths.
        let fixed = CacheMemory::of(10, 3, 64, (3, 64), 2, true, (1, 16, 8), Some(512));
        assert_eq!((fixed.self_positions, fixed.cross_positions), (512, 512));
    }
}
