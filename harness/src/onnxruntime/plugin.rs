//! Execution providers that ship as plugins for the official runtime rather than inside a build
//! of it: QNN, as `onnxruntime-qnn` 2.x (its 1.x wheels with QNN built in stop below the 1.31
//! that `ort` loads). The plugin is registered with the environment (ONNX Runtime's EP library
//! API), and a session takes the provider's devices (`SessionOptionsAppendExecutionProvider_V2`),
//! which fails the session rather than falling back to the CPU.
//!
//! Where the plugin comes from: `SLMBENCH_QNN_PLUGIN` (the provider library itself); else the
//! cache; else the official wheel fetched with pip, pinned by sha256 like ONNX Runtime's, unpacked
//! with its QNN libraries beside it (the HTP backend, and on x86_64 the HTP's offline preparation
//! and emulator).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use slmbench_results::ep::{Ep, EpOption};

use super::runtime;
use super::wheel;
use crate::cache::{cache_dir, env_nonempty};
use crate::error::HarnessError;
use crate::onnxruntime::ep::Registration;

pub const QNN_PACKAGE: &str = "onnxruntime-qnn";
pub const QNN_VERSION: &str = "2.7.0";

/// sha256 of the official `onnxruntime-qnn==2.7.0` cp311 wheels, by platform tag.
const PINNED: &[(&str, &str, &str)] = &[
    ("2.7.0", "manylinux_2_35_x86_64", "c56c01562b8534fe8980cfea4601408d950c065f8251fb862ce82101c52c9849"),
    ("2.7.0", "manylinux_2_34_aarch64", "ad08bbfebd7c07ffe83995418303215f46cb25a89e12676f47ee20c32002eaad"),
    ("2.7.0", "win_amd64", "92ef39a0241fd941b1cb5285a43b8643e3515626eaff7fe7aec186cc9465b411"),
    ("2.7.0", "win_arm64", "b919227025f1feb0d2c5cc4232951de22f738b80995e9d4f2af79c3b66e3c95d"),
];

/// The wheel platform tag `onnxruntime-qnn` publishes for this host (not ONNX Runtime's own:
/// its Linux wheels need a newer glibc).
pub fn qnn_platform_tag() -> Option<&'static str> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Some("manylinux_2_35_x86_64"),
        ("linux", "aarch64") => Some("manylinux_2_34_aarch64"),
        ("windows", "x86_64") => Some("win_amd64"),
        ("windows", "aarch64") => Some("win_arm64"),
        _ => None,
    }
}

/// A library file name on this OS: `libNAME.so` or `NAME.dll`.
fn library_name(base: &str) -> String {
    if cfg!(windows) { format!("{base}.dll") } else { format!("lib{base}.so") }
}

/// A registered plugin, as results record it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plugin {
    /// The provider's name in ONNX Runtime (`QNNExecutionProvider`).
    pub provider: String,
    /// `package==version` of the official wheel, or `SLMBENCH_QNN_PLUGIN=PATH`.
    pub source: String,
    pub library: PathBuf,
    /// QNN's HTP backend library next to the plugin, the default `backend_path`.
    pub backend_path: PathBuf,
}

/// Where the QNN plugin would come from, without fetching or loading it (`slmbench doctor`):
/// `SLMBENCH_QNN_PLUGIN`, the cache, or the wheel that `--ep qnn` would fetch.
pub fn qnn_status() -> serde_json::Value {
    let state = match resolve(false) {
        Ok(p) => {
            serde_json::json!({"source": p.source, "library": p.library, "state": "found; registered on the first use of --ep qnn"})
        }
        Err(why) => serde_json::json!({"state": why}),
    };
    serde_json::json!({"provider": Ep::Qnn.runtime_name(), "plugin": state})
}

/// Finds the QNN plugin; fetches it when `fetch` and it is neither given nor cached.
fn resolve(fetch: bool) -> Result<Plugin, String> {
    let lib = library_name("onnxruntime_providers_qnn");
    let found = |library: PathBuf, source: String| {
        let backend_path = library.with_file_name(library_name("QnnHtp"));
        Plugin { provider: Ep::Qnn.runtime_name().into(), source, library, backend_path }
    };
    if let Some(p) = env_nonempty("SLMBENCH_QNN_PLUGIN") {
        let path = PathBuf::from(p);
        if !path.is_file() {
            return Err(format!(
                "SLMBENCH_QNN_PLUGIN is set to {}, which is not a file; point it at {lib} (in the \
                 onnxruntime_qnn folder of the {QNN_PACKAGE} wheel), or unset it to let slmbench fetch it",
                path.display()
            ));
        }
        let source = format!("SLMBENCH_QNN_PLUGIN={}", path.display());
        return Ok(found(path, source));
    }
    let version = env_nonempty("SLMBENCH_QNN_VERSION").unwrap_or_else(|| QNN_VERSION.into());
    let platform = match env_nonempty("SLMBENCH_QNN_PLATFORM") {
        Some(p) => p,
        None => qnn_platform_tag()
            .ok_or_else(|| {
                format!(
                    "{QNN_PACKAGE} publishes no build for {}/{}; set SLMBENCH_QNN_PLUGIN to a QNN provider library",
                    std::env::consts::OS,
                    std::env::consts::ARCH
                )
            })?
            .to_string(),
    };
    let sha256 = env_nonempty("SLMBENCH_QNN_SHA256")
        .or_else(|| PINNED.iter().find(|(v, t, _)| *v == version && *t == platform).map(|(_, _, h)| h.to_string()));
    let dest = cache_dir().join("onnxruntime").join(format!("{QNN_PACKAGE}-{version}-{platform}"));
    let library = dest.join("onnxruntime_qnn").join(&lib);
    let source = format!("{QNN_PACKAGE}=={version}");
    if library.is_file() {
        return Ok(found(library, source));
    }
    if !fetch {
        return Err(format!("not cached: the first --ep qnn fetches {source} for {platform} into {}", dest.display()));
    }
    let w = wheel::Wheel { package: QNN_PACKAGE, version: &version, platform: &platform, sha256: sha256.as_deref() };
    // The package's folder and auditwheel's folder of the libraries it needs keep their layout:
    // QNN's libraries find each other through `$ORIGIN` paths.
    let keep = |member: &str| {
        let ours = member.starts_with("onnxruntime_qnn/") || member.starts_with("onnxruntime_qnn.libs/");
        let library = member.contains(".so") || member.ends_with(".dll") || member.ends_with(".cat");
        (ours && library && !member.ends_with('/')).then(|| PathBuf::from(member))
    };
    let complete = |dir: &Path| dir.join("onnxruntime_qnn").join(&lib).is_file();
    wheel::fetch(&w, &dest, &keep, &complete).map_err(|e| {
        format!("cannot fetch the QNN plugin: {e}; or set SLMBENCH_QNN_PLUGIN to {lib} from the {QNN_PACKAGE} wheel")
    })?;
    Ok(found(library, source))
}

static QNN: OnceLock<Result<Plugin, String>> = OnceLock::new();

/// Registers `ep`'s plugin with the environment, once per process; `None` for providers built
/// into the runtime. A failure is kept and given again to every later caller.
pub fn register(ep: Ep) -> Result<Option<&'static Plugin>, HarnessError> {
    if !ep.is_plugin() {
        return Ok(None);
    }
    let env = runtime::environment()?;
    let registered = QNN.get_or_init(|| {
        let plugin = resolve(true)?;
        env.register_ep_library(&plugin.provider, &plugin.library)
            .map_err(|e| format!("ONNX Runtime could not load the QNN plugin {}: {e}", plugin.library.display()))?;
        Ok(plugin)
    });
    match registered {
        Ok(p) => Ok(Some(p)),
        Err(e) => Err(HarnessError::PluginUnavailable { ep, reason: e.clone() }),
    }
}

/// The plugin registered for `ep`, if any (without registering it).
pub fn registered(ep: Ep) -> Option<&'static Plugin> {
    match ep {
        Ep::Qnn => QNN.get().and_then(|r| r.as_ref().ok()),
        _ => None,
    }
}

/// Runs `f` with C's standard output sent to standard error: QNN's HTP emulator (on x86_64
/// hosts) prints a notice on stdout when a session is created, which would otherwise land in
/// slmbench's JSON output.
pub(crate) fn stdout_to_stderr<T>(f: impl FnOnce() -> T) -> T {
    #[cfg(unix)]
    {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        // SAFETY: plain descriptor calls; fd 1 is restored before returning, and C's buffered
        // output is flushed while it still points at stderr.
        unsafe {
            libc::fflush(std::ptr::null_mut());
            let saved = libc::dup(1);
            if saved < 0 {
                return f();
            }
            libc::dup2(2, 1);
            let out = f();
            libc::fflush(std::ptr::null_mut());
            libc::dup2(saved, 1);
            libc::close(saved);
            out
        }
    }
    #[cfg(not(unix))]
    f()
}

/// A session's registration of `ep`: its devices and its options as the device API takes them
/// (`PROVIDER.key`); QNN's `backend_path` defaults to the HTP library shipped with the plugin.
pub(crate) fn devices(ep: Ep, options: &[EpOption]) -> Result<Registration, HarnessError> {
    let plugin = register(ep)?.expect("a plugin provider");
    let env = runtime::environment()?;
    let devices: Vec<_> = env.devices().filter(|d| d.ep().is_ok_and(|n| n == plugin.provider)).collect();
    if devices.is_empty() {
        return Err(HarnessError::PluginUnavailable {
            ep,
            reason: format!("the plugin {} registered, but offers no device on this host", plugin.library.display()),
        });
    }
    let mut kv: Vec<(String, String)> = options
        .iter()
        .filter(|o| o.ep == ep)
        .map(|o| (format!("{}.{}", plugin.provider, o.key), o.value.clone()))
        .collect();
    let given = |key: &str| options.iter().any(|o| o.ep == ep && o.key == key);
    if !given("backend_path") && !given("backend_type") {
        kv.push((format!("{}.backend_path", plugin.provider), plugin.backend_path.display().to_string()));
    }
    Ok(Registration::Plugin(devices, kv))
}
