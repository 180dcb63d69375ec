//! The seam between measuring and running: a [`Backend`] loads a model into a [`Generator`],
//! and everything above it (timing, statistics, sweeps, the runner, results) works with any
//! generator. Adding a runtime is one folder implementing these two traits and one line in
//! [`all`].

use std::path::Path;

use crate::error::HarnessError;
use crate::generate::{Generation, Prompt};
use crate::guard::Estimate;
use crate::layout::DecoderChoice;
use crate::results::ModelInfo;
use crate::run::ModelEntry;
use crate::session::SessionSettings;
use slmbench_results::ep::Ep;
use slmbench_results::placement::Placement;

/// One inference runtime.
pub trait Backend: Sync {
    /// The name recorded in results (`settings.backend`) and given to `--backend`.
    fn name(&self) -> &'static str;
    /// The runtime's version (loading the runtime if needed); part of every cell id.
    fn version(&self) -> Result<String, HarnessError>;
    /// The providers (devices) this runtime offers on this host.
    fn providers(&self) -> Result<Vec<Ep>, HarnessError>;
    /// What the results record of a model, read from its files before anything loads (so a model
    /// that fails to load is still described): layout, size, precision, graph variant.
    fn describe(&self, entry: &ModelEntry, decoder: DecoderChoice) -> Result<ModelInfo, HarnessError>;
    /// Checks a model's files and configuration for prompts up to `prompt` tokens and `new` new
    /// tokens, and `prompt_ids` against its vocabulary, without loading it.
    fn check(
        &self,
        entry: &ModelEntry,
        decoder: DecoderChoice,
        prompt: usize,
        new: usize,
        prompt_ids: Option<&[i64]>,
    ) -> Result<(), HarnessError>;
    /// Loads a model with `settings`, ready to generate.
    fn load(
        &self,
        dir: &Path,
        settings: &SessionSettings,
        decoder: DecoderChoice,
    ) -> Result<Box<dyn Generator>, HarnessError>;
    /// Which device ran the model's nodes with `settings`, observed in a load of its own (never
    /// the timed one).
    fn placement(
        &self,
        dir: &Path,
        settings: &SessionSettings,
        decoder: DecoderChoice,
    ) -> Result<Placement, HarnessError>;
}

/// A loaded model: greedy generation with the clock readings the metrics come from.
pub trait Generator {
    /// Generates up to `new_tokens` tokens per row after `prompt`, greedily.
    fn generate(&mut self, prompt: &Prompt, new_tokens: usize, stop_at_eos: bool) -> Result<Generation, HarnessError>;
    /// Time the load took, ns.
    fn load_ns(&self) -> u64;
    /// Size of the vocabulary (synthetic prompts draw from it).
    fn vocab_size(&self) -> usize;
    /// The memory a cell needs beyond the loaded weights (caches, activations, logits).
    fn memory_need(&self, batch: usize, prompt: usize, new: usize) -> Estimate;
    /// Bytes one decode step reads (the weights it uses at their stored precision, and the KV
    /// cache at the middle of a generation of `new` tokens after `prompt`), for `batch` rows;
    /// `None` where the backend cannot tell.
    fn decode_bytes_per_step(&self, _batch: usize, _prompt: usize, _new: usize) -> Option<u64> {
        None
    }
    /// FLOPs of the time to first token for `batch` rows of `prompt` tokens; `None` where unknown.
    fn ttft_flops(&self, _batch: usize, _prompt: usize) -> Option<u64> {
        None
    }
}

/// Every backend this build has; adding one is one line here.
pub fn all() -> Vec<&'static dyn Backend> {
    vec![
        &crate::onnxruntime::OnnxRuntime,
        #[cfg(feature = "candle")]
        &crate::candle::backend::Candle,
    ]
}

/// The backend named `name`, or an error listing the ones there are.
pub fn find(name: &str) -> Result<&'static dyn Backend, HarnessError> {
    all().into_iter().find(|b| b.name() == name).ok_or_else(|| {
        let names: Vec<&str> = all().iter().map(|b| b.name()).collect();
        HarnessError::BadInput(format!("--backend: no backend `{name}`; this build has {}", names.join(", ")))
    })
}
