//! The seam between measuring and running: a [`Backend`] loads a model into a [`Generator`],
//! and everything above it (timing, statistics, sweeps, the runner, results) works with any
//! generator. The seam speaks the results' own vocabulary ([`Settings`], [`Ep`], [`ModelInfo`]):
//! what is particular to one runtime stays in its folder. Adding a runtime is one folder
//! implementing these two traits and one line in [`crate::registry`].

use std::path::Path;

use slmbench_results::ep::{Ep, EpOption, SessionOption};
use slmbench_results::memory::CacheMemory;
use slmbench_results::model::OptLevel;
use slmbench_results::placement::Placement;
use slmbench_results::schema::{ModelInfo, Settings};

use crate::entry::ModelEntry;
use crate::error::HarnessError;
use crate::files::layout::DecoderChoice;
use crate::generation::{Generation, Prompt};
use crate::guard::Estimate;

/// What a sweep asks of every session besides its provider and threads, named as the records'
/// settings name it. Each backend records what it was asked ([`Backend::settings`]) and refuses,
/// when it loads, what it cannot do.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tuning {
    pub ep_options: Vec<EpOption>,
    pub opt_level: OptLevel,
    /// Intra-op thread spinning; off is steadier on shared machines.
    pub spinning: bool,
    /// No CPU fallback: a node the provider cannot run fails the cell.
    pub strict_placement: bool,
    /// Every step through an `IoBinding` (caches kept in the provider's memory).
    pub io_binding: bool,
    /// Session configuration entries for every session.
    pub session_options: Vec<SessionOption>,
    /// Compiled graphs kept as EP context models in the cache (`--ep-context-cache`).
    pub ep_context_cache: bool,
}

impl Tuning {
    /// The tuning a recorded cell ran with.
    pub fn of(s: &Settings) -> Tuning {
        Tuning {
            ep_options: s.ep_options.clone(),
            opt_level: s.graph_optimization,
            spinning: s.intra_op_spinning,
            strict_placement: s.strict_placement,
            io_binding: s.io_binding,
            session_options: s.session_options.clone(),
            ep_context_cache: s.ep_context_cache,
        }
    }

    /// The settings a cell of `backend` (at `version`) on `ep` with `threads` requests, before any
    /// session exists, and as recorded after it ran (providers fail rather than fall back to
    /// another; where nodes actually ran is the cell's observed `placement`).
    pub fn request(&self, backend: &str, version: &str, ep: Ep, threads: usize) -> Settings {
        Settings {
            backend: backend.to_string(),
            backend_version: Some(version.to_string()),
            ep_requested: ep,
            ep_used: ep,
            ep_options: self.ep_options.clone(),
            threads,
            graph_optimization: self.opt_level,
            intra_op_spinning: self.spinning,
            strict_placement: self.strict_placement,
            io_binding: self.io_binding,
            session_options: self.session_options.clone(),
            ep_context_cache: self.ep_context_cache,
            ep_plugin: None,
        }
    }
}

/// One inference runtime.
pub trait Backend: Sync {
    /// The name recorded in results (`settings.backend`) and given to `--backend`.
    fn name(&self) -> &'static str;
    /// The runtime's version (loading the runtime if needed); part of every cell id.
    fn version(&self) -> Result<String, HarnessError>;
    /// The providers (devices) this runtime offers on this host.
    fn providers(&self) -> Result<Vec<Ep>, HarnessError>;
    /// Fixes the thread counts the process computes with, for a runtime whose pools read them once
    /// per process (`threads`: the sweep's `-t` values). Call it before the process starts any
    /// thread. By default nothing: the thread count is a per-session setting.
    fn pin_threads(&self, _threads: &[usize]) -> Result<(), HarnessError> {
        Ok(())
    }
    /// Readies the providers a sweep names before its cells' settings are fixed (a runtime that
    /// loads providers as plugins registers them here, so the settings can say where each came
    /// from). A failure is kept and fails those cells, as an absent provider does.
    fn prepare(&self, _eps: &[Ep]) {}
    /// The settings a cell on `ep` with `threads` and `tuning` records: by default what was asked.
    fn settings(&self, version: &str, ep: Ep, threads: usize, tuning: &Tuning) -> Settings {
        tuning.request(self.name(), version, ep, threads)
    }
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
    /// Loads a model with `settings` (made by [`Backend::settings`]), ready to generate.
    fn load(&self, dir: &Path, settings: &Settings, decoder: DecoderChoice)
    -> Result<Box<dyn Generator>, HarnessError>;
    /// Which device ran the model's nodes with `settings`, observed in a load of its own (never
    /// the timed one).
    fn placement(&self, dir: &Path, settings: &Settings, decoder: DecoderChoice) -> Result<Placement, HarnessError>;
    /// Whether the session-level settings of [`Tuning`] beyond the optimisation level and spinning
    /// (`--io-binding`, `--session-opt`, `--ep-context-cache`) mean anything to this backend; a
    /// command refuses them for one where they do not.
    fn takes_session_tuning(&self) -> bool {
        false
    }
    /// Whether `--accuracy` can measure a variant's drift from its fp32 plain original on this
    /// backend ([`crate::accuracy`]).
    fn measures_drift(&self) -> bool {
        false
    }
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
    /// The key/value caches `batch` rows hold after `prompt` + `new` tokens, from the model's
    /// cache shapes; `None` where the backend cannot tell.
    fn cache_memory(&self, _batch: usize, _prompt: usize, _new: usize) -> Option<CacheMemory> {
        None
    }
}
