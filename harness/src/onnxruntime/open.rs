//! Opening one session with a cell's settings: provider (built in or a plugin), threads,
//! optimisation level, spinning, strict placement, session entries and the EP context cache.

use std::path::Path;

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use slmbench_results::ep::Ep;
use slmbench_results::model::OptLevel;

use super::ep;
use super::ep_context;
use crate::error::HarnessError;
use crate::onnxruntime::runtime;
use crate::onnxruntime::session::SessionSettings;

/// One session with `s`'s provider, threads, optimisation level and spinning.
pub(crate) fn open(path: &Path, s: &SessionSettings) -> Result<Session, HarnessError> {
    open_profiled(path, s, None).map(|(session, _)| session)
}

/// As [`open`]; with `profile`, ONNX Runtime profiles every run into a file with that prefix.
/// With `--ep-context-cache`, also whether the graph was compiled now or loaded from the cache.
pub(super) fn open_profiled(
    path: &Path,
    s: &SessionSettings,
    profile: Option<&Path>,
) -> Result<(Session, Option<ep_context::Source>), HarnessError> {
    let env = runtime::environment()?;
    let err = HarnessError::ort(path);
    let registration = ep::registration(s.ep, &s.ep_options)?;
    let context = if s.ep_context_cache { Some(ep_context::entry(path, s)?) } else { None };
    let writes = context.as_ref().is_some_and(|c| !c.exists());
    let load = match &context {
        Some(c) if !writes => c.model.clone(),
        _ => path.to_path_buf(),
    };
    let level = match s.opt_level {
        OptLevel::Disable => GraphOptimizationLevel::Disable,
        OptLevel::Basic => GraphOptimizationLevel::Level1,
        OptLevel::Extended => GraphOptimizationLevel::Level2,
        OptLevel::Layout => GraphOptimizationLevel::Level3,
        OptLevel::All => GraphOptimizationLevel::All,
    };
    let b = Session::builder(env).map_err(&err)?;
    let b = b.with_optimization_level(level).map_err(|e| err(e.into()))?;
    let b = b.with_intra_threads(s.threads).map_err(|e| err(e.into()))?;
    let b = b.with_inter_threads(1).map_err(|e| err(e.into()))?;
    let b = b.with_intra_op_spinning(s.spinning).map_err(|e| err(e.into()))?;
    // After slmbench's own settings, so an entry given by hand is the one that holds.
    let mut b = b;
    for o in &s.session_options {
        b = b.with_config_entry(&o.key, &o.value).map_err(|e| err(e.into()))?;
    }
    if let (true, Some(c)) = (writes, &context) {
        for (key, value) in c.start_writing()? {
            b = b.with_config_entry(key, value).map_err(|e| err(e.into()))?;
        }
    }
    // ONNX Runtime refuses "no CPU fallback" when the CPU provider is the one asked for (its nodes
    // count as fallback); there the observed placement is checked instead (see `run`).
    let b = if s.strict_placement && s.ep != Ep::Cpu {
        b.with_disable_cpu_fallback().map_err(|e| err(e.into()))?
    } else {
        b
    };
    let b = match profile {
        Some(p) => b.with_profiling(p).map_err(|e| err(e.into()))?,
        None => b,
    };
    let plugin = matches!(registration, ep::Registration::Plugin(..));
    let mut b = match registration {
        ep::Registration::BuiltIn(d) => b.with_execution_providers([d]),
        ep::Registration::Plugin(devices, options) => b.with_devices(devices, Some(&options)),
    }
    .map_err(|e| err(e.into()))?;
    let committed =
        if plugin { super::plugin::stdout_to_stderr(|| b.commit_from_file(&load)) } else { b.commit_from_file(&load) };
    if let (true, Some(c)) = (writes, &context) {
        match &committed {
            Ok(_) => c.publish()?,
            Err(_) => c.discard(),
        }
    }
    let session = committed.map_err(|e| {
        let message = e.to_string();
        if let (false, Some(c)) = (writes, &context) {
            // The model's own file is fine; what the cache holds for it is not.
            let folder = c.model.parent().unwrap_or(&c.model);
            HarnessError::BadModel {
                path: c.model.clone(),
                reason: format!(
                    "the cached EP context model did not load ({message}); delete {} to compile the model again",
                    folder.display()
                ),
            }
        } else if !path.is_file() {
            HarnessError::BadModel { path: path.to_path_buf(), reason: "file is missing".into() }
        } else if message.contains("Protobuf parsing failed") || message.contains("ModelProto") {
            HarnessError::BadModel {
                path: path.to_path_buf(),
                reason: format!("not a valid ONNX file ({message}); rebuild or re-export it"),
            }
        } else {
            err(e)
        }
    })?;
    let source = context.map(|_| if writes { ep_context::Source::Compiled } else { ep_context::Source::Cached });
    Ok((session, source))
}
