//! The result schema: one record per sweep cell, versioned, units in field names, raw samples
//! kept, and the context that produced it.

use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::ep::{Ep, EpOption, SessionOption};
use crate::model::{Layout, ModelKind, OptLevel};
use crate::pair_ratio::PairRatio;
use crate::paired::Trend;
use crate::stats::{StopReason, Summary};

mod record;
pub use record::{FAILED, Kept, Lines, Record, Torn, latest_per_cell, parse_jsonl};

/// Bumped on any incompatible change of the records. 2 added failed-cell records and the model's
/// content hash. 3: a median's `ci95_low`/`ci95_high` are `null` when there are too few samples
/// for a distribution-free 95% interval (n < 6), and intervals are exact binomial ones; records of
/// versions 1 and 2 get their intervals recomputed from their raw samples when read. 4 added the
/// pair-ratio record of interleaved pairs ([`PairRatio`]); cells gained `drift` and
/// `repetitions.order`/`interleaved_with`.
pub const SCHEMA_VERSION: u32 = 4;

/// Oldest schema version the readers accept.
pub const OLDEST_READABLE: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Short name (the folder, or `pair/role`).
    pub name: String,
    pub dir: String,
    /// `encoder-decoder` or `decoder-only`.
    pub kind: ModelKind,
    pub layout: Layout,
    /// From `manifest.json` when slmbench built the model.
    pub params: Option<u64>,
    pub bytes_on_disk: u64,
    /// Pair tag shared by an encoder-decoder and its decoder-only partner.
    pub pair: Option<String>,
    /// SHA-256 over the model directory's files (names, sizes, bytes): what the cell id keys on.
    #[serde(default)]
    pub content_sha256: Option<String>,
    /// Weights' precision (`fp32`, `fp16`, `int4`, `int8`), read from the graphs (`MatMulNBits`,
    /// initializer types) or slmbench's own build manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    /// How the weights are quantized, e.g. `MatMulNBits bits=4 block_size=32 (14 nodes)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<String>,
    /// Fused `com.microsoft` operators in the graphs (empty: standard ONNX operators only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fused_operators: Vec<String>,
    /// `plain` (standard ONNX operators only) or `fused` (fused runtime operators present), read
    /// from the graphs; reports pair models of the same variant only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_variant: Option<String>,
    /// How far this variant's logits drift from its fp32 plain build's (measured when both are in
    /// the run): the accuracy side of a precision or graph comparison.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<Accuracy>,
    /// The graph lets one fixed-size cache buffer be both `past` and `present`
    /// (`past_present_share_buffer`); generation on the CPU provider then keeps the cache that
    /// way, as onnxruntime-genai does, instead of handing each step's grown copy to the next.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub past_present_share_buffer: bool,
    /// Positions the model takes (prompt + output), from its config; absent in old files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_positions: Option<u64>,
}

/// The models of `cells` that carry an accuracy figure, each once, in order of first appearance.
pub fn measured_accuracy(cells: &[CellResult]) -> Vec<(&ModelInfo, &Accuracy)> {
    let mut seen = std::collections::HashSet::new();
    cells
        .iter()
        .filter_map(|c| c.model.accuracy.as_ref().map(|a| (&c.model, a)))
        .filter(|(m, _)| seen.insert(m.name.as_str()))
        .collect()
}

/// A model's logits against a reference model's over the same teacher-forced tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    /// The reference model's name (its fp32 plain build).
    pub reference: String,
    /// Positions compared (each predicts the next token).
    pub positions: usize,
    /// Share of positions whose greedy (top-1) token is the same in both.
    pub top1_agreement: f64,
    /// Largest |model − reference| over every logit.
    pub max_abs_logit_diff: f64,
    /// The same, over the largest |reference| logit.
    pub max_rel_logit_diff: f64,
}

/// Operators that quantize weights (and, in QDQ form, activations: `com.microsoft`'s 16-bit
/// `QuantizeLinear`/`DequantizeLinear`): they set the precision, not the graph variant.
pub const QUANTIZATION_OPERATORS: [&str; 4] =
    ["MatMulNBits", "GatherBlockQuantized", "QuantizeLinear", "DequantizeLinear"];

/// The graph variant of a model with these fused operators: `plain`, or `fused` when any operator
/// besides the quantized matrix multiply is a fused kernel.
pub fn graph_variant(fused_operators: &[String]) -> &'static str {
    if fused_operators.iter().all(|o| QUANTIZATION_OPERATORS.contains(&o.as_str())) { "plain" } else { "fused" }
}

/// The backend a record means when it names none: every record written before the field existed
/// was ONNX Runtime's, and it is `--backend`'s default. Keys and labels leave it out, so cell ids
/// made before the field stay as they were, and comparisons across backends take it as reference.
pub const DEFAULT_BACKEND: &str = "onnxruntime";

/// The backend of records written before the field existed.
fn default_backend() -> String {
    DEFAULT_BACKEND.into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// The inference runtime (`onnxruntime`); records older than the field were all ONNX Runtime.
    #[serde(default = "default_backend")]
    pub backend: String,
    /// Its version (for ONNX Runtime also in `context.ort_version`); part of the cell id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_version: Option<String>,
    pub ep_requested: Ep,
    /// The provider the sessions were created with (registration fails rather than fall back).
    pub ep_used: Ep,
    pub ep_options: Vec<EpOption>,
    pub threads: usize,
    pub graph_optimization: OptLevel,
    pub intra_op_spinning: bool,
    /// Sessions refused any node the provider could not run (no CPU fallback).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict_placement: bool,
    /// Every step ran through an `IoBinding` (caches kept in the provider's memory).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub io_binding: bool,
    /// ONNX Runtime session configuration entries (`--session-opt`), in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub session_options: Vec<SessionOption>,
    /// Where a provider that ships as a plugin came from: `onnxruntime-qnn==2.7.0`, or
    /// `SLMBENCH_QNN_PLUGIN=PATH`; part of the cell id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ep_plugin: Option<String>,
    /// Sessions loaded the provider's compiled graphs from EP context models in the cache, or
    /// compiled and wrote them (`--ep-context-cache`); changes load time only, so not in the id.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ep_context_cache: bool,
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
    /// `abba` or `random` when the repetitions alternated with a partner's (see
    /// [`PairRatio::order`]); absent when the cell ran alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// The `cell_id` of the partner it alternated with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interleaved_with: Option<String>,
}

/// Trends across the repetitions of a cell, in the order they ran ([`crate::paired::trend`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub ttft: Option<Trend>,
    /// Of each repetition's median inter-token latency.
    pub itl: Option<Trend>,
}

impl Drift {
    /// Whether any metric drifted (the report warns).
    pub fn drifting(&self) -> bool {
        [self.ttft, self.itl].iter().flatten().any(|t| t.drifting)
    }
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
    /// The memory guard's estimate for the cell (weights + KV cache + activations), to set
    /// against `peak_rss_bytes`.
    #[serde(default)]
    pub estimated_memory_bytes: Option<u64>,
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
    /// Which provider ran the nodes, observed in a profiled generation of the same model and
    /// settings before the timed ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<crate::placement::Placement>,
    /// The cell against the host's measured memory bandwidth and matrix-multiply rate (CPU cells).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roofline: Option<crate::roofline::Roofline>,
    /// The model's own key/value caches at the cell's context, computed from its cache shapes
    /// (absent in records older than the field, and where the backend cannot tell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<crate::memory::CacheMemory>,
    /// Trends across the repetitions (absent below [`crate::paired::MIN_N_FOR_TREND`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
    /// What the reader of this cell must know (its nodes ran on another provider than the one
    /// asked for; its pair's parameter counts are far apart): on stderr when measured, and in
    /// every report's summary.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Why a cell has no measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The execution provider is missing from the runtime or failed to register.
    Provider,
    /// The memory guard refused the cell (estimate above what the host has available).
    Memory,
    /// ONNX Runtime or the model failed while loading or running.
    Model,
    /// A bug in slmbench (a panic), caught so that the sweep goes on.
    Internal,
}

impl FailureKind {
    /// The name written in results files.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Provider => "provider",
            FailureKind::Memory => "memory",
            FailureKind::Model => "model",
            FailureKind::Internal => "internal",
        }
    }
}

/// A sweep cell that produced no measurement; written in place of its [`CellResult`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedCell {
    pub schema_version: u32,
    pub cell_id: String,
    /// Always `failed`: what tells this record from a [`CellResult`].
    pub status: String,
    pub model: ModelInfo,
    /// The settings the cell was attempted with (`ep_used` is the provider that was tried).
    pub settings: Settings,
    pub sweep: SweepPoint,
    pub failure: FailureKind,
    pub error: String,
    pub context: Context,
}

impl CellResult {
    /// The machine and cell id readers keep one record per ([`crate::identity::RecordKey`]).
    pub fn record_key(&self) -> crate::identity::RecordKey {
        (crate::identity::Machine::of(&self.context), self.cell_id.clone())
    }

    /// Whether `ratio` (a pair-ratio record) names this cell: the same id on the same machine.
    pub fn is_named_by(&self, ratio: &PairRatio, cell_id: &str) -> bool {
        self.cell_id == cell_id
            && crate::identity::Machine::of(&self.context) == crate::identity::Machine::of(&ratio.context)
    }

    /// Checks every stored median against the median of its raw samples; the error names the
    /// cell, the metric and both values (the record was edited or corrupted).
    pub fn check_summaries(&self) -> Result<(), String> {
        use crate::metric::Metric;
        let stored = [
            (Metric::Ttft, Some(self.metrics.ttft_ns.median)),
            (Metric::FirstDecoderStep, Some(self.metrics.first_decoder_step_ns.median)),
            (Metric::Encoder, self.metrics.encoder_ns.map(|s| s.median)),
            (Metric::Itl, self.metrics.itl_ns.map(|s| s.median)),
            (Metric::DecodeTokensPerS, self.metrics.decode_tokens_per_s),
            (Metric::E2eTokensPerS, Some(self.metrics.e2e_tokens_per_s)),
            (Metric::PrefillTokensPerS, Some(self.metrics.prefill_tokens_per_s)),
        ];
        for (metric, value) in stored {
            let Some(value) = value else { continue };
            let Some(from_samples) = metric.summary(self).map(|s| s.median) else { continue };
            // Both come from the same arithmetic; the slack only absorbs a decimal round trip.
            // NaN (an edited `null` or text read as a number) counts as inconsistent too.
            let close = (value - from_samples).abs() <= 1e-9 * from_samples.abs().max(1.0);
            if !close {
                let k = metric.scale();
                return Err(format!(
                    "cell {}: its stored {} median {} {} is not the median of its own samples ({} {}); \
                     the record was edited or corrupted: restore the file or measure the cell again",
                    self.cell_id,
                    metric.name(),
                    value * k,
                    metric.unit().name(),
                    from_samples * k,
                    metric.unit().name()
                ));
            }
        }
        Ok(())
    }

    /// Recomputes every summary from the raw samples (as the harness computes them): the latency
    /// summaries and the throughput medians (per sequence and for the batch).
    pub fn refresh_summaries(&mut self) {
        use crate::metric::Metric;
        if let Some(t) = Metric::Ttft.summary(self) {
            self.metrics.ttft_ns = t;
        }
        if let Some(t) = Metric::FirstDecoderStep.summary(self) {
            self.metrics.first_decoder_step_ns = t;
        }
        if let Some(t) = Metric::Encoder.summary(self) {
            self.metrics.encoder_ns = Some(t);
        }
        if let Some(t) = Metric::Itl.summary(self) {
            self.metrics.itl_ns = Some(t);
        }
        let batch = self.sweep.batch as f64;
        if let Some(t) = Metric::DecodeTokensPerS.summary(self) {
            self.metrics.decode_tokens_per_s = Some(t.median);
            self.metrics.decode_tokens_per_s_batch = Some(t.median * batch);
        }
        if let Some(t) = Metric::E2eTokensPerS.summary(self) {
            self.metrics.e2e_tokens_per_s = t.median;
            self.metrics.e2e_tokens_per_s_batch = t.median * batch;
        }
        if let Some(t) = Metric::PrefillTokensPerS.summary(self) {
            self.metrics.prefill_tokens_per_s = t.median;
            self.metrics.prefill_tokens_per_s_batch = t.median * batch;
        }
    }
}
