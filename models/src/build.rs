//! Writes a model, or a matched pair, to disk in Optimum's layout with `config.json` and
//! `manifest.json` beside the ONNX files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use crate::config::{Config, Kind};
use crate::error::BuildError;
use crate::flops::{self, Flops};
use crate::graph::static_shapes::{self, StaticShapes};
use crate::graph::{Fault, GraphSpec, GraphVariant, decoder_only, encdec};
use crate::onnx::writer::{self, ExternalData, Written};
use crate::params::{self, ParamCounts};
use crate::presets::{Pair, PairCounts};
use crate::qdq::QdqOptions;
use crate::quant::QuantOptions;
use crate::weights::{self, Storage};

/// Version of `manifest.json`'s layout. 2: quantization as options, graph variant, contrib
/// operators, operators per step (what the harness reads to count a step's bytes). 3: fused
/// encoder-decoder decoders take `decoder_attention_mask`; `past_present_share_buffer`.
pub const MANIFEST_VERSION: u32 = 3;
/// Folder names of the two models of a pair.
pub const ENCODER_DECODER_DIR: &str = "encoder-decoder";
pub const DECODER_ONLY_DIR: &str = "decoder-only";

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub seed: u64,
    /// Also write `decoder_model.onnx` + `decoder_with_past_model.onnx`.
    pub split_decoder: bool,
    /// Also write `model.safetensors` with Hugging Face names.
    pub safetensors: bool,
    pub external_data: ExternalData,
    /// Weight-only quantization of every linear weight and the output projection (`None`: fp32).
    pub quant: Option<QuantOptions>,
    /// Plain operators or ONNX Runtime's fused kernels.
    pub graph: GraphVariant,
    /// How the float weights are stored: f32; F16, weights and activations in half precision
    /// ([`crate::half`]; fused graphs only); Bf16, weights as bfloat16 read through casts
    /// ([`crate::bf16`]; plain graphs only).
    pub storage: Storage,
    /// Static-shape graphs ([`crate::graph::static_shapes`]) instead of dynamic ones.
    pub shapes: Option<StaticShapes>,
    /// QDQ int8 weights and uint8/uint16 activations ([`crate::qdq`]); its ranges must be
    /// calibrated (the harness's `qdq::build_pair` does both).
    pub qdq: Option<QdqOptions>,
    /// Adds each linear layer's input and output as graph outputs, for calibration.
    pub calibration_outputs: bool,
    #[doc(hidden)]
    pub fault: Option<Fault>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileEntry {
    pub name: String,
    pub bytes: u64,
    /// Operators a later decoder step runs (an `If` counts as its cached branch; `Constant`
    /// nodes, folded when the session loads, are not counted). Absent for the encoder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_nodes: Option<usize>,
}

/// `manifest.json`: what was built, from what, and how big it is.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub manifest_version: u32,
    pub producer: String,
    pub kind: Kind,
    pub seed: u64,
    pub config: Config,
    pub params: ParamCounts,
    pub files: Vec<FileEntry>,
    /// Bytes of every file of the model together.
    pub total_bytes: u64,
    pub flops: Flops,
    /// How weights are laid out, for anyone reading the initializers directly.
    pub weight_layout: String,
    /// `fp32`, `int8` or `int4`: the linear weights' and the output projection's precision.
    pub precision: String,
    /// How they are quantized (absent for fp32): `{"bits": 4, "block_size": 32, "accuracy_level": 4}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantization: Option<QuantOptions>,
    /// `plain` or `fused`: which operators the graphs are written in.
    pub graph_variant: GraphVariant,
    /// The `com.microsoft` operators the graphs use (fused kernels and `MatMulNBits`), sorted.
    pub fused_operators: Vec<String>,
    /// Whether the self-attention cache may be one fixed-size buffer that is both `past` and
    /// `present` (onnxruntime-genai's name for it): true for fused graphs, whose
    /// `GroupQueryAttention` reads the lengths from a mask and writes new keys in place.
    pub past_present_share_buffer: bool,
    /// The fixed dimensions of a static-shape build (absent: dynamic shapes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub static_shapes: Option<StaticShapes>,
    /// A QDQ build's activation bits, weight format and calibration (the ranges are in
    /// `calibration.json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qdq: Option<QdqOptions>,
}

/// `pair.json` at the top of a built pair.
#[derive(Debug, Clone, Serialize)]
pub struct PairManifest {
    pub name: String,
    pub encoder_decoder: Manifest,
    pub decoder_only: Manifest,
    pub params: PairCounts,
}

fn prepare_dir(dir: &Path) -> Result<(), BuildError> {
    if dir.exists() && !dir.is_dir() {
        return Err(BuildError::OutDir { path: dir.to_path_buf(), reason: "it exists and is not a directory".into() });
    }
    std::fs::create_dir_all(dir).map_err(|e| BuildError::OutDir { path: dir.to_path_buf(), reason: e.to_string() })
}

/// Builds one model into `dir`.
pub fn build_model(cfg: &Config, dir: &Path, opts: &BuildOptions) -> Result<Manifest, BuildError> {
    cfg.validate()?;
    if opts.graph == GraphVariant::Fused && !cfg.head_dim().is_multiple_of(16) {
        return Err(crate::ConfigError::Invalid {
            field: "d_model",
            reason: format!(
                "the fused graph's GroupQueryAttention needs a head size (d_model / num_heads) that is a multiple of 16, not {}; change d_model or num_heads, or build --graph plain",
                cfg.head_dim()
            ),
        }
        .into());
    }
    if opts.storage == Storage::F16 && (opts.graph != GraphVariant::Fused || opts.quant.is_some()) {
        return Err(crate::ConfigError::Invalid {
            field: "precision",
            reason: "fp16 is built as a fused graph only (the plain graph computes RoPE angles in the graph, which half precision cannot hold) and without quantization: build --precision fp16 --graph fused".into(),
        }
        .into());
    }
    if opts.storage == Storage::Bf16
        && (opts.graph != GraphVariant::Plain || opts.quant.is_some() || opts.qdq.is_some())
    {
        return Err(crate::ConfigError::Invalid {
            field: "precision",
            reason:
                "bf16 is built as a plain graph only and without quantization: build --precision bf16 --graph plain"
                    .into(),
        }
        .into());
    }
    if let Some(q) = &opts.qdq {
        let bad = |reason: String| -> BuildError { crate::ConfigError::Invalid { field: "precision", reason }.into() };
        if opts.graph != GraphVariant::Plain || opts.storage != Storage::F32 || opts.quant.is_some() {
            return Err(bad("w8a8 and w8a16 (QDQ) are built as plain graphs: drop --graph fused".into()));
        }
        if q.ranges.is_empty() {
            return Err(bad("a QDQ build needs calibrated ranges: build it with `slmbench models build`".into()));
        }
    }
    if let Some(s) = &opts.shapes {
        let bad = |reason: String| -> BuildError { crate::ConfigError::Invalid { field: "shapes", reason }.into() };
        s.validate().map_err(bad)?;
        if opts.graph != GraphVariant::Plain || opts.storage != Storage::F32 {
            return Err(bad(
                "static shapes are built as plain graphs (fp32, int8 or int4): drop --graph fused, fp16 and bf16"
                    .into(),
            ));
        }
        if s.max_context > cfg.max_positions {
            return Err(bad(format!(
                "--max-context {} is beyond the model's {} positions",
                s.max_context, cfg.max_positions
            )));
        }
    }
    prepare_dir(dir)?;
    let (v, fault) = (opts.graph, opts.fault);
    let mut graphs: Vec<(&str, GraphSpec)> = Vec::new();
    match (cfg.kind, opts.shapes) {
        (Kind::EncoderDecoder, Some(s)) => {
            graphs.push((static_shapes::ENCODER, static_shapes::encoder(cfg, s, fault)));
            graphs.push((static_shapes::DECODER, static_shapes::decoder(cfg, s, fault)));
        }
        (Kind::DecoderOnly, Some(s)) => {
            graphs.push((static_shapes::PREFILL, static_shapes::decoder_only(cfg, s, s.prefill_chunk, fault)));
            graphs.push((static_shapes::DECODE, static_shapes::decoder_only(cfg, s, 1, fault)));
        }
        _ => {}
    }
    match cfg.kind {
        _ if opts.shapes.is_some() => {}
        Kind::EncoderDecoder => {
            graphs.push(("encoder_model.onnx", encdec::encoder(cfg, v, fault)));
            graphs.push(("decoder_model_merged.onnx", encdec::decoder(cfg, encdec::DecoderFile::Merged, v, fault)));
            if opts.split_decoder {
                graphs.push(("decoder_model.onnx", encdec::decoder(cfg, encdec::DecoderFile::NoPast, v, fault)));
                graphs.push((
                    "decoder_with_past_model.onnx",
                    encdec::decoder(cfg, encdec::DecoderFile::WithPast, v, fault),
                ));
            }
        }
        Kind::DecoderOnly => graphs.push(("model.onnx", decoder_only::model(cfg, v, fault))),
    }
    let mut files = Vec::new();
    let mut contrib = std::collections::BTreeSet::new();
    for (name, spec) in graphs {
        let spec = match (&opts.quant, &opts.qdq) {
            (Some(q), _) => crate::quant::quantize(spec, q),
            (None, Some(q)) => crate::qdq::quantize(spec, q)
                .map_err(|reason| crate::ConfigError::Invalid { field: "precision", reason })?,
            (None, None) if opts.storage == Storage::F16 => crate::half::convert(spec),
            (None, None) if opts.storage == Storage::Bf16 => crate::bf16::convert(spec),
            (None, None) if opts.calibration_outputs => crate::qdq::calibration_outputs(spec),
            (None, None) => spec,
        };
        let later_step = ![static_shapes::ENCODER, static_shapes::PREFILL, "encoder_model.onnx"].contains(&name);
        let step_nodes = later_step.then(|| step_nodes(&spec.graph));
        contrib_ops(&spec.graph, &mut contrib);
        let w: Written = writer::write_model(&dir.join(name), &spec, opts.seed, opts.external_data)?;
        files.push(FileEntry { name: name.to_string(), bytes: w.bytes, step_nodes });
        if let Some(d) = &w.data_path {
            files.push(FileEntry { name: file_name(d), bytes: w.data_bytes, step_nodes: None });
        }
    }
    if opts.safetensors {
        let meta = BTreeMap::from([
            ("format".to_string(), "pt".to_string()),
            ("producer".to_string(), "slmbench".to_string()),
            ("seed".to_string(), opts.seed.to_string()),
        ]);
        let path = dir.join("model.safetensors");
        let bytes = crate::safetensors::write(&path, &weights::model_tensors(cfg), opts.seed, &meta)?;
        files.push(FileEntry { name: "model.safetensors".into(), bytes, step_nodes: None });
    }
    write_json(&dir.join("config.json"), &hf_config(cfg))?;
    write_json(&dir.join("generation_config.json"), &generation_config(cfg))?;
    let manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        producer: format!("slmbench {}", env!("CARGO_PKG_VERSION")),
        kind: cfg.kind,
        seed: opts.seed,
        config: cfg.clone(),
        params: params::count(cfg),
        total_bytes: files.iter().map(|f| f.bytes).sum(),
        files,
        flops: flops::flops(cfg),
        weight_layout: match &opts.quant {
            None if opts.qdq.is_some() => "QDQ: linear weights and the output projection as NAME_quantized int8 [in, out] (the tied projection too, as a MatMul) with NAME_scale float32 [out] through DequantizeLinear (axis 1, zero point 0); each linear layer's input and output through QuantizeLinear/DequantizeLinear at the scales in calibration.json; embedding table and norms float32; names are Hugging Face names".into(),
            None if opts.storage == Storage::F16 => "float16 (weights and activations, the KV cache and the logits too); ONNX linear weights are [in, out] (the transpose of the Hugging Face [out, in] in model.safetensors); names are Hugging Face names".into(),
            None if opts.storage == Storage::Bf16 => "bfloat16 weights (each read through a Cast to float32: NAME_f32), float32 activations; ONNX linear weights are [in, out] (the transpose of the Hugging Face [out, in] in model.safetensors); names are Hugging Face names".into(),
            None => "float32; ONNX linear weights are [in, out] (the transpose of the Hugging Face [out, in] in model.safetensors); names are Hugging Face names".into(),
            Some(_) => "linear weights and the output projection as MatMulNBits NAME_Q<bits> uint8 [out, blocks, block_size × bits / 8] (codes low bits first along `in`, zero point 2^(bits−1)) and NAME_scales float32 [out, blocks]; embedding table and norms float32; names are Hugging Face names".into(),
        },
        precision: match &opts.quant {
            Some(q) if q.bits == 4 => "int4".into(),
            Some(_) => "int8".into(),
            None if opts.storage == Storage::F16 => "fp16".into(),
            None if opts.storage == Storage::Bf16 => "bf16".into(),
            None => match opts.qdq.as_ref().map(|q| q.activation_bits) {
                Some(16) => "w8a16".into(),
                Some(_) => "w8a8".into(),
                None => "fp32".into(),
            },
        },
        quantization: opts.quant,
        graph_variant: opts.graph,
        past_present_share_buffer: opts.graph == GraphVariant::Fused,
        static_shapes: opts.shapes,
        fused_operators: contrib.into_iter().collect(),
        qdq: opts.qdq.clone(),
    };
    if let Some(q) = &opts.qdq {
        // This model's ranges (a pair's options hold both families').
        let names: std::collections::HashSet<String> =
            weights::model_tensors(cfg).into_iter().map(|t| t.name).collect();
        let ranges: BTreeMap<&String, _> = q.ranges.iter().filter(|(w, _)| names.contains(*w)).collect();
        let calibration = json!({"activation_bits": q.activation_bits, "calibration": q.calibration, "ranges": ranges});
        write_json(&dir.join("calibration.json"), &calibration)?;
    }
    write_json(&dir.join("manifest.json"), &manifest)?;
    Ok(manifest)
}

/// Builds both models of a pair under `out/encoder-decoder` and `out/decoder-only`.
pub fn build_pair(pair: &Pair, out: &Path, opts: &BuildOptions) -> Result<PairManifest, BuildError> {
    prepare_dir(out)?;
    let encoder_decoder = build_model(&pair.encoder_decoder, &out.join(ENCODER_DECODER_DIR), opts)?;
    let decoder_only = build_model(&pair.decoder_only, &out.join(DECODER_ONLY_DIR), opts)?;
    let manifest = PairManifest { name: pair.name.clone(), encoder_decoder, decoder_only, params: pair.counts() };
    write_json(&out.join("pair.json"), &manifest)?;
    Ok(manifest)
}

/// The `com.microsoft` operators of `g` and its subgraphs.
fn contrib_ops(g: &crate::onnx::proto::GraphProto, out: &mut std::collections::BTreeSet<String>) {
    for n in &g.node {
        if n.domain == "com.microsoft" {
            out.insert(n.op_type.clone());
        }
        for a in &n.attribute {
            if let Some(sub) = &a.g {
                contrib_ops(sub, out);
            }
        }
    }
}

/// Operators a later decoder step runs: an `If` counts as its cached (`then`) branch, and
/// `Constant` nodes are not counted.
pub fn step_nodes(g: &crate::onnx::proto::GraphProto) -> usize {
    g.node
        .iter()
        .map(|n| match n.op_type.as_str() {
            "Constant" => 0,
            "If" => {
                n.attribute.iter().find(|a| a.name == "then_branch").and_then(|a| a.g.as_ref()).map_or(0, step_nodes)
            }
            _ => 1,
        })
        .sum()
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), BuildError> {
    let mut text = serde_json::to_string_pretty(value).expect("manifest types serialise");
    text.push('\n');
    std::fs::write(path, text).map_err(BuildError::write(PathBuf::from(path)))
}

/// A Hugging Face style `config.json` (T5 field names for encoder-decoder, Llama's for
/// decoder-only), with the full slmbench config under `slmbench`.
pub fn hf_config(cfg: &Config) -> serde_json::Value {
    let act = match cfg.ffn {
        crate::config::FfnKind::Gelu => "gelu",
        crate::config::FfnKind::GatedGelu => "gated-gelu",
        crate::config::FfnKind::Swiglu => "silu",
    };
    match cfg.kind {
        Kind::EncoderDecoder => json!({
            "architectures": ["SlmbenchEncoderDecoder"],
            "model_type": "slmbench-encoder-decoder",
            "is_encoder_decoder": true,
            "d_model": cfg.d_model,
            "d_kv": cfg.head_dim(),
            "d_ff": cfg.d_ff,
            "num_heads": cfg.num_heads,
            "num_key_value_heads": cfg.num_kv_heads,
            "num_layers": cfg.encoder_layers,
            "num_decoder_layers": cfg.decoder_layers,
            "feed_forward_proj": act,
            "layer_norm_epsilon": cfg.norm_eps,
            "rope_theta": cfg.rope_theta(),
            "vocab_size": cfg.vocab_size,
            "tie_word_embeddings": cfg.tie_embeddings,
            "max_position_embeddings": cfg.max_positions,
            "decoder_start_token_id": cfg.decoder_start_token_id,
            "pad_token_id": cfg.decoder_start_token_id,
            "eos_token_id": cfg.eos_token_id,
            "use_cache": true,
            "slmbench": cfg,
        }),
        Kind::DecoderOnly => json!({
            "architectures": ["SlmbenchDecoderOnly"],
            "model_type": "slmbench-decoder-only",
            "is_encoder_decoder": false,
            "hidden_size": cfg.d_model,
            "head_dim": cfg.head_dim(),
            "intermediate_size": cfg.d_ff,
            "num_attention_heads": cfg.num_heads,
            "num_key_value_heads": cfg.num_kv_heads,
            "num_hidden_layers": cfg.decoder_layers,
            "hidden_act": act,
            "rms_norm_eps": cfg.norm_eps,
            "rope_theta": cfg.rope_theta(),
            "vocab_size": cfg.vocab_size,
            "tie_word_embeddings": cfg.tie_embeddings,
            "max_position_embeddings": cfg.max_positions,
            "bos_token_id": cfg.decoder_start_token_id,
            "eos_token_id": cfg.eos_token_id,
            "use_cache": true,
            "slmbench": cfg,
        }),
    }
}

fn generation_config(cfg: &Config) -> serde_json::Value {
    json!({
        "decoder_start_token_id": cfg.is_encoder_decoder().then_some(cfg.decoder_start_token_id),
        "eos_token_id": cfg.eos_token_id,
        "do_sample": false,
    })
}
