//! The models of a sweep: which directories, how a built pair expands, and what the results
//! record of each (described by the backend: [`crate::backend::Backend::describe`]).

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

/// The cache folder of a preset pair in a build variant, built by this slmbench version (seed
/// 0), building it first (after `on_build` is told where) unless a complete one is there.
pub fn cached_preset(
    name: &str,
    variant: slmbench_models::Variant,
    on_build: impl FnOnce(&Path),
) -> Result<PathBuf, crate::HarnessError> {
    use slmbench_models::{BuildOptions, Pair};
    let pair = Pair::preset(name).map_err(|e| crate::HarnessError::BadInput(e.to_string()))?.with_variant(variant);
    // fp32 plain keeps the folder name it had before variants existed, so caches stay valid.
    let tag = variant.suffix();
    let dir = crate::onnxruntime::runtime::cache_dir()
        .join("models")
        .join(format!("{name}-seed0{tag}-v{}", env!("CARGO_PKG_VERSION")));
    // Shards of one sweep start together and share the cache (a job array on a shared home): one
    // builds while the others wait on this lock, then find the build complete.
    let lock_path = dir.with_file_name(format!("{}.lock", dir.file_name().unwrap_or_default().to_string_lossy()));
    let lock_err = |e: std::io::Error| {
        crate::HarnessError::BadInput(format!("locking the model cache {}: {e}", lock_path.display()))
    };
    std::fs::create_dir_all(dir.parent().unwrap_or(&dir)).map_err(lock_err)?;
    let lock = std::fs::File::options().create(true).truncate(false).write(true).open(&lock_path).map_err(lock_err)?;
    lock.lock().map_err(lock_err)?;
    // `pair.json` is written last: without it a build was cut short. One from another manifest
    // layout (a development build of the same version) is built again, or the harness would
    // misread it (an int4 build counted at 4 bytes per weight).
    let current = std::fs::read(dir.join("pair.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|p| {
            p["encoder_decoder"]["manifest_version"].as_u64() == Some(slmbench_models::build::MANIFEST_VERSION as u64)
        });
    if !current {
        on_build(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        let opts: BuildOptions = variant.build_options();
        crate::onnxruntime::calibrate::build_pair(&pair, &dir, &opts)?;
    }
    drop(lock);
    Ok(dir)
}
