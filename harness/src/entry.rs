//! The models of a sweep: which directories, how a built pair expands, and what the results
//! record of each (computed before loading, so a model that fails to load is still described).

use std::path::{Path, PathBuf};

use crate::error::HarnessError;
use crate::layout::{self, DecoderChoice};
use crate::results::{self, ModelInfo};

/// One model to measure.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelEntry {
    pub dir: PathBuf,
    pub name: String,
    pub pair: Option<String>,
}

/// Expands a directory: a built pair (with `pair.json`, or `encoder-decoder/` and
/// `decoder-only/` folders) gives both models tagged as a pair; anything else is one model.
pub fn expand_dir(dir: &Path) -> Vec<ModelEntry> {
    let ed = dir.join(slmbench_models::build::ENCODER_DECODER_DIR);
    let dec = dir.join(slmbench_models::build::DECODER_ONLY_DIR);
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| dir.display().to_string());
    if ed.is_dir() && dec.is_dir() {
        let pair =
            serde_json::from_slice::<serde_json::Value>(&std::fs::read(dir.join("pair.json")).unwrap_or_default())
                .ok()
                .and_then(|v| v["name"].as_str().map(String::from))
                .unwrap_or(name);
        return vec![
            ModelEntry { dir: ed, name: format!("{pair}/encoder-decoder"), pair: Some(pair.clone()) },
            ModelEntry { dir: dec, name: format!("{pair}/decoder-only"), pair: Some(pair) },
        ];
    }
    vec![ModelEntry { dir: dir.to_path_buf(), name, pair: None }]
}

/// What the results record of a model: computed before loading, so that a model that fails to
/// load still has its cells recorded.
pub(crate) fn model_info(entry: &ModelEntry, decoder: DecoderChoice) -> Result<ModelInfo, HarnessError> {
    let files = layout::detect_with(&entry.dir, decoder)?;
    let manifest: Option<serde_json::Value> =
        std::fs::read(entry.dir.join("manifest.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
    // slmbench's own builds are fp32 with standard operators (their manifest says so); anything
    // else is read from its graphs.
    let graph = match &manifest {
        Some(_) => crate::graph_info::GraphInfo { precision: Some("fp32".into()), ..Default::default() },
        None => {
            let mut paths: Vec<&Path> = files.encoder.iter().map(|p| p.as_path()).collect();
            paths.push(&files.first);
            if files.next != files.first {
                paths.push(&files.next);
            }
            crate::graph_info::read(&paths).unwrap_or_default()
        }
    };
    Ok(ModelInfo {
        name: entry.name.clone(),
        dir: entry.dir.display().to_string(),
        kind: if files.layout.is_encoder_decoder() { "encoder-decoder" } else { "decoder-only" }.into(),
        layout: files.layout,
        params: manifest.and_then(|m| m["params"]["total"].as_u64()),
        bytes_on_disk: crate::session::model_bytes(&entry.dir),
        pair: entry.pair.clone(),
        content_sha256: Some(results::content_sha256(&entry.dir)?),
        precision: graph.precision,
        quantization: graph.quantization,
        fused_operators: graph.fused_operators,
    })
}
