//! The models of a sweep: which directories, and how a built pair expands (what the results
//! record of each is the backend's: [`crate::backend::Backend::describe`]).

use std::path::{Path, PathBuf};

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
