//! The ONNX Runtime backend: fetching and loading the runtime, execution providers, model
//! layouts (Optimum, onnxruntime-genai), sessions and the generation loops, behind
//! [`crate::backend::Backend`].

mod bound;
pub mod calibrate;
pub mod drift;
pub mod ep;
pub mod ep_context;
mod feeds;
pub mod generate;
pub mod onnx;
mod open;
pub mod placement;
pub mod plugin;
pub mod runtime;
pub mod session;
mod shared_cache;
mod static_bound;
mod static_loop;
pub mod wheel;

use std::path::Path;

use slmbench_results::ep::Ep;
use slmbench_results::memory::CacheMemory;
use slmbench_results::placement::Placement;
use slmbench_results::schema::{ModelInfo, Settings};

use self::session::{LoadedModel, SessionSettings};
use crate::backend::{Backend, Generator, Tuning};
use crate::entry::ModelEntry;
use crate::error::HarnessError;
use crate::files::layout::DecoderChoice;
use crate::generation::{Generation, Prompt};
use crate::guard::{self, Estimate};

/// ONNX Runtime, loaded at run time (see [`runtime`]).
pub struct OnnxRuntime;

/// The name results record for this backend.
pub const NAME: &str = "onnxruntime";

impl Backend for OnnxRuntime {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> Result<String, HarnessError> {
        Ok(runtime::version()?.to_string())
    }

    fn providers(&self) -> Result<Vec<Ep>, HarnessError> {
        let offered = runtime::available_providers()?;
        Ok(slmbench_results::ep::ALL.into_iter().filter(|e| offered.iter().any(|o| o == e.runtime_name())).collect())
    }

    fn prepare(&self, eps: &[Ep]) {
        // Registered now, so cell settings name the plugin; a failure is kept and fails those
        // cells as an absent built-in provider does.
        for &ep in eps.iter().filter(|e| e.is_plugin()) {
            let _ = plugin::register(ep);
        }
    }

    fn settings(&self, version: &str, ep: Ep, threads: usize, tuning: &Tuning) -> Settings {
        Settings {
            ep_plugin: plugin::registered(ep).map(|p| p.source.clone()),
            ..tuning.request(NAME, version, ep, threads)
        }
    }

    fn measures_drift(&self) -> bool {
        true
    }

    fn takes_session_tuning(&self) -> bool {
        true
    }

    fn describe(&self, entry: &ModelEntry, decoder: DecoderChoice) -> Result<ModelInfo, HarnessError> {
        crate::files::describe(entry, decoder)
    }

    fn check(
        &self,
        entry: &ModelEntry,
        decoder: DecoderChoice,
        prompt: usize,
        new: usize,
        prompt_ids: Option<&[i64]>,
    ) -> Result<(), HarnessError> {
        crate::files::check(entry, decoder, prompt, new, prompt_ids)
    }

    fn load(
        &self,
        dir: &Path,
        settings: &Settings,
        decoder: DecoderChoice,
    ) -> Result<Box<dyn Generator>, HarnessError> {
        Ok(Box::new(LoadedModel::load_with(dir, &SessionSettings::from(settings), decoder)?))
    }

    fn placement(&self, dir: &Path, settings: &Settings, decoder: DecoderChoice) -> Result<Placement, HarnessError> {
        let settings = &SessionSettings::from(settings);
        match placement::observe(dir, settings, decoder) {
            // ONNX Runtime's refusal under "no CPU fallback" names no node: observed without it,
            // the placement names the operators that would fall back (the caller then fails).
            Err(e) if settings.strict_placement && settings.ep != Ep::Cpu => {
                let relaxed = SessionSettings { strict_placement: false, ..settings.clone() };
                placement::observe(dir, &relaxed, decoder)
                    .ok()
                    .filter(|p| p.off_provider(settings.ep.runtime_name()).is_some())
                    .ok_or(e)
            }
            observed => observed,
        }
    }
}

impl Generator for LoadedModel {
    fn generate(&mut self, prompt: &Prompt, new_tokens: usize, stop_at_eos: bool) -> Result<Generation, HarnessError> {
        LoadedModel::generate(self, prompt, new_tokens, stop_at_eos)
    }

    fn load_ns(&self) -> u64 {
        self.load_ns
    }

    fn vocab_size(&self) -> usize {
        self.geometry.vocab_size
    }

    fn memory_need(&self, batch: usize, prompt: usize, new: usize) -> Estimate {
        guard::cell(&self.geometry, &self.config, self.files.layout.is_encoder_decoder(), batch, prompt, new)
    }

    fn decode_bytes_per_step(&self, batch: usize, prompt: usize, new: usize) -> Option<u64> {
        // Bytes per unquantized weight: 2 in an fp16 build.
        let float = if self.geometry.half_cache { 2u64 } else { 4u64 };
        // The caches at mid-generation (a static build attends over its whole fixed buffers).
        let cache = self.cache_memory(batch, prompt, new / 2)?.total_bytes();
        // slmbench's own builds: the weights a step uses, at their stored precision. Others: the
        // decoder file (an upper bound: it may hold weights the step does not read).
        let weights = match slmbench_config(&self.files.dir) {
            Some((cfg, quant)) => {
                let per_weight = quant.unwrap_or(float as f64);
                (slmbench_models::flops::decode_step_weights(&cfg) as f64 * per_weight) as u64
            }
            None => file_bytes(&self.files.next),
        };
        Some(weights + cache)
    }

    fn ttft_flops(&self, batch: usize, prompt: usize) -> Option<u64> {
        slmbench_config(&self.files.dir).map(|(cfg, _)| slmbench_models::flops::ttft_flops(&cfg, batch, prompt))
    }

    fn cache_memory(&self, batch: usize, prompt: usize, new: usize) -> Option<CacheMemory> {
        let g = &self.geometry;
        let element = if g.half_cache { 2 } else { 4 };
        Some(CacheMemory::of(
            g.layers,
            g.kv_heads,
            g.head_dim,
            (g.cross_kv_heads, g.cross_head_dim),
            element,
            self.files.layout.is_encoder_decoder(),
            (batch, prompt, new),
            self.static_positions(),
        ))
    }
}

/// The architecture and the bytes a quantized weight takes (`None`: float) of a model slmbench
/// built (its `config.json` holds the full configuration, its manifest the quantization).
fn slmbench_config(dir: &Path) -> Option<(slmbench_models::Config, Option<f64>)> {
    let read = |name: &str| -> Option<serde_json::Value> {
        std::fs::read(dir.join(name)).ok().and_then(|b| serde_json::from_slice(&b).ok())
    };
    let cfg: slmbench_models::Config = serde_json::from_value(read("config.json")?.get("slmbench")?.clone()).ok()?;
    let m = read("manifest.json")?;
    // A QDQ build stores one int8 code per weight (its per-channel scales are negligible).
    let qdq = m.get("qdq").is_some_and(|q| !q.is_null());
    Some((cfg, crate::files::quant_of(&m).map(|q| q.bytes_per_weight()).or(qdq.then_some(1.0))))
}

/// Bytes of an ONNX file and its external data.
fn file_bytes(path: &Path) -> u64 {
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    len(path) + len(&path.with_file_name(format!("{name}_data"))) + len(&path.with_file_name(format!("{name}.data")))
}
