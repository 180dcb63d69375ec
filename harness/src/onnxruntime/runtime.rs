//! Finding and loading ONNX Runtime.
//!
//! Order: `ORT_DYLIB_PATH`; else the user cache; else the official build fetched from PyPI with
//! `pip download` (the only registry this suite may assume), checked against a pinned sha256 and
//! unpacked into the cache. The library is loaded with `ort::init_from`, which returns an error
//! where `ort::init` would panic.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Serialize;

use super::wheel;
use crate::cache::{cache_dir, env_nonempty};
use crate::error::RuntimeError;

/// The ONNX Runtime release this suite is pinned to (ort 2.0.0-rc.15 needs ≥ 1.31).
pub const DEFAULT_VERSION: &str = "1.31.1";
pub const DEFAULT_PACKAGE: &str = "onnxruntime";

/// sha256 of the official `onnxruntime==1.31.1` cp311 wheels, by platform tag.
const PINNED: &[(&str, &str, &str, &str)] = &[
    (
        "onnxruntime",
        "1.31.1",
        "manylinux_2_28_x86_64",
        "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f",
    ),
    (
        "onnxruntime",
        "1.31.1",
        "manylinux_2_28_aarch64",
        "da05378364c44d4407e463982d2bf8d5e4cfea873283757e48beeb41df97b7f3",
    ),
    ("onnxruntime", "1.31.1", "macosx_14_0_arm64", "60b6b69bfe580eab576cacc5d132a0e9cf2a37fcfd18d46dd191042b1d1ed0d7"),
    ("onnxruntime", "1.31.1", "win_amd64", "c3d91b5de31e2fc82d71bd65b2b22bddee8b49057a3a36338e9a868e0ea90c05"),
];

/// Which official build to fetch: package, version and wheel platform tag. Each can be changed
/// by an environment variable, e.g. `SLMBENCH_ORT_PACKAGE=onnxruntime-gpu` for CUDA/TensorRT
/// (QNN ships as a plugin for the official build instead: `plugin.rs`).
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeChoice {
    pub package: String,
    pub version: String,
    pub platform: String,
    /// Expected wheel sha256: pinned for the defaults, `SLMBENCH_ORT_SHA256` otherwise.
    pub sha256: Option<String>,
}

/// The wheel platform tag of this host, if ONNX Runtime publishes one for it.
pub fn host_platform_tag() -> Option<&'static str> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Some("manylinux_2_28_x86_64"),
        ("linux", "aarch64") => Some("manylinux_2_28_aarch64"),
        ("macos", "aarch64") => Some("macosx_14_0_arm64"),
        ("windows", "x86_64") => Some("win_amd64"),
        ("windows", "aarch64") => Some("win_arm64"),
        _ => None,
    }
}

impl RuntimeChoice {
    pub fn from_env() -> Result<RuntimeChoice, RuntimeError> {
        let package = env_nonempty("SLMBENCH_ORT_PACKAGE").unwrap_or_else(|| DEFAULT_PACKAGE.into());
        let version = env_nonempty("SLMBENCH_ORT_VERSION").unwrap_or_else(|| DEFAULT_VERSION.into());
        let platform = match env_nonempty("SLMBENCH_ORT_PLATFORM") {
            Some(p) => p,
            None => host_platform_tag()
                .ok_or(RuntimeError::UnsupportedHost { os: std::env::consts::OS, arch: std::env::consts::ARCH })?
                .to_string(),
        };
        let sha256 = env_nonempty("SLMBENCH_ORT_SHA256").or_else(|| {
            PINNED
                .iter()
                .find(|(p, v, t, _)| *p == package && *v == version && *t == platform)
                .map(|(_, _, _, h)| h.to_string())
        });
        Ok(RuntimeChoice { package, version, platform, sha256 })
    }

    fn cache_key(&self) -> String {
        format!("{}-{}-{}", self.package, self.version, self.platform)
    }
}

/// How the library was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LibrarySource {
    OrtDylibPath,
    Cache,
    Fetched,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedLibrary {
    pub path: PathBuf,
    pub source: LibrarySource,
    /// The official build it came from (absent for `ORT_DYLIB_PATH`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choice: Option<RuntimeChoice>,
}

/// Is this wheel member one of the runtime's shared libraries (core or provider), not Python glue?
fn is_runtime_library(member: &str) -> bool {
    let Some(name) = member.strip_prefix("onnxruntime/capi/") else {
        return false;
    };
    if name.contains('/') || name.contains("pybind") || !name.contains("onnxruntime") {
        return false;
    }
    name.ends_with(".dll") || name.ends_with(".dylib") || name.contains(".so")
}

/// The core library's file name among the unpacked members.
fn core_library(dir: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut names: Vec<String> =
        entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
        .into_iter()
        .find(|n| (n.starts_with("libonnxruntime.") || n == "onnxruntime.dll") && !n.contains("providers"))
        .map(|n| dir.join(n))
}

/// Finds the library, fetching it when neither `ORT_DYLIB_PATH` nor the cache has it.
pub fn resolve_library() -> Result<ResolvedLibrary, RuntimeError> {
    if let Some(p) = env_nonempty("ORT_DYLIB_PATH") {
        let path = PathBuf::from(p);
        if !path.is_file() {
            return Err(RuntimeError::DylibPathMissing { path });
        }
        return Ok(ResolvedLibrary { path, source: LibrarySource::OrtDylibPath, choice: None });
    }
    let choice = RuntimeChoice::from_env()?;
    let dir = cache_dir().join("onnxruntime").join(choice.cache_key());
    if let Some(path) = core_library(&dir) {
        return Ok(ResolvedLibrary { path, source: LibrarySource::Cache, choice: Some(choice) });
    }
    let path = fetch(&choice, &dir)?;
    Ok(ResolvedLibrary { path, source: LibrarySource::Fetched, choice: Some(choice) })
}

fn fetch(choice: &RuntimeChoice, dest: &Path) -> Result<PathBuf, RuntimeError> {
    eprintln!(
        "slmbench: ONNX Runtime not found (ORT_DYLIB_PATH unset, nothing in {}); fetching the official {}=={} build for {} with pip",
        dest.display(),
        choice.package,
        choice.version,
        choice.platform
    );
    let wheel = wheel::Wheel {
        package: &choice.package,
        version: &choice.version,
        platform: &choice.platform,
        sha256: choice.sha256.as_deref(),
    };
    // The libraries keep their file names and sit side by side, as in the wheel.
    let keep =
        |member: &str| is_runtime_library(member).then(|| PathBuf::from(member.rsplit('/').next().unwrap_or(member)));
    wheel::fetch(&wheel, dest, &keep, &|dir| core_library(dir).is_some()).map_err(RuntimeError::Fetch)?;
    Ok(core_library(dest).expect("checked by the fetch"))
}

struct Loaded {
    library: ResolvedLibrary,
    version: String,
    env: ort::environment::Environment,
}

/// The library's own version string (`OrtGetApiBase()->GetVersionString()`).
fn library_version(path: &Path) -> Result<String, RuntimeError> {
    let err = |message: String| RuntimeError::Load { path: path.to_path_buf(), message };
    // SAFETY: loading the same ONNX Runtime library ort loads; only its C API entry point is called.
    unsafe {
        let lib = libloading::Library::new(path).map_err(|e| err(e.to_string()))?;
        let get_base: libloading::Symbol<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> = lib
            .get(b"OrtGetApiBase")
            .map_err(|_| err("it has no OrtGetApiBase: not an ONNX Runtime library".into()))?;
        let base = get_base();
        if base.is_null() {
            return Err(err("OrtGetApiBase returned null".into()));
        }
        let v = ((*base).GetVersionString)();
        Ok(std::ffi::CStr::from_ptr(v).to_string_lossy().into_owned())
    }
}

static RUNTIME: OnceLock<Result<Loaded, String>> = OnceLock::new();

fn load() -> Result<Loaded, RuntimeError> {
    let library = resolve_library()?;
    let version = library_version(&library.path)?;
    let builder = ort::init_from(&library.path)
        .map_err(|e| RuntimeError::Load { path: library.path.clone(), message: e.to_string() })?;
    let env = builder
        .with_name("slmbench")
        .with_telemetry(false)
        .build()
        .map_err(|e| RuntimeError::Load { path: library.path.clone(), message: e.to_string() })?;
    Ok(Loaded { library, version, env })
}

/// The process-wide ONNX Runtime environment (ONNX Runtime allows one per process).
pub fn environment() -> Result<&'static ort::environment::Environment, RuntimeError> {
    match RUNTIME.get_or_init(|| load().map_err(|e| e.to_string())) {
        Ok(l) => Ok(&l.env),
        Err(e) => Err(RuntimeError::Unavailable(e.clone())),
    }
}

/// Version of the loaded ONNX Runtime (e.g. `1.31.1`).
pub fn version() -> Result<&'static str, RuntimeError> {
    environment()?;
    Ok(RUNTIME.get().and_then(|r| r.as_ref().ok()).map(|l| l.version.as_str()).unwrap_or("unknown"))
}

/// The library the environment was loaded from.
pub fn loaded_library() -> Option<&'static ResolvedLibrary> {
    RUNTIME.get().and_then(|r| r.as_ref().ok()).map(|l| &l.library)
}

/// Execution providers compiled into the loaded runtime (`CPUExecutionProvider`, …).
pub fn available_providers() -> Result<Vec<String>, RuntimeError> {
    environment()?;
    let api = ort::api();
    let mut ptr: *mut *mut std::ffi::c_char = std::ptr::null_mut();
    let mut n: std::ffi::c_int = 0;
    // SAFETY: the API table is initialised by `environment()`; the list is released below.
    let status = unsafe { (api.GetAvailableProviders)(&mut ptr, &mut n) };
    if !status.0.is_null() || ptr.is_null() {
        return Err(RuntimeError::Unavailable("GetAvailableProviders failed".into()));
    }
    let names = (0..n as isize)
        .map(|i| {
            // SAFETY: ONNX Runtime returned `n` valid C strings.
            unsafe { std::ffi::CStr::from_ptr(*ptr.offset(i)) }.to_string_lossy().into_owned()
        })
        .collect();
    // SAFETY: releasing exactly what GetAvailableProviders returned.
    unsafe {
        let _ = (api.ReleaseAvailableProviders)(ptr, n);
    }
    Ok(names)
}

/// `slmbench doctor`: what runtime this process loads and what it offers.
#[derive(Debug, Serialize)]
pub struct DoctorReport {
    pub version: String,
    pub library: ResolvedLibrary,
    pub build_info: String,
    pub providers: Vec<String>,
    pub host: Host,
}

#[derive(Debug, Serialize)]
pub struct Host {
    pub os: &'static str,
    pub arch: &'static str,
    pub logical_cpus: usize,
    pub cache_dir: PathBuf,
}

pub fn doctor() -> Result<DoctorReport, RuntimeError> {
    environment()?;
    Ok(DoctorReport {
        version: version()?.to_string(),
        library: loaded_library().cloned().expect("environment loaded"),
        build_info: ort::info().to_string(),
        providers: available_providers()?,
        host: Host {
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            logical_cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            cache_dir: cache_dir(),
        },
    })
}
