//! Fetching an official wheel from PyPI with `pip download` (the only registry this suite may
//! assume), checking it against a pinned sha256 and unpacking the libraries it holds into the
//! cache. Used for ONNX Runtime itself and for execution-provider plugins (`onnxruntime-qnn`).

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use thiserror::Error;

/// What went wrong fetching a wheel; the caller adds what the user can do instead.
#[derive(Debug, Error)]
pub enum WheelError {
    #[error("no working pip found (tried {tried}); install pip")]
    PipMissing { tried: String },
    #[error("`{command}` failed: {stderr}")]
    FetchFailed { command: String, stderr: String },
    #[error("downloaded wheel {wheel} has sha256 {actual}, expected {expected}; refusing it")]
    HashMismatch { wheel: PathBuf, expected: String, actual: String },
    #[error("wheel {wheel} is not usable: {reason}")]
    BadWheel { wheel: PathBuf, reason: String },
    #[error("I/O error at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One official wheel: `package==version` for a wheel platform tag.
pub struct Wheel<'a> {
    pub package: &'a str,
    pub version: &'a str,
    pub platform: &'a str,
    /// Expected sha256; `None` accepts the wheel with a warning naming its hash.
    pub sha256: Option<&'a str>,
}

/// The pip to use: `SLMBENCH_PIP` (a command line), else `pip`, `pip3`, `python3 -m pip`.
fn pip_candidates() -> Vec<Vec<String>> {
    if let Some(p) = crate::cache::env_nonempty("SLMBENCH_PIP") {
        return vec![p.split_whitespace().map(String::from).collect()];
    }
    let split = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
    vec![split("pip"), split("pip3"), split("python3 -m pip"), split("python -m pip")]
}

/// Fetches `wheel` and unpacks into `dest` each member `keep` maps to a path (relative to
/// `dest`); `complete` says whether what was unpacked is usable. `dest` appears whole or not at
/// all, so a concurrent or interrupted fetch never leaves half a cache.
pub fn fetch(
    wheel: &Wheel,
    dest: &Path,
    keep: &dyn Fn(&str) -> Option<PathBuf>,
    complete: &dyn Fn(&Path) -> bool,
) -> Result<(), WheelError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WheelError::Io { path, source }
    };
    let root = dest.parent().unwrap_or(dest);
    std::fs::create_dir_all(root).map_err(io(root))?;
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let work = root.join(format!(".fetch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(io(&work))?;
    let result = fetch_into(wheel, &work, dest, keep, complete);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn fetch_into(
    wheel: &Wheel,
    work: &Path,
    dest: &Path,
    keep: &dyn Fn(&str) -> Option<PathBuf>,
    complete: &dyn Fn(&Path) -> bool,
) -> Result<(), WheelError> {
    let spec = format!("{}=={}", wheel.package, wheel.version);
    eprintln!("slmbench: fetching the official {spec} build for {} with pip", wheel.platform);
    let wheel_dir = work.join("wheel");
    let args = [
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.11",
        "--implementation",
        "cp",
        "--platform",
        wheel.platform,
        "--disable-pip-version-check",
        "--quiet",
        "-d",
        wheel_dir.to_str().unwrap_or("wheel"),
        &spec,
    ];
    let mut tried = Vec::new();
    for cand in pip_candidates() {
        let (prog, pre) = cand.split_first().expect("non-empty pip command");
        tried.push(cand.join(" "));
        match Command::new(prog).args(pre).args(args).output() {
            Err(_) => continue, // not installed: try the next spelling
            Ok(out) if out.status.success() => break,
            Ok(out) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                if stderr.contains("No module named pip") {
                    continue;
                }
                return Err(WheelError::FetchFailed {
                    command: format!("{} {}", cand.join(" "), args.join(" ")),
                    stderr: stderr.trim().lines().rev().take(3).collect::<Vec<_>>().join(" | "),
                });
            }
        }
    }
    let file = std::fs::read_dir(&wheel_dir)
        .ok()
        .and_then(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "whl")))
        .ok_or(WheelError::PipMissing { tried: tried.join(", ") })?;

    let bytes = std::fs::read(&file).map_err(|source| WheelError::Io { path: file.clone(), source })?;
    let actual = hex(&Sha256::digest(&bytes));
    match wheel.sha256 {
        Some(expected) if !expected.eq_ignore_ascii_case(&actual) => {
            return Err(WheelError::HashMismatch { wheel: file, expected: expected.to_string(), actual });
        }
        Some(_) => {}
        None => eprintln!(
            "slmbench: warning: no pinned sha256 for {spec} ({}); accepting wheel with sha256 {actual}",
            wheel.platform
        ),
    }

    let staged = work.join("lib");
    let bad = |reason: String| WheelError::BadWheel { wheel: file.clone(), reason };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| bad(e.to_string()))?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| bad(e.to_string()))?;
        // A member whose path would leave the folder (`..`, absolute) is none of ours either.
        if entry.enclosed_name().is_none() {
            continue;
        }
        let Some(relative) = entry.name().ok().and_then(|n| keep(&n)) else {
            continue; // not a library we need (or a non-UTF-8 name, which is none of ours)
        };
        let out_path = staged.join(relative);
        if let Some(parent) = out_path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| WheelError::Io { path: parent.to_path_buf(), source })?;
        }
        let mut out =
            std::fs::File::create(&out_path).map_err(|source| WheelError::Io { path: out_path.clone(), source })?;
        std::io::copy(&mut entry, &mut out).map_err(|source| WheelError::Io { path: out_path.clone(), source })?;
    }
    if !complete(&staged) {
        return Err(bad("it holds none of the libraries slmbench loads".into()));
    }
    if let Err(source) = std::fs::rename(&staged, dest)
        && !complete(dest)
    {
        return Err(WheelError::Io { path: dest.to_path_buf(), source });
    }
    eprintln!("slmbench: {spec} cached at {}", dest.display());
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
