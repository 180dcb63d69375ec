//! The record of an interleaved pair cell: the encoder-decoder / decoder-only ratios measured side
//! by side, with paired intervals ([`crate::paired`]). Written after the two cells' own records,
//! which it names.

use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::paired::{RatioEstimate, Trend};
use crate::schema::{Settings, SweepPoint};
use crate::stats::StopReason;

/// What tells a ratio record from a cell in a results file (`"record": "pair-ratio"`).
pub const PAIR_RATIO: &str = "pair-ratio";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairRatio {
    pub schema_version: u32,
    /// Always [`PAIR_RATIO`].
    pub record: String,
    /// Stable id of the record (from the two cell ids): a resumed or merged file keeps one.
    pub ratio_id: String,
    /// The pair tag both models carry.
    pub pair: String,
    /// `cell_id` of the encoder-decoder's record (the numerator).
    pub encoder_decoder_cell: String,
    /// `cell_id` of the decoder-only's record (the denominator).
    pub decoder_only_cell: String,
    pub settings: Settings,
    pub sweep: SweepPoint,
    /// `abba` (blocks alternate AB, BA) or `random` (each block's order from the seed).
    pub order: String,
    pub seed: u64,
    /// Blocks measured: one repetition of each model, back to back.
    pub blocks: usize,
    /// How the intervals were computed: `block-bootstrap` (percentile, resampling whole blocks),
    /// or `load-block-bootstrap` (loads drawn first, then blocks within each; `--reloads`).
    pub method: String,
    /// Loads of the two models the blocks were spread over (1: one load, the default).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub loads: usize,
    pub resamples: usize,
    /// Time to first token, encoder-decoder / decoder-only (below 1: the encoder-decoder is sooner).
    pub ttft: RatioEstimate,
    /// Decode tokens/s per sequence, encoder-decoder / decoder-only (above 1: it is faster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_tokens_per_s: Option<RatioEstimate>,
    /// End-to-end tokens/s, encoder-decoder / decoder-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_tokens_per_s: Option<RatioEstimate>,
    /// The TTFT ratio's trend over the blocks (drift the interleaving did not cancel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ratio_trend: Option<Trend>,
    pub stop_reason: StopReason,
    pub wall_ns: u64,
    pub context: Context,
}

fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

/// The id of the ratio of two cells.
pub fn ratio_id(encoder_decoder_cell: &str, decoder_only_cell: &str) -> String {
    format!("{encoder_decoder_cell}/{decoder_only_cell}")
}

impl PairRatio {
    /// Checks what a record can be checked against on its own: every ratio and bound is a positive
    /// number and the bounds are in order. (A percentile bootstrap interval need not hold its
    /// point estimate, so that is not asked.) The error names the ratio.
    pub fn check(&self) -> Result<(), String> {
        let estimates = [
            ("ttft", Some(&self.ttft)),
            ("decode_tokens_per_s", self.decode_tokens_per_s.as_ref()),
            ("e2e_tokens_per_s", self.e2e_tokens_per_s.as_ref()),
        ];
        for (name, e) in estimates {
            let Some(e) = e else { continue };
            let positive = |x: f64| x.is_finite() && x > 0.0;
            let bounds = e.ci().is_none_or(|(lo, hi)| positive(lo) && positive(hi) && lo <= hi);
            if !(positive(e.value) && bounds) {
                return Err(format!(
                    "pair ratio {}: its {name} ratio {} with interval {:?}–{:?} is not a positive ratio with \
                     ordered bounds; the record was edited or corrupted: restore the file or measure the pair again",
                    self.ratio_id, e.value, e.low, e.high
                ));
            }
        }
        Ok(())
    }
}
