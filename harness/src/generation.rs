//! What every backend's generation takes and gives: the prompt, and the token ids with the clock
//! readings that the metrics are computed from.

use serde::{Deserialize, Serialize};

/// Prompt token ids, `batch` rows of `len` each, row-major.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prompt {
    pub batch: usize,
    pub len: usize,
    pub ids: Vec<i64>,
}

impl Prompt {
    /// Seeded synthetic ids in `[4, vocab)` (clear of the usual special tokens).
    pub fn synthetic(seed: u64, batch: usize, len: usize, vocab: usize) -> Prompt {
        let mut s = seed ^ 0x9E37_79B9_7F4A_7C15;
        let span = (vocab.max(5) - 4) as u64;
        let ids = (0..batch * len)
            .map(|_| {
                s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = s;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                4 + ((z ^ (z >> 31)) % span) as i64
            })
            .collect();
        Prompt { batch, len, ids }
    }

    /// The same ids for every row.
    pub fn repeated(ids: &[i64], batch: usize) -> Prompt {
        Prompt { batch, len: ids.len(), ids: (0..batch).flat_map(|_| ids.iter().copied()).collect() }
    }
}

/// One generation: the token ids and the clock readings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Generation {
    /// `new_tokens` ids per row (fewer with `stop_at_eos`).
    pub tokens: Vec<Vec<i64>>,
    /// Start of inference to the first new token id in host memory.
    pub ttft_ns: u64,
    /// Encoder pass (encoder-decoder only; part of TTFT).
    pub encoder_ns: Option<u64>,
    /// First decoder step, or the prefill (the rest of TTFT).
    pub first_step_ns: u64,
    /// Time of each later token (2..N): from the previous token in host memory to this one.
    pub itl_ns: Vec<u64>,
    /// Σ time inside `Session::run` over the later tokens.
    pub decode_run_ns: u64,
}
