//! `--ep-context-cache`: an NPU provider's compiled graphs kept between runs as ONNX Runtime EP
//! context models (`ep.context_enable`), the way a deployment ships them. The first session of a
//! file compiles it and writes `<stem>_ctx.onnx` (with the provider's binary beside it, not
//! embedded) into the slmbench cache; every later session with the same file, provider, options
//! and runtime loads that instead, so compiling (minutes for a real model on QNN's HTP) is paid
//! once, and never inside TTFT in any case (it happens while the session is created).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{plugin, runtime};
use crate::error::HarnessError;
use crate::onnxruntime::session::SessionSettings;

/// Where a file's context model lives, and whether it is there yet.
pub(crate) struct Entry {
    /// The cached context model (`…/<key>/<stem>_ctx.onnx`).
    pub model: PathBuf,
    /// Where a session writes it before it is moved into place.
    staging: PathBuf,
}

/// How a session was created from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Compiled from the model's own graph, and the context model written to the cache.
    Compiled,
    /// Loaded from a context model in the cache.
    Cached,
}

/// The session configuration keys `--ep-context-cache` sets itself.
pub const KEYS: [&str; 3] = ["ep.context_enable", "ep.context_file_path", "ep.context_embed_mode"];

fn io(path: &Path) -> impl Fn(std::io::Error) -> HarnessError + '_ {
    move |source| HarnessError::Io { path: path.to_path_buf(), source }
}

/// What the compiled graph depends on: the file (by path, size and modification time, with its
/// external data), the provider with its options, the session settings that change what the
/// provider takes (no CPU fallback makes QNN take a graph's output `DequantizeLinear`s too), the
/// runtime and the plugin.
fn key(path: &Path, s: &SessionSettings) -> Result<String, HarnessError> {
    let canonical = path.canonicalize().map_err(io(path))?;
    let mut h = Sha256::new();
    for file in [canonical.clone(), canonical.with_extension("onnx.data"), canonical.with_extension("onnx_data")] {
        if let Ok(m) = std::fs::metadata(&file) {
            let modified = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            h.update(format!("{}|{}|{:?}\n", file.display(), m.len(), modified));
        }
    }
    let mut options: Vec<String> =
        s.ep_options.iter().filter(|o| o.ep == s.ep).map(|o| format!("{}={}", o.key, o.value)).collect();
    options.sort();
    let entries: Vec<String> = s.session_options.iter().map(|o| format!("{}={}", o.key, o.value)).collect();
    h.update(format!(
        "{}|{}|{:?}|{}|{}|{}",
        s.ep,
        options.join(","),
        s.opt_level,
        s.strict_placement,
        entries.join(","),
        runtime::version()?
    ));
    if let Some(p) = plugin::register(s.ep)? {
        h.update(&p.source);
    }
    Ok(h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect())
}

/// The cache entry of `path` under `s`.
pub(crate) fn entry(path: &Path, s: &SessionSettings) -> Result<Entry, HarnessError> {
    let dir = crate::cache::cache_dir().join("ep-context").join(key(path, s)?);
    let stem = path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    let name = format!("{stem}_ctx.onnx");
    let staging = dir.with_file_name(format!(
        ".{}-{}",
        dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        std::process::id()
    ));
    Ok(Entry { model: dir.join(&name), staging: staging.join(name) })
}

impl Entry {
    pub fn exists(&self) -> bool {
        self.model.is_file()
    }

    /// Makes a fresh staging folder, and gives the session configuration entries that make a
    /// session write the context model there.
    pub fn start_writing(&self) -> Result<Vec<(&'static str, String)>, HarnessError> {
        let dir = self.staging.parent().expect("a file in a folder");
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        Ok(vec![
            (KEYS[0], "1".into()),
            (KEYS[1], self.staging.display().to_string()),
            // The binary beside the model, not inside it: a second copy in memory is what a
            // deployment avoids too.
            (KEYS[2], "0".into()),
        ])
    }

    /// Moves what the session wrote into place (whole, so a concurrent run never sees half).
    pub fn publish(&self) -> Result<(), HarnessError> {
        let staged = self.staging.parent().expect("a file in a folder");
        let dir = self.model.parent().expect("a file in a folder");
        if !self.staging.is_file() {
            let _ = std::fs::remove_dir_all(staged);
            return Err(HarnessError::BadInput(format!(
                "--ep-context-cache: the provider wrote no EP context model for {}; it compiles nothing \
                 for this graph (drop the flag)",
                self.model.display()
            )));
        }
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        if std::fs::rename(staged, dir).is_err() {
            // Another run published it first; its copy is as good.
            let _ = std::fs::remove_dir_all(staged);
        }
        Ok(())
    }

    /// Removes what a failed session left.
    pub fn discard(&self) {
        let _ = std::fs::remove_dir_all(self.staging.parent().expect("a file in a folder"));
    }
}
