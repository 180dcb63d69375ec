//! Execution providers as results name them: names, the runtime's names, per-provider options.
//! (Registering them is the runtime backend's business.)

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ResultsError;

/// An execution provider slmbench can request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ep {
    Cpu,
    Cuda,
    Tensorrt,
    Qnn,
    Nnapi,
    Coreml,
    Directml,
    Openvino,
    Xnnpack,
}

pub const ALL: [Ep; 9] =
    [Ep::Cpu, Ep::Cuda, Ep::Tensorrt, Ep::Qnn, Ep::Nnapi, Ep::Coreml, Ep::Directml, Ep::Openvino, Ep::Xnnpack];

impl Ep {
    pub fn name(self) -> &'static str {
        match self {
            Ep::Cpu => "cpu",
            Ep::Cuda => "cuda",
            Ep::Tensorrt => "tensorrt",
            Ep::Qnn => "qnn",
            Ep::Nnapi => "nnapi",
            Ep::Coreml => "coreml",
            Ep::Directml => "directml",
            Ep::Openvino => "openvino",
            Ep::Xnnpack => "xnnpack",
        }
    }

    /// The name ONNX Runtime reports in `GetAvailableProviders`.
    pub fn runtime_name(self) -> &'static str {
        match self {
            Ep::Cpu => "CPUExecutionProvider",
            Ep::Cuda => "CUDAExecutionProvider",
            Ep::Tensorrt => "TensorrtExecutionProvider",
            Ep::Qnn => "QNNExecutionProvider",
            Ep::Nnapi => "NnapiExecutionProvider",
            Ep::Coreml => "CoreMLExecutionProvider",
            Ep::Directml => "DmlExecutionProvider",
            Ep::Openvino => "OpenVINOExecutionProvider",
            Ep::Xnnpack => "XnnpackExecutionProvider",
        }
    }

    /// Which official build carries the provider.
    pub fn where_to_get(self) -> &'static str {
        match self {
            Ep::Cpu => "every build",
            Ep::Cuda | Ep::Tensorrt => {
                "SLMBENCH_ORT_PACKAGE=onnxruntime-gpu (Linux x86_64, Windows; needs CUDA 13 and cuDNN 9 libraries)"
            }
            // The 1.x wheels with QNN built in stop at 1.24 (below what `ort` loads); 2.x is a
            // plugin for the official build, which slmbench fetches itself.
            Ep::Qnn => {
                "the onnxruntime-qnn 2.x plugin, which slmbench fetches (Windows and Linux, x86_64 and ARM64), or SLMBENCH_QNN_PLUGIN=its provider library"
            }
            Ep::Nnapi => "an Android build of ONNX Runtime (onnxruntime-android), via ORT_DYLIB_PATH",
            Ep::Coreml => "the macOS build (the default onnxruntime wheel on macOS)",
            Ep::Directml => "SLMBENCH_ORT_PACKAGE=onnxruntime-directml (Windows)",
            Ep::Openvino => "SLMBENCH_ORT_PACKAGE=onnxruntime-openvino",
            Ep::Xnnpack => "a build with --use_xnnpack (Android/iOS packages), via ORT_DYLIB_PATH",
        }
    }

    /// Ships as a plugin for the official runtime rather than inside a build of it.
    pub fn is_plugin(self) -> bool {
        self == Ep::Qnn
    }

    /// Options accepted by providers whose ort binding takes fixed settings only.
    pub fn fixed_options(self) -> Option<&'static [&'static str]> {
        match self {
            Ep::Cpu => Some(&["arena"]),
            Ep::Nnapi => Some(&["fp16", "nchw", "disable_cpu", "cpu_only"]),
            Ep::Directml => Some(&["device_id"]),
            _ => None,
        }
    }
}

impl fmt::Display for Ep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Ep {
    type Err = ResultsError;
    fn from_str(s: &str) -> Result<Ep, ResultsError> {
        let lower = s.trim().to_ascii_lowercase();
        ALL.into_iter().find(|e| e.name() == lower).ok_or_else(|| ResultsError::UnknownEp {
            name: s.to_string(),
            known: ALL.iter().map(|e| e.name()).collect::<Vec<_>>().join(", "),
        })
    }
}

/// One `--ep-opt PROVIDER:KEY=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpOption {
    pub ep: Ep,
    pub key: String,
    pub value: String,
}

impl FromStr for EpOption {
    type Err = ResultsError;
    fn from_str(s: &str) -> Result<EpOption, ResultsError> {
        let bad = |why: &str| ResultsError::BadEpOption { text: s.to_string(), reason: why.to_string() };
        let (ep, kv) = s.split_once(':').ok_or_else(|| bad("expected PROVIDER:KEY=VALUE"))?;
        let (key, value) = kv.split_once('=').ok_or_else(|| bad("expected PROVIDER:KEY=VALUE"))?;
        if key.trim().is_empty() {
            return Err(bad("empty key"));
        }
        let ep: Ep = ep.parse()?;
        if let Some(allowed) = ep.fixed_options()
            && !allowed.contains(&key.trim())
        {
            return Err(bad(&format!("{ep} accepts only {}", allowed.join(", "))));
        }
        Ok(EpOption { ep, key: key.trim().to_string(), value: value.trim().to_string() })
    }
}

/// One `--session-opt KEY=VALUE`: an ONNX Runtime session configuration entry (its
/// `AddSessionConfigEntry`), e.g. `session.disable_prepacking=1`, `ep.context_enable=1`,
/// `session.intra_op_thread_affinities=…`. ONNX Runtime ignores keys it does not know, so the form
/// is checked here (`area[.sub…].name`, at most 128 characters; values at most 1,024) and every
/// entry is recorded with the cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionOption {
    pub key: String,
    pub value: String,
}

impl FromStr for SessionOption {
    type Err = ResultsError;
    fn from_str(s: &str) -> Result<SessionOption, ResultsError> {
        let bad = |why: String| ResultsError::BadInput(format!("bad --session-opt `{s}`: {why}"));
        let (key, value) =
            s.split_once('=').ok_or_else(|| bad("expected KEY=VALUE, e.g. session.disable_prepacking=1".into()))?;
        let (key, value) = (key.trim(), value.trim());
        let word = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !key.contains('.') || !key.split('.').all(word) {
            return Err(bad(
                "the key is ONNX Runtime's `area.name` form (letters, digits, `_`), e.g. session.disable_prepacking"
                    .into(),
            ));
        }
        if key.len() > 128 || value.len() > 1024 {
            return Err(bad("ONNX Runtime takes keys of at most 128 characters and values of at most 1,024".into()));
        }
        Ok(SessionOption { key: key.to_string(), value: value.to_string() })
    }
}

/// An option's value as a boolean.
pub fn parse_bool(o: &EpOption) -> Result<bool, ResultsError> {
    match o.value.as_str() {
        "1" | "true" | "on" => Ok(true),
        "0" | "false" | "off" => Ok(false),
        _ => Err(ResultsError::BadEpOption {
            text: format!("{}:{}={}", o.ep, o.key, o.value),
            reason: "expected 1/0, true/false or on/off".into(),
        }),
    }
}

/// Checks option values that need no runtime (booleans, integers), so a typo is a usage error
/// before the sweep rather than a failed cell in it.
pub fn check_options(options: &[EpOption]) -> Result<(), ResultsError> {
    for o in options {
        match (o.ep, o.key.as_str()) {
            (Ep::Cpu | Ep::Nnapi, _) => {
                parse_bool(o)?;
            }
            (Ep::Directml, _) => {
                o.value.parse::<i32>().map_err(|_| ResultsError::BadEpOption {
                    text: format!("directml:device_id={}", o.value),
                    reason: "expected an integer".into(),
                })?;
            }
            _ => {}
        }
    }
    Ok(())
}
