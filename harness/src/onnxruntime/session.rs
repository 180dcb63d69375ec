//! Opening a model's sessions with recorded settings: provider, threads, optimisation, spinning.

use std::path::{Path, PathBuf};

use ort::session::Session;
use serde::{Deserialize, Serialize};
use slmbench_results::ep::{Ep, EpOption, SessionOption};
use slmbench_results::model::Layout;
use slmbench_results::model::OptLevel;
use slmbench_results::schema::Settings;

use super::ep_context;
use super::open::open_profiled;
use crate::clock::Clock;
use crate::error::HarnessError;
use crate::files::layout::{self, Geometry, ModelConfig, ModelFiles};

/// Settings of every session of a cell; all recorded in results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionSettings {
    pub ep: Ep,
    pub ep_options: Vec<EpOption>,
    /// Intra-op threads (0 = ONNX Runtime's default).
    pub threads: usize,
    pub opt_level: OptLevel,
    /// Intra-op thread spinning; off is steadier on shared machines.
    pub spinning: bool,
    /// ONNX Runtime's "no CPU fallback": a node the provider cannot run fails the session
    /// instead of running on the CPU.
    #[serde(default)]
    pub strict_placement: bool,
    /// Every step through an `IoBinding`: the caches and the encoder's output stay where the
    /// provider allocated them (device memory on a GPU) and only the logits come to the host.
    #[serde(default)]
    pub io_binding: bool,
    /// ONNX Runtime session configuration entries, applied to every session of the cell.
    #[serde(default)]
    pub session_options: Vec<SessionOption>,
    /// Compiled graphs kept as EP context models in the slmbench cache (`ep_context.rs`).
    #[serde(default)]
    pub ep_context_cache: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            ep: Ep::Cpu,
            ep_options: vec![],
            threads: 1,
            opt_level: OptLevel::All,
            spinning: false,
            strict_placement: false,
            io_binding: false,
            session_options: vec![],
            ep_context_cache: false,
        }
    }
}

impl From<&Settings> for SessionSettings {
    /// The sessions a cell's recorded settings ask for.
    fn from(s: &Settings) -> SessionSettings {
        SessionSettings {
            ep: s.ep_requested,
            ep_options: s.ep_options.clone(),
            threads: s.threads,
            opt_level: s.graph_optimization,
            spinning: s.intra_op_spinning,
            strict_placement: s.strict_placement,
            io_binding: s.io_binding,
            session_options: s.session_options.clone(),
            ep_context_cache: s.ep_context_cache,
        }
    }
}

/// A model with its sessions open, ready to generate.
pub struct LoadedModel {
    pub files: ModelFiles,
    pub config: ModelConfig,
    pub geometry: Geometry,
    pub settings: SessionSettings,
    pub(crate) encoder: Option<Session>,
    pub(crate) first: Session,
    /// The later-steps decoder when it is another file (split layouts).
    pub(crate) next: Option<Session>,
    /// Whether the step graphs take `position_ids`.
    pub has_position_ids: bool,
    /// Decoder-only input and output names (Optimum's, or a genai_config.json's patterns).
    pub names: crate::files::genai::IoNames,
    /// Session creation time of all files, ns.
    pub load_ns: u64,
    /// With `--ep-context-cache`: each file, and whether its session compiled it or loaded the
    /// cached context model.
    pub ep_context: Vec<(String, ep_context::Source)>,
    /// Bytes of the model's files on disk.
    pub bytes: u64,
    /// The graph lets one fixed-size buffer be both its past and present cache
    /// (`past_present_share_buffer` in slmbench's manifest or onnxruntime-genai's config).
    pub share_buffer: bool,
}

/// Dimensions of a session input (`-1` where symbolic).
pub(crate) fn dims_of(session: &Session, name: &str) -> Option<Vec<i64>> {
    session.inputs().iter().find(|i| i.name() == name).and_then(|i| match i.dtype() {
        ort::value::ValueType::Tensor { shape, .. } => Some(shape.iter().copied().collect()),
        _ => None,
    })
}

fn is_half_type(t: &ort::value::ValueType) -> bool {
    matches!(t, ort::value::ValueType::Tensor { ty: ort::value::TensorElementType::Float16, .. })
}

/// Whether a session input is a float16 tensor (an fp16 build's cache and hidden states).
pub(crate) fn is_half(session: &Session, name: &str) -> bool {
    session.inputs().iter().find(|i| i.name() == name).is_some_and(|i| is_half_type(i.dtype()))
}

/// Whether a session output is a float16 tensor (an fp16 build's logits).
pub(crate) fn output_is_half(session: &Session, name: &str) -> bool {
    session.outputs().iter().find(|o| o.name() == name).is_some_and(|o| is_half_type(o.dtype()))
}

/// Whether a value is a float16 tensor (an fp16 build's logits and caches).
pub(crate) fn is_half_value<T: ort::value::ValueTypeMarker + ?Sized>(v: &ort::value::Value<T>) -> bool {
    is_half_type(v.dtype())
}

fn has_input(session: &Session, name: &str) -> bool {
    session.inputs().iter().any(|i| i.name() == name)
}

impl LoadedModel {
    /// Whether generation keeps the self-attention cache in one buffer per layer that is both
    /// `past` and `present` (allocated at the generation's final length before the clock starts,
    /// written in place by the kernel), as onnxruntime-genai does with
    /// `past_present_share_buffer`. Only on the CPU provider, where the buffers live, and with one
    /// decoder file (a split pair's two graphs would need two bindings).
    pub fn shares_cache(&self) -> bool {
        self.share_buffer && self.next.is_none() && self.settings.ep == Ep::Cpu
    }

    pub fn load(dir: &Path, settings: &SessionSettings) -> Result<LoadedModel, HarnessError> {
        LoadedModel::load_with(dir, settings, layout::DecoderChoice::Auto)
    }

    pub fn load_with(
        dir: &Path,
        settings: &SessionSettings,
        choice: layout::DecoderChoice,
    ) -> Result<LoadedModel, HarnessError> {
        LoadedModel::load_inner(dir, settings, choice, None)
    }

    /// As [`LoadedModel::load_with`], with every session profiled into files under `profile_dir`
    /// (read back by [`LoadedModel::end_profiling`]); for observing placement, never for timing.
    pub fn load_profiled(
        dir: &Path,
        settings: &SessionSettings,
        choice: layout::DecoderChoice,
        profile_dir: &Path,
    ) -> Result<LoadedModel, HarnessError> {
        LoadedModel::load_inner(dir, settings, choice, Some(profile_dir))
    }

    /// Ends profiling of every session and returns each profile's JSON text.
    pub fn end_profiling(&mut self) -> Result<Vec<String>, HarnessError> {
        let dir = self.files.dir.clone();
        let mut out = vec![];
        for s in self.encoder.iter_mut().chain(std::iter::once(&mut self.first)).chain(self.next.iter_mut()) {
            let path = s.end_profiling().map_err(HarnessError::ort(&dir))?;
            let text = std::fs::read_to_string(&path)
                .map_err(|source| HarnessError::Io { path: PathBuf::from(&path), source })?;
            let _ = std::fs::remove_file(&path);
            out.push(text);
        }
        Ok(out)
    }

    fn load_inner(
        dir: &Path,
        settings: &SessionSettings,
        choice: layout::DecoderChoice,
        profile_dir: Option<&Path>,
    ) -> Result<LoadedModel, HarnessError> {
        let files = layout::detect_with(dir, choice)?;
        let config = layout::read_config(dir)?;
        let mut ep_context = vec![];
        let start = Clock::start();
        let mut open_file = |p: &Path, profile: &str| {
            let (session, source) = open_profiled(p, settings, profile_dir.map(|d| d.join(profile)).as_deref())?;
            if let Some(source) = source {
                ep_context.push((p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), source));
            }
            Ok::<_, HarnessError>(session)
        };
        let encoder = match &files.encoder {
            Some(p) => Some(open_file(p, "encoder")?),
            None => None,
        };
        let first = open_file(&files.first, "first")?;
        let next = if files.next != files.first { Some(open_file(&files.next, "next")?) } else { None };
        let load_ns = start.ns();

        // The graph that takes a cache: `next` for split layouts, else the only decoder.
        let cached = next.as_ref().unwrap_or(&first);
        let enc_dec = files.layout.is_encoder_decoder();
        let genai = match files.layout {
            Layout::GenAi => crate::files::genai::GenAiConfig::read(dir)?,
            _ => None,
        };
        let names = genai.as_ref().map(|g| g.names.clone()).unwrap_or_default();
        let self_key = |i: usize| {
            if enc_dec {
                format!("past_key_values.{i}.decoder.key")
            } else {
                crate::files::genai::layer_name(&names.past_key, i)
            }
        };
        let layers = (0..).take_while(|&i| has_input(cached, &self_key(i))).count();
        let bad = |reason: String| HarnessError::BadModel { path: files.next.clone(), reason };
        if layers == 0 {
            return Err(bad(format!("no `{}` input: not a decoder with a KV cache", self_key(0))));
        }
        let kv = dims_of(cached, &self_key(0)).unwrap_or_default();
        let fixed = |d: &[i64], i: usize| d.get(i).copied().filter(|&x| x > 0).map(|x| x as usize);
        let (kv_heads, head_dim) = match &genai {
            // The builder leaves the head size symbolic: the config supplies what the graph does
            // not fix, and must agree with what it does.
            Some(g) => {
                let graph = &files.next;
                g.reconcile("layers", graph, Some(layers), "model.decoder.num_hidden_layers", g.layers)?;
                (
                    g.reconcile("KV heads", graph, fixed(&kv, 1), "model.decoder.num_key_value_heads", g.kv_heads)?,
                    g.reconcile("head size", graph, fixed(&kv, 3), "model.decoder.head_size", g.head_size)?,
                )
            }
            None => (fixed(&kv, 1), fixed(&kv, 3)),
        };
        let (Some(kv_heads), Some(head_dim)) = (kv_heads, head_dim) else {
            return Err(bad(format!("`{}` has shape {kv:?}; expected [batch, heads, past, head_dim]", self_key(0))));
        };
        if kv.len() != 4 {
            return Err(bad(format!("`{}` has shape {kv:?}; expected [batch, heads, past, head_dim]", self_key(0))));
        }
        let (cross_kv_heads, cross_head_dim) = if enc_dec {
            let c = dims_of(cached, "past_key_values.0.encoder.key").unwrap_or_default();
            match (fixed(&c, 1), fixed(&c, 3)) {
                (Some(h), Some(d)) => (h, d),
                _ => return Err(bad("no usable `past_key_values.0.encoder.key` input".into())),
            }
        } else {
            (0, 0)
        };
        let graph_vocab = first
            .outputs()
            .iter()
            .find(|o| o.name() == names.logits)
            .and_then(|o| match o.dtype() {
                ort::value::ValueType::Tensor { shape, .. } => shape.get(2).copied().filter(|&v| v > 0),
                _ => None,
            })
            .map(|v| v as usize);
        let graph_vocab = match &genai {
            Some(g) => g.reconcile("vocabulary", &files.first, graph_vocab, "model.vocab_size", g.vocab_size)?,
            None => graph_vocab,
        };
        let vocab_size = graph_vocab
            .or(config.vocab_size)
            .ok_or_else(|| bad(format!("no `{}` output with a fixed vocabulary size", names.logits)))?;
        let has_position_ids = has_input(&first, &names.position_ids);
        if files.layout == Layout::EncoderDecoderMerged && !has_input(&first, "use_cache_branch") {
            return Err(bad("decoder_model_merged.onnx has no `use_cache_branch` input".into()));
        }
        Ok(LoadedModel {
            bytes: crate::files::model_bytes(dir),
            geometry: Geometry {
                layers,
                kv_heads,
                head_dim,
                cross_kv_heads,
                cross_head_dim,
                vocab_size,
                half_cache: is_half(cached, &self_key(0)),
            },
            files,
            config,
            settings: settings.clone(),
            encoder,
            first,
            next,
            has_position_ids,
            names,
            load_ns,
            ep_context,
            // The genai config was read above; only the manifest is left to look at.
            share_buffer: genai.as_ref().is_some_and(|g| g.past_present_share_buffer)
                || crate::files::declares_shared_cache(dir),
        })
    }
}
