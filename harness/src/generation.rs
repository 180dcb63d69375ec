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

/// The clock readings of one generation, kept the same way by every backend (the timing
/// definitions live here once): TTFT when the first token id is in host memory, each later
/// token timed from the previous one, the time inside the runtime summed over later tokens.
pub struct Steps {
    tokens: Vec<Vec<i64>>,
    encoder_ns: Option<u64>,
    ttft_ns: u64,
    first_step_ns: u64,
    itl_ns: Vec<u64>,
    decode_run_ns: u64,
    last: u64,
    eos: Option<i64>,
}

impl Steps {
    /// `batch` rows of up to `new_tokens`; `encoder_ns` and `start_ns` are clock readings (ns
    /// since the generation's clock started) at the end of the encoder pass, if any, and when
    /// the first decoder step begins; `eos` ends the generation once every row produced it.
    pub fn new(batch: usize, new_tokens: usize, encoder_ns: Option<u64>, start_ns: u64, eos: Option<i64>) -> Steps {
        Steps {
            tokens: vec![Vec::with_capacity(new_tokens); batch],
            encoder_ns,
            ttft_ns: 0,
            first_step_ns: 0,
            itl_ns: Vec::with_capacity(new_tokens.saturating_sub(1)),
            decode_run_ns: 0,
            last: start_ns,
            eos,
        }
    }

    /// Step `step`'s ids, read at `now_ns` after `run_ns` inside the runtime; `true` when every
    /// row has reached the end token.
    pub fn record(&mut self, step: usize, now_ns: u64, run_ns: u64, ids: &[i64]) -> bool {
        if step == 0 {
            self.ttft_ns = now_ns;
            self.first_step_ns = now_ns - self.encoder_ns.unwrap_or(0);
        } else {
            self.itl_ns.push(now_ns - self.last);
            self.decode_run_ns += run_ns;
        }
        self.last = now_ns;
        for (row, &t) in self.tokens.iter_mut().zip(ids) {
            row.push(t);
        }
        self.eos.is_some_and(|e| ids.iter().all(|&t| t == e))
    }

    pub fn finish(self) -> Generation {
        Generation {
            tokens: self.tokens,
            ttft_ns: self.ttft_ns,
            encoder_ns: self.encoder_ns,
            first_step_ns: self.first_step_ns,
            itl_ns: self.itl_ns,
            decode_run_ns: self.decode_run_ns,
        }
    }
}
