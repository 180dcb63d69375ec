//! The result schema: one record per sweep cell, versioned, units in field names, raw samples
//! kept, and the context that produced it.

use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::ep::{Ep, EpOption};
use crate::layout::Layout;
use crate::session::OptLevel;
use crate::stats::{StopReason, Summary};

/// Bumped on any incompatible change of [`CellResult`].
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Short name (the folder, or `pair/role`).
    pub name: String,
    pub dir: String,
    /// `encoder-decoder` or `decoder-only`.
    pub kind: String,
    pub layout: Layout,
    /// From `manifest.json` when slmbench built the model.
    pub params: Option<u64>,
    pub bytes_on_disk: u64,
    /// Pair tag shared by an encoder-decoder and its decoder-only partner.
    pub pair: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub ep_requested: Ep,
    /// The provider the sessions were created with (registration fails rather than fall back).
    pub ep_used: Ep,
    pub ep_options: Vec<EpOption>,
    pub threads: usize,
    pub graph_optimization: OptLevel,
    pub intra_op_spinning: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    pub batch: usize,
    pub input_tokens: usize,
    pub output_tokens: usize,
    pub stop_at_eos: bool,
    /// Seed of the synthetic prompt, or null when `--prompt-ids` gave it.
    pub prompt_seed: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repetitions {
    pub warmup: usize,
    pub measured: usize,
    pub stop_reason: StopReason,
    pub wall_ns: u64,
}

/// Medians over repetitions; `_batch` figures count every row of the batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub ttft_ns: Summary,
    pub encoder_ns: Option<Summary>,
    pub first_decoder_step_ns: Summary,
    /// Pooled over all later tokens of all repetitions.
    pub itl_ns: Option<Summary>,
    pub decode_tokens_per_s: Option<f64>,
    pub decode_tokens_per_s_batch: Option<f64>,
    pub e2e_tokens_per_s: f64,
    pub e2e_tokens_per_s_batch: f64,
    pub prefill_tokens_per_s: f64,
    pub prefill_tokens_per_s_batch: f64,
    pub session_load_ns: u64,
    pub peak_rss_bytes: Option<u64>,
    /// Per decode step, (time outside `Session::run`) / (time inside it), over all repetitions.
    pub harness_overhead_ratio: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Samples {
    pub ttft_ns: Vec<u64>,
    pub encoder_ns: Vec<u64>,
    pub first_decoder_step_ns: Vec<u64>,
    /// One list of inter-token latencies per repetition.
    pub itl_ns: Vec<Vec<u64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    pub schema_version: u32,
    /// Stable id of the cell: model, layout, runtime, provider, settings and sweep point.
    pub cell_id: String,
    pub model: ModelInfo,
    pub settings: Settings,
    pub sweep: SweepPoint,
    pub repetitions: Repetitions,
    pub metrics: Metrics,
    pub samples: Samples,
    /// Generated ids of the first measured repetition, per row.
    pub output_token_ids: Vec<Vec<i64>>,
    pub context: Context,
}

/// FNV-1a over the identifying fields, as 16 hex digits.
pub fn cell_id(model: &ModelInfo, ort_version: &str, settings: &Settings, sweep: &SweepPoint) -> String {
    let key = serde_json::json!([model.dir, model.layout, ort_version, settings, sweep]).to_string();
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3));
    format!("{h:016x}")
}
