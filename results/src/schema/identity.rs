//! What identifies a cell: the model's content hash and the cell id built from it.

use super::{ModelInfo, Settings, SweepPoint};

/// SHA-256 of the model's content: every regular file directly in `dir`, by name order, as
/// (name, size, bytes). Moving or renaming the directory keeps the id; editing a file changes it.
pub fn content_sha256(dir: &std::path::Path) -> Result<String, crate::error::ResultsError> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| crate::error::ResultsError::Io { path, source }
    };
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for f in files {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut file = std::fs::File::open(&f).map_err(io(&f))?;
        let len = file.metadata().map_err(io(&f))?.len();
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update(len.to_le_bytes());
        loop {
            let n = file.read(&mut buf).map_err(io(&f))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(format!("{:x}", h.finalize()))
}

/// FNV-1a over what identifies a cell, as 16 hex digits: the model's content (not its path),
/// layout, backend and its version, requested provider and options, session settings and sweep
/// point. (ONNX Runtime's name is left out of the key, so ids from before backends existed stay.)
pub fn cell_id(model: &ModelInfo, backend_version: &str, settings: &Settings, sweep: &SweepPoint) -> String {
    let content = model.content_sha256.as_deref().unwrap_or(&model.dir);
    let key = serde_json::json!([
        content,
        model.layout,
        backend_version,
        settings.ep_requested,
        settings.ep_options,
        settings.threads,
        settings.graph_optimization,
        settings.intra_op_spinning,
        sweep
    ]);
    // Only when set, so that ids of cells measured before these existed stay the same.
    let key = if settings.strict_placement { serde_json::json!([key, "strict-placement"]) } else { key };
    let key = if settings.io_binding { serde_json::json!([key, "io-binding"]) } else { key };
    let key =
        if settings.session_options.is_empty() { key } else { serde_json::json!([key, settings.session_options]) };
    let key = match &settings.ep_plugin {
        Some(p) => serde_json::json!([key, p]),
        None => key,
    };
    let key = if settings.backend != "onnxruntime" { serde_json::json!([key, settings.backend]) } else { key };
    let key = key.to_string();
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3));
    format!("{h:016x}")
}
