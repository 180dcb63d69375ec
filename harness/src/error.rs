//! Errors of the harness; each says what to change.

use std::path::PathBuf;

use thiserror::Error;

const HINT: &str = "set ORT_DYLIB_PATH to an ONNX Runtime ≥ 1.31 shared library (e.g. onnxruntime/capi/libonnxruntime.so.1.31.1 from the onnxruntime==1.31.1 wheel)";

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("ORT_DYLIB_PATH is set to {path}, which is not a file; {HINT}, or unset it to let slmbench fetch one")]
    DylibPathMissing { path: PathBuf },
    #[error("no ONNX Runtime build is published for {os}/{arch}; {HINT}")]
    UnsupportedHost { os: &'static str, arch: &'static str },
    #[error("cannot fetch ONNX Runtime: {0}; or {HINT}")]
    Fetch(crate::onnxruntime::wheel::WheelError),
    #[error("cannot load ONNX Runtime from {path}: {message}; {HINT}")]
    Load { path: PathBuf, message: String },
    #[error("I/O error at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Unavailable(String),
}

/// Errors of measuring: bad model directories, providers, inputs.
#[derive(Debug, Error)]
pub enum HarnessError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("unknown execution provider `{name}`; known: {known}")]
    UnknownEp { name: String, known: String },
    #[error("bad --ep-opt `{text}`: {reason}")]
    BadEpOption { text: String, reason: String },
    #[error(
        "execution provider `{ep}` is not in this runtime: {runtime} offers {offered}. Get a build with it: {hint}"
    )]
    EpUnavailable { ep: slmbench_results::ep::Ep, runtime: String, offered: String, hint: &'static str },
    #[error("execution provider `{ep}` ships as a plugin, which is not available: {reason}")]
    PluginUnavailable { ep: slmbench_results::ep::Ep, reason: String },
    #[error("model directory {path} does not exist")]
    NoModelDir { path: PathBuf },
    #[error("no known model layout in {path}: found [{found}]; expected {expected}")]
    UnknownLayout { path: PathBuf, found: String, expected: String },
    #[error("model {path}: {reason}")]
    BadModel { path: PathBuf, reason: String },
    #[error("{0}")]
    BadInput(String),
    /// SIGINT/SIGTERM (the signal number) arrived before the cell had a measured repetition.
    #[error("interrupted by signal {0}")]
    Interrupted(usize),
    #[error("ONNX Runtime failed on {path}: {message}")]
    Ort { path: PathBuf, message: String },
    #[error("I/O error at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The sweep failed after some cells were written: they are kept (its own exit code).
    #[error(
        "{source}; the sweep stopped after recording {kept} cells in {file}, which are kept: fix the cause, then \
         `--resume {file}` measures the rest"
    )]
    Stopped { kept: usize, file: String, source: Box<HarnessError> },
}

impl HarnessError {
    pub fn ort(path: &std::path::Path) -> impl Fn(ort::Error) -> HarnessError + '_ {
        move |e| HarnessError::Ort { path: path.to_path_buf(), message: e.to_string() }
    }
}

impl From<slmbench_results::ResultsError> for HarnessError {
    fn from(e: slmbench_results::ResultsError) -> Self {
        use slmbench_results::ResultsError as R;
        match e {
            R::UnknownEp { name, known } => HarnessError::UnknownEp { name, known },
            R::BadEpOption { text, reason } => HarnessError::BadEpOption { text, reason },
            R::BadInput(m) => HarnessError::BadInput(m),
            R::Io { path, source } => HarnessError::Io { path, source },
        }
    }
}
