//! Observing where ONNX Runtime placed a model's nodes: one short generation with profiling on,
//! in sessions of their own (profiling never touches the timed sessions).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use slmbench_results::placement::Placement;

use crate::error::HarnessError;
use crate::files::layout::DecoderChoice;
use crate::generation::Prompt;
use crate::onnxruntime::session::{LoadedModel, SessionSettings};

/// Loads `dir` with `settings` and profiling on, generates 2 tokens after a 4-token prompt, and
/// reads which provider ran each node.
pub fn observe(dir: &Path, settings: &SessionSettings, choice: DecoderChoice) -> Result<Placement, HarnessError> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let tmp = std::env::temp_dir().join(format!(
        "slmbench-profile-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&tmp).map_err(|source| HarnessError::Io { path: tmp.clone(), source })?;
    let observed = (|| {
        let mut m = LoadedModel::load_profiled(dir, settings, choice, &tmp)?;
        let prompt = Prompt::synthetic(0, 1, 4, m.geometry.vocab_size);
        m.generate(&prompt, 2, false)?;
        let profiles = m.end_profiling()?;
        Placement::from_profiles(&profiles.iter().map(String::as_str).collect::<Vec<_>>())
            .map_err(|e| HarnessError::BadModel { path: dir.to_path_buf(), reason: e })
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    observed
}
