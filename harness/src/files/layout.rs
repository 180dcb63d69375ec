//! Recognising a model directory: which files, which family, and the cache geometry read from
//! the graphs' `past_key_values` inputs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use slmbench_results::model::Layout;

use crate::error::HarnessError;

/// Cache geometry read from a graph's `past_key_values.*` inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Geometry {
    pub layers: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// Cross-attention heads and size (encoder-decoder), from `past_key_values.*.encoder.*`.
    pub cross_kv_heads: usize,
    pub cross_head_dim: usize,
    pub vocab_size: usize,
    /// The cache is float16 (an fp16 build), not f32.
    #[serde(default)]
    pub half_cache: bool,
}

/// Model files found in a directory.
#[derive(Debug, Clone, Serialize)]
pub struct ModelFiles {
    pub dir: PathBuf,
    pub layout: Layout,
    pub encoder: Option<PathBuf>,
    /// The decoder that runs the first step (merged, no-past, or the only model).
    pub first: PathBuf,
    /// The decoder of later steps (the same file for merged and single-file layouts).
    pub next: PathBuf,
    /// Whether `first` is a merged decoder driven by `use_cache_branch`.
    pub merged: bool,
}

const EXPECTED: &str = "encoder_model.onnx with decoder_model_merged.onnx (or decoder_model.onnx + decoder_with_past_model.onnx); \
                        or model.onnx (Optimum, or onnxruntime-genai with genai_config.json); \
                        or decoder_model_merged.onnx / decoder_model.onnx + decoder_with_past_model.onnx (older decoder-only exports); \
                        or slmbench's static builds: static_encoder.onnx + static_decoder.onnx, static_prefill.onnx + static_decode.onnx";

/// Which decoder files to drive when a directory holds both the merged and the split decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecoderChoice {
    /// The merged decoder when present (Optimum's default).
    #[default]
    Auto,
    Merged,
    Split,
}

/// Detects the layout from the file names alone.
pub fn detect(dir: &Path) -> Result<ModelFiles, HarnessError> {
    detect_with(dir, DecoderChoice::Auto)
}

/// As [`detect`], choosing between merged and split decoders when both are there.
pub fn detect_with(dir: &Path, choice: DecoderChoice) -> Result<ModelFiles, HarnessError> {
    if !dir.is_dir() {
        return Err(HarnessError::NoModelDir { path: dir.to_path_buf() });
    }
    let has = |f: &str| dir.join(f).is_file();
    let p = |f: &str| dir.join(f);
    let files = |layout, encoder: Option<&str>, first: &str, next: &str, merged| ModelFiles {
        dir: dir.to_path_buf(),
        layout,
        encoder: encoder.map(p),
        first: p(first),
        next: p(next),
        merged,
    };
    let merged = "decoder_model_merged.onnx";
    let (no_past, with_past) = ("decoder_model.onnx", "decoder_with_past_model.onnx");
    let want_split = choice == DecoderChoice::Split;
    let want_merged = choice == DecoderChoice::Merged;
    if want_split && !(has(no_past) && has(with_past)) {
        return Err(HarnessError::BadModel {
            path: dir.to_path_buf(),
            reason: format!("split decoder requested but {no_past} and {with_past} are not both there"),
        });
    }
    if want_merged && !has(merged) {
        return Err(HarnessError::BadModel {
            path: dir.to_path_buf(),
            reason: format!("merged decoder requested but there is no {merged}"),
        });
    }
    // slmbench's static-shape builds: two graphs of fixed dimensions (no merged/split choice).
    use slmbench_models::graph::static_shapes::{DECODE, DECODER, ENCODER, PREFILL};
    if has(ENCODER) && has(DECODER) {
        return Ok(files(Layout::EncoderDecoderStatic, Some(ENCODER), DECODER, DECODER, false));
    }
    if has(PREFILL) && has(DECODE) {
        return Ok(files(Layout::DecoderOnlyStatic, None, PREFILL, DECODE, false));
    }
    if has("encoder_model.onnx") {
        if has(merged) && !want_split {
            return Ok(files(Layout::EncoderDecoderMerged, Some("encoder_model.onnx"), merged, merged, true));
        }
        if has(no_past) && has(with_past) {
            return Ok(files(Layout::EncoderDecoderSplit, Some("encoder_model.onnx"), no_past, with_past, false));
        }
    } else if has(crate::files::genai::CONFIG) {
        // The builder's graph is the file its config names (model.onnx unless renamed).
        let cfg =
            crate::files::genai::GenAiConfig::read(dir)?.map(|c| c.filename).unwrap_or_else(|| "model.onnx".into());
        if !has(&cfg) {
            return Err(HarnessError::BadModel {
                path: dir.join(crate::files::genai::CONFIG),
                reason: format!("model.decoder.filename is `{cfg}`, which is not in {}", dir.display()),
            });
        }
        return Ok(files(Layout::GenAi, None, &cfg, &cfg, false));
    } else if has("model.onnx") {
        return Ok(files(Layout::DecoderOnly, None, "model.onnx", "model.onnx", false));
    } else if has(merged) && !want_split {
        return Ok(files(Layout::DecoderOnlyLegacy, None, merged, merged, true));
    } else if has(no_past) && has(with_past) {
        return Ok(files(Layout::DecoderOnlyLegacy, None, no_past, with_past, false));
    }
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .map_err(|source| HarnessError::Io { path: dir.to_path_buf(), source })?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    Err(HarnessError::UnknownLayout { path: dir.to_path_buf(), found: found.join(", "), expected: EXPECTED.into() })
}

/// Token ids a model needs from its `config.json` / `generation_config.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModelConfig {
    pub model_type: Option<String>,
    pub vocab_size: Option<usize>,
    pub decoder_start_token_id: Option<i64>,
    pub eos_token_id: Option<i64>,
    pub max_positions: Option<usize>,
    /// Query heads, model width and FFN width, when the config names them (memory estimates).
    #[serde(default)]
    pub num_heads: Option<usize>,
    #[serde(default)]
    pub d_model: Option<usize>,
    #[serde(default)]
    pub d_ff: Option<usize>,
}

impl ModelConfig {
    /// Whether `prompt` input and `new` generated tokens fit the model's positions. An
    /// encoder-decoder's encoder and decoder each hold their own; a decoder-only holds both.
    pub fn check_positions(&self, encoder_decoder: bool, prompt: usize, new: usize) -> Result<(), String> {
        let Some(max) = self.max_positions else { return Ok(()) };
        let needed = if encoder_decoder { prompt.max(new) } else { prompt.saturating_add(new) };
        if needed > max {
            return Err(format!(
                "{needed} positions are needed ({prompt} prompt + {new} new tokens) but the model has {max} (max_position_embeddings)"
            ));
        }
        Ok(())
    }
}

/// Reads `config.json` (absent is fine: everything is optional); what it lacks is taken from an
/// onnxruntime-genai `genai_config.json` when there is one.
pub fn read_config(dir: &Path) -> Result<ModelConfig, HarnessError> {
    let mut c = read_hf_config(dir)?;
    if let Some(g) = crate::files::genai::GenAiConfig::read(dir)? {
        c.model_type = c.model_type.or(g.model_type);
        c.vocab_size = c.vocab_size.or(g.vocab_size);
        c.eos_token_id = c.eos_token_id.or(g.eos_token_id);
        c.max_positions = c.max_positions.or(g.context_length);
        c.num_heads = c.num_heads.or(g.num_heads);
        c.d_model = c.d_model.or(g.hidden_size);
    }
    Ok(c)
}

fn read_hf_config(dir: &Path) -> Result<ModelConfig, HarnessError> {
    let path = dir.join("config.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(ModelConfig::default());
    };
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| HarnessError::BadModel { path: path.clone(), reason: format!("config.json is not JSON: {e}") })?;
    let bad = |k: &str, x: &serde_json::Value, what: &str| HarnessError::BadModel {
        path: path.clone(),
        reason: format!("`{k}` is {x}; {what}: correct it or remove the field"),
    };
    // A field that is present must make sense: a nonsensical value is an error naming it, never
    // silently ignored (an ignored max_position_embeddings would let a run pass the model's limit).
    let int = |k: &str, min: i64| -> Result<Option<i64>, HarnessError> {
        match v.get(k) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(x) => match x.as_i64() {
                Some(i) if i >= min => Ok(Some(i)),
                _ if min > 0 => Err(bad(k, x, "it must be a positive integer")),
                _ => Err(bad(k, x, "it must be a token id (an integer ≥ 0)")),
            },
        }
    };
    let size = |keys: &[&str]| -> Result<Option<usize>, HarnessError> {
        for k in keys {
            if let Some(x) = int(k, 1)? {
                return usize::try_from(x).map(Some).map_err(|_| bad(k, &v[*k], "it is too large"));
            }
        }
        Ok(None)
    };
    // eos_token_id may be a list in Hugging Face configs: take the first.
    let eos = match v.get("eos_token_id") {
        Some(serde_json::Value::Array(a)) => match a.first() {
            None => None,
            Some(x) => Some(
                x.as_i64()
                    .filter(|&i| i >= 0)
                    .ok_or_else(|| bad("eos_token_id", x, "it must be a token id (an integer ≥ 0)"))?,
            ),
        },
        _ => int("eos_token_id", 0)?,
    };
    let vocab_size = size(&["vocab_size"])?;
    let decoder_start_token_id = int("decoder_start_token_id", 0)?;
    for (k, id) in [("eos_token_id", eos), ("decoder_start_token_id", decoder_start_token_id)] {
        if let (Some(id), Some(vocab)) = (id, vocab_size)
            && id as u64 >= vocab as u64
        {
            return Err(bad(k, &serde_json::json!(id), &format!("it must be below vocab_size ({vocab})")));
        }
    }
    Ok(ModelConfig {
        model_type: v.get("model_type").and_then(|x| x.as_str()).map(String::from),
        vocab_size,
        decoder_start_token_id,
        eos_token_id: eos,
        max_positions: size(&["max_position_embeddings", "n_positions"])?,
        num_heads: size(&["num_attention_heads", "num_heads", "n_head"])?,
        d_model: size(&["hidden_size", "d_model", "n_embd"])?,
        d_ff: size(&["intermediate_size", "d_ff", "n_inner"])?,
    })
}
