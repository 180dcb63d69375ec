//! A model's files, read without any runtime: which ONNX files make up a model and in which
//! layout (Optimum's, onnxruntime-genai's), what its graphs hold, its configuration, and what the
//! results record of it. Every backend that runs these files describes and checks them here.

pub mod genai;
pub mod graph_info;
pub mod layout;

use std::path::Path;

use slmbench_models::quant::QuantOptions;
use slmbench_results::schema::ModelInfo;

use self::layout::DecoderChoice;
use crate::entry::ModelEntry;
use crate::error::HarnessError;

/// What the results record of a model, read from its files before anything loads (so a model
/// that fails to load is still described): layout, size, precision, graph variant.
pub fn describe(entry: &ModelEntry, decoder: DecoderChoice) -> Result<ModelInfo, HarnessError> {
    let files = layout::detect_with(&entry.dir, decoder)?;
    let manifest: Option<serde_json::Value> =
        std::fs::read(entry.dir.join("manifest.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
    // slmbench's own builds say their precision and contrib operators in their manifest
    // (older ones are fp32 and use standard operators besides `MatMulNBits`); anything else
    // is read from its graphs.
    let graph = match &manifest {
        Some(m) => {
            let quantization = quant_of(m).as_ref().map(QuantOptions::describe);
            let listed = m["fused_operators"]
                .as_array()
                .map(|ops| ops.iter().filter_map(|o| o.as_str().map(String::from)).collect::<Vec<_>>());
            graph_info::GraphInfo {
                params: m["params"]["total"].as_u64(),
                precision: Some(m["precision"].as_str().unwrap_or("fp32").to_string()),
                fused_operators: listed
                    .unwrap_or_else(|| quantization.iter().map(|_| "MatMulNBits".to_string()).collect()),
                quantization,
            }
        }
        None => {
            let mut paths: Vec<&Path> = files.encoder.iter().map(|p| p.as_path()).collect();
            paths.push(&files.first);
            if files.next != files.first {
                paths.push(&files.next);
            }
            graph_info::read(&paths).unwrap_or_default()
        }
    };
    Ok(ModelInfo {
        name: entry.name.clone(),
        dir: entry.dir.display().to_string(),
        kind: files.layout.kind(),
        layout: files.layout,
        params: graph.params,
        bytes_on_disk: model_bytes(&entry.dir),
        pair: entry.pair.clone(),
        content_sha256: Some(slmbench_results::identity::content_sha256(&entry.dir)?),
        precision: graph.precision,
        quantization: graph.quantization,
        graph_variant: Some(slmbench_results::schema::graph_variant(&graph.fused_operators).to_string()),
        fused_operators: graph.fused_operators,
        accuracy: None,
        past_present_share_buffer: declares_shared_cache(&entry.dir),
        max_positions: layout::read_config(&entry.dir).ok().and_then(|c| c.max_positions).map(|m| m as u64),
    })
}

/// Checks a model's files and configuration for prompts up to `prompt` tokens and `new` new
/// tokens, and `prompt_ids` against its vocabulary, without loading it.
pub fn check(
    entry: &ModelEntry,
    decoder: DecoderChoice,
    prompt: usize,
    new: usize,
    prompt_ids: Option<&[i64]>,
) -> Result<(), HarnessError> {
    let files = layout::detect_with(&entry.dir, decoder)?;
    let cfg = layout::read_config(&entry.dir)?;
    cfg.check_positions(files.layout.is_encoder_decoder(), prompt, new)
        .map_err(|e| HarnessError::BadInput(format!("{}: {e}; lower -p/-n", entry.name)))?;
    if let (Some(ids), Some(v)) = (prompt_ids, cfg.vocab_size)
        && let Some(bad) = ids.iter().find(|&&i| i < 0 || i as usize >= v)
    {
        return Err(HarnessError::BadInput(format!(
            "--prompt-ids: {bad} is outside {}'s vocabulary (0..{v})",
            entry.name
        )));
    }
    Ok(())
}

/// The quantization a manifest records.
pub(crate) fn quant_of(manifest: &serde_json::Value) -> Option<QuantOptions> {
    serde_json::from_value(manifest.get("quantization")?.clone()).ok()
}

/// Bytes of the ONNX files (and their external data) in `dir`.
pub(crate) fn model_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.ends_with(".onnx") || n.ends_with(".onnx_data") || n.ends_with(".onnx.data")
                })
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Whether the model in `dir` declares that its cache may be one buffer shared by past and
/// present: slmbench's fused builds say so in `manifest.json`, onnxruntime-genai's builder in
/// `genai_config.json`. Anything else keeps the growing cache.
pub(crate) fn declares_shared_cache(dir: &Path) -> bool {
    manifest_shares_cache(dir)
        || genai::GenAiConfig::read(dir).ok().flatten().is_some_and(|g| g.past_present_share_buffer)
}

/// slmbench's side of [`declares_shared_cache`]: `past_present_share_buffer` in `manifest.json`.
fn manifest_shares_cache(dir: &Path) -> bool {
    std::fs::read(dir.join("manifest.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|m| m["past_present_share_buffer"].as_bool())
        .unwrap_or(false)
}
