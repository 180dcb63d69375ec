//! The cache of built preset pairs: each built once per slmbench version and variant, shared by
//! every run, shard and test that asks for it (a QDQ variant is calibrated with ONNX Runtime as
//! it is built).

use std::path::{Path, PathBuf};

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
    let dir =
        crate::cache::cache_dir().join("models").join(format!("{name}-seed0{tag}-v{}", env!("CARGO_PKG_VERSION")));
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
